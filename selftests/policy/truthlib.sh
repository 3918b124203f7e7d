# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/truthlib.sh - the NetworkPolicy truth table: the harness. The upstream
# Kubernetes e2e suite's topology (test/e2e/network/netpol: namespaces x, y, z labelled ns=x
# etc.; pods a, b, c in each labelled pod=a etc., serving TCP and UDP on ports 80 and 81 with
# the named ports serve-80-tcp, serve-80-udp, serve-81-tcp, serve-81-udp, each behind a
# ClusterIP service of its own), every ordered pair of pods probed on every port and protocol
# at once (probe.c), to the pod's address and through its service, the result printed as
# upstream prints it beside the expected matrix, one TAP line per step and port/protocol, and
# a score.
#
# The cases (truth_cases.sh) are functions registered with tt_case. Inside a case:
#   policy NS NAME <<EOF        add (or replace) policy NS/NAME; the heredoc is its spec:
#     podSelector: {}           the harness adds apiVersion, kind and metadata
#   policy_del NS NAME          delete it
#   pod_label NS/POD K=V... K-  label a pod, ns_label NS K=V... K-  a namespace,
#   pod_ports NS/POD NAME=PROTO/PORT...  set a pod's named ports
#   reach_all                   expect everything reachable (every case starts so)
#   deny FROM TO [COMBO...]     expect FROM -> TO blocked, allow ... reachable; FROM and TO:
#   allow FROM TO [COMBO...]    "any", a namespace "x", a pod "x/a", "any/a"; COMBO: tcp/80,
#                               tcp, udp, 81, ... (default: all); later calls override
#   verify "what it shows"      probe everything, one TAP line per port/protocol
#   need_sctp || return 0       the case probes SCTP: SKIP with the reason without it
# Everything a case changes (policies, labels, ports) is undone after it. The diagonal (a pod
# to itself, over loopback, which no CNI's policy sees) is printed but not compared, as
# upstream ignores it (ignoreLoopback).
#
# Hooks, so that the pods can live on several nodes (selftests/multinode): a test may redefine
# tt_pod_node (which node a pod lives on), tt_node_sock, tt_node_cidr, tt_in_node and set
# TT_NODES before tt_topology, and the tt_api_* functions (how policies and labels reach the
# agents: podlanectl by default, etcd records in a cluster); the defaults are one node, the
# test's own agent.
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TT_PROBE=$PL_BUILD/selftests/policy/probe
TT_NAMESPACES=(x y z)
TT_PODNAMES=(a b c)
TT_PODS=()
for _ns in "${TT_NAMESPACES[@]}"; do
	for _p in "${TT_PODNAMES[@]}"; do
		TT_PODS+=("$_ns/$_p")
	done
done
unset _ns _p
TT_COMBOS=(tcp/80 tcp/81 udp/80 udp/81)
TT_ALL_COMBOS=("${TT_COMBOS[@]}")	# plus sctp/80 sctp/81 when the kernel has SCTP
TT_DEFAULT_PORTS="serve-80-tcp=TCP/80 serve-80-udp=UDP/80 serve-81-tcp=TCP/81 serve-81-udp=UDP/81"
TT_TIMEOUT_MS=${TRUTH_TIMEOUT_MS:-500}	# per probe round: a blocked cell costs this once
TT_ATTEMPTS=${TRUTH_ATTEMPTS:-3}	# probe rounds per step until the matrix matches
TT_PRINT=${TRUTH_PRINT:-all}		# all: every matrix; mismatch: only those that differ
TT_POD_CIDR=${TRUTH_POD_CIDR:-10.237.0.0/24}
TT_NODES=(1)
TT_SCTP_SKIP=""
TT_CG=""				# the cgroup whose sockets the agent's socket LB serves
TT_SVC_SKIP="no cgroup for the socket LB"	# why pods are not probed through services
TT_DIR=""
TT_MODEL=""				# model mode: the file verify writes steps to

declare -A TT_NETNS TT_IP TT_NODE TT_PLABEL TT_NLABEL TT_PPORTS TT_CASE_DESC TT_SERVER_PID
declare -A TT_SVC_IP TT_MIS_PATH
declare -A EXP OBS OBS_DETAIL
TT_CASE_LIST=()
TT_CASES_RUN=0 TT_CASES_MATCH=0 TT_CASES_SKIP=0
TT_SUMMARY=()

# Topology hooks (single node) ----------------------------------------------------------------
tt_pod_node() { echo 1; }
tt_node_sock() { echo "$PL_SOCK"; }
tt_node_cidr() { echo "$TT_POD_CIDR"; }
tt_in_node() { shift; "$@"; }

# tt_ctl <node> <podlanectl args...>; tt_ctl_all: on every node, fails if one fails.
tt_ctl() {
	local n=$1
	shift
	"$PL_BUILD/podlanectl" --socket "$(tt_node_sock "$n")" "$@"
}
tt_ctl_all() {
	local n rc=0
	for n in "${TT_NODES[@]}"; do
		tt_ctl "$n" "$@" || rc=1
	done
	return $rc
}

# How the harness changes the world: policies, namespace labels on every node, a pod's labels
# and named ports on its own node, through podlanectl. A cluster driven by etcd redefines
# these five to write /podlane/v1/policies, /namespaces and /pods records instead.
tt_api_policy_add() { tt_ctl_all policy add -f "$1"; }		# <file>
tt_api_policy_del() { tt_ctl_all policy del "$1"; }		# <ns/name>
tt_api_ns_label() { tt_ctl_all namespace label "$@"; }		# <ns> <changes...>
tt_api_pod_label() { tt_ctl "${TT_NODE[$1]}" pod label "$@"; }	# <ns/pod> <changes...>
tt_api_pod_ports() { tt_ctl "${TT_NODE[$1]}" pod ports "$@"; }	# <ns/pod> <ports...>
tt_api_service_add() { tt_ctl_all service add "$@"; }		# <podlanectl service add args>

# Setup ----------------------------------------------------------------------------------------
tt_requires() {
	require_root
	require_cmd ip jq
	require_build podlaned podlane-cni podlanectl selftests/policy/probe
	[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ] ||
		skip_all "no BPF filesystem at /sys/fs/bpf"
}

# tt_init: after pl_setup. SCTP is probed only where the kernel has it.
tt_init() {
	TT_DIR=$PL_TMP/truth
	mkdir -p "$TT_DIR/policies"
	if ! TT_SCTP_SKIP=$("$TT_PROBE" sctp); then
		[ -n "$TT_SCTP_SKIP" ] || TT_SCTP_SKIP="probe sctp failed"
	else
		TT_SCTP_SKIP=""
		TT_ALL_COMBOS+=(sctp/80 sctp/81)
	fi
}

# tt_cgroup: a cgroup v2 directory of the test's own, for `podlaned --cgroup`: the socket LB
# translates connects to service addresses from it alone, and the probe client runs in it.
tt_cgroup() {
	local mnt
	mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	if [ -z "$mnt" ] || ! mkdir "$mnt/podlane-truth-$PL_ID"; then
		TT_SVC_SKIP="no cgroup v2 directory for the socket LB"
		return 1
	fi
	TT_CG=$mnt/podlane-truth-$PL_ID
	on_cleanup "rmdir $TT_CG"
}

# tt_services: a ClusterIP service per pod, as upstream probes every pod through its own
# service (s-<ns>-<pod>, ports 80 and 81, TCP and UDP); 1 TAP line. Policy judges the traffic
# after translation, against the backend pod, so the expected matrix is the same.
tt_services() {
	local p i=1 x=$((PL_ID % 250 + 1)) out rc=0
	if [ -z "$TT_CG" ]; then
		skip "services" "$TT_SVC_SKIP"
		return 0
	fi
	for p in "${TT_PODS[@]}"; do
		TT_SVC_IP[$p]=10.236.$x.$i
		i=$((i + 1))
		if ! out=$(tt_api_service_add "s-${p%/*}-${p#*/}" -n "${p%/*}" \
				--cluster-ip "${TT_SVC_IP[$p]}" --port serve-80-tcp=80/tcp \
				--port serve-81-tcp=81/tcp --port serve-80-udp=80/udp \
				--port serve-81-udp=81/udp --backend "${TT_IP[$p]}" 2>&1); then
			rc=1
			diag "service for $p: $out"
		fi
	done
	ok $rc "a ClusterIP service per pod (s-x-a .. s-z-c, TCP and UDP 80 and 81), probed too"
	[ $rc -eq 0 ] && TT_SVC_SKIP="" || TT_SVC_SKIP="the services could not be added"
}

# tt_pod_create <ns> <pod>: a pod netns wired by podlane-cni ADD on its node, as a CRI runtime
# calls it (K8S_POD_NAMESPACE and K8S_POD_NAME in CNI_ARGS, labels in args.cni.labels).
tt_pod_create() {
	local ns=$1 name=$2 p=$1/$2 node netns conf res
	node=$(tt_pod_node "$p")
	netns=$(netns_add "$ns-$name") || return 1
	conf=$TT_DIR/cni.$ns-$name.json
	res=$TT_DIR/cni.$ns-$name.result
	cat > "$conf" <<EOC
{"cniVersion": "1.0.0", "name": "truth", "type": "podlane-cni",
 "podCIDR": "$(tt_node_cidr "$node")", "agentSocket": "$(tt_node_sock "$node")",
 "args": {"cni": {"labels": [{"key": "pod", "value": "$name"}]}}}
EOC
	if ! tt_cni ADD "$node" "$ns" "$name" < "$conf" > "$res" 2>&1; then
		diag "CNI ADD $p on node $node failed: $(head -c 400 "$res")"
		return 1
	fi
	on_cleanup "tt_cni DEL $node $ns $name < $conf"
	TT_NETNS[$p]=$netns
	TT_NODE[$p]=$node
	TT_IP[$p]=$(jq -r '.ips[0].address' "$res" | cut -d/ -f1)
	TT_PLABEL["$p pod"]=$name
	TT_PPORTS[$p]=$TT_DEFAULT_PORTS
	[[ ${TT_IP[$p]} =~ ^[0-9]+(\.[0-9]+){3}$ ]]
}
tt_cni() {	# tt_cni <command> <node> <ns> <pod>, the config on stdin
	tt_in_node "$2" env CNI_COMMAND="$1" CNI_CONTAINERID="tt-$3-$4-$PL_ID" \
		CNI_NETNS="/run/netns/$(netns_name "$3-$4")" CNI_IFNAME=eth0 CNI_PATH="$PL_BUILD" \
		CNI_ARGS="K8S_POD_NAMESPACE=$3;K8S_POD_NAME=$4" "$PL_BUILD/podlane-cni"
}

# tt_serve <pod>: probe's server in the pod, ready on return.
tt_serve() {
	local p=$1 ready=$TT_DIR/ready.${1/\//-}
	ip netns exec "${TT_NETNS[$p]}" "$TT_PROBE" serve "$p" -r "$ready" -l 3600 \
		2>> "$TT_DIR/serve.log" &
	TT_SERVER_PID[$p]=$!
	on_cleanup "kill $!"
	poll 10 test -s "$ready"
}

# tt_topology: namespaces, pods, servers, labels, named ports; 4 TAP lines.
tt_topology() {
	local ns p rc=0 out
	for p in "${TT_PODS[@]}"; do
		tt_pod_create "${p%/*}" "${p#*/}" || { rc=1; break; }
	done
	ok $rc "9 pods x/a .. z/c wired by podlane-cni (K8S_POD_NAMESPACE, K8S_POD_NAME, label pod)"
	[ $rc -eq 0 ] || return 1
	for p in "${TT_PODS[@]}"; do
		tt_serve "$p" || { rc=1; diag "server in $p not ready: $(tail -n 3 "$TT_DIR/serve.log")"; }
	done
	ok $rc "probe serves TCP and UDP 80 and 81${TT_SCTP_SKIP:+ (no SCTP: $TT_SCTP_SKIP)} in every pod"
	[ $rc -eq 0 ] || return 1
	diag "pods: $(for p in "${TT_PODS[@]}"; do printf '%s=%s ' "$p" "${TT_IP[$p]}"; done)"

	for ns in "${TT_NAMESPACES[@]}"; do
		if ! out=$(tt_api_ns_label "$ns" "ns=$ns" 2>&1); then
			rc=1
			diag "podlanectl namespace label $ns ns=$ns: $out"
		fi
		TT_NLABEL["$ns ns"]=$ns
	done
	ok $rc "namespaces x, y, z labelled ns=x, ns=y, ns=z (podlanectl namespace label)"
	rc=0
	for p in "${TT_PODS[@]}"; do
		# shellcheck disable=SC2086
		if ! out=$(tt_api_pod_ports "$p" $TT_DEFAULT_PORTS 2>&1); then
			rc=1
			diag "podlanectl pod ports $p: $out"
		fi
	done
	ok $rc "every pod has the named ports serve-80-tcp, serve-80-udp, serve-81-tcp, serve-81-udp"
	return 0
}

# Expectations ---------------------------------------------------------------------------------
reach_all() { tt_expect 1 any any; }
deny() { tt_expect 0 "$@"; }
allow() { tt_expect 1 "$@"; }

# tt_pod_glob / tt_combo_glob <word>: the glob for it in TT_GLOB (no subshell: the cases call
# these often). Pods: any -> *, x -> x/*, any/a -> */a, x/a -> x/a. Combos: tcp/80, tcp ->
# tcp/*, 81 -> */81, all -> *.
tt_pod_glob() {
	case $1 in
	any) TT_GLOB='*' ;;
	any/*) TT_GLOB="*/${1#any/}" ;;
	*/*) TT_GLOB=$1 ;;
	*) TT_GLOB="$1/*" ;;
	esac
}
tt_combo_glob() {
	case $1 in
	all) TT_GLOB='*' ;;
	*/*) TT_GLOB=$1 ;;
	[0-9]*) TT_GLOB="*/$1" ;;
	*) TT_GLOB="$1/*" ;;
	esac
}

tt_expect() {	# tt_expect <0|1> <from> <to> [combo...]
	local v=$1 fp tp c g f t hit cps=()
	tt_pod_glob "$2"
	fp=$TT_GLOB
	tt_pod_glob "$3"
	tp=$TT_GLOB
	shift 3
	[ $# -gt 0 ] || set -- all
	for c in "$@"; do
		tt_combo_glob "$c"
		cps+=("$TT_GLOB")
	done
	for c in "${TT_ALL_COMBOS[@]}"; do
		hit=0
		for g in "${cps[@]}"; do
			# shellcheck disable=SC2053
			[[ $c == $g ]] && hit=1
		done
		[ $hit = 1 ] || continue
		for f in "${TT_PODS[@]}"; do
			# shellcheck disable=SC2053
			[[ $f == $fp ]] || continue
			for t in "${TT_PODS[@]}"; do
				# shellcheck disable=SC2053
				[[ $t == $tp ]] && EXP["$c $f $t"]=$v
			done
		done
	done
}

# Actions ----------------------------------------------------------------------------------------
# tt_do <what> <command...>: run it; a failure is remembered against the case and shown.
tt_do() {
	local what=$1 out
	shift
	if ! out=$("$@" 2>&1); then
		TT_CASE_ERRS+=("$what failed")
		diag "$what failed: $(printf '%s' "$out" | head -n 5)"
		return 1
	fi
}

policy() {	# policy <ns> <name>, the spec on stdin
	local ns=$1 name=$2 f k
	f=$TT_DIR/policies/$TT_CASE.$ns.$name.yaml
	{
		printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n'
		printf 'metadata:\n  name: %s\n  namespace: %s\nspec:\n' "$name" "$ns"
		sed 's/^/  /'
	} > "$f"
	if ! tt_do "policy add $ns/$name" tt_api_policy_add "$f"; then
		diag "the policy:"
		sed 's/^/#   /' "$f"
		return 1
	fi
	for k in "${TT_CASE_POLICIES[@]}"; do
		[ "$k" = "$ns/$name" ] && return 0
	done
	TT_CASE_POLICIES+=("$ns/$name")
}

policy_del() {
	local k rest=()
	tt_do "policy del $1/$2" tt_api_policy_del "$1/$2" || return 1
	for k in "${TT_CASE_POLICIES[@]}"; do
		[ "$k" = "$1/$2" ] || rest+=("$k")
	done
	TT_CASE_POLICIES=("${rest[@]}")
}

# tt_label_undo <map name> <object> <change...>: the changes that restore what these replace.
tt_label_undo() {
	local -n map=$1
	local obj=$2 a k
	shift 2
	for a in "$@"; do
		if [[ $a == *- ]]; then k=${a%-}; else k=${a%%=*}; fi
		if [ -n "${map["$obj $k"]+set}" ]; then
			printf '%s ' "$k=${map["$obj $k"]}"
		else
			printf '%s ' "$k-"
		fi
	done
}
tt_label_apply() {	# tt_label_apply <map name> <object> <change...>
	local -n map=$1
	local obj=$2 a
	shift 2
	for a in "$@"; do
		if [[ $a == *- ]]; then
			unset "map[$obj ${a%-}]"
		else
			map["$obj ${a%%=*}"]=${a#*=}
		fi
	done
}

pod_label() {	# pod_label <ns/pod> <key=value|key-...>
	local p=$1 undo
	shift
	undo=$(tt_label_undo TT_PLABEL "$p" "$@")
	tt_do "pod label $p $*" tt_api_pod_label "$p" "$@" || return 1
	tt_label_apply TT_PLABEL "$p" "$@"
	TT_UNDO+=("pod_label_raw $p $undo")
}
pod_label_raw() {
	local p=$1
	shift
	tt_api_pod_label "$p" "$@" && tt_label_apply TT_PLABEL "$p" "$@"
}

ns_label() {	# ns_label <ns> <key=value|key-...>
	local ns=$1 undo
	shift
	undo=$(tt_label_undo TT_NLABEL "$ns" "$@")
	tt_do "namespace label $ns $*" tt_api_ns_label "$ns" "$@" || return 1
	tt_label_apply TT_NLABEL "$ns" "$@"
	TT_UNDO+=("ns_label_raw $ns $undo")
}
ns_label_raw() {
	local ns=$1
	shift
	tt_api_ns_label "$ns" "$@" && tt_label_apply TT_NLABEL "$ns" "$@"
}

pod_ports() {	# pod_ports <ns/pod> <name=PROTO/port...>
	local p=$1 old=${TT_PPORTS[$1]}
	shift
	tt_do "pod ports $p $*" tt_api_pod_ports "$p" "$@" || return 1
	TT_PPORTS[$p]="$*"
	TT_UNDO+=("pod_ports_raw $p $old")
}
pod_ports_raw() {
	local p=$1
	shift
	tt_api_pod_ports "$p" "$@" && TT_PPORTS[$p]="$*"
}

need_sctp() {
	if [ -n "$TT_SCTP_SKIP" ]; then
		skip "$TT_CASE: sctp/80 sctp/81" "$TT_SCTP_SKIP"
		TT_CASE_SKIPPED=$TT_SCTP_SKIP
		return 1
	fi
	TT_VCOMBOS=(sctp/80 sctp/81)
}

# Probing and matrices ---------------------------------------------------------------------------
# tt_probe_round: every ordered pair on every combo of TT_VCOMBOS, into OBS and OBS_DETAIL.
tt_probe_round() {
	local f=$TT_DIR/targets out=$TT_DIR/probe.out from to c verdict detail
	for from in "${TT_PODS[@]}"; do
		for to in "${TT_PODS[@]}"; do
			for c in "${TT_VCOMBOS[@]}"; do
				echo "/run/netns/${TT_NETNS[$from]} $from $to ${c%/*} ${TT_IP[$to]} ${c#*/}"
				tt_svc_path "$c" &&
					echo "/run/netns/${TT_NETNS[$from]} $from $to@svc ${c%/*}" \
						"${TT_SVC_IP[$to]} ${c#*/}"
			done
		done
	done > "$f"
	if ! tt_in_cgroup "$TT_PROBE" client -t "$TT_TIMEOUT_MS" < "$f" > "$out" \
			2> "$TT_DIR/probe.err"; then
		diag "probe client failed: $(head -n 3 "$TT_DIR/probe.err")"
		return 1
	fi
	while read -r from to c verdict detail; do
		if [ "$verdict" = ok ]; then
			OBS["$c $from $to"]=1
		else
			OBS["$c $from $to"]=0
		fi
		OBS_DETAIL["$c $from $to"]=$detail
	done < "$out"
}

# tt_svc_path <combo>: whether the combo is probed through the services too (TCP and UDP).
tt_svc_path() { [ -z "$TT_SVC_SKIP" ] && [[ $1 == tcp/* || $1 == udp/* ]]; }

tt_in_cgroup() {	# tt_in_cgroup <command...>: run it in TT_CG when there is one
	if [ -n "$TT_CG" ]; then
		bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$TT_CG" "$@"
	else
		"$@"
	fi
}

# tt_servers_alive: a dead server would read as a blocked column, so a probe round only counts
# when every server outlived it.
tt_servers_alive() {
	local p rc=0
	for p in "${TT_PODS[@]}"; do
		if ! kill -0 "${TT_SERVER_PID[$p]}" 2>/dev/null; then
			diag "the server in $p has died: $(tail -n 3 "$TT_DIR/serve.log")"
			rc=1
		fi
	done
	return $rc
}

# tt_compare: TT_MIS[combo] = off-diagonal cells of TT_VCOMBOS whose observation differs.
declare -A TT_MIS
tt_compare() {
	local c f t n path
	for c in "${TT_VCOMBOS[@]}"; do
		TT_MIS[$c]=0
		for path in "" @svc; do
			[ -z "$path" ] || tt_svc_path "$c" || continue
			n=0
			for f in "${TT_PODS[@]}"; do
				for t in "${TT_PODS[@]}"; do
					[ "$f" = "$t" ] && continue
					[ "${EXP["$c $f $t"]}" = "${OBS["$c $f $t$path"]:-none}" ] ||
						n=$((n + 1))
				done
			done
			TT_MIS_PATH[$c$path]=$n
			TT_MIS[$c]=$((TT_MIS[$c] + n))
		done
	done
}

# tt_print_matrix <combo> [@svc]: expected and observed side by side, rows from, columns to, as
# upstream prints its truth tables; a mismatch is marked * in the observed one. With @svc, the
# observations through the pods' services.
tt_print_matrix() {
	local c=$1 path=${2:-} f t e o left right hdr="     " shown=0 out="" via="pod IPs"
	[ -z "$path" ] || via="ClusterIPs"
	for t in "${TT_PODS[@]}"; do
		hdr+="$t "
	done
	out+="# $TT_CASE step $TT_STEP $c: expected | observed ($via)"$'\n'
	out+="# $hdr |  $hdr"$'\n'
	for f in "${TT_PODS[@]}"; do
		left="$f  "
		right="$f  "
		for t in "${TT_PODS[@]}"; do
			e=${EXP["$c $f $t"]}
			o=${OBS["$c $f $t$path"]:-none}
			if [ "$f" = "$t" ]; then
				left+="-   "
			elif [ "$e" = 1 ]; then
				left+=".   "
			else
				left+="X   "
			fi
			if [ "$o" = 1 ]; then right+="."; else right+="X"; fi
			if [ "$f" != "$t" ] && [ "$e" != "$o" ]; then right+="*  "; else right+="   "; fi
		done
		out+="# $left |  $right"$'\n'
	done
	printf '%s' "$out"
	for f in "${TT_PODS[@]}"; do
		for t in "${TT_PODS[@]}"; do
			[ "$f" = "$t" ] && continue
			e=${EXP["$c $f $t"]}
			o=${OBS["$c $f $t$path"]:-none}
			[ "$e" = "$o" ] && continue
			shown=$((shown + 1))
			[ $shown -le 12 ] || continue
			o=${OBS_DETAIL["$c $f $t$path"]:-not probed}
			if [ "$e" = 1 ]; then
				diag "  $f -> $t$path: expected reachable, blocked ($o)"
			else
				diag "  $f -> $t$path: expected blocked, reachable (answered $o)"
			fi
		done
	done
	[ $shown -le 12 ] || diag "  ... and $((shown - 12)) more cells differ"
}

verify() {	# verify <what this step shows>
	local what=$1 attempt c n total probe_rc=0 desc why
	TT_STEP=$((TT_STEP + 1))
	if [ -n "$TT_MODEL" ]; then
		tt_model_step >> "$TT_MODEL"
		return 0
	fi
	for ((attempt = 1; attempt <= TT_ATTEMPTS; attempt++)); do
		tt_probe_round || probe_rc=1
		tt_servers_alive || probe_rc=1
		tt_compare
		total=0
		for c in "${TT_VCOMBOS[@]}"; do
			total=$((total + TT_MIS[$c]))
		done
		[ $total -eq 0 ] && break
		[ $attempt -lt "$TT_ATTEMPTS" ] && sleep 0.2
	done
	if [ $total -eq 0 ] && [ $attempt -gt 1 ]; then
		diag "$TT_CASE step $TT_STEP: matched on probe round $attempt"
		TT_CASE_LATE=$((TT_CASE_LATE + 1))
	fi
	for c in "${TT_VCOMBOS[@]}"; do
		n=${TT_MIS[$c]}
		if [ "$TT_PRINT" = all ] || [ "${TT_MIS_PATH[$c]}" -gt 0 ]; then
			tt_print_matrix "$c"
		fi
		# Through the services: printed when it differs (else it is the matrix above).
		tt_svc_path "$c" && [ "${TT_MIS_PATH[$c@svc]}" -gt 0 ] && tt_print_matrix "$c" @svc
		desc="$TT_CASE step $TT_STEP $c: $what"
		if [ "$n" -gt 0 ]; then
			ok 1 "$desc (cells that differ: ${TT_MIS_PATH[$c]} to pod IPs$(
				tt_svc_path "$c" && echo ", ${TT_MIS_PATH[$c@svc]} to ClusterIPs"))"
		elif [ ${#TT_CASE_ERRS[@]} -gt 0 ] || [ $probe_rc -ne 0 ]; then
			why=""
			[ ${#TT_CASE_ERRS[@]} -eq 0 ] || why=$(printf '%s; ' "${TT_CASE_ERRS[@]}")
			[ $probe_rc -eq 0 ] || why+="a probe round failed or a server died; "
			ok 1 "$desc (matrix matches, but: ${why%; })"
		else
			ok 0 "$desc"
			continue
		fi
		TT_CASE_FAILED=1
	done
}

# Cases ------------------------------------------------------------------------------------------
tt_case() { TT_CASE_LIST+=("$1"); TT_CASE_DESC[$1]=$2; }

tt_case_cleanup() {
	local i k rc=0 out
	for ((i = ${#TT_CASE_POLICIES[@]} - 1; i >= 0; i--)); do
		k=${TT_CASE_POLICIES[$i]}
		out=$(tt_api_policy_del "$k" 2>&1) || { rc=1; diag "cleanup: policy del $k: $out"; }
	done
	# Not in a subshell: the undo keeps the harness's record of labels and ports too.
	for ((i = ${#TT_UNDO[@]} - 1; i >= 0; i--)); do
		# shellcheck disable=SC2086
		if ! ${TT_UNDO[$i]} > "$TT_DIR/undo.out" 2>&1; then
			rc=1
			diag "cleanup: ${TT_UNDO[$i]}: $(head -n 3 "$TT_DIR/undo.out")"
		fi
	done
	if [ $rc -ne 0 ]; then
		ok 1 "$TT_CASE: cleanup (its policies deleted, labels and ports restored)"
		TT_CASE_FAILED=1
	fi
}

tt_run_case() {	# tt_run_case <function> [nocount]: nocount keeps it out of the score
	local name=$1 t0 result
	TT_CASE=$name TT_STEP=0 TT_CASE_FAILED=0 TT_CASE_SKIPPED="" TT_CASE_LATE=0
	TT_CASE_ERRS=() TT_CASE_POLICIES=() TT_UNDO=()
	TT_VCOMBOS=("${TT_COMBOS[@]}")
	reach_all
	t0=$(date +%s%N)
	diag "" "=== $name: ${TT_CASE_DESC[$name]:-harness check}"
	"$name"
	if [ -z "$TT_CASE_SKIPPED" ] && [ "$TT_STEP" -eq 0 ]; then
		ok 1 "$name: verifies nothing (a case without verify)"
		TT_CASE_FAILED=1
	fi
	tt_case_cleanup
	[ "${2:-}" = nocount ] && return 0
	if [ -n "$TT_CASE_SKIPPED" ]; then
		TT_CASES_SKIP=$((TT_CASES_SKIP + 1))
		result="skip    "
	else
		TT_CASES_RUN=$((TT_CASES_RUN + 1))
		if [ $TT_CASE_FAILED -eq 0 ]; then
			TT_CASES_MATCH=$((TT_CASES_MATCH + 1))
			result="match   "
		else
			result="MISMATCH"
		fi
	fi
	# A step that matched only on a later probe round is a match (upstream retries too), but
	# the summary says so: enforcement was late or a probe was lost.
	TT_SUMMARY+=("$result $name ($TT_STEP steps, $(( ($(date +%s%N) - t0) / 1000000 )) ms$(
		[ $TT_CASE_LATE -eq 0 ] || echo ", $TT_CASE_LATE matched on a later probe round"))")
}

# tt_run_cases: every registered case, or those TRUTH_CASES names (space-separated).
tt_run_cases() {
	local c
	for c in "${TT_CASE_LIST[@]}"; do
		if [ -n "${TRUTH_CASES:-}" ] && [[ " $TRUTH_CASES " != *" $c "* ]]; then
			continue
		fi
		tt_run_case "$c"
	done
}

tt_score() {
	local s
	diag "" "truth table summary:"
	for s in "${TT_SUMMARY[@]}"; do
		diag "  $s"
	done
	if [ "$TT_CASES_SKIP" -gt 0 ]; then
		echo "# truth table: $TT_CASES_MATCH/$TT_CASES_RUN cases match" \
			"($TT_CASES_SKIP skipped: $TT_SCTP_SKIP)"
	else
		echo "# truth table: $TT_CASES_MATCH/$TT_CASES_RUN cases match"
	fi
}

# tt_cidr4 <ipv4>: the /4 that holds it (upstream's makeLargeCIDRForIP).
tt_cidr4() { echo "$(( ${1%%.*} & 240 )).0.0.0/4"; }

# Model mode (truth_model.t) ---------------------------------------------------------------------
# The cases run without pods or agent: actions only keep the harness's own record of labels,
# ports and policies, and verify writes the world and the expected matrix as truth_model.c
# reads them, for a second opinion on every expected cell.
tt_model_init() {
	local p i=1 ns
	TT_DIR=$PL_TMP/truth
	mkdir -p "$TT_DIR/policies" "$TT_DIR/model"
	TT_ALL_COMBOS=("${TT_COMBOS[@]}" sctp/80 sctp/81)
	for p in "${TT_PODS[@]}"; do
		TT_IP[$p]=10.237.0.$i
		TT_NODE[$p]=1
		TT_PLABEL["$p pod"]=${p#*/}
		TT_PPORTS[$p]=$TT_DEFAULT_PORTS
		i=$((i + 1))
	done
	for ns in "${TT_NAMESPACES[@]}"; do
		TT_NLABEL["$ns ns"]=$ns
	done
	tt_ctl() { :; }
}

tt_model_step() {
	local ns p k c f t copy
	echo "step $TT_CASE step $TT_STEP"
	for ns in "${TT_NAMESPACES[@]}"; do
		printf 'ns %s' "$ns"
		for k in "${!TT_NLABEL[@]}"; do
			[ "${k%% *}" = "$ns" ] && printf ' %s=%s' "${k#* }" "${TT_NLABEL[$k]}"
		done
		echo
	done
	for p in "${TT_PODS[@]}"; do
		printf 'pod %s %s' "$p" "${TT_IP[$p]}"
		for k in "${!TT_PLABEL[@]}"; do
			[ "${k%% *}" = "$p" ] && printf ' L:%s=%s' "${k#* }" "${TT_PLABEL[$k]}"
		done
		for k in ${TT_PPORTS[$p]}; do
			printf ' P:%s' "$k"
		done
		echo
	done
	# A policy replaced later in the case must be read as it is now: copy it.
	for k in "${TT_CASE_POLICIES[@]}"; do
		copy=$TT_DIR/model/$TT_CASE.$TT_STEP.${k/\//.}.yaml
		cp "$TT_DIR/policies/$TT_CASE.${k/\//.}.yaml" "$copy"
		echo "policy $copy"
	done
	for c in "${TT_VCOMBOS[@]}"; do
		for f in "${TT_PODS[@]}"; do
			for t in "${TT_PODS[@]}"; do
				echo "exp $c $f $t ${EXP["$c $f $t"]}"
			done
		done
	done
}
