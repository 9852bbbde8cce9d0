#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# tcpdump filter expressions (issue 16), proved against tcpdump itself:
#  - every expression of expressions.txt against every Ethernet capture of the shared test
#    captures, on the host path and (as root) on --kernel through BPF_PROG_TEST_RUN: the
#    frames -w writes are those tcpdump -r FILE -w EXPRESSION writes, frame by frame
#    (compare.py), and an expression tcpdump refuses is refused with exit 2;
#  - a syntax error is libpcap's message, exit 2; an expression too large says its size and
#    the limit, exit 2; nothing is written then;
#  - -F FILE is the same expression as on the command line; both at once is a usage error;
#  - -a/-p are ANDed with the expression (and speak of TCP only);
#  - --packets prints a line for every frame the expression matched, UDP and ARP included.
set -u
. "$(dirname "$0")/../replay/lib.sh"

HERE=tests/filter_expr
MIXED=$PCAPS/xs__mixed-arp-icmp-udp-frag-v6.pcap
[ -d "$PCAPS" ] || { skp filter-expr "no $PCAPS (the shared test captures)"; finish; }
command -v tcpdump >/dev/null || { skp filter-expr "no tcpdump (scripts/deps.sh installs it)"; finish; }

# frames CAP: the records of a pcap as "time caplen len" lines and the bytes, for cmp
frames() { tcpdump -r "$1" -nn -tt -xx 2>/dev/null; }

# the table: both paths (the kernel one as root)
paths=--host-only
[ "$(id -u)" -eq 0 ] && paths=
out=$(python3 "$HERE/compare.py" "$XS" "$PCAPS" "$HERE/expressions.txt" "$tmp" $paths)
rc=$?
printf '%s\n' "$out" | grep -v '^note:' | sed 's/^/  /'
case $rc in
0) ok "table ($(printf '%s\n' "$out" | tail -n1 | sed 's/:.*//'))" ;;
77) skp table "no Ethernet capture in $PCAPS" ;;
*) bad table "$(printf '%s\n' "$out" | grep -c '^FAIL') expressions differ from tcpdump" ;;
esac
[ "$(id -u)" -eq 0 ] || skp table-kernel "not root: BPF_PROG_TEST_RUN needs CAP_BPF"

[ -f "$MIXED" ] || { skp cli "no $MIXED"; finish; }
kernel=
[ "$(id -u)" -eq 0 ] && kernel=--kernel

# a syntax error: libpcap's words, exit 2, no file
"$XS" replay "$MIXED" -w "$tmp/bad.pcap" 'tcp port' 2>"$tmp/bad.err"
rc=$?
if [ $rc -eq 2 ] && grep -q "syntax error" "$tmp/bad.err" && [ ! -e "$tmp/bad.pcap" ] &&
	[ "$(wc -l <"$tmp/bad.err")" -eq 1 ]; then
	ok "syntax-error ($(cat "$tmp/bad.err"))"
else
	bad syntax-error "exit $rc, want 2 and libpcap's message: $(cat "$tmp/bad.err")"
fi
"$XS" replay "$MIXED" 'host nosuchhost.invalid' 2>"$tmp/bad.err"
rc=$?
[ $rc -eq 2 ] && grep -q "nosuchhost" "$tmp/bad.err" && ok "unknown-host (exit 2)" ||
	bad unknown-host "exit $rc: $(cat "$tmp/bad.err")"

# too large: 2100 byte tests compile to more than 4096 classic instructions
big=$(python3 -c 'print(" or ".join("ip[%d]=%d" % (i % 250, i // 250) for i in range(2100)))')
"$XS" replay "$MIXED" $kernel -w "$tmp/big.pcap" "$big" 2>"$tmp/big.err"
rc=$?
if [ $rc -eq 2 ] && grep -Eq "too large: [0-9]+ classic BPF instructions \(the limit is 4096\)" \
	"$tmp/big.err" && [ ! -e "$tmp/big.pcap" ]; then
	ok "too-large ($(cut -c1-120 "$tmp/big.err"))"
else
	bad too-large "exit $rc, want 2 with the size and the limit: $(cut -c1-200 "$tmp/big.err")"
fi

# -F FILE: the same frames as the operands; both at once: exit 2
printf 'udp\n  or arp\n' >"$tmp/expr.txt"
"$XS" replay "$MIXED" $kernel -q -w "$tmp/f.pcap" -F "$tmp/expr.txt" 2>"$tmp/f.err"
"$XS" replay "$MIXED" $kernel -q -w "$tmp/o.pcap" udp or arp 2>>"$tmp/f.err"
if [ -s "$tmp/f.pcap" ] && cmp -s <(frames "$tmp/f.pcap") <(frames "$tmp/o.pcap") &&
	[ "$(frames "$tmp/f.pcap" | grep -c '^[0-9]')" -gt 0 ]; then
	ok "-F-file ($(tcpdump -r "$tmp/f.pcap" 2>/dev/null | wc -l) frames)"
else
	bad -F-file "-F and the operands disagree: $(cat "$tmp/f.err")"
fi
"$XS" replay "$MIXED" -F "$tmp/expr.txt" tcp 2>"$tmp/f2.err"
rc=$?
[ $rc -eq 2 ] && grep -q -- "-F" "$tmp/f2.err" && ok "-F-and-operands (exit 2)" ||
	bad -F-and-operands "exit $rc: $(cat "$tmp/f2.err")"

# -a/-p ANDed: -p 80 with 'tcp' is 'tcp port 80'; with 'udp' it is nothing
HTTP=$PCAPS/pcapplusplus__three_http_streams.pcap
"$XS" replay "$HTTP" $kernel -q -w "$tmp/and.pcap" -p 80 tcp 2>/dev/null
tcpdump -r "$HTTP" -w "$tmp/and.want.pcap" 'tcp port 80' 2>/dev/null
[ "$(frames "$tmp/and.want.pcap" | grep -c '^[0-9]')" -gt 0 ] &&
	cmp -s <(frames "$tmp/and.pcap") <(frames "$tmp/and.want.pcap") &&
	ok "and-port ($(tcpdump -r "$tmp/and.pcap" 2>/dev/null | wc -l) frames)" ||
	bad and-port "-p 80 tcp is not tcpdump's 'tcp port 80'"
"$XS" replay "$MIXED" $kernel -q -w "$tmp/and2.pcap" -p 53 udp 2>/dev/null
n=$(tcpdump -r "$tmp/and2.pcap" 2>/dev/null | wc -l)
[ "$n" -eq 0 ] && ok "and-port-udp (-p speaks of TCP: 0 frames)" ||
	bad and-port-udp "-p 53 udp delivered $n frames"

# --packets: a line for UDP and ARP frames too
"$XS" replay "$MIXED" $kernel --packets 'udp or arp' >"$tmp/lines.txt" 2>/dev/null
want=$(tcpdump -r "$MIXED" -nn 'udp or arp' 2>/dev/null | wc -l)
got=$(grep -c ' in  ' "$tmp/lines.txt")
if [ "$got" -eq "$want" ] && grep -q 'proto 17' "$tmp/lines.txt" &&
	grep -q 'ethertype 0x0806' "$tmp/lines.txt"; then
	ok "packet-lines ($got lines, as tcpdump's $want)"
else
	bad packet-lines "$got lines, tcpdump $want: $(head -3 "$tmp/lines.txt")"
fi

# without an expression nothing changes: TCP only
"$XS" replay "$MIXED" $kernel -q -w "$tmp/none.pcap" 2>/dev/null
tcpdump -r "$MIXED" -w "$tmp/none.want.pcap" tcp 2>/dev/null
cmp -s <(frames "$tmp/none.pcap") <(frames "$tmp/none.want.pcap") &&
	ok "no-expression-tcp-only" || bad no-expression-tcp-only "-w without an expression is not tcpdump's 'tcp'"
finish
