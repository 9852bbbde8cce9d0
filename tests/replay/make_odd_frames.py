#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Writes a pcap of odd frames for the pcapng writer (tests/replay/test_pcapng.sh):

  - a TCP/IPv4 frame cut to every length from 1 to 70 bytes, as a capture file cuts it
    (caplen n, len the whole frame), and the same frames whole with 0..16 payload bytes, so
    that every frame length modulo 4 and every cut into the headers is there;
  - the same over IPv6;
  - frames of 129..1500 bytes, which --snaplen 128 cuts.

  make_odd_frames.py OUT.pcap
"""
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp4(payload, seq, sport=40000, dport=80):
    src, dst = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 0x50, 0x18, 65535, 0, 0) + payload
    tot = 20 + len(tcp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, 1, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp


def tcp6(payload, seq, sport=40001, dport=80):
    src = bytes.fromhex("20010002000000000000000000000001")
    dst = bytes.fromhex("20010002000000000000000000000002")
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 0x50, 0x18, 65535, 0, 0) + payload
    ip = struct.pack("!IHBB16s16s", 0x60000000, len(tcp), 6, 64, src, dst)
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x86\xdd" + ip + tcp


def main():
    out = open(sys.argv[1], "wb")
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    t = 1700000000

    def rec(frame, caplen=None):
        nonlocal t
        cap = len(frame) if caplen is None else caplen
        t += 1
        out.write(struct.pack("<IIII", t, 123456, cap, len(frame)) + frame[:cap])

    for mk in (tcp4, tcp6):
        seq = 1000
        whole = mk(b"x" * 40, seq)
        for n in range(1, 71):
            rec(whole, min(n, len(whole)))
        for k in range(17):
            rec(mk(bytes(range(k)), seq))
            seq += k
        for size in (129, 130, 131, 132, 333, 1500):
            f = mk(b"y" * 8, seq)
            f = mk(b"y" * (size - len(f) + 8), seq)
            rec(f)
            seq += size
    out.close()


if __name__ == "__main__":
    main()
