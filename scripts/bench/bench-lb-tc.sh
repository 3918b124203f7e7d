#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-lb-tc.sh - cost of the per-packet service path in the tc programs
# (bpf/lib/nat.h, bpf/lib/conntrack.h), measured with BPF_PROG_TEST_RUN: an empty tc program
# (the floor: what one test run itself costs), tc_from_uplink on a packet to no service, a
# NodePort SYN that opens a new flow (CT miss: Maglev choice, two conntrack inserts, DNAT,
# redirect_peer), a packet of a tracked flow (CT hit) and the backend's reply through
# tc_from_pod (reverse NAT, FIB lookup, redirect); then an empty XDP program, xdp_from_uplink
# on a packet to no service, and its NodePort fast path on the same tracked flow (CT hit, DNAT,
# XDP_REDIRECT), each compared with its own hook's floor. The programs rewrite packets, so
# each run is one fresh packet (repeat = 1) and a cell is the median of SAMPLES runs; the
# variants are interleaved sample by sample. Pinned to one CPU (taskset). Runs in a private
# namespace: nothing is attached anywhere, nothing is pinned.
#
# Usage: sudo scripts/bench/bench-lb-tc.sh [-n SAMPLES] [-c CPU]
# Prints a markdown table on stdout.
set -u

SAMPLES=20001
CPU=1
while getopts "n:c:h" opt; do
	case $opt in
	n) SAMPLES=$OPTARG ;;
	c) CPU=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/lb/test_lb_nat

die() { echo "bench-lb-tc: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (BPF_PROG_TEST_RUN, namespaces)"
[ -x "$bin" ] || die "$bin is not built (run make)"
command -v taskset >/dev/null || die "needs taskset (util-linux)"
[ "$CPU" -lt "$(nproc)" ] || CPU=0

echo "bench-lb-tc: $SAMPLES samples per variant, CPU $CPU" >&2
exec taskset -c "$CPU" "$bin" --bench -n "$SAMPLES"
