#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/demo.sh - podlane on one node, start to finish: install what is missing, build, give
# the node an uplink (a veth into a namespace the demo owns), start podlaned on its real default
# paths, wire three pods through podlane-cni exactly as a container runtime would, send ICMP,
# TCP and UDP between them and to the node, show what an operator sees (podlanectl, bpftool),
# reach a pod through a ClusterIP service (no kube-proxy), load one pod and watch `top` and
# the pressure hints, isolate a pod with a NetworkPolicy and show its flow log naming the
# policy, then take everything down again (also on failure or Ctrl-C).
#
# Usage: sudo scripts/demo.sh [--no-deps] [--keep]
#   --no-deps  skip scripts/install-deps.sh and make (use what is built)
#   --keep     leave the demo running and print how to take it down by hand later
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=$ROOT/build

DEPS=1
KEEP=0
for a in "$@"; do
	case $a in
	--no-deps) DEPS=0 ;;
	--keep) KEEP=1 ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

# The agent's real defaults (bpf/podlane.h): the demo is what a node looks like.
PIN_ROOT=/sys/fs/bpf/podlane
STATE_DIR=/var/lib/podlane
RUN_DIR=/run/podlane
SOCK=$RUN_DIR/podlaned.sock
NET=podlane-demo
CIDR=10.244.100.0/24
UPLINK=pldemo0
UPLINK_IP=10.250.100.1
EXT_IP=10.250.100.2
NS_PREFIX=pldemo-
PODS=(web db cache)
CLUSTER_IP=10.96.100.10
# Each pod's processes live in a cgroup of their own, as a runtime would put them; the agent
# ties an endpoint to the cgroup of the processes in its network namespace.
# On a hybrid host (v1 controllers, v2 at unified/) the memory figures come from v1's memory
# controller, so the pods get a cgroup there too.
CGS=()
if [ -d /sys/fs/cgroup/unified ]; then
	CG=/sys/fs/cgroup/unified/podlane-demo
	[ -d /sys/fs/cgroup/memory ] && CGS+=(/sys/fs/cgroup/memory/podlane-demo)
else
	CG=/sys/fs/cgroup/podlane-demo
fi
CGS+=("$CG")

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
run() { printf '\033[36m$ %s\033[0m\n' "$*"; "$@"; }
die() { echo "demo: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0"

# Refuse, before touching anything, when a podlane already lives on this node: an agent that
# answers on the socket, a loaded datapath (pins), or leftovers of an earlier demo.
why=""
if [ -S "$SOCK" ] && [ -x "$BUILD/podlanectl" ] && "$BUILD/podlanectl" status >/dev/null 2>&1; then
	why="a podlaned answers on $SOCK"
elif [ -e "$PIN_ROOT" ]; then
	why="$PIN_ROOT exists (a loaded podlane datapath)"
elif ip link show "$UPLINK" >/dev/null 2>&1 || ip netns list | grep -q "^$NS_PREFIX" ||
     [ -e "$CG" ]; then
	why="link $UPLINK, a netns $NS_PREFIX* or the cgroup $CG exists (an earlier demo?)"
fi
[ -z "$why" ] || die "refusing to run: $why. The demo uses podlane's real default paths and
      shares them with no one: stop that agent (podlaned --uninstall removes its pins and tc
      filters) or remove the leftovers, then run the demo again."

if [ $DEPS -eq 1 ]; then
	bold "Installing missing packages and building"
	scripts/install-deps.sh || die "failed to install dependencies"
	make -j2 || die "failed to build"
fi
for b in podlaned podlane-cni podlanectl; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b is not built (run make)"
done

TMP=$(mktemp -d /tmp/podlane-demo.XXXXXX)
AGENT_PID=""
BG_PIDS=()
CREATED_STATE=0
CREATED_RUN=0

cni() {	# cni <command> <pod>: podlane-cni invoked the way a runtime does (pod demo/<pod>)
	CNI_COMMAND=$1 CNI_CONTAINERID=demo-$2 CNI_NETNS=/run/netns/$NS_PREFIX$2 CNI_IFNAME=eth0 \
		CNI_ARGS="K8S_POD_NAMESPACE=demo;K8S_POD_NAME=$2" \
		CNI_PATH=$BUILD:/usr/lib/cni "$BUILD/podlane-cni" < "$TMP/net.conf"
}

teardown() {
	local rc=$? p
	trap - EXIT INT TERM
	if [ $KEEP -eq 1 ] && [ $rc -eq 0 ]; then
		bold "Left running (--keep). To take it down later:"
		say "for p in ${PODS[*]}; do CNI_COMMAND=DEL CNI_CONTAINERID=demo-\$p" \
		    "CNI_NETNS=/run/netns/$NS_PREFIX\$p CNI_IFNAME=eth0 $BUILD/podlane-cni < $TMP/net.conf; done"
		say "kill $AGENT_PID; $BUILD/podlaned --uninstall --uplink $UPLINK"
		say "ip link del $UPLINK; for p in ${PODS[*]} ext; do ip netns del $NS_PREFIX\$p; done"
		say "rm -rf $STATE_DIR $RUN_DIR $TMP"
		return
	fi
	bold "Tearing down"
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${BG_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [ -n "$AGENT_PID" ]; then
		for p in "${PODS[@]}"; do
			[ -e "/run/netns/$NS_PREFIX$p" ] && cni DEL "$p" >/dev/null 2>&1 && say "CNI DEL $p"
		done
		kill "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
		say "podlaned stopped"
	fi
	"$BUILD/podlaned" --uninstall --pin-root "$PIN_ROOT" --uplink "$UPLINK" >/dev/null 2>&1
	rm -rf "$PIN_ROOT"
	say "tc programs detached, pins under $PIN_ROOT removed"
	ip link del "$UPLINK" 2>/dev/null
	for p in "${PODS[@]}" ext; do
		ip netns del "$NS_PREFIX$p" 2>/dev/null
	done
	# Whatever still runs in a pod (a wrapper may have forked what BG_PIDS does not name).
	for c in "${CGS[@]}"; do
		for p in "${PODS[@]}"; do
			[ -d "$c/$p" ] || continue
			xargs -r kill -9 < "$c/$p/cgroup.procs" 2>/dev/null
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				rmdir "$c/$p" 2>/dev/null && break
				sleep 0.2
			done
		done
		rmdir "$c" 2>/dev/null
	done
	say "namespaces, cgroups and uplink removed"
	[ $CREATED_STATE -eq 1 ] && rm -rf "$STATE_DIR"
	[ $CREATED_RUN -eq 1 ] && rm -rf "$RUN_DIR"
	rm -rf "$TMP"
	say "state in $STATE_DIR and $RUN_DIR removed"
	[ $rc -eq 0 ] && bold "Demo finished" || echo "demo: failed (exit $rc)" >&2
	exit $rc
}
trap teardown EXIT
trap 'exit 130' INT TERM

# poll <seconds> <command...>: bounded wait instead of a fixed sleep.
poll() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}

bold "Node uplink: $UPLINK ($UPLINK_IP) <-> namespace ${NS_PREFIX}ext ($EXT_IP)"
ip netns add "${NS_PREFIX}ext" || die "failed to create netns '${NS_PREFIX}ext'"
ip link add "$UPLINK" type veth peer name ext0 netns "${NS_PREFIX}ext" ||
	die "failed to create veth '$UPLINK'"
ip addr add "$UPLINK_IP/24" dev "$UPLINK"
ip link set "$UPLINK" up
ip -n "${NS_PREFIX}ext" addr add "$EXT_IP/24" dev ext0
ip -n "${NS_PREFIX}ext" link set ext0 up
ip -n "${NS_PREFIX}ext" link set lo up

bold "Starting podlaned (pins $PIN_ROOT, state $STATE_DIR, socket $SOCK)"
[ -d "$STATE_DIR" ] || CREATED_STATE=1
[ -d "$RUN_DIR" ] || CREATED_RUN=1
"$BUILD/podlaned" --uplink "$UPLINK" --log-file "$TMP/podlaned.log" &
AGENT_PID=$!
if ! poll 20 "$BUILD/podlanectl" status; then
	tail -n 20 "$TMP/podlaned.log" >&2
	die "podlaned did not come up"
fi
say "podlaned is up (pid $AGENT_PID, log $TMP/podlaned.log)"

bold "Wiring three pods through podlane-cni, as a runtime would"
cat > "$TMP/net.conf" <<EOC
{"cniVersion": "1.0.0", "name": "$NET", "type": "podlane-cni", "podCIDR": "$CIDR"}
EOC
say "network config: $(tr -s ' \n' ' ' < "$TMP/net.conf")"
declare -A IP
for p in "${PODS[@]}"; do
	ip netns add "$NS_PREFIX$p" || die "failed to create netns '$NS_PREFIX$p'"
	for c in "${CGS[@]}"; do
		mkdir -p "$c/$p" || die "failed to create cgroup $c/$p"
	done
	ip -n "$NS_PREFIX$p" link set lo up
	res=$(cni ADD "$p") || die "CNI ADD for pod '$p' failed: $res"
	IP[$p]=$(jq -r '.ips[0].address' <<< "$res" | cut -d/ -f1)
	say "CNI ADD $p -> ${IP[$p]} (host side $(jq -r '[.interfaces[] | select(.sandbox == null or .sandbox == "") | .name][0]' <<< "$res"))"
done
printf '\033[36m$ ip -n %sweb route; ip -n %sweb neigh\033[0m\n' "$NS_PREFIX" "$NS_PREFIX"
ip -n "${NS_PREFIX}web" route
ip -n "${NS_PREFIX}web" neigh

serve() {	# serve <pod|host> <tcp|udp> <port> [bind]
	local ready=$TMP/ready.$1.$2.$3
	if [ "$1" = host ]; then
		python3 "$ROOT/scripts/nettool.py" serve "$2" "$3" --bind "${4:-0.0.0.0}" --timeout 60 --ready "$ready" &
	else
		in_pod "$1" python3 "$ROOT/scripts/nettool.py" serve "$2" "$3" --timeout 60 \
			--ready "$ready" &
	fi
	BG_PIDS+=($!)
	poll 10 test -e "$ready"
}
in_pod() {	# in_pod <pod> <command...>: run it in the pod's netns and cgroup
	local p=$1
	shift
	# Into the cgroup first: ip netns exec mounts a sysfs of the namespace over /sys.
	sh -c 'for c in $0; do echo $$ > "$c/cgroup.procs" || exit 1; done; exec "$@"' \
		"${CGS[*]/%//$p}" ip netns exec "$NS_PREFIX$p" "$@"
}
probe() {	# probe <pod> <tcp|udp> <address> <port>
	in_pod "$1" python3 "$ROOT/scripts/nettool.py" probe "$2" "$3" "$4"
}
pod_ping() {	# pod_ping <pod|host> <address>
	if [ "$1" = host ]; then
		ping -q -c 3 -i 0.2 -W 2 "$2" >/dev/null
	else
		in_pod "$1" ping -q -c 3 -i 0.2 -W 2 "$2" >/dev/null
	fi
}
result() { if "$@"; then say "ok"; else say "FAILED"; FAILED=$((FAILED + 1)); fi; }
FAILED=0

bold "Traffic between pods (the fast path: tc + bpf_redirect_peer, no bridge, no iptables)"
fwd0=$(awk '/^Ip: [0-9]/ { print $7 }' /proc/net/snmp)
say "ping web -> db (${IP[db]})"
result pod_ping web "${IP[db]}"
serve db tcp 5432 && serve cache udp 6379 || die "failed to start a pod server"
say "TCP web -> db:5432"
result probe web tcp "${IP[db]}" 5432
say "UDP web -> cache:6379"
result probe web udp "${IP[cache]}" 6379
say "TCP cache -> db:5432"
result probe cache tcp "${IP[db]}" 5432
fwd1=$(awk '/^Ip: [0-9]/ { print $7 }' /proc/net/snmp)
say "datagrams the node's IP stack forwarded meanwhile: $((fwd1 - fwd0)) (the fast path bypasses it)"

bold "Traffic between pods and the node ($UPLINK_IP)"
serve host tcp 8080 "$UPLINK_IP" || die "failed to start the node server"
say "ping web -> node"
result pod_ping web "$UPLINK_IP"
say "TCP db -> node:8080"
result probe db tcp "$UPLINK_IP" 8080
say "ping node -> cache (${IP[cache]})"
result pod_ping host "${IP[cache]}"

bold "What an operator sees"
run "$BUILD/podlanectl" endpoint list
run "$BUILD/podlanectl" status
run "$BUILD/podlanectl" drops
run bpftool map dump pinned "$PIN_ROOT/podlane_eps"
run bpftool prog show name tc_from_pod
run tc filter show dev "$(jq -r '[.interfaces[] | select(.sandbox == null or .sandbox == "") | .name][0]' <<< "$res")" ingress

bold "A ClusterIP service, without kube-proxy"
run "$BUILD/podlanectl" service add db --namespace demo --cluster-ip "$CLUSTER_IP" \
	--port postgres=80:5432/TCP --backend "${IP[db]}" >/dev/null || die "failed to add the service"
say "TCP web -> $CLUSTER_IP:80 (translated to ${IP[db]}:5432 at connect(), once per connection)"
result probe web tcp "$CLUSTER_IP" 80
run "$BUILD/podlanectl" service list

bold "Top and pressure hints"
say "a busy loop in pod cache for 20 s"
in_pod cache timeout 20 sh -c 'while :; do :; done' &
BG_PIDS+=($!)
sleep 3
run "$BUILD/podlanectl" top --once --sort cpu
run "$BUILD/podlanectl" hints

bold "A NetworkPolicy and its flow log"
for p in "${PODS[@]}"; do
	"$BUILD/podlanectl" pod label "demo/$p" "app=$p" >/dev/null || die "failed to label pod $p"
done
say "pods demo/web, demo/db, demo/cache (K8S_POD_* in CNI_ARGS), labelled app=<name>"
cat > "$TMP/db-policy.yaml" <<'EOY'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-web, namespace: demo}
spec:
  podSelector:
    matchLabels: {app: db}
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: web}
    ports:
    - {protocol: TCP, port: 5440}
EOY
printf '\033[36m$ cat db-policy.yaml\033[0m\n'
cat "$TMP/db-policy.yaml"
run "$BUILD/podlanectl" policy add -f "$TMP/db-policy.yaml" || die "failed to add the policy"
serve db tcp 5440 || die "failed to start a pod server"
blocked() { ! probe "$@" >/dev/null 2>&1; }
say "TCP web -> db:5440 (the policy's rule admits web)"
result probe web tcp "${IP[db]}" 5440
say "TCP cache -> db:5440 (db is isolated now, and no rule admits cache)"
result blocked cache tcp "${IP[db]}" 5440
run "$BUILD/podlanectl" observe --last 5 --to-pod demo/db

[ $FAILED -eq 0 ] || die "$FAILED traffic checks failed"
