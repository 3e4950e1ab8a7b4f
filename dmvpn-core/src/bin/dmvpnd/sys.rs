//! OS glue of the Linux driver: the TUN overlay device, raw IPv4 sockets for GRE (47) and
//! ESP (50), the UDP 4500 socket, and kernel routes over the TUN device.
//!
//! No `unsafe` here: tun-rs, socket2 and std do the system calls. Routes are set with
//! iproute2's `ip route` (the reference netlink client): there are only a handful per run
//! (the configured networks at start, a shortcut now and then), so a netlink library and the
//! async runtime it needs would add much code for nothing measurable.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};
use std::process::Command;

use anyhow::{Context, bail};
use ipnet::IpNet;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
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

    pub(crate) fn fd(&self) -> RawFd {
        self.dev.as_raw_fd()
    }

    /// One packet, or `WouldBlock`.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev.recv(buf)
    }

    pub(crate) fn send(&self, packet: &[u8]) -> io::Result<usize> {
        self.dev.send(packet)
    }
}

/// A raw IPv4 socket of one IP protocol, bound to our NBMA address. The kernel builds the
/// outer IPv4 header when sending (IP_HDRINCL off); received packets start with it.
pub(crate) struct RawSocket {
    sock: Socket,
    protocol: u8,
}

impl RawSocket {
    pub(crate) fn open(protocol: u8, local: Ipv4Addr) -> anyhow::Result<Self> {
        let what = format!("raw IP socket for protocol {protocol}");
        let sock = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(i32::from(protocol))),
        )
        .map_err(|e| explain(e, &what))?;
        sock.set_header_included_v4(false)
            .with_context(|| format!("{what}: IP_HDRINCL"))?;
        sock.bind(&SockAddr::from(SocketAddrV4::new(local, 0)))
            .with_context(|| {
                format!("{what}: binding to {local} (is it an address of this host?)")
            })?;
        sock.set_nonblocking(true)
            .with_context(|| format!("{what}: non-blocking mode"))?;
        // Bursts of tunnel traffic must not be dropped by a small default buffer.
        let _ = sock.set_recv_buffer_size(4 << 20);
        let _ = sock.set_send_buffer_size(4 << 20);
        Ok(Self { sock, protocol })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Receives one packet into `buf` and returns the outer source and the range of the
    /// payload after the IPv4 header; `Ok(None)` for a malformed or foreign packet.
    pub(crate) fn recv(
        &self,
        buf: &mut [u8],
    ) -> io::Result<Option<(IpAddr, std::ops::Range<usize>)>> {
        let n = (&self.sock).read(buf)?;
        Ok(strip_ipv4(&buf[..n], self.protocol))
    }

    pub(crate) fn send(&self, to: IpAddr, bytes: &[u8]) -> io::Result<usize> {
        self.sock
            .send_to(bytes, &SockAddr::from(SocketAddr::new(to, 0)))
    }
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
pub(crate) struct KernelRoutes {
    dev: String,
    installed: BTreeSet<IpNet>,
}

impl KernelRoutes {
    pub(crate) fn new(dev: &str) -> Self {
        Self {
            dev: dev.to_string(),
            installed: BTreeSet::new(),
        }
    }

    /// Routes `prefix` into the TUN device (replacing a route of ours for it).
    pub(crate) fn add(&mut self, prefix: IpNet) -> anyhow::Result<()> {
        let p = prefix.trunc().to_string();
        ip(&["route", "replace", &p, "dev", &self.dev, "proto", "static"])
            .with_context(|| format!("installing route {p} dev {}", self.dev))?;
        self.installed.insert(prefix.trunc());
        debug!(prefix = %p, dev = %self.dev, "kernel route installed");
        Ok(())
    }

    /// Removes our route for `prefix`, if we installed one.
    pub(crate) fn remove(&mut self, prefix: IpNet) {
        if self.installed.remove(&prefix.trunc()) {
            let p = prefix.trunc().to_string();
            match ip(&["route", "del", &p, "dev", &self.dev]) {
                Ok(()) => debug!(prefix = %p, "kernel route removed"),
                Err(e) => warn!(prefix = %p, "removing kernel route: {e:#}"),
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
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
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
}
