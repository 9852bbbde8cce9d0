#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Flood: filter efficiency and delivery, side by side with tcpdump and xdpdump in one run.
#
# trafgen in a namespace floods the veth pair; the capturer sits on the root namespace end
# (bpffs works there). The frames carry that end's MAC and an address of the /24 that no
# host has: the root stack takes them in and drops them in routing (IPv4 forwarding is off
# on that veth end), so there are no replies. Cases:
#   mix    1 in 100 frames to the filtered port, 100-byte payloads
#   all100 every frame to the filtered port, 100-byte payloads
#   all1400 every frame to the filtered port, 1400-byte payloads
# Capturers, in turn: none, xdp-sniff -w, xdp-sniff -w FILE.pcapng, tcpdump -w (default
# buffer), xdpdump -w.
# Per run: matched frames captured / sent (counted in the written pcap), generator wall
# time, busy CPU seconds of the whole machine during the flood (/proc/stat
# user+nice+system+irq+softirq+steal, up to the moment the capturer has caught up) minus
# the run without a capturer, the capturer's own CPU seconds, and what it says it lost.
#
#   BENCH_FLOOD_N      frames per run (default 1000000)
#   BENCH_FLOOD_CPUS   trafgen processes, -P (default 1; see BENCHMARKS.md for why)
#   BENCH_FLOOD_RUNS   repetitions, medians reported (default 3)
#   BENCH_FLOOD_CASES  cases to run (default "mix all100 all1400")
#   BENCH_FLOOD_TOOLS  capturers (default "none xdp-sniff xdp-sniff-pcapng xdp-sniff-native
#                      tcpdump xdpdump"; xdp-sniff is auto mode, which is skb on a veth,
#                      xdp-sniff-pcapng the same writing pcapng, xdp-sniff-native is
#                      --xdp-mode native); also xdp-pass and xdp-pass-skb (an empty XDP
#                      program in native and in skb mode, needs clang: what XDP on a veth
#                      costs by itself)
#   BENCH_FLOOD_OUT    also write the table to this file
#   BENCH_KEEP=1       keep the work directory
set -u
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
BIN=$PWD/build/xdp-sniff
N=${BENCH_FLOOD_N:-1000000}
GCPUS=${BENCH_FLOOD_CPUS:-1}
RUNS=${BENCH_FLOOD_RUNS:-3}
CASES=${BENCH_FLOOD_CASES:-mix all100 all1400}
TOOLS=${BENCH_FLOOD_TOOLS:-none xdp-sniff xdp-sniff-pcapng xdp-sniff-native tcpdump xdpdump}
PORT=8080      # the filtered port
OTHER=8081     # the other one
HZ=$(getconf CLK_TCK)

skip() {
	echo "skip bench_flood: $*"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root for the network namespace"
[ -x "$BIN" ] || skip "build/xdp-sniff not built (run make)"
for t in ip trafgen tcpdump bc awk pgrep; do
	command -v "$t" >/dev/null || skip "$t not installed"
done
TIME=/usr/bin/time
[ -x "$TIME" ] || skip "/usr/bin/time not installed (Debian package time)"

. scripts/netns.sh
TAG=f$$
W=$(mktemp -d /tmp/bench_flood.XXXXXX)
CAP_PID="" GEN_PID="" UP=0

cleanup() {
	trap - EXIT INT TERM
	[ -n "$GEN_PID" ] && kill "$GEN_PID" 2>/dev/null
	if [ -n "$CAP_PID" ]; then
		kill -INT "$CAP_PID" 2>/dev/null
		sleep 0.5
		kill -KILL "$CAP_PID" 2>/dev/null
		wait "$CAP_PID" 2>/dev/null
	fi
	if [ "$UP" = 1 ]; then
		# an xdp-sniff killed hard leaves its pins behind
		[ -e "/sys/fs/bpf/xdp-sniff/$XS_IF" ] && "$BIN" unload "$XS_IF" >/dev/null 2>&1
		xs_netns_down "$TAG"
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo interrupted; exit 130' INT TERM

UP=1
xs_netns_up "$TAG" >/dev/null || skip "cannot create the namespace and veth pair"
IF=$XS_IF
DST=$XS_NET4.3 # no host has it
SRC=$XS_SRV4
MAC=$(cat "/sys/class/net/$IF/address")
# the root stack must drop the frames, not forward them (only this veth end is touched)
fwd=/proc/sys/net/ipv4/conf/$IF/forwarding
[ "$(cat "$fwd")" = 0 ] || echo 0 >"$fwd"

offl=$(ethtool -k "$IF" 2>/dev/null | awk '/^(generic-receive-offload|tcp-segmentation-offload|generic-segmentation-offload):/ {printf "%s %s, ", $1, $2}')
echo "veth $IF (root, captured) <- $XS_IF_PEER (namespace $XS_NS, trafgen); offloads left at defaults: ${offl%, }"
echo "binary: $BIN, built $(stat -c %y "$BIN" | cut -d. -f1)"
echo "frames: $SRC:4000x -> $DST (no such host) port $PORT (filtered) / $OTHER, to $IF's MAC; $N frames per run"

# ------------------------------------------------------------------ trafgen configs
# one packet block per frame of a cycle of 100 (round robin); each block has its own
# sequence counter, so the matching block's stream is contiguous
tmpl() { # CPU DPORT PAYLOAD
	local pre=
	[ "$GCPUS" -gt 1 ] && pre="cpu($1): "
	printf '%s{ eth(da=%s, type=0x0800), ipv4(sa=%s, da=%s, ttl=64, df), tcp(sp=%d, dp=%d, seq=dinc(1000, 4000000000, %d), aseq=1, ack, psh, win=512), fill(0x41, %d) }\n' \
		"$pre" "$MAC" "$SRC" "$DST" $((40000 + $1)) "$2" "$3" "$3"
}
for c in $(seq 0 $((GCPUS - 1))); do
	tmpl "$c" $PORT 100 >>"$W/mix.cfg"
	for _ in $(seq 99); do tmpl "$c" $OTHER 100; done >>"$W/mix.cfg"
	tmpl "$c" $PORT 100 >>"$W/all100.cfg"
	tmpl "$c" $PORT 1400 >>"$W/all1400.cfg"
done
declare -A MATCH_DIV=([mix]=100 [all100]=1 [all1400]=1)
declare -A DESC=([mix]="1 in 100 matching, 154-byte frames" [all100]="all matching, 154-byte frames"
	[all1400]="all matching, 1454-byte frames")

# ------------------------------------------------------------------ helpers
ksoftirqd_ticks() {
	local p t=0
	for p in $(pgrep '^ksoftirqd/'); do t=$((t + $(proc_ticks "$p"))); done
	echo $t
}
rx_packets() { cat "/sys/class/net/$IF/statistics/rx_packets"; }
peer_tx_dropped() { ip netns exec "$XS_NS" cat "/sys/class/net/$XS_IF_PEER/statistics/tx_dropped"; }
# how iproute2 attaches the empty program of an xdp-pass row
pass_mode() { if [ "$1" = xdp-pass-skb ]; then echo xdpgeneric; else echo xdpdrv; fi; }
secs() { echo "scale=2; $1 / $HZ" | bc | sed 's/^\./0./; s/^-\./-0./'; }

# waits until the capturer is attached (at most 10 s)
wait_attached() { # TOOL
	for _ in $(seq 100); do
		case $1 in
		xdp-sniff*) [ -e "/sys/fs/bpf/xdp-sniff/$IF" ] && ip link show dev "$IF" | grep -q 'prog/xdp' && return 0 ;;
		tcpdump | xdpdump) grep -q 'listening on' "$W/cap.err" && return 0 ;;
		esac
		kill -0 "$CAP_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# runs one case with one capturer; appends a row to $W/rows
run_one() { # REP CASE TOOL
	local rep=$1 cs=$2 tool=$3 pcap=$W/cap.pcap cmd="" b0 b1 r0 r1 d0 d1 p0 p1 g0 g1 k0 k1 gcpu nsent nmatch
	local ncap=- lost=- pct=- wall busy pcpu
	[ "$tool" = xdp-sniff-pcapng ] && pcap=$W/cap.pcapng
	rm -f "$pcap" "$W/cap.err"
	case $tool in
	none) ;;
	xdp-sniff) cmd="$BIN load $IF -p $PORT -w $pcap -q" ;;
	xdp-sniff-pcapng) cmd="$BIN load $IF -p $PORT -w $pcap -q" ;;
	xdp-sniff-native) cmd="$BIN load $IF -p $PORT -w $pcap -q --xdp-mode native" ;;
	xdp-pass | xdp-pass-skb)
		# iproute2 pins under /sys/fs/bpf/{tc,ip,xdp}: keep that in a mount namespace of ours
		unshare -m --propagation private sh -c 'mount -t bpf bpf /sys/fs/bpf &&
			ip link set dev "$1" "$3" obj "$2" sec xdp' sh "$IF" "$W/pass.o" "$(pass_mode "$tool")" ||
			{ echo "  $tool: cannot attach"; return 1; }
		;;
	tcpdump) cmd="tcpdump -i $IF -w $pcap tcp port $PORT" ;;
	xdpdump) cmd="xdpdump -i $IF --load-xdp-program -w $pcap" ;;
	esac
	if [ -n "$cmd" ]; then
		# shellcheck disable=SC2086
		$cmd >"$W/cap.err" 2>&1 &
		CAP_PID=$!
		if ! wait_attached "$tool"; then
			echo "  $tool did not start:"
			sed 's/^/    /' "$W/cap.err" | tail -5
			kill -KILL "$CAP_PID" 2>/dev/null
			wait "$CAP_PID" 2>/dev/null
			CAP_PID=
			return 1
		fi
		sleep 0.5
	fi
	r0=$(rx_packets)
	d0=$(peer_tx_dropped)
	p0=0
	[ -n "$CAP_PID" ] && p0=$(proc_ticks "$CAP_PID")
	k0=$(ksoftirqd_ticks)
	b0=$(busy_ticks)
	g0=$(date +%s%N)
	$TIME -f '%U %S' -o "$W/gen.time" ip netns exec "$XS_NS" trafgen --no-sock-mem --notouch-irq --no-cpu-stats -P "$GCPUS" -t 0 \
		-o "$XS_IF_PEER" -i "$W/$cs.cfg" -n "$N" >"$W/gen.out" 2>&1 &
	GEN_PID=$!
	wait "$GEN_PID"
	local grc=$?
	GEN_PID=
	g1=$(date +%s%N)
	[ $grc -eq 0 ] || { echo "  trafgen failed ($grc):"; tail -3 "$W/gen.out" | sed 's/^/    /'; }
	b1=$(busy_ticks)
	if [ -n "$CAP_PID" ]; then
		wait_settled "$CAP_PID"
		b1=$B_SETTLED
	fi
	k1=$(ksoftirqd_ticks)
	gcpu=$(awk -v hz="$HZ" '{printf "%d", ($1 + $2) * hz + 0.5}' "$W/gen.time")
	p1=0
	[ -n "$CAP_PID" ] && p1=$(proc_ticks "$CAP_PID")
	r1=$(rx_packets)
	d1=$(peer_tx_dropped)
	case $tool in xdp-pass*) ip link set dev "$IF" "$(pass_mode "$tool")" off ;; esac
	if [ -n "$CAP_PID" ]; then
		# tcpdump gets a TPACKET_V3 block that is not full only after its 1 s timeout
		[ "$tool" = tcpdump ] && sleep 1.2
		kill -INT "$CAP_PID"
		wait "$CAP_PID" 2>/dev/null
		CAP_PID=
	fi
	nsent=$(tr '\r' '\n' <"$W/gen.out" | awk '/packets outgoing/ {print $1; exit}')
	nsent=${nsent:-0}
	nmatch=$((nsent / MATCH_DIV[$cs]))
	if [ "$tool" != none ] && [ "${tool#xdp-pass}" = "$tool" ]; then
		ncap=$(tcpdump -r "$pcap" --count "src host $SRC and tcp dst port $PORT" 2>/dev/null |
			awk '/packets/ {print $1}')
		ncap=${ncap:-0}
		pct=$(echo "scale=2; 100 * $ncap / ($nmatch + ($nmatch == 0))" | bc)
		case $tool in
		xdp-sniff*) lost=$(awk '/dropped because the ring was full/ {print $1 " ring"}' "$W/cap.err") ;;
		tcpdump) lost=$(awk '/dropped by kernel/ {print $1 " kernel"}' "$W/cap.err") ;;
		xdpdump) lost=$(awk '/dropped by perf ring/ {print $1 " perf ring"}' "$W/cap.err") ;;
		esac
		[ -n "$lost" ] || lost="? (see below)"
		cp "$W/cap.err" "$W/err.$cs.$tool.$rep"
	fi
	wall=$(echo "scale=2; ($g1 - $g0) / 1000000000" | bc | sed 's/^\./0./')
	busy=$((b1 - b0))
	pcpu=$((p1 - p0))
	echo "$rep $cs $tool $nsent $((r1 - r0)) $((d1 - d0)) $nmatch $ncap $pct ${lost// /_} $wall $busy $pcpu $((gcpu + pcpu + k1 - k0))" >>"$W/rows"
	rm -f "$pcap"
}

command -v xdpdump >/dev/null || echo "xdpdump not installed (xdp-tools): its rows are left out"
if echo "$TOOLS" | grep -q xdp-pass; then
	printf '#define SEC(x) __attribute__((section(x), used))\nSEC("xdp") int xdp_pass(void *ctx) { return 2; }\nchar _license[] SEC("license") = "GPL";\n' >"$W/pass.c"
	command -v clang >/dev/null && command -v unshare >/dev/null &&
		clang -O2 -target bpf -c "$W/pass.c" -o "$W/pass.o" 2>/dev/null ||
		{ echo "no clang or unshare: the xdp-pass rows are left out"; TOOLS=$(echo "$TOOLS" | sed 's/xdp-pass[a-z-]*//g'); }
fi
# repetitions interleaved, each with its own run without a capturer just before
for rep in $(seq "$RUNS"); do
	for cs in $CASES; do
		echo "== run $rep/$RUNS, $cs: ${DESC[$cs]}"
		for tool in $TOOLS; do
			[ "$tool" = xdpdump ] && ! command -v xdpdump >/dev/null && continue
			run_one "$rep" "$cs" "$tool" || continue
			tail -1 "$W/rows" | awk -v hz="$HZ" '{printf "  %-13s sent %s, arrived %s, captured %s of %s matched, lost (tool says) %s, generator %s s, busy %.2f s\n",
				$3, $4, $5, $8, $7, $10, $11, $12 / hz}'
		done
	done
done

# ------------------------------------------------------------------ table
# medians over the runs; extra CPU is taken against the same run's no-capturer figure
{
	echo
	echo "Flood: trafgen -P $GCPUS -t 0 (sendto), $N frames per run, median of $RUNS runs; $(nproc) CPUs, $(uname -r)"
	echo "  generator: ip netns exec NS trafgen --no-sock-mem --notouch-irq --no-cpu-stats -P $GCPUS -t 0 -o VETH -i CFG -n $N"
	echo "  xdp-sniff: $BIN load $IF -p $PORT -w FILE -q  (xdp-sniff-pcapng: FILE.pcapng)"
	echo "  tcpdump:   tcpdump -i $IF -w FILE 'tcp port $PORT'  (default buffer)"
	echo "  xdpdump:   xdpdump -i $IF --load-xdp-program -w FILE  (no filter: writes every frame)"
	echo "  captured: frames 'src host $SRC and tcp dst port $PORT' in the pcap (tcpdump -r FILE --count);"
	echo "  busy: the whole machine's busy CPU s (/proc/stat user+nice+system+irq+softirq+steal) from the start"
	echo "  of the flood until the capturer has been idle 0.3 s; extra: busy minus busy of the same run"
	echo "  without a capturer; x tcpd: extra / tcpdump's extra. attr: CPU s of the processes of the bench"
	echo "  alone (trafgen's utime+stime, with the receive softirq that runs in its context, + the"
	echo "  capturer's + ksoftirqd's), immune to other load on the machine; a.extra: attr minus the"
	echo "  no-capturer run's; proc: the capturer's own utime+stime"
	echo
	awk -v hz="$HZ" "$AWK_MEDIAN"'
	{ rep = $1; cs = $2; tool = $3; k = cs SUBSEP tool
	  if (!(k in seen)) { seen[k] = 1; order[++no] = k }
	  add(k SUBSEP "sent", $4); add(k SUBSEP "arr", $5); add(k SUBSEP "txd", $6); add(k SUBSEP "match", $7)
	  add(k SUBSEP "cap", $8); add(k SUBSEP "pct", $9); lost = $10; sub(/_.*/, "", lost); add(k SUBSEP "lost", lost)
	  what[k] = $10; sub(/^[^_]*_?/, "", what[k]); gsub(/_/, " ", what[k])
	  add(k SUBSEP "wall", $11); add(k SUBSEP "busy", $12 / hz); add(k SUBSEP "proc", $13 / hz)
	  add(k SUBSEP "attr", $14 / hz)
	  if (tool == "none") { base[rep SUBSEP cs] = $12; abase[rep SUBSEP cs] = $14 }
	  else if ((rep SUBSEP cs) in base) {
	    add(k SUBSEP "extra", ($12 - base[rep SUBSEP cs]) / hz)
	    add(k SUBSEP "aextra", ($14 - abase[rep SUBSEP cs]) / hz)
	  }
	  if (k in pcts) pcts[k] = pcts[k] "/" $9; else pcts[k] = $9 }
	function ratio(k, what,   t) {
	  t = substr(k, 1, index(k, SUBSEP) - 1) SUBSEP "tcpdump"
	  if (!((t SUBSEP what) in vals) || med(t SUBSEP what) <= 0) return "-"
	  return sprintf("%.2f", med(k SUBSEP what) / med(t SUBSEP what))
	}
	END {
	  fmt = "| %-7s | %-16s | %7s | %7s | %7s | %8s | %-20s | %-15s | %5s | %6s | %7s | %6s | %6s | %7s | %6s | %6s |\n"
	  printf fmt, "case", "capturer", "sent", "arrived", "matched", "captured", "capt % (each run)", "lost (tool says)", "gen s", "busy s", "extra s", "x tcpd", "attr s", "a.extra", "x tcpd", "proc s"
	  printf "|---------|------------------|---------|---------|---------|----------|----------------------|-----------------|-------|--------|---------|--------|--------|---------|--------|--------|\n"
	  for (i = 1; i <= no; i++) {
	    k = order[i]; split(k, p, SUBSEP); none = (p[2] == "none")
	    nc = none || p[2] ~ /^xdp-pass/
	    printf fmt, p[1], p[2], sprintf("%.0f", med(k SUBSEP "sent")), sprintf("%.0f", med(k SUBSEP "arr")),
	      sprintf("%.0f", med(k SUBSEP "match")), nc ? "-" : sprintf("%.0f", med(k SUBSEP "cap")), nc ? "-" : pcts[k],
	      nc ? "-" : sprintf("%.0f", med(k SUBSEP "lost")) " " what[k], sprintf("%.2f", med(k SUBSEP "wall")),
	      sprintf("%.2f", med(k SUBSEP "busy")), none ? "-" : sprintf("%.2f", med(k SUBSEP "extra")),
	      none ? "-" : ratio(k, "extra"), sprintf("%.2f", med(k SUBSEP "attr")),
	      none ? "-" : sprintf("%.2f", med(k SUBSEP "aextra")), none ? "-" : ratio(k, "aextra"),
	      nc ? "-" : sprintf("%.2f", med(k SUBSEP "proc"))
	  }
	}' "$W/rows"
	awk '$6 > 0 {print "  (run " $1 ", " $2 "/" $3 ": " $6 " frames dropped at the sending veth end)"}' "$W/rows"
	# the pcapng writer against the pcap writer: the capturer's own CPU, median of the runs
	awk -v hz="$HZ" "$AWK_MEDIAN"'
	$3 == "xdp-sniff" || $3 == "xdp-sniff-pcapng" { add($2 SUBSEP $3, $13 / hz); cs[$2] = 1 }
	END { for (c in cs) if (((c SUBSEP "xdp-sniff") in vals) && ((c SUBSEP "xdp-sniff-pcapng") in vals) &&
	  med(c SUBSEP "xdp-sniff") > 0)
	  printf "  %s: pcapng writer / pcap writer, capturer CPU (proc s, medians): %.2f / %.2f = %.3f\n", c,
	    med(c SUBSEP "xdp-sniff-pcapng"), med(c SUBSEP "xdp-sniff"),
	    med(c SUBSEP "xdp-sniff-pcapng") / med(c SUBSEP "xdp-sniff") }' "$W/rows"
} | tee "$W/table"
[ -n "${BENCH_FLOOD_OUT:-}" ] && cp "$W/table" "$BENCH_FLOOD_OUT"
# what the capturers printed at exit in the last run, for the record
for f in "$W"/err.*."$RUNS"; do
	[ -e "$f" ] || continue
	f1=${f##*/err.}
	echo "-- ${f1%.*}, run $RUNS:"
	grep -v '^$' "$f" | grep -v -e WARNING -e 'Will load' -e 'listening on' | sed 's/^/   /' | tail -4
done
exit 0
