# SPDX-License-Identifier: GPL-2.0
# What every replay test script starts with: run from the project root, the binary under
# test (XDP_SNIFF, else build/xdp-sniff), the shared captures, the ok/FAIL/skip counters and
# the summary line tests/run.sh reads, and a temp directory (KEEP_TMP=1 keeps it).
# Sourced as: . "$(dirname "$0")/lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
XS=${XDP_SNIFF:-build/xdp-sniff}
PCAPS=../shared/testdata/pcaps
pass=0 fail=0 skip=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
skp() { echo "skip $1: $2"; skip=$((skip + 1)); }
finish() { echo "$pass passed, $fail failed, $skip skipped"; [ "$fail" -eq 0 ]; exit; }
tmp=$(mktemp -d)
[ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
