#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/prove-exec.sh <test> - how prove runs one selftest (selftests/run.sh passes it as
# `prove --exec`): as the kernel's kselftest runner would, from the test's own directory and
# bounded by the timeout in the area's settings file (kselftest's default of 45 s without
# one). Tests use kselftest's exit codes, 0 pass, 1 fail, 4 skip; prove takes any non-zero
# exit for a failure, so a 4 after a "1..0 # SKIP <reason>" plan becomes 0 here. Anything else
# (a 4 without that plan, a timeout) stays a failure.
set -u
test=$1
dir=$(dirname "$test")
name=$(basename "$test")
timeout=45

if [ ! -e "$test" ]; then
	echo "1..0 # SKIP $test is not built (run make)"
	exit 0
fi
if [ -r "$dir/settings" ]; then
	t=$(sed -n 's/^timeout=\([0-9][0-9]*\)$/\1/p' "$dir/settings")
	[ -n "$t" ] && timeout=$t
fi

# A sanitized run (selftests/run.sh sets PL_SAN_REPORTS) collects every sanitizer report in
# that directory: one that appears while this test runs fails it, whatever the test thought.
san_before=()
[ -n "${PL_SAN_REPORTS:-}" ] && mapfile -t san_before < <(ls -1 "$PL_SAN_REPORTS")

cd "$dir" || exit 1
timeout -k 10 "$timeout" "./$name" |
	awk '{ print; fflush() } /^1\.\.0 # SKIP/ { skip = 1 } END { exit skip ? 3 : 0 }'
status=("${PIPESTATUS[@]}")
rc=${status[0]}

if [ -n "${PL_SAN_REPORTS:-}" ]; then
	new_reports=$(ls -1 "$PL_SAN_REPORTS" | grep -vxF -f <(printf '%s\n' "${san_before[@]}" ''))
	if [ -n "$new_reports" ]; then
		for r in $new_reports; do
			echo "# sanitizer report $PL_SAN_REPORTS/$r:"
			head -n 80 "$PL_SAN_REPORTS/$r" | sed 's/^/#   /'
		done
		echo "# $test: $(wc -w <<< "$new_reports") sanitizer report(s) while it ran"
		exit 1
	fi
fi
if [ "$rc" -eq 4 ] && [ "${status[1]}" -eq 3 ]; then
	exit 0
fi
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	echo "# $test: timed out after $timeout s (settings)"
	exit 1
fi
exit "$rc"
