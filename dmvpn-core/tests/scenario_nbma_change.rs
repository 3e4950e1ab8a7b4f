//! A spoke's NBMA address changes and the cloud converges. Registrations every 10 s, holding
//! time 60 s (phase 3, 10 ms links; spoke 1 and spoke 2 have shortcuts to each other).
//!
//! * Behind a NAT that moves to a new public address (`nat_rebind`), with
//!   `ip nhrp registration no-unique` (what Cisco recommends for spokes whose address may
//!   change): the hub's registration shows the new post-NAT address after the next refresh
//!   (within one registration interval). Spoke 1's shortcut still points at the old address;
//!   it is re-resolved when it is refreshed (before the holding time runs out), and from then
//!   spoke-to-spoke traffic goes direct to the new address.
//! * The same with the (default) unique registration: the hub refuses the registration from
//!   the new address ("unique address already registered", RFC 2332 §5.2.3, as Cisco does)
//!   until the old binding expires after the holding time; then the spoke registers, and
//!   traffic recovers.
//! * A spoke on the internet whose own address changes (`set_underlay_addr`, e.g. a new DHCP
//!   lease): the hub sees the new source address and records it as the post-NAT address.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use dmvpn_core::sim::{Link, NatKind};
use dmvpn_core::{Config, Event, Phase};

const INTERVAL: Duration = Duration::from_secs(10);
const HOLD: Duration = Duration::from_secs(60);

fn timers(unique: bool) -> impl FnMut(usize, &mut Config) {
    move |_, c: &mut Config| {
        c.holding_time = HOLD;
        c.registration_interval = Some(INTERVAL);
        c.registration_no_unique = !unique;
    }
}

/// Pings 1 -> 2 once a second until one comes back over the direct path (20 ms); returns
/// how long that took.
fn until_direct_again(t: &mut Topology, within: Duration) -> Duration {
    let t0 = t.sim.now();
    let mut seq = 100;
    while t.sim.now() - t0 < within {
        if t.ping(1, 2, seq) == Some(ms(20)) {
            return t.sim.now() - t0;
        }
        seq += 1;
        t.sim.run_for(secs(1)).unwrap();
    }
    panic!("spoke-to-spoke traffic did not recover within {within:?}");
}

fn shortcut_up(t: &mut Topology) {
    t.wait_registered(secs(5));
    assert_eq!(t.ping(1, 2, 1), Some(ms(40)));
    t.sim.run_for(secs(2)).unwrap();
    assert_eq!(t.ping(1, 2, 2), Some(ms(20)));
}

fn hub_sees(t: &Topology, i: usize, public: std::net::IpAddr) -> bool {
    t.sim
        .device(t.hub)
        .nhrp()
        .registration(spoke_tunnel(i))
        .is_some_and(|r| r.nat_nbma == Some(public))
}

#[test]
fn nat_rebind_no_unique_hub_updates_at_next_refresh_and_shortcut_reresolves() {
    let (mut t, nats) = Topology::with_nats(
        51,
        Phase::Three,
        3,
        Link::new().latency(ms(10)),
        |i| (i == 2).then_some(NatKind::EndpointIndependent),
        timers(false),
    );
    shortcut_up(&mut t);
    let new = ip("203.0.113.99");
    t.sim.nat_rebind(nats[1].unwrap(), new).unwrap();
    let t0 = t.sim.now();
    let hub = t.hub;
    let at = t
        .sim
        .run_until(INTERVAL + secs(1), |s| {
            s.device(hub)
                .nhrp()
                .registration(spoke_tunnel(2))
                .is_some_and(|r| r.nat_nbma == Some(new))
        })
        .expect("the hub learns the new address at the next refresh");
    assert!(at - t0 <= INTERVAL + ms(20));
    t.sim.run_for(ms(50)).unwrap(); // the Registration Reply on its way back
    assert!(t.saw(
        t.spoke(2),
        |e| matches!(e, Event::NatDetected { public_nbma } if *public_nbma == new)
    ));
    let took = until_direct_again(&mut t, HOLD);
    assert!(t.saw(
        t.spoke(1),
        |e| matches!(e, Event::ShortcutUp { nbma, .. } if *nbma == new)
    ));
    println!("spoke-to-spoke traffic direct again {took:?} after the rebind");
    // Both directions are direct, nothing crosses the hub.
    let before = t.hub_hairpinned();
    for seq in 200..205 {
        assert_eq!(t.ping(2, 1, seq), Some(ms(20)));
        assert_eq!(t.ping(1, 2, seq), Some(ms(20)));
    }
    assert_eq!(t.hub_hairpinned(), before);
}

#[test]
fn nat_rebind_unique_registration_waits_for_the_old_binding_to_expire() {
    let (mut t, nats) = Topology::with_nats(
        52,
        Phase::Three,
        3,
        Link::new().latency(ms(10)),
        |i| (i == 2).then_some(NatKind::EndpointIndependent),
        timers(true),
    );
    shortcut_up(&mut t);
    let new = ip("203.0.113.99");
    t.sim.nat_rebind(nats[1].unwrap(), new).unwrap();
    let t0 = t.sim.now();
    t.sim.run_for(INTERVAL + secs(1)).unwrap();
    assert!(!hub_sees(&t, 2, new), "unique binding kept");
    assert!(t.saw(t.spoke(2), |e| matches!(
        e,
        Event::NhsDown {
            reason: nhrp::DownReason::Rejected(_),
            ..
        }
    )));
    let hub = t.hub;
    let at = t
        .sim
        .run_until(HOLD + INTERVAL * 2, |s| {
            s.device(hub)
                .nhrp()
                .registration(spoke_tunnel(2))
                .is_some_and(|r| r.nat_nbma == Some(new))
        })
        .expect("registered again once the old binding expired");
    assert!(
        at - t0 >= HOLD - INTERVAL,
        "not before the old binding expired"
    );
    until_direct_again(&mut t, secs(10));
}

#[test]
fn spoke_on_the_internet_moves_to_a_new_address() {
    let mut t = Topology::with(
        53,
        Phase::Three,
        3,
        Link::new().latency(ms(10)),
        timers(false),
    );
    shortcut_up(&mut t);
    let new = ip("198.51.100.222");
    let s2 = t.spoke(2);
    t.sim.set_underlay_addr(s2, new).unwrap();
    let hub = t.hub;
    t.sim
        .run_until(INTERVAL + secs(1), |s| {
            s.device(hub)
                .nhrp()
                .registration(spoke_tunnel(2))
                .is_some_and(|r| r.effective_nbma() == new)
        })
        .expect("the hub sends to the new address after the next refresh");
    // Hub -> spoke 2 works at once (via the hub: 40 ms from spoke 3, which has no shortcut).
    assert_eq!(t.ping(3, 2, 1), Some(ms(40)));
    until_direct_again(&mut t, HOLD);
    assert!(t.saw(
        t.spoke(1),
        |e| matches!(e, Event::ShortcutUp { nbma, .. } if *nbma == new)
    ));
}
