#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/fuzz/run-fuzz.sh - the long fuzzing run behind `make fuzz`: each libFuzzer target
# one after another on a copy of its corpus, for FUZZ_TIME seconds (default 60) or FUZZ_RUNS
# executions, then fuzz_packets (the BPF programs, as root) for FUZZ_PACKETS frames per
# program (0: not run, e.g. for a second run beside this one). Prints a markdown table (README
# "Fuzzing"); exits 1 on any crash, leak, timeout, sanitizer report or broken invariant, with
# the input kept in build/fuzz/work/<target>/.
#
#   FUZZ_TIME=60 FUZZ_RUNS= FUZZ_TARGETS="service_spec ..." FUZZ_PACKETS=200000
#   FUZZ_TIMEOUT=10  seconds one input may take before it counts as a hang (raise it for a
#                  niced run beside busy work, where starvation alone can take 10 s)
#   FUZZ_JOBS=1    processes per target on one shared corpus (FUZZ_RUNS split between them)
#   FUZZ_MERGE=1   merge what the run grew into selftests/fuzz/corpus/<target>/, minimized
#                  (libFuzzer -merge=1: only inputs that add coverage are added)
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

time_budget=${FUZZ_TIME:-60}
runs=${FUZZ_RUNS:-}
packets=${FUZZ_PACKETS:-200000}
merge=${FUZZ_MERGE:-0}
work_root=$FUZZ_BIN/work
failed=0
rows=()

if [ -n "$runs" ]; then
	budget=(-runs="$(( runs / ${FUZZ_JOBS:-1} ))")
	echo "fuzzing each target for $runs executions (${FUZZ_JOBS:-1} processes)"
else
	budget=(-max_total_time="$time_budget")
	echo "fuzzing each target for $time_budget s"
fi

corpus_size() {
	local d=$FUZZ_SRC/corpus/$1
	echo "$(find "$d" -type f | wc -l) files, $(( ($(du -sb "$d" | cut -f1) + 1023) / 1024 )) KiB"
}

for t in "${FUZZ_TARGETS[@]}"; do
	bin=$(fuzz_bin "$t")
	[ -x "$bin" ] || { echo "run-fuzz: $bin is not built (make)" >&2; exit 1; }
	work=$work_root/$t
	rm -rf "$work"
	echo "== $t"
	if fuzz_run "$t" "$work" "${budget[@]}"; then
		findings=0
	else
		failed=1
		findings="$(ls "$work/artifacts" 2>/dev/null | tr '\n' ' ')"
		findings=${findings:-"exit status only, see $work/log"}
		fuzz_report "$work"
	fi
	if [ "$merge" = 1 ] && [ "$findings" = 0 ]; then
		"$bin" -merge=1 "$FUZZ_SRC/corpus/$t" "$work/corpus" > "$work/merge.log" 2>&1 ||
			{ echo "run-fuzz: merge of $t failed, see $work/merge.log" >&2; failed=1; }
	fi
	rate=$(( FUZZ_EXECS / (FUZZ_SECS > 0 ? FUZZ_SECS : 1) ))
	echo "$t: $FUZZ_EXECS executions in $FUZZ_SECS s ($rate/s), $FUZZ_NEW new inputs," \
		"findings: $findings"
	rows+=("| $t | $FUZZ_EXECS | $FUZZ_SECS | $rate | $FUZZ_NEW | $findings | $(corpus_size "$t") |")
done

pkt_row=""
if [ "$packets" = 0 ]; then
	echo "== packets: not run (FUZZ_PACKETS=0)"
elif [ "$(id -u)" -eq 0 ] && [ -x "$FUZZ_BIN/fuzz_packets" ]; then
	echo "== packets"
	start=$(date +%s)
	"$FUZZ_BIN/fuzz_packets" --count "$packets" > "$work_root/packets.log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	grep -E '^(ok|not ok|#)' "$work_root/packets.log" | tail -n 20
	[ $rc -eq 0 ] || failed=1
	pkt_row="| packets (fuzz_packets, every program) | $(sed -n 's/^# frames run: \([0-9]*\).*/\1/p' \
		"$work_root/packets.log" | tail -n 1) | $secs | | | $([ $rc -eq 0 ] && echo 0 ||
		echo "see $work_root/packets.log") | seeds in fuzz_packets.c |"
else
	echo "== packets: skipped (needs root and build/fuzz/fuzz_packets)"
fi

echo
echo "| target | executions | time (s) | exec/s | new inputs | findings | corpus |"
echo "|---|---:|---:|---:|---:|---|---|"
printf '%s\n' "${rows[@]}"
[ -n "$pkt_row" ] && echo "$pkt_row"
exit $failed
