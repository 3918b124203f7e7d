// SPDX-License-Identifier: GPL-2.0-only
/*
 * endpoint/reconcile.c - endpoints as a whole: CNI GC, the start-up reconcile after a restart
 * or a crash (adopt what is alive, remove what is gone, finish what an interrupted ADD left),
 * and the XDP fast-path flags of every endpoint.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include "core/agent.h"
#include "datapath/datapath.h"
#include "datapath/eps.h"
#include "endpoint/endpoint.h"
#include "endpoint/endpoint_int.h"
#include "ipam/ipam.h"
#include "log.h"
#include "policy/policy.h"

struct gc_state {
	struct agent *a;
	const char *network;
	const struct gc_keep *keep;
	size_t nkeep;
	__u32 victims[256];
	size_t nvictims;
	int released;
	int stuck;		/* addresses that could not be released */
	int stuck_err;		/* the first one's -errno */
	in_addr_t stuck_addr;
};

static void gc_count(struct gc_state *g, int err, in_addr_t addr)
{
	if (err >= 0) {
		g->released += err;
		return;
	}
	if (!g->stuck++) {
		g->stuck_err = err;
		g->stuck_addr = addr;
	}
}

static bool gc_kept(const struct gc_state *g, const char *container_id, const char *ifname)
{
	size_t i;

	for (i = 0; i < g->nkeep; i++)
		if (!strcmp(g->keep[i].container_id, container_id) &&
		    !strcmp(g->keep[i].ifname, ifname))
			return true;
	return false;
}

static int gc_endpoint_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct gc_state *g = data;

	if (strncmp(meta->network, g->network, sizeof(meta->network)) ||
	    gc_kept(g, meta->container_id, meta->ifname))
		return 0;
	g->victims[g->nvictims++] = ifindex;
	/* Deleting while iterating a hash map restarts the walk; collect a batch instead. */
	return g->nvictims == sizeof(g->victims) / sizeof(g->victims[0]);
}

static int gc_ipam_cb(const char *network, const struct ipam_entry *ent, void *data)
{
	struct gc_state *g = data;

	if (gc_kept(g, ent->container_id, ent->ifname))
		return 0;
	gc_count(g, ipam_release_addr(g->a, network, ent->addr, ent->container_id, ent->ifname),
		 ent->addr);
	return 0;
}

int endpoint_gc(struct agent *a, const char *network, const struct gc_keep *keep, size_t nkeep,
		struct api_error *e)
{
	struct gc_state g = { .a = a, .network = network, .keep = keep, .nkeep = nkeep };
	struct endpoint_meta meta;
	int rounds;
	size_t i;

	if (!network_name_ok(network))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "invalid network name '%s'",
			       network ? network : "");
	for (rounds = 0; rounds < 1024; rounds++) {
		g.nvictims = 0;
		eps_walk(a, gc_endpoint_cb, &g);
		for (i = 0; i < g.nvictims; i++) {
			if (eps_meta_get(a, g.victims[i], &meta))
				continue;
			/* An address it could not release is tried again, and counted, below. */
			if (!endpoint_remove(a, g.victims[i], &meta))
				g.released++;
		}
		if (g.nvictims < sizeof(g.victims) / sizeof(g.victims[0]))
			break;
	}
	/* Allocations whose endpoint never got wired (or was removed without DEL). */
	ipam_walk(a, network, gc_ipam_cb, &g);
	log_info("gc done network=%s kept=%zu released=%d stuck=%d", network, nkeep, g.released,
		 g.stuck);
	if (g.stuck) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &g.stuck_addr, ip, sizeof(ip));
		return api_fail(e, PODLANE_ERR_IO, "gc released %d, but %d addresses of network "
			       "'%s' stay allocated (the first, %s: %s)", g.released, g.stuck,
			       network, ip, strerror(-g.stuck_err));
	}
	return g.released;
}

struct reconcile_state {
	struct agent *a;
	__u32 dead[256];
	size_t ndead;
	bool more;
	int adopted;
	int removed;
	int failed;
};

static int reconcile_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct reconcile_state *r = data;
	struct agent *a = r->a;
	struct endpoint_value val = {};
	struct api_error e = {};
	struct nl_link host;
	char ip[INET_ADDRSTRLEN];
	int err;

	if (!host_veth_alive(a, ifindex, meta, &host) || !netns_alive(meta)) {
		if (r->ndead == sizeof(r->dead) / sizeof(r->dead[0])) {
			r->more = true;
			return 1;
		}
		r->dead[r->ndead++] = ifindex;
		return 0;
	}
	inet_ntop(AF_INET, &meta->addr.ip4, ip, sizeof(ip));
	/* Its pod's names and labels, for network policy (which writes nothing yet). */
	policy_pod_restore(a, ifindex, meta->host_ifname, meta->addr.ip4);
	if (datapath_attach_endpoint(a, ifindex, &e)) {
		log_error("failed to re-attach endpoint ip=%s dev=%s err=\"%s\"", ip,
			  meta->host_ifname, e.msg);
		r->failed++;
		return 0;
	}
	/* An ADD interrupted right before its last step: finish it. */
	if (eps_lookup(a, meta->addr.ip4, &val) || val.ifindex != ifindex) {
		struct nl_sock pod = {};
		struct nl_link pod_link;
		struct stat st;
		int fd = netns_open(meta->netns, &st);

		if (fd >= 0 && !nl_open_netns(&pod, fd) &&
		    !nl_link_get(&pod, meta->ifname, 0, &pod_link)) {
			memset(&val, 0, sizeof(val));
			val.ifindex = ifindex;
			val.flags = PODLANE_EP_F_READY;
			memcpy(val.pod_mac, pod_link.mac, 6);
			memcpy(val.host_mac, host.mac, 6);
			err = eps_publish(a, meta->addr.ip4, &val, false);
			if (err)
				log_error("failed to restore datapath entry ip=%s: %s", ip,
					  strerror(-err));
			else
				log_info("restored datapath entry ip=%s dev=%s", ip,
					 meta->host_ifname);
		}
		if (pod.mnl)
			nl_close(&pod);
		if (fd >= 0)
			close(fd);
	}
	log_debug("endpoint adopted ip=%s dev=%s container_id=%s", ip, meta->host_ifname,
		  meta->container_id);
	r->adopted++;
	return 0;
}

struct xdp_rx_state {
	struct agent *a;
	int set, cleared, failed;
};

/* One endpoint's PODLANE_EP_F_XDP_RX brought in line with a->xdp_fastpath. */
static int xdp_rx_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct xdp_rx_state *x = data;
	struct agent *a = x->a;
	struct endpoint_value val;
	struct nl_sock pod = {};
	struct stat st;
	int fd, err;

	if (eps_lookup(a, meta->addr.ip4, &val) || val.ifindex != ifindex)
		return 0;
	if (!a->xdp_fastpath) {
		if (!(val.flags & PODLANE_EP_F_XDP_RX))
			return 0;
		/* GRO stays on in the pod: harmless, and the pod's own business from now on. */
		if (eps_endpoint_flag(a, meta->addr.ip4, ifindex, PODLANE_EP_F_XDP_RX, false))
			x->failed++;
		else
			x->cleared++;
		return 0;
	}
	/* Flagged ones were readied by their ADD or an earlier start. */
	if (val.flags & PODLANE_EP_F_XDP_RX)
		return 0;
	fd = netns_open(meta->netns, &st);
	err = fd < 0 ? fd : nl_open_netns(&pod, fd);
	if (!err)
		err = pod_enable_gro(&pod, meta->ifname);
	if (pod.mnl)
		nl_close(&pod);
	if (fd >= 0)
		close(fd);
	if (!err)
		err = eps_endpoint_flag(a, meta->addr.ip4, ifindex, PODLANE_EP_F_XDP_RX, true);
	if (err) {
		log_warn("no XDP fast path for endpoint dev=%s container_id=%s err=\"%s\"",
			 meta->host_ifname, meta->container_id, netns_strerror(err));
		x->failed++;
		return 0;
	}
	x->set++;
	return 0;
}

void endpoint_xdp_rx_sync(struct agent *a)
{
	struct xdp_rx_state x = { .a = a };

	/* Only flags change, never keys: the hash walk is not disturbed. */
	eps_walk(a, xdp_rx_cb, &x);
	if (x.set || x.cleared || x.failed)
		log_info("xdp fast path flags synced on=%d set=%d cleared=%d failed=%d",
			 a->xdp_fastpath, x.set, x.cleared, x.failed);
}

struct stray_state {
	struct agent *a;
	uint32_t group;
	int ifindex[256];
	char name[256][IF_NAMESIZE];
	size_t n;
	bool more;
};

/* One of our host veths (by device group) without an endpoint record: collected. */
static void stray_cb(const struct nl_link *link, void *data)
{
	struct stray_state *s = data;
	struct endpoint_meta meta;

	if (link->group != s->group || strcmp(link->kind, "veth"))
		return;
	if (!eps_meta_get(s->a, link->ifindex, &meta) &&
	    !strncmp(meta.host_ifname, link->name, sizeof(meta.host_ifname)))
		return;
	if (s->n == sizeof(s->ifindex) / sizeof(s->ifindex[0])) {
		s->more = true;
		return;
	}
	s->ifindex[s->n] = link->ifindex;
	snprintf(s->name[s->n++], IF_NAMESIZE, "%s", link->name);
}

/*
 * An ADD killed before it wrote the endpoint record leaves a host veth and, inside the pod, its
 * peer with the address, routes and neighbour: deleting the host veth takes all of that, and
 * its host route and neighbour, with it. Synchronously, before any address is given back.
 */
static int remove_stray_host_veths(struct agent *a)
{
	struct stray_state *s = calloc(1, sizeof(*s));
	int removed = 0, rounds, err;
	size_t i;

	if (!s) {
		log_error("out of memory looking for stray host veths");
		return 0;
	}
	s->a = a;
	s->group = endpoint_host_group(a);
	for (rounds = 0; rounds < 1024; rounds++) {
		s->n = 0;
		s->more = false;
		err = nl_link_list(&a->nl, stray_cb, s);
		if (err) {
			log_error("failed to list links looking for stray host veths err=\"%s\"",
				  nl_strerror(&a->nl, err));
			break;
		}
		for (i = 0; i < s->n; i++) {
			log_warn("deleting stray host veth of an interrupted ADD dev=%s ifindex=%d",
				 s->name[i], s->ifindex[i]);
			err = nl_link_del(&a->nl, s->ifindex[i]);
			if (!err || err == -ENODEV)
				removed++;
			else
				log_error("failed to delete stray host veth dev=%s err=\"%s\"",
					  s->name[i], nl_strerror(&a->nl, err));
		}
		if (!s->more || !s->n)
			break;
	}
	free(s);
	return removed;
}

/*
 * At start-up no ADD is in flight, so an allocation without an endpoint is a leftover of a crash
 * (or of a node reboot, which empties bpffs but not the state dir): give the address back, once
 * nothing holds it. The veth named for the attachment goes first: that is also how a stray of
 * a build that did not put its veths in a group of their own is found.
 */
static int orphan_ipam_cb(const char *network, const struct ipam_entry *ent, void *data)
{
	struct agent *a = data;
	struct endpoint_meta meta;
	char ip[INET_ADDRSTRLEN], host_ifname[IF_NAMESIZE];
	__u32 ifindex;

	if (endpoint_find(a, ent->container_id, ent->ifname, network, &ifindex, &meta, true))
		return 0;
	endpoint_host_ifname(ent->container_id, ent->ifname, host_ifname);
	remove_stray_host_veth(a, host_ifname);
	inet_ntop(AF_INET, &ent->addr, ip, sizeof(ip));
	log_info("releasing address allocated without an endpoint network=%s ip=%s "
		 "container_id=%s ifname=%s", network, ip, ent->container_id, ent->ifname);
	ipam_release_addr(a, network, ent->addr, ent->container_id, ent->ifname);
	return 0;
}

void endpoint_reconcile(struct agent *a)
{
	struct reconcile_state r = { .a = a };
	struct endpoint_meta meta;
	int rounds, swept, strays;
	size_t i;

	crash_announce();
	/* DELs interrupted after they condemned their veth, before the reaper deleted it. */
	host_veth_reap_leftovers(a);
	for (rounds = 0; rounds < 4096; rounds++) {
		r.ndead = 0;
		r.more = false;
		r.adopted = r.failed = 0;
		eps_walk(a, reconcile_cb, &r);
		for (i = 0; i < r.ndead; i++) {
			if (eps_meta_get(a, r.dead[i], &meta))
				continue;
			log_info("endpoint gone while podlaned was down container_id=%s dev=%s "
				 "netns=%s", meta.container_id, meta.host_ifname, meta.netns);
			endpoint_remove(a, r.dead[i], &meta);
			r.removed++;
		}
		if (!r.more)
			break;
	}
	strays = remove_stray_host_veths(a);
	/* Fast-path entries and counters whose endpoint record is gone point at stale devices. */
	swept = eps_sweep_orphans(a);
	ipam_walk(a, NULL, orphan_ipam_cb, a);
	log_info("reconciled adopted=%d removed=%d failed=%d stray_veths=%d orphan_entries=%d",
		 r.adopted, r.removed, r.failed, strays, swept);
}
