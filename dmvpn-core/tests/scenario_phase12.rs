//! Phases 1 and 2 on the simulator (10 ms links: via the hub a ping takes 4 one-way hops,
//! 40 ms; direct 2 hops, 20 ms).
//!
//! * Phase 2: each spoke has a route per remote spoke LAN whose next hop is that spoke's
//!   tunnel address. The first packet goes via the hub while the spoke resolves the next hop;
//!   once resolved, traffic goes direct: the hub forwards no more data packets and the RTT
//!   drops to the direct value.
//! * Phase 1: the spokes' only route is a summary via the hub. Everything stays via the hub:
//!   no resolution is ever sent, no shortcut appears, the RTT stays the via-hub value.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use dmvpn_core::sim::Link;
use dmvpn_core::{Event, NextHop, Phase};

#[test]
fn phase2_resolves_the_next_hop_and_goes_direct() {
    let mut t = Topology::new(21, Phase::Two, 3, Link::new().latency(ms(10)));
    let took = t.wait_registered(secs(10));
    assert!(took < secs(1), "registration took {took:?}");

    // The route's next hop is spoke 2's tunnel address (no summarisation in phase 2).
    let s1 = t.spoke(1);
    assert_eq!(
        t.sim.device(s1).route_to(spoke_host(2)).unwrap().next_hop,
        NextHop::Tunnel(spoke_tunnel(2))
    );

    // First ping: unresolved, so via the hub both ways.
    let before = t.hub_hairpinned();
    assert_eq!(t.ping(1, 2, 1), Some(ms(40)), "first ping goes via the hub");
    assert_eq!(
        t.hub_hairpinned(),
        before + 2,
        "request and reply crossed the hub"
    );
    assert!(
        t.saw(s1, |e| matches!(e, Event::Resolved { target, nbma, .. }
            if *target == spoke_tunnel(2) && *nbma == spoke_nbma(2))),
        "spoke 1 resolved its next hop 10.0.0.12 to spoke 2's NBMA address"
    );
    // Spoke 2 resolves its own next hop (10.0.0.11) for the reply.
    assert!(t.wait_resolved(2, spoke_tunnel(1), spoke_nbma(1), secs(5)));
    assert!(t.wait_resolved(1, spoke_tunnel(2), spoke_nbma(2), secs(5)));
    // No phase 3 machinery in phase 2.
    assert!(!t.saw(t.hub, |e| matches!(e, Event::RedirectSent { .. })));
    assert!(!t.saw(s1, |e| matches!(e, Event::ShortcutUp { .. })));

    let hub_data = t.hub_hairpinned();
    let direct_before = t.sim.device(s1).stats().data_direct;
    let hub_rx_before = t.sim.device_stats(t.hub).underlay_rx.total();
    for seq in 2..12 {
        assert_eq!(
            t.ping(1, 2, seq),
            Some(ms(20)),
            "direct path: one hop each way"
        );
    }
    assert_eq!(
        t.hub_hairpinned(),
        hub_data,
        "the hub forwards no data after resolution"
    );
    assert_eq!(
        t.sim.device_stats(t.hub).underlay_rx.total(),
        hub_rx_before,
        "the hub receives nothing at all from the direct pings"
    );
    assert_eq!(t.sim.device(s1).stats().data_direct - direct_before, 10);
    assert_eq!(t.sim.device(t.spoke(2)).stats().data_direct, 10);

    // Spoke 3, never involved, resolved nothing.
    assert!(!t.saw(t.spoke(3), |e| matches!(e, Event::Resolved { .. })));
}

#[test]
fn phase1_keeps_everything_via_the_hub() {
    let mut t = Topology::new(22, Phase::One, 3, Link::new().latency(ms(10)));
    t.wait_registered(secs(10));
    let before = t.hub_hairpinned();
    for seq in 1..=10 {
        assert_eq!(
            t.ping(1, 2, seq),
            Some(ms(40)),
            "ping {seq} goes via the hub"
        );
        t.sim.run_for(secs(1)).unwrap();
    }
    assert_eq!(
        t.hub_hairpinned() - before,
        20,
        "every request and reply hairpinned"
    );
    for i in 1..=3 {
        let s = t.spoke(i);
        assert_eq!(t.sim.device(s).nhrp().stats().sent.resolution_request, 0);
        assert!(!t.saw(s, |e| matches!(
            e,
            Event::Resolved { .. } | Event::ShortcutUp { .. } | Event::Redirected { .. }
        )));
        assert_eq!(t.sim.device(s).nhrp().cache_entries().count(), 0);
    }
    assert!(!t.saw(t.hub, |e| matches!(e, Event::RedirectSent { .. })));
    // The spokes exchanged no packet with each other.
    let s1 = t.spoke(1);
    assert_eq!(t.sim.device(s1).peer_counters(spoke_nbma(2)), None);
}
