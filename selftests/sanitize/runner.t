#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/sanitize/runner.t - selftests/run.sh, which both passes of scripts/run-tests.sh
# use, fails what it must. In a scratch tree holding copies of run.sh, prove-exec.sh and
# lib.mk and three areas of its own: an area whose tests pass passes; a failing test fails
# the run with prove's summary; and an area whose Makefile cannot list its tests (lib.mk
# refuses one with an unlisted test) ends the run with an error instead of being left out
# of a run that then passes (it was: a stray file in an area dropped that area from the run).
# On either build; no root needed.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

command -v prove > /dev/null || skip_all "no prove (perl)"
pl_setup
T=$PL_TMP/tree
mkdir -p "$T/selftests"
cp "$PL_ROOT/selftests/run.sh" "$PL_ROOT/selftests/prove-exec.sh" "$PL_ROOT/selftests/lib.mk" \
	"$T/selftests/"

# area <name> <test exit status> [unlisted]: an area with one listed test, a.t, exiting with
# that status after one result; with "unlisted", also a b.t its Makefile does not list.
area() {
	local d=$T/selftests/$1
	mkdir -p "$d"
	printf 'TEST_PROGS := a.t\ninclude ../lib.mk\n' > "$d/Makefile"
	printf '#!/bin/sh\necho 1..1\necho "%s 1 - a"\nexit %s\n' \
		"$([ "$2" -eq 0 ] && echo ok || echo 'not ok')" "$2" > "$d/a.t"
	[ "${3:-}" = unlisted ] && cp "$d/a.t" "$d/b.t"
	chmod +x "$d"/*.t
}
area good 0
area unlisted 0 unlisted

# runner <out> <args...>: the scratch tree's run.sh, on a plain build of nothing, without
# this run's sanitizer report directory (the scratch tests are no part of it).
runner() {
	local out=$1
	shift
	env -u PL_SAN_REPORTS -u ASAN_OPTIONS -u UBSAN_OPTIONS PL_BUILD="$PL_TMP/nobuild" \
		"$T/selftests/run.sh" "$@" > "$out" 2>&1
}

# Every area (good and unlisted): the run must fail, not leave unlisted out and pass.
runner "$PL_TMP/all.out"
rc=$?
[ "$rc" -ne 0 ] && grep -q 'cannot list the tests of selftests/unlisted' "$PL_TMP/all.out"
ok $? "every area, one of which cannot list its tests: the run fails (exit $rc), saying which"
[ "$rc" -ne 0 ] || diag "$(tail -n 15 "$PL_TMP/all.out")"

runner "$PL_TMP/good.out" good
rc=$?
[ "$rc" -eq 0 ] && grep -q '^Result: PASS' "$PL_TMP/good.out"
ok $? "an area whose tests pass: exit $rc, prove's summary says PASS"
[ "$rc" -eq 0 ] || diag "$(tail -n 15 "$PL_TMP/good.out")"

area failing 1
runner "$PL_TMP/failing.out" good failing
rc=$?
[ "$rc" -ne 0 ] && grep -q '^Result: FAIL' "$PL_TMP/failing.out" &&
	grep -q 'selftests/failing/a.t' "$PL_TMP/failing.out"
ok $? "a failing test fails the run: exit $rc, prove's summary names it"
[ "$rc" -ne 0 ] || diag "$(tail -n 15 "$PL_TMP/failing.out")"

runner "$PL_TMP/unlisted.out" good unlisted
rc=$?
[ "$rc" -ne 0 ] && grep -q 'cannot list the tests of selftests/unlisted' "$PL_TMP/unlisted.out"
ok $? "that area named alone: the run fails (exit $rc), saying which"
[ "$rc" -ne 0 ] || diag "$(tail -n 15 "$PL_TMP/unlisted.out")"

done_testing
