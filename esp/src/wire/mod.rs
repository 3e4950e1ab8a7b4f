//! ESP and UDP-encapsulation wire formats (RFC 4303 §2, RFC 3948 §2). Codec only: no state,
//! no clock, no allocation.

mod error;
pub mod udp;

pub use error::{Error, Layer};

/// Length of the fixed ESP header: SPI (4) + sequence number (4) (RFC 4303 §2).
pub const ESP_HEADER_LEN: usize = 8;
/// Length of the ESP trailer without padding: pad length (1) + next header (1).
pub const ESP_TRAILER_LEN: usize = 2;
/// IP protocol number of ESP.
pub const IPPROTO_ESP: u8 = 50;
/// Next header "no next header": a dummy TFC packet (RFC 4303 §2.6).
pub const NEXT_HEADER_NONE: u8 = 59;
/// Next header IPv4 (tunnel mode).
pub const NEXT_HEADER_IPV4: u8 = 4;
/// Next header IPv6 (tunnel mode).
pub const NEXT_HEADER_IPV6: u8 = 41;
/// Next header GRE (DMVPN transport mode).
pub const NEXT_HEADER_GRE: u8 = 47;

/// A validated view of the fixed ESP header (RFC 4303 §2.1, §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EspHeader {
    /// Security Parameter Index.
    pub spi: u32,
    /// Low-order 32 bits of the sequence number.
    pub seq: u32,
}

impl EspHeader {
    /// Reads the header from the start of an ESP packet.
    pub fn parse(packet: &[u8]) -> Result<Self, Error> {
        let h: &[u8; 8] = packet
            .get(..ESP_HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::Truncated {
                layer: Layer::Esp,
                needed: ESP_HEADER_LEN,
                got: packet.len(),
            })?;
        Ok(Self {
            spi: u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
            seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        })
    }

    /// Writes the header into `out[..8]`; `out` must be at least 8 bytes.
    pub fn emit(&self, out: &mut [u8]) -> Result<(), Error> {
        let got = out.len();
        let h = out.get_mut(..ESP_HEADER_LEN).ok_or(Error::Truncated {
            layer: Layer::Esp,
            needed: ESP_HEADER_LEN,
            got,
        })?;
        h[..4].copy_from_slice(&self.spi.to_be_bytes());
        h[4..].copy_from_slice(&self.seq.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_truncated() {
        // frr-nhrpd-registration-esp.pcap frame 2: SPI 0x00001001, seq 1.
        let b = [0x00, 0x00, 0x10, 0x01, 0x00, 0x00, 0x00, 0x01];
        let h = EspHeader::parse(&b).unwrap();
        assert_eq!(
            h,
            EspHeader {
                spi: 0x1001,
                seq: 1
            }
        );
        let mut out = [0u8; 8];
        h.emit(&mut out).unwrap();
        assert_eq!(out, b);
        assert_eq!(
            EspHeader::parse(&b[..7]),
            Err(Error::Truncated {
                layer: Layer::Esp,
                needed: 8,
                got: 7
            })
        );
        assert!(h.emit(&mut out[..3]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn header_parse_emit_round_trip(spi: u32, seq: u32, tail in proptest::collection::vec(0u8.., 0..32)) {
            let h = EspHeader { spi, seq };
            let mut b = vec![0u8; 8];
            h.emit(&mut b).unwrap();
            b.extend_from_slice(&tail);
            proptest::prop_assert_eq!(EspHeader::parse(&b), Ok(h));
        }

        #[test]
        fn header_parse_never_panics(b in proptest::collection::vec(0u8.., 0..16)) {
            let r = EspHeader::parse(&b);
            proptest::prop_assert_eq!(r.is_ok(), b.len() >= 8);
        }
    }
}
