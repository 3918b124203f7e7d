// SPDX-License-Identifier: GPL-2.0-only
/*
 * recommend.c - `podlanectl recommend`: podlaned's CPU and memory request recommendations per
 * pod, with the Vertical Pod Autoscaler recommender's formula (userspace/lib/sizing.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "sizing.h"

static const char recommend_usage[] =
	"Usage: podlanectl [--socket PATH] [--json] recommend\n"
	"\n"
	"Request recommendations per pod, computed by podlaned from the pod's own CPU time and\n"
	"memory with the Kubernetes Vertical Pod Autoscaler recommender's formula: decaying\n"
	"histograms (24 h half-life), target = p90 + 15%%, lower bound = (p50 + 15%%) x\n"
	"(1 + 0.001/c)^-2, upper bound = (p95 + 15%%) x (1 + 1/c), c the confidence (days of\n"
	"history), at least 25m CPU and 250Mi memory. An upper bound shows 'inf' until there is\n"
	"some history. Pods gone from the node are listed while their history is kept (8 days),\n"
	"with LIVE no. --json prints podlaned's reply.\n";

static void cpu_text(char *buf, size_t len, double cores)
{
	if (cores * 1000 >= (double)SIZING_MAX_AMOUNT)
		snprintf(buf, len, "inf");
	else
		snprintf(buf, len, "%.0fm", cores * 1000);
}

static void mem_text(char *buf, size_t len, int64_t bytes)
{
	if (bytes >= SIZING_MAX_AMOUNT)
		snprintf(buf, len, "inf");
	else
		snprintf(buf, len, "%.0fMi", bytes / 1048576.0);
}

static int cid_cmp(const void *x, const void *y)
{
	const struct api_recommend_pod *a = x, *b = y;

	if (a->live != b->live)
		return a->live ? -1 : 1;
	return strcmp(a->container_id, b->container_id);
}

int cmd_recommend(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = {
		"CONTAINER", "LIVE", "CPU", "CPU-LOW", "CPU-HIGH", "MEMORY", "MEM-LOW", "MEM-HIGH",
		"CONFIDENCE", "SAMPLES",
	};
	struct api_recommend_req req = {};
	struct api_recommend_reply r;
	struct json_object *raw;
	struct api_error e;
	char f[10][64];
	struct table t;
	size_t i;
	int rc;

	rc = parse_command_opts(argc, argv, o, "recommend", recommend_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = api_recommend_call(o->socket_path, CTL_TIMEOUT_MS, &req, &r, &raw, &e);
	if (rc)
		return ctl_failed(o, PODLANE_OP_RECOMMEND, rc, &e);
	if (o->json) {
		ctl_print_json(raw);
		goto out;
	}
	if (r.n_pods)
		qsort(r.pods, r.n_pods, sizeof(*r.pods), cid_cmp);
	printf("one sample every %llds, confidence in days; checkpoint %s%s\n\n",
	       (long long)r.interval_s, r.checkpoint, r.refused ? " (refused at start-up)" : "");
	table_init(&t, 10, head);
	for (i = 0; i < r.n_pods; i++) {
		const struct api_recommend_pod *p = &r.pods[i];

		snprintf(f[0], sizeof(f[0]), "%.12s", p->container_id);
		cpu_text(f[2], sizeof(f[2]), p->cpu.target);
		cpu_text(f[3], sizeof(f[3]), p->cpu.lower);
		cpu_text(f[4], sizeof(f[4]), p->cpu.upper);
		mem_text(f[5], sizeof(f[5]), p->memory.target);
		mem_text(f[6], sizeof(f[6]), p->memory.lower);
		mem_text(f[7], sizeof(f[7]), p->memory.upper);
		snprintf(f[8], sizeof(f[8]), "%.3g", p->confidence);
		snprintf(f[9], sizeof(f[9]), "%lld", (long long)p->samples);
		table_add(&t, (const char *const[]){ f[0], p->live ? "yes" : "no", f[2], f[3],
						    f[4], f[5], f[6], f[7], f[8], f[9] });
	}
	table_print(&t);
	table_free(&t);
out:
	api_recommend_reply_free(&r);
	json_object_put(raw);
	return 0;
}
