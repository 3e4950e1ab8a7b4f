//! The DMVPN hub/spoke `Node` composing GRE, NHRP and ESP (and later IKEv2 and EIGRP).
//!
//! **Status: in progress.** This crate will hold `dmvpn_core::Node` (one DMVPN tunnel
//! interface of one router, hub or spoke, phases 1-3), the overlay forwarding table, the
//! network simulator (`sim`, feature `sim`) and the `dmvpnd` binary. The boundary types a
//! driver uses are in [`io`].
#![forbid(unsafe_code)]

pub mod config;
pub mod fib;
pub mod io;
pub mod overlay;

pub use io::{Datagram, Transmit, UnderlayProtocol};
