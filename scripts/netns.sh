#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# A test host in a network namespace, reached over a veth pair whose capturing end
# stays in the root namespace (where bpffs is at /sys/fs/bpf).
#
#   root namespace                        namespace xs-TAG-s
#   xsTAGr 198.18.N.1/24  <--- veth --->  xsTAGn 198.18.N.2/24
#          2001:2:0:N::1/64                      2001:2:0:N::2/64
#
# Only addresses from 198.18.0.0/15 and the IPv6 benchmarking prefix 2001:2::/48
# (RFC 5180) are used, N is a /24 that no interface of the machine has yet, and no
# real interface or sysctl is touched.
#
# Sourced (by tests/e2e/lib.sh, scripts/demo.sh, bench/): xs_netns_up TAG sets
#   XS_NS XS_IF XS_IF_PEER XS_NET4 XS_HOST4 XS_SRV4 XS_NET6 XS_HOST6 XS_SRV6
# and xs_netns_down TAG removes everything TAG made.
# Run:    scripts/netns.sh up TAG    prints those variables as shell assignments
#         scripts/netns.sh down TAG  removes the namespace and the veth pair

# A /24 in 198.18.0.0/16 that no address or route of this machine uses yet.
xs_netns_pick_net()
{
	local tag=$1 i n

	for i in $(seq 0 249); do
		n=$(( (tag + i) % 250 + 1 ))
		[ -z "$(ip -o -4 addr show to "198.18.$n.0/24" 2>/dev/null)" ] || continue
		[ -z "$(ip -4 route show to match "198.18.$n.1" 2>/dev/null | grep -v '^default')" ] ||
			continue
		echo "$n"
		return 0
	done
	return 1
}

# The names TAG's namespace and interfaces get; TAG is short (a pid, a word).
xs_netns_names()
{
	XS_NS="xs-$1-s"
	XS_IF="xs$1r"
	XS_IF_PEER="xs$1n"
	if [ "${#XS_IF}" -gt 15 ]; then
		echo "netns.sh: tag '$1' is too long for an interface name" >&2
		return 1
	fi
}

xs_netns_up()
{
	local tag=$1 n

	xs_netns_names "$tag" || return 1
	n=$(xs_netns_pick_net "$((10#0${tag//[!0-9]/}))") || {
		echo "netns.sh: no free /24 left in 198.18.0.0/16" >&2
		return 1
	}
	XS_NET4="198.18.$n"
	XS_HOST4="$XS_NET4.1"
	XS_SRV4="$XS_NET4.2"
	XS_NET6="2001:2:0:$n"
	XS_HOST6="$XS_NET6::1"
	XS_SRV6="$XS_NET6::2"

	ip netns add "$XS_NS" || return 1
	ip link add "$XS_IF" type veth peer name "$XS_IF_PEER" || return 1
	ip link set "$XS_IF_PEER" netns "$XS_NS" || return 1
	ip addr add "$XS_HOST4/24" dev "$XS_IF" || return 1
	ip link set "$XS_IF" up || return 1
	ip -n "$XS_NS" link set lo up || return 1
	ip -n "$XS_NS" addr add "$XS_SRV4/24" dev "$XS_IF_PEER" || return 1
	ip -n "$XS_NS" link set "$XS_IF_PEER" up || return 1
	# IPv6 is optional: a machine with IPv6 disabled still gets the IPv4 host
	XS_HAVE_V6=0
	if ip addr add "$XS_HOST6/64" dev "$XS_IF" nodad 2>/dev/null &&
	   ip -n "$XS_NS" addr add "$XS_SRV6/64" dev "$XS_IF_PEER" nodad 2>/dev/null; then
		XS_HAVE_V6=1
	fi
	export XS_NS XS_IF XS_IF_PEER XS_NET4 XS_HOST4 XS_SRV4 XS_NET6 XS_HOST6 XS_SRV6 XS_HAVE_V6
}

# Removes the namespace (after killing what still runs in it: only TAG's own
# processes can be there) and the veth pair. Safe to call twice.
xs_netns_down()
{
	local pids

	xs_netns_names "$1" || return 1
	if ip netns list 2>/dev/null | grep -qw "^$XS_NS"; then
		pids=$(ip netns pids "$XS_NS" 2>/dev/null)
		# shellcheck disable=SC2086
		[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
		ip netns del "$XS_NS" 2>/dev/null
	fi
	ip link del "$XS_IF" 2>/dev/null
	return 0
}

# Polls until the namespace has a TCP listener on PORT, for up to SECONDS.
xs_netns_wait_listen()
{
	local port=$1 secs=${2:-10} end

	end=$(( $(date +%s%N) + secs * 1000000000 ))
	while [ "$(date +%s%N)" -lt "$end" ]; do
		ip netns exec "$XS_NS" ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-} ${2:-}" in
	"up "?*)
		xs_netns_up "$2" || { xs_netns_down "$2"; exit 1; }
		for v in XS_NS XS_IF XS_IF_PEER XS_NET4 XS_HOST4 XS_SRV4 XS_NET6 XS_HOST6 XS_SRV6 \
			 XS_HAVE_V6; do
			printf '%s=%q\n' "$v" "${!v}"
		done
		;;
	"down "?*)
		xs_netns_down "$2"
		;;
	*)
		echo "usage: $0 up TAG | down TAG" >&2
		exit 2
		;;
	esac
fi
