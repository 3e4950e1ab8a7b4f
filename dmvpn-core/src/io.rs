//! What crosses the boundary between a [`Node`](crate) and the program driving it.
//!
//! A DMVPN interface has two sides: the *underlay* (the public, NBMA network that carries
//! GRE, ESP and ESP-in-UDP between routers) and the *overlay* (IP packets to and from the local
//! LAN or TUN device). The driver strips the outer IP header of underlay packets before handing
//! them in and adds it when sending; everything inside is the node's.

use std::net::IpAddr;

use crate::buf::PacketBuf;

/// The IP protocol of an underlay packet, with the UDP ports when it is UDP.
///
/// GRE (IP protocol 47, RFC 2784) carries NHRP and cleartext tunnelled packets; ESP (IP
/// protocol 50, RFC 4303) carries protected GRE; UDP carries ESP-in-UDP on port 4500
/// (RFC 3948) and, later, IKE on ports 500/4500.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnderlayProtocol {
    /// GRE, IP protocol 47.
    Gre,
    /// ESP, IP protocol 50.
    Esp,
    /// UDP; the ports as seen by this node (local = ours, remote = the peer's).
    Udp {
        /// Our port (4500 for ESP-in-UDP).
        local_port: u16,
        /// The peer's port (4500, or what a NAT mapped it to).
        remote_port: u16,
    },
}

impl UnderlayProtocol {
    /// The IANA IP protocol number (47, 50 or 17).
    pub const fn ip_protocol(self) -> u8 {
        match self {
            Self::Gre => 47,
            Self::Esp => 50,
            Self::Udp { .. } => 17,
        }
    }
}

/// One input datagram for a node.
#[derive(Clone, Copy, Debug)]
pub enum Datagram<'a> {
    /// A packet received on the underlay, outer IP header already removed.
    Underlay {
        /// The outer source address (the peer's NBMA address, post-NAT).
        from: IpAddr,
        /// The outer protocol (and UDP ports).
        protocol: UnderlayProtocol,
        /// The bytes after the outer IP (or UDP) header.
        bytes: &'a [u8],
    },
    /// An IP packet (IPv4 or IPv6, starting with the IP header) from the LAN/TUN side.
    Overlay(&'a [u8]),
}

/// One input datagram in an owned [`PacketBuf`], for
/// [`Node::handle_buf`](crate::Node::handle_buf): the node works on the packet where it lies
/// (strips GRE/ESP by moving its start, writes headers into its headroom) and passes the same
/// buffer on in a [`Transmit`], so forwarding copies nothing.
#[derive(Clone, Debug)]
pub enum DatagramBuf {
    /// A packet received on the underlay, outer IP header already removed (see
    /// [`PacketBuf::advance`]).
    Underlay {
        /// The outer source address (the peer's NBMA address, post-NAT).
        from: IpAddr,
        /// The outer protocol (and UDP ports).
        protocol: UnderlayProtocol,
        /// The bytes after the outer IP (or UDP) header.
        bytes: PacketBuf,
    },
    /// An IP packet (IPv4 or IPv6, starting with the IP header) from the LAN/TUN side.
    Overlay(PacketBuf),
}

/// One output datagram of a node. Dropping it silently is a bug in the driver; give its
/// buffer back with [`Node::recycle`](crate::Node::recycle) once sent.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Send on the underlay to `to` with `protocol`; the driver adds the outer IP header.
    Underlay {
        /// Destination NBMA address.
        to: IpAddr,
        /// Outer protocol (and UDP ports).
        protocol: UnderlayProtocol,
        /// Everything after the outer IP (or UDP) header, with headroom in front for the
        /// driver's outer header.
        bytes: PacketBuf,
    },
    /// Deliver an IP packet to the LAN/TUN side.
    Overlay(PacketBuf),
}
