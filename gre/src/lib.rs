//! GRE (RFC 2784, RFC 2890) for the DMVPN stack: a zero-copy codec and a multipoint GRE
//! endpoint.
//!
//! In DMVPN every NHRP message and every overlay packet travels in GRE: a hub or spoke has one
//! *multipoint* GRE interface whose packets go to many NBMA (underlay) peers, often with a
//! tunnel key. This crate is that data plane, sans-IO: it never opens a socket, reads a clock
//! or allocates per packet. `dmvpn-core` (or a driver) owns the outer IP header and the I/O.
//!
//! # What is covered
//!
//! | RFC section | what | where |
//! |---|---|---|
//! | RFC 2784 §2.1 | header layout (C bit, Reserved0, Version, Protocol Type) | [`wire::BaseHeader`] |
//! | RFC 2784 §2.2, §2.5, §2.6 | Checksum Present, checksum over header and payload, Reserved1 | [`wire::Repr::emit`], [`wire::Repr::parse`], [`checksum`] |
//! | RFC 2784 §2.3, §2.3.1 | Reserved0 and Version receive rules | [`wire::Packet::parse`] |
//! | RFC 2784 §2.4 | Protocol Type (EtherType), unknown values kept | [`wire::ProtocolType`] |
//! | RFC 2890 §2, §2.1 | Key Present bit and Key field; demultiplexing by key | [`wire::Packet::key`], [`Endpoint`] |
//! | RFC 2890 §2, §2.2 | Sequence Number Present bit and field; in-order delivery | [`wire::Packet::sequence`], [`Endpoint`] |
//! | RFC 1071 | the Internet checksum | [`checksum::internet_checksum`] |
//!
//! Not covered: RFC 1701 routing (bit 1, source routes), PPTP's enhanced GRE (version 1,
//! RFC 2637), the reordering buffer of RFC 2890 §2.2 (out-of-sequence packets are dropped, not
//! queued), GRE over IPv6 specifics of RFC 7676 (the outer header is the caller's).
//!
//! # Receive rules
//!
//! [`wire::Packet::parse`], then [`wire::Repr::parse`], then [`Endpoint::decapsulate`] reject,
//! each with a typed error and never a panic:
//!
//! 1. fewer bytes than the header needs → [`wire::Error::Truncated`] (with layer, needed, got);
//! 2. Version ≠ 0 → [`wire::Error::Unsupported`] (field `"version"`); RFC 2784 §2.3.1 says such
//!    packets MUST be discarded. Version 1 is PPTP's enhanced GRE;
//! 3. Reserved0 bit 1 (RFC 1701 Routing Present), bit 4 (Strict Source Route) or bit 5 (first
//!    Recursion Control bit) set → [`wire::Error::Reserved`]; RFC 2784 §2.3: a receiver MUST
//!    discard them unless it implements RFC 1701, which this crate does not. Bits 2 and 3 are
//!    RFC 2890's K and S.
//!    **Decision on bits 6-12:** RFC 2784 §2.3 says they "MUST be sent as zero and MUST be
//!    ignored on receipt", so they are accepted (visible as [`wire::Packet::reserved0`]) and
//!    dropped from [`wire::Repr`], which sends zeros; Reserved1 likewise (§2.6). Rejecting them
//!    would break interoperability with future senders that the RFC explicitly protects;
//! 4. checksum present but wrong → [`wire::Error::Checksum`] (verified in the `Repr` layer; the
//!    view only exposes the raw field);
//! 5. ([`Endpoint`]) key missing, different, or unexpected → [`DropReason::KeyMissing`],
//!    [`DropReason::KeyMismatch`], [`DropReason::UnexpectedKey`];
//! 6. ([`Endpoint`] with sequence checking) RFC 2890 §2.2: sequence number equal to the last
//!    accepted one → [`DropReason::Duplicate`]; in the 2^31-1 values before it →
//!    [`DropReason::OutOfOrder`] (serial-number arithmetic wrapping at 2^32).
//!
//! Each endpoint drop is counted in [`Stats`].
//!
//! # Zero-copy and headroom contract
//!
//! Receive: [`wire::Packet::parse`] borrows the buffer; the payload is a sub-slice of it.
//!
//! Send: the payload is put in a buffer once, with headroom in front of it; the GRE header
//! ([`wire::Repr::header_len`] bytes, at most [`wire::Repr::MAX_HEADER_LEN`] = 16) is written
//! into the headroom just before the payload by [`wire::Repr::encapsulate`] (or
//! [`wire::Repr::emit`] on a buffer that starts at the header), leaving the bytes in front of
//! the GRE header free for the outer IP header. The payload is never moved or copied; with the
//! checksum option it is read once to compute the checksum over header and payload.
//!
//! # Performance
//!
//! `benches/encap.rs` measures encapsulation and decapsulation next to a `memcpy` of the same
//! payload. On the 2-core development VM (`cargo bench -p gre --bench encap -- --warm-up-time 1
//! --measurement-time 3`): for a 1400-byte payload, keyed in-place encapsulation took 2.4 ns
//! against 11.2 ns for copying the payload (ratio 0.22, goal ≤ 0.5), decapsulation 3.8 ns; with
//! the checksum option the payload is read once and encapsulation took about 70 ns.
//!
//! # Example
//!
//! ```
//! use gre::wire::{Packet, ProtocolType, Repr};
//!
//! // Headroom for the outer IPv4 header (20) and the largest GRE header (16), then the payload.
//! const HEADROOM: usize = 20 + Repr::MAX_HEADER_LEN;
//! let inner = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! let mut buf = vec![0u8; HEADROOM + inner.len()];
//! buf[HEADROOM..].copy_from_slice(&inner);
//!
//! let repr = Repr::new(ProtocolType::IPV4).with_key(100).with_sequence(7).with_checksum();
//! let gre = repr.encapsulate(&mut buf, HEADROOM)?;
//! assert_eq!(gre.len(), 16 + inner.len());
//!
//! let packet = Packet::parse(gre)?;
//! assert_eq!(packet.key(), Some(100));
//! assert_eq!(packet.sequence(), Some(7));
//! assert_eq!(packet.checksum_valid(), Some(true));
//! assert_eq!(Repr::parse(&packet)?, repr);
//! assert_eq!(packet.payload(), &inner);
//! # Ok::<(), gre::wire::Error>(())
//! ```
//!
//! With per-peer state (key demultiplexing, sequence numbers, counters), use [`Endpoint`].
#![forbid(unsafe_code)]

pub mod checksum;
mod config;
mod endpoint;
mod error;
pub mod wire;

#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;

pub use config::Config;
pub use endpoint::{Decapsulated, Endpoint, Stats};
pub use error::{ApiError, DropReason};
