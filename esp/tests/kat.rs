//! Known-answer tests of every algorithm, through the provider traits (DESIGN.md §5).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_arguments
)]

use esp::crypto::{CryptoProvider, EncrId, IntegId, aws_lc};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn provider() -> CryptoProvider {
    aws_lc::default_provider()
}

/// (key, salt||iv nonce, aad, plaintext, ciphertext, tag)
fn aead_case(
    id: EncrId,
    bits: u16,
    key: &str,
    nonce: &str,
    aad: &str,
    pt: &str,
    ct: &str,
    tag: &str,
) {
    let p = provider();
    let alg = p.aead(id, bits).expect("algorithm in provider");
    let nonce = h(nonce);
    let k = alg.new_key(&h(key), &nonce[..4]).unwrap();
    let (aad, pt, ct, tag) = (h(aad), h(pt), h(ct), h(tag));
    let mut buf = pt.clone();
    let mut icv = vec![0u8; alg.icv_len()];
    k.seal_in_place(&nonce[4..], &aad, &mut buf, &mut icv)
        .unwrap();
    assert_eq!(hex::encode(&buf), hex::encode(&ct));
    assert_eq!(hex::encode(&icv), hex::encode(&tag));
    k.open_in_place(&nonce[4..], &aad, &mut buf, &icv).unwrap();
    assert_eq!(buf, pt);
    // Any flipped bit in ciphertext, tag or AAD fails.
    let mut bad = ct.clone();
    if !bad.is_empty() {
        bad[0] ^= 1;
        assert!(k.open_in_place(&nonce[4..], &aad, &mut bad, &tag).is_err());
    }
    let mut bad_tag = tag.clone();
    bad_tag[15] ^= 0x80;
    let mut c = ct.clone();
    assert!(
        k.open_in_place(&nonce[4..], &aad, &mut c, &bad_tag)
            .is_err()
    );
    let mut c = ct.clone();
    let mut bad_aad = aad.clone();
    bad_aad.push(0);
    assert!(
        k.open_in_place(&nonce[4..], &bad_aad, &mut c, &tag)
            .is_err()
    );
}

const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                     1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";

#[test]
fn aes_128_gcm_gcm_spec_test_cases_3_and_4() {
    // McGrew & Viega, "The Galois/Counter Mode of Operation", Appendix B, test cases 3 and 4
    // (the NIST GCM vectors RFC 4106 relies on); salt = cafebabe, IV = facedbaddecaf888.
    let k = "feffe9928665731c6d6a8f9467308308";
    let n = "cafebabefacedbaddecaf888";
    aead_case(
        EncrId::AES_GCM_16,
        128,
        k,
        n,
        "",
        GCM_P,
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
         21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
        "4d5c2af327cd64a62cf35abd2ba6fab4",
    );
    aead_case(
        EncrId::AES_GCM_16,
        128,
        k,
        n,
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        &GCM_P[..120],
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
         21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
        "5bc94fbc3221a5db94fae95ae7121a47",
    );
}

#[test]
fn aes_256_gcm_gcm_spec_test_cases_15_and_16() {
    let k = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    let n = "cafebabefacedbaddecaf888";
    aead_case(
        EncrId::AES_GCM_16,
        256,
        k,
        n,
        "",
        GCM_P,
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
         8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
        "b094dac5d93471bdec1a502270e3cc6c",
    );
    aead_case(
        EncrId::AES_GCM_16,
        256,
        k,
        n,
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        &GCM_P[..120],
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
         8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    );
}

#[test]
fn chacha20_poly1305_rfc8439_2_8_2() {
    // RFC 7634 uses the RFC 8439 AEAD; its nonce is salt(4) || IV(8), here 07000000 || 4041..47.
    let pt = hex::encode(
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the \
          future, sunscreen would be it.",
    );
    aead_case(
        EncrId::CHACHA20_POLY1305,
        256,
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
        "070000004041424344454647",
        "50515253c0c1c2c3c4c5c6c7",
        &pt,
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6\
         3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36\
         92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
         3ff4def08e4b7a9de576d26586cec64b6116",
        "1ae10b594f09e26a7e902ecbd0600691",
    );
}

fn cbc_case(bits: u16, key: &str, iv: &str, pt: &str, ct: &str) {
    let p = provider();
    let c = p.cipher(EncrId::AES_CBC, bits).unwrap();
    let k = c.new_key(&h(key)).unwrap();
    let mut buf = h(pt);
    k.encrypt_in_place(&h(iv), &mut buf).unwrap();
    assert_eq!(hex::encode(&buf), ct);
    k.decrypt_in_place(&h(iv), &mut buf).unwrap();
    assert_eq!(hex::encode(&buf), pt);
    // No padding mode: a partial block is refused, not padded.
    let mut odd = vec![0u8; 17];
    assert!(k.encrypt_in_place(&h(iv), &mut odd).is_err());
    assert!(k.decrypt_in_place(&h(iv), &mut odd).is_err());
}

#[test]
fn aes_cbc_rfc3602_cases_1_2_and_sp800_38a() {
    // RFC 3602 §4 case #1 and #2 (AES-128).
    cbc_case(
        128,
        "06a9214036b8a15b512e03d534120006",
        "3dafba429d9eb430b422da802c9fac41",
        &hex::encode(b"Single block msg"),
        "e353779c1079aeb82708942dbe77181a",
    );
    cbc_case(
        128,
        "c286696d887c9aa0611bbb3e2025a45a",
        "562e17996d093d28ddb3ba695a2e6f58",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
    );
    // NIST SP 800-38A F.2.5 CBC-AES256.Encrypt (first two blocks).
    cbc_case(
        256,
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        "000102030405060708090a0b0c0d0e0f",
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
        "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d",
    );
}

fn integ_case(id: IntegId, key: &[u8], data: &[u8], full: &str) {
    let p = provider();
    let i = p.integrity(id).unwrap();
    assert_eq!(i.key_len(), key.len());
    let k = i.new_key(key).unwrap();
    let mut icv = vec![0u8; i.icv_len()];
    // Split input: the parts are concatenated.
    let (a, b) = data.split_at(data.len() / 2);
    k.sign(&[a, b], &mut icv).unwrap();
    assert_eq!(hex::encode(&icv), full[..2 * i.icv_len()]);
    k.verify(&[data], &icv).unwrap();
    icv[0] ^= 1;
    assert!(k.verify(&[data], &icv).is_err());
    assert!(i.new_key(&key[1..]).is_err());
}

#[test]
fn hmac_rfc4868_2_7_2_and_rfc2202() {
    // RFC 4868 §2.7.2.1-3 test case 1 (key 0x0b repeated, "Hi There") and test case 2 (key
    // "Jefe" repeated), truncated per §2.1; these are RFC 4231 computations with full-length keys.
    let hi = b"Hi There";
    let jefe = b"what do ya want for nothing?";
    integ_case(
        IntegId::HMAC_SHA2_256_128,
        &[0x0b; 32],
        hi,
        "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7",
    );
    integ_case(
        IntegId::HMAC_SHA2_256_128,
        &b"Jefe".repeat(8),
        jefe,
        "167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6",
    );
    integ_case(
        IntegId::HMAC_SHA2_384_192,
        &[0x0b; 48],
        hi,
        "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc\
         4c5df61d5b3297b4fb68dab9f1b582c2",
    );
    integ_case(
        IntegId::HMAC_SHA2_384_192,
        &b"Jefe".repeat(12),
        jefe,
        "2c7353974f1842fd66d53c452ca42122b28c0b594cfb184da86a368e9b8e16f5\
         349524ca4e82400cbde0686d403371c9",
    );
    integ_case(
        IntegId::HMAC_SHA2_512_256,
        &[0x0b; 64],
        hi,
        "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8\
         ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b",
    );
    integ_case(
        IntegId::HMAC_SHA2_512_256,
        &b"Jefe".repeat(16),
        jefe,
        "cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b15454\
         6aa334ae9fb9afc2184932d8695e397bfa0ffb93466cfcceaae38c833b7dba38",
    );
    // RFC 2202 §3 test case 1 (HMAC-SHA-1), truncated to 96 bits (RFC 2404).
    integ_case(
        IntegId::HMAC_SHA1_96,
        &[0x0b; 20],
        hi,
        "b617318655057264e28bc0b6fb378c8ef146be00",
    );
}

#[test]
fn provider_lookup_and_key_lengths() {
    let p = provider();
    assert!(p.aead(EncrId::AES_GCM_16, 192).is_none());
    assert!(p.aead(EncrId::AES_CBC, 128).is_none());
    let gcm = p.aead(EncrId::AES_GCM_16, 128).unwrap();
    assert_eq!(
        (gcm.key_len(), gcm.salt_len(), gcm.iv_len(), gcm.icv_len()),
        (16, 4, 8, 16)
    );
    assert!(gcm.new_key(&[0; 15], &[0; 4]).is_err());
    assert!(gcm.new_key(&[0; 16], &[0; 3]).is_err());
    let k = gcm.new_key(&[0; 16], &[0; 4]).unwrap();
    let mut icv = [0u8; 16];
    assert!(k.seal_in_place(&[0; 7], &[], &mut [], &mut icv).is_err());
    assert!(
        k.seal_in_place(&[0; 8], &[], &mut [], &mut icv[..12])
            .is_err()
    );
    let mut r = [0u8; 16];
    p.random.fill(&mut r).unwrap();
    assert_ne!(r, [0u8; 16]);
}
