#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""selftests/recommend/series.py CASE - prints a known usage series as a sizing_feed script
(cpu/mem/est/save lines, times in ms from t0) for formula.t; `series.py --list` names the
cases; `series.py --write DIR` writes every case to DIR/CASE.in (one interpreter start for
all). Deterministic: the pseudo-random cases use a fixed seed."""
import random
import sys

MIN = 60 * 1000
DAY = 24 * 60 * MIN
T0 = 1_700_000_000_000     # a real-looking epoch time: the histograms renormalize on it
MB = 1e6


def est(out):
    out.append("est 1440")
    out.append("est 86400")


def constant(out):
    for i in range(2 * 24 * 60):
        out.append("cpu %d 0.5 0" % (T0 + i * MIN))
        out.append("mem %d %d" % (T0 + i * MIN, 300 * MB))
        if i in (0, 1, 5, 30, 60, 720):
            est(out)
    est(out)


def ramp(out):
    n = 24 * 60
    for i in range(n):
        out.append("cpu %d %.6f 0" % (T0 + i * MIN, 2.0 * i / (n - 1)))
        out.append("mem %d %d" % (T0 + i * MIN, 100 * MB + (1900 * MB) * i // (n - 1)))
    est(out)
    for i in range(n, 3 * n, 7):   # keep going: new memory intervals, peaks per day
        out.append("cpu %d %.6f 0" % (T0 + i * MIN, 2.0 * (i % n) / (n - 1)))
        out.append("mem %d %d" % (T0 + i * MIN, 50 * MB * (1 + i % 40)))
    est(out)


def bimodal(out):
    rnd = random.Random(12)
    for i in range(3 * 24 * 60):
        busy = rnd.random() < 0.12
        out.append("cpu %d %s 0" % (T0 + i * MIN, "3.0" if busy else "0.1"))
        out.append("mem %d %d" % (T0 + i * MIN, (1500 if busy else 400) * MB))
        if i % 1000 == 999:
            est(out)
    est(out)


def decay(out):
    # 3 days at 2 cores, then 3 days at 0.2: the old peak decays with a 24 h half-life.
    for i in range(0, 6 * 24 * 60, 5):
        cores = 2.0 if i < 3 * 24 * 60 else 0.2
        out.append("cpu %d %s 0" % (T0 + i * MIN, cores))
        out.append("mem %d %d" % (T0 + i * MIN, (2000 if cores > 1 else 300) * MB))
        if i % (12 * 60) == 0:
            est(out)
    est(out)


def long(out):
    # 130 days, one sample an hour: past 100 half-lives the histograms renormalize.
    rnd = random.Random(7)
    for i in range(130 * 24):
        out.append("cpu %d %.4f 0" % (T0 + i * 60 * MIN, rnd.uniform(0.05, 1.5)))
        out.append("mem %d %d" % (T0 + i * 60 * MIN, rnd.randint(100, 3000) * MB))
        if i % (10 * 24) == 0:
            est(out)
            out.append("save")
    est(out)


def requests(out):
    # Samples weighted by the request: a larger request makes the earlier history count less.
    for i in range(24 * 60):
        req = 0.05 if i < 12 * 60 else 2.0
        cores = 1.2 if i < 12 * 60 else 0.3
        out.append("cpu %d %s %s" % (T0 + i * MIN, cores, req))
    est(out)


def short(out):
    # No history, one sample, five minutes at one a second: the bounds' confidence scaling.
    est(out)
    out.append("cpu %d 0.8 0" % T0)
    out.append("mem %d %d" % (T0, 600 * MB))
    est(out)
    for i in range(1, 300):
        out.append("cpu %d 0.8 0" % (T0 + i * 1000))
        out.append("mem %d %d" % (T0 + i * 1000, (600 + i) * MB))
    est(out)
    # out of order and duplicate samples are dropped
    out.append("cpu %d 9.0 0" % (T0 + 1000))
    out.append("cpu %d 9.0 0" % (T0 + 299 * 1000))
    out.append("mem %d %d" % (T0 + 1000, 9000 * MB))
    est(out)
    out.append("save")
    est(out)


CASES = {f.__name__: f for f in (constant, ramp, bimodal, decay, long, requests, short)}

if __name__ == "__main__":
    if sys.argv[1:] == ["--list"]:
        print("\n".join(CASES))
        sys.exit(0)
    if sys.argv[1] == "--write":
        for name, make in CASES.items():
            lines = []
            make(lines)
            with open("%s/%s.in" % (sys.argv[2], name), "w") as f:
                f.write("\n".join(lines) + "\n")
        sys.exit(0)
    lines = []
    CASES[sys.argv[1]](lines)
    print("\n".join(lines))
