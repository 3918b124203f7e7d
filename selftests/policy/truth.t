#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/truth.t - the NetworkPolicy truth table on one node: the upstream
# Kubernetes e2e cases (truth_cases.sh) on nine live pods wired by podlane-cni, policies,
# labels and named ports set through podlanectl, every pair probed on TCP and UDP 80 and 81,
# to the pod's address and through its ClusterIP service (truthlib.sh). Prints each matrix beside the expected one, one TAP line per case step and
# port/protocol, and "# truth table: N/M cases match". SCTP cases are a SKIP with the reason
# where the kernel has no SCTP.
#
# TRUTH_CASES="baseline ports" runs only those cases; TRUTH_PRINT=mismatch prints only the
# matrices that differ.
. "$(dirname "$0")/truthlib.sh"
tt_requires
pl_setup
tt_init
T0=$(date +%s)

if tt_cgroup; then
	agent_start --cgroup "$TT_CG" || { ok 1 "podlaned starts"; done_testing; }
else
	agent_start || { ok 1 "podlaned starts"; done_testing; }
fi
tt_topology || done_testing
tt_services

# The harness can see a block: with iptables in two pods' own namespaces, drop exactly
# x/b -> x/a on TCP 80 and y/c -> z/b on UDP 81; those cells, and only those, must read X.
# Not a policy case: it proves that a matrix of dots means reachable, not unprobed.
harness_sees_blocks() {
	local a=${TT_NETNS[x/a]} b=${TT_NETNS[z/b]}
	if ! ip netns exec "$a" iptables -I INPUT -p tcp --dport 80 -s "${TT_IP[x/b]}" -j DROP ||
	   ! ip netns exec "$b" iptables -I INPUT -p udp --dport 81 -s "${TT_IP[y/c]}" -j DROP; then
		TT_CASE_ERRS+=("iptables in a pod's namespace failed")
	fi
	deny x/b x/a tcp/80
	deny y/c z/b udp/81
	verify "two cells dropped by iptables in the receivers' namespaces"
	ip netns exec "$a" iptables -D INPUT -p tcp --dport 80 -s "${TT_IP[x/b]}" -j DROP
	ip netns exec "$b" iptables -D INPUT -p udp --dport 81 -s "${TT_IP[y/c]}" -j DROP
	reach_all
	verify "the iptables rules removed"
}
if command -v iptables >/dev/null 2>&1; then
	tt_run_case harness_sees_blocks nocount
else
	skip "harness_sees_blocks" "needs iptables"
fi

. "$(dirname "$0")/truth_cases.sh"
tt_run_cases
tt_score
diag "truth table ran in $(( $(date +%s) - T0 )) s ($((TT_CASES_RUN + TT_CASES_SKIP)) cases, probe timeout $TT_TIMEOUT_MS ms)"
done_testing
