//! Codec vectors (real captures and hand-checked synthetic packets), receive-rule tests and the
//! proptest round trip.

use super::header::{FLAG_ROUTING, FLAG_STRICT_SOURCE_ROUTE, RESERVED0_IGNORED};
use super::*;
use proptest::prelude::*;

/// Parses `bytes`, checks the decoded fields, re-emits the header in front of the payload and
/// requires the result to be byte-identical to the input.
fn parse_and_reemit(bytes: &[u8], expected: Repr, payload_len: usize) {
    let packet = Packet::parse(bytes).expect("vector parses");
    let repr = Repr::parse(&packet).expect("vector decodes");
    assert_eq!(repr, expected);
    assert_eq!(packet.payload().len(), payload_len);
    assert_eq!(packet.header_len() + payload_len, bytes.len());

    let mut buf = vec![0u8; 32 + payload_len];
    buf[32..].copy_from_slice(packet.payload());
    let emitted = repr.encapsulate(&mut buf, 32).expect("headroom suffices");
    assert_eq!(emitted, bytes, "re-emitted packet differs");
}

// ---- Real captures (tcpdump test suite, BSD-3-Clause; see shared/captures/README.md) ----

/// `gre/tcpdump-various-gre.pcap` frame 12: the Cisco GRE keepalive as the peer returns it —
/// the inner GRE header of frame 11, tunnel key 0x28, protocol type 0x0000, no payload.
const CISCO_KEEPALIVE_RETURN: [u8; 8] = [0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x28];

/// `gre/tcpdump-various-gre.pcap` frame 11: GRE (key 0x28) carrying a Cisco MetaData (TrustSec
/// CMD, 0x8909) header, then IPv4 10.172.64.6 -> 10.172.64.7 proto 47 whose payload is the
/// keepalive of frame 12. Whole IPv4 payload of the frame.
const CISCO_KEEPALIVE_CMD: [u8; 44] = [
    0x20, 0x00, 0x89, 0x09, 0x00, 0x00, 0x00, 0x28, // GRE: K, proto 0x8909, key 40
    0x08, 0x00, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, // CMD header, next 0x0800
    0x45, 0xc0, 0x00, 0x1c, 0x00, 0xa3, 0x00, 0x00, 0xff, 0x2f, 0x24, 0xeb, 0x0a, 0xac, 0x40, 0x06,
    0x0a, 0xac, 0x40, 0x07, // inner IPv4, protocol 47
    0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x28, // inner GRE keepalive
];

/// `gre/tcpdump-various-gre.pcap` frame 49, first 28 bytes of the 361-byte IPv4 payload:
/// CDP (0x2000) over GRE with key 0x28 (payload cut after the CDP device-id TLV start).
const CDP_OVER_GRE: [u8; 28] = [
    0x20, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x28, 0x02, 0xb4, 0xa8, 0x2e, 0x00, 0x01, 0x00, 0x06,
    0x52, 0x31, 0x00, 0x05, 0x01, 0x05, 0x43, 0x69, 0x73, 0x63, 0x6f, 0x20,
];

/// `gre/tcpdump-wccp-redirect-gre.pcap` frame 1, first 24 bytes of the 248-byte IPv4 payload:
/// plain GRE, protocol type 0x883E (WCCP redirect header), then the WCCP header and IPv4.
const WCCP_REDIRECT: [u8; 24] = [
    0x00, 0x00, 0x88, 0x3e, 0x05, 0x59, 0x00, 0x48, 0x45, 0x00, 0x00, 0xf0, 0x91, 0x14, 0x40, 0x00,
    0x40, 0x06, 0xa6, 0x50, 0x0a, 0xfe, 0x7f, 0xc3,
];

/// `nhrp/tcpdump-ios-nhrp.pcap` frame 1, the whole IPv4 payload: Cisco IOS DMVPN GRE, no key,
/// protocol type 0x2001 carrying an 81-byte NHRP Registration Request (op type 3, source NBMA
/// 10.0.12.2, protocol addresses 192.168.0.2 -> 192.168.0.1, authentication extension "CISCO").
pub(crate) const DMVPN_NHRP_REGISTRATION: [u8; 85] = [
    0x00, 0x00, 0x20, 0x01, // GRE: no flags, proto NHRP
    0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x51, 0xe8, 0xe4, 0x00, 0x34,
    0x01, 0x03, 0x04, 0x00, 0x04, 0x04, 0x80, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0a, 0x00, 0x0c, 0x02,
    0xc0, 0xa8, 0x00, 0x02, 0xc0, 0xa8, 0x00, 0x01, 0x00, 0xff, 0x00, 0x00, 0x05, 0xea, 0x00, 0x1e,
    0x00, 0x00, 0x00, 0x00, 0x80, 0x03, 0x00, 0x00, 0x80, 0x04, 0x00, 0x00, 0x80, 0x05, 0x00, 0x00,
    0x80, 0x07, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x43, 0x49, 0x53, 0x43, 0x4f, 0x80, 0x00, 0x00,
    0x00,
];

#[test]
fn capture_cisco_keepalive_return() {
    parse_and_reemit(
        &CISCO_KEEPALIVE_RETURN,
        Repr::new(ProtocolType::CISCO_KEEPALIVE).with_key(0x28),
        0,
    );
    let packet = Packet::parse(&CISCO_KEEPALIVE_RETURN).expect("parses");
    assert_eq!(packet.flags(), 0x2000);
    assert!(packet.key_present() && !packet.checksum_present() && !packet.sequence_present());
    assert_eq!(packet.checksum(), None);
    assert_eq!(packet.sequence(), None);
}

#[test]
fn capture_cisco_keepalive_nested() {
    parse_and_reemit(
        &CISCO_KEEPALIVE_CMD,
        Repr::new(ProtocolType::CISCO_METADATA).with_key(40),
        36,
    );
    // Walk into the keepalive: CMD (8 bytes), IPv4 (20 bytes, protocol 47), inner GRE.
    let outer = Packet::parse(&CISCO_KEEPALIVE_CMD).expect("parses");
    let ipv4 = &outer.payload()[8..];
    assert_eq!(ipv4[9], 47);
    let inner = Packet::parse(&ipv4[20..]).expect("inner GRE parses");
    assert_eq!(inner.protocol_type(), ProtocolType::CISCO_KEEPALIVE);
    assert_eq!(inner.key(), Some(0x28));
    assert_eq!(inner.as_bytes(), &CISCO_KEEPALIVE_RETURN);
}

#[test]
fn capture_cdp_over_gre() {
    parse_and_reemit(
        &CDP_OVER_GRE,
        Repr::new(ProtocolType::CDP).with_key(0x28),
        20,
    );
}

#[test]
fn capture_wccp_redirect() {
    parse_and_reemit(&WCCP_REDIRECT, Repr::new(ProtocolType::WCCP), 20);
    let packet = Packet::parse(&WCCP_REDIRECT).expect("parses");
    assert_eq!(packet.flags(), 0);
    assert_eq!(packet.key(), None);
}

#[test]
fn capture_dmvpn_nhrp() {
    parse_and_reemit(&DMVPN_NHRP_REGISTRATION, Repr::new(ProtocolType::NHRP), 81);
    let packet = Packet::parse(&DMVPN_NHRP_REGISTRATION).expect("parses");
    // NHRP fixed header: AFN 1 (IPv4), protocol 0x0800, op version 1, op type 3.
    assert_eq!(&packet.payload()[..4], &[0x00, 0x01, 0x08, 0x00]);
    assert_eq!(packet.payload()[17], 3);
}

// ---- Synthetic vectors, checked by hand and by tshark (tests/interop_tshark.rs) ----

/// C|K|S, IPv4, key 100, sequence 7, payload 01 02 03 04 05. Checksum 0x3e8e: the one's
/// complement of 0xb000 + 0x0800 + 0x0064 + 0x0007 + 0x0102 + 0x0304 + 0x0500 = 0xc171.
const ALL_OPTIONS: [u8; 21] = [
    0xb0, 0x00, 0x08, 0x00, 0x3e, 0x8e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x07,
    0x01, 0x02, 0x03, 0x04, 0x05,
];

#[test]
fn all_options_vector() {
    let repr = Repr::new(ProtocolType::IPV4)
        .with_checksum()
        .with_key(100)
        .with_sequence(7);
    parse_and_reemit(&ALL_OPTIONS, repr, 5);
    let packet = Packet::parse(&ALL_OPTIONS).expect("parses");
    assert_eq!(packet.checksum(), Some(0x3e8e));
    assert_eq!(packet.reserved1(), Some(0));
    assert_eq!(packet.checksum_valid(), Some(true));
    assert_eq!(packet.header_len(), 16);
    assert_eq!(repr.header_len(), Repr::MAX_HEADER_LEN);
    assert_eq!(repr.buffer_len(5), 21);
    assert_eq!(
        repr.to_string(),
        "GRE proto IPv4 (0x0800) key 100 (0x00000064) seq 7 csum"
    );
}

#[test]
fn sequence_without_key_and_checksum_without_key() {
    // S only: the sequence number is the first optional word.
    let seq_only = [0x10, 0x00, 0x86, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x60];
    parse_and_reemit(
        &seq_only,
        Repr::new(ProtocolType::IPV6).with_sequence(u32::MAX),
        1,
    );
    // C|S: sequence after the checksum word.
    let mut buf = [0u8; 12 + 3];
    buf[12..].copy_from_slice(&[1, 2, 3]);
    let repr = Repr::new(ProtocolType(0x1234))
        .with_checksum()
        .with_sequence(9);
    repr.emit(&mut buf).expect("fits");
    let packet = Packet::parse(&buf).expect("parses");
    assert_eq!(packet.sequence(), Some(9));
    assert_eq!(packet.key(), None);
    assert_eq!(Repr::parse(&packet), Ok(repr));
}

// ---- Receive rules ----

#[test]
fn truncated_reports_layer_needed_got() {
    for len in 0..ALL_OPTIONS.len() {
        let result = Packet::parse(&ALL_OPTIONS[..len]);
        if len < 16 {
            let needed = if len < 4 { 4 } else { 16 };
            assert_eq!(
                result,
                Err(Error::Truncated {
                    layer: Layer::Gre,
                    needed,
                    got: len
                }),
                "length {len}"
            );
        } else {
            assert!(result.is_ok(), "length {len}");
        }
    }
    // A header that announces only a key needs 8 bytes.
    assert_eq!(
        Packet::parse(&[0x20, 0x00, 0x08, 0x00, 0x00]),
        Err(Error::Truncated {
            layer: Layer::Gre,
            needed: 8,
            got: 5
        })
    );
}

#[test]
fn version_other_than_zero_is_unsupported() {
    // PPTP enhanced GRE (RFC 2637): K|S|A, version 1, protocol PPP, payload length, call id,
    // sequence, ack — the shape of packetlife-gre-and-4over6.pcap frame 1 (flags 0x3081).
    let pptp = [
        0x30, 0x81, 0x88, 0x0b, 0x00, 0x00, 0x00, 0x06, 0x00, 0x06, 0x8f, 0xb1, 0x00, 0x06, 0x8f,
        0xb0,
    ];
    assert_eq!(
        Packet::parse(&pptp),
        Err(Error::Unsupported {
            layer: Layer::Gre,
            field: "version",
            value: 1
        })
    );
    for version in 1..=7u8 {
        let bytes = [0x00, version, 0x08, 0x00];
        assert!(
            matches!(Packet::parse(&bytes), Err(Error::Unsupported { value, .. }) if value == u32::from(version))
        );
    }
}

#[test]
fn reserved_bits_one_four_five_are_discarded() {
    for bit in [FLAG_ROUTING, FLAG_STRICT_SOURCE_ROUTE, 0x0400] {
        let [hi, lo] = bit.to_be_bytes();
        // Enough bytes for any header, so only the reserved rule can fail.
        let bytes = [hi, lo, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Packet::parse(&bytes),
            Err(Error::Reserved {
                layer: Layer::Gre,
                field: "reserved0",
                bits: bit
            }),
            "bit {bit:#06x}"
        );
    }
}

#[test]
fn reserved_bits_six_to_twelve_are_ignored() {
    for shift in 3..=9 {
        let bit = 1u16 << shift;
        assert_ne!(bit & RESERVED0_IGNORED, 0);
        let [hi, lo] = (bit | 0x2000).to_be_bytes();
        let bytes = [hi, lo, 0x08, 0x00, 0, 0, 0, 5, 0xaa];
        let packet = Packet::parse(&bytes).expect("bits 6-12 are ignored on receipt");
        assert_eq!(packet.reserved0(), bit);
        let repr = Repr::parse(&packet).expect("decodes");
        assert_eq!(repr, Repr::new(ProtocolType::IPV4).with_key(5));
        // Re-emitted with the bit cleared (RFC 2784 §2.3: sent as zero).
        let mut out = bytes;
        repr.emit(&mut out).expect("fits");
        assert_eq!(out[..2], [0x20, 0x00]);
    }
}

#[test]
fn bad_checksum_is_rejected_by_repr_not_view() {
    for byte in 0..ALL_OPTIONS.len() {
        let mut corrupted = ALL_OPTIONS;
        corrupted[byte] ^= 0x01;
        let Ok(packet) = Packet::parse(&corrupted) else {
            continue; // flipped a flag bit: another rule applies
        };
        if !packet.checksum_present() {
            continue;
        }
        assert_eq!(packet.checksum_valid(), Some(false), "byte {byte}");
        assert_eq!(
            Repr::parse(&packet),
            Err(Error::Checksum { layer: Layer::Gre })
        );
    }
}

#[test]
fn checksum_ffff_and_0000_are_both_accepted_for_zero_sum() {
    // C set, protocol 0x4fff: words 0x8000 + 0x4fff + ... choose a payload making the sum
    // 0xffff so that the computed checksum is 0x0000; storing 0xffff is equally valid.
    let mut bytes = [0x80, 0x00, 0x4f, 0xff, 0x00, 0x00, 0x00, 0x00, 0x30, 0x00];
    assert_eq!(crate::checksum::ones_complement_sum(&bytes), 0xffff);
    assert!(Repr::parse(&Packet::parse(&bytes).expect("parses")).is_ok());
    bytes[4] = 0xff;
    bytes[5] = 0xff;
    assert!(Repr::parse(&Packet::parse(&bytes).expect("parses")).is_ok());
}

#[test]
fn reserved1_is_ignored_on_receipt() {
    let mut bytes = ALL_OPTIONS;
    // Put 0x0102 into Reserved1 and fix the checksum so only Reserved1 differs.
    bytes[6] = 0x01;
    bytes[7] = 0x02;
    bytes[4] = 0;
    bytes[5] = 0;
    let sum = crate::checksum::internet_checksum(&bytes);
    bytes[4..6].copy_from_slice(&sum.to_be_bytes());
    let packet = Packet::parse(&bytes).expect("parses");
    assert_eq!(packet.reserved1(), Some(0x0102));
    assert!(Repr::parse(&packet).is_ok());
}

// ---- Emit errors ----

#[test]
fn emit_needs_room_for_header() {
    let repr = Repr::new(ProtocolType::IPV4).with_key(1).with_sequence(2);
    let mut small = [0u8; 11];
    assert_eq!(
        repr.emit(&mut small),
        Err(Error::Truncated {
            layer: Layer::Gre,
            needed: 12,
            got: 11
        })
    );
    let mut buf = [0u8; 20];
    assert_eq!(
        repr.encapsulate(&mut buf, 11),
        Err(Error::Truncated {
            layer: Layer::Gre,
            needed: 12,
            got: 11
        })
    );
    assert_eq!(
        repr.encapsulate(&mut buf, 21),
        Err(Error::BadLength {
            layer: Layer::Payload,
            field: "payload_start",
            value: 21
        })
    );
    // Exactly enough headroom, empty payload.
    let packet = repr.encapsulate(&mut buf, 20).expect("fits");
    assert_eq!(packet.len(), 12);
}

#[test]
fn encapsulate_leaves_payload_and_front_untouched() {
    let mut buf = [0xeeu8; 40];
    for (i, b) in buf[24..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let repr = Repr::new(ProtocolType::IPV6).with_key(7);
    let len = repr.encapsulate(&mut buf, 24).expect("fits").len();
    assert_eq!(len, 8 + 16);
    assert!(
        buf[..16].iter().all(|b| *b == 0xee),
        "outer headroom untouched"
    );
    assert_eq!(&buf[16..24], &[0x20, 0x00, 0x86, 0xdd, 0, 0, 0, 7]);
    assert!(buf[24..].iter().enumerate().all(|(i, b)| *b == i as u8));
}

#[test]
fn error_messages_name_layer_and_numbers() {
    let e = Error::Truncated {
        layer: Layer::Gre,
        needed: 16,
        got: 3,
    };
    assert_eq!(e.to_string(), "GRE: truncated, need 16 bytes, got 3");
    let e = Error::Reserved {
        layer: Layer::Gre,
        field: "reserved0",
        bits: 0x4000,
    };
    assert_eq!(e.to_string(), "GRE: reserved bits 0x4000 set in reserved0");
}

// ---- Property tests ----

fn any_repr() -> impl Strategy<Value = Repr> {
    (
        any::<u16>(),
        any::<bool>(),
        any::<Option<u32>>(),
        any::<Option<u32>>(),
    )
        .prop_map(|(protocol_type, checksum, key, sequence)| Repr {
            protocol_type: ProtocolType(protocol_type),
            checksum,
            key,
            sequence,
        })
}

proptest! {
    #[test]
    fn repr_round_trip(
        repr in any_repr(),
        payload in proptest::collection::vec(any::<u8>(), 0..1500),
        extra_headroom in 0usize..24,
    ) {
        let start = repr.header_len() + extra_headroom;
        let mut buf = vec![0u8; start + payload.len()];
        buf[start..].copy_from_slice(&payload);
        let packet_bytes = repr.encapsulate(&mut buf, start).expect("headroom suffices");
        prop_assert_eq!(packet_bytes.len(), repr.buffer_len(payload.len()));

        let packet = Packet::parse(packet_bytes).expect("emitted packet parses");
        prop_assert_eq!(Repr::parse(&packet), Ok(repr));
        prop_assert_eq!(packet.payload(), &payload[..]);
        prop_assert_eq!(packet.header_len(), repr.header_len());
        prop_assert_eq!(packet.checksum_valid(), repr.checksum.then_some(true));
    }

    #[test]
    fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        crate::fuzzing::gre_packet_decode(&data);
    }
}
