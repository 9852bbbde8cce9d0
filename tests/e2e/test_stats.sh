#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Counters while load runs: --stats-interval writes JSON lines on stderr; a status line
# is rewritten once a second when stderr is a terminal, and never written otherwise.

. "$(dirname "$0")/lib.sh"

e2e_require python3 curl script

WWW=$E2E_TMP/www

json_lines()
{
	python3 - "$1" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    o = json.loads(line)
    assert o["kernel"]["in"]["seen"] >= 0 and "ring_full" in o["kernel"]["out"], o
    assert "streams_open" in o["streams"] and o["memory"]["limit"] > 0, o
    n += 1
print(n)
PY
}

t_stats_interval()
{
	local n

	xs_start json "$XS_IF" -p 8080 -o "$E2E_TMP/flows" --stats-interval 1 || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got" 8080/f_65536 8080/f_1460 || return 1
	# two intervals: at least two lines
	wait_for 10 eval '[ "$(json_lines "$E2E_TMP/json.err" 2>/dev/null)" -ge 2 ]' ||
		{ WHY="fewer than 2 JSON counter lines in 10 s: $(head -c 300 "$E2E_TMP/json.err")"; return 1; }
	xs_stop INT || return 1
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC"; return 1; }
	n=$(json_lines "$E2E_TMP/json.err") || { WHY="a JSON counter line does not parse"; return 1; }
	grep -q $'\r' "$E2E_TMP/json.err" && { WHY="a status line was written to a file"; return 1; }
	grep -q 'pkt/s' "$E2E_TMP/json.err" && { WHY="a status line was written to a file"; return 1; }
	return 0
}

t_status_line_on_terminal()
{
	local log=$E2E_TMP/tty.log

	# script(1) gives the process a terminal; its output lands in $log
	script -qfec "$XS load $XS_IF -p 8080 -o $E2E_TMP/flows-tty" "$log" >/dev/null 2>&1 &
	local spid=$!
	E2E_PIDS+=("$spid")
	wait_for 15 grep -q 'pkt/s' "$log" ||
		{ WHY="no status line on the terminal within 15 s: $(head -c 300 "$log")"; return 1; }
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-tty" 8080/f_65536 || return 1
	wait_for 10 grep -q '[1-9][0-9]* matched/s' "$log" ||
		{ WHY="the status line never showed matched packets"; return 1; }
	pkill -INT -f "xdp-sniff load $XS_IF -p 8080 -o $E2E_TMP/flows-tty"
	wait_for 15 eval "! kill -0 $spid 2>/dev/null" || { WHY="load did not stop"; return 1; }
	grep -q 'ring drops' "$log" || { WHY="no ring drops on the status line"; return 1; }
}

make_files "$WWW/8080" 1460 65536
if ! e2e_netns_up || ! e2e_http_server 8080 "$WWW/8080"; then
	WHY="setting up the namespace and server failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi
run_test stats_interval_json t_stats_interval
run_test status_line_on_terminal t_status_line_on_terminal
e2e_finish
