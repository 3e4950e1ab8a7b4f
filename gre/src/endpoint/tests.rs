//! Endpoint behaviour: key demultiplexing, RFC 2890 §2.2 sequencing, counters, bounds.

use super::*;
use crate::wire::Error;

const HUB: u32 = 1;
const SPOKE_A: u32 = 2;
const SPOKE_B: u32 = 3;

fn endpoint(config: Config) -> Endpoint<u32> {
    Endpoint::new(config).expect("valid config")
}

fn sequenced(key: Option<u32>) -> Config {
    Config {
        key,
        send_sequence: true,
        check_sequence: true,
        ..Config::default()
    }
}

/// A GRE packet built by hand with the given header, carrying "ping".
fn packet(repr: Repr) -> Vec<u8> {
    let mut buf = vec![0u8; repr.header_len() + 4];
    let start = repr.header_len();
    buf[start..].copy_from_slice(b"ping");
    repr.emit(&mut buf).expect("fits");
    buf
}

fn with_seq(key: Option<u32>, sequence: u32) -> Vec<u8> {
    packet(Repr {
        protocol_type: ProtocolType::IPV4,
        checksum: false,
        key,
        sequence: Some(sequence),
    })
}

#[test]
fn encapsulate_numbers_per_destination_from_zero() {
    let mut ep = endpoint(Config {
        key: Some(7),
        checksum: true,
        send_sequence: true,
        ..Config::default()
    });
    let mut seen = Vec::new();
    for to in [SPOKE_A, SPOKE_A, SPOKE_B, SPOKE_A, SPOKE_B] {
        let mut buf = [0u8; 16 + 4];
        buf[16..].copy_from_slice(b"data");
        let gre = ep
            .encapsulate(to, ProtocolType::NHRP, &mut buf, 16)
            .expect("encapsulates");
        let parsed = Packet::parse(gre).expect("parses");
        let repr = Repr::parse(&parsed).expect("checksum verifies");
        assert_eq!(repr.key, Some(7));
        assert!(repr.checksum);
        assert_eq!(parsed.payload(), b"data");
        seen.push((to, repr.sequence));
    }
    assert_eq!(
        seen,
        [
            (SPOKE_A, Some(0)),
            (SPOKE_A, Some(1)),
            (SPOKE_B, Some(0)),
            (SPOKE_A, Some(2)),
            (SPOKE_B, Some(1)),
        ]
    );
    assert_eq!(ep.stats().tx_packets, 5);
    assert_eq!(ep.peers(), (2, 0));
}

#[test]
fn encapsulate_without_sequencing_keeps_no_state() {
    let mut ep = endpoint(Config::default());
    let mut buf = [0u8; 8];
    let gre = ep
        .encapsulate(SPOKE_A, ProtocolType::IPV6, &mut buf, 4)
        .expect("fits");
    assert_eq!(&gre[..4], &[0x00, 0x00, 0x86, 0xdd]);
    assert_eq!(ep.peers(), (0, 0));
}

#[test]
fn failed_encapsulation_consumes_no_sequence_number() {
    let mut ep = endpoint(sequenced(None));
    let mut small = [0u8; 10];
    assert_eq!(
        ep.encapsulate(SPOKE_A, ProtocolType::IPV4, &mut small, 4),
        Err(ApiError::Buffer(Error::Truncated {
            layer: wire::Layer::Gre,
            needed: 8,
            got: 4
        }))
    );
    assert_eq!(ep.stats().tx_packets, 0);
    assert_eq!(ep.peers(), (0, 0));
    let mut buf = [0u8; 12];
    let gre = ep
        .encapsulate(SPOKE_A, ProtocolType::IPV4, &mut buf, 8)
        .expect("fits");
    assert_eq!(Packet::parse(gre).expect("parses").sequence(), Some(0));
}

#[test]
fn transmit_peer_table_is_bounded() {
    let mut ep = endpoint(Config {
        send_sequence: true,
        max_peers: 2,
        ..Config::default()
    });
    let mut buf = [0u8; 8];
    for to in [SPOKE_A, SPOKE_B] {
        ep.encapsulate(to, ProtocolType::IPV4, &mut buf, 8)
            .expect("room");
    }
    assert_eq!(
        ep.encapsulate(HUB, ProtocolType::IPV4, &mut buf, 8),
        Err(ApiError::PeerTableFull)
    );
    ep.forget_peer(SPOKE_A);
    ep.encapsulate(HUB, ProtocolType::IPV4, &mut buf, 8)
        .expect("room after forgetting a peer");
}

#[test]
fn key_demultiplexing() {
    let mut keyed = endpoint(Config {
        key: Some(100),
        ..Config::default()
    });
    let plain = packet(Repr::new(ProtocolType::IPV4));
    let right = packet(Repr::new(ProtocolType::IPV4).with_key(100));
    let wrong = packet(Repr::new(ProtocolType::IPV4).with_key(101));

    let ok = keyed.decapsulate(SPOKE_A, &right).expect("right key");
    assert_eq!(ok.payload, b"ping");
    assert_eq!(ok.header_len, 8);
    assert_eq!(ok.repr.protocol_type, ProtocolType::IPV4);
    assert_eq!(
        keyed.decapsulate(SPOKE_A, &plain),
        Err(DropReason::KeyMissing { expected: 100 })
    );
    assert_eq!(
        keyed.decapsulate(SPOKE_A, &wrong),
        Err(DropReason::KeyMismatch {
            expected: 100,
            got: 101
        })
    );

    let mut unkeyed = endpoint(Config::default());
    assert!(unkeyed.decapsulate(SPOKE_A, &plain).is_ok());
    assert_eq!(
        unkeyed.decapsulate(SPOKE_A, &right),
        Err(DropReason::UnexpectedKey { got: 100 })
    );

    let s = keyed.stats();
    assert_eq!(
        (s.rx_packets, s.drop_key_missing, s.drop_key_mismatch),
        (1, 1, 1)
    );
    assert_eq!(s.dropped(), 2);
    let s = unkeyed.stats();
    assert_eq!(
        (s.rx_packets, s.drop_unexpected_key, s.dropped()),
        (1, 1, 1)
    );
}

#[test]
fn codec_errors_are_counted_by_kind() {
    let mut ep = endpoint(Config::default());
    let mut bad_checksum = packet(Repr::new(ProtocolType::IPV4).with_checksum());
    bad_checksum[9] ^= 0xff;
    let cases: [(&[u8], DropReason); 4] = [
        (
            &[0x00, 0x00],
            DropReason::Malformed(Error::Truncated {
                layer: wire::Layer::Gre,
                needed: 4,
                got: 2,
            }),
        ),
        (
            &[0x30, 0x81, 0x88, 0x0b],
            DropReason::Malformed(Error::Unsupported {
                layer: wire::Layer::Gre,
                field: "version",
                value: 1,
            }),
        ),
        (
            &[0x40, 0x00, 0x08, 0x00],
            DropReason::Malformed(Error::Reserved {
                layer: wire::Layer::Gre,
                field: "reserved0",
                bits: 0x4000,
            }),
        ),
        (
            &bad_checksum,
            DropReason::Malformed(Error::Checksum {
                layer: wire::Layer::Gre,
            }),
        ),
    ];
    for (bytes, reason) in cases {
        assert_eq!(ep.decapsulate(SPOKE_A, bytes), Err(reason));
    }
    let s = ep.stats();
    assert_eq!(
        (
            s.drop_truncated,
            s.drop_version,
            s.drop_reserved,
            s.drop_checksum,
            s.rx_packets
        ),
        (1, 1, 1, 1, 0)
    );
}

#[test]
fn in_order_delivery_per_peer() {
    let mut ep = endpoint(sequenced(Some(9)));
    let accept = |ep: &mut Endpoint<u32>, from, seq| {
        ep.decapsulate(from, &with_seq(Some(9), seq))
            .map(|d| d.repr.sequence)
    };
    // The first packet from a peer sets the reference, whatever its number.
    assert_eq!(accept(&mut ep, SPOKE_A, 10), Ok(Some(10)));
    assert_eq!(accept(&mut ep, SPOKE_A, 11), Ok(Some(11)));
    // Gaps are fine (lost packets), going back is not.
    assert_eq!(accept(&mut ep, SPOKE_A, 15), Ok(Some(15)));
    assert_eq!(
        accept(&mut ep, SPOKE_A, 15),
        Err(DropReason::Duplicate { sequence: 15 })
    );
    assert_eq!(
        accept(&mut ep, SPOKE_A, 12),
        Err(DropReason::OutOfOrder {
            sequence: 12,
            last: 15
        })
    );
    // Another peer has its own numbering.
    assert_eq!(accept(&mut ep, SPOKE_B, 0), Ok(Some(0)));
    assert_eq!(accept(&mut ep, SPOKE_B, 1), Ok(Some(1)));
    // Packets without a sequence number may be interleaved (RFC 2890 §2.2).
    let unsequenced = packet(Repr::new(ProtocolType::IPV4).with_key(9));
    assert!(ep.decapsulate(SPOKE_A, &unsequenced).is_ok());
    assert_eq!(accept(&mut ep, SPOKE_A, 16), Ok(Some(16)));

    let s = ep.stats();
    assert_eq!(s.rx_packets, 7);
    assert_eq!(s.rx_unsequenced, 1);
    assert_eq!((s.drop_duplicate, s.drop_out_of_order), (1, 1));
    assert_eq!(ep.peers(), (0, 2));
}

#[test]
fn serial_number_arithmetic_wraps() {
    let mut ep = endpoint(sequenced(None));
    let mut check = |seq| ep.decapsulate(SPOKE_A, &with_seq(None, seq)).map(|_| ());
    assert_eq!(check(u32::MAX - 1), Ok(()));
    assert_eq!(check(u32::MAX), Ok(()));
    assert_eq!(check(0), Ok(()), "0 follows 2^32-1");
    assert_eq!(check(1), Ok(()));
    assert_eq!(
        check(u32::MAX),
        Err(DropReason::OutOfOrder {
            sequence: u32::MAX,
            last: 1
        })
    );
}

#[test]
fn serial_number_boundary_half_space() {
    // RFC 2890 §2.2: out of sequence iff within [last - (2^31 - 1), last].
    let last = 1000u32;
    let cases = [
        (last.wrapping_add(1), true),
        (last.wrapping_add(0x8000_0000), true), // exactly 2^31 ahead: not in the "preceding" range
        (last.wrapping_sub(0x7fff_ffff), false), // 2^31 - 1 behind: out of sequence
        (last.wrapping_sub(1), false),
        (last, false),
    ];
    for (seq, accepted) in cases {
        let mut ep = endpoint(sequenced(None));
        ep.decapsulate(SPOKE_A, &with_seq(None, last))
            .expect("first accepted");
        assert_eq!(
            ep.decapsulate(SPOKE_A, &with_seq(None, seq)).is_ok(),
            accepted,
            "sequence {seq} after {last}"
        );
    }
}

#[test]
fn dropped_packet_changes_nothing_but_a_counter() {
    let mut ep = endpoint(sequenced(Some(5)));
    ep.decapsulate(SPOKE_A, &with_seq(Some(5), 3))
        .expect("accepted");
    // Wrong key with a higher sequence number must not advance the peer's sequence state.
    assert!(ep.decapsulate(SPOKE_A, &with_seq(Some(6), 100)).is_err());
    let mut corrupt = with_seq(Some(5), 50);
    corrupt.truncate(10);
    assert!(ep.decapsulate(SPOKE_A, &corrupt).is_err());
    assert_eq!(
        ep.decapsulate(SPOKE_A, &with_seq(Some(5), 4)).map(|_| ()),
        Ok(())
    );
    assert_eq!(ep.stats().dropped(), 2);
}

#[test]
fn receive_peer_table_is_bounded() {
    let mut ep = endpoint(Config {
        check_sequence: true,
        max_peers: 1,
        ..Config::default()
    });
    assert!(ep.decapsulate(SPOKE_A, &with_seq(None, 0)).is_ok());
    assert_eq!(
        ep.decapsulate(SPOKE_B, &with_seq(None, 0)),
        Err(DropReason::PeerTableFull)
    );
    // Unsequenced packets need no state and still pass.
    assert!(
        ep.decapsulate(SPOKE_B, &packet(Repr::new(ProtocolType::IPV4)))
            .is_ok()
    );
    ep.forget_peer(SPOKE_A);
    assert!(ep.decapsulate(SPOKE_B, &with_seq(None, 0)).is_ok());
    assert_eq!(ep.stats().drop_peer_table_full, 1);
}

#[test]
fn sequence_ignored_when_checking_is_off() {
    let mut ep = endpoint(Config::default());
    for seq in [5, 5, 1] {
        let bytes = with_seq(None, seq);
        let d = ep.decapsulate(SPOKE_A, &bytes).expect("accepted");
        assert_eq!(d.repr.sequence, Some(seq));
    }
    assert_eq!(ep.peers(), (0, 0));
}

#[test]
fn config_validation() {
    assert!(Config::default().validate().is_ok());
    let bad = Config {
        send_sequence: true,
        max_peers: 0,
        ..Config::default()
    };
    assert!(matches!(
        Endpoint::<u32>::new(bad),
        Err(ApiError::InvalidConfig(_))
    ));
}

#[test]
fn spoke_to_hub_round_trip_with_all_options() {
    let config = Config {
        key: Some(0xdead_beef),
        checksum: true,
        send_sequence: true,
        check_sequence: true,
        max_peers: 8,
    };
    let mut spoke = endpoint(config.clone());
    let mut hub = endpoint(config);
    for i in 0..5u8 {
        let mut buf = vec![0u8; 16 + 100];
        buf[16..].fill(i);
        let gre = spoke
            .encapsulate(HUB, ProtocolType::IPV4, &mut buf, 16)
            .expect("encapsulates");
        let d = hub.decapsulate(SPOKE_A, gre).expect("accepted");
        assert_eq!(d.repr.sequence, Some(u32::from(i)));
        assert!(d.payload.iter().all(|b| *b == i));
    }
    assert_eq!(hub.stats().rx_packets, 5);
    assert_eq!(hub.stats().dropped(), 0);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Serial-number "a is after b" of RFC 2890 §2.2 (RFC 1982 style, 32 bits).
    fn after(a: u32, b: u32) -> bool {
        let ahead = a.wrapping_sub(b);
        ahead != 0 && ahead <= 0x8000_0000
    }

    proptest! {
        /// A sender's stream with losses (any subsequence), starting anywhere, wrapping
        /// through 2^32: everything that arrives is accepted.
        #[test]
        fn in_order_stream_with_losses_is_accepted(
            start in any::<u32>(),
            kept in proptest::collection::vec(any::<bool>(), 1..200),
        ) {
            let mut ep = endpoint(sequenced(None));
            for (i, keep) in kept.iter().enumerate() {
                if *keep {
                    let seq = start.wrapping_add(i as u32);
                    prop_assert!(ep.decapsulate(SPOKE_A, &with_seq(None, seq)).is_ok());
                }
            }
            prop_assert_eq!(ep.stats().dropped(), 0);
        }

        /// Any arrival order: accepted numbers strictly increase (serially), every dropped
        /// one is not after the last accepted, and each packet is counted exactly once.
        #[test]
        fn accepted_numbers_strictly_increase(
            arrivals in proptest::collection::vec(0u32..64, 1..100),
            base in any::<u32>(),
        ) {
            let mut ep = endpoint(sequenced(None));
            let mut last: Option<u32> = None;
            for offset in &arrivals {
                let seq = base.wrapping_add(*offset);
                match ep.decapsulate(SPOKE_A, &with_seq(None, seq)) {
                    Ok(_) => {
                        if let Some(last) = last {
                            prop_assert!(after(seq, last), "{} accepted after {}", seq, last);
                        }
                        last = Some(seq);
                    }
                    Err(DropReason::Duplicate { sequence }) => {
                        prop_assert_eq!(Some(sequence), last);
                    }
                    Err(DropReason::OutOfOrder { sequence, last: l }) => {
                        prop_assert_eq!(Some(l), last);
                        prop_assert!(!after(sequence, l));
                    }
                    Err(other) => prop_assert!(false, "unexpected drop {:?}", other),
                }
            }
            let s = ep.stats();
            prop_assert_eq!(s.rx_packets + s.dropped(), arrivals.len() as u64);
        }
    }
}

#[test]
fn fixed_header_exists_only_when_every_packet_carries_the_same_header() {
    let mut keyed = endpoint(Config {
        key: Some(7),
        ..Config::default()
    });
    let fixed = keyed
        .fixed_header(ProtocolType::IPV4)
        .expect("no seq, no csum");
    // The same bytes `encapsulate` writes, to any peer.
    for peer in [SPOKE_A, SPOKE_B] {
        let mut buf = [0u8; 12];
        keyed
            .encapsulate(peer, ProtocolType::IPV4, &mut buf, 8)
            .expect("room");
        let mut expected = [0u8; 8];
        fixed.emit(&mut expected).expect("fits");
        assert_eq!(buf[..8], expected);
    }
    keyed.count_encapsulated(3);
    assert_eq!(keyed.stats().tx_packets, 5);
    assert!(
        endpoint(sequenced(None))
            .fixed_header(ProtocolType::IPV4)
            .is_none()
    );
    let checksummed = endpoint(Config {
        checksum: true,
        ..Config::default()
    });
    assert!(checksummed.fixed_header(ProtocolType::IPV4).is_none());
}
