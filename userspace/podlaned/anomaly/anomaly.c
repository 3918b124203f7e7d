// SPDX-License-Identifier: GPL-2.0-only
/*
 * anomaly/anomaly.c - per-pod anomaly alerts (anomaly.h): one detector per pod and series fed
 * on every accounting tick, the events of the last ANOMALY_RING_SIZE episodes, counters.
 *
 * Pods follow acct/'s list (which follows the endpoint map); a pod whose endpoint or container
 * changed starts over with a warm-up. A pod that goes away while an alert fires gets its
 * "resolved" event then (the episode is over for whoever watches).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acct/acct.h"
#include "anomaly/anomaly.h"
#include "core/agent.h"
#include "core/loop.h"
#include "datapath/eps.h"
#include "log.h"
#include "policy/policy.h"

static const struct {
	const char	*name;
	const char	*unit;
	double		floor;
} series_info[AS_NR] = {
	[AS_CPU]		= { "cpu",		"cores",	0.02 },
	[AS_RUNQ]		= { "runq",		"s/s",		0.05 },
	[AS_MEMORY]		= { "memory",		"bytes",	16.0 * 1024 * 1024 },
	[AS_MEMORY_GROWTH]	= { "memory_growth",	"bytes/s",	256.0 * 1024 },
	[AS_DROPS]		= { "drops",		"packets/s",	1.0 },
	[AS_TRAFFIC]		= { "traffic",		"bytes/s",	64.0 * 1024 },
};

struct anomaly_pod {
	__u32		ifindex;
	char		container_id[128];
	__u64		netns_cookie;
	bool		present;
	bool		have_prev;	/* prev_* hold the last tick's counters */
	bool		have_mem;
	double		prev_mem;
	__u64		prev_drops, prev_bytes;
	__u64		ticks;
	struct anomaly	det[AS_NR];
	__u64		since_ns[AS_NR];
};

struct anomaly_mod {
	struct anomaly_config cfg[AS_NR];
	struct anomaly_opts o;
	struct anomaly_pod *pods;
	size_t		npods;
	__u64		last_ns;	/* CLOCK_MONOTONIC of the last tick */
	__u64		tick_rt_ns;	/* CLOCK_REALTIME of the last tick */
	struct anomaly_alert ring[ANOMALY_RING_SIZE];
	__u64		newest;		/* seq of ring[(newest - 1) % size] */
	__u64		ticks;
	__u64		fired[AS_NR], resolved[AS_NR];
};

const char *anomaly_series_name(enum anomaly_series s)
{
	return s < AS_NR ? series_info[s].name : "unknown";
}

const char *anomaly_series_unit(enum anomaly_series s)
{
	return s < AS_NR ? series_info[s].unit : "";
}

void anomaly_opts_init(struct anomaly_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->k = ANOMALY_DEFAULT_K;
	o->z = ANOMALY_DEFAULT_Z;
	o->warmup = ANOMALY_DEFAULT_WARMUP;
}

int anomaly_parse_opt(struct anomaly_opts *o, int which, const char *arg)
{
	char *end;
	double v;

	if (which == ANOMALY_OPT_OFF) {
		o->off = true;
		return 0;
	}
	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end) {
		fprintf(stderr, "podlaned: --anomaly-%s wants a number, got '%s'\n",
			which == ANOMALY_OPT_K ? "k" : which == ANOMALY_OPT_Z ? "z" : "warmup",
			arg);
		return -1;
	}
	switch (which) {
	case ANOMALY_OPT_K:
		if (!(v >= 1 && v <= ANOMALY_K_MAX) || v != (unsigned int)v) {
			fprintf(stderr, "podlaned: --anomaly-k wants a whole number from 1 to %d, "
				"got '%s'\n", ANOMALY_K_MAX, arg);
			return -1;
		}
		o->k = v;
		return 0;
	case ANOMALY_OPT_Z:
		if (!(v >= ANOMALY_Z_MIN && v <= ANOMALY_Z_MAX)) {
			fprintf(stderr, "podlaned: --anomaly-z wants a number from %g to %g, got "
				"'%s'\n", ANOMALY_Z_MIN, ANOMALY_Z_MAX, arg);
			return -1;
		}
		o->z = v;
		return 0;
	case ANOMALY_OPT_WARMUP:
		if (!(v >= ANOMALY_WARMUP_MIN && v <= ANOMALY_WARMUP_MAX) ||
		    v != (unsigned int)v) {
			fprintf(stderr, "podlaned: --anomaly-warmup wants whole seconds from %d "
				"to %d, got '%s'\n", ANOMALY_WARMUP_MIN, ANOMALY_WARMUP_MAX, arg);
			return -1;
		}
		o->warmup = v;
		return 0;
	}
	return -1;
}

int anomaly_open(struct agent *a, const struct anomaly_opts *o)
{
	struct anomaly_mod *m;
	int s;

	if (o->off) {
		log_info("anomaly alerts off (--no-anomaly)");
		return 0;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->o = *o;
	for (s = 0; s < AS_NR; s++) {
		anomaly_config_default(&m->cfg[s], series_info[s].floor);
		m->cfg[s].k = o->k;
		m->cfg[s].zmax = o->z;
		m->cfg[s].warmup = o->warmup;
		if (anomaly_config_check(&m->cfg[s])) {
			free(m);
			return -EINVAL;
		}
	}
	a->anomaly = m;
	log_info("anomaly alerts on k=%u z=%g warmup=%u", o->k, o->z, o->warmup);
	return 0;
}

void anomaly_close(struct agent *a)
{
	struct anomaly_mod *m = a->anomaly;

	if (!m)
		return;
	free(m->pods);
	free(m);
	a->anomaly = NULL;
}

/* "namespace/name" when policy/ knows the pod's names, else the container id (short). */
static void pod_name(struct agent *a, __u32 ifindex, const char *cid, char *buf, size_t n)
{
	const struct policy_pod *pp = policy_pod_meta(a, ifindex);

	if (pp && pp->name && pp->name[0])
		snprintf(buf, n, "%s/%s", pp->namespace ? pp->namespace : "", pp->name);
	else
		snprintf(buf, n, "%.12s", cid);
}

static void alert_fill(struct agent *a, const struct anomaly_pod *ap, const struct acct_pod *p,
		       int s, struct anomaly_alert *al)
{
	const struct anomaly *d = &ap->det[s];

	memset(al, 0, sizeof(*al));
	al->series = s;
	pod_name(a, ap->ifindex, ap->container_id, al->pod, sizeof(al->pod));
	snprintf(al->container_id, sizeof(al->container_id), "%s", ap->container_id);
	if (p) {
		snprintf(al->host_ifname, sizeof(al->host_ifname), "%s", p->meta.host_ifname);
		snprintf(al->ip, sizeof(al->ip), "%s", p->ip);
	}
	al->value = d->value;
	al->baseline = d->baseline;
	al->z = d->z;
	al->peak_z = d->peak_z;
	al->onset_value = d->onset_value;
	al->onset_baseline = d->onset_baseline;
	al->onset_z = d->onset_z;
	al->since_ns = ap->since_ns[s];
}

static void event_add(struct agent *a, struct anomaly_mod *m, const struct anomaly_pod *ap,
		      const struct acct_pod *p, int s, bool resolved)
{
	struct anomaly_alert *ev = &m->ring[m->newest % ANOMALY_RING_SIZE];

	alert_fill(a, ap, p, s, ev);
	ev->seq = ++m->newest;
	ev->at_ns = m->tick_rt_ns;
	ev->resolved = resolved;
	if (resolved)
		m->resolved[s]++;
	else
		m->fired[s]++;
	log_info("anomaly %s pod=%s container_id=%.12s series=%s value=%g baseline=%g z=%.1f "
		 "peak_z=%.1f", resolved ? "resolved" : "firing", ev->pod, ev->container_id,
		 series_info[s].name, ev->value, ev->baseline, ev->z, ev->peak_z);
}

static struct anomaly_pod *pod_get(struct anomaly_mod *m, const struct acct_pod *p)
{
	struct anomaly_pod *ap, *n;
	size_t i;
	int s;

	for (i = 0; i < m->npods; i++) {
		ap = &m->pods[i];
		if (ap->ifindex == p->ifindex && ap->netns_cookie == p->meta.netns_cookie &&
		    !strcmp(ap->container_id, p->meta.container_id))
			return ap;
	}
	n = realloc(m->pods, (m->npods + 1) * sizeof(*n));
	if (!n)
		return NULL;
	m->pods = n;
	ap = &m->pods[m->npods++];
	memset(ap, 0, sizeof(*ap));
	ap->ifindex = p->ifindex;
	ap->netns_cookie = p->meta.netns_cookie;
	snprintf(ap->container_id, sizeof(ap->container_id), "%s", p->meta.container_id);
	for (s = 0; s < AS_NR; s++)
		anomaly_init(&ap->det[s]);
	return ap;
}

static void feed(struct agent *a, struct anomaly_mod *m, struct anomaly_pod *ap,
		 const struct acct_pod *p, int s, double x)
{
	struct anomaly *d = &ap->det[s];
	enum anomaly_event ev = anomaly_update(d, &m->cfg[s], x);

	if (d->hit && d->since == d->n)
		ap->since_ns[s] = m->tick_rt_ns;
	if (ev == ANOMALY_EV_FIRING)
		event_add(a, m, ap, p, s, false);
	else if (ev == ANOMALY_EV_RESOLVED)
		event_add(a, m, ap, p, s, true);
}

static void pod_sample(struct agent *a, struct anomaly_mod *m, const struct acct *ac,
		       const struct acct_pod *p, double dt)
{
	struct anomaly_pod *ap = pod_get(m, p);
	struct endpoint_stats st;
	bool have_st;
	__u64 drops = 0, bytes = 0;
	int i;

	if (!ap)
		return;
	ap->present = true;
	have_st = !eps_stat_read(a, p->ifindex, &st);
	if (have_st) {
		for (i = 0; i < PODLANE_DROP_SLOTS; i++)
			drops += st.drops[i];
		bytes = st.rx_bytes + st.tx_bytes;
	}
	/* Rates need two ticks; acct's rates too (the first is 0). */
	if (ap->ticks++ && dt > 0) {
		if (p->tied) {
			feed(a, m, ap, p, AS_CPU, p->rate.cpu_cores);
			if (ac->bpf)
				feed(a, m, ap, p, AS_RUNQ, p->rate.runq_per_s);
		}
		if (p->has_memory) {
			feed(a, m, ap, p, AS_MEMORY, (double)p->memory_bytes);
			if (ap->have_mem)
				feed(a, m, ap, p, AS_MEMORY_GROWTH,
				     ((double)p->memory_bytes - ap->prev_mem) / dt);
		}
		if (have_st && ap->have_prev) {
			feed(a, m, ap, p, AS_DROPS,
			     drops >= ap->prev_drops ? (drops - ap->prev_drops) / dt : 0);
			feed(a, m, ap, p, AS_TRAFFIC,
			     bytes >= ap->prev_bytes ? (bytes - ap->prev_bytes) / dt : 0);
		}
	}
	ap->have_mem = p->has_memory;
	ap->prev_mem = p->memory_bytes;
	ap->have_prev = have_st;
	ap->prev_drops = drops;
	ap->prev_bytes = bytes;
}

void anomaly_tick(struct agent *a)
{
	struct anomaly_mod *m = a->anomaly;
	const struct acct *ac = a->acct;
	__u64 now = mono_ns();
	double dt;
	size_t i;
	int s;

	if (!m || !ac)
		return;
	dt = m->last_ns ? (now - m->last_ns) / 1e9 : 0;
	m->last_ns = now;
	m->ticks++;
	m->tick_rt_ns = clock_ns(CLOCK_REALTIME);
	for (i = 0; i < m->npods; i++)
		m->pods[i].present = false;
	for (i = 0; i < ac->npods; i++)
		pod_sample(a, m, ac, &ac->pods[i], dt);
	for (i = 0; i < m->npods;) {
		struct anomaly_pod *ap = &m->pods[i];

		if (ap->present) {
			i++;
			continue;
		}
		for (s = 0; s < AS_NR; s++)
			if (ap->det[s].state == ANOMALY_FIRING)
				event_add(a, m, ap, NULL, s, true);
		m->pods[i] = m->pods[--m->npods];
	}
}

void anomaly_stats_get(struct agent *a, struct anomaly_stats *st)
{
	struct anomaly_mod *m = a->anomaly;
	size_t i;
	int s;

	memset(st, 0, sizeof(*st));
	if (!m)
		return;
	st->on = true;
	st->k = m->o.k;
	st->z = m->o.z;
	st->warmup = m->o.warmup;
	st->newest = m->newest;
	st->pods = m->npods;
	memcpy(st->fired, m->fired, sizeof(st->fired));
	memcpy(st->resolved, m->resolved, sizeof(st->resolved));
	st->ticks = m->ticks;
	for (i = 0; i < m->npods; i++)
		for (s = 0; s < AS_NR; s++) {
			const struct anomaly *d = &m->pods[i].det[s];

			st->active[s] += d->state == ANOMALY_FIRING;
			st->series += d->n > 0;
			st->warming += d->n > 0 && d->state == ANOMALY_WARMUP;
		}
}

int anomaly_events_walk(struct agent *a, uint64_t after,
			int (*cb)(const struct anomaly_alert *ev, void *data), void *data)
{
	struct anomaly_mod *m = a->anomaly;
	__u64 seq, first;
	int rc;

	if (!m)
		return 0;
	first = m->newest > ANOMALY_RING_SIZE ? m->newest - ANOMALY_RING_SIZE + 1 : 1;
	for (seq = after + 1 > first ? after + 1 : first; seq <= m->newest; seq++) {
		rc = cb(&m->ring[(seq - 1) % ANOMALY_RING_SIZE], data);
		if (rc)
			return rc;
	}
	return 0;
}

int anomaly_active_walk(struct agent *a, int (*cb)(const struct anomaly_alert *al, void *data),
			void *data)
{
	struct anomaly_mod *m = a->anomaly;
	struct anomaly_alert al;
	size_t i;
	int s, rc;

	if (!m || !a->acct)
		return 0;
	for (i = 0; i < m->npods; i++) {
		const struct anomaly_pod *ap = &m->pods[i];

		for (s = 0; s < AS_NR; s++) {
			if (ap->det[s].state != ANOMALY_FIRING)
				continue;
			alert_fill(a, ap, acct_pod_find(a->acct, ap->ifindex), s, &al);
			al.at_ns = m->tick_rt_ns;
			rc = cb(&al, data);
			if (rc)
				return rc;
		}
	}
	return 0;
}
