//! The machine's own view of an NHRP message (crate-private).
//!
//! The state machines read and build [`Message`]s; `codec.rs` converts them to and from the
//! wire codec's owned Reprs at the `handle_packet` / `poll_transmit` boundary. Keeping this
//! view small and flat (addresses as `IpAddr`, codes as numbers) lets the ladder tests in
//! `src/tests/` speak messages without bytes.

use std::net::IpAddr;

/// RFC 2332 §5 packet types (+ Cisco Traffic Indication).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Op {
    ResolutionRequest = 1,
    ResolutionReply = 2,
    RegistrationRequest = 3,
    RegistrationReply = 4,
    PurgeRequest = 5,
    PurgeReply = 6,
    ErrorIndication = 7,
    TrafficIndication = 8,
}

/// RFC 2332 §5.2.1 flags (Resolution Request/Reply).
pub(crate) mod flags {
    /// Q: the requester is a router.
    pub(crate) const Q: u16 = 0x8000;
    /// A: authoritative.
    pub(crate) const A: u16 = 0x4000;
    /// D: destination is stable.
    pub(crate) const D: u16 = 0x2000;
    /// U: unique (resolution); U is 0x8000 in Registration (§5.2.3).
    pub(crate) const U_RES: u16 = 0x1000;
    /// S: source is stable.
    pub(crate) const S: u16 = 0x0800;
    /// Registration U bit (§5.2.3).
    pub(crate) const U_REG: u16 = 0x8000;
    /// Purge N bit: no reply wanted (§5.2.5).
    pub(crate) const N: u16 = 0x8000;
    /// Cisco "NAT supported" flag (resolution and registration).
    pub(crate) const CISCO_NAT: u16 = 0x0002;
}

/// CIE codes (RFC 2332 §5.2.2, §5.2.4).
pub(crate) mod cie_code {
    pub(crate) const SUCCESS: u8 = 0;
    pub(crate) const INSUFFICIENT_RESOURCES: u8 = 5;
    pub(crate) const NO_BINDING: u8 = 12;
    pub(crate) const UNIQUE_ALREADY_REGISTERED: u8 = 14;
}

/// Error Indication codes (RFC 2332 §5.2.7).
pub(crate) mod error_code {
    pub(crate) const UNRECOGNIZED_EXTENSION: u16 = 1;
    pub(crate) const LOOP_DETECTED: u16 = 3;
    pub(crate) const AUTHENTICATION_FAILURE: u16 = 11;
    pub(crate) const HOP_COUNT_EXCEEDED: u16 = 15;
}

/// RFC 2332 §5.2.0.1 Client Information Entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cie {
    pub(crate) code: u8,
    pub(crate) prefix_len: u8,
    pub(crate) mtu: u16,
    /// Seconds.
    pub(crate) holding_time: u16,
    pub(crate) preference: u8,
    pub(crate) client_nbma: Option<IpAddr>,
    pub(crate) client_proto: Option<IpAddr>,
}

/// RFC 2332 §5.3 extensions (+ Cisco NAT address). `None` = absent, `Some(empty)` = present
/// but empty (as Cisco sends them in requests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Extensions {
    pub(crate) responder: Option<Option<Cie>>,
    pub(crate) forward_transit: Option<Vec<Cie>>,
    pub(crate) reverse_transit: Option<Vec<Cie>>,
    /// Authentication extension (§5.3.4).
    pub(crate) auth: Option<crate::wire::Authentication>,
    pub(crate) nat: Option<Vec<Cie>>,
    /// Extensions the machine does not interpret (vendor-private, unknown), in order.
    pub(crate) other: Vec<crate::wire::Extension>,
}

/// One NHRP message as the state machines see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) op: Op,
    pub(crate) hop_count: u8,
    pub(crate) src_nbma: Option<IpAddr>,
    pub(crate) src_proto: IpAddr,
    pub(crate) dst_proto: IpAddr,
    /// Flags (or the Traffic Indication "traffic code").
    pub(crate) flags: u16,
    pub(crate) request_id: u32,
    pub(crate) cies: Vec<Cie>,
    /// Error Indication: (error code, error offset).
    pub(crate) error: Option<(u16, u16)>,
    /// Error Indication / Traffic Indication: the packet that caused it.
    pub(crate) payload: Vec<u8>,
    pub(crate) ext: Extensions,
}

impl Message {
    /// A message with empty CIE list, no payload and no extensions.
    pub(crate) fn new(op: Op, src_nbma: IpAddr, src_proto: IpAddr, dst_proto: IpAddr) -> Self {
        Self {
            op,
            hop_count: 255,
            src_nbma: Some(src_nbma),
            src_proto,
            dst_proto,
            flags: 0,
            request_id: 0,
            cies: Vec::new(),
            error: None,
            payload: Vec::new(),
            ext: Extensions::default(),
        }
    }
}

/// Host prefix length of an address family.
pub(crate) fn host_len(a: IpAddr) -> u8 {
    if a.is_ipv4() { 32 } else { 128 }
}

/// The (source, destination) of an IP packet header, if `pkt` starts with one.
pub(crate) fn ip_src_dst(pkt: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => {
            let s: [u8; 4] = pkt[12..16].try_into().ok()?;
            let d: [u8; 4] = pkt[16..20].try_into().ok()?;
            Some((IpAddr::from(s), IpAddr::from(d)))
        }
        6 if pkt.len() >= 40 => {
            let s: [u8; 16] = pkt[8..24].try_into().ok()?;
            let d: [u8; 16] = pkt[24..40].try_into().ok()?;
            Some((IpAddr::from(s), IpAddr::from(d)))
        }
        _ => None,
    }
}

/// A minimal IP header for (src, dst), used as the "packet causing indication" when the
/// forwarding plane only reports addresses (`Node::note_hairpin`).
pub(crate) fn synth_ip_header(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 0, 0, 0];
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let mut sum: u32 = 0;
            for c in h.chunks(2) {
                sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
            }
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            let ck = !(sum as u16);
            h[10..12].copy_from_slice(&ck.to_be_bytes());
            h
        }
        _ => {
            let mut h = vec![0x60, 0, 0, 0, 0, 0, 59, 64];
            let s = match src {
                IpAddr::V6(s) => s,
                IpAddr::V4(s) => s.to_ipv6_mapped(),
            };
            let d = match dst {
                IpAddr::V6(d) => d,
                IpAddr::V4(d) => d.to_ipv6_mapped(),
            };
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthesized_headers_parse_back() {
        let s: IpAddr = "2.2.2.2".parse().unwrap();
        let d: IpAddr = "3.3.3.3".parse().unwrap();
        assert_eq!(ip_src_dst(&synth_ip_header(s, d)), Some((s, d)));
        let s6: IpAddr = "2001:db8::2".parse().unwrap();
        let d6: IpAddr = "2001:db8::3".parse().unwrap();
        assert_eq!(ip_src_dst(&synth_ip_header(s6, d6)), Some((s6, d6)));
        assert_eq!(ip_src_dst(&[0x45, 0]), None);
    }
}
