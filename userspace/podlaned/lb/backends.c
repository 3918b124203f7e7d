// SPDX-License-Identifier: GPL-2.0-only
/*
 * lb/backends.c - a service's backends: whether each is local (resolved against podlane_eps
 * when the spec says auto, and again when datapath/eps reports that an endpoint at a backend's
 * address came or went), the slots of each port (local active, remote active, then
 * terminating and drained, with the weighted alias tables), and which pod addresses are
 * backends at all: those get PODLANE_EP_F_LB_BACKEND through datapath/eps, the flag's one
 * writer, and keep it until their last flow is gone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "core/agent.h"
#include "datapath/eps.h"
#include "lb/lb_int.h"
#include "log.h"
#include "maglev.h"

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

/* Each backend local or not; auto: whether podlane_eps has an endpoint with its address. */
void resolve_local(struct agent *a, struct svc *s)
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

/* Whether an auto backend of s became local or stopped being local since resolve_local(). */
bool locality_changed(struct agent *a, struct svc *s)
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

/* datapath/eps: addr's endpoint came or went; an auto backend there may change locality. */
static void locality_event(in_addr_t addr, bool present, void *data)
{
	struct lb_state *lb = data;
	unsigned int i;

	for (i = 0; i < lb->n_loc_addrs; i++)
		if (lb->loc_addrs[i] == addr)
			return;
	if (lb->n_loc_addrs < LB_LOCALITY_PENDING)
		lb->loc_addrs[lb->n_loc_addrs++] = addr;
	else
		lb->loc_all = true;
}

void locality_events_start(struct agent *a)
{
	eps_on_addr_change(a, locality_event, a->lb);
}

void locality_events_stop(struct agent *a)
{
	if (a->eps)
		eps_on_addr_change(a, NULL, NULL);
}

bool locality_pending(const struct lb_state *lb)
{
	return lb->n_loc_addrs || lb->loc_all;
}

/* Whether s has an auto backend at an address that came or went (all of them: loc_all). */
bool locality_touched(const struct lb_state *lb, const struct svc *s)
{
	unsigned int i, j;

	if (!s->has_auto_local)
		return false;
	if (lb->loc_all)
		return true;
	for (i = 0; i < s->spec.nbackends; i++) {
		if (s->spec.backends[i].local != SVC_LOCAL_AUTO)
			continue;
		for (j = 0; j < lb->n_loc_addrs; j++)
			if (s->spec.backends[i].addr == lb->loc_addrs[j])
				return true;
	}
	return false;
}

void locality_done(struct lb_state *lb)
{
	lb->n_loc_addrs = 0;
	lb->loc_all = false;
}

/*
 * Slots of port p: active local, active remote, then terminating or drained (weight 0),
 * which the datapath never picks for a new connection but the per-packet path still knows.
 */
int build_slots(struct svc *s, unsigned int p, struct api_error *e)
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
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
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

/* Whether port p of s writes what port p of old wrote (old's slots rebuilt if settled). */
bool slots_equal(struct svc *s, struct svc *old, unsigned int p)
{
	const struct svc_slots *a = &s->ports[p];
	struct svc_slots *b = &old->ports[p];
	struct api_error e = {};
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

/* ---- which endpoints are service backends ------------------------------------------------- */

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
void backend_refs_update(struct agent *a, const struct svc *in, const struct svc *out)
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
void backend_refs_pass_start(struct lb_state *lb)
{
	struct backend_ref *r;
	unsigned int b;

	for (b = 0; lb->be_draining && b < 1U << BE_REF_BITS; b++)
		for (r = lb->be_refs[b]; r; r = r->next)
			r->has_flows = false;
}

void backend_refs_flow(struct lb_state *lb, __be32 backend)
{
	struct backend_ref *r;

	if (!lb->be_draining)
		return;
	r = *backend_ref_find(lb, backend);
	if (r && !r->refs)
		r->has_flows = true;
}

/* After a complete conntrack pass: drained addresses without a flow are no backends now. */
void backend_refs_pass_end(struct agent *a)
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

void backend_refs_free(struct lb_state *lb)
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

int backend_refs_init(struct lb_state *lb)
{
	lb->be_refs = calloc(1U << BE_REF_BITS, sizeof(*lb->be_refs));
	return lb->be_refs ? 0 : -ENOMEM;
}

/* At start-up, after every service counted its backends (backend_adopt_flagged). */
void backend_refs_adopt(struct agent *a)
{
	eps_addr_flag_walk(a, PODLANE_EP_F_LB_BACKEND, backend_adopt_flagged, a->lb);
}
