#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# selftests/recommend/formula.t - userspace/lib/sizing.c (through sizing_feed) against
# sizing_ref.py, an independent Python computation of the VPA recommender's formula, on known
# series (series.py): constant, a uniform ramp, bimodal, a step down decaying over six days,
# 130 days at one sample an hour (the histograms renormalize past 100 half-lives, with a
# checkpoint round trip every ten days), samples weighted by the request, and a short history
# (no samples, one, five minutes at one a second, dropped out-of-order samples). Every
# recommendation (target, lower and upper bound of CPU and memory, confidence, samples) must be
# the same, at samples-per-day 1440 (VPA's one a minute) and 86400 (podlaned at one a second).
# No root.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${PL_BUILD:-$root/build}
feed=$build/selftests/recommend/sizing_feed
series=$here/series.py
ref=$here/sizing_ref.py
[ -x "$feed" ] || { echo "1..0 # SKIP $feed is not built (run make)"; exit 4; }
command -v python3 > /dev/null || { echo "1..0 # SKIP no python3"; exit 4; }
[ -f "$series" ] || series=$(dirname "$feed")/series.py
[ -f "$ref" ] || ref=$(dirname "$feed")/sizing_ref.py

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mapfile -t cases < <(python3 "$series" --list)
echo "1..${#cases[@]}"
python3 "$series" --write "$tmp" && timeout 120 python3 "$ref" "$tmp"/*.in
gen=$?
n=0 fail=0
for c in "${cases[@]}"; do
	n=$((n + 1))
	timeout 60 "$feed" < "$tmp/$c.in" > "$tmp/$c.c"
	rc=$?
	[ $gen -eq 0 ] || rc=$gen
	lines=$(wc -l < "$tmp/$c.c")
	if [ $rc -eq 0 ] && [ "$lines" -gt 0 ] && cmp -s "$tmp/$c.c" "$tmp/$c.ref"; then
		echo "ok $n - $c: $lines recommendations identical to the reference"
		echo "#   last: $(tail -1 "$tmp/$c.c")"
	else
		echo "not ok $n - $c: sizing_feed and sizing_ref.py differ (rc $rc)"
		diff "$tmp/$c.c" "$tmp/$c.ref" | head -10 | sed 's/^/# /'
		fail=1
	fi
done
exit $fail
