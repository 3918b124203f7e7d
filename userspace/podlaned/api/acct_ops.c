// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/acct_ops.c - the acct and hints ops, and the accounting fields of status and
 * endpoint_list: per-pod accounting (acct/) as the API shows it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "acct/acct.h"
#include "api/ops.h"
#include "core/agent.h"

static double round2(double v)
{
	return (long long)(v * 100 + 0.5) / 100.0;
}

static struct api_hint hint_api(const struct hint *h)
{
	return (struct api_hint){
		.score = round2(h->score),
		.dominant = h->dominant ? h->dominant : "cpu",
		.cpu = round2(h->cpu),
		.cpu_pressure = round2(h->cpu_pressure),
		.runq = round2(h->runq),
		.memory = round2(h->memory),
		.traffic = round2(h->traffic),
	};
}

struct json_object *api_hints(struct agent *a, struct json_object *req)
{
	struct acct *ac = a->acct;
	struct api_hints_reply r;
	struct api_hints_req rq;
	struct api_error e = {};
	struct json_object *o;
	size_t i;

	if (api_hints_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (!ac || !ac->seq) {
		api_fail(&e, PODLANE_ERR_TRY_AGAIN, "no hints computed yet");
		return api_reply_error(&e);
	}
	r = (struct api_hints_reply){
		.seq = ac->seq,
		.updated_ns = ac->updated_ns,
		.interval_ms = ACCT_TICK_MS,
		.node = {
			.hint = hint_api(&ac->node.hint),
			.cpu_headroom = round2(100 * (1 - ac->node.busy)),
		},
		.pods = calloc(ac->npods ? ac->npods : 1, sizeof(*r.pods)),
		.n_pods = ac->npods,
	};
	if (!r.pods)
		return api_reply_oom();
	for (i = 0; i < ac->npods; i++) {
		const struct acct_pod *p = &ac->pods[i];

		r.pods[i] = (struct api_hints_pod){
			.container_id = p->meta.container_id,
			.host_ifname = p->meta.host_ifname,
			.ip = p->ip,
			.cgroup = p->tied ? p->cgroup : NULL,
			.hint = hint_api(&p->hint),
		};
	}
	o = api_hints_reply_encode(&r);
	api_hints_reply_free(&r);
	return o;
}

static void psi_api(const struct pl_psi *psi, struct api_psi *out)
{
	struct api_psi_resource *res[PL_PSI_NR] = { &out->cpu, &out->memory, &out->io };
	bool *has[PL_PSI_NR] = { &out->has_cpu, &out->has_memory, &out->has_io };
	int i;

	for (i = 0; i < PL_PSI_NR; i++) {
		*has[i] = psi[i].valid;
		*res[i] = (struct api_psi_resource){
			.some_avg10 = psi[i].some_avg[0],
			.some_avg60 = psi[i].some_avg[1],
			.some_avg300 = psi[i].some_avg[2],
			.some_total_us = psi[i].some_total_us,
			.has_full = psi[i].has_full,
			.full_avg10 = psi[i].full_avg[0],
			.full_total_us = psi[i].full_total_us,
		};
	}
}

void api_acct_status(struct agent *a, struct api_acct_status *s)
{
	struct acct *ac = a->acct;

	*s = (struct api_acct_status){};
	if (!ac)
		return;
	*s = (struct api_acct_status){
		.enabled = ac->bpf,
		.has_details = true,
		.source = acct_source(ac),
		.cpu_source = ac->bpf ? "bpf" : acct_source(ac),
		.traffic_source = ac->bpf ? "bpf" : "none",
		.memory_source = acct_memory_source(ac),
		.psi_source = acct_psi_source(ac),
		.cgroup2 = ac->cg2 ? ac->cg2_mount : NULL,
		.memcg_v1 = ac->memcg_v1 ? ac->memcg_v1_mount : NULL,
		.psi_node = ac->psi_node || ac->module,
		.psi_cgroup = ac->psi_cgroup,
		.skb_links = !ac->bpf ? "none" :
			     ac->skb_adopted[0] && ac->skb_adopted[1] ? "adopted" : "new",
		.map_entries = ac->map_entries,
		.gc_deleted = ac->gc_deleted,
		.tick_us = (int64_t)ac->tick_us,
		.tie_us = (int64_t)ac->tie_us,
		.module = {
			.present = ac->module,
			.has_version = ac->module,
			.version = ac->modver.version,
			.has_features = ac->module,
			.features = ac->modver.features,
			.kernel = ac->module ? ac->modver.kernel_release : NULL,
		},
		.errors = {
			.full_sched = ac->errs.full_sched,
			.full_skb = ac->errs.full_skb,
			.task_state = ac->errs.task_state,
		},
	};
}

void api_acct_endpoint(struct agent *a, unsigned int ifindex, struct api_endpoint *ep)
{
	struct acct_pod *p = a->acct ? acct_pod_find(a->acct, ifindex) : NULL;

	ep->cgroup = NULL;
	ep->has_cgroup_id = ep->has_cgroup_details = p && p->tied;
	if (!ep->has_cgroup_id)
		return;
	ep->cgroup = p->cgroup;
	ep->cgroup_id = p->cgroup_id;
	ep->memcg_v1 = p->memcg_v1[0] ? p->memcg_v1 : NULL;
	ep->processes = p->nprocs;
}

static void pod_api(const struct acct *ac, const struct acct_pod *p, struct api_acct_pod *o)
{
	*o = (struct api_acct_pod){
		.container_id = p->meta.container_id,
		.network = p->meta.network,
		.ifname = p->meta.ifname,
		.host_ifname = p->meta.host_ifname,
		.ifindex = p->ifindex,
		.ip = p->ip,
		.netns = p->meta.netns,
		.cgroup = p->tied ? p->cgroup : NULL,
		.has_cgroup_id = p->tied,
		.cgroup_id = p->cgroup_id,
		.processes = p->nprocs,
		.cpu_seconds = p->total.cpu_ns / 1e9,
		.cpu_ns = p->total.cpu_ns,
		.has_bpf_counters = ac->bpf,
		.runq_wait_seconds = p->total.runq_wait_ns / 1e9,
		.runq_waits = p->total.runq_waits,
		.rx_packets = p->total.rx_packets,
		.rx_bytes = p->total.rx_bytes,
		.tx_packets = p->total.tx_packets,
		.tx_bytes = p->total.tx_bytes,
		.has_memory_bytes = p->has_memory,
		.memory_bytes = p->memory_bytes,
		.has_memory_max = p->has_memory_max,
		.memory_max = p->memory_max,
		.rates = {
			.cpu_cores = p->rate.cpu_cores,
			.runq_per_s = p->rate.runq_per_s,
			.runq_share = p->rate.runq_share,
			.rx_bps = p->rate.rx_bps,
			.tx_bps = p->rate.tx_bps,
			.rx_pps = p->rate.rx_pps,
			.tx_pps = p->rate.tx_pps,
		},
		.hint = hint_api(&p->hint),
	};
	psi_api(p->psi, &o->psi);
}

struct json_object *api_acct(struct agent *a, struct json_object *req)
{
	struct acct *ac = a->acct;
	struct api_acct_reply r;
	struct api_acct_req rq;
	struct api_error e = {};
	struct json_object *o;
	size_t i;

	if (api_acct_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (!ac) {
		api_fail(&e, PODLANE_ERR_NOT_AVAILABLE, "accounting is not running");
		return api_reply_error(&e);
	}
	/* Cumulative counters as of now; rates and kernel figures are from the last tick. */
	acct_refresh(ac);
	r = (struct api_acct_reply){
		.source = acct_source(ac),
		.bpf = ac->bpf,
		.memory_source = acct_memory_source(ac),
		.psi_source = acct_psi_source(ac),
		.seq = ac->seq,
		.updated_ns = ac->updated_ns,
		.interval_ms = ACCT_TICK_MS,
		.pods = calloc(ac->npods ? ac->npods : 1, sizeof(*r.pods)),
		.n_pods = ac->npods,
		.node = {
			.cpus = ac->online_cpus,
			.cpu_busy = ac->node.busy,
			.runq_per_cpu = ac->node.runq_per_cpu,
			.rx_bps = ac->node.rx_bps,
			.tx_bps = ac->node.tx_bps,
			.has_psi = ac->node.has_psi,
		},
	};
	if (!r.pods)
		return api_reply_oom();
	for (i = 0; i < ac->npods; i++)
		pod_api(ac, &ac->pods[i], &r.pods[i]);
	if (ac->node.has_psi)
		psi_api(ac->node.psi, &r.node.psi);
	o = api_acct_reply_encode(&r);
	api_acct_reply_free(&r);
	return o;
}
