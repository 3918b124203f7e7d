#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 03-nodes.t - the node registry of one agent: node_add validates every field and refuses
# (with a code and a "<field>: <problem>" reason, nothing changed) bad names, addresses and
# CIDRs, the reserved ranges (0/8, 127/8, 169.254/16, 224/4, 240/4) as pod CIDRs, this node's
# own name, addresses (--node-ip and those of its interfaces, inside a pod CIDR too) and pod
# CIDR (also as a node IP), a node IP the kernel cannot route to over the uplink, and overlaps
# with other nodes; a repeated add changes nothing, a changed CIDR replaces the route; node_list
# says installed only while the map entry and the kernel route are both in place; node_del is
# idempotent; records survive a restart, stray podlane_nodes entries and kernel routes do not
# (the kernel route of each node follows its record); direct routing without --uplink is
# refused; podlanectl node prints and exits as documented.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
mn_requires
mn_setup

NODES=(1)
API=$PL_ROOT/selftests/agent/api.py
api1() { python3 "$API" "$(node_sock 1)" "$@"; }
nodes_json() { api1 '{"op":"node_list"}'; }
map_entries() { bpftool -j map dump pinned "$(node_pin 1)/podlane_nodes" | jq length; }
state_files() { ls "$(node_dir 1)/state/nodes" 2>/dev/null | wc -l; }

netns_add node1 >/dev/null && netns_add peer >/dev/null &&
	ip link add up0 netns "$(node_ns 1)" type veth peer name p0 netns "$(netns_name peer)" &&
	ip -n "$(node_ns 1)" addr add 192.168.90.1/24 dev up0 && ip -n "$(node_ns 1)" link set up0 up &&
	ip -n "$(node_ns 1)" addr add 192.168.93.1/32 dev up0
ok $? "node1 namespace with an uplink into a test namespace (a second address on it)"
NODE_IP[1]=192.168.90.1
agent_up 1 --uplink up0 || { ok 1 "podlaned starts"; exit 1; }
pod_add p1 1 >/dev/null; ok $? "podlaned runs, one local pod in 10.201.1.0/24"

R=$(api1 '{"op":"node_add","name":"node2","node_ip":"192.168.90.2","pod_cidr":"10.201.2.0/24"}')
[ "$(jq -r .changed <<<"$R")" = true ] && [ "$(map_entries)" = 1 ] && [ "$(state_files)" = 1 ]
ok $? "node2 added: one podlane_nodes entry, one record"
[ "$(api1 '{"op":"node_add","name":"node2","node_ip":"192.168.90.2","pod_cidr":"10.201.2.0/24"}' \
	changed)" = false ]
ok $? "the same add again reports changed=false"

# name|node_ip|pod_cidr|code|reason substring
BAD="Node_2|192.168.90.3|10.201.3.0/24|7|name:
node3|300.1.1.1|10.201.3.0/24|7|node_ip:
node3|127.0.0.1|10.201.3.0/24|7|not a unicast
node3|224.0.0.9|10.201.3.0/24|7|not a unicast
node3|192.168.90.3|10.201.3.0|7|pod_cidr:
node3|192.168.90.3|10.201.3.1/24|7|host bits
node3|192.168.90.3|0.0.0.0/0|7|prefix length
node3|10.201.3.5|10.201.3.0/24|7|inside the node's own pod CIDR
node1|192.168.90.3|10.201.3.0/24|7|is this node
node3|192.168.90.1|10.201.3.0/24|107|this node's own address
node3|192.168.90.2|10.201.3.0/24|107|already belongs to node 'node2'
node3|192.168.90.3|10.201.2.128/25|107|overlaps 10.201.2.0/24 of node 'node2'
node3|192.168.90.3|10.201.0.0/16|107|overlaps
node3|192.168.90.3|10.201.1.0/24|107|this node's own pod CIDR
node3|10.201.2.9|10.201.3.0/24|107|inside the pod CIDR of node 'node2'
node3|192.168.90.3|0.0.0.0/8|7|pod_cidr: 0.0.0.0/8 overlaps 0.0.0.0/8 (\"this network\")
node3|192.168.90.3|127.0.0.0/8|7|overlaps 127.0.0.0/8 (loopback)
node3|192.168.90.3|127.1.0.0/16|7|overlaps 127.0.0.0/8 (loopback)
node3|192.168.90.3|169.254.0.0/16|7|overlaps 169.254.0.0/16 (link-local
node3|192.168.90.3|169.254.1.0/24|7|overlaps 169.254.0.0/16 (link-local
node3|192.168.90.3|224.0.0.0/4|7|overlaps 224.0.0.0/4 (multicast)
node3|192.168.90.3|239.1.0.0/16|7|overlaps 224.0.0.0/4 (multicast)
node3|192.168.90.3|240.0.0.0/4|7|overlaps 240.0.0.0/4 (reserved
node3|192.168.90.3|192.0.0.0/2|7|overlaps 224.0.0.0/4
node3|240.0.0.1|10.201.3.0/24|7|not a unicast
node3|192.168.90.3|192.168.90.0/31|107|pod_cidr: holds this node's own address 192.168.90.1 (--node-ip)
node3|192.168.90.3|192.168.93.0/24|107|pod_cidr: holds this node's own address 192.168.93.1 (up0)
node3|192.168.93.1|10.201.3.0/24|107|node_ip: 192.168.93.1 is this node's own address (up0)
node3|10.201.1.7|10.201.3.0/24|107|node_ip: 10.201.1.7 lies inside this node's own pod CIDR 10.201.1.0/24
node3|192.168.95.3|10.201.3.0/24|7|node_ip: 192.168.95.3 cannot be reached on the link of up0"
fails=0 n=0
while IFS='|' read -r name ip cidr code why; do
	n=$((n + 1))
	R=$(api1 "{\"op\":\"node_add\",\"name\":\"$name\",\"node_ip\":\"$ip\",\"pod_cidr\":\"$cidr\"}")
	if [ "$(jq -r .code <<<"$R")" != "$code" ] || ! jq -r .msg <<<"$R" | grep -qF "$why"; then
		diag "$name $ip $cidr: expected $code '$why', got $R"
		fails=$((fails + 1))
	fi
done <<<"$BAD"
[ $fails = 0 ]; ok $? "$n bad node specs refused with the expected code and reason"
[ "$(nodes_json | jq -c '[.nodes[].name]')" = '["node2"]' ] && [ "$(map_entries)" = 1 ] &&
	[ "$(state_files)" = 1 ]
ok $? "... and nothing changed: node2 only, in the list, the map and on disk"
[ "$(api1 '{"op":"node_add","name":"node3","node_ip":"192.168.90.3"}' code)" = 6 ]
ok $? "a missing pod_cidr is a decode error (6)"

api1 '{"op":"node_add","name":"node2","node_ip":"192.168.90.2","pod_cidr":"10.201.22.0/24"}' \
	>/dev/null && [ "$(map_entries)" = 1 ] &&
	[ "$(nodes_json | jq -r '.nodes[0].pod_cidr')" = 10.201.22.0/24 ] &&
	jq -e '.pod_cidr == "10.201.22.0/24"' "$(node_dir 1)/state/nodes/node2" >/dev/null
ok $? "a new pod CIDR for node2 replaces its route (still one entry) and its record"

OUT=$(ctl_n 1 node add node3 192.168.90.3 10.201.3.0/24) &&
	grep -q "node node3 added (10.201.3.0/24 via 192.168.90.3, direct routing)" <<<"$OUT"
ok $? "podlanectl node add: $OUT"
OUT=$(ctl_n 1 node list)
grep -q '^node3 *192.168.90.3 *10.201.3.0/24 *direct *yes$' <<<"$OUT" &&
	grep -q '^NAME *NODE-IP *POD-CIDR *ROUTING *INSTALLED$' <<<"$OUT"
ok $? "podlanectl node list prints a table"
diag "$OUT"
ERR=$(ctl_n 1 node add node4 192.168.90.4 10.201.4.1/24 2>&1); rc=$?
[ $rc = 1 ] && grep -q "host bits" <<<"$ERR"; ok $? "a refused add exits 1 with the reason: $ERR"
ctl_n 1 node add node4 2>/dev/null; [ $? = 2 ]; ok $? "a malformed command line exits 2"
OUT=$(ctl_n 1 node del node3 nosuchnode) && [ "$(map_entries)" = 1 ] &&
	grep -q "nosuchnode not found" <<<"$OUT"
ok $? "node del removes node3; deleting an unknown node succeeds and says so"

[ "$(kroutes 1)" = 10.201.22.0/24 ] &&
	in_node 1 ip route show proto 112 | grep -q '^10.201.22.0/24 via 192.168.90.2 dev up0'
ok $? "node2's kernel route follows its records: 10.201.22.0/24 via 192.168.90.2 dev up0 only"

# installed tells the truth: without its kernel route node2 is not installed, and adding the
# same record again puts the route back.
installed() { nodes_json | jq -c '[.nodes[] | "\(.name) \(.installed)"]'; }
in_node 1 ip route del 10.201.22.0/24 proto 112 && [ "$(installed)" = '["node2 false"]' ] &&
	[ "$(ctl_n 1 node list | awk '$1 == "node2" { print $5 }')" = no ]
ok $? "node2 is listed as not installed once its kernel route is gone ($(installed))"
api1 '{"op":"node_add","name":"node2","node_ip":"192.168.90.2","pod_cidr":"10.201.22.0/24"}' \
	>/dev/null && [ "$(kroutes 1)" = 10.201.22.0/24 ] && [ "$(installed)" = '["node2 true"]' ]
ok $? "the same node_add again puts the kernel route back ($(installed))"

# A stray entry the records do not explain is gone after a restart; node2 stays. The same for
# kernel routes: a stray one of ours goes, node2's (deleted meanwhile) comes back, only once.
agent_down 1
bpftool map update pinned "$(node_pin 1)/podlane_nodes" key 24 0 0 0 10 201 99 0 \
	value 192 168 90 99 1 0 0 0 0 0 0 0 0 0 0 0 &&
	in_node 1 ip route add 10.201.99.0/24 via 192.168.90.99 dev up0 proto 112 &&
	in_node 1 ip route del 10.201.22.0/24 proto 112 &&
	[ "$(map_entries)" = 2 ] && agent_up 1 --uplink up0 &&
	[ "$(map_entries)" = 1 ] && [ "$(nodes_json | jq -c '[.nodes[] | select(.installed) |
		.name]')" = '["node2"]' ] && [ "$(kroutes 1)" = 10.201.22.0/24 ] &&
	grep -q 'kernel routes in place.* nodes=1 kept=0 written=1 removed=1' \
		"$(node_dir 1)/podlaned.log"
ok $? "after a restart the records are back; a stray map entry and a stray kernel route are removed, node2's route rewritten"

agent_down 1
agent_up 1 && R=$(api1 '{"op":"node_add","name":"node5","node_ip":"192.168.90.5","pod_cidr":"10.201.5.0/24"}')
[ "$(jq -r .code <<<"$R")" = 7 ] && jq -r .msg <<<"$R" | grep -q -- "--uplink" &&
	[ "$(nodes_json | jq -c '[.nodes[] | "\(.name) \(.installed)"]')" = '["node2 false"]' ] &&
	[ "$(map_entries)" = 0 ]
ok $? "without --uplink direct routing is refused, and node2's route is not installed"
done_testing
