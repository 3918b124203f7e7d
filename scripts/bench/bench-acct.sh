#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-acct.sh - what per-cgroup accounting costs a context-switch-heavy
# workload: `perf bench sched pipe` (linux-perf; without it, `acct_bench pipe`, the same
# ping-pong) with client and server pinned to one CPU, in a cgroup of its own, run with
# accounting detached and attached, interleaved so machine drift hits all alike. Medians of
# RUNS runs and their ratio to "off" are printed as a markdown table.
#   off       nothing attached
#   on        the default: task iterator run every second (as podlaned would before reading)
#             + tp_btf/sched_process_free + cgroup_skb ingress/egress on the workload's cgroup
#   wakeup    the runqslower-style fallback for kernels without CONFIG_SCHED_INFO: adds
#             tp_btf sched_switch, sched_wakeup and sched_wakeup_new (-m off,on,wakeup)
# With -s, one more run per attached mode reports the average cost of one program run
# (kernel BPF statistics, switched on only for that run).
#
# Usage: sudo scripts/bench/bench-acct.sh [-r RUNS] [-l LOOPS] [-c CPU] [-m MODES] [-s]
set -u

RUNS=7
LOOPS=200000
CPU=1
MODES="off,on"
STATS=0
while getopts "r:l:c:m:sh" opt; do
	case $opt in
	r) RUNS=$OPTARG ;;
	l) LOOPS=$OPTARG ;;
	c) CPU=$OPTARG ;;
	m) MODES=$OPTARG ;;
	s) STATS=1 ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${PL_BUILD:-$root/build}/selftests/acct/acct_bench
die() { echo "bench-acct: $*" >&2; exit 1; }
log() { echo "bench-acct: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root"
[ -x "$bench" ] || die "$bench is not built (run make)"
command -v taskset >/dev/null || die "needs taskset (util-linux)"
mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$mnt" ] || die "no cgroup v2 hierarchy mounted"

if perf bench sched pipe -l 10 >/dev/null 2>&1; then
	workload="perf bench sched pipe"
	run_workload() { perf bench sched pipe -l "$LOOPS" | awk '/ops\/sec/ { print $1 }'; }
else
	workload="acct_bench pipe (perf not installed: linux-perf)"
	run_workload() { "$bench" pipe -l "$LOOPS" | awk '{ print $1 }'; }
fi

tmp=$(mktemp -d /tmp/bench-acct.$$.XXXXXX)
cg=$mnt/podlane-bench-$$
HOLD_PID=""
cleanup() {
	[ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null && wait "$HOLD_PID" 2>/dev/null
	[ -d "$cg" ] && rmdir "$cg" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$cg" || die "failed to create cgroup '$cg'"

# The workload runs in the bench cgroup, pinned to one CPU: one op = two context switches.
measure() {
	(echo "$BASHPID" > "$cg/cgroup.procs" && taskset -c "$CPU" bash -c "$(declare -f run_workload); LOOPS=$LOOPS bench=$bench run_workload")
}

hold_start() {	# hold_start <mode> [extra hold options]
	local mode=$1 i
	shift
	case $mode in
	on) "$bench" hold -c "$cg" "$@" > "$tmp/hold.out" 2> "$tmp/hold.err" & ;;
	wakeup) "$bench" hold -w -c "$cg" "$@" > "$tmp/hold.out" 2> "$tmp/hold.err" & ;;
	*) die "unknown mode '$mode'" ;;
	esac
	HOLD_PID=$!
	for i in $(seq 100); do
		grep -q ready "$tmp/hold.out" 2>/dev/null && return 0
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$tmp/hold.err" >&2
	die "accounting programs did not attach ($mode)"
}

hold_stop() {
	kill "$HOLD_PID" 2>/dev/null
	wait "$HOLD_PID" 2>/dev/null
	HOLD_PID=""
}

IFS=, read -r -a modes <<< "$MODES"
declare -A results
log "workload: $workload -l $LOOPS on CPU $CPU, $RUNS rounds of: ${modes[*]}"
for ((r = 1; r <= RUNS; r++)); do
	for m in "${modes[@]}"; do
		[ "$m" = off ] || hold_start "$m"
		v=$(measure)
		[ "$m" = off ] || hold_stop
		[ -n "$v" ] || die "workload failed ($m)"
		results[$m]+="$v "
		log "round $r $m: $v ops/s"
	done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END {
	print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
base=$(median <<< "${results[off]:-}")

echo "| mode | median ops/s | ratio to off | runs |"
echo "|---|---|---|---|"
for m in "${modes[@]}"; do
	med=$(median <<< "${results[$m]}")
	if [ -n "$base" ]; then
		ratio=$(awk -v a="$med" -v b="$base" 'BEGIN { printf "%.3f", a / b }')
	else
		ratio="-"
	fi
	echo "| $m | $med | $ratio | ${results[$m]}|"
done

if [ "$STATS" -eq 1 ]; then
	for m in "${modes[@]}"; do
		[ "$m" = off ] && continue
		hold_start "$m" -s
		measure > /dev/null
		hold_stop
		echo
		echo "$m, cost per program run during one workload run:"
		sed 's/^/    /' "$tmp/hold.err"
	done
fi
