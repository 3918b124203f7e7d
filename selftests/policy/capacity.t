#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/capacity.t - podlane_policy's room, with a tiny --max-policy-entries: a
# policy whose rule sets do not fit is refused with what it needs and what is free, counted,
# and nothing changes; one that fits is applied; a pod wired while its rules cannot be written
# still comes up isolated, denying everything (degraded), never open; deleting what holds the
# room lets it in.
. "$(dirname "$0")/agentlib.sh"

pol_requires
require_cmd curl
pl_setup
POL_METRICS=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
agent_start --max-policy-entries 8 --metrics-addr "$POL_METRICS"
ok $? "podlaned starts with --max-policy-entries 8"
[ "$(ctl policy list -o json | jq .capacity.max_entries)" = 8 ] &&
	[ "$(bpftool -j map show pinned "$PL_PIN/podlane_policy" | jq .max_entries)" = 8 ]
ok $? "podlane_policy has 8 entries"

pod_add x a pod=a && pod_add y b pod=b && pod_add y c pod=c
ok $? "pods x/a, y/b, y/c"

# From every pod (3 identities) to ports 1-65534 of x/a: 3 x 30 prefixes, far past 8.
policy() {	# policy <name> <selected pod label> <port> [endPort]
	cat <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: $1, namespace: x}
spec:
  podSelector:
    matchLabels: {pod: $2}
  ingress:
  - from:
    - namespaceSelector: {}
    ports:
    - port: $3
${4:+      endPort: $4}
EOF
}
before=$(pol_snapshot)
out=$(policy big a 1 65534 | ctl policy add -f - 2>&1)
rc=$?
diag "$out"
[ $rc = 1 ] && printf '%s' "$out" |
	grep -Eq "policy x/big needs [0-9]+ entries, 8 free of 8; raise --max-policy-entries"
ok $? "a policy that does not fit is refused: what it needs, what is free, what to do"
[ "$(pol_snapshot)" = "$before" ] && [ "$(ctl policy list -o json | jq .total)" = 0 ] &&
	[ ! -e "$PL_STATE/policies/x.big.json" ] && [ -z "$(ls "$PL_STATE/policies/")" ]
ok $? "... and nothing changed: maps, policies, state files"
[ "$(ctl policy list -o json | jq .capacity.refused)" = 1 ] &&
	[ "$(metric podlane_policy_refused_total)" = 1 ]
ok $? "the refusal is counted (policy list, podlane_policy_refused_total)"

out=$(policy small a 80 | ctl policy add -f - 2>&1)
ok $? "a policy that fits is applied ($out)"
set_a=$(jq .ingress_set <<<"$(ep_of x/a)")
[ "$(set_entries "$set_a")" = 3 ] && [ "$(metric podlane_policy_map_entries)" = 3 ]
ok $? "x/a's set: TCP 80 from the 3 pods, 3 of 8 entries used"

# Isolates a pod that does not exist yet: nothing to write.
out=$(policy later d 1 65534 | ctl policy add -f - 2>&1)
ok $? "a policy selecting no pod yet needs no room ($out)"

# x/d's set would need 4 identities x 30 prefixes: it is wired all the same, denying all.
pod_add x d pod=d
ok $? "pod x/d is wired although its rules do not fit ($(tail -n 1 "$PL_TMP/cni.err"))"
ed=$(ep_of x/d)
diag "ep_policy x/d $ed"
[ "$(jq .flags <<<"$ed")" = 1 ] && [ "$(jq .ingress_set <<<"$ed")" -gt 0 ] &&
	[ "$(set_entries "$(jq .ingress_set <<<"$ed")")" = 0 ] &&
	[ "$(jq .ingress_policy <<<"$ed")" = 2 ]
ok $? "x/d is isolated for ingress by x/later with an empty rule set: denies all, never open"
[ "$(pod_field x/d .degraded)" = true ] && [ "$(pod_field x/d .isolation)" = ingress ] &&
	[ "$(metric podlane_policy_degraded_directions)" = 1 ] &&
	[ "$(ctl policy list -o json | jq .capacity.degraded)" = 1 ]
ok $? "pod list, policy list and metrics say x/d is degraded"
[ "$(set_entries "$(jq .ingress_set <<<"$(ep_of x/a)")")" = 4 ]
ok $? "x/a's set, which fits, now also allows x/d"

# Room for x/d only once the others' entries go: still 4 x 30 > 8, so it stays degraded.
ctl policy del x/small >/dev/null
ok $? "policy del x/small"
[ "$(jq .flags <<<"$(ep_of x/a)")" = 0 ] && [ "$(pod_field x/d .degraded)" = true ] &&
	[ "$(metric podlane_policy_map_entries)" = 0 ]
ok $? "x/a is no longer isolated; x/d still denies all (its set would not fit 8)"

# A label change that needs room is refused like a policy.
before=$(pol_snapshot)
out=$(ctl pod label x/a pod=d 2>&1)
rc=$?
[ $rc = 1 ] && printf '%s' "$out" | grep -q "pod x/a's labels needs [0-9]* entries" &&
	[ "$(pol_snapshot)" = "$before" ] && [ "$(pod_field x/a '.labels[0].value')" = a ]
ok $? "a label change that does not fit is refused, nothing changed ($out)"
ctl policy del x/later >/dev/null
[ "$(pod_field x/d .degraded)" = false ] && [ "$(jq .flags <<<"$(ep_of x/d)")" = 0 ]
ok $? "x/later deleted: x/d is no longer isolated nor degraded"
done_testing
