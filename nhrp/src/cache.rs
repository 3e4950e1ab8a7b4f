//! Tables of the NHC side: the resolution cache (positive and negative entries, phase 3
//! shortcuts), pending resolution requests, and a longest-prefix-match index.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::event::ResolutionError;
use crate::timer::Timer;

crate::timer::has_timer!(CacheEntry, Pending);

/// Longest-prefix-match index from prefixes to ids: a `BTreeMap` plus a bit per prefix length
/// in use, so a lookup probes only the lengths present.
#[derive(Debug)]
pub(crate) struct PrefixMap<V> {
    map: BTreeMap<IpNet, V>,
    lens_v4: u64,
    lens_v6: u128,
    counts: BTreeMap<(bool, u8), usize>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
            lens_v4: 0,
            lens_v6: 0,
            counts: BTreeMap::new(),
        }
    }
}

impl<V: Copy> PrefixMap<V> {
    pub(crate) fn insert(&mut self, p: IpNet, v: V) -> Option<V> {
        let p = p.trunc();
        let old = self.map.insert(p, v);
        if old.is_none() {
            let k = (p.addr().is_ipv4(), p.prefix_len());
            *self.counts.entry(k).or_default() += 1;
            self.set_bit(k, true);
        }
        old
    }

    pub(crate) fn remove(&mut self, p: &IpNet) -> Option<V> {
        let p = p.trunc();
        let old = self.map.remove(&p);
        if old.is_some() {
            let k = (p.addr().is_ipv4(), p.prefix_len());
            if let Some(c) = self.counts.get_mut(&k) {
                *c -= 1;
                if *c == 0 {
                    self.counts.remove(&k);
                    self.set_bit(k, false);
                }
            }
        }
        old
    }

    fn set_bit(&mut self, (v4, len): (bool, u8), on: bool) {
        if v4 {
            let b = 1u64 << len.min(63);
            if len > 32 {
                return;
            }
            if on {
                self.lens_v4 |= b
            } else {
                self.lens_v4 &= !b
            }
        } else {
            let b = 1u128 << len.min(127);
            if len == 128 {
                // length 128 is tracked through `counts` only
                return;
            }
            if on {
                self.lens_v6 |= b
            } else {
                self.lens_v6 &= !b
            }
        }
    }

    pub(crate) fn get(&self, p: &IpNet) -> Option<V> {
        self.map.get(&p.trunc()).copied()
    }

    /// The value of the longest prefix containing `a`. Only the prefix lengths present in the
    /// map are tried, longest first (one map probe per length in use, not per possible length).
    pub(crate) fn lookup(&self, a: IpAddr) -> Option<(IpNet, V)> {
        let probe = |len: u8| -> Option<(IpNet, V)> {
            let p = IpNet::new(a, len).ok()?.trunc();
            self.map.get(&p).map(|v| (p, *v))
        };
        if a.is_ipv4() {
            let mut lens = self.lens_v4;
            while lens != 0 {
                let len = 63 - lens.leading_zeros();
                if let Some(hit) = probe(len as u8) {
                    return Some(hit);
                }
                lens &= !(1u64 << len);
            }
        } else {
            if self.counts.contains_key(&(false, 128))
                && let Some(hit) = probe(128)
            {
                return Some(hit);
            }
            let mut lens = self.lens_v6;
            while lens != 0 {
                let len = 127 - lens.leading_zeros();
                if let Some(hit) = probe(len as u8) {
                    return Some(hit);
                }
                lens &= !(1u128 << len);
            }
        }
        None
    }

    /// Entries whose prefix overlaps `p` (contains it or is contained in it).
    pub(crate) fn overlapping(&self, p: &IpNet) -> Vec<(IpNet, V)> {
        self.map
            .iter()
            .filter(|(k, _)| k.contains(p) || p.contains(*k))
            .map(|(k, v)| (*k, *v))
            .collect()
    }
}

/// What a cache entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binding {
    /// Positive: send to `nbma`.
    Positive {
        nbma: IpAddr,
        protocol: Option<IpAddr>,
    },
    /// Negative: the resolution failed; do not ask again before expiry.
    Negative(ResolutionError),
}

/// One resolution cache entry.
#[derive(Clone, Debug)]
pub(crate) struct CacheEntry {
    pub(crate) prefix: IpNet,
    /// The address that was resolved (refreshes ask for it again).
    pub(crate) target: IpAddr,
    pub(crate) binding: Binding,
    /// Tick of expiry.
    pub(crate) expires: u64,
    /// Tick at which a used shortcut is refreshed.
    pub(crate) refresh_at: u64,
    /// Installed as a phase 3 shortcut (events ShortcutUp/Down).
    pub(crate) shortcut: bool,
    /// The forwarding plane reported traffic since the last refresh.
    pub(crate) used: bool,
    pub(crate) timer: Timer,
}

/// One outstanding Resolution Request.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) target: IpAddr,
    pub(crate) request_id: u32,
    pub(crate) retries: u32,
    pub(crate) rto_ms: u64,
    /// Triggered by a Traffic Indication or a shortcut refresh: the answer is a shortcut.
    pub(crate) shortcut: bool,
    pub(crate) timer: Timer,
}

/// A requester we answered, remembered so a later binding change can purge it (RFC 2332
/// §5.2.5).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answered {
    pub(crate) nbma: IpAddr,
    pub(crate) protocol: IpAddr,
    pub(crate) prefix: IpNet,
    pub(crate) request_id: u32,
    pub(crate) expires: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_removal_clears_lengths() {
        let mut m: PrefixMap<u32> = PrefixMap::default();
        m.insert("10.0.0.0/8".parse().unwrap(), 8);
        m.insert("10.1.0.0/16".parse().unwrap(), 16);
        m.insert("2001:db8::1/128".parse().unwrap(), 128);
        assert_eq!(m.lookup("10.1.2.3".parse().unwrap()).map(|x| x.1), Some(16));
        assert_eq!(m.lookup("10.2.2.3".parse().unwrap()).map(|x| x.1), Some(8));
        assert_eq!(
            m.lookup("2001:db8::1".parse().unwrap()).map(|x| x.1),
            Some(128)
        );
        m.remove(&"10.1.0.0/16".parse().unwrap());
        assert_eq!(m.lookup("10.1.2.3".parse().unwrap()).map(|x| x.1), Some(8));
        assert_eq!(m.lookup("11.0.0.1".parse().unwrap()), None);
        assert_eq!(m.overlapping(&"10.1.0.0/16".parse().unwrap()).len(), 1);
    }

    #[test]
    fn lookup_matches_a_linear_scan() {
        // Deterministic pseudo-random prefixes of every length class, both families.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut m: PrefixMap<u32> = PrefixMap::default();
        let mut all = Vec::new();
        for i in 0..400u32 {
            let r = next();
            let p: IpNet = if i % 2 == 0 {
                let a = std::net::Ipv4Addr::from((r as u32) & 0x0a0f_ffff | 0x0a00_0000);
                IpNet::new(IpAddr::V4(a), (r >> 40) as u8 % 33)
                    .unwrap()
                    .trunc()
            } else {
                let hi = u128::from(r) << 64 | 0x2001_0db8;
                let a = std::net::Ipv6Addr::from(
                    hi.rotate_left(96) & !0xffff_0000_0000_0000_0000_0000_0000_0000
                        | 0x2001_0000_0000_0000_0000_0000_0000_0000,
                );
                IpNet::new(IpAddr::V6(a), (r >> 40) as u8 % 129)
                    .unwrap()
                    .trunc()
            };
            m.insert(p, i);
            all.push((p, i));
        }
        for _ in 0..2000 {
            let r = next();
            let a = if r % 2 == 0 {
                IpAddr::V4(std::net::Ipv4Addr::from(
                    (r >> 8) as u32 & 0x0a0f_ffff | 0x0a00_0000,
                ))
            } else {
                let hi = u128::from(r) << 64 | u128::from(next());
                IpAddr::V6(std::net::Ipv6Addr::from(
                    hi & !0xffff_0000_0000_0000_0000_0000_0000_0000
                        | 0x2001_0000_0000_0000_0000_0000_0000_0000,
                ))
            };
            let want = all
                .iter()
                .filter(|(p, _)| p.contains(&a))
                .max_by_key(|(p, _)| p.prefix_len())
                .map(|(p, _)| (*p, m.get(p).unwrap()));
            assert_eq!(m.lookup(a), want, "{a}");
        }
    }
}
