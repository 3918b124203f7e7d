#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 04-etcd.t - the multi-node cluster driven by etcd, once per routing mode (direct on one
# bridge, then VXLAN behind a router). Three node namespaces on the fabric, each podlaned with
# its own pin root, synced through a three-member etcd cluster with TLS and client
# certificates; no `podlanectl node add`: pod CIDRs are allocated through etcd and node
# records and endpoints come from it. Pods on different nodes talk TCP and UDP, pod MTU is
# derived (1500 direct, 1450 VXLAN) and a full-size transfer crosses without fragmentation,
# the nodes' own stacks reach remote pods, and a NodePort service put into etcd, whose only
# backend is a pod on node 2, answers a client outside the nodes through node 1. Killing one etcd member changes nothing; killing
# node 3's agent expires its node and endpoints on nodes 1 and 2 within the lease TTL while a
# TCP stream between pods of nodes 1 and 2 runs on without a stall; restarting it brings its
# records back and node3 <-> node1 pod traffic works again.
#
# Where etcd runs: an agent in a node namespace cannot reach the host's loopback, so the
# members run in the test's own fabric namespace ("fab", direct) or router namespace ("rtr",
# VXLAN), their client ports on addresses of that namespace the nodes route to (three bridge
# addresses; the three router ports), their peer ports on its loopback. That is the issue's
# "etcd cluster on loopback" moved one namespace up: addresses only the test's namespaces see,
# gone with them.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../etcd/etcd_cluster.sh
. "$(dirname "$0")/../etcd/etcd_cluster.sh"
mn_requires
require_cmd etcd etcdctl openssl ss
mn_setup
on_cleanup etcd_cluster_kill
LEASE_TTL=4
CLUSTER_CIDR=10.202.0.0/16

sync_state() { ctl_n "$1" --json sync status 2>/dev/null | jq -r "$2"; }
synced() {	# synced <n>...: watching, with a pod CIDR
	local n
	for n in "$@"; do
		[ "$(sync_state "$n" '.state')" = watching ] || return 1
		[ -n "$(sync_state "$n" '.pod_cidr // empty')" ] || return 1
	done
}
# node_names <n> <routing>: the installed remote nodes of node n, sorted, comma-separated.
node_names() {
	ctl_n "$1" node list --json | jq -r --arg m "$2" '[.nodes[] |
		select(.installed and .routing == $m) | .name] | sort | join(",")'
}
knows() {	# knows <n> <pod>: node n's podlane_remote maps the pod to its node's address
	remote_has_pin "$(node_pin "$1")" "${POD_IP[$2]}" "${NODE_IP[${POD_NODE[$2]}]}"
}
forgot_node3() {	# node 3's node, endpoint and kernel route are gone from nodes 1 and 2
	[ "$(node_names 1 "$MODE")" = node2 ] && [ "$(node_names 2 "$MODE")" = node1 ] &&
		! knows 1 p3 && ! knows 2 p3 && [ "$(kroutes 1)" = "$(pod_cidr 2)" ]
}
node3_back() {
	[ "$(node_names 1 "$MODE")" = node2,node3 ] && [ "$(node_names 2 "$MODE")" = node1,node3 ] &&
		knows 1 p3 && knows 2 p3 && [ "$(kroutes 1)" = "$(pod_cidr 2),$(pod_cidr 3)" ]
}
# svc_backend_local <n>: what node n decided about the locality of web's backend.
svc_backend_local() {
	ctl_n "$1" --json service list default/web 2>/dev/null |
		jq -r '.services[0].service.backends[0].local'
}
frag_creates() { in_node "$1" awk '/^Ip: [0-9]/ { print $20 + $19 }' /proc/net/snmp; }

# stall_watch <status> <out> <stop>: until <stop> exists (at most 60 s), the longest time in
# ms the stream's byte count stood still, written to <out>.
stall_watch() {
	local last=-1 t_last now b max=0 i=0
	t_last=$(date +%s%N)
	while [ ! -e "$3" ] && [ $i -lt 1200 ]; do
		b=$(stream_bytes "$1")
		now=$(date +%s%N)
		if [ "$b" -gt "$last" ]; then
			last=$b
			t_last=$now
		fi
		[ $(( (now - t_last) / 1000000 )) -gt $max ] && max=$(( (now - t_last) / 1000000 ))
		# rename, so a reader never sees the file truncated and empty
		echo "$max" > "$2.tmp" && mv "$2.tmp" "$2"
		sleep 0.05
		i=$((i + 1))
	done
}

node_agent() {	# node_agent <n>: node n's agent, synced through etcd
	# shellcheck disable=SC2046 # etcd_agent_opts prints options, one word each
	agent_up "$1" --uplink up0 --routing "$MODE" $(etcd_agent_opts) \
		--cluster-cidr "$CLUSTER_CIDR" --lease-ttl "$LEASE_TTL"
}

# Everything of one mode goes before the next mode builds its own.
mode_down() {
	local p ns
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	BG_PIDS=()
	mn_cleanup
	etcd_cluster_kill
	for ns in $(ip netns list | awk -v p="pl$PL_ID-" 'index($1, p) == 1 { print $1 }'); do
		ip netns del "$ns"
	done
	rm -rf "$PL_TMP"/etcd-m* "$PL_TMP"/node* "$PL_TMP"/pki
	NODE_CIDR=()
	POD_IP=()
	POD_NS=()
	mkdir -p "$(mn_cgroup)"
}

run_mode() {
	local n st out rc victim ep t0 ms cidr3 mtu want_mtu f0 f1

	if [ "$MODE" = direct ]; then
		fabric_direct || return 1
		ETCD_NS=$(netns_name fab)
		ETCD_HOSTS=(192.168.77.251 192.168.77.252 192.168.77.253)
		for n in 0 1 2; do ip -n "$ETCD_NS" addr add "${ETCD_HOSTS[$n]}/24" dev br0; done
	else
		fabric_routed || return 1
		ETCD_NS=$(netns_name rtr)
		ETCD_HOSTS=(192.168.81.1 192.168.82.1 192.168.83.1)
	fi
	client_attach || return 1
	make_pki && pick_ports || return 1
	for n in 0 1 2; do etcd_member_start "$n"; done
	poll 30 etcd_healthy
	rc=$?
	ok $rc "$MODE: three etcd members with TLS in $ETCD_NS on ${ETCD_HOSTS[*]}"
	[ $rc = 0 ] || { diag "$(tail -n 5 "$PL_TMP/etcd-m0.log")"; return 1; }

	for n in "${NODES[@]}"; do
		node_agent "$n" || { ok 1 "$MODE: podlaned starts on node$n"; return 1; }
	done
	poll 30 synced 1 2 3
	ok $? "$MODE: three agents in node namespaces sync with etcd over TLS"
	for n in "${NODES[@]}"; do NODE_CIDR[$n]=$(sync_state "$n" .pod_cidr); done
	[ "$(printf '%s\n' "${NODE_CIDR[@]}" | sort -u | grep -c /)" = 3 ]
	ok $? "$MODE: each node got its own pod CIDR from $CLUSTER_CIDR (${NODE_CIDR[*]})"
	poll 10 eval '[ "$(node_names 1 "$MODE")" = node2,node3 ] &&
		[ "$(node_names 3 "$MODE")" = node1,node2 ]'
	ok $? "$MODE: node records come from etcd: node1 and node3 install the other two"

	for n in "${NODES[@]}"; do
		pod_add "p$n" "$n" auto || { ok 1 "$MODE: pod p$n wired on node$n"; return 1; }
	done
	want_mtu=1500
	[ "$MODE" = vxlan ] && want_mtu=1450
	mtu=$(in_pod p1 cat /sys/class/net/eth0/mtu)
	[ "$mtu" = $want_mtu ]
	ok $? "$MODE: pods wired without an MTU in the CNI config get $mtu (uplink 1500)"
	poll 10 eval 'knows 1 p2 && knows 1 p3 && knows 2 p1 && knows 3 p1'
	ok $? "$MODE: endpoints reach the other nodes' podlane_remote through etcd"

	serve p1 tcp 5001 && serve p2 tcp 5001 && serve p3 tcp 5001 && serve p2 udp 5002 &&
		serve p1 udp 5002
	probe p1 tcp p2 5001 && probe p1 tcp p3 5001 && probe p3 tcp p2 5001
	ok $? "$MODE: TCP p1 -> p2, p1 -> p3, p3 -> p2 across nodes"
	probe p1 udp p2 5002 && probe p3 udp p1 5002
	ok $? "$MODE: UDP p1 -> p2, p3 -> p1 across nodes"
	in_node 1 ping -q -c 2 -i 0.2 -W 2 "${POD_IP[p2]}" >/dev/null &&
		in_node 1 python3 "$NETTOOL" probe tcp "${POD_IP[p3]}" 5001 --timeout 3
	ok $? "$MODE: node1's own stack reaches p2 (ICMP) and p3 (TCP) through its kernel routes"

	# A NodePort service from etcd whose only backend is p2: every node installs it, node1
	# and node3 see the backend as remote, node2 as local; a client outside reaches it
	# through node1 (issue 5).
	ectl put /podlane/v1/services/default/web "{\"name\": \"web\", \"clusterIP\": \"10.96.77.10\",
		\"ports\": [{\"name\": \"tcp\", \"port\": 80, \"targetPort\": 5001, \"nodePort\": 30080},
		{\"name\": \"udp\", \"port\": 81, \"protocol\": \"UDP\", \"targetPort\": 5002,
		 \"nodePort\": 30081}], \"backends\": [{\"ip\": \"${POD_IP[p2]}\"}]}" >/dev/null &&
		poll 10 eval '[ "$(svc_backend_local 1)" = false ] && [ "$(svc_backend_local 3)" = false ] &&
			[ "$(svc_backend_local 2)" = true ]'
	ok $? "$MODE: service web from etcd on every node; backend p2 local on node2 only"
	nodeport_remote "$MODE"

	if command -v iperf3 >/dev/null; then
		f0="$(frag_creates 1) $(frag_creates 3)"
		in_pod p3 timeout 30 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
		BG_PIDS+=($!)
		poll 5 in_pod p3 sh -c "ss -ltn | grep -q :5201"
		out=$(in_pod p1 timeout 30 iperf3 -c "${POD_IP[p3]}" -p 5201 -n 1M -J 2>&1)
		rc=$?
		f1="$(frag_creates 1) $(frag_creates 3)"
		[ $rc = 0 ] && [ "$f0" = "$f1" ]
		ok $? "$MODE: 1 MiB TCP p1 -> p3 at MTU $mtu, no fragment created on node1 or node3 ($f1)"
		[ $rc = 0 ] || diag "$out"
	else
		skip "$MODE: 1 MiB TCP p1 -> p3 without fragmentation" "needs iperf3"
	fi

	# Kill the etcd member node 1 talks to: nothing changes, changes still flow.
	ep=$(sync_state 1 .endpoint)
	victim=0
	for n in 0 1 2; do [ "$(client_url $n)" = "$ep" ] && victim=$n; done
	etcd_member_kill "$victim"
	diag "$MODE: killed etcd member m$victim ($ep)"
	etcd_member_dead "$victim" && pod_add p2b 2 auto && serve p2b tcp 5001
	ok $? "$MODE: with etcd member m$victim dead (its port closed) a new pod p2b is wired on node2"
	poll 15 knows 1 p2b && probe p1 tcp p2b 5001 && probe p1 tcp p2 5001
	ok $? "$MODE: ... node1 learns p2b through etcd and reaches it; p1 -> p2 still works"
	synced 1 2 3
	ok $? "$MODE: all three agents still watch"

	# A stream p1 -> p2 runs while node 3's agent dies and comes back.
	st=$PL_TMP/stream
	stream_start p1 p2 "$st" 90
	stall_watch "$st.recv" "$st.stall" "$st.stop" &
	BG_PIDS+=($!)

	cidr3=${NODE_CIDR[3]}
	t0=$(date +%s%N)
	agent_down 3 KILL
	poll $((LEASE_TTL + 2)) forgot_node3
	rc=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	ok $rc "$MODE: node3's agent killed: its node, endpoint and kernel route leave nodes 1 and 2 within the lease TTL (${ms} ms, TTL ${LEASE_TTL}s)"
	probe p1 tcp p2 5001 && probe p2 udp p1 5002
	ok $? "$MODE: ... pods of nodes 1 and 2 still talk"

	node_agent 3 || { ok 1 "$MODE: node3's agent restarts"; return 1; }
	poll 15 node3_back && [ "$(sync_state 3 .pod_cidr)" = "$cidr3" ]
	ok $? "$MODE: restarted node3 keeps its pod CIDR; its node, endpoint and route are back on 1 and 2"
	probe p1 tcp p3 5001 && probe p3 tcp p1 5001 && probe p3 udp p1 5002
	ok $? "$MODE: node3 <-> node1 pod traffic works again (TCP both ways, UDP)"

	touch "$st.stop"
	# The sender writes "done" only after the receiver's close reaches it: wait for both.
	poll 10 eval 'grep -q "^done" "$st.recv" && grep -q "^done" "$st.send"' &&
		[ "$(cat "$st.stall")" -lt 1000 ]
	ok $? "$MODE: the p1 -> p2 stream ran throughout, longest stall $(cat "$st.stall") ms (receiver: $(cat "$st.recv"); sender: $(cat "$st.send"))"
}

for MODE in direct vxlan; do
	run_mode || diag "$MODE: stopped early"
	mode_down
done
done_testing
