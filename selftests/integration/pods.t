#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# pods.t - three pods wired through podlane-cni by an isolated podlaned: pod<->pod and
# pod<->node over ICMP, TCP and UDP, proof that pod-to-pod traffic took the fast path (endpoint
# counters rise, the host IP stack forwards none of it), node uplink reachability, and a clean DEL.
. "$(dirname "$0")/lib.sh"

require_root
require_cmd ip jq python3 ping bpftool
require_build podlaned podlane-cni podlanectl

integration_setup

uplink_setup 11 || { diag "failed to create the uplink veth"; exit 1; }
CONF=$PL_TMP/podlane.conf
cni_conf "$CONF" plint-pods 10.244.11.0/24

agent_start --uplink "$UPLINK"
ok $? "podlaned starts with its own pin root and uplink $UPLINK"

added=0
for p in a b c; do
	pod_add "$p" "$CONF" && added=$((added + 1))
done
ok $([ $added -eq 3 ]; echo $?) "CNI ADD wires three pods (${POD_IP[a]:-?} ${POD_IP[b]:-?} ${POD_IP[c]:-?})"
distinct=$(printf '%s\n' "${POD_IP[@]}" | sort -u | wc -l)
ok $([ "$distinct" -eq 3 ]; echo $?) "the three pods got distinct addresses"
ok $([ "$(endpoint_count)" = 3 ]; echo $?) "podlanectl endpoint list shows three endpoints"
[ $added -eq 3 ] || { diag "cannot go on without three pods"; exit 1; }

A=${POD_NS[a]} B=${POD_NS[b]} C=${POD_NS[c]}

# pod <-> pod -----------------------------------------------------------------------------
check "ICMP a -> b" pingc "$A" "${POD_IP[b]}"
check "ICMP b -> c" pingc "$B" "${POD_IP[c]}"
check "ICMP c -> a" pingc "$C" "${POD_IP[a]}"

serve "$B" tcp 7001 && serve "$C" udp 7002 && serve "$A" tcp 7003 && serve "$A" udp 7004 ||
	diag "a server did not start"
check "TCP a -> b" probe "$A" tcp "${POD_IP[b]}" 7001
check "UDP a -> c" probe "$A" udp "${POD_IP[c]}" 7002
check "TCP c -> a" probe "$C" tcp "${POD_IP[a]}" 7003
check "UDP b -> a" probe "$B" udp "${POD_IP[a]}" 7004

# fast path: counters rise and the host stack forwards nothing -------------------------------
tx_a0=$(endpoint_field "${POD_IP[a]}" tx_packets)
rx_b0=$(endpoint_field "${POD_IP[b]}" rx_packets)
fwd0=$(host_forwarded)
in_ns "$A" ping -q -c 100 -i 0.005 -W 2 "${POD_IP[b]}" >/dev/null
rc=$?
fwd1=$(host_forwarded)
tx_a1=$(endpoint_field "${POD_IP[a]}" tx_packets)
rx_b1=$(endpoint_field "${POD_IP[b]}" rx_packets)
ok $rc "100 pings a -> b"
ok $([ $((tx_a1 - tx_a0)) -ge 100 ]; echo $?) "pod a's tx_packets rose by >= 100 ($tx_a0 -> $tx_a1)"
ok $([ $((rx_b1 - rx_b0)) -ge 100 ]; echo $?) "pod b's rx_packets rose by >= 100 ($rx_b0 -> $rx_b1)"
ok $([ $((fwd1 - fwd0)) -lt 20 ]; echo $?) \
	"the host IP stack forwarded none of it (ForwDatagrams +$((fwd1 - fwd0)))"

# pod <-> node ----------------------------------------------------------------------------
serve host tcp 7005 "$UPLINK_IP" && serve host udp 7006 "$UPLINK_IP" ||
	diag "a node server did not start"
check "ICMP pod a -> node ($UPLINK_IP)" pingc "$A" "$UPLINK_IP"
check "TCP pod b -> node" probe "$B" tcp "$UPLINK_IP" 7005
check "UDP pod c -> node" probe "$C" udp "$UPLINK_IP" 7006
check "ICMP node -> pod c" pingc host "${POD_IP[c]}"
check "TCP node -> pod a" probe host tcp "${POD_IP[a]}" 7003

# teardown through the plugin ---------------------------------------------------------------
dels=0
for p in a b c; do
	pod_del "$p" >/dev/null 2>&1 && dels=$((dels + 1))
done
ok $([ $dels -eq 3 ]; echo $?) "CNI DEL of the three pods succeeds"
ok $([ "$(endpoint_count)" = 0 ]; echo $?) "no endpoint is left after DEL"
ok $([ "$(bpftool -j map dump pinned "$PL_PIN/podlane_eps" 2>/dev/null | jq length)" = 0 ]; echo $?) \
	"podlane_eps is empty after DEL"
left=0
for p in a b c; do
	for h in $(jq -r '.interfaces[]? | select(.sandbox == null or .sandbox == "") | .name' \
			"$PL_TMP/$p.result" 2>/dev/null); do
		ip link show "$h" >/dev/null 2>&1 && left=$((left + 1))
	done
done
ok $([ $left -eq 0 ]; echo $?) "the pods' host veths are gone after DEL"
done_testing
