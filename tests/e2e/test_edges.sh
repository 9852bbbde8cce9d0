#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# What a new user trips over at the edges (issue 20): output lost with exit 0, and
# messages that mislead. Real HTTP transfers over a veth pair into a fresh namespace,
# captured by load, and a capture file made from them for replay.
#
#   1. two outputs that want stdout (-w - and -j, ...) are refused at start, exit 2;
#   2. -Z nobody with -o / --http-bodies directories that load creates: the files are
#      written (the directories are nobody's); an existing one nobody cannot write is
#      refused at start;
#   3. a closed output pipe stops load (exit 0, as tcpdump's -w - | head) and fails
#      replay (exit 1);
#   4. -Z with an unknown user is a usage error before anything is attached;
#   5. on a terminal, the status line is not shown where the packet lines go;
#   9. the words of the summaries: the host build, replay without load's counters,
#      "filtered" as in status, a header with the time on the SIGUSR1 counters.
#
# Usage: tests/e2e/test_edges.sh   (as root; XDP_SNIFF=path overrides the binary,
#        E2E_KEEP=1 keeps the temp directory)

. "$(dirname "$0")/lib.sh"

e2e_require tcpdump curl python3 ss tc script setpriv

NAMES=(f_65536 f_2097152)
ITEMS=(8080/f_65536 8080/f_2097152)
WWW=
BIG=
BIG_PACKETS=

# The capture file replay reads: both transfers, about 2 MiB of packets (more than a
# pipe holds, so that a reader that goes away is noticed).
setup()
{
	WWW=$E2E_TMP/www
	make_files "$WWW/8080" 65536 2097152
	e2e_netns_up || return 1
	e2e_http_server 8080 "$WWW/8080" || return 1
	BIG=$E2E_TMP/big.pcap
	xs_start big "$XS_IF" -p 8080 -w "$BIG" -q || { echo "# $WHY" >&2; return 1; }
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-big" "${ITEMS[@]}" || { echo "# $WHY" >&2; return 1; }
	xs_stop INT && [ "$XS_RC" -eq 0 ] || { echo "# capturing $BIG failed" >&2; return 1; }
	e2e_test_teardown
	[ "$(stat -c %s "$BIG")" -gt 1048576 ] || { echo "# $BIG is too small" >&2; return 1; }
	# replay as nobody reads it too
	chmod 644 "$BIG"
	BIG_PACKETS=$(pcap_count "$BIG")
}

# No xdp-sniff instance on our interface (nothing was attached, or all was detached).
nothing_attached()
{
	"$XS" status "$XS_IF" 2>/dev/null | grep -q 'no xdp-sniff instance'
}

# --- 1. two outputs on stdout -------------------------------------------------------

t_stdout_pairs()
{
	local args out=$E2E_TMP/pair.out err=$E2E_TMP/pair.err rc n

	for args in "-w - -j" "-w - --http" "-w - --packets" "-j --http" "-j --packets" \
		"--http --packets" "-w - --http-log -" "-j --http-bodies $E2E_TMP/pair.bodies"; do
		# shellcheck disable=SC2086
		"$XS" replay "$BIG" $args >"$out" 2>"$err"
		rc=$?
		[ "$rc" -eq 2 ] || { WHY="replay $args: exit $rc, want 2 (usage error)"; return 1; }
		[ ! -s "$out" ] || { WHY="replay $args wrote $(stat -c %s "$out") bytes to stdout"; return 1; }
		n=$(grep -c . "$err")
		[ "$n" -eq 1 ] && grep -q 'both want stdout' "$err" ||
			{ WHY="replay $args: stderr is not one 'both want stdout' line: $(head -c 200 "$err")"; return 1; }
	done
	# load refuses it before attaching
	timeout 20 "$XS" load "$XS_IF" -p 8080 -w - -j >"$out" 2>"$err"
	rc=$?
	[ "$rc" -eq 2 ] || { WHY="load -w - -j: exit $rc, want 2"; return 1; }
	! grep -q 'capturing on' "$err" || { WHY="load -w - -j attached before refusing"; return 1; }
	nothing_attached || { WHY="load -w - -j left an instance"; return 1; }
	# one of them to a file is fine, and stdout stays a pcap that tcpdump reads
	"$XS" replay "$BIG" -w - --http --http-log "$E2E_TMP/pair.http" 2>"$err" >"$out" ||
		{ WHY="replay -w - --http-log FILE failed: $(head -c 200 "$err")"; return 1; }
	n=$(pcap_count "$out") || { WHY="tcpdump cannot read the -w - of replay"; return 1; }
	[ "$n" -eq "$BIG_PACKETS" ] || { WHY="the -w - of replay holds $n packets of $BIG_PACKETS"; return 1; }
	n=$(grep -c '"status"' "$E2E_TMP/pair.http")
	[ "$n" -eq 2 ] || { WHY="$n exchanges in --http-log, want 2"; return 1; }
}

# --- 2. -Z and the directories of the outputs ---------------------------------------

# load -Z nobody -o NEW --http-bodies NEW2, both made by load: every stream and body written.
t_user_new_dirs()
{
	local z=$E2E_TMP/z d n f found owner

	id nobody >/dev/null 2>&1 || { WHY="no user nobody"; return 77; }
	mkdir -p "$z"
	xs_start znew "$XS_IF" -p 8080 -Z nobody -o "$z/flows" --http-log "$z/http.log" \
		--http-bodies "$z/bodies" -w "$z/cap.pcap" || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-znew" "${ITEMS[@]}" || return 1
	xs_stop INT || { WHY="no exit within 30 s of SIGINT"; return 1; }
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC: $(tail -n 3 "$E2E_TMP/znew.err" | tr '\n' '|')"; return 1; }
	! grep -qiE 'fail|cannot|switched off' "$E2E_TMP/znew.err" ||
		{ WHY="errors on stderr: $(grep -iE 'fail|cannot|switched off' "$E2E_TMP/znew.err" | head -n 2 | tr '\n' '|')"; return 1; }
	for d in "$z/flows" "$z/bodies"; do
		owner=$(stat -c '%U %a' "$d")
		[ "$owner" = "nobody 700" ] || { WHY="$d is '$owner', want 'nobody 700'"; return 1; }
	done
	# files opened before the switch belong to the user too, as tcpdump -Z's do
	for f in "$z/cap.pcap" "$z/http.log"; do
		owner=$(stat -c '%U %a' "$f")
		[ "$owner" = "nobody 600" ] || { WHY="$f is '$owner', want 'nobody 600'"; return 1; }
	done
	tcpdump -r "$z/cap.pcap" >/dev/null 2>&1 || { WHY="-w under -Z: tcpdump cannot read it"; return 1; }
	WHY=$(check_flows "$z/flows" "$XS_SRV4" 8080 "$WWW/8080" "${NAMES[@]}") ||
		{ WHY="-o: $WHY"; return 1; }
	for n in "${NAMES[@]}"; do
		found=0
		for f in "$z/bodies"/*; do
			cmp -s "$f" "$WWW/8080/$n" && found=1 && break
		done
		[ "$found" = 1 ] || { WHY="no body file in $z/bodies equals $n"; return 1; }
	done
	n=$(grep -c '"response_body_file"' "$z/http.log")
	[ "$n" -ge 2 ] || { WHY="$n exchanges name a body file, want 2"; return 1; }
}

# An -o directory that exists and that nobody cannot write: refused before attaching.
t_user_existing_dir()
{
	local rc err=$E2E_TMP/zold.err

	id nobody >/dev/null 2>&1 || { WHY="no user nobody"; return 77; }
	mkdir -p "$E2E_TMP/zold.d" && chmod 755 "$E2E_TMP/zold.d"
	timeout 20 "$XS" load "$XS_IF" -p 8080 -Z nobody -o "$E2E_TMP/zold.d" >/dev/null 2>"$err"
	rc=$?
	[ "$rc" -eq 1 ] || { WHY="exit $rc, want 1 at start"; return 1; }
	grep -q "nobody.*$E2E_TMP/zold.d" "$err" ||
		{ WHY="the error does not name the user and the directory: $(head -c 200 "$err")"; return 1; }
	! grep -q 'capturing on' "$err" || { WHY="it attached before refusing"; return 1; }
	nothing_attached || { WHY="an instance was left"; return 1; }
}

# --- 3. a closed output pipe --------------------------------------------------------

# pipe_load NAME READER ARGS...: load ARGS with stdout into READER (a command reading
# stdin); transfers repeat until load exits (at most 20). Sets XS_RC.
pipe_load()
{
	local name=$1 reader=$2 fifo=$E2E_TMP/$1.fifo i

	shift 2
	mkfifo "$fifo"
	sh -c "$reader" <"$fifo" >/dev/null &
	e2e_track $!
	"$XS" load "$XS_IF" "$@" >"$fifo" 2>"$E2E_TMP/$name.err" &
	XS_PID=$!
	e2e_track "$XS_PID"
	wait_for 15 xs_attached "$XS_IF" "$XS_PID" ||
		{ WHY="load $* did not attach: $(tail -n 2 "$E2E_TMP/$name.err" | tr '\n' ' ')"; return 1; }
	for i in $(seq 20); do
		kill -0 "$XS_PID" 2>/dev/null || break
		fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-$name" 8080/f_65536 || return 1
		wait_for 1 eval "! kill -0 $XS_PID 2>/dev/null"
	done
	if kill -0 "$XS_PID" 2>/dev/null; then
		WHY="load $* still runs after its reader ($reader) went away and 20 transfers"
		return 1
	fi
	wait "$XS_PID"
	XS_RC=$?
}

t_pipe_load_pcap()
{
	pipe_load lpcap 'head -c 100' -p 8080 -w - || return 1
	[ "$XS_RC" -eq 0 ] || { WHY="exit $XS_RC, want 0 (tcpdump -w - | head)"; return 1; }
	grep -q 'no output left' "$E2E_TMP/lpcap.err" ||
		{ WHY="no 'no output left' line: $(tail -n 3 "$E2E_TMP/lpcap.err" | tr '\n' '|')"; return 1; }
	nothing_attached || { WHY="an instance was left"; return 1; }
}

t_pipe_load_json()
{
	pipe_load ljson 'head -n 1' -p 8080 -j || return 1
	[ "$XS_RC" -eq 0 ] || { WHY="exit $XS_RC, want 0"; return 1; }
	nothing_attached || { WHY="an instance was left"; return 1; }
}

# One output of two closed: load goes on with the other.
t_pipe_load_one_of_two()
{
	local fifo=$E2E_TMP/two.fifo

	mkfifo "$fifo"
	head -n 1 <"$fifo" >/dev/null &
	e2e_track $!
	"$XS" load "$XS_IF" -p 8080 -j -o "$E2E_TMP/two.d" >"$fifo" 2>"$E2E_TMP/two.err" &
	XS_PID=$!
	e2e_track "$XS_PID"
	wait_for 15 xs_attached "$XS_IF" "$XS_PID" || { WHY="load did not attach"; return 1; }
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-two1" 8080/f_65536 || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-two2" 8080/f_65536 || return 1
	wait_for 10 grep -q 'output json failed' "$E2E_TMP/two.err" || { WHY="-j did not fail"; return 1; }
	kill -0 "$XS_PID" 2>/dev/null || { WHY="load stopped with -o still on"; return 1; }
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-two3" 8080/f_2097152 || return 1
	xs_stop INT || { WHY="no exit within 30 s of SIGINT"; return 1; }
	[ "$XS_RC" -eq 0 ] || { WHY="exit $XS_RC, want 0"; return 1; }
	WHY=$(check_flows "$E2E_TMP/two.d" "$XS_SRV4" 8080 "$WWW/8080" f_2097152) ||
		{ WHY="-o after -j went: $WHY"; return 1; }
}

t_pipe_replay()
{
	local args rc err=$E2E_TMP/rpipe.err

	# outputs larger than a pipe holds: the writer sees the reader go
	for args in "-w -" "-j"; do
		# shellcheck disable=SC2086
		"$XS" replay "$BIG" $args 2>"$err" | head -c 100 >/dev/null
		rc=${PIPESTATUS[0]}
		[ "$rc" -eq 1 ] || { WHY="replay ${args:-(default)} | head -c 100: exit $rc, want 1"; return 1; }
		grep -q 'Broken pipe' "$err" ||
			{ WHY="replay ${args:-(default)} | head: no 'Broken pipe' line: $(head -c 200 "$err")"; return 1; }
	done
	# the same, read whole: success
	"$XS" replay "$BIG" -w - 2>"$err" | cat >/dev/null
	rc=${PIPESTATUS[0]}
	[ "$rc" -eq 0 ] || { WHY="replay -w - | cat: exit $rc"; return 1; }
}

# --- 4. -Z with an unknown user -----------------------------------------------------

t_no_such_user()
{
	local rc err=$E2E_TMP/nouser.err

	timeout 20 "$XS" load "$XS_IF" -p 8080 -Z xs-no-such-user-20 >/dev/null 2>"$err"
	rc=$?
	[ "$rc" -eq 2 ] || { WHY="exit $rc, want 2 (usage error)"; return 1; }
	[ "$(grep -c . "$err")" -eq 1 ] && grep -q "xs-no-such-user-20" "$err" ||
		{ WHY="stderr is not one line naming the user: $(head -c 200 "$err")"; return 1; }
	! grep -q 'capturing on' "$err" || { WHY="it attached first"; return 1; }
	nothing_attached || { WHY="an instance was left"; return 1; }
}

# --- 5. the status line on a terminal -----------------------------------------------

# tty_load NAME ARGS...: load ARGS on a terminal (script(1)); transfers, then SIGINT.
tty_load()
{
	local name=$1 log=$E2E_TMP/$1.tty pid spid

	shift
	script -qfec "$XS load $XS_IF $*" "$log" </dev/null >/dev/null 2>&1 &
	spid=$!
	e2e_track "$spid"
	wait_for 15 eval "\"$XS\" status $XS_IF 2>/dev/null | grep -q 'running'" ||
		{ WHY="load $* did not attach on a terminal"; return 1; }
	pid=$("$XS" status "$XS_IF" | sed -n 's/.*pid \([0-9]*\) (running).*/\1/p')
	[ -n "$pid" ] || { WHY="no pid in status"; return 1; }
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-$name" 8080/f_65536 || return 1
	# the line is rewritten once a second, from the second tick on: give it three
	sleep 3.5
	kill -INT "$pid"
	wait_for 30 eval "! kill -0 $spid 2>/dev/null" || { WHY="no exit after SIGINT"; return 1; }
}

t_status_line()
{
	tty_load ttypkt -p 8080 || return 1
	grep -aq 'IP 198\.18\.' "$E2E_TMP/ttypkt.tty" || { WHY="no packet lines on the terminal"; return 1; }
	! grep -aq 'pkt/s' "$E2E_TMP/ttypkt.tty" ||
		{ WHY="the status line shares the terminal with the packet lines: $(grep -a 'pkt/s' "$E2E_TMP/ttypkt.tty" | head -n 1 | tr -d '\r' | cut -c1-160)"; return 1; }
	# with nothing on stdout, the terminal gets the status line
	tty_load ttydir -p 8080 -o "$E2E_TMP/ttydir.d" || return 1
	grep -aq 'pkt/s' "$E2E_TMP/ttydir.tty" || { WHY="no status line with -o on a terminal"; return 1; }
}

# --- 9. words --------------------------------------------------------------------------

t_words()
{
	local err=$E2E_TMP/words.err

	# unprivileged replay runs the host build, and says so
	setpriv --reuid=65534 --regid=65534 --clear-groups "$XS" replay "$BIG" -j \
		>/dev/null 2>"$err" || { WHY="replay as nobody failed: $(head -c 200 "$err")"; return 1; }
	grep -q 'packets seen by the host build' "$err" ||
		{ WHY="the host build's summary: $(head -n 1 "$err")"; return 1; }
	! grep -q 'kernel program' "$err" || { WHY="the host build's summary names the kernel program"; return 1; }
	# replay has neither of load's budgets
	"$XS" replay "$BIG" -j >/dev/null 2>"$err" || { WHY="replay failed"; return 1; }
	! grep -qE -- '--max-stream-bytes|--no-bodies' "$err" ||
		{ WHY="replay's summary lists load-only counters: $(grep -E -- '--max-stream-bytes|--no-bodies' "$err")"; return 1; }
	# one word for the packets the filter did not take, as in status
	grep -q '[0-9]* filtered' "$err" || { WHY="no 'filtered' in the summary"; return 1; }
	! grep -q 'not matched' "$err" || { WHY="the summary says 'not matched'"; return 1; }
	# SIGUSR1: a header with the time, then the counters
	xs_start usr1 "$XS_IF" -p 8080 -o "$E2E_TMP/usr1.d" || return 1
	"$XS" status "$XS_IF" | grep -q ' filtered ' || { WHY="status does not say 'filtered'"; return 1; }
	kill -USR1 "$XS_PID"
	wait_for 10 grep -q 'packets seen by the kernel program' "$E2E_TMP/usr1.err" ||
		{ WHY="no counters within 10 s of SIGUSR1"; return 1; }
	grep -B1 'packets seen by the kernel program' "$E2E_TMP/usr1.err" | head -n 1 |
		grep -qE '^counters at 20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z \(SIGUSR1' ||
		{ WHY="no header with the time before the SIGUSR1 counters: $(head -n 3 "$E2E_TMP/usr1.err" | tr '\n' '|')"; return 1; }
	xs_stop INT && [ "$XS_RC" -eq 0 ] || { WHY="exit $XS_RC"; return 1; }
	[ "$(grep -c '^counters at' "$E2E_TMP/usr1.err")" -eq 1 ] ||
		{ WHY="the exit summary carries the SIGUSR1 header too"; return 1; }
}

if ! setup; then
	WHY="setting up the namespace, the server and the capture file failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi

run_test stdout_two_outputs_refused t_stdout_pairs
run_test user_nobody_new_dirs_written t_user_new_dirs
run_test user_nobody_existing_dir_refused t_user_existing_dir
run_test pipe_closed_load_pcap t_pipe_load_pcap
run_test pipe_closed_load_json t_pipe_load_json
run_test pipe_closed_one_of_two t_pipe_load_one_of_two
run_test pipe_closed_replay t_pipe_replay
run_test user_unknown_before_attach t_no_such_user
run_test status_line_not_with_packets t_status_line
run_test summary_words t_words
e2e_finish
