#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/sched/local.t - the scheduler extender without etcd knows its own node: podlaned
# with --extender-addr and no --etcd-endpoints scores this node (--node-name) from its own
# accounting's hint of the last tick, and a node it has no hints for 0 (stale: it passes
# filter); `podlanectl hints --cluster` shows this node with hints at most a tick or two old.
# The node is an empty cgroup v2 (--node-cgroup), so its pressure is its own (0 here), not the
# shared test machine's: it must score 10 against the unknown node's 0.
. "$(dirname "$0")/../lib.sh"

require_root
require_cmd ss jq curl
require_build podlaned podlanectl
[ -d /sys/fs/bpf ] || skip_all "bpffs is not mounted at /sys/fs/bpf"
V2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$V2" ] || skip_all "no cgroup v2 hierarchy mounted"
pl_setup
CG=podlane-sched-$PL_ID
on_cleanup rmdir "$V2/$CG"
on_cleanup agent_kill
mkdir "$V2/$CG" || skip_all "cannot create cgroup $V2/$CG"

# A free loopback port below the ephemeral range, picked by pid.
port=""
for i in 0 1 2 3 4 5 6 7 8 9; do
	p=$(( 31000 + (PL_ID * 7 + i * 13) % 9000 ))
	ss -Htln "sport = :$p" | grep -q . || { port=$p; break; }
done
[ -n "$port" ] || skip_all "no free loopback port"
EXT=127.0.0.1:$port
URL=http://$EXT/podlane
NODE=lx$((PL_ID % 1000))
agent_start --node-name "$NODE" --no-node-routes --extender-addr "$EXT" --node-cgroup "/$CG"
ok $? "podlaned with --extender-addr $EXT, no etcd, node cgroup /$CG (empty)"

cluster() { ctl --json hints --cluster; }
me() { cluster | jq -e --arg n "$NODE" '.nodes[] | select(.node == $n and .known)'; }
poll 5 me
ok $? "hints --cluster knows this node ($NODE) from its own accounting"

# kube-scheduler's shape: a v1 Pod, NodeNames (nodeCacheCapable)
args() {
	jq -cn --arg me "$NODE" '{Pod: {metadata: {name: "web-1", namespace: "shop",
		uid: "0c5f1f8e-7a8e-4b8e-9d0e-1f2a3b4c5d6e"}, spec: {containers: [{name: "app",
		image: "registry.local/web:1.0", resources: {requests: {cpu: "250m"}}}]},
		status: {phase: "Pending"}}, Nodes: null, NodeNames: [$me, "elsewhere-1"]}'
}
post() { curl -s --max-time 5 -X POST -H 'Content-Type: application/json' --data-binary "$(args)" \
	"$URL/$1"; }
R=$PL_TMP/reply
# The score is what this node's measured pressure gives (a tick may fall between the call and
# the look, so a few tries): round(10 x (100 - pressure) / 100), 10 for the empty node cgroup;
# the other node scores 0.
scored() {
	post prioritize > "$R" &&
	cluster > "$PL_TMP/cluster" &&
	local want
	want=$(jq --arg n "$NODE" '.nodes[] | select(.node == $n) |
		(10 * (100 - .pressure) / 100 + 0.5 | floor)' "$PL_TMP/cluster") &&
	jq -e --arg n "$NODE" --argjson w "$want" 'length == 2 and
		$w == 10 and (.[] | select(.Host == $n) | .Score) == $w and
		(.[] | select(.Host == "elsewhere-1") | .Score) == 0' "$R"
}
poll 5 scored
ok $? "prioritize: $(jq -c 'map({(.Host): .Score}) | add' "$R") ($NODE from its hint: $(jq -c \
	--arg n "$NODE" '.nodes[] | select(.node == $n) | {pressure, dominant, cpu_pressure, runq,
	memory, age_s}' "$PL_TMP/cluster"); elsewhere-1 has no hints: stale, never favoured)"

post filter > "$R"
jq -e --arg n "$NODE" '.Error == "" and .FailedNodes == {} and
	(.NodeNames | sort) == ([$n, "elsewhere-1"] | sort)' "$R" >/dev/null
ok $? "filter: both pass (this node is not saturated; the unknown one is not known to be): $(jq -c . "$R")"

age=$(cluster | jq --arg n "$NODE" '.nodes[] | select(.node == $n) | select(.stale | not) | .age_s')
[ -n "$age" ] && jq -en --argjson a "$age" '$a >= 0 and $a < 2' >/dev/null
ok $? "hints --cluster: $NODE fresh, its hints ${age:-?} s old (a tick is 1 s)"
out=$(ctl hints --cluster)
grep -q "^$NODE " <<< "$out"
ok $? "podlanectl hints --cluster lists it"
diag "$out"

kill -0 "$PL_AGENT_PID" && agent_ready
ok $? "podlaned is alive"
done_testing
