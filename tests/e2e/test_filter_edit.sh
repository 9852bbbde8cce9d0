#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Live filter edits: `xdp-sniff filter IFACE add|del|set|clear` on a running load.
#
# A line-echo server runs in a fresh namespace on port 7000; one client connection
# stays open for the whole test and sends one message per phase, waiting for its
# echo before the next filter edit. The pcap must hold exactly the phases during
# which port 7000 was in the filter, in both directions, on that one connection.

. "$(dirname "$0")/lib.sh"

e2e_require tcpdump python3 ss

ECHO_PORT=7000

echo_server()
{
	ip netns exec "$XS_NS" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(8)
while True:
    c, _ = s.accept()
    f = c.makefile("rwb", buffering=0)
    for line in f:
        f.write(line)
    c.close()
' "$ECHO_PORT" >"$E2E_TMP/echo.log" 2>&1 &
	E2E_PIDS+=("$!")
	xs_netns_wait_listen "$ECHO_PORT" 10
}

# A client that sends "PHASE-<name>" lines when told to on its stdin (one line per
# phase) and acknowledges each echo on its stdout.
start_client()
{
	mkfifo "$E2E_TMP/cin" "$E2E_TMP/cout"
	python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
f = c.makefile("rwb", buffering=0)
out = open(sys.argv[4], "w", buffering=1)
for cmd in open(sys.argv[3]):
    msg = ("PHASE-%s-" % cmd.strip()).encode() * 20 + b"\n"
    f.write(msg)
    if f.readline() != msg:
        out.write("bad echo\n")
        sys.exit(1)
    out.write("done %s\n" % cmd.strip())
' "$XS_SRV4" "$ECHO_PORT" "$E2E_TMP/cin" "$E2E_TMP/cout" &
	CLIENT=$!
	E2E_PIDS+=("$CLIENT")
	# read-write opens do not wait for the other end (the client opens them in its
	# own order)
	exec 7<>"$E2E_TMP/cin"
	exec 8<>"$E2E_TMP/cout"
}

# phase NAME: the client sends one message and waits for its echo
phase()
{
	local line

	echo "$1" >&7
	read -r -t 10 line <&8 || { WHY="no echo for phase $1"; return 1; }
	[ "$line" = "done $1" ] || { WHY="phase $1: client said '$line'"; return 1; }
}

edit()
{
	"$XS" filter "$XS_IF" "$@" >>"$E2E_TMP/edits.out" 2>&1 ||
		{ WHY="xdp-sniff filter $* failed: $(tail -n 1 "$E2E_TMP/edits.out")"; return 1; }
}

# Packets of the pcap whose payload carries PHASE-name, both directions.
phase_packets()
{
	tcpdump -nr "$1" -A 2>/dev/null | grep -c "PHASE-$2-" || true
}

t_live_edits()
{
	local f=$E2E_TMP/edit.pcap p n

	xs_start edit "$XS_IF" -p 9 -w "$f" || return 1
	start_client
	phase before || return 1
	edit add -p "$ECHO_PORT" || return 1
	grep -q "port 9,$ECHO_PORT" "$E2E_TMP/edits.out" ||
		{ WHY="filter add printed $(tail -n 1 "$E2E_TMP/edits.out")"; return 1; }
	phase added || return 1
	edit del -p "$ECHO_PORT" || return 1
	phase deleted || return 1
	edit set -a "$XS_SRV4/32" || return 1
	phase set_addr || return 1
	edit set -a 198.19.255.0/24 || return 1
	phase other_net || return 1
	edit clear || return 1
	phase cleared || return 1
	exec 7>&-
	wait "$CLIENT" || { WHY="the client failed"; return 1; }
	"$XS" status "$XS_IF" | grep -q 'filter: all tcp' ||
		{ WHY="status does not show the filter in force"; return 1; }
	xs_stop INT || { WHY="xdp-sniff did not stop"; return 1; }
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC"; return 1; }
	# in the filter: the message and its echo (one packet each way, TCP_NODELAY)
	for p in added set_addr cleared; do
		n=$(phase_packets "$f" "$p")
		[ "$n" -eq 2 ] || { WHY="phase $p: $n packets captured, want 2"; return 1; }
	done
	for p in before deleted other_net; do
		n=$(phase_packets "$f" "$p")
		[ "$n" -eq 0 ] || { WHY="phase $p: $n packets captured outside the filter"; return 1; }
	done
}

t_bad_edits()
{
	local out

	xs_start bad "$XS_IF" -p 80 -w "$E2E_TMP/bad.pcap" || return 1
	out=$("$XS" filter "$XS_IF" del -a 198.18.0.1 2>&1)
	[ $? -eq 1 ] || { WHY="del of an absent address did not exit 1"; return 1; }
	[ "$(wc -l <<<"$out")" -eq 1 ] || { WHY="del of an absent address: $out"; return 1; }
	"$XS" filter "$XS_IF" add -p 99999 >/dev/null 2>&1
	[ $? -eq 2 ] || { WHY="a bad port did not exit 2"; return 1; }
	"$XS" filter "$XS_IF" frob >/dev/null 2>&1
	[ $? -eq 2 ] || { WHY="an unknown action did not exit 2"; return 1; }
	"$XS" filter nosuch0 list >/dev/null 2>&1
	[ $? -eq 1 ] || { WHY="an interface without capture did not exit 1"; return 1; }
	"$XS" filter "$XS_IF" list | grep -q "port 80$" || { WHY="list does not show port 80"; return 1; }
	xs_stop INT || return 1
}

# What `filter` refuses, and what `list` prints is what -p takes back.
t_filter_forms()
{
	local out rc listed

	xs_start forms "$XS_IF" -p 80 -w "$E2E_TMP/forms.pcap" || return 1
	# set with no set given would quietly mean every TCP packet: refused (clear says that)
	out=$("$XS" filter "$XS_IF" set 2>&1)
	rc=$?
	[ "$rc" -eq 2 ] || { WHY="set without -a/-p exited $rc, want 2: $out"; return 1; }
	grep -q 'clear' <<<"$out" || { WHY="set without -a/-p does not point to clear: $out"; return 1; }
	"$XS" filter "$XS_IF" list | grep -q "port 80$" ||
		{ WHY="a refused set changed the filter: $("$XS" filter "$XS_IF" list)"; return 1; }
	# del of a port that is not in the filter fails as del of an absent address does
	out=$("$XS" filter "$XS_IF" del -p 81 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] || { WHY="del -p of an absent port exited $rc, want 1: $out"; return 1; }
	[ "$(wc -l <<<"$out")" -eq 1 ] || { WHY="del -p of an absent port: $out"; return 1; }
	grep -q 'port' <<<"$out" || { WHY="del -p of an absent port does not say port: $out"; return 1; }
	"$XS" filter "$XS_IF" list | grep -q "port 80$" ||
		{ WHY="a refused del changed the filter: $("$XS" filter "$XS_IF" list)"; return 1; }
	# list prints a comma list of ranges; -p takes it back, and gives the same filter
	"$XS" filter "$XS_IF" set -p 80-84 -p 86-90 -p 443 >/dev/null 2>&1 ||
		{ WHY="set -p 80-84 -p 86-90 -p 443 failed"; return 1; }
	listed=$("$XS" filter "$XS_IF" list | sed -n 's/.*: port //p')
	[ "$listed" = "80-84,86-90,443" ] || { WHY="list printed port '$listed'"; return 1; }
	out=$("$XS" filter "$XS_IF" set -p "$listed" 2>&1) ||
		{ WHY="set -p '$listed' (as list printed it) failed: $out"; return 1; }
	[ "$out" = "$XS_IF: port $listed" ] || { WHY="set -p '$listed' gave '$out'"; return 1; }
	"$XS" filter "$XS_IF" del -p 81,87-88 >/dev/null 2>&1 || { WHY="del -p 81,87-88 failed"; return 1; }
	"$XS" filter "$XS_IF" list | grep -q "port 80,82-84,86,89-90,443$" ||
		{ WHY="after del -p 81,87-88: $("$XS" filter "$XS_IF" list)"; return 1; }
	"$XS" filter "$XS_IF" add -p 1,,2 >/dev/null 2>&1
	[ $? -eq 2 ] || { WHY="-p 1,,2 was not refused as a usage error"; return 1; }
	# the command line's rules hold here as for load: host bits and port 0 are refused
	out=$("$XS" filter "$XS_IF" add -a 198.18.0.1/16 2>&1)
	rc=$?
	[ "$rc" -eq 2 ] && grep -q '198.18.0.0/16' <<<"$out" ||
		{ WHY="add -a 198.18.0.1/16 exited $rc: $out"; return 1; }
	out=$("$XS" filter "$XS_IF" add -p 443,0 2>&1)
	rc=$?
	[ "$rc" -eq 2 ] || { WHY="add -p 443,0 exited $rc, want 2: $out"; return 1; }
	"$XS" filter "$XS_IF" list | grep -q "port 80,82-84,86,89-90,443$" ||
		{ WHY="a refused add changed the filter: $("$XS" filter "$XS_IF" list)"; return 1; }
	xs_stop INT || return 1
}

if ! e2e_netns_up || ! echo_server; then
	WHY="setting up the namespace and the echo server failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi
run_test live_filter_edits t_live_edits
run_test bad_filter_edits t_bad_edits
run_test filter_forms t_filter_forms
e2e_finish
