#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The JSON-line logs (--json-log, --http-log, --tls-log) given as a path are continued, never
# truncated: a restart after a crash keeps what the crashed run logged. Checked with replay:
#  - a second run with the same paths appends its records after the first run's;
#  - a log that ends inside a line (a writer cut short) has that unfinished line cut off
#    first, said in one line: every line of the file parses afterwards, none is lost;
#  - a log path that is not a regular file (/dev/null) still works.
set -u
. "$(dirname "$0")/lib.sh"
CAP=../shared/testdata/pcaps/pcapplusplus__three_http_streams.pcap

[ -x "$XS" ] || { skp log-continue "$XS is not built (run make)"; finish; }
[ -f "$CAP" ] || { skp log-continue "$CAP is missing (../shared/testdata)"; finish; }

run() { "$XS" replay "$CAP" --no-kernel --json-log "$tmp/j.log" --http-log "$tmp/h.log" "$@" 2>"$tmp/err"; }

# lines FILE: how many whole lines, all of which must parse as JSON (else -1)
lines()
{
	python3 - "$1" <<'EOF'
import json, sys
data = open(sys.argv[1], "rb").read()
if data and not data.endswith(b"\n"):
    print(-1); sys.exit()
try:
    print(sum(1 for l in data.splitlines() if json.loads(l) is not None))
except ValueError:
    print(-1)
EOF
}

run || { bad first-run "exit $?: $(tail -1 "$tmp/err")"; finish; }
j1=$(lines "$tmp/j.log")
h1=$(lines "$tmp/h.log")
if [ "$j1" -gt 0 ] && [ "$h1" -gt 0 ]; then
	ok "first run: $j1 stream records, $h1 exchanges"
else
	bad first-run "json-log $j1 lines, http-log $h1"
fi

run || bad second-run "exit $?: $(tail -1 "$tmp/err")"
j2=$(lines "$tmp/j.log")
h2=$(lines "$tmp/h.log")
if [ "$j2" = $((2 * j1)) ] && [ "$h2" = $((2 * h1)) ]; then
	ok "second run appended: $j2 and $h2 lines"
else
	bad appended "after two runs json-log $j2 lines (want $((2 * j1))), http-log $h2 (want $((2 * h1)))"
fi

# a crash of another writer left half a line at the end of both logs
printf '{"cut":"shor' >>"$tmp/j.log"
printf '{"half' >>"$tmp/h.log"
run || bad torn-run "exit $?: $(tail -1 "$tmp/err")"
j3=$(lines "$tmp/j.log")
h3=$(lines "$tmp/h.log")
if [ "$j3" = $((3 * j1)) ] && [ "$h3" = $((3 * h1)) ]; then
	ok "torn tails cut off, every line parses: $j3 and $h3 lines"
else
	bad torn "json-log $j3 lines (want $((3 * j1))), http-log $h3 (want $((3 * h1))); -1: a line does not parse"
fi
if [ "$(grep -c 'ended inside a line: its last 12 bytes were cut off' "$tmp/err")" = 1 ] &&
	[ "$(grep -c 'ended inside a line: its last 6 bytes were cut off' "$tmp/err")" = 1 ]; then
	ok "each cut said in one line"
else
	bad torn-said "$(grep -c 'cut off' "$tmp/err") lines about the cut: $(grep 'cut off' "$tmp/err" | head -2)"
fi

"$XS" replay "$CAP" --no-kernel --json-log /dev/null 2>"$tmp/err" &&
	ok "--json-log /dev/null" || bad dev-null "exit $?: $(tail -1 "$tmp/err")"
finish
