//! Overlay (tunnelled) IP packets: the few header fields a router needs, TTL handling in
//! place, and the ICMP errors a router sends.
//!
//! The node forwards like a router (RFC 1812 §5.3.1, RFC 8200 §3): it decrements the IPv4 TTL
//! / IPv6 hop limit of every packet it forwards, and answers itself, from its tunnel address,
//! with ICMP Time Exceeded when the TTL runs out, ICMP Fragmentation Needed / ICMPv6 Packet Too
//! Big when a packet does not fit the tunnel MTU, and Destination Unreachable when no route
//! exists. It never sends an ICMP error about an ICMP error, a non-first fragment, or a
//! multicast packet (RFC 1812 §4.3.2.7, RFC 4443 §2.4). The per-packet header read uses
//! zerocopy views of the fixed IPv4/IPv6 headers (as every codec of the workspace does); the
//! rest of the IP parsing and the ICMP messages use `etherparse` (a well-kept crate).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use etherparse::{
    Icmpv4Type, Icmpv6Type, IpNumber, Ipv4HeaderSlice, Ipv6HeaderSlice, NetSlice, PacketBuilder,
    SlicedPacket, TransportSlice,
    icmpv4::{DestUnreachableHeader, TimeExceededCode},
    icmpv6::{DestUnreachableCode, TimeExceededCode as TimeExceededCode6},
};

/// The header facts the forwarding path needs from an overlay packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverlayHeader {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 "don't fragment" (always true for IPv6, where routers never fragment).
    pub dont_fragment: bool,
}

/// Why an overlay packet could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverlayError {
    /// Not an IPv4 or IPv6 packet, or a header that does not parse.
    #[error("not a valid IPv4/IPv6 packet")]
    Malformed,
    /// The IP total/payload length disagrees with the bytes we got.
    #[error("IP length field {claimed} does not match the {got} bytes received")]
    Length {
        /// Length the header claims.
        claimed: usize,
        /// Bytes present.
        got: usize,
    },
}

/// The fixed IPv4 header (RFC 791 §3.1), as the forwarding path reads it.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Ipv4Fixed {
    version_ihl: u8,
    tos: u8,
    total_length: U16,
    identification: U16,
    flags_fragment_offset: U16,
    ttl: u8,
    protocol: u8,
    checksum: U16,
    src: [u8; 4],
    dst: [u8; 4],
}

/// The fixed IPv6 header (RFC 8200 §3), as the forwarding path reads it.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Ipv6Fixed {
    version_class_flow: [u8; 4],
    payload_length: U16,
    next_header: u8,
    hop_limit: u8,
    src: [u8; 16],
    dst: [u8; 16],
}

impl OverlayHeader {
    /// Reads the header of an IPv4 or IPv6 packet (no options are interpreted). This runs
    /// for every forwarded packet, so it reads only what forwarding needs, through zerocopy
    /// views of the fixed headers; what ICMP error generation needs is read (with
    /// `etherparse`) by [`no_icmp_errors`](Self::no_icmp_errors) when an error is due.
    ///
    /// Checks: version 4 or 6; IPv4 IHL at least 5 and within the packet, total length
    /// between the header length and the bytes received; IPv6 payload length within the
    /// bytes received. Bytes beyond the IP length (link padding) are allowed.
    #[inline]
    pub fn parse(packet: &[u8]) -> Result<Self, OverlayError> {
        match packet.first().map(|b| b >> 4) {
            Some(4) => {
                let (h, _) =
                    Ipv4Fixed::ref_from_prefix(packet).map_err(|_| OverlayError::Malformed)?;
                let header_len = usize::from(h.version_ihl & 0x0f) * 4;
                if header_len < 20 || header_len > packet.len() {
                    return Err(OverlayError::Malformed);
                }
                let claimed = usize::from(h.total_length.get());
                if claimed > packet.len() || claimed < header_len {
                    return Err(OverlayError::Length {
                        claimed,
                        got: packet.len(),
                    });
                }
                Ok(Self {
                    src: IpAddr::V4(Ipv4Addr::from(h.src)),
                    dst: IpAddr::V4(Ipv4Addr::from(h.dst)),
                    ttl: h.ttl,
                    dont_fragment: h.flags_fragment_offset.get() & 0x4000 != 0,
                })
            }
            Some(6) => {
                let (h, _) =
                    Ipv6Fixed::ref_from_prefix(packet).map_err(|_| OverlayError::Malformed)?;
                let claimed = 40 + usize::from(h.payload_length.get());
                if claimed > packet.len() {
                    return Err(OverlayError::Length {
                        claimed,
                        got: packet.len(),
                    });
                }
                Ok(Self {
                    src: IpAddr::V6(Ipv6Addr::from(h.src)),
                    dst: IpAddr::V6(Ipv6Addr::from(h.dst)),
                    ttl: h.hop_limit,
                    dont_fragment: true,
                })
            }
            _ => Err(OverlayError::Malformed),
        }
    }

    /// True when an ICMP error must not be sent about `packet` (whose header this is): it is
    /// an ICMP error itself, a non-first fragment, or multicast/broadcast/unspecified
    /// (RFC 1812 §4.3.2.7, RFC 4443 §2.4 (e)).
    pub fn no_icmp_errors(&self, packet: &[u8]) -> bool {
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let Ok(h) = Ipv4HeaderSlice::from_slice(packet) else {
                    return true;
                };
                let icmp_error = h.protocol() == IpNumber::ICMP
                    && packet
                        .get(h.slice().len())
                        .is_some_and(|t| matches!(t, 3 | 4 | 5 | 11 | 12));
                icmp_error
                    || h.fragments_offset().value() != 0
                    || dst.is_multicast()
                    || dst.is_broadcast()
                    || src.is_unspecified()
                    || src.is_multicast()
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let Ok(h) = Ipv6HeaderSlice::from_slice(packet) else {
                    return true;
                };
                // Extension headers are not walked: an ICMPv6 error directly after the fixed
                // header is recognised, others are treated as ordinary payload.
                let icmp_error = h.next_header() == IpNumber::IPV6_ICMP
                    && packet.get(40).is_some_and(|t| *t < 128);
                icmp_error || dst.is_multicast() || src.is_unspecified()
            }
            _ => true,
        }
    }
}

/// Decrements the TTL / hop limit in place and, for IPv4, updates the header checksum
/// incrementally (RFC 1624 eqn. 3). The caller has checked that the TTL is above 1.
#[inline(always)]
pub fn decrement_ttl(packet: &mut [u8]) {
    let len = packet.len();
    let Some(h) = packet.first_chunk_mut::<12>() else {
        return;
    };
    match h[0] >> 4 {
        4 if len >= 20 => {
            // The TTL is the high byte of the 16-bit word at offset 8, so that word drops by
            // 0x0100 and, with m' = m - 0x0100, ~m + m' = 0xFEFF whatever the TTL:
            // HC' = ~(~HC + 0xFEFF) with the end-around carry (one fold suffices).
            h[8] = h[8].wrapping_sub(1);
            let hc = u16::from_be_bytes([h[10], h[11]]);
            let sum = u32::from(!hc) + 0xFEFF;
            let sum = (sum & 0xffff) + (sum >> 16);
            [h[10], h[11]] = (!(sum as u16)).to_be_bytes();
        }
        6 if len >= 40 => h[7] = h[7].wrapping_sub(1),
        _ => {}
    }
}

/// The ICMP errors a DMVPN router sends about overlay packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpError {
    /// TTL / hop limit reached zero in transit.
    TimeExceeded,
    /// The packet does not fit the tunnel: ICMP Fragmentation Needed (IPv4, DF set) or
    /// ICMPv6 Packet Too Big, carrying the tunnel MTU (RFC 1191, RFC 8201).
    TooBig {
        /// The largest packet the tunnel carries.
        mtu: u16,
    },
    /// No route to the destination.
    Unreachable,
}

/// How much of the offending packet an ICMP error quotes: as much as keeps the error within
/// 576 bytes (IPv4, RFC 1812 §4.3.2.3) or 1280 bytes (IPv6, RFC 4443 §2.4 (c)).
const QUOTE_V4: usize = 576 - 20 - 8;
const QUOTE_V6: usize = 1280 - 40 - 8;

/// Builds the ICMP error `kind` about `original` (whose header is `header`), sent from our
/// address `from` of the same family to the original source. Returns `None` when no error
/// may be sent (see [`OverlayHeader::no_icmp_errors`]) or the families differ.
pub fn icmp_error(
    from: IpAddr,
    header: &OverlayHeader,
    original: &[u8],
    kind: IcmpError,
) -> Option<Vec<u8>> {
    if header.no_icmp_errors(original) {
        return None;
    }
    match (from, header.src) {
        (IpAddr::V4(from), IpAddr::V4(to)) => icmpv4_error(from, to, original, kind),
        (IpAddr::V6(from), IpAddr::V6(to)) => icmpv6_error(from, to, original, kind),
        _ => None,
    }
}

fn icmpv4_error(from: Ipv4Addr, to: Ipv4Addr, original: &[u8], kind: IcmpError) -> Option<Vec<u8>> {
    let icmp_type = match kind {
        IcmpError::TimeExceeded => Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit),
        IcmpError::TooBig { mtu } => {
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
                next_hop_mtu: mtu,
            })
        }
        IcmpError::Unreachable => {
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Network)
        }
    };
    let quote = &original[..original.len().min(QUOTE_V4)];
    let builder = PacketBuilder::ipv4(from.octets(), to.octets(), 64).icmpv4(icmp_type);
    let mut out = Vec::with_capacity(builder.size(quote.len()));
    builder.write(&mut out, quote).ok()?;
    Some(out)
}

fn icmpv6_error(from: Ipv6Addr, to: Ipv6Addr, original: &[u8], kind: IcmpError) -> Option<Vec<u8>> {
    let icmp_type = match kind {
        IcmpError::TimeExceeded => Icmpv6Type::TimeExceeded(TimeExceededCode6::HopLimitExceeded),
        IcmpError::TooBig { mtu } => Icmpv6Type::PacketTooBig {
            mtu: u32::from(mtu),
        },
        IcmpError::Unreachable => Icmpv6Type::DestinationUnreachable(DestUnreachableCode::NoRoute),
    };
    let quote = &original[..original.len().min(QUOTE_V6)];
    let builder = PacketBuilder::ipv6(from.octets(), to.octets(), 64).icmpv6(icmp_type);
    let mut out = Vec::with_capacity(builder.size(quote.len()));
    builder.write(&mut out, quote).ok()?;
    Some(out)
}

/// An ICMP/ICMPv6 echo request or reply, `None` when the families differ or it does not fit.
pub(crate) fn echo(
    src: IpAddr,
    dst: IpAddr,
    reply: bool,
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(48 + payload.len());
    let written = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let b = PacketBuilder::ipv4(s.octets(), d.octets(), 64);
            let b = if reply {
                b.icmpv4_echo_reply(id, seq)
            } else {
                b.icmpv4_echo_request(id, seq)
            };
            b.write(&mut out, payload).is_ok()
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let b = PacketBuilder::ipv6(s.octets(), d.octets(), 64);
            let b = if reply {
                b.icmpv6_echo_reply(id, seq)
            } else {
                b.icmpv6_echo_request(id, seq)
            };
            b.write(&mut out, payload).is_ok()
        }
        _ => false,
    };
    written.then_some(out)
}

/// What an ICMP echo exchange needs from a packet (the node's own answers and the
/// simulator's hosts; only the hosts read echo replies, so without `sim` their fields go
/// unread).
#[cfg_attr(not(feature = "sim"), allow(dead_code))]
pub(crate) enum Parsed<'a> {
    /// An echo request.
    EchoRequest {
        from: IpAddr,
        id: u16,
        seq: u16,
        payload: &'a [u8],
    },
    EchoReply {
        from: IpAddr,
        id: u16,
        seq: u16,
        payload_len: usize,
    },
    Other,
}

pub(crate) fn parse(packet: &[u8]) -> Parsed<'_> {
    let Ok(p) = SlicedPacket::from_ip(packet) else {
        return Parsed::Other;
    };
    let from = match &p.net {
        Some(NetSlice::Ipv4(ip)) => IpAddr::V4(ip.header().source_addr()),
        Some(NetSlice::Ipv6(ip)) => IpAddr::V6(ip.header().source_addr()),
        _ => return Parsed::Other,
    };
    match &p.transport {
        Some(TransportSlice::Icmpv4(icmp)) => match icmp.icmp_type() {
            Icmpv4Type::EchoRequest(h) => Parsed::EchoRequest {
                from,
                id: h.id,
                seq: h.seq,
                payload: icmp.payload(),
            },
            Icmpv4Type::EchoReply(h) => Parsed::EchoReply {
                from,
                id: h.id,
                seq: h.seq,
                payload_len: icmp.payload().len(),
            },
            _ => Parsed::Other,
        },
        Some(TransportSlice::Icmpv6(icmp)) => match icmp.icmp_type() {
            Icmpv6Type::EchoRequest(h) => Parsed::EchoRequest {
                from,
                id: h.id,
                seq: h.seq,
                payload: icmp.payload(),
            },
            Icmpv6Type::EchoReply(h) => Parsed::EchoReply {
                from,
                id: h.id,
                seq: h.seq,
                payload_len: icmp.payload().len(),
            },
            _ => Parsed::Other,
        },
        _ => Parsed::Other,
    }
}

#[cfg(test)]
mod tests {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    use super::*;

    fn ping4(src: [u8; 4], dst: [u8; 4], ttl: u8, len: usize) -> Vec<u8> {
        let b = PacketBuilder::ipv4(src, dst, ttl).icmpv4_echo_request(7, 1);
        let mut out = Vec::new();
        b.write(&mut out, &vec![0xab; len]).unwrap();
        out
    }

    fn ping6(ttl: u8) -> Vec<u8> {
        let src: Ipv6Addr = "2001:db8:1::10".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8:2::10".parse().unwrap();
        let b = PacketBuilder::ipv6(src.octets(), dst.octets(), ttl).icmpv6_echo_request(7, 1);
        let mut out = Vec::new();
        b.write(&mut out, &[1, 2, 3]).unwrap();
        out
    }

    #[test]
    fn ttl_decrement_keeps_ipv4_checksum_valid() {
        // Every TTL, with source addresses that sweep the checksum through its whole range
        // (the incremental update must equal a full recomputation, RFC 1624 §3).
        for ttl in 2u8..=255 {
            for a in 0..=255u8 {
                let mut p = ping4([192, 168, a, 255 - a], [192, 168, 2, 10], ttl, 32);
                decrement_ttl(&mut p);
                let h = Ipv4HeaderSlice::from_slice(&p).unwrap();
                assert_eq!(h.ttl(), ttl - 1);
                assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
            }
        }
        let mut p = ping6(9);
        decrement_ttl(&mut p);
        assert_eq!(OverlayHeader::parse(&p).unwrap().ttl, 8);
    }

    /// What etherparse (the reference) reads from the same bytes, in our terms.
    fn reference(packet: &[u8]) -> Result<OverlayHeader, OverlayError> {
        match packet.first().map(|b| b >> 4) {
            Some(4) => {
                let h = Ipv4HeaderSlice::from_slice(packet).map_err(|_| OverlayError::Malformed)?;
                let claimed = usize::from(h.total_len());
                if claimed > packet.len() || claimed < h.slice().len() {
                    return Err(OverlayError::Length {
                        claimed,
                        got: packet.len(),
                    });
                }
                Ok(OverlayHeader {
                    src: h.source_addr().into(),
                    dst: h.destination_addr().into(),
                    ttl: h.ttl(),
                    dont_fragment: h.dont_fragment(),
                })
            }
            Some(6) => {
                let h = Ipv6HeaderSlice::from_slice(packet).map_err(|_| OverlayError::Malformed)?;
                let claimed = 40 + usize::from(h.payload_length());
                if claimed > packet.len() {
                    return Err(OverlayError::Length {
                        claimed,
                        got: packet.len(),
                    });
                }
                Ok(OverlayHeader {
                    src: h.source_addr().into(),
                    dst: h.destination_addr().into(),
                    ttl: h.hop_limit(),
                    dont_fragment: true,
                })
            }
            _ => Err(OverlayError::Malformed),
        }
    }

    proptest::proptest! {
        /// The zerocopy fast read agrees with etherparse on any bytes: random ones, and
        /// mostly-valid headers with random lengths, IHL and flags.
        #[test]
        fn parse_agrees_with_etherparse(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            version in proptest::prop_oneof![proptest::prelude::Just(4u8), proptest::prelude::Just(6u8), 0u8..16],
            ihl in 0u8..16,
            total in 0u16..100,
        ) {
            proptest::prop_assert_eq!(OverlayHeader::parse(&bytes), reference(&bytes));
            let mut b = bytes.clone();
            if b.len() >= 4 {
                b[0] = (version << 4) | ihl;
                b[2..4].copy_from_slice(&total.to_be_bytes());
                if version == 6 && b.len() >= 6 {
                    b[4..6].copy_from_slice(&total.to_be_bytes());
                }
            }
            proptest::prop_assert_eq!(OverlayHeader::parse(&b), reference(&b));
        }
    }

    #[test]
    fn parse_reads_addresses_and_rejects_bad_lengths() {
        let p = ping4([192, 168, 1, 10], [192, 168, 2, 10], 64, 10);
        let h = OverlayHeader::parse(&p).unwrap();
        assert_eq!(h.dst, IpAddr::from([192, 168, 2, 10]));
        assert!(!h.no_icmp_errors(&p));
        assert_eq!(
            OverlayHeader::parse(&p[..p.len() - 1]),
            Err(OverlayError::Length {
                claimed: p.len(),
                got: p.len() - 1
            })
        );
        assert_eq!(OverlayHeader::parse(&[0x45]), Err(OverlayError::Malformed));
        assert_eq!(OverlayHeader::parse(&[]), Err(OverlayError::Malformed));
        assert_eq!(
            OverlayHeader::parse(&[0x12; 40]),
            Err(OverlayError::Malformed)
        );
        let h6 = OverlayHeader::parse(&ping6(3)).unwrap();
        assert_eq!(h6.ttl, 3);
        assert!(h6.dont_fragment);
    }

    #[test]
    fn icmp_errors_quote_the_packet_and_carry_the_mtu() {
        let p = ping4([192, 168, 1, 10], [192, 168, 2, 10], 64, 1000);
        let h = OverlayHeader::parse(&p).unwrap();
        let e = icmp_error(
            "10.0.0.11".parse().unwrap(),
            &h,
            &p,
            IcmpError::TooBig { mtu: 1400 },
        )
        .unwrap();
        assert_eq!(e.len(), 576);
        let s = SlicedPacket::from_ip(&e).unwrap();
        let Some(NetSlice::Ipv4(ip)) = s.net else {
            panic!("not ipv4")
        };
        assert_eq!(
            ip.header().destination_addr(),
            Ipv4Addr::new(192, 168, 1, 10)
        );
        let Some(TransportSlice::Icmpv4(icmp)) = s.transport else {
            panic!("not icmp")
        };
        assert_eq!(
            icmp.icmp_type(),
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
                next_hop_mtu: 1400
            })
        );
        // No error about the error itself.
        let h2 = OverlayHeader::parse(&e).unwrap();
        assert!(h2.no_icmp_errors(&e));
        assert_eq!(
            icmp_error(
                "10.0.0.11".parse().unwrap(),
                &h2,
                &e,
                IcmpError::TimeExceeded
            ),
            None
        );
        // IPv6 Packet Too Big.
        let p6 = ping6(64);
        let h6 = OverlayHeader::parse(&p6).unwrap();
        let e6 = icmp_error(
            "2001:db8::1".parse().unwrap(),
            &h6,
            &p6,
            IcmpError::TooBig { mtu: 1400 },
        )
        .unwrap();
        let s = SlicedPacket::from_ip(&e6).unwrap();
        let Some(TransportSlice::Icmpv6(icmp)) = s.transport else {
            panic!("not icmpv6")
        };
        assert_eq!(icmp.icmp_type(), Icmpv6Type::PacketTooBig { mtu: 1400 });
        // Family mismatch: nothing.
        assert_eq!(
            icmp_error(
                "10.0.0.1".parse().unwrap(),
                &h6,
                &p6,
                IcmpError::TimeExceeded
            ),
            None
        );
    }
}
