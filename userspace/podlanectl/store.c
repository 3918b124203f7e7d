// SPDX-License-Identifier: GPL-2.0-only
/*
 * store.c - `podlanectl sync status` and `podlanectl deadletters`: what podlaned's
 * control-plane sync through etcd is doing, and the store records it refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
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

static void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
}

static bool enabled(struct json_object *reply)
{
	struct json_object *v;

	return json_object_object_get_ex(reply, "enabled", &v) && json_object_get_boolean(v);
}

static void print_status(struct json_object *r)
{
	struct json_object *c = NULL, *lat = NULL, *d = NULL, *ap = NULL;

	json_object_object_get_ex(r, "counters", &c);
	json_object_object_get_ex(r, "latency", &lat);
	if (lat) {
		json_object_object_get_ex(lat, "delivery", &d);
		json_object_object_get_ex(lat, "apply", &ap);
	}
	printf("state:            %s\n", ctl_str(r, "state", "-"));
	printf("endpoint:         %s\n", ctl_str(r, "endpoint", "-"));
	printf("node:             %s (%s)\n", ctl_str(r, "node", "-"), ctl_str(r, "node_ip", "-"));
	printf("pod CIDR:         %s\n", *ctl_str(r, "pod_cidr", "") ? ctl_str(r, "pod_cidr", "") :
	       "-");
	printf("revision:         %.0f\n", ctl_num(r, "revision"));
	printf("lease:            %.0f (ttl %.0fs, %.0fs left)\n", ctl_num(r, "lease.id"),
	       ctl_num(r, "lease.ttl"), ctl_num(r, "lease.remaining"));
	printf("breaker:          %s (%.0f consecutive failures)\n",
	       ctl_str(r, "breaker", "-"), ctl_num(r, "consecutive_failures"));
	printf("queue:            %.0f / %.0f\n", ctl_num(r, "queue.depth"),
	       ctl_num(r, "queue.capacity"));
	printf("remote endpoints: %.0f\n", ctl_num(r, "remote_endpoints"));
	printf("nodes:            %.0f\n", ctl_num(r, "nodes"));
	printf("services:         %.0f\n", ctl_num(r, "services"));
	printf("dead letters:     %.0f (%.0f ever)\n", ctl_num(r, "deadletters"),
	       ctl_num(c, "deadletters"));
	printf("events:           %.0f watched, %.0f listed, %.0f applied\n",
	       ctl_num(c, "events"), ctl_num(c, "listed"), ctl_num(c, "applied"));
	printf("resyncs:          %.0f (%.0f after compaction, last took %.0f ms)\n",
	       ctl_num(c, "resyncs"), ctl_num(c, "compactions"), ctl_num(c, "resync_ms_last"));
	printf("failures:         %.0f (%.0f reconnects, breaker opened %.0f times)\n",
	       ctl_num(c, "failures"), ctl_num(c, "reconnects"), ctl_num(c, "breaker_opens"));
	printf("published:        %.0f puts, %.0f deletes, %.0f errors\n",
	       ctl_num(c, "published_puts"), ctl_num(c, "published_deletes"),
	       ctl_num(c, "publish_errors"));
	if (d && ap)
		printf("latency:          delivery p50 %.0fus p99 %.0fus, applied p50 %.0fus "
		       "p99 %.0fus (%.0f events)\n", ctl_num(d, "p50_us"), ctl_num(d, "p99_us"),
		       ctl_num(ap, "p50_us"), ctl_num(ap, "p99_us"), ctl_num(ap, "count"));
	if (*ctl_str(r, "last_error", ""))
		printf("last error:       %s\n", ctl_str(r, "last_error", ""));
}

int cmd_sync(struct ctl_opts *o, int argc, char **argv)
{
	struct json_object *reply;
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
	rc = ctl_request(o, PODLANE_OP_SYNC_STATUS, &reply);
	if (rc)
		return rc;
	if (o->json)
		print_json(reply);
	else if (!enabled(reply))
		printf("standalone: podlaned runs without --etcd-endpoints\n");
	else
		print_status(reply);
	json_object_put(reply);
	return 0;
}

int cmd_deadletters(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = { "KEY", "REVISION", "AGE", "REASON" };
	struct json_object *reply, *arr;
	struct table t;
	time_t now = time(NULL);
	size_t i;
	int rc;

	rc = parse_command_opts(argc, argv, o, "deadletters", deadletters_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = ctl_request(o, PODLANE_OP_DEADLETTERS, &reply);
	if (rc)
		return rc;
	if (o->json) {
		print_json(reply);
		json_object_put(reply);
		return 0;
	}
	if (!enabled(reply)) {
		printf("standalone: podlaned runs without --etcd-endpoints\n");
		json_object_put(reply);
		return 0;
	}
	table_init(&t, 4, head);
	json_object_object_get_ex(reply, "deadletters", &arr);
	for (i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *d = json_object_array_get_idx(arr, i);
		char rev[32], age[32];
		const char *row[4];

		snprintf(rev, sizeof(rev), "%.0f", ctl_num(d, "revision"));
		snprintf(age, sizeof(age), "%.0fs", now - ctl_num(d, "at"));
		row[0] = ctl_str(d, "key", "-");
		row[1] = ctl_num(d, "revision") ? rev : "-";
		row[2] = age;
		row[3] = ctl_str(d, "reason", "-");
		table_add(&t, row);
	}
	table_print(&t);
	table_free(&t);
	printf("%.0f dead letters ever\n", ctl_num(reply, "total"));
	json_object_put(reply);
	return 0;
}
