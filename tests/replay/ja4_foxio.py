#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks our ja4 / ja4_r against FoxIO's reference output for one of their captures.

usage: ja4_foxio.py EXPECTED_JSON TLSLOG

EXPECTED_JSON is FoxIO's python/test/testdata/CAPTURE.json (their JA4 implementation's output
on pcap/CAPTURE): per TCP stream, JA4.1 / JA4_r.1 of its first ClientHello. Streams over UDP
(QUIC) are not ours. Prints "N equal" and exits 0, or the differences and exits 1; exits 2
when the capture has no TCP ClientHello to compare.
"""
import ipaddress
import json
import sys

exp, log = sys.argv[1:3]
# Where FoxIO's reference output departs from the published specification, the specification
# (technical_details/JA4.md) decides: an ALPN of 0xba 0xad is "not alphanumeric, so the first
# and last characters of the hex representation": "bd" (their implementations print "99").
SPEC = {('192.168.1.168', 50112, 't13d151699_8daaf6152771_e5627efa2ab1'):
        't13d1516bd_8daaf6152771_e5627efa2ab1'}
want = {}
for x in json.load(open(exp)):
    if 'JA4.1' in x and x['JA4.1'].startswith('t'):
        k = (str(ipaddress.ip_address(x['src'])), int(x['srcport']))
        j = SPEC.get(k + (x['JA4.1'],))
        want[k] = (j, None) if j else (x['JA4.1'], x.get('JA4_r.1'))
got = {}
for line in open(log):
    o = json.loads(line)
    got[(o['client'], o['client_port'])] = (o['tls']['ja4'], o['tls']['ja4_r'])
if not want:
    sys.exit(2)
bad = []
for k, (j, r) in want.items():
    if k not in got:
        bad.append(f'{k}: no record of ours')
        continue
    if got[k][0] != j:
        bad.append(f'{k}: ja4 ours {got[k][0]}, FoxIO {j}')
    if r and got[k][1] != r:
        bad.append(f'{k}: ja4_r ours {got[k][1]}, FoxIO {r}')
if bad:
    print('\n'.join(bad[:10]))
    sys.exit(1)
print(f'{len(want)} equal')
