#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 07-sched-bench.t - scripts/bench/bench-sched.sh's quick mode (SCHED_QUICK=1) as a smoke test:
# it runs to the end with all three policies (the extender, spread, random), prints every
# table with a figure in every cell, and leaves nothing behind (its namespaces, cgroups, pins,
# processes). No figure is judged here: performance is the benchmark's business.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

BENCH=$PL_ROOT/scripts/bench/bench-sched.sh
mn_requires
[ -x "$BENCH" ] || skip_all "no scripts/bench/bench-sched.sh beside the tests"
require_cmd gcc etcd etcdctl openssl ss
[ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ] ||
	skip_all "no cgroup v1 cpu controller at /sys/fs/cgroup/cpu (the bench caps nodes there)"
[ -e /sys/fs/cgroup/unified/cgroup.procs ] || skip_all "no cgroup v2 at /sys/fs/cgroup/unified"
pl_setup

SCHED_QUICK=1 "$BENCH" > "$PL_TMP/out.md" 2> "$PL_TMP/err" &
bench=$!
wait $bench
rc=$?
ok $rc "SCHED_QUICK=1 bench-sched.sh exits 0"
[ $rc = 0 ] || diag "$(tail -n 20 "$PL_TMP/err")"

for t in "Scheduling on pressure hints" "Extender against the baselines" "Extender calls"; do
	grep -q "^### $t" "$PL_TMP/out.md"
	ok $? "table: $t"
done
for p in extender spread random; do
	grep -qE "^\| $p( \| [0-9][0-9./]*)+ \|$" "$PL_TMP/out.md"
	ok $? "a row for policy $p with a figure in every cell"
done
rows=$(grep -cE '^\| (call time p50|call time p99|hint age at decision p99) [^|]*\| [0-9.]+ \|' \
	"$PL_TMP/out.md")
[ "$rows" = 3 ]
ok $? "extender call time p50, p99 and hint age p99 measured ($rows of 3)"
! grep -q 'extender-failed\|scheduler loop stopped' "$PL_TMP/err"
ok $? "no extender call failed"
diag "$(cat "$PL_TMP/out.md")"

[ -z "$(ip netns list | awk -v p="pl$bench-" 'index($1, p) == 1')" ] &&
	! compgen -G "/sys/fs/bpf/podlane-test-$bench*" >/dev/null &&
	[ ! -e "/sys/fs/cgroup/cpu/podlane-bench-$bench" ] &&
	[ ! -e "/sys/fs/cgroup/unified/podlane-bench-$bench" ] &&
	! pgrep -f "podlane-test\.$bench\." >/dev/null
ok $? "its namespaces, pins, cgroups and processes are gone"
done_testing
