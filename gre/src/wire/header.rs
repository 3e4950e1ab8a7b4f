//! The fixed 4-octet GRE base header (RFC 2784 §2.1) as a zerocopy type, and its bit layout.

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::ProtocolType;

/// Bit 0: Checksum Present (RFC 2784 §2.2).
pub const FLAG_CHECKSUM: u16 = 0x8000;
/// Bit 1: Routing Present in RFC 1701; reserved in RFC 2784 — a receiver MUST discard (§2.3).
pub const FLAG_ROUTING: u16 = 0x4000;
/// Bit 2: Key Present (RFC 2890 §2).
pub const FLAG_KEY: u16 = 0x2000;
/// Bit 3: Sequence Number Present (RFC 2890 §2).
pub const FLAG_SEQUENCE: u16 = 0x1000;
/// Bit 4: Strict Source Route in RFC 1701; reserved — a receiver MUST discard (RFC 2784 §2.3).
pub const FLAG_STRICT_SOURCE_ROUTE: u16 = 0x0800;
/// Bits 5-7: Recursion Control in RFC 1701. Bit 5 is one of the bits 1-5 that RFC 2784 §2.3
/// makes a receiver discard; bits 6-7 belong to the "ignore on receipt" range 6-12.
pub const RECURSION_CONTROL: u16 = 0x0700;
/// Bits of Reserved0 that MUST make a receiver that does not implement RFC 1701 discard the
/// packet (RFC 2784 §2.3: bits 1-5, minus bits 2 and 3 which RFC 2890 turned into K and S).
pub const RESERVED0_DISCARD: u16 = 0x4000 | 0x0800 | 0x0400;
/// Bits 6-12 of Reserved0: "MUST be sent as zero and MUST be ignored on receipt" (RFC 2784 §2.3).
pub const RESERVED0_IGNORED: u16 = 0x03F8;
/// Bits 13-15: Version (RFC 2784 §2.3.1), 0 for GRE; 1 is PPTP's enhanced GRE (RFC 2637).
pub const VERSION_MASK: u16 = 0x0007;

/// The 4-octet GRE base header (RFC 2784 §2.1; K and S bits from RFC 2890 §2).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |C| |K|S| Reserved0       | Ver |         Protocol Type         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |      Checksum (optional)      |       Reserved1 (Optional)    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Key (optional)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Sequence Number (Optional)                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, PartialEq, Eq)]
pub struct BaseHeader {
    /// C, reserved0, K, S bits and version: the first 16-bit word.
    pub flags_version: U16,
    /// The payload's EtherType.
    pub protocol_type: U16,
}

impl core::fmt::Debug for BaseHeader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BaseHeader")
            .field(
                "flags_version",
                &format_args!("{:#06x}", self.flags_version.get()),
            )
            .field("protocol_type", &self.protocol_type())
            .finish()
    }
}

impl BaseHeader {
    /// Size of the base header on the wire.
    pub const LEN: usize = 4;

    /// Bit 0, Checksum Present: a Checksum and a Reserved1 field follow (RFC 2784 §2.2).
    #[inline]
    #[must_use]
    pub fn checksum_present(&self) -> bool {
        self.flags_version.get() & FLAG_CHECKSUM != 0
    }

    /// Bit 2, Key Present: a 32-bit Key follows (RFC 2890 §2.1).
    #[inline]
    #[must_use]
    pub fn key_present(&self) -> bool {
        self.flags_version.get() & FLAG_KEY != 0
    }

    /// Bit 3, Sequence Number Present: a 32-bit Sequence Number follows (RFC 2890 §2.2).
    #[inline]
    #[must_use]
    pub fn sequence_present(&self) -> bool {
        self.flags_version.get() & FLAG_SEQUENCE != 0
    }

    /// The 3-bit Version field (RFC 2784 §2.3.1).
    #[inline]
    #[must_use]
    pub fn version(&self) -> u8 {
        // Masked to 3 bits, so the cast is lossless.
        (self.flags_version.get() & VERSION_MASK) as u8
    }

    /// The Reserved0 bits (bits 1 and 4-12 in place, K and S masked out).
    #[inline]
    #[must_use]
    pub fn reserved0(&self) -> u16 {
        self.flags_version.get() & (RESERVED0_DISCARD | RESERVED0_IGNORED)
    }

    /// The Protocol Type (RFC 2784 §2.4).
    #[inline]
    #[must_use]
    pub fn protocol_type(&self) -> ProtocolType {
        ProtocolType(self.protocol_type.get())
    }

    /// Number of optional 32-bit words that follow: Checksum+Reserved1, Key, Sequence Number.
    #[inline]
    #[must_use]
    pub fn optional_words(&self) -> usize {
        usize::from(self.checksum_present())
            + usize::from(self.key_present())
            + usize::from(self.sequence_present())
    }

    /// The complete header length implied by the flags: 4, 8, 12 or 16 octets.
    #[inline]
    #[must_use]
    pub fn header_len(&self) -> usize {
        Self::LEN + 4 * self.optional_words()
    }
}
