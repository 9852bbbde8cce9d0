#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The modes of what the outputs create (-o files and directory, -w, --http-log, --http-bodies
# files and directory), checked with stat after a replay under umask 022:
#  - by default files are 0600 and created directories 0700 (root only when run as root);
#  - --output-mode 0644 gives 0644 files and 0755 directories, 0640 gives 0640 and 0750;
#  - a directory that already exists keeps its mode;
#  - --output-mode with a bad value (not octal, past 0777, without owner read and write) is a
#    usage error: exit 2, one line naming the value.
set -u
. "$(dirname "$0")/lib.sh"
CAP=../shared/testdata/pcaps/pcapplusplus__three_http_streams.pcap

[ -x "$XS" ] || { skp output-mode "$XS is not built (run make)"; finish; }
[ -f "$CAP" ] || { skp output-mode "$CAP is missing (../shared/testdata)"; finish; }
umask 022

# run NAME ARGS...: replay CAP with every file output into $tmp/NAME.*
run()
{
	local name=$1

	shift
	"$XS" replay "$CAP" --no-kernel -q -o "$tmp/$name.o" -w "$tmp/$name.pcap" \
		--http-log "$tmp/$name.http" --http-bodies "$tmp/$name.bodies" "$@" \
		>"$tmp/$name.out" 2>"$tmp/$name.err"
}

# check NAME FILEMODE DIRMODE: every file and created directory of run NAME has that mode.
check()
{
	local name=$1 fm=$2 dm=$3 f m n=0 bad_one=

	for f in "$tmp/$name.pcap" "$tmp/$name.http" "$tmp/$name.o"/* "$tmp/$name.bodies"/*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		m=$(stat -c %a "$f")
		[ "$m" = "$fm" ] || { bad_one="$f is $m, want $fm"; break; }
	done
	for f in "$tmp/$name.o" "$tmp/$name.bodies"; do
		m=$(stat -c %a "$f" 2>/dev/null)
		[ "$m" = "$dm" ] || { bad_one="directory $f is ${m:-missing}, want $dm"; break; }
	done
	if [ -n "$bad_one" ]; then
		bad "output-mode-$name" "$bad_one"
	elif [ "$n" -lt 4 ]; then
		bad "output-mode-$name" "only $n files written; want -w, --http-log, -o and body files"
	else
		ok "output-mode-$name ($n files $fm, directories $dm)"
	fi
}

if run default; then check default 600 700; else bad output-mode-default "exit $?: $(head -c 200 "$tmp/default.err")"; fi
if run m644 --output-mode 0644; then check m644 644 755; else bad output-mode-m644 "exit $?: $(head -c 200 "$tmp/m644.err")"; fi
if run m640 --output-mode 640; then check m640 640 750; else bad output-mode-m640 "exit $?: $(head -c 200 "$tmp/m640.err")"; fi

# an existing -o directory is used as it is
mkdir -m 0711 "$tmp/existing.o"
if run existing && [ "$(stat -c %a "$tmp/existing.o")" = 711 ] &&
	[ "$(stat -c %a "$(ls -d "$tmp/existing.o"/* | head -n 1)")" = 600 ]; then
	ok output-mode-existing-dir-kept
else
	bad output-mode-existing-dir-kept "$(stat -c %a "$tmp/existing.o") $(head -c 200 "$tmp/existing.err")"
fi

for v in 0400 1644 0800 abc 644x '' -0644 0o644; do
	"$XS" replay "$CAP" --no-kernel --output-mode "$v" -o "$tmp/never.o" >/dev/null 2>"$tmp/bad.err"
	rc=$?
	if [ $rc -eq 2 ] && grep -qF -- "--output-mode '$v'" "$tmp/bad.err" && [ ! -e "$tmp/never.o" ]; then
		ok "output-mode-bad '$v'"
	else
		bad "output-mode-bad '$v'" "exit $rc: $(head -c 200 "$tmp/bad.err")"
	fi
done
finish
