//! NAT boxes between devices and the internet.
//!
//! A NAT box owns one public address on the internet and any number of inside (private)
//! addresses, one per device behind it. It rewrites the source of outbound packets and the
//! destination of inbound ones.
//!
//! * **UDP** gets a public port per mapping, allocated sequentially from
//!   [`NatConfig::first_port`] (wrapping at 65535, skipping ports in use).
//!   [`NatKind::EndpointIndependent`]: one mapping per inside (address, port), reachable by any
//!   remote ("full cone", RFC 4787 endpoint-independent mapping and filtering).
//!   [`NatKind::Symmetric`]: one mapping per (inside address, port, remote address, port);
//!   only that remote may answer, and talking to a second remote uses a second public port.
//! * **GRE and ESP** have no ports: only the address is translated. The reverse path is keyed
//!   by (remote address, IP protocol): an inbound GRE/ESP packet from `R` goes to the inside
//!   device that most recently sent that protocol to `R` (like Linux conntrack for portless
//!   protocols); anything else is refused, for both kinds. Two inside devices talking GRE to
//!   the same remote therefore steal each other's return path, as on real NATs without a
//!   protocol helper.
//!
//! Mappings expire after [`NatConfig::idle_timeout`] without traffic in either direction;
//! expiry is checked lazily when a mapping is used, so it costs no timers. [`Sim::nat_flush`]
//! forgets every mapping (the next packet gets a new port), [`Sim::nat_rebind`] also moves the
//! box to a new public address: the "NBMA address changes" scenario.
//!
//! Not modelled: hairpinning policies beyond "route via the public address", ICMP errors,
//! port preservation, port parity, ALGs, per-mapping timeouts by protocol.
//!
//! [`Sim::nat_flush`]: super::Sim::nat_flush
//! [`Sim::nat_rebind`]: super::Sim::nat_rebind

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::DeviceId;
use super::stats::NatStats;

/// The mapping and filtering behaviour of a NAT box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatKind {
    /// Endpoint-independent mapping and filtering ("full cone").
    EndpointIndependent,
    /// One mapping per remote endpoint; only that endpoint may answer.
    Symmetric,
}

/// Configuration of a NAT box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatConfig {
    /// The public address, owned by the NAT box on the internet.
    pub public: IpAddr,
    /// Mapping/filtering behaviour.
    pub kind: NatKind,
    /// Idle time after which a mapping is forgotten (default 120 s).
    pub idle_timeout: Duration,
    /// The first public UDP port handed out (default 1024).
    pub first_port: u16,
}

impl NatConfig {
    /// A NAT box at `public` of `kind`, 120 s idle timeout, ports from 1024.
    pub fn new(public: IpAddr, kind: NatKind) -> Self {
        Self {
            public,
            kind,
            idle_timeout: Duration::from_secs(120),
            first_port: 1024,
        }
    }

    /// With this idle timeout.
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Handing out public UDP ports from `first_port` (at least 1).
    pub fn first_port(mut self, first_port: u16) -> Self {
        self.first_port = first_port.max(1);
        self
    }
}

/// The outer header fields a NAT rewrites: an address and, for UDP, a port.
pub(crate) type Endpoint = (IpAddr, Option<u16>);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct UdpOutKey {
    inside: (IpAddr, u16),
    /// `None` for endpoint-independent mappings.
    remote: Option<(IpAddr, u16)>,
}

#[derive(Clone, Copy, Debug)]
struct UdpMapping {
    key: UdpOutKey,
    last_used: Instant,
}

#[derive(Clone, Copy, Debug)]
struct RawMapping {
    inside: IpAddr,
    last_used: Instant,
}

/// One NAT box (state only; the simulator routes packets through it).
#[derive(Debug)]
pub(crate) struct Nat {
    pub(crate) config: NatConfig,
    /// Inside address -> device.
    pub(crate) inside: HashMap<IpAddr, DeviceId>,
    udp_out: HashMap<UdpOutKey, u16>,
    udp_in: HashMap<u16, UdpMapping>,
    raw_in: HashMap<(IpAddr, u8), RawMapping>,
    next_port: u16,
    pub(crate) stats: NatStats,
}

impl Nat {
    pub(crate) fn new(config: NatConfig) -> Self {
        let config = config.first_port(config.first_port);
        Self {
            config,
            inside: HashMap::new(),
            udp_out: HashMap::new(),
            udp_in: HashMap::new(),
            raw_in: HashMap::new(),
            next_port: config.first_port,
            stats: NatStats::default(),
        }
    }

    fn expired(&self, last_used: Instant, now: Instant) -> bool {
        now.saturating_duration_since(last_used) > self.config.idle_timeout
    }

    /// Live mappings (UDP and portless), expired ones not yet collected included.
    pub(crate) fn mappings(&self) -> usize {
        self.udp_in.len() + self.raw_in.len()
    }

    /// Forget every mapping. Port allocation continues where it was, so new mappings get new
    /// ports.
    pub(crate) fn flush(&mut self) {
        self.udp_out.clear();
        self.udp_in.clear();
        self.raw_in.clear();
    }

    fn alloc_port(&mut self) -> Option<u16> {
        let first = self.config.first_port;
        let span = u32::from(u16::MAX - first) + 1;
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port == u16::MAX { first } else { port + 1 };
            if !self.udp_in.contains_key(&port) {
                return Some(port);
            }
        }
        None
    }

    /// Translate an outbound packet from `inside` (address, UDP port) to `remote`; returns the
    /// public source, or `None` when no port is left.
    pub(crate) fn outbound(
        &mut self,
        now: Instant,
        inside: Endpoint,
        remote: Endpoint,
        ip_protocol: u8,
    ) -> Option<Endpoint> {
        let public = self.config.public;
        match (inside.1, remote.1) {
            (Some(inside_port), Some(remote_port)) => {
                let key = UdpOutKey {
                    inside: (inside.0, inside_port),
                    remote: match self.config.kind {
                        NatKind::EndpointIndependent => None,
                        NatKind::Symmetric => Some((remote.0, remote_port)),
                    },
                };
                if let Some(&port) = self.udp_out.get(&key) {
                    let live = self
                        .udp_in
                        .get(&port)
                        .is_some_and(|m| !self.expired(m.last_used, now));
                    if live {
                        if let Some(m) = self.udp_in.get_mut(&port) {
                            m.last_used = now;
                        }
                        self.stats.translated_out += 1;
                        return Some((public, Some(port)));
                    }
                    self.udp_out.remove(&key);
                    self.udp_in.remove(&port);
                    self.stats.mappings_expired += 1;
                }
                let port = self.alloc_port()?;
                self.udp_out.insert(key, port);
                self.udp_in.insert(
                    port,
                    UdpMapping {
                        key,
                        last_used: now,
                    },
                );
                self.stats.mappings_created += 1;
                self.stats.translated_out += 1;
                Some((public, Some(port)))
            }
            _ => {
                let slot = (remote.0, ip_protocol);
                let fresh = match self.raw_in.get(&slot) {
                    Some(m) => m.inside != inside.0 || self.expired(m.last_used, now),
                    None => true,
                };
                if fresh {
                    self.stats.mappings_created += 1;
                }
                self.raw_in.insert(
                    slot,
                    RawMapping {
                        inside: inside.0,
                        last_used: now,
                    },
                );
                self.stats.translated_out += 1;
                Some((public, None))
            }
        }
    }

    /// Where an inbound packet from `remote` to public `port` goes, without side effects.
    pub(crate) fn peek_inbound(
        &self,
        now: Instant,
        remote: Endpoint,
        port: Option<u16>,
        ip_protocol: u8,
    ) -> Option<Endpoint> {
        match (port, remote.1) {
            (Some(port), Some(remote_port)) => {
                let m = self.udp_in.get(&port)?;
                let allowed = m.key.remote.is_none_or(|r| r == (remote.0, remote_port));
                (allowed && !self.expired(m.last_used, now))
                    .then_some((m.key.inside.0, Some(m.key.inside.1)))
            }
            _ => {
                let m = self.raw_in.get(&(remote.0, ip_protocol))?;
                (!self.expired(m.last_used, now)).then_some((m.inside, None))
            }
        }
    }

    /// Translate an inbound packet; `None` means refused (counted).
    pub(crate) fn inbound(
        &mut self,
        now: Instant,
        remote: Endpoint,
        port: Option<u16>,
        ip_protocol: u8,
    ) -> Option<Endpoint> {
        let found = self.peek_inbound(now, remote, port, ip_protocol);
        match found {
            Some(inside) => {
                match (port, remote.1) {
                    (Some(port), Some(_)) => {
                        if let Some(m) = self.udp_in.get_mut(&port) {
                            m.last_used = now;
                        }
                    }
                    _ => {
                        if let Some(m) = self.raw_in.get_mut(&(remote.0, ip_protocol)) {
                            m.last_used = now;
                        }
                    }
                }
                self.stats.translated_in += 1;
                Some(inside)
            }
            None => {
                // Collect an expired mapping we just bumped into.
                match (port, remote.1) {
                    (Some(port), Some(_)) => {
                        if let Some(m) = self.udp_in.get(&port).copied()
                            && self.expired(m.last_used, now)
                        {
                            self.udp_in.remove(&port);
                            self.udp_out.remove(&m.key);
                            self.stats.mappings_expired += 1;
                        }
                    }
                    _ => {
                        let slot = (remote.0, ip_protocol);
                        if let Some(m) = self.raw_in.get(&slot).copied()
                            && self.expired(m.last_used, now)
                        {
                            self.raw_in.remove(&slot);
                            self.stats.mappings_expired += 1;
                        }
                    }
                }
                self.stats.refused_in += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;

    #[derive(Clone, Copy, Debug)]
    enum Op {
        /// inside host, inside port, remote host, remote port, UDP (else GRE)
        Out(u8, u16, u8, u16, bool),
        /// remote host, remote port, public port offset, UDP (else GRE)
        In(u8, u16, u16, bool),
        Wait(u64),
    }

    fn op(rng: &mut Rng) -> Op {
        let small = |rng: &mut Rng, n: u64| rng.up_to(n - 1) as u8;
        match rng.up_to(2) {
            0 => Op::Out(
                small(rng, 3),
                rng.up_to(1) as u16,
                small(rng, 3),
                rng.up_to(1) as u16,
                rng.chance(0.5),
            ),
            1 => Op::In(
                small(rng, 3),
                rng.up_to(1) as u16,
                rng.up_to(7) as u16,
                rng.chance(0.5),
            ),
            _ => Op::Wait(rng.up_to(39)),
        }
    }

    /// (inside endpoint, remote endpoint of a symmetric mapping, last use).
    type ModelUdp = ((IpAddr, u16), Option<(IpAddr, u16)>, Instant);

    fn inside(i: u8) -> IpAddr {
        IpAddr::from([192, 168, 0, i])
    }

    fn remote(i: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, i])
    }

    /// Soundness and completeness of the filter against a model of "who sent what when":
    /// an inbound packet gets in iff the inside endpoint it lands on sent (symmetric: to
    /// exactly that remote endpoint; GRE: that protocol to that remote address) and the
    /// mapping has not been idle longer than the timeout.
    #[test]
    fn inbound_is_accepted_exactly_when_the_model_allows() {
        for case in 0..1000 {
            let mut rng = Rng::new(case);
            let symmetric = rng.chance(0.5);
            let ops: Vec<Op> = (0..=rng.up_to(60)).map(|_| op(&mut rng)).collect();
            let kind = if symmetric {
                NatKind::Symmetric
            } else {
                NatKind::EndpointIndependent
            };
            let timeout = Duration::from_secs(30);
            let public = IpAddr::from([203, 0, 113, 1]);
            let mut nat = Nat::new(NatConfig::new(public, kind).idle_timeout(timeout));
            let start = Instant::now();
            let mut now = start;
            // Model: public port -> (inside endpoint, remote endpoint of the last use, last use).
            let mut udp: HashMap<u16, ModelUdp> = HashMap::new();
            let mut gre: HashMap<IpAddr, (IpAddr, Instant)> = HashMap::new();
            let ctx = format!("case {case}, symmetric {symmetric}, ops {ops:?}");
            for op in ops.iter().copied() {
                match op {
                    Op::Wait(s) => now += Duration::from_secs(s),
                    Op::Out(i, ip, r, rp, true) => {
                        let (port_in, port_r) = (4500 + ip, 4500 + rp);
                        let got = nat.outbound(
                            now,
                            (inside(i), Some(port_in)),
                            (remote(r), Some(port_r)),
                            17,
                        );
                        let (addr, port) = got.unwrap();
                        assert_eq!(addr, public, "{ctx}");
                        let port = port.unwrap();
                        let key_remote = symmetric.then_some((remote(r), port_r));
                        let existing = udp
                            .iter()
                            .find(|(_, (ins, rem, _))| {
                                *ins == (inside(i), port_in) && *rem == key_remote
                            })
                            .map(|(p, (_, _, t))| (*p, *t));
                        match existing {
                            Some((p, t)) if now.saturating_duration_since(t) <= timeout => {
                                assert_eq!(port, p, "a live mapping keeps its port; {ctx}");
                            }
                            Some((p, _)) => {
                                udp.remove(&p);
                                assert!(!udp.contains_key(&port), "fresh port; {ctx}");
                            }
                            None => assert!(!udp.contains_key(&port), "fresh port; {ctx}"),
                        }
                        udp.insert(port, ((inside(i), port_in), key_remote, now));
                    }
                    Op::Out(i, _, r, _, false) => {
                        let got = nat.outbound(now, (inside(i), None), (remote(r), None), 47);
                        assert_eq!(got, Some((public, None)), "{ctx}");
                        gre.insert(remote(r), (inside(i), now));
                    }
                    Op::In(r, rp, off, true) => {
                        let port = 1024 + off;
                        let from = (remote(r), 4500 + rp);
                        let expect = udp.get(&port).and_then(|(ins, rem, t)| {
                            (rem.is_none_or(|x| x == from)
                                && now.saturating_duration_since(*t) <= timeout)
                                .then_some(*ins)
                        });
                        let got = nat.inbound(now, (from.0, Some(from.1)), Some(port), 17);
                        assert_eq!(got, expect.map(|(a, p)| (a, Some(p))), "{ctx}");
                        match expect {
                            Some(_) => {
                                if let Some(m) = udp.get_mut(&port) {
                                    m.2 = now;
                                }
                            }
                            None => {
                                if udp
                                    .get(&port)
                                    .is_some_and(|m| now.saturating_duration_since(m.2) > timeout)
                                {
                                    udp.remove(&port);
                                }
                            }
                        }
                    }
                    Op::In(r, _, _, false) => {
                        let expect = gre.get(&remote(r)).and_then(|(ins, t)| {
                            (now.saturating_duration_since(*t) <= timeout).then_some(*ins)
                        });
                        let got = nat.inbound(now, (remote(r), None), None, 47);
                        assert_eq!(got, expect.map(|a| (a, None)), "{ctx}");
                        if expect.is_some()
                            && let Some(m) = gre.get_mut(&remote(r))
                        {
                            m.1 = now;
                        }
                    }
                }
            }
        }
    }
}
