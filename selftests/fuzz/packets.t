#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/fuzz/packets.t - the packet parsers of every tc and XDP program under mutated
# frames (build/fuzz/fuzz_packets, fuzz_packets.c says what it checks): first every frame
# sequence of regressions/packets/ that once broke an invariant, then FUZZ_CI_PACKETS frames
# per program (default 50000) from a fresh seed, printed so a failure can be replayed with
# fuzz_packets --seed. Root (BPF_PROG_TEST_RUN, a private network namespace).
. "$(dirname "$0")/../lib.sh"

require_root
require_build fuzz/fuzz_packets
seed=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
mapfile -t regressions < <(find "$PL_ROOT/selftests/fuzz/regressions/packets" -type f 2>/dev/null |
	sort)
# The binary prints the TAP and exits 0, 1 or 4 (skip) itself.
exec timeout 240 "$PL_BUILD/fuzz/fuzz_packets" --count "${FUZZ_CI_PACKETS:-50000}" \
	--seed "$seed" "${regressions[@]}"
