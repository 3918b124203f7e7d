#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/truth_model.t - a second opinion on the truth table's expectations: every
# case of truth_cases.sh runs in truthlib.sh's model mode (no pods, no agent, no root), and
# truth_model judges each expected cell of each step with libpodlane's selector and port
# matching (policy_spec.c). One TAP line per case; a disagreement is a wrong expectation or a
# wrong matcher, found here before the datapath is blamed for it.
. "$(dirname "$0")/truthlib.sh"
require_build selftests/policy/truth_model
pl_setup
tt_model_init
. "$(dirname "$0")/truth_cases.sh"

for c in "${TT_CASE_LIST[@]}"; do
	TT_MODEL=$TT_DIR/model/$c.steps
	: > "$TT_MODEL"
	tt_run_case "$c" nocount > "$TT_DIR/model/$c.log" 2>&1
	if [ "$TT_STEP" -eq 0 ]; then
		ok 1 "$c: no step to judge"
		continue
	fi
	out=$("$PL_BUILD/selftests/policy/truth_model" < "$TT_MODEL" 2>&1)
	rc=$?
	ok $rc "$c: $TT_STEP step(s), the model agrees ($(tail -n 1 <<< "$out"))"
	[ $rc -eq 0 ] || printf '%s\n' "$out" | head -n 20 | sed 's/^/# /'

done
done_testing
