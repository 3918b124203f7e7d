#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/datapath/live.t - the tc programs attached to real veths in private namespaces, with
# real traffic (build/selftests/test_live). The binary prints the TAP and cleans up after
# itself (its namespaces die with it); this wrapper checks it can run and bounds its time.
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/test_live

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (namespaces, tc, BPF)"; exit 0; }
for c in ip nsenter ping; do
	command -v "$c" >/dev/null 2>&1 || { echo "1..0 # SKIP needs $c"; exit 0; }
done
exec timeout 120 "$bin" "$@"
