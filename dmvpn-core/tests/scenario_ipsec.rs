//! IPsec required, manual SAs (AES-256-GCM, transport mode; SPIs and keys derived from the
//! ordered pair of NBMA addresses, see `common::manual_sa_pair`).
//!
//! * With SA pairs installed hub <-> every spoke and spoke 1 <-> spoke 2, registration,
//!   redirect, resolution and the direct shortcut all work, and the wire (pcap of the
//!   underlay) shows ESP only: not one GRE packet.
//! * Without SAs nothing leaves in clear: no GRE at all on the wire, `SaNeeded` events,
//!   the `no_sa` drop counter grows; installing the SAs later un-blocks everything.
//! * A hub that requires IPsec drops cleartext GRE (`DropReason::Cleartext`); a spoke that
//!   does not require IPsec accepts both cleartext and ESP.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use dmvpn_core::sim::{CapturePoint, Link, pcap};
use dmvpn_core::{DropReason, Event, IpsecPolicy, NextHop, Phase};

fn required(_: usize, c: &mut dmvpn_core::Config) {
    c.ipsec = IpsecPolicy::Required;
}

/// Installs the hub <-> spoke pairs for spokes 1..=n and the spoke 1 <-> spoke 2 pair.
fn install_all(t: &mut Topology, n: usize) {
    for i in 1..=n {
        let s = t.spoke(i);
        install_pair(&mut t.sim, t.hub, ip(HUB_NBMA), s, spoke_nbma(i));
    }
    let (s1, s2) = (t.spoke(1), t.spoke(2));
    install_pair(&mut t.sim, s1, spoke_nbma(1), s2, spoke_nbma(2));
}

#[test]
fn with_manual_sas_everything_is_esp_on_the_wire() {
    let mut t = Topology::with(71, Phase::Three, 3, Link::new().latency(ms(10)), required);
    t.sim.enable_pcap(CapturePoint::Send);
    install_all(&mut t, 3);
    t.wait_registered(secs(5));
    assert_eq!(
        t.ping(1, 2, 1),
        Some(ms(40)),
        "first ping via the hub, encrypted"
    );
    let s1 = t.spoke(1);
    t.sim
        .run_until(secs(5), |s| {
            s.device(s1).route_to(spoke_host(2)).map(|r| r.next_hop)
                == Some(NextHop::Nbma(spoke_nbma(2)))
        })
        .expect("shortcut over the protected path");
    t.sim.run_for(secs(2)).unwrap();
    let before = t.hub_hairpinned();
    for seq in 2..7 {
        assert_eq!(t.ping(1, 2, seq), Some(ms(20)));
    }
    assert_eq!(t.hub_hairpinned(), before);
    // Spoke 3 talks to the hub only (its SA with the hub exists).
    assert_eq!(t.ping(3, 1, 1), Some(ms(40)));

    let summary = pcap::summarize(t.sim.pcap().unwrap()).unwrap();
    assert_eq!(summary.count(47), 0, "no cleartext GRE: {summary:?}");
    assert!(summary.count(50) > 20, "{summary:?}");
    assert_eq!(summary.packets, summary.count(50), "ESP only: {summary:?}");
    for d in std::iter::once(t.hub).chain(t.spokes.iter().copied()) {
        let st = t.sim.device(d).stats();
        assert_eq!(st.dropped.total(), 0, "{d}: {:?}", st.dropped);
        assert!(st.esp_sealed > 0 && st.esp_opened > 0);
    }
    assert!(t.saw(
        s1,
        |e| matches!(e, Event::SaUp { peer, .. } if *peer == spoke_nbma(2))
    ));
}

#[test]
fn without_sas_nothing_leaves_in_clear_until_keys_arrive() {
    let mut t = Topology::with(72, Phase::Three, 2, Link::new().latency(ms(10)), required);
    t.sim.enable_pcap(CapturePoint::Send);
    t.sim.run_for(secs(5)).unwrap();
    assert!(!t.sim.device(t.spoke(1)).is_registered());
    for i in 1..=2 {
        let s = t.spoke(i);
        assert!(t.saw(
            s,
            |e| matches!(e, Event::SaNeeded { peer } if *peer == ip(HUB_NBMA))
        ));
        let st = t.sim.device(s).stats();
        assert!(st.sa_wait_queued > 0, "registrations were held back");
    }
    // Overlay traffic waits too, in a bounded queue: a burst beyond it is dropped and counted.
    let before = t.sim.device(t.spoke(1)).stats();
    let h1 = t.hosts[0];
    for seq in 1..=20 {
        t.sim.ping(h1, ip(HUB_TUNNEL), 1, seq, 56).unwrap();
    }
    t.sim.run_for(secs(1)).unwrap();
    let after = t.sim.device(t.spoke(1)).stats();
    assert!(after.sa_wait_queued > before.sa_wait_queued);
    assert!(
        after.dropped.no_sa > before.dropped.no_sa,
        "the bounded queue overflowed"
    );
    let summary = pcap::summarize(t.sim.pcap().unwrap()).unwrap();
    assert_eq!(
        summary.packets, 0,
        "nothing at all on the wire: {summary:?}"
    );

    // Keys arrive: everything starts, still ESP only.
    install_all(&mut t, 2);
    assert!(
        t.sim.device(t.spoke(1)).stats().sa_wait_sent > 0,
        "held packets left with the keys"
    );
    t.wait_registered(secs(70));
    assert_eq!(t.ping(1, 2, 1), Some(ms(40)));
    let summary = pcap::summarize(t.sim.pcap().unwrap()).unwrap();
    assert_eq!(summary.count(47), 0, "{summary:?}");
    assert!(summary.count(50) > 0);
}

#[test]
fn hub_requiring_ipsec_drops_cleartext_gre_and_optional_spoke_accepts_both() {
    // The hub requires IPsec, the spokes do not and have no SAs: their cleartext
    // registrations are dropped as Cleartext, so they never register.
    let mut t = Topology::with(73, Phase::Three, 2, Link::new().latency(ms(10)), |i, c| {
        if i == 0 {
            c.ipsec = IpsecPolicy::Required;
        }
    });
    t.sim.run_for(secs(5)).unwrap();
    let hub = t.sim.device(t.hub).stats();
    assert!(hub.dropped.cleartext > 0, "{:?}", hub.dropped);
    assert_eq!(hub.dropped.cleartext, hub.dropped.total());
    assert_eq!(hub.nhrp_in, 0, "no cleartext NHRP reached the NHRP machine");
    assert_eq!(t.sim.device(t.hub).nhrp().registrations().count(), 0);
    let r = t.sim.with_device(t.hub, |n, now| {
        n.handle_packet(
            now,
            dmvpn_core::Datagram::Underlay {
                from: spoke_nbma(1),
                protocol: dmvpn_core::UnderlayProtocol::Gre,
                bytes: &[0, 0, 0x08, 0],
            },
        )
    });
    assert_eq!(r.unwrap(), Err(DropReason::Cleartext(spoke_nbma(1))));

    // Spoke 1 gets SAs with the hub and requires IPsec too: it registers over ESP, while
    // spoke 2 (cleartext) stays out and keeps being dropped.
    let s1 = t.spoke(1);
    let mut c = spoke_config(Phase::Three, 1);
    c.ipsec = IpsecPolicy::Required;
    let fresh = node(c, 731, t.sim.now());
    let _cleartext_spoke = t.sim.replace_device(s1, fresh);
    install_pair(&mut t.sim, t.hub, ip(HUB_NBMA), s1, spoke_nbma(1));
    let before = t.sim.device(t.hub).stats().dropped.cleartext;
    t.sim
        .run_until(secs(70), |s| s.device(s1).is_registered())
        .expect("spoke 1 registers over ESP");
    // Spoke 2 keeps retrying in clear (back-off up to 64 s) and keeps being dropped.
    t.sim.run_for(secs(70)).unwrap();
    assert!(!t.sim.device(t.spoke(2)).is_registered());
    assert!(t.sim.device(t.hub).stats().dropped.cleartext > before);
    assert!(t.sim.device(s1).is_registered());
    assert!(t.sim.device(t.hub).stats().esp_opened > 0);
}

/// A spoke whose policy is `None` (IPsec not required) rejects nothing: it takes cleartext
/// GRE (its normal traffic with a cleartext hub) and also opens ESP from a peer it has an SA
/// pair with. (With policy `None` it sends in clear even with SAs installed: DESIGN §6,
/// `IpsecPolicy::None` = GRE in clear.)
#[test]
fn spoke_without_ipsec_requirement_accepts_cleartext_and_esp() {
    let mut t = Topology::new(74, Phase::Three, 2, Link::new().latency(ms(10)));
    let s1 = t.spoke(1);
    install_pair(&mut t.sim, t.hub, ip(HUB_NBMA), s1, spoke_nbma(1));
    t.wait_registered(secs(5));
    assert_eq!(t.ping(1, 2, 1), Some(ms(40)), "cleartext path works");

    // An ESP-protected GRE packet from the hub's NBMA address, sealed with the hub's
    // outbound SA towards spoke 1, carrying an echo request for spoke 1's host.
    let mut inner = Vec::new();
    etherparse::PacketBuilder::ipv4([172, 16, 2, 10], [172, 16, 1, 10], 64)
        .icmpv4_echo_request(7, 7)
        .write(&mut inner, b"sealed by the hub")
        .unwrap();
    let mut gre = vec![0u8, 0, 0x08, 0x00];
    gre.extend_from_slice(&inner);
    let (_, out) = manual_sa_pair(ip(HUB_NBMA), spoke_nbma(1));
    let now = t.sim.now();
    let crypto = esp::crypto::aws_lc::default_provider();
    let mut sa = esp::OutboundSa::new(now, &out, &crypto).unwrap();
    let head = sa.header_len();
    let mut buf = vec![0u8; head + gre.len() + sa.max_trailer_len(gre.len())];
    buf[head..head + gre.len()].copy_from_slice(&gre);
    let r = sa.seal(now, 47, &mut buf, head..head + gre.len()).unwrap();
    let esp_packet = buf[r].to_vec();

    let answered = t.sim.host(t.hosts[0]).echo_requests_answered();
    let res = t
        .sim
        .with_device(s1, |n, now| {
            n.handle_packet(
                now,
                dmvpn_core::Datagram::Underlay {
                    from: ip(HUB_NBMA),
                    protocol: dmvpn_core::UnderlayProtocol::Esp,
                    bytes: &esp_packet,
                },
            )
        })
        .unwrap();
    assert_eq!(res, Ok(()));
    t.sim.run_for(ms(100)).unwrap();
    assert_eq!(
        t.sim.host(t.hosts[0]).echo_requests_answered(),
        answered + 1,
        "the ESP packet was opened and delivered to the LAN"
    );
    let st = t.sim.device(s1).stats();
    assert_eq!(st.esp_opened, 1);
    assert_eq!(st.dropped.total(), 0, "{:?}", st.dropped);
    assert!(t.sim.device_stats(s1).underlay_rx.gre > 0);
}
