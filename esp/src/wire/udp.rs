//! UDP encapsulation of ESP for NAT traversal (RFC 3948).
//!
//! On port 4500 one UDP socket carries three things, told apart by the first bytes of the UDP
//! payload (RFC 3948 §2.2, §2.3; RFC 7296 §2.23):
//! * a single byte `0xFF`: a NAT-keepalive, to be dropped;
//! * four zero bytes (the *non-ESP marker*), then an IKE message;
//! * anything else: an ESP packet starting with its (non-zero) SPI.

use super::{ESP_HEADER_LEN, Error, Layer};

/// The IKE / NAT-T port (RFC 3948 §2).
pub const NAT_T_PORT: u16 = 4500;
/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;
/// The non-ESP marker that precedes IKE messages on port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The one-byte NAT-keepalive payload (RFC 3948 §2.3).
pub const NAT_KEEPALIVE: [u8; 1] = [0xFF];

/// What a UDP/4500 payload carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpPayload {
    /// ESP; the packet is the whole UDP payload (starts with the SPI).
    Esp,
    /// IKE; the message starts at this offset (after the non-ESP marker).
    Ike {
        /// Offset of the IKE header in the UDP payload (4).
        offset: usize,
    },
    /// NAT-keepalive (drop silently).
    Keepalive,
}

/// Classifies the payload of a UDP datagram received on port 4500 (RFC 3948 §2).
pub fn classify(udp_payload: &[u8]) -> Result<UdpPayload, Error> {
    if udp_payload == NAT_KEEPALIVE {
        return Ok(UdpPayload::Keepalive);
    }
    if udp_payload.len() >= 4 && udp_payload[..4] == NON_ESP_MARKER {
        return Ok(UdpPayload::Ike { offset: 4 });
    }
    if udp_payload.len() < ESP_HEADER_LEN {
        return Err(Error::Truncated {
            layer: Layer::Udp,
            needed: ESP_HEADER_LEN,
            got: udp_payload.len(),
        });
    }
    Ok(UdpPayload::Esp)
}

/// A UDP header (RFC 768).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Length of header + payload.
    pub length: u16,
    /// Checksum; ESP-in-UDP senders write 0 (RFC 3948 §2.1, IPv4).
    pub checksum: u16,
}

impl UdpHeader {
    /// Parses a UDP datagram and returns the header and the payload range it declares.
    pub fn parse(datagram: &[u8]) -> Result<(Self, core::ops::Range<usize>), Error> {
        let h = datagram.get(..UDP_HEADER_LEN).ok_or(Error::Truncated {
            layer: Layer::Udp,
            needed: UDP_HEADER_LEN,
            got: datagram.len(),
        })?;
        let hdr = Self {
            src_port: u16::from_be_bytes([h[0], h[1]]),
            dst_port: u16::from_be_bytes([h[2], h[3]]),
            length: u16::from_be_bytes([h[4], h[5]]),
            checksum: u16::from_be_bytes([h[6], h[7]]),
        };
        let len = usize::from(hdr.length);
        if len < UDP_HEADER_LEN || len > datagram.len() {
            return Err(Error::BadLength {
                layer: Layer::Udp,
                field: "length",
                value: u32::from(hdr.length),
            });
        }
        Ok((hdr, UDP_HEADER_LEN..len))
    }

    /// Writes the header into `out[..8]`.
    pub fn emit(&self, out: &mut [u8]) -> Result<(), Error> {
        let got = out.len();
        let h = out.get_mut(..UDP_HEADER_LEN).ok_or(Error::Truncated {
            layer: Layer::Udp,
            needed: UDP_HEADER_LEN,
            got,
        })?;
        h[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        h[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        h[4..6].copy_from_slice(&self.length.to_be_bytes());
        h[6..8].copy_from_slice(&self.checksum.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux() {
        assert_eq!(classify(&[0xff]), Ok(UdpPayload::Keepalive));
        assert_eq!(
            classify(&[0, 0, 0, 0, 0x2e, 0x20]),
            Ok(UdpPayload::Ike { offset: 4 })
        );
        // tcpdump-espudp1-natt.pcap: payload starts with SPI 0x12345678.
        assert_eq!(
            classify(&[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1]),
            Ok(UdpPayload::Esp)
        );
        assert!(matches!(
            classify(&[0x12, 0x34]),
            Err(Error::Truncated { .. })
        ));
        assert!(classify(&[]).is_err());
        assert!(classify(&[0xfe]).is_err());
    }

    #[test]
    fn header_round_trip() {
        let h = UdpHeader {
            src_port: 4500,
            dst_port: 10954,
            length: 12,
            checksum: 0,
        };
        let mut b = [0u8; 12];
        h.emit(&mut b).unwrap();
        assert_eq!(&b[..8], &[0x11, 0x94, 0x2a, 0xca, 0, 12, 0, 0]);
        assert_eq!(UdpHeader::parse(&b), Ok((h, 8..12)));
        b[5] = 13;
        assert!(UdpHeader::parse(&b).is_err());
        b[5] = 7;
        assert!(UdpHeader::parse(&b).is_err());
    }

    proptest::proptest! {
        #[test]
        fn udp_round_trip(src: u16, dst: u16, payload in proptest::collection::vec(0u8.., 0..64)) {
            let len = (8 + payload.len()) as u16;
            let h = UdpHeader { src_port: src, dst_port: dst, length: len, checksum: 0 };
            let mut b = vec![0u8; 8];
            h.emit(&mut b).unwrap();
            b.extend_from_slice(&payload);
            proptest::prop_assert_eq!(UdpHeader::parse(&b), Ok((h, 8..b.len())));
        }

        #[test]
        fn classify_is_total(b in proptest::collection::vec(0u8.., 0..16)) {
            match classify(&b) {
                Ok(UdpPayload::Keepalive) => proptest::prop_assert_eq!(&b[..], &NAT_KEEPALIVE[..]),
                Ok(UdpPayload::Ike { offset }) => proptest::prop_assert!(b[..offset] == NON_ESP_MARKER),
                Ok(UdpPayload::Esp) => proptest::prop_assert!(b.len() >= 8 && b[..4] != NON_ESP_MARKER),
                Err(_) => proptest::prop_assert!(b.len() < 8),
            }
        }
    }
}
