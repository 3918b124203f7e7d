// SPDX-License-Identifier: GPL-2.0-only
/*
 * service.c - services in podlaned: validated specs (service_spec.h) turned into the LB maps
 * that bpf/lib/lb.h reads, persisted under <state-dir>/services/, reconciled on start.
 *
 * Map layout per service: every port of a service owns one svc id; all frontends of that port
 * (the ClusterIP, each external IP, the NodePort on each node address) are podlane_svc entries
 * that point at that id, whose backends sit in podlane_backend {id, slot} packed as podlane.h
 * says (local active, remote active, then terminating and drained). NodePort and external-IP
 * frontends are MAGLEV, so a table sits in podlane_maglev[id] when the port has any.
 *
 * Updates never show a half-built service: a changed port gets a fresh id, its slots (and
 * table) are written under that id first, then every frontend entry flips to it in one map
 * update each, then the old id's slots are deleted. A failure at any step undoes the steps
 * before it, so a refused update changes nothing. (One exception, for speed: the Maglev table
 * of a service new from the cluster store joins podlane_maglev with the rest of the store's
 * batch, a moment after its frontends; see maglev_flush.)
 *
 * Services from the cluster store (sync.c) have no state file: the store is their source of
 * truth, and the pinned maps carry them over a restart until the store's first full list
 * adopts or removes them (service_init, service_store_sweep). podlanectl's are persisted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "core/agent.h"
#include "datapath/eps.h"
#include "lb/lb_int.h"
#include "log.h"
#include "maglev.h"

#define SVC_BUCKETS		16384
#define SVC_DIR			"services"
#define TICK_INTERVAL_MS	2000	/* backend locality and node addresses */
#define GC_INTERVAL_MS		10000	/* conntrack collection */

/* owner[] marks for ids that the maps use but no known service owns (yet). */
#define OWNER_STALE		((struct svc *)1)


static const char *const fe_kind_names[] = { "ClusterIP", "ExternalIP", "NodePort" };

struct svc_frontend {
	struct lb_service_key key;
	__u32	flags;		/* PODLANE_SVC_F_* */
	__u8	port;		/* index into spec.ports */
	__u8	kind;		/* enum service_frontend_kind */
};

/* The backends of one service port as written under one svc id. */
struct svc_slots {
	__u32	id;
	__u32	nslots;
	__u16	count;
	__u16	local_count;
	bool	maglev;
	struct lb_backend *slot;
	/* from the last conntrack pass: flows through this port and their packets */
	__u64	flows, packets, bytes;
};

/*
 * One allocation per service (svc_new): an agent may hold tens of thousands, and the name,
 * the spec's ports and backends, the locality and the frontends all have sizes known up
 * front. Every pointer below points into the same block, except slots: the slot arrays are
 * needed while the service is written, and rebuilt from spec and locality when a later version
 * compares itself with them (slots_equal), so svc_settle() frees them once it is in place.
 */
struct svc {
	struct service_spec spec;	/* .ports, .backends: in the block */
	char	*name;		/* namespace/name */
	__s8	*local;		/* resolved locality per spec backend */
	struct svc_frontend *fe;
	unsigned int nfe, fe_cap;
	struct svc_slots *ports;	/* spec.nports of them */
	struct lb_backend *slots;	/* ports[].slot until svc_settle() */
	bool	has_auto_local;
	bool	has_node_port;
	bool	store;		/* from the cluster store (sync.c): no state file */
	__u32	store_gen;	/* the store's resync generation that last confirmed it */
	struct svc *hnext, *prev, *next;
};

static __u64 ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000ULL + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static unsigned int name_hash(const char *s)
{
	unsigned int h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % SVC_BUCKETS;
}

static struct svc *svc_find(struct lb_state *lb, const char *name)
{
	struct svc *s;

	for (s = lb->buckets[name_hash(name)]; s; s = s->hnext)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

static void svc_link(struct lb_state *lb, struct svc *s)
{
	unsigned int h = name_hash(s->name);

	s->hnext = lb->buckets[h];
	lb->buckets[h] = s;
	s->prev = lb->tail;
	s->next = NULL;
	if (lb->tail)
		lb->tail->next = s;
	else
		lb->head = s;
	lb->tail = s;
	lb->nservices++;
}

static void svc_unlink(struct lb_state *lb, struct svc *s)
{
	struct svc **pp;

	for (pp = &lb->buckets[name_hash(s->name)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		lb->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		lb->tail = s->prev;
	lb->nservices--;
}

static void svc_free(struct svc *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s);	/* one block, see struct svc */
}

/* s is in place: its slot arrays go (see struct svc). */
static void svc_settle(struct svc *s)
{
	unsigned int p;

	free(s->slots);
	s->slots = NULL;
	for (p = 0; p < s->spec.nports; p++)
		s->ports[p].slot = NULL;
}

/* A backend's identity for affinity and Maglev: stable across updates and restarts. */
static __u32 backend_id(__be32 addr, __be16 port)
{
	__u64 k = (__u64)ntohl(addr) << 16 | ntohs(port);
	__u32 h;

	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	h = (__u32)k;
	return h ? h : 1;
}

static __u32 id_alloc(struct lb_state *lb, struct svc *s)
{
	__u32 i, id;

	/* Round robin, so that an id just freed is not handed out again at once. */
	for (i = 0; i < PODLANE_MAX_SERVICES - 1; i++) {
		id = lb->next_id++;
		if (lb->next_id >= PODLANE_MAX_SERVICES)
			lb->next_id = 1;
		if (!lb->owner[id]) {
			lb->owner[id] = s;
			return id;
		}
	}
	return 0;
}

/*
 * Whether want ids are free. Looks from where id_alloc() goes on and stops at the want-th free
 * one: with a mostly free id space that is a few steps, not a walk of all ids per update.
 */
static bool ids_enough(struct lb_state *lb, unsigned int want)
{
	__u32 i, id = lb->next_id;

	for (i = 0; want && i < PODLANE_MAX_SERVICES - 1; i++) {
		want -= !lb->owner[id];
		if (++id >= PODLANE_MAX_SERVICES)
			id = 1;
	}
	return !want;
}

static void fe_text(const struct lb_service_key *k, char *out, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &k->addr, ip, sizeof(ip));
	snprintf(out, len, "%s:%u/%s", ip, ntohs(k->port), service_proto_name(k->proto));
}

/* ---- desired state ------------------------------------------------------------------------ */

static void resolve_local(struct agent *a, struct svc *s)
{
	unsigned int i;

	s->has_auto_local = false;
	for (i = 0; i < s->spec.nbackends; i++) {
		const struct svc_backend *b = &s->spec.backends[i];
		struct endpoint_value val;

		if (b->local != SVC_LOCAL_AUTO) {
			s->local[i] = b->local;
			continue;
		}
		s->has_auto_local = true;
		s->local[i] = !eps_lookup(a, b->addr, &val);
	}
}

static int add_frontend(struct svc *s, unsigned int cap, __be32 addr, __u16 port, __u8 proto,
			__u8 pidx, __u8 kind, __u32 flags, struct op_error *e)
{
	struct svc_frontend *f;
	unsigned int i;
	char text[64];

	for (i = 0; i < s->nfe; i++) {
		if (s->fe[i].key.addr == addr && s->fe[i].key.port == htons(port) &&
		    s->fe[i].key.proto == proto) {
			fe_text(&s->fe[i].key, text, sizeof(text));
			return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "service %s: frontend %s "
				       "appears twice (%s and %s)", s->name, text,
				       fe_kind_names[s->fe[i].kind], fe_kind_names[kind]);
		}
	}
	if (s->nfe >= cap)
		return op_fail(e, PODLANE_ERR_INTERNAL, "too many frontends");
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

static int build_frontends(struct lb_state *lb, struct svc *s, struct op_error *e)
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

/*
 * Slots of port p: active local, active remote, then terminating or drained (weight 0),
 * which the datapath never picks for a new connection but the per-packet path still knows.
 */
static int build_slots(struct svc *s, unsigned int p, struct op_error *e)
{
	const struct service_spec *sp = &s->spec;
	struct svc_slots *ss = &s->ports[p];
	unsigned int n = sp->nbackends, pass, i, k = 0;
	__u32 *w, *keep, *alias;
	bool maglev = false;

	for (i = 0; i < s->nfe; i++)
		maglev |= s->fe[i].port == p && (s->fe[i].flags & PODLANE_SVC_F_MAGLEV);
	ss->maglev = maglev;
	ss->nslots = n;
	ss->count = ss->local_count = 0;
	w = calloc(3 * (n ? n : 1), sizeof(*w));
	if (!w)
		return op_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	keep = w + n;
	alias = keep + n;
	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < n; i++) {
			const struct svc_backend *b = &sp->backends[i];
			bool active = b->state == PODLANE_BACKEND_ACTIVE && b->weight;
			struct lb_backend *be = &ss->slot[k];
			__u16 port;

			if (pass != (active ? (s->local[i] ? 0 : 1) : 2))
				continue;
			port = b->port ? b->port : sp->ports[p].target_port;
			be->addr = b->addr;
			be->port = htons(port);
			be->state = active ? PODLANE_BACKEND_ACTIVE : PODLANE_BACKEND_TERMINATING;
			be->flags = s->local[i] ? PODLANE_BACKEND_F_LOCAL : 0;
			be->id = backend_id(be->addr, be->port);
			be->weight = b->weight;
			be->keep = be->local_keep = PODLANE_ALIAS_KEEP_ALL;
			be->alias = be->local_alias = k;
			w[k] = b->weight;
			k++;
		}
		if (pass == 0)
			ss->local_count = k;
		if (pass == 1)
			ss->count = k;
	}
	if (ss->count && !lb_alias_build(w, ss->count, keep, alias)) {
		for (i = 0; i < ss->count; i++) {
			ss->slot[i].keep = keep[i];
			ss->slot[i].alias = alias[i];
		}
	}
	if (ss->local_count && !lb_alias_build(w, ss->local_count, keep, alias)) {
		for (i = 0; i < ss->local_count; i++) {
			ss->slot[i].local_keep = keep[i];
			ss->slot[i].local_alias = alias[i];
		}
	}
	free(w);
	return 0;
}

/* Everything about s that goes into the maps, except ids. */
static int svc_build(struct agent *a, struct svc *s, struct op_error *e)
{
	unsigned int p;
	int err;

	resolve_local(a, s);
	err = build_frontends(a->lb, s, e);
	for (p = 0; p < s->spec.nports && !err; p++)
		err = build_slots(s, p, e);
	return err;
}

static struct lb_service svc_value(const struct svc *s, const struct svc_frontend *f)
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

/* ---- which endpoints are service backends ------------------------------------------------- */

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

#define BE_REF_BITS	14

/*
 * An address in the backend lists of services (counted per list entry, so the same backend
 * under two services counts twice). At zero it drains instead of going away: flows the
 * per-packet path already sent to it keep working when it leaves a service (podlane_ct holds
 * the backend), so the flag stays until a conntrack pass finds none of its flows left.
 */
struct backend_ref {
	__be32	addr;
	__u32	refs;
	bool	has_flows;	/* draining: the last conntrack pass saw one of its flows */
	struct backend_ref *next;
};

static bool svc_per_packet(const struct svc *s)
{
	unsigned int i;

	for (i = 0; i < s->nfe; i++)
		if (fe_per_packet[s->fe[i].kind])
			return true;
	return false;
}

static struct backend_ref **backend_ref_find(struct lb_state *lb, __be32 addr)
{
	struct backend_ref **pp;

	pp = &lb->be_refs[(ntohl(addr) * 2654435761u) >> (32 - BE_REF_BITS)];
	while (*pp && (*pp)->addr != addr)
		pp = &(*pp)->next;
	return pp;
}

/* The endpoint of addr (if any, now or later) translates its replies while it is a backend. */
static void endpoint_flag(struct agent *a, __be32 addr, bool on)
{
	eps_addr_flag(a, addr, PODLANE_EP_F_LB_BACKEND, on);
}

/*
 * Count the backends of in (a service version going live) in and those of out (the version
 * it replaces, or a deleted service) out, in that order, so that an address both list keeps
 * its flag throughout. Flags change only where an address starts or stops being a backend.
 */
static void backend_refs_update(struct agent *a, const struct svc *in, const struct svc *out)
{
	struct lb_state *lb = a->lb;
	struct backend_ref **pp, *r;
	unsigned int i;

	for (i = 0; in && svc_per_packet(in) && i < in->spec.nbackends; i++) {
		__be32 addr = in->spec.backends[i].addr;

		pp = backend_ref_find(lb, addr);
		r = *pp;
		if (!r) {
			r = calloc(1, sizeof(*r));
			if (!r) {
				log_error("failed to count service backends: out of memory");
				continue;
			}
			r->addr = addr;
			*pp = r;
			endpoint_flag(a, addr, true);
		} else if (!r->refs) {
			lb->be_draining--;	/* back in a service before it drained */
		}
		r->refs++;
	}
	for (i = 0; out && svc_per_packet(out) && i < out->spec.nbackends; i++) {
		r = *backend_ref_find(lb, out->spec.backends[i].addr);
		if (r && r->refs && !--r->refs)
			lb->be_draining++;
	}
}

/* A conntrack pass is about to visit every live flow: draining addresses must show one. */
static void backend_refs_pass_start(struct lb_state *lb)
{
	struct backend_ref *r;
	unsigned int b;

	for (b = 0; lb->be_draining && b < 1U << BE_REF_BITS; b++)
		for (r = lb->be_refs[b]; r; r = r->next)
			r->has_flows = false;
}

static void backend_refs_flow(struct lb_state *lb, __be32 backend)
{
	struct backend_ref *r;

	if (!lb->be_draining)
		return;
	r = *backend_ref_find(lb, backend);
	if (r && !r->refs)
		r->has_flows = true;
}

/* After a complete conntrack pass: drained addresses without a flow are no backends now. */
static void backend_refs_pass_end(struct agent *a)
{
	struct lb_state *lb = a->lb;
	struct backend_ref **pp, *r;
	unsigned int b;

	for (b = 0; lb->be_draining && b < 1U << BE_REF_BITS; b++) {
		for (pp = &lb->be_refs[b]; (r = *pp);) {
			if (r->refs || r->has_flows) {
				pp = &r->next;
				continue;
			}
			*pp = r->next;
			lb->be_draining--;
			endpoint_flag(a, r->addr, false);
			free(r);
		}
	}
}

/*
 * An address a previous agent flagged that no service lists now drains like any other: its
 * flows may still be live. At start-up, after every service counted its backends.
 */
static void backend_adopt_flagged(in_addr_t addr, void *data)
{
	struct lb_state *lb = data;
	struct backend_ref **pp = backend_ref_find(lb, addr);

	if (*pp)
		return;
	*pp = calloc(1, sizeof(**pp));
	if (!*pp)
		return;		/* stays flagged until the next start: a flag too many is safe */
	(*pp)->addr = addr;
	(*pp)->has_flows = true;
	lb->be_draining++;
}

static void backend_refs_free(struct lb_state *lb)
{
	struct backend_ref *r, *next;
	unsigned int b;

	for (b = 0; lb->be_refs && b < 1U << BE_REF_BITS; b++) {
		for (r = lb->be_refs[b]; r; r = next) {
			next = r->next;
			free(r);
		}
	}
	free(lb->be_refs);
	lb->be_refs = NULL;
}

/* ---- map writes ---------------------------------------------------------------------------- */

/*
 * Put the pending Maglev tables (maglev_write with defer) into podlane_maglev, in one batch:
 * the kernel waits for an RCU grace period after every syscall that updates a map of maps
 * (some 10 ms on a small VM), so a thousand NodePort services written one by one took 10 s.
 */
static void maglev_flush(struct lb_state *lb)
{
	__u32 done = lb->mg_pending, i;

	if (!lb->mg_pending)
		return;
	if (bpf_map_update_batch(lb->maglev_fd, lb->mg_ids, lb->mg_fds, &done, NULL)) {
		/* One at a time from where the batch stopped (or when it is not supported). */
		for (i = done; i < lb->mg_pending; i++)
			if (bpf_map_update_elem(lb->maglev_fd, &lb->mg_ids[i], &lb->mg_fds[i],
						BPF_ANY))
				log_warn("failed to install a Maglev table svc_id=%u err=\"%s\"",
					 lb->mg_ids[i], strerror(errno));
	}
	for (i = 0; i < lb->mg_pending; i++)
		close(lb->mg_fds[i]);	/* the outer map holds its own reference */
	lb->mg_pending = 0;
}

static void maglev_delete(struct lb_state *lb, __u32 id)
{
	unsigned int i;

	for (i = 0; i < lb->mg_pending; i++) {
		if (lb->mg_ids[i] != id)
			continue;
		close(lb->mg_fds[i]);
		lb->mg_pending--;
		lb->mg_ids[i] = lb->mg_ids[lb->mg_pending];
		lb->mg_fds[i] = lb->mg_fds[lb->mg_pending];
		break;
	}
	bpf_map_delete_elem(lb->maglev_fd, &id);
}

static void slots_delete(struct lb_state *lb, __u32 id, __u32 from, __u32 nslots)
{
	__u32 slot;

	for (slot = from; slot < nslots; slot++) {
		struct lb_backend_key k = { .svc_id = id, .slot = slot };

		bpf_map_delete_elem(lb->be_fd, &k);
	}
	maglev_delete(lb, id);
}

/* Delete every slot of an id whose slot count we do not know (left by a crash). */
static void slots_delete_unknown(struct lb_state *lb, __u32 id)
{
	struct lb_backend_key k = { .svc_id = id }, next, *prev = NULL, cur;
	__u32 *doomed = NULL, n = 0, cap = 0, i;

	while (!bpf_map_get_next_key(lb->be_fd, prev, &next)) {
		cur = next;
		prev = &cur;
		if (next.svc_id != id)
			continue;
		if (n == cap) {
			__u32 *more = realloc(doomed, (cap = cap ? 2 * cap : 64) * sizeof(*more));

			if (!more)
				break;
			doomed = more;
		}
		doomed[n++] = next.slot;
	}
	for (i = 0; i < n; i++) {
		k.slot = doomed[i];
		bpf_map_delete_elem(lb->be_fd, &k);
	}
	free(doomed);
	maglev_delete(lb, id);
}

/*
 * How inner Maglev tables are made. The kernel takes an inner map into podlane_maglev only
 * when its flags equal those of the template the outer map was created with: mmapable since
 * this build (lb.h), plain when an older agent created the pinned outer map. That template
 * cannot be read back, so the first table of the agent's life is inserted on its own as
 * mmapable; EINVAL (flags differ) means an old outer map, and every table is then written
 * element by element. Replacing the outer map instead would need every program that uses it
 * reloaded and refilled first; it is left in place until its pins are removed (a reboot,
 * `podlaned --uninstall`), and traffic keeps running on it meanwhile.
 */
enum { MG_UNKNOWN, MG_MMAP, MG_COPY };

/*
 * A new inner map holding table. An array's elements are 8-byte aligned (elem_size), so a
 * __u32 slot i sits at byte 8 * i of the mapping.
 */
static int maglev_inner(bool mmapable, const __u32 *table)
{
	static __u32 keys[PODLANE_MAGLEV_M], vals[PODLANE_MAGLEV_M];
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = mmapable ? BPF_F_MMAPABLE : 0);
	size_t len = ((size_t)PODLANE_MAGLEV_M * 8 + getpagesize() - 1) &
		     ~((size_t)getpagesize() - 1);
	__u32 i, n, nz = 0;
	int inner, err = 0;
	__u32 *p;

	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "podlane_mglv", sizeof(__u32), sizeof(__u32),
			       PODLANE_MAGLEV_M, &opts);
	if (inner < 0)
		return -errno;
	if (mmapable) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, inner, 0);
		if (p == MAP_FAILED) {
			err = -errno;
			close(inner);
			return err;
		}
		/* A fresh array reads 0 (slot 0) everywhere: only the other entries are written. */
		for (i = 0; i < PODLANE_MAGLEV_M; i++)
			if (table[i])
				p[2 * i] = table[i];
		munmap(p, len);
		return inner;
	}
	/* The kernel copies a batch element by element: the bulk of a table's cost. */
	for (i = 0; i < PODLANE_MAGLEV_M; i++) {
		if (!table[i])
			continue;
		keys[nz] = i;
		vals[nz++] = table[i];
	}
	n = nz;
	err = nz && bpf_map_update_batch(inner, keys, vals, &n, NULL) ? -errno : 0;
	for (i = err ? 0 : nz; i < nz; i++) {
		err = bpf_map_update_elem(inner, &keys[i], &vals[i], BPF_ANY) ? -errno : 0;
		if (err)
			break;
	}
	if (err) {
		close(inner);
		return err;
	}
	return inner;
}

/*
 * Build and write the Maglev table of ss into a fresh inner map. defer: leave it pending for
 * maglev_flush(), which the caller runs before returning to the event loop.
 */
static int maglev_write(struct lb_state *lb, const struct svc_slots *ss, bool defer)
{
	static __u32 table[PODLANE_MAGLEV_M];
	struct maglev_backend *mb;
	int inner, err;
	__u32 i;

	mb = calloc(ss->count, sizeof(*mb));
	if (!mb)
		return -ENOMEM;
	for (i = 0; i < ss->count; i++) {
		mb[i].key = ss->slot[i].id;
		mb[i].weight = ss->slot[i].weight;
	}
	err = maglev_build(mb, ss->count, table, PODLANE_MAGLEV_M);
	free(mb);
	if (err)
		return err;
	inner = maglev_inner(lb->mg_mode != MG_COPY, table);
	if (inner < 0)
		return inner;
	if (lb->mg_mode == MG_UNKNOWN) {
		/* The first table: learn the outer map's template (see MG_UNKNOWN). */
		if (!bpf_map_update_elem(lb->maglev_fd, &ss->id, &inner, BPF_ANY)) {
			lb->mg_mode = MG_MMAP;
			close(inner);
			return 0;
		}
		err = -errno;
		close(inner);
		if (err != -EINVAL)
			return err;
		lb->mg_mode = MG_COPY;
		log_info("podlane_maglev comes from an older agent (inner tables not mmapable): "
			 "writing Maglev tables element by element until its pins are recreated");
		inner = maglev_inner(false, table);
		if (inner < 0)
			return inner;
		defer = false;
	}
	if (defer) {
		if (lb->mg_pending == LB_MAGLEV_PENDING)
			maglev_flush(lb);
		lb->mg_ids[lb->mg_pending] = ss->id;
		lb->mg_fds[lb->mg_pending++] = inner;
		return 0;
	}
	err = bpf_map_update_elem(lb->maglev_fd, &ss->id, &inner, BPF_ANY) ? -errno : 0;
	close(inner);	/* the outer map holds its own reference */
	return err;
}

static int slots_write(struct lb_state *lb, const struct svc_slots *ss, bool defer)
{
	__u32 slot;
	int err;

	for (slot = 0; slot < ss->nslots; slot++) {
		struct lb_backend_key k = { .svc_id = ss->id, .slot = slot };

		if (bpf_map_update_elem(lb->be_fd, &k, &ss->slot[slot], BPF_ANY)) {
			err = -errno;
			slots_delete(lb, ss->id, 0, slot);
			return err;
		}
	}
	if (ss->maglev && ss->count) {
		err = maglev_write(lb, ss, defer);
		if (err) {
			slots_delete(lb, ss->id, 0, ss->nslots);
			return err;
		}
	}
	return 0;
}

/* Whether port p of s writes what port p of old wrote (old's slots rebuilt if settled). */
static bool slots_equal(struct svc *s, struct svc *old, unsigned int p)
{
	const struct svc_slots *a = &s->ports[p];
	struct svc_slots *b = &old->ports[p];
	struct op_error e = {};
	bool equal;

	if (a->nslots != b->nslots || a->count != b->count || a->local_count != b->local_count ||
	    a->maglev != b->maglev)
		return false;
	if (b->slot)
		return !memcmp(a->slot, b->slot, a->nslots * sizeof(*a->slot));
	b->slot = calloc(b->nslots ? b->nslots : 1, sizeof(*b->slot));
	if (!b->slot)
		return false;	/* then a fresh id: slower, not wrong */
	/* The same spec, locality and frontends build the same slots (and counts) again. */
	equal = !build_slots(old, p, &e) &&
		!memcmp(a->slot, b->slot, a->nslots * sizeof(*a->slot));
	free(b->slot);
	b->slot = NULL;
	return equal;
}

/*
 * Carry ClientIP affinity over from old_id to new_id: the remembered backend keeps serving
 * the client when it is still in the service (at whatever slot it now has).
 */
static void affinity_move(struct lb_state *lb, __u32 old_id, const struct svc_slots *ss)
{
	struct lb_affinity_key key, next, *prev = NULL;
	struct lb_affinity aff;
	__u32 i, limit = PODLANE_MAX_AFFINITY * 2;

	while (limit-- && !bpf_map_get_next_key(lb->affin_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (next.svc_id != old_id || bpf_map_lookup_elem(lb->affin_fd, &next, &aff))
			continue;
		for (i = 0; i < ss->count; i++) {
			if (ss->slot[i].id != aff.backend_id)
				continue;
			next.svc_id = ss->id;
			aff.slot = i;
			bpf_map_update_elem(lb->affin_fd, &next, &aff, BPF_ANY);
			break;
		}
	}
}

/* ---- persistence --------------------------------------------------------------------------- */

static void state_path(struct agent *a, const struct svc *s, const char *suffix, char *out,
		       size_t len)
{
	snprintf(out, len, "%s/" SVC_DIR "/%s.%s.json%s", a->state_dir, s->spec.namespace,
		 s->spec.name, suffix);
}

static int state_write_tmp(struct agent *a, const struct svc *s, struct op_error *e)
{
	struct json_object *o = service_spec_to_json(&s->spec);
	char path[PATH_MAX];
	const char *text;
	FILE *f;
	int err = 0;

	state_path(a, s, ".tmp", path, sizeof(path));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	f = fopen(path, "we");
	if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0)
		err = -errno ?: -EIO;
	if (f && fclose(f) && !err)
		err = -errno;
	json_object_put(o);
	if (err) {
		unlink(path);
		return op_fail(e, PODLANE_ERR_IO, "failed to write service state '%s': %s", path,
			       strerror(-err));
	}
	return 0;
}

static void state_commit(struct agent *a, const struct svc *s)
{
	char tmp[PATH_MAX], path[PATH_MAX];

	state_path(a, s, ".tmp", tmp, sizeof(tmp));
	state_path(a, s, "", path, sizeof(path));
	if (rename(tmp, path))
		log_error("failed to rename '%s' to '%s': %s", tmp, path, strerror(errno));
}

static void state_discard(struct agent *a, const struct svc *s, const char *suffix)
{
	char path[PATH_MAX];

	state_path(a, s, suffix, path, sizeof(path));
	unlink(path);
}

/* ---- apply --------------------------------------------------------------------------------- */

struct flip {
	struct lb_service_key key;
	struct lb_service prev;
	bool had_prev;
};

/*
 * Make the maps say what s says, replacing old (NULL: s is new). On error nothing changed.
 * persist: write the state file (not when re-applying what was read from it).
 */
static int svc_apply(struct agent *a, struct svc *s, struct svc *old, bool persist,
		     struct op_error *e)
{
	struct lb_state *lb = a->lb;
	struct flip *flips = NULL;
	unsigned int p, i, nflips = 0, fresh = 0;
	bool reuse[SVC_MAX_PORTS] = {};
	char text[64];
	int err;

	/* Conflicts first: a frontend of another service is never taken over. */
	for (i = 0; i < s->nfe; i++) {
		struct lb_service cur;

		if (bpf_map_lookup_elem(lb->svc_fd, &s->fe[i].key, &cur))
			continue;
		if (cur.id < PODLANE_MAX_SERVICES && lb->owner[cur.id] &&
		    lb->owner[cur.id] != OWNER_STALE && lb->owner[cur.id] != old) {
			fe_text(&s->fe[i].key, text, sizeof(text));
			return op_fail(e, PODLANE_ERR_CONFLICT, "%s: %s %s is already used by "
				       "service %s", s->name, fe_kind_names[s->fe[i].kind], text,
				       lb->owner[cur.id]->name);
		}
	}
	/* A port whose slots did not change keeps its id: nothing to flip for it. */
	for (p = 0; p < s->spec.nports; p++) {
		if (old && p < old->spec.nports && slots_equal(s, old, p)) {
			reuse[p] = true;
			s->ports[p].id = old->ports[p].id;
		} else {
			fresh++;
		}
	}
	if (!ids_enough(lb, fresh))
		return op_fail(e, PODLANE_ERR_MAP_FULL, "%s: no free service id (%d in use)",
			       s->name, PODLANE_MAX_SERVICES - 1);

	/* 1: new slots under new ids, invisible until a frontend points there. */
	for (p = 0; p < s->spec.nports; p++) {
		if (reuse[p])
			continue;
		s->ports[p].id = id_alloc(lb, s);
		/*
		 * A new service from the store may have its Maglev table installed a moment
		 * after its frontends (the store's batch, see maglev_flush): until then the
		 * datapath picks by weight (counted as no_maglev), and no flow existed before.
		 */
		err = slots_write(lb, &s->ports[p], s->store && !old);
		if (err) {
			op_fail(e, err == -E2BIG || err == -ENOSPC ? PODLANE_ERR_MAP_FULL :
				PODLANE_ERR_INTERNAL, "%s: failed to write backends: %s", s->name,
				strerror(-err));
			goto undo_slots;
		}
	}
	if (persist && state_write_tmp(a, s, e)) {
		p = s->spec.nports;
		goto undo_slots;
	}

	/* 2: flip every frontend, remembering what it said before. */
	flips = calloc(s->nfe ? s->nfe : 1, sizeof(*flips));
	if (!flips) {
		op_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		goto undo_file;
	}
	for (i = 0; i < s->nfe; i++) {
		struct lb_service v = svc_value(s, &s->fe[i]);
		struct flip *f = &flips[nflips];

		f->key = s->fe[i].key;
		f->had_prev = !bpf_map_lookup_elem(lb->svc_fd, &f->key, &f->prev);
		if (f->had_prev && !memcmp(&f->prev, &v, sizeof(v)))
			continue;
		if (bpf_map_update_elem(lb->svc_fd, &f->key, &v, BPF_ANY)) {
			err = -errno;
			fe_text(&f->key, text, sizeof(text));
			op_fail(e, err == -E2BIG ? PODLANE_ERR_MAP_FULL : PODLANE_ERR_INTERNAL,
				"%s: failed to write frontend %s: %s", s->name, text,
				strerror(-err));
			goto undo_flips;
		}
		nflips++;
	}

	/* 3: the old version goes: affinity moves over, stale frontends and slots are deleted. */
	if (old) {
		for (i = 0; i < old->nfe; i++) {
			unsigned int j;

			for (j = 0; j < s->nfe; j++)
				if (!memcmp(&old->fe[i].key, &s->fe[j].key, sizeof(s->fe[j].key)))
					break;
			if (j == s->nfe)
				bpf_map_delete_elem(lb->svc_fd, &old->fe[i].key);
		}
		for (p = 0; p < old->spec.nports; p++) {
			__u32 id = old->ports[p].id;

			if (p < s->spec.nports && reuse[p])
				continue;
			if (s->spec.affinity && p < s->spec.nports)
				affinity_move(lb, id, &s->ports[p]);
			slots_delete(lb, id, 0, old->ports[p].nslots);
			lb->owner[id] = NULL;
		}
	}
	/*
	 * Entries we overwrote that belonged to nobody (a crash, an older agent). While the
	 * start-up sweep waits for the store's first list, that sweep takes them all at once.
	 */
	for (i = 0; i < nflips && !lb->stale_pending; i++) {
		__u32 id = flips[i].prev.id;

		if (flips[i].had_prev && id < PODLANE_MAX_SERVICES &&
		    lb->owner[id] == OWNER_STALE) {
			slots_delete_unknown(lb, id);
			lb->owner[id] = NULL;
		}
	}
	/* Ports that kept their id now belong to s: old is about to be freed. */
	for (p = 0; p < s->spec.nports; p++)
		if (reuse[p])
			lb->owner[s->ports[p].id] = s;
	free(flips);
	if (persist)
		state_commit(a, s);
	return 0;

undo_flips:
	while (nflips--) {
		struct flip *f = &flips[nflips];

		if (f->had_prev)
			bpf_map_update_elem(lb->svc_fd, &f->key, &f->prev, BPF_ANY);
		else
			bpf_map_delete_elem(lb->svc_fd, &f->key);
	}
	free(flips);
undo_file:
	if (persist)
		state_discard(a, s, ".tmp");
	p = s->spec.nports;
undo_slots:
	while (p--) {
		if (reuse[p] || !s->ports[p].id)
			continue;
		slots_delete(lb, s->ports[p].id, 0, s->ports[p].nslots);
		lb->owner[s->ports[p].id] = NULL;
		s->ports[p].id = 0;
	}
	/* The failed port itself, if its id was taken: slots_write cleaned its slots. */
	for (p = 0; p < s->spec.nports; p++) {
		if (!reuse[p] && s->ports[p].id) {
			lb->owner[s->ports[p].id] = NULL;
			s->ports[p].id = 0;
		}
	}
	return -1;
}

/* Remove every trace of s from the maps. */
static void svc_remove(struct lb_state *lb, struct svc *s)
{
	unsigned int i, p;

	for (i = 0; i < s->nfe; i++)
		bpf_map_delete_elem(lb->svc_fd, &s->fe[i].key);
	for (p = 0; p < s->spec.nports; p++) {
		if (!s->ports[p].id)
			continue;
		slots_delete(lb, s->ports[p].id, 0, s->ports[p].nslots);
		lb->owner[s->ports[p].id] = NULL;
	}
}

/* A fresh svc for spec (taken over: the caller must not free it). */
#define BLOCK_ALIGN(n)	(((n) + 7) & ~(size_t)7)

/* A fresh svc for spec, its arrays and strings copied into the svc's block (see struct svc). */
static struct svc *svc_new_from(struct agent *a, const struct service_spec *spec,
				struct op_error *e)
{
	size_t np = spec->nports, nb = spec->nbackends, nx = spec->nexternal, o_ports, o_sports,
	       o_backends, o_ext, o_fe, o_local, o_name, o_ns, o_id, size, p;
	unsigned int cap = np * (1 + nx + a->lb->n_node_ips);
	size_t name_len = strlen(spec->name) + 1, ns_len = strlen(spec->namespace) + 1;
	size_t pnames = 0;
	struct svc *s;
	char *block, *pn;

	for (p = 0; p < np; p++)
		pnames += spec->ports[p].name ? strlen(spec->ports[p].name) + 1 : 0;

	/* Largest alignment first, each part rounded to 8 bytes, the strings last. */
	o_ports = BLOCK_ALIGN(sizeof(*s));
	o_sports = o_ports + BLOCK_ALIGN(np * sizeof(*s->ports));
	o_backends = o_sports + BLOCK_ALIGN(np * sizeof(*spec->ports));
	o_ext = o_backends + BLOCK_ALIGN(nb * sizeof(*spec->backends));
	o_fe = o_ext + BLOCK_ALIGN(nx * sizeof(*spec->external_ips));
	o_local = o_fe + BLOCK_ALIGN(cap * sizeof(*s->fe));
	o_name = o_local + nb;
	o_ns = o_name + name_len;
	o_id = o_ns + ns_len;
	size = o_id + ns_len + name_len + pnames;	/* the port names last */
	block = calloc(1, size);
	if (!block) {
		op_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	s = (struct svc *)block;
	s->spec = *spec;
	s->slots = calloc(np && nb ? np * nb : 1, sizeof(*s->slots));
	if (!s->slots) {
		free(block);
		op_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	s->ports = (struct svc_slots *)(block + o_ports);
	for (p = 0; p < np; p++)
		s->ports[p].slot = s->slots + p * nb;
	/* (An array with no elements may be NULL in spec: nothing to copy then.) */
	s->spec.ports = (struct svc_port *)(block + o_sports);
	if (np)
		memcpy(s->spec.ports, spec->ports, np * sizeof(*spec->ports));
	s->spec.backends = (struct svc_backend *)(block + o_backends);
	if (nb)
		memcpy(s->spec.backends, spec->backends, nb * sizeof(*spec->backends));
	s->spec.external_ips = (__be32 *)(block + o_ext);
	if (nx)
		memcpy(s->spec.external_ips, spec->external_ips,
		       nx * sizeof(*spec->external_ips));
	s->fe = (struct svc_frontend *)(block + o_fe);
	s->fe_cap = cap;
	s->local = (__s8 *)(block + o_local);
	s->spec.name = memcpy(block + o_name, spec->name, name_len);
	s->spec.namespace = memcpy(block + o_ns, spec->namespace, ns_len);
	s->name = block + o_id;
	service_spec_id(&s->spec, s->name, ns_len + name_len);
	pn = s->name + ns_len + name_len;
	for (p = 0; p < np; p++) {
		if (!spec->ports[p].name)
			continue;
		s->spec.ports[p].name = strcpy(pn, spec->ports[p].name);
		pn += strlen(pn) + 1;
	}
	if (svc_build(a, s, e)) {
		svc_free(s);
		return NULL;
	}
	return s;
}

/* The same, for a parsed spec: taken over (the caller must not use it again). */
static struct svc *svc_new(struct agent *a, struct service_spec *spec, struct op_error *e)
{
	struct svc *s = svc_new_from(a, spec, e);

	service_spec_free(spec);
	return s;
}

/* Put a rebuilt version of s in place (locality or node addresses changed). */
static void svc_refresh(struct agent *a, struct svc *s)
{
	struct op_error e = {};
	struct svc *n;

	n = svc_new_from(a, &s->spec, &e);
	if (n) {
		n->store = s->store;
		n->store_gen = s->store_gen;
	}
	if (!n || svc_apply(a, n, s, false, &e)) {
		log_warn("failed to refresh service name=%s err=\"%s\"", s->name, e.msg);
		svc_free(n);
		return;
	}
	backend_refs_update(a, n, s);
	svc_unlink(a->lb, s);
	svc_link(a->lb, n);
	svc_settle(n);
	svc_free(s);
	log_info("service refreshed name=%s", n->name);
}

/* ---- startup ------------------------------------------------------------------------------- */

static void node_ips_read(struct agent *a, __be32 *ips, unsigned int *n)
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

/* Mark every id the maps use as stale until a persisted service claims it. */
static void ids_scan(struct lb_state *lb)
{
	struct lb_service_key key, next, *prev = NULL;
	struct lb_backend_key bkey, bnext, *bprev = NULL;
	struct lb_service v;

	while (!bpf_map_get_next_key(lb->svc_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(lb->svc_fd, &key, &v) && v.id &&
		    v.id < PODLANE_MAX_SERVICES)
			lb->owner[v.id] = OWNER_STALE;
	}
	while (!bpf_map_get_next_key(lb->be_fd, bprev, &bnext)) {
		bkey = bnext;
		bprev = &bkey;
		if (bkey.svc_id && bkey.svc_id < PODLANE_MAX_SERVICES)
			lb->owner[bkey.svc_id] = OWNER_STALE;
	}
}

/*
 * Adopt what the maps already hold for s when it is exactly what s wants: same id behind
 * every frontend of a port, same values, same slots, nothing beyond them. Then a restart
 * writes nothing at all.
 */
static bool svc_adopt(struct lb_state *lb, struct svc *s)
{
	unsigned int i, p;

	for (p = 0; p < s->spec.nports; p++)
		s->ports[p].id = 0;
	for (i = 0; i < s->nfe; i++) {
		struct svc_slots *ss = &s->ports[s->fe[i].port];
		struct lb_service cur, want;

		if (bpf_map_lookup_elem(lb->svc_fd, &s->fe[i].key, &cur) || !cur.id ||
		    cur.id >= PODLANE_MAX_SERVICES || lb->owner[cur.id] != OWNER_STALE ||
		    (ss->id && ss->id != cur.id))
			goto no;
		ss->id = cur.id;
		want = svc_value(s, &s->fe[i]);
		if (memcmp(&want, &cur, sizeof(cur)))
			goto no;
	}
	for (p = 0; p < s->spec.nports; p++) {
		struct svc_slots *ss = &s->ports[p];
		struct lb_backend_key k = { .svc_id = ss->id };
		struct lb_backend be;
		__u32 inner_id;

		if (!ss->id)
			goto no;
		for (k.slot = 0; k.slot < ss->nslots; k.slot++)
			if (bpf_map_lookup_elem(lb->be_fd, &k, &be) ||
			    memcmp(&be, &ss->slot[k.slot], sizeof(be)))
				goto no;
		if (!bpf_map_lookup_elem(lb->be_fd, &k, &be))
			goto no;
		if (ss->maglev && ss->count &&
		    bpf_map_lookup_elem(lb->maglev_fd, &ss->id, &inner_id))
			goto no;
	}
	for (p = 0; p < s->spec.nports; p++)
		lb->owner[s->ports[p].id] = s;
	return true;
no:
	for (p = 0; p < s->spec.nports; p++)
		s->ports[p].id = 0;
	return false;
}

static void load_one(struct agent *a, const char *path)
{
	struct service_spec spec;
	struct op_error e = {};
	struct json_object *o;
	char why[512];
	struct svc *s;

	o = json_object_from_file(path);
	if (!o) {
		log_error("failed to read service state '%s': %s", path, json_util_get_last_err());
		return;
	}
	if (service_spec_parse(o, &spec, why, sizeof(why))) {
		json_object_put(o);
		log_error("failed to load service '%s': %s", path, why);
		return;
	}
	json_object_put(o);
	s = svc_new(a, &spec, &e);
	if (!s) {
		log_error("failed to load service '%s': %s", path, e.msg);
		return;
	}
	if (svc_find(a->lb, s->name)) {
		log_error("failed to load service '%s': %s is defined twice", path, s->name);
		svc_free(s);
		return;
	}
	if (svc_adopt(a->lb, s)) {
		backend_refs_update(a, s, NULL);
		svc_link(a->lb, s);
		svc_settle(s);
		log_debug("service adopted name=%s", s->name);
		return;
	}
	if (svc_apply(a, s, NULL, false, &e)) {
		log_error("failed to restore service '%s': %s", s->name, e.msg);
		svc_free(s);
		return;
	}
	backend_refs_update(a, s, NULL);
	svc_link(a->lb, s);
	svc_settle(s);
	log_info("service restored name=%s", s->name);
}

static bool svc_has_frontend(const struct svc *s, const struct lb_service_key *key)
{
	unsigned int i;

	for (i = 0; i < s->nfe; i++)
		if (!memcmp(&s->fe[i].key, key, sizeof(*key)))
			return true;
	return false;
}

/*
 * Slots and tables of every id no service owns (OWNER_STALE), in one walk of podlane_backend:
 * there may be thousands of such ids after a restart, and a walk per id would be quadratic.
 */
static unsigned int stale_ids_delete(struct lb_state *lb)
{
	struct lb_backend_key next, cur, *prev = NULL, *doomed = NULL;
	unsigned int n = 0, cap = 0, i, ids = 0;
	__u32 id;

	while (!bpf_map_get_next_key(lb->be_fd, prev, &next)) {
		cur = next;
		prev = &cur;
		if (next.svc_id >= PODLANE_MAX_SERVICES || lb->owner[next.svc_id] != OWNER_STALE)
			continue;
		if (n == cap) {
			struct lb_backend_key *more;

			more = realloc(doomed, (cap = cap ? 2 * cap : 256) * sizeof(*more));
			if (!more)
				break;
			doomed = more;
		}
		doomed[n++] = next;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(lb->be_fd, &doomed[i]);
	free(doomed);
	for (id = 1; id < PODLANE_MAX_SERVICES; id++) {
		if (lb->owner[id] != OWNER_STALE)
			continue;
		bpf_map_delete_elem(lb->maglev_fd, &id);
		lb->owner[id] = NULL;
		ids++;
	}
	return ids;
}

/*
 * What nobody claimed after loading: frontends, slots and tables of vanished services, and
 * frontends a service no longer has (a node address that went away while we were down).
 * keep_unowned: leave whatever belongs to no known service for now. The services of a cluster
 * store are not persisted here (the store is their source of truth): the pinned maps carry
 * them over a restart and the store's first full list claims or removes them.
 */
static void sweep_stale(struct lb_state *lb, bool keep_unowned)
{
	struct lb_service_key key, next, *prev = NULL, *doomed = NULL;
	struct lb_service v;
	unsigned int n = 0, cap = 0, i, ids = 0;

	while (!bpf_map_get_next_key(lb->svc_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(lb->svc_fd, &key, &v))
			continue;
		if (v.id && v.id < PODLANE_MAX_SERVICES && lb->owner[v.id] &&
		    lb->owner[v.id] != OWNER_STALE && svc_has_frontend(lb->owner[v.id], &key))
			continue;
		if (keep_unowned && v.id && v.id < PODLANE_MAX_SERVICES &&
		    lb->owner[v.id] == OWNER_STALE)
			continue;
		if (n == cap) {
			struct lb_service_key *more;

			more = realloc(doomed, (cap = cap ? 2 * cap : 64) * sizeof(*more));
			if (!more)
				break;
			doomed = more;
		}
		doomed[n++] = key;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(lb->svc_fd, &doomed[i]);
	free(doomed);
	if (!keep_unowned)
		ids = stale_ids_delete(lb);
	lb->stale_pending = keep_unowned;
	if (n || ids)
		log_info("stale service entries removed frontends=%u ids=%u", n, ids);
}

int service_init(struct agent *a, bool store)
{
	struct lb_state *lb = a->lb;
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;

	lb->buckets = calloc(SVC_BUCKETS, sizeof(*lb->buckets));
	lb->owner = calloc(PODLANE_MAX_SERVICES, sizeof(*lb->owner));
	lb->be_refs = calloc(1U << BE_REF_BITS, sizeof(*lb->be_refs));
	if (!lb->buckets || !lb->owner || !lb->be_refs)
		return -ENOMEM;
	lb->next_id = 1;
	clock_gettime(CLOCK_MONOTONIC, &lb->last_tick);
	lb->last_gc = lb->last_tick;
	node_ips_read(a, lb->node_ips, &lb->n_node_ips);
	ids_scan(lb);

	snprintf(dir, sizeof(dir), "%s/" SVC_DIR, a->state_dir);
	if (mkdir(dir, 0755) && errno != EEXIST) {
		log_error("failed to create service state directory '%s': %s", dir,
			  strerror(errno));
		return -errno;
	}
	d = opendir(dir);
	if (!d) {
		log_error("failed to open service state directory '%s': %s", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n > 9 && !strcmp(de->d_name + n - 9, ".json.tmp")) {
			/* An update that never committed: the maps were never flipped to it. */
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
			continue;
		}
		if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		load_one(a, path);
	}
	closedir(d);
	sweep_stale(lb, store);
	eps_addr_flag_walk(a, PODLANE_EP_F_LB_BACKEND, backend_adopt_flagged, lb);
	log_info("services loaded services=%u node_ips=%u", lb->nservices, lb->n_node_ips);
	return 0;
}

void service_fini(struct agent *a)
{
	struct lb_state *lb = a->lb;
	struct svc *s, *next;

	if (!lb)
		return;
	maglev_flush(lb);
	for (s = lb->head; s; s = next) {
		next = s->next;
		svc_free(s);
	}
	free(lb->buckets);
	free(lb->owner);
	backend_refs_free(lb);
	lb->head = lb->tail = NULL;
	lb->buckets = NULL;
	lb->owner = NULL;
}

/* ---- periodic work ------------------------------------------------------------------------- */

static void gc_visit(const struct ct_key *key, const struct ct_entry *entry, void *ctx)
{
	struct lb_state *lb = ctx;
	struct svc *s;
	unsigned int p;

	backend_refs_flow(lb, entry->nat_addr);
	if (!entry->svc_id || entry->svc_id >= PODLANE_MAX_SERVICES)
		return;
	s = lb->owner[entry->svc_id];
	if (!s || s == OWNER_STALE)
		return;
	for (p = 0; p < s->spec.nports; p++) {
		if (s->ports[p].id != entry->svc_id)
			continue;
		s->ports[p].flows++;
		s->ports[p].packets += entry->packets;
		s->ports[p].bytes += entry->bytes;
	}
}

static void ct_collect(struct agent *a)
{
	struct lb_state *lb = a->lb;
	struct svc *s;
	unsigned int p;
	int err;

	if (lb->ct_fd < 0) {
		backend_refs_pass_start(lb);	/* no per-packet flows at all */
		backend_refs_pass_end(a);
		return;
	}
	for (s = lb->head; s; s = s->next)
		for (p = 0; p < s->spec.nports; p++)
			s->ports[p].flows = s->ports[p].packets = s->ports[p].bytes = 0;
	backend_refs_pass_start(lb);
	err = ct_gc(lb->ct_fd, ct_now_ns(), &lb->gc, gc_visit, lb);
	lb->gc_ran = true;
	if (!err)
		backend_refs_pass_end(a);
	if (err)
		log_warn("conntrack collection failed err=\"%s\"", strerror(-err));
	else if (lb->gc.deleted)
		log_debug("conntrack collected deleted=%llu live=%llu",
			  (unsigned long long)lb->gc.deleted, (unsigned long long)lb->gc.live);
}

static bool locality_changed(struct agent *a, struct svc *s)
{
	unsigned int i;

	for (i = 0; i < s->spec.nbackends; i++) {
		struct endpoint_value val;

		if (s->spec.backends[i].local != SVC_LOCAL_AUTO)
			continue;
		if (s->local[i] != !eps_lookup(a, s->spec.backends[i].addr, &val))
			return true;
	}
	return false;
}

void service_tick(struct agent *a)
{
	struct lb_state *lb = a->lb;
	__be32 ips[LB_MAX_NODE_IPS];
	unsigned int n;
	bool ips_changed;
	struct svc *s, *next;

	if (!lb || !lb->owner)
		return;
	if (ms_since(&lb->last_gc) >= GC_INTERVAL_MS) {
		clock_gettime(CLOCK_MONOTONIC, &lb->last_gc);
		ct_collect(a);
	}
	if (ms_since(&lb->last_tick) < TICK_INTERVAL_MS)
		return;
	clock_gettime(CLOCK_MONOTONIC, &lb->last_tick);
	node_ips_read(a, ips, &n);
	ips_changed = n != lb->n_node_ips || memcmp(ips, lb->node_ips, n * sizeof(ips[0]));
	if (ips_changed) {
		log_info("node addresses changed, NodePort frontends follow uplink=%s count=%u",
			 a->uplink, n);
		memcpy(lb->node_ips, ips, sizeof(ips));
		lb->n_node_ips = n;
	}
	for (s = lb->head; s; s = next) {
		next = s->next;
		if ((ips_changed && s->has_node_port) ||
		    (s->has_auto_local && locality_changed(a, s)))
			svc_refresh(a, s);
	}
}

/* ---- podlanectl's services and the cluster store's ----------------------------------------- */

/* The state file of a service that has none yet, or that changes hands to podlanectl. */
static int state_write(struct agent *a, const struct svc *s, struct op_error *e)
{
	if (state_write_tmp(a, s, e))
		return -1;
	state_commit(a, s);
	return 0;
}

/*
 * Add or replace the service spec describes (taken over: the caller must not free it).
 * store: it comes from the cluster store, which is its source of truth: no state file (a
 * state file left by podlanectl for the same name goes). Otherwise it is persisted.
 * Returns the service in place, or NULL with e set and nothing changed; *changed is false
 * when the maps already said the same.
 */
static struct svc *svc_upsert(struct agent *a, struct service_spec *spec, bool store,
			      bool *changed, struct op_error *e)
{
	struct lb_state *lb = a->lb;
	struct svc *s, *old;

	*changed = false;
	s = svc_new(a, spec, e);
	if (!s)
		return NULL;
	s->store = store;
	old = svc_find(lb, s->name);
	/* The same spec again is a no-op: no new ids, no churn for the datapath. */
	if (old && service_spec_equal(&old->spec, &s->spec) && old->nfe == s->nfe &&
	    !memcmp(old->local, s->local, s->spec.nbackends) &&
	    !memcmp(old->fe, s->fe, s->nfe * sizeof(*s->fe))) {
		svc_free(s);
		if (old->store != store) {
			/* Changes hands: only the state file follows. */
			if (store)
				state_discard(a, old, "");
			else if (state_write(a, old, e))
				return NULL;
			old->store = store;
		}
		return old;
	}
	/* A store service back after a restart: take over the maps' entries when they fit. */
	if (!old && lb->stale_pending && svc_adopt(lb, s)) {
		log_debug("service adopted name=%s", s->name);
	} else if (svc_apply(a, s, old, !store, e)) {
		log_warn("service refused name=%s err=\"%s\"", s->name, e->msg);
		svc_free(s);
		return NULL;
	}
	if (store && old && !old->store)
		state_discard(a, old, "");
	backend_refs_update(a, s, old);
	if (old) {
		svc_unlink(lb, old);
		svc_free(old);
	}
	svc_link(lb, s);
	svc_settle(s);
	*changed = true;
	/* Store services come by the ten thousand on a resync: podlanectl's are worth a line. */
	if (store)
		log_debug("service %s name=%s frontends=%u backends=%u", old ? "updated" : "added",
			  s->name, s->nfe, s->spec.nbackends);
	else
		log_info("service %s name=%s frontends=%u backends=%u", old ? "updated" : "added",
			 s->name, s->nfe, s->spec.nbackends);
	return s;
}

int service_upsert(struct agent *a, struct service_spec *spec, bool *changed,
		   struct op_error *e)
{
	return svc_upsert(a, spec, false, changed, e) ? 0 : -1;
}

int service_delete(struct agent *a, const char *name, struct op_error *e)
{
	struct svc *s = svc_find(a->lb, name);

	if (!s)
		return op_fail(e, PODLANE_ERR_NOT_FOUND, "service '%s' not found", name);
	/* File first: a crash after it leaves stale entries that the next start sweeps. */
	state_discard(a, s, "");
	svc_remove(a->lb, s);
	backend_refs_update(a, NULL, s);
	svc_unlink(a->lb, s);
	log_info("service deleted name=%s", name);
	svc_free(s);
	return 0;
}

/* ---- the cluster store (sync.c) -------------------------------------------------------------- */

int service_store_put(struct agent *a, struct service_spec *spec, __u32 gen, struct op_error *e)
{
	struct svc *s;
	bool changed;

	if (!a->lb || !a->lb->owner) {
		service_spec_free(spec);
		return op_fail(e, PODLANE_ERR_INTERNAL, "services are not set up");
	}
	s = svc_upsert(a, spec, true, &changed, e);
	if (!s)
		return -1;
	s->store_gen = gen;
	return 0;
}

static void svc_delete(struct agent *a, struct svc *s)
{
	svc_remove(a->lb, s);
	backend_refs_update(a, NULL, s);
	svc_unlink(a->lb, s);
	svc_free(s);
}

bool service_store_del(struct agent *a, const char *name)
{
	struct svc *s = a->lb && a->lb->buckets ? svc_find(a->lb, name) : NULL;

	/* Only services that came from the store: podlanectl's own stay. */
	if (!s || !s->store)
		return false;
	log_debug("service deleted name=%s", name);
	svc_delete(a, s);
	return true;
}

unsigned int service_store_sweep(struct agent *a, __u32 gen)
{
	struct lb_state *lb = a->lb;
	struct svc *s, *next;
	unsigned int n = 0;

	if (!lb || !lb->owner)
		return 0;
	maglev_flush(lb);
	for (s = lb->head; s; s = next) {
		next = s->next;
		if (!s->store || s->store_gen == gen)
			continue;
		log_info("service deleted (gone from the store) name=%s", s->name);
		svc_delete(a, s);
		n++;
	}
	/* What the maps kept over a restart and the store did not claim now goes. */
	if (lb->stale_pending)
		sweep_stale(lb, false);
	/*
	 * A full list passes thousands of records through the I/O thread's queue, whose freed
	 * memory glibc keeps (scattered in that thread's arena) until asked: give it back.
	 */
	malloc_trim(0);
	return n;
}

void service_store_flush(struct agent *a)
{
	if (a->lb)
		maglev_flush(a->lb);
}

unsigned int service_store_count(struct agent *a)
{
	struct svc *s;
	unsigned int n = 0;

	for (s = a->lb ? a->lb->head : NULL; s; s = s->next)
		n += s->store;
	return n;
}

/* ---- what the local API shows ------------------------------------------------------------- */

const char *service_frontend_kind_name(enum service_frontend_kind kind)
{
	return fe_kind_names[kind];
}

/* cb with s as a service_view. */
static int svc_view(const struct svc *s, service_view_cb cb, void *data)
{
	struct service_port_counters counters[SVC_MAX_PORTS];
	struct service_frontend *fe;
	struct service_view v = {
		.name = s->name,
		.spec = &s->spec,
		.local = s->local,
		.nfrontends = s->nfe,
		.counters = counters,
	};
	unsigned int i, p;
	int ret;

	fe = calloc(s->nfe ? s->nfe : 1, sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	for (i = 0; i < s->nfe; i++) {
		const struct svc_frontend *f = &s->fe[i];
		const struct svc_slots *ss = &s->ports[f->port];

		fe[i].kind = f->kind;
		fe[i].addr = f->key.addr;
		fe[i].port = ntohs(f->key.port);
		fe[i].proto = f->key.proto;
		fe[i].maglev = f->flags & PODLANE_SVC_F_MAGLEV;
		fe[i].svc_id = ss->id;
		fe[i].active = ss->count;
		fe[i].local_active = ss->local_count;
		fe[i].slots = ss->nslots;
	}
	for (p = 0; p < s->spec.nports; p++) {
		counters[p].svc_id = s->ports[p].id;
		counters[p].flows = s->ports[p].flows;
		counters[p].packets = s->ports[p].packets;
		counters[p].bytes = s->ports[p].bytes;
	}
	v.frontends = fe;
	ret = cb(&v, data);
	free(fe);
	return ret;
}

int service_get(struct agent *a, const char *name, service_view_cb cb, void *data)
{
	struct svc *s = svc_find(a->lb, name);

	return s ? svc_view(s, cb, data) : -ENOENT;
}

int service_walk(struct agent *a, unsigned long offset, unsigned long limit, service_view_cb cb,
		 void *data)
{
	unsigned long i = 0;
	struct svc *s;
	int ret = 0;

	for (s = a->lb->head; s && i < offset + limit && !ret; s = s->next, i++)
		if (i >= offset)
			ret = svc_view(s, cb, data);
	return ret;
}

unsigned int service_count(struct agent *a)
{
	return a->lb->nservices;
}

void lb_conntrack_read(struct agent *a, struct lb_conntrack *ct)
{
	struct lb_state *lb = a->lb;

	memset(ct, 0, sizeof(*ct));
	ct->available = lb->ct_fd >= 0;
	ct->collected = lb->gc_ran;
	if (!lb->gc_ran)
		return;
	ct->live = lb->gc.live;
	ct->max_entries = lb->gc.max_entries;
	ct->deleted_last_pass = lb->gc.deleted;
}
