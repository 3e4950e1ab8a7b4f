//! IKEv2 (RFC 7296) for the DMVPN stack.
//!
//! **Status: not yet implemented.** This crate will hold the IKEv2 wire codec (header, payload
//! chain, SK/SKF encrypted payloads), the sans-IO IKE SA / CHILD SA machine (IKE_SA_INIT,
//! IKE_AUTH with PSK, CREATE_CHILD_SA rekeying with collision handling, INFORMATIONAL, DPD,
//! NAT-T, cookies) following the machine contract of `DESIGN.md` §2, and the `Prf` /
//! `KeyExchange` additions to the `esp::crypto` provider. Negotiated CHILD SAs leave the machine
//! as `esp::SaParams` in events; `ikev2` never touches ESP packets.
#![forbid(unsafe_code)]
