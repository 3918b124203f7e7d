// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_detector.c - the streaming anomaly detector (userspace/lib/anomaly_detect.c) on
 * synthetic series, printed as TAP: steady noisy series (normal, heavy-tailed, periodic,
 * flat at zero) raise nothing over many samples; a step, a ramp (through its rate, as
 * podlaned watches memory growth) and a burst each fire within k + 2 samples; the scale's
 * floor; one alert and one resolution per episode; warm-up; bad configurations and non-finite samples. The
 * pseudo-random noise is seeded, so a run is repeatable. Pure userspace, no root.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "anomaly_detect.h"

static int test_num, failures;

static void report(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", pass ? "ok" : "not ok", ++test_num);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failures += !pass;
}

/* xorshift64*, then Box-Muller: repeatable noise. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static double uniform(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return ((rng * 0x2545f4914f6cdd1dULL) >> 11) * (1.0 / 9007199254740992.0);
}

static double gauss(void)
{
	double u = uniform(), v = uniform();

	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* Student-t with 3 degrees of freedom, heavier tails than normal noise. */
static double t3(void)
{
	double g = gauss(), c = 0;
	int i;

	for (i = 0; i < 3; i++) {
		double x = gauss();

		c += x * x;
	}
	return g / sqrt(c / 3);
}

struct run {
	unsigned int fired, resolved;
	long first_fire;	/* sample index (0-based) of the first firing, -1 none */
};

typedef double (*series_fn)(long i, void *arg);

static struct run drive(const struct anomaly_config *c, struct anomaly *a, long from, long n,
			series_fn f, void *arg)
{
	struct run r = { .first_fire = -1 };
	long i;

	for (i = from; i < from + n; i++) {
		enum anomaly_event ev = anomaly_update(a, c, f(i, arg));

		if (ev == ANOMALY_EV_FIRING) {
			r.fired++;
			if (r.first_fire < 0)
				r.first_fire = i;
		} else if (ev == ANOMALY_EV_RESOLVED) {
			r.resolved++;
		}
	}
	return r;
}

/* A CPU-like series: 0.3 cores, normal noise of 0.03. */
static double noisy(long i, void *arg)
{
	(void)i;
	(void)arg;
	return 0.3 + 0.03 * gauss();
}

static double heavy(long i, void *arg)
{
	(void)i;
	(void)arg;
	return 0.3 + 0.02 * t3();
}

/* A daily-ish cycle squeezed into 600 samples plus noise: slow change is not an anomaly. */
static double periodic(long i, void *arg)
{
	(void)arg;
	return 0.5 + 0.2 * sin(2 * M_PI * i / 600.0) + 0.03 * gauss();
}

static double zero(long i, void *arg)
{
	(void)i;
	(void)arg;
	return 0;
}

struct fault {
	long at;
	double size;
	int kind;	/* 0 step, 1 burst (one sample only... k samples), 2 ramp rate */
	long len;
};

static double faulty(long i, void *arg)
{
	const struct fault *f = arg;
	double base = 0.3 + 0.03 * gauss();

	if (i < f->at || (f->len && i >= f->at + f->len))
		return base;
	return base + f->size;
}

/* A memory-like series leaking from f->at: its per-sample rate of change is what is fed. */
struct leak {
	long at;
	double rate;		/* bytes per sample */
	double prev;
};

static double leak_rate(long i, void *arg)
{
	struct leak *l = arg;
	double mem = 200e6 + 2e5 * gauss() + (i >= l->at ? l->rate * (i - l->at) : 0);
	double d = l->prev ? mem - l->prev : 0;

	l->prev = mem;
	return d;
}

int main(void)
{
	struct anomaly_config c, bad;
	struct anomaly a;
	struct run r;
	unsigned int k;
	long i;

	printf("TAP version 13\n");

	/* ---- configuration ---- */
	anomaly_config_default(&c, 0.05);
	report(!anomaly_config_check(&c) && c.k == 3 && c.zmax == 5 && c.warmup == 30,
	       "defaults: k 3, z 5, warm-up 30, valid");
	bad = c;
	bad.floor = 0;
	report(anomaly_config_check(&bad) == -EINVAL, "a floor of 0 is refused");
	bad = c;
	bad.k = 0;
	report(anomaly_config_check(&bad) == -EINVAL, "k 0 is refused");
	bad = c;
	bad.zmax = NAN;
	report(anomaly_config_check(&bad) == -EINVAL, "a NaN threshold is refused");
	bad = c;
	bad.warmup = 1;
	report(anomaly_config_check(&bad) == -EINVAL, "a warm-up of 1 sample is refused");

	/* ---- steady series raise nothing (a floor far below the noise: the MAD rules) ---- */
	c.floor = 0.001;
	anomaly_init(&a);
	r = drive(&c, &a, 0, 100000, noisy, NULL);
	report(r.fired == 0, "normal noise, 100000 samples: %u alerts (want 0), scale %.4f",
	       r.fired, anomaly_scale(&a, &c));
	report(fabs(anomaly_scale(&a, &c) - 0.03) < 0.01,
	       "the streaming MAD finds the noise: scale %.4f for sigma 0.03",
	       anomaly_scale(&a, &c));
	anomaly_init(&a);
	r = drive(&c, &a, 0, 100000, heavy, NULL);
	report(r.fired == 0, "heavy-tailed (t3) noise, 100000 samples: %u alerts (want 0)",
	       r.fired);
	anomaly_init(&a);
	r = drive(&c, &a, 0, 100000, periodic, NULL);
	report(r.fired == 0, "slow cycle plus noise, 100000 samples: %u alerts (want 0)",
	       r.fired);
	c.floor = 0.05;
	anomaly_init(&a);
	r = drive(&c, &a, 0, 10000, zero, NULL);
	report(r.fired == 0 && a.mad == 0 && anomaly_scale(&a, &c) == c.floor && isfinite(a.z),
	       "flat at 0: no alert, MAD 0, scale = floor, z finite (%g)", a.z);

	/* ---- faults fire within k + 2 samples ---- */
	for (k = 1; k <= 5; k += 2) {
		struct fault step = { .at = 200, .size = 0.5, .kind = 0 };

		c.k = k;
		anomaly_init(&a);
		r = drive(&c, &a, 0, 400, faulty, &step);
		report(r.fired == 1 && r.first_fire >= step.at &&
		       r.first_fire - step.at + 1 <= k + 2,
		       "k %u: a step of +0.5 fires once, %ld samples after it began", k,
		       r.first_fire - step.at + 1);
	}
	c.k = 3;
	{
		struct fault burst = { .at = 300, .size = 1.0, .kind = 1, .len = 5 };

		anomaly_init(&a);
		r = drive(&c, &a, 0, 400, faulty, &burst);
		report(r.fired == 1 && r.resolved == 1 && r.first_fire - burst.at + 1 <= c.k + 2,
		       "a 5-sample burst fires once (after %ld samples) and resolves once",
		       r.first_fire - burst.at + 1);
		report(a.state == ANOMALY_NORMAL && a.onset_z > c.zmax && a.peak_z >= a.onset_z,
		       "after the burst: normal again; onset z %.1f, peak z %.1f", a.onset_z,
		       a.peak_z);
	}
	{
		struct fault blip = { .at = 300, .size = 1.0, .kind = 1, .len = 2 };

		anomaly_init(&a);
		r = drive(&c, &a, 0, 400, faulty, &blip);
		report(r.fired == 0, "a 2-sample blip (k 3) says nothing: %u alerts", r.fired);
	}
	{
		struct leak l = { .at = 300, .rate = 5e6 };
		struct anomaly_config mc;

		anomaly_config_default(&mc, 256 * 1024);
		anomaly_init(&a);
		r = drive(&mc, &a, 0, 400, leak_rate, &l);
		report(r.fired == 1 && r.first_fire >= l.at && r.first_fire - l.at + 1 <= mc.k + 2,
		       "a ramp (5 MB a sample on 200 MB, noise 0.2 MB) fires through its rate, "
		       "%ld samples after it began", r.first_fire - l.at + 1);
	}
	{
		/* Drops: flat at 0, then 50 a second. The floor (1) gives z = 50. */
		struct anomaly_config dc;

		anomaly_config_default(&dc, 1);
		anomaly_init(&a);
		for (i = 0; i < 100; i++)
			anomaly_update(&a, &dc, 0);
		r = (struct run){ .first_fire = -1 };
		for (i = 0; i < 10; i++)
			if (anomaly_update(&a, &dc, 50) == ANOMALY_EV_FIRING && r.first_fire < 0)
				r.first_fire = i;
		report(r.first_fire == 2 && a.state == ANOMALY_FIRING && a.onset_z == 50,
		       "floor: a series flat at 0 fires on a burst of 50 at the 3rd sample, "
		       "onset z %.0f (= 50 / floor 1)", a.onset_z);
		for (i = 0; i < 2; i++)
			anomaly_update(&a, &dc, 0);
		report(a.state == ANOMALY_FIRING, "2 quiet samples: still firing (k 3 to resolve)");
		report(anomaly_update(&a, &dc, 0) == ANOMALY_EV_RESOLVED && a.state == ANOMALY_NORMAL,
		       "the 3rd quiet sample resolves it");
		report(anomaly_update(&a, &dc, 0) == ANOMALY_EV_NONE,
		       "nothing more after the resolution");
		/* Small rises under the floor's reach say nothing. */
		r = (struct run){ .first_fire = -1 };
		for (i = 0; i < 50; i++)
			if (anomaly_update(&a, &dc, 4) == ANOMALY_EV_FIRING)
				r.fired++;
		report(r.fired == 0, "4 drops a second (under 5 x floor) raise nothing");
	}
	{
		/* A lasting level change: one alert, learnt, then resolved; no second alert. */
		struct fault shift = { .at = 200, .size = 0.3, .kind = 0 };

		anomaly_init(&a);
		r = drive(&c, &a, 0, 2000, faulty, &shift);
		report(r.fired == 1 && r.resolved == 1 && a.state != ANOMALY_FIRING,
		       "a lasting shift: %u alert, %u resolution as the level is learnt", r.fired,
		       r.resolved);
	}

	/* ---- warm-up and bad samples ---- */
	{
		anomaly_init(&a);
		r = (struct run){ .first_fire = -1 };
		for (i = 0; i < 30; i++)
			if (anomaly_update(&a, &c, i % 2 ? 100 : 0) != ANOMALY_EV_NONE)
				r.fired++;
		report(r.fired == 0 && a.state == ANOMALY_WARMUP,
		       "no alert during the warm-up, however wild");
		anomaly_init(&a);
		for (i = 0; i < 50; i++)
			anomaly_update(&a, &c, 1);
		report(anomaly_update(&a, &c, NAN) == ANOMALY_EV_NONE &&
		       anomaly_update(&a, &c, INFINITY) == ANOMALY_EV_NONE && a.n == 50 &&
		       isfinite(a.level) && a.level == 1,
		       "NaN and inf samples are ignored (n %llu, level %g)",
		       (unsigned long long)a.n, a.level);
		c.warmup = 60;
		anomaly_init(&a);
		for (i = 0; i < 60; i++)
			anomaly_update(&a, &c, i < 25 ? 5.0 : 0.3);
		report(a.level == 0.3 && a.mad == 0,
		       "a 60-sample warm-up starts from its last 32: a 25-sample start-up "
		       "transient is left out (level %g)", a.level);
		c.warmup = 5;
		anomaly_init(&a);
		for (i = 0; i < 5; i++)
			anomaly_update(&a, &c, 1);
		report(a.ninit == 5 && a.level == 1 && a.state == ANOMALY_WARMUP,
		       "a warm-up shorter than the start buffer starts from what it has");
		for (i = 0; i < 3; i++)
			anomaly_update(&a, &c, 10);
		report(a.state == ANOMALY_FIRING, "and alerts right after it");
	}

	printf("1..%d\n", test_num);
	return failures ? 1 : 0;
}
