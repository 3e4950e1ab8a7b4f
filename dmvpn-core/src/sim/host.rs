//! Plain IP hosts on a device's LAN: they ping, answer pings and record what they receive.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

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

pub(crate) use crate::overlay::{Parsed, echo, parse};
