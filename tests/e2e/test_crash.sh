#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Crash-consistent outputs: xdp-sniff load killed with SIGKILL at a random moment during
# transfers leaves files every reader takes whole.
#
# Each round: tcpdump -U -w captures the veth end as a reference, xdp-sniff load captures
# the same end with -w FILE, --json-log FILE and -o DIR together, curl downloads files
# of 8 MiB and 64 KiB from the namespace over and over, and after a random 0.3-2.5 s
# xdp-sniff gets SIGKILL. Then: tcpdump -r reads the pcap to its end with exit status 0,
# every JSON line ends with a newline and parses, and the packets of the pcap are the first
# packets tcpdump captured (up to the order of packets that crossed on two CPUs). A round
# whose reference lost packets (tcpdump's "dropped by kernel") checks the pcap is readable
# and the JSON, and is counted as skipped for the comparison.
#
# Usage: tests/e2e/test_crash.sh   (as root; CRASH_ROUNDS=N, default 20; XDP_SNIFF=path
#        overrides the binary, E2E_KEEP=1 keeps the temp directory)

. "$(dirname "$0")/lib.sh"

e2e_require tcpdump curl python3 ss tc

ROUNDS=${CRASH_ROUNDS:-20}
WWW=$E2E_TMP/www

setup()
{
	make_files "$WWW" 8388608 65536
	e2e_netns_up || { echo "# cannot build the namespace and veth pair" >&2; return 1; }
	e2e_http_server 8080 "$WWW" || { echo "# http.server on 8080 did not start" >&2; return 1; }
}

# Is FILE open in no process? (A write of the killed capture may still be finishing.)
closed_everywhere()
{
	local f l

	f=$(readlink -f "$1")
	for l in /proc/[0-9]*/fd/*; do
		[ "$(readlink "$l" 2>/dev/null)" != "$f" ] || return 1
	done
	return 0
}

# The pcap reads cleanly and its packets are tcpdump's first ones; every JSON line parses.
check_outputs()
{
	python3 - "$1" "$2" "$3" <<'EOF'
import collections, json, struct, sys

def frames(path):
    d = open(path, 'rb').read()
    magic = struct.unpack_from('<I', d)[0]
    e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    off, out = 24, []
    while off < len(d):
        if len(d) - off < 16:
            sys.exit(f'{path}: {len(d) - off} bytes of a record header at the end')
        caplen = struct.unpack_from(e + 'I', d, off + 8)[0]
        if off + 16 + caplen > len(d):
            sys.exit(f'{path}: record at {off} cut short')
        out.append(d[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return out

ours = frames(sys.argv[1])
# "-": no whole reference to compare with
ref = frames(sys.argv[2]) if sys.argv[2] != '-' else list(ours)
left = collections.Counter(ref)
for i, f in enumerate(ours):
    if left[f] <= 0:
        sys.exit(f'packet {i + 1} of {len(ours)} is not in what tcpdump captured')
    left[f] -= 1
# a prefix: what tcpdump captured before the last packets ours holds (give or take the order
# of packets that crossed) is there too
slack = 64
have = collections.Counter(ours)
for i, f in enumerate(ref[:max(0, len(ours) - slack)]):
    if have[f] <= 0:
        sys.exit(f'tcpdump packet {i + 1} missing from the pcap of {len(ours)} packets')
    have[f] -= 1

d = open(sys.argv[3], 'rb').read()
if d and not d.endswith(b'\n'):
    tail = len(d) - d.rfind(b'\n') - 1
    sys.exit(f'json: the last line is cut short ({tail} bytes without a newline)')
for n, line in enumerate(d.splitlines(), 1):
    try:
        json.loads(line)
    except ValueError as e:
        sys.exit(f'json line {n} does not parse: {e}')
print(f'{len(ours)} of {len(ref)} packets, {len(d.splitlines())} json lines')
EOF
}

t_crash()
{
	local r=$1 f=$E2E_TMP/c$1.pcap ref=$E2E_TMP/c$1.ref.pcap pids=() tp p delay out drops n last

	tcpdump -U --immediate-mode -n -B 131072 -i "$XS_IF" -w "$ref" 'tcp port 8080' 2>"$ref.err" &
	tp=$!
	e2e_track "$tp"
	wait_for 10 grep -q 'listening on' "$ref.err" ||
		{ WHY="tcpdump did not start: $(head -c 200 "$ref.err")"; return 1; }
	xs_start "c$r" "$XS_IF" -p 8080 -w "$f" --json-log "$E2E_TMP/c$r.jsonl" -o "$E2E_TMP/c$r.flows" || return 1
	fetch_loop f_8388608 10M &
	pids+=($!)
	fetch_loop f_65536 2M &
	pids+=($!)
	for p in "${pids[@]}"; do e2e_track "$p"; done
	delay=$(( RANDOM % 2200 + 300 ))
	sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
	kill -KILL "$XS_PID"
	wait "$XS_PID" 2>/dev/null
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# what was on the wire until the kill and a little after: the reference, once tcpdump
	# has read all of it (its file stops growing; SIGINT leaves what it has not read yet)
	last=-1
	for _ in $(seq 50); do
		sleep 0.2
		n=$(stat -c %s "$ref" 2>/dev/null || echo 0)
		[ "$n" = "$last" ] && break
		last=$n
	done
	kill -INT "$tp"
	wait "$tp" 2>/dev/null
	wait_for 10 closed_everywhere "$f" && wait_for 10 closed_everywhere "$E2E_TMP/c$r.jsonl" ||
		{ WHY="the outputs of the killed capture are still open 10 s later"; return 1; }
	tcpdump -nr "$f" >/dev/null 2>"$f.err" ||
		{ WHY="killed after ${delay} ms: tcpdump -r exits $?: $(grep -v '^reading' "$f.err" | head -c 200)"; return 1; }
	drops=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$ref.err")
	# a reference that lost packets cannot be compared with: the rest is checked
	[ "${drops:-0}" -eq 0 ] || ref=-
	out=$(check_outputs "$f" "$ref" "$E2E_TMP/c$r.jsonl" 2>&1) ||
		{ WHY="killed after ${delay} ms: $out"; return 1; }
	if [ "$ref" = - ]; then
		WHY="pcap and JSON whole, but tcpdump (the reference) dropped $drops packets: not compared"
		return 77
	fi
	e2e_log "round $r, killed after ${delay} ms: $out"
	rm -f "$E2E_TMP/c$r.ref.pcap" "$f" "$E2E_TMP/c$r.jsonl" "$E2E_TMP/c$r.out"
	rm -rf "$E2E_TMP/c$r.flows"
}

if ! setup; then
	WHY="setting up the namespace and server failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi
for r in $(seq "$ROUNDS"); do
	run_test "sigkill_round_$r" t_crash "$r"
done
e2e_finish
