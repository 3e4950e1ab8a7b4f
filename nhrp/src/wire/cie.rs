//! Client Information Entries (RFC 2332 §5.2.0.1): borrowed view, iterator and owned Repr.

use std::net::IpAddr;
use std::time::Duration;

use zerocopy::FromBytes;

use super::addr::{Family, read_addr, write_addr};
use super::codes::CieCode;
use super::error::{Error, Layer};
use super::header::{CIE_HEADER_LEN, CieHeader};

/// The type bit (E.164) and reserved bit of an address type/length byte.
const TL_TYPE_BITS: u8 = 0xc0;
/// The length bits of an address type/length byte.
const TL_LEN_BITS: u8 = 0x3f;

/// Checks an NBMA address type/length byte (ar$shtl, Cli Addr T/L) against the NBMA family:
/// the E.164 and reserved bits must be clear (IP addresses are neither E.164 nor NSAP
/// numbers), and the length must be the family's (or 0 when `allow_empty`).
pub(crate) fn check_nbma_tl(
    layer: Layer,
    field: &'static str,
    tl: u8,
    nbma: Family,
    allow_empty: bool,
) -> Result<usize, Error> {
    if tl & TL_TYPE_BITS != 0 {
        return Err(Error::Unsupported {
            layer,
            field,
            value: u32::from(tl),
        });
    }
    let len = usize::from(tl & TL_LEN_BITS);
    if len == nbma.addr_len() || (allow_empty && len == 0) {
        Ok(len)
    } else {
        Err(Error::AddressLength {
            layer,
            field,
            len: tl,
        })
    }
}

/// Checks a subaddress type/length byte: IP NBMA families have no subaddress, so it must be 0.
pub(crate) fn check_subaddr_tl(layer: Layer, field: &'static str, tl: u8) -> Result<(), Error> {
    if tl == 0 {
        Ok(())
    } else {
        Err(Error::Unsupported {
            layer,
            field,
            value: u32::from(tl),
        })
    }
}

/// Checks a protocol address length against the protocol family.
pub(crate) fn check_proto_len(
    layer: Layer,
    field: &'static str,
    len: u8,
    proto: Family,
    allow_empty: bool,
) -> Result<usize, Error> {
    let l = usize::from(len);
    if l == proto.addr_len() || (allow_empty && l == 0) {
        Ok(l)
    } else {
        Err(Error::AddressLength { layer, field, len })
    }
}

/// A validated borrowed CIE.
#[derive(Debug, Clone, Copy)]
pub struct CieView<'a> {
    header: &'a CieHeader,
    /// Client NBMA address bytes (empty or the NBMA family's length).
    nbma: &'a [u8],
    /// Client protocol address bytes (empty or the protocol family's length).
    proto: &'a [u8],
    nbma_family: Family,
    proto_family: Family,
}

impl<'a> CieView<'a> {
    /// Parses one CIE at the start of `buf`; returns it and its length. `boundary` names the
    /// field whose value ends `buf` (ar$extoff, ar$pktsz or an extension length), reported when
    /// the CIE runs past it.
    pub fn parse(
        buf: &'a [u8],
        nbma: Family,
        proto: Family,
        boundary: &'static str,
    ) -> Result<(Self, usize), Error> {
        let (header, rest) = CieHeader::ref_from_prefix(buf).map_err(|_| Error::BadLength {
            layer: Layer::Cie,
            field: boundary,
            value: buf.len(),
        })?;
        let nl = check_nbma_tl(Layer::Cie, "Cli Addr T/L", header.cli_addr_tl, nbma, true)?;
        check_subaddr_tl(Layer::Cie, "Cli SAddr T/L", header.cli_saddr_tl)?;
        let pl = check_proto_len(
            Layer::Cie,
            "Cli Proto Len",
            header.cli_proto_len,
            proto,
            true,
        )?;
        let (Some(nb), Some(pb)) = (rest.get(..nl), rest.get(nl..nl + pl)) else {
            return Err(Error::BadLength {
                layer: Layer::Cie,
                field: boundary,
                value: buf.len(),
            });
        };
        let view = CieView {
            header,
            nbma: nb,
            proto: pb,
            nbma_family: nbma,
            proto_family: proto,
        };
        Ok((view, CIE_HEADER_LEN + nl + pl))
    }

    /// The fixed part.
    #[inline]
    pub fn header(&self) -> &'a CieHeader {
        self.header
    }
    /// Code.
    #[inline]
    pub fn code(&self) -> CieCode {
        CieCode::from_u8(self.header.code)
    }
    /// Prefix Length.
    #[inline]
    pub fn prefix_length(&self) -> u8 {
        self.header.prefix_len
    }
    /// Maximum Transmission Unit.
    #[inline]
    pub fn mtu(&self) -> u16 {
        self.header.mtu.get()
    }
    /// Holding Time in seconds.
    #[inline]
    pub fn holding_time_secs(&self) -> u16 {
        self.header.holding_time.get()
    }
    /// Preference.
    #[inline]
    pub fn preference(&self) -> u8 {
        self.header.preference
    }
    /// Client NBMA Address, `None` when its length is 0.
    #[inline]
    pub fn client_nbma(&self) -> Option<IpAddr> {
        read_addr(self.nbma_family, self.nbma)
    }
    /// Client Protocol Address, `None` when its length is 0.
    #[inline]
    pub fn client_proto(&self) -> Option<IpAddr> {
        read_addr(self.proto_family, self.proto)
    }

    /// The owned form.
    pub fn to_repr(&self) -> Cie {
        Cie {
            code: self.code(),
            prefix_length: self.prefix_length(),
            mtu: self.mtu(),
            holding_time: Duration::from_secs(u64::from(self.holding_time_secs())),
            client_nbma: self.client_nbma(),
            client_proto: self.client_proto(),
            preference: self.preference(),
        }
    }
}

/// Iterator over the CIEs of a region (the rest of the mandatory part, or a CIE-list extension).
/// Yields `Err` once and stops if an entry is malformed.
#[derive(Debug, Clone)]
pub struct CieIter<'a> {
    rest: &'a [u8],
    nbma: Family,
    proto: Family,
    boundary: &'static str,
}

impl<'a> CieIter<'a> {
    /// Iterates the CIEs filling `buf` exactly.
    #[inline]
    pub fn new(buf: &'a [u8], nbma: Family, proto: Family, boundary: &'static str) -> Self {
        CieIter {
            rest: buf,
            nbma,
            proto,
            boundary,
        }
    }
}

impl<'a> Iterator for CieIter<'a> {
    type Item = Result<CieView<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match CieView::parse(self.rest, self.nbma, self.proto, self.boundary) {
            Ok((v, n)) => {
                self.rest = self.rest.get(n..).unwrap_or_default();
                Some(Ok(v))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Checks that `buf` is exactly a sequence of valid CIEs; returns their number.
pub(crate) fn validate_list(
    buf: &[u8],
    nbma: Family,
    proto: Family,
    boundary: &'static str,
) -> Result<usize, Error> {
    let mut n = 0;
    for c in CieIter::new(buf, nbma, proto, boundary) {
        c?;
        n += 1;
    }
    Ok(n)
}

/// Parses a CIE list into owned CIEs.
pub(crate) fn parse_list(
    buf: &[u8],
    nbma: Family,
    proto: Family,
    boundary: &'static str,
) -> Result<Vec<Cie>, Error> {
    let mut out = Vec::new();
    for c in CieIter::new(buf, nbma, proto, boundary) {
        out.push(c?.to_repr());
    }
    Ok(out)
}

/// An owned Client Information Entry (RFC 2332 §5.2.0.1).
///
/// The NBMA/protocol address families are the packet's (ar$afn / ar$pro.type); an empty address
/// (length 0, as in Cisco's Registration Request CIE) is `None`. The CIE "Unused" field is
/// always emitted as 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct Cie {
    /// Code (meaningful in replies; 0 in requests).
    pub code: CieCode,
    /// Prefix Length: how many leading bits of the protocol address the binding covers.
    pub prefix_length: u8,
    /// Maximum Transmission Unit of the client (0 = unspecified).
    pub mtu: u16,
    /// Holding Time; whole seconds, at most 65535 s (sub-second parts are dropped on emit).
    #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_secs))]
    pub holding_time: Duration,
    /// Client NBMA Address.
    pub client_nbma: Option<IpAddr>,
    /// Client Protocol Address.
    pub client_proto: Option<IpAddr>,
    /// Preference (Cisco sends 255).
    pub preference: u8,
}

#[cfg(any(test, feature = "arbitrary"))]
fn arbitrary_secs(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Duration> {
    Ok(Duration::from_secs(u64::from(u.arbitrary::<u16>()?)))
}

impl Cie {
    /// A CIE with code Success, preference 255 and the given fields.
    pub fn new(
        prefix_length: u8,
        mtu: u16,
        holding_time: Duration,
        client_nbma: Option<IpAddr>,
        client_proto: Option<IpAddr>,
    ) -> Self {
        Cie {
            code: CieCode::Success,
            prefix_length,
            mtu,
            holding_time,
            client_nbma,
            client_proto,
            preference: 255,
        }
    }

    /// Parses one CIE that must fill `buf` exactly.
    pub fn parse(buf: &[u8], nbma: Family, proto: Family) -> Result<Self, Error> {
        let (v, n) = CieView::parse(buf, nbma, proto, "CIE")?;
        if n != buf.len() {
            return Err(Error::BadLength {
                layer: Layer::Cie,
                field: "CIE",
                value: buf.len(),
            });
        }
        Ok(v.to_repr())
    }

    /// Encoded length.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        CIE_HEADER_LEN
            + self.client_nbma.map_or(0, |a| Family::of(&a).addr_len())
            + self.client_proto.map_or(0, |a| Family::of(&a).addr_len())
    }

    /// Writes the CIE at the start of `buf`, checking that its addresses are of the packet's
    /// families; returns the length written.
    pub fn emit(&self, buf: &mut [u8], nbma: Family, proto: Family) -> Result<usize, Error> {
        let len = self.buffer_len();
        if buf.len() < len {
            return Err(Error::Truncated {
                layer: Layer::Cie,
                needed: len,
                got: buf.len(),
            });
        }
        let nl = match &self.client_nbma {
            Some(a) if Family::of(a) != nbma => {
                return Err(Error::Unencodable {
                    layer: Layer::Cie,
                    field: "Client NBMA Address family",
                    value: Family::of(a).addr_len() as u64,
                });
            }
            Some(_) => nbma.addr_len(),
            None => 0,
        };
        let pl = match &self.client_proto {
            Some(a) if Family::of(a) != proto => {
                return Err(Error::Unencodable {
                    layer: Layer::Cie,
                    field: "Client Protocol Address family",
                    value: Family::of(a).addr_len() as u64,
                });
            }
            Some(_) => proto.addr_len(),
            None => 0,
        };
        let secs = self.holding_time.as_secs();
        let Ok(ht) = u16::try_from(secs) else {
            return Err(Error::Unencodable {
                layer: Layer::Cie,
                field: "Holding Time",
                value: secs,
            });
        };
        let (h, rest) = buf.split_at_mut(CIE_HEADER_LEN);
        h[0] = self.code.to_u8();
        h[1] = self.prefix_length;
        h[2..4].copy_from_slice(&[0, 0]);
        h[4..6].copy_from_slice(&self.mtu.to_be_bytes());
        h[6..8].copy_from_slice(&ht.to_be_bytes());
        h[8] = nl as u8;
        h[9] = 0;
        h[10] = pl as u8;
        h[11] = self.preference;
        let mut off = 0;
        if let Some(a) = &self.client_nbma {
            off += write_addr(rest, a);
        }
        if let Some(a) = &self.client_proto {
            write_addr(&mut rest[off..], a);
        }
        Ok(len)
    }
}
