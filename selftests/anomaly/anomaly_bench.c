// SPDX-License-Identifier: GPL-2.0-only
/*
 * anomaly_bench.c - scripts/bench/bench-anomaly.sh's engine, not a test: podlaned's anomaly
 * detector (userspace/lib/anomaly_detect.c, the defaults podlaned runs with: k 3, z 5, and
 * the floors of anomaly/anomaly.c) against what an operator would write instead, a static
 * Prometheus rule `avg_over_time(x[1m]) > X for: 30s` (evaluated every second here, which is
 * as fast as such a rule can be; with the usual 15 s scrape and evaluation it is slower),
 * on synthetic per-second series with realistic noise:
 *
 *   cpu     a pod at 0.30 cores: AR(1) noise (sigma 0.04, phi 0.8), a slow cycle (+-0.10,
 *           period 1 h), and a 2-5 s GC/batch spike of +0.3..0.8 cores every ~10 min
 *   memory  growth rate of a pod with a garbage-collected heap: +0.3 MiB/s on average with
 *           noise, and a collection (a drop of what grew) every 60-180 s; the rule is
 *           `deriv(memory[5m]) > X for 30s` (slope over 5 min)
 *   drops   packets dropped per second: Poisson background (0.02/s) and, every ~20 min, a
 *           2-4 s blip of 5-30 drops a second (a client retrying a closed port)
 *
 * Faults, injected at a random time after an hour of steady series (so both have warmed up):
 *   cpu     a hog: +0.6 cores
 *   memory  a leak: +2 MiB/s on top of the usual growth, no longer collected
 *   drops   a burst: +50 drops a second
 *
 * Reports, as markdown: false alerts per hour over H steady hours per kind (every firing is
 * a false one there), the time to detect each fault (median and p90 over R repeats, in
 * seconds from the fault's first sample), and the detector's cost per sample (median of 5).
 * The static thresholds X are set just above the steady series' own peaks, as an operator
 * tuning away false alerts would: cpu 0.75 cores, memory 1 MiB/s, drops 10/s.
 *
 * The time to detect is from the fault's first sample to an alert firing (one that already
 * fired for a spike just before counts from then on).
 *
 * Usage: anomaly_bench [-H steady-hours] [-R repeats] [-s seed] [-k K]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "anomaly_detect.h"

enum { K_CPU, K_MEM, K_DROPS, K_NR };

static const char *const kind_name[K_NR] = { "cpu (hog)", "memory (leak)", "drops (burst)" };
/* podlaned's floors (anomaly/anomaly.c): cpu, memory_growth, drops. */
static const double kind_floor[K_NR] = { 0.02, 256.0 * 1024, 1.0 };
static const double static_x[K_NR] = { 0.75, 1024.0 * 1024, 10.0 };
static const int static_window[K_NR] = { 60, 300, 60 };	/* avg_over_time / deriv range */
#define STATIC_FOR	30

/* ---- random ---- */

static uint64_t rng_state;

static double uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return ((rng_state * 0x2545f4914f6cdd1dULL) >> 11) * (1.0 / 9007199254740992.0);
}

static double gauss(void)
{
	double u = uniform(), v = uniform();

	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static int poisson(double lambda)
{
	double l = exp(-lambda), p = 1;
	int k = 0;

	do {
		k++;
		p *= uniform();
	} while (p > l);
	return k - 1;
}

/* ---- steady series, one sample a second ---- */

struct gen {
	int kind;
	long t;
	double ar;		/* cpu: AR(1) state */
	long spike_left;	/* cpu spike / drops blip: seconds left */
	double spike;
	double heap;		/* memory: bytes grown since the last collection */
	long next_gc;
};

static void gen_init(struct gen *g, int kind)
{
	memset(g, 0, sizeof(*g));
	g->kind = kind;
	g->next_gc = 60 + uniform() * 120;
}

/* The next sample; fault adds the fault's own part from now on. */
static double gen_next(struct gen *g, bool fault)
{
	double x = 0;

	g->t++;
	switch (g->kind) {
	case K_CPU:
		g->ar = 0.8 * g->ar + 0.04 * sqrt(1 - 0.64) * gauss();
		x = 0.30 + 0.10 * sin(2 * M_PI * g->t / 3600.0) + g->ar;
		if (!g->spike_left && uniform() < 1.0 / 600) {
			g->spike_left = 2 + uniform() * 4;
			g->spike = 0.3 + uniform() * 0.5;
		}
		if (g->spike_left) {
			g->spike_left--;
			x += g->spike;
		}
		if (fault)
			x += 0.6;
		if (x < 0)
			x = 0;
		break;
	case K_MEM: {
		double grow = 0.3 * 1048576 * (1 + 0.5 * gauss());

		if (grow < 0)
			grow = 0;
		if (fault)
			grow += 2 * 1048576;
		x = grow;
		g->heap += grow - (fault ? 2 * 1048576 : 0);
		if (g->t >= g->next_gc) {
			x -= g->heap;	/* the collection gives back what grew */
			g->heap = 0;
			g->next_gc = g->t + 60 + uniform() * 120;
		}
		break;
	}
	case K_DROPS:
		x = poisson(0.02);
		if (!g->spike_left && uniform() < 1.0 / 1200) {
			g->spike_left = 2 + uniform() * 3;
			g->spike = 5 + uniform() * 25;
		}
		if (g->spike_left) {
			g->spike_left--;
			x += poisson(g->spike);
		}
		if (fault)
			x += poisson(50);
		break;
	}
	return x;
}

/* ---- the static rule: window average (cpu, drops) or slope (memory) > X for 30 s ---- */

struct rule {
	int kind;
	double *win;		/* the last window samples (memory: the level, for deriv) */
	int n, at;
	double level;
	int above;		/* seconds the condition has held */
	bool firing;
};

static void rule_init(struct rule *r, int kind)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->win = calloc(static_window[kind], sizeof(double));
}

/* One sample; true when the rule starts firing. */
static bool rule_update(struct rule *r, double x)
{
	int w = static_window[r->kind], i;
	double v = 0;
	bool cond;

	if (r->kind == K_MEM) {
		/* deriv(): least-squares slope of the level over the window. */
		double sx = 0, sy = 0, sxx = 0, sxy = 0;

		r->level += x;
		r->win[r->at] = r->level;
		r->at = (r->at + 1) % w;
		if (r->n < w)
			r->n++;
		for (i = 0; i < r->n; i++) {
			double xi = i, yi = r->win[(r->at - r->n + i + 2 * w) % w];

			sx += xi;
			sy += yi;
			sxx += xi * xi;
			sxy += xi * yi;
		}
		if (r->n > 1)
			v = (r->n * sxy - sx * sy) / (r->n * sxx - sx * sx);
	} else {
		r->win[r->at] = x;
		r->at = (r->at + 1) % w;
		if (r->n < w)
			r->n++;
		for (i = 0; i < r->n; i++)
			v += r->win[i];
		v /= r->n;
	}
	cond = r->n == w && v > static_x[r->kind];
	r->above = cond ? r->above + 1 : 0;
	if (r->firing && !cond) {
		r->firing = false;
		return false;
	}
	if (!r->firing && r->above > STATIC_FOR) {
		r->firing = true;
		return true;
	}
	return false;
}

static void rule_free(struct rule *r)
{
	free(r->win);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double quantile(double *v, int n, double q)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(int)(q * (n - 1) + 0.5)];
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double hours = 24, det_ttd[K_NR][1000], rule_ttd[K_NR][1000];
	int repeats = 50, opt, kind, r, missed_det[K_NR] = {}, missed_rule[K_NR] = {};
	double fa_det[K_NR], fa_rule[K_NR], cost[5];
	uint64_t seed = 1;
	unsigned int k = ANOMALY_DEFAULT_K;

	while ((opt = getopt(argc, argv, "H:R:s:k:")) != -1) {
		switch (opt) {
		case 'H': hours = atof(optarg); break;
		case 'R': repeats = atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'k': k = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-H steady-hours] [-R repeats] [-s seed] [-k K]\n",
				argv[0]);
			return 2;
		}
	}
	if (hours <= 0 || repeats < 1 || repeats > 1000 || k < 1 || k > ANOMALY_K_MAX)
		return 2;
	rng_state = 0x9e3779b97f4a7c15ULL ^ (seed * 0xbf58476d1ce4e5b9ULL);

	/* False alerts per hour: steady series only. */
	for (kind = 0; kind < K_NR; kind++) {
		struct anomaly_config c;
		struct anomaly a;
		struct rule rl;
		struct gen g;
		long t, n = hours * 3600, fd = 0, fr = 0;

		anomaly_config_default(&c, kind_floor[kind]);
		c.k = k;
		anomaly_init(&a);
		rule_init(&rl, kind);
		gen_init(&g, kind);
		for (t = 0; t < n; t++) {
			double x = gen_next(&g, false);

			fd += anomaly_update(&a, &c, x) == ANOMALY_EV_FIRING;
			fr += rule_update(&rl, x);
		}
		fa_det[kind] = fd / hours;
		fa_rule[kind] = fr / hours;
		rule_free(&rl);
	}

	/* Time to detect: an hour of steady series, then the fault, at most 10 min of it. */
	for (kind = 0; kind < K_NR; kind++) {
		for (r = 0; r < repeats; r++) {
			struct anomaly_config c;
			struct anomaly a;
			struct rule rl;
			struct gen g;
			long t, start = 3600 + uniform() * 600, td = -1, tr = -1;

			anomaly_config_default(&c, kind_floor[kind]);
			c.k = k;
		c.k = k;
			anomaly_init(&a);
			rule_init(&rl, kind);
			gen_init(&g, kind);
			for (t = 0; t < start + 600 && (td < 0 || tr < 0); t++) {
				double x = gen_next(&g, t >= start);
				/* An alert on: firing now (maybe since before the fault). */
				anomaly_update(&a, &c, x);
				rule_update(&rl, x);
				if (t >= start && a.state == ANOMALY_FIRING && td < 0)
					td = t - start + 1;
				if (t >= start && rl.firing && tr < 0)
					tr = t - start + 1;
			}
			rule_free(&rl);
			missed_det[kind] += td < 0;
			missed_rule[kind] += tr < 0;
			det_ttd[kind][r] = td < 0 ? 600 : td;
			rule_ttd[kind][r] = tr < 0 ? 600 : tr;
		}
	}

	/* Cost per sample. */
	for (r = 0; r < 5; r++) {
		struct anomaly_config c;
		struct anomaly a;
		struct gen g;
		static double xs[1000000];
		double t0, sink = 0;
		long i;

		anomaly_config_default(&c, kind_floor[K_CPU]);
		anomaly_init(&a);
		gen_init(&g, K_CPU);
		for (i = 0; i < 1000000; i++)
			xs[i] = gen_next(&g, false);
		t0 = now_s();
		for (i = 0; i < 1000000; i++)
			sink += anomaly_update(&a, &c, xs[i]);
		cost[r] = (now_s() - t0) * 1e9 / 1000000;
		if (sink < 0)
			printf("%g", sink);
	}

	printf("| fault | detector k=%u: time to detect, median (p90) | static rule `> X for 30s`: "
	       "median (p90) | ratio (medians) | detector k=%u: false alerts/h | static rule: "
	       "false alerts/h |\n|---|---|---|---|---|---|\n", k, k);
	for (kind = 0; kind < K_NR; kind++) {
		double dm = quantile(det_ttd[kind], repeats, 0.5);
		double dp = quantile(det_ttd[kind], repeats, 0.9);
		double rm = quantile(rule_ttd[kind], repeats, 0.5);
		double rp = quantile(rule_ttd[kind], repeats, 0.9);

		printf("| %s | %.0f s (%.0f s)%s | %.0f s (%.0f s)%s | %.1fx faster | %.2f | %.2f |\n",
		       kind_name[kind], dm, dp,
		       missed_det[kind] ? " (some missed: 600 s)" : "", rm, rp,
		       missed_rule[kind] ? " (some missed: 600 s)" : "", rm / dm, fa_det[kind],
		       fa_rule[kind]);
	}
	printf("\nSteady run: %.0f simulated hours per kind; %d faults per kind; static "
	       "thresholds cpu > %.2f cores (avg 1m), memory deriv(5m) > %.0f MiB/s, drops "
	       "rate(1m) > %.0f/s, each for 30 s, evaluated every second.\n", hours, repeats,
	       static_x[K_CPU], static_x[K_MEM] / 1048576, static_x[K_DROPS]);
	printf("Detector cost: %.1f ns per sample (median of 5 runs of 1,000,000 samples); "
	       "state %zu bytes per series.\n", quantile(cost, 5, 0.5), sizeof(struct anomaly));
	return 0;
}
