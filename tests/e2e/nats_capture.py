#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
# nats_capture.py FILE N [SERVER]: a pcap of N short TCP streams (request "GET /i", a response
# of i % 700 + 1 bytes) from 198.18.x.y to 198.19.0.(1 + SERVER); the record source of
# tests/e2e/test_nats.sh and bench/bench_nats.sh (replay makes one -j record per stream).
import struct, sys
path, n = sys.argv[1], int(sys.argv[2])
base = int(sys.argv[3]) if len(sys.argv) > 3 else 0

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def frame(src, dst, sp, dp, seq, ack, flags, data=b''):
    tcp = struct.pack('!HHIIBBHHH', sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0) + data
    ph = src + dst + struct.pack('!BBH', 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', csum(ph + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return b'\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00' + ip + tcp

out = open(path, 'wb')
out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
t = 1700000000 * 1000000
for i in range(n):
    c, s = bytes([198, 18, 1 + i // 250, 1 + i % 250]), bytes([198, 19, 0, 1 + base])
    cp, sp = 10000 + i, 80
    req = b'GET /%d' % i
    resp = bytes((i + k) % 256 for k in range(i % 700 + 1))
    pk = [(c, s, cp, sp, 1000, 0, 0x02, b''), (s, c, sp, cp, 5000, 1001, 0x12, b''),
          (c, s, cp, sp, 1001, 5001, 0x10, b''), (c, s, cp, sp, 1001, 5001, 0x18, req),
          (s, c, sp, cp, 5001, 1001 + len(req), 0x18, resp),
          (c, s, cp, sp, 1001 + len(req), 5001 + len(resp), 0x11, b''),
          (s, c, sp, cp, 5001 + len(resp), 1002 + len(req), 0x11, b''),
          (c, s, cp, sp, 1002 + len(req), 5002 + len(resp), 0x10, b'')]
    for p in pk:
        f = frame(*p)
        t += 10
        out.write(struct.pack('<IIII', t // 1000000, t % 1000000, len(f), len(f)) + f)
