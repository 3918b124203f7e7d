#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/run.sh - run every podlane test (selftests/<area>/*.t) through prove, which prints
# the TAP summary. Arguments select areas or files: selftests/run.sh cni datapath/datapath.t
set -u
cd "$(dirname "$0")/.." || exit 1

tests=()
if [ $# -eq 0 ]; then
	tests=(selftests/*/*.t)
else
	for a in "$@"; do
		if [ -d "selftests/$a" ]; then
			tests+=(selftests/"$a"/*.t)
		else
			tests+=("selftests/$a")
		fi
	done
fi
exec prove --timer -v "${tests[@]}"
