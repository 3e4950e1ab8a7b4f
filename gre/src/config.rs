//! Configuration of a multipoint GRE [`Endpoint`](crate::Endpoint).

use crate::ApiError;

/// What one mGRE tunnel interface sends and accepts — the equivalent of Cisco's
/// `tunnel key`, `tunnel checksum` and `tunnel sequence-datagrams`, or Linux `ip tunnel ... key
/// csum seq`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// The tunnel key (RFC 2890 §2.1). Sent on every packet when `Some`; on receive, packets
    /// whose key differs or is missing are dropped, and with `None` packets carrying a key are
    /// dropped (they belong to another tunnel).
    pub key: Option<u32>,
    /// Send the RFC 2784 §2.5 checksum on every packet. (Received checksums are always
    /// verified when present, whatever this says.)
    pub checksum: bool,
    /// Number outbound packets per destination peer (RFC 2890 §2.2: the first packet to a peer
    /// carries 0, then 1, 2, ... wrapping at 2^32).
    pub send_sequence: bool,
    /// Enforce in-order delivery per source peer on receive (RFC 2890 §2.2): accept only
    /// sequence numbers after the last accepted one (serial-number arithmetic), drop duplicates
    /// and older packets. Packets without a sequence number are accepted (RFC 2890 §2.2 allows
    /// them to be interleaved).
    pub check_sequence: bool,
    /// Upper bound on the peers with sequence state, per direction. Only used when
    /// `send_sequence` or `check_sequence` is on; it bounds memory on a hub whatever the
    /// network sends.
    pub max_peers: usize,
}

impl Default for Config {
    /// No key, no checksum, no sequencing, room for 4096 peers.
    fn default() -> Self {
        Self {
            key: None,
            checksum: false,
            send_sequence: false,
            check_sequence: false,
            max_peers: 4096,
        }
    }
}

impl Config {
    /// Checks the configuration: sequencing needs `max_peers > 0`.
    pub fn validate(&self) -> Result<(), ApiError> {
        if (self.send_sequence || self.check_sequence) && self.max_peers == 0 {
            return Err(ApiError::InvalidConfig(
                "max_peers must be at least 1 when sequence numbers are used",
            ));
        }
        Ok(())
    }
}
