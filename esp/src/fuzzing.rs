//! Bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs` are one-line shims). Compiled for
//! `cfg(fuzzing)` and for tests, which replay `fuzz/corpus/<target>/`.
// A fuzz body reports a broken invariant by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use crate::crypto::insecure::insecure_provider;
use crate::crypto::{IntegId, Secret};
use crate::params::{Direction, Keys, Lifetimes, Mode, SaParams, Spi, Transform, UdpEncap};
use crate::sa::{InboundSa, OutboundSa};
use crate::table::{SaTable, UdpOpened};
use crate::{CryptoProvider, OpenError};

const TRANSFORMS: [Transform; 7] = [
    Transform::AES_128_GCM,
    Transform::AES_256_GCM,
    Transform::CHACHA20_POLY1305,
    Transform::aes_cbc(128, IntegId::HMAC_SHA2_256_128),
    Transform::aes_cbc(256, IntegId::HMAC_SHA2_384_192),
    Transform::aes_cbc(256, IntegId::HMAC_SHA2_512_256),
    Transform::aes_cbc(128, IntegId::HMAC_SHA1_96),
];

/// The fuzz input's first byte chooses the SA.
///
/// bits 0-2 transform (index mod 7), bit 3 tunnel mode, bit 4 ESN, bit 5 the insecure provider
/// (identity cipher, ICV = 16/12/... bytes of 0x1c: lets the fuzzer forge authentic packets),
/// bits 6-7 the replay window (0 → 32, 1 → 64, 2 → 1024, 3 → 4096).
/// The rest is a list of packets, each `u16` big-endian length + bytes, given to
/// `SaTable::open_udp` of an SA with SPI 0x1001. AES-128-GCM uses the key of
/// `nhrp/frr-nhrpd-registration-esp.pcap` (00..0f, salt 10111213), so real packets apply.
pub fn sa_params(config: u8, direction: Direction) -> SaParams {
    let t = TRANSFORMS[usize::from(config & 7) % TRANSFORMS.len()];
    let encr_len = usize::from(t.encr_key_bits / 8) + if t.integ == IntegId::NONE { 4 } else { 0 };
    let integ_len = match t.integ {
        IntegId::HMAC_SHA1_96 => 20,
        IntegId::HMAC_SHA2_256_128 => 32,
        IntegId::HMAC_SHA2_384_192 => 48,
        IntegId::HMAC_SHA2_512_256 => 64,
        _ => 0,
    };
    let encr: Vec<u8> = (0..encr_len as u8).collect();
    let integ: Vec<u8> = (0..integ_len as u8).map(|b| b ^ 0xa5).collect();
    SaParams {
        spi: Spi(0x1001),
        direction,
        mode: if config & 8 != 0 {
            Mode::Tunnel
        } else {
            Mode::Transport
        },
        transform: t,
        keys: Keys {
            encr: Secret::new(&encr),
            integ: Secret::new(&integ),
        },
        esn: config & 0x10 != 0,
        replay_window: [32, 64, 1024, 4096][usize::from(config >> 6)],
        lifetimes: Lifetimes::default(),
        udp_encap: Some(UdpEncap {
            src_port: 4500,
            dst_port: 4500,
        }),
        tfc_pad_to: 0,
    }
}

fn provider(config: u8) -> CryptoProvider {
    #[cfg(feature = "aws-lc")]
    if config & 0x20 == 0 {
        return crate::crypto::aws_lc::provider(std::sync::Arc::new(
            crate::crypto::SeededRandom::new(u64::from(config)),
        ));
    }
    insecure_provider(u64::from(config))
}

/// Fuzz target `esp_sa_open`: random packets into an inbound SA (real or insecure provider).
///
/// Checks: no panic; a packet rejected before or at the ICV changes neither the replay window
/// nor the packet counter nor the ESN re-synchronisation count (RFC 4303 Appendix A3); an
/// accepted packet is never a dummy and its payload lies inside the packet; and every packet
/// body round-trips through `seal` and `open` of a fresh SA pair.
pub fn esp_sa_open(data: &[u8]) {
    let Some((&config, mut rest)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let crypto = provider(config);
    let mut table = SaTable::new();
    let Ok(id) = table.insert_inbound(now, &sa_params(config, Direction::Inbound), &crypto) else {
        return;
    };
    let mut out = match OutboundSa::new(now, &sa_params(config, Direction::Outbound), &crypto) {
        Ok(o) => o,
        Err(_) => return,
    };
    let mut rt_in = match InboundSa::new(now, &sa_params(config, Direction::Inbound), &crypto) {
        Ok(i) => i,
        Err(_) => return,
    };
    for _ in 0..32 {
        let [hi, lo, tail @ ..] = rest else {
            return;
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (pkt, next) = tail.split_at(len);
        rest = next;

        let before = table
            .inbound(id)
            .map(|s| (s.replay_top(), s.stats().packets, s.stats().esn_resyncs));
        let mut buf = pkt.to_vec();
        let buf_len = buf.len();
        let result = table.open_udp(now, &mut buf);
        // Errors found after the ICV verified (inner IP length in tunnel mode) legitimately
        // moved the window; everything else must have left the SA untouched.
        let post_auth = matches!(
            result,
            Err(OpenError::Malformed(crate::wire::Error::BadLength {
                layer: crate::wire::Layer::InnerIp,
                ..
            }))
        );
        match result {
            Ok(UdpOpened::Esp(got, o)) => {
                assert_eq!(got, id);
                assert_ne!(o.next_header, crate::wire::NEXT_HEADER_NONE);
                assert!(o.range.end <= buf_len && o.payload.len() == o.range.len());
                assert!(o.seq > 0);
            }
            Ok(UdpOpened::Ike(m)) => assert_eq!(m.len() + 4, buf_len),
            Ok(UdpOpened::Keepalive) => assert_eq!(buf_len, 1),
            Err(
                OpenError::Malformed(_)
                | OpenError::UnknownSpi(_)
                | OpenError::Replay { .. }
                | OpenError::TooOld { .. }
                | OpenError::AuthFailed,
            ) if !post_auth => {
                let after = table
                    .inbound(id)
                    .map(|s| (s.replay_top(), s.stats().packets, s.stats().esn_resyncs));
                assert_eq!(before, after, "a rejected packet changed the SA");
            }
            Err(_) => {}
        }

        // Round trip of the same bytes as a payload (tunnel mode needs an IP packet: skip).
        if pkt.len() <= 4096 && !matches!(sa_params(config, Direction::Inbound).mode, Mode::Tunnel)
        {
            let head = out.header_len();
            let mut b = vec![0u8; head + pkt.len() + out.max_trailer_len(pkt.len())];
            b[head..head + pkt.len()].copy_from_slice(pkt);
            let Ok(r) = out.seal(now, 47, &mut b, head..head + pkt.len()) else {
                return;
            };
            let esp = &mut b[r.start + 8..r.end];
            match rt_in.open(now, esp) {
                Ok(o) => assert_eq!(&*o.payload, pkt),
                Err(e) => panic!("round trip failed: {e:?}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/esp_sa_open");

    #[test]
    fn replay_corpus() {
        let dir = std::path::Path::new(CORPUS);
        let Ok(entries) = std::fs::read_dir(dir) else {
            panic!("corpus dir missing: {CORPUS}");
        };
        let mut n = 0;
        for e in entries {
            let path = e.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".keep") {
                continue;
            }
            esp_sa_open(&std::fs::read(&path).unwrap());
            n += 1;
        }
        assert!(n >= 5, "corpus has only {n} files");
    }

    fn chunk(v: &mut Vec<u8>, pkt: &[u8]) {
        v.extend_from_slice(&(pkt.len() as u16).to_be_bytes());
        v.extend_from_slice(pkt);
    }

    /// Seeds: valid packets of every algorithm with both providers, then mutations of them.
    fn seeds() -> Vec<(String, Vec<u8>)> {
        let now = Instant::now();
        let mut out = vec![];
        // Real Linux xfrm packet (AES-128-GCM, our lab capture), config 0x80 (window 1024).
        let frr = hex::decode(crate::sa::tests::FRR_FRAME2_HEX).unwrap();
        let mut s = vec![0x80];
        chunk(&mut s, &frr);
        chunk(&mut s, &frr); // replay
        chunk(&mut s, &[0xff]); // NAT keepalive
        chunk(&mut s, &[0, 0, 0, 0, 1, 2, 3]); // IKE after the non-ESP marker
        out.push(("linux-xfrm-gcm128-frr-frame2".to_string(), s));
        for config in [
            0u8, 1, 2, 3, 4, 5, 6, 0x10, 0x13, 0x20, 0x23, 0x30, 0x33, 0x28, 0xc1,
        ] {
            let crypto = provider(config);
            let mut sa =
                OutboundSa::new(now, &sa_params(config, Direction::Outbound), &crypto).unwrap();
            let mut s = vec![config];
            for (i, len) in [0usize, 1, 40, 300].into_iter().enumerate() {
                let payload = if config & 8 != 0 {
                    // tunnel: an IPv4 header with the right total length
                    let mut p = vec![0u8; len.max(20)];
                    p[0] = 0x45;
                    let total = (p.len() as u16).to_be_bytes();
                    p[2..4].copy_from_slice(&total);
                    p
                } else {
                    vec![i as u8; len]
                };
                let head = sa.header_len();
                let mut b = vec![0u8; head + payload.len() + sa.max_trailer_len(payload.len())];
                b[head..head + payload.len()].copy_from_slice(&payload);
                let nh = if config & 8 != 0 { 4 } else { 47 };
                let r = sa
                    .seal(now, nh, &mut b, head..head + payload.len())
                    .unwrap();
                let udp_payload = &b[r.start + 8..r.end];
                chunk(&mut s, udp_payload);
                if i == 2 {
                    let mut bad = udp_payload.to_vec();
                    let l = bad.len();
                    bad[l - 1] ^= 1; // bad ICV
                    chunk(&mut s, &bad);
                    chunk(&mut s, &udp_payload[..l / 2]); // truncated
                    chunk(&mut s, udp_payload); // replay
                }
            }
            out.push((format!("sealed-config-{config:02x}"), s));
        }
        // RFC 4303 Appendix A3: the sender lost 2^32 + 100 packets before the receiver's first;
        // 31 fail, the 32nd consecutive failure (default threshold) re-synchronises.
        for config in [0x50u8, 0x53] {
            let crypto = provider(config);
            let mut sa =
                OutboundSa::new(now, &sa_params(config, Direction::Outbound), &crypto).unwrap();
            sa.set_last_seq_for_test((1 << 32) + 100);
            let mut s = vec![config];
            for i in 0..32u8 {
                let head = sa.header_len();
                let mut b = vec![0u8; head + 24 + sa.max_trailer_len(24)];
                b[head..head + 24].fill(i);
                let r = sa.seal(now, 47, &mut b, head..head + 24).unwrap();
                chunk(&mut s, &b[r.start + 8..r.end]);
            }
            out.push((format!("esn-resync-after-2e32-lost-config-{config:02x}"), s));
        }
        out
    }

    /// The re-synchronisation seeds do what their name says (with the real provider).
    #[cfg(feature = "aws-lc")]
    #[test]
    fn esn_resync_seeds_resynchronise() {
        let now = Instant::now();
        for (name, s) in seeds()
            .into_iter()
            .filter(|(n, _)| n.starts_with("esn-resync"))
        {
            let config = s[0];
            let mut t = SaTable::new();
            let id = t
                .insert_inbound(
                    now,
                    &sa_params(config, Direction::Inbound),
                    &provider(config),
                )
                .unwrap();
            let mut rest = &s[1..];
            let mut results = vec![];
            while let [hi, lo, tail @ ..] = rest {
                let (pkt, next) = tail.split_at(usize::from(u16::from_be_bytes([*hi, *lo])));
                rest = next;
                let mut b = pkt.to_vec();
                results.push(t.open_udp(now, &mut b).is_ok());
            }
            assert_eq!(results.iter().filter(|&&ok| ok).count(), 1, "{name}");
            assert_eq!(results.last(), Some(&true), "{name}");
            let st = t.stats(id).unwrap();
            assert_eq!((st.esn_resyncs, st.esn_resync_trials), (1, 1), "{name}");
            assert_eq!(t.inbound(id).unwrap().replay_top(), (1 << 32) + 132);
            assert!(matches!(
                t.poll_event(),
                Some(crate::table::Event::EsnResynchronized { seq, .. }) if seq == (1 << 32) + 132
            ));
        }
    }

    /// Rewrites the seed files when `ESP_WRITE_CORPUS` is set (they are checked in).
    #[test]
    fn seeds_run_and_optionally_regenerate() {
        for (name, s) in seeds() {
            esp_sa_open(&s);
            if std::env::var_os("ESP_WRITE_CORPUS").is_some() {
                std::fs::create_dir_all(CORPUS).unwrap();
                std::fs::write(std::path::Path::new(CORPUS).join(name), &s).unwrap();
            }
        }
    }

    #[test]
    fn real_linux_packet_opens_with_the_fuzz_sa() {
        let now = Instant::now();
        let mut t = SaTable::new();
        t.insert_inbound(now, &sa_params(0x80, Direction::Inbound), &provider(0x80))
            .unwrap();
        let mut p = hex::decode(crate::sa::tests::FRR_FRAME2_HEX).unwrap();
        assert!(matches!(t.open_udp(now, &mut p), Ok(UdpOpened::Esp(_, o)) if o.next_header == 47));
    }

    #[test]
    fn short_and_empty_inputs() {
        for d in [
            &[][..],
            &[0],
            &[0x20, 0],
            &[0x20, 0, 5, 1],
            &[0xff, 0xff, 0xff],
        ] {
            esp_sa_open(d);
        }
    }
}
