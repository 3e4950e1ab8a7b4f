//! Events: every state change of a [`Node`](crate::Node), drained with
//! [`Node::poll_event`](crate::Node::poll_event).

use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;

use crate::fib::{NextHop, RouteSource};

/// A state change of the DMVPN interface.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Hub: a spoke registered (new, or with a changed NBMA address).
    SpokeRegistered {
        /// The spoke's tunnel address.
        tunnel: IpAddr,
        /// The NBMA address it claims.
        nbma: IpAddr,
        /// The NBMA address its registration came from, when different (behind NAT).
        nat_nbma: Option<IpAddr>,
    },
    /// Hub: a spoke's registration ended (expired, deregistered, purged).
    SpokeExpired {
        /// The spoke's tunnel address.
        tunnel: IpAddr,
        /// Its NBMA address.
        nbma: IpAddr,
        /// Why.
        reason: nhrp::DownReason,
    },
    /// Spoke: an NHS accepted our registration.
    NhsUp {
        /// The hub's tunnel address.
        nhs: IpAddr,
        /// The hub's NBMA address.
        nbma: IpAddr,
    },
    /// Spoke: an NHS went down (no answer, rejected us) or is no longer used.
    NhsDown {
        /// The hub's tunnel address.
        nhs: IpAddr,
        /// The hub's NBMA address.
        nbma: IpAddr,
        /// Why.
        reason: nhrp::DownReason,
    },
    /// Spoke: the hub reports our post-NAT NBMA address (Cisco NAT extension).
    NatDetected {
        /// Our NBMA address as the hub sees it.
        public_nbma: IpAddr,
    },
    /// Spoke: a peer's NBMA address was resolved (phase 2 next hop, or a shortcut's peer).
    Resolved {
        /// The address that was resolved.
        target: IpAddr,
        /// The prefix the answer covers.
        prefix: IpNet,
        /// The peer's NBMA address.
        nbma: IpAddr,
    },
    /// Spoke: a resolution failed (negative answer or no answer).
    ResolutionFailed {
        /// The address that was asked for.
        target: IpAddr,
    },
    /// Spoke, phase 3: a shortcut is up: traffic to `prefix` goes directly to `nbma`.
    ShortcutUp {
        /// Destination prefix.
        prefix: IpNet,
        /// The peer's NBMA address.
        nbma: IpAddr,
        /// When it expires unless refreshed by use.
        expires: Instant,
    },
    /// Spoke, phase 3: a shortcut went away; traffic to `prefix` goes via the hub again.
    ShortcutDown {
        /// Destination prefix.
        prefix: IpNet,
        /// Why.
        reason: nhrp::DownReason,
    },
    /// Hub, phase 3: a Traffic Indication (redirect) was sent for hairpinned traffic.
    RedirectSent {
        /// Source of the hairpinned packet.
        source: IpAddr,
        /// Its destination.
        destination: IpAddr,
        /// The spoke told (NBMA).
        to: IpAddr,
    },
    /// Spoke, phase 3: the hub redirected traffic from `source` to `destination`.
    Redirected {
        /// Source of the hairpinned packet.
        source: IpAddr,
        /// Its destination.
        destination: IpAddr,
    },
    /// The forwarding table changed: `source`'s route for `prefix` is now `next_hop`
    /// (`None`: removed).
    RouteChanged {
        /// Destination prefix.
        prefix: IpNet,
        /// Who installed or removed it.
        source: RouteSource,
        /// The new next hop, or `None` when removed.
        next_hop: Option<NextHop>,
    },
    /// IPsec is required and a packet (data or NHRP) is waiting for an SA to `peer`; install
    /// one with [`Node::install_sa`](crate::Node::install_sa) (or start a key exchange).
    /// Reported once per peer until an SA is installed.
    SaNeeded {
        /// The peer's NBMA address.
        peer: IpAddr,
    },
    /// An SA pair to `peer` was installed.
    SaUp {
        /// The peer's NBMA address.
        peer: IpAddr,
        /// Our inbound SPI.
        inbound_spi: u32,
        /// The peer's SPI (our outbound).
        outbound_spi: u32,
    },
    /// An SA reached its soft lifetime (or is about to exhaust its sequence numbers): rekey.
    SaRekeyNeeded {
        /// The peer's NBMA address.
        peer: IpAddr,
        /// The SPI concerned.
        spi: u32,
    },
    /// An SA to `peer` was removed (hard lifetime, sequence numbers exhausted, or
    /// [`Node::remove_sa`](crate::Node::remove_sa)).
    SaDown {
        /// The peer's NBMA address.
        peer: IpAddr,
        /// The SPI removed.
        spi: u32,
    },
}
