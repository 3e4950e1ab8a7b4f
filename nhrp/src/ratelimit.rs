//! Fixed-size rate limiters (Cisco `ip nhrp max-send`-style damping); each allocates its table
//! once, on first use, so a role that never uses one (a spoke's redirect limiter) costs nothing.
//!
//! A table of `slots` entries indexed by a hash of the key; each remembers the last key and
//! when it was let through. A key colliding with another in the same slot may be let through
//! early (never suppressed wrongly for long), which bounds memory regardless of input.

use std::net::IpAddr;

use crate::timer::NEVER;

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: u64,
    last: u64,
}

/// One limiter: at most one pass per key per `interval` ticks.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Empty until the first `allow`, then `capacity` slots.
    slots: Vec<Slot>,
    capacity: usize,
    interval: u64,
}

impl RateLimiter {
    pub(crate) fn new(slots: usize, interval_ticks: u64) -> Self {
        Self {
            slots: Vec::new(),
            capacity: slots.max(1),
            interval: interval_ticks,
        }
    }

    /// Returns true (and records `now`) if `key` may pass at tick `now`.
    pub(crate) fn allow(&mut self, key: u64, now: u64) -> bool {
        if self.slots.is_empty() {
            self.slots = vec![
                Slot {
                    key: 0,
                    last: NEVER
                };
                self.capacity
            ];
        }
        let i = (key % self.slots.len() as u64) as usize;
        let s = &mut self.slots[i];
        if s.last != NEVER && s.key == key && now < s.last.saturating_add(self.interval) {
            return false;
        }
        *s = Slot { key, last: now };
        true
    }
}

/// FNV-1a over the addresses: a stable, seedless key for the limiter tables.
pub(crate) fn key(addrs: &[IpAddr]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for a in addrs {
        match a {
            IpAddr::V4(v4) => v4.octets().into_iter().for_each(&mut eat),
            IpAddr::V6(v6) => v6.octets().into_iter().for_each(&mut eat),
        }
        eat(0xff);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_per_interval() {
        let mut r = RateLimiter::new(8, 1000);
        let k = key(&["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()]);
        assert!(r.allow(k, 0));
        assert!(!r.allow(k, 999));
        assert!(r.allow(k, 1000));
        let other = key(&["10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap()]);
        assert_ne!(k, other);
    }
}
