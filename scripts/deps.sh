#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install every Debian package that building, testing, benchmarking and the demo need.
# Idempotent: packages already present are not touched, apt is only asked for what is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

pkgs=(
	# build
	make gcc clang llvm libbpf-dev libxdp-dev bpftool libpcap-dev libjansson-dev
	libhttp-parser-dev libmicrohttpd-dev libssl-dev zlib1g-dev libseccomp-dev libcap-dev libelf-dev pkg-config
	libnats-dev
	linux-libc-dev
	# tests
	libcmocka-dev iproute2 ethtool tcpdump tcpflow tshark curl python3 python3-typing-extensions
	xdp-tools netsniff-ng valgrind nats-server openssl systemd
	logrotate
	# load --metrics: a real Prometheus scrapes it and promtool checks the text (test_metrics)
	prometheus
	# benchmarks and demo
	nginx-light wrk libclang-rt-14-dev bc time
	# the soak benchmark's plot
	gnuplot-nox
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]} (run as root: sudo scripts/deps.sh)" >&2
	exit 1
fi

# tshark asks whether non-root users may capture; answer it before it asks.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections

echo "deps: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
