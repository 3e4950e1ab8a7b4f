//! GRE (RFC 2784, RFC 2890) for the DMVPN stack.
//!
//! **Status: in progress.** Zero-copy codec (`wire`) and the multipoint GRE endpoint.
#![forbid(unsafe_code)]
