//! [`PacketBuf`]: an owned packet buffer with headroom and tailroom, so packets are
//! encapsulated and decapsulated where they lie.
//!
//! A DMVPN data packet gains a GRE header (RFC 2784 §2) and, with IPsec, an ESP header in
//! front and an ESP trailer behind (RFC 4303 §2). Writing those into room reserved around the
//! packet, instead of copying the packet behind freshly built headers, is what keeps the
//! forwarding path near the cost of touching the packet once (DESIGN.md §2: "gre and esp
//! transform caller buffers in place"). Receiving works the other way round: headers are
//! stripped by moving the start of the packet forward.
//!
//! A driver takes empty buffers from [`Node::buffer`](crate::Node::buffer), reads a packet
//! into [`spare_mut`](PacketBuf::spare_mut), [`commit`](PacketBuf::commit)s its length, strips
//! what the node does not want (the outer IP header of a raw socket read) with
//! [`advance`](PacketBuf::advance), and hands the buffer to
//! [`Node::handle_buf`](crate::Node::handle_buf). What comes back in a
//! [`Transmit`](crate::Transmit) is a `PacketBuf` too; give it back with
//! [`Node::recycle`](crate::Node::recycle) once sent.

use core::fmt;
use core::ops::{Deref, DerefMut, Range};

/// An owned packet `bytes[start..end]` inside a larger, fully initialised allocation: the
/// bytes before `start` are the headroom, the bytes after `end` the tailroom.
///
/// Dereferences to the packet (`&[u8]`); equality and `Debug` look at the packet only.
/// Allocates only when created or when a packet outgrows it. Three words (it moves through
/// every queue and return value of the data path): an allocation holds at most 4 GiB.
#[derive(Clone)]
pub struct PacketBuf {
    /// The whole allocation, initialised (so reads into the tailroom need no zeroing).
    bytes: Box<[u8]>,
    start: u32,
    end: u32,
}

/// The largest allocation (offsets are `u32`).
const MAX_ALLOCATION: usize = u32::MAX as usize;

/// `n` as an offset (callers keep it within an allocation, which fits `u32`).
#[inline]
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl PacketBuf {
    /// Headroom of a new buffer: enough for an outer IPv6 header (40), UDP (8, RFC 3948), an
    /// ESP header with a 16-byte IV (24) and the largest GRE header (16), rounded up.
    pub const HEADROOM: usize = 96;
    /// Tailroom of a new buffer beyond the packet: the largest ESP trailer (block padding 15,
    /// pad length and next header 2, a 32-byte ICV), rounded up.
    pub const TAILROOM: usize = 64;
    /// The packet size a new buffer holds without growing: a 1500-byte MTU plus slack for
    /// jumbo-less links that carry a little more (1888 bytes; the allocation is 2 KiB).
    pub const DEFAULT_CAPACITY: usize = 2048 - Self::HEADROOM - Self::TAILROOM;

    /// An empty buffer with [`HEADROOM`](Self::HEADROOM), room for a
    /// [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)-byte packet and
    /// [`TAILROOM`](Self::TAILROOM).
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// An empty buffer with the standard headroom and tailroom and room for a packet of
    /// `capacity` bytes (use the interface MTU for jumbo frames).
    pub fn with_capacity(capacity: usize) -> Self {
        let total = (Self::HEADROOM + Self::TAILROOM).saturating_add(capacity);
        Self {
            bytes: vec![0; total.min(MAX_ALLOCATION)].into_boxed_slice(),
            start: offset(Self::HEADROOM),
            end: offset(Self::HEADROOM),
        }
    }

    /// Where the packet starts in the allocation.
    #[inline]
    fn start(&self) -> usize {
        self.start as usize
    }

    /// Where the packet ends in the allocation.
    #[inline]
    fn end(&self) -> usize {
        self.end as usize
    }

    /// Grows the allocation to `total` bytes (at most 4 GiB), keeping its contents.
    fn grow(&mut self, total: usize) {
        let total = total.min(MAX_ALLOCATION);
        if total > self.bytes.len() {
            let mut bytes = vec![0; total].into_boxed_slice();
            if let Some(dst) = bytes.get_mut(..self.bytes.len()) {
                dst.copy_from_slice(&self.bytes);
            }
            self.bytes = bytes;
        }
    }

    /// A buffer holding a copy of `packet`, with the standard headroom and tailroom.
    pub fn from_slice(packet: &[u8]) -> Self {
        let mut b = Self::with_capacity(packet.len().max(Self::DEFAULT_CAPACITY));
        b.extend_from_slice(packet);
        b
    }

    /// The packet.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(self.start()..self.end()).unwrap_or_default()
    }

    /// The packet, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let range = self.start()..self.end();
        self.bytes.get_mut(range).unwrap_or_default()
    }

    /// Bytes free in front of the packet.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.start()
    }

    /// Bytes free behind the packet.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.bytes.len() - self.end()
    }

    /// Empties the buffer and restores the standard headroom (as far as the allocation
    /// allows).
    #[inline]
    pub fn clear(&mut self) {
        self.start = offset(Self::HEADROOM.min(self.bytes.len()));
        self.end = self.start;
    }

    /// Removes `n` bytes from the front of the packet (all of it if it is shorter): strips a
    /// header, which becomes headroom.
    #[inline]
    pub fn advance(&mut self, n: usize) {
        self.start += offset(n.min(self.len()));
    }

    /// Shortens the packet to `len` bytes; no effect if it is not longer.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.end = offset(self.end().min(self.start() + len.min(self.len())));
    }

    /// Writes `header` into the headroom just in front of the packet and makes it part of
    /// the packet (an encapsulation, or a driver's outer IP header). Returns false, changing
    /// nothing, when the headroom is too small.
    #[inline]
    pub fn prepend(&mut self, header: &[u8]) -> bool {
        let Some(start) = self.start().checked_sub(header.len()) else {
            return false;
        };
        match self.bytes.get_mut(start..self.start()) {
            Some(room) => {
                room.copy_from_slice(header);
                self.start = offset(start);
                true
            }
            None => false,
        }
    }

    /// [`prepend`](Self::prepend) for a header of `len` bytes right-aligned in a fixed-size
    /// array: all `N` bytes are copied (a fixed-size store; the ones in front of the header
    /// land in headroom, which holds nothing), then the packet grows by `len`. Returns false,
    /// changing nothing, when the headroom is smaller than `N` or `len > N`.
    #[inline]
    pub(crate) fn prepend_fixed<const N: usize>(&mut self, header: &[u8; N], len: usize) -> bool {
        let Some(at) = self.start().checked_sub(N) else {
            return false;
        };
        match self.bytes.get_mut(at..self.start()) {
            Some(room) if len <= N => {
                room.copy_from_slice(header);
                self.start -= offset(len);
                true
            }
            _ => false,
        }
    }

    /// Appends `bytes` to the packet, growing the allocation (keeping the tailroom) when
    /// they do not fit.
    #[inline]
    ///
    /// Bytes that would take the allocation beyond 4 GiB are not appended.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let end = self.end() + bytes.len();
        if end > self.bytes.len() {
            self.grow(end + Self::TAILROOM);
        }
        if let Some(dst) = self.bytes.get_mut(self.end()..end) {
            dst.copy_from_slice(bytes);
            self.end = offset(end);
        }
    }

    /// The tailroom, for reading a packet into: write the packet at its start, then
    /// [`commit`](Self::commit) its length.
    #[inline]
    pub fn spare_mut(&mut self) -> &mut [u8] {
        let end = self.end();
        self.bytes.get_mut(end..).unwrap_or_default()
    }

    /// Makes the first `n` bytes of [`spare_mut`](Self::spare_mut) part of the packet (at
    /// most all of the tailroom).
    #[inline]
    pub fn commit(&mut self, n: usize) {
        self.end += offset(n.min(self.tailroom()));
    }

    /// The packet as a `Vec` (moves the bytes to the front of the allocation).
    pub fn into_vec(self) -> Vec<u8> {
        let (start, end) = (self.start(), self.end());
        let mut v = self.bytes.into_vec();
        v.truncate(end);
        v.drain(..start);
        v
    }

    /// Size of the allocation (headroom + packet + tailroom).
    #[inline]
    pub(crate) fn allocation(&self) -> usize {
        self.bytes.len()
    }

    /// The whole allocation and where the packet lies in it, for codecs that write around
    /// the packet (GRE into the headroom, ESP into both).
    #[inline]
    pub(crate) fn raw_mut(&mut self) -> (&mut [u8], Range<usize>) {
        let range = self.start()..self.end();
        (&mut self.bytes, range)
    }

    /// Makes `range` of the allocation the packet (after a codec wrote headers or a trailer
    /// around it, or found the plaintext inside). Out-of-bounds ranges are clamped.
    #[inline]
    pub(crate) fn set_range(&mut self, range: Range<usize>) {
        let end = range.end.min(self.bytes.len());
        self.start = offset(range.start.min(end));
        self.end = offset(end);
    }

    /// Makes sure `head` bytes of headroom and `tail` bytes of tailroom exist, moving the
    /// packet (one copy, into a grown allocation if needed) when they do not.
    pub(crate) fn reserve_around(&mut self, head: usize, tail: usize) {
        if self.start() >= head && self.tailroom() >= tail {
            return;
        }
        let len = self.len();
        let head = head.max(Self::HEADROOM);
        let total = head + len + tail.max(Self::TAILROOM);
        if total > MAX_ALLOCATION {
            return;
        }
        self.grow(total);
        self.bytes.copy_within(self.start()..self.end(), head);
        self.start = offset(head);
        self.end = offset(head + len);
    }
}

impl Default for PacketBuf {
    /// [`PacketBuf::new`]: empty, with the standard headroom and tailroom.
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for PacketBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for PacketBuf {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl AsRef<[u8]> for PacketBuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<&[u8]> for PacketBuf {
    fn from(packet: &[u8]) -> Self {
        Self::from_slice(packet)
    }
}

impl From<Vec<u8>> for PacketBuf {
    /// Takes the vector as it is (no headroom; a later encapsulation moves the packet once).
    fn from(mut bytes: Vec<u8>) -> Self {
        bytes.truncate(MAX_ALLOCATION);
        let end = offset(bytes.len());
        Self {
            bytes: bytes.into_boxed_slice(),
            start: 0,
            end,
        }
    }
}

impl From<PacketBuf> for Vec<u8> {
    fn from(b: PacketBuf) -> Self {
        b.into_vec()
    }
}

impl PartialEq for PacketBuf {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for PacketBuf {}

impl PartialEq<[u8]> for PacketBuf {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Vec<u8>> for PacketBuf {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_and_tailroom_move_with_the_packet() {
        let mut b = PacketBuf::default();
        assert_eq!(b.headroom(), PacketBuf::HEADROOM);
        b.extend_from_slice(&[1, 2, 3, 4, 5]);
        assert_eq!(&b[..], &[1, 2, 3, 4, 5]);
        b.advance(2);
        assert_eq!(&b[..], &[3, 4, 5]);
        assert_eq!(b.headroom(), PacketBuf::HEADROOM + 2);
        b.truncate(1);
        assert_eq!(b, vec![3u8]);
        assert!(b.prepend(&[1, 2]));
        assert_eq!(&b[..], &[1, 2, 3]);
        assert!(
            !b.prepend(&[0; PacketBuf::HEADROOM + 1]),
            "no room: nothing written"
        );
        assert_eq!(&b[..], &[1, 2, 3]);
        assert!(b.prepend_fixed(&[0, 0, 8, 9], 2));
        assert_eq!(&b[..], &[8, 9, 1, 2, 3]);
        assert!(!b.prepend_fixed(&[0; 4], 5));
        assert!(!b.prepend_fixed(&[0; PacketBuf::HEADROOM + 1], 1));
        assert_eq!(&b[..], &[8, 9, 1, 2, 3]);
        b.advance(10);
        assert!(b.is_empty());
        b.clear();
        assert_eq!(b.headroom(), PacketBuf::HEADROOM);
    }

    #[test]
    fn reads_go_into_the_tailroom() {
        let mut b = PacketBuf::with_capacity(8);
        let spare = b.spare_mut();
        assert_eq!(spare.len(), 8 + PacketBuf::TAILROOM);
        spare[..3].copy_from_slice(b"abc");
        b.commit(3);
        assert_eq!(&b[..], b"abc");
        b.commit(usize::MAX);
        assert_eq!(b.len(), 8 + PacketBuf::TAILROOM);
        assert_eq!(b.tailroom(), 0);
    }

    #[test]
    fn growing_keeps_the_packet_and_the_tailroom() {
        let mut b = PacketBuf::with_capacity(4);
        let data: Vec<u8> = (0..=255).collect();
        b.extend_from_slice(&data);
        b.extend_from_slice(&data);
        assert_eq!(b.len(), 512);
        assert_eq!(&b[..256], &data[..]);
        assert_eq!(&b[256..], &data[..]);
        assert!(b.tailroom() >= PacketBuf::TAILROOM);
    }

    #[test]
    fn reserve_around_moves_the_packet_once_when_room_is_missing() {
        let mut b = PacketBuf::from(vec![9u8; 100]);
        assert_eq!(b.headroom(), 0);
        b.reserve_around(40, 50);
        assert!(b.headroom() >= 40 && b.tailroom() >= 50);
        assert_eq!(b, vec![9u8; 100]);
        let before = b.headroom();
        b.reserve_around(8, 8);
        assert_eq!(b.headroom(), before, "enough room: nothing moves");
    }

    #[test]
    fn conversions_keep_only_the_packet() {
        let mut b = PacketBuf::from_slice(b"xyhello");
        b.advance(2);
        assert_eq!(Vec::from(b.clone()), b"hello".to_vec());
        assert_eq!(format!("{b:?}"), format!("{:?}", b"hello"));
        let mut raw = PacketBuf::new();
        raw.extend_from_slice(b"abcdef");
        let (all, range) = raw.raw_mut();
        all[range.start - 1] = b'_';
        raw.set_range(PacketBuf::HEADROOM - 1..PacketBuf::HEADROOM + 3);
        assert_eq!(&raw[..], b"_abc");
        raw.set_range(usize::MAX - 1..usize::MAX);
        assert!(raw.is_empty());
    }
}
