//! The error kinds of the node (DESIGN.md §4): [`DropReason`] for input that was ignored
//! (counted in [`Stats`](crate::Stats)), [`ApiError`] for caller or configuration mistakes.

use std::net::IpAddr;

use crate::config::ConfigError;
use crate::overlay::OverlayError;

/// Why [`Node::handle_packet`](crate::Node::handle_packet) dropped an input. Every drop is
/// counted; nothing else about the node changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// The GRE layer refused the packet (bad header, checksum, wrong or missing key,
    /// sequence).
    #[error("GRE: {0}")]
    Gre(#[from] gre::DropReason),
    /// The ESP layer refused the packet (unknown SPI, replay, ICV, padding...).
    #[error("ESP: {0}")]
    Esp(#[from] esp::OpenError),
    /// The NHRP machine refused the packet.
    #[error("NHRP: {0}")]
    Nhrp(#[from] nhrp::DropReason),
    /// An overlay packet that is not valid IPv4/IPv6.
    #[error("overlay packet: {0}")]
    Overlay(#[from] OverlayError),
    /// Cleartext GRE arrived while the policy requires IPsec (fail closed, both ways).
    #[error("cleartext GRE from {0} while IPsec is required")]
    Cleartext(IpAddr),
    /// ESP carried something other than GRE (transport mode, next header 47).
    #[error("ESP payload is protocol {0}, not GRE")]
    NotGre(u8),
    /// GRE carried a protocol this interface does not route.
    #[error("GRE protocol type {0:#06x} not handled")]
    Protocol(u16),
    /// An IKE message on UDP 4500: no IKEv2 machine is attached yet.
    #[error("IKE message received but no key exchange is configured")]
    Ike,
    /// No route to the destination (an ICMP unreachable was sent when allowed).
    #[error("no route to {0}")]
    NoRoute(IpAddr),
    /// The route points at a discard (Null0) entry.
    #[error("discarded by route to {0}")]
    Discard(IpAddr),
    /// TTL / hop limit expired (an ICMP time exceeded was sent when allowed).
    #[error("TTL expired for {0}")]
    TtlExpired(IpAddr),
    /// Larger than the tunnel MTU with DF set (an ICMP fragmentation needed / packet too big
    /// was sent when allowed).
    #[error("{len} bytes exceed the tunnel MTU {mtu}")]
    TooBig {
        /// Packet length.
        len: usize,
        /// Tunnel MTU.
        mtu: u16,
    },
    /// The next hop's NBMA address is unknown and no hub path exists.
    #[error("next hop {0} is not resolved and no NHS is up")]
    Unresolved(IpAddr),
    /// IPsec is required and there is no SA to this peer yet: nothing leaves in clear; an
    /// `SaNeeded` event asks for keys.
    #[error("no IPsec SA to {0}")]
    NoSa(IpAddr),
    /// ESP sealing failed (sequence numbers exhausted, SA gone).
    #[error("ESP seal: {0}")]
    Seal(#[from] esp::SealError),
    /// GRE encapsulation failed (peer table full).
    #[error("GRE encapsulation: {0}")]
    Encap(#[from] gre::ApiError),
    /// The output queue is full.
    #[error("output queue full")]
    QueueFull,
}

/// Caller or configuration mistakes; never caused by network input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The configuration does not validate.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The NHRP machine refused a verb or its configuration.
    #[error("NHRP: {0}")]
    Nhrp(#[from] nhrp::ApiError),
    /// The ESP layer refused an SA.
    #[error("ESP: {0}")]
    Esp(#[from] esp::ApiError),
    /// The GRE layer refused its configuration.
    #[error("GRE: {0}")]
    Gre(#[from] gre::ApiError),
    /// An SA pair must be one inbound and one outbound SA.
    #[error("SA directions: expected one inbound and one outbound")]
    SaDirection,
    /// The address family does not match the tunnel's.
    #[error("address family does not match the tunnel")]
    AddressFamily,
}
