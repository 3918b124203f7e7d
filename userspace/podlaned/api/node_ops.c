// SPDX-License-Identifier: GPL-2.0-only
/* api/node_ops.c - node_add, node_del, node_list, and the node fields of status. */
#include <stdio.h>

#include "api.h"
#include "api/ops.h"
#include "core/addr.h"
#include "core/agent.h"
#include "log.h"
#include "nodes/nodes.h"

static struct json_object *node_json(struct agent *a, const struct node_record *n)
{
	struct json_object *o = json_object_new_object();
	char ip[INET_ADDRSTRLEN], cidr[CIDR4_STRLEN];

	json_object_object_add(o, "name", json_object_new_string(n->name));
	json_object_object_add(o, "node_ip", json_object_new_string(ip4_str(n->node_ip, ip)));
	json_object_object_add(o, "pod_cidr", json_object_new_string(
		cidr4_str(n->pod_cidr, n->pod_cidr_len, cidr)));
	json_object_object_add(o, "routing", json_object_new_string(node_routing_name(a->routing)));
	return o;
}

struct json_object *api_node_add(struct agent *a, struct json_object *req)
{
	const char *name = NULL, *ip = NULL, *cidr = NULL;
	struct node_record n;
	struct api_error e = {};
	struct json_object *o;
	bool changed;

	if (api_get_str(req, "name", &name, true, &e) ||
	    api_get_str(req, "node_ip", &ip, true, &e) ||
	    api_get_str(req, "pod_cidr", &cidr, true, &e) ||
	    node_record_parse(&n, name, ip, cidr, &e) || node_upsert(a, &n, &changed, &e)) {
		log_warn("node refused name=%s code=%d err=\"%s\"", name ? name : "", e.code,
			 e.msg);
		return api_reply_error(&e);
	}
	if (changed)
		log_info("node added name=%s node_ip=%s pod_cidr=%s routing=%s", n.name, ip, cidr,
			 node_routing_name(a->routing));
	o = api_reply_ok();
	json_object_object_add(o, "changed", json_object_new_boolean(changed));
	json_object_object_add(o, "node", node_json(a, &n));
	return o;
}

struct json_object *api_node_del(struct agent *a, struct json_object *req)
{
	struct api_error e = {};
	struct json_object *o;
	const char *name;
	bool found;

	if (api_get_str(req, "name", &name, true, &e) || node_remove(a, name, &found, &e))
		return api_reply_error(&e);
	if (found)
		log_info("node removed name=%s", name);
	o = api_reply_ok();
	json_object_object_add(o, "removed", json_object_new_boolean(found));
	return o;
}

struct node_list {
	struct agent *a;
	struct json_object *arr;
};

static int node_list_cb(const struct node_record *n, bool installed, void *data)
{
	struct node_list *l = data;
	struct json_object *o = node_json(l->a, n);

	json_object_object_add(o, "installed", json_object_new_boolean(installed));
	json_object_array_add(l->arr, o);
	return 0;
}

void api_node_status(struct agent *a, struct json_object *o)
{
	char ip[INET_ADDRSTRLEN];

	json_object_object_add(o, "routing", json_object_new_string(node_routing_name(a->routing)));
	json_object_object_add(o, "node_name", a->node_name ?
			       json_object_new_string(a->node_name) : NULL);
	json_object_object_add(o, "node_ip", a->node_ip ?
			       json_object_new_string(ip4_str(a->node_ip, ip)) : NULL);
	json_object_object_add(o, "vxlan_dev", a->routing == NODE_ROUTING_VXLAN ?
			       json_object_new_string(a->vxlan_dev) : NULL);
	json_object_object_add(o, "nodes", json_object_new_int(nodes_count(a)));
}

struct json_object *api_node_list(struct agent *a, struct json_object *req)
{
	struct node_list l = { .a = a, .arr = json_object_new_array() };
	struct json_object *o = api_reply_ok();

	node_walk(a, node_list_cb, &l);
	api_node_status(a, o);
	json_object_object_add(o, "nodes", l.arr);
	return o;
}
