//! The crypto provider shared by `esp` and `ikev2` (DESIGN.md §5).
//!
//! A [`CryptoProvider`] is a `Clone` struct of `&'static` algorithm tables (stateless catalog
//! entries that report their IANA transform IDs) plus a per-node [`SecureRandom`]. Keyed
//! instances ([`AeadKey`], [`CipherKey`], [`IntegrityKey`]) are boxed once per SA and then
//! operate **in place** on caller buffers without allocating.
//!
//! Backends:
//! * [`aws_lc`] (cargo feature `aws-lc`, on by default): AES-GCM-128/256 (RFC 4106),
//!   ChaCha20-Poly1305 (RFC 7634), AES-CBC (RFC 3602) and HMAC-SHA-1-96 / SHA-256-128 /
//!   SHA-384-192 / SHA-512-256 (RFC 2404, RFC 4868) from aws-lc-rs.
//! * `insecure` (cargo feature `insecure`): **NO SECURITY**, identity cipher, constant ICV,
//!   counter RNG, so fuzzers reach post-authentication states. Never use it outside fuzzing.
//!
//! Determinism: nothing here reads an OS RNG on its own. A caller that wants reproducible output
//! (tests, the simulator) passes its own [`SecureRandom`] implementation in
//! [`CryptoProvider::random`], e.g. `SeededRandom` (feature `seeded-rng`): same seed, same
//! bytes. The AEAD data path uses the sequence number as IV (RFC 4106 §3.1) and needs no
//! randomness at all; AES-CBC draws one IV per packet from the provider's RNG.
//!
//! Secrets ([`Secret`]) are zeroized on drop and never printed by `Debug`.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[cfg(feature = "aws-lc")]
pub mod aws_lc;
#[cfg(any(test, fuzzing, feature = "insecure"))]
pub mod insecure;
#[cfg(any(test, feature = "seeded-rng", feature = "insecure", fuzzing))]
mod seeded;
#[cfg(any(test, feature = "seeded-rng", feature = "insecure", fuzzing))]
pub use seeded::SeededRandom;

/// Errors of the crypto layer. Allocation-free and `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Key (or salt, or IV) material of the wrong length was supplied.
    #[error("{what}: expected {expected} bytes, got {got}")]
    BadLength {
        /// Which input was wrong ("key", "salt", "iv", "icv", "data").
        what: &'static str,
        /// The length the algorithm needs.
        expected: usize,
        /// The length supplied.
        got: usize,
    },
    /// The ICV / authentication tag did not verify.
    #[error("authentication failed")]
    AuthFailed,
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// The backend reported an unspecified failure.
    #[error("crypto backend failure")]
    Backend,
}

/// IKEv2 Transform Type 1 (encryption algorithm) IDs, RFC 7296 §3.3.2 / IANA registry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(transparent)]
pub struct EncrId(pub u16);

impl EncrId {
    /// ENCR_NULL (RFC 2410), only meaningful in tests.
    pub const NULL: Self = Self(11);
    /// ENCR_AES_CBC (RFC 3602).
    pub const AES_CBC: Self = Self(12);
    /// ENCR_AES_GCM_16: AES-GCM with a 16-octet ICV (RFC 4106).
    pub const AES_GCM_16: Self = Self(20);
    /// ENCR_CHACHA20_POLY1305 (RFC 7634).
    pub const CHACHA20_POLY1305: Self = Self(28);
}

impl fmt::Debug for EncrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NULL => f.write_str("ENCR_NULL"),
            Self::AES_CBC => f.write_str("ENCR_AES_CBC"),
            Self::AES_GCM_16 => f.write_str("ENCR_AES_GCM_16"),
            Self::CHACHA20_POLY1305 => f.write_str("ENCR_CHACHA20_POLY1305"),
            Self(v) => write!(f, "EncrId({v})"),
        }
    }
}

/// IKEv2 Transform Type 3 (integrity algorithm) IDs, RFC 7296 §3.3.2 / IANA registry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(transparent)]
pub struct IntegId(pub u16);

impl IntegId {
    /// NONE: used with combined-mode (AEAD) ciphers.
    pub const NONE: Self = Self(0);
    /// AUTH_HMAC_SHA1_96 (RFC 2404), legacy Cisco `esp-sha-hmac`.
    pub const HMAC_SHA1_96: Self = Self(2);
    /// AUTH_HMAC_SHA2_256_128 (RFC 4868).
    pub const HMAC_SHA2_256_128: Self = Self(12);
    /// AUTH_HMAC_SHA2_384_192 (RFC 4868).
    pub const HMAC_SHA2_384_192: Self = Self(13);
    /// AUTH_HMAC_SHA2_512_256 (RFC 4868).
    pub const HMAC_SHA2_512_256: Self = Self(14);
}

impl fmt::Debug for IntegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NONE => f.write_str("NONE"),
            Self::HMAC_SHA1_96 => f.write_str("AUTH_HMAC_SHA1_96"),
            Self::HMAC_SHA2_256_128 => f.write_str("AUTH_HMAC_SHA2_256_128"),
            Self::HMAC_SHA2_384_192 => f.write_str("AUTH_HMAC_SHA2_384_192"),
            Self::HMAC_SHA2_512_256 => f.write_str("AUTH_HMAC_SHA2_512_256"),
            Self(v) => write!(f, "IntegId({v})"),
        }
    }
}

/// Secret key material: zeroized on drop, never printed by `Debug`.
///
/// Serde encodes it as a hex string (manual-key configurations: `"encr_key": "0001..13"`);
/// serializing a secret is always an explicit act of the caller.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Copies `bytes` into a new secret.
    pub fn new(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// Parses a hex string (an optional `0x` prefix is accepted).
    pub fn from_hex(s: &str) -> Result<Self, hex::FromHexError> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        Ok(Self(Zeroizing::new(hex::decode(s)?)))
    }

    /// Returns the secret bytes. Keep the borrow short.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Returns the length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex = Zeroizing::new(hex::encode(self.expose()));
        s.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Secret {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.int_in_range(0..=64)?;
        Ok(Self::new(u.bytes(len)?))
    }
}

/// A source of cryptographically secure random bytes, one per node (DESIGN.md §2, §5).
pub trait SecureRandom: Send + Sync + fmt::Debug {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError>;
}

/// A combined-mode cipher (AEAD) as used by ESP (RFC 4106, RFC 7634) and IKEv2 (RFC 5282).
///
/// The nonce is `salt || iv`: the salt is the trailing key material of the SA (4 bytes), the IV
/// is the 8-byte explicit IV carried in each packet.
pub trait Aead: Send + Sync + fmt::Debug {
    /// IANA transform ID.
    fn transform_id(&self) -> EncrId;
    /// Cipher key length in bytes (without the salt).
    fn key_len(&self) -> usize;
    /// Salt length in bytes (the extra key material after the key).
    fn salt_len(&self) -> usize;
    /// Explicit per-packet IV length in bytes.
    fn iv_len(&self) -> usize;
    /// ICV (tag) length in bytes.
    fn icv_len(&self) -> usize;
    /// Builds a keyed instance. `key.len()` must be `key_len()`, `salt.len()` must be
    /// `salt_len()`.
    fn new_key(&self, key: &[u8], salt: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError>;
}

/// A keyed AEAD instance; seals and opens in place.
pub trait AeadKey: Send + Sync {
    /// Encrypts `data` in place and writes the tag into `icv` (`icv.len()` = the ICV length).
    fn seal_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        data: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError>;
    /// Verifies `icv` and decrypts `data` in place. On error `data` holds unspecified bytes.
    fn open_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        data: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError>;
}

/// A block cipher in an unpadded chaining mode (AES-CBC, RFC 3602). ESP does its own padding.
pub trait Cipher: Send + Sync + fmt::Debug {
    /// IANA transform ID.
    fn transform_id(&self) -> EncrId;
    /// Key length in bytes.
    fn key_len(&self) -> usize;
    /// Block length in bytes: ciphertext lengths are multiples of it.
    fn block_len(&self) -> usize;
    /// IV length in bytes.
    fn iv_len(&self) -> usize;
    /// Builds a keyed instance.
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn CipherKey>, CryptoError>;
}

/// A keyed [`Cipher`]; encrypts and decrypts whole blocks in place.
pub trait CipherKey: Send + Sync {
    /// Encrypts `data` (a multiple of the block length) in place with `iv`.
    fn encrypt_in_place(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError>;
    /// Decrypts `data` (a multiple of the block length) in place with `iv`.
    fn decrypt_in_place(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError>;
}

/// An integrity algorithm (truncated HMAC, RFC 2404 / RFC 4868).
pub trait Integrity: Send + Sync + fmt::Debug {
    /// IANA transform ID.
    fn transform_id(&self) -> IntegId;
    /// Key length in bytes.
    fn key_len(&self) -> usize;
    /// Truncated ICV length in bytes.
    fn icv_len(&self) -> usize;
    /// Builds a keyed instance.
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn IntegrityKey>, CryptoError>;
}

/// A keyed [`Integrity`] algorithm. Inputs are given as parts that are concatenated (ESN:
/// the high-order sequence bits are appended, RFC 4303 §3.3.2.1).
pub trait IntegrityKey: Send + Sync {
    /// Computes the truncated ICV of `parts` into `icv` (`icv.len()` = the ICV length).
    fn sign(&self, parts: &[&[u8]], icv: &mut [u8]) -> Result<(), CryptoError>;
    /// Verifies `icv` over `parts` in constant time.
    fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError>;
}

/// The set of algorithms and the RNG of one node (DESIGN.md §5). Cheap to clone.
#[derive(Clone)]
pub struct CryptoProvider {
    /// Combined-mode ciphers.
    pub aeads: &'static [&'static dyn Aead],
    /// Unpadded block ciphers (used with an [`Integrity`] algorithm).
    pub ciphers: &'static [&'static dyn Cipher],
    /// Integrity algorithms.
    pub integrity: &'static [&'static dyn Integrity],
    /// The node's random number generator.
    pub random: Arc<dyn SecureRandom>,
}

impl fmt::Debug for CryptoProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoProvider")
            .field("aeads", &self.aeads)
            .field("ciphers", &self.ciphers)
            .field("integrity", &self.integrity)
            .field("random", &self.random)
            .finish()
    }
}

impl CryptoProvider {
    /// Returns the AEAD with transform `id` and a key of `key_bits` bits.
    pub fn aead(&self, id: EncrId, key_bits: u16) -> Option<&'static dyn Aead> {
        self.aeads
            .iter()
            .copied()
            .find(|a| a.transform_id() == id && a.key_len() * 8 == usize::from(key_bits))
    }

    /// Returns the cipher with transform `id` and a key of `key_bits` bits.
    pub fn cipher(&self, id: EncrId, key_bits: u16) -> Option<&'static dyn Cipher> {
        self.ciphers
            .iter()
            .copied()
            .find(|c| c.transform_id() == id && c.key_len() * 8 == usize::from(key_bits))
    }

    /// Returns the integrity algorithm with transform `id`.
    pub fn integrity(&self, id: IntegId) -> Option<&'static dyn Integrity> {
        self.integrity
            .iter()
            .copied()
            .find(|i| i.transform_id() == id)
    }
}

pub(crate) fn check_len(
    what: &'static str,
    expected: usize,
    got: usize,
) -> Result<(), CryptoError> {
    if expected == got {
        Ok(())
    } else {
        Err(CryptoError::BadLength {
            what,
            expected,
            got,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_redacts_and_serde_is_hex() {
        let s = Secret::from_hex("0x0001ff").unwrap();
        assert_eq!(format!("{s:?}"), "Secret(<3 bytes redacted>)");
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, "\"0001ff\"");
        let back: Secret = serde_json::from_str(&j).unwrap();
        assert_eq!(back.expose(), &[0, 1, 0xff]);
        assert!(serde_json::from_str::<Secret>("\"zz\"").is_err());
    }

    #[test]
    fn transform_ids_are_iana() {
        assert_eq!(EncrId::AES_GCM_16.0, 20);
        assert_eq!(EncrId::CHACHA20_POLY1305.0, 28);
        assert_eq!(EncrId::AES_CBC.0, 12);
        assert_eq!(IntegId::HMAC_SHA2_256_128.0, 12);
        assert_eq!(IntegId::HMAC_SHA2_384_192.0, 13);
        assert_eq!(IntegId::HMAC_SHA2_512_256.0, 14);
        assert_eq!(format!("{:?}", EncrId(99)), "EncrId(99)");
    }
}
