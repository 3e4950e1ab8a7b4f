//! Multi-node test: one NHS and three NHCs exchanging real NHRP bytes through an in-memory
//! network with latency, jitter and loss, driven by a virtual clock (DESIGN.md §8.3 in
//! miniature). Checks the run-loop invariants on every step.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::util::*;
use crate::{Config, Datagram, Event, Node};

/// A packet in flight: (arrival, sequence, destination index, source NBMA, bytes).
type InFlight = Reverse<(Instant, u64, usize, IpAddr, Vec<u8>)>;

struct Host {
    nbma: IpAddr,
    node: Node,
    events: Vec<(Duration, Event)>,
}

struct Net {
    t0: Instant,
    now: Instant,
    hosts: Vec<Host>,
    wire: BinaryHeap<InFlight>,
    seq: u64,
    rng: u64,
    latency: Duration,
    jitter_ms: u64,
    loss_percent: u64,
    sent: u64,
    lost: u64,
}

impl Net {
    fn new(seed: u64) -> Self {
        let t0 = Instant::now();
        Net {
            t0,
            now: t0,
            hosts: Vec::new(),
            wire: BinaryHeap::new(),
            seq: 0,
            rng: seed,
            latency: Duration::from_millis(20),
            jitter_ms: 5,
            loss_percent: 10,
            sent: 0,
            lost: 0,
        }
    }

    fn rand(&mut self) -> u64 {
        self.rng = crate::node::splitmix64(self.rng);
        self.rng
    }

    fn add(&mut self, cfg: Config) -> usize {
        let nbma = cfg.nbma_address;
        let node = Node::new(cfg, self.now).unwrap();
        self.hosts.push(Host {
            nbma,
            node,
            events: Vec::new(),
        });
        let i = self.hosts.len() - 1;
        self.drain(i);
        i
    }

    /// The run loop's drain step, plus the no-spin invariant.
    fn drain(&mut self, i: usize) {
        let at = self.now - self.t0;
        while let Some(t) = self.hosts[i].node.poll_transmit() {
            self.sent += 1;
            if self.rand() % 100 < self.loss_percent {
                self.lost += 1;
                continue;
            }
            let Some(dst) = self.hosts.iter().position(|h| h.nbma == t.to) else {
                continue;
            };
            let jitter = Duration::from_millis(self.rand() % (self.jitter_ms + 1));
            let arrival = self.now + self.latency + jitter;
            self.seq += 1;
            let from = self.hosts[i].nbma;
            self.wire
                .push(Reverse((arrival, self.seq, dst, from, t.bytes)));
        }
        while let Some(e) = self.hosts[i].node.poll_event() {
            self.hosts[i].events.push((at, e));
        }
    }

    /// One step: the earliest of all arrivals and timers.
    fn step(&mut self) -> bool {
        let arrival = self.wire.peek().map(|Reverse(x)| x.0);
        let timer = self
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.node.poll_timeout().map(|t| (t, i)))
            .min();
        match (arrival, timer) {
            (Some(a), t) if t.is_none_or(|(t, _)| a <= t) => {
                let Reverse((at, _, dst, from, bytes)) = self.wire.pop().unwrap();
                self.now = self.now.max(at);
                let _ = self.hosts[dst].node.handle_packet(
                    self.now,
                    Datagram {
                        from,
                        bytes: &bytes,
                    },
                );
                self.drain(dst);
            }
            (_, Some((t, i))) => {
                self.now = self.now.max(t);
                self.hosts[i].node.handle_timeout(self.now);
                self.drain(i);
                let next = self.hosts[i].node.poll_timeout();
                assert!(
                    next.is_none_or(|n| n > self.now),
                    "poll_timeout not after now"
                );
            }
            _ => return false,
        }
        assert!(self.hosts.iter().all(|h| h.node.stats().timers < 10_000));
        true
    }

    fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Net) -> bool,
    ) -> Option<Duration> {
        let end = self.now + limit;
        while self.now <= end {
            if done(self) {
                return Some(self.now - self.t0);
            }
            if !self.step() {
                break;
            }
        }
        done(self).then(|| self.now - self.t0)
    }
}

fn spoke(proto: &str, nbma: &str, net: &str) -> Config {
    let mut c = spoke_config(proto, nbma);
    c.local_networks = vec![net.parse().unwrap()];
    c.registration_interval = Some(secs(60));
    c.holding_time = secs(180);
    c
}

#[test]
fn hub_and_three_spokes_register_build_a_shortcut_and_survive_a_hub_restart() {
    let mut net = Net::new(0x5eed);
    let hub = net.add(hub_config());
    let s2 = net.add(spoke(S2, S2_NBMA, "2.2.2.0/24"));
    let s3 = net.add(spoke(S3, S3_NBMA, "3.3.3.0/24"));
    let s4 = net.add(spoke("172.16.123.4", "192.168.123.4", "4.4.4.0/24"));
    for (p, s) in [
        ("2.2.2.0/24", S2),
        ("3.3.3.0/24", S3),
        ("4.4.4.0/24", "172.16.123.4"),
    ] {
        net.hosts[hub].node.set_route(p.parse().unwrap(), ip(s));
    }

    // 1. Everyone registers (retransmissions cover the lossy link).
    let t = net
        .run_until(secs(60), |n| {
            n.hosts[hub].node.registrations().count() == 3
                && [s2, s3, s4]
                    .iter()
                    .all(|&s| n.hosts[s].node.is_registered())
        })
        .expect("all spokes register");
    assert!(t < secs(30), "registration took {t:?}");
    assert_eq!(net.hosts[hub].node.multicast_nbmas().len(), 3);

    // 2. Phase 3: traffic 2.2.2.2 -> 3.3.3.3 hairpins through the hub (once a second while
    //    no shortcut exists); the redirect makes .2 resolve, the hub forwards to .3, which
    //    answers directly; .2 installs a shortcut for 3.3.3.0/24 via .3's NBMA.
    let start = net.now;
    let mut last_hairpin = None;
    let shortcut_up = |n: &Net| {
        n.hosts[s2].events.iter().any(|(_, e)| {
            matches!(e, Event::ShortcutUp { prefix, nbma, .. }
                if *prefix == "3.3.3.0/24".parse::<ipnet::IpNet>().unwrap() && *nbma == ip(S3_NBMA))
        })
    };
    while !shortcut_up(&net) && net.now - start < secs(30) {
        if last_hairpin.is_none_or(|t: Instant| net.now - t >= secs(1)) {
            let now = net.now;
            let _ =
                net.hosts[hub]
                    .node
                    .note_hairpin(now, ip("2.2.2.2"), ip("3.3.3.3"), ip(S2_NBMA));
            net.drain(hub);
            last_hairpin = Some(now);
        }
        net.step();
    }
    assert!(shortcut_up(&net), "no shortcut after 30 s");
    assert!(
        net.now - start < secs(5),
        "shortcut took {:?}",
        net.now - start
    );
    let sc: Vec<_> = net.hosts[s2].node.shortcuts().collect();
    assert_eq!(sc.len(), 1);
    assert_eq!(sc[0].nbma, Some(ip(S3_NBMA)));
    assert!(
        net.hosts[s2]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::TrafficIndication { .. }))
    );

    // 3. The hub restarts with an empty cache; the spokes re-register within one
    //    registration interval (60 s, plus retransmissions on the lossy link).
    let restart = net.now;
    net.hosts[hub].node = Node::new(hub_config(), restart).unwrap();
    net.hosts[hub].events.clear();
    let t = net
        .run_until(secs(120), |n| {
            n.hosts[hub].node.registrations().count() == 3
        })
        .expect("spokes re-register");
    let took = t - (restart - net.t0);
    assert!(took <= secs(60 + 10), "re-registration took {took:?}");
    assert_eq!(
        net.hosts[hub]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::SpokeRegistered { .. }))
            .count(),
        3
    );
    assert!(
        net.lost > 0,
        "the link really lost packets ({} sent)",
        net.sent
    );
    assert!(net.sent >= 18, "{} sent", net.sent);
}

#[test]
fn ipv6_overlay_over_ipv4_nbma_registers_and_resolves() {
    let mut net = Net::new(7);
    net.loss_percent = 0;
    let hub_nhs = crate::NhsConfig::new(ip("2001:db8::1"), ip(HUB_NBMA));
    let hub = net.add(Config::hub(ip("2001:db8::1"), ip(HUB_NBMA)));
    let mut c2 = Config::spoke(ip("2001:db8::2"), ip(S2_NBMA), hub_nhs);
    c2.local_networks = vec!["2001:db8:2::/48".parse().unwrap()];
    let s2 = net.add(c2);
    let s3 = net.add(Config::spoke(ip("2001:db8::3"), ip(S3_NBMA), hub_nhs));
    net.run_until(secs(5), |n| {
        n.hosts[hub].node.registrations().count() == 2 && n.hosts[s3].node.is_registered()
    })
    .expect("IPv6 registrations");
    assert_eq!(
        net.hosts[hub]
            .node
            .registration(ip("2001:db8::2"))
            .unwrap()
            .nbma,
        ip(S2_NBMA)
    );
    net.hosts[hub]
        .node
        .set_route("2001:db8:2::/48".parse().unwrap(), ip("2001:db8::2"));
    let now = net.now;
    net.hosts[s3]
        .node
        .resolve(now, ip("2001:db8:2::77"))
        .unwrap();
    net.drain(s3);
    net.run_until(secs(5), |n| {
        n.hosts[s3].node.lookup(ip("2001:db8:2::77")).is_some()
    })
    .expect("IPv6 resolution");
    let c = net.hosts[s3].node.lookup(ip("2001:db8:2::1")).unwrap();
    assert_eq!(c.prefix, "2001:db8:2::/48".parse().unwrap());
    assert_eq!(c.nbma, Some(ip(S2_NBMA)));
    let _ = s2;
}
