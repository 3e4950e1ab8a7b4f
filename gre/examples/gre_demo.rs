//! GRE demo: builds DMVPN-style GRE packets in place, prints them as hex and decodes them.
//!
//! Run with `cargo run -p gre --example gre_demo`.
//!
//! 1. a spoke's NHRP Registration Request in GRE with tunnel key 100 (what a Cisco spoke with
//!    `tunnel key 100` sends to its hub),
//! 2. an IPv4 ping in GRE with sequence number and checksum,
//! 3. an IPv6 packet in plain GRE,
//! 4. an mGRE endpoint with key and sequence checking: a replayed packet and a packet with the
//!    wrong key are dropped and counted.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};

use gre::checksum::internet_checksum;
use gre::wire::{Packet, ProtocolType, Repr};
use gre::{Config, DropReason, Endpoint};

/// Room in front of the payload for an outer IPv4 header (20) and the largest GRE header (16).
const HEADROOM: usize = 20 + Repr::MAX_HEADER_LEN;

/// An NHRP Registration Request as a Cisco IOS spoke sends it (81 bytes; from the tcpdump test
/// suite's `ios_nhrp.pcap`, BSD licence): spoke 192.168.0.2 registers with NHS 192.168.0.1,
/// NBMA address 10.0.12.2, authentication "CISCO".
const NHRP_REGISTRATION: [u8; 81] = [
    0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x51, 0xe8, 0xe4, 0x00, 0x34,
    0x01, 0x03, 0x04, 0x00, 0x04, 0x04, 0x80, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0a, 0x00, 0x0c, 0x02,
    0xc0, 0xa8, 0x00, 0x02, 0xc0, 0xa8, 0x00, 0x01, 0x00, 0xff, 0x00, 0x00, 0x05, 0xea, 0x00, 0x1e,
    0x00, 0x00, 0x00, 0x00, 0x80, 0x03, 0x00, 0x00, 0x80, 0x04, 0x00, 0x00, 0x80, 0x05, 0x00, 0x00,
    0x80, 0x07, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x43, 0x49, 0x53, 0x43, 0x4f, 0x80, 0x00, 0x00,
    0x00,
];

/// IPv4 + ICMP echo request 10.0.0.1 -> 10.0.0.2 (overlay addresses), checksums computed with
/// the same RFC 1071 function GRE uses.
fn ipv4_ping() -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01];
    icmp.extend_from_slice(b"abcdefgh");
    let sum = internet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let [t0, t1] = total.to_be_bytes();
    let mut ip = vec![
        0x45, 0, t0, t1, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let sum = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

/// IPv6 + UDP 2001:db8::1 -> 2001:db8::2, port 40000 -> 9 (discard), 8 bytes of data.
fn ipv6_udp() -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ipv6(
        [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        64,
    )
    .udp(40000, 9)
    .write(&mut out, b"dmvpn-v6")
    .unwrap();
    out
}

/// Prints `bytes` as offset + 16 hex bytes per line, with the GRE header bytes in brackets.
fn hexdump(bytes: &[u8], header_len: usize) {
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let mut line = format!("    {:04x} ", row * 16);
        for (col, byte) in chunk.iter().enumerate() {
            let at = row * 16 + col;
            let open = if at == 0 { "[" } else { " " };
            let close = if at + 1 == header_len { "]" } else { "" };
            line.push_str(&format!("{open}{byte:02x}{close}"));
        }
        println!("{line}");
    }
}

/// Prints the decoded fields of a GRE packet the way a network engineer reads a header.
fn describe(bytes: &[u8]) {
    let packet = Packet::parse(bytes).expect("our packet parses");
    let repr = Repr::parse(&packet).expect("our checksum verifies");
    let yes = |b: bool| if b { "1" } else { "0" };
    println!(
        "    flags      {:#06x}  C={} K={} S={}  version {}",
        packet.flags(),
        yes(packet.checksum_present()),
        yes(packet.key_present()),
        yes(packet.sequence_present()),
        packet.version()
    );
    println!("    protocol   {}", packet.protocol_type());
    if let (Some(sum), Some(valid)) = (packet.checksum(), packet.checksum_valid()) {
        let verdict = if valid { "correct" } else { "WRONG" };
        println!("    checksum   {sum:#06x} ({verdict}, RFC 1071 over header + payload)");
    }
    if let Some(key) = packet.key() {
        println!("    key        {key} ({key:#010x})");
    }
    if let Some(sequence) = packet.sequence() {
        println!("    sequence   {sequence}");
    }
    println!(
        "    header     {} bytes, payload {} bytes",
        packet.header_len(),
        packet.payload().len()
    );
    println!("    summary    {repr}");
}

/// Encapsulates `payload` in place with `repr` and prints what happened.
fn show(title: &str, repr: Repr, payload: &[u8]) {
    println!("== {title} ==");
    // The payload is written once, after the headroom, as a TUN read or the NHRP encoder
    // would leave it; GRE only writes its header in front.
    let mut buf = vec![0u8; HEADROOM + payload.len()];
    buf[HEADROOM..].copy_from_slice(payload);
    let gre = repr.encapsulate(&mut buf, HEADROOM).expect("headroom fits");
    let header_len = repr.header_len();
    println!(
        "  payload at offset {HEADROOM}, GRE header ({header_len} bytes) written at offset {}, \
         {} bytes left for the outer IP header",
        HEADROOM - header_len,
        HEADROOM - header_len
    );
    println!("  GRE packet, {} bytes ([...] = GRE header):", gre.len());
    hexdump(gre, header_len);
    println!("  decoded:");
    describe(gre);
    println!();
}

fn main() {
    println!("GRE (RFC 2784 + RFC 2890) encapsulation demo\n");

    show(
        "1. spoke -> hub: NHRP Registration Request, tunnel key 100",
        Repr::new(ProtocolType::NHRP).with_key(100),
        &NHRP_REGISTRATION,
    );
    show(
        "2. IPv4 ping over GRE with sequence number 7 and checksum",
        Repr::new(ProtocolType::IPV4)
            .with_sequence(7)
            .with_checksum(),
        &ipv4_ping(),
    );
    show(
        "3. IPv6 over plain GRE",
        Repr::new(ProtocolType::IPV6),
        &ipv6_udp(),
    );

    println!("== 4. mGRE endpoint: tunnel key 100, sequence numbers per NBMA peer ==");
    let config = Config {
        key: Some(100),
        send_sequence: true,
        check_sequence: true,
        ..Config::default()
    };
    let mut spoke: Endpoint = Endpoint::new(config.clone()).expect("valid config");
    let mut hub: Endpoint = Endpoint::new(config).expect("valid config");
    let hub_nbma = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let spoke_nbma = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let ping = ipv4_ping();

    let mut sent = Vec::new();
    for _ in 0..3 {
        let mut buf = vec![0u8; HEADROOM + ping.len()];
        buf[HEADROOM..].copy_from_slice(&ping);
        let gre = spoke
            .encapsulate(hub_nbma, ProtocolType::IPV4, &mut buf, HEADROOM)
            .expect("encapsulates");
        sent.push(gre.to_vec());
    }
    let mut foreign = vec![0u8; 12 + ping.len()];
    foreign[12..].copy_from_slice(&ping);
    Repr::new(ProtocolType::IPV4)
        .with_key(200)
        .with_sequence(9)
        .emit(&mut foreign)
        .expect("fits");

    let arrivals: [(&str, &[u8]); 5] = [
        ("packet seq 0", &sent[0]),
        ("packet seq 2 (seq 1 delayed)", &sent[2]),
        ("packet seq 1 arrives late", &sent[1]),
        ("packet seq 2 replayed", &sent[2]),
        ("packet with tunnel key 200", &foreign),
    ];
    for (what, bytes) in arrivals {
        match hub.decapsulate(spoke_nbma, bytes) {
            Ok(d) => println!(
                "  hub <- {spoke_nbma}: {what:<30} accepted: {}, {} payload bytes",
                d.repr,
                d.payload.len()
            ),
            Err(reason) => {
                let kind = match reason {
                    DropReason::OutOfOrder { .. } | DropReason::Duplicate { .. } => "RFC 2890 §2.2",
                    _ => "RFC 2890 §2.1",
                };
                println!("  hub <- {spoke_nbma}: {what:<30} dropped: {reason} ({kind})");
            }
        }
    }
    let s = hub.stats();
    println!(
        "  hub counters: accepted {}, duplicate {}, out-of-order {}, key mismatch {}",
        s.rx_packets, s.drop_duplicate, s.drop_out_of_order, s.drop_key_mismatch
    );
}
