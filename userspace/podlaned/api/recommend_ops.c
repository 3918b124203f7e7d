// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/recommend_ops.c - the recommend op and the recommendation metrics: recommend/'s sizing
 * histories as the API and Prometheus show them. Metrics cover live pods only, six series and
 * two more per pod (resource x kind, confidence, samples), so the cardinality follows the pods
 * on the node, never the histories kept for gone ones.
 */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "api/ops.h"
#include "core/agent.h"
#include "recommend/recommend.h"

static struct api_recommend_pod pod_api(const struct recommend_pod *p)
{
	const struct sizing_estimate *e = &p->est;

	return (struct api_recommend_pod){
		.container_id = p->container_id,
		.live = p->live,
		.host_ifname = p->live ? p->host_ifname : NULL,
		.ip = p->live ? p->ip : NULL,
		.cpu = {
			.target = e->cpu_target_mcpu / 1000.0,
			.lower = e->cpu_lower_mcpu / 1000.0,
			.upper = e->cpu_upper_mcpu / 1000.0,
		},
		.memory = {
			.target = e->mem_target_bytes,
			.lower = e->mem_lower_bytes,
			.upper = e->mem_upper_bytes,
		},
		.confidence = (long long)(e->confidence * 1e6 + 0.5) / 1e6,
		.samples = (int64_t)p->st.samples,
		.first_sample_ms = p->st.samples ? p->st.first_ms : 0,
		.last_sample_ms = p->st.samples ? p->st.last_ms : 0,
	};
}

struct json_object *api_recommend(struct agent *a, struct json_object *req)
{
	struct recommend *r = a->recommend;
	struct api_recommend_reply rep;
	struct api_recommend_req rq;
	struct api_error e = {};
	struct json_object *o;
	size_t i;

	if (api_recommend_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (!r) {
		api_fail(&e, PODLANE_ERR_NOT_AVAILABLE, "sizing recommendations are not running");
		return api_reply_error(&e);
	}
	rep = (struct api_recommend_reply){
		.interval_s = r->interval_s,
		.samples_per_day = r->samples_per_day,
		.half_life_s = SIZING_HALF_LIFE_MS / 1000,
		.samples = (int64_t)r->samples,
		.checkpoint = r->path,
		.checkpoint_ms = r->checkpoint_ms,
		.checkpoint_errors = (int64_t)r->checkpoint_errors,
		.restored = r->loaded,
		.refused = r->refused[0] ? r->refused : NULL,
		.pods = calloc(r->npods ? r->npods : 1, sizeof(*rep.pods)),
		.n_pods = r->npods,
	};
	if (!rep.pods)
		return api_reply_oom();
	for (i = 0; i < r->npods; i++)
		rep.pods[i] = pod_api(&r->pods[i]);
	o = api_recommend_reply_encode(&rep);
	api_recommend_reply_free(&rep);
	return o;
}

/* container_id as a label value: \, " and newlines escaped. */
static void label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

char *api_recommend_metrics_text(struct agent *a)
{
	static const char *const kinds[] = { "target", "lower", "upper" };
	struct recommend *r = a->recommend;
	char *buf = NULL;
	size_t len = 0, i;
	int k, res;
	FILE *f;

	if (!r)
		return NULL;
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fprintf(f, "# HELP podlane_recommendation Sizing recommendation per pod with the VPA "
		"recommender's formula: CPU in cores, memory in bytes; kind target (p90), lower "
		"(p50) or upper (p95) bound, each with a 15%% margin and the bounds scaled by "
		"confidence.\n# TYPE podlane_recommendation gauge\n");
	for (i = 0; i < r->npods; i++) {
		const struct recommend_pod *p = &r->pods[i];
		const int64_t v[2][3] = {
			{ p->est.cpu_target_mcpu, p->est.cpu_lower_mcpu, p->est.cpu_upper_mcpu },
			{ p->est.mem_target_bytes, p->est.mem_lower_bytes, p->est.mem_upper_bytes },
		};

		if (!p->live)
			continue;
		for (res = 0; res < 2; res++)
			for (k = 0; k < 3; k++) {
				fputs("podlane_recommendation{container_id=\"", f);
				label_value(f, p->container_id);
				fprintf(f, "\",resource=\"%s\",kind=\"%s\"} ",
					res ? "memory" : "cpu", kinds[k]);
				if (res)
					fprintf(f, "%lld\n", (long long)v[res][k]);
				else
					fprintf(f, "%.3f\n", v[res][k] / 1000.0);
			}
	}
	fprintf(f, "# HELP podlane_recommendation_confidence History behind a pod's "
		"recommendation, in days: min(lifespan, samples / samples per day).\n"
		"# TYPE podlane_recommendation_confidence gauge\n");
	for (i = 0; i < r->npods; i++) {
		if (!r->pods[i].live)
			continue;
		fputs("podlane_recommendation_confidence{container_id=\"", f);
		label_value(f, r->pods[i].container_id);
		fprintf(f, "\"} %.6f\n", r->pods[i].est.confidence);
	}
	fprintf(f, "# HELP podlane_recommendation_samples CPU samples in a pod's history.\n"
		"# TYPE podlane_recommendation_samples gauge\n");
	for (i = 0; i < r->npods; i++) {
		if (!r->pods[i].live)
			continue;
		fputs("podlane_recommendation_samples{container_id=\"", f);
		label_value(f, r->pods[i].container_id);
		fprintf(f, "\"} %llu\n", (unsigned long long)r->pods[i].st.samples);
	}
	fprintf(f, "# HELP podlane_recommendation_histories Sizing histories kept, live pods "
		"and gone ones (kept 8 days).\n# TYPE podlane_recommendation_histories gauge\n"
		"podlane_recommendation_histories %zu\n", r->npods);
	fprintf(f, "# HELP podlane_recommendation_checkpoint_errors_total Failed writes of "
		"the sizing checkpoint.\n"
		"# TYPE podlane_recommendation_checkpoint_errors_total counter\n"
		"podlane_recommendation_checkpoint_errors_total %llu\n",
		(unsigned long long)r->checkpoint_errors);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
