#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/observe.t - the flow log (userspace/podlaned/flows/, `podlanectl observe`):
# real pods under a NetworkPolicy, TCP and UDP allowed and denied, and every field of the
# records checked; each filter; --last; -f with a bounded wait; -o json through jq; default deny
# naming the isolating policy; an allowed connection recorded once however many packets it
# carries; a pod named after it was deleted; `monitor` through the agent; metrics; records the
# datapath queued while the agent was down; records lost (the ring buffer flooded while no
# agent reads it, and a flow log too small for a stream that starts from its beginning).
. "$(dirname "$0")/agentlib.sh"

pol_requires
require_cmd curl
pl_setup
POL_METRICS=127.0.0.1:$((20000 + PL_ID % 20000))
agent_start --metrics-addr "$POL_METRICS" || { ok 1 "podlaned starts"; done_testing; }
prog=$(ctl --json status | jq -r '.programs[] | select(.name == "tc_from_pod") | .id')
ep_map=$(bpftool -j map show pinned "$PL_PIN/podlane_ep_policy" | jq -r .id)
bpftool -j prog show id "$prog" | jq -e --argjson m "$ep_map" '.map_ids | index($m) != null' \
	>/dev/null || skip_all "the datapath enforces no network policy (tc_from_pod uses no podlane_ep_policy)"
ok 0 "podlaned starts with the flow log"

pod_add x a app=web && pod_add x b app=client && pod_add y c app=client
ok $? "pods x/a (app=web), x/b and y/c (app=client) wired by podlane-cni"
ip_a=$(pod_field x/a .ip)
ip_b=$(pod_field x/b .ip)
ip_c=$(pod_field y/c .ip)

# An echo server in x/a on TCP 80 and 81, for this test's lifetime.
ip netns exec "$(netns_name x-a)" python3 - 80 81 <<'EOF' &
import socketserver, sys, threading
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(64)
            if not data:
                return
            self.request.sendall(data)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
for p in sys.argv[1:]:
    s = socketserver.ThreadingTCPServer(("0.0.0.0", int(p)), Echo)
    threading.Thread(target=s.serve_forever, daemon=True).start()
threading.Event().wait(600)
EOF
SERVER=$!
on_cleanup "kill $SERVER"

# conn <from pod ns-name> <port> <messages>: one TCP connection to x/a:port carrying that many
# request/response exchanges; prints its source port; 0 when every one came back (2 s limit).
conn() {
	ip netns exec "$(netns_name "$1")" python3 - "$ip_a" "$2" "$3" <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(2)
s.bind(("0.0.0.0", 0))
print(s.getsockname()[1], flush=True)
s.connect((sys.argv[1], int(sys.argv[2])))
for i in range(int(sys.argv[3])):
    s.sendall(b"ping")
    got = b""
    while len(got) < 4:
        got += s.recv(4 - len(got))
sys.exit(0)
EOF
}
# udp <from> <port> <count>: count datagrams to x/a:port.
udp() {
	ip netns exec "$(netns_name "$1")" python3 - "$ip_a" "$2" "$3" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    s.sendto(b"x", (sys.argv[1], int(sys.argv[2])))
EOF
}
obs() { ctl observe "$@"; }
# records <observe options...>: the records (not the lost lines) as JSON lines.
records() { obs -o json "$@" | jq -c 'select(has("seq"))'; }

poll 5 conn x-b 80 1 >/dev/null
ok $? "before any policy: x/b reaches x/a:80"
records --last 100 > "$PL_TMP/none.json"
check "no policy isolates anything: no policy record yet" test ! -s "$PL_TMP/none.json"

cat > "$PL_TMP/allow.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-80, namespace: x}
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: client}
    ports:
    - port: 80
EOF
ctl policy add -f "$PL_TMP/allow.yaml" >/dev/null
ok $? "policy x/allow-80: to app=web, TCP 80 from app=client pods of namespace x"
pol_id=$(ctl policy list -o json | jq '.policies[] | select(.name == "x/allow-80") | .id')

# --- traffic: one long connection allowed, default deny on 81, another namespace, UDP -------
t_before=$(date +%s)
sport=$(conn x-b 80 200)
ok $? "x/b -> x/a:80: one connection, 200 exchanges (source port $sport)"
! conn x-b 81 1 >/dev/null
ok $? "x/b -> x/a:81 is blocked (no rule for 81)"
! conn y-c 80 1 >/dev/null
ok $? "y/c -> x/a:80 is blocked (the rule selects pods of namespace x)"
udp x-b 90 3
ip -n "$(netns_name x-b)" addr add 10.99.99.99/32 dev eth0
ip netns exec "$(netns_name x-b)" ping -c 1 -W 1 -I 10.99.99.99 "$ip_a" >/dev/null 2>&1
spoofed_seen() { obs --last 100 --verdict dropped | grep -q source_spoofed; }
poll 5 spoofed_seen
ok $? "a spoofed packet from x/b is in the flow log as dropped"

records --last 1000 > "$PL_TMP/all.json"
obs -o json --last 1000 > "$PL_TMP/raw.json"
check "-o json: every line is a JSON object jq reads" jq -e -s 'length > 0 and all(type == "object")' "$PL_TMP/raw.json"

# The allowed connection: every field, and once for 200 exchanges (ingress is what isolates).
jq -c --argjson p "$sport" 'select(.src_port == $p)' "$PL_TMP/all.json" > "$PL_TMP/conn.json"
check "the 200-exchange connection is recorded once (one isolated direction)" \
	test "$(wc -l < "$PL_TMP/conn.json")" -eq 1
check "allowed record: verdict, direction, pods, addresses, ports, protocol, policy, rule, time" \
	jq -e --arg a "$ip_a" --arg b "$ip_b" --argjson id "$pol_id" --argjson t "$t_before" '
	.verdict == "allowed" and .direction == "ingress" and .src == "x/b" and .dst == "x/a" and
	.src_ip == $b and .dst_ip == $a and .dst_port == 80 and .protocol == "TCP" and
	.policy == "x/allow-80" and .policy_id == $id and .rule == 0 and (has("reason") | not) and
	.summary == "allowed by policy x/allow-80 ingress rule 0" and
	(.time_ns / 1e9 | floor) >= $t - 1 and
	(.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z$")) and
	(.time | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) == (.time_ns / 1e9 | floor)' \
	"$PL_TMP/conn.json"
check "default deny on 81 names the isolating policy: 'isolated by policy x/allow-80; no rule matched'" \
	jq -e -s --arg a "$ip_a" 'map(select(.dst_port == 81 and .dst_ip == $a)) | length > 0 and
	all(.verdict == "denied" and .reason == "policy_denied" and .code == -223 and
	    .direction == "ingress" and .src == "x/b" and .dst == "x/a" and
	    .policy == "x/allow-80" and (has("rule") | not) and
	    .summary == "isolated by policy x/allow-80; no rule matched")' "$PL_TMP/all.json"
check "y/c -> x/a:80 denied, naming y/c" jq -e -s 'map(select(.src == "y/c")) | length > 0 and
	all(.verdict == "denied" and .dst == "x/a" and .dst_port == 80)' "$PL_TMP/all.json"
check "UDP to x/a:90 denied per datagram (3)" jq -e -s 'map(select(.protocol == "UDP" and
	.dst_port == 90)) | length == 3 and all(.verdict == "denied")' "$PL_TMP/all.json"
check "the spoofed packet: dropped, source_spoofed, from the unknown address to x/a" \
	jq -e -s --arg a "$ip_a" 'map(select(.verdict == "dropped" and .reason == "source_spoofed" and
	.src == "10.99.99.99" and .dst == "x/a" and .dst_ip == $a and .protocol == "ICMP" and
	.len > 0 and .summary == "dropped: source_spoofed")) | length > 0' "$PL_TMP/all.json"
check "policy drops appear once, as policy records (not again as drop records)" \
	jq -e -s 'all(.reason != "policy_denied" or has("policy"))' "$PL_TMP/all.json"

obs --last 1000 > "$PL_TMP/text.out"
check "text: the allowed connection on one line with pods, addresses, policy and rule" \
	grep -Eq "ALLOWED x/b \($ip_b:$sport\) -> x/a \($ip_a:80\) TCP ingress: allowed by policy x/allow-80 ingress rule 0\$" "$PL_TMP/text.out"
check "text: the denied one with its reason and the isolating policy" \
	grep -Eq "DENIED  x/b \($ip_b:[0-9]+\) -> x/a \($ip_a:81\) TCP ingress policy_denied: isolated by policy x/allow-80; no rule matched\$" "$PL_TMP/text.out"
check "text: the drop with its reason and where" \
	grep -Eq "DROPPED 10\.99\.99\.99 -> x/a \($ip_a\) ICMP source_spoofed \(from_pod if[0-9]+\)\$" "$PL_TMP/text.out"

# --- filters --------------------------------------------------------------------------------
# filt <description> <jq condition every record meets> <observe filter options...>: at least
# one record, and every one meets the condition.
filt() {
	local what=$1 cond=$2
	shift 2
	records --last 1000 "$@" > "$PL_TMP/f.json"
	check "$what" jq -e -s "length > 0 and all($cond)" "$PL_TMP/f.json"
}
filt "--verdict allowed" '.verdict == "allowed"' --verdict allowed
filt "--verdict denied" '.verdict == "denied"' --verdict denied
filt "--verdict dropped" '.verdict == "dropped"' --verdict dropped
filt "--from-pod y/c" '.src == "y/c"' --from-pod y/c
filt "--to-pod x/a" '.dst == "x/a"' --to-pod x/a
filt "--namespace y" '(.src | startswith("y/")) or (.dst | startswith("y/"))' --namespace y
filt "--ip (y/c's)" ".src_ip == \"$ip_c\" or .dst_ip == \"$ip_c\"" --ip "$ip_c"
filt "--port 81" '.src_port == 81 or .dst_port == 81' --port 81
filt "--protocol udp" '.protocol == "UDP"' --protocol udp
filt "--protocol 6 (a number)" '.protocol == "TCP"' --protocol 6
filt "filters together: --from-pod x/b --verdict denied --protocol tcp" \
	'.src == "x/b" and .verdict == "denied" and .protocol == "TCP"' \
	--from-pod x/b --verdict denied --protocol tcp
records --last 1000 --from-pod x/nobody > "$PL_TMP/f.json"
check "a filter nothing matches lists nothing" test ! -s "$PL_TMP/f.json"
all_n=$(wc -l < "$PL_TMP/all.json")
check "--last 1: the newest record only" test "$(records --last 1 | jq -c .)" = \
	"$(records --last 1000 | tail -n 1 | jq -c .)"
check "--last 3 --verdict denied: the three newest denied" test "$(records --last 3 \
	--verdict denied | jq -r .seq | tr '\n' ' ')" = "$(records --last 1000 --verdict denied |
	tail -n 3 | jq -r .seq | tr '\n' ' ')"
records --last 0 > "$PL_TMP/f.json"
check "--last 0: nothing" test ! -s "$PL_TMP/f.json"
check "without --last: the last 20 of $all_n" test "$(records | wc -l)" -eq \
	"$((all_n < 20 ? all_n : 20))"

usage() {	# usage <description> <message in stderr> <observe options...>
	local what=$1 msg=$2
	shift 2
	ctl observe "$@" > /dev/null 2> "$PL_TMP/err"
	check "$what -> exit 2 naming the problem" bash -c "[ $? -eq 2 ] && grep -q -- '$msg' '$PL_TMP/err'"
}
usage "--verdict maybe" "allowed, denied or dropped" --verdict maybe
usage "--from-pod without a namespace" "NAMESPACE/NAME" --from-pod web
usage "--port 70000" "0-65535" --port 70000
usage "--last -1" "non-negative" --last -1
usage "--timeout without -f" "for -f" --timeout 3
ctl observe --ip 300.1.1.1 > /dev/null 2> "$PL_TMP/err"
check "--ip 300.1.1.1 -> podlaned refuses it, exit 1" bash -c "[ $? -eq 1 ] && grep -q \"ip '300.1.1.1'\" '$PL_TMP/err'"
ctl observe --protocol gre > /dev/null 2> "$PL_TMP/err"
check "--protocol gre -> podlaned refuses it, exit 1" bash -c "[ $? -eq 1 ] && grep -q 'protocol' '$PL_TMP/err'"

# --- -f: a stream, bounded by --timeout -------------------------------------------------------
streams() { metric podlane_flow_streams; }
streams_are() { [ "$(streams)" = "$1" ]; }
newest=$(records --last 1 | jq .seq)
ctl observe -f --timeout 8 --to-pod x/a --verdict denied -o json > "$PL_TMP/follow.json" 2>&1 &
FOLLOW=$!
on_cleanup "kill $FOLLOW"
poll 5 streams_are 1
ok $? "observe -f is a stream the agent serves (podlane_flow_streams 1)"
! conn x-b 81 1 >/dev/null
udp y-c 80 1
start=$(date +%s)
wait "$FOLLOW"
rc=$?
check "-f --timeout 8 ended by itself (exit $rc, $(( $(date +%s) - start )) s after the traffic)" test $rc -eq 0
check "-f printed the new denied records to x/a, none older than it" jq -e -s --argjson n "$newest" \
	'map(select(has("seq"))) | length >= 2 and all(.seq > $n and .verdict == "denied" and
	.dst == "x/a") and any(.protocol == "UDP" and .src == "y/c") and any(.dst_port == 81)' \
	"$PL_TMP/follow.json" || diag "$(head -c 2000 "$PL_TMP/follow.json")"
poll 5 streams_are 0
ok $? "the stream is closed once its client is gone"
ctl observe -f --timeout 3 --last 2 --verdict denied > "$PL_TMP/follow.out"
check "-f --last 2 (nothing new meanwhile): the last two denied, then nothing" \
	test "$(grep -c DENIED "$PL_TMP/follow.out")" -eq 2 -a "$(wc -l < "$PL_TMP/follow.out")" -eq 2

# --- monitor goes through the agent while it runs ------------------------------------------
"$PL_BUILD/podlanectl" --socket "$PL_SOCK" --pin-root "$PL_PIN" monitor --count 1 --timeout 15 \
	> "$PL_TMP/monitor.out" 2>&1 &
MON=$!
on_cleanup "kill $MON"
poll 5 streams_are 1
for i in 1 2 3 4 5; do
	ip netns exec "$(netns_name x-b)" ping -c 1 -W 1 -I 10.99.99.99 "$ip_a" >/dev/null 2>&1
	grep -q source_spoofed "$PL_TMP/monitor.out" && break
done
wait "$MON"
check "monitor (agent up) prints the drop through the agent and stops after --count 1" \
	grep -Eq "from_pod +[a-z0-9]+ +source_spoofed +10\.99\.99\.99 > $ip_a icmp len [0-9]+" \
	"$PL_TMP/monitor.out"

# --- metrics --------------------------------------------------------------------------------
check "podlane_policy_verdicts_total: allowed connections of x/allow-80 on ingress" \
	test "$(metric 'podlane_policy_verdicts_total{policy="x/allow-80",direction="ingress",verdict="allowed"}')" -ge 1
check "podlane_policy_verdicts_total: denied packets of x/allow-80 on ingress" \
	test "$(metric 'podlane_policy_verdicts_total{policy="x/allow-80",direction="ingress",verdict="denied"}')" -ge 5
check "podlane_flow_records_lost_total per CPU, zero so far" \
	test "$(metric 'podlane_flow_records_lost_total{cpu="0"}')" = 0
check "podlane_policy_map_entries against podlane_policy_map_max_entries" \
	test "$(metric podlane_policy_map_entries)" -ge 1 -a "$(metric podlane_policy_map_max_entries)" -gt 0
check "podlane_policy_ipcache_entries (3 pods at least) against its size" \
	test "$(metric podlane_policy_ipcache_entries)" -ge 3 -a \
	"$(metric podlane_policy_ipcache_max_entries)" -eq "$(bpftool -j map show pinned \
	"$PL_PIN/podlane_ipcache" | jq .max_entries)"
check "the flow log's size and memory" test "$(metric podlane_flow_log_capacity)" = 4096 -a \
	"$(metric podlane_flow_log_bytes)" -ge $((4096 * 88))
if command -v promtool >/dev/null 2>&1; then
	curl -s "http://$POL_METRICS/metrics" | promtool check metrics > "$PL_TMP/promtool.out" 2>&1
	check "promtool accepts the metrics" test $? -eq 0
fi

# --- a deleted pod keeps its name in the records already kept -------------------------------
pod_del y c
ok $? "y/c deleted (CNI DEL)"
filt "--from-pod y/c after y/c is gone: its records still name it" '.src == "y/c" and .src_ip == "'"$ip_c"'"' --from-pod y/c

# --- agent restart: what the datapath queued while no agent ran ------------------------------
agent_kill TERM
ok 0 "podlaned stopped"
! conn x-b 81 1 >/dev/null
ok $? "x/b -> x/a:81 still blocked with the agent down"
agent_start --metrics-addr "$POL_METRICS"
ok $? "podlaned started again"
records --last 5 --port 81 --verdict denied > "$PL_TMP/restart.json"
check "the denial made while the agent was down is in the new agent's log, named" \
	jq -e -s '(.[-1].src == "x/b" and .[-1].dst == "x/a" and .[-1].policy == "x/allow-80" and
	.[-1].seq <= 20)' "$PL_TMP/restart.json"

# --- lost records: the ring buffer flooded while nobody reads it, a small flow log ---------
agent_kill TERM
udp x-b 90 8000
agent_start --metrics-addr "$POL_METRICS" --flow-log-size 16
ok $? "after 8000 denied datagrams with the agent down, podlaned starts with --flow-log-size 16"
lost=$(curl -s "http://$POL_METRICS/metrics" |
	awk '$1 ~ /^podlane_flow_records_lost_total[{]cpu="[0-9]+"[}]$/ { s += $2 } END { print s + 0 }')
check "the datapath counted the flow records its full ring buffer lost ($lost), per CPU" test "$lost" -gt 0
obs --last 3 > "$PL_TMP/lost.out"
check "observe says so: 'lost N records: the datapath's ring buffer was full (total per CPU: ...)'" \
	grep -Eq "^lost $lost records: the datapath's ring buffer was full \(total per CPU: cpu0 [0-9]+" "$PL_TMP/lost.out"
check "the flow log keeps 16 and counts what it dropped" test "$(metric podlane_flow_log_records)" = 16 -a \
	"$(metric podlane_flow_log_evicted_total)" -gt 0
# A stream asking for everything from the first record: the log no longer has most of it.
python3 - "$PL_SOCK" > "$PL_TMP/stream.json" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
s.connect(sys.argv[1])
s.send(json.dumps({"op": "flow_list", "follow": True, "after": 0}).encode())
for i in range(2):
    print(s.recv(300000).decode())
EOF
check "a stream from record 1 is told how many the flow log dropped before it took them" \
	jq -e -s '.[0].ok and .[1].lost.stream > 0 and (.[1].flows | length) <= 16' "$PL_TMP/stream.json"
check "podlane_flow_stream_records_lost_total counts them" \
	test "$(metric podlane_flow_stream_records_lost_total)" -gt 0
done_testing
