// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy_encode.c - a parsed NetworkPolicy freed, compared and printed in its canonical JSON
 * form (policy_spec.h), the form podlaned persists and lists: policy_spec_parse() of it gives
 * an equal policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "policy_spec.h"

const char *policy_proto_name(__u8 proto)
{
	return proto == IPPROTO_UDP ? "UDP" : proto == IPPROTO_SCTP ? "SCTP" : "TCP";
}

void policy_cidr_format(const struct policy_cidr *cidr, char *out, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (!inet_ntop(cidr->family, cidr->addr, addr, sizeof(addr)))
		snprintf(addr, sizeof(addr), "?");
	snprintf(out, len, "%s/%u", addr, cidr->prefix_len);
}

void policy_set_free(struct policy_set *set)
{
	unsigned int i;

	for (i = 0; set->items && i < set->n; i++)
		policy_spec_free(&set->items[i]);
	free(set->items);
	set->items = NULL;
	set->n = 0;
}

static void rule_free(struct policy_rule *r)
{
	unsigned int i;

	for (i = 0; r->peers && i < r->npeers; i++) {
		label_selector_free(&r->peers[i].pods);
		label_selector_free(&r->peers[i].namespaces);
		free(r->peers[i].ip_block.except);
	}
	free(r->peers);
	for (i = 0; r->ports && i < r->nports; i++)
		free(r->ports[i].name);
	free(r->ports);
	memset(r, 0, sizeof(*r));
}

static void rules_free(struct policy_rule **rules, unsigned int *n)
{
	unsigned int i;

	for (i = 0; *rules && i < *n; i++)
		rule_free(&(*rules)[i]);
	free(*rules);
	*rules = NULL;
	*n = 0;
}

void policy_spec_free(struct policy_spec *spec)
{
	free(spec->name);
	free(spec->namespace);
	spec->name = spec->namespace = NULL;
	label_selector_free(&spec->pod_selector);
	rules_free(&spec->ingress, &spec->ningress);
	rules_free(&spec->egress, &spec->negress);
	spec->types = 0;
}

static bool cidr_equal(const struct policy_cidr *a, const struct policy_cidr *b)
{
	return a->family == b->family && a->prefix_len == b->prefix_len &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

static bool peer_equal(const struct policy_peer *a, const struct policy_peer *b)
{
	unsigned int i;

	if (a->kind != b->kind)
		return false;
	if (a->kind != POLICY_PEER_IP_BLOCK)
		return label_selector_equal(&a->pods, &b->pods) &&
		       label_selector_equal(&a->namespaces, &b->namespaces);
	if (!cidr_equal(&a->ip_block.cidr, &b->ip_block.cidr) ||
	    a->ip_block.nexcept != b->ip_block.nexcept)
		return false;
	for (i = 0; i < a->ip_block.nexcept; i++)
		if (!cidr_equal(&a->ip_block.except[i], &b->ip_block.except[i]))
			return false;
	return true;
}

static bool port_equal(const struct policy_port *a, const struct policy_port *b)
{
	return a->proto == b->proto && a->port == b->port && a->end_port == b->end_port &&
	       !a->name == !b->name && (!a->name || !strcmp(a->name, b->name));
}

static bool rules_equal(const struct policy_rule *a, const struct policy_rule *b,
			unsigned int n)
{
	unsigned int i, j;

	for (i = 0; i < n; i++) {
		if (a[i].npeers != b[i].npeers || a[i].nports != b[i].nports)
			return false;
		for (j = 0; j < a[i].npeers; j++)
			if (!peer_equal(&a[i].peers[j], &b[i].peers[j]))
				return false;
		for (j = 0; j < a[i].nports; j++)
			if (!port_equal(&a[i].ports[j], &b[i].ports[j]))
				return false;
	}
	return true;
}

bool policy_spec_equal(const struct policy_spec *a, const struct policy_spec *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->namespace, b->namespace) &&
	       a->types == b->types && a->ningress == b->ningress && a->negress == b->negress &&
	       label_selector_equal(&a->pod_selector, &b->pod_selector) &&
	       rules_equal(a->ingress, b->ingress, a->ningress) &&
	       rules_equal(a->egress, b->egress, a->negress);
}

void policy_spec_id(const struct policy_spec *spec, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", spec->namespace, spec->name);
}

static struct json_object *cidr_json(const struct policy_cidr *cidr)
{
	char text[POLICY_CIDR_STRLEN];

	policy_cidr_format(cidr, text, sizeof(text));
	return json_object_new_string(text);
}

static struct json_object *peer_json(const struct policy_peer *p)
{
	struct json_object *o = json_object_new_object(), *b, *ex;
	unsigned int i;

	if (p->kind == POLICY_PEER_PODS || p->kind == POLICY_PEER_PODS_IN_NAMESPACES)
		json_object_object_add(o, "podSelector", label_selector_to_json(&p->pods));
	if (p->kind == POLICY_PEER_NAMESPACES || p->kind == POLICY_PEER_PODS_IN_NAMESPACES)
		json_object_object_add(o, "namespaceSelector",
				       label_selector_to_json(&p->namespaces));
	if (p->kind != POLICY_PEER_IP_BLOCK)
		return o;
	b = json_object_new_object();
	json_object_object_add(b, "cidr", cidr_json(&p->ip_block.cidr));
	if (p->ip_block.nexcept) {
		ex = json_object_new_array();
		for (i = 0; i < p->ip_block.nexcept; i++)
			json_object_array_add(ex, cidr_json(&p->ip_block.except[i]));
		json_object_object_add(b, "except", ex);
	}
	json_object_object_add(o, "ipBlock", b);
	return o;
}

static struct json_object *port_json(const struct policy_port *p)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "protocol", json_object_new_string(policy_proto_name(p->proto)));
	if (p->name)
		json_object_object_add(o, "port", json_object_new_string(p->name));
	else if (p->port)
		json_object_object_add(o, "port", json_object_new_int(p->port));
	if (!p->name && p->end_port != p->port)
		json_object_object_add(o, "endPort", json_object_new_int(p->end_port));
	return o;
}

static struct json_object *rules_json(const struct policy_rule *rules, unsigned int n,
				      const char *peers_key)
{
	struct json_object *arr = json_object_new_array();
	unsigned int i, j;

	for (i = 0; i < n; i++) {
		const struct policy_rule *r = &rules[i];
		struct json_object *o = json_object_new_object(), *list;

		if (r->npeers) {
			list = json_object_new_array();
			for (j = 0; j < r->npeers; j++)
				json_object_array_add(list, peer_json(&r->peers[j]));
			json_object_object_add(o, peers_key, list);
		}
		if (r->nports) {
			list = json_object_new_array();
			for (j = 0; j < r->nports; j++)
				json_object_array_add(list, port_json(&r->ports[j]));
			json_object_object_add(o, "ports", list);
		}
		json_object_array_add(arr, o);
	}
	return arr;
}

struct json_object *policy_spec_to_json(const struct policy_spec *p)
{
	struct json_object *o = json_object_new_object(), *meta, *spec, *types;

	if (!o)
		return NULL;
	json_object_object_add(o, "apiVersion", json_object_new_string(POLICY_API_VERSION));
	json_object_object_add(o, "kind", json_object_new_string(POLICY_KIND));
	meta = json_object_new_object();
	json_object_object_add(meta, "name", json_object_new_string(p->name));
	json_object_object_add(meta, "namespace", json_object_new_string(p->namespace));
	json_object_object_add(o, "metadata", meta);
	spec = json_object_new_object();
	json_object_object_add(spec, "podSelector", label_selector_to_json(&p->pod_selector));
	types = json_object_new_array();
	if (p->types & POLICY_TYPE_INGRESS)
		json_object_array_add(types, json_object_new_string("Ingress"));
	if (p->types & POLICY_TYPE_EGRESS)
		json_object_array_add(types, json_object_new_string("Egress"));
	json_object_object_add(spec, "policyTypes", types);
	json_object_object_add(spec, "ingress", rules_json(p->ingress, p->ningress, "from"));
	json_object_object_add(spec, "egress", rules_json(p->egress, p->negress, "to"));
	json_object_object_add(o, "spec", spec);
	return o;
}


struct json_object *policy_pod_ports_to_json(const struct policy_pod *pod)
{
	struct json_object *list = json_object_new_array(), *o;
	unsigned int i;

	for (i = 0; list && i < pod->nports; i++) {
		o = json_object_new_object();
		if (!o) {
			json_object_put(list);
			return NULL;
		}
		json_object_object_add(o, "name", json_object_new_string(pod->ports[i].name));
		json_object_object_add(o, "containerPort", json_object_new_int(pod->ports[i].port));
		json_object_object_add(o, "protocol",
				       json_object_new_string(policy_proto_name(pod->ports[i].proto)));
		json_object_array_add(list, o);
	}
	return list;
}
