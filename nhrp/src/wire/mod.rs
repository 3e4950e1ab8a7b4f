//! The NHRP wire codec (RFC 2332 §5 + Cisco DMVPN extensions), in three layers (DESIGN.md §3):
//!
//! 1. zerocopy fixed headers: [`FixedHeader`], [`CommonHeader`], [`ErrorHeader`], [`CieHeader`],
//!    [`ExtensionHeader`];
//! 2. the validated borrowed view [`Packet`] with iterators over CIEs ([`CieIter`]) and
//!    extensions ([`ExtensionIter`]); parsing it does not allocate;
//! 3. owned Reprs ([`PacketRepr`], [`Body`], [`Cie`], [`Extension`]) with `parse`,
//!    `buffer_len` and `emit(&mut [u8])` (emit does not allocate).
//!
//! # What is implemented
//!
//! RFC 2332 (NBMA Next Hop Resolution Protocol), section by section:
//!
//! | RFC 2332 | here |
//! |---|---|
//! | §5.1 fixed header: ar$afn, ar$pro.type and ar$pro.snap (short form and the SNAP long form 0x0080), ar$hopcnt, ar$pktsz, ar$chksum (RFC 1071 over the whole packet, extensions included), ar$extoff, ar$op.version, ar$op.type, ar$shtl/ar$sstl | [`FixedHeader`], [`Packet`], [`PacketRepr`] (size, offset and checksum computed on emit) |
//! | §5.2.0.1 common header (Src/Dst Proto Len, Flags, Request ID, source NBMA address, source and destination protocol addresses) and Client Information Entries (Code, Prefix Length, MTU, Holding Time, client NBMA address, client protocol address, Preference) | [`CommonHeader`], [`Mandatory`], [`CieHeader`], [`CieView`], [`Cie`] |
//! | §5.2.1/§5.2.2 Resolution Request/Reply with the Q, A, D, U, S flags | [`Body::ResolutionRequest`], [`Body::ResolutionReply`], `Flags::RESOLUTION_*` |
//! | §5.2.3/§5.2.4 Registration Request/Reply with the U flag | [`Body::RegistrationRequest`], [`Body::RegistrationReply`], [`Flags::REGISTRATION_U`] |
//! | §5.2.5/§5.2.6 Purge Request/Reply with the N flag | [`Body::PurgeRequest`], [`Body::PurgeReply`], [`Flags::PURGE_N`] |
//! | §5.2.7 Error Indication (Error Code, Error Offset, the packet in error) | [`Body::ErrorIndication`], [`ErrorHeader`], [`ErrorCode`] |
//! | CIE codes of §5.2.2/§5.2.4 (0, 4, 5, 12, 13, 14) | [`CieCode`] |
//! | §5.3 extension header with the compulsory bit; §5.3.0 End; §5.3.1 Responder Address; §5.3.2/§5.3.3 Forward/Reverse Transit NHS Record; §5.3.4 Authentication; §5.3.5 Vendor-Private | [`ExtensionHeader`], [`ExtensionView`], [`Extension`], [`ExtensionValue`] |
//! | unknown extensions (to be answered per §5.3: ignored, or an Error Indication "Unrecognized Extension" when compulsory) | [`ExtensionValue::Unknown`], kept with type, C bit and bytes |
//!
//! Cisco DMVPN additions (draft-detienne-dmvpn-01 and what Cisco IOS/IOS-XE and FRR send):
//!
//! * packet type 8, Traffic Indication (the phase 3 "redirect"): [`Body::TrafficIndication`];
//! * extension type 9, Cisco NAT Address (CIEs): [`ExtensionValue::NatAddress`];
//! * the "NAT supported" flag 0x0002 in the Flags of resolution and registration packets:
//!   [`Flags::CISCO_NAT`];
//! * the plaintext Authentication form (SPI 1 + password): [`Authentication::cisco_plaintext`];
//! * the per-tunnel QoS group name in a Vendor-Private extension (vendor 0x00000C, data
//!   `01 len name`): [`ExtensionValue::VendorPrivate`];
//! * IPv6 protocol addresses over an IPv4 NBMA (and any other mix of IPv4/IPv6 on both layers).
//!
//! # Where Cisco deviates from (or narrows) the RFC
//!
//! * **Authentication**: RFC 2332 §5.3.4 puts a source address between the SPI and the
//!   authentication data; Cisco (and FRR's `cisco-authentication`) send only Reserved, SPI 1
//!   and the clear-text password (at most 8 bytes). [`Authentication::data`] is everything
//!   after the SPI, so both forms round-trip; Wireshark needs `nhrp.auth_ext_has_addr: FALSE`
//!   to show the Cisco form.
//! * **Registration Request CIE**: Cisco puts one CIE with *empty* client addresses in the
//!   mandatory part (prefix 32, or 255 in IOS 12.4; MTU; holding time) and registers the
//!   source addresses of the common header instead; the CIE addresses are `Option`s for that.
//! * **NAT extension in requests**: Cisco spokes put the NHS's NBMA/protocol address (holding
//!   time 0) in a Cisco NAT Address extension of their Registration Requests; the NHS's reply
//!   (and FRR's) carries the NBMA address the request was really seen from.
//! * **Resolution Reply CIE**: the prefix length applies to the *destination* protocol
//!   address, and the CIE's client protocol address is the responder's tunnel address.
//! * **Flags**: Cisco uses the RFC-reserved bit 0x0002 (NAT supported).
//! * **Traffic Indication** layout: the common header as in types 1-6, with the traffic code
//!   in the Flags position and an unused (zero) Request ID word, followed by the quoted data
//!   packet up to ar$extoff; extensions (transit records, authentication, NAT) follow.
//! * Cisco sends empty Responder Address, Forward and Reverse Transit NHS Record extensions in
//!   requests (allowed by the RFC), always with the C bit; NAT and Vendor-Private without it.
//! * **Code points**: RFC 2332 says loop detected = 3 and no binding exists = 12; FRR nhrpd and
//!   OpenNHRP use 2 and 11. No capture shows Cisco's choice (all CIE codes in the captures are
//!   0 and none holds an Error Indication), so both numberings decode to distinct variants and
//!   [`Dialect`] selects what a machine sends (RFC by default).
//!
//! # Choices of this codec
//!
//! * Only IP address families: ar$afn 1/2 and ar$pro.type 0x0800/0x86DD (or their SNAP long
//!   form); any other is [`Error::Unsupported`]. IP NBMA addresses are never E.164 numbers and
//!   have no subaddress, so a set E.164/reserved bit in a type/length byte or a non-zero
//!   subaddress length is [`Error::Unsupported`] naming the field (the raw bytes stay readable
//!   through [`Packet::header`] and [`CieView::header`]).
//! * Address lengths must be the family's (0 is allowed for CIE client addresses):
//!   [`Error::AddressLength`]. A short-form ar$pro.type's ar$pro.snap is ignored on receive
//!   and zero on transmit (§5.1).
//! * The "unused" fields (CIE, Error Indication) are emitted as 0; the End extension is
//!   emitted with the C bit (as every implementation sends it). An extension part holding
//!   only End parses to no extensions and is emitted without an extension part. Apart from
//!   these, parse -> emit reproduces the bytes (checked on every captured packet).
//! * Bytes after ar$pktsz are ignored (link padding); bytes after the End extension, a
//!   missing End, an ar$extoff inside the mandatory part or beyond the packet, CIEs running
//!   past ar$extoff, lengths pointing outside the packet and a bad checksum are errors.
//! * Nothing panics on any input. The view allocates nothing; a Repr allocates only its
//!   CIE/extension/data vectors, sized from the packet (at most a small constant times
//!   ar$pktsz, itself at most 65535), never from a length field alone.
//!
//! Building a Registration Request as a Cisco spoke does:
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::Duration;
//! use nhrp::wire::*;
//!
//! let nbma = IpAddr::V4(Ipv4Addr::new(192, 168, 123, 2));
//! let me = IpAddr::V4(Ipv4Addr::new(172, 16, 123, 2));
//! let hub = IpAddr::V4(Ipv4Addr::new(172, 16, 123, 1));
//! let hub_nbma = IpAddr::V4(Ipv4Addr::new(192, 168, 123, 1));
//! let req = PacketRepr::new(
//!     255,
//!     nbma,
//!     me,
//!     hub,
//!     Body::RegistrationRequest(Mandatory::new(
//!         Flags::REGISTRATION_U | Flags::CISCO_NAT,
//!         1,
//!         vec![Cie::new(32, 17916, Duration::from_secs(7200), None, None)],
//!     )),
//! )
//! .with_extension(Extension::responder_address(None))
//! .with_extension(Extension::forward_transit_nhs(vec![]))
//! .with_extension(Extension::reverse_transit_nhs(vec![]))
//! .with_extension(Extension::authentication(Authentication::cisco_plaintext(b"DMVPN")))
//! .with_extension(Extension::nat_address(vec![Cie::new(
//!     32, 17916, Duration::ZERO, Some(hub_nbma), Some(hub),
//! )]));
//! let mut buf = [0u8; 256];
//! let n = req.emit(&mut buf)?;
//! assert_eq!(n, 105); // as the Cisco spoke in netlessons-dmvpn-nhrp-registration.pcap
//! assert_eq!(PacketRepr::parse(&buf[..n])?, req);
//! # Ok::<(), nhrp::wire::Error>(())
//! ```
//!
//! Receiving: the zero-copy view for a quick look (it allocates nothing), the owned Repr
//! for a machine. This is the Registration Reply of the FRR lab capture
//! (`captures/nhrp/frr-nhrpd-registration.pcap` frame 6) with the Cisco NAT extension:
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use nhrp::wire::*;
//!
//! # let bytes = [0x00u8, 0x01, 0x08, 0x00, 0, 0, 0, 0, 0, 0x40, 0x00, 0x70, 0x3d, 0x23, 0x00,
//! #     0x34, 0x01, 0x04, 0x04, 0x00, 0x04, 0x04, 0x00, 0x02, 0x00, 0x00, 0x03, 0xeb, 0xc0,
//! #     0xa8, 0x4d, 0x05, 0x0a, 0xff, 0x00, 0x15, 0x0a, 0xff, 0x00, 0x01, 0x00, 0x20, 0x00,
//! #     0x00, 0x05, 0x78, 0x02, 0x58, 0x00, 0x00, 0x00, 0x00, 0x80, 0x03, 0x00, 0x14, 0x00,
//! #     0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x58, 0x04, 0x00, 0x04, 0x00, 0x64, 0x40, 0xc8,
//! #     0x02, 0x0a, 0xff, 0x00, 0x01, 0x80, 0x04, 0x00, 0x00, 0x80, 0x05, 0x00, 0x00, 0x00,
//! #     0x09, 0x00, 0x14, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x04,
//! #     0x00, 0x64, 0x40, 0xc8, 0x01, 0x0a, 0xff, 0x00, 0x15, 0x80, 0x00, 0x00, 0x00];
//! let view = Packet::parse(&bytes)?;
//! assert_eq!(view.packet_type(), PacketType::RegistrationReply);
//! assert_eq!(view.request_id(), 1003);
//!
//! let reply = view.to_repr()?;
//! let Body::RegistrationReply(m) = &reply.body else { unreachable!() };
//! assert_eq!(m.cies[0].code, CieCode::Success);
//! // The NBMA address the hub really saw the request come from (the spoke is behind NAT).
//! let seen = reply.nat_address().and_then(|c| c.first()).and_then(|c| c.client_nbma);
//! assert_eq!(seen, Some(IpAddr::V4(Ipv4Addr::new(100, 64, 200, 1))));
//! # Ok::<(), nhrp::wire::Error>(())
//! ```

mod addr;
pub mod checksum;
mod cie;
mod codes;
mod error;
mod extension;
mod header;
mod packet;

pub use addr::{AFN_IPV4, AFN_IPV6, ETHERTYPE_IPV4, ETHERTYPE_IPV6, Family, PRO_TYPE_SNAP};
pub use cie::{Cie, CieIter, CieView};
pub use codes::{CieCode, Dialect, ErrorCode, Flags, PacketType, extension_type};
pub use error::{Error, Layer};
pub use extension::{Authentication, Extension, ExtensionIter, ExtensionValue, ExtensionView};
pub use header::{
    CIE_HEADER_LEN, COMMON_HEADER_LEN, CieHeader, CommonHeader, EXTENSION_HEADER_LEN, ErrorHeader,
    ExtensionHeader, FIXED_HEADER_LEN, FixedHeader,
};
pub use packet::{
    Body, ErrorIndication, Mandatory, Packet, PacketRepr, TrafficIndication, VERSION,
};

/// GRE protocol type carrying NHRP (RFC 2332 over GRE, as Cisco and FRR use it).
pub const GRE_PROTOCOL_NHRP: u16 = 0x2001;

#[cfg(test)]
pub(crate) mod tests;
