#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The life of an xdp-sniff load: errors and exit statuses, a load killed with
# SIGKILL (status shows it, unload removes it, the next load replaces it),
# SIGUSR1, the interface going away, a -w path that is a symlink.
#
# Usage: tests/e2e/test_lifecycle.sh   (as root; XDP_SNIFF=path overrides the binary,
#        E2E_KEEP=1 keeps the temp directory)

. "$(dirname "$0")/lib.sh"

e2e_require tcpdump curl python3 ss tc

setup()
{
	make_files "$E2E_TMP/www/8080" 65536 1048576
	e2e_netns_up || return 1
	e2e_http_server 8080 "$E2E_TMP/www/8080"
}

# run_xs NAME ARGS...: runs xdp-sniff to completion (30 s at most), stdout and
# stderr in $E2E_TMP/NAME.out/.err, status in RC.
run_xs()
{
	local name=$1

	shift
	timeout 30 "$XS" "$@" >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err"
	RC=$?
}

# expect_error NAME STATUS WORDS ARGS...: xdp-sniff ARGS exits STATUS with one line
# on stderr that contains every word of WORDS ('|'-separated).
expect_error()
{
	local name=$1 want=$2 word err lines
	local -a words

	IFS='|' read -ra words <<<"$3"
	shift 3
	run_xs "$name" "$@"
	err=$E2E_TMP/$name.err
	[ "$RC" -eq "$want" ] ||
		{ WHY="xdp-sniff $*: exit status $RC, want $want ($(head -c 200 "$err" | tr '\n' ' '))"; return 1; }
	lines=$(grep -c . "$err")
	for word in "${words[@]}"; do
		grep -qF -- "$word" "$err" ||
			{ WHY="xdp-sniff $*: stderr does not name '$word': $(head -c 200 "$err" | tr '\n' ' ')"; return 1; }
	done
	# a usage error may add a "see --help" line; a runtime error is one line
	if [ "$want" -eq 1 ] && [ "$lines" -ne 1 ]; then
		WHY="xdp-sniff $*: $lines lines on stderr, want one: $(head -c 300 "$err" | tr '\n' '|')"
		return 1
	fi
	if ! "$XS" status "$XS_IF" | grep -q 'no xdp-sniff instance'; then
		WHY="xdp-sniff $* left an instance on $XS_IF"
		return 1
	fi
}

t_no_such_iface()
{
	expect_error nosuchif 1 nosuchif0 load nosuchif0
}

t_bad_port()
{
	expect_error badport 2 70000 load "$XS_IF" -p 70000
}

t_bad_prefix()
{
	expect_error badprefix 2 1.2.3.4/40 load "$XS_IF" -a 1.2.3.4/40
}

t_unknown_option()
{
	expect_error unknownopt 2 --no-such-option load "$XS_IF" --no-such-option
}

t_bad_direction()
{
	expect_error baddir 2 'sideways|--direction' load "$XS_IF" --direction sideways
}

# An unprivileged user is told what is missing.
t_not_root()
{
	local bin=$E2E_TMP/bin/xdp-sniff

	command -v setpriv >/dev/null || { WHY="setpriv is not installed"; return 77; }
	# a copy that user nobody can reach, still named xdp-sniff
	mkdir -p "$E2E_TMP/bin" && cp "$XS" "$bin" && chmod 755 "$E2E_TMP/bin" "$bin"
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$bin" load "$XS_IF" -w /dev/null >"$E2E_TMP/nonroot.out" 2>"$E2E_TMP/nonroot.err"
	RC=$?
	[ "$RC" -eq 1 ] || { WHY="exit status $RC, want 1: $(head -c 200 "$E2E_TMP/nonroot.err")"; return 1; }
	grep -qE 'CAP_[A-Z_]+|root' "$E2E_TMP/nonroot.err" ||
		{ WHY="no capability or root named: $(head -c 200 "$E2E_TMP/nonroot.err")"; return 1; }
	[ "$(grep -c . "$E2E_TMP/nonroot.err")" -eq 1 ] ||
		{ WHY="more than one line on stderr: $(head -c 300 "$E2E_TMP/nonroot.err" | tr '\n' '|')"; return 1; }
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$bin" status >/dev/null 2>"$E2E_TMP/nonroot-status.err"
	RC=$?
	[ "$RC" -eq 1 ] && grep -q root "$E2E_TMP/nonroot-status.err" ||
		{ WHY="status as nobody: exit $RC: $(head -c 200 "$E2E_TMP/nonroot-status.err")"; return 1; }
}

xdp_on()
{
	ip -d link show dev "$1" | grep -qE 'prog/xdp|xdp(generic|drv|offload)? '
}

tc_on()
{
	[ -n "$(tc filter show dev "$1" egress 2>/dev/null)" ]
}

# kill -9 leaves the programs attached: status says so, unload removes them.
t_sigkill_unload()
{
	local st pid

	xs_start kill1 "$XS_IF" -p 8080 -w "$E2E_TMP/kill1.pcap" || return 1
	pid=$XS_PID
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	st=$("$XS" status "$XS_IF" 2>&1)
	grep -q "pid $pid (gone" <<<"$st" ||
		{ WHY="status does not show pid $pid as gone: $(head -n 2 <<<"$st" | tr '\n' '|')"; return 1; }
	grep -q 'ingress: .* attached' <<<"$st" && ! grep -q 'NOT attached' <<<"$st" ||
		{ WHY="status does not show the leftover attached: $(tr '\n' '|' <<<"$st")"; return 1; }
	xdp_on "$XS_IF" || { WHY="no XDP program on $XS_IF after kill -9 (what does status see?)"; return 1; }
	tc_on "$XS_IF" || { WHY="no tc egress filter on $XS_IF after kill -9"; return 1; }
	run_xs unload1 unload "$XS_IF"
	[ "$RC" -eq 0 ] || { WHY="unload exit status $RC: $(head -c 200 "$E2E_TMP/unload1.err")"; return 1; }
	! xdp_on "$XS_IF" || { WHY="an XDP program is still on $XS_IF after unload: $(ip link show dev "$XS_IF" | tr '\n' ' ')"; return 1; }
	! tc_on "$XS_IF" || { WHY="tc egress still has: $(tc filter show dev "$XS_IF" egress | head -n 2 | tr '\n' ' ')"; return 1; }
	"$XS" status "$XS_IF" | grep -q 'no xdp-sniff instance' ||
		{ WHY="status still shows an instance after unload"; return 1; }
	run_xs unload2 unload "$XS_IF"
	[ "$RC" -eq 1 ] || { WHY="unload with nothing to unload: exit status $RC, want 1"; return 1; }
}

# unload refuses to remove a live capture.
t_unload_live_refused()
{
	xs_start live "$XS_IF" -p 8080 -w "$E2E_TMP/live.pcap" || return 1
	run_xs unload-live unload "$XS_IF"
	[ "$RC" -eq 1 ] || { WHY="unload of a live capture: exit status $RC, want 1"; return 1; }
	xs_attached "$XS_IF" "$XS_PID" || { WHY="unload detached a live capture"; return 1; }
	grep -q "$XS_PID" "$E2E_TMP/unload-live.err" ||
		{ WHY="the refusal does not name the pid: $(head -c 200 "$E2E_TMP/unload-live.err")"; return 1; }
	xs_stop INT && [ "$XS_RC" -eq 0 ] || { WHY="the live capture then exited $XS_RC"; return 1; }
}

# A new load replaces a leftover and captures; a clean stop then leaves nothing.
t_sigkill_replace()
{
	local old new n f=$E2E_TMP/replace.pcap

	xs_start kill2 "$XS_IF" -p 8080 -w "$E2E_TMP/kill2.pcap" || return 1
	old=$XS_PID
	kill -KILL "$old"
	wait "$old" 2>/dev/null
	"$XS" status "$XS_IF" | grep -q "pid $old (gone" || { WHY="no leftover of pid $old"; return 1; }
	xs_start replace "$XS_IF" -p 8080 -w "$f" || return 1
	new=$XS_PID
	"$XS" status "$XS_IF" | grep -q "pid $new (running)" ||
		{ WHY="status does not show the new pid $new"; return 1; }
	fetch_all "$XS_SRV4" "$E2E_TMP/www" "$E2E_TMP/got-replace" 8080/f_65536 || return 1
	xs_stop INT || { WHY="the new load did not stop on SIGINT"; return 1; }
	[ "$XS_RC" -eq 0 ] || { WHY="the new load exited $XS_RC: $(tail -n 2 "$E2E_TMP/replace.err")"; return 1; }
	n=$(pcap_count "$f" 'tcp port 8080') || { WHY="tcpdump cannot read $f"; return 1; }
	[ "$n" -gt 0 ] || { WHY="the load that replaced the leftover captured nothing"; return 1; }
	! xdp_on "$XS_IF" || { WHY="XDP still on $XS_IF after a clean stop"; return 1; }
	! tc_on "$XS_IF" || { WHY="tc egress filter still on $XS_IF after a clean stop"; return 1; }
	"$XS" status "$XS_IF" | grep -q 'no xdp-sniff instance' ||
		{ WHY="status shows an instance after a clean stop"; return 1; }
}

# A second load on an interface that is being captured is refused.
t_second_load_refused()
{
	local first

	xs_start first "$XS_IF" -p 8080 -w "$E2E_TMP/first.pcap" || return 1
	first=$XS_PID
	run_xs second load "$XS_IF" -p 8080 -w "$E2E_TMP/second.pcap"
	[ "$RC" -eq 1 ] || { WHY="a second load exited $RC, want 1"; return 1; }
	xs_attached "$XS_IF" "$first" || { WHY="the second load disturbed the first"; return 1; }
	# the advice is one that works: unload refuses a live capture, signalling the pid stops it
	[ "$(grep -c . "$E2E_TMP/second.err")" -eq 1 ] ||
		{ WHY="the refusal is not one line: $(tr '\n' '|' <"$E2E_TMP/second.err")"; return 1; }
	grep -q "kill $first" "$E2E_TMP/second.err" ||
		{ WHY="the refusal does not say kill $first: $(head -c 200 "$E2E_TMP/second.err")"; return 1; }
	! grep -q 'unload' "$E2E_TMP/second.err" ||
		{ WHY="the refusal advises unload, which refuses a live capture: $(head -c 200 "$E2E_TMP/second.err")"; return 1; }
}

# status and unload of an interface that does not exist: both an error, in one line.
t_missing_iface_status_unload()
{
	expect_error status-nosuch 1 nosuch0 status nosuch0 || return 1
	expect_error unload-nosuch 1 nosuch0 unload nosuch0 || return 1
	grep -q 'no interface' "$E2E_TMP/status-nosuch.err" && grep -q 'no interface' "$E2E_TMP/unload-nosuch.err" ||
		{ WHY="status and unload say different things: $(cat "$E2E_TMP/status-nosuch.err" "$E2E_TMP/unload-nosuch.err" | tr '\n' '|')"; return 1; }
}

# Native XDP where the driver has none (lo, in the test namespace): say that skb mode works.
t_native_unsupported()
{
	local err=$E2E_TMP/native-lo.err

	ip netns exec "$XS_NS" "$XS" load lo --xdp-mode native -w /dev/null >/dev/null 2>"$err"
	RC=$?
	[ "$RC" -eq 1 ] || { WHY="load lo --xdp-mode native exited $RC, want 1: $(head -c 200 "$err")"; return 1; }
	[ "$(grep -c . "$err")" -eq 1 ] || { WHY="not one line: $(tr '\n' '|' <"$err")"; return 1; }
	grep -q 'lo' "$err" && grep -q -- '--xdp-mode skb' "$err" ||
		{ WHY="the error does not point to --xdp-mode skb: $(head -c 200 "$err")"; return 1; }
}

# SIGUSR1: counters on stderr, the capture goes on.
t_sigusr1()
{
	local err=$E2E_TMP/usr1.err

	xs_start usr1 "$XS_IF" -p 8080 -w "$E2E_TMP/usr1.pcap" || return 1
	fetch_all "$XS_SRV4" "$E2E_TMP/www" "$E2E_TMP/got-usr1" 8080/f_65536 || return 1
	kill -USR1 "$XS_PID"
	wait_for 10 grep -q 'packets seen by the kernel program' "$err" ||
		{ WHY="no counters on stderr within 10 s of SIGUSR1"; return 1; }
	grep -q 'dropped because the ring was full' "$err" ||
		{ WHY="the counters lack the ring-full count"; return 1; }
	kill -0 "$XS_PID" 2>/dev/null || { WHY="xdp-sniff exited on SIGUSR1"; return 1; }
	xs_attached "$XS_IF" "$XS_PID" || { WHY="no longer attached after SIGUSR1"; return 1; }
	# and it still captures
	fetch_all "$XS_SRV4" "$E2E_TMP/www" "$E2E_TMP/got-usr1b" 8080/f_1048576 || return 1
	xs_stop INT && [ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC after SIGUSR1 then SIGINT"; return 1; }
	[ "$(grep -c 'packets seen by the kernel program' "$err")" -eq 2 ] ||
		{ WHY="want the counters twice (SIGUSR1 and exit)"; return 1; }
}

# SIGTERM is a clean stop too.
t_sigterm()
{
	xs_start term "$XS_IF" -p 8080 -w "$E2E_TMP/term.pcap" || return 1
	xs_stop TERM || { WHY="no exit within 30 s of SIGTERM"; return 1; }
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC on SIGTERM"; return 1; }
	! xdp_on "$XS_IF" || { WHY="XDP still on $XS_IF after SIGTERM"; return 1; }
}

# The interface goes away under a running capture.
t_iface_deleted()
{
	local a="xs${E2E_TAG}d" b="xs${E2E_TAG}e" err=$E2E_TMP/ifdel.err

	ip link add "$a" type veth peer name "$b" || { WHY="cannot add veth $a"; return 1; }
	E2E_LINKS+=("$a")
	E2E_IFACES+=("$a")
	ip link set "$a" up && ip link set "$b" up
	xs_start ifdel "$a" -p 8080 -w "$E2E_TMP/ifdel.pcap" -j || return 1
	# one data segment of a connection arrives on $a: a stream that is open when $a goes
	python3 - "$b" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
data = b'still open when the interface went away'
tcp = struct.pack('!HHIIBBHHH', 40000, 8080, 1000, 1, 5 << 4, 0x18, 65535, 0, 0)
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40 + len(data), 0, 0, 64, 6, 0,
                 bytes([198, 18, 255, 1]), bytes([198, 18, 255, 2]))
s.send(b'\xff' * 6 + b'\x02' * 6 + b'\x08\x00' + ip + tcp + data)
EOF
	wait_for 5 eval "\"$XS\" status $a | grep -q 'delivered [1-9]'" ||
		{ WHY="the segment sent on $b was not delivered"; return 1; }
	ip link del "$a"
	if ! wait_for 5 eval "! kill -0 $XS_PID 2>/dev/null"; then
		WHY="still running 5 s after $a was deleted"
		return 1
	fi
	wait "$XS_PID"
	RC=$?
	[ "$RC" -eq 1 ] || { WHY="exit status $RC, want 1: $(head -c 200 "$err" | tr '\n' ' ')"; return 1; }
	grep -q "$a" "$err" || { WHY="stderr does not name $a: $(head -c 200 "$err" | tr '\n' ' ')"; return 1; }
	# the stream that was open is flushed, with its data, as open
	grep -q '"state":"open"' "$E2E_TMP/ifdel.out" ||
		{ WHY="no open stream flushed at exit: $(head -c 200 "$E2E_TMP/ifdel.out")"; return 1; }
	grep -q "$(printf '%s' 'still open when the interface went away' | base64 -w0)" \
		"$E2E_TMP/ifdel.out" || { WHY="the flushed stream lacks its data"; return 1; }
}

# ...and leaves no pins behind for that name.
t_iface_deleted_no_pins()
{
	local a="xs${E2E_TAG}d"

	[ -e "$E2E_TMP/ifdel.err" ] || { WHY="iface_deleted did not run"; return 77; }
	[ ! -e "/sys/fs/bpf/xdp-sniff/$a" ] ||
		{ WHY="/sys/fs/bpf/xdp-sniff/$a is left behind ($("$XS" status "$a" | head -n 1))"; return 1; }
}

# -w on a symlink: refused, the target untouched (and, as every error, in one line:
# t_symlink_one_line).
t_symlink_refused()
{
	local target=$E2E_TMP/precious link=$E2E_TMP/link.pcap sum

	echo "keep me" >"$target"
	ln -s "$target" "$link"
	sum=$(sha256sum <"$target")
	run_xs symlink load "$XS_IF" -p 8080 -w "$link"
	[ "$RC" -eq 1 ] || { WHY="exit status $RC, want 1"; return 1; }
	grep -q "$link" "$E2E_TMP/symlink.err" ||
		{ WHY="stderr does not name $link: $(head -c 200 "$E2E_TMP/symlink.err")"; return 1; }
	[ "$(sha256sum <"$target")" = "$sum" ] || { WHY="the symlink's target was changed"; return 1; }
	"$XS" status "$XS_IF" | grep -q 'no xdp-sniff instance' ||
		{ WHY="a refused -w left an instance on $XS_IF"; return 1; }
}

t_symlink_one_line()
{
	local err=$E2E_TMP/symlink.err

	[ -e "$err" ] || { WHY="symlink_w_refused did not run"; return 77; }
	[ "$(grep -c . "$err")" -eq 1 ] ||
		{ WHY="$(grep -c . "$err") lines on stderr, want one: $(tr '\n' '|' <"$err" | head -c 300)"; return 1; }
}

if ! setup; then
	WHY="setting up the namespace and server failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi

run_test no_such_interface t_no_such_iface
run_test bad_port t_bad_port
run_test bad_prefix t_bad_prefix
run_test unknown_option t_unknown_option
run_test bad_direction t_bad_direction
run_test not_root t_not_root
run_test sigkill_status_unload t_sigkill_unload
run_test unload_live_refused t_unload_live_refused
run_test sigkill_then_load_replaces t_sigkill_replace
run_test second_load_refused t_second_load_refused
run_test missing_interface_status_unload t_missing_iface_status_unload
run_test native_xdp_unsupported t_native_unsupported
run_test sigusr1_counters t_sigusr1
run_test sigterm_clean_stop t_sigterm
run_test interface_deleted t_iface_deleted
run_test interface_deleted_no_pins t_iface_deleted_no_pins
run_test symlink_w_refused t_symlink_refused
run_test symlink_w_one_line t_symlink_one_line
e2e_finish
