// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy/apply.c - one change, from the state policy/ holds to the maps. The whole world is
 * compiled again (policy_compile.h: pure, so a change is the difference of two results); each
 * endpoint's rule sets are planned, the room they need checked, and then, in this order:
 *
 *   1. the sets no endpoint had yet are written whole (podlane_policy);
 *   2. podlane_ipcache gets the new identities and CIDR ids (puts only);
 *   3. endpoints whose entry differs move to their new sets (podlane_ep_policy);
 *   4. podlane_ipcache loses what is gone, the sets nobody points at are deleted;
 *   5. podlane_pol_rev is bumped, so the datapath judges tracked connections again (when a
 *      rule set exists before or after: without one nothing is isolated, nothing tracked).
 *
 * New identities and CIDR ids are numbers never used before (they only grow), so between 2 and
 * 3 an old set meets a new number it has no entry for and denies: a packet sees the old rules
 * or the new ones, and a mix of the two only ever denies what one of them denies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "api.h"
#include "core/agent.h"
#include "log.h"
#include "policy/policy_int.h"

/* What one local pod will have. */
struct plan {
	struct pol_set *set[2];
	__u32 flags;
	__u32 policy[2];
	bool degraded[2];
};

static const __u32 dir_flag[2] = { PODLANE_POL_F_INGRESS, PODLANE_POL_F_EGRESS };

/* Entries one rule set may have in a compilation, whatever the map's size. */
#define POL_COMPILE_MAX		(1U << 20)

static __u64 now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- stable CIDR ids ---- */

int pol_cidr_cmp(const void *x, const void *y)
{
	const struct pol_cidr *a = x, *b = y;
	__u32 aa = ntohl(a->addr), ba = ntohl(b->addr);

	if (a->plen != b->plen)
		return a->plen < b->plen ? -1 : 1;
	return aa < ba ? -1 : aa > ba;
}

/*
 * The stable id of each of the result's prefixes (the compiler numbers them by position, which
 * moves when a prefix comes or goes): the one it had, else a new one. malloc'ed, NULL on
 * ENOMEM.
 */
static __u32 *cidrs_stable(struct pol_state *s, const struct pc_result *res)
{
	__u32 *ids = calloc(res->ncidrs ? res->ncidrs : 1, sizeof(*ids));
	struct pol_cidr key, *hit, *grown;
	unsigned int i;

	if (!ids)
		return NULL;
	for (i = 0; i < s->ncidrs; i++)
		s->cidrs[i].used = false;
	for (i = 0; i < res->ncidrs; i++) {
		const struct policy_cidr *c = &res->cidrs[i].cidr;

		memset(&key, 0, sizeof(key));
		memcpy(&key.addr, c->addr, 4);
		key.plen = c->prefix_len;
		hit = s->ncidrs ? bsearch(&key, s->cidrs, s->ncidrs, sizeof(key), pol_cidr_cmp) : NULL;
		if (!hit) {
			grown = realloc(s->cidrs, (s->ncidrs + 1) * sizeof(*grown));
			if (!grown) {
				free(ids);
				return NULL;
			}
			s->cidrs = grown;
			key.id = s->next_cidr_id++;
			if (s->next_cidr_id >= PODLANE_ID_ANY)
				s->next_cidr_id = PODLANE_ID_CIDR_BASE;
			s->cidrs[s->ncidrs++] = key;
			qsort(s->cidrs, s->ncidrs, sizeof(key), pol_cidr_cmp);
			hit = bsearch(&key, s->cidrs, s->ncidrs, sizeof(key), pol_cidr_cmp);
		}
		hit->used = true;
		ids[i] = hit->id;
	}
	return ids;
}

/* After a change is in place: forget the prefixes it no longer has. */
static void cidrs_prune(struct pol_state *s)
{
	unsigned int i, o = 0;

	for (i = 0; i < s->ncidrs; i++)
		if (s->cidrs[i].used)
			s->cidrs[o++] = s->cidrs[i];
	s->ncidrs = o;
}

/* ---- the world the compiler reads ---- */

struct world {
	struct pc_world w;
	struct policy_namespace *nss;
	struct pc_pod *pods;
	struct pc_policy *policies;
};

static int world_build(struct pol_state *s, struct world *wd)
{
	unsigned int i;

	memset(wd, 0, sizeof(*wd));
	wd->nss = calloc(s->nnss ? s->nnss : 1, sizeof(*wd->nss));
	wd->pods = calloc(s->npods ? s->npods : 1, sizeof(*wd->pods));
	wd->policies = calloc(s->npolicies ? s->npolicies : 1, sizeof(*wd->policies));
	if (!wd->nss || !wd->pods || !wd->policies)
		return -ENOMEM;
	for (i = 0; i < s->nnss; i++)
		wd->nss[i] = s->nss[i]->ns;
	for (i = 0; i < s->npods; i++) {
		const struct pol_pod *p = s->pods[i];

		wd->pods[i] = (struct pc_pod){
			.meta = &p->meta, .addr = p->addr, .id = p->ident->id,
			.ifindex = p->ifindex, .local = p->local,
		};
	}
	for (i = 0; i < s->npolicies; i++)
		wd->policies[i] = (struct pc_policy){
			.spec = &s->policies[i]->spec, .id = s->policies[i]->id,
		};
	wd->w = (struct pc_world){
		.namespaces = wd->nss, .nnamespaces = s->nnss,
		.pods = wd->pods, .npods = s->npods,
		.policies = wd->policies, .npolicies = s->npolicies,
	};
	return 0;
}

static void world_free(struct world *wd)
{
	free(wd->nss);
	free(wd->pods);
	free(wd->policies);
}

/* ---- planning ---- */

static struct pol_set *empty_set(struct pol_state *s)
{
	struct set_ent *none = calloc(1, sizeof(*none));

	return none ? set_intern(s, none, 0) : NULL;
}

/* The plan from the compiled result; -ENOMEM. */
static int plan_compiled(struct pol_state *s, const struct pc_result *res, const __u32 *cidr_ids,
			 struct plan *plan)
{
	unsigned int k, d;
	struct set_ent *ents;
	unsigned int n;
	int err;

	if (res->nendpoints != s->nlocal)
		return -EPROTO;
	for (k = 0; k < s->nlocal; k++) {
		const struct pc_endpoint *ep = &res->endpoints[k];

		if (ep->ifindex != s->pods[k]->ifindex)
			return -EPROTO;
		plan[k].flags = ep->flags & (PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS);
		for (d = 0; d < 2; d++) {
			const struct pc_rule_set *rs = d ? &ep->egress : &ep->ingress;

			if (!(plan[k].flags & dir_flag[d]))
				continue;
			err = set_expand(rs, cidr_ids, res->ncidrs, &ents, &n);
			if (err)
				return err;
			plan[k].set[d] = set_intern(s, ents, n);
			if (!plan[k].set[d])
				return -ENOMEM;
			plan[k].policy[d] = rs->policy;
		}
	}
	return 0;
}

/*
 * Without a compiled result: every direction a policy isolates denies all (fail closed), until
 * a later change compiles. -ENOMEM.
 */
static int plan_closed(struct pol_state *s, struct plan *plan)
{
	struct pol_set *none = empty_set(s);
	unsigned int k, i, d;

	if (!none)
		return -ENOMEM;
	for (k = 0; k < s->nlocal; k++) {
		const struct pol_pod *p = s->pods[k];

		memset(&plan[k], 0, sizeof(plan[k]));
		for (i = 0; i < s->npolicies; i++) {
			const struct pol_policy *pp = s->policies[i];

			if (!policy_selects_pod(&pp->spec, &p->meta.labels, p->meta.namespace))
				continue;
			for (d = 0; d < 2; d++) {
				if (!(pp->spec.types & (d ? POLICY_TYPE_EGRESS : POLICY_TYPE_INGRESS)))
					continue;
				if (!(plan[k].flags & dir_flag[d]) || pp->id < plan[k].policy[d])
					plan[k].policy[d] = pp->id;
				plan[k].flags |= dir_flag[d];
				plan[k].set[d] = none;
				plan[k].degraded[d] = true;
			}
		}
	}
	return 0;
}

/*
 * Entries the plan's unwritten sets need, each set once; fresh: only for pod directions that
 * were not degraded before, i.e. what the change itself asks for.
 */
static unsigned long plan_needs(struct pol_state *s, struct plan *plan, bool fresh)
{
	unsigned long need = 0;
	unsigned int k, d;

	for (k = 0; k < s->nlocal; k++)
		for (d = 0; d < 2; d++) {
			struct pol_set *set = plan[k].set[d];

			if (fresh && s->pods[k]->degraded[d])
				continue;
			if (set && !set->written && !set->admitted) {
				set->admitted = true;
				need += set->n;
			}
		}
	for (k = 0; k < s->nlocal; k++)
		for (d = 0; d < 2; d++)
			if (plan[k].set[d])
				plan[k].set[d]->admitted = false;
	return need;
}

/*
 * Not all of it fits: sets are admitted in the pods' order while they fit, first for the pod
 * directions that had their rules, then for those already degraded. A pod direction whose set
 * does not fit keeps its current set when that allows no more than the new one (so nothing
 * opens), else gets the empty set (denies all). Either way it is degraded, and every later
 * change tries again.
 */
static int plan_fit(struct pol_state *s, struct plan *plan, unsigned long room)
{
	struct pol_set *none = NULL;
	unsigned int k, d, pass;

	for (pass = 0; pass < 2; pass++)
		for (k = 0; k < s->nlocal; k++) {
			struct pol_pod *p = s->pods[k];

			for (d = 0; d < 2; d++) {
				struct pol_set *set = plan[k].set[d], *cur = p->set[d];

				if (p->degraded[d] != (pass == 1))
					continue;
				if (!set || set->written || set->admitted)
					continue;
				if (set->n <= room) {
					set->admitted = true;
					room -= set->n;
					continue;
				}
				plan[k].degraded[d] = true;
				if (cur && cur->written && set_keys_subset(cur, set)) {
					plan[k].set[d] = cur;
					continue;
				}
				if (!none)
					none = empty_set(s);
				if (!none)
					return -ENOMEM;
				plan[k].set[d] = none;
			}
		}
	for (k = 0; k < s->nlocal; k++)
		for (d = 0; d < 2; d++)
			if (plan[k].set[d])
				plan[k].set[d]->admitted = false;
	return 0;
}

/* Write the plan's sets that are not in the map; a set that fails takes its pods to empty. */
static int plan_write(struct agent *a, struct plan *plan, bool refusable)
{
	struct pol_state *s = a->policy;
	struct pol_set *none = NULL;
	unsigned int k, d;
	int err;

	for (k = 0; k < s->nlocal; k++)
		for (d = 0; d < 2; d++) {
			struct pol_set *set = plan[k].set[d];

			if (!set || set->written)
				continue;
			err = set_write(a, set);
			if (!err)
				continue;
			if (refusable)
				return err;
			if (!none)
				none = empty_set(s);
			if (!none || (!none->written && set_write(a, none)))
				return -ENOMEM;
			plan[k].set[d] = none;
			plan[k].degraded[d] = true;
		}
	return 0;
}

/* ---- podlane_ipcache ---- */

struct ipc_want {
	struct ipc_ent e;
	int prio;		/* of two entries with one key, the higher stays */
};

static int want_cmp(const void *x, const void *y)
{
	const struct ipc_want *a = x, *b = y;
	int c = ipc_cmp(&a->e, &b->e);

	return c ? c : b->prio - a->prio;
}

static __u32 cidr_of(const struct pc_result *res, const __u32 *cidr_ids, __be32 addr)
{
	__u32 id;

	if (!res || !cidr_ids)
		return 0;
	id = policy_cidr_id_of(res, addr);
	if (id < PODLANE_ID_CIDR_BASE || id - PODLANE_ID_CIDR_BASE >= res->ncidrs)
		return 0;
	return cidr_ids[id - PODLANE_ID_CIDR_BASE];
}

/*
 * What podlane_ipcache must hold: the prefixes of ipBlocks (WORLD, their CIDR id), this
 * node's addresses (HOST), other nodes' (REMOTE_NODE), and pods (their identity); each
 * address with the CIDR id of the most specific prefix holding it. Sorted, one per key.
 */
static struct ipc_ent *ipcache_want(struct pol_state *s, const struct pc_result *res,
				    const __u32 *cidr_ids, size_t *n)
{
	size_t cap = s->ncidrs + s->nhost_addrs + s->nremote_nodes + s->npods, cnt = 0, i, o;
	struct ipc_want *w = calloc(cap ? cap : 1, sizeof(*w));
	struct ipc_ent *out;

	*n = 0;
	if (!w)
		return NULL;
#define WANT(a_, plen_, id_, cidr_, prio_)						\
	w[cnt++] = (struct ipc_want){ .e = { .key = { .prefixlen = (plen_), .addr = (a_) },	\
					     .val = { .id = (id_), .cidr_id = (cidr_) } },	\
				      .prio = (prio_) }
	for (i = 0; cidr_ids && i < s->ncidrs; i++)
		if (s->cidrs[i].used)
			WANT(s->cidrs[i].addr, s->cidrs[i].plen, PODLANE_ID_WORLD, s->cidrs[i].id,
			     0);
	for (i = 0; i < s->nremote_nodes; i++)
		WANT(s->remote_nodes[i].addr, 32, PODLANE_ID_REMOTE_NODE,
		     cidr_of(res, cidr_ids, s->remote_nodes[i].addr), 1);
	for (i = 0; i < s->nhost_addrs; i++)
		WANT(s->host_addrs[i], 32, PODLANE_ID_HOST,
		     cidr_of(res, cidr_ids, s->host_addrs[i]), 2);
	for (i = 0; i < s->npods; i++)
		WANT(s->pods[i]->addr, 32, s->pods[i]->ident->id,
		     cidr_of(res, cidr_ids, s->pods[i]->addr), s->pods[i]->local ? 4 : 3);
#undef WANT
	if (cnt)
		qsort(w, cnt, sizeof(*w), want_cmp);
	out = calloc(cnt ? cnt : 1, sizeof(*out));
	if (!out) {
		free(w);
		return NULL;
	}
	for (i = 0, o = 0; i < cnt; i++)
		if (!o || ipc_cmp(&out[o - 1], &w[i].e))
			out[o++] = w[i].e;
	free(w);
	*n = o;
	return out;
}

/* ---- podlane_ep_policy ---- */

static void ep_value(const struct pol_pod *p, const struct plan *pl, struct ep_policy *v)
{
	memset(v, 0, sizeof(*v));
	v->ingress_set = pl->set[0] ? pl->set[0]->id : 0;
	v->egress_set = pl->set[1] ? pl->set[1]->id : 0;
	v->ingress_policy = pl->policy[0];
	v->egress_policy = pl->policy[1];
	v->flags = pl->flags;
	v->id = p->ident->id;
}

/* Point the endpoints whose entry differs at their planned sets. */
static void ep_write(struct agent *a, struct plan *plan)
{
	struct pol_state *s = a->policy;
	struct ep_policy v;
	unsigned int k, d;
	int err;

	for (k = 0; k < s->nlocal; k++) {
		struct pol_pod *p = s->pods[k];

		ep_value(p, &plan[k], &v);
		if (!p->ep_written || memcmp(&v, &p->ep, sizeof(v))) {
			err = map_ep_put(a, p->ifindex, &v);
			if (err) {
				/* The entry keeps what it said, and so do the sets it names. */
				log_error("failed to write the pod's podlane_ep_policy entry pod=%s/%s "
					  "ifindex=%u err=\"%s\"", p->meta.namespace, p->meta.name,
					  p->ifindex, strerror(-err));
				continue;
			}
			p->ep = v;
			p->ep_written = true;
		}
		for (d = 0; d < 2; d++) {
			if (plan[k].set[d])
				plan[k].set[d]->refs++;
			if (p->set[d])
				p->set[d]->refs--;
			p->set[d] = plan[k].set[d];
			p->policy[d] = plan[k].policy[d];
			p->degraded[d] = plan[k].degraded[d];
		}
		p->flags = plan[k].flags;
	}
}

void pol_ep_forget(struct agent *a, struct pol_pod *p)
{
	unsigned int d;

	if (p->ep_written)
		map_ep_del(a, p->ifindex);
	p->ep_written = false;
	for (d = 0; d < 2; d++) {
		if (p->set[d])
			p->set[d]->refs--;
		p->set[d] = NULL;
	}
}

/* ---- the change ---- */

static int refuse(struct pol_state *s, const char *what, unsigned long need,
		  unsigned long room, struct api_error *e)
{
	s->refused++;
	log_warn("network policy change refused: no room in podlane_policy what=\"%s\" "
		 "needs=%lu free=%lu max=%u", what, need, room, s->max_entries);
	return api_fail(e, PODLANE_ERR_MAP_FULL, "%s needs %lu entries, %lu free of %u; raise "
			"--max-policy-entries", what, need, room, s->max_entries);
}

int pol_sync(struct agent *a, const char *what, bool refusable, struct api_error *e)
{
	struct pol_state *s = a->policy;
	__u64 t0 = now_us(), writes;
	struct pc_result res = {}, *resp = NULL;
	struct plan *plan = NULL;
	struct ipc_ent *want = NULL;
	__u32 *cidr_ids = NULL;
	unsigned long need, room;
	struct world wd = {};
	bool isolating;
	char why[512] = "";
	size_t nwant = 0;
	int err, ret = -1;

	if (!s->started)
		return 0;
	writes = s->writes_ipcache + s->writes_policy + s->writes_ep;
	isolating = s->nsets > 0;
	plan = calloc(s->nlocal ? s->nlocal : 1, sizeof(*plan));
	err = plan ? world_build(s, &wd) : -ENOMEM;
	if (!err) {
		/*
		 * The compiler's bound is not the room: a set larger than the map is planned and
		 * refused (or degraded) like any other that does not fit, so one pod's rules
		 * never stop the others'. The bound only keeps a pathological policy's memory in
		 * check.
		 */
		err = policy_compile(&wd.w, s->max_entries > POL_COMPILE_MAX ? s->max_entries :
				     POL_COMPILE_MAX, &res, why, sizeof(why));
		if (err && !why[0])
			snprintf(why, sizeof(why), "%s", strerror(-err));
	}
	if (!err) {
		resp = &res;
		cidr_ids = cidrs_stable(s, &res);
		err = cidr_ids ? plan_compiled(s, &res, cidr_ids, plan) : -ENOMEM;
		if (err == -EPROTO)
			snprintf(why, sizeof(why), "the compiler's endpoints do not match the pods");
	}
	if (err) {
		s->sync_failures++;
		if (refusable) {
			if (err == -E2BIG) {
				s->refused++;
				api_fail(e, PODLANE_ERR_MAP_FULL, "%s: %s; raise "
					 "--max-policy-entries", what, why);
			} else {
				api_fail(e, PODLANE_ERR_INTERNAL, "failed to compile network policy "
					 "for %s: %s", what, why);
			}
			goto out;
		}
		log_error("failed to compile network policy, isolated pods deny all until the "
			  "next change what=\"%s\" err=\"%s\"", what, why);
		resp = NULL;
		if (!plan || plan_closed(s, plan))
			goto oom;
	}

	need = plan_needs(s, plan, false);
	room = s->max_entries > s->used ? s->max_entries - s->used : 0;
	if (need > room) {
		/* Refused only for what it asks itself: pods degraded before stay so. */
		if (refusable && plan_needs(s, plan, true) > room) {
			refuse(s, what, plan_needs(s, plan, true), room, e);
			goto out;
		}
		log_warn("network policy does not fit, pods denied what their rules cannot hold "
			 "what=\"%s\" needs=%lu free=%lu max=%u", what, need, room,
			 s->max_entries);
		if (plan_fit(s, plan, room))
			goto oom;
	}
	err = plan_write(a, plan, refusable);
	if (err) {
		api_fail(e, err == -ENOMEM ? PODLANE_ERR_INTERNAL : PODLANE_ERR_MAP_FULL,
			 "failed to write podlane_policy for %s: %s", what, strerror(-err));
		goto out;
	}
	want = ipcache_want(s, resp, cidr_ids, &nwant);
	if (!want)
		goto oom;
	map_ipcache_put(a, want, nwant);
	ep_write(a, plan);
	map_ipcache_prune(a, want, nwant);
	want = NULL;
	if (resp)
		cidrs_prune(s);
	ret = 0;
	goto out;
oom:
	s->sync_failures++;
	log_error("out of memory applying network policy what=\"%s\"", what);
	api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
out:
	/* Planned sets that no endpoint took are dropped; on success so are the old ones. */
	set_sweep(a);
	/*
	 * Tracked connections exist only where an endpoint is isolated (a rule set): without
	 * one before or after the change, there is nothing to judge again.
	 */
	if (s->writes_ipcache + s->writes_policy + s->writes_ep != writes &&
	    (isolating || s->nsets))
		map_rev_bump(a);
	if (!ret)
		s->syncs++;
	s->last_sync_us = now_us() - t0;
	free(want);
	free(cidr_ids);
	free(plan);
	world_free(&wd);
	policy_result_free(&res);
	log_debug("network policy applied what=\"%s\" ok=%d us=%llu rule_sets=%u entries=%u "
		  "writes=%llu/%llu/%llu", what, !ret, (unsigned long long)s->last_sync_us,
		  s->nsets, s->used, (unsigned long long)s->writes_policy,
		  (unsigned long long)s->writes_ipcache, (unsigned long long)s->writes_ep);
	return ret;
}
