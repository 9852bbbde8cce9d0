#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# replay -w FILE.pcapng, proved with the Wireshark tools and a strict reader of our own
# (pcapng_read.py, written from the draft):
#  - every shared capture: the pcapng reads (tshark, the strict reader), holds the very frames
#    and times of the pcap written from the same input (times to the nanosecond where the pcap
#    has microseconds), with one IDB that describes the replay and no direction, and an ISB
#    whose figures are the exit summary's; editcap and mergecap accept it;
#  - replay of that pcapng gives the same streams (-o tree, -j) as replay of the input, and as
#    replay of the pcap (times cut to microseconds there);
#  - odd frames: every length from 1 to 70 bytes, cut in the file or whole, and --snaplen 128
#    cuts: tshark reads all, each cut frame and only those carries the comment saying why;
#  - -w - --pcapng to a pipe, a .pcapng name alone choosing pcapng, --pcapng without -w.
set -u
. "$(dirname "$0")/lib.sh"

for t in tshark editcap mergecap capinfos python3; do
	command -v $t >/dev/null || { skp pcapng "$t is not installed (scripts/deps.sh)"; finish; }
done
if [ ! -d "$PCAPS" ]; then
	skp pcapng "no $PCAPS (the shared test captures are not here)"
	finish
fi
READ=tests/replay/pcapng_read.py

# The figure before WHAT in the exit summary ERR ("21 packets seen by", "matched the filter").
summary() {
	case $2 in
	seen) sed -n 's/^\([0-9]*\) packets seen by.*/\1/p' "$1" ;;
	matched) sed -n 's/^\([0-9]*\) packets matched the filter.*/\1/p' "$1" ;;
	delivered) sed -n 's/.* \([0-9]*\) delivered,.*/\1/p' "$1" ;;
	snapped) sed -n 's/.* \([0-9]*\) snapped;.*/\1/p' "$1" ;;
	ringfull) sed -n 's/^\([0-9]*\) packets dropped because the ring was full.*/\1/p' "$1" ;;
	esac | tail -n 1
}

# check_ng NG PCAP ERR: the pcapng NG against the pcap PCAP of the same replay and its summary.
check_ng() {
	python3 - "$@" <<'EOF'
import hashlib, json, re, struct, subprocess, sys
ng, pcap, err = sys.argv[1:4]
sys.path.insert(0, "tests/replay")
import pcapng_read
r = pcapng_read.read(ng)
bad = []
def want(what, got, exp):
    if got != exp:
        bad.append(f"{what}: {got!r}, want {exp!r}")
# the pcap of the same run: microseconds, libpcap's layout
d = open(pcap, "rb").read()
magic = struct.unpack_from("<I", d)[0]
want("pcap magic", hex(magic), hex(0xA1B2C3D4))
off, frames = 24, []
while off < len(d):
    s, us, cap, ln = struct.unpack_from("<IIII", d, off)
    frames.append((s * 1000000 + us, cap, ln, hashlib.sha1(d[off + 16:off + 16 + cap]).hexdigest()))
    off += 16 + cap
ours = [(e["ts"] // 1000, e["caplen"], e["len"], e["sha1"]) for e in r["epbs"]]
want("frames (time in us, caplen, len, sha1)", ours, frames)
want("shb_userappl", r["shb"]["options"].get(4, "")[:10], "xdp-sniff ")
want("IDBs", len(r["idbs"]), 1)
idb = r["idbs"][0]
want("if_tsresol", idb.get("if_tsresol"), 9)
want("if_filter", (idb.get("if_filter_type"), idb.get("if_filter")), (0, "tcp"))
if not idb.get("if_description", "").startswith("xdp-sniff replay of "):
    bad.append(f"if_description {idb.get('if_description')!r}")
if any("flags" in e for e in r["epbs"]):
    bad.append("replay wrote a direction it does not know")
want("EPBs on interface 0", {e["if"] for e in r["epbs"]} - {0}, set())
text = open(err).read()
def fig(pat):
    m = re.findall(pat, text, re.M)
    return int(m[-1]) if m else None
want("ISBs", len(r["isbs"]), 1)
if r["isbs"]:
    s = r["isbs"][0]
    want("isb_ifrecv", s.get("ifrecv"), fig(r"^(\d+) packets seen by"))
    want("isb_filteraccept", s.get("filteraccept"), fig(r"^(\d+) packets matched the filter"))
    # the host build has no ring (its summary has no ring line): nothing dropped
    ringfull = fig(r"^(\d+) packets dropped because the ring")
    want("isb_ifdrop", s.get("ifdrop"), 0 if ringfull is None else ringfull)
    if not 0 < s.get("starttime", 0) <= s.get("endtime", 0) == s["ts"]:
        bad.append(f"isb times {s.get('starttime')} {s.get('endtime')} {s['ts']}")
want("EPBs against delivered", len(r["epbs"]), fig(r" (\d+) delivered,"))
if bad:
    print("; ".join(bad[:3]))
    sys.exit(1)
EOF
}

# -j lines with the times cut to microseconds (what a pcap keeps)
json_us() {
	python3 -c '
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    for k in ("start_ns", "end_ns"):
        if k in o:
            o[k] = o[k] // 1000 * 1000
    print(json.dumps(o, sort_keys=True))' "$1"
}

for f in "$PCAPS"/*.pcap "$PCAPS"/*.pcapng; do
	n=$(basename "$f")
	"$XS" replay "$f" -j -o "$tmp/$n.o" -w "$tmp/$n.pcapng" >"$tmp/$n.json" 2>"$tmp/$n.err" ||
		{ bad "replay-pcapng $n" "exit $?: $(tail -n 1 "$tmp/$n.err")"; continue; }
	"$XS" replay "$f" -q -w "$tmp/$n.pcap" 2>/dev/null ||
		{ bad "replay-pcap $n" "replay -w pcap failed"; continue; }
	if ! tshark -r "$tmp/$n.pcapng" >/dev/null 2>"$tmp/$n.tshark"; then
		bad "tshark-reads $n" "$(head -c 200 "$tmp/$n.tshark")"
		continue
	fi
	if why=$(check_ng "$tmp/$n.pcapng" "$tmp/$n.pcap" "$tmp/$n.err" 2>&1); then
		ok "pcapng-equals-pcap $n"
	else
		bad "pcapng-equals-pcap $n" "$why"
	fi
	if editcap "$tmp/$n.pcapng" "$tmp/$n.e.pcapng" 2>"$tmp/$n.editcap" &&
		mergecap -w "$tmp/$n.m.pcapng" "$tmp/$n.pcapng" "$tmp/$n.e.pcapng" 2>"$tmp/$n.mergecap" &&
		[ "$(capinfos -cM "$tmp/$n.m.pcapng" 2>/dev/null | sed -n 's/^Number of packets: *//p')" = \
			$((2 * $(summary "$tmp/$n.err" delivered))) ]; then
		ok "editcap-mergecap $n"
	else
		bad "editcap-mergecap $n" "$(cat "$tmp/$n.editcap" "$tmp/$n.mergecap" | head -c 200)"
	fi
	# the pcapng read back: the streams of the input, to the nanosecond; the pcap's, to the
	# microsecond
	"$XS" replay "$tmp/$n.pcapng" -j -o "$tmp/$n.ng.o" >"$tmp/$n.ng.json" 2>"$tmp/$n.ng.err" ||
		{ bad "replay-of-pcapng $n" "exit $?: $(tail -n 1 "$tmp/$n.ng.err")"; continue; }
	"$XS" replay "$tmp/$n.pcap" -j -o "$tmp/$n.pc.o" >"$tmp/$n.pc.json" 2>/dev/null ||
		{ bad "replay-of-pcap $n" "replay of our pcap failed"; continue; }
	if cmp -s "$tmp/$n.json" "$tmp/$n.ng.json" && diff -r "$tmp/$n.o" "$tmp/$n.ng.o" >/dev/null &&
		diff -r "$tmp/$n.pc.o" "$tmp/$n.ng.o" >/dev/null &&
		cmp -s <(json_us "$tmp/$n.pc.json") <(json_us "$tmp/$n.ng.json"); then
		ok "replay-of-pcapng-same-streams $n ($(wc -l <"$tmp/$n.ng.json") streams)"
	else
		bad "replay-of-pcapng-same-streams $n" "-j or -o differ between the input, our pcapng and our pcap"
	fi
done

# odd frames, cut in the file and by --snaplen 128; under ASan too when XDP_SNIFF is that build
python3 tests/replay/make_odd_frames.py "$tmp/odd.pcap"
if "$XS" replay "$tmp/odd.pcap" --snaplen 128 -w "$tmp/odd.pcapng" 2>"$tmp/odd.err"; then
	if why=$(python3 - "$tmp/odd.pcapng" "$(summary "$tmp/odd.err" delivered)" \
		"$(summary "$tmp/odd.err" snapped)" <<'EOF' 2>&1
import re, subprocess, sys
sys.path.insert(0, "tests/replay")
import pcapng_read
ng, delivered, snapped = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = pcapng_read.read(ng)
bad = []
lens = {e["caplen"] % 4 for e in r["epbs"]}
if lens != {0, 1, 2, 3}:
    bad.append(f"frame lengths mod 4 seen: {sorted(lens)}")
if len(r["epbs"]) != delivered:
    bad.append(f"{len(r['epbs'])} EPBs, {delivered} delivered")
out = subprocess.run(["tshark", "-r", ng, "-T", "fields", "-e", "frame.cap_len", "-e", "frame.len",
                      "-e", "frame.comment"], capture_output=True, text=True)
if out.returncode:
    bad.append("tshark: " + out.stderr[:200])
rows = [l.split("\t") for l in out.stdout.splitlines()]
if len(rows) != delivered:
    bad.append(f"tshark read {len(rows)} of {delivered} packets")
cut = 0
for cap, ln, c in rows:
    cap, ln = int(cap), int(ln)
    if cap < ln:
        cut += 1
        why = "cut by --snaplen" if cap == 128 else "cut short in the file replayed"
        if c != f"{why}: {cap} of {ln} bytes captured":
            bad.append(f"{cap} of {ln}: comment {c!r}")
    elif c:
        bad.append(f"whole frame of {cap} with comment {c!r}")
if cut != snapped or not any(int(c) == 128 for c, l, _ in rows if int(c) < int(l)):
    bad.append(f"{cut} cut frames, {snapped} snapped")
if bad:
    print("; ".join(bad[:3]))
    sys.exit(1)
EOF
	); then
		ok "odd-frames-and-cuts"
	else
		bad "odd-frames-and-cuts" "$why"
	fi
else
	bad "odd-frames-and-cuts" "replay failed: $(tail -n 1 "$tmp/odd.err")"
fi

# -w - to a pipe; a .pcapng name alone chooses pcapng; --pcapng alone is a usage error
f=$PCAPS/zeek__http_get.pcap
if "$XS" replay "$f" -q -w - --pcapng | tshark -r - -T fields -e frame.interface_description \
	2>/dev/null >"$tmp/stdout.txt" && [ -s "$tmp/stdout.txt" ] &&
	! grep -qv '^xdp-sniff replay of ' "$tmp/stdout.txt"; then
	ok "stdout-pipe"
else
	bad "stdout-pipe" "tshark -r - did not read our pcapng from the pipe"
fi
"$XS" replay "$f" -q -w "$tmp/named.pcapng" 2>/dev/null
if capinfos -t "$tmp/named.pcapng" 2>/dev/null | grep -q '^File type:.* pcapng$'; then
	ok "pcapng-by-name"
else
	bad "pcapng-by-name" "-w x.pcapng did not write pcapng"
fi
"$XS" replay "$f" -q --pcapng >/dev/null 2>"$tmp/usage.err"
rc=$?
if [ $rc -eq 2 ] && grep -q -- '--pcapng goes with -w FILE' "$tmp/usage.err"; then
	ok "pcapng-without-w"
else
	bad "pcapng-without-w" "exit $rc: $(head -n 1 "$tmp/usage.err")"
fi
finish
