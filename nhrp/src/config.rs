//! Node configuration: role, addresses, NHS list, timers and bounds.
//!
//! Names follow the Cisco IOS commands they mirror (features.md §1.1): `ip nhrp holdtime`
//! ([`Config::holding_time`]), `ip nhrp registration timeout`
//! ([`Config::registration_interval`]), `ip nhrp registration no-unique` ([`Config::unique`]),
//! `ip nhrp authentication`, `ip nhrp redirect`, `ip nhrp shortcut`, `ip nhrp nhs ... priority`.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::error::ApiError;

/// What a node does on its mGRE interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Role {
    /// Next Hop Client (spoke): registers with NHSs, resolves, builds shortcuts.
    Nhc,
    /// Next Hop Server (hub): keeps the registration cache, answers and forwards requests.
    Nhs,
    /// Both at once (hierarchical hub: a client of a higher NHS and a server for its spokes).
    Both,
}

impl Role {
    /// Returns true if the node registers with NHSs.
    pub fn is_client(self) -> bool {
        matches!(self, Role::Nhc | Role::Both)
    }

    /// Returns true if the node accepts registrations.
    pub fn is_server(self) -> bool {
        matches!(self, Role::Nhs | Role::Both)
    }
}

/// One Next Hop Server (`ip nhrp nhs <protocol> nbma <nbma> priority <n>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NhsConfig {
    /// The NHS's tunnel (protocol) address.
    pub protocol: IpAddr,
    /// The NHS's NBMA (underlay) address.
    pub nbma: IpAddr,
    /// Preference: lower is preferred (Cisco: 0 is the highest priority).
    pub priority: u8,
}

impl NhsConfig {
    /// An NHS with priority 0.
    pub fn new(protocol: IpAddr, nbma: IpAddr) -> Self {
        Self {
            protocol,
            nbma,
            priority: 0,
        }
    }
}

/// Retransmission back-off: the first retransmission after `initial`, doubling up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Backoff {
    /// First retransmission timeout.
    pub initial: Duration,
    /// Ceiling of the doubling.
    pub max: Duration,
}

/// Configuration of a [`Node`](crate::Node). Build with `Config::default()` and set fields;
/// [`Node::new`](crate::Node::new) calls [`Config::validate`].
///
/// `Debug` hides the authentication secret.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
#[non_exhaustive]
pub struct Config {
    /// NHC, NHS or both.
    pub role: Role,
    /// Our tunnel (protocol) address: the source protocol address of everything we send.
    pub protocol_address: IpAddr,
    /// Our NBMA (underlay) address as configured (pre-NAT).
    pub nbma_address: IpAddr,
    /// Protocol address put in our Responder Address extensions (Cisco `ip nhrp responder
    /// <interface>`); `None` = [`Config::protocol_address`].
    pub responder_address: Option<IpAddr>,
    /// IPv6 overlay: our link-local tunnel address. A client registering its link-local
    /// address gets ours back in an extra CIE of the Registration Reply, as Cisco does
    /// (netlessons-dmvpn-ipv6-over-ipv4-registrations).
    pub link_local_address: Option<IpAddr>,
    /// Networks behind this node that it answers Resolution Requests for; the reply CIE
    /// carries the covering network's prefix length (Cisco phase 3 behaviour).
    pub local_networks: Vec<IpNet>,
    /// NHC: the NHSs to register with.
    pub nhs: Vec<NhsConfig>,
    /// NHC: how many NHSs to keep registered at once, best priority first; the others stand
    /// by and take over when an active one goes down. `0` = all (Cisco default).
    pub max_active_nhs: usize,
    /// Holding time advertised in our CIEs (`ip nhrp holdtime`, default 7200 s).
    pub holding_time: Duration,
    /// NHC: registration refresh period (`ip nhrp registration timeout`); `None` = one third
    /// of the holding time.
    pub registration_interval: Option<Duration>,
    /// NHC: set the U bit in registrations (`false` = `ip nhrp registration no-unique`).
    pub unique: bool,
    /// MTU advertised in our CIEs.
    pub mtu: u16,
    /// Cisco plaintext authentication secret (`ip nhrp authentication`, at most 8 bytes).
    pub authentication: Option<Vec<u8>>,
    /// Send Error Indication "Authentication Failure" when a packet fails authentication.
    pub error_indication_on_auth_failure: bool,
    /// NHS: send Traffic Indications for hairpinned traffic (`ip nhrp redirect`).
    pub redirect: bool,
    /// NHC: build shortcuts on Traffic Indications (`ip nhrp shortcut`).
    pub shortcut: bool,
    /// Send and interpret the Cisco NAT address extension.
    pub nat_extension: bool,
    /// Registration and resolution retransmission back-off.
    pub retransmit: Backoff,
    /// NHC: an NHS is declared down after this many unanswered retransmissions.
    pub nhs_down_after: u32,
    /// NHC: a resolution fails after this many unanswered retransmissions.
    pub resolution_retries: u32,
    /// NHC: how long a negative answer (NAK or timeout) is cached.
    pub negative_cache_time: Duration,
    /// NHC: a shortcut that carried traffic is refreshed this long before it expires (capped
    /// at half its holding time).
    pub shortcut_refresh_before: Duration,
    /// NHS: at most one Traffic Indication per (source, destination) per interval.
    pub redirect_interval: Duration,
    /// NHC: at most one Traffic-Indication-triggered resolution per destination per interval.
    pub shortcut_trigger_interval: Duration,
    /// NHS: maximum registered addresses; further registrations get CIE code 5.
    pub max_registrations: usize,
    /// NHC: maximum resolution cache entries (positive and negative).
    pub max_cache_entries: usize,
    /// NHC: maximum outstanding resolution requests.
    pub max_pending: usize,
    /// Maximum queued transmits; beyond it transmits are dropped and counted.
    pub max_outbox: usize,
    /// Maximum queued events; beyond it events are dropped and counted.
    pub max_events: usize,
    /// Slots of each rate-limiter table (redirects, shortcut triggers).
    pub rate_limit_slots: usize,
    /// Seed of the deterministic request-ID generator.
    pub seed: u64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("role", &self.role)
            .field("protocol_address", &self.protocol_address)
            .field("nbma_address", &self.nbma_address)
            .field("responder_address", &self.responder_address)
            .field("link_local_address", &self.link_local_address)
            .field("local_networks", &self.local_networks)
            .field("nhs", &self.nhs)
            .field("max_active_nhs", &self.max_active_nhs)
            .field("holding_time", &self.holding_time)
            .field("registration_interval", &self.registration_interval)
            .field("unique", &self.unique)
            .field("mtu", &self.mtu)
            .field(
                "authentication",
                &self
                    .authentication
                    .as_ref()
                    .map(|a| format!("<{} bytes>", a.len())),
            )
            .field(
                "error_indication_on_auth_failure",
                &self.error_indication_on_auth_failure,
            )
            .field("redirect", &self.redirect)
            .field("shortcut", &self.shortcut)
            .field("nat_extension", &self.nat_extension)
            .field("retransmit", &self.retransmit)
            .field("nhs_down_after", &self.nhs_down_after)
            .field("resolution_retries", &self.resolution_retries)
            .field("negative_cache_time", &self.negative_cache_time)
            .field("shortcut_refresh_before", &self.shortcut_refresh_before)
            .field("redirect_interval", &self.redirect_interval)
            .field("shortcut_trigger_interval", &self.shortcut_trigger_interval)
            .field("max_registrations", &self.max_registrations)
            .field("max_cache_entries", &self.max_cache_entries)
            .field("max_pending", &self.max_pending)
            .field("max_outbox", &self.max_outbox)
            .field("max_events", &self.max_events)
            .field("rate_limit_slots", &self.rate_limit_slots)
            .field("seed", &self.seed)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        let unspecified = IpAddr::from([0, 0, 0, 0]);
        Self {
            role: Role::Nhc,
            protocol_address: unspecified,
            nbma_address: unspecified,
            responder_address: None,
            link_local_address: None,
            local_networks: Vec::new(),
            nhs: Vec::new(),
            max_active_nhs: 0,
            holding_time: Duration::from_secs(7200),
            registration_interval: None,
            unique: true,
            mtu: 1514,
            authentication: None,
            error_indication_on_auth_failure: true,
            redirect: false,
            shortcut: false,
            nat_extension: true,
            retransmit: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(64),
            },
            nhs_down_after: 3,
            resolution_retries: 3,
            negative_cache_time: Duration::from_secs(10),
            shortcut_refresh_before: Duration::from_secs(120),
            redirect_interval: Duration::from_secs(1),
            shortcut_trigger_interval: Duration::from_secs(1),
            max_registrations: 100_000,
            max_cache_entries: 10_000,
            max_pending: 1024,
            max_outbox: 4096,
            max_events: 65_536,
            rate_limit_slots: 1024,
            seed: 0,
        }
    }
}

impl Config {
    /// A spoke with one NHS.
    pub fn spoke(protocol_address: IpAddr, nbma_address: IpAddr, nhs: NhsConfig) -> Self {
        Self {
            role: Role::Nhc,
            protocol_address,
            nbma_address,
            nhs: vec![nhs],
            shortcut: true,
            ..Self::default()
        }
    }

    /// A hub.
    pub fn hub(protocol_address: IpAddr, nbma_address: IpAddr) -> Self {
        Self {
            role: Role::Nhs,
            protocol_address,
            nbma_address,
            redirect: true,
            ..Self::default()
        }
    }

    /// The registration refresh period in effect.
    pub fn effective_registration_interval(&self) -> Duration {
        self.registration_interval
            .unwrap_or(self.holding_time / 3)
            .max(Duration::from_secs(1))
    }

    /// Holding time in whole seconds as carried in CIEs.
    pub(crate) fn holding_secs(&self) -> u16 {
        u16::try_from(self.holding_time.as_secs()).unwrap_or(u16::MAX)
    }

    /// Checks the configuration; [`Node::new`](crate::Node::new) calls this.
    pub fn validate(&self) -> Result<(), ApiError> {
        let bad = |what| Err(ApiError::InvalidConfig(what));
        if self.protocol_address.is_unspecified() {
            return bad("protocol_address is unspecified");
        }
        if self.nbma_address.is_unspecified() {
            return bad("nbma_address is unspecified");
        }
        let secs = self.holding_time.as_secs();
        if secs == 0 || secs > u64::from(u16::MAX) {
            return bad("holding_time must be 1..=65535 s");
        }
        if let Some(i) = self.registration_interval
            && (i.is_zero() || i > self.holding_time)
        {
            return bad("registration_interval must be in (0, holding_time]");
        }
        if let Some(a) = &self.authentication
            && (a.is_empty() || a.len() > 8)
        {
            return bad("authentication secret must be 1..=8 bytes");
        }
        if self.retransmit.initial.is_zero() || self.retransmit.max < self.retransmit.initial {
            return bad("retransmit back-off must satisfy 0 < initial <= max");
        }
        if self.max_outbox == 0
            || self.max_events == 0
            || self.max_pending == 0
            || self.max_cache_entries == 0
            || self.rate_limit_slots == 0
        {
            return bad("queue and table bounds must be > 0");
        }
        if self.nhs.len() > crate::node::MAX_NHS {
            return bad("too many NHSs");
        }
        for (i, n) in self.nhs.iter().enumerate() {
            if n.nbma.is_unspecified() || n.protocol.is_unspecified() {
                return bad("NHS address is unspecified");
            }
            if self.nhs[..i].iter().any(|m| m.nbma == n.nbma) {
                return bad("duplicate NHS NBMA address");
            }
        }
        if !self.nhs.is_empty() && !self.role.is_client() {
            return bad("NHSs configured on a node that is not a client");
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use super::*;

    #[test]
    fn config_round_trips_and_defaults_missing_fields() {
        let mut c = Config::hub("10.0.0.1".parse().unwrap(), "192.0.2.1".parse().unwrap());
        c.authentication = Some(b"DMVPN".to_vec());
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), c);
        let partial: Config = serde_json::from_str(
            r#"{"role":"Nhs","protocol_address":"10.0.0.1","nbma_address":"192.0.2.1"}"#,
        )
        .unwrap();
        assert_eq!(partial.holding_time, Duration::from_secs(7200));
        assert!(partial.validate().is_ok());
    }
}
