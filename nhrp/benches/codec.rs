//! Parse and emit of the two packets DMVPN sends most: a Cisco-style Registration Request
//! (one CIE, Responder/Forward/Reverse/Authentication/NAT extensions) and a Resolution Reply.
//! The `memcpy` line of each group is the physical limit (copying the same bytes).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use nhrp::wire::*;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn registration_request() -> PacketRepr {
    let hub = v4(172, 16, 123, 1);
    PacketRepr::new(
        255,
        v4(192, 168, 123, 2),
        v4(172, 16, 123, 2),
        hub,
        Body::RegistrationRequest(Mandatory::new(
            Flags::REGISTRATION_U | Flags::CISCO_NAT,
            1,
            vec![Cie::new(32, 17916, Duration::from_secs(7200), None, None)],
        )),
    )
    .with_extension(Extension::responder_address(None))
    .with_extension(Extension::forward_transit_nhs(vec![]))
    .with_extension(Extension::reverse_transit_nhs(vec![]))
    .with_extension(Extension::authentication(Authentication::cisco_plaintext(
        b"DMVPN",
    )))
    .with_extension(Extension::nat_address(vec![Cie::new(
        32,
        17916,
        Duration::ZERO,
        Some(v4(192, 168, 123, 1)),
        Some(hub),
    )]))
}

fn resolution_reply() -> PacketRepr {
    let cie = Cie::new(
        32,
        17916,
        Duration::from_secs(7200),
        Some(v4(192, 168, 123, 3)),
        Some(v4(172, 16, 123, 3)),
    );
    PacketRepr::new(
        255,
        v4(192, 168, 123, 2),
        v4(172, 16, 123, 2),
        v4(172, 16, 123, 3),
        Body::ResolutionReply(Mandatory::new(Flags(0xf802), 3, vec![cie.clone()])),
    )
    .with_extension(Extension::responder_address(Some(cie)))
    .with_extension(Extension::forward_transit_nhs(vec![Cie::new(
        32,
        17916,
        Duration::from_secs(7200),
        Some(v4(192, 168, 123, 1)),
        Some(v4(172, 16, 123, 1)),
    )]))
    .with_extension(Extension::reverse_transit_nhs(vec![]))
    .with_extension(Extension::authentication(Authentication::cisco_plaintext(
        b"DMVPN",
    )))
    .with_extension(Extension::nat_address(vec![]))
}

fn bench_packet(c: &mut Criterion, name: &str, repr: &PacketRepr) {
    let bytes = repr.to_vec().unwrap();
    let mut g = c.benchmark_group(name);
    g.bench_function("memcpy", |b| {
        let mut out = [0u8; 256];
        b.iter(|| {
            let src = black_box(&bytes[..]);
            out[..src.len()].copy_from_slice(src);
            black_box(&out);
        })
    });
    g.bench_function("parse_view", |b| {
        b.iter(|| {
            let p = Packet::parse(black_box(&bytes)).unwrap();
            black_box(p.request_id());
        })
    });
    g.bench_function("parse_view_walk", |b| {
        b.iter(|| {
            let p = Packet::parse(black_box(&bytes)).unwrap();
            let mut n = 0u32;
            for c in p.cies() {
                n += u32::from(c.unwrap().holding_time_secs());
            }
            for e in p.extensions() {
                n += u32::from(e.unwrap().ty());
            }
            black_box(n);
        })
    });
    g.bench_function("parse_repr", |b| {
        b.iter(|| black_box(PacketRepr::parse(black_box(&bytes)).unwrap()))
    });
    g.bench_function("emit", |b| {
        let mut out = [0u8; 256];
        b.iter(|| black_box(black_box(repr).emit(&mut out).unwrap()))
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    bench_packet(c, "registration_request", &registration_request());
    bench_packet(c, "resolution_reply", &resolution_reply());
}

criterion_group!(benches, codec);
criterion_main!(benches);
