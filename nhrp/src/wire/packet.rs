//! Whole NHRP packets: the validated view [`Packet`] and the owned [`PacketRepr`].

use std::net::IpAddr;

use zerocopy::FromBytes;

use super::addr::{Family, PRO_TYPE_SNAP, read_addr, write_addr};
use super::checksum;
use super::cie::{Cie, CieIter, check_nbma_tl, check_proto_len, check_subaddr_tl};
use super::codes::{ErrorCode, Flags, PacketType};
use super::error::{Error, Layer};
use super::extension::{
    Authentication, Extension, ExtensionIter, ExtensionValue, count_extensions, emit_end,
};
use super::header::{
    COMMON_HEADER_LEN, CommonHeader, EXTENSION_HEADER_LEN, ErrorHeader, FIXED_HEADER_LEN,
    FixedHeader,
};

/// ar$op.version of RFC 2332.
pub const VERSION: u8 = 1;

/// A validated NHRP packet borrowed from a buffer.
///
/// [`Packet::parse`] checks everything: sizes and offsets, version, address families and
/// lengths, every CIE and extension (including the End extension) and the checksum. After it,
/// no accessor panics and the iterators yield no `Err`.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    buf: &'a [u8],
    header: &'a FixedHeader,
    packet_type: PacketType,
    nbma: Family,
    proto: Family,
    /// Offset of the body (CIEs or the quoted packet), after the addresses.
    body_start: usize,
    /// End of the body: ar$extoff, or ar$pktsz when there are no extensions.
    body_end: usize,
    /// Number of extensions (End excluded), counted while validating.
    ext_count: usize,
}

impl<'a> Packet<'a> {
    /// Parses and validates the NHRP packet at the start of `buf` (bytes after ar$pktsz, such
    /// as link padding, are ignored), including the checksum.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Self, Error> {
        let mut p = Self::parse_layout(buf)?;
        p.validate_parts()?;
        p.verify_checksum()?;
        Ok(p)
    }

    /// Checks ar$chksum.
    fn verify_checksum(&self) -> Result<(), Error> {
        let sum = checksum::sum(self.buf);
        if sum == 0xffff {
            return Ok(());
        }
        let expected = self.header.checksum.get();
        // The value the field should hold: complement of the sum with the field zeroed.
        let computed = !ones_sub(sum, expected);
        Err(Error::Checksum {
            layer: Layer::Packet,
            expected,
            computed,
        })
    }

    /// Walks and validates every CIE and extension; counts the extensions.
    fn validate_parts(&mut self) -> Result<(), Error> {
        if self.packet_type.has_cies() {
            for c in self.cie_iter() {
                c?;
            }
        }
        for e in self.extension_iter(true) {
            e?;
            self.ext_count += 1;
        }
        Ok(())
    }

    /// The mandatory CIEs, naming the field that ends them in errors.
    fn cie_iter(&self) -> CieIter<'a> {
        let boundary = if self.header.ext_offset.get() == 0 {
            "ar$pktsz"
        } else {
            "ar$extoff"
        };
        let body = if self.packet_type.has_cies() {
            self.body()
        } else {
            &[]
        };
        CieIter::new(body, self.nbma, self.proto, boundary)
    }

    /// Like [`Packet::parse`] but does not verify ar$chksum.
    #[inline]
    pub fn parse_unverified(buf: &'a [u8]) -> Result<Self, Error> {
        let mut p = Self::parse_layout(buf)?;
        p.validate_parts()?;
        Ok(p)
    }

    /// Checks the fixed header, address lengths and offsets (not the CIEs, extensions or
    /// checksum).
    fn parse_layout(buf: &'a [u8]) -> Result<Self, Error> {
        let (header, _) = FixedHeader::ref_from_prefix(buf).map_err(|_| Error::Truncated {
            layer: Layer::FixedHeader,
            needed: FIXED_HEADER_LEN,
            got: buf.len(),
        })?;
        let pkt_size = usize::from(header.pkt_size.get());
        if pkt_size < FIXED_HEADER_LEN + COMMON_HEADER_LEN {
            return Err(Error::BadLength {
                layer: Layer::FixedHeader,
                field: "ar$pktsz",
                value: pkt_size,
            });
        }
        let Some(buf) = buf.get(..pkt_size) else {
            return Err(Error::Truncated {
                layer: Layer::Packet,
                needed: pkt_size,
                got: buf.len(),
            });
        };
        if header.version != VERSION {
            return Err(Error::Unsupported {
                layer: Layer::FixedHeader,
                field: "ar$op.version",
                value: u32::from(header.version),
            });
        }
        let Some(packet_type) = PacketType::from_u8(header.op_type) else {
            return Err(Error::Unsupported {
                layer: Layer::FixedHeader,
                field: "ar$op.type",
                value: u32::from(header.op_type),
            });
        };
        let afn = header.afn.get();
        let Some(nbma) = Family::from_afn(afn) else {
            return Err(Error::Unsupported {
                layer: Layer::FixedHeader,
                field: "ar$afn",
                value: u32::from(afn),
            });
        };
        let (proto, _snap) = protocol_family(header)?;
        let nl = check_nbma_tl(Layer::FixedHeader, "ar$shtl", header.shtl, nbma, false)?;
        check_subaddr_tl(Layer::FixedHeader, "ar$sstl", header.sstl)?;

        // ar$pktsz >= 28 was checked, so the common header is present.
        let common = &buf[FIXED_HEADER_LEN..FIXED_HEADER_LEN + COMMON_HEADER_LEN];
        let sl = check_proto_len(
            Layer::MandatoryPart,
            "Src Proto Len",
            common[0],
            proto,
            false,
        )?;
        let dl = check_proto_len(
            Layer::MandatoryPart,
            "Dst Proto Len",
            common[1],
            proto,
            false,
        )?;
        let body_start = FIXED_HEADER_LEN + COMMON_HEADER_LEN + nl + sl + dl;
        if body_start > pkt_size {
            return Err(Error::Truncated {
                layer: Layer::MandatoryPart,
                needed: body_start,
                got: pkt_size,
            });
        }
        let ext_offset = usize::from(header.ext_offset.get());
        let body_end = if ext_offset == 0 {
            pkt_size
        } else if ext_offset < body_start || ext_offset > pkt_size {
            return Err(Error::BadLength {
                layer: Layer::FixedHeader,
                field: "ar$extoff",
                value: ext_offset,
            });
        } else {
            ext_offset
        };
        Ok(Packet {
            buf,
            header,
            packet_type,
            nbma,
            proto,
            body_start,
            body_end,
            ext_count: 0,
        })
    }

    /// The packet's bytes (ar$pktsz long).
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// The fixed header.
    #[inline]
    pub fn header(&self) -> &'a FixedHeader {
        self.header
    }
    /// ar$op.type.
    #[inline]
    pub fn packet_type(&self) -> PacketType {
        self.packet_type
    }
    /// ar$hopcnt.
    #[inline]
    pub fn hop_count(&self) -> u8 {
        self.header.hop_count
    }
    /// The NBMA address family (ar$afn).
    #[inline]
    pub fn nbma_family(&self) -> Family {
        self.nbma
    }
    /// The protocol address family (ar$pro.type).
    #[inline]
    pub fn protocol_family(&self) -> Family {
        self.proto
    }
    /// Whether ar$pro.type uses the SNAP long form (0x0080 + ar$pro.snap).
    #[inline]
    pub fn protocol_snap(&self) -> bool {
        self.header.pro_type.get() == PRO_TYPE_SNAP
    }
    /// ar$extoff (0 = no extensions).
    #[inline]
    pub fn extension_offset(&self) -> u16 {
        self.header.ext_offset.get()
    }
    /// ar$chksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.header.checksum.get()
    }

    fn common(&self) -> &'a CommonHeader {
        // Present: checked by parse. An empty default can never be reached; use a fallback
        // that keeps this panic-free without unwrap.
        CommonHeader::ref_from_prefix(&self.buf[FIXED_HEADER_LEN..]).map_or(&EMPTY_COMMON, |r| r.0)
    }
    fn error_header(&self) -> &'a ErrorHeader {
        ErrorHeader::ref_from_prefix(&self.buf[FIXED_HEADER_LEN..]).map_or(&EMPTY_ERROR, |r| r.0)
    }
    fn addr_at(&self, off: usize, family: Family) -> IpAddr {
        self.buf
            .get(off..off + family.addr_len())
            .and_then(|b| read_addr(family, b))
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    /// Source NBMA Address.
    #[inline]
    pub fn src_nbma(&self) -> IpAddr {
        self.addr_at(FIXED_HEADER_LEN + COMMON_HEADER_LEN, self.nbma)
    }
    /// Source Protocol Address.
    #[inline]
    pub fn src_proto(&self) -> IpAddr {
        self.addr_at(
            FIXED_HEADER_LEN + COMMON_HEADER_LEN + self.nbma.addr_len(),
            self.proto,
        )
    }
    /// Destination Protocol Address.
    #[inline]
    pub fn dst_proto(&self) -> IpAddr {
        let off =
            FIXED_HEADER_LEN + COMMON_HEADER_LEN + self.nbma.addr_len() + self.proto.addr_len();
        self.addr_at(off, self.proto)
    }
    /// Flags (types 1-6); the traffic code for Traffic Indication; 0 for Error Indication.
    #[inline]
    pub fn flags(&self) -> Flags {
        match self.packet_type {
            PacketType::ErrorIndication => Flags::NONE,
            _ => Flags(self.common().flags.get()),
        }
    }
    /// Request ID (types 1-6; the unused word for Traffic Indication; 0 for Error Indication).
    #[inline]
    pub fn request_id(&self) -> u32 {
        match self.packet_type {
            PacketType::ErrorIndication => 0,
            _ => self.common().request_id.get(),
        }
    }
    /// Error Code (Error Indication only).
    #[inline]
    pub fn error_code(&self) -> Option<ErrorCode> {
        (self.packet_type == PacketType::ErrorIndication)
            .then(|| ErrorCode::from_u16(self.error_header().error_code.get()))
    }
    /// Error Offset (Error Indication only).
    #[inline]
    pub fn error_offset(&self) -> Option<u16> {
        (self.packet_type == PacketType::ErrorIndication)
            .then(|| self.error_header().error_offset.get())
    }
    /// The CIEs of the mandatory part (types 1-6; empty otherwise).
    #[inline]
    pub fn cies(&self) -> CieIter<'a> {
        self.cie_iter()
    }
    /// The quoted packet of an Error Indication (the packet in error) or a Traffic Indication
    /// (the packet causing the indication); empty for other types.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        if self.packet_type.has_cies() {
            &[]
        } else {
            self.body()
        }
    }
    fn body(&self) -> &'a [u8] {
        self.buf
            .get(self.body_start..self.body_end)
            .unwrap_or_default()
    }
    /// The extension part (ar$extoff to ar$pktsz), empty if ar$extoff is 0.
    #[inline]
    pub fn extension_bytes(&self) -> &'a [u8] {
        if self.header.ext_offset.get() == 0 {
            &[]
        } else {
            self.buf.get(self.body_end..).unwrap_or_default()
        }
    }
    /// The extensions, End excluded.
    #[inline]
    pub fn extensions(&self) -> ExtensionIter<'a> {
        self.extension_iter(false)
    }

    fn extension_iter(&self, check_values: bool) -> ExtensionIter<'a> {
        ExtensionIter::part(
            self.extension_bytes(),
            self.header.ext_offset.get() != 0,
            self.nbma,
            self.proto,
            check_values,
        )
    }

    /// The owned form.
    pub fn to_repr(&self) -> Result<PacketRepr, Error> {
        let body = match self.packet_type {
            PacketType::ErrorIndication => Body::ErrorIndication(ErrorIndication {
                code: ErrorCode::from_u16(self.error_header().error_code.get()),
                offset: self.error_header().error_offset.get(),
                packet: self.payload().to_vec(),
            }),
            PacketType::TrafficIndication => Body::TrafficIndication(TrafficIndication {
                traffic_code: self.common().flags.get(),
                reserved: self.common().request_id.get(),
                packet: self.payload().to_vec(),
            }),
            t => {
                let m = Mandatory {
                    flags: self.flags(),
                    request_id: self.request_id(),
                    cies: self
                        .cie_iter()
                        .map(|c| c.map(|c| c.to_repr()))
                        .collect::<Result<_, _>>()?,
                };
                match t {
                    PacketType::ResolutionRequest => Body::ResolutionRequest(m),
                    PacketType::ResolutionReply => Body::ResolutionReply(m),
                    PacketType::RegistrationRequest => Body::RegistrationRequest(m),
                    PacketType::RegistrationReply => Body::RegistrationReply(m),
                    PacketType::PurgeRequest => Body::PurgeRequest(m),
                    _ => Body::PurgeReply(m),
                }
            }
        };
        let count = if self.ext_count > 0 {
            self.ext_count
        } else {
            count_extensions(self.extension_bytes())
        };
        let mut extensions = Vec::with_capacity(count);
        for e in self.extensions() {
            extensions.push(e?.to_repr()?);
        }
        Ok(PacketRepr {
            hop_count: self.hop_count(),
            protocol_snap: self.protocol_snap(),
            src_nbma: self.src_nbma(),
            src_proto: self.src_proto(),
            dst_proto: self.dst_proto(),
            body,
            extensions,
        })
    }
}

static EMPTY_COMMON: CommonHeader = CommonHeader {
    src_proto_len: 0,
    dst_proto_len: 0,
    flags: zerocopy::network_endian::U16::ZERO,
    request_id: zerocopy::network_endian::U32::ZERO,
};
static EMPTY_ERROR: ErrorHeader = ErrorHeader {
    src_proto_len: 0,
    dst_proto_len: 0,
    unused: zerocopy::network_endian::U16::ZERO,
    error_code: zerocopy::network_endian::U16::ZERO,
    error_offset: zerocopy::network_endian::U16::ZERO,
};

/// Ones'-complement subtraction `a - b` (16 bit).
fn ones_sub(a: u16, b: u16) -> u16 {
    let (s, carry) = a.overflowing_add(!b);
    s.wrapping_add(u16::from(carry))
}

/// The protocol family from ar$pro.type/ar$pro.snap; returns whether the SNAP form is used.
fn protocol_family(h: &FixedHeader) -> Result<(Family, bool), Error> {
    let t = h.pro_type.get();
    if t == PRO_TYPE_SNAP {
        let s = h.pro_snap;
        let pid = u16::from_be_bytes([s[3], s[4]]);
        match (s[..3] == [0, 0, 0], Family::from_ethertype(pid)) {
            (true, Some(f)) => Ok((f, true)),
            _ => Err(Error::Unsupported {
                layer: Layer::FixedHeader,
                field: "ar$pro.snap",
                value: u32::from_be_bytes([s[1], s[2], s[3], s[4]]),
            }),
        }
    } else {
        let Some(f) = Family::from_ethertype(t) else {
            return Err(Error::Unsupported {
                layer: Layer::FixedHeader,
                field: "ar$pro.type",
                value: u32::from(t),
            });
        };
        // RFC 2332 §5.1: with a short-form type, ar$pro.snap "MUST be zero on transmit and
        // ignored on receive".
        Ok((f, false))
    }
}

/// The mandatory part of packet types 1-6 after the addresses (RFC 2332 §5.2.1-§5.2.6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct Mandatory {
    /// Flags (see the [`Flags`] constants for the per-type bits).
    pub flags: Flags,
    /// Request ID, echoed in the reply.
    pub request_id: u32,
    /// Client Information Entries.
    pub cies: Vec<Cie>,
}

impl Mandatory {
    /// A mandatory part.
    #[inline]
    pub fn new(flags: Flags, request_id: u32, cies: Vec<Cie>) -> Self {
        Mandatory {
            flags,
            request_id,
            cies,
        }
    }
}

/// The body of an Error Indication (RFC 2332 §5.2.7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct ErrorIndication {
    /// Error Code.
    pub code: ErrorCode,
    /// Error Offset: octet offset into the packet in error, from its fixed header.
    pub offset: u16,
    /// Contents of the NHRP packet in error (the "unused" word is emitted as 0).
    pub packet: Vec<u8>,
}

/// The body of a Traffic Indication (Cisco "redirect", draft-detienne-dmvpn-01 §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct TrafficIndication {
    /// Traffic code, in the place of the flags (0 = redirect in every known capture).
    pub traffic_code: u16,
    /// The request-ID word, unused (Cisco and FRR send 0); kept so bytes round-trip.
    pub reserved: u32,
    /// The (start of the) data packet that caused the indication, from its IP header on.
    pub packet: Vec<u8>,
}

/// The packet-type-specific part of a packet. The variant is ar$op.type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum Body {
    /// 1 (§5.2.1).
    ResolutionRequest(Mandatory),
    /// 2 (§5.2.2).
    ResolutionReply(Mandatory),
    /// 3 (§5.2.3).
    RegistrationRequest(Mandatory),
    /// 4 (§5.2.4).
    RegistrationReply(Mandatory),
    /// 5 (§5.2.5).
    PurgeRequest(Mandatory),
    /// 6 (§5.2.6).
    PurgeReply(Mandatory),
    /// 7 (§5.2.7).
    ErrorIndication(ErrorIndication),
    /// 8 (Cisco).
    TrafficIndication(TrafficIndication),
}

impl Body {
    /// ar$op.type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Body::ResolutionRequest(_) => PacketType::ResolutionRequest,
            Body::ResolutionReply(_) => PacketType::ResolutionReply,
            Body::RegistrationRequest(_) => PacketType::RegistrationRequest,
            Body::RegistrationReply(_) => PacketType::RegistrationReply,
            Body::PurgeRequest(_) => PacketType::PurgeRequest,
            Body::PurgeReply(_) => PacketType::PurgeReply,
            Body::ErrorIndication(_) => PacketType::ErrorIndication,
            Body::TrafficIndication(_) => PacketType::TrafficIndication,
        }
    }

    /// The mandatory part of types 1-6.
    pub fn mandatory(&self) -> Option<&Mandatory> {
        match self {
            Body::ResolutionRequest(m)
            | Body::ResolutionReply(m)
            | Body::RegistrationRequest(m)
            | Body::RegistrationReply(m)
            | Body::PurgeRequest(m)
            | Body::PurgeReply(m) => Some(m),
            _ => None,
        }
    }

    /// The mandatory part of types 1-6, mutable.
    pub fn mandatory_mut(&mut self) -> Option<&mut Mandatory> {
        match self {
            Body::ResolutionRequest(m)
            | Body::ResolutionReply(m)
            | Body::RegistrationRequest(m)
            | Body::RegistrationReply(m)
            | Body::PurgeRequest(m)
            | Body::PurgeReply(m) => Some(m),
            _ => None,
        }
    }

    /// Encoded length after the addresses.
    fn len(&self) -> usize {
        match self {
            Body::ErrorIndication(e) => e.packet.len(),
            Body::TrafficIndication(t) => t.packet.len(),
            _ => self
                .mandatory()
                .map_or(0, |m| m.cies.iter().map(Cie::buffer_len).sum()),
        }
    }
}

/// An owned NHRP packet (RFC 2332 §5): everything needed to emit it; ar$pktsz, ar$extoff and
/// ar$chksum are computed by [`PacketRepr::emit`].
///
/// The NBMA family (ar$afn) is that of `src_nbma`, the protocol family (ar$pro.type) that of
/// `src_proto`; `dst_proto` and every CIE address must be of the same families (checked on
/// emit). Hop count and flags are always explicit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct PacketRepr {
    /// ar$hopcnt.
    pub hop_count: u8,
    /// Encode ar$pro.type in the SNAP long form (0x0080 + OUI 0 + Ethertype); false for the
    /// usual short form.
    pub protocol_snap: bool,
    /// Source NBMA Address.
    pub src_nbma: IpAddr,
    /// Source Protocol Address.
    pub src_proto: IpAddr,
    /// Destination Protocol Address.
    pub dst_proto: IpAddr,
    /// Packet type and its fields.
    pub body: Body,
    /// Extensions in wire order, End excluded: when empty, no extension part is emitted
    /// (ar$extoff = 0); otherwise the End extension is appended. (An extension part holding
    /// only End parses to an empty list.)
    pub extensions: Vec<Extension>,
}

impl PacketRepr {
    /// A packet without extensions.
    pub fn new(
        hop_count: u8,
        src_nbma: IpAddr,
        src_proto: IpAddr,
        dst_proto: IpAddr,
        body: Body,
    ) -> Self {
        PacketRepr {
            hop_count,
            protocol_snap: false,
            src_nbma,
            src_proto,
            dst_proto,
            body,
            extensions: Vec::new(),
        }
    }

    /// Adds an extension (builder style).
    #[must_use]
    #[inline]
    pub fn with_extension(mut self, ext: Extension) -> Self {
        self.extensions.push(ext);
        self
    }

    /// Parses and validates (including the checksum) a packet into its owned form.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        // One validating pass: the conversion checks every CIE and extension itself.
        let p = Packet::parse_layout(buf)?;
        p.verify_checksum()?;
        p.to_repr()
    }

    /// ar$op.type.
    #[inline]
    pub fn packet_type(&self) -> PacketType {
        self.body.packet_type()
    }

    /// The NBMA family.
    #[inline]
    pub fn nbma_family(&self) -> Family {
        Family::of(&self.src_nbma)
    }

    /// The protocol family.
    #[inline]
    pub fn protocol_family(&self) -> Family {
        Family::of(&self.src_proto)
    }

    /// The first extension of a type (without the C bit), if present.
    #[inline]
    pub fn extension(&self, ty: u16) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.ty() == ty)
    }

    /// The first extension of a type, mutable.
    #[inline]
    pub fn extension_mut(&mut self, ty: u16) -> Option<&mut Extension> {
        self.extensions.iter_mut().find(|e| e.ty() == ty)
    }

    /// The Responder Address extension's CIE: `None` if the extension is absent,
    /// `Some(None)` if it is present but empty (as in requests).
    #[inline]
    pub fn responder_address(&self) -> Option<Option<&Cie>> {
        self.extensions.iter().find_map(|e| match &e.value {
            ExtensionValue::ResponderAddress(c) => Some(c.as_ref()),
            _ => None,
        })
    }

    /// The CIEs of the Forward Transit NHS Record extension, if present.
    #[inline]
    pub fn forward_transit_nhs(&self) -> Option<&[Cie]> {
        self.extensions.iter().find_map(|e| match &e.value {
            ExtensionValue::ForwardTransitNhs(c) => Some(&c[..]),
            _ => None,
        })
    }

    /// The CIEs of the Reverse Transit NHS Record extension, if present.
    #[inline]
    pub fn reverse_transit_nhs(&self) -> Option<&[Cie]> {
        self.extensions.iter().find_map(|e| match &e.value {
            ExtensionValue::ReverseTransitNhs(c) => Some(&c[..]),
            _ => None,
        })
    }

    /// The Authentication extension, if present.
    #[inline]
    pub fn authentication(&self) -> Option<&Authentication> {
        self.extensions.iter().find_map(|e| match &e.value {
            ExtensionValue::Authentication(a) => Some(a),
            _ => None,
        })
    }

    /// The CIEs of the Cisco NAT Address extension, if present.
    #[inline]
    pub fn nat_address(&self) -> Option<&[Cie]> {
        self.extensions.iter().find_map(|e| match &e.value {
            ExtensionValue::NatAddress(c) => Some(&c[..]),
            _ => None,
        })
    }

    /// The compulsory extensions this codec does not know (RFC 2332 §5.3: the receiver must
    /// answer them with an Error Indication "Unrecognized Extension").
    #[inline]
    pub fn unknown_compulsory(&self) -> impl Iterator<Item = &Extension> {
        self.extensions
            .iter()
            .filter(|e| e.compulsory && matches!(e.value, ExtensionValue::Unknown { .. }))
    }

    /// Offset of the extension part (= length of fixed header + mandatory part).
    fn mandatory_end(&self) -> usize {
        let nbma = self.nbma_family();
        let proto = self.protocol_family();
        FIXED_HEADER_LEN
            + COMMON_HEADER_LEN
            + nbma.addr_len()
            + 2 * proto.addr_len()
            + self.body.len()
    }

    /// (ar$extoff, ar$pktsz) of the encoding; ar$extoff is 0 without extensions.
    fn layout(&self) -> (usize, usize) {
        let end = self.mandatory_end();
        if self.extensions.is_empty() {
            (0, end)
        } else {
            let ext: usize = self.extensions.iter().map(Extension::buffer_len).sum();
            (end, end + ext + EXTENSION_HEADER_LEN)
        }
    }

    /// Encoded length (ar$pktsz).
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.layout().1
    }

    /// Encodes the packet into the start of `buf`, computing ar$pktsz, ar$extoff and
    /// ar$chksum; returns the length written. Does not allocate.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let (ext_offset, total) = self.layout();
        if total > usize::from(u16::MAX) {
            return Err(Error::Unencodable {
                layer: Layer::Packet,
                field: "ar$pktsz",
                value: total as u64,
            });
        }
        let Some(buf) = buf.get_mut(..total) else {
            return Err(Error::Truncated {
                layer: Layer::Packet,
                needed: total,
                got: buf.len(),
            });
        };
        let nbma = self.nbma_family();
        let proto = self.protocol_family();
        if Family::of(&self.dst_proto) != proto {
            return Err(Error::Unencodable {
                layer: Layer::MandatoryPart,
                field: "Destination Protocol Address family",
                value: Family::of(&self.dst_proto).addr_len() as u64,
            });
        }

        // Fixed header, checksum 0 for now.
        let (pro_type, pro_snap) = if self.protocol_snap {
            let e = proto.ethertype().to_be_bytes();
            (PRO_TYPE_SNAP, [0, 0, 0, e[0], e[1]])
        } else {
            (proto.ethertype(), [0; 5])
        };
        let h = &mut buf[..FIXED_HEADER_LEN];
        h[0..2].copy_from_slice(&nbma.afn().to_be_bytes());
        h[2..4].copy_from_slice(&pro_type.to_be_bytes());
        h[4..9].copy_from_slice(&pro_snap);
        h[9] = self.hop_count;
        h[10..12].copy_from_slice(&(total as u16).to_be_bytes());
        h[12..14].copy_from_slice(&[0, 0]);
        h[14..16].copy_from_slice(&(ext_offset as u16).to_be_bytes());
        h[16] = VERSION;
        h[17] = self.packet_type().to_u8();
        h[18] = nbma.addr_len() as u8;
        h[19] = 0;

        // Common header.
        let c = &mut buf[FIXED_HEADER_LEN..FIXED_HEADER_LEN + COMMON_HEADER_LEN];
        c[0] = proto.addr_len() as u8;
        c[1] = proto.addr_len() as u8;
        match &self.body {
            Body::ErrorIndication(e) => {
                c[2..4].copy_from_slice(&[0, 0]);
                c[4..6].copy_from_slice(&e.code.to_u16().to_be_bytes());
                c[6..8].copy_from_slice(&e.offset.to_be_bytes());
            }
            Body::TrafficIndication(t) => {
                c[2..4].copy_from_slice(&t.traffic_code.to_be_bytes());
                c[4..8].copy_from_slice(&t.reserved.to_be_bytes());
            }
            b => {
                let m = b
                    .mandatory()
                    .map_or((0, 0), |m| (m.flags.bits(), m.request_id));
                c[2..4].copy_from_slice(&m.0.to_be_bytes());
                c[4..8].copy_from_slice(&m.1.to_be_bytes());
            }
        }
        let mut off = FIXED_HEADER_LEN + COMMON_HEADER_LEN;
        off += write_addr(&mut buf[off..], &self.src_nbma);
        off += write_addr(&mut buf[off..], &self.src_proto);
        off += write_addr(&mut buf[off..], &self.dst_proto);
        match &self.body {
            Body::ErrorIndication(ErrorIndication { packet, .. })
            | Body::TrafficIndication(TrafficIndication { packet, .. }) => {
                buf[off..off + packet.len()].copy_from_slice(packet);
                off += packet.len();
            }
            b => {
                for cie in b.mandatory().map_or(&[][..], |m| &m.cies[..]) {
                    off += cie.emit(&mut buf[off..], nbma, proto)?;
                }
            }
        }
        if !self.extensions.is_empty() {
            for e in &self.extensions {
                off += e.emit(&mut buf[off..], nbma, proto)?;
            }
            off += emit_end(&mut buf[off..])?;
        }
        debug_assert_eq!(off, total);
        let sum = checksum::checksum(buf);
        buf[12..14].copy_from_slice(&sum.to_be_bytes());
        Ok(total)
    }

    /// Encodes into a new vector (convenience for tests and control-plane code).
    #[inline]
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut v = vec![0; self.buffer_len()];
        self.emit(&mut v)?;
        Ok(v)
    }
}
