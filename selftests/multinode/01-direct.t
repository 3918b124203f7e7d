#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 01-direct.t - three nodes on one shared link (a bridge in a test namespace), --routing direct:
# pods on different nodes reach each other over ICMP, TCP and UDP through the BPF path (FIB
# lookup + redirect out of the uplink, bpf_redirect_peer on the receiving uplink), with no
# datagram forwarded by any node's IP stack; node list shows the routes; node_del stops the
# traffic to that node's pods, a node whose IP has no route is refused (one that loses it drops
# with node_unreachable), and a restarted agent keeps a running TCP stream between nodes alive.
# The nodes' own stacks reach remote pods through kernel routes the agents keep (via <node IP>
# dev up0), and --uninstall removes them.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
mn_requires
mn_setup
. "$(dirname "$0")/mn_traffic.sh"

fabric_direct; ok $? "three node namespaces on one bridge"
for n in "${NODES[@]}"; do
	agent_up "$n" --uplink up0 --routing direct || { ok 1 "podlaned starts on node$n"; exit 1; }
done
ok 0 "podlaned runs on every node (own pin root, state dir, socket)"
for n in "${NODES[@]}"; do
	pod_add "p$n" "$n" || { ok 1 "pod p$n wired on node$n"; exit 1; }
done
ok 0 "one pod per node wired by podlane-cni in the node's namespace"

cross_node_traffic direct

agent_down 1
in_node 1 "$PL_BUILD/podlaned" --uninstall --pin-root "$(node_pin 1)" \
	--state-dir "$(node_dir 1)/state" >/dev/null 2>&1 && [ -z "$(kroutes 1)" ]
ok $? "podlaned --uninstall deletes node1's kernel routes to remote pod CIDRs"
done_testing
