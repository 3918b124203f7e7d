#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/acct/agent.t - podlaned's per-pod accounting end to end, on an isolated agent:
# the endpoint -> cgroup tie (found through the processes of the pod's netns), pod CPU against
# the cgroup's own cpu.stat, pod bytes against the pod interface's counters, Prometheus
# metrics through promtool, hints refreshed every second, link adoption on restart, and the
# --no-accounting fallback.
#
# A "pod" here is a netns wired by the agent plus a cgroup v2 child of our own, with a busy
# process that lives in both (nsenter --net keeps the host's /sys, where the cgroup is).
# Byte convention: the cgroup_skb programs count IP bytes (skb->len at the socket hooks), a
# veth counts the Ethernet frame, so device bytes = cgroup bytes + 14 * packets.
# Datagrams stay under the MTU: a fragmented one counts once here and per fragment on eth0.
# shellcheck source=../agent/lib.sh
. "$(dirname "$0")/../agent/lib.sh"

agent_requires
require_build podlanectl
require_cmd promtool curl nsenter
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cg2" ] || skip_all "no cgroup v2 hierarchy mounted"

pl_setup

CG=$cg2/podlane-agent-$PL_ID
BUSY=""
cg_cleanup() {
	[ -n "$BUSY" ] && kill -CONT "$BUSY" 2>/dev/null && kill "$BUSY" 2>/dev/null
	[ -d "$CG" ] || return 0
	[ -w "$CG/cgroup.kill" ] && echo 1 > "$CG/cgroup.kill"
	local _
	for _ in $(seq 50); do
		rmdir "$CG" 2>/dev/null && return 0
		sleep 0.1
	done
}
on_cleanup cg_cleanup
mkdir "$CG" || { echo "Bail out! cannot create cgroup $CG"; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if ! agent_start --metrics-addr "127.0.0.1:$port"; then
	echo "Bail out! podlaned did not start"
	exit 1
fi

# Pods without IPv6, so that nothing but our traffic leaves the pod interface.
pod_up() {
	local ns
	ns=$(netns_name "$1")
	ip netns add "$ns" || return 1
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 || return 1
	pod_add "$1" 10.252.0.0/24 | jq -r .ip
}
ip1=$(pod_up p1)
ip2=$(pod_up p2)
ns1=$(netns_name p1)
cid1=c-p1-$PL_ID
[ -n "$ip1" ] && [ -n "$ip2" ] || { echo "Bail out! pods not wired"; exit 1; }

# The pod's process: enters the cgroup first, then spins.
nsenter --net=/run/netns/"$ns1" sh -c "echo \$\$ > $CG/cgroup.procs && exec sh -c 'while :; do :; done'" &
BUSY=$!

# 1-3: status and the tie -------------------------------------------------------------------
status=$(api '{"op":"status"}')
src=$(jq -r .accounting.source <<< "$status")
ok $([ "$(jq -r .accounting.enabled <<< "$status")" = true ] &&
     { [ "$src" = cgroupfs ] || [ "$src" = module ]; } && echo 0 || echo 1) \
	"status: accounting programs attached, kernel figures from '$src'"
diag "accounting: $(jq -c .accounting <<< "$status")"

cgid=$(stat -c %i "$CG")
tie_ok() {
	api '{"op":"endpoint_list"}' | jq -e --arg c "$cid1" --arg p "/${CG#"$cg2"/}" \
		--argjson id "$cgid" \
		'.endpoints[] | select(.container_id == $c) | .cgroup == $p and .cgroup_id == $id' \
		> /dev/null
}
poll 10 tie_ok
ok $? "endpoint_list ties $cid1 to cgroup /${CG#"$cg2"/} (id $cgid)"
ctl endpoint list | grep -F "$cid1" | grep -qF "/${CG#"$cg2"/} (id $cgid)"
ok $? "podlanectl endpoint list shows the cgroup path and id"

# 4: CPU against cpu.stat over a 5 s busy loop ----------------------------------------------
# Stopping the process for each reading pair makes both sides count the same instants.
pod_cpu_ns() { ctl top --once --json | jq -r --arg c "$cid1" '.pods[] | select(.container_id == $c) | .cpu_ns'; }
cg_usage_us() { awk '$1 == "usage_usec" { print $2 }' "$CG/cpu.stat"; }
kill -STOP "$BUSY"
u0=$(cg_usage_us); c0=$(pod_cpu_ns)
kill -CONT "$BUSY"
sleep 5	# the measurement window itself
kill -STOP "$BUSY"
u1=$(cg_usage_us); c1=$(pod_cpu_ns)
kill -CONT "$BUSY"
verdict=$(python3 -c "
du = ($u1 - $u0) * 1000; dc = $c1 - $c0
print('%d %.3f %.3f %.2f' % (du > 2.5e9 and abs(dc - du) <= 0.02 * du, dc / 1e9, du / 1e9, 100 * (dc - du) / du))")
read -r good dc du pct <<< "$verdict"
ok $([ "$good" = 1 ] && echo 0 || echo 1) \
	"pod CPU over 5 s: podlaned ${dc}s, cpu.stat ${du}s (${pct}%, within 2%)"

# 5-6: traffic against the pod interface ----------------------------------------------------
dev() { ip netns exec "$ns1" cat "/sys/class/net/eth0/statistics/$1"; }
pod_field() { ctl top --once --json | jq -r --arg c "$cid1" --arg f "$1" '.pods[] | select(.container_id == $c) | .[$f]'; }
dp0=$(dev tx_packets); db0=$(dev tx_bytes); cp0=$(pod_field tx_packets); cb0=$(pod_field tx_bytes)
nsenter --net=/run/netns/"$ns1" sh -c "echo \$\$ > $CG/cgroup.procs && exec python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(200):
    s.sendto(b\"x\" * (100 + 6 * i), (\"$ip2\", 9))
'"
ok $? "sent 200 UDP datagrams from the pod's cgroup to the other pod"
dp1=$(dev tx_packets); db1=$(dev tx_bytes); cp1=$(pod_field tx_packets); cb1=$(pod_field tx_bytes)
dp=$((dp1 - dp0)); db=$((db1 - db0)); cp=$((cp1 - cp0)); cb=$((cb1 - cb0))
ok $([ "$dp" -eq "$cp" ] && [ "$cp" -ge 200 ] && [ "$db" -eq $((cb + 14 * cp)) ] && echo 0 || echo 1) \
	"pod tx: cgroup $cp packets/$cb IP bytes, eth0 $dp packets/$db bytes (= IP + 14 x packets)"

# 7-11: metrics -----------------------------------------------------------------------------
metrics=$PL_TMP/metrics.txt
curl -sf "http://127.0.0.1:$port/metrics" > "$metrics"
ok $? "GET /metrics answers"
out=$(promtool check metrics < "$metrics" 2>&1)
ok $? "promtool check metrics passes"
[ -z "$out" ] || diag "$out"
missing=""
for f in podlane_endpoint_rx_packets_total podlane_endpoint_tx_bytes_total \
	 podlane_endpoint_drops_total podlane_drops_total podlane_pod_cpu_seconds_total \
	 podlane_pod_runq_wait_seconds_total podlane_pod_memory_bytes podlane_pod_rx_bytes_total \
	 podlane_pod_tx_bytes_total podlane_node_pressure podlane_hint_score podlane_agent_up \
	 podlane_agent_endpoints podlane_map_entries; do
	grep -q "^# TYPE $f " "$metrics" || missing="$missing $f"
done
ok $([ -z "$missing" ] && echo 0 || echo 1) "every metric family is there${missing:+ (missing:$missing)}"
grep -q "^podlane_pod_cpu_seconds_total{container_id=\"$cid1\".*cgroup=\"/${CG#"$cg2"/}\"} [0-9]" "$metrics" &&
	grep -q '^podlane_hint_score{scope="node"} [0-9]' "$metrics" &&
	grep -q '^podlane_agent_up 1$' "$metrics"
ok $? "per-pod CPU, node hint and agent health have samples"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")
ok $([ "$code" = 404 ] && echo 0 || echo 1) "other paths answer 404 ($code)"

# 12-13: hints ------------------------------------------------------------------------------
h1=$(ctl hints --json); t1=$(date +%s%N)
sleep 3	# count the refreshes in a 3 s window
h2=$(ctl hints --json); t2=$(date +%s%N)
s1=$(jq .seq <<< "$h1"); s2=$(jq .seq <<< "$h2")
age_ms=$(( (t2 - $(jq .updated_ns <<< "$h2")) / 1000000 ))
ok $([ $((s2 - s1)) -ge 2 ] && [ "$age_ms" -le 1500 ] && echo 0 || echo 1) \
	"hints refresh every second ($((s2 - s1)) refreshes in $(( (t2 - t1) / 1000000 )) ms, last ${age_ms} ms ago)"
pcpu=$(jq -r --arg c "$cid1" '.pods[] | select(.container_id == $c) | .cpu' <<< "$h2")
ok $(jq -e --arg c "$cid1" '.node.score >= 0 and .node.score <= 100 and
	(.pods[] | select(.container_id == $c) | .cpu > 20 and .score >= .cpu)' <<< "$h2" \
	> /dev/null && echo 0 || echo 1) "busy pod's hint shows its CPU (cpu part $pcpu)"

# 14-15: top --------------------------------------------------------------------------------
first=$(ctl top --once --json --sort cpu | jq -r '.pods[0].container_id')
ok $([ "$first" = "$cid1" ] && echo 0 || echo 1) "top --sort cpu puts the busy pod first ($first)"
n=$(timeout 10 "$PL_BUILD/podlanectl" --socket "$PL_SOCK" top --iterations 2 --interval 0.2 \
	--sort runq | grep -c '^podlane top')
ok $([ "$n" = 2 ] && echo 0 || echo 1) "top --iterations 2 draws twice and exits ($n)"

# 16-17: restart adopts the pinned links -----------------------------------------------------
link_id() { bpftool link show pinned "$PL_PIN/links/acct_skb_ingress" 2>/dev/null | awk -F: 'NR == 1 { print $1 }'; }
id0=$(link_id)
agent_kill TERM
agent_start --metrics-addr "127.0.0.1:$port"
id1=$(link_id)
ok $([ -n "$id0" ] && [ "$id0" = "$id1" ] &&
     [ "$(api '{"op":"status"}' | jq -r .accounting.skb_links)" = adopted ] && echo 0 || echo 1) \
	"restart adopts the pinned cgroup_skb link (id $id0 -> $id1)"
poll 10 tie_ok
ok $? "the tie is found again after the restart"

# 18: --no-accounting falls back to cpu.stat ------------------------------------------------
agent_kill TERM
agent_start --no-accounting
nocpu() { ctl top --once --json | jq -e --arg c "$cid1" '.bpf == false and (.pods[] | select(.container_id == $c) | .cpu_ns > 0)'; }
poll 10 nocpu
rc=$?
ok $([ $rc -eq 0 ] && [ ! -e "$PL_PIN/links/acct_skb_ingress" ] && echo 0 || echo 1) \
	"--no-accounting: links removed, pod CPU from cpu.stat"
done_testing
