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
	"Usage: podlanectl [--socket PATH] [--json] hints [--cluster]\n"
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
	"sorted the same way.\n"
	"\n"
	"--cluster: every node of the cluster (from etcd) as the scheduler extender scores it\n"
	"now: SCORE 0-10 = 10 x (100 - EFFECTIVE) / 100, EFFECTIVE = PRESSURE (the largest of\n"
	"cpu_pressure, runq, memory) + PENDING (pods placed there that its hints do not show\n"
	"yet); AGE of its hints; a STALE node (no hints, or too old) passes filter and scores 0;\n"
	"SAT marks what filter turns down. CPU (busy) is shown, never scored.\n";

static int cmd_hints_cluster(struct ctl_opts *o)
{
	static const char *const head[] = {
		"NODE", "SCORE", "PRESSURE", "DOMINANT", "CPU_PSI", "RUNQ", "MEMORY", "CPU",
		"PENDING", "AGE", "STATE",
	};
	struct api_hints_cluster_req req = {};
	struct api_hints_cluster_reply r;
	struct json_object *raw;
	struct api_error e;
	char f[11][64];
	struct table t;
	size_t i;
	int rc;

	rc = api_hints_cluster_call(o->socket_path, CTL_TIMEOUT_MS, &req, &r, &raw, &e);
	if (rc)
		return ctl_failed(o, PODLANE_OP_HINTS_CLUSTER, rc, &e);
	if (o->json) {
		ctl_print_json(raw);
		goto out;
	}
	table_init(&t, 11, head);
	for (i = 0; i < r.n_nodes; i++) {
		const struct api_cluster_node *n = &r.nodes[i];

		snprintf(f[1], sizeof(f[1]), "%lld", (long long)n->score);
		snprintf(f[2], sizeof(f[2]), "%.0f", n->pressure);
		snprintf(f[4], sizeof(f[4]), "%.1f", n->cpu_pressure);
		snprintf(f[5], sizeof(f[5]), "%.1f", n->runq);
		snprintf(f[6], sizeof(f[6]), "%.1f", n->memory);
		snprintf(f[7], sizeof(f[7]), "%.0f", n->cpu);
		snprintf(f[8], sizeof(f[8]), "%lld (%.2f cpu)", (long long)n->pending_pods,
			 n->pending_cpu);
		if (n->known)
			snprintf(f[9], sizeof(f[9]), "%.1fs", n->age_s);
		else
			snprintf(f[9], sizeof(f[9]), "-");
		snprintf(f[10], sizeof(f[10]), "%s", !n->known ? "no-hints" : n->stale ? "stale" :
			 n->saturated ? "saturated" : "fresh");
		table_add(&t, (const char *const[]){ ctl_text(n->node), f[1], f[2],
						    ctl_text(n->dominant), f[4], f[5], f[6], f[7],
						    f[8], f[9], f[10] });
	}
	table_print(&t);
	table_free(&t);
	printf("\nfilter: pressure >= %.0f is saturated; hints older than %lld ms are stale; "
	       "extender %s\n", r.saturated, (long long)r.stale_ms,
	       r.extender ? "serving" : "off (--extender-addr)");
out:
	api_hints_cluster_reply_free(&r);
	json_object_put(raw);
	return 0;
}

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

	bool cluster = false;
	int j, k;

	/* --cluster is this command's own: taken out before the common options. */
	for (j = k = 0; j < argc; j++) {
		if (j && !strcmp(argv[j], "--cluster"))
			cluster = true;
		else
			argv[k++] = argv[j];
	}
	argc = k;
	rc = parse_command_opts(argc, argv, o, "hints", hints_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (cluster)
		return cmd_hints_cluster(o);
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
