# SPDX-License-Identifier: GPL-2.0-only
# selftests/integration/lib.sh - what the integration tests share on top of selftests/lib.sh:
# pods wired through podlane-cni, a node uplink veth into a namespace the test owns, bounded
# TCP/UDP servers (scripts/nettool.py) and readers for the agent's JSON.

# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

NETTOOL=$PL_ROOT/scripts/nettool.py
BG_PIDS=()
declare -A POD_NS POD_IP POD_CONF POD_IFNAME

# Background servers die before the agent and the namespaces.
kill_bg() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	BG_PIDS=()
}

integration_setup() {
	pl_setup
	on_cleanup kill_bg
}

# pod_add <name> <config> [ifname]: a pod netns wired by podlane-cni ADD, as a runtime does.
# Sets POD_NS[name], POD_IP[name]; the plugin's result goes to $PL_TMP/<name>.result.
pod_add() {
	local name=$1 conf=$2 ifname=${3:-eth0} ns
	ns=$(netns_add "$name") || return 1
	POD_NS[$name]=$ns POD_CONF[$name]=$conf POD_IFNAME[$name]=$ifname
	on_cleanup "cni DEL $name-$PL_ID /run/netns/$ns $ifname $conf"
	cni ADD "$name-$PL_ID" "/run/netns/$ns" "$ifname" "$conf" > "$PL_TMP/$name.result" \
		2> "$PL_TMP/$name.err" || {
		diag "ADD $name failed: $(cat "$PL_TMP/$name.result" "$PL_TMP/$name.err")"
		return 1
	}
	POD_IP[$name]=$(jq -r '.ips[0].address' "$PL_TMP/$name.result" | cut -d/ -f1)
	[ -n "${POD_IP[$name]}" ] && [ "${POD_IP[$name]}" != null ]
}

pod_del() {	# pod_del <name>
	cni DEL "$1-$PL_ID" "/run/netns/${POD_NS[$1]}" "${POD_IFNAME[$1]}" "${POD_CONF[$1]}"
}

# uplink_setup <third-octet>: node uplink pl<pid>u (host netns, 10.250.<n>.1/24) whose peer
# lives in netns "ext" (10.250.<n>.2/24). Sets UPLINK, UPLINK_IP, EXT_NS, EXT_IP.
uplink_setup() {
	UPLINK=pl${PL_ID}u
	UPLINK_IP=10.250.$1.1
	EXT_IP=10.250.$1.2
	EXT_NS=$(netns_add ext) || return 1
	on_cleanup "ip link del $UPLINK"
	ip link add "$UPLINK" type veth peer name ext0 netns "$EXT_NS" || return 1
	ip addr add "$UPLINK_IP/24" dev "$UPLINK" &&
		ip link set "$UPLINK" up &&
		ip -n "$EXT_NS" addr add "$EXT_IP/24" dev ext0 &&
		ip -n "$EXT_NS" link set ext0 up
}

# in_ns <ns|host> <command...>: run in a namespace, or in the host (node) namespace.
in_ns() {
	local ns=$1
	shift
	if [ "$ns" = host ]; then
		"$@"
	else
		ip netns exec "$ns" "$@"
	fi
}

# serve <ns|host> <tcp|udp> <port> [bind-address]: a bounded echo server, ready on return.
serve() {
	local ns=$1 proto=$2 port=$3 bind=${4:-0.0.0.0} ready=$PL_TMP/ready.$1.$2.$3
	rm -f "$ready"
	# Started directly (not through a function) so that $! is the server itself.
	if [ "$ns" = host ]; then
		python3 "$NETTOOL" serve "$proto" "$port" --bind "$bind" --timeout 120 \
			--ready "$ready" &
	else
		ip netns exec "$ns" python3 "$NETTOOL" serve "$proto" "$port" --bind "$bind" \
			--timeout 120 --ready "$ready" &
	fi
	BG_PIDS+=($!)
	poll 10 test -e "$ready"
}

# probe <ns|host> <tcp|udp> <address> <port>: one echo round trip.
probe() {
	in_ns "$1" python3 "$NETTOOL" probe "$2" "$3" "$4" --timeout 3
}

pingc() {	# pingc <ns|host> <address> [count]
	in_ns "$1" ping -q -c "${3:-2}" -i 0.2 -W 2 "$2"
}

# endpoint_field <ip> <field>: a field of the endpoint with that IP in `podlanectl endpoint
# list --json`; 0 when the endpoint or the field is missing.
endpoints_json() { ctl endpoint list --json 2>/dev/null; }
endpoint_field() {
	endpoints_json | jq -r --arg ip "$1" --arg f "$2" \
		'[(.endpoints? // .)[] | select(.ip == $ip or (.ip | tostring | startswith($ip + "/")))]
		 | (.[0][$f] // 0)' 2>/dev/null || echo 0
}
endpoint_count() { endpoints_json | jq -r '(.endpoints? // .) | length' 2>/dev/null; }

# Datagrams the host (node) IP stack forwarded so far: the fast path must not add to it.
host_forwarded() { awk '/^Ip: [0-9]/ { print $7 }' /proc/net/snmp; }

# map_ids: "<name>=<id>" of every podlane map pinned under the test's pin root.
map_ids() {
	local f
	for f in "$PL_PIN"/podlane_*; do
		[ -e "$f" ] || continue
		printf '%s=%s\n' "${f##*/}" "$(bpftool -j map show pinned "$f" 2>/dev/null | jq -r .id)"
	done
}

# Runtimes exec <dir>/<type>: the "podlane-cni" type is the build's binary itself, found in
# the build dir ahead of the reference plugins.
cni_bin_setup() {
	CNI_BIN=$PL_BUILD
	export CNI_PATH=$CNI_BIN:/usr/lib/cni
}

# cni_find <type>: the plugin executable a runtime would pick from CNI_PATH.
cni_find() {
	local d
	for d in ${CNI_PATH//:/ }; do
		[ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
	done
	echo "/nonexistent/$1"
}

# cni_chain <command> <conflist> <container-id> <netns-path> <ifname> [runtime-config-json]:
# run a plugin chain the way libcni does. ADD and CHECK walk the plugins in order, DEL in
# reverse; every plugin gets cniVersion and name from the list, the previous result (ADD) or the
# cached result (CHECK, DEL) as prevResult, and the runtimeConfig keys it declares among its
# capabilities. The final ADD result is cached in $PL_TMP and printed on stdout.
cni_chain() {
	local cmd=$1 list=$2 cid=$3 netns=$4 ifname=$5 rtc=${6:-'{}'} n i order conf plugin
	local cache=$PL_TMP/chain-$cid-$ifname.result prev out
	n=$(jq '.plugins | length' "$list") || return 1
	case $cmd in
	DEL) order=$(seq $((n - 1)) -1 0) ;;
	*) order=$(seq 0 $((n - 1))) ;;
	esac
	prev=null
	[ "$cmd" != ADD ] && [ -s "$cache" ] && prev=$(cat "$cache")
	for i in $order; do
		conf=$(jq -c --argjson i "$i" --argjson prev "$prev" --argjson rtc "$rtc" '
			.plugins[$i] + {cniVersion: .cniVersion, name: .name}
			| if $prev != null then . + {prevResult: $prev} else . end
			| (.capabilities // {}) as $caps
			| ($rtc | with_entries(select($caps[.key] == true))) as $rc
			| if ($rc | length) > 0 then . + {runtimeConfig: $rc} else . end' \
			"$list") || return 1
		plugin=$(jq -r '.type' <<< "$conf")
		out=$(CNI_COMMAND=$cmd CNI_CONTAINERID=$cid CNI_NETNS=$netns CNI_IFNAME=$ifname \
			"$(cni_find "$plugin")" <<< "$conf") || {
			echo "$out"
			echo "cni_chain: $cmd $plugin failed" >&2
			return 1
		}
		[ "$cmd" = ADD ] && prev=$out
	done
	if [ "$cmd" = ADD ]; then
		printf '%s\n' "$prev" > "$cache"
		printf '%s\n' "$prev"
	elif [ "$cmd" = DEL ]; then
		rm -f "$cache"
	fi
}
