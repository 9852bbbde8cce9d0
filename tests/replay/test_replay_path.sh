#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Which path replay takes (issue 12, fix 4):
#  - by default the host build of the parser and filter, also as root (-v names the path);
#  - --kernel runs the frames through the XDP program (BPF_PROG_TEST_RUN), with the same
#    output; --no-kernel is still accepted and means the host build (it undoes --kernel);
#  - --kernel without CAP_BPF is an error (exit 1, one line naming --kernel), never a quiet
#    host run.
set -u
. "$(dirname "$0")/lib.sh"

CAP=$PCAPS/pcapplusplus__three_http_streams.pcap
[ -f "$CAP" ] || { skp replay-path "no $CAP (the shared test captures)"; finish; }
HOST='through the host build of the parser and filter'
KERNEL='through the kernel XDP program (BPF_PROG_TEST_RUN)'

# path NAME WANT ARGS...: replay CAP -v -j ARGS; the path -v names must contain WANT
path() {
	local name=$1 want=$2 rc

	shift 2
	"$XS" replay "$CAP" -v -j "$@" >"$tmp/$name.json" 2>"$tmp/$name.err"
	rc=$?
	if [ $rc -eq 0 ] && grep -qF "$want" "$tmp/$name.err" && [ -s "$tmp/$name.json" ]; then
		ok "$name ($(id -un): ${want#through the })"
	else
		bad "$name" "exit $rc, want the path '$want': $(grep replaying "$tmp/$name.err")"
	fi
}

path default "$HOST"
path no-kernel "$HOST" --no-kernel
if [ "$(id -u)" -eq 0 ]; then
	path kernel "$KERNEL" --kernel
	path kernel-then-no-kernel "$HOST" --kernel --no-kernel
	cmp -s "$tmp/default.json" "$tmp/kernel.json" && ok "kernel-equals-default" ||
		bad kernel-equals-default "replay and replay --kernel give different -j output"
else
	skp kernel "not root: BPF_PROG_TEST_RUN needs CAP_BPF"
fi

# --kernel without the capabilities: exit 1, one line that names --kernel, no output
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	asuser=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
	cp "$CAP" "$tmp/cap.pcap" && chmod 644 "$tmp/cap.pcap" && chmod 755 "$tmp"
	CAP=$tmp/cap.pcap
else
	asuser=()
fi
if [ "$(id -u)" -ne 0 ] || [ ${#asuser[@]} -gt 0 ]; then
	"${asuser[@]}" "$XS" replay "$CAP" --kernel -j >"$tmp/unpriv.json" 2>"$tmp/unpriv.err"
	rc=$?
	if [ $rc -eq 1 ] && [ "$(grep -c . "$tmp/unpriv.err")" -eq 1 ] &&
		grep -qF -- --kernel "$tmp/unpriv.err" && [ ! -s "$tmp/unpriv.json" ]; then
		ok "kernel-unprivileged (exit 1, one line)"
	else
		bad kernel-unprivileged "exit $rc: $(head -c 200 "$tmp/unpriv.err" | tr '\n' '|')"
	fi
else
	skp kernel-unprivileged "needs setpriv to run as another user"
fi
finish
