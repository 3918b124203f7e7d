// SPDX-License-Identifier: GPL-2.0-only
/*
 * lb/frontends.c - a service's frontends: per port the ClusterIP, each external IP and the
 * NodePort on each of the node's uplink addresses, each a podlane_svc key with the flags and
 * value the datapath reads (bpf/lib/lb.h). Pure: what maps.c then writes.
 */
#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>

#include "core/agent.h"
#include "lb/lb_int.h"

static const char *const fe_kind_names[] = { "ClusterIP", "ExternalIP", "NodePort" };

const char *service_frontend_kind_name(enum service_frontend_kind kind)
{
	return fe_kind_names[kind];
}

void fe_text(const struct lb_service_key *k, char *out, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &k->addr, ip, sizeof(ip));
	snprintf(out, len, "%s:%u/%s", ip, ntohs(k->port), service_proto_name(k->proto));
}

static int add_frontend(struct svc *s, unsigned int cap, __be32 addr, __u16 port, __u8 proto,
			__u8 pidx, __u8 kind, __u32 flags, struct api_error *e)
{
	struct svc_frontend *f;
	unsigned int i;
	char text[64];

	for (i = 0; i < s->nfe; i++) {
		if (s->fe[i].key.addr == addr && s->fe[i].key.port == htons(port) &&
		    s->fe[i].key.proto == proto) {
			fe_text(&s->fe[i].key, text, sizeof(text));
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "service %s: frontend %s "
				       "appears twice (%s and %s)", s->name, text,
				       fe_kind_names[s->fe[i].kind], fe_kind_names[kind]);
		}
	}
	if (s->nfe >= cap)
		return api_fail(e, PODLANE_ERR_INTERNAL, "too many frontends");
	f = &s->fe[s->nfe++];
	f->key.addr = addr;
	f->key.port = htons(port);
	f->key.proto = proto;
	f->key.pad = 0;
	f->port = pidx;
	f->kind = kind;
	f->flags = flags;
	return 0;
}

/* Fill s->fe from the spec and the node addresses; a frontend twice is an invalid spec. */
int build_frontends(struct lb_state *lb, struct svc *s, struct api_error *e)
{
	const struct service_spec *sp = &s->spec;
	unsigned int cap = s->fe_cap, p, i;
	__u32 common = sp->affinity ? PODLANE_SVC_F_AFFINITY : 0;
	__u32 cluster = common | (sp->int_local ? PODLANE_SVC_F_INT_LOCAL : 0);
	__u32 ext = common | PODLANE_SVC_F_MAGLEV | (sp->ext_local ? PODLANE_SVC_F_EXT_LOCAL : 0);
	int err = 0;

	s->has_node_port = false;
	for (p = 0; p < sp->nports && !err; p++) {
		const struct svc_port *port = &sp->ports[p];

		/* internalTrafficPolicy is about the ClusterIP only, as in Kubernetes. */
		err = add_frontend(s, cap, sp->cluster_ip, port->port, port->proto, p,
				   SERVICE_FE_CLUSTER_IP, cluster, e);
		for (i = 0; i < sp->nexternal && !err; i++)
			err = add_frontend(s, cap, sp->external_ips[i], port->port, port->proto, p,
					   SERVICE_FE_EXTERNAL_IP, ext | PODLANE_SVC_F_EXTERNAL, e);
		if (port->node_port)
			s->has_node_port = true;
		for (i = 0; port->node_port && i < lb->n_node_ips && !err; i++)
			err = add_frontend(s, cap, lb->node_ips[i], port->node_port, port->proto,
					   p, SERVICE_FE_NODEPORT, ext | PODLANE_SVC_F_NODEPORT, e);
	}
	return err;
}

/* The podlane_svc value of frontend f: its port's id and counts, its flags. */
struct lb_service svc_value(const struct svc *s, const struct svc_frontend *f)
{
	const struct svc_slots *ss = &s->ports[f->port];
	struct lb_service v = {
		.id = ss->id,
		.count = ss->count,
		.local_count = ss->local_count,
		.flags = f->flags,
		.affinity_timeout = s->spec.affinity ? s->spec.affinity_timeout : 0,
	};

	return v;
}

/* Whether key is one of s's frontends. */
bool svc_has_frontend(const struct svc *s, const struct lb_service_key *key)
{
	unsigned int i;

	for (i = 0; i < s->nfe; i++)
		if (!memcmp(&s->fe[i].key, key, sizeof(*key)))
			return true;
	return false;
}

/*
 * tc_from_pod only looks for replies of translated flows (an L4 parse and a podlane_ct lookup
 * per packet) in the packets of endpoints flagged PODLANE_EP_F_LB_BACKEND: backends of a
 * service with a frontend the per-packet path translates. Other pods skip it. ClusterIPs
 * count: tc_from_uplink translates them for clients on other nodes too.
 */
static const bool fe_per_packet[] = {
	[SERVICE_FE_CLUSTER_IP]		= true,
	[SERVICE_FE_EXTERNAL_IP]	= true,
	[SERVICE_FE_NODEPORT]		= true,
};

/* Whether the per-packet path translates a frontend of s: then its backends are flagged. */
bool svc_per_packet(const struct svc *s)
{
	unsigned int i;

	for (i = 0; i < s->nfe; i++)
		if (fe_per_packet[s->fe[i].kind])
			return true;
	return false;
}

/* The uplink's IPv4 addresses, where NodePorts listen (none without --uplink). */
void node_ips_read(struct agent *a, __be32 *ips, unsigned int *n)
{
	struct ifaddrs *ifa, *i;

	*n = 0;
	if (!a->uplink || getifaddrs(&ifa))
		return;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    strcmp(i->ifa_name, a->uplink) || *n >= LB_MAX_NODE_IPS)
			continue;
		ips[(*n)++] = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
	}
	freeifaddrs(ifa);
}
