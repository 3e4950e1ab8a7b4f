//! The codec error: `Copy`, allocation-free and layer-aware (DESIGN.md §3, RULES.md).

use core::fmt;

/// Which part of the packet an [`Error`] is about.
///
/// The GRE codec only ever reports [`Layer::Gre`] (the RFC 2784 header including the RFC 2890
/// optional words); the enum exists so that errors read the same way across the crates of the
/// stack, and so that a caller wrapping the error (`dmvpn-core`) knows which header failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// The GRE header: base header, Checksum/Reserved1, Key and Sequence Number words.
    Gre,
    /// The payload carried after the GRE header (used when the payload region given to an
    /// encapsulation call is inconsistent, e.g. the payload start lies outside the buffer).
    Payload,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Gre => "GRE",
            Layer::Payload => "GRE payload",
        })
    }
}

/// Everything that can be wrong with a GRE packet on receive, or with a buffer on emit.
///
/// Decoding never panics; every rejection of RFC 2784 §2.3 / RFC 2890 is one of these variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before the header (or the headroom) is complete.
    #[error("{layer}: truncated, need {needed} bytes, got {got}")]
    Truncated {
        /// Layer whose bytes are missing.
        layer: Layer,
        /// Bytes needed to go on.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// A length or offset is inconsistent (e.g. a payload offset beyond the buffer).
    #[error("{layer}: bad {field} {value}")]
    BadLength {
        /// Layer the length belongs to.
        layer: Layer,
        /// Name of the field or argument.
        field: &'static str,
        /// The offending value.
        value: usize,
    },
    /// A well-formed value this implementation does not process, e.g. GRE version 1
    /// (PPTP's enhanced GRE, RFC 2637) — RFC 2784 §2.3.1 says such packets MUST be discarded.
    #[error("{layer}: unsupported {field} {value}")]
    Unsupported {
        /// Layer of the field.
        layer: Layer,
        /// Name of the field.
        field: &'static str,
        /// The unsupported value.
        value: u32,
    },
    /// Bits that RFC 2784 §2.3 says a receiver that does not implement RFC 1701 MUST discard
    /// (bit 1 Routing Present, bit 4 Strict Source Route, bit 5 first Recursion Control bit).
    #[error("{layer}: reserved bits {bits:#06x} set in {field}")]
    Reserved {
        /// Layer of the field.
        layer: Layer,
        /// Name of the field (`"reserved0"`).
        field: &'static str,
        /// The offending bits, in their position within the first 16-bit word.
        bits: u16,
    },
    /// The checksum does not verify (RFC 2784 §2.5).
    #[error("{layer}: bad checksum")]
    Checksum {
        /// Layer whose checksum failed.
        layer: Layer,
    },
}
