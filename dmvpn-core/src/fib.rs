//! The overlay forwarding table: routes by source, longest-prefix match, NHRP shortcuts.
//!
//! A DMVPN router forwards an overlay packet by the longest matching prefix over its connected
//! networks, static routes, routes learnt from a routing protocol and the shortcuts NHRP built.
//! For one prefix several sources may offer a route; the one with the lowest administrative
//! distance is selected (Cisco's defaults: connected 0, static 1, EIGRP 90/170, NHRP 250).
//! An NHRP shortcut for exactly the prefix of another route *overrides that route's next hop*
//! (Cisco's "next-hop override", shown as `%` in `show ip route`), which is how phase 3 works
//! when the hub advertises the very prefix a spoke then resolves. A shortcut for a more specific
//! prefix than any route wins by longest match on its own (Cisco's `H` routes).
//!
//! Lookups are a longest-prefix match in a prefix trie (the `prefix-trie` crate: a
//! well-kept tree bitmap, chosen over a hand-written trie) per address family.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;

/// Where a route came from; decides its administrative distance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RouteSource {
    /// A network attached to the router (the tunnel subnet, a LAN). Distance 0.
    Connected,
    /// Configured by the operator. Distance 1.
    Static,
    /// Learnt from a dynamic routing protocol; the distance it asked for (EIGRP: 90 internal,
    /// 170 external).
    Protocol {
        /// Administrative distance of the protocol's route.
        distance: u8,
    },
    /// Installed by NHRP from a resolution (a shortcut). Distance 250; overrides the next hop
    /// of another source's route for the same prefix.
    Nhrp,
}

impl RouteSource {
    /// The administrative distance (lower is preferred).
    pub const fn distance(self) -> u8 {
        match self {
            Self::Connected => 0,
            Self::Static => 1,
            Self::Protocol { distance } => distance,
            Self::Nhrp => 250,
        }
    }
}

/// Where a route sends a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum NextHop {
    /// The prefix is on the tunnel (the mGRE subnet): the packet's destination itself is the
    /// overlay next hop, to be resolved through NHRP.
    TunnelConnected,
    /// Over the tunnel to this overlay next-hop address (resolved to an NBMA address through
    /// the NHRP cache, or a static mapping).
    Tunnel(IpAddr),
    /// Directly to this NBMA address: an NHRP shortcut (phase 3) whose peer was resolved.
    Nbma(IpAddr),
    /// Out of the LAN side (a locally attached network or a route behind it): the caller's.
    Lan,
    /// Drop (a summary's discard route, Cisco's Null0).
    Discard,
}

/// One installed route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Route {
    /// The destination prefix.
    pub prefix: IpNet,
    /// Where packets go.
    pub next_hop: NextHop,
    /// Who installed it.
    pub source: RouteSource,
}

/// The result of a lookup: the selected route and, when an NHRP shortcut overrides its next
/// hop, the shortcut's next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// The matching prefix.
    pub prefix: IpNet,
    /// The next hop to use (after any override).
    pub next_hop: NextHop,
    /// The source of the selected route (`Nhrp` when a shortcut decided the next hop).
    pub source: RouteSource,
    /// True when an NHRP shortcut replaced the next hop of another source's route.
    pub overridden: bool,
}

/// All candidate routes for one prefix, at most one per source.
#[derive(Clone, Debug, Default)]
struct Candidates {
    /// Sorted by distance, then source; small (one to three entries in practice).
    routes: Vec<(RouteSource, NextHop)>,
}

impl Candidates {
    fn set(&mut self, source: RouteSource, next_hop: NextHop) -> bool {
        match self.routes.iter_mut().find(|(s, _)| *s == source) {
            Some(entry) if entry.1 == next_hop => return false,
            Some(entry) => entry.1 = next_hop,
            None => {
                self.routes.push((source, next_hop));
                self.routes.sort_by_key(|(s, _)| (s.distance(), *s));
            }
        }
        true
    }

    fn remove(&mut self, source: RouteSource) -> bool {
        let before = self.routes.len();
        self.routes.retain(|(s, _)| *s != source);
        before != self.routes.len()
    }

    fn select(&self, prefix: IpNet) -> Option<Lookup> {
        let nhrp = self.routes.iter().find(|(s, _)| *s == RouteSource::Nhrp);
        let best = self.routes.first()?;
        Some(match nhrp {
            Some(&(_, nh)) if best.0 != RouteSource::Nhrp && best.0 != RouteSource::Connected => {
                Lookup {
                    prefix,
                    next_hop: nh,
                    source: RouteSource::Nhrp,
                    overridden: true,
                }
            }
            _ => Lookup {
                prefix,
                next_hop: best.1,
                source: best.0,
                overridden: false,
            },
        })
    }
}

/// Slots of the lookup cache in front of the tries (direct-mapped by destination address).
const CACHE_SLOTS: usize = 256;

/// One remembered lookup, valid while the table's generation is unchanged.
#[derive(Clone, Copy, Debug)]
struct Cached {
    dst: IpAddr,
    generation: u64,
    lookup: Option<Lookup>,
}

/// The overlay forwarding table of one DMVPN interface (IPv4 and IPv6).
///
/// [`Fib::lookup_cached`] puts a small direct-mapped cache of recent destinations in front of
/// the longest-prefix match (the forwarding path's per-packet lookup); any route change
/// invalidates it at once (a generation counter), and its size is fixed whatever the traffic.
#[derive(Clone, Default)]
pub struct Fib {
    v4: PrefixMap<Ipv4Net, Candidates>,
    v6: PrefixMap<Ipv6Net, Candidates>,
    routes: usize,
    generation: u64,
    cache: Vec<Option<Cached>>,
}

impl core::fmt::Debug for Fib {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.routes()).finish()
    }
}

impl Fib {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs (or replaces) `source`'s route for `prefix`. Returns false when the same route
    /// was already there. Host bits of `prefix` are cleared.
    pub fn insert(&mut self, prefix: IpNet, source: RouteSource, next_hop: NextHop) -> bool {
        let changed = match prefix.trunc() {
            IpNet::V4(p) => Self::insert_in(&mut self.v4, p, source, next_hop),
            IpNet::V6(p) => Self::insert_in(&mut self.v6, p, source, next_hop),
        };
        if changed.1 {
            self.routes += 1;
        }
        if changed.0 {
            self.generation += 1;
        }
        changed.0
    }

    fn insert_in<P: prefix_trie::Prefix>(
        map: &mut PrefixMap<P, Candidates>,
        prefix: P,
        source: RouteSource,
        next_hop: NextHop,
    ) -> (bool, bool) {
        match map.get_mut(&prefix) {
            Some(c) => {
                let before = c.routes.len();
                let changed = c.set(source, next_hop);
                (changed, c.routes.len() > before)
            }
            None => {
                let mut c = Candidates::default();
                c.set(source, next_hop);
                map.insert(prefix, c);
                (true, true)
            }
        }
    }

    /// Removes `source`'s route for `prefix`; returns whether one was there.
    pub fn remove(&mut self, prefix: IpNet, source: RouteSource) -> bool {
        let removed = match prefix.trunc() {
            IpNet::V4(p) => Self::remove_in(&mut self.v4, &p, source),
            IpNet::V6(p) => Self::remove_in(&mut self.v6, &p, source),
        };
        if removed {
            self.routes -= 1;
            self.generation += 1;
        }
        removed
    }

    fn remove_in<P: prefix_trie::Prefix>(
        map: &mut PrefixMap<P, Candidates>,
        prefix: &P,
        source: RouteSource,
    ) -> bool {
        let Some(c) = map.get_mut(prefix) else {
            return false;
        };
        let removed = c.remove(source);
        if c.routes.is_empty() {
            map.remove(prefix);
        }
        removed
    }

    /// A number that changes whenever a route is added, replaced or removed: what a caller
    /// derived from lookups stays valid while it is unchanged.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Longest-prefix match for `dst`, with NHRP next-hop override applied.
    pub fn lookup(&self, dst: IpAddr) -> Option<Lookup> {
        match dst {
            IpAddr::V4(a) => {
                let (p, c) = self.v4.get_lpm(&Ipv4Net::from(a))?;
                c.select(IpNet::V4(p))
            }
            IpAddr::V6(a) => {
                let (p, c) = self.v6.get_lpm(&Ipv6Net::from(a))?;
                c.select(IpNet::V6(p))
            }
        }
    }

    /// [`Fib::lookup`] through the cache of recent destinations: the same answer, cheaper
    /// for the destinations a packet stream repeats.
    pub fn lookup_cached(&mut self, dst: IpAddr) -> Option<Lookup> {
        if self.cache.is_empty() {
            self.cache = vec![None; CACHE_SLOTS];
        }
        let h = match dst {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                (v as u64) ^ ((v >> 64) as u64)
            }
        };
        let slot = (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize % CACHE_SLOTS;
        if let Some(Some(c)) = self.cache.get(slot)
            && c.dst == dst
            && c.generation == self.generation
        {
            return c.lookup;
        }
        let lookup = self.lookup(dst);
        if let Some(entry) = self.cache.get_mut(slot) {
            *entry = Some(Cached {
                dst,
                generation: self.generation,
                lookup,
            });
        }
        lookup
    }

    /// The route `source` installed for exactly `prefix`, if any.
    pub fn get(&self, prefix: IpNet, source: RouteSource) -> Option<NextHop> {
        let c = match prefix.trunc() {
            IpNet::V4(p) => self.v4.get(&p)?,
            IpNet::V6(p) => self.v6.get(&p)?,
        };
        c.routes
            .iter()
            .find(|(s, _)| *s == source)
            .map(|(_, nh)| *nh)
    }

    /// Every installed route (all sources), IPv4 first, in prefix order: for `show ip route`.
    pub fn routes(&self) -> impl Iterator<Item = Route> + '_ {
        let v4 = self.v4.iter().flat_map(|(p, c)| {
            c.routes.iter().map(move |&(source, next_hop)| Route {
                prefix: IpNet::V4(p),
                next_hop,
                source,
            })
        });
        let v6 = self.v6.iter().flat_map(|(p, c)| {
            c.routes.iter().map(move |&(source, next_hop)| Route {
                prefix: IpNet::V6(p),
                next_hop,
                source,
            })
        });
        v4.chain(v6)
    }

    /// The number of installed routes (all sources).
    pub fn len(&self) -> usize {
        self.routes
    }

    /// True when no route is installed.
    pub fn is_empty(&self) -> bool {
        self.routes == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_across_sources() {
        let mut fib = Fib::new();
        fib.insert(
            net("10.0.0.0/24"),
            RouteSource::Connected,
            NextHop::TunnelConnected,
        );
        fib.insert(
            net("192.168.0.0/16"),
            RouteSource::Static,
            NextHop::Tunnel(ip("10.0.0.1")),
        );
        fib.insert(
            net("192.168.2.0/24"),
            RouteSource::Nhrp,
            NextHop::Tunnel(ip("10.0.0.12")),
        );
        let l = fib.lookup(ip("192.168.2.7")).unwrap();
        assert_eq!(l.prefix, net("192.168.2.0/24"));
        assert_eq!(l.next_hop, NextHop::Tunnel(ip("10.0.0.12")));
        assert_eq!(l.source, RouteSource::Nhrp);
        assert!(!l.overridden);
        let l = fib.lookup(ip("192.168.3.7")).unwrap();
        assert_eq!(l.next_hop, NextHop::Tunnel(ip("10.0.0.1")));
        assert_eq!(
            fib.lookup(ip("10.0.0.12")).unwrap().next_hop,
            NextHop::TunnelConnected
        );
        assert_eq!(fib.lookup(ip("172.16.0.1")), None);
        assert_eq!(fib.len(), 3);
    }

    #[test]
    fn distance_selects_and_nhrp_overrides_next_hop_of_same_prefix() {
        let mut fib = Fib::new();
        let p = net("192.168.2.0/24");
        fib.insert(
            p,
            RouteSource::Protocol { distance: 90 },
            NextHop::Tunnel(ip("10.0.0.1")),
        );
        fib.insert(p, RouteSource::Static, NextHop::Tunnel(ip("10.0.0.2")));
        assert_eq!(
            fib.lookup(ip("192.168.2.1")).unwrap().next_hop,
            NextHop::Tunnel(ip("10.0.0.2"))
        );
        fib.insert(p, RouteSource::Nhrp, NextHop::Tunnel(ip("10.0.0.12")));
        let l = fib.lookup(ip("192.168.2.1")).unwrap();
        assert_eq!(l.next_hop, NextHop::Tunnel(ip("10.0.0.12")));
        assert!(l.overridden);
        assert!(fib.remove(p, RouteSource::Nhrp));
        assert!(!fib.remove(p, RouteSource::Nhrp));
        assert_eq!(
            fib.lookup(ip("192.168.2.1")).unwrap().next_hop,
            NextHop::Tunnel(ip("10.0.0.2"))
        );
        assert_eq!(fib.len(), 2);
    }

    #[test]
    fn connected_routes_are_never_overridden() {
        let mut fib = Fib::new();
        let p = net("10.0.0.0/24");
        fib.insert(p, RouteSource::Connected, NextHop::TunnelConnected);
        fib.insert(p, RouteSource::Nhrp, NextHop::Tunnel(ip("10.0.0.9")));
        assert_eq!(
            fib.lookup(ip("10.0.0.5")).unwrap().next_hop,
            NextHop::TunnelConnected
        );
    }

    #[test]
    fn ipv6_and_host_bits() {
        let mut fib = Fib::new();
        assert!(fib.insert(net("2001:db8:1::1/48"), RouteSource::Static, NextHop::Lan));
        assert!(!fib.insert(net("2001:db8:1::/48"), RouteSource::Static, NextHop::Lan));
        assert_eq!(
            fib.get(net("2001:db8:1::/48"), RouteSource::Static),
            Some(NextHop::Lan)
        );
        let l = fib.lookup(ip("2001:db8:1:2::5")).unwrap();
        assert_eq!(l.prefix, net("2001:db8:1::/48"));
        assert_eq!(fib.routes().count(), 1);
        assert!(fib.remove(net("2001:db8:1::/48"), RouteSource::Static));
        assert!(fib.is_empty());
        assert_eq!(fib.lookup(ip("2001:db8:1:2::5")), None);
    }

    #[test]
    fn cached_lookups_follow_every_change() {
        let mut fib = Fib::new();
        let d = ip("192.168.2.7");
        assert_eq!(fib.lookup_cached(d), None);
        fib.insert(
            net("192.168.0.0/16"),
            RouteSource::Static,
            NextHop::Tunnel(ip("10.0.0.1")),
        );
        assert_eq!(
            fib.lookup_cached(d).unwrap().next_hop,
            NextHop::Tunnel(ip("10.0.0.1"))
        );
        fib.insert(
            net("192.168.2.0/24"),
            RouteSource::Nhrp,
            NextHop::Nbma(ip("198.51.100.12")),
        );
        assert_eq!(
            fib.lookup_cached(d).unwrap().next_hop,
            NextHop::Nbma(ip("198.51.100.12"))
        );
        assert!(fib.remove(net("192.168.2.0/24"), RouteSource::Nhrp));
        assert_eq!(
            fib.lookup_cached(d).unwrap().next_hop,
            NextHop::Tunnel(ip("10.0.0.1"))
        );
        // Many destinations sharing slots: always the uncached answer.
        for i in 0..2000u32 {
            let a = IpAddr::from((0xc0a8_0000u32 + i * 37).to_be_bytes());
            assert_eq!(fib.lookup_cached(a), fib.lookup(a));
        }
    }
}
