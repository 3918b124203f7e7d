// SPDX-License-Identifier: GPL-2.0-only
/*
 * sync/records.c - the sync's etcd records (layout in records.h): keys classified and checked,
 * values decoded and validated, this node's records encoded. Pure functions of their
 * arguments: no agent, no maps, no etcd client, no globals. A fuzzing harness links this file
 * with core/addr.c and libpodlane (service_spec.c) alone.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "json_tok.h"
#include "labels.h"
#include "podlane.h"
#include "policy_spec.h"
#include "service_spec.h"
#include "sync/records.h"

/* The encoders' form: what etcd holds is compared with what the snapshot wants as text. */
#define VALUE_JSON	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* key starts with prefix and has more after it. */
static bool under(const char *key, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix);

	return len > plen && !memcmp(key, prefix, plen);
}

/* The text up to the next '/', or the rest. */
static size_t segment(const char *p, size_t len)
{
	const char *slash = memchr(p, '/', len);

	return slash ? (size_t)(slash - p) : len;
}

bool record_node_name_ok(const char *s, size_t len)
{
	size_t i;

	if (!len || len >= PODLANE_NODE_NAME_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

/* Container IDs and interface names: printable ASCII, no '/', no spaces. */
static bool segment_ok(const char *s, size_t len, size_t max)
{
	size_t i;

	if (!len || len > max)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == '/')
			return false;
	return true;
}

static int refuse(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, RECORD_WHY_LEN, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- keys ---- */

static int endpoint_key(const char *rest, size_t len, struct record_key *k, char *why)
{
	size_t n1 = segment(rest, len), n2;

	n2 = n1 < len ? segment(rest + n1 + 1, len - n1 - 1) : 0;
	if (!record_node_name_ok(rest, n1) || !n2 || n1 + 1 + n2 >= len ||
	    !segment_ok(rest + n1 + 1, n2, PODLANE_CONTAINER_ID_LEN - 1) ||
	    !segment_ok(rest + n1 + n2 + 2, len - n1 - n2 - 2, PODLANE_IFNAME_LEN - 1))
		return refuse(why, "key: want %s<node>/<container-id>/<ifname>",
			      RECORD_KEY_ENDPOINTS);
	k->node = rest;
	k->node_len = n1;
	k->container_id = rest + n1 + 1;
	k->container_id_len = n2;
	k->ifname = rest + n1 + n2 + 2;
	k->ifname_len = len - n1 - n2 - 2;
	return 0;
}

static int service_key(const char *id, size_t len, struct record_key *k, char *why)
{
	size_t n1 = segment(id, len);

	if (n1 == len || !n1 || n1 + 1 == len || memchr(id + n1 + 1, '/', len - n1 - 1))
		return refuse(why, "key: want %s<namespace>/<name>", RECORD_KEY_SERVICES);
	k->service = id;
	k->service_len = len;
	return 0;
}

/* A NUL-terminated copy of a key segment, or NULL when it does not fit. */
static const char *seg_str(char *buf, size_t size, const char *p, size_t len)
{
	if (len >= size)
		return NULL;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return buf;
}

/* "<namespace>/<name>": a DNS-1123 label, then a DNS-1123 subdomain (policies, pods). */
static int object_key(const char *id, size_t len, struct record_key *k, const char *prefix,
		      char *why)
{
	char ns[DNS_LABEL_MAX + 2], name[DNS_SUBDOMAIN_MAX + 2];
	size_t n1 = segment(id, len);

	if (n1 == len || memchr(id + n1 + 1, '/', len - n1 - 1))
		return refuse(why, "key: want %s<namespace>/<name>", prefix);
	if (!seg_str(ns, sizeof(ns), id, n1) || dns_label_problem(ns))
		return refuse(why, "key: namespace must be a DNS-1123 label");
	if (!seg_str(name, sizeof(name), id + n1 + 1, len - n1 - 1) || dns_subdomain_problem(name))
		return refuse(why, "key: name must be a DNS-1123 subdomain");
	k->object = id;
	k->object_len = len;
	return 0;
}

static int cidr_key(const char *rest, size_t len, struct record_key *k, char *why)
{
	char buf[CIDR4_STRLEN];

	if (len >= sizeof(buf))
		goto bad;
	memcpy(buf, rest, len);
	buf[len] = '\0';
	if (!subnet_parse(buf, &k->cidr))
		return 0;
bad:
	return refuse(why, "key: want %s<a.b.c.d>/<len>", RECORD_KEY_CIDRS);
}

int record_key_parse(const char *key, size_t len, struct record_key *k, char *why)
{
	size_t plen;

	memset(k, 0, sizeof(*k));
	if (under(key, len, RECORD_KEY_ENDPOINTS)) {
		k->kind = RECORD_ENDPOINT;
		plen = strlen(RECORD_KEY_ENDPOINTS);
		return endpoint_key(key + plen, len - plen, k, why);
	}
	if (under(key, len, RECORD_KEY_NODES)) {
		k->kind = RECORD_NODE;
		plen = strlen(RECORD_KEY_NODES);
		if (!record_node_name_ok(key + plen, len - plen))
			return refuse(why, "key: node name must be a DNS name");
		k->node = key + plen;
		k->node_len = len - plen;
		return 0;
	}
	if (under(key, len, RECORD_KEY_SERVICES)) {
		k->kind = RECORD_SERVICE;
		plen = strlen(RECORD_KEY_SERVICES);
		return service_key(key + plen, len - plen, k, why);
	}
	if (under(key, len, RECORD_KEY_HINTS)) {
		k->kind = RECORD_HINT;
		plen = strlen(RECORD_KEY_HINTS);
		k->node = key + plen;
		k->node_len = segment(k->node, len - plen);
		if (k->node_len != len - plen || !record_node_name_ok(k->node, k->node_len))
			return refuse(why, "key: want %s<node>", RECORD_KEY_HINTS);
		return 0;
	}
	if (under(key, len, RECORD_KEY_CIDRS)) {
		k->kind = RECORD_CIDR;
		plen = strlen(RECORD_KEY_CIDRS);
		return cidr_key(key + plen, len - plen, k, why);
	}
	if (under(key, len, RECORD_KEY_POLICIES)) {
		k->kind = RECORD_POLICY;
		plen = strlen(RECORD_KEY_POLICIES);
		return object_key(key + plen, len - plen, k, RECORD_KEY_POLICIES, why);
	}
	if (under(key, len, RECORD_KEY_PODS)) {
		k->kind = RECORD_POD;
		plen = strlen(RECORD_KEY_PODS);
		return object_key(key + plen, len - plen, k, RECORD_KEY_PODS, why);
	}
	if (under(key, len, RECORD_KEY_NAMESPACES)) {
		char name[DNS_LABEL_MAX + 2];

		k->kind = RECORD_NAMESPACE;
		plen = strlen(RECORD_KEY_NAMESPACES);
		if (!seg_str(name, sizeof(name), key + plen, len - plen) ||
		    dns_label_problem(name))
			return refuse(why, "key: want %s<name>, a DNS-1123 label",
				      RECORD_KEY_NAMESPACES);
		k->object = key + plen;
		k->object_len = len - plen;
		return 0;
	}
	if (len == strlen(RECORD_KEY_VERSION) && !memcmp(key, RECORD_KEY_VERSION, len))
		k->kind = RECORD_VERSION;
	else
		k->kind = RECORD_OTHER;
	return 0;
}

/* ---- values ---- */

/* A whole value that is a JSON object, or NULL. */
static struct json_object *parse_object(json_tokener *tok, const char *v, size_t len)
{
	struct json_object *o;

	json_tokener_reset_all(tok);
	o = json_tokener_parse_ex(tok, v, len);
	if (!o || json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static const char *obj_str(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static __u64 obj_updated(struct json_object *o)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, "updated", &v))
		return 0;
	return json_object_get_int64(v);
}

static bool ip4_parse(const char *s, __be32 *out)
{
	struct in_addr ia;

	if (!s || inet_pton(AF_INET, s, &ia) != 1 || !ia.s_addr)
		return false;
	*out = ia.s_addr;
	return true;
}

static bool same(const char *s, const char *p, size_t len)
{
	return strlen(s) == len && !memcmp(s, p, len);
}

/*
 * A pod's labels and named ports from o's "labels" and "ports" (both optional), namespace and
 * name given. 0, -EINVAL with why, -ENOMEM; pod holds nothing on error.
 */
static int pod_meta(struct json_object *o, const char *ns, const char *name,
		    struct policy_pod *pod, char *why)
{
	char err[RECORD_WHY_LEN];
	struct json_object *v;
	int ret;

	memset(pod, 0, sizeof(*pod));
	pod->namespace = strdup(ns);
	pod->name = strdup(name);
	if (!pod->namespace || !pod->name) {
		ret = -ENOMEM;
		goto out;
	}
	ret = 0;
	if (json_object_object_get_ex(o, "labels", &v) && v)
		ret = policy_labels_parse(v, "labels", &pod->labels, err, sizeof(err));
	if (!ret && json_object_object_get_ex(o, "ports", &v) && v)
		ret = policy_pod_ports_parse(v, "ports", pod, err, sizeof(err));
	if (ret == -EINVAL)
		refuse(why, "%s", err);
out:
	if (ret)
		policy_pod_free(pod);
	return ret;
}

int record_endpoint_decode(json_tokener *tok, const char *val, size_t len,
			   struct endpoint_rec *r, char *why)
{
	struct json_object *o = parse_object(tok, val, len);
	const char *ns, *pod;
	int err = 0;

	memset(r, 0, sizeof(*r));
	if (!o)
		return refuse(why, "value: not a JSON object");
	ns = obj_str(o, "namespace");
	pod = obj_str(o, "pod");
	if (!obj_str(o, "ip"))
		err = refuse(why, "ip: missing");
	else if (!ip4_parse(obj_str(o, "ip"), &r->ip))
		err = refuse(why, "ip: not an IPv4 address");
	else if (!ip4_parse(obj_str(o, "nodeIP"), &r->node_ip))
		err = refuse(why, "nodeIP: missing or invalid");
	else if (!pod != !ns)
		err = refuse(why, "namespace, pod: give both or neither");
	else if (ns && dns_label_problem(ns))
		err = refuse(why, "namespace: must be a DNS-1123 label");
	else if (pod && dns_subdomain_problem(pod))
		err = refuse(why, "pod: must be a DNS-1123 subdomain");
	else
		r->updated = obj_updated(o);
	if (!err && pod) {
		r->pod = malloc(sizeof(*r->pod));
		err = r->pod ? pod_meta(o, ns, pod, r->pod, why) : -ENOMEM;
		if (err) {
			free(r->pod);
			r->pod = NULL;
		}
	}
	json_object_put(o);
	return err;
}

void record_endpoint_free(struct endpoint_rec *r)
{
	if (r->pod) {
		policy_pod_free(r->pod);
		free(r->pod);
		r->pod = NULL;
	}
}

static int strdup_field(struct json_object *o, const char *name, char **out)
{
	const char *s = obj_str(o, name);

	*out = s ? strdup(s) : NULL;
	return s && !*out ? -ENOMEM : 0;
}

int record_node_decode(json_tokener *tok, const char *name, size_t name_len, const char *val,
		       size_t len, struct node_rec *r, char *why)
{
	struct json_object *o = parse_object(tok, val, len);
	const char *n;
	int err;

	memset(r, 0, sizeof(*r));
	if (!o)
		return refuse(why, "value: not a JSON object");
	n = obj_str(o, "name");
	if (n && !same(n, name, name_len)) {
		json_object_put(o);
		return refuse(why, "name: differs from the key");
	}
	err = strdup_field(o, "nodeIP", &r->node_ip) ?: strdup_field(o, "podCIDR", &r->pod_cidr);
	r->updated = obj_updated(o);
	json_object_put(o);
	return err;
}

void record_node_free(struct node_rec *r)
{
	free(r->node_ip);
	free(r->pod_cidr);
	r->node_ip = r->pod_cidr = NULL;
}

int record_service_decode(json_tokener *tok, const char *id, size_t id_len, const char *val,
			  size_t len, struct service_spec *spec, char *why)
{
	struct json_object *o = parse_object(tok, val, len);
	char err_text[512], spec_id[2 * SVC_NAME_MAX + 2];
	int err;

	memset(spec, 0, sizeof(*spec));
	if (!o)
		return refuse(why, "value: not a JSON object");
	err = service_spec_parse(o, spec, err_text, sizeof(err_text));
	json_object_put(o);
	if (err)
		return refuse(why, "invalid service spec: %s", err_text);
	service_spec_id(spec, spec_id, sizeof(spec_id));
	if (!same(spec_id, id, id_len)) {
		service_spec_free(spec);
		memset(spec, 0, sizeof(*spec));
		return refuse(why, "invalid service spec: namespace/name: the spec says '%s'",
			      spec_id);
	}
	return 0;
}

/* "<namespace>/<name>" of a key into ns and name; false when it does not fit. */
static bool split_id(const char *id, size_t id_len, char *ns, size_t ns_size, char *name,
		     size_t name_size)
{
	size_t n1 = segment(id, id_len);

	return n1 < id_len && seg_str(ns, ns_size, id, n1) &&
	       seg_str(name, name_size, id + n1 + 1, id_len - n1 - 1);
}

int record_policy_decode(json_tokener *tok, const char *id, size_t id_len, const char *val,
			 size_t len, struct policy_spec *spec, char *why)
{
	struct json_object *o = parse_object(tok, val, len);
	char err_text[512], spec_id[DNS_LABEL_MAX + DNS_SUBDOMAIN_MAX + 2];
	int err;

	memset(spec, 0, sizeof(*spec));
	if (!o)
		return refuse(why, "value: not a JSON object");
	err = policy_spec_parse(o, spec, err_text, sizeof(err_text));
	json_object_put(o);
	if (err == -ENOMEM)
		return err;
	if (err)
		return refuse(why, "invalid policy: %s", err_text);
	policy_spec_id(spec, spec_id, sizeof(spec_id));
	if (!same(spec_id, id, id_len)) {
		policy_spec_free(spec);
		memset(spec, 0, sizeof(*spec));
		return refuse(why, "invalid policy: metadata: names '%s', the key another", spec_id);
	}
	return 0;
}

int record_pod_decode(json_tokener *tok, const char *id, size_t id_len, const char *val,
		      size_t len, struct policy_pod *pod, char *why)
{
	struct json_object *o = parse_object(tok, val, len);
	char ns[DNS_LABEL_MAX + 2], name[DNS_SUBDOMAIN_MAX + 2];
	int err;

	memset(pod, 0, sizeof(*pod));
	if (!o)
		return refuse(why, "value: not a JSON object");
	if (!split_id(id, id_len, ns, sizeof(ns), name, sizeof(name)))
		err = refuse(why, "key: want <namespace>/<name>");
	else
		err = pod_meta(o, ns, name, pod, why);
	json_object_put(o);
	return err;
}

int record_namespace_decode(json_tokener *tok, const char *name, size_t name_len,
			    const char *val, size_t len, struct policy_namespace *ns, char *why)
{
	struct json_object *o = parse_object(tok, val, len), *v;
	char err_text[RECORD_WHY_LEN], text[DNS_LABEL_MAX + 2];
	struct label_set labels = { 0 };
	int err = 0;

	memset(ns, 0, sizeof(*ns));
	if (!o)
		return refuse(why, "value: not a JSON object");
	if (!seg_str(text, sizeof(text), name, name_len)) {
		err = refuse(why, "key: namespace name too long");
	} else if (json_object_object_get_ex(o, "labels", &v) && v) {
		err = policy_labels_parse(v, "labels", &labels, err_text, sizeof(err_text));
		if (err == -EINVAL)
			refuse(why, "%s", err_text);
	}
	json_object_put(o);
	if (!err)
		err = policy_namespace_init(ns, text, &labels);
	label_set_free(&labels);
	return err;
}

/* A part of a hint: a number from 0 to 100. */
static int hint_part(struct json_object *o, const char *name, double *out, char *why)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) ||
	    !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
		return refuse(why, "%s: missing or not a number", name);
	*out = json_object_get_double(v);
	if (!(*out >= 0 && *out <= 100))
		return refuse(why, "%s: %g is not from 0 to 100", name, *out);
	return 0;
}

int record_hint_decode(json_tokener *tok, const char *node, size_t node_len, const char *val,
		       size_t len, struct hint_rec *h, char *why)
{
	static const char *const dominant[] = { "cpu", "runq", "memory", "traffic",
						"cpu_pressure" };
	struct json_object *v;
	struct json_object *o = parse_object(tok, val, len);
	const char *n, *d;
	unsigned int i;
	int err;

	memset(h, 0, sizeof(*h));
	if (!o)
		return refuse(why, "value: not a JSON object");
	n = obj_str(o, "node");
	d = obj_str(o, "dominant");
	for (i = 0; d && i < sizeof(dominant) / sizeof(dominant[0]); i++)
		if (!strcmp(d, dominant[i]))
			break;
	if (!n || !same(n, node, node_len))
		err = refuse(why, "node: missing or differs from the key");
	else if (!d || i == sizeof(dominant) / sizeof(dominant[0]))
		err = refuse(why, "dominant: want cpu, cpu_pressure, runq, memory or traffic");
	else
		err = hint_part(o, "score", &h->score, why) ?:
		      hint_part(o, "cpu", &h->cpu, why) ?:
		      hint_part(o, "runq", &h->runq, why) ?:
		      hint_part(o, "memory", &h->memory, why) ?:
		      hint_part(o, "traffic", &h->traffic, why) ?:
		      hint_part(o, "cpu_headroom", &h->cpu_headroom, why);
	/* Newer fields: optional, so that an older agent's record still parses. */
	if (!err && json_object_object_get_ex(o, "cpu_pressure", &v)) {
		err = hint_part(o, "cpu_pressure", &h->cpu_pressure, why);
		h->has_pressure = !err;
	}
	if (!err && json_object_object_get_ex(o, "cpus", &v)) {
		if (!(json_object_is_type(v, json_type_double) ||
		      json_object_is_type(v, json_type_int)))
			err = refuse(why, "cpus: not a number");
		else if (!((h->cpus = json_object_get_double(v)) >= 0 && h->cpus <= 1e6))
			err = refuse(why, "cpus: %g is not from 0 to 1000000", h->cpus);
	}
	if (!err && json_object_object_get_ex(o, "seq", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
			err = refuse(why, "seq: not a count");
		else
			h->seq = json_object_get_int64(v);
	}
	if (!err) {
		snprintf(h->dominant, sizeof(h->dominant), "%s", d);
		h->updated = obj_updated(o);
	}
	json_object_put(o);
	return err;
}

int record_cidr_decode(json_tokener *tok, const char *val, size_t len, char *node, char *why)
{
	struct json_object *o = parse_object(tok, val, len);
	const char *n;
	int err = 0;

	node[0] = '\0';
	if (!o)
		return refuse(why, "value: not a JSON object");
	n = obj_str(o, "node");
	if (!n || !record_node_name_ok(n, strlen(n)))
		err = refuse(why, "node: missing or not a node name");
	else
		snprintf(node, PODLANE_NODE_NAME_LEN, "%s", n);
	json_object_put(o);
	return err;
}

int record_version_check(const char *val, size_t len, char *why)
{
	if (same(RECORD_LAYOUT_VERSION, val, len))
		return 0;
	snprintf(why, RECORD_WHY_LEN, "etcd holds podlane key layout version '%.*s', this agent "
		 "knows '%s'", (int)(len < 31 ? len : 31), val, RECORD_LAYOUT_VERSION);
	return -EPROTONOSUPPORT;
}

/* ---- this node's records out ---- */

static int key_fits(int n, size_t size)
{
	return n >= 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

int record_node_key(char *buf, size_t n, const char *node)
{
	return key_fits(snprintf(buf, n, "%s%s", RECORD_KEY_NODES, node), n);
}

int record_endpoint_key(char *buf, size_t n, const char *node, const char *container_id,
			const char *ifname)
{
	return key_fits(snprintf(buf, n, "%s%s/%s/%s", RECORD_KEY_ENDPOINTS, node, container_id,
				 ifname), n);
}

int record_hint_key(char *buf, size_t n, const char *node)
{
	return key_fits(snprintf(buf, n, "%s%s", RECORD_KEY_HINTS, node), n);
}

int record_cidr_key(char *buf, size_t n, const struct subnet4 *cidr)
{
	char text[CIDR4_STRLEN];

	return key_fits(snprintf(buf, n, "%s%s", RECORD_KEY_CIDRS,
				 cidr4_str(cidr->net, cidr->prefix_len, text)), n);
}

/* The object's text (malloc'ed), and the object put. */
static char *finish(struct json_object *o)
{
	char *text = o ? strdup(json_object_to_json_string_ext(o, VALUE_JSON)) : NULL;

	json_object_put(o);
	return text;
}

static void add_str(struct json_object *o, const char *name, const char *s)
{
	json_object_object_add(o, name, json_object_new_string(s));
}

static void add_ip(struct json_object *o, const char *name, __be32 ip)
{
	char text[INET_ADDRSTRLEN];

	add_str(o, name, inet_ntop(AF_INET, &ip, text, sizeof(text)));
}

char *record_node_encode(const char *name, __be32 node_ip, const char *pod_cidr)
{
	struct json_object *o = json_object_new_object();

	if (o) {
		add_str(o, "name", name);
		add_ip(o, "nodeIP", node_ip);
		if (pod_cidr && pod_cidr[0])
			add_str(o, "podCIDR", pod_cidr);
	}
	return finish(o);
}

/* A pod's "labels" and "ports" into o (both left out when empty). */
static void add_pod_meta(struct json_object *o, const struct policy_pod *pod)
{
	if (pod->labels.n)
		json_object_object_add(o, "labels", label_set_to_json(&pod->labels));
	if (pod->nports)
		json_object_object_add(o, "ports", policy_pod_ports_to_json(pod));
}

char *record_endpoint_encode(const char *node, __be32 node_ip, __be32 ip,
			     const char *container_id, const char *ifname, const char *network,
			     const struct policy_pod *pod)
{
	struct json_object *o = json_object_new_object();

	if (o) {
		add_str(o, "node", node);
		add_ip(o, "nodeIP", node_ip);
		add_ip(o, "ip", ip);
		add_str(o, "containerID", container_id);
		add_str(o, "ifname", ifname);
		add_str(o, "network", network);
		if (pod) {
			add_str(o, "namespace", pod->namespace);
			add_str(o, "pod", pod->name);
			add_pod_meta(o, pod);
		}
	}
	return finish(o);
}

char *record_pod_encode(const struct policy_pod *pod)
{
	struct json_object *o = json_object_new_object();

	if (o)
		add_pod_meta(o, pod);
	return finish(o);
}

static void add_part(struct json_object *o, const char *name, double v)
{
	json_object_object_add(o, name, json_object_new_double((long long)(v * 100 + 0.5) /
							       100.0));
}

char *record_hint_encode(const char *node, const struct hint_rec *h)
{
	struct json_object *o = json_object_new_object();

	if (o) {
		add_str(o, "node", node);
		add_part(o, "score", h->score);
		add_str(o, "dominant", h->dominant[0] ? h->dominant : "cpu");
		add_part(o, "cpu", h->cpu);
		add_part(o, "runq", h->runq);
		add_part(o, "memory", h->memory);
		add_part(o, "traffic", h->traffic);
		add_part(o, "cpu_headroom", h->cpu_headroom);
		if (h->has_pressure)
			add_part(o, "cpu_pressure", h->cpu_pressure);
		if (h->cpus > 0)
			add_part(o, "cpus", h->cpus);
		if (h->seq)
			json_object_object_add(o, "seq", json_object_new_int64(h->seq));
	}
	return finish(o);
}

char *record_cidr_encode(const char *node)
{
	struct json_object *o = json_object_new_object();

	if (o)
		add_str(o, "node", node);
	return finish(o);
}

char *record_stamp(json_tokener *tok, const char *val, __u64 updated_ns, size_t *len)
{
	struct json_object *o = parse_object(tok, val, strlen(val));
	char *text;

	if (!o)
		return NULL;
	json_object_object_add(o, "updated", json_object_new_int64(updated_ns));
	text = finish(o);
	if (text)
		*len = strlen(text);
	return text;
}

char *record_unstamp(json_tokener *tok, const char *val, size_t len)
{
	struct json_object *o = parse_object(tok, val, len);

	if (!o)
		return strdup("");
	json_object_object_del(o, "updated");
	return finish(o);
}
