#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 08-routes.t - a pod's routes when podlane adds a second interface: a failed ADD leaves the pod
# exactly as it was (links, addresses, routes, neighbours, lo down stays down); a second
# interface leaves the pod's default route alone unless the request asks for it
# ("default_route", the CNI config's "defaultRoute"), and its DEL gives the pod back the routes
# it had; a first interface still gets the default route.
. "$(dirname "$0")/lib.sh"
agent_requires
pl_setup

# pod_state <ns>: everything of the pod's IPv4 network an ADD may touch (IPv6 is left out:
# its link-local addresses change state by themselves as duplicate detection runs).
pod_state() {
	ip -n "$1" -o link show | sed 's/^[0-9]*: //; s/ qlen [0-9]*//'
	ip -n "$1" -4 -o addr show | sed 's/^[0-9]*: //; s/valid_lft.*//'
	ip -n "$1" -4 route show table all
	ip -n "$1" -4 neigh show nud permanent
}
# attach <pod> <ifname> <container id> [extra json]: an add request for an existing netns.
attach() {
	api "{\"op\":\"add\",\"container_id\":\"$3-$PL_ID\",\"netns\":\"/run/netns/$(netns_name "$1")\",
	      \"ifname\":\"$2\",\"network\":\"$NET\",\"subnet\":\"10.246.0.0/24\"${4:-}}"
}
detach() {
	api "{\"op\":\"del\",\"container_id\":\"$3-$PL_ID\",\"ifname\":\"$2\",\"network\":\"$NET\"}"
}
state_is() { [ "$(pod_state "$1")" = "$2" ]; }
default_dev() { ip -n "$(netns_name "$1")" route get 192.0.2.200 2>/dev/null |
		sed -n 's/.* dev \([^ ]*\).*/\1/p'; }

# A pod as another plugin left it: eth0 with 172.31.5.2/24 and default via 172.31.5.1; lo down.
NSP=$(netns_name p)
ip netns add "$NSP"
ip -n "$NSP" link add eth0 type veth peer name peer0
ip -n "$NSP" addr add 172.31.5.2/24 dev eth0
ip -n "$NSP" link set eth0 up
ip -n "$NSP" link set peer0 up
ip -n "$NSP" route add default via 172.31.5.1 dev eth0
ip -n "$NSP" neigh add 172.31.5.1 lladdr 02:00:00:00:05:01 dev eth0 nud permanent
BEFORE=$(pod_state "$NSP")

# 1. An ADD of net1 that fails at the last steps (map full: room for one endpoint, taken).
agent_start --max-endpoints 1 || { ok 1 "podlaned starts"; exit 1; }
NET=filler pod_add filler >/dev/null; ok $? "one endpoint fills --max-endpoints 1"
CODE=$(attach p net1 c1 | jfield .code)
[ "$CODE" = 105 ]; ok $? "add of net1 fails with 105 (got $CODE)"
AFTER=$(pod_state "$NSP")
[ "$AFTER" = "$BEFORE" ]; ok $? "the pod is exactly as it was: default route, lo down, all"
[ "$AFTER" = "$BEFORE" ] || diag "before:" "$BEFORE" "after:" "$AFTER"
# A successful ADD brings lo up, which DEL leaves up: the pod's state with lo up from here on.
ip -n "$NSP" link set lo up
BEFORE=$(pod_state "$NSP")
# Pinned maps keep their size across restarts: uninstall, so the next agent makes larger ones.
NET=filler pod_del filler >/dev/null
agent_kill TERM
"$PL_BUILD/podlaned" --uninstall --pin-root "$PL_PIN" --state-dir "$PL_STATE" >/dev/null 2>&1

# 2. A second interface that asks for nothing leaves the default route where it was.
agent_start || { ok 1 "podlaned restarts"; exit 1; }
R=$(attach p net1 c1); ok $? "add of net1 succeeds"
[ "$(jfield .default_route <<<"$R")" = false ] && [ "$(default_dev p)" = eth0 ] &&
	ip -n "$NSP" route show default | grep -q '^default via 172.31.5.1 dev eth0'
ok $? "net1 did not take the default route (reply default_route=false)"
ip -n "$NSP" route show 10.246.0.0/24 | grep -q 'via 169.254.1.1 dev net1 .*onlink'
ok $? "net1 routes its network's subnet via the gateway"
# (DEL deletes the veth off the request path: poll.)
detach p net1 c1 >/dev/null && poll 10 state_is "$NSP" "$BEFORE"
ok $? "del of net1 gives the pod back exactly what it had"

# 3. A second interface asked to take the default route comes first while it exists; the
# pod's own default route is kept under it and serves again after DEL.
R=$(attach p net2 c2 ',"default_route":true'); ok $? "add of net2 with default_route true"
[ "$(jfield .default_route <<<"$R")" = true ] && [ "$(default_dev p)" = net2 ] &&
	ip -n "$NSP" route show default | grep -q '^default via 172.31.5.1 dev eth0'
ok $? "net2 routes the default, the pod's own default route is still there"
detach p net2 c2 >/dev/null && poll 10 state_is "$NSP" "$BEFORE" &&
	[ "$(default_dev p)" = eth0 ]
ok $? "del of net2 gives the pod back exactly what it had"

# 4. Two podlane interfaces: eth0 (the first, so the default route) and net1; net1 must not
# shadow eth0's gateway route, and its DEL leaves eth0 working.
Q=$(pod_add q 10.246.0.0/24) && IPQ=$(jfield .ip <<<"$Q"); ok $? "a podlane pod q with eth0"
[ "$(jfield .default_route <<<"$Q")" = true ] && [ "$(default_dev q)" = eth0 ]
ok $? "its first interface took the default route"
NSQ=$(netns_name q)
QBEFORE=$(pod_state "$NSQ")
attach q net1 q1 >/dev/null && [ "$(default_dev q)" = eth0 ] &&
	ip -n "$NSQ" route show 169.254.1.1 | grep -q 'dev eth0'
ok $? "net1 in the same pod leaves eth0's default and gateway routes alone"
detach q net1 q1 >/dev/null && poll 10 state_is "$NSQ" "$QBEFORE"
ok $? "del of net1 leaves pod q as it was"
check "pod q still reaches the node through eth0" ping -c 1 -W 2 "$IPQ"

# 5. Asked not to, a first interface leaves the pod without a default route.
NSR=$(netns_name r)
ip netns add "$NSR"
R=$(attach r eth0 r0 ',"default_route":false')
[ "$(jfield .default_route <<<"$R")" = false ] && [ -z "$(ip -n "$NSR" route show default)" ]
ok $? "default_route false: the pod gets no default route"
detach r eth0 r0 >/dev/null
done_testing
