//! Errors of the simulator: misuse of its API and broken machine invariants.

use std::net::IpAddr;
use std::time::Duration;

use super::{DeviceId, HostId, NatId};

/// A simulator error. Times are virtual time since the simulator's start.
///
/// The invariant violations ([`TimerSpin`](Self::TimerSpin),
/// [`TransmitStorm`](Self::TransmitStorm), [`QueueFull`](Self::QueueFull),
/// [`Livelock`](Self::Livelock)) mean a device broke the machine contract or the scenario
/// runs away; the step that found one stops, and the simulator should not be driven further.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// After `handle_timeout(now)` (and draining its outputs) the device still reported a
    /// deadline `<= now`: it would spin forever.
    #[error("{device}: timer spin: poll_timeout {deadline:?} <= now {now:?} after handle_timeout")]
    TimerSpin {
        /// The device.
        device: DeviceId,
        /// Virtual now.
        now: Duration,
        /// The deadline it reported.
        deadline: Duration,
    },
    /// `poll_transmit` kept returning packets beyond the configured bound.
    #[error("{device}: more than {limit} transmits from one service")]
    TransmitStorm {
        /// The device.
        device: DeviceId,
        /// The bound ([`Sim::set_max_transmits_per_service`](super::Sim::set_max_transmits_per_service)).
        limit: usize,
    },
    /// Too many packets in flight.
    #[error("more than {limit} packets in flight")]
    QueueFull {
        /// The bound ([`Sim::set_max_in_flight`](super::Sim::set_max_in_flight)).
        limit: usize,
    },
    /// Too many events at one virtual instant (a zero-delay loop).
    #[error("more than {limit} events at virtual time {now:?}")]
    Livelock {
        /// Virtual now.
        now: Duration,
        /// The bound ([`Sim::set_max_events_per_instant`](super::Sim::set_max_events_per_instant)).
        limit: u64,
    },
    /// `run_until`'s predicate did not hold by its deadline.
    #[error("condition not reached by virtual time {now:?}")]
    NotReached {
        /// Virtual now (the deadline).
        now: Duration,
    },
    /// The underlay address is already owned by a device or a NAT box.
    #[error("underlay address {0} is already in use")]
    AddressInUse(IpAddr),
    /// A host address on a device's LAN is already taken.
    #[error("{device}: LAN address {addr} is already in use")]
    HostAddressInUse {
        /// The device.
        device: DeviceId,
        /// The address.
        addr: IpAddr,
    },
    /// A host was asked to send to an address of the other IP family.
    #[error("{host}: cannot send from {src} to {dst} (address families differ)")]
    AddressFamily {
        /// The host.
        host: HostId,
        /// Its address.
        src: IpAddr,
        /// The destination.
        dst: IpAddr,
    },
    /// A NAT id from another simulator.
    #[error("unknown NAT {0}")]
    UnknownNat(NatId),
    /// A payload too large for one IP packet.
    #[error("payload of {0} bytes does not fit in one IP packet")]
    TooLarge(usize),
}
