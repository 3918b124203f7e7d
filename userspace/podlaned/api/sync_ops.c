// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/sync_ops.c - the etcd sync as the local API and Prometheus show it: sync_status and
 * sync_deadletters (userspace/lib/api_ops.h) and the sync's metric families, all built
 * from the typed snapshot sync/ gives (sync_status_get(), sync_deadletters_get()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>

#include "api/ops.h"
#include "core/agent.h"
#include "core/loop.h"
#include "sync/sync.h"

static struct api_latency latency_api(const struct sync_percentiles *p)
{
	return (struct api_latency){
		.count = p->count,
		.p50_us = p->p50_us,
		.p90_us = p->p90_us,
		.p99_us = p->p99_us,
		.max_us = p->max_us,
	};
}

/* The main loop's jobs, timed (core/loop.c): what held the thread that applies. */
static void loop_api(struct agent *a, struct api_sync_loop *out)
{
	struct api_loop_job *jobs[LOOP_JOBS] = {
		[LOOP_SYNC_APPLY] = &out->sync_apply,
		[LOOP_SYNC_SNAPSHOT] = &out->sync_snapshot,
		[LOOP_ACCT] = &out->acct_tick,
		[LOOP_METRICS] = &out->metrics,
		[LOOP_SERVICE] = &out->service_tick,
		[LOOP_CLIENT] = &out->api_request,
	};
	unsigned int i;

	for (i = 0; i < LOOP_JOBS; i++) {
		struct loop_stat l = loop_stat_get(a, i);

		*jobs[i] = (struct api_loop_job){
			.runs = l.runs,
			.avg_us = l.runs ? l.total_ns / l.runs / 1000 : 0,
			.max_us = l.max_ns / 1000,
			.over_1ms = l.over_1ms,
		};
	}
}

struct json_object *api_sync_status(struct agent *a, struct json_object *req)
{
	struct api_sync_status_reply r = {};
	struct api_sync_status_req rq;
	struct sync_status status, *st = &status;
	struct api_error e = {};
	char ip[INET_ADDRSTRLEN];

	if (api_sync_status_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (!sync_status_get(a, st, SYNC_STATUS_SIZES | SYNC_STATUS_LATENCY))
		return api_sync_status_reply_encode(&r);
	r = (struct api_sync_status_reply){
		.enabled = true,
		.state = st->state,
		.endpoint = st->endpoint,
		.last_error = st->last_error,
		.revision = st->revision,
		.pod_cidr = st->pod_cidr,
		.breaker = st->breaker_open ? "open" : "closed",
		.consecutive_failures = st->consecutive_failures,
		.deadletters = st->deadletters,
		.node = st->node,
		.node_ip = inet_ntop(AF_INET, &st->node_ip, ip, sizeof(ip)),
		.lease = {
			.id = st->lease_id,
			.ttl = st->lease_ttl,
			.remaining = st->lease_remaining,
		},
		.queue = {
			.depth = st->queue_depth,
			.capacity = st->queue_capacity,
		},
		.remote_endpoints = st->remote_endpoints,
		.nodes = st->nodes,
		.services = st->services,
		.latency = {
			.delivery = latency_api(&st->latency[SYNC_LAT_DELIVERY]),
			.apply = latency_api(&st->latency[SYNC_LAT_APPLY]),
			.agent = latency_api(&st->latency[SYNC_LAT_AGENT]),
			.handover = latency_api(&st->latency[SYNC_LAT_HANDOVER]),
		},
	};
	/* Every counter the sync keeps, by its name: a missing one does not compile. */
#define X(f) r.counters.f = st->c.f;
	SYNC_COUNTERS(X)
#undef X
	loop_api(a, &r.loop);
	return api_sync_status_reply_encode(&r);
}

struct json_object *api_sync_deadletters(struct agent *a, struct json_object *req)
{
	struct api_sync_deadletters_reply r = {};
	struct api_sync_deadletters_req rq;
	struct sync_deadletter *dl = NULL;
	struct api_error e = {};
	struct json_object *o;
	unsigned int i, n = 0;
	__u64 total = 0;
	int err;

	if (api_sync_deadletters_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	err = sync_deadletters_get(a, &dl, &n, &total);
	r.enabled = err != -ENOENT;
	r.total = total;
	r.deadletters = calloc(n ? n : 1, sizeof(*r.deadletters));
	if (!r.deadletters) {
		free(dl);
		return api_reply_oom();
	}
	for (i = 0; i < n; i++)
		r.deadletters[r.n_deadletters++] = (struct api_deadletter){
			.key = dl[i].key,
			.reason = dl[i].reason,
			.revision = dl[i].revision,
			.at = dl[i].at,
		};
	o = api_sync_deadletters_reply_encode(&r);
	api_sync_deadletters_reply_free(&r);
	free(dl);
	return o;
}

char *api_sync_metrics_text(struct agent *a)
{
	struct sync_status st;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!sync_status_get(a, &st, 0))
		return NULL;
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fprintf(f, "# HELP podlane_sync_deadletters_total Store records that failed validation.\n"
		"# TYPE podlane_sync_deadletters_total counter\n"
		"podlane_sync_deadletters_total %llu\n",
		(unsigned long long)st.c.deadletters);
	fprintf(f, "# HELP podlane_sync_deadletters Dead letters currently listed.\n"
		"# TYPE podlane_sync_deadletters gauge\npodlane_sync_deadletters %u\n",
		st.deadletters);
	fprintf(f, "# HELP podlane_sync_events_total Store events received, by source.\n"
		"# TYPE podlane_sync_events_total counter\n"
		"podlane_sync_events_total{source=\"watch\"} %llu\n"
		"podlane_sync_events_total{source=\"list\"} %llu\n",
		(unsigned long long)st.c.events, (unsigned long long)st.c.listed);
	fprintf(f, "# HELP podlane_sync_applied_total Store events applied on this node.\n"
		"# TYPE podlane_sync_applied_total counter\npodlane_sync_applied_total %llu\n",
		(unsigned long long)st.c.applied);
	fprintf(f, "# HELP podlane_sync_resyncs_total Full lists of the store.\n"
		"# TYPE podlane_sync_resyncs_total counter\npodlane_sync_resyncs_total %llu\n",
		(unsigned long long)st.c.resyncs);
	fprintf(f, "# HELP podlane_sync_failures_total Failed store calls.\n"
		"# TYPE podlane_sync_failures_total counter\npodlane_sync_failures_total %llu\n",
		(unsigned long long)st.c.failures);
	fprintf(f, "# HELP podlane_sync_breaker_open 1 while the store's circuit breaker is "
		"open.\n# TYPE podlane_sync_breaker_open gauge\npodlane_sync_breaker_open %d\n",
		st.breaker_open);
	fprintf(f, "# HELP podlane_sync_queue_depth Events waiting for the map writers.\n"
		"# TYPE podlane_sync_queue_depth gauge\npodlane_sync_queue_depth %u\n",
		st.queue_depth);
	fprintf(f, "# HELP podlane_sync_revision Store revision applied up to.\n"
		"# TYPE podlane_sync_revision gauge\npodlane_sync_revision %lld\n",
		(long long)st.revision);
	fclose(f);
	return buf;
}
