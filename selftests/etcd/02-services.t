#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/etcd/02-services.t - services from etcd (/podlane/v1/services/<ns>/<name>) next to
# podlanectl's own: applied to the LB maps without a state file (etcd is their source of
# truth), updated and deleted through the watch, and carried over an agent restart by the
# pinned maps: without etcd the restarted agent keeps serving them, and once etcd is back
# its first full list adopts the unchanged ones as they are (same service id) and removes
# what etcd deleted meanwhile. podlanectl's service, persisted in a state file, stays.
. "$(dirname "$0")/lib.sh"

etcd_requires
pl_setup
on_cleanup etcd_cleanup
LEASE_TTL=10
X=$((PL_ID % 200 + 20))

bail() { diag "$@"; echo "Bail out! $1"; exit 1; }

svc_put() {	# svc_put <name> <json without name/namespace>
	ectl put "/podlane/v1/services/t$X/$1" "{\"name\":\"$1\",\"namespace\":\"t$X\",$2}" \
		>/dev/null
}
# fe_id <ip> <port>: the svc id behind the TCP frontend ip:port in node 1's podlane_svc.
fe_id() {
	local key b0 b1 b2 b3
	key="$(echo "$1" | tr . ' ') $(($2 >> 8)) $(($2 & 255)) 6 0"
	# shellcheck disable=SC2086
	read -r b0 b1 b2 b3 < <(bpftool -j map lookup pinned "$(node_pin 1)/podlane_svc" \
		key $key 2>/dev/null | jq -r '.value[0:4] | join(" ")')
	[ -n "$b3" ] && echo $((b0 | b1 << 8 | b2 << 16 | b3 << 24))
}
backends_of() {	# backends_of <name>: how many backends node 1 lists for t$X/<name>
	nctl 1 --json service list -n "t$X" "$1" 2>/dev/null | jq '.services[0].service.backends |
		length'
}
maglev_of() {	# maglev_of <name> <address>: whether that frontend of t$X/<name> uses Maglev
	nctl 1 --json service list -n "t$X" "$1" 2>/dev/null |
		jq -e ".services[0].frontends[] | select(.address == \"$2\") | .maglev" >/dev/null
}
state_files() { ls "$(node_dir 1)/state/services" 2>/dev/null | grep "^t$X\." | sort | tr '\n' ' '; }


make_pki || bail "openssl failed"
pick_ports || skip_all "no free loopback ports for etcd"
mkdir -p "$(cgroup_dir)"
for i in 0 1 2; do etcd_member_start "$i"; done
poll 30 etcd_healthy || bail "etcd cluster did not come up" "$(tail -n 5 "$PL_TMP/etcd-m0.log")"
node_prepare 1 || bail "no uplink veth for node 1"
node_start 1
poll 30 node_watching 1 || bail "agent did not sync" "$(tail -n 5 "$(node_dir 1)/podlaned.log")"

svc_put a "\"clusterIP\":\"10.97.$X.1\",\"ports\":[{\"port\":80,\"targetPort\":8080}],
	\"backends\":[{\"ip\":\"10.250.$X.1\"},{\"ip\":\"10.250.$X.2\"}]"
svc_put b "\"clusterIP\":\"10.97.$X.2\",\"ports\":[{\"port\":80}],
	\"externalIPs\":[\"198.51.100.$X\"],\"backends\":[{\"ip\":\"10.250.$X.3\"}]"
check "services put in etcd reach the maps (b's externalIP frontend with a Maglev table)" \
	poll 10 eval '[ -n "$(fe_id 10.97.$X.1 80)" ] && [ -n "$(fe_id 198.51.100.$X 80)" ] &&
		      maglev_of b 198.51.100.$X'
printf '{"name":"c","namespace":"t%s","clusterIP":"10.97.%s.3","ports":[{"port":80}],
	"backends":[{"ip":"10.250.%s.4"}]}' "$X" "$X" "$X" | nctl 1 service add --file - >/dev/null
check "only podlanectl's service has a state file, not those from etcd" \
	test "$(state_files)" = "t$X.c.json "
svc_put a "\"clusterIP\":\"10.97.$X.1\",\"ports\":[{\"port\":80,\"targetPort\":8080}],
	\"backends\":[{\"ip\":\"10.250.$X.1\"},{\"ip\":\"10.250.$X.2\"},{\"ip\":\"10.250.$X.5\"}]"
check "an update in etcd replaces the service (3 backends now)" \
	poll 10 eval '[ "$(backends_of a)" = 3 ]'
ida=$(fe_id "10.97.$X.1" 80) idb=$(fe_id "10.97.$X.2" 80) idc=$(fe_id "10.97.$X.3" 80)
diag "svc ids: a $ida, b $idb, c $idc"

# The agent dies and b is deleted from etcd meanwhile. The agent comes back first without
# etcd (an endpoint nobody listens on: the last --etcd-endpoints wins), then with it.
node_kill 1 KILL
ectl del "/podlane/v1/services/t$X/b" >/dev/null
node_start 1 --etcd-endpoints "https://127.0.0.1:$((ETCD_BASE + 6))"
poll 10 eval 'nctl 1 --json sync status >/dev/null' || bail "agent did not come back"
sleep 1
check "with etcd unreachable, the restarted agent keeps the etcd services' map entries" \
	eval '[ "$(fe_id 10.97.$X.1 80)" = "$ida" ] && [ "$(fe_id 10.97.$X.2 80)" = "$idb" ] &&
	      [ "$(fe_id 10.97.$X.3 80)" = "$idc" ] && ! node_watching 1'
node_kill 1 TERM
node_start 1
check "etcd reachable again: the agent lists it" poll 30 node_watching 1
check "the unchanged service is adopted as it was (same svc id $ida, 3 backends)" \
	poll 10 eval '[ "$(fe_id 10.97.$X.1 80)" = "$ida" ] && [ "$(backends_of a)" = 3 ]'
check "the service etcd deleted while the agent was down is gone, podlanectl's stays" \
	poll 10 eval '[ -z "$(fe_id 10.97.$X.2 80)" ] && [ -z "$(fe_id 198.51.100.$X 80)" ] &&
		      [ "$(fe_id 10.97.$X.3 80)" = "$idc" ] && [ "$(backends_of c)" = 1 ]'

ectl del "/podlane/v1/services/t$X/a" >/dev/null
check "a delete in etcd removes the service" \
	poll 10 eval '[ -z "$(fe_id 10.97.$X.1 80)" ] && [ -n "$(fe_id 10.97.$X.3 80)" ]'
ectl del "/podlane/v1/services/t$X/c" >/dev/null
sleep 0.5
check "a delete in etcd leaves podlanectl's own service alone" \
	eval '[ "$(fe_id 10.97.$X.3 80)" = "$idc" ] && [ "$(state_files)" = "t$X.c.json " ]'
done_testing
