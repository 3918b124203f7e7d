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

/* The services of a reply being built; lb/ hands each one out for a callback only. */
struct svc_list {
	struct api_service *v;
	size_t n;
	bool counters;		/* service_list shows them, service_add does not */
	struct api_strs strs;
	bool oom;
};

static int svc_fill(const struct service_view *v, struct api_service *s, struct svc_list *l)
{
	unsigned int i;

	s->service = service_spec_to_json_listed(v->spec, v->local);
	s->frontends = calloc(v->nfrontends ? v->nfrontends : 1, sizeof(*s->frontends));
	s->n_frontends = v->nfrontends;
	s->has_counters = l->counters;
	s->counters = calloc(v->spec->nports ? v->spec->nports : 1, sizeof(*s->counters));
	s->n_counters = l->counters ? v->spec->nports : 0;
	if (!s->service || !s->frontends || !s->counters)
		return -ENOMEM;
	for (i = 0; i < v->nfrontends; i++) {
		const struct service_frontend *f = &v->frontends[i];
		char ip[INET_ADDRSTRLEN];

		s->frontends[i] = (struct api_frontend){
			.kind = service_frontend_kind_name(f->kind),
			.address = api_strs_add(&l->strs, "%s",
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
	for (i = 0; i < s->n_counters; i++)
		s->counters[i] = (struct api_service_counters){
			.svc_id = v->counters[i].svc_id,
			.ct_flows = v->counters[i].flows,
			.ct_packets = v->counters[i].packets,
			.ct_bytes = v->counters[i].bytes,
		};
	return 0;
}

static int svc_cb(const struct service_view *v, void *data)
{
	struct svc_list *l = data;
	struct api_service *s = realloc(l->v, (l->n + 1) * sizeof(*s));

	if (!s) {
		l->oom = true;
		return -ENOMEM;
	}
	l->v = s;
	s = &l->v[l->n++];
	*s = (struct api_service){};
	if (svc_fill(v, s, l)) {
		l->oom = true;
		return -ENOMEM;
	}
	return 0;
}

/* Frees what svc_cb() built: the specs are ours to put, the arrays the reply's free takes. */
static void svc_list_release(struct svc_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		json_object_put(l->v[i].service);
	api_strs_free(&l->strs);
}

struct json_object *api_service_add(struct agent *a, struct json_object *req)
{
	char why[512], name[2 * SVC_NAME_MAX + 2];
	struct api_service_add_reply r = {};
	struct api_service_add_req rq;
	struct svc_list l = {};
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
	if (!service_get(a, name, svc_cb, &l) && !l.oom && !l.strs.oom && l.n == 1) {
		r = (struct api_service_add_reply){ .changed = changed, .service = l.v[0] };
		o = api_service_add_reply_encode(&r);
	}
	svc_list_release(&l);
	if (l.n) {
		/* The service's arrays, then the list that held it. */
		r.service = l.v[0];
		api_service_add_reply_free(&r);
	}
	free(l.v);
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
	struct svc_list l = { .counters = true };
	struct json_object *o = NULL;
	struct lb_conntrack ct;
	struct api_error e = {};
	int err;

	if (api_service_list_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (rq.name) {
		if (req_name(rq.name, rq.namespace, name, sizeof(name), &e))
			return api_reply_error(&e);
		err = service_get(a, name, svc_cb, &l);
		if (err == -ENOENT)
			api_fail(&e, PODLANE_ERR_NOT_FOUND, "service '%s' not found", name);
	} else {
		err = service_walk(a, rq.has_offset ? rq.offset : 0,
				   rq.has_limit ? rq.limit : PODLANE_API_LIST_LIMIT_DEFAULT,
				   svc_cb, &l);
	}
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
		if (!lbstat_counts(a, &r, &l.strs) && !l.strs.oom)
			o = api_service_list_reply_encode(&r);
	}
	svc_list_release(&l);
	api_service_list_reply_free(&r);
	if (o)
		return o;
	return e.code ? api_reply_error(&e) : api_reply_oom();
}
