#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# xdp-sniff load lo: every packet once, as tcpdump -i lo shows it.
#
# On a loopback interface each packet leaves through the egress hook and comes
# back through the ingress one: a capture on both used to carry every packet
# twice (-w, per-packet lines) and reassembly counted every byte as
# retransmitted. The test runs inside a fresh namespace (its own lo and bpffs):
# an HTTP server on 127.0.0.1 at a random high port, tcpdump -i lo and xdp-sniff
# load lo side by side, one curl. The pcap must hold what tcpdump saw, each
# packet once, the JSON record no retransmitted byte, and status must say that
# only ingress is attached and why.
#
# Usage: tests/e2e/test_loopback.sh   (as root; XDP_SNIFF=path overrides the binary,
#        E2E_KEEP=1 keeps the temp directory)

. "$(dirname "$0")/lib.sh"

e2e_require tcpdump curl python3 ss

PORT=$((20000 + RANDOM % 20000))

# Runs inside the namespace: server, tcpdump, xdp-sniff, one fetch; results in $1.
inner()
{
	cat <<'EOF'
set -u
XS=$1 D=$2 PORT=$3
mount -t bpf bpf /sys/fs/bpf || exit 10
ip link set lo up
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$D/www" >"$D/http.log" 2>&1 &
SRV=$!
ready() { ss -Hltn "sport = :$PORT" | grep -q .; }
for _ in $(seq 200); do ready && break; sleep 0.05; done
ready || exit 11
tcpdump -i lo -nn -U --immediate-mode -w "$D/tcpdump.pcap" "tcp port $PORT" 2>"$D/tcpdump.err" &
TD=$!
for _ in $(seq 200); do grep -q 'listening on' "$D/tcpdump.err" && break; sleep 0.05; done
"$XS" load lo -p "$PORT" -w "$D/xs.pcap" -j >"$D/xs.json" 2>"$D/xs.err" &
XP=$!
for _ in $(seq 300); do "$XS" status lo 2>/dev/null | grep -q "pid $XP (running)" && break; sleep 0.05; done
"$XS" status lo >"$D/status.txt" 2>&1
curl -sS --noproxy '*' --max-time 30 -o "$D/got" "http://127.0.0.1:$PORT/f_20000" || exit 12
# the last ACK of the close may trail curl's exit: wait until tcpdump's count settles
last=-1
for _ in $(seq 50); do
	n=$(tcpdump -nr "$D/tcpdump.pcap" 2>/dev/null | wc -l)
	[ "$n" = "$last" ] && break
	last=$n
	sleep 0.2
done
kill -INT "$XP"; wait "$XP"; echo $? >"$D/xs.rc"
kill -INT "$TD"; wait "$TD"
kill "$SRV"; wait "$SRV" 2>/dev/null
exit 0
EOF
}

t_loopback_once()
{
	local d=$E2E_TMP/lo rc want got dups retr

	mkdir -p "$d/www"
	make_files "$d/www" 20000
	inner >"$E2E_TMP/inner.sh"
	ip netns exec "$XS_NS" bash "$E2E_TMP/inner.sh" "$XS" "$d" "$PORT" 2>"$E2E_TMP/inner.err"
	rc=$?
	[ "$rc" -eq 0 ] || { WHY="namespace run failed ($rc): $(tail -n 3 "$E2E_TMP/inner.err" | tr '\n' ' ')"; return 1; }
	[ "$(cat "$d/xs.rc")" = 0 ] ||
		{ WHY="load lo exited $(cat "$d/xs.rc"): $(tail -n 3 "$d/xs.err" | tr '\n' ' ')"; return 1; }
	cmp -s "$d/got" "$d/www/f_20000" || { WHY="curl did not get the file"; return 1; }
	want=$(pcap_count "$d/tcpdump.pcap") || { WHY="tcpdump's pcap is unreadable"; return 1; }
	got=$(pcap_count "$d/xs.pcap") || { WHY="-w pcap is unreadable"; return 1; }
	[ "$want" -ge 8 ] || { WHY="tcpdump -i lo saw only $want packets"; return 1; }
	[ "$got" -eq "$want" ] ||
		{ WHY="-w holds $got packets, tcpdump -i lo saw $want (each packet once)"; return 1; }
	# no packet twice: the same segment (addresses, flags, seq, ack) never appears again
	dups=$(tcpdump -nn -t -r "$d/xs.pcap" 2>/dev/null | sort | uniq -d | wc -l)
	[ "$dups" -eq 0 ] || { WHY="-w holds $dups packets twice"; return 1; }
	retr=$(python3 -c '
import json, sys
port = int(sys.argv[2])
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
recs = [r for r in recs if r["destination_port"] == port and r["inbound_info"]["bytes"] > 0]
if len(recs) != 1:
    print("records: %d" % len(recs)); sys.exit()
r = recs[0]
print(r["inbound_info"]["retrans_bytes"] + r["outbound_info"]["retrans_bytes"])
' "$d/xs.json" "$PORT")
	[ "$retr" = 0 ] || { WHY="the stream's JSON says retransmitted bytes: $retr"; return 1; }
	grep -q 'retransmitted' "$d/xs.err" && ! grep -q ' 0 B retransmitted' "$d/xs.err" &&
		{ WHY="the summary counts retransmitted bytes: $(grep retransmitted "$d/xs.err")"; return 1; }
	grep -q 'ingress: XDP.*attached' "$d/status.txt" ||
		{ WHY="status does not show XDP ingress attached: $(tr '\n' '|' <"$d/status.txt")"; return 1; }
	grep -q 'egress: tc clsact' "$d/status.txt" &&
		{ WHY="status shows tc egress attached on lo: $(tr '\n' '|' <"$d/status.txt")"; return 1; }
	grep -q 'loopback' "$d/status.txt" ||
		{ WHY="status does not say why egress is off on lo: $(tr '\n' '|' <"$d/status.txt")"; return 1; }
	return 0
}

e2e_netns_up || e2e_skip_all "cannot build the namespace"
run_test loopback_each_packet_once t_loopback_once
e2e_finish
