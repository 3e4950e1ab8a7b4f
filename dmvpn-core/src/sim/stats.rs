//! Counters kept by the simulator, per device, per NAT box and in total.

use crate::io::UnderlayProtocol;

/// Packets counted per underlay protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProtoCounts {
    /// GRE (IP protocol 47).
    pub gre: u64,
    /// ESP (IP protocol 50).
    pub esp: u64,
    /// UDP (IP protocol 17), e.g. ESP-in-UDP or IKE.
    pub udp: u64,
}

impl ProtoCounts {
    /// All protocols together.
    pub fn total(&self) -> u64 {
        self.gre + self.esp + self.udp
    }

    /// The count for `protocol` (ports ignored).
    pub fn get(&self, protocol: UnderlayProtocol) -> u64 {
        match protocol {
            UnderlayProtocol::Gre => self.gre,
            UnderlayProtocol::Esp => self.esp,
            UnderlayProtocol::Udp { .. } => self.udp,
        }
    }

    pub(crate) fn add(&mut self, protocol: UnderlayProtocol) {
        match protocol {
            UnderlayProtocol::Gre => self.gre += 1,
            UnderlayProtocol::Esp => self.esp += 1,
            UnderlayProtocol::Udp { .. } => self.udp += 1,
        }
    }
}

/// Why the simulator dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// Lost on the link (the link's `loss` probability).
    Loss,
    /// Larger than the path MTU (outer IP header included).
    Mtu,
    /// No device or NAT owns the destination address, or the address families differ.
    NoRoute,
    /// A NAT box had no (live) mapping for an inbound packet, refused it (symmetric NAT, other
    /// remote), or ran out of ports.
    NatNoMapping,
    /// The destination device is down (or the sending device was down when its outputs were
    /// drained).
    DeviceDown,
    /// An overlay packet for a LAN address with no host behind that device.
    NoHost,
    /// An overlay packet that is not a parseable IPv4/IPv6 packet.
    Malformed,
}

/// Dropped packets by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    /// See [`DropReason::Loss`].
    pub loss: u64,
    /// See [`DropReason::Mtu`].
    pub mtu: u64,
    /// See [`DropReason::NoRoute`].
    pub no_route: u64,
    /// See [`DropReason::NatNoMapping`].
    pub nat_no_mapping: u64,
    /// See [`DropReason::DeviceDown`].
    pub device_down: u64,
    /// See [`DropReason::NoHost`].
    pub no_host: u64,
    /// See [`DropReason::Malformed`].
    pub malformed: u64,
}

impl Drops {
    /// The count for one reason.
    pub fn get(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::Loss => self.loss,
            DropReason::Mtu => self.mtu,
            DropReason::NoRoute => self.no_route,
            DropReason::NatNoMapping => self.nat_no_mapping,
            DropReason::DeviceDown => self.device_down,
            DropReason::NoHost => self.no_host,
            DropReason::Malformed => self.malformed,
        }
    }

    /// All reasons together.
    pub fn total(&self) -> u64 {
        self.loss
            + self.mtu
            + self.no_route
            + self.nat_no_mapping
            + self.device_down
            + self.no_host
            + self.malformed
    }

    pub(crate) fn add(&mut self, reason: DropReason) {
        match reason {
            DropReason::Loss => self.loss += 1,
            DropReason::Mtu => self.mtu += 1,
            DropReason::NoRoute => self.no_route += 1,
            DropReason::NatNoMapping => self.nat_no_mapping += 1,
            DropReason::DeviceDown => self.device_down += 1,
            DropReason::NoHost => self.no_host += 1,
            DropReason::Malformed => self.malformed += 1,
        }
    }
}

/// What crossed one device.
///
/// Drops are attributed to the device that sent the packet (loss, MTU, no route, NAT port
/// exhaustion, no host on its LAN) or, for [`DropReason::DeviceDown`], to the down device.
/// Inbound NAT refusals are counted on the NAT box ([`NatStats`]) and in [`SimStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Underlay packets the device emitted (`Transmit::Underlay`), lost or not.
    pub underlay_tx: ProtoCounts,
    /// Underlay packets handed to the device (`Datagram::Underlay`).
    pub underlay_rx: ProtoCounts,
    /// Overlay packets the device emitted towards its LAN (`Transmit::Overlay`).
    pub overlay_tx: u64,
    /// Overlay packets its LAN hosts handed to it (`Datagram::Overlay`).
    pub overlay_rx: u64,
    /// Calls of `handle_timeout` (due deadlines only).
    pub timeouts: u64,
    /// Inputs the device rejected (`handle` returned `Err`).
    pub errors: u64,
    /// Events the device reported through `poll_event`.
    pub events: u64,
    /// Drops attributed to this device.
    pub drops: Drops,
}

/// What one NAT box did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatStats {
    /// Mappings created (a rebinding or an expiry followed by new traffic creates a new one).
    pub mappings_created: u64,
    /// Mappings found expired (idle longer than the timeout) and removed.
    pub mappings_expired: u64,
    /// Outbound packets translated.
    pub translated_out: u64,
    /// Inbound packets translated and delivered inside.
    pub translated_in: u64,
    /// Inbound packets refused (no mapping, expired, or wrong remote for a symmetric NAT).
    pub refused_in: u64,
}

/// Totals over the whole run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Events processed by [`Sim::step`](super::Sim::step) (packet arrivals and deadlines).
    pub steps: u64,
    /// Times a device was serviced (input handed in or timer fired, then outputs drained).
    pub device_services: u64,
    /// Underlay packets put on the internet (after the MTU check and NAT, before loss).
    pub underlay_sent: ProtoCounts,
    /// Underlay packets handed to a device.
    pub underlay_delivered: ProtoCounts,
    /// Extra copies made by link duplication.
    pub duplicated: u64,
    /// Packets held back by link reordering.
    pub reordered: u64,
    /// All drops, by reason.
    pub drops: Drops,
    /// The largest number of packets in flight at once.
    pub max_in_flight: usize,
}
