//! Bodies of the fuzz targets (the files in `fuzz/fuzz_targets/` are shims).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::wire::{Packet, PacketRepr};

/// `nhrp_packet_decode`: parsing never panics; a packet that parses re-emits to bytes that
/// parse to the same Repr, and re-emitting those gives identical bytes.
pub fn nhrp_packet_decode(data: &[u8]) {
    let Ok(view) = Packet::parse(data) else {
        return;
    };
    for c in view.cies() {
        let _ = c;
    }
    let Ok(repr) = view.to_repr() else { return };
    let bytes = repr.to_vec().expect("a parsed packet must re-emit");
    let again = PacketRepr::parse(&bytes).expect("re-emitted packet must parse");
    assert_eq!(again, repr);
    assert_eq!(again.to_vec().expect("emit"), bytes);
}

/// `nhrp_repr_roundtrip`: any Repr that emits parses back to itself.
#[cfg(any(test, feature = "arbitrary"))]
pub fn nhrp_repr_roundtrip(data: &[u8]) {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(repr) = u.arbitrary::<PacketRepr>() else {
        return;
    };
    let Ok(bytes) = repr.to_vec() else { return };
    let parsed = PacketRepr::parse(&bytes).expect("emitted packet must parse");
    assert_eq!(parsed, repr);
}
