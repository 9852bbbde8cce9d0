#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Identity and TLS metadata on replayed captures, against tshark 4.0:
#  - community_id: on every stream of every shared capture (-j, host build), the Community ID
#    tshark gives its frames (--enable-protocol communityid), with the default seed and with
#    --community-id-seed 4242 (tshark -o communityid.seed:4242); --http records carry the
#    community_id of their stream; a bad seed is a usage error (exit 2);
#  - TLS, on every zeek__tls_* capture (--tls, host build): SNI, ALPN offered and selected,
#    selected version, cipher (id and name), ja3/ja3_full, ja3s/ja3s_full, and the subject and
#    issuer of every certificate of both sides equal tshark's fields (tls_tshark.py); the
#    tls objects of -j records are the --tls records' objects; the kernel path (root) gives
#    the same lines; --tls-log writes them to a file; no stream of the other captures is TLS;
#  - JA4 and JA4_r against FoxIO's own output on their test captures, and SSH banners against
#    tshark's ssh.protocol there, when JA4_REPO names a checkout of
#    github.com/FoxIO-LLC/ja4 (pcap/ and python/test/testdata/); skipped otherwise.
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

# 2. TLS against tshark
for f in "$PCAPS"/zeek__tls_*.pcap; do
	n=$(basename "$f")
	if ! "$XS" replay "$f" --no-kernel -q --tls-log "$tmp/$n.tls" -j >"$tmp/$n.j" 2>"$tmp/$n.err"; then
		bad "tls $n" "replay failed: $(tail -1 "$tmp/$n.err")"
		continue
	fi
	if out=$(python3 tests/replay/tls_tshark.py "$f" "$tmp/$n.tls" 2>&1); then
		ok "tls-vs-tshark $n ($out)"
	else
		bad "tls-vs-tshark $n" "$(echo "$out" | head -5 | tr '\n' ' ')"
	fi
	if python3 - "$tmp/$n.j" "$tmp/$n.tls" <<'PY'
import json, sys
j = {o['id']: o for o in map(json.loads, open(sys.argv[1]))}
t = [json.loads(l) for l in open(sys.argv[2])]
assert t and all(j[r['stream']]['tls'] == r['tls'] for r in t)
assert all(j[r['stream']]['community_id'] == r['community_id'] for r in t)
assert sum(1 for o in j.values() if o['tls'] is not None) == len(t)
PY
	then
		ok "tls-json-equals-tls-log $n"
	else
		bad "tls-json-equals-tls-log $n" "-j tls objects differ from --tls records"
	fi
	if [ "$(id -u)" -eq 0 ]; then
		"$XS" replay "$f" -q --tls >"$tmp/$n.ktls" 2>"$tmp/$n.kerr"
		if cmp -s "$tmp/$n.tls" "$tmp/$n.ktls"; then
			ok "tls-kernel-equals-host $n"
		else
			bad "tls-kernel-equals-host $n" "$(tail -1 "$tmp/$n.kerr")"
		fi
	fi
done
for f in "$PCAPS"/*.pcap "$PCAPS"/*.pcapng; do
	case $(basename "$f") in zeek__tls_*) continue ;; esac
	"$XS" replay "$f" --no-kernel -q --tls >>"$tmp/not-tls.tls" 2>/dev/null
done
if [ ! -s "$tmp/not-tls.tls" ]; then
	ok "tls: no stream of the non-TLS captures is TLS"
else
	bad "tls: no stream of the non-TLS captures is TLS" "$(head -c 200 "$tmp/not-tls.tls")"
fi

# 3. JA4 against FoxIO's reference output, SSH banners against tshark, on FoxIO's captures
if [ -n "${JA4_REPO:-}" ] && [ -d "$JA4_REPO/pcap" ]; then
	for f in "$JA4_REPO"/pcap/*; do
		n=$(basename "$f")
		exp=$JA4_REPO/python/test/testdata/$n.json
		[ -s "$exp" ] || continue
		case $n in
		socks*) continue ;; # TLS after a SOCKS prelude: not a stream that starts with TLS
		esac
		"$XS" replay "$f" --no-kernel -q --tls -j --tls-log "$tmp/$n.tls" >"$tmp/$n.j" 2>/dev/null
		out=$(python3 tests/replay/ja4_foxio.py "$exp" "$tmp/$n.tls" 2>&1)
		case $? in
		0) ok "ja4-foxio $n ($out)" ;;
		2) ;;
		*) bad "ja4-foxio $n" "$(echo "$out" | head -3 | tr '\n' ' ')" ;;
		esac
		case $n in
		ssh*)
			if python3 - "$f" "$tmp/$n.j" <<'PY'
import json, subprocess, sys
out = subprocess.run(['tshark', '-r', sys.argv[1], '-Y', 'ssh.protocol', '-T', 'fields',
                      '-e', 'ssh.protocol'], capture_output=True, text=True).stdout.splitlines()
want = sorted(set(l for l in out if l))
got = set()
for o in map(json.loads, open(sys.argv[2])):
    if o['ssh']:
        got |= {b for b in (o['ssh']['client_banner'], o['ssh']['server_banner']) if b}
assert want and sorted(got) == want, (sorted(got), want)
PY
			then
				ok "ssh-banners $n"
			else
				bad "ssh-banners $n" "banners differ from tshark's ssh.protocol"
			fi
			;;
		esac
	done
else
	skp ja4-foxio "set JA4_REPO to a checkout of github.com/FoxIO-LLC/ja4 to compare JA4 with FoxIO's output"
fi

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
