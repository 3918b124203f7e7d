#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/recommend/agent.t - podlaned's sizing recommendations on live pods, on an isolated
# agent sampling every second (--recommend-interval 1): a pod spinning a busy loop is
# recommended more CPU than an idle one, which gets the 25m minimum; `podlanectl recommend`
# and its --json; the podlane_recommendation metrics through promtool; the checkpoint survives
# a restart (the histories come back, samples go on); a corrupt checkpoint is refused with the
# reason, moved aside, and the histories start empty; a bad --recommend-interval is refused.
# A "pod" is a netns wired by the agent plus a cgroup v2 child of our own holding a process
# of that netns (as in selftests/acct/agent.t).
# shellcheck source=../agent/lib.sh
. "$(dirname "$0")/../agent/lib.sh"

agent_requires
require_build podlanectl
require_cmd promtool curl nsenter
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cg2" ] || skip_all "no cgroup v2 hierarchy mounted"

pl_setup
CG1=$cg2/podlane-rec-$PL_ID-busy
CG2=$cg2/podlane-rec-$PL_ID-idle
PIDS=()
cg_cleanup() {
	local p cg _
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for cg in "$CG1" "$CG2"; do
		[ -d "$cg" ] || continue
		[ -w "$cg/cgroup.kill" ] && echo 1 > "$cg/cgroup.kill"
		for _ in $(seq 50); do
			rmdir "$cg" 2>/dev/null && break
			sleep 0.1
		done
	done
}
on_cleanup cg_cleanup
mkdir "$CG1" "$CG2" || { echo "Bail out! cannot create cgroups"; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start() { agent_start --recommend-interval 1 --metrics-addr "127.0.0.1:$port"; }
start || { echo "Bail out! podlaned did not start"; exit 1; }

pod_up() {
	local ns
	ns=$(netns_name "$1")
	ip netns add "$ns" || return 1
	pod_add "$1" 10.253.0.0/24 | jq -r .ip
}
ip1=$(pod_up busy)
ip2=$(pod_up idle)
[ -n "$ip1" ] && [ -n "$ip2" ] && [ "$ip1" != null ] || { echo "Bail out! pods not wired"; exit 1; }
cid1=c-busy-$PL_ID
cid2=c-idle-$PL_ID
nsenter --net=/run/netns/"$(netns_name busy)" sh -c "echo \$\$ > $CG1/cgroup.procs && exec sh -c 'while :; do :; done'" &
PIDS+=($!)
nsenter --net=/run/netns/"$(netns_name idle)" sh -c "echo \$\$ > $CG2/cgroup.procs && exec sleep 120" &
PIDS+=($!)

rec() { ctl recommend --json; }
pod_field() { jq -r --arg c "$1" ".pods[] | select(.container_id == \$c) | $2"; }
# Both pods tied and with at least $1 samples.
sampled() {
	local j
	j=$(rec) || return 1
	[ "$(pod_field "$cid1" .samples <<< "$j")" -ge "$1" ] 2>/dev/null &&
		[ "$(pod_field "$cid2" .samples <<< "$j")" -ge "$1" ] 2>/dev/null
}

# 1-3: busy versus idle ---------------------------------------------------------------------
poll 20 sampled 3
ok $? "both pods have 3 one-second samples ($SECONDS s into the test)"
j=$(rec)
busy=$(pod_field "$cid1" .cpu.target <<< "$j")
idle=$(pod_field "$cid2" .cpu.target <<< "$j")
diag "busy: $(pod_field "$cid1" '[.cpu, .memory, .confidence, .samples] | tostring' <<< "$j")"
diag "idle: $(pod_field "$cid2" '[.cpu, .memory, .confidence, .samples] | tostring' <<< "$j")"
ok $(python3 -c "import sys; b, i = $busy, $idle; sys.exit(0 if b >= 0.2 and b > 4 * i else 1)" && echo 0 || echo 1) \
	"the busy pod is recommended more CPU (target ${busy} cores) than the idle one (${idle})"
ok $(jq -e --arg c "$cid2" '.pods[] | select(.container_id == $c) |
	.cpu.target == 0.025 and .memory.target >= 262144000 and .live and
	.cpu.upper >= .cpu.target and .cpu.lower <= .cpu.target and .confidence > 0' <<< "$j" \
	> /dev/null && echo 0 || echo 1) \
	"the idle pod gets the minimums (25m, 250Mi); lower <= target <= upper; confidence > 0"

# 4: the table ------------------------------------------------------------------------------
out=$(ctl recommend)
grep -q "^${cid1:0:12} .* yes " <<< "$out" && grep -q "^${cid2:0:12} .* yes .*25m" <<< "$out" &&
	grep -q "one sample every 1s" <<< "$out"
ok $? "podlanectl recommend lists both pods"
diag "$out"

# 5-6: metrics ------------------------------------------------------------------------------
metrics=$PL_TMP/metrics.txt
curl -sf "http://127.0.0.1:$port/metrics" > "$metrics"
out=$(promtool check metrics < "$metrics" 2>&1)
ok $? "promtool check metrics passes"
[ -z "$out" ] || diag "$out"
n=$(grep -c "^podlane_recommendation{container_id=\"$cid1\",resource=\"\(cpu\|memory\)\",kind=\"\(target\|lower\|upper\)\"} [0-9]" "$metrics")
grep -q "^podlane_recommendation_samples{container_id=\"$cid2\"} [0-9]" "$metrics" &&
	grep -q "^podlane_recommendation_confidence{container_id=\"$cid1\"} [0-9]" "$metrics"
ok $([ $? -eq 0 ] && [ "$n" = 6 ] && echo 0 || echo 1) \
	"podlane_recommendation: 6 series per pod ($n), confidence and samples"

# 7-8: the checkpoint across a restart ------------------------------------------------------
before=$(rec | pod_field "$cid1" .samples)
agent_kill TERM
ck=$PL_STATE/recommend.json
ok $(jq -e --arg c "$cid1" '.format == "podlane-recommend" and .version == 1 and
	(.pods[] | select(.container_id == $c) | .history.samples > 0)' "$ck" > /dev/null &&
	echo 0 || echo 1) "shutdown writes the checkpoint ($(stat -c %s "$ck") bytes)"
start || { echo "Bail out! podlaned did not restart"; exit 1; }
more() { [ "$(rec | pod_field "$cid1" .samples)" -gt "$before" ] 2>/dev/null; }
poll 10 more
ok $([ $? -eq 0 ] && [ "$(rec | jq -r .restored)" = true ] && echo 0 || echo 1) \
	"after a restart the history comes back and grows ($before -> $(rec | pod_field "$cid1" .samples) samples)"

# 9-10: a corrupt checkpoint is refused -----------------------------------------------------
agent_kill TERM
python3 - "$ck" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["pods"][0]["history"]["cpu"]["buckets"].append([999, 1.0])
json.dump(d, open(sys.argv[1], "w"))
PY
start || { echo "Bail out! podlaned did not start on a corrupt checkpoint"; exit 1; }
j=$(rec)
ok $(jq -e '.restored == false and (.refused | test("bucket 999 outside 0..175"))' <<< "$j" \
	> /dev/null && [ -f "$ck.bad" ] &&
	grep "refusing recommendation checkpoint" "$PL_TMP/podlaned.log" |
		grep -F "file=$ck moved_to=$ck.bad" | grep -q "bucket 999 outside" &&
	echo 0 || echo 1) \
	"a corrupt checkpoint is refused with the reason, moved to recommend.json.bad"
diag "$(jq -r .refused <<< "$j")"
n1=$(pod_field "$cid1" .samples <<< "$j")
ok $([ -z "$n1" ] || [ "$n1" -lt "$before" ] && echo 0 || echo 1) \
	"and the histories start empty (busy pod: ${n1:-not sampled yet} samples)"

# 11: bad option ----------------------------------------------------------------------------
err=$("$PL_BUILD/podlaned" --recommend-interval 0 --pin-root "$PL_PIN" --state-dir "$PL_STATE" \
	--socket "$PL_TMP/other.sock" 2>&1)
rc=$?
ok $([ $rc -eq 2 ] && grep -q "recommend-interval wants seconds from 1 to 3600, got '0'" <<< "$err" &&
	echo 0 || echo 1) "--recommend-interval 0 is refused (exit $rc)"
diag "took $SECONDS s"
done_testing
