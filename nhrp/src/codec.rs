//! Conversion between the wire codec's owned Reprs ([`crate::wire::PacketRepr`]) and the
//! machine's [`Message`] view, at the `handle_packet` / `poll_transmit` boundary.
//!
//! Extensions are emitted in Cisco's order (Responder Address, Forward Transit, Reverse
//! Transit, Authentication, NAT Address, then any others), as in every Cisco capture.

use std::time::Duration;

use crate::msg::{Cie, Message, Op};
use crate::wire::{
    self, Body, CieCode, ErrorCode, ErrorIndication, Extension, ExtensionValue, Flags, Mandatory,
    PacketRepr, TrafficIndication,
};

fn cie_from(c: &wire::Cie) -> Cie {
    Cie {
        code: c.code.to_u8(),
        prefix_len: c.prefix_length,
        mtu: c.mtu,
        holding_time: u16::try_from(c.holding_time.as_secs()).unwrap_or(u16::MAX),
        preference: c.preference,
        client_nbma: c.client_nbma,
        client_proto: c.client_proto,
    }
}

fn cie_to(c: &Cie) -> wire::Cie {
    wire::Cie {
        code: CieCode::from_u8(c.code),
        prefix_length: c.prefix_len,
        mtu: c.mtu,
        holding_time: Duration::from_secs(u64::from(c.holding_time)),
        client_nbma: c.client_nbma,
        client_proto: c.client_proto,
        preference: c.preference,
    }
}

/// Parses (checksum included) and converts.
pub(crate) fn decode(bytes: &[u8]) -> Result<Message, wire::Error> {
    let repr = PacketRepr::parse(bytes)?;
    Ok(from_repr(repr))
}

/// Converts a parsed Repr.
pub(crate) fn from_repr(repr: PacketRepr) -> Message {
    let (op, m) = match &repr.body {
        Body::ResolutionRequest(m) => (Op::ResolutionRequest, Some(m)),
        Body::ResolutionReply(m) => (Op::ResolutionReply, Some(m)),
        Body::RegistrationRequest(m) => (Op::RegistrationRequest, Some(m)),
        Body::RegistrationReply(m) => (Op::RegistrationReply, Some(m)),
        Body::PurgeRequest(m) => (Op::PurgeRequest, Some(m)),
        Body::PurgeReply(m) => (Op::PurgeReply, Some(m)),
        Body::ErrorIndication(_) => (Op::ErrorIndication, None),
        Body::TrafficIndication(_) => (Op::TrafficIndication, None),
    };
    let mut msg = Message::new(op, repr.src_nbma, repr.src_proto, repr.dst_proto);
    msg.hop_count = repr.hop_count;
    if let Some(m) = m {
        msg.flags = m.flags.bits();
        msg.request_id = m.request_id;
        msg.cies = m.cies.iter().map(cie_from).collect();
    }
    match repr.body {
        Body::ErrorIndication(e) => {
            msg.error = Some((e.code.to_u16(), e.offset));
            msg.payload = e.packet;
        }
        Body::TrafficIndication(t) => {
            msg.flags = t.traffic_code;
            msg.request_id = t.reserved;
            msg.payload = t.packet;
        }
        _ => {}
    }
    for e in repr.extensions {
        match e.value {
            ExtensionValue::ResponderAddress(c) => {
                msg.ext.responder = Some(c.as_ref().map(cie_from));
            }
            ExtensionValue::ForwardTransitNhs(v) => {
                msg.ext.forward_transit = Some(v.iter().map(cie_from).collect());
            }
            ExtensionValue::ReverseTransitNhs(v) => {
                msg.ext.reverse_transit = Some(v.iter().map(cie_from).collect());
            }
            ExtensionValue::Authentication(a) => msg.ext.auth = Some(a),
            ExtensionValue::NatAddress(v) => msg.ext.nat = Some(v.iter().map(cie_from).collect()),
            value => msg.ext.other.push(Extension {
                compulsory: e.compulsory,
                value,
            }),
        }
    }
    msg
}

/// Builds the Repr of a message.
#[cfg(test)]
pub(crate) fn to_repr(msg: &Message) -> PacketRepr {
    into_repr(msg.clone())
}

/// Builds the Repr of a message, moving its buffers.
pub(crate) fn into_repr(msg: Message) -> PacketRepr {
    let cies: Vec<wire::Cie> = msg.cies.iter().map(cie_to).collect();
    let mand = move || Mandatory {
        flags: Flags(msg.flags),
        request_id: msg.request_id,
        cies,
    };
    let body = match msg.op {
        Op::ResolutionRequest => Body::ResolutionRequest(mand()),
        Op::ResolutionReply => Body::ResolutionReply(mand()),
        Op::RegistrationRequest => Body::RegistrationRequest(mand()),
        Op::RegistrationReply => Body::RegistrationReply(mand()),
        Op::PurgeRequest => Body::PurgeRequest(mand()),
        Op::PurgeReply => Body::PurgeReply(mand()),
        Op::ErrorIndication => {
            let (code, offset) = msg.error.unwrap_or((0, 0));
            Body::ErrorIndication(ErrorIndication {
                code: ErrorCode::from_u16(code),
                offset,
                packet: msg.payload,
            })
        }
        Op::TrafficIndication => Body::TrafficIndication(TrafficIndication {
            traffic_code: msg.flags,
            reserved: msg.request_id,
            packet: msg.payload,
        }),
    };
    let src_nbma = msg
        .src_nbma
        .unwrap_or(std::net::IpAddr::from([0u8, 0, 0, 0]));
    let mut r = PacketRepr::new(msg.hop_count, src_nbma, msg.src_proto, msg.dst_proto, body);
    let x = msg.ext;
    if let Some(c) = &x.responder {
        r.extensions
            .push(Extension::responder_address(c.as_ref().map(cie_to)));
    }
    if let Some(v) = &x.forward_transit {
        r.extensions.push(Extension::forward_transit_nhs(
            v.iter().map(cie_to).collect(),
        ));
    }
    if let Some(v) = &x.reverse_transit {
        r.extensions.push(Extension::reverse_transit_nhs(
            v.iter().map(cie_to).collect(),
        ));
    }
    if let Some(a) = x.auth {
        r.extensions.push(Extension::authentication(a));
    }
    if let Some(v) = &x.nat {
        r.extensions
            .push(Extension::nat_address(v.iter().map(cie_to).collect()));
    }
    r.extensions.extend(x.other);
    r
}

/// Encodes; `None` if the message cannot be encoded (counted by the caller).
#[cfg(test)]
pub(crate) fn encode(msg: &Message) -> Option<Vec<u8>> {
    to_repr(msg).to_vec().ok()
}

/// Encodes a message, moving its buffers; `None` if it cannot be encoded.
pub(crate) fn encode_owned(msg: Message) -> Option<Vec<u8>> {
    into_repr(msg).to_vec().ok()
}
