#!/usr/bin/env python3
"""Second, independent ESP implementation for esp/tests/interop_scapy.rs.

Reads a JSON list of cases (file given as argv[1]); for each case it
  1. decrypts `ours` (an IPv4 packet sealed by the Rust `esp` crate) with scapy's
     SecurityAssociation (ICV checked by scapy/cryptography) and returns the plaintext
     payload (transport mode: the IP payload; tunnel mode: the inner IP packet);
  2. encrypts `plain` (an IPv4 packet) with scapy so that the Rust side can open it.
Prints one JSON list of results on stdout.
"""
import json
import sys

from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation


def make_sa(c):
    kw = dict(
        spi=c["spi"],
        crypt_algo=c["crypt_algo"],
        crypt_key=bytes.fromhex(c["crypt_key"]),
        auth_algo=c["auth_algo"],
        auth_key=bytes.fromhex(c["auth_key"]) if c["auth_key"] else None,
    )
    if c["tunnel"]:
        kw["tunnel_header"] = IP(src=c["src"], dst=c["dst"])
    if c["udp"]:
        kw["nat_t_header"] = UDP(sport=4500, dport=4500)
    if c["esn"]:
        kw["esn_en"] = True
        kw["esn"] = c["seq_hi"]
    return SecurityAssociation(ESP, **kw)


def run(c):
    res = {}
    sa = make_sa(c)
    try:
        pkt = IP(bytes.fromhex(c["ours"]))
        dec = sa.decrypt(pkt)
        if c["tunnel"]:
            res["plain"] = bytes(dec).hex()
        else:
            res["nh"] = dec.proto
            res["plain"] = bytes(dec.payload).hex()
    except Exception as e:  # noqa: BLE001 - reported to the Rust side
        res["error"] = "%s: %s" % (type(e).__name__, e)
    enc = sa.encrypt(IP(bytes.fromhex(c["plain"])), seq_num=c["scapy_seq"])
    res["theirs"] = bytes(enc).hex()
    return res


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    print(json.dumps([run(c) for c in cases]))


if __name__ == "__main__":
    main()
