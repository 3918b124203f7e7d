# SPDX-License-Identifier: GPL-2.0-only
# selftests/cni/lib.sh - helpers shared by the CNI tests, on top of selftests/lib.sh:
# invoke podlane-cni with an exact environment (as a runtime does, nothing inherited), and
# judge its stdout with cnicheck.py.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

CNICHECK="$PL_ROOT/selftests/cni/cnicheck.py"
PLUGIN_OUT=""	# stdout of the last plugin run
PLUGIN_ERR=""	# stderr of the last plugin run
PLUGIN_RC=0

# plugin <stdin-file> [VAR=VALUE...]: run podlane-cni with only these variables (plus PATH,
# and in a sanitized run ASAN_OPTIONS and UBSAN_OPTIONS: where the sanitizers' reports go,
# which the plugin itself never reads).
plugin() {
	local in=$1 san=()
	shift
	PLUGIN_OUT=$PL_TMP/plugin.out
	PLUGIN_ERR=$PL_TMP/plugin.err
	[ -n "${ASAN_OPTIONS:-}" ] && san+=("ASAN_OPTIONS=$ASAN_OPTIONS")
	[ -n "${UBSAN_OPTIONS:-}" ] && san+=("UBSAN_OPTIONS=$UBSAN_OPTIONS")
	env -i PATH="$PATH" "${san[@]}" "$@" "$PL_BUILD/podlane-cni" < "$in" > "$PLUGIN_OUT" \
		2> "$PLUGIN_ERR"
	PLUGIN_RC=$?
}

# cni_env <command> <container-id> <netns-path> <ifname>: the variables a runtime sets.
cni_env() {
	CNI_ENV=("CNI_COMMAND=$1" "CNI_CONTAINERID=$2" "CNI_NETNS=$3" "CNI_IFNAME=$4"
		 "CNI_PATH=$PL_BUILD:/usr/lib/cni")
}

# cni_run <command> <container-id> <netns-path> <ifname> <config-file>
cni_run() {
	cni_env "$1" "$2" "$3" "$4"
	plugin "$5" "${CNI_ENV[@]}"
}

# expect_error <code> <msg-substring> <description>: the last run failed with that CNI error.
expect_error() {
	local out
	if [ "$PLUGIN_RC" -eq 0 ]; then
		ok 1 "$3"
		diag "exit 0, want code $1" "stdout: $(head -c 300 "$PLUGIN_OUT")"
		return 1
	fi
	out=$(python3 "$CNICHECK" error "$PLUGIN_OUT" "$1" "$2" 2>&1)
	ok $? "$3"
	[ -z "$out" ] || diag "$out" "stderr: $(tail -n 3 "$PLUGIN_ERR")"
}

# expect_success <description>: exit 0 and (for anything but ADD/VERSION) empty stdout.
expect_success() {
	local empty=${2:-empty}
	if [ "$PLUGIN_RC" -ne 0 ] || { [ "$empty" = empty ] && [ -s "$PLUGIN_OUT" ]; }; then
		ok 1 "$1"
		diag "exit $PLUGIN_RC" "stdout: $(head -c 400 "$PLUGIN_OUT")" \
			"stderr: $(tail -n 3 "$PLUGIN_ERR")"
		return 1
	fi
	ok 0 "$1"
}

# jget <file> <python-expression on j>
jget() { python3 "$CNICHECK" get "$1" "$2"; }

# with_prev <conf> <result> <out>: the config as libcni sends it to CHECK/DEL and chained plugins.
with_prev() { python3 "$CNICHECK" embed "$1" "$2" > "$3"; }

# require_bpffs: the pinned maps need a BPF filesystem at /sys/fs/bpf.
require_bpffs() {
	if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
		mount -t bpf bpf /sys/fs/bpf 2>/dev/null ||
			skip_all "no BPF filesystem at /sys/fs/bpf and cannot mount one"
	fi
}

# host_veths: names of podlane host veths in this (host) netns, one per line.
host_veths() { ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^pl[0-9a-f]{12}(@|$)/ { sub(/@.*/, "", $2); print $2 }'; }

# ipam_files <network>: addresses allocated by podlaned's IPAM for that network.
ipam_files() {
	find "$PL_STATE/ipam/$1" -maxdepth 1 -type f -regex '.*/[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+' \
		2>/dev/null
}

# eps_count: entries in the pinned podlane_eps map of the test's pin root.
eps_count() {
	bpftool -j map dump pinned "$PL_PIN/podlane_eps" 2>/dev/null |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
