#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/bench.t - scripts/bench/bench-policy.sh's quick mode (BENCH_QUICK=1) as a
# smoke test: it runs to the end, prints every table with a figure in every cell, and leaves
# nothing behind (its namespaces, pins, the host's firewall). No figure is judged here:
# performance is the benchmark's business.
. "$(dirname "$0")/agentlib.sh"

pol_requires
[ -x "$PL_ROOT/scripts/bench/bench-policy.sh" ] || skip_all "no scripts/bench/bench-policy.sh beside the tests"
require_cmd qperf gcc taskset iptables-restore iptables-nft ipset
require_build selftests/policy/test_policy_dp
pl_setup

host_fw() { iptables-nft -S 2>/dev/null | md5sum; ipset list -n 2>/dev/null | md5sum; }
fw_before=$(host_fw)
BENCH_QUICK=1 "$PL_ROOT/scripts/bench/bench-policy.sh" > "$PL_TMP/out.md" 2> "$PL_TMP/err" &
bench=$!
wait $bench
rc=$?
ok $rc "BENCH_QUICK=1 bench-policy.sh exits 0"
[ $rc = 0 ] || diag "$(tail -n 20 "$PL_TMP/err")"

for t in "Per packet" "Pod-to-pod TCP RR" "New connections/s" "Enforcement latency" \
	 "Policy map memory" "Summary"; do
	grep -q "^### $t" "$PL_TMP/out.md"
	ok $? "table: $t"
done
rows=$(sed -n '/^### Summary/,$p' "$PL_TMP/out.md" | grep -c '^| [a-z]')
[ "$rows" = 6 ]
ok $? "the summary has a row for each of the 6 figures ($rows)"
! grep -E '^\|' "$PL_TMP/out.md" | grep -v 'etcd write' | grep -qE '\| *(n/a)? *\|'
ok $? "no empty or n/a cell in any table"
diag "$(sed -n '/^### Summary/,$p' "$PL_TMP/out.md")"

[ -z "$(ip netns list | awk -v p="pl$bench-" 'index($1, p) == 1')" ] &&
	[ ! -e "/sys/fs/bpf/podlane-test-$bench" ]
ok $? "its namespaces and pins are gone"
[ "$(host_fw)" = "$fw_before" ]
ok $? "the host's iptables rules and ipsets are as before"
done_testing
