#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs the test tiers and sums them up:
# tests/run.sh [all|setup|unit|bpf|replay|filter_expr|e2e|fuzz]...
# Every tier prints what it ran, skipped (and why) or failed; the last line is the total.
# BUILD names the build tree to test (default build; `make check SANITIZE=1` passes
# build/asan); the scripts run the binary named by XDP_SNIFF, by default that tree's.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
XDP_SNIFF=${XDP_SNIFF:-$PWD/$BUILD/xdp-sniff}
export BUILD XDP_SNIFF

passed=0 failed=0 skipped=0
failures=()

# A cmocka binary: count its [  PASSED  ] / [  FAILED  ] / [  SKIPPED ] summary lines.
run_cmocka() {
	local bin=$1 out rc p f s
	out=$("$bin" 2>&1)
	rc=$?
	printf '%s\n' "$out" | grep -E '^\[ *(RUN|OK|FAILED|SKIPPED|PASSED|ERROR) *\]|skipped:|error' | grep -v '^\[ RUN' | sed 's/^/    /' | tail -n 60
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
	s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -n1)
	passed=$((passed + ${p:-0}))
	skipped=$((skipped + ${s:-0}))
	if [ "$rc" -ne 0 ] || [ "${f:-0}" -ne 0 ]; then
		failed=$((failed + ${f:-1}))
		failures+=("$(basename "$bin")")
	fi
}

# A shell test: its last "N passed, M failed[, K skipped]" line.
run_script() {
	local script=$1 out rc line p f s
	out=$(bash "$script" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/    /' | tail -n 80
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n1)
	p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
	f=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	s=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
	passed=$((passed + ${p:-0}))
	skipped=$((skipped + ${s:-0}))
	if [ "$rc" -ne 0 ] || [ "${f:-0}" -ne 0 ] || [ -z "$line" ]; then
		failed=$((failed + ${f:-1}))
		[ "${f:-0}" -eq 0 ] && [ -z "$line" ] && failed=$((failed + 0))
		failures+=("$(basename "$script")")
	fi
}

tier_unit() {
	echo "== unit tests (cmocka)"
	for t in "$BUILD"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		echo "  $(basename "$t")"
		run_cmocka "$t"
	done
}

tier_bpf() {
	echo "== BPF program tests (BPF_PROG_TEST_RUN)"
	for t in "$BUILD"/tests/bpf/test_*; do
		[ -x "$t" ] || continue
		echo "  $(basename "$t")"
		run_cmocka "$t"
	done
}

tier_scripts() {
	local dir=$1 title=$2
	echo "== $title"
	for t in "$dir"/test_*.sh; do
		[ -f "$t" ] || continue
		local t0=$SECONDS
		echo "  $(basename "$t")"
		run_script "$t"
		echo "    ($((SECONDS - t0)) s)"
	done
}

tiers=("$@")
[ ${#tiers[@]} -eq 0 ] && tiers=(all)
for tier in "${tiers[@]}"; do
	case $tier in
	all) tier_scripts tests/setup "set-up (make check/demo install what they need)"; tier_unit; tier_bpf; tier_scripts tests/replay "replay tests (captures vs tshark, tcpflow, the seed)"
	     tier_scripts tests/filter_expr "filter expressions (vs tcpdump)"
	     tier_scripts tests/e2e "end-to-end tests (netns + veth)"; tier_scripts tests/fuzz "fuzz (short runs)";;
	setup) tier_scripts tests/setup "set-up" ;;
	unit) tier_unit ;;
	bpf) tier_bpf ;;
	replay) tier_scripts tests/replay "replay tests" ;;
	filter_expr) tier_scripts tests/filter_expr "filter expressions (vs tcpdump)" ;;
	e2e) tier_scripts tests/e2e "end-to-end tests (netns + veth)" ;;
	fuzz) tier_scripts tests/fuzz "fuzz (short runs)" ;;
	*) echo "unknown tier $tier (all, setup, unit, bpf, replay, filter_expr, e2e, fuzz)" >&2; exit 2 ;;
	esac
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failing: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
