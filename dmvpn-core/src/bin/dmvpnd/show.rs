//! `show` commands: Cisco-style tables (reusing the demo's `show dmvpn` / `show ip route`
//! writers) and the same data as JSON for scripts and tests.

use std::io::Write;
use std::time::Instant;

use dmvpn_core::demo::{write_routes, write_show_dmvpn};
use dmvpn_core::{Node, PeerInfo, Role};
use serde_json::{Value, json};

/// What `dmvpnd show` can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum What {
    /// Peers: NHSs, registered spokes, shortcuts (`show dmvpn`).
    Dmvpn,
    /// The NHRP cache and registrations (`show ip nhrp`).
    Nhrp,
    /// The overlay forwarding table (`show ip route`).
    Routes,
    /// Counters of the interface and per peer.
    Stats,
}

impl What {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Dmvpn => "dmvpn",
            Self::Nhrp => "nhrp",
            Self::Routes => "routes",
            Self::Stats => "stats",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "dmvpn" => Self::Dmvpn,
            "nhrp" => Self::Nhrp,
            "routes" => Self::Routes,
            "stats" => Self::Stats,
            _ => return None,
        })
    }
}

/// Renders one `show` answer.
pub(crate) fn render(node: &Node, name: &str, what: What, json: bool, now: Instant) -> String {
    if json {
        let v = match what {
            What::Dmvpn => dmvpn_json(node, now),
            What::Nhrp => nhrp_json(node, now),
            What::Routes => json!({ "routes": node.routes() }),
            What::Stats => stats_json(node),
        };
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
        s.push('\n');
        return s;
    }
    let mut out = Vec::new();
    let r = match what {
        What::Dmvpn => write_show_dmvpn(&mut out, name, node, now),
        What::Routes => write_routes(&mut out, name, node),
        What::Nhrp => write_nhrp(&mut out, name, node, now),
        What::Stats => write_stats(&mut out, name, node),
    };
    if let Err(e) = r {
        return format!("error: {e}\n");
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn secs_until(t: Option<Instant>, now: Instant) -> Value {
    t.map_or(Value::Null, |t| {
        json!(t.saturating_duration_since(now).as_secs())
    })
}

fn peer_json(p: &PeerInfo, now: Instant) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("expires_in_s".into(), secs_until(p.expires, now));
        m.insert(
            "up_s".into(),
            p.since.map_or(Value::Null, |s| {
                json!(now.saturating_duration_since(s).as_secs())
            }),
        );
    }
    v
}

fn dmvpn_json(node: &Node, now: Instant) -> Value {
    let c = node.config();
    json!({
        "role": match c.role { Role::Hub => "hub", Role::Spoke => "spoke" },
        "tunnel_address": c.tunnel_address,
        "nbma": c.nbma,
        "registered": node.is_registered(),
        "peers": node.peers().iter().map(|p| peer_json(p, now)).collect::<Vec<_>>(),
    })
}

fn nhrp_json(node: &Node, now: Instant) -> Value {
    let n = node.nhrp();
    let regs: Vec<Value> = n
        .registrations()
        .map(|r| {
            json!({
                "protocol": r.protocol, "nbma": r.nbma, "nat_nbma": r.nat_nbma,
                "unique": r.unique, "expires_in_s": secs_until(Some(r.expires), now),
            })
        })
        .collect();
    let cache: Vec<Value> = n
        .cache_entries()
        .map(|c| {
            json!({
                "prefix": c.prefix, "nbma": c.nbma, "protocol": c.protocol,
                "negative": c.negative.map(|e| format!("{e:?}")),
                "shortcut": c.shortcut, "used": c.used,
                "expires_in_s": secs_until(Some(c.expires), now),
            })
        })
        .collect();
    let nhs: Vec<Value> = n
        .nhs_status()
        .map(|s| {
            json!({
                "protocol": s.config.protocol, "nbma": s.config.nbma,
                "priority": s.config.priority, "state": format!("{:?}", s.state),
            })
        })
        .collect();
    json!({ "registrations": regs, "cache": cache, "nhs": nhs })
}

fn stats_json(node: &Node) -> Value {
    let peers: Vec<Value> = node
        .peers()
        .iter()
        .map(|p| json!({ "nbma": p.nbma, "tunnel": p.tunnel, "counters": p.counters }))
        .collect();
    json!({ "stats": node.stats(), "peers": peers })
}

/// `show ip nhrp` in Cisco's layout: one block per entry.
fn write_nhrp(out: &mut dyn Write, name: &str, node: &Node, now: Instant) -> std::io::Result<()> {
    writeln!(out, "{name}# show ip nhrp")?;
    let n = node.nhrp();
    for r in n.registrations() {
        writeln!(out, "{}/32 via {}", r.protocol, r.protocol)?;
        writeln!(
            out,
            "   Tunnel0 created, expire {}s",
            r.expires.saturating_duration_since(now).as_secs()
        )?;
        writeln!(
            out,
            "   Type: dynamic, Flags: {}registered nhop",
            if r.unique { "unique " } else { "" }
        )?;
        match r.nat_nbma {
            Some(nat) => writeln!(
                out,
                "   NBMA address: {nat} (Claimed NBMA address: {})",
                r.nbma
            )?,
            None => writeln!(out, "   NBMA address: {}", r.nbma)?,
        }
    }
    for s in n.nhs_status() {
        writeln!(out, "{}/32 via {}", s.config.protocol, s.config.protocol)?;
        writeln!(out, "   Tunnel0 created, never expire")?;
        writeln!(out, "   Type: static, Flags: used nhs {:?}", s.state)?;
        writeln!(out, "   NBMA address: {}", s.config.nbma)?;
    }
    for c in n.cache_entries() {
        let via = c
            .protocol
            .map_or_else(|| "-".to_string(), |p| p.to_string());
        writeln!(out, "{} via {via}", c.prefix)?;
        writeln!(
            out,
            "   Tunnel0 created, expire {}s",
            c.expires.saturating_duration_since(now).as_secs()
        )?;
        let mut flags = String::from("router");
        if c.shortcut {
            flags.push_str(" rib nho");
        }
        if c.used {
            flags.push_str(" used");
        }
        match (c.nbma, c.negative) {
            (_, Some(e)) => writeln!(out, "   Type: negative ({e:?}), Flags: {flags}")?,
            (Some(nbma), None) => {
                writeln!(out, "   Type: dynamic, Flags: {flags}")?;
                writeln!(out, "   NBMA address: {nbma}")?;
            }
            (None, None) => writeln!(out, "   Type: incomplete, Flags: {flags}")?,
        }
    }
    writeln!(out)
}

/// Counters as `name value` lines, then per-peer packet counts.
fn write_stats(out: &mut dyn Write, name: &str, node: &Node) -> std::io::Result<()> {
    writeln!(out, "{name}# show dmvpn stats")?;
    if let Ok(Value::Object(m)) = serde_json::to_value(node.stats()) {
        for (k, v) in m {
            match v {
                Value::Object(d) => {
                    for (dk, dv) in d {
                        if dv != json!(0) {
                            writeln!(out, "  dropped.{dk:<20} {dv}")?;
                        }
                    }
                }
                v => writeln!(out, "  {k:<28} {v}")?,
            }
        }
    }
    writeln!(
        out,
        "  {:<15} {:>10} {:>10} {:>10} {:>10}",
        "peer", "tx", "rx", "tx data", "rx data"
    )?;
    for p in node.peers() {
        let c = p.counters;
        writeln!(
            out,
            "  {:<15} {:>10} {:>10} {:>10} {:>10}",
            p.nbma.to_string(),
            c.tx_packets,
            c.rx_packets,
            c.tx_data,
            c.rx_data
        )?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spoke(now: Instant) -> Node {
        let c = crate::config_file::parse(
            r#"
role = "spoke"
tunnel_address = "100.64.0.11/24"
nbma = "198.51.100.11"
local_networks = ["100.65.11.0/24"]
[[nhs]]
tunnel_address = "100.64.0.1"
nbma = "198.51.100.1"
[[static_routes]]
prefix = "100.65.0.0/16"
next_hop = "100.64.0.1"
"#,
        )
        .unwrap();
        Node::new(c.node, esp::crypto::aws_lc::default_provider(), now).unwrap()
    }

    #[test]
    fn tables_and_json_of_a_fresh_spoke() {
        let now = Instant::now();
        let node = spoke(now);
        let t = render(&node, "dmvpn0", What::Dmvpn, false, now);
        assert!(t.contains("Type:Spoke, NHRP Peers:1,"), "{t}");
        assert!(t.contains("198.51.100.1"), "{t}");
        let j: Value =
            serde_json::from_str(&render(&node, "dmvpn0", What::Dmvpn, true, now)).unwrap();
        assert_eq!(j["role"], "spoke");
        assert_eq!(j["registered"], false);
        assert_eq!(j["peers"][0]["kind"], "Nhs");
        assert_eq!(j["peers"][0]["state"], "Registering");
        let r = render(&node, "dmvpn0", What::Routes, false, now);
        assert!(r.contains("S   100.65.0.0/16"), "{r}");
        let j: Value =
            serde_json::from_str(&render(&node, "dmvpn0", What::Routes, true, now)).unwrap();
        assert!(j["routes"].as_array().unwrap().len() >= 3, "{j}");
        let j: Value =
            serde_json::from_str(&render(&node, "dmvpn0", What::Stats, true, now)).unwrap();
        assert_eq!(
            j["stats"]["nhrp_out"], 1,
            "one registration request sent: {j}"
        );
        let n = render(&node, "dmvpn0", What::Nhrp, false, now);
        assert!(n.contains("NBMA address: 198.51.100.1"), "{n}");
        let s = render(&node, "dmvpn0", What::Stats, false, now);
        assert!(s.contains("nhrp_out"), "{s}");
    }
}
