#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/agent_cli.t - services through podlanectl and the agent's API, no traffic:
# flags and files, what list shows, bad specs refused with the field named and nothing
# changed (maps and state files compared byte for byte), conflicts, updates that reuse or
# replace service ids, paging through many services, and a restart that adopts them all.
. "$(dirname "$0")/lib.sh"

svc_requires
pl_setup
svc_cgroup || skip_all "cannot create a cgroup under $(cg2_mount)"
agent_start --cgroup "$SVC_CG"
ok $? "podlaned starts with --cgroup"

X=$((PL_ID % 250 + 1))
state() {	# everything a service change could touch
	bpftool -j map dump pinned "$PL_PIN/podlane_svc" | jq -S -c 'sort_by(.key)'
	bpftool -j map dump pinned "$PL_PIN/podlane_backend" | jq -S -c 'sort_by(.key)'
	bpftool -j map show pinned "$PL_PIN/podlane_maglev" >/dev/null &&
		bpftool map dump pinned "$PL_PIN/podlane_maglev" | grep -c key
	(cd "$PL_STATE/services" && md5sum -- * 2>/dev/null)
}

out=$(ctl service add web -n shop --cluster-ip "10.96.$X.10" --port http=80:8080/tcp \
	--port metrics=9090/TCP --backend 10.250.9.1 --backend 10.250.9.2,weight=3 \
	--backend 10.250.9.3,terminating --session-affinity ClientIP --affinity-timeout 60 2>&1)
ok $? "service add from flags: $out"
list=$(ctl service list 2>&1)
diag "$list"
printf '%s' "$list" | grep -q "shop/web  *10.96.$X.10:80/TCP  *ClusterIP" &&
	printf '%s' "$list" | grep -q "10.250.9.2:8080(w3)" &&
	printf '%s' "$list" | grep -q "10.250.9.3:8080(terminating)" &&
	printf '%s' "$list" | grep -q "10.96.$X.10:9090/TCP"
ok $? "service list shows frontends, backends with weight and state"
js=$(ctl --json service list shop/web)
[ "$(printf '%s' "$js" | jq -r '.services[0].service.sessionAffinityTimeoutSeconds')" = 60 ] &&
	[ "$(printf '%s' "$js" | jq -r '.services[0].frontends | length')" = 2 ] &&
	[ "$(printf '%s' "$js" | jq -r '.services[0].frontends[0].active')" = 2 ] &&
	printf '%s' "$js" | jq -e '.lbstat.connect >= 0' >/dev/null
ok $? "service list --json: spec with defaults, frontends (2 active of 3), lbstat"
[ -s "$PL_STATE/services/shop.web.json" ] &&
	jq -e '.name == "web" and .namespace == "shop"' "$PL_STATE/services/shop.web.json" >/dev/null
ok $? "the spec is persisted in <state-dir>/services/shop.web.json"
[ "$(map_len podlane_svc)" -eq 2 ] && [ "$(map_len podlane_backend)" -eq 6 ]
ok $? "maps: 2 frontends, 2 ports x 3 backend slots"

# Same spec again: nothing changes, not even ids.
before=$(state)
out=$(ctl service add web -n shop --cluster-ip "10.96.$X.10" --port http=80:8080/tcp \
	--port metrics=9090/TCP --backend 10.250.9.1 --backend 10.250.9.2,weight=3 \
	--backend 10.250.9.3,terminating --session-affinity ClientIP --affinity-timeout 60)
[ "$(state)" = "$before" ] && case $out in *unchanged*) true ;; *) false ;; esac
ok $? "adding the same spec again changes nothing ($out)"

# ---- bad specs ----------------------------------------------------------------------------
bad() {	# bad <description> <expected text in the error> <json>
	local err rc
	err=$(printf '%s' "$3" | ctl service add --file - 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && printf '%s' "$err" | grep -qF -- "$2"; then
		ok 0 "refused: $1"
	else
		ok 1 "refused: $1"
		diag "exit $rc: $err"
	fi
}
V="\"clusterIP\":\"10.96.$X.20\""
P='"ports":[{"port":80}]'
bad "no name" "name: missing" "{$V,$P}"
bad "name not a DNS label" "name: \"Web_1\"" "{\"name\":\"Web_1\",$V,$P}"
bad "clusterIP not an address" "clusterIP: \"10.96.1\"" "{\"name\":\"b\",\"clusterIP\":\"10.96.1\",$P}"
bad "loopback clusterIP" "clusterIP: 127.0.0.1 is not a usable" "{\"name\":\"b\",\"clusterIP\":\"127.0.0.1\",$P}"
bad "no ports" "ports: missing" "{\"name\":\"b\",$V}"
bad "port out of range" "ports[0].port: must be from 1 to 65535" "{\"name\":\"b\",$V,\"ports\":[{\"port\":70000}]}"
bad "SCTP" "ports[0].protocol: must be \"TCP\" or \"UDP\"" "{\"name\":\"b\",$V,\"ports\":[{\"port\":80,\"protocol\":\"SCTP\"}]}"
bad "two ports without names" "ports[0].name: required" "{\"name\":\"b\",$V,\"ports\":[{\"port\":80},{\"port\":81}]}"
bad "same port twice" "ports[1].port: 80/TCP repeats ports[0]" "{\"name\":\"b\",$V,\"ports\":[{\"name\":\"a\",\"port\":80},{\"name\":\"c\",\"port\":80}]}"
bad "affinity timeout 0" "sessionAffinityTimeoutSeconds: must be from 1 to 86400" "{\"name\":\"b\",$V,$P,\"sessionAffinityTimeoutSeconds\":0}"
bad "unknown affinity" "sessionAffinity: must be \"None\" or \"ClientIP\"" "{\"name\":\"b\",$V,$P,\"sessionAffinity\":\"Cookie\"}"
bad "unknown policy" "externalTrafficPolicy: must be \"Cluster\" or \"Local\"" "{\"name\":\"b\",$V,$P,\"externalTrafficPolicy\":\"local\"}"
bad "weight too big" "backends[1].weight: must be from 0 to 65535" "{\"name\":\"b\",$V,$P,\"backends\":[{\"ip\":\"10.250.9.1\"},{\"ip\":\"10.250.9.2\",\"weight\":70000}]}"
bad "unknown state" "backends[0].state: must be \"active\" or \"terminating\"" "{\"name\":\"b\",$V,$P,\"backends\":[{\"ip\":\"10.250.9.1\",\"state\":\"draining\"}]}"
bad "duplicate backend" "backends: 10.250.9.1 is listed twice" "{\"name\":\"b\",$V,$P,\"backends\":[{\"ip\":\"10.250.9.1\"},{\"ip\":\"10.250.9.1\"}]}"
bad "typo in a field" "unknown field 'clusterIp'" "{\"name\":\"b\",\"clusterIp\":\"10.96.$X.20\",$P}"
bad "externalIP equal to clusterIP" "externalIPs[0]: 10.96.$X.20 is the clusterIP" "{\"name\":\"b\",$V,$P,\"externalIPs\":[\"10.96.$X.20\"]}"
bad "frontend of another service" "10.96.$X.10:80/TCP is already used by service shop/web" "{\"name\":\"b\",\"clusterIP\":\"10.96.$X.10\",$P}"
bad "bad update of an existing service" "ports[0].protocol" "{\"name\":\"web\",\"namespace\":\"shop\",\"clusterIP\":\"10.96.$X.10\",\"ports\":[{\"port\":80,\"protocol\":\"ICMP\"}]}"
[ -n "$before" ] && [ "$(state)" = "$before" ]
ok $? "after 19 refused specs the maps and the state files are byte for byte unchanged"

# The agent validates on its own too: the API refuses what a client did not check.
reply=$(api "{\"op\":\"service_add\",\"service\":{\"name\":\"b\",$V,\"ports\":[{\"port\":0}]}}")
[ "$(printf '%s' "$reply" | jq -r .code)" = 7 ] &&
	printf '%s' "$reply" | jq -r .msg | grep -q "ports\[0\].port"
ok $? "the API refuses a bad spec by itself (code 7, field named): $(printf '%s' "$reply" | jq -r .msg)"

# ---- updates --------------------------------------------------------------------------------
ids() { ctl --json service list shop/web | jq -r '[.services[0].frontends[].svc_id] | join(",")'; }
ids0=$(ids)
ctl service add web -n shop --cluster-ip "10.96.$X.10" --port http=80:8080/tcp \
	--port metrics=9090/TCP --backend 10.250.9.1 --backend 10.250.9.2,weight=3 \
	--backend 10.250.9.3,terminating --backend 10.250.9.4 --session-affinity ClientIP \
	--affinity-timeout 60 >/dev/null
ids1=$(ids)
[ "$ids0" != "$ids1" ] && [ "$(map_len podlane_backend)" -eq 8 ]
ok $? "a backend more: both ports move to new ids ($ids0 -> $ids1), old slots deleted"
ctl service add web -n shop --cluster-ip "10.96.$X.10" --port http=8080:8080/tcp \
	--port metrics=9090/TCP --backend 10.250.9.1 --backend 10.250.9.2,weight=3 \
	--backend 10.250.9.3,terminating --backend 10.250.9.4 --session-affinity ClientIP \
	--affinity-timeout 60 >/dev/null
[ "$(ids)" = "$ids1" ] && [ "$(map_len podlane_svc)" -eq 2 ] &&
	ctl --json service list shop/web | jq -e '.services[0].frontends[0].port == 8080' >/dev/null
ok $? "a port number change keeps the ids (same slots), the frontend moves"

# ---- errors of del and usage ----------------------------------------------------------------
ctl service del nothere >/dev/null 2>&1
[ $? -eq 1 ]
ok $? "deleting an unknown service fails (exit 1)"
ctl service add --port 80 >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "a usage error exits 2"
ctl service add x --cluster-ip 10.96.$X.30 --port 80:notaport >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "a malformed --port is a usage error"

# ---- many services, paging, restart ----------------------------------------------------------
python3 - "$X" > "$PL_TMP/many.json" <<'PY'
import json, sys
x = int(sys.argv[1])
print(json.dumps([{"name": "s%d" % i, "namespace": "bulk",
                   "clusterIP": "10.97.%d.%d" % (i // 250, i % 250 + 1),
                   "ports": [{"port": 80, "targetPort": 8080}],
                   "backends": [{"ip": "10.250.%d.%d" % (x, i % 200 + 1)},
                                {"ip": "10.250.%d.%d" % (x, (i + 7) % 200 + 1)}]}
                  for i in range(600)]))
PY
t0=$(date +%s%N)
ctl service add --file "$PL_TMP/many.json" >/dev/null
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
ok $rc "600 services from one file in $ms ms"
n=$(ctl --json service list | jq '.services | length')
total=$(ctl --json service list | jq .total)
[ "$n" -eq 601 ] && [ "$total" -eq 601 ]
ok $? "service list pages through all of them ($n listed, total $total)"
[ "$(ctl service list -n bulk | grep -c '^bulk/')" -eq 600 ]
ok $? "service list -n bulk shows the 600 bulk services"
before=$(state)
agent_kill KILL
agent_start --cgroup "$SVC_CG"
ok $? "podlaned restarts after kill -9"
[ "$(state)" = "$before" ] && grep -q "services loaded.*services=601" "$PL_TMP/podlaned.log"
ok $? "601 services adopted: maps and state unchanged by the restart"

# A state file the agent never committed, and a map entry nobody owns, are cleaned up.
echo '{}' > "$PL_STATE/services/bulk.ghost.json.tmp"
bpftool map update pinned "$PL_PIN/podlane_svc" key 10 96 250 250 0 80 6 0 \
	value 232 253 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2>/dev/null
agent_kill TERM
agent_start --cgroup "$SVC_CG"
[ ! -e "$PL_STATE/services/bulk.ghost.json.tmp" ] && [ "$(map_len podlane_svc)" -eq 602 ] &&
	grep -q "stale service entries removed" "$PL_TMP/podlaned.log"
ok $? "on start an uncommitted state file and an unowned frontend are removed"

ctl service del shop/web >/dev/null && [ "$(map_len podlane_svc)" -eq 600 ] &&
	[ ! -e "$PL_STATE/services/shop.web.json" ]
ok $? "service del shop/web removes its frontends and its state file"

done_testing
