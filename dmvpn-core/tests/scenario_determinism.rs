//! Reproducibility: a full phase 3 run (registration, a ping via the hub, redirect,
//! resolution, shortcut, direct pings; jittered, slightly lossy links) captured as a pcap of
//! the underlay is byte-identical for the same seed, and differs for another seed (the
//! simulator's jitter and loss draws and the nodes' random NHRP request IDs change).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use dmvpn_core::sim::{CapturePoint, Link, pcap};
use dmvpn_core::{NextHop, Phase};

fn phase3_run(seed: u64) -> Vec<u8> {
    let link = Link::new().latency(ms(10)).jitter(ms(3)).loss(0.005);
    let mut t = Topology::new(seed, Phase::Three, 4, link);
    t.sim.enable_pcap(CapturePoint::Arrival);
    t.wait_registered(secs(30));
    assert!(t.ping_until_answered(1, 2, 1, 5).is_some());
    let s1 = t.spoke(1);
    let mut seq = 10;
    while t.sim.device(s1).route_to(spoke_host(2)).map(|r| r.next_hop)
        != Some(NextHop::Nbma(spoke_nbma(2)))
    {
        assert!(seq < 40, "no shortcut");
        let _ = t.ping(1, 2, seq);
        seq += 1;
    }
    for k in 0..10 {
        let _ = t.ping(1, 2, 100 + k);
        let _ = t.ping(3, 4, 100 + k);
    }
    t.sim.run_for(secs(5)).unwrap();
    t.sim.take_pcap().unwrap()
}

#[test]
fn same_seed_same_pcap_other_seed_other_pcap() {
    let a = phase3_run(91);
    let b = phase3_run(91);
    let c = phase3_run(92);
    let summary = pcap::summarize(&a).unwrap();
    assert!(summary.count(47) > 40, "a real run: {summary:?}");
    assert!(
        a == b,
        "same seed, different capture ({} vs {} bytes)",
        a.len(),
        b.len()
    );
    assert_ne!(a, c, "another seed gives another run");
}
