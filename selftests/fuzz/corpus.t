#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/fuzz/corpus.t - the replay: every input of each libFuzzer target's corpus
# (selftests/fuzz/corpus/<target>/) and every input that once found a defect
# (regressions/<target>/) through the target once, under ASan and UBSan with leak detection.
# Any crash, leak, sanitizer report or broken invariant fails the target. No root needed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

for t in "${FUZZ_TARGETS[@]}"; do
	require_build "fuzz/fuzz_$t"
done
pl_setup

for t in "${FUZZ_TARGETS[@]}"; do
	n=$(fuzz_inputs "$t" | wc -l)
	r=$(find "$FUZZ_SRC/regressions/$t" -type f 2>/dev/null | wc -l)
	if [ "$n" -eq 0 ]; then
		ok 1 "$t: has a corpus"
		continue
	fi
	fuzz_replay "$t" "$PL_TMP/$t.log"
	rc=$?
	ok $rc "$t: $n inputs replayed ($r of them regressions), no crash, leak or report"
	[ $rc -eq 0 ] || grep -E 'Running:|ERROR|SUMMARY|fuzz: |runtime error' "$PL_TMP/$t.log" |
		tail -n 20 | sed 's/^/# /'
done
done_testing
