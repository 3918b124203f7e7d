#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/cni.t - the pod network policy knows, from podlane-cni as a CRI runtime
# calls it: K8S_POD_NAMESPACE and K8S_POD_NAME from CNI_ARGS, labels from args.cni.labels;
# bad ones fail ADD with what is wrong and create nothing (no veth, no address, no pod); a pod
# without Kubernetes names is wired but selected by no policy; DEL forgets the pod; a policy
# in place isolates a new pod before ADD returns; pods come back after a restart.
. "$(dirname "$0")/agentlib.sh"

pol_requires
pl_setup
agent_start
ok $? "podlaned starts"

cat > "$PL_TMP/deny.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec:
  podSelector:
    matchLabels: {app: web}
  policyTypes: [Ingress, Egress]
EOF
ctl policy add -f "$PL_TMP/deny.yaml" >/dev/null
ok $? "policy shop/deny (ingress and egress) for app=web, before any pod"

pod_add shop web-1 app=web tier=front
ok $? "ADD shop/web-1 with labels app=web tier=front ($(tail -n 1 "$PL_TMP/cni.err"))"
[ "$(pod_field shop/web-1 '.labels | map(.key + "=" + .value) | join(",")')" = \
	"app=web,tier=front" ] && [ "$(pod_field shop/web-1 .local)" = true ] &&
	[ "$(pod_field shop/web-1 .ip)" = "$(jq -r '.ips[0].address' "$PL_TMP/cni.out" |
		cut -d/ -f1)" ]
ok $? "pod list: shop/web-1 with its labels and the address ADD gave it"
e=$(ep_of shop/web-1)
[ "$(jq .flags <<<"$e")" = 3 ] && [ "$(jq .ingress_policy <<<"$e")" = 1 ] &&
	[ "$(set_entries "$(jq .ingress_set <<<"$e")")" = 0 ]
ok $? "isolated both ways by shop/deny when ADD returned: podlane_ep_policy $e"
rec=$(pod_record web-1)
[ -n "$rec" ] && jq -e '.namespace == "shop" and .labels == {"app": "web", "tier": "front"}' \
	"$rec" >/dev/null
ok $? "the pod's record in <state-dir>/pods/ keeps its names and labels"

# ---- refused: nothing created -------------------------------------------------------------
nothing_new() {	# nothing_new <pod name>: no interface in its netns but lo, no address, no pod
	! ip -n "$(netns_name "shop-$1")" -o link show 2>/dev/null | grep -qv ': lo:' &&
		[ "$(ls "$PL_STATE/ipam/$NET" | grep -c '^[0-9]')" = "$addrs" ] &&
		[ "$(ctl pod list -o json | jq .total)" = "$pods" ]
}
addrs=$(ls "$PL_STATE/ipam/$NET" | grep -c '^[0-9]')
pods=$(ctl pod list -o json | jq .total)
refused() {	# refused <code> <text> <description> <name> [labels...]
	local code=$1 text=$2 desc=$3 name=$4 got
	shift 4
	pod_add shop "$name" "$@"
	got=$(jq -r '"\(.code) \(.msg)"' "$PL_TMP/cni.out" 2>/dev/null)
	case $got in
	"$code "*"$text"*) nothing_new "$name" ;;
	*) false ;;
	esac
	ok $? "$desc: CNI error $got"
}
refused 7 "args.cni.labels[0].key 'bad key':" "a label key with a space" bad1 'bad key=v'
refused 7 "args.cni.labels[1].value" "a label value of 64 characters" bad2 a=b \
	"long=$(printf 'v%.0s' $(seq 64))"
refused 7 "args.cni.labels[0].key '-app':" "a label key starting with '-'" bad3 '-app=x'
pol_conf "$PL_TMP/dup.json" app=a app=b
pol_cni ADD shop dup "$PL_TMP/dup.json"
got=$(jq -r '"\(.code) \(.msg)"' "$PL_TMP/cni.out")
case $got in 7*"given twice"*) nothing_new dup ;; *) false ;; esac
ok $? "a label key given twice: CNI error $got"
ip netns add "$(netns_name shop-args)"
pol_conf "$PL_TMP/args.json" app=web
pol_cni ADD shop args "$PL_TMP/args.json" "K8S_POD_NAMESPACE=shop"
got=$(jq -r '"\(.code) \(.msg)"' "$PL_TMP/cni.out")
case $got in
4*"CNI_ARGS has K8S_POD_NAMESPACE but not K8S_POD_NAME"*) nothing_new args ;;
*) false ;;
esac
ok $? "K8S_POD_NAMESPACE without K8S_POD_NAME: CNI error $got"
pol_cni ADD shop args "$PL_TMP/args.json" "IgnoreUnknown=1;K8S_POD_NAME=args"
ok $? "K8S_POD_NAME alone (podman's container name): wired"
[ "$(ctl pod list -o json | jq .total)" = "$pods" ]
ok $? "... and no Kubernetes pod, so no policy selects it"
pol_cni DEL shop args "$PL_TMP/args.json" "IgnoreUnknown=1;K8S_POD_NAME=args"
ok $? "... DEL"
pol_cni ADD shop args "$PL_TMP/args.json" "K8S_POD_NAMESPACE=Shop;K8S_POD_NAME=args"
got=$(jq -r '"\(.code) \(.msg)"' "$PL_TMP/cni.out")
case $got in 4*"K8S_POD_NAMESPACE 'Shop'"*) nothing_new args ;; *) false ;; esac
ok $? "a namespace that is no DNS label: CNI error $got"

# ---- without Kubernetes names: wired, selected by nothing ---------------------------------
pol_cni ADD shop args "$PL_TMP/args.json" ""
ok $? "ADD without CNI_ARGS: wired ($(tail -n 1 "$PL_TMP/cni.err"))"
[ "$(ctl pod list -o json | jq .total)" = "$pods" ]
ok $? "... and unknown to network policy (no pod, so no policy selects it)"
pol_cni DEL shop args "$PL_TMP/args.json" ""

# ---- another pod, DEL, restart -------------------------------------------------------------
pod_add shop db-1 app=db
ok $? "ADD shop/db-1 (app=db)"
[ "$(jq .flags <<<"$(ep_of shop/db-1)")" = 0 ] &&
	[ "$(pod_field shop/db-1 .identity)" != "$(pod_field shop/web-1 .identity)" ]
ok $? "shop/db-1: another identity, not isolated"
before=$(ctl pod list -o json | jq -c '.pods | sort_by(.name)')
agent_kill TERM
agent_start
ok $? "podlaned restarts"
after=$(ctl pod list -o json | jq -c '.pods | sort_by(.name)')
[ "$after" = "$before" ]
ok $? "both pods restored from their records: names, labels, identities, isolation"
[ "$after" = "$before" ] || diag "before: $before" "after: $after"
ifw=$(pod_field shop/web-1 .ifindex)
pod_del shop web-1
ok $? "DEL shop/web-1"
[ -z "$(pod_field shop/web-1 .name)" ] && [ "$(maps ep | jq --arg i "$ifw" 'has($i)')" = false ] &&
	[ -z "$(pod_record web-1)" ] &&
	[ "$(ctl policy list -o json | jq '.policies[0].pods')" = 0 ]
ok $? "DEL forgot the pod: no pod, no podlane_ep_policy entry, no record, policy selects none"
done_testing
