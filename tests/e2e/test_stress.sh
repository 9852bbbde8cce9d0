#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# xdp-sniff under stress, on a veth pair into a namespace of its own:
#
#  - SYN flood: trafgen in the namespace sends 1,000,000 SYNs from distinct 4-tuples
#    (16 source addresses of the test /24, source ports counting up) to port 80 of an
#    address of the /24 that no host has, while `load -p 80 -o DIR --memcap 64M
#    --max-streams 100000` runs and HTTP downloads of a 1 MiB file go through the flood.
#    The capture stays alive, its peak RSS (VmHWM) stays under --memcap plus the fixed
#    overhead documented in SECURITY.md, the evictions are counted, SIGINT gives exit 0,
#    and every download is in DIR byte for byte.
#  - Ring overflow: a 1 MiB ring under a loop of downloads, the capture stopped with
#    SIGSTOP for 2 s: `status` shows ring_full while it is stopped, the exit summary
#    counts the drops per direction, and a download started after SIGCONT is captured
#    whole.
#  - Disk full: -o on a 2 MiB tmpfs with -w and -j beside it, a 5 MiB download: one line
#    naming the file and "No space left on device", exit 0, the pcap holds every packet
#    delivered, the JSON line carries the whole response.
#
# The flood frames go to an address nobody has and the root namespace does not forward
# (the test skips when forwarding is on for the veth), so nothing answers them, and
# their sources are in the test /24, so nothing could leave by another interface.
#
# Usage: tests/e2e/test_stress.sh   (as root; XDP_SNIFF=path overrides the binary,
#        E2E_KEEP=1 keeps the temp directory)

. "$(dirname "$0")/lib.sh"

e2e_require trafgen tcpdump curl python3 ss tc

# what SECURITY.md documents: RSS is at most --memcap + STRESS_BASE + 2 x --ring-size +
# STRESS_PER_STREAM x --max-streams (measured: 4.3 MiB, 2 x ring, ~630 B per stream)
STRESS_BASE=$((8 << 20))
STRESS_PER_STREAM=1024
FLOOD_N=1000000
FLOOD_PPS=200000
FLOOD_MEMCAP=64M
FLOOD_MEMCAP_B=$((64 << 20))
FLOOD_MAX_STREAMS=100000
FLOOD_RING=16M
FLOOD_RING_B=$((16 << 20))

WWW=
MOUNTS=()

# Unmounts what the tests mounted before lib.sh removes the temp directory.
stress_cleanup()
{
	local rc=$? m

	for m in "${MOUNTS[@]}"; do
		mountpoint -q "$m" && umount "$m" 2>/dev/null
	done
	(exit "$rc")
	e2e_cleanup
}
trap stress_cleanup EXIT

setup()
{
	WWW=$E2E_TMP/www
	make_files "$WWW/80" 1048576 5242880
	head -c 131072 /dev/urandom >"$WWW/80/after_131072"
	e2e_netns_up || return 1
	e2e_http_server 80 "$WWW/80"
}

# Field FIELD of /proc/PID/status in kB.
proc_kb()
{
	sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status" 2>/dev/null
}

# The "in :" or "out:" counter line of IFACE in `xdp-sniff status IFACE`, then counter NAME.
status_counter()
{
	local ifc=$1 dir=$2 name=$3

	"$XS" status "$ifc" 2>/dev/null | sed -n "/^$ifc:/,/^[^ ]/p" | grep -E "^ +$dir *:" |
		head -n 1 | grep -oE "(^| )$name [0-9]+" | grep -oE '[0-9]+$'
}

# caught_up IFACE N: N ingress packets delivered or dropped because the ring was full.
caught_up()
{
	local d f

	d=$(status_counter "$1" in delivered)
	f=$(status_counter "$1" in ring_full)
	[ $((${d:-0} + ${f:-0})) -ge "$2" ]
}

# check_responses DIR SRV PORT FILE N: exactly N server->client flows of PORT in DIR (the
# responses), each an HTTP response whose body is FILE byte for byte.
check_responses()
{
	python3 - "$@" <<'EOF'
import os, re, sys
d, srv, port, want_path, n = sys.argv[1:6]
want = open(want_path, 'rb').read()
pre = '.'.join('%03d' % int(x) for x in srv.split('.')) + '.%05d-' % int(port)
flows = sorted(f for f in os.listdir(d) if f.startswith(pre))
bad = []
for f in flows:
    head, sep, body = open(os.path.join(d, f), 'rb').read().partition(b'\r\n\r\n')
    if not sep or body != want:
        bad.append(f'{f}: body of {len(body)} bytes differs from the {len(want)}-byte file')
if len(flows) != int(n):
    bad.insert(0, f'{len(flows)} response flows in {d}, want {n}: {flows[:4]}')
if bad:
    print('; '.join(bad[:3]))
    sys.exit(1)
EOF
}

# ---------------------------------------------------------------- SYN flood
FLOOD_RAN=0
FLOOD_IDLE_KB=
FLOOD_PEAK_KB=
FLOOD_FETCHES=0
FLOOD_DURING=0

t_flood()
{
	local cfg=$E2E_TMP/syn.cfg dir=$E2E_TMP/flood.d mac i gen n fwd

	fwd=$(cat "/proc/sys/net/ipv4/conf/$XS_IF/forwarding" 2>/dev/null)
	[ "$fwd" = 0 ] ||
		{ WHY="IPv4 forwarding is on for $XS_IF: the flood would be forwarded"; return 77; }
	mac=$(cat "/sys/class/net/$XS_IF/address")
	# 16 blocks sent in turn, each its own source address and source port counter:
	# 16 x 62,500 distinct 4-tuples
	: >"$cfg"
	for i in $(seq 0 15); do
		printf '{ eth(da=%s, type=0x0800), ipv4(sa=%s.%d, da=%s.250, ttl=64, df), tcp(sp=dinc(1024, 65535), dp=80, seq=drnd(), syn, win=64240) }\n' \
			"$mac" "$XS_NET4" $((100 + i)) "$XS_NET4" >>"$cfg"
	done
	mkdir -p "$dir"
	xs_start flood "$XS_IF" -p 80 -o "$dir" --memcap "$FLOOD_MEMCAP" \
		--max-streams "$FLOOD_MAX_STREAMS" --ring-size "$FLOOD_RING" -q || return 1
	FLOOD_IDLE_KB=$(proc_kb "$XS_PID" VmRSS)
	e2e_log "idle RSS ${FLOOD_IDLE_KB} kB with a $FLOOD_RING ring"

	ip netns exec "$XS_NS" trafgen --no-sock-mem --notouch-irq --no-cpu-stats -P 1 \
		-b "${FLOOD_PPS}pps" -o "$XS_IF_PEER" -i "$cfg" -n "$FLOOD_N" \
		>"$E2E_TMP/trafgen.out" 2>&1 &
	gen=$!
	e2e_track "$gen"
	# under way: a tenth of the flood has reached the program
	if ! wait_for 20 eval "[ \"\$(status_counter $XS_IF in matched)\" -ge $((FLOOD_N / 10)) ] 2>/dev/null"; then
		WHY="the flood did not reach the XDP program: $(tail -n 2 "$E2E_TMP/trafgen.out" | tr '\n' ' ')"
		return 1
	fi
	# downloads through the flood, as long as it lasts (at least one, at most 10)
	mkdir -p "$E2E_TMP/got-flood"
	for i in $(seq 10); do
		"${CURL[@]}" -o "$E2E_TMP/got-flood/$i" "http://$XS_SRV4/f_1048576" \
			2>"$E2E_TMP/got-flood/$i.err" ||
			{ WHY="curl through the flood failed: $(head -c 200 "$E2E_TMP/got-flood/$i.err")"; return 1; }
		FLOOD_FETCHES=$i
		kill -0 "$gen" 2>/dev/null || break
		FLOOD_DURING=$i
		kill -0 "$XS_PID" 2>/dev/null || { WHY="xdp-sniff died during the flood"; return 1; }
	done
	wait "$gen" || { WHY="trafgen failed: $(tail -n 3 "$E2E_TMP/trafgen.out" | tr '\n' ' ')"; return 1; }
	kill -0 "$XS_PID" 2>/dev/null || { WHY="xdp-sniff died during the flood"; return 1; }
	# caught up: every matched packet delivered or counted as a ring drop
	wait_for 20 caught_up "$XS_IF" "$FLOOD_N" ||
		e2e_log "not caught up after 20 s: $(status_counter "$XS_IF" in delivered) delivered"
	FLOOD_PEAK_KB=$(proc_kb "$XS_PID" VmHWM)
	xs_stop INT || { WHY="no exit within 30 s of SIGINT after the flood"; return 1; }
	FLOOD_RAN=1
	e2e_log "peak RSS ${FLOOD_PEAK_KB} kB; $FLOOD_FETCHES downloads, $FLOOD_DURING while the flood ran"
	e2e_log "$(grep -E '^(streams:|[0-9]+ packets (matched|dropped))' "$E2E_TMP/flood.err" | tr '\n' '|')"
	[ "$XS_RC" -eq 0 ] ||
		{ WHY="exit status $XS_RC after SIGINT: $(tail -n 3 "$E2E_TMP/flood.err" | tr '\n' '|')"; return 1; }
	[ "$FLOOD_DURING" -ge 1 ] ||
		{ WHY="the flood was over before the first download ended (too fast to test)"; return 1; }
}

t_flood_evictions()
{
	local line ev

	[ "$FLOOD_RAN" = 1 ] || { WHY="the flood did not run"; return 77; }
	line=$(grep '^streams:' "$E2E_TMP/flood.err" | tail -n 1)
	ev=$(sed -n 's/.* \([0-9]*\) evicted.*/\1/p' <<<"$line")
	[ -n "$ev" ] || { WHY="no 'N evicted' on the streams: line: '$line'"; return 1; }
	# every SYN that got through opened a stream; past --max-streams each one evicted one
	[ "$ev" -gt 0 ] || { WHY="0 evicted after $FLOOD_N SYNs with --max-streams $FLOOD_MAX_STREAMS"; return 1; }
}

t_flood_rss()
{
	local bound_kb idle_max_kb

	[ "$FLOOD_RAN" = 1 ] || { WHY="the flood did not run"; return 77; }
	# AddressSanitizer's shadow memory is not what SECURITY.md documents
	if grep -qa __asan_init "$XS"; then
		WHY="an AddressSanitizer build (peak RSS ${FLOOD_PEAK_KB} kB)"
		return 77
	fi
	idle_max_kb=$(((STRESS_BASE + 2 * FLOOD_RING_B) / 1024))
	bound_kb=$(((FLOOD_MEMCAP_B + STRESS_BASE + 2 * FLOOD_RING_B + STRESS_PER_STREAM * FLOOD_MAX_STREAMS) / 1024))
	[ -n "$FLOOD_IDLE_KB" ] && [ "$FLOOD_IDLE_KB" -le "$idle_max_kb" ] ||
		{ WHY="idle RSS ${FLOOD_IDLE_KB} kB is over the documented $idle_max_kb kB"; return 1; }
	[ -n "$FLOOD_PEAK_KB" ] && [ "$FLOOD_PEAK_KB" -le "$bound_kb" ] ||
		{ WHY="peak RSS ${FLOOD_PEAK_KB} kB is over memcap + overhead, $bound_kb kB"; return 1; }
}

t_flood_http()
{
	[ "$FLOOD_RAN" = 1 ] || { WHY="the flood did not run"; return 77; }
	WHY=$(check_responses "$E2E_TMP/flood.d" "$XS_SRV4" 80 "$WWW/80/f_1048576" "$FLOOD_FETCHES")
}

# ---------------------------------------------------------------- ring overflow
t_ring_overflow()
{
	local dir=$E2E_TMP/ring.d err=$E2E_TMP/ring.err loop in out full sin sout

	mkdir -p "$dir"
	xs_start ring "$XS_IF" -p 80 -o "$dir" --ring-size 1M -q || return 1
	(while "${CURL[@]}" -o /dev/null "http://$XS_SRV4/f_1048576" 2>/dev/null; do :; done) &
	loop=$!
	e2e_track "$loop"
	wait_for 10 eval "[ \"\$(status_counter $XS_IF in delivered)\" -ge 1000 ] 2>/dev/null" ||
		{ WHY="the download loop does not reach the capture"; return 1; }
	kill -STOP "$XS_PID"
	sleep 2
	sin=$(status_counter "$XS_IF" in ring_full)
	sout=$(status_counter "$XS_IF" out ring_full)
	kill -CONT "$XS_PID"
	e2e_stop_pid "$loop"
	e2e_log "while stopped: ring_full ${sin:-?} in, ${sout:-?} out"
	[ "${sin:-0}" -gt 0 ] || [ "${sout:-0}" -gt 0 ] ||
		{ WHY="status showed no ring_full while the capture was stopped (in '$sin', out '$sout')"; return 1; }
	kill -0 "$XS_PID" 2>/dev/null || { WHY="xdp-sniff died after SIGCONT"; return 1; }
	# the backlog is drained once the ring-full count stops moving
	local prev=-1 now
	for _ in $(seq 1 50); do
		now=$(( $(status_counter "$XS_IF" in ring_full) + $(status_counter "$XS_IF" out ring_full) ))
		[ "$now" = "$prev" ] && break
		prev=$now
		sleep 0.2
	done
	# capture resumes: a download after SIGCONT is captured whole (one that fits the 1 MiB
	# ring: a larger burst at veth speed may overflow it, as it should)
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-ring" 80/after_131072 || return 1
	xs_stop INT || { WHY="no exit within 30 s of SIGINT"; return 1; }
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC: $(tail -n 3 "$err" | tr '\n' '|')"; return 1; }
	full=$(xs_ring_full "$err")
	in=$(sed -n 's/.*dropped because the ring was full (\([0-9]*\) in, \([0-9]*\) out).*/\1/p' "$err" | tail -n 1)
	out=$(sed -n 's/.*dropped because the ring was full (\([0-9]*\) in, \([0-9]*\) out).*/\2/p' "$err" | tail -n 1)
	e2e_log "exit summary: $full dropped because the ring was full ($in in, $out out)"
	[ -n "$full" ] && [ -n "$in" ] && [ -n "$out" ] ||
		{ WHY="no 'N packets dropped because the ring was full (N in, M out)' line"; return 1; }
	[ "$in" -gt 0 ] && [ "$out" -gt 0 ] ||
		{ WHY="ring drops not counted in both directions: $in in, $out out"; return 1; }
	[ $((in + out)) -eq "$full" ] || { WHY="$in in + $out out is not $full"; return 1; }
	[ "$in" -ge "${sin:-0}" ] && [ "$out" -ge "${sout:-0}" ] ||
		{ WHY="fewer drops at exit ($in in, $out out) than status showed ($sin, $sout)"; return 1; }
	WHY=$(check_flows "$dir" "$XS_SRV4" 80 "$WWW/80" after_131072) ||
		{ WHY="the download after SIGCONT: $WHY"; return 1; }
}

# ---------------------------------------------------------------- disk full
t_disk_full()
{
	local mnt=$E2E_TMP/full err=$E2E_TMP/full.err other n delivered

	mkdir -p "$mnt"
	mount -t tmpfs -o size=2M,mode=0755 tmpfs "$mnt" ||
		{ WHY="cannot mount a tmpfs on $mnt"; return 77; }
	MOUNTS+=("$mnt")
	xs_start full "$XS_IF" -p 80 -o "$mnt" -w "$E2E_TMP/full.pcap" -j -q || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-full" 80/f_5242880 || return 1
	xs_stop INT || { WHY="no exit within 30 s of SIGINT"; return 1; }
	umount "$mnt"
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC: $(tail -n 3 "$err" | tr '\n' '|')"; return 1; }
	# stderr: the exit counters and exactly one line about -o
	other=$(grep -vE '^([0-9]+ |streams: |bytes: )' "$err")
	n=$(grep -c . <<<"$other")
	[ "$n" -eq 1 ] || { WHY="$n lines besides the counters, want one: $(tr '\n' '|' <<<"$other" | head -c 300)"; return 1; }
	grep -q 'No space left on device' <<<"$other" && grep -qF "$mnt/198.018." <<<"$other" ||
		{ WHY="the line does not name the file and ENOSPC: $other"; return 1; }
	# -w goes on: every delivered packet is in the pcap
	delivered=$(sed -n 's/.* matched the filter, \([0-9]*\) delivered.*/\1/p' "$err" | tail -n 1)
	n=$(pcap_count "$E2E_TMP/full.pcap") || { WHY="tcpdump cannot read the -w file"; return 1; }
	[ -n "$delivered" ] && [ "$n" -eq "$delivered" ] ||
		{ WHY="the pcap holds $n packets, $delivered were delivered"; return 1; }
	# -j goes on: the stream's JSON line carries the whole response
	WHY=$(python3 - "$E2E_TMP/full.out" "$WWW/80/f_5242880" <<'EOF'
import base64, json, sys
want = open(sys.argv[2], 'rb').read()
objs = [json.loads(l) for l in open(sys.argv[1], 'rb') if l.strip()]
hit = [o for o in objs if b'GET /f_5242880 ' in base64.b64decode(o.get('inbound', ''))]
if not hit:
    print(f'no -j line with GET /f_5242880 among {len(objs)}')
    sys.exit(1)
body = base64.b64decode(hit[0]['outbound']).partition(b'\r\n\r\n')[2]
if body != want:
    print(f'the -j response body is {len(body)} bytes, differs from the file')
    sys.exit(1)
EOF
) || return 1
}

if ! setup; then
	WHY="setting up the namespace and server failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi

run_test syn_flood_alive_exit0 t_flood
run_test syn_flood_evictions_counted t_flood_evictions
run_test syn_flood_rss_under_memcap t_flood_rss
run_test syn_flood_http_byte_exact t_flood_http
run_test ring_overflow_counted_and_resumes t_ring_overflow
run_test disk_full_one_line_others_go_on t_disk_full
e2e_finish
