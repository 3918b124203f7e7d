// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipam/rules.c - which addresses belong to this node, so that neither a pod nor another node's
 * pod CIDR is ever given one of them (ipam/ipam.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>

#include "core/addr.h"
#include "core/agent.h"
#include "ipam/ipam.h"

struct own_search {
	in_addr_t net;
	unsigned int len;
	struct ipam_node_addr *found;
	bool hit;
};

static void own_cb(int ifindex, in_addr_t addr, unsigned int prefix_len, void *ctx)
{
	struct own_search *s = ctx;

	/* Loopback's 127/8 is refused as a reserved range already, with a clearer reason. */
	if (s->hit || addr4_reserved(addr, 32) || !cidr4_overlap(s->net, s->len, addr, 32))
		return;
	s->hit = true;
	s->found->addr = addr;
	if (!if_indextoname(ifindex, s->found->where))
		snprintf(s->found->where, sizeof(s->found->where), "ifindex %d", ifindex);
}

int ipam_node_addr_in(struct agent *a, in_addr_t net, unsigned int len,
		      struct ipam_node_addr *found)
{
	struct own_search s = { .net = net, .len = len, .found = found };
	int err;

	memset(found, 0, sizeof(*found));
	if (a->node_ip && cidr4_overlap(net, len, a->node_ip, 32)) {
		found->addr = a->node_ip;
		snprintf(found->where, sizeof(found->where), "--node-ip");
		return 1;
	}
	err = nl_addr_list4(&a->nl, own_cb, &s);
	if (err)
		return err;
	return s.hit;
}
