#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Writes the Ethernet frames of capture files onto an interface, in order (AF_PACKET).

usage: send_frames.py IFACE FILE...

What a mirror port would carry: the frames of each pcap or pcapng FILE, as they are,
one after the other. Frames of other link types, and frames longer than the
interface's MTU allows, are skipped and counted. A short pause every few frames
keeps a veth peer's queue from overflowing (the test compares counts, not speed).
Prints "sent N skipped M".
"""
import socket
import struct
import sys
import time

LINKTYPE_ETHERNET = 1


def pcap_frames(b):
    """(linktype, frame) of a classic pcap file, either byte order, us or ns."""
    for e in '<>':
        magic = struct.unpack(e + 'I', b[:4])[0]
        if magic in (0xa1b2c3d4, 0xa1b23c4d):
            break
    else:
        raise ValueError('not a pcap file')
    linktype = struct.unpack(e + 'I', b[20:24])[0] & 0x0fffffff
    off = 24
    while off + 16 <= len(b):
        cap = struct.unpack(e + 'I', b[off + 8:off + 12])[0]
        yield linktype, b[off + 16:off + 16 + cap]
        off += 16 + cap


def pcapng_frames(b):
    """(linktype, frame) of the enhanced and simple packet blocks of a pcapng file."""
    off, e, links = 0, '<', []
    while off + 12 <= len(b):
        btype = struct.unpack(e + 'I', b[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            e = '<' if b[off + 8:off + 12] == b'\x4d\x3c\x2b\x1a' else '>'
            links = []
        blen = struct.unpack(e + 'I', b[off + 4:off + 8])[0]
        if blen < 12:
            break
        body = b[off + 8:off + blen - 4]
        if btype == 1:
            links.append(struct.unpack(e + 'H', body[:2])[0])
        elif btype == 6:
            ifid, _, _, cap = struct.unpack(e + 'IIII', body[:16])
            yield links[ifid] if ifid < len(links) else -1, body[20:20 + cap]
        elif btype == 3:
            yield links[0] if links else -1, body[4:]
        off += blen


def frames(path):
    b = open(path, 'rb').read()
    if b[:4] == b'\x0a\x0d\x0d\x0a':
        return pcapng_frames(b)
    return pcap_frames(b)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ifname = sys.argv[1]
    mtu = int(open(f'/sys/class/net/{ifname}/mtu').read())
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    sent = skipped = 0
    for path in sys.argv[2:]:
        for linktype, f in frames(path):
            if linktype != LINKTYPE_ETHERNET or len(f) < 14 or len(f) > mtu + 14 + 8:
                skipped += 1
                continue
            try:
                s.send(f)
            except OSError:
                skipped += 1
                continue
            sent += 1
            if sent % 16 == 0:
                time.sleep(0.002)
    print(f'sent {sent} skipped {skipped}')


if __name__ == '__main__':
    main()
