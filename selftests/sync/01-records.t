#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/sync/01-records.t - the etcd sync's record format on its own
# (userspace/podlaned/sync/records.c): every record kind's key and value decoded, good and bad,
# each bad one with the reason its dead letter shows; this node's records encoded and stamped.
# build/selftests/test_sync_records prints the TAP; it links records.c without the agent, as a
# fuzzing harness will. No root needed.
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/test_sync_records

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 0; }
exec timeout 60 "$bin"
