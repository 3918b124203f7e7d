#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/run.sh - run podlane's selftests through prove, which prints the TAP summary. The
# tests of an area are what its Makefile lists (make emit_tests, as kselftest-list.txt has
# them): C tests built to build/selftests/<area>/, shell tests in selftests/<area>/. An area
# without a Makefile runs its *.t. Each test runs through selftests/prove-exec.sh (kselftest's
# exit codes, the area's timeout).
#
# Arguments select areas or tests: selftests/run.sh cni datapath/test_datapath lb/agent.t
set -u
cd "$(dirname "$0")/.." || exit 1
build=${PL_BUILD:-build}

# area_tests <area>: the paths of the area's tests, in the order its Makefile lists them.
area_tests() {
	local a=$1 line name
	if [ ! -f "selftests/$a/Makefile" ]; then
		compgen -G "selftests/$a/*.t"
		return 0
	fi
	make -s --no-print-directory -C "selftests/$a" emit_tests | while IFS= read -r line; do
		name=${line#*:}
		if [ -e "selftests/$a/$name" ]; then
			echo "selftests/$a/$name"
		else
			echo "$build/selftests/$a/$name"
		fi
	done
}

tests=()
if [ $# -eq 0 ]; then
	for d in selftests/*/; do
		a=$(basename "$d")
		[ "$a" = lib ] && continue
		mapfile -t -O "${#tests[@]}" tests < <(area_tests "$a")
	done
else
	for a in "$@"; do
		a=${a#selftests/}
		if [ -d "selftests/$a" ]; then
			mapfile -t -O "${#tests[@]}" tests < <(area_tests "${a%/}")
		elif [ -e "selftests/$a" ]; then
			tests+=("selftests/$a")
		else
			tests+=("$build/selftests/$a")	# a C test, by area/name
		fi
	done
fi
exec prove --timer -v --exec "$PWD/selftests/prove-exec.sh" "${tests[@]}"
