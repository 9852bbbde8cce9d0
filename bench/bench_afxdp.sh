#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# AF_XDP transport under a flood on a mirror port, side by side with the ring buffer and
# tcpdump in one run.
#
# The mirror port is a veth pair in the root namespace without addresses: trafgen writes
# frames into its feed end M, the capturer sits on the other end C (what a SPAN port or a
# tap looks like to the host). Cases:
#   all100   every frame to the filtered port, 100-byte payloads (154-byte frames)
#   all1400  every frame to the filtered port, 1400-byte payloads
#   mix      1 in 10 frames to the filtered port, 100-byte payloads
# Capturers, in turn: none, xdp-sniff --transport afxdp -w, xdp-sniff (ring buffer,
# --direction in) -w, tcpdump -w, each with the filter "tcp port 8080".
# Per run: matched frames captured / sent (counted in the pcap), what the tool says it lost,
# busy CPU seconds of the whole machine from the start of the flood until the capturer has
# caught up (/proc/stat user+nice+system+irq+softirq+steal) minus the run without a
# capturer, and the capturer's own CPU seconds. Medians over the runs.
#
#   BENCH_AFXDP_N      frames per run (default 500000)
#   BENCH_AFXDP_RUNS   repetitions (default 3)
#   BENCH_AFXDP_CASES  cases (default "all100 all1400 mix")
#   BENCH_AFXDP_TOOLS  capturers (default "none afxdp ring tcpdump")
#   BENCH_AFXDP_OUT    also write the table to this file
#   BENCH_KEEP=1       keep the work directory
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=$PWD/build/xdp-sniff
N=${BENCH_AFXDP_N:-500000}
RUNS=${BENCH_AFXDP_RUNS:-3}
CASES=${BENCH_AFXDP_CASES:-all100 all1400 mix}
TOOLS=${BENCH_AFXDP_TOOLS:-none afxdp ring tcpdump}
PORT=8080
OTHER=8081
HZ=$(getconf CLK_TCK)

skip() {
	echo "skip bench_afxdp: $*"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (veth, XDP, AF_XDP)"
[ -x "$BIN" ] || skip "build/xdp-sniff not built (run make)"
for t in ip trafgen tcpdump bc awk; do
	command -v "$t" >/dev/null || skip "$t not installed"
done

C="xsb$$c"
M="xsb$$m"
W=$(mktemp -d /tmp/bench_afxdp.XXXXXX)
CAP_PID= UP=0

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$CAP_PID" ]; then
		kill -INT "$CAP_PID" 2>/dev/null
		sleep 0.5
		kill -KILL "$CAP_PID" 2>/dev/null
		wait "$CAP_PID" 2>/dev/null
	fi
	if [ "$UP" = 1 ]; then
		[ -e "/sys/fs/bpf/xdp-sniff/$C" ] && "$BIN" unload "$C" >/dev/null 2>&1
		ip link del "$C" 2>/dev/null
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo interrupted; exit 130' INT TERM

ip link add "$C" type veth peer name "$M" || skip "cannot create a veth pair"
UP=1
ip link set "$C" addrgenmode none && ip link set "$M" addrgenmode none &&
	ip link set "$C" up && ip link set "$M" up || skip "cannot bring the veth pair up"
echo "mirror port: veth $C (captured, no address) <- $M (trafgen, root namespace); 1 queue, copy mode"

# one block per frame of a cycle (round robin); each block has its own sequence counter
tmpl() { # DPORT PAYLOAD
	printf '{ eth(da=02:00:00:00:00:02, sa=02:00:00:00:00:01, type=0x0800), ipv4(sa=198.18.0.1, da=198.18.0.2, ttl=64, df), tcp(sp=40000, dp=%d, seq=dinc(1000, 4000000000, %d), aseq=1, ack, psh, win=512), fill(0x41, %d) }\n' \
		"$1" "$2" "$2"
}
tmpl $PORT 100 >"$W/all100.cfg"
tmpl $PORT 1400 >"$W/all1400.cfg"
{
	tmpl $PORT 100
	for _ in $(seq 9); do tmpl $OTHER 100; done
} >"$W/mix.cfg"
declare -A MATCH_DIV=([all100]=1 [all1400]=1 [mix]=10)

wait_attached() { # TOOL
	local i
	for i in $(seq 100); do
		case $1 in
		afxdp | ring) "$BIN" status "$C" 2>/dev/null | grep -q "pid $CAP_PID (running)" && return 0 ;;
		tcpdump) grep -q 'listening on' "$W/cap.err" && return 0 ;;
		esac
		kill -0 "$CAP_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

run_one() { # REP CASE TOOL
	local rep=$1 cs=$2 tool=$3 pcap=$W/cap.pcap cmd=() b0 b1 p0=0 p1=0 nsent nmatch ncap=- lost=-
	rm -f "$pcap" "$W/cap.err"
	case $tool in
	none) ;;
	afxdp) cmd=("$BIN" load "$C" --transport afxdp -p $PORT -w "$pcap" -q) ;;
	ring) cmd=("$BIN" load "$C" --direction in -p $PORT -w "$pcap" -q) ;;
	tcpdump) cmd=(tcpdump -i "$C" -w "$pcap" "tcp port $PORT") ;;
	esac
	if [ ${#cmd[@]} -gt 0 ]; then
		"${cmd[@]}" >"$W/cap.err" 2>&1 &
		CAP_PID=$!
		if ! wait_attached "$tool"; then
			echo "  $tool did not start: $(tail -n 3 "$W/cap.err" | tr '\n' ' ')"
			kill -KILL "$CAP_PID" 2>/dev/null
			wait "$CAP_PID" 2>/dev/null
			CAP_PID=
			return 1
		fi
		sleep 0.3
		p0=$(proc_ticks "$CAP_PID")
	fi
	b0=$(busy_ticks)
	trafgen --no-sock-mem --notouch-irq --no-cpu-stats -P 1 -t 0 -o "$M" -i "$W/$cs.cfg" \
		-n "$N" >"$W/gen.out" 2>&1 || echo "  trafgen failed: $(tail -n 2 "$W/gen.out" | tr '\n' ' ')"
	b1=$(busy_ticks)
	if [ -n "$CAP_PID" ]; then
		wait_settled "$CAP_PID"
		b1=$B_SETTLED
		p1=$(proc_ticks "$CAP_PID")
		# tcpdump hands over a TPACKET_V3 block that is not full only after its 1 s timeout
		[ "$tool" = tcpdump ] && sleep 1.2
		kill -INT "$CAP_PID"
		wait "$CAP_PID" 2>/dev/null
		CAP_PID=
	fi
	nsent=$(tr '\r' '\n' <"$W/gen.out" | awk '/packets outgoing/ {print $1; exit}')
	nsent=${nsent:-0}
	nmatch=$((nsent / MATCH_DIV[$cs]))
	if [ "$tool" != none ]; then
		ncap=$(tcpdump -r "$pcap" --count "tcp dst port $PORT" 2>/dev/null | awk '/packets/ {print $1}')
		ncap=${ncap:-0}
		case $tool in
		afxdp | ring) lost=$(awk '/dropped because the ring was full/ {print $1}' "$W/cap.err") ;;
		tcpdump) lost=$(awk '/dropped by kernel/ {print $1}' "$W/cap.err") ;;
		esac
		cp "$W/cap.err" "$W/err.$cs.$tool.$rep"
	fi
	echo "$rep $cs $tool $nsent $nmatch $ncap ${lost:-?} $((b1 - b0)) $((p1 - p0))" >>"$W/rows"
	rm -f "$pcap"
}

for rep in $(seq "$RUNS"); do
	for cs in $CASES; do
		for tool in $TOOLS; do
			run_one "$rep" "$cs" "$tool" || continue
			tail -n 1 "$W/rows" | awk -v hz="$HZ" '{printf "  run %s %-7s %-8s sent %s, captured %s of %s matched, lost %s, busy %.2f s, own %.2f s\n", $1, $2, $3, $4, $6, $5, $7, $8 / hz, $9 / hz}'
		done
	done
done

{
	echo
	echo "AF_XDP vs ring buffer vs tcpdump on a mirror port: trafgen -P 1 -t 0 into veth $M, $N frames per"
	echo "run, median of $RUNS runs; $(nproc) CPUs, $(uname -r)"
	echo "  afxdp:   $BIN load C --transport afxdp -p $PORT -w FILE -q"
	echo "  ring:    $BIN load C --direction in -p $PORT -w FILE -q"
	echo "  tcpdump: tcpdump -i C -w FILE 'tcp port $PORT'"
	echo "  captured: frames 'tcp dst port $PORT' in the pcap; lost: what the tool says (xdp-sniff: ring"
	echo "  full, which for afxdp includes the sockets' drops; tcpdump: dropped by kernel); busy: the"
	echo "  machine's busy CPU s from the start of the flood until the capturer is idle; extra: busy minus"
	echo "  the same run without a capturer; own: the capturer's utime+stime"
	echo
	awk -v hz="$HZ" "$AWK_MEDIAN"'
	{ k = $2 SUBSEP $3
	  if (!(k in seen)) { seen[k] = 1; order[++no] = k }
	  add(k SUBSEP "sent", $4); add(k SUBSEP "match", $5); add(k SUBSEP "cap", $6); add(k SUBSEP "lost", $7)
	  add(k SUBSEP "busy", $8 / hz); add(k SUBSEP "own", $9 / hz)
	  if ($3 == "none") base[$1 SUBSEP $2] = $8
	  else if (($1 SUBSEP $2) in base) add(k SUBSEP "extra", ($8 - base[$1 SUBSEP $2]) / hz) }
	function ratio(k, what,   t) {
		t = substr(k, 1, index(k, SUBSEP) - 1) SUBSEP "tcpdump"
		if (!((t SUBSEP what) in vals) || med(t SUBSEP what) <= 0) return "-"
		return sprintf("%.2f", med(k SUBSEP what) / med(t SUBSEP what))
	}
	END {
		fmt = "| %-7s | %-8s | %8s | %8s | %8s | %9s | %8s | %6s | %7s | %6s | %6s | %6s |\n"
		printf fmt, "case", "capturer", "sent", "matched", "captured", "captured%", "lost", "busy s", "extra s", "x tcpd", "own s", "x tcpd"
		printf "|---------|----------|----------|----------|----------|-----------|----------|--------|---------|--------|--------|--------|\n"
		for (i = 1; i <= no; i++) {
			k = order[i]; split(k, p, SUBSEP); none = (p[2] == "none")
			m = med(k SUBSEP "match")
			printf fmt, p[1], p[2], sprintf("%.0f", med(k SUBSEP "sent")), sprintf("%.0f", m),
				none ? "-" : sprintf("%.0f", med(k SUBSEP "cap")),
				none ? "-" : sprintf("%.1f", 100 * med(k SUBSEP "cap") / (m ? m : 1)),
				none ? "-" : sprintf("%.0f", med(k SUBSEP "lost")), sprintf("%.2f", med(k SUBSEP "busy")),
				none ? "-" : sprintf("%.2f", med(k SUBSEP "extra")), none ? "-" : ratio(k, "extra"),
				none ? "-" : sprintf("%.2f", med(k SUBSEP "own")), none ? "-" : ratio(k, "own")
		}
	}' "$W/rows"
} | tee "$W/table"
[ -n "${BENCH_AFXDP_OUT:-}" ] && cp "$W/table" "$BENCH_AFXDP_OUT"
for f in "$W"/err.*.afxdp."$RUNS"; do
	[ -e "$f" ] || continue
	f1=${f##*/err.}
	echo "-- ${f1%.*}, run $RUNS:"
	grep -e 'AF_XDP' -e 'dropped because' "$f" | sed 's/^/   /'
done
exit 0
