//! Per-peer state is bounded and reclaimed: a hub whose spokes come and go (new NBMA addresses
//! after NAT rebinding, spokes replaced) keeps counting the live ones, however many have come
//! and gone before.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::IpAddr;
use std::time::Instant;

use common::*;
use dmvpn_core::{Datagram, Node, Phase, Transmit};

/// Hands every underlay transmit of `from` addressed to `to_nbma` to `to`; true if any.
fn deliver(
    now: Instant,
    from: &mut Node,
    from_nbma: IpAddr,
    to: &mut Node,
    to_nbma: IpAddr,
) -> bool {
    let mut moved = false;
    while let Some(t) = from.poll_transmit() {
        if let Transmit::Underlay {
            to: dst,
            protocol,
            bytes,
        } = t
            && dst == to_nbma
        {
            moved = true;
            let d = Datagram::Underlay {
                from: from_nbma,
                protocol,
                bytes: &bytes,
            };
            let _ = to.handle_packet(now, d);
        }
    }
    while from.poll_event().is_some() {}
    moved
}

/// Moves every transmit between the hub and one spoke until both are quiet.
fn exchange(now: Instant, hub: &mut Node, hub_nbma: IpAddr, spoke: &mut Node, spoke_nbma: IpAddr) {
    for _ in 0..32 {
        let up = deliver(now, spoke, spoke_nbma, hub, hub_nbma);
        let down = deliver(now, hub, hub_nbma, spoke, spoke_nbma);
        if !up && !down {
            return;
        }
    }
    panic!("hub and spoke keep talking");
}

#[test]
fn departed_spokes_free_their_slots() {
    let now = Instant::now();
    let hub_nbma = ip(HUB_NBMA);
    let mut hc = hub_config(Phase::Three, 1);
    // Room for one registration; the peer table holds twice that.
    hc.max_peers = 1;
    let mut hub = node(hc, 1, now);
    // Ten generations of spoke 1, each from a new NBMA address (a NAT rebinding, a new
    // uplink), each withdrawing its registration when it goes; every other one behind a NAT
    // (it claims a private address, the hub sees the public one).
    for generation in 0..10u8 {
        let seen = IpAddr::from([198, 51, 100, 100 + generation]);
        let mut c = spoke_config(Phase::Three, 1);
        c.nbma = if generation % 2 == 1 {
            IpAddr::from([10, 99, 0, generation])
        } else {
            seen
        };
        let mut spoke = node(c, 10 + u64::from(generation), now);
        exchange(now, &mut hub, hub_nbma, &mut spoke, seen);
        assert!(spoke.is_registered(), "generation {generation} registers");
        let nbma = seen;
        spoke.shutdown(now);
        exchange(now, &mut hub, hub_nbma, &mut spoke, nbma);
        assert_eq!(hub.nhrp().registrations().count(), 0);
        assert!(
            hub.peer_counters(nbma).is_none(),
            "generation {generation}'s slot is freed when it leaves"
        );
    }
}
