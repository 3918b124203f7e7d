#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# chain.t - podlane inside plugin chains run the way libcni runs them: a conflist with the
# reference portmap plugin after podlane (hostPort DNAT reaching the pod from outside the node
# and from the node itself, CHECK, DEL in reverse order with the cached result), and a network
# whose addresses come from the reference host-local IPAM plugin that podlane-cni delegates to.
. "$(dirname "$0")/lib.sh"

require_root
require_cmd ip jq python3 ping iptables nft
require_build podlaned podlane-cni podlanectl
[ -x /usr/lib/cni/portmap ] && [ -x /usr/lib/cni/host-local ] ||
	skip_all "needs /usr/lib/cni/portmap and host-local (containernetworking-plugins)"

integration_setup

# portmap programs the node's nat table. Leave the firewall as found: remove the top-level
# CNI-HOSTPORT-* chains and any nft table that only exist because of this test.
TABLES_BEFORE=$(nft list tables 2>/dev/null)
hostport_chains() { iptables -t nat -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-HOSTPORT-/ { print $2 }'; }
CHAINS_BEFORE=$(hostport_chains)
firewall_restore() {
	local c r t
	if [ -z "$CHAINS_BEFORE" ]; then
		for c in PREROUTING OUTPUT POSTROUTING; do
			iptables -t nat -S "$c" 2>/dev/null | grep -- '-j CNI-HOSTPORT-' |
				sed 's/^-A /-D /' | while read -r r; do eval "iptables -t nat $r"; done
		done
		for c in $(hostport_chains); do iptables -t nat -F "$c"; done
		for c in $(hostport_chains); do iptables -t nat -X "$c"; done
	fi
	nft list tables 2>/dev/null | while read -r t; do
		grep -qxF "$t" <<< "$TABLES_BEFORE" || nft delete $t
	done
}
on_cleanup firewall_restore

cni_bin_setup
uplink_setup 13 || { diag "failed to create the uplink veth"; exit 1; }
agent_start --uplink "$UPLINK"
ok $? "podlaned starts"

LIST=$PL_TMP/portmap.conflist
cat > "$LIST" <<EOC
{"cniVersion": "1.0.0", "name": "plint-chain", "plugins": [
  {"type": "podlane-cni", "podCIDR": "10.244.13.0/24", "agentSocket": "$PL_SOCK"},
  {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
]}
EOC
HL_LIST=$PL_TMP/hostlocal.conflist
cat > "$HL_LIST" <<EOC
{"cniVersion": "1.0.0", "name": "plint-hl", "plugins": [
  {"type": "podlane-cni", "agentSocket": "$PL_SOCK",
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.14.0/24"}]],
            "dataDir": "$PL_TMP/host-local"}}
]}
EOC
RTC='{"portMappings": [{"hostPort": 18080, "containerPort": 7201, "protocol": "tcp"}]}'

NS_A=$(netns_add a)
NS_B=$(netns_add b)
on_cleanup "cni_chain DEL $LIST a-$PL_ID /run/netns/$NS_A eth0"
on_cleanup "cni_chain DEL $HL_LIST b-$PL_ID /run/netns/$NS_B eth0"

res=$(cni_chain ADD "$LIST" "a-$PL_ID" "/run/netns/$NS_A" eth0 "$RTC" 2>&1)
ok $? "ADD through podlane then portmap"
IP_A=$(jq -r '.ips[0].address' <<< "$res" 2>/dev/null | cut -d/ -f1)
ok $(jq -e '.cniVersion == "1.0.0" and (.interfaces | length) >= 1
	and ([.interfaces[] | select(.sandbox != null and .sandbox != "") | .mac] | length) >= 1
	and (.ips[0].interface | type) == "number"' <<< "$res" >/dev/null 2>&1; echo $?) \
	"the chain's result keeps podlane's interfaces (with mac) and ip $IP_A with its interface index"
[ -n "$IP_A" ] || diag "result: $res"

ok $(iptables -t nat -S 2>/dev/null | grep -q -- "--to-destination $IP_A:7201"; echo $?) \
	"portmap installed DNAT 18080 -> $IP_A:7201"

serve "$NS_A" tcp 7201 || diag "the pod's server did not start"
check "TCP from outside the node (uplink peer) to hostPort 18080 reaches the pod" \
	probe "$EXT_NS" tcp "$UPLINK_IP" 18080
check "TCP from the node to its own hostPort 18080 reaches the pod" \
	probe host tcp "$UPLINK_IP" 18080
# portmap 1.1.1's own CHECK looks for IPv6 rules an IPv4-only result never made
# (containernetworking/plugins#819), so CHECK runs on the chain's podlane entry alone.
jq '.plugins |= [.[0]]' "$LIST" > "$LIST.check"
check "CHECK of podlane in the chain with the cached result" \
	cni_chain CHECK "$LIST.check" "a-$PL_ID" "/run/netns/$NS_A" eth0 "$RTC"

res_b=$(cni_chain ADD "$HL_LIST" "b-$PL_ID" "/run/netns/$NS_B" eth0 2>&1)
IP_B=$(jq -r '.ips[0].address' <<< "$res_b" 2>/dev/null | cut -d/ -f1)
ok $([ "${IP_B%.*}" = 10.244.14 ]; echo $?) "ADD with host-local IPAM delegated gives $IP_B"
[ -n "$IP_B" ] && [ "$IP_B" != null ] || diag "result: $res_b"
check "pods on the two networks reach each other (b -> a)" pingc "$NS_B" "$IP_A"
check "pods on the two networks reach each other (a -> b)" pingc "$NS_A" "$IP_B"

check "DEL through the chain (portmap, then podlane)" \
	cni_chain DEL "$LIST" "a-$PL_ID" "/run/netns/$NS_A" eth0 "$RTC"
ok $(iptables -t nat -S 2>/dev/null | grep -q -- "--to-destination $IP_A:7201" && echo 1 || echo 0) \
	"portmap's DNAT for the pod is gone"
check "DEL of the host-local network" cni_chain DEL "$HL_LIST" "b-$PL_ID" "/run/netns/$NS_B" eth0
ok $(grep -rqs "b-$PL_ID" "$PL_TMP/host-local" && echo 1 || echo 0) \
	"host-local released the delegated address"
ok $(cni_chain DEL "$LIST" "a-$PL_ID" "/run/netns/$NS_A" eth0 >/dev/null 2>&1 &&
     cni_chain DEL "$HL_LIST" "b-$PL_ID" "/run/netns/$NS_B" eth0 >/dev/null 2>&1; echo $?) \
	"a repeated DEL succeeds (idempotent)"
done_testing
