//! `SaTable`: the SAs of one node, SPI demultiplexing, lifetimes and events, following the
//! machine contract of DESIGN.md §2 (`handle_timeout`, `poll_event`, `poll_timeout`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::ops::Range;
use std::time::Instant;

use serde::Serialize;

use crate::crypto::CryptoProvider;
use crate::error::{ApiError, OpenError, SealError};
use crate::params::{Direction, EsnResync, SaParams, Spi};
use crate::sa::{InboundSa, LimitKind, Opened, OutboundSa, SaStats};
use crate::wire::EspHeader;
use crate::wire::udp::{UdpPayload, classify};

/// A `Copy` handle to an SA in a [`SaTable`]. Stale handles (SA removed) are detected by a
/// generation counter and never alias a newer SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SaId {
    index: u32,
    generation: u32,
}

/// Lifetime events of the table (RFC 4301 §4.4.2.1, RFC 4303 §3.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A soft limit was reached: start a rekey. The SA keeps working.
    SoftExpired {
        /// The SA.
        sa: SaId,
        /// Its SPI.
        spi: Spi,
        /// Its direction.
        direction: Direction,
        /// Which limit.
        limit: LimitKind,
    },
    /// A hard limit was reached: the SA has been removed from the table (keys zeroized).
    HardExpired {
        /// The former SA.
        sa: SaId,
        /// Its SPI.
        spi: Spi,
        /// Its direction.
        direction: Direction,
        /// Which limit ([`LimitKind::Sequence`] after sequence exhaustion).
        limit: LimitKind,
    },
    /// The outbound SA used its last sequence number (RFC 4303 §3.3.3): rekey now; it is
    /// removed right after (a `HardExpired` with [`LimitKind::Sequence`] follows).
    SequenceExhausted {
        /// The SA.
        sa: SaId,
        /// Its SPI.
        spi: Spi,
    },
    /// An inbound ESN SA re-synchronised its high-order sequence bits after a loss of 2^32 or
    /// more consecutive packets (RFC 4303 Appendix A3): an authenticated packet was accepted
    /// under a higher Seqh than inferred. Informational (worth logging: such a loss is rare).
    EsnResynchronized {
        /// The SA.
        sa: SaId,
        /// Its SPI.
        spi: Spi,
        /// The adopted 64-bit sequence number (the new top of the anti-replay window).
        seq: u64,
    },
}

/// Table-wide counters (per-SA counters are in [`SaStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TableStats {
    /// Inbound packets with no matching SPI.
    pub unknown_spi: u64,
    /// Inbound packets too short to carry an SPI.
    pub malformed: u64,
    /// NAT-keepalives seen on UDP 4500.
    pub keepalives: u64,
    /// IKE messages demultiplexed from UDP 4500.
    pub ike: u64,
}

/// What [`SaTable::open_udp`] found in a UDP/4500 payload (RFC 3948).
#[derive(Debug)]
pub enum UdpOpened<'b> {
    /// An ESP packet, opened.
    Esp(SaId, Opened<'b>),
    /// An IKE message (non-ESP marker removed): hand it to `ikev2`.
    Ike(&'b mut [u8]),
    /// A NAT-keepalive: nothing to do.
    Keepalive,
}

#[derive(Debug)]
enum Sa {
    In(InboundSa),
    Out(OutboundSa),
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    sa: Option<Sa>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    at: Instant,
    id: SaId,
    hard: bool,
}

/// The SAs of one node.
///
/// # Run loop
/// After `insert_*`, `seal`, `open*` or `handle_timeout`, drain [`poll_event`](Self::poll_event)
/// until `None`; sleep until [`poll_timeout`](Self::poll_timeout) and then call
/// [`handle_timeout`](Self::handle_timeout). The table has no `poll_transmit`: the data path
/// returns its output in place.
#[derive(Debug, Default)]
pub struct SaTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_spi: HashMap<u32, SaId>,
    timers: BinaryHeap<Reverse<Timer>>,
    events: VecDeque<Event>,
    stats: TableStats,
    esn_resync: EsnResync,
}

impl SaTable {
    /// Creates an empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs an SA of either direction (as given by `params.direction`).
    pub fn insert(
        &mut self,
        now: Instant,
        params: &SaParams,
        crypto: &CryptoProvider,
    ) -> Result<SaId, ApiError> {
        let sa = match params.direction {
            Direction::Inbound => {
                if self.by_spi.contains_key(&params.spi.0) {
                    return Err(ApiError::DuplicateSpi(params.spi));
                }
                let mut sa = InboundSa::new(now, params, crypto)?;
                sa.set_esn_resync(self.esn_resync)?;
                Sa::In(sa)
            }
            Direction::Outbound => Sa::Out(OutboundSa::new(now, params, crypto)?),
        };
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    sa: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.sa = Some(sa);
        let id = SaId {
            index,
            generation: slot.generation,
        };
        if params.direction == Direction::Inbound {
            self.by_spi.insert(params.spi.0, id);
        }
        let l = &params.lifetimes;
        if let Some(t) = l.soft.time {
            self.timers.push(Reverse(Timer {
                at: now + t,
                id,
                hard: false,
            }));
        }
        if let Some(t) = l.hard.time {
            self.timers.push(Reverse(Timer {
                at: now + t,
                id,
                hard: true,
            }));
        }
        Ok(id)
    }

    /// Sets the RFC 4303 Appendix A3 re-synchronisation parameters of every inbound SA, present
    /// and future (default [`EsnResync::default`]; A3.1 allows one value for all SAs). Use
    /// [`inbound_mut`](Self::inbound_mut) and [`InboundSa::set_esn_resync`] for one SA.
    pub fn set_esn_resync(&mut self, resync: EsnResync) -> Result<(), ApiError> {
        resync.validate()?;
        self.esn_resync = resync;
        for slot in &mut self.slots {
            if let Some(Sa::In(sa)) = &mut slot.sa {
                sa.set_esn_resync(resync)?;
            }
        }
        Ok(())
    }

    /// Returns the table-wide re-synchronisation parameters.
    pub fn esn_resync(&self) -> EsnResync {
        self.esn_resync
    }

    /// Installs an inbound SA (`params.direction` must be `Inbound`).
    pub fn insert_inbound(
        &mut self,
        now: Instant,
        params: &SaParams,
        crypto: &CryptoProvider,
    ) -> Result<SaId, ApiError> {
        if params.direction != Direction::Inbound {
            return Err(ApiError::InvalidParams("direction is not inbound"));
        }
        self.insert(now, params, crypto)
    }

    /// Installs an outbound SA (`params.direction` must be `Outbound`).
    pub fn insert_outbound(
        &mut self,
        now: Instant,
        params: &SaParams,
        crypto: &CryptoProvider,
    ) -> Result<SaId, ApiError> {
        if params.direction != Direction::Outbound {
            return Err(ApiError::InvalidParams("direction is not outbound"));
        }
        self.insert(now, params, crypto)
    }

    fn slot(&self, id: SaId) -> Option<&Sa> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.sa.as_ref())
    }

    fn slot_mut(&mut self, id: SaId) -> Option<&mut Sa> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.sa.as_mut())
    }

    /// Removes an SA (keys are zeroized). Returns whether it existed.
    pub fn remove(&mut self, id: SaId) -> bool {
        let Some(slot) = self
            .slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)
        else {
            return false;
        };
        match slot.sa.take() {
            Some(Sa::In(sa)) => {
                self.by_spi.remove(&sa.spi().0);
                self.free.push(id.index);
                true
            }
            Some(Sa::Out(_)) => {
                self.free.push(id.index);
                true
            }
            None => false,
        }
    }

    /// Returns the number of live SAs.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.sa.is_some()).count()
    }

    /// Returns whether the table holds no SA.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the inbound SA with this SPI.
    pub fn lookup(&self, spi: Spi) -> Option<SaId> {
        self.by_spi.get(&spi.0).copied()
    }

    /// Returns an outbound SA, e.g. for `header_len` / `max_trailer_len`.
    pub fn outbound(&self, id: SaId) -> Option<&OutboundSa> {
        match self.slot(id) {
            Some(Sa::Out(sa)) => Some(sa),
            _ => None,
        }
    }

    /// Returns an outbound SA mutably.
    pub fn outbound_mut(&mut self, id: SaId) -> Option<&mut OutboundSa> {
        match self.slot_mut(id) {
            Some(Sa::Out(sa)) => Some(sa),
            _ => None,
        }
    }

    /// Returns an inbound SA.
    pub fn inbound(&self, id: SaId) -> Option<&InboundSa> {
        match self.slot(id) {
            Some(Sa::In(sa)) => Some(sa),
            _ => None,
        }
    }

    /// Returns an inbound SA mutably (e.g. for [`InboundSa::set_esn_resync`]).
    pub fn inbound_mut(&mut self, id: SaId) -> Option<&mut InboundSa> {
        match self.slot_mut(id) {
            Some(Sa::In(sa)) => Some(sa),
            _ => None,
        }
    }

    /// Returns the counters of an SA.
    pub fn stats(&self, id: SaId) -> Option<SaStats> {
        match self.slot(id)? {
            Sa::In(sa) => Some(sa.stats()),
            Sa::Out(sa) => Some(sa.stats()),
        }
    }

    /// Returns the table-wide counters.
    pub fn table_stats(&self) -> TableStats {
        self.stats
    }

    /// Seals with the outbound SA `id`; see [`OutboundSa::seal`] for the buffer contract.
    /// May queue events (soft/hard expiry, sequence exhaustion).
    pub fn seal(
        &mut self,
        now: Instant,
        id: SaId,
        next_header: u8,
        buf: &mut [u8],
        payload: Range<usize>,
    ) -> Result<Range<usize>, SealError> {
        let Some(Sa::Out(sa)) = self.slot_mut(id) else {
            return Err(SealError::UnknownSa);
        };
        let r = sa.seal(now, next_header, buf, payload);
        self.collect(id);
        r
    }

    /// Opens an ESP packet (starting at the SPI): SPI lookup (RFC 4303 §3.4.2), then
    /// [`InboundSa::open`]. May queue events.
    pub fn open<'b>(
        &mut self,
        now: Instant,
        packet: &'b mut [u8],
    ) -> Result<(SaId, Opened<'b>), OpenError> {
        let h = match EspHeader::parse(packet) {
            Ok(h) => h,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(e.into());
            }
        };
        let Some(&id) = self.by_spi.get(&h.spi) else {
            self.stats.unknown_spi += 1;
            return Err(OpenError::UnknownSpi(h.spi));
        };
        let Some(Sa::In(sa)) = self.slot_mut(id) else {
            self.stats.unknown_spi += 1;
            return Err(OpenError::UnknownSpi(h.spi));
        };
        let r = sa.open(now, packet);
        let r = r.map(|o| (id, o));
        // `collect` needs `&mut self` while `r` borrows only `packet`.
        self.collect(id);
        r
    }

    /// Demultiplexes and opens the payload of a UDP datagram received on port 4500 (RFC 3948
    /// §2): keepalives are reported, IKE messages are returned without the non-ESP marker, ESP
    /// packets are opened like [`open`](Self::open).
    pub fn open_udp<'b>(
        &mut self,
        now: Instant,
        udp_payload: &'b mut [u8],
    ) -> Result<UdpOpened<'b>, OpenError> {
        match classify(udp_payload) {
            Ok(UdpPayload::Keepalive) => {
                self.stats.keepalives += 1;
                Ok(UdpOpened::Keepalive)
            }
            Ok(UdpPayload::Ike { offset }) => {
                self.stats.ike += 1;
                Ok(UdpOpened::Ike(&mut udp_payload[offset..]))
            }
            Ok(UdpPayload::Esp) => {
                let (id, o) = self.open(now, udp_payload)?;
                Ok(UdpOpened::Esp(id, o))
            }
            Err(e) => {
                self.stats.malformed += 1;
                Err(e.into())
            }
        }
    }

    /// Moves the data-path lifetime events of SA `id` into the queue; removes it on hard
    /// expiry.
    fn collect(&mut self, id: SaId) {
        if let Some(Sa::In(sa)) = self.slot_mut(id)
            && let Some(seq) = sa.resynced_pending.take()
        {
            let spi = sa.spi();
            self.events
                .push_back(Event::EsnResynchronized { sa: id, spi, seq });
        }
        let (life, spi, direction, exhausted) = match self.slot_mut(id) {
            Some(Sa::In(sa)) => {
                let spi = sa.spi();
                (&mut sa.life, spi, Direction::Inbound, false)
            }
            Some(Sa::Out(sa)) => {
                let e = std::mem::take(&mut sa.exhausted_pending);
                let spi = sa.spi();
                (&mut sa.life, spi, Direction::Outbound, e)
            }
            None => return,
        };
        let soft = life.pending_soft.take();
        let hard = life.pending_hard.take();
        if let Some(limit) = soft {
            self.events.push_back(Event::SoftExpired {
                sa: id,
                spi,
                direction,
                limit,
            });
        }
        if exhausted {
            self.events
                .push_back(Event::SequenceExhausted { sa: id, spi });
        }
        if let Some(limit) = hard {
            self.remove(id);
            self.events.push_back(Event::HardExpired {
                sa: id,
                spi,
                direction,
                limit,
            });
        }
    }

    /// Fires due time lifetimes. Idempotent; an early call is a no-op. Afterwards
    /// `poll_timeout() > now` (or `None`).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse(t)) = self.timers.peek().copied() {
            if t.at > now {
                break;
            }
            self.timers.pop();
            // Lazy cancellation: timers of removed SAs are skipped here.
            let life = match self.slot_mut(t.id) {
                Some(Sa::In(sa)) => &mut sa.life,
                Some(Sa::Out(sa)) => &mut sa.life,
                None => continue,
            };
            if t.hard {
                life.fire_hard(LimitKind::Time);
            } else if !life.soft_fired {
                life.soft_fired = true;
                life.pending_soft = Some(LimitKind::Time);
            }
            self.collect(t.id);
        }
    }

    /// Returns the next queued event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Returns when [`handle_timeout`](Self::handle_timeout) must next be called. O(1); may
    /// return the deadline of an already removed SA (lazy cancellation), which is harmless.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse(t)| t.at)
    }
}
