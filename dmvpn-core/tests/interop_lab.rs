//! The `dmvpnd` driver in a network-namespace lab (root; runs only with DMVPN_INTEROP set).
//!
//! Each test builds its own lab (see `lab/mod.rs`): an "internet" bridge, a hub and spoke
//! router namespaces running `dmvpnd run`, and a LAN host behind each spoke. The tests check
//! what a DMVPN operator relies on: LAN-to-LAN traffic between spokes, phase 3 shortcuts
//! that take the hub out of the data path, shortcuts that survive a hub failure and
//! re-registration after the hub restarts, ESP-only underlay traffic with IPsec required,
//! registration through a NAT, and all of it over an IPv6 underlay (2001:db8::/64).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod lab;

use std::process::{Command, Stdio};
use std::time::Duration;

use lab::{Lab, hub_config, spoke_config, try_sh};

const TOOLS: &[&str] = &["ip", "ping", "sysctl"];

fn registered_spokes(lab: &Lab) -> usize {
    lab.show_json("hub", "dmvpn")["peers"]
        .as_array()
        .map_or(0, |p| {
            p.iter().filter(|p| p["kind"] == "Registered").count()
        })
}

fn hub_hairpinned(lab: &Lab) -> u64 {
    lab.show_json("hub", "stats")["stats"]["data_hairpinned"]
        .as_u64()
        .unwrap()
}

fn has_shortcut(lab: &Lab, spoke: &str, prefix: &str) -> bool {
    lab.show_json(spoke, "routes")["routes"]
        .as_array()
        .is_some_and(|r| {
            r.iter()
                .any(|r| r["prefix"] == prefix && r["source"] == "Nhrp")
        })
}

fn ping(lab: &Lab, from: &str, to: &str, count: u32) -> bool {
    lab.try_exec(
        from,
        &[
            "ping",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            "2",
            "-q",
            to,
        ],
    )
}

/// Hub + spokes 1..=n on the bridge, each spoke with a LAN host h<n>.
fn topology(tag: &str, n: u8) -> Lab {
    let mut lab = Lab::new(tag);
    lab.ns("hub");
    lab.on_internet("hub", "198.51.100.1");
    for i in 1..=n {
        let s = format!("s{i}");
        lab.ns(&s);
        lab.on_internet(&s, &format!("198.51.100.1{i}"));
        lab.lan(&s, &format!("h{i}"), &format!("100.65.1{i}"));
    }
    lab
}

#[test]
fn phase3_shortcut_and_hub_restart() {
    if !lab::enabled("interop_lab::phase3_shortcut_and_hub_restart", TOOLS) {
        return;
    }
    let mut lab = topology("p", 3);
    let spokes = [1, 2, 3];
    let hub = hub_config(&lab, &spokes, "");
    lab.start("hub", &hub);
    for i in spokes {
        let c = spoke_config(&lab, i, &format!("198.51.100.1{i}"), "");
        lab.start(&format!("s{i}"), &c);
    }
    lab.wait("3 spokes registered", Duration::from_secs(20), || {
        registered_spokes(&lab) == 3
    });
    // The tables print.
    let table = lab.show("hub", "dmvpn");
    assert!(table.contains("Type:Hub, NHRP Peers:3,"), "{table}");
    assert!(table.contains("100.64.0.12"), "{table}");

    // LAN to LAN: the first packets go via the hub, which redirects (phase 3).
    assert!(
        ping(&lab, "h1", "100.65.12.2", 3),
        "h1 -> h2 ping failed\n{}",
        lab.logs()
    );
    lab.wait(
        "s1's shortcut to 100.65.12.0/24",
        Duration::from_secs(10),
        || {
            let _ = ping(&lab, "h1", "100.65.12.2", 1);
            has_shortcut(&lab, "s1", "100.65.12.0/24")
        },
    );
    lab.wait(
        "s2's shortcut back to 100.65.11.0/24",
        Duration::from_secs(10),
        || {
            let _ = ping(&lab, "h2", "100.65.11.2", 1);
            has_shortcut(&lab, "s2", "100.65.11.0/24")
        },
    );
    // Installed over rtnetlink: into the TUN device, protocol static, scope link.
    let shortcut_route = lab.exec("s1", &["ip", "route", "show", "100.65.12.0/24"]);
    for part in ["dev dmvpn0", "proto static", "scope link"] {
        assert!(
            shortcut_route.contains(part),
            "the shortcut is in s1's kernel routing table with {part}: {shortcut_route:?}"
        );
    }
    // Once both shortcuts are up, the hub sees no more data of this flow.
    let before = hub_hairpinned(&lab);
    assert!(before > 0, "the first packets crossed the hub");
    assert!(
        ping(&lab, "h1", "100.65.12.2", 10),
        "ping over the shortcut"
    );
    assert_eq!(
        hub_hairpinned(&lab),
        before,
        "data crossed the hub after the shortcut was up"
    );
    let s1 = lab.show_json("s1", "stats");
    assert!(s1["stats"]["data_direct"].as_u64().unwrap() >= 10, "{s1}");

    // The hub dies: the established shortcut keeps working.
    lab.stop("hub", true);
    assert!(
        ping(&lab, "h1", "100.65.12.2", 5),
        "shortcut broken by the hub's death\n{}",
        lab.logs()
    );
    // It comes back: the spokes register again.
    lab.start("hub", &hub);
    lab.wait("3 spokes re-registered", Duration::from_secs(30), || {
        registered_spokes(&lab) == 3
    });
    assert!(
        ping(&lab, "h3", "100.65.11.2", 3),
        "h3 -> h1 after the hub restart"
    );

    // A clean stop removes what the daemon installed.
    lab.stop("s1", false);
    assert!(
        !lab.exec("s1", &["ip", "link"]).contains("dmvpn0"),
        "TUN device left behind"
    );
    assert!(
        !lab.exec("s1", &["ip", "route"]).contains("100.65.0.0/16"),
        "route left behind"
    );
    // The device's removal would take its routes along anyway: the log tells that the daemon
    // itself deleted them (RTM_DELROUTE acknowledged by the kernel).
    let log = lab.log("s1");
    assert!(
        log.lines()
            .any(|l| l.contains("kernel route removed") && l.contains("100.65.0.0/16")),
        "s1 did not remove its static route itself:\n{log}"
    );
    assert!(
        !log.contains("removing kernel route"),
        "a route removal failed:\n{log}"
    );
    assert!(!lab.sock("s1").exists(), "control socket left behind");
}

const KEY_A: &str = "1111111111111111111111111111111111111111111111111111111111111111a1a2a3a4";
const KEY_B: &str = "2222222222222222222222222222222222222222222222222222222222222222b1b2b3b4";
const KEY_C: &str = "3333333333333333333333333333333333333333333333333333333333333333c1c2c3c4";

/// `[[ipsec.sa]]` text.
fn sa(peer: &str, spi_in: u32, spi_out: u32, key_in: &str, key_out: &str) -> String {
    format!(
        "[[ipsec.sa]]\npeer = \"{peer}\"\nspi_in = {spi_in}\nspi_out = {spi_out}\n\
         algorithm = \"aes256-gcm\"\nkey_in = \"{key_in}\"\nkey_out = \"{key_out}\"\n"
    )
}

#[test]
fn ipsec_required_puts_only_esp_on_the_wire() {
    if !lab::enabled(
        "interop_lab::ipsec_required_puts_only_esp_on_the_wire",
        &["ip", "ping", "sysctl", "tcpdump"],
    ) {
        return;
    }
    let mut lab = topology("e", 2);
    // Hub <-> s1: SPIs 0x1001/0x1101; hub <-> s2: 0x1002/0x1102; s1 <-> s2: 0x1212/0x1221.
    let hub_extra = format!(
        "[ipsec]\npolicy = \"required\"\n{}{}",
        sa("198.51.100.11", 0x1101, 0x1001, KEY_A, KEY_A),
        sa("198.51.100.12", 0x1102, 0x1002, KEY_B, KEY_B)
    );
    let s1_extra = format!(
        "[ipsec]\npolicy = \"required\"\n{}{}",
        sa("198.51.100.1", 0x1001, 0x1101, KEY_A, KEY_A),
        sa("198.51.100.12", 0x1221, 0x1212, KEY_C, KEY_C)
    );
    let s2_extra = format!(
        "[ipsec]\npolicy = \"required\"\n{}{}",
        sa("198.51.100.1", 0x1002, 0x1102, KEY_B, KEY_B),
        sa("198.51.100.11", 0x1212, 0x1221, KEY_C, KEY_C)
    );
    let pcap = lab.dir.join("bridge.pcap");
    let tcpdump = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.name("inet"),
            "tcpdump",
            "-i",
            "br0",
            "-U",
            "-n",
            "-w",
        ])
        .arg(&pcap)
        .arg("ip")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dump = lab.keep(tcpdump);
    std::thread::sleep(Duration::from_millis(1000));
    lab.start("hub", &hub_config(&lab, &[1, 2], &hub_extra));
    lab.start("s1", &spoke_config(&lab, 1, "198.51.100.11", &s1_extra));
    lab.start("s2", &spoke_config(&lab, 2, "198.51.100.12", &s2_extra));
    lab.wait(
        "2 spokes registered over ESP",
        Duration::from_secs(20),
        || registered_spokes(&lab) == 2,
    );
    assert!(
        ping(&lab, "h1", "100.65.12.2", 5),
        "h1 -> h2 over ESP\n{}",
        lab.logs()
    );
    lab.wait("s1's shortcut over ESP", Duration::from_secs(10), || {
        let _ = ping(&lab, "h1", "100.65.12.2", 1);
        has_shortcut(&lab, "s1", "100.65.12.0/24")
    });
    assert!(
        ping(&lab, "h1", "100.65.12.2", 5),
        "over the protected shortcut"
    );
    std::thread::sleep(Duration::from_millis(500));
    lab.interrupt(dump);
    let count = |filter: &str| -> usize {
        let out = Command::new("tcpdump")
            .args(["-n", "-r"])
            .arg(&pcap)
            .arg(filter)
            .stderr(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let esp = count("esp");
    // Everything the routers send (link-local noise such as IGMP from 0.0.0.0 aside).
    let clear = count("src net 198.51.100.0/24 and not esp");
    assert!(esp >= 20, "expected ESP packets on the bridge, saw {esp}");
    assert_eq!(clear, 0, "packets other than ESP between the routers");
    assert!(
        count("src net 198.51.100.0/24 and proto 47") == 0,
        "GRE in clear"
    );
    let s1 = lab.show_json("s1", "stats");
    assert!(s1["stats"]["esp_sealed"].as_u64().unwrap() > 0, "{s1}");
    assert!(try_sh(&["true"]));
}

#[test]
fn spoke_behind_nat_registers() {
    if !lab::enabled("interop_lab::spoke_behind_nat_registers", TOOLS) {
        return;
    }
    let masq = if lab::which("nft") {
        "nft"
    } else if lab::which("iptables") {
        "iptables"
    } else {
        println!(
            "interop_lab::spoke_behind_nat_registers: SKIPPED the NAT case: neither nft nor \
             iptables is installed (apt-get install nftables)"
        );
        return;
    };
    let mut lab = topology("n", 1);
    // Spoke 3 sits behind a masquerading NAT router on 198.51.100.13.
    lab.ns("nat");
    lab.on_internet("nat", "198.51.100.13");
    lab.ns("s3");
    lab.veth("nat", "in0", "s3", "up0");
    lab.addr("nat", "in0", "100.66.3.1/24");
    lab.addr("s3", "up0", "100.66.3.2/24");
    lab.exec(
        "s3",
        &["ip", "route", "add", "default", "via", "100.66.3.1"],
    );
    lab.exec("nat", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    if masq == "nft" {
        lab.exec("nat", &["nft", "add table ip nat"]);
        lab.exec(
            "nat",
            &[
                "nft",
                "add chain ip nat post { type nat hook postrouting priority 100; }",
            ],
        );
        lab.exec(
            "nat",
            &["nft", "add rule ip nat post oifname up0 masquerade"],
        );
    } else {
        lab.exec(
            "nat",
            &[
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                "up0",
                "-j",
                "MASQUERADE",
            ],
        );
    }
    lab.lan("s3", "h3", "100.65.13");
    lab.start("hub", &hub_config(&lab, &[1, 3], ""));
    lab.start("s1", &spoke_config(&lab, 1, "198.51.100.11", ""));
    lab.start("s3", &spoke_config(&lab, 3, "100.66.3.2", ""));
    lab.wait("both spokes registered", Duration::from_secs(20), || {
        registered_spokes(&lab) == 2
    });
    let d = lab.show_json("hub", "nhrp");
    let regs = d["registrations"].as_array().unwrap();
    let s3 = regs
        .iter()
        .find(|r| r["protocol"] == "100.64.0.13")
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(s3["nbma"], "100.66.3.2", "{d}");
    assert_eq!(s3["nat_nbma"], "198.51.100.13", "{d}");
    assert!(
        ping(&lab, "h1", "100.65.13.2", 3),
        "h1 -> h3 via the hub through NAT\n{}",
        lab.logs()
    );
}

/// Hub 2001:db8::1 and spokes 2001:db8::1n on an IPv6-only bridge; the overlay stays IPv4.
/// With `ipsec`, GRE is carried in ESP (raw IPv6 protocol 50 sockets), else in the clear
/// (raw IPv6 protocol 47 sockets).
fn ipv6_underlay(tag: &str, ipsec: bool) {
    let mut lab = Lab::new(tag);
    lab.ns("hub");
    lab.on_internet6("hub", "2001:db8::1");
    for i in 1..=2u8 {
        let s = format!("s{i}");
        lab.ns(&s);
        lab.on_internet6(&s, &format!("2001:db8::1{i}"));
        lab.lan(&s, &format!("h{i}"), &format!("100.65.1{i}"));
    }
    let (hub_extra, s1_extra, s2_extra) = if ipsec {
        (
            format!(
                "[ipsec]\npolicy = \"required\"\n{}{}",
                sa("2001:db8::11", 0x1101, 0x1001, KEY_A, KEY_A),
                sa("2001:db8::12", 0x1102, 0x1002, KEY_B, KEY_B)
            ),
            format!(
                "[ipsec]\npolicy = \"required\"\n{}{}",
                sa("2001:db8::1", 0x1001, 0x1101, KEY_A, KEY_A),
                sa("2001:db8::12", 0x1221, 0x1212, KEY_C, KEY_C)
            ),
            format!(
                "[ipsec]\npolicy = \"required\"\n{}{}",
                sa("2001:db8::1", 0x1002, 0x1102, KEY_B, KEY_B),
                sa("2001:db8::11", 0x1212, 0x1221, KEY_C, KEY_C)
            ),
        )
    } else {
        Default::default()
    };
    let v6 = |c: String| c.replace("nbma = \"198.51.100.1\"", "nbma = \"2001:db8::1\"");
    lab.start("hub", &v6(hub_config(&lab, &[1, 2], &hub_extra)));
    lab.start("s1", &v6(spoke_config(&lab, 1, "2001:db8::11", &s1_extra)));
    lab.start("s2", &v6(spoke_config(&lab, 2, "2001:db8::12", &s2_extra)));
    lab.wait(
        "2 spokes registered over IPv6",
        Duration::from_secs(20),
        || registered_spokes(&lab) == 2,
    );
    let nhrp = lab.show_json("hub", "dmvpn").to_string();
    assert!(
        nhrp.contains("2001:db8::11"),
        "the hub records s1's IPv6 NBMA: {nhrp}"
    );
    assert!(
        ping(&lab, "h1", "100.65.12.2", 3),
        "h1 -> h2 over the IPv6 underlay\n{}",
        lab.logs()
    );
    lab.wait("s1's shortcut over IPv6", Duration::from_secs(10), || {
        let _ = ping(&lab, "h1", "100.65.12.2", 1);
        let _ = ping(&lab, "h2", "100.65.11.2", 1);
        has_shortcut(&lab, "s1", "100.65.12.0/24") && has_shortcut(&lab, "s2", "100.65.11.0/24")
    });
    let before = hub_hairpinned(&lab);
    assert!(ping(&lab, "h1", "100.65.12.2", 5), "ping over the shortcut");
    assert_eq!(hub_hairpinned(&lab), before, "data crossed the hub");
    let s1 = lab.show_json("s1", "stats");
    assert!(s1["stats"]["data_direct"].as_u64().unwrap() >= 5, "{s1}");
}

#[test]
fn ipv6_underlay_gre() {
    if !lab::enabled("interop_lab::ipv6_underlay_gre", TOOLS) {
        return;
    }
    ipv6_underlay("6", false);
}

#[test]
fn ipv6_underlay_esp() {
    if !lab::enabled("interop_lab::ipv6_underlay_esp", TOOLS) {
        return;
    }
    ipv6_underlay("6e", true);
}
