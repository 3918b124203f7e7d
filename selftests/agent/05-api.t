#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 05-api.t - the local API as a client on the socket sees it: podlaned decodes every request
# with the schema in userspace/lib/api_ops.h, so a malformed request is refused with code 6
# (7 for a value out of range where the schema says so) and a message that names the field by
# its path, unknown fields are ignored, a refused request changes nothing, and the agent keeps
# serving.
. "$(dirname "$0")/lib.sh"
agent_requires
pl_setup

agent_start || { ok 1 "podlaned starts"; exit 1; }
ok 0 "podlaned starts"

# refused <json> <code> <msg> <what>: the request is refused with that code and message.
refused() {
	local reply code msg

	reply=$(api "$1")
	code=$(jq -r .code <<<"$reply")
	msg=$(jq -r .msg <<<"$reply")
	[ "$(jq -r .ok <<<"$reply")" = false ] && [ "$code" = "$2" ] && [ "$msg" = "$3" ]
	ok $? "$4 (got $code \"$msg\")"
}

refused '[1]' 6 "request is not a JSON object" "a request that is not an object"
refused '{"op":' 6 "request is not valid JSON" "a request that is not JSON"
[ -n "$(api '{"op":' details)" ]; ok $? "... with the parser's reason in details"
refused '{"container_id":"x"}' 6 "missing field 'op'" "a request without op"
refused '{"op":7}' 6 "field 'op' must be a string" "an op that is not a string"
refused '{"op":"frob"}' 6 "unknown op 'frob'" "an unknown op"

ADD="\"op\":\"add\",\"netns\":\"/run/netns/none-$PL_ID\",\"ifname\":\"eth0\",\"network\":\"$NET\""
refused "{$ADD,\"container_id\":5}" 6 "field 'container_id' must be a string" \
	"add with a number for container_id"
refused "{$ADD,\"container_id\":\"c\",\"mtu\":70000}" 7 "field 'mtu' must be an integer 0-65535" \
	"add with mtu out of range (7, as the schema says)"
refused "{$ADD,\"container_id\":\"c\",\"mtu\":\"1500\"}" 7 \
	"field 'mtu' must be an integer 0-65535" "add with a string for mtu"
refused "{\"op\":\"gc\",\"network\":\"$NET\",\"attachments\":\"x\"}" 6 \
	"field 'attachments' must be an array" "gc with attachments that are not an array"
refused "{\"op\":\"gc\",\"network\":\"$NET\",\"attachments\":[{\"container_id\":\"a\",\"ifname\":\"eth0\"},{\"container_id\":\"b\"}]}" \
	6 "missing field 'attachments[1].ifname'" "gc names the attachment that lacks a field"
refused '{"op":"service_list","limit":501}' 6 "field 'limit' must be an integer 1-500" \
	"service_list with a limit over 500"
refused '{"op":"service_list","offset":-1}' 6 \
	"field 'offset' must be an integer >= 0" "service_list with a negative offset"
refused '{"op":"service_del"}' 6 "missing field 'name'" "service_del without a name"
refused '{"op":"service_add"}' 6 "missing field 'service'" "service_add without a spec"
refused '{"op":"node_add","name":"n1","node_ip":"192.0.2.1"}' 6 "missing field 'pod_cidr'" \
	"node_add without pod_cidr"
refused '{"op":"status","network":false}' 6 "field 'network' must be a string" \
	"status with a network that is not a string"

# A request over the message limit (256 KiB) is refused whole, not cut and parsed.
BIG=$(python3 - "$PL_SOCK" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.setsockopt(socket.SOL_SOCKET, 32, 1 << 20)  # SO_SNDBUFFORCE: room for the big message
s.settimeout(30)
s.connect(sys.argv[1])
s.send(json.dumps({"op": "status", "pad": "x" * (300 * 1024)}).encode())
r = json.loads(s.recv(256 * 1024 + 1))
print(r.get("code"), r.get("msg"))
PY
)
[ "$BIG" = "6 request exceeds the API message limit (262144 bytes)" ]
ok $? "a request over 256 KiB is refused (got \"$BIG\")"

# Unknown fields are ignored, as the protocol says: a newer client talks to an older agent.
[ "$(api '{"op":"status","from_the_future":{"x":[1]}}' ok)" = true ]
ok $? "unknown fields are ignored"

# Nothing changed, and every read-only op still answers with its reply.
[ "$(map_len podlane_ep_meta)" = 0 ] && [ "$(map_len podlane_eps)" = 0 ] && [ -z "$(ipam_list)" ]
ok $? "the refused requests changed nothing"
for op in status endpoint_list node_list service_list sync_status sync_deadletters; do
	[ "$(api "{\"op\":\"$op\"}" ok)" = true ]; ok $? "$op answers after the refusals"
done
[ "$(api '{"op":"sync_status"}')" = '{"ok": true, "enabled": false}' ]
ok $? "sync_status of a standalone node is only enabled: false"

done_testing
