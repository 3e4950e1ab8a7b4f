//! The codec's error type.

use core::fmt;

/// Which part of an NHRP packet an [`Error`] refers to (RFC 2332 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// The 20-byte fixed header (RFC 2332 §5.1).
    FixedHeader,
    /// The common header and addresses of the mandatory part (RFC 2332 §5.2.0.1).
    MandatoryPart,
    /// A Client Information Entry (RFC 2332 §5.2.0.1), in the mandatory part or an extension.
    Cie,
    /// The extension part (RFC 2332 §5.3).
    Extension,
    /// The whole packet (checksum, packet size).
    Packet,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::FixedHeader => "NHRP fixed header",
            Layer::MandatoryPart => "NHRP mandatory part",
            Layer::Cie => "NHRP CIE",
            Layer::Extension => "NHRP extension",
            Layer::Packet => "NHRP packet",
        })
    }
}

/// Why a buffer is not a valid NHRP packet, or why a Repr cannot be emitted.
///
/// `Copy`, allocation-free; `field` names the RFC 2332 field (e.g. `"ar$extoff"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before the structure does (or an emit buffer is too small).
    #[error("{layer}: truncated: {needed} bytes needed, {got} available")]
    Truncated {
        /// Where.
        layer: Layer,
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// A length or offset field points outside its container or is inconsistent.
    #[error("{layer}: bad length in {field}: {value}")]
    BadLength {
        /// Where.
        layer: Layer,
        /// The RFC 2332 field name.
        field: &'static str,
        /// The offending value.
        value: usize,
    },
    /// A well-formed value this codec does not implement (version, address family, E.164
    /// addresses, subaddresses, unknown packet type).
    #[error("{layer}: unsupported {field}: {value:#x}")]
    Unsupported {
        /// Where.
        layer: Layer,
        /// The RFC 2332 field name.
        field: &'static str,
        /// The offending value.
        value: u32,
    },
    /// An address length that does not match the packet's address family
    /// (ar$afn for NBMA addresses, ar$pro.type for protocol addresses).
    #[error("{layer}: address length {len} in {field} does not match the address family")]
    AddressLength {
        /// Where.
        layer: Layer,
        /// The RFC 2332 field name.
        field: &'static str,
        /// The length found.
        len: u8,
    },
    /// The extension part does not end with the End extension (RFC 2332 §5.3.0).
    #[error("{layer}: missing End extension")]
    MissingEnd {
        /// Where.
        layer: Layer,
    },
    /// The ar$chksum field does not match the RFC 1071 checksum of the packet.
    #[error("{layer}: bad checksum (field {expected:#06x}, computed {computed:#06x})")]
    Checksum {
        /// Where.
        layer: Layer,
        /// The value in ar$chksum.
        expected: u16,
        /// The value this packet should carry.
        computed: u16,
    },
    /// A Repr holds a value the wire format cannot carry (emit only): an address of the
    /// wrong family, a holding time above 65535 s, an extension type that collides with a
    /// known one, a packet above 65535 bytes.
    #[error("{layer}: {field} cannot be encoded: {value}")]
    Unencodable {
        /// Where.
        layer: Layer,
        /// The field name.
        field: &'static str,
        /// The offending value.
        value: u64,
    },
}
