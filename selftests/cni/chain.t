#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/cni/chain.t - podlane-cni with Debian's reference plugins: a conflist chain
# podlane -> tuning -> portmap driven the way libcni drives it (each plugin gets the previous
# result as prevResult, DEL runs in reverse with the final result), and IPAM delegated to
# host-local (ADD, DEL, release after a failed ADD, a 1.1.0 config against a 1.0.0 delegate).
#
# portmap rewrites the nat table of the netns it runs in. The node's firewall is not ours to
# change, so portmap runs in a scratch "node" netns of this test: what is under test here is
# that it accepts podlane's result, not the DNAT itself.
. "$(dirname "$0")/lib.sh"

require_root
require_build podlane-cni podlanectl podlaned
require_cmd python3 ip iptables
require_bpffs
[ -x /usr/lib/cni/portmap ] && [ -x /usr/lib/cni/tuning ] && [ -x /usr/lib/cni/host-local ] ||
	skip_all "needs containernetworking-plugins (/usr/lib/cni)"
pl_setup

agent_start || skip_all "podlaned did not start"
NET=chain$$
POD=$(netns_add pod) || exit 1
NODE=$(netns_add node) || exit 1
export CNI_PATH="$PL_BUILD:/usr/lib/cni"

# The three plugin configs exactly as libcni builds them from the conflist below.
cat > "$PL_TMP/conflist.json" <<EOC
{"cniVersion": "1.0.0", "name": "$NET", "plugins": [
  {"type": "podlane-cni", "podCIDR": "10.254.1.0/24", "agentSocket": "$PL_SOCK"},
  {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_ignore": "1"}},
  {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
]}
EOC
# plugin_conf <index> [prev-result-file]: plugins[index] + cniVersion + name (+ runtimeConfig
# for the capabilities it declares) (+ prevResult).
plugin_conf() {
	python3 - "$PL_TMP/conflist.json" "$1" "${2:-}" <<'EOF'
import json, sys
cl = json.load(open(sys.argv[1]))
p = dict(cl["plugins"][int(sys.argv[2])])
p["cniVersion"], p["name"] = cl["cniVersion"], cl["name"]
if p.get("capabilities", {}).get("portMappings"):
    p["runtimeConfig"] = {"portMappings": [
        {"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]}
if sys.argv[3]:
    p["prevResult"] = json.load(open(sys.argv[3]))
print(json.dumps(p))
EOF
}
# run_in <netns|""> <command> <config-file> <binary>: one plugin of the chain.
run_in() {
	local ns=$1 cmd=$2 conf=$3 bin=$4 pre=()
	[ -n "$ns" ] && pre=(ip netns exec "$ns")
	CNI_COMMAND=$cmd CNI_CONTAINERID=c$$-chain CNI_NETNS=/run/netns/$POD CNI_IFNAME=eth0 \
		"${pre[@]}" "$bin" < "$conf" > "$PL_TMP/run.out" 2> "$PL_TMP/run.err"
	PLUGIN_RC=$?
	PLUGIN_OUT=$PL_TMP/run.out
	PLUGIN_ERR=$PL_TMP/run.err
}

# --- ADD through the chain ----------------------------------------------------------------
plugin_conf 0 > "$PL_TMP/p0.json"
run_in "" ADD "$PL_TMP/p0.json" "$PL_BUILD/podlane-cni"
cp "$PLUGIN_OUT" "$PL_TMP/r0.json"
expect_success "chain: podlane ADD" full
plugin_conf 1 "$PL_TMP/r0.json" > "$PL_TMP/p1.json"
run_in "" ADD "$PL_TMP/p1.json" /usr/lib/cni/tuning
cp "$PLUGIN_OUT" "$PL_TMP/r1.json"
expect_success "chain: tuning ADD accepts podlane's result as prevResult" full
check "chain: tuning set its sysctl on podlane's pod interface" \
	test "$(ip netns exec "$POD" cat /proc/sys/net/ipv4/conf/eth0/arp_ignore)" = 1
plugin_conf 2 "$PL_TMP/r1.json" > "$PL_TMP/p2.json"
run_in "$NODE" ADD "$PL_TMP/p2.json" /usr/lib/cni/portmap
cp "$PLUGIN_OUT" "$PL_TMP/r2.json"
expect_success "chain: portmap ADD accepts the result" full
IP=$(jget "$PL_TMP/r0.json" 'j["ips"][0]["address"].split("/")[0]')
check "chain: portmap DNATs hostPort 18080 to the pod's address" \
	bash -c "ip netns exec $NODE iptables -t nat -S | grep -q -- '--to-destination $IP:80'"
check "chain: the final result still describes podlane's pod" \
	python3 "$CNICHECK" result "$PL_TMP/r2.json" 1.0.0 eth0 "/run/netns/$POD" 10.254.1.0/24

# --- CHECK and DEL with the final result, as libcni does ----------------------------------
plugin_conf 0 "$PL_TMP/r2.json" > "$PL_TMP/c0.json"
run_in "" CHECK "$PL_TMP/c0.json" "$PL_BUILD/podlane-cni"
expect_success "chain: podlane CHECK reads the chain's final result"
plugin_conf 2 "$PL_TMP/r2.json" > "$PL_TMP/d2.json"
run_in "$NODE" DEL "$PL_TMP/d2.json" /usr/lib/cni/portmap
expect_success "chain: portmap DEL"
plugin_conf 1 "$PL_TMP/r2.json" > "$PL_TMP/d1.json"
run_in "" DEL "$PL_TMP/d1.json" /usr/lib/cni/tuning
expect_success "chain: tuning DEL"
run_in "" DEL "$PL_TMP/c0.json" "$PL_BUILD/podlane-cni"
expect_success "chain: podlane DEL"
check "chain: the pod interface is gone" bash -c "! ip -n $POD link show dev eth0 2>/dev/null"
check "chain: portmap's rule for the pod is gone" \
	bash -c "! ip netns exec $NODE iptables -t nat -S | grep -q -- '--to-destination $IP:80'"

# --- IPAM delegated to host-local -----------------------------------------------------------
HL=$PL_TMP/host-local
hl_conf() {	# hl_conf <file> <version>
	cat > "$1" <<EOC
{"cniVersion": "$2", "name": "$NET-hl", "type": "podlane-cni", "agentSocket": "$PL_SOCK",
 "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.254.2.0/24"}]], "dataDir": "$HL"}}
EOC
}
hl_conf "$PL_TMP/hl.json" 1.0.0
hl_allocated() { ls "$HL/$NET-hl" 2>/dev/null | grep -c '^10\.254\.2\.'; }
cni_run ADD h$$-1 "/run/netns/$POD" eth0 "$PL_TMP/hl.json"
cp "$PLUGIN_OUT" "$PL_TMP/hl-r.json"
expect_success "host-local: ADD" full
check "host-local: result has host-local's address as a /32" \
	python3 "$CNICHECK" result "$PL_TMP/hl-r.json" 1.0.0 eth0 "/run/netns/$POD" 10.254.2.0/24
HLIP=$(jget "$PL_TMP/hl-r.json" 'j["ips"][0]["address"].split("/")[0]')
check "host-local: its dataDir records the address for this container" \
	grep -q h$$-1 "$HL/$NET-hl/$HLIP"
check "host-local: the pod holds the address" \
	bash -c "ip -n $POD -o addr show dev eth0 | grep -q 'inet $HLIP/32 '"
check "host-local: podlaned allocated nothing itself" test -z "$(ipam_files "$NET-hl")"

# A failed ADD must hand the delegated address back.
BUSY=$(netns_add busy) || exit 1
ip -n "$BUSY" link add eth0 type bridge
cni_run ADD h$$-busy "/run/netns/$BUSY" eth0 "$PL_TMP/hl.json"
check "host-local: ADD onto an existing ifname fails" test "$PLUGIN_RC" -ne 0
check "host-local: ... and the delegated address was released" test "$(hl_allocated)" -eq 1

cni_run DEL h$$-1 "/run/netns/$POD" eth0 "$PL_TMP/hl.json"
expect_success "host-local: DEL"
check "host-local: DEL released the address" test "$(hl_allocated)" -eq 0
cni_run DEL h$$-1 "/run/netns/$POD" eth0 "$PL_TMP/hl.json"
expect_success "host-local: second DEL succeeds"

# host-local 1.1.1 speaks up to 1.0.0; a 1.1.0 network must still work.
hl_conf "$PL_TMP/hl11.json" 1.1.0
cni_run ADD h$$-2 "/run/netns/$POD" eth0 "$PL_TMP/hl11.json"
cp "$PLUGIN_OUT" "$PL_TMP/hl11-r.json"
check "host-local: a 1.1.0 config works with the 1.0.0 delegate" \
	python3 "$CNICHECK" result "$PL_TMP/hl11-r.json" 1.1.0 eth0 "/run/netns/$POD" 10.254.2.0/24
plugin "$PL_TMP/hl11.json" CNI_COMMAND=GC CNI_PATH="$CNI_PATH"
expect_success "host-local: GC succeeds (the delegate is too old for GC and is skipped)"
check "host-local: GC removed the unlisted endpoint h$$-2" \
	bash -c "! '$PL_BUILD/podlanectl' --socket '$PL_SOCK' --json endpoint list | grep -q '\"h$$-2\"'"
cni_run DEL h$$-2 "/run/netns/$POD" eth0 "$PL_TMP/hl11.json"
expect_success "host-local: DEL after GC succeeds"
check "host-local: nothing left allocated" test "$(hl_allocated)" -eq 0
done_testing
