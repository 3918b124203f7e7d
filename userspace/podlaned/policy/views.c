// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy/views.c - what the API and metrics read: policies, pods and namespaces page by
 * page, names of ids and addresses for the flow log, counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "policy/policy_int.h"

/* ---- views ---- */

static unsigned int selected_here(struct pol_state *s, const struct policy_spec *spec)
{
	unsigned int i, n = 0;

	for (i = 0; i < s->nlocal; i++)
		if (policy_selects_pod(spec, &s->pods[i]->meta.labels, s->pods[i]->meta.namespace))
			n++;
	return n;
}

static int policy_views(struct pol_state *s, unsigned int from, unsigned int to,
			policy_view_cb cb, void *data)
{
	unsigned int n = to - from, i;
	unsigned long *counts;
	__u32 *ids;
	int ret = 0;

	ids = calloc(n ? n : 1, sizeof(*ids));
	counts = calloc(n ? n : 1, sizeof(*counts));
	if (!ids || !counts) {
		free(ids);
		free(counts);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		ids[i] = s->policies[from + i]->id;
	/* Ids are sorted: the policies are kept by id. */
	set_count_by_policy(s, ids, counts, n);
	for (i = 0; i < n && !ret; i++) {
		const struct pol_policy *p = s->policies[from + i];
		struct policy_view v = {
			.id = p->id, .spec = &p->spec, .pods = selected_here(s, &p->spec),
			.store = p->store,
			.entries = counts[i],
		};

		ret = cb(&v, data);
	}
	free(ids);
	free(counts);
	return ret;
}

int policy_walk(struct agent *a, unsigned long offset, unsigned long limit, policy_view_cb cb,
		void *data)
{
	struct pol_state *s = a->policy;
	unsigned long to = offset + limit;

	if (offset >= s->npolicies)
		return 0;
	if (to > s->npolicies || to < offset)
		to = s->npolicies;
	return policy_views(s, offset, to, cb, data);
}

int policy_get(struct agent *a, const char *ns, const char *name, policy_view_cb cb, void *data)
{
	struct pol_state *s = a->policy;
	unsigned int i;

	for (i = 0; i < s->npolicies; i++)
		if (!strcmp(s->policies[i]->spec.namespace, ns) &&
		    !strcmp(s->policies[i]->spec.name, name))
			return policy_views(s, i, i + 1, cb, data);
	return -ENOENT;
}

unsigned int policy_count(struct agent *a)
{
	return a->policy->npolicies;
}

static int pod_view(const struct pol_pod *p, policy_pod_cb cb, void *data)
{
	struct policy_pod_view v = {
		.meta = &p->meta, .addr = p->addr, .local = p->local, .ifindex = p->ifindex,
		.identity = p->ident->id, .flags = p->flags,
		.ingress_set = p->set[0] ? p->set[0]->id : 0,
		.egress_set = p->set[1] ? p->set[1]->id : 0,
		.degraded = p->degraded[0] || p->degraded[1],
	};

	return cb(&v, data);
}

int policy_pod_walk(struct agent *a, unsigned long offset, unsigned long limit,
		    policy_pod_cb cb, void *data)
{
	struct pol_state *s = a->policy;
	unsigned long i;
	int ret = 0;

	for (i = offset; i < s->npods && i - offset < limit && !ret; i++)
		ret = pod_view(s->pods[i], cb, data);
	return ret;
}

int policy_pod_get(struct agent *a, const char *ns, const char *name, policy_pod_cb cb,
		   void *data)
{
	struct pol_state *s = a->policy;
	unsigned int i, n = 0;
	int ret = 0;

	for (i = 0; i < s->nlocal && !ret; i++)
		if (pol_pod_is(s->pods[i], ns, name)) {
			n++;
			ret = pod_view(s->pods[i], cb, data);
		}
	return n ? ret : -ENOENT;
}

int policy_name_of(struct agent *a, __u32 id, char *buf, size_t len)
{
	struct pol_state *s = a->policy;
	unsigned int lo = 0, hi = s ? s->npolicies : 0, mid;

	/* Kept by id. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->policies[mid]->id == id) {
			snprintf(buf, len, "%s/%s", s->policies[mid]->spec.namespace,
				 s->policies[mid]->spec.name);
			return 0;
		}
		if (s->policies[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

int policy_pod_name_of(struct agent *a, __be32 addr, char *buf, size_t len)
{
	struct pol_state *s = a->policy;
	unsigned int i;

	for (i = 0; s && i < s->npods; i++)
		if (s->pods[i]->addr == addr) {
			snprintf(buf, len, "%s/%s", s->pods[i]->meta.namespace,
				 s->pods[i]->meta.name);
			return 0;
		}
	return -ENOENT;
}

unsigned int policy_pod_count(struct agent *a)
{
	return a->policy->npods;
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Every namespace's name, sorted, each once: labeled ones, pods', policies'. */
static const char **ns_names(struct pol_state *s, unsigned int *n)
{
	unsigned int i, cnt = 0, o = 0;
	const char **v = calloc(s->nnss + s->npods + s->npolicies + 1, sizeof(*v));

	*n = 0;
	if (!v)
		return NULL;
	for (i = 0; i < s->nnss; i++)
		v[cnt++] = s->nss[i]->ns.name;
	for (i = 0; i < s->npods; i++)
		v[cnt++] = s->pods[i]->meta.namespace;
	for (i = 0; i < s->npolicies; i++)
		v[cnt++] = s->policies[i]->spec.namespace;
	if (cnt)
		qsort(v, cnt, sizeof(*v), name_cmp);
	for (i = 0; i < cnt; i++)
		if (!o || strcmp(v[o - 1], v[i]))
			v[o++] = v[i];
	*n = o;
	return v;
}

static int ns_view(struct pol_state *s, const char *name, policy_ns_cb cb, void *data)
{
	struct policy_ns_view v = {};
	struct policy_namespace tmp;
	struct pol_ns *rec = pol_ns_find(s, name);
	unsigned int i;
	int ret;

	if (!rec && policy_namespace_init(&tmp, name, NULL))
		return -ENOMEM;
	v.ns = rec ? &rec->ns : &tmp;
	for (i = 0; i < s->npods; i++)
		v.pods += !strcmp(s->pods[i]->meta.namespace, name);
	for (i = 0; i < s->npolicies; i++)
		v.policies += !strcmp(s->policies[i]->spec.namespace, name);
	ret = cb(&v, data);
	if (!rec)
		policy_namespace_free(&tmp);
	return ret;
}

int policy_ns_walk(struct agent *a, unsigned long offset, unsigned long limit, policy_ns_cb cb,
		   void *data)
{
	struct pol_state *s = a->policy;
	unsigned int n;
	unsigned long i;
	const char **names = ns_names(s, &n);
	int ret = 0;

	if (!names)
		return -ENOMEM;
	for (i = offset; i < n && i - offset < limit && !ret; i++)
		ret = ns_view(s, names[i], cb, data);
	free(names);
	return ret;
}

int policy_ns_get(struct agent *a, const char *ns, policy_ns_cb cb, void *data)
{
	return ns_view(a->policy, ns, cb, data);
}

unsigned int policy_ns_count(struct agent *a)
{
	unsigned int n;
	const char **names = ns_names(a->policy, &n);

	free(names);
	return names ? n : 0;
}

void policy_stats(struct agent *a, struct policy_stats *st)
{
	struct pol_state *s = a->policy;
	unsigned int i;

	memset(st, 0, sizeof(*st));
	if (!s)
		return;
	st->max_entries = s->max_entries;
	st->entries = s->used;
	st->rule_sets = s->nsets;
	st->identities = s->nidents;
	st->policies = s->npolicies;
	st->pods_local = s->nlocal;
	st->pods_remote = s->npods - s->nlocal;
	for (i = 0; i < s->nlocal; i++)
		st->degraded += s->pods[i]->degraded[0] + s->pods[i]->degraded[1];
	st->refused = s->refused;
	st->syncs = s->syncs;
	st->sync_failures = s->sync_failures;
	st->last_sync_us = s->last_sync_us;
	st->writes_ipcache = s->writes_ipcache;
	st->writes_policy = s->writes_policy;
	st->writes_ep_policy = s->writes_ep;
	st->revision = s->revision;
	st->ct_live = s->ct_live;
	st->ct_max = s->ct_max;
	st->ct_expired = s->ct_expired;
	st->ipcache_entries = s->nipc;
	st->ipcache_max = s->ipcache_max;
}

int policy_datapath_stats(struct agent *a, __u64 sum[PODLANE_POL_STAT_SLOTS])
{
	if (!a->policy)
		return -ENOENT;
	return map_stat_read(a, sum);
}
