#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The command line as a new user meets it (issue 20, items 11, 12, 14-17): only the binary,
# with arguments it must refuse or remark on, and the docs; no namespace, no root, no skip.
# load is given an interface that does not exist: a binary that took the arguments would
# fail to attach, never capture.
#  - usage errors are one line on stderr, exit 2, naming what is wrong and, for a bad value,
#    the values that are good; getopt's own errors too;
#  - a tcpdump expression that libpcap refuses (`load IF tcp port`) is a usage error with
#    libpcap's message (issue 16 made expressions an operand);
#  - -a and -p together: --help says they match the same end, and a note says it at start;
#  - -a with bits set past the prefix length, and -p 0, are refused;
#  - --decode implies --http (documented);
#  - README lists SIGHUP as the man page does; the man page lists --version.
set -u
cd "$(dirname "$0")/../.." || exit 1
XS=${XDP_SNIFF:-build/xdp-sniff}
pass=0 fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# a pcap file with no packet: replay runs it to the end, exit 0
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' \
	>"$tmp/empty.pcap"

# usage NAME 'WORD|WORD...' ARGS...: xdp-sniff ARGS exits 2 with one line on stderr that holds
# every WORD, and writes nothing on stdout
usage() {
	local name=$1 words word rc n

	IFS='|' read -ra words <<<"$2"
	shift 2
	"$XS" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	n=$(grep -c . "$tmp/err")
	if [ $rc -ne 2 ] || [ "$n" -ne 1 ] || [ -s "$tmp/out" ]; then
		bad "$name" "xdp-sniff $*: exit $rc, $n lines on stderr: $(head -c 300 "$tmp/err" | tr '\n' '|')"
		return
	fi
	for word in "${words[@]}"; do
		grep -qF -- "$word" "$tmp/err" ||
			{ bad "$name" "xdp-sniff $*: '$word' not in: $(cat "$tmp/err")"; return; }
	done
	ok "$name"
}

# 11: a tcpdump expression libpcap refuses
usage expr-load "bad filter expression|syntax error" load xsnosuch0 tcp port
usage expr-replay "bad filter expression|syntax error" replay "$tmp/empty.pcap" host
usage two-interfaces "one interface only" load xsnosuch0 xsnosuch1

# 15: host bits past the prefix length; port 0
usage addr-host-bits "10.0.0.1/8|10.0.0.0/8" load xsnosuch0 -a 10.0.0.1/8
usage addr6-host-bits "2001:db8::1/32|2001:db8::/32" replay "$tmp/empty.pcap" -a 2001:db8::1/32
usage port-0 "'0'|1-65535" load xsnosuch0 -p 0
usage port-0-range "'0-1023'|1-65535" replay "$tmp/empty.pcap" -p 0-1023
"$XS" replay "$tmp/empty.pcap" -q -a 10.0.0.0/8 -a 2001:db8::/32 -p 1-1023 >"$tmp/out" 2>&1 &&
	ok network-and-ports-accepted || bad network-and-ports-accepted "$(head -c 300 "$tmp/out")"

# 16: bad values name the good ones; options of the other command are named; getopt's errors
usage direction "--direction|'up'|in, out or both" load xsnosuch0 --direction up
usage xdp-mode "--xdp-mode|'fast'|native, skb or auto" load xsnosuch0 --xdp-mode fast
usage ring-size "--ring-size|'3M'|power of two|4K|1G" load xsnosuch0 --ring-size 3M
usage max-stream-bytes-0 "--max-stream-bytes|'0'|1 to" load xsnosuch0 --max-stream-bytes 0
usage transport "--transport|'xsk'|ring or afxdp" load xsnosuch0 --transport xsk
usage overlap "--overlap|'middle'|last or first" replay "$tmp/empty.pcap" --overlap middle
usage no-kernel-on-load "--no-kernel|replay only" load xsnosuch0 --no-kernel
usage user-on-replay "--user|load only" replay "$tmp/empty.pcap" -Z nobody
usage unknown-long "unknown option '--bogus'" load xsnosuch0 --bogus
usage unknown-short "unknown option '-x'" replay "$tmp/empty.pcap" -x
usage ambiguous "ambiguous option '--max'|--max-streams" load xsnosuch0 --max 5
usage missing-value "--snaplen needs a value" load xsnosuch0 --snaplen
usage flag-with-value "--json takes no value" replay "$tmp/empty.pcap" --json=yes

# 12: -a and -p match the same end: in --help, and a note at start
for cmd in load replay; do
	"$XS" $cmd --help | tr '\n' ' ' | grep -q 'same end, so -a CLIENT -p 80 matches nothing' &&
		ok "same-end-in-$cmd-help" || bad "same-end-in-$cmd-help" "$cmd --help does not say it"
done
"$XS" replay "$tmp/empty.pcap" -a 198.18.0.1 -p 80 >/dev/null 2>"$tmp/err"
[ "$(grep -c 'same end' "$tmp/err")" -eq 1 ] && ok same-end-note ||
	bad same-end-note "no note with -a and -p: $(head -c 300 "$tmp/err" | tr '\n' '|')"
"$XS" replay "$tmp/empty.pcap" -p 80 >/dev/null 2>"$tmp/err"
grep -q 'same end' "$tmp/err" && bad same-end-no-note "a note without -a" || ok same-end-no-note

# 14: --decode implies --http, as --http-bodies does, and says so
"$XS" replay --help | grep -- '--decode' | grep -q 'implies --http' && ok decode-implies-http-help ||
	bad decode-implies-http-help "replay --help: $("$XS" replay --help | grep -- --decode)"
grep -A2 -- '^\.B \\-\\-decode' man/xdp-sniff.8 | grep -q 'implies' && ok decode-implies-http-man ||
	bad decode-implies-http-man "the man page does not say --decode implies --http"

# 17: README's command table has SIGHUP as the man page has; the man page has --version
grep '^| `load ' README.md | grep -q SIGHUP && ok readme-sighup ||
	bad readme-sighup "README's command table: $(grep '^| `load ' README.md)"
grep -q '\\-\\-version' man/xdp-sniff.8 && ok man-version || bad man-version "no --version in man/xdp-sniff.8"
"$XS" load --version | grep -q '^xdp-sniff [0-9]' && ok load-version || bad load-version "load --version"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
