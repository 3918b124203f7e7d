// SPDX-License-Identifier: GPL-2.0-only
/*
 * labels.c - Kubernetes label syntax, label sets and label selectors; see labels.h. The syntax
 * rules are the API server's (k8s.io/apimachinery/pkg/util/validation): a policy podlane takes
 * is one the API server would take, and the reverse.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static bool is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], n characters of s: 0, or 1 (a character outside
 * the set) or 2 (a first or last character that is not a letter or digit). */
static int name_chars_problem(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return 1;
	if (n && (!is_alnum(s[0]) || !is_alnum(s[n - 1])))
		return 2;
	return 0;
}

const char *dns_subdomain_problem(const char *name)
{
	size_t i, n = strlen(name);

	if (!n)
		return "must not be empty";
	if (n > DNS_SUBDOMAIN_MAX)
		return "must be at most 253 characters (a DNS-1123 subdomain)";
	for (i = 0; i < n; i++) {
		char ch = name[i];
		bool bad;

		if (is_lower_alnum(ch))
			continue;
		if (ch != '-' && ch != '.')
			return "must be a DNS-1123 subdomain: lower-case letters, digits, '-' "
			       "and '.'";
		/* Each dot-separated part starts and ends with a letter or digit. */
		if (ch == '-')
			bad = !i || i + 1 == n || name[i - 1] == '.' || name[i + 1] == '.';
		else
			bad = !i || i + 1 == n || !is_lower_alnum(name[i - 1]) ||
			      !is_lower_alnum(name[i + 1]);
		if (bad)
			return "must be a DNS-1123 subdomain: each '.'-separated part must start "
			       "and end with a lower-case letter or digit";
	}
	return NULL;
}

const char *dns_label_problem(const char *name)
{
	size_t i, n = strlen(name);

	if (!n)
		return "must not be empty";
	if (n > DNS_LABEL_MAX)
		return "must be at most 63 characters (a DNS-1123 label)";
	for (i = 0; i < n; i++) {
		if (is_lower_alnum(name[i]))
			continue;
		if (name[i] != '-')
			return "must be a DNS-1123 label: lower-case letters, digits and '-'";
		if (!i || i + 1 == n)
			return "must be a DNS-1123 label: must start and end with a lower-case "
			       "letter or digit";
	}
	return NULL;
}

const char *label_key_problem(const char *key)
{
	const char *slash = strchr(key, '/'), *name = key;
	size_t n;

	if (slash) {
		char prefix[DNS_SUBDOMAIN_MAX + 1];
		size_t plen = slash - key;

		if (strchr(slash + 1, '/'))
			return "must be a name with an optional prefix: [prefix/]name, one '/'";
		if (!plen)
			return "prefix part must not be empty";
		if (plen > DNS_SUBDOMAIN_MAX)
			return "prefix part must be at most 253 characters";
		memcpy(prefix, key, plen);
		prefix[plen] = '\0';
		if (dns_subdomain_problem(prefix))
			return "prefix part must be a DNS-1123 subdomain (lower-case letters, "
			       "digits, '-' and '.')";
		name = slash + 1;
	}
	n = strlen(name);
	if (!n)
		return "name part must not be empty";
	if (n > LABEL_NAME_MAX)
		return "name part must be at most 63 characters";
	switch (name_chars_problem(name, n)) {
	case 1:
		return "name part may contain only letters, digits, '-', '_' and '.'";
	case 2:
		return "name part must start and end with a letter or digit";
	}
	return NULL;
}

const char *label_value_problem(const char *value)
{
	size_t n = strlen(value);

	if (n > LABEL_VALUE_MAX)
		return "must be at most 63 characters";
	switch (name_chars_problem(value, n)) {
	case 1:
		return "may contain only letters, digits, '-', '_' and '.'";
	case 2:
		return "must start and end with a letter or digit";
	}
	return NULL;
}

const char *port_name_problem(const char *name)
{
	size_t i, n = strlen(name);
	bool letter = false;

	if (!n)
		return "must not be empty";
	if (n > PORT_NAME_MAX)
		return "must be at most 15 characters (an IANA service name)";
	for (i = 0; i < n; i++) {
		char ch = name[i];

		if (ch >= 'a' && ch <= 'z')
			letter = true;
		else if (ch == '-' && i && i + 1 < n && name[i - 1] != '-')
			continue;
		else if (ch == '-')
			return "must not start or end with '-' or hold \"--\" (an IANA service "
			       "name)";
		else if (ch < '0' || ch > '9')
			return "may contain only lower-case letters, digits and '-' (an IANA "
			       "service name)";
	}
	if (!letter)
		return "must contain at least one letter (an IANA service name)";
	return NULL;
}

/* ---- label sets ---- */

/* The index of key, or where it would go (*found false). */
static unsigned int set_find(const struct label_set *set, const char *key, bool *found)
{
	unsigned int lo = 0, hi = set->n;

	*found = false;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		int c = strcmp(set->labels[mid].key, key);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int label_set_add(struct label_set *set, const char *key, const char *value)
{
	unsigned int at;
	struct label *l;
	bool found;
	char *v = strdup(value), *k;

	if (!v)
		return -ENOMEM;
	at = set_find(set, key, &found);
	if (found) {
		free(set->labels[at].value);
		set->labels[at].value = v;
		return 0;
	}
	k = strdup(key);
	l = realloc(set->labels, (set->n + 1) * sizeof(*l));
	if (!k || !l) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	set->labels = l;
	memmove(&l[at + 1], &l[at], (set->n - at) * sizeof(*l));
	l[at].key = k;
	l[at].value = v;
	set->n++;
	return 0;
}

const char *label_set_get(const struct label_set *set, const char *key)
{
	bool found;
	unsigned int at = set_find(set, key, &found);

	return found ? set->labels[at].value : NULL;
}

int label_set_copy(struct label_set *dst, const struct label_set *src)
{
	unsigned int i;

	memset(dst, 0, sizeof(*dst));
	if (!src->n)
		return 0;
	dst->labels = calloc(src->n, sizeof(*dst->labels));
	if (!dst->labels)
		return -ENOMEM;
	for (i = 0; i < src->n; i++) {
		dst->labels[i].key = strdup(src->labels[i].key);
		dst->labels[i].value = strdup(src->labels[i].value);
		dst->n = i + 1;
		if (!dst->labels[i].key || !dst->labels[i].value) {
			label_set_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

void label_set_free(struct label_set *set)
{
	unsigned int i;

	for (i = 0; set->labels && i < set->n; i++) {
		free(set->labels[i].key);
		free(set->labels[i].value);
	}
	free(set->labels);
	set->labels = NULL;
	set->n = 0;
}

bool label_set_equal(const struct label_set *a, const struct label_set *b)
{
	unsigned int i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->labels[i].key, b->labels[i].key) ||
		    strcmp(a->labels[i].value, b->labels[i].value))
			return false;
	return true;
}

struct json_object *label_set_to_json(const struct label_set *set)
{
	struct json_object *o = json_object_new_object();
	unsigned int i;

	for (i = 0; o && i < set->n; i++)
		json_object_object_add(o, set->labels[i].key,
				       json_object_new_string(set->labels[i].value));
	return o;
}

/* ---- selectors ---- */

static const char *const op_names[] = {
	[LABEL_OP_IN] = "In",
	[LABEL_OP_NOT_IN] = "NotIn",
	[LABEL_OP_EXISTS] = "Exists",
	[LABEL_OP_DOES_NOT_EXIST] = "DoesNotExist",
};

const char *label_op_name(enum label_op op)
{
	return (unsigned int)op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : "?";
}

int label_op_parse(const char *name)
{
	unsigned int i;

	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (!strcmp(name, op_names[i]))
			return i;
	return -1;
}

static bool value_in(const struct label_requirement *r, const char *value)
{
	unsigned int i;

	for (i = 0; i < r->nvalues; i++)
		if (!strcmp(r->values[i], value))
			return true;
	return false;
}

static bool requirement_holds(const struct label_requirement *r, const struct label_set *labels)
{
	const char *value = label_set_get(labels, r->key);

	switch (r->op) {
	case LABEL_OP_IN:
		return value && value_in(r, value);
	case LABEL_OP_NOT_IN:
		return !value || !value_in(r, value);
	case LABEL_OP_EXISTS:
		return value;
	case LABEL_OP_DOES_NOT_EXIST:
		return !value;
	}
	return false;
}

bool label_selector_matches(const struct label_selector *sel, const struct label_set *labels)
{
	unsigned int i;

	for (i = 0; i < sel->match_labels.n; i++) {
		const struct label *want = &sel->match_labels.labels[i];
		const char *have = label_set_get(labels, want->key);

		if (!have || strcmp(have, want->value))
			return false;
	}
	for (i = 0; i < sel->nexprs; i++)
		if (!requirement_holds(&sel->exprs[i], labels))
			return false;
	return true;
}

bool label_selector_empty(const struct label_selector *sel)
{
	return !sel->match_labels.n && !sel->nexprs;
}

bool label_selector_equal(const struct label_selector *a, const struct label_selector *b)
{
	unsigned int i, j;

	if (!label_set_equal(&a->match_labels, &b->match_labels) || a->nexprs != b->nexprs)
		return false;
	for (i = 0; i < a->nexprs; i++) {
		const struct label_requirement *p = &a->exprs[i], *q = &b->exprs[i];

		if (strcmp(p->key, q->key) || p->op != q->op || p->nvalues != q->nvalues)
			return false;
		for (j = 0; j < p->nvalues; j++)
			if (strcmp(p->values[j], q->values[j]))
				return false;
	}
	return true;
}

struct json_object *label_selector_to_json(const struct label_selector *sel)
{
	struct json_object *o = json_object_new_object(), *arr;
	unsigned int i, j;

	if (!o)
		return NULL;
	if (sel->match_labels.n)
		json_object_object_add(o, "matchLabels", label_set_to_json(&sel->match_labels));
	if (!sel->nexprs)
		return o;
	arr = json_object_new_array();
	for (i = 0; arr && i < sel->nexprs; i++) {
		const struct label_requirement *r = &sel->exprs[i];
		struct json_object *e = json_object_new_object(), *vals;

		json_object_object_add(e, "key", json_object_new_string(r->key));
		json_object_object_add(e, "operator", json_object_new_string(label_op_name(r->op)));
		if (r->op == LABEL_OP_IN || r->op == LABEL_OP_NOT_IN) {
			vals = json_object_new_array();
			for (j = 0; vals && j < r->nvalues; j++)
				json_object_array_add(vals, json_object_new_string(r->values[j]));
			json_object_object_add(e, "values", vals);
		}
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "matchExpressions", arr);
	return o;
}

void label_requirement_free(struct label_requirement *req)
{
	unsigned int i;

	free(req->key);
	for (i = 0; req->values && i < req->nvalues; i++)
		free(req->values[i]);
	free(req->values);
	memset(req, 0, sizeof(*req));
}

void label_selector_free(struct label_selector *sel)
{
	unsigned int i;

	label_set_free(&sel->match_labels);
	for (i = 0; sel->exprs && i < sel->nexprs; i++)
		label_requirement_free(&sel->exprs[i]);
	free(sel->exprs);
	sel->exprs = NULL;
	sel->nexprs = 0;
}
