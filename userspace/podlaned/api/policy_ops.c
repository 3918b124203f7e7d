// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/policy_ops.c - network policy's operations (userspace/lib/api_ops.h): policy_add,
 * policy_del, policy_list, pod_label, pod_ports, pod_list, namespace_label and
 * namespace_list. Policies come in through policy_spec_parse(), labels are checked by
 * policy/; what policy/ holds goes out as the API's structs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "api.h"
#include "api/ops.h"
#include "core/agent.h"
#include "log.h"
#include "policy/policy.h"

int api_labels_to_set(const struct api_label *l, size_t n, const char *where,
		      struct label_set *set, struct api_error *e)
{
	size_t i;

	memset(set, 0, sizeof(*set));
	if (n > LABEL_SET_MAX)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "%s: %zu labels, at most %d", where,
				n, LABEL_SET_MAX);
	for (i = 0; i < n; i++) {
		if (!l[i].value) {
			label_set_free(set);
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "%s[%zu].value: must be a "
					"string, got null", where, i);
		}
		if (label_set_get(set, l[i].key)) {
			label_set_free(set);
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "%s[%zu].key '%.300s': given "
					"twice", where, i, l[i].key);
		}
		if (label_set_add(set, l[i].key, l[i].value)) {
			label_set_free(set);
			return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		}
	}
	return 0;
}

/* "namespace/name", or "name" in namespace "default", into ns and name. */
static int split_name(const char *full, char *ns, size_t nslen, char *name, size_t namelen,
		      const char *what, struct api_error *e)
{
	const char *slash = strchr(full, '/');

	if (!slash) {
		snprintf(ns, nslen, "%s", POLICY_DEFAULT_NAMESPACE);
		slash = full - 1;
	} else if ((size_t)(slash - full) >= nslen) {
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "%s '%.300s': the namespace is too "
				"long", what, full);
	} else {
		memcpy(ns, full, slash - full);
		ns[slash - full] = '\0';
	}
	if (strlen(slash + 1) >= namelen || dns_label_problem(ns) ||
	    dns_subdomain_problem(slash + 1))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "%s '%.300s': want NAMESPACE/NAME "
				"(a DNS label and a DNS subdomain)", what, full);
	snprintf(name, namelen, "%s", slash + 1);
	return 0;
}

#define NS_LEN		(DNS_LABEL_MAX + 1)
#define NAME_LEN	(DNS_SUBDOMAIN_MAX + 1)

/* ---- policy_add, policy_del ---- */

struct json_object *api_policy_add(struct agent *a, struct json_object *req)
{
	struct api_policy_add_reply r = {};
	struct api_policy_add_req rq;
	struct policy_set set = {};
	struct api_strs strs = {};
	struct json_object *o = NULL;
	struct api_error e = {};
	enum policy_result *res = NULL;
	char why[512];
	__u32 *ids = NULL;
	unsigned int i, j, n;

	if (api_policy_add_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (!json_object_is_type(rq.policies, json_type_array)) {
		api_fail(&e, PODLANE_ERR_DECODE, "field 'policies' must be an array of "
			 "NetworkPolicy objects");
		return api_reply_error(&e);
	}
	n = json_object_array_length(rq.policies);
	if (!n || n > POLICY_MAX_SET) {
		api_fail(&e, PODLANE_ERR_INVALID_CONFIG, "policies: %u policies, want 1 to %d", n,
			 POLICY_MAX_SET);
		return api_reply_error(&e);
	}
	set.items = calloc(n, sizeof(*set.items));
	ids = calloc(n, sizeof(*ids));
	res = calloc(n, sizeof(*res));
	r.policies = calloc(n, sizeof(*r.policies));
	if (!set.items || !ids || !res || !r.policies)
		goto oom;
	/* All or nothing: every policy is checked before any is applied. */
	for (i = 0; i < n; i++) {
		int err = policy_spec_parse(json_object_array_get_idx(rq.policies, i),
					    &set.items[i], why, sizeof(why));

		if (err == -ENOMEM)
			goto oom;
		if (err) {
			if (n == 1)
				api_fail(&e, PODLANE_ERR_INVALID_CONFIG, "%s", why);
			else
				api_fail(&e, PODLANE_ERR_INVALID_CONFIG, "items[%u].%s", i, why);
			goto fail;
		}
		set.n++;
		for (j = 0; j < i; j++)
			if (!strcmp(set.items[i].namespace, set.items[j].namespace) &&
			    !strcmp(set.items[i].name, set.items[j].name)) {
				api_fail(&e, PODLANE_ERR_INVALID_CONFIG, "items[%u]: policy %s/%s "
					 "is also items[%u]", i, set.items[i].namespace,
					 set.items[i].name, j);
				goto fail;
			}
	}
	for (i = 0; i < n; i++)
		r.policies[i].name = api_strs_add(&strs, "%s/%s", set.items[i].namespace,
						  set.items[i].name);
	if (strs.oom)
		goto oom;
	if (policy_apply(a, &set, ids, res, &e)) {
		log_warn("policy add refused code=%d err=\"%s\"", e.code, e.msg);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		r.policies[i].id = ids[i];
		r.policies[i].result = policy_result_name(res[i]);
	}
	r.n_policies = n;
	o = api_policy_add_reply_encode(&r);
	goto out;
oom:
	api_fail(&e, PODLANE_ERR_INTERNAL, "out of memory");
fail:
	o = api_reply_error(&e);
out:
	policy_set_free(&set);
	free(ids);
	free(res);
	api_policy_add_reply_free(&r);
	api_strs_free(&strs);
	return o ? o : api_reply_oom();
}

struct json_object *api_policy_del(struct agent *a, struct json_object *req)
{
	struct api_policy_del_req rq;
	struct api_error e = {};
	char ns[NS_LEN], name[NAME_LEN];
	__u32 id;

	if (api_policy_del_req_decode(req, &rq, &e) ||
	    split_name(rq.name, ns, sizeof(ns), name, sizeof(name), "policy", &e) ||
	    policy_delete(a, ns, name, &id, &e))
		return api_reply_error(&e);
	return api_policy_del_reply_encode(&(struct api_policy_del_reply){ .id = id });
}

/* ---- listings: a page from offset on, while its JSON fits PODLANE_API_PAGE_BYTES ---- */

struct page {
	size_t n, limit, used;
	bool full, oom;
	struct api_strs strs;
};

/* Whether an entry of len bytes still fits the page (the first one always does). */
static bool page_takes(struct page *pg, size_t len)
{
	len += pg->n > 0;
	if (pg->n == pg->limit || (pg->n && pg->used + len > PODLANE_API_PAGE_BYTES)) {
		pg->full = true;
		return false;
	}
	pg->used += len;
	pg->n++;
	return true;
}

static const char *types_name(__u8 types)
{
	if (types == (POLICY_TYPE_INGRESS | POLICY_TYPE_EGRESS))
		return "Ingress,Egress";
	return types & POLICY_TYPE_EGRESS ? "Egress" : "Ingress";
}

struct policy_page {
	struct page pg;
	struct api_policy *v;
};

static int policy_page_cb(const struct policy_view *v, void *data)
{
	struct policy_page *l = data;
	struct api_policy *p, *grown;

	grown = realloc(l->v, (l->pg.n + 1) * sizeof(*grown));
	if (!grown) {
		l->pg.oom = true;
		return 1;
	}
	l->v = grown;
	p = &l->v[l->pg.n];
	*p = (struct api_policy){
		.id = v->id,
		.name = api_strs_add(&l->pg.strs, "%s/%s", v->spec->namespace, v->spec->name),
		.types = types_name(v->spec->types),
		.pods = v->pods,
		.ingress_rules = v->spec->ningress,
		.egress_rules = v->spec->negress,
		.entries = v->entries,
		.policy = policy_spec_to_json(v->spec),
	};
	if (!p->policy) {
		l->pg.oom = true;
		return 1;
	}
	if (!page_takes(&l->pg, api_policy_encoded_len(p))) {
		json_object_put(p->policy);
		return 1;
	}
	return 0;
}

struct json_object *api_policy_list(struct agent *a, struct json_object *req)
{
	struct api_policy_list_reply r = {};
	struct api_policy_list_req rq;
	struct policy_page l = { .pg.limit = SIZE_MAX };
	struct json_object *o = NULL;
	struct api_error e = {};
	struct policy_stats st;
	char ns[NS_LEN], name[NAME_LEN];
	size_t offset = 0, i;
	int err;

	if (api_policy_list_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (rq.has_limit)
		l.pg.limit = rq.limit;
	if (rq.name) {
		if (split_name(rq.name, ns, sizeof(ns), name, sizeof(name), "policy", &e))
			return api_reply_error(&e);
		err = policy_get(a, ns, name, policy_page_cb, &l);
		if (err == -ENOENT) {
			api_fail(&e, PODLANE_ERR_NOT_FOUND, "policy '%s/%s' not found", ns, name);
			return api_reply_error(&e);
		}
	} else {
		offset = rq.has_offset ? (size_t)rq.offset : 0;
		policy_walk(a, offset, SIZE_MAX, policy_page_cb, &l);
		r.has_next_offset = l.pg.full;
		r.next_offset = offset + l.pg.n;
	}
	policy_stats(a, &st);
	r.policies = l.v;
	r.n_policies = l.pg.n;
	r.total = policy_count(a);
	r.capacity = (struct api_policy_capacity){
		.max_entries = st.max_entries, .entries = st.entries, .rule_sets = st.rule_sets,
		.identities = st.identities, .refused = st.refused, .degraded = st.degraded,
		.revision = st.revision,
	};
	if (!l.pg.oom && !l.pg.strs.oom)
		o = api_policy_list_reply_encode(&r);
	for (i = 0; i < l.pg.n; i++)
		json_object_put(l.v[i].policy);
	api_policy_list_reply_free(&r);
	api_strs_free(&l.pg.strs);
	return o ? o : api_reply_oom();
}

/* ---- pods ---- */

static const char *isolation_name(__u32 flags)
{
	switch (flags & (PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS)) {
	case PODLANE_POL_F_INGRESS:
		return "ingress";
	case PODLANE_POL_F_EGRESS:
		return "egress";
	case PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS:
		return "ingress,egress";
	}
	return "none";
}

static int labels_fill(const struct label_set *set, struct api_label **out, size_t *n,
		       struct api_strs *strs)
{
	unsigned int i;

	*n = 0;
	*out = calloc(set->n ? set->n : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < set->n; i++)
		(*out)[i] = (struct api_label){
			.key = api_strs_add(strs, "%s", set->labels[i].key),
			.value = api_strs_add(strs, "%s", set->labels[i].value),
		};
	*n = set->n;
	return 0;
}

static int pod_fill(const struct policy_pod_view *v, struct api_pod *p, struct api_strs *strs)
{
	char ip[INET_ADDRSTRLEN];
	unsigned int i;

	*p = (struct api_pod){
		.namespace = api_strs_add(strs, "%s", v->meta->namespace),
		.name = api_strs_add(strs, "%s", v->meta->name),
		.ip = api_strs_add(strs, "%s", inet_ntop(AF_INET, &v->addr, ip, sizeof(ip))),
		.local = v->local,
		.has_ifindex = v->local,
		.ifindex = v->ifindex,
		.identity = v->identity,
		.isolation = isolation_name(v->flags),
		.degraded = v->degraded,
		.ingress_set = v->ingress_set,
		.egress_set = v->egress_set,
	};
	if (labels_fill(&v->meta->labels, &p->labels, &p->n_labels, strs))
		return -ENOMEM;
	p->ports = calloc(v->meta->nports ? v->meta->nports : 1, sizeof(*p->ports));
	if (!p->ports)
		return -ENOMEM;
	for (i = 0; i < v->meta->nports; i++)
		p->ports[i] = (struct api_named_port){
			.name = api_strs_add(strs, "%s", v->meta->ports[i].name),
			.protocol = policy_proto_name(v->meta->ports[i].proto),
			.port = v->meta->ports[i].port,
		};
	p->n_ports = v->meta->nports;
	return 0;
}

struct pod_page {
	struct page pg;
	struct api_pod *v;
};

static int pod_page_cb(const struct policy_pod_view *v, void *data)
{
	struct pod_page *l = data;
	struct api_pod *grown;

	grown = realloc(l->v, (l->pg.n + 1) * sizeof(*grown));
	if (!grown) {
		l->pg.oom = true;
		return 1;
	}
	l->v = grown;
	if (pod_fill(v, &l->v[l->pg.n], &l->pg.strs)) {
		l->pg.n++;	/* freed with the reply */
		l->pg.oom = true;
		return 1;
	}
	if (!page_takes(&l->pg, api_pod_encoded_len(&l->v[l->pg.n]))) {
		free(l->v[l->pg.n].labels);
		free(l->v[l->pg.n].ports);
		return 1;
	}
	return 0;
}

/* The pod's interfaces after a change, for pod_label and pod_ports. */
static struct json_object *pods_reply(struct agent *a, const char *ns, const char *name,
				      bool ports)
{
	struct pod_page l = { .pg.limit = SIZE_MAX };
	struct json_object *o = NULL;

	policy_pod_get(a, ns, name, pod_page_cb, &l);
	if (!l.pg.oom && !l.pg.strs.oom) {
		if (ports)
			o = api_pod_ports_reply_encode(&(struct api_pod_ports_reply){
				.pods = l.v, .n_pods = l.pg.n });
		else
			o = api_pod_label_reply_encode(&(struct api_pod_label_reply){
				.pods = l.v, .n_pods = l.pg.n });
	}
	api_pod_list_reply_free(&(struct api_pod_list_reply){ .pods = l.v, .n_pods = l.pg.n });
	api_strs_free(&l.pg.strs);
	return o ? o : api_reply_oom();
}

static int changes_of(const struct api_label *l, size_t n, struct policy_label_change **out,
		      struct api_error *e)
{
	size_t i, j;

	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (!strcmp(l[i].key, l[j].key)) {
				free(*out);
				*out = NULL;
				return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "labels[%zu].key "
						"'%.300s': given twice", i, l[i].key);
			}
		(*out)[i] = (struct policy_label_change){ .key = l[i].key, .value = l[i].value };
	}
	return 0;
}

struct json_object *api_pod_label(struct agent *a, struct json_object *req)
{
	struct policy_label_change *ch = NULL;
	struct api_pod_label_req rq;
	struct api_error e = {};
	char ns[NS_LEN], name[NAME_LEN];
	int err;

	if (api_pod_label_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	err = split_name(rq.pod, ns, sizeof(ns), name, sizeof(name), "pod", &e) ||
	      changes_of(rq.labels, rq.n_labels, &ch, &e) ||
	      policy_pod_label(a, ns, name, ch, rq.n_labels, &e);
	free(ch);
	api_pod_label_req_free(&rq);
	if (err)
		return api_reply_error(&e);
	return pods_reply(a, ns, name, false);
}

static int proto_of(const char *s)
{
	if (!strcmp(s, "TCP"))
		return IPPROTO_TCP;
	if (!strcmp(s, "UDP"))
		return IPPROTO_UDP;
	if (!strcmp(s, "SCTP"))
		return IPPROTO_SCTP;
	return -1;
}

struct json_object *api_pod_ports(struct agent *a, struct json_object *req)
{
	struct policy_pod_port *ports = NULL;
	struct api_pod_ports_req rq;
	struct api_error e = {};
	char ns[NS_LEN], name[NAME_LEN];
	size_t i;
	int err;

	if (api_pod_ports_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	err = split_name(rq.pod, ns, sizeof(ns), name, sizeof(name), "pod", &e);
	if (!err) {
		ports = calloc(rq.n_ports ? rq.n_ports : 1, sizeof(*ports));
		if (!ports)
			err = api_fail(&e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	for (i = 0; !err && i < rq.n_ports; i++) {
		int proto = proto_of(rq.ports[i].protocol);

		if (proto < 0)
			err = api_fail(&e, PODLANE_ERR_INVALID_CONFIG, "ports[%zu].protocol "
				       "'%.20s': want TCP, UDP or SCTP", i, rq.ports[i].protocol);
		ports[i] = (struct policy_pod_port){
			.name = (char *)rq.ports[i].name, .proto = proto, .port = rq.ports[i].port,
		};
	}
	if (!err)
		err = policy_pod_ports(a, ns, name, ports, rq.n_ports, &e);
	free(ports);
	api_pod_ports_req_free(&rq);
	if (err)
		return api_reply_error(&e);
	return pods_reply(a, ns, name, true);
}

struct json_object *api_pod_list(struct agent *a, struct json_object *req)
{
	struct api_pod_list_reply r = {};
	struct api_pod_list_req rq;
	struct pod_page l = { .pg.limit = SIZE_MAX };
	struct json_object *o = NULL;
	struct api_error e = {};
	size_t offset;

	if (api_pod_list_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (rq.has_limit)
		l.pg.limit = rq.limit;
	offset = rq.has_offset ? (size_t)rq.offset : 0;
	policy_pod_walk(a, offset, SIZE_MAX, pod_page_cb, &l);
	r.pods = l.v;
	r.n_pods = l.pg.n;
	r.total = policy_pod_count(a);
	r.has_next_offset = l.pg.full;
	r.next_offset = offset + l.pg.n;
	if (!l.pg.oom && !l.pg.strs.oom)
		o = api_pod_list_reply_encode(&r);
	api_pod_list_reply_free(&r);
	api_strs_free(&l.pg.strs);
	return o ? o : api_reply_oom();
}

/* ---- namespaces ---- */

struct ns_page {
	struct page pg;
	struct api_namespace *v;
};

static int ns_fill(const struct policy_ns_view *v, struct api_namespace *n,
		   struct api_strs *strs)
{
	*n = (struct api_namespace){
		.name = api_strs_add(strs, "%s", v->ns->name),
		.pods = v->pods,
		.policies = v->policies,
	};
	return labels_fill(&v->ns->labels, &n->labels, &n->n_labels, strs);
}

static int ns_page_cb(const struct policy_ns_view *v, void *data)
{
	struct ns_page *l = data;
	struct api_namespace *grown;

	grown = realloc(l->v, (l->pg.n + 1) * sizeof(*grown));
	if (!grown) {
		l->pg.oom = true;
		return 1;
	}
	l->v = grown;
	if (ns_fill(v, &l->v[l->pg.n], &l->pg.strs)) {
		l->pg.n++;
		l->pg.oom = true;
		return 1;
	}
	if (!page_takes(&l->pg, api_namespace_encoded_len(&l->v[l->pg.n]))) {
		free(l->v[l->pg.n].labels);
		return 1;
	}
	return 0;
}

struct json_object *api_namespace_label(struct agent *a, struct json_object *req)
{
	struct policy_label_change *ch = NULL;
	struct api_namespace_label_req rq;
	struct ns_page l = { .pg.limit = 1 };
	struct json_object *o = NULL;
	struct api_error e = {};
	int err;

	if (api_namespace_label_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	err = changes_of(rq.labels, rq.n_labels, &ch, &e) ||
	      policy_ns_label(a, rq.name, ch, rq.n_labels, &e);
	free(ch);
	api_namespace_label_req_free(&rq);
	if (err)
		return api_reply_error(&e);
	if (!policy_ns_get(a, rq.name, ns_page_cb, &l) && l.pg.n && !l.pg.oom && !l.pg.strs.oom)
		o = api_namespace_label_reply_encode(&(struct api_namespace_label_reply){
			.namespace = l.v[0] });
	api_namespace_list_reply_free(&(struct api_namespace_list_reply){
		.namespaces = l.v, .n_namespaces = l.pg.n });
	api_strs_free(&l.pg.strs);
	return o ? o : api_reply_oom();
}

struct json_object *api_namespace_list(struct agent *a, struct json_object *req)
{
	struct api_namespace_list_reply r = {};
	struct api_namespace_list_req rq;
	struct ns_page l = { .pg.limit = SIZE_MAX };
	struct json_object *o = NULL;
	struct api_error e = {};
	size_t offset;

	if (api_namespace_list_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (rq.has_limit)
		l.pg.limit = rq.limit;
	offset = rq.has_offset ? (size_t)rq.offset : 0;
	if (policy_ns_walk(a, offset, SIZE_MAX, ns_page_cb, &l) < 0)
		l.pg.oom = true;
	r.namespaces = l.v;
	r.n_namespaces = l.pg.n;
	r.total = policy_ns_count(a);
	r.has_next_offset = l.pg.full;
	r.next_offset = offset + l.pg.n;
	if (!l.pg.oom && !l.pg.strs.oom)
		o = api_namespace_list_reply_encode(&r);
	api_namespace_list_reply_free(&r);
	api_strs_free(&l.pg.strs);
	return o ? o : api_reply_oom();
}
