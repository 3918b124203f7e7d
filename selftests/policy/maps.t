#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/maps.t - the network policy maps (bpf/lib/policy.h) as podlaned's loader
# leaves them: created and pinned by name under the agent's pin root when it loads the tc
# objects, with BTF (bpftool prints their fields), kept with the same ids across an agent
# restart, removed by --uninstall. Root; an isolated agent (own pin root, state, socket).
. "$(dirname "$0")/../lib.sh"

require_root
require_build podlaned podlanectl
pl_setup

MAPS="podlane_ipcache podlane_ep_policy podlane_policy podlane_pol_ct podlane_pol_rev
podlane_pol_stat"

# map_field <name> <key>: a field of `bpftool map show pinned` (JSON), empty when none.
map_field() {
	bpftool -j map show pinned "$PL_PIN/$1" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2"
}

agent_start
ok $? "podlaned starts"

for m in $MAPS; do
	[ -e "$PL_PIN/$m" ]
	ok $? "$m is pinned under the pin root"
done

if command -v bpftool > /dev/null; then
	check "podlane_pol_ct is an LRU hash" test "$(map_field podlane_pol_ct type)" = lru_hash
	check "podlane_ipcache is an LPM trie" test "$(map_field podlane_ipcache type)" = lpm_trie
	check "podlane_policy is an LPM trie" test "$(map_field podlane_policy type)" = lpm_trie
	for m in $MAPS; do
		btf=$(map_field "$m" btf_id)
		[ -n "$btf" ] && [ "$btf" != 0 ]
		ok $? "$m has BTF (btf_id ${btf:-none})"
	done
	bpftool map dump pinned "$PL_PIN/podlane_pol_rev" | grep -q '"value": 0'
	ok $? "bpftool dumps podlane_pol_rev (revision 0 before any policy)"
	ids_before=$(for m in $MAPS; do map_field "$m" id; done | paste -sd' ')
else
	skip "map types and BTF" "bpftool not installed"
	ids_before=""
fi

agent_kill TERM
agent_start
ok $? "podlaned starts again"
if [ -n "$ids_before" ]; then
	ids_after=$(for m in $MAPS; do map_field "$m" id; done | paste -sd' ')
	[ "$ids_before" = "$ids_after" ]
	ok $? "the restarted agent reuses the pinned maps (ids $ids_after)"
fi

agent_kill TERM
"$PL_BUILD/podlaned" --uninstall --pin-root "$PL_PIN" --state-dir "$PL_STATE" \
	> "$PL_TMP/uninstall.log" 2>&1
ok $? "podlaned --uninstall"
left=""
for m in $MAPS; do
	[ -e "$PL_PIN/$m" ] && left="$left $m"
done
[ -z "$left" ]
ok $? "--uninstall removes the policy maps' pins${left:+ (left:$left)}"
done_testing
