//! The GRE codec (RFC 2784, RFC 2890): no state, no clock, no allocation.
//!
//! Three layers, as everywhere in this stack (DESIGN.md §3):
//!
//! * [`BaseHeader`] — the fixed 4-octet header as a zerocopy type (`network_endian` fields);
//! * [`Packet`] — a validated borrowed view over a received packet: [`Packet::parse`] applies
//!   the receive rules, after which no accessor panics; it exposes raw fields (including the
//!   stored checksum) and the payload as a sub-slice of the input;
//! * [`Repr`] — the owned header: [`Repr::parse`] (verifies the checksum),
//!   [`Repr::header_len`] / [`Repr::buffer_len`], and [`Repr::emit`] /
//!   [`Repr::encapsulate`], which write the header into headroom in front of a payload that is
//!   already in place.
//!
//! Errors are [`Error`]: `Copy`, allocation-free, naming the [`Layer`] and the field.
//! Unknown protocol types are kept as [`ProtocolType`] values, never rejected.

mod error;
pub mod header;
mod packet;
mod protocol;

#[cfg(test)]
mod tests;

pub use error::{Error, Layer};
pub use header::BaseHeader;
pub use packet::{Packet, Repr};
pub use protocol::ProtocolType;
