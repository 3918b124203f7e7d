#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/xdp.t - the uplink XDP prefilter (bpf/xdp_uplink.bpf.c) through
# BPF_PROG_TEST_RUN with 100,000 deny-listed prefixes. build/selftests/lb/test_lb_xdp prints the
# TAP; its maps are private and it attaches nothing, so there is nothing to clean up.
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/lb/test_lb_xdp

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (BPF_PROG_TEST_RUN)"; exit 0; }
exec timeout 120 "$bin" "$@"
