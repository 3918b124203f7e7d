// SPDX-License-Identifier: GPL-2.0-only
/*
 * extender.c - kube-scheduler extender requests and replies (extender.h): pure, no I/O.
 *
 * kube-scheduler encodes with Go's encoding/json and types without json tags, so the keys are
 * the Go field names ("Pod", "Nodes", "NodeNames"); Go's decoder matches keys without regard to
 * case, and so does this one (an exact match first). The Pod and the node objects are taken as
 * they come: only what scheduling needs (the pod's name and CPU request, the nodes' names) is
 * read, and the node objects of a NodeList are echoed back as they were sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>

#include "extender.h"

#define CPU_MILLI_MAX	1000000000000ULL	/* 10^9 cores: far past any node */

static int refuse(char *why, size_t len, const char *fmt, const char *arg)
{
	snprintf(why, len, fmt, arg);
	return -EINVAL;
}

/* A member by its Go field name: exact, else the first that matches without case. */
static struct json_object *member(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_is_type(o, json_type_object))
		return NULL;
	if (json_object_object_get_ex(o, name, &v))
		return v;
	json_object_object_foreach(o, k, val) {
		if (!strcasecmp(k, name))
			return val;
	}
	return NULL;
}

static const char *member_str(struct json_object *o, const char *name)
{
	struct json_object *v = member(o, name);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int extender_cpu_milli(const char *s, uint64_t *milli)
{
	/* Value = digits[.digits] * 10^exp * suffix, kept as an integer mantissa and a power. */
	static const struct {
		const char *sfx;
		int pow10;	/* decimal suffixes */
		int pow2;	/* binary suffixes */
	} sfx[] = {
		{ "", 0, 0 }, { "n", -9, 0 }, { "u", -6, 0 }, { "m", -3, 0 }, { "k", 3, 0 },
		{ "M", 6, 0 }, { "G", 9, 0 }, { "T", 12, 0 }, { "P", 15, 0 }, { "E", 18, 0 },
		{ "Ki", 0, 10 }, { "Mi", 0, 20 }, { "Gi", 0, 30 }, { "Ti", 0, 40 },
		{ "Pi", 0, 50 }, { "Ei", 0, 60 },
	};
	unsigned long long mant = 0;
	int digits = 0, frac = 0, exp = 0, i, pow10, pow2 = 0;
	bool dot = false, overflow = false;
	long double v;
	const char *p = s;

	if (!s)
		return -EINVAL;
	if (*p == '+')
		p++;
	for (; (*p >= '0' && *p <= '9') || (*p == '.' && !dot); p++) {
		if (*p == '.') {
			dot = true;
			continue;
		}
		digits++;
		if (mant > 100000000000000000ULL) {
			if (!dot)
				overflow = true;
			continue;	/* digits past 18 significant ones change nothing here */
		}
		mant = mant * 10 + (*p - '0');
		if (dot)
			frac++;
	}
	if (!digits)
		return -EINVAL;
	if ((*p == 'e' || *p == 'E') && p[1] && strchr("+-0123456789", p[1])) {
		int sign = 1, e = 0;

		p++;
		if (*p == '+' || *p == '-')
			sign = *p++ == '-' ? -1 : 1;
		if (!(*p >= '0' && *p <= '9'))
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++)
			if (e < 1000)
				e = e * 10 + (*p - '0');
		exp = sign * e;
	}
	for (i = 0; i < (int)(sizeof(sfx) / sizeof(sfx[0])); i++)
		if (!strcmp(p, sfx[i].sfx))
			break;
	if (i == (int)(sizeof(sfx) / sizeof(sfx[0])))
		return -EINVAL;
	if (exp && sfx[i].sfx[0])
		return -EINVAL;		/* "1e3k" is not a quantity */
	pow10 = 3 + exp + sfx[i].pow10 - frac;	/* millicores */
	pow2 = sfx[i].pow2;
	v = mant;
	if (overflow || pow10 > 40)
		v = CPU_MILLI_MAX;
	else {
		for (; pow10 > 0 && v < CPU_MILLI_MAX; pow10--)
			v *= 10;
		for (; pow10 < 0 && v > 0; pow10++)
			v /= 10;
		for (; pow2 > 0 && v < CPU_MILLI_MAX; pow2--)
			v *= 2;
	}
	if (v > CPU_MILLI_MAX)
		v = CPU_MILLI_MAX;
	*milli = (uint64_t)v;
	if ((long double)*milli < v)
		(*milli)++;		/* MilliValue rounds up */
	return 0;
}

/* A container's CPU request: requests.cpu, else limits.cpu (the API server's default). */
static uint64_t container_cpu(struct json_object *c)
{
	struct json_object *res = member(c, "resources");
	const char *q = member_str(member(res, "requests"), "cpu");
	uint64_t m;

	if (!q)
		q = member_str(member(res, "limits"), "cpu");
	return q && !extender_cpu_milli(q, &m) ? m : 0;
}

/*
 * The pod's effective CPU request as the scheduler counts it: the sum over its containers,
 * or the largest init container's when that is larger, plus spec.overhead.
 */
static uint64_t pod_cpu(struct json_object *spec)
{
	struct json_object *cs = member(spec, "containers");
	struct json_object *ics = member(spec, "initContainers");
	uint64_t sum = 0, init = 0, m;
	const char *q;
	size_t i, n;

	n = json_object_is_type(cs, json_type_array) ? json_object_array_length(cs) : 0;
	for (i = 0; i < n; i++)
		sum += container_cpu(json_object_array_get_idx(cs, i));
	n = json_object_is_type(ics, json_type_array) ? json_object_array_length(ics) : 0;
	for (i = 0; i < n; i++) {
		m = container_cpu(json_object_array_get_idx(ics, i));
		if (m > init)
			init = m;
	}
	if (init > sum)
		sum = init;
	q = member_str(member(spec, "overhead"), "cpu");
	if (q && !extender_cpu_milli(q, &m))
		sum += m;
	return sum > CPU_MILLI_MAX ? CPU_MILLI_MAX : sum;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n < EXTENDER_NAME_LEN;
}

void extender_args_free(struct extender_args *a)
{
	json_object_put(a->root);
	free(a->names);
	free(a->items);
	memset(a, 0, sizeof(*a));
}

static int parse_nodes(struct extender_args *a, struct json_object *nodes,
		       struct json_object *names, char *why, size_t why_len)
{
	struct json_object *list;
	size_t i, n;

	if (names && !json_object_is_type(names, json_type_null)) {
		if (!json_object_is_type(names, json_type_array))
			return refuse(why, why_len, "NodeNames: not an array%s", "");
		a->node_names = true;
		list = names;
	} else if (nodes && !json_object_is_type(nodes, json_type_null)) {
		if (!json_object_is_type(nodes, json_type_object))
			return refuse(why, why_len, "Nodes: not a v1 NodeList object%s", "");
		list = member(nodes, "items");
		if (!list || json_object_is_type(list, json_type_null))
			return 0;	/* an empty NodeList: nothing to filter */
		if (!json_object_is_type(list, json_type_array))
			return refuse(why, why_len, "Nodes.items: not an array%s", "");
	} else {
		return refuse(why, why_len, "neither Nodes nor NodeNames given%s", "");
	}
	n = json_object_array_length(list);
	if (n > EXTENDER_MAX_NODES)
		return refuse(why, why_len, "more than " "65536" " nodes%s", "");
	if (!n)
		return 0;
	a->names = calloc(n, sizeof(*a->names));
	if (!a->node_names)
		a->items = calloc(n, sizeof(*a->items));
	if (!a->names || (!a->node_names && !a->items))
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct json_object *it = json_object_array_get_idx(list, i);
		const char *name;

		if (a->node_names) {
			name = json_object_is_type(it, json_type_string) ?
			       json_object_get_string(it) : NULL;
			if (!name || !name_ok(name))
				return refuse(why, why_len,
					      "NodeNames: an entry is not a node name%s", "");
		} else {
			name = member_str(member(it, "metadata"), "name");
			if (!name || !name_ok(name))
				return refuse(why, why_len,
					      "Nodes.items: a node without metadata.name%s", "");
			a->items[i] = it;
		}
		a->names[i] = name;
	}
	a->nnodes = n;
	return 0;
}

int extender_args_parse(const char *body, size_t len, struct extender_args *a, char *why,
			size_t why_len)
{
	struct json_tokener *tok;
	struct json_object *pod, *meta;
	const char *name, *ns;
	int err;

	memset(a, 0, sizeof(*a));
	why[0] = '\0';
	if (!len)
		return refuse(why, why_len, "empty body: want ExtenderArgs JSON%s", "");
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	a->root = json_tokener_parse_ex(tok, body, len);
	if (!a->root || json_tokener_get_parse_end(tok) != len) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		json_tokener_free(tok);
		json_object_put(a->root);
		a->root = NULL;
		return refuse(why, why_len, "body is not one JSON value: %s",
			      e == json_tokener_success ? "trailing bytes" :
			      json_tokener_error_desc(e));
	}
	json_tokener_free(tok);
	err = -EINVAL;
	if (!json_object_is_type(a->root, json_type_object)) {
		refuse(why, why_len, "body is not a JSON object%s", "");
		goto fail;
	}
	pod = member(a->root, "Pod");
	if (!json_object_is_type(pod, json_type_object)) {
		refuse(why, why_len, "Pod: missing or not a v1 Pod object%s", "");
		goto fail;
	}
	meta = member(pod, "metadata");
	name = member_str(meta, "name");
	ns = member_str(meta, "namespace");
	if (!name || !name_ok(name)) {
		refuse(why, why_len, "Pod.metadata.name: missing or not a name%s", "");
		goto fail;
	}
	if (ns && !name_ok(ns)) {
		refuse(why, why_len, "Pod.metadata.namespace: not a name%s", "");
		goto fail;
	}
	snprintf(a->pod_name, sizeof(a->pod_name), "%s", name);
	snprintf(a->pod_namespace, sizeof(a->pod_namespace), "%s", ns ? ns : "default");
	a->cpu_milli = pod_cpu(member(pod, "spec"));
	err = parse_nodes(a, member(a->root, "Nodes"), member(a->root, "NodeNames"), why,
			  why_len);
	if (!err)
		return 0;
	if (err == -ENOMEM)
		snprintf(why, why_len, "out of memory");
fail:
	extender_args_free(a);
	return err;
}

static char *finish(struct json_object *o)
{
	char *text = NULL;

	if (o) {
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

		text = s ? strdup(s) : NULL;
		json_object_put(o);
	}
	return text;
}

char *extender_filter_reply(const struct extender_args *a, const bool *pass,
			    const char *const *reason)
{
	struct json_object *o = json_object_new_object();
	struct json_object *failed = json_object_new_object();
	struct json_object *list = json_object_new_array();
	struct json_object *nodes = NULL;
	size_t i;

	if (!o || !failed || !list)
		goto fail;
	for (i = 0; i < a->nnodes; i++) {
		if (pass[i]) {
			json_object_array_add(list, a->node_names ?
					      json_object_new_string(a->names[i]) :
					      json_object_get(a->items[i]));
			continue;
		}
		json_object_object_add(failed, a->names[i],
				       json_object_new_string(reason[i] ? reason[i] : ""));
	}
	if (a->node_names) {
		json_object_object_add(o, "Nodes", NULL);
		json_object_object_add(o, "NodeNames", list);
	} else {
		nodes = json_object_new_object();
		if (!nodes)
			goto fail;
		json_object_object_add(nodes, "metadata", json_object_new_object());
		json_object_object_add(nodes, "items", list);
		json_object_object_add(o, "Nodes", nodes);
		json_object_object_add(o, "NodeNames", NULL);
	}
	json_object_object_add(o, "FailedNodes", failed);
	json_object_object_add(o, "FailedAndUnresolvableNodes", json_object_new_object());
	json_object_object_add(o, "Error", json_object_new_string(""));
	return finish(o);
fail:
	json_object_put(o);
	json_object_put(failed);
	json_object_put(list);
	return NULL;
}

char *extender_prioritize_reply(const struct extender_args *a, const int *score)
{
	struct json_object *list = json_object_new_array();
	size_t i;

	if (!list)
		return NULL;
	for (i = 0; i < a->nnodes; i++) {
		struct json_object *h = json_object_new_object();
		int s = score[i] < 0 ? 0 : score[i] > EXTENDER_MAX_SCORE ? EXTENDER_MAX_SCORE :
			score[i];

		if (!h) {
			json_object_put(list);
			return NULL;
		}
		json_object_object_add(h, "Host", json_object_new_string(a->names[i]));
		json_object_object_add(h, "Score", json_object_new_int(s));
		json_object_array_add(list, h);
	}
	return finish(list);
}

char *extender_error_reply(const char *why)
{
	struct json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "Error", json_object_new_string(why ? why : "error"));
	return finish(o);
}
