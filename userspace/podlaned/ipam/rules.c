// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipam/rules.c - which addresses a pod may hold (ipam/ipam.h): the one rule that podlaned's own
 * allocations and the addresses of a delegated IPAM plugin both pass, and the node's own
 * addresses, which neither a pod nor another node's pod CIDR may have.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
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

/*
 * The one rule of which addresses a pod may hold. net/len is one address (len 32) or a whole
 * pool; sn, when known, is the subnet the address came from.
 */
int ipam_pod_addrs_check(struct agent *a, in_addr_t net, unsigned int len,
			 const struct subnet4 *sn, struct api_error *e)
{
	char what[CIDR4_STRLEN + 16], ip[INET_ADDRSTRLEN], cidr[CIDR4_STRLEN];
	const struct addr4_range *r;
	struct ipam_node_addr own;
	int ret;

	if (len == 32)
		snprintf(what, sizeof(what), "address %s", ip4_str(net, ip));
	else
		snprintf(what, sizeof(what), "subnet %s", cidr4_str(net, len, cidr));
	if (cidr4_overlap(net, len, inet_addr(PODLANE_GATEWAY4), 32))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "%s %s the pods' gateway %s: no pod "
			       "may hold it", len == 32 ? ip : what, len == 32 ? "is" : "holds",
			       PODLANE_GATEWAY4);
	r = addr4_reserved(net, len);
	if (r)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "%s overlaps %s (%s): no pod may "
			       "hold an address there", what, r->cidr, r->what);
	/* A /31 or /32 has no network and broadcast address (RFC 3021). */
	if (len == 32 && sn && sn->prefix_len <= 30) {
		cidr4_str(sn->net, sn->prefix_len, cidr);
		if (net == sn->net)
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "%s is the network address "
				       "of %s: no pod may hold it", ip, cidr);
		if (net == (sn->net | ~prefix_mask4(sn->prefix_len)))
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "%s is the broadcast "
				       "address of %s: no pod may hold it", ip, cidr);
	}
	ret = ipam_node_addr_in(a, net, len, &own);
	if (ret < 0)
		return api_fail(e, PODLANE_ERR_INTERNAL, "failed to read this node's addresses: %s",
			       strerror(-ret));
	if (ret && len == 32)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "%s is this node's own address "
			       "(%s): no pod may hold it", ip, own.where);
	if (ret)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "%s holds this node's own address "
			       "%s (%s): a pod CIDR must not overlap the node's own networks", what,
			       ip4_str(own.addr, ip), own.where);
	return 0;
}

int ipam_delegated_check(struct agent *a, const char *ip, const char *subnet,
			 struct api_error *e)
{
	struct subnet4 sn;
	in_addr_t addr;

	if (inet_pton(AF_INET, ip, &addr) != 1)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "invalid ip '%s': want a.b.c.d", ip);
	/*
	 * A podlane-cni before this rule sent the network's podCIDR here, not the plugin's
	 * subnet: one that does not hold the address says nothing about it.
	 */
	if (subnet && subnet[0] && subnet_parse(subnet, &sn))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "invalid subnet '%s': want "
			       "a.b.c.d/len", subnet);
	return ipam_pod_addrs_check(a, addr, 32, subnet && subnet[0] && subnet_contains(&sn, addr) ?
				    &sn : NULL, e);
}
