//! `SaParams`: everything needed to install one ESP SA, as handed over by `ikev2` in
//! `ChildSaUp` events or read from a manual-key configuration (plain data, serde).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::crypto::{EncrId, IntegId, Secret};
use crate::error::ApiError;

/// Security Parameter Index (RFC 4303 §2.1). 0 is reserved; 1..=255 are reserved by IANA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(transparent)]
pub struct Spi(pub u32);

/// Direction of an SA: IPsec SAs are simplex (RFC 4301 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// We open packets with this SA.
    Inbound,
    /// We seal packets with this SA.
    Outbound,
}

/// ESP mode (RFC 4303 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The payload is the upper-layer protocol (GRE for DMVPN, next header 47); the caller keeps
    /// the outer IP header and sets its protocol field to 50 (or UDP 17 with encapsulation).
    Transport,
    /// The payload is a whole inner IP packet (next header 4 or 41). TFC padding is allowed.
    Tunnel,
}

/// The negotiated transforms: an encryption algorithm with its key size, and an integrity
/// algorithm ([`IntegId::NONE`] for AEADs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Transform {
    /// Encryption transform (IANA ID).
    pub encr: EncrId,
    /// Encryption key length in bits (IKEv2 Key Length attribute; excludes the AEAD salt).
    pub encr_key_bits: u16,
    /// Integrity transform; `NONE` for combined-mode ciphers.
    pub integ: IntegId,
}

impl Transform {
    /// AES-GCM-128 with a 16-byte ICV (RFC 4106).
    pub const AES_128_GCM: Self = Self::aead(EncrId::AES_GCM_16, 128);
    /// AES-GCM-256 with a 16-byte ICV (RFC 4106).
    pub const AES_256_GCM: Self = Self::aead(EncrId::AES_GCM_16, 256);
    /// ChaCha20-Poly1305 (RFC 7634).
    pub const CHACHA20_POLY1305: Self = Self::aead(EncrId::CHACHA20_POLY1305, 256);

    const fn aead(encr: EncrId, bits: u16) -> Self {
        Self {
            encr,
            encr_key_bits: bits,
            integ: IntegId::NONE,
        }
    }

    /// AES-CBC (RFC 3602) of `key_bits` with integrity `integ` (RFC 4868 / RFC 2404).
    pub const fn aes_cbc(key_bits: u16, integ: IntegId) -> Self {
        Self {
            encr: EncrId::AES_CBC,
            encr_key_bits: key_bits,
            integ,
        }
    }
}

/// Keys of one SA (RFC 7296 §2.17 order). Zeroized on drop, redacted in `Debug`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Keys {
    /// Encryption key; for AEADs followed by the 4-byte salt (RFC 4106 §8.1, RFC 7634 §2).
    pub encr: Secret,
    /// Integrity key (empty for AEADs).
    #[serde(default = "empty_secret")]
    pub integ: Secret,
}

fn empty_secret() -> Secret {
    Secret::new(&[])
}

/// One set of lifetime limits; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Limits {
    /// Payload bytes processed.
    pub bytes: Option<u64>,
    /// Packets processed.
    pub packets: Option<u64>,
    /// Time since installation.
    pub time: Option<Duration>,
}

/// Soft (rekey) and hard (delete) lifetimes (RFC 4301 §4.4.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Lifetimes {
    /// When reached: `Event::SoftExpired` (start a rekey); the SA keeps working.
    pub soft: Limits,
    /// When reached: `Event::HardExpired`; the SA is removed.
    pub hard: Limits,
}

/// UDP encapsulation ports (RFC 3948), normally 4500 on both sides unless a NAT rewrote one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct UdpEncap {
    /// UDP source port written by `seal`.
    pub src_port: u16,
    /// UDP destination port written by `seal`.
    pub dst_port: u16,
}

/// Largest configurable anti-replay window (packets).
pub const MAX_REPLAY_WINDOW: u32 = 1 << 16;

/// Everything needed to install one ESP SA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SaParams {
    /// SPI of the SA (chosen by the receiver).
    pub spi: Spi,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Transport or tunnel mode.
    pub mode: Mode,
    /// Algorithms.
    pub transform: Transform,
    /// Keys.
    pub keys: Keys,
    /// Extended (64-bit) sequence numbers (RFC 4303 §2.2.1).
    #[serde(default)]
    pub esn: bool,
    /// Anti-replay window in packets (RFC 4303 §3.4.3); 0 disables the check (inbound only,
    /// and only without ESN). Default 1024. At most [`MAX_REPLAY_WINDOW`].
    #[serde(default = "default_window")]
    pub replay_window: u32,
    /// Lifetimes.
    #[serde(default)]
    pub lifetimes: Lifetimes,
    /// UDP encapsulation (RFC 3948) when NAT was detected.
    #[serde(default)]
    pub udp_encap: Option<UdpEncap>,
    /// Outbound tunnel mode only: TFC padding (RFC 4303 §2.7) pads every payload with zeros up
    /// to this many bytes. 0 = off.
    #[serde(default)]
    pub tfc_pad_to: u16,
}

fn default_window() -> u32 {
    1024
}

/// Largest configurable [`EsnResync::max_increments`]: bounds the trial ICV computations spent
/// on one packet.
pub const MAX_ESN_RESYNC_INCREMENTS: u32 = 64;

/// Re-synchronisation of the inferred high-order sequence bits after a loss of 2^32 or more
/// consecutive packets (RFC 4303 Appendix A3). Applies to inbound ESN SAs only; a local
/// parameter of the receiver (A3.1: one value for every SA is enough), set on the table with
/// `SaTable::set_esn_resync` or per SA with `InboundSa::set_esn_resync`.
///
/// Procedure: each inbound SA counts consecutive ICV failures (A3.1; an authenticated packet
/// resets the count). Once the count reaches `threshold`, the failing packet is retried with
/// Seqh + 1, Seqh + 2, ... up to `max_increments` (A3.2); after that, only every
/// `trial_interval`-th further failure is retried. The first candidate that authenticates is
/// adopted: the anti-replay window jumps to it and the streak resets. A packet that does not
/// authenticate under any candidate is dropped and changes nothing but the counters, so
/// forged packets can never move Seqh.
///
/// Cost bound: no trial before `threshold` consecutive failures, then at most
/// `max_increments` extra ICV computations (and, for AEADs, one transient copy of the packet,
/// since a failed in-place open may clobber the ciphertext) once per `trial_interval` failures.
/// Under a flood of forgeries that is at most `max_increments / trial_interval` extra ICV
/// computations per forged packet on average (defaults: 8 / 32 = 0.25) and never more than
/// `1 + max_increments` for any single packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(default)]
pub struct EsnResync {
    /// Whether the receiver re-synchronises at all. Default `true`: A3 says an ESN
    /// implementation SHOULD, and without it such an SA stays dead until rekeyed.
    pub enabled: bool,
    /// Consecutive ICV failures that trigger the first trial (≥ 1). Default 32: one genuine
    /// packet anywhere in the streak resets it, so ordinary corruption or a few forgeries do
    /// not trigger trials, while a desynchronised SA (where *every* packet fails) recovers
    /// after 32 lost packets.
    pub threshold: u32,
    /// How many higher Seqh values a trial packet is tried with (1..=
    /// [`MAX_ESN_RESYNC_INCREMENTS`]). Default 8: recovers from losing up to 8·2^32 ≈ 3.4·10^10
    /// consecutive packets (over three hours of total loss at 3 Mpkt/s, far beyond any IKE
    /// liveness timeout), at a bounded cost per trial.
    pub max_increments: u32,
    /// After the first trial, only every `trial_interval`-th further consecutive failure is
    /// retried (≥ 1). Default 32: amortises the trial cost to ≤ 0.25 ICV per forged packet.
    pub trial_interval: u32,
}

impl Default for EsnResync {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: 32,
            max_increments: 8,
            trial_interval: 32,
        }
    }
}

impl EsnResync {
    /// No re-synchronisation (the behaviour without Appendix A3).
    pub const DISABLED: Self = Self {
        enabled: false,
        threshold: 32,
        max_increments: 8,
        trial_interval: 32,
    };

    /// Checks the bounds documented on the fields.
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.threshold == 0 {
            return Err(ApiError::InvalidParams("ESN resync threshold must be >= 1"));
        }
        if self.trial_interval == 0 {
            return Err(ApiError::InvalidParams(
                "ESN resync trial interval must be >= 1",
            ));
        }
        if self.max_increments == 0 || self.max_increments > MAX_ESN_RESYNC_INCREMENTS {
            return Err(ApiError::InvalidParams(
                "ESN resync increments must be in 1..=64",
            ));
        }
        Ok(())
    }

    /// Whether the `n`-th consecutive ICV failure (1-based) is a trial packet.
    pub(crate) fn is_trial(&self, n: u64) -> bool {
        let (t, i) = (u64::from(self.threshold), u64::from(self.trial_interval));
        self.enabled && n >= t && (n - t).is_multiple_of(i)
    }
}

impl SaParams {
    /// Checks the combinations that do not depend on the provider.
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.spi.0 == 0 {
            return Err(ApiError::InvalidParams("SPI 0 is reserved"));
        }
        if self.replay_window > MAX_REPLAY_WINDOW {
            return Err(ApiError::InvalidParams("replay window too large"));
        }
        if self.esn && self.replay_window == 0 && self.direction == Direction::Inbound {
            return Err(ApiError::InvalidParams(
                "ESN needs an anti-replay window to infer the high-order bits",
            ));
        }
        if self.tfc_pad_to != 0 && self.mode != Mode::Tunnel {
            return Err(ApiError::InvalidParams("TFC padding needs tunnel mode"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_manual_key_config() {
        let json = r#"{
            "spi": 4097, "direction": "inbound", "mode": "transport",
            "transform": {"encr": 20, "encr_key_bits": 128, "integ": 0},
            "keys": {"encr": "000102030405060708090a0b0c0d0e0f10111213"},
            "lifetimes": {"soft": {"bytes": null, "packets": 100, "time": null},
                          "hard": {"bytes": null, "packets": 200, "time": {"secs": 60, "nanos": 0}}}
        }"#;
        let p: SaParams = serde_json::from_str(json).unwrap();
        assert_eq!(p.spi, Spi(0x1001));
        assert_eq!(p.transform, Transform::AES_128_GCM);
        assert_eq!(p.replay_window, 1024);
        assert_eq!(p.keys.encr.len(), 20);
        assert!(p.keys.integ.is_empty());
        assert_eq!(p.lifetimes.hard.time, Some(Duration::from_secs(60)));
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("0001020304"), "{dbg}");
        let back: SaParams = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        p.validate().unwrap();
    }

    #[test]
    fn esn_resync_config() {
        let d = EsnResync::default();
        d.validate().unwrap();
        assert!(d.enabled);
        // Missing fields take the defaults; the whole struct round-trips.
        let c: EsnResync = serde_json::from_str(r#"{"threshold": 4}"#).unwrap();
        assert_eq!(c, EsnResync { threshold: 4, ..d });
        let back: EsnResync = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        for bad in [
            EsnResync { threshold: 0, ..d },
            EsnResync {
                trial_interval: 0,
                ..d
            },
            EsnResync {
                max_increments: 0,
                ..d
            },
            EsnResync {
                max_increments: MAX_ESN_RESYNC_INCREMENTS + 1,
                ..d
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        // Trials at the threshold, then once per interval; never when disabled.
        let c = EsnResync {
            threshold: 3,
            trial_interval: 4,
            ..d
        };
        let trials: Vec<u64> = (1..16).filter(|&n| c.is_trial(n)).collect();
        assert_eq!(trials, [3, 7, 11, 15]);
        assert!(!(1..100).any(|n| EsnResync::DISABLED.is_trial(n)));
    }

    #[test]
    fn validate_rejects() {
        let mut p: SaParams = serde_json::from_str(
            r#"{"spi": 300, "direction": "inbound", "mode": "transport",
            "transform": {"encr": 20, "encr_key_bits": 128, "integ": 0},
            "keys": {"encr": "00"}, "esn": true, "replay_window": 0}"#,
        )
        .unwrap();
        assert!(p.validate().is_err());
        p.replay_window = MAX_REPLAY_WINDOW + 1;
        assert!(p.validate().is_err());
        p.replay_window = 64;
        p.tfc_pad_to = 100;
        assert!(p.validate().is_err());
        p.tfc_pad_to = 0;
        p.spi = Spi(0);
        assert!(p.validate().is_err());
    }
}
