// SPDX-License-Identifier: GPL-2.0-only
/*
 * hints.c - `podlanectl hints`: podlaned's node and pod pressure scores (0 idle .. 100
 * saturated), highest first. The formula is documented in userspace/podlaned/hints.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char hints_usage[] =
	"Usage: podlanectl [--socket PATH] [--json] hints\n"
	"\n"
	"Pressure hints of the node and of each pod, 0 (idle) to 100 (saturated), recomputed by\n"
	"podlaned every second. A score is the largest of five parts, each 0-100:\n"
	"  cpu      node: CPU busy %; pod: CPU used / its cpu.max limit (or the node's CPUs)\n"
	"  cpu_pressure  4 x CPU PSI some avg10 (25%% of the time a task waited = 100)\n"
	"  runq     node: run-queue wait per CPU (100 = one task always waiting per CPU);\n"
	"           pod: share of its runnable time spent waiting for a CPU\n"
	"  memory   4 x memory PSI some avg10 (25%% stalled = 100); pod: or memory / limit\n"
	"  traffic  bytes per second sent + received / 10 Gbit/s\n"
	"DOMINANT names the part that sets the score. --json prints podlaned's reply, pods\n"
	"sorted the same way.\n";

static int score_cmp(const void *x, const void *y)
{
	double a = ((const struct api_hints_pod *)x)->hint.score;
	double b = ((const struct api_hints_pod *)y)->hint.score;

	return a < b ? 1 : a > b ? -1 : 0;
}

int cmd_hints(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = {
		"CONTAINER", "HOST-IF", "IP", "SCORE", "DOMINANT", "CPU", "RUNQ", "MEMORY",
		"TRAFFIC",
	};
	struct api_hints_req req = {};
	struct api_hints_reply r;
	const struct api_hint *h;
	struct json_object *raw;
	struct api_error e;
	char f[9][128];
	struct table t;
	size_t i;
	int rc;

	rc = parse_command_opts(argc, argv, o, "hints", hints_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = api_hints_call(o->socket_path, CTL_TIMEOUT_MS, &req, &r, &raw, &e);
	if (rc)
		return ctl_failed(o, PODLANE_OP_HINTS, rc, &e);
	if (r.n_pods)	/* no pods: r.pods is NULL, which qsort() must not get */
		qsort(r.pods, r.n_pods, sizeof(*r.pods), score_cmp);
	if (o->json) {
		struct json_object *sorted = api_encode(api_op_hints.reply, &r);

		ctl_print_json(sorted);
		json_object_put(sorted);
		goto out;
	}
	h = &r.node.hint;
	printf("node  score %.0f (%s)  cpu %.0f  cpu_pressure %.0f  runq %.0f  memory %.0f  "
	       "traffic %.0f  cpu headroom %.0f%%\n\n", h->score, ctl_text(h->dominant), h->cpu,
	       h->cpu_pressure, h->runq, h->memory, h->traffic, r.node.cpu_headroom);
	table_init(&t, 9, head);
	for (i = 0; i < r.n_pods; i++) {
		const struct api_hints_pod *p = &r.pods[i];

		h = &p->hint;
		snprintf(f[0], sizeof(f[0]), "%.12s", ctl_text(p->container_id));
		snprintf(f[3], sizeof(f[3]), "%.0f", h->score);
		snprintf(f[5], sizeof(f[5]), "%.1f", h->cpu);
		snprintf(f[6], sizeof(f[6]), "%.1f", h->runq);
		snprintf(f[7], sizeof(f[7]), "%.1f", h->memory);
		snprintf(f[8], sizeof(f[8]), "%.1f", h->traffic);
		table_add(&t, (const char *const[]){ f[0], ctl_text(p->host_ifname),
						    ctl_text(p->ip), f[3], ctl_text(h->dominant),
						    f[5], f[6], f[7], f[8] });
	}
	table_print(&t);
	table_free(&t);
out:
	api_hints_reply_free(&r);
	json_object_put(raw);
	return 0;
}
