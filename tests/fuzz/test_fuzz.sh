#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make check's short fuzz run: every harness for FUZZ_SECONDS (default 10) seconds.
FUZZ_SECONDS=${FUZZ_SECONDS:-10} exec "$(dirname "$0")/run.sh"
