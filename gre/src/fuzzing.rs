//! Bodies of the fuzz targets (the files in `fuzz/fuzz_targets/` are one-line shims).
//!
//! Compiled for `cfg(fuzzing)` (cargo-fuzz) and for tests, which replay the seed corpus in
//! `fuzz/corpus/gre_packet_decode/` on stable Rust.
// A fuzz body reports a finding by panicking: that is its job.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::wire::{Packet, Repr};
use crate::{Config, Endpoint};

/// Decodes arbitrary bytes as a GRE packet. Checks that decoding never panics, that
/// parse → emit → parse is stable (same `Repr`, same payload, checksum verifies), that the
/// re-emitted header is byte-identical to the input whenever the input used no ignored
/// reserved bits, and that an [`Endpoint`] counts every packet exactly once.
///
/// With the `arbitrary` feature (as the fuzz crate builds it), the same bytes are also read as
/// an arbitrary [`Repr`] plus payload and round-tripped through encapsulation.
pub fn gre_packet_decode(data: &[u8]) {
    endpoint_counts_once(data);
    #[cfg(feature = "arbitrary")]
    repr_round_trip(data);
    let Ok(packet) = Packet::parse(data) else {
        return;
    };
    // Every accessor of a parsed view is total.
    let _ = (
        packet.flags(),
        packet.version(),
        packet.reserved0(),
        packet.reserved1(),
    );
    let _ = (
        packet.checksum(),
        packet.checksum_valid(),
        packet.protocol_type(),
    );
    assert_eq!(packet.header_len() + packet.payload().len(), data.len());
    assert_eq!(packet.key().is_some(), packet.key_present());
    assert_eq!(packet.sequence().is_some(), packet.sequence_present());
    let Ok(repr) = Repr::parse(&packet) else {
        assert_eq!(packet.checksum_valid(), Some(false));
        return;
    };
    assert_eq!(repr.header_len(), packet.header_len());

    let mut buf = data.to_vec();
    repr.emit(&mut buf)
        .expect("buffer is as long as the parsed packet");
    let again = Packet::parse(&buf).expect("emitted packet parses");
    assert_eq!(Repr::parse(&again), Ok(repr));
    assert_eq!(again.payload(), packet.payload());
    assert_eq!(again.reserved0(), 0);
    assert_eq!(again.reserved1().unwrap_or(0), 0);

    if packet.reserved0() == 0 && packet.reserved1().unwrap_or(0) == 0 {
        let header_len = repr.header_len();
        let mut want = data[..header_len].to_vec();
        let mut got = buf[..header_len].to_vec();
        if repr.checksum {
            // 0x0000 and 0xffff are both valid encodings of a zero one's complement sum.
            want[4..6].fill(0);
            got[4..6].fill(0);
        }
        assert_eq!(got, want, "re-emitted header differs from the input");
    }
}

/// Any `Repr` with any payload: encapsulate in place, parse, get the same back.
#[cfg(feature = "arbitrary")]
fn repr_round_trip(data: &[u8]) {
    use arbitrary::Arbitrary;
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(repr) = Repr::arbitrary(&mut u) else {
        return;
    };
    let payload = u.take_rest();
    let start = Repr::MAX_HEADER_LEN;
    let mut buf = vec![0u8; start + payload.len()];
    buf[start..].copy_from_slice(payload);
    let packet = repr
        .encapsulate(&mut buf, start)
        .expect("headroom suffices");
    assert_eq!(packet.len(), repr.buffer_len(payload.len()));
    let parsed = Packet::parse(packet).expect("emitted packet parses");
    assert_eq!(Repr::parse(&parsed), Ok(repr));
    assert_eq!(parsed.payload(), payload);
}

/// Feeds the bytes to differently configured endpoints: each counts exactly one outcome.
fn endpoint_counts_once(data: &[u8]) {
    let configs = [
        Config::default(),
        Config {
            key: Some(0x28),
            check_sequence: true,
            max_peers: 1,
            ..Config::default()
        },
    ];
    for config in configs {
        let Ok(mut endpoint) = Endpoint::<u8>::new(config) else {
            unreachable!("valid configuration");
        };
        for peer in [0u8, 0, 1] {
            let before = endpoint.stats();
            let _ = endpoint.decapsulate(peer, data);
            let after = endpoint.stats();
            assert_eq!(
                after.rx_packets + after.dropped(),
                before.rx_packets + before.dropped() + 1
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORPUS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/gre_packet_decode"
    );

    #[test]
    fn replay_corpus() {
        let entries = std::fs::read_dir(CORPUS).expect("corpus directory exists");
        let mut replayed = 0;
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_file() {
                let data = std::fs::read(&path).expect("readable seed");
                gre_packet_decode(&data);
                replayed += 1;
            }
        }
        assert!(
            replayed >= 10,
            "expected the seed corpus, found {replayed} files"
        );
    }

    #[test]
    fn edge_inputs() {
        for data in [
            &[][..],
            &[0x00],
            &[0x80, 0x00, 0x08, 0x00],
            &[0xff; 16],
            &[0xb0, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 1],
        ] {
            gre_packet_decode(data);
        }
    }
}
