//! Plain IP hosts on a device's LAN: they ping, answer pings and record what they receive.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use etherparse::{Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

use super::DeviceId;

/// An ICMP echo reply a host received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoReply {
    /// Virtual time of arrival since the simulator's start.
    pub at: Duration,
    /// Who answered.
    pub from: IpAddr,
    /// Echo identifier.
    pub id: u16,
    /// Echo sequence number.
    pub seq: u16,
    /// Echo payload length.
    pub payload_len: usize,
    /// Time since the matching request was sent (`None` for an unsolicited reply).
    pub rtt: Option<Duration>,
}

/// A packet a host received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Virtual time of arrival since the simulator's start.
    pub at: Duration,
    /// The IP packet.
    pub bytes: Vec<u8>,
}

/// A plain IP host on one device's LAN.
#[derive(Debug)]
pub struct Host {
    pub(crate) device: DeviceId,
    pub(crate) addr: IpAddr,
    pub(crate) received: Vec<Received>,
    pub(crate) replies: Vec<EchoReply>,
    pub(crate) echo_requests_answered: u64,
    pub(crate) pending: HashMap<(u16, u16), Instant>,
}

impl Host {
    pub(crate) fn new(device: DeviceId, addr: IpAddr) -> Self {
        Self {
            device,
            addr,
            received: Vec::new(),
            replies: Vec::new(),
            echo_requests_answered: 0,
            pending: HashMap::new(),
        }
    }

    /// The device whose LAN the host is on.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The host's IP address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Every packet the host received, in order.
    pub fn received(&self) -> &[Received] {
        &self.received
    }

    /// The echo replies the host received, in order.
    pub fn echo_replies(&self) -> &[EchoReply] {
        &self.replies
    }

    /// How many echo requests the host answered.
    pub fn echo_requests_answered(&self) -> u64 {
        self.echo_requests_answered
    }

    /// Forget what was received so far.
    pub fn clear(&mut self) {
        self.received.clear();
        self.replies.clear();
    }
}

/// An ICMP/ICMPv6 echo request or reply, `None` when the families differ or it does not fit.
pub(crate) fn echo(
    src: IpAddr,
    dst: IpAddr,
    reply: bool,
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(48 + payload.len());
    let written = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let b = PacketBuilder::ipv4(s.octets(), d.octets(), 64);
            let b = if reply {
                b.icmpv4_echo_reply(id, seq)
            } else {
                b.icmpv4_echo_request(id, seq)
            };
            b.write(&mut out, payload).is_ok()
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let b = PacketBuilder::ipv6(s.octets(), d.octets(), 64);
            let b = if reply {
                b.icmpv6_echo_reply(id, seq)
            } else {
                b.icmpv6_echo_request(id, seq)
            };
            b.write(&mut out, payload).is_ok()
        }
        _ => false,
    };
    written.then_some(out)
}

/// The destination address of an IP packet.
pub(crate) fn ip_destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let d: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some(IpAddr::from(d))
        }
        6 => {
            let d: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some(IpAddr::from(d))
        }
        _ => None,
    }
}

/// What a host makes of a packet.
pub(crate) enum Parsed<'a> {
    EchoRequest {
        from: IpAddr,
        id: u16,
        seq: u16,
        payload: &'a [u8],
    },
    EchoReply {
        from: IpAddr,
        id: u16,
        seq: u16,
        payload_len: usize,
    },
    Other,
}

pub(crate) fn parse(packet: &[u8]) -> Parsed<'_> {
    let Ok(p) = SlicedPacket::from_ip(packet) else {
        return Parsed::Other;
    };
    let from = match &p.net {
        Some(NetSlice::Ipv4(ip)) => IpAddr::V4(ip.header().source_addr()),
        Some(NetSlice::Ipv6(ip)) => IpAddr::V6(ip.header().source_addr()),
        _ => return Parsed::Other,
    };
    match &p.transport {
        Some(TransportSlice::Icmpv4(icmp)) => match icmp.icmp_type() {
            Icmpv4Type::EchoRequest(h) => Parsed::EchoRequest {
                from,
                id: h.id,
                seq: h.seq,
                payload: icmp.payload(),
            },
            Icmpv4Type::EchoReply(h) => Parsed::EchoReply {
                from,
                id: h.id,
                seq: h.seq,
                payload_len: icmp.payload().len(),
            },
            _ => Parsed::Other,
        },
        Some(TransportSlice::Icmpv6(icmp)) => match icmp.icmp_type() {
            Icmpv6Type::EchoRequest(h) => Parsed::EchoRequest {
                from,
                id: h.id,
                seq: h.seq,
                payload: icmp.payload(),
            },
            Icmpv6Type::EchoReply(h) => Parsed::EchoReply {
                from,
                id: h.id,
                seq: h.seq,
                payload_len: icmp.payload().len(),
            },
            _ => Parsed::Other,
        },
        _ => Parsed::Other,
    }
}
