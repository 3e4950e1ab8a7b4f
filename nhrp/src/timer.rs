//! One min-heap timer queue per node, with lazy cancellation (DESIGN.md §2).
//!
//! Time inside the node is a millisecond tick counted from the node's creation
//! ([`Clock`]); deadlines are rounded so a timer never fires before its `Instant`.
//!
//! Every timed object (an NHS slot, a registration, a cache entry, a pending request) owns
//! exactly one [`Timer`]: the deadline it wants (`due`) and the earliest deadline it has in
//! the heap (`queued`). Moving a deadline later pushes nothing (the queued entry is re-armed
//! when it pops), moving it earlier pushes one entry, and cancelling only clears `due`: heap
//! entries whose owner is gone or no longer wants them are skipped when they reach the top.
//! So a hub refreshing 100 000 registrations keeps one heap entry per registration and
//! `peek` is O(1).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::arena::EntryId;

/// "No deadline" in tick arithmetic.
pub(crate) const NEVER: u64 = u64::MAX;

/// Converts between `Instant` and the node's millisecond ticks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn new(epoch: Instant) -> Self {
        Self { epoch }
    }

    /// The tick containing `now` (rounded down; instants before the epoch are tick 0).
    pub(crate) fn tick(&self, now: Instant) -> u64 {
        let ms = now.saturating_duration_since(self.epoch).as_millis();
        u64::try_from(ms).unwrap_or(NEVER - 1)
    }

    /// The first tick at or after `now + d` (at least one tick after `now`).
    pub(crate) fn deadline(&self, now: Instant, d: Duration) -> u64 {
        self.tick(now).saturating_add(ceil_ms(d).max(1))
    }

    /// The instant a tick starts.
    pub(crate) fn instant(&self, tick: u64) -> Instant {
        self.epoch + Duration::from_millis(tick)
    }
}

/// Milliseconds in `d`, rounded up and saturated.
pub(crate) fn ceil_ms(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(NEVER - 1)
}

/// Which table a timer key points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// NHC: one configured NHS (registration retransmit / refresh).
    Nhs = 1,
    /// NHS: expiry of a registration.
    Registration = 2,
    /// NHC: expiry or refresh of a resolution cache entry.
    Cache = 3,
    /// NHC: retransmission of a pending resolution request.
    Pending = 4,
}

/// An arena entry that owns one [`Timer`] (NHS slot, registration, cache entry, pending
/// request), so timer dispatch and compaction treat the four kinds alike.
pub(crate) trait HasTimer {
    /// The entry's timer.
    fn timer(&self) -> &Timer;
    /// The entry's timer, mutably.
    fn timer_mut(&mut self) -> &mut Timer;
}

/// Implements [`HasTimer`] for entry types with a `timer: Timer` field.
macro_rules! has_timer {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::timer::HasTimer for $t {
            fn timer(&self) -> &$crate::timer::Timer {
                &self.timer
            }
            fn timer_mut(&mut self) -> &mut $crate::timer::Timer {
                &mut self.timer
            }
        }
    )*};
}
pub(crate) use has_timer;

/// A timer key: kind, generation and index packed in 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key(u64);

impl Key {
    pub(crate) fn new(kind: Kind, id: EntryId) -> Self {
        Key(((kind as u64) << 56)
            | (u64::from(id.generation & 0x00ff_ffff) << 32)
            | u64::from(id.index))
    }

    pub(crate) fn kind(self) -> Option<Kind> {
        match self.0 >> 56 {
            1 => Some(Kind::Nhs),
            2 => Some(Kind::Registration),
            3 => Some(Kind::Cache),
            4 => Some(Kind::Pending),
            _ => None,
        }
    }

    pub(crate) fn id(self) -> EntryId {
        EntryId {
            index: self.0 as u32,
            generation: ((self.0 >> 32) as u32) & 0x00ff_ffff,
        }
    }
}

/// The per-object timer state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timer {
    /// The tick the owner wants to be woken at (`NEVER` = disarmed).
    pub(crate) due: u64,
    /// The earliest tick this owner has in the heap (`NEVER` = none).
    pub(crate) queued: u64,
}

impl Default for Timer {
    fn default() -> Self {
        Self {
            due: NEVER,
            queued: NEVER,
        }
    }
}

impl Timer {
    #[cfg(test)]
    pub(crate) fn is_armed(&self) -> bool {
        self.due != NEVER
    }
}

/// The node's heap of `(tick, key)`.
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<(u64, Key)>>,
}

impl TimerQueue {
    /// Arms `timer` (owned by `key`) for `at`.
    pub(crate) fn schedule(&mut self, timer: &mut Timer, key: Key, at: u64) {
        timer.due = at;
        if at < timer.queued {
            self.heap.push(Reverse((at, key)));
            timer.queued = at;
        }
    }

    /// Disarms `timer`; its heap entry is dropped lazily.
    pub(crate) fn cancel(timer: &mut Timer) {
        timer.due = NEVER;
    }

    /// The earliest queued tick (possibly of a cancelled timer: an early wake-up is harmless).
    pub(crate) fn peek(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Pops the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<(u64, Key)> {
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Called with the owner's timer when `(at, key)` popped. Returns true if the owner must
    /// fire now; otherwise re-arms the heap for a later `due` if needed.
    pub(crate) fn on_pop(&mut self, timer: &mut Timer, key: Key, at: u64, now: u64) -> bool {
        if timer.queued != at {
            return false; // an earlier entry superseded this one
        }
        timer.queued = NEVER;
        if timer.due == NEVER {
            return false;
        }
        if timer.due <= now {
            timer.due = NEVER;
            return true;
        }
        let due = timer.due;
        self.schedule(timer, key, due);
        false
    }

    /// Drops the entries `live` rejects (stale ones), in O(n).
    pub(crate) fn retain(&mut self, mut live: impl FnMut(u64, Key) -> bool) {
        self.heap.retain(|Reverse((t, k))| live(*t, *k));
    }

    /// Number of heap entries (live or stale).
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u32) -> EntryId {
        EntryId {
            index: i,
            generation: 7,
        }
    }

    #[test]
    fn key_packs_and_unpacks() {
        let k = Key::new(Kind::Cache, id(123_456));
        assert_eq!(k.kind(), Some(Kind::Cache));
        assert_eq!(k.id(), id(123_456));
    }

    #[test]
    fn later_deadline_keeps_one_entry_and_rearms() {
        let mut q = TimerQueue::default();
        let mut t = Timer::default();
        let k = Key::new(Kind::Registration, id(1));
        q.schedule(&mut t, k, 100);
        q.schedule(&mut t, k, 300); // refresh: no new entry
        assert_eq!(q.len(), 1);
        let (at, key) = q.pop_due(100).unwrap();
        assert!(!q.on_pop(&mut t, key, at, 100));
        assert_eq!(q.peek(), Some(300));
        let (at, key) = q.pop_due(300).unwrap();
        assert!(q.on_pop(&mut t, key, at, 300));
        assert!(!t.is_armed());
    }

    #[test]
    fn earlier_deadline_supersedes_and_cancel_is_lazy() {
        let mut q = TimerQueue::default();
        let mut t = Timer::default();
        let k = Key::new(Kind::Pending, id(2));
        q.schedule(&mut t, k, 100);
        q.schedule(&mut t, k, 50);
        assert_eq!(q.peek(), Some(50));
        let (at, key) = q.pop_due(60).unwrap();
        assert!(q.on_pop(&mut t, key, at, 60));
        let (at, key) = q.pop_due(100).unwrap();
        assert!(!q.on_pop(&mut t, key, at, 100), "stale entry must not fire");
        q.schedule(&mut t, k, 200);
        TimerQueue::cancel(&mut t);
        let (at, key) = q.pop_due(200).unwrap();
        assert!(!q.on_pop(&mut t, key, at, 200));
        assert_eq!(q.peek(), None);
    }

    #[test]
    fn clock_rounds_deadlines_up() {
        let epoch = Instant::now();
        let c = Clock::new(epoch);
        let now = epoch + Duration::from_micros(1500);
        assert_eq!(c.tick(now), 1);
        let d = c.deadline(now, Duration::from_micros(100));
        assert!(c.instant(d) > now);
        assert_eq!(c.tick(epoch - Duration::from_secs(1)), 0);
    }
}
