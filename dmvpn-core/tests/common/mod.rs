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
use dmvpn_core::{Config, Event, Node, Phase, StaticRoute};
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
