#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Soak: `load` as a service runs it (rotated -w, -o with retention, --json-log, --metrics)
# under continuous mixed traffic for SOAK_SECS, sampled every SOAK_STEP seconds into a CSV
# and drawn into a PNG. What must hold, each printed as PASS or FAIL:
#   - the capture is alive at the end and stops with status 0 on SIGTERM
#   - RSS is flat after the warm-up: the least-squares slope of its floor (the least RSS of
#     each minute) after SOAK_WARMUP seconds is under 1% of its mean per 10 minutes. The
#     floor, not every sample: the ring reader's queue takes and gives back chunks as bursts
#     come and go (bounded by --queue-size), a sawtooth of up to its size that says nothing
#     of a leak; a leak raises the floor. The samples' own slope and peak are printed too.
#   - no fd growth: the most fds open after the warm-up is at most 16 above the most open
#     during it (the -o files of the streams open at a sample come and go)
#   - disk within the caps (blocks in use, as du counts them: an -o file with a gap is sparse):
#     the -w files hold at most C x W MB (plus one record), the -o
#     tree at most --max-output-bytes plus what open streams hold (SOAK_SLACK_MB)
#   - every rotated pcap is read to its end by tcpdump (exit status 0) and replayed by
#     xdp-sniff
#
# The traffic, all at once, between a client namespace (the capturer, the clients) and a
# server namespace (nginx), over a veth pair:
#   - wrk bursts: 2 s of wrk -c2 with a new connection per request, then 13 s of quiet
#   - long downloads: curl of a 64 MB file at 2 MB/s, one after the other
#   - idle keep-alive connections: 32 connections that send a request every 20 s
#   - churn: curl of a small file in a loop with short pauses
#
#   SOAK_SECS     how long (default 1200: 20 minutes)
#   SOAK_STEP     seconds between samples (default 10)
#   SOAK_WARMUP   seconds of warm-up left out of the slope (default a fifth of SOAK_SECS)
#   SOAK_DIR      where the outputs go (default /tmp; say a disk to measure a disk)
#   SOAK_OUT      directory to copy soak.csv and soak.png to (default build/bench)
#   BENCH_KEEP=1  keep the work directory
set -u
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
BIN=$PWD/build/xdp-sniff
SECS=${SOAK_SECS:-1200}
STEP=${SOAK_STEP:-10}
WARM=${SOAK_WARMUP:-$((SECS / 5))}
OUTDIR=${SOAK_OUT:-$PWD/build/bench}
ROT_C=2          # -C: millions of bytes per -w file
ROT_W=5          # -W: files in the ring
MAX_O=$((64 << 20)) # --max-output-bytes of the -o tree
SLACK_MB=${SOAK_SLACK_MB:-80}

skip() {
	echo "skip soak: $*"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root for the network namespaces"
[ -x "$BIN" ] || skip "build/xdp-sniff not built (run make)"
for t in ip nginx wrk curl tcpdump python3 gnuplot; do
	command -v "$t" >/dev/null || skip "$t not installed (scripts/deps.sh installs it)"
done
"$BIN" load --help 2>&1 | grep -q -- '--metrics' || skip "this build has no --metrics"

. scripts/netns.sh # xs_netns_pick_net
TAG=k$$
NSC=xs-$TAG-c
NSS=xs-$TAG-s
VC=xs${TAG}c
VS=xs${TAG}s
W=$(mktemp -d "${SOAK_DIR:-/tmp}/soak.XXXXXX")
CAP_PID="" NGINX_PID="" UP=0 GEN_PIDS=""

cleanup() {
	trap - EXIT INT TERM
	for p in $GEN_PIDS; do kill "$p" 2>/dev/null; done
	if [ -n "$CAP_PID" ]; then
		kill -TERM "$CAP_PID" 2>/dev/null
		sleep 1
		kill -KILL "$CAP_PID" 2>/dev/null
	fi
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
	if [ "$UP" = 1 ]; then
		for ns in "$NSC" "$NSS"; do
			ip netns list 2>/dev/null | grep -qw "^$ns" || continue
			for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
			ip netns del "$ns" 2>/dev/null
		done
	fi
	wait 2>/dev/null
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo interrupted; exit 130' INT TERM

n=$(xs_netns_pick_net "$$") || skip "no free /24 in 198.18.0.0/16"
CLI=198.18.$n.1
SRV=198.18.$n.2
UP=1
{ ip netns add "$NSC" && ip netns add "$NSS" && ip link add "$VC" type veth peer name "$VS" &&
	ip link set "$VC" netns "$NSC" && ip link set "$VS" netns "$NSS" &&
	ip -n "$NSC" addr add "$CLI/24" dev "$VC" && ip -n "$NSS" addr add "$SRV/24" dev "$VS" &&
	ip -n "$NSC" link set lo up && ip -n "$NSS" link set lo up &&
	ip -n "$NSC" link set "$VC" up && ip -n "$NSS" link set "$VS" up &&
	ip netns exec "$NSC" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
} || skip "cannot set up the namespaces"
inc() { ip netns exec "$NSC" "$@"; }

mkdir -p "$W/www" "$W/tmp" "$W/cap" "$W/flows" "$W/logs"
head -c 16384 /dev/urandom >"$W/www/small"
head -c $((64 << 20)) /dev/urandom >"$W/www/big"
chmod -R a+rX "$W"
nginx_conf "$W/nginx.conf" "$W" "$SRV:80" 2
# idle keep-alive connections stay open between their requests
sed -i 's/access_log off;/access_log off;\n\tkeepalive_timeout 300s;\n\tkeepalive_requests 100000;/' "$W/nginx.conf"
ip netns exec "$NSS" nginx -c "$W/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 100); do
	inc curl -s -o /dev/null "http://$SRV/small" && break
	sleep 0.1
done
inc curl -s -o /dev/null "http://$SRV/small" || skip "nginx does not serve in the namespace"

MPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# shellcheck disable=SC2016
ip netns exec "$NSC" sh -c 'mount -t bpf bpf /sys/fs/bpf && exec "$@"' sh \
	"$BIN" load "$VC" -p 80 -q -w "$W/cap/cap.pcap" -C "$ROT_C" -W "$ROT_W" \
	-o "$W/flows" --max-output-bytes "$MAX_O" --json-log "$W/logs/streams.json" \
	--metrics "127.0.0.1:$MPORT" >"$W/cap.err" 2>&1 &
CAP_PID=$!
for _ in $(seq 100); do
	inc curl -s "http://127.0.0.1:$MPORT/metrics" 2>/dev/null | grep -q '^xdp_sniff_' && break
	kill -0 "$CAP_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$CAP_PID" 2>/dev/null || { cat "$W/cap.err"; echo "FAIL soak: load did not start"; exit 1; }

# the traffic generators, each a loop until killed
inc sh -c 'while :; do wrk -t1 -c2 -d2s -H "Connection: close" "$1" >/dev/null 2>&1; sleep 13; done' \
	sh "http://$SRV/small" &
GEN_PIDS="$GEN_PIDS $!"
inc sh -c 'while :; do curl -s -o /dev/null --limit-rate 2M "$1"; done' sh "http://$SRV/big" &
GEN_PIDS="$GEN_PIDS $!"
inc sh -c 'while :; do curl -s -o /dev/null "$1"; sleep 0.05; done' sh "http://$SRV/small" &
GEN_PIDS="$GEN_PIDS $!"
inc python3 - "$SRV" <<'EOF' &
import socket, sys, time
srv = sys.argv[1]
conns = []
for _ in range(32):
    s = socket.create_connection((srv, 80))
    conns.append(s)
req = b"GET /small HTTP/1.1\r\nHost: soak\r\n\r\n"
while True:
    for i, s in enumerate(conns):
        try:
            s.sendall(req)
            got = 0
            while got < 16384:  # the body; the header comes first, read past it loosely
                d = s.recv(65536)
                if not d:
                    raise OSError
                got += len(d)
        except OSError:
            conns[i] = socket.create_connection((srv, 80))
    time.sleep(20)
EOF
GEN_PIDS="$GEN_PIDS $!"

echo "soak: $SECS s, a sample every $STEP s, warm-up $WARM s; outputs under $W ($(stat -f -c %T "$W"))"
echo "  $BIN load $VC -p 80 -q -w cap.pcap -C $ROT_C -W $ROT_W -o flows --max-output-bytes $MAX_O"
echo "      --json-log streams.json --metrics 127.0.0.1:$MPORT"
CSV=$W/soak.csv
echo "t,rss_kb,fds,pcap_bytes,flows_bytes,json_bytes,packets,streams,ring_drops,cpu_s" >"$CSV"
HZ=$(getconf CLK_TCK)
metric() { # FILE NAME-PREFIX: the sum of the samples of the metrics whose names start so
	awk -v p="$2" 'index($1, p) == 1 && $1 !~ /^#/ {s += $NF} END {printf "%d", s}' "$1"
}
t0=$(date +%s)
while :; do
	now=$(($(date +%s) - t0))
	[ "$now" -ge "$SECS" ] && break
	kill -0 "$CAP_PID" 2>/dev/null || break
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$CAP_PID/status" 2>/dev/null)
	fds=$(find "/proc/$CAP_PID/fd" -mindepth 1 2>/dev/null | wc -l)
	pb=$(du -s --block-size=1 "$W/cap" 2>/dev/null | cut -f1)
	fb=$(du -s --block-size=1 "$W/flows" 2>/dev/null | cut -f1)
	jb=$(du -s --block-size=1 "$W/logs" 2>/dev/null | cut -f1)
	inc curl -s -m 5 "http://127.0.0.1:$MPORT/metrics" >"$W/m.txt" 2>/dev/null
	echo "$now,${rss:-0},$fds,$pb,$fb,$jb,$(metric "$W/m.txt" xdp_sniff_packets_matched),$(metric "$W/m.txt" xdp_sniff_streams_opened_total),$(metric "$W/m.txt" xdp_sniff_packets_ring_full_total),$(($(proc_ticks "$CAP_PID") / HZ))" >>"$CSV"
	sleep "$STEP"
done
alive=0
kill -0 "$CAP_PID" 2>/dev/null && alive=1
for p in $GEN_PIDS; do kill "$p" 2>/dev/null; done
GEN_PIDS=""
sleep 1
rc=-
if [ "$alive" = 1 ]; then
	kill -TERM "$CAP_PID"
	wait "$CAP_PID"
	rc=$?
fi
CAP_PID=""

fails=0
verdict() { # OK WHAT
	if [ "$1" = 1 ]; then echo "PASS soak: $2"; else echo "FAIL soak: $2"; fails=$((fails + 1)); fi
}
verdict "$([ "$alive" = 1 ] && [ "$rc" = 0 ] && echo 1)" "alive for $SECS s, exit status $rc on SIGTERM"
# slope (kB per s) of "t rss" lines, against their mean, per 10 minutes: "pct mean n"
slope_pct() {
	awk '{n++; x += $1; y += $2; xx += $1 * $1; xy += $1 * $2}
	END {if (n < 3) {print 0, 0, n; exit} b = (n * xy - x * y) / (n * xx - x * x)
		printf "%.3f %.0f %d\n", 100 * b * 600 / (y / n), y / n, n}'
}
read -r pct mean nsamp < <(awk -F, -v w="$WARM" 'NR > 1 && $1 >= w {m = int($1 / 60) * 60
	if (!(m in f) || $2 < f[m]) f[m] = $2} END {for (m in f) print m, f[m]}' "$CSV" | sort -n | slope_pct)
read -r apct amean _ < <(awk -F, -v w="$WARM" 'NR > 1 && $1 >= w {print $1, $2}' "$CSV" | slope_pct)
peak=$(awk -F, -v w="$WARM" 'NR > 1 && $1 >= w && $2 > p {p = $2} END {print p + 0}' "$CSV")
verdict "$(awk -v p="$pct" -v n="$nsamp" 'BEGIN {print ((n >= 3 && p < 1) ? 1 : 0)}')" \
	"RSS floor after warm-up: mean $mean kB, slope $pct% per 10 min over $nsamp minutes (bound 1%); every sample: mean $amean kB, slope $apct%, peak $peak kB"
read -r fwarm fafter < <(awk -F, -v w="$WARM" 'NR > 1 {if ($1 < w) {if ($3 > a) a = $3} else if ($3 > b) b = $3} END {print a + 0, b + 0}' "$CSV")
verdict "$([ "$fafter" -le $((fwarm + 16)) ] && echo 1)" "fds: at most $fwarm during warm-up, $fafter after"
pmax=$(awk -F, 'NR > 1 && $4 > m {m = $4} END {print m + 0}' "$CSV")
fmax=$(awk -F, 'NR > 1 && $5 > m {m = $5} END {print m + 0}' "$CSV")
verdict "$([ "$pmax" -le $((ROT_C * ROT_W * 1000000 + 262144 + 65536)) ] && echo 1)" \
	"-w files at most $pmax bytes (cap -C $ROT_C x -W $ROT_W MB)"
verdict "$([ "$fmax" -le $((MAX_O + SLACK_MB * 1048576)) ] && echo 1)" \
	"-o tree at most $fmax bytes (--max-output-bytes $MAX_O, plus $SLACK_MB MB for open streams)"
nfiles=0 bad=0
for f in "$W"/cap/cap.pcap*; do
	[ -e "$f" ] || continue
	nfiles=$((nfiles + 1))
	tcpdump -r "$f" -nn >/dev/null 2>"$W/td.err" || { bad=$((bad + 1)); echo "  tcpdump -r ${f##*/}: $(tail -1 "$W/td.err")"; }
	"$BIN" replay "$f" -q -j >/dev/null 2>"$W/rp.err" || { bad=$((bad + 1)); echo "  replay ${f##*/}: $(tail -1 "$W/rp.err")"; }
done
verdict "$([ "$nfiles" -ge 2 ] && [ "$bad" = 0 ] && echo 1)" "$nfiles rotated pcaps: every one read by tcpdump and replayed ($bad failures)"

echo "last sample: $(tail -1 "$CSV")"
echo "summary at exit:"
grep -v '^$' "$W/cap.err" | tail -25 | sed 's/^/  /'
mkdir -p "$OUTDIR"
cp "$CSV" "$OUTDIR/soak.csv"
gnuplot <<EOF 2>&1 | sed 's/^/  gnuplot: /'
set terminal pngcairo size 1200,900 noenhanced
set output "$OUTDIR/soak.png"
set datafile separator ","
set multiplot layout 3,1 title "xdp-sniff soak: $SECS s, sample every $STEP s"
set xlabel "seconds"
set ylabel "RSS (kB)"
set y2label "open fds"
set y2tics
set key top left
plot "$CSV" using 1:2 skip 1 with lines title "RSS kB", "" using 1:3 skip 1 axes x1y2 with lines title "fds"
set ylabel "MB"
unset y2label
unset y2tics
plot "$CSV" using 1:(\$4/1e6) skip 1 with lines title "-w files", "" using 1:(\$5/1e6) skip 1 with lines title "-o tree", "" using 1:(\$6/1e6) skip 1 with lines title "--json-log"
set ylabel "count"
set y2label "CPU s"
set y2tics
plot "$CSV" using 1:7 skip 1 with lines title "packets matched", "" using 1:8 skip 1 with lines title "streams", "" using 1:10 skip 1 axes x1y2 with lines title "CPU s"
unset multiplot
EOF
echo "plot: $OUTDIR/soak.png, samples: $OUTDIR/soak.csv"
[ "$fails" = 0 ] || exit 1
exit 0
