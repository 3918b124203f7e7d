#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/nat.t - the per-packet service path (NodePort DNAT, conntrack, reverse NAT,
# Maglev disruption, CT full/eviction, the XDP early drop) and the conntrack collector through
# BPF_PROG_TEST_RUN. build/selftests/lb/test_lb_nat prints the TAP; it works in a private network
# namespace that dies with it, and its maps are never pinned.
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/lb/test_lb_nat

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (BPF_PROG_TEST_RUN, namespaces)"; exit 0; }
for c in ip sysctl; do
	command -v "$c" >/dev/null 2>&1 || { echo "1..0 # SKIP needs $c"; exit 0; }
done
exec timeout 120 "$bin" "$@"
