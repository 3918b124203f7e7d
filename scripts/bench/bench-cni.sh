#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-cni.sh - CNI ADD and DEL latency as a runtime sees it (fork+exec of the
# plugin included), podlane (podlane-cni + podlaned) against the reference bridge plugin with
# host-local IPAM. N sequential ADDs then N sequential DELs, then the same N calls spread over
# P parallel workers (a node starting many pods at once). Reports p50 and p99 per call and the
# call rate of the parallel phase.
#
# Usage: sudo scripts/bench/bench-cni.sh [-n CALLS] [-p PARALLEL] [-T podlane,bridge]
# Prints a markdown table on stdout; progress goes to stderr.
set -u

N=200
PAR=16
PLUGINS="podlane,bridge"
while getopts "n:p:T:h" opt; do
	case $opt in
	n) N=$OPTARG ;;
	p) PAR=$OPTARG ;;
	T) PLUGINS=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

# shellcheck source=../../selftests/lib.sh
. "$(dirname "$0")/../../selftests/lib.sh"

die() { echo "bench-cni: $*" >&2; exit 1; }
log() { echo "bench-cni: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root"
command -v jq >/dev/null || die "needs jq (scripts/install-deps.sh installs it)"
case ",$PLUGINS," in
*,podlane,*)
	for b in podlaned podlane-cni podlanectl; do
		[ -x "$PL_BUILD/$b" ] || die "$PL_BUILD/$b is not built (run make)"
	done ;;
esac
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] ||
	die "needs /usr/lib/cni/{bridge,host-local} (containernetworking-plugins)"

pl_setup
BRIDGE=plbc$PL_ID
on_cleanup "ip link del $BRIDGE"

declare -A PLUGIN_BIN CONF
PLUGIN_BIN[podlane]=$PL_BUILD/podlane-cni
PLUGIN_BIN[bridge]=/usr/lib/cni/bridge
CONF[podlane]=$PL_TMP/podlane.conf
CONF[bridge]=$PL_TMP/bridge.conf
# /22 pools: N pods plus the warm-up one must fit whatever N is up to ~1000.
cni_conf "${CONF[podlane]}" plbench-cni 10.248.0.0/22 1.0.0
cat > "${CONF[bridge]}" <<EOC
{"cniVersion": "1.0.0", "name": "plbench-cni-br", "type": "bridge", "bridge": "$BRIDGE",
 "isGateway": false, "ipMasq": false,
 "ipam": {"type": "host-local", "subnet": "10.249.0.0/22", "dataDir": "$PL_TMP/host-local"}}
EOC

# call <plugin> <command> <index>: one plugin invocation; prints its latency in microseconds.
call() {
	local t0 t1 rc
	t0=${EPOCHREALTIME/./}
	CNI_COMMAND=$2 CNI_CONTAINERID=bench-$PL_ID-$3 CNI_NETNS=/run/netns/pl$PL_ID-c$3 \
		CNI_IFNAME=eth0 CNI_PATH=$PL_BUILD:/usr/lib/cni \
		"${PLUGIN_BIN[$1]}" < "${CONF[$1]}" > "$PL_TMP/out.$3" 2>&1
	rc=$?
	t1=${EPOCHREALTIME/./}
	if [ $rc -ne 0 ]; then
		echo "bench-cni: $1 $2 #$3 failed: $(head -c 300 "$PL_TMP/out.$3")" >&2
		echo fail
		return 1
	fi
	echo $((t1 - t0))
}

# run_phase <plugin> <command> <workers> <outfile>: calls 1..N, worker w takes i % workers == w.
run_phase() {
	local plugin=$1 cmd=$2 workers=$3 out=$4 w i pids=()
	: > "$out"
	for ((w = 0; w < workers; w++)); do
		(
			for ((i = 1 + w; i <= N; i += workers)); do
				call "$plugin" "$cmd" "$i"
			done > "$out.$w"
		) &
		pids+=($!)
	done
	# Only the workers: a bare `wait` would also wait for the agent.
	wait "${pids[@]}"
	for ((w = 0; w < workers; w++)); do
		cat "$out.$w" >> "$out"
		rm -f "$out.$w"
	done
}

# pct <file> <percentile>: nearest-rank percentile of the numeric lines, in milliseconds.
pct() {
	grep -v fail "$1" | sort -n | awk -v p="$2" '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		r = int((p * NR + 99) / 100); if (r < 1) r = 1
		printf "%.2f\n", v[r] / 1000 }'
}
fails() { grep -c fail "$1"; }

log "creating $N network namespaces"
for ((i = 0; i <= N; i++)); do
	ip netns add "pl$PL_ID-c$i" || die "failed to create netns 'pl$PL_ID-c$i'"
done

IFS=, read -r -a plugins <<< "$PLUGINS"
for p in "${plugins[@]}"; do
	if [ "$p" = podlane ] && [ -z "$PL_AGENT_PID" ]; then
		agent_start || die "failed to start podlaned"
	fi
	# Warm-up pod 0: page cache, the bridge device, the agent's first map update.
	call "$p" ADD 0 >/dev/null || die "warm-up ADD with $p failed"
	call "$p" DEL 0 >/dev/null || die "warm-up DEL with $p failed"
done

ROWS=()
failed=0
for p in "${plugins[@]}"; do
	for workers in 1 "$PAR"; do
		log "$p: $N ADD then $N DEL, $workers at a time"
		s0=${EPOCHREALTIME/./}
		run_phase "$p" ADD "$workers" "$PL_TMP/add"
		s1=${EPOCHREALTIME/./}
		run_phase "$p" DEL "$workers" "$PL_TMP/del"
		s2=${EPOCHREALTIME/./}
		f=$(( $(fails "$PL_TMP/add") + $(fails "$PL_TMP/del") ))
		failed=$((failed + f))
		ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s | %.0f | %.0f | %s |' "$p" \
			"$([ "$workers" -eq 1 ] && echo sequential || echo "$workers parallel")" \
			"$(pct "$PL_TMP/add" 50)" "$(pct "$PL_TMP/add" 99)" \
			"$(pct "$PL_TMP/del" 50)" "$(pct "$PL_TMP/del" 99)" \
			"$(echo "$N $s0 $s1" | awk '{ print $1 * 1e6 / ($3 - $2) }')" \
			"$(echo "$N $s1 $s2" | awk '{ print $1 * 1e6 / ($3 - $2) }')" "$f")")
	done
done

label() { case $1 in podlane) echo "podlane (podlane-cni + podlaned)";;
	  bridge) echo "bridge + host-local";; *) echo "$1";; esac; }
echo "| plugin | calls | ADD p50 (ms) | ADD p99 (ms) | DEL p50 (ms) | DEL p99 (ms) | ADD/s | DEL/s | failed |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
	p=${row#| }; p=${p%% |*}
	echo "| $(label "$p") |${row#| "$p" |}"
done
echo
echo "$N calls per phase (fork+exec of the plugin included, as a runtime does), nearest-rank" \
     "percentiles; $(nproc) vCPUs, kernel $(uname -r)."
[ "$failed" -eq 0 ]
