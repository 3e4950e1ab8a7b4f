//! NHRP (RFC 2332) with Cisco's DMVPN extensions.
//!
//! **Status: in progress.** Wire codec ([`wire`]) first; the NHS/NHC state machines follow.
#![forbid(unsafe_code)]

pub mod wire;

#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;
