#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""selftests/recommend/sizing_ref.py - a second, independent computation of the Vertical Pod
Autoscaler recommender's formula, written from kubernetes/autoscaler's
vertical-pod-autoscaler/pkg/recommender/ (util/histogram_options.go, util/histogram.go,
util/decaying_histogram.go, model/aggregations_config.go, model/aggregate_container_state.go,
model/container.go, model/types.go, logic/estimator.go, logic/recommender.go), not from
userspace/lib/sizing.c. formula.t feeds the same series to both and compares.

Reads the commands of sizing_feed on stdin (cpu T CORES REQUEST | mem T BYTES | est PER_DAY |
save) and prints one line per est: cpu target lower upper (millicores), memory target lower
upper (bytes), confidence, samples. Given files X.in instead, writes each one's lines to X.ref
(one interpreter start for all).
"""
import math
import sys

HALF_LIFE = 24 * 3600 * 1000          # ms; CPU and memory alike
MEM_INTERVAL = 24 * 3600 * 1000
MIN_SAMPLE_WEIGHT = 0.1
EPSILON = 0.001 * MIN_SAMPLE_WEIGHT
MAX_AMOUNT = int(1e14)


class Options:
    def __init__(self, max_value, first, ratio):
        self.first, self.ratio = first, ratio
        self.n = int(math.ceil(math.log(max_value * (ratio - 1) / first + 1) / math.log(ratio))) + 1

    def find(self, v):
        if v < self.first:
            return 0
        b = int(math.log(v * (self.ratio - 1) / self.first + 1) / math.log(self.ratio))
        return min(b, self.n - 1)

    def start(self, b):
        return 0.0 if b == 0 else self.first * (self.ratio ** b - 1) / (self.ratio - 1)


class Hist:
    def __init__(self, opts):
        self.o = opts
        self.w = [0.0] * opts.n
        self.total = 0.0
        self.lo, self.hi = opts.n - 1, 0
        self.ref = 0

    def _fix(self):
        while self.w[self.lo] < EPSILON and self.lo < self.o.n - 1:
            self.lo += 1
        while self.w[self.hi] < EPSILON and self.hi > 0:
            self.hi -= 1

    def _decay(self, t):
        if t > self.ref + HALF_LIFE * 100:
            new = (t // HALF_LIFE) * HALF_LIFE
            if (t - new) * 2 >= HALF_LIFE:
                new += HALF_LIFE
            exp = math.floor((self.ref - new) / HALF_LIFE + 0.5)
            f = math.ldexp(1.0, exp)
            for b in range(self.lo, self.hi + 1):
                self.w[b] *= f
            self.total *= f
            self._fix()
            self.ref = new
        return math.exp2((t - self.ref) / HALF_LIFE)

    def add(self, v, w, t):
        w *= self._decay(t)
        b = self.o.find(v)
        self.w[b] += w
        self.total += w
        if b < self.lo and self.w[b] >= EPSILON:
            self.lo = b
        if b > self.hi and self.w[b] >= EPSILON:
            self.hi = b

    def sub(self, v, w, t):
        w *= self._decay(t)
        b = self.o.find(v)
        if w > self.w[b] - EPSILON:
            w = self.w[b]
        self.total -= w
        self.w[b] -= w
        self._fix()

    def percentile(self, p):
        if self.w[self.lo] < EPSILON:
            return 0.0
        acc, thr, b = 0.0, p * self.total, self.lo
        while b < self.hi:
            acc += self.w[b]
            if acc >= thr:
                break
            b += 1
        return self.o.start(b + 1) if b < self.o.n - 1 else self.o.start(b)


class Pod:
    def __init__(self):
        self.cpu = Hist(Options(1000.0, 0.01, 1.05))
        self.mem = Hist(Options(1e12, 1e7, 1.05))
        self.first = self.last = None
        self.count = 0
        self.window_end = None
        self.last_mem = None
        self.peak = 0.0

    def add_cpu(self, t, cores, request):
        if cores < 0 or (self.last is not None and t <= self.last):
            return
        cores = amount(cores * 1000.0) / 1000.0     # a ResourceAmount: whole millicores
        self.cpu.add(cores, max(request, MIN_SAMPLE_WEIGHT), t)
        self.first = t if self.first is None else min(self.first, t)
        self.last = t if self.last is None else max(self.last, t)
        self.count += 1

    def add_mem(self, t, usage):
        if usage < 0 or (self.last_mem is not None and t < self.last_mem):
            return
        usage = float(amount(usage))                # whole bytes
        self.last_mem = t
        if self.window_end is None:
            self.window_end = t
        new_peak = False
        if t < self.window_end:
            if self.peak != 0 and usage > self.peak:
                self.mem.sub(self.peak, 1.0, self.window_end)
                new_peak = True
        else:
            d = t - self.window_end
            self.window_end += d - d % MEM_INTERVAL + MEM_INTERVAL
            self.peak = 0.0
            new_peak = True
        if new_peak:
            self.mem.add(usage, 1.0, self.window_end)
            self.peak = usage


def amount(x):
    if math.isnan(x) or x < 0:
        return 0
    return MAX_AMOUNT if x > MAX_AMOUNT else int(x)


def estimate(pod, per_day):
    if pod.count:
        conf = min((pod.last - pod.first) / (24 * 3600 * 1000.0), pod.count / per_day)
    else:
        conf = 0.0
    up = math.inf if conf == 0 else (1 + 1.0 / conf) ** 1.0
    low = 0.0 if conf == 0 else (1 + 0.001 / conf) ** -2.0

    def scale(a, f):
        return amount(a * f)

    def margin(a):
        return a + scale(a, 0.15)

    out = []
    for h, unit, floor in ((pod.cpu, 1000.0, 25), (pod.mem, 1.0, 250 * 1024 * 1024)):
        p50, p90, p95 = (amount(h.percentile(p) * unit) for p in (0.5, 0.9, 0.95))
        out += [max(margin(p90), floor), max(scale(margin(p50), low), floor),
                max(scale(margin(p95), up), floor)]
    return out, conf


def run(src, out):
    pod = Pod()
    for line in src:
        f = line.split()
        if not f:
            continue
        if f[0] == "cpu":
            pod.add_cpu(int(f[1]), float(f[2]), float(f[3]))
        elif f[0] == "mem":
            pod.add_mem(int(f[1]), float(f[2]))
        elif f[0] == "est":
            vals, conf = estimate(pod, float(f[1]))
            out.write(" ".join(str(v) for v in vals) + " %.6f %d\n" % (conf, pod.count))
        elif f[0] == "save":
            pass


def main():
    if len(sys.argv) == 1:
        run(sys.stdin, sys.stdout)
        return 0
    for path in sys.argv[1:]:
        with open(path) as src, open(path[:-3] + ".ref", "w") as out:
            run(src, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
