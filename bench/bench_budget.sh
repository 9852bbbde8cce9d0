#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What kernel-side cuts save, side by side in one run: 8 MiB HTTP downloads captured
#   - whole (-o DIR),
#   - with --max-stream-bytes 4096 (-o DIR),
#   - with --http --no-bodies (the kernel skips Content-Length bodies),
# and with no capturer, for the baseline. For each: the machine's busy CPU seconds during
# the downloads (from /proc/stat) minus the baseline's, and the bytes that went through the
# ring (the exit summary). Needs root, python3, curl.
#
#   BENCH_DOWNLOADS  downloads per run (default 20)
set -u
cd "$(dirname "$0")/.."
BIN=$PWD/build/xdp-sniff
N=${BENCH_DOWNLOADS:-20}

skip() {
	echo "skip bench_budget: $*"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root for the network namespace"
[ -x "$BIN" ] || skip "build/xdp-sniff not built (run make)"
for t in ip curl python3 tc; do
	command -v "$t" >/dev/null || skip "$t not installed"
done

. scripts/netns.sh
W=$(mktemp -d /tmp/bench_budget.XXXXXX)
TAG=b$$
XS_PID= SRV_PID=
cleanup() {
	trap - EXIT INT TERM
	[ -n "$XS_PID" ] && kill -INT "$XS_PID" 2>/dev/null && wait "$XS_PID" 2>/dev/null
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null
	xs_netns_down "$TAG" >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
trap 'echo interrupted; exit 130' INT TERM

xs_netns_up "$TAG" >/dev/null || skip "cannot create the namespace"
mkdir -p "$W/www"
head -c 8388608 /dev/urandom >"$W/www/f"
ip netns exec "$XS_NS" python3 -m http.server 80 --bind 0.0.0.0 --directory "$W/www" \
	>/dev/null 2>&1 &
SRV_PID=$!
xs_netns_wait_listen 80 10 || skip "the HTTP server did not start"

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
hz=$(getconf CLK_TCK)

downloads() {
	local i
	for i in $(seq 1 "$N"); do
		curl -s --noproxy '*' -o /dev/null "http://$XS_SRV4/f" || return 1
	done
}

# run LABEL [xdp-sniff load args...]: prints "label cpu_s ring_bytes"
run() {
	local label=$1 b0 b1 ring="-"
	shift
	if [ $# -gt 0 ]; then
		"$BIN" load "$XS_IF" -q "$@" >/dev/null 2>"$W/$label.err" &
		XS_PID=$!
		for _ in $(seq 1 100); do
			"$BIN" status "$XS_IF" 2>/dev/null | grep -q "pid $XS_PID (running)" && break
			sleep 0.05
		done
	fi
	b0=$(busy)
	downloads || echo "downloads failed in $label"
	b1=$(busy)
	if [ -n "$XS_PID" ]; then
		kill -INT "$XS_PID"
		wait "$XS_PID"
		XS_PID=
		# the summary says the size in B, KiB, MiB, ... (one decimal): back to bytes
		ring=$(sed -n 's/.*; \([0-9.]* [KMGTPE]\{0,1\}i\{0,1\}B\) through the ring$/\1/p' \
			"$W/$label.err" | awk '{ n = index("BKMGTPE", substr($2, 1, 1)) - 1
				printf "%.0f", $1 * 1024 ^ n }')
	fi
	echo "$label $(awk -v a="$b0" -v b="$b1" -v h="$hz" 'BEGIN { print (b - a) / h }') $ring"
}

results=$(
	run none
	run whole -p 80 -o "$W/o1"
	run budget4096 -p 80 -o "$W/o2" --max-stream-bytes 4096
	run no_bodies -p 80 --http --http-log "$W/http.log" --no-bodies
)
echo "$N downloads of 8 MiB over a veth pair; CPU = busy seconds of the whole machine"
echo "$results" | awk '
	$1 == "none" { base = $2 }
	{ label[NR] = $1; cpu[NR] = $2; ring[NR] = $3 }
	END {
		printf "%-12s %10s %14s %18s\n", "capture", "CPU s", "extra CPU s", "bytes via ring"
		for (i = 1; i <= NR; i++)
			printf "%-12s %10.2f %14.2f %18s\n", label[i], cpu[i], cpu[i] - base, ring[i]
	}'
echo "exchanges reported with --no-bodies: $(grep -c . "$W/http.log" 2>/dev/null || echo 0) of $N"
