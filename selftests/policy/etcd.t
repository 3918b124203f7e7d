#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/etcd.t - network policy from etcd, on one node: policy, namespace and pod
# records (/podlane/v1/policies, /namespaces, /pods) added, changed and deleted reach the
# agent's policy/ module and the maps; podlanectl may not change what etcd holds (the store
# wins a name both use); a record that fails validation is a dead letter with the field and
# the reason, and nothing of it is applied; this node's endpoint record carries its pod's
# namespace, name, labels and named ports; another node's endpoint record makes its pod a
# peer whose labels select it (a label change moves it out of a rule set: the verdict flips);
# after a restart (kill -9 too) the policies and other nodes' pods come back, what etcd
# deleted meanwhile goes, and with etcd unreachable the cached ones keep isolating (a remote
# pod keeps its identity); restarted without etcd, the agent drops what etcd gave.
#
# etcd: one member with the test's own CA on loopback (selftests/etcd/etcd_cluster.sh).
. "$(dirname "$0")/agentlib.sh"
# shellcheck source=../etcd/etcd_cluster.sh
. "$(dirname "$0")/../etcd/etcd_cluster.sh"

pol_requires
require_cmd etcd etcdctl openssl ss
pl_setup
on_cleanup etcd_cluster_kill
make_pki && pick_ports || skip_all "no etcd ports or certificates"
etcd_single_start
poll 30 etcd_healthy
ok $? "etcd with TLS on loopback"

NODE=pe$((PL_ID % 1000))
# shellcheck disable=SC2207 # etcd_agent_opts prints options, one word each
SYNC_OPTS=($(etcd_agent_opts) --node-name "$NODE" --node-ip 192.0.2.1 --no-node-routes)
sync_field() { ctl --json sync status 2>/dev/null | jq -r "$1"; }
watching() { [ "$(sync_field .state)" = watching ]; }
agent_start "${SYNC_OPTS[@]}" && poll 20 watching
ok $? "podlaned syncs with etcd (node $NODE)"

# applied: the agent has applied the store up to its latest revision.
applied() {
	local rev r d
	rev=$(ectl get /podlane/v1/version -w json | jq -r .header.revision)
	read -r r d <<< "$(sync_field '"\(.revision) \(.queue.depth)"')"
	[ "${r:-0}" -ge "$rev" ] && [ "$d" = 0 ]
}
put() { ectl put "$1" "$2" >/dev/null && poll 10 applied; }
del() { ectl del "$1" >/dev/null && poll 10 applied; }
deadletter() {	# deadletter <key>: the reason the agent keeps for key
	ctl --json deadletters | jq -r --arg k "$1" '.deadletters[] | select(.key == $k) |
		.reason'
}
pol() { ctl --json policy list | jq -c --arg n "$1" '.policies[] | select(.name == $n)'; }
isolation() { pod_field "$1" .isolation; }
labels_of() { pod_field "$1" '.labels | map(.key + "=" + .value) | join(",")'; }

pod_add shop web-1 app=web && pod_add shop db-1 app=db
ok $? "pods shop/web-1 (app=web) and shop/db-1 (app=db) wired by podlane-cni"
WEB_IP=$(pod_field shop/web-1 .ip)

K=/podlane/v1/policies/shop/web
CLIENTS='[{"podSelector": {"matchLabels": {"app": "client"}}}]'
web_policy() {	# web_policy <policyTypes JSON> [from-peers JSON]
	jq -cn --argjson t "$1" --argjson f "${2:-$CLIENTS}" '{apiVersion: "networking.k8s.io/v1",
		kind: "NetworkPolicy", metadata: {namespace: "shop", name: "web"},
		spec: {podSelector: {matchLabels: {app: "web"}}, policyTypes: $t,
		ingress: [{from: $f}]}}'
}

# ---- a policy record: added, refused to podlanectl, changed, invalid, deleted ----
put $K "$(web_policy '["Ingress"]')"
p=$(pol shop/web)
[ -n "$p" ] && [ "$(jq -r .types <<< "$p")" = Ingress ] &&
	[ "$(isolation shop/web-1)" = ingress ] && [ "$(isolation shop/db-1)" = none ]
ok $? "policy record $K: shop/web isolates web-1 (ingress), not db-1"
ID=$(jq .id <<< "$p")
f=$PL_STATE/policies/shop.web.json
jq -e '.source == "etcd"' "$f" >/dev/null
ok $? "kept under the state dir as etcd's (source: etcd), a cache for restarts"

out=$(ctl policy del shop/web 2>&1)
rc=$?
[ $rc -ne 0 ] && [[ $out == *"comes from etcd"* ]] && [ -n "$(pol shop/web)" ]
ok $? "podlanectl policy del shop/web refused: $out"
cat > "$PL_TMP/web.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {}
EOF
out=$(ctl policy add -f "$PL_TMP/web.yaml" 2>&1)
rc=$?
[ $rc -ne 0 ] && [[ $out == *"comes from etcd"* ]] && [ "$(isolation shop/db-1)" = none ]
ok $? "podlanectl policy add of the same name refused, nothing changed: $out"

put $K "$(web_policy '["Ingress", "Egress"]')"
[ "$(isolation shop/web-1)" = ingress,egress ] && [ "$(pol shop/web | jq .id)" = "$ID" ]
ok $? "record changed (Egress added): web-1 isolated both ways, policy id $ID kept"

before=$(pol_snapshot)
put $K "$(web_policy '["Ingress"]' '[{"ipBlock": {"cidr": "10.0.0.0/8"},
	"podSelector": {}}]')"
why=$(deadletter $K)
[[ $why == *"spec.ingress[0].from[0]"* ]] && [ "$before" = "$(pol_snapshot)" ] &&
	[ "$(isolation shop/web-1)" = ingress,egress ]
ok $? "an invalid record is a dead letter with field and reason, nothing of it applied: $why"
put $K "$(web_policy '["Ingress", "Egress"]')"
[ -z "$(deadletter $K)" ]
ok $? "a valid record for the key clears its dead letter"

# ---- namespace and pod records ----
put /podlane/v1/namespaces/shop '{"labels": {"team": "a"}}'
[ "$(ctl --json namespace list | jq -r '.namespaces[] | select(.name == "shop") |
	.labels | map(.key + "=" + .value) | join(",")')" = "kubernetes.io/metadata.name=shop,team=a" ]
ok $? "namespace record: shop labelled team=a (and its implied name label)"
out=$(ctl namespace label shop team=b 2>&1)
[ $? -ne 0 ] && [[ $out == *"come from etcd"* ]]
ok $? "podlanectl namespace label refused for it: $out"

id0=$(pod_field shop/web-1 .identity)
put /podlane/v1/pods/shop/web-1 '{"labels": {"app": "web", "v": "2"},
	"ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}'
[ "$(labels_of shop/web-1)" = app=web,v=2 ] &&
	[ "$(pod_field shop/web-1 '.ports[0] | "\(.name)=\(.protocol)/\(.port)"')" = http=TCP/8080 ] &&
	[ "$(pod_field shop/web-1 .identity)" != "$id0" ]
ok $? "pod record: web-1's labels app=web,v=2 and port http=TCP/8080, a new identity"
out=$(ctl pod label shop/web-1 v=3 2>&1)
[ $? -ne 0 ] && [[ $out == *"come from etcd"* ]] && [ "$(labels_of shop/web-1)" = app=web,v=2 ]
ok $? "podlanectl pod label refused for it: $out"
put /podlane/v1/pods/shop/web-1 '{"labels": {"app": "web", "v": "-bad-"}}'
why=$(deadletter /podlane/v1/pods/shop/web-1)
[[ $why == *labels* ]] && [ "$(labels_of shop/web-1)" = app=web,v=2 ]
ok $? "an invalid pod record is a dead letter, the labels stay: $why"

# This node's endpoint record names its pod.
ep_rec() {
	ectl get --prefix "/podlane/v1/endpoints/$NODE/" -w json |
		jq -c '[.kvs[]?.value | @base64d | fromjson | select(.pod == "web-1")][0] |
			{namespace, pod, labels, ports}'
}
poll 5 eval '[ "$(ep_rec)" = "{\"namespace\":\"shop\",\"pod\":\"web-1\",\"labels\":{\"app\":\"web\",\"v\":\"2\"},\"ports\":[{\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}]}" ]'
ok $? "this node's endpoint record carries web-1's namespace, name, labels and ports: $(ep_rec)"

# ---- another node's pod, from its endpoint record ----
RIP=10.$((180 + PL_ID % 20)).251.9
RK=/podlane/v1/endpoints/pe-remote/c9/eth0
remote_ep() {	# remote_ep <app label>
	echo "{\"node\": \"pe-remote\", \"nodeIP\": \"192.0.2.9\", \"ip\": \"$RIP\",
		\"containerID\": \"c9\", \"ifname\": \"eth0\", \"network\": \"n\",
		\"namespace\": \"shop\", \"pod\": \"client-9\", \"labels\": {\"app\": \"$1\"}}"
}
# admitted: web-1's ingress rule set has an entry for the remote pod's identity.
admitted() {
	local id set
	id=$(pod_field shop/client-9 .identity)
	set=$(pod_field shop/web-1 .ingress_set)
	[ -n "$id" ] && maps policy | jq -e --argjson s "$set" --argjson i "$id" \
		'[.[] | select(.set == $s and .peer == $i)] | length > 0' >/dev/null
}
put $RK "$(remote_ep client)"
[ "$(pod_field shop/client-9 .local)" = false ] && [ "$(pod_field shop/client-9 .ip)" = "$RIP" ] &&
	[ "$(labels_of shop/client-9)" = app=client ] && admitted
ok $? "another node's endpoint record: shop/client-9 at $RIP, app=client, admitted by web-1's ingress rules"
put $RK "$(remote_ep other)"
[ "$(labels_of shop/client-9)" = app=other ] && ! admitted
ok $? "its label changed to app=other: no longer admitted (the verdict flips)"
put $RK "$(remote_ep client)"
admitted
ok $? "back to app=client: admitted again"
RK2=/podlane/v1/endpoints/pe-remote/c8/eth0
put $RK2 "$(remote_ep client | jq -c --arg ip "${RIP%.*}.8" '.ip = $ip | .containerID = "c8" |
	.pod = "client-8"')"
[ "$(pod_field shop/client-8 .local)" = false ]
ok $? "a second remote pod, shop/client-8"

# ---- delete ----
del $K
[ -z "$(pol shop/web)" ] && [ "$(isolation shop/web-1)" = none ] && [ ! -e "$f" ]
ok $? "policy record deleted: shop/web gone, web-1 no longer isolated, its cache file gone"

# ---- restart ----
put /podlane/v1/policies/shop/a "$(web_policy '["Ingress"]' | jq -c '.metadata.name = "a"')" &&
	put /podlane/v1/policies/shop/b "$(web_policy '["Egress"]' | jq -c '.metadata.name = "b"')"
[ -n "$(pol shop/a)" ] && [ -n "$(pol shop/b)" ] && [ "$(isolation shop/web-1)" = ingress,egress ]
ok $? "policies shop/a (ingress) and shop/b (egress) from etcd"
agent_kill
ectl del /podlane/v1/policies/shop/a >/dev/null &&
	ectl put /podlane/v1/policies/shop/c "$(web_policy '["Ingress"]' |
		jq -c '.metadata.name = "c"')" >/dev/null && ectl del $RK2 >/dev/null
agent_start "${SYNC_OPTS[@]}" && poll 20 watching && poll 10 applied
[ -z "$(pol shop/a)" ] && [ -n "$(pol shop/b)" ] && [ -n "$(pol shop/c)" ] &&
	[ "$(isolation shop/web-1)" = ingress,egress ] && [ -z "$(pod_field shop/client-8 .ip)" ] &&
	admitted
ok $? "restarted after shop/a and client-8's endpoint were deleted and shop/c added in etcd: b and c in force, a and client-8 gone, client-9 admitted"
rid=$(pod_field shop/client-9 .identity)

agent_kill KILL
etcd_member_kill 0
agent_start "${SYNC_OPTS[@]}"
[ -n "$(pol shop/b)" ] && [ -n "$(pol shop/c)" ] && [ "$(isolation shop/web-1)" = ingress,egress ] &&
	[ "$(sync_field .state)" != watching ]
ok $? "restarted after kill -9 with etcd down ($(sync_field .state)): the cached policies still isolate web-1"
[ "$(pod_field shop/client-9 .identity)" = "$rid" ] && admitted
ok $? "... and the remote pod client-9 keeps its identity ($rid) and stays admitted (cache)"
etcd_single_start
poll 30 watching && poll 10 applied && [ -n "$(pol shop/c)" ] && admitted
ok $? "etcd back: the agent syncs, the policies and the remote pod stay"
del $RK
[ -z "$(pod_field shop/client-9 .ip)" ]
ok $? "client-9's endpoint record deleted: the remote pod is gone"
agent_kill
agent_start
[ -z "$(pol shop/b)" ] && [ -z "$(pol shop/c)" ] && [ "$(isolation shop/web-1)" = none ] &&
	[ ! -e "$PL_STATE/policies/shop.b.json" ]
ok $? "restarted without --etcd-endpoints: what etcd gave is dropped, nothing would confirm it"
done_testing
