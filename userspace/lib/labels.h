/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * labels.h - Kubernetes labels and label selectors, as NetworkPolicy uses them: the syntax the
 * API server checks (label keys and values, DNS-1123 names, IANA service names for named
 * ports), label sets (a pod's or a namespace's labels) and selectors (matchLabels and
 * matchExpressions) with their evaluation. Pure functions: no I/O, no globals. Parsing a
 * selector from JSON is policy_spec.c's job, which reports errors with the field's path.
 *
 * A selector selects a label set when every matchLabels pair is in the set AND every
 * matchExpressions requirement holds:
 *   In            the key is in the set and its value is one of values (values non-empty)
 *   NotIn         the key is not in the set, or its value is none of values (values non-empty)
 *   Exists        the key is in the set, whatever its value (no values)
 *   DoesNotExist  the key is not in the set (no values)
 * An empty selector (no pairs, no requirements) selects every label set.
 */
#ifndef PODLANE_LABELS_H
#define PODLANE_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#define LABEL_NAME_MAX		63	/* the name part of a key, and a value */
#define LABEL_VALUE_MAX		63
#define DNS_SUBDOMAIN_MAX	253	/* also the prefix part of a key */
#define DNS_LABEL_MAX		63
#define PORT_NAME_MAX		15	/* IANA_SVC_NAME */
#define LABEL_SET_MAX		1024	/* labels of one pod or namespace podlane takes */

/*
 * Syntax checks, as k8s.io/apimachinery's validation: NULL when the text is fine, else the
 * reason, a static string that reads after "<field>: ".
 */
const char *label_key_problem(const char *key);		/* [prefix/]name */
const char *label_value_problem(const char *value);		/* may be empty */
const char *dns_subdomain_problem(const char *name);	/* object names (policies) */
const char *dns_label_problem(const char *name);		/* namespaces */
const char *port_name_problem(const char *name);		/* named container ports */

struct label {
	char	*key;		/* malloc'ed */
	char	*value;		/* malloc'ed, may be "" */
};

/* A set of labels: sorted by key (strcmp), each key once. Zeroed = empty. */
struct label_set {
	struct label	*labels;
	unsigned int	n;
};

/* Add key=value, replacing the value of a key already there. 0 or -ENOMEM (set unchanged). */
int label_set_add(struct label_set *set, const char *key, const char *value);
/* The value of key, or NULL when the set has no such key. */
const char *label_set_get(const struct label_set *set, const char *key);
/* A copy of src into dst (dst's old content is not freed). 0 or -ENOMEM (dst zeroed). */
int label_set_copy(struct label_set *dst, const struct label_set *src);
void label_set_free(struct label_set *set);
bool label_set_equal(const struct label_set *a, const struct label_set *b);
/* {"key":"value",...} in key order. New reference. */
struct json_object *label_set_to_json(const struct label_set *set);

enum label_op {
	LABEL_OP_IN,
	LABEL_OP_NOT_IN,
	LABEL_OP_EXISTS,
	LABEL_OP_DOES_NOT_EXIST,
};

/* One matchExpressions entry. */
struct label_requirement {
	char		*key;
	enum label_op	op;
	char		**values;	/* In/NotIn: nvalues >= 1, as written; else none */
	unsigned int	nvalues;
};

struct label_selector {
	struct label_set		match_labels;	/* each key must have exactly this value */
	struct label_requirement	*exprs;		/* each must hold; in the order written */
	unsigned int			nexprs;
};

/* Whether sel selects labels (see the top of this file). */
bool label_selector_matches(const struct label_selector *sel, const struct label_set *labels);
/* Whether sel is empty, i.e. selects every label set. */
bool label_selector_empty(const struct label_selector *sel);
bool label_selector_equal(const struct label_selector *a, const struct label_selector *b);
/* {"matchLabels":{...},"matchExpressions":[...]}, each part only when non-empty. New ref. */
struct json_object *label_selector_to_json(const struct label_selector *sel);
void label_selector_free(struct label_selector *sel);
void label_requirement_free(struct label_requirement *req);

/* "In", "NotIn", "Exists", "DoesNotExist". */
const char *label_op_name(enum label_op op);
/* The operator of that name (case-sensitive, as the API), or -1. */
int label_op_parse(const char *name);

#endif /* PODLANE_LABELS_H */
