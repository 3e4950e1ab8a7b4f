//! A deterministic network simulator for DMVPN nodes (feature `sim`).
//!
//! # What it models
//!
//! * **Devices**: any sans-IO machine implementing [`Device`] (the future
//!   `dmvpn_core::Node`, or a toy router in a test), each with one underlay address, directly
//!   on the internet or behind a [NAT box](nat). [`Sim<D>`] is generic over the device type so
//!   tests reach the concrete machine ([`Sim::device`], [`Sim::device_mut`]).
//! * **The internet**: delivers an underlay packet by destination address, after a per-packet
//!   delay; [`Link`] parameters (latency, jitter, loss, duplication, reordering, MTU) come from
//!   a default and per-device overrides. In-flight packets sit in one binary heap.
//! * **NAT boxes** ([`NatKind::EndpointIndependent`], [`NatKind::Symmetric`]; GRE/ESP translated
//!   by address only), with idle expiry and flush/rebind for the "NBMA address changes" case.
//! * **Plain hosts** on a device's LAN ([`Sim::add_host`]): they [`ping`](Sim::ping), answer
//!   echo requests and record what they receive with virtual timestamps and RTTs.
//! * **One virtual clock**: [`Sim::step`] advances to the earliest of the next packet arrival
//!   and the earliest device deadline. Deadlines live in a min-heap with lazy invalidation
//!   (refreshed each time a device is serviced), so a step costs O(log n) whatever the number
//!   of devices. The simulator never reads a clock: [`Sim::new`] takes the start `Instant`.
//! * **Randomness**: the simulator's own seeded xoshiro256**. Same seed and same inputs give
//!   the same run and a byte-identical [pcap](Sim::enable_pcap).
//! * **Observability**: per-device, per-NAT and global counters ([`DeviceStats`], [`NatStats`],
//!   [`SimStats`]), drops by [`DropReason`], the devices' events ([`Sim::events`]), an optional
//!   timeline hook ([`Sim::set_trace`]), and a pcap dump of the underlay
//!   ([`Sim::enable_pcap`], summarised by [`pcap::summarize`]).
//!
//! [`toy::ToyRouter`] is a minimal IP-in-GRE router used by the simulator's own tests.
//!
//! # Invariants checked on every step
//!
//! After each input or due deadline the simulator drains the device's `poll_transmit` and
//! `poll_event` completely (at most [`Sim::set_max_transmits_per_service`] outputs, else
//! [`SimError::TransmitStorm`]), serves a deadline that is already due, and checks that
//! `poll_timeout()` is then `> now` ([`SimError::TimerSpin`]). In-flight packets are bounded
//! ([`SimError::QueueFull`]) and so are events at one instant ([`SimError::Livelock`]).
//! Violations are returned as typed errors from [`Sim::step`], [`Sim::run_until`] and
//! [`Sim::run_for`] (tests `unwrap` them); the simulator should not be driven further after one.
//!
//! # Recipes for scenarios
//!
//! * *Which packets crossed which node*: [`Sim::device_stats`] counts underlay packets in and
//!   out per protocol (and overlay packets, timeouts, rejected inputs, drops); take a copy
//!   before and compare after, e.g. "the hub saw nothing of a spoke-to-spoke ping".
//! * *Hub restart*: [`Sim::replace_device`] swaps in a fresh machine at the same address;
//!   [`Sim::set_up`] takes a device down (packets to it are lost) and back up.
//! * *NBMA address change*: [`Sim::set_underlay_addr`] for a device on the internet,
//!   [`Sim::nat_flush`] (new public port) or [`Sim::nat_rebind`] (new public address) for one
//!   behind a NAT.
//! * *"The wire shows ESP only"*: [`Sim::enable_pcap`], then [`pcap::summarize`] counts the
//!   captured packets per outer IP protocol. Write [`Sim::pcap`] to a file to open it in
//!   Wireshark.
//! * *Protocol verbs*: [`Sim::with_device`] runs a closure on the device with the virtual now
//!   and services it at once.
//! * *Waiting for a condition*: [`Sim::run_until`] with a cheap predicate (it runs after every
//!   virtual instant that had events), or [`Sim::run_for`].
//!
//! # What it does not model
//!
//! Bandwidth and queueing delay, IP fragmentation (too-big packets are dropped, no ICMP
//! "fragmentation needed" is generated), TTLs, ICMP errors, LAN loss (host <-> device
//! delivery is lossless, after [`Sim::set_lan_delay`], 0 by default), routing between
//! devices' LANs other than through the devices, and packet corruption. The pcap buffer and
//! the per-device event log grow with the run (disable them for long benchmarks:
//! [`Sim::set_record_events`]; the pcap is off unless enabled).
//!
//! # Example
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::{Duration, Instant};
//! use dmvpn_core::sim::{Device, Link, Sim};
//! use dmvpn_core::{Datagram, PacketBuf, Transmit, UnderlayProtocol};
//!
//! /// Tunnels every LAN packet as IP-in-GRE to one peer; decapsulates what it receives.
//! struct Tunnel { peer: IpAddr, out: Vec<Transmit> }
//!
//! impl Device for Tunnel {
//!     type Event = ();
//!     type Error = &'static str;
//!     fn handle(&mut self, _now: Instant, dgram: Datagram<'_>) -> Result<(), &'static str> {
//!         match dgram {
//!             Datagram::Overlay(ip) => {
//!                 let mut bytes = PacketBuf::from_slice(&[0, 0, 0x08, 0x00]); // GRE, IPv4
//!                 bytes.extend_from_slice(ip);
//!                 let protocol = UnderlayProtocol::Gre;
//!                 self.out.push(Transmit::Underlay { to: self.peer, protocol, bytes });
//!             }
//!             Datagram::Underlay { bytes, .. } => {
//!                 let ip = bytes.get(4..).ok_or("short GRE")?;
//!                 self.out.push(Transmit::Overlay(PacketBuf::from_slice(ip)));
//!             }
//!         }
//!         Ok(())
//!     }
//!     fn handle_timeout(&mut self, _now: Instant) {}
//!     fn poll_transmit(&mut self) -> Option<Transmit> { self.out.pop() }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//! }
//!
//! let a_addr: IpAddr = "192.0.2.1".parse().unwrap();
//! let b_addr: IpAddr = "198.51.100.2".parse().unwrap();
//! let mut sim = Sim::new(42, Instant::now());
//! sim.set_default_link(Link::new().latency(Duration::from_millis(25)));
//! let a = sim.add_device(a_addr, Tunnel { peer: b_addr, out: vec![] }).unwrap();
//! let b = sim.add_device(b_addr, Tunnel { peer: a_addr, out: vec![] }).unwrap();
//! let pc = sim.add_host(a, "10.1.0.10".parse().unwrap()).unwrap();
//! let _server = sim.add_host(b, "10.2.0.10".parse().unwrap()).unwrap();
//! sim.enable_pcap(Default::default());
//!
//! sim.ping(pc, "10.2.0.10".parse().unwrap(), 1, 1, 56).unwrap();
//! sim.run_until(Duration::from_secs(1), |s| !s.host(pc).echo_replies().is_empty()).unwrap();
//! assert_eq!(sim.host(pc).echo_replies()[0].rtt, Some(Duration::from_millis(50)));
//! let capture = dmvpn_core::sim::pcap::summarize(sim.pcap().unwrap()).unwrap();
//! assert_eq!(capture.count(47), 2); // request and reply, both GRE
//! ```

mod device;
mod error;
mod host;
mod link;
pub mod nat;
pub mod pcap;
mod rng;
mod stats;
pub mod toy;
mod trace;

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use device::Device;
pub use error::SimError;
pub use host::{EchoReply, Host, Received};
pub use link::Link;
pub use nat::{NatConfig, NatKind};
pub use pcap::{CapturePoint, CaptureSummary, PcapError};
pub use stats::{DeviceStats, DropReason, Drops, NatStats, ProtoCounts, SimStats};
pub use trace::{TraceKind, TraceRecord};

use crate::buf::PacketBuf;
use crate::io::{DatagramBuf, Transmit, UnderlayProtocol};
use nat::{Endpoint, Nat};
use pcap::{Outer, PcapWriter};
use rng::Rng;

/// A device of a [`Sim`] (index in creation order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(u32);

/// A plain host of a [`Sim`] (index in creation order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(u32);

/// A NAT box of a [`Sim`] (index in creation order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NatId(u32);

impl DeviceId {
    /// The index (0 for the first device added).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl HostId {
    /// The index (0 for the first host added).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl NatId {
    /// The index (0 for the first NAT box added).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dev{}", self.0)
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host{}", self.0)
    }
}

impl fmt::Display for NatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nat{}", self.0)
    }
}

/// A point in virtual time for [`Sim::run_until`]: an `Instant`, or a `Duration` from now.
pub trait Deadline {
    /// The absolute deadline, given the simulator's current time.
    fn resolve(self, now: Instant) -> Instant;
}

impl Deadline for Instant {
    fn resolve(self, _now: Instant) -> Instant {
        self
    }
}

impl Deadline for Duration {
    /// `now + self`, saturating far in the future (so `Duration::MAX` means "no deadline").
    fn resolve(self, now: Instant) -> Instant {
        later(now, self)
    }
}

/// `now + d` without panicking: an `Instant` cannot represent every sum, so an overflowing
/// one saturates at about 136 years from `now`.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}

/// What owns an address on the internet.
#[derive(Clone, Copy, Debug)]
enum Attach {
    Device(DeviceId),
    Nat(NatId),
}

struct Slot<D: Device> {
    dev: D,
    addr: IpAddr,
    nat: Option<NatId>,
    up: bool,
    link: Option<Link>,
    /// The deadline last read from the device (the heap may hold stale copies).
    deadline: Option<Instant>,
    stats: DeviceStats,
    events: Vec<(Duration, D::Event)>,
}

/// An underlay packet on the internet (addresses as on the wire, post-NAT).
struct Packet {
    src: Endpoint,
    dst: Endpoint,
    /// The protocol as the sender emitted it (ports are in the endpoints).
    protocol: UnderlayProtocol,
    bytes: PacketBuf,
    sender: DeviceId,
}

impl Packet {
    fn outer(&self) -> Outer {
        Outer {
            src: self.src.0,
            dst: self.dst.0,
            ip_protocol: self.protocol.ip_protocol(),
            ports: self.src.1.zip(self.dst.1),
        }
    }
}

enum Delivery {
    Underlay(Packet),
    ToDevice {
        device: DeviceId,
        host: Option<HostId>,
        bytes: PacketBuf,
    },
    ToHost {
        device: DeviceId,
        host: HostId,
        bytes: PacketBuf,
    },
}

/// A scheduled delivery; the heap pops the earliest `at`, ties in scheduling order.
struct Scheduled {
    at: Instant,
    seq: u64,
    what: Delivery,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap.
        other
            .at
            .cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

type TraceHook<D> = Box<dyn FnMut(&TraceRecord<'_, D>)>;

/// The simulator: devices, hosts, NAT boxes, the internet between them, one virtual clock.
///
/// See the [module documentation](self) for the model and an example.
pub struct Sim<D: Device> {
    start: Instant,
    now: Instant,
    rng: Rng,
    default_link: Link,
    lan_delay: Duration,
    devices: Vec<Slot<D>>,
    hosts: Vec<Host>,
    nats: Vec<Nat>,
    internet: HashMap<IpAddr, Attach>,
    lan: HashMap<(DeviceId, IpAddr), HostId>,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    deadlines: BinaryHeap<Reverse<(Instant, DeviceId)>>,
    dirty: Vec<DeviceId>,
    pcap: Option<PcapWriter>,
    trace: Option<TraceHook<D>>,
    record_events: bool,
    stats: SimStats,
    max_in_flight: usize,
    max_transmits: usize,
    max_events_per_instant: u64,
    events_this_instant: u64,
}

impl<D: Device> Sim<D> {
    /// An empty simulator whose virtual clock starts at `start`, randomness seeded by `seed`.
    ///
    /// Defaults: [`Link::default`] (10 ms, lossless, MTU 1500), LAN delay 0, at most 4 Mi
    /// packets in flight, 1 Mi outputs per service, 16 Mi events per instant, events recorded,
    /// no pcap, no trace.
    pub fn new(seed: u64, start: Instant) -> Self {
        Self {
            start,
            now: start,
            rng: Rng::new(seed),
            default_link: Link::default(),
            lan_delay: Duration::ZERO,
            devices: Vec::new(),
            hosts: Vec::new(),
            nats: Vec::new(),
            internet: HashMap::new(),
            lan: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            deadlines: BinaryHeap::new(),
            dirty: Vec::new(),
            pcap: None,
            trace: None,
            record_events: true,
            stats: SimStats::default(),
            max_in_flight: 1 << 22,
            max_transmits: 1 << 20,
            max_events_per_instant: 1 << 24,
            events_this_instant: 0,
        }
    }

    // ---- configuration ------------------------------------------------------------------

    /// The link used when neither end of a path has an override.
    pub fn set_default_link(&mut self, link: Link) {
        self.default_link = link;
    }

    /// Override (or with `None` reset) the link of every path from or to `device` (see
    /// [`Link`] for the precedence).
    pub fn set_link(&mut self, device: DeviceId, link: Option<Link>) {
        self.devices[device.index()].link = link;
    }

    /// Delay between a host and its device, both ways (0 by default).
    pub fn set_lan_delay(&mut self, delay: Duration) {
        self.lan_delay = delay;
    }

    /// Bound on packets in flight (underlay and LAN); beyond it a step fails with
    /// [`SimError::QueueFull`].
    pub fn set_max_in_flight(&mut self, limit: usize) {
        self.max_in_flight = limit;
    }

    /// Bound on outputs drained from one device in one service; beyond it
    /// [`SimError::TransmitStorm`].
    pub fn set_max_transmits_per_service(&mut self, limit: usize) {
        self.max_transmits = limit;
    }

    /// Bound on events processed at one virtual instant; beyond it [`SimError::Livelock`].
    pub fn set_max_events_per_instant(&mut self, limit: u64) {
        self.max_events_per_instant = limit;
    }

    /// Keep (default) or discard the devices' events (they are drained either way).
    pub fn set_record_events(&mut self, record: bool) {
        self.record_events = record;
    }

    /// Start an in-memory pcap of the underlay at `point` (discarding any previous one).
    pub fn enable_pcap(&mut self, point: CapturePoint) {
        self.pcap = Some(PcapWriter::new(point));
    }

    /// The pcap so far (a complete file), if enabled.
    pub fn pcap(&self) -> Option<&[u8]> {
        self.pcap.as_ref().map(|p| p.buf.as_slice())
    }

    /// Stop capturing and take the file.
    pub fn take_pcap(&mut self) -> Option<Vec<u8>> {
        self.pcap.take().map(|p| p.buf)
    }

    /// Call `hook` with every [`TraceRecord`] from now on (e.g. to print a timeline).
    pub fn set_trace(&mut self, hook: impl FnMut(&TraceRecord<'_, D>) + 'static) {
        self.trace = Some(Box::new(hook));
    }

    /// Remove the trace hook.
    pub fn clear_trace(&mut self) {
        self.trace = None;
    }

    // ---- building the network -----------------------------------------------------------

    /// Add a device owning `addr` on the internet. Its deadline is read (and served if due)
    /// at the next step.
    pub fn add_device(&mut self, addr: IpAddr, device: D) -> Result<DeviceId, SimError> {
        if self.internet.contains_key(&addr) {
            return Err(SimError::AddressInUse(addr));
        }
        let id = self.push_device(addr, None, device);
        self.internet.insert(addr, Attach::Device(id));
        Ok(id)
    }

    /// Add a device behind NAT box `nat` with the private address `inside`.
    pub fn add_device_behind_nat(
        &mut self,
        nat: NatId,
        inside: IpAddr,
        device: D,
    ) -> Result<DeviceId, SimError> {
        let n = self
            .nats
            .get(nat.index())
            .ok_or(SimError::UnknownNat(nat))?;
        if n.inside.contains_key(&inside) {
            return Err(SimError::AddressInUse(inside));
        }
        let id = self.push_device(inside, Some(nat), device);
        self.nats[nat.index()].inside.insert(inside, id);
        Ok(id)
    }

    fn push_device(&mut self, addr: IpAddr, nat: Option<NatId>, dev: D) -> DeviceId {
        let id = DeviceId(self.devices.len() as u32);
        self.devices.push(Slot {
            dev,
            addr,
            nat,
            up: true,
            link: None,
            deadline: None,
            stats: DeviceStats::default(),
            events: Vec::new(),
        });
        self.dirty.push(id);
        id
    }

    /// Add a NAT box owning `config.public` on the internet.
    pub fn add_nat(&mut self, config: NatConfig) -> Result<NatId, SimError> {
        if self.internet.contains_key(&config.public) {
            return Err(SimError::AddressInUse(config.public));
        }
        let id = NatId(self.nats.len() as u32);
        self.internet.insert(config.public, Attach::Nat(id));
        self.nats.push(Nat::new(config));
        Ok(id)
    }

    /// Add a plain host with address `addr` on `device`'s LAN.
    pub fn add_host(&mut self, device: DeviceId, addr: IpAddr) -> Result<HostId, SimError> {
        if self.lan.contains_key(&(device, addr)) {
            return Err(SimError::HostAddressInUse { device, addr });
        }
        let _ = &self.devices[device.index()];
        let id = HostId(self.hosts.len() as u32);
        self.hosts.push(Host::new(device, addr));
        self.lan.insert((device, addr), id);
        Ok(id)
    }

    // ---- changing the network -----------------------------------------------------------

    /// Take a device down (`false`: inputs to it are dropped as [`DropReason::DeviceDown`],
    /// its timers do not fire, its outputs are discarded) or bring it back up (its deadline is
    /// served at the next step if it passed meanwhile).
    pub fn set_up(&mut self, device: DeviceId, up: bool) {
        let slot = &mut self.devices[device.index()];
        slot.up = up;
        if up {
            self.dirty.push(device);
        } else {
            slot.deadline = None;
        }
    }

    /// Replace a device by a fresh one at the same address (a reboot); returns the old one.
    /// Counters and recorded events are kept.
    pub fn replace_device(&mut self, device: DeviceId, fresh: D) -> D {
        let slot = &mut self.devices[device.index()];
        slot.deadline = None;
        self.dirty.push(device);
        std::mem::replace(&mut slot.dev, fresh)
    }

    /// Move a device to a new underlay address (its NAT's inside address if it is behind
    /// one). Packets in flight to the old address are dropped as [`DropReason::NoRoute`].
    pub fn set_underlay_addr(&mut self, device: DeviceId, addr: IpAddr) -> Result<(), SimError> {
        let slot = &self.devices[device.index()];
        let old = slot.addr;
        match slot.nat {
            Some(n) => {
                let nat = &mut self.nats[n.index()];
                if nat.inside.contains_key(&addr) {
                    return Err(SimError::AddressInUse(addr));
                }
                nat.inside.remove(&old);
                nat.inside.insert(addr, device);
            }
            None => {
                if self.internet.contains_key(&addr) {
                    return Err(SimError::AddressInUse(addr));
                }
                self.internet.remove(&old);
                self.internet.insert(addr, Attach::Device(device));
            }
        }
        self.devices[device.index()].addr = addr;
        Ok(())
    }

    /// Forget every mapping of a NAT box (new traffic gets new public ports).
    pub fn nat_flush(&mut self, nat: NatId) -> Result<(), SimError> {
        self.nats
            .get_mut(nat.index())
            .ok_or(SimError::UnknownNat(nat))?
            .flush();
        Ok(())
    }

    /// Move a NAT box to a new public address and forget its mappings.
    pub fn nat_rebind(&mut self, nat: NatId, public: IpAddr) -> Result<(), SimError> {
        let old = self
            .nats
            .get(nat.index())
            .ok_or(SimError::UnknownNat(nat))?
            .config
            .public;
        if old != public {
            if self.internet.contains_key(&public) {
                return Err(SimError::AddressInUse(public));
            }
            self.internet.remove(&old);
            self.internet.insert(public, Attach::Nat(nat));
        }
        let n = &mut self.nats[nat.index()];
        n.config.public = public;
        n.flush();
        Ok(())
    }

    // ---- accessors ----------------------------------------------------------------------

    /// Virtual now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The instant the simulator started at.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.start)
    }

    /// Number of devices.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// All device ids, in creation order.
    pub fn device_ids(&self) -> impl Iterator<Item = DeviceId> + use<D> {
        (0..self.devices.len() as u32).map(DeviceId)
    }

    /// The device. Ids come from this simulator; a foreign id may panic.
    pub fn device(&self, device: DeviceId) -> &D {
        &self.devices[device.index()].dev
    }

    /// The device, mutably (e.g. to call a protocol verb with [`now`](Self::now)). Its
    /// outputs are drained and its deadline re-read at the next step; use
    /// [`with_device`](Self::with_device) to have that happen at once.
    pub fn device_mut(&mut self, device: DeviceId) -> &mut D {
        self.dirty.push(device);
        &mut self.devices[device.index()].dev
    }

    /// Run `f` on the device with the current time, then service it (drain its outputs,
    /// serve a due deadline, check the invariants).
    pub fn with_device<R>(
        &mut self,
        device: DeviceId,
        f: impl FnOnce(&mut D, Instant) -> R,
    ) -> Result<R, SimError> {
        let now = self.now;
        let r = f(&mut self.devices[device.index()].dev, now);
        self.service(device)?;
        Ok(r)
    }

    /// The device's underlay address (inside address if behind a NAT).
    pub fn underlay_addr(&self, device: DeviceId) -> IpAddr {
        self.devices[device.index()].addr
    }

    /// The address other devices see the device at: its own, or its NAT's public address.
    pub fn public_addr(&self, device: DeviceId) -> IpAddr {
        let slot = &self.devices[device.index()];
        match slot.nat {
            Some(n) => self.nats[n.index()].config.public,
            None => slot.addr,
        }
    }

    /// Whether the device is up.
    pub fn is_up(&self, device: DeviceId) -> bool {
        self.devices[device.index()].up
    }

    /// The device's counters.
    pub fn device_stats(&self, device: DeviceId) -> &DeviceStats {
        &self.devices[device.index()].stats
    }

    /// The events the device reported, with virtual time since the start.
    pub fn events(&self, device: DeviceId) -> &[(Duration, D::Event)] {
        &self.devices[device.index()].events
    }

    /// Take the recorded events of a device.
    pub fn take_events(&mut self, device: DeviceId) -> Vec<(Duration, D::Event)> {
        std::mem::take(&mut self.devices[device.index()].events)
    }

    /// Whether the device reported an event matching `f`.
    pub fn saw(&self, device: DeviceId, f: impl FnMut(&D::Event) -> bool) -> bool {
        let mut f = f;
        self.events(device).iter().any(|(_, e)| f(e))
    }

    /// A host.
    pub fn host(&self, host: HostId) -> &Host {
        &self.hosts[host.index()]
    }

    /// A host, mutably (e.g. to [`clear`](Host::clear) it).
    pub fn host_mut(&mut self, host: HostId) -> &mut Host {
        &mut self.hosts[host.index()]
    }

    /// A NAT box's counters.
    pub fn nat_stats(&self, nat: NatId) -> Option<&NatStats> {
        self.nats.get(nat.index()).map(|n| &n.stats)
    }

    /// A NAT box's current public address.
    pub fn nat_public(&self, nat: NatId) -> Option<IpAddr> {
        self.nats.get(nat.index()).map(|n| n.config.public)
    }

    /// Mappings a NAT box holds (idle ones not yet collected included).
    pub fn nat_mappings(&self, nat: NatId) -> Option<usize> {
        self.nats.get(nat.index()).map(Nat::mappings)
    }

    /// Global counters.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Packets in flight (underlay and LAN).
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    // ---- traffic from hosts -------------------------------------------------------------

    /// Make `host` send an ICMP (IPv4) or ICMPv6 (IPv6) echo request to `dst` with `id`, `seq`
    /// and a `payload_len`-byte payload (bytes 0, 1, 2...). The reply, if any, lands in
    /// [`Host::echo_replies`] with its RTT.
    pub fn ping(
        &mut self,
        host: HostId,
        dst: IpAddr,
        id: u16,
        seq: u16,
        payload_len: usize,
    ) -> Result<(), SimError> {
        let h = &self.hosts[host.index()];
        let src = h.addr;
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(SimError::AddressFamily { host, src, dst });
        }
        if payload_len > 65_000 {
            return Err(SimError::TooLarge(payload_len));
        }
        let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
        let packet = host::echo(src, dst, false, id, seq, &payload)
            .ok_or(SimError::TooLarge(payload_len))?;
        let device = h.device;
        let now = self.now;
        self.hosts[host.index()].pending.insert((id, seq), now);
        self.schedule(
            later(self.now, self.lan_delay),
            Delivery::ToDevice {
                device,
                host: Some(host),
                bytes: packet.into(),
            },
        )
    }

    /// Make `host` send an arbitrary IP packet into its device.
    pub fn send_from_host(&mut self, host: HostId, packet: Vec<u8>) -> Result<(), SimError> {
        let device = self.hosts[host.index()].device;
        self.schedule(
            later(self.now, self.lan_delay),
            Delivery::ToDevice {
                device,
                host: Some(host),
                bytes: packet.into(),
            },
        )
    }

    /// Hand an IP packet to `device` as if from its LAN, without a host.
    pub fn send_overlay(&mut self, device: DeviceId, packet: Vec<u8>) -> Result<(), SimError> {
        self.schedule(
            later(self.now, self.lan_delay),
            Delivery::ToDevice {
                device,
                host: None,
                bytes: packet.into(),
            },
        )
    }

    // ---- driving ------------------------------------------------------------------------

    /// Process the earliest event (a packet arrival or a device deadline), advancing the
    /// clock to it. Returns its time, or `None` when nothing is scheduled.
    pub fn step(&mut self) -> Result<Option<Instant>, SimError> {
        self.flush_dirty()?;
        let Some((at, is_packet)) = self.next_event() else {
            return Ok(None);
        };
        self.advance_to(at);
        self.events_this_instant += 1;
        if self.events_this_instant > self.max_events_per_instant {
            return Err(SimError::Livelock {
                now: self.elapsed(),
                limit: self.max_events_per_instant,
            });
        }
        self.stats.steps += 1;
        if is_packet {
            if let Some(s) = self.queue.pop() {
                self.deliver(s.what)?;
            }
        } else if let Some(Reverse((_, id))) = self.deadlines.pop() {
            self.service(id)?;
        }
        Ok(Some(self.now))
    }

    /// Run until `until(self)` holds or the deadline passes. The predicate is checked first,
    /// then after all events of each virtual instant. Returns the virtual time at which it
    /// held, or [`SimError::NotReached`] with the clock left at the deadline.
    pub fn run_until(
        &mut self,
        deadline: impl Deadline,
        mut until: impl FnMut(&Self) -> bool,
    ) -> Result<Instant, SimError> {
        let deadline = deadline.resolve(self.now);
        self.flush_dirty()?;
        loop {
            if until(self) {
                return Ok(self.now);
            }
            match self.next_event() {
                Some((t, _)) if t <= deadline => self.run_instant(t)?,
                _ => {
                    self.advance_to(deadline);
                    return if until(self) {
                        Ok(self.now)
                    } else {
                        Err(SimError::NotReached {
                            now: self.elapsed(),
                        })
                    };
                }
            }
        }
    }

    /// Run every event up to `now + duration`, then set the clock there.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimError> {
        let target = later(self.now, duration);
        self.flush_dirty()?;
        while let Some((t, _)) = self.next_event() {
            if t > target {
                break;
            }
            self.step()?;
        }
        self.advance_to(target);
        Ok(())
    }

    /// Move the clock forward (never back) to `t`.
    fn advance_to(&mut self, t: Instant) {
        if t > self.now {
            self.now = t;
            self.events_this_instant = 0;
        }
    }

    /// Process all events at `t` (including those they schedule at `t`).
    fn run_instant(&mut self, t: Instant) -> Result<(), SimError> {
        self.step()?;
        while let Some((next, _)) = self.next_event() {
            if next > t {
                break;
            }
            self.step()?;
        }
        Ok(())
    }

    // ---- internals ----------------------------------------------------------------------

    fn flush_dirty(&mut self) -> Result<(), SimError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let dirty = std::mem::take(&mut self.dirty);
        for id in &dirty {
            self.service(*id)?;
        }
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty; // keep the allocation
        }
        Ok(())
    }

    /// The earliest pending event: (time, is a packet). Drops stale deadline entries.
    fn next_event(&mut self) -> Option<(Instant, bool)> {
        while let Some(Reverse((t, id))) = self.deadlines.peek() {
            if self.devices[id.index()].deadline == Some(*t) {
                break;
            }
            self.deadlines.pop();
        }
        let packet = self.queue.peek().map(|s| s.at);
        let timer = self.deadlines.peek().map(|Reverse((t, _))| *t);
        match (packet, timer) {
            (Some(p), Some(d)) if d < p => Some((d, false)),
            (Some(p), _) => Some((p, true)),
            (None, Some(d)) => Some((d, false)),
            (None, None) => None,
        }
    }

    fn trace(&mut self, kind: TraceKind<'_, D>) {
        if let Some(hook) = self.trace.as_mut() {
            let at = self.now.saturating_duration_since(self.start);
            hook(&TraceRecord { at, kind });
        }
    }

    fn drop_packet(&mut self, reason: DropReason, device: Option<DeviceId>, len: usize) {
        self.stats.drops.add(reason);
        if let Some(d) = device {
            self.devices[d.index()].stats.drops.add(reason);
        }
        if self.trace.is_some() {
            self.trace(TraceKind::Dropped {
                reason,
                device,
                len,
            });
        }
    }

    fn schedule(&mut self, at: Instant, what: Delivery) -> Result<(), SimError> {
        if self.queue.len() >= self.max_in_flight {
            return Err(SimError::QueueFull {
                limit: self.max_in_flight,
            });
        }
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            what,
        });
        self.stats.max_in_flight = self.stats.max_in_flight.max(self.queue.len());
        Ok(())
    }

    /// Drain a device's outputs and events, serve a due deadline, check the no-spin
    /// invariant, refresh its entry in the deadline heap.
    fn service(&mut self, id: DeviceId) -> Result<(), SimError> {
        self.stats.device_services += 1;
        self.drain(id)?;
        let now = self.now;
        let slot = &mut self.devices[id.index()];
        if slot.up && slot.dev.poll_timeout().is_some_and(|t| t <= now) {
            slot.dev.handle_timeout(now);
            slot.stats.timeouts += 1;
            if self.trace.is_some() {
                self.trace(TraceKind::Timeout { device: id });
            }
            self.drain(id)?;
            if let Some(t) = self.devices[id.index()].dev.poll_timeout()
                && t <= now
            {
                return Err(SimError::TimerSpin {
                    device: id,
                    now: self.elapsed(),
                    deadline: t.saturating_duration_since(self.start),
                });
            }
        }
        let slot = &mut self.devices[id.index()];
        let next = if slot.up {
            slot.dev.poll_timeout()
        } else {
            None
        };
        if next != slot.deadline {
            slot.deadline = next;
            if let Some(t) = next {
                self.deadlines.push(Reverse((t, id)));
            }
        }
        // Stale entries accumulate when deadlines move; rebuild when they dominate.
        if self.deadlines.len() > 4 * self.devices.len() + 1024 {
            self.deadlines = self
                .devices
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.deadline.map(|t| Reverse((t, DeviceId(i as u32)))))
                .collect();
        }
        Ok(())
    }

    fn drain(&mut self, id: DeviceId) -> Result<(), SimError> {
        let mut n = 0usize;
        loop {
            let slot = &mut self.devices[id.index()];
            let Some(t) = slot.dev.poll_transmit() else {
                break;
            };
            n += 1;
            if n > self.max_transmits {
                return Err(SimError::TransmitStorm {
                    device: id,
                    limit: self.max_transmits,
                });
            }
            if !slot.up {
                let len = match &t {
                    Transmit::Underlay { bytes, .. } | Transmit::Overlay(bytes) => bytes.len(),
                };
                self.drop_packet(DropReason::DeviceDown, Some(id), len);
                continue;
            }
            match t {
                Transmit::Underlay {
                    to,
                    protocol,
                    bytes,
                } => self.send_underlay(id, to, protocol, bytes)?,
                Transmit::Overlay(bytes) => self.send_to_lan(id, bytes)?,
            }
        }
        let mut n = 0usize;
        loop {
            let slot = &mut self.devices[id.index()];
            let Some(event) = slot.dev.poll_event() else {
                break;
            };
            n += 1;
            if n > self.max_transmits {
                return Err(SimError::TransmitStorm {
                    device: id,
                    limit: self.max_transmits,
                });
            }
            slot.stats.events += 1;
            if let Some(hook) = self.trace.as_mut() {
                let at = self.now.saturating_duration_since(self.start);
                hook(&TraceRecord {
                    at,
                    kind: TraceKind::Event {
                        device: id,
                        event: &event,
                    },
                });
            }
            if self.record_events {
                let at = self.now.saturating_duration_since(self.start);
                self.devices[id.index()].events.push((at, event));
            }
        }
        Ok(())
    }

    /// The link of a path (see [`Link`] for the precedence).
    fn path_link(&self, from: DeviceId, src: Endpoint, dst: Endpoint, ip_protocol: u8) -> Link {
        if let Some(link) = self.devices[from.index()].link {
            return link;
        }
        let receiver = match self.internet.get(&dst.0) {
            Some(Attach::Device(id)) => Some(*id),
            Some(Attach::Nat(n)) => {
                let nat = &self.nats[n.index()];
                nat.peek_inbound(self.now, src, dst.1, ip_protocol)
                    .and_then(|inside| nat.inside.get(&inside.0).copied())
            }
            None => None,
        };
        receiver
            .and_then(|r| self.devices[r.index()].link)
            .unwrap_or(self.default_link)
    }

    fn link_delay(&mut self, link: &Link) -> Duration {
        let jitter = u64::try_from(link.jitter.as_nanos()).unwrap_or(u64::MAX);
        let mut delay = link
            .latency
            .saturating_add(Duration::from_nanos(self.rng.up_to(jitter)));
        if self.rng.chance(link.reorder) {
            self.stats.reordered += 1;
            delay = delay.saturating_add(link.reorder_delay);
        }
        delay
    }

    fn send_underlay(
        &mut self,
        id: DeviceId,
        to: IpAddr,
        protocol: UnderlayProtocol,
        bytes: PacketBuf,
    ) -> Result<(), SimError> {
        let now = self.now;
        let slot = &mut self.devices[id.index()];
        slot.stats.underlay_tx.add(protocol);
        let (src_port, dst_port) = match protocol {
            UnderlayProtocol::Udp {
                local_port,
                remote_port,
            } => (Some(local_port), Some(remote_port)),
            UnderlayProtocol::Gre | UnderlayProtocol::Esp => (None, None),
        };
        if slot.addr.is_ipv4() != to.is_ipv4() {
            self.drop_packet(DropReason::NoRoute, Some(id), bytes.len());
            return Ok(());
        }
        let inside = (slot.addr, src_port);
        let dst = (to, dst_port);
        let ip_protocol = protocol.ip_protocol();
        let src = match slot.nat {
            Some(n) => match self.nats[n.index()].outbound(now, inside, dst, ip_protocol) {
                Some(public) => public,
                None => {
                    self.drop_packet(DropReason::NatNoMapping, Some(id), bytes.len());
                    return Ok(());
                }
            },
            None => inside,
        };
        let link = self.path_link(id, src, dst, ip_protocol);
        let packet = Packet {
            src,
            dst,
            protocol,
            bytes,
            sender: id,
        };
        let outer = packet.outer();
        let size = outer.header_len() + packet.bytes.len();
        if size > link.mtu || size > usize::from(u16::MAX) {
            self.drop_packet(DropReason::Mtu, Some(id), packet.bytes.len());
            return Ok(());
        }
        self.stats.underlay_sent.add(protocol);
        if self.trace.is_some() {
            let protocol = match protocol {
                UnderlayProtocol::Udp { remote_port, .. } => UnderlayProtocol::Udp {
                    local_port: src.1.unwrap_or(0),
                    remote_port,
                },
                p => p,
            };
            self.trace(TraceKind::UnderlaySent {
                device: id,
                src: src.0,
                dst: to,
                protocol,
                len: packet.bytes.len(),
            });
        }
        if let Some(p) = self.pcap.as_mut()
            && p.point == CapturePoint::Send
        {
            p.record(
                now.saturating_duration_since(self.start),
                &outer,
                &packet.bytes,
            );
        }
        if self.rng.chance(link.loss) {
            self.drop_packet(DropReason::Loss, Some(id), packet.bytes.len());
            return Ok(());
        }
        let delay = self.link_delay(&link);
        if self.rng.chance(link.duplicate) {
            self.stats.duplicated += 1;
            let delay2 = self.link_delay(&link);
            let copy = Packet {
                bytes: packet.bytes.clone(),
                ..packet
            };
            self.schedule(later(now, delay2), Delivery::Underlay(copy))?;
        }
        self.schedule(later(now, delay), Delivery::Underlay(packet))
    }

    fn send_to_lan(&mut self, id: DeviceId, bytes: PacketBuf) -> Result<(), SimError> {
        self.devices[id.index()].stats.overlay_tx += 1;
        let Some(dst) = host::ip_destination(&bytes) else {
            self.drop_packet(DropReason::Malformed, Some(id), bytes.len());
            return Ok(());
        };
        let Some(&host) = self.lan.get(&(id, dst)) else {
            self.drop_packet(DropReason::NoHost, Some(id), bytes.len());
            return Ok(());
        };
        self.schedule(
            later(self.now, self.lan_delay),
            Delivery::ToHost {
                device: id,
                host,
                bytes,
            },
        )
    }

    fn deliver(&mut self, what: Delivery) -> Result<(), SimError> {
        match what {
            Delivery::Underlay(p) => self.arrive(p),
            Delivery::ToDevice {
                device,
                host,
                bytes,
            } => self.lan_to_device(device, host, bytes),
            Delivery::ToHost {
                device,
                host,
                bytes,
            } => self.lan_to_host(device, host, bytes),
        }
    }

    /// An underlay packet reaches its destination address.
    fn arrive(&mut self, p: Packet) -> Result<(), SimError> {
        let now = self.now;
        if let Some(w) = self.pcap.as_mut()
            && w.point == CapturePoint::Arrival
        {
            w.record(
                now.saturating_duration_since(self.start),
                &p.outer(),
                &p.bytes,
            );
        }
        let ip_protocol = p.protocol.ip_protocol();
        let (device, local_port) = match self.internet.get(&p.dst.0).copied() {
            None => {
                self.drop_packet(DropReason::NoRoute, Some(p.sender), p.bytes.len());
                return Ok(());
            }
            Some(Attach::Device(d)) => (d, p.dst.1),
            Some(Attach::Nat(n)) => {
                let nat = &mut self.nats[n.index()];
                let Some(inside) = nat.inbound(now, p.src, p.dst.1, ip_protocol) else {
                    self.drop_packet(DropReason::NatNoMapping, None, p.bytes.len());
                    return Ok(());
                };
                match nat.inside.get(&inside.0).copied() {
                    Some(d) => (d, inside.1),
                    None => {
                        self.drop_packet(DropReason::NoRoute, Some(p.sender), p.bytes.len());
                        return Ok(());
                    }
                }
            }
        };
        if !self.devices[device.index()].up {
            self.drop_packet(DropReason::DeviceDown, Some(device), p.bytes.len());
            return Ok(());
        }
        let protocol = match p.protocol {
            UnderlayProtocol::Udp { .. } => UnderlayProtocol::Udp {
                local_port: local_port.unwrap_or(0),
                remote_port: p.src.1.unwrap_or(0),
            },
            other => other,
        };
        self.stats.underlay_delivered.add(protocol);
        let from = p.src.0;
        let bytes = p.bytes;
        if self.trace.is_some() {
            self.trace(TraceKind::UnderlayDelivered {
                device,
                from,
                protocol,
                len: bytes.len(),
            });
        }
        let slot = &mut self.devices[device.index()];
        slot.stats.underlay_rx.add(protocol);
        let result = slot.dev.handle_buf(
            now,
            DatagramBuf::Underlay {
                from,
                protocol,
                bytes,
            },
        );
        if let Err(error) = result {
            self.device_error(device, &error);
        }
        self.service(device)
    }

    fn device_error(&mut self, device: DeviceId, error: &D::Error) {
        self.devices[device.index()].stats.errors += 1;
        if self.trace.is_some() {
            self.trace(TraceKind::Error { device, error });
        }
    }

    fn lan_to_device(
        &mut self,
        device: DeviceId,
        host: Option<HostId>,
        bytes: PacketBuf,
    ) -> Result<(), SimError> {
        if !self.devices[device.index()].up {
            self.drop_packet(DropReason::DeviceDown, Some(device), bytes.len());
            return Ok(());
        }
        if self.trace.is_some() {
            self.trace(TraceKind::OverlayFromHost {
                device,
                host,
                len: bytes.len(),
            });
        }
        let now = self.now;
        let slot = &mut self.devices[device.index()];
        slot.stats.overlay_rx += 1;
        let result = slot.dev.handle_buf(now, DatagramBuf::Overlay(bytes));
        if let Err(error) = result {
            self.device_error(device, &error);
        }
        self.service(device)
    }

    fn lan_to_host(
        &mut self,
        device: DeviceId,
        host: HostId,
        bytes: PacketBuf,
    ) -> Result<(), SimError> {
        if self.trace.is_some() {
            self.trace(TraceKind::OverlayToHost {
                device,
                host,
                len: bytes.len(),
            });
        }
        let now = self.now;
        let at = self.elapsed();
        let h = &mut self.hosts[host.index()];
        let mut reply = None;
        match host::parse(&bytes) {
            host::Parsed::EchoRequest {
                from,
                id,
                seq,
                payload,
            } => {
                reply = host::echo(h.addr, from, true, id, seq, payload);
                h.echo_requests_answered += u64::from(reply.is_some());
            }
            host::Parsed::EchoReply {
                from,
                id,
                seq,
                payload_len,
            } => {
                let rtt = h
                    .pending
                    .remove(&(id, seq))
                    .map(|sent| now.saturating_duration_since(sent));
                h.replies.push(EchoReply {
                    at,
                    from,
                    id,
                    seq,
                    payload_len,
                    rtt,
                });
            }
            host::Parsed::Other => {}
        }
        h.received.push(Received {
            at,
            bytes: bytes.into_vec(),
        });
        match reply {
            Some(packet) => self.schedule(
                later(now, self.lan_delay),
                Delivery::ToDevice {
                    device,
                    host: Some(host),
                    bytes: packet.into(),
                },
            ),
            None => Ok(()),
        }
    }
}
