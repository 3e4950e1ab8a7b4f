//! IPsec ESP (RFC 4303) data path and the crypto provider of the DMVPN stack.
//!
//! **Status: in progress.**
#![forbid(unsafe_code)]
