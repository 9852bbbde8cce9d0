#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Identity and TLS metadata on replayed captures, against tshark 4.0:
#  - community_id: on every stream of every shared capture (-j, host build), the Community ID
#    tshark gives its frames (--enable-protocol communityid), with the default seed and with
#    --community-id-seed 4242 (tshark -o communityid.seed:4242); --http records carry the
#    community_id of their stream; a bad seed is a usage error (exit 2);
set -u
. "$(dirname "$0")/lib.sh"

[ -x "$XS" ] || { skp tls "$XS is not built (run make)"; finish; }
[ -d "$PCAPS" ] || { skp tls "no $PCAPS (the shared test captures are not here)"; finish; }
command -v tshark >/dev/null || { skp tls "tshark is not installed (scripts/deps.sh)"; finish; }

# 1. community_id on every stream of every capture, two seeds
for f in ${CID_PCAPS:-"$PCAPS"/*.pcap "$PCAPS"/*.pcapng}; do
	n=$(basename "$f")
	for seed in 0 4242; do
		extra=()
		[ $seed = 0 ] || extra=(--community-id-seed $seed)
		if ! "$XS" replay "$f" --no-kernel -q -j "${extra[@]}" >"$tmp/$n.$seed.json" 2>"$tmp/$n.err"; then
			bad "community-id $n seed $seed" "replay failed: $(tail -1 "$tmp/$n.err")"
			continue
		fi
		if out=$(python3 tests/replay/community_id_tshark.py "$f" "$tmp/$n.$seed.json" $seed 2>&1); then
			ok "community-id $n seed $seed ($out)"
		else
			bad "community-id $n seed $seed" "$(echo "$out" | tr '\n' ' ')"
		fi
	done
done

# --http records: the community_id of the -j record of their stream
for n in zeek__http_get.pcap pcapplusplus__three_http_streams.pcap chrissanders__http_ip4and6.pcapng; do
	"$XS" replay "$PCAPS/$n" --no-kernel -q -j --http-log "$tmp/$n.http" --community-id-seed 7 \
		>"$tmp/$n.j" 2>"$tmp/$n.err"
	if out=$(python3 - "$tmp/$n.j" "$tmp/$n.http" <<'PY' 2>&1
import json, sys
ids = {o['id']: o['community_id'] for o in map(json.loads, open(sys.argv[1]))}
ex = [json.loads(l) for l in open(sys.argv[2])]
assert ex, 'no HTTP records'
for e in ex:
    assert e['community_id'] == ids[e['stream']], f"stream {e['stream']}: {e['community_id']} != {ids[e['stream']]}"
print(len(ex))
PY
	); then
		ok "community-id http $n ($out exchanges)"
	else
		bad "community-id http $n" "$(echo "$out" | tail -1)"
	fi
done

for arg in 65536 -1 x 1K ""; do
	"$XS" replay "$PCAPS/zeek__http_get.pcap" --no-kernel -q -j --community-id-seed "$arg" \
		>/dev/null 2>"$tmp/usage.err"
	rc=$?
	if [ $rc -eq 2 ] && grep -q -- "--community-id-seed" "$tmp/usage.err"; then
		ok "community-id-seed '$arg' is a usage error"
	else
		bad "community-id-seed '$arg' is a usage error" "exit $rc: $(cat "$tmp/usage.err")"
	fi
done

finish
