// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/sched_ops.c - the hints_cluster op (`podlanectl hints --cluster`): every node of the
 * cluster view as the scheduler extender scores it now (sched/).
 */
#include <stdlib.h>

#include "api.h"
#include "api/ops.h"
#include "core/agent.h"
#include "sched/sched.h"

static double round2(double v)
{
	return v < 0 ? -(long long)(-v * 100 + 0.5) / 100.0 : (long long)(v * 100 + 0.5) / 100.0;
}

struct json_object *api_hints_cluster(struct agent *a, struct json_object *req)
{
	const struct sched_opts *so = sched_options(a);
	struct api_hints_cluster_reply r = {};
	struct api_hints_cluster_req rq;
	struct api_error e = {};
	struct sched_node *nodes;
	struct json_object *o;
	size_t n, i;

	if (api_hints_cluster_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (!a->sync || !so) {
		api_fail(&e, PODLANE_ERR_NOT_AVAILABLE,
			 "no cluster view: podlaned runs without --etcd-endpoints");
		return api_reply_error(&e);
	}
	if (sched_view(a, &nodes, &n))
		return api_reply_oom();
	r.extender = a->extender != NULL;
	r.saturated = so->saturated;
	r.stale_ms = so->stale_ms;
	r.pending_ttl_ms = so->pending_ttl_ms;
	r.nodes = calloc(n ? n : 1, sizeof(*r.nodes));
	if (!r.nodes) {
		free(nodes);
		return api_reply_oom();
	}
	r.n_nodes = n;
	for (i = 0; i < n; i++) {
		const struct sched_node *s = &nodes[i];

		r.nodes[i] = (struct api_cluster_node){
			.node = s->node,
			.score = s->score,
			.known = s->known,
			.stale = s->stale,
			.saturated = s->saturated,
			.age_s = round2(s->age_s),
			.pressure = round2(s->pressure),
			.dominant = s->dominant,
			.cpu_pressure = round2(s->cpu_pressure),
			.runq = round2(s->runq),
			.memory = round2(s->memory),
			.cpu = round2(s->cpu),
			.traffic = round2(s->traffic),
			.cpus = round2(s->cpus),
			.pending_cpu = round2(s->pending_cpu),
			.pending_pods = s->pending_pods,
			.pending_part = round2(s->pending_part),
			.effective = round2(s->effective),
		};
	}
	o = api_hints_cluster_reply_encode(&r);
	free(r.nodes);
	free(nodes);
	return o ? o : api_reply_oom();
}
