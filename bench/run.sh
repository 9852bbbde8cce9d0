#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: every figure is a ratio against a peer measured in the same run.
set -u
cd "$(dirname "$0")/.."
mkdir -p build/bench
CF="-O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Iuser -Ibuild"

echo "== XDP program cost per packet (BPF_PROG_TEST_RUN, against an empty XDP program)"
echo "   command: build/bench/prog_cost ${BENCH_REPEAT:-1000000}"
gcc $CF -o build/bench/prog_cost bench/prog_cost.c user/capture/filter.c user/capture/expr.c \
	user/capture/expr_ebpf.c user/log.c -lbpf -lxdp -lpcap || exit 1
build/bench/prog_cost "${BENCH_REPEAT:-1000000}"

for b in bench/bench_*.sh; do
	[ -f "$b" ] || continue
	echo
	echo "== $(basename "$b" .sh)"
	bash "$b"
done

# the soak: last, the longest (SOAK_SECS, default 20 minutes)
echo
echo "== soak"
bash bench/soak.sh
