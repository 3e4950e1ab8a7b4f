//! The hub restarts. The spokes register every 10 s (holding time 60 s). After a reboot the
//! fresh hub knows nobody; every spoke re-registers within one registration interval (its next
//! refresh, or its next retransmission while the hub was down). Meanwhile the shortcuts
//! already built between spokes keep carrying traffic: they do not depend on the hub.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use dmvpn_core::sim::Link;
use dmvpn_core::{Config, Event, Phase};

const INTERVAL: Duration = Duration::from_secs(10);

fn short_timers(_: usize, c: &mut Config) {
    c.holding_time = secs(60);
    c.registration_interval = Some(INTERVAL);
}

fn fresh_hub(t: &Topology, seed: u64) -> dmvpn_core::Node {
    let mut c = hub_config(Phase::Three, t.spokes.len());
    short_timers(0, &mut c);
    node(c, seed, t.sim.now())
}

/// Registers, pings 1 -> 2 and waits for the shortcuts both ways (direct RTT 20 ms).
fn with_shortcuts(seed: u64) -> Topology {
    let mut t = Topology::with(
        seed,
        Phase::Three,
        3,
        Link::new().latency(ms(10)),
        short_timers,
    );
    t.wait_registered(secs(5));
    assert_eq!(t.ping(1, 2, 1), Some(ms(40)));
    assert!(t.wait_direct(1, 2, spoke_nbma(2), secs(5)));
    assert!(t.wait_direct(2, 1, spoke_nbma(1), secs(5)));
    t.sim.run_for(secs(1)).unwrap();
    assert_eq!(t.ping(1, 2, 2), Some(ms(20)), "shortcut in use");
    t
}

#[test]
fn spokes_reregister_within_one_interval_after_a_reboot() {
    let mut t = with_shortcuts(31);
    let hub = t.hub;
    let fresh = fresh_hub(&t, 1031);
    let _old = t.sim.replace_device(hub, fresh);
    assert_eq!(t.sim.device(hub).nhrp().registrations().count(), 0);
    let took = t.wait_registered(INTERVAL + secs(1));
    assert!(
        took <= INTERVAL + ms(20),
        "re-registration took {took:?} (interval {INTERVAL:?})"
    );
    // The fresh hub learnt every spoke again, at its real address.
    for i in 1..=3 {
        let r = t
            .sim
            .device(hub)
            .nhrp()
            .registration(spoke_tunnel(i))
            .unwrap();
        assert_eq!(r.effective_nbma(), spoke_nbma(i));
    }
    // And it forwards and redirects again: spoke 3 has no shortcut yet.
    let before = t.hub_hairpinned();
    assert_eq!(t.ping(3, 1, 1), Some(ms(40)));
    assert!(t.hub_hairpinned() > before);
    assert!(t.wait_direct(3, 1, spoke_nbma(1), secs(5)));
}

#[test]
fn shortcuts_carry_traffic_while_the_hub_is_down_and_spokes_come_back() {
    let mut t = with_shortcuts(32);
    let hub = t.hub;
    t.sim.set_up(hub, false);
    let down_at = t.sim.now();
    // 25 s of outage: long enough for the spokes to declare the NHS down.
    let mut seq = 10;
    while t.sim.now() - down_at < secs(25) {
        assert_eq!(
            t.ping(1, 2, seq),
            Some(ms(20)),
            "ping {seq} over the shortcut at {:?} into the outage",
            t.sim.now() - down_at
        );
        seq += 1;
        t.sim.run_for(secs(1)).unwrap();
    }
    for i in 1..=3 {
        let s = t.spoke(i);
        assert!(
            t.saw(s, |e| matches!(e, Event::NhsDown { .. })),
            "spoke {i} noticed the hub is gone"
        );
    }
    // Spoke 3 has no shortcut and no hub: its traffic has nowhere to go.
    assert_eq!(t.ping(3, 1, 1), None);

    let fresh = fresh_hub(&t, 2032);
    let _old = t.sim.replace_device(hub, fresh);
    t.sim.set_up(hub, true);
    let took = t.wait_registered(secs(70));
    assert!(
        took <= INTERVAL,
        "re-registration took {took:?} after the hub came back (interval {INTERVAL:?})"
    );
    assert_eq!(t.ping(1, 2, seq), Some(ms(20)));
    assert_eq!(t.ping(3, 1, 2), Some(ms(40)), "via the new hub");
}

#[test]
fn a_spoke_that_shuts_down_is_forgotten_by_the_hub_at_once() {
    let mut t = with_shortcuts(33);
    let hub = t.hub;
    let s2 = t.spoke(2);
    assert!(
        t.sim
            .device(hub)
            .nhrp()
            .registration(spoke_tunnel(2))
            .is_some()
    );
    t.sim.with_device(s2, |n, now| n.shutdown(now)).unwrap();
    t.sim.run_for(secs(1)).unwrap();
    assert!(
        t.sim
            .device(hub)
            .nhrp()
            .registration(spoke_tunnel(2))
            .is_none(),
        "the purge removed spoke 2's registration long before its holding time"
    );
    assert!(
        t.sim
            .device(hub)
            .nhrp()
            .registration(spoke_tunnel(1))
            .is_some()
    );
}
