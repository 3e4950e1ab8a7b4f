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
