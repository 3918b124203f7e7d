#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# restart.t - a live TCP stream between two pods keeps flowing while podlaned is killed with
# SIGKILL and started again: bytes keep arriving with the agent down and after it is back, the
# connection ends cleanly with every byte accounted for (no reset), the pinned maps are the same
# maps (ids unchanged), endpoints are adopted, not rebuilt, and the restarted agent serves CNI.
. "$(dirname "$0")/lib.sh"

require_root
require_cmd ip jq python3 ping bpftool
require_build podlaned podlane-cni podlanectl

integration_setup

CONF=$PL_TMP/podlane.conf
cni_conf "$CONF" plint-restart 10.244.12.0/24

agent_start
ok $? "podlaned starts"
pod_add a "$CONF" && pod_add b "$CONF"
ok $? "two pods wired (${POD_IP[a]:-?} -> ${POD_IP[b]:-?})"
A=${POD_NS[a]} B=${POD_NS[b]}

RECV=$PL_TMP/recv.status SEND=$PL_TMP/send.status STOP=$PL_TMP/stop
# recv_bytes / sent_bytes: the byte count in a status file ("run N", "done N", "error N ...").
status_bytes() { awk '{ print ($2 == "" ? 0 : $2) }' "$1" 2>/dev/null || echo 0; }
recv_bytes() { status_bytes "$RECV"; }
recv_above() { [ "$(recv_bytes)" -gt "$1" ]; }

ip netns exec "$B" python3 "$NETTOOL" stream-recv 7101 --status "$RECV" --timeout 90 \
	--ready "$PL_TMP/recv.ready" &
BG_PIDS+=($!)
poll 10 test -e "$PL_TMP/recv.ready"
ip netns exec "$A" python3 "$NETTOOL" stream-send "${POD_IP[b]}" 7101 --status "$SEND" \
	--stop "$STOP" --duration 80 &
SENDER=$!
BG_PIDS+=($SENDER)
poll 10 recv_above 100000
ok $? "a TCP stream a -> b is flowing ($(recv_bytes) bytes)"

ids_before=$(map_ids)
ifx_a=$(endpoint_field "${POD_IP[a]}" ifindex)
ifx_b=$(endpoint_field "${POD_IP[b]}" ifindex)
ok $([ "$(echo "$ids_before" | grep -c .)" -ge 4 ]; echo $?) \
	"pinned maps found: $(echo $ids_before)"

pid=$PL_AGENT_PID
agent_kill KILL
ok $(kill -0 "$pid" 2>/dev/null && echo 1 || echo 0) "podlaned killed with SIGKILL"

b0=$(recv_bytes)
poll 10 recv_above $((b0 + 200000))
ok $? "bytes keep flowing with the agent down ($b0 -> $(recv_bytes))"

agent_start
ok $? "podlaned restarts on the same pin root and state"
ids_after=$(map_ids)
ok $([ "$ids_before" = "$ids_after" ]; echo $?) "the restarted agent adopted the same maps (ids unchanged)"
[ "$ids_before" = "$ids_after" ] || diag "before: $(echo $ids_before)" "after:  $(echo $ids_after)"
ok $([ "$(endpoint_count)" = 2 ] && [ "$(endpoint_field "${POD_IP[a]}" ifindex)" = "$ifx_a" ] &&
     [ "$(endpoint_field "${POD_IP[b]}" ifindex)" = "$ifx_b" ]; echo $?) \
	"both endpoints adopted with their host veths (ifindex $ifx_a, $ifx_b)"

b1=$(recv_bytes)
tx0=$(endpoint_field "${POD_IP[a]}" tx_packets)
poll 10 recv_above $((b1 + 200000))
ok $? "bytes keep flowing after the restart ($b1 -> $(recv_bytes))"
tx1=$(endpoint_field "${POD_IP[a]}" tx_packets)
ok $([ "$tx1" -gt "$tx0" ]; echo $?) "the datapath still counts the stream ($tx0 -> $tx1 packets)"

pod_add c "$CONF"
ok $? "the restarted agent wires a new pod (${POD_IP[c]:-?})"
check "the new pod reaches pod a" pingc "${POD_IP[c]:+${POD_NS[c]}}" "${POD_IP[a]}"

touch "$STOP"
wait "$SENDER"
send_rc=$?
finished() { grep -q '^done\|^error' "$RECV"; }
poll 10 finished
ok $([ $send_rc -eq 0 ] && grep -q '^done' "$SEND"; echo $?) \
	"the sender ended cleanly: $(cat "$SEND" 2>/dev/null)"
ok $([ "$(head -c 4 "$RECV")" = done ] && [ "$(recv_bytes)" = "$(status_bytes "$SEND")" ]; echo $?) \
	"the receiver got every byte, no reset: $(cat "$RECV" 2>/dev/null)"
done_testing
