// SPDX-License-Identifier: GPL-2.0-only
/*
 * store.c - `podlanectl sync status` and `podlanectl deadletters`: what podlaned's
 * control-plane sync through etcd is doing, and the store records it refused.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

static const char sync_usage[] =
	"Usage: podlanectl [--socket PATH] [--json] sync status\n"
	"\n"
	"State of podlaned's sync with etcd: connection, revision applied, lease, this node's pod\n"
	"CIDR, queue, circuit breaker, counters and propagation latency (from a record's write\n"
	"to etcd to podlaned's map update). 'standalone' when podlaned runs without\n"
	"--etcd-endpoints.\n";

static const char deadletters_usage[] =
	"Usage: podlanectl [--socket PATH] [--json] deadletters\n"
	"\n"
	"Store records podlaned refused (bad key, bad value, a service spec or node record that\n"
	"fails validation), newest last, with the reason. A key leaves the list once it holds a\n"
	"valid record or is deleted.\n";

static void print_latency(const struct api_sync_latency *l)
{
	printf("latency:          delivery p50 %" PRId64 "us p99 %" PRId64 "us, applied p50 %"
	       PRId64 "us p99 %" PRId64 "us (%" PRId64 " events)\n", l->delivery.p50_us,
	       l->delivery.p99_us, l->apply.p50_us, l->apply.p99_us, l->apply.count);
}

static void print_status(const struct api_sync_status_reply *r)
{
	const struct api_sync_counters *c = &r->counters;

	printf("state:            %s\n", ctl_text(r->state));
	printf("endpoint:         %s\n", ctl_text(r->endpoint));
	printf("node:             %s (%s)\n", ctl_text(r->node), ctl_text(r->node_ip));
	printf("pod CIDR:         %s\n", ctl_text(r->pod_cidr));
	printf("revision:         %" PRId64 "\n", r->revision);
	printf("lease:            %" PRId64 " (ttl %" PRId64 "s, %" PRId64 "s left)\n",
	       r->lease.id, r->lease.ttl, r->lease.remaining);
	printf("breaker:          %s (%" PRId64 " consecutive failures)\n", ctl_text(r->breaker),
	       r->consecutive_failures);
	printf("queue:            %" PRId64 " / %" PRId64 "\n", r->queue.depth,
	       r->queue.capacity);
	printf("remote endpoints: %" PRId64 "\n", r->remote_endpoints);
	printf("nodes:            %" PRId64 "\n", r->nodes);
	printf("services:         %" PRId64 "\n", r->services);
	printf("dead letters:     %" PRId64 " (%" PRId64 " ever)\n", r->deadletters,
	       c->deadletters);
	printf("events:           %" PRId64 " watched, %" PRId64 " listed, %" PRId64 " applied\n",
	       c->events, c->listed, c->applied);
	printf("resyncs:          %" PRId64 " (%" PRId64 " after compaction, last took %" PRId64
	       " ms)\n", c->resyncs, c->compactions, c->resync_ms_last);
	printf("failures:         %" PRId64 " (%" PRId64 " reconnects, breaker opened %" PRId64
	       " times)\n", c->failures, c->reconnects, c->breaker_opens);
	printf("published:        %" PRId64 " puts, %" PRId64 " deletes, %" PRId64 " errors\n",
	       c->published_puts, c->published_deletes, c->publish_errors);
	print_latency(&r->latency);
	if (r->last_error && *r->last_error)
		printf("last error:       %s\n", r->last_error);
}

int cmd_sync(struct ctl_opts *o, int argc, char **argv)
{
	struct api_sync_status_req req = {};
	struct api_sync_status_reply r;
	struct json_object *raw;
	struct api_error e;
	int rc;

	/* "sync" and "sync status" are the same. */
	if (argc > 1 && !strcmp(argv[1], "status")) {
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	rc = parse_command_opts(argc, argv, o, "sync", sync_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = api_sync_status_call(o->socket_path, CTL_TIMEOUT_MS, &req, &r, &raw, &e);
	if (rc)
		return ctl_failed(o, PODLANE_OP_SYNC_STATUS, rc, &e);
	if (o->json)
		ctl_print_json(raw);
	else if (!r.enabled)
		printf("standalone: podlaned runs without --etcd-endpoints\n");
	else
		print_status(&r);
	api_sync_status_reply_free(&r);
	json_object_put(raw);
	return 0;
}

int cmd_deadletters(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = { "KEY", "REVISION", "AGE", "REASON" };
	struct api_sync_deadletters_req req = {};
	struct api_sync_deadletters_reply r;
	struct json_object *raw;
	struct api_error e;
	time_t now = time(NULL);
	struct table t;
	size_t i;
	int rc;

	rc = parse_command_opts(argc, argv, o, "deadletters", deadletters_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = api_sync_deadletters_call(o->socket_path, CTL_TIMEOUT_MS, &req, &r, &raw, &e);
	if (rc)
		return ctl_failed(o, PODLANE_OP_DEADLETTERS, rc, &e);
	if (o->json) {
		ctl_print_json(raw);
		goto out;
	}
	if (!r.enabled) {
		printf("standalone: podlaned runs without --etcd-endpoints\n");
		goto out;
	}
	table_init(&t, 4, head);
	for (i = 0; i < r.n_deadletters; i++) {
		const struct api_deadletter *d = &r.deadletters[i];
		char rev[32], age[32];

		snprintf(rev, sizeof(rev), "%" PRId64, d->revision);
		snprintf(age, sizeof(age), "%llds", (long long)(now - d->at));
		table_add(&t, (const char *const[]){ ctl_text(d->key), d->revision ? rev : "-",
						    age, ctl_text(d->reason) });
	}
	table_print(&t);
	table_free(&t);
	printf("%" PRId64 " dead letters ever\n", r.total);
out:
	api_sync_deadletters_reply_free(&r);
	json_object_put(raw);
	return 0;
}
