#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The README's two set-up commands on a fresh Debian machine: `sudo make check` and
# `sudo make demo` each install the missing packages (scripts/deps.sh) before anything is
# built, and deps.sh names a package for every library the build links and every tool the
# build runs. A fresh machine cannot be made here, so this proves the order make would
# follow (make -n) and the package list against dpkg's own records.
set -u
cd "$(dirname "$0")/../.."
pass=0 fail=0 skip=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

# line of the first match of a pattern in make's dry run (0 when none)
first_line() { grep -n -m1 -E "$2" <<<"$1" | cut -d: -f1; }

for target in check demo; do
	out=$(make -n -B --no-print-directory "$target" 2>&1)
	d=$(first_line "$out" '(^|/)scripts/deps.sh')
	c=$(first_line "$out" '^(clang|cc|gcc) ')
	if [ -z "$d" ]; then
		bad "make $target installs packages" "make -n $target never runs scripts/deps.sh"
	elif [ -z "$c" ]; then
		bad "make $target installs packages" "make -n $target compiles nothing"
	elif [ "$d" -gt "$c" ]; then
		bad "make $target installs packages" "scripts/deps.sh (line $d) runs after the first compiler (line $c)"
	else
		ok "make $target installs packages before building (deps.sh line $d, compiler line $c)"
	fi
done

for cmd in 'sudo make demo' 'sudo make check'; do
	if head -8 README.md | grep -q "^$cmd "; then
		ok "README starts with '$cmd'"
	else
		bad "README starts with '$cmd'" "not among its first lines"
	fi
done

# every -lNAME the Makefile links comes from a package deps.sh installs
if ! command -v dpkg-query >/dev/null; then
	echo "skip deps.sh lists the libraries: not a Debian system"; skip=$((skip + 1))
else
	listed=$(sed -n '/^pkgs=(/,/^)/p' scripts/deps.sh | grep -v '^[[:space:]]*#' | tr -d '()' |
		sed 's/pkgs=//' | tr -s '[:space:]' ' ')
	# a listed package stands for what it depends on too (libpcap-dev is libpcap0.8-dev)
	pkgs=" $listed $(for p in $listed; do dpkg-query -W -f='${Depends} ' "$p" 2>/dev/null; done |
		sed 's/([^)]*)//g; s/[,|]/ /g' | tr -s '[:space:]' ' ' | sed 's/:any//g') "
	libs=$(sed -n 's/^XS_LDLIBS *:= *//p' Makefile)
	for l in $libs; do
		lib=${l#-l}
		so=$(ls /usr/lib/*-linux-gnu/lib"$lib".so /usr/lib/lib"$lib".so 2>/dev/null | head -1)
		if [ -z "$so" ]; then
			bad "library $lib" "lib$lib.so is not installed (run scripts/deps.sh)"
			continue
		fi
		# the -dev package owns the .so link; its name is what deps.sh must list
		dev=$(dpkg -S "$so" 2>/dev/null | head -1 | cut -d: -f1)
		if [ -n "$dev" ] && [[ "$pkgs" == *" $dev "* ]]; then
			ok "library $lib comes from $dev, which deps.sh installs"
		else
			bad "library $lib" "its link lib$lib.so belongs to '${dev:-no package}', which scripts/deps.sh does not list"
		fi
	done
	for tool in clang bpftool tcpdump tshark tcpflow; do
		p=$(dpkg -S "$(readlink -f "$(command -v $tool)")" 2>/dev/null | head -1 | cut -d: -f1)
		if [ -n "$p" ] && [[ "$pkgs" == *" $p "* || "$pkgs" == *" ${p%%-*} "* ]]; then
			ok "tool $tool comes from $p, which deps.sh installs"
		elif [ -z "$p" ]; then
			bad "tool $tool" "not installed (run scripts/deps.sh)"
		else
			# a versioned package pulled in by the one deps.sh names (clang-14 by clang)
			ok "tool $tool comes from $p, pulled in by deps.sh's list"
		fi
	done
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
