#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the libFuzzer harnesses and runs each for FUZZ_SECONDS (default 60).
# Corpora start from the frames of the test captures in ../shared/testdata/pcaps (fuzz_replay,
# the capture-file front end, from the capture files themselves).
# A crash leaves its input in build/fuzz/crashes/ and fails the run.
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-60}
out=build/fuzz
mkdir -p "$out/crashes"
CLANG=${CLANG:-clang}
CF="-g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser -I${BUILD:-build} -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"

if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long s){return 0;}' |
	$CLANG -x c -fsanitize=fuzzer - -o "$out/probe" 2>/dev/null; then
	echo "skip fuzz: clang cannot build libFuzzer binaries (install libclang-rt-14-dev)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi

declare -A srcs=(
	[fuzz_decode]="tests/fuzz/fuzz_decode.c user/capture/decode.c user/capture/filter.c user/capture/expr.c user/capture/expr_ebpf.c user/log.c"
)
[ -f tests/fuzz/fuzz_expr.c ] && srcs[fuzz_expr]="tests/fuzz/fuzz_expr.c user/capture/expr_ebpf.c user/log.c"
[ -f tests/fuzz/fuzz_reasm.c ] && srcs[fuzz_reasm]="tests/fuzz/fuzz_reasm.c user/stream/flow.c user/stream/reasm.c user/stream/content.c user/stream/services.c user/sinks/sink.c user/log.c"
[ -f tests/fuzz/fuzz_http.c ] && srcs[fuzz_http]="tests/fuzz/fuzz_http.c user/sinks/http*.c user/stream/community_id.c user/sinks/sink.c user/log.c"
[ -f tests/fuzz/fuzz_tls.c ] && srcs[fuzz_tls]="tests/fuzz/fuzz_tls.c user/sinks/tls.c user/sinks/tls_parse.c user/stream/community_id.c user/sinks/sink.c user/log.c"
[ -f tests/fuzz/fuzz_replay.c ] && srcs[fuzz_replay]="tests/fuzz/fuzz_replay.c $(ls user/*.c user/*/*.c | grep -v -e main.c | tr '\n' ' ')"

# Seed corpus: every frame of every test capture, one file each.
seed=$out/seed
if [ ! -d "$seed" ] && [ -d ../shared/testdata/pcaps ] && command -v python3 >/dev/null; then
	mkdir -p "$seed"
	python3 tests/fuzz/split_frames.py ../shared/testdata/pcaps "$seed" || true
fi

passed=0 failed=0
for name in "${!srcs[@]}"; do
	if ! $CLANG $CF -o "$out/$name" ${srcs[$name]} -lbpf -lxdp -lelf -lz -lpcap -ljansson -lcap -lseccomp -lhttp_parser -lssl -lcrypto 2>"$out/$name.build.log"; then
		echo "FAIL $name: build failed (see $out/$name.build.log)"
		tail -5 "$out/$name.build.log"
		failed=$((failed + 1))
		continue
	fi
	corpus=$out/corpus-$name
	mkdir -p "$corpus"
	dirs=("$corpus")
	if [ "$name" = fuzz_replay ]; then
		# whole capture files, not frames: the test captures themselves
		[ -d ../shared/testdata/pcaps ] &&
			find ../shared/testdata/pcaps -maxdepth 1 -type f \( -name '*.pcap' -o -name '*.pcapng' \) \
				-exec cp -n -t "$corpus" {} + 2>/dev/null
	elif [ "$name" = fuzz_tls ]; then
		# the reassembled directions of the TLS test captures (and the others: not TLS)
		if [ ! -d "$out/seed-tls" ] && [ -x "${XDP_SNIFF:-build/xdp-sniff}" ] && [ -d ../shared/testdata/pcaps ]; then
			for f in ../shared/testdata/pcaps/zeek__tls_*.pcap ../shared/testdata/pcaps/zeek__http_get.pcap; do
				rm -rf "$out/flows"
				"${XDP_SNIFF:-build/xdp-sniff}" replay "$f" --no-kernel -q -o "$out/flows" >/dev/null 2>&1 &&
					python3 tests/fuzz/tls_seeds.py "$out/flows" "$out/seed-tls"
			done
			rm -rf "$out/flows"
		fi
		[ -d "$out/seed-tls" ] && dirs+=("$out/seed-tls")
	elif [ -d "$seed" ]; then
		dirs+=("$seed")
	fi
	if "$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/crashes/$name-" "${dirs[@]}" >"$out/$name.log" 2>&1; then
		runs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$out/$name.log" | grep -o '[0-9]*$')
		echo "ok $name: ${runs:-?} inputs in ${secs}s, no crash"
		passed=$((passed + 1))
	else
		echo "FAIL $name: see $out/$name.log and $out/crashes/"
		grep -a -E 'ERROR|SUMMARY|runtime error' "$out/$name.log" | head -5
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
