#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compares xdp-sniff's reassembly (-j, --overlap first) of a capture with tshark's
`follow,tcp,raw` of the same file, stream by stream.

Streams are matched on their 4-tuple and order. A stream is compared only when tshark
reports no missing segment in it (tshark fills nothing in, so its output for such a
stream is not a byte stream). Prints one line per stream and exits 1 on any mismatch.
"""
import base64
import json
import subprocess
import sys


def tshark_streams(path):
    """[(tuple, client_bytes, server_bytes, complete)] in tshark's stream order."""
    out = subprocess.run(
        ["tshark", "-r", path, "-T", "fields", "-e", "tcp.stream", "-e", "tcp.analysis.lost_segment",
         "-e", "tcp.analysis.ack_lost_segment"],
        capture_output=True, text=True, check=True).stdout
    lost, ids = set(), []
    for line in out.splitlines():
        parts = line.split("\t")
        if not parts[0]:
            continue
        sid = int(parts[0])
        if sid not in ids:
            ids.append(sid)
        if any(p for p in parts[1:]):
            lost.add(sid)
    streams = []
    for sid in ids:
        text = subprocess.run(["tshark", "-r", path, "-q", "-z", "follow,tcp,raw,%d" % sid],
                              capture_output=True, text=True, check=True).stdout
        node0 = node1 = None
        cli, srv = bytearray(), bytearray()
        body = False
        for line in text.splitlines():
            if line.startswith("Node 0:"):
                node0 = line.split(":", 1)[1].strip()
            elif line.startswith("Node 1:"):
                node1 = line.split(":", 1)[1].strip()
                body = True
            elif line.startswith("===="):
                body = False if body else body
            elif body and line.strip():
                if line.startswith("\t"):
                    srv += bytes.fromhex(line.strip())
                else:
                    cli += bytes.fromhex(line.strip())
        streams.append(((node0, node1), bytes(cli), bytes(srv), sid not in lost))
    return streams


def endpoint(addr, port, family):
    return ("[%s]:%d" if family == 6 else "%s:%d") % (addr, port)


def main():
    xs, path = sys.argv[1], sys.argv[2]
    extra = sys.argv[3:]
    res = subprocess.run([xs, "replay", path, "-j", "-q", "--overlap", "first"] + extra,
                         capture_output=True, text=True)
    if res.returncode != 0:
        print("FAIL %s: xdp-sniff exit %d: %s" % (path, res.returncode, res.stderr.strip()))
        return 1
    ours = [json.loads(l) for l in res.stdout.splitlines() if l.strip()]
    theirs = tshark_streams(path)
    bad = compared = 0
    used = set()
    for (n0, n1), cli, srv, complete in theirs:
        match = None
        for i, s in enumerate(ours):
            if i in used:
                continue
            a = endpoint(s["source_address"], s["source_port"], s["family"])
            b = endpoint(s["destination_address"], s["destination_port"], s["family"])
            if {a, b} == {n0, n1}:
                match = i
                break
        if match is None:
            if cli or srv:
                print("  stream %s <-> %s: tshark has it, xdp-sniff does not" % (n0, n1))
                bad += 1
            continue
        used.add(match)
        s = ours[match]
        a = endpoint(s["source_address"], s["source_port"], s["family"])
        inb, outb = base64.b64decode(s["inbound"]), base64.b64decode(s["outbound"])
        # tshark's node 0 is the side it saw first; ours is the opener
        mine = (inb, outb) if a == n0 else (outb, inb)
        if not complete:
            print("  stream %s <-> %s: tshark reports missing segments, not compared" % (n0, n1))
            continue
        compared += 1
        if mine != (cli, srv):
            bad += 1
            print("  stream %s <-> %s: DIFFERS (ours %d/%d bytes, tshark %d/%d)" %
                  (n0, n1, len(mine[0]), len(mine[1]), len(cli), len(srv)))
        else:
            print("  stream %s <-> %s: same (%d/%d bytes)" % (n0, n1, len(cli), len(srv)))
    print("%s: %d streams compared, %d differ" % (path.split("/")[-1], compared, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
