#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Connections picked up without their handshake (issue 21), checked end to end.

usage: roles_check.py XDP_SNIFF TMPDIR [PCAPS]

Writes captures of exchanges whose handshake is cut off and checks that every output sees
the true client: -j (roles, source, inbound), --http (method, target and status of each
exchange as tshark's HTTP dissector pairs them; response_without_request; the one not_http
line), -o (each file, named by its sender, holds that sender's bytes), --tls (client) and
the summary line (client first). Two kinds of captures:
  crafted    HTTP, TLS and other exchanges written here (always run);
  cut        real exchanges from the shared captures in PCAPS, their first frames dropped
             and, for the high-port cases, their ports moved off every port /etc/services
             names (skipped when PCAPS is absent).
Prints "ok NAME", "FAIL NAME: why" or "skip NAME: why" lines for the calling script.
"""
import base64
import json
import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_captures import csum, pcap_bytes, read_pcap, tcp4, write  # noqa: E402

XS, TMP = sys.argv[1], sys.argv[2]
PCAPS = sys.argv[3] if len(sys.argv) > 3 else '../shared/testdata/pcaps'
ETH = b'\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00'
results = {'ok': 0, 'FAIL': 0, 'skip': 0}


def say(kind, name, why=''):
    results[kind] += 1
    print(f'{kind} {name}' + (f': {why}' if why else ''), flush=True)


def check(name, cond, why):
    say('ok' if cond else 'FAIL', name, '' if cond else why)


def services_ports(path='/etc/services'):
    ports = set()
    try:
        for line in open(path, errors='replace'):
            f = line.split('#')[0].split()
            if len(f) >= 2 and f[1].endswith('/tcp') and f[1][:-4].isdigit():
                ports.add(int(f[1][:-4]))
    except OSError:
        pass
    return ports


SERVICES = services_ports()


def free_port(start):
    """The first port from start that /etc/services does not name: neither side's port then
    says who the server is."""
    p = start
    while p in SERVICES:
        p += 1
    return p


HI_S, HI_C = free_port(18080), free_port(45000)
HI_TLS = free_port(18443)


def ip4(s):
    return bytes(int(x) for x in s.split('.'))


class Conv:
    """A conversation written segment by segment, sequence numbers as after a handshake."""

    def __init__(self, c, s, cp, sp):
        self.c, self.s, self.cp, self.sp = ip4(c), ip4(s), cp, sp
        self.cs, self.ss, self.pkts = 1001, 5001, []

    def client(self, data, flags=0x18):
        self.pkts.append(tcp4(self.c, self.s, self.cp, self.sp, self.cs, self.ss, flags, data))
        self.cs += len(data) + (1 if flags & 1 else 0)

    def server(self, data, flags=0x18):
        self.pkts.append(tcp4(self.s, self.c, self.sp, self.cp, self.ss, self.cs, flags, data))
        self.ss += len(data) + (1 if flags & 1 else 0)


def save(name, ips, times=None):
    recs = []
    for i, p in enumerate(ips):
        sec, frac = times[i] if times else (1700000000 + i // 10, (i % 10) * 1000)
        recs.append((sec, frac, len(ETH) + len(p), len(ETH) + len(p), ETH + p))
    path = os.path.join(TMP, name + '.pcap')
    write(TMP, name + '.pcap', pcap_bytes(recs, 1))
    return path


def report(ip, ports):
    """The IPv4 TCP packet ip with its ports mapped through ports, checksum redone."""
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack('!H', ip[2:4])[0]
    ip = ip[:tot]
    sp, dp = struct.unpack('!HH', ip[ihl:ihl + 4])
    tcp = bytearray(ip[ihl:])
    tcp[0:4] = struct.pack('!HH', ports.get(sp, sp), ports.get(dp, dp))
    tcp[16:18] = b'\0\0'
    pseudo = struct.pack('!4s4sBBH', ip[12:16], ip[16:20], 0, 6, len(tcp))
    tcp[16:18] = struct.pack('!H', csum(pseudo + bytes(tcp)))
    return ip[:ihl] + bytes(tcp)


def cut(src, name, drop, ports=None):
    """The IPv4 TCP packets of the shared capture src without its first drop frames (ports
    mapped through ports); None when src is absent."""
    path = os.path.join(PCAPS, src)
    if not os.path.exists(path):
        return None
    _, nano, _, lt, recs = read_pcap(path)
    ips, times = [], []
    for sec, frac, cap, wire, data in recs[drop:]:
        if lt != 1 or data[12:14] != b'\x08\x00':
            continue
        ips.append(report(data[14:], ports or {}))
        times.append((sec, frac * 1000 if nano else frac))
    return save(name, ips, times)


def run(args, path):
    r = subprocess.run([XS, 'replay', path] + args, capture_output=True)
    if r.returncode:
        raise RuntimeError(f'{" ".join(args)}: exit {r.returncode}: '
                           f'{r.stderr.decode(errors="replace").strip().splitlines()[-1:]}')
    return r.stdout.decode(errors='replace')


def tshark_exchanges(path, server_port):
    """(method, target, status) per exchange as tshark's HTTP dissector pairs them."""
    if not shutil.which('tshark'):
        return None
    out = subprocess.run(['tshark', '-r', path, '-d', f'tcp.port=={server_port},http',
                          '-o', 'tcp.desegment_tcp_streams:TRUE', '-Y', 'http', '-T', 'fields',
                          '-e', 'frame.number', '-e', 'http.request.method',
                          '-e', 'http.request.uri', '-e', 'http.response.code',
                          '-e', 'http.request_in'],
                         capture_output=True, text=True).stdout
    reqs, pairs, answered = {}, [], set()
    for line in out.splitlines():
        f = (line.split('\t') + [''] * 5)[:5]
        if f[1]:
            reqs[f[0]] = (f[1], f[2])
    for line in out.splitlines():
        f = (line.split('\t') + [''] * 5)[:5]
        if f[3]:
            m, t = reqs.get(f[4], (None, None))
            if f[4] in reqs:
                answered.add(f[4])
            pairs.append((m, t, int(f[3])))
    for fr, (m, t) in reqs.items():
        if fr not in answered:
            pairs.append((m, t, None))
    return sorted(pairs, key=repr)


def ours_exchanges(out):
    ex, rwr, not_http = [], 0, []
    for line in out.splitlines():
        o = json.loads(line)
        if 'not_http' in o:
            not_http.append(o)
            continue
        ex.append((o['method'], o['target'], o['status']))
        rwr += 'response_without_request' in (o.get('flags') or [])
    return sorted(ex, key=repr), rwr, not_http


def payloads(path):
    """The TCP payload each side sent, by (address, port), in sequence order."""
    _, _, _, _, recs = read_pcap(path)
    segs = {}
    for _, _, _, _, data in recs:
        ip = data[14:]
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack('!H', ip[2:4])[0]
        tcp = ip[ihl:tot]
        sp, _, seq = struct.unpack('!HHI', tcp[:8])
        pl = tcp[(tcp[12] >> 4) * 4:]
        if pl:
            segs.setdefault((ip[12:16], sp), {})[seq] = pl
    out = {}
    for k, d in segs.items():
        b, nxt = b'', None
        for seq in sorted(d):
            pl = d[seq]
            if nxt is not None and seq < nxt:
                pl = pl[nxt - seq:]
            b += pl
            nxt = seq + len(d[seq]) if nxt is None or seq + len(d[seq]) > nxt else nxt
        out[k] = b
    return out


def tcpflow_name(a, ap, b, bp):
    return '%03d.%03d.%03d.%03d.%05d-%03d.%03d.%03d.%03d.%05d' % (*a, ap, *b, bp)


def case(name, path, roles, client, server, http=None, tls=False):
    """client, server: (address bytes, port). http: None (no --http check), 'exchanges' (vs
    tshark, with rwr responses before any request), or 'not_http'."""
    if path is None:
        say('skip', name, f'shared captures not found in {PCAPS}')
        return
    try:
        # every output at once, from one run: each must see the same, true, client
        d = os.path.join(TMP, name + '.flow')
        hl, tl = os.path.join(TMP, name + '.http'), os.path.join(TMP, name + '.tls')
        j = [json.loads(x) for x in
             run(['-j', '-o', d, '--http-log', hl] + (['--tls-log', tl] if tls else []),
                 path).splitlines()]
        check(f'{name} -j: one record', len(j) == 1, f'{len(j)} records')
        if len(j) != 1:
            return
        o = j[0]
        got = (o['roles'], o['source_address'], o['source_port'])
        want = (roles, '.'.join(map(str, client[0])), client[1])
        check(f'{name} -j: roles {roles}, client {want[1]}:{want[2]}', got == want,
              f'got {got}, want {want}')
        sent = payloads(path)
        inb = base64.b64decode(o['inbound'] or '')
        outb = base64.b64decode(o['outbound'] or '')
        check(f'{name} -j: inbound is the client\'s bytes, outbound the server\'s',
              inb == sent.get(client, b'') and outb == sent.get(server, b''),
              f'inbound starts {inb[:16]!r}, outbound {outb[:16]!r}')

        # -o: files named by their sender hold its bytes
        files = sorted(os.listdir(d))
        want_files = {}
        for a, b in ((client, server), (server, client)):
            if sent.get(a):
                want_files[tcpflow_name(a[0], a[1], b[0], b[1])] = sent[a]
        good = files == sorted(want_files) and all(
            open(os.path.join(d, f), 'rb').read() == want_files[f] for f in files)
        check(f'{name} -o: files by sender with their bytes', good,
              f'files {files}, want {sorted(want_files)}')
        # the summary line (the default output, a run of its own) names the client first
        summary = run([], path)
        lead = '%s:%d > %s:%d' % ('.'.join(map(str, client[0])), client[1],
                                  '.'.join(map(str, server[0])), server[1])
        check(f'{name} summary: client first', lead in summary, f'summary {summary.strip()!r}')

        if tls:
            t = [json.loads(x) for x in open(tl)]
            t = [x for x in t if 'client' in x]
            check(f'{name} --tls: the client is the client',
                  len(t) >= 1 and (t[0]['client'], t[0]['client_port']) == want[1:],
                  f'records {[(x.get("client"), x.get("client_port")) for x in t]}')
        if http:
            ex, rwr, nh = ours_exchanges(open(hl).read())
            if http == 'not_http':
                check(f'{name} --http: the one not_http line', len(nh) == 1 and not ex,
                      f'{len(nh)} not_http lines, {len(ex)} exchanges')
            else:
                theirs = tshark_exchanges(path, server[1])
                if theirs is None:
                    say('skip', f'{name} --http vs tshark', 'tshark is not installed')
                elif not theirs:
                    say('skip', f'{name} --http vs tshark', 'tshark finds no HTTP in it')
                else:
                    check(f'{name} --http: {len(theirs)} exchanges as tshark pairs them',
                          ex == theirs and not nh, f'ours {ex} {len(nh)} not_http, tshark {theirs}')
                    first = sum(1 for m, _, _ in theirs if m is None)
                    check(f'{name} --http: {first} response_without_request', rwr == first,
                          f'{rwr} flagged')
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        say('FAIL', name, str(e))


C, S = ip4('198.18.0.1'), ip4('198.18.0.2')
req = [b'GET /a HTTP/1.1\r\nHost: x\r\n\r\n', b'GET /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n',
       b'POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc']
resp = [b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
        b'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
        b'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok']


def http_conv(name, cp, sp, response_first):
    """Keep-alive: three exchanges; response_first drops the first request."""
    cv = Conv('198.18.0.1', '198.18.0.2', cp, sp)
    for i in range(3):
        if i or not response_first:
            cv.client(req[i])
        else:
            cv.cs += len(req[0])
        cv.server(resp[i][:20])
        cv.server(resp[i][20:])
    return save(name, cv.pkts)


# crafted: request-first and response-first on port 80 and on high ports, keep-alive
for sp, cp, tag in ((80, 40001, '80'), (HI_S, HI_C, 'high')):
    for rf in (False, True):
        n = f'crafted-{"response" if rf else "request"}-first-{tag}'
        case(n, http_conv(n, cp, sp, rf), 'content', (C, cp), (S, sp), http='exchanges')

# crafted: a mid-body pickup on high ports: the server's first bytes tell nothing, the
# client's next request does
cv = Conv('198.18.0.1', '198.18.0.2', HI_C, HI_S)
cv.server(b'the end of some body\n')
cv.client(req[1])
cv.server(resp[1])
case('crafted-mid-body-high', save('crafted-mid-body-high', cv.pkts), 'content', (C, HI_C),
     (S, HI_S), http='exchanges')

# crafted: TLS, the ServerHello first, on high ports
hello = b'\x16\x03\x03\x00\x2a\x02\x00\x00\x26\x03\x03' + bytes(32) + b'\x00\x13\x01\x00'
cv = Conv('198.18.0.1', '198.18.0.2', HI_C, HI_TLS)
cv.server(hello)
cv.client(b'\x14\x03\x03\x00\x01\x01')
case('crafted-tls-serverhello-high', save('crafted-tls-serverhello-high', cv.pkts), 'content',
     (C, HI_C), (S, HI_TLS))

# crafted: not HTTP on high ports (the first sender stays the client) and on a named port
for sp, roles, tag in ((HI_S, 'first_seen', 'high'), (22, 'port', 'ssh-22')):
    cv = Conv('198.18.0.1', '198.18.0.2', HI_C, sp)
    cv.server(b'SSH-2.0-OpenSSH_9.2\r\n')
    cv.client(b'SSH-2.0-OpenSSH_9.2\r\n')
    first = (S, sp) if roles == 'first_seen' else (C, HI_C)
    other = (C, HI_C) if roles == 'first_seen' else (S, sp)
    case(f'crafted-not-http-{tag}', save(f'crafted-not-http-{tag}', cv.pkts), roles, first,
         other, http='not_http')

# crafted: a port /etc/services names, against one it does not, and no content to go by
named = sorted(p for p in SERVICES if 1024 <= p < 32768 and p not in (HI_C,))
if named:
    cv = Conv('198.18.0.1', '198.18.0.2', HI_C, named[0])
    cv.server(b'\x00\x01binary')
    cv.client(b'\x00\x02binary')
    case(f'crafted-services-port-{named[0]}', save('crafted-services', cv.pkts), 'port',
         (C, HI_C), (S, named[0]))
else:
    say('skip', 'crafted-services-port', '/etc/services names no port from 1024 on')

# cut from real exchanges (the shared captures)
P = {80: HI_S, 1673: HI_C}
pl = ('zeek__http_pipelined-requests.pcap', ip4('192.168.1.104'), 1673, ip4('63.245.209.11'))
for drop, what in ((3, 'request-first'), (4, 'response-first'), (7, 'mid-body')):
    for ports, tag in (({}, '80'), (P, 'high')):
        n = f'cut-pipelined-{what}-{tag}'
        cp, sp = (HI_C, HI_S) if ports else (1673, 80)
        case(n, cut(pl[0], n, drop, ports), 'content', (pl[1], cp), (pl[3], sp),
             http='exchanges')
n = 'cut-http-get-response-first'
case(n, cut('zeek__http_get.pcap', n, 5), 'content', (ip4('141.142.228.5'), 59856),
     (ip4('192.150.187.43'), 80), http='exchanges')
n = 'cut-tls12-serverhello-high'
case(n, cut('zeek__tls_tls1.2.pcap', n, 4, {443: HI_TLS, 56637: HI_C}), 'content',
     (ip4('10.0.0.80'), HI_C), (ip4('68.233.76.12'), HI_TLS), tls=True)
n = 'cut-tls12-clienthello-high'
case(n, cut('zeek__tls_tls1.2.pcap', n, 3, {443: HI_TLS, 56637: HI_C}), 'content',
     (ip4('10.0.0.80'), HI_C), (ip4('68.233.76.12'), HI_TLS), tls=True)
print(f'{results["ok"]} passed, {results["FAIL"]} failed, {results["skip"]} skipped')
sys.exit(1 if results['FAIL'] else 0)
