//! [`Node`]: the sans-IO NHRP machine (DESIGN.md §2), NHC (spoke), NHS (hub) or both.
//!
//! This file holds the contract (`handle_*`, `poll_*`), the dispatch of received messages,
//! the queries for `show` commands and the counters. The client side lives in `nhc.rs`, the
//! server side in `nhs.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::arena::{Arena, EntryId};
use crate::cache::{Answered, Binding, CacheEntry, Pending, PrefixMap};
use crate::config::{Config, NhsConfig};
use crate::error::{ApiError, DropReason};
use crate::event::{Event, ResolutionError};
use crate::msg::{Cie, Message, Op, error_code, host_len};
use crate::nhc::NhsSlot;
use crate::nhs::Registration;
use crate::ratelimit::RateLimiter;
use crate::timer::{Clock, HasTimer, Key, Kind, TimerQueue, ceil_ms};

/// Most NHSs one node registers with.
pub(crate) const MAX_NHS: usize = 16;

/// One received NHRP packet (GRE already stripped).
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// NBMA (underlay) source address of the GRE packet: the post-NAT address of the sender.
    pub from: IpAddr,
    /// The NHRP packet.
    pub bytes: &'a [u8],
}

/// One NHRP packet to send: the caller wraps it in GRE (protocol type 0x2001) to `to`.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// NBMA destination.
    pub to: IpAddr,
    /// The NHRP packet.
    pub bytes: Vec<u8>,
}

/// Per packet-type counters (RFC 2677 NHRP-MIB style).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PacketCounts {
    /// Resolution Requests (type 1).
    pub resolution_request: u64,
    /// Resolution Replies (type 2).
    pub resolution_reply: u64,
    /// Registration Requests (type 3).
    pub registration_request: u64,
    /// Registration Replies (type 4).
    pub registration_reply: u64,
    /// Purge Requests (type 5).
    pub purge_request: u64,
    /// Purge Replies (type 6).
    pub purge_reply: u64,
    /// Error Indications (type 7).
    pub error_indication: u64,
    /// Traffic Indications (Cisco type 8).
    pub traffic_indication: u64,
}

impl PacketCounts {
    fn bump(&mut self, op: Op) {
        let c = match op {
            Op::ResolutionRequest => &mut self.resolution_request,
            Op::ResolutionReply => &mut self.resolution_reply,
            Op::RegistrationRequest => &mut self.registration_request,
            Op::RegistrationReply => &mut self.registration_reply,
            Op::PurgeRequest => &mut self.purge_request,
            Op::PurgeReply => &mut self.purge_reply,
            Op::ErrorIndication => &mut self.error_indication,
            Op::TrafficIndication => &mut self.traffic_indication,
        };
        *c += 1;
    }
}

/// Dropped input, one counter per [`DropReason`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DropCounts {
    /// [`DropReason::Malformed`].
    pub malformed: u64,
    /// [`DropReason::AuthMissing`].
    pub auth_missing: u64,
    /// [`DropReason::AuthMismatch`].
    pub auth_mismatch: u64,
    /// [`DropReason::UnknownRequest`].
    pub unknown_request: u64,
    /// [`DropReason::UnrecognizedExtension`].
    pub unrecognized_extension: u64,
    /// [`DropReason::WrongRole`].
    pub wrong_role: u64,
    /// [`DropReason::NotForUs`].
    pub not_for_us: u64,
    /// [`DropReason::HopCountExceeded`].
    pub hop_count_exceeded: u64,
    /// [`DropReason::LoopDetected`].
    pub loop_detected: u64,
    /// [`DropReason::MissingCie`].
    pub missing_cie: u64,
    /// [`DropReason::BadTrafficIndication`].
    pub bad_traffic_indication: u64,
    /// [`DropReason::Unsupported`].
    pub unsupported: u64,
    /// [`DropReason::Disabled`].
    pub disabled: u64,
    /// [`DropReason::AddressFamily`].
    pub address_family: u64,
}

impl DropCounts {
    fn bump(&mut self, r: &DropReason) {
        let c = match r {
            DropReason::Malformed(_) => &mut self.malformed,
            DropReason::AuthMissing => &mut self.auth_missing,
            DropReason::AuthMismatch => &mut self.auth_mismatch,
            DropReason::UnknownRequest(_) => &mut self.unknown_request,
            DropReason::UnrecognizedExtension(_) => &mut self.unrecognized_extension,
            DropReason::WrongRole { .. } => &mut self.wrong_role,
            DropReason::NotForUs(_) => &mut self.not_for_us,
            DropReason::HopCountExceeded => &mut self.hop_count_exceeded,
            DropReason::LoopDetected => &mut self.loop_detected,
            DropReason::MissingCie => &mut self.missing_cie,
            DropReason::BadTrafficIndication => &mut self.bad_traffic_indication,
            DropReason::Unsupported(_) => &mut self.unsupported,
            DropReason::Disabled => &mut self.disabled,
            DropReason::AddressFamily => &mut self.address_family,
        };
        *c += 1;
    }
}

/// Counters and table sizes, returned by [`Node::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Packets sent, per type.
    pub sent: PacketCounts,
    /// Packets accepted, per type.
    pub received: PacketCounts,
    /// Packets dropped, per reason.
    pub dropped: DropCounts,
    /// Packets dropped, per type (undecodable packets have no type and count only in
    /// `dropped.malformed`).
    pub dropped_by_type: PacketCounts,
    /// NHS: registrations refused with code 14 (unique address already registered).
    pub rejected_unique: u64,
    /// NHS: registrations refused with code 5 (table full).
    pub rejected_full: u64,
    /// Transmits dropped because the outbox was full.
    pub outbox_overflow: u64,
    /// Events dropped because the event queue was full.
    pub event_overflow: u64,
    /// Transmits whose encoding failed (dropped).
    pub encode_failed: u64,
    /// NHS: Traffic Indications suppressed by the per-(source, destination) limiter.
    pub redirects_rate_limited: u64,
    /// NHC: Traffic-Indication-triggered resolutions suppressed by the per-destination limiter.
    pub triggers_rate_limited: u64,
    /// NHC: `resolve` calls joined to an outstanding request.
    pub resolutions_coalesced: u64,
    /// NHC: answers not cached because the cache was full.
    pub cache_full: u64,
    /// NHS: live registrations.
    pub registrations: usize,
    /// NHC: live cache entries.
    pub cache_entries: usize,
    /// NHC: outstanding resolution requests.
    pub pending_requests: usize,
    /// Entries in the timer heap (live and lazily cancelled).
    pub timers: usize,
}

/// State of one configured NHS, as seen by the NHC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NhsState {
    /// Registration sent, no answer yet.
    Registering,
    /// Registered; refreshed every registration interval.
    Up,
    /// Not answering or rejecting us; probed with back-off.
    Down,
    /// Healthy but not used (`max_active_nhs` reached by preferred NHSs).
    Standby,
}

/// One line of `show ip nhrp nhs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NhsStatus {
    /// The configured NHS.
    pub config: NhsConfig,
    /// Its state.
    pub state: NhsState,
    /// Our NBMA address as this NHS reported it (NAT extension).
    pub public_nbma: Option<IpAddr>,
    /// Request ID of the current registration.
    pub request_id: u32,
}

/// One registration in the NHS cache (`show ip nhrp` on a hub).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrationInfo {
    /// Registered protocol address.
    pub protocol: IpAddr,
    /// NBMA address the client claims.
    pub nbma: IpAddr,
    /// NBMA address the registration came from, when different (NAT).
    pub nat_nbma: Option<IpAddr>,
    /// When it expires.
    pub expires: Instant,
    /// Registered with the U bit.
    pub unique: bool,
    /// Request ID of the last accepted registration.
    pub request_id: u32,
}

impl RegistrationInfo {
    /// The address to send to: post-NAT if known.
    pub fn effective_nbma(&self) -> IpAddr {
        self.nat_nbma.unwrap_or(self.nbma)
    }
}

/// One resolution cache entry (`show ip nhrp` on a spoke).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheInfo {
    /// The prefix covered.
    pub prefix: IpNet,
    /// NBMA address (None for a negative entry).
    pub nbma: Option<IpAddr>,
    /// Tunnel address of the responder.
    pub protocol: Option<IpAddr>,
    /// Why the resolution failed (negative entries).
    pub negative: Option<ResolutionError>,
    /// When it expires.
    pub expires: Instant,
    /// Installed as a phase 3 shortcut.
    pub shortcut: bool,
    /// Carried traffic since the last refresh.
    pub used: bool,
}

/// The timer of entry `key` popped at `at`: true when its owner must act now (stale heap
/// entries and removed owners say false).
fn popped<T: HasTimer>(
    timers: &mut TimerQueue,
    arena: &mut Arena<T>,
    key: Key,
    at: u64,
    now: u64,
) -> bool {
    arena
        .get_mut(key.id())
        .is_some_and(|e| timers.on_pop(e.timer_mut(), key, at, now))
}

/// When the heap entry of `id`'s timer was queued, if the entry still exists.
fn queued_at<T: HasTimer>(arena: &Arena<T>, id: EntryId) -> Option<u64> {
    arena.get(id).map(|e| e.timer().queued)
}

/// NHRP engine for one mGRE interface (RFC 2332 with Cisco DMVPN behaviour).
///
/// See the crate docs for the run loop. Construct with [`Node::new`].
#[derive(Debug)]
pub struct Node {
    pub(crate) cfg: Config,
    pub(crate) clock: Clock,
    pub(crate) timers: TimerQueue,
    pub(crate) next_id: u32,
    pub(crate) auth_body: Option<crate::wire::Authentication>,
    // NHC
    pub(crate) nhs: Arena<NhsSlot>,
    pub(crate) cache: Arena<CacheEntry>,
    pub(crate) cache_index: PrefixMap<EntryId>,
    pub(crate) pending: Arena<Pending>,
    pub(crate) pending_by_target: BTreeMap<IpAddr, EntryId>,
    pub(crate) pending_by_id: BTreeMap<u32, EntryId>,
    pub(crate) answered: VecDeque<Answered>,
    pub(crate) trigger_limiter: RateLimiter,
    // NHS
    pub(crate) regs: Arena<Registration>,
    pub(crate) reg_index: BTreeMap<IpAddr, EntryId>,
    pub(crate) routes: PrefixMap<IpAddr>,
    pub(crate) redirect_limiter: RateLimiter,
    // output
    pub(crate) outbox: VecDeque<(IpAddr, Message)>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: Stats,
}

impl Node {
    /// Creates a node; an NHC starts registering with its NHSs at once (drain
    /// [`Node::poll_transmit`] afterwards).
    pub fn new(config: Config, now: Instant) -> Result<Self, ApiError> {
        config.validate()?;
        let clock = Clock::new(now);
        let seed = splitmix64(config.seed);
        let auth_body = config
            .authentication
            .as_deref()
            .map(crate::wire::Authentication::cisco_plaintext);
        let trigger_limiter = RateLimiter::new(
            config.rate_limit_slots,
            ceil_ms(config.shortcut_trigger_interval),
        );
        let redirect_limiter =
            RateLimiter::new(config.rate_limit_slots, ceil_ms(config.redirect_interval));
        let nhs_list = config.nhs.clone();
        let mut node = Self {
            cfg: config,
            clock,
            timers: TimerQueue::default(),
            next_id: (seed as u32).max(1),
            auth_body,
            nhs: Arena::default(),
            cache: Arena::default(),
            cache_index: PrefixMap::default(),
            pending: Arena::default(),
            pending_by_target: BTreeMap::new(),
            pending_by_id: BTreeMap::new(),
            answered: VecDeque::new(),
            trigger_limiter,
            regs: Arena::default(),
            reg_index: BTreeMap::new(),
            routes: PrefixMap::default(),
            redirect_limiter,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        };
        for n in nhs_list {
            node.nhs.insert(NhsSlot::new(n));
        }
        node.recompute_active(now);
        Ok(node)
    }

    /// Processes one received NHRP packet. Possible outputs: replies and forwarded requests
    /// ([`Node::poll_transmit`]), events, re-armed timers. `Err` means the packet was
    /// ignored and counted.
    pub fn handle_packet(&mut self, now: Instant, dgram: Datagram<'_>) -> Result<(), DropReason> {
        let msg = match crate::codec::decode(dgram.bytes) {
            Ok(m) => m,
            Err(e) => {
                let r = DropReason::Malformed(e);
                self.stats.dropped.bump(&r);
                return Err(r);
            }
        };
        self.handle_message(now, dgram.from, msg, dgram.bytes)
    }

    /// [`Node::handle_packet`] after decoding; also the entry point of the ladder tests.
    pub(crate) fn handle_message(
        &mut self,
        now: Instant,
        from: IpAddr,
        msg: Message,
        raw: &[u8],
    ) -> Result<(), DropReason> {
        let op = msg.op;
        let r = self.dispatch(now, from, msg, raw);
        if let Err(e) = &r {
            self.stats.dropped.bump(e);
            self.stats.dropped_by_type.bump(op);
        }
        self.compact_timers();
        r
    }

    fn dispatch(
        &mut self,
        now: Instant,
        from: IpAddr,
        msg: Message,
        raw: &[u8],
    ) -> Result<(), DropReason> {
        if msg.src_proto.is_ipv4() != self.cfg.protocol_address.is_ipv4() {
            return Err(DropReason::AddressFamily);
        }
        if let Some(ours) = &self.auth_body {
            let verdict = match &msg.ext.auth {
                None => Some(DropReason::AuthMissing),
                Some(b) if b != ours => Some(DropReason::AuthMismatch),
                Some(_) => None,
            };
            if let Some(reason) = verdict {
                // RFC 2332 §5.3.4: answer with Error Indication "Authentication Failure".
                if self.cfg.error_indication_on_auth_failure && msg.op != Op::ErrorIndication {
                    self.send_error(error_code::AUTHENTICATION_FAILURE, from, &msg, raw);
                }
                return Err(reason);
            }
        }
        // RFC 2332 §5.3: a compulsory extension we do not understand rejects the packet.
        let unknown = msg.ext.other.iter().find_map(|e| match &e.value {
            crate::wire::ExtensionValue::Unknown { ty, .. } if e.compulsory => Some(*ty),
            _ => None,
        });
        if let Some(ty) = unknown {
            if msg.op != Op::ErrorIndication {
                let to = msg.src_nbma.unwrap_or(from);
                self.send_error(error_code::UNRECOGNIZED_EXTENSION, to, &msg, raw);
            }
            return Err(DropReason::UnrecognizedExtension(ty));
        }
        let op = msg.op;
        let r = match op {
            Op::RegistrationRequest => {
                if !self.cfg.role.is_server() {
                    return Err(DropReason::WrongRole {
                        packet_type: op as u8,
                    });
                }
                self.nhs_on_registration_request(now, from, msg)
            }
            Op::RegistrationReply => {
                if !self.cfg.role.is_client() {
                    return Err(DropReason::WrongRole {
                        packet_type: op as u8,
                    });
                }
                self.nhc_on_registration_reply(now, from, msg)
            }
            Op::ResolutionRequest => self.on_resolution_request(now, from, msg, raw),
            Op::ResolutionReply
                if self.cfg.role.is_server() && msg.src_proto != self.cfg.protocol_address =>
            {
                // Not ours: a reply travelling back through us (RFC 2332 §5.2.2).
                self.nhs_relay_reply(from, msg, raw)
            }
            Op::ResolutionReply => {
                if !self.cfg.role.is_client() {
                    return Err(DropReason::WrongRole {
                        packet_type: op as u8,
                    });
                }
                self.nhc_on_resolution_reply(now, from, msg)
            }
            Op::PurgeRequest => self.on_purge_request(now, from, msg),
            Op::PurgeReply => Ok(()),
            Op::ErrorIndication => self.on_error_indication(now, from, msg),
            Op::TrafficIndication => {
                if !self.cfg.role.is_client() {
                    return Err(DropReason::WrongRole {
                        packet_type: op as u8,
                    });
                }
                self.nhc_on_traffic_indication(now, from, msg)
            }
        };
        if r.is_ok() {
            self.stats.received.bump(op);
        }
        r
    }

    /// Fires due timers: retransmissions, refreshes, expiries. Idempotent; an early call is a
    /// no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.clock.tick(now);
        while let Some((at, key)) = self.timers.pop_due(t) {
            let id = key.id();
            let Some(kind) = key.kind() else { continue };
            let timers = &mut self.timers;
            let fire = match kind {
                Kind::Nhs => popped(timers, &mut self.nhs, key, at, t),
                Kind::Registration => popped(timers, &mut self.regs, key, at, t),
                Kind::Cache => popped(timers, &mut self.cache, key, at, t),
                Kind::Pending => popped(timers, &mut self.pending, key, at, t),
            };
            if !fire {
                continue;
            }
            match kind {
                Kind::Nhs => self.nhc_on_nhs_timer(now, id),
                Kind::Registration => self.nhs_on_registration_timer(now, id),
                Kind::Cache => self.nhc_on_cache_timer(now, id),
                Kind::Pending => self.nhc_on_pending_timer(now, id),
            }
        }
        self.compact_timers();
    }

    /// Returns the next NHRP packet to send, encoded.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        loop {
            let (to, msg) = self.outbox.pop_front()?;
            match crate::codec::encode_owned(msg) {
                Some(bytes) => return Some(Transmit { to, bytes }),
                None => self.stats.encode_failed += 1,
            }
        }
    }

    /// Returns the next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Returns when [`Node::handle_timeout`] must next be called. After
    /// `handle_timeout(now)` it is `None` or later than `now`. O(1).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|t| self.clock.instant(t))
    }

    /// Returns the counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.registrations = self.regs.len();
        s.cache_entries = self.cache.len();
        s.pending_requests = self.pending.len();
        s.timers = self.timers.len();
        s
    }

    /// Returns the configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    // ----- queries -------------------------------------------------------------------------

    /// Returns the cache entry (positive, negative or shortcut) with the longest prefix
    /// covering `target`.
    pub fn lookup(&self, target: IpAddr) -> Option<CacheInfo> {
        let (_, id) = self.cache_index.lookup(target)?;
        self.cache.get(id).map(|e| self.cache_info(e))
    }

    fn cache_info(&self, e: &CacheEntry) -> CacheInfo {
        let (nbma, protocol, negative) = match e.binding {
            Binding::Positive { nbma, protocol } => (Some(nbma), protocol, None),
            Binding::Negative(r) => (None, None, Some(r)),
        };
        CacheInfo {
            prefix: e.prefix,
            nbma,
            protocol,
            negative,
            expires: self.clock.instant(e.expires),
            shortcut: e.shortcut,
            used: e.used,
        }
    }

    /// Returns every resolution cache entry.
    pub fn cache_entries(&self) -> impl Iterator<Item = CacheInfo> + '_ {
        self.cache.iter().map(|(_, e)| self.cache_info(e))
    }

    /// Returns the installed phase 3 shortcuts.
    pub fn shortcuts(&self) -> impl Iterator<Item = CacheInfo> + '_ {
        self.cache_entries().filter(|c| c.shortcut)
    }

    /// Returns the NHS cache (hub): every registered client.
    pub fn registrations(&self) -> impl Iterator<Item = RegistrationInfo> + '_ {
        self.reg_index
            .values()
            .filter_map(|id| self.regs.get(*id))
            .map(|r| self.registration_info(r))
    }

    /// Returns the registration of one protocol address.
    pub fn registration(&self, protocol: IpAddr) -> Option<RegistrationInfo> {
        let id = self.reg_index.get(&protocol)?;
        self.regs.get(*id).map(|r| self.registration_info(r))
    }

    fn registration_info(&self, r: &Registration) -> RegistrationInfo {
        RegistrationInfo {
            protocol: r.protocol,
            nbma: r.nbma,
            nat_nbma: r.nat_nbma,
            expires: self.clock.instant(r.expires),
            unique: r.unique,
            request_id: r.request_id,
        }
    }

    /// Returns the multicast replication list of a hub (`ip nhrp map multicast dynamic`):
    /// the NBMA address of every registered client (post-NAT when known), each once.
    pub fn multicast_nbmas(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .regs
            .iter()
            .map(|(_, r)| r.nat_nbma.unwrap_or(r.nbma))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Returns the state of every configured NHS (`show ip nhrp nhs`).
    pub fn nhs_status(&self) -> impl Iterator<Item = NhsStatus> + '_ {
        self.nhs.iter().map(|(_, s)| NhsStatus {
            config: s.cfg,
            state: s.state,
            public_nbma: s.public_nbma,
            request_id: s.request_id,
        })
    }

    /// Returns true if at least one NHS is up.
    pub fn is_registered(&self) -> bool {
        self.nhs.iter().any(|(_, s)| s.state == NhsState::Up)
    }

    // ----- verbs shared by both roles ------------------------------------------------------

    /// Tells the node that `next_hop` (a tunnel address) is the routed next hop for
    /// `prefix`. An NHS uses these hints to forward Resolution Requests for networks behind
    /// a registered client (phase 3: the hub's routing table knows `3.3.3.0/24` via spoke
    /// `172.16.123.3`).
    pub fn set_route(&mut self, prefix: IpNet, next_hop: IpAddr) {
        self.routes.insert(prefix, next_hop);
    }

    /// Forgets a route hint.
    pub fn remove_route(&mut self, prefix: IpNet) {
        self.routes.remove(&prefix);
    }

    // ----- internal helpers ----------------------------------------------------------------

    pub(crate) fn next_request_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    pub(crate) fn tick(&self, now: Instant) -> u64 {
        self.clock.tick(now)
    }

    pub(crate) fn deadline(&self, now: Instant, d: Duration) -> u64 {
        self.clock.deadline(now, d)
    }

    pub(crate) fn key(kind: Kind, id: EntryId) -> Key {
        Key::new(kind, id)
    }

    /// Keeps the timer heap proportional to the live objects: cancelled entries normally
    /// leave the heap when their time comes, but churn (register, deregister, register
    /// another address ...) could pile them up; past twice the live timers, stale entries
    /// are dropped in one O(n) pass (amortised O(1)).
    pub(crate) fn compact_timers(&mut self) {
        let live = self.regs.len() + self.cache.len() + self.pending.len() + self.nhs.len();
        if self.timers.len() <= 2 * live + 64 {
            return;
        }
        let (regs, cache, pending, nhs) = (&self.regs, &self.cache, &self.pending, &self.nhs);
        self.timers.retain(|at, key| {
            let id = key.id();
            let queued = match key.kind() {
                Some(Kind::Nhs) => queued_at(nhs, id),
                Some(Kind::Registration) => queued_at(regs, id),
                Some(Kind::Cache) => queued_at(cache, id),
                Some(Kind::Pending) => queued_at(pending, id),
                None => None,
            };
            queued == Some(at)
        });
    }

    /// Queues a message, counting it (or the overflow).
    pub(crate) fn send(&mut self, to: IpAddr, mut msg: Message) {
        if self.outbox.len() >= self.cfg.max_outbox {
            self.stats.outbox_overflow += 1;
            return;
        }
        msg.ext.auth.clone_from(&self.auth_body);
        self.stats.sent.bump(msg.op);
        self.outbox.push_back((to, msg));
    }

    /// Queues an event, counting overflow.
    pub(crate) fn emit(&mut self, e: Event) {
        if self.events.len() >= self.cfg.max_events {
            self.stats.event_overflow += 1;
            return;
        }
        self.events.push_back(e);
    }

    /// Our CIE (responder address, transit records): our addresses, holding time and MTU.
    pub(crate) fn own_cie(&self, prefix_len: u8) -> Cie {
        Cie {
            code: 0,
            prefix_len,
            mtu: self.cfg.mtu,
            holding_time: self.cfg.holding_secs(),
            preference: 255,
            client_nbma: Some(self.cfg.nbma_address),
            client_proto: Some(self.cfg.protocol_address),
        }
    }

    /// The protocol address of our Responder Address extension (`ip nhrp responder`).
    pub(crate) fn responder_address(&self) -> IpAddr {
        self.cfg
            .responder_address
            .unwrap_or(self.cfg.protocol_address)
    }

    /// Sends an Error Indication about `orig` (RFC 2332 §5.2.7) to `to`.
    pub(crate) fn send_error(&mut self, code: u16, to: IpAddr, orig: &Message, raw: &[u8]) {
        if orig.op == Op::ErrorIndication {
            return; // never answer an error with an error
        }
        let mut m = Message::new(
            Op::ErrorIndication,
            self.cfg.nbma_address,
            self.cfg.protocol_address,
            orig.src_proto,
        );
        m.error = Some((code, 0));
        m.payload = raw[..raw.len().min(512)].to_vec();
        self.send(to, m);
    }

    /// Returns the prefix length to answer with if `target` is ours: our own address (host
    /// route) or inside a configured local network (that network's length).
    pub(crate) fn own_prefix_for(&self, target: IpAddr) -> Option<u8> {
        if target == self.cfg.protocol_address {
            return Some(host_len(target));
        }
        self.cfg
            .local_networks
            .iter()
            .filter(|n| n.contains(&target))
            .map(|n| n.prefix_len())
            .max()
    }

    fn on_error_indication(
        &mut self,
        now: Instant,
        from: IpAddr,
        msg: Message,
    ) -> Result<(), DropReason> {
        let code = crate::wire::ErrorCode::from_u16(msg.error.map_or(0, |e| e.0));
        self.emit(Event::ErrorIndication { code, from });
        // The payload is the offending NHRP packet: its request ID sits at a fixed offset
        // (fixed header 20 bytes, then proto lengths and flags, RFC 2332 §5.2).
        if let Some(b) = msg.payload.get(24..28) {
            let id = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if let Some(pid) = self.pending_by_id.get(&id).copied() {
                self.nhc_fail_pending(now, pid, ResolutionError::ErrorIndication(code));
            }
        }
        Ok(())
    }

    fn on_purge_request(
        &mut self,
        now: Instant,
        from: IpAddr,
        msg: Message,
    ) -> Result<(), DropReason> {
        // RFC 2332 §5.2.5: each CIE names a protocol address (and prefix) to purge.
        let mut targets: Vec<IpNet> = Vec::new();
        for c in &msg.cies {
            let a = c.client_proto.unwrap_or(msg.src_proto);
            let max = host_len(a);
            let len = if c.prefix_len == 0 || c.prefix_len > max {
                max
            } else {
                c.prefix_len
            };
            if let Ok(p) = IpNet::new(a, len) {
                targets.push(p.trunc());
            }
        }
        if msg.cies.is_empty()
            && let Ok(p) = IpNet::new(msg.src_proto, host_len(msg.src_proto))
        {
            targets.push(p);
        }
        for p in &targets {
            if self.cfg.role.is_server() {
                self.nhs_purge_registration(p, msg.src_nbma, from);
            }
            self.nhc_purge_cache(now, p, Some(from));
        }
        if msg.flags & crate::msg::flags::N == 0 {
            let mut reply = msg.clone();
            reply.op = Op::PurgeReply;
            reply.hop_count = 255;
            self.send(from, reply);
        }
        Ok(())
    }
}

/// SplitMix64: the seed scrambler for request IDs (deterministic, no OS randomness).
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
