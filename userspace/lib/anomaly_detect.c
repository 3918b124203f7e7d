// SPDX-License-Identifier: GPL-2.0-only
/*
 * anomaly_detect.c - the streaming detector of anomaly_detect.h: EWMA level, median and MAD
 * of the residual by stochastic approximation, a floor on the scale, k-in-a-row lifecycle. The
 * maths is in anomaly_detect.h.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "anomaly_detect.h"

void anomaly_config_default(struct anomaly_config *c, double floor)
{
	memset(c, 0, sizeof(*c));
	c->alpha = ANOMALY_DEFAULT_ALPHA;
	c->eta = ANOMALY_DEFAULT_ETA;
	c->zmax = ANOMALY_DEFAULT_Z;
	c->floor = floor;
	c->k = ANOMALY_DEFAULT_K;
	c->warmup = ANOMALY_DEFAULT_WARMUP;
}

int anomaly_config_check(const struct anomaly_config *c)
{
	if (!(c->alpha > 0 && c->alpha <= 1) || !(c->eta > 0 && c->eta < 1) ||
	    !(c->zmax >= ANOMALY_Z_MIN && c->zmax <= ANOMALY_Z_MAX) ||
	    !(c->floor > 0 && isfinite(c->floor)) || c->k < 1 || c->k > ANOMALY_K_MAX ||
	    c->warmup < ANOMALY_WARMUP_MIN || c->warmup > ANOMALY_WARMUP_MAX)
		return -EINVAL;
	return 0;
}

void anomaly_init(struct anomaly *a)
{
	memset(a, 0, sizeof(*a));
	a->state = ANOMALY_WARMUP;
}

const char *anomaly_state_name(enum anomaly_state s)
{
	switch (s) {
	case ANOMALY_WARMUP:	return "warmup";
	case ANOMALY_NORMAL:	return "normal";
	case ANOMALY_PENDING:	return "pending";
	case ANOMALY_FIRING:	return "firing";
	}
	return "unknown";
}

double anomaly_scale(const struct anomaly *a, const struct anomaly_config *c)
{
	double s = ANOMALY_MAD_SIGMA * a->mad;

	return s > c->floor ? s : c->floor;
}

/* Median of v[0..n), n >= 1; v is sorted in place (n <= ANOMALY_INIT_SAMPLES). */
static double median(double *v, unsigned int n)
{
	unsigned int i, j;

	for (i = 1; i < n; i++) {
		double x = v[i];

		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The exact robust start from the warm-up buffer: L = median, m = 0, d = MAD. */
static void start(struct anomaly *a)
{
	double v[ANOMALY_INIT_SAMPLES];
	unsigned int i;

	memcpy(v, a->init, a->ninit * sizeof(v[0]));
	a->level = median(v, a->ninit);
	for (i = 0; i < a->ninit; i++)
		v[i] = fabs(a->init[i] - a->level);
	a->mad = median(v, a->ninit);
	a->med = 0;
}

static double sign(double v)
{
	return v > 0 ? 1 : v < 0 ? -1 : 0;
}

enum anomaly_event anomaly_update(struct anomaly *a, const struct anomaly_config *c, double x)
{
	unsigned int w = c->warmup < ANOMALY_INIT_SAMPLES ? c->warmup : ANOMALY_INIT_SAMPLES;
	enum anomaly_event ev = ANOMALY_EV_NONE;
	double r, s, lim, rc;

	if (!isfinite(x))
		return ANOMALY_EV_NONE;
	a->n++;
	a->value = x;
	if (a->n <= c->warmup) {
		a->init[(a->n - 1) % w] = x;
		if (a->ninit < w)
			a->ninit++;
		a->baseline = x;
		a->z = 0;
		a->hit = false;
		if (a->n == c->warmup)
			start(a);
		return ANOMALY_EV_NONE;
	}

	s = anomaly_scale(a, c);
	r = x - a->level;
	a->baseline = a->level + a->med;
	a->z = (r - a->med) / s;
	a->hit = a->z > c->zmax || (c->two_sided && a->z < -c->zmax);
	lim = c->zmax * s;
	rc = r - a->med;
	rc = a->med + (rc > lim ? lim : rc < -lim ? -lim : rc);
	if (a->state == ANOMALY_FIRING ? a->n - a->fired > ANOMALY_RELEARN : !a->hit)
		a->level += c->alpha * rc;
	if (!a->hit) {
		a->med += c->eta * s * sign(r - a->med);
		a->mad += c->eta * s * sign(fabs(r - a->med) - a->mad);
		if (a->mad < 0)
			a->mad = 0;
	}

	if (a->state == ANOMALY_WARMUP)
		a->state = ANOMALY_NORMAL;

	switch (a->state) {
	case ANOMALY_NORMAL:
	case ANOMALY_PENDING:
		if (!a->hit) {
			a->state = ANOMALY_NORMAL;
			a->run = 0;
			break;
		}
		if (!a->run++) {
			a->since = a->n;
			a->onset_value = a->value;
			a->onset_baseline = a->baseline;
			a->onset_z = a->z;
			a->peak_z = a->z;
		}
		if (a->z > a->peak_z)
			a->peak_z = a->z;
		if (a->run >= c->k) {
			a->state = ANOMALY_FIRING;
			a->fired = a->n;
			a->run = 0;
			ev = ANOMALY_EV_FIRING;
		} else {
			a->state = ANOMALY_PENDING;
		}
		break;
	case ANOMALY_FIRING:
		if (a->z > c->zmax * ANOMALY_CLEAR_RATIO ||
		    (c->two_sided && a->z < -c->zmax * ANOMALY_CLEAR_RATIO)) {
			a->run = 0;
			if (a->z > a->peak_z)
				a->peak_z = a->z;
			break;
		}
		if (++a->run >= c->k) {
			a->state = ANOMALY_NORMAL;
			a->run = 0;
			ev = ANOMALY_EV_RESOLVED;
		}
		break;
	case ANOMALY_WARMUP:
		break;
	}
	return ev;
}
