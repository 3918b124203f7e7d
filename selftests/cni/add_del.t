#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/cni/add_del.t - podlane-cni against a real podlaned, invoked exactly as a runtime
# does: ADD results field by field for every result format, ADD on an existing interface
# failing cleanly, DEL idempotence, CHECK catching drift, and GC.
. "$(dirname "$0")/lib.sh"

require_root
require_build podlane-cni podlanectl podlaned
require_cmd python3 ip bpftool
require_bpffs
pl_setup

agent_start || { skip_all "podlaned did not start"; }
NET=adddel$$
CIDR=10.252.0.0/24
DNS='{"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"], "options": ["ndots:5"]}'
conf_v() {	# conf_v <file> <version>: the test network with a dns section
	cat > "$1" <<EOC
{"cniVersion": "$2", "name": "$NET", "type": "podlane-cni", "podCIDR": "$CIDR", "mtu": 1400,
 "agentSocket": "$PL_SOCK", "dns": $DNS}
EOC
}

# The pod interface as the kernel sees it must match what the result claims.
pod_matches_result() {	# pod_matches_result <netns> <ifname> <result-file>
	local ns=$1 ifn=$2 res=$3 addr mac hostif hostmac
	addr=$(jget "$res" 'j["ips"][0]["address"]')
	mac=$(jget "$res" 'j["interfaces"][1]["mac"]')
	hostif=$(jget "$res" 'j["interfaces"][0]["name"]')
	hostmac=$(jget "$res" 'j["interfaces"][0]["mac"]')
	ip -n "$ns" -o addr show dev "$ifn" | grep -q "inet $addr " || return 1
	ip -n "$ns" -o link show dev "$ifn" | grep -q "link/ether $mac " || return 1
	ip -n "$ns" -o link show dev "$ifn" | grep -q "mtu 1400 " || return 1
	ip -n "$ns" route show default | grep -q "via 169.254.1.1 dev $ifn" || return 1
	ip -n "$ns" neigh show 169.254.1.1 dev "$ifn" | grep -q "lladdr $hostmac PERMANENT" || return 1
	ip -o link show dev "$hostif" | grep -q "link/ether $hostmac " || return 1
}

# --- ADD in every result format ---------------------------------------------------------
for v in 0.3.1 0.4.0 1.0.0 1.1.0; do
	ns=$(netns_add "v${v//./}") || exit 1
	conf_v "$PL_TMP/conf-$v.json" "$v"
	cni_run ADD "c$$-$v" "/run/netns/$ns" eth0 "$PL_TMP/conf-$v.json"
	cp "$PLUGIN_OUT" "$PL_TMP/result-$v.json"
	expect_success "ADD $v exits 0" full
	check "ADD $v result is complete and correct field by field" \
		python3 "$CNICHECK" result "$PL_TMP/result-$v.json" "$v" eth0 "/run/netns/$ns" \
		"$CIDR" "$DNS"
	check "ADD $v: the pod, the host veth and the result agree" \
		pod_matches_result "$ns" eth0 "$PL_TMP/result-$v.json"
done
addrs=$(for v in 0.3.1 0.4.0 1.0.0 1.1.0; do jget "$PL_TMP/result-$v.json" 'j["ips"][0]["address"]'; done)
check "four pods got four different addresses" test "$(sort -u <<< "$addrs" | wc -l)" -eq 4
check "podlanectl endpoint list shows the four pods" \
	test "$(ctl --json endpoint list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["endpoints"]))')" -eq 4

# --- repeated ADD returns the same endpoint -----------------------------------------------
cni_run ADD c$$-1.0.0 "/run/netns/$(netns_name v100)" eth0 "$PL_TMP/conf-1.0.0.json"
check "repeated ADD for a wired pod succeeds with the same address" \
	test "$PLUGIN_RC" -eq 0 -a "$(jget "$PLUGIN_OUT" 'j["ips"][0]["address"]')" = \
	"$(jget "$PL_TMP/result-1.0.0.json" 'j["ips"][0]["address"]')"

# --- ADD on an interface that already exists ---------------------------------------------
busy=$(netns_add busy) || exit 1
ip -n "$busy" link add eth0 type bridge
ipam_before=$(ipam_files "$NET" | sort)
eps_before=$(eps_count)
cni_run ADD c$$-busy "/run/netns/$busy" eth0 "$PL_TMP/conf-1.0.0.json"
check "ADD with an existing ifname fails" test "$PLUGIN_RC" -ne 0
check "... with a CNI error object that names the interface" \
	python3 "$CNICHECK" error "$PLUGIN_OUT" 101 eth0
check "... and leaves no veth behind (the netns holds only lo and eth0)" \
	test "$(ip -n "$busy" -o link show | wc -l)" -eq 2
check "... and no address allocated" test "$(ipam_files "$NET" | sort)" = "$ipam_before"
check "... and no podlane_eps entry" test "$(eps_count)" = "$eps_before"
check "... and the pod's own eth0 untouched" \
	bash -c "ip -n $busy -d link show eth0 | grep -q bridge"

# --- a second interface in a pod: the pod's default route stays eth0's unless asked -------
ns=$(netns_name v110)
eth0_default_only() {
	[ "$(ip -n "$ns" route show default | wc -l)" = 1 ] &&
		ip -n "$ns" route show default | grep -q '^default via 169.254.1.1 dev eth0 '
}
cni_run ADD c$$-net1 "/run/netns/$ns" net1 "$PL_TMP/conf-1.1.0.json"
expect_success "ADD of net1 next to eth0 exits 0" full
check "... its result routes the network's podCIDR, not the default, via the gateway" \
	test "$(jget "$PLUGIN_OUT" 'j["routes"]')" = "[{\"dst\": \"$CIDR\", \"gw\": \"169.254.1.1\"}]"
check "... and the pod's default route is still eth0's alone" eth0_default_only
cni_run DEL c$$-net1 "/run/netns/$ns" net1 "$PL_TMP/conf-1.1.0.json"
expect_success "DEL of net1"
check "... leaves eth0's default route" eth0_default_only
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["defaultRoute"]=True
json.dump(c, open(sys.argv[2], "w"))' "$PL_TMP/conf-1.1.0.json" "$PL_TMP/conf-dr.json"
cni_run ADD c$$-net2 "/run/netns/$ns" net2 "$PL_TMP/conf-dr.json"
expect_success "ADD of net2 with \"defaultRoute\": true exits 0" full
check "... its result has the default route" \
	test "$(jget "$PLUGIN_OUT" 'j["routes"]')" = '[{"dst": "0.0.0.0/0", "gw": "169.254.1.1"}]'
check "... which the pod now takes via net2, eth0's kept under it" \
	bash -c "ip -n $ns route get 192.0.2.200 | grep -q 'dev net2' &&
		 ip -n $ns route show default | grep -q 'dev eth0'"
cni_run DEL c$$-net2 "/run/netns/$ns" net2 "$PL_TMP/conf-dr.json"
expect_success "DEL of net2"
check "... gives the default route back to eth0" poll 5 eth0_default_only

# --- CHECK -------------------------------------------------------------------------------
for v in 0.4.0 1.0.0 1.1.0; do
	with_prev "$PL_TMP/conf-$v.json" "$PL_TMP/result-$v.json" "$PL_TMP/check-$v.json"
	cni_run CHECK "c$$-$v" "/run/netns/$(netns_name "v${v//./}")" eth0 "$PL_TMP/check-$v.json"
	expect_success "CHECK $v passes on a healthy pod"
done
ns=$(netns_name v100)
addr=$(jget "$PL_TMP/result-1.0.0.json" 'j["ips"][0]["address"]')
ip -n "$ns" addr del "$addr" dev eth0
cni_run CHECK c$$-1.0.0 "/run/netns/$ns" eth0 "$PL_TMP/check-1.0.0.json"
check "CHECK fails once the pod's address is removed" test "$PLUGIN_RC" -ne 0
check "... with a CNI error naming the address" \
	python3 "$CNICHECK" error "$PLUGIN_OUT" "$(jget "$PLUGIN_OUT" 'j.get("code")')" \
	"${addr%/32}"
cni_run CHECK c$$-1.0.0 "/run/netns/$ns" eth0 "$PL_TMP/conf-1.0.0.json"
expect_error 7 prevResult "CHECK without prevResult -> 7"

# --- DEL ---------------------------------------------------------------------------------
with_prev "$PL_TMP/conf-1.0.0.json" "$PL_TMP/result-1.0.0.json" "$PL_TMP/del-1.0.0.json"
cni_run DEL c$$-1.0.0 "/run/netns/$ns" eth0 "$PL_TMP/del-1.0.0.json"
expect_success "DEL (with prevResult, as libcni sends it) succeeds with empty stdout"
hostif=$(jget "$PL_TMP/result-1.0.0.json" 'j["interfaces"][0]["name"]')
check "... the host veth is gone (deleted off the request path: within 5 s)" \
	poll 5 bash -c "! ip link show dev $hostif 2>/dev/null"
check "... the address is released" \
	bash -c "! ls '$PL_STATE/ipam/$NET/${addr%/32}' 2>/dev/null"
check "... the pod interface is gone" bash -c "! ip -n $ns link show dev eth0 2>/dev/null"
cni_run DEL c$$-1.0.0 "/run/netns/$ns" eth0 "$PL_TMP/conf-1.0.0.json"
expect_success "second DEL of the same pod succeeds"
cni_run DEL c$$-1.0.0 "" eth0 "$PL_TMP/conf-1.0.0.json"
expect_success "DEL with empty CNI_NETNS succeeds"

# netns gone before DEL (the runtime already removed the sandbox)
ns=$(netns_name v040)
hostif=$(jget "$PL_TMP/result-0.4.0.json" 'j["interfaces"][0]["name"]')
addr=$(jget "$PL_TMP/result-0.4.0.json" 'j["ips"][0]["address"]')
ip netns del "$ns"
cni_run DEL c$$-0.4.0 "/run/netns/$ns" eth0 "$PL_TMP/conf-0.4.0.json"
expect_success "DEL after the netns is gone succeeds"
check "... the address is released" \
	bash -c "! ls '$PL_STATE/ipam/$NET/${addr%/32}' 2>/dev/null"
check "... no endpoint left for it" \
	bash -c "! '$PL_BUILD/podlanectl' --socket '$PL_SOCK' --json endpoint list | grep -q c$$-0.4.0"
check "... the host veth is gone (deleted off the request path: within 5 s)" \
	poll 5 bash -c "! ip link show dev $hostif 2>/dev/null"

cni_run DEL c$$-never-added "/run/netns/$(netns_name v031)" eth0 "$PL_TMP/conf-1.0.0.json"
expect_success "DEL of a container the agent never saw succeeds"

# agent restarted in between: it must find the pod again from its pinned state
agent_kill KILL
agent_start || diag "podlaned did not restart"
ns=$(netns_name v031)
cni_run DEL c$$-0.3.1 "/run/netns/$ns" eth0 "$PL_TMP/conf-0.3.1.json"
expect_success "DEL after a podlaned restart (kill -9) succeeds"
hostif=$(jget "$PL_TMP/result-0.3.1.json" 'j["interfaces"][0]["name"]')
check "... and removed the pod's host veth" bash -c "! ip link show dev $hostif 2>/dev/null"

# agent state gone altogether: a fresh agent with a wiped state dir and pins
agent_kill TERM
"$PL_BUILD/podlaned" --uninstall --pin-root "$PL_PIN" --state-dir "$PL_STATE" >/dev/null 2>&1
rm -rf "$PL_PIN" "$PL_STATE"
mkdir -p "$PL_STATE"
agent_start || diag "podlaned did not start on empty state"
cni_run DEL c$$-1.1.0 "/run/netns/$(netns_name v110)" eth0 "$PL_TMP/conf-1.1.0.json"
expect_success "DEL with the agent's state wiped succeeds"
cni_run DEL c$$-1.1.0 "/run/netns/$(netns_name v110)" eth0 "$PL_TMP/conf-1.1.0.json"
expect_success "... and again"

# --- GC (1.1.0) -----------------------------------------------------------------------------
conf_v "$PL_TMP/gc.json" 1.1.0
for i in 1 2 3; do
	ns=$(netns_add "gc$i") || exit 1
	cni_run ADD "g$$-$i" "/run/netns/$ns" eth0 "$PL_TMP/gc.json"
	cp "$PLUGIN_OUT" "$PL_TMP/gc-result-$i.json"
	expect_success "ADD g$$-$i" full
done
python3 - "$PL_TMP/gc.json" "g$$" > "$PL_TMP/gc-run.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["cni.dev/valid-attachments"] = [{"containerID": sys.argv[2] + "-1", "ifname": "eth0"}]
c["cni.dev/attachments"] = [{"containerID": sys.argv[2] + "-2", "ifname": "eth0"}]
print(json.dumps(c))
EOF
plugin "$PL_TMP/gc-run.json" CNI_COMMAND=GC CNI_PATH="$PL_BUILD:/usr/lib/cni"
expect_success "GC succeeds with empty stdout"
list=$(ctl --json endpoint list)
check "GC kept g$$-1 (in cni.dev/valid-attachments)" grep -q "\"g$$-1\"" <<< "$list"
check "GC kept g$$-2 (in cni.dev/attachments)" grep -q "\"g$$-2\"" <<< "$list"
check "GC removed g$$-3 (listed nowhere)" bash -c "! grep -q '\"g$$-3\"' <<< '$list'"
hostif=$(jget "$PL_TMP/gc-result-3.json" 'j["interfaces"][0]["name"]')
check "... including its host veth" bash -c "! ip link show dev $hostif 2>/dev/null"
plugin "$PL_TMP/gc.json" CNI_COMMAND=STATUS CNI_PATH="$PL_BUILD:/usr/lib/cni"
expect_success "STATUS with the agent up succeeds with no output"
for i in 1 2 3; do
	cni_run DEL "g$$-$i" "/run/netns/$(netns_name "gc$i")" eth0 "$PL_TMP/gc.json"
	[ "$PLUGIN_RC" -eq 0 ] || diag "DEL g$$-$i failed: $(cat "$PLUGIN_OUT")"
done
left=""
for r in "$PL_TMP"/result-*.json "$PL_TMP"/gc-result-*.json; do
	h=$(jget "$r" 'j["interfaces"][0]["name"]')
	ip link show dev "$h" >/dev/null 2>&1 && left="$left $h"
done
check "no host veth of this test left after all DELs" test -z "$left"
check "no address left allocated" test -z "$(ipam_files "$NET")"
done_testing
