//! Typed code points: packet types, flags, CIE codes, Error Indication codes, extension types.

use core::fmt;
use core::ops::{BitOr, BitOrAssign};

/// ar$op.type (RFC 2332 §5.1; type 8 from draft-detienne-dmvpn-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum PacketType {
    /// 1: NHRP Resolution Request (§5.2.1).
    ResolutionRequest,
    /// 2: NHRP Resolution Reply (§5.2.2).
    ResolutionReply,
    /// 3: NHRP Registration Request (§5.2.3).
    RegistrationRequest,
    /// 4: NHRP Registration Reply (§5.2.4).
    RegistrationReply,
    /// 5: NHRP Purge Request (§5.2.5).
    PurgeRequest,
    /// 6: NHRP Purge Reply (§5.2.6).
    PurgeReply,
    /// 7: NHRP Error Indication (§5.2.7).
    ErrorIndication,
    /// 8: Traffic Indication, Cisco's "redirect" (draft-detienne-dmvpn-01 §6.2).
    TrafficIndication,
}

impl PacketType {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            PacketType::ResolutionRequest => 1,
            PacketType::ResolutionReply => 2,
            PacketType::RegistrationRequest => 3,
            PacketType::RegistrationReply => 4,
            PacketType::PurgeRequest => 5,
            PacketType::PurgeReply => 6,
            PacketType::ErrorIndication => 7,
            PacketType::TrafficIndication => 8,
        }
    }

    /// The type for a wire value, `None` for values this codec cannot lay out.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => PacketType::ResolutionRequest,
            2 => PacketType::ResolutionReply,
            3 => PacketType::RegistrationRequest,
            4 => PacketType::RegistrationReply,
            5 => PacketType::PurgeRequest,
            6 => PacketType::PurgeReply,
            7 => PacketType::ErrorIndication,
            8 => PacketType::TrafficIndication,
            _ => return None,
        })
    }

    /// Whether the mandatory part is the common header + CIEs layout (types 1-6).
    #[inline]
    pub const fn has_cies(self) -> bool {
        self.to_u8() <= 6
    }
}

/// The Flags field of the mandatory part (RFC 2332 §5.2.1-§5.2.6). Bit meanings depend on the
/// packet type, hence the prefixed constants; unknown bits are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct Flags(pub u16);

impl Flags {
    /// No flag set.
    pub const NONE: Flags = Flags(0);
    /// Resolution: Q, the requester is a router (§5.2.1).
    pub const RESOLUTION_Q: Flags = Flags(0x8000);
    /// Resolution: A, the reply is authoritative (§5.2.1).
    pub const RESOLUTION_A: Flags = Flags(0x4000);
    /// Resolution: D, the destination is stable (§5.2.1).
    pub const RESOLUTION_D: Flags = Flags(0x2000);
    /// Resolution: U, unique binding requested/held (§5.2.1).
    pub const RESOLUTION_U: Flags = Flags(0x1000);
    /// Resolution: S, the source binding is stable (§5.2.1).
    pub const RESOLUTION_S: Flags = Flags(0x0800);
    /// Registration: U, the registration is unique (§5.2.3).
    pub const REGISTRATION_U: Flags = Flags(0x8000);
    /// Purge: N, no reply expected (§5.2.5).
    pub const PURGE_N: Flags = Flags(0x8000);
    /// Cisco "NAT supported" (0x0002), set by Cisco and FRR on resolution and registration
    /// packets: the sender understands the Cisco NAT Address extension.
    pub const CISCO_NAT: Flags = Flags(0x0002);

    /// The raw bits.
    #[inline]
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every bit of `other` is set.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets or clears the bits of `other`.
    #[inline]
    pub fn set(&mut self, other: Flags, on: bool) {
        if on {
            self.0 |= other.0;
        } else {
            self.0 &= !other.0;
        }
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#06x})", self.0)
    }
}

/// Which implementation family's numbering to use for the two code points where RFC 2332 and
/// FRR nhrpd / OpenNHRP disagree (see [`CieCode::NoBindingExists`], [`ErrorCode::LoopDetected`]).
///
/// Evidence: none of the Cisco captures (`captures/nhrp/`, 60+ NHRP packets) carries a
/// non-zero CIE code or an Error Indication, so Cisco's choice is not observable; FRR and
/// OpenNHRP are known to send 2 and 11. The codec therefore decodes *both* numberings to
/// distinct variants (nothing is lost, bytes round-trip) and a machine picks what it sends
/// with this setting. The default is the RFC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// RFC 2332 values: loop detected = 3, no binding exists = 12.
    #[default]
    Rfc2332,
    /// FRR nhrpd / OpenNHRP values: loop detected = 2, no binding exists = 11.
    FrrOpenNhrp,
}

/// The Code of a Client Information Entry (RFC 2332 §5.2.2, §5.2.4, §5.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CieCode {
    /// 0: success.
    Success,
    /// 4: administratively prohibited.
    AdministrativelyProhibited,
    /// 5: insufficient resources.
    InsufficientResources,
    /// 12 (RFC 2332 §5.2.2): no internetworking layer address to NBMA address binding exists.
    NoBindingExists,
    /// 11: the value FRR nhrpd and OpenNHRP send for "no binding exists" (not assigned by the
    /// RFC). See [`Dialect`].
    NoBindingExistsFrr,
    /// 13: binding exists but is not unique.
    BindingNotUnique,
    /// 14: unique internetworking layer address already registered.
    AlreadyRegistered,
    /// Any other value, kept.
    Unknown(u8),
}

impl CieCode {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            CieCode::Success => 0,
            CieCode::AdministrativelyProhibited => 4,
            CieCode::InsufficientResources => 5,
            CieCode::NoBindingExists => 12,
            CieCode::NoBindingExistsFrr => 11,
            CieCode::BindingNotUnique => 13,
            CieCode::AlreadyRegistered => 14,
            CieCode::Unknown(v) => v,
        }
    }

    /// The code for a wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => CieCode::Success,
            4 => CieCode::AdministrativelyProhibited,
            5 => CieCode::InsufficientResources,
            12 => CieCode::NoBindingExists,
            11 => CieCode::NoBindingExistsFrr,
            13 => CieCode::BindingNotUnique,
            14 => CieCode::AlreadyRegistered,
            v => CieCode::Unknown(v),
        }
    }

    /// "No binding exists" as numbered by `dialect`.
    #[inline]
    pub const fn no_binding_exists(dialect: Dialect) -> Self {
        match dialect {
            Dialect::Rfc2332 => CieCode::NoBindingExists,
            Dialect::FrrOpenNhrp => CieCode::NoBindingExistsFrr,
        }
    }

    /// Whether this is "no binding exists" in either numbering.
    #[inline]
    pub const fn is_no_binding_exists(self) -> bool {
        matches!(self, CieCode::NoBindingExists | CieCode::NoBindingExistsFrr)
    }

    /// The canonical form: `Unknown(v)` for a known `v` becomes the named variant.
    #[inline]
    pub const fn normalized(self) -> Self {
        Self::from_u8(self.to_u8())
    }
}

/// The Error Code of an Error Indication (RFC 2332 §5.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1: unrecognized extension (a compulsory extension was not understood).
    UnrecognizedExtension,
    /// 3 (RFC 2332 §5.2.7): NHRP loop detected.
    LoopDetected,
    /// 2: the value FRR nhrpd and OpenNHRP send for "loop detected" (not assigned by the
    /// RFC). See [`Dialect`].
    LoopDetectedFrr,
    /// 6: protocol address unreachable.
    ProtocolAddressUnreachable,
    /// 7: protocol error.
    ProtocolError,
    /// 8: SDU size exceeded.
    SduSizeExceeded,
    /// 9: invalid extension.
    InvalidExtension,
    /// 10: invalid NHRP Resolution Reply received.
    InvalidResolutionReply,
    /// 11: authentication failure.
    AuthenticationFailure,
    /// 15: hop count exceeded.
    HopCountExceeded,
    /// Any other value, kept.
    Unknown(u16),
}

impl ErrorCode {
    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        match self {
            ErrorCode::UnrecognizedExtension => 1,
            ErrorCode::LoopDetected => 3,
            ErrorCode::LoopDetectedFrr => 2,
            ErrorCode::ProtocolAddressUnreachable => 6,
            ErrorCode::ProtocolError => 7,
            ErrorCode::SduSizeExceeded => 8,
            ErrorCode::InvalidExtension => 9,
            ErrorCode::InvalidResolutionReply => 10,
            ErrorCode::AuthenticationFailure => 11,
            ErrorCode::HopCountExceeded => 15,
            ErrorCode::Unknown(v) => v,
        }
    }

    /// The code for a wire value.
    pub const fn from_u16(v: u16) -> Self {
        match v {
            1 => ErrorCode::UnrecognizedExtension,
            3 => ErrorCode::LoopDetected,
            2 => ErrorCode::LoopDetectedFrr,
            6 => ErrorCode::ProtocolAddressUnreachable,
            7 => ErrorCode::ProtocolError,
            8 => ErrorCode::SduSizeExceeded,
            9 => ErrorCode::InvalidExtension,
            10 => ErrorCode::InvalidResolutionReply,
            11 => ErrorCode::AuthenticationFailure,
            15 => ErrorCode::HopCountExceeded,
            v => ErrorCode::Unknown(v),
        }
    }

    /// "Loop detected" as numbered by `dialect`.
    #[inline]
    pub const fn loop_detected(dialect: Dialect) -> Self {
        match dialect {
            Dialect::Rfc2332 => ErrorCode::LoopDetected,
            Dialect::FrrOpenNhrp => ErrorCode::LoopDetectedFrr,
        }
    }

    /// Whether this is "loop detected" in either numbering.
    #[inline]
    pub const fn is_loop_detected(self) -> bool {
        matches!(self, ErrorCode::LoopDetected | ErrorCode::LoopDetectedFrr)
    }

    /// The canonical form: `Unknown(v)` for a known `v` becomes the named variant.
    #[inline]
    pub const fn normalized(self) -> Self {
        Self::from_u16(self.to_u16())
    }
}

/// Extension type numbers (RFC 2332 §5.3, Cisco NAT Address = 9), without the C bit.
pub mod extension_type {
    /// End of extensions (§5.3.0).
    pub const END: u16 = 0;
    /// Responder Address (§5.3.1).
    pub const RESPONDER_ADDRESS: u16 = 3;
    /// NHRP Forward Transit NHS Record (§5.3.2).
    pub const FORWARD_TRANSIT_NHS: u16 = 4;
    /// NHRP Reverse Transit NHS Record (§5.3.3).
    pub const REVERSE_TRANSIT_NHS: u16 = 5;
    /// NHRP Authentication (§5.3.4).
    pub const AUTHENTICATION: u16 = 7;
    /// NHRP Vendor-Private (§5.3.5).
    pub const VENDOR_PRIVATE: u16 = 8;
    /// Cisco NAT Address (not in the RFC; OpenNHRP/FRR name).
    pub const CISCO_NAT_ADDRESS: u16 = 9;
    /// The compulsory bit of the type field.
    pub const COMPULSORY: u16 = 0x8000;
}

// Arbitrary codes are generated from the wire value so they are always canonical.
#[cfg(any(test, feature = "arbitrary"))]
impl<'a> arbitrary::Arbitrary<'a> for CieCode {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(CieCode::from_u8(u.arbitrary()?))
    }
}

#[cfg(any(test, feature = "arbitrary"))]
impl<'a> arbitrary::Arbitrary<'a> for ErrorCode {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(ErrorCode::from_u16(u.arbitrary()?))
    }
}
