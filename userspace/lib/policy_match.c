// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy_match.c - what a NetworkPolicy selects (policy_spec.h): pods by their labels and
 * their namespace's, addresses by ipBlock, ports by number, range or name. Pure functions, the
 * reference the compiled BPF maps are checked against.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_spec.h"

bool policy_cidr_contains(const struct policy_cidr *cidr, int family, const void *addr)
{
	const __u8 *a = addr;
	unsigned int full = cidr->prefix_len / 8, rest = cidr->prefix_len % 8;

	if (family != cidr->family)
		return false;
	if (memcmp(cidr->addr, a, full))
		return false;
	return !rest || !((cidr->addr[full] ^ a[full]) & (0xff00 >> rest));
}

int policy_namespace_init(struct policy_namespace *ns, const char *name,
			  const struct label_set *labels)
{
	memset(ns, 0, sizeof(*ns));
	ns->name = strdup(name);
	if (!ns->name || (labels && label_set_copy(&ns->labels, labels)) ||
	    label_set_add(&ns->labels, POLICY_NS_NAME_LABEL, name)) {
		policy_namespace_free(ns);
		return -ENOMEM;
	}
	return 0;
}

void policy_namespace_free(struct policy_namespace *ns)
{
	free(ns->name);
	ns->name = NULL;
	label_set_free(&ns->labels);
}

void policy_pod_free(struct policy_pod *pod)
{
	unsigned int i;

	free(pod->namespace);
	free(pod->name);
	pod->namespace = pod->name = NULL;
	label_set_free(&pod->labels);
	for (i = 0; pod->ports && i < pod->nports; i++)
		free(pod->ports[i].name);
	free(pod->ports);
	pod->ports = NULL;
	pod->nports = 0;
}

bool policy_selects_pod(const struct policy_spec *spec, const struct label_set *pod_labels,
			const char *pod_ns)
{
	return !strcmp(spec->namespace, pod_ns) &&
	       label_selector_matches(&spec->pod_selector, pod_labels);
}

bool policy_peer_matches_pod(const struct policy_peer *peer, const struct label_set *pod_labels,
			     const struct label_set *ns_labels, const char *pod_ns,
			     const char *policy_ns)
{
	switch (peer->kind) {
	case POLICY_PEER_PODS:
		return !strcmp(pod_ns, policy_ns) &&
		       label_selector_matches(&peer->pods, pod_labels);
	case POLICY_PEER_NAMESPACES:
		return label_selector_matches(&peer->namespaces, ns_labels);
	case POLICY_PEER_PODS_IN_NAMESPACES:
		return label_selector_matches(&peer->namespaces, ns_labels) &&
		       label_selector_matches(&peer->pods, pod_labels);
	case POLICY_PEER_IP_BLOCK:
		return false;
	}
	return false;
}

bool policy_peer_matches_addr(const struct policy_peer *peer, int family, const void *addr)
{
	unsigned int i;

	if (peer->kind != POLICY_PEER_IP_BLOCK ||
	    !policy_cidr_contains(&peer->ip_block.cidr, family, addr))
		return false;
	for (i = 0; i < peer->ip_block.nexcept; i++)
		if (policy_cidr_contains(&peer->ip_block.except[i], family, addr))
			return false;
	return true;
}

bool policy_port_matches(const struct policy_port *pp, const struct policy_pod *dst, __u8 proto,
			 __u16 port)
{
	unsigned int i;

	if (pp->proto != proto)
		return false;
	if (!pp->name)
		return !pp->port || (port >= pp->port && port <= pp->end_port);
	for (i = 0; dst && i < dst->nports; i++)
		if (dst->ports[i].proto == proto && dst->ports[i].port == port &&
		    !strcmp(dst->ports[i].name, pp->name))
			return true;
	return false;
}

bool policy_rule_ports_match(const struct policy_rule *rule, const struct policy_pod *dst,
			     __u8 proto, __u16 port)
{
	unsigned int i;

	if (!rule->nports)
		return true;
	for (i = 0; i < rule->nports; i++)
		if (policy_port_matches(&rule->ports[i], dst, proto, port))
			return true;
	return false;
}
