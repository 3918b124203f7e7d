// SPDX-License-Identifier: GPL-2.0-only
/*
 * nodes/record.c - a node record on its own: its text forms, the checks it must pass before
 * anything else looks at it, and podlaned's node options. No I/O, no agent state.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>

#include "core/addr.h"
#include "core/agent.h"
#include "nodes/nodes.h"
#include "nodes/nodes_int.h"

int node_routing_parse(const char *s)
{
	if (!strcmp(s, "direct"))
		return NODE_ROUTING_DIRECT;
	if (!strcmp(s, "vxlan"))
		return NODE_ROUTING_VXLAN;
	return -1;
}

const char *node_routing_name(int routing)
{
	return routing == NODE_ROUTING_VXLAN ? "vxlan" : "direct";
}

/* Kubernetes node names are DNS labels or subdomains: lower-case alphanumerics, '-' and '.'. */
static bool node_name_valid(const char *s)
{
	size_t i, len = strlen(s);

	if (!len || len >= PODLANE_NODE_NAME_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
		    s[i] != '-' && s[i] != '.')
			return false;
	return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[len - 1]);
}

/* An address a node can have: none of the reserved ranges (core/addr.h). */
static bool node_ip_usable(in_addr_t ip)
{
	return !addr4_reserved(ip, 32);
}

int nodes_option(struct agent *a, int which, const char *value)
{
	struct in_addr in;

	switch (which) {
	case NODES_OPT_NAME:
		if (!node_name_valid(value))
			break;
		a->node_name = value;
		return 0;
	case NODES_OPT_IP:
		if (inet_pton(AF_INET, value, &in) != 1 || !node_ip_usable(in.s_addr))
			break;
		a->node_ip = in.s_addr;
		return 0;
	case NODES_OPT_ROUTING:
		if (node_routing_parse(value) < 0)
			break;
		a->routing = node_routing_parse(value);
		return 0;
	case NODES_OPT_VXLAN_DEV:
		if (!value[0] || strlen(value) >= IF_NAMESIZE || strchr(value, '/') ||
		    strchr(value, ' '))
			break;
		a->vxlan_dev = value;
		return 0;
	}
	fprintf(stderr, "podlaned: --%s wants %s, got '%s'\n", (const char *[]){
		"node-name", "node-ip", "routing", "vxlan-dev" }[which & 3], (const char *[]){
		"a node name (a-z, 0-9, '-', '.')", "a unicast IPv4 address", "direct or vxlan",
		"an interface name" }[which & 3], value);
	return -1;
}

/* The checks that need nothing but the record itself. */
int node_record_check(const struct node_record *n, struct api_error *e)
{
	char ip[INET_ADDRSTRLEN], want[CIDR4_STRLEN];
	const struct addr4_range *r;

	if (!node_name_valid(n->name))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "name: '%.*s' is not a node name "
			       "(1-%d characters of a-z, 0-9, '-' and '.', starting and ending "
			       "with a letter or digit)", PODLANE_NODE_NAME_LEN, n->name,
			       PODLANE_NODE_NAME_LEN - 1);
	r = addr4_reserved(n->node_ip, 32);
	if (r)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "node_ip: %s is not a unicast "
			       "address a node can have (%s, %s)", ip4_str(n->node_ip, ip),
			       r->cidr, r->what);
	/* /0 would send every destination to one node, the node's own uplink traffic included. */
	if (n->pod_cidr_len < 1 || n->pod_cidr_len > 32)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod_cidr: prefix length %u is not "
			       "1-32", n->pod_cidr_len);
	if (n->pod_cidr & ~prefix_mask4(n->pod_cidr_len))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod_cidr: %s/%u has host bits set "
			       "(did you mean %s?)", ip4_str(n->pod_cidr, ip), n->pod_cidr_len,
			       cidr4_str(n->pod_cidr & prefix_mask4(n->pod_cidr_len),
					 n->pod_cidr_len, want));
	r = addr4_reserved(n->pod_cidr, n->pod_cidr_len);
	if (r)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod_cidr: %s overlaps %s (%s), "
			       "which no pod may use", cidr4_str(n->pod_cidr, n->pod_cidr_len, want),
			       r->cidr, r->what);
	if (cidr4_overlap(n->pod_cidr, n->pod_cidr_len, n->node_ip, 32))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "node_ip: %s lies inside the node's "
			       "own pod CIDR", ip4_str(n->node_ip, ip));
	return 0;
}

int node_record_parse(struct node_record *n, const char *name, const char *node_ip,
		      const char *pod_cidr, struct api_error *e)
{
	struct in_addr in;

	memset(n, 0, sizeof(*n));
	if (!name || strlen(name) >= sizeof(n->name))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "name: missing or longer than %zu "
			       "characters", sizeof(n->name) - 1);
	strcpy(n->name, name);
	if (!node_ip || inet_pton(AF_INET, node_ip, &in) != 1)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "node_ip: '%s' is not an IPv4 "
			       "address", node_ip ? node_ip : "");
	n->node_ip = in.s_addr;
	if (cidr4_parse(pod_cidr, &n->pod_cidr, &n->pod_cidr_len))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod_cidr: '%s' is not an IPv4 "
			       "CIDR (a.b.c.d/len)", pod_cidr ? pod_cidr : "");
	return node_record_check(n, e);
}
