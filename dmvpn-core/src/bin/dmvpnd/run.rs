//! `dmvpnd run`: the event loop around one [`dmvpn_core::Node`].
//!
//! One thread, one `mio::Poll` over the TUN device, the raw GRE and ESP sockets, the UDP 4500
//! socket, the control socket and a signalfd for SIGINT/SIGTERM. The loop follows the node's
//! run-loop contract: feed every input to the node, drain `poll_transmit` and `poll_event`
//! after each one, call `handle_timeout` and sleep until `poll_timeout`. `Instant::now()` is
//! read here only, once per wake-up.
//!
//! Packets are never copied by the loop: each read goes into a buffer from `Node::buffer`
//! (the kernel writes into its spare room; an IPv4 header from a raw socket is stripped with
//! `advance`), which the node takes by value: `Node::forward` for TUN packets (a fast-path
//! transmit comes straight back and is sent at once), `Node::handle_buf` for the underlay.
//! Every transmit's buffer goes back with `Node::recycle` once sent, so a steady stream of
//! packets allocates nothing.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use dmvpn_core::{DatagramBuf, Event, NAT_T_PORT, NextHop, Node, Transmit, UnderlayProtocol};
use ipnet::IpNet;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use tracing::{debug, info, warn};

use crate::config_file::DriverConfig;
use crate::control;
use crate::show;
use crate::sys::{KernelRoutes, RawSocket, Tun, recv_udp, require_root};

const TUN: Token = Token(0);
const GRE: Token = Token(1);
const ESP: Token = Token(2);
const UDP: Token = Token(3);
const CONTROL: Token = Token(4);
const SIGNAL: Token = Token(5);

/// Scratch room behind a node buffer's spare room for a read that does not fit it (see
/// `sys::recv_into`): with it, the largest packet read from any device or socket is over
/// 64 KiB, as large as an IP datagram gets.
const OVERFLOW_LEN: usize = 65_536;

/// The OS side of one running interface.
struct Io {
    tun: Tun,
    gre: RawSocket,
    esp: RawSocket,
    udp: UdpSocket,
    routes: KernelRoutes,
    tunnel_subnet: IpNet,
    name: String,
}

/// Runs the daemon until SIGINT or SIGTERM; everything it installed is removed on return.
pub(crate) fn run(cfg: DriverConfig) -> anyhow::Result<()> {
    require_root()?;
    let nbma = cfg.node.nbma;
    // Block the signals before anything else, so they queue on the signalfd.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.thread_block().context("blocking SIGINT/SIGTERM")?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .context("signalfd")?;

    let tun = Tun::create(&cfg.device, cfg.node.tunnel_address, cfg.node.mtu)?;
    info!(device = tun.name(), address = %cfg.node.tunnel_address, mtu = cfg.node.mtu, "TUN device up");
    let mut io = Io {
        routes: KernelRoutes::new(tun.name(), tun.index()?)?,
        name: tun.name().to_string(),
        tun,
        gre: RawSocket::open(47, nbma)?,
        esp: RawSocket::open(50, nbma)?,
        udp: open_udp(nbma)?,
        tunnel_subnet: cfg.node.tunnel_address.trunc(),
    };
    let control = bind_control(&cfg.control_socket)?;
    info!(socket = %cfg.control_socket.display(), "control socket listening");
    let r = event_loop(&cfg, &mut io, &control, &signals);
    // Clean up whatever happened: routes, control socket; the TUN device goes with its fd.
    io.routes.clear();
    let _ = std::fs::remove_file(&cfg.control_socket);
    info!("stopped; routes and control socket removed");
    r
}

fn open_udp(nbma: IpAddr) -> anyhow::Result<UdpSocket> {
    let at = SocketAddr::new(nbma, NAT_T_PORT);
    let udp = UdpSocket::bind(at).with_context(|| format!("binding UDP {at} (ESP-in-UDP)"))?;
    udp.set_nonblocking(true)?;
    Ok(udp)
}

/// Binds the control socket; a stale file from a dead daemon is replaced, a live daemon's
/// socket is an error.
fn bind_control(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "control socket {}: another dmvpnd is running on it",
                path.display()
            );
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    let l = UnixListener::bind(path)
        .with_context(|| format!("binding control socket {}", path.display()))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

fn event_loop(
    cfg: &DriverConfig,
    io: &mut Io,
    control: &UnixListener,
    signals: &SignalFd,
) -> anyhow::Result<()> {
    let mut poll = Poll::new().context("epoll")?;
    let reg = poll.registry();
    let tun_fd = io.tun.fd();
    let gre_fd = io.gre.fd();
    let esp_fd = io.esp.fd();
    let udp_fd = io.udp.as_raw_fd();
    let ctl_fd = control.as_raw_fd();
    let sig_fd = signals.as_fd().as_raw_fd();
    for (fd, token) in [
        (tun_fd, TUN),
        (gre_fd, GRE),
        (esp_fd, ESP),
        (udp_fd, UDP),
        (ctl_fd, CONTROL),
        (sig_fd, SIGNAL),
    ] {
        reg.register(&mut SourceFd(&fd), token, Interest::READABLE)
            .context("registering with epoll")?;
    }

    let crypto = esp::crypto::aws_lc::default_provider();
    let start = Instant::now();
    let mut node = Node::new(cfg.node.clone(), crypto, start)?;
    info!(role = ?cfg.node.role, phase = ?cfg.node.phase, nbma = %cfg.node.nbma, "node started");
    for sa in &cfg.sas {
        node.install_sa(start, sa.peer, sa.inbound.clone(), sa.outbound.clone())
            .with_context(|| format!("installing the manual SA with {}", sa.peer))?;
    }
    let mut overflow = vec![0u8; OVERFLOW_LEN];
    let mut events = Events::with_capacity(256);
    loop {
        flush(&mut node, io)?;
        let timeout = node
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()));
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("epoll_wait"),
        }
        let now = Instant::now();
        for ev in &events {
            match ev.token() {
                TUN => loop {
                    let mut buf = node.buffer();
                    match io.tun.recv(&mut buf, &mut overflow) {
                        Ok(()) => {
                            match node.forward(now, buf) {
                                Ok(Some(t)) => transmit(&mut node, io, t),
                                Ok(None) => {}
                                Err(e) => debug!("overlay packet dropped: {e}"),
                            }
                            flush(&mut node, io)?;
                        }
                        Err(e) => {
                            node.recycle(buf);
                            match e.kind() {
                                io::ErrorKind::WouldBlock => break,
                                io::ErrorKind::Interrupted => {}
                                _ => return Err(e).context("reading the TUN device"),
                            }
                        }
                    }
                },
                GRE | ESP => {
                    let gre = ev.token() == GRE;
                    let protocol = if gre {
                        UnderlayProtocol::Gre
                    } else {
                        UnderlayProtocol::Esp
                    };
                    loop {
                        let sock = if gre { &io.gre } else { &io.esp };
                        let mut buf = node.buffer();
                        match sock.recv(&mut buf, &mut overflow) {
                            Ok(Some(from)) => {
                                let d = DatagramBuf::Underlay {
                                    from,
                                    protocol,
                                    bytes: buf,
                                };
                                if let Err(e) = node.handle_buf(now, d) {
                                    debug!(%from, "underlay packet dropped: {e}");
                                }
                                flush(&mut node, io)?;
                            }
                            Ok(None) => {
                                node.recycle(buf);
                                debug!("malformed or foreign packet on a raw socket");
                            }
                            Err(e) => {
                                node.recycle(buf);
                                match e.kind() {
                                    io::ErrorKind::WouldBlock => break,
                                    io::ErrorKind::Interrupted => {}
                                    _ => {
                                        // ICMP errors surface here as errors of the socket;
                                        // not fatal.
                                        debug!("raw socket: {e}");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                }
                UDP => loop {
                    let mut buf = node.buffer();
                    match recv_udp(&io.udp, &mut buf, &mut overflow) {
                        Ok(Some(from)) => {
                            let d = DatagramBuf::Underlay {
                                from: from.ip(),
                                protocol: UnderlayProtocol::Udp {
                                    local_port: NAT_T_PORT,
                                    remote_port: from.port(),
                                },
                                bytes: buf,
                            };
                            if let Err(e) = node.handle_buf(now, d) {
                                debug!(%from, "UDP packet dropped: {e}");
                            }
                            flush(&mut node, io)?;
                        }
                        Ok(None) => {
                            node.recycle(buf);
                            debug!("UDP datagram without an IP source address");
                        }
                        Err(e) => {
                            node.recycle(buf);
                            match e.kind() {
                                io::ErrorKind::WouldBlock => break,
                                io::ErrorKind::Interrupted => {}
                                _ => {
                                    debug!("UDP socket: {e}");
                                    break;
                                }
                            }
                        }
                    }
                },
                CONTROL => loop {
                    match control.accept() {
                        Ok((stream, _)) => {
                            let text = match control::read_request(&stream) {
                                Ok(req) => show::render(&node, &io.name, req.what, req.json, now),
                                Err(e) => format!("error: {e}\n"),
                            };
                            control::answer(stream, &text);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            warn!("control socket: {e}");
                            break;
                        }
                    }
                },
                SIGNAL => {
                    if let Ok(Some(s)) = signals.read_signal() {
                        info!(signal = s.ssi_signo, "shutting down");
                        // Withdraw our registrations before the sockets close.
                        node.shutdown(now);
                        flush(&mut node, io)?;
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        node.handle_timeout(now);
    }
}

/// Drains the node's transmits and events (the run-loop contract).
fn flush(node: &mut Node, io: &mut Io) -> anyhow::Result<()> {
    loop {
        let mut progressed = false;
        while let Some(t) = node.poll_transmit() {
            progressed = true;
            transmit(node, io, t);
        }
        while let Some(e) = node.poll_event() {
            progressed = true;
            on_event(node, io, &e);
        }
        if !progressed {
            return Ok(());
        }
    }
}

/// Sends one transmit (the kernel adds the outer IP header of underlay packets) and gives
/// its buffer back to the node. A failed send is logged and the packet lost, as on a wire.
fn transmit(node: &mut Node, io: &Io, t: Transmit) {
    let bytes = match t {
        Transmit::Underlay {
            to,
            protocol,
            bytes,
        } => {
            let r = match protocol {
                UnderlayProtocol::Gre => io.gre.send(to, &bytes),
                UnderlayProtocol::Esp => io.esp.send(to, &bytes),
                UnderlayProtocol::Udp { remote_port, .. } => {
                    io.udp.send_to(&bytes, SocketAddr::new(to, remote_port))
                }
            };
            if let Err(e) = r {
                debug!(%to, ?protocol, "underlay send failed: {e}");
            }
            bytes
        }
        Transmit::Overlay(bytes) => {
            if let Err(e) = io.tun.send(&bytes) {
                debug!("TUN write failed: {e}");
            }
            bytes
        }
    };
    node.recycle(bytes);
}

/// Logs an event and mirrors route changes into the kernel: every prefix the node routes
/// over the tunnel is routed into the TUN device.
fn on_event(node: &Node, io: &mut Io, e: &Event) {
    match e {
        Event::RouteChanged {
            prefix,
            source,
            next_hop,
        } => {
            debug!(%prefix, ?source, ?next_hop, "route changed");
            if *prefix == io.tunnel_subnet {
                return;
            }
            let tunnel = |nh: &NextHop| {
                matches!(
                    nh,
                    NextHop::Tunnel(_) | NextHop::Nbma(_) | NextHop::TunnelConnected
                )
            };
            let wanted = node
                .routes()
                .iter()
                .any(|r| r.prefix == *prefix && tunnel(&r.next_hop));
            if wanted && !io.routes.contains(*prefix) {
                if let Err(err) = io.routes.add(*prefix) {
                    warn!("{err:#}");
                }
            } else if !wanted {
                io.routes.remove(*prefix);
            }
        }
        Event::ShortcutUp { prefix, nbma, .. } => info!(%prefix, %nbma, "NHRP shortcut up"),
        Event::ShortcutDown { prefix, reason } => info!(%prefix, ?reason, "NHRP shortcut down"),
        Event::SpokeRegistered {
            tunnel,
            nbma,
            nat_nbma,
        } => info!(%tunnel, %nbma, ?nat_nbma, "spoke registered"),
        Event::NhsUp { nhs, nbma } => info!(%nhs, %nbma, "registered with NHS"),
        Event::NhsDown { nhs, nbma, reason } => warn!(%nhs, %nbma, ?reason, "NHS down"),
        other => info!(event = ?other, "event"),
    }
}

/// The control socket path `dmvpnd show` uses by default.
pub(crate) fn default_control(device: &str) -> PathBuf {
    crate::config_file::default_control_socket(device)
}
