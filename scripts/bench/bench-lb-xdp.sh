#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-lb-xdp.sh - NodePort traffic from outside the node to a local pod, with the
# XDP NodePort fast path off (tc_from_uplink translates and redirects every packet) and on
# (xdp_from_uplink translates packets of tracked flows and redirects them to the pod's veth),
# side by side in one run: 1-byte TCP request/response (qperf tcp_lat -m 1) and one TCP stream
# from the client (iperf3), both through NodePorts.
#
# Topology: a real podlaned (isolated pin root, state and socket; socket LB on a private
# cgroup), its uplink a veth into an "outside" namespace where the clients run, a backend pod
# with the servers. The client's interface sends complete checksums (transmit checksum offload
# off, set for both modes): a veth uplink otherwise hands XDP partial checksums, which is why
# `--xdp-nodeport auto` keeps the fast path off on a veth. The mode changes by restarting the
# agent with --xdp-nodeport off|on (the pinned XDP link is updated in place); modes alternate
# run by run and each cell is the median of RUNS. Client and server pinned to one CPU.
#
# Usage: sudo scripts/bench/bench-lb-xdp.sh [-r RUNS] [-t SECONDS] [-c CPU]
# Prints a markdown table on stdout; progress goes to stderr.
set -u

RUNS=5
SECS=5
CPU=1
while getopts "r:t:c:h" opt; do
	case $opt in
	r) RUNS=$OPTARG ;;
	t) SECS=$OPTARG ;;
	c) CPU=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

# shellcheck source=../../selftests/lb/lib.sh
. "$(dirname "$0")/../../selftests/lb/lib.sh"

die() { echo "bench-lb-xdp: $*" >&2; exit 1; }
log() { echo "bench-lb-xdp: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root"
for c in qperf iperf3 jq taskset ip python3; do
	command -v "$c" >/dev/null || die "needs $c (scripts/install-deps.sh installs it)"
done
for b in podlaned podlanectl; do
	[ -x "$PL_BUILD/$b" ] || die "$PL_BUILD/$b is not built (run make)"
done
[ -n "$(cg2_mount)" ] || die "no cgroup v2 hierarchy mounted"
[ "$CPU" -lt "$(nproc)" ] || CPU=0

pl_setup
X=$((PL_ID % 250 + 1))
NODE_IP=198.19.$X.1
OUT_IP=198.19.$X.2
UPLINK=plxb$PL_ID
QP_CTL=30765		# qperf control port, NodePort and pod port alike
QP_DATA=30766		# qperf -ip: the port the tests themselves use
IP3=30201		# iperf3

svc_cgroup || die "cannot create a cgroup under $(cg2_mount)"
outside_setup "$UPLINK" "$NODE_IP" "$OUT_IP" || die "cannot create the uplink veth"
ip netns exec "$OUT_NS" python3 "$SVC_TOOL" ethtool eth0 off >/dev/null ||
	die "cannot turn transmit checksum offload off in the outside namespace"

start_agent() {	# start_agent off|on
	agent_kill TERM
	agent_start --cgroup "$SVC_CG" --uplink "$UPLINK" --xdp-nodeport "$1" ||
		die "podlaned did not start with --xdp-nodeport $1"
	[ "$(ctl --json status | jq -r '.programs[] | select(.name == "xdp_from_uplink") |
		.nodeport_fastpath')" = "$([ "$1" = on ] && echo true || echo false)" ] ||
		die "podlaned does not report the fast path $1"
}

log "starting podlaned and the backend pod"
start_agent off
POD_IP=$(pod_add srv 10.253.$X.0/24 | jfield .ip) || die "failed to wire the backend pod"
SRV_NS=$(netns_name srv)
taskset -c "$CPU" ip netns exec "$SRV_NS" qperf -lp "$QP_CTL" >/dev/null 2>&1 &
on_cleanup "kill $!"
taskset -c "$CPU" ip netns exec "$SRV_NS" iperf3 -s -p "$IP3" >/dev/null 2>&1 &
on_cleanup "kill $!"
poll 10 ip netns exec "$SRV_NS" sh -c "ss -Htln | grep -q ':$QP_CTL ' && ss -Htln | grep -q ':$IP3 '" ||
	die "servers did not start"
port() { echo "{\"name\":\"$1\",\"port\":$2,\"targetPort\":$2,\"nodePort\":$2}"; }
printf '%s' "{\"name\":\"benchxdp\",\"clusterIP\":\"10.97.$X.20\",
	\"ports\":[$(port qpc $QP_CTL),$(port qpd $QP_DATA),$(port ip3 $IP3)],
	\"backends\":[{\"ip\":\"$POD_IP\"}]}" | ctl service add --file - >/dev/null ||
	die "failed to add the NodePort service"

xdp_fast() { ctl --json service list | jq -r '.lbstat.xdp_fast // 0'; }

# qperf prints "latency  =  6.21 us" (or ns/ms): half a round trip. Echo transactions/s.
measure_rr() {
	taskset -c "$CPU" ip netns exec "$OUT_NS" \
		qperf -lp "$QP_CTL" -ip "$QP_DATA" -t "$SECS" -m 1 "$NODE_IP" tcp_lat 2>/dev/null |
		awk '/latency/ { v = $3; u = $4
			if (u == "ns") v /= 1000; else if (u == "ms") v *= 1000; else if (u == "sec") v *= 1e6
			if (v > 0) printf "%.0f\n", 1e6 / (2 * v) }'
}
measure_stream() {	# Gbit/s received by the pod
	taskset -c "$CPU" ip netns exec "$OUT_NS" \
		iperf3 -c "$NODE_IP" -p "$IP3" -t "$SECS" -J 2>/dev/null |
		jq -r '.end.sum_received.bits_per_second / 1e9 | . * 1000 | round / 1000' 2>/dev/null
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit
	if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) print lo "-" hi }'; }

declare -A RR TP FAST
for r in $(seq 1 "$RUNS"); do
	for m in off on; do
		log "run $r/$RUNS: fast path $m"
		start_agent "$m"
		f0=$(xdp_fast)
		v=$(measure_rr); [ -n "$v" ] && RR[$m]+="$v "
		v=$(measure_stream); [ -n "$v" ] && TP[$m]+="$v "
		FAST[$m]=$(( ${FAST[$m]:-0} + $(xdp_fast) - f0 ))
	done
done
agent_kill TERM

echo "| NodePort, outside -> local pod | TCP RR 1 B (trans/s) | RR range | TCP stream (Gbit/s) | stream range | packets via XDP fast path |"
echo "|---|---:|---:|---:|---:|---:|"
for m in off on; do
	printf '| fast path %s | %s | %s | %s | %s | %s |\n' "$m" \
		"$(printf '%s\n' ${RR[$m]:-} | median)" "$(printf '%s\n' ${RR[$m]:-} | minmax)" \
		"$(printf '%s\n' ${TP[$m]:-} | median)" "$(printf '%s\n' ${TP[$m]:-} | minmax)" \
		"${FAST[$m]}"
done
echo
echo "Medians of $RUNS runs of $SECS s per mode, modes alternating; client and server pinned to" \
     "CPU $CPU; $(nproc) vCPUs, kernel $(uname -r). RR: qperf tcp_lat -m 1; stream: iperf3, 1 flow," \
     "client to pod. Uplink: veth, client transmit checksum offload off."
for m in off on; do
	[ -n "${RR[$m]:-}" ] && [ -n "${TP[$m]:-}" ] || exit 1
done
exit 0
