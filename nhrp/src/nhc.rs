//! NHC (spoke) side: registration with NHSs (RFC 2332 §5.2.3/§5.2.4, Cisco retry, refresh,
//! NHS up/down, priority fallback), resolution (§5.2.1/§5.2.2: coalescing, back-off,
//! positive and negative caching), answering forwarded requests, and phase 3 shortcuts.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::arena::EntryId;
use crate::cache::{Answered, Binding, CacheEntry, Pending};
use crate::config::NhsConfig;
use crate::error::{ApiError, DownReason, DropReason};
use crate::event::{Event, ResolutionError};
use crate::msg::{Cie, Message, Op, cie_code, flags, host_len, ip_src_dst};
use crate::node::{NhsState, Node};
use crate::ratelimit;
use crate::timer::{Kind, NEVER, Timer, TimerQueue, ceil_ms};
use crate::wire::CieCode;

crate::timer::has_timer!(NhsSlot);

/// Per-NHS registration state.
#[derive(Clone, Debug)]
pub(crate) struct NhsSlot {
    pub(crate) cfg: NhsConfig,
    pub(crate) state: NhsState,
    pub(crate) request_id: u32,
    /// A request is in flight and unanswered.
    pub(crate) outstanding: bool,
    /// Retransmissions of the in-flight request.
    pub(crate) retries: u32,
    pub(crate) rto_ms: u64,
    pub(crate) public_nbma: Option<IpAddr>,
    pub(crate) timer: Timer,
}

impl NhsSlot {
    pub(crate) fn new(cfg: NhsConfig) -> Self {
        Self {
            cfg,
            state: NhsState::Standby,
            request_id: 0,
            outstanding: false,
            retries: 0,
            rto_ms: 0,
            public_nbma: None,
            timer: Timer::default(),
        }
    }
}

impl Node {
    // ----- verbs ---------------------------------------------------------------------------

    /// NHC: adds an NHS (`ip nhrp nhs`) and starts registering with it if it is among the
    /// active ones.
    pub fn add_nhs(&mut self, now: Instant, nhs: NhsConfig) -> Result<(), ApiError> {
        if !self.cfg.role.is_client() {
            return Err(ApiError::NotClient);
        }
        if nhs.protocol.is_ipv4() != self.cfg.protocol_address.is_ipv4() {
            return Err(ApiError::AddressFamily);
        }
        if self.nhs.iter().any(|(_, s)| s.cfg.nbma == nhs.nbma) {
            return Err(ApiError::DuplicateNhs);
        }
        if self.nhs.len() >= crate::node::MAX_NHS {
            return Err(ApiError::InvalidConfig("too many NHSs"));
        }
        self.cfg.nhs.push(nhs);
        self.nhs.insert(NhsSlot::new(nhs));
        self.recompute_active(now);
        Ok(())
    }

    /// NHC: removes an NHS (by NBMA address); emits `NhsDown { reason: Removed }` if it was
    /// up and lets another one take over.
    pub fn remove_nhs(&mut self, now: Instant, nbma: IpAddr) -> Result<(), ApiError> {
        let id = self
            .nhs
            .iter()
            .find(|(_, s)| s.cfg.nbma == nbma)
            .map(|(id, _)| id)
            .ok_or(ApiError::UnknownNhs)?;
        if let Some(s) = self.nhs.remove(id)
            && s.state == NhsState::Up
        {
            self.emit(Event::NhsDown {
                nhs: s.cfg.protocol,
                nbma: s.cfg.nbma,
                reason: DownReason::Removed,
            });
        }
        self.cfg.nhs.retain(|n| n.nbma != nbma);
        self.recompute_active(now);
        Ok(())
    }

    /// NHC: registers again at once with every active NHS (new request IDs), as after
    /// `clear ip nhrp`.
    pub fn register(&mut self, now: Instant) -> Result<(), ApiError> {
        if !self.cfg.role.is_client() {
            return Err(ApiError::NotClient);
        }
        if self.nhs.iter().all(|(_, s)| s.state == NhsState::Standby) {
            // After `deregister`: start over with the preferred NHSs.
            self.recompute_active(now);
            return Ok(());
        }
        let ids: Vec<EntryId> = self
            .nhs
            .iter()
            .filter(|(_, s)| s.state != NhsState::Standby)
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            self.send_registration(now, id, true);
        }
        Ok(())
    }

    /// NHC: withdraws our registration from every NHS that has it, before shutting down:
    /// a Purge Request carrying the ID of the registration it purges (Cisco requires the
    /// original Registration Request ID). The NHSs then stand by (events `NhsDown` with
    /// [`DownReason::Deregistered`]) until [`Node::register`] is called. Returns how many
    /// Purge Requests were sent.
    pub fn deregister(&mut self, now: Instant) -> Result<usize, ApiError> {
        let _ = now;
        if !self.cfg.role.is_client() {
            return Err(ApiError::NotClient);
        }
        let up: Vec<(EntryId, NhsConfig, u32)> = self
            .nhs
            .iter()
            .filter(|(_, s)| s.state == NhsState::Up)
            .map(|(id, s)| (id, s.cfg, s.request_id))
            .collect();
        for (id, nhs, request_id) in &up {
            let mut m = Message::new(
                Op::PurgeRequest,
                self.cfg.nbma_address,
                self.cfg.protocol_address,
                nhs.protocol,
            );
            m.request_id = *request_id;
            m.cies.push(Cie {
                code: 0,
                prefix_len: host_len(self.cfg.protocol_address),
                mtu: 0,
                holding_time: 0,
                preference: 0,
                client_nbma: Some(self.cfg.nbma_address),
                client_proto: Some(self.cfg.protocol_address),
            });
            self.send(nhs.nbma, m);
            if let Some(s) = self.nhs.get_mut(*id) {
                s.state = NhsState::Standby;
                s.outstanding = false;
                TimerQueue::cancel(&mut s.timer);
            }
            self.emit(Event::NhsDown {
                nhs: nhs.protocol,
                nbma: nhs.nbma,
                reason: DownReason::Deregistered,
            });
        }
        Ok(up.len())
    }

    /// NHC: resolves `target` through the best NHS that is up (RFC 2332 §5.2.1). The answer
    /// comes as [`Event::Resolved`] or [`Event::ResolutionFailed`] — at once when cached.
    /// Concurrent calls for the same target share one request.
    pub fn resolve(&mut self, now: Instant, target: IpAddr) -> Result<(), ApiError> {
        if !self.cfg.role.is_client() {
            return Err(ApiError::NotClient);
        }
        if target.is_ipv4() != self.cfg.protocol_address.is_ipv4() {
            return Err(ApiError::AddressFamily);
        }
        let t = self.tick(now);
        if let Some((prefix, id)) = self.cache_index.lookup(target)
            && let Some(e) = self.cache.get(id)
            && e.expires > t
        {
            let ev = match e.binding {
                Binding::Positive { nbma, protocol } => Event::Resolved {
                    target,
                    prefix,
                    nbma,
                    protocol,
                    expires: self.clock.instant(e.expires),
                },
                Binding::Negative(reason) => Event::ResolutionFailed { target, reason },
            };
            self.emit(ev);
            return Ok(());
        }
        if self.pending_by_target.contains_key(&target) {
            self.stats.resolutions_coalesced += 1;
            return Ok(());
        }
        let r = self.start_resolution(now, target, false).map(|_| ());
        self.compact_timers();
        r
    }

    /// NHC: the forwarding plane reports that the shortcut or cache entry covering `dst`
    /// carried traffic, so it is refreshed before it expires. Returns false if none covers
    /// `dst`.
    pub fn mark_used(&mut self, now: Instant, dst: IpAddr) -> bool {
        let _ = now;
        match self.cache_index.lookup(dst) {
            Some((_, id)) => match self.cache.get_mut(id) {
                Some(e) => {
                    e.used = true;
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    /// Purges `prefix`: removes our own cache entries inside it (events `ShortcutDown` /
    /// `Purged`) and sends Purge Requests (RFC 2332 §5.2.5) to every requester we answered
    /// for an address inside it, so they drop a binding that changed. Returns how many Purge
    /// Requests were sent.
    pub fn purge(&mut self, now: Instant, prefix: IpNet) -> usize {
        let prefix = prefix.trunc();
        self.nhc_purge_cache(now, &prefix, None);
        self.purge_answered(now, Some(prefix))
    }

    /// NHC: replaces the local networks (a local binding change): requesters we answered
    /// for a network that is no longer ours are sent Purge Requests. Returns how many.
    pub fn set_local_networks(&mut self, now: Instant, networks: Vec<IpNet>) -> usize {
        let gone: Vec<IpNet> = self
            .cfg
            .local_networks
            .iter()
            .filter(|n| !networks.contains(n))
            .copied()
            .collect();
        self.cfg.local_networks = networks;
        gone.into_iter()
            .map(|n| self.purge_answered(now, Some(n.trunc())))
            .sum()
    }

    /// Sends Purge Requests (RFC 2332 §5.2.5) to the requesters we answered for addresses
    /// overlapping `prefix` (all of them when `None`) and forgets them.
    pub(crate) fn purge_answered(&mut self, now: Instant, prefix: Option<IpNet>) -> usize {
        let t = self.tick(now);
        let mut sent = 0;
        let mut keep = std::collections::VecDeque::with_capacity(self.answered.len());
        let answered = std::mem::take(&mut self.answered);
        for a in answered {
            let overlaps = prefix.is_none_or(|p| a.prefix.contains(&p) || p.contains(&a.prefix));
            if overlaps && a.expires > t {
                let mut m = Message::new(
                    Op::PurgeRequest,
                    self.cfg.nbma_address,
                    self.cfg.protocol_address,
                    a.protocol,
                );
                m.request_id = a.request_id;
                m.cies.push(Cie {
                    code: 0,
                    prefix_len: a.prefix.prefix_len(),
                    mtu: 0,
                    holding_time: 0,
                    preference: 0,
                    client_nbma: Some(self.cfg.nbma_address),
                    client_proto: Some(a.prefix.addr()),
                });
                self.send(a.nbma, m);
                sent += 1;
            } else if !overlaps && a.expires > t {
                keep.push_back(a);
            }
        }
        self.answered = keep;
        sent
    }

    // ----- registration --------------------------------------------------------------------

    /// Applies `max_active_nhs`: the best-priority NHSs that are not down are active, the
    /// rest stand by (RFC-external Cisco `nhs fallback` behaviour).
    pub(crate) fn recompute_active(&mut self, now: Instant) {
        if !self.cfg.role.is_client() {
            return;
        }
        let mut order: Vec<(u8, EntryId)> = self
            .nhs
            .iter()
            .map(|(id, s)| (s.cfg.priority, id))
            .collect();
        order.sort();
        let max = if self.cfg.max_active_nhs == 0 {
            usize::MAX
        } else {
            self.cfg.max_active_nhs
        };
        let mut active = 0usize;
        for (_, id) in order {
            let Some(state) = self.nhs.get(id).map(|s| s.state) else {
                continue;
            };
            if state == NhsState::Down {
                continue; // keeps probing with back-off
            }
            if active < max {
                active += 1;
                if state == NhsState::Standby {
                    if let Some(s) = self.nhs.get_mut(id) {
                        s.state = NhsState::Registering;
                    }
                    self.send_registration(now, id, true);
                }
            } else if state != NhsState::Standby {
                let Some(s) = self.nhs.get_mut(id) else {
                    continue;
                };
                let was_up = s.state == NhsState::Up;
                s.state = NhsState::Standby;
                s.outstanding = false;
                TimerQueue::cancel(&mut s.timer);
                let (nhs, nbma) = (s.cfg.protocol, s.cfg.nbma);
                if was_up {
                    self.emit(Event::NhsDown {
                        nhs,
                        nbma,
                        reason: DownReason::Fallback,
                    });
                }
            }
        }
    }

    /// Sends (or retransmits) the Registration Request to one NHS and arms its timer.
    pub(crate) fn send_registration(&mut self, now: Instant, id: EntryId, new: bool) {
        let initial = ceil_ms(self.cfg.retransmit.initial);
        let fresh_id = if new {
            Some(self.next_request_id())
        } else {
            None
        };
        let Some(s) = self.nhs.get_mut(id) else {
            return;
        };
        if let Some(rid) = fresh_id {
            s.request_id = rid;
            s.retries = 0;
            s.rto_ms = initial;
        }
        s.outstanding = true;
        let (cfg, rid, rto) = (s.cfg, s.request_id, s.rto_ms);
        let msg = self.build_registration(cfg, rid);
        self.send(cfg.nbma, msg);
        let at = self.deadline(now, Duration::from_millis(rto));
        if let Some(s) = self.nhs.get_mut(id) {
            self.timers
                .schedule(&mut s.timer, Self::key(Kind::Nhs, id), at);
        }
    }

    /// RFC 2332 §5.2.3 Registration Request, laid out like Cisco's (features.md, captures
    /// README): U bit unless `no-unique`, Cisco NAT flag, one CIE with empty client
    /// addresses, empty Responder/Transit extensions, the NHS's address in the NAT extension.
    fn build_registration(&self, nhs: NhsConfig, request_id: u32) -> Message {
        let mut m = Message::new(
            Op::RegistrationRequest,
            self.cfg.nbma_address,
            self.cfg.protocol_address,
            nhs.protocol,
        );
        m.request_id = request_id;
        if self.cfg.unique {
            m.flags |= flags::U_REG;
        }
        self.request_body(&mut m, host_len(self.cfg.protocol_address));
        if self.cfg.nat_extension {
            m.ext.nat = Some(vec![Cie {
                code: 0,
                prefix_len: host_len(nhs.protocol),
                mtu: self.cfg.mtu,
                holding_time: 0,
                preference: 255,
                client_nbma: Some(nhs.nbma),
                client_proto: Some(nhs.protocol),
            }]);
        }
        m
    }

    /// What Cisco puts in every request it originates (registration and resolution): the
    /// Cisco NAT flag when enabled, one CIE for `prefix_len` with our MTU and holding time but
    /// empty client addresses, and empty Responder Address / Forward / Reverse Transit NHS
    /// Record extensions for the responder and the NHSs on the path to fill.
    fn request_body(&self, m: &mut Message, prefix_len: u8) {
        if self.cfg.nat_extension {
            m.flags |= flags::CISCO_NAT;
        }
        m.cies.push(Cie {
            code: 0,
            prefix_len,
            mtu: self.cfg.mtu,
            holding_time: self.cfg.holding_secs(),
            preference: 255,
            client_nbma: None,
            client_proto: None,
        });
        m.ext.responder = Some(None);
        m.ext.forward_transit = Some(Vec::new());
        m.ext.reverse_transit = Some(Vec::new());
    }

    /// Retransmission / refresh timer of one NHS.
    pub(crate) fn nhc_on_nhs_timer(&mut self, now: Instant, id: EntryId) {
        let max_rto = ceil_ms(self.cfg.retransmit.max);
        let down_after = self.cfg.nhs_down_after;
        let Some(s) = self.nhs.get_mut(id) else {
            return;
        };
        match (s.state, s.outstanding) {
            (NhsState::Standby, _) => {}
            (_, false) => {
                // Refresh (Up) or retry after a rejection (Down): a new registration.
                self.send_registration(now, id, true);
            }
            (_, true) => {
                s.retries += 1;
                s.rto_ms = (s.rto_ms.saturating_mul(2)).min(max_rto);
                let went_down = s.retries > down_after && s.state != NhsState::Down;
                if went_down {
                    s.state = NhsState::Down;
                    let (nhs, nbma) = (s.cfg.protocol, s.cfg.nbma);
                    self.emit(Event::NhsDown {
                        nhs,
                        nbma,
                        reason: DownReason::Timeout,
                    });
                }
                self.send_registration(now, id, false);
                if went_down {
                    self.recompute_active(now);
                }
            }
        }
    }

    /// RFC 2332 §5.2.4 Registration Reply.
    pub(crate) fn nhc_on_registration_reply(
        &mut self,
        now: Instant,
        from: IpAddr,
        msg: Message,
    ) -> Result<(), DropReason> {
        let rid = msg.request_id;
        let Some(id) = self
            .nhs
            .iter()
            .find(|(_, s)| {
                s.outstanding && s.request_id == rid && msg.src_proto == self.cfg.protocol_address
            })
            .map(|(id, _)| id)
        else {
            return Err(DropReason::UnknownRequest(rid));
        };
        let _ = from;
        let code = msg.cies.first().map_or(cie_code::SUCCESS, |c| c.code);
        let granted = msg
            .cies
            .first()
            .map_or(self.cfg.holding_secs(), |c| c.holding_time);
        let interval = self.cfg.effective_registration_interval();
        let max_rto = self.cfg.retransmit.max;
        let nat_seen = self.nat_address_in(&msg);
        let Some(s) = self.nhs.get_mut(id) else {
            return Ok(());
        };
        let was = s.state;
        let (nhs, nbma) = (s.cfg.protocol, s.cfg.nbma);
        s.outstanding = false;
        s.retries = 0;
        if code == cie_code::SUCCESS {
            s.state = NhsState::Up;
            let new_public = nat_seen.filter(|a| Some(*a) != s.public_nbma);
            let rebound = new_public.is_some() && s.public_nbma.is_some();
            if nat_seen.is_some() {
                s.public_nbma = nat_seen;
            }
            let at = self.clock.deadline(now, interval);
            self.timers
                .schedule(&mut s.timer, Self::key(Kind::Nhs, id), at);
            if was != NhsState::Up {
                self.emit(Event::NhsUp {
                    nhs,
                    nbma,
                    holding_time: Duration::from_secs(u64::from(granted)),
                });
            }
            if let Some(public_nbma) = new_public {
                self.emit(Event::NatDetected { nhs, public_nbma });
            }
            if rebound {
                // Our post-NAT address changed: every binding we gave out is stale.
                self.purge_answered(now, None);
            }
        } else {
            s.state = NhsState::Down;
            let at = self.clock.deadline(now, max_rto);
            self.timers
                .schedule(&mut s.timer, Self::key(Kind::Nhs, id), at);
            let code = CieCode::from_u8(code);
            self.emit(Event::RegistrationFailed { nhs, code });
            if was == NhsState::Up {
                self.emit(Event::NhsDown {
                    nhs,
                    nbma,
                    reason: DownReason::Rejected(code),
                });
            }
        }
        self.recompute_active(now);
        Ok(())
    }

    /// Our post-NAT address from a reply's Cisco NAT extension: a CIE naming our protocol
    /// address with an NBMA address different from our configured one.
    fn nat_address_in(&self, msg: &Message) -> Option<IpAddr> {
        if !self.cfg.nat_extension {
            return None;
        }
        msg.ext
            .nat
            .as_ref()?
            .iter()
            .find_map(|c| match (c.client_proto, c.client_nbma) {
                (Some(p), Some(n))
                    if p == self.cfg.protocol_address && n != self.cfg.nbma_address =>
                {
                    Some(n)
                }
                _ => None,
            })
    }

    /// Our NBMA address as others should use it: post-NAT if an NHS reported one.
    pub(crate) fn public_nbma(&self) -> Option<IpAddr> {
        self.nhs.iter().find_map(|(_, s)| s.public_nbma)
    }

    /// The NHS requests go through: the best-priority one that is up.
    pub(crate) fn best_up_nhs(&self) -> Option<NhsConfig> {
        self.nhs
            .iter()
            .filter(|(_, s)| s.state == NhsState::Up)
            .min_by_key(|(id, s)| (s.cfg.priority, *id))
            .map(|(_, s)| s.cfg)
    }

    // ----- resolution ----------------------------------------------------------------------

    pub(crate) fn start_resolution(
        &mut self,
        now: Instant,
        target: IpAddr,
        shortcut: bool,
    ) -> Result<EntryId, ApiError> {
        if let Some(id) = self.pending_by_target.get(&target).copied() {
            if let Some(p) = self.pending.get_mut(id) {
                p.shortcut |= shortcut;
            }
            self.stats.resolutions_coalesced += 1;
            return Ok(id);
        }
        if self.pending.len() >= self.cfg.max_pending {
            return Err(ApiError::TooManyPending);
        }
        let nhs = self.best_up_nhs().ok_or(ApiError::NoNhsUp)?;
        let request_id = self.next_request_id();
        let rto_ms = ceil_ms(self.cfg.retransmit.initial);
        let id = self.pending.insert(Pending {
            target,
            request_id,
            retries: 0,
            rto_ms,
            shortcut,
            timer: Timer::default(),
        });
        self.pending_by_target.insert(target, id);
        self.pending_by_id.insert(request_id, id);
        let m = self.build_resolution_request(target, request_id);
        self.send(nhs.nbma, m);
        let at = self.deadline(now, Duration::from_millis(rto_ms));
        if let Some(p) = self.pending.get_mut(id) {
            self.timers
                .schedule(&mut p.timer, Self::key(Kind::Pending, id), at);
        }
        Ok(id)
    }

    /// RFC 2332 §5.2.1 Resolution Request as Cisco sends it: flags Q, A, S (+ NAT), one CIE
    /// with empty client addresses, empty Responder/Transit extensions, our post-NAT address
    /// in the NAT extension once known.
    fn build_resolution_request(&self, target: IpAddr, request_id: u32) -> Message {
        let mut m = Message::new(
            Op::ResolutionRequest,
            self.cfg.nbma_address,
            self.cfg.protocol_address,
            target,
        );
        m.request_id = request_id;
        m.flags = flags::Q | flags::A | flags::S;
        self.request_body(&mut m, host_len(target));
        if self.cfg.nat_extension {
            m.ext.nat = Some(
                self.public_nbma()
                    .map(|public| {
                        vec![Cie {
                            client_nbma: Some(public),
                            ..self.own_cie(host_len(self.cfg.protocol_address))
                        }]
                    })
                    .unwrap_or_default(),
            );
        }
        m
    }

    pub(crate) fn nhc_on_pending_timer(&mut self, now: Instant, id: EntryId) {
        let max_rto = ceil_ms(self.cfg.retransmit.max);
        let retries = self.cfg.resolution_retries;
        let Some(p) = self.pending.get_mut(id) else {
            return;
        };
        p.retries += 1;
        if p.retries > retries {
            self.nhc_fail_pending(now, id, ResolutionError::Timeout);
            return;
        }
        p.rto_ms = p.rto_ms.saturating_mul(2).min(max_rto);
        let (target, rid, rto) = (p.target, p.request_id, p.rto_ms);
        let Some(nhs) = self.best_up_nhs() else {
            self.nhc_fail_pending(now, id, ResolutionError::Timeout);
            return;
        };
        let m = self.build_resolution_request(target, rid);
        self.send(nhs.nbma, m);
        let at = self.deadline(now, Duration::from_millis(rto));
        if let Some(p) = self.pending.get_mut(id) {
            self.timers
                .schedule(&mut p.timer, Self::key(Kind::Pending, id), at);
        }
    }

    fn remove_pending(&mut self, id: EntryId) -> Option<Pending> {
        let p = self.pending.remove(id)?;
        self.pending_by_target.remove(&p.target);
        self.pending_by_id.remove(&p.request_id);
        Some(p)
    }

    /// Ends a pending request unsuccessfully: negative cache entry (unless a positive one
    /// still covers the target, e.g. a shortcut being refreshed) and `ResolutionFailed`.
    pub(crate) fn nhc_fail_pending(&mut self, now: Instant, id: EntryId, reason: ResolutionError) {
        let Some(p) = self.remove_pending(id) else {
            return;
        };
        let t = self.tick(now);
        let covered = self
            .cache_index
            .lookup(p.target)
            .and_then(|(_, cid)| self.cache.get(cid))
            .is_some_and(|e| matches!(e.binding, Binding::Positive { .. }) && e.expires > t);
        if !covered && let Ok(prefix) = IpNet::new(p.target, host_len(p.target)) {
            let expires = self.deadline(now, self.cfg.negative_cache_time);
            self.cache_put(
                t,
                p.target,
                prefix,
                Binding::Negative(reason),
                expires,
                false,
            );
        }
        self.emit(Event::ResolutionFailed {
            target: p.target,
            reason,
        });
    }

    /// RFC 2332 §5.2.2 Resolution Reply for one of our requests.
    pub(crate) fn nhc_on_resolution_reply(
        &mut self,
        now: Instant,
        from: IpAddr,
        msg: Message,
    ) -> Result<(), DropReason> {
        let _ = from;
        let rid = msg.request_id;
        let id = self
            .pending_by_id
            .get(&rid)
            .copied()
            .ok_or(DropReason::UnknownRequest(rid))?;
        let target = match self.pending.get(id) {
            Some(p) if p.target == msg.dst_proto && msg.src_proto == self.cfg.protocol_address => {
                p.target
            }
            _ => return Err(DropReason::UnknownRequest(rid)),
        };
        let Some(cie) = msg.cies.first() else {
            return Err(DropReason::MissingCie);
        };
        if cie.code != cie_code::SUCCESS {
            self.nhc_fail_pending(now, id, ResolutionError::Nak(CieCode::from_u8(cie.code)));
            return Ok(());
        }
        // The responder's NBMA: its post-NAT address from the NAT extension if it gave one,
        // else the CIE's client NBMA, else where the reply came from.
        let responder_proto = cie.client_proto;
        let nat = msg.ext.nat.as_ref().and_then(|v| {
            v.iter()
                .find_map(|c| match (c.client_proto, c.client_nbma) {
                    (Some(p), Some(n)) if Some(p) == responder_proto => Some(n),
                    _ => None,
                })
        });
        let nbma = nat.or(cie.client_nbma).unwrap_or(from);
        let max = host_len(target);
        let plen = if cie.prefix_len == 0 || cie.prefix_len > max {
            max
        } else {
            cie.prefix_len
        };
        let prefix = IpNet::new(target, plen)
            .map(|p| p.trunc())
            .map_err(|_| DropReason::MissingCie)?;
        let holding = cie.holding_time;
        let Some(p) = self.remove_pending(id) else {
            return Ok(());
        };
        let t = self.tick(now);
        let expires = t.saturating_add(u64::from(holding) * 1000);
        let expires_at = self.clock.instant(expires);
        // A positive answer replaces the negative host entry, if any.
        if let Ok(host) = IpNet::new(target, max)
            && host != prefix
            && let Some(cid) = self.cache_index.get(&host)
            && self
                .cache
                .get(cid)
                .is_some_and(|e| matches!(e.binding, Binding::Negative(_)))
        {
            self.cache_remove(cid);
        }
        let was_shortcut = self
            .cache_index
            .get(&prefix)
            .and_then(|cid| self.cache.get(cid))
            .is_some_and(|e| e.shortcut);
        let shortcut = p.shortcut || was_shortcut;
        if holding > 0 {
            let b = Binding::Positive {
                nbma,
                protocol: responder_proto,
            };
            self.cache_put(t, target, prefix, b, expires, shortcut);
        }
        self.emit(Event::Resolved {
            target,
            prefix,
            nbma,
            protocol: responder_proto,
            expires: expires_at,
        });
        if shortcut && holding > 0 {
            self.emit(Event::ShortcutUp {
                prefix,
                nbma,
                expires: expires_at,
            });
        }
        Ok(())
    }

    /// Inserts or replaces a cache entry and arms its timer (refresh point for shortcuts,
    /// expiry otherwise).
    pub(crate) fn cache_put(
        &mut self,
        t: u64,
        target: IpAddr,
        prefix: IpNet,
        binding: Binding,
        expires: u64,
        shortcut: bool,
    ) {
        let holding = expires.saturating_sub(t);
        let before = ceil_ms(self.cfg.shortcut_refresh_before).min(holding / 2);
        let refresh_at = if shortcut {
            expires.saturating_sub(before)
        } else {
            NEVER
        };
        let id = match self.cache_index.get(&prefix) {
            Some(id) => {
                if let Some(e) = self.cache.get_mut(id) {
                    e.binding = binding;
                    e.target = target;
                    e.expires = expires;
                    e.refresh_at = refresh_at;
                    e.shortcut = shortcut;
                    e.used = false;
                }
                id
            }
            None => {
                if self.cache.len() >= self.cfg.max_cache_entries {
                    self.stats.cache_full += 1;
                    return;
                }
                let id = self.cache.insert(CacheEntry {
                    prefix,
                    target,
                    binding,
                    expires,
                    refresh_at,
                    shortcut,
                    used: false,
                    timer: Timer::default(),
                });
                self.cache_index.insert(prefix, id);
                id
            }
        };
        let at = refresh_at.min(expires);
        if let Some(e) = self.cache.get_mut(id) {
            self.timers
                .schedule(&mut e.timer, Self::key(Kind::Cache, id), at);
        }
    }

    fn cache_remove(&mut self, id: EntryId) -> Option<CacheEntry> {
        let e = self.cache.remove(id)?;
        self.cache_index.remove(&e.prefix);
        Some(e)
    }

    pub(crate) fn nhc_on_cache_timer(&mut self, now: Instant, id: EntryId) {
        let t = self.tick(now);
        let Some(e) = self.cache.get_mut(id) else {
            return;
        };
        if t < e.expires && e.shortcut && e.refresh_at != NEVER && t >= e.refresh_at {
            // Phase 3: refresh a shortcut that carried traffic; let an idle one expire.
            e.refresh_at = NEVER;
            let used = std::mem::take(&mut e.used);
            let (target, expires) = (e.target, e.expires);
            self.timers
                .schedule(&mut e.timer, Self::key(Kind::Cache, id), expires);
            if used {
                let _ = self.start_resolution(now, target, true);
            }
            return;
        }
        if t < e.expires {
            let expires = e.expires;
            self.timers
                .schedule(&mut e.timer, Self::key(Kind::Cache, id), expires);
            return;
        }
        if let Some(e) = self.cache_remove(id) {
            if e.shortcut {
                self.emit(Event::ShortcutDown {
                    prefix: e.prefix,
                    reason: DownReason::Expired,
                });
            } else if matches!(e.binding, Binding::Positive { .. }) {
                self.emit(Event::EntryExpired { prefix: e.prefix });
            }
        }
    }

    /// Removes cache entries overlapping `prefix` (Purge Request or local `purge`).
    pub(crate) fn nhc_purge_cache(&mut self, now: Instant, prefix: &IpNet, from: Option<IpAddr>) {
        let _ = now;
        for (p, id) in self.cache_index.overlapping(prefix) {
            if let Some(e) = self.cache_remove(id) {
                if e.shortcut {
                    self.emit(Event::ShortcutDown {
                        prefix: p,
                        reason: DownReason::Purged,
                    });
                }
                if let Some(from) = from {
                    self.emit(Event::Purged { prefix: p, from });
                }
            }
        }
    }

    // ----- answering (responder) -----------------------------------------------------------

    /// RFC 2332 §5.2.1/§5.2.2 with Cisco phase 2/3 behaviour: a Resolution Request for one
    /// of our addresses or networks is answered directly to the requester.
    pub(crate) fn answer_resolution(
        &mut self,
        now: Instant,
        from: IpAddr,
        req: &Message,
        prefix_len: u8,
    ) {
        let mut reply = req.clone();
        reply.op = Op::ResolutionReply;
        reply.hop_count = 255;
        reply.flags = req.flags | flags::A | flags::D | flags::S;
        if self.cfg.unique {
            reply.flags |= flags::U_RES;
        }
        // Cisco answers with the preference of the request's CIE (captures).
        let cie = Cie {
            preference: req.cies.first().map_or(255, |c| c.preference),
            ..self.own_cie(prefix_len)
        };
        reply.cies = vec![cie.clone()];
        reply.ext.responder = Some(Some(Cie {
            client_proto: Some(self.responder_address()),
            ..cie
        }));
        reply.ext.forward_transit = req.ext.forward_transit.clone();
        reply.ext.reverse_transit = req.ext.reverse_transit.clone();
        reply.ext.other = Vec::new();
        // NAT: tell the requester our post-NAT address; send to its post-NAT address.
        let requester_nat = req.ext.nat.as_ref().and_then(|v| {
            v.iter()
                .find_map(|c| match (c.client_proto, c.client_nbma) {
                    (Some(p), Some(n)) if p == req.src_proto => Some(n),
                    _ => None,
                })
        });
        if self.cfg.nat_extension && req.ext.nat.is_some() {
            reply.ext.nat = Some(
                self.public_nbma()
                    .map(|public| {
                        vec![Cie {
                            client_nbma: Some(public),
                            ..self.own_cie(host_len(self.cfg.protocol_address))
                        }]
                    })
                    .unwrap_or_default(),
            );
        } else {
            reply.ext.nat = None;
        }
        let to = requester_nat.or(req.src_nbma).unwrap_or(from);
        // Remember the requester so a later purge reaches it.
        let t = self.tick(now);
        if let Ok(prefix) = IpNet::new(req.dst_proto, prefix_len) {
            if self.answered.len() >= self.cfg.max_cache_entries {
                self.answered.pop_front();
            }
            self.answered.push_back(Answered {
                nbma: to,
                protocol: req.src_proto,
                prefix: prefix.trunc(),
                request_id: req.request_id,
                expires: t.saturating_add(u64::from(self.cfg.holding_secs()) * 1000),
            });
        }
        self.send(to, reply);
    }

    // ----- phase 3 -------------------------------------------------------------------------

    /// Cisco Traffic Indication (type 8): resolve the destination of the hairpinned packet
    /// (rate-limited per destination) and install a shortcut when the answer comes.
    pub(crate) fn nhc_on_traffic_indication(
        &mut self,
        now: Instant,
        from: IpAddr,
        msg: Message,
    ) -> Result<(), DropReason> {
        if !self.cfg.shortcut {
            return Err(DropReason::Disabled);
        }
        let (source, destination) =
            ip_src_dst(&msg.payload).ok_or(DropReason::BadTrafficIndication)?;
        if destination.is_ipv4() != self.cfg.protocol_address.is_ipv4() {
            return Err(DropReason::AddressFamily);
        }
        self.emit(Event::TrafficIndication {
            source,
            destination,
            from,
        });
        let t = self.tick(now);
        let covered = self
            .cache_index
            .lookup(destination)
            .and_then(|(_, id)| self.cache.get(id))
            .is_some_and(|e| e.shortcut && e.expires > t);
        if covered || self.pending_by_target.contains_key(&destination) {
            return Ok(());
        }
        if !self
            .trigger_limiter
            .allow(ratelimit::key(&[destination]), t)
        {
            self.stats.triggers_rate_limited += 1;
            return Ok(());
        }
        // A negative entry must not block a redirect-triggered attempt.
        if let Some((_, id)) = self.cache_index.lookup(destination)
            && self
                .cache
                .get(id)
                .is_some_and(|e| matches!(e.binding, Binding::Negative(_)))
        {
            self.cache_remove(id);
        }
        let _ = self.start_resolution(now, destination, true);
        Ok(())
    }
}
