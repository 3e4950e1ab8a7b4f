//! Heap per registered spoke on a hub, measured with a counting allocator (the hub-scale
//! target of the issue: <= 256 bytes per spoke with 100 000 spokes), and no growth when the
//! spokes refresh. Not timed: the throughput lives in `benches/hub_scale.rs`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use nhrp::wire::{Body, Cie, Extension, Flags, Mandatory, PacketRepr};
use nhrp::{Config, Datagram, Node};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SPOKES: u32 = 100_000;

fn request(i: u32, id: u32) -> (IpAddr, Vec<u8>) {
    let b = i.to_be_bytes();
    let proto = IpAddr::from([10, b[1], b[2], b[3]]);
    let nbma = IpAddr::from([100, b[1], b[2], b[3]]);
    let bytes = PacketRepr::new(
        255,
        nbma,
        proto,
        IpAddr::from([10, 255, 255, 254]),
        Body::RegistrationRequest(Mandatory::new(
            Flags::REGISTRATION_U | Flags::CISCO_NAT,
            id,
            vec![Cie::new(32, 1400, Duration::from_secs(7200), None, None)],
        )),
    )
    .with_extension(Extension::responder_address(None))
    .with_extension(Extension::forward_transit_nhs(vec![]))
    .with_extension(Extension::reverse_transit_nhs(vec![]))
    .to_vec()
    .unwrap();
    (nbma, bytes)
}

fn feed(node: &mut Node, now: Instant, packets: &[(IpAddr, Vec<u8>)]) {
    for (from, bytes) in packets {
        node.handle_packet(now, Datagram { from: *from, bytes })
            .unwrap();
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
    }
}

#[test]
fn hub_heap_per_spoke_is_at_most_256_bytes_and_refresh_does_not_grow_it() {
    let first: Vec<_> = (0..SPOKES).map(|i| request(i, 1)).collect();
    let refresh: Vec<_> = (0..SPOKES).map(|i| request(i, 2)).collect();
    let now = Instant::now();
    let region = Region::new(GLOBAL);
    let mut c = Config::hub(
        "10.255.255.254".parse().unwrap(),
        "192.0.2.1".parse().unwrap(),
    );
    c.max_registrations = SPOKES as usize;
    let mut node = Node::new(c, now).unwrap();
    feed(&mut node, now, &first);
    let s = region.change();
    // stats_alloc counts realloc growth in bytes_allocated already.
    let per_spoke = (s.bytes_allocated - s.bytes_deallocated) as f64 / f64::from(SPOKES);
    assert_eq!(node.stats().registrations, SPOKES as usize);
    let region = Region::new(GLOBAL);
    let later = now + Duration::from_secs(2400);
    feed(&mut node, later, &refresh);
    node.handle_timeout(later);
    let r = region.change();
    let growth = r.bytes_allocated as i64 - r.bytes_deallocated as i64;
    println!(
        "hub heap: {per_spoke:.1} bytes per registered spoke ({} spokes), {:.1} allocations per \
         registration; refresh round: {growth:+} bytes; timer heap {} entries",
        SPOKES,
        s.allocations as f64 / f64::from(SPOKES),
        node.stats().timers
    );
    assert!(per_spoke <= 256.0, "{per_spoke:.1} bytes per spoke");
    assert!(growth <= 0, "refresh grew the heap by {growth} bytes");
    assert_eq!(
        node.stats().timers,
        SPOKES as usize,
        "one timer entry per registration"
    );
    // Expiry frees everything but the fixed tables.
    node.handle_timeout(later + Duration::from_secs(7200));
    assert_eq!(node.stats().registrations, 0);
    assert_eq!(node.poll_timeout(), None);
}
