// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy/labels.c - pods' labels and named ports, and namespaces' labels: the changes that
 * podlanectl and the cluster store make, checked before anything moves, undone as a whole on
 * refusal, each followed by one pol_sync() (apply.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/agent.h"
#include "log.h"
#include "policy/policy_int.h"

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
		if (pol_pod_is(s->pods[i], ns, name))
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

/* podlanectl does not change what the cluster store's pod record says. */
static int podrec_refuse(struct pol_state *s, const char *ns, const char *name,
			 struct api_error *e)
{
	if (!pol_podrec_find(s, ns, name))
		return 0;
	return api_fail(e, PODLANE_ERR_CONFLICT, "the labels and named ports of pod %s/%s come "
			"from etcd (/podlane/v1/pods/%s/%s): change them there", ns, name, ns,
			name);
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

	if (changes_check(ch, n, e) || podrec_refuse(s, ns, name, e) ||
	    pod_hits(s, ns, name, &hits, &nhits, e))
		return -1;
	u = calloc(nhits, sizeof(*u));
	if (!u) {
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (k = 0; k < nhits; k++) {
		struct pol_pod *p = hits[k];

		err = labels_changed(&p->meta.labels, ch, n, &next);
		if (!err && pol_meta_init(&u[k].meta, ns, name, &p->meta.labels,
					  p->meta.ports, p->meta.nports))
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
	pol_what_pod(what, sizeof(what), ns, name, "'s labels");
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

	if (ports_check(ns, name, ports, n, e) || podrec_refuse(s, ns, name, e) ||
	    pod_hits(s, ns, name, &hits, &nhits, e))
		return -1;
	u = calloc(nhits, sizeof(*u));
	if (!u) {
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (k = 0; k < nhits; k++) {
		struct pol_pod *p = hits[k];

		if (pol_meta_init(&next, ns, name, &p->meta.labels, ports, n)) {
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
	pol_what_pod(what, sizeof(what), ns, name, "'s named ports");
	ret = pods_change(a, u, nhits, what, e);
	if (!ret)
		log_info("pod named ports set pod=%s/%s ports=%u identity=%u", ns, name, n,
			 hits[0]->ident->id);
out:
	free(u);
	free(hits);
	return ret;
}

int pol_pods_set_meta(struct agent *a, const char *ns, const char *name,
		      const struct label_set *labels, const struct policy_pod_port *ports,
		      unsigned int nports, const char *what, struct api_error *e)
{
	struct pol_state *s = a->policy;
	struct pod_undo *u;
	unsigned int i, n = 0;
	struct policy_pod want = {
		.namespace = (char *)ns,
		.name = (char *)name,
		.labels = *labels,
		.ports = (struct policy_pod_port *)ports,
		.nports = nports,
	};
	int ret;

	u = calloc(s->nlocal ? s->nlocal : 1, sizeof(*u));
	if (!u)
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	for (i = 0; i < s->nlocal; i++) {
		struct pol_pod *p = s->pods[i];
		struct policy_pod next;

		if (!pol_pod_is(p, ns, name) || pol_meta_equal(&p->meta, &want))
			continue;
		if (pol_meta_init(&next, ns, name, labels, ports, nports)) {
			while (n--) {
				policy_pod_free(&u[n].p->meta);
				u[n].p->meta = u[n].meta;
			}
			free(u);
			return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		}
		u[n].p = p;
		u[n].ident = p->ident;
		u[n].meta = p->meta;
		p->meta = next;
		n++;
	}
	ret = n ? pods_change(a, u, n, what, e) : 0;
	if (!ret && n)
		log_info("pod labels and named ports set from the cluster store pod=%s/%s "
			 "identity=%u", ns, name, u[0].p->ident->id);
	free(u);
	return ret;
}

const struct policy_pod *policy_pod_meta(struct agent *a, __u32 ifindex)
{
	struct pol_pod *p = a->policy ? pol_pod_by_ifindex(a->policy, ifindex, NULL) : NULL;

	return p ? &p->meta : NULL;
}

int pol_nss_insert(struct pol_state *s, struct pol_ns *ns)
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

void pol_nss_remove(struct pol_state *s, struct pol_ns *ns)
{
	unsigned int i;

	for (i = 0; i < s->nnss; i++)
		if (s->nss[i] == ns) {
			memmove(&s->nss[i], &s->nss[i + 1], (s->nnss - i - 1) * sizeof(*s->nss));
			s->nnss--;
			return;
		}
}

void pol_ns_free(struct pol_ns *ns)
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
	if (cur && cur->store)
		return api_fail(e, PODLANE_ERR_CONFLICT, "the labels of namespace %s come from "
				"etcd (/podlane/v1/namespaces/%s): change them there", name, name);
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
	if (next && (record_ns_write(a, next, ".tmp", e) || pol_nss_insert(s, next))) {
		record_ns_remove(a, name, ".tmp");
		pol_ns_free(next);
		return e->code ? -1 : api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	if (cur)
		pol_nss_remove(s, cur);
	snprintf(what, sizeof(what), "namespace %s's labels", name);
	if (pol_sync(a, what, true, e)) {
		if (next) {
			pol_nss_remove(s, next);
			record_ns_remove(a, name, ".tmp");
			pol_ns_free(next);
		}
		if (cur)
			pol_nss_insert(s, cur);	/* the slot it left is still there */
		return -1;
	}
	if (next)
		record_ns_commit(a, name);
	else
		record_ns_remove(a, name, "");
	pol_ns_free(cur);
	log_info("namespace labels changed namespace=%s", name);
	return 0;
}
