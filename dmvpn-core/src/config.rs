//! Configuration of one DMVPN tunnel interface, with Cisco-familiar meaning.
//!
//! The names follow the IOS interface commands a DMVPN engineer already knows
//! (`ip address`, `tunnel source`, `tunnel key`, `ip nhrp nhs`, `ip nhrp holdtime`,
//! `ip nhrp registration timeout`, `ip nhrp authentication`, `ip nhrp redirect` /
//! `ip nhrp shortcut`, `tunnel protection`), so a config reads like a `show run interface
//! Tunnel0`. [`Config::validate`] names the field and the problem for every mistake.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

/// Hub or spoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Role {
    /// The NHRP server (NHS): accepts registrations, answers and forwards resolutions,
    /// forwards spoke-to-spoke traffic until shortcuts exist, redirects in phase 3.
    Hub,
    /// An NHRP client (NHC): registers with its hubs, resolves peers, builds shortcuts.
    #[default]
    Spoke,
}

/// The DMVPN phase behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Phase {
    /// Phase 1: spokes send everything to the hub; no spoke-to-spoke tunnels.
    #[cfg_attr(feature = "serde", serde(rename = "1"))]
    One,
    /// Phase 2: spokes resolve the (original) next hop of their routes and go direct.
    #[cfg_attr(feature = "serde", serde(rename = "2"))]
    Two,
    /// Phase 3: the hub redirects hairpinned traffic (`ip nhrp redirect`), spokes resolve the
    /// destination and install shortcuts (`ip nhrp shortcut`).
    #[default]
    #[cfg_attr(feature = "serde", serde(rename = "3"))]
    Three,
}

/// One next-hop server a spoke registers with (`ip nhrp nhs <tunnel addr> nbma <nbma>
/// [priority n]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NhsConfig {
    /// The hub's overlay (tunnel) address.
    pub tunnel_address: IpAddr,
    /// The hub's underlay (NBMA) address.
    pub nbma: IpAddr,
    /// Lower is preferred (Cisco: 0 highest .. 255).
    #[cfg_attr(feature = "serde", serde(default))]
    pub priority: u8,
}

/// A static route (`ip route <prefix> <next hop>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StaticRoute {
    /// Destination prefix.
    pub prefix: IpNet,
    /// Overlay next hop on the tunnel (e.g. the hub's tunnel address).
    pub next_hop: IpAddr,
}

/// IPsec protection of the tunnel (`tunnel protection ipsec profile ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum IpsecPolicy {
    /// GRE in clear.
    #[default]
    None,
    /// Every GRE packet must be protected by ESP (transport mode); without an SA for a peer,
    /// nothing leaves in clear (fail closed) and an `SaNeeded` event asks for keys.
    Required,
}

/// What the node does with overlay packets addressed to its own tunnel address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum LocalDelivery {
    /// Hand them to the LAN/TUN side (`Transmit::Overlay`): the host's own IP stack owns the
    /// tunnel address (a Linux router with the address on its TUN device, running its routing
    /// daemons and management over the tunnel).
    #[default]
    Overlay,
    /// Answer ICMP echo requests in the node and consume everything else: for a forwarding
    /// plane without an IP stack of its own (and the simulator).
    Answer,
}

/// Configuration of one DMVPN interface.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Config {
    /// Hub or spoke.
    pub role: Role,
    /// Phase 1, 2 or 3 behaviour.
    pub phase: Phase,
    /// The tunnel interface address and the tunnel subnet (`ip address 10.0.0.11 255.255.255.0`).
    pub tunnel_address: IpNet,
    /// Our underlay address (`tunnel source`).
    pub nbma: IpAddr,
    /// The GRE key (`tunnel key`), when the cloud uses one.
    pub gre_key: Option<u32>,
    /// Next-hop servers (spokes; a hub may list a higher-level hub).
    pub nhs: Vec<NhsConfig>,
    /// Holding time advertised in registrations and replies (`ip nhrp holdtime`, default 7200 s).
    pub holding_time: Duration,
    /// Registration refresh period (`ip nhrp registration timeout`; default holding time / 3).
    pub registration_interval: Option<Duration>,
    /// Cisco plaintext NHRP authentication (`ip nhrp authentication`, at most 8 bytes).
    pub nhrp_authentication: Option<String>,
    /// Register without the unique bit (`ip nhrp registration no-unique`).
    pub registration_no_unique: bool,
    /// Static routes.
    pub static_routes: Vec<StaticRoute>,
    /// Networks attached on the LAN side (advertised in NHRP replies as our prefixes).
    pub local_networks: Vec<IpNet>,
    /// Tunnel MTU (`ip mtu`), the largest overlay packet we accept before encapsulation.
    pub mtu: u16,
    /// MTU of the underlay path (`tunnel path-mtu` / the physical interface, default 1500):
    /// an overlay packet with DF set is refused with ICMP "fragmentation needed" / "packet too
    /// big" when it would not fit once the outer IP, GRE and ESP headers are added.
    pub underlay_mtu: u16,
    /// IPsec policy.
    pub ipsec: IpsecPolicy,
    /// Overlay packets for our own tunnel address.
    pub local_delivery: LocalDelivery,
    /// Maximum number of NHRP cache entries (hub: registered spokes).
    pub max_peers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            role: Role::Spoke,
            phase: Phase::Three,
            tunnel_address: IpNet::V4(ipnet::Ipv4Net::default()),
            nbma: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            gre_key: None,
            nhs: Vec::new(),
            holding_time: Duration::from_secs(7200),
            registration_interval: None,
            nhrp_authentication: None,
            registration_no_unique: false,
            static_routes: Vec::new(),
            local_networks: Vec::new(),
            mtu: 1400,
            underlay_mtu: 1500,
            ipsec: IpsecPolicy::None,
            local_delivery: LocalDelivery::Overlay,
            max_peers: 100_000,
        }
    }
}

/// A configuration mistake: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    /// The field, in the config file's spelling (`nhs[1].nbma`).
    pub field: String,
    /// What is wrong, in words.
    pub problem: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl Config {
    /// A hub with tunnel address `tunnel_address` (with the tunnel prefix) on underlay `nbma`.
    pub fn hub(tunnel_address: IpNet, nbma: IpAddr) -> Self {
        Self {
            role: Role::Hub,
            tunnel_address,
            nbma,
            ..Self::default()
        }
    }

    /// A spoke registering with one hub.
    pub fn spoke(
        tunnel_address: IpNet,
        nbma: IpAddr,
        hub_tunnel: IpAddr,
        hub_nbma: IpAddr,
    ) -> Self {
        Self {
            role: Role::Spoke,
            tunnel_address,
            nbma,
            nhs: vec![NhsConfig {
                tunnel_address: hub_tunnel,
                nbma: hub_nbma,
                priority: 0,
            }],
            ..Self::default()
        }
    }

    /// The registration refresh period in force (explicit, or holding time / 3 as Cisco does).
    pub fn effective_registration_interval(&self) -> Duration {
        self.registration_interval.unwrap_or(self.holding_time / 3)
    }

    /// Checks the whole configuration; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let overlay_v4 = self.tunnel_address.addr().is_ipv4();
        if self.tunnel_address.addr().is_unspecified() {
            return Err(ConfigError::new(
                "tunnel_address",
                "must be set (e.g. 10.0.0.11/24)",
            ));
        }
        if self.nbma.is_unspecified() || self.nbma.is_multicast() {
            return Err(ConfigError::new(
                "nbma",
                "must be a unicast underlay address",
            ));
        }
        if self.role == Role::Spoke && self.nhs.is_empty() {
            return Err(ConfigError::new(
                "nhs",
                "a spoke needs at least one next-hop server",
            ));
        }
        for (i, nhs) in self.nhs.iter().enumerate() {
            if nhs.tunnel_address.is_ipv4() != overlay_v4 {
                return Err(ConfigError::new(
                    format!("nhs[{i}].tunnel_address"),
                    "must be of the tunnel address's family",
                ));
            }
            if nhs.nbma.is_unspecified() || nhs.nbma == self.nbma {
                return Err(ConfigError::new(
                    format!("nhs[{i}].nbma"),
                    "must be the hub's unicast underlay address, not ours",
                ));
            }
            if nhs.nbma.is_ipv4() != self.nbma.is_ipv4() {
                return Err(ConfigError::new(
                    format!("nhs[{i}].nbma"),
                    "must be of the same family as our nbma address",
                ));
            }
        }
        if self.holding_time.is_zero() || self.holding_time.as_secs() > u64::from(u16::MAX) {
            return Err(ConfigError::new(
                "holding_time",
                "must be 1..=65535 seconds",
            ));
        }
        if let Some(r) = self.registration_interval
            && (r.is_zero() || r > self.holding_time)
        {
            return Err(ConfigError::new(
                "registration_interval",
                "must be non-zero and at most the holding time",
            ));
        }
        if let Some(auth) = &self.nhrp_authentication
            && (auth.is_empty() || auth.len() > 8)
        {
            return Err(ConfigError::new(
                "nhrp_authentication",
                "must be 1 to 8 bytes (Cisco)",
            ));
        }
        for (i, r) in self.static_routes.iter().enumerate() {
            if r.prefix.addr().is_ipv4() != r.next_hop.is_ipv4() {
                return Err(ConfigError::new(
                    format!("static_routes[{i}].next_hop"),
                    "must be of the prefix's family",
                ));
            }
        }
        if self.mtu < 576 {
            return Err(ConfigError::new("mtu", "must be at least 576"));
        }
        if self.underlay_mtu < 576 {
            return Err(ConfigError::new("underlay_mtu", "must be at least 576"));
        }
        if self.max_peers == 0 {
            return Err(ConfigError::new("max_peers", "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spoke() -> Config {
        Config::spoke(
            "10.0.0.11/24".parse().unwrap(),
            "198.51.100.11".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
        )
    }

    #[test]
    fn defaults_follow_cisco() {
        let c = spoke();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.holding_time, Duration::from_secs(7200));
        assert_eq!(
            c.effective_registration_interval(),
            Duration::from_secs(2400)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let mut c = spoke();
        c.nhs.clear();
        assert_eq!(c.validate().unwrap_err().field, "nhs");
        let mut c = spoke();
        c.nhs[0].nbma = c.nbma;
        assert_eq!(c.validate().unwrap_err().field, "nhs[0].nbma");
        let mut c = spoke();
        c.nhrp_authentication = Some("too-long-secret".into());
        assert_eq!(c.validate().unwrap_err().field, "nhrp_authentication");
        let mut c = spoke();
        c.registration_interval = Some(Duration::from_secs(9000));
        let e = c.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "registration_interval: must be non-zero and at most the holding time"
        );
    }
}
