#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/run.sh - run podlane's selftests through prove, which prints the TAP summary. The
# tests of an area are what its Makefile lists (make emit_tests, as kselftest-list.txt has
# them): C tests built to build/selftests/<area>/, shell tests in selftests/<area>/. An area
# without a Makefile runs its *.t. Each test runs through selftests/prove-exec.sh (kselftest's
# exit codes, the area's timeout).
#
# Arguments select areas or tests: selftests/run.sh cni datapath/test_datapath lb/agent.t
#
# PL_BUILD picks the build to test (default build/). A sanitized one (`make
# SANITIZE=address,undefined`: build-san/, which holds a file `sanitize`) runs every area but
# fuzz and guest, which do not use it: fuzz's harnesses carry ASan and UBSan already (and its
# ~3 minutes would only repeat), and guest boots the 6.1 kernel with the plain build/ (its
# podlaned and test programs run inside qemu, with no sanitizer runtime there). Every
# sanitizer report goes to a file in a new directory per run, build-san/san-reports/<run>/
# (ASAN_OPTIONS, UBSAN_OPTIONS log_path below), so reports of daemons and of processes killed
# mid-test are kept as well; prove-exec.sh fails the test during which one appeared and prints
# it.
set -u
cd "$(dirname "$0")/.." || exit 1
build=${PL_BUILD:-build}
# Tests run from their own directory: the build's path must not be relative.
if [ -d "$build" ]; then
	build=$(cd "$build" && pwd) || exit 1
	export PL_BUILD=$build
fi
sanitize=$(cat "$build/sanitize" 2>/dev/null)
san_skip_areas=" fuzz guest "
# Whole-suite sanitized runs also leave out the long traffic matrices, to keep CI's two passes
# within its budget: the truth tables (~2 and ~5.5 minutes) and the policy benchmark's smoke
# run drive the same agent code (policy add/del, labels, etcd records) that agent.t,
# capacity.t, cni.t, traffic.t, observe.t and etcd.t run under the sanitizers. Named alone,
# they run sanitized too.
san_skip_tests=" policy/truth.t multinode/06-policy-truth.t policy/bench.t "
# ... and the scheduling benchmark's smoke run (~45 s), whose extender code sched/extender.t
# runs sanitized.
san_skip_tests+=" multinode/07-sched-bench.t "
if [ -n "$sanitize" ]; then
	PL_SAN_REPORTS=$build/san-reports/$(date +%Y%m%d-%H%M%S)-$$
	mkdir -p "$PL_SAN_REPORTS" || exit 1
	export PL_SAN_REPORTS
	# ASan and UBSan write to <dir>/report.<pid>. A report ends the process: exit code 86
	# for ASan and LeakSanitizer (leaks are checked at exit), abort() for UBSan (a
	# sanitized build never recovers, -fno-sanitize-recover=all).
	export ASAN_OPTIONS="log_path=$PL_SAN_REPORTS/report:exitcode=86:detect_leaks=1"
	export UBSAN_OPTIONS="log_path=$PL_SAN_REPORTS/report:print_stacktrace=1:halt_on_error=1:abort_on_error=1"
	echo "# sanitized build $build ($sanitize): reports go to $PL_SAN_REPORTS"
fi

# area_tests <area>: the paths of the area's tests, in the order its Makefile lists them.
# Fails when the Makefile cannot list them (lib.mk refuses an area with an unlisted test).
area_tests() {
	local a=$1 list line name
	if [ ! -f "selftests/$a/Makefile" ]; then
		compgen -G "selftests/$a/*.t"
		return 0
	fi
	list=$(make -s --no-print-directory -C "selftests/$a" emit_tests) || return 1
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		name=${line#*:}
		if [ -e "selftests/$a/$name" ]; then
			echo "selftests/$a/$name"
		else
			echo "$build/selftests/$a/$name"
		fi
	done <<< "$list"
}

# add_area <area>: its tests to the run; an area whose tests cannot be listed ends the run
# with an error, rather than leaving the area out of a run that then passes.
add_area() {
	local list
	if ! list=$(area_tests "$1"); then
		echo "run.sh: cannot list the tests of selftests/$1 (make -C selftests/$1" \
			"emit_tests failed): not running a suite without them" >&2
		exit 1
	fi
	[ -n "$list" ] && mapfile -t -O "${#tests[@]}" tests <<< "$list"
	return 0
}

tests=()
if [ $# -eq 0 ]; then
	for d in selftests/*/; do
		a=$(basename "$d")
		[ "$a" = lib ] && continue
		[ -n "$sanitize" ] && [[ $san_skip_areas == *" $a "* ]] && continue
		add_area "$a"
	done
	if [ -n "$sanitize" ]; then
		kept=()
		for t in "${tests[@]}"; do
			if [[ $san_skip_tests == *" ${t#selftests/} "* ]]; then
				echo "# ${t#selftests/}: not in a whole-suite sanitized run (a long traffic" \
					"matrix over agent code the area's other tests run sanitized)"
				continue
			fi
			kept+=("$t")
		done
		tests=("${kept[@]}")
	fi
else
	for a in "$@"; do
		a=${a#selftests/}
		if [ -n "$sanitize" ] && [[ $san_skip_areas == *" ${a%%/*} "* ]]; then
			echo "# $a: not in a sanitized run (fuzz: its harnesses carry ASan and" \
				"UBSan already; guest: the 6.1 guest runs the plain build/)"
			continue
		fi
		if [ -d "selftests/$a" ]; then
			add_area "${a%/}"
		elif [ -e "selftests/$a" ]; then
			tests+=("selftests/$a")
		else
			tests+=("$build/selftests/$a")	# a C test, by area/name
		fi
	done
fi
if [ ${#tests[@]} -eq 0 ]; then
	echo "# no test to run"
	exit 0
fi
exec prove --timer -v --exec "$PWD/selftests/prove-exec.sh" "${tests[@]}"
