//! Why the [`Endpoint`](crate::Endpoint) dropped a received packet ([`DropReason`]) or refused a
//! caller's request ([`ApiError`]).

use crate::wire;

/// Why a received packet was dropped. Every drop is also counted in
/// [`Stats`](crate::Stats); nothing else changes in the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// The packet breaks a codec rule of RFC 2784 / RFC 2890: truncated, version ≠ 0,
    /// Reserved0 bits 1/4/5 set, or bad checksum.
    #[error("malformed GRE packet: {0}")]
    Malformed(#[from] wire::Error),
    /// The tunnel has a key (RFC 2890 §2.1) but the packet carries none.
    #[error("GRE key missing (tunnel key {expected})")]
    KeyMissing {
        /// The tunnel's key.
        expected: u32,
    },
    /// The packet's key is not this tunnel's: it belongs to another tunnel (or to nobody).
    #[error("GRE key {got} does not match tunnel key {expected}")]
    KeyMismatch {
        /// The tunnel's key.
        expected: u32,
        /// The key received.
        got: u32,
    },
    /// The tunnel has no key but the packet carries one, so it is not for this tunnel.
    #[error("GRE key {got} received on a tunnel without key")]
    UnexpectedKey {
        /// The key received.
        got: u32,
    },
    /// Sequence checking is on and this sequence number was already accepted last
    /// (RFC 2890 §2.2: an out-of-sequence packet, "equal" case).
    #[error("duplicate GRE sequence number {sequence}")]
    Duplicate {
        /// The sequence number received.
        sequence: u32,
    },
    /// Sequence checking is on and the sequence number lies in the 2^31-1 values before the
    /// last accepted one (RFC 2890 §2.2: out-of-sequence, silently discarded).
    #[error("GRE sequence number {sequence} is not after {last}")]
    OutOfOrder {
        /// The sequence number received.
        sequence: u32,
        /// The last sequence number accepted from that peer.
        last: u32,
    },
    /// Sequence checking is on, the peer is new and the per-peer state table already holds
    /// [`Config::max_peers`](crate::Config::max_peers) peers.
    #[error("GRE peer table full")]
    PeerTableFull,
}

/// Misuse by the caller: bad configuration or a buffer that cannot hold the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// The buffer handed to an encapsulation call is inconsistent (headroom too small, payload
    /// start beyond the end).
    #[error("cannot encapsulate: {0}")]
    Buffer(#[from] wire::Error),
    /// Sequence numbering is on and the destination would be one peer more than
    /// [`Config::max_peers`](crate::Config::max_peers).
    #[error("GRE peer table full")]
    PeerTableFull,
}
