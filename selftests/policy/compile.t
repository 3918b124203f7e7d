#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/compile.t - the policy compiler (userspace/lib/policy_compile.c) against
# the reference of policy_world.h: build/selftests/policy/test_policy_compile prints the TAP
# (kselftest_harness.h), under valgrind when it is installed, so a leak or a bad read in any
# case fails it; a sanitized build's binary (ASan checks the same) runs as it is. No root.
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${PL_BUILD:-$root/build}
bin=$build/selftests/policy/test_policy_compile

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 4; }
if [ ! -s "$build/sanitize" ] && command -v valgrind >/dev/null 2>&1; then
	exec timeout 170 valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect "$bin"
fi
exec timeout 60 "$bin"
