#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-policy.sh - network policy's costs, each side by side with what it is
# compared against in the same run (issue 11, "Benchmarks"):
#   pkt      ns per packet of tc_from_pod under BPF_PROG_TEST_RUN (test_policy_dp --bench,
#            policy maps filled by hand): no policy (0 rules), a new connection judged against
#            a rule set of 1, 100 and 10,000 entries, a known connection, a denied packet, beside
#            an empty tc program
#   rr       pod-to-pod 1-byte TCP RR (qperf tcp_lat -m 1) between two pods that 100 policies
#            select (ingress and egress, both pods), beside two pods no policy selects and a
#            direct veth pair between two namespaces (the limit)
#   crr      new TCP connections/s (tcpload crr: connect, 1-byte request/reply, close) from one
#            pod to a server pod whose ingress N rules admit (N = 10, 1,000, 10,000; the rule
#            that admits the client in the middle), against the same rules as Calico's
#            iptables mode lays them out, in a node namespace of the bench's own: FORWARD ->
#            cali-FORWARD -> cali-to-wl-dispatch -> cali-tw-<iface> (conntrack ESTABLISHED
#            accepted first, then one cali-pi-<policy> chain per policy, each rule an ipset
#            match of the peers' addresses plus a port, marking; drop if none marked); 10
#            ipsets (hash:ip), one per distinct peer selector. Both contenders also at N = 0
#            (server not isolated, no chain), so each one's own policy cost shows
#   latency  enforcement latency: PODS pods and PODS policies in place, then `podlanectl
#            policy add` of one that isolates a pod which a client pod connects to once a
#            millisecond; time from just before the command to the first connection attempt
#            that is blocked; then `policy del` and wait until it connects again. SAMPLES times
#   mem      policy map memory with PODS pods sharing 10 distinct rule sets (10 policies, one
#            per group of pods) against PODS distinct sets (one policy per pod), each set the
#            same size: podlane_policy's entries and bytes (bpftool's memlock, which for an
#            LPM trie counts the entries present), podlane_ep_policy's entries, the agent's RSS
# All pods are real: a network namespace each, wired by podlane-cni with K8S_POD_* and
# args.cni.labels as a CRI runtime calls it, one isolated podlaned (selftests/lib.sh).
# Client and server of rr and crr are pinned to one CPU (taskset -c CPU, see platform notes).
#
# Usage: sudo scripts/bench/bench-policy.sh [-r RUNS] [-t SECONDS] [-n 10,1000,10000]
#            [-p PODS] [-s SAMPLES] [-k PACKETS] [-c CPU] [-P pkt,rr,crr,latency,mem]
#   BENCH_QUICK=1: a smoke run in seconds (1 run of 1 s, N = 10,100, 20 pods, 3 samples)
# Prints markdown tables on stdout (a summary with the targets at the end); progress to stderr.
set -u

RUNS=5
SECS=3
COUNTS="10,1000,10000"
PODS=1000
SAMPLES=101
PKTS=20001
CPU=1
PARTS="pkt,rr,crr,latency,mem"
if [ -n "${BENCH_QUICK:-}" ]; then
	RUNS=1 SECS=1 COUNTS="10,100" PODS=20 SAMPLES=3 PKTS=2001
fi
while getopts "r:t:n:p:s:k:c:P:h" opt; do
	case $opt in
	r) RUNS=$OPTARG ;;
	t) SECS=$OPTARG ;;
	n) COUNTS=$OPTARG ;;
	p) PODS=$OPTARG ;;
	s) SAMPLES=$OPTARG ;;
	k) PKTS=$OPTARG ;;
	c) CPU=$OPTARG ;;
	P) PARTS=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done
part() { case ",$PARTS," in *,"$1",*) return 0 ;; esac; return 1; }

# shellcheck source=../../selftests/policy/agentlib.sh
. "$(dirname "$0")/../../selftests/policy/agentlib.sh"

# 1,000 pods and more: a /21 of this run's own instead of agentlib.sh's /24.
POL_SUBNET=10.$((200 + PL_ID % 40)).$((PL_ID / 40 % 32 * 8)).0/21
die() {
	echo "bench-policy: $*" >&2
	if [ -n "$PL_AGENT_PID" ] && ! kill -0 "$PL_AGENT_PID" 2>/dev/null; then
		echo "bench-policy: podlaned is gone; the end of its log:" >&2
		tail -n 30 "$PL_TMP/podlaned.log" >&2
	fi
	exit 1
}
log() { echo "bench-policy: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root"
for c in qperf jq taskset ip bpftool gcc iptables-restore iptables-nft ipset curl python3; do
	command -v "$c" >/dev/null || die "needs $c (scripts/install-deps.sh installs it)"
done
for b in podlaned podlane-cni podlanectl $(part pkt && echo selftests/policy/test_policy_dp); do
	[ -x "$PL_BUILD/$b" ] || die "$PL_BUILD/$b is not built (run make)"
done
[ "$PODS" -ge 12 ] || die "-p wants at least 12 pods"

pl_setup
PIDS=()
on_cleanup 'for p in "${PIDS[@]}"; do kill $p; done'
TOOL=$PL_TMP/tcpload
gcc -O2 -Wall -o "$TOOL" "$(dirname "$0")/tcpload.c" || die "failed to build the load tool"

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit
	if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
	END { if (NR) print lo "-" hi }'; }
pct() {	# pct <percentile>: nearest rank of the numbers on stdin
	tr ' ' '\n' | grep -v '^$' | sort -g | awk -v p="$1" '{ v[NR] = $1 } END {
		if (NR == 0) exit; r = int((p * NR + 99) / 100); if (r < 1) r = 1; print v[r] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
now_us() { echo "${EPOCHREALTIME/./}"; }
SUMMARY=()
summary() { SUMMARY+=("$(printf '| %s | %s | %s | %s |' "$@")"); }
meets() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if (v == "" || v == "n/a") { print "n/a"; exit }
	ok = (op == ">=") ? v >= t : v < t; print ok ? "met" : "**not met**" }'; }

# ---- pods ---------------------------------------------------------------------------------
# pods_make <k8s namespace> <file>: one pod per line of file, "NAME KEY=VALUE...": netns
# pl<pid>-<ns>-<name> (made in one ip -batch), then CNI ADD two at a time. Fast enough for
# 1,000 pods; pod_add (agentlib.sh) does the same one by one.
pods_make() {
	local ns=$1 file=$2 name labels w pids=() rc=0
	awk -v p="pl$PL_ID-$ns-" '{ print "netns add " p $1 }' "$file" | ip -batch - || return 1
	while read -r name labels; do
		ip -n "pl$PL_ID-$ns-$name" link set lo up || return 1
		# shellcheck disable=SC2086
		pol_conf "$PL_TMP/conf-$ns-$name.json" $labels
	done < "$file"
	for w in 0 1; do
		awk -v w=$w 'NR % 2 == w { print $1 }' "$file" | while read -r name; do
			env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID="c-$ns-$name-$PL_ID" \
				CNI_NETNS="/run/netns/pl$PL_ID-$ns-$name" CNI_IFNAME=eth0 \
				CNI_PATH="$PL_BUILD" \
				CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$name" \
				"$PL_BUILD/podlane-cni" < "$PL_TMP/conf-$ns-$name.json" \
				> "$PL_TMP/add-$ns-$name.json" 2>&1 ||
				{ echo "CNI ADD $ns/$name: $(head -c 300 "$PL_TMP/add-$ns-$name.json")"; exit 1; }
		done &
		pids+=($!)
	done
	# Only the workers: a bare `wait` would also wait for the agent.
	for w in "${pids[@]}"; do wait "$w" || rc=1; done
	return $rc
}
pod_ip() { jq -r '.ips[0].address' "$PL_TMP/add-$1-$2.json" | cut -d/ -f1; }
pod_netns() { echo "pl$PL_ID-$1-$2"; }

# Many pods: delete their host veths in one batch (the kernel tears them down together), then
# their namespaces; pl_cleanup's one-by-one way is quadratic in the number of veths.
pods_teardown() {
	ctl endpoint list --json 2>/dev/null | jq -r '(.endpoints? // .)[] | .host_ifname // empty' |
		awk '{ print "link del " $1 }' | ip -force -batch - 2>/dev/null
	ip netns list | awk -v p="pl$PL_ID-" 'index($1, p) == 1 { print "netns del " $1 }' |
		ip -force -batch - 2>/dev/null
}
on_cleanup pods_teardown

POL_METRICS=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
agent_start --max-policy-entries 131072 --metrics-addr "$POL_METRICS" || die "podlaned did not start"
AGENT_PID=$PL_AGENT_PID

GEN="python3 $(dirname "$0")/bench_policy_gen.py"
# policies_add <dir> <prefix>: podlanectl policy add -f for each of the generator's files.
policies_add() {
	local f
	for f in "$1/$2"-*.json; do
		ctl policy add -f "$f" >/dev/null || return 1
	done
}

# ---- pkt: BPF_PROG_TEST_RUN ---------------------------------------------------------------
if part pkt; then
	log "pkt: test_policy_dp --bench -n $PKTS"
	PKT_TABLE=$("$PL_BUILD/selftests/policy/test_policy_dp" --bench -n "$PKTS") ||
		die "test_policy_dp --bench failed"
	pkt_ns() { awk -F'|' -v l="$1" 'index($2, l) { gsub(/ /, "", $3); print $3; exit }' <<<"$PKT_TABLE"; }
	P_FLOOR=$(pkt_ns "empty tc program")
	P_NONE=$(pkt_ns "no policy")
	P_1=$(pkt_ns "rule set of 1 entry")
	P_100=$(pkt_ns "rule set of 100 entries")
	P_10K=$(pkt_ns "rule set of 10,000 entries")
	P_KNOWN=$(pkt_ns "known connection")
	P_DENIED=$(pkt_ns "denied")
fi

# ---- latency and mem: PODS pods in namespace scale --------------------------------------------
cap() { ctl policy list -o json | jq -r ".capacity.$1"; }
# mem_snap <label>: entries, sets, bytes of the policy maps, isolated endpoints, agent RSS (kB)
declare -A MEM
mem_snap() {
	MEM[$1,entries]=$(cap entries)
	MEM[$1,sets]=$(cap rule_sets)
	MEM[$1,ids]=$(cap identities)
	MEM[$1,bytes]=$(bpftool -j map show pinned "$PL_PIN/podlane_policy" | jq .bytes_memlock)
	MEM[$1,ipc_bytes]=$(bpftool -j map show pinned "$PL_PIN/podlane_ipcache" | jq .bytes_memlock)
	MEM[$1,ep]=$(maps ep | jq '[.[] | select(.flags != 0)] | length')
	MEM[$1,rss]=$(awk '/^VmRSS/ { print $2 }' "/proc/$AGENT_PID/status")
}
declare -a LAT CLI UNB SYNC
if part latency || part mem; then
	{
		echo "client pod=client role=client"
		echo "target pod=target"
		for ((i = 2; i < PODS; i++)); do
			echo "p-$i pod=p-$i grp=$((i % 10))$([ $i -lt 10 ] && echo ' role=client')"
		done
	} > "$PL_TMP/scale.pods"
	log "creating $PODS pods (a netns and CNI ADD each)"
	t0=$(now_us)
	pods_make scale "$PL_TMP/scale.pods" || die "scale pods"
	PODS_S=$(( ($(now_us) - t0) / 1000000 ))
	log "$PODS pods in $PODS_S s"
	mem_snap base
	log "mem: 10 policies, one per group of $((PODS / 10)) pods"
	$GEN scale shared "$PODS" "$PL_TMP/pol" && policies_add "$PL_TMP/pol" shared ||
		die "policy add (shared)"
	mem_snap shared
	# shellcheck disable=SC2046
	ctl policy del $(for ((i = 0; i < 10; i++)); do echo "scale/shared-$i"; done) >/dev/null ||
		die "policy del (shared)"
	log "mem: $PODS policies, one per pod"
	t0=$(now_us)
	$GEN scale distinct "$PODS" "$PL_TMP/pol" && policies_add "$PL_TMP/pol" distinct ||
		die "policy add (distinct)"
	ADD_ALL_MS=$(( ($(now_us) - t0) / 1000 ))
	mem_snap distinct
fi
if part latency; then
	ip netns exec "$(pod_netns scale target)" "$TOOL" server 8080 7200 &
	PIDS+=($!)
	TARGET=$(pod_ip scale target)
	CLIENT_NS=$(pod_netns scale client)
	poll 10 sh -c "[ \"\$(ip netns exec $CLIENT_NS $TOOL try $TARGET 8080 200)\" = ok ]" ||
		die "latency: the client cannot reach the target"
	printf '%s\n' "apiVersion: networking.k8s.io/v1" "kind: NetworkPolicy" \
		"metadata: {name: block, namespace: scale}" \
		"spec: {podSelector: {matchLabels: {pod: target}}, policyTypes: [Ingress]}" \
		> "$PL_TMP/block.yaml"
	log "latency: $SAMPLES x (policy add -> first blocked connection; del -> open again)"
	for ((i = 0; i < SAMPLES; i++)); do
		rm -f "$PL_TMP/ready"
		ip netns exec "$CLIENT_NS" "$TOOL" watch "$TARGET" 8080 blocked 200 10 \
			"$PL_TMP/ready" > "$PL_TMP/watch.out" &
		w=$!
		poll 5 test -e "$PL_TMP/ready" || die "latency: the watcher never connected"
		t0=$(now_us)
		ctl policy add -f "$PL_TMP/block.yaml" >/dev/null || die "policy add scale/block"
		t1=$(now_us)
		wait $w || die "latency: never blocked"
		read -r start prev why < "$PL_TMP/watch.out"
		[ "$why" = timeout ] || die "latency: the blocked attempt was '$why', not a timeout"
		LAT+=($(( (start - t0) / 10 )))	# in units of 10 us, printed as ms below
		CLI+=($(( (t1 - t0) / 10 )))
		t2=$(now_us)
		ctl policy del scale/block >/dev/null || die "policy del scale/block"
		out=$(ip netns exec "$CLIENT_NS" "$TOOL" watch "$TARGET" 8080 open 200 10) ||
			die "latency: never open again"
		UNB+=($(( (${out%% *} - t2) / 10 )))
		SYNC+=($(( $(metric podlane_policy_last_sync_seconds | awk '{ printf "%d", $1 * 1e5 }') )))
	done
fi
if part latency || part mem; then
	# The pods stay (no policy selects them then); the rest measures beside them.
	log "deleting the $PODS scale policies"
	for ((i = 0; i < PODS; i++)); do echo "scale/distinct-$i"; done |
		xargs -n 500 "$PL_BUILD/podlanectl" --socket "$PL_SOCK" policy del >/dev/null ||
		die "policy del of the scale policies"
fi
ms() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else printf "%.2f", v / 100 }'; }

# ---- rr: TCP RR with 100 policies -------------------------------------------------------------
declare -A RR_C RR_S RR_IP RR
if part rr; then
	log "rr: a veth pair, two pods without policy, two pods 100 policies select"
	a=$(netns_add rrva) && b=$(netns_add rrvb) || die "netns"
	ip link add "plrv${PL_ID}a" netns "$a" type veth peer name "plrv${PL_ID}b" netns "$b" ||
		die "veth pair"
	ip -n "$a" addr add 10.247.9.1/24 dev "plrv${PL_ID}a"
	ip -n "$b" addr add 10.247.9.2/24 dev "plrv${PL_ID}b"
	ip -n "$a" link set "plrv${PL_ID}a" up
	ip -n "$b" link set "plrv${PL_ID}b" up
	RR_C[veth]=$a RR_S[veth]=$b RR_IP[veth]=10.247.9.2
	printf '%s\n' "rr-open-a app=rr" "rr-open-b app=rr" "rr-pol-a rr=pol" "rr-pol-b rr=pol" \
		> "$PL_TMP/rr.pods"
	pods_make perf "$PL_TMP/rr.pods" || die "rr pods"
	$GEN rr "$PL_TMP/pol" && policies_add "$PL_TMP/pol" rr ||
		die "policy add of the 100 rr policies failed"
	RR_C[open]=$(pod_netns perf rr-open-a) RR_S[open]=$(pod_netns perf rr-open-b)
	RR_IP[open]=$(pod_ip perf rr-open-b)
	RR_C[pol]=$(pod_netns perf rr-pol-a) RR_S[pol]=$(pod_netns perf rr-pol-b)
	RR_IP[pol]=$(pod_ip perf rr-pol-b)
	[ "$(pod_field perf/rr-pol-a .isolation)" = "ingress,egress" ] ||
		log "rr: perf/rr-pol-a isolation: $(pod_field perf/rr-pol-a .isolation)"
	RR_ENTRIES=$(ctl policy list -o json | jq .capacity.entries)
	for t in veth open pol; do
		taskset -c "$CPU" ip netns exec "${RR_S[$t]}" qperf >/dev/null 2>&1 &
		PIDS+=($!)
		poll 10 ip netns exec "${RR_S[$t]}" sh -c 'ss -Htln | grep -q ":19765 "' ||
			die "qperf server in $t"
	done
fi
measure_rr() {	# as bench-datapath.sh: qperf's latency is half a round trip
	taskset -c "$CPU" ip netns exec "${RR_C[$1]}" qperf -t "$SECS" -m 1 "${RR_IP[$1]}" tcp_lat \
		2>/dev/null | awk '/latency/ { v = $3; u = $4
			if (u == "ns") v /= 1000; else if (u == "ms") v *= 1000; else if (u == "sec") v *= 1e6
			if (v > 0) printf "%.0f\n", 1e6 / (2 * v) }'
}

# ---- crr: new connections against N rules, podlane and iptables -------------------------------
IFS=, read -r -a counts <<< "$COUNTS"
NS_ALL=(0 "${counts[@]}")
declare -A CRR CRR_IP CRR_ENTRIES CRR_IPT_RULES
if part crr; then
	log "crr: pods perf/crr-client and perf/crr-s<N> for N = ${NS_ALL[*]}"
	{
		echo "crr-client g0=1 g1=1 g2=1 g3=1 g4=1 g5=1 g6=1 g7=1 g8=1 g9=1"
		for n in "${NS_ALL[@]}"; do echo "crr-s$n srv=$n"; done
	} > "$PL_TMP/crr.pods"
	pods_make perf "$PL_TMP/crr.pods" || die "crr pods"
	for n in "${counts[@]}"; do
		log "crr: $n rules through podlanectl policy add"
		before=$(ctl policy list -o json | jq .capacity.entries)
		$GEN crr "$n" "$PL_TMP/pol" && policies_add "$PL_TMP/pol" "crr-$n" ||
			die "policy add of $n rules failed"
		CRR_ENTRIES[$n]=$(( $(ctl policy list -o json | jq .capacity.entries) - before ))
	done
	# The iptables node: client and servers in namespaces of their own, routed through it.
	node=$(netns_add iptnode) && cli=$(netns_add iptcli) || die "netns"
	ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$node" link add calic type veth peer name eth0 netns "$cli"
	ip -n "$node" addr add 10.251.0.1/24 dev calic
	ip -n "$node" link set calic up
	ip -n "$cli" addr add 10.251.0.2/24 dev eth0
	ip -n "$cli" link set eth0 up
	ip -n "$cli" route add default via 10.251.0.1
	i=1
	for n in "${NS_ALL[@]}"; do
		srv=$(netns_add "ipts$n") || die "netns"
		ip -n "$node" link add "calis$n" type veth peer name eth0 netns "$srv"
		ip -n "$node" addr add "10.251.$i.1/24" dev "calis$n"
		ip -n "$node" link set "calis$n" up
		ip -n "$srv" addr add "10.251.$i.2/24" dev eth0
		ip -n "$srv" link set eth0 up
		ip -n "$srv" route add default via "10.251.$i.1"
		CRR_IP[ipt,$n]=10.251.$i.2
		CRR_IP[pl,$n]=$(pod_ip perf "crr-s$n")
		taskset -c "$CPU" ip netns exec "$srv" "$TOOL" server 8080 7200 &
		PIDS+=($!)
		taskset -c "$CPU" ip netns exec "$(pod_netns perf "crr-s$n")" "$TOOL" server 8080 7200 &
		PIDS+=($!)
		i=$((i + 1))
	done
	for g in 0 1 2 3 4 5 6 7 8 9; do
		# The client, and addresses of other pods the selector would match.
		{ echo "create cali40s:g$g hash:ip family inet"
		  echo "add cali40s:g$g 10.251.0.2"
		  for ((k = 10; k < 60; k++)); do echo "add cali40s:g$g 10.252.$g.$k"; done
		} | ip netns exec "$node" ipset restore || die "ipset restore"
	done
	t0=$(now_us)
	$GEN calico "${NS_ALL[@]}" | ip netns exec "$node" iptables-restore -w ||
		die "iptables-restore failed"
	IPT_INSTALL_MS=$(( ($(now_us) - t0) / 1000 ))
	for n in "${counts[@]}"; do
		CRR_IPT_RULES[$n]=$(ip netns exec "$node" iptables-nft -S |
			grep -cE -- "-A (cali-tw-calis$n|cali-pi-crr-$n-[0-9]+) ")
	done
fi
measure_crr() {	# measure_crr <pl|ipt> <N>
	local ns out
	if [ "$1" = pl ]; then ns=$(pod_netns perf crr-client); else ns=$(netns_name iptcli); fi
	out=$(taskset -c "$CPU" ip netns exec "$ns" "$TOOL" crr "${CRR_IP[$1,$2]}" 8080 "$SECS")
	echo "${out%% *}"
}

# Both must really work, and a port no rule admits must be dropped, before anything is timed.
try() {	# try <pl|ipt> <N> <port>: one connection attempt from the client
	local ns
	if [ "$1" = pl ]; then ns=$(pod_netns perf crr-client); else ns=$(netns_name iptcli); fi
	ip netns exec "$ns" "$TOOL" try "${CRR_IP[$1,$2]}" "$3" 300
}
if part crr; then
	for n in "${NS_ALL[@]}"; do
		for c in pl ipt; do
			v=$(try "$c" "$n" 8080)
			[ "$v" = ok ] || die "crr: $c, N=$n: port 8080 is not open ($v)"
			v=$(try "$c" "$n" 8081)
			want=timeout
			[ "$n" = 0 ] && want=refused
			[ "$v" = $want ] || die "crr: $c, N=$n: port 8081 gave $v, not $want"
		done
	done
fi

# ---- the measured rounds ------------------------------------------------------------------------
if part rr || part crr; then
	for ((r = 1; r <= RUNS; r++)); do
		log "round $r/$RUNS"
		if part rr; then
			for t in veth open pol; do RR[$t]+="$(measure_rr "$t") "; done
		fi
		if part crr; then
			for n in "${NS_ALL[@]}"; do
				for c in pl ipt; do CRR[$c,$n]+="$(measure_crr "$c" "$n") "; done
			done
		fi
	done
fi

echo "## bench-policy.sh, $(date -u +%Y-%m-%d), $(nproc) vCPUs, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
if part pkt; then
	echo "### Per packet (BPF_PROG_TEST_RUN, test_policy_dp --bench -n $PKTS)"
	echo
	echo "$PKT_TABLE"
	echo
	summary "per packet, new connection, 0 / 100 / 10,000 rules (ns)" \
		"$P_NONE (no policy) / $P_100 / $P_10K (1 rule: $P_1); known connection $P_KNOWN; empty program $P_FLOOR" \
		"10,000 vs 100: $(ratio "$P_10K" "$P_100")x" "-"
fi
if part rr; then
	declare -A RR_MED
	for t in veth open pol; do RR_MED[$t]=$(echo "${RR[$t]}" | median); done
	echo "### Pod-to-pod TCP RR (qperf tcp_lat -m 1, $RUNS runs of $SECS s interleaved, medians)"
	echo
	echo "| topology | trans/s | range | vs veth |"
	echo "|---|---:|---:|---:|"
	echo "| direct veth pair (limit) | ${RR_MED[veth]} | $(echo "${RR[veth]}" | minmax) | 1.00 |"
	echo "| podlane, no policy | ${RR_MED[open]} | $(echo "${RR[open]}" | minmax) | $(ratio "${RR_MED[open]}" "${RR_MED[veth]}") |"
	echo "| podlane, 100 policies select both pods (ingress + egress; $RR_ENTRIES entries) | ${RR_MED[pol]} | $(echo "${RR[pol]}" | minmax) | $(ratio "${RR_MED[pol]}" "${RR_MED[veth]}") |"
	echo
	v=$(ratio "${RR_MED[pol]}" "${RR_MED[veth]}")
	summary "TCP RR, 100 policies, vs veth pair" "${v}x (no policy $(ratio "${RR_MED[open]}" "${RR_MED[veth]}")x)" \
		">= 0.93x" "$(meets "$v" 0.93 '>=')"
fi
if part crr; then
	declare -A CRR_MED
	for n in "${NS_ALL[@]}"; do
		for c in pl ipt; do CRR_MED[$c,$n]=$(echo "${CRR[$c,$n]}" | median); done
	done
	base=${counts[0]} last=${counts[$((${#counts[@]} - 1))]}
	echo "### New connections/s to a pod whose ingress N rules admit ($RUNS runs of $SECS s, medians)"
	echo
	echo "| rules | podlane entries | iptables rules on the path | podlane conn/s | range | iptables conn/s | range | podlane / iptables | podlane vs N=$base | iptables vs N=$base |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in "${NS_ALL[@]}"; do
		echo "| $n$([ "$n" = 0 ] && echo ' (not isolated)') | ${CRR_ENTRIES[$n]:-0} | ${CRR_IPT_RULES[$n]:-0} | ${CRR_MED[pl,$n]} | $(echo "${CRR[pl,$n]}" | minmax) | ${CRR_MED[ipt,$n]} | $(echo "${CRR[ipt,$n]}" | minmax) | $(ratio "${CRR_MED[pl,$n]}" "${CRR_MED[ipt,$n]}") | $(ratio "${CRR_MED[pl,$n]}" "${CRR_MED[pl,$base]}") | $(ratio "${CRR_MED[ipt,$n]}" "${CRR_MED[ipt,$base]}") |"
	done
	echo
	echo "iptables: Calico's layout in a node namespace (pods routed through it, not podlane's"
	echo "redirect between pods), 10 ipsets; iptables-restore of all of it took $IPT_INSTALL_MS ms."
	echo
	v=$(ratio "${CRR_MED[pl,$last]}" "${CRR_MED[pl,$base]}")
	summary "new conn/s, podlane at $last rules vs at $base" "${v}x" ">= 0.95x" "$(meets "$v" 0.95 '>=')"
	v=$(ratio "${CRR_MED[pl,$last]}" "${CRR_MED[ipt,$last]}")
	summary "new conn/s at $last rules, podlane vs iptables+ipset" "${v}x (${CRR_MED[pl,$last]} vs ${CRR_MED[ipt,$last]})" \
		">= 2x" "$(meets "$v" 2 '>=')"
fi
if part latency; then
	echo "### Enforcement latency, $PODS pods and $PODS policies ($SAMPLES samples)"
	echo
	echo "| from | p50 (ms) | p99 (ms) | max (ms) |"
	echo "|---|---:|---:|---:|"
	echo "| \`podlanectl policy add\` to the first blocked connection | $(ms "$(echo "${LAT[*]}" | pct 50)") | $(ms "$(echo "${LAT[*]}" | pct 99)") | $(ms "$(echo "${LAT[*]}" | pct 100)") |"
	echo "| podlaned's own work for the change (podlane_policy_last_sync_seconds: compile and map writes) | $(ms "$(echo "${SYNC[*]}" | pct 50)") | $(ms "$(echo "${SYNC[*]}" | pct 99)") | $(ms "$(echo "${SYNC[*]}" | pct 100)") |"
	echo "| \`podlanectl policy add\` returning | $(ms "$(echo "${CLI[*]}" | pct 50)") | $(ms "$(echo "${CLI[*]}" | pct 99)") | $(ms "$(echo "${CLI[*]}" | pct 100)") |"
	echo "| \`podlanectl policy del\` to the first open connection | $(ms "$(echo "${UNB[*]}" | pct 50)") | $(ms "$(echo "${UNB[*]}" | pct 99)") | $(ms "$(echo "${UNB[*]}" | pct 100)") |"
	if grep -rqs 'policy_apply' "$PL_ROOT/userspace/podlaned/sync"; then
		echo "| etcd write | not measured by this version of the bench | | |"
	else
		echo "| etcd write | not measured: podlaned does not apply /podlane/v1/policies/ from etcd in this build | | |"
	fi
	echo
	echo "Pods: real ones (a netns each, CNI ADD with labels; $PODS_S s to create them all); the"
	echo "client connects once a millisecond (a non-blocking connect, 200 ms to answer); the"
	echo "policy isolates the target for ingress with no rule. Adding all $PODS policies in one"
	echo "\`policy add -f\` took $ADD_ALL_MS ms."
	echo
	v=$(ms "$(echo "${LAT[*]}" | pct 99)")
	summary "enforcement latency, policy add to first blocked connection, $PODS pods, $PODS policies" \
		"p50 $(ms "$(echo "${LAT[*]}" | pct 50)") ms, p99 $v ms" "p99 < 100 ms" "$(meets "$v" 100 '<')"
fi
if part mem; then
	per() { awk -v a="$1" -v b="$2" -v n="$PODS" 'BEGIN { printf "%.1f", (a - b) / n }'; }
	echo "### Policy map memory, $PODS pods"
	echo
	echo "| rule sets | podlane_policy entries | rule sets written | podlane_policy bytes | bytes per pod | isolated endpoints | ipcache bytes | agent RSS (kB) | RSS per pod (B) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for m in base shared distinct; do
		case $m in
		base) l="no policy in namespace scale" ;;
		shared) l="10 policies: 10 distinct sets" ;;
		distinct) l="$PODS policies: one set per pod" ;;
		esac
		echo "| $l | ${MEM[$m,entries]} | ${MEM[$m,sets]} | ${MEM[$m,bytes]} | $(per "${MEM[$m,bytes]}" "${MEM[base,bytes]}") | ${MEM[$m,ep]} | ${MEM[$m,ipc_bytes]} | ${MEM[$m,rss]} | $(per "$(( ${MEM[$m,rss]} * 1024 ))" "$(( ${MEM[base,rss]} * 1024 ))") |"
	done
	echo
	echo "Bytes: bpftool's bytes_memlock (the kernel's count for an LPM trie without"
	echo "preallocation: its entries present); per pod: the difference to the first row over $PODS pods."
	echo "podlane_ep_policy is a preallocated hash (an entry per endpoint, its memory fixed by"
	echo "--max-endpoints); isolated endpoints: its entries with a rule set. $((PODS - 2)) pods are selected in both cases; ${MEM[base,ids]} identities."
	echo
	summary "policy map bytes per pod, $PODS pods, 10 shared sets vs one set per pod" \
		"$(per "${MEM[shared,bytes]}" "${MEM[base,bytes]}") vs $(per "${MEM[distinct,bytes]}" "${MEM[base,bytes]}")" \
		"grows with distinct sets" "-"
fi

echo "### Summary"
echo
echo "| figure | measured | target | verdict |"
echo "|---|---|---|---|"
printf '%s\n' "${SUMMARY[@]}"
exit 0
