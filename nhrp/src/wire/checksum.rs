//! The Internet checksum (RFC 1071) used by ar$chksum (RFC 2332 §5.1).

/// Ones'-complement sum of `data` as big-endian 16-bit words (odd tail padded with zero),
/// folded to 16 bits, *not* complemented.
///
/// Works on 8 bytes at a time: the big-endian sum of 32-bit halves is congruent to the 16-bit
/// word sum modulo 0xffff, so folding at the end gives the same result (RFC 1071 §2 (B)).
pub fn sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for c in &mut rest {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = rest.remainder() {
        acc += u64::from(*b) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The value to put in a checksum field whose bytes are zero in `data`: `!sum(data)`.
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytewise(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for (i, b) in data.iter().enumerate() {
            acc += if i % 2 == 0 {
                u32::from(*b) << 8
            } else {
                u32::from(*b)
            };
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        assert_eq!(
            sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn matches_bytewise_reference_for_all_lengths() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(167) ^ 0xa5) as u8)
            .collect();
        for n in 0..data.len() {
            assert_eq!(sum(&data[..n]), bytewise(&data[..n]), "len {n}");
        }
        let ff = [0xffu8; 77];
        for n in 0..ff.len() {
            assert_eq!(sum(&ff[..n]), bytewise(&ff[..n]), "ff len {n}");
        }
    }
}
