//! The validated borrowed view [`Packet`] and the owned [`Repr`] of a GRE packet.

use core::fmt;

use super::header::{
    BaseHeader, FLAG_CHECKSUM, FLAG_KEY, FLAG_SEQUENCE, RESERVED0_DISCARD, RESERVED0_IGNORED,
};
use super::{Error, Layer, ProtocolType};
use crate::checksum;

/// A validated, borrowed view of a GRE packet (header and payload).
///
/// [`Packet::parse`] applies the receive rules of RFC 2784 §2.3 that concern the header's
/// shape — version 0 only, the Reserved0 bits a non-RFC-1701 receiver must discard, every
/// optional word the flags announce present — after which no accessor can panic. The view
/// exposes the raw fields, including the stored checksum, without verifying it:
/// [`Packet::checksum_valid`] computes it on demand and [`Repr::parse`] rejects a bad one.
///
/// The payload is everything after the header: GRE carries no length of its own, the outer IP
/// header delimits the packet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    bytes: &'a [u8],
    base: &'a BaseHeader,
    /// Checksum and Reserved1 as one word, if C is set.
    checksum_word: Option<u32>,
    key: Option<u32>,
    sequence: Option<u32>,
    payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Validates `buf` (a whole GRE packet: header followed by payload) and returns the view.
    ///
    /// Checks, in this order:
    /// 1. at least the 4-octet base header → else [`Error::Truncated`];
    /// 2. Version is 0 (RFC 2784 §2.3.1: other versions MUST be discarded; version 1 is PPTP's
    ///    enhanced GRE) → else [`Error::Unsupported`] with field `"version"`;
    /// 3. Reserved0 bits 1, 4 and 5 are clear (RFC 2784 §2.3: MUST discard unless RFC 1701 is
    ///    implemented, which it is not here) → else [`Error::Reserved`]; bits 6-12 are ignored
    ///    as §2.3 requires (see [`Packet::reserved0`]);
    /// 4. the Checksum/Reserved1, Key and Sequence Number words announced by C, K and S are all
    ///    there → else [`Error::Truncated`].
    ///
    /// The checksum is *not* verified here (see [`Repr::parse`]).
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Self, Error> {
        let Some((base, rest)) = buf.split_first_chunk::<{ BaseHeader::LEN }>() else {
            return Err(Error::Truncated {
                layer: Layer::Gre,
                needed: BaseHeader::LEN,
                got: buf.len(),
            });
        };
        let base: &BaseHeader = zerocopy::transmute_ref!(base);
        let version = base.version();
        if version != 0 {
            return Err(Error::Unsupported {
                layer: Layer::Gre,
                field: "version",
                value: version.into(),
            });
        }
        let discard = base.flags_version.get() & RESERVED0_DISCARD;
        if discard != 0 {
            return Err(Error::Reserved {
                layer: Layer::Gre,
                field: "reserved0",
                bits: discard,
            });
        }
        let truncated = Error::Truncated {
            layer: Layer::Gre,
            needed: base.header_len(),
            got: buf.len(),
        };
        let mut rest = rest;
        let mut take = |present: bool| -> Result<Option<u32>, Error> {
            if !present {
                return Ok(None);
            }
            let (word, tail) = rest.split_first_chunk::<4>().ok_or(truncated)?;
            rest = tail;
            Ok(Some(u32::from_be_bytes(*word)))
        };
        let checksum_word = take(base.checksum_present())?;
        let key = take(base.key_present())?;
        let sequence = take(base.sequence_present())?;
        Ok(Self {
            bytes: buf,
            base,
            checksum_word,
            key,
            sequence,
            payload: rest,
        })
    }

    /// The zerocopy base header.
    #[inline]
    #[must_use]
    pub fn base_header(&self) -> &'a BaseHeader {
        self.base
    }

    /// The raw first 16-bit word: C, Reserved0, K, S and Version bits.
    #[inline]
    #[must_use]
    pub fn flags(&self) -> u16 {
        self.base.flags_version.get()
    }

    /// C bit: Checksum and Reserved1 are present (RFC 2784 §2.2).
    #[inline]
    #[must_use]
    pub fn checksum_present(&self) -> bool {
        self.base.checksum_present()
    }

    /// K bit: a Key is present (RFC 2890 §2).
    #[inline]
    #[must_use]
    pub fn key_present(&self) -> bool {
        self.base.key_present()
    }

    /// S bit: a Sequence Number is present (RFC 2890 §2).
    #[inline]
    #[must_use]
    pub fn sequence_present(&self) -> bool {
        self.base.sequence_present()
    }

    /// The Version field; always 0 in a parsed packet.
    #[inline]
    #[must_use]
    pub fn version(&self) -> u8 {
        self.base.version()
    }

    /// Reserved0 bits 6-12 as received, in place (mask `0x03f8`). RFC 2784 §2.3 says they MUST
    /// be ignored on receipt, so `parse` accepts them; [`Repr`] drops them and sends zero.
    #[inline]
    #[must_use]
    pub fn reserved0(&self) -> u16 {
        self.flags() & RESERVED0_IGNORED
    }

    /// The Protocol Type of the payload (RFC 2784 §2.4).
    #[inline]
    #[must_use]
    pub fn protocol_type(&self) -> ProtocolType {
        self.base.protocol_type()
    }

    /// The stored Checksum field as received (RFC 2784 §2.5), if C is set. Not verified.
    #[inline]
    #[must_use]
    pub fn checksum(&self) -> Option<u16> {
        self.checksum_word().map(|w| (w >> 16) as u16)
    }

    /// The Reserved1 field (RFC 2784 §2.6), if C is set. Sent as zero; ignored on receipt.
    #[inline]
    #[must_use]
    pub fn reserved1(&self) -> Option<u16> {
        self.checksum_word().map(|w| (w & 0xffff) as u16)
    }

    /// Whether the checksum verifies over header and payload, `None` when C is clear.
    #[inline]
    #[must_use]
    pub fn checksum_valid(&self) -> Option<bool> {
        self.checksum_present()
            .then(|| checksum::verify(self.bytes))
    }

    /// The Key (RFC 2890 §2.1), if K is set.
    #[inline]
    #[must_use]
    pub fn key(&self) -> Option<u32> {
        self.key
    }

    /// The Sequence Number (RFC 2890 §2.2), if S is set.
    #[inline]
    #[must_use]
    pub fn sequence(&self) -> Option<u32> {
        self.sequence
    }

    /// Length of the header: 4 octets plus 4 per optional word.
    #[inline]
    #[must_use]
    pub fn header_len(&self) -> usize {
        self.bytes.len() - self.payload.len()
    }

    /// The payload after the header (possibly empty).
    #[inline]
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The whole packet as given to [`Packet::parse`].
    #[inline]
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn checksum_word(&self) -> Option<u32> {
        self.checksum_word
    }
}

impl fmt::Debug for Packet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("flags", &format_args!("{:#06x}", self.flags()))
            .field("protocol_type", &self.protocol_type())
            .field("checksum", &self.checksum())
            .field("key", &self.key())
            .field("sequence", &self.sequence())
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// The owned, high-level form of a GRE header: what to send, or what was received.
///
/// Encapsulation writes the header *in front of* a payload that is already in place (the
/// caller reserves [`Repr::header_len`] bytes of headroom, at most [`Repr::MAX_HEADER_LEN`]),
/// so the payload is never copied; with [`Repr::checksum`] set the payload is read once to
/// compute the RFC 1071 checksum over header and payload (RFC 2784 §2.5).
///
/// ```
/// use gre::wire::{Packet, ProtocolType, Repr};
///
/// let repr = Repr::new(ProtocolType::NHRP).with_key(100);
/// let payload = [0xab; 20];
/// // Headroom followed by the payload, as a driver would receive it from NHRP.
/// let mut buf = [0u8; Repr::MAX_HEADER_LEN + 20];
/// buf[Repr::MAX_HEADER_LEN..].copy_from_slice(&payload);
/// let gre = repr.encapsulate(&mut buf, Repr::MAX_HEADER_LEN)?;
/// assert_eq!(&gre[..8], &[0x20, 0x00, 0x20, 0x01, 0, 0, 0, 100]);
///
/// let packet = Packet::parse(gre)?;
/// assert_eq!(Repr::parse(&packet)?, repr);
/// assert_eq!(packet.payload(), &payload);
/// # Ok::<(), gre::wire::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Repr {
    /// Protocol Type of the payload (RFC 2784 §2.4).
    pub protocol_type: ProtocolType,
    /// Checksum Present (RFC 2784 §2.2): emit computes the checksum; parse verified it.
    pub checksum: bool,
    /// Key (RFC 2890 §2.1), e.g. the DMVPN `tunnel key`.
    pub key: Option<u32>,
    /// Sequence Number (RFC 2890 §2.2).
    pub sequence: Option<u32>,
}

impl Repr {
    /// The longest GRE header (C, K and S all set): the headroom that fits every [`Repr`].
    pub const MAX_HEADER_LEN: usize = 16;

    /// A plain RFC 2784 header for `protocol_type`: no checksum, key or sequence number.
    #[inline]
    #[must_use]
    pub const fn new(protocol_type: ProtocolType) -> Self {
        Self {
            protocol_type,
            checksum: false,
            key: None,
            sequence: None,
        }
    }

    /// The same header with a Key (RFC 2890 §2.1).
    #[inline]
    #[must_use]
    pub const fn with_key(mut self, key: u32) -> Self {
        self.key = Some(key);
        self
    }

    /// The same header with a Sequence Number (RFC 2890 §2.2).
    #[inline]
    #[must_use]
    pub const fn with_sequence(mut self, sequence: u32) -> Self {
        self.sequence = Some(sequence);
        self
    }

    /// The same header with the Checksum Present bit (RFC 2784 §2.2).
    #[inline]
    #[must_use]
    pub const fn with_checksum(mut self) -> Self {
        self.checksum = true;
        self
    }

    /// Reads the header of a validated packet, verifying the checksum when present
    /// ([`Error::Checksum`] if it does not verify, RFC 2784 §2.5). Reserved0 bits 6-12 and
    /// Reserved1 are ignored, as RFC 2784 §2.3 and §2.6 ask.
    #[inline]
    pub fn parse(packet: &Packet<'_>) -> Result<Self, Error> {
        if packet.checksum_valid() == Some(false) {
            return Err(Error::Checksum { layer: Layer::Gre });
        }
        Ok(Self {
            protocol_type: packet.protocol_type(),
            checksum: packet.checksum_present(),
            key: packet.key(),
            sequence: packet.sequence(),
        })
    }

    /// The first 16-bit word this header is emitted with (C, K, S bits; version 0).
    #[inline]
    #[must_use]
    pub const fn flags(&self) -> u16 {
        let mut flags = 0;
        if self.checksum {
            flags |= FLAG_CHECKSUM;
        }
        if self.key.is_some() {
            flags |= FLAG_KEY;
        }
        if self.sequence.is_some() {
            flags |= FLAG_SEQUENCE;
        }
        flags
    }

    /// Length of the emitted header: 4, 8, 12 or 16 octets.
    #[inline]
    #[must_use]
    pub const fn header_len(&self) -> usize {
        let mut len = BaseHeader::LEN;
        if self.checksum {
            len += 4;
        }
        if self.key.is_some() {
            len += 4;
        }
        if self.sequence.is_some() {
            len += 4;
        }
        len
    }

    /// Length of the whole GRE packet carrying `payload_len` bytes of payload.
    #[inline]
    #[must_use]
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len
    }

    /// Writes the header into the first [`Repr::header_len`] bytes of `buf`, whose remainder is
    /// the payload, already in place. With [`Repr::checksum`] set, computes the checksum over
    /// the whole of `buf` (RFC 2784 §2.5: header and payload), so `buf` must end where the
    /// payload ends.
    ///
    /// Fails only with [`Error::Truncated`] when `buf` is shorter than the header; never panics.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let truncated = Error::Truncated {
            layer: Layer::Gre,
            needed: self.header_len(),
            got: buf.len(),
        };
        if buf.len() < self.header_len() {
            return Err(truncated);
        }
        let mut rest = &mut *buf;
        // Fixed-size stores only: the header is at most four 32-bit words.
        let mut put = |word: [u8; 4]| -> Result<(), Error> {
            let (slot, tail) = core::mem::take(&mut rest)
                .split_first_chunk_mut::<4>()
                .ok_or(truncated)?;
            *slot = word;
            rest = tail;
            Ok(())
        };
        let [f0, f1] = self.flags().to_be_bytes();
        let [p0, p1] = self.protocol_type.0.to_be_bytes();
        put([f0, f1, p0, p1])?;
        if self.checksum {
            // Checksum and Reserved1 are zero while the checksum is computed.
            put([0; 4])?;
        }
        if let Some(key) = self.key {
            put(key.to_be_bytes())?;
        }
        if let Some(sequence) = self.sequence {
            put(sequence.to_be_bytes())?;
        }
        if self.checksum {
            let sum = checksum::internet_checksum(buf);
            if let Some(field) = buf.get_mut(4..6) {
                field.copy_from_slice(&sum.to_be_bytes());
            }
        }
        Ok(())
    }

    /// Encapsulates in place: the payload occupies `buf[payload_start..]`, the header is written
    /// into the `header_len()` bytes just before it, and the whole GRE packet is returned as a
    /// sub-slice of `buf` (the bytes in front of it stay free for the outer IP header).
    ///
    /// Errors: [`Error::BadLength`] if `payload_start > buf.len()`; [`Error::Truncated`] if the
    /// headroom `payload_start` is smaller than the header.
    #[inline]
    pub fn encapsulate<'b>(
        &self,
        buf: &'b mut [u8],
        payload_start: usize,
    ) -> Result<&'b mut [u8], Error> {
        if payload_start > buf.len() {
            return Err(Error::BadLength {
                layer: Layer::Payload,
                field: "payload_start",
                value: payload_start,
            });
        }
        let header_len = self.header_len();
        let Some(start) = payload_start.checked_sub(header_len) else {
            return Err(Error::Truncated {
                layer: Layer::Gre,
                needed: header_len,
                got: payload_start,
            });
        };
        let packet = &mut buf[start..];
        self.emit(packet)?;
        Ok(packet)
    }
}

impl fmt::Display for Repr {
    /// One line in the style of a router's debug output:
    /// `GRE proto NHRP (0x2001) key 100 (0x00000064) seq 7 csum`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GRE proto {}", self.protocol_type)?;
        if let Some(key) = self.key {
            write!(f, " key {key} ({key:#010x})")?;
        }
        if let Some(sequence) = self.sequence {
            write!(f, " seq {sequence}")?;
        }
        if self.checksum {
            f.write_str(" csum")?;
        }
        Ok(())
    }
}
