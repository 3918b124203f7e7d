# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/lib.sh - helpers for the service tests that run a real podlaned
# (selftests/lb/agent*.t): a cgroup v2 child the agent attaches the socket LB to (so nothing
# else on the machine is translated), clients started inside it, backend pods with servers.
# shellcheck source=../agent/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../agent/lib.sh"

SVC_TOOL=$PL_ROOT/selftests/lb/svc_tool.py
SVC_CG=""

svc_requires() {
	agent_requires
	require_build podlanectl
	[ -n "$(cg2_mount)" ] || skip_all "no cgroup v2 hierarchy mounted"
}

cg2_mount() { awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts; }

# svc_cgroup: create the test's cgroup (removed at cleanup, after its processes are killed).
svc_cgroup() {
	SVC_CG=$(cg2_mount)/podlane-svc-$PL_ID
	mkdir "$SVC_CG" || return 1
	on_cleanup svc_cgroup_remove
}
svc_cgroup_remove() {
	local i
	[ -d "$SVC_CG" ] || return 0
	[ -w "$SVC_CG/cgroup.kill" ] && echo 1 > "$SVC_CG/cgroup.kill"
	for i in $(seq 50); do
		rmdir "$SVC_CG" 2>/dev/null && return 0
		sleep 0.1
	done
}

# in_cg <netns> <command...>: run a command in the test cgroup inside a pod's netns.
# outside_setup <uplink> <node-ip> <out-ip>: the node's uplink, a veth whose other end is eth0
# of a namespace outside the node (OUT_NS), both in one /24. Returns nonzero on failure.
outside_setup() {
	OUT_NS=$(netns_add out) || return 1
	ip link add "$1" type veth peer name eth0 netns "$OUT_NS" || return 1
	on_cleanup "ip link del $1"
	ip addr add "$2/24" dev "$1" && ip link set "$1" up &&
		ip -n "$OUT_NS" addr add "$3/24" dev eth0 && ip -n "$OUT_NS" link set eth0 up
}

in_cg() {
	local ns=$1
	shift
	bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$SVC_CG" \
		ip netns exec "$ns" "$@"
}

# backend_start <pod> <name> [subnet]: wire the pod and run a TCP (8080) and UDP (5353) server
# in it; sets POD_IP. Not in $(...): the cleanup hook must reach this shell.
backend_start() {
	local ns pid
	POD_IP=$(pod_add "$1" "${3:-}" | jfield .ip) || return 1
	ns=$(netns_name "$1")
	ip netns exec "$ns" python3 "$SVC_TOOL" serve "$2" --tcp 8080 --udp 5353 --timeout 300 \
		>/dev/null 2>&1 &
	pid=$!
	on_cleanup "kill $pid"
	poll 10 backend_listening "$ns"
}
backend_listening() { ip netns exec "$1" ss -Hltn 'sport = :8080' | grep -q .; }

# svc_add <json>: add a service through podlanectl (the API path the operator uses).
svc_add() { printf '%s' "$1" | ctl service add --file - >/dev/null; }

# chi2_even <json counts> <k>: chi-square statistic of the counts against an even spread.
chi2_even() {
	python3 -c 'import json,sys
c=json.loads(sys.argv[1]); k=int(sys.argv[2]); n=sum(c.values()); e=n/k
v=[c.get(x,0) for x in c if not x.startswith("error")]
v+= [0]*(k-len(v))
print("%.2f" % sum((x-e)**2/e for x in v))' "$1" "$2"
}

# jcount <json> <key>: a count from a spread result (0 when absent).
jcount() { printf '%s' "$1" | jq -r --arg k "$2" '.[$k] // 0'; }
jerrors() { printf '%s' "$1" | jq -r '[to_entries[] | select(.key|startswith("error")) | .value] | add // 0'; }
jkeys() { printf '%s' "$1" | jq -r '[keys[] | select(startswith("error")|not)] | length'; }

# hold_start <netns> <host> <port> <dir> [in_cg|plain]: keep one connection open.
hold_start() {
	local pid
	mkdir -p "$4"
	if [ "${5:-in_cg}" = in_cg ]; then
		in_cg "$1" python3 "$SVC_TOOL" hold "$2" "$3" "$4" --timeout 240 >/dev/null 2>&1 &
	else
		ip netns exec "$1" python3 "$SVC_TOOL" hold "$2" "$3" "$4" --timeout 240 \
			>/dev/null 2>&1 &
	fi
	pid=$!
	on_cleanup "touch $4/stop; kill $pid"
	poll 10 test -s "$4/backend"
}
# hold_ping <dir>: one round trip over the held connection; 0 when it worked.
hold_ping() {
	local k=$(( $(ls "$1" | grep -c '^go\.') + 1 ))
	touch "$1/go.$k"
	poll 10 hold_answered "$1" "$k" && [ -e "$1/ok.$k" ]
}
hold_answered() { [ -e "$1/ok.$2" ] || [ -e "$1/fail.$2" ]; }
