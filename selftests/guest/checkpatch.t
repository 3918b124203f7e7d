#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/guest/checkpatch.t - podlane.ko's sources pass the kernel's checkpatch.pl --strict
# with no error, warning or check. One result per file.
set -u
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$PL_ROOT" || exit 1
files=(Kbuild kmod/Kbuild kmod/*.c kmod/*.h kmod/uapi/*.h)

# Extract checkpatch once (a skip when linux-source-6.1 is not installed).
scripts/guest/checkpatch.sh Kbuild > /dev/null 2>&1
[ $? -eq 4 ] && skip_all "needs linux-source-6.1 for checkpatch.pl"

echo "1..${#files[@]}"
n=0 failed=0
for f in "${files[@]}"; do
	n=$((n + 1))
	if out=$(scripts/guest/checkpatch.sh "$f" 2>&1) && [ -z "$out" ]; then
		echo "ok $n - checkpatch --strict $f"
	else
		echo "not ok $n - checkpatch --strict $f"
		printf '%s\n' "$out" | head -n 20 | sed 's/^/# /'
		failed=$((failed + 1))
	fi
done
[ $failed -eq 0 ]
