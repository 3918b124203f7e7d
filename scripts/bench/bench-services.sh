#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-services.sh - one ClusterIP's cost with 10, 1,000 and 10,000 services
# installed, podlane against kube-proxy's iptables mode, side by side in one run.
#
# For every N and each contender an identical topology of three namespaces the bench owns:
#   cli (client) --veth-- node (routes, forwarding) --veth-- srv (two backend addresses)
# podlane: one podlaned per N (own pin root, state dir, socket and cgroup) holds N services;
#   its socket LB is attached to its cgroup (--cgroup) and the client runs in it, so the
#   ClusterIP is translated at connect() and the node only routes.
# iptables: the same services as kube-proxy's iptables mode lays them out (nat PREROUTING and
#   OUTPUT -> KUBE-SERVICES, one rule per service port -> KUBE-SVC-<hash> with KUBE-MARK-MASQ
#   and one `statistic --mode random --probability` rule per endpoint -> KUBE-SEP-<hash> with
#   KUBE-MARK-MASQ and DNAT; KUBE-POSTROUTING masquerades marked traffic), loaded with
#   iptables-restore into the node namespace (iptables 1.8.9, nf_tables backend).
# Every service has two backends (the two srv addresses, port 8080). The measured service is
# the middle one of KUBE-SERVICES, the average position a new connection scans to.
#
# Measures, with client and server pinned to one CPU (taskset -c 1, see platform notes):
#   CRR  new connections per second: connect, 1-byte request, 1-byte reply, close (RST, so
#        neither side keeps TIME_WAIT), through the ClusterIP
#   RR   1-byte request/response transactions per second on one connection to the ClusterIP
# RUNS rounds; each round measures every N and both contenders, so drift on a shared machine
# falls on all of them alike, not on whichever N ran last. Medians reported. The load tool is
# scripts/bench/tcpload.c, compiled into the bench's temp dir.
#
# Usage: sudo scripts/bench/bench-services.sh [-r RUNS] [-t SECONDS] [-n 10,1000,10000] [-c CPU]
# Prints a markdown table on stdout; progress goes to stderr.
set -u

RUNS=5
SECS=3
COUNTS="10,1000,10000"
CPU=1
while getopts "r:t:n:c:h" opt; do
	case $opt in
	r) RUNS=$OPTARG ;;
	t) SECS=$OPTARG ;;
	n) COUNTS=$OPTARG ;;
	c) CPU=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

# shellcheck source=../../selftests/lib.sh
. "$(dirname "$0")/../../selftests/lib.sh"

die() { echo "bench-services: $*" >&2; exit 1; }
log() { echo "bench-services: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root"
for c in iptables-restore iptables-nft jq taskset ip gcc python3; do
	command -v "$c" >/dev/null || die "needs $c (scripts/install-deps.sh installs it)"
done
for b in podlaned podlanectl; do
	[ -x "$PL_BUILD/$b" ] || die "$PL_BUILD/$b is not built (run make)"
done
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || die "no cgroup v2 hierarchy mounted"

pl_setup
PIDS=()
on_cleanup 'for p in "${PIDS[@]}"; do kill $p; done'
CG=$CG2/podlane-bench-$PL_ID

# ---- load tool --------------------------------------------------------------------------
TOOL=$PL_TMP/tcpload
gcc -O2 -Wall -o "$TOOL" "$(dirname "$0")/tcpload.c" || die "failed to build the load tool"

# ---- topologies ---------------------------------------------------------------------------
# topo <k> <tag>: cli 10.<k>.1.2 -> node (10.<k>.1.1 | 10.<k>.2.1) -> srv 10.<k>.2.2 and .3
topo() {
	local k=$1 cli node srv
	cli=$(netns_name "cli$2") node=$(netns_name "node$2") srv=$(netns_name "srv$2")
	ip netns add "$cli" && ip netns add "$node" && ip netns add "$srv" || return 1
	PL_NETNS+=("$cli" "$node" "$srv")
	for ns in "$cli" "$node" "$srv"; do ip -n "$ns" link set lo up; done
	ip -n "$node" link add c type veth peer name eth0 netns "$cli"
	ip -n "$node" link add s type veth peer name eth0 netns "$srv"
	ip -n "$node" addr add "10.$k.1.1/24" dev c
	ip -n "$node" addr add "10.$k.2.1/24" dev s
	ip -n "$cli" addr add "10.$k.1.2/24" dev eth0
	ip -n "$srv" addr add "10.$k.2.2/24" dev eth0
	ip -n "$srv" addr add "10.$k.2.3/24" dev eth0
	for l in c s; do ip -n "$node" link set "$l" up; done
	ip -n "$cli" link set eth0 up
	ip -n "$srv" link set eth0 up
	ip -n "$cli" route add default via "10.$k.1.1"
	ip -n "$srv" route add default via "10.$k.2.1"
	ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
	taskset -c "$CPU" ip netns exec "$srv" "$TOOL" server 8080 7200 &
	PIDS+=($!)
}

vip() { echo "10.96.$(($1 / 250)).$(($1 % 250 + 1))"; }

# specs <from> <to> <k>: services [from, to) as one JSON array for podlanectl --file
specs() {
	python3 - "$1" "$2" "$3" <<'PY'
import json, sys
a, b, k = map(int, sys.argv[1:])
print(json.dumps([{"name": "svc-%d" % i, "namespace": "bench",
                   "clusterIP": "10.96.%d.%d" % (i // 250, i % 250 + 1),
                   "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                   "backends": [{"ip": "10.%d.2.2" % k, "local": False},
                                {"ip": "10.%d.2.3" % k, "local": False}]}
                  for i in range(a, b)]))
PY
}

# kube_rules <n> <k>: kube-proxy's nat table for n services, iptables-restore format.
kube_rules() {
	python3 - "$1" "$2" <<'PY'
import base64, hashlib, sys
n, k = int(sys.argv[1]), int(sys.argv[2])
def h(prefix, s):
    return prefix + base64.b32encode(hashlib.sha256(s.encode()).digest()).decode()[:16]
chains, rules = [], []
cidr = "10.%d.0.0/16" % k
for i in range(n):
    name = "bench/svc-%d:http" % i
    vip = "10.96.%d.%d" % (i // 250, i % 250 + 1)
    svc = h("KUBE-SVC-", name + "tcp")
    chains.append(svc)
    rules.append('-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment "%s cluster IP" '
                 '-m tcp --dport 80 -j %s' % (vip, name, svc))
    rules.append('-A %s ! -s %s -d %s/32 -p tcp -m comment --comment "%s cluster IP" '
                 '-m tcp --dport 80 -j KUBE-MARK-MASQ' % (svc, cidr, vip, name))
    eps = ["10.%d.2.2:8080" % k, "10.%d.2.3:8080" % k]
    for j, ep in enumerate(eps):
        sep = h("KUBE-SEP-", name + "tcp" + ep)
        chains.append(sep)
        left = len(eps) - j
        prob = "" if left == 1 else " -m statistic --mode random --probability %.11f" % (1.0 / left)
        rules.append('-A %s -m comment --comment "%s -> %s"%s -j %s' % (svc, name, ep, prob, sep))
        rules.append('-A %s -s %s/32 -m comment --comment "%s" -j KUBE-MARK-MASQ'
                     % (sep, ep.split(":")[0], name))
        rules.append('-A %s -p tcp -m comment --comment "%s" -m tcp -j DNAT --to-destination %s'
                     % (sep, name, ep))
print("*nat")
for c in ["KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-MARK-MASQ", "KUBE-NODEPORTS"] + chains:
    print(":%s - [0:0]" % c)
print('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES')
print('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES')
print('-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING')
print('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000')
print('-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN')
print('-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0')
print('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
      '-j MASQUERADE --random-fully')
print("\n".join(rules))
print('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must '
      'be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
print("COMMIT")
PY
}

# ---- one podlaned per N -------------------------------------------------------------------
# agent_n <i>: podlaned number i with its own pin root, state dir, socket and cgroup.
agent_n() {
	local i=$1
	mkdir "$CG-$i" || return 1
	on_cleanup "rmdir $CG-$i"
	on_cleanup "[ -w $CG-$i/cgroup.kill ] && echo 1 > $CG-$i/cgroup.kill; sleep 0.2"
	on_cleanup "$PL_BUILD/podlaned --uninstall --pin-root $PL_PIN-$i --state-dir $PL_STATE-$i; rm -rf $PL_PIN-$i"
	"$PL_BUILD/podlaned" --pin-root "$PL_PIN-$i" --state-dir "$PL_STATE-$i" \
		--socket "$PL_TMP/pl$i.sock" --cgroup "$CG-$i" --log-file "$PL_TMP/podlaned-$i.log" \
		"${extra[@]}" &
	on_cleanup "kill $!; wait $!"
	poll 20 ctl_n "$i" status || return 1
}
ctl_n() { local i=$1; shift; "$PL_BUILD/podlanectl" --socket "$PL_TMP/pl$i.sock" "$@"; }

# run <pl|ipt> <i> <crr|rr> <vip>: one measurement, prints the rate (empty on failure).
run() {
	local out
	if [ "$1" = pl ]; then
		out=$(bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$CG-$2" \
			taskset -c "$CPU" ip netns exec "$(netns_name "clipl$2")" "$TOOL" "$3" "$4" 80 "$SECS")
	else
		out=$(taskset -c "$CPU" ip netns exec "$(netns_name "cliipt$2")" \
			"$TOOL" "$3" "$4" 80 "$SECS")
	fi
	echo "${out%% *}"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }

extra=()
"$PL_BUILD/podlaned" --help 2>&1 | grep -q -- --no-accounting && extra+=(--no-accounting)
declare -A R
IFS=, read -r -a counts <<< "$COUNTS"
for i in "${!counts[@]}"; do
	n=${counts[$i]} kp=$((71 + 2 * i)) ki=$((72 + 2 * i))
	topo "$kp" "pl$i" && topo "$ki" "ipt$i" || die "failed to build the topologies for N=$n"
	agent_n "$i" >/dev/null || die "podlaned for N=$n did not start"
	log "installing $n services in podlaned #$i (podlanectl service add --file) ..."
	specs 0 "$n" "$kp" > "$PL_TMP/specs.json"
	t0=$(date +%s%N)
	ctl_n "$i" service add --file "$PL_TMP/specs.json" >/dev/null ||
		die "podlanectl service add failed"
	R[pl_install,$n]=$(( ($(date +%s%N) - t0) / 1000000 ))
	log "loading $n services as kube-proxy iptables rules ..."
	kube_rules "$n" "$ki" > "$PL_TMP/rules"
	t0=$(date +%s%N)
	ip netns exec "$(netns_name "nodeipt$i")" iptables-restore -w < "$PL_TMP/rules" ||
		die "iptables-restore failed"
	R[ipt_install,$n]=$(( ($(date +%s%N) - t0) / 1000000 ))
	R[ipt_rules,$n]=$(ip netns exec "$(netns_name "nodeipt$i")" iptables-nft -t nat -S | wc -l)
	# Both paths must really work before they are timed.
	target=$(vip $((n / 2)))
	[ -n "$(run pl "$i" rr "$target")" ] || die "podlane: $target:80 does not answer (N=$n)"
	[ -n "$(run ipt "$i" rr "$target")" ] || die "iptables: $target:80 does not answer (N=$n)"
	log "N=$n: ${R[ipt_rules,$n]} nat rules; the measured service is $target:80"
	for m in crr rr; do for c in pl ipt; do R[$c,$m,$n]=""; done; done
done
log "measuring: $RUNS rounds, each every N x {crr, rr} x {podlane, iptables} for ${SECS}s"
for ((r = 1; r <= RUNS; r++)); do
	for i in "${!counts[@]}"; do
		n=${counts[$i]}
		for m in crr rr; do
			for c in pl ipt; do
				v=$(run "$c" "$i" "$m" "$(vip $((n / 2)))")
				R[$c,$m,$n]+="$v "
			done
		done
	done
	log "  round $r/$RUNS done"
done
for n in "${counts[@]}"; do
	for m in crr rr; do
		for c in pl ipt; do
			log "  N=$n $c $m: ${R[$c,$m,$n]}"
			R[$c,$m,$n,med]=$(printf '%s' "${R[$c,$m,$n]}" | median)
		done
	done
done
last=$((${#counts[@]} - 1))
lbstat=$(ctl_n "$last" --json service list bench/svc-0 | jq -c '.lbstat | {connect, no_backend}')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
base=${counts[0]}
echo "### One ClusterIP with N services installed: podlane (socket LB) vs kube-proxy iptables"
echo
echo "$(nproc) vCPUs, client and server on CPU $CPU, ${SECS} s per run, median of $RUNS rounds; each round"
echo "measures every N and both contenders (one podlaned and one iptables node per N)."
echo "CRR = new connections/s (connect, 1-byte request/reply, close), RR = 1-byte transactions/s"
echo "on one connection. Two backends per service; the measured one is in the middle of KUBE-SERVICES."
echo
echo "| services | iptables nat rules | podlane CRR/s | iptables CRR/s | CRR podlane/iptables | podlane CRR vs N=$base | podlane RR/s | iptables RR/s | RR podlane/iptables | podlane RR vs N=$base |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "${counts[@]}"; do
	echo "| $n | ${R[ipt_rules,$n]} | ${R[pl,crr,$n,med]} | ${R[ipt,crr,$n,med]} | $(ratio "${R[pl,crr,$n,med]}" "${R[ipt,crr,$n,med]}") | $(ratio "${R[pl,crr,$n,med]}" "${R[pl,crr,$base,med]}") | ${R[pl,rr,$n,med]} | ${R[ipt,rr,$n,med]} | $(ratio "${R[pl,rr,$n,med]}" "${R[ipt,rr,$n,med]}") | $(ratio "${R[pl,rr,$n,med]}" "${R[pl,rr,$base,med]}") |"
done
echo
echo "Install time: $(for n in "${counts[@]}"; do printf 'N=%s podlane %s ms (podlanectl service add --file), iptables-restore %s ms; ' "$n" "${R[pl_install,$n]}" "${R[ipt_install,$n]}"; done)"
echo "podlane lbstat (N=${counts[$last]}) at the end: $lbstat"
echo
echo "Raw runs:"
for n in "${counts[@]}"; do
	for m in crr rr; do
		echo "- N=$n $m: podlane [${R[pl,$m,$n]% }] iptables [${R[ipt,$m,$n]% }]"
	done
done
