#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# --http on live traffic over a veth pair, checked against what was sent.
#
# Two servers run in a fresh namespace: python's http.server on 8080 (HTTP/1.0, one
# request per connection) serving random files of 0 B to 8 MiB, and a server of
# this test's own on 8081 (HTTP/1.1, keep-alive) that serves the same files with
# Content-Length, deterministic bodies chunked with a trailer or gzip-encoded,
# takes POST uploads (Expect: 100-continue too) and answers a few requests with
# broken framing. curl and small python clients in the root namespace talk to
# them while xdp-sniff captures on the root-side end with --http, --http-log and
# --http-bodies. The JSON must list every exchange with the right method, target,
# status and body lengths, in order per connection, and the body files must hold
# what was sent.
#
# Usage: tests/e2e/test_http.sh   (as root; XDP_SNIFF=path overrides the binary,
#        E2E_KEEP=1 keeps the temp directory)

. "$(dirname "$0")/lib.sh"

e2e_require curl python3 ss tc

SIZES=(0 1 1460 65536 1048576 8388608)
WWW=$E2E_TMP/www
FILES=$WWW/8080 # fetch_all's layout: WWW/PORT/NAME

# The test's own HTTP/1.1 server: python3 server.py PORT WWW
write_server()
{
	cat >"$E2E_TMP/server.py" <<'EOF'
import gzip, os, socketserver, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WWW = sys.argv[2]

def content(n):
    return bytes(i % 251 for i in range(n))

class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def send_body(self, body, ctype='application/octet-stream', extra=()):
        self.send_response(200)
        self.send_header('Content-Type', ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def do_GET(self):
        p = self.path.split('?')[0].split('/')[1:]
        if p[0] == 'f' and len(p) == 2 and os.path.isfile(os.path.join(WWW, p[1])):
            with open(os.path.join(WWW, p[1]), 'rb') as f:
                self.send_body(f.read())
        elif p[0] == 'chunked':
            body = content(int(p[1]))
            self.send_response(200)
            self.send_header('Transfer-Encoding', 'chunked')
            self.send_header('Trailer', 'X-Length')
            self.end_headers()
            for i in range(0, len(body), 1000):
                c = body[i:i + 1000]
                self.wfile.write(b'%x\r\n%s\r\n' % (len(c), c))
            self.wfile.write(b'0\r\nX-Length: %d\r\n\r\n' % len(body))
        elif p[0] == 'gzip':
            self.send_body(gzip.compress(content(int(p[1]))), extra=[('Content-Encoding', 'gzip')])
        elif p[0] == 'badchunk':
            self.send_response(200)
            self.send_header('Transfer-Encoding', 'chunked')
            self.send_header('Connection', 'close')
            self.end_headers()
            self.wfile.write(b'zz\r\nnot a chunk\r\n')
            self.close_connection = True
        else:
            self.send_error(404)

    do_HEAD = do_GET

    def do_POST(self):
        n = 0
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            while True:
                size = int(self.rfile.readline().split(b';')[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    break
                n += len(self.rfile.read(size))
                self.rfile.readline()
        else:
            left = int(self.headers.get('Content-Length', 0))
            while left:
                b = self.rfile.read(min(left, 1 << 16))
                if not b:
                    break
                n += len(b)
                left -= len(b)
        self.send_body(b'got %d\n' % n, 'text/plain')

class S(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

S(('0.0.0.0', int(sys.argv[1])), H).serve_forever()
EOF
}

setup()
{
	make_files "$FILES" "${SIZES[@]}"
	write_server
	e2e_netns_up || { echo "# cannot build the namespace and veth pair" >&2; return 1; }
	e2e_http_server 8080 "$FILES" || { echo "# http.server on 8080 did not start" >&2; return 1; }
	ip netns exec "$XS_NS" python3 "$E2E_TMP/server.py" 8081 "$FILES" \
		>"$E2E_TMP/server-8081.log" 2>&1 &
	E2E_PIDS+=($!)
	E2E_SERVERS+=($!)
	xs_netns_wait_listen 8081 10 || { echo "# the test server on 8081 did not start" >&2; return 1; }
}

# Captures with --http into NAME.http and NAME.bodies: http_start NAME PORT [ARGS...]
http_start()
{
	local name=$1 port=$2

	shift 2
	xs_start "$name" "$XS_IF" -p "$port" --http-log "$E2E_TMP/$name.http" \
		--http-bodies "$E2E_TMP/$name.bodies" "$@"
}

stopped_cleanly()
{
	local name=$1

	xs_stop INT || { WHY="xdp-sniff did not exit within 30 s of SIGINT"; return 1; }
	[ "$XS_RC" -eq 0 ] ||
		{ WHY="exit status $XS_RC: $(tail -n 2 "$E2E_TMP/$name.err" | tr '\n' ' ')"; return 1; }
	[ "$(xs_ring_full "$E2E_TMP/$name.err")" = 0 ] ||
		{ WHY="packets dropped because the ring was full"; return 1; }
	[ ! -s "$E2E_TMP/$name.out" ] ||
		{ WHY="something on stdout with --http-log: $(head -c 100 "$E2E_TMP/$name.out")"; return 1; }
}

# check_http NAME SPEC: SPEC is python that sets `want`, a list of connections, each a list
# of (method, target, status, request body bytes, response body bytes, request body bytes
# sent or None, response body bytes sent or None, {key: value or predicate}); a number may be
# a predicate too (ANY matches anything). Each connection must be one stream of the log with
# exactly those exchanges in that order (streams in any order); the body files must hold the
# bytes sent. Nothing else may be in the log unless SPEC's allow_other(obj) admits it. Flags
# must be empty unless the dict says otherwise.
check_http()
{
	python3 - "$E2E_TMP/$1.http" "$E2E_TMP/$1.bodies" "$FILES" "$2" <<'EOF'
import collections, json, os, sys
log, bodies, www, spec = sys.argv[1:5]
def content(n):
    return bytes(i % 251 for i in range(n))
def f(name):
    return open(os.path.join(www, name), 'rb').read()
allow_other = lambda o: False
ANY = lambda v: True
exec(spec)
objs = []
for i, line in enumerate(open(log, 'rb'), 1):
    try:
        objs.append(json.loads(line))
    except ValueError as e:
        print(f'line {i} of the log is not JSON: {e}')
        sys.exit(1)
streams = collections.OrderedDict()
for o in objs:
    streams.setdefault(o['stream'], []).append(o)
bad = []
used = set()
for conn in want:
    sig = [(m, t) for m, t, *_ in conn]
    hit = None
    for sid, xs in streams.items():
        if sid not in used and [(x.get('method'), x.get('target')) for x in xs] == sig:
            hit = sid
            break
    if hit is None:
        bad.append(f'no stream with exactly the exchanges {sig[:3]}{"..." if len(sig) > 3 else ""} '
                   f'({len(sig)}); streams seen: ' +
                   ', '.join(str([(x.get("method"), x.get("target")) for x in xs][:3])
                             for xs in list(streams.values())[:4]))
        continue
    used.add(hit)
    for n, (x, (m, t, st, qb, rb, qf, rf, extra)) in enumerate(zip(streams[hit], conn), 1):
        where = f'{m} {t} (stream {hit} exchange {x["exchange"]})'
        if x['exchange'] != n:
            bad.append(f'{where}: exchange number {x["exchange"]}, not {n}')
        for k, v in (('status', st), ('request_body_bytes', qb), ('response_body_bytes', rb)):
            if not (v(x[k]) if callable(v) else x[k] == v):
                bad.append(f'{where}: {k} {x[k]}, not {v}')
        for k, v in extra.items():
            got = x.get(k)
            if callable(v):
                if not v(got):
                    bad.append(f'{where}: {k} is {str(got)[:80]}')
            elif got != v:
                bad.append(f'{where}: {k} is {str(got)[:80]}, not {str(v)[:80]}')
        if 'flags' not in extra and x['flags']:
            bad.append(f'{where}: flags {x["flags"]}')
        for k, data in (('request_body_file', qf), ('response_body_file', rf)):
            if data is ANY:
                continue
            if data is None or len(data) == 0:
                if x[k] is not None:
                    bad.append(f'{where}: {k} {x[k]} for an empty body')
                continue
            if x[k] is None:
                bad.append(f'{where}: no {k}')
                continue
            got = open(os.path.join(bodies, x[k]), 'rb').read()
            if got != data:
                bad.append(f'{where}: {x[k]} has {len(got)} bytes that differ from the '
                           f'{len(data)} sent')
for sid, xs in streams.items():
    if sid not in used:
        for x in xs:
            if not allow_other(x):
                bad.append(f'unexpected: {json.dumps(x)[:200]}')
if bad:
    print('; '.join(bad[:5]) + (f' (+{len(bad) - 5} more)' if len(bad) > 5 else ''))
    sys.exit(1)
EOF
}

# http.server (HTTP/1.0): GET of every file, HEAD, a 404; one connection each.
t_http10()
{
	local items=() s

	for s in "${SIZES[@]}"; do items+=("8080/f_$s"); done
	http_start h10 8080 || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-h10" "${items[@]}" || return 1
	"${CURL[@]}" -I -o /dev/null "http://$XS_SRV4:8080/f_65536" || { WHY="curl -I failed"; return 1; }
	curl -sS --noproxy '*' --max-time 60 -o /dev/null "http://$XS_SRV4:8080/nothing-here" ||
		{ WHY="curl of a missing file failed"; return 1; }
	stopped_cleanly h10 || return 1
	WHY=$(check_http h10 "$(cat <<'EOF'
sizes = (0, 1, 1460, 65536, 1048576, 8388608)
want = [[('GET', f'/f_{n}', 200, 0, n, None, f(f'f_{n}'),
          {'version': '1.1', 'response_version': '1.0'})] for n in sizes]
want += [[('HEAD', '/f_65536', 200, 0, 0, None, None, {'response_transfer_encoding': 'none'})],
         [('GET', '/nothing-here', 404, 0, lambda v: v > 0, None, ANY, {})]]
EOF
)") || return 1
}

# The test server: 50 requests on one connection (curl reuses it), chunked bodies with a
# trailer, gzip bodies inflated by --decode, HEAD.
t_keepalive()
{
	local urls=() i spec

	http_start ka 8081 --decode || return 1
	# one curl, many URLs: one connection, reused (-o for each URL)
	for i in $(seq 1 50); do urls+=(-o /dev/null "http://$XS_SRV4:8081/f/f_1460?i=$i"); done
	"${CURL[@]}" "${urls[@]}" || { WHY="curl with 50 URLs failed"; return 1; }
	urls=()
	for i in 0 1 2500 1048576; do urls+=(-o /dev/null "http://$XS_SRV4:8081/chunked/$i"); done
	"${CURL[@]}" "${urls[@]}" || { WHY="curl of the chunked bodies failed"; return 1; }
	"${CURL[@]}" -o /dev/null "http://$XS_SRV4:8081/gzip/100000" \
		-o /dev/null "http://$XS_SRV4:8081/gzip/1" || { WHY="curl of the gzip bodies failed"; return 1; }
	"${CURL[@]}" -I -o /dev/null "http://$XS_SRV4:8081/f/f_8388608" ||
		{ WHY="curl -I failed"; return 1; }
	stopped_cleanly ka || return 1
	spec=$(cat <<'EOF'
ka = [('GET', f'/f/f_1460?i={i}', 200, 0, 1460, None, f('f_1460'), {}) for i in range(1, 51)]
def ch(n):
    return ('GET', f'/chunked/{n}', 200, 0, n, None, content(n),
            {'response_transfer_encoding': 'chunked',
             'response_trailers': [['X-Length', str(n)]]})
# with --decode the file holds the inflated body; the compressed length is the server's
def gz(n):
    return ('GET', f'/gzip/{n}', 200, 0, lambda v: v > 0, None, content(n),
            {'response_body_decoded_bytes': n})
want = [ka, [ch(0), ch(1), ch(2500), ch(1048576)], [gz(100000), gz(1)],
        [('HEAD', '/f/f_8388608', 200, 0, 0, None, None,
          {'response_headers': lambda h: ['Content-Length', '8388608'] in h})]]
EOF
)
	WHY=$(check_http ka "$spec") || return 1
}

# --no-bodies: the kernel skips Content-Length bodies once the sink has their heads; every
# exchange is still reported with its full body length, unflagged, and most body bytes are
# not copied at all.
t_no_bodies()
{
	local urls=() i spec skipped

	# at 200 Mbit/s a 1 MiB body takes 40 ms: the head is parsed long before its end
	ip netns exec "$XS_NS" tc qdisc add dev "$XS_IF_PEER" root tbf rate 200mbit burst 64kb \
		latency 400ms ||
		{ WHY="the tbf qdisc is not available"; return 77; }
	xs_start nb "$XS_IF" -p 8081 --http-log "$E2E_TMP/nb.http" --no-bodies || return 1
	for i in $(seq 1 10); do
		urls+=(-o /dev/null "http://$XS_SRV4:8081/f/f_1048576?i=$i")
		urls+=(-o /dev/null "http://$XS_SRV4:8081/f/f_1460?i=$i")
	done
	"${CURL[@]}" "${urls[@]}" || { WHY="curl with 20 URLs failed"; return 1; }
	ip netns exec "$XS_NS" tc qdisc del dev "$XS_IF_PEER" root
	stopped_cleanly nb || return 1
	spec=$(cat <<'EOF'
want = [sum([[('GET', f'/f/f_1048576?i={i}', 200, 0, 1048576, None, ANY,
               {'response_body_skipped': lambda v: v > 900000}),
              ('GET', f'/f/f_1460?i={i}', 200, 0, 1460, None, ANY,
               {'response_body_skipped': 0})] for i in range(1, 11)], [])]
EOF
)
	WHY=$(check_http nb "$spec") || return 1
	# the summary gives sizes in B, KiB, MiB, ... (one decimal): back to bytes
	skipped=$(sed -n 's/.* \([0-9.]* [KMGTPE]\{0,1\}i\{0,1\}B\) skipped for --no-bodies$/\1/p' \
		"$E2E_TMP/nb.err" | awk '{ n = index("BKMGTPE", substr($2, 1, 1)) - 1
			printf "%.0f", $1 * 1024 ^ n }')
	[ "${skipped:-0}" -gt 9000000 ] ||
		{ WHY="the kernel skipped ${skipped:-no} bytes of 10 MiB of bodies"; return 1; }
}

# Uploads up to 8 MiB (Content-Length and chunked, with and without Expect: 100-continue),
# pipelined requests from a raw socket, and malformed HTTP; the exchange after them is whole.
t_post_pipeline_malformed()
{
	local u=http://$XS_SRV4:8081 spec

	http_start pm 8081 || return 1
	"${CURL[@]}" -o /dev/null -H 'Expect:' --data-binary "@$FILES/f_8388608" "$u/echo" ||
		{ WHY="POST of 8 MiB failed"; return 1; }
	"${CURL[@]}" -o /dev/null -H 'Expect: 100-continue' --data-binary "@$FILES/f_1048576" "$u/echo" ||
		{ WHY="POST with Expect: 100-continue failed"; return 1; }
	"${CURL[@]}" -o /dev/null -H 'Expect:' -H 'Transfer-Encoding: chunked' \
		--data-binary "@$FILES/f_65536" "$u/echo" || { WHY="chunked POST failed"; return 1; }
	python3 - "$XS_SRV4" 8081 "$FILES" <<'EOF' || { WHY="raw clients failed"; return 1; }
import os, socket, sys
host, port, www = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def conn():
    return socket.create_connection((host, port), timeout=20)
def drain(s):
    out = b''
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    return out
# pipelining: five requests in one send, read until the server closes after the last
body = open(os.path.join(www, 'f_65536'), 'rb').read()
s = conn()
s.sendall(b'GET /f/f_1 HTTP/1.1\r\nHost: x\r\n\r\n'
          b'HEAD /f/f_1460 HTTP/1.1\r\nHost: x\r\n\r\n'
          b'GET /chunked/3000 HTTP/1.1\r\nHost: x\r\n\r\n'
          b'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s'
          b'GET /f/f_65536 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % (len(body), body))
r = drain(s)
assert r.count(b'HTTP/1.1 200') == 5, r[:200]
# a bad request line (one that http.server answers with a status line)
s = conn(); s.sendall(b'GET /bad junk HTTP/1.1\r\nHost: x\r\n\r\n'); drain(s)
# binary garbage
s = conn(); s.sendall(bytes((i * 37 + 11) % 256 for i in range(3000))); s.shutdown(socket.SHUT_WR); drain(s)
# a head of 100 KB, more than libhttp-parser takes (80 KiB), in lines http.server takes
s = conn()
s.sendall(b'GET /huge HTTP/1.1\r\nHost: x\r\n' +
          b''.join(b'X-Big-%d: %s\r\n' % (i, b'a' * 4000) for i in range(25)) + b'\r\n')
drain(s)
# a response with a bad chunk size
s = conn(); s.sendall(b'GET /badchunk HTTP/1.1\r\nHost: x\r\n\r\n'); drain(s)
# and all is well afterwards
s = conn(); s.sendall(b'GET /f/f_1460 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
assert drain(s).startswith(b'HTTP/1.1 200')
EOF
	stopped_cleanly pm || return 1
	spec=$(cat <<'EOF'
got = lambda n: b'got %d\n' % n
def post(n, extra=None):
    return ('POST', '/echo', 200, n, len(got(n)), f(f'f_{n}'), got(n), extra or {})
want = [
    [post(8388608, {'request_transfer_encoding': 'content-length'})],
    [post(1048576, {'interim': [[100, 'Continue']]})],
    [post(65536, {'request_transfer_encoding': 'chunked'})],
    [('GET', '/f/f_1', 200, 0, 1, None, f('f_1'), {}),
     ('HEAD', '/f/f_1460', 200, 0, 0, None, None, {}),
     ('GET', '/chunked/3000', 200, 0, 3000, None, content(3000), {}),
     ('POST', '/echo', 200, 65536, len(got(65536)), f('f_65536'), got(65536), {}),
     ('GET', '/f/f_65536', 200, 0, 65536, None, f('f_65536'), {})],
    [('GET', '/bad', 400, 0, ANY, None, ANY,
      {'flags': lambda v: 'request_parse_error' in v,
       'request_error': lambda v: v and v['offset'] == 9})],
    [('GET', '/huge', 404, 0, ANY, None, ANY,
      {'flags': lambda v: 'request_parse_error' in v,
       'request_error': lambda v: v and v['error'] == 'HPE_HEADER_OVERFLOW'})],
    [('GET', '/badchunk', 200, 0, 0, None, None,
      {'flags': lambda v: 'response_parse_error' in v,
       'response_error': lambda v: v and v['error'] == 'HPE_INVALID_CHUNK_SIZE'})],
    [('GET', '/f/f_1460', 200, 0, 1460, None, f('f_1460'), {})],
]
EOF
)
	WHY=$(check_http pm "$spec
def allow_other(o):
    global not_http
    if o.get('not_http') == 'request':
        not_http = True
        return True
    return False
not_http = False
") || return 1
	grep -q '"not_http":"request"' "$E2E_TMP/pm.http" ||
		{ WHY="the binary garbage was not reported as not HTTP"; return 1; }
	[ "$(grep -c '"not_http"' "$E2E_TMP/pm.http")" -eq 1 ] ||
		{ WHY="not HTTP reported more than once"; return 1; }
}

if ! setup; then
	WHY="setting up the namespace and servers failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi

run_test http10_get_head_404 t_http10
run_test keepalive_chunked_gzip t_keepalive
run_test no_bodies_skipped_in_kernel t_no_bodies
run_test post_pipeline_malformed t_post_pipeline_malformed
e2e_finish
