//! Body of the stateful fuzz target `dmvpn_node` (the file in `fuzz/fuzz_targets/` is a
//! shim), replayed over its corpus by `cargo test`.
//!
//! The input is a script of steps read byte by byte: time advances, underlay packets (raw,
//! or with a valid GRE header in front of fuzzer bytes so the NHRP and IP parsers behind it
//! are reached), ESP and ESP-in-UDP packets (with the insecure provider, whose constant ICV the
//! fuzzer can forge, so the post-decryption path is reached), overlay packets (raw, or a valid
//! IPv4 header with a fuzzer-chosen destination), SA installs and removals. After every step
//! the run-loop invariants of DESIGN.md §2 are checked: outputs drain, a due timer is served
//! and `poll_timeout` is then later than now, queues stay bounded.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use esp::crypto::Secret;
use esp::crypto::insecure::{INSECURE_ICV_BYTE, insecure_provider};
use esp::{Direction, Keys, Lifetimes, Mode, SaParams, Spi, Transform};

use crate::{
    Config, Datagram, DatagramBuf, IpsecPolicy, Node, PacketBuf, Phase, StaticRoute,
    UnderlayProtocol,
};

const PEERS: [[u8; 4]; 4] = [
    [192, 0, 2, 1],
    [198, 51, 100, 11],
    [198, 51, 100, 12],
    [203, 0, 113, 9],
];

struct Script<'a> {
    data: &'a [u8],
}

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(*b)
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

fn config(hub: bool, ipsec: bool) -> Config {
    let mut c = if hub {
        let mut c = Config::hub("10.0.0.1/24".parse().unwrap(), IpAddr::from(PEERS[0]));
        c.static_routes.push(StaticRoute {
            prefix: "172.16.2.0/24".parse().unwrap(),
            next_hop: "10.0.0.12".parse().unwrap(),
        });
        c
    } else {
        let mut c = Config::spoke(
            "10.0.0.11/24".parse().unwrap(),
            IpAddr::from(PEERS[1]),
            "10.0.0.1".parse().unwrap(),
            IpAddr::from(PEERS[0]),
        );
        c.local_networks.push("172.16.1.0/24".parse().unwrap());
        c.static_routes.push(StaticRoute {
            prefix: "172.16.0.0/12".parse().unwrap(),
            next_hop: "10.0.0.1".parse().unwrap(),
        });
        c
    };
    c.phase = Phase::Three;
    c.holding_time = Duration::from_secs(60);
    c.max_peers = 64;
    if ipsec {
        c.ipsec = IpsecPolicy::Required;
    }
    c
}

fn sa(spi: u32, direction: Direction) -> SaParams {
    SaParams {
        spi: Spi(spi),
        direction,
        mode: Mode::Transport,
        transform: Transform::AES_128_GCM,
        keys: Keys {
            encr: Secret::new(&[7; 20]),
            integ: Secret::new(&[]),
        },
        esn: false,
        replay_window: 64,
        lifetimes: Lifetimes::default(),
        udp_encap: None,
        tfc_pad_to: 0,
    }
}

/// Hands `bytes` to the node as GRE from `peer`: borrowed, or (`in_place`) in one of the
/// node's buffers through the in-place entry.
fn gre_in(node: &mut Node, now: Instant, peer: IpAddr, bytes: &[u8], in_place: bool) {
    if in_place {
        let mut b = node.buffer();
        b.extend_from_slice(bytes);
        let d = DatagramBuf::Underlay {
            from: peer,
            protocol: UnderlayProtocol::Gre,
            bytes: b,
        };
        let _ = node.handle_buf(now, d);
    } else {
        let d = Datagram::Underlay {
            from: peer,
            protocol: UnderlayProtocol::Gre,
            bytes,
        };
        let _ = node.handle_packet(now, d);
    }
}

/// Drains the node and checks the run-loop invariants at `now`.
fn settle(node: &mut Node, now: Instant) {
    for round in 0..2 {
        let mut outputs = 0usize;
        while let Some(t) = node.poll_transmit() {
            outputs += 1;
            assert!(outputs < 100_000, "transmit queue does not drain");
            let (crate::Transmit::Underlay { bytes, .. } | crate::Transmit::Overlay(bytes)) = t;
            node.recycle(bytes);
        }
        let mut events = 0usize;
        while node.poll_event().is_some() {
            events += 1;
            assert!(events < 100_000, "event queue does not drain");
        }
        match node.poll_timeout() {
            Some(t) if t <= now => {
                assert_eq!(round, 0, "timer spin: deadline {t:?} not after now {now:?}");
                node.handle_timeout(now);
            }
            _ => return,
        }
    }
}

/// `dmvpn_node`: a script of steps into a hub or a spoke (first byte), never panicking, with
/// the run-loop invariants holding after every step.
pub fn dmvpn_node(data: &[u8]) {
    let mut s = Script { data };
    let Some(mode) = s.byte() else { return };
    let (hub, ipsec) = (mode & 1 == 1, mode & 2 == 2);
    let start = Instant::now();
    let mut now = start;
    let Ok(mut node) = Node::new(config(hub, ipsec), insecure_provider(u64::from(mode)), now)
    else {
        return;
    };
    settle(&mut node, now);
    let mut steps = 0;
    while let Some(op) = s.byte() {
        steps += 1;
        if steps > 512 {
            break;
        }
        let peer = IpAddr::from(PEERS[usize::from(s.byte().unwrap_or(0)) % PEERS.len()]);
        match op % 10 {
            0 => {
                let ms = u64::from(s.byte().unwrap_or(0)) << 8 | u64::from(s.byte().unwrap_or(0));
                now += Duration::from_millis(ms * 16);
            }
            1 => {
                let n = usize::from(s.byte().unwrap_or(0));
                let bytes = s.bytes(n).to_vec();
                gre_in(&mut node, now, peer, &bytes, false);
            }
            2 | 3 => {
                // A valid GRE header (NHRP or IPv4) in front of fuzzer bytes.
                let pt: [u8; 2] = if op % 10 == 2 {
                    [0x20, 0x01]
                } else {
                    [0x08, 0x00]
                };
                let n = usize::from(s.byte().unwrap_or(0));
                let mut bytes = vec![0, 0, pt[0], pt[1]];
                bytes.extend_from_slice(s.bytes(n));
                gre_in(&mut node, now, peer, &bytes, !n.is_multiple_of(2));
            }
            4 | 5 => {
                // ESP with SPI 0x1001 and a forged insecure ICV, raw or in UDP 4500.
                let n = usize::from(s.byte().unwrap_or(0));
                let seq = u32::from(s.byte().unwrap_or(1));
                let mut bytes = 0x1001u32.to_be_bytes().to_vec();
                bytes.extend_from_slice(&seq.to_be_bytes());
                bytes.extend_from_slice(&[0; 8]);
                bytes.extend_from_slice(s.bytes(n));
                bytes.extend_from_slice(&[INSECURE_ICV_BYTE; 16]);
                let protocol = if op % 10 == 4 {
                    UnderlayProtocol::Esp
                } else {
                    UnderlayProtocol::Udp {
                        local_port: 4500,
                        remote_port: 4500,
                    }
                };
                let _ = node.handle_packet(
                    now,
                    Datagram::Underlay {
                        from: peer,
                        protocol,
                        bytes: &bytes,
                    },
                );
            }
            6 => {
                let n = usize::from(s.byte().unwrap_or(0));
                let bytes = s.bytes(n).to_vec();
                if n.is_multiple_of(2) {
                    let _ = node.handle_packet(now, Datagram::Overlay(&bytes));
                } else {
                    // A caller's own buffer without headroom.
                    let _ = node.handle_buf(now, DatagramBuf::Overlay(PacketBuf::from(bytes)));
                }
            }
            7 => {
                // A well-formed IPv4/ICMP packet to a fuzzer-chosen destination and TTL.
                let dst = [172, 16, s.byte().unwrap_or(2) % 4, s.byte().unwrap_or(10)];
                let ttl = s.byte().unwrap_or(64);
                let len = usize::from(s.byte().unwrap_or(0)) * 8;
                let b = etherparse::PacketBuilder::ipv4([172, 16, 1, 10], dst, ttl)
                    .icmpv4_echo_request(1, 1);
                let mut p = Vec::new();
                if b.write(&mut p, &vec![0u8; len]).is_ok() {
                    if ttl.is_multiple_of(2) {
                        let _ = node.handle_packet(now, Datagram::Overlay(&p));
                    } else {
                        // The data-plane entry: a fast-path transmit comes back directly.
                        let mut buf = node.buffer();
                        buf.extend_from_slice(&p);
                        if let Ok(Some(t)) = node.forward(now, buf) {
                            let (crate::Transmit::Underlay { bytes, .. }
                            | crate::Transmit::Overlay(bytes)) = t;
                            assert!(bytes.len() >= p.len(), "the packet leaves whole");
                            node.recycle(bytes);
                        }
                    }
                }
            }
            8 => {
                let _ = node.install_sa(
                    now,
                    peer,
                    sa(0x1001, Direction::Inbound),
                    sa(0x2002, Direction::Outbound),
                );
            }
            _ => {
                if s.byte().unwrap_or(0) & 1 == 0 {
                    node.handle_timeout(now);
                } else {
                    node.remove_sa(now, peer);
                }
            }
        }
        settle(&mut node, now);
    }
    // Let every timer run out over a long virtual stretch: the node must stay quiet and sane.
    for _ in 0..50 {
        match node.poll_timeout() {
            Some(t) => {
                now = now.max(t);
                node.handle_timeout(now);
                settle(&mut node, now);
            }
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn replay_dmvpn_node_corpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/dmvpn_node");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus directory") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                super::dmvpn_node(&std::fs::read(&path).expect("read seed"));
                n += 1;
            }
        }
        assert!(n >= 4, "corpus has only {n} seeds");
    }

    #[test]
    fn scripted_spoke_and_hub_sessions_hold_the_invariants() {
        // Spoke with IPsec: install SAs, send data and NHRP-looking bytes, let timers run.
        super::dmvpn_node(&[
            2, 8, 0, 7, 0, 2, 10, 64, 20, 0, 0, 0x10, 0, 2, 0, 40, 0, 0, 0, 0, 9, 0, 0,
        ]);
        // Hub in clear: GRE/IPv4 from a spoke, time passes, raw garbage.
        super::dmvpn_node(&[
            1, 3, 1, 30, 0x45, 0, 0, 30, 0, 0, 0, 0, 64, 1, 0, 0, 0, 0, 1, 2, 3, 1, 2, 5, 9, 9, 0,
            0, 255, 255,
        ]);
    }
}
