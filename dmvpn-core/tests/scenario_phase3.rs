//! Phase 3: three spokes register; the hub advertises only a summary; a spoke-to-spoke ping
//! first crosses the hub, the hub redirects, the spoke resolves and installs a shortcut, and
//! from then on traffic goes direct (the hub forwards no more data packets).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use dmvpn_core::sim::Link;
use dmvpn_core::{Event, NextHop, Phase};

#[test]
fn three_spokes_register_then_redirect_builds_a_direct_shortcut() {
    let mut t = Topology::new(7, Phase::Three, 3, Link::new().latency(ms(10)));
    let registered = t
        .sim
        .run_until(secs(10), |s| t_all_registered(s, t.hub, &t.spokes));
    let at = registered.expect("all three spokes register");
    assert!(
        at - t.sim.start() < secs(1),
        "registration took {:?}",
        at - t.sim.start()
    );
    for &s in &t.spokes {
        assert!(t.saw(s, |e| matches!(e, Event::NhsUp { .. })));
    }
    assert_eq!(t.sim.device(t.hub).nhrp().registrations().count(), 3);

    // First ping: via the hub (spoke1 -> hub -> spoke2 and back): 4 one-way hops of 10 ms.
    let rtt = t.ping(1, 2, 1).expect("first ping answered");
    assert_eq!(rtt, ms(40), "first ping goes via the hub both ways");
    let hub = t.hub;
    assert!(
        t.saw(hub, |e| matches!(e, Event::RedirectSent { .. })),
        "hub redirects"
    );

    // The redirect makes spoke 1 resolve 172.16.2.10 and install a shortcut for spoke 2's LAN.
    let s1 = t.spokes[0];
    let lan2 = spoke_lan(2);
    t.sim
        .run_until(secs(5), |s| {
            s.device(s1)
                .route_to(spoke_host(2))
                .is_some_and(|r| r.next_hop == NextHop::Nbma(spoke_nbma(2)))
        })
        .expect("shortcut installed");
    assert!(t.saw(s1, |e| matches!(e, Event::ShortcutUp { prefix, nbma, .. } if *prefix == lan2 && *nbma == spoke_nbma(2))));

    // Let spoke 2 install its own shortcut back (the hub redirected its replies too).
    t.sim.run_for(secs(2)).unwrap();
    let hub_data_before = t.sim.device(hub).stats().data_hairpinned;
    for seq in 2..12 {
        let rtt = t.ping(1, 2, seq).expect("ping answered");
        assert_eq!(rtt, ms(20), "direct path: one hop each way");
    }
    assert_eq!(
        t.sim.device(hub).stats().data_hairpinned,
        hub_data_before,
        "the hub forwards no data packet once the shortcuts are up"
    );
    assert!(t.sim.device(s1).stats().data_direct >= 10);
}

fn t_all_registered(
    s: &dmvpn_core::sim::Sim<dmvpn_core::Node>,
    hub: dmvpn_core::sim::DeviceId,
    spokes: &[dmvpn_core::sim::DeviceId],
) -> bool {
    spokes.iter().all(|d| s.device(*d).is_registered())
        && s.device(hub).nhrp().registrations().count() == spokes.len()
}

#[test]
fn a_shortcut_in_use_is_refreshed_and_an_idle_one_expires() {
    let mut t = Topology::with(17, Phase::Three, 3, Link::new().latency(ms(10)), |_, c| {
        c.holding_time = secs(60);
    });
    t.wait_registered(secs(5));
    let s1 = t.spokes[0];
    assert_eq!(t.ping(1, 2, 1), Some(ms(40)));
    assert_eq!(t.ping(1, 3, 1), Some(ms(40)));
    assert!(t.wait_direct(1, 2, spoke_nbma(2), secs(5)));
    assert!(t.wait_direct(1, 3, spoke_nbma(3), secs(5)));
    // Spoke 2 keeps talking for three holding times; spoke 3 falls silent.
    for seq in 2..40 {
        t.sim.run_for(secs(5)).unwrap();
        assert_eq!(
            t.ping(1, 2, seq),
            Some(ms(20)),
            "still direct after {seq} rounds"
        );
    }
    let lan2 = spoke_lan(2);
    let lan3 = spoke_lan(3);
    assert!(!t.saw(
        s1,
        |e| matches!(e, Event::ShortcutDown { prefix, .. } if *prefix == lan2)
    ));
    assert!(t.saw(
        s1,
        |e| matches!(e, Event::ShortcutDown { prefix, .. } if *prefix == lan3)
    ));
    assert_ne!(
        t.sim.device(s1).route_to(spoke_host(3)).map(|r| r.next_hop),
        Some(NextHop::Nbma(spoke_nbma(3))),
        "the idle shortcut's route is gone"
    );
}
