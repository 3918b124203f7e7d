#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-lb-bpf.sh - cost of the uplink XDP prefilter (bpf/xdp_uplink.bpf.c) per
# frame, measured with BPF_PROG_TEST_RUN: an empty XDP program (the floor: what test_run itself
# costs), the prefilter with an empty deny list, and with PREFIXES (default 100,000) prefixes,
# for a frame that passes and one that is dropped. The variants are interleaved run by run so
# that machine drift hits them alike; each cell is the median of RUNS test_run means of REPEAT
# frames. Pinned to one CPU (taskset) for repeatable figures. Nothing is attached anywhere.
#
# Usage: sudo scripts/bench/bench-lb-bpf.sh [-r RUNS] [-n REPEAT] [-p PREFIXES] [-c CPU]
# Prints a markdown table on stdout.
set -u

RUNS=9
REPEAT=1000000
PREFIXES=100000
CPU=1
while getopts "r:n:p:c:h" opt; do
	case $opt in
	r) RUNS=$OPTARG ;;
	n) REPEAT=$OPTARG ;;
	p) PREFIXES=$OPTARG ;;
	c) CPU=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/lb/test_lb_xdp

die() { echo "bench-lb-bpf: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (BPF_PROG_TEST_RUN)"
[ -x "$bin" ] || die "$bin is not built (run make)"
command -v taskset >/dev/null || die "needs taskset (util-linux)"
[ "$CPU" -lt "$(nproc)" ] || CPU=0

echo "bench-lb-bpf: $RUNS runs x $REPEAT frames, $PREFIXES prefixes, CPU $CPU" >&2
exec taskset -c "$CPU" "$bin" --bench -r "$RUNS" -n "$REPEAT" -p "$PREFIXES"
