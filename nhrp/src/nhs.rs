//! NHS (hub) side: the registration cache (RFC 2332 §5.2.3/§5.2.4, unique-bit conflicts,
//! holding-time expiry, Cisco NAT extension), resolution answering and forwarding with
//! hop count, transit records and loop detection (§5.2.1, §5.3.2/§5.3.3), and phase 3
//! Traffic Indications.

use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;

use crate::arena::EntryId;
use crate::error::{ApiError, DownReason, DropReason};
use crate::event::Event;
use crate::msg::{Cie, Message, Op, cie_code, error_code, flags, host_len, synth_ip_header};
use crate::node::Node;
use crate::ratelimit;
use crate::timer::{Kind, Timer, TimerQueue};
use crate::wire::CieCode;

crate::timer::has_timer!(Registration);

/// One registered protocol address.
#[derive(Clone, Debug)]
pub(crate) struct Registration {
    pub(crate) protocol: IpAddr,
    pub(crate) nbma: IpAddr,
    pub(crate) nat_nbma: Option<IpAddr>,
    pub(crate) expires: u64,
    pub(crate) request_id: u32,
    pub(crate) unique: bool,
    pub(crate) timer: Timer,
}

impl Registration {
    fn effective(&self) -> IpAddr {
        self.nat_nbma.unwrap_or(self.nbma)
    }
}

impl Node {
    /// RFC 2332 §5.2.3: a client registers one address per CIE (empty client addresses mean
    /// the packet's source addresses, as Cisco sends them).
    pub(crate) fn nhs_on_registration_request(
        &mut self,
        now: Instant,
        from: IpAddr,
        mut msg: Message,
    ) -> Result<(), DropReason> {
        if msg.cies.is_empty() {
            return Err(DropReason::MissingCie);
        }
        let src_nbma = msg.src_nbma.unwrap_or(from);
        let unique = msg.flags & flags::U_REG != 0;
        let t = self.tick(now);
        for i in 0..msg.cies.len() {
            let c = &msg.cies[i];
            let protocol = c.client_proto.unwrap_or(msg.src_proto);
            let nbma = c.client_nbma.unwrap_or(src_nbma);
            let nat_nbma = (from != nbma).then_some(from);
            let holding = c.holding_time;
            let code = self.register_one(
                now,
                t,
                protocol,
                nbma,
                nat_nbma,
                unique,
                holding,
                msg.request_id,
            );
            msg.cies[i].code = code;
        }
        // The reply reuses the request (RFC 2332 §5.2.4: same header fields and CIEs).
        let mut reply = msg;
        reply.op = Op::RegistrationReply;
        reply.hop_count = 255;
        let first = reply.cies[0].clone();
        let src_proto = reply.src_proto;
        // IPv6: a client registering its link-local address learns ours (Cisco).
        if let Some(ll) = self.cfg.link_local_address {
            let registers_link_local = reply.cies.iter().any(
                |c| matches!(c.client_proto, Some(IpAddr::V6(a)) if a.is_unicast_link_local()),
            );
            if registers_link_local {
                reply.cies.push(Cie {
                    client_nbma: Some(self.cfg.nbma_address),
                    client_proto: Some(ll),
                    code: 0,
                    ..first.clone()
                });
            }
        }
        // Responder Address extension: us (Cisco fills it in every reply, with the
        // preference of the request's CIE).
        reply.ext.responder = Some(Some(Cie {
            preference: first.preference,
            client_proto: Some(self.responder_address()),
            ..self.own_cie(host_len(self.cfg.protocol_address))
        }));
        // Cisco NAT extension: the address the request really came from when it differs
        // from the claimed one; otherwise echo the client's (captures: the hub's CIE).
        if self.cfg.nat_extension && (reply.ext.nat.is_some() || from != src_nbma) {
            if from != src_nbma {
                reply.ext.nat = Some(vec![Cie {
                    code: 0,
                    prefix_len: host_len(src_proto),
                    mtu: self.cfg.mtu,
                    holding_time: 0,
                    preference: 255,
                    client_nbma: Some(from),
                    client_proto: Some(src_proto),
                }]);
            }
        } else {
            reply.ext.nat = None;
        }
        self.send(from, reply);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn register_one(
        &mut self,
        now: Instant,
        t: u64,
        protocol: IpAddr,
        nbma: IpAddr,
        nat_nbma: Option<IpAddr>,
        unique: bool,
        holding: u16,
        request_id: u32,
    ) -> u8 {
        let expires = t.saturating_add(u64::from(holding) * 1000);
        if let Some(id) = self.reg_index.get(&protocol).copied() {
            let Some(r) = self.regs.get_mut(id) else {
                return cie_code::INSUFFICIENT_RESOURCES;
            };
            let same_binding = r.nbma == nbma && r.nat_nbma == nat_nbma;
            if r.unique && !same_binding {
                // RFC 2332 §5.2.3: a unique registration may only be refreshed from the same
                // NBMA address.
                self.stats.rejected_unique += 1;
                let nbma = nat_nbma.unwrap_or(nbma);
                self.emit(Event::RegistrationRejected {
                    protocol,
                    nbma,
                    code: CieCode::AlreadyRegistered,
                });
                return cie_code::UNIQUE_ALREADY_REGISTERED;
            }
            if holding == 0 {
                self.remove_registration(id, DownReason::Deregistered);
                return cie_code::SUCCESS;
            }
            r.nbma = nbma;
            r.nat_nbma = nat_nbma;
            r.expires = expires;
            r.unique = unique;
            r.request_id = request_id;
            self.timers
                .schedule(&mut r.timer, Self::key(Kind::Registration, id), expires);
            if !same_binding {
                let expires = self.clock.instant(expires);
                self.emit(Event::SpokeRegistered {
                    protocol,
                    nbma,
                    nat_nbma,
                    expires,
                });
            }
            return cie_code::SUCCESS;
        }
        if holding == 0 {
            return cie_code::SUCCESS;
        }
        if self.regs.len() >= self.cfg.max_registrations {
            self.stats.rejected_full += 1;
            self.emit(Event::RegistrationRejected {
                protocol,
                nbma: nat_nbma.unwrap_or(nbma),
                code: CieCode::InsufficientResources,
            });
            return cie_code::INSUFFICIENT_RESOURCES;
        }
        let id = self.regs.insert(Registration {
            protocol,
            nbma,
            nat_nbma,
            expires,
            request_id,
            unique,
            timer: Timer::default(),
        });
        self.reg_index.insert(protocol, id);
        if let Some(r) = self.regs.get_mut(id) {
            self.timers
                .schedule(&mut r.timer, Self::key(Kind::Registration, id), expires);
        }
        let _ = now;
        let expires = self.clock.instant(expires);
        self.emit(Event::SpokeRegistered {
            protocol,
            nbma,
            nat_nbma,
            expires,
        });
        cie_code::SUCCESS
    }

    fn remove_registration(&mut self, id: EntryId, reason: DownReason) {
        if let Some(mut r) = self.regs.remove(id) {
            TimerQueue::cancel(&mut r.timer);
            self.reg_index.remove(&r.protocol);
            self.emit(Event::SpokeUnregistered {
                protocol: r.protocol,
                nbma: r.nbma,
                nat_nbma: r.nat_nbma,
                reason,
            });
        }
    }

    pub(crate) fn nhs_on_registration_timer(&mut self, now: Instant, id: EntryId) {
        let t = self.tick(now);
        let Some(r) = self.regs.get_mut(id) else {
            return;
        };
        if r.expires > t {
            let at = r.expires;
            self.timers
                .schedule(&mut r.timer, Self::key(Kind::Registration, id), at);
            return;
        }
        self.remove_registration(id, DownReason::Expired);
    }

    /// Purge Request from a client for its own registration.
    pub(crate) fn nhs_purge_registration(
        &mut self,
        prefix: &IpNet,
        src_nbma: Option<IpAddr>,
        from: IpAddr,
    ) {
        let ids: Vec<EntryId> = self
            .reg_index
            .range(prefix.network()..=prefix.broadcast())
            .map(|(_, id)| *id)
            .collect();
        for id in ids {
            let owner = self
                .regs
                .get(id)
                .is_some_and(|r| Some(r.nbma) == src_nbma || r.effective() == from);
            if owner {
                self.remove_registration(id, DownReason::Purged);
            }
        }
    }

    /// Resolution Request, both roles: answer for our own addresses, otherwise (NHS) forward
    /// to the client that owns the destination, or up the hierarchy, or NAK.
    pub(crate) fn on_resolution_request(
        &mut self,
        now: Instant,
        from: IpAddr,
        msg: Message,
        raw: &[u8],
    ) -> Result<(), DropReason> {
        if msg.dst_proto.is_ipv4() != self.cfg.protocol_address.is_ipv4() {
            return Err(DropReason::AddressFamily);
        }
        if let Some(plen) = self.own_prefix_for(msg.dst_proto) {
            self.answer_resolution(now, from, &msg, plen);
            return Ok(());
        }
        if !self.cfg.role.is_server() {
            return Err(DropReason::NotForUs(msg.dst_proto));
        }
        // RFC 2332 §5.3.2: our address in the Forward Transit NHS Record means a loop.
        let me = self.cfg.protocol_address;
        let looped = msg
            .ext
            .forward_transit
            .as_ref()
            .is_some_and(|v| v.iter().any(|c| c.client_proto == Some(me)));
        if looped {
            let to = msg.src_nbma.unwrap_or(from);
            self.send_error(error_code::LOOP_DETECTED, to, &msg, raw);
            return Err(DropReason::LoopDetected);
        }
        // The client owning the destination: registered address, or route hint whose next
        // hop is registered.
        let owner = self
            .reg_index
            .get(&msg.dst_proto)
            .copied()
            .or_else(|| {
                let (_, nh) = self.routes.lookup(msg.dst_proto)?;
                self.reg_index.get(&nh).copied()
            })
            .and_then(|id| self.regs.get(id))
            .map(|r| r.effective());
        let next = owner.or_else(|| {
            if self.cfg.role.is_client() {
                self.best_up_nhs().map(|n| n.nbma)
            } else {
                None
            }
        });
        match next {
            Some(to) if to != from => self.forward_resolution(from, msg, to, raw),
            _ => {
                // RFC 2332 §5.2.2: negative reply, code 12.
                self.nak_resolution(from, &msg);
                Ok(())
            }
        }
    }

    fn forward_resolution(
        &mut self,
        from: IpAddr,
        mut msg: Message,
        to: IpAddr,
        raw: &[u8],
    ) -> Result<(), DropReason> {
        if msg.hop_count <= 1 {
            let back = msg.src_nbma.unwrap_or(from);
            self.send_error(error_code::HOP_COUNT_EXCEEDED, back, &msg, raw);
            return Err(DropReason::HopCountExceeded);
        }
        msg.hop_count -= 1;
        // Cisco fills the CIEs it adds with the preference of the request's CIE (captures:
        // 255 from current IOS spokes, 0 from older ones).
        let cie = Cie {
            preference: msg.cies.first().map_or(255, |c| c.preference),
            ..self.own_cie(host_len(self.cfg.protocol_address))
        };
        msg.ext
            .forward_transit
            .get_or_insert_with(Vec::new)
            .push(cie);
        // A requester behind NAT: tell the responder where to answer.
        if self.cfg.nat_extension {
            let requester_nat = self
                .reg_index
                .get(&msg.src_proto)
                .and_then(|id| self.regs.get(*id))
                .and_then(|r| r.nat_nbma);
            let has = msg.ext.nat.as_ref().is_some_and(|v| {
                v.iter()
                    .any(|c| c.client_proto == Some(msg.src_proto) && c.client_nbma.is_some())
            });
            if let (Some(nat), false) = (requester_nat, has) {
                msg.ext.nat = Some(vec![Cie {
                    code: 0,
                    prefix_len: host_len(msg.src_proto),
                    mtu: 0,
                    holding_time: 0,
                    preference: 255,
                    client_nbma: Some(nat),
                    client_proto: Some(msg.src_proto),
                }]);
            }
        }
        self.send(to, msg);
        Ok(())
    }

    /// RFC 2332 §5.2.2 / §5.3.3: relays a Resolution Reply that is not for us towards its
    /// requester (the source protocol address), recording us in the Reverse Transit NHS
    /// Record, with hop-count and loop checks. (Cisco spokes answer directly; older IOS and
    /// RFC-style responders send replies back through the NHS.)
    pub(crate) fn nhs_relay_reply(
        &mut self,
        from: IpAddr,
        mut msg: Message,
        raw: &[u8],
    ) -> Result<(), DropReason> {
        let me = self.cfg.protocol_address;
        let looped = msg
            .ext
            .reverse_transit
            .as_ref()
            .is_some_and(|v| v.iter().any(|c| c.client_proto == Some(me)));
        if looped {
            self.send_error(error_code::LOOP_DETECTED, from, &msg, raw);
            return Err(DropReason::LoopDetected);
        }
        let to = self
            .reg_index
            .get(&msg.src_proto)
            .and_then(|id| self.regs.get(*id))
            .map(|r| r.effective())
            .or_else(|| {
                if self.cfg.role.is_client() {
                    self.best_up_nhs().map(|n| n.nbma)
                } else {
                    None
                }
            })
            .filter(|to| *to != from)
            .ok_or(DropReason::NotForUs(msg.src_proto))?;
        if msg.hop_count <= 1 {
            self.send_error(error_code::HOP_COUNT_EXCEEDED, from, &msg, raw);
            return Err(DropReason::HopCountExceeded);
        }
        msg.hop_count -= 1;
        let cie = Cie {
            preference: msg.cies.first().map_or(255, |c| c.preference),
            ..self.own_cie(host_len(me))
        };
        msg.ext
            .reverse_transit
            .get_or_insert_with(Vec::new)
            .push(cie);
        self.send(to, msg);
        Ok(())
    }

    fn nak_resolution(&mut self, from: IpAddr, req: &Message) {
        let mut reply = req.clone();
        reply.op = Op::ResolutionReply;
        reply.hop_count = 255;
        let mut cie = req.cies.first().cloned().unwrap_or_default();
        cie.code = cie_code::NO_BINDING;
        cie.client_nbma = None;
        cie.client_proto = None;
        reply.cies = vec![cie];
        reply.ext.responder = Some(Some(self.own_cie(host_len(self.cfg.protocol_address))));
        self.send(from, reply);
    }

    /// NHS, phase 3 (`ip nhrp redirect`): the forwarding plane saw a data packet from `src`
    /// to `dst` enter and leave the mGRE interface (it came from `ingress_nbma`). Sends a
    /// Traffic Indication to that spoke, at most once per (src, dst) per
    /// `redirect_interval`. Returns whether one was sent.
    pub fn note_hairpin(
        &mut self,
        now: Instant,
        src: IpAddr,
        dst: IpAddr,
        ingress_nbma: IpAddr,
    ) -> Result<bool, ApiError> {
        if !self.cfg.role.is_server() {
            return Err(ApiError::NotServer);
        }
        if !self.cfg.redirect {
            return Ok(false);
        }
        if src.is_ipv4() != self.cfg.protocol_address.is_ipv4() || src.is_ipv4() != dst.is_ipv4() {
            return Err(ApiError::AddressFamily);
        }
        let t = self.tick(now);
        if !self.redirect_limiter.allow(ratelimit::key(&[src, dst]), t) {
            self.stats.redirects_rate_limited += 1;
            return Ok(false);
        }
        let mut m = Message::new(
            Op::TrafficIndication,
            self.cfg.nbma_address,
            self.cfg.protocol_address,
            src,
        );
        m.payload = synth_ip_header(src, dst);
        m.ext.forward_transit = Some(Vec::new());
        m.ext.reverse_transit = Some(Vec::new());
        if self.cfg.nat_extension {
            m.ext.nat = Some(Vec::new());
        }
        self.send(ingress_nbma, m);
        self.emit(Event::RedirectSent {
            source: src,
            destination: dst,
            to: ingress_nbma,
        });
        Ok(true)
    }
}
