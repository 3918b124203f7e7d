# SPDX-License-Identifier: GPL-2.0-only
# selftests/agent/lib.sh - helpers for the podlaned tests on top of selftests/lib.sh:
# talk to the agent with api.py (so these tests need neither podlanectl nor podlane-cni) and
# add pods in test-owned namespaces.
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

AGENT_DIR=$PL_ROOT/selftests/agent
NET=agenttest

# api <json> [field]: one request to the test's agent; see api.py for output and exit status.
api() { python3 "$AGENT_DIR/api.py" "$PL_SOCK" "$@"; }

# Readiness without podlanectl: the agent answers a status request.
agent_ready() { api '{"op":"status"}' >/dev/null 2>&1; }

agent_requires() {
	require_root
	require_cmd python3 ip tc bpftool jq
	require_build podlaned
	[ -d /sys/fs/bpf ] || skip_all "bpffs is not mounted at /sys/fs/bpf"
}

# pod_add <name> [subnet] [extra json fields]: create netns <name>, ask the agent to wire
# eth0 in it. Prints the reply; exit status as api.
pod_add() {
	local ns subnet=${2:-10.250.0.0/24} extra=${3:-}
	ns=$(netns_name "$1")
	ip netns list | grep -qw "^$ns" || ip netns add "$ns" || return 2
	api "{\"op\":\"add\",\"container_id\":\"c-$1-$PL_ID\",\"netns\":\"/run/netns/$ns\",
	      \"ifname\":\"eth0\",\"network\":\"$NET\",\"subnet\":\"$subnet\"$extra}"
}

pod_del() {
	api "{\"op\":\"del\",\"container_id\":\"c-$1-$PL_ID\",\"ifname\":\"eth0\",
	      \"network\":\"$NET\",\"netns\":\"/run/netns/$(netns_name "$1")\"}"
}

# Field of a JSON text on stdin: jfield <jq filter>
jfield() { jq -r "$1"; }

# Number of pinned-map entries: map_len <map name>
map_len() { bpftool -j map dump pinned "$PL_PIN/$1" | jq length; }

# Map id of a pinned map: map_id <map name>
map_id() { bpftool -j map show pinned "$PL_PIN/$1" | jq -r .id; }

# Our tc filter program on a device: tc_prog <dev> ingress|egress  -> "name id" or nothing
tc_prog() {
	tc -j filter show dev "$1" "$2" 2>/dev/null |
		jq -r '.[] | select(.options.handle == "0x706c") |
		       "\(.options.prog.name) \(.options.prog.id)"'
}

# The agent's IPAM allocations in the test network, one address per line.
ipam_list() { ls "$PL_STATE/ipam/$NET" 2>/dev/null | grep -E '^[0-9]+(\.[0-9]+){3}$'; }

host_veth_exists() { ip link show dev "$1" >/dev/null 2>&1; }

# host_ifname <container id> <ifname>: the host veth name podlaned gives that attachment
# ("pl" and 12 hex digits of FNV-1a 64 over container id, NUL, ifname).
host_ifname() {
	python3 -c '
import sys
h = 0xcbf29ce484222325
for b in sys.argv[1].encode() + b"\0" + sys.argv[2].encode():
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print("pl%012x" % (h & 0xffffffffffff))' "$1" "$2"
}
