//! The TOML configuration file of `dmvpnd run` / `dmvpnd check`.
//!
//! The top-level keys mirror [`dmvpn_core::Config`] field by field (Cisco-familiar meaning:
//! `tunnel_address` is `ip address`, `nbma` is `tunnel source`, `gre_key` is `tunnel key`,
//! `[[nhs]]` is `ip nhrp nhs .. nbma ..`, `holding_time` is `ip nhrp holdtime` in seconds),
//! so the field named by [`Config::validate`] is the key to fix in the file. Two tables are the
//! driver's own: `[device]` (TUN name, control socket) and `[ipsec]` (the policy and manual
//! SAs, `[[ipsec.sa]]`). Unknown keys are errors, so a typo never silently falls back to a
//! default. See `dmvpn-core/examples/*.toml` and DRIVER.md.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use dmvpn_core::config::ConfigError;
use dmvpn_core::{Config, IpsecPolicy, NhsConfig, Phase, Role, StaticRoute};
use esp::crypto::Secret;
use esp::{Direction, Keys, Lifetimes, Mode, SaParams, Spi, Transform};
use ipnet::IpNet;
use serde::Deserialize;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    role: Role,
    #[serde(default = "default_phase")]
    phase: u8,
    tunnel_address: IpNet,
    nbma: IpAddr,
    gre_key: Option<u32>,
    #[serde(default)]
    nhs: Vec<NhsConfig>,
    /// Seconds.
    holding_time: Option<u64>,
    /// Seconds.
    registration_interval: Option<u64>,
    nhrp_authentication: Option<String>,
    #[serde(default)]
    registration_no_unique: bool,
    #[serde(default)]
    static_routes: Vec<StaticRoute>,
    #[serde(default)]
    local_networks: Vec<IpNet>,
    mtu: Option<u16>,
    max_peers: Option<usize>,
    #[serde(default)]
    device: DeviceFile,
    #[serde(default)]
    ipsec: IpsecFile,
}

fn default_phase() -> u8 {
    3
}

/// `[device]`: the driver's OS objects.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceFile {
    name: Option<String>,
    control_socket: Option<PathBuf>,
}

/// `[ipsec]`: `policy = "none" | "required"` and manual SAs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IpsecFile {
    #[serde(default)]
    policy: IpsecPolicy,
    #[serde(default)]
    sa: Vec<SaFile>,
}

/// `[[ipsec.sa]]`: one manually keyed SA pair with a peer (transport mode, GRE inside).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SaFile {
    /// The peer's NBMA address.
    peer: IpAddr,
    /// Our inbound SPI (the peer's outbound).
    spi_in: u32,
    /// Our outbound SPI (the peer's inbound).
    spi_out: u32,
    /// `aes128-gcm`, `aes256-gcm` or `chacha20-poly1305`.
    algorithm: String,
    /// Hex key of the inbound SA, salt included (AES-GCM: key + 4-byte salt).
    key_in: String,
    /// Hex key of the outbound SA.
    key_out: String,
    /// Send ESP in UDP 4500 (RFC 3948) instead of IP protocol 50.
    #[serde(default)]
    udp: bool,
}

/// One manual SA pair, ready for [`dmvpn_core::Node::install_sa`].
#[derive(Debug, Clone)]
pub(crate) struct ManualSa {
    pub(crate) peer: IpAddr,
    pub(crate) inbound: SaParams,
    pub(crate) outbound: SaParams,
}

/// Everything `dmvpnd run` needs.
#[derive(Debug, Clone)]
pub(crate) struct DriverConfig {
    pub(crate) node: Config,
    pub(crate) device: String,
    pub(crate) control_socket: PathBuf,
    pub(crate) sas: Vec<ManualSa>,
}

/// The default control socket of a device.
pub(crate) fn default_control_socket(device: &str) -> PathBuf {
    PathBuf::from(format!("/run/dmvpnd/{device}.sock"))
}

/// Reads and checks a configuration file. Errors read `field: problem`.
pub(crate) fn load(path: &Path) -> anyhow::Result<DriverConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text)
}

/// Parses and checks the text of a configuration file.
pub(crate) fn parse(text: &str) -> anyhow::Result<DriverConfig> {
    let f: File = toml::from_str(text).map_err(|e| {
        // toml's message names the key and shows the line; keep it on one line.
        anyhow::anyhow!("{}", e.to_string().trim_end())
    })?;
    let mut c = Config::default();
    c.role = f.role;
    c.phase = match f.phase {
        1 => Phase::One,
        2 => Phase::Two,
        3 => Phase::Three,
        _ => bail!(ConfigError {
            field: "phase".into(),
            problem: "must be 1, 2 or 3".into()
        }),
    };
    c.tunnel_address = f.tunnel_address;
    c.nbma = f.nbma;
    c.gre_key = f.gre_key;
    c.nhs = f.nhs;
    if let Some(h) = f.holding_time {
        c.holding_time = Duration::from_secs(h);
    }
    c.registration_interval = f.registration_interval.map(Duration::from_secs);
    c.nhrp_authentication = f.nhrp_authentication;
    c.registration_no_unique = f.registration_no_unique;
    c.static_routes = f.static_routes;
    c.local_networks = f.local_networks;
    if let Some(m) = f.mtu {
        c.mtu = m;
    }
    if let Some(m) = f.max_peers {
        c.max_peers = m;
    }
    c.ipsec = f.ipsec.policy;
    c.validate()?;
    let device = f.device.name.unwrap_or_else(|| "dmvpn0".to_string());
    if device.is_empty() || device.len() > 15 || device.contains(['/', ' ']) {
        bail!(ConfigError {
            field: "device.name".into(),
            problem: "must be a Linux interface name (1 to 15 characters, no '/' or space)".into()
        });
    }
    let control_socket = f
        .device
        .control_socket
        .unwrap_or_else(|| default_control_socket(&device));
    let mut sas = Vec::new();
    for (i, s) in f.ipsec.sa.iter().enumerate() {
        // One underlay family per daemon: raw sockets and UDP 4500 of `nbma`'s family only.
        if s.peer.is_ipv4() != c.nbma.is_ipv4() {
            bail!(ConfigError {
                field: format!("ipsec.sa[{i}].peer"),
                problem: "must be of the same family as our nbma address".into()
            });
        }
        sas.push(manual_sa(i, s)?);
    }
    Ok(DriverConfig {
        node: c,
        device,
        control_socket,
        sas,
    })
}

fn manual_sa(i: usize, s: &SaFile) -> Result<ManualSa, ConfigError> {
    let field = |f: &str| format!("ipsec.sa[{i}].{f}");
    let err = |f: &str, p: &str| ConfigError {
        field: field(f),
        problem: p.to_string(),
    };
    let (transform, key_len) = match s.algorithm.as_str() {
        "aes128-gcm" => (Transform::AES_128_GCM, 16 + 4),
        "aes256-gcm" => (Transform::AES_256_GCM, 32 + 4),
        "chacha20-poly1305" => (Transform::CHACHA20_POLY1305, 32 + 4),
        _ => {
            return Err(err(
                "algorithm",
                "must be aes128-gcm, aes256-gcm or chacha20-poly1305",
            ));
        }
    };
    let key = |f: &str, hex: &str| -> Result<Secret, ConfigError> {
        let k = Secret::from_hex(hex).map_err(|_| err(f, "must be hexadecimal"))?;
        if k.len() != key_len {
            return Err(err(
                f,
                &format!(
                    "must be {key_len} bytes ({} hex digits: key and 4-byte salt), got {}",
                    key_len * 2,
                    k.len()
                ),
            ));
        }
        Ok(k)
    };
    if s.spi_in < 256 {
        return Err(err("spi_in", "must be at least 256 (0..=255 are reserved)"));
    }
    if s.spi_out < 256 {
        return Err(err(
            "spi_out",
            "must be at least 256 (0..=255 are reserved)",
        ));
    }
    let params = |spi: u32, direction: Direction, k: Secret| SaParams {
        spi: Spi(spi),
        direction,
        mode: Mode::Transport,
        transform,
        keys: Keys {
            encr: k,
            integ: Secret::new(&[]),
        },
        esn: false,
        replay_window: 1024,
        lifetimes: Lifetimes::default(),
        udp_encap: s.udp.then_some(esp::UdpEncap {
            src_port: dmvpn_core::NAT_T_PORT,
            dst_port: dmvpn_core::NAT_T_PORT,
        }),
        tfc_pad_to: 0,
    };
    Ok(ManualSa {
        peer: s.peer,
        inbound: params(s.spi_in, Direction::Inbound, key("key_in", &s.key_in)?),
        outbound: params(s.spi_out, Direction::Outbound, key("key_out", &s.key_out)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPOKE: &str = r#"
role = "spoke"
tunnel_address = "10.0.0.11/24"
nbma = "192.0.2.11"
gre_key = 42
holding_time = 600
local_networks = ["10.1.11.0/24"]
[[nhs]]
tunnel_address = "10.0.0.1"
nbma = "192.0.2.1"
[[static_routes]]
prefix = "10.1.0.0/16"
next_hop = "10.0.0.1"
[device]
name = "dmvpn1"
[ipsec]
policy = "required"
[[ipsec.sa]]
peer = "192.0.2.1"
spi_in = 0x1001
spi_out = 0x2001
algorithm = "aes256-gcm"
key_in = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"
key_out = "101112131415161718191a1b1c1d1e1f000102030405060708090a0b0c0d0e0f20212223"
"#;

    #[test]
    fn spoke_file_maps_to_config() {
        let c = parse(SPOKE).unwrap();
        assert_eq!(c.node.role, Role::Spoke);
        assert_eq!(c.node.phase, Phase::Three);
        assert_eq!(c.node.gre_key, Some(42));
        assert_eq!(c.node.holding_time, Duration::from_secs(600));
        assert_eq!(c.node.nhs.len(), 1);
        assert_eq!(c.node.ipsec, IpsecPolicy::Required);
        assert_eq!(c.device, "dmvpn1");
        assert_eq!(c.control_socket, PathBuf::from("/run/dmvpnd/dmvpn1.sock"));
        assert_eq!(c.sas.len(), 1);
        assert_eq!(c.sas[0].inbound.spi, Spi(0x1001));
        assert_eq!(c.sas[0].outbound.direction, Direction::Outbound);
        assert_eq!(c.sas[0].outbound.transform, Transform::AES_256_GCM);
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(&SPOKE.replace("holding_time = 600", "holding_time = 0")).unwrap_err();
        assert_eq!(e.to_string(), "holding_time: must be 1..=65535 seconds");
        let e = parse(&SPOKE.replace("nbma = \"192.0.2.1\"", "nbma = \"192.0.2.11\"")).unwrap_err();
        assert!(e.to_string().starts_with("nhs[0].nbma: "), "{e}");
        let e = parse(&SPOKE.replace("aes256-gcm", "des")).unwrap_err();
        assert!(e.to_string().starts_with("ipsec.sa[0].algorithm: "), "{e}");
        let e = parse(&SPOKE.replace("key_in = \"00", "key_in = \"")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("ipsec.sa[0].key_in: must be 36 bytes"),
            "{e}"
        );
        let e =
            parse(&SPOKE.replace("role = \"spoke\"", "role = \"spoke\"\nphase = 4")).unwrap_err();
        assert_eq!(e.to_string(), "phase: must be 1, 2 or 3");
        let e = parse(&SPOKE.replace("gre_key", "tunnel_key")).unwrap_err();
        assert!(e.to_string().contains("tunnel_key"), "{e}");
        let e = parse(&SPOKE.replace("dmvpn1", "a/b")).unwrap_err();
        assert!(e.to_string().starts_with("device.name: "), "{e}");
        // An IPv6 underlay: the NHS and SA peers must be IPv6 too.
        let v6 = SPOKE.replace("nbma = \"192.0.2.11\"", "nbma = \"2001:db8::11\"");
        let e = parse(&v6).unwrap_err();
        assert!(e.to_string().starts_with("nhs[0].nbma: "), "{e}");
        let v6 = v6.replace("nbma = \"192.0.2.1\"", "nbma = \"2001:db8::1\"");
        let e = parse(&v6).unwrap_err();
        assert!(e.to_string().starts_with("ipsec.sa[0].peer: "), "{e}");
        let c = parse(&v6.replace("peer = \"192.0.2.1\"", "peer = \"2001:db8::1\"")).unwrap();
        assert_eq!(c.node.nbma, "2001:db8::11".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn examples_are_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "toml") {
                load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
        assert!(n >= 2, "expected example configs in {dir}");
    }
}
