#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-sync.sh - podlaned's control-plane sync against the seed's published
# figures (a Go pod-event processor: 10,000 pod events/s at 15% CPU, 45 MB RSS, 2 ms P99).
#
#   1. Apply rate: 150,000 endpoint events written to etcd, then replayed into podlaned's
#      maps. etcd's own share: the time etcd takes to deliver that history to a watch that
#      only counts bytes. podlaned's own rate: the same recorded stream served at memory
#      speed by etcd_replay.py, timed from the first record handed over to the last map write.
#   2. Live latency: endpoint events written at RATE/s (default 10,000) for SECONDS, each
#      stamped with its send time; podlaned reports write->parsed and write->map updated
#      (applied) percentiles; etcd's own share: a bare watcher (etcd_load watch) on the same
#      records at the same time; podlaned beyond etcd: per event, podlaned's map update minus
#      the bare watcher's receipt (PODLANE_SYNC_TRACE pairs them by write stamp). Agent and
#      etcd CPU from /proc.
#   3. Scale: 150,000 endpoints and 10,000 services (every 10th a NodePort) in etcd; a fresh
#      agent's full resync time and RSS; etcd's share: the same paged list read by curl. This
#      part runs the bench in a network namespace of its own: the agent's uplink has an
#      address there, so NodePort services get their frontends and Maglev tables.
#
# One etcd member on tmpfs (the tests use three). Usage: bench-sync.sh [EVENTS] [RATE]
# [SECONDS] [BATCH]  (BATCH: puts per etcd txn in the live run, 1 = single puts).
# PARTS=apply,scale,live picks parts (scale needs apply's records); SERVICES=N (10000).
# BARE_WATCH=0 leaves out the live part's bare watcher: its watch (the one podlaned asks for,
# without previous values) costs etcd as much as podlaned's, and lowers the write rate etcd
# sustains.
# BARE_WATCH=2 adds a second bare watcher as a control: how far apart etcd delivers the same
# event to two watchers that do nothing else.
# Everything it starts is stopped, and everything it creates removed, on exit.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${PL_BUILD:-$ROOT/build}
EVENTS=${1:-150000}
RATE=${2:-10000}
SECONDS_LIVE=${3:-10}
BATCH=${4:-1}
SERVICES=${SERVICES:-10000}
PARTS=${PARTS:-apply,scale,live}	# which parts to run
BARE_WATCH=${BARE_WATCH:-1}

# The scale part's agent has an uplink with an address, so that its NodePort services get
# their per-packet frontends and Maglev tables as on a real node. Only a network namespace of
# the bench's own may hold that address: the bench runs itself again inside one (nsenter,
# so bpffs and the cgroup tree stay the host's); the namespace and its veth go at the end.
UPLINK=""
if [[ $PARTS == *scale* ]]; then
	if [ -z "${PL_BENCH_NETNS:-}" ]; then
		ns=podlane-bench-sync-$$
		ip netns add "$ns" || { echo "bench-sync: cannot create netns $ns" >&2; exit 1; }
		trap 'ip netns del "$ns"' EXIT
		trap 'exit 130' INT TERM
		PL_BENCH_NETNS=$ns nsenter --net="/run/netns/$ns" -- "$0" "$@"
		exit $?
	fi
	UPLINK=plbench0
	{ ip link set lo up && ip link add "$UPLINK" type veth peer name plbench1 &&
	  ip addr add 192.0.2.1/24 dev "$UPLINK" && ip link set "$UPLINK" up &&
	  ip link set plbench1 up; } || { echo "bench-sync: cannot set up $UPLINK" >&2; exit 1; }
fi
ID=$$
TMP=$(mktemp -d /dev/shm/podlane-bench-sync.XXXXXX)
PIN=/sys/fs/bpf/podlane-bench-sync-$ID
CG=/sys/fs/cgroup/unified/podlane-bench-sync-$ID
PORT=$(( 31000 + ID % 900 * 3 ))
URL=http://127.0.0.1:$PORT
ETCD_PID="" AGENT_PID="" REPLAY_PID="" WATCH_PID="" WATCH2_PID=""

die() { echo "bench-sync: $*" >&2; rmdir "$TMP" 2>/dev/null; exit 1; }
for c in etcd etcdctl curl jq python3 gcc; do
	command -v $c >/dev/null || die "needs $c (scripts/install-deps.sh)"
done
[ -x "$BUILD/podlaned" ] || die "$BUILD/podlaned is not built"

cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	[ -n "$REPLAY_PID" ] && kill "$REPLAY_PID" 2>/dev/null && wait "$REPLAY_PID" 2>/dev/null
	[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null && wait "$WATCH_PID" 2>/dev/null
	[ -n "$WATCH2_PID" ] && kill "$WATCH2_PID" 2>/dev/null && wait "$WATCH2_PID" 2>/dev/null
	[ -n "$ETCD_PID" ] && kill "$ETCD_PID" 2>/dev/null && wait "$ETCD_PID" 2>/dev/null
	[ -d "$PIN" ] && "$BUILD/podlaned" --uninstall --pin-root "$PIN" --state-dir "$TMP/state" \
		>/dev/null 2>&1
	rm -rf "$PIN" "$TMP"
	rmdir "$CG" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

gcc -O2 -o "$TMP/etcd_load" "$ROOT/scripts/bench/etcd_load.c" -lcurl || die "cannot build etcd_load"
mkdir -p "$CG" "$TMP/state"

# poll <seconds> <command...>
poll() {
	local end=$(( $(date +%s) + $1 ))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.05
	done
}

etcd_start() {
	rm -rf "$TMP/etcd"
	etcd --name b --data-dir "$TMP/etcd" --listen-client-urls "$URL" --advertise-client-urls "$URL" \
		--listen-peer-urls "http://127.0.0.1:$((PORT + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((PORT + 1))" \
		--initial-cluster "b=http://127.0.0.1:$((PORT + 1))" \
		--quota-backend-bytes 8589934592 > "$TMP/etcd.log" 2>&1 &
	ETCD_PID=$!
	poll 20 etcdctl --endpoints "$URL" endpoint health || die "etcd did not start"
}
etcd_stop() { kill "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null; ETCD_PID=""; }

agent_start() {	# agent_start <etcd url> [env...]
	local url=$1
	shift
	rm -rf "$PIN"
	env "$@" "$BUILD/podlaned" --pin-root "$PIN" --state-dir "$TMP/state" \
		--socket "$TMP/podlaned.sock" --log-file "$TMP/podlaned.log" --no-accounting \
		--cgroup "$CG" --node-name bench --node-ip 192.0.2.1 \
		--max-remote-endpoints 262144 --lease-ttl 30 --etcd-endpoints "$url" \
		${AGENT_UPLINK:+--uplink "$AGENT_UPLINK"} &
	AGENT_PID=$!
}
agent_stop() {
	kill "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=""
	"$BUILD/podlaned" --uninstall --pin-root "$PIN" --state-dir "$TMP/state" >/dev/null 2>&1
	rm -rf "$PIN" "$TMP/state"
	mkdir -p "$TMP/state"
}
status() { "$BUILD/podlanectl" --socket "$TMP/podlaned.sock" --json sync status 2>/dev/null; }
applied_at_least() { [ "$(status | jq ".counters.applied >= $1")" = true ]; }
remote_at_least() { [ "$(status | jq ".remote_endpoints >= $1")" = true ]; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

echo "== podlane sync benchmark: $EVENTS endpoint events, live $RATE/s for ${SECONDS_LIVE}s" \
     "(batch $BATCH), $SERVICES services; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. apply rate ------------------------------------------------------------------
etcd_start
if [[ $PARTS == *apply* || $PARTS == *scale* ]]; then
echo "-- writing $EVENTS endpoint events to etcd (txns of 128 puts)"
"$TMP/etcd_load" fill "$URL" "$EVENTS" 50 || die "fill failed"
echo "-- etcd's share: delivering the history to a counting watch"
"$TMP/etcd_load" drain "$URL" 1 "$EVENTS" "$TMP/stream.json" | sed 's/^/etcd watch: /'

echo "-- podlaned replaying the history from etcd (watch from revision 1)"
agent_start "$URL" PODLANE_SYNC_REPLAY_FROM=1
t0=$(date +%s%N)
poll 300 remote_at_least "$EVENTS" || echo "podlaned did not apply $EVENTS events"
t1=$(date +%s%N)
echo "podlaned from etcd: $EVENTS events in $(( (t1 - t0) / 1000000 )) ms wall, $(
	status | jq -r '"\(.counters.applied) applied, agent \((.counters.last_apply_ns -
	.counters.first_item_ns) / 1e6 | floor) ms first->last"')"
agent_stop

echo "-- podlaned's own rate: the recorded stream served at memory speed (etcd_replay.py)"
python3 "$ROOT/scripts/bench/etcd_replay.py" $((PORT + 2)) "$TMP/stream.json" 120 &
REPLAY_PID=$!
sleep 0.5
agent_start "http://127.0.0.1:$((PORT + 2))" PODLANE_SYNC_REPLAY_FROM=1
poll 120 remote_at_least "$EVENTS" || echo "podlaned did not apply $EVENTS events"
status | jq -r '"podlaned apply: \(.counters.events) events, \(.remote_endpoints) map entries in " +
	"\((.counters.last_apply_ns - .counters.first_item_ns) / 1e6 | floor) ms = " +
	"\(.counters.events / ((.counters.last_apply_ns - .counters.first_item_ns) / 1e9) |
	floor) events/s (target >= 100000/s)"'
echo "podlaned RSS after replay: $(rss_kb "$AGENT_PID" VmRSS) kB (peak $(rss_kb "$AGENT_PID" VmHWM) kB)"
agent_stop
kill "$REPLAY_PID"; wait "$REPLAY_PID" 2>/dev/null; REPLAY_PID=""

fi
# ---- 3. scale (same etcd: 150k endpoints already there) -------------------------------
if [[ $PARTS == *scale* ]]; then
echo "-- writing $SERVICES services (2 backends each)"
"$TMP/etcd_load" services "$URL" "$SERVICES" || die "services fill failed"
echo "-- etcd's share: the paged list podlaned does (pages of 50000), curl's transfer time"
from=$(printf '/podlane/v1/' | base64)
end=$(printf '/podlane/v10' | base64)
rev=0 n=0 us=0
while :; do
	t=$(curl -s -o "$TMP/page.json" -w '%{time_total}' -X POST "$URL/v3/kv/range" \
		-d "{\"key\":\"$from\",\"range_end\":\"$end\",\"limit\":\"50000\",\"revision\":\"$rev\"}")
	us=$(awk -v a="$us" -v t="$t" 'BEGIN { printf "%d", a + t * 1e6 }')
	rev=$(jq -r .header.revision "$TMP/page.json")
	n=$((n + $(jq '.kvs | length' "$TMP/page.json")))
	[ "$(jq -r '.more // false' "$TMP/page.json")" = true ] || break
	last=$(jq -r '.kvs[-1].key' "$TMP/page.json" | base64 -d)
	from=$(printf '%s\0' "$last" | base64 -w0)
done
echo "etcd list: $n keys in $((us / 1000)) ms"
echo "-- fresh podlaned with an uplink (192.0.2.1), full resync of $EVENTS endpoints +" \
     "$SERVICES services (every 10th NodePort: a NodePort frontend and a Maglev table)"
AGENT_UPLINK=$UPLINK agent_start "$URL"
poll 300 eval '[ "$(status | jq ".counters.resyncs >= 1 and .queue.depth == 0 and
	.services >= '"$SERVICES"'")" = true ]' || echo "podlaned did not finish the resync"
status | jq -r '"podlaned full resync: \(.remote_endpoints) endpoints, \(.services) services " +
	"in \(.counters.resync_ms_last) ms (target < 3000 ms), dead letters \(.deadletters)"'
echo "podlaned RSS: $(rss_kb "$AGENT_PID" VmRSS) kB (peak $(rss_kb "$AGENT_PID" VmHWM) kB," \
     "target < 20480 kB); Maglev tables: $(bpftool map dump pinned "$PIN/podlane_maglev" \
     2>/dev/null | grep -c '^key')"
echo "podlaned RSS split: anon $(rss_kb "$AGENT_PID" RssAnon) kB, file $(rss_kb "$AGENT_PID" \
     RssFile) kB, shmem $(rss_kb "$AGENT_PID" RssShmem) kB"
agent_stop
fi
etcd_stop

# ---- 2. live latency (fresh etcd, 10,000 keys) --------------------------------------------
[[ $PARTS == *live* ]] || exit 0
etcd_start
"$TMP/etcd_load" fill "$URL" 10000 50 >/dev/null
# The per-event trace (one 16-byte record per event) only when there is a watcher to pair with.
if [ "$BARE_WATCH" -ge 1 ]; then
	agent_start "$URL" PODLANE_SYNC_TRACE="$TMP/trace.txt"
else
	agent_start "$URL"
fi
poll 60 remote_at_least 10000 || echo "podlaned did not list the 10000 endpoints"
echo "-- live: $RATE events/s for ${SECONDS_LIVE}s, $BATCH per request"
# etcd's own share: a bare watcher (etcd_load watch) next to podlaned, same stamps, same time.
: > "$TMP/bare.txt"
if [ "$BARE_WATCH" -ge 1 ]; then
	"$TMP/etcd_load" watch "$URL" $((SECONDS_LIVE + 1)) "$TMP/bare_events.txt" > "$TMP/bare.txt" &
	WATCH_PID=$!
	if [ "$BARE_WATCH" -ge 2 ]; then
		"$TMP/etcd_load" watch "$URL" $((SECONDS_LIVE + 1)) "$TMP/bare2_events.txt" \
			> /dev/null &
		WATCH2_PID=$!
	fi
	sleep 0.3
fi
c0=$(cpu_ticks "$AGENT_PID"); e0=$(cpu_ticks "$ETCD_PID"); t0=$(date +%s%N)
"$TMP/etcd_load" live "$URL" "$RATE" "$SECONDS_LIVE" "$BATCH" | sed 's/^/etcd writes: /'
sleep 0.5
c1=$(cpu_ticks "$AGENT_PID"); e1=$(cpu_ticks "$ETCD_PID"); t1=$(date +%s%N)
hz=$(getconf CLK_TCK)
[ -n "$WATCH_PID" ] && wait "$WATCH_PID"
[ -n "$WATCH2_PID" ] && wait "$WATCH2_PID"
WATCH_PID="" WATCH2_PID=""
bare_p50=$(sed -n 's/.*delivery_p50_us=\([0-9]*\).*/\1/p' "$TMP/bare.txt")
bare_p99=$(sed -n 's/.*delivery_p99_us=\([0-9]*\).*/\1/p' "$TMP/bare.txt")
[ "$BARE_WATCH" -ge 1 ] &&
	echo "etcd alone (write -> a bare watcher got it):        p50 ${bare_p50:-?} us," \
	     "p99 ${bare_p99:-?} us, $(sed -n 's/.*events=\([0-9]*\).*/\1/p' "$TMP/bare.txt") events"
status | jq -r --argjson b50 "${bare_p50:-0}" --argjson b99 "${bare_p99:-0}" --argjson bare \
	"$([ -n "$bare_p99" ] && echo true || echo false)" '.latency |
	"delivery (write -> parsed by podlaned):            p50 \(.delivery.p50_us) us, " +
	"p99 \(.delivery.p99_us) us\n" +
	"applied  (write -> map updated):                   p50 \(.apply.p50_us) us, " +
	"p99 \(.apply.p99_us) us, \(.apply.count) events\n" +
	(if $bare then "percentiles apart (applied - etcd alone):          " +
	"p50 \(.apply.p50_us - $b50) us, p99 \(.apply.p99_us - $b99) us\n" else "" end) +
	"podlaned inside (parsed -> map updated):           p50 \(.agent.p50_us) us, " +
	"p99 \(.agent.p99_us) us"'
status | jq -r '"podlaned main loop jobs (max, runs over 1 ms): " + ([.loop | to_entries[] |
	select(.value.runs > 0) | "\(.key) \(.value.max_us) us/\(.value.over_1ms)"] | join(", "))'
echo "podlaned CPU: $(awk -v c=$((c1 - c0)) -v hz="$hz" -v t=$((t1 - t0)) \
	'BEGIN { printf "%.1f%%", 100 * c / hz / (t / 1e9) }') of one core;" \
     "etcd CPU: $(awk -v c=$((e1 - e0)) -v hz="$hz" -v t=$((t1 - t0)) \
	'BEGIN { printf "%.1f%%", 100 * c / hz / (t / 1e9) }');" \
     "podlaned RSS $(rss_kb "$AGENT_PID" VmRSS) kB"
agent_stop	# writes the trace
# paired <label> <later> <earlier>: per event (matched by its write stamp), the time <later>
# had it minus the time <earlier> had it, in us (awk's doubles round ns stamps to 256 ns).
paired() {
	local n
	awk 'NR == FNR { t[$1] = $2; next }
	     $1 in t { printf "%d\n", ($2 - t[$1]) / 1000 }' "$3" "$2" | sort -n > "$TMP/paired.txt"
	n=$(wc -l < "$TMP/paired.txt")
	[ "$n" -gt 0 ] || return 0
	pct() { sed -n "$((n * $1 / 100 + 1))p" "$TMP/paired.txt"; }
	echo "$1, $n events: p1 $(pct 1), p10 $(pct 10), p50 $(pct 50), p90 $(pct 90)," \
	     "p99 $(pct 99), max $(tail -n 1 "$TMP/paired.txt") us"
}
if [ "$BARE_WATCH" -ge 1 ] && [ -s "$TMP/trace.txt" ]; then
	paired "podlaned's map update - the bare watcher's receipt" "$TMP/trace.txt" \
		"$TMP/bare_events.txt"
	[ "$BARE_WATCH" -ge 2 ] && paired "control: a second bare watcher - the first" \
		"$TMP/bare2_events.txt" "$TMP/bare_events.txt"
fi
