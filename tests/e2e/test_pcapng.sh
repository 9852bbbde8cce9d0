#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# load -w FILE.pcapng on a veth pair during HTTP transfers, proved with the Wireshark tools
# and a strict reader of our own (tests/replay/pcapng_read.py):
#  - tshark reads every file; each packet names the interface (frame.interface_name) and its
#    direction (frame.packet_flags_direction: inbound from the server, outbound to it); the
#    ISB figures are the exit summary's; editcap and mergecap accept the file;
#  - replay of the pcapng gives the streams load wrote live (-o in the same run), and so does
#    replay of a pcap made from it (replay -w x.pcap);
#  - --snaplen and --max-stream-bytes cuts carry the comment that says so, one per cut packet;
#  - -w - --pcapng; a full disk: one line, the other outputs go on, the file reads whole;
#  - kill -9 during a transfer: the file reads to its end.
#
# Usage: tests/e2e/test_pcapng.sh   (as root; XDP_SNIFF=path overrides the binary,
#        E2E_KEEP=1 keeps the temp directory)

. "$(dirname "$0")/lib.sh"

e2e_require curl python3 tshark editcap mergecap capinfos

WWW=$E2E_TMP/www
SIZES=(0 1 1460 65536 1048576)
READ=$E2E_ROOT/tests/replay/pcapng_read.py

# Figures of an exit summary: summary ERR seen|matched|delivered|snapped|budgetcut|ringfull
summary()
{
	case $2 in
	seen) sed -n 's/^\([0-9]*\) packets seen by.*/\1/p' "$1" ;;
	matched) sed -n 's/^\([0-9]*\) packets matched the filter.*/\1/p' "$1" ;;
	delivered) sed -n 's/.* \([0-9]*\) delivered,.*/\1/p' "$1" ;;
	snapped) sed -n 's/.* \([0-9]*\) snapped;.*/\1/p' "$1" ;;
	budgetcut) sed -n 's/^\([0-9]*\) records cut by --max-stream-bytes.*/\1/p' "$1" ;;
	ringfull) xs_ring_full "$1" ;;
	esac | tail -n 1
}

# check_live NG ERR IFACE: the strict reader's and tshark's view of NG against the exit
# summary in ERR. Prints what is wrong and fails otherwise.
check_live()
{
	python3 - "$READ" "$@" "$XS_SRV4" "$XS_HOST4" \
		"$(summary "$2" seen)" "$(summary "$2" matched)" "$(summary "$2" delivered)" \
		"$(summary "$2" ringfull)" <<'EOF'
import importlib.util, subprocess, sys
rd, ng, err, ifc, srv, host, seen, matched, delivered, ringfull = sys.argv[1:11]
spec = importlib.util.spec_from_file_location("pcapng_read", rd)
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
bad = []
def want(what, got, exp):
    if got != exp:
        bad.append(f"{what}: {got!r}, want {exp!r}")
try:
    r = m.read(ng)
except m.Bad as e:
    print(f"strict reader: {e}")
    sys.exit(1)
want("IDBs", len(r["idbs"]), 1)
idb = r["idbs"][0]
want("if_name", idb.get("if_name"), ifc)
want("if_filter", idb.get("if_filter"), "tcp and (port 8080)")
want("if_tsresol", idb.get("if_tsresol"), 9)
want("snaplen", idb["snaplen"], 262144)
d = idb.get("if_description", "")
if "XDP" not in d or "transport: BPF ring buffer" not in d:
    bad.append(f"if_description {d!r}")
want("EPBs", len(r["epbs"]), int(delivered))
want("ISBs", len(r["isbs"]), 1)
s = r["isbs"][0] if r["isbs"] else {}
want("isb_ifrecv", s.get("ifrecv"), int(seen))
want("isb_filteraccept", s.get("filteraccept"), int(matched))
want("isb_ifdrop", s.get("ifdrop"), int(ringfull))
ts = [e["ts"] for e in r["epbs"]]
if not ts or not s.get("starttime", 1 << 64) <= min(ts) <= max(ts) <= s.get("endtime", 0):
    bad.append(f"isb times {s.get('starttime')}..{s.get('endtime')} do not hold the packets")
out = subprocess.run(["tshark", "-r", ng, "-T", "fields", "-e", "frame.interface_name",
                      "-e", "frame.packet_flags_direction", "-e", "ip.src", "-e", "ip.dst"],
                     capture_output=True, text=True)
if out.returncode:
    bad.append("tshark: " + out.stderr[:200])
rows = [l.split("\t") for l in out.stdout.splitlines()]
want("tshark packets", len(rows), int(delivered))
dirs = {"0x00000001": "inbound", "0x00000002": "outbound"}
for name, flags, src, dst in rows:
    want("frame.interface_name", name, ifc)
    exp = "inbound" if (src, dst) == (srv, host) else "outbound" if (src, dst) == (host, srv) else "?"
    want(f"direction of {src} > {dst}", dirs.get(flags, flags), exp)
    if len(bad) > 5:
        break
if bad:
    print("; ".join(bad[:4]))
    sys.exit(1)
EOF
}

# The whole live check: capture, then every view of the file.
t_live()
{
	local ng=$E2E_TMP/live.pcapng items=() s n

	xs_start live "$XS_IF" -p 8080 -w "$ng" -o "$E2E_TMP/live.o" || return 1
	for s in "${SIZES[@]}" "${SIZES[@]}"; do items+=("8080/f_$s"); done
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got" "${items[@]}" || return 1
	xs_stop INT || { WHY="no exit within 30 s of SIGINT"; return 1; }
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC: $(tail -n 1 "$E2E_TMP/live.err")"; return 1; }
	WHY=$(check_live "$ng" "$E2E_TMP/live.err" "$XS_IF") || return 1
	editcap "$ng" "$E2E_TMP/e.pcapng" 2>"$E2E_TMP/editcap.err" ||
		{ WHY="editcap: $(head -c 200 "$E2E_TMP/editcap.err")"; return 1; }
	mergecap -w "$E2E_TMP/m.pcapng" "$ng" "$E2E_TMP/e.pcapng" 2>"$E2E_TMP/mergecap.err" ||
		{ WHY="mergecap: $(head -c 200 "$E2E_TMP/mergecap.err")"; return 1; }
	n=$(capinfos -cM "$E2E_TMP/m.pcapng" | sed -n 's/^Number of packets: *//p')
	[ "$n" = $((2 * $(summary "$E2E_TMP/live.err" delivered))) ] ||
		{ WHY="mergecap of the file and editcap's copy holds $n packets"; return 1; }
	# read back: the streams load wrote live, from the pcapng and from a pcap made of it
	"$XS" replay "$ng" -q -o "$E2E_TMP/ng.o" -w "$E2E_TMP/via.pcap" 2>"$E2E_TMP/ng.err" ||
		{ WHY="replay of the pcapng: $(tail -n 1 "$E2E_TMP/ng.err")"; return 1; }
	"$XS" replay "$E2E_TMP/via.pcap" -q -o "$E2E_TMP/pc.o" 2>/dev/null ||
		{ WHY="replay of the pcap made from it failed"; return 1; }
	n=$(ls "$E2E_TMP/live.o" | wc -l)
	[ "$n" -eq 20 ] || { WHY="$n flow files live, want 20 (10 connections)"; return 1; }
	diff -r "$E2E_TMP/live.o" "$E2E_TMP/ng.o" >/dev/null ||
		{ WHY="replay of the pcapng gives other streams than load -o"; return 1; }
	diff -r "$E2E_TMP/ng.o" "$E2E_TMP/pc.o" >/dev/null ||
		{ WHY="replay of the pcap gives other streams than replay of the pcapng"; return 1; }
	WHY=$(check_flows "$E2E_TMP/ng.o" "$XS_SRV4" 8080 "$WWW/8080" "${SIZES[@]/#/f_}") || return 1
}

# check_cuts NG N PATTERN: every cut packet (and no other) has a comment "PATTERN: C of L
# bytes captured", N of them (the summary's count of what cut them).
check_cuts()
{
	python3 - "$1" "${2:-0}" "$3" <<'EOF'
import subprocess, sys
ng, snapped, why = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = subprocess.run(["tshark", "-r", ng, "-T", "fields", "-e", "frame.cap_len", "-e", "frame.len",
                      "-e", "frame.comment"], capture_output=True, text=True)
if out.returncode:
    print("tshark: " + out.stderr[:200]); sys.exit(1)
cut = 0
for l in out.stdout.splitlines():
    cap, ln, c = l.split("\t")
    if int(cap) < int(ln):
        cut += 1
        if c != f"{why}: {cap} of {ln} bytes captured":
            print(f"{cap} of {ln}: comment {c!r}"); sys.exit(1)
    elif c:
        print(f"whole packet of {cap} with comment {c!r}"); sys.exit(1)
if cut != snapped or not cut:
    print(f"{cut} commented cut packets, the summary says {snapped} cut"); sys.exit(1)
EOF
}

t_snaplen()
{
	local ng=$E2E_TMP/snap.pcapng

	xs_start snap "$XS_IF" -p 8080 -w "$ng" --snaplen 128 || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-s" 8080/f_65536 8080/f_1460 || return 1
	xs_stop INT && [ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC"; return 1; }
	WHY=$(check_cuts "$ng" "$(summary "$E2E_TMP/snap.err" snapped)" "cut by --snaplen") ||
		return 1
}

t_budget()
{
	local ng=$E2E_TMP/budget.pcapng

	xs_start budget "$XS_IF" -p 8080 -w "$ng" --max-stream-bytes 4096 || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-b" 8080/f_1048576 || return 1
	xs_stop INT && [ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC"; return 1; }
	WHY=$(check_cuts "$ng" "$(summary "$E2E_TMP/budget.err" budgetcut)" \
		"payload past --max-stream-bytes not copied") || return 1
}

t_stdout()
{
	local n

	xs_start so "$XS_IF" -p 8080 -w - --pcapng || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-o" 8080/f_65536 || return 1
	xs_stop INT && [ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC"; return 1; }
	WHY=$(check_live "$E2E_TMP/so.out" "$E2E_TMP/so.err" "$XS_IF") || return 1
	n=$(tshark -r - <"$E2E_TMP/so.out" 2>/dev/null | wc -l)
	[ "$n" -gt 10 ] || { WHY="tshark -r - read $n packets"; return 1; }
}

# A full disk: one line naming the file, -j goes on to the end, the file reads whole.
t_disk_full()
{
	local mnt=$E2E_TMP/small lines rc=0

	mkdir -p "$mnt"
	mount -t tmpfs -o size=1m tmpfs "$mnt" || { WHY="cannot mount a tmpfs"; return 77; }
	xs_start full "$XS_IF" -p 8080 -w "$mnt/x.pcapng" -j || { umount "$mnt"; return 1; }
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-f" 8080/f_1048576 8080/f_1048576 8080/f_1460 ||
		{ umount "$mnt"; return 1; }
	xs_stop INT
	if [ "$XS_RC" -ne 0 ]; then
		WHY="exit status $XS_RC with -j still going"; rc=1
	fi
	lines=$(grep -c "x.pcapng" "$E2E_TMP/full.err")
	if [ "$rc" -eq 0 ] && { [ "$lines" -ne 1 ] ||
		! grep -q "cannot write to $mnt/x.pcapng: No space left on device; -w is switched off, the other outputs go on" "$E2E_TMP/full.err"; }; then
		WHY="want one line about the full disk, got: $(grep x.pcapng "$E2E_TMP/full.err" | tr '\n' ' ')"
		rc=1
	fi
	if [ "$rc" -eq 0 ] && [ "$(grep -c '"state":"closed"' "$E2E_TMP/full.out")" -ne 3 ]; then
		WHY="-j did not go on to the end: $(grep -c '"state":"closed"' "$E2E_TMP/full.out") of 3 streams"
		rc=1
	fi
	if [ "$rc" -eq 0 ] && ! python3 "$READ" "$mnt/x.pcapng" >/dev/null 2>"$E2E_TMP/full.read"; then
		WHY="the file of the full disk does not read whole: $(cat "$E2E_TMP/full.read")"
		rc=1
	fi
	if [ "$rc" -eq 0 ] && ! tshark -r "$mnt/x.pcapng" >/dev/null 2>&1; then
		WHY="tshark cannot read the file of the full disk"
		rc=1
	fi
	umount "$mnt"
	return $rc
}

# kill -9 in the middle of a transfer: the file reads to its end.
t_kill9()
{
	local ng=$E2E_TMP/k.pcapng cpid

	xs_start kill "$XS_IF" -p 8080 -w "$ng" || return 1
	"${CURL[@]}" --limit-rate 4M -o /dev/null "http://$XS_SRV4:8080/f_1048576" &
	cpid=$!
	E2E_PIDS+=("$cpid")
	sleep 1.5
	kill -KILL "$XS_PID"
	wait "$XS_PID" 2>/dev/null
	wait "$cpid"
	python3 "$READ" "$ng" >/dev/null 2>"$E2E_TMP/k.read" ||
		{ WHY="after kill -9: $(cat "$E2E_TMP/k.read")"; return 1; }
	tshark -r "$ng" >/dev/null 2>&1 || { WHY="tshark cannot read the file after kill -9"; return 1; }
	[ "$(tshark -r "$ng" 2>/dev/null | wc -l)" -gt 0 ] ||
		{ WHY="no packet in the file after 1.5 s of transfer"; return 1; }
}

make_files "$WWW/8080" "${SIZES[@]}"
if ! e2e_netns_up || ! e2e_http_server 8080 "$WWW/8080"; then
	WHY="setting up the namespace and server failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi
run_test live_pcapng t_live
run_test snaplen_comments t_snaplen
run_test max_stream_bytes_comments t_budget
run_test stdout_pcapng t_stdout
run_test disk_full t_disk_full
run_test kill9_whole_blocks t_kill9
e2e_finish
