#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Equivalence with the seed: runs ../shared/seed/sniff.py over a classic Ethernet pcap
through a fake raw socket, and checks that every stream the seed's TCPStream.reassemble()
returns is in xdp-sniff's -j output with the same inbound and outbound bytes.
Usage: seed_compare.py XDP_SNIFF SEED_DIR FILE"""
import base64
import json
import os
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_run import frames, seed_streams  # noqa: E402


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


def main():
    xs, seed_dir, path = sys.argv[1:4]
    seed = seed_streams(seed_dir, path)
    res = subprocess.run([xs, "replay", path, "-j", "-q"], capture_output=True, text=True)
    ours = [json.loads(l) for l in res.stdout.splitlines() if l.strip()]
    bad = 0
    for st in seed:
        key = (st["source_address"], st["source_port"], st["destination_address"],
               st["destination_port"])
        m = [o for o in ours if (o["source_address"], o["source_port"], o["destination_address"],
                                 o["destination_port"]) == key]
        # the seed's client is the first sender; xdp-sniff's may be the other side when the
        # evidence says so (a SYN-ACK, what a side sent first, a well-known port): then the
        # directions swap
        swapped = [o for o in ours if o.get("roles") in ("synack", "content", "port") and
                   (o["destination_address"], o["destination_port"], o["source_address"],
                    o["source_port"]) == key]
        if not m and not swapped:
            print("  seed stream %s: not in xdp-sniff's output" % (key,))
            bad += 1
            continue
        o = m[0] if m else swapped[0]
        inb, outb = base64.b64decode(o["inbound"]), base64.b64decode(o["outbound"])
        if not m:
            inb, outb = outb, inb
            print("  seed stream %s: xdp-sniff's client is the other side (roles %s)" %
                  (key, o["roles"]))
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
