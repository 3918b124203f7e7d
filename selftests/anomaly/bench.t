#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/anomaly/bench.t - scripts/bench/bench-anomaly.sh's quick mode (BENCH_QUICK=1) as
# a smoke test: it runs to the end and prints, for each k, a row per fault kind with a figure
# in every cell. No figure is judged here: performance is the benchmark's business.
# Pure userspace (synthetic series), no root.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

[ -x "$PL_ROOT/scripts/bench/bench-anomaly.sh" ] || skip_all "no scripts/bench/bench-anomaly.sh beside the tests"
require_build selftests/anomaly/anomaly_bench
pl_setup

BENCH_QUICK=1 "$PL_ROOT/scripts/bench/bench-anomaly.sh" > "$PL_TMP/out.md" 2> "$PL_TMP/err"
rc=$?
ok $rc "BENCH_QUICK=1 bench-anomaly.sh exits 0"
[ $rc = 0 ] || diag "$(tail -n 20 "$PL_TMP/err")"
for k in 3 10; do
	rows=$(grep -cE "^\| (cpu \(hog\)|memory \(leak\)|drops \(burst\)) \| [0-9]+ s \([0-9]+ s\)" \
		<(sed -n "/detector k=$k:/,/^Detector cost/p" "$PL_TMP/out.md"))
	[ "$rows" = 3 ]
	ok $? "k=$k: a row for each of the 3 faults, with figures ($rows)"
done
grep -q '^Detector cost: [0-9.]* ns per sample' "$PL_TMP/out.md"
ok $? "the detector's cost per sample is reported"
! grep -E '^\|' "$PL_TMP/out.md" | grep -qE '\| *(n/a|nan|-nan)? *\|'
ok $? "no empty or n/a cell in any table"
grep -E '^\| (cpu|memory|drops)' "$PL_TMP/out.md" | while IFS= read -r l; do diag "$l"; done
done_testing
