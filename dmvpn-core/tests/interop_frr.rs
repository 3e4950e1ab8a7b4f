//! `dmvpnd` against FRR 8.4 nhrpd in the lab VM (`shared/lab/vm`: QEMU guest with kernel
//! mGRE key 42, nhrpd as hub 10.255.0.1 on 100.64.200.2). Root; runs only with DMVPN_INTEROP.
//!
//! Prerequisites (CI): `shared/lab/vm/host-deps.sh` (qemu-system-x86 from bookworm-backports,
//! debootstrap, ...); the image is built here with `build-image.sh` when `$VMLAB_DIR/image`
//! is empty. Checks:
//! 1. our spoke A (10.255.0.11 on 100.64.200.1, namespace vm-lab) and our spoke B
//!    (10.255.0.12 on 100.64.201.2, routed behind vm-lab) register with nhrpd; FRR's
//!    `show dmvpn` lists both;
//! 2. A resolves B through nhrpd (phase 2): nhrpd forwards the Resolution Request to B, and
//!    B's answer reaches A (A's NHRP cache holds B's NBMA address);
//! 3. a ping from the guest's tunnel address 10.255.0.1 reaches the host on A's LAN;
//! 4. nhrpd as a spoke (NHS 10.255.0.254 @ 100.64.200.1) registers with our hub.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod lab;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lab::{DMVPND, sh, try_sh};

const VM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/lab/vm");
const NS: &str = "vm-lab";

fn vmlab_dir() -> PathBuf {
    std::env::var_os("VMLAB_DIR").map_or_else(|| std::env::temp_dir().join("vmlab"), PathBuf::from)
}

/// Runs `cmd` in the guest; returns (exit status, output).
fn vm(cmd: &str) -> (i32, String) {
    let sock = vmlab_dir().join("run/ctl.sock");
    let out = Command::new("python3")
        .arg(format!("{VM}/vmexec.py"))
        .arg("--sock")
        .arg(&sock)
        .args(["--timeout", "60", "--", cmd])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(255),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Everything this test starts, stopped and removed on drop.
struct Guard {
    dir: PathBuf,
    daemons: Vec<(String, Child)>,
    namespaces: Vec<String>,
    vm_up: bool,
}

impl Guard {
    fn ns(&mut self, name: &str) {
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        sh(&["ip", "netns", "add", name]);
        self.namespaces.push(name.to_string());
        sh(&["ip", "-n", name, "link", "set", "lo", "up"]);
    }

    fn start(&mut self, name: &str, ns: &str, config: &str) {
        let cfg = self.dir.join(format!("{name}.toml"));
        std::fs::write(&cfg, config).unwrap();
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let child = lab::spawn_dmvpnd(ns, &cfg, log);
        self.daemons.push((name.to_string(), child));
        let sock = self.sock(name);
        self.wait(&format!("{name}'s control socket"), 10, || {
            try_sh(&[DMVPND, "show", "stats", "--control", sock.to_str().unwrap()])
        });
    }

    fn stop(&mut self, name: &str) {
        if let Some(i) = self.daemons.iter().position(|(n, _)| n == name) {
            let (_, mut c) = self.daemons.remove(i);
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && !matches!(c.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn sock(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sock"))
    }

    fn show_json(&self, name: &str, what: &str) -> serde_json::Value {
        let out = sh(&[
            DMVPND,
            "show",
            what,
            "--json",
            "--control",
            self.sock(name).to_str().unwrap(),
        ]);
        serde_json::from_str(&out).unwrap()
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for (n, _) in &self.daemons {
            let t = std::fs::read_to_string(self.dir.join(format!("{n}.log"))).unwrap_or_default();
            let tail: Vec<&str> = t.lines().rev().take(30).collect();
            s.push_str(&format!("--- {n}.log\n"));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s.push_str("--- nhrpd (guest)\n");
        s.push_str(&vm("tail -n 30 /var/log/frr/frr.log").1);
        s
    }

    fn wait(&self, what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let names: Vec<String> = self.daemons.iter().map(|(n, _)| n.clone()).collect();
        for n in names {
            self.stop(&n);
        }
        if self.vm_up {
            let _ = Command::new("bash").arg(format!("{VM}/down.sh")).status();
        }
        for n in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
        if std::thread::panicking() {
            eprintln!("logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn spoke(g: &Guard, name: &str, n: u8, nbma: &str, lan: &str, extra: &str) -> String {
    format!(
        r#"role = "spoke"
phase = 2
tunnel_address = "10.255.0.{n}/24"
nbma = "{nbma}"
gre_key = 42
holding_time = 600
registration_interval = 5
local_networks = ["{lan}"]
[[nhs]]
tunnel_address = "10.255.0.1"
nbma = "100.64.200.2"
[device]
name = "dmvpn-{name}"
control_socket = "{}"
{extra}"#,
        g.sock(name).display()
    )
}

#[test]
fn dmvpnd_with_frr_nhrpd() {
    if !lab::enabled(
        "interop_frr::dmvpnd_with_frr_nhrpd",
        &["ip", "ping", "python3", "qemu-system-x86_64"],
    ) {
        return;
    }
    assert!(
        Path::new(VM).join("up.sh").exists(),
        "the lab VM scripts are missing: {VM}"
    );
    let image = vmlab_dir().join("image");
    if !image.join("initrd.img").exists() {
        println!("building the lab VM image (shared/lab/vm/build-image.sh)");
        sh(&["bash", &format!("{VM}/build-image.sh")]);
    }
    let dir = std::env::temp_dir().join(format!("dmvpnd-frr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut g = Guard {
        dir,
        daemons: Vec::new(),
        namespaces: Vec::new(),
        vm_up: false,
    };
    let t0 = Instant::now();
    g.vm_up = true;
    sh(&["bash", &format!("{VM}/up.sh")]);
    println!("VM hub up after {:?}", t0.elapsed());

    // A's LAN host, and spoke B's namespace routed behind vm-lab.
    g.ns("frr-h1");
    sh(&[
        "ip", "link", "add", "lan0", "netns", NS, "type", "veth", "peer", "name", "eth0", "netns",
        "frr-h1",
    ]);
    g.ns("frr-s2");
    sh(&[
        "ip", "link", "add", "s2", "netns", NS, "type", "veth", "peer", "name", "up0", "netns",
        "frr-s2",
    ]);
    for (ns, dev, addr) in [
        (NS, "lan0", "10.11.0.1/24"),
        ("frr-h1", "eth0", "10.11.0.2/24"),
        (NS, "s2", "100.64.201.1/24"),
        ("frr-s2", "up0", "100.64.201.2/24"),
    ] {
        sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
        sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    sh(&[
        "ip",
        "-n",
        "frr-h1",
        "route",
        "add",
        "default",
        "via",
        "10.11.0.1",
    ]);
    sh(&[
        "ip",
        "-n",
        "frr-s2",
        "route",
        "add",
        "default",
        "via",
        "100.64.201.1",
    ]);
    sh(&[
        "ip",
        "netns",
        "exec",
        NS,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    let (rc, out) = vm("ip route replace 100.64.201.0/24 via 100.64.200.1");
    assert_eq!(rc, 0, "guest route: {out}");

    // 1. Both of our spokes register with nhrpd.
    let a = spoke(&g, "a", 11, "100.64.200.1", "10.11.0.0/24", "");
    g.start("a", NS, &a);
    // B reaches A's LAN through A (a phase 2 route: the next hop is the other spoke).
    let b = spoke(
        &g,
        "b",
        12,
        "100.64.201.2",
        "10.12.0.0/24",
        "[[static_routes]]\nprefix = \"10.11.0.0/24\"\nnext_hop = \"10.255.0.11\"\n",
    );
    g.start("b", "frr-s2", &b);
    g.wait("FRR's show dmvpn to list both spokes", 30, || {
        let (_, out) = vm("vtysh -c 'show dmvpn'");
        out.contains("100.64.200.1") && out.contains("100.64.201.2")
    });
    let nhs_up = |name: &str| {
        g.show_json(name, "dmvpn")["peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["kind"] == "Nhs" && p["state"] == "Up"))
    };
    assert!(
        nhs_up("a") && nhs_up("b"),
        "NHS state on our spokes\n{}",
        g.logs()
    );
    let (_, cache) = vm("vtysh -c 'show ip nhrp'");
    assert!(
        cache.contains("10.255.0.11") && cache.contains("10.255.0.12"),
        "{cache}"
    );

    // 2. A resolves B through nhrpd, which forwards the request to B; B answers A. (Pings
    // come from A's LAN host: the node consumes overlay packets for its own tunnel address.)
    let ping_b = |count: &str| {
        try_sh(&[
            "ip",
            "netns",
            "exec",
            "frr-h1",
            "ping",
            "-c",
            count,
            "-i",
            "0.2",
            "-W",
            "2",
            "10.255.0.12",
        ])
    };
    g.wait("A's NHRP cache entry for B", 30, || {
        let _ = ping_b("1");
        g.show_json("a", "nhrp")["cache"]
            .as_array()
            .is_some_and(|c| {
                c.iter()
                    .any(|e| e["nbma"] == "100.64.201.2" && e["negative"].is_null())
            })
    });
    assert!(ping_b("3"), "A's LAN -> B over the tunnel\n{}", g.logs());

    // 3. The guest's tunnel address reaches the host on A's LAN.
    let (rc, out) = vm("ip route replace 10.11.0.0/24 via 10.255.0.11 dev gre1 onlink");
    assert_eq!(rc, 0, "{out}");
    let (rc, out) = vm("ping -c 3 -i 0.3 -W 2 -I 10.255.0.1 10.11.0.2");
    assert_eq!(rc, 0, "guest -> A's LAN host:\n{out}\n{}", g.logs());

    // 4. nhrpd as a spoke of our hub (10.255.0.254 on 100.64.200.1, where A was).
    g.stop("a");
    let hub = format!(
        r#"role = "hub"
phase = 2
tunnel_address = "10.255.0.254/24"
nbma = "100.64.200.1"
gre_key = 42
holding_time = 600
registration_no_unique = true
[device]
name = "dmvpn-hub"
control_socket = "{}"
"#,
        g.sock("hub").display()
    );
    g.start("hub", NS, &hub);
    let (rc, out) =
        vm("vtysh -c 'conf t' -c 'interface gre1' -c 'ip nhrp nhs 10.255.0.254 nbma 100.64.200.1'");
    assert_eq!(rc, 0, "configuring nhrpd as a spoke: {out}");
    g.wait("nhrpd registered with our hub", 60, || {
        g.show_json("hub", "dmvpn")["peers"]
            .as_array()
            .is_some_and(|p| {
                p.iter().any(|p| {
                    p["kind"] == "Registered"
                        && p["tunnel"] == "10.255.0.1"
                        && p["nbma"] == "100.64.200.2"
                })
            })
    });
    let table = sh(&[
        DMVPND,
        "show",
        "dmvpn",
        "--control",
        g.sock("hub").to_str().unwrap(),
    ]);
    assert!(
        table.contains("100.64.200.2") && table.contains("10.255.0.1"),
        "{table}"
    );
    let (_, nhs) = vm("vtysh -c 'show ip nhrp nhs'");
    println!(
        "FRR as spoke:\n{nhs}\nour hub:\n{table}\ntotal {:?}",
        t0.elapsed()
    );
}
