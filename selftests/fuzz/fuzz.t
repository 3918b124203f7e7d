#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/fuzz/fuzz.t - each libFuzzer target fuzzed for a short budget (FUZZ_CI_TIME
# CPU seconds, default 12) on a copy of its corpus and regressions, split between one process
# per CPU (two at most) on one shared corpus, so the run takes half the time on CI's two
# cores: no crash, leak, timeout (10 s per input), sanitizer report or broken invariant. What a failure found is printed (report
# and input, base64) for a regression seed. The long run is `make fuzz` (README "Fuzzing").
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

budget=${FUZZ_CI_TIME:-12}
FUZZ_JOBS=$(nproc)
[ "$FUZZ_JOBS" -gt 2 ] && FUZZ_JOBS=2
export FUZZ_JOBS
for t in "${FUZZ_TARGETS[@]}"; do
	require_build "fuzz/fuzz_$t"
done
pl_setup

for t in "${FUZZ_TARGETS[@]}"; do
	fuzz_run "$t" "$PL_TMP/$t" -max_total_time="$(( budget / FUZZ_JOBS ))"
	rc=$?
	ok $rc "$t: fuzzed ${FUZZ_SECS}s, $FUZZ_EXECS executions, $FUZZ_NEW new inputs, no finding"
	[ $rc -eq 0 ] || fuzz_report "$PL_TMP/$t"
done
done_testing
