//! Harness: one node, virtual time, messages in and out through the real codec.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::msg::{Cie, Message, Op};
use crate::{Config, Datagram, DropReason, Event, NhsConfig, Node};

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(crate) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Addresses of the netlessons lab (captures README): hub .1, spokes .2 and .3.
pub(crate) const HUB: &str = "172.16.123.1";
pub(crate) const HUB_NBMA: &str = "192.168.123.1";
pub(crate) const S2: &str = "172.16.123.2";
pub(crate) const S2_NBMA: &str = "192.168.123.2";
pub(crate) const S3: &str = "172.16.123.3";
pub(crate) const S3_NBMA: &str = "192.168.123.3";

pub(crate) fn hub_nhs() -> NhsConfig {
    NhsConfig::new(ip(HUB), ip(HUB_NBMA))
}

pub(crate) fn spoke_config(proto: &str, nbma: &str) -> Config {
    Config::spoke(ip(proto), ip(nbma), hub_nhs())
}

pub(crate) fn hub_config() -> Config {
    Config::hub(ip(HUB), ip(HUB_NBMA))
}

pub(crate) struct Lab {
    pub(crate) t0: Instant,
    pub(crate) now: Instant,
    pub(crate) node: Node,
}

impl Lab {
    pub(crate) fn new(cfg: Config) -> Self {
        let t0 = Instant::now();
        let node = Node::new(cfg, t0).unwrap();
        Lab { t0, now: t0, node }
    }

    /// Seconds since the start, as f64 (for messages).
    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Encodes `msg`, feeds it from `from`.
    pub(crate) fn deliver(&mut self, from: &str, msg: &Message) -> Result<(), DropReason> {
        let bytes = crate::codec::encode(msg).expect("test message encodes");
        self.node.handle_packet(
            self.now,
            Datagram {
                from: ip(from),
                bytes: &bytes,
            },
        )
    }

    /// Drains transmits, decoding them back into messages.
    pub(crate) fn sent(&mut self) -> Vec<(IpAddr, Message)> {
        let mut v = Vec::new();
        while let Some(t) = self.node.poll_transmit() {
            let m = crate::codec::decode(&t.bytes).expect("our transmits decode");
            v.push((t.to, m));
        }
        v
    }

    pub(crate) fn events(&mut self) -> Vec<Event> {
        let mut v = Vec::new();
        while let Some(e) = self.node.poll_event() {
            v.push(e);
        }
        v
    }

    /// Advances virtual time by `d`, firing every timer on the way (at its own instant), and
    /// returns what was sent, each with the time offset (from the start) it was sent at.
    pub(crate) fn advance(&mut self, d: Duration) -> Vec<(Duration, IpAddr, Message)> {
        let end = self.now + d;
        let mut out = Vec::new();
        loop {
            let next = self.node.poll_timeout();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.node.handle_timeout(self.now);
                    let at = self.elapsed();
                    for (to, m) in self.sent() {
                        out.push((at, to, m));
                    }
                    assert!(
                        self.node.poll_timeout().is_none_or(|t| t > self.now),
                        "timer spin"
                    );
                }
                _ => break,
            }
        }
        self.now = end;
        self.node.handle_timeout(self.now);
        let at = self.elapsed();
        for (to, m) in self.sent() {
            out.push((at, to, m));
        }
        out
    }
}

/// A Cisco-style Registration Request from a spoke (as in netlessons-dmvpn-nhrp-registration).
pub(crate) fn registration_request(
    proto: &str,
    nbma: &str,
    id: u32,
    hold: u16,
    unique: bool,
) -> Message {
    let mut m = Message::new(Op::RegistrationRequest, ip(nbma), ip(proto), ip(HUB));
    m.request_id = id;
    m.flags = if unique { 0x8002 } else { 0x0002 };
    m.cies.push(Cie {
        code: 0,
        prefix_len: 32,
        mtu: 1514,
        holding_time: hold,
        preference: 255,
        client_nbma: None,
        client_proto: None,
    });
    m.ext.responder = Some(None);
    m.ext.forward_transit = Some(vec![]);
    m.ext.reverse_transit = Some(vec![]);
    m.ext.nat = Some(vec![Cie {
        code: 0,
        prefix_len: 32,
        mtu: 1514,
        holding_time: 0,
        preference: 255,
        client_nbma: Some(ip(HUB_NBMA)),
        client_proto: Some(ip(HUB)),
    }]);
    m
}

/// A Resolution Request from `proto`/`nbma` for `target` (as a Cisco spoke sends it).
pub(crate) fn resolution_request(proto: &str, nbma: &str, target: &str, id: u32) -> Message {
    let mut m = Message::new(Op::ResolutionRequest, ip(nbma), ip(proto), ip(target));
    m.request_id = id;
    m.flags = 0xc802;
    m.cies.push(Cie {
        code: 0,
        prefix_len: 32,
        mtu: 1514,
        holding_time: 7200,
        preference: 255,
        client_nbma: None,
        client_proto: None,
    });
    m.ext.responder = Some(None);
    m.ext.forward_transit = Some(vec![]);
    m.ext.reverse_transit = Some(vec![]);
    m.ext.nat = Some(vec![]);
    m
}

/// The reply an NHS sends to a registration request (success, holding as requested).
pub(crate) fn registration_reply(req: &Message, code: u8) -> Message {
    let mut r = req.clone();
    r.op = Op::RegistrationReply;
    r.cies[0].code = code;
    r
}

/// The direct reply of the responder `proto`/`nbma` to a resolution request.
pub(crate) fn resolution_reply(
    req: &Message,
    proto: &str,
    nbma: &str,
    prefix: u8,
    hold: u16,
) -> Message {
    let mut r = req.clone();
    r.op = Op::ResolutionReply;
    r.flags = 0xf802;
    r.cies = vec![Cie {
        code: 0,
        prefix_len: prefix,
        mtu: 1514,
        holding_time: hold,
        preference: 255,
        client_nbma: Some(ip(nbma)),
        client_proto: Some(ip(proto)),
    }];
    r
}
