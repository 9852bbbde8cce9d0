#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Seeds for fuzz_tls from -o output: the two directions of each stream packed as the harness
reads them (control byte, 16-bit little-endian client length, client bytes, server bytes).

usage: tls_seeds.py FLOWDIR OUTDIR
"""
import os
import struct
import sys

src, out = sys.argv[1:3]
os.makedirs(out, exist_ok=True)
names = sorted(os.listdir(src))
done = set()
for a in names:
    # tcpflow names: SRC-DST; the other direction is DST-SRC
    if '-' not in a or a in done:
        continue
    s, d = a.split('-', 1)
    b = f'{d}-{s}'
    done |= {a, b}
    ca = open(os.path.join(src, a), 'rb').read()[:60000]
    cb = open(os.path.join(src, b), 'rb').read()[:60000] if b in names else b''
    # the client sent first: its ClientHello starts 0x16 0x03 .. 0x01
    if cb[:1] == b'\x16' and cb[5:6] == b'\x01':
        ca, cb = cb, ca
    for ctl in (0, 7, 15 | 32):
        with open(os.path.join(out, f'{a}.{ctl}'), 'wb') as f:
            f.write(bytes([ctl]) + struct.pack('<H', len(ca)) + ca + cb)
