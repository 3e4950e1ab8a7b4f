//! The DMVPN hub/spoke `Node` composing GRE, NHRP and ESP (and later IKEv2 and EIGRP).
//!
//! **Status: in progress.** This crate will hold `dmvpn_core::Node` (one DMVPN tunnel
//! interface of one router, hub or spoke, phases 1-3), the overlay forwarding table, the
//! network simulator (`sim`, feature `sim`) and the `dmvpnd` binary. The boundary types a
//! driver uses are in [`io`].
//!
//! With the cargo feature `sim`, module `sim` holds a deterministic network simulator (virtual
//! clock, seeded lossy links, NAT boxes, plain hosts, pcap dumps) that runs any machine
//! implementing `sim::Device`.
#![forbid(unsafe_code)]

pub mod config;
pub mod fib;
pub mod io;
pub mod overlay;
#[cfg(feature = "sim")]
pub mod sim;

pub use io::{Datagram, Transmit, UnderlayProtocol};
