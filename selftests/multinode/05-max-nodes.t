#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 05-max-nodes.t - how many other nodes one agent takes (issue 10, defect 9). By default
# podlane_nodes is sized for 8,192 nodes in either routing mode (two entries per node: VXLAN
# maps each node's address too), so the 5,000 nodes Kubernetes supports fit, in VXLAN mode,
# each with its map entries and kernel route. --max-nodes N sizes the map when it is first
# created; one more node than the cap is refused with 105 and the reason, nothing changed; a
# restart asking for another size keeps the pinned map (its size wins) and says so. node list
# pages through them all.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
mn_requires
mn_setup

NODES=(1)
N=5000
map_max() { bpftool -j map show pinned "$(node_pin 1)/podlane_nodes" | jq .max_entries; }
map_entries() { bpftool -j map dump pinned "$(node_pin 1)/podlane_nodes" | jq length; }
nroutes() { in_node 1 ip route show proto 112 | wc -l; }

# add_nodes <first> <count>: node_add for nodes n<i>, 10.<100 + i/256>.<i%256>.0/24 via
# 172.20.<i/250>.<i%250 + 2>, one request each; prints how many were added and the first
# refusal.
add_nodes() {
	python3 - "$(node_sock 1)" "$1" "$2" <<'PY'
import json, socket, sys
sock, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
added, refusal = 0, ""
for i in range(first, first + count):
    req = {"op": "node_add", "name": "n%d" % i,
           "node_ip": "172.20.%d.%d" % (i // 250, i % 250 + 2),
           "pod_cidr": "10.%d.%d.0/24" % (100 + i // 256, i % 256)}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(30)
    s.connect(sock)
    s.send(json.dumps(req).encode())
    r = json.loads(s.recv(1 << 20))
    s.close()
    if r.get("ok"):
        added += 1
    elif not refusal:
        refusal = "%s %s" % (r.get("code"), r.get("msg"))
print(added)
print(refusal or "none refused")
PY
}

netns_add node1 >/dev/null && netns_add peer >/dev/null &&
	ip link add up0 netns "$(node_ns 1)" type veth peer name p0 netns "$(netns_name peer)" &&
	ip -n "$(node_ns 1)" addr add 172.20.255.1/16 dev up0 &&
	ip -n "$(node_ns 1)" link set up0 up
ok $? "node1 namespace with an uplink into a test namespace"
NODE_IP[1]=172.20.255.1

agent_up 1 --uplink up0 --routing vxlan || { ok 1 "podlaned starts"; exit 1; }
[ "$(map_max)" = 16384 ]
ok $? "podlane_nodes is sized for 8,192 nodes by default ($(map_max) entries)"
OUT=$(add_nodes 0 $N)
[ "$(head -n 1 <<<"$OUT")" = $N ]
ok $? "$N nodes are added in VXLAN mode (added $(head -n 1 <<<"$OUT"); $(tail -n 1 <<<"$OUT"))"
[ "$(map_entries)" = $((2 * N)) ] && [ "$(nroutes)" = $N ]
ok $? "... each with its two map entries and its kernel route"
ctl_n 1 --json node list > "$PL_TMP/nodes.json" &&
	[ "$(jq '[.nodes[] | select(.installed)] | length' "$PL_TMP/nodes.json")" = $N ] &&
	[ "$(ctl_n 1 node list | grep -c ' vxlan *yes$')" = $N ]
ok $? "podlanectl node list shows all $N, installed"
agent_down 1
agent_up 1 --uplink up0 --routing vxlan && [ "$(map_entries)" = $((2 * N)) ] &&
	grep -q "node routes in place\" routing=vxlan nodes=$N kept=$N written=0" \
		"$(node_dir 1)/podlaned.log"
ok $? "a restart keeps all $N in place"
agent_down 1
in_node 1 "$PL_BUILD/podlaned" --uninstall --pin-root "$(node_pin 1)" \
	--state-dir "$(node_dir 1)/state" >/dev/null 2>&1
rm -rf "$(node_dir 1)/state"
[ "$(nroutes)" = 0 ]; ok $? "--uninstall removes the $N kernel routes"

# A cap of 3 nodes: 6 entries, in either mode.
agent_up 1 --uplink up0 --max-nodes 3 || { ok 1 "podlaned starts with --max-nodes 3"; exit 1; }
[ "$(map_max)" = 6 ]; ok $? "--max-nodes 3 sizes podlane_nodes at 6 entries"
OUT=$(add_nodes 0 4)
[ "$(head -n 1 <<<"$OUT")" = 3 ] &&
	grep -q "^105 .*already 3 nodes.*--max-nodes" <<<"$(tail -n 1 <<<"$OUT")" &&
	[ "$(map_entries)" = 3 ] && [ "$(ls "$(node_dir 1)/state/nodes" | wc -l)" = 3 ] &&
	[ "$(nroutes)" = 3 ]
ok $? "three nodes fit, the fourth is refused with 105, nothing of it stays: $(tail -n 1 <<<"$OUT")"
agent_down 1
agent_up 1 --uplink up0 --max-nodes 10 && [ "$(map_max)" = 6 ] &&
	grep -q 'pinned map keeps its size" map=podlane_nodes pinned=6 wanted=20' \
		"$(node_dir 1)/podlaned.log"
ok $? "a restart asking for 10 keeps the pinned map of 6 entries and logs it"
OUT=$(add_nodes 3 4)
[ "$(head -n 1 <<<"$OUT")" = 3 ] && grep -q "^105 .*already 6 nodes" <<<"$(tail -n 1 <<<"$OUT")"
ok $? "... which takes 6 nodes in direct routing, no more: $(tail -n 1 <<<"$OUT")"
done_testing
