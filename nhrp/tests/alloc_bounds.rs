//! Allocation behaviour of the codec, measured with a counting global allocator:
//! the validated view and `emit` allocate nothing; an owned Repr allocates at most a small
//! constant times the packet's size, whatever the length fields say.
//!
//! One test function only: the allocator's counters are process-wide.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;

use nhrp::wire::*;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// captures/nhrp/tcpdump-nhrp-trace.pcap frame 4: Resolution Reply with extensions.
const RES_REPLY: &str = "000108000000000000ff0086659b003c010204000404f80200000005c0a8c8030affff030affff020020000005ea1c2004000400c0a8c8020affff02800300140000000005ea1c2004000400c0a8c8020affff02800400140000000005ea1c2004000400c0a8c8010affff01800500008007000a000000017365637265740009000080000000";

/// Bytes a Repr may allocate per byte of packet.
const FACTOR: usize = 20;

fn fix(mut b: Vec<u8>) -> Vec<u8> {
    let n = b.len() as u16;
    b[10..12].copy_from_slice(&n.to_be_bytes());
    b[12] = 0;
    b[13] = 0;
    let c = checksum::checksum(&b);
    b[12..14].copy_from_slice(&c.to_be_bytes());
    b
}

/// A Registration Request header (IPv4/IPv4) with ar$extoff at the end of the addresses.
fn header(ext_offset: u16) -> Vec<u8> {
    let mut b = hex::decode(
        "000108000000000000ff0000000000000103040004040000000000010a0000010a0000020a000003",
    )
    .unwrap();
    b[14..16].copy_from_slice(&ext_offset.to_be_bytes());
    b
}

fn bytes_allocated(f: impl FnOnce()) -> (usize, usize) {
    let reg = Region::new(GLOBAL);
    f();
    let c = reg.change();
    (c.allocations + c.reallocations, c.bytes_allocated)
}

#[test]
fn allocation_bounds() {
    let real = hex::decode(RES_REPLY).unwrap();
    let repr = PacketRepr::parse(&real).unwrap();
    let mut out = vec![0u8; 512];

    // The view and emit: nothing.
    let (n, _) = bytes_allocated(|| {
        let p = Packet::parse(&real).unwrap();
        for c in p.cies() {
            std::hint::black_box(c.unwrap().client_nbma());
        }
        for e in p.extensions() {
            for c in e.unwrap().cies() {
                std::hint::black_box(c.unwrap());
            }
        }
    });
    assert_eq!(n, 0, "Packet::parse and its iterators allocate");
    let (n, _) = bytes_allocated(|| {
        std::hint::black_box(repr.emit(&mut out).unwrap());
    });
    assert_eq!(n, 0, "emit allocates");

    // Worst cases for the Repr: the smallest possible elements, as many as fit.
    // (a) 16 000 empty unknown extensions (4 bytes each).
    let mut a = header(40);
    for _ in 0..16_000 {
        a.extend_from_slice(&[0x01, 0x23, 0, 0]);
    }
    a.extend_from_slice(&[0x80, 0, 0, 0]);
    // (b) ~5 000 CIEs without addresses (12 bytes each) in the mandatory part.
    let mut b = header(0);
    for _ in 0..5_400 {
        b.extend_from_slice(&[0, 32, 0, 0, 5, 0xdc, 0x1c, 0x20, 0, 0, 0, 255]);
    }
    // (c) one Forward Transit record with ~5 000 CIEs.
    let mut c = header(40);
    let cies = 5_400usize;
    c.extend_from_slice(&[0x80, 0x04]);
    c.extend_from_slice(&((cies * 12) as u16).to_be_bytes());
    for _ in 0..cies {
        c.extend_from_slice(&[0, 32, 0, 0, 5, 0xdc, 0x1c, 0x20, 0, 0, 0, 255]);
    }
    c.extend_from_slice(&[0x80, 0, 0, 0]);
    for (name, pkt) in [
        ("extensions", fix(a)),
        ("cies", fix(b)),
        ("transit", fix(c)),
    ] {
        assert!(pkt.len() <= usize::from(u16::MAX), "{name}: {}", pkt.len());
        let mut parsed = None;
        let (_, bytes) = bytes_allocated(|| parsed = Some(PacketRepr::parse(&pkt).unwrap()));
        let parsed = parsed.unwrap();
        println!(
            "{name}: {bytes} bytes allocated for a {}-byte packet",
            pkt.len()
        );
        assert!(
            bytes <= FACTOR * pkt.len(),
            "{name}: {bytes} bytes allocated for a {}-byte packet",
            pkt.len()
        );
        // And it round-trips.
        assert_eq!(parsed.to_vec().unwrap(), pkt, "{name}");
    }

    // A length field claiming more than the packet holds allocates nothing.
    let mut lie = real.clone();
    lie[10..12].copy_from_slice(&u16::MAX.to_be_bytes());
    let (n, _) = bytes_allocated(|| assert!(PacketRepr::parse(&lie).is_err()));
    assert_eq!(n, 0);
}
