#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Runs the seed (../shared/seed/sniff.py) over a classic Ethernet pcap through a fake raw
socket: what its Sniffer.recv_stream() returns, stream after stream, until the file ends.
Used by seed_compare.py (equivalence) and bench/bench_replay.sh (the seed's speed).
Usage: seed_run.py SEED_DIR FILE   prints the streams returned and their bytes"""
import importlib.util
import socket
import struct
import sys


class Done(Exception):
    pass


def frames(path):
    data = open(path, "rb").read()
    magic = data[:4]
    e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(e + "IIII", data[off:off + 16])
        yield data[off + 16:off + 16 + caplen]
        off += 16 + caplen


class FakeSocket:
    def __init__(self, path):
        self.it = frames(path)

    def recvfrom(self, size):
        try:
            return next(self.it), ("eth0", 0x0800, 0, 1, b"")
        except StopIteration:
            raise Done()


def load_seed(seed_dir):
    spec = importlib.util.spec_from_file_location("sniff", seed_dir + "/sniff.py")
    sniff = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sniff)
    return sniff


def seed_streams(seed_dir, path):
    """Every stream the seed returns for the frames of path, in its order."""
    sniff = load_seed(seed_dir)
    real = socket.socket
    socket.socket = lambda *a, **k: FakeSocket(path)
    try:
        s = sniff.Sniffer()
    finally:
        socket.socket = real
    out = []
    while True:
        try:
            out.append(s.recv_stream())
        except Done:
            break
        except (struct.error, sniff.InvalidPacketException):
            # the seed gives up on frames it cannot parse; it has no way to go on
            break
    return out


if __name__ == "__main__":
    got = seed_streams(sys.argv[1], sys.argv[2])
    print("seed: %d streams, %d bytes" % (len(got), sum(len(s["inbound"]) + len(s["outbound"])
                                                        for s in got)))
