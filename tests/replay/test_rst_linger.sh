#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Data after a RST (README "Data after a RST"): a crafted connection whose server resets it
# while both sides go on sending. xdp-sniff keeps what comes within the linger
# (FLOW_RST_LINGER_NS, 5 s) with the state still reset, counts it per direction
# (after_reset_bytes) and in the exit summary, and ends the stream after it. tshark's
# follow keeps every byte of the connection: within the linger both must agree byte for
# byte; what comes later only tshark shows. The shared captures with a RST keep their state.
. "$(dirname "$0")/lib.sh"

python3 - "$tmp" <<'PY' || { bad generate "writing the captures failed"; finish; }
import sys
sys.path.insert(0, 'tests/replay')
from make_captures import tcp4, pcap_bytes, write

c, s = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
cp, sp, ci, si = 40001, 80, 1000, 9000
req, more, reply, late = b'GET / HTTP/1.0\r\n\r\n', b'more after the RST', b'server after it', b'too late'
# (time in s, packet)
pk = [(0, tcp4(c, s, cp, sp, ci, 0, 0x02, b'')),
      (0, tcp4(s, c, sp, cp, si, ci + 1, 0x12, b'')),
      (0, tcp4(c, s, cp, sp, ci + 1, si + 1, 0x10, b'')),
      (1, tcp4(c, s, cp, sp, ci + 1, si + 1, 0x18, req)),
      (2, tcp4(s, c, sp, cp, si + 1, ci + 1 + len(req), 0x14, b'')),
      (3, tcp4(c, s, cp, sp, ci + 1 + len(req), si + 1, 0x18, more)),
      (4, tcp4(s, c, sp, cp, si + 1, ci + 1 + len(req) + len(more), 0x18, reply))]
after = (9, tcp4(c, s, cp, sp, ci + 1 + len(req) + len(more), si + 1 + len(reply), 0x18, late))
eth = b'\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00'
def recs(pkts):
    return [(1700000000 + t, i, len(eth) + len(p), len(eth) + len(p), eth + p)
            for i, (t, p) in enumerate(pkts)]
write(sys.argv[1], 'linger.pcap', pcap_bytes(recs(pk), 1))
write(sys.argv[1], 'past-linger.pcap', pcap_bytes(recs(pk + [after]), 1))
PY

# field FILE EXPR: a value of the one JSON stream record
field() { python3 -c 'import json,sys; o=json.loads(open(sys.argv[1]).readline()); print(eval(sys.argv[2]))' "$1" "$2"; }
b64() { printf '%s' "$1" | base64 -w0; }

for n in linger past-linger; do
	if ! "$XS" replay "$tmp/$n.pcap" -j >"$tmp/$n.json" 2>"$tmp/$n.err"; then
		bad "replay $n" "exit $?: $(tail -1 "$tmp/$n.err")"
		continue
	fi
	st=$(field "$tmp/$n.json" 'o["state"]')
	[ "$st" = reset ] && ok "$n state reset" || bad "$n state" "\"$st\", want reset"
	in=$(field "$tmp/$n.json" 'o["inbound"]')
	out=$(field "$tmp/$n.json" 'o["outbound"]')
	want_in=$(b64 $'GET / HTTP/1.0\r\n\r\nmore after the RST')
	[ "$in" = "$want_in" ] && ok "$n inbound keeps the data after the RST" ||
		bad "$n inbound" "$(printf '%s' "$in" | base64 -d | od -c | head -3 | tr '\n' ' ')"
	[ "$out" = "$(b64 'server after it')" ] && ok "$n outbound keeps the data after the RST" ||
		bad "$n outbound" "$(printf '%s' "$out" | base64 -d)"
	ar=$(field "$tmp/$n.json" '(o["inbound_info"]["after_reset_bytes"], o["outbound_info"]["after_reset_bytes"])')
	[ "$ar" = "(18, 15)" ] && ok "$n after_reset_bytes per direction" ||
		bad "$n after_reset_bytes" "$ar, want (18, 15)"
	grep -q '^streams: 1 opened, 0 closed, 1 reset, .* 0 open' "$tmp/$n.err" &&
		grep -q '^bytes: 51 B delivered (33 B after a RST)' "$tmp/$n.err" &&
		ok "$n summary counts the stream reset and 33 bytes after it" ||
		bad "$n summary" "$(grep -E '^(streams|bytes):' "$tmp/$n.err" | tr '\n' ' ')"
done
grep -q '^streams: .* 1 reset' "$tmp/past-linger.err" &&
	[ "$(field "$tmp/past-linger.json" 'o["end_ns"]')" = 1700000004000006000 ] &&
	ok "past-linger: the segment 7 s after the RST is not the stream's" ||
	bad "past-linger end" "$(field "$tmp/past-linger.json" 'o["end_ns"]')"

if command -v tshark >/dev/null; then
	# within the linger xdp-sniff and tshark agree on every byte
	if out=$(python3 tests/replay/compare_tshark.py "$XS" "$tmp/linger.pcap" 2>&1); then
		ok "tshark linger.pcap ($(echo "$out" | tail -1 | cut -d: -f2-))"
	else
		bad "tshark linger.pcap" "$(echo "$out" | tr '\n' ' ')"
	fi
	# past it tshark has the late bytes too, and only them more
	t=$(tshark -r "$tmp/past-linger.pcap" -q -z follow,tcp,raw,0 2>/dev/null | sed -n '/^Node 1:/,/^====/p' |
		grep -v '^\(Node\|====\)' | grep -v '^	' | tr -d ' \n')
	want=$(printf 'GET / HTTP/1.0\r\n\r\nmore after the RSTtoo late' | od -An -tx1 | tr -d ' \n')
	[ "$t" = "$want" ] && ok "tshark past-linger.pcap: the client's bytes plus 'too late'" ||
		bad "tshark past-linger.pcap" "tshark's client bytes $t"
else
	skp tshark "tshark is not installed"
fi

# the shared captures that end in a RST: reset, nothing after it
for n in pcapplusplus__one_http_stream_rst.pcap zeek__tcp_syn-then-stuff-then-rst.pcap \
	tcpdump__tcp_rst_data-trunc.pcap; do
	[ -f "$PCAPS/$n" ] || { skp "$n" "not in $PCAPS"; continue; }
	"$XS" replay "$PCAPS/$n" -j >"$tmp/s.json" 2>/dev/null
	v=$(field "$tmp/s.json" '(o["state"], o["inbound_info"]["after_reset_bytes"] + o["outbound_info"]["after_reset_bytes"])')
	[ "$v" = "('reset', 0)" ] && ok "$n reset, 0 bytes after it" || bad "$n" "$v"
done
finish
