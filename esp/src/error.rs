//! Error types: [`OpenError`] (bad network input, counted and dropped), [`SealError`] (an
//! outbound packet could not be sealed) and [`ApiError`] (caller or configuration misuse).

use crate::crypto::CryptoError;
use crate::params::{Spi, Transform};
use crate::wire;

/// Why an inbound packet was dropped (the DropReason of ESP). Each has a counter in
/// [`SaStats`](crate::SaStats) or [`TableStats`](crate::TableStats). Dropping never changes SA
/// state, except that an authenticated packet with a bad trailer still advanced the
/// anti-replay window (it was genuine, RFC 4303 §3.4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The packet is too short or otherwise malformed before any crypto.
    #[error("malformed ESP packet: {0}")]
    Malformed(#[from] wire::Error),
    /// No inbound SA has this SPI (RFC 4303 §3.4.2).
    #[error("unknown SPI {0:#010x}")]
    UnknownSpi(u32),
    /// The sequence number was already received (RFC 4303 §3.4.3).
    #[error("replayed sequence number {seq}")]
    Replay {
        /// Inferred 64-bit sequence number.
        seq: u64,
    },
    /// The sequence number lies left of the anti-replay window.
    #[error("sequence number {seq} is left of the window")]
    TooOld {
        /// Inferred 64-bit sequence number.
        seq: u64,
    },
    /// The ICV did not verify (RFC 4303 §3.4.4), also under every higher Seqh tried by an ESN
    /// re-synchronisation (Appendix A3). Nothing changed but the SA's count of consecutive ICV
    /// failures (Appendix A3.1).
    #[error("ICV verification failed")]
    AuthFailed,
    /// The pad length exceeds the plaintext, or the padding bytes are not 1, 2, 3, ... (RFC
    /// 4303 §2.4).
    #[error("bad padding")]
    BadPadding,
    /// Next header 59: a dummy packet for traffic flow confidentiality (RFC 4303 §2.6); drop
    /// silently.
    #[error("dummy packet (next header 59)")]
    Dummy,
    /// A next header that the SA's mode does not allow (tunnel mode carries only IPv4/IPv6),
    /// or an inner IP header inconsistent with the payload.
    #[error("unexpected next header {0}")]
    BadNextHeader(u8),
    /// The SA reached a hard lifetime and refuses traffic.
    #[error("SA expired")]
    Expired,
    /// The crypto backend failed for a reason other than authentication.
    #[error("crypto failure: {0}")]
    Crypto(CryptoError),
}

/// Why `seal` refused an outbound packet. Nothing changed (no sequence number consumed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// `payload.start` is smaller than the SA's `header_len()`.
    #[error("headroom too small: need {needed}, have {got}")]
    Headroom {
        /// Bytes needed before the payload.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// Too few bytes after the payload for padding, trailer and ICV.
    #[error("tailroom too small: need {needed}, have {got}")]
    Tailroom {
        /// Bytes needed after the payload.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// `payload` is not a range inside the buffer, or is too large for the encapsulation.
    #[error("payload range outside the buffer or too large")]
    BadRange,
    /// The sequence number space is used up (RFC 4303 §3.3.3): the SA must be rekeyed.
    #[error("sequence number space exhausted")]
    SequenceExhausted,
    /// The SA reached a hard lifetime.
    #[error("SA expired")]
    Expired,
    /// `SaTable::seal` with an `SaId` that names no live outbound SA.
    #[error("unknown SA")]
    UnknownSa,
    /// The crypto backend or RNG failed.
    #[error("crypto failure: {0}")]
    Crypto(CryptoError),
}

/// Misuse by the caller or an impossible configuration (never caused by network input).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The parameters are inconsistent.
    #[error("invalid SA parameters: {0}")]
    InvalidParams(&'static str),
    /// The provider has no implementation of this transform.
    #[error("unsupported transform {0:?}")]
    UnsupportedTransform(Transform),
    /// Keys of the wrong length, or another crypto setup failure.
    #[error("crypto setup failed: {0}")]
    Crypto(CryptoError),
    /// An inbound SA with this SPI already exists.
    #[error("duplicate inbound SPI {0:?}")]
    DuplicateSpi(Spi),
    /// The `SaId` does not name a live SA (removed, expired) or names one of the other
    /// direction.
    #[error("unknown SA")]
    UnknownSa,
}
