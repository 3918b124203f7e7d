// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy/policy.c - network policy's state: policies by id, namespaces with labels of their
 * own, pods (this node's, by host veth, then other nodes', by address), the identities pods
 * share by {namespace, labels, named ports}, this node's and other nodes' addresses; the
 * operations of policy.h that change them, each followed by one pol_sync() (apply.c), and
 * start-up.
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

/* ---- identities ---- */

static unsigned int str_hash(const char *str)
{
	unsigned int h = 2166136261u;

	for (; *str; str++) {
		h ^= (unsigned char)*str;
		h *= 16777619u;
	}
	return h;
}

static bool ident_id_used(struct pol_state *s, __u32 id)
{
	struct pol_ident *i;
	unsigned int b;

	for (b = 0; b < POL_IDENT_BUCKETS; b++)
		for (i = s->idents[b]; i; i = i->next)
			if (i->id == id)
				return true;
	return false;
}

/*
 * A pod's identity number: the one its address had in podlane_ipcache before a restart (so a
 * restart rewrites nothing), else a number never given out since the agent started; only once
 * the range is used up are free numbers taken again.
 */
static __u32 ident_alloc(struct pol_state *s, __be32 addr)
{
	size_t i;
	__u32 id;

	for (i = 0; i < s->nold_idents; i++)
		if (s->old_idents[i].addr == addr && !ident_id_used(s, s->old_idents[i].id))
			return s->old_idents[i].id;
	do {
		id = s->next_ident++;
		if (s->next_ident >= PODLANE_ID_CIDR_BASE) {
			s->next_ident = PODLANE_ID_POD_BASE;
			s->idents_wrapped = true;
		}
	} while (s->idents_wrapped && ident_id_used(s, id));
	return id;
}

struct pol_ident *pol_ident_get(struct agent *a, const struct policy_pod *meta, __be32 addr)
{
	struct pol_state *s = a->policy;
	struct pol_ident *i;
	char *key = policy_identity_key(meta);
	unsigned int b;

	if (!key)
		return NULL;
	b = str_hash(key) % POL_IDENT_BUCKETS;
	for (i = s->idents[b]; i; i = i->next) {
		if (!strcmp(i->key, key)) {
			free(key);
			i->refs++;
			return i;
		}
	}
	i = calloc(1, sizeof(*i));
	if (!i) {
		free(key);
		return NULL;
	}
	i->key = key;
	i->id = ident_alloc(s, addr);
	i->refs = 1;
	i->next = s->idents[b];
	s->idents[b] = i;
	s->nidents++;
	return i;
}

void pol_ident_put(struct pol_state *s, struct pol_ident *id)
{
	struct pol_ident **pp;

	if (!id || --id->refs)
		return;
	for (pp = &s->idents[str_hash(id->key) % POL_IDENT_BUCKETS]; *pp; pp = &(*pp)->next) {
		if (*pp == id) {
			*pp = id->next;
			break;
		}
	}
	s->nidents--;
	free(id->key);
	free(id);
}

/* ---- lookups ---- */

struct pol_ns *pol_ns_find(struct pol_state *s, const char *name)
{
	unsigned int i;

	for (i = 0; i < s->nnss; i++)
		if (!strcmp(s->nss[i]->ns.name, name))
			return s->nss[i];
	return NULL;
}

struct pol_policy *pol_policy_find(struct pol_state *s, const char *ns, const char *name)
{
	unsigned int i;

	for (i = 0; i < s->npolicies; i++)
		if (!strcmp(s->policies[i]->spec.namespace, ns) &&
		    !strcmp(s->policies[i]->spec.name, name))
			return s->policies[i];
	return NULL;
}

static struct pol_pod *pod_by_ifindex(struct pol_state *s, __u32 ifindex, unsigned int *idx)
{
	unsigned int i;

	for (i = 0; i < s->nlocal; i++)
		if (s->pods[i]->ifindex == ifindex) {
			if (idx)
				*idx = i;
			return s->pods[i];
		}
	return NULL;
}

static struct pol_pod *remote_by_addr(struct pol_state *s, __be32 addr, unsigned int *idx)
{
	unsigned int i;

	for (i = s->nlocal; i < s->npods; i++)
		if (s->pods[i]->addr == addr) {
			if (idx)
				*idx = i;
			return s->pods[i];
		}
	return NULL;
}

static bool pod_is(const struct pol_pod *p, const char *ns, const char *name)
{
	return !strcmp(p->meta.namespace, ns) && !strcmp(p->meta.name, name);
}

/* ---- pods in the table: this node's in [0, nlocal), then other nodes' ---- */

static int pods_grow(struct pol_state *s)
{
	struct pol_pod **grown = realloc(s->pods, (s->npods + 1) * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	s->pods = grown;
	return 0;
}

/* Local pods keep the order they came in: on a full map the first ones keep their rules. */
static int pods_insert(struct pol_state *s, struct pol_pod *p)
{
	if (pods_grow(s))
		return -ENOMEM;
	if (p->local) {
		if (s->npods > s->nlocal)
			s->pods[s->npods] = s->pods[s->nlocal];
		s->pods[s->nlocal++] = p;
	} else {
		s->pods[s->npods] = p;
	}
	s->npods++;
	return 0;
}

static void pods_remove(struct pol_state *s, unsigned int idx)
{
	bool local = idx < s->nlocal;

	if (local) {
		memmove(&s->pods[idx], &s->pods[idx + 1], (s->nlocal - idx - 1) * sizeof(*s->pods));
		s->nlocal--;
		if (s->npods > s->nlocal + 1)
			s->pods[s->nlocal] = s->pods[s->npods - 1];
	} else {
		s->pods[idx] = s->pods[s->npods - 1];
	}
	s->npods--;
}

static void pod_free(struct pol_state *s, struct pol_pod *p)
{
	if (!p)
		return;
	pol_ident_put(s, p->ident);
	policy_pod_free(&p->meta);
	free(p);
}

static int ports_copy(struct policy_pod *meta, const struct policy_pod_port *ports,
		      unsigned int n)
{
	unsigned int i;

	meta->ports = calloc(n ? n : 1, sizeof(*meta->ports));
	if (!meta->ports)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		meta->ports[i] = ports[i];
		meta->ports[i].name = strdup(ports[i].name);
		if (!meta->ports[i].name) {
			meta->nports = i;
			return -ENOMEM;
		}
	}
	meta->nports = n;
	return 0;
}

/* A pod's metadata, copied. -ENOMEM (meta freed). */
static int meta_init(struct policy_pod *meta, const char *ns, const char *name,
		     const struct label_set *labels, const struct policy_pod_port *ports,
		     unsigned int nports)
{
	memset(meta, 0, sizeof(*meta));
	meta->namespace = strdup(ns);
	meta->name = strdup(name);
	if (!meta->namespace || !meta->name || (labels && label_set_copy(&meta->labels, labels)) ||
	    ports_copy(meta, ports, nports)) {
		policy_pod_free(meta);
		return -ENOMEM;
	}
	return 0;
}

int policy_pod_check(const char *ns, const char *name, const struct label_set *labels,
		     struct api_error *e)
{
	const char *why;
	unsigned int i;

	why = dns_label_problem(ns);
	if (why)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod namespace '%.100s': %s", ns,
				why);
	why = dns_subdomain_problem(name);
	if (why)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod name '%.260s': %s", name, why);
	if (labels && labels->n > LABEL_SET_MAX)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod %s/%s: %u labels, at most %d",
				ns, name, labels->n, LABEL_SET_MAX);
	for (i = 0; labels && i < labels->n; i++) {
		why = label_key_problem(labels->labels[i].key);
		if (why)
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod %s/%s: label key "
					"'%.300s': %s", ns, name, labels->labels[i].key, why);
		why = label_value_problem(labels->labels[i].value);
		if (why)
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod %s/%s: label %s: value "
					"'%.100s': %s", ns, name, labels->labels[i].key,
					labels->labels[i].value, why);
	}
	return 0;
}

static void what_pod(char *out, size_t len, const char *ns, const char *name, const char *part)
{
	snprintf(out, len, "pod %s/%s%s", ns, name, part);
}

int policy_pod_add(struct agent *a, __u32 ifindex, const char *host_ifname, __be32 addr,
		   const char *ns, const char *name, const struct label_set *labels,
		   struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pol_pod *p;
	char what[400];

	if (policy_pod_check(ns, name, labels, e))
		return -1;
	/* An endpoint on this ifindex that policy still knows is gone: its record goes. */
	policy_pod_del(a, ifindex);
	p = calloc(1, sizeof(*p));
	if (!p || meta_init(&p->meta, ns, name, labels, NULL, 0)) {
		free(p);
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	p->addr = addr;
	p->local = true;
	p->claimed = true;
	p->ifindex = ifindex;
	snprintf(p->host_ifname, sizeof(p->host_ifname), "%s", host_ifname);
	p->ident = pol_ident_get(a, &p->meta, addr);
	if (!p->ident || pods_insert(s, p)) {
		pod_free(s, p);
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	if (record_pod_write(a, p, "", e)) {
		policy_pod_del(a, ifindex);
		return -1;
	}
	what_pod(what, sizeof(what), ns, name, "");
	pol_sync(a, what, false, NULL);
	/* Never fail open: a pod whose entry is not in place is not wired. */
	if (s->started && !p->ep_written) {
		policy_pod_del(a, ifindex);
		return api_fail(e, PODLANE_ERR_MAP_FULL, "failed to write the network policy entry "
				"of pod %s/%s (podlane_ep_policy): the pod cannot be isolated", ns,
				name);
	}
	log_info("pod known to network policy pod=%s/%s ifindex=%u identity=%u isolation=%s%s",
		 ns, name, ifindex, p->ident->id, p->flags & PODLANE_POL_F_INGRESS ? "i" : "",
		 p->flags & PODLANE_POL_F_EGRESS ? "e" : "");
	return 0;
}

bool policy_pod_known(struct agent *a, __u32 ifindex)
{
	return a->policy && pod_by_ifindex(a->policy, ifindex, NULL);
}

void policy_pod_restore(struct agent *a, __u32 ifindex, const char *host_ifname, __be32 addr)
{
	struct pol_state *s = a->policy;
	struct pol_pending *pd = NULL;
	struct pol_pod *p;
	unsigned int i;

	for (i = 0; i < s->npending; i++)
		if (!strcmp(s->pending[i].host_ifname, host_ifname)) {
			pd = &s->pending[i];
			break;
		}
	if (!pd)
		return;
	p = calloc(1, sizeof(*p));
	if (!p) {
		log_error("out of memory restoring pod pod=%s/%s", pd->meta.namespace,
			  pd->meta.name);
		return;
	}
	p->meta = pd->meta;
	p->addr = addr;
	p->local = true;
	p->claimed = true;
	p->ifindex = ifindex;
	snprintf(p->host_ifname, sizeof(p->host_ifname), "%s", host_ifname);
	p->ident = pol_ident_get(a, &p->meta, addr);
	if (!p->ident || pods_insert(s, p)) {
		log_error("out of memory restoring pod pod=%s/%s", p->meta.namespace, p->meta.name);
		pod_free(s, p);
	}
	s->pending[i] = s->pending[--s->npending];
}

void policy_pod_del(struct agent *a, __u32 ifindex)
{
	struct pol_state *s = a->policy;
	struct pol_pod *p;
	unsigned int idx;
	char what[400];

	if (!s)
		return;
	p = pod_by_ifindex(s, ifindex, &idx);
	if (!p)
		return;
	pol_ep_forget(a, p);
	record_pod_remove(a, p->host_ifname, "");
	pods_remove(s, idx);
	what_pod(what, sizeof(what), p->meta.namespace, p->meta.name, " gone");
	log_info("pod left network policy pod=%s/%s ifindex=%u", p->meta.namespace, p->meta.name,
		 ifindex);
	pod_free(s, p);
	pol_sync(a, what, false, NULL);
}

/* ---- other nodes ---- */

void policy_node_set(struct agent *a, const char *name, __be32 addr)
{
	struct pol_state *s = a->policy;
	struct pol_node *grown;
	unsigned int i;

	for (i = 0; i < s->nremote_nodes; i++)
		if (!strcmp(s->remote_nodes[i].name, name))
			break;
	if (i < s->nremote_nodes && s->remote_nodes[i].addr == addr)
		return;
	if (i == s->nremote_nodes) {
		grown = realloc(s->remote_nodes, (i + 1) * sizeof(*grown));
		if (!grown) {
			log_error("out of memory: node not known to network policy node=%s", name);
			return;
		}
		s->remote_nodes = grown;
		snprintf(grown[i].name, sizeof(grown[i].name), "%s", name);
		s->nremote_nodes++;
	}
	s->remote_nodes[i].addr = addr;
	pol_sync(a, "a node", false, NULL);
}

void policy_node_del(struct agent *a, const char *name)
{
	struct pol_state *s = a->policy;
	unsigned int i;

	for (i = 0; i < s->nremote_nodes; i++)
		if (!strcmp(s->remote_nodes[i].name, name)) {
			s->remote_nodes[i] = s->remote_nodes[--s->nremote_nodes];
			pol_sync(a, "a node gone", false, NULL);
			return;
		}
}

int policy_remote_pod_set(struct agent *a, const char *ns, const char *name, __be32 addr,
			  const struct label_set *labels, const struct policy_pod_port *ports,
			  unsigned int nports, struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pol_pod *p, *old;
	unsigned int idx;
	char what[400];

	if (policy_pod_check(ns, name, labels, e))
		return -1;
	p = calloc(1, sizeof(*p));
	if (!p || meta_init(&p->meta, ns, name, labels, ports, nports)) {
		free(p);
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	p->addr = addr;
	p->ident = pol_ident_get(a, &p->meta, addr);
	if (!p->ident) {
		pod_free(s, p);
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	old = remote_by_addr(s, addr, &idx);
	if (old) {
		s->pods[idx] = p;
		pod_free(s, old);
	} else if (pods_insert(s, p)) {
		pod_free(s, p);
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	what_pod(what, sizeof(what), ns, name, " (another node's)");
	pol_sync(a, what, false, NULL);
	return 0;
}

void policy_remote_pod_del(struct agent *a, __be32 addr)
{
	struct pol_state *s = a->policy;
	struct pol_pod *p;
	unsigned int idx;

	p = remote_by_addr(s, addr, &idx);
	if (!p)
		return;
	pods_remove(s, idx);
	pod_free(s, p);
	pol_sync(a, "another node's pod gone", false, NULL);
}

/* ---- policies ---- */

static int policies_cmp(const void *x, const void *y)
{
	const struct pol_policy *a = *(struct pol_policy *const *)x,
				*b = *(struct pol_policy *const *)y;

	return a->id < b->id ? -1 : a->id > b->id;
}

static void policy_free(struct pol_policy *p)
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
		policy_free(s->policies[i]);
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
	policy_free(p);
	return 0;
}

/* ---- labels and named ports ---- */

static const char *change_problem(const struct policy_label_change *c, const char **what)
{
	const char *why = label_key_problem(c->key);

	*what = "key";
	if (!why && c->value) {
		*what = "value";
		why = label_value_problem(c->value);
	}
	return why;
}

/* from with the changes applied, into to. 0, -ENOMEM or -E2BIG (too many labels). */
static int labels_changed(const struct label_set *from, const struct policy_label_change *ch,
			  unsigned int n, struct label_set *to)
{
	unsigned int i, j;

	memset(to, 0, sizeof(*to));
	for (i = 0; i < from->n; i++) {
		for (j = 0; j < n; j++)
			if (!strcmp(ch[j].key, from->labels[i].key))
				break;
		if (j == n && label_set_add(to, from->labels[i].key, from->labels[i].value))
			goto oom;
	}
	for (j = 0; j < n; j++)
		if (ch[j].value && label_set_add(to, ch[j].key, ch[j].value))
			goto oom;
	if (to->n > LABEL_SET_MAX) {
		label_set_free(to);
		return -E2BIG;
	}
	return 0;
oom:
	label_set_free(to);
	return -ENOMEM;
}

static int changes_check(const struct policy_label_change *ch, unsigned int n,
			 struct api_error *e)
{
	const char *why, *what;
	unsigned int i;

	for (i = 0; i < n; i++) {
		why = change_problem(&ch[i], &what);
		if (why)
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "label %s '%.300s': %s", what,
					!strcmp(what, "key") ? ch[i].key : ch[i].value, why);
	}
	return 0;
}

/* The interfaces of this node's pod ns/name: *out malloc'ed; PODLANE_ERR_NOT_FOUND. */
static int pod_hits(struct pol_state *s, const char *ns, const char *name,
		    struct pol_pod ***out, unsigned int *n, struct api_error *e)
{
	unsigned int i;

	*n = 0;
	*out = calloc(s->nlocal ? s->nlocal : 1, sizeof(**out));
	if (!*out)
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	for (i = 0; i < s->nlocal; i++)
		if (pod_is(s->pods[i], ns, name))
			(*out)[(*n)++] = s->pods[i];
	if (!*n) {
		free(*out);
		*out = NULL;
		return api_fail(e, PODLANE_ERR_NOT_FOUND, "pod '%s/%s' is not on this node (podlane "
				"knows a pod from its CNI ADD with K8S_POD_NAMESPACE and "
				"K8S_POD_NAME)", ns, name);
	}
	return 0;
}

/* A pod's metadata before a change, to put back when the change is refused. */
struct pod_undo {
	struct pol_pod *p;
	struct policy_pod meta;
	struct pol_ident *ident;
};

/*
 * The pods of undo[] carry their new metadata: get their identities, write their records and
 * apply. On failure every pod gets its old metadata back and nothing changed.
 */
static int pods_change(struct agent *a, struct pod_undo *u, unsigned int n, const char *what,
		       struct api_error *e)
{
	struct pol_state *s = a->policy;
	unsigned int i, got = 0, written = 0;
	int ret = -1;

	for (got = 0; got < n; got++) {
		u[got].p->ident = pol_ident_get(a, &u[got].p->meta, u[got].p->addr);
		if (!u[got].p->ident) {
			api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
			goto undo;
		}
	}
	for (written = 0; written < n; written++)
		if (record_pod_write(a, u[written].p, ".tmp", e))
			goto undo;
	if (pol_sync(a, what, true, e))
		goto undo;
	for (i = 0; i < n; i++) {
		record_pod_commit(a, u[i].p->host_ifname);
		pol_ident_put(s, u[i].ident);
		policy_pod_free(&u[i].meta);
	}
	return 0;
undo:
	for (i = 0; i < n; i++) {
		if (i < written)
			record_pod_remove(a, u[i].p->host_ifname, ".tmp");
		if (i < got)
			pol_ident_put(s, u[i].p->ident);
		u[i].p->ident = u[i].ident;
		/* The new metadata shares nothing with the old: swap back and free it. */
		policy_pod_free(&u[i].p->meta);
		u[i].p->meta = u[i].meta;
	}
	return ret;
}

int policy_pod_label(struct agent *a, const char *ns, const char *name,
		     const struct policy_label_change *ch, unsigned int n, struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pod_undo *u = NULL;
	struct pol_pod **hits;
	unsigned int nhits, i, k;
	struct label_set next;
	bool same = true;
	char what[400];
	int err, ret = -1;

	if (changes_check(ch, n, e) || pod_hits(s, ns, name, &hits, &nhits, e))
		return -1;
	u = calloc(nhits, sizeof(*u));
	if (!u) {
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (k = 0; k < nhits; k++) {
		struct pol_pod *p = hits[k];

		err = labels_changed(&p->meta.labels, ch, n, &next);
		if (!err && meta_init(&u[k].meta, ns, name, &p->meta.labels, p->meta.ports,
				      p->meta.nports))
			err = -ENOMEM;
		if (err) {
			label_set_free(&next);
			for (i = 0; i < k; i++) {
				struct policy_pod tmp = hits[i]->meta;

				hits[i]->meta = u[i].meta;
				policy_pod_free(&tmp);
			}
			if (err == -E2BIG)
				api_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod %s/%s would have more "
					 "than %d labels", ns, name, LABEL_SET_MAX);
			else
				api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
			goto out;
		}
		same = same && label_set_equal(&next, &p->meta.labels);
		/* u[k].meta is the old metadata (a copy), p->meta becomes the new one. */
		u[k].p = p;
		u[k].ident = p->ident;
		label_set_free(&p->meta.labels);
		p->meta.labels = next;
	}
	if (same) {
		for (k = 0; k < nhits; k++)
			policy_pod_free(&u[k].meta);
		ret = 0;
		goto out;
	}
	what_pod(what, sizeof(what), ns, name, "'s labels");
	ret = pods_change(a, u, nhits, what, e);
	if (!ret)
		log_info("pod labels changed pod=%s/%s identity=%u", ns, name,
			 hits[0]->ident->id);
out:
	free(u);
	free(hits);
	return ret;
}

static int ports_check(const char *ns, const char *name, const struct policy_pod_port *ports,
		       unsigned int n, struct api_error *e)
{
	unsigned int i, j;
	const char *why;

	for (i = 0; i < n; i++) {
		why = port_name_problem(ports[i].name);
		if (why)
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "port name '%.100s': %s",
					ports[i].name, why);
		if ((ports[i].proto != IPPROTO_TCP && ports[i].proto != IPPROTO_UDP &&
		     ports[i].proto != IPPROTO_SCTP) || !ports[i].port)
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "port %s: want TCP, UDP or "
					"SCTP and a port 1-65535", ports[i].name);
		for (j = 0; j < i; j++)
			if (!strcmp(ports[i].name, ports[j].name))
				return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "port name '%s' is "
						"given twice: a pod's port names are unique",
						ports[i].name);
	}
	(void)ns;
	(void)name;
	return 0;
}

int policy_pod_ports(struct agent *a, const char *ns, const char *name,
		     const struct policy_pod_port *ports, unsigned int n, struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pod_undo *u = NULL;
	struct pol_pod **hits;
	unsigned int nhits, k;
	struct policy_pod next;
	char what[400];
	int ret = -1;

	if (ports_check(ns, name, ports, n, e) || pod_hits(s, ns, name, &hits, &nhits, e))
		return -1;
	u = calloc(nhits, sizeof(*u));
	if (!u) {
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (k = 0; k < nhits; k++) {
		struct pol_pod *p = hits[k];

		if (meta_init(&next, ns, name, &p->meta.labels, ports, n)) {
			while (k--) {
				policy_pod_free(&hits[k]->meta);
				hits[k]->meta = u[k].meta;
			}
			api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
			goto out;
		}
		u[k].p = p;
		u[k].ident = p->ident;
		u[k].meta = p->meta;
		p->meta = next;
	}
	what_pod(what, sizeof(what), ns, name, "'s named ports");
	ret = pods_change(a, u, nhits, what, e);
	if (!ret)
		log_info("pod named ports set pod=%s/%s ports=%u identity=%u", ns, name, n,
			 hits[0]->ident->id);
out:
	free(u);
	free(hits);
	return ret;
}

static int nss_insert(struct pol_state *s, struct pol_ns *ns)
{
	struct pol_ns **grown = realloc(s->nss, (s->nnss + 1) * sizeof(*grown));
	unsigned int i;

	if (!grown)
		return -ENOMEM;
	s->nss = grown;
	for (i = s->nnss; i > 0 && strcmp(s->nss[i - 1]->ns.name, ns->ns.name) > 0; i--)
		s->nss[i] = s->nss[i - 1];
	s->nss[i] = ns;
	s->nnss++;
	return 0;
}

static void nss_remove(struct pol_state *s, struct pol_ns *ns)
{
	unsigned int i;

	for (i = 0; i < s->nnss; i++)
		if (s->nss[i] == ns) {
			memmove(&s->nss[i], &s->nss[i + 1], (s->nnss - i - 1) * sizeof(*s->nss));
			s->nnss--;
			return;
		}
}

static void ns_free(struct pol_ns *ns)
{
	if (!ns)
		return;
	policy_namespace_free(&ns->ns);
	free(ns);
}

int policy_ns_label(struct agent *a, const char *name, const struct policy_label_change *ch,
		    unsigned int n, struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pol_ns *cur = pol_ns_find(s, name), *next = NULL;
	struct label_set empty = {}, labels;
	const char *why;
	char what[200];
	unsigned int i;
	int err;

	why = dns_label_problem(name);
	if (why)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "namespace '%.100s': %s", name, why);
	if (changes_check(ch, n, e))
		return -1;
	for (i = 0; i < n; i++)
		if (!strcmp(ch[i].key, POLICY_NS_NAME_LABEL))
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "label %s is the "
					"namespace's name, set by the API server: it cannot be "
					"changed", POLICY_NS_NAME_LABEL);
	err = labels_changed(cur ? &cur->ns.labels : &empty, ch, n, &labels);
	if (err)
		return api_fail(e, err == -E2BIG ? PODLANE_ERR_INVALID_CONFIG :
				PODLANE_ERR_INTERNAL, err == -E2BIG ? "namespace %s would have more "
				"than %d labels" : "out of memory", name, LABEL_SET_MAX);
	if (cur && label_set_equal(&labels, &cur->ns.labels)) {
		label_set_free(&labels);
		return 0;
	}
	/* Only the implied name label left: the namespace needs no record. */
	if (labels.n > 1 || (labels.n == 1 && strcmp(labels.labels[0].key, POLICY_NS_NAME_LABEL))) {
		next = calloc(1, sizeof(*next));
		if (!next || policy_namespace_init(&next->ns, name, &labels)) {
			free(next);
			label_set_free(&labels);
			return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		}
	}
	label_set_free(&labels);
	if (!cur && !next)
		return 0;
	if (next && (record_ns_write(a, next, ".tmp", e) || nss_insert(s, next))) {
		record_ns_remove(a, name, ".tmp");
		ns_free(next);
		return e->code ? -1 : api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	if (cur)
		nss_remove(s, cur);
	snprintf(what, sizeof(what), "namespace %s's labels", name);
	if (pol_sync(a, what, true, e)) {
		if (next) {
			nss_remove(s, next);
			record_ns_remove(a, name, ".tmp");
			ns_free(next);
		}
		if (cur)
			nss_insert(s, cur);	/* the slot it left is still there */
		return -1;
	}
	if (next)
		record_ns_commit(a, name);
	else
		record_ns_remove(a, name, "");
	ns_free(cur);
	log_info("namespace labels changed namespace=%s", name);
	return 0;
}

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
		if (pod_is(s->pods[i], ns, name)) {
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
}

/* ---- start-up and teardown ---- */

static void load_policy_cb(struct agent *a, struct policy_spec *spec, __u32 id)
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
	s->policies[s->npolicies++] = p;
	if (id >= s->next_policy_id)
		s->next_policy_id = id + 1 < PODLANE_ID_ANY ? id + 1 : 1;
}

static void load_ns_cb(struct agent *a, const char *name, struct label_set *labels)
{
	struct pol_state *s = a->policy;
	struct pol_ns *ns = calloc(1, sizeof(*ns));

	if (!ns || policy_namespace_init(&ns->ns, name, labels) || nss_insert(s, ns)) {
		if (ns)
			policy_namespace_free(&ns->ns);
		free(ns);
		log_error("out of memory loading namespaces");
	}
	label_set_free(labels);
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
	struct pol_pod *p = pod_by_ifindex(s, ifindex, NULL);
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

void policy_start(struct agent *a)
{
	struct pol_state *s = a->policy;
	struct ep_orphans orphans = {};
	unsigned int i;

	if (!s)
		return;
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
	for (i = 0; i < s->npods; i++)
		pod_free(s, s->pods[i]);
	free(s->pods);
	for (i = 0; i < s->npolicies; i++)
		policy_free(s->policies[i]);
	free(s->policies);
	for (i = 0; i < s->nnss; i++)
		ns_free(s->nss[i]);
	free(s->nss);
	for (i = 0; i < s->npending; i++)
		policy_pod_free(&s->pending[i].meta);
	free(s->pending);
	sets_free(s);
	maps_close(s);
	free(s->remote_nodes);
	free(s->host_addrs);
	free(s->old_idents);
	free(s->cidrs);
	free(s);
	a->policy = NULL;
}
