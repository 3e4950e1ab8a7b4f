//! Property: every valid Repr (consistent address families, encodable values) emits to
//! `buffer_len()` bytes that parse back to the same Repr, with a correct checksum, and the
//! validated view agrees with the Repr on every field.
#![allow(missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use nhrp::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn addr(f: Family) -> BoxedStrategy<IpAddr> {
    match f {
        Family::Ipv4 => any::<[u8; 4]>()
            .prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
            .boxed(),
        Family::Ipv6 => any::<[u8; 16]>()
            .prop_map(|a| IpAddr::V6(Ipv6Addr::from(a)))
            .boxed(),
    }
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::Ipv4), Just(Family::Ipv6)]
}

fn cie(nbma: Family, proto: Family) -> impl Strategy<Value = Cie> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        proptest::option::of(addr(nbma)),
        proptest::option::of(addr(proto)),
        any::<u8>(),
    )
        .prop_map(
            |(code, prefix_length, mtu, ht, client_nbma, client_proto, preference)| Cie {
                code: CieCode::from_u8(code),
                prefix_length,
                mtu,
                holding_time: Duration::from_secs(u64::from(ht)),
                client_nbma,
                client_proto,
                preference,
            },
        )
}

fn cies(nbma: Family, proto: Family, max: usize) -> impl Strategy<Value = Vec<Cie>> {
    vec(cie(nbma, proto), 0..=max)
}

fn extension(nbma: Family, proto: Family) -> impl Strategy<Value = Extension> {
    let value = prop_oneof![
        proptest::option::of(cie(nbma, proto)).prop_map(ExtensionValue::ResponderAddress),
        cies(nbma, proto, 3).prop_map(ExtensionValue::ForwardTransitNhs),
        cies(nbma, proto, 3).prop_map(ExtensionValue::ReverseTransitNhs),
        (any::<u16>(), any::<u16>(), vec(any::<u8>(), 0..24)).prop_map(|(reserved, spi, data)| {
            ExtensionValue::Authentication(Authentication {
                reserved,
                spi,
                data,
            })
        }),
        (0u32..=0x00ff_ffff, vec(any::<u8>(), 0..24))
            .prop_map(|(vendor_id, data)| ExtensionValue::VendorPrivate { vendor_id, data }),
        cies(nbma, proto, 3).prop_map(ExtensionValue::NatAddress),
        (
            (1u16..=0x7fff).prop_filter("known type", |t| ![3, 4, 5, 7, 8, 9].contains(t)),
            vec(any::<u8>(), 0..24)
        )
            .prop_map(|(ty, data)| ExtensionValue::Unknown { ty, data }),
    ];
    (any::<bool>(), value).prop_map(|(compulsory, value)| Extension { compulsory, value })
}

fn body(nbma: Family, proto: Family) -> impl Strategy<Value = Body> {
    let m = (any::<u16>(), any::<u32>(), cies(nbma, proto, 4))
        .prop_map(|(f, id, cies)| Mandatory::new(Flags(f), id, cies))
        .boxed();
    let payload = vec(any::<u8>(), 0..80).boxed();
    prop_oneof![
        m.clone().prop_map(Body::ResolutionRequest),
        m.clone().prop_map(Body::ResolutionReply),
        m.clone().prop_map(Body::RegistrationRequest),
        m.clone().prop_map(Body::RegistrationReply),
        m.clone().prop_map(Body::PurgeRequest),
        m.prop_map(Body::PurgeReply),
        (any::<u16>(), any::<u16>(), payload.clone()).prop_map(|(c, offset, packet)| {
            Body::ErrorIndication(ErrorIndication {
                code: ErrorCode::from_u16(c),
                offset,
                packet,
            })
        }),
        (any::<u16>(), any::<u32>(), payload).prop_map(|(traffic_code, reserved, packet)| {
            Body::TrafficIndication(TrafficIndication {
                traffic_code,
                reserved,
                packet,
            })
        }),
    ]
}

fn packet() -> impl Strategy<Value = PacketRepr> {
    (family(), family()).prop_flat_map(|(nbma, proto)| {
        (
            any::<u8>(),
            any::<bool>(),
            addr(nbma),
            addr(proto),
            addr(proto),
            body(nbma, proto),
            vec(extension(nbma, proto), 0..8),
        )
            .prop_map(
                |(hop_count, protocol_snap, src_nbma, src_proto, dst_proto, body, extensions)| {
                    PacketRepr {
                        hop_count,
                        protocol_snap,
                        src_nbma,
                        src_proto,
                        dst_proto,
                        body,
                        extensions,
                    }
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn repr_emit_parse_round_trip(r in packet()) {
        let mut buf = vec![0u8; r.buffer_len() + 7];
        let n = r.emit(&mut buf).expect("valid repr emits");
        prop_assert_eq!(n, r.buffer_len());
        let bytes = &buf[..n];
        prop_assert_eq!(checksum::sum(bytes), 0xffff);
        let view = Packet::parse(bytes).expect("parses");
        prop_assert_eq!(view.packet_type(), r.packet_type());
        prop_assert_eq!(view.hop_count(), r.hop_count);
        prop_assert_eq!(view.src_nbma(), r.src_nbma);
        prop_assert_eq!(view.src_proto(), r.src_proto);
        prop_assert_eq!(view.dst_proto(), r.dst_proto);
        prop_assert_eq!(view.extensions().count(), r.extensions.len());
        if let Some(m) = r.body.mandatory() {
            prop_assert_eq!(view.flags(), m.flags);
            prop_assert_eq!(view.request_id(), m.request_id);
            prop_assert_eq!(view.cies().count(), m.cies.len());
        }
        let back = view.to_repr().expect("converts");
        prop_assert_eq!(&back, &r);
        // Trailing bytes after ar$pktsz are ignored.
        prop_assert_eq!(PacketRepr::parse(&buf).expect("parses with trailer"), r);
    }

    #[test]
    fn every_truncation_is_a_typed_error(r in packet()) {
        let bytes = r.to_vec().expect("emits");
        for n in 0..bytes.len() {
            prop_assert!(Packet::parse(&bytes[..n]).is_err());
        }
    }

    #[test]
    fn any_single_byte_corruption_is_detected_or_harmless(r in packet(), pos in any::<usize>(), x in 1u8..=255) {
        let mut bytes = r.to_vec().expect("emits");
        let i = pos % bytes.len();
        bytes[i] ^= x;
        // The checksum catches every single-byte change.
        prop_assert!(Packet::parse(&bytes).is_err());
        // Without the checksum, parsing must still not panic, and whatever parses re-emits.
        if let Ok(p) = Packet::parse_unverified(&bytes)
            && let Ok(r2) = p.to_repr()
        {
            prop_assert!(r2.to_vec().is_ok());
        }
    }
}
