#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 02-errors.t - failures leave nothing behind and carry the right code: an ifname that already
# exists in the pod (101, the interface untouched), a netns that does not exist or is no
# network namespace (104, a FIFO never waited on), an ifname the kernel would not take verbatim
# (4), a NUL inside a string (6), an address another network's pod holds (107), a bad
# subnet (7), a subnet change under live allocations (7), an exhausted pool (102). DEL is
# idempotent, a repeated ADD returns the same endpoint, a delegated address is not recorded in
# podlane's IPAM, and GC releases what is not listed.
. "$(dirname "$0")/lib.sh"
agent_requires
pl_setup

agent_start || { ok 1 "podlaned starts"; exit 1; }
ok 0 "podlaned starts"

# 1. ifname already in the pod: a veth eth0 with an address the agent must not touch.
NSX=$(netns_name x)
ip netns add "$NSX"
ip -n "$NSX" link add eth0 type veth peer name eth0peer
ip -n "$NSX" addr add 192.0.2.7/24 dev eth0
BEFORE=$(ip -n "$NSX" -d addr show dev eth0)
CODE=$(pod_add x 10.250.0.0/24 | jfield .code)
[ "$CODE" = 101 ]; ok $? "add with an existing ifname fails with 101 (got $CODE)"
[ "$(ip -n "$NSX" -d addr show dev eth0)" = "$BEFORE" ]
ok $? "the existing eth0 is untouched"
# By name: a host-wide count would see other tests' pods come and go.
! host_veth_exists "$(host_ifname "c-x-$PL_ID" eth0)"
ok $? "no host veth was left behind"
[ -z "$(ipam_list)" ]; ok $? "no address stays allocated"
[ "$(map_len podlane_ep_meta)" = 0 ] && [ "$(map_len podlane_eps)" = 0 ] &&
	[ "$(map_len podlane_ep_stat)" = 0 ]
ok $? "no map entry was left behind"

# 2. netns that does not exist.
CODE=$(api "{\"op\":\"add\",\"container_id\":\"nonet-$PL_ID\",\"netns\":\"/run/netns/none-$PL_ID\",
	     \"ifname\":\"eth0\",\"network\":\"$NET\",\"subnet\":\"10.250.0.0/24\"}" code)
[ "$CODE" = 104 ]; ok $? "add into a missing netns fails with 104 (got $CODE)"
[ -z "$(ipam_list)" ]; ok $? "... and allocates nothing"

# 2b. netns paths that are not network namespaces. A FIFO must not block the agent in open()
# (it serves one request at a time: every other client would wait); nor may any other file.
# Each request is bounded by timeout; a stuck agent is freed by opening the FIFO read-write.
FIFO=$PL_TMP/fifo-netns
mkfifo "$FIFO"
on_cleanup "timeout 2 bash -c 'exec 3<>$FIFO; sleep 0.2'"
echo plain > "$PL_TMP/plain-file"
for p in "$FIFO" "$PL_TMP/plain-file" "$PL_TMP" /dev/null "/proc/$$/ns/mnt"; do
	CODE=$(timeout 10 python3 "$AGENT_DIR/api.py" "$PL_SOCK" "{\"op\":\"add\",
		\"container_id\":\"badns-$PL_ID\",\"netns\":\"$p\",\"ifname\":\"eth0\",
		\"network\":\"$NET\",\"subnet\":\"10.250.0.0/24\"}" code)
	[ "$CODE" = 104 ]; ok $? "add with netns '$p' fails with 104 at once (got '$CODE')"
	[ -n "$CODE" ] || timeout 2 bash -c "exec 3<>$FIFO; sleep 0.2"
done
timeout 5 python3 "$AGENT_DIR/api.py" "$PL_SOCK" '{"op":"status"}' >/dev/null
ok $? "the agent still answers after them"
[ -z "$(ipam_list)" ] && [ "$(map_len podlane_ep_meta)" = 0 ]
ok $? "... and nothing was allocated or recorded"

# 3. invalid subnet / missing field.
CODE=$(pod_add y 10.250.0.0/33 | jfield .code)
[ "$CODE" = 7 ]; ok $? "add with an invalid subnet fails with 7 (got $CODE)"
CODE=$(api '{"op":"add","netns":"/run/netns/x","ifname":"eth0","network":"n"}' code)
[ "$CODE" = 6 ]; ok $? "add without container_id fails with 6 (got $CODE)"

# 3b. the node's own netns is never wired (eth0 exists there, so a regression fails safely).
CODE=$(api "{\"op\":\"add\",\"container_id\":\"host-$PL_ID\",\"netns\":\"/proc/$$/ns/net\",
	     \"ifname\":\"eth0\",\"network\":\"$NET\",\"subnet\":\"10.250.0.0/24\"}" code)
[ "$CODE" = 4 ]; ok $? "add into the node's own netns fails with 4 (got $CODE)"

# 3d. names the kernel would refuse or rewrite are refused with 4 before anything is created:
# with '%' the kernel picks a name itself ("eth%d" becomes eth0); a NUL (JSON \u0000) would cut
# an id short, so it is refused when the request is decoded (6, naming the field).
NSI=$(netns_name i)
ip netns add "$NSI"
for ifn in 'eth%d' '.' '..' 'a/b' 'a:b' 'a b' 'averyveryverylongname'; do
	CODE=$(api "{\"op\":\"add\",\"container_id\":\"ifn-$PL_ID\",\"netns\":\"/run/netns/$NSI\",
		     \"ifname\":\"$ifn\",\"network\":\"$NET\",\"subnet\":\"10.250.0.0/24\"}" code)
	[ "$CODE" = 4 ]; ok $? "add with ifname '$ifn' fails with 4 (got $CODE)"
done
[ "$(ip -n "$NSI" -o link show | wc -l)" = 1 ] && [ -z "$(ipam_list)" ]
ok $? "... leaving no interface in the pod and no allocation"
for f in container_id ifname network; do
	R=$(python3 - "$f" "$NSI" "$NET" "$PL_ID" <<'PY'
import json, sys
f, ns, net, pid = sys.argv[1:]
req = {"op": "add", "container_id": "nul-" + pid, "netns": "/run/netns/" + ns,
       "ifname": "eth0", "network": net, "subnet": "10.250.0.0/24"}
req[f] = req[f][:3] + "\0" + req[f][3:]
print(json.dumps(req))
PY
	)
	R=$(api "$R")
	[ "$(jq -r .code <<<"$R")" = 6 ] &&
		[ "$(jq -r .msg <<<"$R")" = "field '$f' must be a string without NUL characters" ]
	ok $? "a NUL inside $f is refused, not cut short ($R)"
done
[ "$(ip -n "$NSI" -o link show | wc -l)" = 1 ] && [ -z "$(ipam_list)" ]
ok $? "... leaving no interface in the pod and no allocation"

# 3e. two networks over one subnet: the second network hands out an address the first one's
# pod holds. The error says which address, and which network and pod hold it.
NET=ovl1 pod_add o1 10.249.0.0/24 >/dev/null; ok $? "a pod in network ovl1"
R=$(NET=ovl2 pod_add o2 10.249.0.0/24)
jq -e --arg id "c-o1-$PL_ID" '.code == 107 and (.msg | contains("10.249.0.1") and
	contains("ovl1") and contains($id) and contains("ovl2"))' <<<"$R" >/dev/null
ok $? "the same address in network ovl2 fails with 107 naming it, ovl1 and its pod ($R)"
[ -z "$(ls "$PL_STATE/ipam/ovl2" | grep -E '^[0-9.]+$')" ] &&
	! ip -n "$(netns_name o2)" link show dev eth0 >/dev/null 2>&1
ok $? "... and leaves no allocation in ovl2 and no interface in the pod"
NET=ovl1 pod_del o1 >/dev/null; ok $? "del the pod of ovl1"

# 3c. leftovers of an ADD interrupted by a crash (host veth named for the attachment, its pod
# end already in the pod) do not block the retried ADD.
HS=$(host_ifname "c-s-$PL_ID" eth0)
NSS=$(netns_name s)
ip netns add "$NSS"
ip link add "$HS" type veth peer name eth0 netns "$NSS"
S=$(pod_add s); ok $? "a retried add replaces the leftovers of an interrupted one"
[ "$(jfield .host_ifname <<<"$S")" = "$HS" ] && pod_del s >/dev/null && ! host_veth_exists "$HS"
ok $? "... with the same host veth name ($HS), removed again by del"

# 4. repeated ADD, subnet change, DEL idempotence.
A1=$(pod_add a); ok $? "add pod a"
A2=$(pod_add a)
[ "$(jfield .ip <<<"$A1")" = "$(jfield .ip <<<"$A2")" ] &&
	[ "$(jfield .host_ifname <<<"$A1")" = "$(jfield .host_ifname <<<"$A2")" ]
ok $? "a repeated add returns the same endpoint"
CODE=$(pod_add b 10.251.0.0/24 | jfield .code)
[ "$CODE" = 7 ]; ok $? "changing the network's subnet while allocated fails with 7 (got $CODE)"
HA=$(jfield .host_ifname <<<"$A1")
pod_del a >/dev/null && pod_del a >/dev/null
ok $? "del twice succeeds"
! host_veth_exists "$HA" && [ -z "$(ipam_list)" ] && [ "$(map_len podlane_ep_meta)" = 0 ]
ok $? "del removed the veth, the allocation and the map entries"
api "{\"op\":\"del\",\"container_id\":\"never-$PL_ID\",\"ifname\":\"eth0\",\"network\":\"$NET\"}" \
	>/dev/null
ok $? "del of an unknown container succeeds"

# 5. pool exhaustion in a /30 (two usable addresses), in its own network.
NET=tiny
pod_add p1 10.252.0.0/30 >/dev/null && pod_add p2 10.252.0.0/30 >/dev/null
ok $? "a /30 holds two pods"
CODE=$(pod_add p3 10.252.0.0/30 | jfield .code)
[ "$CODE" = 102 ]; ok $? "the third add fails with 102 (got $CODE)"
! ip -n "$(netns_name p3)" link show dev eth0 >/dev/null 2>&1
ok $? "... and leaves no interface in its netns"
[ "$(ipam_list | sort | tr '\n' ' ')" = "10.252.0.1 10.252.0.2 " ]
ok $? "the allocations skip the network and broadcast addresses"

# 6. delegated address: wired, not recorded in podlane's IPAM; GC releases unlisted attachments.
NET=deleg
D=$(pod_add d "" ',"ip":"10.253.0.9"')
[ "$(jfield .ip <<<"$D")" = 10.253.0.9 ] && [ -z "$(ipam_list)" ]
ok $? "a delegated address is wired and not allocated by podlane"
NET=tiny
REL=$(api "{\"op\":\"gc\",\"network\":\"tiny\",
	    \"attachments\":[{\"container_id\":\"c-p1-$PL_ID\",\"ifname\":\"eth0\"}]}" released)
[ "$REL" = 1 ] && [ "$(ipam_list)" = 10.252.0.1 ] && [ "$(map_len podlane_ep_meta)" = 2 ]
ok $? "gc releases the one unlisted attachment (released=$REL)"

# 7. a read-only state dir (a read-only bind mount: root ignores file modes). DEL removes the
# endpoint but cannot give its address back: it must say so (5, naming the address) instead of
# answering success with the address still allocated; a DEL retried once the dir is writable
# again, or else the next start-up, releases it.
NET=rostate
R1=$(pod_add r1 10.247.0.0/24 | jfield .ip) && R2=$(pod_add r2 10.247.0.0/24 | jfield .ip)
ok $? "two pods in network rostate ($R1, $R2)"
mount --bind "$PL_STATE" "$PL_STATE" && on_cleanup "umount -l '$PL_STATE'" &&
	mount -o remount,bind,ro "$PL_STATE"
ok $? "the state dir is now read-only"
for p in r1 r2; do
	R=$(pod_del $p)
	[ "$(jfield .code <<<"$R")" = 5 ] && jfield .msg <<<"$R" | grep -q "10\.247\.0\."
	ok $? "del of $p with a read-only state dir fails with 5, naming the address ($R)"
done
[ "$(ipam_list | sort | tr '\n' ' ')" = "$R1 $R2 " ] &&
	! ip -n "$(netns_name r1)" link show dev eth0 >/dev/null 2>&1
ok $? "... the pods are unwired, their addresses still allocated"
R=$(pod_del r1)
[ "$(jfield .code <<<"$R")" = 5 ]; ok $? "a retried del still fails with 5 while read-only"
R=$(api '{"op":"gc","network":"rostate"}')
[ "$(jfield .code <<<"$R")" = 5 ] && jfield .msg <<<"$R" | grep -q "2 addresses"
ok $? "so does gc, counting the addresses it could not release ($R)"
umount "$PL_STATE"; ok $? "the state dir is writable again"
pod_del r1 >/dev/null && [ "$(ipam_list)" = "$R2" ]
ok $? "the retried del of r1 succeeds and releases $R1"
agent_kill TERM
agent_start && [ -z "$(ipam_list)" ]
ok $? "a restart releases $R2, which no DEL retry came for"
done_testing
