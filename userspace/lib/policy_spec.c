// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy_spec.c - parsing and validation of NetworkPolicy objects; see policy_spec.h. Every
 * error names the field by its path, as the API server does ("spec.ingress[0].from[1]"), and
 * says what is wrong, because the operator or the control plane has to fix the policy from that
 * message alone. User text shows up in messages quoted, escaped and cut to a few dozen bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "policy_spec.h"
#include "yaml_json.h"

#define PATH_LEN	192	/* "items[255].spec.ingress[255].from[255].namespaceSelector..." */
#define QUOTE_LEN	80

struct ctx {
	char		*err;
	size_t		errlen;
	const char	*doc;	/* "document 2", or NULL */
};

static int fail(struct ctx *c, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, const char *where, const char *fmt, ...)
{
	size_t n = 0;
	va_list ap;

	if (!c->errlen)
		return -EINVAL;
	c->err[0] = '\0';
	if (c->doc)
		n = snprintf(c->err, c->errlen, "%s: ", c->doc);
	if (n < c->errlen && *where)
		n += snprintf(c->err + n, c->errlen - n, "%s: ", where);
	if (n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int oom(struct ctx *c)
{
	fail(c, "", "out of memory");
	return -ENOMEM;
}

/*
 * s as a quoted C-like string in buf (QUOTE_LEN bytes): non-printable bytes escaped, cut with
 * "..." after 48 bytes or when the escapes fill buf.
 */
static const char *quote(char *buf, const char *s)
{
	size_t i, n = 0;

	buf[n++] = '"';
	for (i = 0; s[i] && i < 48; i++) {
		unsigned char ch = s[i];

		/* Room for this byte's escape (4) and for "...\"" and the NUL (5). */
		if (n + 4 + 5 > QUOTE_LEN)
			break;
		if (ch == '"' || ch == '\\') {
			buf[n++] = '\\';
			buf[n++] = ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			n += snprintf(buf + n, QUOTE_LEN - n, "\\x%02x", ch);
		} else {
			buf[n++] = ch;
		}
	}
	snprintf(buf + n, QUOTE_LEN - n, "%s\"", s[i] ? "..." : "");
	return buf;
}

/* A path cut short ends in "..." (it cannot be with the limits of policy_spec.h). */
static void path_done(char *out, int n)
{
	if (n < 0 || n >= PATH_LEN)
		strcpy(out + PATH_LEN - 4, "...");
}

static void child(char *out, const char *where, const char *key)
{
	path_done(out, snprintf(out, PATH_LEN, "%s%s%s", where, *where ? "." : "", key));
}

static void item(char *out, const char *where, unsigned int i)
{
	path_done(out, snprintf(out, PATH_LEN, "%s[%u]", where, i));
}

static const char *type_name(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a number with a fraction";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "a list";
	case json_type_string:
		return "a string";
	}
	return "?";
}

/* A present field: NULL when absent or null (null means absent, as in the API). */
static struct json_object *get(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

/* Refuse fields the API does not have: a typo must not pass as a default. */
static int check_fields(struct ctx *c, struct json_object *obj, const char *where,
			const char *const *known)
{
	char q[QUOTE_LEN];

	json_object_object_foreach(obj, key, val) {
		const char *const *k;

		(void)val;
		for (k = known; *k; k++)
			if (!strcmp(key, *k))
				break;
		if (!*k)
			return fail(c, where, "unknown field %s", quote(q, key));
	}
	return 0;
}

static int want_object(struct ctx *c, struct json_object *v, const char *where)
{
	if (!json_object_is_type(v, json_type_object))
		return fail(c, where, "must be an object, got %s", type_name(v));
	return 0;
}

/* A list of at most max entries; absent or null gives 0 entries. */
static int want_list(struct ctx *c, struct json_object *v, const char *where, unsigned int max,
		     unsigned int *n)
{
	*n = 0;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return fail(c, where, "must be a list, got %s", type_name(v));
	*n = json_object_array_length(v);
	if (*n > max)
		return fail(c, where, "%u entries, at most %u", *n, max);
	return 0;
}

/* A string without NUL bytes (json-c and YAML both can carry them). */
static int want_string(struct ctx *c, struct json_object *v, const char *where, const char **out)
{
	if (!json_object_is_type(v, json_type_string))
		return fail(c, where, "must be a string, got %s", type_name(v));
	*out = json_object_get_string(v);
	if (strlen(*out) != (size_t)json_object_get_string_len(v))
		return fail(c, where, "must not contain a NUL character");
	return 0;
}

static void *alloc_array(unsigned int n, size_t size)
{
	return calloc(n ? n : 1, size);
}

/* ---- labels and selectors ---- */

static int parse_labels(struct ctx *c, struct json_object *obj, const char *where,
			struct label_set *set, unsigned int max, bool lower_keys)
{
	char q[QUOTE_LEN], q2[QUOTE_LEN];
	unsigned int n = 0;
	int err;

	if (!obj)
		return 0;
	err = want_object(c, obj, where);
	if (err)
		return err;
	json_object_object_foreach(obj, key, val) {
		char lower[DNS_SUBDOMAIN_MAX + LABEL_NAME_MAX + 2];
		const char *value, *why;
		size_t i;

		if (++n > max)
			return fail(c, where, "more than %u labels", max);
		/* Annotation keys are checked as the API server does: lower-cased. */
		for (i = 0; lower_keys && key[i] && i + 1 < sizeof(lower); i++)
			lower[i] = key[i] >= 'A' && key[i] <= 'Z' ? key[i] - 'A' + 'a' : key[i];
		if (lower_keys)
			lower[i] = '\0';
		why = strlen(key) >= sizeof(lower) ? "is too long" :
		      label_key_problem(lower_keys ? lower : key);
		if (why)
			return fail(c, where, "key %s: %s", quote(q, key), why);
		if (!val || !json_object_is_type(val, json_type_string))
			return fail(c, where, "value of %s must be a string, got %s", quote(q, key),
				    type_name(val));
		err = want_string(c, val, where, &value);
		if (err)
			return err;
		why = lower_keys ? NULL : label_value_problem(value);
		if (why)
			return fail(c, where, "value %s of %s: %s", quote(q, value), quote(q2, key),
				    why);
		if (!lower_keys && label_set_add(set, key, value))
			return oom(c);
	}
	return 0;
}

int policy_labels_parse(struct json_object *obj, const char *where, struct label_set *set,
			char *err, size_t errlen)
{
	struct ctx c = { .err = err, .errlen = errlen };
	int ret;

	memset(set, 0, sizeof(*set));
	if (!obj)
		return fail(&c, where, "must be an object, got null");
	ret = parse_labels(&c, obj, where, set, LABEL_SET_MAX, false);
	if (ret)
		label_set_free(set);
	return ret;
}

static int parse_protocol(struct ctx *c, struct json_object *v, const char *where, __u8 *out);
static int parse_port_number(struct ctx *c, struct json_object *v, const char *where,
			     long *out);

/* One container port; an unnamed one is checked but not kept (no policy can name it). */
static int parse_pod_port(struct ctx *c, struct json_object *obj, const char *where,
			  struct policy_pod *pod)
{
	static const char *const known[] = { "name", "containerPort", "protocol", NULL };
	struct policy_pod_port *pp = &pod->ports[pod->nports];
	struct json_object *name, *port;
	char path[PATH_LEN], q[QUOTE_LEN];
	const char *text = NULL, *why;
	unsigned int i;
	long num = 0;
	int err;

	err = want_object(c, obj, where) ?: check_fields(c, obj, where, known);
	if (err)
		return err;
	child(path, where, "containerPort");
	port = get(obj, "containerPort");
	if (!port)
		return fail(c, path, "required");
	if (!json_object_is_type(port, json_type_int))
		return fail(c, path, "must be an integer, got %s", type_name(port));
	err = parse_port_number(c, port, path, &num);
	if (err)
		return err;
	child(path, where, "protocol");
	err = parse_protocol(c, get(obj, "protocol"), path, &pp->proto);
	if (err)
		return err;
	child(path, where, "name");
	name = get(obj, "name");
	if (!name)
		return 0;
	err = want_string(c, name, path, &text);
	if (err)
		return err;
	why = port_name_problem(text);
	if (why)
		return fail(c, path, "%s: %s", quote(q, text), why);
	for (i = 0; i < pod->nports; i++)
		if (pod->ports[i].proto == pp->proto && !strcmp(pod->ports[i].name, text))
			return fail(c, path, "%s names another %s port already", quote(q, text),
				    policy_proto_name(pp->proto));
	pp->name = strdup(text);
	if (!pp->name)
		return oom(c);
	pp->port = num;
	pod->nports++;
	return 0;
}

int policy_pod_ports_parse(struct json_object *obj, const char *where, struct policy_pod *pod,
			   char *err, size_t errlen)
{
	struct ctx c = { .err = err, .errlen = errlen };
	char path[PATH_LEN];
	unsigned int i, n;
	int ret;

	ret = want_list(&c, obj, where, POLICY_MAX_POD_PORTS, &n);
	if (ret)
		return ret;
	pod->ports = alloc_array(n, sizeof(*pod->ports));
	if (!pod->ports)
		return oom(&c);
	pod->nports = 0;
	for (i = 0; i < n && !ret; i++) {
		item(path, where, i);
		ret = parse_pod_port(&c, json_object_array_get_idx(obj, i), path, pod);
	}
	if (ret) {
		for (i = 0; i < pod->nports; i++)
			free(pod->ports[i].name);
		free(pod->ports);
		pod->ports = NULL;
		pod->nports = 0;
	}
	return ret;
}

static int parse_requirement(struct ctx *c, struct json_object *obj, const char *where,
			     struct label_requirement *r)
{
	static const char *const known[] = { "key", "operator", "values", NULL };
	char path[PATH_LEN], vpath[PATH_LEN], q[QUOTE_LEN];
	struct json_object *v, *values;
	const char *key, *op, *why;
	unsigned int i, n;
	int err, o;

	err = want_object(c, obj, where) ?: check_fields(c, obj, where, known);
	if (err)
		return err;
	child(path, where, "key");
	v = get(obj, "key");
	if (!v)
		return fail(c, path, "required");
	err = want_string(c, v, path, &key);
	if (err)
		return err;
	why = label_key_problem(key);
	if (why)
		return fail(c, path, "%s: %s", quote(q, key), why);
	r->key = strdup(key);
	if (!r->key)
		return oom(c);
	child(path, where, "operator");
	v = get(obj, "operator");
	if (!v)
		return fail(c, path, "required (In, NotIn, Exists or DoesNotExist)");
	err = want_string(c, v, path, &op);
	if (err)
		return err;
	o = label_op_parse(op);
	if (o < 0)
		return fail(c, path, "not a valid selector operator %s: must be In, NotIn, Exists "
			    "or DoesNotExist", quote(q, op));
	r->op = o;
	child(path, where, "values");
	values = get(obj, "values");
	err = want_list(c, values, path, POLICY_MAX_VALUES, &n);
	if (err)
		return err;
	if ((r->op == LABEL_OP_IN || r->op == LABEL_OP_NOT_IN) && !n)
		return fail(c, path, "must be specified when operator is In or NotIn");
	if ((r->op == LABEL_OP_EXISTS || r->op == LABEL_OP_DOES_NOT_EXIST) && n)
		return fail(c, path, "may not be specified when operator is Exists or "
			    "DoesNotExist");
	if (!n)
		return 0;
	r->values = alloc_array(n, sizeof(*r->values));
	if (!r->values)
		return oom(c);
	for (i = 0; i < n; i++) {
		const char *value;

		item(vpath, path, i);
		err = want_string(c, json_object_array_get_idx(values, i), vpath, &value);
		if (err)
			return err;
		why = label_value_problem(value);
		if (why)
			return fail(c, vpath, "%s: %s", quote(q, value), why);
		r->values[i] = strdup(value);
		if (!r->values[i])
			return oom(c);
		r->nvalues = i + 1;
	}
	return 0;
}

static int parse_selector(struct ctx *c, struct json_object *obj, const char *where,
			  struct label_selector *sel)
{
	static const char *const known[] = { "matchLabels", "matchExpressions", NULL };
	char path[PATH_LEN], epath[PATH_LEN];
	struct json_object *exprs;
	unsigned int i, n;
	int err;

	memset(sel, 0, sizeof(*sel));
	if (!obj)
		return 0;
	err = want_object(c, obj, where) ?: check_fields(c, obj, where, known);
	if (err)
		return err;
	child(path, where, "matchLabels");
	err = parse_labels(c, get(obj, "matchLabels"), path, &sel->match_labels,
			   POLICY_MAX_MATCH_LABELS, false);
	if (err)
		return err;
	child(path, where, "matchExpressions");
	exprs = get(obj, "matchExpressions");
	err = want_list(c, exprs, path, POLICY_MAX_EXPRS, &n);
	if (err || !n)
		return err;
	sel->exprs = alloc_array(n, sizeof(*sel->exprs));
	if (!sel->exprs)
		return oom(c);
	sel->nexprs = n;
	for (i = 0; i < n; i++) {
		item(epath, path, i);
		err = parse_requirement(c, json_object_array_get_idx(exprs, i), epath,
					&sel->exprs[i]);
		if (err)
			return err;
	}
	return 0;
}

/* ---- addresses ---- */

static unsigned int family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

const char *policy_cidr_parse(const char *text, struct policy_cidr *out)
{
	static const __u8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const char *slash = strchr(text, '/'), *p;
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned int len = 0, i, bits;

	memset(out, 0, sizeof(*out));
	if (!slash || (size_t)(slash - text) >= sizeof(addr) || !slash[1])
		return "must be a CIDR, e.g. 10.9.8.0/24 or 2001:db8::/64";
	memcpy(addr, text, slash - text);
	addr[slash - text] = '\0';
	out->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(out->family, addr, out->addr) != 1)
		return "must be a CIDR, e.g. 10.9.8.0/24 or 2001:db8::/64 (IPv4 without leading "
		       "0s)";
	bits = family_bits(out->family);
	for (p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9' || p - slash > 3)
			return "must be a CIDR: the prefix length must be a number";
		len = len * 10 + (*p - '0');
	}
	if (slash[1] == '0' && slash[2])
		return "must not have leading 0s in the prefix length";
	if (len > bits)
		return out->family == AF_INET ? "prefix length must be at most 32" :
						"prefix length must be at most 128";
	if (out->family == AF_INET6 && !memcmp(out->addr, mapped, sizeof(mapped)))
		return "must not have an IPv4-mapped IPv6 address";
	out->prefix_len = len;
	for (i = len; i < bits; i++)
		if (out->addr[i / 8] & (0x80 >> (i % 8)))
			return "must not have bits set beyond the prefix length";
	return NULL;
}

static int parse_cidr(struct ctx *c, struct json_object *v, const char *where,
		      struct policy_cidr *out)
{
	char q[QUOTE_LEN];
	const char *text, *why;
	int err;

	if (!v)
		return fail(c, where, "required");
	err = want_string(c, v, where, &text);
	if (err)
		return err;
	why = policy_cidr_parse(text, out);
	if (why)
		return fail(c, where, "%s: %s", quote(q, text), why);
	return 0;
}

static int parse_ip_block(struct ctx *c, struct json_object *obj, const char *where,
			  struct policy_ip_block *b)
{
	static const char *const known[] = { "cidr", "except", NULL };
	char path[PATH_LEN], epath[PATH_LEN], net[POLICY_CIDR_STRLEN], q[QUOTE_LEN];
	struct json_object *except;
	unsigned int i, n;
	int err;

	err = want_object(c, obj, where) ?: check_fields(c, obj, where, known);
	if (err)
		return err;
	child(path, where, "cidr");
	err = parse_cidr(c, get(obj, "cidr"), path, &b->cidr);
	if (err)
		return err;
	child(path, where, "except");
	except = get(obj, "except");
	err = want_list(c, except, path, POLICY_MAX_EXCEPT, &n);
	if (err || !n)
		return err;
	b->except = alloc_array(n, sizeof(*b->except));
	if (!b->except)
		return oom(c);
	policy_cidr_format(&b->cidr, net, sizeof(net));
	for (i = 0; i < n; i++) {
		struct policy_cidr *e = &b->except[i];
		struct json_object *v = json_object_array_get_idx(except, i);

		item(epath, path, i);
		err = parse_cidr(c, v, epath, e);
		if (err)
			return err;
		if (e->prefix_len <= b->cidr.prefix_len ||
		    !policy_cidr_contains(&b->cidr, e->family, e->addr))
			return fail(c, epath, "%s must be a strict subset of cidr %s",
				    quote(q, json_object_get_string(v)), net);
		b->nexcept = i + 1;
	}
	return 0;
}

/* ---- peers, ports, rules ---- */

static int parse_peer(struct ctx *c, struct json_object *obj, const char *where,
		      struct policy_peer *peer)
{
	static const char *const known[] = { "podSelector", "namespaceSelector", "ipBlock", NULL };
	struct json_object *pods, *nss, *ipb;
	char path[PATH_LEN];
	int err;

	err = want_object(c, obj, where) ?: check_fields(c, obj, where, known);
	if (err)
		return err;
	pods = get(obj, "podSelector");
	nss = get(obj, "namespaceSelector");
	ipb = get(obj, "ipBlock");
	if (!pods && !nss && !ipb)
		return fail(c, where, "must specify a peer: podSelector, namespaceSelector or "
			    "ipBlock");
	if (ipb && (pods || nss))
		return fail(c, where, "may not specify both ipBlock and another peer");
	if (ipb) {
		peer->kind = POLICY_PEER_IP_BLOCK;
		child(path, where, "ipBlock");
		return parse_ip_block(c, ipb, path, &peer->ip_block);
	}
	peer->kind = !nss ? POLICY_PEER_PODS : !pods ? POLICY_PEER_NAMESPACES :
		     POLICY_PEER_PODS_IN_NAMESPACES;
	child(path, where, "podSelector");
	err = parse_selector(c, pods, path, &peer->pods);
	if (err)
		return err;
	child(path, where, "namespaceSelector");
	return parse_selector(c, nss, path, &peer->namespaces);
}

static int parse_port_number(struct ctx *c, struct json_object *v, const char *where,
			     long *out)
{
	int64_t n = json_object_get_int64(v);

	if (n < 1 || n > 65535)
		return fail(c, where, "must be from 1 to 65535, got %lld", (long long)n);
	*out = n;
	return 0;
}

/* "TCP", "UDP" or "SCTP"; absent: TCP, as the API defaults it. */
static int parse_protocol(struct ctx *c, struct json_object *v, const char *where, __u8 *out)
{
	char q[QUOTE_LEN];
	const char *text;
	int err;

	*out = IPPROTO_TCP;
	if (!v)
		return 0;
	err = want_string(c, v, where, &text);
	if (err)
		return err;
	if (!strcmp(text, "UDP"))
		*out = IPPROTO_UDP;
	else if (!strcmp(text, "SCTP"))
		*out = IPPROTO_SCTP;
	else if (strcmp(text, "TCP"))
		return fail(c, where, "must be \"TCP\", \"UDP\" or \"SCTP\", got %s",
			    quote(q, text));
	return 0;
}

static int parse_port(struct ctx *c, struct json_object *obj, const char *where,
		      struct policy_port *pp)
{
	static const char *const known[] = { "protocol", "port", "endPort", NULL };
	struct json_object *proto, *port, *end;
	char path[PATH_LEN], q[QUOTE_LEN];
	const char *text, *why;
	long num = 0, last = 0;
	int err;

	err = want_object(c, obj, where) ?: check_fields(c, obj, where, known);
	if (err)
		return err;
	proto = get(obj, "protocol");
	port = get(obj, "port");
	end = get(obj, "endPort");
	child(path, where, "protocol");
	err = parse_protocol(c, proto, path, &pp->proto);
	if (err)
		return err;
	child(path, where, "port");
	if (port && json_object_is_type(port, json_type_int)) {
		err = parse_port_number(c, port, path, &num);
		if (err)
			return err;
		pp->port = pp->end_port = num;
	} else if (port && json_object_is_type(port, json_type_string)) {
		err = want_string(c, port, path, &text);
		if (err)
			return err;
		why = port_name_problem(text);
		if (why)
			return fail(c, path, "%s: %s", quote(q, text), why);
		pp->name = strdup(text);
		if (!pp->name)
			return oom(c);
	} else if (port) {
		return fail(c, path, "must be a port number or a port name, got %s",
			    type_name(port));
	}
	child(path, where, "endPort");
	if (!end)
		return 0;
	if (!port)
		return fail(c, path, "may not be specified when port is not specified");
	if (pp->name)
		return fail(c, path, "may not be specified when port is non-numeric");
	if (!json_object_is_type(end, json_type_int))
		return fail(c, path, "must be an integer, got %s", type_name(end));
	err = parse_port_number(c, end, path, &last);
	if (err)
		return err;
	if (last < num)
		return fail(c, path, "must be greater than or equal to port (%ld), got %ld", num,
			    last);
	pp->end_port = last;
	return 0;
}

static int parse_rule(struct ctx *c, struct json_object *obj, const char *where,
		      const char *peers_key, struct policy_rule *rule)
{
	const char *const known[] = { peers_key, "ports", NULL };
	struct json_object *peers, *ports;
	char path[PATH_LEN], ipath[PATH_LEN];
	unsigned int i, n;
	int err;

	err = want_object(c, obj, where) ?: check_fields(c, obj, where, known);
	if (err)
		return err;
	child(path, where, "ports");
	ports = get(obj, "ports");
	err = want_list(c, ports, path, POLICY_MAX_PORTS, &n);
	if (err)
		return err;
	if (n) {
		rule->ports = alloc_array(n, sizeof(*rule->ports));
		if (!rule->ports)
			return oom(c);
		rule->nports = n;
	}
	for (i = 0; i < n; i++) {
		item(ipath, path, i);
		err = parse_port(c, json_object_array_get_idx(ports, i), ipath, &rule->ports[i]);
		if (err)
			return err;
	}
	child(path, where, peers_key);
	peers = get(obj, peers_key);
	err = want_list(c, peers, path, POLICY_MAX_PEERS, &n);
	if (err || !n)
		return err;
	rule->peers = alloc_array(n, sizeof(*rule->peers));
	if (!rule->peers)
		return oom(c);
	rule->npeers = n;
	for (i = 0; i < n; i++) {
		item(ipath, path, i);
		err = parse_peer(c, json_object_array_get_idx(peers, i), ipath, &rule->peers[i]);
		if (err)
			return err;
	}
	return 0;
}

static int parse_rules(struct ctx *c, struct json_object *spec, const char *where,
		       const char *key, const char *peers_key, struct policy_rule **rules,
		       unsigned int *nrules)
{
	struct json_object *list = get(spec, key);
	char path[PATH_LEN], ipath[PATH_LEN];
	unsigned int i, n;
	int err;

	child(path, where, key);
	err = want_list(c, list, path, POLICY_MAX_RULES, &n);
	if (err || !n)
		return err;
	*rules = alloc_array(n, sizeof(**rules));
	if (!*rules)
		return oom(c);
	*nrules = n;
	for (i = 0; i < n; i++) {
		item(ipath, path, i);
		err = parse_rule(c, json_object_array_get_idx(list, i), ipath, peers_key,
				 &(*rules)[i]);
		if (err)
			return err;
	}
	return 0;
}

static int parse_types(struct ctx *c, struct json_object *spec, const char *where,
		       struct policy_spec *p)
{
	struct json_object *list = get(spec, "policyTypes");
	char path[PATH_LEN], ipath[PATH_LEN], q[QUOTE_LEN];
	unsigned int i, n;
	int err;

	child(path, where, "policyTypes");
	if (list && json_object_is_type(list, json_type_array) &&
	    json_object_array_length(list) > 2)
		return fail(c, path, "may not specify more than two policyTypes");
	err = want_list(c, list, path, 2, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		const char *type;

		item(ipath, path, i);
		err = want_string(c, json_object_array_get_idx(list, i), ipath, &type);
		if (err)
			return err;
		if (!strcmp(type, "Ingress"))
			p->types |= POLICY_TYPE_INGRESS;
		else if (!strcmp(type, "Egress"))
			p->types |= POLICY_TYPE_EGRESS;
		else
			return fail(c, ipath, "must be \"Ingress\" or \"Egress\", got %s",
				    quote(q, type));
	}
	/* The API server's defaulting: Ingress always, Egress when there is an egress rule. */
	if (!p->types)
		p->types = POLICY_TYPE_INGRESS | (p->negress ? POLICY_TYPE_EGRESS : 0);
	return 0;
}

static int parse_spec(struct ctx *c, struct json_object *spec, const char *where,
		      struct policy_spec *p)
{
	static const char *const known[] = { "podSelector", "policyTypes", "ingress", "egress",
					     NULL };
	char path[PATH_LEN];
	int err;

	if (!spec)
		return fail(c, where, "required");
	err = want_object(c, spec, where) ?: check_fields(c, spec, where, known);
	if (err)
		return err;
	child(path, where, "podSelector");
	return parse_selector(c, get(spec, "podSelector"), path, &p->pod_selector) ?:
	       parse_rules(c, spec, where, "ingress", "from", &p->ingress, &p->ningress) ?:
	       parse_rules(c, spec, where, "egress", "to", &p->egress, &p->negress) ?:
	       parse_types(c, spec, where, p);
}

static int parse_metadata(struct ctx *c, struct json_object *meta, const char *where,
			  struct policy_spec *p)
{
	/* What a user writes, then what the API server adds (kubectl get -o yaml): ignored. */
	static const char *const known[] = { "name", "namespace", "labels", "annotations", "uid",
					     "resourceVersion", "generation", "creationTimestamp",
					     "managedFields", NULL };
	struct label_set labels = {};
	char path[PATH_LEN], q[QUOTE_LEN];
	const char *name, *ns = "", *why;
	struct json_object *v;
	int err;

	if (!meta)
		return fail(c, where, "required (name, namespace)");
	err = want_object(c, meta, where) ?: check_fields(c, meta, where, known);
	if (err)
		return err;
	child(path, where, "name");
	v = get(meta, "name");
	if (!v)
		return fail(c, path, "required");
	err = want_string(c, v, path, &name);
	if (err)
		return err;
	why = dns_subdomain_problem(name);
	if (why)
		return fail(c, path, "%s: %s", quote(q, name), why);
	child(path, where, "namespace");
	v = get(meta, "namespace");
	if (v) {
		err = want_string(c, v, path, &ns);
		if (err)
			return err;
		why = *ns ? dns_label_problem(ns) : NULL;
		if (why)
			return fail(c, path, "%s: %s", quote(q, ns), why);
	}
	child(path, where, "labels");
	err = parse_labels(c, get(meta, "labels"), path, &labels, LABEL_SET_MAX, false);
	label_set_free(&labels);
	if (err)
		return err;
	child(path, where, "annotations");
	err = parse_labels(c, get(meta, "annotations"), path, NULL, LABEL_SET_MAX, true);
	if (err)
		return err;
	p->name = strdup(name);
	p->namespace = strdup(*ns ? ns : POLICY_DEFAULT_NAMESPACE);
	if (!p->name || !p->namespace)
		return oom(c);
	return 0;
}

static int want_exact(struct ctx *c, struct json_object *obj, const char *where,
		      const char *key, const char *want)
{
	struct json_object *v = get(obj, key);
	char path[PATH_LEN], q[QUOTE_LEN];
	const char *text;
	int err;

	child(path, where, key);
	if (!v)
		return fail(c, path, "required: \"%s\"", want);
	err = want_string(c, v, path, &text);
	if (err)
		return err;
	if (strcmp(text, want))
		return fail(c, path, "must be \"%s\", got %s", want, quote(q, text));
	return 0;
}

static int parse_policy(struct ctx *c, struct json_object *obj, const char *where,
			struct policy_spec *p)
{
	static const char *const known[] = { "apiVersion", "kind", "metadata", "spec", NULL };
	char path[PATH_LEN], meta[PATH_LEN];
	int err;

	memset(p, 0, sizeof(*p));
	if (!obj || !json_object_is_type(obj, json_type_object))
		err = fail(c, where, "a NetworkPolicy must be an object, got %s", type_name(obj));
	else
		err = check_fields(c, obj, where, known) ?:
		      want_exact(c, obj, where, "apiVersion", POLICY_API_VERSION) ?:
		      want_exact(c, obj, where, "kind", POLICY_KIND);
	if (!err) {
		child(meta, where, "metadata");
		child(path, where, "spec");
		err = parse_metadata(c, get(obj, "metadata"), meta, p) ?:
		      parse_spec(c, get(obj, "spec"), path, p);
	}
	if (err)
		policy_spec_free(p);
	return err;
}

int policy_spec_parse(struct json_object *obj, struct policy_spec *spec, char *err,
		      size_t errlen)
{
	struct ctx c = { .err = err, .errlen = errlen };

	return parse_policy(&c, obj, "", spec);
}

/* ---- texts and sets of policies ---- */

static bool is_list(struct json_object *doc)
{
	struct json_object *kind = get(doc, "kind");
	const char *k;

	if (!json_object_is_type(doc, json_type_object) || !kind ||
	    !json_object_is_type(kind, json_type_string))
		return false;
	k = json_object_get_string(kind);
	return !strcmp(k, "List") || !strcmp(k, "NetworkPolicyList");
}

/* Parse doc's policy (or its items, for a List) into set; c->doc labels the document. */
static int set_add_doc(struct ctx *c, struct json_object *doc, struct policy_set *set)
{
	static const char *const known[] = { "apiVersion", "kind", "metadata", "items", NULL };
	struct json_object *items;
	char path[PATH_LEN];
	unsigned int i, n;
	int err;

	if (!is_list(doc)) {
		if (set->n == POLICY_MAX_SET)
			return fail(c, "", "more than %d policies", POLICY_MAX_SET);
		err = parse_policy(c, doc, "", &set->items[set->n]);
		if (!err)
			set->n++;
		return err;
	}
	err = check_fields(c, doc, "", known) ?:
	      want_exact(c, doc, "", "apiVersion",
			 strcmp(json_object_get_string(get(doc, "kind")), "List") ?
			 POLICY_API_VERSION : "v1");
	if (err)
		return err;
	items = get(doc, "items");
	err = want_list(c, items, "items", POLICY_MAX_SET, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (set->n == POLICY_MAX_SET)
			return fail(c, "", "more than %d policies", POLICY_MAX_SET);
		item(path, "items", i);
		err = parse_policy(c, json_object_array_get_idx(items, i), path,
				   &set->items[set->n]);
		if (err)
			return err;
		set->n++;
	}
	return 0;
}

static int set_from_docs(struct ctx *c, struct json_object *docs, struct policy_set *set)
{
	unsigned int d, i, j, ndocs = json_object_array_length(docs);
	char label[32], ida[2 * DNS_SUBDOMAIN_MAX + 2], q[QUOTE_LEN];
	int err;

	set->items = calloc(POLICY_MAX_SET, sizeof(*set->items));
	if (!set->items)
		return oom(c);
	for (d = 0; d < ndocs; d++) {
		struct json_object *doc = json_object_array_get_idx(docs, d);

		if (!doc)	/* an empty document of a stream */
			continue;
		snprintf(label, sizeof(label), "document %u", d + 1);
		c->doc = ndocs > 1 ? label : NULL;
		err = set_add_doc(c, doc, set);
		if (err)
			return err;
	}
	c->doc = NULL;
	if (!set->n)
		return fail(c, "", "no NetworkPolicy in the text");
	for (i = 1; i < set->n; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(set->items[i].name, set->items[j].name) ||
			    strcmp(set->items[i].namespace, set->items[j].namespace))
				continue;
			policy_spec_id(&set->items[i], ida, sizeof(ida));
			return fail(c, "", "policy %s appears twice (policies %u and %u of the "
				    "text)", quote(q, ida), j + 1, i + 1);
		}
	}
	return 0;
}

int policy_set_parse_text(const char *text, size_t len, struct policy_set *set, char *err,
			  size_t errlen)
{
	struct ctx c = { .err = err, .errlen = errlen };
	struct json_object *docs;
	int ret;

	memset(set, 0, sizeof(*set));
	ret = text_to_json(text, len, &docs, err, errlen);
	if (ret == -ENOMEM)
		return oom(&c);
	if (ret)
		return ret;
	ret = set_from_docs(&c, docs, set);
	json_object_put(docs);
	if (ret)
		policy_set_free(set);
	return ret;
}

int policy_spec_parse_text(const char *text, size_t len, struct policy_spec *spec, char *err,
			   size_t errlen)
{
	struct ctx c = { .err = err, .errlen = errlen };
	struct policy_set set;
	int ret;

	memset(spec, 0, sizeof(*spec));
	ret = policy_set_parse_text(text, len, &set, err, errlen);
	if (ret)
		return ret;
	if (set.n != 1) {
		fail(&c, "", "the text holds %u policies, one expected", set.n);
		policy_set_free(&set);
		return -EINVAL;
	}
	*spec = set.items[0];
	memset(&set.items[0], 0, sizeof(set.items[0]));
	policy_set_free(&set);
	return 0;
}
