// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy/policy.c - network policies by id: applied (created, replaced or unchanged) and
 * deleted, each change followed by one pol_sync() (apply.c) that refuses it when it does not
 * fit; this node's own addresses, looked at every few ticks; start-up (adopting what the
 * maps hold) and teardown. Pods and identities are in pods.c, labels in labels.c, what the
 * API reads in views.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "api.h"
#include "core/agent.h"
#include "log.h"
#include "nl.h"
#include "policy/policy_int.h"

#define HOST_ADDRS_EVERY	10	/* ticks between looks at this node's addresses */

const char *policy_result_name(enum policy_result r)
{
	switch (r) {
	case POLICY_CREATED:
		return "created";
	case POLICY_REPLACED:
		return "replaced";
	case POLICY_UNCHANGED:
		return "unchanged";
	}
	return "?";
}

/* ---- policies ---- */

static int policies_cmp(const void *x, const void *y)
{
	const struct pol_policy *a = *(struct pol_policy *const *)x,
				*b = *(struct pol_policy *const *)y;

	return a->id < b->id ? -1 : a->id > b->id;
}

void pol_policy_free(struct pol_policy *p)
{
	if (!p)
		return;
	policy_spec_free(&p->spec);
	free(p);
}

/* The first changed ones by name, for messages: "policy x/y", "policies x/y, a/b and 3 more". */
static void what_policies(char *out, size_t len, const struct pol_policy *const *v,
			  unsigned int n)
{
	unsigned int i, shown = n > 3 ? 2 : n;
	size_t o;

	o = snprintf(out, len, "%s ", n == 1 ? "policy" : "policies");
	for (i = 0; i < shown && o < len; i++)
		o += snprintf(out + o, len - o, "%s%s/%s", i ? ", " : "", v[i]->spec.namespace,
			      v[i]->spec.name);
	if (n > shown && o < len)
		snprintf(out + o, len - o, " and %u more", n - shown);
}

int policy_apply(struct agent *a, struct policy_set *set, __u32 *ids, enum policy_result *res,
		 struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pol_policy **changed = NULL, *p, **grown;
	struct policy_spec *old = NULL;	/* what a replaced one said; zeroed for created ones */
	unsigned int i, nchanged = 0, nold = s->npolicies;
	__u32 next_id = s->next_policy_id;
	char what[512];
	int ret = -1;

	/* The cluster store's policies are changed there, never under it. */
	for (i = 0; i < set->n; i++) {
		p = pol_policy_find(s, set->items[i].namespace, set->items[i].name);
		if (p && p->store) {
			api_fail(e, PODLANE_ERR_CONFLICT, "policy %s/%s comes from etcd (%s%s/%s): "
				 "change or delete it there", p->spec.namespace, p->spec.name,
				 "/podlane/v1/policies/", p->spec.namespace, p->spec.name);
			policy_set_free(set);
			return -1;
		}
	}
	changed = calloc(set->n ? set->n : 1, sizeof(*changed));
	old = calloc(set->n ? set->n : 1, sizeof(*old));
	grown = realloc(s->policies, (s->npolicies + set->n + 1) * sizeof(*grown));
	if (grown)
		s->policies = grown;
	if (!changed || !old || !grown) {
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		goto out;
	}
	/* In memory first, keeping what each replaced; undone below on any failure. */
	for (i = 0; i < set->n; i++) {
		struct policy_spec *spec = &set->items[i];
		struct pol_policy *cur = pol_policy_find(s, spec->namespace, spec->name);

		if (cur && policy_spec_equal(&cur->spec, spec)) {
			ids[i] = cur->id;
			res[i] = POLICY_UNCHANGED;
			continue;
		}
		if (cur) {
			/* Same id: the flow log and the map entries keep naming it. */
			old[nchanged] = cur->spec;
			cur->spec = *spec;
			p = cur;
			res[i] = POLICY_REPLACED;
		} else {
			p = calloc(1, sizeof(*p));
			if (!p) {
				api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
				goto undo;
			}
			p->spec = *spec;
			p->id = next_id++;
			if (next_id >= PODLANE_ID_ANY)
				next_id = 1;
			s->policies[s->npolicies++] = p;
			res[i] = POLICY_CREATED;
		}
		memset(spec, 0, sizeof(*spec));
		ids[i] = p->id;
		changed[nchanged++] = p;
	}
	if (!nchanged) {
		ret = 0;
		goto out;
	}
	for (i = 0; i < nchanged; i++)
		if (record_policy_write(a, changed[i], ".tmp", e))
			goto undo_files;
	what_policies(what, sizeof(what), (const struct pol_policy *const *)changed, nchanged);
	if (pol_sync(a, what, true, e))
		goto undo_files;
	for (i = 0; i < nchanged; i++) {
		record_policy_commit(a, changed[i]);
		log_info("policy applied policy=%s/%s id=%u", changed[i]->spec.namespace,
			 changed[i]->spec.name, changed[i]->id);
		policy_spec_free(&old[i]);
	}
	s->next_policy_id = next_id;
	ret = 0;
	goto out;
undo_files:
	for (i = 0; i < nchanged; i++)
		record_policy_remove(a, changed[i]->spec.namespace, changed[i]->spec.name, ".tmp");
undo:
	/* Replaced ones get their old spec back, created ones go. */
	for (i = 0; i < nchanged; i++) {
		if (!old[i].name)
			continue;
		policy_spec_free(&changed[i]->spec);
		changed[i]->spec = old[i];
	}
	for (i = nold; i < s->npolicies; i++)
		pol_policy_free(s->policies[i]);
	s->npolicies = nold;
out:
	free(changed);
	free(old);
	policy_set_free(set);
	return ret;
}

int policy_delete(struct agent *a, const char *ns, const char *name, __u32 *id,
		  struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pol_policy *p = NULL;
	unsigned int i;
	char what[400];

	for (i = 0; i < s->npolicies; i++)
		if (!strcmp(s->policies[i]->spec.namespace, ns) &&
		    !strcmp(s->policies[i]->spec.name, name)) {
			p = s->policies[i];
			break;
		}
	if (!p)
		return api_fail(e, PODLANE_ERR_NOT_FOUND, "policy '%s/%s' not found", ns, name);
	if (p->store)
		return api_fail(e, PODLANE_ERR_CONFLICT, "policy %s/%s comes from etcd "
				"(/podlane/v1/policies/%s/%s): delete it there", ns, name, ns, name);
	memmove(&s->policies[i], &s->policies[i + 1],
		(s->npolicies - i - 1) * sizeof(*s->policies));
	s->npolicies--;
	snprintf(what, sizeof(what), "deleting policy %s/%s", ns, name);
	if (pol_sync(a, what, true, e)) {
		memmove(&s->policies[i + 1], &s->policies[i],
			(s->npolicies - i) * sizeof(*s->policies));
		s->policies[i] = p;
		s->npolicies++;
		return -1;
	}
	*id = p->id;
	record_policy_remove(a, ns, name, "");
	log_info("policy deleted policy=%s/%s id=%u", ns, name, p->id);
	pol_policy_free(p);
	return 0;
}

/* ---- this node's addresses ---- */

struct addr_list {
	__be32 *v;
	unsigned int n;
	bool oom;
};

static void addr_cb(int ifindex, in_addr_t addr, unsigned int prefix_len, void *ctx)
{
	struct addr_list *l = ctx;
	__be32 *grown;

	if ((ntohl(addr) >> 24) == 127)
		return;	/* loopback never reaches a pod's veth */
	grown = realloc(l->v, (l->n + 1) * sizeof(*grown));
	if (!grown) {
		l->oom = true;
		return;
	}
	l->v = grown;
	l->v[l->n++] = addr;
}

static int addr_cmp(const void *x, const void *y)
{
	__u32 a = ntohl(*(const __be32 *)x), b = ntohl(*(const __be32 *)y);

	return a < b ? -1 : a > b;
}

/* This node's addresses (its interfaces', --node-ip): true when they changed. */
static bool host_addrs_refresh(struct agent *a)
{
	struct pol_state *s = a->policy;
	struct addr_list l = {};
	unsigned int i, o = 0;
	int err;

	err = nl_addr_list4(&a->nl, addr_cb, &l);
	if (!err && !l.oom && a->node_ip)
		addr_cb(0, a->node_ip, 32, &l);
	if (err || l.oom) {
		log_warn("failed to read this node's addresses for network policy err=\"%s\"",
			 strerror(err ? -err : ENOMEM));
		free(l.v);
		return false;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), addr_cmp);
	for (i = 0; i < l.n; i++)
		if (!o || l.v[o - 1] != l.v[i])
			l.v[o++] = l.v[i];
	if (o == s->nhost_addrs && (!o || !memcmp(l.v, s->host_addrs, o * sizeof(*l.v)))) {
		free(l.v);
		return false;
	}
	free(s->host_addrs);
	s->host_addrs = l.v;
	s->nhost_addrs = o;
	return true;
}

void policy_tick(struct agent *a)
{
	struct pol_state *s = a->policy;

	if (!s || !s->started)
		return;
	s->ticks++;
	if (!(s->ticks % POL_CT_GC_EVERY))
		pol_ct_gc(a);
	if (!(s->ticks % HOST_ADDRS_EVERY) && host_addrs_refresh(a))
		pol_sync(a, "this node's addresses", false, NULL);
	if (s->remote_dirty && !(s->ticks % POL_REMOTE_CACHE_EVERY) && !record_remote_write(a))
		s->remote_dirty = false;
}

/* ---- start-up and teardown ---- */

/*
 * A record of the store's (store) gets generation 0, which no list of this run has: the first
 * full list keeps it if etcd still holds it, else sweeps it.
 */
static void load_policy_cb(struct agent *a, struct policy_spec *spec, __u32 id, bool store)
{
	struct pol_state *s = a->policy;
	struct pol_policy *p, **grown;
	unsigned int i;

	for (i = 0; i < s->npolicies; i++)
		if (s->policies[i]->id == id ||
		    (!strcmp(s->policies[i]->spec.namespace, spec->namespace) &&
		     !strcmp(s->policies[i]->spec.name, spec->name))) {
			log_error("policy record skipped: its id or name is another's policy=%s/%s "
				  "id=%u", spec->namespace, spec->name, id);
			policy_spec_free(spec);
			return;
		}
	p = calloc(1, sizeof(*p));
	grown = realloc(s->policies, (s->npolicies + 1) * sizeof(*grown));
	if (grown)
		s->policies = grown;
	if (!p || !grown) {
		free(p);
		policy_spec_free(spec);
		log_error("out of memory loading policies");
		return;
	}
	p->spec = *spec;
	p->id = id;
	p->store = store;
	s->policies[s->npolicies++] = p;
	if (id >= s->next_policy_id)
		s->next_policy_id = id + 1 < PODLANE_ID_ANY ? id + 1 : 1;
}

static void load_ns_cb(struct agent *a, const char *name, struct label_set *labels, bool store)
{
	struct pol_state *s = a->policy;
	struct pol_ns *ns = calloc(1, sizeof(*ns));

	if (ns)
		ns->store = store;
	if (!ns || policy_namespace_init(&ns->ns, name, labels) || pol_nss_insert(s, ns)) {
		if (ns)
			policy_namespace_free(&ns->ns);
		free(ns);
		log_error("out of memory loading namespaces");
	}
	label_set_free(labels);
}

/* Another node's pod as the cache left it: generation 0, until the store's first list. */
static void load_remote_cb(struct agent *a, struct policy_pod *meta, __be32 addr, __be32 node_ip)
{
	struct api_error e = {};
	struct pol_pod *p = pol_remote_set(a, meta, addr, false, &e);

	if (p)
		p->node_ip = node_ip;
	else
		log_warn("another node's pod not restored pod=%s/%s err=\"%s\"", meta->namespace,
			 meta->name, e.msg);
	policy_pod_free(meta);
}

static void load_pod_cb(struct agent *a, const char *host_ifname, struct policy_pod *meta)
{
	struct pol_state *s = a->policy;
	struct pol_pending *grown = realloc(s->pending, (s->npending + 1) * sizeof(*grown));

	if (!grown) {
		policy_pod_free(meta);
		log_error("out of memory loading pods");
		return;
	}
	s->pending = grown;
	snprintf(grown[s->npending].host_ifname, PODLANE_IFNAME_LEN, "%s", host_ifname);
	grown[s->npending++].meta = *meta;
}

/* What podlane_ipcache says a previous agent gave out: pod identities, CIDR ids. */
static int adopt_ipcache(struct pol_state *s)
{
	size_t i;

	s->old_idents = calloc(s->nipc ? s->nipc : 1, sizeof(*s->old_idents));
	s->cidrs = calloc(s->nipc ? s->nipc : 1, sizeof(*s->cidrs));
	if (!s->old_idents || !s->cidrs)
		return -ENOMEM;
	for (i = 0; i < s->nipc; i++) {
		const struct ipc_ent *e = &s->ipc[i];

		if (e->key.prefixlen == 32 && e->val.id >= PODLANE_ID_POD_BASE &&
		    e->val.id < PODLANE_ID_CIDR_BASE) {
			s->old_idents[s->nold_idents++] = (struct old_ident){
				.addr = e->key.addr, .id = e->val.id,
			};
			if (e->val.id >= s->next_ident)
				s->next_ident = e->val.id + 1;
		}
		if (e->val.id == PODLANE_ID_WORLD && e->val.cidr_id >= PODLANE_ID_CIDR_BASE &&
		    e->val.cidr_id != PODLANE_ID_ANY) {
			s->cidrs[s->ncidrs++] = (struct pol_cidr){
				.addr = e->key.addr, .plen = e->key.prefixlen, .id = e->val.cidr_id,
			};
			if (e->val.cidr_id >= s->next_cidr_id)
				s->next_cidr_id = e->val.cidr_id + 1;
		}
	}
	if (s->next_ident >= PODLANE_ID_CIDR_BASE)
		s->next_ident = PODLANE_ID_POD_BASE;
	if (s->next_cidr_id >= PODLANE_ID_ANY)
		s->next_cidr_id = PODLANE_ID_CIDR_BASE;
	return 0;
}

static int policies_by_id(const void *x, const void *y)
{
	return policies_cmp(x, y);
}

int policy_open(struct agent *a)
{
	struct pol_state *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	a->policy = s;
	s->ipcache_fd = s->policy_fd = s->ep_fd = s->rev_fd = s->stat_fd = s->ct_fd = -1;
	s->next_policy_id = 1;
	s->next_set_id = 1;
	s->next_ident = PODLANE_ID_POD_BASE;
	s->next_cidr_id = PODLANE_ID_CIDR_BASE;
	err = maps_open(a);
	if (err)
		return err;
	err = map_ipcache_load(a) ?: adopt_ipcache(s) ?: set_adopt_map(a);
	if (err) {
		log_error("failed to read the network policy maps: %s", strerror(-err));
		return err;
	}
	record_load(a, load_policy_cb, load_ns_cb, load_pod_cb);
	record_remote_load(a, load_remote_cb);
	s->remote_dirty = false;
	if (s->npolicies)
		qsort(s->policies, s->npolicies, sizeof(*s->policies), policies_by_id);
	if (s->ncidrs)
		qsort(s->cidrs, s->ncidrs, sizeof(*s->cidrs), pol_cidr_cmp);
	host_addrs_refresh(a);
	log_info("network policy state read policies=%u namespaces=%u pods=%u max_entries=%u",
		 s->npolicies, s->nnss, s->npending, s->max_entries);
	return 0;
}

struct ep_orphans {
	__u32 *v;
	size_t n;
};

/*
 * An endpoint's podlane_ep_policy entry as a previous agent left it: the sets it points at
 * are taken (a set with no entry in podlane_policy is the empty one, denying all). Entries of
 * endpoints policy does not know are collected and deleted after the walk (a delete during
 * it would start the walk over).
 */
static void ep_adopt(__u32 ifindex, const struct ep_policy *v, void *data)
{
	struct agent *a = data;
	struct pol_state *s = a->policy;
	struct pol_pod *p = pol_pod_by_ifindex(s, ifindex, NULL);
	struct ep_orphans *o = s->orphans;
	__u32 *grown, id;
	unsigned int d;

	if (!p) {
		grown = realloc(o->v, (o->n + 1) * sizeof(*grown));
		if (grown) {
			o->v = grown;
			o->v[o->n++] = ifindex;
		}
		return;
	}
	if (p->ep_written)
		return;
	p->ep = *v;
	p->ep_written = true;
	p->flags = v->flags;
	for (d = 0; d < 2; d++) {
		if (!(v->flags & (d ? PODLANE_POL_F_EGRESS : PODLANE_POL_F_INGRESS)))
			continue;
		id = d ? v->egress_set : v->ingress_set;
		p->set[d] = set_find_id(s, id) ?: set_adopt_empty(s, id);
		if (p->set[d])
			p->set[d]->refs++;
		p->policy[d] = d ? v->egress_policy : v->ingress_policy;
	}
}

void policy_start(struct agent *a, bool store)
{
	struct pol_state *s = a->policy;
	struct ep_orphans orphans = {};
	unsigned int i;

	if (!s)
		return;
	/* No store this run: its cache goes (generation 0 is what the cache loaded with). */
	if (!store)
		policy_store_sweep(a, ~0U);
	/* Records of pods whose endpoint the reconcile did not find: gone while we were down. */
	for (i = 0; i < s->npending; i++) {
		log_info("pod record dropped, its endpoint is gone pod=%s/%s host_ifname=%s",
			 s->pending[i].meta.namespace, s->pending[i].meta.name,
			 s->pending[i].host_ifname);
		record_pod_remove(a, s->pending[i].host_ifname, "");
		policy_pod_free(&s->pending[i].meta);
	}
	free(s->pending);
	s->pending = NULL;
	s->npending = 0;
	s->orphans = &orphans;
	map_ep_walk(a, ep_adopt, a);
	s->orphans = NULL;
	/* Endpoints that are gone, or that no policy knows. */
	for (i = 0; i < orphans.n; i++)
		map_ep_del(a, orphans.v[i]);
	free(orphans.v);
	s->started = true;
	pol_sync(a, "start-up", false, NULL);
	free(s->old_idents);
	s->old_idents = NULL;
	s->nold_idents = 0;
	log_info("network policy in place policies=%u pods=%u identities=%u rule_sets=%u "
		 "entries=%u max_entries=%u revision=%u", s->npolicies, s->nlocal, s->nidents,
		 s->nsets, s->used, s->max_entries, s->revision);
}

void policy_close(struct agent *a)
{
	struct pol_state *s = a->policy;
	unsigned int i;

	if (!s)
		return;
	if (s->remote_dirty)
		record_remote_write(a);
	for (i = 0; i < s->npods; i++)
		pol_pod_free(s, s->pods[i]);
	free(s->pods);
	for (i = 0; i < s->npolicies; i++)
		pol_policy_free(s->policies[i]);
	free(s->policies);
	for (i = 0; i < s->nnss; i++)
		pol_ns_free(s->nss[i]);
	free(s->nss);
	for (i = 0; i < s->npending; i++)
		policy_pod_free(&s->pending[i].meta);
	free(s->pending);
	pol_podrecs_free(s);
	sets_free(s);
	maps_close(s);
	free(s->remote_nodes);
	free(s->host_addrs);
	free(s->old_idents);
	free(s->cidrs);
	free(s);
	a->policy = NULL;
}
