//! NHRP (RFC 2332) with Cisco's DMVPN extensions.
//!
//! **Status: in progress.** Wire codec first; the NHS/NHC state machines follow.
#![forbid(unsafe_code)]
