//! Link parameters: what the simulated internet does to one packet.

use std::time::Duration;

/// How the underlay treats a packet on one path (netem-style, one draw per packet).
///
/// Every packet a device sends crosses exactly one path. Its `Link` is the sender's override
/// ([`Sim::set_link`](super::Sim::set_link)) if it has one, else the override of the device
/// the destination address leads to (through a NAT mapping if needed, looked up without side
/// effects), else the simulator's default ([`Sim::set_default_link`](super::Sim::set_default_link)).
/// So an override on a device shapes both directions of its traffic unless the peer has its own.
///
/// Per packet, in this order: the MTU check (size including the synthesised outer IP header,
/// and the UDP header for UDP, must be `<= mtu`, else it is dropped and counted), loss (with
/// probability `loss`), then a delay of `latency` plus a uniform jitter in `[0, jitter]`, plus
/// `reorder_delay` with probability `reorder` (so later packets overtake it), and with
/// probability `duplicate` a second copy with its own jitter. Jitter alone may also reorder
/// packets: the simulator keeps no per-path FIFO.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Base one-way delay.
    pub latency: Duration,
    /// Upper bound of the uniform extra delay.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a packet is lost.
    pub loss: f64,
    /// Probability in `[0, 1]` that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability in `[0, 1]` that a packet is held back by `reorder_delay`.
    pub reorder: f64,
    /// Extra delay of a held-back packet.
    pub reorder_delay: Duration,
    /// Largest packet, outer IP header included, in bytes (1500 by default).
    pub mtu: usize,
}

impl Default for Link {
    /// 10 ms one way, no jitter, no loss, no duplication, no reordering, MTU 1500.
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            mtu: 1500,
        }
    }
}

impl Link {
    /// The default link (10 ms, lossless, MTU 1500).
    pub fn new() -> Self {
        Self::default()
    }

    /// With this one-way latency.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// With a uniform jitter in `[0, jitter]` added to the latency.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// With this loss probability.
    pub fn loss(mut self, probability: f64) -> Self {
        self.loss = probability;
        self
    }

    /// With this duplication probability.
    pub fn duplicate(mut self, probability: f64) -> Self {
        self.duplicate = probability;
        self
    }

    /// Holding back a fraction `probability` of packets by `extra_delay`.
    pub fn reorder(mut self, probability: f64, extra_delay: Duration) -> Self {
        self.reorder = probability;
        self.reorder_delay = extra_delay;
        self
    }

    /// With this MTU (bytes, outer IP header included).
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }
}
