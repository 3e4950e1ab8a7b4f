//! EIGRP (RFC 7868) for the DMVPN stack.
//!
//! **Status: not yet implemented.** This crate will hold the EIGRP wire codec (header, TLVs
//! incl. wide metrics and IPv6), the reliable transport protocol (sequence/ack, conditional
//! receive), neighbour discovery and the DUAL finite state machine, with the DMVPN knobs Cisco
//! users configure (stub, split horizon, next-hop-self, summaries), as a sans-IO `Node`
//! following the machine contract of `DESIGN.md` §2.
#![forbid(unsafe_code)]
