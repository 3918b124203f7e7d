# SPDX-License-Identifier: GPL-2.0-only
# selftests/etcd/lib.sh - helpers for the control-plane sync tests on top of
# selftests/lib.sh: a three-member etcd cluster on loopback with the test's own CA
# (etcd_cluster.sh), and several podlaned "nodes" on the host, each with its own pin root,
# state dir, socket, cgroup and uplink veth. They share the host netns, so they run with
# --no-node-routes: the host's routing table is not the test's to change.
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=etcd_cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/etcd_cluster.sh"

AGENT_API=$PL_ROOT/selftests/agent/api.py
NODE_PIDS=()

etcd_requires() {
	require_root
	require_cmd etcd etcdctl openssl python3 jq bpftool ip ss curl
	require_build podlaned podlanectl
	[ -d /sys/fs/bpf ] || skip_all "bpffs is not mounted at /sys/fs/bpf"
	[ -d /sys/fs/cgroup/unified ] || [ -f /sys/fs/cgroup/cgroup.controllers ] ||
		skip_all "no cgroup v2 mount for the agents' --cgroup"
}

# Node n<i>: state, pins, socket and uplink veth of its own.
node_dir() { echo "$PL_TMP/node$1"; }
node_sock() { echo "$(node_dir "$1")/podlaned.sock"; }
node_pin() { echo "/sys/fs/bpf/podlane-test-$PL_ID-n$1"; }
node_uplink() { echo "pl$PL_ID-u$1" | cut -c1-15; }
cgroup_dir() { echo "/sys/fs/cgroup/unified/podlane-test-$PL_ID"; }

node_prepare() {	# node_prepare <i>: uplink veth whose peer sits in a test netns
	local i=$1 ns up
	mkdir -p "$(node_dir "$i")/state"
	ns=$(netns_add "up$i") || return 1
	up=$(node_uplink "$i")
	ip link add "$up" type veth peer name eth0 netns "$ns" || return 1
	ip link set "$up" up
	on_cleanup "ip link del $up"
}

node_ip() { echo "192.168.$((PL_ID % 200 + 20)).$1"; }

node_start() {	# node_start <i> [extra options]
	local i=$1 d=$PL_TMP/pki
	shift
	"$PL_BUILD/podlaned" --pin-root "$(node_pin "$i")" --state-dir "$(node_dir "$i")/state" \
		--socket "$(node_sock "$i")" --log-file "$(node_dir "$i")/podlaned.log" \
		--uplink "$(node_uplink "$i")" --cgroup "$(cgroup_dir)" --no-accounting \
		--no-node-routes \
		--node-name "n$i" --node-ip "$(node_ip "$i")" \
		--etcd-endpoints "$(etcd_endpoints)" --etcd-cacert "$d/ca.crt" \
		--etcd-cert "$d/client.crt" --etcd-key "$d/client.key" \
		--cluster-cidr "10.$((PL_ID % 100 + 100)).0.0/16" --lease-ttl "$LEASE_TTL" "$@" &
	NODE_PIDS[$i]=$!
}

node_kill() {	# node_kill <i> [signal]
	[ -n "${NODE_PIDS[$1]}" ] || return 0
	kill "-${2:-TERM}" "${NODE_PIDS[$1]}" 2>/dev/null
	wait "${NODE_PIDS[$1]}" 2>/dev/null
	NODE_PIDS[$1]=""
}

nctl() { local i=$1; shift; "$PL_BUILD/podlanectl" --socket "$(node_sock "$i")" "$@"; }
napi() { local i=$1; shift; python3 "$AGENT_API" "$(node_sock "$i")" "$@"; }
sync_field() { nctl "$1" --json sync status 2>/dev/null | jq -r "$2"; }
node_watching() { [ "$(sync_field "$1" .state)" = watching ]; }

# remote_has <node> <ip> [node-ip]: podlane_remote of <node> maps <ip> (to node-ip).
remote_has() { remote_has_pin "$(node_pin "$1")" "${@:2}"; }
remote_lacks() { ! remote_has "$@"; }

# pod_on <node> <name>: a pod wired by that node's agent in its pod CIDR; prints its IP.
pod_on() {
	local i=$1 ns cidr
	ns=$(netns_add "$2") || return 1
	cidr=$(sync_field "$i" .pod_cidr)
	napi "$i" "{\"op\":\"add\",\"container_id\":\"c-$2-$PL_ID\",\"netns\":\"/run/netns/$ns\",
		\"ifname\":\"eth0\",\"network\":\"etcdtest\",\"subnet\":\"$cidr\"}" ip
}

etcd_cleanup() {
	local i
	for i in "${!NODE_PIDS[@]}"; do node_kill "$i" KILL; done
	for i in "${!ETCD_PIDS[@]}"; do etcd_member_kill "$i"; done
	for i in 1 2 3 4; do
		if [ -d "$(node_pin "$i")" ]; then
			"$PL_BUILD/podlaned" --uninstall --pin-root "$(node_pin "$i")" \
				--state-dir "$(node_dir "$i")/state" >/dev/null 2>&1
			rm -rf "$(node_pin "$i")"
		fi
	done
	rmdir "$(cgroup_dir)" 2>/dev/null
}
