#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/soak.sh - chaos soak: everything that can go wrong on a node, at once, for a while,
# and then an account of what is left. One podlaned (uplink veth, socket LB on a cgroup of its
# own, synced with a three-member TLS etcd on loopback) while, all at the same time:
#   - WORKERS CNI workers each ADD a pod in a netns of its own and DEL it again, in a loop, from
#     a small pool (a /27: addresses come back fast, so a double grant shows);
#   - podlaned is killed with SIGKILL at random moments (so in the middle of ADDs and DELs)
#     and started again, for the first (100 - QUIET)% of the run; the rest runs one agent, so
#     that its RSS and descriptor count can be watched under the same load;
#   - services are added, updated and deleted through podlanectl;
#   - node records come and go in etcd, and an etcd member is killed and restarted;
#   - a TCP stream runs between two long-lived pods and a connection to a ClusterIP exchanges a
#     request every 50 ms, both checked byte for byte.
# At the end, checked: every CNI call returned (none hung), and every failed one with code 11
# (agent unreachable) as the runtime then retries; no address was ever held by two live pods;
# nothing leaked (host veths, netns, addresses, IPAM records, map entries, pins, processes, node
# routes and services once their records are gone); the stream and the connection are intact;
# podlaned's RSS and open descriptors are flat over the last agent's life.
#
# Usage: scripts/soak.sh [-t SECONDS] [-w WORKERS] [-k MIN,MAX] [-q QUIET_PERCENT]
#   -t  how long the chaos runs (default 1800)          -w  CNI workers (default 16)
#   -k  seconds between agent kills, random in MIN..MAX (default 3,10)
#   -q  the last QUIET percent of the run without kills (default 40)
# Prints TAP (selftests/soak/soak.t runs a short version) and a summary; exits non-zero when a
# check fails. Needs root; creates only namespaces, veths, a cgroup and pins of its own.
set -u
SOAK_SECONDS=1800
WORKERS=16
KILL_RANGE=3,10
QUIET=40
while getopts "t:w:k:q:h" o; do
	case $o in
	t) SOAK_SECONDS=$OPTARG ;;
	w) WORKERS=$OPTARG ;;
	k) KILL_RANGE=$OPTARG ;;
	q) QUIET=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done
KILL_MIN=${KILL_RANGE%,*}
KILL_MAX=${KILL_RANGE#*,}

# shellcheck source=../selftests/lib.sh
. "$(dirname "$0")/../selftests/lib.sh"
ETCD_HOSTS=()		# etcd_cluster.sh's default: every member on 127.0.0.1
# shellcheck source=../selftests/etcd/etcd_cluster.sh
. "$PL_ROOT/selftests/etcd/etcd_cluster.sh"
TRAFFIC=$PL_ROOT/selftests/upgrade/traffic.py
SVC_TOOL=$PL_ROOT/selftests/lb/svc_tool.py
CALL_TIMEOUT=60		# a CNI call still running after this long counts as hung
STALL_MS=3000		# the longest gap the stream or the ClusterIP connection may show

require_root
require_cmd etcd etcdctl openssl python3 jq bpftool ip ss timeout
require_build podlaned podlane-cni podlanectl
[ -d /sys/fs/bpf ] || skip_all "bpffs is not mounted at /sys/fs/bpf"
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || skip_all "no cgroup v2 hierarchy mounted"
case "$SOAK_SECONDS$WORKERS$KILL_MIN$KILL_MAX$QUIET" in
*[!0-9]*) echo "soak: -t, -w, -k and -q take whole numbers" >&2; exit 2 ;;
esac
[ "$KILL_MIN" -ge 1 ] && [ "$KILL_MAX" -ge "$KILL_MIN" ] && [ "$QUIET" -le 90 ] &&
	[ "$WORKERS" -ge 1 ] && [ "$WORKERS" -le 24 ] || {
	echo "soak: need 1 <= MIN <= MAX for -k, -q at most 90, 1-24 workers" >&2
	exit 2
}

pl_setup
T=$PL_TMP
EV=$T/events		# one line per event, appended by every worker (lines < PIPE_BUF)
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
log_ev() { echo "$*" >> "$EV"; }
bail() { ok 1 "$*"; done_testing; }

X=$((PL_ID % 200 + 20))
NET=plsoak
SUBNET=10.252.$X.0/27		# 30 addresses for WORKERS + 3 pods: reuse is constant
VIP=10.96.$X.80
NODE_IP=198.18.$X.1
UPLINK=pls$PL_ID
CG=$CG2/podlane-soak-$PL_ID
CONF=$T/net.conf
STOP=$T/stop			# the traffic helpers stop when it appears
cni_conf "$CONF" "$NET" "$SUBNET"

# ---- etcd, uplink, cgroup ---------------------------------------------------------------
make_pki || bail "a CA and certificates for etcd (openssl)"
pick_ports || bail "seven free ports for etcd"
on_cleanup etcd_cluster_kill
for i in 0 1 2; do etcd_member_start "$i"; done
poll 30 etcd_healthy || bail "a three-member etcd cluster comes up"
mkdir "$CG" || bail "a cgroup under $CG2"
cgroup_remove() {
	[ -w "$CG/cgroup.kill" ] && echo 1 > "$CG/cgroup.kill"
	for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && return 0; sleep 0.1; done
}
on_cleanup cgroup_remove
OUT_NS=$(netns_add out) || bail "a network namespace"
on_cleanup "ip link del $UPLINK"
ip link add "$UPLINK" type veth peer name eth0 netns "$OUT_NS" &&
	ip addr add "$NODE_IP/24" dev "$UPLINK" && ip link set "$UPLINK" up &&
	ip -n "$OUT_NS" link set eth0 up || bail "the uplink veth"

# ---- the agent, restarted by whoever kills it ---------------------------------------------
AGENT_OPTS=(--pin-root "$PL_PIN" --state-dir "$PL_STATE" --socket "$PL_SOCK"
	--log-file "$T/podlaned.log" --uplink "$UPLINK" --cgroup "$CG" --no-node-routes
	--node-name "soak$PL_ID" --node-ip "$NODE_IP" --lease-ttl 5 $(etcd_agent_opts))
# agent_up: start podlaned, record its pid in $T/agent.pid, wait until it answers.
agent_up() {
	"$PL_BUILD/podlaned" "${AGENT_OPTS[@]}" 2>> "$T/podlaned.stderr" &
	echo $! > "$T/agent.pid"
	poll 30 agent_ready
}
agent_pid() { cat "$T/agent.pid" 2>/dev/null; }
# agent_stop: the last agent stops as an operator stops it, with SIGTERM (so a sanitized
# build's LeakSanitizer checks it after the chaos), SIGKILL if it is still there after 10 s.
agent_stop() {
	local pid
	pid=$(agent_pid)
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		grep -qs '^State:[[:space:]]*[^Z]' "/proc/$pid/status" || return 0
		sleep 0.1
	done
	kill -KILL "$pid"
}
on_cleanup agent_stop
agent_up || bail "podlaned starts with --uplink, --cgroup and etcd"
ok 0 "podlaned starts with --uplink, --cgroup and a three-member etcd"
PINS0=$(cd "$PL_PIN" && find . | sort)

# ---- the long-lived pods and their traffic -------------------------------------------------
in_cg() {
	local ns=$1
	shift
	bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$CG" \
		ip netns exec "$ns" "$@"
}
bg() { "$@" & on_cleanup "kill $!"; }
declare -A NS IP
pod_add() {
	local res
	NS[$1]=$(netns_add "$1") || return 1
	res=$(cni ADD "c-$1-$PL_ID" "/run/netns/${NS[$1]}" eth0 "$CONF") || return 1
	IP[$1]=$(jq -r '.ips[0].address' <<<"$res" | cut -d/ -f1)
	log_ev "LONG $(now_ms) ${IP[$1]} c-$1-$PL_ID"
}
pod_add a && pod_add b && pod_add c || bail "pods a, b, c are wired"
ok 0 "long-lived pods a, b, c are wired (${IP[a]}, ${IP[b]}, ${IP[c]})"

RUN_S=$((SOAK_SECONDS + 120))	# the traffic outlives the chaos; STOP ends it
bg ip netns exec "${NS[c]}" python3 "$SVC_TOOL" serve c --tcp 8080 --timeout "$RUN_S"
backend_up() { ip netns exec "${NS[c]}" ss -Hltn 'sport = :8080' | grep -q .; }
poll 10 backend_up &&
	printf '{"name":"soak","clusterIP":"%s","ports":[{"port":80,"targetPort":8080}],"backends":[{"ip":"%s"}]}' \
		"$VIP" "${IP[c]}" | ctl service add --file - >/dev/null ||
	bail "service soak: ClusterIP $VIP:80 -> pod c"
jget() { jq -r ".$2 // empty" "$1" 2>/dev/null; }
above() { [ "$(jget "$1" "$2")" -gt "$3" ] 2>/dev/null; }
bg ip netns exec "${NS[b]}" python3 "$TRAFFIC" recv 7301 "$T/recv.st" --timeout "$RUN_S" \
	--ready "$T/recv.ready"
poll 10 test -e "$T/recv.ready" &&
	bg ip netns exec "${NS[a]}" python3 "$TRAFFIC" send "${IP[b]}" 7301 "$T/send.st" "$STOP" \
		--duration "$RUN_S" --rate 2048 &&
	bg in_cg "${NS[a]}" python3 "$TRAFFIC" rr "$VIP" 80 "$T/rr.st" "$STOP" \
		--duration "$RUN_S" &&
	poll 10 above "$T/recv.st" bytes 100000 && poll 10 above "$T/rr.st" answers 10
ok $? "a TCP stream a -> b and a ClusterIP connection from a are running"

# ---- the chaos ---------------------------------------------------------------------------
T0=$(now_ms)
END=$((T0 + SOAK_SECONDS * 1000))
QUIET_AT=$((END - SOAK_SECONDS * 10 * QUIET))	# no kills after this
running() { [ "$(now_ms)" -lt "$END" ]; }
rand() { echo $(( $1 + RANDOM % ($2 - $1 + 1) )); }

# cni_call <ADD|DEL> <cid> <netns>: one plugin call as a runtime makes it; logs the outcome.
# Prints the pod address of a successful ADD. Returns 0 ok, 1 error, 2 hung.
cni_call() {
	local out rc code
	out=$(CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$3 CNI_IFNAME=eth0 \
		CNI_PATH=$PL_BUILD:/usr/lib/cni timeout -s KILL "$CALL_TIMEOUT" \
		"$PL_BUILD/podlane-cni" < "$CONF" 2>/dev/null)
	rc=$?
	if [ $rc -eq 137 ]; then
		log_ev "HANG $(now_ms) $1 $2"
		return 2
	fi
	if [ $rc -ne 0 ]; then
		code=$(jq -r '.code // "none"' <<<"$out" 2>/dev/null)
		log_ev "ERR $(now_ms) $1 ${code:-none} $2"
		return 1
	fi
	[ "$1" = ADD ] && jq -r '.ips[0].address' <<<"$out" | cut -d/ -f1
	return 0
}

# worker <n>: ADD a pod, keep it a moment, DEL it (retried until it succeeds, as a runtime
# does), until the end. A failed ADD is followed by a DEL too, as the runtime's cleanup.
worker() {
	local w=$1 k=0 ns cid ip tries
	while running; do
		k=$((k + 1))
		cid=w$w-$k-$PL_ID
		ns=pl$PL_ID-w$w-$k
		ip netns add "$ns" 2>/dev/null || { sleep 1; continue; }
		if ip=$(cni_call ADD "$cid" "/run/netns/$ns"); then
			log_ev "ADD $(now_ms) $ip $cid"
			sleep "0.$(rand 0 9)"
		fi
		log_ev "DEL_START $(now_ms) ${ip:-none} $cid"
		for tries in $(seq 120); do
			cni_call DEL "$cid" "/run/netns/$ns" >/dev/null && break
			sleep 0.5
		done
		[ "$tries" -lt 120 ] && log_ev "DEL $(now_ms) $cid" || log_ev "DEL_GAVE_UP $(now_ms) $cid"
		ip netns del "$ns" 2>/dev/null
		ip=""
	done
}

killer() {
	local pid
	while [ "$(now_ms)" -lt "$QUIET_AT" ]; do
		sleep "$(rand "$KILL_MIN" "$KILL_MAX")"
		[ "$(now_ms)" -lt "$QUIET_AT" ] || break
		pid=$(agent_pid)
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		log_ev "KILL $(now_ms) $pid"
		sleep "0.$(rand 0 5)"
		agent_up && log_ev "UP $(now_ms) $(agent_pid)" || log_ev "NOT_UP $(now_ms)"
	done
}

# Services churn: add, update (other backends, one more port), delete. Errors while the agent
# is down are expected; the end removes whatever is left.
svc_churn() {
	local k=0 name vip
	while running; do
		k=$((k + 1))
		name=churn$((k % 8))
		vip=10.96.$X.$((100 + k % 8))
		svc_apply SVC_ADD "$name" "$(printf '{"name":"%s","clusterIP":"%s","ports":[{"port":80,"targetPort":8080}],"backends":[{"ip":"%s"},{"ip":"%s"}]}' \
			"$name" "$vip" "${IP[a]}" "${IP[b]}")"
		sleep 0.5
		svc_apply SVC_UPDATE "$name" "$(printf '{"name":"%s","clusterIP":"%s","ports":[{"name":"a","port":80,"targetPort":8080},{"name":"b","port":81,"targetPort":8081}],"backends":[{"ip":"%s"}]}' \
			"$name" "$vip" "${IP[c]}")"
		sleep 0.5
		if [ $((k % 3)) -eq 0 ]; then
			if out=$(ctl service del "$name" 2>&1); then
				log_ev "SVC_DEL $(now_ms) $name"
			else
				log_ev "SVC_ERR $(now_ms) del $name $(head -c 200 <<<"$out" | tr '\n' ' ')"
			fi
		fi
	done
}
# svc_apply <event> <name> <spec>: podlanectl service add; logs the event or the error.
svc_apply() {
	local out
	if out=$(ctl service add --file - <<<"$3" 2>&1); then
		log_ev "$1 $(now_ms) $2"
	else
		log_ev "SVC_ERR $(now_ms) $1 $2 $(head -c 200 <<<"$out" | tr '\n' ' ')"
	fi
}

# Node records in etcd: a node joins (its record), and leaves again a few seconds later.
node_churn() {
	local k=0 n
	while running; do
		k=$((k + 1))
		n=$((k % 20 + 1))
		ectl put "/podlane/v1/nodes/fake$n-$PL_ID" \
			"{\"name\":\"fake$n-$PL_ID\",\"nodeIP\":\"198.18.$X.$((n + 10))\",\"podCIDR\":\"10.201.$n.0/24\"}" \
			>/dev/null 2>&1 && log_ev "NODE_PUT $(now_ms) fake$n"
		sleep 1
		[ $((k % 2)) -eq 0 ] &&
			ectl del "/podlane/v1/nodes/fake$((n - 1))-$PL_ID" >/dev/null 2>&1 &&
			log_ev "NODE_DEL $(now_ms) fake$((n - 1))"
	done
}

# One etcd member at a time is killed and restarted; the cluster keeps its quorum.
etcd_chaos() {
	local m
	while running; do
		sleep "$(rand 10 25)"
		running || break
		m=$(rand 0 2)
		etcd_member_kill "$m"
		log_ev "ETCD_KILL $(now_ms) m$m"
		sleep "$(rand 3 8)"
		etcd_member_start "$m"
		log_ev "ETCD_START $(now_ms) m$m"
	done
}

# Every 5 s (2 s in runs under 10 minutes): the agent's pid, RSS (kB), open descriptors, and
# how many of them are sockets (the API's clients in flight among them: 16 CNI workers' calls
# come and go, so the socket count moves by several between samples without any leak).
monitor() {
	local pid rss fds socks every=5
	[ "$SOAK_SECONDS" -lt 600 ] && every=2
	while running; do
		pid=$(agent_pid)
		rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
		fds=$(find "/proc/$pid/fd" -mindepth 1 2>/dev/null | wc -l)
		socks=$(find "/proc/$pid/fd" -mindepth 1 -lname 'socket:*' 2>/dev/null | wc -l)
		[ -n "$rss" ] && log_ev "MON $(now_ms) $pid $rss $fds $socks"
		sleep "$every"
	done
}

diag "chaos for $SOAK_SECONDS s: $WORKERS CNI workers, agent kills every $KILL_MIN-$KILL_MAX s for the first $((100 - QUIET))%, services, nodes, etcd members"
PIDS=()
for w in $(seq "$WORKERS"); do worker "$w" & PIDS+=($!); done
killer 2>> "$T/chaos.err" & PIDS+=($!)
svc_churn & PIDS+=($!)
node_churn & PIDS+=($!)
etcd_chaos 2>> "$T/chaos.err" & PIDS+=($!)
monitor & PIDS+=($!)
on_cleanup "kill ${PIDS[*]}"
# Everything above stops by itself at END; a worker may still finish its last DEL.
for p in "${PIDS[@]}"; do wait "$p"; done 2>/dev/null	# bash reports the killed agents and members
diag "chaos over after $(( ($(now_ms) - T0) / 1000 )) s"

# ---- settle ------------------------------------------------------------------------------
for i in 0 1 2; do etcd_member_dead "$i" && etcd_member_start "$i"; done
poll 30 etcd_healthy
agent_ready || { diag "agent down at the end: starting it"; agent_up; }
for n in $(seq 0 20); do ectl del "/podlane/v1/nodes/fake$n-$PL_ID" >/dev/null 2>&1; done
for n in $(seq 0 7); do ctl service del "churn$n" >/dev/null 2>&1; done
nodes_gone() { [ "$(ctl --json node list | jq '.nodes | length')" = 0 ]; }
poll 30 nodes_gone
ok $? "the nodes whose records were deleted are gone ($(ctl --json node list | jq '.nodes | length') left)"
nodes_gone || diag "left: $(ctl --json node list | jq -c '[.nodes[].name]')"
only_soak() { [ "$(ctl --json service list | jq -c '[.services[].service.name]')" = '["soak"]' ]; }
only_soak
ok $? "only the soak service is left once the churned ones are deleted"

# ---- what the run did --------------------------------------------------------------------
count() { grep -c "^$1 " "$EV"; }
diag "agent kills: $(count KILL), ADDs ok: $(count ADD), DELs ok: $(count DEL), CNI errors: $(count ERR)" \
	"services added/updated/deleted: $(count SVC_ADD)/$(count SVC_UPDATE)/$(count SVC_DEL)" \
	"node records put/deleted: $(count NODE_PUT)/$(count NODE_DEL), etcd member kills: $(count ETCD_KILL)"
[ "$(count NOT_UP)" = 0 ]
ok $? "podlaned came back after every kill ($(count KILL) kills)"
[ "$(count HANG)" = 0 ]
ok $? "no CNI call hung (${CALL_TIMEOUT} s): $(count HANG) did"
bad=$(awk '$1 == "ERR" && $4 != 11 { print $3, $4, $5 }' "$EV" | sort | uniq -c | head -n 5)
[ -z "$bad" ]
ok $? "every failed CNI call failed with code 11, the agent unreachable ($(count ERR) did)"
[ -n "$bad" ] && diag "other errors: $bad"
bad=$(grep '^SVC_ERR ' "$EV" | grep -v "cannot reach podlaned" | head -n 3)
[ -z "$bad" ]
ok $? "service changes failed only while podlaned was unreachable ($(count SVC_ERR) did)"
[ -n "$bad" ] && diag "$bad"
[ "$(count DEL_GAVE_UP)" = 0 ]
ok $? "every DEL succeeded within its retries"
[ "$(count ADD)" -gt "$WORKERS" ] && [ "$SOAK_SECONDS" -lt 30 -o "$(count KILL)" -gt 0 ]
ok $? "the run did work: $(count ADD) pods wired, $(count KILL) agent kills"

# No address held by two live pods: a pod holds its address from the ADD's reply until its
# DEL starts; the long-lived pods hold theirs throughout.
dup=$(awk '
	$1 == "LONG" { long[$3] = $4 }
	$1 == "ADD" { if ($3 in long) { print "long", $3, long[$3], $4; next }
		      if ($3 in live) print "twice", $3, live[$3], $4; live[$3] = $4; by[$4] = $3 }
	$1 == "DEL_START" && ($4 in by) { ip = by[$4]; if (live[ip] == $4) delete live[ip]; delete by[$4] }
	' "$EV" | head -n 5)
[ -z "$dup" ]
ok $? "no address was ever given to two live pods ($(count ADD) grants from a /27)"
[ -n "$dup" ] && diag "$dup"

# ---- nothing leaked ---------------------------------------------------------------------
# The host veth of an attachment is named for it (pl + 48 bits of FNV-1a over "<cid>\0<ifname>"):
# the ones this run's pods would have, so that other tests' veths do not count.
our_veths() {
	awk '{ print $NF }' "$EV" | grep "^[wc]-\{0,1\}[a-z0-9-]*-$PL_ID$" | sort -u | python3 -c '
import sys
for cid in sys.stdin.read().split():
    h = 0xcbf29ce484222325
    for b in cid.encode() + b"\0eth0":
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    print("pl%012x" % (h & 0xffffffffffff))' | sort -u > "$T/veth.names"
	ip -o link show | sed -n 's/^[0-9]*: \(pl[0-9a-f]\{12\}\)[@:].*/\1/p' | sort -u |
		comm -12 - "$T/veth.names" | wc -l
}
[ "$(our_veths)" = 3 ]
ok $? "host veths of this run's pods: the 3 long-lived ones only ($(our_veths))"
left_ns=$(ip netns list | awk -v p="pl$PL_ID-w" 'index($1, p) == 1' | wc -l)
[ "$left_ns" = 0 ]
ok $? "no worker netns left ($left_ns)"
ipam=$(find "$PL_STATE/ipam/$NET" -maxdepth 1 -name '[0-9]*.[0-9]*.[0-9]*.[0-9]*' | wc -l)
[ "$ipam" = 3 ]
ok $? "IPAM records: the 3 long-lived pods' only ($ipam)"
map_len() { bpftool -j map dump pinned "$PL_PIN/$1" | jq length; }
for m in podlane_eps podlane_ep_meta podlane_ep_stat; do
	[ "$(map_len $m)" = 3 ]; ok $? "$m: 3 entries ($(map_len $m))"
done
[ "$(map_len podlane_nodes)" = 0 ]; ok $? "podlane_nodes: empty ($(map_len podlane_nodes))"
PINS1=$(cd "$PL_PIN" && find . | sort)
[ "$PINS1" = "$PINS0" ]
ok $? "the pins are those the first agent made, no more, no fewer"
[ "$PINS1" = "$PINS0" ] || diag "$(diff <(echo "$PINS0") <(echo "$PINS1") | head -n 10)"
stray=$(pgrep -f "$PL_BUILD/podlane-cni" | wc -l)
agents=$(pgrep -f -- "--pin-root $PL_PIN " | wc -l)
[ "$stray" = 0 ] && [ "$agents" = 1 ]
ok $? "processes: one podlaned, no podlane-cni left ($agents, $stray)"

# ---- traffic ----------------------------------------------------------------------------
touch "$STOP"
ended() { [ -n "$(jget "$1" state)" ] && [ "$(jget "$1" state)" != run ]; }
poll 20 ended "$T/send.st" && poll 20 ended "$T/recv.st" && poll 20 ended "$T/rr.st"
diag "sender: $(cat "$T/send.st")" "receiver: $(cat "$T/recv.st")" "ClusterIP: $(cat "$T/rr.st")"
sent=$(jget "$T/send.st" bytes)
got=$(jget "$T/recv.st" bytes)
[ "$(jget "$T/recv.st" state)" = done ] && [ -n "$got" ] && [ "$got" = "$sent" ]
ok $? "the stream delivered every byte in order through the run ($got bytes)"
gap=$(jget "$T/recv.st" max_gap_ms)
awk -v g="$gap" -v m=$STALL_MS 'BEGIN { exit !(g != "" && g < m) }'
ok $? "the stream never stalled for ${STALL_MS} ms (longest gap: $gap ms)"
[ "$(jget "$T/rr.st" state)" = done ] && [ "$(jget "$T/rr.st" backend)" = c ]
ok $? "the ClusterIP connection held: $(jget "$T/rr.st" answers) answers, no error"
gap=$(jget "$T/rr.st" max_gap_ms)
awk -v g="$gap" -v m=$STALL_MS 'BEGIN { exit !(g != "" && g < m) }'
ok $? "the ClusterIP connection never stalled for ${STALL_MS} ms (longest gap: $gap ms)"

# ---- the last agent's footprint ---------------------------------------------------------
# Samples of the agent that ran through the quiet part, after a warm-up (a quarter of it, at
# most 20 s): its caches and maps have their working size by then.
last=$(agent_pid)
warm=$((SOAK_SECONDS * 10 * QUIET / 4))
[ "$warm" -gt 20000 ] && warm=20000
awk -v p="$last" -v t=$((QUIET_AT + warm)) \
	'$1 == "MON" && $3 == p && $2 >= t { print $4, $5, $6 }' "$EV" > "$T/footprint"
n=$(wc -l < "$T/footprint")
if [ "$n" -ge 3 ]; then
	read -r rss0 fd0 sk0 < "$T/footprint"
	read -r rss1 fd1 sk1 < <(tail -n 1 "$T/footprint")
	rssmax=$(awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }' "$T/footprint")
	# Sockets: the fewest in the first and in the second half of the samples (a client
	# connection never closed raises the floor; calls in flight do not).
	read -r skmin0 skmin1 < <(awk -v n="$n" '{ h = NR <= n / 2 ? 0 : 1 }
		!(h in m) || $3 < m[h] { m[h] = $3 } END { print m[0], m[1] }' "$T/footprint")
	diag "podlaned $last over $n samples: RSS $rss0 -> $rss1 kB (max $rssmax), fds $fd0 -> $fd1," \
		"other than sockets $((fd0 - sk0)) -> $((fd1 - sk1)), fewest sockets $skmin0 -> $skmin1"
	what="other than sockets $((fd0 - sk0)) -> $((fd1 - sk1)), fewest sockets $skmin0 -> $skmin1"
	[ $((fd1 - sk1)) -le $((fd0 - sk0 + 2)) ] && [ "$skmin1" -le $((skmin0 + 2)) ]
	ok $? "open descriptors flat under load ($what)"
	if [ -s "$PL_BUILD/sanitize" ]; then
		# ASan keeps freed memory in its quarantine (up to 256 MiB) and adds redzones: RSS
		# grows by design. The plain build's run checks it; LeakSanitizer checks this agent
		# for leaks when it exits (agent_stop).
		skip "RSS flat under load" "a sanitized build ($(cat "$PL_BUILD/sanitize"))"
	else
		[ "$rss1" -le $((rss0 + rss0 / 10 + 2048)) ]
		ok $? "RSS flat under load ($rss0 -> $rss1 kB, at most +10% + 2 MiB)"
	fi
else
	skip "open descriptors flat under load" "only $n samples of the last agent (run longer)"
	skip "RSS flat under load" "only $n samples"
fi
# On failure, keep what explains it: the logs and the event record outlive the temp dir.
if [ "$PL_FAILED" -gt 0 ]; then
	keep=/tmp/podlane-soak-$PL_ID
	mkdir -p "$keep" && cp "$EV" "$T"/*.log "$T"/*.err "$T"/*.st "$keep"/ 2>/dev/null
	diag "logs and events kept in $keep"
fi
done_testing
