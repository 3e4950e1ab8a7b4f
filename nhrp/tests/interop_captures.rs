//! Every NHRP packet of the real captures in `../shared/captures/nhrp/` (Cisco IOS/IOS-XE
//! registrations incl. IPv6-over-IPv4 and the QoS group extension, phase 2 resolution, phase 3
//! Traffic Indication, dual-hub registration, responder address, FRR nhrpd replies incl. the
//! NAT extension and the forwarded resolution request) parses; the parsed fields equal what
//! tshark reports for the same frame, field by field; parse -> emit gives identical bytes.
//!
//! Runs only with `DMVPN_INTEROP` set (needs tshark and ../shared).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use nhrp::wire::{Packet, PacketRepr};

const CAPTURES: &[&str] = &[
    "netlessons-dmvpn-ipv6-over-ipv4-registrations.pcap",
    "netlessons-dmvpn-nhrp-registration.pcap",
    "netlessons-dmvpn-phase2-resolution.pcapng",
    "netlessons-dmvpn-phase3-spoke-hub-spoke.pcap",
    "netlessons-dmvpn-phase3-traffic-indication.pcap",
    "netlessons-dmvpn-qos-nhrp-registrations.pcap",
    "packetlife-mgre-icmp-nhrp-resolution.pcap",
    "packetlife-nhrp-registration.pcap",
    "tcpdump-ios-nhrp.pcap",
    "tcpdump-nhrp-dual-hub-registration.pcapng",
    "tcpdump-nhrp-registration.pcap",
    "tcpdump-nhrp-responder-address.pcap",
    "tcpdump-nhrp-trace.pcap",
    "frr-nhrpd-registration.pcap",
    "frr-nhrpd-registration-esp.pcap",
];

#[test]
fn every_capture_packet_matches_tshark_and_round_trips() {
    if !interop_enabled("interop_captures") {
        return;
    }
    let ws = WsConfig::new("captures");
    let mut total = 0;
    for name in CAPTURES {
        let path = captures_dir().join(name);
        assert!(path.exists(), "capture missing: {}", path.display());
        let ours = extract_nhrp(&path);
        let theirs = tshark_frames(&ws, &path);
        let our_frames: Vec<u32> = ours.iter().map(|(f, _)| *f).collect();
        let their_frames: Vec<u32> = theirs.keys().copied().collect();
        assert_eq!(our_frames, their_frames, "{name}: NHRP frames found");
        assert!(!ours.is_empty(), "{name}: no NHRP frame");
        for (frame, bytes) in &ours {
            let p = Packet::parse(bytes).unwrap_or_else(|e| panic!("{name} frame {frame}: {e}"));
            let got = our_fields(&p);
            let want = &theirs[frame];
            for (i, field) in FIELDS.iter().enumerate() {
                assert_eq!(
                    got[i],
                    want.get(i).cloned().unwrap_or_default(),
                    "{name} frame {frame}: field {field}"
                );
            }
            let repr = p.to_repr().unwrap();
            assert_eq!(
                &repr.to_vec().unwrap(),
                bytes,
                "{name} frame {frame}: re-emit"
            );
            assert_eq!(PacketRepr::parse(bytes).unwrap(), repr);
            total += 1;
        }
    }
    println!(
        "interop_captures: {total} NHRP packets in {} captures match tshark",
        CAPTURES.len()
    );
    assert!(
        total >= 80,
        "expected every NHRP packet of the captures, got {total}"
    );
}
