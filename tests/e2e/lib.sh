# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the end-to-end tests, sourced by tests/e2e/test_*.sh.
#
# A test is a shell function run by run_test NAME FUNC: it returns 0 when it
# passes, 1 with the reason in $WHY when it fails, or 77 with the reason in $WHY
# to skip. Each script prints "ok NAME" / "FAIL NAME: why" / "skip NAME: why" per
# test and ends with e2e_finish, which prints "N passed, M failed, K skipped" and
# sets the exit status.
#
# Everything a test makes is registered here and removed by the EXIT/INT/TERM
# trap, pass or fail: processes (by pid), the namespace and veth pairs (unique
# names, xs-PID-s and xsPIDr), the pins of our interfaces and the temp directory.
#
# The binary is $XDP_SNIFF, default build/xdp-sniff.

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XS=${XDP_SNIFF:-$E2E_ROOT/build/xdp-sniff}
E2E_TAG=$$
E2E_NAME=$(basename "$0" .sh)
E2E_PASS=0
E2E_FAIL=0
E2E_SKIP=0
E2E_PIDS=()		# processes to stop at cleanup
E2E_LINKS=()		# extra root-namespace links to delete
E2E_IFACES=()		# interfaces whose xdp-sniff pins must not outlive us
E2E_NETNS_UP=0
E2E_TMP=
WHY=

# shellcheck source=../../scripts/netns.sh
. "$E2E_ROOT/scripts/netns.sh"

# curl must never go through a proxy from the environment
CURL=(curl -sS --fail --noproxy '*' --max-time 60)

e2e_log()
{
	echo "# $*" >&2
}

e2e_result()
{
	local name=$1 rc=$2

	case $rc in
	0) echo "ok $name"; E2E_PASS=$((E2E_PASS + 1)) ;;
	77) echo "skip $name: $WHY"; E2E_SKIP=$((E2E_SKIP + 1)) ;;
	*) echo "FAIL $name: ${WHY:-no reason given}"; E2E_FAIL=$((E2E_FAIL + 1)) ;;
	esac
}

# run_test NAME FUNC [ARGS...]: runs one test, then stops what it left running.
run_test()
{
	local name=$1 rc

	shift
	WHY=
	"$@"
	rc=$?
	e2e_test_teardown
	e2e_result "$name" "$rc"
}

e2e_finish()
{
	local line="$E2E_PASS passed, $E2E_FAIL failed"

	[ "$E2E_SKIP" -eq 0 ] || line="$line, $E2E_SKIP skipped"
	echo "$line"
	[ "$E2E_FAIL" -eq 0 ]
}

# Skips the whole script (exit 0) with a reason.
e2e_skip_all()
{
	WHY=$1
	e2e_result "$E2E_NAME" 77
	e2e_finish
	exit 0
}

# The checks every script makes first: root, iproute2 with veth and netns, a
# kernel with BPF and BTF, bpffs, the tools named as arguments, the binary.
e2e_require()
{
	local t

	[ "$(id -u)" -eq 0 ] || e2e_skip_all "needs root (network namespaces, veth, BPF)"
	command -v ip >/dev/null || e2e_skip_all "ip (iproute2) is not installed"
	for t in "$@"; do
		command -v "$t" >/dev/null || e2e_skip_all "$t is not installed (scripts/deps.sh)"
	done
	[ -e /sys/kernel/btf/vmlinux ] || e2e_skip_all "kernel without BTF (/sys/kernel/btf/vmlinux)"
	[ -x "$XS" ] || e2e_skip_all "$XS is not built (run make)"
	if ! grep -q ' /sys/fs/bpf bpf ' /proc/mounts; then
		mount -t bpf bpf /sys/fs/bpf 2>/dev/null ||
			e2e_skip_all "bpffs is not mounted at /sys/fs/bpf and cannot be mounted"
	fi
	E2E_TMP=$(mktemp -d "/tmp/xs-e2e-$E2E_NAME.XXXXXX") || e2e_skip_all "mktemp failed"
	chmod 755 "$E2E_TMP"
	trap e2e_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if ! ip netns add "xs-$E2E_TAG-probe" 2>/dev/null; then
		e2e_skip_all "cannot create network namespaces"
	fi
	ip netns del "xs-$E2E_TAG-probe"
	if ! ip link add "xs${E2E_TAG}p" type veth peer name "xs${E2E_TAG}q" 2>/dev/null; then
		e2e_skip_all "cannot create veth pairs (no veth module?)"
	fi
	ip link del "xs${E2E_TAG}p"
}

# The server namespace and veth pair for this script (see scripts/netns.sh).
e2e_netns_up()
{
	E2E_NETNS_UP=1
	xs_netns_up "$E2E_TAG" || return 1
	E2E_IFACES+=("$XS_IF")
}

# Registers a pid to stop at teardown and cleanup.
e2e_track()
{
	E2E_PIDS+=("$1")
}

# Stops pid: SIGTERM, then SIGKILL if it is still there after 5 s. Waits for it.
e2e_stop_pid()
{
	local pid=$1

	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# Removes what xdp-sniff may have left on our interfaces: a live or killed
# instance is unloaded, stray pins of our interface names are removed.
e2e_unload_ours()
{
	local ifc

	for ifc in "${E2E_IFACES[@]}"; do
		if [ -d "/sys/fs/bpf/xdp-sniff/$ifc" ]; then
			"$XS" unload "$ifc" >/dev/null 2>&1
			rm -rf "/sys/fs/bpf/xdp-sniff/$ifc"
		fi
		if ip link show dev "$ifc" >/dev/null 2>&1; then
			ip link set dev "$ifc" xdp off 2>/dev/null
			tc qdisc del dev "$ifc" clsact 2>/dev/null
		fi
	done
	rmdir /sys/fs/bpf/xdp-sniff 2>/dev/null
	return 0
}

# After each test: the processes it started are stopped, nothing of ours stays attached.
e2e_test_teardown()
{
	local pid keep=()

	for pid in "${E2E_PIDS[@]}"; do
		if [ -n "${E2E_SERVERS[*]:-}" ] && [[ " ${E2E_SERVERS[*]} " == *" $pid "* ]]; then
			keep+=("$pid")
			continue
		fi
		e2e_stop_pid "$pid"
	done
	E2E_PIDS=("${keep[@]}")
	e2e_unload_ours
}

e2e_cleanup()
{
	local rc=$? pid l

	trap - EXIT INT TERM
	for pid in "${E2E_PIDS[@]}"; do
		e2e_stop_pid "$pid"
	done
	e2e_unload_ours
	for l in "${E2E_LINKS[@]}"; do
		ip link del "$l" 2>/dev/null
	done
	[ "$E2E_NETNS_UP" -eq 0 ] || xs_netns_down "$E2E_TAG"
	[ -z "$E2E_TMP" ] || [ -n "${E2E_KEEP:-}" ] || rm -rf "$E2E_TMP"
	[ -z "${E2E_KEEP:-}" ] || echo "# kept $E2E_TMP" >&2
	exit "$rc"
}

# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds; 1 on timeout.
wait_for()
{
	local secs=$1 end

	shift
	end=$(( $(date +%s%N) + secs * 1000000000 ))
	while :; do
		"$@" && return 0
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# Starts python3 -m http.server PORT serving DIR inside the namespace (both IPv4
# and IPv6) and waits until it listens. Servers live until cleanup.
E2E_SERVERS=()
e2e_http_server()
{
	local port=$1 dir=$2 pid

	ip netns exec "$XS_NS" python3 -m http.server "$port" --bind :: --directory "$dir" \
		>"$E2E_TMP/http-$port.log" 2>&1 &
	pid=$!
	E2E_PIDS+=("$pid")
	E2E_SERVERS+=("$pid")
	xs_netns_wait_listen "$port" 10
}

# Is xdp-sniff pid PID capturing on IFACE, every hook attached?
xs_attached()
{
	local ifc=$1 pid=$2 st

	st=$("$XS" status "$ifc" 2>/dev/null) || return 1
	grep -q "pid $pid (running)" <<<"$st" || return 1
	grep -q ' attached' <<<"$st" || return 1
	! grep -q 'NOT attached' <<<"$st"
}

# xs_start NAME IFACE ARGS...: starts "xdp-sniff load IFACE ARGS" with stdout and
# stderr in $E2E_TMP/NAME.out and NAME.err, waits until it is attached. Sets XS_PID.
xs_start()
{
	local name=$1 ifc=$2

	shift 2
	"$XS" load "$ifc" "$@" >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" &
	XS_PID=$!
	E2E_PIDS+=("$XS_PID")
	if ! wait_for 15 xs_attached "$ifc" "$XS_PID"; then
		WHY="xdp-sniff load $ifc $* did not attach within 15 s: $(tail -n 3 "$E2E_TMP/$name.err" | tr '\n' ' ')"
		return 1
	fi
}

# xs_stop [SIGNAL]: signals XS_PID (SIGINT by default), waits up to 30 s for it to
# exit, and sets XS_RC to its exit status (124 when it had to be killed).
xs_stop()
{
	local sig=${1:-INT}

	kill "-$sig" "$XS_PID" 2>/dev/null
	if ! wait_for 30 eval "! kill -0 $XS_PID 2>/dev/null"; then
		kill -KILL "$XS_PID" 2>/dev/null
		wait "$XS_PID" 2>/dev/null
		XS_RC=124
		return 1
	fi
	wait "$XS_PID"
	XS_RC=$?
}

# Counter N from the "N packets dropped because the ring was full" line of FILE.
xs_ring_full()
{
	sed -n 's/^\([0-9]*\) packets dropped because the ring was full.*/\1/p' "$1" | tail -n 1
}

# Number of packets in a pcap file, or empty when tcpdump cannot read it.
pcap_count()
{
	local f=$1 out

	shift
	out=$(tcpdump -nr "$f" "$@" 2>/dev/null) || return 1
	if [ -z "$out" ]; then echo 0; else wc -l <<<"$out"; fi
}

# Random files of the given sizes in bytes, named f_SIZE, in DIR.
make_files()
{
	local dir=$1 s

	shift
	mkdir -p "$dir"
	for s in "$@"; do
		head -c "$s" /dev/urandom >"$dir/f_$s"
	done
}

# check_flows DIR SRVADDR PORT WWW NAME...: in a directory of tcpflow-named flow
# files, for every NAME there is a client->server flow carrying the request line
# "GET /NAME HTTP/1.x" and its server->client flow is an HTTP response whose body
# is byte for byte WWW/NAME. Prints what is wrong and fails otherwise.
check_flows()
{
	python3 - "$@" <<'EOF'
import os, re, sys
d, srv, port, www = sys.argv[1:5]
names = sys.argv[5:]
pat = re.compile(r'^(.+)\.(\d{5})-(.+)\.(\d{5})(c\d+)?$')

def norm(a):
    # tcpflow pads IPv4 octets to three digits; IPv6 stays as written
    if re.fullmatch(r'\d{3}\.\d{3}\.\d{3}\.\d{3}', a):
        return '.'.join(str(int(x)) for x in a.split('.'))
    return a.lower()

flows = {}
for f in os.listdir(d):
    m = pat.match(f)
    if m:
        flows[(norm(m[1]), int(m[2]), norm(m[3]), int(m[4]), m[5] or '')] = f
bad = []
found = {}
for (sa, sp, da, dp, c), f in flows.items():
    if da != srv.lower() or dp != int(port):
        continue
    req = open(os.path.join(d, f), 'rb').read()
    for m in re.finditer(rb'GET /([^ ]+) HTTP/1\.[01]\r\n', req):
        found.setdefault(m[1].decode(), []).append((sa, sp, da, dp, c))
for n in names:
    if n not in found:
        bad.append(f'no client->server flow with "GET /{n}"')
        continue
    want = open(os.path.join(www, n), 'rb').read()
    ok = False
    why = ''
    for sa, sp, da, dp, c in found[n]:
        rf = flows.get((da, dp, sa, sp, c))
        if rf is None:
            why = f'no server->client flow for the request of {n}'
            continue
        resp = open(os.path.join(d, rf), 'rb').read()
        head, sep, body = resp.partition(b'\r\n\r\n')
        if not sep:
            why = f'{rf}: no end of HTTP headers ({len(resp)} bytes)'
        elif body != want:
            why = f'{rf}: body of {n} is {len(body)} bytes, differs from the {len(want)}-byte file'
        else:
            ok = True
            break
    if not ok:
        bad.append(why)
if bad:
    print('; '.join(bad[:4]) + (f' (+{len(bad) - 4} more)' if len(bad) > 4 else ''))
    sys.exit(1)
EOF
}

# tcpflow -r PCAP -o DIR (DIR is made). Fails with WHY set.
tcpflow_dir()
{
	mkdir -p "$2"
	if ! tcpflow -r "$1" -o "$2" >"$2.log" 2>&1; then
		WHY="tcpflow -r $1 failed: $(tail -n 2 "$2.log" | tr '\n' ' ')"
		return 1
	fi
}

# fetch_all HOST WWW OUT PORT/NAME...: fetches every http://HOST:PORT/NAME at once
# into OUT/PORT-NAME and checks each download against WWW/PORT/NAME. HOST may be
# an IPv6 address.
fetch_all()
{
	local host=$1 www=$2 out=$3 it port n pids=() p rc=0 url

	shift 3
	mkdir -p "$out"
	[[ $host == *:* ]] && url="[$host]" || url=$host
	for it in "$@"; do
		port=${it%%/*} n=${it#*/}
		"${CURL[@]}" -g -o "$out/$port-$n" "http://$url:$port/$n" 2>"$out/$port-$n.err" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || rc=1
	done
	if [ "$rc" -ne 0 ]; then
		WHY="curl failed to fetch from $url: $(cat "$out"/*.err | head -c 300)"
		return 1
	fi
	for it in "$@"; do
		port=${it%%/*} n=${it#*/}
		cmp -s "$out/$port-$n" "$www/$port/$n" ||
			{ WHY="curl got a different $n from $url:$port"; return 1; }
	done
}

# Downloads NAME from the test's http server on port 8080 until killed, at RATE bytes a second.
fetch_loop()
{
	local name=$1 rate=$2

	while :; do
		"${CURL[@]}" --limit-rate "$rate" -o /dev/null "http://$XS_SRV4:8080/$name" 2>/dev/null
	done
}
