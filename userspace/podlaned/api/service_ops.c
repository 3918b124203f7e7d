// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/service_ops.c - service_add, service_del and service_list (userspace/lib/api.h): specs
 * in through service_spec_parse(), the services lb/ holds out as JSON, with the node-wide
 * podlane_lbstat and conntrack figures.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "api.h"
#include "api/ops.h"
#include "core/agent.h"
#include "lb/lb.h"
#include "log.h"

#define LIST_LIMIT_DEFAULT	200	/* services per list reply: a reply must fit the API */
#define LIST_LIMIT_MAX		500

/* podlane_lbstat's slots by enum lb_stat; a slot a newer datapath appended shows by number. */
static const char *const lbstat_names[] = {
	"connect", "sendmsg", "recvmsg", "peername", "no_backend", "affinity_hit",
	"affinity_full", "revnat_full", "no_maglev", "prefilter_pass", "nat_new",
	"nat_ct_hit", "nat_reply", "ct_midflow", "ct_stale", "reply_stack", "xdp_fast",
};

static struct json_object *frontends_json(const struct service_view *v)
{
	struct json_object *arr = json_object_new_array();
	unsigned int i;

	for (i = 0; i < v->nfrontends; i++) {
		const struct service_frontend *f = &v->frontends[i];
		struct json_object *o = json_object_new_object();
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &f->addr, ip, sizeof(ip));
		json_object_object_add(o, "kind",
				       json_object_new_string(service_frontend_kind_name(f->kind)));
		json_object_object_add(o, "address", json_object_new_string(ip));
		json_object_object_add(o, "port", json_object_new_int(f->port));
		json_object_object_add(o, "protocol",
				       json_object_new_string(service_proto_name(f->proto)));
		json_object_object_add(o, "svc_id", json_object_new_int64(f->svc_id));
		json_object_object_add(o, "active", json_object_new_int(f->active));
		json_object_object_add(o, "local_active", json_object_new_int(f->local_active));
		json_object_object_add(o, "slots", json_object_new_int64(f->slots));
		json_object_object_add(o, "maglev", json_object_new_boolean(f->maglev));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* { service, frontends } and, for service_list, counters. */
static struct json_object *svc_json(const struct service_view *v, bool counters)
{
	struct json_object *o = json_object_new_object(), *spec, *bes, *ports;
	unsigned int i, p;

	spec = service_spec_to_json(v->spec);
	/* The resolved locality, so that "auto" shows what the agent decided. */
	if (json_object_object_get_ex(spec, "backends", &bes)) {
		for (i = 0; i < v->spec->nbackends; i++) {
			struct json_object *b = json_object_array_get_idx(bes, i);

			json_object_object_add(b, "local", json_object_new_boolean(v->local[i]));
			if (v->spec->backends[i].local == SVC_LOCAL_AUTO)
				json_object_object_add(b, "localAuto", json_object_new_boolean(1));
		}
	}
	json_object_object_add(o, "service", spec);
	json_object_object_add(o, "frontends", frontends_json(v));
	if (counters) {
		ports = json_object_new_array();
		for (p = 0; p < v->spec->nports; p++) {
			const struct service_port_counters *c = &v->counters[p];
			struct json_object *po = json_object_new_object();

			json_object_object_add(po, "svc_id", json_object_new_int64(c->svc_id));
			json_object_object_add(po, "ct_flows", json_object_new_int64(c->flows));
			json_object_object_add(po, "ct_packets", json_object_new_int64(c->packets));
			json_object_object_add(po, "ct_bytes", json_object_new_int64(c->bytes));
			json_object_array_add(ports, po);
		}
		json_object_object_add(o, "counters", ports);
	}
	return o;
}

static int add_reply_cb(const struct service_view *v, void *data)
{
	*(struct json_object **)data = svc_json(v, false);
	return 0;
}

static int list_cb(const struct service_view *v, void *data)
{
	json_object_array_add(data, svc_json(v, true));
	return 0;
}

static struct json_object *out_of_memory(void)
{
	struct api_error e = {};

	api_fail(&e, PODLANE_ERR_INTERNAL, "out of memory");
	return api_reply_error(&e);
}

struct json_object *api_service_add(struct agent *a, struct json_object *req)
{
	struct json_object *spec_obj, *o, *svc = NULL;
	char why[512], name[2 * SVC_NAME_MAX + 2];
	struct service_spec spec;
	struct api_error e = {};
	bool changed;

	if (!json_object_object_get_ex(req, "service", &spec_obj)) {
		api_fail(&e, PODLANE_ERR_DECODE, "missing field 'service' (the service spec)");
		return api_reply_error(&e);
	}
	if (service_spec_parse(spec_obj, &spec, why, sizeof(why))) {
		api_fail(&e, PODLANE_ERR_INVALID_CONFIG, "invalid service spec: %s", why);
		log_warn("service refused err=\"%s\"", why);
		return api_reply_error(&e);
	}
	service_spec_id(&spec, name, sizeof(name));
	if (service_upsert(a, &spec, &changed, &e))
		return api_reply_error(&e);
	/* The service in place now: the one just added, or the same one unchanged. */
	if (service_get(a, name, add_reply_cb, &svc) || !svc)
		return out_of_memory();
	o = api_reply_ok();
	json_object_object_add(o, "changed", json_object_new_boolean(changed));
	json_object_object_add(o, "service", svc);
	return o;
}

/* namespace/name from a request's "name" (may be "ns/name") and optional "namespace". */
static int req_name(struct json_object *req, char *out, size_t len, struct api_error *e)
{
	struct json_object *v;
	const char *name, *ns = SVC_DEFAULT_NAMESPACE, *slash;
	char nsbuf[SVC_NAME_MAX + 1];

	if (!json_object_object_get_ex(req, "name", &v) ||
	    !json_object_is_type(v, json_type_string))
		return api_fail(e, PODLANE_ERR_DECODE, "missing string field 'name'");
	name = json_object_get_string(v);
	if (json_object_object_get_ex(req, "namespace", &v) &&
	    json_object_is_type(v, json_type_string) && *json_object_get_string(v))
		ns = json_object_get_string(v);
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
	struct api_error e = {};

	if (req_name(req, name, sizeof(name), &e) || service_delete(a, name, &e))
		return api_reply_error(&e);
	return api_reply_ok();
}

static struct json_object *lbstat_json(struct agent *a)
{
	const unsigned int nnames = sizeof(lbstat_names) / sizeof(lbstat_names[0]);
	struct json_object *o = json_object_new_object();
	__u32 slot;
	__u64 sum;

	for (slot = 0; slot < PODLANE_LB_STAT_SLOTS; slot++) {
		char unknown[24];

		if (lb_stat_read(a, slot, &sum))
			continue;
		if (slot >= nnames) {
			/* Slots a newer datapath appended: shown by number once they count. */
			if (!sum)
				continue;
			snprintf(unknown, sizeof(unknown), "slot_%u", slot);
		}
		json_object_object_add(o, slot < nnames ? lbstat_names[slot] : unknown,
				       json_object_new_int64(sum));
	}
	return o;
}

static struct json_object *conntrack_json(struct agent *a)
{
	struct json_object *o = json_object_new_object();
	struct lb_conntrack ct;

	lb_conntrack_read(a, &ct);
	json_object_object_add(o, "available", json_object_new_boolean(ct.available));
	if (ct.collected) {
		json_object_object_add(o, "live", json_object_new_int64(ct.live));
		json_object_object_add(o, "max_entries", json_object_new_int64(ct.max_entries));
		json_object_object_add(o, "deleted_last_pass",
				       json_object_new_int64(ct.deleted_last_pass));
	}
	return o;
}

struct json_object *api_service_list(struct agent *a, struct json_object *req)
{
	char name[2 * SVC_NAME_MAX + 2];
	struct json_object *o, *arr, *v;
	long offset = 0, limit = LIST_LIMIT_DEFAULT;
	struct api_error e = {};
	int err;

	if (json_object_object_get_ex(req, "name", &v)) {
		if (req_name(req, name, sizeof(name), &e))
			return api_reply_error(&e);
		arr = json_object_new_array();
		err = service_get(a, name, list_cb, arr);
		if (err == -ENOENT)
			api_fail(&e, PODLANE_ERR_NOT_FOUND, "service '%s' not found", name);
	} else {
		if (json_object_object_get_ex(req, "offset", &v))
			offset = json_object_get_int64(v);
		if (json_object_object_get_ex(req, "limit", &v))
			limit = json_object_get_int64(v);
		if (offset < 0 || limit < 1 || limit > LIST_LIMIT_MAX) {
			api_fail(&e, PODLANE_ERR_DECODE, "offset must be >= 0 and limit 1-%d",
				LIST_LIMIT_MAX);
			return api_reply_error(&e);
		}
		arr = json_object_new_array();
		err = service_walk(a, offset, limit, list_cb, arr);
	}
	if (err) {
		json_object_put(arr);
		return e.code ? api_reply_error(&e) : out_of_memory();
	}
	o = api_reply_ok();
	json_object_object_add(o, "services", arr);
	json_object_object_add(o, "total", json_object_new_int64(service_count(a)));
	json_object_object_add(o, "lbstat", lbstat_json(a));
	json_object_object_add(o, "conntrack", conntrack_json(a));
	return o;
}
