// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/service_ops.c - service_add, service_del and service_list (userspace/lib/api_ops.h):
 * specs in through service_spec_parse(), the services lb/ holds out as the API's structs, with
 * the node-wide podlane_lbstat and conntrack figures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "api.h"
#include "api/ops.h"
#include "core/agent.h"
#include "lb/lb.h"
#include "log.h"

/* podlane_lbstat's slots by enum lb_stat; a slot a newer datapath appended shows by number. */
static const char *const lbstat_names[PODLANE_LB_STAT_SLOTS] = {
	"connect", "sendmsg", "recvmsg", "peername", "no_backend", "affinity_hit",
	"affinity_full", "revnat_full", "no_maglev", "prefilter_pass", "nat_new",
	"nat_ct_hit", "nat_reply", "ct_midflow", "ct_stale", "reply_stack", "xdp_fast",
};

/*
 * The services of a reply being built; lb/ hands each one out for a callback only. A page
 * (service_list) takes services while their JSON stays within its budget
 * (PODLANE_API_PAGE_BYTES); its first one may continue a service cut at the end of the page
 * before (from), and a service larger than a page by itself is cut (struct api_service).
 */
struct svc_list {
	struct api_service *v;
	size_t n;
	bool counters;		/* service_list shows them */
	struct api_strs strs;
	bool oom;
	size_t budget;
	size_t used;		/* JSON of the services so far, commas included */
	unsigned int from;	/* the first backend of the page's first service */
	unsigned long index;	/* of the service the walk hands out next */
	bool more;		/* the page is full: the next starts at next_offset, next_from */
	unsigned long next_offset;
	unsigned int next_from;
};

static int frontends_fill(const struct service_view *v, struct api_frontend **out, size_t *n,
			  struct api_strs *strs)
{
	unsigned int i;

	*out = calloc(v->nfrontends ? v->nfrontends : 1, sizeof(**out));
	*n = v->nfrontends;
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < v->nfrontends; i++) {
		const struct service_frontend *f = &v->frontends[i];
		char ip[INET_ADDRSTRLEN];

		(*out)[i] = (struct api_frontend){
			.kind = service_frontend_kind_name(f->kind),
			.address = api_strs_add(strs, "%s",
						inet_ntop(AF_INET, &f->addr, ip, sizeof(ip))),
			.port = f->port,
			.protocol = service_proto_name(f->proto),
			.svc_id = f->svc_id,
			.active = f->active,
			.local_active = f->local_active,
			.slots = f->slots,
			.maglev = f->maglev,
		};
	}
	return 0;
}

/*
 * One entry: the spec with backends [from, ...) within max_spec bytes (*count of them), and
 * when it starts the service, its frontends and counters.
 */
static int svc_fill(const struct service_view *v, struct api_service *s, struct svc_list *l,
		    unsigned int from, size_t max_spec, unsigned int *count)
{
	unsigned int i;

	*s = (struct api_service){};
	s->service = service_spec_to_json_listed_part(v->spec, v->local, from, max_spec, count);
	s->partial = from > 0 || from + *count < v->spec->nbackends;
	s->backends_from = from;
	s->backends_total = v->spec->nbackends;
	s->has_counters = l->counters && !from;
	s->n_counters = s->has_counters ? v->spec->nports : 0;
	s->counters = calloc(s->n_counters ? s->n_counters : 1, sizeof(*s->counters));
	if (!s->service || !s->counters)
		return -ENOMEM;
	if (from) {
		s->frontends = calloc(1, sizeof(*s->frontends));
		if (!s->frontends)
			return -ENOMEM;
	} else if (frontends_fill(v, &s->frontends, &s->n_frontends, &l->strs)) {
		return -ENOMEM;
	}
	for (i = 0; i < s->n_counters; i++)
		s->counters[i] = (struct api_service_counters){
			.svc_id = v->counters[i].svc_id,
			.ct_flows = v->counters[i].flows,
			.ct_packets = v->counters[i].packets,
			.ct_bytes = v->counters[i].bytes,
		};
	return 0;
}

/* An entry the page did not take: its spec is ours to put, its arrays ours to free. */
static void svc_drop(struct api_service *s)
{
	json_object_put(s->service);
	free(s->frontends);
	free(s->counters);
	*s = (struct api_service){};
}

static int svc_cb(const struct service_view *v, void *data)
{
	struct svc_list *l = data;
	unsigned int from = l->n ? 0 : l->from, count;
	struct api_service *s = realloc(l->v, (l->n + 1) * sizeof(*s));
	size_t len, rest;

	if (!s)
		goto oom;
	l->v = s;
	s = &l->v[l->n];
	if (svc_fill(v, s, l, from, SIZE_MAX, &count))
		goto oom;
	len = api_service_encoded_len(s) + (l->n ? 1 : 0);
	if (l->used + len > l->budget) {
		if (l->n) {
			/* The next page starts with it. */
			svc_drop(s);
			l->more = true;
			l->next_offset = l->index;
			l->next_from = 0;
			return 1;
		}
		/* Larger than a page by itself: the backends that fit, the rest on the next. */
		rest = len - strlen(json_object_to_json_string_ext(s->service,
								   JSON_C_TO_STRING_PLAIN));
		svc_drop(s);
		if (svc_fill(v, s, l, from, rest < l->budget ? l->budget - rest : 1, &count))
			goto oom;
		len = api_service_encoded_len(s);
	}
	l->n++;
	l->used += len;
	if (from + count < v->spec->nbackends) {
		l->more = true;
		l->next_offset = l->index;
		l->next_from = from + count;
		return 1;
	}
	l->index++;
	return 0;
oom:
	if (s)
		svc_drop(s);
	l->oom = true;
	return -ENOMEM;
}

/* Frees what svc_cb() built: the specs are ours to put, the arrays the reply's free takes. */
static void svc_list_release(struct svc_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		json_object_put(l->v[i].service);
	api_strs_free(&l->strs);
}

/* service_add's answer: the frontends of the service as it is in place now. */
struct svc_added {
	struct api_frontend *frontends;
	size_t n;
	struct api_strs *strs;
};

static int added_cb(const struct service_view *v, void *data)
{
	struct svc_added *ad = data;

	return frontends_fill(v, &ad->frontends, &ad->n, ad->strs);
}

struct json_object *api_service_add(struct agent *a, struct json_object *req)
{
	char why[512], name[2 * SVC_NAME_MAX + 2];
	struct api_service_add_req rq;
	struct api_strs strs = {};
	struct svc_added ad = { .strs = &strs };
	struct service_spec spec;
	struct json_object *o = NULL;
	struct api_error e = {};
	bool changed;

	if (api_service_add_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (service_spec_parse(rq.service, &spec, why, sizeof(why))) {
		api_fail(&e, PODLANE_ERR_INVALID_CONFIG, "invalid service spec: %s", why);
		log_warn("service refused err=\"%s\"", why);
		return api_reply_error(&e);
	}
	service_spec_id(&spec, name, sizeof(name));
	if (service_upsert(a, &spec, &changed, &e))
		return api_reply_error(&e);
	/* The service in place now: the one just added, or the same one unchanged. */
	if (!service_get(a, name, added_cb, &ad) && !strs.oom)
		o = api_service_add_reply_encode(&(struct api_service_add_reply){
			.changed = changed,
			.name = name,
			.has_frontends = true,
			.frontends = ad.frontends,
			.n_frontends = ad.n,
		});
	free(ad.frontends);
	api_strs_free(&strs);
	return o ? o : api_reply_oom();
}

/* namespace/name from a request's name (may be "ns/name") and namespace (default "default"). */
static int req_name(const char *name, const char *ns, char *out, size_t len,
		    struct api_error *e)
{
	char nsbuf[SVC_NAME_MAX + 1];
	const char *slash;

	if (!ns || !*ns)
		ns = SVC_DEFAULT_NAMESPACE;
	slash = strchr(name, '/');
	if (slash && (size_t)(slash - name) <= SVC_NAME_MAX) {
		memcpy(nsbuf, name, slash - name);
		nsbuf[slash - name] = '\0';
		ns = nsbuf;
		name = slash + 1;
	}
	if (!service_name_ok(name) || !service_name_ok(ns))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "'%s/%s' is not a service name "
			       "(namespace/name, lower-case DNS labels)", ns, name);
	snprintf(out, len, "%s/%s", ns, name);
	return 0;
}

struct json_object *api_service_del(struct agent *a, struct json_object *req)
{
	char name[2 * SVC_NAME_MAX + 2];
	struct api_service_del_req rq;
	struct api_error e = {};

	if (api_service_del_req_decode(req, &rq, &e) ||
	    req_name(rq.name, rq.namespace, name, sizeof(name), &e) ||
	    service_delete(a, name, &e))
		return api_reply_error(&e);
	return api_service_del_reply_encode(&(struct api_service_del_reply){});
}

static int lbstat_counts(struct agent *a, struct api_service_list_reply *r,
			 struct api_strs *strs)
{
	__u64 sum[PODLANE_LB_STAT_SLOTS] = {};
	const char *names[PODLANE_LB_STAT_SLOTS];
	unsigned int slot;

	for (slot = 0; slot < PODLANE_LB_STAT_SLOTS; slot++) {
		names[slot] = lbstat_names[slot];
		/* A slot that cannot be read is left out. */
		if (lb_stat_read(a, slot, &sum[slot])) {
			names[slot] = NULL;
			sum[slot] = 0;
		}
	}
	return api_counts_by_slot(sum, names, PODLANE_LB_STAT_SLOTS, "slot_%ld", 0, 1, strs,
				  &r->lbstat, &r->n_lbstat);
}

struct json_object *api_service_list(struct agent *a, struct json_object *req)
{
	char name[2 * SVC_NAME_MAX + 2];
	struct api_service_list_reply r = {};
	struct api_service_list_req rq;
	struct svc_list l = { .counters = true, .budget = PODLANE_API_PAGE_BYTES };
	struct json_object *o = NULL;
	struct lb_conntrack ct;
	struct api_error e = {};
	unsigned long offset;
	int err;

	if (api_service_list_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (rq.has_backend_offset)
		l.from = rq.backend_offset > SVC_MAX_BACKENDS ? SVC_MAX_BACKENDS :
							       rq.backend_offset;
	if (rq.name) {
		if (req_name(rq.name, rq.namespace, name, sizeof(name), &e))
			return api_reply_error(&e);
		err = service_get(a, name, svc_cb, &l);
		if (err == -ENOENT)
			api_fail(&e, PODLANE_ERR_NOT_FOUND, "service '%s' not found", name);
		/* By name, the next page is the same service again, from next_from. */
		l.next_offset = 0;
	} else {
		offset = rq.has_offset ? rq.offset : 0;
		l.index = offset;
		err = service_walk(a, offset, rq.has_limit ? rq.limit :
				   PODLANE_API_LIST_LIMIT_DEFAULT, svc_cb, &l);
		/* Stopped by the limit, not the page's bytes: the rest follows all the same. */
		if (!l.more && l.index < service_count(a) && l.index > offset) {
			l.more = true;
			l.next_offset = l.index;
		}
	}
	if (err > 0)
		err = 0;	/* the page is full */
	r.services = l.v;
	r.n_services = l.n;
	if (!err && !l.oom) {
		lb_conntrack_read(a, &ct);
		r.total = service_count(a);
		r.conntrack = (struct api_conntrack){
			.available = ct.available,
			.has_pass = ct.collected,
			.live = ct.live,
			.max_entries = ct.max_entries,
			.deleted_last_pass = ct.deleted_last_pass,
		};
		r.has_next_offset = l.more;
		r.next_offset = l.next_offset;
		r.has_next_backends_from = l.more && l.next_from;
		r.next_backends_from = l.next_from;
		if (!lbstat_counts(a, &r, &l.strs) && !l.strs.oom)
			o = api_service_list_reply_encode(&r);
	}
	svc_list_release(&l);
	api_service_list_reply_free(&r);
	if (o)
		return o;
	return e.code ? api_reply_error(&e) : api_reply_oom();
}
