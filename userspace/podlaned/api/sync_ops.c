// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/sync_ops.c - the etcd sync as the local API and Prometheus show it: sync_status and
 * sync_deadletters (protocol in userspace/lib/api.h) and the sync's metric families, all built
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

/* The names of the latency histograms in sync_status, by enum sync_latency. */
static const char *const latency_names[SYNC_LATENCIES] = {
	[SYNC_LAT_DELIVERY] = "delivery",
	[SYNC_LAT_APPLY] = "apply",
	[SYNC_LAT_AGENT] = "agent",
	[SYNC_LAT_HANDOVER] = "handover",
};

static struct json_object *percentiles_json(const struct sync_percentiles *p)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "count", json_object_new_int64(p->count));
	json_object_object_add(o, "p50_us", json_object_new_int64(p->p50_us));
	json_object_object_add(o, "p90_us", json_object_new_int64(p->p90_us));
	json_object_object_add(o, "p99_us", json_object_new_int64(p->p99_us));
	json_object_object_add(o, "max_us", json_object_new_int64(p->max_us));
	return o;
}

/* The main loop's jobs, timed (core/loop.c): what held the thread that applies. */
static struct json_object *loop_json(struct agent *a)
{
	struct json_object *o = json_object_new_object();
	unsigned int i;

	for (i = 0; i < LOOP_JOBS; i++) {
		struct loop_stat l = loop_stat_get(a, i);
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "runs", json_object_new_int64(l.runs));
		json_object_object_add(j, "avg_us", json_object_new_int64(l.runs ?
				       l.total_ns / l.runs / 1000 : 0));
		json_object_object_add(j, "max_us", json_object_new_int64(l.max_ns / 1000));
		json_object_object_add(j, "over_1ms", json_object_new_int64(l.over_1ms));
		json_object_object_add(o, loop_job_name(i), j);
	}
	return o;
}

struct json_object *api_sync_status(struct agent *a, struct json_object *req)
{
	struct json_object *o = api_reply_ok(), *c, *lease, *q, *lat;
	char ip[INET_ADDRSTRLEN];
	struct sync_status status, *st = &status;
	unsigned int i;

	if (!sync_status_get(a, st, SYNC_STATUS_SIZES | SYNC_STATUS_LATENCY)) {
		json_object_object_add(o, "enabled", json_object_new_boolean(0));
		return o;
	}
	json_object_object_add(o, "enabled", json_object_new_boolean(1));
	json_object_object_add(o, "state", json_object_new_string(st->state));
	json_object_object_add(o, "endpoint", json_object_new_string(st->endpoint));
	json_object_object_add(o, "last_error", json_object_new_string(st->last_error));
	json_object_object_add(o, "revision", json_object_new_int64(st->revision));
	json_object_object_add(o, "pod_cidr", json_object_new_string(st->pod_cidr));
	json_object_object_add(o, "breaker", json_object_new_string(st->breaker_open ? "open" :
								    "closed"));
	json_object_object_add(o, "consecutive_failures",
			       json_object_new_int(st->consecutive_failures));
	json_object_object_add(o, "deadletters", json_object_new_int(st->deadletters));
	json_object_object_add(o, "node", json_object_new_string(st->node));
	json_object_object_add(o, "node_ip", json_object_new_string(inet_ntop(AF_INET,
							&st->node_ip, ip, sizeof(ip))));
	lease = json_object_new_object();
	json_object_object_add(lease, "id", json_object_new_int64(st->lease_id));
	json_object_object_add(lease, "ttl", json_object_new_int(st->lease_ttl));
	json_object_object_add(lease, "remaining", json_object_new_int64(st->lease_remaining));
	json_object_object_add(o, "lease", lease);
	q = json_object_new_object();
	json_object_object_add(q, "depth", json_object_new_int(st->queue_depth));
	json_object_object_add(q, "capacity", json_object_new_int(st->queue_capacity));
	json_object_object_add(o, "queue", q);
	c = json_object_new_object();
#define X(f) json_object_object_add(c, #f, json_object_new_int64(st->c.f));
	SYNC_COUNTERS(X)
#undef X
	json_object_object_add(o, "counters", c);
	json_object_object_add(o, "remote_endpoints", json_object_new_int64(st->remote_endpoints));
	json_object_object_add(o, "nodes", json_object_new_int64(st->nodes));
	json_object_object_add(o, "services", json_object_new_int64(st->services));
	lat = json_object_new_object();
	for (i = 0; i < SYNC_LATENCIES; i++)
		json_object_object_add(lat, latency_names[i], percentiles_json(&st->latency[i]));
	json_object_object_add(o, "latency", lat);
	json_object_object_add(o, "loop", loop_json(a));
	return o;
}

struct json_object *api_sync_deadletters(struct agent *a, struct json_object *req)
{
	struct json_object *o = api_reply_ok(), *arr = json_object_new_array();
	struct sync_deadletter *dl;
	unsigned int i, n;
	__u64 total;
	int err = sync_deadletters_get(a, &dl, &n, &total);

	json_object_object_add(o, "enabled", json_object_new_boolean(err != -ENOENT));
	for (i = 0; i < n; i++) {
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "key", json_object_new_string(dl[i].key));
		json_object_object_add(d, "reason", json_object_new_string(dl[i].reason));
		json_object_object_add(d, "revision", json_object_new_int64(dl[i].revision));
		json_object_object_add(d, "at", json_object_new_int64(dl[i].at));
		json_object_array_add(arr, d);
	}
	free(dl);
	if (err != -ENOENT)
		json_object_object_add(o, "total", json_object_new_int64(total));
	json_object_object_add(o, "deadletters", arr);
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
