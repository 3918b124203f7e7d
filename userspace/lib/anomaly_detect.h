/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * anomaly_detect.h - a streaming anomaly detector for one series of samples (one a second in
 * podlaned: a pod's CPU, run-queue wait, memory, memory growth, drops, traffic). Pure: no I/O,
 * no allocation, no globals, so tests and fuzzers drive it with synthetic series. Each sample
 * costs O(1) time and the state is O(1) memory: a few doubles and a fixed 32-sample buffer used
 * during the warm-up only.
 *
 * The maths, per sample x_t (t = 1, 2, ...):
 *
 *   Warm-up (t <= warmup; no alert). The last W = min(warmup, ANOMALY_INIT_SAMPLES) samples
 *   are kept in a ring; at t = warmup the state starts from their exact robust figures:
 *   level L = median(x), residual median m = 0, MAD d = median |x_i - L|. Keeping the last
 *   ones rather than the first lets a warm-up longer than W leave a start-up transient (a
 *   process starting on a busy machine) out of the baseline.
 *
 *   Baseline (a moving level, EWMA). The prediction of x_t is L_{t-1}; its residual is
 *   r_t = x_t - L_{t-1}.
 *
 *   Robust z-score. m and d are streaming estimates of the median of r and of the median
 *   absolute deviation |r - m| (MAD), by stochastic approximation of a quantile ("frugal"
 *   streaming median): each sample moves the estimate one step toward the sample, the step
 *   proportional to the current scale, so the estimate settles where half the samples lie on
 *   each side, which is the median. O(1) time, two doubles, no window:
 *
 *       s   = max(1.4826 * d, floor)            scale; 1.4826 * MAD = sigma for normal noise
 *       z_t = (r_t - m) / s
 *       m  <- m + eta * s * sign(r_t - m)
 *       d  <- max(0, d + eta * s * sign(|r_t - m| - d))
 *
 *   The floor is in the series' own unit (cores, bytes, packets per second): a series that
 *   was flat (drops at 0: d = 0) still has a scale, so a burst gives a finite, large z and a
 *   flat series never divides by zero. It is also the smallest change worth telling an
 *   operator about: z > zmax needs x > L + m + zmax * floor.
 *
 *   A hit is z_t > zmax (rises only; two_sided also takes z_t < -zmax). A hit moves neither
 *   m and d (an anomaly must not widen the scale that measures it) nor the level (k hits in
 *   a row must see the same baseline). Other samples move the level by a winsorized
 *   residual, L <- L + alpha * (m + clamp(r - m, +-zmax * s)): an outlier the other way (a
 *   garbage collection handing back memory) moves it no more than a sample zmax scales off
 *   would. While an alert fires the level holds still for ANOMALY_RELEARN samples (a leak's
 *   growth must not become its own baseline and resolve the alert while it goes on); after
 *   that every sample moves it, winsorized, so a lasting change is learnt at a bounded pace
 *   (alpha * zmax * s a sample) and becomes the new normal: the alert resolves.
 *
 *   Lifecycle: k consecutive hits make an alert FIRING (one event, "firing", whose since is
 *   the first of those hits); while firing, k consecutive samples with z <= zmax / 2 make it
 *   RESOLVED (one event, "resolved") and the series is back to normal. The lower bar to clear
 *   (hysteresis) keeps a fault whose size wavers around the threshold (a CPU hog sharing a
 *   busy machine) one episode rather than several. Fewer than k hits in a row is a blip:
 *   nothing is said. So one episode gives exactly one alert and one resolution.
 *
 * Defaults (anomaly_config_default): alpha 0.1 (a level's memory is about 10 samples),
 * eta 0.02, zmax 5, k 3, warm-up 30 samples.
 */
#ifndef PODLANE_ANOMALY_DETECT_H
#define PODLANE_ANOMALY_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#define ANOMALY_INIT_SAMPLES	32
#define ANOMALY_MAD_SIGMA	1.4826
#define ANOMALY_CLEAR_RATIO	0.5	/* firing: z <= zmax * this is a quiet sample */
#define ANOMALY_RELEARN		300	/* firing: samples before the level moves again */

#define ANOMALY_DEFAULT_ALPHA	0.1
#define ANOMALY_DEFAULT_ETA	0.02
#define ANOMALY_DEFAULT_Z	5.0
#define ANOMALY_DEFAULT_K	3
#define ANOMALY_DEFAULT_WARMUP	30

/* Bounds of the options podlaned takes (--anomaly-k, --anomaly-z, --anomaly-warmup). */
#define ANOMALY_K_MAX		60
#define ANOMALY_Z_MIN		1.0
#define ANOMALY_Z_MAX		100.0
#define ANOMALY_WARMUP_MIN	3
#define ANOMALY_WARMUP_MAX	3600

struct anomaly_config {
	double		alpha;		/* level smoothing, 0 < alpha <= 1 */
	double		eta;		/* median/MAD step, 0 < eta < 1 */
	double		zmax;		/* a hit: z above this */
	double		floor;		/* smallest scale, in the series' unit; > 0 */
	unsigned int	k;		/* consecutive hits to fire, non-hits to resolve */
	unsigned int	warmup;		/* samples before any alert */
	bool		two_sided;	/* falls are hits too */
};

enum anomaly_state {
	ANOMALY_WARMUP,
	ANOMALY_NORMAL,
	ANOMALY_PENDING,	/* 1..k-1 hits in a row */
	ANOMALY_FIRING,
};

/* What a sample did: nothing, or the start or end of an episode. */
enum anomaly_event {
	ANOMALY_EV_NONE,
	ANOMALY_EV_FIRING,
	ANOMALY_EV_RESOLVED,
};

struct anomaly {
	enum anomaly_state state;
	uint64_t	n;		/* samples seen */
	double		level;		/* L */
	double		med;		/* m: median of the residuals */
	double		mad;		/* d: their MAD */
	unsigned int	run;		/* consecutive hits (normal/pending) or non-hits (firing) */
	uint64_t	since;		/* firing or pending: the sample number of the first hit */
	uint64_t	fired;		/* firing: the sample number it fired at */
	/* The last sample's figures. */
	double		value;
	double		baseline;	/* L + m before the sample: what it was expected to be */
	double		z;
	bool		hit;
	/* The episode's figures while firing (and after it resolved, until the next). */
	double		onset_value, onset_baseline, onset_z, peak_z;
	/* Warm-up ring: the last min(warmup, ANOMALY_INIT_SAMPLES) samples. */
	unsigned int	ninit;
	double		init[ANOMALY_INIT_SAMPLES];
};

void anomaly_config_default(struct anomaly_config *c, double floor);
/* 0, or -EINVAL when a figure is out of its range (the state is then never to be used). */
int anomaly_config_check(const struct anomaly_config *c);
void anomaly_init(struct anomaly *a);
/*
 * One sample. Non-finite samples (NaN, inf) are ignored: ANOMALY_EV_NONE and no change.
 * Returns the event the sample caused; the figures are in *a.
 */
enum anomaly_event anomaly_update(struct anomaly *a, const struct anomaly_config *c, double x);
/* The current scale, max(1.4826 * MAD, floor). */
double anomaly_scale(const struct anomaly *a, const struct anomaly_config *c);
const char *anomaly_state_name(enum anomaly_state s);

#endif /* PODLANE_ANOMALY_DETECT_H */
