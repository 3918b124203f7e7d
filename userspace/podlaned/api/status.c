// SPDX-License-Identifier: GPL-2.0-only
/* api/status.c - the status op: the agent's options, features, programs, drops and modules. */
#include <stdio.h>

#include "api.h"
#include "api/ops.h"
#include "core/agent.h"
#include "datapath/datapath.h"
#include "datapath/eps.h"
#include "ipam/ipam.h"
#include "lb/lb.h"

static int count_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	(*(int *)data)++;
	return 0;
}

/* Node-wide drops as { reason: packets }; an unnamed slot only when it counted something. */
static struct json_object *node_drops(struct agent *a)
{
	struct drop_counter sum[PODLANE_DROP_SLOTS];
	struct json_object *o = json_object_new_object();
	__u32 slot;

	if (datapath_drops_read(a, sum))
		return o;
	for (slot = 0; slot < PODLANE_DROP_SLOTS; slot++) {
		int reason = -(int)(slot + PODLANE_DROP_FIRST);
		const char *name = podlane_drop_name(reason);
		char unknown[32];

		if (!name) {
			if (!sum[slot].packets)
				continue;
			snprintf(unknown, sizeof(unknown), "reason_%d", reason);
			name = unknown;
		}
		json_object_object_add(o, name, json_object_new_int64(sum[slot].packets));
	}
	return o;
}

static struct json_object *programs(struct agent *a)
{
	struct json_object *arr = json_object_new_array(), *p;
	struct datapath_prog tc[4];
	struct lb_prog lb[5];
	unsigned int i, n;

	n = datapath_programs(a, tc, 4);
	for (i = 0; i < n; i++) {
		p = json_object_new_object();
		json_object_object_add(p, "name", json_object_new_string(tc[i].name));
		json_object_object_add(p, "hook", json_object_new_string(tc[i].hook));
		json_object_object_add(p, "id", json_object_new_int64(tc[i].id));
		json_object_object_add(p, "tc_handle", json_object_new_int(PODLANED_TC_HANDLE));
		json_object_object_add(p, "tc_priority", json_object_new_int(PODLANED_TC_PRIO));
		json_object_array_add(arr, p);
	}
	n = a->lb ? lb_datapath_programs(a, lb, 5) : 0;
	for (i = 0; i < n; i++) {
		p = json_object_new_object();
		json_object_object_add(p, "name", json_object_new_string(lb[i].name));
		json_object_object_add(p, "hook", json_object_new_string(lb[i].hook));
		json_object_object_add(p, "id", json_object_new_int64(lb[i].prog_id));
		json_object_object_add(p, "link_id", json_object_new_int64(lb[i].link_id));
		if (lb[i].xdp) {
			json_object_object_add(p, "ifindex", json_object_new_int64(lb[i].ifindex));
			json_object_object_add(p, "xdp_mode", json_object_new_string(lb[i].xdp_mode));
			json_object_object_add(p, "nodeport_fastpath",
					       json_object_new_boolean(a->xdp_fastpath));
		} else {
			json_object_object_add(p, "cgroup", json_object_new_string(lb[i].cgroup));
		}
		json_object_array_add(arr, p);
	}
	return arr;
}

static int pool_json(const struct ipam_pool *pool, void *data)
{
	struct json_object *net = json_object_new_object();

	json_object_object_add(net, "subnet", json_object_new_string(pool->subnet));
	json_object_object_add(net, "allocated", json_object_new_int(pool->allocated));
	json_object_object_add(data, pool->network, net);
	return 0;
}

struct json_object *api_status(struct agent *a, struct json_object *req)
{
	struct json_object *o = api_reply_ok(), *f, *ipam;
	int n = 0;

	eps_walk(a, count_cb, &n);
	json_object_object_add(o, "version", json_object_new_string(PODLANE_VERSION));
	json_object_object_add(o, "pin_root", json_object_new_string(a->pin_root));
	json_object_object_add(o, "state_dir", json_object_new_string(a->state_dir));
	json_object_object_add(o, "uplink", a->uplink ? json_object_new_string(a->uplink) : NULL);
	json_object_object_add(o, "max_endpoints", json_object_new_int64(a->max_endpoints));

	f = json_object_new_object();
	json_object_object_add(f, "redirect_peer", json_object_new_boolean(a->feat.redirect_peer));
	json_object_object_add(f, "ringbuf", json_object_new_boolean(a->feat.ringbuf));
	json_object_object_add(f, "percpu_hash", json_object_new_boolean(a->feat.percpu_hash));
	json_object_object_add(f, "kernel_btf", json_object_new_boolean(a->feat.kernel_btf));
	json_object_object_add(f, "drop_events", json_object_new_boolean(a->drop_events));
	json_object_object_add(o, "features", f);

	json_object_object_add(o, "programs", programs(a));
	json_object_object_add(o, "endpoints", json_object_new_int(n));
	json_object_object_add(o, "drops", node_drops(a));
	api_acct_status(a, o);
	api_node_status(a, o);

	ipam = json_object_new_object();
	ipam_pools(a, pool_json, ipam);
	json_object_object_add(o, "ipam", ipam);
	return o;
}
