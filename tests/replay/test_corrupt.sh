#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Hostile and unusual capture files (written by tests/replay/make_captures.py from the
# shared test captures):
#  - damaged files (records cut in their header or body, caplen over the snap length,
#    over 256 KiB or 4 GiB, wire lengths of 0 and 4 GiB, zero-length and runt frames,
#    a bad magic, garbage, an empty file, pcapng blocks with broken lengths), a
#    directory, a missing file and, as user nobody, an unreadable one: exit 0, or exit 1
#    with one line on stderr naming the file; never a signal. A file damaged late gives
#    exactly what the intact records before the damage give (-j, -o and -w);
#  - the IP packets of Ethernet captures under DLT_NULL (both byte orders, the three BSD
#    AF_INET6 values), DLT_LOOP, LINKTYPE_IPV4 and LINKTYPE_IPV6 give the streams of the
#    source capture;
#  - a connection of ~64 KiB segments (Ethernet and LINKTYPE_IPV4) is reassembled byte
#    for byte, also through a ring that holds one record;
#  - a --ring-size replay cannot use is a usage error: exit 2, one line naming it;
# each through the kernel (as root) and the host build, which must agree.
set -u
. "$(dirname "$0")/lib.sh"

[ -x "$XS" ] || { skp corrupt "$XS is not built (run make)"; finish; }
command -v python3 >/dev/null || { skp corrupt "python3 is not installed"; finish; }
C=$tmp/caps
if [ -d "$PCAPS" ]; then
	python3 tests/replay/make_captures.py "$PCAPS" "$C" ||
		{ bad generate "make_captures.py failed"; finish; }
else
	skp generated "no $PCAPS (the shared test captures): only the file errors are tested"
	mkdir -p "$C"
fi

modes=(host)
if [ "$(id -u)" -eq 0 ]; then
	modes+=(kernel)
else
	skp corrupt-kernel "not root: BPF_PROG_TEST_RUN needs CAP_BPF; only the host build is tested"
fi

# replay MODE FILE OUT: xdp-sniff replay FILE -q -j -o OUT.d -w OUT.pcap; stdout in
# OUT.json, stderr in OUT.err, the exit status in RC.
replay() {
	local mode=$1 f=$2 out=$3 extra=()

	[ "$mode" = kernel ] && extra=(--kernel)
	# the smallest ring: one 64 KiB record fills it, the frames wait for the reader each time
	[ "$mode" = kernel-ring128k ] && extra=(--kernel --ring-size 128K)
	rm -rf "$out.d" && mkdir -p "$out.d"
	"$XS" replay "$f" "${extra[@]}" -q -j -o "$out.d" -w "$out.pcap" >"$out.json" 2>"$out.err"
	RC=$?
}

# Exit 0 with nothing on stderr, or exit 1 with one line that names the file. Sets WHY.
sane_exit() {
	local f=$1 out=$2 lines

	lines=$(grep -c . "$out.err")
	if [ "$RC" -ge 128 ]; then
		WHY="killed by signal $((RC - 128)): $(grep -m1 -E 'ERROR|runtime error' "$out.err")"
	elif [ "$RC" -eq 0 ] && [ "$lines" -ne 0 ]; then
		WHY="exit 0 but stderr says: $(head -c 200 "$out.err" | tr '\n' '|')"
	elif [ "$RC" -eq 0 ]; then
		return 0
	elif [ "$RC" -ne 1 ]; then
		WHY="exit status $RC: $(head -c 200 "$out.err" | tr '\n' '|')"
	elif [ "$lines" -ne 1 ]; then
		WHY="$lines lines on stderr, want one: $(head -c 300 "$out.err" | tr '\n' '|')"
	elif ! grep -qF -- "$f" "$out.err"; then
		WHY="the error does not name $f: $(head -c 200 "$out.err")"
	else
		return 0
	fi
	return 1
}

# same_output A B: the -j, -o and -w outputs of two runs are identical.
same_output() {
	cmp -s "$1.json" "$2.json" || { WHY="-j differs"; return 1; }
	diff -r "$1.d" "$2.d" >/dev/null || { WHY="-o differs"; return 1; }
	if [ -e "$1.pcap" ] || [ -e "$2.pcap" ]; then
		cmp -s "$1.pcap" "$2.pcap" || { WHY="-w differs"; return 1; }
	fi
}

# The -w file of a run, if any, is one that tcpdump reads without complaint.
w_readable() {
	local out
	[ -s "$1.pcap" ] && command -v tcpdump >/dev/null || return 0
	out=$(tcpdump -nr "$1.pcap" 2>&1 >/dev/null | grep -v '^reading from file')
	out+=$(tcpdump -nr "$1.pcap" 2>/dev/null | grep -m1 -E 'Invalid header|truncated')
	[ -z "$out" ] || { WHY="tcpdump on our -w: $(head -c 200 <<<"$out")"; return 1; }
}

# The -j streams of two runs hold the same connections and bytes (the fields the link
# layer cannot change: addresses, ports, both directions, state).
same_streams() {
	python3 - "$1.json" "$2.json" <<'EOF'
import json, sys
keys = ('source_address', 'destination_address', 'source_port', 'destination_port',
        'inbound', 'outbound', 'state')
def streams(p):
    return sorted(tuple(str(o.get(k)) for k in keys) for o in map(json.loads, open(p)))
a, b = streams(sys.argv[1]), streams(sys.argv[2])
if not a:
    print('no stream')
    sys.exit(1)
if a != b:
    print(f'{len(a)} streams, the source gives {len(b)}; first difference: '
          + next((str(x[:4]) for x, y in zip(a, b) if x != y), 'count'))
    sys.exit(1)
EOF
}

# 1. Damaged files: a sane exit; damaged late, the output of the intact part.
for f in "$C"/*.pcap "$C"/*.pcapng; do
	[ -f "$f" ] || continue
	n=$(basename "$f")
	case $n in *.ref.*|big-*|null*|loop*|ipv4*|ipv6*) continue ;; esac
	ref=${f%.*}.ref.${f##*.}
	for mode in "${modes[@]}"; do
		out=$tmp/$mode-$n
		replay "$mode" "$f" "$out"
		sane_exit "$f" "$out" || { bad "$mode $n" "$WHY"; continue; }
		rc=$RC
		w_readable "$out" || { bad "$mode $n" "$WHY"; continue; }
		if [ -f "$ref" ]; then
			[ "$rc" -eq 1 ] || { bad "$mode $n" "damaged, yet exit 0"; continue; }
			replay "$mode" "$ref" "$out.ref"
			[ "$(grep -c . "$out.json")" -gt 0 ] ||
				{ bad "$mode $n" "no stream from the records before the damage"; continue; }
			same_output "$out" "$out.ref" ||
				{ bad "$mode $n" "$WHY from the intact records before the damage"; continue; }
		elif [ -f "${f%.*}.src" ]; then
			[ "$rc" -eq 0 ] || { bad "$mode $n" "exit $rc: $(head -c 200 "$out.err")"; continue; }
			replay "$mode" "$PCAPS/$(cat "${f%.*}.src")" "$out.src"
			WHY=$(same_streams "$out" "$out.src") || { bad "$mode $n" "$WHY"; continue; }
		fi
		ok "$mode $n (exit $rc)"
	done
	if [ "${#modes[@]}" -eq 2 ]; then
		same_output "$tmp/host-$n" "$tmp/kernel-$n" && ok "kernel-equals-host $n" ||
			bad "kernel-equals-host $n" "$WHY"
	fi
done

# 2. Other link types: the streams of the source capture; kernel and host agree.
for f in "$C"/null*.pcap "$C"/loop*.pcap "$C"/ipv4.pcap "$C"/ipv6.pcap; do
	[ -f "$f" ] || continue
	n=$(basename "$f")
	for mode in "${modes[@]}"; do
		out=$tmp/$mode-$n
		replay "$mode" "$f" "$out"
		[ "$RC" -eq 0 ] && [ ! -s "$out.err" ] ||
			{ bad "$mode $n" "exit $RC: $(head -c 200 "$out.err" | tr '\n' '|')"; continue; }
		replay "$mode" "$PCAPS/$(cat "${f%.*}.src")" "$out.src"
		WHY=$(same_streams "$out" "$out.src") && ok "$mode $n (streams of $(cat "${f%.*}.src"))" ||
			bad "$mode $n" "$WHY"
	done
	if [ "${#modes[@]}" -eq 2 ]; then
		same_output "$tmp/host-$n" "$tmp/kernel-$n" && ok "kernel-equals-host $n" ||
			bad "kernel-equals-host $n" "$WHY"
	fi
done

# 3. ~64 KiB segments: both directions byte for byte in -o and -j; through the kernel also
# with a ring that holds one record.
big_modes=("${modes[@]}")
[ "${#modes[@]}" -eq 2 ] && big_modes+=(kernel-ring128k)
for f in "$C"/big-*.pcap; do
	[ -f "$f" ] || continue
	n=$(basename "$f")
	for mode in "${big_modes[@]}"; do
		out=$tmp/$mode-$n
		replay "$mode" "$f" "$out"
		[ "$RC" -eq 0 ] || { bad "$mode $n" "exit $RC: $(head -c 200 "$out.err")"; continue; }
		c2s=$out.d/198.018.000.001.40000-198.018.000.002.08080
		s2c=$out.d/198.018.000.002.08080-198.018.000.001.40000
		if ! cmp -s "$c2s" "$C/big.c2s" || ! cmp -s "$s2c" "$C/big.s2c"; then
			bad "$mode $n" "-o: $(stat -c %s "$c2s" "$s2c" 2>&1 | tr '\n' ' ')bytes, want $(stat -c %s "$C/big.c2s" "$C/big.s2c" | tr '\n' ' ')"
			continue
		fi
		WHY=$(python3 - "$out.json" "$C/big.c2s" "$C/big.s2c" <<'EOF'
import base64, json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
c2s, s2c = open(sys.argv[2], 'rb').read(), open(sys.argv[3], 'rb').read()
if len(objs) != 1:
    print(f'{len(objs)} streams, want 1')
elif base64.b64decode(objs[0]['inbound']) != c2s or base64.b64decode(objs[0]['outbound']) != s2c:
    print('-j inbound/outbound differ from what was sent')
else:
    sys.exit(0)
sys.exit(1)
EOF
) && ok "$mode $n (64 KiB segments byte for byte)" || bad "$mode $n" "$WHY"
	done
	if [ "${#modes[@]}" -eq 2 ]; then
		same_output "$tmp/host-$n" "$tmp/kernel-$n" && ok "kernel-equals-host $n" ||
			bad "kernel-equals-host $n" "$WHY"
		same_output "$tmp/host-$n" "$tmp/kernel-ring128k-$n" &&
			ok "kernel-ring128k-equals-host $n" || bad "kernel-ring128k-equals-host $n" "$WHY"
	fi
done

# 4. Not a capture file at all: a directory, a missing file, an unreadable file.
for mode in "${modes[@]}"; do
	for f in "$C" "$tmp/no-such-file.pcap"; do
		WHY=
		out=$tmp/$mode-$(basename "$f")-notfile
		replay "$mode" "$f" "$out"
		[ "$RC" -eq 1 ] && sane_exit "$f" "$out" && ok "$mode $(basename "$f") (exit 1, one line)" ||
			bad "$mode $(basename "$f")" "${WHY:-exit $RC}"
	done
done
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	# a copy of the binary that nobody can run; a file that nobody can read
	mkdir -p "$tmp/nobody" && chmod 755 "$tmp" "$tmp/nobody"
	cp "$XS" "$tmp/nobody/xdp-sniff" && chmod 755 "$tmp/nobody/xdp-sniff"
	echo secret >"$tmp/nobody/unreadable.pcap" && chmod 600 "$tmp/nobody/unreadable.pcap"
	out=$tmp/nobody/run
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$tmp/nobody/xdp-sniff" replay "$tmp/nobody/unreadable.pcap" -q -j \
		>"$out.json" 2>"$out.err"
	RC=$?
	WHY=
	[ "$RC" -eq 1 ] && sane_exit "$tmp/nobody/unreadable.pcap" "$out" &&
		grep -q 'Permission denied' "$out.err" && ok "unreadable file as nobody (exit 1, one line)" ||
		bad "unreadable file as nobody" "${WHY:-exit $RC: $(head -c 200 "$out.err")}"
else
	skp unreadable "needs root and setpriv to run as another user"
fi
# 5. --ring-size that cannot hold the largest record, or is not a power of two: a usage error
# (exit 2), one line naming the value; nothing is replayed.
for v in 64K 100K 2G 3M abc; do
	"$XS" replay "$C/big-eth.pcap" --ring-size "$v" -q -j >"$tmp/ring.out" 2>"$tmp/ring.err"
	rc=$?
	if [ "$rc" -eq 2 ] && [ "$(grep -c . "$tmp/ring.err")" -eq 1 ] &&
		grep -qF -- "'$v'" "$tmp/ring.err" && [ ! -s "$tmp/ring.out" ]; then
		ok "ring-size-bad $v (exit 2, one line)"
	else
		bad "ring-size-bad $v" "exit $rc: $(head -c 200 "$tmp/ring.err" | tr '\n' '|')"
	fi
done
finish
