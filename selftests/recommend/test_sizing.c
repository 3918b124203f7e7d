// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_sizing.c - userspace/lib/sizing.c's own rules as TAP, against numbers worked out by
 * hand from VPA's sources (see sizing.h): the bucket schemes, the half-life, a percentile's
 * bucket end, the margin and the minimums, the confidence scaling; checkpoints round-trip
 * exactly and bad ones are refused with the field named, the state left as it was. The
 * whole-formula comparison on long series is formula.t's (sizing_ref.py). No root.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "sizing.h"

static int n_test, n_fail;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++n_test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		n_fail++;
}

#define T0	1700000000000LL
#define MIN_MS	60000LL
#define DAY_MS	(24 * 60 * MIN_MS)

static struct sizing_state *new_state(void)
{
	struct sizing_state *s = malloc(sizeof(*s));

	if (!s)
		exit(1);
	sizing_state_init(s);
	return s;
}

static void test_schemes(void)
{
	struct sizing_hist h;

	sizing_hist_init(&h, SIZING_CPU);
	ok(h.nbuckets == 176 && h.first == 0.01 && h.ratio == 1.05,
	   "CPU: 176 buckets of ratio 1.05 from 0.01 core (got %d)", h.nbuckets);
	ok(sizing_bucket_start(&h, 175) >= 1000 && sizing_bucket_start(&h, 174) < 1000,
	   "CPU: the last bucket starts at %.1f >= 1000 cores, the one before below",
	   sizing_bucket_start(&h, 175));
	ok(sizing_bucket_find(&h, 0.005) == 0 && sizing_bucket_find(&h, 0.01) == 1 &&
	   sizing_bucket_find(&h, 0.5) == 25 && sizing_bucket_find(&h, 1e6) == 175,
	   "CPU: 0.005 -> 0, 0.01 -> 1, 0.5 -> 25, 1e6 -> 175 (clamped)");
	ok(fabs(sizing_bucket_start(&h, 26) - 0.01 * (pow(1.05, 26) - 1) / 0.05) < 1e-15,
	   "CPU: bucket 26 starts at 0.01 * (1.05^26 - 1) / 0.05 = %.6f",
	   sizing_bucket_start(&h, 26));
	sizing_hist_init(&h, SIZING_MEMORY);
	ok(h.nbuckets == 176 && h.first == 1e7 && sizing_bucket_start(&h, 175) >= 1e12,
	   "memory: 176 buckets from 10 MB, the last starting at >= 1 TB");
}

/* The end of the bucket value falls in: what a percentile answers. */
static double bucket_end(const struct sizing_hist *h, double value)
{
	return sizing_bucket_start(h, sizing_bucket_find(h, value) + 1);
}

static void test_decay(void)
{
	struct sizing_hist h;

	sizing_hist_init(&h, SIZING_CPU);
	/* Two samples a day apart: the newer weighs twice the older. */
	sizing_hist_add(&h, 0.1, 1.0, T0);
	sizing_hist_add(&h, 1.0, 1.0, T0 + DAY_MS);
	ok(fabs(h.w[sizing_bucket_find(&h, 1.0)] / h.w[sizing_bucket_find(&h, 0.1)] - 2) < 1e-12,
	   "a sample 24 h newer weighs twice as much (half-life 24 h)");
	/* Weights 1 : 2, so p33 is the low sample's bucket and p34 the high one's. */
	ok(sizing_hist_percentile(&h, 0.33) == bucket_end(&h, 0.1) &&
	   sizing_hist_percentile(&h, 0.34) == bucket_end(&h, 1.0),
	   "percentiles answer the end of the bucket where the running weight reaches p");
	/* 150 days later the reference moves (past 100 half-lives): weights stay finite. */
	sizing_hist_add(&h, 1.0, 1.0, T0 + 150 * DAY_MS);
	ok(isfinite(h.total) && h.ref_ms % SIZING_HALF_LIFE_MS == 0 && h.ref_ms > T0 + 100 * DAY_MS,
	   "past 100 half-lives the reference time moves forward, to a multiple of 24 h");
	ok(sizing_hist_percentile(&h, 0.5) == bucket_end(&h, 1.0),
	   "and the 150-day-old samples no longer count");
}

static void test_estimate(void)
{
	struct sizing_state *s = new_state();
	struct sizing_estimate e;
	int64_t i;

	sizing_estimate(s, SIZING_SAMPLES_PER_DAY_VPA, &e);
	ok(e.cpu_target_mcpu == 25 && e.cpu_upper_mcpu == 25 && e.mem_target_bytes == 262144000,
	   "no samples: the pod minimums, 25 millicores and 250 MiB");
	/* A day of 0.5 cores and 300 MB, one sample a minute. */
	for (i = 0; i <= 24 * 60; i++) {
		sizing_add_cpu(s, T0 + i * MIN_MS, 0.5, 0);
		sizing_add_memory(s, T0 + i * MIN_MS, 300e6);
	}
	sizing_estimate(s, SIZING_SAMPLES_PER_DAY_VPA, &e);
	/* 0.5 falls in bucket 25, which ends at 0.51134 cores: 511 m, + 15 % (76 m) = 587 m. */
	ok(e.cpu_target_mcpu == 587 && e.cpu_lower_mcpu == 585,
	   "0.5 cores: target 511 m + 15 %% = 587 m, lower bound 587 * (1 + 0.001)^-2 = 585 m "
	   "(got %lld, %lld)", (long long)e.cpu_target_mcpu, (long long)e.cpu_lower_mcpu);
	ok(fabs(e.confidence - 1.0) < 1e-9 && e.cpu_upper_mcpu == 1174,
	   "a day of history: confidence 1, upper bound 587 * 2 = 1174 m (got %.3f, %lld)",
	   e.confidence, (long long)e.cpu_upper_mcpu);
	ok(e.mem_target_bytes == 351198544,
	   "300 MB: bucket 18's end 305.39 MB + 15 %% = 351198544 bytes (got %lld)",
	   (long long)e.mem_target_bytes);
	/* Twice the samples in the same day: confidence stays at the lifespan. */
	sizing_estimate(s, 2 * SIZING_SAMPLES_PER_DAY_VPA, &e);
	ok(fabs(e.confidence - 0.5) < 1e-3,
	   "confidence = min(days, samples / samples-per-day) = %.3f", e.confidence);
	ok(!sizing_add_cpu(s, T0, 5.0, 0) && !sizing_add_cpu(s, T0 + 24 * 60 * MIN_MS, 5.0, 0) &&
	   !sizing_add_cpu(s, T0 + DAY_MS + 1, NAN, 0) && !sizing_add_memory(s, T0, 1e12),
	   "old, duplicate and NaN samples are dropped");
	free(s);
}

static char *checkpoint_text(const struct sizing_state *s)
{
	struct json_object *o = sizing_state_to_json(s);
	char *t = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	return t;
}

static int load_text(const char *text, struct sizing_state *s, char *err, size_t len)
{
	struct json_object *o = json_tokener_parse(text);
	int rc;

	if (!o) {
		snprintf(err, len, "does not parse");
		return -1;
	}
	rc = sizing_state_from_json(o, s, err, len);
	json_object_put(o);
	return rc;
}

static void test_checkpoint(void)
{
	static const struct {
		const char *from, *to, *why;
	} bad[] = {
		{ "\"samples\":", "\"samples\":-", "samples: " },
		{ "[33,", "[176,", "bucket 176 outside 0..175" },
		{ "[33,", "[-1,", "bucket -1 outside" },
		{ "\"total\":", "\"total\":1e300,\"x\":", "cpu.total" },
		{ "\"ref_ms\":", "\"ref_ms\":1", "cpu.ref_ms: 1" },
		{ "\"memory\":", "\"mem\":", "cpu, memory" },
		{ "\"has_window\":true", "\"has_window\":1", "has_window" },
		{ "\"mem_peak\":", "\"mem_peak\":-", "mem_peak" },
	};
	struct sizing_state *s = new_state(), *back = new_state(), *keep = new_state();
	struct sizing_estimate e1, e2;
	char err[256], *text;
	int64_t i;
	size_t k;

	for (i = 0; i < 3 * 24 * 60; i += 3) {
		sizing_add_cpu(s, T0 + i * MIN_MS, 0.1 + (i % 97) / 50.0, i > 24 * 60 ? 1.5 : 0);
		sizing_add_memory(s, T0 + i * MIN_MS, 1e8 + (i % 89) * 1e7);
	}
	text = checkpoint_text(s);
	ok(text && !load_text(text, back, err, sizeof(err)), "a checkpoint loads back (%s)", err);
	ok(!memcmp(back->cpu.w, s->cpu.w, sizeof(s->cpu.w)) &&
	   !memcmp(back->mem.w, s->mem.w, sizeof(s->mem.w)) && back->cpu.total == s->cpu.total &&
	   back->samples == s->samples && back->window_end_ms == s->window_end_ms &&
	   back->mem_peak == s->mem_peak && back->cpu.ref_ms == s->cpu.ref_ms,
	   "every weight, total, time and the memory window come back bit for bit");
	sizing_estimate(s, SIZING_SAMPLES_PER_DAY_VPA, &e1);
	sizing_estimate(back, SIZING_SAMPLES_PER_DAY_VPA, &e2);
	ok(!memcmp(&e1, &e2, sizeof(e1)), "and so do the recommendations (%lld m, %lld bytes)",
	   (long long)e1.cpu_target_mcpu, (long long)e1.mem_target_bytes);
	/* Feeding on after the load gives what feeding on without it gives. */
	sizing_add_cpu(s, T0 + 4 * DAY_MS, 2.5, 0);
	sizing_add_cpu(back, T0 + 4 * DAY_MS, 2.5, 0);
	sizing_add_memory(s, T0 + 4 * DAY_MS, 5e9);
	sizing_add_memory(back, T0 + 4 * DAY_MS, 5e9);
	sizing_estimate(s, SIZING_SAMPLES_PER_DAY_VPA, &e1);
	sizing_estimate(back, SIZING_SAMPLES_PER_DAY_VPA, &e2);
	ok(!memcmp(&e1, &e2, sizeof(e1)), "samples after a reload land as without one");

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		char *at = strstr(text, bad[k].from), *mod;
		size_t pre;
		int rc;

		if (!at) {
			ok(0, "bad checkpoint %zu: '%s' not in the text", k, bad[k].from);
			continue;
		}
		pre = at - text;
		mod = malloc(strlen(text) + strlen(bad[k].to) + 1);
		memcpy(mod, text, pre);
		strcpy(mod + pre, bad[k].to);
		strcat(mod, at + strlen(bad[k].from));
		memcpy(keep, back, sizeof(*keep));
		rc = load_text(mod, back, err, sizeof(err));
		ok(rc && strstr(err, bad[k].why) && !memcmp(keep, back, sizeof(*keep)),
		   "refused, state untouched: %s -> %s: \"%s\"", bad[k].from, bad[k].to, err);
		free(mod);
	}
	ok(load_text("[1,2]", back, err, sizeof(err)) && strstr(err, "not an object"),
	   "not an object: refused (\"%s\")", err);
	free(text);
	free(s);
	free(back);
	free(keep);
}

int main(void)
{
	printf("TAP version 13\n");
	test_schemes();
	test_decay();
	test_estimate();
	test_checkpoint();
	printf("1..%d\n", n_test);
	return n_fail ? 1 : 0;
}
