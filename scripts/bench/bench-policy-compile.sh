#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-policy-compile.sh - the policy compiler's time (userspace/lib/
# policy_compile.c) on clusters of realistic shape (scripts/bench/policy_compile.c says which
# policies and pods): 1,000 pods and 1,000 policies with every pod on this node (the worst
# case) and with 100 of them here; every pod its own identity (deployments of one replica);
# 5,000 pods; 10,000 policies. Each line is the median, minimum and maximum of RUNS compiles,
# with what came out: endpoints isolated (per direction), entries over all rule sets,
# distinct rule sets (what the datapath shares), CIDR ids. Parsing the policies is not in it
# (stderr says how long it took). No root needed; pinned to one CPU when taskset is there.
#
# Usage: scripts/bench/bench-policy-compile.sh [-r RUNS]
# Prints a markdown table on stdout.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${PL_BUILD:-$ROOT/build}
RUNS=9
while getopts "r:h" opt; do
	case $opt in
	r) RUNS=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

die() { echo "bench-policy-compile: $*" >&2; exit 1; }
[ -e "$BUILD/libpodlane.a" ] || die "$BUILD/libpodlane.a is not built (run make)"
TMP=$(mktemp -d) || die "no temporary directory"
trap 'rm -rf "$TMP"' EXIT
gcc -O2 -std=gnu11 -D_GNU_SOURCE -I"$ROOT/userspace/lib" -I"$ROOT/bpf" -I"$BUILD" \
	-o "$TMP/policy_compile" "$ROOT/scripts/bench/policy_compile.c" "$BUILD/libpodlane.a" \
	-ljson-c -lyaml || die "cannot build policy_compile"
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

echo "| pods | local | policies | identities | compile (median) | min | max |" \
	"isolated sets | entries | distinct sets | CIDR ids |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for args in "-p 1000 -l 1000 -n 1000" "-p 1000 -l 100 -n 1000" "-p 1000 -l 1000 -n 1000 -R 1" \
	    "-p 5000 -l 1000 -n 1000" "-p 1000 -l 1000 -n 10000"; do
	# shellcheck disable=SC2086
	"${pin[@]}" "$TMP/policy_compile" -r "$RUNS" $args || die "policy_compile $args failed"
done
