#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/acct/node-cgroup.t - podlaned --node-cgroup PATH: the node is a cgroup (as a kind
# node or a VM slice is), made here in every hierarchy that has one (cgroup v2, and on a hybrid
# host the v1 cpu and cpuacct ones) with a CPU quota of half a CPU. A busy loop inside it moves
# the node's hints (cpu against the quota, cpu_pressure from its own cpu.pressure while the
# quota throttles it, falling within 3 ticks once the loop ends); a busy loop outside it does
# not; a child cgroup's run-queue wait leaves the node's runq part when that cgroup is removed
# (it kept its last value); a PATH found in no hierarchy is refused at start with the reason.
. "$(dirname "$0")/../lib.sh"

require_root
require_cmd jq
require_build podlaned podlanectl
[ -d /sys/fs/bpf ] || skip_all "bpffs is not mounted at /sys/fs/bpf"
v1_mount() { awk -v c="$1" '$3 == "cgroup" && ("," $4 ",") ~ ("," c ",") { print $2; exit }' \
	/proc/self/mounts; }
V2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
CPU1=$(v1_mount cpu)
ACCT1=$(v1_mount cpuacct)
[ -n "$V2" ] || skip_all "no cgroup v2 hierarchy mounted"
pl_setup

CG=podlane-node-$PL_ID
DIRS=("$V2/$CG")
[ -n "$CPU1" ] && DIRS+=("$CPU1/$CG")
[ -n "$ACCT1" ] && [ "$ACCT1" != "$CPU1" ] && DIRS+=("$ACCT1/$CG")
LOOPS=()
cg_cleanup() {
	local p d
	for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for d in "${DIRS[@]}"; do rmdir "$d/pod" "$d" 2>/dev/null; done
}
on_cleanup agent_kill
on_cleanup cg_cleanup
mkdir -p "${DIRS[@]}" || skip_all "cannot create cgroups"
if [ -n "$CPU1" ]; then
	echo 50000 > "$CPU1/$CG/cpu.cfs_quota_us" && echo 100000 > "$CPU1/$CG/cpu.cfs_period_us"
elif [ -f "$V2/$CG/cpu.max" ]; then
	echo "50000 100000" > "$V2/$CG/cpu.max"
else
	skip_all "no cpu controller in either hierarchy"
fi
ok $? "node cgroup $CG (${DIRS[*]}) with a quota of 0.5 CPU"

out=$("$PL_BUILD/podlaned" --pin-root "$PL_PIN-x" --state-dir "$PL_TMP/x" --socket \
	"$PL_TMP/x.sock" --node-cgroup "/no-such-$PL_ID" 2>&1)
rc=$?
[ $rc -ne 0 ] && [[ $out == *"failed to find node cgroup '/no-such-$PL_ID'"* ]]
ok $? "--node-cgroup of a cgroup in no hierarchy refused: $(tail -n1 <<< "$out")"
rm -rf "$PL_TMP/x"

agent_start --node-cgroup "/$CG"
ok $? "podlaned --node-cgroup /$CG"

node() { ctl --json hints | jq -r ".node.$1"; }
ticked() { [ "$(ctl --json hints | jq -r .seq)" -ge "$1" ]; }
# busy <in|in pod|out> <seconds>: a bounded busy loop, in the node cgroup, its child "pod",
# or outside it
busy() {
	local where=$1 secs=$2
	(
		if [ "$where" = in ]; then
			for d in "${DIRS[@]}"; do echo $BASHPID > "$d/cgroup.procs"; done
		elif [ "$where" = "in pod" ]; then
			for d in "${DIRS[@]}"; do echo $BASHPID > "$d/pod/cgroup.procs"; done
		fi
		exec timeout "$secs" sh -c 'while :; do :; done'
	) &
	LOOPS+=($!)
}
stop_loops() {
	local p
	for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	LOOPS=()
}
# above <part> <min>: the node's hint part is at least min
above() { awk -v v="$(node "$1")" -v m="$2" 'BEGIN { exit !(v ~ /^[0-9.]+$/ && v >= m) }'; }
below() { awk -v v="$(node "$1")" -v m="$2" 'BEGIN { exit !(v ~ /^[0-9.]+$/ && v < m) }'; }

poll 10 ticked 3
below cpu 20
ok $? "idle node cgroup: cpu $(node cpu)"

# A pod cgroup under the node: three busy loops there wait for the 0.5 CPU quota. It goes away
# the moment they end (as a pod's does); its wait must stay in the node's total, so the runq
# part falls to ~0 rather than keeping the last value (it kept it for good when the total fell).
CHILDREN=()
for d in "${DIRS[@]}"; do CHILDREN+=("$d/pod"); done
mkdir "${CHILDREN[@]}"
ok $? "child cgroup pod under the node cgroup"
for i in 1 2 3; do busy "in pod" 30; done
if poll 10 above runq 20; then
	ok 0 "busy loops in a child cgroup: node runq $(node runq)"
	stop_loops
	rmdir "${CHILDREN[@]}"
	ok $? "child cgroup removed right after its tasks ended"
	s=$(ctl --json hints | jq -r .seq)
	poll 10 ticked $((s + 3))
	below runq 5
	ok $? "3 ticks later the node runq is $(node runq), not the last value"
else
	ok 1 "busy loops in a child cgroup: node runq $(node runq) never reached 20"
	stop_loops
	rmdir "${CHILDREN[@]}"
fi

busy in 20
poll 8 above cpu 40
ok $? "busy loop inside: node cpu $(node cpu) (usage / 0.5 CPU quota; at least 40 on a shared machine)"
poll 8 above cpu_pressure 50
ok $? "throttled by the quota: node cpu_pressure $(node cpu_pressure) (its cpu.pressure)"
diag "node hint: $(ctl --json hints | jq -c .node)"
stop_loops
# cpu_pressure is the share of the last tick stalled (total= growth), not avg10, which would
# take half a minute to fall from there.
s=$(ctl --json hints | jq -r .seq)
poll 10 ticked $((s + 3))
below cpu_pressure 5
ok $? "loop ended: 3 ticks later node cpu_pressure is $(node cpu_pressure) ($(head -n1 "$V2/$CG/cpu.pressure"))"

# Outside: the whole machine may be busy; the node cgroup is not.
busy out 20
poll 10 below cpu 10
s=$(ctl --json hints | jq -r .seq)
poll 10 ticked $((s + 3))
below cpu 10
ok $? "busy loop outside: node cpu stays $(node cpu) over 3 more ticks"
stop_loops

kill -0 "$PL_AGENT_PID"
ok $? "podlaned still running"
done_testing
