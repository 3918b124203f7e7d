#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 02-vxlan.t - three nodes in three subnets behind a router namespace (no shared link: direct
# routing cannot work, only the tunnel does), --routing vxlan: the agents create their
# collect-metadata vxlan device, and pods on different nodes reach each other over ICMP, TCP
# and UDP through it (tunnel key set by tc_from_pod, tc_from_tunnel delivering), with no
# datagram forwarded by any node's IP stack. Pods use MTU 1450 (1500 - 50 bytes of VXLAN).
# node_del stops the traffic, a restarted agent adopts its device and routes under a live
# stream, VXLAN from a host that is not a node is dropped, and --uninstall removes the device.
# The nodes' own stacks reach remote pods through lightweight-tunnel kernel routes
# (encap ip id 1 dst <node IP> dev pl-vxlan) the agents keep.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
mn_requires
mn_setup
. "$(dirname "$0")/mn_traffic.sh"

fabric_routed; ok $? "three node namespaces in three subnets behind a router"
for n in "${NODES[@]}"; do
	agent_up "$n" --uplink up0 --routing vxlan || { ok 1 "podlaned starts on node$n"; exit 1; }
done
ok 0 "podlaned runs on every node with --routing vxlan"
[ "$(in_node 1 ip -d -j link show pl-vxlan | jq -r '.[0].linkinfo |
	"\(.info_kind) \(.info_data.external) \(.info_data.port)"')" = "vxlan true 4789" ]
ok $? "node1 has pl-vxlan: vxlan, external, dstport 4789"
[ "$(in_node 1 tc -j filter show dev pl-vxlan ingress | jq -r '.[] |
	select(.options.handle == "0x706c") | .options.prog.name')" = tc_from_tunnel ]
ok $? "tc_from_tunnel is attached to pl-vxlan ingress"
for n in "${NODES[@]}"; do
	pod_add "p$n" "$n" 1450 || { ok 1 "pod p$n wired on node$n"; exit 1; }
done
ok 0 "one pod per node wired by podlane-cni in the node's namespace (MTU 1450)"

cross_node_traffic vxlan

agent_down 1
in_node 1 "$PL_BUILD/podlaned" --uninstall --pin-root "$(node_pin 1)" \
	--state-dir "$(node_dir 1)/state" >/dev/null 2>&1 &&
	! in_node 1 ip link show pl-vxlan >/dev/null 2>&1 && [ -z "$(kroutes 1)" ]
ok $? "podlaned --uninstall deletes the vxlan device it created, and its kernel routes"
done_testing
