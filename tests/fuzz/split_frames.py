#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Writes every frame of the pcap files in a folder as a fuzzer seed: two selector bytes, then
the frame. Classic pcap only (pcapng files are skipped); enough to start the corpus."""
import os
import struct
import sys

src, dst = sys.argv[1], sys.argv[2]
n = 0
for name in sorted(os.listdir(src)):
    path = os.path.join(src, name)
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        continue
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        continue
    linktype = struct.unpack(e + "I", data[20:24])[0]
    if linktype != 1:
        continue
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(e + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        with open(os.path.join(dst, "%s-%d" % (name, n)), "wb") as out:
            out.write(bytes([n & 3, 0]) + frame)
        n += 1
print("%d seed frames" % n)
