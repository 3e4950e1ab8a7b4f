//! The GRE Protocol Type field (RFC 2784 §2.4): an EtherType naming the payload.

use core::fmt;

/// The 16-bit Protocol Type of a GRE header (RFC 2784 §2.4).
///
/// RFC 2784 says the field holds "the protocol type of the payload packet", taken from the
/// Ethernet type registry (RFC 1700 / the IEEE EtherType list). Any value is kept as it is —
/// an unknown type is not a codec error (DESIGN.md §3); the named constants cover what a DMVPN
/// router and the captures in `shared/captures/gre/` carry.
///
/// `Display` prints the name and the hex value (`NHRP (0x2001)`), or just the hex value when
/// the type has no name here; `Debug` prints the same inside `ProtocolType(..)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ProtocolType(pub u16);

impl ProtocolType {
    /// 0x0000: not an EtherType, but what Cisco GRE keepalives carry in their *inner* GRE
    /// header (the keepalive is a GRE packet wrapped in IPv4 wrapped in GRE;
    /// `tcpdump-various-gre.pcap`).
    pub const CISCO_KEEPALIVE: Self = Self(0x0000);
    /// 0x0101: GRE tunnel bonding control messages (RFC 8157 §4, Deutsche Telekom hybrid access).
    pub const GRE_BONDING_CONTROL: Self = Self(0x0101);
    /// 0x0800: IPv4 (RFC 2784 §2.4 example; the usual DMVPN data payload).
    pub const IPV4: Self = Self(0x0800);
    /// 0x0806: ARP.
    pub const ARP: Self = Self(0x0806);
    /// 0x2000: Cisco Discovery Protocol, as Cisco sends it over GRE tunnels.
    pub const CDP: Self = Self(0x2000);
    /// 0x2001: NHRP (RFC 2332) as carried by Cisco DMVPN, FRR nhrpd and OpenNHRP. The value is
    /// Cisco's; RFC 2332 itself uses LLC/SNAP.
    pub const NHRP: Self = Self(0x2001);
    /// 0x22EB: ERSPAN type III.
    pub const ERSPAN_III: Self = Self(0x22EB);
    /// 0x6558: Transparent Ethernet Bridging (Ethernet frames over GRE, RFC 1701 registry).
    pub const TRANSPARENT_ETHERNET_BRIDGING: Self = Self(0x6558);
    /// 0x86DD: IPv6.
    pub const IPV6: Self = Self(0x86DD);
    /// 0x880B: PPP — carried by enhanced GRE version 1 (PPTP, RFC 2637), which this crate
    /// rejects as unsupported.
    pub const PPP: Self = Self(0x880B);
    /// 0x883E: WCCP redirect header (WCCPv2 GRE redirection, draft-wilson-wrec-wccp-v2).
    pub const WCCP: Self = Self(0x883E);
    /// 0x8847: MPLS unicast (RFC 4023 §3).
    pub const MPLS_UNICAST: Self = Self(0x8847);
    /// 0x8848: MPLS multicast (RFC 4023 §3).
    pub const MPLS_MULTICAST: Self = Self(0x8848);
    /// 0x88BE: ERSPAN type II.
    pub const ERSPAN_II: Self = Self(0x88BE);
    /// 0x8909: Cisco MetaData (TrustSec CMD header).
    pub const CISCO_METADATA: Self = Self(0x8909);
    /// 0x894F: Network Service Header (RFC 8300).
    pub const NSH: Self = Self(0x894F);

    /// The raw 16-bit value.
    #[inline]
    #[must_use]
    pub const fn value(self) -> u16 {
        self.0
    }

    /// The short human name of a known type (`"IPv4"`, `"NHRP"` ...), `None` when unknown.
    #[inline]
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::CISCO_KEEPALIVE => "Cisco keepalive",
            Self::GRE_BONDING_CONTROL => "GRE bonding control",
            Self::IPV4 => "IPv4",
            Self::ARP => "ARP",
            Self::CDP => "CDP",
            Self::NHRP => "NHRP",
            Self::ERSPAN_III => "ERSPAN III",
            Self::TRANSPARENT_ETHERNET_BRIDGING => "Transparent Ethernet Bridging",
            Self::IPV6 => "IPv6",
            Self::PPP => "PPP",
            Self::WCCP => "WCCP",
            Self::MPLS_UNICAST => "MPLS unicast",
            Self::MPLS_MULTICAST => "MPLS multicast",
            Self::ERSPAN_II => "ERSPAN II",
            Self::CISCO_METADATA => "Cisco MetaData",
            Self::NSH => "NSH",
            _ => return None,
        })
    }
}

impl From<u16> for ProtocolType {
    fn from(value: u16) -> Self {
        Self(value)
    }
}

impl From<ProtocolType> for u16 {
    fn from(value: ProtocolType) -> Self {
        value.0
    }
}

impl fmt::Display for ProtocolType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:#06x})", self.0),
            None => write!(f, "{:#06x}", self.0),
        }
    }
}

impl fmt::Debug for ProtocolType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProtocolType({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_known_and_unknown() {
        assert_eq!(ProtocolType::NHRP.to_string(), "NHRP (0x2001)");
        assert_eq!(ProtocolType::IPV6.to_string(), "IPv6 (0x86dd)");
        assert_eq!(ProtocolType(0x1234).to_string(), "0x1234");
        assert_eq!(
            format!("{:?}", ProtocolType::IPV4),
            "ProtocolType(IPv4 (0x0800))"
        );
        assert_eq!(
            ProtocolType::CISCO_KEEPALIVE.name(),
            Some("Cisco keepalive")
        );
        assert_eq!(ProtocolType(0xffff).name(), None);
    }

    #[test]
    fn conversions_keep_value() {
        assert_eq!(u16::from(ProtocolType::from(0x6558)), 0x6558);
        assert_eq!(ProtocolType::WCCP.value(), 0x883E);
    }
}
