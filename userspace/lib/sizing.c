// SPDX-License-Identifier: GPL-2.0-only
/*
 * sizing.c - the Vertical Pod Autoscaler recommender's formula (sizing.h says which file of
 * kubernetes/autoscaler each rule and constant comes from): decaying exponential histograms,
 * per-interval memory peaks, percentiles, margin, confidence and minimums; and checkpoints of
 * a pod's history as JSON.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "sizing.h"

static const struct {
	double first, max;
} schemes[] = {
	[SIZING_CPU] = { 0.01, 1000.0 },	/* cores */
	[SIZING_MEMORY] = { 1e7, 1e12 },	/* bytes */
};

#define RATIO	1.05

static double log_base(double base, double x)
{
	return log(x) / log(base);
}

void sizing_hist_init(struct sizing_hist *h, enum sizing_scheme s)
{
	double first = schemes[s].first, max = schemes[s].max;
	int n = (int)ceil(log_base(RATIO, max * (RATIO - 1) / first + 1)) + 1;

	memset(h, 0, sizeof(*h));
	h->first = first;
	h->ratio = RATIO;
	h->nbuckets = n < SIZING_BUCKETS_MAX ? n : SIZING_BUCKETS_MAX;
	h->min_bucket = h->nbuckets - 1;
	h->max_bucket = 0;
}

int sizing_bucket_find(const struct sizing_hist *h, double value)
{
	int b;

	if (!(value >= h->first))
		return 0;
	b = (int)log_base(h->ratio, value * (h->ratio - 1) / h->first + 1);
	return b >= h->nbuckets ? h->nbuckets - 1 : b;
}

double sizing_bucket_start(const struct sizing_hist *h, int bucket)
{
	if (bucket <= 0)
		return 0.0;
	return h->first * (pow(h->ratio, bucket) - 1) / (h->ratio - 1);
}

static void hist_update_min_max(struct sizing_hist *h)
{
	while (h->w[h->min_bucket] < SIZING_EPSILON && h->min_bucket < h->nbuckets - 1)
		h->min_bucket++;
	while (h->w[h->max_bucket] < SIZING_EPSILON && h->max_bucket > 0)
		h->max_bucket--;
}

static void hist_scale(struct sizing_hist *h, double factor)
{
	int b;

	for (b = h->min_bucket; b <= h->max_bucket; b++)
		h->w[b] *= factor;
	h->total *= factor;
	hist_update_min_max(h);
}

/* Go's time.Round(d) for a positive d: halfway rounds up (away from zero). */
static int64_t round_to(int64_t t, int64_t d)
{
	int64_t q = t / d, r = t % d;

	if (r < 0) {
		r += d;
		q--;
	}
	return (r + r < d ? q : q + 1) * d;
}

static double decay_factor(struct sizing_hist *h, int64_t t_ms)
{
	if (t_ms > h->ref_ms + SIZING_HALF_LIFE_MS * SIZING_MAX_DECAY_EXP) {
		int64_t ref = round_to(t_ms, SIZING_HALF_LIFE_MS);
		double exponent = floor((double)(h->ref_ms - ref) / SIZING_HALF_LIFE_MS + 0.5);

		hist_scale(h, ldexp(1.0, (int)exponent));
		h->ref_ms = ref;
	}
	return exp2((double)(t_ms - h->ref_ms) / SIZING_HALF_LIFE_MS);
}

static void hist_add_raw(struct sizing_hist *h, double value, double weight)
{
	int b = sizing_bucket_find(h, value);

	h->w[b] += weight;
	h->total += weight;
	if (b < h->min_bucket && h->w[b] >= SIZING_EPSILON)
		h->min_bucket = b;
	if (b > h->max_bucket && h->w[b] >= SIZING_EPSILON)
		h->max_bucket = b;
}

void sizing_hist_add(struct sizing_hist *h, double value, double weight, int64_t t_ms)
{
	if (!(weight >= 0))
		return;
	hist_add_raw(h, value, weight * decay_factor(h, t_ms));
}

void sizing_hist_sub(struct sizing_hist *h, double value, double weight, int64_t t_ms)
{
	int b;

	if (!(weight >= 0))
		return;
	weight *= decay_factor(h, t_ms);
	b = sizing_bucket_find(h, value);
	if (weight > h->w[b] - SIZING_EPSILON)
		weight = h->w[b];
	h->total -= weight;
	h->w[b] -= weight;
	hist_update_min_max(h);
}

bool sizing_hist_empty(const struct sizing_hist *h)
{
	return h->w[h->min_bucket] < SIZING_EPSILON;
}

double sizing_hist_percentile(const struct sizing_hist *h, double p)
{
	double partial = 0, threshold = p * h->total;
	int b;

	if (sizing_hist_empty(h))
		return 0.0;
	for (b = h->min_bucket; b < h->max_bucket; b++) {
		partial += h->w[b];
		if (partial >= threshold)
			break;
	}
	if (b < h->nbuckets - 1)
		return sizing_bucket_start(h, b + 1);
	return sizing_bucket_start(h, b);
}

/* model.resourceAmountFromFloat: whole units, 0..1e14 (NaN: 0, see sizing.h). */
static int64_t amount(double v)
{
	if (!(v >= 0))
		return 0;
	if (v > (double)SIZING_MAX_AMOUNT)
		return SIZING_MAX_AMOUNT;
	return (int64_t)v;
}

void sizing_state_init(struct sizing_state *s)
{
	memset(s, 0, sizeof(*s));
	sizing_hist_init(&s->cpu, SIZING_CPU);
	sizing_hist_init(&s->mem, SIZING_MEMORY);
}

bool sizing_add_cpu(struct sizing_state *s, int64_t t_ms, double cores, double request_cores)
{
	if (!(cores >= 0) || isinf(cores) || (s->samples && t_ms <= s->last_ms))
		return false;
	/* A usage sample is a ResourceAmount: whole millicores. */
	cores = amount(cores * 1000.0) / 1000.0;
	if (!(request_cores >= SIZING_MIN_SAMPLE_WEIGHT) || isinf(request_cores))
		request_cores = SIZING_MIN_SAMPLE_WEIGHT;
	sizing_hist_add(&s->cpu, cores, request_cores, t_ms);
	if (!s->samples || t_ms < s->first_ms)
		s->first_ms = t_ms;
	if (!s->samples || t_ms > s->last_ms)
		s->last_ms = t_ms;
	s->samples++;
	return true;
}

bool sizing_add_memory(struct sizing_state *s, int64_t t_ms, double bytes)
{
	bool add_peak = false;

	if (!(bytes >= 0) || isinf(bytes) || (s->has_window && t_ms < s->last_mem_ms))
		return false;
	bytes = amount(bytes);	/* whole bytes */
	s->last_mem_ms = t_ms;
	if (!s->has_window) {
		s->window_end_ms = t_ms;
		s->has_window = true;
	}
	if (t_ms < s->window_end_ms) {
		if (s->mem_peak != 0 && bytes > s->mem_peak) {
			sizing_hist_sub(&s->mem, s->mem_peak, 1.0, s->window_end_ms);
			add_peak = true;
		}
	} else {
		int64_t d = t_ms - s->window_end_ms;

		s->window_end_ms += d - d % SIZING_MEM_INTERVAL_MS + SIZING_MEM_INTERVAL_MS;
		s->mem_peak = 0;
		add_peak = true;
	}
	if (add_peak) {
		sizing_hist_add(&s->mem, bytes, 1.0, s->window_end_ms);
		s->mem_peak = bytes;
	}
	return true;
}

double sizing_confidence(const struct sizing_state *s, double samples_per_day)
{
	double days, amount;

	if (!s->samples)
		return 0;
	days = (double)(s->last_ms - s->first_ms) / (24.0 * 3600 * 1000);
	amount = (double)s->samples / samples_per_day;
	return days < amount ? days : amount;
}

static int64_t scale(int64_t a, double factor)
{
	return amount((double)a * factor);
}

static int64_t with_margin(int64_t base)
{
	return base + scale(base, SIZING_MARGIN);
}

static int64_t at_least(int64_t a, int64_t min)
{
	return a > min ? a : min;
}

void sizing_estimate(const struct sizing_state *s, double samples_per_day,
		     struct sizing_estimate *out)
{
	double conf = sizing_confidence(s, samples_per_day);
	double up = pow(1.0 + 1.0 / conf, 1.0), low = pow(1.0 + 0.001 / conf, -2.0);
	int64_t c50 = amount(sizing_hist_percentile(&s->cpu, SIZING_LOWER_PCT) * 1000.0);
	int64_t c90 = amount(sizing_hist_percentile(&s->cpu, SIZING_TARGET_PCT) * 1000.0);
	int64_t c95 = amount(sizing_hist_percentile(&s->cpu, SIZING_UPPER_PCT) * 1000.0);
	int64_t m50 = amount(sizing_hist_percentile(&s->mem, SIZING_LOWER_PCT));
	int64_t m90 = amount(sizing_hist_percentile(&s->mem, SIZING_TARGET_PCT));
	int64_t m95 = amount(sizing_hist_percentile(&s->mem, SIZING_UPPER_PCT));

	*out = (struct sizing_estimate){
		.cpu_target_mcpu = at_least(with_margin(c90), SIZING_POD_MIN_MCPU),
		.cpu_lower_mcpu = at_least(scale(with_margin(c50), low), SIZING_POD_MIN_MCPU),
		.cpu_upper_mcpu = at_least(scale(with_margin(c95), up), SIZING_POD_MIN_MCPU),
		.mem_target_bytes = at_least(with_margin(m90), SIZING_POD_MIN_BYTES),
		.mem_lower_bytes = at_least(scale(with_margin(m50), low), SIZING_POD_MIN_BYTES),
		.mem_upper_bytes = at_least(scale(with_margin(m95), up), SIZING_POD_MIN_BYTES),
		.confidence = conf,
		.samples = s->samples,
	};
}

/* ---- checkpoints ---- */

static struct json_object *hist_to_json(const struct sizing_hist *h)
{
	struct json_object *o = json_object_new_object(), *b = json_object_new_array();
	int i;

	for (i = 0; i < h->nbuckets; i++) {
		struct json_object *pair;

		if (h->w[i] == 0)
			continue;
		pair = json_object_new_array();
		json_object_array_add(pair, json_object_new_int(i));
		json_object_array_add(pair, json_object_new_double(h->w[i]));
		json_object_array_add(b, pair);
	}
	json_object_object_add(o, "ref_ms", json_object_new_int64(h->ref_ms));
	json_object_object_add(o, "total", json_object_new_double(h->total));
	json_object_object_add(o, "buckets", b);
	return o;
}

struct json_object *sizing_state_to_json(const struct sizing_state *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "samples", json_object_new_int64((int64_t)s->samples));
	json_object_object_add(o, "first_ms", json_object_new_int64(s->first_ms));
	json_object_object_add(o, "last_ms", json_object_new_int64(s->last_ms));
	json_object_object_add(o, "has_window", json_object_new_boolean(s->has_window));
	json_object_object_add(o, "window_end_ms", json_object_new_int64(s->window_end_ms));
	json_object_object_add(o, "last_mem_ms", json_object_new_int64(s->last_mem_ms));
	json_object_object_add(o, "mem_peak", json_object_new_double(s->mem_peak));
	json_object_object_add(o, "cpu", hist_to_json(&s->cpu));
	json_object_object_add(o, "memory", hist_to_json(&s->mem));
	return o;
}

static int bad(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int get_int64(struct json_object *o, const char *key, int64_t *v, char *err, size_t len)
{
	struct json_object *f;

	if (!json_object_object_get_ex(o, key, &f) || !json_object_is_type(f, json_type_int))
		return bad(err, len, "%s: missing or not an integer", key);
	*v = json_object_get_int64(f);
	return 0;
}

static int get_double(struct json_object *o, const char *key, double *v, char *err, size_t len)
{
	struct json_object *f;

	if (!json_object_object_get_ex(o, key, &f) ||
	    !(json_object_is_type(f, json_type_double) || json_object_is_type(f, json_type_int)))
		return bad(err, len, "%s: missing or not a number", key);
	*v = json_object_get_double(f);
	if (!isfinite(*v) || *v < 0)
		return bad(err, len, "%s: %g is not a finite number >= 0", key, *v);
	return 0;
}

static int hist_from_json(struct json_object *o, const char *name, struct sizing_hist *h,
			  char *err, size_t len)
{
	struct json_object *b;
	double sum = 0, total;
	size_t i, n;
	char why[256];

	if (!json_object_is_type(o, json_type_object))
		return bad(err, len, "%s: not an object", name);
	if (get_int64(o, "ref_ms", &h->ref_ms, why, sizeof(why)) ||
	    get_double(o, "total", &total, why, sizeof(why)))
		return bad(err, len, "%s.%s", name, why);
	if (h->ref_ms % SIZING_HALF_LIFE_MS)
		return bad(err, len, "%s.ref_ms: %lld is not a multiple of the half-life", name,
			   (long long)h->ref_ms);
	if (!json_object_object_get_ex(o, "buckets", &b) ||
	    !json_object_is_type(b, json_type_array))
		return bad(err, len, "%s.buckets: missing or not an array", name);
	n = json_object_array_length(b);
	for (i = 0; i < n; i++) {
		struct json_object *pair = json_object_array_get_idx(b, i), *x, *y;
		int64_t idx;
		double w;

		if (!json_object_is_type(pair, json_type_array) ||
		    json_object_array_length(pair) != 2 ||
		    !json_object_is_type((x = json_object_array_get_idx(pair, 0)), json_type_int))
			return bad(err, len, "%s.buckets[%zu]: not an [index, weight] pair", name,
				   i);
		y = json_object_array_get_idx(pair, 1);
		idx = json_object_get_int64(x);
		if (idx < 0 || idx >= h->nbuckets)
			return bad(err, len, "%s.buckets[%zu]: bucket %lld outside 0..%d", name, i,
				   (long long)idx, h->nbuckets - 1);
		if (!json_object_is_type(y, json_type_double) &&
		    !json_object_is_type(y, json_type_int))
			return bad(err, len, "%s.buckets[%zu]: weight not a number", name, i);
		w = json_object_get_double(y);
		if (!isfinite(w) || w < 0)
			return bad(err, len, "%s.buckets[%zu]: weight %g is not finite and >= 0",
				   name, i, w);
		if (h->w[idx] != 0)
			return bad(err, len, "%s.buckets[%zu]: bucket %lld given twice", name, i,
				   (long long)idx);
		h->w[idx] = w;
		sum += w;
	}
	if (fabs(sum - total) > 1e-9 * (total > 1 ? total : 1))
		return bad(err, len, "%s.total: %.17g is not the buckets' sum %.17g", name, total,
			   sum);
	h->total = total;
	/* As VPA's LoadFromCheckpoint: the lowest and the highest bucket given. */
	for (i = 0; i < (size_t)h->nbuckets; i++) {
		if (h->w[i] == 0)
			continue;
		if ((int)i < h->min_bucket)
			h->min_bucket = i;
		if ((int)i > h->max_bucket)
			h->max_bucket = i;
	}
	return 0;
}

int sizing_state_from_json(struct json_object *o, struct sizing_state *out, char *err,
			   size_t len)
{
	struct sizing_state s;
	struct json_object *f, *cpu, *mem;
	int64_t samples;
	int rc;

	snprintf(err, len, "ok");
	if (!json_object_is_type(o, json_type_object))
		return bad(err, len, "not an object");
	sizing_state_init(&s);
	if ((rc = get_int64(o, "samples", &samples, err, len)) ||
	    (rc = get_int64(o, "first_ms", &s.first_ms, err, len)) ||
	    (rc = get_int64(o, "last_ms", &s.last_ms, err, len)) ||
	    (rc = get_int64(o, "window_end_ms", &s.window_end_ms, err, len)) ||
	    (rc = get_int64(o, "last_mem_ms", &s.last_mem_ms, err, len)) ||
	    (rc = get_double(o, "mem_peak", &s.mem_peak, err, len)))
		return rc;
	if (!json_object_object_get_ex(o, "has_window", &f) ||
	    !json_object_is_type(f, json_type_boolean))
		return bad(err, len, "has_window: missing or not a boolean");
	s.has_window = json_object_get_boolean(f);
	if (samples < 0)
		return bad(err, len, "samples: %lld is negative", (long long)samples);
	s.samples = (uint64_t)samples;
	if (s.samples && s.last_ms < s.first_ms)
		return bad(err, len, "last_ms: before first_ms");
	if (s.has_window && s.last_mem_ms >= s.window_end_ms)
		return bad(err, len, "last_mem_ms: not inside the memory interval that ends at "
			   "window_end_ms");
	if (!json_object_object_get_ex(o, "cpu", &cpu) ||
	    !json_object_object_get_ex(o, "memory", &mem))
		return bad(err, len, "cpu, memory: both histograms are needed");
	if ((rc = hist_from_json(cpu, "cpu", &s.cpu, err, len)) ||
	    (rc = hist_from_json(mem, "memory", &s.mem, err, len)))
		return rc;
	*out = s;
	return 0;
}
