#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-nodes.sh - the seed's scale: 5,000 nodes (Kubernetes' supported maximum)
# and 150,000 endpoints from etcd (issue 10, defect 9), against 10 nodes with the same
# endpoints.
#
#   1. Apply: etcd holds NODES node records and ENDPOINTS endpoint records spread over them
#      (scripts/bench/etcd_load.c cluster); a fresh podlaned (direct routing, an uplink on the
#      nodes' link) lists and applies them all. Timed: from the agent's start until every node
#      and endpoint is in its maps (wall, BPF loading included), and the sync's own full
#      resync time; with the agent's RSS then (steady) and its peak, the podlane_nodes entries,
#      the kernel routes and the dead letters (none expected). Repeated RUNS times, alternating
#      the 10-node and the NODES-node cluster (one etcd each), medians.
#   2. Per packet: a pod's packet to a pod on another node through tc_from_pod under
#      BPF_PROG_TEST_RUN (scripts/bench/nodes_bpf.c), podlane_nodes holding 10 or NODES nodes,
#      direct routing and VXLAN, beside an empty program; pinned to one CPU.
#
# One etcd member on tmpfs. The bench runs itself in a network namespace of its own (the
# agent's uplink and its 5,000 kernel routes live there). Everything it starts is stopped, and
# everything it creates removed, on exit.
#
# Usage: sudo scripts/bench/bench-nodes.sh [-r RUNS] [-N NODES] [-e ENDPOINTS] [-p PKT_RUNS]
# Prints markdown tables on stdout, progress on stderr.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${PL_BUILD:-$ROOT/build}
RUNS=3
NODES=5000
SMALL=10
ENDPOINTS=150000
PKT_RUNS=9
while getopts "r:N:e:p:h" opt; do
	case $opt in
	r) RUNS=$OPTARG ;;
	N) NODES=$OPTARG ;;
	e) ENDPOINTS=$OPTARG ;;
	p) PKT_RUNS=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

die() { echo "bench-nodes: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (namespaces, BPF)"
for c in etcd etcdctl curl jq gcc taskset nsenter bpftool; do
	command -v $c >/dev/null || die "needs $c (scripts/install-deps.sh)"
done
for b in podlaned podlanectl libpodlane.a selftests/lib/testlib.o tc_endpoint.skel.h; do
	[ -e "$BUILD/$b" ] || die "$BUILD/$b is not built (run make)"
done

if [ -z "${PL_BENCH_NETNS:-}" ]; then
	ns=podlane-bench-nodes-$$
	ip netns add "$ns" || die "cannot create netns $ns"
	trap 'ip netns del "$ns"' EXIT
	trap 'exit 130' INT TERM
	PL_BENCH_NETNS=$ns nsenter --net="/run/netns/$ns" -- "$0" "$@"
	exit $?
fi

ID=$$
TMP=$(mktemp -d /dev/shm/podlane-bench-nodes.XXXXXX)
PIN=/sys/fs/bpf/podlane-bench-nodes-$ID
CG=/sys/fs/cgroup/unified/podlane-bench-nodes-$ID
[ -d /sys/fs/cgroup/unified ] || CG=/sys/fs/cgroup/podlane-bench-nodes-$ID
PORT=$(( 33000 + ID % 900 * 3 ))
URL=http://127.0.0.1:$PORT
UPLINK=plbench0
ETCD_PID="" AGENT_PID=""

cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	[ -n "$ETCD_PID" ] && kill "$ETCD_PID" 2>/dev/null && wait "$ETCD_PID" 2>/dev/null
	[ -d "$PIN" ] && "$BUILD/podlaned" --uninstall --pin-root "$PIN" --state-dir "$TMP/state" \
		>/dev/null 2>&1
	rm -rf "$PIN" "$TMP"
	rmdir "$CG" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

{ ip link set lo up && ip link add "$UPLINK" type veth peer name plbench1 &&
  ip addr add 172.20.255.1/16 dev "$UPLINK" && ip link set "$UPLINK" up &&
  ip link set plbench1 up; } || die "cannot set up $UPLINK"
gcc -O2 -o "$TMP/etcd_load" "$ROOT/scripts/bench/etcd_load.c" -lcurl ||
	die "cannot build etcd_load"
gcc -O2 -std=gnu11 -D_GNU_SOURCE -I"$BUILD" -I"$ROOT/bpf" -I"$ROOT/userspace/lib" \
	-I"$ROOT/selftests/lib" -o "$TMP/nodes_bpf" "$ROOT/scripts/bench/nodes_bpf.c" \
	"$BUILD/selftests/lib/testlib.o" "$BUILD/libpodlane.a" -lbpf -lelf -lz -lmnl -ljson-c -lm ||
	die "cannot build nodes_bpf"
mkdir -p "$CG"

# poll <seconds> <command...>
poll() {
	local end=$(( $(date +%s) + $1 ))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.05
	done
}

etcd_start() {	# etcd_start <name>: a fresh member, its data on tmpfs
	etcd --name "$1" --data-dir "$TMP/etcd-$1" --listen-client-urls "$URL" \
		--advertise-client-urls "$URL" --listen-peer-urls "http://127.0.0.1:$((PORT + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((PORT + 1))" \
		--initial-cluster "$1=http://127.0.0.1:$((PORT + 1))" \
		--quota-backend-bytes 8589934592 > "$TMP/etcd-$1.log" 2>&1 &
	ETCD_PID=$!
	poll 20 etcdctl --endpoints "$URL" endpoint health || die "etcd did not start"
}
etcd_stop() { kill "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null; ETCD_PID=""; }

agent_start() {
	rm -rf "$PIN" "$TMP/state"
	mkdir -p "$TMP/state"
	"$BUILD/podlaned" --pin-root "$PIN" --state-dir "$TMP/state" --socket "$TMP/podlaned.sock" \
		--log-file "$TMP/podlaned.log" --no-accounting --cgroup "$CG" --uplink "$UPLINK" \
		--node-name bench --node-ip 172.20.255.1 --max-remote-endpoints 262144 \
		--lease-ttl 30 --etcd-endpoints "$URL" &
	AGENT_PID=$!
}
agent_stop() {
	kill "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=""
	"$BUILD/podlaned" --uninstall --pin-root "$PIN" --state-dir "$TMP/state" >/dev/null 2>&1
	rm -rf "$PIN" "$TMP/state"
}
status() { "$BUILD/podlanectl" --socket "$TMP/podlaned.sock" --json sync status 2>/dev/null; }
applied() {	# applied <nodes>: every node and endpoint in the maps, the resync done
	[ "$(status | jq ".nodes == $1 and .remote_endpoints == $ENDPOINTS and
			   .counters.resyncs >= 1 and .queue.depth == 0")" = true ]
}
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
median() {
	sort -n | awk '{ v[NR] = $1 }
		       END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "bench-nodes: $NODES and $SMALL nodes, $ENDPOINTS endpoints, $RUNS runs; $(nproc) CPUs," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
declare -A R
# One etcd per cluster size, filled once; the runs alternate between them.
for n in "$SMALL" "$NODES"; do
	etcd_start "c$n"
	echo "-- etcd c$n: $n nodes, $ENDPOINTS endpoints" >&2
	"$TMP/etcd_load" cluster "$URL" "$n" "$ENDPOINTS" >&2 || die "cluster fill failed"
	etcd_stop
done
for ((run = 1; run <= RUNS; run++)); do
	for n in "$SMALL" "$NODES"; do
		etcd_start "c$n"
		t0=$(date +%s%N)
		agent_start
		if ! poll 600 applied "$n"; then
			echo "run $run, $n nodes: not applied: $(status | jq -c '{nodes,
				remote_endpoints, deadletters, state}')" >&2
			tail -n 5 "$TMP/podlaned.log" >&2
			die "the agent did not apply the cluster"
		fi
		t1=$(date +%s%N)
		sleep 1	# let the loop settle: the RSS after the apply, not during it
		st=$(status)
		R[wall,$n]+="$(( (t1 - t0) / 1000000 )) "
		R[resync,$n]+="$(jq .counters.resync_ms_last <<<"$st") "
		R[rss,$n]+="$(rss_kb "$AGENT_PID" VmRSS) "
		R[peak,$n]+="$(rss_kb "$AGENT_PID" VmHWM) "
		R[dead,$n]+="$(jq .deadletters <<<"$st") "
		R[map,$n]+="$(bpftool -j map dump pinned "$PIN/podlane_nodes" | jq length) "
		R[routes,$n]+="$(ip route show proto 112 | wc -l) "
		echo "run $run, $n nodes: wall $(( (t1 - t0) / 1000000 )) ms, resync" \
		     "$(jq .counters.resync_ms_last <<<"$st") ms," \
		     "RSS $(rss_kb "$AGENT_PID" VmRSS) kB (peak $(rss_kb "$AGENT_PID" VmHWM) kB);" \
		     "main loop applying: $(jq -r '.loop.sync_apply |
			"\(.runs) runs, avg \(.avg_us) us, max \(.max_us) us"' <<<"$st")" >&2
		agent_stop
		etcd_stop
	done
done

med() { tr ' ' '\n' <<<"${R[$1,$2]}" | grep . | median; }
range() { tr ' ' '\n' <<<"${R[$1,$2]}" | grep . | sort -n | sed -n '1p;$p' | paste -sd-; }
echo "**Nodes from etcd** ($ENDPOINTS endpoints, direct routing; medians of $RUNS runs," \
     "range = min-max; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| nodes | start to applied (ms) | range | full resync (ms) | range | RSS steady (kB) |" \
     "RSS peak (kB) | podlane_nodes entries | kernel routes | dead letters |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "$SMALL" "$NODES"; do
	echo "| $n | $(med wall "$n") | $(range wall "$n") | $(med resync "$n") |" \
	     "$(range resync "$n") | $(med rss "$n") | $(med peak "$n") | $(med map "$n") |" \
	     "$(med routes "$n") | $(med dead "$n") |"
done
echo
echo "**Node lookup per packet** (BPF_PROG_TEST_RUN, CPU 1)"
echo
taskset -c "$(( $(nproc) > 1 ? 1 : 0 ))" "$TMP/nodes_bpf" -r "$PKT_RUNS" -s "$SMALL" -b "$NODES" ||
	die "nodes_bpf failed"
