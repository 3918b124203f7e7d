#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/etcd/03-keyidx.t - the sync's endpoint key -> pod IP index (userspace/lib/keyidx.c),
# which resolves etcd delete events (they carry only the key) without asking etcd for the
# previous values: 150,000 keys in about 3 MB, updates, deletes, a random mix checked against
# a plain array. build/selftests/etcd/test_keyidx prints the TAP; no root needed.
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/etcd/test_keyidx

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 0; }
exec timeout 60 "$bin"
