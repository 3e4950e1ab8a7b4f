//! Interop: the simulator's pcap of whole DMVPN runs, dissected by tshark (Wireshark 4.0).
//!
//! * A cleartext phase 3 run (registration, a ping via the hub, redirect, resolution,
//!   shortcut, direct pings): every frame dissects as GRE carrying NHRP or IPv4/ICMP, with no
//!   malformed packet and no expert warning or error, and every NHRP packet type of the run
//!   shows up (registration, resolution, traffic indication).
//! * The same run with IPsec required and manual SAs (AES-256-GCM, keys of
//!   `common::manual_sa_pair`): tshark, given an `esp_sa` table built from those keys (as
//!   `shared/lab/tshark/decode.sh` does), decrypts every ESP frame with `esp.icv_good` true
//!   and finds GRE inside.
//!
//! Runs only with `DMVPN_INTEROP` set; then a missing tshark is a failure.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use common::*;
use dmvpn_core::sim::{CapturePoint, Link};
use dmvpn_core::{IpsecPolicy, NextHop, Phase};

/// tshark expert severities (epan/proto.h): warning.
const PI_WARN: u32 = 0x0060_0000;

fn interop_enabled(name: &str) -> bool {
    if std::env::var_os("DMVPN_INTEROP").is_none() {
        println!("{name}: skipped (set DMVPN_INTEROP=1 to run the tshark checks)");
        return false;
    }
    let version = Command::new("tshark").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "DMVPN_INTEROP is set but tshark cannot be run: {version:?}"
    );
    true
}

/// A phase 3 run with 3 spokes; returns the pcap of the underlay.
fn phase3_run(seed: u64, ipsec: bool) -> Vec<u8> {
    let mut t = Topology::with(
        seed,
        Phase::Three,
        3,
        Link::new().latency(ms(10)),
        |_, c| {
            if ipsec {
                c.ipsec = IpsecPolicy::Required;
            }
        },
    );
    t.sim.enable_pcap(CapturePoint::Send);
    if ipsec {
        for i in 1..=3 {
            let s = t.spoke(i);
            install_pair(&mut t.sim, t.hub, ip(HUB_NBMA), s, spoke_nbma(i));
        }
        let (s1, s2) = (t.spoke(1), t.spoke(2));
        install_pair(&mut t.sim, s1, spoke_nbma(1), s2, spoke_nbma(2));
    }
    t.wait_registered(secs(5));
    assert_eq!(t.ping(1, 2, 1), Some(ms(40)));
    let s1 = t.spoke(1);
    t.sim
        .run_until(secs(5), |s| {
            s.device(s1).route_to(spoke_host(2)).map(|r| r.next_hop)
                == Some(NextHop::Nbma(spoke_nbma(2)))
        })
        .unwrap();
    t.sim.run_for(secs(2)).unwrap();
    for seq in 2..5 {
        assert_eq!(t.ping(1, 2, seq), Some(ms(20)));
    }
    assert_eq!(t.ping(3, 1, 1), Some(ms(40)));
    t.sim.run_for(secs(1)).unwrap();
    t.sim.take_pcap().unwrap()
}

fn tshark(dir: &Path, pcap: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.env("WIRESHARK_CONFIG_DIR", dir)
        .args(["-n", "-r"])
        .arg(pcap)
        .args(["-T", "fields", "-E", "separator=;", "-E", "occurrence=a"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .expect("tshark not found (install tshark or unset DMVPN_INTEROP)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split(';').map(str::to_owned).collect())
        .collect()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dmvpn-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_clean(frame: &[String], fields: &[&str], what: &str) {
    let get = |name: &str| frame[fields.iter().position(|f| *f == name).unwrap()].as_str();
    assert_eq!(get("_ws.malformed"), "", "malformed: {what} {frame:?}");
    for s in get("_ws.expert.severity")
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let s: u32 = s.parse().unwrap();
        assert!(
            s < PI_WARN,
            "expert warning/error {:?} in {what} {frame:?}",
            get("_ws.expert.message")
        );
    }
}

#[test]
fn cleartext_phase3_run_dissects_without_errors() {
    if !interop_enabled("cleartext_phase3_run_dissects_without_errors") {
        return;
    }
    let dir = temp_dir("tshark-clear");
    let pcap = dir.join("phase3.pcap");
    std::fs::write(&pcap, phase3_run(101, false)).unwrap();
    std::fs::write(dir.join("preferences"), "nhrp.auth_ext_has_addr: FALSE\n").unwrap();
    let fields = [
        "frame.number",
        "ip.proto",
        "gre.proto",
        "nhrp.hdr.op.type",
        "icmp.type",
        "_ws.malformed",
        "_ws.expert.severity",
        "_ws.expert.message",
    ];
    let frames = tshark(&dir, &pcap, &fields);
    assert!(frames.len() > 20, "{} frames", frames.len());
    let mut nhrp_types = std::collections::BTreeSet::new();
    let mut icmp = 0;
    for f in &frames {
        let what = format!("frame {}", f[0]);
        assert!(f[1].starts_with("47"), "outer GRE: {what} {f:?}");
        match f[2].as_str() {
            "0x2001" => {
                let op: u8 = f[3]
                    .parse()
                    .unwrap_or_else(|_| panic!("NHRP op in {what} {f:?}"));
                nhrp_types.insert(op);
            }
            "0x0800" => {
                assert!(!f[4].is_empty(), "ICMP inside: {what} {f:?}");
                icmp += 1;
            }
            other => panic!("unexpected GRE protocol {other:?} in {what} {f:?}"),
        }
        assert_clean(f, &fields, &what);
    }
    // Registration request/reply, resolution request/reply, traffic indication.
    for op in [1, 2, 3, 4, 8] {
        assert!(
            nhrp_types.contains(&op),
            "NHRP type {op} missing: {nhrp_types:?}"
        );
    }
    assert!(icmp >= 10);
    println!(
        "tshark dissected {} frames cleanly (NHRP types {nhrp_types:?}, {icmp} ICMP)",
        frames.len()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ipsec_phase3_run_decrypts_with_the_manual_keys() {
    if !interop_enabled("ipsec_phase3_run_decrypts_with_the_manual_keys") {
        return;
    }
    let dir = temp_dir("tshark-ipsec");
    let pcap = dir.join("phase3-ipsec.pcap");
    std::fs::write(&pcap, phase3_run(102, true)).unwrap();
    let hub: IpAddr = ip(HUB_NBMA);
    let mut pairs = vec![];
    for i in 1..=3 {
        pairs.push((hub, spoke_nbma(i)));
    }
    pairs.push((spoke_nbma(1), spoke_nbma(2)));
    let mut esp_sa = String::new();
    for (a, b) in pairs {
        for (from, to) in [(a, b), (b, a)] {
            esp_sa.push_str(&format!(
                "\"IPv4\",\"{from}\",\"{to}\",\"0x{:08x}\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x{}\",\"NULL\",\"\"\n",
                manual_spi(from, to),
                manual_key(from, to)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ));
        }
    }
    std::fs::write(dir.join("esp_sa"), &esp_sa).unwrap();
    std::fs::write(
        dir.join("preferences"),
        "esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\nnhrp.auth_ext_has_addr: FALSE\n",
    )
    .unwrap();
    let fields = [
        "frame.number",
        "esp.spi",
        "esp.icv_good",
        "gre.proto",
        "_ws.malformed",
        "_ws.expert.severity",
        "_ws.expert.message",
    ];
    let frames = tshark(&dir, &pcap, &fields);
    assert!(frames.len() > 20, "{} frames", frames.len());
    for f in &frames {
        let what = format!("frame {}", f[0]);
        assert!(!f[1].is_empty(), "ESP: {what} {f:?}");
        assert_eq!(f[2], "1", "ICV good: {what} {f:?}\n{esp_sa}");
        assert!(
            f[3] == "0x2001" || f[3] == "0x0800",
            "GRE inside after decryption: {what} {f:?}"
        );
        assert_clean(f, &fields, &what);
    }
    println!(
        "tshark decrypted and verified {} ESP frames of the IPsec run",
        frames.len()
    );
    std::fs::remove_dir_all(&dir).ok();
}
