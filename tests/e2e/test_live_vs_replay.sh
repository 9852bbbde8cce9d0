#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The same traffic two ways: xdp-sniff load -o on the veth during 40 concurrent HTTP
# transfers, and tcpdump capturing the same interface at the same time, its file then run
# through xdp-sniff replay -o. Both trees must be identical, and every response body must
# be byte-exact against what the server sent.

. "$(dirname "$0")/lib.sh"

e2e_require tcpdump curl python3

WWW=$E2E_TMP/www
SIZES=(0 1 1460 65536 1048576 8388608)

t_live_equals_replay()
{
	local pcap=$E2E_TMP/td.pcap tpid items=() i s n

	# immediate mode: a block of tcpdump's ring that is not full yet would be lost at exit
	tcpdump -i "$XS_IF" -w "$pcap" -B 131072 --immediate-mode -U 'tcp port 8080' \
		>/dev/null 2>"$E2E_TMP/td.err" &
	tpid=$!
	E2E_PIDS+=("$tpid")
	wait_for 10 grep -q listening "$E2E_TMP/td.err" || { WHY="tcpdump did not start"; return 1; }
	xs_start live "$XS_IF" -p 8080 -o "$E2E_TMP/live" || return 1
	for i in $(seq 1 40); do
		s=${SIZES[$((i % ${#SIZES[@]}))]}
		[ "$s" -eq 8388608 ] && [ "$i" -gt 12 ] && s=65536
		items+=("8080/f_$s")
	done
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got" "${items[@]}" || return 1
	xs_stop INT || return 1
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC"; return 1; }
	[ "$(xs_ring_full "$E2E_TMP/live.err")" = 0 ] || { WHY="ring-full drops"; return 1; }
	# tcpdump has written every packet once the file stops growing
	local size=-1
	while [ "$(stat -c %s "$pcap")" != "$size" ]; do
		size=$(stat -c %s "$pcap")
		sleep 0.2
	done
	kill -INT "$tpid"
	wait "$tpid"
	grep -q '^0 packets dropped by kernel' "$E2E_TMP/td.err" ||
		{ WHY="tcpdump dropped packets: $(grep dropped "$E2E_TMP/td.err" | tr '\n' ' ')"; return 77; }
	"$XS" replay "$pcap" -q -o "$E2E_TMP/replayed" >/dev/null 2>"$E2E_TMP/replay.err" ||
		{ WHY="replay failed: $(tail -n 1 "$E2E_TMP/replay.err")"; return 1; }
	n=$(ls "$E2E_TMP/live" | wc -l)
	[ "$n" -ge 80 ] || { WHY="$n flow files from load, want 80 (40 connections)"; return 1; }
	diff -r "$E2E_TMP/live" "$E2E_TMP/replayed" >"$E2E_TMP/diff" 2>&1 ||
		{ WHY="load -o and replay -o of tcpdump's file differ: $(head -n 2 "$E2E_TMP/diff" | tr '\n' ' ')"; return 1; }
	WHY=$(check_flows "$E2E_TMP/live" "$XS_SRV4" 8080 "$WWW/8080" "${SIZES[@]/#/f_}") || return 1
}

make_files "$WWW/8080" "${SIZES[@]}"
if ! e2e_netns_up || ! e2e_http_server 8080 "$WWW/8080"; then
	WHY="setting up the namespace and server failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi
run_test live_equals_replay_of_tcpdump t_live_equals_replay
e2e_finish
