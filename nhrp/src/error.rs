//! The three error kinds of the machine (DESIGN.md §4): [`DropReason`] for network input,
//! [`ApiError`] for caller or configuration misuse, [`DownReason`] carried in events.

use std::net::IpAddr;

/// Why [`Node::handle_packet`](crate::Node::handle_packet) ignored a datagram. Every drop is
/// counted in [`Stats::dropped`](crate::Stats); nothing else changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// The bytes are not a valid NHRP packet.
    #[error("malformed packet: {0}")]
    Malformed(crate::wire::Error),
    /// Authentication is configured and the packet has no authentication extension.
    #[error("authentication extension missing")]
    AuthMissing,
    /// The authentication extension does not match ours (RFC 2332 §5.3.4).
    #[error("authentication extension did not match")]
    AuthMismatch,
    /// A reply whose request ID matches nothing outstanding.
    #[error("reply for unknown request id {0}")]
    UnknownRequest(u32),
    /// A compulsory extension we do not understand (RFC 2332 §5.3; an Error Indication
    /// "Unrecognized Extension" was sent).
    #[error("unrecognized compulsory extension type {0}")]
    UnrecognizedExtension(u16),
    /// A packet type this node's role does not accept.
    #[error("packet type {packet_type} not accepted in this role")]
    WrongRole {
        /// NHRP packet type number.
        packet_type: u8,
    },
    /// A Resolution Request for an address we neither own nor can forward.
    #[error("resolution request for {0}, which is not ours")]
    NotForUs(IpAddr),
    /// Hop count exhausted (RFC 2332 §5.1; an Error Indication was sent).
    #[error("hop count exceeded")]
    HopCountExceeded,
    /// Our own address is already in the Forward Transit NHS Record (RFC 2332 §5.3.2; an
    /// Error Indication was sent).
    #[error("loop detected")]
    LoopDetected,
    /// A request carries no CIE where one is required.
    #[error("request carries no client information entry")]
    MissingCie,
    /// A Traffic Indication whose payload is not an IP packet header.
    #[error("traffic indication without an IP header")]
    BadTrafficIndication,
    /// A message of a kind this node does not handle (e.g. unknown packet type).
    #[error("unsupported packet type {0}")]
    Unsupported(u8),
    /// Shortcuts or redirects are disabled by configuration.
    #[error("feature disabled by configuration")]
    Disabled,
    /// Address families of the packet and the node do not match.
    #[error("address family mismatch")]
    AddressFamily,
}

/// Misuse by the caller or a bad configuration; never caused by network input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// [`Config::validate`](crate::Config::validate) failed.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// The verb needs the NHC role.
    #[error("this node is not an NHC")]
    NotClient,
    /// The verb needs the NHS role.
    #[error("this node is not an NHS")]
    NotServer,
    /// No NHS is up to send the request through.
    #[error("no NHS is up")]
    NoNhsUp,
    /// `max_pending` resolution requests are outstanding.
    #[error("too many outstanding requests")]
    TooManyPending,
    /// The NHS is already configured.
    #[error("NHS already configured")]
    DuplicateNhs,
    /// No such NHS.
    #[error("unknown NHS")]
    UnknownNhs,
    /// The address family does not match the node's.
    #[error("address family mismatch")]
    AddressFamily,
}

/// Why a registration, an NHS or a cache entry went away (carried in events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// No reply after the configured retransmissions.
    Timeout,
    /// The peer answered with a non-success CIE code.
    Rejected(crate::wire::CieCode),
    /// The holding time ran out.
    Expired,
    /// A Purge Request (or the local `purge` verb) removed it.
    Purged,
    /// The client deregistered (holding time 0).
    Deregistered,
    /// The NHS was removed from the configuration.
    Removed,
    /// A preferred NHS recovered; this one is no longer used.
    Fallback,
    /// Replaced by a newer binding.
    Replaced,
}
