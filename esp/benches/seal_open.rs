//! ESP seal and open against the raw AEAD of the same backend (aws-lc-rs), at 64, 512, 1400
//! and 8192 bytes, for every algorithm (research/perf-limits.md §12: the goal is ESP ≥ 0.9× the
//! raw AEAD at 1400 B with AES-256-GCM).
//!
//! Groups `seal/<size>` and `open/<size>`; in each, `raw <alg>` is the reference:
//! * seal: `LessSafeKey::seal_in_place_separate_tag` with an 8-byte AAD on the same buffer
//!   (AES-CBC: `EncryptingKey::cbc` + HMAC over header, IV and ciphertext);
//! * open: `open_in_place_separate_tag` of a freshly sealed packet (setup not timed), and ESP
//!   `open` of a freshly sealed ESP packet (increasing sequence numbers, so the anti-replay
//!   window is exercised).
//!
//! ESN is off in the criterion rows (the DMVPN/Cisco default); the interleaved ratio printed
//! first is measured with ESN off and on, the reference then using the same AAD as the SA
//! (8 bytes, or 12 with ESN: aws-lc itself is ~4% slower with the 12-byte AAD).
//!
//! Run: `cargo bench -p esp --bench seal_open -- --warm-up-time 0.5 --measurement-time 1`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::large_enum_variant
)]

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::{aead, cipher, hmac};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use esp::crypto::{IntegId, Secret, aws_lc};
use esp::{Direction, InboundSa, Keys, Lifetimes, Mode, OutboundSa, SaParams, Spi, Transform};

const SIZES: [usize; 4] = [64, 512, 1400, 8192];

const ALGS: &[(&str, Transform)] = &[
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
];

fn params(t: Transform, direction: Direction, esn: bool) -> SaParams {
    let aead = t.integ == IntegId::NONE;
    let encr = vec![0x42u8; usize::from(t.encr_key_bits / 8) + if aead { 4 } else { 0 }];
    let integ = vec![
        0x24u8;
        match t.integ {
            IntegId::HMAC_SHA2_256_128 => 32,
            IntegId::HMAC_SHA2_384_192 => 48,
            IntegId::HMAC_SHA2_512_256 => 64,
            _ => 0,
        }
    ];
    SaParams {
        spi: Spi(0x1001),
        direction,
        mode: Mode::Transport,
        transform: t,
        keys: Keys {
            encr: Secret::new(&encr),
            integ: Secret::new(&integ),
        },
        esn,
        replay_window: 1024,
        lifetimes: Lifetimes::default(),
        udp_encap: None,
        tfc_pad_to: 0,
    }
}

/// The raw primitive of the same backend, same size, for the reference rows.
enum Raw {
    Aead(aead::LessSafeKey),
    Cbc(cipher::EncryptingKey, hmac::Key, usize),
}

fn raw(t: Transform) -> Raw {
    if t.integ == IntegId::NONE {
        let alg = match (t.encr.0, t.encr_key_bits) {
            (20, 128) => &aead::AES_128_GCM,
            (20, 256) => &aead::AES_256_GCM,
            _ => &aead::CHACHA20_POLY1305,
        };
        let key = vec![0x42u8; alg.key_len()];
        Raw::Aead(aead::LessSafeKey::new(
            aead::UnboundKey::new(alg, &key).unwrap(),
        ))
    } else {
        let (alg, n) = if t.encr_key_bits == 128 {
            (&cipher::AES_128, 16)
        } else {
            (&cipher::AES_256, 32)
        };
        let (h, trunc) = match t.integ {
            IntegId::HMAC_SHA2_256_128 => (hmac::HMAC_SHA256, 16),
            IntegId::HMAC_SHA2_384_192 => (hmac::HMAC_SHA384, 24),
            _ => (hmac::HMAC_SHA512, 32),
        };
        let ek = cipher::EncryptingKey::cbc(
            cipher::UnboundCipherKey::new(alg, &vec![0x42u8; n]).unwrap(),
        )
        .unwrap();
        Raw::Cbc(ek, hmac::Key::new(h, &vec![0x24u8; trunc * 2]), trunc)
    }
}

fn nonce(i: u64) -> aead::Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&i.to_be_bytes());
    aead::Nonce::assume_unique_for_key(n)
}

impl Raw {
    /// Seals `data` (a multiple of 16 for CBC) in place; returns the tag bytes written.
    fn seal(&self, i: u64, data: &mut [u8], tag: &mut [u8; 32]) {
        match self {
            Raw::Aead(k) => {
                let t = k
                    .seal_in_place_separate_tag(nonce(i), aead::Aad::from(&[0u8; 8]), data)
                    .unwrap();
                tag[..16].copy_from_slice(t.as_ref());
            }
            Raw::Cbc(k, h, trunc) => {
                let iv = [i as u8; 16];
                k.less_safe_encrypt(data, cipher::EncryptionContext::Iv128(iv.into()))
                    .unwrap();
                let mut ctx = hmac::Context::with_key(h);
                ctx.update(&[0u8; 8]);
                ctx.update(&iv);
                ctx.update(data);
                tag[..*trunc].copy_from_slice(&ctx.sign().as_ref()[..*trunc]);
            }
        }
    }
}

/// Same-round ratio for the headline goal (AES-256-GCM, 1400 B): raw and ESP alternate in
/// rounds of `N` packets and the median of the per-round ratios is printed. On a shared,
/// loaded machine this is steadier than comparing two criterion rows measured seconds apart.
fn interleaved_ratio(esn: bool) {
    const N: usize = 512;
    const ROUNDS: usize = 31;
    let now = Instant::now();
    let crypto = aws_lc::default_provider();
    let t = Transform::AES_256_GCM;
    let Raw::Aead(k) = raw(t) else { unreachable!() };
    let mut out = OutboundSa::new(now, &params(t, Direction::Outbound, esn), &crypto).unwrap();
    let mut inb = InboundSa::new(now, &params(t, Direction::Inbound, esn), &crypto).unwrap();
    let size = 1400;
    // The reference uses the same AAD as the SA: SPI + Seq (8 bytes), + Seq high with ESN.
    let aad = vec![0u8; if esn { 12 } else { 8 }];
    let head = out.header_len();
    let total = head + size + out.max_trailer_len(size);
    let mut data = vec![7u8; size];
    let mut buf = vec![7u8; total];
    let (mut seal_r, mut open_r) = (vec![], vec![]);
    let mut n = 0u64;
    for round in 0..ROUNDS {
        // seal
        let t0 = Instant::now();
        for _ in 0..N {
            n += 1;
            let tag = k
                .seal_in_place_separate_tag(
                    nonce(n),
                    aead::Aad::from(&aad[..]),
                    black_box(&mut data),
                )
                .unwrap();
            let _ = black_box(tag);
        }
        let raw_t = t0.elapsed();
        let t0 = Instant::now();
        for _ in 0..N {
            black_box(
                out.seal(now, 47, black_box(&mut buf), head..head + size)
                    .unwrap(),
            );
        }
        let esp_t = t0.elapsed();
        seal_r.push(raw_t.as_secs_f64() / esp_t.as_secs_f64());
        // open: prepare fresh packets untimed, then time the opens.
        let mut raws: Vec<(u64, Vec<u8>, aead::Tag)> = (0..N)
            .map(|_| {
                n += 1;
                let mut d = vec![7u8; size];
                let tag = k
                    .seal_in_place_separate_tag(nonce(n), aead::Aad::from(&aad[..]), &mut d)
                    .unwrap();
                (n, d, tag)
            })
            .collect();
        let mut pkts: Vec<Vec<u8>> = (0..N)
            .map(|_| {
                let mut b = vec![7u8; total];
                let r = out.seal(now, 47, &mut b, head..head + size).unwrap();
                b.truncate(r.end);
                b
            })
            .collect();
        let t0 = Instant::now();
        for (i, d, tag) in &mut raws {
            k.open_in_place_separate_tag(nonce(*i), aead::Aad::from(&aad[..]), tag.as_ref(), d)
                .unwrap();
        }
        let raw_t = t0.elapsed();
        let t0 = Instant::now();
        for p in &mut pkts {
            black_box(inb.open(now, p).unwrap().payload.len());
        }
        let esp_t = t0.elapsed();
        open_r.push(raw_t.as_secs_f64() / esp_t.as_secs_f64());
        let _ = round;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "interleaved AES-256-GCM 1400 B, ESN {}, ESP/raw throughput (median of {ROUNDS} rounds \
         of {N}): seal {:.3}, open {:.3}",
        if esn { "on " } else { "off" },
        median(&mut seal_r),
        median(&mut open_r)
    );
}

fn bench(c: &mut Criterion) {
    interleaved_ratio(false);
    interleaved_ratio(true);
    let now = Instant::now();
    let crypto = aws_lc::default_provider();
    for size in SIZES {
        let mut g = c.benchmark_group(format!("seal/{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        for &(name, t) in ALGS {
            // Reference: the raw primitive on a buffer of the ESP ciphertext size.
            let r = raw(t);
            let mut out =
                OutboundSa::new(now, &params(t, Direction::Outbound, false), &crypto).unwrap();
            let raw_len = if t.integ == IntegId::NONE {
                size
            } else {
                (size + 2).next_multiple_of(16)
            };
            let mut data = vec![7u8; raw_len];
            let mut tag = [0u8; 32];
            let mut i = 0u64;
            g.bench_function(format!("raw {name}"), |b| {
                b.iter(|| {
                    i += 1;
                    r.seal(i, black_box(&mut data), &mut tag);
                })
            });
            let head = out.header_len();
            let mut buf = vec![7u8; head + size + out.max_trailer_len(size)];
            g.bench_function(format!("esp {name}"), |b| {
                b.iter(|| {
                    let r = out
                        .seal(now, 47, black_box(&mut buf), head..head + size)
                        .unwrap();
                    black_box(r);
                })
            });
        }
        g.finish();

        let mut g = c.benchmark_group(format!("open/{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        for &(name, t) in ALGS {
            if let Raw::Aead(k) = raw(t) {
                let mut i = 0u64;
                g.bench_function(format!("raw {name}"), |b| {
                    b.iter_batched_ref(
                        || {
                            i += 1;
                            let mut d = vec![7u8; size];
                            let tag = k
                                .seal_in_place_separate_tag(
                                    nonce(i),
                                    aead::Aad::from([0u8; 8]),
                                    &mut d,
                                )
                                .unwrap();
                            (i, d, tag)
                        },
                        |(i, d, tag)| {
                            k.open_in_place_separate_tag(
                                nonce(*i),
                                aead::Aad::from([0u8; 8]),
                                tag.as_ref(),
                                d,
                            )
                            .unwrap();
                        },
                        BatchSize::SmallInput,
                    )
                });
            }
            let mut out =
                OutboundSa::new(now, &params(t, Direction::Outbound, false), &crypto).unwrap();
            let mut inb =
                InboundSa::new(now, &params(t, Direction::Inbound, false), &crypto).unwrap();
            let head = out.header_len();
            let total = head + size + out.max_trailer_len(size);
            g.bench_function(format!("esp {name}"), |b| {
                b.iter_batched_ref(
                    || {
                        let mut buf = vec![7u8; total];
                        let r = out.seal(now, 47, &mut buf, head..head + size).unwrap();
                        buf.truncate(r.end);
                        buf
                    },
                    |pkt| {
                        let o = inb.open(now, pkt).unwrap();
                        black_box(o.payload.len());
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
