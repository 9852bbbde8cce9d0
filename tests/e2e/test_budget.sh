#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# --max-stream-bytes N: the kernel copies the first N payload bytes of each direction of
# each flow, then headers only. Checked on 1 and 8 MiB HTTP transfers against tcpdump's
# capture of the same traffic, reassembled by tcpflow: our files are its first N bytes,
# and the streams still end closed.

. "$(dirname "$0")/lib.sh"

e2e_require tcpdump tcpflow curl python3

WWW=$E2E_TMP/www
N=4096

t_budget()
{
	local full=$E2E_TMP/full.pcap tpid f ours theirs n=0 closed

	tcpdump -i "$XS_IF" -w "$full" -B 65536 -U 'tcp port 8080' >/dev/null 2>"$E2E_TMP/tcpdump.err" &
	tpid=$!
	E2E_PIDS+=("$tpid")
	wait_for 10 grep -q 'listening' "$E2E_TMP/tcpdump.err" || { WHY="tcpdump did not start"; return 1; }
	xs_start budget "$XS_IF" -p 8080 --max-stream-bytes "$N" -o "$E2E_TMP/ours" -j || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got" 8080/f_8388608 8080/f_1048576 8080/f_100 || return 1
	xs_stop INT || return 1
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC"; return 1; }
	kill -INT "$tpid"; wait "$tpid"
	tcpflow_dir "$full" "$E2E_TMP/theirs" || return 1
	rm -f "$E2E_TMP/theirs/report.xml"
	for f in "$E2E_TMP"/theirs/*; do
		theirs=$f
		ours=$E2E_TMP/ours/$(basename "$f")
		[ -f "$ours" ] || { WHY="no file $(basename "$f") from xdp-sniff"; return 1; }
		if [ "$(stat -c %s "$theirs")" -gt "$N" ]; then
			[ "$(stat -c %s "$ours")" -eq "$N" ] ||
				{ WHY="$(basename "$f"): $(stat -c %s "$ours") bytes, want $N"; return 1; }
		fi
		cmp -s "$ours" <(head -c "$N" "$theirs") ||
			{ WHY="$(basename "$f") is not the first $N bytes of the stream"; return 1; }
		n=$((n + 1))
	done
	[ "$n" -eq 6 ] || { WHY="$n stream files, want 6"; return 1; }
	closed=$(grep -c '"state":"closed"' "$E2E_TMP/budget.out")
	[ "$closed" -eq 3 ] || { WHY="$closed of 3 streams closed"; return 1; }
	grep -q '"gap_bytes":[1-9]' "$E2E_TMP/budget.out" && { WHY="a budget cut was reported as a gap"; return 1; }
	# sizes in the summary are in B, KiB, MiB, ...: a count that is not 0
	grep -qE '[1-9][0-9.]* ([KMGTPE]i)?B past --max-stream-bytes' "$E2E_TMP/budget.err" ||
		{ WHY="no bytes counted past --max-stream-bytes"; return 1; }
	return 0
}

make_files "$WWW/8080" 100 1048576 8388608
if ! e2e_netns_up || ! e2e_http_server 8080 "$WWW/8080"; then
	WHY="setting up the namespace and server failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi
run_test max_stream_bytes t_budget
e2e_finish
