/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sizing.h - CPU and memory request recommendations with the formula of the Kubernetes
 * Vertical Pod Autoscaler's recommender: decaying histograms of usage, a percentile of them,
 * a safety margin, a confidence scaling of the bounds and a per-pod minimum. Pure (no I/O, no
 * clock): the caller hands in every sample with its time; podlaned's recommend/ module feeds
 * it from acct/'s per-pod series and keeps the checkpoints.
 *
 * The formula and every constant, as in kubernetes/autoscaler,
 * vertical-pod-autoscaler/pkg/recommender/ (read there; the code here is our own):
 *
 *   util/histogram_options.go  exponential buckets: bucket n >= 1 starts at
 *                              first * (ratio^n - 1) / (ratio - 1); a value falls in
 *                              floor(log_ratio(value * (ratio - 1) / first + 1)), clamped;
 *                              buckets = ceil(log_ratio(max * (ratio - 1) / first + 1)) + 1
 *   model/aggregations_config.go  CPU: first 0.01 core, max 1000 cores; memory: first 1e7
 *                              bytes (10 MB), max 1e12 bytes; ratio 1 + 0.05; epsilon
 *                              0.001 * minSampleWeight = 0.0001; both half-lives 24 h;
 *                              memory aggregation interval 24 h, 8 of them in the window
 *   util/histogram.go          percentile p: the first bucket from the lowest whose running
 *                              weight reaches p * total, answered by that bucket's end (the
 *                              last bucket's start for the last); empty (weight of the lowest
 *                              bucket < epsilon) answers 0; a bucket is counted in min/max
 *                              only once its weight reaches epsilon
 *   util/decaying_histogram.go a sample weighs weight * 2^((t - ref) / halfLife); ref is a
 *                              multiple of halfLife, moved forward (weights scaled by a power
 *                              of two) when t passes ref + 100 half-lives
 *   model/aggregate_container_state.go  a CPU sample weighs max(request, minSampleWeight
 *                              = 0.1); first/last sample time and the count follow CPU
 *                              samples only; a memory peak weighs 1.0
 *   model/container.go         one memory peak per 24 h interval: a higher sample in the
 *                              interval replaces the interval's peak (subtract, add, both at
 *                              the interval's end); CPU samples must move forward in time
 *   logic/recommender.go       target = p90, lower bound = p50, upper bound = p95 (CPU and
 *                              memory); margin 15 %; upper bound * (1 + 1/confidence)^1,
 *                              lower bound * (1 + 0.001/confidence)^-2; then at least 25
 *                              millicores and 250 MiB (250 * 1024 * 1024 bytes) per pod
 *   logic/estimator.go         confidence = min(lifespan in days, samples / (60 * 24)): the
 *                              latter assumes one sample a minute; here the caller gives
 *                              its samples per day, so a steady stream over N days gives N
 *   model/types.go             amounts are whole millicores and bytes, truncated on the way
 *                              in (a usage sample) and after each step (percentile, margin,
 *                              confidence), at most 1e14
 *
 * One pod is one VPA "container" (containersPerPod = 1, so the minimums apply whole). A NaN
 * amount (0 * infinity: an empty histogram with no history) counts as 0 before the minimum,
 * which is where Go's conversion lands too.
 */
#ifndef PODLANE_SIZING_H
#define PODLANE_SIZING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define SIZING_BUCKETS_MAX	176	/* both schemes: ceil(log_1.05(5001)) + 1 */
#define SIZING_HALF_LIFE_MS	(24LL * 3600 * 1000)
#define SIZING_MEM_INTERVAL_MS	(24LL * 3600 * 1000)
#define SIZING_MIN_SAMPLE_WEIGHT 0.1
#define SIZING_EPSILON		(0.001 * SIZING_MIN_SAMPLE_WEIGHT)
#define SIZING_MAX_DECAY_EXP	100
#define SIZING_MAX_AMOUNT	100000000000000LL	/* 1e14 */
#define SIZING_POD_MIN_MCPU	25
#define SIZING_POD_MIN_BYTES	(250LL * 1024 * 1024)
#define SIZING_MARGIN		0.15
#define SIZING_TARGET_PCT	0.90
#define SIZING_LOWER_PCT	0.50
#define SIZING_UPPER_PCT	0.95
#define SIZING_SAMPLES_PER_DAY_VPA (60.0 * 24)	/* one sample a minute */

enum sizing_scheme { SIZING_CPU, SIZING_MEMORY };

/* A decaying histogram over exponential buckets (values in cores or bytes). */
struct sizing_hist {
	double	first;		/* size of bucket 0 */
	double	ratio;
	int	nbuckets;
	int	min_bucket;	/* first non-empty, else nbuckets - 1 */
	int	max_bucket;	/* last non-empty, else 0 */
	double	total;
	int64_t	ref_ms;		/* reference time, a multiple of the half-life */
	double	w[SIZING_BUCKETS_MAX];
};

/* One pod's history: VPA's AggregateContainerState plus its ContainerState's memory window. */
struct sizing_state {
	struct sizing_hist cpu;
	struct sizing_hist mem;
	uint64_t samples;	/* CPU samples */
	int64_t	first_ms;	/* first and last CPU sample (valid when samples > 0) */
	int64_t	last_ms;
	bool	has_window;
	int64_t	window_end_ms;	/* end of the current memory interval (excluded) */
	int64_t	last_mem_ms;
	double	mem_peak;	/* peak of the current interval, bytes */
};

struct sizing_estimate {
	int64_t	cpu_target_mcpu, cpu_lower_mcpu, cpu_upper_mcpu;
	int64_t	mem_target_bytes, mem_lower_bytes, mem_upper_bytes;
	double	confidence;	/* days of history, as VPA counts them */
	uint64_t samples;
};

void sizing_hist_init(struct sizing_hist *h, enum sizing_scheme s);
int sizing_bucket_find(const struct sizing_hist *h, double value);
double sizing_bucket_start(const struct sizing_hist *h, int bucket);
void sizing_hist_add(struct sizing_hist *h, double value, double weight, int64_t t_ms);
void sizing_hist_sub(struct sizing_hist *h, double value, double weight, int64_t t_ms);
double sizing_hist_percentile(const struct sizing_hist *h, double p);
bool sizing_hist_empty(const struct sizing_hist *h);

void sizing_state_init(struct sizing_state *s);
/*
 * A CPU sample: cores used on average over the interval that starts at t_ms, and the request
 * then (0 when unknown: the sample weighs the minimum). False when dropped (not after the
 * last CPU sample, or negative or not finite).
 */
bool sizing_add_cpu(struct sizing_state *s, int64_t t_ms, double cores, double request_cores);
/* A memory sample in bytes; false when dropped (older than the last one, or bad). */
bool sizing_add_memory(struct sizing_state *s, int64_t t_ms, double bytes);
/* samples_per_day: the caller's sampling rate (SIZING_SAMPLES_PER_DAY_VPA at one a minute). */
double sizing_confidence(const struct sizing_state *s, double samples_per_day);
void sizing_estimate(const struct sizing_state *s, double samples_per_day,
		     struct sizing_estimate *out);

/*
 * Checkpoints: a state as a JSON object (weights exact, not rounded as VPA's are) and back.
 * sizing_state_from_json() checks everything (bucket indexes, weights finite and not
 * negative, the total their sum, the reference time a multiple of the half-life, times in
 * order) and on a bad object returns -EINVAL with err saying which field and why; *s is then
 * untouched.
 */
struct json_object *sizing_state_to_json(const struct sizing_state *s);
int sizing_state_from_json(struct json_object *o, struct sizing_state *s, char *err,
			   size_t errlen);

#endif /* PODLANE_SIZING_H */
