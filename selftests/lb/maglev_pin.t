#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/lb/maglev_pin.t - Maglev tables on an outer map an older agent pinned. podlaned
# writes inner tables through mmap (BPF_F_MMAPABLE, bpf/lib/lb.h); the kernel takes an inner
# map only with the flags of the outer map's template, so on a podlane_maglev created with a
# plain template it must notice (EINVAL on its first table) and write plain tables, keeping
# the outer map (and traffic on it). On fresh pins the tables are mmapable; both ways write
# the same table.
. "$(dirname "$0")/lib.sh"

svc_requires
require_cmd bpftool jq md5sum
pl_setup
svc_cgroup || skip_all "cannot create a cgroup under $(cg2_mount)"

X=$((PL_ID % 250 + 1))
# inner_ids: the inner map id of every entry of podlane_maglev (values are little endian).
inner_ids() {
	local v
	for v in $(bpftool -j map dump pinned "$PL_PIN/podlane_maglev" |
		   jq -r '.[].value | reverse | map(ltrimstr("0x")) | join("")'); do
		echo $((16#$v))
	done
}
inner_flags() { bpftool -j map show id "$1" | jq -r .flags; }
inner_values() {
	bpftool -j map dump id "$1" | jq -c '[.[].value | map(ltrimstr("0x")) | join("")]'
}
svc_put() {	# svc_put <name> <last octet>: a Maglev frontend (externalIP), two backends
	ctl service add "$1" -n mglv --cluster-ip "10.96.$X.$2" --port 80 \
		--external-ip "198.51.100.$2" --backend 10.250.9.1 --backend 10.250.9.2 >/dev/null
}

# An outer map as an agent before BPF_F_MMAPABLE pinned it: same type and sizes, plain template.
mkdir -p "$PL_PIN" &&
	bpftool map create "$PL_PIN/mglv_tmpl" type array key 4 value 4 entries 16381 \
		name podlane_mglv &&
	bpftool map create "$PL_PIN/podlane_maglev" type array_of_maps key 4 value 4 \
		entries 65536 name podlane_maglev inner_map pinned "$PL_PIN/mglv_tmpl" &&
	rm -f "$PL_PIN/mglv_tmpl"
old_id=$(map_id podlane_maglev)
agent_start --cgroup "$SVC_CG" && [ "$(map_id podlane_maglev)" = "$old_id" ]
ok $? "podlaned starts on a podlane_maglev with a plain template and keeps it (id $old_id)"

svc_put a 20 && svc_put b 21
ids=$(inner_ids)
[ "$(echo "$ids" | grep -c .)" -eq 2 ]
ok $? "two Maglev services on the old outer map: two tables installed"
flags=$(for i in $ids; do inner_flags "$i"; done | sort -u)
[ "$flags" = 0 ] && grep -q "older agent" "$PL_TMP/podlaned.log"
ok $? "their tables are plain (flags $(echo $flags)), and the log says why"
old_tabs=$(for i in $ids; do inner_values "$i" | md5sum; done | sort -u)
first=$(echo "$ids" | head -n 1)
[ "$(inner_values "$first" | jq 'length')" -eq 16381 ] &&
	[ "$(inner_values "$first" | jq -c 'unique')" = '["00000000","01000000"]' ] &&
	[ "$(echo "$old_tabs" | grep -c .)" -eq 1 ]
ok $? "each table fills 16381 slots with both backends, the same table for the same backends"

# Fresh pins: the outer map comes from this build's template, the tables are mmapable.
agent_kill TERM
"$PL_BUILD/podlaned" --uninstall --pin-root "$PL_PIN" --state-dir "$PL_STATE" >/dev/null 2>&1
rm -rf "$PL_PIN"
agent_start --cgroup "$SVC_CG"
ok $? "podlaned starts again on fresh pins (the services come back from its state)"
poll 10 eval '[ "$(inner_ids | grep -c .)" -eq 2 ]'
ids=$(inner_ids)
flags=$(for i in $ids; do inner_flags "$i"; done | sort -u)
[ "$(echo "$ids" | grep -c .)" -eq 2 ] && [ "$flags" = 1024 ]
ok $? "on fresh pins both tables are mmapable (flags $(echo $flags), BPF_F_MMAPABLE = 1024)"
new_tabs=$(for i in $ids; do inner_values "$i" | md5sum; done | sort -u)
[ -n "$new_tabs" ] && [ "$new_tabs" = "$old_tabs" ]
ok $? "the tables written through mmap equal those written element by element"
done_testing
