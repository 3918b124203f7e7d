#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/cni/concurrency.t - a runtime starting many pods at once: 64 ADDs in parallel,
# then 64 DELs in parallel. Every pod gets its own address, and afterwards nothing is left:
# no allocation, no host veth, no podlane_eps entry.
. "$(dirname "$0")/lib.sh"

require_root
require_build podlane-cni podlanectl podlaned
require_cmd python3 ip bpftool
require_bpffs
pl_setup

N=${PL_CNI_PODS:-64}
NET=conc$$
agent_start || skip_all "podlaned did not start"
CONF=$PL_TMP/conf.json
cni_conf "$CONF" "$NET" 10.253.0.0/24 1.0.0

for i in $(seq 1 "$N"); do
	ip netns add "$(netns_name "p$i")" || { diag "cannot create netns $i"; break; }
done

# run_all <command>: the plugin for every pod at once; per-pod stdout and exit code in $PL_TMP.
run_all() {
	local i pids=()
	for i in $(seq 1 "$N"); do
		CNI_COMMAND=$1 CNI_CONTAINERID="c$$-$i" CNI_NETNS="/run/netns/$(netns_name "p$i")" \
			CNI_IFNAME=eth0 CNI_PATH="$PL_BUILD:/usr/lib/cni" \
			timeout 120 "$PL_BUILD/podlane-cni" < "$CONF" > "$PL_TMP/$1.$i.out" \
			2> "$PL_TMP/$1.$i.err" &
		pids+=($!)
	done
	for i in $(seq 1 "$N"); do
		wait "${pids[$((i - 1))]}"
		echo $? > "$PL_TMP/$1.$i.rc"
	done
}

failed() {	# failed <command>: pods whose plugin run exited non-zero
	local i
	for i in $(seq 1 "$N"); do
		[ "$(cat "$PL_TMP/$1.$i.rc")" = 0 ] || echo "$i"
	done
}

run_all ADD
bad=$(failed ADD)
ok "$([ -z "$bad" ]; echo $?)" "$N parallel ADDs all succeed"
[ -z "$bad" ] || diag "failed pods: $bad" "first error: $(cat "$PL_TMP/ADD.${bad%%$'\n'*}.out")"

addrs=$(for i in $(seq 1 "$N"); do jget "$PL_TMP/ADD.$i.out" 'j["ips"][0]["address"]' 2>/dev/null; done)
check "$N distinct addresses, no duplicate" test "$(sort -u <<< "$addrs" | grep -c /32)" -eq "$N"
hosts=$(for i in $(seq 1 "$N"); do jget "$PL_TMP/ADD.$i.out" 'j["interfaces"][0]["name"]' 2>/dev/null; done)
check "$N distinct host veths" test "$(sort -u <<< "$hosts" | grep -c '^pl')" -eq "$N"
check "every pod holds the address its result names" bash -c '
	for i in $(seq 1 '"$N"'); do
		a=$(python3 '"$CNICHECK"' get '"$PL_TMP"'/ADD.$i.out "j[\"ips\"][0][\"address\"]")
		ip -n '"$(netns_name p)"'$i -o addr show dev eth0 | grep -q "inet $a " || exit 1
	done'
check "podlane_eps has $N entries" test "$(eps_count)" = "$N"
check "IPAM holds $N allocations" test "$(ipam_files "$NET" | wc -l)" -eq "$N"

run_all DEL
bad=$(failed DEL)
ok "$([ -z "$bad" ]; echo $?)" "$N parallel DELs all succeed"
[ -z "$bad" ] || diag "failed pods: $bad" "first error: $(cat "$PL_TMP/DEL.${bad%%$'\n'*}.out")"

check "IPAM state dir holds no allocation afterwards" test -z "$(ipam_files "$NET")"
# podlaned deletes host veths off the request path (endpoint/reaper.c): wait for them.
veths_left() {
	left=""
	for h in $hosts; do
		ip link show dev "$h" >/dev/null 2>&1 && left="$left $h"
	done
	[ -z "$left" ]
}
poll 10 veths_left
check "no host veth left within 10 s" test -z "$left"
check "podlane_eps is empty" test "$(eps_count)" = 0
done_testing
