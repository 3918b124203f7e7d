#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/run-tests.sh - the one test command: install what is missing, build everything, run
# every selftest (what each selftests/<area>/Makefile lists: C tests and .t scripts) through
# prove, then run them again on a sanitized build. Exits non-zero if any step or test of
# either pass fails. Arguments go to selftests/run.sh to pick areas or tests, in both passes:
# scripts/run-tests.sh integration lb/test_lb_nat
# Needs root (namespaces, BPF, apt-get); works on a fresh clone.
#
# The two passes, each through prove with its TAP summary:
#  1. plain: build/, every area.
#  2. sanitized: build-san/ (`make SANITIZE=address,undefined`): podlaned, podlane-cni,
#     podlanectl, libpodlane.a and the C tests with ASan, LeakSanitizer and UBSan. Every area
#     but fuzz (its harnesses are built with ASan and UBSan already and ran in pass 1) and
#     guest (it boots the 6.1 kernel in qemu with the plain build/, no sanitizer runtime in
#     there): selftests/run.sh leaves both out, and the three long traffic matrices it names
#     in san_skip_tests (their agent code runs sanitized in the areas' other tests). A
#     sanitizer report, of a test program or of any podlaned, podlane-cni or podlanectl a
#     test ran, fails the test during which it appeared, printed under it; the reports stay
#     in build-san/san-reports/<run>/.
# PL_SANITIZED=0 runs the plain pass alone, PL_SANITIZED=only the sanitized one alone.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "run-tests: run as root (the tests create namespaces and load BPF programs)" >&2
	exit 1
fi
passes=${PL_SANITIZED:-1}
case $passes in
0 | 1 | only) ;;
*)
	echo "run-tests: PL_SANITIZED is 0 (plain pass only), 1 (both, the default) or only" >&2
	exit 2
	;;
esac

echo "run-tests: checking dependencies"
scripts/install-deps.sh
echo "run-tests: building"
[ "$passes" = only ] || make -j2
[ "$passes" = 0 ] || make -j2 SANITIZE=address,undefined

failed=()
if [ "$passes" != only ]; then
	echo "run-tests: running selftests (plain build, build/)"
	PL_BUILD=build selftests/run.sh "$@" || failed+=(plain)
fi
if [ "$passes" != 0 ]; then
	echo "run-tests: running selftests (sanitized build, build-san/: ASan, LeakSanitizer, UBSan)"
	PL_BUILD=build-san selftests/run.sh "$@" || failed+=(sanitized)
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "run-tests: FAILED: ${failed[*]} pass" >&2
	exit 1
fi
echo "run-tests: all passes succeeded"
