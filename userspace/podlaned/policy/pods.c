// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy/pods.c - pods and the identities they share: this node's pods in the table by
 * host veth, other nodes' by address (with a hash index), and other nodes' own addresses
 * (REMOTE_NODE to an ipBlock). Each change is followed by one pol_sync() (apply.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/agent.h"
#include "log.h"
#include "policy/policy_int.h"

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

struct pol_pod *pol_pod_by_ifindex(struct pol_state *s, __u32 ifindex, unsigned int *idx)
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

/* Other nodes' pods by address: a full list brings thousands, each looked up. */
static struct pol_pod **remote_chain(struct pol_state *s, __be32 addr)
{
	return &s->remote_by_addr[((__u32)addr * 0x9e3779b1u) >> (32 - POL_REMOTE_BITS)];
}

static void remote_index(struct pol_state *s, struct pol_pod *p)
{
	struct pol_pod **c = remote_chain(s, p->addr);

	p->rnext = *c;
	*c = p;
}

static void remote_unindex(struct pol_state *s, struct pol_pod *p)
{
	struct pol_pod **c;

	for (c = remote_chain(s, p->addr); *c; c = &(*c)->rnext)
		if (*c == p) {
			*c = p->rnext;
			return;
		}
}

static struct pol_pod *remote_by_addr(struct pol_state *s, __be32 addr, unsigned int *idx)
{
	struct pol_pod *p;

	for (p = *remote_chain(s, addr); p; p = p->rnext)
		if (p->addr == addr) {
			if (idx)
				*idx = p->slot;
			return p;
		}
	return NULL;
}

bool pol_pod_is(const struct pol_pod *p, const char *ns, const char *name)
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
		if (s->npods > s->nlocal) {
			s->pods[s->npods] = s->pods[s->nlocal];
			s->pods[s->npods]->slot = s->npods;
		}
		s->pods[s->nlocal++] = p;
	} else {
		s->pods[s->npods] = p;
		p->slot = s->npods;
		remote_index(s, p);
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
		if (s->npods > s->nlocal + 1) {
			s->pods[s->nlocal] = s->pods[s->npods - 1];
			s->pods[s->nlocal]->slot = s->nlocal;
		}
	} else {
		remote_unindex(s, s->pods[idx]);
		s->pods[idx] = s->pods[s->npods - 1];
		s->pods[idx]->slot = idx;
	}
	s->npods--;
}

void pol_pod_free(struct pol_state *s, struct pol_pod *p)
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
int pol_meta_init(struct policy_pod *meta, const char *ns, const char *name,
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

void pol_what_pod(char *out, size_t len, const char *ns, const char *name, const char *part)
{
	snprintf(out, len, "pod %s/%s%s", ns, name, part);
}

int policy_pod_add(struct agent *a, __u32 ifindex, const char *host_ifname, __be32 addr,
		   const char *ns, const char *name, const struct label_set *labels,
		   struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pol_podrec *rec;
	struct pol_pod *p;
	char what[400];

	if (policy_pod_check(ns, name, labels, e))
		return -1;
	/* An endpoint on this ifindex that policy still knows is gone: its record goes. */
	policy_pod_del(a, ifindex);
	/* A pod record of the cluster store says what its labels and named ports are. */
	rec = pol_podrec_find(s, ns, name);
	p = calloc(1, sizeof(*p));
	if (!p || (rec ? pol_meta_init(&p->meta, ns, name, &rec->meta.labels,
				       rec->meta.ports, rec->meta.nports) :
		   pol_meta_init(&p->meta, ns, name, labels, NULL, 0))) {
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
		pol_pod_free(s, p);
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	if (record_pod_write(a, p, "", e)) {
		policy_pod_del(a, ifindex);
		return -1;
	}
	pol_what_pod(what, sizeof(what), ns, name, "");
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
	return a->policy && pol_pod_by_ifindex(a->policy, ifindex, NULL);
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
		pol_pod_free(s, p);
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
	p = pol_pod_by_ifindex(s, ifindex, &idx);
	if (!p)
		return;
	pol_ep_forget(a, p);
	record_pod_remove(a, p->host_ifname, "");
	pods_remove(s, idx);
	pol_what_pod(what, sizeof(what), p->meta.namespace, p->meta.name, " gone");
	log_info("pod left network policy pod=%s/%s ifindex=%u", p->meta.namespace, p->meta.name,
		 ifindex);
	pol_pod_free(s, p);
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

struct pol_pod *pol_remote_find(struct pol_state *s, __be32 addr)
{
	return remote_by_addr(s, addr, NULL);
}

bool pol_meta_equal(const struct policy_pod *a, const struct policy_pod *b)
{
	unsigned int i;

	if (strcmp(a->namespace, b->namespace) || strcmp(a->name, b->name) ||
	    !label_set_equal(&a->labels, &b->labels) || a->nports != b->nports)
		return false;
	for (i = 0; i < a->nports; i++)
		if (strcmp(a->ports[i].name, b->ports[i].name) ||
		    a->ports[i].proto != b->ports[i].proto || a->ports[i].port != b->ports[i].port)
			return false;
	return true;
}

struct pol_pod *pol_remote_set(struct agent *a, const struct policy_pod *meta, __be32 addr,
			       bool sync, struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pol_pod *p, *old;
	unsigned int idx;
	char what[400];

	if (policy_pod_check(meta->namespace, meta->name, &meta->labels, e))
		return NULL;
	old = remote_by_addr(s, addr, &idx);
	if (old && pol_meta_equal(&old->meta, meta))
		return old;
	p = calloc(1, sizeof(*p));
	if (!p || pol_meta_init(&p->meta, meta->namespace, meta->name, &meta->labels,
				meta->ports, meta->nports)) {
		free(p);
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	p->addr = addr;
	p->ident = pol_ident_get(a, &p->meta, addr);
	if (!p->ident) {
		pol_pod_free(s, p);
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	if (old) {
		p->store_gen = old->store_gen;
		p->node_ip = old->node_ip;
		remote_unindex(s, old);
		s->pods[idx] = p;
		p->slot = idx;
		remote_index(s, p);
		pol_pod_free(s, old);
	} else if (pods_insert(s, p)) {
		pol_pod_free(s, p);
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	s->remote_dirty = true;
	if (sync) {
		pol_what_pod(what, sizeof(what), meta->namespace, meta->name, " (another node's)");
		pol_sync(a, what, false, NULL);
	}
	return p;
}

int policy_remote_pod_set(struct agent *a, const char *ns, const char *name, __be32 addr,
			  const struct label_set *labels, const struct policy_pod_port *ports,
			  unsigned int nports, struct api_error *e)
{
	struct policy_pod meta = {
		.namespace = (char *)ns,
		.name = (char *)name,
		.ports = (struct policy_pod_port *)ports,
		.nports = nports,
	};

	if (labels)
		meta.labels = *labels;
	return pol_remote_set(a, &meta, addr, true, e) ? 0 : -1;
}

bool pol_remote_del(struct agent *a, __be32 addr, bool sync)
{
	struct pol_state *s = a->policy;
	struct pol_pod *p;
	unsigned int idx;

	p = remote_by_addr(s, addr, &idx);
	if (!p)
		return false;
	pods_remove(s, idx);
	pol_pod_free(s, p);
	s->remote_dirty = true;
	if (sync)
		pol_sync(a, "another node's pod gone", false, NULL);
	return true;
}

void policy_remote_pod_del(struct agent *a, __be32 addr)
{
	pol_remote_del(a, addr, true);
}
