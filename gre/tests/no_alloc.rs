//! The data path allocates nothing per packet: after the peers' sequence state exists,
//! encapsulating and decapsulating (with key, sequence numbers and checksum) makes no heap
//! allocation. Measured with a counting global allocator; this file holds a single test so no
//! other test thread allocates meanwhile.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::alloc::System;
use std::net::{IpAddr, Ipv4Addr};

use gre::wire::{Packet, ProtocolType, Repr};
use gre::{Config, Endpoint};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn data_path_makes_no_allocation_per_packet() {
    // The probe itself works: a Box is one allocation.
    let probe = Region::new(GLOBAL);
    let boxed = std::hint::black_box(Box::new(1u64));
    assert!(probe.change().allocations >= 1);
    drop(boxed);

    let config = Config {
        key: Some(100),
        checksum: true,
        send_sequence: true,
        check_sequence: true,
        max_peers: 16,
    };
    let mut spoke: Endpoint = Endpoint::new(config.clone()).unwrap();
    let mut hub: Endpoint = Endpoint::new(config).unwrap();
    let hub_nbma = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let spoke_nbma = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let mut buf = vec![0u8; Repr::MAX_HEADER_LEN + 1400];

    // First packet: creates the per-peer sequence state (allowed to allocate, once per peer).
    let gre = spoke
        .encapsulate(hub_nbma, ProtocolType::IPV4, &mut buf, Repr::MAX_HEADER_LEN)
        .unwrap();
    hub.decapsulate(spoke_nbma, gre).unwrap();

    // The counter is process-wide and the test harness's own threads may allocate meanwhile,
    // so 600 packets are measured in three windows and one window must be allocation-free:
    // an allocation per packet (or per few packets) shows in every window.
    let mut windows = Vec::new();
    let mut region = Region::new(GLOBAL);
    for i in 0..600usize {
        if i > 0 && i % 200 == 0 {
            let c = region.change();
            windows.push((c.allocations, c.reallocations));
            region = Region::new(GLOBAL);
        }
        let len = [40usize, 64, 512, 1400][i % 4];
        let start = buf.len() - len;
        let gre = spoke
            .encapsulate(hub_nbma, ProtocolType::IPV4, &mut buf, start)
            .unwrap();
        let received = hub.decapsulate(spoke_nbma, gre).unwrap();
        assert_eq!(received.payload.len(), len);
        let packet = Packet::parse(gre).unwrap();
        assert!(Repr::parse(&packet).is_ok());
    }
    let c = region.change();
    windows.push((c.allocations, c.reallocations));
    assert!(
        windows.contains(&(0, 0)),
        "allocations in every window: {windows:?}"
    );
    assert_eq!(hub.stats().rx_packets, 601);
}
