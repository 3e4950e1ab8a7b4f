//! Real captures with published keys decrypt to the expected inner packets
//! (../shared/captures, see its README). Runs only with `DMVPN_INTEROP` set.
//!
//! Tested, with ICV verification through `InboundSa` / `SaTable`:
//! * `nhrp/frr-nhrpd-registration-esp.pcap` (Linux 6.1 xfrm, AES-GCM-128, transport, GRE);
//! * `ikev2/wswiki-ikev2-esp-natt/capture.pcapng` (NCP client / gateway, UDP 4500 with the
//!   non-ESP marker: AES-GCM-128 SAs and AES-CBC-128 + HMAC-SHA-256-128 SAs, tunnel mode);
//! * `esp/wswiki-esp-transport-v4v6` SPI 10 / 110 (AES-CBC-128 + HMAC-SHA-1-96, IPv6 and
//!   IPv4 transport mode);
//! * `esp/wswiki-esp-tunnel-nested` outer SA (AES-CBC-128 + HMAC-SHA-1-96, tunnel mode).
//!
//! Tested by decryption only, through the provider's `Cipher` (the authentication key is
//! unknown or the SA has no integrity algorithm, which `SaParams` deliberately does not offer):
//! * `esp/tcpdump-sunrise-sunset-aes256.pcap` (AES-256-CBC, auth key unknown);
//! * `esp/wswiki-esp-transport-v4v6` SPI 20 / 120 (AES-CBC-128 without integrity).
//!
//! Framing only: `esp/tcpdump-espudp1-natt.pcap` (RFC 3948 ESP-in-UDP; its keys do not
//! decrypt it, see the captures README).
//!
//! Skipped, algorithm outside our set: 3DES-CBC and DES-CBC (tcpdump `esp-3des`, `esp2-3des`,
//! the inner SA of `wswiki-esp-tunnel-nested`, wswiki SPIs 11/12/21/22/111/112/121/122),
//! ENCR_NULL (wswiki SPIs 13/23/113/123), HMAC-MD5-96 (wswiki dst ::12-15 / .12-15; aws-lc-rs
//! has no HMAC-MD5), AES-CTR (the second NCP IKE SA). Captures without keys (netlessons-*,
//! packetlife-*) cannot be decrypted by anyone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::IpAddr;
use std::time::Instant;

use common::{IpPkt, capture_path, eth_ip, inet_checksum, interop_enabled, read_frames};
use esp::crypto::{EncrId, IntegId, Secret, aws_lc};
use esp::wire::EspHeader;
use esp::{
    Direction, InboundSa, Keys, Lifetimes, Mode, OpenError, SaParams, SaTable, Spi, Transform,
    UdpOpened,
};

fn frames(rel: &str) -> Vec<IpPkt> {
    let path = capture_path(rel);
    assert!(path.exists(), "capture missing: {}", path.display());
    read_frames(&path)
        .iter()
        .filter_map(|f| eth_ip(f))
        .collect()
}

fn inbound(spi: u32, mode: Mode, t: Transform, encr: &[u8], integ: &[u8]) -> SaParams {
    SaParams {
        spi: Spi(spi),
        direction: Direction::Inbound,
        mode,
        transform: t,
        keys: Keys {
            encr: Secret::new(encr),
            integ: Secret::new(integ),
        },
        esn: false,
        replay_window: 1024,
        lifetimes: Lifetimes::default(),
        udp_encap: None,
        tfc_pad_to: 0,
    }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// An inner IPv4 packet with a valid header checksum and the expected protocol.
fn assert_ipv4(p: &[u8], proto: u8) -> IpPkt {
    let ip = common::parse_ip(p).expect("inner IPv4");
    assert_eq!(inet_checksum(&p[..20]), 0, "inner IPv4 header checksum");
    assert_eq!(ip.proto, proto);
    ip
}

#[test]
fn frr_nhrpd_linux_xfrm_aes_gcm_transport_gre() {
    if !interop_enabled("frr_nhrpd_linux_xfrm_aes_gcm_transport_gre") {
        return;
    }
    let now = Instant::now();
    let c = aws_lc::default_provider();
    let p = inbound(
        0x1001,
        Mode::Transport,
        Transform::AES_128_GCM,
        &h("000102030405060708090a0b0c0d0e0f10111213"),
        &[],
    );
    let mut sa = InboundSa::new(now, &p, &c).unwrap();
    let esp: Vec<_> = frames("nhrp/frr-nhrpd-registration-esp.pcap")
        .into_iter()
        .filter(|f| f.proto == 50)
        .collect();
    assert_eq!(esp.len(), 2);
    let mut protos = vec![];
    for (i, mut f) in esp.into_iter().enumerate() {
        let o = sa.open(now, &mut f.payload).unwrap();
        assert_eq!((o.next_header, o.seq), (47, i as u64 + 1));
        let gre = &o.payload;
        // GRE with key bit, key 42.
        assert_eq!(gre[0] & 0x20, 0x20);
        assert_eq!(&gre[4..8], &42u32.to_be_bytes());
        protos.push(u16::from_be_bytes([gre[2], gre[3]]));
        if protos.len() == 2 {
            assert_ipv4(&gre[8..], 1);
        }
    }
    // Frame 2: NHRP (0x2001) Registration Reply; frame 3: IPv4 ICMP echo.
    assert_eq!(protos, vec![0x2001, 0x0800]);
}

#[test]
fn ncp_ikev2_natt_aes_gcm_and_aes_cbc_sha256() {
    if !interop_enabled("ncp_ikev2_natt_aes_gcm_and_aes_cbc_sha256") {
        return;
    }
    let now = Instant::now();
    let c = aws_lc::default_provider();
    let mut t = SaTable::new();
    let cbc = Transform::aes_cbc(128, IntegId::HMAC_SHA2_256_128);
    let sas = [
        (
            0xc1a9656b,
            Transform::AES_128_GCM,
            "167fc4915921b24f27f71e7498b1978c238398d6",
            "",
        ),
        (
            0xac0faf03,
            Transform::AES_128_GCM,
            "5eab6a4e799442ec5ef6fc07545297651b5832fc",
            "",
        ),
        (
            0xc1d717e8,
            cbc,
            "343c9a1a9e4519749c3c2b5e5240b428",
            "9214b049b45529f1b3a04e46cc5151a2497281c2b9adff36395f6ebbb2f3dc20",
        ),
        (
            0xb6b5f296,
            cbc,
            "0b8cf5f4328c8ce9724bf7ed903716a5",
            "1f5e2399048218f2e40d6f49c84e50ca9b145e0be8dce0384f49f2ac407517e0",
        ),
    ];
    for (spi, tr, e, a) in sas {
        t.insert_inbound(now, &inbound(spi, Mode::Tunnel, tr, &h(e), &h(a)), &c)
            .unwrap();
    }
    let (mut esp_ok, mut ike, mut ctr) = (0, 0, 0);
    let net: IpAddr = [192, 168, 225, 0].into();
    for f in frames("ikev2/wswiki-ikev2-esp-natt/capture.pcapng") {
        assert_eq!(f.proto, 17);
        let (uh, body) = esp::wire::udp::UdpHeader::parse(&f.payload).unwrap();
        assert!(uh.src_port == 4500 || uh.dst_port == 4500);
        let mut payload = f.payload[body].to_vec();
        match t.open_udp(now, &mut payload) {
            Ok(UdpOpened::Esp(_, o)) => {
                assert_eq!(o.next_header, 4);
                let inner = assert_ipv4(o.payload, 1);
                for a in [inner.src, inner.dst] {
                    let IpAddr::V4(v4) = a else { panic!() };
                    assert_eq!(
                        IpAddr::from([v4.octets()[0], v4.octets()[1], v4.octets()[2], 0]),
                        net
                    );
                }
                esp_ok += 1;
            }
            Ok(UdpOpened::Ike(m)) => {
                assert_eq!(m[17], 0x20, "IKEv2 version byte");
                ike += 1;
            }
            Ok(UdpOpened::Keepalive) => {}
            Err(OpenError::UnknownSpi(spi)) => {
                assert!(spi == 0x958a753b || spi == 0x78bd5377, "{spi:#x}");
                ctr += 1;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    // 4 ESP packets per SA; the AES-CTR SAs (not in our set) are the unknown SPIs.
    assert_eq!((esp_ok, ctr, ike), (16, 8, 30));
}

#[test]
fn wswiki_transport_aes_cbc_hmac_sha1_v4_and_v6() {
    if !interop_enabled("wswiki_transport_aes_cbc_hmac_sha1_v4_and_v6") {
        return;
    }
    let now = Instant::now();
    let c = aws_lc::default_provider();
    let all = frames("esp/wswiki-esp-transport-v4v6/capture.pcap");
    let t = Transform::aes_cbc(128, IntegId::HMAC_SHA1_96);
    for (spi, dst, nh) in [(110u32, "190.0.0.2", 1u8), (10, "3ffe::2", 58)] {
        let dst: IpAddr = dst.parse().unwrap();
        let p = inbound(
            spi,
            Mode::Transport,
            t,
            b"aescbcencryption",
            b"hmacsha1authenticati",
        );
        let mut sa = InboundSa::new(now, &p, &c).unwrap();
        let mut n = 0;
        for mut f in all
            .iter()
            .filter(|f| f.proto == 50 && f.dst == dst)
            .cloned()
        {
            let o = sa.open(now, &mut f.payload).unwrap();
            assert_eq!(o.next_header, nh);
            if nh == 1 {
                assert_eq!(inet_checksum(o.payload), 0, "ICMP checksum");
                assert_eq!(o.payload[0], 8, "echo request");
            } else {
                assert_eq!(o.payload[0], 128, "ICMPv6 echo request");
            }
            n += 1;
        }
        assert_eq!(n, 10, "SPI {spi}");
    }
    // SPI 120 / 20: AES-CBC without integrity; decrypt with the provider's cipher.
    let cipher = c
        .cipher(EncrId::AES_CBC, 128)
        .unwrap()
        .new_key(b"aescbcencryption")
        .unwrap();
    for (dst, nh) in [("190.0.0.22", 1u8), ("3ffe::22", 58)] {
        let dst: IpAddr = dst.parse().unwrap();
        let mut n = 0;
        for f in all.iter().filter(|f| f.proto == 50 && f.dst == dst) {
            let mut p = f.payload.clone();
            let (iv, ct) = p[8..].split_at_mut(16);
            cipher.decrypt_in_place(iv, ct).unwrap();
            let pad = usize::from(ct[ct.len() - 2]);
            assert_eq!(ct[ct.len() - 1], nh);
            assert!(
                ct[ct.len() - 2 - pad..ct.len() - 2]
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| usize::from(b) == i + 1)
            );
            n += 1;
        }
        assert_eq!(n, 10);
    }
}

#[test]
fn wswiki_tunnel_nested_outer_aes_cbc_hmac_sha1() {
    if !interop_enabled("wswiki_tunnel_nested_outer_aes_cbc_hmac_sha1") {
        return;
    }
    let now = Instant::now();
    let c = aws_lc::default_provider();
    let t = Transform::aes_cbc(128, IntegId::HMAC_SHA1_96);
    let p = inbound(
        10,
        Mode::Tunnel,
        t,
        b"aescbcencryption",
        b"hmacsha1authenticati",
    );
    let mut sa = InboundSa::new(now, &p, &c).unwrap();
    let dst: IpAddr = "10.0.0.2".parse().unwrap();
    let inner_src: IpAddr = "192.168.0.3".parse().unwrap();
    let mut seqs = vec![];
    for mut f in frames("esp/wswiki-esp-tunnel-nested/capture.pcap") {
        if f.proto != 50 || f.dst != dst || EspHeader::parse(&f.payload).unwrap().spi != 10 {
            continue;
        }
        let o = sa.open(now, &mut f.payload).unwrap();
        assert_eq!(o.next_header, 4);
        let inner = assert_ipv4(o.payload, 50);
        assert_eq!((inner.src, inner.dst), (inner_src, dst));
        seqs.push(o.seq);
    }
    assert_eq!(seqs, (240..=551).collect::<Vec<u64>>());
}

#[test]
fn tcpdump_aes256_cbc_decrypts() {
    if !interop_enabled("tcpdump_aes256_cbc_decrypts") {
        return;
    }
    let c = aws_lc::default_provider();
    let key = h("aaaabbbbccccdddd4043434545464649494a4a4c4c4f4f515152525454575758");
    let cipher = c
        .cipher(EncrId::AES_CBC, 256)
        .unwrap()
        .new_key(&key)
        .unwrap();
    let mut n = 0;
    for f in frames("esp/tcpdump-sunrise-sunset-aes256.pcap") {
        assert_eq!(f.proto, 50);
        let mut p = f.payload.clone();
        assert_eq!(EspHeader::parse(&p).unwrap().spi, 0xd123_4567);
        // 12-byte ICV of an unknown HMAC key at the end: not verifiable.
        let end = p.len() - 12;
        let (iv, ct) = p[8..end].split_at_mut(16);
        cipher.decrypt_in_place(iv, ct).unwrap();
        assert_eq!(ct[ct.len() - 1], 4, "tunnel mode, inner IPv4");
        let inner = assert_ipv4(ct, 1);
        assert_eq!(inner.src, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(inner.dst, "192.0.1.1".parse::<IpAddr>().unwrap());
        n += 1;
    }
    assert_eq!(n, 8);
}

#[test]
fn tcpdump_espudp1_natt_framing() {
    if !interop_enabled("tcpdump_espudp1_natt_framing") {
        return;
    }
    let mut t = SaTable::new();
    let mut seqs = vec![];
    for f in frames("esp/tcpdump-espudp1-natt.pcap") {
        assert_eq!(f.proto, 17);
        let (uh, body) = esp::wire::udp::UdpHeader::parse(&f.payload).unwrap();
        assert_eq!((uh.src_port, uh.dst_port), (4500, 4500));
        let mut payload = f.payload[body].to_vec();
        assert_eq!(
            esp::wire::udp::classify(&payload),
            Ok(esp::wire::udp::UdpPayload::Esp)
        );
        let hdr = EspHeader::parse(&payload).unwrap();
        assert_eq!(hdr.spi, 0x1234_5678);
        seqs.push(hdr.seq);
        assert_eq!(
            t.open_udp(Instant::now(), &mut payload).unwrap_err(),
            OpenError::UnknownSpi(0x1234_5678)
        );
    }
    assert_eq!(seqs, (1..=8).collect::<Vec<u32>>());
    assert_eq!(t.table_stats().unknown_spi, 8);
}
