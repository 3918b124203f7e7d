# SPDX-License-Identifier: GPL-2.0-only
# selftests/multinode/lib.sh - a cluster of three podlane nodes on one machine. Each node is
# a network namespace with its own podlaned (own pin root, state dir and socket) and pods in
# namespaces of their own, wired by podlane-cni run in the node's namespace. The nodes are
# joined either by a bridge in a "fab" namespace (one shared link: direct routing) or through
# a router namespace, one subnet per node (no shared link: only VXLAN works).
#
# podlaned runs under `nsenter --net`, not `ip netns exec`: the latter gives the command a
# mount namespace with a fresh /sys, so the agent would pin into a private bpffs that dies with
# it, and a restarted agent could not adopt its pins.
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

NETTOOL=$PL_ROOT/scripts/nettool.py
NODES=(1 2 3)
BG_PIDS=()
declare -A AGENT_PID NODE_IP NODE_CIDR POD_NS POD_IP POD_NODE

mn_requires() {
	require_root
	require_cmd python3 ip jq nsenter ping bpftool
	require_build podlaned podlane-cni podlanectl
	[ -d /sys/fs/bpf ] || skip_all "bpffs is not mounted at /sys/fs/bpf"
}

mn_setup() {
	pl_setup
	on_cleanup mn_cleanup
	mkdir -p "$(mn_cgroup)" || skip_all "cannot create a cgroup v2 directory for the agents"
}

# The cgroup whose sockets the agents' socket LB serves: an empty one of the test's, so that
# no process on the machine (the test's own clients included) has its connects translated.
mn_cgroup() {
	if [ -d /sys/fs/cgroup/unified ]; then
		echo "/sys/fs/cgroup/unified/podlane-test-$PL_ID-mn"
	else
		echo "/sys/fs/cgroup/podlane-test-$PL_ID-mn"
	fi
}

node_ns() { netns_name "node$1"; }
node_dir() { echo "$PL_TMP/node$1"; }
node_pin() { echo "/sys/fs/bpf/podlane-test-$PL_ID-node$1"; }
node_sock() { echo "$PL_TMP/node$1/podlaned.sock"; }
# A node's pod CIDR: fixed, unless the test learnt it from the agent (etcd allocation).
pod_cidr() { echo "${NODE_CIDR[$1]:-10.201.$1.0/24}"; }

# in_node <n> <command...>: run in node n's network namespace (mounts stay the host's).
in_node() {
	local n=$1
	shift
	nsenter --net="/run/netns/$(node_ns "$n")" -- "$@"
}
in_pod() {
	local p=$1
	shift
	ip netns exec "${POD_NS[$p]}" "$@"
}

# ctl_n <n> <podlanectl args...>
ctl_n() {
	local n=$1
	shift
	"$PL_BUILD/podlanectl" --socket "$(node_sock "$n")" "$@"
}

# Fabric ---------------------------------------------------------------------------------
# Each node's uplink is "up0" inside its namespace; the other end lives in a test namespace.

# fabric_direct: nodes 192.168.77.<n>/24 on one bridge.
fabric_direct() {
	local fab n ns
	fab=$(netns_name fab)
	netns_add fab >/dev/null || return 1
	ip -n "$fab" link add br0 type bridge && ip -n "$fab" link set br0 up || return 1
	for n in "${NODES[@]}"; do
		ns=$(node_ns "$n")
		netns_add "node$n" >/dev/null || return 1
		NODE_IP[$n]=192.168.77.$n
		ip link add up0 netns "$ns" type veth peer name "f$n" netns "$fab" || return 1
		ip -n "$fab" link set "f$n" master br0 up &&
			ip -n "$ns" addr add "${NODE_IP[$n]}/24" dev up0 &&
			ip -n "$ns" link set up0 up || return 1
	done
}

# fabric_routed: node n is 192.168.8<n>.2/24, its router port 192.168.8<n>.1; nodes share no
# link, each routes to the others through the router.
fabric_routed() {
	local rtr n ns
	rtr=$(netns_name rtr)
	netns_add rtr >/dev/null || return 1
	# The router is a namespace of this test: its forwarding switch is ours to turn on.
	ip netns exec "$rtr" sysctl -qw net.ipv4.ip_forward=1 || return 1
	for n in "${NODES[@]}"; do
		ns=$(node_ns "$n")
		netns_add "node$n" >/dev/null || return 1
		NODE_IP[$n]=192.168.8$n.2
		ip link add up0 netns "$ns" type veth peer name "r$n" netns "$rtr" || return 1
		ip -n "$rtr" addr add "192.168.8$n.1/24" dev "r$n" &&
			ip -n "$rtr" link set "r$n" up &&
			ip -n "$ns" addr add "${NODE_IP[$n]}/24" dev up0 &&
			ip -n "$ns" link set up0 up &&
			ip -n "$ns" route add default via "192.168.8$n.1" || return 1
	done
}

# client_attach: a namespace "cli" outside every node, on the fabric (the bridge for direct,
# a fourth router port for routed); sets CLIENT_IP.
client_attach() {
	local cli fab rtr
	cli=$(netns_add cli) || return 1
	if [ -e "/run/netns/$(netns_name fab)" ]; then
		fab=$(netns_name fab)
		CLIENT_IP=192.168.77.100
		ip link add c0 netns "$cli" type veth peer name fc netns "$fab" &&
			ip -n "$fab" link set fc master br0 up &&
			ip -n "$cli" addr add "$CLIENT_IP/24" dev c0 && ip -n "$cli" link set c0 up
	else
		rtr=$(netns_name rtr)
		CLIENT_IP=192.168.84.2
		ip link add c0 netns "$cli" type veth peer name r4 netns "$rtr" &&
			ip -n "$rtr" addr add 192.168.84.1/24 dev r4 && ip -n "$rtr" link set r4 up &&
			ip -n "$cli" addr add "$CLIENT_IP/24" dev c0 && ip -n "$cli" link set c0 up &&
			ip -n "$cli" route add default via 192.168.84.1
	fi
}

# udp_probe_from <netns> <host> <port>: an echo over a connected UDP socket, which takes an
# answer only from host:port itself (a reply from the backend's own address would not do).
udp_probe_from() {
	ip netns exec "$1" python3 - "$2" "$3" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
s.connect((sys.argv[1], int(sys.argv[2])))
for _ in range(6):
    s.send(b"podlane-nodeport")
    try:
        if s.recv(100) == b"podlane-nodeport":
            sys.exit(0)
    except (socket.timeout, ConnectionRefusedError):
        pass
sys.exit(1)
PY
}

# nodeport_remote <label>: a client outside the nodes reaches a NodePort of node1 whose only
# backend is p2 on node2 (service "web": TCP 30080 -> p2:5001, UDP 30081 -> p2:5002, echo
# servers running), several connections each; prints 1 TAP line.
nodeport_remote() {
	local ok_tcp=0 ok_udp=0 cli
	cli=$(netns_name cli)
	for _ in 1 2 3 4 5; do
		ip netns exec "$cli" python3 "$NETTOOL" probe tcp "${NODE_IP[1]}" 30080 --timeout 3 &&
			ok_tcp=$((ok_tcp + 1))
		udp_probe_from "$cli" "${NODE_IP[1]}" 30081 && ok_udp=$((ok_udp + 1))
	done
	[ $ok_tcp = 5 ] && [ $ok_udp = 5 ]
	ok $? "$1: client -> node1:NodePort with its only backend p2 on node2: TCP $ok_tcp/5, UDP $ok_udp/5, answered from node1"
}

# Agents ---------------------------------------------------------------------------------
# agent_up <n> [podlaned options...]: start node n's agent, wait until it answers.
agent_up() {
	local n=$1 dir
	shift
	dir=$(node_dir "$n")
	mkdir -p "$dir/state"
	nsenter --net="/run/netns/$(node_ns "$n")" -- "$PL_BUILD/podlaned" \
		--pin-root "$(node_pin "$n")" --state-dir "$dir/state" --socket "$(node_sock "$n")" \
		--log-file "$dir/podlaned.log" --node-name "node$n" --node-ip "${NODE_IP[$n]}" \
		--cgroup "$(mn_cgroup)" "$@" &
	AGENT_PID[$n]=$!
	if ! poll 20 ctl_n "$n" status; then
		diag "podlaned on node$n did not come up; its log:" \
			"$(tail -n 20 "$dir/podlaned.log" 2>/dev/null)"
		return 1
	fi
}

agent_down() {	# agent_down <n> [signal]
	[ -n "${AGENT_PID[$1]:-}" ] || return 0
	kill "-${2:-TERM}" "${AGENT_PID[$1]}" 2>/dev/null
	wait "${AGENT_PID[$1]}" 2>/dev/null
	AGENT_PID[$1]=""
}

mn_cleanup() {
	local n p
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for n in "${NODES[@]}"; do
		agent_down "$n"
		if [ -d "$(node_pin "$n")" ] && [ -e "/run/netns/$(node_ns "$n")" ]; then
			in_node "$n" "$PL_BUILD/podlaned" --uninstall --pin-root "$(node_pin "$n")" \
				--state-dir "$(node_dir "$n")/state" >/dev/null 2>&1
		fi
		rm -rf "$(node_pin "$n")"
	done
	rmdir "$(mn_cgroup)" 2>/dev/null
}

# Pods -----------------------------------------------------------------------------------
# pod_add <name> <node> [mtu]: a pod netns on node n, wired by podlane-cni ADD run in the node.
# mtu "auto" leaves it out of the config: the agent derives it from the routing mode.
pod_add() {
	local name=$1 n=$2 mtu=${3:-1500} ns conf mtu_field
	ns=$(netns_name "$name")
	netns_add "$name" >/dev/null || return 1
	conf=$(node_dir "$n")/net.conf
	mtu_field="\"mtu\": $mtu, "
	[ "$mtu" = auto ] && mtu_field=""
	cat > "$conf" <<EOC
{"cniVersion": "1.0.0", "name": "mn", "type": "podlane-cni", "podCIDR": "$(pod_cidr "$n")",
 $mtu_field"agentSocket": "$(node_sock "$n")"}
EOC
	in_node "$n" env CNI_COMMAND=ADD CNI_CONTAINERID="c-$name-$PL_ID" \
		CNI_NETNS="/run/netns/$ns" CNI_IFNAME=eth0 CNI_PATH="$PL_BUILD" \
		"$PL_BUILD/podlane-cni" < "$conf" > "$PL_TMP/$name.result" 2>&1 || {
		diag "ADD $name on node$n failed: $(cat "$PL_TMP/$name.result")"
		return 1
	}
	POD_NS[$name]=$ns
	POD_NODE[$name]=$n
	POD_IP[$name]=$(jq -r '.ips[0].address' "$PL_TMP/$name.result" | cut -d/ -f1)
	[ -n "${POD_IP[$name]}" ] && [ "${POD_IP[$name]}" != null ]
}

# join_all: every agent learns the other nodes through `podlanectl node add`.
join_all() {
	local n m
	for n in "${NODES[@]}"; do
		for m in "${NODES[@]}"; do
			[ "$n" = "$m" ] && continue
			ctl_n "$n" node add "node$m" "${NODE_IP[$m]}" "$(pod_cidr "$m")" >/dev/null ||
				return 1
		done
	done
}

# Traffic --------------------------------------------------------------------------------
# serve <pod> <tcp|udp> <port>: a bounded echo server in the pod, ready on return.
serve() {
	local ready=$PL_TMP/ready.$1.$2.$3
	rm -f "$ready"
	ip netns exec "${POD_NS[$1]}" python3 "$NETTOOL" serve "$2" "$3" --timeout 300 \
		--ready "$ready" &
	BG_PIDS+=($!)
	poll 10 test -e "$ready"
}

probe() {	# probe <from-pod> <tcp|udp> <to-pod> <port>
	in_pod "$1" python3 "$NETTOOL" probe "$2" "${POD_IP[$3]}" "$4" --timeout 3
}

pingc() {	# pingc <from-pod> <address> [count]
	in_pod "$1" ping -q -c "${3:-3}" -i 0.2 -W 2 "$2"
}

# kroutes <n>: the destinations of node n's kernel routes to remote pod CIDRs, sorted.
# (Text, not -j: iproute2's JSON of an encap route has two "dst" keys.)
kroutes() { in_node "$1" ip route show proto 112 | awk '{ print $1 }' | sort | paste -sd,; }

# Datagrams node n's IP stack forwarded: the BPF path must not add to it.
node_forwarded() { in_node "$1" awk '/^Ip: [0-9]/ { print $7 }' /proc/net/snmp; }

# node_drops <n> <reason>: node-wide drop count of a reason, from the status op.
node_drops() { ctl_n "$1" status --json | jq -r --arg r "$2" '.drops[$r] // 0'; }

# Streams ----------------------------------------------------------------------------------
# stream_start <from-pod> <to-pod> <status-prefix> <seconds>: a bounded TCP stream (nettool,
# port 5003) with status files <prefix>.recv and .send; touch <prefix>.stop to end it.
# Returns once bytes arrive.
stream_start() {
	rm -f "$3".*
	in_pod "$2" python3 "$NETTOOL" stream-recv 5003 --status "$3.recv" --timeout "$4" \
		--ready "$3.ready" &
	BG_PIDS+=($!)
	poll 10 test -e "$3.ready" || return 1
	in_pod "$1" python3 "$NETTOOL" stream-send "${POD_IP[$2]}" 5003 --status "$3.send" \
		--stop "$3.stop" --duration "$4" &
	BG_PIDS+=($!)
	poll 10 stream_grows "$3.recv" 0
}
# stream_bytes <status-file>: bytes a nettool stream has moved so far.
stream_bytes() { awk '{ print $2 + 0 }' "$1" 2>/dev/null || echo 0; }
stream_grows() {	# stream_grows <status-file> <than>
	[ "$(stream_bytes "$1")" -gt "$2" ]
}
