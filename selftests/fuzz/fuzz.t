#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/fuzz/fuzz.t - each libFuzzer target fuzzed for a short budget (FUZZ_CI_TIME
# seconds, default 12) on a copy of its corpus and regressions: no crash, leak, timeout (10 s
# per input), sanitizer report or broken invariant. What a failure found is printed (report
# and input, base64) for a regression seed. The long run is `make fuzz` (README "Fuzzing").
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

budget=${FUZZ_CI_TIME:-12}
for t in "${FUZZ_TARGETS[@]}"; do
	require_build "fuzz/fuzz_$t"
done
pl_setup

for t in "${FUZZ_TARGETS[@]}"; do
	fuzz_run "$t" "$PL_TMP/$t" -max_total_time="$budget"
	rc=$?
	ok $rc "$t: fuzzed ${FUZZ_SECS}s, $FUZZ_EXECS executions, $FUZZ_NEW new inputs, no finding"
	[ $rc -eq 0 ] || fuzz_report "$PL_TMP/$t"
done
done_testing
