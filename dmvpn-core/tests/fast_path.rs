//! The in-place data path: `Node::forward` / `handle_buf` encapsulate where the packet lies,
//! the cached-adjacency fast path produces exactly what the full path produces, and the cache
//! follows every change it rests on (routes, shortcuts, SAs, queue order).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::IpAddr;
use std::time::Instant;

use common::*;
use dmvpn_core::sim::Link;
use dmvpn_core::{
    DatagramBuf, DropReason, NextHop, Node, PacketBuf, Phase, RouteSource, Transmit,
    UnderlayProtocol,
};
use etherparse::PacketBuilder;

/// A UDP packet from spoke 1's host to spoke 2's host.
fn udp(ttl: u8, payload: usize) -> Vec<u8> {
    let b = PacketBuilder::ipv4([172, 16, 1, 10], [172, 16, 2, 10], ttl).udp(4000, 9);
    let mut p = Vec::new();
    b.write(&mut p, &vec![0x5a; payload]).unwrap();
    p
}

/// Spoke 1 of a phase 3 network with its shortcut to spoke 2 up, taken out of the simulator
/// (its queues drained), with the virtual now.
fn spoke_with_shortcut() -> (Node, Instant) {
    let mut t = Topology::new(91, Phase::Three, 2, Link::new().latency(ms(5)));
    t.wait_registered(secs(5));
    assert!(t.ping(1, 2, 1).is_some());
    assert!(t.wait_direct(1, 2, spoke_nbma(2), secs(5)));
    let now = t.sim.now();
    let spare = node(spoke_config(Phase::Three, 9), 9, now);
    let mut n = t.sim.replace_device(t.spoke(1), spare);
    while n.poll_transmit().is_some() {}
    while n.poll_event().is_some() {}
    (n, now)
}

fn buf_with(n: &mut Node, packet: &[u8]) -> PacketBuf {
    let mut b = n.buffer();
    b.extend_from_slice(packet);
    b
}

/// `Node::forward` of a copy of `packet` in one of the node's buffers.
fn fwd(n: &mut Node, now: Instant, packet: &[u8]) -> Result<Option<Transmit>, DropReason> {
    let b = buf_with(n, packet);
    n.forward(now, b)
}

fn underlay(t: Transmit) -> (IpAddr, UnderlayProtocol, PacketBuf) {
    match t {
        Transmit::Underlay {
            to,
            protocol,
            bytes,
        } => (to, protocol, bytes),
        other => panic!("expected an underlay transmit, got {other:?}"),
    }
}

/// The first packet to a destination takes the full path (and caches the adjacency), the
/// second the fast path: both produce the same bytes to the same peer, written in place.
#[test]
fn fast_path_matches_the_full_path_and_copies_nothing() {
    let (mut n, now) = spoke_with_shortcut();
    let p = udp(64, 1000);
    let before = n.stats();

    let first = fwd(&mut n, now, &p).unwrap();
    assert!(
        first.is_none(),
        "the first packet builds the adjacency via the queue"
    );
    let (to1, proto1, full) = underlay(n.poll_transmit().expect("queued"));
    assert!(n.poll_transmit().is_none());

    let b = buf_with(&mut n, &p);
    let payload_at = b.as_ptr();
    let t = n.forward(now, b).unwrap().expect("fast path");
    assert!(n.poll_transmit().is_none(), "nothing queued");
    let (to2, proto2, fast) = underlay(t);
    assert_eq!((to1, proto1), (spoke_nbma(2), UnderlayProtocol::Gre));
    assert_eq!((to2, proto2), (to1, proto1));
    assert_eq!(fast, full, "same GRE packet either way");
    // GRE (4 bytes, no key) in front of the packet, TTL decremented, checksum still valid.
    assert_eq!(&fast[..4], &[0, 0, 0x08, 0x00]);
    let ip = etherparse::Ipv4HeaderSlice::from_slice(&fast[4..]).unwrap();
    assert_eq!(ip.ttl(), 63);
    assert_eq!(ip.header_checksum(), ip.to_header().calc_header_checksum());
    assert_eq!(&fast[4 + 20..], &p[20..]);
    // In place: the GRE header sits right in front of where the packet was.
    assert_eq!(fast[4..].as_ptr(), payload_at);

    let after = n.stats();
    assert_eq!(after.data_direct - before.data_direct, 2);
    assert_eq!(after.underlay_out - before.underlay_out, 2);
    assert_eq!(after.overlay_in - before.overlay_in, 2);
    let c = n.peer_counters(spoke_nbma(2)).unwrap();
    assert!(c.tx_data >= 2);
    n.recycle(fast);
    n.recycle(full);
}

/// `handle_buf` takes the same fast path through the queue; `handle_packet` (borrowed bytes)
/// yields the same packet.
#[test]
fn handle_buf_and_handle_packet_agree() {
    let (mut n, now) = spoke_with_shortcut();
    let p = udp(20, 200);
    n.handle_packet(now, dmvpn_core::Datagram::Overlay(&p))
        .unwrap();
    let (_, _, a) = underlay(n.poll_transmit().unwrap());
    let b = buf_with(&mut n, &p);
    n.handle_buf(now, DatagramBuf::Overlay(b)).unwrap();
    let (_, _, b) = underlay(n.poll_transmit().unwrap());
    assert_eq!(a, b);
    // A caller's own buffer without headroom still works (the packet is moved once).
    n.handle_buf(now, DatagramBuf::Overlay(PacketBuf::from(p.clone())))
        .unwrap();
    let (_, _, c) = underlay(n.poll_transmit().unwrap());
    assert_eq!(a, c);
}

/// Whatever the adjacency rests on changes the next packet's path at once: the shortcut route
/// replaced, then removed (back via the hub).
#[test]
fn adjacency_follows_route_changes() {
    let (mut n, now) = spoke_with_shortcut();
    let p = udp(64, 100);
    for _ in 0..2 {
        let t = fwd(&mut n, now, &p).unwrap();
        let (to, _, _) = underlay(t.or_else(|| n.poll_transmit()).unwrap());
        assert_eq!(to, spoke_nbma(2));
    }
    // A more specific static route for the host, to spoke 3's NBMA.
    let elsewhere = spoke_nbma(3);
    n.add_route(
        "172.16.2.10/32".parse().unwrap(),
        RouteSource::Static,
        NextHop::Nbma(elsewhere),
    );
    let t = fwd(&mut n, now, &p).unwrap();
    let (to, _, _) = underlay(t.or_else(|| n.poll_transmit()).unwrap());
    assert_eq!(to, elsewhere, "the new route wins at once");
    assert!(n.remove_route("172.16.2.10/32".parse().unwrap(), RouteSource::Static));
    // The NHRP shortcut goes too: back to the summary route via the hub.
    let shortcut = n
        .routes()
        .into_iter()
        .find(|r| r.source == RouteSource::Nhrp)
        .expect("shortcut route")
        .prefix;
    assert!(n.remove_route(shortcut, RouteSource::Nhrp));
    let t = fwd(&mut n, now, &p).unwrap();
    let (to, _, _) = underlay(t.or_else(|| n.poll_transmit()).unwrap());
    assert_eq!(to, ip(HUB_NBMA), "via the hub once the shortcut is gone");
}

/// Packets the fast path must not take go the full way: TTL 1 (ICMP time exceeded), too big
/// with DF (ICMP fragmentation needed), and anything while transmits are queued (order).
#[test]
fn exceptions_leave_the_fast_path() {
    let (mut n, now) = spoke_with_shortcut();
    // Warm the adjacency.
    let t = fwd(&mut n, now, &udp(64, 10)).unwrap();
    assert!(t.or_else(|| n.poll_transmit()).is_some());

    let r = fwd(&mut n, now, &udp(1, 10));
    assert!(r.is_err(), "TTL 1 is dropped");
    let (to, _) = match n.poll_transmit().expect("ICMP time exceeded") {
        Transmit::Overlay(b) => (b[16..20].to_vec(), b),
        other => panic!("expected ICMP to the LAN, got {other:?}"),
    };
    assert_eq!(to, vec![172, 16, 1, 10]);

    let mut big = udp(64, 1600);
    big[6] |= 0x40; // DF
    let h = etherparse::Ipv4HeaderSlice::from_slice(&big)
        .unwrap()
        .to_header();
    let c = h.calc_header_checksum();
    big[10..12].copy_from_slice(&c.to_be_bytes());
    assert!(fwd(&mut n, now, &big).is_err());
    assert_eq!(n.stats().dropped.too_big, 1);
    assert!(matches!(n.poll_transmit(), Some(Transmit::Overlay(_))));

    // Something queued: the next packet queues behind it instead of overtaking.
    let p = udp(64, 10);
    let b = buf_with(&mut n, &p);
    n.handle_buf(now, DatagramBuf::Overlay(b)).unwrap();
    assert!(fwd(&mut n, now, &p).unwrap().is_none());
    assert!(n.poll_transmit().is_some());
    assert!(n.poll_transmit().is_some());
    assert!(n.poll_transmit().is_none());
}

/// With IPsec required the fast path never applies: everything leaves as ESP.
#[test]
fn ipsec_required_never_takes_the_cleartext_fast_path() {
    let mut t = Topology::with(93, Phase::Three, 2, Link::new().latency(ms(5)), |_, c| {
        c.ipsec = dmvpn_core::IpsecPolicy::Required;
    });
    let (hub, s1, s2) = (t.hub, t.spoke(1), t.spoke(2));
    install_pair(&mut t.sim, s1, spoke_nbma(1), hub, ip(HUB_NBMA));
    install_pair(&mut t.sim, s2, spoke_nbma(2), hub, ip(HUB_NBMA));
    install_pair(&mut t.sim, s1, spoke_nbma(1), s2, spoke_nbma(2));
    t.wait_registered(secs(5));
    assert!(t.ping(1, 2, 1).is_some());
    let now = t.sim.now();
    let spare = node(spoke_config(Phase::Three, 9), 9, now);
    let mut n = t.sim.replace_device(t.spoke(1), spare);
    while n.poll_transmit().is_some() {}
    for _ in 0..3 {
        let b = buf_with(&mut n, &udp(64, 100));
        let t = n.forward(now, b).unwrap();
        assert!(t.is_none(), "no cleartext fast path under IPsec");
        let (_, proto, _) = underlay(n.poll_transmit().unwrap());
        assert_eq!(proto, UnderlayProtocol::Esp);
    }
}

/// The receive side: GRE from a peer to a host on the LAN is decapsulated and delivered in
/// place, the second packet through the cached LAN adjacency, with the same result.
#[test]
fn received_packets_are_delivered_in_place() {
    let mut t = Topology::new(95, Phase::Three, 2, Link::new().latency(ms(5)));
    t.wait_registered(secs(5));
    let now = t.sim.now();
    let spare = node(spoke_config(Phase::Three, 9), 9, now);
    let mut n = t.sim.replace_device(t.spoke(2), spare);
    while n.poll_transmit().is_some() {}
    let p = udp(64, 300);
    let mut gre = vec![0, 0, 0x08, 0x00];
    gre.extend_from_slice(&p);
    let mut out = Vec::new();
    for _ in 0..3 {
        let b = buf_with(&mut n, &gre);
        let packet_at = b[4..].as_ptr();
        n.handle_buf(
            now,
            DatagramBuf::Underlay {
                from: spoke_nbma(1),
                protocol: UnderlayProtocol::Gre,
                bytes: b,
            },
        )
        .unwrap();
        match n.poll_transmit() {
            Some(Transmit::Overlay(bytes)) => {
                assert_eq!(bytes.as_ptr(), packet_at, "delivered where it lay");
                out.push(bytes);
            }
            other => panic!("expected delivery to the LAN, got {other:?}"),
        }
    }
    let ip = etherparse::Ipv4HeaderSlice::from_slice(&out[0]).unwrap();
    assert_eq!(ip.ttl(), 63);
    assert_eq!(ip.header_checksum(), ip.to_header().calc_header_checksum());
    assert!(out.iter().all(|o| *o == out[0]));
    assert_eq!(n.stats().overlay_out, 3);
    assert_eq!(n.peer_counters(spoke_nbma(1)).unwrap().rx_data, 3);
}
