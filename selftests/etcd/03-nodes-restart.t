#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/etcd/03-nodes-restart.t - node records from etcd across an agent restart: a node
# whose record is deleted while podlaned is down is gone once the restarted agent has listed
# etcd (route, podlane_nodes entry and state file), one whose record stays is kept, and a
# node added by podlanectl, which etcd never had, stays too. Found by scripts/soak.sh: the
# restarted agent kept every node an earlier run had taken from etcd.
. "$(dirname "$0")/lib.sh"

etcd_requires
pl_setup
on_cleanup etcd_cleanup
LEASE_TTL=10
X=$((PL_ID % 200 + 20))
Y=$((PL_ID % 200 + 20))

bail() { diag "$@"; echo "Bail out! $1"; exit 1; }
node_put() {	# node_put <name> <host byte> <pod cidr>
	ectl put "/podlane/v1/nodes/$1" \
		"{\"name\":\"$1\",\"nodeIP\":\"192.168.$Y.$2\",\"podCIDR\":\"$3\"}" >/dev/null
}
listed() { nctl 1 --json node list | jq -r '[.nodes[].name] | sort | join(" ")'; }
has_nodes() { [ "$(listed)" = "$1" ]; }
state_nodes() { ls "$(node_dir 1)/state/nodes" 2>/dev/null | sort | tr '\n' ' '; }
map_len() { bpftool -j map dump pinned "$(node_pin 1)/podlane_nodes" | jq length; }

make_pki || bail "openssl failed"
pick_ports || skip_all "no free loopback ports for etcd"
mkdir -p "$(cgroup_dir)"
for i in 0 1 2; do etcd_member_start "$i"; done
poll 30 etcd_healthy || bail "etcd cluster did not come up" "$(tail -n 5 "$PL_TMP/etcd-m0.log")"
node_prepare 1 || bail "no uplink veth for node 1"
node_start 1
poll 30 node_watching 1 || bail "agent did not sync" "$(tail -n 5 "$(node_dir 1)/podlaned.log")"

node_put gone$X 7 10.202.$X.0/24
node_put kept$X 8 10.203.$X.0/24
nctl 1 node add hand$X 192.168.$Y.9 10.204.$X.0/24 >/dev/null
check "two nodes from etcd and one from podlanectl are in place" \
	poll 10 has_nodes "gone$X hand$X kept$X"
[ "$(map_len)" = 3 ] && [ "$(state_nodes)" = "gone$X hand$X kept$X " ]
ok $? "podlane_nodes has 3 entries and the state dir 3 records ($(map_len); $(state_nodes))"

node_kill 1 KILL
ectl del "/podlane/v1/nodes/gone$X" >/dev/null
node_start 1
poll 30 node_watching 1 || bail "the restarted agent did not sync"
check "after a restart, the node deleted from etcd meanwhile is gone; the others stay" \
	poll 10 has_nodes "hand$X kept$X"
[ "$(map_len)" = 2 ] && [ "$(state_nodes)" = "hand$X kept$X " ]
ok $? "... from podlane_nodes and the state dir too ($(map_len); $(state_nodes))"

# The flag survives a second restart: the kept node is still etcd's, and still goes with it.
node_kill 1 KILL
ectl del "/podlane/v1/nodes/kept$X" >/dev/null
node_start 1
poll 30 node_watching 1 || bail "the agent did not sync after the second restart"
check "a second restart removes the other etcd node, deleted while down; podlanectl's stays" \
	poll 10 has_nodes "hand$X"
done_testing
