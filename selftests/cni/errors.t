#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/cni/errors.t - podlane-cni answers every bad invocation with the CNI spec's error
# object and code, on stdout, exit non-zero; VERSION needs nothing but CNI_COMMAND. No agent
# runs here, so agent-dependent commands must report it unreachable (11, STATUS 50).
. "$(dirname "$0")/lib.sh"

require_root
require_build podlane-cni
require_cmd python3 ip
pl_setup

NS=$(netns_add pod) || exit 1
NSP=/run/netns/$NS
NET=errs$$
ID=ctr$$
CONF=$PL_TMP/conf.json
cni_conf "$CONF" "$NET" 10.250.0.0/24 1.0.0
CONF11=$PL_TMP/conf11.json
cni_conf "$CONF11" "$NET" 10.250.0.0/24 1.1.0
EMPTY=$PL_TMP/empty
: > "$EMPTY"

conf_with() {	# conf_with <json text>: write a config file, print its name
	local f
	f=$(mktemp "$PL_TMP/conf.XXXXXX")
	printf '%s\n' "$1" > "$f"
	echo "$f"
}

# --- VERSION -------------------------------------------------------------------------
plugin "$EMPTY" CNI_COMMAND=VERSION
check "VERSION with only CNI_COMMAND and no stdin succeeds" test "$PLUGIN_RC" -eq 0
check "VERSION answers 1.1.0 and lists all supported versions" \
	test "$(jget "$PLUGIN_OUT" 'j["cniVersion"] + " " + ",".join(j["supportedVersions"])')" = \
	"1.1.0 0.3.0,0.3.1,0.4.0,1.0.0,1.1.0"
plugin "$(conf_with '{"cniVersion": "0.4.0"}')" CNI_COMMAND=VERSION
check "VERSION answers in the requested version" \
	test "$(jget "$PLUGIN_OUT" 'j["cniVersion"]')" = 0.4.0
plugin "$(conf_with 'not json at all')" CNI_COMMAND=VERSION
check "VERSION ignores undecodable stdin" test "$PLUGIN_RC" -eq 0

# --- environment (code 4) --------------------------------------------------------------
plugin "$CONF"
expect_error 4 CNI_COMMAND "missing CNI_COMMAND -> 4 naming it"
plugin "$CONF" CNI_COMMAND=FROB
expect_error 4 FROB "unknown CNI_COMMAND -> 4"
for var in CNI_CONTAINERID CNI_NETNS CNI_IFNAME CNI_PATH; do
	for cmd in ADD CHECK; do
		cni_env $cmd "$ID" "$NSP" eth0
		env=()
		for e in "${CNI_ENV[@]}"; do
			[ "${e%%=*}" = "$var" ] || env+=("$e")
		done
		plugin "$CONF" "${env[@]}"
		expect_error 4 "$var" "$cmd without $var -> 4 naming $var"
	done
done
cni_env DEL "$ID" "$NSP" eth0
plugin "$CONF" "${CNI_ENV[0]}" "${CNI_ENV[2]}" "${CNI_ENV[3]}" "${CNI_ENV[4]}"
expect_error 4 CNI_CONTAINERID "DEL without CNI_CONTAINERID -> 4 naming it"
plugin "$CONF" "${CNI_ENV[0]}" "${CNI_ENV[1]}" "${CNI_ENV[3]}" "${CNI_ENV[4]}"
expect_error 11 podlaned "DEL without CNI_NETNS is allowed (reaches the agent step: 11)"
cni_run ADD 'bad/id' "$NSP" eth0 "$CONF"
expect_error 4 CNI_CONTAINERID "invalid container id -> 4"
cni_run ADD "$ID" "$NSP" averyveryverylongname "$CONF"
expect_error 4 CNI_IFNAME "interface name over 15 characters -> 4"
# Names the kernel refuses or rewrites ('%' makes it pick one itself: eth%d becomes eth0).
for ifn in 'eth%d' '.' '..' 'a/b' 'a:b' 'a b' "$(printf 'a\tb')"; do
	cni_run ADD "$ID" "$NSP" "$ifn" "$CONF"
	expect_error 4 CNI_IFNAME "interface name '$ifn' -> 4"
done
cni_run ADD "$ID" /proc/self/ns/net eth0 "$CONF"
expect_error 4 CNI_NETNS "CNI_NETNS naming the plugin's own netns -> 4"

# --- stdin (code 6) --------------------------------------------------------------------
cni_run ADD "$ID" "$NSP" eth0 "$(conf_with 'garbage{')"
expect_error 6 decode "garbage stdin -> 6"
cni_run ADD "$ID" "$NSP" eth0 "$EMPTY"
expect_error 6 "" "empty stdin -> 6"
cni_run ADD "$ID" "$NSP" eth0 "$(conf_with '{"cniVersion": "1.0.0", "name": "x"')"
expect_error 6 "" "truncated JSON -> 6"
cni_run ADD "$ID" "$NSP" eth0 "$(conf_with '[1, 2]')"
expect_error 6 "" "JSON that is not an object -> 6"
cni_run ADD "$ID" "$NSP" eth0 "$(conf_with '{"cniVersion": "1.0.0"} {}')"
expect_error 6 "" "trailing data after the config -> 6"

# --- version (code 1) ------------------------------------------------------------------
cni_run ADD "$ID" "$NSP" eth0 \
	"$(conf_with '{"cniVersion": "0.2.0", "name": "n", "type": "podlane-cni", "podCIDR": "10.1.0.0/24"}')"
expect_error 1 0.2.0 "cniVersion 0.2.0 -> 1"
cni_run ADD "$ID" "$NSP" eth0 \
	"$(conf_with '{"cniVersion": "9.9.9", "name": "n", "type": "podlane-cni", "podCIDR": "10.1.0.0/24"}')"
expect_error 1 9.9.9 "cniVersion 9.9.9 -> 1"
cni_run CHECK "$ID" "$NSP" eth0 "$(conf_with '{"cniVersion": "0.3.1", "name": "n", "type": "podlane-cni",
	"podCIDR": "10.1.0.0/24", "prevResult": {"ips": [{"version": "4", "address": "10.1.0.2/32"}]}}')"
expect_error 1 CHECK "CHECK with a 0.3.1 config -> 1"
plugin "$CONF" CNI_COMMAND=GC CNI_PATH=/usr/lib/cni
expect_error 1 GC "GC with a 1.0.0 config -> 1"
plugin "$CONF" CNI_COMMAND=STATUS CNI_PATH=/usr/lib/cni
expect_error 1 STATUS "STATUS with a 1.0.0 config -> 1"

# --- network config (code 7) -----------------------------------------------------------
bad_conf() {	# bad_conf <description> <json> [msg-substring]
	cni_run ADD "$ID" "$NSP" eth0 "$(conf_with "$2")"
	expect_error 7 "${3:-}" "$1 -> 7"
}
bad_conf "missing name" '{"cniVersion": "1.0.0", "type": "podlane-cni", "podCIDR": "10.1.0.0/24"}' name
bad_conf "invalid name" '{"cniVersion": "1.0.0", "name": "a b", "type": "podlane-cni", "podCIDR": "10.1.0.0/24"}' name
bad_conf "missing type" '{"cniVersion": "1.0.0", "name": "n", "podCIDR": "10.1.0.0/24"}' type
bad_conf "missing cniVersion" '{"name": "n", "type": "podlane-cni", "podCIDR": "10.1.0.0/24"}' cniVersion
bad_conf "missing podCIDR" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni"}' podCIDR
bad_conf "podCIDR not a CIDR" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni", "podCIDR": "banana"}' podCIDR
bad_conf "podCIDR prefix /33" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni", "podCIDR": "10.1.0.0/33"}' podCIDR
bad_conf "podCIDR short address" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni", "podCIDR": "10.1.0/24"}' podCIDR
bad_conf "podCIDR a number" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni", "podCIDR": 42}' podCIDR
bad_conf "mtu a string" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni", "podCIDR": "10.1.0.0/24", "mtu": "big"}' mtu
bad_conf "mtu too small" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni", "podCIDR": "10.1.0.0/24", "mtu": 10}' mtu
bad_conf "mtu too large" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni", "podCIDR": "10.1.0.0/24", "mtu": 70000}' mtu
bad_conf "defaultRoute not a boolean" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni", "podCIDR": "10.1.0.0/24", "defaultRoute": "yes"}' defaultRoute
bad_conf "ipam not an object" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni", "ipam": "host-local"}' ipam
bad_conf "agentSocket relative" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni", "podCIDR": "10.1.0.0/24", "agentSocket": "x.sock"}' agentSocket
# A NUL (\u0000) in a string would cut it short where podlane reads it as a C string.
bad_conf "a NUL in the name" '{"cniVersion": "1.0.0", "name": "n\u0000x", "type": "podlane-cni", "podCIDR": "10.1.0.0/24"}' name
bad_conf "a NUL in podCIDR" '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni", "podCIDR": "10.1.0.0/24\u0000x"}' podCIDR
plugin "$(conf_with '{"cniVersion": "1.1.0", "name": "n", "type": "podlane-cni", "podCIDR": "10.1.0.0/24",
	"cni.dev/valid-attachments": [{"containerID": "a\u0000b", "ifname": "eth0"}]}')" \
	CNI_COMMAND=GC CNI_PATH=/usr/lib/cni
expect_error 7 containerID "GC with a NUL in a containerID -> 7"
cni_run CHECK "$ID" "$NSP" eth0 "$CONF"
expect_error 7 prevResult "CHECK without prevResult -> 7"

# --- null and mistyped fields where strings belong (selftests/fuzz/regressions/cni) ------
# Each of these crashed podlane-cni (SIGSEGV, SIGABRT) before: no answer on stdout at all.
cni_run CHECK "$ID" "$NSP" eth0 "$(conf_with '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni",
	"podCIDR": "10.1.0.0/24", "prevResult": {"ips": [{"address": null}]}}')"
expect_error 7 prevResult "CHECK with a null address in prevResult -> 7"
cni_run CHECK "$ID" "$NSP" eth0 "$(conf_with '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni",
	"podCIDR": "10.1.0.0/24", "agentSocket": "'"$PL_TMP"'/none.sock", "prevResult": {"interfaces":
	[{"name": null}, {"name": "eth0", "sandbox": null}], "ips": [{"address": "10.1.0.2/32",
	"interface": 0}, {"address": "10.1.0.3/32", "interface": 1}]}}')"
expect_error 11 podlaned "CHECK with a null interface name and sandbox in prevResult -> on to the agent (11)"
FAKE=$PL_TMP/fakebin
mkdir -p "$FAKE"
fake_ipam() {	# fake_ipam <VERSION answer>: an IPAM plugin that refuses every ADD
	printf '#!/bin/sh
if [ "$CNI_COMMAND" = VERSION ]; then echo '"'%s'"'; exit 0; fi
' "$1" \
		> "$FAKE/fakeipam"
	printf 'echo '"'"'{"code": 7, "msg": "fake ipam refuses"}'"'"'; exit 1\n' >> "$FAKE/fakeipam"
	chmod +x "$FAKE/fakeipam"
}
IPAM_CONF=$(conf_with '{"cniVersion": "1.0.0", "name": "n", "type": "podlane-cni",
	"ipam": {"type": "fakeipam"}}')
for answer in '{"supportedVersions": "1.0.0"}' '{"supportedVersions": [null, "0.4.0"]}'; do
	fake_ipam "$answer"
	cni_env ADD "$ID" "$NSP" eth0
	plugin "$IPAM_CONF" "${CNI_ENV[@]}" CNI_PATH="$FAKE"
	expect_error 7 "fake ipam refuses" "ADD whose IPAM plugin answers VERSION with $answer -> its error"
done
# An IPAM plugin that fails with a code CNI does not have (-1) is an internal error (100).
fake_ipam '{"supportedVersions": ["1.0.0"]}'
sed -i 's/"code": 7/"code": -1/' "$FAKE/fakeipam"
cni_env ADD "$ID" "$NSP" eth0
plugin "$IPAM_CONF" "${CNI_ENV[@]}" CNI_PATH="$FAKE"
expect_error 100 "fake ipam refuses" "ADD whose IPAM plugin fails with code -1 -> 100"

# --- agent unreachable (11; STATUS 50) ---------------------------------------------------
cni_run ADD "$ID" "$NSP" eth0 "$CONF"
expect_error 11 podlaned "ADD with the agent down -> 11"
check "failed ADD printed only the error object on stdout" \
	test "$(jget "$PLUGIN_OUT" 'sorted(j)')" = '["cniVersion", "code", "details", "msg"]'
cni_run DEL "$ID" "$NSP" eth0 "$CONF"
expect_error 11 podlaned "DEL with the agent down -> 11 (runtime retries)"
PREV=$PL_TMP/prev.json
printf '%s\n' '{"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "'"$NSP"'"}],
	"ips": [{"address": "10.250.0.2/32", "interface": 0}]}' > "$PREV"
with_prev "$CONF" "$PREV" "$PL_TMP/check.json"
cni_run CHECK "$ID" "$NSP" eth0 "$PL_TMP/check.json"
expect_error 11 podlaned "CHECK with the agent down -> 11"
plugin "$CONF11" CNI_COMMAND=GC CNI_PATH=/usr/lib/cni
expect_error 11 podlaned "GC with the agent down -> 11"
plugin "$CONF11" CNI_COMMAND=STATUS CNI_PATH=/usr/lib/cni
expect_error 50 podlaned "STATUS with the agent down -> 50"
plugin "$CONF11" CNI_COMMAND=STATUS
expect_error 50 "" "STATUS needs only CNI_COMMAND (and says 50, not 4)"
check "nothing but JSON ever reached stdout" \
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$PLUGIN_OUT"
done_testing
