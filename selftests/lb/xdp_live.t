#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/xdp_live.t - the XDP NodePort fast path through a real podlaned: NodePort
# traffic from a namespace outside the node reaches pod backends, with the fast path off
# (--xdp-nodeport auto on a veth uplink), forced on, and off again, across agent restarts.
#
# The node uplink is a veth into an "outside" namespace. A veth's sender offloads transmit
# checksums (CHECKSUM_PARTIAL), which XDP cannot see and the fast path's incremental update
# would corrupt, so `auto` keeps it off here; to emulate a wire, the client's interface gets
# transmit checksum offload turned off (its stack then sends complete checksums) and the test
# forces `--xdp-nodeport on`. One negative control shows what auto avoids: with offload back
# on, fast-pathed UDP datagrams reach the pod with bad checksums and are dropped there.
#
# Covered: option validation; auto on a veth uplink is off (status, no PODLANE_EP_F_XDP_RX);
# on: pods wired before the switch (start-up sync) and after it (ADD) get GRO on their end and
# the flag; a connection opened through tc survives the switches (and moves to XDP); a TCP
# transfer with data integrity and UDP echo through NodePort, with the
# xdp_fast counter of podlane_lbstat rising; no TCP/UDP checksum errors in the pods; frames
# longer than the pod's MTU left to tc; off again: flags cleared, counter still, traffic
# through tc.
. "$(dirname "$0")/lib.sh"

svc_requires
pl_setup

X=$((PL_ID % 250 + 1))
NODE_IP=198.19.$X.1
OUT_IP=198.19.$X.2
SUBNET=10.253.$X.0/24
UPLINK=plx$PL_ID
XFER=262144		# bytes per TCP transfer: ~180 full-size segments each way
F_XDP_RX=4		# PODLANE_EP_F_XDP_RX

# ---- option validation (nothing is created) ------------------------------------------
out=$("$PL_BUILD/podlaned" --xdp-nodeport maybe --pin-root "$PL_PIN" --state-dir "$PL_STATE" \
	--socket "$PL_SOCK" 2>&1)
rc=$?
[ $rc -eq 2 ] && [[ $out == *"--xdp-nodeport wants auto, on or off, got 'maybe'"* ]] &&
	[ ! -e "$PL_PIN" ] && [ ! -e "$PL_SOCK" ]
ok $? "--xdp-nodeport maybe is refused with a reason, nothing created (rc=$rc)"
out=$("$PL_BUILD/podlaned" --xdp-nodeport on --pin-root "$PL_PIN" --state-dir "$PL_STATE" \
	--socket "$PL_SOCK" 2>&1)
rc=$?
[ $rc -eq 2 ] && [[ $out == *"needs --uplink"* ]] && [ ! -e "$PL_PIN" ]
ok $? "--xdp-nodeport on without --uplink is refused (rc=$rc)"

# ---- node, outside namespace, agent --------------------------------------------------
svc_cgroup || skip_all "cannot create a cgroup under $(cg2_mount)"
outside_setup "$UPLINK" "$NODE_IP" "$OUT_IP" || skip_all "cannot create the uplink veth"

ethtool_ns() { ip netns exec "$1" python3 "$SVC_TOOL" ethtool "${@:2}"; }
tx=$(ethtool_ns "$OUT_NS" eth0 off)
[ "${tx%% *}" = tx=off ]
ok $? "client interface in the outside namespace sends complete checksums ($tx)"

xdp_prog() { ctl --json status | jq -c '.programs[] | select(.name == "xdp_from_uplink")'; }
fastpath() { xdp_prog | jq -r .nodeport_fastpath; }
lbstat() { ctl --json service list | jq -r --arg k "$1" '.lbstat[$k] // 0'; }
xdp_fast() { lbstat xdp_fast; }
ep_flags() {
	local key
	key=$(printf '"0x%02x",' ${1//./ })
	bpftool -j map dump pinned "$PL_PIN/podlane_eps" |
		jq -r "map(select(.key[4:8] == [${key%,}]))[0].formatted.value.flags // empty"
}
has_xdp_rx() { local f; f=$(ep_flags "$1") && [ -n "$f" ] && [ $((f & F_XDP_RX)) -ne 0 ]; }
no_xdp_rx() { local f; f=$(ep_flags "$1") && [ -n "$f" ] && [ $((f & F_XDP_RX)) -eq 0 ]; }
# csum_errors <netns>: TCP InCsumErrors + UDP InCsumErrors of the namespace.
csum_errors() {
	ip netns exec "$1" awk '
		$1 == "Tcp:" && !t { for (i = 2; i <= NF; i++) h[i] = $i; t = 1; next }
		$1 == "Tcp:" { for (i = 2; i <= NF; i++) if (h[i] == "InCsumErrors") s += $i }
		$1 == "Udp:" && !u { for (i = 2; i <= NF; i++) g[i] = $i; u = 1; next }
		$1 == "Udp:" { for (i = 2; i <= NF; i++) if (g[i] == "InCsumErrors") s += $i }
		END { print s + 0 }' /proc/net/snmp
}
# xfer <port>: one TCP transfer from outside; ok when all bytes came back unchanged.
xfer() {
	XF=$(ip netns exec "$OUT_NS" python3 "$SVC_TOOL" xfer "$NODE_IP" "$1" "$XFER" 2>&1)
	[ "$(printf '%s' "$XF" | jq -r .intact 2>/dev/null)" = true ] &&
		[ "$(printf '%s' "$XF" | jq -r .received)" -eq "$XFER" ]
}
# udp_echo <n> <size>: n datagrams to the UDP NodePort; ok when all came back intact.
udp_echo() {
	UD=$(ip netns exec "$OUT_NS" python3 "$SVC_TOOL" udp "$NODE_IP" 30053 "$1" --size "$2")
	[ "$(printf '%s' "$UD" | jq -r .replies)" -eq "$1" ] &&
		[ "$(printf '%s' "$UD" | jq -r .bad)" -eq 0 ]
}

agent_start --cgroup "$SVC_CG" --uplink "$UPLINK"
ok $? "podlaned starts with --uplink $UPLINK (a veth) and the default --xdp-nodeport auto"
diag "xdp program: $(xdp_prog)"
[ "$(fastpath)" = false ] && grep -q 'fast path off.*auto: uplink is a software device' \
	"$PL_TMP/podlaned.log"
ok $? "auto on a veth uplink: the fast path is off, and the log says why"

backend_start b1 b1 "$SUBNET" || true
B1_IP=$POD_IP
B1_NS=$(netns_name b1)
svc_add "{\"name\":\"npx\",\"clusterIP\":\"10.97.$X.10\",
	  \"ports\":[{\"name\":\"tcp\",\"port\":80,\"targetPort\":8080,\"nodePort\":30080},
		     {\"name\":\"udp\",\"port\":53,\"protocol\":\"UDP\",\"targetPort\":5353,
		      \"nodePort\":30053}],
	  \"backends\":[{\"ip\":\"$B1_IP\"}]}"
ok $? "pod b1 ($B1_IP) backs NodePort service npx: TCP $NODE_IP:30080, UDP $NODE_IP:30053"

x0=$(xdp_fast)
s0=$(lbstat reply_stack)
xfer 30080
ok $? "fast path off: $XFER bytes over TCP NodePort come back intact ($XF)"
s1=$(lbstat reply_stack)
[ "$s1" -eq "$s0" ]
ok $? "the backend's (TSO) replies are forwarded by tc, none left to the stack (reply_stack $s0 -> $s1)"
udp_echo 20 1000
ok $? "fast path off: 20 UDP datagrams of 1000 bytes echoed intact ($UD)"
x1=$(xdp_fast)
[ "$x1" -eq "$x0" ] && [ "$x1" -eq 0 ] && no_xdp_rx "$B1_IP"
ok $? "fast path off: xdp_fast stays 0 ($x0 -> $x1), b1 has no XDP_RX flag ($(ep_flags "$B1_IP"))"
# A connection opened now, through tc, must survive both switches below.
H1=$PL_TMP/hold1
hold_start "$OUT_NS" "$NODE_IP" 30080 "$H1" plain && hold_ping "$H1"
ok $? "a NodePort connection from outside is held open ($(cat "$H1/backend" 2>/dev/null))"

# ---- forced on -------------------------------------------------------------------------
link_id=$(xdp_prog | jq -r .link_id)
agent_kill TERM
agent_start --cgroup "$SVC_CG" --uplink "$UPLINK" --xdp-nodeport on
ok $? "podlaned restarts with --xdp-nodeport on"
diag "xdp program: $(xdp_prog)"
[ "$(fastpath)" = true ] && [ "$(xdp_prog | jq -r .link_id)" = "$link_id" ]
ok $? "status shows the fast path on; the pinned XDP link was updated in place (link $link_id)"
gro=$(ethtool_ns "$B1_NS" eth0)
has_xdp_rx "$B1_IP" && [ "${gro#* }" = gro=on ]
ok $? "b1, wired before the switch, got GRO on its end and the flag at start ($(ep_flags "$B1_IP"), $gro)"

backend_start b2 b2 "$SUBNET" || true
B2_IP=$POD_IP
B2_NS=$(netns_name b2)
gro=$(ethtool_ns "$B2_NS" eth0)
has_xdp_rx "$B2_IP" && [ "${gro#* }" = gro=on ]
ok $? "b2, added with the fast path on, got GRO and the flag at ADD ($(ep_flags "$B2_IP"), $gro)"
svc_add "{\"name\":\"npx2\",\"clusterIP\":\"10.97.$X.11\",
	  \"ports\":[{\"port\":80,\"targetPort\":8080,\"nodePort\":30081}],
	  \"backends\":[{\"ip\":\"$B2_IP\"}]}"

c1=$(csum_errors "$B1_NS")
c2=$(csum_errors "$B2_NS")
x0=$(xdp_fast)
xfer 30080
ok $? "fast path on: $XFER bytes over TCP NodePort to b1 come back intact ($XF)"
x1=$(xdp_fast)
[ $((x1 - x0)) -ge 100 ]
ok $? "fast path on: the transfer's packets went through XDP (xdp_fast +$((x1 - x0)))"
udp_echo 40 1000
ok $? "fast path on: 40 UDP datagrams of 1000 bytes echoed intact ($UD)"
x2=$(xdp_fast)
[ $((x2 - x1)) -ge 30 ]
ok $? "fast path on: UDP after the first datagram went through XDP (xdp_fast +$((x2 - x1)))"
xfer 30081
ok $? "fast path on: $XFER bytes to b2 (flagged at ADD) come back intact ($XF)"
x3=$(xdp_fast)
[ $((x3 - x2)) -ge 100 ]
ok $? "fast path on: b2's transfer went through XDP (xdp_fast +$((x3 - x2)))"
x4=$(xdp_fast)
hold_ping "$H1" && [ "$(xdp_fast)" -gt "$x4" ]
ok $? "the connection opened through tc before the switch works, now through XDP"
e1=$(csum_errors "$B1_NS")
e2=$(csum_errors "$B2_NS")
[ "$e1" -eq "$c1" ] && [ "$e2" -eq "$c2" ]
ok $? "no TCP or UDP checksum errors in the pods (b1 $c1 -> $e1, b2 $c2 -> $e2)"

# A frame longer than the pod's MTU: the veth's XDP transmit would drop it silently, so the
# fast path leaves it to tc, which delivers it (the reply, fragmented by the pod, is not tested).
B3_IP=$(pod_add b3 "$SUBNET" ',"mtu":1400' | jfield .ip)
B3_NS=$(netns_name b3)
ip netns exec "$B3_NS" python3 "$SVC_TOOL" serve b3 --udp 5353 --timeout 300 >/dev/null 2>&1 &
on_cleanup "kill $!"
svc_add "{\"name\":\"npx3\",\"clusterIP\":\"10.97.$X.12\",
	  \"ports\":[{\"port\":53,\"protocol\":\"UDP\",\"targetPort\":5353,\"nodePort\":30054}],
	  \"backends\":[{\"ip\":\"$B3_IP\"}]}"
udp_in() { ip netns exec "$1" awk '$1 == "Udp:" && n++ { print $2 }' /proc/net/snmp; }
poll 10 sh -c "ip netns exec $B3_NS ss -Hlun | grep -q ':5353 '"
u0=$(udp_in "$B3_NS")
x0=$(xdp_fast)
ip netns exec "$OUT_NS" python3 "$SVC_TOOL" udp "$NODE_IP" 30054 3 --size 1300 >/dev/null
u1=$(udp_in "$B3_NS")
x1=$(xdp_fast)
ip netns exec "$OUT_NS" python3 "$SVC_TOOL" udp "$NODE_IP" 30054 3 --size 1420 >/dev/null
u2=$(udp_in "$B3_NS")
x2=$(xdp_fast)
diag "pod MTU 1400 ($B3_IP, flags $(ep_flags "$B3_IP")): 1300-byte datagrams received $((u1 - u0)), xdp_fast +$((x1 - x0)); 1420-byte received $((u2 - u1)), xdp_fast +$((x2 - x1))"
[ $((u1 - u0)) -eq 3 ] && [ $((x1 - x0)) -ge 2 ] && [ $((u2 - u1)) -eq 3 ] && [ "$x2" -eq "$x1" ]
ok $? "pod with MTU 1400: datagrams that fit take the fast path, longer ones reach it through tc"

# Negative control: partial checksums from a veth sender, what auto keeps the fast path from.
ethtool_ns "$OUT_NS" eth0 on >/dev/null
c1=$(csum_errors "$B1_NS")
udp_echo 3 1000
e1=$(csum_errors "$B1_NS")
ethtool_ns "$OUT_NS" eth0 off >/dev/null
diag "tx offload on, 3 datagrams: $UD; b1 checksum errors $c1 -> $e1"
[ "$(printf '%s' "$UD" | jq -r .replies)" -lt 3 ] && [ "$e1" -gt "$c1" ]
ok $? "control: with tx checksum offload on, fast-pathed datagrams arrive with bad checksums"

# ---- off again -------------------------------------------------------------------------
agent_kill TERM
agent_start --cgroup "$SVC_CG" --uplink "$UPLINK" --xdp-nodeport off
ok $? "podlaned restarts with --xdp-nodeport off"
[ "$(fastpath)" = false ] && no_xdp_rx "$B1_IP" && no_xdp_rx "$B2_IP"
ok $? "off: status says so, the flags are cleared (b1 $(ep_flags "$B1_IP"), b2 $(ep_flags "$B2_IP"))"
x0=$(xdp_fast)
xfer 30080
ok $? "off: TCP to b1 works through tc ($XF)"
udp_echo 20 1000
ok $? "off: UDP to b1 works through tc ($UD)"
xfer 30081
ok $? "off: TCP to b2 works through tc ($XF)"
hold_ping "$H1"
ok $? "off: the connection held since the start still works"
x1=$(xdp_fast)
[ "$x1" -eq "$x0" ]
ok $? "off: xdp_fast does not move ($x0 -> $x1)"

done_testing
