#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
Every expression of expressions.txt against every Ethernet capture of a directory, on both
replay paths of xdp-sniff (the host build, and --kernel through BPF_PROG_TEST_RUN), compared
frame by frame (time, lengths, bytes) with what tcpdump -r FILE -w - EXPRESSION keeps.

The captures are first rewritten by tcpdump as one classic pcap (microseconds, host order) and
concatenated, each frame remembering its capture: one run per expression and path then
covers every capture (a kernel run pays for loading the BPF object once), and a difference
is reported by capture and frame. An expression tcpdump refuses must be refused by
xdp-sniff too, with exit status 2.

usage: compare.py XDP_SNIFF PCAP_DIR EXPRESSIONS WORKDIR [--kernel-only|--host-only]
Exit status: 0 all agree, 1 a difference (each printed), 77 nothing to compare.
"""
import os
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

PCAP_HDR = struct.Struct("<IHHiIII")
REC_HDR = struct.Struct("<IIII")
DLT_EN10MB = 1


def read_pcap(path):
    """Records of a classic little-endian microsecond pcap: (sec, usec, caplen, len, data)."""
    with open(path, "rb") as f:
        b = f.read()
    if len(b) < PCAP_HDR.size:
        return None, []
    magic, _, _, _, _, _, link = PCAP_HDR.unpack_from(b, 0)
    if magic != 0xA1B2C3D4:
        raise ValueError(f"{path}: not a little-endian microsecond pcap")
    out, off = [], PCAP_HDR.size
    while off + REC_HDR.size <= len(b):
        sec, usec, cap, wire = REC_HDR.unpack_from(b, off)
        off += REC_HDR.size
        out.append((sec, usec, cap, wire, b[off:off + cap]))
        off += cap
    return link, out


def build_combined(pcap_dir, work):
    """One pcap of every Ethernet capture's frames; returns its path and each frame's origin."""
    frames, origin, skipped = [], [], []
    for name in sorted(os.listdir(pcap_dir)):
        if not (name.endswith(".pcap") or name.endswith(".pcapng")):
            continue
        conv = os.path.join(work, name + ".conv.pcap")
        r = subprocess.run(["tcpdump", "-r", os.path.join(pcap_dir, name), "-w", conv],
                           capture_output=True)
        if r.returncode != 0:
            skipped.append(f"{name} (tcpdump cannot read it)")
            continue
        link, recs = read_pcap(conv)
        if link != DLT_EN10MB:
            # replay gives these an Ethernet header of its own; tcpdump compiles the
            # expression for their link type: not the same question
            skipped.append(f"{name} (link type {link}, not Ethernet)")
            continue
        for i, rec in enumerate(recs):
            frames.append(rec)
            origin.append((name, i + 1))
    path = os.path.join(work, "all.pcap")
    with open(path, "wb") as f:
        f.write(PCAP_HDR.pack(0xA1B2C3D4, 2, 4, 0, 0, 262144, DLT_EN10MB))
        for sec, usec, cap, wire, data in frames:
            f.write(REC_HDR.pack(sec, usec, cap, wire))
            f.write(data)
    return path, frames, origin, skipped


def keys(frames):
    return [(s, u, c, w, d) for s, u, c, w, d in frames]


def diff(expr, path_name, want, got, frames, origin):
    """Names the frames kept by one side only, by capture and frame number."""
    index = {}
    for i, f in enumerate(frames):
        index.setdefault(f, []).append(i)
    lines = []
    wset, gset = {}, {}
    for f in want:
        wset[f] = wset.get(f, 0) + 1
    for f in got:
        gset[f] = gset.get(f, 0) + 1
    for f in set(wset) | set(gset):
        if wset.get(f, 0) != gset.get(f, 0):
            where = ", ".join(f"{origin[i][0]}#{origin[i][1]}" for i in index.get(f, [])[:3])
            lines.append(f"    tcpdump {wset.get(f, 0)} xdp-sniff {gset.get(f, 0)}: {where}")
    if not lines:
        lines.append("    same frames, another order")
    print(f"FAIL [{path_name}] {expr!r}: {len(want)} frames from tcpdump, {len(got)} from "
          f"xdp-sniff")
    for line in sorted(lines)[:8]:
        print(line)


def run_one(args):
    n, expr, xs, allp, work, paths, frames, origin = args
    exp = os.path.join(work, f"e{n}.tcpdump.pcap")
    t = subprocess.run(["tcpdump", "-r", allp, "-w", exp, expr], capture_output=True,
                       text=True)
    ok = True
    for p in paths:
        out = os.path.join(work, f"e{n}.{p}.pcap")
        cmd = [xs, "replay", allp, "-q", "-w", out] + (["--kernel"] if p == "kernel" else [])
        r = subprocess.run(cmd + [expr], capture_output=True, text=True)
        if t.returncode != 0:
            if r.returncode != 2:
                print(f"FAIL [{p}] {expr!r}: tcpdump refuses it ({t.stderr.strip()}), "
                      f"xdp-sniff exits {r.returncode}, not 2: {r.stderr.strip()}")
                ok = False
            continue
        if r.returncode != 0:
            print(f"FAIL [{p}] {expr!r}: xdp-sniff exits {r.returncode}: {r.stderr.strip()}")
            ok = False
            continue
        _, want = read_pcap(exp)
        _, got = read_pcap(out)
        if keys(want) != keys(got):
            diff(expr, p, keys(want), keys(got), frames, origin)
            ok = False
        os.unlink(out)
    if os.path.exists(exp):
        os.unlink(exp)
    return ok, t.returncode == 0


def main():
    xs, pcap_dir, table, work = sys.argv[1:5]
    paths = ["host", "kernel"]
    if "--kernel-only" in sys.argv:
        paths = ["kernel"]
    if "--host-only" in sys.argv:
        paths = ["host"]
    exprs = [l.rstrip("\n") for l in open(table) if l.strip() and not l.startswith("#")]
    allp, frames, origin, skipped = build_combined(pcap_dir, work)
    if not frames:
        print("SKIP: no Ethernet capture to compare with")
        return 77
    caps = len({o[0] for o in origin})
    for s in skipped:
        print(f"note: skipped {s}")
    jobs = [(n, e, xs, allp, work, paths, frames, origin) for n, e in enumerate(exprs)]
    with ThreadPoolExecutor(max_workers=int(os.environ.get("JOBS", "2"))) as pool:
        results = list(pool.map(run_one, jobs))
    bad = sum(1 for ok, _ in results if not ok)
    refused = sum(1 for _, valid in results if not valid)
    print(f"{len(exprs)} expressions ({refused} refused by tcpdump) x {caps} captures "
          f"({len(frames)} frames) on {'+'.join(paths)}: {len(exprs) - bad} agree with "
          f"tcpdump, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
