#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/sanitize/reports.t - the sanitized pass catches what it is there to catch. With the
# options selftests/run.sh gives a sanitized run (ASAN_OPTIONS, UBSAN_OPTIONS; here with
# log_path in this test's own directory, so its planted reports do not fail the run):
# san_canary's heap read past the end (ASan), signed overflow (UBSan) and lost allocation
# (LeakSanitizer) each end the process with an error status and exactly one report, in the
# report directory and not on stderr; no bug, no report. Then selftests/prove-exec.sh fails a
# test that claims to pass while a report appears, and passes the same test without one.
# Only on a sanitized build (PL_BUILD=build-san); no root needed.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

canary=$PL_BUILD/selftests/sanitize/san_canary
[ -s "$PL_BUILD/sanitize" ] ||
	skip_all "$PL_BUILD is not a sanitized build (make SANITIZE=address,undefined;" \
		"PL_BUILD=build-san selftests/run.sh sanitize)"
[ -x "$canary" ] || skip_all "$canary is not built (run make SANITIZE=address,undefined)"
if [ -z "${ASAN_OPTIONS:-}" ] || [ -z "${UBSAN_OPTIONS:-}" ]; then
	skip_all "no ASAN_OPTIONS/UBSAN_OPTIONS: run it through selftests/run.sh"
fi
pl_setup
T=$PL_TMP

# san_env <report-prefix>: the run's sanitizer options, with log_path=<report-prefix>.
san_env() {
	local a u
	a=$(sed "s|log_path=[^:]*|log_path=$1|" <<< "$ASAN_OPTIONS")
	u=$(sed "s|log_path=[^:]*|log_path=$1|" <<< "$UBSAN_OPTIONS")
	SAN_ENV=("ASAN_OPTIONS=$a" "UBSAN_OPTIONS=$u")
}

# One bug of each kind: <kind> <exit status> <what the report says>.
while read -r kind want_rc want; do
	mkdir -p "$T/$kind"
	san_env "$T/$kind/report"
	# (In braces: bash's own "Aborted" line for the UBSan case goes with them.)
	{ env "${SAN_ENV[@]}" "$canary" "$kind" 2> "$T/$kind.err"; } 2> /dev/null
	rc=$?
	mapfile -t reports < <(compgen -G "$T/$kind/report.*")
	if [ "$rc" -eq "$want_rc" ] && [ ${#reports[@]} -eq 1 ] &&
	   grep -qF "$want" "${reports[0]}" && [ ! -s "$T/$kind.err" ]; then
		ok 0 "$kind: exit $rc, one report saying '$want', nothing on stderr"
	else
		ok 1 "$kind: exit $rc (want $want_rc), ${#reports[@]} reports (want 1 saying '$want')"
		diag "stderr: $(head -c 400 "$T/$kind.err")" \
		     "reports: $(cat "${reports[@]}" /dev/null | head -c 400)"
	fi
done <<'EOF'
asan 86 ERROR: AddressSanitizer: heap-buffer-overflow
ubsan 134 runtime error: signed integer overflow
leak 86 ERROR: LeakSanitizer: detected memory leaks
EOF

mkdir -p "$T/none"
san_env "$T/none/report"
{ env "${SAN_ENV[@]}" "$canary" none 2> "$T/none.err"; } 2> /dev/null
rc=$?
[ "$rc" -eq 0 ] && ! compgen -G "$T/none/report.*" > /dev/null && [ ! -s "$T/none.err" ]
ok $? "no bug: exit $rc, no report"

# fake_test <name> <canary kind>: a test that prints a passing plan, runs the canary, exits 0.
fake_test() {
	mkdir -p "$T/$1"
	printf '#!/bin/sh\necho 1..1\necho "ok 1 - all is well"\n"%s" %s\nexit 0\n' \
		"$canary" "$2" > "$T/$1/$1.t"
	chmod +x "$T/$1/$1.t"
}
fake_test leaky leak
fake_test clean none
declare -A prc
for t in leaky clean; do
	mkdir -p "$T/run-$t"
	san_env "$T/run-$t/report"
	env "${SAN_ENV[@]}" PL_SAN_REPORTS="$T/run-$t" \
		"$PL_ROOT/selftests/prove-exec.sh" "$T/$t/$t.t" > "$T/$t.prove" 2>&1
	prc[$t]=$?
done
[ "${prc[leaky]}" -eq 1 ] && grep -q '^# sanitizer report .*/report\.' "$T/leaky.prove" &&
	grep -q 'LeakSanitizer: detected memory leaks' "$T/leaky.prove"
ok $? "prove-exec.sh fails a test that passes while a leak is reported, printing it (exit ${prc[leaky]})"
[ "${prc[leaky]}" -eq 1 ] || diag "$(head -n 20 "$T/leaky.prove")"
[ "${prc[clean]}" -eq 0 ] && ! grep -q 'sanitizer report' "$T/clean.prove"
ok $? "... and passes the same test without one (exit ${prc[clean]})"
[ "${prc[clean]}" -eq 0 ] || diag "$(head -n 20 "$T/clean.prove")"
done_testing
