//! The multipoint GRE endpoint: one mGRE tunnel interface, sans-IO.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::wire::{self, Packet, ProtocolType, Repr};
use crate::{ApiError, Config, DropReason};

/// Counters of an [`Endpoint`], one per outcome. Every received packet increments exactly one
/// of `rx_packets` or a `drop_*` counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Packets encapsulated.
    pub tx_packets: u64,
    /// Packets accepted on receive.
    pub rx_packets: u64,
    /// Accepted packets without a sequence number while sequence checking is on (RFC 2890 §2.2
    /// allows them); included in `rx_packets`.
    pub rx_unsequenced: u64,
    /// Dropped: shorter than the header its flags announce.
    pub drop_truncated: u64,
    /// Dropped: version ≠ 0 (e.g. PPTP enhanced GRE).
    pub drop_version: u64,
    /// Dropped: Reserved0 bits 1, 4 or 5 set (RFC 2784 §2.3).
    pub drop_reserved: u64,
    /// Dropped: checksum does not verify.
    pub drop_checksum: u64,
    /// Dropped: other codec errors (none today; kept for forward compatibility).
    pub drop_malformed_other: u64,
    /// Dropped: keyed tunnel, packet without key.
    pub drop_key_missing: u64,
    /// Dropped: packet key is not the tunnel key.
    pub drop_key_mismatch: u64,
    /// Dropped: unkeyed tunnel, packet with a key.
    pub drop_unexpected_key: u64,
    /// Dropped: same sequence number as the last accepted one.
    pub drop_duplicate: u64,
    /// Dropped: sequence number before the last accepted one.
    pub drop_out_of_order: u64,
    /// Dropped: new peer while the sequence table is full.
    pub drop_peer_table_full: u64,
}

impl Stats {
    /// Sum of all `drop_*` counters.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.drop_truncated
            + self.drop_version
            + self.drop_reserved
            + self.drop_checksum
            + self.drop_malformed_other
            + self.drop_key_missing
            + self.drop_key_mismatch
            + self.drop_unexpected_key
            + self.drop_duplicate
            + self.drop_out_of_order
            + self.drop_peer_table_full
    }

    fn count(&mut self, reason: &DropReason) {
        let counter = match reason {
            DropReason::Malformed(wire::Error::Truncated { .. }) => &mut self.drop_truncated,
            DropReason::Malformed(wire::Error::Unsupported { .. }) => &mut self.drop_version,
            DropReason::Malformed(wire::Error::Reserved { .. }) => &mut self.drop_reserved,
            DropReason::Malformed(wire::Error::Checksum { .. }) => &mut self.drop_checksum,
            DropReason::Malformed(_) => &mut self.drop_malformed_other,
            DropReason::KeyMissing { .. } => &mut self.drop_key_missing,
            DropReason::KeyMismatch { .. } => &mut self.drop_key_mismatch,
            DropReason::UnexpectedKey { .. } => &mut self.drop_unexpected_key,
            DropReason::Duplicate { .. } => &mut self.drop_duplicate,
            DropReason::OutOfOrder { .. } => &mut self.drop_out_of_order,
            DropReason::PeerTableFull => &mut self.drop_peer_table_full,
        };
        *counter += 1;
    }
}

/// A packet accepted by [`Endpoint::decapsulate`]: the header fields and the payload, borrowed
/// from the received buffer (nothing copied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decapsulated<'a> {
    /// The decoded header (checksum verified if present).
    pub repr: Repr,
    /// Length of the GRE header that preceded the payload.
    pub header_len: usize,
    /// The payload, to hand to IPv4/IPv6/NHRP according to `repr.protocol_type`.
    pub payload: &'a [u8],
}

/// One multipoint GRE tunnel endpoint (an mGRE interface in DMVPN terms), sans-IO.
///
/// It turns payloads into GRE packets for a destination NBMA peer and GRE packets from a
/// source NBMA peer back into payloads, applying the tunnel's [`Config`]: the key (RFC 2890
/// §2.1), the checksum (RFC 2784 §2.5) and per-peer sequence numbering (RFC 2890 §2.2). The
/// outer IP header and the sockets are the caller's; `A` is the NBMA address type (default
/// [`IpAddr`]).
///
/// * No allocation per packet: per-peer sequence state lives in two maps (outbound next number,
///   inbound last accepted), each bounded by [`Config::max_peers`]; a map only grows when a new
///   peer appears. Without sequencing, the endpoint keeps no per-peer state at all. The maps
///   are B-trees: deterministic (no randomly seeded hasher), with O(log n) worst-case lookups
///   whatever source addresses the network makes up.
/// * A dropped packet changes nothing but one counter in [`Stats`]; a failed encapsulation
///   consumes no sequence number.
///
/// ```
/// use gre::{Config, Endpoint, wire::ProtocolType};
/// use std::net::{IpAddr, Ipv4Addr};
///
/// let config = Config { key: Some(42), send_sequence: true, check_sequence: true, ..Config::default() };
/// let mut hub: Endpoint = Endpoint::new(config.clone())?;
/// let mut spoke: Endpoint = Endpoint::new(config)?;
/// let hub_nbma = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
/// let spoke_nbma = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
///
/// let mut buf = [0u8; 16 + 4];
/// buf[16..].copy_from_slice(b"nhrp");
/// let packet = spoke.encapsulate(hub_nbma, ProtocolType::NHRP, &mut buf, 16)?;
/// let received = hub.decapsulate(spoke_nbma, packet).expect("accepted");
/// assert_eq!(received.payload, b"nhrp");
/// assert_eq!(received.repr.sequence, Some(0));
/// # Ok::<(), gre::ApiError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Endpoint<A = IpAddr> {
    config: Config,
    /// Next sequence number to send, per destination peer.
    tx_sequence: BTreeMap<A, u32>,
    /// Last sequence number accepted, per source peer.
    rx_sequence: BTreeMap<A, u32>,
    stats: Stats,
}

impl<A: Copy + Ord> Endpoint<A> {
    /// A new endpoint; fails if the configuration does not [validate](Config::validate).
    pub fn new(config: Config) -> Result<Self, ApiError> {
        config.validate()?;
        Ok(Self {
            config,
            tx_sequence: BTreeMap::new(),
            rx_sequence: BTreeMap::new(),
            stats: Stats::default(),
        })
    }

    /// The configuration this endpoint runs with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of peers with sequence state (outbound, inbound).
    #[must_use]
    pub fn peers(&self) -> (usize, usize) {
        (self.tx_sequence.len(), self.rx_sequence.len())
    }

    /// Forgets the sequence state of `peer` in both directions — call it when the NHRP
    /// mapping to that peer goes away, so the table holds live peers only. The next packet to
    /// the peer carries sequence number 0 again and the next one from it is accepted whatever
    /// its number.
    pub fn forget_peer(&mut self, peer: A) {
        self.tx_sequence.remove(&peer);
        self.rx_sequence.remove(&peer);
    }

    /// The header every packet of `protocol_type` carries, to any peer, when it is the same
    /// for all of them: no sequence numbers (RFC 2890 §2.2) and no checksum (RFC 2784 §2.5),
    /// so nothing in it depends on the packet. A forwarding cache may then emit it once and
    /// copy the bytes in front of each payload, reporting those packets with
    /// [`count_encapsulated`](Self::count_encapsulated). `None` otherwise: use
    /// [`encapsulate`](Self::encapsulate).
    #[must_use]
    pub fn fixed_header(&self, protocol_type: ProtocolType) -> Option<Repr> {
        (!self.config.send_sequence && !self.config.checksum).then_some(Repr {
            protocol_type,
            checksum: false,
            key: self.config.key,
            sequence: None,
        })
    }

    /// Counts `packets` encapsulated with a [`fixed_header`](Self::fixed_header) outside
    /// [`encapsulate`](Self::encapsulate), so [`Stats::tx_packets`] stays complete.
    pub fn count_encapsulated(&mut self, packets: u64) {
        self.stats.tx_packets += packets;
    }

    /// The header the next packet to `to` will carry, without consuming a sequence number.
    ///
    /// Fails with [`ApiError::PeerTableFull`] when sequence numbering is on, `to` is a new peer
    /// and the table is full.
    pub fn next_header(&self, to: A, protocol_type: ProtocolType) -> Result<Repr, ApiError> {
        let sequence = if self.config.send_sequence {
            match self.tx_sequence.get(&to) {
                Some(next) => Some(*next),
                None if self.tx_sequence.len() >= self.config.max_peers => {
                    return Err(ApiError::PeerTableFull);
                }
                // RFC 2890 §2.2: "The first datagram is sent with a sequence number of 0."
                None => Some(0),
            }
        } else {
            None
        };
        Ok(Repr {
            protocol_type,
            checksum: self.config.checksum,
            key: self.config.key,
            sequence,
        })
    }

    /// Encapsulates in place a payload for the NBMA peer `to`: the payload is `buf[payload_start..]`,
    /// the GRE header is written into the headroom just before it (at most
    /// [`Repr::MAX_HEADER_LEN`] bytes) and the GRE packet is returned as a sub-slice of `buf`.
    /// The payload is not copied; with checksums on it is read once.
    ///
    /// On error nothing changes (no sequence number is consumed).
    pub fn encapsulate<'b>(
        &mut self,
        to: A,
        protocol_type: ProtocolType,
        buf: &'b mut [u8],
        payload_start: usize,
    ) -> Result<&'b mut [u8], ApiError> {
        let mut repr = Repr {
            protocol_type,
            checksum: self.config.checksum,
            key: self.config.key,
            sequence: None,
        };
        let packet = if !self.config.send_sequence {
            repr.encapsulate(buf, payload_start)?
        } else if let Some(next) = self.tx_sequence.get_mut(&to) {
            repr.sequence = Some(*next);
            let packet = repr.encapsulate(buf, payload_start)?;
            *next = next.wrapping_add(1);
            packet
        } else if self.tx_sequence.len() >= self.config.max_peers {
            return Err(ApiError::PeerTableFull);
        } else {
            // RFC 2890 §2.2: "The first datagram is sent with a sequence number of 0."
            repr.sequence = Some(0);
            let packet = repr.encapsulate(buf, payload_start)?;
            self.tx_sequence.insert(to, 1);
            packet
        };
        self.stats.tx_packets += 1;
        Ok(packet)
    }

    /// Decapsulates a GRE packet (the outer IP payload) received from the NBMA peer `from`.
    ///
    /// Applies, in order: the codec rules ([`Packet::parse`], [`Repr::parse`] with checksum
    /// verification), the key rule of [`Config::key`], and — when [`Config::check_sequence`]
    /// is on — the in-order rule of RFC 2890 §2.2 per source peer. A dropped packet is counted
    /// in [`Stats`] and changes nothing else.
    pub fn decapsulate<'b>(
        &mut self,
        from: A,
        packet: &'b [u8],
    ) -> Result<Decapsulated<'b>, DropReason> {
        match self.check(from, packet) {
            Ok(accepted) => {
                self.stats.rx_packets += 1;
                Ok(accepted)
            }
            Err(reason) => {
                self.stats.count(&reason);
                Err(reason)
            }
        }
    }

    fn check<'b>(&mut self, from: A, bytes: &'b [u8]) -> Result<Decapsulated<'b>, DropReason> {
        let packet = Packet::parse(bytes)?;
        let repr = Repr::parse(&packet)?;
        match (self.config.key, repr.key) {
            (Some(expected), None) => return Err(DropReason::KeyMissing { expected }),
            (Some(expected), Some(got)) if got != expected => {
                return Err(DropReason::KeyMismatch { expected, got });
            }
            (None, Some(got)) => return Err(DropReason::UnexpectedKey { got }),
            _ => {}
        }
        if self.config.check_sequence {
            match repr.sequence {
                Some(sequence) => self.accept_sequence(from, sequence)?,
                None => self.stats.rx_unsequenced += 1,
            }
        }
        Ok(Decapsulated {
            repr,
            header_len: packet.header_len(),
            payload: packet.payload(),
        })
    }

    /// RFC 2890 §2.2: a packet is out of sequence if its number is the last accepted one or
    /// lies in the 2^31-1 values before it (serial-number arithmetic, wrapping at 2^32); the
    /// first packet from a peer is accepted whatever its number.
    fn accept_sequence(&mut self, from: A, sequence: u32) -> Result<(), DropReason> {
        match self.rx_sequence.get_mut(&from) {
            Some(last) => {
                let ahead = sequence.wrapping_sub(*last);
                if ahead == 0 {
                    return Err(DropReason::Duplicate { sequence });
                }
                if ahead > 0x8000_0000 {
                    return Err(DropReason::OutOfOrder {
                        sequence,
                        last: *last,
                    });
                }
                *last = sequence;
            }
            None => {
                if self.rx_sequence.len() >= self.config.max_peers {
                    return Err(DropReason::PeerTableFull);
                }
                self.rx_sequence.insert(from, sequence);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
