//! The Internet checksum of RFC 1071 (used by GRE, RFC 2784 §2.5; also by NHRP, RFC 2332 §5.2.1,
//! IPv4, ICMP, UDP ...).
//!
//! The checksum is the 16-bit one's complement of the one's complement sum of the data taken as
//! big-endian 16-bit words, an odd trailing byte padded with a zero byte on the right.
//!
//! The implementation uses the properties listed in RFC 1071 §2: the sum is independent of byte
//! order (§2(B), so words are read in native order and the result swapped once at the end) and
//! can be computed on wider words and folded afterwards (§2(C), so it adds 32-bit words into a
//! 64-bit accumulator, which the compiler vectorises). No byte loop, no allocation.
//!
//! Reuse: other crates of the stack (NHRP) compute the same function; they may copy these
//! semantics: [`internet_checksum`] over the message with its checksum field zeroed to emit,
//! [`verify`] over the message as received.

/// Bytes summed between two folds of the 64-bit accumulator. Each step adds at most
/// `u32::MAX`, so 2^30 bytes (2^28 words) can never overflow 64 bits.
const BLOCK: usize = 1 << 30;

/// Adds `data` as native-endian 32-bit words into a 64-bit accumulator (no overflow: the caller
/// passes at most [`BLOCK`] bytes), returning the unfolded sum. A trailing partial word is
/// handled as 16-bit word plus padded byte, exactly as RFC 1071 pads.
fn sum_native(data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    let mut acc: u64 = 0;
    for w in &mut words {
        acc += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_ne_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        // RFC 1071: an odd byte is the high-order byte of a word whose low byte is zero.
        acc += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    acc
}

/// Folds a 64-bit one's complement accumulator into 16 bits (end-around carry).
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop leaves `acc <= 0xffff`, so the cast is lossless.
    acc as u16
}

/// The one's complement sum (RFC 1071 §1, *not* complemented) of `data` as big-endian 16-bit
/// words.
///
/// A correctly checksummed message sums to `0xffff` (RFC 1071 §1 step (3)). This value is also
/// the building block for sums over several non-contiguous pieces: the sum of the pieces is the
/// one's complement sum of their sums, as long as every piece but the last has an even length.
#[must_use]
pub fn ones_complement_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    for block in data.chunks(BLOCK) {
        acc = u64::from(fold(acc)) + sum_native(block);
    }
    // Words were read in native order; the sum of byte-swapped words is the byte-swapped sum.
    u16::from_be(fold(acc))
}

/// The RFC 1071 Internet checksum of `data`: the one's complement of [`ones_complement_sum`].
///
/// To emit, compute it over the message with the checksum field set to zero and store the
/// result big-endian in that field.
///
/// ```
/// // RFC 1071 §3 numerical example: the sum of 00 01 f2 03 f4 f5 f6 f7 is 0xddf2.
/// let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
/// assert_eq!(gre::checksum::internet_checksum(&data), !0xddf2);
/// ```
#[must_use]
pub fn internet_checksum(data: &[u8]) -> u16 {
    !ones_complement_sum(data)
}

/// Whether `data`, including its stored checksum field, verifies (its checksum over the whole
/// message is zero, RFC 1071 §1 step (3)).
#[must_use]
pub fn verify(data: &[u8]) -> bool {
    internet_checksum(data) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious byte-at-a-time definition, as a reference.
    fn reference(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in data.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).copied().map_or(0, u32::from);
            sum += hi | lo;
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_complement_sum(&data), 0xddf2);
        assert_eq!(internet_checksum(&data), 0x220d);
    }

    #[test]
    fn odd_length_pads_right() {
        assert_eq!(ones_complement_sum(&[0xab]), 0xab00);
        assert_eq!(ones_complement_sum(&[0x00, 0x01, 0xab]), 0xab01);
        assert_eq!(ones_complement_sum(&[0x12, 0x34, 0x56, 0x78, 0x9a]), 0x02ad);
        // 0x1234 + 0x5678 + 0x9a00 = 0x1_02ac, end-around carry -> 0x02ad.
    }

    #[test]
    fn empty_and_all_ones() {
        assert_eq!(internet_checksum(&[]), 0xffff);
        // 0xffff + 0xffff = 0x1fffe -> 0xffff: one's complement "negative zero".
        assert_eq!(ones_complement_sum(&[0xff; 4]), 0xffff);
        assert!(verify(&[0xff, 0xff]));
    }

    #[test]
    fn carries_fold_end_around() {
        // 0x8000 * 4 = 0x20000 -> 0x0002.
        assert_eq!(
            ones_complement_sum(&[0x80, 0x00, 0x80, 0x00, 0x80, 0x00, 0x80, 0x00]),
            2
        );
    }

    #[test]
    fn ipv4_header_vector() {
        // The worked IPv4 header example (192.168.0.1 -> 192.168.0.199, UDP) with checksum 0xb861.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(verify(&hdr));
        let mut zeroed = hdr;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(internet_checksum(&zeroed), 0xb861);
    }

    proptest! {
        #[test]
        fn matches_reference(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            prop_assert_eq!(internet_checksum(&data), reference(&data));
        }

        #[test]
        fn inserted_checksum_verifies(mut data in proptest::collection::vec(any::<u8>(), 2..600)) {
            data[0] = 0;
            data[1] = 0;
            let c = internet_checksum(&data);
            data[..2].copy_from_slice(&c.to_be_bytes());
            prop_assert!(verify(&data));
        }

        #[test]
        fn misaligned_slices_agree(data in proptest::collection::vec(any::<u8>(), 1..300), off in 0usize..4) {
            let off = off.min(data.len());
            prop_assert_eq!(internet_checksum(&data[off..]), reference(&data[off..]));
        }
    }
}
