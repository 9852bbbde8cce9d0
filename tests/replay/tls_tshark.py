#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks the --tls records of a capture against tshark's TLS dissector.

usage: tls_tshark.py CAPTURE TLSLOG

Per TCP connection (client address and port), from tshark 4.0:
  sni, alpn offered      tls.handshake.extensions_server_name / extensions_alpn_str of the
                         first ClientHello
  ja3, ja3_full          tls.handshake.ja3 / ja3_full of the first ClientHello
  version, cipher, alpn  of the last ServerHello: extensions.supported_version, else
                         tls.handshake.version; ciphersuite (id, and its name as tshark -G values
                         gives it); extensions_alpn_str
  ja3s, ja3s_full        tls.handshake.ja3s / ja3s_full of the last ServerHello
  certificates           subject and issuer of every certificate of the first Certificate
                         message of each side (tshark -V), as RFC 2253 strings
Every TLS connection tshark sees must have a record and every record a connection.
Prints a summary and exits 0, or prints the differences and exits 1.
"""
import ipaddress
import json
import re
import subprocess
import sys

cap, log = sys.argv[1:3]


def tshark(*args):
    # out-of-order segments reassembled, as we do (else tshark 4.0 misses a ServerHello
    # sent around a lost segment)
    return subprocess.run(['tshark', '-o', 'tcp.reassemble_out_of_order:TRUE', '-r', cap, *args], capture_output=True, text=True,
                          check=True).stdout


def addr(a):
    return str(ipaddress.ip_address(a.split(',')[0]))


names = {}
for line in subprocess.run(['tshark', '-G', 'values'], capture_output=True, text=True).stdout.splitlines():
    f = line.split('\t')
    if len(f) == 4 and f[0] == 'V' and f[1] == 'tls.handshake.ciphersuite':
        names[int(f[2], 0)] = f[3]

FIELDS = ['ip.src', 'ipv6.src', 'tcp.srcport', 'ip.dst', 'ipv6.dst', 'tcp.dstport',
          'tls.handshake.type', 'tls.handshake.version', 'tls.handshake.extensions.supported_version',
          'tls.handshake.extensions_server_name', 'tls.handshake.extensions_alpn_str',
          'tls.handshake.ciphersuite', 'tls.handshake.ja3', 'tls.handshake.ja3_full',
          'tls.handshake.ja3s', 'tls.handshake.ja3s_full']
out = tshark('-Y', 'tls.handshake.type == 1 || tls.handshake.type == 2', '-T', 'fields',
             '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=;',
             *sum((['-e', f] for f in FIELDS), []))
want = {}
for line in out.splitlines():
    v = dict(zip(FIELDS, line.split('|')))
    src, dst = addr(v['ip.src'] or v['ipv6.src']), addr(v['ip.dst'] or v['ipv6.dst'])
    sport, dport = int(v['tcp.srcport']), int(v['tcp.dstport'])
    # one frame may hold several handshake messages: ';' separates their values
    types = v['tls.handshake.type'].split(';')
    for i, t in enumerate(types):
        # the hello fields have one value per hello of the frame
        i = sum(1 for x in types[:i] if x in ('1', '2'))

        def get(k, i=i):
            xs = v[k].split(';') if v[k] else []
            return xs[i] if i < len(xs) else ''
        if t == '1':
            w = want.setdefault((src, sport), {})
            if 'ja3' in w:
                continue
            w['sni'] = v['tls.handshake.extensions_server_name'] or None
            w['alpn_offered'] = v['tls.handshake.extensions_alpn_str'].split(';') \
                if v['tls.handshake.extensions_alpn_str'] else []
            w['ja3'] = get('tls.handshake.ja3')
            w['ja3_full'] = get('tls.handshake.ja3_full')
        elif t == '2':
            w = want.setdefault((dst, dport), {})
            sv = v['tls.handshake.extensions.supported_version']
            ver = int(sv or get('tls.handshake.version'), 0)
            w['version'] = {0x300: 'SSLv3', 0x301: 'TLSv1.0', 0x302: 'TLSv1.1', 0x303: 'TLSv1.2',
                            0x304: 'TLSv1.3'}.get(ver, f'0x{ver:04x}')
            c = int(get('tls.handshake.ciphersuite'), 0)
            w['cipher_id'] = c
            w['cipher'] = names.get(c, f'0x{c:04x}')
            w['alpn'] = v['tls.handshake.extensions_alpn_str'] or None
            w['ja3s'] = get('tls.handshake.ja3s')
            w['ja3s_full'] = get('tls.handshake.ja3s_full')

# certificates: tshark -V, per frame holding a Certificate message
SHORT = {'commonName': 'CN', 'countryName': 'C', 'localityName': 'L', 'stateOrProvinceName': 'ST',
         'organizationName': 'O', 'organizationalUnitName': 'OU', 'streetAddress': 'street',
         'domainComponent': 'DC', 'pkcs-9-at-emailAddress': 'emailAddress',
         'emailAddress': 'emailAddress', 'serialNumber': 'serialNumber', 'postalCode': 'postalCode',
         'businessCategory': 'businessCategory', 'title': 'title', 'givenName': 'GN',
         'surname': 'SN', 'dnQualifier': 'dnQualifier'}


def rfc2253(items):
    out = []
    for it in reversed(items):
        parts = []
        for av in it.split('+'):
            k, _, val = av.partition('=')
            k = SHORT.get(k.replace('id-at-', ''), k.replace('id-at-', ''))
            val = re.sub(r'([,+"\\<>;])', r'\\\1', val)
            if val.startswith('#') or val.startswith(' '):
                val = '\\' + val
            if val.endswith(' ') and not val.endswith('\\ '):
                val = val[:-1] + '\\ '
            parts.append(f'{k}={val}')
        out.append('+'.join(parts))
    return ','.join(out)


text = tshark('-V', '-Y', 'tls.handshake.type == 11')
certs = {}
cur = None
for line in text.splitlines():
    m = re.match(r'Internet Protocol Version [46], Src: (\S+), Dst: (\S+)', line)
    if m:
        ip_src, ip_dst = m.group(1), m.group(2)
        continue
    m = re.match(r'Transmission Control Protocol, Src Port: (\d+), Dst Port: (\d+)', line)
    if m:
        sport, dport = int(m.group(1)), int(m.group(2))
        frame_certs = None
        continue
    if re.match(r'\s+Certificates \(\d+ bytes\)', line):
        frame_certs = []
        continue
    if re.match(r'\s+Certificate Length: \d+', line) and frame_certs is not None:
        frame_certs.append({'issuer': [], 'subject': []})
        # the side that sent it: the client when its port is the one the ClientHello came from
        key_c, key_s = (addr(ip_src), sport), (addr(ip_dst), dport)
        if key_c in want:
            k, side = key_c, 'client_certificates'
        else:
            k, side = key_s, 'certificates'
        lst = certs.setdefault(k, {}).setdefault(side, [])
        if not lst or lst[-1] is not None:
            pass
        cur_list = lst
        cur_list.append(frame_certs[-1])
        cur = None
        continue
    indent = len(line) - len(line.lstrip(' '))
    m = re.match(r'\s+(issuer|subject): rdnSequence', line)
    if m and frame_certs:
        cur, cur_indent = m.group(1), indent
        continue
    if cur and indent <= cur_indent:
        # past the name (a directoryName in an extension is not it)
        cur = None
    m = re.match(r'\s+RDNSequence item: \d+ items? \((.*)\)$', line)
    if m and frame_certs and cur:
        frame_certs[-1][cur].append(m.group(1))
for k, sides in certs.items():
    for side, lst in sides.items():
        want.setdefault(k, {})[side] = [{'subject': rfc2253(c['subject']),
                                         'issuer': rfc2253(c['issuer'])} for c in lst]

got = {}
for line in open(log):
    o = json.loads(line)
    got[(o['client'], o['client_port'])] = o['tls']

bad, fields = [], 0
for k in sorted(set(want) | set(got), key=str):
    if k not in got:
        bad.append(f'{k}: tshark sees a TLS handshake, we have no record')
        continue
    if k not in want:
        bad.append(f'{k}: we have a TLS record, tshark no handshake')
        continue
    w, g = want[k], got[k]
    for f, wv in w.items():
        gv = g.get(f)
        if f.endswith('certificates'):
            gv = [{'subject': c['subject'], 'issuer': c['issuer']} for c in gv]
        fields += 1
        if gv != wv:
            bad.append(f'{k} {f}: ours {gv!r}, tshark {wv!r}')
if bad:
    print('\n'.join(bad[:20]))
    sys.exit(1)
print(f'{len(got)} TLS streams, {fields} fields equal')
