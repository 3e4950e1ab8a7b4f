//! The node forwards like a router: ICMP errors from its tunnel address (TTL expired, packet
//! too big with the path MTU after GRE/ESP overhead), and packets for its own tunnel address
//! go to the host stack or are answered by the node, as configured.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use dmvpn_core::sim::Link;
use dmvpn_core::{LocalDelivery, Phase};
use etherparse::{
    Icmpv4Type, PacketBuilder, SlicedPacket, TransportSlice, icmpv4::DestUnreachableHeader,
};

/// An ICMP echo request from spoke 1's host to spoke 2's host with the given TTL, size and DF.
fn echo(ttl: u8, payload: usize) -> Vec<u8> {
    let b = PacketBuilder::ipv4([172, 16, 1, 10], [172, 16, 2, 10], ttl).icmpv4_echo_request(9, 1);
    let mut p = Vec::new();
    b.write(&mut p, &vec![0; payload]).unwrap();
    p[6] |= 0x40; // DF
    // Recompute the header checksum after setting DF.
    let h = etherparse::Ipv4HeaderSlice::from_slice(&p)
        .unwrap()
        .to_header();
    let c = h.calc_header_checksum();
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

fn icmp_types(t: &Topology, host: usize) -> Vec<Icmpv4Type> {
    t.sim
        .host(t.hosts[host - 1])
        .received()
        .iter()
        .filter_map(|r| match SlicedPacket::from_ip(&r.bytes).ok()?.transport? {
            TransportSlice::Icmpv4(i) => Some(i.icmp_type()),
            _ => None,
        })
        .collect()
}

#[test]
fn ttl_expiry_and_path_mtu_produce_icmp_from_the_router() {
    let mut t = Topology::with(81, Phase::Three, 2, Link::new().latency(ms(5)), |_, c| {
        c.mtu = 1500; // let the underlay decide
    });
    t.wait_registered(secs(5));
    let h1 = t.hosts[0];

    // TTL 1: spoke 1 answers with time exceeded, nothing crosses the tunnel.
    let hub_in = t.sim.device(t.hub).stats().underlay_in;
    t.sim.send_from_host(h1, echo(1, 32)).unwrap();
    t.sim.run_for(secs(1)).unwrap();
    assert!(
        icmp_types(&t, 1)
            .iter()
            .any(|i| matches!(i, Icmpv4Type::TimeExceeded(_)))
    );
    assert_eq!(t.sim.device(t.hub).stats().underlay_in, hub_in);
    assert_eq!(t.sim.device(t.spoke(1)).stats().dropped.ttl_expired, 1);

    // Cleartext GRE over a 1500-byte underlay: 1500 - 20 (IPv4) - 4 (GRE) = 1476 fits, 1477
    // does not; the error carries 1476.
    t.sim.send_from_host(h1, echo(64, 1476 - 28)).unwrap();
    t.sim.run_for(secs(1)).unwrap();
    assert_eq!(t.sim.device(t.spoke(1)).stats().dropped.too_big, 0);
    t.sim.send_from_host(h1, echo(64, 1477 - 28)).unwrap();
    t.sim.run_for(secs(1)).unwrap();
    assert_eq!(t.sim.device(t.spoke(1)).stats().dropped.too_big, 1);
    assert!(
        icmp_types(&t, 1).contains(&Icmpv4Type::DestinationUnreachable(
            DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1476 }
        ))
    );
}

#[test]
fn own_tunnel_address_goes_to_the_host_stack_or_is_answered() {
    // Spoke 2 answers pings to its tunnel address itself (the simulator's routers do by
    // default); spoke 3 hands them to its host stack (its LAN side), the library default.
    let mut t = Topology::with(82, Phase::Three, 3, Link::new().latency(ms(5)), |i, c| {
        if i == 3 {
            c.local_delivery = LocalDelivery::default();
        }
    });
    assert_eq!(LocalDelivery::default(), LocalDelivery::Overlay);
    t.wait_registered(secs(5));
    let h1 = t.hosts[0];
    t.sim.ping(h1, spoke_tunnel(2), 3, 1, 16).unwrap();
    t.sim
        .run_until(secs(2), |s| !s.host(h1).echo_replies().is_empty())
        .unwrap();
    assert_eq!(t.sim.host(h1).echo_replies()[0].from, spoke_tunnel(2));

    let s3 = t.spoke(3);
    let out_before = t.sim.device(s3).stats().overlay_out;
    t.sim.ping(h1, spoke_tunnel(3), 3, 2, 16).unwrap();
    t.sim.run_for(secs(1)).unwrap();
    assert_eq!(
        t.sim.device(s3).stats().overlay_out,
        out_before + 1,
        "delivered to the host side"
    );
    assert_eq!(
        t.sim.host(h1).echo_replies().len(),
        1,
        "the node itself did not answer"
    );
}
