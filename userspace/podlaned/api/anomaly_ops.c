// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/anomaly_ops.c - the anomaly_events op: the events anomaly/ keeps and the alerts firing
 * now, as `podlanectl events` shows them.
 */
#include <stdlib.h>

#include "api.h"
#include "anomaly/anomaly.h"
#include "api/ops.h"
#include "core/agent.h"

#define EVENTS_MAX	200
#define ACTIVE_MAX	100

struct collect {
	struct api_anomaly *v;
	size_t n, cap, max;
	/* The alerts' own copies: the API structs point into them. */
	struct anomaly_alert *al;
};

static struct api_anomaly to_api(const struct anomaly_alert *al)
{
	return (struct api_anomaly){
		.seq = al->seq,
		.time_ns = al->at_ns,
		.state = al->resolved ? "resolved" : "firing",
		.pod = al->pod,
		.container_id = al->container_id,
		.host_ifname = al->host_ifname,
		.ip = al->ip,
		.series = anomaly_series_name(al->series),
		.unit = anomaly_series_unit(al->series),
		.value = al->value,
		.baseline = al->baseline,
		.z = al->z,
		.peak_z = al->peak_z,
		.since_ns = al->since_ns,
	};
}

static int collect_cb(const struct anomaly_alert *al, void *data)
{
	struct collect *c = data;

	/* Bounded lists (EVENTS_MAX, ACTIVE_MAX): a reply stays below the message limit
	 * (PODLANE_API_MAX_MSG) even with the longest pod names (~800 bytes an entry). */
	if (c->n == c->max)
		return 1;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct anomaly_alert *n = realloc(c->al, cap * sizeof(*n));

		if (!n)
			return -1;
		c->al = n;
		c->cap = cap;
	}
	c->al[c->n++] = *al;
	return 0;
}

/* The API view of what collect_cb kept (its strings point into c->al). */
static int collect_finish(struct collect *c)
{
	size_t i;

	c->v = calloc(c->n ? c->n : 1, sizeof(*c->v));
	if (!c->v)
		return -1;
	for (i = 0; i < c->n; i++)
		c->v[i] = to_api(&c->al[i]);
	return 0;
}

struct json_object *api_anomaly_events(struct agent *a, struct json_object *req)
{
	struct collect ev = { .max = EVENTS_MAX }, act = { .max = ACTIVE_MAX };
	uint64_t after;
	struct api_anomaly_events_reply r = {};
	struct api_anomaly_events_req rq;
	struct anomaly_stats st;
	struct api_error e = {};
	struct json_object *o = NULL;

	if (api_anomaly_events_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	anomaly_stats_get(a, &st);
	if (!st.on) {
		api_fail(&e, PODLANE_ERR_NOT_AVAILABLE, "anomaly alerts are off (--no-anomaly)");
		return api_reply_error(&e);
	}
	/* The newest EVENTS_MAX after the one asked for. */
	after = rq.has_after ? rq.after : 0;
	if (st.newest > EVENTS_MAX && after < st.newest - EVENTS_MAX)
		after = st.newest - EVENTS_MAX;
	if (anomaly_events_walk(a, after, collect_cb, &ev) < 0 ||
	    anomaly_active_walk(a, collect_cb, &act) < 0 || collect_finish(&ev) ||
	    collect_finish(&act))
		goto out;
	r = (struct api_anomaly_events_reply){
		.newest = st.newest,
		.k = st.k,
		.z_threshold = st.z,
		.warmup = st.warmup,
		.pods = st.pods,
		.ticks = st.ticks,
		.series = st.series,
		.warming = st.warming,
		.events = ev.v,
		.n_events = ev.n,
		.active = act.v,
		.n_active = act.n,
	};
	ev.v = act.v = NULL;
	o = api_anomaly_events_reply_encode(&r);
	api_anomaly_events_reply_free(&r);
out:
	free(ev.v);
	free(act.v);
	free(ev.al);
	free(act.al);
	return o ? o : api_reply_oom();
}
