#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/cni/ipam.t - no pod is ever given an address it must not hold (issue 10, defect 6),
# through podlane-cni as a runtime calls it. podlaned's own IPAM refuses a podCIDR that holds
# an address of the node (here: the address of a test veth in the node's netns) or overlaps a
# reserved range (169.254.1.0/24 would give a pod its own gateway 169.254.1.1); a delegated
# IPAM plugin's address is refused when it is 0.0.0.0, loopback, multicast, the gateway, the
# network or broadcast address of its subnet, or the node's own. Each refusal is CNI error 7
# naming the address, leaves no veth, map entry or allocation, and hands a delegated address
# back to its plugin (DEL); a good address works as before.
. "$(dirname "$0")/lib.sh"

require_root
require_build podlaned podlane-cni
require_cmd python3 ip bpftool
require_bpffs
pl_setup

X=$((PL_ID % 200 + 20))
NODE_NET=10.251.$X		# the subnet of the node's test veth, which holds .1
DELEG_NET=10.252.$X		# the delegated plugin's subnet
UPV=pl${PL_ID}n
NS=$(netns_add pod) || exit 1
PEER=$(netns_add peer) || exit 1
on_cleanup "ip link del $UPV"
ip link add "$UPV" type veth peer name eth0 netns "$PEER" &&
	ip addr add "$NODE_NET.1/24" dev "$UPV" && ip link set "$UPV" up ||
	skip_all "cannot create a veth with an address in the node's netns"
agent_start || { ok 1 "podlaned starts"; exit 1; }
ok 0 "podlaned starts; the node holds $NODE_NET.1 on $UPV"

# A fake IPAM plugin: ADD answers the "address" of its config, DEL writes down that it ran.
BIN=$PL_TMP/bin
mkdir -p "$BIN"
cat > "$BIN/pl-fakeipam" <<'EOF'
#!/usr/bin/env python3
import json, os, sys
conf = json.load(sys.stdin) if os.environ.get("CNI_COMMAND") != "VERSION" else {}
cmd = os.environ.get("CNI_COMMAND")
if cmd == "VERSION":
    print(json.dumps({"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]}))
elif cmd == "ADD":
    print(json.dumps({"cniVersion": "1.0.0", "ips": [{"address": conf["ipam"]["address"]}]}))
elif cmd == "DEL":
    with open(conf["ipam"]["log"], "a") as f:
        f.write("DEL %s\n" % os.environ.get("CNI_CONTAINERID"))
EOF
chmod +x "$BIN/pl-fakeipam"
DEL_LOG=$PL_TMP/fake-del.log
: > "$DEL_LOG"

builtin_conf() {	# builtin_conf <file> <network> <podCIDR>
	cni_conf "$1" "$2" "$3" 1.0.0
}
fake_conf() {	# fake_conf <file> <network> <address/len>
	cat > "$1" <<EOC
{"cniVersion": "1.0.0", "name": "$2", "type": "podlane-cni", "agentSocket": "$PL_SOCK",
 "ipam": {"type": "pl-fakeipam", "address": "$3", "log": "$DEL_LOG"}}
EOC
}
run_add() {	# run_add <container-id> <config>
	CNI_ENV=("CNI_COMMAND=ADD" "CNI_CONTAINERID=$1" "CNI_NETNS=/run/netns/$NS" "CNI_IFNAME=eth0"
		 "CNI_PATH=$BIN:$PL_BUILD")
	plugin "$2" "${CNI_ENV[@]}"
}
run_del() {
	CNI_ENV=("CNI_COMMAND=DEL" "CNI_CONTAINERID=$1" "CNI_NETNS=/run/netns/$NS" "CNI_IFNAME=eth0"
		 "CNI_PATH=$BIN:$PL_BUILD")
	plugin "$2" "${CNI_ENV[@]}"
}
# undo_success <container-id> <config>: an ADD that should have failed is taken back, so that
# every case starts from an empty pod.
undo_success() {
	[ "$PLUGIN_RC" -eq 0 ] || return 0
	diag "it gave the pod $(jget "$PLUGIN_OUT" 'j["ips"][0]["address"]')"
	run_del "$1" "$2"
}
nothing_left() {
	! ip -n "$NS" link show dev eth0 >/dev/null 2>&1 &&
		[ "$(eps_count)" = 0 ] && [ -z "$(ipam_files "$1")" ]
}

# --- podlaned's own IPAM ---------------------------------------------------------------
# podCIDR|what the refusal names
BUILTIN="$NODE_NET.0/24|holds this node's own address $NODE_NET.1 ($UPV)
$NODE_NET.0/30|holds this node's own address $NODE_NET.1 ($UPV)
169.254.1.0/24|subnet 169.254.1.0/24 holds the pods' gateway 169.254.1.1
169.254.2.0/24|overlaps 169.254.0.0/16 (link-local
127.0.0.0/24|overlaps 127.0.0.0/8 (loopback)
0.0.0.0/24|overlaps 0.0.0.0/8
224.0.0.0/24|overlaps 224.0.0.0/4 (multicast)"
i=0
while IFS='|' read -r cidr why; do
	i=$((i + 1))
	builtin_conf "$PL_TMP/b$i.json" "bi$i" "$cidr"
	run_add "b$i-$PL_ID" "$PL_TMP/b$i.json"
	expect_error 7 "$why" "podCIDR $cidr is refused: $why"
	undo_success "b$i-$PL_ID" "$PL_TMP/b$i.json"
	check "... and nothing is left: no interface, veth, map entry or allocation" \
		nothing_left "bi$i"
done <<<"$BUILTIN"

# --- a delegated IPAM plugin's address -------------------------------------------------
# address/len|what the refusal names
DELEG="0.0.0.0/24|0.0.0.0
127.0.0.1/8|127.0.0.1
224.0.0.5/24|224.0.0.5
169.254.1.1/24|169.254.1.1 is the pods' gateway
$DELEG_NET.0/24|$DELEG_NET.0 is the network address of $DELEG_NET.0/24
$DELEG_NET.255/24|$DELEG_NET.255 is the broadcast address of $DELEG_NET.0/24
$NODE_NET.1/24|$NODE_NET.1 is this node's own address ($UPV)"
i=0
while IFS='|' read -r addr why; do
	i=$((i + 1))
	fake_conf "$PL_TMP/d$i.json" "dl$i" "$addr"
	run_add "d$i-$PL_ID" "$PL_TMP/d$i.json"
	expect_error 7 "$why" "delegated $addr is refused: $why"
	undo_success "d$i-$PL_ID" "$PL_TMP/d$i.json"
	check "... nothing is left, and the address went back to the plugin (DEL)" \
		eval "nothing_left dl$i && grep -qx 'DEL d$i-$PL_ID' '$DEL_LOG'"
done <<<"$DELEG"

# --- what is fine stays fine -----------------------------------------------------------
fake_conf "$PL_TMP/good.json" dlgood "$DELEG_NET.7/24"
run_add "good-$PL_ID" "$PL_TMP/good.json"
expect_success "a delegated $DELEG_NET.7/24 is wired" full
check "... the pod holds $DELEG_NET.7/32" \
	bash -c "ip -n $NS -o addr show dev eth0 | grep -q 'inet $DELEG_NET.7/32 '"
run_del "good-$PL_ID" "$PL_TMP/good.json"
expect_success "... and deleted"
builtin_conf "$PL_TMP/own.json" own "$DELEG_NET.0/30"
run_add "own-$PL_ID" "$PL_TMP/own.json"
expect_success "podCIDR $DELEG_NET.0/30 hands out an address" full
check "... the first one, $DELEG_NET.1" test "$(jget "$PLUGIN_OUT" 'j["ips"][0]["address"]')" = \
	"$DELEG_NET.1/32"
run_del "own-$PL_ID" "$PL_TMP/own.json"
expect_success "... and deleted"
done_testing
