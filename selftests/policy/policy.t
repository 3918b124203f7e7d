#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/policy.t - NetworkPolicy parsing, validation and selectors
# (userspace/lib/policy_spec.c, labels.c, yaml_json.c): build/selftests/policy/test_policy
# prints the TAP (kselftest_harness.h), under valgrind when it is installed, so a leak or a bad
# read in any case fails it; a sanitized build's binary (ASan checks the same) runs as it is.
# No root needed.
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${PL_BUILD:-$root/build}
bin=$build/selftests/policy/test_policy

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 4; }
if [ ! -s "$build/sanitize" ] && command -v valgrind >/dev/null 2>&1; then
	exec timeout 170 valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect "$bin"
fi
exec timeout 60 "$bin"
