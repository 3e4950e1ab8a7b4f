//! `wire::Error`: `Copy`, allocation-free, layer-aware (DESIGN.md §3).

/// The protocol layer an error was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// The ESP header, IV, trailer or ICV (RFC 4303).
    Esp,
    /// UDP encapsulation (RFC 3948).
    Udp,
    /// The inner IP header of a tunnel-mode payload.
    InnerIp,
}

/// A codec error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than the format needs.
    #[error("{layer:?}: truncated, need {needed} bytes, got {got}")]
    Truncated {
        /// Layer.
        layer: Layer,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// A length field or a length is inconsistent.
    #[error("{layer:?}: bad {field} {value}")]
    BadLength {
        /// Layer.
        layer: Layer,
        /// Field name.
        field: &'static str,
        /// Offending value.
        value: u32,
    },
    /// A value the codec cannot process.
    #[error("{layer:?}: unsupported {field} {value}")]
    Unsupported {
        /// Layer.
        layer: Layer,
        /// Field name.
        field: &'static str,
        /// Offending value.
        value: u32,
    },
    /// A checksum did not match.
    #[error("{layer:?}: checksum mismatch")]
    Checksum {
        /// Layer.
        layer: Layer,
    },
}
