// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy/store.c - network policy from the cluster store (etcd, through sync/): policies,
 * namespaces' labels, pod records (labels and named ports of a pod by namespace/name) and
 * other nodes' pods from their endpoint records. Each keeps the resync generation that last
 * saw it, so that a full list removes what etcd no longer holds (policy_store_sweep). How the
 * store and podlanectl share names is in policy.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/agent.h"
#include "log.h"
#include "policy/policy_int.h"

static int not_set_up(struct api_error *e)
{
	return api_fail(e, PODLANE_ERR_INTERNAL, "network policy is not set up");
}

/* Policies and namespaces wait for the batch's end (a full list), compiled once there. */
static bool deferred(struct pol_state *s)
{
	return s->batch && s->listing;
}

/*
 * A change applied, or waiting for the batch's end. refusable changes are refused (-1, e) and
 * undone by the caller; a deferred one cannot be refused.
 */
static int store_sync(struct agent *a, const char *what, bool refusable, struct api_error *e)
{
	struct pol_state *s = a->policy;

	if (deferred(s)) {
		s->batch_dirty = true;
		return 0;
	}
	return pol_sync(a, what, refusable, e);
}

/* ---- policies ---- */

int policy_store_put(struct agent *a, struct policy_spec *spec, __u32 gen, struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pol_policy *cur, *p, **grown;
	struct policy_spec old = {};
	bool old_store = false;
	char what[400];

	if (!s) {
		policy_spec_free(spec);
		return not_set_up(e);
	}
	cur = pol_policy_find(s, spec->namespace, spec->name);
	if (cur && cur->store && policy_spec_equal(&cur->spec, spec)) {
		cur->store_gen = gen;
		policy_spec_free(spec);
		return 0;
	}
	if (cur) {
		/* Same id: the flow log and the map entries keep naming it. */
		old = cur->spec;
		old_store = cur->store;
		cur->spec = *spec;
		p = cur;
	} else {
		grown = realloc(s->policies, (s->npolicies + 1) * sizeof(*grown));
		if (grown)
			s->policies = grown;
		p = grown ? calloc(1, sizeof(*p)) : NULL;
		if (!p) {
			policy_spec_free(spec);
			return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		}
		p->spec = *spec;
		p->id = s->next_policy_id;
		s->policies[s->npolicies++] = p;
	}
	memset(spec, 0, sizeof(*spec));
	p->store = true;
	snprintf(what, sizeof(what), "policy %s/%s", p->spec.namespace, p->spec.name);
	if (record_policy_write(a, p, ".tmp", e) || store_sync(a, what, true, e)) {
		record_policy_remove(a, p->spec.namespace, p->spec.name, ".tmp");
		if (cur) {
			policy_spec_free(&p->spec);
			p->spec = old;
			p->store = old_store;
		} else {
			s->npolicies--;
			pol_policy_free(p);
		}
		return -1;
	}
	record_policy_commit(a, p);
	if (!cur && ++s->next_policy_id >= PODLANE_ID_ANY)
		s->next_policy_id = 1;
	if (cur && !old_store)
		log_warn("policy from etcd replaces the one podlanectl added policy=%s/%s id=%u",
			 p->spec.namespace, p->spec.name, p->id);
	policy_spec_free(&old);
	p->store_gen = gen;
	log_info("policy applied from etcd policy=%s/%s id=%u", p->spec.namespace, p->spec.name,
		 p->id);
	return 0;
}

/* Index i of s->policies out of the table (order kept: by id), its record gone. */
static void policy_drop(struct agent *a, unsigned int i)
{
	struct pol_state *s = a->policy;
	struct pol_policy *p = s->policies[i];

	memmove(&s->policies[i], &s->policies[i + 1],
		(s->npolicies - i - 1) * sizeof(*s->policies));
	s->npolicies--;
	record_policy_remove(a, p->spec.namespace, p->spec.name, "");
	log_info("policy deleted (etcd) policy=%s/%s id=%u", p->spec.namespace, p->spec.name,
		 p->id);
	pol_policy_free(p);
}

bool policy_store_del(struct agent *a, const char *ns, const char *name)
{
	struct pol_state *s = a->policy;
	char what[400];
	unsigned int i;

	for (i = 0; s && i < s->npolicies; i++) {
		struct pol_policy *p = s->policies[i];

		if (strcmp(p->spec.namespace, ns) || strcmp(p->spec.name, name))
			continue;
		if (!p->store)
			return false;
		policy_drop(a, i);
		/* Cannot be refused: applied as far as it fits, never open (policy.h). */
		snprintf(what, sizeof(what), "deleting policy %s/%s", ns, name);
		store_sync(a, what, false, NULL);
		return true;
	}
	return false;
}

/* ---- namespaces ---- */

int policy_store_ns_put(struct agent *a, struct policy_namespace *ns, __u32 gen,
			struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pol_ns *cur, *next;
	char what[200];

	if (!s) {
		policy_namespace_free(ns);
		return not_set_up(e);
	}
	cur = pol_ns_find(s, ns->name);
	if (cur && cur->store && label_set_equal(&cur->ns.labels, &ns->labels)) {
		cur->store_gen = gen;
		policy_namespace_free(ns);
		return 0;
	}
	/* Kept even with the name label alone: etcd holds the namespace, podlanectl may not. */
	next = calloc(1, sizeof(*next));
	if (!next) {
		policy_namespace_free(ns);
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	next->ns = *ns;
	memset(ns, 0, sizeof(*ns));
	next->store = true;
	next->store_gen = gen;
	if (record_ns_write(a, next, ".tmp", e) || pol_nss_insert(s, next)) {
		record_ns_remove(a, next->ns.name, ".tmp");
		pol_ns_free(next);
		return e->code ? -1 : api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	if (cur)
		pol_nss_remove(s, cur);
	snprintf(what, sizeof(what), "namespace %s's labels", next->ns.name);
	if (store_sync(a, what, true, e)) {
		pol_nss_remove(s, next);
		record_ns_remove(a, next->ns.name, ".tmp");
		pol_ns_free(next);
		if (cur)
			pol_nss_insert(s, cur);	/* the slot it left is still there */
		return -1;
	}
	record_ns_commit(a, next->ns.name);
	if (cur && !cur->store)
		log_warn("namespace labels from etcd replace those podlanectl set namespace=%s",
			 next->ns.name);
	pol_ns_free(cur);
	log_info("namespace labels set from etcd namespace=%s", next->ns.name);
	return 0;
}

static void ns_drop(struct agent *a, struct pol_ns *ns)
{
	pol_nss_remove(a->policy, ns);
	record_ns_remove(a, ns->ns.name, "");
	log_info("namespace labels deleted (etcd) namespace=%s", ns->ns.name);
	pol_ns_free(ns);
}

bool policy_store_ns_del(struct agent *a, const char *name)
{
	struct pol_state *s = a->policy;
	struct pol_ns *cur = s ? pol_ns_find(s, name) : NULL;
	char what[200];

	if (!cur || !cur->store)
		return false;
	ns_drop(a, cur);
	snprintf(what, sizeof(what), "namespace %s's labels deleted", name);
	store_sync(a, what, false, NULL);
	return true;
}

/* ---- pod records ---- */

/* Every node holds every pod record of the cluster: hashed by namespace/name (FNV-1a). */
static struct pol_podrec **podrec_chain(struct pol_state *s, const char *ns, const char *name)
{
	__u32 h = 2166136261u;
	const char *c;

	for (c = ns; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (c = name; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	return &s->podrecs[h % POL_PODREC_BUCKETS];
}

struct pol_podrec *pol_podrec_find(struct pol_state *s, const char *ns, const char *name)
{
	struct pol_podrec *r;

	for (r = *podrec_chain(s, ns, name); r; r = r->next)
		if (!strcmp(r->meta.name, name) && !strcmp(r->meta.namespace, ns))
			return r;
	return NULL;
}

void pol_podrecs_free(struct pol_state *s)
{
	struct pol_podrec *r, *next;
	unsigned int i;

	for (i = 0; i < POL_PODREC_BUCKETS; i++) {
		for (r = s->podrecs[i]; r; r = next) {
			next = r->next;
			policy_pod_free(&r->meta);
			free(r);
		}
		s->podrecs[i] = NULL;
	}
	s->npodrecs = 0;
}

int policy_store_pod_put(struct agent *a, struct policy_pod *pod, __u32 gen, struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pol_podrec *rec, *fresh = NULL, **chain;
	char what[400];

	if (!s) {
		policy_pod_free(pod);
		return not_set_up(e);
	}
	rec = pol_podrec_find(s, pod->namespace, pod->name);
	if (rec && pol_meta_equal(&rec->meta, pod)) {
		rec->gen = gen;
		policy_pod_free(pod);
		return 0;
	}
	if (!rec) {
		fresh = calloc(1, sizeof(*fresh));
		if (!fresh) {
			policy_pod_free(pod);
			return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		}
	}
	snprintf(what, sizeof(what), "pod %s/%s's labels and named ports", pod->namespace,
		 pod->name);
	if (pol_pods_set_meta(a, pod->namespace, pod->name, &pod->labels, pod->ports,
			      pod->nports, what, e)) {
		policy_pod_free(pod);
		free(fresh);
		return -1;
	}
	if (rec) {
		policy_pod_free(&rec->meta);
	} else {
		rec = fresh;
		chain = podrec_chain(s, pod->namespace, pod->name);
		rec->next = *chain;
		*chain = rec;
		s->npodrecs++;
	}
	rec->meta = *pod;
	rec->gen = gen;
	memset(pod, 0, sizeof(*pod));
	return 0;
}

static void podrec_drop(struct pol_state *s, struct pol_podrec *rec)
{
	struct pol_podrec **c;

	for (c = podrec_chain(s, rec->meta.namespace, rec->meta.name); *c; c = &(*c)->next)
		if (*c == rec) {
			*c = rec->next;
			break;
		}
	policy_pod_free(&rec->meta);
	free(rec);
	s->npodrecs--;
}

bool policy_store_pod_del(struct agent *a, const char *ns, const char *name)
{
	struct pol_state *s = a->policy;
	struct pol_podrec *rec = s ? pol_podrec_find(s, ns, name) : NULL;

	if (!rec)
		return false;
	podrec_drop(s, rec);
	return true;
}

/* ---- other nodes' pods ---- */

int policy_store_remote_put(struct agent *a, __be32 addr, __be32 node_ip, struct policy_pod *pod,
			    __u32 gen, struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pol_pod *old, *p;
	bool same;

	if (!s) {
		policy_pod_free(pod);
		return not_set_up(e);
	}
	old = pol_remote_find(s, addr);
	same = old && pol_meta_equal(&old->meta, pod);
	p = pol_remote_set(a, pod, addr, !s->batch, e);
	policy_pod_free(pod);
	if (!p)
		return -1;
	p->store_gen = gen;
	p->node_ip = node_ip;
	if (!same && s->batch)
		s->batch_dirty = true;
	return 0;
}

bool policy_store_remote_del(struct agent *a, __be32 addr, __be32 node_ip)
{
	struct pol_state *s = a->policy;
	struct pol_pod *p = s ? pol_remote_find(s, addr) : NULL;
	bool had;

	if (!p || p->node_ip != node_ip)
		return false;
	had = pol_remote_del(a, addr, !s->batch);
	if (had && s->batch)
		s->batch_dirty = true;
	return had;
}

void policy_store_batch(struct agent *a, bool begin)
{
	struct pol_state *s = a->policy;

	if (!s)
		return;
	if (begin) {
		s->batch++;
		return;
	}
	if (!s->batch || --s->batch || !s->batch_dirty)
		return;
	s->batch_dirty = false;
	pol_sync(a, "the cluster store's records", false, NULL);
}

void policy_store_listing(struct agent *a, bool on)
{
	if (a->policy)
		a->policy->listing = on;
}

/* ---- after a full list ---- */

unsigned int policy_store_sweep(struct agent *a, __u32 gen)
{
	struct pol_state *s = a->policy;
	unsigned int i, n = 0, nstale = 0;
	__be32 *stale;

	if (!s)
		return 0;
	i = 0;
	while (i < s->npolicies) {
		if (s->policies[i]->store && s->policies[i]->store_gen != gen) {
			policy_drop(a, i);
			n++;
		} else {
			i++;
		}
	}
	i = 0;
	while (i < s->nnss) {
		if (s->nss[i]->store && s->nss[i]->store_gen != gen) {
			ns_drop(a, s->nss[i]);
			n++;
		} else {
			i++;
		}
	}
	for (i = 0; i < POL_PODREC_BUCKETS; i++) {
		struct pol_podrec **c = &s->podrecs[i], *r;

		while ((r = *c)) {
			if (r->gen == gen) {
				c = &r->next;
				continue;
			}
			*c = r->next;
			policy_pod_free(&r->meta);
			free(r);
			s->npodrecs--;
			n++;
		}
	}
	/* Collected first: a removal moves the last remote pod into its slot. */
	stale = calloc(s->npods - s->nlocal + 1, sizeof(*stale));
	for (i = s->nlocal; stale && i < s->npods; i++)
		if (s->pods[i]->store_gen != gen)
			stale[nstale++] = s->pods[i]->addr;
	for (i = 0; i < nstale; i++)
		n += pol_remote_del(a, stale[i], false);
	free(stale);
	if (n) {
		log_info("network policy swept what etcd no longer holds records=%u", n);
		pol_sync(a, "the cluster store's full list", false, NULL);
	}
	return n;
}
