//! Single-machine ladder tests (DESIGN.md §8.2) and the in-memory multi-node network test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod network;
mod registration;
mod resolution;
mod util;
