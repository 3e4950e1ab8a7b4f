//! Interop: GRE packets emitted by this crate, decoded by tshark (Wireshark's dissectors).
//!
//! Builds packets with and without key, sequence number and checksum, carrying IPv4 (ICMP),
//! IPv6 (UDP) and NHRP, encapsulates each in place behind an outer IPv4 header (protocol 47),
//! writes them to a pcap (LINKTYPE_RAW) and checks with `tshark -T fields` that every GRE field
//! decodes as intended, that the inner protocol is recognised and that no frame is malformed or
//! carries an expert warning or error.
//!
//! Runs only with `DMVPN_INTEROP` set (then a missing tshark is a failure).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use etherparse::{IpNumber, Ipv4Header, PacketBuilder};
use gre::wire::{Packet, ProtocolType, Repr};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

/// NHRP Registration Request (81 bytes) from `nhrp/tcpdump-ios-nhrp.pcap` frame 1 (tcpdump test
/// suite, BSD-3-Clause): the GRE payload of a Cisco IOS spoke, NHRP checksum 0xe8e4 valid.
const NHRP_REGISTRATION: [u8; 81] = [
    0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x51, 0xe8, 0xe4, 0x00, 0x34,
    0x01, 0x03, 0x04, 0x00, 0x04, 0x04, 0x80, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0a, 0x00, 0x0c, 0x02,
    0xc0, 0xa8, 0x00, 0x02, 0xc0, 0xa8, 0x00, 0x01, 0x00, 0xff, 0x00, 0x00, 0x05, 0xea, 0x00, 0x1e,
    0x00, 0x00, 0x00, 0x00, 0x80, 0x03, 0x00, 0x00, 0x80, 0x04, 0x00, 0x00, 0x80, 0x05, 0x00, 0x00,
    0x80, 0x07, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x43, 0x49, 0x53, 0x43, 0x4f, 0x80, 0x00, 0x00,
    0x00,
];

/// Outer IPv4 header + largest GRE header.
const HEADROOM: usize = Ipv4Header::MIN_LEN + Repr::MAX_HEADER_LEN;

/// tshark expert severities (epan/proto.h): warning and error.
const PI_WARN: u32 = 0x0060_0000;

#[derive(Clone, Copy, Debug)]
enum Inner {
    Ipv4Icmp,
    Ipv6Udp,
    Nhrp,
}

impl Inner {
    fn protocol_type(self) -> ProtocolType {
        match self {
            Inner::Ipv4Icmp => ProtocolType::IPV4,
            Inner::Ipv6Udp => ProtocolType::IPV6,
            Inner::Nhrp => ProtocolType::NHRP,
        }
    }

    fn bytes(self, n: u16) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Inner::Ipv4Icmp => {
                // An echo *reply*: tshark flags unanswered requests with an expert note.
                PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                    .icmpv4_echo_reply(0x1234, n)
                    .write(&mut out, b"gre interop")
                    .unwrap();
            }
            Inner::Ipv6Udp => {
                PacketBuilder::ipv6(
                    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                    64,
                )
                .udp(40000, 9)
                .write(&mut out, b"gre interop")
                .unwrap();
            }
            Inner::Nhrp => out.extend_from_slice(&NHRP_REGISTRATION),
        }
        out
    }

    /// (tshark field, expected value) proving the payload was dissected as intended.
    fn checks(self) -> [(&'static str, &'static str); 2] {
        match self {
            Inner::Ipv4Icmp => [("ip.proto", "47,1"), ("icmp.type", "0")],
            Inner::Ipv6Udp => [("ipv6.nxt", "17"), ("udp.dstport", "9")],
            Inner::Nhrp => [("nhrp.hdr.op.type", "3"), ("nhrp.hdr.chksum.status", "1")],
        }
    }
}

struct Case {
    repr: Repr,
    inner: Inner,
    /// The outer IPv4 packet.
    frame: Vec<u8>,
    /// Our checksum, if any, as read back from the emitted packet.
    checksum: Option<u16>,
}

/// Encapsulates in place: the payload is written once at `HEADROOM`, the GRE header into the
/// headroom before it, then the outer IPv4 header in front of that.
fn build(repr: Repr, inner: Inner, n: u16) -> Case {
    let payload = inner.bytes(n);
    let mut buf = vec![0u8; HEADROOM + payload.len()];
    buf[HEADROOM..].copy_from_slice(&payload);
    let gre_len = repr.encapsulate(&mut buf, HEADROOM).unwrap().len();
    let gre_start = buf.len() - gre_len;
    let checksum = Packet::parse(&buf[gre_start..]).unwrap().checksum();

    let mut ip = Ipv4Header::new(
        gre_len as u16,
        255,
        IpNumber::GRE,
        [192, 0, 2, 1],
        [198, 51, 100, 7],
    )
    .unwrap();
    ip.header_checksum = ip.calc_header_checksum();
    let ip_start = gre_start - Ipv4Header::MIN_LEN;
    buf[ip_start..gre_start].copy_from_slice(&ip.to_bytes());
    Case {
        repr,
        inner,
        frame: buf[ip_start..].to_vec(),
        checksum,
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut n = 0u16;
    for inner in [Inner::Ipv4Icmp, Inner::Ipv6Udp, Inner::Nhrp] {
        let base = Repr::new(inner.protocol_type());
        for repr in [
            base,
            base.with_key(100),
            base.with_key(0xdead_beef).with_sequence(0),
            base.with_sequence(u32::MAX),
            base.with_checksum(),
            base.with_checksum().with_key(1).with_sequence(42),
        ] {
            n += 1;
            cases.push(build(repr, inner, n));
        }
    }
    cases
}

const FIELDS: [&str; 16] = [
    "frame.number",
    "gre.flags.checksum",
    "gre.flags.routing",
    "gre.flags.key",
    "gre.flags.sequence_number",
    "gre.flags.strict_source_route",
    "gre.flags.recursion_control",
    "gre.flags.version",
    "gre.proto",
    "gre.key",
    "gre.sequence_number",
    "gre.checksum",
    "gre.checksum.status",
    "_ws.malformed",
    "_ws.expert.severity",
    "_ws.expert.message",
];

fn bool_field(value: &str) -> bool {
    match value {
        "1" | "True" | "true" => true,
        "0" | "False" | "false" => false,
        other => panic!("not a boolean: {other:?}"),
    }
}

#[test]
fn tshark_decodes_emitted_gre() {
    if std::env::var_os("DMVPN_INTEROP").is_none() {
        println!("interop_tshark: skipped (set DMVPN_INTEROP=1 to run the tshark checks)");
        return;
    }
    let version = Command::new("tshark").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "DMVPN_INTEROP is set but tshark cannot be run: {version:?}"
    );

    let cases = cases();
    // Control frame: the last case with one payload byte flipped after the checksum was
    // computed. tshark must call its checksum bad, showing the oracle really verifies it.
    let mut corrupted = cases.last().unwrap().frame.clone();
    *corrupted.last_mut().unwrap() ^= 0xff;
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("gre_interop_tshark.pcap");
    {
        let header = PcapHeader {
            datalink: DataLink::RAW,
            ..PcapHeader::default()
        };
        let file = std::fs::File::create(&path).unwrap();
        let mut writer = PcapWriter::with_header(file, header).unwrap();
        let frames = cases.iter().map(|c| &c.frame).chain([&corrupted]);
        for (i, frame) in frames.enumerate() {
            let ts = Duration::from_millis(1_700_000_000_000 + i as u64);
            writer
                .write_packet(&PcapPacket::new(ts, frame.len() as u32, frame))
                .unwrap();
        }
    }

    let inner_fields: Vec<&str> = [Inner::Ipv4Icmp, Inner::Ipv6Udp, Inner::Nhrp]
        .iter()
        .flat_map(|i| i.checks().map(|(f, _)| f))
        .collect();
    let mut args: Vec<String> = [
        "-n",
        "-r",
        path.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for field in FIELDS.iter().chain(inner_fields.iter()) {
        args.push("-e".into());
        args.push((*field).into());
    }
    let output = Command::new("tshark").args(&args).output().unwrap();
    assert!(
        output.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        cases.len() + 1,
        "one line per frame:\n{stdout}"
    );
    let control: Vec<&str> = lines[cases.len()].split('|').collect();
    let status_at = FIELDS
        .iter()
        .position(|f| *f == "gre.checksum.status")
        .unwrap();
    assert_eq!(
        control[status_at], "0",
        "corrupted frame must fail tshark's GRE checksum"
    );

    let mut checked = 0;
    for (case, line) in cases.iter().zip(&lines) {
        let values: Vec<&str> = line.split('|').collect();
        assert_eq!(values.len(), FIELDS.len() + inner_fields.len(), "{line}");
        let get = |name: &str| {
            let at = FIELDS
                .iter()
                .chain(inner_fields.iter())
                .position(|f| *f == name)
                .unwrap();
            values[at]
        };
        let what = format!(
            "frame {} ({}, {:?}): {line}",
            get("frame.number"),
            case.repr,
            case.inner
        );
        let r = case.repr;
        assert_eq!(bool_field(get("gre.flags.checksum")), r.checksum, "{what}");
        assert_eq!(bool_field(get("gre.flags.key")), r.key.is_some(), "{what}");
        assert_eq!(
            bool_field(get("gre.flags.sequence_number")),
            r.sequence.is_some(),
            "{what}"
        );
        assert!(!bool_field(get("gre.flags.routing")), "{what}");
        assert!(!bool_field(get("gre.flags.strict_source_route")), "{what}");
        assert_eq!(get("gre.flags.recursion_control"), "0", "{what}");
        assert_eq!(get("gre.flags.version"), "0", "{what}");
        assert_eq!(
            get("gre.proto"),
            format!("{:#06x}", r.protocol_type.value()),
            "{what}"
        );
        assert_eq!(
            get("gre.key"),
            r.key.map(|k| format!("{k:#010x}")).unwrap_or_default(),
            "{what}"
        );
        assert_eq!(
            get("gre.sequence_number"),
            r.sequence.map(|s| s.to_string()).unwrap_or_default(),
            "{what}"
        );
        assert_eq!(
            get("gre.checksum"),
            case.checksum
                .map(|c| format!("{c:#06x}"))
                .unwrap_or_default(),
            "{what}"
        );
        // Wireshark's checksum status: 1 = good (PROTO_CHECKSUM_E_GOOD).
        assert_eq!(
            get("gre.checksum.status"),
            if r.checksum { "1" } else { "" },
            "{what}"
        );
        assert_eq!(get("_ws.malformed"), "", "malformed: {what}");
        for severity in get("_ws.expert.severity")
            .split(',')
            .filter(|s| !s.is_empty())
        {
            let severity: u32 = severity.parse().unwrap();
            assert!(
                severity < PI_WARN,
                "expert warning/error {:?}: {what}",
                get("_ws.expert.message")
            );
        }
        for (field, want) in case.inner.checks() {
            assert_eq!(get(field), want, "{field} in {what}");
        }
        checked += 1;
    }
    assert_eq!(checked, 18);
    println!("interop_tshark: {checked} frames decoded by tshark as intended");
}
