# SPDX-License-Identifier: GPL-2.0-only
# selftests/fuzz/lib.sh - running podlane's libFuzzer targets, for corpus.t, fuzz.t and
# run-fuzz.sh (make fuzz). Source after selftests/lib.sh.
#
# A target <t> is build/fuzz/fuzz_<t>, built from selftests/fuzz/fuzz_<t>.c. Its inputs in the
# tree: corpus/<t>/ (seeds from the tests plus what long runs grew, merged back minimized),
# regressions/<t>/ (every input that once found a defect, kept after the fix) and
# dict/<t>.dict (with dict/json.dict for JSON targets). A run never writes into the tree: it
# fuzzes a copy of the corpus in a work directory, artifacts (crash-*, leak-*, timeout-*) go
# there too.

FUZZ_SRC=$PL_ROOT/selftests/fuzz
FUZZ_BIN=${FUZZ_BIN:-$PL_BUILD/fuzz}
# Every libFuzzer target, in the order they run (FUZZ_TARGETS="a b" picks some); fuzz_packets
# (the BPF programs) is not one of them.
FUZZ_ALL="service_spec records etcd api genl cni policy policy_compile extender"
read -ra FUZZ_TARGETS <<< "${FUZZ_TARGETS:-$FUZZ_ALL}"

# A sanitizer report ends the process with an error, leaks included; UBSan stops at the first.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

fuzz_bin() { echo "$FUZZ_BIN/fuzz_$1"; }

# A unit that runs longer than this many seconds is a finding (a hang). 10 s is 1,000 times the
# slowest input; a long run beside busy work (niced under a test suite) starves for longer than
# that without hanging (a 0.002 s input took 10 s of wall clock at load 8): raise it there.
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}

# fuzz_inputs <target>: every file of its corpus and regressions, one per line.
fuzz_inputs() {
	find "$FUZZ_SRC/corpus/$1" "$FUZZ_SRC/regressions/$1" -type f 2>/dev/null | sort
}

# fuzz_replay <target> <log>: run each input once (no fuzzing); the status of the target.
fuzz_replay() {
	local t=$1 log=$2 list
	list=$(mktemp)
	fuzz_inputs "$t" > "$list"
	# Files given by name run once each, in one process; nothing is written anywhere.
	xargs -a "$list" -d '\n' "$(fuzz_bin "$t")" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb=2048 \
		> "$log" 2>&1
	local rc=$?
	rm -f "$list"
	return $rc
}

# fuzz_dict <target> <file>: the dictionary of the target (JSON tokens too), into file.
fuzz_dict() {
	local t=$1 out=$2
	: > "$out"
	case $t in
	genl|policy_compile) ;;	# bytes, not JSON
	*) cat "$FUZZ_SRC/dict/json.dict" >> "$out" ;;
	esac
	[ -f "$FUZZ_SRC/dict/$t.dict" ] && cat "$FUZZ_SRC/dict/$t.dict" >> "$out"
	[ -s "$out" ]
}

# fuzz_run <target> <workdir> <libFuzzer budget options...>: fuzz a copy of the corpus (and
# the regressions) in workdir. Sets FUZZ_EXECS, FUZZ_SECS, FUZZ_NEW (inputs that grew the
# corpus) and FUZZ_CORPUS (the grown corpus directory); returns libFuzzer's status (0: no
# crash, leak, timeout or sanitizer report). The log is workdir/log.
fuzz_run() {
	local t=$1 work=$2 start rc dictopt=()
	shift 2
	mkdir -p "$work/corpus" "$work/artifacts"
	FUZZ_CORPUS=$work/corpus
	cp -p "$FUZZ_SRC/corpus/$t/." "$work/corpus/" -R 2>/dev/null
	fuzz_dict "$t" "$work/dict" && dictopt=(-dict="$work/dict")
	local before dirs=("$work/corpus")
	[ -d "$FUZZ_SRC/regressions/$t" ] && dirs+=("$FUZZ_SRC/regressions/$t")
	before=$(find "$work/corpus" -type f | wc -l)
	start=$(date +%s%N)
	# New inputs go to the first directory only: the copy, never the tree. With FUZZ_JOBS=N,
	# N processes share that corpus (each reloads what the others add) and each runs the
	# budget given (the caller divides -runs); logs are log, log.1, ...
	local j pids=() log
	for (( j = 0; j < ${FUZZ_JOBS:-1}; j++ )); do
		log=$work/log; [ "$j" -gt 0 ] && log=$work/log.$j
		"$(fuzz_bin "$t")" "$@" "${dictopt[@]}" -timeout="$FUZZ_TIMEOUT" \
			-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
			"${dirs[@]}" > "$log" 2>&1 &
		pids+=($!)
	done
	rc=0
	for j in "${pids[@]}"; do
		wait "$j" || rc=$?
	done
	FUZZ_SECS=$(( ($(date +%s%N) - start) / 1000000000 ))
	FUZZ_EXECS=$(cat "$work"/log "$work"/log.* 2>/dev/null |
		sed -n 's/^stat::number_of_executed_units: *//p' | awk '{ n += $1 } END { print n + 0 }')
	FUZZ_NEW=$(( $(find "$work/corpus" -type f | wc -l) - before ))
	return $rc
}

# fuzz_report <workdir>: what a failed run found, as TAP diagnostics: the report and the input.
fuzz_report() {
	local work=$1 a
	grep -aE "ERROR|SUMMARY|fuzz: |runtime error|Assertion|#[0-9]+ .* in .*(userspace|selftests)/" \
		"$work"/log "$work"/log.* 2>/dev/null | head -n 30 | sed 's/^/# /'
	for a in "$work"/artifacts/*; do
		[ -f "$a" ] || continue
		diag "input $(basename "$a") ($(stat -c %s "$a") bytes), base64:"
		base64 -w 96 "$a" | head -n 20 | sed 's/^/#   /'
	done
}
