#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-datapath.sh - pod-to-pod datapath cost, three topologies side by side in
# one run so machine drift hits them alike:
#   veth     two namespaces joined by one veth pair: the limit, no forwarding at all
#   podlane  two pods wired by podlaned through podlane-cni (tc fast path, bpf_redirect_peer)
#   bridge   two pods wired by the reference bridge plugin + host-local IPAM (/usr/lib/cni)
# Measures a 1-byte TCP request/response rate (qperf tcp_lat, msg_size 1: transactions/s =
# 1 / round trip) and single-stream TCP throughput (iperf3). Client and server are pinned to the
# same CPU (taskset -c 1): on this 2-vCPU VM that is what makes runs repeatable (see
# shared/notes/platform.md). Each topology runs RUNS times, interleaved; medians are reported.
#
# Usage: sudo scripts/bench/bench-datapath.sh [-r RUNS] [-t SECONDS] [-T veth,podlane,bridge]
# Prints a markdown table on stdout; progress goes to stderr.
set -u

RUNS=5
SECS=5
TOPOS="veth,podlane,bridge"
CPU=1
while getopts "r:t:T:c:h" opt; do
	case $opt in
	r) RUNS=$OPTARG ;;
	t) SECS=$OPTARG ;;
	T) TOPOS=$OPTARG ;;
	c) CPU=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

# shellcheck source=../../selftests/lib.sh
. "$(dirname "$0")/../../selftests/lib.sh"

die() { echo "bench-datapath: $*" >&2; exit 1; }
log() { echo "bench-datapath: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root"
for c in qperf iperf3 jq taskset ip; do
	command -v "$c" >/dev/null || die "needs $c (scripts/install-deps.sh installs it)"
done
case ",$TOPOS," in
*,podlane,*)
	for b in podlaned podlane-cni podlanectl; do
		[ -x "$PL_BUILD/$b" ] || die "$PL_BUILD/$b is not built (run make)"
	done ;;
esac
case ",$TOPOS," in
*,bridge,*) [ -x /usr/lib/cni/bridge ] || die "needs /usr/lib/cni/bridge (containernetworking-plugins)" ;;
esac

pl_setup
SERVER_PIDS=()
on_cleanup 'for p in "${SERVER_PIDS[@]}"; do kill $p; done'
BRIDGE=plbb$PL_ID

declare -A CLIENT_NS SERVER_NS SERVER_IP

# cni_invoke <plugin-path> <command> <netns> <config>: a runtime's call, result on stdout.
cni_invoke() {
	CNI_COMMAND=$2 CNI_CONTAINERID=bench-$PL_ID-$3 CNI_NETNS=/run/netns/$3 CNI_IFNAME=eth0 \
		CNI_PATH=$PL_BUILD:/usr/lib/cni "$1" < "$4"
}
result_ip() { jq -r '.ips[0].address' | cut -d/ -f1; }

setup_veth() {
	local a b
	a=$(netns_add va) && b=$(netns_add vb) || return 1
	ip link add "plbv${PL_ID}a" netns "$a" type veth peer name "plbv${PL_ID}b" netns "$b" ||
		return 1
	ip -n "$a" addr add 10.247.0.1/24 dev "plbv${PL_ID}a"
	ip -n "$b" addr add 10.247.0.2/24 dev "plbv${PL_ID}b"
	ip -n "$a" link set "plbv${PL_ID}a" up
	ip -n "$b" link set "plbv${PL_ID}b" up
	CLIENT_NS[veth]=$a SERVER_NS[veth]=$b SERVER_IP[veth]=10.247.0.2
}

setup_podlane() {
	local a b conf=$PL_TMP/podlane.conf
	agent_start || return 1
	cni_conf "$conf" plbench 10.245.0.0/24 1.0.0
	a=$(netns_add pa) && b=$(netns_add pb) || return 1
	on_cleanup "cni_invoke $PL_BUILD/podlane-cni DEL $a $conf; cni_invoke $PL_BUILD/podlane-cni DEL $b $conf"
	cni_invoke "$PL_BUILD/podlane-cni" ADD "$a" "$conf" >/dev/null || return 1
	SERVER_IP[podlane]=$(cni_invoke "$PL_BUILD/podlane-cni" ADD "$b" "$conf" | result_ip)
	[ -n "${SERVER_IP[podlane]}" ] || return 1
	CLIENT_NS[podlane]=$a SERVER_NS[podlane]=$b
}

setup_bridge() {
	local a b conf=$PL_TMP/bridge.conf
	# No gateway and no masquerade: pods share one L2 segment, and the plugin then leaves the
	# node's global sysctls and firewall alone.
	cat > "$conf" <<EOC
{"cniVersion": "1.0.0", "name": "plbench-br", "type": "bridge", "bridge": "$BRIDGE",
 "isGateway": false, "ipMasq": false,
 "ipam": {"type": "host-local", "subnet": "10.246.0.0/24", "dataDir": "$PL_TMP/host-local"}}
EOC
	a=$(netns_add ba) && b=$(netns_add bb) || return 1
	on_cleanup "cni_invoke /usr/lib/cni/bridge DEL $a $conf; cni_invoke /usr/lib/cni/bridge DEL $b $conf; ip link del $BRIDGE"
	cni_invoke /usr/lib/cni/bridge ADD "$a" "$conf" >/dev/null || return 1
	SERVER_IP[bridge]=$(cni_invoke /usr/lib/cni/bridge ADD "$b" "$conf" | result_ip)
	[ -n "${SERVER_IP[bridge]}" ] || return 1
	CLIENT_NS[bridge]=$a SERVER_NS[bridge]=$b
}

start_servers() {	# start_servers <topology>
	local ns=${SERVER_NS[$1]}
	taskset -c "$CPU" ip netns exec "$ns" qperf >/dev/null 2>&1 &
	SERVER_PIDS+=($!)
	taskset -c "$CPU" ip netns exec "$ns" iperf3 -s >/dev/null 2>&1 &
	SERVER_PIDS+=($!)
	poll 10 ip netns exec "$ns" sh -c 'ss -Htln | grep -q ":19765 " && ss -Htln | grep -q ":5201 "'
}

# qperf prints "latency  =  6.21 us" (or ns/ms): half a round trip. Echo transactions/s.
measure_rr() {	# measure_rr <topology>
	taskset -c "$CPU" ip netns exec "${CLIENT_NS[$1]}" \
		qperf -t "$SECS" -m 1 "${SERVER_IP[$1]}" tcp_lat 2>/dev/null |
		awk '/latency/ { v = $3; u = $4
			if (u == "ns") v /= 1000; else if (u == "ms") v *= 1000; else if (u == "sec") v *= 1e6
			if (v > 0) printf "%.0f\n", 1e6 / (2 * v) }'
}

measure_stream() {	# measure_stream <topology>: Gbit/s received
	taskset -c "$CPU" ip netns exec "${CLIENT_NS[$1]}" \
		iperf3 -c "${SERVER_IP[$1]}" -t "$SECS" -J 2>/dev/null |
		jq -r '.end.sum_received.bits_per_second / 1e9 | . * 1000 | round / 1000' 2>/dev/null
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit
	if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) print lo "-" hi }'; }
minmax2() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.2f-%.2f\n", lo, hi }'; }
ip_forwarded() { awk '/^Ip: [0-9]/ { print $7 }' /proc/net/snmp; }

IFS=, read -r -a topos <<< "$TOPOS"
for t in "${topos[@]}"; do
	log "setting up $t"
	"setup_$t" || die "failed to set up topology '$t'"
	start_servers "$t" || die "failed to start servers for '$t'"
	# The first exchange resolves neighbours and warms caches; it is not measured.
	ip netns exec "${CLIENT_NS[$t]}" ping -c 1 -W 2 "${SERVER_IP[$t]}" >/dev/null ||
		die "no connectivity in topology '$t'"
done

fwd_before=$(ip_forwarded)
declare -A RR TP
for r in $(seq 1 "$RUNS"); do
	for t in "${topos[@]}"; do
		log "run $r/$RUNS: $t"
		v=$(measure_rr "$t"); [ -n "$v" ] && RR[$t]+="$v "
		v=$(measure_stream "$t"); [ -n "$v" ] && TP[$t]+="$v "
	done
done
fwd_after=$(ip_forwarded)

declare -A RR_MED TP_MED
for t in "${topos[@]}"; do
	RR_MED[$t]=$(printf '%s\n' ${RR[$t]:-} | median)
	TP_MED[$t]=$(printf '%s\n' ${TP[$t]:-} | median | awk '{ printf "%.2f\n", $1 }')
done
ratio() {	# ratio <value> <reference>
	awk -v v="$1" -v r="$2" 'BEGIN { if (v == "" || r == "" || r == 0) print "n/a";
		else printf "%.0f%%\n", 100 * v / r }'
}

declare -A LABEL=([veth]="direct veth pair (limit)" [podlane]="podlane (agent + CNI)"
		  [bridge]="bridge + host-local")
ref=veth
[ -n "${RR_MED[veth]:-}" ] || ref=${topos[0]}

echo "| topology | TCP RR 1 B (trans/s) | RR range | vs $ref | TCP stream (Gbit/s) | stream range | vs $ref |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for t in "${topos[@]}"; do
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${LABEL[$t]}" \
		"${RR_MED[$t]:-n/a}" "$(printf '%s\n' ${RR[$t]:-} | minmax)" \
		"$(ratio "${RR_MED[$t]:-}" "${RR_MED[$ref]:-}")" \
		"${TP_MED[$t]:-n/a}" "$(printf '%s\n' ${TP[$t]:-} | minmax2)" \
		"$(ratio "${TP_MED[$t]:-}" "${TP_MED[$ref]:-}")"
done
echo
echo "Medians of $RUNS runs of ${SECS} s per topology, interleaved; client and server pinned to" \
     "CPU $CPU; $(nproc) vCPUs, kernel $(uname -r). RR: qperf tcp_lat -m 1; stream: iperf3, 1 flow."
echo "Datagrams the host IP stack forwarded during the runs: $((fwd_after - fwd_before))" \
     "(podlane pod-to-pod traffic bypasses it)."
if [ -n "${CLIENT_NS[podlane]:-}" ]; then
	ctl endpoint list --json 2>/dev/null |
		jq -r '(.endpoints? // .)[] | "podlane endpoint \(.ip): tx \(.tx_packets) pkts, rx \(.rx_packets) pkts"' \
		2>/dev/null | sed 's/^/    /'
fi
# A missing figure means a measurement failed: say so through the exit code.
for t in "${topos[@]}"; do
	[ -n "${RR_MED[$t]:-}" ] && [ -n "${TP_MED[$t]:-}" ] || exit 1
done
exit 0
