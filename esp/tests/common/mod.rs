//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use esp::crypto::{IntegId, Secret};
use esp::{Direction, Keys, Lifetimes, Mode, SaParams, Spi, Transform, UdpEncap};

/// Every transform of the algorithm set, with a readable name.
pub(crate) const TRANSFORMS: &[(&str, Transform)] = &[
    ("aes128gcm", Transform::AES_128_GCM),
    ("aes256gcm", Transform::AES_256_GCM),
    ("chacha20poly1305", Transform::CHACHA20_POLY1305),
    (
        "aes128cbc-sha256",
        Transform::aes_cbc(128, IntegId::HMAC_SHA2_256_128),
    ),
    (
        "aes256cbc-sha384",
        Transform::aes_cbc(256, IntegId::HMAC_SHA2_384_192),
    ),
    (
        "aes256cbc-sha512",
        Transform::aes_cbc(256, IntegId::HMAC_SHA2_512_256),
    ),
    (
        "aes128cbc-sha1",
        Transform::aes_cbc(128, IntegId::HMAC_SHA1_96),
    ),
];

/// Deterministic key material of the right lengths for `t` (encr, integ).
pub(crate) fn keys_for(t: Transform, seed: u8) -> (Vec<u8>, Vec<u8>) {
    let encr_len = usize::from(t.encr_key_bits / 8) + if t.integ == IntegId::NONE { 4 } else { 0 };
    let integ_len = match t.integ {
        IntegId::HMAC_SHA1_96 => 20,
        IntegId::HMAC_SHA2_256_128 => 32,
        IntegId::HMAC_SHA2_384_192 => 48,
        IntegId::HMAC_SHA2_512_256 => 64,
        _ => 0,
    };
    let e = (0..encr_len)
        .map(|i| seed.wrapping_add(i as u8).wrapping_mul(7))
        .collect();
    let a = (0..integ_len)
        .map(|i| seed.wrapping_add(i as u8).wrapping_mul(13) ^ 0x5a)
        .collect();
    (e, a)
}

/// Outbound and inbound params of one SA.
pub(crate) fn pair(t: Transform, mode: Mode, esn: bool, udp: bool) -> (SaParams, SaParams) {
    let (e, a) = keys_for(t, 3);
    let out = SaParams {
        spi: Spi(0x0000_1001),
        direction: Direction::Outbound,
        mode,
        transform: t,
        keys: Keys {
            encr: Secret::new(&e),
            integ: Secret::new(&a),
        },
        esn,
        replay_window: 128,
        lifetimes: Lifetimes::default(),
        udp_encap: udp.then_some(UdpEncap {
            src_port: 4500,
            dst_port: 4500,
        }),
        tfc_pad_to: 0,
    };
    let mut inb = out.clone();
    inb.direction = Direction::Inbound;
    (out, inb)
}

/// A minimal IPv4 packet (ICMP echo) of total length `len` (>= 28).
pub(crate) fn ipv4_packet(len: usize, src: [u8; 4], dst: [u8; 4], fill: u8) -> Vec<u8> {
    let mut p = vec![fill; len];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[4..8].copy_from_slice(&[0, 1, 0, 0]);
    p[8] = 64;
    p[9] = 1;
    p[10..12].copy_from_slice(&[0, 0]);
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let mut sum = 0u32;
    for c in p[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p[20] = 8; // echo request
    p[21] = 0;
    p[22..24].copy_from_slice(&[0, 0]);
    p
}

/// A GRE packet (RFC 2784 + key) carrying `inner` as IPv4 (DMVPN style, key 42).
pub(crate) fn gre_packet(inner: &[u8]) -> Vec<u8> {
    let mut p = vec![0x20, 0x00, 0x08, 0x00, 0, 0, 0, 42];
    p.extend_from_slice(inner);
    p
}

/// Whether interop tests should run (`DMVPN_INTEROP` set); prints a skip line otherwise.
pub(crate) fn interop_enabled(test: &str) -> bool {
    if std::env::var_os("DMVPN_INTEROP").is_some() {
        true
    } else {
        println!("{test}: skipped (set DMVPN_INTEROP=1 to run)");
        false
    }
}

/// Path of a file under ../shared/captures.
pub(crate) fn capture_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/captures"
    ))
    .join(rel)
}

/// All link-layer frames of a pcap or pcapng file (both Ethernet here).
pub(crate) fn read_frames(path: &std::path::Path) -> Vec<Vec<u8>> {
    use pcap_file::pcap::PcapReader;
    use pcap_file::pcapng::{Block, PcapNgReader};
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = vec![];
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut r = PcapNgReader::new(&bytes[..]).unwrap();
        while let Some(b) = r.next_block() {
            match b.unwrap() {
                Block::EnhancedPacket(p) => out.push(p.data.to_vec()),
                Block::SimplePacket(p) => out.push(p.data.to_vec()),
                _ => {}
            }
        }
    } else {
        let mut r = PcapReader::new(&bytes[..]).unwrap();
        while let Some(p) = r.next_packet() {
            out.push(p.unwrap().data.to_vec());
        }
    }
    out
}

/// An IP packet found in an Ethernet frame.
#[derive(Debug, Clone)]
pub(crate) struct IpPkt {
    pub(crate) src: std::net::IpAddr,
    pub(crate) dst: std::net::IpAddr,
    pub(crate) proto: u8,
    pub(crate) payload: Vec<u8>,
}

/// Parses an IPv4/IPv6 packet (no IPv6 extension headers, no fragments).
pub(crate) fn parse_ip(p: &[u8]) -> Option<IpPkt> {
    match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            let frag = u16::from_be_bytes([p[6], p[7]]) & 0x3fff;
            if frag != 0 || total > p.len() || ihl < 20 {
                return None;
            }
            let a: [u8; 4] = p[12..16].try_into().ok()?;
            let b: [u8; 4] = p[16..20].try_into().ok()?;
            Some(IpPkt {
                src: a.into(),
                dst: b.into(),
                proto: p[9],
                payload: p[ihl..total].to_vec(),
            })
        }
        6 => {
            let plen = usize::from(u16::from_be_bytes([p[4], p[5]]));
            let a: [u8; 16] = p[8..24].try_into().ok()?;
            let b: [u8; 16] = p[24..40].try_into().ok()?;
            Some(IpPkt {
                src: a.into(),
                dst: b.into(),
                proto: p[6],
                payload: p.get(40..40 + plen)?.to_vec(),
            })
        }
        _ => None,
    }
}

/// The IP packet inside an Ethernet frame (optionally one VLAN tag).
pub(crate) fn eth_ip(frame: &[u8]) -> Option<IpPkt> {
    let mut off = 12;
    let mut et = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
    if et == 0x8100 {
        off += 4;
        et = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
    }
    match et {
        0x0800 | 0x86dd => parse_ip(frame.get(off + 2..)?),
        _ => None,
    }
}

/// The Internet checksum of `data` (0 when a packet with its checksum field is valid).
pub(crate) fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
