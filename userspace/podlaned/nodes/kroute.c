// SPDX-License-Identifier: GPL-2.0-only
/*
 * nodes/kroute.c - kernel routes to remote pod CIDRs, for the node's own stack (pods reach
 * other nodes through BPF alone; see nodes/nodes.c for the two forms these routes take).
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>

#include "core/addr.h"
#include "core/agent.h"
#include "log.h"
#include "nodes/nodes.h"
#include "nodes/nodes_int.h"

static int kroute_dev(struct agent *a)
{
	return a->routing == NODE_ROUTING_VXLAN ? a->vxlan_ifindex : a->uplink_ifindex;
}

/* The route n needs; false when this agent writes none (--no-node-routes, no device). */
static bool kroute_for(struct agent *a, const struct node_record *n, struct nl_route *r)
{
	memset(r, 0, sizeof(*r));
	if (a->no_node_routes || kroute_dev(a) <= 0)
		return false;
	r->ifindex = kroute_dev(a);
	r->dst = n->pod_cidr;
	r->prefix_len = n->pod_cidr_len;
	r->protocol = PODLANE_RTPROT;
	if (a->routing == NODE_ROUTING_VXLAN) {
		r->tun_id = PODLANE_VXLAN_VNI;
		r->tun_dst = n->node_ip;
		r->tun_ttl = 64;
	} else {
		r->gw = n->node_ip;
	}
	return true;
}

static bool kroute_same(const struct nl_route *x, const struct nl_route *y)
{
	return x->ifindex == y->ifindex && x->dst == y->dst && x->prefix_len == y->prefix_len &&
	       x->gw == y->gw && x->tun_id == y->tun_id && x->tun_dst == y->tun_dst &&
	       x->tun_ttl == y->tun_ttl;
}

/*
 * The kernel refuses a route whose next hop it cannot reach: in direct routing, a node whose
 * address is not on the uplink's link. Such a node is refused (nodes.c), so that nothing claims
 * a route the node's own stack does not have. e may be NULL (start-up only logs).
 */
int kroute_install(struct agent *a, const struct node_record *n, struct api_error *e)
{
	char ip[INET_ADDRSTRLEN], dev[IF_NAMESIZE] = "";
	struct nl_route r;
	int err;

	if (!kroute_for(a, n, &r))
		return 0;
	err = nl_route_replace(&a->nl, &r);
	if (!err)
		return 0;
	log_warn("kernel route to node's pods not installed name=%s err=\"%s\"", n->name,
		 nl_strerror(&a->nl, err));
	if (!if_indextoname(r.ifindex, dev))
		snprintf(dev, sizeof(dev), "%d", r.ifindex);
	if (e)
		api_fail(e, PODLANE_ERR_INVALID_CONFIG, "node_ip: %s cannot be reached %s %s: the "
			 "kernel refused the route to the node's pods (%s)",
			 ip4_str(n->node_ip, ip), a->routing == NODE_ROUTING_VXLAN ? "through" :
			 "on the link of", dev, nl_strerror(&a->nl, err));
	return err;
}

void kroute_remove(struct agent *a, const struct node_record *n)
{
	struct nl_route r;
	int err;

	if (!kroute_for(a, n, &r))
		return;
	err = nl_route_del(&a->nl, &r);
	if (err && err != -ESRCH)
		log_warn("failed to delete the kernel route to node's pods name=%s err=\"%s\"",
			 n->name, nl_strerror(&a->nl, err));
}

struct kroute_list {
	struct nl_route *v;
	size_t n, cap;
};

static void kroute_collect(const struct nl_route *r, void *ctx)
{
	struct kroute_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct nl_route *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *r;
}

static int kroute_cmp(const void *pa, const void *pb)
{
	const struct nl_route *x = pa, *y = pb;

	if (x->dst != y->dst)
		return x->dst < y->dst ? -1 : 1;
	return (int)x->prefix_len - (int)y->prefix_len;
}

/* The routes of ours that kroute_for() would write, in order for kroute_set_has(). */
int kroute_set_load(struct agent *a, struct kroute_set *set)
{
	struct kroute_list l = {};
	int dev = kroute_dev(a), err;

	memset(set, 0, sizeof(*set));
	set->wanted = !a->no_node_routes && dev > 0;
	if (!set->wanted)
		return 0;
	err = nl_route_list(&a->nl, PODLANE_RTPROT, dev, kroute_collect, &l);
	set->v = l.v;
	set->n = l.n;
	if (set->n)
		qsort(set->v, set->n, sizeof(*set->v), kroute_cmp);
	return err;
}

bool kroute_set_has(struct agent *a, const struct kroute_set *set, const struct node_record *n)
{
	struct nl_route want;
	const struct nl_route *r;

	if (!set->wanted || !kroute_for(a, n, &want))
		return true;
	r = set->n ? bsearch(&want, set->v, set->n, sizeof(*set->v), kroute_cmp) : NULL;
	return r && kroute_same(r, &want);
}

void kroute_set_free(struct kroute_set *set)
{
	free(set->v);
	memset(set, 0, sizeof(*set));
}

/*
 * Start-up: the kernel routes of PODLANE_RTPROT on the uplink and the vxlan device become
 * exactly one per loaded record. Right ones are kept (a restart rewrites nothing), wrong or
 * unexplained ones (a node deleted while the agent was down, the other routing mode) go.
 */
void kroutes_sync(struct agent *a)
{
	int devs[2] = { a->uplink_ifindex, a->vxlan_ifindex };
	struct node_table *t = a->nodes;
	size_t i, j, kept = 0, written = 0, removed = 0, failed = 0;
	struct kroute_list l = {};
	struct nl_route want;
	bool *have;
	int d, err;

	for (d = 0; d < 2; d++) {
		if (devs[d] <= 0 || (d == 1 && devs[0] == devs[1]))
			continue;
		err = nl_route_list(&a->nl, PODLANE_RTPROT, devs[d], kroute_collect, &l);
		if (err)
			log_warn("failed to list kernel routes ifindex=%d err=\"%s\"", devs[d],
				 nl_strerror(&a->nl, err));
	}
	have = calloc(t->n + 1, sizeof(*have));
	if (!have) {
		free(l.v);
		return;
	}
	for (i = 0; i < l.n; i++) {
		bool wanted = false;

		for (j = 0; j < t->n && !wanted; j++) {
			if (!have[j] && kroute_for(a, &t->v[j], &want) && kroute_same(&want, &l.v[i]))
				wanted = have[j] = true;
		}
		if (wanted) {
			kept++;
		} else if (!nl_route_del(&a->nl, &l.v[i])) {
			removed++;
		}
	}
	for (j = 0; j < t->n; j++) {
		if (have[j] || !kroute_for(a, &t->v[j], &want))
			continue;
		if (kroute_install(a, &t->v[j], NULL))
			failed++;
		else
			written++;
	}
	free(have);
	free(l.v);
	if (!a->no_node_routes)
		log_info("kernel routes in place nodes=%zu kept=%zu written=%zu removed=%zu "
			 "failed=%zu", t->n, kept, written, removed, failed);
}

struct kroute_uninstall {
	struct nl_sock *nl;
	size_t removed;
};

static void kroute_uninstall_one(const char *file, const struct node_record *n, void *data)
{
	struct kroute_uninstall *u = data;
	struct nl_route r = {
		.protocol = PODLANE_RTPROT, .dst = n->pod_cidr, .prefix_len = n->pod_cidr_len,
	};

	if (!nl_route_del(u->nl, &r))
		u->removed++;
}

/* --uninstall: the kernel route of every recorded node, by pod CIDR and our protocol. */
void kroutes_uninstall(struct nl_sock *nl, const char *state_dir)
{
	struct kroute_uninstall u = { .nl = nl };

	node_store_walk(state_dir, kroute_uninstall_one, &u);
	if (u.removed)
		log_info("deleted kernel routes to remote pod CIDRs count=%zu", u.removed);
}

