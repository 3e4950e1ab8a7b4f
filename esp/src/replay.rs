//! Anti-replay window (RFC 4303 §3.4.3) as an RFC 6479 ring of 64-bit words, with
//! extended-sequence-number inference (RFC 4303 Appendix A). The re-synchronisation of
//! Appendix A3 (retrying higher high-order bits after consecutive ICV failures) lives in
//! [`InboundSa`](crate::InboundSa), configured by [`EsnResync`](crate::EsnResync).
//!
//! The window is checked *before* the ICV (cheap rejection) and updated only *after* the ICV
//! verified, so forged packets never move it.

/// Why the window rejected a sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// Already received.
    Replay,
    /// Left of the window (or sequence number 0, which is never sent).
    TooOld,
}

/// A sliding anti-replay window of `size` packets.
///
/// Memory: the next power of two ≥ `size / 64 + 1` words of 8 bytes, allocated once when the SA
/// is installed. Check and update are O(1) amortised (RFC 6479: a jump ahead clears at most the
/// whole ring once).
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    size: u64,
    top: u64,
    bitmap: Box<[u64]>,
}

impl ReplayWindow {
    /// Creates a window of `size` packets (≥ 1). Nothing has been received yet.
    pub fn new(size: u32) -> Self {
        let size = u64::from(size.max(1));
        let words = (size.div_ceil(64) + 1).next_power_of_two() as usize;
        Self {
            size,
            top: 0,
            bitmap: vec![0u64; words].into_boxed_slice(),
        }
    }

    /// Returns the window size in packets.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Returns the highest sequence number received and authenticated so far (0: none).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Bit index of `seq` in the ring; the ring size is a power of two, so this is a mask.
    fn bit(&self, seq: u64) -> (usize, u64) {
        let bit = seq & (self.bitmap.len() as u64 * 64 - 1);
        ((bit >> 6) as usize, 1u64 << (bit & 63))
    }

    /// RFC 4303 §3.4.3 pre-check; does not change the window.
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::TooOld);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size {
            return Err(ReplayError::TooOld);
        }
        let (word, mask) = self.bit(seq);
        match self.bitmap.get(word) {
            Some(w) if w & mask != 0 => Err(ReplayError::Replay),
            _ => Ok(()),
        }
    }

    /// Marks `seq` as received. Call only after `check(seq)` passed and the ICV verified.
    pub fn update(&mut self, seq: u64) {
        let words = self.bitmap.len() as u64;
        if seq > self.top {
            let old_block = self.top >> 6;
            let new_block = seq >> 6;
            let clear = (new_block - old_block).min(words);
            for i in 1..=clear {
                let idx = ((old_block + i) & (words - 1)) as usize;
                if let Some(w) = self.bitmap.get_mut(idx) {
                    *w = 0;
                }
            }
            self.top = seq;
        }
        let (word, mask) = self.bit(seq);
        if let Some(w) = self.bitmap.get_mut(word) {
            *w |= mask;
        }
    }

    /// Infers the full 64-bit sequence number from its low-order 32 bits (RFC 4303 Appendix
    /// A2.2). Returns `None` when the number would lie before 0 or past 2^64 - 1.
    ///
    /// The result is exact for every true sequence number in
    /// `[top - size + 1, top - size + 1 + 2^32)`.
    pub fn infer_esn(&self, seq_lo: u32) -> Option<u64> {
        let w = self.size;
        let tl = self.top & 0xffff_ffff;
        let th = self.top >> 32;
        let sl = u64::from(seq_lo);
        let hi = if tl >= w - 1 {
            // Case A: the window lies within one sequence-number subspace.
            if sl >= tl - (w - 1) {
                th
            } else {
                th.checked_add(1)?
            }
        } else {
            // Case B: the window spans two subspaces.
            if sl >= tl + (1u64 << 32) - (w - 1) {
                th.checked_sub(1)?
            } else {
                th
            }
        };
        if hi > u64::from(u32::MAX) {
            return None;
        }
        Some((hi << 32) | sl)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// The obvious model: a set of everything received and the highest value.
    struct Model {
        size: u64,
        top: u64,
        seen: BTreeSet<u64>,
    }

    impl Model {
        fn check(&self, seq: u64) -> Result<(), ReplayError> {
            if seq == 0 || (seq <= self.top && self.top - seq >= self.size) {
                Err(ReplayError::TooOld)
            } else if self.seen.contains(&seq) {
                Err(ReplayError::Replay)
            } else {
                Ok(())
            }
        }
        fn update(&mut self, seq: u64) {
            self.top = self.top.max(seq);
            self.seen.insert(seq);
        }
    }

    #[test]
    fn basics() {
        let mut w = ReplayWindow::new(64);
        assert_eq!(w.check(0), Err(ReplayError::TooOld));
        assert_eq!(w.check(1), Ok(()));
        w.update(1);
        assert_eq!(w.check(1), Err(ReplayError::Replay));
        w.update(100);
        assert_eq!(w.check(36), Err(ReplayError::TooOld));
        assert_eq!(w.check(37), Ok(()));
        w.update(37);
        assert_eq!(w.check(37), Err(ReplayError::Replay));
        w.update(100_000);
        assert_eq!(w.check(99_937), Ok(()));
        assert_eq!(w.check(99_936), Err(ReplayError::TooOld));
        assert_eq!(w.check(100_000), Err(ReplayError::Replay));
    }

    #[test]
    fn esn_inference_rfc4303_appendix_a() {
        let mut w = ReplayWindow::new(64);
        // Case B at the very start: low numbers are in subspace 0.
        assert_eq!(w.infer_esn(5), Some(5));
        assert_eq!(w.infer_esn(u32::MAX), None);
        // Just below the 2^32 boundary: case A.
        w.update((1 << 32) - 10);
        assert_eq!(w.infer_esn(u32::MAX - 20), Some((1 << 32) - 21));
        assert_eq!(w.infer_esn(3), Some((1 << 32) + 3));
        // Just after the boundary: case B, numbers before the boundary belong to subspace 0.
        w.update((1 << 32) + 2);
        assert_eq!(w.infer_esn(u32::MAX - 5), Some((1 << 32) - 6));
        assert_eq!(w.infer_esn(7), Some((1 << 32) + 7));
    }

    #[derive(Debug, Clone)]
    enum Step {
        Fresh(u16),
        Old(u16),
        Jump(u32),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1u16..200).prop_map(Step::Fresh),
            (0u16..3000).prop_map(Step::Old),
            (1u32..100_000).prop_map(Step::Jump),
        ]
    }

    proptest! {
        #[test]
        fn window_matches_model(
            size in prop_oneof![Just(32u32), Just(64), Just(100), Just(1024), Just(4096), 1u32..300],
            start in prop_oneof![Just(0u64), Just((1u64 << 32) - 500), any::<u32>().prop_map(u64::from)],
            steps in proptest::collection::vec(step(), 1..300),
        ) {
            let mut w = ReplayWindow::new(size);
            let mut m = Model { size: u64::from(size), top: 0, seen: BTreeSet::new() };
            if start > 0 {
                w.update(start);
                m.update(start);
            }
            for s in steps {
                let seq = match s {
                    Step::Fresh(d) => m.top + u64::from(d),
                    Step::Old(d) => m.top.saturating_sub(u64::from(d)),
                    Step::Jump(d) => m.top + u64::from(d),
                };
                prop_assert_eq!(w.check(seq), m.check(seq), "seq {}", seq);
                if w.check(seq).is_ok() {
                    w.update(seq);
                    m.update(seq);
                }
            }
        }

        #[test]
        fn esn_inference_is_exact_in_range(
            size in prop_oneof![Just(32u32), Just(64), Just(1024), Just(4096), 1u32..5000],
            top in prop_oneof![
                (1u64..10_000),
                ((1u64 << 32) - 5000..(1u64 << 32) + 5000),
                ((5u64 << 32) - 5000..(5u64 << 32) + 5000),
                (1u64..(1u64 << 40)),
            ],
            off in 0u64..(1u64 << 32),
        ) {
            let mut w = ReplayWindow::new(size);
            w.update(top);
            let base = i128::from(top) - i128::from(size) + 1;
            let seq = base.max(1) as u64 + off;
            prop_assume!(i128::from(seq) < base + (1i128 << 32));
            prop_assert_eq!(w.infer_esn(seq as u32), Some(seq));
        }
    }
}
