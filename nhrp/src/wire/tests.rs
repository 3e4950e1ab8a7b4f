//! Codec vectors: real packets (BSD-licensed tcpdump test captures and our FRR lab capture,
//! cut out of the GRE payload; capture and frame named at each), hand-built packets of every
//! type, and bad input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}
fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}
fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().expect("v6"))
}
/// Recomputes ar$chksum after a test mutated the bytes.
fn fix_checksum(b: &mut [u8]) {
    b[12] = 0;
    b[13] = 0;
    let c = checksum::checksum(b);
    b[12..14].copy_from_slice(&c.to_be_bytes());
}
fn pref0(mut c: Cie) -> Cie {
    c.preference = 0;
    c
}
fn ext_types(r: &PacketRepr) -> Vec<u16> {
    r.extensions.iter().map(Extension::ty).collect()
}

/// captures/nhrp/tcpdump-nhrp-registration.pcap frame 1 (Cisco IOS 2015): Registration Request.
const TCPDUMP_REG_REQ: &str = "000108000000000000ff006c197b0034010304000404800200000001a9fe64019b0100019b0100050020000045f81c20000000008003000080040000800500008007000c000000014e48525041555448000900140020000045f8000004000400a9fe64059b01000580000000";
/// Same capture, frame 2: Registration Reply with a Responder Address CIE.
const TCPDUMP_REG_REPLY: &str = "000108000000000000ff0080060f0034010404000404800200000001a9fe64019b0100019b0100050020000045f81c2000000000800300140020000045f81c2004000400a9fe64059b01000580040000800500008007000c000000014e48525041555448000900140020000045f8000004000400a9fe64059b01000580000000";
/// captures/nhrp/tcpdump-nhrp-trace.pcap frame 1 (Cisco 12.4T): Traffic Indication.
const TCPDUMP_TRAFFIC_IND: &str = "000108000000000000ff0062d9d00044010804000404000000000000c0a8c8010affff010affff034500006400050000ff01a78f0affff030affff020800325b0001000080040000800500008007000a000000017365637265740009000080000000";
/// Same capture, frame 4: Resolution Reply with Responder Address and Forward Transit records.
const TCPDUMP_RES_REPLY: &str = "000108000000000000ff0086659b003c010204000404f80200000005c0a8c8030affff030affff020020000005ea1c2004000400c0a8c8020affff02800300140000000005ea1c2004000400c0a8c8020affff02800400140000000005ea1c2004000400c0a8c8010affff01800500008007000a000000017365637265740009000080000000";
/// captures/nhrp/frr-nhrpd-registration.pcap frame 6 (FRR 8.4.4 hub): Registration Reply
/// with the Cisco NAT Address extension.
const FRR_REG_REPLY_NAT: &str = "0001080000000000004000703d2300340104040004040002000003ebc0a84d050aff00150aff0001002000000578025800000000800300140000000000000258040004006440c8020aff00018004000080050000000900140020000000000000040004006440c8010aff001580000000";
/// Same capture, frame 8: Resolution Request forwarded by the FRR hub (hop count 254).
const FRR_RES_REQ_FWD: &str = "000108000000000000fe005cdd8f00340101040004048002000003ec6440c8010aff000b0aff000c00000000057802580000000080030000800400140000000000000258040004006440c8020aff0001800500000009000080000000";
/// captures/nhrp/tcpdump-ios-nhrp.pcap frame 1: Registration Request without NAT extension.
const TCPDUMP_IOS_REG: &str = "000108000000000000ff0051e8e400340103040004048000000000050a000c02c0a80002c0a8000100ff000005ea001e000000008003000080040000800500008007000900000001434953434f80000000";

#[test]
fn real_packets_round_trip_to_identical_bytes() {
    for s in [
        TCPDUMP_REG_REQ,
        TCPDUMP_REG_REPLY,
        TCPDUMP_TRAFFIC_IND,
        TCPDUMP_RES_REPLY,
        FRR_REG_REPLY_NAT,
        FRR_RES_REQ_FWD,
        TCPDUMP_IOS_REG,
    ] {
        let b = h(s);
        let r = PacketRepr::parse(&b).expect(s);
        assert_eq!(r.buffer_len(), b.len());
        assert_eq!(r.to_vec().expect("emit"), b, "{s}");
    }
}

#[test]
fn cisco_registration_request_fields() {
    let b = h(TCPDUMP_REG_REQ);
    let p = Packet::parse(&b).expect("parse");
    assert_eq!(p.packet_type(), PacketType::RegistrationRequest);
    assert_eq!(p.hop_count(), 255);
    assert_eq!(p.checksum(), 0x197b);
    assert_eq!(p.extension_offset(), 52);
    assert_eq!(p.flags(), Flags::REGISTRATION_U | Flags::CISCO_NAT);
    assert_eq!(p.request_id(), 1);
    assert_eq!(p.src_nbma(), v4(169, 254, 100, 1));
    assert_eq!(p.src_proto(), v4(155, 1, 0, 1));
    assert_eq!(p.dst_proto(), v4(155, 1, 0, 5));
    let r = p.to_repr().expect("repr");
    let m = r.body.mandatory().expect("mandatory");
    // This IOS release sends preference 0 (netlessons' sends 255).
    assert_eq!(
        m.cies,
        vec![pref0(Cie::new(
            32,
            17912,
            Duration::from_secs(7200),
            None,
            None
        ))]
    );
    assert_eq!(ext_types(&r), [3, 4, 5, 7, 9]);
    let Some(ExtensionValue::Authentication(a)) = r.extension(7).map(|e| &e.value) else {
        panic!("no auth")
    };
    assert_eq!(a.cisco_password(), Some(&b"NHRPAUTH"[..]));
    let nat = r.extension(extension_type::CISCO_NAT_ADDRESS).expect("nat");
    assert!(!nat.compulsory);
    assert_eq!(
        nat.value,
        ExtensionValue::NatAddress(vec![pref0(Cie::new(
            32,
            17912,
            Duration::ZERO,
            Some(v4(169, 254, 100, 5)),
            Some(v4(155, 1, 0, 5))
        ))])
    );
}

#[test]
fn builder_reproduces_cisco_registration_request() {
    let hub = v4(155, 1, 0, 5);
    let req = PacketRepr::new(
        255,
        v4(169, 254, 100, 1),
        v4(155, 1, 0, 1),
        hub,
        Body::RegistrationRequest(Mandatory::new(
            Flags::REGISTRATION_U | Flags::CISCO_NAT,
            1,
            vec![pref0(Cie::new(
                32,
                17912,
                Duration::from_secs(7200),
                None,
                None,
            ))],
        )),
    )
    .with_extension(Extension::responder_address(None))
    .with_extension(Extension::forward_transit_nhs(vec![]))
    .with_extension(Extension::reverse_transit_nhs(vec![]))
    .with_extension(Extension::authentication(Authentication::cisco_plaintext(
        b"NHRPAUTH",
    )))
    .with_extension(Extension::nat_address(vec![pref0(Cie::new(
        32,
        17912,
        Duration::ZERO,
        Some(v4(169, 254, 100, 5)),
        Some(hub),
    ))]));
    let mut buf = [0u8; 200];
    let n = req.emit(&mut buf).expect("emit");
    assert_eq!(&buf[..n], &h(TCPDUMP_REG_REQ)[..]);
}

#[test]
fn registration_reply_responder_address() {
    let r = PacketRepr::parse(&h(TCPDUMP_REG_REPLY)).expect("parse");
    assert_eq!(r.packet_type(), PacketType::RegistrationReply);
    let resp = r
        .extension(extension_type::RESPONDER_ADDRESS)
        .expect("responder");
    assert!(resp.compulsory);
    let ExtensionValue::ResponderAddress(Some(c)) = &resp.value else {
        panic!("empty")
    };
    assert_eq!(c.client_nbma, Some(v4(169, 254, 100, 5)));
    assert_eq!(c.client_proto, Some(v4(155, 1, 0, 5)));
    assert_eq!(c.holding_time, Duration::from_secs(7200));
}

#[test]
fn traffic_indication_fields() {
    let b = h(TCPDUMP_TRAFFIC_IND);
    let p = Packet::parse(&b).expect("parse");
    assert_eq!(p.packet_type(), PacketType::TrafficIndication);
    assert_eq!(p.extension_offset(), 68);
    assert_eq!(p.src_nbma(), v4(192, 168, 200, 1));
    assert_eq!(p.dst_proto(), v4(10, 255, 255, 3));
    assert_eq!(p.cies().count(), 0);
    // The quoted packet: IPv4 10.255.255.3 -> 10.255.255.2.
    assert_eq!(p.payload().len(), 28);
    assert_eq!(&p.payload()[12..20], &[10, 255, 255, 3, 10, 255, 255, 2]);
    let r = p.to_repr().expect("repr");
    let Body::TrafficIndication(t) = &r.body else {
        panic!("body")
    };
    assert_eq!((t.traffic_code, t.reserved), (0, 0));
    assert_eq!(ext_types(&r), [4, 5, 7, 9]);
}

#[test]
fn resolution_reply_fields() {
    let r = PacketRepr::parse(&h(TCPDUMP_RES_REPLY)).expect("parse");
    let Body::ResolutionReply(m) = &r.body else {
        panic!("body")
    };
    assert_eq!(
        m.flags,
        Flags::RESOLUTION_Q
            | Flags::RESOLUTION_A
            | Flags::RESOLUTION_D
            | Flags::RESOLUTION_U
            | Flags::RESOLUTION_S
            | Flags::CISCO_NAT
    );
    assert_eq!(m.request_id, 5);
    assert_eq!(m.cies.len(), 1);
    assert_eq!(m.cies[0].prefix_length, 32);
    assert_eq!(m.cies[0].client_nbma, Some(v4(192, 168, 200, 2)));
    let fwd = r
        .extension(extension_type::FORWARD_TRANSIT_NHS)
        .expect("fwd");
    let ExtensionValue::ForwardTransitNhs(c) = &fwd.value else {
        panic!()
    };
    assert_eq!(c[0].client_proto, Some(v4(10, 255, 255, 1)));
}

#[test]
fn frr_nat_extension_and_forwarded_request() {
    let r = PacketRepr::parse(&h(FRR_REG_REPLY_NAT)).expect("parse");
    assert_eq!(r.hop_count, 64);
    let ExtensionValue::NatAddress(c) = &r.extension(9).expect("nat").value else {
        panic!()
    };
    assert_eq!(c[0].client_nbma, Some(v4(100, 64, 200, 1)));
    assert_eq!(c[0].client_proto, Some(v4(10, 255, 0, 21)));
    let f = PacketRepr::parse(&h(FRR_RES_REQ_FWD)).expect("parse");
    assert_eq!(f.hop_count, 254);
    assert_eq!(f.packet_type(), PacketType::ResolutionRequest);
}

fn sample_cie(nbma: IpAddr, proto: IpAddr) -> Cie {
    Cie::new(24, 1400, Duration::from_secs(600), Some(nbma), Some(proto))
}

/// Packets of every type and extension, for both families on both layers.
pub(crate) fn every_kind() -> Vec<PacketRepr> {
    let mut out = Vec::new();
    let fams: [(IpAddr, IpAddr, IpAddr, IpAddr); 4] = [
        (
            v4(192, 0, 2, 1),
            v4(10, 0, 0, 1),
            v4(10, 0, 0, 2),
            v4(192, 0, 2, 2),
        ),
        (
            v4(192, 0, 2, 1),
            v6("2001:db8::1"),
            v6("2001:db8::2"),
            v4(192, 0, 2, 2),
        ),
        (
            v6("2001:db8:f::1"),
            v4(10, 0, 0, 1),
            v4(10, 0, 0, 2),
            v6("2001:db8:f::2"),
        ),
        (
            v6("2001:db8:f::1"),
            v6("2001:db8::1"),
            v6("2001:db8::2"),
            v6("2001:db8:f::2"),
        ),
    ];
    for (nbma, src, dst, nbma2) in fams {
        let cie = sample_cie(nbma2, dst);
        let exts = vec![
            Extension::responder_address(Some(cie.clone())),
            Extension::forward_transit_nhs(vec![cie.clone(), sample_cie(nbma, src)]),
            Extension::reverse_transit_nhs(vec![cie.clone()]),
            Extension::authentication(Authentication::cisco_plaintext(b"secret")),
            Extension::vendor_private(0x00000c, b"\x01\x08SHAPE_1M".to_vec()),
            Extension::nat_address(vec![cie.clone()]),
            Extension {
                compulsory: false,
                value: ExtensionValue::Unknown {
                    ty: 0x1234,
                    data: vec![1, 2, 3],
                },
            },
        ];
        let m = |f: Flags| Mandatory::new(f, 0x1000_0001, vec![cie.clone()]);
        let bodies = vec![
            Body::ResolutionRequest(m(Flags::RESOLUTION_Q | Flags::CISCO_NAT)),
            Body::ResolutionReply(m(Flags::RESOLUTION_Q | Flags::RESOLUTION_A)),
            Body::RegistrationRequest(m(Flags::REGISTRATION_U)),
            Body::RegistrationReply(m(Flags::NONE)),
            Body::PurgeRequest(m(Flags::PURGE_N)),
            Body::PurgeReply(m(Flags::NONE)),
            Body::ErrorIndication(ErrorIndication {
                code: ErrorCode::LoopDetected,
                offset: 20,
                packet: h(TCPDUMP_IOS_REG),
            }),
            Body::TrafficIndication(TrafficIndication {
                traffic_code: 0,
                reserved: 0,
                packet: h("4500001c000100004011f8b50a0000020a0000030035003500080000"),
            }),
        ];
        for body in bodies {
            let no_ext = matches!(body, Body::ErrorIndication(_));
            let mut r = PacketRepr::new(255, nbma, src, dst, body);
            if !no_ext {
                r.extensions = exts.clone();
            }
            out.push(r);
        }
    }
    out
}

#[test]
fn every_kind_round_trips() {
    for r in every_kind() {
        let b = r.to_vec().expect("emit");
        let p = Packet::parse(&b).expect("parse");
        assert_eq!(p.packet_type(), r.packet_type());
        assert_eq!(p.to_repr().expect("repr"), r);
    }
}

#[test]
fn snap_protocol_type_round_trips() {
    let mut r = every_kind().remove(0);
    r.protocol_snap = true;
    let b = r.to_vec().expect("emit");
    assert_eq!(&b[2..9], &[0x00, 0x80, 0, 0, 0, 0x08, 0x00]);
    assert_eq!(PacketRepr::parse(&b).expect("parse"), r);
}

#[test]
fn rfc_and_frr_code_points_are_distinct_and_exact() {
    assert_eq!(CieCode::from_u8(12), CieCode::NoBindingExists);
    assert_eq!(CieCode::from_u8(11), CieCode::NoBindingExistsFrr);
    assert!(CieCode::from_u8(11).is_no_binding_exists());
    assert_eq!(CieCode::no_binding_exists(Dialect::FrrOpenNhrp).to_u8(), 11);
    assert_eq!(ErrorCode::from_u16(3), ErrorCode::LoopDetected);
    assert_eq!(ErrorCode::from_u16(2), ErrorCode::LoopDetectedFrr);
    assert_eq!(ErrorCode::loop_detected(Dialect::Rfc2332).to_u16(), 3);
    assert_eq!(ErrorCode::from_u16(11), ErrorCode::AuthenticationFailure);
    for v in 0..=255u8 {
        assert_eq!(CieCode::from_u8(v).to_u8(), v);
    }
    for v in 0..=300u16 {
        assert_eq!(ErrorCode::from_u16(v).to_u16(), v);
    }
}

// ---- bad input ----

#[test]
fn truncated_input_is_an_error_at_every_length() {
    let b = h(TCPDUMP_RES_REPLY);
    for n in 0..b.len() {
        assert!(Packet::parse(&b[..n]).is_err(), "len {n}");
    }
    assert!(matches!(
        Packet::parse(&b[..10]),
        Err(Error::Truncated {
            layer: Layer::FixedHeader,
            needed: 20,
            got: 10
        })
    ));
    assert!(matches!(
        Packet::parse(&b[..100]),
        Err(Error::Truncated {
            layer: Layer::Packet,
            needed: 134,
            got: 100
        })
    ));
}

#[test]
fn bad_checksum() {
    let mut b = h(TCPDUMP_REG_REQ);
    b[40] ^= 1;
    assert!(matches!(
        Packet::parse(&b),
        Err(Error::Checksum {
            expected: 0x197b,
            ..
        })
    ));
    let Err(Error::Checksum { computed, .. }) = Packet::parse(&b) else {
        panic!()
    };
    b[12..14].copy_from_slice(&computed.to_be_bytes());
    assert!(
        Packet::parse(&b).is_ok(),
        "the reported checksum is the right one"
    );
    b[40] ^= 1;
    assert!(Packet::parse_unverified(&b).is_ok());
}

#[test]
fn ext_offset_inside_mandatory_part() {
    let mut b = h(TCPDUMP_REG_REQ);
    b[14..16].copy_from_slice(&30u16.to_be_bytes());
    fix_checksum(&mut b);
    assert_eq!(
        Packet::parse(&b).err(),
        Some(Error::BadLength {
            layer: Layer::FixedHeader,
            field: "ar$extoff",
            value: 30
        })
    );
    b[14..16].copy_from_slice(&2000u16.to_be_bytes());
    fix_checksum(&mut b);
    assert!(matches!(
        Packet::parse(&b),
        Err(Error::BadLength {
            field: "ar$extoff",
            ..
        })
    ));
}

#[test]
fn cie_list_running_past_ext_offset() {
    let mut b = h(TCPDUMP_REG_REQ);
    // The mandatory CIE (12 bytes) ends at 52 = ar$extoff; claim a 4-byte client NBMA address.
    b[40 + 8] = 4;
    fix_checksum(&mut b);
    assert_eq!(
        Packet::parse(&b).err(),
        Some(Error::BadLength {
            layer: Layer::Cie,
            field: "ar$extoff",
            value: 12
        })
    );
}

#[test]
fn address_length_not_matching_family() {
    let mut b = h(TCPDUMP_REG_REQ);
    b[20] = 16; // Src Proto Len 16 with ar$pro.type IPv4
    fix_checksum(&mut b);
    assert!(matches!(
        Packet::parse(&b),
        Err(Error::AddressLength {
            field: "Src Proto Len",
            len: 16,
            ..
        })
    ));
    let mut b = h(TCPDUMP_REG_REQ);
    b[18] = 6; // ar$shtl
    fix_checksum(&mut b);
    assert!(matches!(
        Packet::parse(&b),
        Err(Error::AddressLength {
            field: "ar$shtl",
            ..
        })
    ));
    let mut b = h(TCPDUMP_REG_REQ);
    b[18] = 0x44; // E.164 bit with an IPv4 NBMA
    fix_checksum(&mut b);
    assert!(matches!(
        Packet::parse(&b),
        Err(Error::Unsupported {
            field: "ar$shtl",
            ..
        })
    ));
    let mut b = h(TCPDUMP_REG_REQ);
    b[19] = 2; // subaddress
    fix_checksum(&mut b);
    assert!(matches!(
        Packet::parse(&b),
        Err(Error::Unsupported {
            field: "ar$sstl",
            ..
        })
    ));
}

#[test]
fn missing_end_extension() {
    let b = h(TCPDUMP_IOS_REG);
    // Drop the End extension, fix ar$pktsz.
    let mut c = b[..b.len() - 4].to_vec();
    let n = c.len() as u16;
    c[10..12].copy_from_slice(&n.to_be_bytes());
    fix_checksum(&mut c);
    assert_eq!(
        Packet::parse(&c).err(),
        Some(Error::MissingEnd {
            layer: Layer::Extension
        })
    );
    // Data after End.
    let mut c = b.clone();
    c.extend_from_slice(&[0, 0]);
    let n = c.len() as u16;
    c[10..12].copy_from_slice(&n.to_be_bytes());
    fix_checksum(&mut c);
    assert!(matches!(
        Packet::parse(&c),
        Err(Error::BadLength {
            field: "data after End extension",
            value: 2,
            ..
        })
    ));
}

#[test]
fn extension_length_past_packet() {
    let mut b = h(TCPDUMP_IOS_REG);
    // Authentication extension header at offset 64: ty 0x8007, len 9 -> 200.
    assert_eq!(&b[64..66], &[0x80, 0x07]);
    b[66..68].copy_from_slice(&200u16.to_be_bytes());
    fix_checksum(&mut b);
    assert!(matches!(
        Packet::parse(&b),
        Err(Error::BadLength {
            layer: Layer::Extension,
            field: "extension length",
            value: 200
        })
    ));
}

#[test]
fn unsupported_header_values() {
    for (off, val, field) in [
        (16usize, 2u8, "ar$op.version"),
        (17, 9, "ar$op.type"),
        (1, 3, "ar$afn"),
        (2, 0x81, "ar$pro.type"),
    ] {
        let mut b = h(TCPDUMP_IOS_REG);
        b[off] = val;
        fix_checksum(&mut b);
        match Packet::parse(&b) {
            Err(Error::Unsupported { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn unknown_compulsory_extension_is_kept() {
    let mut r = PacketRepr::parse(&h(TCPDUMP_IOS_REG)).expect("parse");
    r.extensions.push(Extension {
        compulsory: true,
        value: ExtensionValue::Unknown {
            ty: 0x4003,
            data: vec![9; 5],
        },
    });
    let b = r.to_vec().expect("emit");
    let p = PacketRepr::parse(&b).expect("parse");
    assert_eq!(p, r);
    let e = p.extensions.last().expect("ext");
    assert!(e.compulsory);
    assert_eq!(e.ty(), 0x4003);
}

#[test]
fn emit_rejects_inconsistent_reprs() {
    let mut r = every_kind().remove(0);
    r.dst_proto = v6("2001:db8::9");
    assert!(matches!(r.to_vec(), Err(Error::Unencodable { .. })));
    let mut r = every_kind().remove(0);
    r.body.mandatory_mut().expect("m").cies[0].client_nbma = Some(v6("::1"));
    assert!(matches!(
        r.to_vec(),
        Err(Error::Unencodable {
            layer: Layer::Cie,
            ..
        })
    ));
    let mut r = every_kind().remove(0);
    r.body.mandatory_mut().expect("m").cies[0].holding_time = Duration::from_secs(70_000);
    assert!(matches!(
        r.to_vec(),
        Err(Error::Unencodable {
            field: "Holding Time",
            ..
        })
    ));
    let mut r = every_kind().remove(0);
    r.extensions.push(Extension {
        compulsory: true,
        value: ExtensionValue::Unknown {
            ty: 3,
            data: vec![],
        },
    });
    assert!(matches!(
        r.to_vec(),
        Err(Error::Unencodable {
            layer: Layer::Extension,
            ..
        })
    ));
    let r = every_kind().remove(0);
    let mut small = [0u8; 30];
    assert!(matches!(
        r.emit(&mut small),
        Err(Error::Truncated {
            layer: Layer::Packet,
            ..
        })
    ));
}

#[test]
fn pro_snap_is_ignored_with_a_short_form_type() {
    // RFC 2332 §5.1: ar$pro.snap "MUST be zero on transmit and ignored on receive".
    let mut b = h(TCPDUMP_IOS_REG);
    b[4..9].copy_from_slice(&[1, 2, 3, 4, 5]);
    fix_checksum(&mut b);
    let r = PacketRepr::parse(&b).expect("parse");
    assert!(!r.protocol_snap);
    assert_eq!(r.to_vec().expect("emit"), h(TCPDUMP_IOS_REG));
    // A SNAP long form that is not IP is unsupported.
    b[2..9].copy_from_slice(&[0x00, 0x80, 0, 0, 0, 0x08, 0x06]);
    fix_checksum(&mut b);
    assert!(matches!(
        Packet::parse(&b),
        Err(Error::Unsupported {
            field: "ar$pro.snap",
            ..
        })
    ));
}

#[test]
fn typed_extension_accessors() {
    let r = PacketRepr::parse(&h(TCPDUMP_RES_REPLY)).expect("parse");
    let resp = r.responder_address().expect("present").expect("non-empty");
    assert_eq!(resp.client_nbma, Some(v4(192, 168, 200, 2)));
    assert_eq!(r.forward_transit_nhs().expect("fwd").len(), 1);
    assert_eq!(r.reverse_transit_nhs(), Some(&[][..]));
    assert_eq!(
        r.authentication().and_then(Authentication::cisco_password),
        Some(&b"secret"[..])
    );
    assert_eq!(r.nat_address(), Some(&[][..]));
    assert_eq!(r.unknown_compulsory().count(), 0);
    let q = PacketRepr::parse(&h(TCPDUMP_IOS_REG)).expect("parse");
    assert_eq!(q.responder_address(), Some(None));
    assert_eq!(q.nat_address(), None);
    let mut u = q.clone();
    u.extensions.push(Extension {
        compulsory: true,
        value: ExtensionValue::Unknown {
            ty: 0x0abc,
            data: vec![],
        },
    });
    u.extensions.push(Extension {
        compulsory: false,
        value: ExtensionValue::Unknown {
            ty: 0x0abd,
            data: vec![],
        },
    });
    let unknown: Vec<u16> = u.unknown_compulsory().map(Extension::ty).collect();
    assert_eq!(unknown, [0x0abc]);
}

#[test]
fn ext_offset_at_packet_end_needs_an_end_extension() {
    // ar$extoff = ar$pktsz: an extension part is announced but holds nothing, not even End.
    let b = h(TCPDUMP_IOS_REG);
    let mut c = b[..52].to_vec();
    c[10..12].copy_from_slice(&52u16.to_be_bytes());
    assert_eq!(u16::from_be_bytes([c[14], c[15]]), 52);
    fix_checksum(&mut c);
    assert_eq!(
        Packet::parse(&c).err(),
        Some(Error::MissingEnd {
            layer: Layer::Extension
        })
    );
    assert!(PacketRepr::parse(&c).is_err());
    // With ar$extoff = 0 the same bytes are a packet without extensions.
    c[14..16].copy_from_slice(&[0, 0]);
    fix_checksum(&mut c);
    let r = PacketRepr::parse(&c).expect("parse");
    assert!(r.extensions.is_empty());
    assert_eq!(r.to_vec().expect("emit"), c);
}
