#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 04-uplink-limits.t - --uplink attaches tc_from_uplink on the uplink's clsact ingress and sets
# forwarding on that device only, and --uninstall detaches it again; --max-endpoints sizes the
# endpoint maps, a full map fails ADD with 105 and leaves nothing behind, and a restart with a
# different --max-endpoints keeps the pinned maps (and their endpoints) instead of failing;
# more simultaneous clients than the agent has slots all get answered.
. "$(dirname "$0")/lib.sh"
agent_requires
pl_setup

# The uplink is a veth into a namespace the test owns, never the machine's own interface.
UP=pl${PL_ID}up
NSU=$(netns_name up)
ip netns add "$NSU"
ip link add "$UP" type veth peer name eth0 netns "$NSU"
on_cleanup "ip link del $UP"
ip link set "$UP" up

agent_start --uplink "$UP" --max-endpoints 1 || { ok 1 "podlaned starts"; exit 1; }
ok 0 "podlaned starts with --uplink $UP --max-endpoints 1"
[ "$(tc_prog "$UP" ingress | cut -d' ' -f1)" = tc_from_uplink ]
ok $? "tc_from_uplink is attached to $UP ingress"
[ "$(cat /proc/sys/net/ipv4/conf/$UP/forwarding)" = 1 ]; ok $? "forwarding=1 on $UP"
ST=$(api '{"op":"status"}')
jq -e ".uplink == \"$UP\" and ([.programs[].name] | index(\"tc_from_uplink\")) != null" \
	>/dev/null <<<"$ST"
ok $? "status names the uplink and its program"
[ "$(bpftool -j map show pinned "$PL_PIN/podlane_eps" | jq .max_entries)" = 1 ]
ok $? "podlane_eps is sized by --max-endpoints"

pod_add a >/dev/null; ok $? "the first pod fits"
R=$(pod_add b)
[ "$(jfield .code <<<"$R")" = 105 ]; ok $? "the second pod fails with 105: $(jfield .msg <<<"$R")"
! ip -n "$(netns_name b)" link show dev eth0 >/dev/null 2>&1 &&
	! host_veth_exists "$(host_ifname "c-b-$PL_ID" eth0)" &&
	[ "$(ipam_list | wc -l)" = 1 ] && [ "$(map_len podlane_ep_meta)" = 1 ]
ok $? "... and leaves no interface, veth, allocation or map entry"

# 400 clients connect first and send afterwards: all of them are held open at once.
GOT=$(timeout 60 python3 - "$PL_SOCK" <<'PY'
import json, socket, sys, time
socks = []
for _ in range(400):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(30)
    s.connect(sys.argv[1])
    socks.append(s)
time.sleep(0.2)
for s in socks:
    s.send(b'{"op":"status"}')
print(sum(1 for s in socks if json.loads(s.recv(300000)).get("ok")))
PY
)
[ "$GOT" = 400 ]; ok $? "400 simultaneous clients are all answered (got $GOT)"

agent_kill TERM
agent_start --uplink "$UP" --max-endpoints 4; ok $? "a restart asking for another size starts"
[ "$(bpftool -j map show pinned "$PL_PIN/podlane_eps" | jq .max_entries)" = 1 ] &&
	[ "$(api '{"op":"endpoint_list"}' | jq '.endpoints | length')" = 1 ]
ok $? "the pinned maps and their endpoint were kept"
grep -q 'pinned map keeps its size' "$PL_TMP/podlaned.log"; ok $? "the size mismatch is logged"

agent_kill TERM
"$PL_BUILD/podlaned" --uninstall --pin-root "$PL_PIN" --state-dir "$PL_STATE" --uplink "$UP" \
	2>/dev/null && [ -z "$(tc_prog "$UP" ingress)" ] && [ ! -e "$PL_PIN" ]
ok $? "--uninstall detaches tc_from_uplink and removes the pins"
done_testing
