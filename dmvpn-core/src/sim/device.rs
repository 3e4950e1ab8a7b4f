//! The machine contract a simulated device implements.

use std::fmt::Debug;
use std::time::Instant;

use crate::buf::PacketBuf;
use crate::io::{Datagram, DatagramBuf, Transmit};

/// A sans-IO machine the simulator can run: one router interface with an underlay address and
/// a LAN. `dmvpn_core::Node` implements it; tests implement it for toy routers.
///
/// The simulator drives it exactly like a real driver would (DESIGN.md §2): after every input
/// ([`handle`](Self::handle)) or due deadline ([`handle_timeout`](Self::handle_timeout)) it
/// drains [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event) until
/// both return `None`, then reads [`poll_timeout`](Self::poll_timeout). A deadline `<= now`
/// after an input is served at once; one still `<= now` right after `handle_timeout(now)` is
/// a [`SimError::TimerSpin`](super::SimError::TimerSpin).
pub trait Device {
    /// What the device reports through `poll_event` (kept per device by the simulator).
    type Event: Debug;
    /// Why the device rejected an input (counted in [`DeviceStats::errors`](super::DeviceStats)).
    type Error: Debug;

    /// One input: an underlay packet (outer IP header removed, source post-NAT) or an IP
    /// packet from the LAN.
    fn handle(&mut self, now: Instant, dgram: Datagram<'_>) -> Result<(), Self::Error>;

    /// Fire the timers due at `now`. Called only when `poll_timeout() <= now`.
    fn handle_timeout(&mut self, now: Instant);

    /// The next queued output.
    fn poll_transmit(&mut self) -> Option<Transmit>;

    /// The next queued event. The default has none.
    fn poll_event(&mut self) -> Option<Self::Event> {
        None
    }

    /// The earliest instant at which `handle_timeout` has work, if any.
    fn poll_timeout(&self) -> Option<Instant>;

    /// One input in an owned buffer, which the device may forward in place (the simulator
    /// uses this). The default hands the bytes to [`handle`](Self::handle), then to
    /// [`recycle`](Self::recycle).
    fn handle_buf(&mut self, now: Instant, dgram: DatagramBuf) -> Result<(), Self::Error> {
        match dgram {
            DatagramBuf::Underlay {
                from,
                protocol,
                bytes,
            } => {
                let r = self.handle(
                    now,
                    Datagram::Underlay {
                        from,
                        protocol,
                        bytes: &bytes,
                    },
                );
                self.recycle(bytes);
                r
            }
            DatagramBuf::Overlay(bytes) => {
                let r = self.handle(now, Datagram::Overlay(&bytes));
                self.recycle(bytes);
                r
            }
        }
    }

    /// Take back the buffer of an input the device has consumed or of a transmit the
    /// simulator has delivered, so a device can reuse allocations. The default drops it.
    fn recycle(&mut self, buf: PacketBuf) {
        drop(buf);
    }
}
