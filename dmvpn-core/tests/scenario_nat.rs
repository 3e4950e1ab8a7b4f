//! Spokes behind NAT, for both NAT kinds of the simulator.
//!
//! Spokes 1 and 2 each sit behind their own NAT box (private NBMA 192.168.i.2, public
//! 203.0.113.(10+i)); spoke 3 is on the internet. The hub learns the post-NAT address from
//! the registration's source (Cisco NAT extension: `nat_nbma`), tells the spoke
//! (`NatDetected`), and answers and forwards to the public address; resolution answers carry
//! it too, so phase 3 shortcuts go to the NAT's public address.
//!
//! GRE and ESP have no ports: both NAT kinds translate them by address only and let in only
//! what comes from a remote the inside device sent that protocol to. So cleartext GRE works
//! hub <-> spoke, and spoke <-> spoke once each side has sent to the other (the first direct
//! packet or resolution reply towards a NATed spoke may be refused; NHRP retransmits).
//!
//! What does not work (the same limitations as Cisco DMVPN without NAT-T):
//! * several spokes behind the *same* NAT box with cleartext GRE: the NAT has one GRE return
//!   path per remote, so the hub's packets reach only the spoke that sent last (Cisco needs
//!   IPsec with NAT-T, UDP 4500, for this) — see `two_spokes_behind_one_nat_box_...` below;
//! * with ESP-in-UDP (NAT-T) through a *symmetric* NAT, the public port a spoke gets towards
//!   another spoke differs from the one the hub saw, so a spoke-to-spoke tunnel can only be
//!   built if the NATed spoke opens it; between two spokes both behind symmetric NATs it is
//!   never built and traffic stays via the hub. The node has no IKE yet (ports of manual
//!   SAs are static), so this case is not simulated here.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use dmvpn_core::sim::{Link, NatConfig, NatKind};
use dmvpn_core::{Event, Phase};

fn nat_scenario(kind: NatKind, seed: u64) {
    let (mut t, nats) = Topology::with_nats(
        seed,
        Phase::Three,
        3,
        Link::new().latency(ms(10)),
        |i| (i <= 2).then_some(kind),
        |_, _| {},
    );
    t.wait_registered(secs(5));
    let hub = t.hub;
    for i in 1..=2 {
        let r = t
            .sim
            .device(hub)
            .nhrp()
            .registration(spoke_tunnel(i))
            .unwrap();
        assert_eq!(
            r.nbma,
            nat_inside(i),
            "{kind:?}: the claimed NBMA is the private one"
        );
        assert_eq!(
            r.nat_nbma,
            Some(nat_public(i)),
            "{kind:?}: post-NAT address seen"
        );
        assert!(t.saw(
            hub,
            |e| matches!(e, Event::SpokeRegistered { tunnel, nat_nbma, .. }
            if *tunnel == spoke_tunnel(i) && *nat_nbma == Some(nat_public(i)))
        ));
        assert!(t.saw(
            t.spoke(i),
            |e| matches!(e, Event::NatDetected { public_nbma }
            if *public_nbma == nat_public(i))
        ));
    }
    let r3 = t
        .sim
        .device(hub)
        .nhrp()
        .registration(spoke_tunnel(3))
        .unwrap();
    assert_eq!(r3.nat_nbma, None);
    assert!(!t.saw(t.spoke(3), |e| matches!(e, Event::NatDetected { .. })));

    // Hub <-> spoke: a host behind NATed spoke 1 pings the hub's tunnel address.
    let h1 = t.hosts[0];
    t.sim.ping(h1, ip(HUB_TUNNEL), 9, 1, 56).unwrap();
    t.sim.run_for(secs(1)).unwrap();
    let reply = t.sim.host(h1).echo_replies().last().cloned().unwrap();
    assert_eq!((reply.from, reply.rtt), (ip(HUB_TUNNEL), Some(ms(20))));

    // Spoke <-> spoke via the hub first, then direct to the NAT's public address: between
    // two NATed spokes, and between a NATed and a public one.
    for (a, b, seq) in [(1, 2, 10), (3, 1, 20)] {
        assert_eq!(
            t.ping(a, b, seq),
            Some(ms(40)),
            "{kind:?}: {a}->{b} first via the hub"
        );
        let nbma_b = if b <= 2 { nat_public(b) } else { spoke_nbma(b) };
        let nbma_a = if a <= 2 { nat_public(a) } else { spoke_nbma(a) };
        assert!(
            t.wait_direct(a, b, nbma_b, secs(5)),
            "{kind:?}: shortcut {a}->{b}"
        );
        assert!(
            t.wait_direct(b, a, nbma_a, secs(5)),
            "{kind:?}: shortcut {b}->{a}"
        );
        t.sim.run_for(secs(1)).unwrap();
        let hub_before = t.hub_hairpinned();
        for k in 1..=5 {
            assert_eq!(
                t.ping(a, b, seq + k),
                Some(ms(20)),
                "{kind:?}: {a}->{b} direct"
            );
            assert_eq!(
                t.ping(b, a, seq + k),
                Some(ms(20)),
                "{kind:?}: {b}->{a} direct"
            );
        }
        assert_eq!(
            t.hub_hairpinned(),
            hub_before,
            "{kind:?}: nothing via the hub"
        );
    }
    for n in nats.into_iter().flatten() {
        assert!(t.sim.nat_stats(n).unwrap().translated_in > 0);
    }
}

#[test]
fn spokes_behind_endpoint_independent_nats_register_and_build_shortcuts() {
    nat_scenario(NatKind::EndpointIndependent, 41);
}

#[test]
fn spokes_behind_symmetric_nats_register_and_build_shortcuts() {
    nat_scenario(NatKind::Symmetric, 42);
}

/// Two spokes behind one NAT box with cleartext GRE: the NAT keeps one GRE return path per
/// remote address, so the hub's packets to the shared public address reach whichever spoke
/// sent to it last. Both registrations succeed (NHRP retransmits the misdelivered replies),
/// but the hub holds the same post-NAT NBMA address for two spokes and cannot address them
/// separately: a documented limitation (Cisco: IPsec with NAT-T, UDP 4500, which has ports).
#[test]
fn two_spokes_behind_one_nat_box_share_one_address_at_the_hub() {
    let mut t = Topology::new(43, Phase::Three, 0, Link::new().latency(ms(10)));
    let nat = t
        .sim
        .add_nat(NatConfig::new(nat_public(1), NatKind::EndpointIndependent))
        .unwrap();
    let start = t.sim.now();
    for i in 1..=2 {
        let mut c = spoke_config(Phase::Three, i);
        c.nbma = ip(&format!("192.168.1.{}", 1 + i));
        let inside = c.nbma;
        let d = t
            .sim
            .add_device_behind_nat(nat, inside, node(c, 43 + i as u64, start))
            .unwrap();
        t.spokes.push(d);
    }
    t.wait_registered(secs(60));
    let regs: Vec<_> = t.sim.device(t.hub).nhrp().registrations().collect();
    assert_eq!(regs.len(), 2);
    assert!(regs.iter().all(|r| r.nat_nbma == Some(nat_public(1))));
    assert_ne!(regs[0].nbma, regs[1].nbma, "distinct private addresses");
}
