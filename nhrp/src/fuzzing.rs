//! Bodies of the fuzz targets (the files in `fuzz/fuzz_targets/` are shims), replayed over
//! their corpora by `cargo test`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::wire::{Packet, PacketRepr};

/// `nhrp_packet_decode`: parsing arbitrary bytes never panics; walking a parsed view yields
/// no error; a parsed packet re-emits, the re-emitted bytes parse to the same Repr and emit
/// again to identical bytes (parse -> emit -> parse is stable).
pub fn nhrp_packet_decode(data: &[u8]) {
    let _ = Packet::parse_unverified(data);
    let Ok(view) = Packet::parse(data) else {
        return;
    };
    for c in view.cies() {
        c.expect("a validated view yields valid CIEs");
    }
    for e in view.extensions() {
        e.expect("a validated view yields valid extensions");
    }
    let repr = view.to_repr().expect("a validated view converts");
    let bytes = repr.to_vec().expect("a parsed packet must re-emit");
    assert!(
        bytes.len() <= data.len(),
        "re-emitting never grows a packet"
    );
    let again = PacketRepr::parse(&bytes).expect("re-emitted packet must parse");
    assert_eq!(again, repr);
    assert_eq!(again.to_vec().expect("emit"), bytes);
}

/// `nhrp_repr_roundtrip`: any arbitrary Repr either fails to emit with a typed error, or its
/// bytes parse back to an equal Repr.
#[cfg(any(test, feature = "arbitrary"))]
pub fn nhrp_repr_roundtrip(data: &[u8]) {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(repr) = u.arbitrary::<PacketRepr>() else {
        return;
    };
    let Ok(bytes) = repr.to_vec() else { return };
    assert_eq!(bytes.len(), repr.buffer_len());
    let parsed = PacketRepr::parse(&bytes).expect("emitted packet must parse");
    assert_eq!(parsed, repr);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn replay(target: &str, f: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus directory") {
            let path = entry.expect("entry").path();
            let data = std::fs::read(&path).expect("read seed");
            f(&data);
            n += 1;
        }
        assert!(n > 0, "empty corpus {}", dir.display());
    }

    #[test]
    fn replay_nhrp_packet_decode_corpus() {
        replay("nhrp_packet_decode", super::nhrp_packet_decode);
    }

    #[test]
    fn replay_nhrp_repr_roundtrip_corpus() {
        replay("nhrp_repr_roundtrip", super::nhrp_repr_roundtrip);
    }

    #[test]
    fn decode_target_survives_mutations_of_real_packets() {
        // Flip every byte of a real packet through a few values; nothing may panic.
        let seed = hex::decode("000108000000000000ff0051e8e400340103040004048000000000050a000c02c0a80002c0a8000100ff000005ea001e000000008003000080040000800500008007000900000001434953434f80000000").expect("hex");
        for i in 0..seed.len() {
            for v in [0u8, 1, 0x40, 0x80, 0xff] {
                let mut b = seed.clone();
                b[i] = v;
                super::nhrp_packet_decode(&b);
                // With a repaired checksum the deeper layers run too.
                b[12] = 0;
                b[13] = 0;
                let c = crate::wire::checksum::checksum(&b);
                b[12..14].copy_from_slice(&c.to_be_bytes());
                super::nhrp_packet_decode(&b);
            }
        }
    }
}
