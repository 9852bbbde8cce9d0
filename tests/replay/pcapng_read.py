#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A strict reader of the pcapng files xdp-sniff writes, written from the IETF pcapng draft
(independently of the writer), for the tests: it checks the layout on the way and prints
what the blocks say as one JSON object.

  pcapng_read.py FILE          {"shb": {...}, "idbs": [...], "epbs": [...], "isbs": [...]}

Checked, with the byte offset of the first fault on stderr and exit 1: little-endian SHB
first, every block's length a multiple of 4 and at least 12, the trailing length equal to the
leading one, option values padded with zeros to 4 bytes, opt_endofopt last when options are
present and nothing after it, EPB frame padding zero, interface ids below the IDB count.
EPB frames are summarised (length, sha1) rather than printed.
"""
import hashlib
import json
import struct
import sys

SHB, IDB, EPB, ISB = 0x0A0D0D0A, 1, 6, 5


class Bad(Exception):
    pass


def options(data, off, end, where):
    """The options in data[off:end] as a list of (code, bytes)."""
    out = []
    while off < end:
        if end - off < 4:
            raise Bad(f"{where}: option header cut at {off}")
        code, n = struct.unpack_from("<HH", data, off)
        if code == 0:
            if n != 0 or off + 4 != end:
                raise Bad(f"{where}: opt_endofopt at {off} is not the last 4 bytes")
            return out
        padded = (n + 3) & ~3
        if off + 4 + padded > end:
            raise Bad(f"{where}: option {code} at {off} runs past its block")
        val = data[off + 4:off + 4 + n]
        if any(data[off + 4 + n:off + 4 + padded]):
            raise Bad(f"{where}: option {code} at {off} padded with non-zero bytes")
        out.append((code, val))
        off += 4 + padded
    if out:
        raise Bad(f"{where}: options without opt_endofopt")
    return out


def ts(v):
    hi, lo = struct.unpack("<II", v)
    return (hi << 32) | lo


def read(path):
    data = open(path, "rb").read()
    off = 0
    res = {"shb": None, "idbs": [], "epbs": [], "isbs": [], "other": 0}
    while off < len(data):
        if len(data) - off < 12:
            raise Bad(f"block at {off}: {len(data) - off} bytes left, a block has 12 at least")
        btype, blen = struct.unpack_from("<II", data, off)
        where = f"block type {btype:#x} at {off}"
        if blen < 12 or blen % 4 or off + blen > len(data):
            raise Bad(f"{where}: length {blen} (file has {len(data) - off} bytes left)")
        (tail,) = struct.unpack_from("<I", data, off + blen - 4)
        if tail != blen:
            raise Bad(f"{where}: trailing length {tail} != {blen}")
        body, end = off + 8, off + blen - 4
        if off == 0 and btype != SHB:
            raise Bad("the file does not start with an SHB")
        if btype == SHB:
            magic, major, minor, seclen = struct.unpack_from("<IHHq", data, body)
            if magic != 0x1A2B3C4D:
                raise Bad(f"{where}: byte-order magic {magic:#x}: not little-endian")
            if res["shb"] is not None:
                raise Bad(f"{where}: a second section")
            opts = options(data, body + 16, end, where)
            res["shb"] = {"version": [major, minor], "section_length": seclen,
                          "options": {c: v.decode() for c, v in opts}}
        elif btype == IDB:
            link, _, snap = struct.unpack_from("<HHI", data, body)
            opts = options(data, body + 8, end, where)
            d = {"linktype": link, "snaplen": snap}
            for c, v in opts:
                if c == 2:
                    d["if_name"] = v.decode()
                elif c == 3:
                    d["if_description"] = v.decode()
                elif c == 9:
                    d["if_tsresol"] = v[0]
                elif c == 11:
                    d["if_filter_type"] = v[0]
                    d["if_filter"] = v[1:].decode()
                else:
                    d[f"opt{c}"] = v.hex()
            res["idbs"].append(d)
        elif btype == EPB:
            ifid, hi, lo, cap, orig = struct.unpack_from("<IIIII", data, body)
            if ifid >= len(res["idbs"]):
                raise Bad(f"{where}: interface {ifid} has no IDB")
            fo = body + 20
            padded = (cap + 3) & ~3
            if fo + padded > end:
                raise Bad(f"{where}: frame of {cap} bytes runs past the block")
            if any(data[fo + cap:fo + padded]):
                raise Bad(f"{where}: frame padded with non-zero bytes")
            e = {"if": ifid, "ts": (hi << 32) | lo, "caplen": cap, "len": orig,
                 "sha1": hashlib.sha1(data[fo:fo + cap]).hexdigest()}
            for c, v in options(data, fo + padded, end, where):
                if c == 2:
                    (e["flags"],) = struct.unpack("<I", v)
                elif c == 1:
                    e["comment"] = v.decode()
                else:
                    e[f"opt{c}"] = v.hex()
            res["epbs"].append(e)
        elif btype == ISB:
            ifid, hi, lo = struct.unpack_from("<III", data, body)
            if ifid >= len(res["idbs"]):
                raise Bad(f"{where}: interface {ifid} has no IDB")
            names = {2: "starttime", 3: "endtime", 4: "ifrecv", 5: "ifdrop",
                     6: "filteraccept", 7: "osdrop", 8: "usrdeliv"}
            s = {"if": ifid, "ts": (hi << 32) | lo}
            for c, v in options(data, body + 12, end, where):
                if len(v) != 8:
                    raise Bad(f"{where}: option {c} of {len(v)} bytes, want 8")
                s[names.get(c, f"opt{c}")] = ts(v) if c in (2, 3) else struct.unpack("<Q", v)[0]
            res["isbs"].append(s)
        else:
            res["other"] += 1
        off += blen
    if res["shb"] is None:
        raise Bad("empty file: no SHB")
    return res


if __name__ == "__main__":
    try:
        r = read(sys.argv[1])
    except Bad as e:
        print(f"{sys.argv[1]}: {e}", file=sys.stderr)
        sys.exit(1)
    json.dump(r, sys.stdout)
    print()
