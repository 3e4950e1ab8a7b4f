//! An imperfect underlay: 1 % loss, 1 % reordering (held back 30 ms), 0..5 ms jitter on
//! every path. Registration and the phase 3 shortcut still converge (NHRP retransmits), and
//! pings eventually succeed; once the shortcut is up most pings go direct. Several seeds, so
//! different packets are lost.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use dmvpn_core::sim::Link;
use dmvpn_core::{NextHop, Phase};

fn lossy() -> Link {
    Link::new()
        .latency(ms(10))
        .jitter(ms(5))
        .loss(0.01)
        .reorder(0.01, ms(30))
}

#[test]
fn registration_and_shortcuts_converge_with_loss_reordering_and_jitter() {
    let mut lost = 0;
    for seed in 61..69 {
        let mut t = Topology::new(seed, Phase::Three, 6, lossy());
        // Registration retransmits after 1, 2, 4 s: even a few lost packets cost seconds.
        t.wait_registered(secs(30));
        for (a, b) in [(1, 2), (3, 4), (5, 6), (2, 5)] {
            let (_, attempts) = t
                .ping_until_answered(a, b, 1, 5)
                .unwrap_or_else(|| panic!("seed {seed}: {a}->{b} never answered"));
            assert!(attempts <= 5);
            let s = t.spoke(a);
            let nbma = spoke_nbma(b);
            let host = spoke_host(b);
            // Redirects are rate-limited and resolutions retransmitted: keep traffic flowing
            // until the shortcut is installed.
            let mut seq = 100;
            while t.sim.device(s).route_to(host).map(|r| r.next_hop) != Some(NextHop::Nbma(nbma)) {
                assert!(seq < 130, "seed {seed}: no shortcut {a}->{b}");
                let _ = t.ping(a, b, seq);
                seq += 1;
            }
            // With the shortcut up, pings succeed (allowing for the odd lost packet) and the
            // answered ones are direct: 20 ms plus at most 2 x 5 ms jitter (a reordered
            // packet adds 30 ms).
            let mut direct = 0;
            for k in 0..10 {
                if t.ping(a, b, 200 + k).is_some_and(|rtt| rtt <= ms(30)) {
                    direct += 1;
                }
            }
            assert!(
                direct >= 7,
                "seed {seed}: {a}->{b}: only {direct}/10 direct"
            );
        }
        lost += t.sim.stats().drops.total();
    }
    assert!(lost >= 5, "the links really lost packets: {lost}");
}
