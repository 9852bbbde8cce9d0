#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# --transport afxdp on a veth pair acting as a mirror port, against the ring buffer.
#
# The mirror port: a veth pair in the root namespace (where bpffs is), without any
# address (not even IPv6 link-local: addrgenmode none). Frames written into its feed
# end M arrive on the capture end C, as on a SPAN port. Two such pairs: one queue, and
# four queues (numrxqueues 4, with M sending on four tx queues: veth hands a frame to the
# receive queue of the tx queue it left by, picked by the flow hash).
#
#   replay    the Ethernet frames of the test captures (../shared/testdata/pcaps),
#             written into M by tests/e2e/send_frames.py (AF_PACKET), once with
#             --transport afxdp and once with the ring buffer (--direction in): the -o
#             trees are the same byte for byte, the counters agree, the sockets lost
#             nothing, and with four queues more than one queue carried frames.
#   live      curl <-> python http.server over the netns pair of lib.sh, its both
#             directions mirrored into M with tc mirred: afxdp on C and the ring buffer
#             on the real interface capture the same transfers at the same time; both
#             -o trees hold every response byte for byte and equal each other.
#   passes    what the program does not take reaches the host (tcpdump on C sees the
#             frames that did not match, none of those that did); with --consume-all
#             tcpdump sees nothing.
#   status    status and filter edits work on an afxdp capture (pinned maps).
#   errors    an interface with an address (exit 1, and no XDP left on it), --direction
#             out (exit 2), no AF_XDP in the kernel (an LD_PRELOAD shim, exit 1), the
#             queue count growing under a running capture (exit 1 naming it).
#
# Usage: tests/e2e/test_afxdp.sh   (as root; XDP_SNIFF=path overrides the binary,
#        E2E_KEEP=1 keeps the temp directory, PCAPS=dir the captures)

. "$(dirname "$0")/lib.sh"

e2e_require tcpdump curl python3 tc ethtool

PCAPS=${PCAPS:-$E2E_ROOT/../shared/testdata/pcaps}
SEND=$E2E_ROOT/tests/e2e/send_frames.py
WWW=$E2E_TMP/www
SIZES=(0 1460 65536 1048576 4194304)
NAMES=()
for s in "${SIZES[@]}"; do NAMES+=("f_$s"); done

# mirror_up NAME QUEUES: a pair C=xsTAG${NAME}c / M=xsTAG${NAME}m with QUEUES queues each way.
mirror_up()
{
	local c="xs${E2E_TAG}$1c" m="xs${E2E_TAG}$1m" nq=$2

	ip link add "$c" numtxqueues "$nq" numrxqueues "$nq" type veth peer name "$m" \
		numtxqueues "$nq" numrxqueues "$nq" || return 1
	E2E_LINKS+=("$c")
	E2E_IFACES+=("$c")
	ip link set "$c" addrgenmode none && ip link set "$m" addrgenmode none &&
		ip link set "$c" up && ip link set "$m" up
}

setup()
{
	mirror_up 1 1 || { echo "# cannot make the 1-queue mirror pair" >&2; return 1; }
	mirror_up 4 4 || { echo "# cannot make the 4-queue mirror pair" >&2; return 1; }
	C1="xs${E2E_TAG}1c" M1="xs${E2E_TAG}1m" C4="xs${E2E_TAG}4c" M4="xs${E2E_TAG}4m"
}

# Counter NAME of the "in :" line of xdp-sniff status IFACE.
in_counter()
{
	"$XS" status "$1" 2>/dev/null | sed -n "s/^  in :.* $2 \([0-9]*\).*/\1/p"
}

# Waits until the program on IFACE has seen N frames.
seen_reaches()
{
	local ifc=$1 n=$2 v

	v=$(in_counter "$ifc" seen)
	[ -n "$v" ] && [ "$v" -ge "$n" ]
}

# Ethernet captures, one name a line (file names with spaces are not expected here).
captures()
{
	ls "$PCAPS"/*.pcap "$PCAPS"/*.pcapng 2>/dev/null
}

# replay_run NAME IFACE FEED FILES -- ARGS...: captures on IFACE with ARGS while FILES are
# written into FEED; stops once the program has seen every frame sent.
replay_run()
{
	local name=$1 ifc=$2 feed=$3 files=() sent

	shift 3
	while [ "$1" != -- ]; do files+=("$1"); shift; done
	shift
	mkdir -p "$E2E_TMP/$name"
	xs_start "$name" "$ifc" -o "$E2E_TMP/$name" "$@" || return 1
	sent=$(python3 "$SEND" "$feed" "${files[@]}") ||
		{ WHY="send_frames.py failed on $feed"; return 1; }
	sent=$(sed -n 's/^sent \([0-9]*\).*/\1/p' <<<"$sent")
	[ "${sent:-0}" -gt 10 ] || { WHY="only '${sent}' frames sent"; return 1; }
	wait_for 10 seen_reaches "$ifc" "$sent" ||
		{ WHY="$name: the program saw $(in_counter "$ifc" seen) of $sent frames sent"; return 1; }
	xs_stop INT || { WHY="$name: no exit within 30 s of SIGINT"; return 1; }
	[ "$XS_RC" -eq 0 ] ||
		{ WHY="$name: exit status $XS_RC: $(tail -n 2 "$E2E_TMP/$name.err" | tr '\n' ' ')"; return 1; }
	SENT=$sent
}

# A counter from the exit summary of run NAME: "matched", "delivered" or "received".
summary()
{
	local f=$E2E_TMP/$1.err

	case $2 in
	matched) sed -n 's/^\([0-9]*\) packets matched the filter.*/\1/p' "$f" ;;
	delivered) sed -n 's/^[0-9]* packets matched the filter, \([0-9]*\) delivered.*/\1/p' "$f" ;;
	received) sed -n 's/^AF_XDP: \([0-9]*\) frames received.*/\1/p' "$f" ;;
	sockdrops) sed -n 's/^AF_XDP: .* dropped \([0-9]*\) for a full RX ring and \([0-9]*\) for.*/\1 \2/p' "$f" ;;
	esac | tail -n 1
}

# Same file names, same bytes.
same_tree()
{
	local a=$1 b=$2 la lb n

	la=$(cd "$a" && find . -type f | sort)
	lb=$(cd "$b" && find . -type f | sort)
	[ -n "$la" ] || { WHY="no stream file in $a"; return 1; }
	[ "$la" = "$lb" ] ||
		{ WHY="file names differ: $(diff <(echo "$la") <(echo "$lb") | grep '^[<>]' | head -n 4 | tr '\n' ' ')"; return 1; }
	for n in $la; do
		cmp -s "$a/$n" "$b/$n" ||
			{ WHY="$n: $(stat -c %s "$a/$n") bytes in $(basename "$a"), $(stat -c %s "$b/$n") in $(basename "$b"), contents differ"; return 1; }
	done
}

# afxdp and ring on the same replayed frames: same streams, same counts, nothing lost.
t_replay()
{
	local nq=$1 c m files=() f a r busy

	[ "$nq" = 1 ] && c=$C1 m=$M1 || c=$C4 m=$M4
	mapfile -t files < <(captures)
	[ "${#files[@]}" -gt 0 ] || { WHY="no test captures in $PCAPS"; return 77; }
	if [ "$nq" != 1 ]; then
		# zeek's http-vlan-0 is http_get's connection again with a VLAN tag: the flow hash
		# covers the tag, so it would share a 4-tuple with another queue, which no mirror
		# port does; per-flow order across queues is not defined for it
		for f in "${!files[@]}"; do
			[[ ${files[$f]} == *vlan* ]] && unset "files[$f]"
		done
	fi
	a="afxdp$nq" r="ring$nq"
	replay_run "$a" "$c" "$m" "${files[@]}" -- --transport afxdp || return 1
	replay_run "$r" "$c" "$m" "${files[@]}" -- --direction in || return 1
	same_tree "$E2E_TMP/$a" "$E2E_TMP/$r" || return 1
	[ "$(summary "$a" matched)" = "$(summary "$r" matched)" ] ||
		{ WHY="matched: afxdp $(summary "$a" matched), ring $(summary "$r" matched)"; return 1; }
	[ "$(summary "$a" delivered)" = "$(summary "$r" delivered)" ] ||
		{ WHY="delivered: afxdp $(summary "$a" delivered), ring $(summary "$r" delivered)"; return 1; }
	[ "$(summary "$a" received)" = "$(summary "$a" delivered)" ] ||
		{ WHY="the sockets received $(summary "$a" received) frames, the program delivered $(summary "$a" delivered)"; return 1; }
	[ "$(summary "$a" sockdrops)" = "0 0" ] ||
		{ WHY="socket drops (ring full, no frame): $(summary "$a" sockdrops)"; return 1; }
	grep -q "on $nq queue" "$E2E_TMP/$a.err" ||
		{ WHY="not $nq queues: $(grep '^AF_XDP' "$E2E_TMP/$a.err")"; return 1; }
	if [ "$nq" != 1 ]; then
		busy=$(ethtool -S "$c" | grep -c 'rx_queue_[0-9]*_xdp_packets: [1-9]')
		[ "$busy" -ge 2 ] || { WHY="only $busy receive queue(s) of $c carried frames"; return 1; }
	fi
}

# tc mirred of both directions of IFACE into FEED; the filter runs before any other
# (prio 1) and lets the packet go on to them (continue). u32 matching everything: not every
# kernel has matchall.
mirror_into()
{
	local ifc=$1 feed=$2 dir

	tc qdisc add dev "$ifc" clsact 2>/dev/null
	for dir in ingress egress; do
		tc filter add dev "$ifc" "$dir" prio 1 protocol all u32 match u32 0 0 \
			action mirred egress mirror dev "$feed" continue || return 1
	done
}

mirror_off()
{
	tc filter del dev "$1" ingress prio 1 2>/dev/null
	tc filter del dev "$1" egress prio 1 2>/dev/null
}

# Live transfers: afxdp on the mirror and the ring buffer on the real interface at once.
t_live()
{
	local items=() n rc=0 lost0 lost

	for n in "${NAMES[@]}"; do items+=("8080/$n"); done
	mkdir -p "$E2E_TMP/live-a" "$E2E_TMP/live-r"
	# a queue on the feed end: veth then holds frames back while its peer's ring is full,
	# rather than dropping them (a real SPAN port drops when oversubscribed: not tested here)
	tc qdisc replace dev "$M1" root pfifo limit 100000 || { WHY="no qdisc on $M1"; return 1; }
	lost0=$(cat "/sys/class/net/$M1/statistics/tx_dropped")
	mirror_into "$XS_IF" "$M1" || { WHY="tc mirred into $M1 failed"; return 1; }
	xs_start live-a "$C1" --transport afxdp -p 8080 -o "$E2E_TMP/live-a" || { mirror_off "$XS_IF"; return 1; }
	local pa=$XS_PID
	# native: in skb mode (auto's choice on a veth) the tc hook would mirror the peer's GSO
	# packets whole, and no AF_XDP frame holds 64 KiB
	xs_start live-r "$XS_IF" -p 8080 -o "$E2E_TMP/live-r" --xdp-mode native ||
		{ mirror_off "$XS_IF"; return 1; }
	local pr=$XS_PID
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-live" "${items[@]}" 9090/f_65536 || rc=1
	XS_PID=$pr
	xs_stop INT || rc=1
	local rr=$XS_RC
	XS_PID=$pa
	xs_stop INT || rc=1
	mirror_off "$XS_IF"
	[ "$rc" -eq 0 ] || { WHY=${WHY:-"a capture did not stop"}; return 1; }
	[ "$XS_RC" -eq 0 ] && [ "$rr" -eq 0 ] ||
		{ WHY="exit status afxdp $XS_RC, ring $rr: $(tail -n 2 "$E2E_TMP/live-a.err" | tr '\n' ' ')"; return 1; }
	[ "$(summary live-a sockdrops)" = "0 0" ] ||
		{ WHY="socket drops (ring full, no frame): $(summary live-a sockdrops)"; return 1; }
	lost=$(( $(cat "/sys/class/net/$M1/statistics/tx_dropped") - lost0 ))
	WHY=$(check_flows "$E2E_TMP/live-a" "$XS_SRV4" 8080 "$WWW/8080" "${NAMES[@]}") ||
		{ WHY="afxdp: $WHY ($lost frames dropped by the mirror veth $M1 itself; $(grep -h 'gaps' "$E2E_TMP/live-a.err"))"; return 1; }
	same_tree "$E2E_TMP/live-a" "$E2E_TMP/live-r" || return 1
}

# host_count NAME: frames in the tcpdump capture of run NAME, 0 while it has none.
host_count()
{
	pcap_count "$E2E_TMP/$1.host.pcap" "${@:2}" 2>/dev/null || echo 0
}

# passed_to_host NAME EXPECT ARGS...: replays two captures (port 80 and others) into M1 with --transport afxdp
# ARGS while tcpdump listens on C1 (it sees what XDP passes on, after the program); gives
# tcpdump up to 5 s to write EXPECT frames (EXPECT is a formula of SENT and DELIVERED),
# then sets HOST_SAW (all frames) and HOST_SAW_80 (port 80).
passed_to_host()
{
	local name=$1 expect=$2 pid want

	shift 2
	tcpdump -i "$C1" -nn -U --immediate-mode -w "$E2E_TMP/$name.host.pcap" \
		>"$E2E_TMP/$name.tcpdump" 2>&1 &
	pid=$!
	e2e_track "$pid"
	wait_for 10 grep -q 'listening on' "$E2E_TMP/$name.tcpdump" ||
		{ WHY="tcpdump on $C1 did not start"; return 1; }
	replay_run "$name" "$C1" "$M1" "$PCAPS/pcapplusplus__three_http_streams.pcap" \
		"$PCAPS/tcpflow__test1.pcap" -- --transport afxdp "$@" || return 1
	DELIVERED=$(summary "$name" delivered)
	want=$((expect))
	wait_for 5 eval '[ "$(host_count '"$name"')" -ge '"$want"' ]'
	e2e_stop_pid "$pid"
	HOST_SAW=$(host_count "$name")
	HOST_SAW_80=$(host_count "$name" 'tcp port 80')
}

t_passes()
{
	[ -f "$PCAPS/pcapplusplus__three_http_streams.pcap" ] && [ -f "$PCAPS/tcpflow__test1.pcap" ] ||
		{ WHY="no test captures in $PCAPS"; return 77; }
	# -p 443: nothing in these captures matches, everything reaches the host
	passed_to_host pass-none 'SENT' -p 443 || return 1
	[ "$HOST_SAW" -eq "$SENT" ] || { WHY="-p 443: the host saw $HOST_SAW of $SENT frames"; return 1; }
	# -p 80: what matched was taken, the rest (other ports) reached the host
	passed_to_host pass-80 'SENT - DELIVERED' -p 80 || return 1
	[ "$HOST_SAW_80" -eq 0 ] || { WHY="-p 80: the host saw $HOST_SAW_80 frames of port 80"; return 1; }
	[ "$DELIVERED" -gt 0 ] && [ "$HOST_SAW" -gt 0 ] && [ "$HOST_SAW" -eq $((SENT - DELIVERED)) ] ||
		{ WHY="-p 80: $DELIVERED delivered, the host saw $HOST_SAW of $SENT frames"; return 1; }
	# --consume-all: nothing reaches the host
	passed_to_host pass-consume 0 -p 80 --consume-all || return 1
	[ "$HOST_SAW" -eq 0 ] || { WHY="--consume-all: the host saw $HOST_SAW frames"; return 1; }
}

# status names the transport; a filter edit reaches the program.
t_status_filter()
{
	local st sent

	[ -f "$PCAPS/zeek__http_get.pcap" ] || { WHY="no test captures in $PCAPS"; return 77; }
	xs_start status "$C1" --transport afxdp -p 443 || return 1
	st=$("$XS" status "$C1")
	grep -q 'transport: AF_XDP' <<<"$st" || { WHY="status does not name AF_XDP: $st"; return 1; }
	"$XS" filter "$C1" set -p 80 >/dev/null 2>"$E2E_TMP/filter.err" ||
		{ WHY="filter set failed: $(cat "$E2E_TMP/filter.err")"; return 1; }
	"$XS" status "$C1" | grep -q 'filter: port 80' ||
		{ WHY="status does not show the new filter: $("$XS" status "$C1" | grep filter)"; return 1; }
	sent=$(python3 "$SEND" "$M1" "$PCAPS/zeek__http_get.pcap" | sed -n 's/^sent \([0-9]*\).*/\1/p')
	wait_for 10 seen_reaches "$C1" "$sent" || { WHY="the program did not see the frames"; return 1; }
	[ "$(in_counter "$C1" matched)" -gt 0 ] ||
		{ WHY="nothing matched after the filter was set to port 80"; return 1; }
	xs_stop INT && [ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC"; return 1; }
	grep -q '\.80: Flags' "$E2E_TMP"/status.out ||
		{ WHY="no packet to port 80 in the output after the filter edit"; return 1; }
}

t_errors()
{
	local rc

	# the netns pair's root end has addresses: refused, nothing left attached
	"$XS" load "$XS_IF" --transport afxdp >/dev/null 2>"$E2E_TMP/err-addr"
	rc=$?
	[ "$rc" -eq 1 ] || { WHY="with an address: exit $rc, not 1"; return 1; }
	grep -q "refusing --transport afxdp on $XS_IF: it has address .*no longer reach this host.*--force" \
		"$E2E_TMP/err-addr" || { WHY="with an address: '$(cat "$E2E_TMP/err-addr")'"; return 1; }
	[ "$(wc -l <"$E2E_TMP/err-addr")" -eq 1 ] || { WHY="more than one line: $(cat "$E2E_TMP/err-addr")"; return 1; }
	ip link show dev "$XS_IF" | grep -q 'xdp' && { WHY="XDP left on $XS_IF"; return 1; }

	"$XS" load "$C1" --transport afxdp --direction out >/dev/null 2>"$E2E_TMP/err-dir"
	rc=$?
	[ "$rc" -eq 2 ] || { WHY="--direction out: exit $rc, not 2"; return 1; }
	grep -q -- '--direction must be in' "$E2E_TMP/err-dir" ||
		{ WHY="--direction out: '$(cat "$E2E_TMP/err-dir")'"; return 1; }
	"$XS" load "$C1" --consume-all >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 2 ] || { WHY="--consume-all without afxdp: exit $rc, not 2"; return 1; }

	# no AF_XDP: socket(AF_XDP, ...) fails as on a kernel without CONFIG_XDP_SOCKETS
	if command -v cc >/dev/null; then
		cat >"$E2E_TMP/noxdp.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>
int socket(int domain, int type, int protocol)
{
	static int (*real)(int, int, int);

	if (domain == AF_XDP) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (!real)
		real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
	return real(domain, type, protocol);
}
EOF
		cc -shared -fPIC -o "$E2E_TMP/noxdp.so" "$E2E_TMP/noxdp.c" -ldl ||
			{ WHY="cannot build the LD_PRELOAD shim"; return 1; }
		# an ASan build wants its runtime first in the preload list
		local pre=$E2E_TMP/noxdp.so asan
		asan=$(ldd "$XS" 2>/dev/null | awk '/libasan/ { print $3 }')
		[ -n "$asan" ] && pre=$asan:$pre
		LD_PRELOAD=$pre "$XS" load "$C1" --transport afxdp >/dev/null 2>"$E2E_TMP/err-noxdp"
		rc=$?
		[ "$rc" -eq 1 ] || { WHY="without AF_XDP: exit $rc, not 1"; return 1; }
		grep -q 'AF_XDP sockets are not available.*CONFIG_XDP_SOCKETS' "$E2E_TMP/err-noxdp" ||
			{ WHY="without AF_XDP: '$(cat "$E2E_TMP/err-noxdp")'"; return 1; }
		ip link show dev "$C1" | grep -q 'xdp' && { WHY="XDP left on $C1"; return 1; }
	fi
	return 0
}

# Queues added under a running capture have no socket: it stops and says so. (The kernel
# refuses to remove a queue that has a socket bound.)
t_queue_change()
{
	local c=$C4 m=$M4

	# veth wants as many receive queues as its peer has transmit queues for native XDP
	ethtool -L "$m" tx 2 && ethtool -L "$c" rx 2 || { WHY="ethtool -L failed on $c"; return 77; }
	xs_start qchange "$c" --transport afxdp || { ethtool -L "$c" rx 4; ethtool -L "$m" tx 4; return 1; }
	grep -q 'AF_XDP: 2 queues' "$E2E_TMP/qchange.err" ||
		{ WHY="not 2 queues: $(cat "$E2E_TMP/qchange.err")"; return 1; }
	ethtool -L "$c" rx 4 || { WHY="ethtool -L $c rx 4 failed"; return 1; }
	if ! wait_for 10 eval "! kill -0 $XS_PID 2>/dev/null"; then
		WHY="still running 10 s after the queue count changed"
		ethtool -L "$m" tx 4
		return 1
	fi
	wait "$XS_PID"
	XS_RC=$?
	ethtool -L "$m" tx 4
	[ "$XS_RC" -eq 1 ] || { WHY="exit status $XS_RC, not 1"; return 1; }
	grep -q "receive queues of $c changed from 2 to 4" "$E2E_TMP/qchange.err" ||
		{ WHY="no message naming the change: $(tail -n 3 "$E2E_TMP/qchange.err" | tr '\n' ' ')"; return 1; }
}

if ! setup; then
	WHY="setup failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi
run_test replay_1_queue t_replay 1
run_test replay_4_queues t_replay 4
run_test passes_and_consume_all t_passes
run_test status_and_filter_edit t_status_filter
run_test queue_count_change t_queue_change
if e2e_netns_up; then
	make_files "$WWW/8080" "${SIZES[@]}"
	make_files "$WWW/9090" 65536
	if e2e_http_server 8080 "$WWW/8080" && e2e_http_server 9090 "$WWW/9090"; then
		run_test live_mirror_vs_ring t_live
	else
		WHY="http.server did not start"
		e2e_result live_mirror_vs_ring 1
	fi
	run_test errors t_errors
else
	WHY="cannot build the namespace and veth pair"
	e2e_result live_mirror_vs_ring 1
fi
e2e_finish
