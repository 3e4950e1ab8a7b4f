//! Extensions (RFC 2332 §5.3 and Cisco's NAT Address extension): view, iterator, owned Repr.

use zerocopy::FromBytes;

use super::addr::Family;
use super::cie::{Cie, CieIter, parse_list, validate_list};
use super::codes::extension_type as et;
use super::error::{Error, Layer};
use super::header::{EXTENSION_HEADER_LEN, ExtensionHeader};

/// Mask of the type field without the C bit (keeps the unused u bit, so a type with u set is
/// an unknown type and round-trips).
const TYPE_MASK: u16 = 0x7fff;

/// Length of the Authentication extension's fixed part (Reserved + SPI, RFC 2332 §5.3.4.1).
const AUTH_FIXED_LEN: usize = 4;
/// Length of the Vendor-Private extension's Vendor ID (RFC 2332 §5.3.5).
const VENDOR_ID_LEN: usize = 3;

/// A borrowed extension (never the End extension, which iteration consumes).
#[derive(Debug, Clone, Copy)]
pub struct ExtensionView<'a> {
    ty: u16,
    value: &'a [u8],
    nbma: Family,
    proto: Family,
}

impl<'a> ExtensionView<'a> {
    /// Whether the C (compulsory) bit is set.
    #[inline]
    pub fn compulsory(&self) -> bool {
        self.ty & et::COMPULSORY != 0
    }
    /// The type without the C bit (the u bit, if set, is part of it).
    #[inline]
    pub fn ty(&self) -> u16 {
        self.ty & TYPE_MASK
    }
    /// The raw value.
    #[inline]
    pub fn value(&self) -> &'a [u8] {
        self.value
    }
    /// The CIEs of a CIE-list extension (Responder Address, Forward/Reverse Transit NHS
    /// Record, Cisco NAT Address); empty for other types.
    #[inline]
    pub fn cies(&self) -> CieIter<'a> {
        let v = if is_cie_list(self.ty()) {
            self.value
        } else {
            &[]
        };
        CieIter::new(v, self.nbma, self.proto, "extension length")
    }

    /// Checks the value against its type's layout.
    fn validate(&self) -> Result<(), Error> {
        match self.ty() {
            et::RESPONDER_ADDRESS => {
                let n = validate_list(self.value, self.nbma, self.proto, "extension length")?;
                if n > 1 {
                    return Err(Error::BadLength {
                        layer: Layer::Extension,
                        field: "Responder Address extension (CIE count)",
                        value: n,
                    });
                }
            }
            et::FORWARD_TRANSIT_NHS | et::REVERSE_TRANSIT_NHS | et::CISCO_NAT_ADDRESS => {
                validate_list(self.value, self.nbma, self.proto, "extension length")?;
            }
            et::AUTHENTICATION if self.value.len() < AUTH_FIXED_LEN => {
                return Err(Error::BadLength {
                    layer: Layer::Extension,
                    field: "Authentication extension length",
                    value: self.value.len(),
                });
            }
            et::VENDOR_PRIVATE if self.value.len() < VENDOR_ID_LEN => {
                return Err(Error::BadLength {
                    layer: Layer::Extension,
                    field: "Vendor-Private extension length",
                    value: self.value.len(),
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// The owned form.
    #[inline]
    pub fn to_repr(&self) -> Result<Extension, Error> {
        let v = self.value;
        let value = match self.ty() {
            et::RESPONDER_ADDRESS => {
                let mut it = self.cies();
                let first = it.next().transpose()?.map(|c| c.to_repr());
                if it.next().is_some() {
                    return Err(Error::BadLength {
                        layer: Layer::Extension,
                        field: "Responder Address extension (CIE count)",
                        value: 2,
                    });
                }
                ExtensionValue::ResponderAddress(first)
            }
            et::FORWARD_TRANSIT_NHS => ExtensionValue::ForwardTransitNhs(self.cie_list()?),
            et::REVERSE_TRANSIT_NHS => ExtensionValue::ReverseTransitNhs(self.cie_list()?),
            et::CISCO_NAT_ADDRESS => ExtensionValue::NatAddress(self.cie_list()?),
            et::AUTHENTICATION => {
                let (Some(fixed), Some(data)) = (v.get(..AUTH_FIXED_LEN), v.get(AUTH_FIXED_LEN..))
                else {
                    return Err(Error::BadLength {
                        layer: Layer::Extension,
                        field: "Authentication extension length",
                        value: v.len(),
                    });
                };
                ExtensionValue::Authentication(Authentication {
                    reserved: u16::from_be_bytes([fixed[0], fixed[1]]),
                    spi: u16::from_be_bytes([fixed[2], fixed[3]]),
                    data: data.to_vec(),
                })
            }
            et::VENDOR_PRIVATE => {
                let (Some(id), Some(data)) = (v.get(..VENDOR_ID_LEN), v.get(VENDOR_ID_LEN..))
                else {
                    return Err(Error::BadLength {
                        layer: Layer::Extension,
                        field: "Vendor-Private extension length",
                        value: v.len(),
                    });
                };
                ExtensionValue::VendorPrivate {
                    vendor_id: u32::from_be_bytes([0, id[0], id[1], id[2]]),
                    data: data.to_vec(),
                }
            }
            ty => ExtensionValue::Unknown {
                ty,
                data: v.to_vec(),
            },
        };
        Ok(Extension {
            compulsory: self.compulsory(),
            value,
        })
    }

    fn cie_list(&self) -> Result<Vec<Cie>, Error> {
        parse_list(self.value, self.nbma, self.proto, "extension length")
    }
}

fn is_cie_list(ty: u16) -> bool {
    matches!(
        ty,
        et::RESPONDER_ADDRESS
            | et::FORWARD_TRANSIT_NHS
            | et::REVERSE_TRANSIT_NHS
            | et::CISCO_NAT_ADDRESS
    )
}

/// Iterator over the extensions of a packet, up to (not including) the End extension.
///
/// Yields `Err` once and stops on a malformed extension or when the End extension is missing.
#[derive(Debug, Clone)]
pub struct ExtensionIter<'a> {
    rest: &'a [u8],
    nbma: Family,
    proto: Family,
    done: bool,
    /// Validate each value against its type (off for parts already validated by
    /// [`Packet::parse`](super::Packet::parse)).
    check_values: bool,
}

impl<'a> ExtensionIter<'a> {
    /// Iterates the extension part `buf` (from ar$extoff to ar$pktsz). An empty `buf` (no
    /// extension part, ar$extoff = 0) yields nothing.
    #[inline]
    pub fn new(buf: &'a [u8], nbma: Family, proto: Family) -> Self {
        ExtensionIter {
            rest: buf,
            nbma,
            proto,
            done: buf.is_empty(),
            check_values: true,
        }
    }

    /// Iterates a packet's extension part: `present` is ar$extoff != 0 (then even an empty
    /// part must hold the End extension); `check_values` validates each value against its
    /// type (off for parts already validated by [`Packet::parse`](super::Packet::parse)).
    pub(crate) fn part(
        buf: &'a [u8],
        present: bool,
        nbma: Family,
        proto: Family,
        check_values: bool,
    ) -> Self {
        ExtensionIter {
            rest: buf,
            nbma,
            proto,
            done: !present,
            check_values,
        }
    }

    fn step(&mut self) -> Result<Option<ExtensionView<'a>>, Error> {
        let Ok((h, rest)) = ExtensionHeader::ref_from_prefix(self.rest) else {
            return Err(if self.rest.is_empty() {
                Error::MissingEnd {
                    layer: Layer::Extension,
                }
            } else {
                Error::Truncated {
                    layer: Layer::Extension,
                    needed: EXTENSION_HEADER_LEN,
                    got: self.rest.len(),
                }
            });
        };
        let len = usize::from(h.len.get());
        let Some(value) = rest.get(..len) else {
            return Err(Error::BadLength {
                layer: Layer::Extension,
                field: "extension length",
                value: len,
            });
        };
        let after = rest.get(len..).unwrap_or_default();
        let ty = h.ty.get();
        if ty & TYPE_MASK == et::END {
            if len != 0 {
                return Err(Error::BadLength {
                    layer: Layer::Extension,
                    field: "End extension length",
                    value: len,
                });
            }
            if !after.is_empty() {
                return Err(Error::BadLength {
                    layer: Layer::Extension,
                    field: "data after End extension",
                    value: after.len(),
                });
            }
            return Ok(None);
        }
        self.rest = after;
        let v = ExtensionView {
            ty,
            value,
            nbma: self.nbma,
            proto: self.proto,
        };
        if self.check_values {
            v.validate()?;
        }
        Ok(Some(v))
    }
}

impl<'a> Iterator for ExtensionIter<'a> {
    type Item = Result<ExtensionView<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(v)) => Some(Ok(v)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The Authentication extension value (RFC 2332 §5.3.4).
///
/// RFC 2332 lays it out as Reserved (16 bits), SPI (16 bits), then the Src Addr and the
/// authentication data; `data` holds everything after the SPI. Cisco's (and FRR's
/// `cisco-authentication`) plaintext form has SPI 1 and the password (at most 8 bytes) as
/// `data`, with no source address.
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct Authentication {
    /// Reserved (0 on the wire in every known implementation; kept).
    pub reserved: u16,
    /// Security Parameter Index: 1 = Cisco plaintext password.
    pub spi: u16,
    /// Everything after the SPI.
    pub data: Vec<u8>,
}

impl Authentication {
    /// SPI of Cisco's clear-text password form.
    pub const SPI_CISCO_PLAINTEXT: u16 = 1;

    /// Cisco's plaintext form: SPI 1 + the password bytes.
    #[inline]
    pub fn cisco_plaintext(password: &[u8]) -> Self {
        Authentication {
            reserved: 0,
            spi: Self::SPI_CISCO_PLAINTEXT,
            data: password.to_vec(),
        }
    }

    /// The password if this is the Cisco plaintext form.
    #[inline]
    pub fn cisco_password(&self) -> Option<&[u8]> {
        (self.reserved == 0 && self.spi == Self::SPI_CISCO_PLAINTEXT).then_some(&self.data[..])
    }
}

impl core::fmt::Debug for Authentication {
    // The data is a secret: show only its length.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Authentication")
            .field("reserved", &self.reserved)
            .field("spi", &self.spi)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// The value of an extension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum ExtensionValue {
    /// 3, Responder Address (§5.3.1): empty in requests, the responder's CIE in replies.
    ResponderAddress(Option<Cie>),
    /// 4, Forward Transit NHS Record (§5.3.2): one CIE per NHS that forwarded the request.
    ForwardTransitNhs(Vec<Cie>),
    /// 5, Reverse Transit NHS Record (§5.3.3): one CIE per NHS that forwarded the reply.
    ReverseTransitNhs(Vec<Cie>),
    /// 7, Authentication (§5.3.4).
    Authentication(Authentication),
    /// 8, Vendor-Private (§5.3.5): IEEE OUI (24 bits; Cisco = 0x00000C) and opaque data
    /// (Cisco: the NHRP group name, `01 len name`).
    VendorPrivate {
        /// The 24-bit IEEE 802 vendor ID.
        vendor_id: u32,
        /// The vendor's data.
        data: Vec<u8>,
    },
    /// 9, Cisco NAT Address: CIEs with the NBMA address the peer was seen from (in replies)
    /// or the NHS's addresses (in Cisco registration requests).
    NatAddress(Vec<Cie>),
    /// Any other type, kept raw so a machine can answer it per RFC 2332 §5.3 (a compulsory
    /// unknown extension calls for an Error Indication "unrecognized extension").
    Unknown {
        /// The type without the C bit (0..=0x7fff; the u bit is kept here).
        ty: u16,
        /// The raw value.
        data: Vec<u8>,
    },
}

/// An owned extension: the C bit plus the typed value. The End extension is implicit
/// (see [`PacketRepr::extensions`](super::PacketRepr::extensions)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct Extension {
    /// The C bit (0x8000 of the type field): the receiver must understand it.
    pub compulsory: bool,
    /// The value.
    pub value: ExtensionValue,
}

impl Extension {
    /// Responder Address, compulsory (as Cisco, FRR and OpenNHRP send it).
    #[inline]
    pub fn responder_address(cie: Option<Cie>) -> Self {
        Extension {
            compulsory: true,
            value: ExtensionValue::ResponderAddress(cie),
        }
    }
    /// Forward Transit NHS Record, compulsory.
    #[inline]
    pub fn forward_transit_nhs(cies: Vec<Cie>) -> Self {
        Extension {
            compulsory: true,
            value: ExtensionValue::ForwardTransitNhs(cies),
        }
    }
    /// Reverse Transit NHS Record, compulsory.
    #[inline]
    pub fn reverse_transit_nhs(cies: Vec<Cie>) -> Self {
        Extension {
            compulsory: true,
            value: ExtensionValue::ReverseTransitNhs(cies),
        }
    }
    /// Authentication, compulsory.
    #[inline]
    pub fn authentication(auth: Authentication) -> Self {
        Extension {
            compulsory: true,
            value: ExtensionValue::Authentication(auth),
        }
    }
    /// Vendor-Private, not compulsory.
    #[inline]
    pub fn vendor_private(vendor_id: u32, data: Vec<u8>) -> Self {
        Extension {
            compulsory: false,
            value: ExtensionValue::VendorPrivate { vendor_id, data },
        }
    }
    /// Cisco NAT Address, not compulsory (as Cisco sends it).
    #[inline]
    pub fn nat_address(cies: Vec<Cie>) -> Self {
        Extension {
            compulsory: false,
            value: ExtensionValue::NatAddress(cies),
        }
    }

    /// The type without the C bit.
    pub fn ty(&self) -> u16 {
        match &self.value {
            ExtensionValue::ResponderAddress(_) => et::RESPONDER_ADDRESS,
            ExtensionValue::ForwardTransitNhs(_) => et::FORWARD_TRANSIT_NHS,
            ExtensionValue::ReverseTransitNhs(_) => et::REVERSE_TRANSIT_NHS,
            ExtensionValue::Authentication(_) => et::AUTHENTICATION,
            ExtensionValue::VendorPrivate { .. } => et::VENDOR_PRIVATE,
            ExtensionValue::NatAddress(_) => et::CISCO_NAT_ADDRESS,
            ExtensionValue::Unknown { ty, .. } => *ty,
        }
    }

    /// Length of the value (without the 4-byte extension header).
    pub fn value_len(&self) -> usize {
        match &self.value {
            ExtensionValue::ResponderAddress(c) => c.as_ref().map_or(0, Cie::buffer_len),
            ExtensionValue::ForwardTransitNhs(c)
            | ExtensionValue::ReverseTransitNhs(c)
            | ExtensionValue::NatAddress(c) => c.iter().map(Cie::buffer_len).sum(),
            ExtensionValue::Authentication(a) => AUTH_FIXED_LEN + a.data.len(),
            ExtensionValue::VendorPrivate { data, .. } => VENDOR_ID_LEN + data.len(),
            ExtensionValue::Unknown { data, .. } => data.len(),
        }
    }

    /// Encoded length including the extension header.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        EXTENSION_HEADER_LEN + self.value_len()
    }

    /// Writes the extension at the start of `buf`; returns the length written.
    pub fn emit(&self, buf: &mut [u8], nbma: Family, proto: Family) -> Result<usize, Error> {
        let ty = self.ty();
        if let ExtensionValue::Unknown { ty, .. } = &self.value {
            let known = matches!(
                *ty,
                et::END
                    | et::RESPONDER_ADDRESS
                    | et::FORWARD_TRANSIT_NHS
                    | et::REVERSE_TRANSIT_NHS
                    | et::AUTHENTICATION
                    | et::VENDOR_PRIVATE
                    | et::CISCO_NAT_ADDRESS
            );
            if known || *ty > TYPE_MASK {
                return Err(Error::Unencodable {
                    layer: Layer::Extension,
                    field: "Unknown extension type",
                    value: u64::from(*ty),
                });
            }
        }
        let vlen = self.value_len();
        let Ok(vlen16) = u16::try_from(vlen) else {
            return Err(Error::Unencodable {
                layer: Layer::Extension,
                field: "extension length",
                value: vlen as u64,
            });
        };
        let total = EXTENSION_HEADER_LEN + vlen;
        if buf.len() < total {
            return Err(Error::Truncated {
                layer: Layer::Extension,
                needed: total,
                got: buf.len(),
            });
        }
        let c = if self.compulsory { et::COMPULSORY } else { 0 };
        buf[..2].copy_from_slice(&(ty | c).to_be_bytes());
        buf[2..4].copy_from_slice(&vlen16.to_be_bytes());
        let v = &mut buf[EXTENSION_HEADER_LEN..total];
        match &self.value {
            ExtensionValue::ResponderAddress(c) => {
                if let Some(c) = c {
                    c.emit(v, nbma, proto)?;
                }
            }
            ExtensionValue::ForwardTransitNhs(cs)
            | ExtensionValue::ReverseTransitNhs(cs)
            | ExtensionValue::NatAddress(cs) => {
                let mut off = 0;
                for c in cs {
                    off += c.emit(&mut v[off..], nbma, proto)?;
                }
            }
            ExtensionValue::Authentication(a) => {
                v[..2].copy_from_slice(&a.reserved.to_be_bytes());
                v[2..4].copy_from_slice(&a.spi.to_be_bytes());
                v[AUTH_FIXED_LEN..].copy_from_slice(&a.data);
            }
            ExtensionValue::VendorPrivate { vendor_id, data } => {
                if *vendor_id > 0x00ff_ffff {
                    return Err(Error::Unencodable {
                        layer: Layer::Extension,
                        field: "Vendor ID",
                        value: u64::from(*vendor_id),
                    });
                }
                v[..VENDOR_ID_LEN].copy_from_slice(&vendor_id.to_be_bytes()[1..]);
                v[VENDOR_ID_LEN..].copy_from_slice(data);
            }
            ExtensionValue::Unknown { data, .. } => v.copy_from_slice(data),
        }
        Ok(total)
    }
}

/// Counts the extension headers before End (a capacity hint; stops at anything malformed).
pub(crate) fn count_extensions(mut buf: &[u8]) -> usize {
    let mut n = 0;
    while let Some(h) = buf.get(..EXTENSION_HEADER_LEN) {
        if u16::from_be_bytes([h[0], h[1]]) & TYPE_MASK == et::END {
            break;
        }
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        buf = buf.get(EXTENSION_HEADER_LEN + len..).unwrap_or_default();
        n += 1;
    }
    n
}

/// Emits the End extension (C bit set, as every known implementation sends it).
pub(crate) fn emit_end(buf: &mut [u8]) -> Result<usize, Error> {
    let Some(b) = buf.get_mut(..EXTENSION_HEADER_LEN) else {
        return Err(Error::Truncated {
            layer: Layer::Extension,
            needed: EXTENSION_HEADER_LEN,
            got: buf.len(),
        });
    };
    b.copy_from_slice(&[0x80, 0, 0, 0]);
    Ok(EXTENSION_HEADER_LEN)
}
