//! The NHRP wire codec (RFC 2332 §5 + Cisco DMVPN extensions), in three layers (DESIGN.md §3):
//!
//! 1. zerocopy fixed headers: [`FixedHeader`], [`CommonHeader`], [`ErrorHeader`], [`CieHeader`],
//!    [`ExtensionHeader`];
//! 2. the validated borrowed view [`Packet`] with iterators over CIEs ([`CieIter`]) and
//!    extensions ([`ExtensionIter`]); parsing it does not allocate;
//! 3. owned Reprs ([`PacketRepr`], [`Body`], [`Cie`], [`Extension`]) with `parse`,
//!    `buffer_len` and `emit(&mut [u8])` (emit does not allocate).
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
