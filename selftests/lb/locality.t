#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/locality.t - what a service's frontends follow on this node. A backend whose
# spec leaves "local" out is local exactly while a pod here has its address: podlane_eps's
# writer tells the service side when an address is published or unpublished, so the service
# is refreshed in the same round of the agent's event loop, with no poll to wait for (the
# checks below read the service right after the pod's ADD or DEL, without retrying). NodePorts
# sit on the uplink's addresses, which the agent polls every 2 s; a change refreshes every
# NodePort service once.
. "$(dirname "$0")/lib.sh"

svc_requires
pl_setup

X=$((PL_ID % 250 + 1))
VIP=10.96.$X.20
POD_IP=10.252.$X.9
NODE_IP=198.18.$X.1
NODE_IP2=198.18.$X.3
OUT_IP=198.18.$X.2
UPLINK=pll$PL_ID

svc_cgroup || skip_all "cannot create a cgroup under $(cg2_mount)"
outside_setup "$UPLINK" "$NODE_IP" "$OUT_IP" || skip_all "cannot create the uplink veth"
agent_start --cgroup "$SVC_CG" --uplink "$UPLINK"
ok $? "podlaned starts with --uplink $UPLINK"

# loc_state: the backend's resolved locality and the counts its ClusterIP frontend carries.
loc_state() {
	ctl --json service list loc | jq -c '.services[0] | {local: .service.backends[0].local,
		active: .frontends[0].active, local_active: .frontends[0].local_active}'
}
REMOTE='{"local":false,"active":1,"local_active":0}'
LOCAL='{"local":true,"active":1,"local_active":1}'

svc_add "{\"name\":\"loc\",\"clusterIP\":\"$VIP\",
	  \"ports\":[{\"port\":80,\"targetPort\":8080,\"nodePort\":30090}],
	  \"backends\":[{\"ip\":\"$POD_IP\"}]}"
st=$(loc_state)
[ "$st" = "$REMOTE" ]
ok $? "service loc lists $POD_IP before any pod has it: remote ($st)"

pod_add loc "10.252.$X.0/24" ",\"ip\":\"$POD_IP\"" >/dev/null
st=$(loc_state)
[ "$st" = "$LOCAL" ]
ok $? "a pod with $POD_IP is wired: the backend is local at the very next request ($st)"

pod_del loc >/dev/null
st=$(loc_state)
[ "$st" = "$REMOTE" ]
ok $? "the pod is deleted: the backend is remote at the very next request ($st)"

# A second NodePort service: a refresh walk must not meet the versions it just put in place.
svc_add "{\"name\":\"loc2\",\"clusterIP\":\"10.96.$X.21\",
	  \"ports\":[{\"port\":80,\"targetPort\":8080,\"nodePort\":30091}],
	  \"backends\":[{\"ip\":\"$POD_IP\"}]}"
ok $? "service loc2, another NodePort, added"

# np_addrs: the addresses of loc's NodePort frontends, sorted.
np_addrs() {
	ctl --json service list loc |
		jq -r '[.services[0].frontends[] | select(.kind == "NodePort") | .address] |
			sort | join(" ")'
}
np_is() { [ "$(np_addrs)" = "$1" ]; }
np_is "$NODE_IP"
ok $? "the NodePort sits on the uplink's address ($(np_addrs))"
ip addr add "$NODE_IP2/24" dev "$UPLINK"
poll 6 np_is "$NODE_IP $NODE_IP2"
ok $? "an address added to the uplink gets the NodePort within the poll ($(np_addrs))"
ip addr del "$NODE_IP2/24" dev "$UPLINK"
poll 6 np_is "$NODE_IP"
ok $? "the address removed: its NodePort goes ($(np_addrs))"
agent_ready
ok $? "the agent still answers (each refresh walk ended)"

done_testing
