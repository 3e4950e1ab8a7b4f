//! NHRP (RFC 2332) with Cisco's DMVPN extensions: the wire codec ([`wire`]) and [`Node`], a
//! sans-IO NHRP machine that behaves like a Cisco IOS-XE DMVPN hub (NHS), spoke (NHC) or both
//! (hierarchical hub), phases 1-3.
//!
//! # What it implements
//!
//! * NHC (spoke): registration with one or more NHSs (RFC 2332 §5.2.3/§5.2.4) with
//!   retransmission and exponential back-off, refresh every registration interval (Cisco
//!   `ip nhrp registration timeout`, default holding time / 3), NHS up/down detection,
//!   fallback by priority and return; unique and `no-unique` modes; the post-NAT NBMA address
//!   learnt from the Cisco NAT extension; resolution (§5.2.1/§5.2.2) with coalescing,
//!   back-off, positive caching with the CIE prefix length and negative caching of NAKs;
//!   direct answers to Resolution Requests the hub forwards for our addresses and networks;
//!   phase 3 shortcuts on Traffic Indications, refreshed while used; Purge (§5.2.5/§5.2.6).
//! * NHS (hub): the registration cache (unique-bit conflicts answered with code 14, holding
//!   time expiry, deregistration by holding time 0 or purge, a bounded table answering code 5
//!   when full), the NAT extension filled with the address a request really came from,
//!   resolution answered or forwarded to the owning spoke with hop count, Forward Transit NHS
//!   Record and loop detection (Error Indication, §5.2.7, §5.3.2), Traffic Indications for
//!   hairpinned traffic ([`Node::note_hairpin`], rate-limited), the multicast map
//!   ([`Node::multicast_nbmas`]).
//! * Both: the Cisco plaintext Authentication extension (§5.3.4; a mismatch is a counted
//!   [`DropReason`] and an Error Indication), events for every state change ([`Event`]),
//!   counters per packet type and drop reason ([`Stats`]), queries for `show` commands
//!   ([`Node::lookup`], [`Node::registrations`], [`Node::shortcuts`], [`Node::nhs_status`]).
//!
//! # Run loop
//!
//! After every `handle_*` call or verb, drain [`Node::poll_transmit`] and [`Node::poll_event`]
//! until both return `None`, then sleep until [`Node::poll_timeout`] (or the next datagram)
//! and call [`Node::handle_timeout`]. The node never reads a clock: `now` is passed in. Every
//! [`Transmit`] is an NHRP packet for the caller to wrap in GRE (protocol type 0x2001) to
//! `Transmit::to`; every received GRE 0x2001 payload goes to [`Node::handle_packet`] with the
//! GRE packet's outer source address.
//!
//! A spoke:
//! ```no_run
//! use std::time::Instant;
//! use nhrp::{Config, Datagram, Event, NhsConfig, Node};
//!
//! # fn recv_gre(deadline: Option<Instant>) -> Option<(std::net::IpAddr, Vec<u8>)> { None }
//! # fn send_gre(to: std::net::IpAddr, nhrp: &[u8]) {}
//! let hub = NhsConfig::new("172.16.123.1".parse()?, "192.168.123.1".parse()?);
//! let cfg = Config::spoke("172.16.123.2".parse()?, "192.168.123.2".parse()?, hub);
//! let mut node = Node::new(cfg, Instant::now())?; // starts registering at once
//! loop {
//!     while let Some(t) = node.poll_transmit() {
//!         send_gre(t.to, &t.bytes);
//!     }
//!     while let Some(e) = node.poll_event() {
//!         match e {
//!             Event::ShortcutUp { prefix, nbma, .. } => { /* install prefix via nbma */ }
//!             Event::ShortcutDown { prefix, .. } => { /* remove it */ }
//!             _ => {}
//!         }
//!     }
//!     match recv_gre(node.poll_timeout()) {
//!         Some((from, bytes)) => {
//!             let _ = node.handle_packet(Instant::now(), Datagram { from, bytes: &bytes });
//!         }
//!         None => node.handle_timeout(Instant::now()),
//!     }
//!     // The forwarding plane reports shortcut use with `node.mark_used(now, dst)`;
//!     // phase 2 next hops are resolved with `node.resolve(now, next_hop)`.
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A hub (the same loop; the forwarding plane reports hairpinned traffic, and the routing
//! table's next hops on the tunnel are given as hints so Resolution Requests for networks
//! behind a spoke are forwarded to it):
//! ```no_run
//! use std::time::Instant;
//! use nhrp::{Config, Datagram, Node};
//!
//! # fn recv_gre(deadline: Option<Instant>) -> Option<(std::net::IpAddr, Vec<u8>)> { None }
//! # fn send_gre(to: std::net::IpAddr, nhrp: &[u8]) {}
//! # fn hairpinned() -> Option<(std::net::IpAddr, std::net::IpAddr, std::net::IpAddr)> { None }
//! let cfg = Config::hub("172.16.123.1".parse()?, "192.168.123.1".parse()?);
//! let mut node = Node::new(cfg, Instant::now())?;
//! node.set_route("3.3.3.0/24".parse()?, "172.16.123.3".parse()?);
//! loop {
//!     while let Some(t) = node.poll_transmit() {
//!         send_gre(t.to, &t.bytes);
//!     }
//!     while let Some(e) = node.poll_event() {
//!         println!("{e:?}"); // SpokeRegistered, SpokeUnregistered, RedirectSent, ...
//!     }
//!     // Replicate routing-protocol multicast to node.multicast_nbmas().
//!     if let Some((src, dst, ingress)) = hairpinned() {
//!         node.note_hairpin(Instant::now(), src, dst, ingress)?;
//!         continue;
//!     }
//!     match recv_gre(node.poll_timeout()) {
//!         Some((from, bytes)) => {
//!             let _ = node.handle_packet(Instant::now(), Datagram { from, bytes: &bytes });
//!         }
//!         None => node.handle_timeout(Instant::now()),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Invariants
//!
//! * `handle_packet` returning `Err(DropReason)` changed nothing but counters (and, for an
//!   authentication failure, queued the Error Indication Cisco sends).
//! * After `handle_timeout(now)` and draining, `poll_timeout()` is `None` or later than `now`;
//!   `handle_timeout` is idempotent and an early call is a no-op. `poll_timeout` is O(1): one
//!   min-heap of timers with lazy cancellation, one entry per registration on a hub.
//! * Every table and queue is bounded by [`Config`] (`max_registrations`,
//!   `max_cache_entries`, `max_pending`, `max_outbox`, `max_events`, `rate_limit_slots`);
//!   overflow is refused with a typed answer or counted in [`Stats`].
//! * Same configuration (including `seed`) and same inputs give byte-identical outputs.
#![forbid(unsafe_code)]

pub mod wire;

#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;

mod arena;
mod cache;
mod codec;
pub mod config;
pub mod error;
pub mod event;
mod msg;
mod nhc;
mod nhs;
mod node;
mod ratelimit;
mod timer;

#[cfg(test)]
mod tests;

pub use arena::EntryId;
pub use config::{Backoff, Config, NhsConfig, Role};
pub use error::{ApiError, DownReason, DropReason};
pub use event::{Event, ResolutionError};
pub use node::{
    CacheInfo, Datagram, DropCounts, NhsState, NhsStatus, Node, PacketCounts, RegistrationInfo,
    Stats, Transmit,
};
