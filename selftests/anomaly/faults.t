#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/anomaly/faults.t - podlaned's anomaly alerts end to end: one agent, six pods wired
# by it (a netns each, plus a cgroup v2 child and, where memory is a v1 controller, a v1
# memory cgroup of the test's own, holding the pod's processes). Every pod runs the same light
# steady workload (a little CPU and a UDP datagram to a neighbour ten times a second). After
# one warm-up, three faults start at once: a CPU hog in one pod, a memory leak (a process that
# keeps allocating and touching 4 MiB chunks) in another, a drop burst (datagrams from a source
# address the pod does not own, which the datapath drops as source_spoofed) in a third. Each
# fault must be in `podlanectl events -o json` within 10 s of its start, in the follow stream,
# the table, the metrics and etcd (/podlane/v1/alerts/<node>, written by the sync) when etcd is
# installed; stopping the hog resolves its alert; the three steady pods raise nothing at all.
# Traffic stays in the test's pods; nothing touches eth0 of the host.
# shellcheck source=../agent/lib.sh
. "$(dirname "$0")/../agent/lib.sh"
# shellcheck source=../etcd/etcd_cluster.sh
. "$PL_ROOT/selftests/etcd/etcd_cluster.sh"

T_START=$(date +%s%N)
agent_requires
require_build podlanectl
require_cmd nsenter python3 curl promtool
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cg2" ] || skip_all "no cgroup v2 hierarchy mounted"
mem1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
if [ -z "$mem1" ] && ! grep -qw memory "$cg2/cgroup.subtree_control" 2>/dev/null; then
	skip_all "no memory controller for the pods' cgroups (v1 memory or v2 subtree_control)"
fi

pl_setup
WARMUP=10
NET=anomalytest
SUBNET=10.253.$((PL_ID % 200)).0/24
CGBASE=$cg2/podlane-anomaly-$PL_ID
MEMBASE=${mem1:+$mem1/podlane-anomaly-$PL_ID}
PODS=(s1 s2 s3 hog leak drop)
STEADY=(s1 s2 s3)

cg_cleanup() {
	local dir pid _
	for dir in "$CGBASE"/* "$MEMBASE"/*; do
		[ -d "$dir" ] || continue
		for _ in 1 2 3; do
			for pid in $(cat "$dir/cgroup.procs" 2>/dev/null); do
				kill -KILL "$pid" 2>/dev/null
			done
			sleep 0.1
			rmdir "$dir" 2>/dev/null && break
		done
	done
	rmdir "$CGBASE" 2>/dev/null
	[ -n "$MEMBASE" ] && rmdir "$MEMBASE" 2>/dev/null
	return 0
}
on_cleanup cg_cleanup
mkdir -p "$CGBASE" || { echo "Bail out! cannot create $CGBASE"; exit 1; }
[ -z "$MEMBASE" ] || mkdir -p "$MEMBASE" || { echo "Bail out! cannot create $MEMBASE"; exit 1; }

# 1: a bad option is refused before anything starts
out=$("$PL_BUILD/podlaned" --anomaly-k 0 2>&1)
rc=$?
ok $([ $rc -eq 2 ] && grep -q "anomaly-k wants a whole number" <<< "$out" && echo 0 || echo 1) \
	"--anomaly-k 0 is refused with exit 2 ($out)"

# etcd (one member) when installed: the sync publishes this node's alerts there.
agent_etcd=()
if command -v etcd >/dev/null && command -v etcdctl >/dev/null && command -v openssl >/dev/null
then
	if make_pki && pick_ports; then
		etcd_single_start
		on_cleanup etcd_cluster_kill
		if poll 20 etcd_healthy; then
			# shellcheck disable=SC2207
			agent_etcd=($(etcd_agent_opts) --node-name n1
				    --node-ip "192.168.$((PL_ID % 200 + 20)).1" --no-node-routes)
		else
			diag "etcd did not come up: the etcd checks are skipped"
		fi
	fi
fi

elapsed() { echo "$(( ($(date +%s%N) - T_START) / 1000000 )) ms"; }
diag "etcd ready at $(elapsed)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
agent_start --metrics-addr "127.0.0.1:$port" --anomaly-warmup "$WARMUP" "${agent_etcd[@]}" ||
	{ echo "Bail out! podlaned did not start"; exit 1; }

# Pods ------------------------------------------------------------------------------------
# in_pod <pod> <command...>: runs in the background in the pod's cgroups and netns, the
# cgroups first (the agent ties a pod to the cgroups of the processes in its netns).
in_pod() {
	local p=$1 mem=""
	shift
	[ -n "$MEMBASE" ] && mem="echo \$\$ > $MEMBASE/$p/cgroup.procs && "
	sh -c "echo \$\$ > $CGBASE/$p/cgroup.procs && $mem exec nsenter \
		--net=/run/netns/$(netns_name "$p") -- \"\$@\"" sh "$@" &
}

# The steady workload sends to the address in its peer file, once the file is there.
STEADY_PY='
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
peer = None
while True:
    sum(range(20000))
    if peer is None and os.path.exists(sys.argv[1]):
        peer = open(sys.argv[1]).read().strip() or None
    try:
        if peer:
            s.sendto(b"x" * 400, (peer, 9))
    except OSError:
        pass
    time.sleep(0.1)
'
# The workloads start before the pods are wired, so that the agent's first samples are of
# pods already running, not of interpreters starting on a busy machine.
for p in "${PODS[@]}"; do
	ns=$(netns_name "$p")
	ip netns add "$ns" || { echo "Bail out! netns $ns"; exit 1; }
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	mkdir "$CGBASE/$p" && { [ -z "$MEMBASE" ] || mkdir "$MEMBASE/$p"; } ||
		{ echo "Bail out! cgroups of $p"; exit 1; }
	in_pod "$p" python3 -c "$STEADY_PY" "$PL_TMP/peer-$p"
done
diag "workloads started at $(elapsed)"
sleep 2
declare -A IP
for p in "${PODS[@]}"; do
	IP[$p]=$(pod_add "$p" "$SUBNET" | jq -r .ip)
	[ -n "${IP[$p]}" ] && [ "${IP[$p]}" != null ] || { echo "Bail out! pod $p not wired"; exit 1; }
done
n=${#PODS[@]}
for i in "${!PODS[@]}"; do
	echo "${IP[${PODS[$(( (i + 1) % n ))]}]}" > "$PL_TMP/peer-${PODS[$i]}"
done

cids_json=$(for p in "${PODS[@]}"; do printf '"c-%s-%s"\n' "$p" "$PL_ID"; done | jq -sc .)
all_tied() {
	api '{"op":"acct"}' | jq -e --argjson c "$cids_json" \
		'[.pods[] | select(.container_id as $x | $c | index($x)) |
		  select(.cgroup != null and .memory_bytes != null)] | length == ($c | length)'
}
diag "pods wired at $(elapsed)"
poll 20 all_tied
ok $? "the six pods are tied to their cgroups, memory known"

# The detectors learn: WARMUP samples (one a second) once a pod's series are known; every
# pod's cpu, memory, memory_growth, drops and traffic (and runq, with the BPF accounting).
t_warm=$(date +%s%N)
warmed() {
	api '{"op":"anomaly_events"}' | jq -e '.series >= 30 and .warming == 0'
}
poll $((WARMUP * 3)) warmed
ok $? "every pod series is past its warm-up ($(( ($(date +%s%N) - t_warm) / 1000000 )) ms; $(api '{"op":"anomaly_events"}' | jq -c '{ticks, series, warming}'))"
pre=$(ctl events -o json | wc -l)
ok $([ "$pre" -eq 0 ] && echo 0 || echo 1) "no alert after the warm-up ($pre events)"

diag "faults start at $(elapsed)"
# Faults, all at once ---------------------------------------------------------------------
ns_drop=$(netns_name drop)
ip -n "$ns_drop" addr add "${SUBNET%.0/24}.250/32" dev eth0
ctl events -f -t 8 -o json > "$PL_TMP/follow.json" &
FOLLOW=$!
T0=$(date +%s%N)
in_pod hog sh -c 'while :; do :; done'
in_pod hog sh -c 'while :; do :; done'	# two: on a busy machine one gets a third of a CPU
in_pod leak python3 -c '
import time
keep = []
for _ in range(60):                      # 4 MiB every 0.2 s, 240 MiB at most
    b = bytearray(4 << 20)
    for i in range(0, len(b), 4096):     # touched: resident, not just reserved
        b[i] = 1
    keep.append(b)
    time.sleep(0.2)
time.sleep(3600)
'
in_pod drop python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
while True:
    for _ in range(20):
        try:
            s.sendto(b"spoofed", (sys.argv[2], 9))
        except OSError:
            pass
    time.sleep(0.1)
' "${SUBNET%.0/24}.250" "${IP[s1]}"

# fired <pod> <series...>: the first firing event of pod on one of the series, as JSON.
fired() {
	local p=$1
	shift
	ctl events -o json | jq -c --arg c "c-$p-$PL_ID" --args \
		'select(.state == "firing" and .container_id == $c and
			(.series as $s | $ARGS.positional | index($s)))' "$@" | head -n 1
}
all_fired() {
	[ -n "$(fired hog cpu runq)" ] && [ -n "$(fired leak memory_growth memory)" ] &&
		[ -n "$(fired drop drops)" ]
}
poll 15 all_fired
# A hog on a busy machine gets what CPU its share allows: its pod's run-queue wait is what
# jumps then, and either says "CPU hog".
for f in "hog cpu runq" "leak memory_growth memory" "drop drops"; do
	# shellcheck disable=SC2086
	ev=$(fired $f)
	p=${f%% *}
	if [ -z "$ev" ]; then
		ok 1 "fault in pod $p: no firing event on ${f#* } within 15 s"
		continue
	fi
	dt=$(( ($(jq .time_ns <<< "$ev") - T0) / 1000000 ))
	ok $([ "$dt" -le 10000 ] && echo 0 || echo 1) \
		"fault in pod $p reported $dt ms after it began: $(jq -r '"\(.series) value \(.value) baseline \(.baseline) z \(.z)"' <<< "$ev")"
done

HS=$(fired hog cpu runq | jq -r .series)
HS=${HS:-cpu}
diag "hog pod now: $(api '{"op":"acct"}' | jq -c --arg c "c-hog-$PL_ID" '.pods[] | select(.container_id == $c) | {cpu_seconds, rates, processes, cgroup}')"

# (jq 1.6's -e looks at the last input only: select over several needs grep.)
ctl events --active -o json | jq -c --arg c "c-hog-$PL_ID" \
	--arg s "$HS" 'select(.container_id == $c and .series == $s and .state == "firing" and
			   .seq == 0)' | grep -q .
rc=$?
ok $rc "events --active lists the hog's $HS alert as firing now"
[ $rc -eq 0 ] || diag "active: $(ctl events --active -o json 2>&1 | head -c 600)"
if [ ${#agent_etcd[@]} -gt 0 ]; then
	etcd_alerts() {
		ectl get /podlane/v1/alerts/n1 --print-value-only | jq -e --arg p "c-hog-$PL_ID" \
			--arg s "$HS" '.node == "n1" and
			([.alerts[] | select(.pod == $p and .series == $s)] |
			 length == 1) and (.updated > 0)'
	}
	poll 5 etcd_alerts
	ok $? "etcd: /podlane/v1/alerts/n1 holds the hog's $HS alert (written by the sync)"
else
	skip "etcd: /podlane/v1/alerts/n1 holds the hog's alert" "etcd is not installed or did not start"
fi

# The hog stops; meanwhile the other views.
for pid in $(cat "$CGBASE/hog/cgroup.procs"); do
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sh ] && kill -KILL "$pid" 2>/dev/null
done

# Where else the alerts show --------------------------------------------------------------
table=$(ctl events)
head -n 1 <<< "$table" | grep -q '^TIME  *STATE  *POD  *SERIES  *VALUE  *BASELINE  *Z  *PEAK  *SINCE$' &&
	grep -q "firing  *c-hog-$PL_ID  *$HS " <<< "$table"
ok $? "podlanectl events: a table with TIME STATE POD SERIES VALUE BASELINE Z PEAK SINCE"

metrics=$PL_TMP/metrics.txt
curl -sf "http://127.0.0.1:$port/metrics" > "$metrics"
awk -v hs="$HS" '$1 == "podlane_anomaly_alerts_total{series=\"" hs "\"}" && $2 >= 1 { a = 1 }
     $1 == "podlane_anomaly_alerts_total{series=\"drops\"}" && $2 >= 1 { b = 1 }
     $1 == "podlane_anomaly_active_alerts{series=\"cpu\"}" { c = 1 }
     END { exit !(a && b && c) }' "$metrics" && promtool check metrics < "$metrics" > /dev/null 2>&1
ok $? "metrics: podlane_anomaly_alerts_total ($HS, drops >= 1), _active_alerts; promtool passes"


# Lifecycle: the hog stopped (above), its alert resolves (k quiet samples) ----------------
resolved() {
	ctl events -o json | jq -c --arg c "c-hog-$PL_ID" \
		--arg s "$HS" 'select(.state == "resolved" and .container_id == $c and .series == $s)' |
		grep -q .
}
poll 12 resolved
rc=$?
ok $rc "the hog stopped: its $HS alert resolved"
[ $rc -eq 0 ] || diag "$(date +%s%N) $(ctl events -o json | tail -n 2)"
n_fire=$(ctl events -o json | jq -s --arg c "c-hog-$PL_ID" --arg s "$HS" \
	'[.[] | select(.container_id == $c and .series == $s and .state == "firing")] | length')
ok $([ "$n_fire" = 1 ] && echo 0 || echo 1) "one firing event for the hog's episode ($n_fire)"
if [ ${#agent_etcd[@]} -gt 0 ]; then
	etcd_no_hog() {
		! ectl get /podlane/v1/alerts/n1 --print-value-only | jq -e --arg p "c-hog-$PL_ID" \
			--arg s "$HS" '.alerts[] | select(.pod == $p and .series == $s)'
	}
	poll 5 etcd_no_hog
	ok $? "etcd: the resolved alert left /podlane/v1/alerts/n1"
else
	skip "etcd: the resolved alert left /podlane/v1/alerts/n1" "no etcd"
fi

wait "$FOLLOW" 2>/dev/null
jq -c --arg c "c-hog-$PL_ID" 'select(.state == "firing" and .container_id == $c)' \
	"$PL_TMP/follow.json" | grep -q .
rc=$?
ok $rc "events -f -o json printed the hog's alert as it came ($(wc -l < "$PL_TMP/follow.json") events)"
[ $rc -eq 0 ] || diag "$(head -c 600 "$PL_TMP/follow.json")"

# Steady pods: nothing over the whole test -------------------------------------------------
steady=$(for p in "${STEADY[@]}"; do printf 'c-%s-%s\n' "$p" "$PL_ID"; done | jq -Rsc 'split("\n") | map(select(. != ""))')
false_alerts=$(ctl events -o json | jq -c --argjson s "$steady" 'select(.container_id as $c | $s | index($c))')
ok $([ -z "$false_alerts" ] && echo 0 || echo 1) \
	"the steady pods raised no alert over the whole test${false_alerts:+: $false_alerts}"
diag "all events: $(ctl events -o json | jq -c '[.container_id, .series, .state, .z]' | tr '\n' ' ')"
diag "wall time $(( ($(date +%s%N) - T_START) / 1000000 )) ms"
done_testing
