// SPDX-License-Identifier: GPL-2.0-only
/* api/node_ops.c - node_add, node_del, node_list, and the node fields of status. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "api/ops.h"
#include "core/addr.h"
#include "core/agent.h"
#include "log.h"
#include "nodes/nodes.h"

static struct api_node node_api(struct agent *a, const struct node_record *n,
				struct api_strs *strs)
{
	char ip[INET_ADDRSTRLEN], cidr[CIDR4_STRLEN];

	return (struct api_node){
		.name = api_strs_add(strs, "%s", n->name),
		.node_ip = api_strs_add(strs, "%s", ip4_str(n->node_ip, ip)),
		.pod_cidr = api_strs_add(strs, "%s", cidr4_str(n->pod_cidr, n->pod_cidr_len,
								 cidr)),
		.routing = node_routing_name(a->routing),
	};
}

struct json_object *api_node_add(struct agent *a, struct json_object *req)
{
	struct api_node_add_req rq = {};
	struct api_strs strs = {};
	struct api_error e = {};
	struct node_record n;
	struct json_object *o;
	bool changed;

	if (api_node_add_req_decode(req, &rq, &e) ||
	    node_record_parse(&n, rq.name, rq.node_ip, rq.pod_cidr, &e) ||
	    node_upsert(a, &n, &changed, &e)) {
		log_warn("node refused name=%s code=%d err=\"%s\"", rq.name ? rq.name : "", e.code,
			 e.msg);
		return api_reply_error(&e);
	}
	if (changed)
		log_info("node added name=%s node_ip=%s pod_cidr=%s routing=%s", n.name,
			 rq.node_ip, rq.pod_cidr, node_routing_name(a->routing));
	o = api_node_add_reply_encode(&(struct api_node_add_reply){
		.changed = changed,
		.node = node_api(a, &n, &strs),
	});
	if (strs.oom) {
		json_object_put(o);
		o = NULL;
	}
	api_strs_free(&strs);
	return o ? o : api_reply_oom();
}

struct json_object *api_node_del(struct agent *a, struct json_object *req)
{
	struct api_node_del_req rq;
	struct api_error e = {};
	bool found;

	if (api_node_del_req_decode(req, &rq, &e) || node_remove(a, rq.name, &found, &e))
		return api_reply_error(&e);
	if (found)
		log_info("node removed name=%s", rq.name);
	return api_node_del_reply_encode(&(struct api_node_del_reply){ .removed = found });
}

void api_node_routing(struct agent *a, struct api_node_routing *r, struct api_strs *strs)
{
	char ip[INET_ADDRSTRLEN];

	*r = (struct api_node_routing){
		.routing = node_routing_name(a->routing),
		.node_name = a->node_name,
		.node_ip = a->node_ip ? api_strs_add(strs, "%s", ip4_str(a->node_ip, ip)) : NULL,
		.vxlan_dev = a->routing == NODE_ROUTING_VXLAN ? a->vxlan_dev : NULL,
	};
}

/* A page of nodes: from offset on, while their JSON fits PODLANE_API_PAGE_BYTES. */
struct node_list {
	struct agent *a;
	struct api_node_list_reply *r;
	struct api_strs *strs;
	bool oom;
	size_t index;		/* of the node handed out next */
	size_t offset, limit;
	size_t used;
};

static int node_list_cb(const struct node_record *n, bool installed, void *data)
{
	struct node_list *l = data;
	struct api_node_list_reply *r = l->r;
	struct api_node *v;
	size_t len;

	if (l->index++ < l->offset)
		return 0;
	if (r->n_nodes == l->limit)
		goto full;
	v = realloc(r->nodes, (r->n_nodes + 1) * sizeof(*v));
	if (!v) {
		l->oom = true;
		return 1;
	}
	r->nodes = v;
	v = &r->nodes[r->n_nodes];
	*v = node_api(l->a, n, l->strs);
	v->has_installed = true;
	v->installed = installed;
	len = api_node_encoded_len(v) + (r->n_nodes > 0);
	if (r->n_nodes && l->used + len > PODLANE_API_PAGE_BYTES)
		goto full;
	r->n_nodes++;
	l->used += len;
	return 0;
full:
	/* The next page starts with this node. */
	r->has_next_offset = true;
	r->next_offset = l->index - 1;
	return 1;
}

struct json_object *api_node_list(struct agent *a, struct json_object *req)
{
	struct api_node_list_reply r = {};
	struct api_node_list_req rq;
	struct api_strs strs = {};
	struct node_list l = { .a = a, .r = &r, .strs = &strs };
	struct json_object *o = NULL;
	struct api_error e = {};

	if (api_node_list_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	l.offset = rq.has_offset ? (size_t)rq.offset : 0;
	l.limit = rq.has_limit ? (size_t)rq.limit : SIZE_MAX;
	api_node_routing(a, &r.node_routing, &strs);
	r.has_total = true;
	r.total = nodes_count(a);
	/* The walk reads every node's entries; the ones before offset are only counted here. */
	node_walk(a, node_list_cb, &l);
	if (!l.oom && !strs.oom)
		o = api_node_list_reply_encode(&r);
	api_node_list_reply_free(&r);
	api_strs_free(&strs);
	return o ? o : api_reply_oom();
}
