#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/agent.t - services end to end through a real podlaned: specs go in with
# podlanectl, the agent fills the LB maps, and clients in a pod reach backends in other pods.
# The socket LB is attached to a cgroup the test owns (--cgroup) and the clients run in it, so
# nothing else on the machine is translated. The node uplink is a veth into an "outside"
# namespace, for NodePort and external IPs.
#
# Covered: even spread over backends (chi-square), ClientIP affinity, terminating backends
# (no new connections, established ones work), removing a backend (its connection works), UDP
# replies from the service address, NodePort and an external IP from outside the node, the
# LB backend flag in podlane_eps following the services, agent kill -9 + restart
# (connections live, links and service ids unchanged), delete.
. "$(dirname "$0")/lib.sh"

svc_requires
pl_setup

# Per-run addresses so that parallel runs do not meet.
X=$((PL_ID % 250 + 1))
VIP=10.96.$X.10
VIP_AFF=10.96.$X.11
VIP_UDP=10.96.$X.53
VIP_NP=10.96.$X.80
VIP_LATE=10.96.$X.81
LATE_IP=10.251.$X.9	# a pod the agent wires with this address after its service exists
EXT_IP=203.0.113.$X
NODE_IP=198.18.$X.1
OUT_IP=198.18.$X.2
UPLINK=plu$PL_ID
CHI2_DF3=16.27		# chi-square, 3 degrees of freedom, p = 0.001

svc_cgroup || skip_all "cannot create a cgroup under $(cg2_mount)"
outside_setup "$UPLINK" "$NODE_IP" "$OUT_IP" || skip_all "cannot create the uplink veth"
ip -n "$OUT_NS" route add "$EXT_IP/32" via "$NODE_IP"

agent_start --cgroup "$SVC_CG" --uplink "$UPLINK"
ok $? "podlaned starts with --cgroup (a test cgroup) and --uplink $UPLINK"

links() { ls "$PL_PIN/links" 2>/dev/null | grep -E '^(sock_|xdp_from_uplink)' | sort | tr '\n' ' '; }
link_ids() { ctl --json status | jq -r '[.programs[] | select(.link_id) | "\(.name)=\(.link_id)"] | sort | join(" ")'; }
[ "$(links)" = "sock_connect4 sock_getpeername4 sock_recvmsg4 sock_sendmsg4 xdp_from_uplink " ]
ok $? "socket LB and uplink XDP attached through links pinned under <pin-root>/links"
diag "links: $(link_ids)"
cg_progs=$(bpftool cgroup show "$SVC_CG" 2>/dev/null | grep -c sock_)
[ "$cg_progs" -eq 4 ]
ok $? "the four sock_addr programs sit on the test cgroup ($cg_progs found)"

# Backends b1..b4 and a client pod.
backends=()
for i in 1 2 3 4; do
	backend_start "b$i" "b$i" || break
	backends+=("$POD_IP")
done
CLI_IP=$(pod_add cli | jfield .ip)
CLI_NS=$(netns_name cli)
# A VIP that is not translated must fail here, not follow the node's default route out.
ip -n "$CLI_NS" route add unreachable 10.96.0.0/12
[ ${#backends[@]} -eq 4 ] && [ -n "$CLI_IP" ]
ok $? "four backend pods with servers and a client pod are wired (${backends[*]})"

be_json() {	# be_json <ip...> : backends array, each entry "ip" or "ip,state"
	local first=1 b out="["
	for b in "$@"; do
		[ $first -eq 1 ] || out+=","
		first=0
		case $b in
		*,terminating) out+="{\"ip\":\"${b%,*}\",\"state\":\"terminating\"}" ;;
		*) out+="{\"ip\":\"$b\"}" ;;
		esac
	done
	echo "$out]"
}
web_spec() {
	echo "{\"name\":\"web\",\"clusterIP\":\"$VIP\",\"ports\":[{\"name\":\"http\",\"port\":80,
	       \"targetPort\":8080}],\"backends\":$(be_json "$@")}"
}
svc_add "$(web_spec "${backends[@]}")"
ok $? "service web ($VIP:80 -> 4 backends :8080) added with podlanectl"

# ---- spread ---------------------------------------------------------------------------
res=$(in_cg "$CLI_NS" python3 "$SVC_TOOL" spread "$VIP" 80 400)
x2=$(chi2_even "$res" 4)
diag "400 connections: $res chi2=$x2 (bound $CHI2_DF3)"
[ "$(jerrors "$res")" -eq 0 ] && [ "$(jkeys "$res")" -eq 4 ] &&
	awk -v x="$x2" -v b="$CHI2_DF3" 'BEGIN { exit !(x < b) }'
ok $? "ClusterIP: 400 connections reach all 4 backends evenly (chi-square < $CHI2_DF3)"

# ---- affinity -------------------------------------------------------------------------
svc_add "{\"name\":\"sticky\",\"clusterIP\":\"$VIP_AFF\",\"ports\":[{\"port\":80,\"targetPort\":8080}],
	  \"sessionAffinity\":\"ClientIP\",\"sessionAffinityTimeoutSeconds\":600,
	  \"backends\":$(be_json "${backends[@]}")}"
res=$(in_cg "$CLI_NS" python3 "$SVC_TOOL" spread "$VIP_AFF" 80 40)
diag "ClientIP affinity, 40 connections: $res"
[ "$(jerrors "$res")" -eq 0 ] && [ "$(jkeys "$res")" -eq 1 ]
ok $? "sessionAffinity ClientIP: 40 connections stick to one backend"

# ---- terminating ----------------------------------------------------------------------
H1=$PL_TMP/hold1
hold_start "$CLI_NS" "$VIP" 80 "$H1"
X1=$(cat "$H1/backend" 2>/dev/null)
ok $? "a connection to web is held open (backend $X1)"
term=()
for i in 1 2 3 4; do
	if [ "b$i" = "$X1" ]; then term+=("${backends[i-1]},terminating"); else term+=("${backends[i-1]}"); fi
done
svc_add "$(web_spec "${term[@]}")"
res=$(in_cg "$CLI_NS" python3 "$SVC_TOOL" spread "$VIP" 80 200)
diag "$X1 terminating, 200 connections: $res"
[ "$(jerrors "$res")" -eq 0 ] && [ "$(jcount "$res" "$X1")" -eq 0 ] && [ "$(jkeys "$res")" -eq 3 ]
ok $? "terminating backend $X1 gets no new connections, the other three share them"
hold_ping "$H1"
ok $? "the established connection to terminating $X1 still works"

# ---- removal --------------------------------------------------------------------------
H2=$PL_TMP/hold2
hold_start "$CLI_NS" "$VIP" 80 "$H2"
X2=$(cat "$H2/backend" 2>/dev/null)
kept=()
for i in 1 2 3 4; do
	[ "b$i" = "$X2" ] && continue
	if [ "b$i" = "$X1" ]; then kept+=("${backends[i-1]},terminating"); else kept+=("${backends[i-1]}"); fi
done
svc_add "$(web_spec "${kept[@]}")"
res=$(in_cg "$CLI_NS" python3 "$SVC_TOOL" spread "$VIP" 80 100)
diag "$X2 removed ($X1 terminating), 100 connections: $res"
[ "$X2" != "$X1" ] && [ "$(jerrors "$res")" -eq 0 ] && [ "$(jcount "$res" "$X2")" -eq 0 ] &&
	[ "$(jcount "$res" "$X1")" -eq 0 ] && [ "$(jkeys "$res")" -eq 2 ]
ok $? "removed backend $X2 gets no new connections"
hold_ping "$H2"
ok $? "the established connection to removed $X2 still works"

# ---- UDP ------------------------------------------------------------------------------
svc_add "{\"name\":\"dns\",\"clusterIP\":\"$VIP_UDP\",\"ports\":[{\"port\":53,\"protocol\":\"UDP\",
	  \"targetPort\":5353}],\"backends\":$(be_json "${backends[@]}")}"
res=$(in_cg "$CLI_NS" python3 "$SVC_TOOL" udp "$VIP_UDP" 53 40)
diag "UDP, 40 datagrams from one unconnected socket: $res"
[ "$(printf '%s' "$res" | jq -r '.sources | join(",")')" = "$VIP_UDP:53" ] &&
	[ "$(printf '%s' "$res" | jq -r .replies)" -eq 40 ] &&
	[ "$(printf '%s' "$res" | jq -r '.backends | length')" -ge 2 ]
ok $? "UDP: every reply comes from the service address $VIP_UDP:53, backends share the load"

# ---- NodePort and external IP from outside the node -----------------------------------
svc_add "{\"name\":\"np\",\"clusterIP\":\"$VIP_NP\",\"externalIPs\":[\"$EXT_IP\"],
	  \"ports\":[{\"port\":80,\"targetPort\":8080,\"nodePort\":30080}],
	  \"backends\":$(be_json "${backends[@]}")}"
fes=$(ctl --json service list np | jq -r '[.services[0].frontends[] | "\(.kind)=\(.address):\(.port)"] | join(" ")')
diag "np frontends: $fes"
case " $fes " in *" NodePort=$NODE_IP:30080 "*) true ;; *) false ;; esac
ok $? "NodePort frontend sits on the uplink address $NODE_IP:30080"
res=$(ip netns exec "$OUT_NS" python3 "$SVC_TOOL" spread "$NODE_IP" 30080 40)
diag "NodePort from outside, 40 connections: $res"
[ "$(jerrors "$res")" -eq 0 ] && [ "$(jkeys "$res")" -ge 2 ]
ok $? "NodePort: 40 connections from a namespace outside the node reach the backends"
res=$(ip netns exec "$OUT_NS" python3 "$SVC_TOOL" spread "$EXT_IP" 80 20)
diag "external IP from outside, 20 connections: $res"
[ "$(jerrors "$res")" -eq 0 ] && [ "$(jkeys "$res")" -ge 2 ]
ok $? "externalIP: 20 connections from outside the node reach the backends"
H4=$PL_TMP/hold4
hold_start "$OUT_NS" "$NODE_IP" 30080 "$H4" plain
hold_ping "$H4"
ok $? "a NodePort connection from outside is held open ($(cat "$H4/backend" 2>/dev/null))"

# ---- LB backend flag --------------------------------------------------------------------
# ep_flags <ip>: PODLANE_EP_F_* of the address's podlane_eps entry (empty when it has none).
ep_flags() {
	local key
	key=$(printf '"0x%02x",' ${1//./ })
	bpftool -j map dump pinned "$PL_PIN/podlane_eps" |
		jq -r "map(select(.key[4:8] == [${key%,}]))[0].formatted.value.flags // empty"
}
has_flag() { [ $(( $(ep_flags "$1") & 2 )) -eq 2 ]; }
no_flag() { local f; f=$(ep_flags "$1") && [ -n "$f" ] && [ $(( f & 2 )) -eq 0 ]; }
flagged=0
for b in "${backends[@]}"; do [ "$(ep_flags "$b")" = 3 ] && flagged=$((flagged + 1)); done
diag "flags: backends $(for b in "${backends[@]}"; do printf '%s ' "$(ep_flags "$b")"; done)client $(ep_flags "$CLI_IP")"
[ "$flagged" -eq 4 ] && [ "$(ep_flags "$CLI_IP")" = 1 ]
ok $? "podlane_eps: the four backends carry READY|LB_BACKEND (3), the client pod READY only (1)"

late_spec="{\"name\":\"late\",\"clusterIP\":\"$VIP_LATE\",
	    \"ports\":[{\"port\":80,\"targetPort\":8080,\"nodePort\":30081}],
	    \"backends\":[{\"ip\":\"$LATE_IP\"}]}"
svc_add "$late_spec" && pod_add late "10.251.$X.0/24" ",\"ip\":\"$LATE_IP\"" >/dev/null
[ "$(ep_flags "$LATE_IP")" = 3 ]
ok $? "a pod wired after its service lists it gets the flag at once ($(ep_flags "$LATE_IP"))"
ctl service del late >/dev/null && poll 15 no_flag "$LATE_IP"
ok $? "service deleted: the flag is cleared once no flow to the pod is left ($(ep_flags "$LATE_IP"))"
svc_add "$late_spec" && poll 2 has_flag "$LATE_IP"
ok $? "service added again: the flag is back ($(ep_flags "$LATE_IP"))"
# Its NodePort flow outlives the backend's removal (conntrack holds it), so must the flag.
LATE_NS=$(netns_name late)
ip netns exec "$LATE_NS" python3 "$SVC_TOOL" serve late --tcp 8080 --timeout 300 >/dev/null 2>&1 &
on_cleanup "kill $!"
H5=$PL_TMP/hold5
poll 10 backend_listening "$LATE_NS" && hold_start "$OUT_NS" "$NODE_IP" 30081 "$H5" plain &&
	svc_add "${late_spec/$LATE_IP/${backends[0]}}" && ! poll 12 no_flag "$LATE_IP" &&
	hold_ping "$H5"
ok $? "backend dropped from its NodePort service with a flow open: flag kept past a conntrack pass, the flow still works"

# ---- agent kill -9 and restart --------------------------------------------------------
ids_before=$(link_ids)
svc_ids() { ctl --json service list | jq -r '[.services[] | .service.name as $n | .frontends[] | "\($n):\(.address):\(.port)=\(.svc_id)"] | sort | join(" ")'; }
svcs_before=$(svc_ids)
agent_kill KILL
res=$(in_cg "$CLI_NS" python3 "$SVC_TOOL" spread "$VIP" 80 20)
[ "$(jerrors "$res")" -eq 0 ]
ok $? "with podlaned killed (-9) new connections to web still work: $res"
agent_start --cgroup "$SVC_CG" --uplink "$UPLINK"
ok $? "podlaned restarts"
ids_after=$(link_ids)
diag "links before: $ids_before" "links after:  $ids_after"
[ -n "$ids_before" ] && [ "$ids_before" = "$ids_after" ]
ok $? "the restarted agent adopts the pinned links (same link ids, nothing attached twice)"
[ "$(bpftool cgroup show "$SVC_CG" 2>/dev/null | grep -c sock_)" -eq 4 ]
ok $? "still exactly four sock_addr programs on the cgroup"
[ -n "$svcs_before" ] && [ "$(svc_ids)" = "$svcs_before" ] &&
	grep -q 'msg="service adopted"\|services loaded' "$PL_TMP/podlaned.log"
ok $? "services are adopted as they are in the maps (same service ids, nothing rewritten)"
hold_ping "$H1" && hold_ping "$H2" && hold_ping "$H4"
ok $? "connections held across the restart still work (ClusterIP and NodePort)"
[ "$(ep_flags "$LATE_IP")" = 3 ] && [ "$(ep_flags "$CLI_IP")" = 1 ] && hold_ping "$H5"
ok $? "LB backend flags are as before the restart, the dropped backend's flow still works"
res=$(in_cg "$CLI_NS" python3 "$SVC_TOOL" spread "$VIP" 80 60)
[ "$(jerrors "$res")" -eq 0 ] && [ "$(jcount "$res" "$X1")" -eq 0 ] && [ "$(jcount "$res" "$X2")" -eq 0 ]
ok $? "after the restart web still balances over the same backends: $res"

# ---- delete ---------------------------------------------------------------------------
ctl service del web >/dev/null
ok $? "podlanectl service del web"
res=$(in_cg "$CLI_NS" python3 "$SVC_TOOL" spread "$VIP" 80 3)
diag "after delete: $res"
[ "$(jerrors "$res")" -eq 3 ]
ok $? "connections to the deleted VIP are no longer translated"
hold_ping "$H1"
ok $? "a connection established before the delete keeps working"
[ ! -e "$PL_STATE/services/default.web.json" ] && [ -e "$PL_STATE/services/default.np.json" ]
ok $? "the state file of web is gone, the others stay"

done_testing
