//! An optional timeline of everything the simulator does, in virtual time.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::device::Device;
use super::stats::DropReason;
use super::{DeviceId, HostId};
use crate::io::UnderlayProtocol;

/// One entry of the timeline handed to the hook set with
/// [`Sim::set_trace`](super::Sim::set_trace). `Display` prints one readable line.
pub struct TraceRecord<'a, D: Device> {
    /// Virtual time since the simulator's start.
    pub at: Duration,
    /// What happened.
    pub kind: TraceKind<'a, D>,
}

/// What happened (see [`TraceRecord`]).
#[non_exhaustive]
pub enum TraceKind<'a, D: Device> {
    /// A device's underlay packet entered the internet (after its NAT).
    UnderlaySent {
        /// The sender.
        device: DeviceId,
        /// Outer source (public, post-NAT) and UDP source port.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// Protocol; for UDP `local_port` is the (post-NAT) source port.
        protocol: UnderlayProtocol,
        /// Bytes after the outer IP/UDP header.
        len: usize,
    },
    /// An underlay packet was handed to a device.
    UnderlayDelivered {
        /// The receiver.
        device: DeviceId,
        /// Outer source as the receiver sees it.
        from: IpAddr,
        /// Protocol as the receiver sees it.
        protocol: UnderlayProtocol,
        /// Bytes after the outer IP/UDP header.
        len: usize,
    },
    /// A device's overlay packet reached a host on its LAN.
    OverlayToHost {
        /// The device.
        device: DeviceId,
        /// The host.
        host: HostId,
        /// IP packet length.
        len: usize,
    },
    /// A host's packet was handed to its device.
    OverlayFromHost {
        /// The device.
        device: DeviceId,
        /// The host (`None` for packets injected with [`Sim::send_overlay`](super::Sim::send_overlay)).
        host: Option<HostId>,
        /// IP packet length.
        len: usize,
    },
    /// A device's deadline fired.
    Timeout {
        /// The device.
        device: DeviceId,
    },
    /// A packet was dropped.
    Dropped {
        /// Why.
        reason: DropReason,
        /// The device it is attributed to, if any.
        device: Option<DeviceId>,
        /// Packet length.
        len: usize,
    },
    /// A device reported an event.
    Event {
        /// The device.
        device: DeviceId,
        /// The event.
        event: &'a D::Event,
    },
    /// A device rejected an input.
    Error {
        /// The device.
        device: DeviceId,
        /// Its error.
        error: &'a D::Error,
    },
}

fn proto(p: UnderlayProtocol) -> String {
    match p {
        UnderlayProtocol::Gre => "GRE".into(),
        UnderlayProtocol::Esp => "ESP".into(),
        UnderlayProtocol::Udp {
            local_port,
            remote_port,
        } => format!("UDP {local_port}->{remote_port}"),
    }
}

impl<D: Device> fmt::Debug for TraceRecord<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<D: Device> fmt::Display for TraceRecord<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>4}.{:06}] ",
            self.at.as_secs(),
            self.at.subsec_micros()
        )?;
        match &self.kind {
            TraceKind::UnderlaySent {
                device,
                src,
                dst,
                protocol,
                len,
            } => write!(
                f,
                "{device} sends {} {src} -> {dst}, {len} bytes",
                proto(*protocol)
            ),
            TraceKind::UnderlayDelivered {
                device,
                from,
                protocol,
                len,
            } => write!(
                f,
                "{device} receives {} from {from}, {len} bytes",
                proto(*protocol)
            ),
            TraceKind::OverlayToHost { device, host, len } => {
                write!(f, "{device} delivers {len} bytes to {host}")
            }
            TraceKind::OverlayFromHost { device, host, len } => match host {
                Some(h) => write!(f, "{h} sends {len} bytes into {device}"),
                None => write!(f, "{len} bytes injected into {device}"),
            },
            TraceKind::Timeout { device } => write!(f, "{device} timer"),
            TraceKind::Dropped {
                reason,
                device,
                len,
            } => match device {
                Some(d) => write!(f, "drop ({reason:?}) {len} bytes at {d}"),
                None => write!(f, "drop ({reason:?}) {len} bytes"),
            },
            TraceKind::Event { device, event } => write!(f, "{device} event {event:?}"),
            TraceKind::Error { device, error } => write!(f, "{device} rejects input: {error:?}"),
        }
    }
}
