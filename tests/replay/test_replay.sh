#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Replay of the shared test captures:
#  - every capture replays with exit 0 and no signal, through the kernel and the host build;
#  - the kernel (BPF_PROG_TEST_RUN) and the host build give identical output;
#  - every stream tshark reassembles without missing segments is byte-identical to ours
#    (--overlap first, tshark's rule);
#  - where the seed's TCPStream.reassemble() returns a stream, -j gives the same bytes;
#  - -o files equal tcpflow's on the captures both read the same way.
set -u
. "$(dirname "$0")/lib.sh"

if [ ! -d "$PCAPS" ]; then
	skp replay "no $PCAPS (the shared test captures are not here)"
	finish
fi
kernel=1
if [ "$(id -u)" -ne 0 ]; then
	kernel=0
	skp kernel-replay "not root: BPF_PROG_TEST_RUN needs CAP_BPF; only the host build is tested"
fi

for f in "$PCAPS"/*.pcap "$PCAPS"/*.pcapng; do
	n=$(basename "$f")
	# 1. both paths, every output at once; no crash, same output
	for mode in host kernel; do
		[ $mode = kernel ] && [ $kernel = 0 ] && continue
		extra=()
		[ $mode = kernel ] && extra=(--kernel)
		"$XS" replay "$f" "${extra[@]}" -j -o "$tmp/$mode-$n.d" -w "$tmp/$mode-$n.pcap" \
			>"$tmp/$mode-$n.json" 2>"$tmp/$mode-$n.err"
		rc=$?
		if [ $rc -ne 0 ]; then
			bad "replay-$mode $n" "exit $rc: $(tail -1 "$tmp/$mode-$n.err")"
			continue
		fi
		tcpdump -nr "$tmp/$mode-$n.pcap" >/dev/null 2>&1 || bad "pcap-$mode $n" "tcpdump cannot read our pcap"
		# the host build has no ring: its summary must not speak of one
		[ $mode = host ] && grep -q 'ring' "$tmp/$mode-$n.err" &&
			bad "host-summary $n" "the host build's summary speaks of a ring: $(grep ring "$tmp/$mode-$n.err" | head -1)"
	done
	if [ $kernel = 1 ]; then
		if cmp -s "$tmp/host-$n.json" "$tmp/kernel-$n.json" &&
			diff -r "$tmp/host-$n.d" "$tmp/kernel-$n.d" >/dev/null 2>&1 &&
			cmp -s "$tmp/host-$n.pcap" "$tmp/kernel-$n.pcap" &&
			diff <(grep -v '^xdp-sniff' "$tmp/host-$n.err" |
				sed 's/seen by the host build of the program/seen by the kernel program/') \
				<(grep -v -e '^xdp-sniff' -e '^0 packets dropped because the ring was full' \
					"$tmp/kernel-$n.err" |
					sed 's/ through the ring$/ handed over in memory/') >/dev/null; then
			ok "kernel-equals-host $n"
		else
			bad "kernel-equals-host $n" "kernel and host replay differ"
		fi
	fi
	# 2. tshark
	if command -v tshark >/dev/null; then
		if out=$(python3 tests/replay/compare_tshark.py "$XS" "$f" 2>&1); then
			ok "tshark $n ($(echo "$out" | tail -1 | cut -d: -f2-))"
		else
			bad "tshark $n" "$(echo "$out" | grep -v ': same' | tr '\n' ' ')"
		fi
	fi
done
command -v tshark >/dev/null || skp tshark "tshark is not installed"

# 3. the seed (classic Ethernet pcap files: the seed reads Ethernet frames only)
if [ -f ../shared/seed/sniff.py ] && python3 -c 'import typing_extensions' 2>/dev/null; then
	for f in "$PCAPS"/*.pcap; do
		n=$(basename "$f")
		if out=$(python3 tests/replay/seed_compare.py "$XS" ../shared/seed "$f" 2>&1); then
			ok "seed $n ($(echo "$out" | tail -1 | cut -d: -f2-))"
		else
			bad "seed $n" "$(echo "$out" | tr '\n' ' ')"
		fi
	done
else
	skp seed "../shared/seed/sniff.py or python3's typing_extensions is missing"
fi

# 4. tcpflow, on the captures it reads as we do (it names VLAN flows with --VLAN, reads no
# PPPoE and no SLL2, and differs on retransmitted/overlapping and wrapped data)
if command -v tcpflow >/dev/null; then
	for n in chrissanders__http_google.pcapng chrissanders__http_ip4and6.pcapng \
		pcapplusplus__nanosecs_big_endian.pcap pcapplusplus__one_ipv6_http_stream.pcap \
		tcpdump__tcp-handshake-nano.pcap tcpflow__test1.pcap zeek__http_get.pcap \
		zeek__http_get_nosyn.pcap zeek__tcp_payload-syn.pcap \
		zeek__tcp_syn-then-stuff-then-rst.pcap zeek__tcp_tcp-fast-open.pcap; do
		[ -f "$PCAPS/$n" ] || continue
		rm -rf "$tmp/tf" "$tmp/xs"
		mkdir -p "$tmp/tf"
		(cd "$tmp/tf" && tcpflow -r "$OLDPWD/$PCAPS/$n" -o . >/dev/null 2>&1)
		rm -f "$tmp/tf/report.xml"
		"$XS" replay "$PCAPS/$n" -q -o "$tmp/xs" >/dev/null 2>&1
		mkdir -p "$tmp/xs"
		if diff -r "$tmp/xs" "$tmp/tf" >/dev/null; then
			ok "tcpflow $n ($(ls "$tmp/tf" | wc -l) files)"
		else
			bad "tcpflow $n" "$(diff -rq "$tmp/xs" "$tmp/tf" | head -2 | tr '\n' ' ')"
		fi
	done
else
	skp tcpflow "tcpflow is not installed"
fi

finish
