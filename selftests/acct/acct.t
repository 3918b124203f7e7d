#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/acct/acct.t - the per-cgroup accounting programs (bpf/sched_acct.bpf.c,
# bpf/cgroup_skb_acct.bpf.c) against the kernel's own figures: cpu.stat, schedstat, device
# counters, BPF_PROG_TEST_RUN (build/selftests/acct/test_acct prints the TAP). This wrapper picks
# the test's cgroup under the cgroup v2 mount and removes it even if the binary dies.
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PL_BUILD:-$root/build}/selftests/acct/test_acct

[ -x "$bin" ] || { echo "1..0 # SKIP $bin is not built (run make)"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (cgroups, BPF)"; exit 0; }
for c in ip nsenter sysctl; do
	command -v "$c" >/dev/null 2>&1 || { echo "1..0 # SKIP needs $c"; exit 0; }
done
mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$mnt" ] || { echo "1..0 # SKIP no cgroup v2 hierarchy mounted"; exit 0; }

cg=$mnt/podlane-acct-$$
cleanup() {
	local d i
	[ -d "$cg" ] || return 0
	# Children die with the binary (PDEATHSIG); cgroup.kill covers anything left over.
	for d in $(find "$cg" -depth -type d); do
		[ -w "$d/cgroup.kill" ] && echo 1 > "$d/cgroup.kill" 2>/dev/null
	done
	for i in $(seq 50); do
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$cg" ] || return 0
		sleep 0.1
	done
	echo "# failed to remove cgroup '$cg'" >&2
}
trap cleanup EXIT
timeout 120 "$bin" "$@" "$cg"
