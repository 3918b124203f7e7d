# SPDX-License-Identifier: GPL-2.0-only
# selftests/lib.sh - shared helpers for podlane's shell tests: TAP output, unique names,
# an isolated podlaned (own pin root, state dir and socket), namespaces and cleanup.
# Source it, then call `pl_setup` once; `pl_cleanup` runs from the EXIT trap it installs.

PL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PL_BUILD=${PL_BUILD:-$PL_ROOT/build}
PL_ID=$$
PL_TMP=""
PL_PIN=""
PL_AGENT_PID=""
PL_NETNS=()
PL_CLEANUP_HOOKS=()
PL_TESTS=0
PL_FAILED=0

# TAP, and kselftest's exit codes: 0 pass, 1 fail, 4 skip ---------------------------------
# End a test with done_testing: the plan follows the results, so no count can drift.
plan() { echo "1..$1"; }
done_testing() {
	echo "1..$PL_TESTS"
	[ "$PL_FAILED" -eq 0 ] || exit 1
	exit 0
}
# skip_all <reason>: the whole test cannot run here. Only before the first result.
skip_all() {
	if [ "$PL_TESTS" -gt 0 ]; then
		echo "Bail out! skip_all after $PL_TESTS results: $*"
		exit 1
	fi
	echo "1..0 # SKIP $*"
	exit 4
}
diag() { printf '# %s\n' "$@"; }
ok() {	# ok <status> <description>
	PL_TESTS=$((PL_TESTS + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $PL_TESTS - $2"
	else
		echo "not ok $PL_TESTS - $2"
		PL_FAILED=$((PL_FAILED + 1))
	fi
}
skip() { PL_TESTS=$((PL_TESTS + 1)); echo "ok $PL_TESTS - $1 # SKIP $2"; }
# check <description> <command...>: run the command, ok if it exits 0, show its output if not.
check() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	ok $rc "$desc"
	[ $rc -eq 0 ] || diag "command: $*" "exit: $rc" "$(printf '%s' "$out" | head -n 20)"
	return $rc
}

# poll <timeout-seconds> <command...>: retry every 50 ms until the command succeeds.
poll() {
	local deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $(( $(date +%s%N) / 1000000 )) -ge $deadline ] && return 1
		sleep 0.05
	done
}

# Environment ---------------------------------------------------------------------------
require_root() { [ "$(id -u)" -eq 0 ] || skip_all "needs root"; }
require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "needs $c (scripts/install-deps.sh installs it)"
	done
}
require_build() {
	local b
	for b in "$@"; do
		[ -x "$PL_BUILD/$b" ] || skip_all "$PL_BUILD/$b is not built (run make)"
	done
}

pl_setup() {
	PL_TMP=$(mktemp -d "/tmp/podlane-test.$PL_ID.XXXXXX")
	PL_PIN=/sys/fs/bpf/podlane-test-$PL_ID
	PL_SOCK=$PL_TMP/podlaned.sock
	PL_STATE=$PL_TMP/state
	mkdir -p "$PL_STATE"
	trap pl_cleanup EXIT
	trap 'exit 130' INT TERM
}

# Register a command to run at cleanup (most recent first).
on_cleanup() { PL_CLEANUP_HOOKS=("$*" "${PL_CLEANUP_HOOKS[@]}"); }

# Network namespaces named pl<pid>-<name>, deleted at cleanup.
netns_name() { echo "pl$PL_ID-$1"; }
netns_add() {
	local ns
	ns=$(netns_name "$1")
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up
	PL_NETNS+=("$ns")
	echo "$ns"
}

# Agent -------------------------------------------------------------------------------
# agent_start [extra podlaned options...]: start an isolated podlaned and wait for its socket.
agent_start() {
	"$PL_BUILD/podlaned" --pin-root "$PL_PIN" --state-dir "$PL_STATE" --socket "$PL_SOCK" \
		--log-file "$PL_TMP/podlaned.log" "$@" &
	PL_AGENT_PID=$!
	if ! poll 20 agent_ready; then
		diag "podlaned did not come up; its log:" "$(tail -n 20 "$PL_TMP/podlaned.log" 2>/dev/null)"
		return 1
	fi
}
agent_ready() { "$PL_BUILD/podlanectl" --socket "$PL_SOCK" status >/dev/null 2>&1; }
agent_kill() {	# agent_kill [signal]
	[ -n "$PL_AGENT_PID" ] || return 0
	kill "-${1:-TERM}" "$PL_AGENT_PID" 2>/dev/null
	wait "$PL_AGENT_PID" 2>/dev/null
	PL_AGENT_PID=""
}
ctl() { "$PL_BUILD/podlanectl" --socket "$PL_SOCK" "$@"; }

# CNI ---------------------------------------------------------------------------------
# cni <command> <container-id> <netns-path> <ifname> <config-file>: invoke podlane-cni as a
# runtime does; stdout is the plugin's stdout.
cni() {
	CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$3 CNI_IFNAME=$4 \
		CNI_PATH=${CNI_PATH:-$PL_BUILD:/usr/lib/cni} "$PL_BUILD/podlane-cni" < "$5"
}
# cni_conf <file> <network-name> <pod-cidr> [cniVersion]: write a podlane network config.
cni_conf() {
	cat > "$1" <<EOC
{"cniVersion": "${4:-1.0.0}", "name": "$2", "type": "podlane-cni", "podCIDR": "$3",
 "agentSocket": "$PL_SOCK"}
EOC
}

# pl_del_host_veths <netns>: delete the host ends of podlane pod veths whose pod end is in
# netns. Deleting the netns alone is not enough: a socket the kernel still holds there (an
# orphaned TCP connection retransmitting) keeps the netns, and so the pair, alive for minutes.
pl_del_host_veths() {
	local idx name
	for idx in $(ip -n "$1" -o link show type veth 2>/dev/null |
			sed -n 's/^[0-9]*: [^@]*@if\([0-9]*\):.*/\1/p'); do
		name=$(ip -o link show type veth 2>/dev/null |
			awk -F': ' -v i="$idx" '$1 == i { sub(/@.*/, "", $2); print $2 }')
		case $name in
		pl[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f])
			ip link del "$name" 2>/dev/null ;;
		esac
	done
}

pl_cleanup() {
	local rc=$? h ns
	for h in "${PL_CLEANUP_HOOKS[@]}"; do
		eval "$h" >/dev/null 2>&1
	done
	agent_kill TERM
	if [ -x "$PL_BUILD/podlaned" ] && [ -d "$PL_PIN" ]; then
		"$PL_BUILD/podlaned" --uninstall --pin-root "$PL_PIN" --state-dir "$PL_STATE" \
			>/dev/null 2>&1
	fi
	# netns_add usually runs in a $(...) subshell, so PL_NETNS misses those: delete by name too.
	for ns in "${PL_NETNS[@]}" $(ip netns list 2>/dev/null | awk -v p="pl$PL_ID-" \
			'index($1, p) == 1 { print $1 }'); do
		pl_del_host_veths "$ns"
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$PL_PIN" 2>/dev/null
	[ -n "$PL_TMP" ] && rm -rf "$PL_TMP"
	[ $PL_FAILED -eq 0 ] || rc=1
	exit $rc
}
