#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 03-restart.t - podlaned restarts without disturbing the datapath: SIGTERM leaves programs
# attached and maps pinned (pods keep talking while it is down) and removes only the socket; a
# restart adopts the same maps (same ids) and replaces the programs in place; after kill -9
# and a pod netns deleted meanwhile, the restart removes that endpoint and its address. A second
# agent on the same socket is refused, and --uninstall removes our filters and the pins.
. "$(dirname "$0")/lib.sh"
agent_requires
pl_setup

agent_start || { ok 1 "podlaned starts"; exit 1; }
ok 0 "podlaned starts"
A=$(pod_add a) && B=$(pod_add b) && C=$(pod_add c)
ok $? "add pods a, b and c"
NSA=$(netns_name a); NSB=$(netns_name b); NSC=$(netns_name c)
IPB=$(jfield .ip <<<"$B"); IPC=$(jfield .ip <<<"$C")
HA=$(jfield .host_ifname <<<"$A"); HC=$(jfield .host_ifname <<<"$C")
IDS=$(for m in podlane_eps podlane_ep_stat podlane_ep_meta podlane_drops podlane_events; do
	map_id $m; done | tr '\n' ' ')
PROG1=$(tc_prog "$HA" ingress)
diag "map ids: $IDS; ingress program on $HA: $PROG1"

# Another agent on the same socket (and state dir) must refuse to start.
"$PL_BUILD/podlaned" --pin-root "$PL_PIN" --state-dir "$PL_STATE" --socket "$PL_SOCK" \
	--log-file "$PL_TMP/second.log" &
SECOND=$!
on_cleanup "kill -9 $SECOND"
poll 10 bash -c "! kill -0 $SECOND"
wait $SECOND; RC=$?
[ $RC -ne 0 ] && agent_ready
ok $? "a second podlaned on the same socket exits ($RC) and the first keeps serving"

# Graceful stop: datapath stays, socket goes.
agent_kill TERM
[ ! -e "$PL_SOCK" ]; ok $? "SIGTERM removes the socket"
[ -e "$PL_PIN/podlane_eps" ] && [ "$(tc_prog "$HA" ingress)" = "$PROG1" ]
ok $? "SIGTERM leaves the maps pinned and the programs attached"
check "pods still reach each other while podlaned is down" \
	ip netns exec "$NSA" ping -c 1 -W 2 "$IPB"

agent_start; ok $? "podlaned restarts"
IDS2=$(for m in podlane_eps podlane_ep_stat podlane_ep_meta podlane_drops podlane_events; do
	map_id $m; done | tr '\n' ' ')
[ "$IDS2" = "$IDS" ]; ok $? "the restarted agent adopted the same maps ($IDS2)"
PROG2=$(tc_prog "$HA" ingress)
[ -n "$PROG2" ] && [ "$PROG2" != "$PROG1" ] && [ "$(tc_prog "$HA" ingress | wc -l)" = 1 ]
ok $? "the ingress program was replaced in place, one filter ($PROG2)"
[ "$(api '{"op":"endpoint_list"}' | jq '.endpoints | length')" = 3 ]
ok $? "all three endpoints are still listed"
check "traffic flows after the restart" ip netns exec "$NSA" ping -c 1 -W 2 "$IPB"

# Crash, then pod c's netns disappears while nobody watches.
agent_kill KILL
[ -S "$PL_SOCK" ]; ok $? "kill -9 leaves a stale socket behind"
ip netns del "$NSC"
poll 10 bash -c "! ip link show dev $HC" ; ok $? "pod c's veth is gone with its netns"
agent_start; ok $? "podlaned starts over the stale socket"
IDS3=$(for m in podlane_eps podlane_ep_stat podlane_ep_meta podlane_drops podlane_events; do
	map_id $m; done | tr '\n' ' ')
[ "$IDS3" = "$IDS" ]; ok $? "same map ids after kill -9"
grep -q 'msg="reconciled" adopted=2 removed=1' "$PL_TMP/podlaned.log"
ok $? "the log reports adopted=2 removed=1"
LIST=$(api '{"op":"endpoint_list"}')
[ "$(jq '.endpoints | length' <<<"$LIST")" = 2 ] &&
	! jq -e ".endpoints[] | select(.ip == \"$IPC\")" >/dev/null <<<"$LIST"
ok $? "pod c's endpoint was removed"
! ipam_list | grep -qx "$IPC" && [ "$(map_len podlane_eps)" = 2 ] &&
	[ "$(map_len podlane_ep_stat)" = 2 ]
ok $? "pod c's address and map entries were released"
check "pods a and b still talk" ip netns exec "$NSB" ping -c 1 -W 2 "$(jfield .ip <<<"$A")"

# Uninstall: refused while the agent runs, then removes filters and pins.
"$PL_BUILD/podlaned" --uninstall --pin-root "$PL_PIN" --state-dir "$PL_STATE" \
	--socket "$PL_SOCK" 2>/dev/null
[ $? -ne 0 ] && [ -d "$PL_PIN" ]; ok $? "--uninstall refuses while podlaned runs"
agent_kill TERM
"$PL_BUILD/podlaned" --uninstall --pin-root "$PL_PIN" --state-dir "$PL_STATE" \
	--socket "$PL_SOCK" 2>/dev/null
ok $? "--uninstall succeeds once podlaned is stopped"
[ ! -e "$PL_PIN" ] && [ -z "$(tc_prog "$HA" ingress)" ] && [ -z "$(tc_prog "$HA" egress)" ]
ok $? "--uninstall removed the pins, the pin dir and our filters"
done_testing
