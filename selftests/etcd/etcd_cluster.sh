# SPDX-License-Identifier: GPL-2.0-only
# selftests/etcd/etcd_cluster.sh - a three-member etcd cluster for tests, with the test's own
# CA: clients speak TLS and must present a client certificate, peers talk plain HTTP on the
# loopback of the namespace the members run in. Sourced after selftests/lib.sh.
#
# By default the members run in the host netns and listen on 127.0.0.1 (etcd/lib.sh). A test
# whose agents live in other namespaces sets, before make_pki:
#   ETCD_NS     a namespace of the test's own to run the members (and etcdctl) in
#   ETCD_HOSTS  the client address of each member (an array of three, any may repeat)
# The members then listen on those addresses there, which is the same thing as "on loopback"
# one level up: addresses no other host sees, in a namespace the test created and deletes.

ETCD_PIDS=()
ETCD_NS=${ETCD_NS:-}
[ "${#ETCD_HOSTS[@]}" -eq 3 ] 2>/dev/null || ETCD_HOSTS=(127.0.0.1 127.0.0.1 127.0.0.1)

# in_etcd_ns <command...>: run where the members run (mounts stay the host's).
in_etcd_ns() {
	if [ -n "$ETCD_NS" ]; then
		nsenter --net="/run/netns/$ETCD_NS" -- "$@"
	else
		"$@"
	fi
}

# A CA, a server certificate for every member address and a client certificate, in
# $PL_TMP/pki.
make_pki() {
	local d=$PL_TMP/pki san="" h
	mkdir -p "$d"
	for h in $(printf '%s\n' "${ETCD_HOSTS[@]}" | sort -u); do san+="${san:+,}IP:$h"; done
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=podlane-test-ca" \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=etcd" -keyout "$d/server.key" \
		-out "$d/server.csr" 2>/dev/null || return 1
	# clientAuth too: etcd's JSON gateway dials its own gRPC port with the server certificate,
	# which --client-cert-auth then checks as a client certificate.
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" \
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
			in_etcd_ns ss -Htln "sport = :$((base + i))" | grep -q . && break
		done
		[ "$i" -eq 6 ] && ! in_etcd_ns ss -Htln "sport = :$((base + 6))" | grep -q . && {
			ETCD_BASE=$base
			return 0
		}
		tries=$((tries + 1))
	done
	return 1
}

client_url() { echo "https://${ETCD_HOSTS[$1]}:$((ETCD_BASE + $1 * 2))"; }
peer_url() { echo "http://127.0.0.1:$((ETCD_BASE + $1 * 2 + 1))"; }
etcd_endpoints() {
	if [ -n "${ETCD_SINGLE:-}" ]; then
		client_url 0
	else
		echo "$(client_url 0),$(client_url 1),$(client_url 2)"
	fi
}

# The agent options that sync with this cluster.
etcd_agent_opts() {
	local d=$PL_TMP/pki
	echo --etcd-endpoints "$(etcd_endpoints)" --etcd-cacert "$d/ca.crt" \
		--etcd-cert "$d/client.crt" --etcd-key "$d/client.key"
}

etcd_member_start() {	# etcd_member_start <0..2>
	local i=$1 d=$PL_TMP/pki cluster="m0=$(peer_url 0),m1=$(peer_url 1),m2=$(peer_url 2)"
	local client peer pre=()
	client=$(client_url "$i")
	peer=$(peer_url "$i")
	# Not through in_etcd_ns: a backgrounded function is a subshell, and $! would be that
	# subshell, not etcd (killing it would leave the member running). nsenter execs etcd.
	[ -n "$ETCD_NS" ] && pre=(nsenter --net="/run/netns/$ETCD_NS" --)
	"${pre[@]}" etcd --name "m$i" --data-dir "$PL_TMP/etcd-m$i" \
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

# etcd_single_start: member m0 alone, a cluster of one, for tests that need the store but not
# its failover; etcd_endpoints then names it alone. Its data dir survives etcd_member_kill, so
# etcd_single_start again brings the same store back.
etcd_single_start() {
	local d=$PL_TMP/pki client peer pre=()
	ETCD_SINGLE=1
	client=$(client_url 0)
	peer=$(peer_url 0)
	[ -n "$ETCD_NS" ] && pre=(nsenter --net="/run/netns/$ETCD_NS" --)
	"${pre[@]}" etcd --name m0 --data-dir "$PL_TMP/etcd-m0" \
		--listen-client-urls "$client" --advertise-client-urls "$client" \
		--listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
		--initial-cluster "m0=$peer" --initial-cluster-token "podlane-$PL_ID" \
		--initial-cluster-state new \
		--cert-file "$d/server.crt" --key-file "$d/server.key" \
		--trusted-ca-file "$d/ca.crt" --client-cert-auth \
		>> "$PL_TMP/etcd-m0.log" 2>&1 &
	ETCD_PIDS[0]=$!
}

etcd_member_kill() {
	[ -n "${ETCD_PIDS[$1]:-}" ] || return 0
	kill -KILL "${ETCD_PIDS[$1]}" 2>/dev/null
	wait "${ETCD_PIDS[$1]}" 2>/dev/null
	ETCD_PIDS[$1]=""
}

# etcd_member_dead <0..2>: nothing listens on the member's client port any more.
etcd_member_dead() { ! in_etcd_ns ss -Htln "sport = :$((ETCD_BASE + $1 * 2))" | grep -q .; }

etcd_cluster_kill() {
	local i
	for i in "${!ETCD_PIDS[@]}"; do etcd_member_kill "$i"; done
}

ectl() {
	in_etcd_ns env ETCDCTL_API=3 etcdctl --endpoints "$(etcd_endpoints)" \
		--cacert "$PL_TMP/pki/ca.crt" --cert "$PL_TMP/pki/client.crt" \
		--key "$PL_TMP/pki/client.key" --dial-timeout 2s --command-timeout 5s "$@"
}

etcd_healthy() { ectl endpoint health >/dev/null 2>&1; }

# remote_has_pin <pin-root> <ip> [node-ip]: the podlane_remote map an agent pinned under
# pin-root maps the endpoint <ip> (to the node address node-ip).
remote_has_pin() {
	local key val b0 b1 b2 b3
	key=$(echo "$2" | awk -F. '{ printf "%d %d %d %d", $1, $2, $3, $4 }')
	# shellcheck disable=SC2086
	val=$(bpftool -j map lookup pinned "$1/podlane_remote" key $key 2>/dev/null |
		jq -r '.value[0:4] | join(" ")') || return 1
	read -r b0 b1 b2 b3 <<< "$val"
	[ -n "$b3" ] || return 1
	[ -z "${3:-}" ] || [ "$((b0)).$((b1)).$((b2)).$((b3))" = "$3" ]
}
