#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/sock.t - the socket-level service LB (bpf/sock_lb.bpf.c) live: connections and
# datagrams to 10.96.x.x services from a process in a test cgroup, inside a private network
# namespace with only lo, to TCP/UDP backends on 127.0.0.2-5. build/selftests/lb/test_lb_sock
# prints the TAP; this wrapper owns the cgroup (unique name, removed on exit). The programs
# are attached through links that die with the test process, and its maps are never pinned.
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/lb/test_lb_sock

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (cgroups, BPF, network namespace)"; exit 0; }
mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$mnt" ] || { echo "1..0 # SKIP no cgroup v2 hierarchy mounted"; exit 0; }

cg=$mnt/podlane-lb-$$
cleanup() {
	local i
	[ -d "$cg" ] || return 0
	[ -w "$cg/cgroup.kill" ] && echo 1 > "$cg/cgroup.kill" 2>/dev/null
	for i in $(seq 50); do
		rmdir "$cg" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "# failed to remove cgroup '$cg'" >&2
}
trap cleanup EXIT
mkdir "$cg" || { echo "1..0 # SKIP cannot create cgroup '$cg'"; exit 0; }
timeout 120 "$bin" "$cg"
