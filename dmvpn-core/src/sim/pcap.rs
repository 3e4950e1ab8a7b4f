//! pcap dumps of the underlay, and a reader that summarises them for tests.
//!
//! The simulator never builds outer IP headers for its own use (devices see only what follows
//! them); it synthesises them here so Wireshark and tshark dissect a run like a capture on a
//! real internet link. The format is classic pcap with nanosecond timestamps (magic
//! `0xa1b23c4d`, little endian), link type `LINKTYPE_RAW` (101: each record starts with an
//! IPv4 or IPv6 header). Timestamps are virtual time since the simulator's start, so the same
//! seed gives a byte-identical file.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// `LINKTYPE_RAW`: raw IPv4/IPv6 packets.
pub const LINKTYPE_RAW: u32 = 101;
/// Classic pcap magic for nanosecond timestamps.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Classic pcap magic for microsecond timestamps.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;

/// Where the simulator captures underlay packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CapturePoint {
    /// When a packet enters the internet (after the sender's NAT and the MTU check, before
    /// loss, delay and duplication): lost packets are in the file, duplicates are not.
    #[default]
    Send,
    /// When a packet reaches its destination address (before the receiver's NAT): lost
    /// packets are missing, duplicates and reordering show.
    Arrival,
}

/// The outer header fields of a captured packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outer {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) ip_protocol: u8,
    /// (source port, destination port) for UDP.
    pub(crate) ports: Option<(u16, u16)>,
}

impl Outer {
    /// Outer header bytes: the IP header and, for UDP, the UDP header.
    pub(crate) fn header_len(&self) -> usize {
        let ip = if self.src.is_ipv4() { 20 } else { 40 };
        ip + if self.ports.is_some() { 8 } else { 0 }
    }
}

/// The Internet checksum (RFC 1071) over several slices, folded, not complemented.
fn ones_sum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in part.iter() {
            match odd.take() {
                Some(hi) => sum += u64::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u64::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// An in-memory pcap file.
#[derive(Debug)]
pub(crate) struct PcapWriter {
    pub(crate) point: CapturePoint,
    pub(crate) buf: Vec<u8>,
    ip_id: u16,
}

impl PcapWriter {
    pub(crate) fn new(point: CapturePoint) -> Self {
        let mut buf = Vec::with_capacity(1 << 16);
        buf.extend_from_slice(&MAGIC_NANOS.to_le_bytes());
        buf.extend_from_slice(&2u16.to_le_bytes());
        buf.extend_from_slice(&4u16.to_le_bytes());
        buf.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        buf.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        buf.extend_from_slice(&65_535u32.to_le_bytes()); // snaplen
        buf.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        Self {
            point,
            buf,
            ip_id: 0,
        }
    }

    /// Append one packet. The caller has checked that the families of `src` and `dst` agree
    /// and that the total fits in 65535 bytes.
    pub(crate) fn record(&mut self, at: Duration, outer: &Outer, payload: &[u8]) {
        let total = outer.header_len() + payload.len();
        let secs = u32::try_from(at.as_secs()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&secs.to_le_bytes());
        self.buf.extend_from_slice(&at.subsec_nanos().to_le_bytes());
        let len = total as u32;
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&len.to_le_bytes());
        let udp_len = payload.len() as u16 + 8;
        let mut udp = [0u8; 8];
        if let Some((sp, dp)) = outer.ports {
            udp[0..2].copy_from_slice(&sp.to_be_bytes());
            udp[2..4].copy_from_slice(&dp.to_be_bytes());
            udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        }
        match (outer.src, outer.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                self.ip_id = self.ip_id.wrapping_add(1);
                let mut ip = [0u8; 20];
                ip[0] = 0x45;
                ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
                ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
                ip[8] = 64;
                ip[9] = outer.ip_protocol;
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
                let sum = !ones_sum(&[&ip]);
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
                self.buf.extend_from_slice(&ip);
                if outer.ports.is_some() {
                    let pseudo = [0, 17];
                    let c = !ones_sum(&[
                        &s.octets(),
                        &d.octets(),
                        &pseudo,
                        &udp_len.to_be_bytes(),
                        &udp,
                        payload,
                    ]);
                    udp[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
                }
            }
            (s, d) => {
                let (s, d) = (to_v6_octets(s), to_v6_octets(d));
                let mut ip = [0u8; 40];
                ip[0] = 0x60;
                let plen = (total - 40) as u16;
                ip[4..6].copy_from_slice(&plen.to_be_bytes());
                ip[6] = outer.ip_protocol;
                ip[7] = 64;
                ip[8..24].copy_from_slice(&s);
                ip[24..40].copy_from_slice(&d);
                self.buf.extend_from_slice(&ip);
                if outer.ports.is_some() {
                    let len32 = u32::from(udp_len).to_be_bytes();
                    let c = !ones_sum(&[&s, &d, &len32, &[0, 0, 0, 17], &udp, payload]);
                    udp[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
                }
            }
        }
        if outer.ports.is_some() {
            self.buf.extend_from_slice(&udp);
        }
        self.buf.extend_from_slice(payload);
    }
}

fn to_v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// Why [`summarize`] could not read a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// Shorter than the 24-byte file header, or a record runs past the end.
    #[error("truncated pcap at offset {offset}")]
    Truncated {
        /// Where the missing bytes start.
        offset: usize,
    },
    /// Not a little-endian classic pcap file.
    #[error("unsupported pcap magic {0:#010x}")]
    Magic(u32),
    /// Not `LINKTYPE_RAW`.
    #[error("unsupported link type {0}")]
    LinkType(u32),
}

/// What a capture holds, counted per outer IP protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureSummary {
    /// Records in the file.
    pub packets: u64,
    /// Records per outer IP protocol number (47 GRE, 50 ESP, 17 UDP...); records that are not
    /// IPv4/IPv6 count under 255.
    pub by_protocol: BTreeMap<u8, u64>,
    /// UDP records per destination port.
    pub udp_by_dst_port: BTreeMap<u16, u64>,
}

impl CaptureSummary {
    /// Records with outer IP protocol `ip_protocol`.
    pub fn count(&self, ip_protocol: u8) -> u64 {
        self.by_protocol.get(&ip_protocol).copied().unwrap_or(0)
    }
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, PcapError> {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_le_bytes)
        .ok_or(PcapError::Truncated { offset: at })
}

/// Count the packets of a `LINKTYPE_RAW` pcap (as written by the simulator) per outer IP
/// protocol, e.g. to assert that an IPsec run shows ESP only.
pub fn summarize(pcap: &[u8]) -> Result<CaptureSummary, PcapError> {
    let magic = u32_at(pcap, 0)?;
    if magic != MAGIC_NANOS && magic != MAGIC_MICROS {
        return Err(PcapError::Magic(magic));
    }
    let link = u32_at(pcap, 20)?;
    if link != LINKTYPE_RAW {
        return Err(PcapError::LinkType(link));
    }
    let mut summary = CaptureSummary::default();
    let mut at = 24;
    while at < pcap.len() {
        let caplen = u32_at(pcap, at + 8)? as usize;
        let start = at + 16;
        let rec = pcap
            .get(start..start.saturating_add(caplen))
            .ok_or(PcapError::Truncated { offset: start })?;
        let (proto, l4) = match rec.first().map(|b| b >> 4) {
            Some(4) if rec.len() >= 20 => (rec[9], usize::from(rec[0] & 0x0f) * 4),
            Some(6) if rec.len() >= 40 => (rec[6], 40),
            _ => (255, 0),
        };
        *summary.by_protocol.entry(proto).or_default() += 1;
        if proto == 17
            && let Some(p) = rec.get(l4 + 2..l4 + 4)
        {
            *summary
                .udp_by_dst_port
                .entry(u16::from_be_bytes([p[0], p[1]]))
                .or_default() += 1;
        }
        summary.packets += 1;
        at = start + caplen;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksum_verifies() {
        let mut w = PcapWriter::new(CapturePoint::Send);
        let outer = Outer {
            src: "192.0.2.1".parse().unwrap(),
            dst: "198.51.100.2".parse().unwrap(),
            ip_protocol: 17,
            ports: Some((4500, 4500)),
        };
        w.record(Duration::from_millis(1500), &outer, &[1, 2, 3]);
        let rec = &w.buf[24 + 16..];
        assert_eq!(rec.len(), 20 + 8 + 3);
        assert_eq!(ones_sum(&[&rec[..20]]), 0xffff, "IPv4 header checksum");
        // UDP checksum over pseudo header + UDP header + payload folds to 0xffff.
        let pseudo = [&rec[12..20], &[0, 17], &rec[24..26]];
        assert_eq!(
            ones_sum(&[pseudo[0], pseudo[1], pseudo[2], &rec[20..]]),
            0xffff
        );
        // Timestamp: 1 s + 500 000 000 ns.
        assert_eq!(u32::from_le_bytes(w.buf[24..28].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_le_bytes(w.buf[28..32].try_into().unwrap()),
            500_000_000
        );
        let s = summarize(&w.buf).unwrap();
        assert_eq!(s.count(17), 1);
        assert_eq!(s.udp_by_dst_port.get(&4500), Some(&1));
    }

    #[test]
    fn summarize_rejects_garbage_without_panicking() {
        assert!(summarize(&[]).is_err());
        assert!(summarize(&[0u8; 24]).is_err());
        let mut w = PcapWriter::new(CapturePoint::Send);
        let outer = Outer {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            ip_protocol: 50,
            ports: None,
        };
        w.record(Duration::ZERO, &outer, &[0; 16]);
        assert_eq!(summarize(&w.buf).unwrap().count(50), 1);
        let cut = &w.buf[..w.buf.len() - 1];
        assert!(matches!(summarize(cut), Err(PcapError::Truncated { .. })));
    }
}

/// Randomised checks driven by the simulator's own seeded generator (reproducible: the
/// failing case number is in the message).
#[cfg(test)]
mod randomized {
    use super::*;
    use crate::sim::rng::Rng;

    fn bytes(rng: &mut Rng, max: u64) -> Vec<u8> {
        (0..rng.up_to(max)).map(|_| rng.next_u64() as u8).collect()
    }

    fn addr_pair(rng: &mut Rng) -> (IpAddr, IpAddr) {
        if rng.chance(0.5) {
            let (s, d) = (rng.next_u64() as u32, rng.next_u64() as u32);
            (IpAddr::from(s.to_be_bytes()), IpAddr::from(d.to_be_bytes()))
        } else {
            let s = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
            let d = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
            (IpAddr::from(s.to_be_bytes()), IpAddr::from(d.to_be_bytes()))
        }
    }

    #[test]
    fn summarize_never_panics_on_garbage() {
        for case in 0..512 {
            let mut rng = Rng::new(case);
            let junk = bytes(&mut rng, 256);
            let _ = summarize(&junk);
            let mut w = PcapWriter::new(CapturePoint::Send);
            w.buf.extend_from_slice(&junk);
            let _ = summarize(&w.buf);
        }
    }

    #[test]
    fn written_records_read_back() {
        for case in 0..256 {
            let mut rng = Rng::new(case);
            let mut w = PcapWriter::new(CapturePoint::Arrival);
            let mut expect: BTreeMap<u8, u64> = BTreeMap::new();
            let n = rng.up_to(16);
            for _ in 0..n {
                let (src, dst) = addr_pair(&mut rng);
                let proto = [47u8, 50, 17][rng.up_to(2) as usize];
                let ports = (rng.next_u64() as u16, rng.next_u64() as u16);
                let payload = bytes(&mut rng, 64);
                let outer = Outer {
                    src,
                    dst,
                    ip_protocol: proto,
                    ports: (proto == 17).then_some(ports),
                };
                w.record(Duration::from_nanos(rng.next_u64()), &outer, &payload);
                *expect.entry(proto).or_default() += 1;
            }
            let s = summarize(&w.buf).unwrap();
            assert_eq!(s.packets, n, "case {case}");
            assert_eq!(s.by_protocol, expect, "case {case}");
            // Every record's IP length field matches its captured length.
            let mut at = 24;
            while at < w.buf.len() {
                let caplen = u32_at(&w.buf, at + 8).unwrap() as usize;
                let rec = &w.buf[at + 16..at + 16 + caplen];
                let ip_len = if rec[0] >> 4 == 4 {
                    usize::from(u16::from_be_bytes([rec[2], rec[3]]))
                } else {
                    40 + usize::from(u16::from_be_bytes([rec[4], rec[5]]))
                };
                assert_eq!(ip_len, caplen, "case {case}");
                at += 16 + caplen;
            }
        }
    }
}
