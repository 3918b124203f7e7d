#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/api/codec.t - the local API's schema and codec (userspace/lib/api_schema.c,
# api_ops.c): round trips of every operation's structs, the replies podlaned sends today byte
# for byte, decode errors and api_<op>_call(). build/selftests/test_api_codec prints the TAP;
# under valgrind when it is installed, so a leak or a bad read fails the test; a sanitized
# build's binary (ASan checks the same) runs as it is, valgrind cannot run it. No root needed.
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${PL_BUILD:-$root/build}
bin=$build/selftests/api/test_api_codec

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 4; }
if [ ! -s "$build/sanitize" ] && command -v valgrind >/dev/null 2>&1; then
	exec timeout 120 valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect "$bin"
fi
exec timeout 60 "$bin"
