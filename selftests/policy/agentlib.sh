# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/agentlib.sh - helpers for the tests of podlaned's network policy module
# (agent.t, capacity.t, cni.t), on top of selftests/lib.sh: pods wired by podlane-cni with
# their Kubernetes names and labels (as a CRI runtime calls it), and the policy maps decoded
# by polmaps.py.
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

POL_DIR=$PL_ROOT/selftests/policy
NET=poltest
# A pod subnet of this test's own: agents of other tests may run beside it.
POL_SUBNET=10.$((180 + PL_ID % 20)).$((PL_ID / 20 % 250)).0/24

pol_requires() {
	require_root
	require_cmd python3 ip bpftool jq md5sum
	require_build podlaned podlane-cni podlanectl
	[ -d /sys/fs/bpf ] || skip_all "bpffs is not mounted at /sys/fs/bpf"
}

# pol_conf <file> [KEY=VALUE...]: a network config whose args.cni.labels are those.
pol_conf() {
	local f=$1 l labels=""
	shift
	for l in "$@"; do
		labels+="${labels:+,}{\"key\":\"${l%%=*}\",\"value\":\"${l#*=}\"}"
	done
	cat > "$f" <<EOC
{"cniVersion": "1.0.0", "name": "$NET", "type": "podlane-cni", "podCIDR": "$POL_SUBNET",
 "agentSocket": "$PL_SOCK", "args": {"cni": {"labels": [$labels]}}}
EOC
}

# pol_cni <command> <ns> <name> <conf> [CNI_ARGS]: podlane-cni as a runtime runs it, for pod
# ns/name in netns pl<pid>-<ns>-<name>; stdout and stderr to $PL_TMP/cni.out and cni.err.
pol_cni() {
	local netns san=()
	netns=$(netns_name "$2-$3")
	[ -n "${ASAN_OPTIONS:-}" ] && san+=("ASAN_OPTIONS=$ASAN_OPTIONS")
	[ -n "${UBSAN_OPTIONS:-}" ] && san+=("UBSAN_OPTIONS=$UBSAN_OPTIONS")
	env -i PATH="$PATH" "${san[@]}" CNI_COMMAND="$1" CNI_CONTAINERID="c-$2-$3-$PL_ID" \
		CNI_NETNS="/run/netns/$netns" CNI_IFNAME=eth0 CNI_PATH="$PL_BUILD" \
		CNI_ARGS="${5-IgnoreUnknown=1;K8S_POD_NAMESPACE=$2;K8S_POD_NAME=$3;K8S_POD_UID=u$PL_ID}" \
		"$PL_BUILD/podlane-cni" < "$4" > "$PL_TMP/cni.out" 2> "$PL_TMP/cni.err"
}

# pod_add <ns> <name> [KEY=VALUE...]: netns, then CNI ADD with those labels.
pod_add() {
	local ns=$1 name=$2 netns
	shift 2
	netns=$(netns_name "$ns-$name")
	ip netns list | grep -qw "^$netns" || { ip netns add "$netns" &&
		ip -n "$netns" link set lo up; } || return 2
	pol_conf "$PL_TMP/conf-$ns-$name.json" "$@"
	pol_cni ADD "$ns" "$name" "$PL_TMP/conf-$ns-$name.json"
}

pod_del() {
	pol_cni DEL "$1" "$2" "$PL_TMP/conf-$1-$2.json"
}

# pod_field <ns/name> <jq field>: the field of the pod in `podlanectl pod list -o json`.
pod_field() {
	ctl pod list -o json | jq -r --arg p "$1" \
		".pods[] | select(.namespace + \"/\" + .name == \$p) | $2"
}

# pod_record <name>: the pod's record file under <state-dir>/pods/ (nothing when none).
pod_record() {
	local f
	for f in "$PL_STATE"/pods/*.json; do
		[ -e "$f" ] && jq -e --arg n "$1" '.name == $n' "$f" >/dev/null && echo "$f"
	done
}

# maps <what>: the policy maps decoded (polmaps.py): ep, policy, ipcache, rev.
maps() { python3 "$POL_DIR/polmaps.py" "$PL_PIN" "$@"; }

# ep_of <ns/name>: the pod's podlane_ep_policy entry as JSON (one line).
ep_of() { maps ep | jq -c --arg i "$(pod_field "$1" .ifindex)" '.[$i]'; }

# set_entries <set id>: how many podlane_policy entries the rule set has.
set_entries() { maps policy | jq --argjson s "$1" '[.[] | select(.set == $s)] | length'; }

# What a policy change may touch, to compare before and after a refused one. This node's
# own addresses (HOST in podlane_ipcache) are left out: other tests add and remove some
# while this one runs, and the agent follows them (and then bumps the revision).
pol_snapshot() {
	maps ep
	maps policy
	maps ipcache | jq -c 'map(select(.id != 1))'
	(cd "$PL_STATE" && find policies namespaces pods -type f 2>/dev/null | sort |
		xargs -r md5sum)
}

# metric <name{labels}>: its value from GET /metrics ($POL_METRICS is host:port).
metric() {
	curl -s "http://$POL_METRICS/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
