#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# TLS metadata, two figures measured side by side:
#  1. replay of a TLS-heavy capture (BENCH_TLS_CONNS handshakes, TLS 1.2 and 1.3, several SNI
#     names, with certificates) with --tls, against tshark 4.0 extracting the same fields
#     (SNI, ALPN, versions, cipher, JA3, JA3S, certificate names); median of 3 runs each;
#  2. live: BENCH_TLS_DOWNLOADS downloads of 1 MiB over TLS from nginx in a namespace, captured
#     by `load --tls` and by `load --tls --max-stream-bytes 16384`: bytes through the ring and
#     the capturer's CPU time, with the same fields in both outputs.
# Needs root, nginx, openssl, python3, tshark, tcpdump; skips otherwise.
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
. scripts/netns.sh
BIN=${XDP_SNIFF:-$PWD/build/xdp-sniff}
CONNS=${BENCH_TLS_CONNS:-2000}
DL=${BENCH_TLS_DOWNLOADS:-100}
skip() { echo "skip: $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, BPF)"
for t in nginx openssl python3 tshark tcpdump; do command -v $t >/dev/null || skip "$t is not installed"; done
[ -x "$BIN" ] || skip "$BIN is not built"

TAG=bt$$
W=$(mktemp -d /tmp/xs-bench-tls.XXXXXX)
chmod 755 "$W" # nginx's workers read www/ as their own user
cleanup() {
	[ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null
	[ -n "${XPID:-}" ] && kill "$XPID" 2>/dev/null
	wait 2>/dev/null
	xs_netns_down "$TAG" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
xs_netns_up "$TAG" >/dev/null || skip "cannot make the namespace"
mkdir -p "$W/www" "$W/tmp"
head -c 1048576 /dev/urandom >"$W/www/big"
echo hello >"$W/www/index.html"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/O=bench/CN=Bench CA" \
	-keyout "$W/ca.key" -out "$W/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/O=bench/CN=a.test" -keyout "$W/srv.key" -out "$W/srv.csr" 2>/dev/null
printf 'subjectAltName=DNS:a.test,DNS:b.test,DNS:c.test\n' >"$W/ext.cnf"
openssl x509 -req -in "$W/srv.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial -days 2 \
	-extfile "$W/ext.cnf" -out "$W/srv.pem" 2>/dev/null
cat "$W/srv.pem" "$W/ca.pem" >"$W/chain.pem"
cat >"$W/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx.err;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $W/tmp; proxy_temp_path $W/tmp; fastcgi_temp_path $W/tmp;
	uwsgi_temp_path $W/tmp; scgi_temp_path $W/tmp;
	ssl_certificate $W/chain.pem; ssl_certificate_key $W/srv.key;
	server { listen $XS_SRV4:8443 ssl http2; ssl_protocols TLSv1.2; root $W/www; }
	server { listen $XS_SRV4:9443 ssl http2; ssl_protocols TLSv1.3; root $W/www; }
}
CONF
ip netns exec "$XS_NS" nginx -c "$W/nginx.conf" >/dev/null 2>&1 &
NGINX_PID=$!
xs_netns_wait_listen 9443 10 || skip "nginx does not listen"

# clients: N connections, each a GET of PATH, alternating ports and names
cat >"$W/client.py" <<'PY'
import socket, ssl, sys
srv, n, path, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
# the request is HTTP/1.1: offer h2 only when the response does not matter (the handshakes)
h2 = path != 'big'
names = ['a.test', 'b.test', 'c.test']
for i in range(n):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(['h2', 'http/1.1'] if h2 and i % 3 else ['http/1.1'])
    port = 8443 if i % 2 else 9443
    name = names[i % 3]
    with socket.create_connection((srv, port)) as s, ctx.wrap_socket(s, server_hostname=name) as t:
        t.sendall(f'GET /{path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n'.encode())
        while t.recv(65536):
            pass
PY

echo "nginx $(nginx -v 2>&1 | sed 's/.*: //') in $XS_NS, TLS 1.2 on 8443, TLS 1.3 on 9443; tshark $(tshark --version | head -1 | awk '{print $3}')"
# 1. the capture, then replay against tshark
tcpdump -i "$XS_IF" -w "$W/tls.pcap" -s 0 -U tcp >/dev/null 2>&1 &
TPID=$!
sleep 1
python3 "$W/client.py" "$XS_SRV4" "$CONNS" index.html "$W/ca.pem" || skip "the TLS clients failed"
sleep 0.5
kill "$TPID"; wait "$TPID" 2>/dev/null
echo "capture: $CONNS TLS connections (GET of a small page), $(stat -c %s "$W/tls.pcap") bytes"
FIELDS=(-e tcp.stream -e tls.handshake.extensions_server_name -e tls.handshake.extensions_alpn_str
	-e tls.handshake.version -e tls.handshake.extensions.supported_version -e tls.handshake.ciphersuite
	-e tls.handshake.ja3 -e tls.handshake.ja3s -e x509sat.uTF8String -e x509sat.printableString)
ours() { "$BIN" replay "$W/tls.pcap" --no-kernel -q --tls-log "$W/ours.jsonl"; }
theirs() { tshark -r "$W/tls.pcap" -Y 'tls.handshake.type == 1 || tls.handshake.type == 2 || tls.handshake.type == 11' \
	-T fields "${FIELDS[@]}" >"$W/tshark.tsv" 2>/dev/null; }
t_ours=() t_theirs=()
for _ in 1 2 3; do
	s=$(date +%s%N); ours; t_ours+=($(( ($(date +%s%N) - s) / 1000000 )))
	s=$(date +%s%N); theirs; t_theirs+=($(( ($(date +%s%N) - s) / 1000000 )))
done
med() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
mo=$(med "${t_ours[@]}"); mt=$(med "${t_theirs[@]}")
echo "records: ours $(wc -l <"$W/ours.jsonl") TLS streams; tshark $(cut -f1 "$W/tshark.tsv" | sort -u | wc -l) streams with hellos"
echo "| tool | command | ms (runs) | median |"
echo "|---|---|---|---|"
echo "| xdp-sniff | replay FILE --no-kernel --tls-log F | ${t_ours[*]} | $mo |"
echo "| tshark | tshark -r FILE -Y 'hello or certificate' -T fields (SNI, ALPN, versions, cipher, ja3, ja3s, cert names) | ${t_theirs[*]} | $mt |"
echo "ratio tshark / xdp-sniff: $(echo "scale=2; $mt / $mo" | bc)x"

# 2. live downloads, with and without --max-stream-bytes
live() { # NAME ARGS...
	local name=$1
	shift
	"$BIN" load "$XS_IF" -p 8443 -p 9443 --tls-log "$W/$name.jsonl" "$@" >/dev/null 2>"$W/$name.err" &
	XPID=$!
	for _ in $(seq 150); do "$BIN" status "$XS_IF" 2>/dev/null | grep -q "pid $XPID (running)" && break; sleep 0.1; done
	python3 "$W/client.py" "$XS_SRV4" "$DL" big "$W/ca.pem"
	wait_settled "$XPID"
	TICKS=$(proc_ticks "$XPID")
	kill -INT "$XPID"; wait "$XPID" 2>/dev/null; XPID=
	RING=$(sed -n 's/.*; \([0-9]*\) bytes through the ring/\1/p' "$W/$name.err")
	RECS=$(wc -l <"$W/$name.jsonl")
}
live full; r_full=$RING t_full=$TICKS n_full=$RECS; [ -n "${BENCH_DEBUG:-}" ] && cat "$W/full.err"
live cut --max-stream-bytes 16384; r_cut=$RING t_cut=$TICKS n_cut=$RECS
same=$(python3 - "$W/full.jsonl" "$W/cut.jsonl" <<'PY'
import json, sys
def load(f):
    out = []
    for o in map(json.loads, open(f)):
        t = o['tls']
        out.append((t['sni'], t['version'], t['cipher'], t['ja3'], t['ja3s'], t['ja4'],
                    json.dumps(t['certificates']), t['established']))
    return sorted(out)
print('same' if load(sys.argv[1]) == load(sys.argv[2]) else 'DIFFERENT')
PY
)
echo "live: $DL downloads of 1 MiB over TLS (1.2 and 1.3)"
echo "| capture | TLS records | bytes through the ring | capturer CPU ticks (1/100 s) |"
echo "|---|---|---|---|"
echo "| load --tls | $n_full | $r_full | $t_full |"
echo "| load --tls --max-stream-bytes 16384 | $n_cut | $r_cut | $t_cut |"
echo "tls fields of the two runs: $same; ring bytes saved: $(echo "scale=1; 100 - 100 * $r_cut / $r_full" | bc)%"
