//! A network-namespace lab for the `dmvpnd` driver tests (root only).
//!
//! An "internet" namespace holds a bridge; a hub and N spoke router namespaces hang off it
//! with veth pairs, each spoke with a LAN host namespace behind it. Addresses are
//! documentation (198.51.100.0/24 underlay) and CGNAT (100.64.0.0/10 overlay and LANs)
//! ranges, inside the namespaces only. `Drop` kills the processes the lab started (by their
//! handle) and deletes every namespace it created, even when the test fails.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon under test.
pub const DMVPND: &str = env!("CARGO_BIN_EXE_dmvpnd");

/// True when the interop tests should run; prints the skip line otherwise. With
/// DMVPN_INTEROP set, missing root or tools fail the test.
pub fn enabled(test: &str, tools: &[&str]) -> bool {
    if std::env::var_os("DMVPN_INTEROP").is_none() {
        println!("{test}: skipped (set DMVPN_INTEROP=1, as root, to run the namespace lab)");
        return false;
    }
    assert!(
        nix_is_root(),
        "{test}: DMVPN_INTEROP is set but this test needs root (network namespaces, TUN, raw sockets)"
    );
    for t in tools {
        assert!(
            which(t),
            "{test}: DMVPN_INTEROP is set but `{t}` is not installed"
        );
    }
    assert!(
        Path::new("/dev/net/tun").exists(),
        "{test}: /dev/net/tun is missing (TUN driver)"
    );
    true
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Whether a program is on PATH.
pub fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Runs a command, panicking with its output when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "`{}` failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command and says whether it succeeded.
pub fn try_sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One lab: namespaces and processes, removed on drop.
pub struct Lab {
    pub prefix: String,
    pub dir: PathBuf,
    namespaces: Vec<String>,
    daemons: Vec<(String, Child)>,
    others: Vec<Child>,
}

impl Lab {
    /// A new, empty lab; `tag` keeps parallel tests apart.
    pub fn new(tag: &str) -> Self {
        let prefix = format!("dl{}{tag}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("dmvpnd-lab-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut lab = Self {
            prefix,
            dir,
            namespaces: Vec::new(),
            daemons: Vec::new(),
            others: Vec::new(),
        };
        let inet = lab.ns("inet");
        sh(&["ip", "-n", &inet, "link", "add", "br0", "type", "bridge"]);
        sh(&["ip", "-n", &inet, "link", "set", "br0", "up"]);
        lab
    }

    /// The full name of namespace `short`.
    pub fn name(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    /// Creates namespace `short` with loopback up.
    pub fn ns(&mut self, short: &str) -> String {
        let n = self.name(short);
        sh(&["ip", "netns", "add", &n]);
        self.namespaces.push(n.clone());
        sh(&["ip", "-n", &n, "link", "set", "lo", "up"]);
        n
    }

    /// A veth pair between namespaces, both ends up.
    pub fn veth(&self, a: &str, a_if: &str, b: &str, b_if: &str) {
        let (na, nb) = (self.name(a), self.name(b));
        sh(&[
            "ip", "link", "add", a_if, "netns", &na, "type", "veth", "peer", "name", b_if, "netns",
            &nb,
        ]);
        sh(&["ip", "-n", &na, "link", "set", a_if, "up"]);
        sh(&["ip", "-n", &nb, "link", "set", b_if, "up"]);
    }

    /// Connects router `short` (its interface `up0`) to the internet bridge.
    fn attach_to_internet(&self, short: &str) {
        let port = format!("p-{short}");
        self.veth(short, "up0", "inet", &port);
        sh(&[
            "ip",
            "-n",
            &self.name("inet"),
            "link",
            "set",
            &port,
            "master",
            "br0",
        ]);
    }

    /// Puts router `short` on the internet bridge with underlay address `addr/24`.
    pub fn on_internet(&self, short: &str, addr: &str) {
        self.attach_to_internet(short);
        self.addr(short, "up0", &format!("{addr}/24"));
    }

    /// Puts router `short` on the internet bridge with IPv6 underlay address `addr/64`
    /// (without duplicate address detection, so the daemon can bind it at once).
    pub fn on_internet6(&self, short: &str, addr: &str) {
        self.attach_to_internet(short);
        sh(&[
            "ip",
            "-n",
            &self.name(short),
            "-6",
            "addr",
            "add",
            &format!("{addr}/64"),
            "dev",
            "up0",
            "nodad",
        ]);
    }

    pub fn addr(&self, short: &str, dev: &str, cidr: &str) {
        sh(&[
            "ip",
            "-n",
            &self.name(short),
            "addr",
            "add",
            cidr,
            "dev",
            dev,
        ]);
    }

    pub fn exec(&self, short: &str, args: &[&str]) -> String {
        let n = self.name(short);
        let mut v = vec!["ip", "netns", "exec", &n];
        v.extend_from_slice(args);
        sh(&v)
    }

    pub fn try_exec(&self, short: &str, args: &[&str]) -> bool {
        let n = self.name(short);
        let mut v = vec!["ip", "netns", "exec", &n];
        v.extend_from_slice(args);
        try_sh(&v)
    }

    /// A LAN host namespace `host` behind router `router` on `net` (x.y.z.0/24: router .1,
    /// host .2), with forwarding on in the router.
    pub fn lan(&mut self, router: &str, host: &str, net: &str) {
        self.ns(host);
        self.veth(router, "lan0", host, "eth0");
        self.addr(router, "lan0", &format!("{net}.1/24"));
        self.addr(host, "eth0", &format!("{net}.2/24"));
        sh(&[
            "ip",
            "-n",
            &self.name(host),
            "route",
            "add",
            "default",
            "via",
            &format!("{net}.1"),
        ]);
        self.exec(router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    }

    /// Writes `config` and starts `dmvpnd run` in namespace `short` (its log in the lab dir).
    pub fn start(&mut self, short: &str, config: &str) {
        let cfg = self.dir.join(format!("{short}.toml"));
        std::fs::write(&cfg, config).unwrap();
        let check = Command::new(DMVPND)
            .arg("check")
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "dmvpnd check {short}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{short}.log")))
            .unwrap();
        let child = spawn_dmvpnd(&self.name(short), &cfg, log);
        self.daemons.push((short.to_string(), child));
        // Ready when its control socket answers.
        let sock = self.sock(short);
        self.wait(
            &format!("{short}'s control socket"),
            Duration::from_secs(10),
            || {
                let alive = self.daemon_alive(short);
                assert!(alive, "dmvpnd in {short} exited:\n{}", self.log(short));
                try_sh(&[DMVPND, "show", "stats", "--control", sock.to_str().unwrap()])
            },
        );
    }

    fn daemon_alive(&self, short: &str) -> bool {
        self.daemons
            .iter()
            .any(|(n, c)| n == short && std::fs::metadata(format!("/proc/{}", c.id())).is_ok())
    }

    /// Stops the daemon of `short`: SIGTERM (clean) or SIGKILL.
    pub fn stop(&mut self, short: &str, kill: bool) {
        let Some(i) = self.daemons.iter().position(|(n, _)| n == short) else {
            return;
        };
        let (_, mut child) = self.daemons.remove(i);
        if kill {
            let _ = child.kill();
        } else {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Keeps a helper process (e.g. tcpdump) to be killed at the end.
    pub fn keep(&mut self, child: Child) -> usize {
        self.others.push(child);
        self.others.len() - 1
    }

    /// Stops a kept helper with SIGINT and waits for it.
    pub fn interrupt(&mut self, index: usize) {
        let c = &mut self.others[index];
        let _ = Command::new("kill")
            .args(["-INT", &c.id().to_string()])
            .status();
        let _ = c.wait();
    }

    pub fn sock(&self, short: &str) -> PathBuf {
        self.dir.join(format!("{short}.sock"))
    }

    pub fn log(&self, short: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{short}.log"))).unwrap_or_default()
    }

    /// `dmvpnd show WHAT --json` of router `short`.
    pub fn show_json(&self, short: &str, what: &str) -> serde_json::Value {
        let out = sh(&[
            DMVPND,
            "show",
            what,
            "--json",
            "--control",
            self.sock(short).to_str().unwrap(),
        ]);
        serde_json::from_str(&out).unwrap()
    }

    /// `dmvpnd show WHAT` (the table) of router `short`.
    pub fn show(&self, short: &str, what: &str) -> String {
        sh(&[
            DMVPND,
            "show",
            what,
            "--control",
            self.sock(short).to_str().unwrap(),
        ])
    }

    /// Polls `cond` every 200 ms until it holds or `timeout` passes (then panics with the
    /// daemons' logs).
    pub fn wait(&self, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond() {
                return;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every daemon log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for e in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                let _ = writeln!(s, "--- {} (last 40 lines)", p.display());
                for l in tail.into_iter().rev() {
                    let _ = writeln!(s, "{l}");
                }
            }
        }
        s
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, c) in &mut self.daemons {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        for (_, c) in &mut self.daemons {
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && !matches!(c.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for c in &mut self.others {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("lab files kept in {}", self.dir.display());
        }
    }
}

/// Starts `dmvpnd run CONFIG` in network namespace `ns`, logging (debug) to `log`.
pub fn spawn_dmvpnd(ns: &str, config: &Path, log: std::fs::File) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns, DMVPND, "run"])
        .arg(config)
        .env("RUST_LOG", "info,dmvpnd=debug")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Config of the lab's hub (tunnel 100.64.0.1, NBMA 198.51.100.1) routing to `spokes`
/// (numbers n: tunnel 100.64.0.1n, LAN 100.65.1n.0/24). `extra` is appended.
pub fn hub_config(lab: &Lab, spokes: &[u8], extra: &str) -> String {
    let mut s = String::from(
        r#"role = "hub"
phase = 3
tunnel_address = "100.64.0.1/24"
nbma = "198.51.100.1"
gre_key = 42
holding_time = 60
registration_no_unique = true
"#,
    );
    for n in spokes {
        let _ = write!(
            s,
            "[[static_routes]]\nprefix = \"100.65.1{n}.0/24\"\nnext_hop = \"100.64.0.1{n}\"\n"
        );
    }
    let _ = write!(
        s,
        "[device]\nname = \"dmvpn0\"\ncontrol_socket = \"{}\"\n{extra}",
        lab.sock("hub").display()
    );
    s
}

/// Config of spoke n (NBMA `nbma`).
pub fn spoke_config(lab: &Lab, n: u8, nbma: &str, extra: &str) -> String {
    format!(
        r#"role = "spoke"
phase = 3
tunnel_address = "100.64.0.1{n}/24"
nbma = "{nbma}"
gre_key = 42
holding_time = 60
registration_interval = 2
local_networks = ["100.65.1{n}.0/24"]
[[nhs]]
tunnel_address = "100.64.0.1"
nbma = "198.51.100.1"
[[static_routes]]
prefix = "100.65.0.0/16"
next_hop = "100.64.0.1"
[device]
name = "dmvpn0"
control_socket = "{}"
{extra}"#,
        lab.sock(&format!("s{n}")).display()
    )
}
