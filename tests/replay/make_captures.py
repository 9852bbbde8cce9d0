#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Writes the damaged and re-encapsulated captures of tests/replay/test_corrupt.sh.

usage: make_captures.py PCAPS OUTDIR

From the Ethernet and raw-IP test captures in PCAPS it writes into OUTDIR:
  damaged files          NAME.pcap[ng], and for those damaged late, NAME.ref.pcap[ng]:
                         the intact records before the damage, which the damaged file
                         must replay exactly like;
  other link types       NAME.pcap holding the IP packets of a source capture under
                         another link-layer header, and NAME.src naming the source whose
                         streams it must give;
  big frames             big-eth.pcap and big-ipv4.pcap, one TCP connection of ~64 KiB
                         segments, with its payload in big.c2s and big.s2c.
Only the standard library: the formats are written by hand so that they can be broken.
"""
import os
import struct
import sys

PCAP_HDR = struct.Struct('IHHiIII')
REC_HDR = struct.Struct('IIII')


def read_pcap(path):
    """(endian, nano, snaplen, linktype, [(sec, frac, caplen, wirelen, data)])"""
    b = open(path, 'rb').read()
    magic = struct.unpack('<I', b[:4])[0]
    for endian in '<>':
        magic = struct.unpack(endian + 'I', b[:4])[0]
        if magic in (0xa1b2c3d4, 0xa1b23c4d):
            break
    else:
        raise ValueError(f'{path}: not a classic pcap file')
    _, _, _, _, _, snaplen, linktype = struct.unpack(endian + 'IHHiIII', b[:24])
    recs, off = [], 24
    while off + 16 <= len(b):
        sec, frac, cap, wire = struct.unpack(endian + 'IIII', b[off:off + 16])
        recs.append((sec, frac, cap, wire, b[off + 16:off + 16 + cap]))
        off += 16 + cap
    return endian, magic == 0xa1b23c4d, snaplen, linktype, recs


def pcap_bytes(recs, linktype, endian='<', nano=False, snaplen=262144, magic=None):
    """A classic pcap file; records are (sec, frac, caplen, wirelen, data)."""
    if magic is None:
        magic = 0xa1b23c4d if nano else 0xa1b2c3d4
    out = [struct.pack(endian + 'IHHiIII', magic, 2, 4, 0, 0, snaplen, linktype)]
    for sec, frac, cap, wire, data in recs:
        out.append(struct.pack(endian + 'IIII', sec, frac, cap, wire) + data)
    return b''.join(out)


def write(outdir, name, data):
    with open(os.path.join(outdir, name), 'wb') as f:
        f.write(data)


def rec_offsets(recs):
    """Offset of each record header in the file pcap_bytes() writes."""
    offs, off = [], 24
    for r in recs:
        offs.append(off)
        off += 16 + len(r[4])
    return offs


def ip_of_ethernet(frame):
    """The IP packet an Ethernet frame carries (VLAN tags skipped), or None."""
    off = 12
    et = struct.unpack('!H', frame[off:off + 2])[0]
    while et in (0x8100, 0x88a8) and len(frame) >= off + 6:
        off += 4
        et = struct.unpack('!H', frame[off:off + 2])[0]
    if et in (0x0800, 0x86dd):
        return frame[off + 2:]
    return None


def ip_packets(path):
    """The IP packets of an Ethernet or raw-IP capture, with their timestamps."""
    endian, nano, snaplen, lt, recs = read_pcap(path)
    pkts = []
    for sec, frac, cap, wire, data in recs:
        ip = ip_of_ethernet(data) if lt == 1 else data if lt in (101, 12, 14) else None
        if ip is not None and len(ip) and ip[0] >> 4 in (4, 6):
            pkts.append((sec, frac, ip, wire - (cap - len(ip))))
    return nano, pkts


def reencap(pkts, header_of, linktype, endian='<', nano=False):
    recs = []
    for sec, frac, ip, wire in pkts:
        h = header_of(ip)
        recs.append((sec, frac, len(h) + len(ip), len(h) + wire, h + ip))
    return pcap_bytes(recs, linktype, endian, nano)


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def tcp4(src, dst, sport, dport, seq, ack, flags, payload):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = struct.pack('!4s4sBBH', src, dst, 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return ip + tcp


def big_connection(outdir):
    """One connection carrying ~64 KiB segments each way: the largest IPv4 packets. The
    response (2.6 MB) is five times replay's ring, so that the frames wait for the reader."""
    c, s = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    cp, sp = 40000, 8080
    seg = 65535 - 40
    c2s = bytes((i * 7 + 3) & 0xff for i in range(3 * seg))
    s2c = bytes((i * 13 + 5) & 0xff for i in range(40 * seg - 1000))
    ci, si = 1000, 5000000
    pkts = [tcp4(c, s, cp, sp, ci, 0, 0x02, b''), tcp4(s, c, sp, cp, si, ci + 1, 0x12, b''),
            tcp4(c, s, cp, sp, ci + 1, si + 1, 0x10, b'')]
    cs, ss = ci + 1, si + 1
    for i in range(0, len(c2s), seg):
        pkts.append(tcp4(c, s, cp, sp, cs, ss, 0x18, c2s[i:i + seg]))
        cs += len(c2s[i:i + seg])
    for i in range(0, len(s2c), seg):
        pkts.append(tcp4(s, c, sp, cp, ss, cs, 0x18, s2c[i:i + seg]))
        ss += len(s2c[i:i + seg])
    pkts += [tcp4(c, s, cp, sp, cs, ss, 0x11, b''), tcp4(s, c, sp, cp, ss, cs + 1, 0x11, b''),
             tcp4(c, s, cp, sp, cs + 1, ss + 1, 0x10, b'')]
    eth = b'\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00'
    recs = [(1700000000 + i, 0, len(eth) + len(p), len(eth) + len(p), eth + p)
            for i, p in enumerate(pkts)]
    write(outdir, 'big-eth.pcap', pcap_bytes(recs, 1))
    recs = [(1700000000 + i, 0, len(p), len(p), p) for i, p in enumerate(pkts)]
    write(outdir, 'big-ipv4.pcap', pcap_bytes(recs, 228))
    write(outdir, 'big.c2s', c2s)
    write(outdir, 'big.s2c', s2c)


def damaged(outdir, src):
    endian, nano, snaplen, lt, recs = read_pcap(src)
    n = len(recs)
    late = n * 3 // 4            # the damage comes after most of the file
    offs = rec_offsets(recs)
    whole = pcap_bytes(recs, lt, endian, nano, snaplen)
    ref = pcap_bytes(recs[:late], lt, endian, nano, snaplen)

    def damaged_at(name, data):
        write(outdir, name + '.pcap', data)
        write(outdir, name + '.ref.pcap', ref)

    # cut inside the header, then inside the body, of a late record
    damaged_at('trunc-rechdr', whole[:offs[late] + 7])
    damaged_at('trunc-body', whole[:offs[late] + 16 + len(recs[late][4]) // 2])
    # a late record claims more than 256 KiB, or 4 GiB
    for name, cap in (('caplen-256k', 262144 + 1000), ('caplen-4g', 0xffffffff)):
        r = recs[late]
        bad = REC_HDR.pack(r[0], r[1], cap, r[3]) if endian == '<' else \
            struct.pack('>IIII', r[0], r[1], cap, r[3])
        damaged_at(name, whole[:offs[late]] + bad + whole[offs[late] + 16:])
    # frames longer than the file's snap length (libpcap cuts them to it)
    write(outdir, 'caplen-gt-snaplen.pcap', pcap_bytes(recs, lt, endian, nano, 128))
    # wire lengths of 0 and of 4 GiB - 1 (shorter than captured, absurdly long)
    write(outdir, 'wirelen-zero.pcap',
          pcap_bytes([(a, b, c, 0, d) for a, b, c, w, d in recs], lt, endian, nano, snaplen))
    write(outdir, 'wirelen-4g.pcap',
          pcap_bytes([(a, b, c, 0xffffffff, d) for a, b, c, w, d in recs], lt, endian, nano,
                     snaplen))
    # zero-length and runt frames between the real ones: the streams are unchanged
    mixed = []
    for i, r in enumerate(recs):
        mixed.append((r[0], r[1], 0, 0, b''))
        mixed.append((r[0], r[1], 0, 1514, b''))
        mixed.append((r[0], r[1], i % 14, 60, r[4][:i % 14]))
        mixed.append(r)
    write(outdir, 'zero-frames.pcap', pcap_bytes(mixed, lt, endian, nano, snaplen))
    write(outdir, 'zero-frames.src', os.path.basename(src).encode())
    # headers only, a cut file header, a bad magic, nothing at all
    write(outdir, 'header-only.pcap', whole[:24])
    write(outdir, 'short-header.pcap', whole[:10])
    write(outdir, 'bad-magic.pcap', b'\xef\xbe\xad\xde' + whole[4:])
    write(outdir, 'empty.pcap', b'')
    write(outdir, 'garbage.pcap', bytes((i * 151 + 7) & 0xff for i in range(4096)))


def pcapng_blocks(b):
    """[(offset, type, total_length)] of a little-endian pcapng file."""
    out, off = [], 0
    while off + 12 <= len(b):
        t, ln = struct.unpack('<II', b[off:off + 8])
        out.append((off, t, ln))
        if ln < 12:
            break
        off += ln
    return out


def damaged_pcapng(outdir, src):
    b = open(src, 'rb').read()
    if b[8:12] != b'\x4d\x3c\x2b\x1a':
        return          # big-endian section: not worth a second writer
    epbs = [(o, ln) for o, t, ln in pcapng_blocks(b) if t == 6]
    off, ln = epbs[len(epbs) * 3 // 4]
    ref = b[:off]
    for name, bad in (('pcapng-blocklen-huge', 0xfffffff0), ('pcapng-blocklen-small', 8),
                      ('pcapng-blocklen-odd', ln + 1), ('pcapng-blocklen-long', ln + 64)):
        data = bytearray(b)
        data[off + 4:off + 8] = struct.pack('<I', bad)
        write(outdir, name + '.pcapng', bytes(data))
        write(outdir, name + '.ref.pcapng', ref)
    write(outdir, 'pcapng-trunc.pcapng', b[:off + ln // 2])
    write(outdir, 'pcapng-trunc.ref.pcapng', ref)


def link_types(outdir, v4src, v6src):
    name4, name6 = os.path.basename(v4src).encode(), os.path.basename(v6src).encode()
    nano4, p4 = ip_packets(v4src)
    nano6, p6 = ip_packets(v6src)
    fam_le = lambda ip: struct.pack('<I', 2 if ip[0] >> 4 == 4 else 10)
    fam_be = lambda ip: struct.pack('>I', 2 if ip[0] >> 4 == 4 else 10)
    cases = [
        ('null-le', fam_le, 0, '<', p4, nano4, name4),
        ('null-be', fam_be, 0, '>', p4, nano4, name4),
        # BSD's three values for AF_INET6, in the writer's byte order
        ('null-v6-24', lambda ip: struct.pack('<I', 24), 0, '<', p6, nano6, name6),
        ('null-v6-28', lambda ip: struct.pack('>I', 28), 0, '>', p6, nano6, name6),
        ('null-v6-30', lambda ip: struct.pack('<I', 30), 0, '<', p6, nano6, name6),
        ('loop', fam_be, 108, '<', p4, nano4, name4),
        ('loop-v6', lambda ip: struct.pack('>I', 30), 108, '>', p6, nano6, name6),
        ('ipv4', lambda ip: b'', 228, '<', [p for p in p4 if p[2][0] >> 4 == 4], nano4, name4),
        ('ipv6', lambda ip: b'', 229, '<', [p for p in p6 if p[2][0] >> 4 == 6], nano6, name6),
    ]
    for name, hdr, lt, endian, pkts, nano, src in cases:
        write(outdir, name + '.pcap', reencap(pkts, hdr, lt, endian, nano))
        write(outdir, name + '.src', src)


def main():
    pcaps, outdir = sys.argv[1:3]
    os.makedirs(outdir, exist_ok=True)
    damaged(outdir, os.path.join(pcaps, 'pcapplusplus__three_http_streams.pcap'))
    damaged_pcapng(outdir, os.path.join(pcaps, 'chrissanders__http_google.pcapng'))
    link_types(outdir, os.path.join(pcaps, 'pcapplusplus__three_http_streams.pcap'),
               os.path.join(pcaps, 'pcapplusplus__one_ipv6_http_stream.pcap'))
    big_connection(outdir)


if __name__ == '__main__':
    main()
