#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Live HTTP: wrk against nginx, a new connection per request, with no capturer, with
# xdp-sniff -o, and with tcpdump -w followed by tcpflow -r, side by side. Per run: requests
# wrk completed, and responses reassembled completely (the body after the header's
# \r\n\r\n equals the served file byte for byte) over those requests; for tcpdump the
# packets the kernel dropped. Offloads are left at their defaults.
#
# wrk and the capturer run in a client namespace, nginx in a server namespace, joined by a
# veth pair. wrk (not nginx) ends most connections first, so the client side collects
# TIME_WAIT sockets: at several thousand connections a second the root namespace's
# ephemeral ports run out within seconds and SYNs stall for a second each, which made the
# figures swing tenfold when wrk ran in the root namespace (whose sysctls are not ours to
# change). The client namespace gets ip_local_port_range 1024-65535 and tcp_tw_reuse=1.
# The capturer mounts its own bpffs in its mount namespace (ip netns exec remounts /sys).
#
# Extra rows, for reference: xdp-pass and xdp-pass-skb (an empty XDP program in native and
# in skb mode, built with clang: what XDP on a veth costs by itself) and xdp-sniff-native
# (--xdp-mode native; the default, auto, is skb on a veth).
#
#   BENCH_HTTP_SECS    seconds per run (default 10)
#   BENCH_HTTP_SIZES   response bodies (default "1460 65536")
#   BENCH_HTTP_TOOLS   default "none xdp-pass xdp-pass-skb xdp-sniff xdp-sniff-native
#                      xdp-sniff-w tcpdump"
#                      (xdp-sniff-w: load -w during the run, replay -o after it, timed
#                      like tcpflow)
#   BENCH_HTTP_RUNS    runs of every size and capturer, interleaved (default 5): the summary
#                      gives the median and the worst run, and requests against tcpdump's in
#                      the same round (the machine's load drifts between rounds)
#   BENCH_HTTP_BIN     the xdp-sniff binary (default build/xdp-sniff): before/after builds
#   BENCH_HTTP_ARGS    extra options for every load (e.g. --queue-size 0)
#                      (xdp-sniff-j / xdp-sniff-nats, not in the default: load -j to a
#                      file, and load --nats --nats-payload to a nats-server started in
#                      the client namespace: the same records, written or published)
#   BENCH_HTTP_OUT     also write the table to this file
#   BENCH_HTTP_DIR     where the work directory (outputs, capture) goes (default /tmp)
#   BENCH_KEEP=1       keep the work directory
set -u
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
BIN=${BENCH_HTTP_BIN:-$PWD/build/xdp-sniff}
RUNS=${BENCH_HTTP_RUNS:-5}
XARGS=${BENCH_HTTP_ARGS:-}
SECS=${BENCH_HTTP_SECS:-10}
SIZES=${BENCH_HTTP_SIZES:-1460 65536}
TOOLS=${BENCH_HTTP_TOOLS:-none xdp-pass xdp-pass-skb xdp-sniff xdp-sniff-native xdp-sniff-w tcpdump}
HZ=$(getconf CLK_TCK)

skip() {
	echo "skip bench_http: $*"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root for the network namespace"
[ -x "$BIN" ] || skip "$BIN not built (run make)"
for t in ip nginx wrk curl tcpdump tcpflow python3 bc ethtool tc; do
	command -v "$t" >/dev/null || skip "$t not installed"
done

. scripts/netns.sh # xs_netns_pick_net
TAG=h$$
NSC=xs-$TAG-c # client: wrk, the capturer
NSS=xs-$TAG-s # server: nginx
VC=xs${TAG}c
VS=xs${TAG}s
W=$(mktemp -d "${BENCH_HTTP_DIR:-/tmp}/bench_http.XXXXXX")
CAP_PID="" WRK_PID="" NGINX_PID="" UP=0

cleanup() {
	trap - EXIT INT TERM
	[ -n "$WRK_PID" ] && kill "$WRK_PID" 2>/dev/null
	if [ -n "$CAP_PID" ]; then
		kill -INT "$CAP_PID" 2>/dev/null
		sleep 0.5
		kill -KILL "$CAP_PID" 2>/dev/null
		wait "$CAP_PID" 2>/dev/null
	fi
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
	if [ "$UP" = 1 ]; then
		# whatever still runs in the namespaces (nginx workers) ends with them; the veth
		# pair and any XDP program on it go with the namespaces
		for ns in "$NSC" "$NSS"; do
			ip netns list 2>/dev/null | grep -qw "^$ns" || continue
			for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
			ip netns del "$ns" 2>/dev/null
		done
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo interrupted; exit 130' INT TERM

avail=$(df -Pk "$W" | awk 'NR == 2 {print int($4 / 1048576)}')
[ "$avail" -ge 20 ] || skip "needs 20 GB free under ${BENCH_HTTP_DIR:-/tmp} for the outputs (kept until the end), has $avail"
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
IF=$VC
inc() { ip netns exec "$NSC" "$@"; }

offl() { # NETNS DEV: the offloads that matter here
	ip netns exec "$1" ethtool -k "$2" 2>/dev/null | awk '
		/^tcp-segmentation-offload:/ {t = $2} /^generic-segmentation-offload:/ {g = $2}
		/^generic-receive-offload:/ {r = $2}
		END {printf "tso %s gso %s gro %s", t, g, r}'
}

mkdir -p "$W/www" "$W/tmp"
for s in $SIZES; do head -c "$s" /dev/urandom >"$W/www/f$s"; done
chmod -R a+rX "$W"
nginx_conf "$W/nginx.conf" "$W" "$SRV:80" 2
ip netns exec "$NSS" nginx -c "$W/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 100); do
	inc curl -s -o /dev/null "http://$SRV/f${SIZES%% *}" && break
	sleep 0.1
done
inc curl -s -o "$W/check" "http://$SRV/f${SIZES%% *}" && cmp -s "$W/check" "$W/www/f${SIZES%% *}" ||
	skip "nginx does not serve in the namespace (see $W/nginx.err)"

echo "nginx ($(nginx -v 2>&1 | sed 's/.*: //'), 2 workers) on $SRV:80 in $NSS; wrk and the capturer in $NSC on $IF"
echo "binary: $BIN, built $(stat -c %y "$BIN" | cut -d. -f1); outputs under $W ($(stat -f -c %T "$W"))"
echo "offloads (defaults, left alone): $IF $(offl "$NSC" "$IF"); $VS $(offl "$NSS" "$VS")"
if [ -n "$(echo "$TOOLS" | grep xdp-pass)" ]; then
	printf '#define SEC(x) __attribute__((section(x), used))\nSEC("xdp") int xdp_pass(void *ctx) { return 2; }\nchar _license[] SEC("license") = "GPL";\n' >"$W/pass.c"
	command -v clang >/dev/null && clang -O2 -target bpf -c "$W/pass.c" -o "$W/pass.o" 2>/dev/null ||
		{ echo "no clang: the xdp-pass row is left out"; TOOLS=$(echo "$TOOLS" | sed 's/xdp-pass[a-z-]*//g'); }
fi

# responses in DIR (files named SRV.00080-*, tcpflow's names) whose body after the
# header is byte for byte FILE: prints "complete files"
verify() { # DIR FILE
	python3 - "$1" "$2" "$(printf '%03d.%03d.%03d.%03d.00080-' ${SRV//./ })" <<'EOF'
import os, sys
d, ref, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
body = open(ref, "rb").read()
ok = n = 0
for root, _, files in os.walk(d):
    for name in files:
        if not name.startswith(prefix):
            continue
        n += 1
        with open(os.path.join(root, name), "rb") as f:
            data = f.read()
        i = data.find(b"\r\n\r\n")
        if i >= 0 and data[i + 4:] == body:
            ok += 1
print(ok, n)
EOF
}
run_one() { # SIZE TOOL RUN
	local size=$1 tool=$2 run=$3 out=$W/out.$1.$2.$3 pcap=$W/cap.pcap req=0 errs ok=- nfiles=- drops=- post=- off
	local pcpu=- att=
	rm -f "$pcap" "$W/cap.err"
	mkdir -p "$out"
	case $tool in
	none) ;;
	xdp-pass | xdp-pass-skb)
		# iproute2 pins under /sys/fs/bpf/{tc,ip,xdp}: keep that in a mount namespace of ours
		att=xdpdrv
		[ "$tool" = xdp-pass-skb ] && att=xdpgeneric
		inc sh -c 'mount -t bpf bpf /sys/fs/bpf && ip link set dev "$1" "$3" obj "$2" sec xdp' \
			sh "$IF" "$W/pass.o" "$att" || { echo "  $tool: cannot attach"; return 1; }
		;;
	xdp-sniff-j | xdp-sniff-nats)
		# the -j records to a file, or the same records published (drops: acked/given)
		local rec=(-j)
		[ "$tool" = xdp-sniff-nats ] && rec=(--nats "nats://127.0.0.1:$NATS_PORT" --nats-create-stream
			--nats-payload --nats-max-payload 16M --spool-dir "$W/spool" --nats-drain 60000)
		# shellcheck disable=SC2016
		ip netns exec "$NSC" sh -c 'mount -t bpf bpf /sys/fs/bpf && exec "$@"' sh \
			"$BIN" load "$IF" -p 80 -q "${rec[@]}" $XARGS >"$W/j.out" 2>"$W/cap.err" &
		CAP_PID=$!
		att=xdp-sniff
		;;
	xdp-sniff | xdp-sniff-native | xdp-sniff-w)
		local mode="-o $out"
		[ "$tool" = xdp-sniff-native ] && mode="-o $out --xdp-mode native"
		[ "$tool" = xdp-sniff-w ] && mode="-w $pcap"
		# a simple command, not a function: $! is then the capturer itself
		# shellcheck disable=SC2086,SC2016
		ip netns exec "$NSC" sh -c 'mount -t bpf bpf /sys/fs/bpf && exec "$@"' sh \
			"$BIN" load "$IF" -p 80 -q $mode $XARGS >"$W/cap.err" 2>&1 &
		CAP_PID=$!
		att=xdp-sniff
		;;
	tcpdump)
		ip netns exec "$NSC" tcpdump -i "$IF" -w "$pcap" tcp port 80 >"$W/cap.err" 2>&1 &
		CAP_PID=$!
		att=tcpdump
		;;
	esac
	if [ -n "$CAP_PID" ]; then
		for _ in $(seq 100); do
			case $att in
			xdp-sniff) ip -n "$NSC" link show dev "$IF" | grep -q 'prog/xdp' &&
				[ -n "$(tc -n "$NSC" filter show dev "$IF" egress 2>/dev/null)" ] && break ;;
			tcpdump) grep -q 'listening on' "$W/cap.err" && break ;;
			esac
			kill -0 "$CAP_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$CAP_PID" 2>/dev/null || {
			echo "  $tool did not start:"
			tail -5 "$W/cap.err" | sed 's/^/    /'
			CAP_PID=
			return 1
		}
		sleep 0.5
	fi
	off="$IF $(offl "$NSC" "$IF"), $VS $(offl "$NSS" "$VS")"
	[ -n "${NATS_PID:-}" ] && nats0=$(proc_ticks "$NATS_PID")
	ip netns exec "$NSC" wrk -t2 -c10 -d"${SECS}s" -H 'Connection: close' "http://$SRV/f$size" \
		>"$W/wrk.out" 2>&1 &
	WRK_PID=$!
	wait "$WRK_PID"
	WRK_PID=
	req=$(awk '/requests in/ {print $1}' "$W/wrk.out")
	errs=$(awk '/Socket errors|Non-2xx/ {sub(/^ +/, ""); printf "%s; ", $0}' "$W/wrk.out")
	case $att in xdpdrv | xdpgeneric) ip -n "$NSC" link set dev "$IF" "$att" off ;; esac
	if [ -n "$CAP_PID" ]; then
		wait_settled "$CAP_PID"
		[ "$tool" = tcpdump ] && sleep 1.2 # libpcap hands over a block that is not full after 1 s
		pcpu=$(proc_ticks "$CAP_PID")
		kill -INT "$CAP_PID"
		wait "$CAP_PID" 2>/dev/null
		CAP_PID=
		cp "$W/cap.err" "$W/err.$size.$tool.$run"
	fi
	case $tool in
	xdp-sniff-j) nfiles=$(wc -l <"$W/j.out") ;;
	xdp-sniff-nats)
		drops=$(sed -n 's/^nats: \([0-9]*\) records, [0-9]* published, \([0-9]*\) acknowledged.*/acked \2\/\1/p' \
			"$W/err.$size.$tool.$run")
		drops="$drops, broker $(echo "scale=2; ($(proc_ticks "$NATS_PID") - $nats0) / $HZ" | bc | sed 's/^\./0./') s"
		;;
	xdp-sniff | xdp-sniff-native)
		read -r ok nfiles < <(verify "$out" "$W/www/f$size")
		drops=$(awk '/dropped because the ring was full/ {print $1 " ring"}' "$W/cap.err")
		;;
	tcpdump | xdp-sniff-w)
		local t0 t1
		if [ "$tool" = tcpdump ]; then
			drops=$(awk '/dropped by kernel/ {print $1 " kernel"}' "$W/cap.err")
			t0=$(date +%s%N)
			(cd "$out" && tcpflow -r "$pcap" -o . >"$W/tcpflow.out" 2>&1)
		else
			drops=$(awk '/dropped because the ring was full/ {print $1 " ring"}' "$W/cap.err")
			t0=$(date +%s%N)
			"$BIN" replay "$pcap" -q -o "$out" >"$W/tcpflow.out" 2>&1
		fi
		t1=$(date +%s%N)
		post=$(echo "scale=1; ($t1 - $t0) / 1000000000" | bc | sed 's/^\./0./')
		rm -f "$pcap"
		read -r ok nfiles < <(verify "$out" "$W/www/f$size")
		;;
	esac
	[ "$pcpu" = - ] || pcpu=$(echo "scale=2; $pcpu / $HZ" | bc | sed 's/^\./0./')
	echo "$size|$tool|${req:-0}|$ok|$nfiles|${drops:--}|$pcpu|$post|${errs%; }|$off|$run" >>"$W/rows"
	# on a disk the outputs stayed until the end: ext4 without a journal makes every file
	# created within ~10 s of a mass deletion scan for a free inode (recently_deleted()),
	# which would bill the next run for this one's rm -rf. Five runs of 64 KiB responses
	# write tens of GB, so they go now, synced before the next run; BENCH_HTTP_KEEP_OUT=1
	# keeps them until the end (a journal-less ext4 with room)
	if [ "${BENCH_HTTP_KEEP_OUT:-0}" != 1 ]; then
		rm -rf "$out"
		sync
		sleep 1
	fi
	return 0
}

NATS_PORT=4222
if echo "$TOOLS" | grep -q xdp-sniff-nats; then
	command -v nats-server >/dev/null || skip "nats-server not installed (for xdp-sniff-nats)"
	printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s/nats" }\n' "$NATS_PORT" "$W" >"$W/nats.conf"
	ip netns exec "$NSC" nats-server -c "$W/nats.conf" >"$W/nats.log" 2>&1 &
	NATS_PID=$!
	for _ in $(seq 100); do inc bash -c "exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT" 2>/dev/null && break; sleep 0.1; done
fi

for run in $(seq "$RUNS"); do
	for size in $SIZES; do
		echo "== $size-byte responses, run $run of $RUNS"
		for tool in $TOOLS; do
			run_one "$size" "$tool" "$run" || continue
			tail -1 "$W/rows" | awk -F'|' '{printf "  %-16s %s requests, %s complete of %s response files, drops %s\n", $2, $3, $4, $5, $6}'
		done
	done
done

{
	echo
	echo "Live HTTP: $SECS s per run; $(nproc) CPUs, $(uname -r); nginx (2 workers) in one namespace,"
	echo "wrk and the capturer in another, one veth pair between them"
	echo "  load:      wrk -t2 -c10 -d${SECS}s -H 'Connection: close' http://$SRV/fSIZE"
	echo "  xdp-sniff: $BIN load $IF -p 80 -o DIR -q $XARGS  (auto mode: skb on a veth; xdp-sniff-native: the"
	echo "             same with --xdp-mode native; xdp-sniff-w: load -w FILE, then replay FILE -o DIR)"
	echo "  xdp-pass:  ip link set dev $IF xdpdrv obj pass.o sec xdp   (an empty XDP program, no capture;"
	echo "             xdp-pass-skb: the same with xdpgeneric)"
	echo "  tcpdump:   tcpdump -i $IF -w FILE 'tcp port 80'  then  tcpflow -r FILE -o DIR2"
	echo "  after s: the wall time of what runs after the traffic (tcpflow -r, or xdp-sniff replay -o)"
	echo "  complete: response files (SRV.00080-*) in the output whose body after \\r\\n\\r\\n equals the"
	echo "  served file byte for byte, over the requests wrk completed; proc: capturer's CPU s (utime+stime)"
	echo
	printf '| %-6s | %-16s | %3s | %8s | %8s | %8s | %8s | %-14s | %6s | %8s |\n' size capturer run requests "vs none" complete "compl. %" "drops" "proc s" "after s"
	printf '|--------|------------------|-----|----------|----------|----------|----------|----------------|--------|-----------|\n'
	awk -F'|' '
	{ if ($2 == "none") base[$1, $11] = $3
	  vs = (($1, $11) in base && base[$1, $11] > 0 && $2 != "none") ? sprintf("%.1f%%", 100 * $3 / base[$1, $11]) : "-"
	  pct = ($4 != "-" && $3 > 0) ? sprintf("%.2f", 100 * $4 / $3) : "-"
	  printf "| %-6s | %-16s | %3s | %8s | %8s | %8s | %8s | %-14s | %6s | %9s |\n", $1, $2, $11, $3, vs, $4, pct, $6, $7, $8 }' "$W/rows"
	echo
	echo "over $RUNS runs: median and worst run; requests against tcpdump's in the same round"
	echo
	printf '| %-6s | %-16s | %9s | %9s | %9s | %9s | %9s | %9s | %9s |\n' size capturer "req med" "req worst" "vs tcpd" "vs worst" "compl med" "compl min" "drops max"
	printf '|--------|------------------|-----------|-----------|-----------|-----------|-----------|-----------|-----------|\n'
	awk -F'|' "$AWK_MEDIAN"'
	{ row[NR] = $0; if ($2 == "tcpdump") td[$1, $11] = $3 }
	END {
		for (i = 1; i <= NR; i++) {
			split(row[i], f, "|"); k = f[1] "|" f[2]
			if (!(k in seen)) { seen[k] = 1; order[++n] = k }
			add(k "|req", f[3])
			if (!((k "|rmin") in lo) || f[3] + 0 < lo[k "|rmin"]) lo[k "|rmin"] = f[3] + 0
			if ((f[1], f[11]) in td && td[f[1], f[11]] > 0) {
				r = 100 * f[3] / td[f[1], f[11]]; add(k "|vs", r)
				if (!((k "|vmin") in lo) || r < lo[k "|vmin"]) lo[k "|vmin"] = r
			}
			if (f[4] != "-" && f[3] > 0) {
				p = 100 * f[4] / f[3]; add(k "|pct", p)
				if (!((k "|pmin") in lo) || p < lo[k "|pmin"]) lo[k "|pmin"] = p
			}
			split(f[6], d, " "); if (d[1] ~ /^[0-9]+$/ && d[1] + 0 > hi[k]) hi[k] = d[1] + 0
			if (d[1] ~ /^[0-9]+$/) hasd[k] = 1
		}
		for (j = 1; j <= n; j++) {
			k = order[j]; split(k, f, "|")
			printf "| %-6s | %-16s | %9d | %9d | %9s | %9s | %9s | %9s | %9s |\n", f[1], f[2],
				med(k "|req"), lo[k "|rmin"],
				((k "|vs") in vals) ? sprintf("%.1f%%", med(k "|vs")) : "-",
				((k "|vmin") in lo) ? sprintf("%.1f%%", lo[k "|vmin"]) : "-",
				((k "|pct") in vals) ? sprintf("%.2f", med(k "|pct")) : "-",
				((k "|pmin") in lo) ? sprintf("%.2f", lo[k "|pmin"]) : "-",
				(k in hasd) ? hi[k] + 0 : "-"
		}
	}' "$W/rows"
	echo
	echo "response files written (complete or not) and wrk's errors:"
	awk -F'|' '{printf "  %s %s run %s: %s files%s\n", $1, $2, $11, $5, ($9 != "" ? "; wrk: " $9 : "")}' "$W/rows"
	echo "offloads during the runs:"
	awk -F'|' '$11 == 1 {printf "  %s %s: %s\n", $1, $2, $10}' "$W/rows"
} | tee "$W/table"
[ -n "${BENCH_HTTP_OUT:-}" ] && cp "$W/table" "$BENCH_HTTP_OUT"
for f in "$W"/err.*; do
	[ -e "$f" ] || continue
	echo "-- ${f##*/err.}:"
	grep -v -e '^$' -e 'listening on' "$f" | sed 's/^/   /' | tail -6
done
exit 0
