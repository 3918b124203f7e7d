#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 09-listings.t - more endpoints than one API message holds (issue 10, defect 4): 400
# attachments (one pod with interfaces net0..net399). endpoint_list answers in pages of at most
# 256 KiB, each saying how many there are and where the next page starts; walking them gives
# every endpoint once; podlanectl endpoint list fetches them all, as a table and as JSON.
. "$(dirname "$0")/lib.sh"
agent_requires
require_build podlanectl
pl_setup

N=400
agent_start || { ok 1 "podlaned starts"; exit 1; }
ok 0 "podlaned starts"
NS=$(netns_name pod)
ip netns add "$NS" || { ok 1 "netns $NS"; exit 1; }

# Long container ids (the most a runtime gives: 64 hex characters) make the entries as big
# as real ones.
ADDED=$(python3 - "$PL_SOCK" "$N" "/run/netns/$NS" "$NET" "$PL_ID" <<'PY'
import json, socket, sys
sock, n, netns, net, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
added = 0
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(30)
    s.connect(sock)
    s.send(json.dumps({"op": "add", "container_id": ("c%s-%d-" % (pid, i)).ljust(64, "f"),
                       "netns": netns, "ifname": "net%d" % i, "network": net,
                       "subnet": "10.250.32.0/22"}).encode())
    r = json.loads(s.recv(1 << 20))
    s.close()
    added += bool(r.get("ok"))
print(added)
PY
)
[ "$ADDED" = $N ]; ok $? "$N attachments wired (got $ADDED)"

out=$(ctl endpoint list 2>&1)
ok $? "podlanectl endpoint list succeeds"
[ "$(grep -c " net[0-9]* " <<<"$out")" = $N ]; ok $? "... with one row per attachment"
ctl --json endpoint list > "$PL_TMP/eps.json"
ok $? "podlanectl --json endpoint list succeeds"
[ "$(jq '.endpoints | length' "$PL_TMP/eps.json")" = $N ] &&
	[ "$(jq -r '.endpoints[].ifname' "$PL_TMP/eps.json" | sort -u | wc -l)" = $N ] &&
	[ "$(jq .total "$PL_TMP/eps.json")" = $N ]
ok $? "... with $N distinct endpoints, total $N"

PAGES=$(python3 - "$PL_SOCK" <<'PY'
import json, socket, sys
LIMIT = 256 * 1024
pages, biggest, seen, req, totals = 0, 0, [], {"op": "endpoint_list"}, set()
while pages < 100:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(30)
    s.connect(sys.argv[1])
    s.send(json.dumps(req).encode())
    data = s.recv(LIMIT + 1)
    s.close()
    r = json.loads(data)
    assert r.get("ok"), r
    pages += 1
    biggest = max(biggest, len(data))
    totals.add(r["total"])
    seen += [e["ifindex"] for e in r["endpoints"]]
    if "next_offset" not in r:
        break
    req = {"op": "endpoint_list", "offset": r["next_offset"]}
print(pages, biggest, len(seen), len(set(seen)), ",".join(map(str, sorted(totals))))
PY
)
read -r npages biggest nseen nuniq totals <<<"$PAGES"
what="seen $nseen, distinct $nuniq, total $totals"
[ "${npages:-0}" -ge 2 ] && [ "${biggest:-999999}" -le 262144 ] && [ "$nseen" = $N ] &&
	[ "$nuniq" = $N ] && [ "$totals" = $N ]
ok $? "endpoint_list: $npages replies of at most $biggest bytes, each endpoint once ($what)"
R=$(api '{"op":"endpoint_list","offset":399}')
[ "$(jq '.endpoints | length' <<<"$R")" = 1 ] && ! jq -e .next_offset <<<"$R" >/dev/null
ok $? "the page at offset 399 holds the last one and says nothing follows"
[ "$(api '{"op":"endpoint_list","offset":400}' | jq '.endpoints | length')" = 0 ]
ok $? "a page past the end is empty"
[ "$(api '{"op":"endpoint_list","offset":-1}' code)" = 6 ]; ok $? "a negative offset is refused"
done_testing
