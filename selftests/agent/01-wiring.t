#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 01-wiring.t - podlaned wires a pod completely: address, routes and permanent neighbour in the
# pod, route/neighbour/forwarding on the host veth, both tc programs attached, the endpoint in
# the pinned maps; two pods then reach each other (ICMP and TCP) and the host reaches a pod;
# CHECK, endpoint_list counters and status reflect it.
. "$(dirname "$0")/lib.sh"
agent_requires
pl_setup

agent_start || { ok 1 "podlaned starts"; exit 1; }
ok 0 "podlaned starts with an isolated pin root, state dir and socket"

A=$(pod_add a); ok $? "add pod a"
B=$(pod_add b); ok $? "add pod b"
NSA=$(netns_name a); NSB=$(netns_name b)
IPA=$(jfield .ip <<<"$A"); IPB=$(jfield .ip <<<"$B")
HA=$(jfield .host_ifname <<<"$A"); HB=$(jfield .host_ifname <<<"$B")
HMA=$(jfield .host_mac <<<"$A"); PMA=$(jfield .pod_mac <<<"$A")
HIA=$(jfield .host_ifindex <<<"$A")
diag "pod a: $IPA host veth $HA ($HIA); pod b: $IPB host veth $HB"

check "pod a holds $IPA/32 on eth0, interface up" \
	bash -c "ip -n $NSA -4 -o addr show dev eth0 | grep -q 'inet $IPA/32' &&
		 ip -n $NSA link show dev eth0 | grep -q ',UP'"
check "pod a: lo is up" bash -c "ip -n $NSA link show dev lo | grep -q ',UP'"
check "pod a routes 169.254.1.1 scope link and default via it" \
	bash -c "ip -n $NSA -4 route show | grep -q '^169.254.1.1 dev eth0 .*scope link' &&
		 ip -n $NSA -4 route show | grep -q '^default via 169.254.1.1 dev eth0'"
check "pod a has a PERMANENT neighbour 169.254.1.1 -> host veth MAC $HMA" \
	bash -c "ip -n $NSA neigh show 169.254.1.1 dev eth0 | grep -q '$HMA PERMANENT'"
check "pod a's eth0 MAC is the reported pod_mac" \
	bash -c "ip -n $NSA link show dev eth0 | grep -q 'link/ether $PMA'"
check "host veth $HA is up, named pl + 12 hex" \
	bash -c "[[ $HA =~ ^pl[0-9a-f]{12}$ ]] && ip link show dev $HA | grep -q ',UP'"
check "host routes $IPA/32 dev $HA scope link" \
	bash -c "ip -4 route show $IPA/32 | grep -q 'dev $HA .*scope link'"
check "host has a PERMANENT neighbour $IPA -> $PMA on $HA" \
	bash -c "ip neigh show $IPA dev $HA | grep -q '$PMA PERMANENT'"
check "forwarding=1 on $HA only" \
	bash -c "[ \$(cat /proc/sys/net/ipv4/conf/$HA/forwarding) = 1 ]"
check "tc_from_pod on $HA ingress, tc_to_pod on egress (handle 0x706c)" \
	bash -c "tc_prog() { tc -j filter show dev \$1 \$2 | jq -r '.[] |
			select(.options.handle == \"0x706c\") | .options.prog.name'; };
		 [ \"\$(tc_prog $HA ingress)\" = tc_from_pod ] &&
		 [ \"\$(tc_prog $HA egress)\" = tc_to_pod ]"
check "podlane_eps maps $IPA to ifindex $HIA, ready" \
	bash -c "bpftool -j map dump pinned $PL_PIN/podlane_eps |
		 jq -e '.[] | select(.formatted.value.ifindex == $HIA and
				     .formatted.value.flags == 1)' >/dev/null"
check "podlane_ep_meta and podlane_ep_stat have both endpoints" \
	bash -c "[ \$(bpftool -j map dump pinned $PL_PIN/podlane_ep_meta | jq length) = 2 ] &&
		 [ \$(bpftool -j map dump pinned $PL_PIN/podlane_ep_stat | jq length) = 2 ]"

check "pod a pings pod b" ip netns exec "$NSA" ping -c 2 -i 0.2 -W 2 "$IPB"
check "pod b pings pod a" ip netns exec "$NSB" ping -c 2 -i 0.2 -W 2 "$IPA"
check "the host pings pod a" ping -c 1 -W 2 "$IPA"

# TCP through the datapath: a one-shot echo-reversed server in pod b, a client in pod a.
ip netns exec "$NSB" timeout 20 python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5001))
s.listen(1)
c, _ = s.accept()
c.sendall(c.recv(100)[::-1])
c.close()' &
SRV=$!
on_cleanup "kill $SRV"
poll 10 bash -c "ip netns exec $NSB ss -ltn | grep -q ':5001 '"
GOT=$(ip netns exec "$NSA" timeout 10 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 5001), timeout=5)
s.sendall(b"podlane")
print(s.recv(100).decode())' "$IPB" 2>&1)
[ "$GOT" = enaldop ]; ok $? "TCP from pod a to pod b round-trips (got '$GOT')"

check "CHECK passes for pod a" \
	api "{\"op\":\"check\",\"container_id\":\"c-a-$PL_ID\",\"ifname\":\"eth0\",
	      \"network\":\"$NET\",\"netns\":\"/run/netns/$NSA\",\"ip\":\"$IPA\"}"
CODE=$(api "{\"op\":\"check\",\"container_id\":\"c-a-$PL_ID\",\"ifname\":\"eth0\",
	     \"network\":\"$NET\",\"netns\":\"/run/netns/$NSA\",\"ip\":\"10.9.9.9\"}" code)
[ "$CODE" = 103 ]; ok $? "CHECK with the wrong address fails with code 103 (got $CODE)"

LIST=$(api '{"op":"endpoint_list"}')
check "endpoint_list counts pod a's traffic and names drop reasons" \
	bash -c "jq -e '.endpoints[] | select(.ip == \"$IPA\") |
			select(.tx_packets > 0 and .rx_packets > 0 and
			       .host_ifname == \"$HA\" and (.drops | has(\"source_spoofed\")))' \
		 >/dev/null <<<'$LIST'"
ST=$(api '{"op":"status"}')
check "status: 2 endpoints, redirect_peer feature, network allocations" \
	bash -c "jq -e '.endpoints == 2 and .features.redirect_peer == true and
			.ipam.$NET.allocated == 2 and (.programs | length) >= 2' >/dev/null <<<'$ST'"
done_testing
