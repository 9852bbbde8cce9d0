#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Connections picked up without their handshake (issue 21): who is the client is decided by
# evidence, and -j says which ("roles"): a SYN-ACK's destination; what a side sends first
# (an HTTP request line or status line, a TLS ClientHello or ServerHello); the side whose
# peer's port is well known (< 1024, or named in /etc/services) while its own is not; else
# the first sender. Crafted captures, cut from whole exchanges; --http on the response-first
# one is compared with tshark's HTTP dissector (requests and statuses). roles_check.py then
# checks every output (-j, -o, --http against tshark, --tls, the summary) on crafted
# exchanges and on real ones cut from the shared captures.
. "$(dirname "$0")/lib.sh"

python3 - "$tmp" <<'PY' || { bad generate "writing the captures failed"; finish; }
import sys
sys.path.insert(0, 'tests/replay')
from make_captures import tcp4, pcap_bytes, write

c, s = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
eth = b'\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00'
r200 = b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'
get = b'GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n'
r404 = b'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'
ssh = b'SSH-2.0-OpenSSH_9.2\r\n'

def conv(cp, sp, msgs, synack=False):
    """msgs: (from_client, bytes) in order; seq numbers as if the handshake had happened."""
    cs, ss, out = 1001, 5001, []
    if synack:
        out.append(tcp4(s, c, sp, cp, 5000, 1001, 0x12, b''))
    for fc, m in msgs:
        if fc:
            out.append(tcp4(c, s, cp, sp, cs, ss, 0x18, m)); cs += len(m)
        else:
            out.append(tcp4(s, c, sp, cp, ss, cs, 0x18, m)); ss += len(m)
    return out

caps = {
    'response-first-80': conv(40001, 80, [(False, r200), (True, get), (False, r404)]),
    'request-first-80': conv(40002, 80, [(True, get), (False, r404)]),
    'request-first-high': conv(40003, 8080, [(True, get), (False, r404)]),
    'response-first-high': conv(40004, 8080, [(False, r200), (True, get), (False, r404)]),
    'synack-first-high': conv(40005, 8080, [(False, r200), (True, get)], synack=True),
    'ssh-banner-22': conv(40006, 22, [(False, ssh), (True, ssh)]),
}
for name, pkts in caps.items():
    recs = [(1700000000 + i, 0, len(eth) + len(p), len(eth) + len(p), eth + p)
            for i, p in enumerate(pkts)]
    write(sys.argv[1], name + '.pcap', pcap_bytes(recs, 1))
PY

# check NAME ROLES CLIENT_PORT FIRST_CLIENT_BYTES: the one -j record of NAME.pcap
check() {
	local n=$1 roles=$2 port=$3 first=$4 got
	"$XS" replay "$tmp/$n.pcap" -j >"$tmp/$n.json" 2>"$tmp/$n.err" ||
		{ bad "$n" "replay exit $?: $(tail -1 "$tmp/$n.err")"; return; }
	got=$(python3 -c '
import base64, json, sys
o = json.loads(open(sys.argv[1]).readline())
print(o["roles"], o["source_port"], base64.b64decode(o["inbound"])[:3].decode())' "$tmp/$n.json")
	[ "$got" = "$roles $port $first" ] && ok "$n: roles $roles, client port $port" ||
		bad "$n" "got '$got', want '$roles $port $first'"
}
check response-first-80 content 40001 GET
check request-first-80 content 40002 GET
check request-first-high content 40003 GET
check synack-first-high synack 40005 GET
check ssh-banner-22 port 40006 SSH
# the status line the server sent first names it, whatever the ports
check response-first-high content 40004 GET

# --http on the response-first capture: what tshark's HTTP dissector sees, the request with
# its status, and the response that came before any request
if command -v tshark >/dev/null; then
	"$XS" replay "$tmp/response-first-80.pcap" --http >"$tmp/h.jsonl" 2>/dev/null
	ours=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if "method" in o:
        print(o["method"] or "-", o["target"] or "-", o["status"] or "-",
              "rwr" if "response_without_request" in (o.get("flags") or []) else "")' "$tmp/h.jsonl" |
		sort | tr '\n' ';')
	theirs=$(tshark -r "$tmp/response-first-80.pcap" -Y http -T fields -e http.request.method \
		-e http.request.uri -e http.response.code 2>/dev/null | tr '\t' ' ' | tr '\n' ';')
	echo "$theirs" | grep -q 'GET /favicon.ico' && echo "$theirs" | grep -q ' 200' &&
		echo "$theirs" | grep -q ' 404' || { skp tshark-http "tshark does not dissect it: $theirs"; }
	[ "$ours" = "- - 200 rwr;GET /favicon.ico 404 ;" ] &&
		ok "response-first-80 --http: GET /favicon.ico 404 and the 200 before it, as tshark" ||
		bad "response-first-80 --http" "ours '$ours', tshark '$theirs'"
else
	skp tshark "tshark is not installed"
fi

# every output, crafted and cut captures (the cut ones skip without the shared captures)
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok }" ;;
	"FAIL "*) bad "${line#FAIL }" "" ;;
	"skip "*) skp "${line#skip }" "" ;;
	esac
done < <(python3 tests/replay/roles_check.py "$XS" "$tmp" "$PCAPS" 2>&1 ||
	echo "FAIL roles_check.py: exit $?")
finish
