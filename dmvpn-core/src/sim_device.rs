//! The [`Node`] as a simulator [`Device`](crate::sim::Device) (feature `sim`).

use std::time::Instant;

use crate::buf::PacketBuf;
use crate::io::{Datagram, DatagramBuf, Transmit};
use crate::{DropReason, Event, Node};

impl crate::sim::Device for Node {
    type Event = Event;
    type Error = DropReason;

    fn handle(&mut self, now: Instant, dgram: Datagram<'_>) -> Result<(), DropReason> {
        self.handle_packet(now, dgram)
    }

    fn handle_buf(&mut self, now: Instant, dgram: DatagramBuf) -> Result<(), DropReason> {
        Node::handle_buf(self, now, dgram)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Node::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        Node::poll_transmit(self)
    }

    fn poll_event(&mut self) -> Option<Event> {
        Node::poll_event(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Node::poll_timeout(self)
    }

    fn recycle(&mut self, buf: PacketBuf) {
        Node::recycle(self, buf);
    }
}
