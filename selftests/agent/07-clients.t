#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 07-clients.t - clients that connect to the API socket and never send cannot stop the agent
# (issue 10, defect 7): with 300 such connections open (more than the 256 slots the agent once
# had), a status and a pod ADD are still answered within podlanectl's request timeout, and
# the agent closes the idle connections by itself. Again with a file limit that allows the
# agent fewer connections than that: the oldest idle ones make room for new clients.
. "$(dirname "$0")/lib.sh"
agent_requires
pl_setup

IDLE=300
TIMEOUT=10	# seconds: podlanectl's request timeout (CTL_TIMEOUT_MS)
CLOSE_WITHIN=60	# seconds the test waits for the agent to close the idle connections

agent_start || { ok 1 "podlaned starts"; exit 1; }
ok 0 "podlaned starts"

# idle_round <pod>: one process holds the idle connections while it sends a status and an ADD
# of <pod> on new ones, then waits for the agent to close the idle ones. OUT: one "key value"
# line per figure.
idle_round() {
	OUT=$(timeout $((CLOSE_WITHIN + 4 * TIMEOUT)) python3 - "$PL_SOCK" "$IDLE" "$TIMEOUT" \
	"$CLOSE_WITHIN" "c-$1-$PL_ID" "/run/netns/$(netns_name "$1")" "$NET" <<'PY'
import json, select, socket, sys, time
sock, idle, timeout, close_within = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    float(sys.argv[4])
cid, netns, net = sys.argv[5:8]

def request(req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        s.send(json.dumps(req).encode())
        r = json.loads(s.recv(1 << 20))
        return "ok" if r.get("ok") else "refused:%s" % r.get("msg")
    except (OSError, ValueError) as e:
        return "failed:%s" % type(e).__name__
    finally:
        s.close()

conns = []
for _ in range(idle):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.setblocking(False)
    try:
        s.connect(sock)
    except BlockingIOError:
        pass	# in the backlog: connected all the same once the agent accepts
    conns.append(s)
print("connected", len(conns))
print("status", request({"op": "status"}))
print("add", request({"op": "add", "container_id": cid, "netns": netns, "ifname": "eth0",
                      "network": net, "subnet": "10.250.7.0/24"}))
# An idle connection is closed when reading it gives end of file (or a reset).
open_ = set(conns)
deadline = time.monotonic() + close_within
while open_ and time.monotonic() < deadline:
    ready, _, _ = select.select(list(open_), [], [], 0.5)
    for s in ready:
        try:
            data = s.recv(100)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:
            open_.discard(s)
print("closed", idle - len(open_))
PY
)
	diag "$OUT"
}
val() { awk -v k="$1" '$1 == k { print $2 }' <<<"$OUT"; }
# check_round <pod> <what the log says>
check_round() {
	[ "$(val connected)" = "$IDLE" ]; ok $? "$IDLE idle connections are open"
	[ "$(val status)" = ok ]
	ok $? "status is answered within ${TIMEOUT} s while they are open (got $(val status))"
	[ "$(val add)" = ok ]
	ok $? "a pod ADD is answered within ${TIMEOUT} s while they are open (got $(val add))"
	[ "$(val closed)" = "$IDLE" ]
	ok $? "the agent closes the idle connections by itself ($(val closed) of $IDLE)"
	grep -q "$2" "$PL_TMP/podlaned.log"; ok $? "the agent logs '$2'"
	[ "$(api '{"op":"status"}' ok)" = true ]; ok $? "the agent serves as usual afterwards"
	pod_del "$1" >/dev/null; ok $? "pod $1 is deleted"
}

ip netns add "$(netns_name a)" && ip netns add "$(netns_name b)" || { ok 1 "netns"; exit 1; }
idle_round a
check_round a 'msg="closed clients that sent nothing" count='

# With 420 files the agent takes 164 connections at once (256 stay for its own files).
agent_kill TERM
(ulimit -n 420 && exec "$PL_BUILD/podlaned" --pin-root "$PL_PIN" --state-dir "$PL_STATE" \
	--socket "$PL_SOCK" --log-file "$PL_TMP/podlaned.log") &
PL_AGENT_PID=$!
poll 20 agent_ready; ok $? "podlaned starts with a file limit of 420"
grep -q 'msg="file limit allows fewer clients" nofile=420 clients=164' "$PL_TMP/podlaned.log"
ok $? "it takes 164 clients at once"
idle_round b
check_round b 'msg="closed idle clients to make room for new ones" count='
done_testing
