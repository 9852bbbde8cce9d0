#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Least privilege of a running load, seen from outside in /proc/PID/status while
# real HTTP traffic is captured with -o, -j and -w at once: no effective capability
# (CapEff 0), no_new_privs, the seccomp filter on (Seccomp: 2) and, with -Z nobody,
# uid 65534; the capture still right (bytes of every -o, -j and -w stream); the
# pins root-only (0700); SIGINT still detaches everything (the exit path runs under
# the filter) and exits 0; the kernel's audit log shows no call the filter refused.
#
# Usage: tests/e2e/test_privs.sh   (as root; XDP_SNIFF=path overrides the binary,
#        E2E_KEEP=1 keeps the temp directory)

. "$(dirname "$0")/lib.sh"

e2e_require tcpdump tcpflow curl python3 ss tc

NAMES=(f_65536 f_1048576)
ITEMS=(8080/f_65536 8080/f_1048576)
WWW=

setup()
{
	WWW=$E2E_TMP/www
	make_files "$WWW/8080" 65536 1048576
	e2e_netns_up || return 1
	e2e_http_server 8080 "$WWW/8080"
}

# Field FIELD of /proc/PID/status (the text after "FIELD:", whitespace squeezed).
proc_field()
{
	sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" 2>/dev/null | tr -s '[:space:]' ' ' |
		sed 's/ $//'
}

# The process has dropped to steady state: the capability and seccomp state it
# takes right after attaching (polled: the drop follows the attach).
steady()
{
	[ "$(proc_field "$1" CapEff)" = 0000000000000000 ] && [ "$(proc_field "$1" Seccomp)" = 2 ]
}

xdp_on()
{
	ip -d link show dev "$1" | grep -qE 'prog/xdp|xdp(generic|drv|offload)? '
}

tc_on()
{
	[ -n "$(tc filter show dev "$1" egress 2>/dev/null)" ]
}

# The kernel log lines of system calls that the seccomp filter refused to our binary
# (the filter logs what it refuses: "audit: type=1326 ... exe=..."); the log is only
# read, never cleared. A run is clean when it added none. The kernel rate-limits
# these lines when no audit daemon reads them, so this catches most refusals, not all;
# the unit test tests/unit/test_privs.c checks the policy itself.
XS_REAL=$(readlink -f "$XS")
DMESG_OK=0
dmesg >/dev/null 2>&1 && DMESG_OK=1
seccomp_denials()
{
	[ "$DMESG_OK" = 1 ] || return 0
	dmesg 2>/dev/null | grep 'type=1326' | grep -F "exe=\"$XS_REAL\""
}

# check_state NAME PID UID: the status of a steady-state load.
check_state()
{
	local pid=$2 uid=$3 v

	if ! wait_for 10 steady "$pid"; then
		WHY="not in steady state after 10 s: CapEff $(proc_field "$pid" CapEff), Seccomp $(proc_field "$pid" Seccomp)"
		return 1
	fi
	v=$(proc_field "$pid" CapPrm)
	[ "$v" != 0000000000000000 ] || [ "$uid" != 0 ] ||
		{ WHY="as root, nothing left permitted to detach with at exit (CapPrm $v)"; return 1; }
	v=$(proc_field "$pid" NoNewPrivs)
	[ "$v" = 1 ] || { WHY="NoNewPrivs is '$v', want 1"; return 1; }
	v=$(proc_field "$pid" Seccomp_filters)
	[ -z "$v" ] || [ "$v" -ge 1 ] || { WHY="Seccomp_filters is '$v'"; return 1; }
	v=$(proc_field "$pid" Uid)
	[ "$v" = "$uid $uid $uid $uid" ] || { WHY="Uid is '$v', want $uid everywhere"; return 1; }
	v=$(proc_field "$pid" Gid)
	[ "$uid" = 0 ] || [ "${v%% *}" != 0 ] || { WHY="still gid 0 (Gid '$v')"; return 1; }
	v=$(proc_field "$pid" Groups)
	[ "$uid" = 0 ] || [ -z "$v" ] || { WHY="supplementary groups left: '$v'"; return 1; }
}

# The pins of the running instance are root's only.
check_pins()
{
	local d m

	for d in /sys/fs/bpf/xdp-sniff "/sys/fs/bpf/xdp-sniff/$XS_IF"; do
		[ -d "$d" ] || { WHY="no $d while capturing"; return 1; }
		m=$(stat -c '%a %U' "$d")
		[ "$m" = "700 root" ] || { WHY="$d is mode/owner '$m', want '700 root'"; return 1; }
	done
	for f in "/sys/fs/bpf/xdp-sniff/$XS_IF"/*; do
		m=$(stat -c '%a' "$f")
		[ $((8#$m & 8#077)) -eq 0 ] || { WHY="pin $f is mode $m, readable by others"; return 1; }
	done
}

# After SIGINT: exit 0, nothing attached, no instance, no pins, stderr without errors,
# no call refused by the filter since the run began (DENIED_BEFORE).
DENIED_BEFORE=0
check_stopped()
{
	local name=$1 err=$E2E_TMP/$1.err d

	xs_stop INT || { WHY="no exit within 30 s of SIGINT"; return 1; }
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC: $(tail -n 3 "$err" | tr '\n' '|')"; return 1; }
	! xdp_on "$XS_IF" || { WHY="an XDP program is left on $XS_IF"; return 1; }
	! tc_on "$XS_IF" || { WHY="a tc egress filter is left on $XS_IF"; return 1; }
	"$XS" status "$XS_IF" | grep -q 'no xdp-sniff instance' ||
		{ WHY="status shows an instance after the stop"; return 1; }
	[ ! -e "/sys/fs/bpf/xdp-sniff/$XS_IF" ] || { WHY="the pins outlived the stop"; return 1; }
	if grep -qiE 'fail|denied|not permitted|cannot' "$err"; then
		WHY="errors on stderr: $(grep -iE 'fail|denied|not permitted|cannot' "$err" | head -n 2 | tr '\n' '|')"
		return 1
	fi
	d=$(seccomp_denials | tail -n +$((DENIED_BEFORE + 1)))
	[ -z "$d" ] || { WHY="the seccomp filter refused: $(tr '\n' '|' <<<"$d" | head -c 300)"; return 1; }
}

# check_json FILE: every fetched file is the body of a response in an -j stream.
check_json()
{
	python3 - "$1" "$WWW/8080" "${NAMES[@]}" <<'EOF'
import base64, json, os, sys
out, www = sys.argv[1:3]
objs = [json.loads(l) for l in open(out, 'rb') if l.strip()]
bad = []
for n in sys.argv[3:]:
    want = open(os.path.join(www, n), 'rb').read()
    hit = [o for o in objs if f'GET /{n} HTTP/1.'.encode() in base64.b64decode(o['inbound'])]
    if not hit:
        bad.append(f'no -j stream with GET /{n}')
    elif base64.b64decode(hit[0]['outbound']).partition(b'\r\n\r\n')[2] != want:
        bad.append(f'the -j response body of {n} differs from the file')
if bad:
    print('; '.join(bad))
    sys.exit(1)
EOF
}

# check_outputs NAME: -o, -j and -w of run NAME hold every fetched file.
check_outputs()
{
	local name=$1 n

	WHY=$(check_flows "$E2E_TMP/$name.d" "$XS_SRV4" 8080 "$WWW/8080" "${NAMES[@]}") ||
		{ WHY="-o: $WHY"; return 1; }
	WHY=$(check_json "$E2E_TMP/$name.out") || { WHY="-j: $WHY"; return 1; }
	n=$(pcap_count "$E2E_TMP/$name.pcap" 'tcp port 8080') || { WHY="tcpdump cannot read -w"; return 1; }
	[ "$n" -gt 0 ] || { WHY="-w holds no packet"; return 1; }
	tcpflow_dir "$E2E_TMP/$name.pcap" "$E2E_TMP/$name.tcpflow" || return 1
	WHY=$(check_flows "$E2E_TMP/$name.tcpflow" "$XS_SRV4" 8080 "$WWW/8080" "${NAMES[@]}") ||
		{ WHY="-w (through tcpflow): $WHY"; return 1; }
}

# run_capture NAME UID ARGS...: load with -o, -j, -w and ARGS during the transfers.
run_capture()
{
	local name=$1 uid=$2

	shift 2
	mkdir -p "$E2E_TMP/$name.d"
	[ "$uid" = 0 ] || chown "$uid" "$E2E_TMP/$name.d"
	DENIED_BEFORE=$(seccomp_denials | wc -l)
	xs_start "$name" "$XS_IF" -p 8080 -o "$E2E_TMP/$name.d" -j -w "$E2E_TMP/$name.pcap" "$@" ||
		return 1
	check_state "$name" "$XS_PID" "$uid" || return 1
	check_pins || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-$name" "${ITEMS[@]}" || return 1
	# SIGUSR1 runs the report path under the filter too
	kill -USR1 "$XS_PID"
	wait_for 10 grep -q 'packets seen by the kernel program' "$E2E_TMP/$name.err" ||
		{ WHY="no counters within 10 s of SIGUSR1"; return 1; }
	check_state "$name" "$XS_PID" "$uid" || return 1
	check_stopped "$name" || return 1
	check_outputs "$name"
}

t_root()
{
	run_capture root 0
}

t_user_nobody()
{
	local f

	id nobody >/dev/null 2>&1 || { WHY="no user nobody"; return 77; }
	[ "$(id -u nobody)" = 65534 ] || { WHY="nobody is not uid 65534 here"; return 77; }
	run_capture nobody 65534 -Z nobody || return 1
	# the stream files were created after the switch: they are nobody's
	f=$(find "$E2E_TMP/nobody.d" -type f ! -user nobody | head -n 1)
	[ -z "$f" ] || { WHY="$f is not owned by nobody"; return 1; }
}

# -Z with a directory nobody cannot write: refused at start, in one clear line that
# names the directory, before anything is attached (not a capture whose every file fails).
t_user_unwritable()
{
	local rc

	id nobody >/dev/null 2>&1 || { WHY="no user nobody"; return 77; }
	mkdir -p "$E2E_TMP/ro.d" && chmod 755 "$E2E_TMP/ro.d"
	timeout 30 "$XS" load "$XS_IF" -p 8080 -o "$E2E_TMP/ro.d" -Z nobody >/dev/null \
		2>"$E2E_TMP/ro.err"
	rc=$?
	[ "$rc" -eq 1 ] || { WHY="exit status $rc, want 1 at start"; return 1; }
	grep -q "$E2E_TMP/ro.d" "$E2E_TMP/ro.err" ||
		{ WHY="the error does not name the directory: $(head -c 200 "$E2E_TMP/ro.err")"; return 1; }
	! grep -q 'capturing on' "$E2E_TMP/ro.err" || { WHY="it attached before refusing"; return 1; }
	! xdp_on "$XS_IF" || { WHY="an XDP program is left on $XS_IF"; return 1; }
	[ ! -e "/sys/fs/bpf/xdp-sniff/$XS_IF" ] || { WHY="the pins outlived the stop"; return 1; }
}

# The HTTP outputs (where this build has them) under the filter, as user nobody:
# a log line per exchange and every response body in its own file.
t_http()
{
	local d=$E2E_TMP/http.bodies n f found

	"$XS" load --help 2>&1 | grep -q -- --http-bodies ||
		{ WHY="this build has no --http-bodies option"; return 77; }
	id nobody >/dev/null 2>&1 || { WHY="no user nobody"; return 77; }
	mkdir -p "$d" && chown nobody "$d"
	DENIED_BEFORE=$(seccomp_denials | wc -l)
	xs_start http "$XS_IF" -p 8080 --http-log "$E2E_TMP/http.log" --http-bodies "$d" \
		--decode -Z nobody || return 1
	check_state http "$XS_PID" 65534 || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-http" "${ITEMS[@]}" || return 1
	check_stopped http || return 1
	n=$(grep -c . "$E2E_TMP/http.log")
	[ "$n" -ge "${#NAMES[@]}" ] || { WHY="$n lines in --http-log, want ${#NAMES[@]}"; return 1; }
	for n in "${NAMES[@]}"; do
		found=0
		for f in "$d"/*; do
			cmp -s "$f" "$WWW/8080/$n" && found=1 && break
		done
		[ "$found" = 1 ] || { WHY="no body file in $d equals $n"; return 1; }
	done
}

# --no-seccomp (where the option exists): same capture, no filter.
t_no_seccomp()
{
	"$XS" load --help 2>&1 | grep -q -- --no-seccomp ||
		{ WHY="this build has no --no-seccomp option"; return 77; }
	mkdir -p "$E2E_TMP/nosec.d"
	DENIED_BEFORE=$(seccomp_denials | wc -l)
	xs_start nosec "$XS_IF" -p 8080 -o "$E2E_TMP/nosec.d" -j -w "$E2E_TMP/nosec.pcap" \
		--no-seccomp || return 1
	wait_for 10 eval "[ \"\$(proc_field $XS_PID CapEff)\" = 0000000000000000 ]" ||
		{ WHY="CapEff is $(proc_field "$XS_PID" CapEff)"; return 1; }
	[ "$(proc_field "$XS_PID" Seccomp)" = 0 ] ||
		{ WHY="Seccomp is $(proc_field "$XS_PID" Seccomp) with --no-seccomp"; return 1; }
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-nosec" "${ITEMS[@]}" || return 1
	check_stopped nosec || return 1
	check_outputs nosec
}

if ! setup; then
	WHY="setting up the namespace and server failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi

run_test root_steady_state_and_capture t_root
run_test user_nobody_steady_state_and_capture t_user_nobody
run_test user_nobody_unwritable_dir t_user_unwritable
run_test http_outputs_as_nobody t_http
run_test no_seccomp t_no_seccomp
e2e_finish
