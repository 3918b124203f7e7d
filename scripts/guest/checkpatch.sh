#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/guest/checkpatch.sh - run the kernel's checkpatch.pl --strict over podlane.ko's
# sources (kmod/, the top-level Kbuild). checkpatch ships only inside Debian's linux-source-6.1
# tarball: the three files it needs are extracted once into $OUTPUT/checkpatch.
# Usage: scripts/guest/checkpatch.sh [files...]   Exit 4 when linux-source-6.1 is missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(cd "$root" && mkdir -p "${OUTPUT:-build}" && cd "${OUTPUT:-build}" && pwd)
dir=$out/checkpatch
tarball=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -n 1 || true)

if [ ! -x "$dir/scripts/checkpatch.pl" ]; then
	[ -n "$tarball" ] || { echo "checkpatch: needs linux-source-6.1 (/usr/src/linux-source-6.1.tar.xz)" >&2; exit 4; }
	mkdir -p "$dir"
	tar -xf "$tarball" -C "$dir" --strip-components=1 \
		linux-source-6.1/scripts/checkpatch.pl linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch
fi

cd "$root"
[ $# -gt 0 ] || set -- Kbuild kmod/Kbuild kmod/*.c kmod/*.h kmod/uapi/*.h
exec "$dir/scripts/checkpatch.pl" --strict --no-tree --terse --show-types --max-line-length=100 -f "$@"
