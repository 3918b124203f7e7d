#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/nat_live.t - a NodePort reached over TCP from a client namespace outside the
# node, end to end through tc_from_uplink and tc_from_pod attached privately
# (build/selftests/lb/test_lb_nat_live). The binary prints the TAP; its namespaces, devices and
# programs die with it.
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/lb/test_lb_nat_live

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (namespaces, tc, BPF)"; exit 0; }
for c in ip nsenter sysctl; do
	command -v "$c" >/dev/null 2>&1 || { echo "1..0 # SKIP needs $c"; exit 0; }
done
exec timeout 120 "$bin" "$@"
