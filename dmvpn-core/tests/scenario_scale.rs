//! 1 000 spokes register with one hub within 3 virtual seconds of start (10 ms links with
//! jitter; per-device event recording off, as a long run would). Then two far-apart spokes
//! build a shortcut, which shows the hub's tables are usable at that size.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use dmvpn_core::sim::Link;
use dmvpn_core::{NextHop, Phase};

const SPOKES: usize = 1000;

#[test]
fn a_thousand_spokes_register_within_three_virtual_seconds() {
    let mut t = Topology::new(
        81,
        Phase::Three,
        SPOKES,
        Link::new().latency(ms(10)).jitter(ms(20)),
    );
    t.sim.set_record_events(false);
    let took = t.wait_registered(secs(3));
    assert!(took <= secs(3), "took {took:?}");
    println!("{SPOKES} spokes registered after {took:?} of virtual time");
    let hub = t.sim.device(t.hub);
    assert_eq!(hub.nhrp().registrations().count(), SPOKES);
    assert_eq!(
        hub.nhrp().registration(spoke_tunnel(SPOKES)).unwrap().nbma,
        spoke_nbma(SPOKES)
    );
    assert_eq!(hub.stats().dropped.total(), 0);
    // Every spoke's registration was answered first time: no retransmission was needed.
    let requests: u64 = (1..=SPOKES)
        .map(|i| {
            t.sim
                .device(t.spoke(i))
                .nhrp()
                .stats()
                .sent
                .registration_request
        })
        .sum();
    assert_eq!(requests, SPOKES as u64);

    assert!(t.ping(1, SPOKES, 1).is_some());
    let s1 = t.spoke(1);
    t.sim
        .run_until(secs(5), |s| {
            s.device(s1)
                .route_to(spoke_host(SPOKES))
                .map(|r| r.next_hop)
                == Some(NextHop::Nbma(spoke_nbma(SPOKES)))
        })
        .expect("shortcut between spoke 1 and spoke 1000");
}
