//! Every GRE frame of the real captures in `shared/captures/{gre,nhrp}/` (Cisco IOS/IOS-XE GRE
//! and DMVPN, keepalives, WCCP, GRE bonding over IPv6, PPTP) decodes to the facts listed in
//! `shared/captures/README.md` and re-emits byte-identically.
//!
//! The captures are read in place (several have no redistribution licence, so they are not
//! copied into this repository). Without `../shared` the test prints why and passes; with
//! `DMVPN_INTEROP` set a missing capture is a failure.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::fs::File;
use std::path::{Path, PathBuf};

use etherparse::{IpNumber, SlicedPacket};
use gre::wire::{Error, Layer, Packet, ProtocolType, Repr};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/captures");

/// What the README says about the GRE frames of one capture.
struct Facts {
    file: &'static str,
    /// Number of frames whose outermost IP payload is GRE.
    gre_frames: usize,
    /// Expected first 16-bit word (flags and version) of every outer GRE header.
    flags: u16,
    /// Expected protocol types (any of).
    protocols: &'static [ProtocolType],
    /// Expected key of every GRE header.
    key: Option<u32>,
}

const FACTS: &[Facts] = &[
    Facts {
        file: "gre/netlessons-gre-with-key.pcapng",
        gre_frames: 2,
        flags: 0x2000,
        protocols: &[ProtocolType::IPV4],
        key: Some(1),
    },
    Facts {
        file: "gre/netlessons-gre-without-key.pcapng",
        gre_frames: 2,
        flags: 0,
        protocols: &[ProtocolType::IPV4],
        key: None,
    },
    Facts {
        file: "gre/netlessons-dmvpn-gre-icmp.pcap",
        gre_frames: 10,
        flags: 0,
        protocols: &[ProtocolType::IPV4],
        key: None,
    },
    Facts {
        file: "gre/netlessons-dmvpn-phase1-spoke-via-hub-icmp.pcap",
        gre_frames: 20,
        flags: 0,
        protocols: &[ProtocolType::IPV4],
        key: None,
    },
    Facts {
        file: "gre/netlessons-dmvpn-phase3-spoke-spoke-icmp.pcapng",
        gre_frames: 10,
        flags: 0,
        protocols: &[ProtocolType::IPV4],
        key: None,
    },
    Facts {
        file: "gre/packetlife-gre-icmp.pcap",
        gre_frames: 10,
        flags: 0,
        protocols: &[ProtocolType::IPV4],
        key: None,
    },
    Facts {
        file: "gre/tcpdump-various-gre.pcap",
        gre_frames: 30,
        flags: 0x2000,
        protocols: &[
            ProtocolType::CISCO_METADATA,
            ProtocolType::CISCO_KEEPALIVE,
            ProtocolType::CDP,
        ],
        key: Some(0x28),
    },
    Facts {
        file: "gre/tcpdump-wccp-redirect-gre.pcap",
        gre_frames: 1,
        flags: 0,
        protocols: &[ProtocolType::WCCP],
        key: None,
    },
    Facts {
        file: "gre/wswiki-gre-bonding-key-ipv6.pcap",
        gre_frames: 10,
        flags: 0x2000,
        protocols: &[ProtocolType::GRE_BONDING_CONTROL],
        key: Some(0xcffe_710a),
    },
    Facts {
        file: "gre/wswiki-gre-icmp.pcap",
        gre_frames: 20,
        flags: 0,
        protocols: &[ProtocolType::IPV4],
        key: None,
    },
    Facts {
        file: "nhrp/netlessons-dmvpn-nhrp-registration.pcap",
        gre_frames: 2,
        flags: 0,
        protocols: &[ProtocolType::NHRP],
        key: None,
    },
    Facts {
        file: "nhrp/tcpdump-ios-nhrp.pcap",
        gre_frames: 1,
        flags: 0,
        protocols: &[ProtocolType::NHRP],
        key: None,
    },
];

/// Link-layer frames of a pcap or pcapng file (all captures used here are Ethernet).
fn frames(path: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let is_ng = std::fs::read(path).unwrap()[..4] == [0x0a, 0x0d, 0x0d, 0x0a];
    if is_ng {
        let mut reader = PcapNgReader::new(File::open(path).unwrap()).unwrap();
        while let Some(block) = reader.next_block() {
            match block.unwrap() {
                Block::EnhancedPacket(p) => out.push(p.data.to_vec()),
                Block::SimplePacket(p) => out.push(p.data.to_vec()),
                _ => {}
            }
        }
    } else {
        let mut reader = PcapReader::new(File::open(path).unwrap()).unwrap();
        while let Some(packet) = reader.next_packet() {
            out.push(packet.unwrap().data.to_vec());
        }
    }
    out
}

/// The payload of the first IP header carrying GRE (descending through IP-in-IP / 4over6).
fn gre_payload(frame: &[u8]) -> Option<Vec<u8>> {
    let mut sliced = SlicedPacket::from_ethernet(frame).ok()?;
    loop {
        let payload = sliced.net.as_ref()?.ip_payload_ref()?;
        match payload.ip_number {
            IpNumber::GRE => return Some(payload.payload.to_vec()),
            IpNumber::IPV4 | IpNumber::IPV6 => {
                sliced = SlicedPacket::from_ip(payload.payload).ok()?
            }
            _ => return None,
        }
    }
}

fn capture(file: &str) -> Option<PathBuf> {
    let path = Path::new(CAPTURES).join(file);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("DMVPN_INTEROP").is_none(),
        "DMVPN_INTEROP is set but {} is missing",
        path.display()
    );
    println!("captures: skipped, {} not found", path.display());
    None
}

#[test]
fn real_captures_decode_and_reemit_byte_identically() {
    let mut total = 0;
    for facts in FACTS {
        let Some(path) = capture(facts.file) else {
            return;
        };
        let mut gre_frames = 0;
        for (index, frame) in frames(&path).iter().enumerate() {
            let Some(bytes) = gre_payload(frame) else {
                continue;
            };
            gre_frames += 1;
            let what = format!("{} frame {}", facts.file, index + 1);
            let packet = Packet::parse(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(packet.flags(), facts.flags, "{what}");
            assert_eq!(packet.key(), facts.key, "{what}");
            assert!(
                facts.protocols.contains(&packet.protocol_type()),
                "{what}: {}",
                packet.protocol_type()
            );
            let repr = Repr::parse(&packet).unwrap_or_else(|e| panic!("{what}: {e}"));

            let mut buf = vec![0u8; Repr::MAX_HEADER_LEN + packet.payload().len()];
            buf[Repr::MAX_HEADER_LEN..].copy_from_slice(packet.payload());
            let emitted = repr.encapsulate(&mut buf, Repr::MAX_HEADER_LEN).unwrap();
            assert_eq!(emitted, &bytes[..], "{what}: re-emitted bytes differ");
        }
        assert_eq!(gre_frames, facts.gre_frames, "{}", facts.file);
        total += gre_frames;
    }
    println!("captures: {total} GRE frames decoded and re-emitted byte-identically");
}

/// `gre/packetlife-gre-and-4over6.pcap`: VLAN → IPv6 → IPv4 → enhanced GRE version 1 (PPTP,
/// flags 0x3081 and 0x3001) — RFC 2784 §2.3.1 says to discard, with a typed error.
#[test]
fn pptp_enhanced_gre_is_unsupported() {
    let Some(path) = capture("gre/packetlife-gre-and-4over6.pcap") else {
        return;
    };
    let mut seen = 0;
    for frame in frames(&path) {
        let Some(bytes) = gre_payload(&frame) else {
            continue;
        };
        assert_eq!(
            Packet::parse(&bytes),
            Err(Error::Unsupported {
                layer: Layer::Gre,
                field: "version",
                value: 1
            })
        );
        seen += 1;
    }
    assert_eq!(seen, 2);
}
