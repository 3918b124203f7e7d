#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-anomaly.sh - podlaned's anomaly detector (userspace/lib/anomaly_detect.c,
# podlaned's defaults and floors) against the static rule an operator would write instead,
# Prometheus' `avg_over_time(x[1m]) > X for: 30s` (memory: `deriv(x[5m]) > X for: 30s`),
# on synthetic per-second series with realistic noise (AR(1) noise, a slow cycle, short
# GC/batch spikes, garbage-collection sawtooth, Poisson drops with rare blips; the model is
# in selftests/anomaly/anomaly_bench.c). Per fault kind (CPU hog, memory leak, drop burst):
# time to detect, median and p90 over R injected faults, with the ratio; false alerts per
# hour over H steady hours per kind; for k = 3 (podlaned's default) and k = 10. Also the
# detector's cost per sample. Markdown on stdout.
#
# BENCH_QUICK=1: 2 steady hours and 10 faults per kind (a smoke run, under a second).
# Usage: scripts/bench/bench-anomaly.sh [-H hours] [-R repeats] [-k "3 10"]
set -u

HOURS=100
REPEATS=100
KS="3 10"
if [ -n "${BENCH_QUICK:-}" ]; then
	HOURS=2
	REPEATS=10
fi
while getopts "H:R:k:h" opt; do
	case $opt in
	H) HOURS=$OPTARG ;;
	R) REPEATS=$OPTARG ;;
	k) KS=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${PL_BUILD:-$root/build}/selftests/anomaly/anomaly_bench
[ -x "$bench" ] || { echo "bench-anomaly: $bench missing (make)" >&2; exit 1; }

model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "## anomaly detection: detector vs static threshold rule"
echo
echo "Machine: ${model:-unknown CPU}, $(nproc) CPUs, $(uname -r); load average $(cut -d' ' -f1 /proc/loadavg)."
echo
for k in $KS; do
	"$bench" -H "$HOURS" -R "$REPEATS" -k "$k" || exit 1
	echo
done
