#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Equivalence with the seed: runs ../shared/seed/sniff.py over a classic Ethernet pcap
through a fake raw socket, and checks that every stream the seed's TCPStream.reassemble()
returns is in xdp-sniff's -j output with the same inbound and outbound bytes.
Usage: seed_compare.py XDP_SNIFF SEED_DIR FILE"""
import base64
import importlib.util
import json
import socket
import struct
import subprocess
import sys


class Done(Exception):
    pass


def frames(path):
    data = open(path, "rb").read()
    magic = data[:4]
    e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(e + "IIII", data[off:off + 16])
        yield data[off + 16:off + 16 + caplen]
        off += 16 + caplen


def syn_payload(path, key):
    """The payload of the first SYN (no ACK) from key's source in an IPv4 Ethernet pcap."""
    for f in frames(path):
        if len(f) < 34 or f[12:14] != b"\x08\x00" or f[23] != 6:
            continue
        ihl = (f[14] & 15) * 4
        tot = struct.unpack("!H", f[16:18])[0]
        t = 14 + ihl
        src = socket.inet_ntoa(f[26:30])
        sport = struct.unpack("!H", f[t:t + 2])[0]
        flags = f[t + 13]
        if (src, sport) == (key[0], key[1]) and flags & 0x02 and not flags & 0x10:
            return f[t + (f[t + 12] >> 4) * 4:14 + tot]
    return None


class FakeSocket:
    def __init__(self, path):
        self.it = frames(path)

    def recvfrom(self, size):
        try:
            return next(self.it), ("eth0", 0x0800, 0, 1, b"")
        except StopIteration:
            raise Done()


def main():
    xs, seed_dir, path = sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("sniff", seed_dir + "/sniff.py")
    sniff = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sniff)
    real = socket.socket
    socket.socket = lambda *a, **k: FakeSocket(path)
    try:
        s = sniff.Sniffer()
    finally:
        socket.socket = real
    seed = []
    while True:
        try:
            seed.append(s.recv_stream())
        except Done:
            break
        except (struct.error, sniff.InvalidPacketException):
            # the seed gives up on frames it cannot parse; it has no way to go on
            break
    res = subprocess.run([xs, "replay", path, "-j", "-q"], capture_output=True, text=True)
    ours = [json.loads(l) for l in res.stdout.splitlines() if l.strip()]
    bad = 0
    for st in seed:
        key = (st["source_address"], st["source_port"], st["destination_address"],
               st["destination_port"])
        m = [o for o in ours if (o["source_address"], o["source_port"], o["destination_address"],
                                 o["destination_port"]) == key]
        if not m:
            print("  seed stream %s: not in xdp-sniff's output" % (key,))
            bad += 1
            continue
        o = m[0]
        inb, outb = base64.b64decode(o["inbound"]), base64.b64decode(o["outbound"])
        if (inb, outb) == (st["inbound"], st["outbound"]):
            continue
        # the seed skips the payload of SYN segments (TCP Fast Open); xdp-sniff keeps it
        if outb == st["outbound"] and inb.endswith(st["inbound"]) and \
                syn_payload(path, key) == inb[:len(inb) - len(st["inbound"])]:
            print("  seed stream %s: same but for the SYN's payload, which the seed drops" % (key,))
            continue
        print("  seed stream %s: bytes differ" % (key,))
        bad += 1
    print("%s: seed returned %d streams, %d differ" % (path.split("/")[-1], len(seed), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
