// SPDX-License-Identifier: GPL-2.0-only
/* api/status.c - the status op: the agent's options, features, programs, drops and modules. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "api/ops.h"
#include "core/agent.h"
#include "datapath/datapath.h"
#include "datapath/eps.h"
#include "ipam/ipam.h"
#include "lb/lb.h"
#include "nodes/nodes.h"

#define MAX_TC_PROGS	4
#define MAX_LB_PROGS	5

static int count_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	(*(int64_t *)data)++;
	return 0;
}

/* Node-wide drops (podlane_drop) in packets. */
static int node_drops(struct agent *a, struct api_status_reply *r, struct api_strs *strs)
{
	struct drop_counter sum[PODLANE_DROP_SLOTS];
	__u64 packets[PODLANE_DROP_SLOTS] = {};
	unsigned int slot;

	if (!datapath_drops_read(a, sum))
		for (slot = 0; slot < PODLANE_DROP_SLOTS; slot++)
			packets[slot] = sum[slot].packets;
	return api_drop_counts(packets, strs, &r->drops, &r->n_drops);
}

static unsigned int programs(struct agent *a, struct api_program *p)
{
	struct datapath_prog tc[MAX_TC_PROGS];
	struct lb_prog lb[MAX_LB_PROGS];
	unsigned int i, n, np = 0;

	n = datapath_programs(a, tc, MAX_TC_PROGS);
	for (i = 0; i < n; i++)
		p[np++] = (struct api_program){
			.name = tc[i].name,
			.hook = tc[i].hook,
			.id = tc[i].id,
			.has_tc_handle = true,
			.tc_handle = PODLANED_TC_HANDLE,
			.has_tc_priority = true,
			.tc_priority = PODLANED_TC_PRIO,
		};
	n = a->lb ? lb_datapath_programs(a, lb, MAX_LB_PROGS) : 0;
	for (i = 0; i < n; i++) {
		p[np] = (struct api_program){
			.name = lb[i].name,
			.hook = lb[i].hook,
			.id = lb[i].prog_id,
			.has_link_id = true,
			.link_id = lb[i].link_id,
		};
		if (lb[i].xdp) {
			p[np].has_ifindex = true;
			p[np].ifindex = lb[i].ifindex;
			p[np].xdp_mode = lb[i].xdp_mode;
			p[np].has_nodeport_fastpath = true;
			p[np].nodeport_fastpath = a->xdp_fastpath;
		} else {
			p[np].cgroup = lb[i].cgroup;
		}
		np++;
	}
	return np;
}

struct pools {
	struct api_status_reply *r;
	struct api_strs *strs;
	bool oom;
};

static int pool_cb(const struct ipam_pool *pool, void *data)
{
	struct pools *pl = data;
	struct api_status_reply *r = pl->r;
	struct api_ipam_pool *v = realloc(r->ipam, (r->n_ipam + 1) * sizeof(*v));

	if (!v) {
		pl->oom = true;
		return 1;
	}
	r->ipam = v;
	r->ipam[r->n_ipam++] = (struct api_ipam_pool){
		.network = api_strs_add(pl->strs, "%s", pool->network),
		.subnet = api_strs_add(pl->strs, "%s", pool->subnet),
		.allocated = pool->allocated,
	};
	return 0;
}

struct json_object *api_status(struct agent *a, struct json_object *req)
{
	struct api_program progs[MAX_TC_PROGS + MAX_LB_PROGS];
	struct api_strs strs = {};
	struct api_status_reply r = {
		.version = PODLANE_VERSION,
		.pin_root = a->pin_root,
		.state_dir = a->state_dir,
		.uplink = a->uplink,
		.max_endpoints = a->max_endpoints,
		.features = {
			.redirect_peer = a->feat.redirect_peer,
			.ringbuf = a->feat.ringbuf,
			.percpu_hash = a->feat.percpu_hash,
			.kernel_btf = a->feat.kernel_btf,
			.drop_events = a->drop_events,
		},
		.programs = progs,
	};
	struct pools pl = { .r = &r, .strs = &strs };
	struct json_object *o = NULL;
	struct api_status_req rq;
	struct api_error e = {};
	int err;

	if (api_status_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	eps_walk(a, count_cb, &r.endpoints);
	r.n_programs = programs(a, progs);
	err = node_drops(a, &r, &strs);
	api_acct_status(a, &r.accounting);
	api_node_routing(a, &r.node_routing, &strs);
	r.nodes = nodes_count(a);
	ipam_pools(a, pool_cb, &pl);
	if (!err && !pl.oom && !strs.oom)
		o = api_status_reply_encode(&r);
	/* programs is on the stack: the reply's free must not see it. */
	r.programs = NULL;
	r.n_programs = 0;
	api_status_reply_free(&r);
	api_strs_free(&strs);
	return o ? o : api_reply_oom();
}
