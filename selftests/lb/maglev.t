#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/maglev.t - the service LB's selection tables (userspace/lib/maglev.c): Maglev
# balance, weights and disruption, alias-method exactness. build/selftests/lb/test_lb_maglev
# prints the TAP; no root needed.
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/lb/test_lb_maglev

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 0; }
exec timeout 60 "$bin"
