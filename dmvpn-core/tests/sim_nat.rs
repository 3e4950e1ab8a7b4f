//! NAT boxes: endpoint-independent vs symmetric UDP mappings, address-only translation for
//! GRE/ESP, idle expiry, flush and rebind, post-NAT addresses in the capture.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dmvpn_core::UnderlayProtocol;
use dmvpn_core::sim::toy::{ACK, HELLO, ToyRouter};
use dmvpn_core::sim::{CapturePoint, DeviceId, NatConfig, NatId, NatKind, Sim};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const HUB: &str = "192.0.2.1";
const PUBLIC: &str = "203.0.113.1";
const INSIDE: &str = "192.168.1.10";
const OTHER: &str = "198.51.100.3";

const NAT_T: UnderlayProtocol = UnderlayProtocol::Udp {
    local_port: 4500,
    remote_port: 4500,
};

fn udp(local_port: u16, remote_port: u16) -> UnderlayProtocol {
    UnderlayProtocol::Udp {
        local_port,
        remote_port,
    }
}

struct Net {
    sim: Sim<ToyRouter>,
    hub: DeviceId,
    spoke: DeviceId,
    other: DeviceId,
    nat: NatId,
}

fn net(kind: NatKind) -> Net {
    let mut sim = Sim::new(5, Instant::now());
    let hub = sim.add_device(ip(HUB), ToyRouter::new()).unwrap();
    let other = sim.add_device(ip(OTHER), ToyRouter::new()).unwrap();
    let nat = sim
        .add_nat(NatConfig::new(ip(PUBLIC), kind).idle_timeout(Duration::from_secs(30)))
        .unwrap();
    let spoke = sim
        .add_device_behind_nat(nat, ip(INSIDE), ToyRouter::new())
        .unwrap();
    sim.enable_pcap(CapturePoint::Send);
    Net {
        sim,
        hub,
        spoke,
        other,
        nat,
    }
}

fn hello(sim: &mut Sim<ToyRouter>, from: DeviceId, to: &str, protocol: UnderlayProtocol) {
    sim.with_device(from, |d, _| d.send_hello(ip(to), protocol))
        .unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
}

#[test]
fn endpoint_independent_mapping_lets_a_third_party_in() {
    let Net {
        mut sim,
        hub,
        spoke,
        other,
        nat,
    } = net(NatKind::EndpointIndependent);
    assert_eq!(sim.public_addr(spoke), ip(PUBLIC));
    hello(&mut sim, spoke, HUB, NAT_T);
    let seen = sim.device(hub).received[0];
    assert_eq!((seen.from, seen.protocol), (ip(PUBLIC), udp(4500, 1024)));
    assert_eq!(sim.device(spoke).acks, 1, "the hub's answer came back in");
    assert_eq!(sim.device(spoke).received[0].protocol, NAT_T);

    // Anyone may use the mapping; the spoke's answer leaves from the same public port.
    hello(&mut sim, other, PUBLIC, udp(4500, 1024));
    assert_eq!(sim.device(spoke).received[1].from, ip(OTHER));
    assert_eq!(sim.device(spoke).received[1].kind, HELLO);
    let back = sim.device(other).received[0];
    assert_eq!(
        (back.from, back.protocol, back.kind),
        (ip(PUBLIC), udp(4500, 1024), ACK)
    );
    let st = sim.nat_stats(nat).unwrap();
    assert_eq!((st.mappings_created, st.refused_in), (1, 0));
    assert_eq!(sim.nat_mappings(nat), Some(1));
}

#[test]
fn symmetric_mapping_refuses_a_third_party_and_uses_a_port_per_remote() {
    let Net {
        mut sim,
        hub,
        spoke,
        other,
        nat,
    } = net(NatKind::Symmetric);
    hello(&mut sim, spoke, HUB, NAT_T);
    assert_eq!(sim.device(hub).received[0].protocol, udp(4500, 1024));
    assert_eq!(sim.device(spoke).acks, 1);

    hello(&mut sim, other, PUBLIC, udp(4500, 1024));
    assert_eq!(sim.device(spoke).received.len(), 1, "third party refused");
    assert_eq!(sim.nat_stats(nat).unwrap().refused_in, 1);
    assert_eq!(sim.stats().drops.nat_no_mapping, 1);

    // Talking to the other remote takes a second public port; then it may answer.
    hello(&mut sim, spoke, OTHER, NAT_T);
    let seen = sim.device(other).received[0];
    assert_eq!((seen.from, seen.protocol), (ip(PUBLIC), udp(4500, 1025)));
    assert_eq!(sim.device(spoke).acks, 2);
    assert_eq!(sim.nat_stats(nat).unwrap().mappings_created, 2);
}

#[test]
fn gre_and_esp_are_translated_by_address_only() {
    for kind in [NatKind::EndpointIndependent, NatKind::Symmetric] {
        for protocol in [UnderlayProtocol::Gre, UnderlayProtocol::Esp] {
            let Net {
                mut sim,
                hub,
                spoke,
                other,
                nat,
            } = net(kind);
            hello(&mut sim, spoke, HUB, protocol);
            let seen = sim.device(hub).received[0];
            assert_eq!((seen.from, seen.protocol), (ip(PUBLIC), protocol));
            assert_eq!(sim.device(spoke).acks, 1, "{kind:?} {protocol:?}");
            assert_eq!(sim.device(spoke).received[0].from, ip(HUB));

            // No port to map: only the remote the inside device talked to gets back in.
            hello(&mut sim, other, PUBLIC, protocol);
            assert_eq!(sim.device(spoke).received.len(), 1, "{kind:?} {protocol:?}");
            assert_eq!(sim.nat_stats(nat).unwrap().refused_in, 1);
        }
    }
}

#[test]
fn the_capture_shows_post_nat_addresses_only() {
    let Net { mut sim, spoke, .. } = net(NatKind::Symmetric);
    hello(&mut sim, spoke, HUB, NAT_T);
    hello(&mut sim, spoke, HUB, UnderlayProtocol::Gre);
    let pcap = sim.take_pcap().unwrap();
    let mut at = 24;
    let mut addrs = Vec::new();
    while at < pcap.len() {
        let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let rec = &pcap[at + 16..at + 16 + len];
        let src: [u8; 4] = rec[12..16].try_into().unwrap();
        let dst: [u8; 4] = rec[16..20].try_into().unwrap();
        addrs.push((IpAddr::from(src), IpAddr::from(dst)));
        at += 16 + len;
    }
    assert_eq!(
        addrs,
        vec![
            (ip(PUBLIC), ip(HUB)),
            (ip(HUB), ip(PUBLIC)),
            (ip(PUBLIC), ip(HUB)),
            (ip(HUB), ip(PUBLIC)),
        ]
    );
}

#[test]
fn idle_mappings_expire_and_keepalives_hold_them() {
    let Net {
        mut sim,
        hub,
        spoke,
        nat,
        ..
    } = net(NatKind::EndpointIndependent);
    hello(&mut sim, spoke, HUB, NAT_T);
    sim.run_for(Duration::from_secs(30)).unwrap();
    // 31 s idle > 30 s timeout: the hub can no longer reach the spoke.
    hello(&mut sim, hub, PUBLIC, udp(4500, 1024));
    assert_eq!(sim.device(spoke).received.len(), 1);
    let st = *sim.nat_stats(nat).unwrap();
    assert_eq!((st.mappings_expired, st.refused_in), (1, 1));
    // New traffic gets a new mapping on the next port.
    hello(&mut sim, spoke, HUB, NAT_T);
    assert_eq!(
        sim.device(hub).received.last().unwrap().protocol,
        udp(4500, 1025)
    );

    // A spoke with a 20 s keepalive keeps its mapping for minutes.
    let mut sim = Sim::new(5, Instant::now());
    let start = sim.now();
    let hub = sim.add_device(ip(HUB), ToyRouter::new()).unwrap();
    let nat = sim
        .add_nat(
            NatConfig::new(ip(PUBLIC), NatKind::Symmetric).idle_timeout(Duration::from_secs(30)),
        )
        .unwrap();
    let spoke = sim
        .add_device_behind_nat(
            nat,
            ip(INSIDE),
            ToyRouter::new().keepalive(ip(HUB), NAT_T, Duration::from_secs(20), start),
        )
        .unwrap();
    sim.run_for(Duration::from_secs(300)).unwrap();
    // Hellos at 0, 20, ..., 300 s; the last ack is still in flight at 300 s.
    assert_eq!(sim.device(spoke).acks, 15);
    let ports: Vec<_> = sim
        .device(hub)
        .received
        .iter()
        .map(|r| r.protocol)
        .collect();
    assert!(ports.iter().all(|p| *p == udp(4500, 1024)), "{ports:?}");
    assert_eq!(sim.nat_stats(nat).unwrap().mappings_created, 1);
}

#[test]
fn flush_and_rebind_change_the_spokes_public_address() {
    let Net {
        mut sim,
        hub,
        spoke,
        nat,
        ..
    } = net(NatKind::EndpointIndependent);
    hello(&mut sim, spoke, HUB, NAT_T);
    sim.nat_flush(nat).unwrap();
    assert_eq!(sim.nat_mappings(nat), Some(0));
    hello(&mut sim, spoke, HUB, NAT_T);
    assert_eq!(sim.device(hub).received[1].protocol, udp(4500, 1025));

    sim.nat_rebind(nat, ip("203.0.113.77")).unwrap();
    assert_eq!(sim.public_addr(spoke), ip("203.0.113.77"));
    // The old public address is gone from the internet.
    hello(&mut sim, hub, PUBLIC, udp(4500, 1025));
    assert_eq!(sim.device_stats(hub).drops.no_route, 1);
    hello(&mut sim, spoke, HUB, NAT_T);
    let seen = sim.device(hub).received[2];
    assert_eq!(
        (seen.from, seen.protocol),
        (ip("203.0.113.77"), udp(4500, 1026))
    );
    assert_eq!(sim.device(spoke).acks, 3);
}
