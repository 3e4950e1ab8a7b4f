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
