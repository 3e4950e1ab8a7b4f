//! [`Node`]: one DMVPN tunnel interface of one router (hub or spoke), as a sans-IO machine.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use esp::{CryptoProvider, Direction, SaId, SaParams, SaTable, UdpOpened};
use gre::wire::ProtocolType;
use ipnet::IpNet;

use crate::config::{Config, IpsecPolicy, LocalDelivery, Phase, Role};
use crate::error::{ApiError, DropReason};
use crate::event::Event;
use crate::fib::{Fib, Lookup, NextHop, Route, RouteSource};
use crate::io::{Datagram, Transmit, UnderlayProtocol};
use crate::overlay::{IcmpError, OverlayHeader, decrement_ttl, icmp_error};
use crate::stats::{PeerCounters, PeerInfo, PeerKind, PeerState, Stats};

/// The UDP port of ESP-in-UDP (RFC 3948) and IKE after NAT detection.
pub const NAT_T_PORT: u16 = 4500;
/// Bytes of headroom and tailroom every data buffer is given beyond the payload: the
/// largest GRE header (16) + ESP header with a 16-byte IV (24) in front, the largest ESP
/// trailer (block 16 − 1 + 2 + ICV 32) behind.
const HEADROOM: usize = 16 + 24;
const TAILROOM: usize = 15 + 2 + 32;
/// Most buffers kept for reuse.
const POOL_MAX: usize = 256;
/// Packets waiting for an SA (IPsec required, none installed yet): at most this many per
/// peer, for this many peers, and no older than `SA_WAIT_MAX_AGE` when the SA arrives.
const SA_WAIT_PER_PEER: usize = 16;
const SA_WAIT_PEERS: usize = 64;
const SA_WAIT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(3);
/// Shortcut use is reported to NHRP at most once per this interval per prefix (NHRP only
/// needs "used since the last refresh", and refreshes start minutes before expiry), through a
/// direct-mapped table of this many slots.
const USED_MARK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
const USED_MARK_SLOTS: usize = 64;
/// Most queued transmits and events.
const OUTBOX_MAX: usize = 65_536;
const EVENTS_MAX: usize = 65_536;

/// State kept per NBMA peer: its SAs, NAT-T ports and counters.
#[derive(Debug, Default)]
struct Peer {
    outbound: Option<SaId>,
    inbound: Option<SaId>,
    /// (our port, its port) when ESP goes in UDP (RFC 3948).
    udp: Option<(u16, u16)>,
    sa_needed_reported: bool,
    since: Option<Instant>,
    counters: PeerCounters,
}

/// A packet held until an SA to its peer exists.
#[derive(Debug)]
struct Waiting {
    since: Instant,
    pt: ProtocolType,
    payload: Vec<u8>,
    forward: bool,
    data: bool,
}

/// Which path a data packet takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Direct,
    ViaHub,
}

/// One DMVPN tunnel interface of one router: GRE + NHRP + ESP + the overlay forwarding table,
/// behind the machine contract of DESIGN.md §2.
///
/// # Run loop
/// After every [`handle_packet`](Self::handle_packet), [`handle_timeout`](Self::handle_timeout)
/// or verb, drain [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event)
/// until both return `None`, give consumed buffers back with [`recycle`](Self::recycle), then
/// sleep until [`poll_timeout`](Self::poll_timeout) or the next packet:
///
/// ```no_run
/// # use std::time::Instant;
/// # use dmvpn_core::{Node, Datagram, Transmit};
/// # fn next_input(_: Option<Instant>) -> Option<(Instant, Vec<u8>)> { None }
/// # fn send(_: &Transmit) {}
/// fn drive(mut node: Node) {
///     loop {
///         while let Some(t) = node.poll_transmit() {
///             send(&t);
///             let (Transmit::Underlay { bytes, .. } | Transmit::Overlay(bytes)) = t;
///             node.recycle(bytes);
///         }
///         while let Some(event) = node.poll_event() {
///             println!("{event:?}");
///         }
///         match next_input(node.poll_timeout()) {
///             Some((now, ip_packet)) => {
///                 let _ = node.handle_packet(now, Datagram::Overlay(&ip_packet));
///             }
///             None => node.handle_timeout(Instant::now()),
///         }
///     }
/// }
/// ```
///
/// # Forwarding
/// Overlay packets are routed like a router does: longest-prefix match over connected,
/// static, routing-protocol routes and NHRP shortcuts ([`Fib`]), TTL decremented, ICMP errors
/// (time exceeded, fragmentation needed / packet too big, unreachable) originated by the node
/// itself from its tunnel address. The next hop's NBMA address comes from the NHRP
/// registrations (hub), the NHRP cache or the configured NHSs (spoke). A spoke that has no
/// direct path yet sends via its hub (Cisco behaviour); in phase 2 it resolves the next hop
/// meanwhile, in phase 3 the hub's Traffic Indication makes it resolve the destination and
/// install a shortcut. GRE is encapsulated in place in front of the payload and, when the
/// policy requires IPsec, sealed with ESP in transport mode; without an SA nothing leaves in
/// clear.
pub struct Node {
    cfg: Config,
    own: IpAddr,
    nhrp: nhrp::Node,
    gre: gre::Endpoint,
    esp: SaTable,
    crypto: CryptoProvider,
    fib: Fib,
    peers: BTreeMap<IpAddr, Peer>,
    sa_owner: BTreeMap<SaId, IpAddr>,
    /// Packets (data and NHRP) held until an SA to their peer is installed (bounded).
    sa_wait: BTreeMap<IpAddr, VecDeque<Waiting>>,
    /// When each shortcut prefix's use was last reported to NHRP.
    used_marks: [Option<(IpNet, Instant)>; USED_MARK_SLOTS],
    outbox: VecDeque<Transmit>,
    events: VecDeque<Event>,
    pool: Vec<Vec<u8>>,
    stats: Stats,
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("role", &self.cfg.role)
            .field("tunnel_address", &self.cfg.tunnel_address)
            .field("nbma", &self.cfg.nbma)
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Creates the interface. A spoke starts registering with its NHSs at once: drain
    /// [`poll_transmit`](Self::poll_transmit) afterwards. `crypto` supplies the ESP
    /// algorithms and the node's random numbers (seed it for reproducible runs).
    pub fn new(config: Config, crypto: CryptoProvider, now: Instant) -> Result<Self, ApiError> {
        config.validate()?;
        let mut seed = [0u8; 8];
        // The NHRP request IDs start at a random point (RFC 2332 §5.2.1 leaves them to us);
        // a failing RNG is a configuration problem of the caller, reported as such.
        crypto
            .random
            .fill(&mut seed)
            .map_err(|_| ApiError::Esp(esp::ApiError::InvalidParams("random generator failed")))?;
        let own = config.tunnel_address.addr();
        let mut n = nhrp::Config::default();
        n.role = match (config.role, config.nhs.is_empty()) {
            (Role::Spoke, _) => nhrp::Role::Nhc,
            (Role::Hub, true) => nhrp::Role::Nhs,
            (Role::Hub, false) => nhrp::Role::Both,
        };
        n.protocol_address = own;
        n.nbma_address = config.nbma;
        n.local_networks.clone_from(&config.local_networks);
        n.nhs = config
            .nhs
            .iter()
            .map(|h| nhrp::NhsConfig {
                protocol: h.tunnel_address,
                nbma: h.nbma,
                priority: h.priority,
            })
            .collect();
        n.holding_time = config.holding_time;
        n.registration_interval = config.registration_interval;
        n.unique = !config.registration_no_unique;
        n.mtu = config.mtu;
        n.authentication = config
            .nhrp_authentication
            .as_ref()
            .map(|s| s.as_bytes().to_vec());
        n.redirect = config.role == Role::Hub && config.phase == Phase::Three;
        n.shortcut = config.role == Role::Spoke && config.phase == Phase::Three;
        n.max_registrations = config.max_peers;
        n.seed = u64::from_be_bytes(seed);
        if config.role == Role::Spoke && config.phase == Phase::One {
            n.max_cache_entries = n.max_cache_entries.min(1024);
        }
        let nhrp = nhrp::Node::new(n, now)?;
        let gre = gre::Endpoint::new(gre::Config {
            key: config.gre_key,
            ..gre::Config::default()
        })?;
        let mut node = Self {
            own,
            nhrp,
            gre,
            esp: SaTable::new(),
            crypto,
            fib: Fib::new(),
            peers: BTreeMap::new(),
            sa_owner: BTreeMap::new(),
            sa_wait: BTreeMap::new(),
            used_marks: [None; USED_MARK_SLOTS],
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            pool: Vec::new(),
            stats: Stats::default(),
            cfg: config,
        };
        node.fib.insert(
            node.cfg.tunnel_address.trunc(),
            RouteSource::Connected,
            NextHop::TunnelConnected,
        );
        for net in node.cfg.local_networks.clone() {
            node.fib.insert(net, RouteSource::Connected, NextHop::Lan);
        }
        for r in node.cfg.static_routes.clone() {
            node.install_route(r.prefix, RouteSource::Static, NextHop::Tunnel(r.next_hop));
        }
        node.pump(now);
        Ok(node)
    }

    // ----- the machine contract ------------------------------------------------------------

    /// Processes one input: an underlay packet (GRE, ESP or ESP-in-UDP from a peer) or an
    /// overlay IP packet from the LAN side. Outputs follow through
    /// [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event). `Err`
    /// means the input was dropped and counted; the node is unchanged otherwise.
    pub fn handle_packet(&mut self, now: Instant, dgram: Datagram<'_>) -> Result<(), DropReason> {
        let r = match dgram {
            Datagram::Underlay {
                from,
                protocol,
                bytes,
            } => {
                self.stats.underlay_in += 1;
                self.on_underlay(now, from, protocol, bytes)
            }
            Datagram::Overlay(packet) => {
                self.stats.overlay_in += 1;
                self.on_overlay(now, packet)
            }
        };
        if let Err(e) = &r {
            self.stats.dropped.count(e);
        }
        self.pump(now);
        r
    }

    /// Fires due timers (NHRP retransmissions, refreshes, expiries; SA lifetimes). Idempotent;
    /// an early call is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.nhrp.handle_timeout(now);
        self.esp.handle_timeout(now);
        self.pump(now);
    }

    /// The next datagram to send (underlay) or deliver (overlay).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called. After
    /// `handle_timeout(now)` and draining it is `None` or later than `now`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.nhrp.poll_timeout(), self.esp.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Gives back the buffer of a transmit (or any `Vec<u8>`) for reuse, so a steady stream of
    /// packets allocates nothing.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < POOL_MAX && buf.capacity() >= 1500 {
            buf.clear();
            self.pool.push(buf);
        }
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    // ----- verbs ---------------------------------------------------------------------------

    /// Installs (or replaces) the SA pair protecting traffic with `peer` (its NBMA address):
    /// manual keys, or the keys a key exchange negotiated. A UDP encapsulation in the
    /// outbound parameters makes the node send ESP-in-UDP (RFC 3948) to that port.
    pub fn install_sa(
        &mut self,
        now: Instant,
        peer: IpAddr,
        mut inbound: SaParams,
        mut outbound: SaParams,
    ) -> Result<(), ApiError> {
        if inbound.direction != Direction::Inbound || outbound.direction != Direction::Outbound {
            return Err(ApiError::SaDirection);
        }
        // The node writes the UDP header itself (as `Transmit::Underlay` ports), so the SAs
        // carry pure ESP.
        let udp = outbound.udp_encap.take().map(|u| (u.src_port, u.dst_port));
        inbound.udp_encap = None;
        let in_id = self.esp.insert(now, &inbound, &self.crypto)?;
        let out_id = match self.esp.insert(now, &outbound, &self.crypto) {
            Ok(id) => id,
            Err(e) => {
                self.esp.remove(in_id);
                return Err(e.into());
            }
        };
        self.remove_sa_ids(peer);
        let p = self.peers.entry(peer).or_default();
        p.inbound = Some(in_id);
        p.outbound = Some(out_id);
        p.udp = udp;
        p.sa_needed_reported = false;
        self.sa_owner.insert(in_id, peer);
        self.sa_owner.insert(out_id, peer);
        self.emit(Event::SaUp {
            peer,
            inbound_spi: inbound.spi.0,
            outbound_spi: outbound.spi.0,
        });
        // What waited for this SA leaves now (unless it waited too long to still matter).
        for w in self.sa_wait.remove(&peer).unwrap_or_default() {
            if now.saturating_duration_since(w.since) <= SA_WAIT_MAX_AGE {
                self.stats.sa_wait_sent += 1;
                let _ = self.send_gre(now, peer, w.pt, &w.payload, w.forward, w.data);
            } else {
                self.stats.sa_wait_expired += 1;
            }
            self.recycle(w.payload);
        }
        self.pump(now);
        Ok(())
    }

    /// Removes the SAs of `peer`; with IPsec required, traffic to it stops until new ones are
    /// installed. Returns whether there were any.
    pub fn remove_sa(&mut self, now: Instant, peer: IpAddr) -> bool {
        let spi = self
            .peers
            .get(&peer)
            .and_then(|p| p.outbound)
            .and_then(|id| self.esp.outbound(id))
            .map(|sa| sa.spi().0);
        let removed = self.remove_sa_ids(peer);
        if let Some(spi) = spi {
            self.emit(Event::SaDown { peer, spi });
        }
        self.pump(now);
        removed
    }

    fn remove_sa_ids(&mut self, peer: IpAddr) -> bool {
        let Some(p) = self.peers.get_mut(&peer) else {
            return false;
        };
        let ids = [p.inbound.take(), p.outbound.take()];
        let mut any = false;
        for id in ids.into_iter().flatten() {
            self.esp.remove(id);
            self.sa_owner.remove(&id);
            any = true;
        }
        any
    }

    /// Installs a route from `source` (a routing protocol, the operator). A route over the
    /// tunnel also tells NHRP which client owns the prefix, so a hub forwards Resolution
    /// Requests for it (phase 2/3).
    pub fn add_route(&mut self, prefix: IpNet, source: RouteSource, next_hop: NextHop) {
        self.install_route(prefix, source, next_hop);
    }

    /// Removes `source`'s route for `prefix`.
    pub fn remove_route(&mut self, prefix: IpNet, source: RouteSource) -> bool {
        let removed = self.fib.remove(prefix, source);
        if removed {
            if self.fib.get(prefix, RouteSource::Static).is_none()
                && !matches!(source, RouteSource::Nhrp)
            {
                self.nhrp.remove_route(prefix);
            }
            self.emit(Event::RouteChanged {
                prefix,
                source,
                next_hop: None,
            });
        }
        removed
    }

    fn install_route(&mut self, prefix: IpNet, source: RouteSource, next_hop: NextHop) {
        if self.fib.insert(prefix, source, next_hop) {
            if let NextHop::Tunnel(nh) = next_hop
                && source != RouteSource::Nhrp
            {
                self.nhrp.set_route(prefix, nh);
            }
            self.emit(Event::RouteChanged {
                prefix,
                source,
                next_hop: Some(next_hop),
            });
        }
    }

    /// Before the interface goes down: a spoke withdraws its registrations (Purge Requests
    /// carrying the original registration IDs, as Cisco requires), so the hubs forget it at
    /// once instead of after the holding time. Drain the transmits afterwards; the NHSs stay
    /// down until the node is recreated.
    pub fn shutdown(&mut self, now: Instant) {
        if self.cfg.role == Role::Spoke || !self.cfg.nhs.is_empty() {
            let _ = self.nhrp.deregister(now);
        }
        self.pump(now);
    }

    /// Sends an overlay multicast packet (a routing protocol's hello or update) to every
    /// peer of the multicast map: a hub replicates to every registered spoke (Cisco `ip nhrp
    /// map multicast dynamic`), a spoke sends to its NHSs. Returns the number of copies sent.
    pub fn send_multicast(&mut self, now: Instant, packet: &[u8]) -> usize {
        let pt = match packet.first().map(|b| b >> 4) {
            Some(4) => ProtocolType::IPV4,
            Some(6) => ProtocolType::IPV6,
            _ => return 0,
        };
        let targets: Vec<IpAddr> = match self.cfg.role {
            Role::Hub => self.nhrp.multicast_nbmas(),
            Role::Spoke => self
                .nhrp
                .nhs_status()
                .filter(|s| s.state == nhrp::NhsState::Up)
                .map(|s| s.config.nbma)
                .collect(),
        };
        let mut sent = 0;
        for to in targets {
            if self.send_gre(now, to, pt, packet, false, true).is_ok() {
                sent += 1;
            }
        }
        self.pump(now);
        sent
    }

    // ----- queries -------------------------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The NHRP machine, for `show ip nhrp` (cache, registrations, NHS states).
    pub fn nhrp(&self) -> &nhrp::Node {
        &self.nhrp
    }

    /// The forwarding table.
    pub fn fib(&self) -> &Fib {
        &self.fib
    }

    /// Every route, for `show ip route`.
    pub fn routes(&self) -> Vec<Route> {
        self.fib.routes().collect()
    }

    /// The route that `dst` would take now (with NHRP next-hop override).
    pub fn route_to(&self, dst: IpAddr) -> Option<Lookup> {
        self.fib.lookup(dst)
    }

    /// True when the spoke has at least one NHS up (a hub is always "registered").
    pub fn is_registered(&self) -> bool {
        self.cfg.role == Role::Hub || self.nhrp.is_registered()
    }

    /// The counters of one peer.
    pub fn peer_counters(&self, nbma: IpAddr) -> Option<PeerCounters> {
        self.peers.get(&nbma).map(|p| p.counters)
    }

    /// The peers, like Cisco's `show dmvpn`: NHSs (static), registered spokes (hub),
    /// resolved peers and shortcuts (spoke).
    pub fn peers(&self) -> Vec<PeerInfo> {
        let mut out = Vec::new();
        let info = |nbma: IpAddr| self.peers.get(&nbma);
        for s in self.nhrp.nhs_status() {
            let p = info(s.config.nbma);
            out.push(PeerInfo {
                nbma: s.config.nbma,
                tunnel: Some(s.config.protocol),
                kind: PeerKind::Nhs,
                state: match s.state {
                    nhrp::NhsState::Up => PeerState::Up,
                    nhrp::NhsState::Registering => PeerState::Registering,
                    nhrp::NhsState::Standby => PeerState::Standby,
                    _ => PeerState::Down,
                },
                expires: None,
                since: p.and_then(|p| p.since),
                protected: p.is_some_and(|p| p.outbound.is_some()),
                counters: p.map(|p| p.counters).unwrap_or_default(),
            });
        }
        for r in self.nhrp.registrations() {
            let nbma = r.effective_nbma();
            let p = info(nbma);
            out.push(PeerInfo {
                nbma,
                tunnel: Some(r.protocol),
                kind: PeerKind::Registered,
                state: PeerState::Up,
                expires: Some(r.expires),
                since: p.and_then(|p| p.since),
                protected: p.is_some_and(|p| p.outbound.is_some()),
                counters: p.map(|p| p.counters).unwrap_or_default(),
            });
        }
        for c in self.nhrp.cache_entries() {
            let Some(nbma) = c.nbma else { continue };
            if out.iter().any(|o| o.nbma == nbma) {
                continue;
            }
            let p = info(nbma);
            out.push(PeerInfo {
                nbma,
                tunnel: c.protocol,
                kind: if c.shortcut {
                    PeerKind::Shortcut
                } else {
                    PeerKind::Resolved
                },
                state: PeerState::Up,
                expires: Some(c.expires),
                since: p.and_then(|p| p.since),
                protected: p.is_some_and(|p| p.outbound.is_some()),
                counters: p.map(|p| p.counters).unwrap_or_default(),
            });
        }
        out
    }

    // ----- underlay input ------------------------------------------------------------------

    fn on_underlay(
        &mut self,
        now: Instant,
        from: IpAddr,
        protocol: UnderlayProtocol,
        bytes: &[u8],
    ) -> Result<(), DropReason> {
        match protocol {
            UnderlayProtocol::Gre => {
                if self.cfg.ipsec == IpsecPolicy::Required {
                    return Err(DropReason::Cleartext(from));
                }
                self.on_gre(now, from, bytes)
            }
            UnderlayProtocol::Esp => {
                let mut buf = self.take_buf();
                buf.extend_from_slice(bytes);
                let r = self.on_esp(now, from, &mut buf, None);
                self.recycle(buf);
                r
            }
            UnderlayProtocol::Udp {
                local_port,
                remote_port,
            } => {
                if local_port != NAT_T_PORT {
                    return Err(DropReason::Protocol(0));
                }
                let mut buf = self.take_buf();
                buf.extend_from_slice(bytes);
                let r = self.on_esp(now, from, &mut buf, Some((local_port, remote_port)));
                self.recycle(buf);
                r
            }
        }
    }

    fn on_esp(
        &mut self,
        now: Instant,
        from: IpAddr,
        buf: &mut [u8],
        udp: Option<(u16, u16)>,
    ) -> Result<(), DropReason> {
        let opened = match udp {
            None => self.esp.open(now, buf).map(|(_, o)| o)?,
            Some(_) => match self.esp.open_udp(now, buf)? {
                UdpOpened::Esp(_, o) => o,
                UdpOpened::Ike(_) => return Err(DropReason::Ike),
                UdpOpened::Keepalive => return Ok(()),
            },
        };
        if opened.next_header != 47 {
            return Err(DropReason::NotGre(opened.next_header));
        }
        self.stats.esp_opened += 1;
        if let Some(ports) = udp {
            // A peer behind NAT: answer to the port its packets come from.
            if let Some(p) = self.peers.get_mut(&from) {
                p.udp = Some(ports);
            }
        }
        let payload: &[u8] = opened.payload;
        self.on_gre(now, from, payload)
    }

    fn on_gre(&mut self, now: Instant, from: IpAddr, bytes: &[u8]) -> Result<(), DropReason> {
        let d = self.gre.decapsulate(from, bytes)?;
        let payload = d.payload;
        let pt = d.repr.protocol_type;
        self.count_rx(now, from, bytes.len(), pt != ProtocolType::NHRP);
        if pt == ProtocolType::NHRP {
            self.stats.nhrp_in += 1;
            self.nhrp.handle_packet(
                now,
                nhrp::Datagram {
                    from,
                    bytes: payload,
                },
            )?;
            Ok(())
        } else if pt == ProtocolType::IPV4 || pt == ProtocolType::IPV6 {
            self.route(now, payload, Some(from))
        } else {
            Err(DropReason::Protocol(pt.0))
        }
    }

    // ----- forwarding ----------------------------------------------------------------------

    fn on_overlay(&mut self, now: Instant, packet: &[u8]) -> Result<(), DropReason> {
        self.route(now, packet, None)
    }

    /// Routes one overlay packet that came from the tunnel (`ingress = Some(peer)`) or the
    /// LAN (`None`), or that the node originated (ICMP; also `None`).
    fn route(
        &mut self,
        now: Instant,
        packet: &[u8],
        ingress: Option<IpAddr>,
    ) -> Result<(), DropReason> {
        let h = OverlayHeader::parse(packet)?;
        if h.dst == self.own {
            return match (self.cfg.local_delivery, ingress) {
                // For the host's own stack: deliver as received (it is the destination, so
                // the TTL is not decremented).
                (LocalDelivery::Overlay, Some(_)) => self.deliver(packet, false),
                _ => self.local(now, packet),
            };
        }
        let Some(route) = self.fib.lookup_cached(h.dst) else {
            self.icmp(now, &h, packet, IcmpError::Unreachable);
            return Err(DropReason::NoRoute(h.dst));
        };
        if h.ttl <= 1 {
            self.icmp(now, &h, packet, IcmpError::TimeExceeded);
            return Err(DropReason::TtlExpired(h.dst));
        }
        match route.next_hop {
            NextHop::Discard => Err(DropReason::Discard(h.dst)),
            NextHop::Lan => self.deliver(packet, true),
            NextHop::Nbma(_) | NextHop::Tunnel(_) | NextHop::TunnelConnected => {
                let (to, path) = self.next_hop_nbma(now, h.dst, route)?;
                let mtu = self.path_mtu(to);
                if packet.len() > usize::from(mtu) && h.dont_fragment {
                    self.icmp(now, &h, packet, IcmpError::TooBig { mtu });
                    return Err(DropReason::TooBig {
                        len: packet.len(),
                        mtu,
                    });
                }
                if let Some(ingress) = ingress {
                    self.stats.data_hairpinned += 1;
                    if self.cfg.role == Role::Hub && self.cfg.phase == Phase::Three {
                        // Cisco `ip nhrp redirect`: the packet entered and leaves the mGRE
                        // interface; tell the ingress spoke to build a shortcut.
                        let _ = self.nhrp.note_hairpin(now, h.src, h.dst, ingress);
                    }
                }
                let pt = if h.dst.is_ipv4() {
                    ProtocolType::IPV4
                } else {
                    ProtocolType::IPV6
                };
                self.send_gre(now, to, pt, packet, true, true)?;
                match path {
                    Path::Direct => self.stats.data_direct += 1,
                    Path::ViaHub => self.stats.data_via_hub += 1,
                }
                Ok(())
            }
        }
    }

    /// Queues an overlay packet for the LAN/TUN side (TTL decremented when forwarded).
    fn deliver(&mut self, packet: &[u8], forwarded: bool) -> Result<(), DropReason> {
        if self.outbox.len() >= OUTBOX_MAX {
            return Err(DropReason::QueueFull);
        }
        let mut buf = self.take_buf();
        buf.extend_from_slice(packet);
        if forwarded {
            decrement_ttl(&mut buf);
        }
        self.stats.overlay_out += 1;
        self.outbox.push_back(Transmit::Overlay(buf));
        Ok(())
    }

    /// The NBMA address to send a packet for `dst` to, given its route.
    fn next_hop_nbma(
        &mut self,
        now: Instant,
        dst: IpAddr,
        route: Lookup,
    ) -> Result<(IpAddr, Path), DropReason> {
        let nh = match route.next_hop {
            NextHop::Nbma(nbma) => {
                self.note_shortcut_used(now, route.prefix, dst);
                return Ok((nbma, Path::Direct));
            }
            NextHop::Tunnel(nh) => nh,
            _ => dst,
        };
        if let Some(s) = self.cfg.nhs.iter().find(|s| s.tunnel_address == nh) {
            return Ok((s.nbma, Path::Direct));
        }
        if self.cfg.role == Role::Hub
            && let Some(r) = self.nhrp.registration(nh)
        {
            return Ok((r.effective_nbma(), Path::Direct));
        }
        if self.cfg.phase != Phase::One
            && let Some(c) = self.nhrp.lookup(nh)
            && let Some(nbma) = c.nbma
        {
            self.nhrp.mark_used(now, nh);
            return Ok((nbma, Path::Direct));
        }
        if self.cfg.role == Role::Spoke {
            if self.cfg.phase == Phase::Two {
                // Phase 2: resolve the next hop; traffic goes via the hub meanwhile.
                let _ = self.nhrp.resolve(now, nh);
            }
            if let Some(hub) = self.active_nhs() {
                return Ok((hub, Path::ViaHub));
            }
            return Err(DropReason::Unresolved(nh));
        }
        // A hub that is also a client of a higher hub sends what it cannot place upwards.
        if let Some(hub) = self.active_nhs() {
            return Ok((hub, Path::ViaHub));
        }
        Err(DropReason::NoRoute(dst))
    }

    /// Tells NHRP that the shortcut for `prefix` carried traffic (so it is refreshed before it
    /// expires), at most once per [`USED_MARK_INTERVAL`] per prefix: the per-packet path then
    /// costs a table probe instead of an NHRP cache lookup.
    fn note_shortcut_used(&mut self, now: Instant, prefix: IpNet, dst: IpAddr) {
        let h = match prefix.addr() {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                (v as u64) ^ ((v >> 64) as u64)
            }
        } ^ u64::from(prefix.prefix_len());
        let slot = (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % USED_MARK_SLOTS;
        if let Some(Some((p, at))) = self.used_marks.get(slot)
            && *p == prefix
            && now.saturating_duration_since(*at) < USED_MARK_INTERVAL
        {
            return;
        }
        self.nhrp.mark_used(now, dst);
        if let Some(m) = self.used_marks.get_mut(slot) {
            *m = Some((prefix, now));
        }
    }

    /// The NBMA address of the best NHS that is up.
    fn active_nhs(&self) -> Option<IpAddr> {
        self.nhrp
            .nhs_status()
            .filter(|s| s.state == nhrp::NhsState::Up)
            .min_by_key(|s| s.config.priority)
            .map(|s| s.config.nbma)
    }

    /// A packet for our own tunnel address: answer ICMP echo requests (like a router's
    /// control plane); anything else is consumed.
    fn local(&mut self, now: Instant, packet: &[u8]) -> Result<(), DropReason> {
        let reply = match crate::overlay::parse(packet) {
            crate::overlay::Parsed::EchoRequest {
                from,
                id,
                seq,
                payload,
            } => crate::overlay::echo(self.own, from, true, id, seq, payload),
            _ => None,
        };
        if let Some(reply) = reply {
            self.stats.icmp_sent += 1;
            let _ = self.route(now, &reply, None);
        }
        Ok(())
    }

    /// Originates the ICMP error `kind` about `packet` when the rules allow one.
    fn icmp(&mut self, now: Instant, h: &OverlayHeader, packet: &[u8], kind: IcmpError) {
        if h.src == self.own {
            return;
        }
        if let Some(err) = icmp_error(self.own, h, packet, kind) {
            self.stats.icmp_sent += 1;
            // An error about the error is never generated (icmp_error checks), so this
            // recursion is one level deep at most.
            let _ = self.route(now, &err, None);
        }
    }

    // ----- output --------------------------------------------------------------------------

    /// Encapsulates `payload` in GRE (and ESP when required) to the NBMA peer `to`, writing
    /// the headers in place in front of the one copy of the payload.
    fn send_gre(
        &mut self,
        now: Instant,
        to: IpAddr,
        pt: ProtocolType,
        payload: &[u8],
        forward: bool,
        data: bool,
    ) -> Result<(), DropReason> {
        if self.outbox.len() >= OUTBOX_MAX {
            return Err(DropReason::QueueFull);
        }
        let sa = match self.cfg.ipsec {
            IpsecPolicy::None => None,
            IpsecPolicy::Required => match self.peers.get(&to).and_then(|p| p.outbound) {
                Some(id) => Some(id),
                None => {
                    self.sa_needed(to);
                    return self.wait_for_sa(now, to, pt, payload, forward, data);
                }
            },
        };
        let gre_len = self.gre.next_header(to, pt)?.header_len();
        let (esp_len, trailer) = match sa.and_then(|id| self.esp.outbound(id)) {
            Some(s) => (s.header_len(), s.max_trailer_len(gre_len + payload.len())),
            None if sa.is_some() => return Err(DropReason::NoSa(to)),
            None => (0, 0),
        };
        let head = gre_len + esp_len;
        let mut buf = self.take_buf();
        buf.resize(head, 0);
        buf.extend_from_slice(payload);
        let end = buf.len();
        if forward {
            decrement_ttl(&mut buf[head..end]);
        }
        buf.resize(end + trailer, 0);
        if let Err(e) = self.gre.encapsulate(to, pt, &mut buf, head) {
            self.recycle(buf);
            return Err(e.into());
        }
        let protocol = match sa {
            Some(id) => {
                match self.esp.seal(now, id, 47, &mut buf, esp_len..end) {
                    Ok(range) => buf.truncate(range.end),
                    Err(e) => {
                        self.recycle(buf);
                        self.pump_esp_events();
                        return Err(e.into());
                    }
                }
                self.stats.esp_sealed += 1;
                match self.peers.get(&to).and_then(|p| p.udp) {
                    Some((local_port, remote_port)) => UnderlayProtocol::Udp {
                        local_port,
                        remote_port,
                    },
                    None => UnderlayProtocol::Esp,
                }
            }
            None => {
                buf.truncate(end);
                UnderlayProtocol::Gre
            }
        };
        self.count_tx(now, to, buf.len(), data);
        self.stats.underlay_out += 1;
        self.outbox.push_back(Transmit::Underlay {
            to,
            protocol,
            bytes: buf,
        });
        Ok(())
    }

    /// Holds a packet until an SA to `to` is installed: fail closed (nothing in clear), but
    /// the first packets of a flow (and the first NHRP registration) survive the key
    /// exchange. Bounded per peer and in peers; beyond that the packet is dropped.
    fn wait_for_sa(
        &mut self,
        now: Instant,
        to: IpAddr,
        pt: ProtocolType,
        payload: &[u8],
        forward: bool,
        data: bool,
    ) -> Result<(), DropReason> {
        if !self.sa_wait.contains_key(&to) && self.sa_wait.len() >= SA_WAIT_PEERS {
            return Err(DropReason::NoSa(to));
        }
        let q = self.sa_wait.entry(to).or_default();
        while q
            .front()
            .is_some_and(|w| now.saturating_duration_since(w.since) > SA_WAIT_MAX_AGE)
        {
            q.pop_front();
            self.stats.sa_wait_expired += 1;
        }
        if q.len() >= SA_WAIT_PER_PEER {
            return Err(DropReason::NoSa(to));
        }
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(payload);
        let q = self.sa_wait.entry(to).or_default();
        q.push_back(Waiting {
            since: now,
            pt,
            payload: buf,
            forward,
            data,
        });
        self.stats.sa_wait_queued += 1;
        Ok(())
    }

    /// The largest overlay packet that fits the underlay to `to` once the outer IP header,
    /// GRE and (when required) ESP/UDP are added, capped by the configured tunnel MTU.
    fn path_mtu(&self, to: IpAddr) -> u16 {
        let outer = if to.is_ipv4() { 20 } else { 40 };
        let gre = self
            .gre
            .next_header(to, ProtocolType::IPV4)
            .map_or(gre::wire::Repr::MAX_HEADER_LEN, |r| r.header_len());
        let esp = match self.peers.get(&to) {
            Some(p) => {
                let udp = if p.udp.is_some() { 8 } else { 0 };
                p.outbound
                    .and_then(|id| self.esp.outbound(id))
                    .map_or(0, |sa| udp + sa.header_len() + sa.max_trailer_len(0))
            }
            None => 0,
        };
        let room = usize::from(self.cfg.underlay_mtu).saturating_sub(outer + gre + esp);
        self.cfg.mtu.min(u16::try_from(room).unwrap_or(u16::MAX))
    }

    fn sa_needed(&mut self, peer: IpAddr) {
        let p = self.peers.entry(peer).or_default();
        if !p.sa_needed_reported {
            p.sa_needed_reported = true;
            self.emit(Event::SaNeeded { peer });
        }
    }

    fn take_buf(&mut self) -> Vec<u8> {
        self.pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(HEADROOM + 1500 + TAILROOM))
    }

    fn count_tx(&mut self, now: Instant, to: IpAddr, len: usize, data: bool) {
        if let Some(p) = self.peer_mut(now, to) {
            p.counters.tx_packets += 1;
            p.counters.tx_bytes += len as u64;
            if data {
                p.counters.tx_data += 1;
            }
        }
    }

    fn count_rx(&mut self, now: Instant, from: IpAddr, len: usize, data: bool) {
        if let Some(p) = self.peer_mut(now, from) {
            p.counters.rx_packets += 1;
            p.counters.rx_bytes += len as u64;
            if data {
                p.counters.rx_data += 1;
            }
        }
    }

    /// The state of `nbma`, created on first contact while the table has room.
    ///
    /// Runs for every packet sent and received: the cheap size test comes first so the
    /// common case (table not full) searches the map once, not twice.
    fn peer_mut(&mut self, now: Instant, nbma: IpAddr) -> Option<&mut Peer> {
        if self.peers.len() >= self.cfg.max_peers.saturating_mul(2)
            && !self.peers.contains_key(&nbma)
        {
            return None;
        }
        let p = self.peers.entry(nbma).or_default();
        p.since.get_or_insert(now);
        Some(p)
    }

    fn emit(&mut self, e: Event) {
        if self.events.len() >= EVENTS_MAX {
            self.stats.event_overflow += 1;
        } else {
            self.events.push_back(e);
        }
    }

    // ----- composing the machines ----------------------------------------------------------

    /// Moves the NHRP machine's and the SA table's output into ours until both are quiet:
    /// NHRP packets are wrapped in GRE (and ESP), NHRP and SA events update the forwarding
    /// table and become our events.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.nhrp.poll_transmit() {
                progressed = true;
                self.stats.nhrp_out += 1;
                if self
                    .send_gre(now, t.to, ProtocolType::NHRP, &t.bytes, false, false)
                    .is_err()
                {
                    self.stats.nhrp_out_dropped += 1;
                }
                self.recycle(t.bytes);
            }
            while let Some(e) = self.nhrp.poll_event() {
                progressed = true;
                self.on_nhrp_event(e);
            }
            progressed |= self.pump_esp_events();
            if !progressed {
                break;
            }
        }
    }

    fn pump_esp_events(&mut self) -> bool {
        let mut progressed = false;
        while let Some(e) = self.esp.poll_event() {
            progressed = true;
            match e {
                esp::Event::SoftExpired { sa, spi, .. }
                | esp::Event::SequenceExhausted { sa, spi } => {
                    if let Some(&peer) = self.sa_owner.get(&sa) {
                        self.emit(Event::SaRekeyNeeded { peer, spi: spi.0 });
                    }
                }
                esp::Event::HardExpired { sa, spi, .. } => {
                    if let Some(peer) = self.sa_owner.remove(&sa) {
                        if let Some(p) = self.peers.get_mut(&peer) {
                            if p.inbound == Some(sa) {
                                p.inbound = None;
                            }
                            if p.outbound == Some(sa) {
                                p.outbound = None;
                            }
                        }
                        self.emit(Event::SaDown { peer, spi: spi.0 });
                    }
                }
                _ => {}
            }
        }
        progressed
    }

    fn on_nhrp_event(&mut self, e: nhrp::Event) {
        use nhrp::Event as N;
        let ev = match e {
            N::NhsUp { nhs, nbma, .. } => Event::NhsUp { nhs, nbma },
            N::NhsDown { nhs, nbma, reason } => Event::NhsDown { nhs, nbma, reason },
            N::NatDetected { public_nbma, .. } => Event::NatDetected { public_nbma },
            N::SpokeRegistered {
                protocol,
                nbma,
                nat_nbma,
                ..
            } => Event::SpokeRegistered {
                tunnel: protocol,
                nbma,
                nat_nbma,
            },
            N::SpokeUnregistered {
                protocol,
                nbma,
                reason,
            } => {
                self.gre.forget_peer(nbma);
                Event::SpokeExpired {
                    tunnel: protocol,
                    nbma,
                    reason,
                }
            }
            N::Resolved {
                target,
                prefix,
                nbma,
                ..
            } => Event::Resolved {
                target,
                prefix,
                nbma,
            },
            N::ResolutionFailed { target, .. } => Event::ResolutionFailed { target },
            N::ShortcutUp {
                prefix,
                nbma,
                expires,
            } => {
                self.install_route(prefix, RouteSource::Nhrp, NextHop::Nbma(nbma));
                Event::ShortcutUp {
                    prefix,
                    nbma,
                    expires,
                }
            }
            N::ShortcutDown { prefix, reason } => {
                if self.fib.remove(prefix, RouteSource::Nhrp) {
                    self.emit(Event::RouteChanged {
                        prefix,
                        source: RouteSource::Nhrp,
                        next_hop: None,
                    });
                }
                Event::ShortcutDown { prefix, reason }
            }
            N::TrafficIndication {
                source,
                destination,
                ..
            } => Event::Redirected {
                source,
                destination,
            },
            N::RedirectSent {
                source,
                destination,
                to,
            } => Event::RedirectSent {
                source,
                destination,
                to,
            },
            _ => return,
        };
        self.emit(ev);
    }
}
