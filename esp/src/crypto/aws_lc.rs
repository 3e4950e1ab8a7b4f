//! The default backend: aws-lc-rs (DESIGN.md §5, research/perf-limits.md §13).
//!
//! * AEAD: `aead::LessSafeKey` with `seal_in_place_separate_tag` /
//!   `open_in_place_separate_tag` (the nonce is built from the SA salt and the packet IV; the
//!   SA guarantees uniqueness through the sequence number).
//! * AES-CBC: aws-lc-rs 1.x offers **unpadded** CBC in place (`cipher::EncryptingKey::cbc` /
//!   `DecryptingKey::cbc`, input a multiple of 16 bytes, caller-supplied IV through
//!   `less_safe_encrypt`), which is exactly what ESP needs since ESP pads itself (RFC 4303
//!   §2.4). No PKCS#7 mode and no extra copy is involved.
//! * HMAC: `hmac::Context` over the parts, truncated, compared with `CRYPTO_memcmp`.
//!
//! Per-packet operations allocate nothing on the Rust heap.

use std::sync::Arc;

use aws_lc_rs::{aead, cipher, constant_time, hmac, rand};

use super::{
    Aead, AeadKey, Cipher, CipherKey, CryptoError, CryptoProvider, EncrId, IntegId, Integrity,
    IntegrityKey, SecureRandom, check_len,
};

/// AES-GCM with a 16-byte ICV and a 128-bit key (RFC 4106).
pub static AES_128_GCM_16: AwsAead = AwsAead {
    alg: &aead::AES_128_GCM,
    id: EncrId::AES_GCM_16,
};
/// AES-GCM with a 16-byte ICV and a 256-bit key (RFC 4106).
pub static AES_256_GCM_16: AwsAead = AwsAead {
    alg: &aead::AES_256_GCM,
    id: EncrId::AES_GCM_16,
};
/// ChaCha20-Poly1305 (RFC 7634).
pub static CHACHA20_POLY1305: AwsAead = AwsAead {
    alg: &aead::CHACHA20_POLY1305,
    id: EncrId::CHACHA20_POLY1305,
};
/// AES-CBC with a 128-bit key (RFC 3602).
pub static AES_128_CBC: AwsCbc = AwsCbc {
    alg: &cipher::AES_128,
    key_len: 16,
};
/// AES-CBC with a 256-bit key (RFC 3602).
pub static AES_256_CBC: AwsCbc = AwsCbc {
    alg: &cipher::AES_256,
    key_len: 32,
};
/// HMAC-SHA-1-96 (RFC 2404), for legacy peers only.
pub static HMAC_SHA1_96: AwsHmac = AwsHmac {
    alg: hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
    id: IntegId::HMAC_SHA1_96,
    key_len: 20,
    icv_len: 12,
};
/// HMAC-SHA-256-128 (RFC 4868).
pub static HMAC_SHA2_256_128: AwsHmac = AwsHmac {
    alg: hmac::HMAC_SHA256,
    id: IntegId::HMAC_SHA2_256_128,
    key_len: 32,
    icv_len: 16,
};
/// HMAC-SHA-384-192 (RFC 4868).
pub static HMAC_SHA2_384_192: AwsHmac = AwsHmac {
    alg: hmac::HMAC_SHA384,
    id: IntegId::HMAC_SHA2_384_192,
    key_len: 48,
    icv_len: 24,
};
/// HMAC-SHA-512-256 (RFC 4868).
pub static HMAC_SHA2_512_256: AwsHmac = AwsHmac {
    alg: hmac::HMAC_SHA512,
    id: IntegId::HMAC_SHA2_512_256,
    key_len: 64,
    icv_len: 32,
};

/// All AEADs of this backend.
pub static AEADS: &[&dyn Aead] = &[&AES_128_GCM_16, &AES_256_GCM_16, &CHACHA20_POLY1305];
/// All ciphers of this backend.
pub static CIPHERS: &[&dyn Cipher] = &[&AES_128_CBC, &AES_256_CBC];
/// All integrity algorithms of this backend.
pub static INTEGRITY: &[&dyn Integrity] = &[
    &HMAC_SHA1_96,
    &HMAC_SHA2_256_128,
    &HMAC_SHA2_384_192,
    &HMAC_SHA2_512_256,
];

/// Returns the aws-lc-rs provider with the caller's RNG (pass a seeded one for determinism).
pub fn provider(random: Arc<dyn SecureRandom>) -> CryptoProvider {
    CryptoProvider {
        aeads: AEADS,
        ciphers: CIPHERS,
        integrity: INTEGRITY,
        random,
    }
}

/// Returns the aws-lc-rs provider with the system RNG ([`SystemRandom`]): what a production
/// node uses. The choice of RNG is the caller's.
pub fn default_provider() -> CryptoProvider {
    provider(Arc::new(SystemRandom))
}

/// The operating-system-seeded RNG of aws-lc (`RAND_bytes`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRandom;

impl SecureRandom for SystemRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        rand::fill(buf).map_err(|_| CryptoError::Rng)
    }
}

/// An aws-lc-rs AEAD catalog entry.
pub struct AwsAead {
    alg: &'static aead::Algorithm,
    id: EncrId,
}

impl std::fmt::Debug for AwsAead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}-{}", self.id, self.alg.key_len() * 8)
    }
}

impl Aead for AwsAead {
    fn transform_id(&self) -> EncrId {
        self.id
    }
    fn key_len(&self) -> usize {
        self.alg.key_len()
    }
    fn salt_len(&self) -> usize {
        4
    }
    fn iv_len(&self) -> usize {
        8
    }
    fn icv_len(&self) -> usize {
        self.alg.tag_len()
    }
    fn new_key(&self, key: &[u8], salt: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        check_len("key", self.alg.key_len(), key.len())?;
        check_len("salt", 4, salt.len())?;
        let unbound = aead::UnboundKey::new(self.alg, key).map_err(|_| CryptoError::Backend)?;
        let mut s = [0u8; 4];
        s.copy_from_slice(salt);
        Ok(Box::new(AwsAeadKey {
            key: aead::LessSafeKey::new(unbound),
            salt: s,
        }))
    }
}

struct AwsAeadKey {
    key: aead::LessSafeKey,
    salt: [u8; 4],
}

impl Drop for AwsAeadKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.salt);
    }
}

impl AwsAeadKey {
    fn nonce(&self, iv: &[u8]) -> Result<aead::Nonce, CryptoError> {
        check_len("iv", 8, iv.len())?;
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&self.salt);
        n[4..].copy_from_slice(iv);
        Ok(aead::Nonce::assume_unique_for_key(n))
    }
}

impl AeadKey for AwsAeadKey {
    fn seal_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        data: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        let nonce = self.nonce(iv)?;
        check_len("icv", self.key.algorithm().tag_len(), icv.len())?;
        // Scatter form: the tag is written straight into the packet's ICV field.
        self.key
            .seal_in_place_scatter(nonce, aead::Aad::from(aad), data, &[], icv)
            .map_err(|_| CryptoError::Backend)
    }

    fn open_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        data: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        let nonce = self.nonce(iv)?;
        check_len("icv", self.key.algorithm().tag_len(), icv.len())?;
        self.key
            .open_in_place_separate_tag(nonce, aead::Aad::from(aad), icv, data)
            .map(|_| ())
            .map_err(|_| CryptoError::AuthFailed)
    }
}

/// An aws-lc-rs AES-CBC catalog entry (unpadded; ESP pads).
pub struct AwsCbc {
    alg: &'static cipher::Algorithm,
    key_len: usize,
}

impl std::fmt::Debug for AwsCbc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ENCR_AES_CBC-{}", self.key_len * 8)
    }
}

impl Cipher for AwsCbc {
    fn transform_id(&self) -> EncrId {
        EncrId::AES_CBC
    }
    fn key_len(&self) -> usize {
        self.key_len
    }
    fn block_len(&self) -> usize {
        16
    }
    fn iv_len(&self) -> usize {
        16
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn CipherKey>, CryptoError> {
        check_len("key", self.key_len, key.len())?;
        let enc = cipher::EncryptingKey::cbc(
            cipher::UnboundCipherKey::new(self.alg, key).map_err(|_| CryptoError::Backend)?,
        )
        .map_err(|_| CryptoError::Backend)?;
        let dec = cipher::DecryptingKey::cbc(
            cipher::UnboundCipherKey::new(self.alg, key).map_err(|_| CryptoError::Backend)?,
        )
        .map_err(|_| CryptoError::Backend)?;
        Ok(Box::new(AwsCbcKey { enc, dec }))
    }
}

struct AwsCbcKey {
    enc: cipher::EncryptingKey,
    dec: cipher::DecryptingKey,
}

/// Checks the arguments of one CBC operation (a 16-byte IV, whole blocks of data) and
/// returns the IV as an array.
fn cbc_args(iv: &[u8], data: &[u8]) -> Result<[u8; 16], CryptoError> {
    check_len("iv", 16, iv.len())?;
    if !data.len().is_multiple_of(16) {
        return Err(CryptoError::BadLength {
            what: "data",
            expected: data.len().next_multiple_of(16),
            got: data.len(),
        });
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(iv);
    Ok(a)
}

impl CipherKey for AwsCbcKey {
    fn encrypt_in_place(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        let iv = cbc_args(iv, data)?;
        let ctx = cipher::EncryptionContext::Iv128(iv.into());
        self.enc
            .less_safe_encrypt(data, ctx)
            .map(|_| ())
            .map_err(|_| CryptoError::Backend)
    }

    fn decrypt_in_place(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        let iv = cbc_args(iv, data)?;
        let ctx = cipher::DecryptionContext::Iv128(iv.into());
        self.dec
            .decrypt(data, ctx)
            .map(|_| ())
            .map_err(|_| CryptoError::Backend)
    }
}

/// An aws-lc-rs truncated-HMAC catalog entry.
pub struct AwsHmac {
    alg: hmac::Algorithm,
    id: IntegId,
    key_len: usize,
    icv_len: usize,
}

impl std::fmt::Debug for AwsHmac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.id)
    }
}

impl Integrity for AwsHmac {
    fn transform_id(&self) -> IntegId {
        self.id
    }
    fn key_len(&self) -> usize {
        self.key_len
    }
    fn icv_len(&self) -> usize {
        self.icv_len
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn IntegrityKey>, CryptoError> {
        check_len("key", self.key_len, key.len())?;
        Ok(Box::new(AwsHmacKey {
            key: hmac::Key::new(self.alg, key),
            icv_len: self.icv_len,
        }))
    }
}

struct AwsHmacKey {
    key: hmac::Key,
    icv_len: usize,
}

impl AwsHmacKey {
    fn tag(&self, parts: &[&[u8]]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign()
    }
}

impl IntegrityKey for AwsHmacKey {
    fn sign(&self, parts: &[&[u8]], icv: &mut [u8]) -> Result<(), CryptoError> {
        check_len("icv", self.icv_len, icv.len())?;
        let tag = self.tag(parts);
        icv.copy_from_slice(&tag.as_ref()[..self.icv_len]);
        Ok(())
    }

    fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        check_len("icv", self.icv_len, icv.len())?;
        let tag = self.tag(parts);
        constant_time::verify_slices_are_equal(&tag.as_ref()[..self.icv_len], icv)
            .map_err(|_| CryptoError::AuthFailed)
    }
}
