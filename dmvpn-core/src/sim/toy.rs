//! A toy router to exercise the simulator itself (and to demonstrate it): not DMVPN, and not
//! part of the protocol API.
//!
//! [`ToyRouter`] tunnels LAN packets to configured peers inside a 4-byte GRE-like header
//! (`0, 0, protocol type`: 0x0800 IPv4, 0x86DD IPv6), over GRE, ESP or UDP as its route says,
//! and decapsulates what it receives. It can also send numbered *hellos* (type 0xFFFE), on
//! demand or periodically, and answers them with *acks* (type 0xFFFF) to the sender. It
//! records what it received so tests can check what the network did (addresses as seen
//! after NAT, ports, order).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::Device;
use crate::io::{Datagram, Transmit, UnderlayProtocol};

/// Toy header type of a hello.
pub const HELLO: u16 = 0xfffe;
/// Toy header type of an ack.
pub const ACK: u16 = 0xffff;

/// What a [`ToyRouter`] received on its underlay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToyRx {
    /// Arrival time.
    pub at: Instant,
    /// Outer source (post-NAT).
    pub from: IpAddr,
    /// Protocol and ports as the router saw them.
    pub protocol: UnderlayProtocol,
    /// The toy header type (0x0800, 0x86DD, [`HELLO`], [`ACK`]).
    pub kind: u16,
    /// Hello/ack sequence number (0 for data).
    pub seq: u32,
}

/// Events of a [`ToyRouter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToyEvent {
    /// A hello arrived.
    Hello {
        /// From.
        from: IpAddr,
        /// Its sequence number.
        seq: u32,
    },
    /// An ack of one of our hellos arrived.
    Acked {
        /// From.
        from: IpAddr,
        /// The acknowledged sequence number.
        seq: u32,
    },
}

/// Why a [`ToyRouter`] rejected an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToyError {
    /// Shorter than the toy header (or a hello without its number).
    Short,
    /// An unknown toy header type.
    UnknownType(u16),
    /// No route for this LAN destination.
    NoRoute,
}

#[derive(Clone, Copy, Debug)]
struct Keepalive {
    to: IpAddr,
    protocol: UnderlayProtocol,
    interval: Duration,
    next: Instant,
}

/// The toy router (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct ToyRouter {
    routes: Vec<(IpNet, IpAddr, UnderlayProtocol)>,
    keepalive: Option<Keepalive>,
    answer_hellos: bool,
    out: VecDeque<Transmit>,
    events: VecDeque<ToyEvent>,
    seq: u32,
    /// Everything received on the underlay, in order.
    pub received: Vec<ToyRx>,
    /// Calls of `handle_timeout` before the reported deadline (a simulator bug if non-zero).
    pub early_timeouts: u64,
    /// Acks received.
    pub acks: u64,
}

impl ToyRouter {
    /// A router with no routes that answers hellos.
    pub fn new() -> Self {
        Self {
            answer_hellos: true,
            ..Self::default()
        }
    }

    /// Tunnel LAN packets for `prefix` to `peer` over `protocol`.
    pub fn route(mut self, prefix: IpNet, peer: IpAddr, protocol: UnderlayProtocol) -> Self {
        self.routes.push((prefix, peer, protocol));
        self
    }

    /// Send a hello to `to` every `interval`, the first at `first`.
    pub fn keepalive(
        mut self,
        to: IpAddr,
        protocol: UnderlayProtocol,
        interval: Duration,
        first: Instant,
    ) -> Self {
        self.keepalive = Some(Keepalive {
            to,
            protocol,
            interval,
            next: first,
        });
        self
    }

    /// Answer hellos with acks (default) or stay silent.
    pub fn answer_hellos(mut self, answer: bool) -> Self {
        self.answer_hellos = answer;
        self
    }

    /// Send one hello now; returns its sequence number.
    pub fn send_hello(&mut self, to: IpAddr, protocol: UnderlayProtocol) -> u32 {
        self.seq += 1;
        let seq = self.seq;
        self.out.push_back(Transmit::Underlay {
            to,
            protocol,
            bytes: frame(HELLO, &seq.to_be_bytes()).into(),
        });
        seq
    }

    /// Re-point the routes and the keepalive that went to `old` to `new` (e.g. after a peer's
    /// address changed).
    pub fn repoint(&mut self, old: IpAddr, new: IpAddr) {
        for r in &mut self.routes {
            if r.1 == old {
                r.1 = new;
            }
        }
        if let Some(k) = self.keepalive.as_mut()
            && k.to == old
        {
            k.to = new;
        }
    }
}

fn frame(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + payload.len());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&kind.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

impl Device for ToyRouter {
    type Event = ToyEvent;
    type Error = ToyError;

    fn handle(&mut self, now: Instant, dgram: Datagram<'_>) -> Result<(), ToyError> {
        match dgram {
            Datagram::Overlay(ip) => {
                let dst = match ip.first().map(|b| b >> 4) {
                    Some(4) => ip
                        .get(16..20)
                        .and_then(|d| <[u8; 4]>::try_from(d).ok())
                        .map(IpAddr::from),
                    Some(6) => ip
                        .get(24..40)
                        .and_then(|d| <[u8; 16]>::try_from(d).ok())
                        .map(IpAddr::from),
                    _ => None,
                }
                .ok_or(ToyError::Short)?;
                let &(_, peer, protocol) = self
                    .routes
                    .iter()
                    .filter(|(net, ..)| net.contains(&dst))
                    .max_by_key(|(net, ..)| net.prefix_len())
                    .ok_or(ToyError::NoRoute)?;
                let kind = if dst.is_ipv4() { 0x0800 } else { 0x86dd };
                self.out.push_back(Transmit::Underlay {
                    to: peer,
                    protocol,
                    bytes: frame(kind, ip).into(),
                });
                Ok(())
            }
            Datagram::Underlay {
                from,
                protocol,
                bytes,
            } => {
                let header = bytes.get(..4).ok_or(ToyError::Short)?;
                let kind = u16::from_be_bytes([header[2], header[3]]);
                let body = &bytes[4..];
                let seq = match kind {
                    HELLO | ACK => body
                        .get(..4)
                        .and_then(|s| <[u8; 4]>::try_from(s).ok())
                        .map(u32::from_be_bytes)
                        .ok_or(ToyError::Short)?,
                    0x0800 | 0x86dd => 0,
                    other => return Err(ToyError::UnknownType(other)),
                };
                self.received.push(ToyRx {
                    at: now,
                    from,
                    protocol,
                    kind,
                    seq,
                });
                match kind {
                    HELLO => {
                        self.events.push_back(ToyEvent::Hello { from, seq });
                        if self.answer_hellos {
                            self.out.push_back(Transmit::Underlay {
                                to: from,
                                // Datagram and Transmit ports are both (ours, theirs).
                                protocol,
                                bytes: frame(ACK, &seq.to_be_bytes()).into(),
                            });
                        }
                    }
                    ACK => {
                        self.acks += 1;
                        self.events.push_back(ToyEvent::Acked { from, seq });
                    }
                    _ => self.out.push_back(Transmit::Overlay(body.into())),
                }
                Ok(())
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let Some(k) = self.keepalive else {
            return;
        };
        if now < k.next {
            self.early_timeouts += 1;
            return;
        }
        self.send_hello(k.to, k.protocol);
        let mut next = k.next + k.interval;
        if next <= now {
            next = now + k.interval.max(Duration::from_nanos(1));
        }
        if let Some(k) = self.keepalive.as_mut() {
            k.next = next;
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<ToyEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.keepalive.map(|k| k.next)
    }
}
