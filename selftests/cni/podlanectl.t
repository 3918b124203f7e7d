#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/cni/podlanectl.t - the operator CLI: help at every level, usage errors exit 2 and
# say what to fix, an unreachable agent exits 1 with the socket path; drops and monitor read
# pinned maps without the agent; status and endpoint list against a real podlaned, with a
# spoofed packet that has to show up in monitor, drops and the endpoint's counters.
. "$(dirname "$0")/lib.sh"

require_root
require_build podlanectl
require_cmd python3 ip bpftool
require_bpffs
pl_setup

C=$PL_BUILD/podlanectl
OUT=$PL_TMP/ctl.out
ERR=$PL_TMP/ctl.err
run() { "$C" "$@" > "$OUT" 2> "$ERR"; RC=$?; }

# --- help and usage errors ------------------------------------------------------------------
for args in "--help" "-h" "help" "status --help" "endpoint --help" "endpoint list --help" \
	"drops --help" "monitor --help" "observe --help"; do
	# shellcheck disable=SC2086
	run $args
	ok "$([ $RC -eq 0 ] && grep -q '^Usage: podlanectl' "$OUT"; echo $?)" \
		"'podlanectl $args' prints usage on stdout, exit 0"
done

usage_err() {	# usage_err <description> <stderr substring> <args...>
	local desc=$1 want=$2
	shift 2
	run "$@"
	ok "$([ $RC -eq 2 ] && grep -qF -- "$want" "$ERR" && [ ! -s "$OUT" ]; echo $?)" "$desc"
	[ $RC -eq 2 ] || diag "exit $RC, stderr: $(cat "$ERR")"
}
usage_err "unknown command -> exit 2, names it and the fix" \
	"unknown command 'foo'; try 'podlanectl --help'" foo
usage_err "no command -> exit 2" "try 'podlanectl --help'"
usage_err "unknown option -> exit 2" "unknown option '--bogus'" --bogus status
usage_err "unknown command option -> exit 2 pointing at that command's help" \
	"try 'podlanectl status --help'" status --bogus
usage_err "--socket without a value -> exit 2" "needs an argument" --socket
usage_err "endpoint without subcommand -> exit 2" "try 'podlanectl endpoint --help'" endpoint
usage_err "unknown endpoint subcommand -> exit 2" "unknown endpoint command 'frob'" endpoint frob
usage_err "--count is only for monitor" "unknown option" drops --count 3
usage_err "monitor --count needs a number" "--count" monitor --count many
usage_err "stray argument -> exit 2" "unexpected argument 'x'" status x

# --- agent unreachable ----------------------------------------------------------------------
for cmd in status "endpoint list"; do
	# shellcheck disable=SC2086
	run --socket "$PL_TMP/nobody.sock" $cmd
	ok "$([ $RC -eq 1 ] &&
		grep -qF "cannot reach podlaned at $PL_TMP/nobody.sock: No such file or directory; is it running? (--socket)" "$ERR"
		echo $?)" "'$cmd' with no agent -> exit 1 and says which socket and what to check"
done

# --- drops and monitor from pinned maps, no agent ------------------------------------------
FAKE=/sys/fs/bpf/podlane-ctltest-$$
on_cleanup rm -rf "$FAKE"
mkdir -p "$FAKE"
SLOTS=$(sed -n 's/^#define PODLANE_DROP_SLOTS[[:space:]]*\([0-9]*\).*/\1/p' "$PL_ROOT/bpf/podlane.h")
bpftool map create "$FAKE/podlane_drops" type percpu_array key 4 value 16 entries "$SLOTS" \
	name podlane_drops
# slot 6 = source_spoofed; bpftool writes the value on every possible CPU
bpftool map update pinned "$FAKE/podlane_drops" key 6 0 0 0 \
	value 2 0 0 0 0 0 0 0 100 0 0 0 0 0 0 0
bpftool map create "$FAKE/podlane_events" type ringbuf key 0 value 0 entries 65536 \
	name podlane_events
POSSIBLE=$(python3 -c '
n = 0
for part in open("/sys/devices/system/cpu/possible").read().strip().split(","):
    a, _, b = part.partition("-")
    n += int(b or a) - int(a) + 1
print(n)')
run --pin-root "$FAKE" drops
check "drops works without an agent" test $RC -eq 0
check "drops sums per-CPU counters of source_spoofed" \
	grep -Eq "^source_spoofed +-207 +$((2 * POSSIBLE)) +$((100 * POSSIBLE))\$" "$OUT"
KNOWN=$(grep -c 'case PODLANE_DROP_.*return "' "$PL_ROOT/bpf/podlane.h")
check "drops lists every reason this build knows ($KNOWN)" \
	test "$(grep -c -- ' -2[0-9][0-9] ' "$OUT")" -eq "$KNOWN"
run --pin-root "$FAKE" --json drops
check "drops --json is JSON with the counts" test "$(jget "$OUT" \
	'[d["packets"] for d in j["drops"] if d["reason"] == "source_spoofed"][0]')" = \
	"$((2 * POSSIBLE))"
start=$(date +%s%N)
# No agent on that socket: monitor reads the pinned ring itself.
run --socket "$PL_TMP/no-agent.sock" --pin-root "$FAKE" monitor --timeout 1
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
check "monitor --timeout 1 on a quiet ring stops by itself (${elapsed} ms)" \
	test $RC -eq 0 -a $elapsed -ge 900 -a $elapsed -lt 5000
run --pin-root "$PL_TMP/none" drops
ok "$([ $RC -eq 1 ] && grep -q "cannot open pinned map '$PL_TMP/none/podlane_drops'" "$ERR"; echo $?)" \
	"drops with no pinned map -> exit 1 naming the path"
bpftool map create "$FAKE/wrong" type hash key 4 value 4 entries 4 name wrong >/dev/null 2>&1
mkdir -p "$FAKE/w"
bpftool map create "$FAKE/w/podlane_drops" type hash key 4 value 16 entries 4 name podlane_drops
run --pin-root "$FAKE/w" drops
ok "$([ $RC -eq 1 ] && grep -q "is not podlane's" "$ERR"; echo $?)" \
	"drops refuses a map of the wrong type"

# --- against a real agent --------------------------------------------------------------------
if ! [ -x "$PL_BUILD/podlaned" ] || ! [ -x "$PL_BUILD/podlane-cni" ] || ! agent_start; then
	skip "status, monitor and endpoint checks against a running agent" \
		"podlaned not available"
	done_testing
fi
run --socket "$PL_SOCK" status
check "status with the agent up" test $RC -eq 0
check "status shows version, pin root and endpoints" \
	bash -c "grep -q '^version ' $OUT && grep -q '^pin_root .*$PL_PIN' $OUT && grep -q '^endpoints ' $OUT"
run --socket "$PL_SOCK" --json status
check "status --json is the agent's JSON" test "$(jget "$OUT" 'j["pin_root"]')" = "$PL_PIN"

NET=ctl$$
cni_conf "$PL_TMP/conf.json" "$NET" 10.255.3.0/24 1.0.0
A=$(netns_add a) || exit 1
B=$(netns_add b) || exit 1
cni_run ADD c$$-a "/run/netns/$A" eth0 "$PL_TMP/conf.json"
cp "$PLUGIN_OUT" "$PL_TMP/a.json"
cni_run ADD c$$-b "/run/netns/$B" eth0 "$PL_TMP/conf.json"
cp "$PLUGIN_OUT" "$PL_TMP/b.json"
BIP=$(jget "$PL_TMP/b.json" 'j["ips"][0]["address"].split("/")[0]')
AHOST=$(jget "$PL_TMP/a.json" 'j["interfaces"][0]["name"]')

run --socket "$PL_SOCK" endpoint list
check "endpoint list shows both pods" \
	bash -c "grep -q '^c$$-a ' $OUT && grep -q '^c$$-b ' $OUT && grep -q $BIP $OUT"
check "endpoint list columns are aligned under their headers" python3 -c '
import re, sys
lines = open(sys.argv[1]).read().splitlines()
starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
for l in lines[1:]:
    for s in starts:
        assert l[s] != " " and (s == 0 or l[s - 1] == " "), (s, l)
' "$OUT"
run --socket "$PL_SOCK" --json endpoint list
check "endpoint list --json has both endpoints with counters" test "$(jget "$OUT" \
	'sorted(e["container_id"] for e in j["endpoints"] if "rx_packets" in e)')" = \
	"[\"c$$-a\", \"c$$-b\"]"

# A packet from pod a with an address it does not own must die as source_spoofed, and every
# view of drops must say so.
# The agent is the ring buffer's reader: monitor asks it (--socket) for the drops it reads.
"$C" --socket "$PL_SOCK" --pin-root "$PL_PIN" monitor --count 1 --timeout 15 \
	> "$PL_TMP/monitor.out" 2>&1 &
MON=$!
on_cleanup kill "$MON"
# monitor follows from the moment it is connected: send until it has seen one.
ip -n "$A" addr add 10.99.99.99/32 dev eth0
for i in $(seq 1 20); do
	ip netns exec "$A" ping -c 1 -W 1 -I 10.99.99.99 "$BIP" >/dev/null 2>&1
	grep -q source_spoofed "$PL_TMP/monitor.out" && break
done
wait "$MON"
check "monitor printed the spoofed packet and stopped after --count 1" \
	grep -Eq "from_pod +$AHOST +source_spoofed +10\.99\.99\.99 > $BIP icmp len [0-9]+" \
	"$PL_TMP/monitor.out"
[ $? -eq 0 ] || diag "$(cat "$PL_TMP/monitor.out")"
run --pin-root "$PL_PIN" drops
check "drops counts it node-wide" grep -Eq '^source_spoofed +-207 +[1-9]' "$OUT"
run --socket "$PL_SOCK" endpoint list
check "endpoint list shows it on pod a" grep -Eq "^c$$-a .* source_spoofed=[1-9]" "$OUT"

for p in a b; do
	cni_run DEL "c$$-$p" "/run/netns/$(netns_name $p)" eth0 "$PL_TMP/conf.json"
done
run --socket "$PL_SOCK" --json endpoint list
check "endpoint list is empty after DEL" test "$(jget "$OUT" 'len(j["endpoints"])')" = 0
done_testing
