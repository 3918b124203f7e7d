#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/layout/layers.t - podlaned stays layered: scripts/check-layers.py passes on the
# tree, and fails on a copy of it with each kind of violation planted (an upward include, a
# sibling include, a function declared in a .c file, a second writer of a pinned map, a
# skeleton map fd), so the check is known to catch what it claims to.
set -u
. "$(dirname "$0")/../lib.sh"
require_cmd python3

check=$PL_ROOT/scripts/check-layers.py
tmp=$(mktemp -d /tmp/podlane-layers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

out=$(python3 "$check" --root "$PL_ROOT" 2>&1)
rc=$?
ok $rc "the tree passes scripts/check-layers.py"
[ $rc -eq 0 ] || sed 's/^/# /' <<<"$out"

# plant <description> <file under userspace/podlaned> <line to append> <expected message>
plant() {
	local desc=$1 file=$2 line=$3 want=$4 got
	rm -rf "$tmp/tree" && mkdir -p "$tmp/tree/bpf" "$tmp/tree/scripts"
	cp -r "$PL_ROOT/userspace" "$tmp/tree/"
	cp "$PL_ROOT/bpf/podlane.h" "$tmp/tree/bpf/"
	printf '%s\n' "$line" >> "$tmp/tree/userspace/podlaned/$file"
	got=$(python3 "$check" --root "$tmp/tree" 2>&1)
	if [ $? -ne 0 ] && grep -qF -- "$want" <<<"$got"; then
		ok 0 "caught: $desc"
	else
		ok 1 "caught: $desc"
		diag "expected a failure naming: $want"
		sed 's/^/# /' <<<"$got"
	fi
}

plant "core/ including a layer above it" core/addr.c '#include "lb/lb.h"' \
	"reaches a layer above ('core' -> 'lb')"
plant "a module including its sibling" endpoint/endpoint.c '#include "nodes/nodes.h"' \
	"reaches a sibling module ('endpoint' -> 'nodes')"
plant "a bare include of an agent header" api/status.c '#include "agent.h"' \
	'#include "agent.h" must name its layer folder'
plant "a .c file declaring another file's function" datapath/tc.c \
	'int service_store_count(struct agent *a);' "declares service_store_count() itself"
plant "a second writer of podlane_eps" lb/datapath.c \
	'static void f(struct agent *a, int *fd) { loader_map_open(a, "podlane_eps", PIN_RW, fd); }' \
	"podlane_eps: one writer module expected (datapath/)"
plant "a writer of a BPF-only map" acct/bpf.c \
	'static void f(struct agent *a, int *fd) { loader_map_open(a, "podlane_lbstat", PIN_RW, fd); }' \
	"podlane_lbstat: written by"
plant "a skeleton's map fd" lb/datapath.c \
	'static int f(struct sock_lb *s) { return bpf_map__fd(s->maps.podlane_svc); }' \
	"a skeleton's map fd"
done_testing
