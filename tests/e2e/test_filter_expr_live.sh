#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Filter expressions on a live interface (issue 16):
#  - the same traffic (UDP, ICMP and TCP, both directions of a veth) captured by xdp-sniff
#    with an expression and by tcpdump -i with the same expression: the same frames, byte
#    for byte (compared as multisets: two hooks, two orders);
#  - inbound/outbound: evaluated by the hook that sees the packet, as tcpdump -i does;
#  - VLAN-tagged frames (802.1Q and QinQ, written onto the veth from the namespace with
#    AF_PACKET): XDP reads the tags in the frame as libpcap's vlan expects, the same frames
#    as tcpdump -i;
#  - `filter IFACE expr 'EXPR'` replaces the expression of the running capture, `status` and
#    `filter list` show it, `expr ''` removes it (back to TCP only); a bad one is refused
#    with exit 2 and the expression in force stays.

. "$(dirname "$0")/lib.sh"

e2e_require tcpdump python3

# traffic: 3 ICMP echo requests (and their replies), 3 UDP datagrams to port 5353 and one TCP connection attempt to port 9
traffic()
{
	python3 - "$XS_SRV4" <<'EOF'
import socket, struct, sys, time
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
# ICMP echo requests on a raw socket (no ping needed); the namespace replies
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
r.settimeout(1)
for i in range(3):
    body = struct.pack("!HH", 0x5853, i) + b"xs-expr-ping"
    hdr = struct.pack("!BBH", 8, 0, 0)
    pkt = struct.pack("!BBH", 8, 0, csum(hdr + body)) + body
    r.sendto(pkt, (sys.argv[1], 0))
    try:
        r.recv(2048)
    except OSError:
        pass
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3):
    u.sendto(b"xs-expr-%d" % i, (sys.argv[1], 5353))
    time.sleep(0.05)
t = socket.socket()
t.settimeout(1)
try:
    t.connect((sys.argv[1], 9))
except OSError:
    pass
EOF
	sleep 0.3
}

# frame_set PCAP: one line per frame, its bytes in hex, sorted
frame_set()
{
	tcpdump -r "$1" -nn -xx -q 2>/dev/null | python3 -c '
import sys, re
frames, cur = [], []
for line in sys.stdin:
    if line.startswith("\t0x"):
        cur.append("".join(line.split(":", 1)[1].split()))
    else:
        if cur: frames.append("".join(cur))
        cur = []
if cur: frames.append("".join(cur))
print("\n".join(sorted(frames)))'
}

# pcap_before PCAP T: PCAP (classic pcap, as tcpdump -w writes it) keeps only the frames
# stamped before T (seconds since the epoch)
pcap_before()
{
	python3 - "$1" "$2" <<'EOF'
import struct, sys
path, t = sys.argv[1], float(sys.argv[2])
data = open(path, "rb").read()
magic = struct.unpack("<I", data[:4])[0]
e = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
div = 1e9 if struct.unpack(e + "I", data[:4])[0] == 0xa1b23c4d else 1e6
out, off = [data[:24]], 24
while off + 16 <= len(data):
    sec, frac, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
    rec = data[off:off + 16 + incl]
    off += 16 + incl
    if sec + frac / div < t:
        out.append(rec)
open(path, "wb").write(b"".join(out))
EOF
}

# vs_tcpdump NAME EXPR [TCPDUMP_EXPR]: xdp-sniff with EXPR and tcpdump -i with TCPDUMP_EXPR
# (default the same) on XS_IF, the same traffic
vs_tcpdump()
{
	local name=$1 expr=$2 tdexpr=${3:-$2} n

	tcpdump -i "$XS_IF" --immediate-mode -nn -U -w "$E2E_TMP/$name.td.pcap" "$tdexpr" 2>"$E2E_TMP/$name.td.err" &
	local td=$!
	E2E_PIDS+=("$td")
	wait_for 10 grep -q "listening on" "$E2E_TMP/$name.td.err" ||
		{ WHY="tcpdump did not start: $(cat "$E2E_TMP/$name.td.err")"; return 1; }
	xs_start "$name" "$XS_IF" -w "$E2E_TMP/$name.xs.pcap" "$expr" || return 1
	traffic
	local stopped
	stopped=$(date +%s.%N)
	xs_stop INT || { WHY="xdp-sniff did not stop"; return 1; }
	# what tcpdump's ring holds reaches its file before it stops
	sleep 1
	kill -INT "$td"
	wait "$td"
	# only what tcpdump saw before xdp-sniff was told to stop: a frame that came while it
	# detached or in tcpdump's extra second (the namespace's ARP probe of its neighbour
	# entry, about 0.4 s after the traffic) is no difference
	pcap_before "$E2E_TMP/$name.td.pcap" "$stopped" || { WHY="cannot cut tcpdump's pcap"; return 1; }
	frame_set "$E2E_TMP/$name.xs.pcap" >"$E2E_TMP/$name.xs.txt"
	frame_set "$E2E_TMP/$name.td.pcap" >"$E2E_TMP/$name.td.txt"
	n=$(grep -c . "$E2E_TMP/$name.td.txt")
	[ "$n" -gt 0 ] || { WHY="tcpdump captured nothing for '$expr'"; return 1; }
	cmp -s "$E2E_TMP/$name.xs.txt" "$E2E_TMP/$name.td.txt" ||
		{ WHY="'$expr': xdp-sniff $(grep -c . "$E2E_TMP/$name.xs.txt") frames, tcpdump $n, not the same: $(diff "$E2E_TMP/$name.xs.txt" "$E2E_TMP/$name.td.txt" | head -c 300)"; return 1; }
	e2e_log "'$expr': $n frames, the same as tcpdump -i '$tdexpr'"
}

t_both_ways() { vs_tcpdump both "host $XS_SRV4 and (udp or icmp or tcp)"; }
t_udp_only() { vs_tcpdump udp "udp and host $XS_SRV4"; }
# inbound/outbound against what is known of the traffic: what the namespace sends comes in,
# what is sent to it goes out. (tcpdump -i's own 'inbound and host ...' missed the first echo
# reply of every run here, libpcap 1.10.3 on a veth, where 'host ...' alone has it.)
t_inbound() { vs_tcpdump inbound "inbound and host $XS_SRV4" "src host $XS_SRV4"; }
t_outbound() { vs_tcpdump outbound "outbound and (icmp or udp)" "dst host $XS_SRV4 and (icmp or udp)"; }

# vlan_ingress NAME EXPR: the frames of the tagged test captures sent from the namespace;
# xdp-sniff (ingress) and tcpdump -i see the same ones
t_vlan()
{
	local expr=$1 caps=() c n

	for c in zeek__http-vlan-0.pcap tcpdump__802.1ad_QinQ.pcap; do
		[ -f "$E2E_ROOT/../shared/testdata/pcaps/$c" ] && caps+=("$E2E_ROOT/../shared/testdata/pcaps/$c")
	done
	[ ${#caps[@]} -gt 0 ] || { WHY="no tagged test captures"; return 77; }
	tcpdump -i "$XS_IF" --immediate-mode -nn -U -w "$E2E_TMP/vlan.td.pcap" "$expr" 2>"$E2E_TMP/vlan.td.err" &
	local td=$!
	E2E_PIDS+=("$td")
	wait_for 10 grep -q "listening on" "$E2E_TMP/vlan.td.err" ||
		{ WHY="tcpdump did not start"; return 1; }
	xs_start vlan "$XS_IF" --direction in -w "$E2E_TMP/vlan.xs.pcap" "$expr" || return 1
	ip netns exec "$XS_NS" python3 "$E2E_ROOT/tests/e2e/send_frames.py" "$XS_IF_PEER" \
		"${caps[@]}" >"$E2E_TMP/vlan.send" 2>&1 || { WHY="send_frames.py failed"; return 1; }
	sleep 0.5
	xs_stop INT || { WHY="xdp-sniff did not stop"; return 1; }
	# what tcpdump's ring holds reaches its file before it stops
	sleep 1
	kill -INT "$td"
	wait "$td"
	frame_set "$E2E_TMP/vlan.xs.pcap" >"$E2E_TMP/vlan.xs.txt"
	frame_set "$E2E_TMP/vlan.td.pcap" >"$E2E_TMP/vlan.td.txt"
	n=$(grep -c . "$E2E_TMP/vlan.td.txt")
	[ "$n" -gt 0 ] || { WHY="tcpdump captured nothing for '$expr'"; return 1; }
	cmp -s "$E2E_TMP/vlan.xs.txt" "$E2E_TMP/vlan.td.txt" ||
		{ WHY="'$expr': xdp-sniff $(grep -c . "$E2E_TMP/vlan.xs.txt") frames, tcpdump $n ($(cat "$E2E_TMP/vlan.send"))"; return 1; }
	e2e_log "'$expr': $n tagged frames, the same as tcpdump -i"
}

t_replace()
{
	local f=$E2E_TMP/replace.pcap out rc

	xs_start replace "$XS_IF" -w "$f" "udp and host $XS_SRV4" || return 1
	"$XS" filter "$XS_IF" list | grep -qF "expr 'udp and host $XS_SRV4'" ||
		{ WHY="filter list: $("$XS" filter "$XS_IF" list)"; return 1; }
	traffic
	"$XS" filter "$XS_IF" expr icmp >/dev/null 2>"$E2E_TMP/replace.err" ||
		{ WHY="filter expr icmp failed: $(cat "$E2E_TMP/replace.err")"; return 1; }
	"$XS" status "$XS_IF" | grep -qF "expr 'icmp'" ||
		{ WHY="status does not show the expression: $("$XS" status "$XS_IF" | grep filter)"; return 1; }
	out=$("$XS" filter "$XS_IF" expr 'udp and' 2>&1)
	rc=$?
	[ $rc -eq 2 ] && grep -q "syntax error" <<<"$out" ||
		{ WHY="a bad expression exited $rc: $out"; return 1; }
	"$XS" filter "$XS_IF" list | grep -qF "expr 'icmp'" ||
		{ WHY="a refused expression changed the filter: $("$XS" filter "$XS_IF" list)"; return 1; }
	traffic
	"$XS" filter "$XS_IF" expr '' >/dev/null 2>&1 || { WHY="filter expr '' failed"; return 1; }
	"$XS" filter "$XS_IF" list | grep -q "all tcp$" ||
		{ WHY="after expr '': $("$XS" filter "$XS_IF" list)"; return 1; }
	traffic
	xs_stop INT || { WHY="xdp-sniff did not stop"; return 1; }
	# phase 1: 3 UDP; phase 2: ICMP only: 3 echo requests, 3 replies and up to 3 port
	# unreachable for the UDP datagrams (the kernel rate-limits those per peer, and the tests
	# before this one sent the same datagrams); phase 3: TCP only (SYN, RST)
	[ "$(pcap_count "$f" udp)" -eq 3 ] || { WHY="$(pcap_count "$f" udp) UDP frames, want 3"; return 1; }
	[ "$(pcap_count "$f" 'icmp[icmptype] == icmp-echo')" -eq 3 ] &&
		[ "$(pcap_count "$f" 'icmp[icmptype] == icmp-echoreply')" -eq 3 ] ||
		{ WHY="$(pcap_count "$f" icmp) ICMP frames, want 3 echo requests and 3 replies among them"; return 1; }
	[ "$(pcap_count "$f" icmp)" -le 9 ] || { WHY="$(pcap_count "$f" icmp) ICMP frames, at most 9"; return 1; }
	[ "$(pcap_count "$f" tcp)" -ge 2 ] || { WHY="$(pcap_count "$f" tcp) TCP frames after expr ''"; return 1; }
	[ "$(pcap_count "$f" 'not (udp or icmp or tcp)')" -eq 0 ] ||
		{ WHY="frames outside every phase's filter"; return 1; }
}

if ! e2e_netns_up; then
	WHY="setting up the namespace failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi
run_test both_directions_vs_tcpdump t_both_ways
run_test udp_vs_tcpdump t_udp_only
run_test inbound_vs_tcpdump t_inbound
run_test outbound_vs_tcpdump t_outbound
run_test vlan_vs_tcpdump t_vlan "vlan and (tcp or arp)"
run_test vlan_id_vs_tcpdump t_vlan "vlan 200 or vlan 6"
run_test filter_expr_replace t_replace
e2e_finish
