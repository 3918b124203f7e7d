// SPDX-License-Identifier: GPL-2.0-only
/*
 * service_spec.c - parsing and validation of service specs; see service_spec.h. Every error
 * names the field (with its index) and says what is wrong, because the operator or the
 * control plane has to fix the spec from that message alone.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "podlane.h"
#include "service_spec.h"

struct ctx {
	char *err;
	size_t errlen;
	bool listed;	/* a spec as podlaned lists it: backends carry "localAuto" too */
};

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

bool service_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (!n || n > SVC_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char ch = name[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
			continue;
		if (ch == '-' && i && i + 1 < n)
			continue;
		return false;
	}
	return true;
}

const char *service_proto_name(__u8 proto)
{
	return proto == IPPROTO_UDP ? "UDP" : "TCP";
}

/* Refuse fields this version does not know: a typo must not pass as a default. */
static int check_fields(struct ctx *c, struct json_object *obj, const char *where,
			const char *const *known)
{
	json_object_object_foreach(obj, key, val) {
		const char *const *k;

		(void)val;
		for (k = known; *k; k++)
			if (!strcmp(key, *k))
				break;
		if (!*k)
			return fail(c, "%s%sunknown field '%s'", where, *where ? ": " : "", key);
	}
	return 0;
}

/* A present field: NULL when absent or null. */
static struct json_object *get(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

static int get_string(struct ctx *c, struct json_object *obj, const char *where, const char *key,
		      const char **out)
{
	struct json_object *v = get(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return fail(c, "%s%s: must be a string", where, key);
	*out = json_object_get_string(v);
	return 0;
}

/* Integer field in [min, max]; *out untouched when absent. */
static int get_int(struct ctx *c, struct json_object *obj, const char *where, const char *key,
		   long min, long max, long *out)
{
	struct json_object *v = get(obj, key);
	int64_t n;

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return fail(c, "%s%s: must be an integer from %ld to %ld", where, key, min, max);
	n = json_object_get_int64(v);
	if (n < min || n > max)
		return fail(c, "%s%s: must be from %ld to %ld, got %lld", where, key, min, max,
			    (long long)n);
	*out = n;
	return 0;
}

/* A unicast IPv4 address a service may use: not 0/8, loopback, multicast or broadcast. */
static int parse_ip(struct ctx *c, const char *where, const char *text, __be32 *out)
{
	struct in_addr in;
	__u32 h;

	if (inet_pton(AF_INET, text, &in) != 1)
		return fail(c, "%s: \"%s\" is not an IPv4 address", where, text);
	h = ntohl(in.s_addr);
	if ((h >> 24) == 0 || (h >> 24) == 127 || (h >> 28) == 14 || (h >> 28) == 15)
		return fail(c, "%s: %s is not a usable unicast address", where, text);
	*out = in.s_addr;
	return 0;
}

static int get_choice(struct ctx *c, struct json_object *obj, const char *key, const char *a,
		      const char *b, bool *is_b)
{
	const char *s;
	int err;

	err = get_string(c, obj, "", key, &s);
	if (err || !s)
		return err;
	if (!strcmp(s, a))
		*is_b = false;
	else if (!strcmp(s, b))
		*is_b = true;
	else
		return fail(c, "%s: must be \"%s\" or \"%s\", got \"%s\"", key, a, b, s);
	return 0;
}

static int parse_ports(struct ctx *c, struct json_object *obj, struct service_spec *s)
{
	static const char *const known[] = { "name", "port", "protocol", "targetPort", "nodePort",
					     NULL };
	struct json_object *arr = get(obj, "ports");
	unsigned int i, j;
	char where[32];
	int err;

	if (!arr)
		return fail(c, "ports: missing (a service needs at least one port)");
	if (!json_object_is_type(arr, json_type_array))
		return fail(c, "ports: must be an array");
	s->nports = json_object_array_length(arr);
	if (!s->nports)
		return fail(c, "ports: empty (a service needs at least one port)");
	if (s->nports > SVC_MAX_PORTS)
		return fail(c, "ports: %u ports, at most %d", s->nports, SVC_MAX_PORTS);
	/* Sized: most services have one port, and an agent may hold tens of thousands. */
	s->ports = calloc(s->nports, sizeof(*s->ports));
	if (!s->ports)
		return fail(c, "ports: out of memory");
	for (i = 0; i < s->nports; i++) {
		struct json_object *p = json_object_array_get_idx(arr, i);
		struct svc_port *sp = &s->ports[i];
		const char *name, *proto;
		long port = 0, target = 0, node = 0;

		snprintf(where, sizeof(where), "ports[%u].", i);
		if (!json_object_is_type(p, json_type_object))
			return fail(c, "ports[%u]: must be an object", i);
		where[strlen(where) - 1] = '\0';
		err = check_fields(c, p, where, known);
		strcat(where, ".");
		if (err)
			return err;
		err = get_string(c, p, where, "name", &name) ?:
		      get_string(c, p, where, "protocol", &proto) ?:
		      get_int(c, p, where, "port", 1, 65535, &port) ?:
		      get_int(c, p, where, "targetPort", 1, 65535, &target) ?:
		      get_int(c, p, where, "nodePort", 1, 65535, &node);
		if (err)
			return err;
		if (!port)
			return fail(c, "%sport: missing", where);
		if (name && *name) {
			if (!service_name_ok(name))
				return fail(c, "%sname: \"%s\" is not a lower-case DNS label",
					    where, name);
			sp->name = strdup(name);
			if (!sp->name)
				return fail(c, "out of memory");
		} else if (s->nports > 1) {
			return fail(c, "%sname: required when a service has several ports",
				    where);
		}
		if (!proto || !strcmp(proto, "TCP"))
			sp->proto = IPPROTO_TCP;
		else if (!strcmp(proto, "UDP"))
			sp->proto = IPPROTO_UDP;
		else
			return fail(c, "%sprotocol: must be \"TCP\" or \"UDP\", got \"%s\"", where,
				    proto);
		sp->port = port;
		sp->target_port = target ? target : port;
		sp->node_port = node;
		for (j = 0; j < i; j++) {
			const struct svc_port *o = &s->ports[j];

			if (o->port == sp->port && o->proto == sp->proto)
				return fail(c, "%sport: %u/%s repeats ports[%u]", where, sp->port,
					    service_proto_name(sp->proto), j);
			if (sp->node_port && o->node_port == sp->node_port &&
			    o->proto == sp->proto)
				return fail(c, "%snodePort: %u/%s repeats ports[%u]", where,
					    sp->node_port, service_proto_name(sp->proto), j);
			if (sp->name && o->name && !strcmp(o->name, sp->name))
				return fail(c, "%sname: \"%s\" repeats ports[%u]", where, sp->name,
					    j);
		}
	}
	return 0;
}

static int parse_external_ips(struct ctx *c, struct json_object *obj, struct service_spec *s)
{
	struct json_object *arr = get(obj, "externalIPs");
	unsigned int i, j;
	char where[32];
	int err;

	if (!arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return fail(c, "externalIPs: must be an array of IPv4 addresses");
	s->nexternal = json_object_array_length(arr);
	if (s->nexternal > SVC_MAX_EXTERNAL_IPS)
		return fail(c, "externalIPs: %u addresses, at most %d", s->nexternal,
			    SVC_MAX_EXTERNAL_IPS);
	s->external_ips = calloc(s->nexternal ? s->nexternal : 1, sizeof(*s->external_ips));
	if (!s->external_ips)
		return fail(c, "externalIPs: out of memory");
	for (i = 0; i < s->nexternal; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);

		snprintf(where, sizeof(where), "externalIPs[%u]", i);
		if (!json_object_is_type(v, json_type_string))
			return fail(c, "%s: must be a string", where);
		err = parse_ip(c, where, json_object_get_string(v), &s->external_ips[i]);
		if (err)
			return err;
		if (s->external_ips[i] == s->cluster_ip)
			return fail(c, "%s: %s is the clusterIP", where,
				    json_object_get_string(v));
		for (j = 0; j < i; j++)
			if (s->external_ips[j] == s->external_ips[i])
				return fail(c, "%s: repeats externalIPs[%u]", where, j);
	}
	return 0;
}

static int parse_backend(struct ctx *c, struct json_object *b, unsigned int i,
			 struct service_spec *s)
{
	static const char *const known[] = { "ip", "port", "weight", "state", "local", NULL };
	static const char *const listed[] = { "ip", "port", "weight", "state", "local",
					      "localAuto", NULL };
	struct svc_backend *be = &s->backends[i];
	long port = 0, weight = SVC_WEIGHT_DEFAULT;
	const char *ip, *state;
	struct json_object *v;
	char where[40];
	int err;

	snprintf(where, sizeof(where), "backends[%u]", i);
	if (!json_object_is_type(b, json_type_object))
		return fail(c, "%s: must be an object", where);
	err = check_fields(c, b, where, c->listed ? listed : known);
	if (err)
		return err;
	strcat(where, ".");
	err = get_string(c, b, where, "ip", &ip) ?:
	      get_string(c, b, where, "state", &state) ?:
	      get_int(c, b, where, "port", 1, 65535, &port) ?:
	      get_int(c, b, where, "weight", 0, SVC_WEIGHT_MAX, &weight);
	if (err)
		return err;
	if (!ip)
		return fail(c, "%sip: missing", where);
	where[strlen(where) - 1] = '\0';
	strcat(where, ".ip");
	err = parse_ip(c, where, ip, &be->addr);
	if (err)
		return err;
	where[strlen(where) - 3] = '\0';
	if (port && s->nports > 1)
		return fail(c, "%s.port: only allowed when the service has one port (the "
			    "ports' targetPort is used otherwise)", where);
	be->port = port;
	be->weight = weight;
	if (!state || !strcmp(state, "active"))
		be->state = PODLANE_BACKEND_ACTIVE;
	else if (!strcmp(state, "terminating"))
		be->state = PODLANE_BACKEND_TERMINATING;
	else
		return fail(c, "%s.state: must be \"active\" or \"terminating\", got \"%s\"",
			    where, state);
	be->local = SVC_LOCAL_AUTO;
	v = get(b, "local");
	if (v) {
		if (!json_object_is_type(v, json_type_boolean))
			return fail(c, "%s.local: must be true or false", where);
		be->local = json_object_get_boolean(v) ? SVC_LOCAL_YES : SVC_LOCAL_NO;
	}
	return 0;
}

static int backend_cmp(const void *pa, const void *pb)
{
	const struct svc_backend *a = pa, *b = pb;

	if (a->addr != b->addr)
		return ntohl(a->addr) < ntohl(b->addr) ? -1 : 1;
	return (int)a->port - (int)b->port;
}

static int parse_backends(struct ctx *c, struct json_object *obj, struct service_spec *s)
{
	struct json_object *arr = get(obj, "backends");
	struct svc_backend *sorted;
	unsigned int i;
	int err;

	if (!arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return fail(c, "backends: must be an array");
	s->nbackends = json_object_array_length(arr);
	if (s->nbackends > SVC_MAX_BACKENDS)
		return fail(c, "backends: %u backends, at most %d", s->nbackends,
			    SVC_MAX_BACKENDS);
	if (!s->nbackends)
		return 0;
	s->backends = calloc(s->nbackends, sizeof(*s->backends));
	if (!s->backends)
		return fail(c, "backends: out of memory");
	for (i = 0; i < s->nbackends; i++) {
		err = parse_backend(c, json_object_array_get_idx(arr, i), i, s);
		if (err)
			return err;
	}
	/* Duplicates would get two slots and twice the share: find them on a sorted copy. */
	sorted = malloc(s->nbackends * sizeof(*sorted));
	if (!sorted)
		return fail(c, "backends: out of memory");
	memcpy(sorted, s->backends, s->nbackends * sizeof(*sorted));
	qsort(sorted, s->nbackends, sizeof(*sorted), backend_cmp);
	for (i = 1; i < s->nbackends; i++) {
		if (!backend_cmp(&sorted[i - 1], &sorted[i])) {
			char ip[INET_ADDRSTRLEN];
			__u16 port = sorted[i].port;

			inet_ntop(AF_INET, &sorted[i].addr, ip, sizeof(ip));
			free(sorted);
			if (!port)
				return fail(c, "backends: %s is listed twice", ip);
			return fail(c, "backends: %s:%u is listed twice", ip, port);
		}
	}
	free(sorted);
	return 0;
}

static int parse(struct ctx *c, struct json_object *obj, struct service_spec *s)
{
	static const char *const known[] = {
		"name", "namespace", "clusterIP", "ports", "externalIPs", "sessionAffinity",
		"sessionAffinityTimeoutSeconds", "externalTrafficPolicy", "internalTrafficPolicy",
		"backends", NULL
	};
	const char *name, *ns, *vip;
	long timeout = SVC_AFFINITY_TIMEOUT_DEFAULT;
	int err;

	if (!obj || !json_object_is_type(obj, json_type_object))
		return fail(c, "service: must be a JSON object");
	err = check_fields(c, obj, "", known) ?:
	      get_string(c, obj, "", "name", &name) ?:
	      get_string(c, obj, "", "namespace", &ns) ?:
	      get_string(c, obj, "", "clusterIP", &vip);
	if (err)
		return err;
	if (!name)
		return fail(c, "name: missing");
	if (!service_name_ok(name))
		return fail(c, "name: \"%s\" is not a lower-case DNS label (a-z, 0-9, '-', at "
			    "most %d characters)", name, SVC_NAME_MAX);
	if (ns && !service_name_ok(ns))
		return fail(c, "namespace: \"%s\" is not a lower-case DNS label", ns);
	s->name = strdup(name);
	s->namespace = strdup(ns ? ns : SVC_DEFAULT_NAMESPACE);
	if (!s->name || !s->namespace)
		return fail(c, "out of memory");
	if (!vip)
		return fail(c, "clusterIP: missing");
	err = parse_ip(c, "clusterIP", vip, &s->cluster_ip) ?:
	      parse_ports(c, obj, s) ?:
	      parse_external_ips(c, obj, s) ?:
	      get_choice(c, obj, "sessionAffinity", "None", "ClientIP", &s->affinity) ?:
	      get_int(c, obj, "", "sessionAffinityTimeoutSeconds", 1, SVC_AFFINITY_TIMEOUT_MAX,
		      &timeout) ?:
	      get_choice(c, obj, "externalTrafficPolicy", "Cluster", "Local", &s->ext_local) ?:
	      get_choice(c, obj, "internalTrafficPolicy", "Cluster", "Local", &s->int_local) ?:
	      parse_backends(c, obj, s);
	if (err)
		return err;
	s->affinity_timeout = timeout;
	return 0;
}

static int parse_spec(struct ctx *c, struct json_object *obj, struct service_spec *spec)
{
	int ret;

	memset(spec, 0, sizeof(*spec));
	ret = parse(c, obj, spec);
	if (ret)
		service_spec_free(spec);
	return ret;
}

int service_spec_parse(struct json_object *obj, struct service_spec *spec, char *err,
		       size_t errlen)
{
	struct ctx c = { .err = err, .errlen = errlen };

	return parse_spec(&c, obj, spec);
}

int service_spec_parse_listed(struct json_object *obj, struct service_spec *spec, char *err,
			      size_t errlen)
{
	struct ctx c = { .err = err, .errlen = errlen, .listed = true };

	return parse_spec(&c, obj, spec);
}

void service_spec_free(struct service_spec *spec)
{
	unsigned int i;

	free(spec->name);
	free(spec->namespace);
	spec->name = spec->namespace = NULL;
	free(spec->external_ips);
	spec->external_ips = NULL;
	spec->nexternal = 0;
	for (i = 0; spec->ports && i < spec->nports; i++)
		free(spec->ports[i].name);
	free(spec->ports);
	spec->ports = NULL;
	spec->nports = 0;
	free(spec->backends);
	spec->backends = NULL;
	spec->nbackends = 0;
}

bool service_spec_equal(const struct service_spec *a, const struct service_spec *b)
{
	unsigned int i;

	if (strcmp(a->name, b->name) || strcmp(a->namespace, b->namespace) ||
	    a->cluster_ip != b->cluster_ip || a->nports != b->nports ||
	    a->nexternal != b->nexternal || a->affinity != b->affinity ||
	    a->affinity_timeout != b->affinity_timeout || a->ext_local != b->ext_local ||
	    a->int_local != b->int_local || a->nbackends != b->nbackends)
		return false;
	for (i = 0; i < a->nports; i++) {
		const struct svc_port *p = &a->ports[i], *q = &b->ports[i];

		if (!p->name != !q->name || (p->name && strcmp(p->name, q->name)) ||
		    p->port != q->port ||
		    p->target_port != q->target_port || p->node_port != q->node_port ||
		    p->proto != q->proto)
			return false;
	}
	for (i = 0; i < a->nexternal; i++)
		if (a->external_ips[i] != b->external_ips[i])
			return false;
	for (i = 0; i < a->nbackends; i++) {
		const struct svc_backend *p = &a->backends[i], *q = &b->backends[i];

		if (p->addr != q->addr || p->port != q->port || p->weight != q->weight ||
		    p->state != q->state || p->local != q->local)
			return false;
	}
	return true;
}

void service_spec_id(const struct service_spec *spec, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", spec->namespace, spec->name);
}

static struct json_object *ip_json(__be32 addr)
{
	char text[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, text, sizeof(text));
	return json_object_new_string(text);
}

/*
 * local NULL: the spec as persisted; else as listed, with the resolved locality. Backends from
 * from on, as many as keep the plain JSON text within max_bytes (at least one); *count says
 * how many.
 */
static struct json_object *to_json(const struct service_spec *s, const __s8 *local,
				   unsigned int from, size_t max_bytes, unsigned int *count)
{
	struct json_object *o = json_object_new_object(), *arr;
	size_t used;
	unsigned int i;

	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "namespace", json_object_new_string(s->namespace));
	json_object_object_add(o, "clusterIP", ip_json(s->cluster_ip));
	arr = json_object_new_array();
	for (i = 0; i < s->nports; i++) {
		const struct svc_port *p = &s->ports[i];
		struct json_object *po = json_object_new_object();

		if (p->name)
			json_object_object_add(po, "name", json_object_new_string(p->name));
		json_object_object_add(po, "port", json_object_new_int(p->port));
		json_object_object_add(po, "protocol",
				       json_object_new_string(service_proto_name(p->proto)));
		json_object_object_add(po, "targetPort", json_object_new_int(p->target_port));
		if (p->node_port)
			json_object_object_add(po, "nodePort", json_object_new_int(p->node_port));
		json_object_array_add(arr, po);
	}
	json_object_object_add(o, "ports", arr);
	arr = json_object_new_array();
	for (i = 0; i < s->nexternal; i++)
		json_object_array_add(arr, ip_json(s->external_ips[i]));
	json_object_object_add(o, "externalIPs", arr);
	json_object_object_add(o, "sessionAffinity",
			       json_object_new_string(s->affinity ? "ClientIP" : "None"));
	json_object_object_add(o, "sessionAffinityTimeoutSeconds",
			       json_object_new_int(s->affinity_timeout));
	json_object_object_add(o, "externalTrafficPolicy",
			       json_object_new_string(s->ext_local ? "Local" : "Cluster"));
	json_object_object_add(o, "internalTrafficPolicy",
			       json_object_new_string(s->int_local ? "Local" : "Cluster"));
	arr = json_object_new_array();
	json_object_object_add(o, "backends", arr);
	/* The text so far, "[]" included; each backend adds its own and a comma after the first. */
	used = max_bytes == SIZE_MAX ? 0 :
	       strlen(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	*count = 0;
	for (i = from; i < s->nbackends; i++) {
		const struct svc_backend *b = &s->backends[i];
		struct json_object *bo = json_object_new_object();
		size_t len;

		json_object_object_add(bo, "ip", ip_json(b->addr));
		if (b->port)
			json_object_object_add(bo, "port", json_object_new_int(b->port));
		json_object_object_add(bo, "weight", json_object_new_int(b->weight));
		json_object_object_add(bo, "state", json_object_new_string(
			b->state == PODLANE_BACKEND_TERMINATING ? "terminating" : "active"));
		if (local)
			json_object_object_add(bo, "local", json_object_new_boolean(local[i]));
		else if (b->local != SVC_LOCAL_AUTO)
			json_object_object_add(bo, "local", json_object_new_boolean(b->local));
		if (local && b->local == SVC_LOCAL_AUTO)
			json_object_object_add(bo, "localAuto", json_object_new_boolean(1));
		/* Whole specs (persisted, listed whole) need no measuring. */
		len = max_bytes == SIZE_MAX ? 0 :
		      strlen(json_object_to_json_string_ext(bo, JSON_C_TO_STRING_PLAIN)) +
		      (*count ? 1 : 0);
		if (*count && used + len > max_bytes) {
			json_object_put(bo);
			break;
		}
		json_object_array_add(arr, bo);
		used += len;
		(*count)++;
	}
	return o;
}

struct json_object *service_spec_to_json(const struct service_spec *s)
{
	unsigned int n;

	return to_json(s, NULL, 0, SIZE_MAX, &n);
}

struct json_object *service_spec_to_json_listed(const struct service_spec *s, const __s8 *local)
{
	unsigned int n;

	return to_json(s, local, 0, SIZE_MAX, &n);
}

int service_spec_listed_append(struct json_object *spec, struct json_object *piece)
{
	static const char *const same[] = { "name", "namespace" };
	struct json_object *a, *b;
	size_t i;

	for (i = 0; i < 2; i++)
		if (!json_object_object_get_ex(spec, same[i], &a) ||
		    !json_object_object_get_ex(piece, same[i], &b) ||
		    !json_object_is_type(a, json_type_string) ||
		    !json_object_is_type(b, json_type_string) ||
		    strcmp(json_object_get_string(a), json_object_get_string(b)))
			return -EINVAL;
	if (!json_object_object_get_ex(spec, "backends", &a) ||
	    !json_object_object_get_ex(piece, "backends", &b) ||
	    !json_object_is_type(a, json_type_array) || !json_object_is_type(b, json_type_array))
		return -EINVAL;
	for (i = 0; i < json_object_array_length(b); i++) {
		struct json_object *be = json_object_array_get_idx(b, i);

		if (json_object_array_add(a, json_object_get(be))) {
			json_object_put(be);
			return -ENOMEM;
		}
	}
	return 0;
}

struct json_object *service_spec_to_json_listed_part(const struct service_spec *s,
						     const __s8 *local, unsigned int from,
						     size_t max_bytes, unsigned int *count)
{
	return to_json(s, local, from, max_bytes, count);
}
