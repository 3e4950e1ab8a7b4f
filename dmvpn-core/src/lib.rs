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
#[cfg(feature = "sim")]
pub mod demo;
pub mod error;
pub mod event;
pub mod fib;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;
pub mod io;
mod node;
pub mod overlay;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "sim")]
mod sim_device;
pub mod stats;

pub use config::{Config, IpsecPolicy, LocalDelivery, NhsConfig, Phase, Role, StaticRoute};
pub use error::{ApiError, DropReason};
pub use event::Event;
pub use fib::{NextHop, RouteSource};
pub use io::{Datagram, Transmit, UnderlayProtocol};
pub use node::{NAT_T_PORT, Node};
pub use stats::{PeerCounters, PeerInfo, PeerKind, PeerState, Stats};
