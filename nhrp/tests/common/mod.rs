//! Shared helpers of the tshark interop tests: environment gate, pcap in/out, tshark field
//! extraction and our own rendering of the same fields.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use nhrp::wire::{Family, Packet, PacketType};

/// Whether interop checks run (DMVPN_INTEROP set); prints the skip line otherwise.
pub fn interop_enabled(test: &str) -> bool {
    if std::env::var_os("DMVPN_INTEROP").is_some() {
        true
    } else {
        println!("{test}: skipped (set DMVPN_INTEROP=1 to run the tshark interop checks)");
        false
    }
}

/// `../shared/captures/nhrp` next to the workspace.
pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures/nhrp")
}

/// A throw-away Wireshark configuration directory with the Cisco authentication form
/// (`nhrp.auth_ext_has_addr: FALSE`), removed on drop.
pub struct WsConfig(PathBuf);

impl WsConfig {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("nhrp-ws-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("preferences"), "nhrp.auth_ext_has_addr: FALSE\n").unwrap();
        WsConfig(dir)
    }

    /// Runs tshark with this configuration; panics (test failure) if tshark is missing.
    pub fn tshark(&self, args: &[&str]) -> String {
        let out = Command::new("tshark")
            .env("WIRESHARK_CONFIG_DIR", &self.0)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("tshark not runnable (DMVPN_INTEROP is set): {e}"));
        assert!(
            out.status.success(),
            "tshark {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for WsConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tshark fields compared, in order.
pub const FIELDS: &[&str] = &[
    "nhrp.hdr.afn",
    "nhrp.hdr.pro.type",
    "nhrp.hdr.hopcnt",
    "nhrp.hdr.pktsz",
    "nhrp.hdr.chksum",
    "nhrp.hdr.chksum.status",
    "nhrp.hdr.extoff",
    "nhrp.hdr.version",
    "nhrp.hdr.op.type",
    "nhrp.hdr.shtl",
    "nhrp.hdr.sstl",
    "nhrp.src.prot.len",
    "nhrp.dst.prot.len",
    "nhrp.flags",
    "nhrp.reqid",
    "nhrp.src.nbma.addr",
    "nhrp.src.nbma.addr_bytes",
    "nhrp.src.prot.addr",
    "nhrp.src.prot.addr_bytes",
    "nhrp.dst.prot.addr",
    "nhrp.dst.prot.addr_byets", // sic: Wireshark's field name
    "nhrp.code",
    "nhrp.prefix",
    "nhrp.mtu",
    "nhrp.htime",
    "nhrp.cli.addr_tl",
    "nhrp.cli.saddr_tl",
    "nhrp.prot.len",
    "nhrp.pref",
    "nhrp.client.nbma.addr",
    "nhrp.client.nbma.addr_bytes",
    "nhrp.client.prot.addr",
    "nhrp.client.prot.addr_bytes",
    "nhrp.ext.c",
    "nhrp.ext.type",
    "nhrp.ext.len",
    "nhrp.auth_ext.reserved",
    "nhrp.auth_ext.spi",
    "nhrp.auth_ext.data",
    "nhrp.vendor_ext.id",
    "nhrp.vendor_ext.data",
    "nhrp.unknown_ext.value",
    "nhrp.err.code",
    "nhrp.err.offset",
];

/// Runs tshark on `pcap` (display filter `nhrp`) and returns, per frame number, the value of
/// every field of [`FIELDS`] (occurrences joined with ',').
pub fn tshark_frames(ws: &WsConfig, pcap: &Path) -> BTreeMap<u32, Vec<String>> {
    let mut args: Vec<&str> = vec![
        "-n",
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        "nhrp",
        "-T",
        "fields",
    ];
    args.extend([
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
        "-e",
        "frame.number",
    ]);
    for f in FIELDS {
        args.extend(["-e", f]);
    }
    let out = ws.tshark(&args);
    out.lines()
        .map(|l| {
            let mut cols = l.split('\t').map(str::to_string);
            let frame = cols.next().unwrap().parse().unwrap();
            (frame, cols.collect())
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    for x in b {
        write!(s, "{x:02x}").unwrap();
    }
    s
}

/// Pushes an address into the v4 (dotted) or bytes (hex) list, as the dissector shows it.
fn push_addr(v4: &mut Vec<String>, bytes: &mut Vec<String>, a: Option<IpAddr>) {
    match a {
        Some(IpAddr::V4(a)) => v4.push(a.to_string()),
        Some(IpAddr::V6(a)) => bytes.push(hex(&a.octets())),
        None => {}
    }
}

/// Our rendering of [`FIELDS`] for one packet (and, for an Error Indication, the packet in
/// error that the dissector decodes after it).
pub fn our_fields(p: &Packet<'_>) -> Vec<String> {
    let mut f: Vec<Vec<String>> = vec![Vec::new(); FIELDS.len()];
    add_fields(&mut f, p);
    f.into_iter().map(|v| v.join(",")).collect()
}

fn add_fields(f: &mut [Vec<String>], p: &Packet<'_>) {
    let h = p.header();
    let mut push = |name: &str, v: String| {
        let i = FIELDS.iter().position(|x| *x == name).unwrap();
        f[i].push(v);
    };
    push("nhrp.hdr.afn", format!("{:#06x}", h.afn.get()));
    push("nhrp.hdr.pro.type", format!("{:#06x}", h.pro_type.get()));
    push("nhrp.hdr.hopcnt", p.hop_count().to_string());
    push("nhrp.hdr.pktsz", h.pkt_size.get().to_string());
    push("nhrp.hdr.chksum", format!("{:#06x}", p.checksum()));
    push("nhrp.hdr.chksum.status", "1".into()); // Good
    push("nhrp.hdr.extoff", p.extension_offset().to_string());
    push("nhrp.hdr.version", h.version.to_string());
    push("nhrp.hdr.op.type", h.op_type.to_string());
    push("nhrp.hdr.shtl", h.shtl.to_string());
    push("nhrp.hdr.sstl", h.sstl.to_string());
    push(
        "nhrp.src.prot.len",
        p.protocol_family().addr_len().to_string(),
    );
    push(
        "nhrp.dst.prot.len",
        p.protocol_family().addr_len().to_string(),
    );
    if p.packet_type().has_cies() {
        push("nhrp.flags", format!("{:#06x}", p.flags().bits()));
        push("nhrp.reqid", format!("{:#010x}", p.request_id()));
    }
    let mut lists: [Vec<String>; 6] = Default::default();
    let [nv4, nb, sv4, sb, dv4, db] = &mut lists;
    push_addr(nv4, nb, Some(p.src_nbma()));
    push_addr(sv4, sb, Some(p.src_proto()));
    push_addr(dv4, db, Some(p.dst_proto()));
    for (name, l) in [
        "nhrp.src.nbma.addr",
        "nhrp.src.nbma.addr_bytes",
        "nhrp.src.prot.addr",
        "nhrp.src.prot.addr_bytes",
        "nhrp.dst.prot.addr",
        "nhrp.dst.prot.addr_byets",
    ]
    .into_iter()
    .zip(lists)
    {
        for v in l {
            push(name, v);
        }
    }
    if let Some(code) = p.error_code() {
        push("nhrp.err.code", code.to_u16().to_string());
        push("nhrp.err.offset", p.error_offset().unwrap_or(0).to_string());
    }
    let mut cies: Vec<_> = p.cies().map(|c| c.unwrap()).collect();
    for e in p.extensions() {
        cies.extend(e.unwrap().cies().map(|c| c.unwrap()));
    }
    let (mut cn4, mut cnb, mut cp4, mut cpb) = (vec![], vec![], vec![], vec![]);
    for c in &cies {
        let ch = c.header();
        push("nhrp.code", ch.code.to_string());
        push("nhrp.prefix", ch.prefix_len.to_string());
        push("nhrp.mtu", ch.mtu.get().to_string());
        push("nhrp.htime", ch.holding_time.get().to_string());
        push("nhrp.cli.addr_tl", ch.cli_addr_tl.to_string());
        push("nhrp.cli.saddr_tl", ch.cli_saddr_tl.to_string());
        push("nhrp.prot.len", ch.cli_proto_len.to_string());
        push("nhrp.pref", ch.preference.to_string());
        push_addr(&mut cn4, &mut cnb, c.client_nbma());
        push_addr(&mut cp4, &mut cpb, c.client_proto());
    }
    for v in cn4 {
        push("nhrp.client.nbma.addr", v);
    }
    for v in cnb {
        push("nhrp.client.nbma.addr_bytes", v);
    }
    for v in cp4 {
        push("nhrp.client.prot.addr", v);
    }
    for v in cpb {
        push("nhrp.client.prot.addr_bytes", v);
    }
    let mut any_ext = false;
    for e in p.extensions() {
        let e = e.unwrap();
        any_ext = true;
        push("nhrp.ext.c", u8::from(e.compulsory()).to_string());
        push("nhrp.ext.type", format!("{:#06x}", e.ty()));
        push("nhrp.ext.len", e.value().len().to_string());
        let v = e.value();
        match e.ty() {
            7 => {
                push(
                    "nhrp.auth_ext.reserved",
                    u16::from_be_bytes([v[0], v[1]]).to_string(),
                );
                push(
                    "nhrp.auth_ext.spi",
                    u16::from_be_bytes([v[2], v[3]]).to_string(),
                );
                if v.len() > 4 {
                    push("nhrp.auth_ext.data", hex(&v[4..]));
                }
            }
            8 => {
                push(
                    "nhrp.vendor_ext.id",
                    u32::from_be_bytes([0, v[0], v[1], v[2]]).to_string(),
                );
                if v.len() > 3 {
                    push("nhrp.vendor_ext.data", hex(&v[3..]));
                }
            }
            3 | 4 | 5 | 9 => {}
            _ if !v.is_empty() => push("nhrp.unknown_ext.value", hex(v)),
            _ => {}
        }
    }
    if any_ext {
        push("nhrp.ext.c", "1".into());
        push("nhrp.ext.type", "0x0000".into());
        push("nhrp.ext.len", "0".into());
    }
    // The dissector decodes the packet in error of an Error Indication as NHRP.
    if p.packet_type() == PacketType::ErrorIndication
        && let Ok(inner) = Packet::parse(p.payload())
    {
        add_fields(f, &inner);
    }
}

/// One NHRP packet of a capture: its 1-based frame number, outer IPv4 addresses and payload.
pub struct NhrpFrame {
    pub no: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub nhrp: Vec<u8>,
}

/// The NHRP packets of a capture (pcap or pcapng, Ethernet, optionally VLAN-tagged, IPv4,
/// GRE protocol 0x2001).
pub fn nhrp_frames(path: &Path) -> Vec<NhrpFrame> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames: Vec<Vec<u8>> = Vec::new();
    if data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut r = pcap_file::pcapng::PcapNgReader::new(&data[..]).unwrap();
        while let Some(block) = r.next_block() {
            match block.unwrap() {
                pcap_file::pcapng::Block::EnhancedPacket(p) => frames.push(p.data.to_vec()),
                pcap_file::pcapng::Block::SimplePacket(p) => frames.push(p.data.to_vec()),
                _ => {}
            }
        }
    } else {
        let mut r = pcap_file::pcap::PcapReader::new(&data[..]).unwrap();
        while let Some(p) = r.next_packet() {
            frames.push(p.unwrap().data.to_vec());
        }
    }
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let Ok(s) = etherparse::SlicedPacket::from_ethernet(f) else {
            continue;
        };
        let Some(etherparse::NetSlice::Ipv4(ip)) = &s.net else {
            continue;
        };
        if ip.header().protocol() != etherparse::IpNumber::GRE {
            continue;
        }
        let g = ip.payload().payload;
        if g.len() < 4 || u16::from_be_bytes([g[2], g[3]]) != nhrp::wire::GRE_PROTOCOL_NHRP {
            continue;
        }
        let hl = 4 + 4 * [0x80u8, 0x20, 0x10]
            .iter()
            .filter(|b| g[0] & **b != 0)
            .count();
        out.push(NhrpFrame {
            no: i as u32 + 1,
            src: IpAddr::V4(ip.header().source_addr()),
            dst: IpAddr::V4(ip.header().destination_addr()),
            nhrp: g[hl..].to_vec(),
        });
    }
    out
}

/// The NHRP payloads of a capture with their 1-based frame numbers.
pub fn extract_nhrp(path: &Path) -> Vec<(u32, Vec<u8>)> {
    nhrp_frames(path)
        .into_iter()
        .map(|f| (f.no, f.nhrp))
        .collect()
}

/// Writes Ethernet/IPv4/GRE(0x2001) frames carrying `payloads` to a pcap file.
pub fn write_gre_pcap(path: &Path, payloads: &[Vec<u8>]) {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let file = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::with_header(file, PcapHeader::default()).unwrap();
    for (i, p) in payloads.iter().enumerate() {
        let mut gre = vec![0u8, 0, 0x20, 0x01];
        gre.extend_from_slice(p);
        let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(
            [192, 0, 2, 1],
            [192, 0, 2, 2],
            64,
        );
        let mut frame = Vec::new();
        b.write(&mut frame, etherparse::IpNumber::GRE, &gre)
            .unwrap();
        let t = std::time::Duration::from_secs(1_700_000_000 + i as u64);
        w.write_packet(&PcapPacket::new(t, frame.len() as u32, &frame))
            .unwrap();
    }
}

/// The families of a packet, for messages.
pub fn families(p: &Packet<'_>) -> (Family, Family) {
    (p.nbma_family(), p.protocol_family())
}
