//! A second, independent implementation: scapy's IPsec layer (with `cryptography`) decrypts and
//! verifies what we seal, and we open what it seals, for every algorithm, transport and tunnel
//! mode, with and without RFC 3948 UDP encapsulation, with and without ESN. Driven through
//! `tests/scapy_esp.py`. Runs only with `DMVPN_INTEROP` set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Instant;

use common::{TRANSFORMS, gre_packet, interop_enabled, ipv4_packet, keys_for, pair};
use esp::crypto::{EncrId, IntegId, aws_lc};
use esp::{InboundSa, Mode, OutboundSa, Spi, Transform};
use serde_json::{Value, json};

fn scapy_names(t: Transform) -> (&'static str, &'static str) {
    let enc = match t.encr {
        EncrId::AES_GCM_16 => "AES-GCM",
        EncrId::AES_CBC => "AES-CBC",
        EncrId::CHACHA20_POLY1305 => "CHACHA20-POLY1305",
        e => panic!("{e:?}"),
    };
    let auth = match t.integ {
        IntegId::NONE => "NULL",
        IntegId::HMAC_SHA1_96 => "HMAC-SHA1-96",
        IntegId::HMAC_SHA2_256_128 => "SHA2-256-128",
        IntegId::HMAC_SHA2_384_192 => "SHA2-384-192",
        IntegId::HMAC_SHA2_512_256 => "SHA2-512-256",
        i => panic!("{i:?}"),
    };
    (enc, auth)
}

/// Outer IPv4 header (protocol `proto`) + body.
fn ipv4(proto: u8, body: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + body.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0, 100, 64, 0, 1, 100, 64, 0, 2]);
    let c = common::inet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(body);
    ip
}

struct Case {
    t: Transform,
    name: &'static str,
    mode: Mode,
    udp: bool,
    esn: bool,
    payload: Vec<u8>,
    nh: u8,
}

#[test]
fn scapy_interop_both_directions() {
    if !interop_enabled("scapy_interop_both_directions") {
        return;
    }
    let now = Instant::now();
    let c = aws_lc::default_provider();
    let mut cases = vec![];
    for &(name, t) in TRANSFORMS {
        for mode in [Mode::Transport, Mode::Tunnel] {
            for udp in [false, true] {
                for esn in [false, true] {
                    let inner = ipv4_packet(77, [10, 1, 0, 1], [10, 2, 0, 1], 0x33);
                    let (nh, payload) = match mode {
                        Mode::Tunnel => (4, inner),
                        Mode::Transport => (47, gre_packet(&inner)),
                    };
                    cases.push(Case {
                        t,
                        name,
                        mode,
                        udp,
                        esn,
                        payload,
                        nh,
                    });
                }
            }
        }
    }
    let seq_hi = 5u64;
    let mut input = vec![];
    for (i, k) in cases.iter().enumerate() {
        let (mut po, _) = pair(k.t, k.mode, k.esn, k.udp);
        po.spi = Spi(0x7000 + i as u32);
        let mut sa = OutboundSa::new(now, &po, &c).unwrap();
        if k.esn {
            sa.set_last_seq_for_test((seq_hi << 32) + 40);
        }
        let head = sa.header_len();
        let mut buf = vec![0u8; head + k.payload.len() + sa.max_trailer_len(k.payload.len())];
        buf[head..head + k.payload.len()].copy_from_slice(&k.payload);
        let r = sa
            .seal(now, k.nh, &mut buf, head..head + k.payload.len())
            .unwrap();
        let ours = ipv4(if k.udp { 17 } else { 50 }, &buf[r]);
        let (e, a) = keys_for(k.t, 3);
        let (enc, auth) = scapy_names(k.t);
        // What scapy encrypts for us: transport mode = outer IP (proto 47) + GRE.
        let plain = match k.mode {
            Mode::Tunnel => k.payload.clone(),
            Mode::Transport => ipv4(47, &k.payload),
        };
        input.push(json!({
            "spi": po.spi.0, "crypt_algo": enc, "crypt_key": hex::encode(&e),
            "auth_algo": auth, "auth_key": hex::encode(&a),
            "tunnel": k.mode == Mode::Tunnel, "udp": k.udp, "esn": k.esn, "seq_hi": seq_hi,
            "src": "100.64.0.1", "dst": "100.64.0.2",
            "ours": hex::encode(&ours), "plain": hex::encode(&plain), "scapy_seq": 41,
        }));
    }
    let dir = std::env::temp_dir().join(format!("esp-scapy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&input).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scapy_esp.py"))
        .arg(&file)
        .output()
        .expect("python3 not found (pip install scapy cryptography, or unset DMVPN_INTEROP)");
    assert!(
        out.status.success(),
        "scapy driver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results.len(), cases.len());
    for (i, (k, r)) in cases.iter().zip(&results).enumerate() {
        let what = format!("{} {:?} udp={} esn={}", k.name, k.mode, k.udp, k.esn);
        // 1. scapy opened ours.
        assert!(
            r.get("error").is_none(),
            "scapy could not open ours ({what}): {r}"
        );
        assert_eq!(
            r["plain"].as_str().unwrap(),
            hex::encode(&k.payload),
            "{what}"
        );
        if k.mode == Mode::Transport {
            assert_eq!(r["nh"].as_u64().unwrap(), u64::from(k.nh), "{what}");
        }
        // 2. we open scapy's.
        let theirs = hex::decode(r["theirs"].as_str().unwrap()).unwrap();
        let (_, mut pi) = pair(k.t, k.mode, k.esn, k.udp);
        pi.spi = Spi(0x7000 + i as u32);
        let mut inb = InboundSa::new(now, &pi, &c).unwrap();
        if k.esn {
            // Teach the receiver the high half with one of our packets just below.
            let (mut po, _) = pair(k.t, k.mode, k.esn, k.udp);
            po.spi = pi.spi;
            // The receiver infers the high half from the traffic it has seen (RFC 4303
            // Appendix A), so walk it up in steps of 2^31.
            let mut sa = OutboundSa::new(now, &po, &c).unwrap();
            for step in 1..=(seq_hi * 2) {
                sa.set_last_seq_for_test((step << 31) - 1);
                let mut buf = vec![0u8; 200];
                let h = sa.header_len();
                let r = sa.seal(now, k.nh, &mut buf, h..h + 1).unwrap();
                let off = if k.udp { 8 } else { 0 };
                let mut p = buf[r].to_vec();
                // Authentic (the window moves) even where a 1-byte tunnel payload is refused.
                let r = inb.open(now, &mut p[off..]).map(|_| ());
                assert!(
                    matches!(r, Ok(()) | Err(esp::OpenError::BadNextHeader(4))),
                    "{r:?}"
                );
            }
        }
        let off = 20 + if k.udp { 8 } else { 0 };
        let mut p = theirs[off..].to_vec();
        let o = inb
            .open(now, &mut p)
            .unwrap_or_else(|e| panic!("we could not open scapy's ({what}): {e:?}"));
        assert_eq!(o.next_header, k.nh, "{what}");
        assert_eq!(&*o.payload, &k.payload[..], "{what}");
        let expect_seq = if k.esn { (seq_hi << 32) + 41 } else { 41 };
        assert_eq!(o.seq, expect_seq, "{what}");
    }
    println!("scapy interop: {} cases, both directions", cases.len());
    std::fs::remove_dir_all(&dir).ok();
}
