//! NHRP (RFC 2332) with Cisco's DMVPN extensions.
//!
//! **Status: in progress.** Wire codec ([`wire`]) first; the NHS/NHC state machines follow.
#![forbid(unsafe_code)]

pub mod wire;

#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;

mod arena;
mod cache;
mod codec;
pub mod config;
pub mod error;
pub mod event;
mod msg;
mod nhc;
mod nhs;
mod node;
mod ratelimit;
mod timer;

#[cfg(test)]
mod tests;

pub use arena::EntryId;
pub use config::{Backoff, Config, NhsConfig, Role};
pub use error::{ApiError, DownReason, DropReason};
pub use event::{Event, ResolutionError};
pub use node::{
    CacheInfo, Datagram, DropCounts, NhsState, NhsStatus, Node, PacketCounts, RegistrationInfo,
    Stats, Transmit,
};
