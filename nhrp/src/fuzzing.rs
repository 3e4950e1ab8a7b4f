//! Bodies of the fuzz targets (the files in `fuzz/fuzz_targets/` are shims), replayed over
//! their corpora by `cargo test`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::wire::{Error, Packet, PacketRepr};

/// `nhrp_packet_decode`: parsing arbitrary bytes never panics; walking a parsed view yields
/// no error; a parsed packet re-emits, the re-emitted bytes parse to the same Repr and emit
/// again to identical bytes (parse -> emit -> parse is stable).
///
/// Random bytes rarely carry a good checksum, so a packet whose only fault is the checksum is
/// checked again with the checksum the error reports (which must then be accepted).
pub fn nhrp_packet_decode(data: &[u8]) {
    decode_checks(data);
    if let Err(Error::Checksum { computed, .. }) = Packet::parse(data) {
        let mut fixed = data.to_vec();
        fixed[12..14].copy_from_slice(&computed.to_be_bytes());
        assert!(
            !matches!(Packet::parse(&fixed), Err(Error::Checksum { .. })),
            "the reported checksum is accepted"
        );
        decode_checks(&fixed);
    }
}

fn decode_checks(data: &[u8]) {
    let _ = Packet::parse_unverified(data);
    let direct = PacketRepr::parse(data);
    let Ok(view) = Packet::parse(data) else {
        assert!(direct.is_err(), "Repr parse accepted what the view rejects");
        return;
    };
    for c in view.cies() {
        c.expect("a validated view yields valid CIEs");
    }
    for e in view.extensions() {
        e.expect("a validated view yields valid extensions");
    }
    let repr = view.to_repr().expect("a validated view converts");
    assert_eq!(
        direct.as_ref(),
        Ok(&repr),
        "Repr parse and view conversion agree"
    );
    let bytes = repr.to_vec().expect("a parsed packet must re-emit");
    assert!(
        bytes.len() <= data.len(),
        "re-emitting never grows a packet"
    );
    let again = PacketRepr::parse(&bytes).expect("re-emitted packet must parse");
    assert_eq!(again, repr);
    assert_eq!(again.to_vec().expect("emit"), bytes);
}

/// `nhrp_repr_roundtrip`: any arbitrary Repr either fails to emit with a typed error, or its
/// bytes parse back to an equal Repr.
#[cfg(any(test, feature = "arbitrary"))]
pub fn nhrp_repr_roundtrip(data: &[u8]) {
    repr_roundtrip(data);
}

/// The body of `nhrp_repr_roundtrip`; returns whether the Repr was encodable (and so
/// round-tripped).
#[cfg(any(test, feature = "arbitrary"))]
fn repr_roundtrip(data: &[u8]) -> bool {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(repr) = u.arbitrary::<PacketRepr>() else {
        return false;
    };
    let Ok(bytes) = repr.to_vec() else {
        return false;
    };
    assert_eq!(bytes.len(), repr.buffer_len());
    let parsed = PacketRepr::parse(&bytes).expect("emitted packet must parse");
    assert_eq!(parsed, repr);
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn replay(target: &str, f: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus directory") {
            let path = entry.expect("entry").path();
            let data = std::fs::read(&path).expect("read seed");
            f(&data);
            n += 1;
        }
        assert!(n > 0, "empty corpus {}", dir.display());
    }

    #[test]
    fn replay_nhrp_packet_decode_corpus() {
        replay("nhrp_packet_decode", super::nhrp_packet_decode);
    }

    #[test]
    fn replay_nhrp_repr_roundtrip_corpus() {
        replay("nhrp_repr_roundtrip", super::nhrp_repr_roundtrip);
        // The corpus must reach the round trip itself, not only the emit-error exits.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/nhrp_repr_roundtrip");
        let encodable = std::fs::read_dir(&dir)
            .expect("corpus")
            .filter(|e| {
                super::repr_roundtrip(
                    &std::fs::read(e.as_ref().expect("entry").path()).expect("read"),
                )
            })
            .count();
        assert!(
            encodable >= 10,
            "only {encodable} seeds give an encodable Repr"
        );
    }

    #[test]
    fn decode_target_survives_mutations_of_real_packets() {
        // Flip every byte of a real packet through a few values; nothing may panic.
        let seed = hex::decode("000108000000000000ff0051e8e400340103040004048000000000050a000c02c0a80002c0a8000100ff000005ea001e000000008003000080040000800500008007000900000001434953434f80000000").expect("hex");
        for i in 0..seed.len() {
            for v in [0u8, 1, 0x40, 0x80, 0xff] {
                let mut b = seed.clone();
                b[i] = v;
                super::nhrp_packet_decode(&b);
                // With a repaired checksum the deeper layers run too.
                b[12] = 0;
                b[13] = 0;
                let c = crate::wire::checksum::checksum(&b);
                b[12..14].copy_from_slice(&c.to_be_bytes());
                super::nhrp_packet_decode(&b);
            }
        }
    }
}

/// `nhrp_node`: a stateful run of one [`Node`](crate::Node) (spoke, hub or both, chosen by the
/// first byte) over a sequence of steps decoded from `data`: time steps, raw packets,
/// well-formed replies to what the node just sent (so the fuzzer reaches registered and
/// resolved states without guessing request IDs), and verbs. After every step the run loop
/// invariants are checked: everything drains, every transmit parses, `poll_timeout` is
/// later than `now` after `handle_timeout(now)`, and the tables and the timer heap stay
/// bounded.
pub fn nhrp_node(data: &[u8]) {
    node_driver::run(data);
}

mod node_driver {
    use std::net::IpAddr;
    use std::time::{Duration, Instant};

    use crate::wire::PacketRepr;
    use crate::{Config, Datagram, NhsConfig, Node, Role};

    const HUB: [u8; 4] = [172, 16, 123, 1];
    const HUB_NBMA: [u8; 4] = [192, 168, 123, 1];

    fn peer(i: u8) -> (IpAddr, IpAddr) {
        let i = i % 6 + 1;
        (
            IpAddr::from([172, 16, 123, i]),
            IpAddr::from([192, 168, 123, i]),
        )
    }

    fn config(role: u8) -> Config {
        let me = IpAddr::from([172, 16, 123, 2]);
        let me_nbma = IpAddr::from([192, 168, 123, 2]);
        let hub = NhsConfig::new(IpAddr::from(HUB), IpAddr::from(HUB_NBMA));
        let mut c = match role % 4 {
            0 => Config::spoke(me, me_nbma, hub),
            1 => Config::hub(IpAddr::from(HUB), IpAddr::from(HUB_NBMA)),
            2 => {
                let mut c = Config::hub(me, me_nbma);
                c.role = Role::Both;
                c.nhs = vec![hub];
                c.shortcut = true;
                c
            }
            _ => {
                let mut c = Config::spoke(me, me_nbma, hub);
                c.nhs.push(NhsConfig {
                    protocol: IpAddr::from([172, 16, 123, 254]),
                    nbma: IpAddr::from([192, 168, 123, 254]),
                    priority: 1,
                });
                c.max_active_nhs = 1;
                c.authentication = Some(b"DMVPN".to_vec());
                c
            }
        };
        c.local_networks = vec!["2.2.2.0/24".parse().unwrap()];
        c.holding_time = Duration::from_secs(60);
        c.max_registrations = 8;
        c.max_cache_entries = 8;
        c.max_pending = 4;
        c.max_outbox = 16;
        c.max_events = 32;
        c.rate_limit_slots = 4;
        c
    }

    struct Input<'a>(&'a [u8]);

    impl Input<'_> {
        fn byte(&mut self) -> Option<u8> {
            let (b, rest) = self.0.split_first()?;
            self.0 = rest;
            Some(*b)
        }
        fn bytes(&mut self, n: usize) -> &[u8] {
            let n = n.min(self.0.len());
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            a
        }
    }

    /// Turns a request we sent into a plausible answer (code from the input).
    fn answer(sent: &[u8], code: u8) -> Option<Vec<u8>> {
        use crate::wire::{Body, CieCode};
        let mut r = PacketRepr::parse(sent).ok()?;
        let empty = Body::PurgeReply(crate::wire::Mandatory::new(
            crate::wire::Flags::NONE,
            0,
            vec![],
        ));
        let body = std::mem::replace(&mut r.body, empty);
        r.body = match body {
            Body::RegistrationRequest(mut m) => {
                m.cies
                    .iter_mut()
                    .for_each(|c| c.code = CieCode::from_u8(code));
                Body::RegistrationReply(m)
            }
            Body::ResolutionRequest(mut m) => {
                for c in &mut m.cies {
                    c.code = CieCode::from_u8(code);
                    c.client_nbma = Some(IpAddr::from([192, 168, 123, 3]));
                    c.client_proto = Some(IpAddr::from([172, 16, 123, 3]));
                    c.prefix_length = code % 40;
                }
                Body::ResolutionReply(m)
            }
            Body::PurgeRequest(m) => Body::PurgeReply(m),
            other => other,
        };
        r.to_vec().ok()
    }

    pub(super) fn run(data: &[u8]) {
        let mut input = Input(data);
        let Some(role) = input.byte() else { return };
        let mut now = Instant::now();
        let Ok(mut node) = Node::new(config(role), now) else {
            return;
        };
        let bound = node.config().max_registrations
            + node.config().max_cache_entries
            + node.config().max_pending
            + 16;
        let mut last_sent: Option<(IpAddr, Vec<u8>)> = None;
        drain(&mut node, &mut last_sent, bound);
        let mut steps = 0;
        while let Some(op) = input.byte() {
            steps += 1;
            if steps > 512 {
                break;
            }
            match op % 10 {
                0 => {
                    let b = input.bytes(2);
                    let ms = b.iter().fold(0u64, |a, x| a << 8 | u64::from(*x));
                    now += Duration::from_millis(ms * 16);
                }
                1 => {
                    let from = input.byte().unwrap_or(0);
                    let len = usize::from(input.byte().unwrap_or(0));
                    let bytes = input.bytes(len).to_vec();
                    let _ = node.handle_packet(
                        now,
                        Datagram {
                            from: peer(from).1,
                            bytes: &bytes,
                        },
                    );
                }
                2 => {
                    if let Some((to, sent)) = &last_sent {
                        let code = input.byte().unwrap_or(0) % 16;
                        if let Some(reply) = answer(sent, if code > 5 { 0 } else { code }) {
                            let _ = node.handle_packet(
                                now,
                                Datagram {
                                    from: *to,
                                    bytes: &reply,
                                },
                            );
                        }
                    }
                }
                3 => {
                    let h = input.byte().unwrap_or(0);
                    let _ = node.resolve(now, IpAddr::from([10, 0, h % 4, h]));
                }
                4 => node.handle_timeout(now),
                5 => {
                    let h = input.byte().unwrap_or(0);
                    let _ = node.note_hairpin(
                        now,
                        IpAddr::from([2, 2, 2, h]),
                        IpAddr::from([3, 3, 3, h % 3]),
                        peer(h).1,
                    );
                }
                6 => {
                    let h = input.byte().unwrap_or(0);
                    let _ = node.purge(
                        now,
                        format!("10.0.{}.0/{}", h % 4, 16 + h % 17).parse().unwrap(),
                    );
                }
                7 => {
                    let h = input.byte().unwrap_or(0);
                    node.mark_used(now, IpAddr::from([10, 0, h % 4, h]));
                }
                8 => {
                    // A Traffic Indication from the hub for a hairpinned packet.
                    let h = input.byte().unwrap_or(0);
                    let ti = PacketRepr::new(
                        255,
                        IpAddr::from(HUB_NBMA),
                        IpAddr::from(HUB),
                        IpAddr::from([2, 2, 2, 2]),
                        crate::wire::Body::TrafficIndication(crate::wire::TrafficIndication {
                            traffic_code: 0,
                            reserved: 0,
                            packet: crate::msg::synth_ip_header(
                                IpAddr::from([2, 2, 2, 2]),
                                IpAddr::from([10, 0, h % 4, h]),
                            ),
                        }),
                    );
                    if let Ok(b) = ti.to_vec() {
                        let _ = node.handle_packet(
                            now,
                            Datagram {
                                from: IpAddr::from(HUB_NBMA),
                                bytes: &b,
                            },
                        );
                    }
                }
                _ => {
                    let h = input.byte().unwrap_or(0);
                    let (p, n) = peer(h);
                    match h % 5 {
                        0 => node.set_route(format!("10.0.{}.0/24", h % 4).parse().unwrap(), p),
                        1 => {
                            let _ = node.add_nhs(now, NhsConfig::new(p, n));
                        }
                        2 => {
                            let _ = node.deregister(now);
                        }
                        3 => {
                            let _ = node.register(now);
                        }
                        _ => {
                            let net = format!("2.2.{}.0/24", h % 3).parse().unwrap();
                            let _ = node.set_local_networks(now, vec![net]);
                        }
                    }
                }
            }
            drain(&mut node, &mut last_sent, bound);
            // Fire due timers, then check the no-spin invariant.
            if node.poll_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(now);
                drain(&mut node, &mut last_sent, bound);
                assert!(node.poll_timeout().is_none_or(|t| t > now), "timer spin");
            }
            // Idempotence: a second call changes nothing observable.
            node.handle_timeout(now);
            assert!(
                node.poll_transmit().is_none(),
                "handle_timeout not idempotent"
            );
        }
    }

    fn drain(node: &mut Node, last: &mut Option<(IpAddr, Vec<u8>)>, bound: usize) {
        let mut n = 0;
        while let Some(t) = node.poll_transmit() {
            PacketRepr::parse(&t.bytes).expect("every transmit parses");
            *last = Some((t.to, t.bytes));
            n += 1;
        }
        assert!(n <= node.config().max_outbox, "outbox bound");
        let mut e = 0;
        while node.poll_event().is_some() {
            e += 1;
        }
        assert!(e <= node.config().max_events, "event bound");
        let s = node.stats();
        assert!(s.registrations <= node.config().max_registrations);
        assert!(s.cache_entries <= node.config().max_cache_entries);
        assert!(s.pending_requests <= node.config().max_pending);
        assert!(s.timers <= 4 * bound, "timer heap grew to {}", s.timers);
    }
}

#[cfg(test)]
mod node_tests {
    #[test]
    fn replay_nhrp_node_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/nhrp_node");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus directory") {
            let data = std::fs::read(entry.expect("entry").path()).expect("read seed");
            super::nhrp_node(&data);
            n += 1;
        }
        assert!(n > 0, "empty corpus {}", dir.display());
    }

    #[test]
    fn nhrp_node_survives_pseudo_random_inputs() {
        let mut x = 0x1234_5678_u64;
        for len in [16usize, 64, 256, 1024] {
            for _ in 0..64 {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        x = crate::node::splitmix64(x);
                        x as u8
                    })
                    .collect();
                super::nhrp_node(&data);
            }
        }
    }
}
