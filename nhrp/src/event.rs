//! Events: every state change of a [`Node`](crate::Node), drained with
//! [`Node::poll_event`](crate::Node::poll_event).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::error::DownReason;
use crate::wire::{CieCode, ErrorCode};

/// Why a resolution failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolutionError {
    /// The reply carried this non-success CIE code (e.g. 12, "No Internetworking Layer
    /// Address to NBMA Address Binding Exists", RFC 2332 §5.2.2).
    Nak(CieCode),
    /// No reply after the configured retransmissions.
    Timeout,
    /// An Error Indication with this code came back (RFC 2332 §5.2.7).
    ErrorIndication(ErrorCode),
}

/// A state change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// NHC: an NHS accepted our registration (first time, or again after being down).
    NhsUp {
        /// NHS protocol address.
        nhs: IpAddr,
        /// NHS NBMA address.
        nbma: IpAddr,
        /// Holding time the NHS granted.
        holding_time: Duration,
    },
    /// NHC: an NHS stopped answering, rejected us, or is no longer used.
    NhsDown {
        /// NHS protocol address.
        nhs: IpAddr,
        /// NHS NBMA address.
        nbma: IpAddr,
        /// Why.
        reason: DownReason,
    },
    /// NHC: an NHS answered a Registration Request with a non-success CIE code (e.g. 14,
    /// "Unique Internetworking Layer Address Already Registered").
    RegistrationFailed {
        /// NHS protocol address.
        nhs: IpAddr,
        /// The CIE code.
        code: CieCode,
    },
    /// NHC: the NHS reported our post-NAT NBMA address (Cisco NAT extension); later
    /// resolutions carry it.
    NatDetected {
        /// NHS protocol address.
        nhs: IpAddr,
        /// Our NBMA address as the NHS sees it.
        public_nbma: IpAddr,
    },
    /// NHS: a client registered (new, or with a changed NBMA address).
    SpokeRegistered {
        /// Registered protocol address.
        protocol: IpAddr,
        /// NBMA address the client claims.
        nbma: IpAddr,
        /// NBMA address the registration really came from, when it differs (NAT).
        nat_nbma: Option<IpAddr>,
        /// When the registration expires unless refreshed.
        expires: Instant,
    },
    /// NHS: a registration went away.
    SpokeUnregistered {
        /// Registered protocol address.
        protocol: IpAddr,
        /// Its NBMA address (as the client claimed it).
        nbma: IpAddr,
        /// The NBMA address its packets came from, when it differed (NAT): what the data
        /// plane keyed its state by.
        nat_nbma: Option<IpAddr>,
        /// Why.
        reason: DownReason,
    },
    /// NHS: a registration was refused (code 14 unique conflict, code 5 table full).
    RegistrationRejected {
        /// Protocol address the client asked for.
        protocol: IpAddr,
        /// NBMA address the request came from.
        nbma: IpAddr,
        /// The CIE code sent back.
        code: CieCode,
    },
    /// NHC: a resolution succeeded (or was answered from the cache).
    Resolved {
        /// The address asked for.
        target: IpAddr,
        /// The prefix the answer covers.
        prefix: IpNet,
        /// NBMA address to send to (post-NAT when the responder reported one).
        nbma: IpAddr,
        /// Tunnel address of the responder.
        protocol: Option<IpAddr>,
        /// When the answer expires.
        expires: Instant,
    },
    /// NHC: a resolution failed.
    ResolutionFailed {
        /// The address asked for.
        target: IpAddr,
        /// Why.
        reason: ResolutionError,
    },
    /// NHC: a phase 3 shortcut is ready (or refreshed): install a route for `prefix` via
    /// `nbma`.
    ShortcutUp {
        /// Destination prefix.
        prefix: IpNet,
        /// NBMA address of the peer.
        nbma: IpAddr,
        /// When it expires unless refreshed.
        expires: Instant,
    },
    /// NHC: a shortcut went away: remove its route.
    ShortcutDown {
        /// Destination prefix.
        prefix: IpNet,
        /// Why (expired or purged).
        reason: DownReason,
    },
    /// NHC: a Traffic Indication arrived (Cisco "redirect", phase 3).
    TrafficIndication {
        /// Source of the hairpinned packet.
        source: IpAddr,
        /// Destination of the hairpinned packet.
        destination: IpAddr,
        /// NBMA address of the NHS that sent it.
        from: IpAddr,
    },
    /// NHS: a Traffic Indication was sent for hairpinned traffic.
    RedirectSent {
        /// Source of the hairpinned packet.
        source: IpAddr,
        /// Destination of the hairpinned packet.
        destination: IpAddr,
        /// NBMA address of the spoke told.
        to: IpAddr,
    },
    /// A cache entry was removed by a Purge Request.
    Purged {
        /// The purged prefix.
        prefix: IpNet,
        /// NBMA address of the purger.
        from: IpAddr,
    },
    /// A resolution cache entry (not a shortcut) expired.
    EntryExpired {
        /// Its prefix.
        prefix: IpNet,
    },
    /// An Error Indication arrived (RFC 2332 §5.2.7).
    ErrorIndication {
        /// The error code.
        code: ErrorCode,
        /// NBMA address it came from.
        from: IpAddr,
    },
}
