#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 06-crash.t - podlaned killed in the middle of an ADD or a DEL, then restarted: whatever the
# interrupted request left (host veth, pod end with its address, routes, neighbours, the
# allocation) is removed or finished, never an address held by a stray interface and handed
# out again. The kill comes from the agent's own debug hook (PODLANE_DEBUG_CRASH_AT=<step>:
# SIGKILL when a request reaches that step), so each crash point is hit exactly.
. "$(dirname "$0")/lib.sh"
agent_requires
pl_setup

SUBNET=10.248.0.0/24

# crashed <step> <request...>: the agent, started with the hook at step, dies on the request.
crashed() {
	local step=$1 out
	shift
	PODLANE_DEBUG_CRASH_AT=$step agent_start || return 1
	out=$("$@" 2>&1)
	[ $? = 2 ] || { diag "request answered: $out"; return 1; }
	poll 10 eval '! kill -0 $PL_AGENT_PID' || return 1
	wait "$PL_AGENT_PID" 2>/dev/null
	PL_AGENT_PID=""
	grep -q "killing podlaned at step $step" "$PL_TMP/podlaned.log"
}

# pod_links <name>: the interfaces in pod <name> besides lo.
pod_links() { ip -n "$(netns_name "$1")" -o link show | awk -F': ' '$2 != "lo"' | wc -l; }
# held_by_pods <ip>: how many interfaces in this test's pods hold ip.
held_by_pods() {
	local ns n=0
	for ns in $(ip netns list | awk -v p="pl$PL_ID-" 'index($1, p) == 1 { print $1 }'); do
		ip -n "$ns" -o addr show | grep -q " $1/" && n=$((n + 1))
	done
	echo $n
}
ipam_has() { [ -e "$PL_STATE/ipam/$NET/$1" ]; }

# 1. An ADD killed after each step that leaves something behind before the endpoint record
# exists: after the restart the stray veth, its pod end, host route and neighbour are gone and
# the address is free again, held by nobody.
for step in add:ipam add:veth add:pod add:host; do
	p=a${step#add:}
	HS=$(host_ifname "c-$p-$PL_ID" eth0)
	crashed "$step" pod_add "$p" "$SUBNET"; ok $? "$step: the agent is killed mid-ADD"
	IP=$(ls "$PL_STATE/ipam/$NET" | grep -E '^[0-9.]+$' | head -n 1)
	[ -n "$IP" ] && ipam_has "$IP"; ok $? "$step: ... with $IP allocated"
	case $step in
	add:ipam) ! host_veth_exists "$HS" ;;
	add:veth) host_veth_exists "$HS" && [ "$(pod_links "$p")" = 1 ] ;;
	*)	host_veth_exists "$HS" && [ "$(held_by_pods "$IP")" = 1 ] ;;
	esac
	ok $? "$step: ... and what that step made is there"
	agent_start; ok $? "$step: the agent restarts"
	! host_veth_exists "$HS" && [ "$(pod_links "$p")" = 0 ] &&
		[ -z "$(ip -o route show to exact "$IP/32")" ] &&
		[ -z "$(ip neigh show "$IP" | grep "dev $HS ")" ]
	ok $? "$step: the stray veth, its pod end, route and neighbour are gone"
	! ipam_has "$IP" && [ "$(held_by_pods "$IP")" = 0 ]
	ok $? "$step: $IP is free and held by nobody"
	N=$(pod_add "n$p" "$SUBNET" | jfield .ip)
	[ -n "$N" ] && [ "$(held_by_pods "$N")" = 1 ]
	ok $? "$step: a new pod gets $N, held by it alone"
	pod_del "n$p" >/dev/null
	agent_kill TERM
done

# 2. An ADD killed once the endpoint record exists is finished at the restart: the runtime's
# retry gets the same endpoint, and DEL removes it all.
for step in add:meta add:attach; do
	p=b${step#add:}
	crashed "$step" pod_add "$p" "$SUBNET"; ok $? "$step: the agent is killed mid-ADD"
	IP=$(ls "$PL_STATE/ipam/$NET" | grep -E '^[0-9.]+$' | head -n 1)
	agent_start; ok $? "$step: the agent restarts"
	R=$(pod_add "$p" "$SUBNET")
	[ "$(jfield .ip <<<"$R")" = "$IP" ] && [ "$(held_by_pods "$IP")" = 1 ]
	ok $? "$step: the retried ADD gets the finished endpoint with $IP"
	pod_del "$p" >/dev/null && [ "$(pod_links "$p")" = 0 ] && ! ipam_has "$IP"
	ok $? "$step: DEL removes it all"
	agent_kill TERM
done

# 3. A DEL killed after it queued the host veth's deletion, and one killed when it had done
# everything but answer (the runtime saw success or 11): after the restart nothing of the pod
# is left, and a new pod can be wired into the same netns under the same ifname.
for step in del:queued del:done; do
	p=c${step#del:}
	HS=$(host_ifname "c-$p-$PL_ID" eth0)
	agent_start && IP=$(pod_add "$p" "$SUBNET" | jfield .ip) && agent_kill TERM
	ok $? "$step: a pod with $IP"
	crashed "$step" pod_del "$p"; ok $? "$step: the agent is killed mid-DEL"
	agent_start; ok $? "$step: the agent restarts"
	[ "$step" = del:queued ] && pod_del "$p" >/dev/null	# the runtime retries on 11
	! host_veth_exists "$HS" && [ "$(pod_links "$p")" = 0 ] && ! ipam_has "$IP" &&
		[ -z "$(ip -o route show to exact "$IP/32")" ] && [ "$(held_by_pods "$IP")" = 0 ]
	ok $? "$step: veth, pod end, route and $IP are gone"
	R=$(api "{\"op\":\"add\",\"container_id\":\"again-$p-$PL_ID\",
		  \"netns\":\"/run/netns/$(netns_name "$p")\",\"ifname\":\"eth0\",
		  \"network\":\"$NET\",\"subnet\":\"$SUBNET\"}")
	[ "$(jfield .ok <<<"$R")" = true ]
	ok $? "$step: a new pod is wired into the same netns as eth0 ($R)"
	api "{\"op\":\"del\",\"container_id\":\"again-$p-$PL_ID\",\"ifname\":\"eth0\",
	      \"network\":\"$NET\"}" >/dev/null
	agent_kill TERM
done

agent_start && [ "$(map_len podlane_ep_meta)" = 0 ] && [ "$(map_len podlane_eps)" = 0 ] &&
	[ -z "$(ls "$PL_STATE/ipam/$NET" | grep -E '^[0-9.]+$')" ]
ok $? "in the end no endpoint, map entry or allocation is left"
done_testing
