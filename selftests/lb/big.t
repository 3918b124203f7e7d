#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/big.t - services larger than one API message (issue 10, defect 4): a service
# with 4,096 backends (the most a spec may have) and four of 900. service add answers with
# what changed and the frontends, whatever the size of what it applied; service list pages
# through the agent's replies, each within the 256 KiB message limit, a service too big for
# one reply spread over several, and shows every backend of every service as it was added.
. "$(dirname "$0")/lib.sh"

svc_requires
pl_setup
svc_cgroup || skip_all "cannot create a cgroup under $(cg2_mount)"
agent_start --cgroup "$SVC_CG"
ok $? "podlaned starts"

X=$((PL_ID % 250 + 1))
# spec <name> <clusterIP> <backends> <second octet>: backends 10.<octet>.<i / 250>.<i % 250 + 1>,
# every 7th with weight 3, every 11th terminating.
spec() {
	python3 - "$@" <<'PY'
import json, sys
name, cip, n, base = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
bes = []
for i in range(n):
    b = {"ip": "10.%d.%d.%d" % (base, i // 250, i % 250 + 1)}
    if i % 7 == 0:
        b["weight"] = 3
    if i % 11 == 0:
        b["state"] = "terminating"
    bes.append(b)
print(json.dumps({"name": name, "namespace": "scale", "clusterIP": cip,
                  "ports": [{"name": "http", "port": 80, "targetPort": 8080},
                            {"name": "alt", "port": 81, "targetPort": 8081, "protocol": "UDP"}],
                  "backends": bes}, separators=(",", ":")))
PY
}
# The backends of a spec, or of a listed service, as sorted "ip:port weight state" lines.
backends_of() {
	jq -r '.backends[] | "\(.ip) \(.weight // 1) \(.state // "active")"' | sort
}

spec big "10.96.$X.50" 4096 200 > "$PL_TMP/big.json"
for i in 0 1 2 3; do
	spec "mid$i" "10.96.$X.$((60 + i))" 900 $((210 + i)) > "$PL_TMP/mid$i.json"
done
diag "the 4,096-backend spec is $(wc -c < "$PL_TMP/big.json") bytes"

out=$(ctl service add --file "$PL_TMP/big.json" 2>&1)
ok $? "service add with 4,096 backends succeeds: $out"
grep -q "^service scale/big applied: 10.96.$X.50:80/TCP 10.96.$X.50:81/UDP$" <<<"$out"
ok $? "... and names its frontends"
out=$(ctl service add --file "$PL_TMP/big.json" 2>&1)
ok $? "the same spec again succeeds: $out"
grep -q "^service scale/big unchanged:" <<<"$out"; ok $? "... unchanged"
R=$(python3 "$AGENT_DIR/api.py" "$PL_SOCK" \
	"{\"op\":\"service_add\",\"service\":$(cat "$PL_TMP/big.json")}")
[ "$(jq -r .ok <<<"$R")" = true ] && [ "${#R}" -lt 4096 ] &&
	[ "$(jq -c '[.frontends[] | "\(.address):\(.port)/\(.protocol)"]' <<<"$R")" = \
	  "[\"10.96.$X.50:80/TCP\",\"10.96.$X.50:81/UDP\"]" ] && ! jq -e .service <<<"$R" >/dev/null
ok $? "the API's service_add reply is what changed and the frontends (${#R} bytes), not the spec"
n=0
for i in 0 1 2 3; do
	ctl service add --file "$PL_TMP/mid$i.json" >/dev/null && n=$((n + 1))
done
[ $n = 4 ]; ok $? "four services of 900 backends added ($n)"
ctl service add small -n scale --cluster-ip "10.96.$X.70" --port 80 --backend 10.250.1.1 \
	>/dev/null
ok $? "and a small one"

list=$(ctl service list 2>&1)
ok $? "service list succeeds"
grep -q "^6 services; " <<<"$list" && [ "$(grep -c '^scale/' <<<"$list")" = 6 ]
ok $? "... and shows all six services: $(grep services <<<"$list")"
ctl --json service list > "$PL_TMP/list.json"
ok $? "service list --json succeeds"
[ "$(jq '.services | length' "$PL_TMP/list.json")" = 6 ] &&
	[ "$(jq .total "$PL_TMP/list.json")" = 6 ]
ok $? "... with six services"
same=0
for s in big mid0 mid1 mid2 mid3; do
	jq ".services[] | .service | select(.name == \"$s\")" "$PL_TMP/list.json" | backends_of \
		> "$PL_TMP/$s.listed"
	backends_of < "$PL_TMP/$s.json" > "$PL_TMP/$s.added"
	if cmp -s "$PL_TMP/$s.listed" "$PL_TMP/$s.added" && [ -s "$PL_TMP/$s.added" ]; then
		same=$((same + 1))
	else
		diag "$s: listed $(wc -l < "$PL_TMP/$s.listed") backends, added $(wc -l < \
			"$PL_TMP/$s.added")"
	fi
done
[ $same = 5 ]; ok $? "every backend of the five big services is listed as it was added"
[ "$(jq '[.services[] | select(.service.name == "big") | .frontends | length] | add' \
	"$PL_TMP/list.json")" = 2 ]
ok $? "... the big one once, with its two frontends"
ctl --json service list -n scale big > "$PL_TMP/one.json" &&
	[ "$(jq '.services | length' "$PL_TMP/one.json")" = 1 ] &&
	[ "$(jq '.services[0].service.backends | length' "$PL_TMP/one.json")" = 4096 ]
ok $? "service list of the big one alone shows its 4,096 backends"

# The replies themselves: every message within the limit, as many pages as that takes.
PAGES=$(python3 - "$PL_SOCK" <<'PY'
import json, socket, sys
LIMIT = 256 * 1024

def call(req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(30)
    s.connect(sys.argv[1])
    s.send(json.dumps(req).encode())
    data = s.recv(LIMIT + 1)
    s.close()
    return len(data), json.loads(data)

pages, biggest, backends, req = 0, 0, {}, {"op": "service_list"}
while pages < 1000:
    size, r = call(req)
    assert r.get("ok"), r
    pages += 1
    biggest = max(biggest, size)
    for s in r["services"]:
        name = s["service"]["name"]
        backends[name] = backends.get(name, 0) + len(s["service"]["backends"])
    if "next_offset" not in r:
        break
    req = {"op": "service_list", "offset": r["next_offset"],
           "backend_offset": r.get("next_backends_from", 0)}
print(pages, biggest, backends.get("big"), sum(backends.values()))
PY
)
read -r npages biggest nbig nall <<<"$PAGES"
[ "${npages:-0}" -ge 3 ] && [ "${biggest:-999999}" -le 262144 ] && [ "$nbig" = 4096 ] &&
	[ "$nall" = $((4096 + 4 * 900 + 1)) ]
ok $? "service_list takes $npages replies of at most $biggest bytes, every backend in one of them"

ctl service del scale/big >/dev/null && ctl service list >/dev/null &&
	[ "$(ctl --json service list | jq .total)" = 5 ]
ok $? "the big service is deleted; five remain"
done_testing
