#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# --http on replayed captures:
#  - every shared capture replays with --http (and --http-bodies, --decode) with exit 0, every
#    line JSON; through the kernel too when root, with the same output;
#  - per connection, the requests (method, target) and the responses (status) we report are
#    those tshark finds: tshark -Y http.request / http.response on the same file;
#  - a capture written here with malformed HTTP (a bad request line, binary garbage, an
#    oversized head, a bad chunk size) and a lost segment in a keep-alive connection: each is
#    flagged, nothing crashes, and the exchanges around them are whole.
set -u
. "$(dirname "$0")/lib.sh"

[ -x "$XS" ] || { skp http-replay "$XS is not built (run make)"; finish; }
kernel=1
[ "$(id -u)" -eq 0 ] || kernel=0

# replay_http NAME FILE: host (and kernel) replay into $tmp/NAME.{host,kernel}.http
replay_http()
{
	local name=$1 f=$2 mode extra rc

	for mode in host kernel; do
		[ $mode = kernel ] && [ $kernel = 0 ] && continue
		extra=()
		[ $mode = kernel ] && extra=(--kernel)
		rm -rf "$tmp/$name.$mode.bodies"
		"$XS" replay "$f" "${extra[@]}" -q --http --decode --http-bodies "$tmp/$name.$mode.bodies" \
			>"$tmp/$name.$mode.http" 2>"$tmp/$name.$mode.err"
		rc=$?
		if [ $rc -ne 0 ]; then
			bad "http-replay-$mode $name" "exit $rc: $(tail -1 "$tmp/$name.$mode.err")"
			return 1
		fi
	done
	if ! python3 -c '
import json, sys
for i, l in enumerate(open(sys.argv[1]), 1):
    o = json.loads(l)
    assert isinstance(o, dict) and "stream" in o, f"line {i}"
' "$tmp/$name.host.http" 2>"$tmp/$name.json.err"; then
		bad "http-json $name" "$(tail -1 "$tmp/$name.json.err")"
		return 1
	fi
	if [ $kernel = 1 ] && ! cmp -s "$tmp/$name.host.http" "$tmp/$name.kernel.http"; then
		bad "http-kernel-equals-host $name" "kernel and host replay differ"
		return 1
	fi
}

# compare_tshark FILE HTTPLOG: per client endpoint, the ordered requests and statuses.
compare_tshark()
{
	local f=$1 log=$2

	tshark -r "$f" -Y http.request -T fields -E separator=/t -e ip.src -e ipv6.src -e tcp.srcport \
		-e http.request.method -e http.request.uri >"$tmp/req.tsv" 2>/dev/null || return 2
	tshark -r "$f" -Y http.response -T fields -E separator=/t -e ip.dst -e ipv6.dst -e tcp.dstport \
		-e http.response.code >"$tmp/resp.tsv" 2>/dev/null || return 2
	python3 - "$tmp/req.tsv" "$tmp/resp.tsv" "$log" <<'EOF'
import collections, ipaddress, json, sys
req_tsv, resp_tsv, log = sys.argv[1:4]

def addr(a):
    return str(ipaddress.ip_address(a.split(',')[0]))

def rows(path):
    for line in open(path):
        f = line.rstrip('\n').split('\t')
        if len(f) >= 4:
            yield (addr(f[0] or f[1]), int(f[2].split(',')[0])), f[3:]

t_req, t_resp = collections.defaultdict(list), collections.defaultdict(list)
for k, (m, u) in rows(req_tsv):
    t_req[k].append((m, u))
for k, (c,) in rows(resp_tsv):
    # a frame carrying several responses lists their codes with commas
    t_resp[k] += [int(x) for x in c.split(',')]
o_req, o_resp = collections.defaultdict(list), collections.defaultdict(list)
for line in open(log):
    o = json.loads(line)
    if 'not_http' in o:
        continue
    k = (addr(o['client']), o['client_port'])
    if o['method'] is not None:
        o_req[k].append((o['method'], o['target']))
    if o['status'] is not None:
        o_resp[k].append(o['status'])
bad = []
for what, t, ours in (('requests', t_req, o_req), ('responses', t_resp, o_resp)):
    for k in sorted(set(t) | set(ours)):
        if t.get(k, []) != ours.get(k, []):
            bad.append(f'{what} of {k[0]}:{k[1]}: tshark {t.get(k, [])[:3]}, ours {ours.get(k, [])[:3]}')
if bad:
    print('; '.join(bad[:3]))
    sys.exit(1)
print(f'{sum(map(len, t_req.values()))} requests, {sum(map(len, t_resp.values()))} responses')
EOF
}

# 1. the shared captures
if [ -d "$PCAPS" ]; then
	for f in "$PCAPS"/*.pcap "$PCAPS"/*.pcapng; do
		[ -f "$f" ] || continue
		n=$(basename "$f")
		replay_http "$n" "$f" || continue
		if ! command -v tshark >/dev/null; then
			ok "http-replay $n"
			continue
		fi
		if out=$(compare_tshark "$f" "$tmp/$n.host.http" 2>&1); then
			ok "http-tshark $n ($out)"
		else
			bad "http-tshark $n" "$out"
		fi
	done
	command -v tshark >/dev/null || skp http-tshark "tshark is not installed"
else
	skp http-replay "no $PCAPS (the shared test captures are not here)"
fi

# 2. a capture of malformed HTTP and a lost segment, written here
python3 - "$tmp/malformed.pcap" <<'EOF'
import struct, sys

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

recs = []
t = [1700000000.0]

def frame(src, dst, sp, dp, seq, ack, flags, data=b''):
    tcp = struct.pack('!HHIIBBHHH', sp, dp, seq & 0xffffffff, ack & 0xffffffff, 5 << 4, flags,
                      65535, 0, 0) + data
    ph = bytes(src) + bytes(dst) + struct.pack('!BBH', 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', csum(ph + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, bytes(src),
                     bytes(dst))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    eth = b'\x02\0\0\0\0\x02' + b'\x02\0\0\0\0\x01' + b'\x08\x00'
    t[0] += 0.001
    pkt = eth + ip + tcp
    recs.append(struct.pack('<IIII', int(t[0]), int(t[0] % 1 * 1e6), len(pkt), len(pkt)) + pkt)

def conn(port, msgs, drop=()):
    """msgs: (direction, bytes) in order; 0 client->server. Segments in drop (their index
    among data segments) are not written."""
    c, s = [198, 18, 0, 1], [198, 18, 0, 2]
    cs, ss = 1000, 5000
    frame(c, s, port, 80, cs, 0, 0x02)
    frame(s, c, 80, port, ss, cs + 1, 0x12)
    cs += 1; ss += 1
    frame(c, s, port, 80, cs, ss, 0x10)
    n = 0
    for d, data in msgs:
        for i in range(0, len(data), 1000):
            seg = data[i:i + 1000]
            if n not in drop:
                if d == 0:
                    frame(c, s, port, 80, cs, ss, 0x18, seg)
                else:
                    frame(s, c, 80, port, ss, cs, 0x18, seg)
            n += 1
            if d == 0:
                cs += len(seg)
            else:
                ss += len(seg)
    frame(c, s, port, 80, cs, ss, 0x11)
    frame(s, c, 80, port, ss, cs + 1, 0x11)
    frame(c, s, port, 80, cs + 1, ss + 1, 0x10)

ok = b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
conn(40001, [(0, b'GET /bad junk HTTP/1.1\r\nHost: x\r\n\r\n'),
             (1, b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')])
conn(40002, [(0, bytes((i * 37 + 11) % 256 for i in range(3000))),
             (1, b'\x15\x03\x03\x00\x02\x02\x28')])
conn(40003, [(0, b'GET /huge HTTP/1.1\r\n' + b'X-Big: ' + b'a' * 90000 + b'\r\n\r\n'
              b'GET /after-huge HTTP/1.1\r\n\r\n'),
             (1, b'HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n' + ok)])
conn(40004, [(0, b'GET /badchunk HTTP/1.1\r\n\r\n'),
             (1, b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n'),
             (0, b'GET /after-chunk HTTP/1.1\r\n\r\n'), (1, ok)])
# keep-alive with a lost segment inside the second response's 3000-byte body: segments
# 0 req1, 1 resp1, 2 req2, 3-6 resp2 (head+body in 1000-byte pieces), 7 req3, 8 resp3
body = bytes(i % 251 for i in range(3000))
conn(40005, [(0, b'GET /1 HTTP/1.1\r\n\r\n'), (1, ok),
             (0, b'GET /2 HTTP/1.1\r\n\r\n'),
             (1, b'HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n' + body),
             (0, b'GET /3 HTTP/1.1\r\n\r\n'), (1, ok)], drop={4})
conn(40006, [(0, b'GET /fine HTTP/1.1\r\n\r\n'), (1, ok)])
open(sys.argv[1], 'wb').write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1) +
                              b''.join(recs))
EOF
if replay_http malformed "$tmp/malformed.pcap"; then
	if out=$(python3 - "$tmp/malformed.host.http" "$tmp/malformed.host.bodies" <<'EOF'
import json, os, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for o in objs:
    by.setdefault(o['client_port'], []).append(o)
bad = []
def check(port, n, cond, why):
    xs = by.get(port, [])
    if len(xs) <= n or not cond(xs[n]):
        bad.append(f'port {port} #{n}: {why}: {json.dumps(xs[n])[:200] if len(xs) > n else "missing"}')
check(40001, 0, lambda o: o['target'] == '/bad' and o['status'] == 400 and
      'request_parse_error' in o['flags'] and o['request_error']['offset'] == 9, 'bad request line')
check(40002, 0, lambda o: o.get('not_http') == 'request', 'garbage not reported as not HTTP')
if len(by.get(40002, [])) != 1:
    bad.append('garbage reported more than once')
check(40003, 0, lambda o: o['target'] == '/huge' and o['status'] == 431 and
      o['request_error']['error'] == 'HPE_HEADER_OVERFLOW', 'oversized head')
check(40003, 1, lambda o: o['target'] == '/after-huge' and o['status'] == 200 and
      'request_resumed' in o['flags'], 'request after the oversized head')
check(40004, 0, lambda o: o['response_error']['error'] == 'HPE_INVALID_CHUNK_SIZE', 'bad chunk')
check(40004, 1, lambda o: o['target'] == '/after-chunk' and o['status'] == 200 and
      o['response_body_bytes'] == 2, 'after the bad chunk')
check(40005, 0, lambda o: o['target'] == '/1' and not o['flags'], 'before the gap')
check(40005, 1, lambda o: o['target'] == '/2' and o['response_truncated_by'] == 'gap' and
      o['response_body_missing'] == 1000 and o['response_body_bytes'] == 2000, 'the gap')
check(40005, 2, lambda o: o['target'] == '/3' and o['status'] == 200 and not o['flags'],
      'after the gap')
check(40006, 0, lambda o: o['target'] == '/fine' and not o['flags'], 'the last connection')
f = by.get(40005, [{}] * 2)[1].get('response_body_file')
if f:
    got = open(os.path.join(sys.argv[2], f), 'rb').read()
    want = bytes(i % 251 for i in range(3000))
    # the lost segment held bytes 1000-1961 of the head-and-body stream: a hole of NULs
    if len(got) != 3000 or got[:900] != want[:900] or got[-1000:] != want[-1000:]:
        bad.append(f'body file {f} of the response with a gap is wrong ({len(got)} bytes)')
else:
    bad.append('no body file for the response with a gap')
if bad:
    print('; '.join(bad[:3]))
    sys.exit(1)
EOF
	); then
		ok "http-malformed (bad request line, garbage, oversized head, bad chunk size, gap)"
	else
		bad "http-malformed" "$out"
	fi
fi

finish
