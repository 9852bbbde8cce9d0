#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# No leak and no memory error in a replay of every test capture with every output at once
# (-j -o DIR -w FILE), through the host build and, as root, through the kernel; and on
# the error path of a capture cut short. Under valgrind --leak-check=full for a plain
# build; an ASan build (make check SANITIZE=1) cannot run under valgrind and is run
# as it is, with LeakSanitizer on.
set -u
. "$(dirname "$0")/lib.sh"

[ -d "$PCAPS" ] || { skp leaks "no $PCAPS (the shared test captures are not here)"; finish; }
[ -x "$XS" ] || { skp leaks "$XS is not built (run make)"; finish; }

if grep -q __asan_init "$XS" 2>/dev/null; then
	tool=lsan
	run() { ASAN_OPTIONS=detect_leaks=1 "$XS" "$@"; }
elif command -v valgrind >/dev/null; then
	tool=valgrind
	# the exit status of xdp-sniff is kept; 99 says valgrind found something
	run() {
		valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible \
			--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
			--suppressions=tests/replay/valgrind.supp "$XS" "$@"
	}
else
	skp leaks "valgrind is not installed (scripts/deps.sh) and $XS is not an ASan build"
	finish
fi

modes=(host)
if [ "$(id -u)" -eq 0 ]; then
	modes+=(kernel)
else
	skp leaks-kernel "not root: BPF_PROG_TEST_RUN needs CAP_BPF; only the host build is checked"
fi

# check NAME WANT_RC FILE ARGS...: one replay; WANT_RC is the exit status it must give.
check() {
	local name=$1 want=$2 f=$3 rc err=$tmp/$1.err report

	shift 3
	run replay "$f" "$@" -j -o "$tmp/$name.d" -w "$tmp/$name.pcap" >"$tmp/$name.json" 2>"$err"
	rc=$?
	report=$(grep -E '^==[0-9]+==|LeakSanitizer|AddressSanitizer|runtime error' "$err" |
		grep -v 'WARNING: unhandled eBPF' | head -n 4 | tr '\n' '|')
	if [ -n "$report" ] || [ "$rc" -eq 99 ]; then
		bad "$tool $name" "${report:-valgrind reported an error}"
	elif [ "$rc" -ne "$want" ]; then
		bad "$tool $name" "exit status $rc, want $want: $(tail -n 1 "$err")"
	else
		ok "$tool $name"
	fi
	rm -rf "$tmp/$name.d" "$tmp/$name.pcap" "$tmp/$name.json"
}

for f in "$PCAPS"/*.pcap "$PCAPS"/*.pcapng; do
	[ -f "$f" ] || continue
	for mode in "${modes[@]}"; do
		extra=()
		[ "$mode" = kernel ] && extra=(--kernel)
		check "$mode-$(basename "$f")" 0 "$f" "${extra[@]}"
	done
done

# the error path: the largest capture cut in the middle of a record (exit 1, one line)
big=$(ls -S "$PCAPS"/*.pcap | head -n 1)
size=$(stat -c %s "$big")
head -c $((size * 2 / 3)) "$big" >"$tmp/truncated.pcap"
for mode in "${modes[@]}"; do
	extra=()
	[ "$mode" = kernel ] && extra=(--kernel)
	check "$mode-truncated-$(basename "$big")" 1 "$tmp/truncated.pcap" "${extra[@]}"
done
finish
