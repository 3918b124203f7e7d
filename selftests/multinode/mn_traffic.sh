# SPDX-License-Identifier: GPL-2.0-only
# selftests/multinode/mn_traffic.sh - the checks both routing modes must pass, on a cluster
# that lib.sh built: three nodes with agents up and pods p1, p2, p3 (pN on node N).
# cross_node_traffic <direct|vxlan> prints 20 TAP lines.

# A VXLAN packet (VNI 1) from the router, not from a node, carrying a pod source of node2.
spoof_vxlan() {
	ip netns exec "$(netns_name rtr)" python3 - "$1" "$2" "$3" <<'PY'
import socket, struct, sys
dst_node, inner_src, inner_dst = sys.argv[1:4]
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + b"spoof" * 4
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                 socket.inet_aton(inner_src), socket.inet_aton(inner_dst))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
eth = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
vxlan = struct.pack("!II", 0x08000000, 1 << 8)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    s.sendto(vxlan + eth + ip + icmp, (dst_node, 4789))
PY
}

cross_node_traffic() {
	local mode=$1 fwd0 fwd1 n st rc tx0 tx1 before id0 id1 d0 d1

	join_all; ok $? "every agent learns the other two nodes (podlanectl node add)"
	[ "$(ctl_n 1 node list --json | jq -r --arg m "$mode" '[.nodes[] |
		select(.installed and .routing == $m) | .name] | sort | join(",")')" = node2,node3 ]
	ok $? "podlanectl node list on node1 shows node2 and node3 installed, $mode routing"
	diag "$(ctl_n 1 node list)"

	fwd0=""
	for n in "${NODES[@]}"; do fwd0+="$(node_forwarded "$n") "; done
	tx0=$(ctl_n 1 endpoint list --json | jq '.endpoints[0].tx_packets')
	pingc p1 "${POD_IP[p2]}" >/dev/null && pingc p1 "${POD_IP[p3]}" >/dev/null &&
		pingc p3 "${POD_IP[p2]}" >/dev/null
	ok $? "ICMP: p1 -> p2, p1 -> p3, p3 -> p2 across nodes"
	serve p2 tcp 5001 && serve p3 tcp 5001 && serve p2 udp 5002 && serve p1 udp 5002
	ok $? "TCP and UDP echo servers in the pods"
	probe p1 tcp p2 5001 && probe p1 tcp p3 5001
	ok $? "TCP: p1 -> p2 and p1 -> p3"
	probe p1 udp p2 5002 && probe p3 udp p1 5002
	ok $? "UDP: p1 -> p2 and p3 -> p1"
	fwd1=""
	for n in "${NODES[@]}"; do fwd1+="$(node_forwarded "$n") "; done
	[ "$fwd0" = "$fwd1" ]
	ok $? "no node's IP stack forwarded any of it (ForwDatagrams per node: $fwd1)"
	tx1=$(ctl_n 1 endpoint list --json | jq '.endpoints[0].tx_packets')
	[ "$tx1" -gt "$tx0" ]; ok $? "p1's tx counter grew ($tx0 -> $tx1)"

	# The node's own stack (not a pod) to pods on other nodes: the agent's kernel routes.
	[ "$(kroutes 1)" = "$(pod_cidr 2),$(pod_cidr 3)" ] && [ "$(kroutes 2)" = \
		"$(pod_cidr 1),$(pod_cidr 3)" ]
	ok $? "node1 and node2 have one kernel route per remote pod CIDR (proto 112)"
	diag "$(in_node 1 ip route show proto 112)"
	in_node 1 ping -q -c 3 -i 0.2 -W 2 "${POD_IP[p2]}" >/dev/null &&
		in_node 1 python3 "$NETTOOL" probe tcp "${POD_IP[p2]}" 5001 --timeout 3 &&
		in_node 3 python3 "$NETTOOL" probe udp "${POD_IP[p1]}" 5002 --timeout 3
	ok $? "the node's own stack reaches remote pods: node1 -> p2 ICMP and TCP, node3 -> p1 UDP"

	# NodePort on node1 to a backend on node2 (issue 5): DNAT and SNAT on node1, there and back.
	client_attach && ctl_n 1 service add web --cluster-ip 10.96.77.10 \
		--port tcp=80:5001/TCP,nodePort=30080 --port udp=81:5002/UDP,nodePort=30081 \
		--backend "${POD_IP[p2]}" >/dev/null
	ok $? "service web on node1: NodePorts 30080/TCP and 30081/UDP, its one backend p2 on node2"
	nodeport_remote "$mode"

	if command -v iperf3 >/dev/null; then
		in_pod p2 timeout 30 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
		BG_PIDS+=($!)
		poll 5 in_pod p2 sh -c "ss -ltn | grep -q :5201"
		out=$(in_pod p1 timeout 30 iperf3 -c "${POD_IP[p2]}" -p 5201 -n 64M -J 2>&1)
		rc=$?
		ok $rc "a 64 MiB TCP transfer p1 -> p2 completes"
		[ $rc -eq 0 ] && diag "$mode: $(jq -r '"\(.end.sum_received.bits_per_second / 1e9 |
			. * 100 | round / 100) Gbit/s, \(.end.sum_sent.retransmits) retransmits"' \
			<<<"$out")"
	else
		skip "a 64 MiB TCP transfer p1 -> p2 completes" "needs iperf3"
	fi

	# Restart node1's agent under a live TCP stream from p1 to p2.
	st=$PL_TMP/stream
	stream_start p1 p2 "$st" 60
	id0=$(bpftool -j map show pinned "$(node_pin 1)/podlane_nodes" | jq .id)
	agent_down 1
	before=$(stream_bytes "$st.recv")
	poll 5 stream_grows "$st.recv" "$before"
	ok $? "with node1's agent stopped the stream keeps moving ($before+ bytes)"
	agent_up 1 --uplink up0 --routing "$mode"
	id1=$(bpftool -j map show pinned "$(node_pin 1)/podlane_nodes" | jq .id)
	[ "$id0" = "$id1" ] && grep -q 'node routes in place.* kept=2 written=0 removed=0' \
		"$(node_dir 1)/podlaned.log" &&
		poll 5 grep -q 'kernel routes in place.* nodes=2 kept=2 written=0 removed=0' \
		"$(node_dir 1)/podlaned.log" && [ "$(kroutes 1)" = "$(pod_cidr 2),$(pod_cidr 3)" ]
	rc=$?
	ok $rc "the restarted agent adopts podlane_nodes (map id $id1) and its kernel routes, rewrites none"
	[ $rc = 0 ] || diag "ids $id0 $id1, routes $(kroutes 1)" \
		"$(grep 'routes in place' "$(node_dir 1)/podlaned.log")"
	before=$(stream_bytes "$st.recv")
	poll 5 stream_grows "$st.recv" "$before" && touch "$st.stop" &&
		poll 10 eval 'grep -q "^done" "$st.recv" && grep -q "^done" "$st.send"'
	ok $? "the stream runs on after the restart and ends cleanly (receiver: $(cat "$st.recv"); sender: $(cat "$st.send"))"

	ctl_n 1 node del node2 >/dev/null && ! pingc p1 "${POD_IP[p2]}" 2 >/dev/null &&
		! probe p1 tcp p2 5001 2>/dev/null && [ "$(kroutes 1)" = "$(pod_cidr 3)" ]
	ok $? "node del node2 on node1: p1 no longer reaches p2, node2's kernel route is gone"
	pingc p1 "${POD_IP[p3]}" >/dev/null && probe p1 tcp p3 5001
	ok $? "... while p1 still reaches p3"
	ctl_n 1 node add node2 "${NODE_IP[2]}" "$(pod_cidr 2)" >/dev/null &&
		pingc p1 "${POD_IP[p2]}" >/dev/null && [ "$(kroutes 1)" = "$(pod_cidr 2),$(pod_cidr 3)" ] &&
		in_node 1 ping -q -c 2 -i 0.2 -W 2 "${POD_IP[p2]}" >/dev/null
	ok $? "node add node2 again: p1 and node1 reach p2 again"

	if [ "$mode" = direct ]; then
		# A node IP the kernel cannot route to is refused; one that loses its route after
		# it was added drops the pods' packets with node_unreachable.
		! ctl_n 1 node add ghost 172.31.255.9 10.201.9.0/24 >/dev/null 2>&1 &&
			[ "$(kroutes 1)" = "$(pod_cidr 2),$(pod_cidr 3)" ]
		ok $? "a node whose IP has no route via the uplink is refused"
		d0=$(node_drops 1 node_unreachable)
		in_node 1 ip route add 172.31.255.9/32 dev up0 &&
			ctl_n 1 node add ghost 172.31.255.9 10.201.9.0/24 >/dev/null &&
			in_node 1 ip route del 172.31.255.9/32 dev up0 &&
			! pingc p1 10.201.9.1 2 >/dev/null
		d1=$(node_drops 1 node_unreachable)
		[ "$d1" -gt "$d0" ]
		ok $? "a node whose IP has lost its route via the uplink: drops counted as node_unreachable ($d0 -> $d1)"
		ctl_n 1 node del ghost >/dev/null
	else
		d0=$(node_drops 1 tunnel_source)
		spoof_vxlan "${NODE_IP[1]}" 10.201.2.77 "${POD_IP[p1]}"
		poll 3 test "$(node_drops 1 tunnel_source)" -gt "$d0"
		d1=$(node_drops 1 tunnel_source)
		[ "$d1" -ge $((d0 + 3)) ]
		ok $? "VXLAN from a non-node carrying node2's pod source: dropped as tunnel_source ($d0 -> $d1)"
	fi
}
