#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Replay throughput and memory against tcpflow, side by side in one run, and memory per
# open stream. Needs root (netns, veth, tcpdump), nginx or python3, curl, tcpdump, tcpflow.
#
#   BENCH_MB        capture size in MB (default 150)
#   BENCH_RUNS      runs per tool (default 3)
#   BENCH_STREAMS   concurrent connections for the memory figure (default 100000)
#   BENCH_SEED_CONNS connections of 64 KiB in the seed's smaller capture (default 500)
#   BENCH_KEEP=1    keep the work directory
set -u
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
BIN=$PWD/build/xdp-sniff
MB=${BENCH_MB:-150}
RUNS=${BENCH_RUNS:-3}
NSTREAMS=${BENCH_STREAMS:-100000}
NSEED=${BENCH_SEED_CONNS:-500}
SEED=${BENCH_SEED:-$PWD/../shared/seed}

skip() {
	echo "skip bench_replay: $*"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root for the network namespace"
[ -x "$BIN" ] || skip "build/xdp-sniff not built (run make)"
for t in ip tcpdump tcpflow curl python3; do
	command -v "$t" >/dev/null || skip "$t not installed"
done
TIME=/usr/bin/time
[ -x "$TIME" ] || skip "/usr/bin/time not installed (Debian package time)"

tag=xsb$$
NS=${tag}ns
VH=${tag}h # root namespace end (captured)
VP=${tag}p # namespace end (server)
W=$(mktemp -d /tmp/bench_replay.XXXXXX)
TCPDUMP_PID= SERVER_PID=
cpids=()

cleanup() {
	trap - EXIT INT TERM
	for p in "${cpids[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "$TCPDUMP_PID" ] && kill "$TCPDUMP_PID" 2>/dev/null && wait "$TCPDUMP_PID" 2>/dev/null
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	if ip netns list 2>/dev/null | grep -qw "$NS"; then
		# whatever still runs in the namespace (nginx workers) ends with it
		for p in $(ip netns pids "$NS" 2>/dev/null); do kill "$p" 2>/dev/null; done
		ip netns del "$NS" 2>/dev/null
	fi
	ip link del "$VH" 2>/dev/null
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo interrupted; exit 130' INT TERM

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# runs "$@" under GNU time; appends "wall_s rss_kb" to $W/t.$label
timed() {
	local label=$1
	shift
	$TIME -f '%e %M' -o "$W/time.one" "$@" >/dev/null 2>"$W/err.one" ||
		{ echo "FAILED: $*"; cat "$W/err.one" | tail -5; return 1; }
	cat "$W/time.one" >>"$W/t.$label"
}

# RUNS rounds of the commands $cmd_LABEL for each LABEL, in turn, each into a fresh $W/o_LABEL
timed_rounds() {
	local i v c
	for i in $(seq "$RUNS"); do
		for v in "$@"; do
			rm -rf "$W/o_$v"
			mkdir -p "$W/o_$v"
			eval c=\$cmd_$v
			# shellcheck disable=SC2086
			timed "$v" $c || exit 1
		done
	done
}

echo "== replay throughput and memory against tcpflow (work dir $W)"

# ---------------------------------------------------------------- capture
ip netns add "$NS" || skip "cannot create a network namespace"
ip link add "$VH" type veth peer name "$VP" || skip "cannot create a veth pair"
ip link set "$VP" netns "$NS"
ip addr add 198.18.77.1/30 dev "$VH"
ip link set "$VH" up
ip -n "$NS" addr add 198.18.77.2/30 dev "$VP"
ip -n "$NS" link set "$VP" up
ip -n "$NS" link set lo up
if command -v ethtool >/dev/null; then
	ethtool -K "$VH" tso off gso off gro off >/dev/null 2>&1
	ip netns exec "$NS" ethtool -K "$VP" tso off gso off gro off >/dev/null 2>&1
	offl="offloads off (tso gso gro)"
elif ip link set "$VH" gso_max_segs 1 2>/dev/null &&
	ip -n "$NS" link set "$VP" gso_max_segs 1 2>/dev/null; then
	# without ethtool: one segment per GSO packet keeps TCP from sending super-segments
	offl="ethtool missing (add it to scripts/deps.sh); gso_max_segs 1 on both ends instead"
else
	offl="ethtool missing (add it to scripts/deps.sh): offloads left ON (TSO/GSO super-segments in the capture)"
fi
echo "veth: $offl"

mkdir -p "$W/www"
for m in 1 2 4 8; do head -c $((m << 20)) /dev/urandom >"$W/www/f$m"; done
head -c 65536 /dev/urandom >"$W/www/f64k"
chmod -R a+rX "$W"
if command -v nginx >/dev/null; then
	nginx_conf "$W/nginx.conf" "$W" 198.18.77.2:8080 1
	mkdir -p "$W/tmp"
	ip netns exec "$NS" nginx -c "$W/nginx.conf" &
	SERVER_PID=$!
	server=nginx
else
	ip netns exec "$NS" python3 -m http.server 8080 --bind 198.18.77.2 --directory "$W/www" \
		>/dev/null 2>&1 &
	SERVER_PID=$!
	server="python3 http.server"
fi
for _ in $(seq 50); do
	curl -s -o /dev/null "http://198.18.77.2:8080/f1" && break
	sleep 0.1
done

PCAP=$W/http.pcap
tcpdump -i "$VH" -w "$PCAP" -B 65536 'tcp port 8080' 2>"$W/tcpdump.err" &
TCPDUMP_PID=$!
sleep 1
t0=$(date +%s.%N)
while [ "$(stat -c %s "$PCAP" 2>/dev/null || echo 0)" -lt $((MB << 20)) ]; do
	# a few connections at once, several files per connection (keep-alive)
	cpids=()
	for j in 1 2 3 4; do
		curl -s -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
			http://198.18.77.2:8080/f{1,2,4,8} &
		cpids+=($!)
	done
	wait "${cpids[@]}"
done
sleep 0.5
kill -INT "$TCPDUMP_PID"
wait "$TCPDUMP_PID" 2>/dev/null
TCPDUMP_PID=
t1=$(date +%s.%N)

# the seed's capture: it reassembles a stream again after every packet, so it gets
# NSEED connections of one 64 KiB response each
SMALL=$W/small.pcap
tcpdump -i "$VH" -w "$SMALL" -B 65536 'tcp port 8080' 2>"$W/tcpdump2.err" &
TCPDUMP_PID=$!
sleep 1
for _ in $(seq "$NSEED"); do curl -s -o /dev/null http://198.18.77.2:8080/f64k; done
sleep 0.5
kill -INT "$TCPDUMP_PID"
wait "$TCPDUMP_PID" 2>/dev/null
TCPDUMP_PID=
kill "$SERVER_PID" 2>/dev/null
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
dropped=$(grep -o '[0-9]* packets dropped by kernel' "$W/tcpdump.err")
npk=$(grep -o '^[0-9]* packets captured' "$W/tcpdump.err")
size=$(stat -c %s "$PCAP")
printf 'capture: %s, %d MB, %s, %s (server %s, %.1f s)\n' "$PCAP" $((size >> 20)) "$npk" \
	"$dropped" "$server" "$(echo "$t1 - $t0" | bc)"
case "$dropped" in
"0 packets dropped by kernel") ;;
*) echo "WARNING: tcpdump dropped packets: streams will have gaps in both tools" ;;
esac

# ---------------------------------------------------------------- throughput
cmd_k="$BIN replay $PCAP -q --kernel -o $W/o_k"
cmd_u="$BIN replay $PCAP -q -o $W/o_u"
cmd_t="tcpflow -r $PCAP -o $W/o_t"
timed_rounds k u t
cat /dev/null >"$W/summary"
for v in k u t; do
	wall=$(awk '{print $1}' "$W/t.$v" | median)
	rss=$(awk '{print $2}' "$W/t.$v" | median)
	eval "w_$v=$wall r_$v=$rss"
done
mbps() { echo "scale=1; $size / 1048576 / $1" | bc; }
echo
echo "median of $RUNS runs (wall s, peak RSS KiB; '/usr/bin/time -f \"%e %M\"'):"
printf '  %-60s %7s s %8s KiB  %6s MB/s\n' "$cmd_k" "$w_k" "$r_k" "$(mbps "$w_k")"
printf '  %-60s %7s s %8s KiB  %6s MB/s\n' "$cmd_u" "$w_u" "$r_u" "$(mbps "$w_u")"
printf '  %-60s %7s s %8s KiB  %6s MB/s\n' "$cmd_t" "$w_t" "$r_t" "$(mbps "$w_t")"
echo "ratios to tcpflow (time: <1 is faster; RSS: <1 is smaller):"
printf '  xdp-sniff --kernel    time %.2f  RSS %.2f\n' "$(echo "$w_k / $w_t" | bc -l)" \
	"$(echo "$r_k / $r_t" | bc -l)"
printf '  xdp-sniff (host)      time %.2f  RSS %.2f\n' "$(echo "$w_u / $w_t" | bc -l)" \
	"$(echo "$r_u / $r_t" | bc -l)"

echo
echo "outputs (diff -r, tcpflow's report.xml excluded):"
nt=$(find "$W/o_t" -type f ! -name report.xml | wc -l)
nk=$(find "$W/o_k" -type f | wc -l)
echo "  files: xdp-sniff --kernel $nk, host $(find "$W/o_u" -type f | wc -l), tcpflow $nt"
for v in k u; do
	if diff -r -x report.xml "$W/o_$v" "$W/o_t" >"$W/diff.$v" 2>&1; then
		echo "  diff -r -x report.xml o_$v o_t: identical"
	else
		echo "  diff -r -x report.xml o_$v o_t: DIFFERENT ($(wc -l <"$W/diff.$v") lines), first:"
		head -5 "$W/diff.$v" | sed 's/^/    /'
	fi
done

# ---------------------------------------------------------------- memory per stream
echo
echo "== memory per open stream"
cat >"$W/gen.py" <<'EOF'
import struct, sys
out, n = sys.argv[1], int(sys.argv[2])
f = open(out, "wb")
f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def pkt(ts, src, dst, sp, dp, seq, ack, fl, pay=b""):
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, fl, 65535, 0, 0) + pay
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    fr = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp
    f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(fr), len(fr)) + fr)
srv = bytes([198, 18, 0, 1])
req, resp = b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"
ts = 1700000000 * 1000000
for i in range(n):
    cli = bytes([198, 19, (i // 50000) + 1, 1])
    sp = 10000 + i % 50000
    c, s = 1000 + i, 5000 + i
    pkt(ts, cli, srv, sp, 80, c, 0, 0x02); ts += 1
    pkt(ts, srv, cli, 80, sp, s, c + 1, 0x12); ts += 1
    pkt(ts, cli, srv, sp, 80, c + 1, s + 1, 0x10); ts += 1
    pkt(ts, cli, srv, sp, 80, c + 1, s + 1, 0x18, req); ts += 1
    pkt(ts, srv, cli, 80, sp, s + 1, c + 1 + len(req), 0x18, resp); ts += 1
f.close()
EOF
python3 "$W/gen.py" "$W/conn1.pcap" 1 || exit 1
python3 "$W/gen.py" "$W/connN.pcap" "$NSTREAMS" || exit 1
# default output (a line per packet and per stream) to /dev/null: no per-stream buffers in
# the sinks, so the difference is the flow table's
for v in k u; do
	flag=
	[ $v = k ] && flag=--kernel
	for i in $(seq "$RUNS"); do
		# shellcheck disable=SC2086
		timed "m1$v" "$BIN" replay "$W/conn1.pcap" -q $flag || exit 1
		# shellcheck disable=SC2086
		timed "mN$v" "$BIN" replay "$W/connN.pcap" -q $flag || exit 1
	done
	r1=$(awk '{print $2}' "$W/t.m1$v" | median)
	rN=$(awk '{print $2}' "$W/t.mN$v" | median)
	per=$(((rN - r1) * 1024 / NSTREAMS))
	echo "  $BIN replay conn1.pcap -q $flag >/dev/null: peak RSS $r1 KiB"
	echo "  $BIN replay conn$NSTREAMS.pcap -q $flag >/dev/null: peak RSS $rN KiB"
	verdict=ok
	[ "$per" -le 512 ] || verdict="OVER the 512 B target"
	echo "  => ($rN - $r1) KiB / $NSTREAMS streams = $per B per open stream ($verdict)"
done

# ---------------------------------------------------------------- the seed
# The seed (../shared/seed/sniff.py) reads a raw socket: tests/replay/seed_run.py gives it
# the capture's frames through a fake one. Against -j, its output's equivalent.
echo
echo "== the seed on a smaller capture"
if [ ! -f "$SEED/sniff.py" ]; then
	echo "  skipped: no seed at $SEED"
else
	ssize=$(stat -c %s "$SMALL")
	printf '  capture: %s, %d KB, %s, %s\n' "$SMALL" $((ssize >> 10)) \
		"$(grep -o '^[0-9]* packets captured' "$W/tcpdump2.err")" \
		"$(grep -o '[0-9]* packets dropped by kernel' "$W/tcpdump2.err")"
	cmd_s="python3 tests/replay/seed_run.py $SEED $SMALL"
	cmd_sk="$BIN replay $SMALL -q -j --kernel"
	cmd_su="$BIN replay $SMALL -q -j"
	cmd_st="tcpflow -r $SMALL -o $W/o_st"
	timed_rounds s sk su st
	echo "  median of $RUNS runs (wall s, peak RSS KiB):"
	for v in s sk su st; do
		wall=$(awk '{print $1}' "$W/t.$v" | median)
		rss=$(awk '{print $2}' "$W/t.$v" | median)
		eval "w_$v=$wall c=\$cmd_$v"
		printf '    %-70s %7s s %8s KiB\n' "$c" "$wall" "$rss"
	done
	echo "  $(python3 tests/replay/seed_run.py "$SEED" "$SMALL"); xdp-sniff -j: $($BIN replay "$SMALL" -q -j | wc -l) streams"
	# A/B as "N.Nx", or "n/a" when B is below the timer's 0.01 s
	times() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else printf "n/a" }'; }
	echo "  the seed takes $(times "$w_s" "$w_sk") the time of xdp-sniff --kernel," \
		"$(times "$w_s" "$w_su") of the host build, $(times "$w_s" "$w_st") of tcpflow"
fi
