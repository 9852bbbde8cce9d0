#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# A demonstration of xdp-sniff that needs nothing but this machine: an HTTP
# server in a private network namespace, reached over a veth pair from the root
# namespace (addresses from 198.18.0.0/15 only; no real interface is touched).
# xdp-sniff captures port 8080 on the root-side end while curl fetches a few
# URLs, then the demo shows what came out: one line per packet, the per-stream
# files (tcpflow's names) and their first lines, and the same capture replayed
# from its pcap with a summary line per stream.
#
# Runs unattended (no terminal needed) and removes everything it made, whatever
# happens. Builds nothing: `make demo` builds first. XDP_SNIFF=path overrides the
# binary (default build/xdp-sniff).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
XS=${XDP_SNIFF:-$ROOT/build/xdp-sniff}
TAG=d$$
PORT=8080

# shellcheck source=netns.sh
. "$ROOT/scripts/netns.sh"

die()
{
	echo "demo: $*" >&2
	exit 1
}

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		exec sudo -n env XDP_SNIFF="$XS" "$0" "$@"
	fi
	die "needs root for the network namespace and the BPF programs (run: sudo make demo)"
fi
[ -x "$XS" ] || die "$XS is not built (run make, or make demo)"
for t in ip python3 curl; do
	command -v "$t" >/dev/null || die "$t is not installed (run scripts/deps.sh)"
done

TMP=$(mktemp -d /tmp/xs-demo.XXXXXX) || die "mktemp failed"
SERVER_PID=
XS_PID=

cleanup()
{
	local rc=$?

	trap - EXIT INT TERM
	if [ -n "$XS_PID" ] && kill -0 "$XS_PID" 2>/dev/null; then
		kill -INT "$XS_PID"
		wait "$XS_PID" 2>/dev/null
	fi
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	# a capture that died without detaching leaves pins: remove them with its veth
	[ ! -d "/sys/fs/bpf/xdp-sniff/${XS_IF:-none}" ] || "$XS" unload "$XS_IF" >/dev/null 2>&1
	xs_netns_down "$TAG"
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Polls CMD every 50 ms for up to SECONDS.
wait_for()
{
	local secs=$1 end

	shift
	end=$(( $(date +%s%N) + secs * 1000000000 ))
	until "$@"; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

attached()
{
	"$XS" status "$XS_IF" 2>/dev/null | grep -q "pid $XS_PID (running)"
}

section()
{
	printf '\n=== %s\n' "$*"
}

section "a web server in namespace xs-$TAG-s, reached over a veth pair"
xs_netns_up "$TAG" || die "cannot create the namespace and veth pair"
echo "root namespace: $XS_IF $XS_HOST4  <-- veth -->  namespace $XS_NS: $XS_IF_PEER $XS_SRV4"

mkdir -p "$TMP/www" "$TMP/flows"
cat >"$TMP/www/index.html" <<'EOF'
<!doctype html>
<title>xdp-sniff demo</title>
<p>Hello from a network namespace.</p>
EOF
echo "hello, world" >"$TMP/www/hello.txt"
printf '{"sniffer": "xdp-sniff", "filter": "in the kernel"}\n' >"$TMP/www/data.json"
head -c 200000 /dev/urandom >"$TMP/www/blob.bin"

ip netns exec "$XS_NS" python3 -m http.server "$PORT" --bind :: --directory "$TMP/www" \
	>"$TMP/http.log" 2>&1 &
SERVER_PID=$!
xs_netns_wait_listen "$PORT" 10 || die "the HTTP server did not start: $(tail -n 3 "$TMP/http.log")"
echo "python3 -m http.server $PORT serving: $(cd "$TMP/www" && echo *)"

section "xdp-sniff load $XS_IF -p $PORT -o FLOWS -w demo.pcap --packets"
"$XS" load "$XS_IF" -p "$PORT" -o "$TMP/flows" -w "$TMP/demo.pcap" --packets \
	>"$TMP/packets.txt" 2>"$TMP/xs.err" &
XS_PID=$!
wait_for 15 attached || die "xdp-sniff did not attach: $(tail -n 3 "$TMP/xs.err")"
"$XS" status "$XS_IF"

section "curl: four requests to port $PORT, one to port 9999 (outside the filter)"
for u in / /hello.txt /data.json /blob.bin /missing; do
	code=$(curl -sS --noproxy '*' --max-time 10 -o "$TMP/body" -w '%{http_code} %{size_download}' \
		"http://$XS_SRV4:$PORT$u") || die "curl http://$XS_SRV4:$PORT$u failed"
	echo "GET $u -> $code bytes"
done
curl -sS --noproxy '*' --max-time 5 "http://$XS_SRV4:9999/" >/dev/null 2>&1
echo "GET :9999/ -> refused (not captured: the filter is port $PORT)"

kill -INT "$XS_PID"
wait "$XS_PID"
rc=$?
XS_PID=
[ "$rc" -eq 0 ] || die "xdp-sniff exited $rc: $(tail -n 3 "$TMP/xs.err")"

section "counters xdp-sniff printed on stderr at exit"
grep -v '^xdp-sniff: capturing' "$TMP/xs.err"

section "one line per packet (first 12 of $(grep -c . "$TMP/packets.txt"))"
head -n 12 "$TMP/packets.txt"

section "per-stream files in FLOWS (tcpflow's names), first lines of each"
( cd "$TMP/flows" && ls -l | tail -n +2 )
for f in "$TMP"/flows/*; do
	printf -- '--- %s\n' "$(basename "$f")"
	# headers only: up to the blank line, printable, at most 6 lines
	sed -n '1,/^\r\?$/p' "$f" | head -n 6 | cut -c1-100 | tr -d '\r' | cat -v
done

section "xdp-sniff replay demo.pcap: the same path from the file, one line per stream"
"$XS" replay "$TMP/demo.pcap" -p "$PORT" 2>"$TMP/replay.err" | grep '^stream' ||
	die "replay printed no stream line: $(tail -n 3 "$TMP/replay.err")"

section "done; removing the namespace, the veth pair and $TMP"
exit 0
