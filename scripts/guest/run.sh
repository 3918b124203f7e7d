#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/guest/run.sh - boot the Debian 6.1 test guest under qemu (TCG: nested KVM hangs) and
# print its results as one TAP stream: "guest booted", one line per guest test (its own TAP
# indented under it, as a subtest), and "dmesg clean". The last guest test, kmod_fuzz, sends
# GUEST_FUZZ_MESSAGES (default 1,000,000) random messages to podlane.ko within GUEST_FUZZ_TIME
# seconds (default 600; 1,000,000 took 181-253 s under TCG here). The whole boot is bounded by
# GUEST_TIMEOUT seconds (default 300 + GUEST_FUZZ_TIME). Logs: $OUTPUT/guest/console.log
# (kernel) and results.log (raw protocol, see scripts/guest/init).
#
# Exit: 0 all passed, 1 something failed; "1..0 # SKIP ..." and exit 4 (kselftest's skip) when
# the guest cannot be built or booted on this machine (no qemu, no kernel package).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(cd "$root" && mkdir -p "${OUTPUT:-build}" && cd "${OUTPUT:-build}" && pwd)
guest=$out/guest
fuzz_n=${GUEST_FUZZ_MESSAGES:-1000000}
fuzz_t=${GUEST_FUZZ_TIME:-600}
timeout_s=${GUEST_TIMEOUT:-$((300 + fuzz_t))}
console=$guest/console.log
results=$guest/results.log
tests_file=$guest/tests.list

skip_all() { echo "1..0 # SKIP $*"; exit 4; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root (apt-get download, dpkg -x)"
command -v qemu-system-x86_64 > /dev/null || skip_all "needs qemu-system-x86_64 (qemu-system-x86)"
command -v cpio > /dev/null || skip_all "needs cpio"
[ -e "$out/podlane.ko" ] || skip_all "$out/podlane.ko is not built (make kmod)"

# One guest at a time on this machine: a second caller waits for the first.
mkdir -p "$guest"
exec 9> "$guest/.lock"
flock -w 600 9 || skip_all "another guest run holds $guest/.lock"

# What the guest runs, in order; a test whose pieces are not built is skipped here.
: > "$tests_file"
declare -a names=() skipped=()
add() {	# add <name> <command...>
	local name=$1
	shift
	names+=("$name")
	skipped+=("")
	echo "$name $*" >> "$tests_file"
}
add_skip() { names+=("$1"); skipped+=("$2"); }

g=/opt/podlane
if [ -x "$out/selftests/guest/kmod_genl" ]; then
	add kmod_genl "$g/selftests/guest/kmod_genl $g/podlane.ko"
else
	add_skip kmod_genl "selftests/guest/kmod_genl is not built (make guest-tests)"
fi
if [ -x "$out/selftests/guest/bpf_attach" ] && compgen -G "$out/bpf/*.bpf.o" > /dev/null; then
	add bpf_attach "ip link add plg0 type veth peer name plg1 && ip link set plg0 up &&" \
		"ip link set plg1 up && $g/selftests/guest/bpf_attach plg0 $g/bpf/*.bpf.o"
else
	add_skip bpf_attach "no BPF objects or bpf_attach built (make)"
fi
if [ -x "$out/selftests/datapath/test_datapath" ]; then
	add test_datapath "$g/selftests/datapath/test_datapath"
else
	add_skip test_datapath "build/selftests/datapath/test_datapath is not built (make)"
fi
if [ -x "$out/selftests/policy/test_policy_dp" ]; then
	add test_policy_dp "$g/selftests/policy/test_policy_dp"
else
	add_skip test_policy_dp "build/selftests/policy/test_policy_dp is not built (make)"
fi
if [ -x "$out/selftests/guest/acct_agent" ] && [ -x "$out/podlaned" ]; then
	add acct_agent "$g/selftests/guest/acct_agent $g/podlane.ko $g/podlaned"
else
	add_skip acct_agent "selftests/guest/acct_agent or podlaned is not built (make)"
fi
# Last: whatever the fuzzer does to the kernel cannot spoil the tests above.
if [ -x "$out/selftests/guest/kmod_fuzz" ]; then
	add kmod_fuzz "$g/selftests/guest/kmod_fuzz -n $fuzz_n -t $fuzz_t $g/podlane.ko"
else
	add_skip kmod_fuzz "selftests/guest/kmod_fuzz is not built (make guest-tests)"
fi

start=$(date +%s)
build_out=$("$root/scripts/guest/build.sh" "$tests_file" 2> "$guest/build.log")
rc=$?
if [ $rc -eq 4 ]; then
	skip_all "$(tail -n 1 "$guest/build.log")"
elif [ $rc -ne 0 ]; then
	echo "1..1"
	echo "not ok 1 - build the guest (exit $rc)"
	sed 's/^/# /' "$guest/build.log" | tail -n 20
	exit 1
fi
kernel=$(sed -n 's/^kernel=//p' <<< "$build_out")
initrd=$(sed -n 's/^initrd=//p' <<< "$build_out")
built=$(date +%s)

# Two serial ports: the kernel console on the first, the test protocol alone on the second.
# An oops panics, so the run ends at once instead of wedging until GUEST_TIMEOUT. Each guest
# test may take as long as the fuzzer's phases and its checks afterwards.
cmdline="console=ttyS0 panic=-1 oops=panic loglevel=6 rdinit=/init"
cmdline+=" podlane_test_timeout=$((fuzz_t + 120))"
rm -f "$console" "$results"
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 \
	-nodefaults -display none -nic none -no-reboot \
	-serial "file:$console" -serial "file:$results" \
	-kernel "$kernel" -initrd "$initrd" \
	-append "$cmdline" > "$guest/qemu.log" 2>&1
qemu_rc=$?
done_at=$(date +%s)

tr -d '\r' < "$results" > "$results.txt" 2>/dev/null || : > "$results.txt"

total=$(( ${#names[@]} + 2 ))
echo "1..$total"
n=0
failed=0
report() {	# report <0|1 ok> <description> [directive]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2${3:+ # $3}"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}

booted=$(sed -n 's/^@@BOOT //p' "$results.txt" | head -n 1)
echo "# guest image built in $((built - start)) s, qemu ran $((done_at - built)) s (exit $qemu_rc)"
if [ -n "$booted" ]; then
	report 0 "guest booted Linux $booted"
else
	report 1 "guest booted (qemu exit $qemu_rc)"
	tail -n 30 "$console" 2>/dev/null | sed 's/^/# console: /'
fi

# A guest test passes when it exited 0 and its TAP is whole: a plan, that many results, no
# "not ok", no bail out. A "1..0 # SKIP" plan with exit 0 or 4 (kselftest's skip) makes it a
# skip.
for i in "${!names[@]}"; do
	name=${names[$i]}
	if [ -n "${skipped[$i]}" ]; then
		report 0 "$name" "SKIP ${skipped[$i]}"
		continue
	fi
	body=$(awk -v n="$name" '$0 == "@@BEGIN " n { on = 1; next }
		on && $1 == "@@END" && $2 == n { print "@@RC " $3; exit }
		on { print }' "$results.txt")
	if ! grep -q '^@@RC ' <<< "$body"; then
		sed 's/^/    /' <<< "$body"
		report 1 "$name (did not finish: guest timed out or crashed)"
		continue
	fi
	test_rc=$(sed -n 's/^@@RC //p' <<< "$body")
	body=$(grep -v '^@@RC ' <<< "$body")
	# Anything that is not TAP (stray stderr) becomes a comment.
	sed -E '/^(ok|not ok|1\.\.|#|Bail out!)/! s/^/# /; s/^/    /' <<< "$body"
	plan=$(grep -m1 -oE '^1\.\.[0-9]+' <<< "$body" | cut -c4-)
	skipmsg=$(grep -m1 -E '^1\.\.0 # SKIP' <<< "$body" | sed 's/^1\.\.0 # SKIP *//')
	results_n=$(grep -cE '^(ok|not ok) ' <<< "$body")
	notok=$(grep -E '^not ok ' <<< "$body" | grep -vc '# TODO')
	if [ -n "$skipmsg" ] && { [ "$test_rc" -eq 0 ] || [ "$test_rc" -eq 4 ]; }; then
		report 0 "$name" "SKIP $skipmsg"
	elif [ "$test_rc" -eq 0 ] && [ -n "$plan" ] && [ "$plan" -gt 0 ] &&
	     [ "$results_n" -eq "$plan" ] && [ "$notok" -eq 0 ] && ! grep -q '^Bail out!' <<< "$body"; then
		report 0 "$name ($results_n tests in the guest)"
	else
		report 1 "$name (exit $test_rc, plan ${plan:-none}, $results_n results, $notok failed)"
	fi
done

dmesg_line=$(grep -m1 '^@@DMESG ' "$results.txt")
grep '^# dmesg: ' "$results.txt"
if [ -n "$dmesg_line" ]; then
	set -- $dmesg_line
	# Taint bits that mean trouble: B bad page (32), D oops (128), W warning (512), L lockup
	# (16384). E and O (unsigned, out-of-tree module) are expected.
	if [ "$2" -eq 0 ] && [ $(( $3 & (32 | 128 | 512 | 16384) )) -eq 0 ]; then
		report 0 "guest dmesg has no BUG/WARNING/Oops (tainted=$3)"
	else
		report 1 "guest dmesg has no BUG/WARNING/Oops ($2 lines, tainted=$3)"
	fi
else
	report 1 "guest dmesg checked (the guest did not get that far)"
fi
if ! grep -q '^@@DONE' "$results.txt"; then
	echo "# the guest did not finish; see $console"
	grep -m 20 -E 'BUG|WARNING|Oops|RIP:|Kernel panic|Call Trace' "$console" 2>/dev/null |
		sed 's/^/# console: /'
fi
[ $failed -eq 0 ]
