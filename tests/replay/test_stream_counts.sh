#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The exit summary's stream counts agree with the -j records of every shared capture: as
# many "open" as records whose state is open (the streams the end of the capture found
# open), and so for closed, reset and timed out. Gaps that --snaplen makes are labelled
# "cut", as README's table says, not "not_seen".
. "$(dirname "$0")/lib.sh"

for f in "$PCAPS"/*.pcap "$PCAPS"/*.pcapng; do
	[ -f "$f" ] || continue
	n=$(basename "$f")
	if ! "$XS" replay "$f" -j >"$tmp/j" 2>"$tmp/e"; then
		# the corrupt ones are test_corrupt.sh's
		grep -q '^streams:' "$tmp/e" || continue
	fi
	got=$(sed -n 's/^streams: [0-9]* opened, \([0-9]*\) closed, \([0-9]*\) reset, \([0-9]*\) timed out, .* \([0-9]*\) open, .*/closed=\1 reset=\2 timeout=\3 open=\4/p' "$tmp/e")
	want=$(python3 -c '
import json, sys
c = {"closed": 0, "reset": 0, "timeout": 0, "open": 0}
for line in open(sys.argv[1]):
    s = json.loads(line)["state"]
    if s in c:
        c[s] += 1
print(" ".join("%s=%d" % kv for kv in c.items()))' "$tmp/j")
	[ "$got" = "$want" ] && ok "counts $n ($want)" || bad "counts $n" "summary says '$got', the records '$want'"
done

# --snaplen 128 on captures with payload: every gap it makes is cut
for n in pcapplusplus__one_http_stream_rst.pcap zeek__http_pipelined-requests.pcap chrissanders__http_google.pcapng; do
	[ -f "$PCAPS/$n" ] || { skp "snaplen $n" "not in $PCAPS"; continue; }
	"$XS" replay "$PCAPS/$n" --snaplen 128 -j >"$tmp/j" 2>/dev/null
	causes=$(python3 -c '
import json, sys
c = set()
for line in open(sys.argv[1]):
    o = json.loads(line)
    for d in ("inbound_info", "outbound_info"):
        c |= {g[2] for g in o[d]["gaps"]}
print(" ".join(sorted(c)))' "$tmp/j")
	[ "$causes" = cut ] && ok "snaplen $n: gaps are cut" || bad "snaplen $n" "gap causes '$causes', want cut"
done
finish
