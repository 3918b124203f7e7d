#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/agent.t - podlaned's network policy module through podlanectl, no traffic:
# policy add/del/list (YAML streams, replace by namespace/name, ids kept), a bad policy refused
# with its field path and nothing changed, pod and namespace labels, named ports; what the maps
# hold (podlane_ep_policy, podlane_policy, podlane_ipcache): pods with the same labels share
# one identity and one rule set, a label change rewrites that pod's entry only; metrics; and
# a restart that restores policies, namespaces and pods and writes nothing.
. "$(dirname "$0")/agentlib.sh"

pol_requires
require_cmd curl
pl_setup
POL_METRICS=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
agent_start --metrics-addr "$POL_METRICS"
ok $? "podlaned starts"

pod_add x a pod=a app=web
ok $? "pod x/a wired by podlane-cni with labels pod=a app=web"
pod_add x b pod=a app=web
ok $? "pod x/b, the same labels"
pod_add y c pod=c
ok $? "pod y/c"
[ "$(pod_field x/a .identity)" = "$(pod_field x/b .identity)" ] &&
	[ "$(pod_field x/a .identity)" != "$(pod_field y/c .identity)" ] &&
	[ "$(pod_field x/a .identity)" -ge 256 ]
ok $? "x/a and x/b share an identity (>= 256), y/c has another"

# ---- policy add and list ------------------------------------------------------------------
cat > "$PL_TMP/two.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec:
  podSelector: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: x}
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {team: blue}
    ports:
    - port: 80
    - {protocol: UDP, port: 81, endPort: 90}
EOF
out=$(ctl policy add -f "$PL_TMP/two.yaml" 2>&1)
printf '%s\n' "$out" | grep -qx "policy x/deny-all created (id 1)" &&
	printf '%s\n' "$out" | grep -qx "policy x/allow-web created (id 2)"
ok $? "policy add -f: a YAML stream of two, ids 1 and 2 ($out)"
list=$(ctl policy list)
diag "$list"
printf '%s\n' "$list" | grep -Eq '^1 +x/deny-all +Ingress +2 +0 +0 +0$' &&
	printf '%s\n' "$list" | grep -Eq '^2 +x/allow-web +Ingress +2 +1 +0 +0$'
ok $? "policy list: id, name, types, pods selected here, rules, entries"
js=$(ctl policy list -o json)
[ "$(jq -r '.total' <<<"$js")" = 2 ] &&
	[ "$(jq -r '.policies[1].policy.spec.ingress[0].ports[1].endPort' <<<"$js")" = 90 ] &&
	[ "$(jq -r '.capacity.max_entries' <<<"$js")" = 65536 ]
ok $? "policy list -o json: the canonical policy and the map's capacity"
[ -s "$PL_STATE/policies/x.deny-all.json" ] &&
	jq -e '.id == 2 and .policy.metadata.name == "allow-web"' \
		"$PL_STATE/policies/x.allow-web.json" >/dev/null
ok $? "policies persisted in <state-dir>/policies/<ns>.<name>.json with their ids"

ea=$(ep_of x/a)
eb=$(ep_of x/b)
ec=$(ep_of y/c)
diag "ep_policy x/a $ea" "ep_policy y/c $ec"
[ "$(jq .flags <<<"$ea")" = 1 ] && [ "$(jq .ingress_set <<<"$ea")" -gt 0 ] &&
	[ "$(jq .ingress_set <<<"$ea")" = "$(jq .ingress_set <<<"$eb")" ] &&
	[ "$(jq .ingress_policy <<<"$ea")" = 1 ] &&
	[ "$(jq .id <<<"$ea")" = "$(pod_field x/a .identity)" ]
ok $? "podlane_ep_policy: x/a and x/b isolated for ingress by policy 1, one shared rule set"
[ "$(jq .flags <<<"$ec")" = 0 ] && [ "$(jq .ingress_set <<<"$ec")" = 0 ]
ok $? "podlane_ep_policy: y/c, selected by no policy, is not isolated"
set_ab=$(jq .ingress_set <<<"$ea")
[ "$(set_entries "$set_ab")" = 0 ]
ok $? "the set allows nothing yet: no namespace is labelled team=blue"
ipc=$(maps ipcache)
ip_a=$(pod_field x/a .ip)
[ "$(jq -r --arg c "$ip_a/32" '.[] | select(.cidr == $c) | .id' <<<"$ipc")" = \
	"$(pod_field x/a .identity)" ]
ok $? "podlane_ipcache: x/a's address carries its identity"

# Same file again: nothing changes.
before=$(pol_snapshot)
out=$(ctl policy add -f "$PL_TMP/two.yaml" 2>&1)
[ "$(pol_snapshot)" = "$before" ] &&
	[ "$(printf '%s\n' "$out" | grep -c unchanged)" = 2 ]
ok $? "the same policies again: unchanged, maps and files as they were"

# ---- namespace labels --------------------------------------------------------------------
out=$(ctl namespace label y team=blue 2>&1)
ok $? "namespace label y team=blue ($out)"
ea=$(ep_of x/a)
set_ab=$(jq .ingress_set <<<"$ea")
pc=$(maps policy)
id_c=$(pod_field y/c .identity)
# TCP 80 is one entry, UDP 81-90 five prefixes (81, 82-83, 84-87, 88-89, 90).
[ "$(set_entries "$set_ab")" = 6 ] &&
	jq -e --argjson s "$set_ab" --argjson c "$id_c" 'any(.[]; .set == $s and .peer == $c and
		.proto == 6 and .port == 80 and .prefixlen == 88 and .policy == 2)' <<<"$pc" \
		>/dev/null &&
	jq -e --argjson s "$set_ab" --argjson c "$id_c" 'any(.[]; .set == $s and .peer == $c and
		.proto == 17 and .port == 84 and .prefixlen == 86)' <<<"$pc" >/dev/null &&
	[ "$(jq .ingress_set <<<"$(ep_of x/b)")" = "$set_ab" ]
ok $? "y's pods now allowed to x's web pods: TCP 80 and UDP 81-90 as port prefixes, still one set"
ns=$(ctl namespace list -o json)
jq -e '.namespaces[] | select(.name == "y") | .pods == 1 and
	(.labels | map(.key + "=" + .value) | index("team=blue") != null) and
	(.labels | map(.key) | index("kubernetes.io/metadata.name") != null)' <<<"$ns" >/dev/null
ok $? "namespace list: y with team=blue and the implied kubernetes.io/metadata.name"
[ -s "$PL_STATE/namespaces/y.json" ] &&
	jq -e '.labels == {"team": "blue"}' "$PL_STATE/namespaces/y.json" >/dev/null
ok $? "namespace labels persisted in <state-dir>/namespaces/y.json"
out=$(ctl namespace label y kubernetes.io/metadata.name=z 2>&1)
[ $? = 1 ] && printf '%s' "$out" | grep -q "kubernetes.io/metadata.name is the namespace's name"
ok $? "the implied name label cannot be changed ($out)"

# ---- a pod's labels: only that pod's entry is rewritten -----------------------------------
ea=$(ep_of x/a)
w0=$(metric 'podlane_policy_map_writes_total{map="podlane_ep_policy"}')
out=$(ctl pod label x/b app- tier=db 2>&1)
ok $? "pod label x/b app- tier=db ($(printf '%s' "$out" | tail -n 1))"
w1=$(metric 'podlane_policy_map_writes_total{map="podlane_ep_policy"}')
eb=$(ep_of x/b)
[ "$(ep_of x/a)" = "$ea" ] && [ "$((w1 - w0))" = 1 ] &&
	[ "$(jq .id <<<"$eb")" != "$(jq .id <<<"$ea")" ] &&
	[ "$(jq .ingress_set <<<"$eb")" != "$(jq .ingress_set <<<"$ea")" ] &&
	[ "$(jq .ingress_policy <<<"$eb")" = 1 ]
ok $? "the label change rewrote x/b's podlane_ep_policy entry only (writes $w0 -> $w1)"
[ "$(set_entries "$(jq .ingress_set <<<"$eb")")" = 0 ]
ok $? "x/b, no longer app=web, gets deny-all's empty set"
[ "$(pod_field x/b '.labels | map(.key + "=" + .value) | join(",")')" = "pod=a,tier=db" ] &&
	[ "$(jq -c .labels "$(pod_record b)")" = '{"pod":"a","tier":"db"}' ]
ok $? "pod list and the pod's record show pod=a,tier=db"

# ---- refused changes leave everything as it was ------------------------------------------
before=$(pol_snapshot)
out=$(ctl pod label x/b 'bad key=1' 2>&1)
[ $? = 1 ] && printf '%s' "$out" | grep -q "label key 'bad key'" && [ "$(pol_snapshot)" = "$before" ]
ok $? "a bad label key is refused, nothing changed ($out)"
out=$(ctl pod label x/nope a=b 2>&1)
[ $? = 1 ] && printf '%s' "$out" | grep -q "pod 'x/nope' is not on this node"
ok $? "a pod not on this node is refused ($out)"
cat > "$PL_TMP/bad.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: fine, namespace: x}
spec:
  podSelector: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: broken, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {}
    - ipBlock: {cidr: 10.0.0.0/8}
      podSelector: {}
EOF
out=$(ctl policy add -f "$PL_TMP/bad.yaml" 2>&1)
rc=$?
diag "$out"
[ $rc = 1 ] && printf '%s' "$out" | grep -q "document 2: spec.ingress\[0\].from\[1\]" &&
	[ "$(pol_snapshot)" = "$before" ] && [ "$(ctl policy list -o json | jq .total)" = 2 ]
ok $? "a stream with one bad policy: refused with its field path, neither applied"
out=$(python3 - "$PL_SOCK" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
bad = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
       "metadata": {"name": "p", "namespace": "x"},
       "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 80, "endPort": 70}]}]}}
s.send(json.dumps({"op": "policy_add", "policies": [bad]}).encode())
print(s.recv(65536).decode())
EOF
)
[ "$(jq -r .code <<<"$out")" = 7 ] &&
	jq -r .msg <<<"$out" | grep -q "^spec.egress\[0\].ports\[0\].endPort" &&
	[ "$(pol_snapshot)" = "$before" ]
ok $? "the agent refuses a bad policy the same way (code 7, field path: $(jq -r .msg <<<"$out"))"

# ---- named ports ------------------------------------------------------------------------
out=$(ctl pod ports x/a http=TCP/8080 dns=udp/53 2>&1)
ok $? "pod ports x/a http=TCP/8080 dns=udp/53"
[ "$(pod_field x/a '.ports | map(.name + "=" + .protocol + "/" + (.port|tostring)) | join(",")')" \
	= "http=TCP/8080,dns=UDP/53" ]
ok $? "pod list shows the named ports"
cat > "$PL_TMP/named.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: x}
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {team: blue}
    ports:
    - port: http
EOF
out=$(ctl policy add -f "$PL_TMP/named.yaml" 2>&1)
[ "$out" = "policy x/allow-web replaced (id 2)" ]
ok $? "a policy of the same namespace/name replaces it and keeps its id ($out)"
set_a=$(jq .ingress_set <<<"$(ep_of x/a)")
[ "$(maps policy | jq -c --argjson s "$set_a" '[.[] | select(.set == $s) |
	[.peer, .proto, .port, .prefixlen]]')" = "[[$id_c,6,8080,88]]" ]
ok $? "the named port resolves to x/a's http: TCP 8080 from y/c only"
ctl pod ports x/a >/dev/null
ok $? "pod ports x/a with none clears them"
[ "$(set_entries "$(jq .ingress_set <<<"$(ep_of x/a)")")" = 0 ] &&
	[ "$(pod_field x/a '.ports | length')" = 0 ]
ok $? "without the named port the rule allows nothing"

# ---- metrics ----------------------------------------------------------------------------
js=$(ctl policy list -o json)
[ "$(metric podlane_policy_map_entries)" = "$(jq .capacity.entries <<<"$js")" ] &&
	[ "$(metric podlane_policy_map_max_entries)" = 65536 ] &&
	[ "$(metric podlane_policy_rule_sets)" = "$(jq .capacity.rule_sets <<<"$js")" ] &&
	[ "$(metric podlane_policy_identities)" = 3 ] &&
	[ "$(metric podlane_policy_policies)" = 2 ] &&
	[ "$(metric 'podlane_policy_pods{where="local"}')" = 3 ] &&
	[ -n "$(metric 'podlane_policy_datapath_total{counter="denied"}')" ]
ok $? "metrics: map use against size, rule sets, identities, policies, pods, datapath counters"

# ---- podlane_pol_ct: idle connections expire ---------------------------------------------
ct_put() {	# ct_put <proto> <sport> <idle seconds> <flags>: an allowed connection, idle so long
	python3 - "$PL_PIN/podlane_pol_ct" "$@" <<'PY'
import struct, subprocess, sys, time
path, proto, sport, idle, flags = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
	int(sys.argv[4]), int(sys.argv[5])
last = time.clock_gettime_ns(time.CLOCK_MONOTONIC) - idle * 10**9
key = bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack(">HHB3x", sport, 80, proto)
val = struct.pack("<QIIIHHII", last, 1, 0, 1, 0, 0, flags, 0)
hx = lambda b: [f"{x:02x}" for x in b]
subprocess.run(["bpftool", "map", "update", "pinned", path, "key", "hex", *hx(key),
		"value", "hex", *hx(val)], check=True)
PY
}
ct_sports() { bpftool -j map dump pinned "$PL_PIN/podlane_pol_ct" | python3 -c '
import json, sys
print(json.dumps(sorted(int(e["key"][8], 16) * 256 + int(e["key"][9], 16)
			for e in json.load(sys.stdin)), separators=(",", ":")))'; }
ct_gone() { [ "$(ct_sports)" = "[1001,1004]" ]; }
exp0=$(metric podlane_policy_conntrack_expired_total)
# The ages must fit in CLOCK_MONOTONIC: a machine booted 2 minutes ago has no 3600 s idle
# connection (bpf_ktime_get_ns() counts from boot). The oldest here is 130 s.
up=$(cut -d. -f1 /proc/uptime)
[ "$up" -ge 135 ] || sleep $((135 - up))
ct_put 6 1001 130 1 && ct_put 6 1002 90 0 && ct_put 17 1003 61 0 && ct_put 17 1004 61 1 &&
	ct_put 17 1005 125 1
ok $? "podlane_pol_ct: five allowed connections, idle for various times"
poll 25 ct_gone
ok $? "the collector deleted those idle past their lifetime (TCP without reply 60 s, UDP 60 s, 120 s replied), kept the others: $(ct_sports)"
[ $(( $(metric podlane_policy_conntrack_expired_total) - exp0 )) = 3 ]
ok $? "podlane_policy_conntrack_expired_total counts them"
bpftool map delete pinned "$PL_PIN/podlane_pol_ct" key hex 0a 00 00 01 0a 00 00 02 03 e9 00 50 \
	06 00 00 00 && bpftool map delete pinned "$PL_PIN/podlane_pol_ct" key hex 0a 00 00 01 \
	0a 00 00 02 03 ec 00 50 11 00 00 00

# ---- restart: everything restored, nothing written ----------------------------------------
ctl pod ports x/a http=TCP/8080 >/dev/null
before=$(pol_snapshot)
pods_before=$(ctl pod list -o json | jq -c '.pods | sort_by(.name)')
agent_kill TERM
agent_start --metrics-addr "$POL_METRICS"
ok $? "podlaned restarts"
pods_after=$(ctl pod list -o json | jq -c '.pods | sort_by(.name)')
[ "$pods_after" = "$pods_before" ]
ok $? "pods restored with their labels, ports, identities and rule sets"
[ "$pods_after" = "$pods_before" ] || diag "before: $pods_before" "after:  $pods_after"
[ "$(ctl policy list -o json | jq -c '[.policies[] | [.id, .name]]')" = \
	'[[1,"x/deny-all"],[2,"x/allow-web"]]' ]
ok $? "policies restored with their ids"
after=$(pol_snapshot)
[ "$after" = "$before" ] &&
	[ "$(metric 'podlane_policy_map_writes_total{map="podlane_policy"}')" = 0 ] &&
	[ "$(metric 'podlane_policy_map_writes_total{map="podlane_ep_policy"}')" = 0 ]
ok $? "the restarted agent adopted the maps as they were: no rule set or endpoint written"
[ "$after" = "$before" ] || diag "$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after"))"

# ---- pods go -----------------------------------------------------------------------------
ifb=$(pod_field x/b .ifindex)
pod_del x b
ok $? "CNI DEL of x/b"
[ -z "$(pod_field x/b .name)" ] && [ "$(maps ep | jq --arg i "$ifb" 'has($i)')" = false ] &&
	[ -z "$(pod_record b)" ]
ok $? "x/b left policy: no pod, no podlane_ep_policy entry, no record"
ifc=$(pod_field y/c .ifindex)
agent_kill TERM
pl_del_host_veths "$(netns_name y-c)"
ip netns del "$(netns_name y-c)"
agent_start --metrics-addr "$POL_METRICS"
ok $? "podlaned restarts after y/c's netns went while it was down"
[ -z "$(pod_field y/c .name)" ] && [ "$(maps ep | jq --arg i "$ifc" 'has($i)')" = false ] &&
	[ "$(ctl namespace list -o json | jq -r '.namespaces[] | select(.name == "y") | .pods')" = 0 ]
ok $? "y/c is gone from policy and podlane_ep_policy; namespace y keeps its labels, no pods"
[ "$(set_entries "$(jq .ingress_set <<<"$(ep_of x/a)")")" = 0 ]
ok $? "x/a's rule set no longer allows y/c's identity"

# ---- policy del ---------------------------------------------------------------------------
out=$(ctl policy del x/allow-web 2>&1)
[ "$out" = "policy x/allow-web deleted (id 2)" ] && [ ! -e "$PL_STATE/policies/x.allow-web.json" ]
ok $? "policy del x/allow-web ($out)"
out=$(ctl policy del x/allow-web 2>&1)
[ $? = 1 ] && printf '%s' "$out" | grep -q "policy 'x/allow-web' not found"
ok $? "deleting it again: not found ($out)"
ctl policy del x/deny-all >/dev/null
[ "$(maps policy)" = "[]" ] && [ "$(jq .flags <<<"$(ep_of x/a)")" = 0 ] &&
	[ "$(metric podlane_policy_rule_sets)" = 0 ]
ok $? "no policy left: x/a not isolated, podlane_policy empty, no rule set"
diag "podlane_policy $(maps policy)" "x/a $(ep_of x/a)" \
	"rule sets $(metric podlane_policy_rule_sets)"
done_testing
