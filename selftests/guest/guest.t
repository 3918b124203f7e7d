#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/guest/guest.t - boot Debian's 6.1 kernel under qemu (TCG) and run podlane's guest
# tests there: podlane.ko's generic-netlink tests (selftests/guest/kmod_genl.c), every BPF
# program of build/bpf/*.bpf.o loaded and attached on a veth (bpf_attach.c), the datapath unit
# tests (build/selftests/datapath/test_datapath, the same kselftest binary as on the host) and
# network policy's (build/selftests/policy/test_policy_dp), podlaned's accounting reading the
# module (selftests/guest/acct_agent.c), a million random generic-netlink messages against the
# module (selftests/guest/kmod_fuzz.c), and a dmesg check.
# Builds what it needs first (`make guest-deps`); skips when qemu, the kernel headers or the
# kernel package are missing. The guest part is bounded by GUEST_TIMEOUT (default 900 s; see
# scripts/guest/run.sh for GUEST_FUZZ_MESSAGES and GUEST_FUZZ_TIME).
set -u
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
root=$PL_ROOT

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
command -v qemu-system-x86_64 > /dev/null || skip_all "needs qemu-system-x86_64 (qemu-system-x86)"
abi=$("$root/scripts/guest/kabi.sh") || skip_all "needs linux-headers-amd64"
[ -d "/usr/src/linux-headers-$abi" ] || skip_all "needs linux-headers-$abi (linux-headers-amd64)"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! make -C "$root" -s guest-deps > "$log" 2>&1; then
	echo "1..1"
	echo "not ok 1 - build podlane.ko, the guest test programs and the BPF objects"
	tail -n 30 "$log" | sed 's/^/# /'
	exit 1
fi
"$root/scripts/guest/run.sh"
