#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# --nats throughput: stream records published and acknowledged by JetStream, to a local single
# node and to a local 3-node cluster (3 replicas), against writing the same records to a file
# (-j > FILE), all in one run. Two figures per target:
#   end to end  replay of a capture of N streams with --nats until every PubAck is in, against
#               the same replay with -j to a file (the capture's own cost is in both);
#   spool drain records already in the spool (spooled while no broker was there) published
#               and acknowledged by `replay EMPTY --nats`: the publisher alone.
# Servers on 127.0.0.1, free ports, stores in a temporary directory.
#   BENCH_NATS_STREAMS  records (default 20000, at most 55000)
#   BENCH_NATS_RUNS     rounds of all of it, one after the other (default 3): medians printed
#   BENCH_KEEP=1        keep the work directory
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=$PWD/build/xdp-sniff
N=${BENCH_NATS_STREAMS:-20000}
RUNS=${BENCH_NATS_RUNS:-3}
. bench/lib.sh
skip() {
	echo "skip bench_nats: $*"
	exit 0
}
[ -x "$BIN" ] || skip "build/xdp-sniff not built (run make)"
command -v nats-server >/dev/null || skip "nats-server not installed (scripts/deps.sh)"
W=$(mktemp -d /tmp/bench_nats.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
listens() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start() {
	nats-server -c "$1" >"$1.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 200); do listens "$2" && return 0; sleep 0.05; done
	echo "nats-server $1 did not start" >&2
	exit 1
}
now() { date +%s.%N; }
rate() { echo "scale=0; $1 / ($3 - $2)" | bc; }

python3 tests/e2e/nats_capture.py "$W/cap.pcap" "$N" || exit 1
python3 tests/e2e/nats_capture.py "$W/empty.pcap" 0 || exit 1

# single node
P=$(free_port)
printf 'listen: 127.0.0.1:%s\nserver_name: b0\njetstream { store_dir: "%s/s0" }\n' "$P" "$W" >"$W/single.conf"
start "$W/single.conf" "$P"
SINGLE=nats://127.0.0.1:$P

# three nodes
for i in 0 1 2; do CP[$i]=$(free_port); RP[$i]=$(free_port); done
for i in 0 1 2; do
	{
		echo "listen: 127.0.0.1:${CP[$i]}"
		echo "server_name: c$i"
		echo "jetstream { store_dir: \"$W/c$i\" }"
		echo "cluster { name: xsb, listen: 127.0.0.1:${RP[$i]}, routes: ["
		for j in 0 1 2; do [ "$j" -eq "$i" ] || echo "\"nats-route://127.0.0.1:${RP[$j]}\","; done
		echo "] }"
	} >"$W/c$i.conf"
	start "$W/c$i.conf" "${CP[$i]}"
done
CLUSTER=nats://127.0.0.1:${CP[0]},nats://127.0.0.1:${CP[1]},nats://127.0.0.1:${CP[2]}

"$BIN" replay "$W/empty.pcap" --no-kernel -q --nats "$SINGLE" --nats-create-stream \
	--spool-dir "$W/sp-s0" 2>/dev/null || { echo "no stream on the single node" >&2; exit 1; }
for _ in $(seq 60); do
	"$BIN" replay "$W/empty.pcap" --no-kernel -q --nats "$CLUSTER" --nats-create-stream=3 \
		--spool-dir "$W/sp-c0" 2>/dev/null && break
	sleep 0.5
done

# cpu_us PID_TICKS_BEFORE PID_TICKS_AFTER: CPU microseconds per record
cpu_us() { echo "($2 - $1) * 1000000 / $(getconf CLK_TCK) / $N" | bc; }
# timed ARGS...: runs xdp-sniff ARGS; sets T (seconds) and XS_US (its CPU us per record),
# returns its exit status
timed() {
	local t0 t1
	t0=$(now)
	/usr/bin/time -f '%U %S' -o "$W/time" "$BIN" "$@"
	RC=$?
	t1=$(now)
	T=$(echo "$t1 - $t0" | bc)
	XS_US=$(awk -v n="$N" '{printf "%d", ($1 + $2) * 1000000 / n}' "$W/time")
	return "$RC"
}
srv_ticks() { # the nats-servers of TARGET
	local t=0 p
	if [ "$1" = single ]; then p=${PIDS[0]}; t=$(proc_ticks "$p"); else
		for p in "${PIDS[@]:1}"; do t=$((t + $(proc_ticks "$p"))); done
	fi
	echo "$t"
}

echo "records: $N stream records, the same bytes in both (-j objects with their payload); $RUNS rounds"
echo "   file:   $BIN replay cap.pcap --no-kernel -q -j > FILE"
echo "   e2e:    $BIN replay cap.pcap --no-kernel -q --nats URL --nats-payload --nats-max-payload 16M"
echo "           (until every PubAck is in)"
echo "   drain:  $BIN replay empty.pcap --no-kernel -q --nats URL   (the records already spooled)"
: >"$W/rows"
for round in $(seq "$RUNS"); do
	timed replay "$W/cap.pcap" --no-kernel -q -j >"$W/j.out" || exit 1
	[ "$(wc -l <"$W/j.out")" -eq "$N" ] || { echo "-j wrote $(wc -l <"$W/j.out") lines" >&2; exit 1; }
	FILE_RATE=$(rate "$N" 0 "$T")
	echo "$round file $FILE_RATE $XS_US 0" >>"$W/rows"
	for target in single cluster; do
		if [ "$target" = single ]; then URL=$SINGLE; else URL=$CLUSTER; fi
		rm -rf "$W/sp-e2e-$target" "$W/sp-drain-$target"
		s0=$(srv_ticks "$target")
		timed replay "$W/cap.pcap" --no-kernel -q --nats "$URL" --nats-payload \
			--nats-max-payload 16M --spool-dir "$W/sp-e2e-$target" \
			--nats-drain 600000 2>"$W/e2e-$target.err" || exit 1
		s1=$(srv_ticks "$target")
		grep -q "^nats: $N records, .* $N acknowledged, .* 0 left in the spool" "$W/e2e-$target.err" ||
			{ echo "not all acknowledged: $(cat "$W/e2e-$target.err")" >&2; exit 1; }
		echo "$round $target-e2e $(rate "$N" 0 "$T") $XS_US $(cpu_us "$s0" "$s1")" >>"$W/rows"
		# fill a spool with no broker there, then time its drain
		"$BIN" replay "$W/cap.pcap" --no-kernel -q --nats nats://127.0.0.1:1 --nats-payload \
			--nats-max-payload 16M \
			--spool-dir "$W/sp-drain-$target" --nats-drain 0 2>/dev/null
		s0=$(srv_ticks "$target")
		timed replay "$W/empty.pcap" --no-kernel -q --nats "$URL" \
			--spool-dir "$W/sp-drain-$target" --nats-drain 600000 2>"$W/drain-$target.err" || exit 1
		s1=$(srv_ticks "$target")
		grep -q "^nats: 0 records, $N published, $N acknowledged" "$W/drain-$target.err" ||
			{ echo "spool drain incomplete: $(cat "$W/drain-$target.err")" >&2; exit 1; }
		echo "$round $target-drain $(rate "$N" 0 "$T") $XS_US $(cpu_us "$s0" "$s1")" >>"$W/rows"
	done
	awk -v r="$round" '$1 == r {printf "   round %s: %s %s rec/s (xdp-sniff %s us, nats-server %s us a record)\n", r, $2, $3, $4, $5}' "$W/rows"
done
awk "$AWK_MEDIAN"'
{ add($2, $3); add($2 "x", $4); add($2 "s", $5); if ($2 == "file") f[$1] = $3; else add($2 "r", $3 / f[$1]) }
END {
	n = split("file single-e2e single-drain cluster-e2e cluster-drain", k, " ")
	print "   medians of " '"$RUNS"' " rounds:"
	for (i = 1; i <= n; i++)
		printf "   %-14s %7d rec/s%s  xdp-sniff %4d us/record, nats-server(s) %4d us/record\n", k[i], med(k[i]),
			(k[i] == "file" ? "              " : sprintf(" (%.2fx the file)", med(k[i] "r"))), med(k[i] "x"), med(k[i] "s")
}' "$W/rows"
echo "   load while measuring: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
