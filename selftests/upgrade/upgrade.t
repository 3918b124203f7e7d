#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# upgrade.t - an agent built from an earlier commit is replaced by this tree's build under live
# traffic (issue 9). The old podlaned, with an uplink veth (tc, XDP link) and the socket LB on a
# cgroup the test owns, wires three pods with the old podlane-cni and serves a ClusterIP; a TCP
# stream runs between two pods and a connection to the ClusterIP exchanges a request every
# 50 ms. The old agent stops with SIGTERM, the new one starts with the same options, pin root,
# state dir and socket. Checked: every pinned map and link keeps its id, the programs in the
# links and on every tc hook are the new agent's, endpoints and services are as they were, the
# stream delivered every byte in order and neither connection stalled for 1 s or broke; then
# the new podlane-cni wires a pod that reaches the old ones and the ClusterIP, and a DEL of an
# old pod releases its address and its veth.
#
# The old build is cached in build/upgrade-<commit>/, so only the first run compiles it.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

# The release the upgrade starts from. Bump it to the last release (or the commit before the
# change) whenever a later change moves the agent's layout: pins, state files, the API.
PL_UPGRADE_FROM=${PL_UPGRADE_FROM:-bfde887}

TRAFFIC=$PL_ROOT/selftests/upgrade/traffic.py
SVC_TOOL=$PL_ROOT/selftests/lb/svc_tool.py	# its "serve" is the ClusterIP backend
STALL_MS=1000		# the longest gap either connection may show
SETTLE_MS=3000		# how long both keep running once the new agent is ready

require_root
require_cmd git make tar python3 ip tc bpftool jq
require_build podlaned podlane-cni podlanectl
[ -d /sys/fs/bpf ] || skip_all "bpffs is not mounted at /sys/fs/bpf"
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || skip_all "no cgroup v2 hierarchy mounted"
git -C "$PL_ROOT" rev-parse --git-dir >/dev/null 2>&1 ||
	skip_all "$PL_ROOT is not a git checkout: no old revision to upgrade from"
OLD_REV=$(git -C "$PL_ROOT" rev-parse -q --verify "$PL_UPGRADE_FROM^{commit}") ||
	skip_all "revision $PL_UPGRADE_FROM is not in this repository (a shallow clone?" \
		"git fetch --unshallow brings it)"

NEW_BUILD=$PL_BUILD
OLD_BUILD=$NEW_BUILD/upgrade-$OLD_REV
pl_setup
T=$PL_TMP
# bail <reason>: the rest cannot run; end the TAP stream as a failure.
bail() { ok 1 "$*"; done_testing; }
[ -e "$SVC_TOOL" ] || bail "the ClusterIP backend server $SVC_TOOL is missing"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---- a node: uplink and cgroup (before the build: a missing piece skips at once) ------
X=$((PL_ID % 250 + 1))
VIP=10.96.$X.90
NODE_IP=198.18.$X.1
OUT_IP=198.18.$X.2
SUBNET=10.253.$X.0/24
UPLINK=plg$PL_ID
CG=$CG2/podlane-upgrade-$PL_ID
CONF=$T/net.conf
cni_conf "$CONF" plupgrade "$SUBNET"

cgroup_remove() {
	[ -d "$CG" ] || return 0
	[ -w "$CG/cgroup.kill" ] && echo 1 > "$CG/cgroup.kill"
	for _ in $(seq 50); do
		rmdir "$CG" 2>/dev/null && return 0
		sleep 0.1
	done
}
mkdir "$CG" || skip_all "cannot create a cgroup under $CG2"
on_cleanup cgroup_remove
OUT_NS=$(netns_add out) || skip_all "cannot create a network namespace"
on_cleanup "ip link del $UPLINK"
ip link add "$UPLINK" type veth peer name eth0 netns "$OUT_NS" &&
	ip addr add "$NODE_IP/24" dev "$UPLINK" && ip link set "$UPLINK" up &&
	ip -n "$OUT_NS" addr add "$OUT_IP/24" dev eth0 && ip -n "$OUT_NS" link set eth0 up ||
	skip_all "cannot create the uplink veth"

# ---- the old build --------------------------------------------------------------------
# old_build: podlaned and podlane-cni of OLD_REV into OLD_BUILD, from an archive of that commit
# in the test's temp dir. Built beside the cache and renamed into place, so an interrupted or
# concurrent build never leaves a half-built cache behind.
old_build() {
	local src=$T/src out=$OLD_BUILD.tmp.$PL_ID
	[ -x "$OLD_BUILD/podlaned" ] && [ -x "$OLD_BUILD/podlane-cni" ] && return 0
	mkdir -p "$src" && git -C "$PL_ROOT" archive "$OLD_REV" | tar -x -C "$src" || return 1
	on_cleanup "rm -rf '$out'"
	# Not the make that may be running this test: its flags and variables stay out.
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$src" -j2 OUTPUT="$out" \
		"$out/podlaned" "$out/podlane-cni" > "$T/old-build.log" 2>&1 || return 1
	mv -T "$out" "$OLD_BUILD" 2>/dev/null || [ -x "$OLD_BUILD/podlaned" ]
}
t0=$(now_ms)
old_build
rc=$?
ok $rc "podlaned and podlane-cni of $PL_UPGRADE_FROM (${OLD_REV:0:12}) are built ($(( ($(now_ms) - t0) / 1000 )) s)"
[ $rc -eq 0 ] || { diag "$(tail -n 20 "$T/old-build.log" 2>/dev/null)"; done_testing; }

# ---- the old agent --------------------------------------------------------------------
# Both agents answer to the new podlanectl: one client reads the state before and after.
agent_ready() { "$NEW_BUILD/podlanectl" --socket "$PL_SOCK" status >/dev/null 2>&1; }
AGENT_OPTS=(--cgroup "$CG" --uplink "$UPLINK")
PL_BUILD=$OLD_BUILD agent_start "${AGENT_OPTS[@]}" ||
	bail "the old podlaned starts with --uplink $UPLINK and --cgroup (a test cgroup)"
ok 0 "the old podlaned starts with --uplink $UPLINK and --cgroup (a test cgroup)"
OLD_PID=$PL_AGENT_PID

# in_cg <netns> <command...>: in the test cgroup (so the socket LB sees it) and a pod's netns.
in_cg() {
	local ns=$1
	shift
	bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$CG" \
		ip netns exec "$ns" "$@"
}
# bg <command...>: a bounded helper in the background, killed at cleanup; sets BG.
bg() {
	"$@" &
	BG=$!
	on_cleanup "kill $BG"
}

declare -A NS IP HOST
# pod_add <old|new> <name>: a pod wired by that build's podlane-cni.
pod_add() {
	local build=$OLD_BUILD res
	[ "$1" = new ] && build=$NEW_BUILD
	NS[$2]=$(netns_add "$2") || return 1
	res=$(PL_BUILD=$build cni ADD "c-$2-$PL_ID" "/run/netns/${NS[$2]}" eth0 "$CONF" \
		2> "$T/$2.err") || { diag "ADD $2: $res $(cat "$T/$2.err")"; return 1; }
	IP[$2]=$(jq -r '.ips[0].address' <<<"$res" | cut -d/ -f1)
	HOST[$2]=$(ctl --json endpoint list |
		jq -r --arg ip "${IP[$2]}" '.endpoints[] | select(.ip == $ip) | .host_ifname')
	[ -n "${HOST[$2]}" ]
}
pod_del() { cni DEL "c-$1-$PL_ID" "/run/netns/${NS[$1]}" eth0 "$CONF"; }

pod_add old a && pod_add old b && pod_add old c
ok $? "the old podlane-cni wires pods a, b, c (${IP[a]}, ${IP[b]}, ${IP[c]})"

bg ip netns exec "${NS[c]}" python3 "$SVC_TOOL" serve c --tcp 8080 --timeout 120
backend_up() { ip netns exec "${NS[c]}" ss -Hltn 'sport = :8080' | grep -q .; }
poll 10 backend_up &&
	printf '{"name":"upgrade","clusterIP":"%s","ports":[{"name":"http","port":80,"targetPort":8080}],"backends":[{"ip":"%s"}]}' \
		"$VIP" "${IP[c]}" | ctl service add --file - >/dev/null
ok $? "service upgrade: ClusterIP $VIP:80 -> pod c :8080"

# ---- traffic across the swap ----------------------------------------------------------
STOP=$T/traffic.stop
# jget <status-file> <field>: a field of a traffic.py status file.
jget() { jq -r ".$2 // empty" "$1" 2>/dev/null; }
above() { [ "$(jget "$1" "$2")" -gt "$3" ] 2>/dev/null; }

bg ip netns exec "${NS[b]}" python3 "$TRAFFIC" recv 7201 "$T/recv.st" --timeout 90 \
	--ready "$T/recv.ready"
poll 10 test -e "$T/recv.ready" &&
	bg ip netns exec "${NS[a]}" python3 "$TRAFFIC" send "${IP[b]}" 7201 "$T/send.st" "$STOP" \
		--duration 60 &&
	bg in_cg "${NS[a]}" python3 "$TRAFFIC" rr "$VIP" 80 "$T/rr.st" "$STOP" --duration 60 &&
	poll 10 above "$T/recv.st" bytes 200000 && poll 10 above "$T/rr.st" answers 10
ok $? "a TCP stream a -> b and request/response over a ClusterIP connection from a are running"
diag "stream $(jget "$T/recv.st" bytes) bytes, ClusterIP answered by $(jget "$T/rr.st" backend)"

# ---- what the old agent leaves pinned and attached ------------------------------------
# The snapshots list the whole machine once per kind (bpftool -f: with pin paths) and keep ours:
# a process per pin is slow on a loaded 2-CPU machine and stretches the swap.
# pinned_maps: "<pin>=<map id>" for every map pinned in the pin root.
pinned_maps() {
	bpftool -j -f map show | jq -r --arg d "$PL_PIN/" '.[] | .id as $id | (.pinned // [])[] |
		select(startswith($d)) | ltrimstr($d) | select(contains("/") | not) | "\(.)=\($id)"' |
		sort
}
# pinned_links: "<pin>=<link id> <program id> <program name>" for every link under links/.
pinned_links() {
	jq -rn --arg d "$PL_PIN/links/" --slurpfile links <(bpftool -j -f link show) \
		--slurpfile progs <(bpftool -j prog show) '
		($progs[0] | map({key: (.id | tostring), value: .name}) | from_entries) as $name |
		$links[0][] | . as $l | (.pinned // [])[] | select(startswith($d)) |
		"\(ltrimstr($d))=\($l.id) \($l.prog_id) \($name[$l.prog_id | tostring])"' | sort
}
# tc_hooks: "<dev>/<direction>=<name>:<id> ..." for every BPF filter on the pods' host veths
# and the uplink, both directions (an empty hook is listed too).
tc_hooks() {
	local d dir hooks=()
	for d in "${HOST[a]}" "${HOST[b]}" "${HOST[c]}" "$UPLINK"; do
		for dir in ingress egress; do
			hooks+=("$d/$dir")
		done
	done
	# One array per command, in order.
	printf 'filter show dev %s\n' "${hooks[@]/\// }" | tc -j -batch - |
		jq -rs --args '. as $out | $ARGS.positional | to_entries[] | "\(.value)=\($out[.key] |
			[.[] | select(.options.prog) | "\(.options.prog.name):\(.options.prog.id)"] |
			join(" "))"' "${hooks[@]}"
}
# held_ids <pid> <prog|map|link>: ids of the BPF objects that process holds a descriptor to.
held_ids() { cat /proc/"$1"/fdinfo/* 2>/dev/null | awk -v k="$2_id:" '$1 == k { print $2 }' | sort -un; }
# The state an operator sees, without counters: endpoints and services as the API lists them.
endpoints() {
	ctl --json endpoint list | jq -S '[.endpoints[] | {container_id, network, netns, ifname,
		ip, pod_mac, pod_ifindex, host_ifname, host_mac, ifindex, ready, created_ns}]
		| sort_by(.ip)'
}
services() {
	ctl --json service list | jq -S '[.services[] | {service, frontends: [.frontends[] |
		{kind, address, port, protocol, svc_id}]}] | sort_by(.service.name)'
}
# field <snapshot> <key>: the value for key in a "key=value" snapshot.
field() { sed -n "s|^$2=||p" <<<"$1"; }

MAPS0=$(pinned_maps)
LINKS0=$(pinned_links)
TC0=$(tc_hooks)
EPS0=$(endpoints)
SVCS0=$(services)
OLD_PROGS=$(held_ids "$OLD_PID" prog)
n_maps=$(grep -c . <<<"$MAPS0")
n_links=$(grep -c . <<<"$LINKS0")
# Every program on a tc hook or in a link, by id: all must be the old agent's.
PROGS0=$({ sed 's/^[^=]*=//' <<<"$TC0" | tr ' ' '\n' | sed -n 's/.*:\([0-9]*\)$/\1/p'
	   awk '{ print $2 }' <<<"$LINKS0"; } | sort -un)
[ "$n_maps" -ge 10 ] && [ "$n_links" -ge 5 ] && [ -n "$PROGS0" ] &&
	[ -z "$(comm -23 <(echo "$PROGS0") <(echo "$OLD_PROGS"))" ] &&
	[ "$(field "$TC0" "$UPLINK/ingress" | wc -w)" = 1 ] &&
	grep -q '^xdp_from_uplink=' <<<"$LINKS0" &&
	[ "$(jq length <<<"$EPS0")" = 3 ] && [ "$(jq length <<<"$SVCS0")" = 1 ] &&
	jq -e 'all(.[]; .host_ifname and .ifindex and .created_ns)' <<<"$EPS0" >/dev/null
ok $? "before: $n_maps pinned maps, $n_links pinned links, tc on 3 pod veths and the uplink, all the old agent's programs"
diag "links (pin=link id, program id): $(cut -d' ' -f1,2 <<<"$LINKS0" | tr '\n' ' ')"

# ---- the swap -------------------------------------------------------------------------
s0=$(now_ms)
b0=$(jget "$T/recv.st" bytes)
r0=$(jget "$T/rr.st" answers)
# exited <pid>: gone, or a zombie waiting for our wait.
exited() { [ ! -e "/proc/$1" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
kill -TERM "$OLD_PID"
# Bounded: an agent that ignores SIGTERM is killed after 15 s (and the check fails).
poll 15 exited "$OLD_PID" || kill -KILL "$OLD_PID"
wait "$OLD_PID"
rc=$?
PL_AGENT_PID=""
s1=$(now_ms)
[ $rc -eq 0 ] && [ ! -e "$PL_SOCK" ] && [ "$(pinned_maps)" = "$MAPS0" ] &&
	[ "$(pinned_links)" = "$LINKS0" ] && [ "$(tc_hooks)" = "$TC0" ]
ok $? "SIGTERM: the old agent exits ($rc) and leaves every pin and tc filter in place"
s2=$(now_ms)
agent_start "${AGENT_OPTS[@]}" ||
	bail "the new podlaned starts on the same pin root, state dir, socket and options"
ok 0 "the new podlaned starts on the same pin root, state dir, socket and options"
s3=$(now_ms)
b3=$(jget "$T/recv.st" bytes)
r3=$(jget "$T/rr.st" answers)
NEW_PID=$PL_AGENT_PID
diag "old agent gone $((s1 - s0)) ms after SIGTERM, new agent ready $((s3 - s2)) ms after its start" \
	"new agent: $(grep "pid=$NEW_PID " "$PL_TMP/podlaned.log" | grep -o 'msg="reconciled".*')"

# ---- adopted, not recreated -----------------------------------------------------------
MAPS1=$(pinned_maps)
LINKS1=$(pinned_links)
TC1=$(tc_hooks)
NEW_PROGS=$(held_ids "$NEW_PID" prog)
NEW_MAPS=$(held_ids "$NEW_PID" map)
# either <text> <otherwise>: text when a check found something bad, otherwise the other.
either() { if [ -n "$bad" ]; then echo "$1"; else echo "$2"; fi; }
bad=""
while IFS='=' read -r pin id; do
	[ "$(field "$MAPS1" "$pin")" = "$id" ] && grep -qx "$id" <<<"$NEW_MAPS" || bad+=" $pin"
done <<<"$MAPS0"
[ -z "$bad" ]
ok $? "every pinned map keeps its id and the new agent uses it ($(either "changed:$bad" "$n_maps maps"))"
[ -n "$bad" ] && diag "before: $(tr '\n' ' ' <<<"$MAPS0")" "after:  $(tr '\n' ' ' <<<"$MAPS1")"
added=$(comm -13 <(cut -d= -f1 <<<"$MAPS0" | sort) <(cut -d= -f1 <<<"$MAPS1" | sort) | tr '\n' ' ')
[ -n "$added" ] && diag "maps the new build pins in addition: $added"

bad=""
while IFS='=' read -r pin val; do
	read -r lid pid name <<<"$val"
	read -r lid1 pid1 name1 <<<"$(field "$LINKS1" "$pin")"
	[ "$lid1" = "$lid" ] && [ "$name1" = "$name" ] && [ "$pid1" != "$pid" ] &&
		grep -qx "$pid1" <<<"$NEW_PROGS" || bad+=" $pin($lid:$pid->${lid1:-none}:${pid1:-none})"
done <<<"$LINKS0"
[ -z "$bad" ]
ok $? "every pinned link keeps its id and now runs the new agent's program ($(either "wrong:$bad" "$n_links links"))"

bad=""
while IFS='=' read -r hook progs; do
	after=$(field "$TC1" "$hook")
	[ "$(sed 's/:[0-9]*//g' <<<"$progs")" = "$(sed 's/:[0-9]*//g' <<<"$after")" ] ||
		{ bad+=" $hook($progs -> $after)"; continue; }
	for p in $after; do
		grep -qx "${p##*:}" <<<"$NEW_PROGS" && ! grep -qx "${p##*:}" <<<"$OLD_PROGS" ||
			bad+=" $hook($p)"
	done
done <<<"$TC0"
[ -z "$bad" ]
ok $? "tc on every pod veth and the uplink: the same programs by name, loaded by the new agent${bad:+, wrong:$bad}"
diag "$(grep "^${HOST[a]}/ingress=\|^$UPLINK/ingress=" <<<"$TC0" | tr '\n' ' ')->" \
	"$(grep "^${HOST[a]}/ingress=\|^$UPLINK/ingress=" <<<"$TC1" | tr '\n' ' ')"

EPS1=$(endpoints)
[ "$EPS1" = "$EPS0" ]
ok $? "the endpoint list is the same (3 pods)"
[ "$EPS1" = "$EPS0" ] || diag "$(diff <(echo "$EPS0") <(echo "$EPS1"))"
SVCS1=$(services)
[ "$SVCS1" = "$SVCS0" ]
ok $? "the service list is the same (frontends, backends, service ids)"
[ "$SVCS1" = "$SVCS0" ] || diag "$(diff <(echo "$SVCS0") <(echo "$SVCS1"))"

# ---- the connections went on ----------------------------------------------------------
# Both run on the new agent for SETTLE_MS after it is ready (its first conntrack pass and
# reconcile included), then stop; their status files hold the verdicts.
since() { [ $(( $(now_ms) - $1 )) -ge "$2" ]; }
poll 10 since "$s3" "$SETTLE_MS"
touch "$STOP"
ended() { [ -n "$(jget "$1" state)" ] && [ "$(jget "$1" state)" != run ]; }
poll 15 ended "$T/send.st" && poll 15 ended "$T/recv.st" && poll 15 ended "$T/rr.st"
diag "sender: $(cat "$T/send.st")" "receiver: $(cat "$T/recv.st")" "ClusterIP: $(cat "$T/rr.st")"
sent=$(jget "$T/send.st" bytes)
got=$(jget "$T/recv.st" bytes)
[ "$(jget "$T/send.st" state)" = "done" ] && [ "$(jget "$T/recv.st" state)" = "done" ] &&
	[ "$got" = "$sent" ] && [ "$got" -gt "$b3" ] && [ "$b3" -gt "$b0" ]
ok $? "the stream delivered every byte in order across the swap ($b0 at SIGTERM, $b3 when the new agent was ready, $got in all)"
gap=$(jget "$T/recv.st" max_gap_ms)
awk -v g="$gap" -v m=$STALL_MS 'BEGIN { exit !(g != "" && g < m) }'
ok $? "the stream never stalled for ${STALL_MS} ms (longest gap between reads: $gap ms)"
answers=$(jget "$T/rr.st" answers)
[ "$(jget "$T/rr.st" state)" = "done" ] && [ "$answers" -gt "$r3" ] && [ "$r3" -gt "$r0" ] &&
	[ "$(jget "$T/rr.st" backend)" = c ]
ok $? "the ClusterIP connection never errored ($r0 answers at SIGTERM, $r3 when the new agent was ready, $answers in all)"
gap=$(jget "$T/rr.st" max_gap_ms)
awk -v g="$gap" -v m=$STALL_MS 'BEGIN { exit !(g != "" && g < m) }'
ok $? "the ClusterIP connection never stalled for ${STALL_MS} ms (longest gap between answers: $gap ms)"

# ---- the new CNI on the new agent -----------------------------------------------------
pod_add new d
ok $? "the new podlane-cni wires pod d (${IP[d]})"
ip netns exec "${NS[d]}" ping -q -c 2 -i 0.2 -W 2 "${IP[a]}" >/dev/null &&
	ip netns exec "${NS[d]}" ping -q -c 2 -i 0.2 -W 2 "${IP[b]}" >/dev/null &&
	ip netns exec "${NS[a]}" ping -q -c 2 -i 0.2 -W 2 "${IP[d]}" >/dev/null
ok $? "new pod d and old pods a, b reach each other"
res=$(in_cg "${NS[d]}" python3 "$SVC_TOOL" spread "$VIP" 80 5)
[ "$res" = '{"c": 5}' ]
ok $? "new pod d reaches the ClusterIP ($res)"

alloc() { ctl --json status | jq -r '.ipam.plupgrade.allocated'; }
n0=$(alloc)
pod_del b >/dev/null 2>&1
rc=$?
gone() { ! ip link show dev "${HOST[b]}" >/dev/null 2>&1; }
[ $rc -eq 0 ] && [ "$(alloc)" = $((n0 - 1)) ] && [ ! -e "$PL_STATE/ipam/plupgrade/${IP[b]}" ] &&
	! ctl --json endpoint list | jq -e --arg ip "${IP[b]}" '.endpoints[] | select(.ip == $ip)' \
		>/dev/null && poll 10 gone
ok $? "the new CNI's DEL of old pod b releases ${IP[b]} and its veth ${HOST[b]} (allocated $n0 -> $(alloc))"

done_testing
