//! [`Node`]: one DMVPN tunnel interface of one router (hub or spoke), as a sans-IO machine.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use esp::{CryptoProvider, Direction, SaId, SaParams, SaTable, UdpOpened};
use gre::wire::ProtocolType;
use ipnet::IpNet;

use crate::buf::PacketBuf;
use crate::config::{Config, IpsecPolicy, LocalDelivery, Phase, Role};
use crate::error::{ApiError, DropReason};
use crate::event::Event;
use crate::fib::{Fib, Lookup, NextHop, Route, RouteSource};
use crate::io::{Datagram, DatagramBuf, Transmit, UnderlayProtocol};
use crate::overlay::{IcmpError, OverlayHeader, decrement_ttl, icmp_error};
use crate::stats::{PeerCounters, PeerInfo, PeerKind, PeerState, Stats};

/// The UDP port of ESP-in-UDP (RFC 3948) and IKE after NAT detection.
pub const NAT_T_PORT: u16 = 4500;
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
/// Slots of the adjacency cache (direct-mapped by overlay destination).
const ADJ_SLOTS: usize = 256;
/// Slots of the peer-id cache (direct-mapped by NBMA address).
const PEER_CACHE_SLOTS: usize = 64;
/// Most queued transmits and events.
const OUTBOX_MAX: usize = 65_536;
const EVENTS_MAX: usize = 65_536;

/// Index of a peer's state in `Node::peers`. A slot is freed when its peer leaves (see
/// `Node::forget_peer`) and reused; everything that caches an id (adjacencies, the peer-id
/// cache) is invalidated then.
type PeerId = usize;

/// State kept per NBMA peer: its SAs, NAT-T ports and counters.
#[derive(Debug)]
struct Peer {
    outbound: Option<SaId>,
    inbound: Option<SaId>,
    /// (our port, its port) when ESP goes in UDP (RFC 3948).
    udp: Option<(u16, u16)>,
    sa_needed_reported: bool,
    since: Instant,
    counters: PeerCounters,
}

/// Where an encapsulated packet goes: the NBMA peer, its state slot, its outbound SA and
/// NAT-T ports.
#[derive(Clone, Copy, Debug)]
struct Target {
    to: IpAddr,
    peer: Option<PeerId>,
    sa: Option<SaId>,
    udp: Option<(u16, u16)>,
}

/// How the use of a path is reported to NHRP, so what it rests on is refreshed.
#[derive(Clone, Copy, Debug)]
enum Usage {
    /// Nothing to refresh (an NHS, a hub's registered spoke).
    None,
    /// An NHRP shortcut route for this prefix (phase 3).
    Shortcut(IpNet),
    /// A next hop resolved in the NHRP cache (phase 2).
    Cache(IpAddr),
}

/// What forwarding to one overlay destination over a direct path needs, computed once (route
/// lookup, next hop to NBMA, peer slot, SA, path MTU) and reused while neither the forwarding
/// table (`Fib::generation`) nor anything else it rests on (`Node::adj_gen`: NHRP input and
/// timers, SAs, NAT-T ports) changed.
#[derive(Clone, Copy, Debug)]
struct Adjacency {
    dst: IpAddr,
    generation: u64,
    fib_generation: u64,
    target: Target,
    mtu: u16,
    /// The GRE header every packet of this adjacency carries, when it is fixed and nothing
    /// else is added (no IPsec), right-aligned: the fast path copies it in front of the
    /// packet.
    gre_header: [u8; gre::wire::Repr::MAX_HEADER_LEN],
    /// Its length; 0 when there is none (the packet takes [`Node::send`]).
    gre_len: u8,
    usage: Usage,
    /// When the next use is reported to NHRP.
    report_after: Instant,
    /// The destination is on the LAN side (a connected local network): the packet is
    /// delivered there; `target`, `mtu`, the GRE header and `usage` are unused.
    lan: bool,
}

/// The adjacency cache slot of `dst`.
fn adjacency_slot(dst: IpAddr) -> usize {
    (addr_hash(dst) >> 56) as usize % ADJ_SLOTS
}

/// A multiplicative (Fibonacci) hash of an address for the node's direct-mapped tables; take
/// the high bits.
fn addr_hash(a: IpAddr) -> u64 {
    let h = match a {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u64) ^ ((v >> 64) as u64)
        }
    };
    h.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A packet held until an SA to its peer exists.
#[derive(Debug)]
struct Waiting {
    since: Instant,
    pt: ProtocolType,
    payload: PacketBuf,
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
/// After every [`handle_packet`](Self::handle_packet) / [`handle_buf`](Self::handle_buf),
/// [`handle_timeout`](Self::handle_timeout) or verb, drain
/// [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event) until both
/// return `None`, give sent buffers back with [`recycle`](Self::recycle), then sleep until
/// [`poll_timeout`](Self::poll_timeout) or the next packet. A driver that reads packets into
/// the node's own buffers ([`buffer`](Self::buffer)) lets the node forward them in place,
/// and [`forward`](Self::forward) hands a packet from the LAN straight back as its transmit
/// when it takes the fast path:
///
/// ```no_run
/// # use std::time::Instant;
/// # use dmvpn_core::{Node, PacketBuf, Transmit};
/// # fn read_tun(_: &mut [u8], _: Option<Instant>) -> Option<(Instant, usize)> { None }
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
///         let mut buf: PacketBuf = node.buffer();
///         match read_tun(buf.spare_mut(), node.poll_timeout()) {
///             Some((now, n)) => {
///                 buf.commit(n);
///                 if let Ok(Some(t)) = node.forward(now, buf) {
///                     send(&t);
///                     let (Transmit::Underlay { bytes, .. } | Transmit::Overlay(bytes)) = t;
///                     node.recycle(bytes);
///                 }
///             }
///             None => {
///                 node.recycle(buf);
///                 node.handle_timeout(Instant::now());
///             }
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
///
/// The result of that work for one destination over a direct path (route, NBMA peer, its
/// state slot and SA, path MTU, the GRE header when it is the same for every packet) is kept
/// in a direct-mapped adjacency cache of 256 slots, valid while the forwarding table and
/// everything else it rests on (NHRP input and timers, SAs, NAT-T ports) are unchanged. A
/// packet whose destination has such an adjacency over cleartext GRE, with a TTL above 1, that
/// fits the path MTU and needs no NHRP report, takes the fast path: the header is copied into
/// the buffer's headroom, the TTL decremented, the counters updated, nothing else.
pub struct Node {
    cfg: Config,
    own: IpAddr,
    nhrp: nhrp::Node,
    gre: gre::Endpoint,
    esp: SaTable,
    crypto: CryptoProvider,
    fib: Fib,
    peers: Vec<Peer>,
    peer_ids: BTreeMap<IpAddr, PeerId>,
    /// Direct-mapped cache in front of `peer_ids` for the receive path (an entry is cleared
    /// when its peer's slot is freed).
    peer_cache: [Option<(IpAddr, PeerId)>; PEER_CACHE_SLOTS],
    /// Slots of `peers` free for reuse.
    free_peers: Vec<PeerId>,
    /// Direct-mapped cache of adjacencies by overlay destination.
    adj: Vec<Option<Adjacency>>,
    /// Bumped whenever an adjacency may have changed other than through the FIB.
    adj_gen: u64,
    /// Phase 3 hub: hairpinned packets are reported to NHRP (Cisco `ip nhrp redirect`).
    redirect: bool,
    /// Set when the NHRP machine or the SA table may have output or events for [`pump`]:
    /// the data path skips the pump when it touched neither.
    touched: bool,
    sa_owner: BTreeMap<SaId, IpAddr>,
    /// Packets (data and NHRP) held until an SA to their peer is installed (bounded).
    sa_wait: BTreeMap<IpAddr, VecDeque<Waiting>>,
    /// When each shortcut prefix's use was last reported to NHRP.
    used_marks: [Option<(IpNet, Instant)>; USED_MARK_SLOTS],
    outbox: VecDeque<Transmit>,
    events: VecDeque<Event>,
    pool: Vec<PacketBuf>,
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
            peers: Vec::new(),
            peer_ids: BTreeMap::new(),
            peer_cache: [None; PEER_CACHE_SLOTS],
            free_peers: Vec::new(),
            adj: Vec::new(),
            adj_gen: 0,
            touched: false,
            redirect: config.role == Role::Hub && config.phase == Phase::Three,
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
    ///
    /// The bytes are copied once into a pooled buffer; a driver that reads into the node's
    /// buffers ([`buffer`](Self::buffer)) saves that copy with [`handle_buf`](Self::handle_buf).
    pub fn handle_packet(&mut self, now: Instant, dgram: Datagram<'_>) -> Result<(), DropReason> {
        let dgram = match dgram {
            Datagram::Underlay {
                from,
                protocol,
                bytes,
            } => DatagramBuf::Underlay {
                from,
                protocol,
                bytes: self.buf_from(bytes),
            },
            Datagram::Overlay(packet) => DatagramBuf::Overlay(self.buf_from(packet)),
        };
        self.handle_buf(now, dgram)
    }

    /// [`handle_packet`](Self::handle_packet) for a packet in an owned buffer: the node
    /// decapsulates, routes and encapsulates it where it lies (headers stripped by moving its
    /// start, new ones written into its headroom) and passes the same buffer on in a
    /// [`Transmit`], or keeps it for reuse when the packet ends here. Forwarding then copies
    /// nothing; buffers from [`buffer`](Self::buffer) have the room that takes.
    pub fn handle_buf(&mut self, now: Instant, dgram: DatagramBuf) -> Result<(), DropReason> {
        self.input(now, dgram, true)
    }

    /// [`handle_buf`](Self::handle_buf); `fast`: try the forwarding fast path first (false
    /// when the caller just did).
    fn input(&mut self, now: Instant, dgram: DatagramBuf, fast: bool) -> Result<(), DropReason> {
        let r = match dgram {
            DatagramBuf::Underlay {
                from,
                protocol,
                bytes,
            } => {
                self.stats.underlay_in += 1;
                self.on_underlay(now, from, protocol, bytes)
            }
            DatagramBuf::Overlay(packet) => {
                self.stats.overlay_in += 1;
                if fast {
                    match self.forward_queued(now, packet, None) {
                        Ok(()) => return Ok(()),
                        Err(packet) => self.route(now, packet, None),
                    }
                } else {
                    self.route(now, packet, None)
                }
            }
        };
        if let Err(e) = &r {
            self.stats.dropped.count(e);
        }
        if core::mem::take(&mut self.touched) {
            self.pump(now);
        }
        r
    }

    /// The data-plane entry for packets from the LAN/TUN side: what
    /// [`handle_buf`](Self::handle_buf) does with `DatagramBuf::Overlay(packet)`, except that
    /// a packet taking the forwarding fast path (a cached adjacency over cleartext GRE; see
    /// the crate docs) comes straight back as its [`Transmit`] instead of going through the
    /// queue. Everything else is handled exactly as by `handle_buf` and returns `Ok(None)`.
    /// Drain [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event)
    /// afterwards as always (a quick `None` when the fast path took the packet). Output order
    /// is kept: the fast path is skipped while the queue holds transmits.
    pub fn forward(
        &mut self,
        now: Instant,
        packet: PacketBuf,
    ) -> Result<Option<Transmit>, DropReason> {
        let packet = if self.outbox.is_empty() {
            match self.fast_path(now, packet, None) {
                Ok(t) => {
                    self.stats.overlay_in += 1;
                    return Ok(Some(t));
                }
                Err(packet) => packet,
            }
        } else {
            packet
        };
        self.input(now, DatagramBuf::Overlay(packet), false)
            .map(|()| None)
    }

    /// Fires due timers (NHRP retransmissions, refreshes, expiries; SA lifetimes). Idempotent;
    /// an early call is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Expiries change what adjacencies rest on.
        self.adj_gen += 1;
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

    /// Gives back the buffer of a transmit (or any [`PacketBuf`]) for reuse, so a steady
    /// stream of packets allocates nothing.
    pub fn recycle(&mut self, mut buf: PacketBuf) {
        if self.pool.len() < POOL_MAX && buf.allocation() >= 1500 + PacketBuf::HEADROOM {
            buf.clear();
            self.pool.push(buf);
        }
    }

    /// An empty buffer with headroom and tailroom for the headers the node adds, from the
    /// node's pool: read a packet into it ([`PacketBuf::spare_mut`], [`PacketBuf::commit`])
    /// and hand it to [`handle_buf`](Self::handle_buf).
    pub fn buffer(&mut self) -> PacketBuf {
        self.take_buf()
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
        self.adj_gen += 1;
        let id = self.peer_id(now, peer, true);
        if let Some(p) = id.and_then(|id| self.peers.get_mut(id)) {
            p.inbound = Some(in_id);
            p.outbound = Some(out_id);
            p.udp = udp;
            p.sa_needed_reported = false;
        }
        self.sa_owner.insert(in_id, peer);
        self.sa_owner.insert(out_id, peer);
        self.emit(Event::SaUp {
            peer,
            inbound_spi: inbound.spi.0,
            outbound_spi: outbound.spi.0,
        });
        // What waited for this SA leaves now (unless it waited too long to still matter).
        let target = self.target(now, peer);
        for w in self.sa_wait.remove(&peer).unwrap_or_default() {
            if now.saturating_duration_since(w.since) <= SA_WAIT_MAX_AGE {
                self.stats.sa_wait_sent += 1;
                let _ = self.send(now, target, w.pt, w.payload, w.forward, w.data);
            } else {
                self.stats.sa_wait_expired += 1;
                self.recycle(w.payload);
            }
        }
        self.pump(now);
        Ok(())
    }

    /// Removes the SAs of `peer`; with IPsec required, traffic to it stops until new ones are
    /// installed. Returns whether there were any.
    pub fn remove_sa(&mut self, now: Instant, peer: IpAddr) -> bool {
        let spi = self
            .peer(peer)
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
        let Some(p) = self
            .peer_ids
            .get(&peer)
            .and_then(|&id| self.peers.get_mut(id))
        else {
            return false;
        };
        self.adj_gen += 1;
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
            self.adj_gen += 1;
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
            if self.send_copy(now, to, pt, packet, true).is_ok() {
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
        self.peer(nbma).map(|p| p.counters)
    }

    /// The peers, like Cisco's `show dmvpn`: NHSs (static), registered spokes (hub),
    /// resolved peers and shortcuts (spoke).
    pub fn peers(&self) -> Vec<PeerInfo> {
        let mut out = Vec::new();
        let info = |nbma: IpAddr| self.peer(nbma);
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
                since: p.map(|p| p.since),
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
                since: p.map(|p| p.since),
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
                since: p.map(|p| p.since),
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
        buf: PacketBuf,
    ) -> Result<(), DropReason> {
        match protocol {
            UnderlayProtocol::Gre => {
                if self.cfg.ipsec == IpsecPolicy::Required {
                    return self.discard(buf, DropReason::Cleartext(from));
                }
                self.on_gre(now, from, buf)
            }
            UnderlayProtocol::Esp => self.on_esp(now, from, buf, None),
            UnderlayProtocol::Udp {
                local_port,
                remote_port,
            } => {
                if local_port != NAT_T_PORT {
                    return self.discard(buf, DropReason::Protocol(0));
                }
                self.on_esp(now, from, buf, Some((local_port, remote_port)))
            }
        }
    }

    /// Opens ESP (or ESP-in-UDP) in place; the plaintext GRE packet stays in `buf`.
    fn on_esp(
        &mut self,
        now: Instant,
        from: IpAddr,
        mut buf: PacketBuf,
        udp: Option<(u16, u16)>,
    ) -> Result<(), DropReason> {
        self.touched = true;
        let opened = match udp {
            None => self
                .esp
                .open(now, &mut buf)
                .map(|(_, o)| Some((o.next_header, o.range))),
            Some(_) => match self.esp.open_udp(now, &mut buf) {
                Ok(UdpOpened::Esp(_, o)) => Ok(Some((o.next_header, o.range))),
                Ok(UdpOpened::Ike(_)) => return self.discard(buf, DropReason::Ike),
                Ok(UdpOpened::Keepalive) => Ok(None),
                Err(e) => Err(e),
            },
        };
        let (next_header, range) = match opened {
            Ok(Some(o)) => o,
            Ok(None) => {
                self.recycle(buf);
                return Ok(());
            }
            Err(e) => return self.discard(buf, e.into()),
        };
        if next_header != 47 {
            return self.discard(buf, DropReason::NotGre(next_header));
        }
        self.stats.esp_opened += 1;
        if let Some(ports) = udp {
            // A peer behind NAT: answer to the port its packets come from.
            if let Some(p) = self
                .peer_ids
                .get(&from)
                .and_then(|&id| self.peers.get_mut(id))
                && p.udp != Some(ports)
            {
                p.udp = Some(ports);
                self.adj_gen += 1;
            }
        }
        buf.advance(range.start);
        buf.truncate(range.len());
        self.on_gre(now, from, buf)
    }

    /// Decapsulates GRE in place: NHRP goes to the NHRP machine, IP packets are routed.
    fn on_gre(&mut self, now: Instant, from: IpAddr, mut buf: PacketBuf) -> Result<(), DropReason> {
        let (pt, header_len) = match self.gre.decapsulate(from, &buf) {
            Ok(d) => (d.repr.protocol_type, buf.len() - d.payload.len()),
            Err(e) => return self.discard(buf, e.into()),
        };
        self.count_rx(now, from, buf.len(), pt != ProtocolType::NHRP);
        if pt == ProtocolType::NHRP {
            self.stats.nhrp_in += 1;
            // NHRP input may change registrations and the cache: adjacencies are recomputed.
            self.adj_gen += 1;
            self.touched = true;
            let r = self.nhrp.handle_packet(
                now,
                nhrp::Datagram {
                    from,
                    bytes: buf.get(header_len..).unwrap_or_default(),
                },
            );
            self.recycle(buf);
            r?;
            Ok(())
        } else if pt == ProtocolType::IPV4 || pt == ProtocolType::IPV6 {
            buf.advance(header_len);
            match self.forward_queued(now, buf, Some(from)) {
                Ok(()) => Ok(()),
                Err(buf) => self.route(now, buf, Some(from)),
            }
        } else {
            self.discard(buf, DropReason::Protocol(pt.0))
        }
    }

    // ----- forwarding ----------------------------------------------------------------------

    /// Routes one overlay packet that came from the tunnel (`ingress = Some(peer)`) or the
    /// LAN (`None`), or that the node originated (ICMP; also `None`). The packet leaves in
    /// the same buffer.
    fn route(
        &mut self,
        now: Instant,
        buf: PacketBuf,
        ingress: Option<IpAddr>,
    ) -> Result<(), DropReason> {
        let h = match OverlayHeader::parse(&buf) {
            Ok(h) => h,
            Err(e) => return self.discard(buf, e.into()),
        };
        if h.dst == self.own {
            return match (self.cfg.local_delivery, ingress) {
                // For the host's own stack: deliver as received (it is the destination, so
                // the TTL is not decremented).
                (LocalDelivery::Overlay, Some(_)) => self.deliver(buf, false),
                _ => {
                    self.local(now, &buf);
                    self.recycle(buf);
                    Ok(())
                }
            };
        }
        let slot = adjacency_slot(h.dst);
        let (adj, path) = match self.adjacency_hit(slot, h.dst) {
            Some(adj) => {
                if h.ttl <= 1 {
                    return self.time_exceeded(now, &h, buf);
                }
                (adj, Path::Direct)
            }
            None => {
                let Some(route) = self.fib.lookup_cached(h.dst) else {
                    self.icmp(now, &h, &buf, IcmpError::Unreachable);
                    return self.discard(buf, DropReason::NoRoute(h.dst));
                };
                if h.ttl <= 1 {
                    return self.time_exceeded(now, &h, buf);
                }
                match route.next_hop {
                    NextHop::Discard => return self.discard(buf, DropReason::Discard(h.dst)),
                    NextHop::Lan => {
                        let adj = self.lan_adjacency(now, h.dst);
                        self.store_adjacency(slot, adj);
                        return self.deliver(buf, true);
                    }
                    NextHop::Nbma(_) | NextHop::Tunnel(_) | NextHop::TunnelConnected => {}
                }
                let (to, path, usage) = match self.next_hop_nbma(now, h.dst, route) {
                    Ok(r) => r,
                    Err(e) => return self.discard(buf, e),
                };
                let adj = self.adjacency(now, h.dst, to, usage);
                if path == Path::Direct {
                    self.store_adjacency(slot, adj);
                }
                (adj, path)
            }
        };
        if buf.len() > usize::from(adj.mtu) && h.dont_fragment {
            let mtu = adj.mtu;
            self.icmp(now, &h, &buf, IcmpError::TooBig { mtu });
            let len = buf.len();
            return self.discard(buf, DropReason::TooBig { len, mtu });
        }
        if now >= adj.report_after {
            self.report_use(now, slot, &adj);
        }
        if let Some(ingress) = ingress {
            self.stats.data_hairpinned += 1;
            if self.redirect {
                // Cisco `ip nhrp redirect`: the packet entered and leaves the mGRE
                // interface; tell the ingress spoke to build a shortcut.
                self.touched = true;
                let _ = self.nhrp.note_hairpin(now, h.src, h.dst, ingress);
            }
        }
        let pt = if h.dst.is_ipv4() {
            ProtocolType::IPV4
        } else {
            ProtocolType::IPV6
        };
        self.send(now, adj.target, pt, buf, true, true)?;
        match path {
            Path::Direct => self.stats.data_direct += 1,
            Path::ViaHub => self.stats.data_via_hub += 1,
        }
        Ok(())
    }

    /// The forwarding fast path, tried before [`route`](Self::route) for every data packet:
    /// when the destination has a valid adjacency with a fixed GRE header (no IPsec) and
    /// nothing else is due (TTL above 1, fits the path MTU, no NHRP use report or redirect
    /// pending), the packet gets the header copied in front and its TTL decremented, and is
    /// returned as its transmit. Anything else hands the buffer back, untouched, for the full
    /// path.
    #[inline(always)]
    fn fast_path(
        &mut self,
        now: Instant,
        mut buf: PacketBuf,
        ingress: Option<IpAddr>,
    ) -> Result<Transmit, PacketBuf> {
        let Ok(h) = OverlayHeader::parse(&buf) else {
            return Err(buf);
        };
        let Some(Some(a)) = self.adj.get(adjacency_slot(h.dst)) else {
            return Err(buf);
        };
        if a.dst != h.dst
            || a.generation != self.adj_gen
            || a.fib_generation != self.fib.generation()
            || h.ttl <= 1
        {
            return Err(buf);
        }
        if a.lan {
            // A local network: deliver to the LAN side.
            decrement_ttl(&mut buf);
            self.stats.overlay_out += 1;
            return Ok(Transmit::Overlay(buf));
        }
        if a.gre_len == 0
            || now >= a.report_after
            || (buf.len() > usize::from(a.mtu) && h.dont_fragment)
            || (ingress.is_some() && self.redirect)
        {
            return Err(buf);
        }
        let (to, peer, gre_len) = (a.target.to, a.target.peer, usize::from(a.gre_len));
        // The header is right-aligned in a fixed-size array: copying all of it is one fixed
        // store (the bytes in front of the header land in headroom nobody reads).
        if !buf.prepend_fixed(&a.gre_header, gre_len) {
            return Err(buf);
        }
        decrement_ttl(buf.get_mut(gre_len..).unwrap_or_default());
        self.gre.count_encapsulated(1);
        if let Some(p) = peer.and_then(|id| self.peers.get_mut(id)) {
            p.counters.tx_packets += 1;
            p.counters.tx_bytes += buf.len() as u64;
            p.counters.tx_data += 1;
        }
        if ingress.is_some() {
            self.stats.data_hairpinned += 1;
        }
        self.stats.underlay_out += 1;
        self.stats.data_direct += 1;
        Ok(Transmit::Underlay {
            to,
            protocol: UnderlayProtocol::Gre,
            bytes: buf,
        })
    }

    /// [`fast_path`](Self::fast_path), queueing the transmit; the buffer comes back when the
    /// fast path does not apply (or the queue is full, which the full path reports).
    #[inline]
    fn forward_queued(
        &mut self,
        now: Instant,
        buf: PacketBuf,
        ingress: Option<IpAddr>,
    ) -> Result<(), PacketBuf> {
        if self.outbox.len() >= OUTBOX_MAX {
            return Err(buf);
        }
        let t = self.fast_path(now, buf, ingress)?;
        self.outbox.push_back(t);
        Ok(())
    }

    /// The cached adjacency for `dst` in `slot`, if it is still valid.
    fn adjacency_hit(&self, slot: usize, dst: IpAddr) -> Option<Adjacency> {
        match self.adj.get(slot) {
            Some(Some(a))
                if a.dst == dst
                    && !a.lan
                    && a.generation == self.adj_gen
                    && a.fib_generation == self.fib.generation() =>
            {
                Some(*a)
            }
            _ => None,
        }
    }

    /// Computes the adjacency of `dst` sent to the NBMA peer `to`.
    fn adjacency(&mut self, now: Instant, dst: IpAddr, to: IpAddr, usage: Usage) -> Adjacency {
        let target = self.target(now, to);
        let pt = if dst.is_ipv4() {
            ProtocolType::IPV4
        } else {
            ProtocolType::IPV6
        };
        let mut gre_header = [0; gre::wire::Repr::MAX_HEADER_LEN];
        let gre_len = match self.gre.fixed_header(pt) {
            Some(h) if self.cfg.ipsec == IpsecPolicy::None => {
                let len = h.header_len();
                let at = gre_header.len().saturating_sub(len);
                match gre_header.get_mut(at..).map(|b| h.emit(b)) {
                    Some(Ok(())) => u8::try_from(len).unwrap_or(0),
                    _ => 0,
                }
            }
            _ => 0,
        };
        Adjacency {
            dst,
            generation: self.adj_gen,
            fib_generation: self.fib.generation(),
            target,
            mtu: self.path_mtu(&target),
            gre_header,
            gre_len,
            usage,
            report_after: now,
            lan: false,
        }
    }

    /// The adjacency of `dst` on the LAN side.
    fn lan_adjacency(&self, now: Instant, dst: IpAddr) -> Adjacency {
        Adjacency {
            dst,
            generation: self.adj_gen,
            fib_generation: self.fib.generation(),
            target: Target {
                to: dst,
                peer: None,
                sa: None,
                udp: None,
            },
            mtu: 0,
            gre_header: [0; gre::wire::Repr::MAX_HEADER_LEN],
            gre_len: 0,
            usage: Usage::None,
            report_after: now,
            lan: true,
        }
    }

    /// Keeps `adj` in its cache slot (allocating the cache on first use).
    fn store_adjacency(&mut self, slot: usize, adj: Adjacency) {
        if self.adj.is_empty() {
            self.adj = vec![None; ADJ_SLOTS];
        }
        if let Some(s) = self.adj.get_mut(slot) {
            *s = Some(adj);
        }
    }

    /// Tells NHRP that the path of `adj` carried traffic (so a shortcut or a resolved entry
    /// is refreshed before it expires), at most once per [`USED_MARK_INTERVAL`] per
    /// destination and per prefix.
    fn report_use(&mut self, now: Instant, slot: usize, adj: &Adjacency) {
        self.touched = true;
        match adj.usage {
            Usage::None => {}
            Usage::Shortcut(prefix) => self.note_used(now, prefix, adj.dst),
            Usage::Cache(nh) => self.note_used(now, IpNet::from(nh), nh),
        }
        if let Some(Some(a)) = self.adj.get_mut(slot)
            && a.dst == adj.dst
        {
            a.report_after = now + USED_MARK_INTERVAL;
        }
    }

    /// Sends ICMP time exceeded about `buf` and drops it.
    fn time_exceeded(
        &mut self,
        now: Instant,
        h: &OverlayHeader,
        buf: PacketBuf,
    ) -> Result<(), DropReason> {
        self.icmp(now, h, &buf, IcmpError::TimeExceeded);
        self.discard(buf, DropReason::TtlExpired(h.dst))
    }

    /// Queues an overlay packet for the LAN/TUN side (TTL decremented when forwarded).
    fn deliver(&mut self, mut buf: PacketBuf, forwarded: bool) -> Result<(), DropReason> {
        if self.outbox.len() >= OUTBOX_MAX {
            return self.discard(buf, DropReason::QueueFull);
        }
        if forwarded {
            decrement_ttl(&mut buf);
        }
        self.stats.overlay_out += 1;
        self.outbox.push_back(Transmit::Overlay(buf));
        Ok(())
    }

    /// The NBMA address to send a packet for `dst` to, given its route, and how its use is
    /// reported to NHRP.
    fn next_hop_nbma(
        &mut self,
        now: Instant,
        dst: IpAddr,
        route: Lookup,
    ) -> Result<(IpAddr, Path, Usage), DropReason> {
        // NHRP may be asked to resolve or told of cache use.
        self.touched = true;
        let nh = match route.next_hop {
            NextHop::Nbma(nbma) => {
                return Ok((nbma, Path::Direct, Usage::Shortcut(route.prefix)));
            }
            NextHop::Tunnel(nh) => nh,
            _ => dst,
        };
        if let Some(s) = self.cfg.nhs.iter().find(|s| s.tunnel_address == nh) {
            return Ok((s.nbma, Path::Direct, Usage::None));
        }
        if self.cfg.role == Role::Hub
            && let Some(r) = self.nhrp.registration(nh)
        {
            return Ok((r.effective_nbma(), Path::Direct, Usage::None));
        }
        if self.cfg.phase != Phase::One
            && let Some(c) = self.nhrp.lookup(nh)
            && let Some(nbma) = c.nbma
        {
            return Ok((nbma, Path::Direct, Usage::Cache(nh)));
        }
        if self.cfg.role == Role::Spoke {
            if self.cfg.phase == Phase::Two {
                // Phase 2: resolve the next hop; traffic goes via the hub meanwhile.
                let _ = self.nhrp.resolve(now, nh);
            }
            if let Some(hub) = self.active_nhs() {
                return Ok((hub, Path::ViaHub, Usage::None));
            }
            return Err(DropReason::Unresolved(nh));
        }
        // A hub that is also a client of a higher hub sends what it cannot place upwards.
        if let Some(hub) = self.active_nhs() {
            return Ok((hub, Path::ViaHub, Usage::None));
        }
        Err(DropReason::NoRoute(dst))
    }

    /// Tells NHRP that `target` (covered by `key`) was used, at most once per
    /// [`USED_MARK_INTERVAL`] per `key`, through a direct-mapped table: NHRP only needs "used
    /// since the last refresh", and refreshes start minutes before expiry.
    fn note_used(&mut self, now: Instant, key: IpNet, target: IpAddr) {
        let h = addr_hash(key.addr()) ^ u64::from(key.prefix_len()).wrapping_mul(0x9e37_79b9);
        let slot = (h >> 58) as usize % USED_MARK_SLOTS;
        if let Some(Some((p, at))) = self.used_marks.get(slot)
            && *p == key
            && now.saturating_duration_since(*at) < USED_MARK_INTERVAL
        {
            return;
        }
        self.nhrp.mark_used(now, target);
        if let Some(m) = self.used_marks.get_mut(slot) {
            *m = Some((key, now));
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
    fn local(&mut self, now: Instant, packet: &[u8]) {
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
            let buf = self.buf_from(&reply);
            let _ = self.route(now, buf, None);
        }
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
            let buf = self.buf_from(&err);
            let _ = self.route(now, buf, None);
        }
    }

    // ----- output --------------------------------------------------------------------------

    /// Where packets to the NBMA peer `to` go: its state slot (created on first use while
    /// the table has room) and outbound SA.
    fn target(&mut self, now: Instant, to: IpAddr) -> Target {
        let peer = self.peer_id(now, to, false);
        let p = peer.and_then(|id| self.peers.get(id));
        Target {
            to,
            peer,
            sa: p.and_then(|p| p.outbound),
            udp: p.and_then(|p| p.udp),
        }
    }

    /// Encapsulates a copy of `payload` in GRE (and ESP when required) to the NBMA peer
    /// `to`: NHRP packets and multicast replicas.
    fn send_copy(
        &mut self,
        now: Instant,
        to: IpAddr,
        pt: ProtocolType,
        payload: &[u8],
        data: bool,
    ) -> Result<(), DropReason> {
        let buf = self.buf_from(payload);
        let target = self.target(now, to);
        self.send(now, target, pt, buf, false, data)
    }

    /// Encapsulates the packet in `buf` in GRE (and ESP when required) for `target`, writing
    /// the headers into its headroom and the ESP trailer into its tailroom, and queues it.
    /// `forward` decrements the TTL; `data` counts it as data for the peer.
    fn send(
        &mut self,
        now: Instant,
        target: Target,
        pt: ProtocolType,
        mut buf: PacketBuf,
        forward: bool,
        data: bool,
    ) -> Result<(), DropReason> {
        if self.outbox.len() >= OUTBOX_MAX {
            return self.discard(buf, DropReason::QueueFull);
        }
        let to = target.to;
        let sa = match (self.cfg.ipsec, target.sa) {
            (IpsecPolicy::None, _) => None,
            (IpsecPolicy::Required, Some(id)) => Some(id),
            (IpsecPolicy::Required, None) => {
                self.sa_needed(target);
                return self.wait_for_sa(now, to, pt, buf, forward, data);
            }
        };
        let gre_len = match self.gre.next_header(to, pt) {
            Ok(h) => h.header_len(),
            Err(e) => return self.discard(buf, e.into()),
        };
        let (esp_len, trailer) = match sa.and_then(|id| self.esp.outbound(id)) {
            Some(s) => (s.header_len(), s.max_trailer_len(gre_len + buf.len())),
            None if sa.is_some() => return self.discard(buf, DropReason::NoSa(to)),
            None => (0, 0),
        };
        if forward {
            decrement_ttl(&mut buf);
        }
        buf.reserve_around(gre_len + esp_len, trailer);
        let (raw, payload) = buf.raw_mut();
        let Some(gre_packet) = raw.get_mut(..payload.end) else {
            return self.discard(buf, DropReason::QueueFull);
        };
        if let Err(e) = self.gre.encapsulate(to, pt, gre_packet, payload.start) {
            return self.discard(buf, e.into());
        }
        let packet = payload.start - gre_len..payload.end;
        let protocol = match sa {
            Some(id) => {
                // Sealing may raise SA events (soft expiry, sequence exhausted).
                self.touched = true;
                let sealed = self.esp.seal(now, id, 47, raw, packet);
                match sealed {
                    Ok(range) => buf.set_range(range),
                    Err(e) => {
                        self.pump_esp_events();
                        return self.discard(buf, e.into());
                    }
                }
                self.stats.esp_sealed += 1;
                match target.udp {
                    Some((local_port, remote_port)) => UnderlayProtocol::Udp {
                        local_port,
                        remote_port,
                    },
                    None => UnderlayProtocol::Esp,
                }
            }
            None => {
                buf.set_range(packet);
                UnderlayProtocol::Gre
            }
        };
        if let Some(p) = target.peer.and_then(|id| self.peers.get_mut(id)) {
            p.counters.tx_packets += 1;
            p.counters.tx_bytes += buf.len() as u64;
            if data {
                p.counters.tx_data += 1;
            }
        }
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
        payload: PacketBuf,
        forward: bool,
        data: bool,
    ) -> Result<(), DropReason> {
        if !self.sa_wait.contains_key(&to) && self.sa_wait.len() >= SA_WAIT_PEERS {
            return self.discard(payload, DropReason::NoSa(to));
        }
        let q = self.sa_wait.entry(to).or_default();
        let mut expired = Vec::new();
        while q
            .front()
            .is_some_and(|w| now.saturating_duration_since(w.since) > SA_WAIT_MAX_AGE)
        {
            expired.extend(q.pop_front());
        }
        let full = q.len() >= SA_WAIT_PER_PEER;
        if !full {
            q.push_back(Waiting {
                since: now,
                pt,
                payload,
                forward,
                data,
            });
        }
        for w in expired {
            self.stats.sa_wait_expired += 1;
            self.recycle(w.payload);
        }
        if full {
            return Err(DropReason::NoSa(to));
        }
        self.stats.sa_wait_queued += 1;
        Ok(())
    }

    /// The largest overlay packet that fits the underlay to `target` once the outer IP
    /// header, GRE and (when required) ESP/UDP are added, capped by the configured tunnel MTU.
    fn path_mtu(&self, target: &Target) -> u16 {
        let outer = if target.to.is_ipv4() { 20 } else { 40 };
        let gre = self
            .gre
            .next_header(target.to, ProtocolType::IPV4)
            .map_or(gre::wire::Repr::MAX_HEADER_LEN, |r| r.header_len());
        let udp = if target.udp.is_some() { 8 } else { 0 };
        let esp = target
            .sa
            .and_then(|id| self.esp.outbound(id))
            .map_or(0, |sa| udp + sa.header_len() + sa.max_trailer_len(0));
        let room = usize::from(self.cfg.underlay_mtu).saturating_sub(outer + gre + esp);
        self.cfg.mtu.min(u16::try_from(room).unwrap_or(u16::MAX))
    }

    /// Asks for keys for `target` (once per peer while it has a state slot).
    fn sa_needed(&mut self, target: Target) {
        let first = match target.peer.and_then(|id| self.peers.get_mut(id)) {
            Some(p) => !core::mem::replace(&mut p.sa_needed_reported, true),
            None => true,
        };
        if first {
            self.emit(Event::SaNeeded { peer: target.to });
        }
    }

    /// A buffer from the pool (or a new one).
    fn take_buf(&mut self) -> PacketBuf {
        self.pool.pop().unwrap_or_default()
    }

    /// A pooled buffer holding a copy of `packet`.
    fn buf_from(&mut self, packet: &[u8]) -> PacketBuf {
        let mut b = self.take_buf();
        b.extend_from_slice(packet);
        b
    }

    /// Gives `buf` back to the pool and reports `reason`.
    fn discard(&mut self, buf: PacketBuf, reason: DropReason) -> Result<(), DropReason> {
        self.recycle(buf);
        Err(reason)
    }

    fn count_rx(&mut self, now: Instant, from: IpAddr, len: usize, data: bool) {
        if let Some(p) = self
            .peer_id(now, from, false)
            .and_then(|id| self.peers.get_mut(id))
        {
            p.counters.rx_packets += 1;
            p.counters.rx_bytes += len as u64;
            if data {
                p.counters.rx_data += 1;
            }
        }
    }

    /// The state slot of `nbma`, created on first contact while the table has room (`force`:
    /// always, for state the caller installs).
    fn peer_id(&mut self, now: Instant, nbma: IpAddr, force: bool) -> Option<PeerId> {
        let slot = adjacency_slot(nbma) % PEER_CACHE_SLOTS;
        if let Some(Some((a, id))) = self.peer_cache.get(slot)
            && *a == nbma
        {
            return Some(*id);
        }
        if let Some(&id) = self.peer_ids.get(&nbma) {
            if let Some(c) = self.peer_cache.get_mut(slot) {
                *c = Some((nbma, id));
            }
            return Some(id);
        }
        if !force && self.peer_ids.len() >= self.cfg.max_peers.saturating_mul(2) {
            return None;
        }
        let fresh = Peer {
            outbound: None,
            inbound: None,
            udp: None,
            sa_needed_reported: false,
            since: now,
            counters: PeerCounters::default(),
        };
        let id = match self.free_peers.pop() {
            Some(id) => {
                if let Some(p) = self.peers.get_mut(id) {
                    *p = fresh;
                }
                id
            }
            None => {
                self.peers.push(fresh);
                self.peers.len() - 1
            }
        };
        self.peer_ids.insert(nbma, id);
        Some(id)
    }

    /// Frees the state slot of `nbma` after it left (its registration ended): its counters
    /// go with it, as the peer goes from `show dmvpn`. Kept while it has SAs (keys are the
    /// key exchange's to withdraw) or is one of our NHSs. Two spokes registered from one NBMA
    /// address (behind one NAT) share a slot; when one leaves the other's counters start
    /// again from zero.
    fn forget_peer(&mut self, nbma: IpAddr) {
        if self.cfg.nhs.iter().any(|n| n.nbma == nbma) {
            return;
        }
        let Some(&id) = self.peer_ids.get(&nbma) else {
            return;
        };
        if self
            .peers
            .get(id)
            .is_some_and(|p| p.inbound.is_some() || p.outbound.is_some())
        {
            return;
        }
        self.peer_ids.remove(&nbma);
        let slot = adjacency_slot(nbma) % PEER_CACHE_SLOTS;
        if let Some(c) = self.peer_cache.get_mut(slot)
            && c.is_some_and(|(a, _)| a == nbma)
        {
            *c = None;
        }
        self.free_peers.push(id);
        // Adjacencies may hold the id.
        self.adj_gen += 1;
    }

    /// The state of `nbma`, if it has a slot.
    fn peer(&self, nbma: IpAddr) -> Option<&Peer> {
        self.peer_ids.get(&nbma).and_then(|&id| self.peers.get(id))
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
                    .send_copy(now, t.to, ProtocolType::NHRP, &t.bytes, false)
                    .is_err()
                {
                    self.stats.nhrp_out_dropped += 1;
                }
            }
            while let Some(e) = self.nhrp.poll_event() {
                progressed = true;
                self.on_nhrp_event(e);
            }
            progressed |= self.pump_esp_events();
            if !progressed {
                self.touched = false;
                break;
            }
            // NHRP or SA state changed: adjacencies are recomputed.
            self.adj_gen += 1;
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
                        self.adj_gen += 1;
                        if let Some(p) = self
                            .peer_ids
                            .get(&peer)
                            .and_then(|&id| self.peers.get_mut(id))
                        {
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
                nat_nbma,
                reason,
            } => {
                // The data plane knows the peer by the address its packets come from.
                let from = nat_nbma.unwrap_or(nbma);
                self.gre.forget_peer(from);
                self.forget_peer(from);
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
