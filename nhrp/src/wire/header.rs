//! Fixed-layout parts of an NHRP packet as zerocopy structs (network byte order).

use zerocopy::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The NHRP fixed header (RFC 2332 §5.1), 20 bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct FixedHeader {
    /// ar$afn: address family of the NBMA addresses (1 = IPv4, 2 = IPv6).
    pub afn: U16,
    /// ar$pro.type: protocol type of the protocol addresses (an Ethertype, or 0x0080 for SNAP).
    pub pro_type: U16,
    /// ar$pro.snap: the SNAP form of the protocol type when ar$pro.type is 0x0080.
    pub pro_snap: [u8; 5],
    /// ar$hopcnt.
    pub hop_count: u8,
    /// ar$pktsz: total packet length including extensions.
    pub pkt_size: U16,
    /// ar$chksum: RFC 1071 checksum of the whole packet.
    pub checksum: U16,
    /// ar$extoff: offset of the first extension from the start of the fixed header, 0 if none.
    pub ext_offset: U16,
    /// ar$op.version (1 = RFC 2332).
    pub version: u8,
    /// ar$op.type: the packet type.
    pub op_type: u8,
    /// ar$shtl: type (0x40 = E.164) and length of the source NBMA address.
    pub shtl: u8,
    /// ar$sstl: type and length of the source NBMA subaddress.
    pub sstl: u8,
}

/// The common header of the mandatory part of packet types 1-6 and 8 (RFC 2332 §5.2.0.1), 8 bytes.
///
/// For Traffic Indication (type 8) `flags` is the traffic code and `request_id` is unused.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CommonHeader {
    /// Src Proto Len.
    pub src_proto_len: u8,
    /// Dst Proto Len.
    pub dst_proto_len: u8,
    /// Flags (meaning per packet type).
    pub flags: U16,
    /// Request ID.
    pub request_id: U32,
}

/// The header of the Error Indication mandatory part (RFC 2332 §5.2.7), 8 bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct ErrorHeader {
    /// Src Proto Len.
    pub src_proto_len: u8,
    /// Dst Proto Len.
    pub dst_proto_len: u8,
    /// Unused.
    pub unused: U16,
    /// Error Code.
    pub error_code: U16,
    /// Error Offset: where in the packet in error the problem was found.
    pub error_offset: U16,
}

/// The fixed part of a Client Information Entry (RFC 2332 §5.2.0.1), 12 bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CieHeader {
    /// Code.
    pub code: u8,
    /// Prefix Length.
    pub prefix_len: u8,
    /// Unused.
    pub unused: U16,
    /// Maximum Transmission Unit.
    pub mtu: U16,
    /// Holding Time in seconds.
    pub holding_time: U16,
    /// Cli Addr T/L: type and length of the client NBMA address.
    pub cli_addr_tl: u8,
    /// Cli SAddr T/L: type and length of the client NBMA subaddress.
    pub cli_saddr_tl: u8,
    /// Cli Proto Len.
    pub cli_proto_len: u8,
    /// Preference.
    pub preference: u8,
}

/// An extension's type/length header (RFC 2332 §5.3), 4 bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct ExtensionHeader {
    /// C (0x8000, compulsory), u (0x4000, unused) and the 14-bit type.
    pub ty: U16,
    /// Length of the value in bytes.
    pub len: U16,
}

/// Size of [`FixedHeader`].
pub const FIXED_HEADER_LEN: usize = 20;
/// Size of [`CommonHeader`] / [`ErrorHeader`].
pub const COMMON_HEADER_LEN: usize = 8;
/// Size of [`CieHeader`].
pub const CIE_HEADER_LEN: usize = 12;
/// Size of [`ExtensionHeader`].
pub const EXTENSION_HEADER_LEN: usize = 4;

const _: () = assert!(size_of::<FixedHeader>() == FIXED_HEADER_LEN);
const _: () = assert!(size_of::<CommonHeader>() == COMMON_HEADER_LEN);
const _: () = assert!(size_of::<ErrorHeader>() == COMMON_HEADER_LEN);
const _: () = assert!(size_of::<CieHeader>() == CIE_HEADER_LEN);
const _: () = assert!(size_of::<ExtensionHeader>() == EXTENSION_HEADER_LEN);
