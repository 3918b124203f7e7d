#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/run-tests.sh - the one test command: install what is missing, build everything, run
# every selftest (what each selftests/<area>/Makefile lists: C tests and .t scripts) through
# prove. Exits non-zero if any step or test fails. Arguments go to selftests/run.sh to pick
# areas or tests: scripts/run-tests.sh integration lb/test_lb_nat
# Needs root (namespaces, BPF, apt-get); works on a fresh clone.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "run-tests: run as root (the tests create namespaces and load BPF programs)" >&2
	exit 1
fi

echo "run-tests: checking dependencies"
scripts/install-deps.sh
echo "run-tests: building"
make -j2
echo "run-tests: running selftests"
selftests/run.sh "$@"
