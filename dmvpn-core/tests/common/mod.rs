//! A DMVPN topology on the simulator: one hub (10.0.0.1, NBMA 192.0.2.1) and N spokes
//! (10.0.0.(10+i), NBMA 198.51.100.(10+i), LAN 192.168.i.0/24 with host 192.168.i.10).
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dmvpn_core::sim::{DeviceId, HostId, Link, Sim, SimError};
use dmvpn_core::{Config, Event, LocalDelivery, Node, Phase, StaticRoute};
use esp::crypto::{SeededRandom, aws_lc};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub const HUB_TUNNEL: &str = "10.0.0.1";
pub const HUB_NBMA: &str = "192.0.2.1";

pub fn spoke_tunnel(i: usize) -> IpAddr {
    ip(&format!("10.0.{}.{}", (10 + i) / 256, (10 + i) % 256))
}

pub fn spoke_nbma(i: usize) -> IpAddr {
    ip(&format!(
        "198.51.{}.{}",
        100 + (10 + i) / 256,
        (10 + i) % 256
    ))
}

pub fn spoke_lan(i: usize) -> ipnet::IpNet {
    format!("172.{}.{}.0/24", 16 + i / 256, i % 256)
        .parse()
        .unwrap()
}

pub fn spoke_host(i: usize) -> IpAddr {
    ip(&format!("172.{}.{}.10", 16 + i / 256, i % 256))
}

pub fn node(config: Config, seed: u64, now: Instant) -> Node {
    let crypto = aws_lc::provider(Arc::new(SeededRandom::new(seed)));
    Node::new(config, crypto, now).unwrap()
}

pub fn hub_config(phase: Phase, spokes: usize) -> Config {
    let mut c = Config::hub("10.0.0.1/16".parse().unwrap(), ip(HUB_NBMA));
    // Simulated routers have no IP stack of their own: they answer pings to their tunnel
    // address themselves.
    c.local_delivery = LocalDelivery::Answer;
    c.phase = phase;
    c.holding_time = secs(300);
    for i in 1..=spokes {
        c.static_routes.push(StaticRoute {
            prefix: spoke_lan(i),
            next_hop: spoke_tunnel(i),
        });
    }
    c
}

pub fn spoke_config(phase: Phase, i: usize) -> Config {
    let mut c = Config::spoke(
        format!("{}/16", spoke_tunnel(i)).parse().unwrap(),
        spoke_nbma(i),
        ip(HUB_TUNNEL),
        ip(HUB_NBMA),
    );
    c.phase = phase;
    c.holding_time = secs(300);
    c.local_delivery = LocalDelivery::Answer;
    c.local_networks.push(spoke_lan(i));
    // Phase 3: the hub is the next hop for a summary of all LANs; phase 1/2: a route per
    // spoke LAN with the spoke itself as next hop (no summarisation in phase 2).
    match phase {
        Phase::Three | Phase::One => c.static_routes.push(StaticRoute {
            prefix: "172.16.0.0/12".parse().unwrap(),
            next_hop: ip(HUB_TUNNEL),
        }),
        Phase::Two => {
            // Filled by the caller (needs the spoke count).
        }
    }
    c
}

pub struct Topology {
    pub sim: Sim<Node>,
    pub hub: DeviceId,
    pub spokes: Vec<DeviceId>,
    pub hosts: Vec<HostId>,
}

impl Topology {
    pub fn new(seed: u64, phase: Phase, n: usize, link: Link) -> Self {
        Self::with(seed, phase, n, link, |_, _| {})
    }

    /// Builds the topology; `tweak(i, config)` edits spoke i's config (0 = hub).
    pub fn with(
        seed: u64,
        phase: Phase,
        n: usize,
        link: Link,
        mut tweak: impl FnMut(usize, &mut Config),
    ) -> Self {
        let start = Instant::now();
        let mut sim = Sim::new(seed, start);
        sim.set_default_link(link);
        let mut hc = hub_config(phase, n);
        tweak(0, &mut hc);
        let hub = sim.add_device(ip(HUB_NBMA), node(hc, seed, start)).unwrap();
        let mut spokes = Vec::new();
        let mut hosts = Vec::new();
        for i in 1..=n {
            let mut c = spoke_config(phase, i);
            if phase == Phase::Two {
                for j in 1..=n {
                    if j != i {
                        c.static_routes.push(StaticRoute {
                            prefix: spoke_lan(j),
                            next_hop: spoke_tunnel(j),
                        });
                    }
                }
            }
            tweak(i, &mut c);
            let d = sim
                .add_device(spoke_nbma(i), node(c, seed.wrapping_add(i as u64), start))
                .unwrap();
            hosts.push(sim.add_host(d, spoke_host(i)).unwrap());
            spokes.push(d);
        }
        Self {
            sim,
            hub,
            spokes,
            hosts,
        }
    }

    pub fn all_registered(&self) -> bool {
        self.spokes
            .iter()
            .all(|d| self.sim.device(*d).is_registered())
            && self.sim.device(self.hub).nhrp().registrations().count() == self.spokes.len()
    }

    /// Pings from spoke i's host to spoke j's host and waits for the reply; returns its RTT.
    pub fn ping(&mut self, i: usize, j: usize, seq: u16) -> Option<Duration> {
        let h = self.hosts[i - 1];
        let before = self.sim.host(h).echo_replies().len();
        self.sim.ping(h, spoke_host(j), 1, seq, 56).unwrap();
        match self
            .sim
            .run_until(secs(5), |s| s.host(h).echo_replies().len() > before)
        {
            Ok(_) => {}
            Err(SimError::NotReached { .. }) => return None,
            Err(e) => panic!("simulator invariant broken: {e}"),
        }
        let replies = self.sim.host(h).echo_replies();
        if replies.len() > before {
            replies.last().and_then(|r| r.rtt)
        } else {
            None
        }
    }

    pub fn saw(&self, d: DeviceId, f: impl FnMut(&Event) -> bool) -> bool {
        self.sim.saw(d, f)
    }
}

// ----- helpers shared by the scenario_* tests ------------------------------------------------

impl Topology {
    /// Runs until every spoke is registered and the hub holds all registrations; returns the
    /// virtual time that took (from now).
    pub fn wait_registered(&mut self, within: Duration) -> Duration {
        let from = self.sim.now();
        let (hub, spokes) = (self.hub, self.spokes.clone());
        let at = self
            .sim
            .run_until(within, |s| all_registered(s, hub, &spokes))
            .unwrap_or_else(|e| panic!("spokes did not all register within {within:?}: {e}"));
        at - from
    }

    /// Spoke i's device.
    pub fn spoke(&self, i: usize) -> DeviceId {
        self.spokes[i - 1]
    }

    /// Waits until spoke i's NHRP cache maps spoke j's host (a phase 3 shortcut) to `nbma`.
    pub fn wait_direct(&mut self, i: usize, j: usize, nbma: IpAddr, within: Duration) -> bool {
        self.wait_resolved(i, spoke_host(j), nbma, within)
    }

    /// Waits until spoke i's NHRP cache maps `target` (a shortcut's destination, or a phase 2
    /// next hop) to `nbma`.
    pub fn wait_resolved(
        &mut self,
        i: usize,
        target: IpAddr,
        nbma: IpAddr,
        within: Duration,
    ) -> bool {
        let d = self.spoke(i);
        self.sim
            .run_until(within, |s| {
                s.device(d)
                    .nhrp()
                    .lookup(target)
                    .is_some_and(|c| c.nbma == Some(nbma))
            })
            .is_ok()
    }

    /// Pings up to `attempts` times (new sequence number each, 5 s wait each) until one reply
    /// comes back; returns the RTT of the first answered attempt and the attempts it took.
    pub fn ping_until_answered(
        &mut self,
        i: usize,
        j: usize,
        first_seq: u16,
        attempts: u16,
    ) -> Option<(Duration, u16)> {
        (0..attempts).find_map(|k| self.ping(i, j, first_seq + k).map(|rtt| (rtt, k + 1)))
    }

    /// The hub's data packets forwarded tunnel to tunnel so far.
    pub fn hub_hairpinned(&self) -> u64 {
        self.sim.device(self.hub).stats().data_hairpinned
    }
}

/// Every spoke has an NHS up and the hub holds a registration for each of them.
pub fn all_registered(s: &Sim<Node>, hub: DeviceId, spokes: &[DeviceId]) -> bool {
    spokes.iter().all(|d| s.device(*d).is_registered())
        && s.device(hub).nhrp().registrations().count() == spokes.len()
}

/// One manual SA pair between NBMA addresses `a` and `b` (AES-256-GCM, transport mode), as
/// seen from `a`: (inbound, outbound). The SPI and key of each direction are derived from the
/// ordered pair (sender, receiver), so `a`'s outbound SA is exactly `b`'s inbound one.
pub fn manual_sa_pair(a: IpAddr, b: IpAddr) -> (esp::SaParams, esp::SaParams) {
    (
        manual_sa(b, a, esp::Direction::Inbound),
        manual_sa(a, b, esp::Direction::Outbound),
    )
}

/// The SPI of the SA carrying traffic from `from` to `to` (receiver's choice in IKE; here a
/// function of the pair, never 0..=255).
pub fn manual_spi(from: IpAddr, to: IpAddr) -> u32 {
    let (f, t) = (octets(from), octets(to));
    0x1000_0000
        | (u32::from(f[2]) << 20)
        | (u32::from(f[3]) << 12)
        | (u32::from(t[2]) << 8)
        | u32::from(t[3])
}

/// The 36-byte key (32-byte AES-256 key + 4-byte salt, RFC 4106 §8.1) of the SA carrying
/// traffic from `from` to `to`.
pub fn manual_key(from: IpAddr, to: IpAddr) -> Vec<u8> {
    let (f, t) = (octets(from), octets(to));
    (0..36u8)
        .map(|k| {
            k.wrapping_mul(7)
                ^ f[2]
                ^ f[3].rotate_left(1)
                ^ t[2].rotate_left(3)
                ^ t[3].rotate_left(5)
        })
        .collect()
}

fn octets(a: IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(v) => v.octets(),
        IpAddr::V6(v) => {
            let o = v.octets();
            [o[12], o[13], o[14], o[15]]
        }
    }
}

fn manual_sa(from: IpAddr, to: IpAddr, direction: esp::Direction) -> esp::SaParams {
    esp::SaParams {
        spi: esp::Spi(manual_spi(from, to)),
        direction,
        mode: esp::Mode::Transport,
        transform: esp::Transform::AES_256_GCM,
        keys: esp::Keys {
            encr: esp::crypto::Secret::new(&manual_key(from, to)),
            integ: esp::crypto::Secret::new(&[]),
        },
        esn: false,
        replay_window: 1024,
        lifetimes: esp::Lifetimes::default(),
        udp_encap: None,
        tfc_pad_to: 0,
    }
}

/// Installs the SA pair between devices `a` and `b` (NBMA addresses `na`, `nb`) on both.
pub fn install_pair(sim: &mut Sim<Node>, a: DeviceId, na: IpAddr, b: DeviceId, nb: IpAddr) {
    let (i, o) = manual_sa_pair(na, nb);
    sim.with_device(a, |n, now| n.install_sa(now, nb, i, o))
        .unwrap()
        .unwrap();
    let (i, o) = manual_sa_pair(nb, na);
    sim.with_device(b, |n, now| n.install_sa(now, na, i, o))
        .unwrap()
        .unwrap();
}

/// The public address of the NAT box in front of spoke i (when it has one).
pub fn nat_public(i: usize) -> IpAddr {
    ip(&format!("203.0.113.{}", 10 + i))
}

/// The private (inside) NBMA address of spoke i behind its NAT box.
pub fn nat_inside(i: usize) -> IpAddr {
    ip(&format!("192.168.{}.2", i))
}

impl Topology {
    /// Like [`Topology::with`], but spoke i sits behind its own NAT box of kind `nat(i)`
    /// (public [`nat_public`]`(i)`, inside [`nat_inside`]`(i)`, which is also its configured
    /// NBMA address) when `nat(i)` is `Some`. Returns the topology and the NAT ids per spoke.
    pub fn with_nats(
        seed: u64,
        phase: Phase,
        n: usize,
        link: Link,
        nat: impl Fn(usize) -> Option<dmvpn_core::sim::NatKind>,
        mut tweak: impl FnMut(usize, &mut Config),
    ) -> (Self, Vec<Option<dmvpn_core::sim::NatId>>) {
        let kinds: Vec<_> = (1..=n).map(&nat).collect();
        let mut t = Self::with(seed, phase, 0, link, |i, c| {
            if i == 0 {
                *c = hub_config(phase, n);
            }
            tweak(i, c);
        });
        let start = t.sim.now();
        let mut nats = Vec::new();
        for i in 1..=n {
            let mut c = spoke_config(phase, i);
            if phase == Phase::Two {
                for j in (1..=n).filter(|&j| j != i) {
                    c.static_routes.push(StaticRoute {
                        prefix: spoke_lan(j),
                        next_hop: spoke_tunnel(j),
                    });
                }
            }
            let (d, id) = match kinds[i - 1] {
                Some(kind) => {
                    c.nbma = nat_inside(i);
                    tweak(i, &mut c);
                    let id = t
                        .sim
                        .add_nat(dmvpn_core::sim::NatConfig::new(nat_public(i), kind))
                        .unwrap();
                    let dev = node(c, seed.wrapping_add(i as u64), start);
                    (
                        t.sim.add_device_behind_nat(id, nat_inside(i), dev).unwrap(),
                        Some(id),
                    )
                }
                None => {
                    tweak(i, &mut c);
                    let dev = node(c, seed.wrapping_add(i as u64), start);
                    (t.sim.add_device(spoke_nbma(i), dev).unwrap(), None)
                }
            };
            t.hosts.push(t.sim.add_host(d, spoke_host(i)).unwrap());
            t.spokes.push(d);
            nats.push(id);
        }
        (t, nats)
    }
}
