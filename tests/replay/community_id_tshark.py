#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks the community_id of every stream of a -j output against tshark's.

usage: community_id_tshark.py CAPTURE JSONL SEED

tshark --enable-protocol communityid gives the ID of every TCP frame; each stream we report
must carry the ID tshark gives the frames of its 4-tuple (one ID per 4-tuple, both ways).
Prints "N streams" and exits 0, or prints the mismatches and exits 1.
"""
import ipaddress
import json
import subprocess
import sys

cap, jsonl, seed = sys.argv[1:4]
out = subprocess.run(
    ['tshark', '-r', cap, '--enable-protocol', 'communityid', '-o', f'communityid.seed:{seed}',
     '-Y', 'tcp', '-T', 'fields', '-E', 'separator=/t', '-e', 'ip.src', '-e', 'ipv6.src',
     '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.dstport', '-e', 'communityid'],
    capture_output=True, text=True, check=True).stdout


def end(a, p):
    return (ipaddress.ip_address(a.split(',')[-1]), int(p.split(',')[0]))


ids = {}
for line in out.splitlines():
    f = line.split('\t')
    if len(f) < 7 or not f[6] or not f[2]:
        continue
    # tunnels and ICMP errors give several addresses: the innermost is the TCP's
    a, b = end(f[0] or f[1], f[2]), end(f[3] or f[4], f[5])
    key = tuple(sorted([a, b], key=lambda e: (e[0].version, e[0].packed, e[1])))
    ids.setdefault(key, set()).add(f[6].split(',')[-1])

bad, n = [], 0
for line in open(jsonl):
    o = json.loads(line)
    a = (ipaddress.ip_address(o['source_address']), o['source_port'])
    b = (ipaddress.ip_address(o['destination_address']), o['destination_port'])
    key = tuple(sorted([a, b], key=lambda e: (e[0].version, e[0].packed, e[1])))
    n += 1
    want = ids.get(key)
    if want is None:
        bad.append(f'stream {o["id"]}: tshark has no communityid for {key}')
    elif o['community_id'] not in want or len(want) != 1:
        bad.append(f'stream {o["id"]}: ours {o["community_id"]}, tshark {sorted(want)}')
if bad:
    print('\n'.join(bad[:10]))
    sys.exit(1)
print(f'{n} streams')
