#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 06-policy-truth.t - the NetworkPolicy truth table (selftests/policy/truthlib.sh and
# truth_cases.sh) across the three-node fabric, driven by etcd: pods x/a .. z/c spread over
# nodes 1, 2 and 3 (x/a on 1, x/b on 2, x/c on 3, y/a on 2, ...: every namespace on every node,
# every pair of nodes carrying traffic in both directions), each node's podlaned synced through
# etcd, and every policy, namespace label, pod label and named port written as an etcd record
# (/podlane/v1/policies, /namespaces, /pods) through truthlib's tt_api_* hooks, never through
# podlanectl. A pod's labels reach the other nodes in its node's endpoint record, so every
# label case here is a remote pod's label change flipping verdicts on the other nodes.
#
# Each write waits until every node applied the store up to its revision (and, for a pod
# record, until every node sees the pod's new labels and ports), so a matrix never judges a
# change still on its way; a write a node refused (a dead letter) fails the case.
#
# Both routing modes, within the CI budget: every case in direct mode (nodes on one bridge),
# and in VXLAN mode (nodes behind a router) the representative subset TRUTH_VXLAN_CASES: cases
# where pods of other nodes are selected by pod and namespace labels, named ports, a
# protocol-only rule, ipBlock with except, a pod and a namespace label change, a policy update
# and delete. TRUTH_VXLAN_CASES=all runs them all there too; TRUTH_MODES=vxlan one mode only.
# The probes go to the pods' addresses; ClusterIP services are probed by truth.t on one node.
#
# Where etcd runs: in the test's fabric namespace (direct) or its router (VXLAN), one member
# with TLS, as 04-etcd.t runs three.
# shellcheck source=../policy/truthlib.sh
. "$(dirname "$0")/../policy/truthlib.sh"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../etcd/etcd_cluster.sh
. "$(dirname "$0")/../etcd/etcd_cluster.sh"
tt_requires
mn_requires
require_cmd etcd etcdctl openssl ss
require_build selftests/policy/policy_json
mn_setup
on_cleanup etcd_cluster_kill
tt_init
T_ALL=$(date +%s)
CLUSTER_CIDR=10.203.0.0/16
POLICY_JSON=$PL_BUILD/selftests/policy/policy_json
TRUTH_MODES=${TRUTH_MODES:-direct vxlan}
TRUTH_VXLAN_CASES=${TRUTH_VXLAN_CASES:-"allow_from_pod_in_ns pod_and_ns_selector \
	ingress_ns_named_port egress_named_port udp_rule_not_tcp egress_cidr_except \
	ingress_from_updated_ns ingress_from_updated_pod deny_to_updated_pod deleted_policy \
	mixed_peers"}
TT_SVC_SKIP="the cluster run probes pod addresses; services are probed by truth.t on one node"

# Hooks: where pods live and how a node is reached ------------------------------------------
TT_NODES=(1 2 3)
declare -A TT_POD_IDX=()
_i=0
for _p in "${TT_PODS[@]}"; do TT_POD_IDX[$_p]=$_i; _i=$((_i + 1)); done
unset _i _p
# x/a x/b x/c y/a y/b y/c z/a z/b z/c on 1 2 3 2 3 1 3 1 2: each namespace on every node.
tt_pod_node() {
	local i=${TT_POD_IDX[$1]}
	echo $(( (i % 3 + i / 3) % 3 + 1 ))
}
tt_node_sock() { node_sock "$1"; }
tt_node_cidr() { echo "${NODE_CIDR[$1]}"; }
tt_in_node() { local n=$1; shift; in_node "$n" "$@"; }

# Hooks: the world changes through etcd records ----------------------------------------------
sync_rev() { ctl_n "$1" --json sync status 2>/dev/null | jq -r '"\(.revision) \(.queue.depth)"'; }
# applied <rev>: every node has taken the store up to rev off its queue (the main thread
# answers status only between batches, so what it took it has applied).
applied() {
	local n r d
	for n in "${TT_NODES[@]}"; do
		read -r r d <<< "$(sync_rev "$n")"
		[ "${r:-0}" -ge "$1" ] && [ "$d" = 0 ] || return 1
	done
}
# refused <key>: the dead letter a node keeps for key, if any.
refused() {
	local n
	for n in "${TT_NODES[@]}"; do
		ctl_n "$n" --json deadletters 2>/dev/null |
			jq -r --arg k "$1" --arg n "node$n" '.deadletters[]? | select(.key == $k) |
				"\($n): \(.reason)"'
	done
}
# store_put <key> <value> | store_del <key>: write, wait until every node applied it, fail
# with the reason when a node refused it.
store_write() {
	local key=$1 rev why
	shift
	rev=$(ectl "$@" -w json | jq -r '.header.revision') || return 1
	if [ -z "$rev" ] || [ "$rev" = null ]; then
		echo "etcdctl $1 $key failed"
		return 1
	fi
	if ! poll 15 applied "$rev"; then
		echo "not every node applied revision $rev ($key) within 15 s"
		return 1
	fi
	why=$(refused "$key")
	[ -z "$why" ] || { echo "$key refused: $why"; return 1; }
}
store_put() { store_write "$1" put "$1" "$2"; }
store_del() { store_write "$1" del "$1"; }

# labels_after <map name> <object> <changes...>: the labels after the changes, "k=v" lines.
labels_after() {
	local -n m=$1
	local obj=$2 k a
	local -A cur=()
	shift 2
	for k in "${!m[@]}"; do
		[ "${k%% *}" = "$obj" ] && cur[${k#* }]=${m[$k]}
	done
	for a in "$@"; do
		if [[ $a == *- ]]; then unset "cur[${a%-}]"; else cur[${a%%=*}]=${a#*=}; fi
	done
	for k in "${!cur[@]}"; do printf '%s=%s\n' "$k" "${cur[$k]}"; done | sort
}
labels_json() {
	jq -cRn '[inputs | select(length > 0) | capture("^(?<key>[^=]*)=(?<value>.*)$")] |
		from_entries'
}
ports_json() {	# ports_json <name=PROTO/port...>
	printf '%s\n' "$@" | jq -cRn '[inputs | select(length > 0) |
		capture("^(?<name>[^=]*)=(?<protocol>[A-Z]+)/(?<containerPort>[0-9]+)$") |
		.containerPort |= tonumber]'
}
# pod_seen <ns/pod> <labels json> <ports json>: every node knows the pod with these.
pod_seen() {
	local n
	for n in "${TT_NODES[@]}"; do
		ctl_n "$n" --json pod list 2>/dev/null | jq -e --arg ns "${1%/*}" --arg p "${1#*/}" \
			--argjson l "$2" --argjson pp "$3" '[.pods[] | select(.namespace == $ns and
			.name == $p)] | length == 1 and (.[0] | (.labels | from_entries) == $l and
			([.ports[]? | {name, protocol, containerPort: .port}] | sort) ==
			($pp | sort))' >/dev/null || return 1
	done
}
pod_record() {	# pod_record <ns/pod> <labels "k=v" lines> <ports...>
	local p=$1 l pj v
	l=$(printf '%s\n' "$2" | labels_json)
	shift 2
	pj=$(ports_json "$@")
	v=$(jq -cn --argjson l "$l" --argjson p "$pj" '{labels: $l, ports: $p}')
	store_put "/podlane/v1/pods/$p" "$v" || return 1
	# The pod's node publishes its new labels in its endpoint record: every node has them.
	poll 15 pod_seen "$p" "$l" "$pj" || { echo "not every node sees $p's new labels"; return 1; }
}

tt_api_policy_add() {
	local j ns name
	j=$("$POLICY_JSON" "$1") || return 1
	ns=$(jq -r .metadata.namespace <<< "$j")
	name=$(jq -r .metadata.name <<< "$j")
	store_put "/podlane/v1/policies/$ns/$name" "$j"
}
tt_api_policy_del() { store_del "/podlane/v1/policies/$1"; }
tt_api_ns_label() {
	local ns=$1 l
	shift
	l=$(labels_after TT_NLABEL "$ns" "$@" | labels_json)
	store_put "/podlane/v1/namespaces/$ns" "{\"labels\": $l}"
}
tt_api_pod_label() {
	local p=$1
	shift
	# shellcheck disable=SC2086 # TT_PPORTS holds words
	pod_record "$p" "$(labels_after TT_PLABEL "$p" "$@")" ${TT_PPORTS[$p]}
}
tt_api_pod_ports() {
	local p=$1
	shift
	pod_record "$p" "$(labels_after TT_PLABEL "$p")" "$@"
}

# The cluster -------------------------------------------------------------------------------
node_agent() {	# node_agent <n>
	# shellcheck disable=SC2046 # etcd_agent_opts prints options, one word each
	agent_up "$1" --uplink up0 --routing "$MODE" $(etcd_agent_opts) \
		--cluster-cidr "$CLUSTER_CIDR" --lease-ttl 4
}
synced() {
	local n
	for n in "${TT_NODES[@]}"; do
		[ "$(ctl_n "$n" --json sync status 2>/dev/null | jq -r .state)" = watching ] &&
			[ -n "$(ctl_n "$n" --json sync status | jq -r '.pod_cidr // empty')" ] ||
			return 1
	done
}
# every node knows all nine pods, the remote ones from their endpoint records
pods_known() {
	local n
	for n in "${TT_NODES[@]}"; do
		[ "$(ctl_n "$n" --json pod list 2>/dev/null | jq '[.pods[] | select(.namespace |
			test("^[xyz]$"))] | length')" = 9 ] || return 1
	done
}

mode_down() {
	local ns
	pl_cleanup_hooks_run_truth
	mn_cleanup
	etcd_cluster_kill
	for ns in $(ip netns list | awk -v p="pl$PL_ID-" 'index($1, p) == 1 { print $1 }'); do
		ip netns del "$ns"
	done
	rm -rf "$PL_TMP"/etcd-m* "$PL_TMP"/node* "$PL_TMP"/pki "$TT_DIR"
	mkdir -p "$TT_DIR/policies" "$(mn_cgroup)"
	NODE_CIDR=()
	TT_NETNS=() TT_IP=() TT_NODE=() TT_PLABEL=() TT_NLABEL=() TT_PPORTS=()
	TT_SERVER_PID=()
	TT_CASE_LIST=() TT_SUMMARY=()
	TT_CASES_RUN=0 TT_CASES_MATCH=0 TT_CASES_SKIP=0
}
# What truthlib registered with on_cleanup for this mode's pods (CNI DEL, servers) runs now,
# while the agents are up; the rest of the test's hooks stay for the end.
pl_cleanup_hooks_run_truth() {
	local h keep=()
	for h in "${PL_CLEANUP_HOOKS[@]}"; do
		case $h in
		"tt_cni DEL "* | "kill "*) eval "$h" >/dev/null 2>&1 ;;
		*) keep+=("$h") ;;
		esac
	done
	PL_CLEANUP_HOOKS=("${keep[@]}")
}

run_mode() {
	local n t0 cases rc

	t0=$(date +%s)
	if [ "$MODE" = direct ]; then
		fabric_direct || return 1
		ETCD_NS=$(netns_name fab)
		ETCD_HOSTS=(192.168.77.251 192.168.77.251 192.168.77.251)
		ip -n "$ETCD_NS" addr add 192.168.77.251/24 dev br0
	else
		fabric_routed || return 1
		ETCD_NS=$(netns_name rtr)
		ETCD_HOSTS=(192.168.81.1 192.168.81.1 192.168.81.1)
	fi
	make_pki && pick_ports || return 1
	etcd_single_start	# one member: 04-etcd.t runs three and kills one
	poll 30 etcd_healthy
	rc=$?
	ok $rc "$MODE: etcd with TLS in $ETCD_NS"
	[ $rc = 0 ] || return 1
	for n in "${TT_NODES[@]}"; do
		node_agent "$n" || { ok 1 "$MODE: podlaned starts on node$n"; return 1; }
	done
	poll 30 synced
	rc=$?
	ok $rc "$MODE: three agents in node namespaces sync with etcd"
	[ $rc = 0 ] || return 1
	for n in "${TT_NODES[@]}"; do
		NODE_CIDR[$n]=$(ctl_n "$n" --json sync status | jq -r .pod_cidr)
	done
	diag "$MODE: pod CIDRs ${NODE_CIDR[*]}"

	tt_topology || return 1
	poll 20 pods_known
	rc=$?
	ok $rc "$MODE: every node knows all nine pods (remote ones from their endpoint records)"
	[ $rc = 0 ] || return 1
	diag "$MODE: pods on nodes: $(for p in "${TT_PODS[@]}"; do printf '%s@%s ' "$p" "${TT_NODE[$p]}"; done)"

	. "$(dirname "$0")/../policy/truth_cases.sh"
	cases=${TRUTH_CASES:-}
	if [ "$MODE" = vxlan ] && [ "$TRUTH_VXLAN_CASES" != all ] && [ -z "$cases" ]; then
		# shellcheck disable=SC2086 # one line of names, however the list was written
		cases=$(echo $TRUTH_VXLAN_CASES)
		diag "$MODE: the representative subset ($(wc -w <<< "$cases") cases): $cases"
	fi
	TRUTH_CASES=$cases tt_run_cases
	tt_score
	[ "$TT_CASES_RUN" -gt 0 ] && [ "$TT_CASES_MATCH" = "$TT_CASES_RUN" ]
	ok $? "$MODE: truth table $TT_CASES_MATCH/$TT_CASES_RUN cases match across three nodes, policies and labels from etcd ($(( $(date +%s) - t0 )) s)"
}

for MODE in $TRUTH_MODES; do
	run_mode || diag "$MODE: stopped early"
	mode_down
done
diag "06-policy-truth ran in $(( $(date +%s) - T_ALL )) s"
done_testing
