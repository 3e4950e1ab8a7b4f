//! Counters and the `show` views of a [`Node`](crate::Node).

use std::net::IpAddr;
use std::time::Instant;

use crate::error::DropReason;

/// Packets dropped, one counter per [`DropReason`] kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DropCounts {
    /// GRE refused the packet.
    pub gre: u64,
    /// ESP refused the packet.
    pub esp: u64,
    /// NHRP refused the packet.
    pub nhrp: u64,
    /// Not a valid overlay IP packet.
    pub overlay: u64,
    /// Cleartext GRE while IPsec is required.
    pub cleartext: u64,
    /// ESP not carrying GRE.
    pub not_gre: u64,
    /// Unhandled GRE protocol type.
    pub protocol: u64,
    /// IKE without a key exchange.
    pub ike: u64,
    /// No route.
    pub no_route: u64,
    /// Discard route.
    pub discard: u64,
    /// TTL expired.
    pub ttl_expired: u64,
    /// Larger than the tunnel MTU with DF.
    pub too_big: u64,
    /// Next hop unresolved and no hub path.
    pub unresolved: u64,
    /// IPsec required, no SA (fail closed).
    pub no_sa: u64,
    /// ESP seal failed.
    pub seal: u64,
    /// GRE encapsulation failed.
    pub encap: u64,
    /// Output queue full.
    pub queue_full: u64,
}

impl DropCounts {
    pub(crate) fn count(&mut self, reason: &DropReason) {
        let c = match reason {
            DropReason::Gre(_) => &mut self.gre,
            DropReason::Esp(_) => &mut self.esp,
            DropReason::Nhrp(_) => &mut self.nhrp,
            DropReason::Overlay(_) => &mut self.overlay,
            DropReason::Cleartext(_) => &mut self.cleartext,
            DropReason::NotGre(_) => &mut self.not_gre,
            DropReason::Protocol(_) => &mut self.protocol,
            DropReason::Ike => &mut self.ike,
            DropReason::NoRoute(_) => &mut self.no_route,
            DropReason::Discard(_) => &mut self.discard,
            DropReason::TtlExpired(_) => &mut self.ttl_expired,
            DropReason::TooBig { .. } => &mut self.too_big,
            DropReason::Unresolved(_) => &mut self.unresolved,
            DropReason::NoSa(_) => &mut self.no_sa,
            DropReason::Seal(_) => &mut self.seal,
            DropReason::Encap(_) => &mut self.encap,
            DropReason::QueueFull => &mut self.queue_full,
        };
        *c += 1;
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.gre
            + self.esp
            + self.nhrp
            + self.overlay
            + self.cleartext
            + self.not_gre
            + self.protocol
            + self.ike
            + self.no_route
            + self.discard
            + self.ttl_expired
            + self.too_big
            + self.unresolved
            + self.no_sa
            + self.seal
            + self.encap
            + self.queue_full
    }
}

/// Node-wide counters, returned by [`Node::stats`](crate::Node::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Stats {
    /// Overlay packets received from the LAN side.
    pub overlay_in: u64,
    /// Overlay packets delivered to the LAN side.
    pub overlay_out: u64,
    /// Underlay packets received.
    pub underlay_in: u64,
    /// Underlay packets sent.
    pub underlay_out: u64,
    /// Data packets sent directly to the peer that owns the destination (spoke-to-spoke, or
    /// hub to spoke).
    pub data_direct: u64,
    /// Spoke: data packets sent via the hub because no direct path exists (yet).
    pub data_via_hub: u64,
    /// Data packets that arrived on the tunnel and left on the tunnel (hub hairpin).
    pub data_hairpinned: u64,
    /// NHRP packets sent.
    pub nhrp_out: u64,
    /// NHRP packets received.
    pub nhrp_in: u64,
    /// Packets sealed with ESP.
    pub esp_sealed: u64,
    /// Packets opened from ESP.
    pub esp_opened: u64,
    /// ICMP messages the node originated (errors and echo replies).
    pub icmp_sent: u64,
    /// NHRP packets dropped on output (no SA, queue full).
    pub nhrp_out_dropped: u64,
    /// Events dropped because the event queue was full.
    pub event_overflow: u64,
    /// Packets held because IPsec is required and no SA to their peer existed yet.
    pub sa_wait_queued: u64,
    /// Held packets sent once the SA was installed.
    pub sa_wait_sent: u64,
    /// Held packets discarded because they waited too long.
    pub sa_wait_expired: u64,
    /// Inputs dropped, by reason.
    pub dropped: DropCounts,
}

/// Per-peer traffic counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PeerCounters {
    /// Packets sent to the peer.
    pub tx_packets: u64,
    /// Bytes (underlay payload) sent to the peer.
    pub tx_bytes: u64,
    /// Packets received from the peer.
    pub rx_packets: u64,
    /// Bytes (underlay payload) received from the peer.
    pub rx_bytes: u64,
    /// Data (non-NHRP) packets sent to the peer.
    pub tx_data: u64,
    /// Data (non-NHRP) packets received from the peer.
    pub rx_data: u64,
}

/// How a peer got into the table (the `Attrb` column of Cisco's `show dmvpn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum PeerKind {
    /// A configured NHS (`S`, static).
    Nhs,
    /// A spoke registered with us (`D`, dynamic).
    Registered,
    /// Resolved through NHRP (`D`, dynamic).
    Resolved,
    /// Resolved as a phase 3 shortcut (`D`, dynamic, with a shortcut route).
    Shortcut,
}

/// State of a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum PeerState {
    /// Usable.
    Up,
    /// Registration in progress (NHS).
    Registering,
    /// Not answering (NHS).
    Down,
    /// Healthy standby NHS.
    Standby,
}

/// One line of `show dmvpn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PeerInfo {
    /// The peer's NBMA address (post-NAT when known).
    pub nbma: IpAddr,
    /// The peer's tunnel address (unknown for some shortcuts).
    pub tunnel: Option<IpAddr>,
    /// How it got here.
    pub kind: PeerKind,
    /// Its state.
    pub state: PeerState,
    /// When its binding expires (registrations, resolutions).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub expires: Option<Instant>,
    /// When we first exchanged packets with it.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub since: Option<Instant>,
    /// True when an IPsec SA pair is installed for it.
    pub protected: bool,
    /// Traffic counters.
    pub counters: PeerCounters,
}
