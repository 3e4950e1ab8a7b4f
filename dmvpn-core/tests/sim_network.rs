//! The simulator's network model: latency, loss, duplication, reordering, MTU, pcap
//! determinism, device down/replace/readdress, tracing. Uses the toy router of `sim::toy`.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use dmvpn_core::UnderlayProtocol;
use dmvpn_core::sim::pcap::summarize;
use dmvpn_core::sim::toy::{HELLO, ToyRouter};
use dmvpn_core::sim::{CapturePoint, DeviceId, DropReason, HostId, Link, Sim, SimError};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Two routers A (192.0.2.1, LAN 10.1.0.0/16) and B (198.51.100.2, LAN 10.2.0.0/16) tunnelling
/// to each other over `protocol`, a host on each LAN.
struct Pair {
    sim: Sim<ToyRouter>,
    a: DeviceId,
    b: DeviceId,
    pc: HostId,
    server: HostId,
}

fn pair(seed: u64, link: Link, protocol: UnderlayProtocol) -> Pair {
    let mut sim = Sim::new(seed, Instant::now());
    sim.set_default_link(link);
    let a = sim
        .add_device(
            ip("192.0.2.1"),
            ToyRouter::new().route("10.2.0.0/16".parse().unwrap(), ip("198.51.100.2"), protocol),
        )
        .unwrap();
    let b = sim
        .add_device(
            ip("198.51.100.2"),
            ToyRouter::new().route("10.1.0.0/16".parse().unwrap(), ip("192.0.2.1"), protocol),
        )
        .unwrap();
    let pc = sim.add_host(a, ip("10.1.0.10")).unwrap();
    let server = sim.add_host(b, ip("10.2.0.10")).unwrap();
    Pair {
        sim,
        a,
        b,
        pc,
        server,
    }
}

#[test]
fn ping_across_two_devices_takes_twice_the_latency() {
    let Pair {
        mut sim,
        a,
        b,
        pc,
        server,
    } = pair(1, Link::new().latency(ms(30)), UnderlayProtocol::Gre);
    for seq in 1..=3 {
        sim.ping(pc, ip("10.2.0.10"), 7, seq, 56).unwrap();
        sim.run_for(ms(100)).unwrap();
    }
    let replies = sim.host(pc).echo_replies();
    assert_eq!(replies.len(), 3);
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r.rtt, Some(ms(60)), "{r:?}");
        assert_eq!(r.seq, i as u16 + 1);
        assert_eq!(r.from, ip("10.2.0.10"));
        assert_eq!(r.payload_len, 56);
        assert_eq!(r.at, ms(100) * i as u32 + ms(60));
    }
    assert_eq!(sim.host(server).echo_requests_answered(), 3);
    // Each echo crossed the underlay once in each direction, as GRE.
    for d in [a, b] {
        let s = sim.device_stats(d);
        assert_eq!(s.underlay_tx.gre, 3);
        assert_eq!(s.underlay_rx.gre, 3);
        assert_eq!(s.underlay_tx.total(), 3);
        assert_eq!(s.overlay_rx, 3);
        assert_eq!(s.overlay_tx, 3);
        assert_eq!(s.drops.total(), 0);
    }
    assert_eq!(sim.elapsed(), ms(300));
}

#[test]
fn ipv6_ping_over_ipv6_underlay() {
    let mut sim = Sim::new(1, Instant::now());
    let a = sim
        .add_device(
            ip("2001:db8::1"),
            ToyRouter::new().route(
                "fd00:2::/64".parse().unwrap(),
                ip("2001:db8::2"),
                UnderlayProtocol::Esp,
            ),
        )
        .unwrap();
    let b = sim
        .add_device(
            ip("2001:db8::2"),
            ToyRouter::new().route(
                "fd00:1::/64".parse().unwrap(),
                ip("2001:db8::1"),
                UnderlayProtocol::Esp,
            ),
        )
        .unwrap();
    let pc = sim.add_host(a, ip("fd00:1::10")).unwrap();
    sim.add_host(b, ip("fd00:2::10")).unwrap();
    sim.enable_pcap(CapturePoint::Send);
    sim.ping(pc, ip("fd00:2::10"), 1, 1, 100).unwrap();
    sim.run_until(ms(100), |s| !s.host(pc).echo_replies().is_empty())
        .unwrap();
    assert_eq!(sim.host(pc).echo_replies()[0].rtt, Some(ms(20)));
    let cap = summarize(sim.pcap().unwrap()).unwrap();
    assert_eq!(cap.packets, 2);
    assert_eq!(cap.count(50), 2, "{cap:?}");
    // A family mismatch is an error, not a panic.
    assert!(matches!(
        sim.ping(pc, ip("10.0.0.1"), 1, 2, 8),
        Err(SimError::AddressFamily { .. })
    ));
}

#[test]
fn esp_tunnel_capture_shows_esp_only() {
    let Pair { mut sim, pc, .. } = pair(3, Link::new(), UnderlayProtocol::Esp);
    sim.enable_pcap(CapturePoint::Arrival);
    for seq in 0..10 {
        sim.ping(pc, ip("10.2.0.10"), 1, seq, 32).unwrap();
    }
    sim.run_for(ms(100)).unwrap();
    assert_eq!(sim.host(pc).echo_replies().len(), 10);
    let cap = summarize(sim.pcap().unwrap()).unwrap();
    assert_eq!(cap.packets, 20);
    assert_eq!(
        cap.by_protocol.keys().copied().collect::<Vec<_>>(),
        vec![50]
    );
}

/// A sends `n` numbered hellos to a silent B, one every millisecond.
fn blast(seed: u64, link: Link, n: u32) -> (Sim<ToyRouter>, DeviceId, DeviceId) {
    let mut sim = Sim::new(seed, Instant::now());
    sim.set_default_link(link);
    let a = sim.add_device(ip("192.0.2.1"), ToyRouter::new()).unwrap();
    let b = sim
        .add_device(ip("192.0.2.2"), ToyRouter::new().answer_hellos(false))
        .unwrap();
    sim.enable_pcap(CapturePoint::Arrival);
    for _ in 0..n {
        sim.with_device(a, |d, _| {
            d.send_hello(ip("192.0.2.2"), UnderlayProtocol::Gre)
        })
        .unwrap();
        sim.run_for(ms(1)).unwrap();
    }
    sim.run_for(Duration::from_secs(1)).unwrap();
    (sim, a, b)
}

#[test]
fn loss_duplication_and_reordering_follow_the_configured_probabilities() {
    let link = Link::new()
        .latency(ms(20))
        .jitter(ms(2))
        .loss(0.1)
        .duplicate(0.05)
        .reorder(0.2, ms(15));
    let n = 10_000;
    let (sim, a, b) = blast(42, link, n);
    let st = *sim.stats();
    let rx = &sim.device(b).received;
    // Roughly the configured rates...
    assert!((800..1200).contains(&st.drops.loss), "{st:?}");
    assert!((350..550).contains(&st.duplicated), "{st:?}");
    assert!((1600..2000).contains(&st.reordered), "{st:?}");
    // ...and exactly the same numbers every time with this seed.
    assert_eq!(
        (st.drops.loss, st.duplicated, st.reordered),
        (1047, 388, 1845),
        "{st:?}"
    );
    assert_eq!(sim.device_stats(a).drops.loss, st.drops.loss);
    assert_eq!(
        rx.len() as u64,
        u64::from(n) - st.drops.loss + st.duplicated
    );
    assert_eq!(sim.device_stats(b).underlay_rx.gre, rx.len() as u64);
    let inversions = rx.windows(2).filter(|w| w[1].seq < w[0].seq).count();
    assert!(inversions > 1000, "{inversions}");
    let dups = rx.windows(2).filter(|w| w[1].seq == w[0].seq).count();
    assert!(dups > 0);
    assert!(rx.iter().all(|r| r.kind == HELLO));
}

#[test]
fn a_clean_link_keeps_order_and_loses_nothing() {
    let (sim, _, b) = blast(42, Link::new().latency(ms(20)), 1000);
    let rx = &sim.device(b).received;
    assert_eq!(rx.len(), 1000);
    assert!(rx.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert_eq!(sim.stats().drops.total(), 0);
    assert_eq!((sim.stats().duplicated, sim.stats().reordered), (0, 0));
}

#[test]
fn same_seed_gives_an_identical_pcap_and_another_seed_does_not() {
    let link = Link::new()
        .latency(ms(20))
        .jitter(ms(5))
        .loss(0.05)
        .duplicate(0.02)
        .reorder(0.1, ms(7));
    let one = blast(7, link, 300).0.take_pcap().unwrap();
    let two = blast(7, link, 300).0.take_pcap().unwrap();
    let other = blast(8, link, 300).0.take_pcap().unwrap();
    assert!(one.len() > 24 + 250 * 44);
    assert_eq!(one, two);
    assert_ne!(one, other);
}

#[test]
fn packets_over_the_mtu_are_dropped_and_counted() {
    let Pair { mut sim, a, pc, .. } = pair(1, Link::new().mtu(1400), UnderlayProtocol::Gre);
    // Outer IPv4 20 + toy header 4 + inner IPv4 20 + ICMP 8 + payload.
    sim.ping(pc, ip("10.2.0.10"), 1, 1, 1400 - 52).unwrap();
    sim.ping(pc, ip("10.2.0.10"), 1, 2, 1400 - 51).unwrap();
    sim.run_for(ms(100)).unwrap();
    let replies = sim.host(pc).echo_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].seq, 1);
    assert_eq!(sim.device_stats(a).drops.mtu, 1);
    assert_eq!(sim.stats().drops.get(DropReason::Mtu), 1);
}

#[test]
fn a_per_device_link_override_applies_both_ways() {
    let Pair { mut sim, b, pc, .. } = pair(1, Link::new().latency(ms(10)), UnderlayProtocol::Gre);
    sim.set_link(b, Some(Link::new().latency(ms(100))));
    sim.ping(pc, ip("10.2.0.10"), 1, 1, 8).unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(sim.host(pc).echo_replies()[0].rtt, Some(ms(200)));
}

#[test]
fn a_down_device_loses_packets_and_a_replaced_one_starts_fresh() {
    let Pair {
        mut sim,
        b,
        pc,
        server,
        ..
    } = pair(1, Link::new(), UnderlayProtocol::Gre);
    sim.set_up(b, false);
    sim.ping(pc, ip("10.2.0.10"), 1, 1, 8).unwrap();
    sim.run_for(ms(100)).unwrap();
    assert!(sim.host(pc).echo_replies().is_empty());
    assert_eq!(sim.device_stats(b).drops.device_down, 1);
    assert!(!sim.is_up(b));

    sim.set_up(b, true);
    sim.ping(pc, ip("10.2.0.10"), 1, 2, 8).unwrap();
    sim.run_for(ms(100)).unwrap();
    assert_eq!(sim.host(pc).echo_replies().len(), 1);

    // Reboot B with a router that has lost its routes: requests arrive, replies cannot go.
    let old = sim.replace_device(b, ToyRouter::new());
    assert_eq!(old.received.len(), 1);
    sim.ping(pc, ip("10.2.0.10"), 1, 3, 8).unwrap();
    sim.run_for(ms(100)).unwrap();
    assert_eq!(sim.host(pc).echo_replies().len(), 1);
    assert_eq!(sim.host(server).echo_requests_answered(), 2);
    assert_eq!(sim.device(b).received.len(), 1);
    assert_eq!(sim.device_stats(b).errors, 1, "no route for the reply");
}

#[test]
fn an_address_change_strands_packets_until_peers_follow() {
    let Pair {
        mut sim, a, b, pc, ..
    } = pair(1, Link::new(), UnderlayProtocol::Gre);
    sim.set_underlay_addr(b, ip("203.0.113.9")).unwrap();
    assert_eq!(sim.public_addr(b), ip("203.0.113.9"));
    sim.ping(pc, ip("10.2.0.10"), 1, 1, 8).unwrap();
    sim.run_for(ms(100)).unwrap();
    assert!(sim.host(pc).echo_replies().is_empty());
    assert_eq!(sim.device_stats(a).drops.no_route, 1);

    sim.device_mut(a)
        .repoint(ip("198.51.100.2"), ip("203.0.113.9"));
    sim.ping(pc, ip("10.2.0.10"), 1, 2, 8).unwrap();
    sim.run_for(ms(100)).unwrap();
    assert_eq!(sim.host(pc).echo_replies().len(), 1);
    assert!(matches!(
        sim.set_underlay_addr(b, ip("192.0.2.1")),
        Err(SimError::AddressInUse(_))
    ));
}

#[test]
fn overlay_packets_for_absent_hosts_are_counted() {
    let Pair { mut sim, b, pc, .. } = pair(1, Link::new(), UnderlayProtocol::Gre);
    sim.ping(pc, ip("10.2.0.99"), 1, 1, 8).unwrap();
    sim.run_for(ms(100)).unwrap();
    assert_eq!(sim.device_stats(b).drops.no_host, 1);
    assert_eq!(sim.stats().drops.no_host, 1);
}

#[test]
fn the_trace_hook_sees_a_readable_timeline() {
    let Pair { mut sim, pc, .. } = pair(1, Link::new().latency(ms(25)), UnderlayProtocol::Gre);
    let lines = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&lines);
    sim.set_trace(move |r| sink.borrow_mut().push(r.to_string()));
    sim.ping(pc, ip("10.2.0.10"), 1, 1, 8).unwrap();
    sim.run_for(ms(100)).unwrap();
    let lines = lines.borrow();
    assert_eq!(lines.len(), 8, "{lines:#?}");
    assert_eq!(lines[0], "[   0.000000] host0 sends 36 bytes into dev0");
    assert_eq!(
        lines[1],
        "[   0.000000] dev0 sends GRE 192.0.2.1 -> 198.51.100.2, 40 bytes"
    );
    assert_eq!(
        lines[2],
        "[   0.025000] dev1 receives GRE from 192.0.2.1, 40 bytes"
    );
    assert!(lines[7].starts_with("[   0.050000] dev0 delivers 36 bytes to host0"));
}
