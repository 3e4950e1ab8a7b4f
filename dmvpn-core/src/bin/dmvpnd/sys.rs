//! OS glue of the Linux driver: the TUN overlay device, raw IPv4 or IPv6 sockets for GRE (47)
//! and ESP (50), the UDP 4500 socket, and kernel routes over the TUN device.
//!
//! Packets are read straight into the node's [`PacketBuf`]s (their spare room, then a shared
//! overflow buffer for the rare datagram that is larger: see [`recv_into`]), so the node
//! forwards them where they lie. One `unsafe` block, in [`recv_from_vectored`] (socket2's
//! scatter read with the source address takes possibly-uninitialised slices); otherwise
//! tun-rs, socket2, netlink-sys and std do the system calls. Routes are
//! rtnetlink requests built with netlink-packet-route (the message crate of the rust-netlink
//! project, the one `rtnetlink` is built on) and sent on a blocking netlink-sys socket: there
//! are only a handful per run, so `rtnetlink` itself and the tokio runtime it needs would add
//! much for nothing.

use std::collections::BTreeSet;
use std::io::{self, IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use anyhow::{Context, bail};
use dmvpn_core::PacketBuf;
use ipnet::IpNet;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkBuffer, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use socket2::{Domain, MaybeUninitSlice, Protocol, SockAddr, SockRef, Socket, Type};
use tracing::{debug, warn};

/// Adds the hint every OS error of `dmvpnd run` deserves when it is a permission problem.
fn explain(e: io::Error, what: &str) -> anyhow::Error {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            anyhow::anyhow!("{what}: {e}: dmvpnd run needs root (CAP_NET_ADMIN and CAP_NET_RAW)")
        }
        io::ErrorKind::NotFound => {
            anyhow::anyhow!(
                "{what}: {e}: is the TUN driver available (/dev/net/tun, modprobe tun)?"
            )
        }
        _ => anyhow::anyhow!("{what}: {e}"),
    }
}

/// Fails early, with a clear message, when we are not root.
pub(crate) fn require_root() -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "dmvpnd run needs root (CAP_NET_ADMIN for the TUN device and routes, CAP_NET_RAW for GRE/ESP sockets)"
        );
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        bail!("TUN is unavailable: /dev/net/tun does not exist (modprobe tun?)");
    }
    Ok(())
}

/// The overlay TUN device (layer 3, no packet information header), up, with the tunnel
/// address and MTU.
pub(crate) struct Tun {
    dev: tun_rs::SyncDevice,
    name: String,
}

impl Tun {
    pub(crate) fn create(name: &str, address: IpNet, mtu: u16) -> anyhow::Result<Self> {
        let mut b = tun_rs::DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
            .packet_information(false);
        match address {
            IpNet::V4(n) => b = b.ipv4(n.addr(), n.prefix_len(), None),
            IpNet::V6(n) => b = b.ipv6(n.addr(), n.prefix_len()),
        }
        let dev = b
            .build_sync()
            .map_err(|e| explain(e, &format!("creating TUN device {name}")))?;
        dev.set_nonblocking(true)
            .context("TUN device: non-blocking mode")?;
        let name = dev.name().unwrap_or_else(|_| name.to_string());
        Ok(Self { dev, name })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The kernel's interface index of the device (the output interface of our routes).
    pub(crate) fn index(&self) -> anyhow::Result<u32> {
        self.dev
            .if_index()
            .with_context(|| format!("interface index of {}", self.name))
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.dev.as_raw_fd()
    }

    /// Reads one packet into `buf` (see [`recv_into`]), or `WouldBlock`.
    pub(crate) fn recv(&self, buf: &mut PacketBuf, overflow: &mut [u8]) -> io::Result<()> {
        recv_into(buf, overflow, |iov| Ok((self.dev.recv_vectored(iov)?, ())))
    }

    pub(crate) fn send(&self, packet: &[u8]) -> io::Result<usize> {
        self.dev.send(packet)
    }
}

/// A raw IP socket of one IP protocol, bound to our NBMA address. The kernel builds the
/// outer IP header when sending (IP_HDRINCL off). Received IPv4 packets start with their
/// header; IPv6 raw sockets deliver only the payload, the source comes from `recvfrom`
/// (RFC 3542 §3).
pub(crate) struct RawSocket {
    sock: Socket,
    protocol: u8,
    v6: bool,
}

impl RawSocket {
    pub(crate) fn open(protocol: u8, local: IpAddr) -> anyhow::Result<Self> {
        let what = format!("raw IP socket for protocol {protocol}");
        let domain = match local {
            IpAddr::V4(_) => Domain::IPV4,
            IpAddr::V6(_) => Domain::IPV6,
        };
        let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(protocol))))
            .map_err(|e| explain(e, &what))?;
        // IPv6 raw sockets never take or give the IPv6 header (RFC 3542 §3).
        if local.is_ipv4() {
            sock.set_header_included_v4(false)
                .with_context(|| format!("{what}: IP_HDRINCL"))?;
        }
        sock.bind(&SockAddr::from(SocketAddr::new(local, 0)))
            .with_context(|| {
                format!("{what}: binding to {local} (is it an address of this host?)")
            })?;
        sock.set_nonblocking(true)
            .with_context(|| format!("{what}: non-blocking mode"))?;
        // Bursts of tunnel traffic must not be dropped by a small default buffer.
        let _ = sock.set_recv_buffer_size(4 << 20);
        let _ = sock.set_send_buffer_size(4 << 20);
        Ok(Self {
            sock,
            protocol,
            v6: local.is_ipv6(),
        })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Receives one packet into `buf` (see [`recv_into`]) and returns the outer source, with
    /// `buf` holding the payload: an IPv4 header is checked and stripped ([`strip_ipv4`]),
    /// bytes beyond its total length cut. `Ok(None)` for a malformed or foreign packet (`buf`
    /// then holds what was read).
    pub(crate) fn recv(
        &self,
        buf: &mut PacketBuf,
        overflow: &mut [u8],
    ) -> io::Result<Option<IpAddr>> {
        if self.v6 {
            let from = recv_into(buf, overflow, |iov| recv_from_vectored(&self.sock, iov))?;
            return Ok(match from.as_socket() {
                Some(SocketAddr::V6(a)) => Some(IpAddr::V6(*a.ip())),
                _ => None,
            });
        }
        recv_into(buf, overflow, |iov| {
            Ok(((&self.sock).read_vectored(iov)?, ()))
        })?;
        let Some((from, range)) = strip_ipv4(buf, self.protocol) else {
            return Ok(None);
        };
        buf.truncate(range.end);
        buf.advance(range.start);
        Ok(Some(from))
    }

    pub(crate) fn send(&self, to: IpAddr, bytes: &[u8]) -> io::Result<usize> {
        self.sock
            .send_to(bytes, &SockAddr::from(SocketAddr::new(to, 0)))
    }
}

/// Receives one UDP datagram into `buf` (see [`recv_into`]) and returns its source.
pub(crate) fn recv_udp(
    udp: &UdpSocket,
    buf: &mut PacketBuf,
    overflow: &mut [u8],
) -> io::Result<Option<SocketAddr>> {
    let sock = SockRef::from(udp);
    let from = recv_into(buf, overflow, |iov| recv_from_vectored(&sock, iov))?;
    Ok(from.as_socket())
}

/// Reads one packet with `read` (a scatter read of one datagram) into the spare room of
/// `buf` and commits it. A packet larger than that room continues in `overflow` (the
/// driver's one 64 KiB scratch buffer) and is appended to `buf`, which grows: the only copy
/// and the only allocation, for packets no 1500-byte link carries. Returns what `read`
/// returns besides the length (the source address).
pub(crate) fn recv_into<T>(
    buf: &mut PacketBuf,
    overflow: &mut [u8],
    read: impl FnOnce(&mut [IoSliceMut<'_>; 2]) -> io::Result<(usize, T)>,
) -> io::Result<T> {
    let spare = buf.spare_mut();
    let room = spare.len();
    let (n, extra) = read(&mut [IoSliceMut::new(spare), IoSliceMut::new(overflow)])?;
    buf.commit(n.min(room));
    if let Some(rest) = n.checked_sub(room).filter(|&r| r > 0) {
        buf.extend_from_slice(overflow.get(..rest).unwrap_or(overflow));
    }
    Ok(extra)
}

/// `recvmsg(2)` of one datagram into `bufs`, with its source address.
#[allow(unsafe_code)]
fn recv_from_vectored(
    sock: &Socket,
    [a, b]: &mut [IoSliceMut<'_>; 2],
) -> io::Result<(usize, SockAddr)> {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, so each cast is a valid view of the
    // same initialised bytes. The danger of such a view, writing uninitialised bytes through
    // it that the `&mut [u8]` would then expose, does not arise: only the kernel writes into
    // these slices (socket2's `recv_from_vectored` passes them to `recvmsg(2)` and documents
    // that it writes no uninitialised bytes, which is how its own `Read::read_vectored` for
    // initialised buffers is built), and the views end with this function.
    let (a, b) = unsafe {
        (
            &mut *(&mut **a as *mut [u8] as *mut [MaybeUninit<u8>]),
            &mut *(&mut **b as *mut [u8] as *mut [MaybeUninit<u8>]),
        )
    };
    let mut iov = [MaybeUninitSlice::new(a), MaybeUninitSlice::new(b)];
    sock.recv_from_vectored(&mut iov)
        .map(|(n, _flags, from)| (n, from))
}

/// Validates the IPv4 header of a packet from a raw socket and returns the source and the
/// payload range. Raw sockets deliver reassembled datagrams, but the header is still checked
/// (version, header length, total length, protocol) before anything trusts it.
pub(crate) fn strip_ipv4(p: &[u8], protocol: u8) -> Option<(IpAddr, std::ops::Range<usize>)> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if ihl < 20 || total < ihl || total > p.len() || p[9] != protocol {
        return None;
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    Some((IpAddr::V4(src), ihl..total))
}

/// Kernel routes over the TUN device, remembered so that exit removes exactly what we added.
///
/// Each change is one rtnetlink request (RTM_NEWROUTE / RTM_DELROUTE, RFC 3549 §3.1.1) on a
/// NETLINK_ROUTE socket, answered by the kernel's ACK before the call returns.
pub(crate) struct KernelRoutes {
    dev: String,
    ifindex: u32,
    sock: netlink_sys::Socket,
    seq: u32,
    installed: BTreeSet<IpNet>,
}

impl KernelRoutes {
    /// Opens the NETLINK_ROUTE socket for routes into device `dev` (interface index
    /// `ifindex`).
    pub(crate) fn new(dev: &str, ifindex: u32) -> anyhow::Result<Self> {
        let mut sock = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)
            .map_err(|e| explain(e, "opening a NETLINK_ROUTE socket"))?;
        sock.bind_auto()
            .context("binding the NETLINK_ROUTE socket")?;
        sock.connect(&netlink_sys::SocketAddr::new(0, 0))
            .context("connecting the NETLINK_ROUTE socket to the kernel")?;
        // The kernel answers a route request while handling the send, so the ACK is already
        // queued when we read it; the timeout only guards against a kernel that never answers.
        SockRef::from(&sock)
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .context("NETLINK_ROUTE socket: receive timeout")?;
        Ok(Self {
            dev: dev.to_string(),
            ifindex,
            sock,
            seq: 0,
            installed: BTreeSet::new(),
        })
    }

    /// Routes `prefix` into the TUN device (replacing a route for it in the main table).
    pub(crate) fn add(&mut self, prefix: IpNet) -> anyhow::Result<()> {
        let p = prefix.trunc();
        self.request(RouteOp::Add, p)
            .with_context(|| format!("installing route {p} dev {}", self.dev))?;
        self.installed.insert(p);
        debug!(prefix = %p, dev = %self.dev, "kernel route installed");
        Ok(())
    }

    /// Removes our route for `prefix`, if we installed one.
    pub(crate) fn remove(&mut self, prefix: IpNet) {
        let p = prefix.trunc();
        if self.installed.remove(&p) {
            match self.request(RouteOp::Delete, p) {
                Ok(()) => debug!(prefix = %p, "kernel route removed"),
                Err(e) => warn!(prefix = %p, dev = %self.dev, "removing kernel route: {e:#}"),
            }
        }
    }

    pub(crate) fn contains(&self, prefix: IpNet) -> bool {
        self.installed.contains(&prefix.trunc())
    }

    /// Removes every route we installed.
    pub(crate) fn clear(&mut self) {
        for p in std::mem::take(&mut self.installed) {
            self.installed.insert(p);
            self.remove(p);
        }
    }

    /// Sends one route request and waits for the kernel's answer to it.
    fn request(&mut self, op: RouteOp, prefix: IpNet) -> anyhow::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = route_request(op, prefix, self.ifindex, seq);
        self.sock
            .send(&bytes, 0)
            .context("sending the rtnetlink request")?;
        loop {
            let mut buf = Vec::with_capacity(8192);
            self.sock
                .recv(&mut buf, 0)
                .context("reading the rtnetlink answer")?;
            match ack_code(&buf, seq) {
                Some(0) => return Ok(()),
                Some(code) => {
                    return Err(io::Error::from_raw_os_error(code.saturating_neg()).into());
                }
                // Something else (an answer to an older request that timed out): read on.
                None => continue,
            }
        }
    }
}

/// Which rtnetlink route request to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RouteOp {
    /// RTM_NEWROUTE with NLM_F_CREATE | NLM_F_REPLACE (`ip route replace`).
    Add,
    /// RTM_DELROUTE (`ip route del`).
    Delete,
}

/// Builds the rtnetlink message for `prefix` via interface `ifindex`: table main, protocol
/// static, type unicast, scope link for IPv4 (a directly attached route, as iproute2 sets for
/// `dev` without `via`) and universe for IPv6 (which has no route scopes), with the kernel's
/// ACK requested. Returns the serialized bytes.
fn route_request(op: RouteOp, prefix: IpNet, ifindex: u32, seq: u32) -> Vec<u8> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = match prefix {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    };
    msg.header.destination_prefix_length = prefix.prefix_len();
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    msg.header.protocol = RouteProtocol::Static;
    msg.header.scope = match prefix {
        IpNet::V4(_) => RouteScope::Link,
        IpNet::V6(_) => RouteScope::Universe,
    };
    msg.header.kind = RouteType::Unicast;
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            prefix.trunc().addr(),
        )));
    msg.attributes.push(RouteAttribute::Oif(ifindex));
    let (inner, flags) = match op {
        RouteOp::Add => (
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        ),
        RouteOp::Delete => (
            RouteNetlinkMessage::DelRoute(msg),
            NLM_F_REQUEST | NLM_F_ACK,
        ),
    };
    let mut nl = NetlinkMessage::from(inner);
    nl.header.flags = flags;
    nl.header.sequence_number = seq;
    nl.finalize();
    let mut bytes = vec![0; nl.buffer_len()];
    nl.serialize(&mut bytes);
    bytes
}

/// Looks through one datagram from the NETLINK_ROUTE socket for the NLMSG_ERROR answering
/// request `seq` and returns its code: 0 for an ACK, a negative errno for a refusal; `None`
/// when the datagram holds no answer to that request (or does not parse).
fn ack_code(mut datagram: &[u8], seq: u32) -> Option<i32> {
    while !datagram.is_empty() {
        let buf = NetlinkBuffer::new_checked(datagram).ok()?;
        let len = usize::try_from(buf.length()).ok()?;
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&datagram[..len]).ok();
        if let Some(m) = msg
            && let NetlinkPayload::Error(e) = &m.payload
            && m.header.sequence_number == seq
        {
            return Some(e.raw_code());
        }
        // Messages are padded to 4 bytes (NLMSG_ALIGN).
        let next = len.checked_add(3)? & !3;
        datagram = datagram.get(next..).unwrap_or(&[]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_ipv4_checks_the_header() {
        // IPv4, IHL 5, total 24, proto 47, 192.0.2.1 -> 192.0.2.2, 4 bytes of GRE.
        let mut p = vec![
            0x45, 0, 0, 24, 0, 0, 0, 0, 64, 47, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, 0, 0, 0x08, 0,
        ];
        let (src, r) = strip_ipv4(&p, 47).unwrap();
        assert_eq!(src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(r, 20..24);
        assert!(strip_ipv4(&p, 50).is_none(), "wrong protocol");
        assert!(
            strip_ipv4(&p[..23], 47).is_none(),
            "total length beyond the data"
        );
        p[0] = 0x44;
        assert!(strip_ipv4(&p, 47).is_none(), "IHL below 5");
        p[0] = 0x65;
        assert!(strip_ipv4(&p, 47).is_none(), "not IPv4");
        assert!(strip_ipv4(&[], 47).is_none());
    }

    /// A scatter read that writes `packet` across the slices, as the kernel does.
    fn fake_read(
        packet: &[u8],
    ) -> impl FnOnce(&mut [IoSliceMut<'_>; 2]) -> io::Result<(usize, ())> {
        move |iov| {
            let mut rest = packet;
            for s in iov.iter_mut() {
                let k = rest.len().min(s.len());
                s[..k].copy_from_slice(&rest[..k]);
                rest = &rest[k..];
            }
            Ok((packet.len() - rest.len(), ()))
        }
    }

    #[test]
    fn recv_into_reads_into_the_spare_room_and_spills_over() {
        let mut overflow = vec![0u8; 65_536];
        let mut b = PacketBuf::new();
        let room = b.spare_mut().len();
        let small: Vec<u8> = (0..200u8).collect();
        recv_into(&mut b, &mut overflow, fake_read(&small)).unwrap();
        assert_eq!(&b[..], &small[..]);
        assert_eq!(
            b.headroom(),
            PacketBuf::HEADROOM,
            "read where the packet starts"
        );

        // Larger than the buffer's room: the tail lands in `overflow` and is appended.
        let big: Vec<u8> = (0..room + 3000).map(|i| (i % 251) as u8).collect();
        let mut b = PacketBuf::new();
        recv_into(&mut b, &mut overflow, fake_read(&big)).unwrap();
        assert_eq!(&b[..], &big[..]);
        assert!(
            b.headroom() >= PacketBuf::HEADROOM,
            "still room for headers"
        );

        // Exactly the room: nothing taken from `overflow`.
        let mut b = PacketBuf::new();
        overflow.fill(0xee);
        recv_into(&mut b, &mut overflow, fake_read(&big[..room])).unwrap();
        assert_eq!(&b[..], &big[..room]);

        // An error leaves the buffer empty.
        let mut b = PacketBuf::new();
        let e = recv_into(&mut b, &mut overflow, |_| {
            Err::<(usize, ()), _>(io::Error::from(io::ErrorKind::WouldBlock))
        });
        assert_eq!(e.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert!(b.is_empty());
    }

    #[test]
    fn raw_ipv4_read_keeps_only_the_payload() {
        // What RawSocket::recv does after the read: IPv4 header stripped, bytes beyond the
        // total length (24) cut.
        let wire = [
            0x45, 0, 0, 24, 0, 0, 0, 0, 64, 47, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, 0, 0, 0x08, 0,
            0xde, 0xad,
        ];
        let mut b = PacketBuf::new();
        recv_into(&mut b, &mut [0u8; 16], fake_read(&wire)).unwrap();
        let (_, range) = strip_ipv4(&b, 47).unwrap();
        b.truncate(range.end);
        b.advance(range.start);
        assert_eq!(&b[..], &[0, 0, 0x08, 0]);
        assert_eq!(b.headroom(), PacketBuf::HEADROOM + 20);
    }

    #[test]
    fn udp_datagrams_land_whole_with_their_source() {
        // Loopback UDP, no privileges: exercises the scatter read with the source address
        // (the one `unsafe` block) for a datagram that fits and one that spills over.
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut overflow = vec![0u8; 65_536];
        for len in [100usize, 9000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            tx.send_to(&data, rx.local_addr().unwrap()).unwrap();
            let mut b = PacketBuf::new();
            let from = recv_udp(&rx, &mut b, &mut overflow).unwrap();
            assert_eq!(from, Some(tx.local_addr().unwrap()));
            assert_eq!(&b[..], &data[..], "{len} bytes");
        }
        rx.set_nonblocking(true).unwrap();
        let mut b = PacketBuf::new();
        let e = recv_udp(&rx, &mut b, &mut overflow).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    /// Parses a request built by `route_request` back and returns its header and route.
    fn parse_back(bytes: &[u8]) -> (netlink_packet_core::NetlinkHeader, RouteNetlinkMessage) {
        let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).unwrap();
        assert_eq!(m.header.length as usize, bytes.len(), "length field");
        match m.payload {
            NetlinkPayload::InnerMessage(r) => (m.header, r),
            other => panic!("not a route message: {other:?}"),
        }
    }

    fn fields(r: &RouteMessage) -> (Option<RouteAddress>, Option<u32>) {
        let mut dst = None;
        let mut oif = None;
        for a in &r.attributes {
            match a {
                RouteAttribute::Destination(d) => dst = Some(d.clone()),
                RouteAttribute::Oif(i) => oif = Some(*i),
                other => panic!("unexpected attribute {other:?}"),
            }
        }
        (dst, oif)
    }

    #[test]
    fn add_request_is_a_replacing_newroute_into_the_device() {
        let prefix: IpNet = "100.65.12.7/24".parse().unwrap();
        let bytes = route_request(RouteOp::Add, prefix, 7, 42);
        let (h, r) = parse_back(&bytes);
        assert_eq!(h.message_type, 24, "RTM_NEWROUTE");
        assert_eq!(
            h.flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        );
        assert_eq!(h.sequence_number, 42);
        let RouteNetlinkMessage::NewRoute(r) = r else {
            panic!("{r:?}")
        };
        assert_eq!(r.header.address_family, AddressFamily::Inet);
        assert_eq!(r.header.destination_prefix_length, 24);
        assert_eq!(r.header.source_prefix_length, 0);
        assert_eq!(r.header.table, RouteHeader::RT_TABLE_MAIN);
        assert_eq!(r.header.protocol, RouteProtocol::Static);
        assert_eq!(r.header.scope, RouteScope::Link);
        assert_eq!(r.header.kind, RouteType::Unicast);
        // The host bits are cleared: the kernel refuses a prefix with them set.
        assert_eq!(
            fields(&r),
            (
                Some(RouteAddress::Inet(Ipv4Addr::new(100, 65, 12, 0))),
                Some(7)
            )
        );
    }

    #[test]
    fn delete_request_matches_what_add_installed() {
        let prefix: IpNet = "2001:db8:1::/48".parse().unwrap();
        let bytes = route_request(RouteOp::Delete, prefix, 3, 9);
        let (h, r) = parse_back(&bytes);
        assert_eq!(h.message_type, 25, "RTM_DELROUTE");
        assert_eq!(h.flags, NLM_F_REQUEST | NLM_F_ACK, "no CREATE/REPLACE");
        assert_eq!(h.sequence_number, 9);
        let RouteNetlinkMessage::DelRoute(r) = r else {
            panic!("{r:?}")
        };
        assert_eq!(r.header.address_family, AddressFamily::Inet6);
        assert_eq!(r.header.destination_prefix_length, 48);
        assert_eq!(r.header.table, RouteHeader::RT_TABLE_MAIN);
        assert_eq!(r.header.protocol, RouteProtocol::Static);
        assert_eq!(r.header.scope, RouteScope::Universe);
        assert_eq!(
            fields(&r),
            (
                Some(RouteAddress::Inet6("2001:db8:1::".parse().unwrap())),
                Some(3)
            )
        );
    }

    /// An NLMSG_ERROR answer as the kernel sends it: code, then the request's header.
    fn answer(seq: u32, code: i32) -> Vec<u8> {
        let mut e = netlink_packet_core::ErrorMessage::default();
        e.code = std::num::NonZeroI32::new(code);
        e.header = vec![0; 16];
        let mut m = NetlinkMessage::<RouteNetlinkMessage>::new(
            netlink_packet_core::NetlinkHeader::default(),
            NetlinkPayload::Error(e),
        );
        m.header.sequence_number = seq;
        m.finalize();
        let mut b = vec![0; m.buffer_len()];
        m.serialize(&mut b);
        b
    }

    #[test]
    fn ack_code_finds_the_answer_to_our_request() {
        assert_eq!(ack_code(&answer(5, 0), 5), Some(0), "ACK");
        assert_eq!(ack_code(&answer(5, -17), 5), Some(-17), "EEXIST");
        assert_eq!(
            ack_code(&answer(4, 0), 5),
            None,
            "an older request's answer"
        );
        // Two messages in one datagram: the second answers us.
        let mut two = answer(4, -1);
        two.extend(answer(5, -19));
        assert_eq!(ack_code(&two, 5), Some(-19));
        // Garbage and truncation are no answer, never a panic.
        assert_eq!(ack_code(&[], 5), None);
        assert_eq!(ack_code(&[0xff; 7], 5), None);
        let a = answer(5, 0);
        assert_eq!(ack_code(&a[..a.len() - 1], 5), None);
        let mut huge = a.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(ack_code(&huge, 5), None);
    }
}
