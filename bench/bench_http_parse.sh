#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# HTTP exchanges parsed per second on replay of a capture of many small keep-alive exchanges,
# against tshark's HTTP dissector on the same file, in the same run. The capture is made by
# the script (python3): BENCH_EXCHANGES exchanges (default 100000) on 100 connections.
set -u
cd "$(dirname "$0")/.."
BIN=$PWD/build/xdp-sniff
N=${BENCH_EXCHANGES:-100000}
[ -x "$BIN" ] || { echo "skip bench_http_parse: build/xdp-sniff not built"; exit 0; }
command -v tshark >/dev/null || { echo "skip bench_http_parse: tshark not installed"; exit 0; }
W=$(mktemp -d /tmp/bench_http.XXXXXX)
trap 'rm -rf "$W"' EXIT

python3 - "$W/http.pcap" "$N" <<'PY'
import struct, sys
path, n = sys.argv[1], int(sys.argv[2])
out = open(path, 'wb')
out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
t = [0]
def pkt(src, dst, sp, dp, seq, ack, flags, data):
    tcp = struct.pack('!HHIIBBHHH', sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40 + len(data), 0, 0, 64, 6, 0, src, dst)
    fr = b'\x02' * 6 + b'\x04' * 6 + b'\x08\x00' + ip + tcp + data
    t[0] += 20
    out.write(struct.pack('<IIII', 1000 + t[0] // 1000000, t[0] % 1000000, len(fr), len(fr)) + fr)
c, s = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
conns = 100
per = n // conns
body = b'x' * 200
for k in range(conns):
    sp = 30000 + k
    cs, ss = 1000, 9000
    pkt(c, s, sp, 80, cs, 0, 2, b''); pkt(s, c, 80, sp, ss, cs + 1, 0x12, b'')
    cs += 1; ss += 1
    pkt(c, s, sp, 80, cs, ss, 0x10, b'')
    for i in range(per):
        req = b'GET /item/%d HTTP/1.1\r\nHost: bench\r\nUser-Agent: b\r\n\r\n' % i
        resp = (b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n'
                % len(body)) + body
        pkt(c, s, sp, 80, cs, ss, 0x18, req); cs += len(req)
        pkt(s, c, 80, sp, ss, cs, 0x18, resp); ss += len(resp)
    pkt(c, s, sp, 80, cs, ss, 0x11, b''); pkt(s, c, 80, sp, ss, cs + 1, 0x11, b'')
    pkt(c, s, sp, 80, cs + 1, ss + 1, 0x10, b'')
PY

tm() { /usr/bin/time -f '%e' -o "$W/t" "$@" >"$W/out" 2>/dev/null; cat "$W/t"; }
ours=$(tm "$BIN" replay "$W/http.pcap" --http -q)
ours_n=$(grep -c '"exchange"' "$W/out")
oursk=$(tm "$BIN" replay "$W/http.pcap" --http -q --kernel)
theirs=$(tm tshark -r "$W/http.pcap" -Y http -T fields -e http.request.method -e http.response.code)
theirs_n=$(grep -c . "$W/out")
echo "$N keep-alive exchanges on 100 connections ($(du -h "$W/http.pcap" | cut -f1) capture)"
printf '%-44s %8s s %10s\n' "xdp-sniff replay --http (host build)" "$ours" \
	"$(awk -v n="$ours_n" -v t="$ours" 'BEGIN { printf "%.0f/s", n / t }')"
printf '%-44s %8s s %10s\n' "xdp-sniff replay --http --kernel" "$oursk" \
	"$(awk -v n="$ours_n" -v t="$oursk" 'BEGIN { printf "%.0f/s", n / t }')"
printf '%-44s %8s s %10s\n' "tshark -Y http -T fields" "$theirs" \
	"$(awk -v n="$N" -v t="$theirs" 'BEGIN { printf "%.0f/s", n / t }')"
echo "exchanges reported: xdp-sniff $ours_n, tshark lines $theirs_n (a request and a response each)"
echo "ratio (tshark time / xdp-sniff time): $(awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "%.2f", a / b }') (host path), $(awk -v a="$theirs" -v b="$oursk" 'BEGIN { printf "%.2f", a / b }') (kernel path)"
