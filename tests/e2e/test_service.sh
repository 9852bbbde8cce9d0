#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The systemd template unit as `make install` writes it: systemd-analyze finds nothing to
# say about it, its hardening scores, and the command it would run, built from the unit's
# ExecStart and the shipped options file the way systemd builds it, captures on a veth,
# stops on SIGTERM with exit 0, and after a crash (SIGKILL) the restart takes the leftover
# over so that status shows one instance. The installed logrotate snippet, run by logrotate
# itself against a capture (its postrotate's reload being the unit's ExecReload, SIGHUP),
# rotates a --json-log twice under traffic with no record lost.
. "$(dirname "$0")/lib.sh"

e2e_require systemd-analyze tcpdump curl
e2e_netns_up || e2e_skip_all "cannot set up the test namespace"
INST=$E2E_TMP/inst
UNIT=$INST/usr/lib/systemd/system/xdp-sniff@.service

install_unit()
{
	make -s -C "$E2E_ROOT" install PREFIX="$INST/usr" SYSCONFDIR="$INST/etc" \
		>"$E2E_TMP/install.log" 2>&1 || {
		WHY="make install failed: $(tail -n 2 "$E2E_TMP/install.log")"; return 1; }
	[ -f "$UNIT" ] || { WHY="make install wrote no $UNIT"; return 1; }
	[ -f "$INST/etc/xdp-sniff/example.conf" ] || { WHY="no example.conf installed"; return 1; }
	grep -q "^ExecStart=$INST/usr/sbin/xdp-sniff load %i " "$UNIT" ||
		{ WHY="ExecStart does not name the installed binary: $(grep ExecStart "$UNIT")"; return 1; }
}

t_verify()
{
	local out

	install_unit || return 1
	# verify warns (unknown keys, bad values) but exits 0: any word from it is a failure
	out=$(cd "$(dirname "$UNIT")" && systemd-analyze verify --man=no "./xdp-sniff@$XS_IF.service" 2>&1)
	[ $? -eq 0 ] && [ -z "$out" ] || { WHY="systemd-analyze verify: $out"; return 1; }
}

t_security()
{
	local out score

	install_unit || return 1
	out=$(cd "$(dirname "$UNIT")" &&
	      systemd-analyze security --offline=yes "./xdp-sniff@$XS_IF.service" 2>&1)
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
	[ -n "$score" ] || { WHY="no exposure level from systemd-analyze security: $(tail -n 2 <<<"$out")"; return 1; }
	e2e_log "exposure level $score (systemd-analyze security --offline=yes)"
	# a root service that attaches XDP keeps CAP_SYS_ADMIN and CAP_NET_ADMIN; the rest is
	# locked down: 5.5 is what losing one of the hardening lines would cross
	awk -v s="$score" 'BEGIN { exit !(s <= 5.5) }' ||
		{ WHY="exposure level $score above 5.5: a hardening line was lost"; return 1; }
}

# The argument vector systemd would run for instance IFACE: ExecStart with %i replaced and
# $XDP_SNIFF_OPTS split on white space, from CONF. Outputs moved into STATE.
exec_line()
{
	local conf=$1 state=$2 opts line

	line=$(sed -n 's/^ExecStart=//p' "$UNIT")
	# shellcheck disable=SC1090
	opts=$(. "$conf"; echo "$XDP_SNIFF_OPTS")
	opts=${opts//\/var\/lib\/xdp-sniff\/eth0/$state}
	line=${line//%i/$XS_IF}
	echo "${line//\$XDP_SNIFF_OPTS/$opts}"
}

t_runs_as_configured()
{
	local state=$E2E_TMP/state args pid status

	install_unit || return 1
	mkdir -p "$state" "$E2E_TMP/www"
	head -c 300000 /dev/urandom >"$E2E_TMP/www/blob"
	e2e_http_server 80 "$E2E_TMP/www" || { WHY="http server did not start"; return 1; }
	read -r -a args <<<"$(exec_line "$INST/etc/xdp-sniff/example.conf" "$state")"
	"${args[@]}" >"$E2E_TMP/svc.out" 2>"$E2E_TMP/svc.err" &
	pid=$!
	E2E_PIDS+=("$pid")
	wait_for 15 xs_attached "$XS_IF" "$pid" ||
		{ WHY="the unit's command did not attach: $(tail -n 2 "$E2E_TMP/svc.err")"; return 1; }
	"${CURL[@]}" -o /dev/null "http://$XS_SRV4/blob" || { WHY="curl failed"; return 1; }
	kill -TERM "$pid"
	wait "$pid"
	status=$?
	[ "$status" -eq 0 ] || { WHY="SIGTERM: exit $status: $(tail -n 2 "$E2E_TMP/svc.err")"; return 1; }
	tcpdump -r "$state/capture.pcap" -nn 2>/dev/null | grep -q "\.80 > .*length 1448" ||
		{ WHY="the configured -w file holds no port-80 data"; return 1; }
	[ "$(cat "$state"/flows/* 2>/dev/null | wc -c)" -ge 300000 ] ||
		{ WHY="the configured -o directory lacks the 300000-byte download"; return 1; }
}

t_restart_after_crash()
{
	local state=$E2E_TMP/state2 args pid1 pid2 n

	install_unit || return 1
	mkdir -p "$state"
	read -r -a args <<<"$(exec_line "$INST/etc/xdp-sniff/example.conf" "$state")"
	"${args[@]}" >"$E2E_TMP/c1.out" 2>"$E2E_TMP/c1.err" &
	pid1=$!
	E2E_PIDS+=("$pid1")
	wait_for 15 xs_attached "$XS_IF" "$pid1" || { WHY="first run did not attach"; return 1; }
	kill -KILL "$pid1"
	wait "$pid1" 2>/dev/null
	# Restart=on-failure starts the same command again
	rm -f "$state/capture.pcap"
	"${args[@]}" >"$E2E_TMP/c2.out" 2>"$E2E_TMP/c2.err" &
	pid2=$!
	E2E_PIDS+=("$pid2")
	wait_for 15 xs_attached "$XS_IF" "$pid2" ||
		{ WHY="restart after SIGKILL did not attach: $(tail -n 2 "$E2E_TMP/c2.err")"; return 1; }
	n=$("$XS" status 2>/dev/null | grep -c "^$XS_IF")
	[ "$n" -eq 1 ] || { WHY="status lists $XS_IF $n times after the restart"; return 1; }
	"$XS" status "$XS_IF" | grep -q "pid $pid2 (running)" ||
		{ WHY="status does not name the restarted pid $pid2"; return 1; }
}

# The snippet as installed, for logs in DIR, its postrotate's `systemctl reload` being what
# the unit's ExecReload does: kill -HUP of the capture PID.
logrotate_conf()
{
	local dir=$1 pid=$2 snippet=$INST/etc/logrotate.d/xdp-sniff

	sed -e "s|^/var/log/xdp-sniff/|$dir/|" \
	    -e "s|systemctl reload 'xdp-sniff@\*.service'|kill -HUP $pid|" "$snippet"
}

# Every record of the logs in DIR, rotated and compressed ones too.
all_records()
{
	local f

	for f in "$1"/*; do
		gzip -cdf "$f"
	done
}

t_logrotate()
{
	local dir=$E2E_TMP/logs pid n=0 i made=0 total

	command -v logrotate >/dev/null || { WHY="no logrotate (Debian logrotate)"; return 77; }
	install_unit || return 1
	[ -f "$INST/etc/logrotate.d/xdp-sniff" ] || { WHY="make install wrote no logrotate.d/xdp-sniff"; return 1; }
	grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$UNIT" ||
		{ WHY="the unit has no ExecReload sending SIGHUP"; return 1; }
	grep -q "systemctl reload 'xdp-sniff@\*.service'" "$INST/etc/logrotate.d/xdp-sniff" ||
		{ WHY="the snippet's postrotate does not reload the units"; return 1; }
	mkdir -p "$dir" "$E2E_TMP/www"
	head -c 2000 /dev/urandom >"$E2E_TMP/www/small"
	e2e_http_server 80 "$E2E_TMP/www" || { WHY="http server did not start"; return 1; }
	"$XS" load "$XS_IF" -q -p 80 --json-log "$dir/$XS_IF-streams.jsonl" \
		>"$E2E_TMP/lr.out" 2>"$E2E_TMP/lr.err" &
	pid=$!
	E2E_PIDS+=("$pid")
	wait_for 15 xs_attached "$XS_IF" "$pid" || { WHY="load did not attach"; return 1; }
	logrotate_conf "$dir" "$pid" >"$E2E_TMP/logrotate.conf"
	for i in 1 2 3; do
		for _ in $(seq 10); do
			"${CURL[@]}" -o /dev/null "http://$XS_SRV4/small" && made=$((made + 1))
		done
		wait_for 10 eval "[ \$(all_records $dir | wc -l) -ge $made ]"
		[ "$i" -eq 3 ] && break
		logrotate -f -s "$E2E_TMP/logrotate.state" "$E2E_TMP/logrotate.conf" \
			>"$E2E_TMP/logrotate.log" 2>&1 ||
			{ WHY="logrotate failed: $(tail -n 2 "$E2E_TMP/logrotate.log")"; return 1; }
		wait_for 5 test -e "$dir/$XS_IF-streams.jsonl" ||
			{ WHY="no fresh log after logrotate's SIGHUP (rotation $i)"; return 1; }
	done
	kill -0 "$pid" 2>/dev/null || { WHY="the capture stopped at the rotation"; return 1; }
	kill -TERM "$pid"
	wait "$pid" || { WHY="exit $? after the rotations: $(tail -n 2 "$E2E_TMP/lr.err")"; return 1; }
	# two rotations: .2.gz (compressed a rotation late), .1 and the live file
	[ -f "$dir/$XS_IF-streams.jsonl.2.gz" ] && [ -f "$dir/$XS_IF-streams.jsonl.1" ] ||
		{ WHY="after two rotations: $(ls "$dir" | tr '\n' ' ')"; return 1; }
	for f in "$dir"/*; do
		n=$(gzip -cdf "$f" | wc -l)
		[ "$n" -eq 10 ] || { WHY="$(basename "$f") holds $n records, not the 10 of its turn"; return 1; }
	done
	total=$(all_records "$dir" | python3 -c '
import json, sys
print(len({json.loads(l)["id"] for l in sys.stdin}))')
	[ "$total" -eq "$made" ] || { WHY="$total distinct records for $made connections"; return 1; }
}

run_test "service unit verifies" t_verify
run_test "service unit hardening" t_security
run_test "service command captures and stops on SIGTERM" t_runs_as_configured
run_test "service restart after SIGKILL takes the leftover over" t_restart_after_crash
run_test "logrotate snippet rotates a --json-log under traffic (SIGHUP)" t_logrotate
e2e_finish
