#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/install-deps.sh - install the Debian packages podlane needs to build, run its demo,
# its tests and its benchmarks. Idempotent: when everything is present it only asks dpkg and
# returns; otherwise it runs `apt-get update` once and installs just what is missing.
# Usage: scripts/install-deps.sh [--check]   (--check: list what is missing, exit 1 if any)
set -eu

pkgs=(
	# build: C toolchain, BPF compiler and skeleton generator, the libraries we link
	build-essential make clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
	libmnl-dev libjson-c-dev pkg-config
	# NetworkPolicy objects as users write them, in YAML (userspace/lib/yaml_json.c)
	libyaml-dev
	# podlaned's Prometheus endpoint (served from its event loop)
	libmicrohttpd-dev
	# run, demo and tests: ip/tc/bridge, the reference CNI plugins (host-local IPAM delegation,
	# portmap chaining, bridge baseline), ping, prove for TAP, python3 for TCP/UDP probes and
	# the live-stream test, jq to read JSON results, procps for sysctl, util-linux for nsenter
	# and taskset
	iproute2 iputils-ping containernetworking-plugins perl python3 jq procps util-linux
	# the reference portmap plugin programs DNAT through the iptables binary (nf_tables backend);
	# nft lets the tests remove only the tables they caused
	iptables nftables
	# podman over CNI in the integration test: runtime, rootfs for an imported image
	podman runc busybox-static
	# the second kernel (selftests/guest): Debian 6.1 under qemu TCG with a busybox initramfs,
	# headers to build podlane.ko against it, and checkpatch.pl from the kernel source tarball
	qemu-system-x86 cpio xz-utils linux-headers-amd64 linux-source-6.1
	# benchmarks: single-stream throughput (iperf3), 1-byte TCP request/response (qperf tcp_lat;
	# sockperf's smallest message is 14 bytes, netperf is not in Debian); ipset for the
	# iptables side of bench-policy.sh (per-policy chains matching ipsets of peer pods)
	iperf3 qperf ipset
	# metrics tests: promtool checks the exposition format, curl scrapes it; perf bench sched
	# pipe is the context-switch workload of the accounting overhead benchmark
	prometheus curl linux-perf
	# control-plane sync: the etcd v3 client (libcurl with OpenSSL) in podlaned, a three-member
	# etcd cluster and etcdctl in selftests/etcd, openssl for the tests' own CA and certificates
	etcd-server etcd-client libcurl4-openssl-dev openssl
	# fuzzing (selftests/fuzz, make fuzz): clang's libFuzzer and sanitizer runtimes
	libclang-rt-14-dev
)

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done

# The guest tests `apt-get download` a kernel package, which needs package lists.
have_lists() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

if [ ${#missing[@]} -eq 0 ]; then
	if ! have_lists && [ "${1:-}" != --check ] && [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq
	fi
	exit 0
fi
if [ "${1:-}" = --check ]; then
	echo "missing: ${missing[*]}"
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
