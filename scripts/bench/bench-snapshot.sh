#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/bench/bench-snapshot.sh - cost of one accounting snapshot of N cgroups (default
# 1000) through podlane.ko (one CGROUP_DUMP) against reading the same figures from cgroupfs
# (cpu.stat, memory.current, memory.max, cpu/memory/io.pressure per cgroup), with and without
# pressure. The running kernel here has no loadable modules, so both sides are measured in the
# Debian 6.1 guest (scripts/guest/, qemu TCG), in one boot, rounds interleaved; medians of
# ROUNDS rounds are printed as a markdown table. Absolute times are emulated (TCG is many
# times slower than the host); the ratio is the figure to read.
#
# Usage: sudo scripts/bench/bench-snapshot.sh [-n CGROUPS] [-r ROUNDS]
set -u

N=1000
ROUNDS=11
while getopts "n:r:h" opt; do
	case $opt in
	n) N=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(cd "$root" && mkdir -p "${OUTPUT:-build}" && cd "${OUTPUT:-build}" && pwd)
guest=$out/guest
die() { echo "bench-snapshot: $*" >&2; exit 1; }
log() { echo "bench-snapshot: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root (apt-get download, dpkg -x of the guest kernel)"
command -v qemu-system-x86_64 > /dev/null || die "needs qemu-system-x86_64 (qemu-system-x86)"

log "building podlane.ko and the guest benchmark"
make -C "$root" -s kmod selftests-guest >&2 || die "build failed"

mkdir -p "$guest"
exec 9> "$guest/.lock"
flock -w 600 9 || die "another guest run holds $guest/.lock"
tests=$guest/bench-snapshot.list
echo "snapshot /opt/podlane/selftests/guest/acct_snapshot /opt/podlane/podlane.ko $N $ROUNDS" \
	> "$tests"
build_out=$("$root/scripts/guest/build.sh" "$tests" 2> "$guest/build.log") ||
	die "guest image not built: $(tail -n 1 "$guest/build.log")"
kernel=$(sed -n 's/^kernel=//p' <<< "$build_out")
initrd=$(sed -n 's/^initrd=//p' <<< "$build_out")

results=$guest/bench-snapshot.results
log "booting the guest (TCG; a few minutes at most)"
rm -f "$results"
timeout -k 10 "${GUEST_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 \
	-nodefaults -display none -nic none -no-reboot \
	-serial "file:$guest/bench-console.log" -serial "file:$results" \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init" > "$guest/qemu.log" 2>&1

body=$(tr -d '\r' < "$results" 2>/dev/null | awk '$0 == "@@BEGIN snapshot" { on = 1; next }
	on && $1 == "@@END" { exit } on { print }')
[ -n "$body" ] || die "no output from the guest; see $guest/bench-console.log"
grep -E '^(not ok|Bail out)' <<< "$body" >&2 && die "the guest run failed:
$body"
line=$(grep '^bench ' <<< "$body") || die "no result line:
$body"
kver=$(tr -d '\r' < "$results" | sed -n 's/^@@BOOT //p')
# shellcheck disable=SC2046
eval $(tr ' ' '\n' <<< "${line#bench }" | grep -E '^[a-z_]+=[0-9]+$')

echo "One snapshot of $cgroups cgroups, Linux $kver under qemu TCG, median of $rounds rounds:"
echo
echo "| figures | podlane.ko (CGROUP_DUMP) | cgroupfs | cgroupfs / module |"
echo "|---|---|---|---|"
awk -v m="$module_psi_us" -v f="$cgroupfs_psi_us" 'BEGIN {
	printf "| CPU + memory + PSI | %.1f ms | %.1f ms | %.1fx |\n", m / 1000, f / 1000, f / m }'
awk -v m="$module_us" -v f="$cgroupfs_us" 'BEGIN {
	printf "| CPU + memory | %.1f ms | %.1f ms | %.1fx |\n", m / 1000, f / 1000, f / m }'
echo
grep '^# ' <<< "$body" | sed 's/^# /    /'
