#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/traffic.t - what podlaned's policy module writes, enforced by the datapath:
# TCP between pods in their own namespaces on one node, before a policy, under it (a namespace
# selector and a port), after a namespace label change, after the policy is gone; this node
# reaches an isolated pod all the same. The full matrix of upstream cases is truth.t's.
. "$(dirname "$0")/agentlib.sh"

pol_requires
pl_setup
agent_start || { ok 1 "podlaned starts"; done_testing; }
# Enforcement is the datapath's: its tc_from_pod must use the policy maps podlaned writes.
prog=$(ctl --json status | jq -r '.programs[] | select(.name == "tc_from_pod") | .id')
ep_map=$(bpftool -j map show pinned "$PL_PIN/podlane_ep_policy" | jq -r .id)
bpftool -j prog show id "$prog" | jq -e --argjson m "$ep_map" '.map_ids | index($m) != null' \
	>/dev/null || skip_all "the datapath enforces no network policy (tc_from_pod uses no podlane_ep_policy)"
ok 0 "podlaned starts; tc_from_pod uses podlane_ep_policy"

pod_add x a app=web && pod_add x b app=client && pod_add y c app=client
ok $? "pods x/a (app=web), x/b, y/c wired by podlane-cni"
ip_a=$(pod_field x/a .ip)

# A TCP server in x/a on ports 80 and 81 answering "ok", for this test's lifetime.
ip netns exec "$(netns_name x-a)" python3 - 80 81 <<'EOF' &
import select, socket, sys
socks = []
for p in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(p)))
    s.listen(64)
    socks.append(s)
while True:
    for s in select.select(socks, [], [])[0]:
        c, _ = s.accept()
        c.sendall(b"ok")
        c.close()
EOF
SERVER=$!
on_cleanup "kill $SERVER"

# reach <from netns or "host"> <port>: 0 when a TCP connection to x/a:port gets "ok" in 2 s.
reach() {
	local run=()
	[ "$1" = host ] || run=(ip netns exec "$(netns_name "$1")")
	"${run[@]}" python3 - "$ip_a" "$2" 2>/dev/null <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
s.settimeout(2)
sys.exit(0 if s.recv(2) == b"ok" else 1)
EOF
}
poll 5 reach x-b 80
ok $? "before any policy: x/b reaches x/a:80"
reach y-c 81
ok $? "before any policy: y/c reaches x/a:81"

ctl namespace label y team=blue >/dev/null
cat > "$PL_TMP/allow.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-blue, namespace: x}
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {team: blue}
    ports:
    - port: 80
EOF
ctl policy add -f "$PL_TMP/allow.yaml" >/dev/null
ok $? "policy x/allow-blue: to app=web, TCP 80 from namespaces team=blue"
reach y-c 80
ok $? "y/c (team=blue) reaches x/a:80"
! reach y-c 81
ok $? "y/c does not reach x/a:81 (no rule for it)"
! reach x-b 80
ok $? "x/b (namespace x not team=blue) does not reach x/a:80"
reach host 81
ok $? "this node reaches the isolated x/a on any port"

ctl namespace label x team=blue >/dev/null
poll 5 reach x-b 80
ok $? "namespace x labelled team=blue: x/b reaches x/a:80"
ctl namespace label x team- >/dev/null
! reach x-b 80
ok $? "the label removed: x/b is blocked again"

ctl policy del x/allow-blue >/dev/null
poll 5 reach x-b 81
ok $? "policy deleted: x/b reaches x/a:81 again"
done_testing
