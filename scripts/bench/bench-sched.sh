#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-sched.sh - does scheduling on podlane's pressure hints even out load?
# (issue 12, "Proof: a scheduling benchmark")
#
# The three-node fabric of selftests/multinode/lib.sh (node namespaces on one bridge, one
# podlaned each, synced through an etcd member in the fabric namespace), and for each node a
# cgroup of its own: /sys/fs/cgroup/cpu/podlane-bench-<pid>/node<n> capped at NODE_CPU CPUs
# with cpu.cfs_quota_us (the cpu controller is on cgroup v1 here), its twins under
# /sys/fs/cgroup/cpuacct (usage) and /sys/fs/cgroup/unified (cgroup v2, where CPU pressure is
# measured). Each agent runs with --node-cgroup podlane-bench-<pid>/node<n> (the path in every
# hierarchy); node1's agent also serves the scheduler extender.
#
# A pod is a network namespace wired by podlane-cni on its node, and one process living in
# the pod's cgroups under its node's (both hierarchies): a duty-cycle loop burning a share of
# a CPU (sched_load.c spin: DUTIES, picked at random per pod), or, every PROBE_EVERY-th pod,
# the latency probe (sched_load.c probe: wakes every 10 ms, records how late). An open stream
# of PODS pods (Poisson arrivals every GAP s on average, lifetimes uniform in LIFE_MIN..
# LIFE_MAX s, all from SEED) is placed one pod at a time by the scheduler loop (sched_client.c)
# under each policy in turn, the same stream for each:
#   extender  kube-scheduler's calls to podlaned's extender: filter, then prioritize; the
#             pod goes to the best score (ties: fewest pods, then random)
#   spread    the default scheduler for pods with equal requests: fewest pods (ties random)
#   random    any node
# The loop runs in a client namespace on the fabric and reaches the extender at node1's
# address, as a scheduler outside the node would.
#
# Measured per policy, in the window from the first arrival to the last:
#   spread of node CPU pressure: each second, each node cgroup's cpu.pressure "some" share of
#            that second (cgroup v2; CFS throttling counts); the standard deviation across the
#            three nodes, averaged over the window (percentage points)
#   probe wake-up delay: every probe pod's samples pooled; p50 and p99 (ms)
#   extender call time (filter and prioritize, each one call, client side) p50/p99, and the
#            age of the hints at each decision (podlanectl hints --cluster on node1 right after
#            the call: the oldest node's hints), p99
# RUNS repeats (the policy order rotates each run); medians of the runs, ratios extender /
# baseline. Markdown on stdout, progress on stderr.
#
# Load: 3 nodes x NODE_CPU (default 0.3) = 0.9 CPU of this 2-vCPU machine at most, leaving
# the rest to the agents, etcd and the machine's other work (the machine is shared: the load
# average is printed with the tables). The stream's mean demand, mean(DUTIES) / GAP x mean
# lifetime = 0.1125 / 3 x 20 = 0.75 CPU, is 83% of the three caps together: balanced, no node
# needs to be throttled; unbalanced, some are, so where a pod goes decides it.
#
# The extender's filter turns a node down at --extender-saturated (default 90); the bench runs
# it at SATURATED=100 (only a node at full pressure), because on this shared machine every
# node's CPU pressure can pass 90 from the other work alone, and pods held back by the filter
# would make the extender's stream lighter than the baselines' (they wait, retried once a
# second, and are counted: "pods that waited").
#
# Usage: sudo scripts/bench/bench-sched.sh [-r RUNS] [-p PODS] [-s SEED] [-P extender,spread,random]
#   SCHED_QUICK=1: a smoke run (1 run of 6 pods arriving every 0.8 s, living 3-6 s)
#   SCHED_KEEP=DIR: keep every run's raw files there (placements, pressure samples, probes)
# Everything it creates (namespaces, cgroups, processes, pins, etcd) goes in a trap.
set -u

RUNS=3
PODS=36
SEED=12
LIFE_MIN=10
LIFE_MAX=30
GAP=3
NODE_CPU=0.3
DUTIES="0.03 0.06 0.12 0.24"
SATURATED=100
PROBE_EVERY=4
POLICIES="extender,spread,random"
EXT_PORT=10266
SETTLE=3
TAIL_MS=3000
if [ -n "${SCHED_QUICK:-}" ]; then
	RUNS=1 PODS=6 GAP=0.8 LIFE_MIN=3 LIFE_MAX=6 PROBE_EVERY=3 SETTLE=0.5 TAIL_MS=1500
fi
while getopts "r:p:s:P:h" opt; do
	case $opt in
	r) RUNS=$OPTARG ;;
	p) PODS=$OPTARG ;;
	s) SEED=$OPTARG ;;
	P) POLICIES=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

# etcd's single member on an address of the fabric namespace (set before etcd_cluster.sh reads it)
# shellcheck disable=SC2034 # read by etcd_cluster.sh
ETCD_HOSTS=(192.168.77.251 192.168.77.251 192.168.77.251)
# shellcheck source=../../selftests/multinode/lib.sh
. "$(dirname "$0")/../../selftests/multinode/lib.sh"
# shellcheck source=../../selftests/etcd/etcd_cluster.sh
. "$(dirname "$0")/../../selftests/etcd/etcd_cluster.sh"

die() {
	local f
	echo "bench-sched: $*" >&2
	for f in "${PL_TMP:-/nonexistent}"/*.client-err; do
		[ -s "$f" ] && echo "bench-sched: $(basename "$f"): $(tail -n 5 "$f")" >&2
	done
	exit 1
}
log() { echo "bench-sched: [${SECONDS}s] $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root"
for c in gcc jq ip nsenter etcd etcdctl openssl ss awk curl; do
	command -v "$c" >/dev/null || die "needs $c (scripts/install-deps.sh installs it)"
done
for b in podlaned podlane-cni podlanectl; do
	[ -x "$PL_BUILD/$b" ] || die "$PL_BUILD/$b is not built (run make)"
done
CG1_ROOT=/sys/fs/cgroup/cpu
CG2_ROOT=/sys/fs/cgroup/unified
CGA_ROOT=/sys/fs/cgroup/cpuacct
[ -e "$CG1_ROOT/cpu.cfs_quota_us" ] ||
	die "no cgroup v1 cpu controller at $CG1_ROOT (a cgroup v2 cpu.max host is not handled yet)"
[ -e "$CG2_ROOT/cgroup.procs" ] || die "no cgroup v2 hierarchy at $CG2_ROOT"
[ -e "$CGA_ROOT/cpuacct.usage" ] || CGA_ROOT=""
HAVE_EXT=0
"$PL_BUILD/podlaned" --help 2>&1 | grep -q -- '--extender-addr' && HAVE_EXT=1
HAVE_NODECG=0
"$PL_BUILD/podlaned" --help 2>&1 | grep -q -- '--node-cgroup' && HAVE_NODECG=1

mn_setup
CG1=$CG1_ROOT/podlane-bench-$PL_ID
CG2=$CG2_ROOT/podlane-bench-$PL_ID
CGA=${CGA_ROOT:+$CGA_ROOT/podlane-bench-$PL_ID}
# a node's cgroup, relative to every hierarchy's root, as --node-cgroup takes it
node_cg() { echo "podlane-bench-$PL_ID/node$1"; }
declare -A PROC NODE_OF END
SC_PID=""
SAMPLER=""

# Everything of the bench's own, before lib.sh's cleanup removes agents, netns and etcd.
bench_cleanup() {
	local p d
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
	[ -n "$SC_PID" ] && kill "$SC_PID" 2>/dev/null
	for p in "${PROC[@]}"; do kill "$p" 2>/dev/null; done
	for d in "$CG1" "$CG2" $CGA; do
		[ -d "$d" ] || continue
		# procs left in a pod cgroup (a pod process that outlived its kill)
		for p in $(cat "$d"/node*/*/cgroup.procs 2>/dev/null); do kill -KILL "$p"; done
		sleep 0.2
		find "$d" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
		rmdir "$d" 2>/dev/null
	done
}
on_cleanup etcd_cluster_kill
on_cleanup bench_cleanup

TOOLS=$PL_TMP/tools
mkdir -p "$TOOLS"
gcc -O2 -Wall -o "$TOOLS/sched_load" "$(dirname "$0")/sched_load.c" ||
	die "failed to build sched_load"
gcc -O2 -Wall -o "$TOOLS/sched_client" "$(dirname "$0")/sched_client.c" -lcurl -ljson-c ||
	die "failed to build sched_client"

# ---- nodes ---------------------------------------------------------------------------------
quota=$(awk -v c="$NODE_CPU" 'BEGIN { printf "%d", c * 100000 }')
for n in "${NODES[@]}"; do
	mkdir -p "$CG1/node$n" "$CG2/node$n" ${CGA:+"$CGA/node$n"} ||
		die "cannot create the node cgroups"
	echo 100000 > "$CG1/node$n/cpu.cfs_period_us" &&
		echo "$quota" > "$CG1/node$n/cpu.cfs_quota_us" || die "cannot cap node$n's cgroup"
done

log "fabric, etcd and three agents"
fabric_direct || die "cannot build the fabric"
client_attach || die "cannot attach the scheduler's namespace"
ETCD_NS=$(netns_name fab)
ip -n "$ETCD_NS" addr add 192.168.77.251/24 dev br0 || die "cannot give etcd an address"
make_pki && pick_ports || die "cannot make etcd's certificates or find its ports"
etcd_single_start
poll 30 etcd_healthy || die "etcd did not come up: $(tail -n 5 "$PL_TMP/etcd-m0.log")"

sync_state() { ctl_n "$1" --json sync status 2>/dev/null | jq -r "$2"; }
synced() {
	local n
	for n in "${NODES[@]}"; do
		[ "$(sync_state "$n" .state)" = watching ] &&
			[ -n "$(sync_state "$n" '.pod_cidr // empty')" ] || return 1
	done
}
for n in "${NODES[@]}"; do
	opts=(--uplink up0 --routing direct --cluster-cidr 10.203.0.0/16 --lease-ttl 4)
	[ $HAVE_NODECG = 1 ] && opts+=(--node-cgroup "$(node_cg "$n")")
	[ $HAVE_EXT = 1 ] && [ "$n" = 1 ] &&
		opts+=(--extender-addr "${NODE_IP[1]}:$EXT_PORT" --extender-saturated "$SATURATED"
			--metrics-addr 127.0.0.1:9090)
	# shellcheck disable=SC2046 # etcd_agent_opts prints options, one word each
	agent_up "$n" "${opts[@]}" $(etcd_agent_opts) || die "podlaned did not start on node$n"
done
poll 30 synced || die "the agents did not sync with etcd"
for n in "${NODES[@]}"; do NODE_CIDR[$n]=$(sync_state "$n" .pod_cidr); done
log "nodes up: ${NODE_CIDR[*]}; extender: $([ $HAVE_EXT = 1 ] && echo "${NODE_IP[1]}:$EXT_PORT" || echo "not built")"

# ---- the stream ---------------------------------------------------------------------------
# "index arrival_ms life_s kind duty", the same for every policy.
STREAM=$PL_TMP/stream
awk -v n="$PODS" -v seed="$SEED" -v gap="$GAP" -v lo="$LIFE_MIN" -v hi="$LIFE_MAX" \
	-v duties="$DUTIES" -v pe="$PROBE_EVERY" 'BEGIN {
	srand(seed); nd = split(duties, d, " "); t = 0
	for (i = 1; i <= n; i++) {
		life = lo + (hi - lo) * rand(); u = rand(); du = d[1 + int(rand() * nd)]
		kind = (i % pe == 0) ? "probe" : "spin"
		printf "%d %d %.1f %s %s\n", i, t, life, kind, (kind == "probe") ? 0 : du
		t += int(-gap * 1000 * log(1 - u))
	}
}' > "$STREAM"
LAST_ARRIVAL_MS=$(tail -n 1 "$STREAM" | awk '{ print $2 }')

# ---- pods ----------------------------------------------------------------------------------
now_ms() { NOW_MS=$(( ${EPOCHREALTIME/./} / 1000 )); }

# pod_start <name> <node> <kind> <duty> <life_s> <out>: bind: wire it, start its process.
pod_start() {
	local name=$1 n=$2 kind=$3 duty=$4 life=$5 out=$6 ns
	# as a CRI runtime calls the plugin: the endpoint record then names the pod (bench/<name>),
	# which is how the extender can tell that a pod it saw placed has arrived on its node
	CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=$name;K8S_POD_UID=00000000-0000-4000-8000-$name" \
		pod_add "$name" "$n" >/dev/null || return 1
	ns=${POD_NS[$name]}
	mkdir -p "$CG1/node$n/$name" "$CG2/node$n/$name" ${CGA:+"$CGA/node$n/$name"} || return 1
	local cmd=("$TOOLS/sched_load" spin "$duty" "$life")
	[ "$kind" = probe ] && cmd=("$TOOLS/sched_load" probe 10000 "$life" "$out")
	# into the cgroups first, then the pod's netns (ip netns exec would hide the cgroup mounts
	# behind a fresh /sys)
	sh -c 'echo $$ > "$1/cgroup.procs" && echo $$ > "$2/cgroup.procs" &&
		{ [ -z "$3" ] || echo $$ > "$3/cgroup.procs"; } && ns=$4 && shift 4 &&
		exec nsenter --net="/run/netns/$ns" -- "$@"' sh "$CG1/node$n/$name" "$CG2/node$n/$name" \
		"${CGA:+$CGA/node$n/$name}" "$ns" "${cmd[@]}" &
	PROC[$name]=$!
	NODE_OF[$name]=$n
}

# pod_stop <name>: its process ends (a probe writes its samples), CNI DEL, netns and cgroups go.
pod_stop() {
	local name=$1 n=${NODE_OF[$1]} ns=${POD_NS[$1]}
	kill "${PROC[$name]}" 2>/dev/null
	wait "${PROC[$name]}" 2>/dev/null
	unset "PROC[$name]"
	in_node "$n" env CNI_COMMAND=DEL CNI_CONTAINERID="c-$name-$PL_ID" CNI_NETNS="/run/netns/$ns" \
		CNI_IFNAME=eth0 CNI_PATH="$PL_BUILD" "$PL_BUILD/podlane-cni" \
		< "$(node_dir "$n")/net.conf" >/dev/null 2>&1
	ip netns del "$ns" 2>/dev/null
	[ -n "${SCHED_RMDIR_EARLY:-}" ] &&
		rmdir "$CG1/node$n/$name" "$CG2/node$n/$name" ${CGA:+"$CGA/node$n/$name"} 2>/dev/null
	# otherwise the empty pod cgroups go at the end of the policy's run (pod_cgroups_rm)
}
pod_cgroups_rm() {
	local d
	for d in "$CG1" "$CG2" $CGA; do
		find "$d" -mindepth 2 -maxdepth 2 -type d -exec rmdir {} \; 2>/dev/null
	done
}

# node1's metrics (its agent serves the extender), from inside node1's namespace.
node1_metrics() { in_node 1 curl -s --max-time 2 http://127.0.0.1:9090/metrics; }
# hint_age_ms: each node's hint age as node1's extender sees it now, one line per node (ms).
hint_age_ms() {
	node1_metrics | awk '/^podlane_cluster_node_hint_age_seconds\{/ && $2 >= 0 { printf "%.0f\n", $2 * 1000 }'
}
# hist_p99 <before> <after>: the p99 of the extender's own hint-age histogram between two
# scrapes, as the upper bound of the bucket it falls in (ms), or nothing.
hist_p99() {
	awk 'FNR == NR { b[$1] = $2; next } { d = $2 - b[$1]; print $1, d }' "$1" "$2" |
		sed 's/.*le="\([^"]*\)"}/\1/' | awk '{ le[NR] = $1; c[NR] = $2 } END {
		n = c[NR]; if (n <= 0) exit
		for (i = 1; i <= NR; i++) if (c[i] >= 0.99 * n) {
			if (le[i] == "+Inf") print "inf"; else printf "%.0f\n", le[i] * 1000; exit } }'
}
hist_snap() { node1_metrics | grep '^podlane_extender_hint_age_seconds_bucket' > "$1"; }

# sc_ask <command>: one line to the scheduler loop, its answer in REPLY.
sc_ask() {
	{ [ -n "${SC[1]:-}" ] && kill -0 "$SC_PID" 2>/dev/null; } ||
		die "the scheduler loop (sched_client) is gone"
	{ echo "$1" >&"${SC[1]}" && read -r -t 10 REPLY <&"${SC[0]}"; } ||
		die "the scheduler loop did not answer '$1'"
}

# ---- one policy ----------------------------------------------------------------------------
# run_policy <policy> <run>: the whole stream under one policy; leaves its files in $PL_TMP/<policy>-<run>.*
run_policy() {
	local pol=$1 run=$2 out=$PL_TMP/$1-$2 t0 i name arr life kind duty node fus pus note
	local next=1 deadline pending=() p tries=() retry_at=() first=() secs waited
	rm -f "$out".*
	: > "$out.calls"; : > "$out.ages"; : > "$out.placed"
	secs=$(( LAST_ARRIVAL_MS / 1000 + 10 ))
	"$TOOLS/sched_load" sample "$secs" "$out.psi" "$CG2/node1" "$CG2/node2" "$CG2/node3" &
	SAMPLER=$!
	coproc SC { exec nsenter --net="/run/netns/$(netns_name cli)" -- "$TOOLS/sched_client" \
		-p "$pol" -n node1,node2,node3 -u "http://${NODE_IP[1]}:$EXT_PORT/podlane" \
		-s "$((SEED * 31 + run))" -f both -t 2000 2>>"$out.client-err"; }
	mapfile -t ARRIVALS < "$STREAM"
	[ "$pol" = extender ] && hist_snap "$out.hist0"
	now_ms
	t0=$NOW_MS
	deadline=$(( t0 + LAST_ARRIVAL_MS + LIFE_MAX * 1000 + 30000 ))
	while [ "$NOW_MS" -lt "$deadline" ]; do
		# arrivals due now, and pods the filter turned away, retried once a second
		while [ $next -le "$PODS" ]; do
			read -r i arr life kind duty <<< "${ARRIVALS[$((next - 1))]}"
			[ $((t0 + arr)) -le "$NOW_MS" ] || break
			pending+=("$i")
			next=$((next + 1))
		done
		local still=()
		for p in "${pending[@]}"; do
			# a pod the filter turned away is asked about again a second later
			if [ "${retry_at[$p]:-0}" -gt "$NOW_MS" ]; then
				still+=("$p")
				continue
			fi
			read -r i arr life kind duty <<< "${ARRIVALS[$((p - 1))]}"
			name=b$run-$pol-$i
			sc_ask "place $name"
			read -r node fus pus note <<< "$REPLY"
			[ "$pol" = extender ] && echo "$fus $pus" >> "$out.calls"
			[ "$pol" = extender ] && [ "$node" != - ] && hint_age_ms >> "$out.ages"
			# what the extender saw, for SCHED_KEEP's readers
			[ "$pol" = extender ] && [ -n "${SCHED_KEEP:-}" ] &&
				{ echo "== $name -> $node $note"; ctl_n 1 hints --cluster; } >> "$out.cluster" 2>&1
			if [ "$node" = - ]; then
				tries[$p]=$(( ${tries[$p]:-0} + 1 ))
				retry_at[$p]=$(( NOW_MS + 1000 ))
				first[$p]=${first[$p]:-$NOW_MS}
				echo "$name pending ${tries[$p]} $note" >> "$out.placed"
				still+=("$p")
				continue
			fi
			waited=$(( NOW_MS - ${first[$p]:-$NOW_MS} ))
			echo "$name ${node#node} $kind $duty $waited $note" >> "$out.placed"
			END[$name]=$(( NOW_MS + ${life%.*} * 1000 ))
			pod_start "$name" "${node#node}" "$kind" "$duty" "$life" "$out.probe.$name" ||
				die "$pol: cannot start pod $name on $node"
		done
		pending=("${still[@]}")
		now_ms
		for name in "${!PROC[@]}"; do
			[ "${END[$name]}" -le "$NOW_MS" ] || continue
			pod_stop "$name"
			sc_ask "gone $name"
		done
		[ $next -gt "$PODS" ] && [ ${#pending[@]} = 0 ] && [ ${#PROC[@]} = 0 ] && break
		# the window ends at the last arrival: pods still running then are stopped after a
		# short tail, so that the next policy starts from idle nodes
		if [ $next -gt "$PODS" ] && [ ${#pending[@]} = 0 ] &&
			[ "$NOW_MS" -gt $((t0 + LAST_ARRIVAL_MS + TAIL_MS)) ]; then
			for name in "${!PROC[@]}"; do
				pod_stop "$name"
				sc_ask "gone $name"
			done
			break
		fi
		sleep 0.1
		now_ms
	done
	echo "$(( (NOW_MS - t0) ))" > "$out.elapsed"
	[ "$pol" = extender ] && hist_snap "$out.hist1"
	for name in "${!PROC[@]}"; do pod_stop "$name"; done
	pod_cgroups_rm
	[ -n "${SC[1]:-}" ] && eval "exec ${SC[1]}>&-"
	wait "$SC_PID" 2>/dev/null
	SC_PID=""
	kill "$SAMPLER" 2>/dev/null
	wait "$SAMPLER" 2>/dev/null
	SAMPLER=""
}

# ---- figures -------------------------------------------------------------------------------
pct() {	# pct <percentile>: nearest rank of the numbers on stdin
	grep -v '^$' | sort -g | awk -v p="$1" '{ v[NR] = $1 } END {
		if (NR == 0) exit; r = int((p * NR + 99) / 100); if (r < 1) r = 1; print v[r] }'
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit
	if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# figures <policy> <run>: "spread mean_pressure probe_p50_ms probe_p99_ms call_p50_ms call_p99_ms
# age_p99_ms pods_per_node age_hist_p99_ms pods_that_waited pod_seconds_waited"
figures() {
	local out=$PL_TMP/$1-$2 end spread meanp p50 p99 c50="-" c99="-" a99="-" h99="-" per waited wait_s
	end=$(awk -v l="$LAST_ARRIVAL_MS" 'BEGIN { printf "%.1f", l / 1000 + 1 }')
	read -r spread meanp < <(awk -v end="$end" '$1 <= end && $2 != "nan" {
		m = ($2 + $3 + $4) / 3; v = (($2 - m) ^ 2 + ($3 - m) ^ 2 + ($4 - m) ^ 2) / 3
		s += sqrt(v); mp += m; k++ } END { if (k) printf "%.2f %.2f\n", s / k, mp / k; else print "- -" }' \
		"$out.psi")
	p50=$(cat "$out".probe.* 2>/dev/null | pct 50)
	p99=$(cat "$out".probe.* 2>/dev/null | pct 99)
	p50=$(awk -v v="$p50" 'BEGIN { if (v == "") print "-"; else printf "%.2f", v / 1000 }')
	p99=$(awk -v v="$p99" 'BEGIN { if (v == "") print "-"; else printf "%.2f", v / 1000 }')
	if [ "$1" = extender ] && [ -s "$out.calls" ]; then
		c50=$(awk '{ print $1; if ($2 > 0) print $2 }' "$out.calls" | pct 50)
		c99=$(awk '{ print $1; if ($2 > 0) print $2 }' "$out.calls" | pct 99)
		c50=$(awk -v v="$c50" 'BEGIN { printf "%.2f", v / 1000 }')
		c99=$(awk -v v="$c99" 'BEGIN { printf "%.2f", v / 1000 }')
		[ -s "$out.ages" ] && a99=$(pct 99 < "$out.ages")
		[ -s "$out.hist0" ] && [ -s "$out.hist1" ] && h99=$(hist_p99 "$out.hist0" "$out.hist1")
	fi
	per=$(awk '$2 ~ /^[0-9]+$/ { c[$2]++ } END { printf "%d/%d/%d", c[1], c[2], c[3] }' "$out.placed")
	waited=$(awk '$2 == "pending" { w[$1] = 1 } END { print length(w) }' "$out.placed")
	# pod-seconds held back, summed over the pods placed after waiting (one never placed counts
	# in "pods that waited" only)
	wait_s=$(awk '$2 ~ /^[0-9]+$/ { s += $5 } END { printf "%.0f", s / 1000 }' "$out.placed")
	echo "$spread $meanp $p50 $p99 $c50 $c99 ${a99:--} $per ${h99:--} $waited $wait_s"
}

# ---- runs ----------------------------------------------------------------------------------
IFS=, read -r -a POLS <<< "$POLICIES"
if [ $HAVE_EXT = 0 ]; then
	log "podlaned has no --extender-addr (not built yet): the extender policy is left out"
	POLS=("${POLS[@]/extender/}")
fi
RESULTS=$PL_TMP/results
: > "$RESULTS"
for run in $(seq 1 "$RUNS"); do
	k=${#POLS[@]}
	for j in $(seq 0 $((k - 1))); do
		pol=${POLS[$(( (j + run - 1) % k ))]}
		[ -n "$pol" ] || continue
		log "run $run/$RUNS: $pol ($PODS pods, last arrival at $((LAST_ARRIVAL_MS / 1000)) s)"
		run_policy "$pol" "$run"
		f=$(figures "$pol" "$run")
		log "run $run $pol: spread mean_pressure probe_p50 probe_p99 call_p50 call_p99 age_p99 pods = $f"
		echo "$pol $run $f" >> "$RESULTS"
		if [ -n "${SCHED_KEEP:-}" ]; then
			mkdir -p "$SCHED_KEEP" && cp "$PL_TMP/$pol-$run".* "$STREAM" "$SCHED_KEEP/"
		fi
		sleep "$SETTLE"	# the nodes' pressure settles before the next policy
	done
done

# ---- tables --------------------------------------------------------------------------------
col() {	# col <policy> <field 3..>: the median of that field over the runs
	awk -v p="$1" -v f="$2" '$1 == p && $f != "-" { print $f }' "$RESULTS" | median
}
val() { local v; v=$(col "$1" "$2"); echo "${v:--}"; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "### Scheduling on pressure hints: $PODS pods, 3 nodes x $NODE_CPU CPU, median of $RUNS run(s)"
echo
echo "Load average at the end: $load. Seed $SEED; mean gap ${GAP} s, lifetimes ${LIFE_MIN}-${LIFE_MAX} s, duties {$DUTIES} of a CPU, every ${PROBE_EVERY}th pod a probe."
echo
echo "| policy | node CPU pressure spread, σ (pp) | mean node CPU pressure (%) | probe wake-up p50 (ms) | probe wake-up p99 (ms) | pods that waited (filter) | pod-seconds waited | pods per node (last run) |"
echo "|---|---|---|---|---|---|---|---|"
for pol in extender spread random; do
	grep -q "^$pol " "$RESULTS" || continue
	per=$(awk -v p="$pol" '$1 == p { v = $10 } END { print v }' "$RESULTS")
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$pol" "$(val "$pol" 3)" "$(val "$pol" 4)" \
		"$(val "$pol" 5)" "$(val "$pol" 6)" "$(val "$pol" 12)" "$(val "$pol" 13)" "$per"
done
if grep -q '^extender ' "$RESULTS"; then
	echo
	echo "### Extender against the baselines (ratio extender / baseline; below 1 is better)"
	echo
	echo "| figure | vs spread | vs random | goal |"
	echo "|---|---|---|---|"
	for f in "3 pressure spread σ" "6 probe wake-up p99"; do
		c=${f%% *}
		e=$(val extender "$c")
		rs=$(ratio "$e" "$(val spread "$c")")
		rr=$(ratio "$e" "$(val random "$c")")
		goal=$(awk -v a="$rs" -v b="$rr" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"
			else print (a < 1 && b < 1) ? "met" : "**not met**" }')
		printf '| %s | %s | %s | %s |\n' "${f#* }" "$rs" "$rr" "$goal"
	done
	echo
	echo "### Extender calls"
	echo
	echo "| figure | value | target | |"
	echo "|---|---|---|---|"
	c50=$(val extender 7)
	c99=$(val extender 8)
	a99=$(val extender 9)
	fails=$(grep -c 'extender-failed' "$PL_TMP"/extender-*.placed 2>/dev/null | awk -F: '{ s += $NF } END { print s + 0 }')
	printf '| call time p50 (ms) | %s | < 5 | %s |\n' "$c50" \
		"$(awk -v v="$c50" 'BEGIN { if (v == "-") print "n/a"; else print (v < 5) ? "met" : "**not met**" }')"
	printf '| call time p99 (ms) | %s | < 5 | %s |\n' "$c99" \
		"$(awk -v v="$c99" 'BEGIN { if (v == "-") print "n/a"; else print (v < 5) ? "met" : "**not met**" }')"
	printf '| hint age at decision p99 (ms) | %s | <= 1000 | %s |\n' "$a99" \
		"$(awk -v v="$a99" 'BEGIN { if (v == "-") print "n/a"; else print (v <= 1000) ? "met" : "**not met**" }')"
	h99=$(awk '$1 == "extender" && $11 != "-" { print $11 }' "$RESULTS" | sort -g | tail -n 1)
	printf '| hint age at decision p99, the extender'"'"'s own histogram (bucket bound, worst run; ms) | %s | <= 1000 | %s |\n' \
		"${h99:--}" "$(awk -v v="${h99:--}" 'BEGIN { if (v == "-") print "n/a"; else if (v == "inf") print "**not met**"; else print (v <= 1000) ? "met" : "**not met**" }')"
	printf '| calls that failed (placed as spread) | %s | 0 | |\n' "$fails"
fi
echo
echo "### Every run (the policy order rotates from run to run)"
echo
echo "| run | policy | σ (pp) | mean pressure (%) | probe p50 (ms) | probe p99 (ms) | call p50 (ms) | call p99 (ms) | hint age p99 (ms) | pods that waited | pods per node |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
awk '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $2, $1, $3, $4, $5, $6, $7, $8, $9, $12, $10 }' "$RESULTS"
