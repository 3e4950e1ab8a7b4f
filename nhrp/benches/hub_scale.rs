//! Hub scale: 100 000 spokes registering, then refreshing, into one NHS.
//!
//! Targets (issue): >= 500 000 registrations processed per second on one core and
//! `poll_timeout` O(1) (here: with 100 000 registrations against 1). The group also measures
//! the codec alone (parse the request, emit a reply of the same size) as the physical limit
//! of this work; compare `register_100k` with `codec_only_parse_and_emit_100k`. The heap per
//! spoke (<= 256 bytes) is asserted with a counting allocator in
//! `tests/node_hub_memory.rs`, so this bench runs on the system allocator.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use nhrp::wire::{Body, Cie, Extension, Flags, Mandatory, PacketRepr};
use nhrp::{Config, Datagram, Node};

const SPOKES: u32 = 100_000;
const HUB: [u8; 4] = [10, 255, 255, 254];
const HUB_NBMA: [u8; 4] = [192, 0, 2, 1];

fn spoke(i: u32) -> (IpAddr, IpAddr) {
    let b = i.to_be_bytes();
    (
        IpAddr::from([10, b[1], b[2], b[3]]),
        IpAddr::from([100, b[1], b[2], b[3]]),
    )
}

/// A Cisco-style Registration Request (as in netlessons-dmvpn-nhrp-registration.pcap).
fn request(i: u32, id: u32) -> Vec<u8> {
    let (proto, nbma) = spoke(i);
    PacketRepr::new(
        255,
        nbma,
        proto,
        IpAddr::from(HUB),
        Body::RegistrationRequest(Mandatory::new(
            Flags::REGISTRATION_U | Flags::CISCO_NAT,
            id,
            vec![Cie::new(32, 1400, Duration::from_secs(7200), None, None)],
        )),
    )
    .with_extension(Extension::responder_address(None))
    .with_extension(Extension::forward_transit_nhs(vec![]))
    .with_extension(Extension::reverse_transit_nhs(vec![]))
    .with_extension(Extension::nat_address(vec![Cie::new(
        32,
        1400,
        Duration::ZERO,
        Some(IpAddr::from(HUB_NBMA)),
        Some(IpAddr::from(HUB)),
    )]))
    .to_vec()
    .unwrap()
}

fn hub(now: Instant) -> Node {
    let mut c = Config::hub(IpAddr::from(HUB), IpAddr::from(HUB_NBMA));
    c.max_registrations = SPOKES as usize;
    c.max_events = SPOKES as usize + 16;
    Node::new(c, now).unwrap()
}

/// Feeds every packet, draining after each as a driver would; returns the bytes sent.
fn feed(node: &mut Node, now: Instant, packets: &[(IpAddr, Vec<u8>)]) -> usize {
    let mut sent = 0;
    for (from, bytes) in packets {
        node.handle_packet(now, Datagram { from: *from, bytes })
            .unwrap();
        while let Some(t) = node.poll_transmit() {
            sent += t.bytes.len();
        }
        while node.poll_event().is_some() {}
    }
    sent
}

fn packets(id: u32) -> Vec<(IpAddr, Vec<u8>)> {
    (0..SPOKES).map(|i| (spoke(i).1, request(i, id))).collect()
}

fn bench(c: &mut Criterion) {
    let first = packets(1);
    let refresh = packets(2);

    let mut g = c.benchmark_group("hub_scale");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(u64::from(SPOKES)));
    // Physical limit of the work: decode every request and encode a reply of the same shape.
    g.bench_function("codec_only_parse_and_emit_100k", |b| {
        b.iter(|| {
            let mut n = 0;
            for (_, bytes) in &first {
                let mut r = PacketRepr::parse(bytes).unwrap();
                if let Body::RegistrationRequest(m) = r.body {
                    r.body = Body::RegistrationReply(m);
                }
                n += r.to_vec().unwrap().len();
            }
            black_box(n)
        });
    });
    g.bench_function("register_100k", |b| {
        b.iter_batched(
            || hub(Instant::now()),
            |mut node| {
                let now = Instant::now();
                black_box(feed(&mut node, now, &first));
                node
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("refresh_100k", |b| {
        b.iter_batched(
            || {
                let now = Instant::now();
                let mut node = hub(now);
                feed(&mut node, now, &first);
                node
            },
            |mut node| {
                let now = Instant::now();
                black_box(feed(&mut node, now, &refresh));
                node
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();

    // poll_timeout is a heap peek: the same cost with 100 000 registrations as with 1.
    let mut g = c.benchmark_group("hub_scale_poll_timeout");
    let now = Instant::now();
    let mut big = hub(now);
    feed(&mut big, now, &first);
    let mut small = hub(now);
    feed(&mut small, now, &first[..1]);
    g.bench_function("registrations_100k", |b| {
        b.iter(|| black_box(big.poll_timeout()))
    });
    g.bench_function("registrations_1", |b| {
        b.iter(|| black_box(small.poll_timeout()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
