//! DMVPN as one sans-IO machine: [`Node`] is one DMVPN tunnel interface of one router, hub or
//! spoke, phases 1-3, composing GRE (`gre`), NHRP (`nhrp`) and IPsec ESP (`esp`) behind the
//! machine contract of DESIGN.md §2. IKEv2 and EIGRP plug in later through the seams it already
//! has: SAs come in through [`Node::install_sa`] (manual keys today), routes through
//! [`Node::add_route`].
//!
//! # What it does
//!
//! * **Hub** (NHS): accepts registrations, answers and forwards resolutions, forwards
//!   spoke-to-spoke traffic until shortcuts exist and, in phase 3, tells the ingress spoke to
//!   build one (Cisco `ip nhrp redirect`); replicates multicast to every registered spoke.
//! * **Spoke** (NHC): registers with its NHSs, sends everything via the hub in phase 1,
//!   resolves its routes' next hops in phase 2, follows redirects and installs shortcuts in
//!   phase 3 (Cisco `ip nhrp shortcut`), and withdraws its registration on [`Node::shutdown`].
//! * **Forwarding** like a router: longest-prefix match over connected, static, routing-protocol
//!   and NHRP routes ([`fib`]), TTL decremented, ICMP errors from the tunnel address, path MTU
//!   after GRE/ESP overhead; GRE encapsulated in place and, with [`IpsecPolicy::Required`],
//!   sealed with ESP in transport mode (ESP-in-UDP behind NAT). Fail closed: without an SA
//!   nothing leaves in clear. Packets travel in [`PacketBuf`]s with headroom, so a driver that
//!   reads into the node's buffers ([`Node::buffer`], [`Node::handle_buf`], [`Node::forward`])
//!   gets them forwarded without a copy; a cached adjacency per destination makes the common
//!   case (a known peer over cleartext GRE) a header copy and a TTL decrement.
//! * **Observability**: [`Event`]s for every state change, typed [`DropReason`]s counted in
//!   [`Stats`], `show dmvpn`-style views ([`Node::peers`], [`Node::routes`], [`Node::nhrp`]).
//!
//! # Run loop
//!
//! After every [`Node::handle_packet`] (or [`Node::handle_buf`]), [`Node::handle_timeout`] or
//! verb, drain [`Node::poll_transmit`] and [`Node::poll_event`] until both return `None`
//! (give consumed buffers back with [`Node::recycle`]), then sleep until
//! [`Node::poll_timeout`] or the next packet. The node never reads a clock: `now` is passed in; randomness comes from the crypto
//! provider's `SecureRandom`. See [`Node`] for a driver skeleton; `dmvpnd` (feature `driver`)
//! is the reference Linux driver and `demo` (feature `sim`) runs hub and spokes in-process.
//!
//! # Features
//!
//! * `sim`: module `sim`, a deterministic network simulator (virtual clock, seeded lossy links, NAT
//!   boxes, plain hosts, pcap of the underlay) that runs any machine implementing
//!   `sim::Device`, and module `demo`;
//! * `serde`: serde for [`Config`] and the `show` data;
//! * `dmvpnd`: the `dmvpnd` binary (`demo`); `driver`: its Linux driver (`check`, `run`,
//!   `show`; TUN, raw sockets, netlink routes; see DRIVER.md).
#![forbid(unsafe_code)]

pub mod buf;
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

pub use buf::PacketBuf;
pub use config::{Config, IpsecPolicy, LocalDelivery, NhsConfig, Phase, Role, StaticRoute};
pub use error::{ApiError, DropReason};
pub use event::Event;
pub use fib::{NextHop, RouteSource};
pub use io::{Datagram, DatagramBuf, Transmit, UnderlayProtocol};
pub use node::{NAT_T_PORT, Node};
pub use stats::{PeerCounters, PeerInfo, PeerKind, PeerState, Stats};
