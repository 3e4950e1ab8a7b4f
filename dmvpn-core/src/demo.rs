//! The in-process DMVPN demo behind `dmvpnd demo` (feature `sim`): a hub and N spokes on the
//! simulator, registrations, spoke-to-spoke pings, redirects and shortcuts, printed as a
//! timeline in virtual time, then `show dmvpn` for the hub and one spoke.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use esp::crypto::{SeededRandom, aws_lc};
use ipnet::IpNet;

use crate::sim::{CapturePoint, DeviceId, HostId, Link, Sim, SimError};
use crate::stats::{PeerInfo, PeerKind, PeerState};
use crate::{Config, Event, NextHop, Node, Phase, Role, StaticRoute};

/// What the demo runs.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoOptions {
    /// Number of spokes (1..=4000).
    pub spokes: usize,
    /// DMVPN phase.
    pub phase: Phase,
    /// Packet loss probability on every link (0.0..1.0).
    pub loss: f64,
    /// Seed of the simulator and of every node's random numbers.
    pub seed: u64,
    /// One-way latency of every link.
    pub latency: Duration,
    /// Keep the underlay capture (pcap) of the run.
    pub pcap: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            spokes: 3,
            phase: Phase::Three,
            loss: 0.0,
            seed: 1,
            latency: Duration::from_millis(15),
            pcap: false,
        }
    }
}

/// What the demo found.
#[derive(Debug)]
pub struct DemoOutcome {
    /// Spokes in the run.
    pub spokes: usize,
    /// Spokes registered with the hub.
    pub registered: usize,
    /// The links were lossy.
    pub lossy: bool,
    /// Pings sent and answered.
    pub pings: (usize, usize),
    /// Spoke pairs that formed the expected direct path (phase 2: resolved next hop; phase 3:
    /// shortcut).
    pub shortcuts: usize,
    /// Spoke pairs for which a direct path was expected.
    pub expected_shortcuts: usize,
    /// Data packets the hub forwarded spoke to spoke.
    pub hub_hairpinned: u64,
    /// The underlay capture, when asked for.
    pub pcap: Option<Vec<u8>>,
}

impl DemoOutcome {
    /// True when every spoke registered, every expected direct path formed and, on loss-free
    /// links, every ping was answered (with loss, some pings are expected to go missing).
    pub fn success(&self) -> bool {
        self.registered == self.spokes
            && self.shortcuts == self.expected_shortcuts
            && (self.lossy || self.pings.0 == self.pings.1)
    }
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Bad options.
    #[error("{0}")]
    Options(&'static str),
    /// A node refused its configuration.
    #[error("node: {0}")]
    Node(#[from] crate::ApiError),
    /// The simulator found a broken invariant.
    #[error("simulator: {0}")]
    Sim(#[from] SimError),
    /// Writing the report failed.
    #[error("output: {0}")]
    Io(#[from] io::Error),
}

fn spoke_tunnel(i: usize) -> IpAddr {
    IpAddr::from([10, 0, ((10 + i) / 256) as u8, ((10 + i) % 256) as u8])
}

fn spoke_nbma(i: usize) -> IpAddr {
    IpAddr::from([
        198,
        51,
        (100 + (10 + i) / 256) as u8,
        ((10 + i) % 256) as u8,
    ])
}

fn spoke_lan(i: usize) -> IpNet {
    IpNet::new(
        IpAddr::from([172, (16 + i / 256) as u8, (i % 256) as u8, 0]),
        24,
    )
    .unwrap_or_else(|_| IpNet::from(IpAddr::from([172, 16, 0, 0])))
}

fn spoke_host(i: usize) -> IpAddr {
    IpAddr::from([172, (16 + i / 256) as u8, (i % 256) as u8, 10])
}

const HUB_TUNNEL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
const HUB_NBMA: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

fn node(config: Config, seed: u64, now: Instant) -> Result<Node, crate::ApiError> {
    Node::new(
        config,
        aws_lc::provider(Arc::new(SeededRandom::new(seed))),
        now,
    )
}

/// Runs the demo, writing the timeline and the tables to `out`. `start` is the virtual epoch
/// (the demo never reads a clock).
pub fn run(
    options: &DemoOptions,
    start: Instant,
    out: &mut dyn Write,
) -> Result<DemoOutcome, DemoError> {
    let n = options.spokes;
    if !(1..=4000).contains(&n) {
        return Err(DemoError::Options("--spokes must be 1..=4000"));
    }
    if !(0.0..1.0).contains(&options.loss) {
        return Err(DemoError::Options("--loss must be in [0, 1)"));
    }
    let mut sim: Sim<Node> = Sim::new(options.seed, start);
    sim.set_default_link(
        Link::new()
            .latency(options.latency)
            .jitter(options.latency / 10)
            .loss(options.loss),
    );
    if options.pcap {
        sim.enable_pcap(CapturePoint::Send);
    }
    let mut hub_cfg = Config::hub(
        IpNet::new(HUB_TUNNEL, 16).map_err(|_| DemoError::Options("hub"))?,
        HUB_NBMA,
    );
    hub_cfg.phase = options.phase;
    // The simulated routers have no IP stack of their own: they answer pings themselves.
    hub_cfg.local_delivery = crate::LocalDelivery::Answer;
    for i in 1..=n {
        hub_cfg.static_routes.push(StaticRoute {
            prefix: spoke_lan(i),
            next_hop: spoke_tunnel(i),
        });
    }
    let hub = sim.add_device(HUB_NBMA, node(hub_cfg, options.seed, start)?)?;
    let mut spokes = Vec::new();
    let mut hosts = Vec::new();
    for i in 1..=n {
        let tunnel = IpNet::new(spoke_tunnel(i), 16).map_err(|_| DemoError::Options("spoke"))?;
        let mut c = Config::spoke(tunnel, spoke_nbma(i), HUB_TUNNEL, HUB_NBMA);
        c.phase = options.phase;
        c.local_delivery = crate::LocalDelivery::Answer;
        c.local_networks.push(spoke_lan(i));
        if options.phase == Phase::Two {
            // Phase 2: each spoke LAN with its spoke as next hop (no summarisation).
            for j in (1..=n).filter(|&j| j != i) {
                c.static_routes.push(StaticRoute {
                    prefix: spoke_lan(j),
                    next_hop: spoke_tunnel(j),
                });
            }
        } else {
            // Phases 1 and 3: one summary via the hub.
            let summary = IpNet::new(IpAddr::from([172, 16, 0, 0]), 12)
                .map_err(|_| DemoError::Options("summary"))?;
            c.static_routes.push(StaticRoute {
                prefix: summary,
                next_hop: HUB_TUNNEL,
            });
        }
        let d = sim.add_device(
            spoke_nbma(i),
            node(c, options.seed.wrapping_add(i as u64), start)?,
        )?;
        hosts.push(sim.add_host(d, spoke_host(i))?);
        spokes.push(d);
    }
    let name = |d: DeviceId| -> String {
        if d == hub {
            "hub".to_string()
        } else {
            spokes
                .iter()
                .position(|s| *s == d)
                .map_or_else(|| "?".into(), |i| format!("spoke{}", i + 1))
        }
    };

    writeln!(
        out,
        "DMVPN demo: 1 hub + {n} spokes, phase {}, loss {:.1} %, latency {:?}, seed {}",
        phase_number(options.phase),
        options.loss * 100.0,
        options.latency,
        options.seed
    )?;
    writeln!(
        out,
        "hub {HUB_TUNNEL} (NBMA {HUB_NBMA}); spoke i: tunnel 10.0.x.y, NBMA 198.51.x.y, LAN 172.16.i.0/24"
    )?;
    writeln!(out)?;

    // 1. Registration.
    let reg = sim.run_until(Duration::from_secs(30), |s| {
        s.device(hub).nhrp().registrations().count() == n
            && spokes.iter().all(|d| s.device(*d).is_registered())
    });
    let registered = sim.device(hub).nhrp().registrations().count();
    match reg {
        Ok(_) | Err(SimError::NotReached { .. }) => {}
        Err(e) => return Err(e.into()),
    }

    // 2. Pings between neighbouring spokes (i -> i+1), three rounds: the first crosses the
    //    hub, then the direct path takes over.
    let pairs: Vec<(usize, usize)> = if n >= 2 {
        (1..=n.min(8)).map(|i| (i, i % n.min(8) + 1)).collect()
    } else {
        Vec::new()
    };
    let mut sent = 0;
    let mut answered = 0;
    let mut rtts: Vec<(Duration, String)> = Vec::new();
    for round in 1..=3u16 {
        for &(i, j) in &pairs {
            let h: HostId = hosts[i - 1];
            let before = sim.host(h).echo_replies().len();
            sim.ping(h, spoke_host(j), i as u16, round, 56)?;
            sent += 1;
            let t0 = sim.elapsed();
            match sim.run_until(Duration::from_secs(3), |s| {
                s.host(h).echo_replies().len() > before
            }) {
                Ok(_) => {
                    answered += 1;
                    let rtt = sim
                        .host(h)
                        .echo_replies()
                        .last()
                        .and_then(|r| r.rtt)
                        .unwrap_or_default();
                    rtts.push((
                        t0,
                        format!(
                            "ping {} -> {}: reply in {:.1} ms",
                            spoke_host(i),
                            spoke_host(j),
                            rtt.as_secs_f64() * 1e3
                        ),
                    ));
                }
                Err(SimError::NotReached { .. }) => {
                    rtts.push((
                        t0,
                        format!("ping {} -> {}: no reply", spoke_host(i), spoke_host(j)),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        sim.run_for(Duration::from_millis(500))?;
    }

    // 3. Timeline: every node's events and the pings, in virtual time.
    let mut lines: Vec<(Duration, String)> = rtts;
    for d in std::iter::once(hub).chain(spokes.iter().copied()).take(12) {
        for (at, e) in sim.events(d) {
            if let Some(text) = describe(e) {
                lines.push((*at, format!("{}: {text}", name(d))));
            }
        }
    }
    lines.sort_by_key(|(at, _)| *at);
    let shown = 60;
    for (at, text) in lines.iter().take(shown) {
        writeln!(out, "[{:>9.3} s] {text}", at.as_secs_f64())?;
    }
    if lines.len() > shown {
        writeln!(out, "[   ...     ] {} more events", lines.len() - shown)?;
    }
    writeln!(out)?;

    // 4. Tables.
    write_show_dmvpn(out, "hub", sim.device(hub), sim.now())?;
    if let Some(&s1) = spokes.first() {
        write_show_dmvpn(out, "spoke1", sim.device(s1), sim.now())?;
        write_routes(out, "spoke1", sim.device(s1))?;
    }

    // 5. Verdict.
    let expected_shortcuts = if options.phase == Phase::One {
        0
    } else {
        pairs.len()
    };
    let shortcuts = pairs
        .iter()
        .filter(|&&(i, j)| {
            let s = sim.device(spokes[i - 1]);
            match options.phase {
                Phase::One => false,
                Phase::Two => {
                    s.nhrp().lookup(spoke_tunnel(j)).and_then(|c| c.nbma) == Some(spoke_nbma(j))
                }
                Phase::Three => s
                    .route_to(spoke_host(j))
                    .is_some_and(|r| r.next_hop == NextHop::Nbma(spoke_nbma(j))),
            }
        })
        .count();
    let hub_hairpinned = sim.device(hub).stats().data_hairpinned;
    let outcome = DemoOutcome {
        spokes: n,
        lossy: options.loss > 0.0,
        registered,
        pings: (sent, answered),
        shortcuts,
        expected_shortcuts,
        hub_hairpinned,
        pcap: if options.pcap { sim.take_pcap() } else { None },
    };
    writeln!(
        out,
        "registered {registered}/{n} spokes; pings answered {answered}/{sent}; direct paths {shortcuts}/{expected_shortcuts}; hub forwarded {hub_hairpinned} spoke-to-spoke data packets"
    )?;
    writeln!(
        out,
        "{}",
        if outcome.success() && registered == n {
            "OK"
        } else {
            "FAILED"
        }
    )?;
    Ok(outcome)
}

fn phase_number(p: Phase) -> u8 {
    match p {
        Phase::One => 1,
        Phase::Two => 2,
        Phase::Three => 3,
    }
}

/// One readable line per event worth showing.
fn describe(e: &Event) -> Option<String> {
    Some(match e {
        Event::SpokeRegistered {
            tunnel,
            nbma,
            nat_nbma,
        } => match nat_nbma {
            Some(nat) => format!("spoke {tunnel} registered from {nbma} (behind NAT: {nat})"),
            None => format!("spoke {tunnel} registered from {nbma}"),
        },
        Event::SpokeExpired { tunnel, reason, .. } => format!("spoke {tunnel} gone ({reason:?})"),
        Event::NhsUp { nhs, nbma } => format!("registered with NHS {nhs} ({nbma})"),
        Event::NhsDown { nhs, reason, .. } => format!("NHS {nhs} down ({reason:?})"),
        Event::NatDetected { public_nbma } => format!("behind NAT, public address {public_nbma}"),
        Event::Resolved {
            target,
            prefix,
            nbma,
        } => format!("resolved {target}: {prefix} at {nbma}"),
        Event::ResolutionFailed { target } => format!("resolution of {target} failed"),
        Event::ShortcutUp { prefix, nbma, .. } => format!("shortcut up: {prefix} direct to {nbma}"),
        Event::ShortcutDown { prefix, reason } => format!("shortcut down: {prefix} ({reason:?})"),
        Event::RedirectSent {
            source,
            destination,
            to,
        } => {
            format!("redirect (Traffic Indication) to {to} for {source} -> {destination}")
        }
        Event::Redirected {
            source,
            destination,
        } => {
            format!("hub redirected {source} -> {destination}: resolving")
        }
        Event::SaNeeded { peer } => format!("IPsec SA needed for {peer}"),
        Event::SaUp { peer, .. } => format!("IPsec SA up with {peer}"),
        Event::SaDown { peer, .. } => format!("IPsec SA down with {peer}"),
        _ => return None,
    })
}

/// `show dmvpn` in Cisco's layout.
pub fn write_show_dmvpn(
    out: &mut dyn Write,
    name: &str,
    node: &Node,
    now: Instant,
) -> io::Result<()> {
    let peers = node.peers();
    let role = match node.config().role {
        Role::Hub => "Hub",
        Role::Spoke => "Spoke",
    };
    writeln!(out, "{name}# show dmvpn")?;
    writeln!(
        out,
        "Legend: Attrb --> S - Static, D - Dynamic, T1 - Route Installed"
    )?;
    writeln!(out, "Interface: Tunnel0, IPv4 NHRP Details")?;
    writeln!(out, "Type:{role}, NHRP Peers:{},", peers.len())?;
    writeln!(out)?;
    writeln!(
        out,
        " # Ent  Peer NBMA Addr Peer Tunnel Add State  UpDn Tm Attrb"
    )?;
    writeln!(
        out,
        " ----- --------------- --------------- ----- -------- -----"
    )?;
    for p in peers.iter().take(20) {
        writeln!(out, "{}", show_line(p, now))?;
    }
    if peers.len() > 20 {
        writeln!(out, " ... {} more", peers.len() - 20)?;
    }
    writeln!(out)
}

fn show_line(p: &PeerInfo, now: Instant) -> String {
    let state = match p.state {
        PeerState::Up => "UP",
        PeerState::Registering => "NHRP",
        PeerState::Down => "DOWN",
        PeerState::Standby => "STBY",
    };
    let attrb = match p.kind {
        PeerKind::Nhs => "S",
        PeerKind::Registered | PeerKind::Resolved => "D",
        PeerKind::Shortcut => "DT1",
    };
    let up = p
        .since
        .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
        .as_secs();
    let mut line = String::new();
    let tunnel = p.tunnel.map_or_else(|| "-".to_string(), |t| t.to_string());
    let _ = write!(
        line,
        "     1 {:>15} {:>15} {:>5} {:02}:{:02}:{:02} {:>5}{}",
        p.nbma.to_string(),
        tunnel,
        state,
        up / 3600,
        up / 60 % 60,
        up % 60,
        attrb,
        if p.protected { " (IPsec)" } else { "" }
    );
    line
}

/// `show ip route` of the tunnel's forwarding table.
pub fn write_routes(out: &mut dyn Write, name: &str, node: &Node) -> io::Result<()> {
    writeln!(out, "{name}# show ip route")?;
    writeln!(
        out,
        "Codes: C - connected, S - static, D - routing protocol, H - NHRP, % - next hop override"
    )?;
    for r in node.routes().iter().take(20) {
        let code = match r.source {
            crate::RouteSource::Connected => "C",
            crate::RouteSource::Static => "S",
            crate::RouteSource::Protocol { .. } => "D",
            crate::RouteSource::Nhrp => "H",
        };
        let via = match r.next_hop {
            NextHop::TunnelConnected => "is directly connected, Tunnel0".to_string(),
            NextHop::Tunnel(nh) => format!("via {nh}, Tunnel0"),
            NextHop::Nbma(nbma) => format!("via NBMA {nbma}, Tunnel0 (shortcut)"),
            NextHop::Lan => "is directly connected, LAN".to_string(),
            NextHop::Discard => "is a summary, Null0".to_string(),
        };
        writeln!(out, "{code:<3} {:<18} {via}", r.prefix.to_string())?;
    }
    writeln!(out)
}
