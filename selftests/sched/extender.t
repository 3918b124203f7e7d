#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/sched/extender.t - podlaned's kube-scheduler extender (--extender-addr): hint
# records of fake nodes written straight into etcd with chosen parts and timestamps, then
# requests shaped like kube-scheduler's (a v1 Pod with containers and resources.requests; a
# NodeList of full node objects, or NodeNames when nodeCacheCapable) to <prefix>/filter and
# <prefix>/prioritize: a saturated node is filtered with a reason; scores order by pressure;
# a node busy but not pressured (utilization only) keeps a full score; a stale node and one
# without hints pass filter and score 0; a burst of prioritize calls spreads over equal nodes
# (pending placements), a charge follows its pod to the node whose endpoint record names it and
# lapses after the TTL; malformed JSON, a wrong method, an unknown path, a missing Pod get 400
# with Error, an oversized body 413 with Error; metrics and `podlanectl hints --cluster` show
# it all; the agent is alive at the end.
#
# etcd: one member with the test's own CA on loopback (selftests/etcd/etcd_cluster.sh).
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../etcd/etcd_cluster.sh
. "$(dirname "$0")/../etcd/etcd_cluster.sh"

require_root
require_cmd etcd etcdctl openssl ss jq curl
require_build podlaned podlanectl
[ -d /sys/fs/bpf ] || skip_all "bpffs is not mounted at /sys/fs/bpf"
pl_setup
on_cleanup agent_kill
on_cleanup etcd_cluster_kill
make_pki && pick_ports || skip_all "no etcd ports or certificates"
etcd_single_start
poll 30 etcd_healthy
ok $? "etcd with TLS on loopback"

# Ports of the block pick_ports checked free that a single member leaves unused.
EXT=127.0.0.1:$((ETCD_BASE + 2))
MET=127.0.0.1:$((ETCD_BASE + 3))
URL=http://$EXT/podlane
NODE=sx$((PL_ID % 1000))
# shellcheck disable=SC2046 # etcd_agent_opts prints options, one word each
agent_start $(etcd_agent_opts) --node-name "$NODE" --node-ip 192.0.2.1 --no-node-routes \
	--extender-addr "$EXT" --metrics-addr "$MET" --extender-saturated 80 \
	--extender-stale-ms 20000 --extender-max-body 65536 --extender-pending-ttl-ms 10000
ok $? "podlaned with --extender-addr $EXT"

now_ns() { date +%s%N; }
# put_hint <node> <cpu> <cpu_pressure> <runq> <memory> [age-seconds]: a hint record as an
# agent writes it, "updated" age seconds ago.
put_hint() {
	local score=$2 dom=cpu v
	for v in "$3:cpu_pressure" "$4:runq" "$5:memory"; do
		[ "${v%%:*}" -gt "$score" ] && { score=${v%%:*}; dom=${v#*:}; }
	done
	ectl put "/podlane/v1/hints/$1" "$(jq -cn --arg n "$1" --arg d "$dom" --argjson s "$score" \
		--argjson c "$2" --argjson p "$3" --argjson r "$4" --argjson m "$5" \
		--argjson u "$(( $(now_ns) - ${6:-0} * 1000000000 ))" \
		'{node: $n, score: $s, dominant: $d, cpu: $c, runq: $r, memory: $m, traffic: 0,
		  cpu_headroom: (100 - $c), cpu_pressure: $p, cpus: 2, seq: 7, updated: $u}')" \
		>/dev/null
}
cluster() { ctl --json hints --cluster; }
known() { cluster | jq -e --arg n "$1" '.nodes[] | select(.node == $n and .known)' >/dev/null; }

put_hint n-idle 0 0 0 0 &&
put_hint n-util 100 0 0 0 &&
put_hint n-press 60 60 10 0 &&
put_hint n-mem 10 0 0 30 &&
put_hint n-sat 100 95 50 0 &&
put_hint n-stale 0 0 0 0 60 &&
poll 10 known n-stale && poll 10 known n-sat
ok $? "hint records of six fake nodes reached the agent's cluster view"

# ---- requests as kube-scheduler sends them ----
POD='{"metadata":{"name":"web-1","namespace":"shop","uid":"0c5f1f8e-7a8e-4b8e-9d0e-1f2a3b4c5d6e",
 "creationTimestamp":null,"labels":{"app":"web"}},
 "spec":{"containers":[{"name":"app","image":"registry.local/web:1.0",
  "resources":{"limits":{"cpu":"1","memory":"128Mi"},"requests":{"cpu":"500m","memory":"64Mi"}}},
  {"name":"sidecar","image":"registry.local/proxy:2","resources":{"requests":{"cpu":"100m"}}}],
  "restartPolicy":"Always","schedulerName":"default-scheduler","priority":0},
 "status":{"phase":"Pending","qosClass":"Burstable"}}'
pod() { jq -c --arg n "$1" --arg c "${2:-500m}" '.metadata.name = $n |
	.spec.containers[0].resources.requests.cpu = $c' <<< "$POD"; }
ALL=(n-idle n-util n-press n-mem n-sat n-stale n-none)
# node_list <names...>: ExtenderArgs with a v1 NodeList of full node objects (one jq for all)
node_list() {
	printf '%s\n' "$@" | jq -Rcs --argjson p "$(pod web-1)" 'split("\n")[:-1] |
		map({metadata: {name: ., uid: ("uid-" + .), resourceVersion: "42",
			labels: {"kubernetes.io/hostname": ., "kubernetes.io/os": "linux"}},
		     spec: {podCIDR: "10.244.1.0/24"},
		     status: {capacity: {cpu: "2", memory: "4Gi", pods: "110"},
			      allocatable: {cpu: "2", memory: "3800Mi", pods: "110"},
			      conditions: [{type: "Ready", status: "True", reason: "KubeletReady"}]}}) |
		{Pod: $p, Nodes: {metadata: {resourceVersion: "7"}, items: .}, NodeNames: null}'
}
node_names() {	# node_names <pod-json> <names...>: ExtenderArgs with NodeNames
	local p=$1
	shift
	jq -cn --argjson p "$p" --argjson n "$(printf '%s\n' "$@" | jq -Rcs 'split("\n")[:-1]')" \
		'{Pod: $p, Nodes: null, NodeNames: $n}'
}
# post <verb> <body-file> [curl options...]: the HTTP status; the body in $PL_TMP/reply
post() {
	local verb=$1 f=$2
	shift 2
	curl -s -o "$PL_TMP/reply" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--max-time 5 "$@" --data-binary "@$f" "$URL/$verb"
}

node_list "${ALL[@]}" > "$PL_TMP/filter-list.json"
code=$(post filter "$PL_TMP/filter-list.json")
R=$PL_TMP/reply
[ "$code" = 200 ] && jq -e '.Error == "" and .NodeNames == null and
	(.Nodes.items | map(.metadata.name) | sort) ==
		(["n-idle","n-mem","n-none","n-press","n-stale","n-util"]) and
	(.Nodes.items[0].status.capacity.cpu == "2") and
	(.FailedNodes | keys) == ["n-sat"] and .FailedAndUnresolvableNodes == {}' "$R" >/dev/null
ok $? "filter (NodeList): n-sat filtered out, the other nodes' full objects returned"
reason=$(jq -r '.FailedNodes["n-sat"]' "$R")
[[ $reason == *"saturated"*"pressure 95 >= 80"*"cpu_pressure 95"* ]]
ok $? "its reason reads: $reason"

node_names "$(pod web-1)" "${ALL[@]}" > "$PL_TMP/filter-names.json"
code=$(post filter "$PL_TMP/filter-names.json")
[ "$code" = 200 ] && jq -e '.Nodes == null and (.NodeNames | sort) ==
	["n-idle","n-mem","n-none","n-press","n-stale","n-util"] and
	(.FailedNodes | keys) == ["n-sat"]' "$R" >/dev/null
ok $? "filter (NodeNames, nodeCacheCapable): the same nodes, by name"

node_names "$(pod order-1)" "${ALL[@]}" > "$PL_TMP/prio.json"
code=$(post prioritize "$PL_TMP/prio.json")
score() { jq -r --arg n "$1" '.[] | select(.Host == $n) | .Score' "$R"; }
[ "$code" = 200 ] && jq -e 'length == 7 and all(.[]; .Score >= 0 and .Score <= 10)' "$R" >/dev/null
ok $? "prioritize: a HostPriorityList of every node, scores 0..10"
diag "scores: $(jq -c 'map({(.Host): .Score}) | add' "$R")"
[ "$(score n-idle)" -gt "$(score n-mem)" ] && [ "$(score n-mem)" -gt "$(score n-press)" ] &&
	[ "$(score n-press)" -gt "$(score n-sat)" ]
ok $? "ordered by pressure: idle $(score n-idle) > memory 30 $(score n-mem) > cpu_pressure 60 $(score n-press) > saturated $(score n-sat)"
[ "$(score n-util)" = "$(score n-idle)" ] && [ "$(score n-util)" = 10 ]
ok $? "n-util (100% busy, nobody waiting) scores like an idle node: $(score n-util)"
[ "$(score n-stale)" = 0 ] && [ "$(score n-none)" = 0 ]
ok $? "stale (60 s old) and unknown nodes score 0, never favoured"
cluster | jq -e '.nodes[] | select(.node == "n-stale") | .stale and .known' >/dev/null &&
	cluster | jq -e '.nodes[] | select(.node == "n-idle") | (.stale | not)' >/dev/null
ok $? "hints --cluster marks n-stale stale, n-idle fresh"

# ---- a burst: equal idle nodes, pods placed faster than hints can show them ----
put_hint b1 0 0 0 0 && put_hint b2 0 0 0 0 && put_hint b3 0 0 0 0 &&
	poll 10 known b3 && poll 10 known b1
ok $? "three equal idle nodes b1 b2 b3"
winners=()
for i in 0 1 2 3 4 5; do
	node_names "$(pod "burst-$i" 500m)" b1 b2 b3 > "$PL_TMP/burst.json"
	[ "$(post prioritize "$PL_TMP/burst.json")" = 200 ] || break
	# kube-scheduler takes a highest score (ties at random): the set of highest here
	winners+=("$(jq -r 'max_by(.Score).Score as $m | map(select(.Score == $m) | .Host) |
		join("+")' "$R")")
done
diag "highest-scored per call: ${winners[*]}"
pend() { cluster | jq -r --arg n "$1" '.nodes[] | select(.node == $n) | .pending_pods'; }
[ ${#winners[@]} = 6 ] && [ "$(pend b1)" = 2 ] && [ "$(pend b2)" = 2 ] && [ "$(pend b3)" = 2 ]
ok $? "6 pods of 600m (500m + a 100m sidecar) spread 2/2/2 over b1 b2 b3 (pending: $(pend b1) $(pend b2) $(pend b3))"
[ "${winners[1]}" != "${winners[0]}" ] && [[ ${winners[1]} != *b1* ]]
ok $? "the second call no longer ranks the first call's node highest (${winners[1]})"
node_names "$(pod burst-0 500m)" b1 b2 b3 > "$PL_TMP/burst.json"
post prioritize "$PL_TMP/burst.json" >/dev/null
[ "$(cluster | jq '[.nodes[] | select(.node | startswith("b")) | .pending_pods] | add')" = 6 ]
ok $? "a retried pod moves its charge, it is not counted twice"

# The scheduler bound burst-0 elsewhere: b3's endpoint record names it, the charge follows.
ectl put "/podlane/v1/endpoints/b3/c-burst-0/eth0" '{"node":"b3","nodeIP":"192.0.2.13",
	"ip":"10.254.3.10","containerID":"c-burst-0","ifname":"eth0","network":"pods",
	"namespace":"shop","pod":"burst-0"}' >/dev/null
moved() { [ "$(pend b1)" = 1 ] && [ "$(pend b3)" = 3 ]; }
poll 10 moved
ok $? "burst-0 showed up on b3: its charge moved there (pending b1 $(pend b1), b3 $(pend b3))"

out=$(ctl hints --cluster)
grep -q '^n-sat .*saturated' <<< "$out" && grep -q '^n-stale .*stale' <<< "$out" &&
	grep -q '^b2 .*2 (1.20 cpu)' <<< "$out"
ok $? "podlanectl hints --cluster shows state and pending per node"
diag "$out"

# ---- bad requests: 400 with Error, never a crash ----
bad() {	# bad <expected-code> <description> <curl args...>
	local want=$1 desc=$2 code
	shift 2
	code=$(curl -s -o "$R" -w '%{http_code}' --max-time 5 "$@")
	[ "$code" = "$want" ] && jq -e '.Error | length > 0' "$R" >/dev/null
	ok $? "$desc: HTTP $code, Error: $(jq -r .Error "$R" 2>/dev/null | head -c 100)"
}
printf '{"Pod": {"metadata": {"name": "x"}}, "NodeNames": ["a"' > "$PL_TMP/trunc.json"
bad 400 "malformed JSON" -X POST --data-binary "@$PL_TMP/trunc.json" "$URL/filter"
bad 400 "GET instead of POST" "$URL/filter"
bad 400 "unknown path /podlane/bind" -X POST --data-binary "@$PL_TMP/prio.json" "$URL/bind"
echo '{"Nodes": null, "NodeNames": ["n-idle"]}' > "$PL_TMP/nopod.json"
bad 400 "no Pod" -X POST --data-binary "@$PL_TMP/nopod.json" "$URL/prioritize"
echo '{"Pod": {"metadata": {"name": "x"}}, "Nodes": null, "NodeNames": null}' > "$PL_TMP/none.json"
bad 400 "neither Nodes nor NodeNames" -X POST --data-binary "@$PL_TMP/none.json" "$URL/filter"
# 100 KB: over --extender-max-body 65536, with a Content-Length and chunked (no length)
node_list $(seq -f 'big-node-%03g' 1 200) > "$PL_TMP/big.json"
diag "oversized body: $(stat -c %s "$PL_TMP/big.json") bytes"
bad 413 "oversized body (Content-Length)" -X POST --data-binary "@$PL_TMP/big.json" \
	"$URL/filter"
bad 413 "oversized body (chunked)" -X POST -H 'Transfer-Encoding: chunked' \
	--data-binary "@$PL_TMP/big.json" "$URL/filter"

# ---- observability ----
curl -s --max-time 5 "http://$MET/metrics" > "$PL_TMP/metrics"
m() { awk -v k="$1" '$1 == k { print $2 }' "$PL_TMP/metrics"; }
[ "$(m 'podlane_extender_calls_total{verb="filter",outcome="ok"}')" -ge 2 ] &&
	[ "$(m 'podlane_extender_calls_total{verb="prioritize",outcome="ok"}')" -ge 8 ] &&
	[ "$(m 'podlane_extender_calls_total{verb="other",outcome="bad_request"}')" -ge 1 ] &&
	[ "$(m 'podlane_extender_calls_total{verb="filter",outcome="too_large"}')" -ge 2 ]
ok $? "metrics: calls by verb and outcome"
grep -q '^podlane_extender_request_seconds_bucket{verb="prioritize",le="+Inf"}' \
	"$PL_TMP/metrics" && grep -q '^podlane_extender_hint_age_seconds_count ' "$PL_TMP/metrics" &&
	[ "$(m 'podlane_cluster_node_score{node="n-press"}')" = "$(jq -r '.[0].Score' <<< \
		"$(curl -s -X POST --data-binary "$(node_names "$(pod m-1)" n-press)" "$URL/prioritize")")" ] &&
	[ "$(m 'podlane_cluster_node_stale{node="n-stale"}')" = 1 ] &&
	[ "$(m 'podlane_cluster_node_part{node="n-press",part="cpu_pressure"}')" = 60 ]
ok $? "metrics: request time and hint age histograms, per-node score, parts, stale"
# --extender-pending-ttl-ms 10000: the burst's charges lapse (b hints never show the pods)
none_pending() {
	[ "$(cluster | jq '[.nodes[] | select(.node | startswith("b")) | .pending_pods] |
		add')" = 0 ]
}
poll 15 none_pending
ok $? "after the TTL no charge is left (pending_total: $(curl -s "http://$MET/metrics" |
	grep -o 'event="\(released_ttl\|moved\)"} [0-9]*' | tr '\n' ' '))"

kill -0 "$PL_AGENT_PID" && agent_ready
ok $? "podlaned is alive after every request"
done_testing
