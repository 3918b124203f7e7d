#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/etcd/01-cluster.t - podlaned's control-plane sync against a three-member etcd
# cluster with TLS and client certificates: racing nodes get distinct pod CIDRs, endpoints
# and nodes propagate, a bad record becomes a dead letter without stalling the loop, killing
# one etcd member changes nothing, a killed agent's endpoints expire on the others within the
# lease TTL and come back when it restarts (the other nodes' entries untouched), and a watch
# from a compacted revision ends in a full resync. The watch gets no previous values (no
# prev_kv): deletes and IP changes are resolved from the agent's own key -> IP index, also
# for records it learned from a resync's list.
. "$(dirname "$0")/lib.sh"

etcd_requires
pl_setup
on_cleanup etcd_cleanup
LEASE_TTL=4

bail() { diag "$@"; echo "Bail out! $1"; exit 1; }

all_watching() { local i; for i in "$@"; do node_watching "$i" || return 1; done; }
all_know() {	# all_know <node> <ip> [<ip>...]
	local n=$1 ip
	shift
	for ip in "$@"; do remote_has "$n" "$ip" || return 1; done
}
none_know() {	# none_know <ip> <node>...
	local ip=$1 n
	shift
	for n in "$@"; do remote_lacks "$n" "$ip" || return 1; done
}
node_names() { nctl "$1" --json node list | jq -e "[.nodes[].name] | sort == $2" >/dev/null; }
deadletter_listed() { nctl 1 deadletters | grep -q "$1.*$2"; }
no_deadletter() { ! nctl 1 deadletters | grep -q "$1"; }
resynced_after_compaction() {
	[ "$(sync_field 4 '.counters.compactions >= 1 and .counters.resyncs >= 1 and
			   .state == "watching"')" = true ]
}


make_pki || bail "openssl failed"
pick_ports || skip_all "no free loopback ports for etcd"
mkdir -p "$(cgroup_dir)"
for i in 0 1 2; do etcd_member_start "$i"; done
poll 30 etcd_healthy || bail "etcd cluster did not come up" "$(tail -n 5 "$PL_TMP/etcd-m0.log")"

# Three nodes started together race for pod CIDRs.
for i in 1 2 3; do node_prepare "$i" || bail "no uplink veth for node $i"; done
node_start 1 --metrics-addr "127.0.0.1:$((ETCD_BASE + 6))"
node_start 2
node_start 3
check "three agents sync with the cluster over TLS" poll 30 all_watching 1 2 3 ||
	bail "agents did not sync" "$(tail -n 5 "$(node_dir 1)/podlaned.log")"
cidrs=$(for i in 1 2 3; do sync_field "$i" .pod_cidr; done)
diag "pod CIDRs: $(echo $cidrs)"
check "racing nodes got three distinct pod CIDRs" \
	test "$(echo "$cidrs" | grep -c /)" = 3 -a "$(echo "$cidrs" | sort -u | grep -c /)" = 3
check "allocation records name their nodes" \
	test "$(ectl get --prefix /podlane/v1/ipam/cidrs/ --print-value-only | sort | tr -d '\n')" = \
	'{"node":"n1"}{"node":"n2"}{"node":"n3"}'

ip1=$(pod_on 1 p1) && ip2=$(pod_on 2 p2) && ip3=$(pod_on 3 p3) || bail "pods not wired"
diag "pods: n1 $ip1, n2 $ip2, n3 $ip3"
check "each node's endpoints reach the other nodes' podlane_remote" \
	poll 10 eval 'remote_has 1 $ip2 $(node_ip 2) && remote_has 1 $ip3 $(node_ip 3) &&
		      remote_has 2 $ip1 $(node_ip 1) && remote_has 3 $ip2 $(node_ip 2)'
check "a node's own endpoints are not in its podlane_remote" remote_lacks 1 "$ip1"
check "nodes reach the other nodes' node tables" poll 10 node_names 1 '["n2","n3"]'

# Someone else deletes one of node 1's records: node 1's publisher thread puts it back.
key1=$(ectl get --prefix /podlane/v1/endpoints/n1/ --keys-only | head -n 1)
ectl del "$key1" >/dev/null
check "a node's own record deleted by someone else is put back ($key1)" \
	poll 10 eval 'test -n "$(ectl get "$key1" --print-value-only)" &&
		      remote_has 2 $ip1 $(node_ip 1)'
check "sync status times the main loop's jobs" \
	test "$(sync_field 1 '.loop.sync_snapshot.runs > 0 and .loop.service_tick.runs > 0')" = true

# A bad record: a dead letter, listed and counted, and the loop goes on.
ectl put /podlane/v1/endpoints/n9/bad/eth0 '{"ip":"10.1.2.300","nodeIP":"192.0.2.9"}' >/dev/null
ectl put /podlane/v1/services/default/bad \
	'{"name":"bad","clusterIP":"10.96.7.7","ports":[{"port":80,"protocol":"SCTP"}]}' >/dev/null
ectl put /podlane/v1/endpoints/n9/good/eth0 '{"ip":"10.1.2.3","nodeIP":"192.0.2.9"}' >/dev/null
check "a valid record after two bad ones is applied" poll 10 remote_has 1 10.1.2.3 192.0.2.9
check "podlanectl deadletters lists both bad records with their reasons" \
	eval 'deadletter_listed n9/bad/eth0 "ip: not an IPv4" &&
	      deadletter_listed services/default/bad SCTP'
check "the sync still watches after the dead letters" node_watching 1
check "dead letters are counted in the metrics" \
	eval 'curl -sf "http://127.0.0.1:$((ETCD_BASE + 6))/metrics" |
	      awk "/^podlane_sync_deadletters_total / { exit !(\$2 >= 2) }"'
# Node records pass the checks of `podlanectl node add`: a loopback pod CIDR, or one holding
# node 1's own address, is a dead letter (on node 1), not a route.
ectl put /podlane/v1/nodes/n8 '{"name":"n8","nodeIP":"192.0.2.8","podCIDR":"127.0.0.0/8"}' \
	>/dev/null
ectl put /podlane/v1/nodes/n7 \
	"{\"name\":\"n7\",\"nodeIP\":\"192.0.2.7\",\"podCIDR\":\"$(node_ip 1)/32\"}" >/dev/null
check "node records with a loopback pod CIDR or one holding the node's address are dead letters" \
	poll 10 eval 'deadletter_listed nodes/n8 "127.0.0.0/8 (loopback)" &&
		      deadletter_listed nodes/n7 "holds this node.s own address $(node_ip 1)"'
check "... and not nodes of node 1" node_names 1 '["n2","n3"]'
ectl del /podlane/v1/nodes/n8 >/dev/null
ectl del /podlane/v1/nodes/n7 >/dev/null
ectl del /podlane/v1/endpoints/n9/bad/eth0 >/dev/null
ectl del /podlane/v1/endpoints/n9/good/eth0 >/dev/null
check "a deleted key leaves the dead letters, a deleted endpoint the map" \
	poll 10 eval 'no_deadletter n9/bad && no_deadletter nodes/n7 && remote_lacks 1 10.1.2.3'

# An update that changes an endpoint's IP: the old IP goes, though etcd sends no old value.
ectl put /podlane/v1/endpoints/n9/move/eth0 '{"ip":"10.1.2.4","nodeIP":"192.0.2.9"}' >/dev/null
poll 10 remote_has 1 10.1.2.4 192.0.2.9 || diag "10.1.2.4 did not arrive"
ectl put /podlane/v1/endpoints/n9/move/eth0 '{"ip":"10.1.2.5","nodeIP":"192.0.2.9"}' >/dev/null
check "an update that changes an endpoint's IP removes the old IP" \
	poll 10 eval 'remote_has 1 10.1.2.5 192.0.2.9 && remote_lacks 1 10.1.2.4'
# That IP taken by another node since: the old record's delete leaves the new owner's entry.
stale_before=$(sync_field 1 .counters.ep_stale_deletes)
ectl put /podlane/v1/endpoints/n8/took/eth0 '{"ip":"10.1.2.5","nodeIP":"192.0.2.8"}' >/dev/null
poll 10 remote_has 1 10.1.2.5 192.0.2.8 || diag "10.1.2.5 did not move to 192.0.2.8"
ectl del /podlane/v1/endpoints/n9/move/eth0 >/dev/null
check "deleting a record whose IP another node took leaves that node's entry" \
	poll 10 eval 'test "$(sync_field 1 .counters.ep_stale_deletes)" -gt "$stale_before" &&
		      remote_has 1 10.1.2.5 192.0.2.8'
ectl del /podlane/v1/endpoints/n8/took/eth0 >/dev/null
poll 10 remote_lacks 1 10.1.2.5 || diag "10.1.2.5 still in node 1's map"

# Kill the etcd member node 1 talks to: nothing changes, changes still flow.
first=$(sync_field 1 .endpoint)
victim=0
for m in 0 1 2; do [ "$(client_url $m)" = "$first" ] && victim=$m; done
before=$(sync_field 1 .remote_endpoints)
etcd_member_kill "$victim"
diag "killed etcd member m$victim ($first)"
ip2b=$(pod_on 2 p2b)
check "with one etcd member killed (m$victim no longer listens), a new endpoint still reaches node 1" \
	eval 'etcd_member_dead "$victim" && poll 15 remote_has 1 "$ip2b" "$(node_ip 2)"'
check "and nothing was removed (remote endpoints $before -> $((before + 1)))" \
	test "$(sync_field 1 .remote_endpoints)" = $((before + 1))

# While node 3 dies and comes back, node 2's endpoints must never leave node 1's map: a
# bounded watcher looks as often as bpftool allows (every 0.5-1 s) and writes down every miss.
gap_watch() {
	local i=0
	while [ ! -e "$PL_TMP/gap.stop" ] && [ $i -lt 1200 ]; do
		all_know 1 "$ip2" "$ip2b" || echo "miss $(date +%s.%N)" >> "$PL_TMP/gap.miss"
		sleep 0.05
		i=$((i + 1))
	done
	echo "$i" > "$PL_TMP/gap.looks"
}
: > "$PL_TMP/gap.miss"
gap_watch &
GAP_PID=$!

# Kill node 3's agent: its endpoints expire on the others within the lease TTL.
t0=$(date +%s%N)
node_kill 3 KILL
check "node 3's endpoint expires on nodes 1 and 2 within the lease TTL (${LEASE_TTL}s + 2s)" \
	poll $((LEASE_TTL + 2)) none_know "$ip3" 1 2
diag "expired after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
node_start 3
check "restarted node 3's endpoint is back on nodes 1 and 2" \
	poll 15 eval 'remote_has 1 $ip3 && remote_has 2 $ip3'
touch "$PL_TMP/gap.stop"
wait "$GAP_PID"
check "node 1 kept node 2's endpoints all along ($(wc -l < "$PL_TMP/gap.miss") misses in $(cat "$PL_TMP/gap.looks") looks)" \
	eval '[ ! -s "$PL_TMP/gap.miss" ] && [ "$(cat "$PL_TMP/gap.looks")" -gt 3 ] &&
	      all_know 1 $ip2 $ip2b'

# A watch from a compacted revision: full resync, same result.
ectl put /podlane/v1/endpoints/n9/old1/eth0 '{"ip":"10.1.2.8","nodeIP":"192.0.2.9"}' >/dev/null
ectl put /podlane/v1/endpoints/n9/old2/eth0 '{"ip":"10.1.2.9","nodeIP":"192.0.2.9"}' >/dev/null
rev=$(ectl endpoint status -w json | jq '.[0].Status.header.revision')
ectl compact "$rev" >/dev/null
node_prepare 4
PODLANE_SYNC_REPLAY_FROM=1 node_start 4
check "a watch from a compacted revision resyncs fully" poll 20 resynced_after_compaction
check "and the resynced node knows every endpoint" \
	poll 10 all_know 4 "$ip1" "$ip2" "$ip2b" "$ip3" 10.1.2.8 10.1.2.9
# Records node 4 knows only from the resync's list: their deletes and IP changes still resolve.
ectl del /podlane/v1/endpoints/n9/old1/eth0 >/dev/null
ectl put /podlane/v1/endpoints/n9/old2/eth0 '{"ip":"10.1.2.10","nodeIP":"192.0.2.9"}' >/dev/null
check "after the resync, a listed record's delete removes its IP on node 4" \
	poll 10 remote_lacks 4 10.1.2.8
check "after the resync, a listed record's IP change removes the old IP on node 4" \
	poll 10 eval 'remote_has 4 10.1.2.10 192.0.2.9 && remote_lacks 4 10.1.2.9'
check "node 1 followed both changes as well" \
	poll 10 eval 'remote_lacks 1 10.1.2.8 && remote_lacks 1 10.1.2.9 && remote_has 1 10.1.2.10'
done_testing
