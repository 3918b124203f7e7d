// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/acct_ops.c - the acct and hints ops, and the accounting fields of status and
 * endpoint_list: per-pod accounting (acct/) as the API shows it.
 */
#include <stdio.h>

#include "api.h"
#include "acct/acct.h"
#include "api/ops.h"
#include "core/agent.h"

static double round2(double v)
{
	return (long long)(v * 100 + 0.5) / 100.0;
}

static void hints_json_terms(const struct hint *h, struct json_object *o)
{
	json_object_object_add(o, "score", json_object_new_double(round2(h->score)));
	json_object_object_add(o, "dominant", json_object_new_string(h->dominant ?
								      h->dominant : "cpu"));
	json_object_object_add(o, "cpu", json_object_new_double(round2(h->cpu)));
	json_object_object_add(o, "runq", json_object_new_double(round2(h->runq)));
	json_object_object_add(o, "memory", json_object_new_double(round2(h->memory)));
	json_object_object_add(o, "traffic", json_object_new_double(round2(h->traffic)));
}

struct json_object *api_hints(struct agent *a, struct json_object *req)
{
	struct acct *ac = a->acct;
	struct json_object *o, *n, *pods;
	size_t i;

	if (!ac || !ac->seq)
		return api_error(PODLANE_ERR_TRY_AGAIN, "no hints computed yet", NULL);
	o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "seq", json_object_new_int64(ac->seq));
	json_object_object_add(o, "updated_ns", json_object_new_int64(ac->updated_ns));
	json_object_object_add(o, "interval_ms", json_object_new_int(ACCT_TICK_MS));
	n = json_object_new_object();
	hints_json_terms(&ac->node.hint, n);
	json_object_object_add(n, "cpu_headroom", json_object_new_double(
		round2(100 * (1 - ac->node.busy))));
	json_object_object_add(o, "node", n);
	pods = json_object_new_array();
	for (i = 0; i < ac->npods; i++) {
		struct acct_pod *p = &ac->pods[i];
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "container_id",
				       json_object_new_string(p->meta.container_id));
		json_object_object_add(e, "host_ifname",
				       json_object_new_string(p->meta.host_ifname));
		json_object_object_add(e, "ip", json_object_new_string(p->ip));
		json_object_object_add(e, "cgroup", p->tied ? json_object_new_string(p->cgroup) :
				       NULL);
		hints_json_terms(&p->hint, e);
		json_object_array_add(pods, e);
	}
	json_object_object_add(o, "pods", pods);
	return o;
}

static struct json_object *psi_json(const struct pl_psi *psi)
{
	static const char *const names[PL_PSI_NR] = { "cpu", "memory", "io" };
	struct json_object *o = json_object_new_object();
	int i;

	for (i = 0; i < PL_PSI_NR; i++) {
		struct json_object *r;

		if (!psi[i].valid)
			continue;
		r = json_object_new_object();
		json_object_object_add(r, "some_avg10", json_object_new_double(psi[i].some_avg[0]));
		json_object_object_add(r, "some_avg60", json_object_new_double(psi[i].some_avg[1]));
		json_object_object_add(r, "some_avg300",
				       json_object_new_double(psi[i].some_avg[2]));
		json_object_object_add(r, "some_total_us",
				       json_object_new_int64(psi[i].some_total_us));
		if (psi[i].has_full) {
			json_object_object_add(r, "full_avg10",
					       json_object_new_double(psi[i].full_avg[0]));
			json_object_object_add(r, "full_total_us",
					       json_object_new_int64(psi[i].full_total_us));
		}
		json_object_object_add(o, names[i], r);
	}
	return o;
}

void api_acct_status(struct agent *a, struct json_object *o)
{
	struct acct *ac = a->acct;
	struct json_object *s = json_object_new_object(), *m;

	json_object_object_add(o, "accounting", s);
	if (!ac) {
		json_object_object_add(s, "enabled", json_object_new_boolean(0));
		return;
	}
	json_object_object_add(s, "enabled", json_object_new_boolean(ac->bpf));
	json_object_object_add(s, "source", json_object_new_string(acct_source(ac)));
	json_object_object_add(s, "cpu_source", json_object_new_string(ac->bpf ? "bpf" :
							acct_source(ac)));
	json_object_object_add(s, "traffic_source", json_object_new_string(ac->bpf ? "bpf" :
								       "none"));
	json_object_object_add(s, "memory_source",
			       json_object_new_string(acct_memory_source(ac)));
	json_object_object_add(s, "psi_source", json_object_new_string(acct_psi_source(ac)));
	json_object_object_add(s, "cgroup2", ac->cg2 ? json_object_new_string(ac->cg2_mount) :
				NULL);
	json_object_object_add(s, "memcg_v1", ac->memcg_v1 ?
			       json_object_new_string(ac->memcg_v1_mount) : NULL);
	json_object_object_add(s, "psi_node", json_object_new_boolean(ac->psi_node ||
								     ac->module));
	json_object_object_add(s, "psi_cgroup", json_object_new_boolean(ac->psi_cgroup));
	json_object_object_add(s, "skb_links", json_object_new_string(
		!ac->bpf ? "none" : ac->skb_adopted[0] && ac->skb_adopted[1] ? "adopted" : "new"));
	json_object_object_add(s, "map_entries", json_object_new_int64(ac->map_entries));
	json_object_object_add(s, "gc_deleted", json_object_new_int64(ac->gc_deleted));
	json_object_object_add(s, "tick_us", json_object_new_int64((int64_t)ac->tick_us));
	json_object_object_add(s, "tie_us", json_object_new_int64((int64_t)ac->tie_us));
	m = json_object_new_object();
	json_object_object_add(m, "present", json_object_new_boolean(ac->module));
	if (ac->module) {
		json_object_object_add(m, "version", json_object_new_int(ac->modver.version));
		json_object_object_add(m, "features",
				       json_object_new_int64(ac->modver.features));
		json_object_object_add(m, "kernel",
				       json_object_new_string(ac->modver.kernel_release));
	}
	json_object_object_add(s, "module", m);
	m = json_object_new_object();
	json_object_object_add(m, "full_sched", json_object_new_int64(ac->errs.full_sched));
	json_object_object_add(m, "full_skb", json_object_new_int64(ac->errs.full_skb));
	json_object_object_add(m, "task_state", json_object_new_int64(ac->errs.task_state));
	json_object_object_add(s, "errors", m);
}

void api_acct_endpoint_fields(struct agent *a, unsigned int ifindex, struct json_object *ep)
{
	struct acct_pod *p = a->acct ? acct_pod_find(a->acct, ifindex) : NULL;

	if (!p || !p->tied) {
		json_object_object_add(ep, "cgroup", NULL);
		json_object_object_add(ep, "cgroup_id", NULL);
		return;
	}
	json_object_object_add(ep, "cgroup", json_object_new_string(p->cgroup));
	json_object_object_add(ep, "cgroup_id", json_object_new_int64(p->cgroup_id));
	json_object_object_add(ep, "memcg_v1", p->memcg_v1[0] ?
			       json_object_new_string(p->memcg_v1) : NULL);
	json_object_object_add(ep, "processes", json_object_new_int(p->nprocs));
}

static struct json_object *pod_json(struct acct *ac, struct acct_pod *p)
{
	struct json_object *o = json_object_new_object(), *r;

	json_object_object_add(o, "container_id", json_object_new_string(p->meta.container_id));
	json_object_object_add(o, "network", json_object_new_string(p->meta.network));
	json_object_object_add(o, "ifname", json_object_new_string(p->meta.ifname));
	json_object_object_add(o, "host_ifname", json_object_new_string(p->meta.host_ifname));
	json_object_object_add(o, "ifindex", json_object_new_int64(p->ifindex));
	json_object_object_add(o, "ip", json_object_new_string(p->ip));
	json_object_object_add(o, "netns", json_object_new_string(p->meta.netns));
	json_object_object_add(o, "cgroup", p->tied ? json_object_new_string(p->cgroup) : NULL);
	json_object_object_add(o, "cgroup_id", p->tied ? json_object_new_int64(p->cgroup_id) :
			       NULL);
	json_object_object_add(o, "processes", json_object_new_int(p->nprocs));
	json_object_object_add(o, "cpu_seconds", json_object_new_double(p->total.cpu_ns / 1e9));
	json_object_object_add(o, "cpu_ns", json_object_new_int64(p->total.cpu_ns));
	if (ac->bpf) {
		json_object_object_add(o, "runq_wait_seconds",
				       json_object_new_double(p->total.runq_wait_ns / 1e9));
		json_object_object_add(o, "runq_waits", json_object_new_int64(p->total.runq_waits));
		json_object_object_add(o, "rx_packets", json_object_new_int64(p->total.rx_packets));
		json_object_object_add(o, "rx_bytes", json_object_new_int64(p->total.rx_bytes));
		json_object_object_add(o, "tx_packets", json_object_new_int64(p->total.tx_packets));
		json_object_object_add(o, "tx_bytes", json_object_new_int64(p->total.tx_bytes));
	}
	json_object_object_add(o, "memory_bytes", p->has_memory ?
			       json_object_new_int64(p->memory_bytes) : NULL);
	json_object_object_add(o, "memory_max", p->has_memory_max ?
			       json_object_new_int64(p->memory_max) : NULL);
	json_object_object_add(o, "psi", psi_json(p->psi));
	r = json_object_new_object();
	json_object_object_add(r, "cpu_cores", json_object_new_double(p->rate.cpu_cores));
	json_object_object_add(r, "runq_per_s", json_object_new_double(p->rate.runq_per_s));
	json_object_object_add(r, "runq_share", json_object_new_double(p->rate.runq_share));
	json_object_object_add(r, "rx_bps", json_object_new_double(p->rate.rx_bps));
	json_object_object_add(r, "tx_bps", json_object_new_double(p->rate.tx_bps));
	json_object_object_add(r, "rx_pps", json_object_new_double(p->rate.rx_pps));
	json_object_object_add(r, "tx_pps", json_object_new_double(p->rate.tx_pps));
	json_object_object_add(o, "rates", r);
	r = json_object_new_object();
	hints_json_terms(&p->hint, r);
	json_object_object_add(o, "hint", r);
	return o;
}

struct json_object *api_acct(struct agent *a, struct json_object *req)
{
	struct acct *ac = a->acct;
	struct json_object *o, *pods, *n;
	size_t i;

	if (!ac)
		return api_error(PODLANE_ERR_NOT_AVAILABLE, "accounting is not running", NULL);
	/* Cumulative counters as of now; rates and kernel figures are from the last tick. */
	acct_refresh(ac);
	o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "source", json_object_new_string(acct_source(ac)));
	json_object_object_add(o, "bpf", json_object_new_boolean(ac->bpf));
	json_object_object_add(o, "memory_source",
			       json_object_new_string(acct_memory_source(ac)));
	json_object_object_add(o, "psi_source", json_object_new_string(acct_psi_source(ac)));
	json_object_object_add(o, "seq", json_object_new_int64(ac->seq));
	json_object_object_add(o, "updated_ns", json_object_new_int64(ac->updated_ns));
	json_object_object_add(o, "interval_ms", json_object_new_int(ACCT_TICK_MS));
	pods = json_object_new_array();
	for (i = 0; i < ac->npods; i++)
		json_object_array_add(pods, pod_json(ac, &ac->pods[i]));
	json_object_object_add(o, "pods", pods);
	n = json_object_new_object();
	json_object_object_add(n, "cpus", json_object_new_int(ac->online_cpus));
	json_object_object_add(n, "cpu_busy", json_object_new_double(ac->node.busy));
	json_object_object_add(n, "runq_per_cpu", json_object_new_double(ac->node.runq_per_cpu));
	json_object_object_add(n, "rx_bps", json_object_new_double(ac->node.rx_bps));
	json_object_object_add(n, "tx_bps", json_object_new_double(ac->node.tx_bps));
	json_object_object_add(n, "psi", ac->node.has_psi ? psi_json(ac->node.psi) : NULL);
	json_object_object_add(o, "node", n);
	return o;
}
