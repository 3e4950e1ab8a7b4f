//! Address families (ar$afn, ar$pro.type) and address encoding.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP address family, used both for NBMA addresses (ar$afn) and protocol addresses
/// (ar$pro.type).
///
/// Only IP families are implemented: every DMVPN deployment uses IPv4 or IPv6 on both layers.
/// Other AFNs / protocol types are rejected with [`Error::Unsupported`](super::Error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum Family {
    /// IPv4 (AFN 1, Ethertype 0x0800), 4-byte addresses.
    Ipv4,
    /// IPv6 (AFN 2, Ethertype 0x86DD), 16-byte addresses.
    Ipv6,
}

/// ar$afn value for IPv4 NBMA addresses (IANA address family number 1).
pub const AFN_IPV4: u16 = 1;
/// ar$afn value for IPv6 NBMA addresses (IANA address family number 2).
pub const AFN_IPV6: u16 = 2;
/// ar$pro.type for IPv4 protocol addresses.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// ar$pro.type for IPv6 protocol addresses.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// ar$pro.type announcing the SNAP long form in ar$pro.snap (RFC 2332 §5.1).
pub const PRO_TYPE_SNAP: u16 = 0x0080;

impl Family {
    /// The family of an address.
    #[inline]
    pub const fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// Address length in bytes.
    #[inline]
    pub const fn addr_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }

    /// The ar$afn value.
    #[inline]
    pub const fn afn(self) -> u16 {
        match self {
            Family::Ipv4 => AFN_IPV4,
            Family::Ipv6 => AFN_IPV6,
        }
    }

    /// The family for an ar$afn value.
    #[inline]
    pub const fn from_afn(afn: u16) -> Option<Self> {
        match afn {
            AFN_IPV4 => Some(Family::Ipv4),
            AFN_IPV6 => Some(Family::Ipv6),
            _ => None,
        }
    }

    /// The Ethertype (short-form ar$pro.type).
    #[inline]
    pub const fn ethertype(self) -> u16 {
        match self {
            Family::Ipv4 => ETHERTYPE_IPV4,
            Family::Ipv6 => ETHERTYPE_IPV6,
        }
    }

    /// The family for an Ethertype.
    #[inline]
    pub const fn from_ethertype(t: u16) -> Option<Self> {
        match t {
            ETHERTYPE_IPV4 => Some(Family::Ipv4),
            ETHERTYPE_IPV6 => Some(Family::Ipv6),
            _ => None,
        }
    }
}

/// Reads an address of `family` from exactly `family.addr_len()` bytes; `None` if the length
/// does not match.
pub(crate) fn read_addr(family: Family, b: &[u8]) -> Option<IpAddr> {
    match family {
        Family::Ipv4 => <[u8; 4]>::try_from(b)
            .ok()
            .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        Family::Ipv6 => <[u8; 16]>::try_from(b)
            .ok()
            .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    }
}

/// Writes `addr` at the start of `buf` (which the caller sized), returns the length written.
pub(crate) fn write_addr(buf: &mut [u8], addr: &IpAddr) -> usize {
    match addr {
        IpAddr::V4(a) => {
            buf[..4].copy_from_slice(&a.octets());
            4
        }
        IpAddr::V6(a) => {
            buf[..16].copy_from_slice(&a.octets());
            16
        }
    }
}
