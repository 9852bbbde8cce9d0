#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Logs and retention for a capture left running (issues 13 and 23), under live traffic in a
# namespace:
#  - --json-log FILE holds the records -j prints (replay of one capture, byte for byte), and
#    live, one parseable record per connection made;
#  - SIGHUP after the logs were moved away (logrotate's postrotate): the capture goes on,
#    new records go to fresh files, the moved ones end with a whole line, and the records of
#    both files together are the connections made, each once (none lost, none split);
#  - SIGKILL at random moments during heavy --json-log and --http-log writing leaves only
#    whole lines, each of which json.loads takes;
#  - -o DIR --max-output-bytes SIZE: while streams come and go, the tree (du -sb) stays
#    under SIZE plus the one stream open at a time (its 64 KiB download and request: the
#    slack), the oldest finished streams go first (a file left from before, then the first
#    downloads), and the counters (exit summary, --stats-interval) match what is gone;
#  - nonsense sizes for --max-output-bytes: one line, exit 2, nothing attached.
#
# Usage: tests/e2e/test_logs.sh   (as root; XDP_SNIFF=path overrides the binary)

. "$(dirname "$0")/lib.sh"

e2e_require curl python3

WWW=$E2E_TMP/www
setup()
{
	make_files "$WWW" 65536 2000 300000
	e2e_netns_up || { WHY="cannot build the namespace and veth pair"; return 1; }
	e2e_http_server 8080 "$WWW" || { WHY="http.server on 8080 did not start"; return 1; }
}

# Lines in FILE (0 when it does not exist).
lines()
{
	[ -f "$1" ] && wc -l <"$1" || echo 0
}

# Every line of each FILE is a whole JSON object; prints the total number of lines.
# FILE=KEY checks that every line has KEY.
check_json()
{
	python3 - "$@" <<'EOF'
import json, sys
total = 0
for arg in sys.argv[1:]:
    path, _, key = arg.partition('=')
    d = open(path, 'rb').read()
    if d and not d.endswith(b'\n'):
        tail = len(d) - d.rfind(b'\n') - 1
        sys.exit(f'{path}: ends inside a line ({tail} bytes without a newline)')
    for n, line in enumerate(d.splitlines(), 1):
        try:
            o = json.loads(line)
        except ValueError as e:
            sys.exit(f'{path}: line {n} does not parse: {e}')
        if key and key not in o:
            sys.exit(f'{path}: line {n} has no "{key}"')
    total += len(d.splitlines())
print(total)
EOF
}

# Is FILE open in no process? (The write of a killed capture may still be finishing.)
closed_everywhere()
{
	local f l

	f=$(readlink -f "$1")
	for l in /proc/[0-9]*/fd/*; do
		[ "$(readlink "$l" 2>/dev/null)" != "$f" ] || return 1
	done
	return 0
}

# Fetches NAME N times, one connection each, one after the other; a line per success in
# $E2E_TMP/done.
fetch_n()
{
	local name=$1 n=$2 i

	for ((i = 0; i < n; i++)); do
		"${CURL[@]}" -o /dev/null "http://$XS_SRV4:8080/$name" && echo ok >>"$E2E_TMP/done"
	done
}

t_json_log_same_records()
{
	local cap=$E2E_TMP/same.pcap jl=$E2E_TMP/same.jsonl n

	rm -f "$E2E_TMP/done"
	xs_start same "$XS_IF" -p 8080 -w "$cap" --json-log "$jl" || return 1
	fetch_n f_2000 10
	fetch_n f_65536 5
	wait_for 10 eval '[ "$(lines "$jl")" -ge 15 ]'
	xs_stop INT
	[ "$XS_RC" -eq 0 ] || { WHY="load exited $XS_RC: $(tail -n 2 "$E2E_TMP/same.err")"; return 1; }
	[ ! -s "$E2E_TMP/same.out" ] || { WHY="--json-log also wrote to stdout"; return 1; }
	n=$(check_json "$jl=community_id") || { WHY="live --json-log: $n"; return 1; }
	[ "$n" -eq "$(lines "$E2E_TMP/done")" ] ||
		{ WHY="live --json-log has $n records for $(lines "$E2E_TMP/done") connections"; return 1; }
	# the same capture replayed: --json-log FILE and -j on stdout byte for byte
	"$XS" replay "$cap" -q -p 8080 -j >"$E2E_TMP/replay-j.out" 2>"$E2E_TMP/replay-j.err" ||
		{ WHY="replay -j failed: $(tail -n 1 "$E2E_TMP/replay-j.err")"; return 1; }
	"$XS" replay "$cap" -q -p 8080 --json-log "$E2E_TMP/replay.jsonl" \
		>"$E2E_TMP/replay-l.out" 2>"$E2E_TMP/replay-l.err" ||
		{ WHY="replay --json-log failed: $(tail -n 1 "$E2E_TMP/replay-l.err")"; return 1; }
	[ "$(lines "$E2E_TMP/replay-j.out")" -eq 15 ] ||
		{ WHY="replay -j printed $(lines "$E2E_TMP/replay-j.out") records, not 15"; return 1; }
	cmp -s "$E2E_TMP/replay-j.out" "$E2E_TMP/replay.jsonl" ||
		{ WHY="replay --json-log differs from replay -j"; return 1; }
	[ ! -s "$E2E_TMP/replay-l.out" ] || { WHY="replay --json-log wrote to stdout"; return 1; }
}

t_sighup_reopens()
{
	local d=$E2E_TMP/hup pid made json http n_old n_new h_old h_new

	mkdir -p "$d"
	rm -f "$E2E_TMP/done"
	xs_start hup "$XS_IF" -p 8080 -w "$d/cap.pcap" --json-log "$d/streams.jsonl" \
		--http-log "$d/http.jsonl" --tls-log "$d/tls.jsonl" || return 1
	# connections all along, the rotation in the middle of them
	fetch_n f_2000 400 &
	pid=$!
	wait_for 20 eval '[ "$(lines "$E2E_TMP/done")" -ge 100 ]' ||
		{ WHY="traffic did not start"; kill "$pid"; return 1; }
	mv "$d/streams.jsonl" "$d/streams.jsonl.1"
	mv "$d/http.jsonl" "$d/http.jsonl.1"
	mv "$d/tls.jsonl" "$d/tls.jsonl.1"
	mv "$d/cap.pcap" "$d/cap.pcap.1"
	kill -HUP "$XS_PID"
	wait "$pid"
	made=$(lines "$E2E_TMP/done")
	wait_for 10 eval '[ $(( $(lines "$d/streams.jsonl.1") + $(lines "$d/streams.jsonl") )) -ge '"$made"' ]'
	kill -0 "$XS_PID" 2>/dev/null || { WHY="the capture stopped on SIGHUP"; return 1; }
	for f in streams.jsonl http.jsonl tls.jsonl; do
		[ -f "$d/$f" ] || { WHY="no fresh $f after SIGHUP"; return 1; }
	done
	[ ! -e "$d/cap.pcap" ] || { WHY="-w was reopened by SIGHUP"; return 1; }
	# the capture still captures after the rotation
	fetch_n f_65536 1
	made=$((made + 1))
	wait_for 10 eval '[ $(( $(lines "$d/streams.jsonl.1") + $(lines "$d/streams.jsonl") )) -ge '"$made"' ]'
	xs_stop INT
	[ "$XS_RC" -eq 0 ] || { WHY="load exited $XS_RC after SIGHUP: $(tail -n 2 "$E2E_TMP/hup.err")"; return 1; }
	n_old=$(check_json "$d/streams.jsonl.1=id") || { WHY="old --json-log: $n_old"; return 1; }
	n_new=$(check_json "$d/streams.jsonl=id") || { WHY="new --json-log: $n_new"; return 1; }
	h_old=$(check_json "$d/http.jsonl.1") || { WHY="old --http-log: $h_old"; return 1; }
	h_new=$(check_json "$d/http.jsonl") || { WHY="new --http-log: $h_new"; return 1; }
	e2e_log "$made connections: $n_old + $n_new stream records, $h_old + $h_new exchanges"
	[ "$n_old" -gt 0 ] && [ "$n_new" -gt 0 ] ||
		{ WHY="records before/after SIGHUP: $n_old/$n_new (both must have some)"; return 1; }
	[ $((n_old + n_new)) -eq "$made" ] ||
		{ WHY="$((n_old + n_new)) stream records for $made connections"; return 1; }
	[ $((h_old + h_new)) -eq "$made" ] ||
		{ WHY="$((h_old + h_new)) exchanges for $made connections"; return 1; }
	# each connection once: ids all different, over both files
	json=$(cat "$d/streams.jsonl.1" "$d/streams.jsonl" | python3 -c '
import json, sys
ids = [json.loads(l)["id"] for l in sys.stdin]
print(len(set(ids)))')
	[ "$json" -eq "$made" ] || { WHY="$json distinct stream ids for $made connections"; return 1; }
	# the new file took the records after the old one's: ids go on from where they stopped
	http=$(python3 -c '
import json, sys
a = [json.loads(l)["id"] for l in open(sys.argv[1])]
b = [json.loads(l)["id"] for l in open(sys.argv[2])]
print(1 if max(a) < min(b) else 0)' "$d/streams.jsonl.1" "$d/streams.jsonl")
	[ "$http" -eq 1 ] || { WHY="records of the new file older than the old file's"; return 1; }
}

# -Z nobody: after the switch the reopened log is made by nobody; where nobody cannot make
# it, the reopen fails in one line and the log goes on in the file it had, losing nothing.
t_sighup_as_user()
{
	local d=$E2E_TMP/zlogs n_old n_new

	id nobody >/dev/null 2>&1 || { WHY="no user nobody"; return 77; }
	chmod 0711 "$E2E_TMP"
	mkdir -p "$d"
	chown nobody "$d"
	rm -f "$E2E_TMP/done"
	xs_start zhup "$XS_IF" -p 8080 -Z nobody --json-log "$d/s.jsonl" || return 1
	fetch_n f_2000 5
	wait_for 10 eval '[ "$(lines "$d/s.jsonl")" -ge 5 ]'
	mv "$d/s.jsonl" "$d/s.jsonl.1"
	kill -HUP "$XS_PID"
	wait_for 5 test -e "$d/s.jsonl" || { WHY="no fresh log after SIGHUP under -Z"; return 1; }
	[ "$(stat -c %U "$d/s.jsonl")" = nobody ] ||
		{ WHY="the reopened log belongs to $(stat -c %U "$d/s.jsonl"), not nobody"; return 1; }
	fetch_n f_2000 5
	wait_for 10 eval '[ "$(lines "$d/s.jsonl")" -ge 5 ]'
	# nobody may no longer make files there: the reopen fails, the records go on
	chown root "$d"
	chmod 0755 "$d"
	mv "$d/s.jsonl" "$d/s.jsonl.2"
	kill -HUP "$XS_PID"
	wait_for 5 grep -q "cannot reopen --json-log" "$E2E_TMP/zhup.err" ||
		{ WHY="a failed reopen was not said: $(tail -n 2 "$E2E_TMP/zhup.err")"; return 1; }
	[ ! -e "$d/s.jsonl" ] || { WHY="a log was made where nobody cannot write"; return 1; }
	fetch_n f_2000 5
	wait_for 10 eval '[ "$(lines "$d/s.jsonl.2")" -ge 10 ]'
	kill -0 "$XS_PID" 2>/dev/null || { WHY="the capture stopped after a failed reopen"; return 1; }
	xs_stop INT
	[ "$XS_RC" -eq 0 ] || { WHY="load exited $XS_RC: $(tail -n 2 "$E2E_TMP/zhup.err")"; return 1; }
	[ "$(grep -c 'cannot reopen' "$E2E_TMP/zhup.err")" -eq 1 ] ||
		{ WHY="the failed reopen took more than one line"; return 1; }
	n_old=$(check_json "$d/s.jsonl.1=id") || { WHY="first log: $n_old"; return 1; }
	n_new=$(check_json "$d/s.jsonl.2=id") || { WHY="second log: $n_new"; return 1; }
	[ "$n_old" -eq 5 ] && [ "$n_new" -eq 10 ] ||
		{ WHY="records $n_old + $n_new, want 5 before the first SIGHUP and 5 + 5 after"; return 1; }
}

# One round: heavy writing to both logs, SIGKILL after a random moment, every line whole.
kill_round()
{
	local i=$1 d=$E2E_TMP/kill$1 pids=() p n h delay

	mkdir -p "$d"
	"$XS" load "$XS_IF" -q -p 8080 --json-log "$d/streams.jsonl" --http-log "$d/http.jsonl" \
		>"$d/out" 2>"$d/err" &
	XS_PID=$!
	E2E_PIDS+=("$XS_PID")
	wait_for 15 xs_attached "$XS_IF" "$XS_PID" || { WHY="round $i: load did not attach"; return 1; }
	for p in 1 2 3 4; do
		( while :; do "${CURL[@]}" -o /dev/null "http://$XS_SRV4:8080/f_300000" 2>/dev/null
		       "${CURL[@]}" -o /dev/null "http://$XS_SRV4:8080/f_2000" 2>/dev/null; done ) &
		pids+=($!)
	done
	delay=$(python3 -c "import random; print(round(random.uniform(0.8, 2.5), 2))")
	sleep "$delay"
	kill -KILL "$XS_PID"
	wait "$XS_PID" 2>/dev/null
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	e2e_unload_ours
	wait_for 10 closed_everywhere "$d/streams.jsonl"
	wait_for 10 closed_everywhere "$d/http.jsonl"
	n=$(check_json "$d/streams.jsonl=id") || { WHY="round $i (kill after ${delay}s): $n"; return 1; }
	h=$(check_json "$d/http.jsonl") || { WHY="round $i (kill after ${delay}s): $h"; return 1; }
	KILL_LINES=$((KILL_LINES + n + h))
	e2e_log "round $i: SIGKILL after ${delay}s: $n stream records ($(stat -c %s "$d/streams.jsonl") B), $h exchanges, all whole"
}

t_sigkill_whole_lines()
{
	local i

	KILL_LINES=0
	for i in $(seq "${KILL_ROUNDS:-6}"); do
		kill_round "$i" || return 1
	done
	[ "$KILL_LINES" -gt 0 ] || { WHY="no line written in any round: nothing was tested"; return 1; }
}

# The bytes of DIR's files: du -sb (apparent sizes) less the directory's own 4 KiB, which
# --max-output-bytes does not count.
tree_bytes()
{
	find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}

t_retention()
{
	local d=$E2E_TMP/ret max=$((300 * 1024)) peak=0 b pid made kept del_streams del_bytes
	local total slack=$((70 * 1024)) sum first i

	mkdir -p "$d"
	# left by an earlier run: finished, and older than anything of this one
	head -c 50000 /dev/urandom >"$d/old-run-file"
	touch -d '2020-01-01' "$d/old-run-file"
	rm -f "$E2E_TMP/done"
	xs_start ret "$XS_IF" -p 8080 -o "$d" --max-output-bytes 300K --stats-interval 1 || return 1
	# 30 downloads of 64 KiB, one after the other, each asking for its own name so that
	# its request file says which it was
	( for i in $(seq 1 30); do
		"${CURL[@]}" -o /dev/null "http://$XS_SRV4:8080/f_65536?n=$i" && echo "$i" >>"$E2E_TMP/done"
	  done ) &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		b=$(tree_bytes "$d")
		[ "$b" -le "$peak" ] || peak=$b
		sleep 0.05
	done
	wait "$pid"
	made=$(lines "$E2E_TMP/done")
	sleep 2.2
	b=$(tree_bytes "$d")
	[ "$b" -le "$peak" ] || peak=$b
	xs_stop INT
	[ "$XS_RC" -eq 0 ] || { WHY="load exited $XS_RC: $(tail -n 2 "$E2E_TMP/ret.err")"; return 1; }
	b=$(tree_bytes "$d")
	e2e_log "$made downloads of 64 KiB, --max-output-bytes 300K: du -sb peak $peak, at the end $b"
	[ "$made" -eq 30 ] || { WHY="only $made of 30 downloads worked"; return 1; }
	[ "$peak" -le $((max + slack)) ] ||
		{ WHY="du -sb of the tree reached $peak, over 300K + $slack of one open stream"; return 1; }
	[ "$b" -le "$max" ] || { WHY="du -sb $b over 300K once every stream ended"; return 1; }
	[ ! -e "$d/old-run-file" ] || { WHY="the file from an earlier run, the oldest, was kept"; return 1; }
	# what is left is the last downloads, each with both its files
	kept=$(cat "$d"/* | grep -ao 'GET /f_65536?n=[0-9]*' | sed 's/.*n=//' | sort -n | tr '\n' ' ')
	first=${kept%% *}
	[ -n "$first" ] || { WHY="no download kept at all"; return 1; }
	[ "$kept" = "$(seq "$first" 30 | tr '\n' ' ')" ] ||
		{ WHY="kept downloads $kept: not the newest ones"; return 1; }
	[ "$(find "$d" -type f | wc -l)" -eq $((2 * (31 - first))) ] ||
		{ WHY="$(find "$d" -type f | wc -l) files for the $((31 - first)) downloads kept"; return 1; }
	# the counters say what is gone: this run's first downloads and the old file. The last
	# --stats-interval line (after the traffic) has the exact numbers, the summary the same
	# count of streams.
	read -r del_streams del_bytes total < <(python3 -c 'import json,sys
ls=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
r=[l["output_retention"] for l in ls if "output_retention" in l]
print(r[-1]["streams_deleted"], r[-1]["bytes_deleted"], r[-1]["bytes"]) if r else print("")' \
		"$E2E_TMP/ret.err")
	[ -n "$del_streams" ] || { WHY="no output_retention in the --stats-interval lines"; return 1; }
	[ "$del_streams" -eq "$first" ] ||
		{ WHY="counted $del_streams streams deleted; $((first - 1)) downloads and the old file are gone"; return 1; }
	sum=$(sed -n 's/^-o retention: \([0-9]*\) streams deleted.*/\1/p' "$E2E_TMP/ret.err" | tail -n 1)
	[ "${sum:-x}" = "$del_streams" ] ||
		{ WHY="the summary says '$(grep '^-o retention' "$E2E_TMP/ret.err")', the counters $del_streams"; return 1; }
	[ "$total" -eq "$b" ] || { WHY="counters: $total bytes kept, the files hold $b"; return 1; }
	[ "$del_bytes" -ge $((50000 + (first - 1) * 65536)) ] ||
		{ WHY="counted $del_bytes bytes deleted for $((first - 1)) downloads of 64 KiB and a 50000 B file"; return 1; }
}

# One line on stderr, exit 2, nothing attached.
refused()
{
	local what=$1 rc

	shift
	"$XS" load "$XS_IF" -q "$@" >"$E2E_TMP/bad.out" 2>"$E2E_TMP/bad.err"
	rc=$?
	[ "$rc" -eq 2 ] || { WHY="$what: exit $rc, not 2"; return 1; }
	[ "$(wc -l <"$E2E_TMP/bad.err")" -eq 1 ] || { WHY="$what: not one line: $(cat "$E2E_TMP/bad.err")"; return 1; }
	! "$XS" status "$XS_IF" 2>/dev/null | grep -q 'running' || { WHY="$what: attached"; return 1; }
}

t_retention_nonsense()
{
	refused "0" -o "$E2E_TMP/n" --max-output-bytes 0 || return 1
	refused "negative" -o "$E2E_TMP/n" --max-output-bytes -5M || return 1
	refused "overflow" -o "$E2E_TMP/n" --max-output-bytes 99999999999999999999999 || return 1
	refused "suffix overflow" -o "$E2E_TMP/n" --max-output-bytes 17179869185G || return 1
	refused "bad suffix" -o "$E2E_TMP/n" --max-output-bytes 10X || return 1
	refused "without -o" -w "$E2E_TMP/n.pcap" --max-output-bytes 1M || return 1
	[ ! -e "$E2E_TMP/n" ] || { WHY="-o DIR made for a refused command line"; return 1; }
	# another output's file among those retention deletes
	mkdir -p "$E2E_TMP/n3"
	refused "-w in -o DIR" -o "$E2E_TMP/n3" -w "$E2E_TMP/n3/x.pcap" --max-output-bytes 1M || return 1
	refused "--json-log in -o DIR" -o "$E2E_TMP/n3/" --json-log "$E2E_TMP/n3/../n3/s.jsonl" \
		--max-output-bytes 1M || return 1
	# and a sensible one is taken (replay: no attach needed)
	"$XS" replay /dev/null -q -o "$E2E_TMP/n2" --max-output-bytes 1M 2>"$E2E_TMP/bad.err"
	! grep -q "max-output-bytes" "$E2E_TMP/bad.err" ||
		{ WHY="--max-output-bytes 1M refused: $(cat "$E2E_TMP/bad.err")"; return 1; }
}

setup || e2e_skip_all "$WHY"
run_test "--json-log holds the records -j prints" t_json_log_same_records
run_test "SIGHUP reopens moved logs, no record lost or split" t_sighup_reopens
run_test "SIGHUP under -Z: the new log is the user's; a failed reopen loses nothing" t_sighup_as_user
run_test "SIGKILL during --json-log/--http-log leaves whole lines" t_sigkill_whole_lines
run_test "-o --max-output-bytes keeps the tree under the cap, oldest first" t_retention
run_test "--max-output-bytes refuses nonsense before attaching" t_retention_nonsense
e2e_finish
