# SPDX-License-Identifier: GPL-2.0-only
# selftests/etcd/etcd_lib.sh - helpers for the control-plane sync tests on top of
# selftests/lib.sh: a three-member etcd cluster on loopback with the test's own CA (client
# TLS with client certificates, peers in plain HTTP on loopback), and several podlaned
# "nodes" on the host, each with its own pin root, state dir, socket, cgroup and uplink veth.
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

AGENT_API=$PL_ROOT/selftests/agent/api.py
ETCD_PIDS=()
NODE_PIDS=()

etcd_requires() {
	require_root
	require_cmd etcd etcdctl openssl python3 jq bpftool ip ss curl
	require_build podlaned podlanectl
	[ -d /sys/fs/bpf ] || skip_all "bpffs is not mounted at /sys/fs/bpf"
	[ -d /sys/fs/cgroup/unified ] || [ -f /sys/fs/cgroup/cgroup.controllers ] ||
		skip_all "no cgroup v2 mount for the agents' --cgroup"
}

# A CA, a server certificate for 127.0.0.1 and a client certificate, in $PL_TMP/pki.
make_pki() {
	local d=$PL_TMP/pki
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=podlane-test-ca" \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=etcd" -keyout "$d/server.key" \
		-out "$d/server.csr" 2>/dev/null || return 1
	# clientAuth too: etcd's JSON gateway dials its own gRPC port with the server certificate,
	# which --client-cert-auth then checks as a client certificate.
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' \
		> "$d/server.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null ||
		return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=podlaned" -keyout "$d/client.key" \
		-out "$d/client.csr" 2>/dev/null || return 1
	printf 'extendedKeyUsage=clientAuth\n' > "$d/client.ext"
	openssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/client.ext" -out "$d/client.crt" 2>/dev/null
}

# Ports: a block of 7 (3 members x client + peer, one for metrics) from a range picked by
# pid, checked free with ss.
pick_ports() {
	local base i tries=0
	while [ $tries -lt 50 ]; do
		# Below the ephemeral range, where no outgoing connection holds a port.
		base=$(( 21000 + (PL_ID * 7 + tries * 13) % 10000 ))
		for i in 0 1 2 3 4 5 6; do
			ss -Htln "sport = :$((base + i))" | grep -q . && break
		done
		[ "$i" -eq 6 ] && ! ss -Htln "sport = :$((base + 6))" | grep -q . && {
			ETCD_BASE=$base
			return 0
		}
		tries=$((tries + 1))
	done
	return 1
}

client_url() { echo "https://127.0.0.1:$((ETCD_BASE + $1 * 2))"; }
peer_url() { echo "http://127.0.0.1:$((ETCD_BASE + $1 * 2 + 1))"; }
etcd_endpoints() { echo "$(client_url 0),$(client_url 1),$(client_url 2)"; }

etcd_member_start() {	# etcd_member_start <0..2>
	local i=$1 d=$PL_TMP/pki cluster="m0=$(peer_url 0),m1=$(peer_url 1),m2=$(peer_url 2)"
	local client peer
	client=$(client_url "$i")
	peer=$(peer_url "$i")
	etcd --name "m$i" --data-dir "$PL_TMP/etcd-m$i" \
		--listen-client-urls "$client" --advertise-client-urls "$client" \
		--listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
		--initial-cluster "$cluster" --initial-cluster-token "podlane-$PL_ID" \
		--initial-cluster-state new \
		--cert-file "$d/server.crt" --key-file "$d/server.key" \
		--trusted-ca-file "$d/ca.crt" --client-cert-auth \
		--heartbeat-interval 50 --election-timeout 500 \
		> "$PL_TMP/etcd-m$i.log" 2>&1 &
	ETCD_PIDS[$i]=$!
}

etcd_member_kill() {
	kill -KILL "${ETCD_PIDS[$1]}" 2>/dev/null
	wait "${ETCD_PIDS[$1]}" 2>/dev/null
}

ectl() {
	ETCDCTL_API=3 etcdctl --endpoints "$(etcd_endpoints)" --cacert "$PL_TMP/pki/ca.crt" \
		--cert "$PL_TMP/pki/client.crt" --key "$PL_TMP/pki/client.key" \
		--dial-timeout 2s --command-timeout 5s "$@"
}

etcd_healthy() { ectl endpoint health >/dev/null 2>&1; }

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
remote_has() {
	local key val b0 b1 b2 b3
	key=$(echo "$2" | awk -F. '{ printf "%d %d %d %d", $1, $2, $3, $4 }')
	# shellcheck disable=SC2086
	val=$(bpftool -j map lookup pinned "$(node_pin "$1")/podlane_remote" key $key 2>/dev/null |
		jq -r '.value[0:4] | join(" ")') || return 1
	read -r b0 b1 b2 b3 <<< "$val"
	[ -n "$b3" ] || return 1
	[ -z "${3:-}" ] || [ "$((b0)).$((b1)).$((b2)).$((b3))" = "$3" ]
}
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
