//! **NO SECURITY. Fuzzing only.** An identity "cipher", a constant ICV and a counter RNG, so
//! that stateful fuzzers reach post-authentication states (rustls-fuzzing-provider style).
//!
//! It registers under the real IANA transform IDs and key lengths so that the same
//! [`SaParams`](crate::SaParams) work with it. Never enable the `insecure` feature in a build
//! that carries real traffic.

use std::sync::Arc;

use super::{
    Aead, AeadKey, Cipher, CipherKey, CryptoError, CryptoProvider, EncrId, IntegId, Integrity,
    IntegrityKey, SeededRandom, check_len,
};

/// The byte every insecure ICV consists of.
pub const INSECURE_ICV_BYTE: u8 = 0x1c;

/// Insecure identity AEAD (registered as the given transform and key length).
#[derive(Debug)]
pub struct InsecureAead {
    id: EncrId,
    key_len: usize,
}

/// Insecure identity block cipher (registered as AES-CBC).
#[derive(Debug)]
pub struct InsecureCipher {
    key_len: usize,
}

/// Insecure constant-ICV integrity algorithm.
#[derive(Debug)]
pub struct InsecureIntegrity {
    id: IntegId,
    key_len: usize,
    icv_len: usize,
}

static AEADS: &[&dyn Aead] = &[
    &InsecureAead {
        id: EncrId::AES_GCM_16,
        key_len: 16,
    },
    &InsecureAead {
        id: EncrId::AES_GCM_16,
        key_len: 32,
    },
    &InsecureAead {
        id: EncrId::CHACHA20_POLY1305,
        key_len: 32,
    },
];
static CIPHERS: &[&dyn Cipher] = &[
    &InsecureCipher { key_len: 16 },
    &InsecureCipher { key_len: 32 },
];
static INTEGRITY: &[&dyn Integrity] = &[
    &InsecureIntegrity {
        id: IntegId::HMAC_SHA1_96,
        key_len: 20,
        icv_len: 12,
    },
    &InsecureIntegrity {
        id: IntegId::HMAC_SHA2_256_128,
        key_len: 32,
        icv_len: 16,
    },
    &InsecureIntegrity {
        id: IntegId::HMAC_SHA2_384_192,
        key_len: 48,
        icv_len: 24,
    },
    &InsecureIntegrity {
        id: IntegId::HMAC_SHA2_512_256,
        key_len: 64,
        icv_len: 32,
    },
];

/// Returns the **insecure** provider: identity cipher, constant ICV, predictable RNG
/// seeded with `seed`.
pub fn insecure_provider(seed: u64) -> CryptoProvider {
    CryptoProvider {
        aeads: AEADS,
        ciphers: CIPHERS,
        integrity: INTEGRITY,
        random: Arc::new(SeededRandom::new(seed)),
    }
}

fn check_icv(icv: &[u8]) -> Result<(), CryptoError> {
    if icv.iter().all(|&b| b == INSECURE_ICV_BYTE) {
        Ok(())
    } else {
        Err(CryptoError::AuthFailed)
    }
}

struct Identity {
    icv_len: usize,
}

impl Aead for InsecureAead {
    fn transform_id(&self) -> EncrId {
        self.id
    }
    fn key_len(&self) -> usize {
        self.key_len
    }
    fn salt_len(&self) -> usize {
        4
    }
    fn iv_len(&self) -> usize {
        8
    }
    fn icv_len(&self) -> usize {
        16
    }
    fn new_key(&self, key: &[u8], salt: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        check_len("key", self.key_len, key.len())?;
        check_len("salt", 4, salt.len())?;
        Ok(Box::new(Identity { icv_len: 16 }))
    }
}

impl AeadKey for Identity {
    fn seal_in_place(
        &self,
        iv: &[u8],
        _: &[u8],
        _: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        check_len("iv", 8, iv.len())?;
        check_len("icv", self.icv_len, icv.len())?;
        icv.fill(INSECURE_ICV_BYTE);
        Ok(())
    }
    fn open_in_place(
        &self,
        iv: &[u8],
        _: &[u8],
        _: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        check_len("iv", 8, iv.len())?;
        check_len("icv", self.icv_len, icv.len())?;
        check_icv(icv)
    }
}

impl Cipher for InsecureCipher {
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
        Ok(Box::new(Identity { icv_len: 0 }))
    }
}

impl CipherKey for Identity {
    fn encrypt_in_place(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        check_len("iv", 16, iv.len())?;
        check_len("data", data.len().next_multiple_of(16), data.len())
    }
    fn decrypt_in_place(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        self.encrypt_in_place(iv, data)
    }
}

impl Integrity for InsecureIntegrity {
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
        Ok(Box::new(Identity {
            icv_len: self.icv_len,
        }))
    }
}

impl IntegrityKey for Identity {
    fn sign(&self, _: &[&[u8]], icv: &mut [u8]) -> Result<(), CryptoError> {
        check_len("icv", self.icv_len, icv.len())?;
        icv.fill(INSECURE_ICV_BYTE);
        Ok(())
    }
    fn verify(&self, _: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        check_len("icv", self.icv_len, icv.len())?;
        check_icv(icv)
    }
}
