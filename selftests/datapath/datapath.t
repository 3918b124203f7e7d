#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/datapath/datapath.t - the table-driven BPF_PROG_TEST_RUN cases of the tc programs
# (build/selftests/test_datapath). The binary prints the TAP itself; this wrapper only decides
# whether it can run at all.
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/test_datapath

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 0; }
if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root (BPF_PROG_TEST_RUN, network namespace)"
	exit 0
fi
command -v ip >/dev/null 2>&1 || { echo "1..0 # SKIP needs ip (iproute2)"; exit 0; }
exec "$bin" "$@"
