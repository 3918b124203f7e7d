// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_records.c - every etcd record kind podlaned decodes (userspace/podlaned/sync/records.c),
 * as the sync's I/O thread gets them (io.c: record_in): keys and values as byte strings, one
 * after another through one json_tokener, as a list or a watch delivers them. The input is one
 * to four records separated by NUL bytes (more are ignored), each the key, a newline, then the
 * value (a key holding a newline or a NUL cannot be expressed, and no record key may hold
 * one). The key is classified and checked, then the value decoded as its kind says, with the
 * checks the main thread adds (nodes/record.c: node_record_parse for a node). What decodes
 * must survive this node's own encoder (the same record written back decodes to the same);
 * record_stamp and record_unstamp (the publisher's comparison of what etcd holds) must agree
 * with each other on any value; and a record must decode the same through the shared
 * tokener as through a fresh one, whatever came before it.
 */
#include <errno.h>
#include <math.h>
#include <arpa/inet.h>

#include "fuzz.h"
#include "api.h"
#include "podlane.h"
#include "policy_spec.h"
#include "service_spec.h"
#include "sync/records.h"
#include "nodes/nodes.h"

static json_tokener *tok;

static void check_key(const char *key, size_t len, const struct record_key *k)
{
	const char *end = key + len;

	if (k->node)
		FUZZ_CHECK(k->node >= key && k->node + k->node_len <= end &&
			   record_node_name_ok(k->node, k->node_len), "node outside the key");
	if (k->container_id)
		FUZZ_CHECK(k->container_id > key && k->container_id + k->container_id_len <= end &&
			   k->container_id_len && k->container_id_len < PODLANE_CONTAINER_ID_LEN,
			   "container id outside the key");
	if (k->ifname)
		FUZZ_CHECK(k->ifname > key && k->ifname + k->ifname_len == end &&
			   k->ifname_len && k->ifname_len < PODLANE_IFNAME_LEN,
			   "ifname outside the key");
	if (k->service)
		FUZZ_CHECK(k->service > key && k->service + k->service_len == end &&
			   memchr(k->service, '/', k->service_len), "service id outside the key");
	if (k->object)
		FUZZ_CHECK(k->object > key && k->object + k->object_len == end && k->object_len,
			   "object name outside the key");
}

static bool pod_equal(const struct policy_pod *a, const struct policy_pod *b)
{
	unsigned int i;

	if (strcmp(a->namespace, b->namespace) || strcmp(a->name, b->name) ||
	    !label_set_equal(&a->labels, &b->labels) || a->nports != b->nports)
		return false;
	for (i = 0; i < a->nports; i++)
		if (strcmp(a->ports[i].name, b->ports[i].name) ||
		    a->ports[i].proto != b->ports[i].proto || a->ports[i].port != b->ports[i].port)
			return false;
	return true;
}

static void endpoint(const struct record_key *k, const char *val, size_t len)
{
	char why[RECORD_WHY_LEN] = "", node[PODLANE_NODE_NAME_LEN], *text;
	char cid[PODLANE_CONTAINER_ID_LEN], ifname[PODLANE_IFNAME_LEN];
	struct endpoint_rec r, again;

	if (record_endpoint_decode(tok, val, len, &r, why)) {
		FUZZ_CHECK_MSG(why);
		return;
	}
	FUZZ_CHECK(r.ip && r.node_ip, "endpoint decoded without its addresses");
	snprintf(node, sizeof(node), "%.*s", (int)k->node_len, k->node);
	snprintf(cid, sizeof(cid), "%.*s", (int)k->container_id_len, k->container_id);
	snprintf(ifname, sizeof(ifname), "%.*s", (int)k->ifname_len, k->ifname);
	text = record_endpoint_encode(node, r.node_ip, r.ip, cid, ifname, "net", r.pod);
	FUZZ_CHECK(text, "encode failed");
	FUZZ_CHECK(!record_endpoint_decode(tok, text, strlen(text), &again, why) &&
		   again.ip == r.ip && again.node_ip == r.node_ip && !again.pod == !r.pod &&
		   (!r.pod || pod_equal(r.pod, again.pod)),
		   "this node's own endpoint record does not decode the same: %s", text);
	free(text);
	record_endpoint_free(&again);
	record_endpoint_free(&r);
}

static void policy(const struct record_key *k, const char *val, size_t len)
{
	char why[RECORD_WHY_LEN] = "";
	struct policy_spec spec, again;
	struct json_object *o;
	const char *text;

	if (record_policy_decode(tok, k->object, k->object_len, val, len, &spec, why)) {
		FUZZ_CHECK_MSG(why);
		FUZZ_CHECK(!spec.name && !spec.ingress && !spec.egress,
			   "failed decode left memory behind");
		return;
	}
	o = policy_spec_to_json(&spec);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	FUZZ_CHECK(!record_policy_decode(tok, k->object, k->object_len, text, strlen(text),
					 &again, why) && policy_spec_equal(&spec, &again),
		   "the policy written back does not decode the same: %s (%s)", text, why);
	policy_spec_free(&again);
	json_object_put(o);
	policy_spec_free(&spec);
}

static void pod(const struct record_key *k, const char *val, size_t len)
{
	char why[RECORD_WHY_LEN] = "", *text;
	struct policy_pod p, again;

	if (record_pod_decode(tok, k->object, k->object_len, val, len, &p, why)) {
		FUZZ_CHECK_MSG(why);
		FUZZ_CHECK(!p.name && !p.ports, "failed decode left memory behind");
		return;
	}
	text = record_pod_encode(&p);
	FUZZ_CHECK(text, "encode failed");
	FUZZ_CHECK(!record_pod_decode(tok, k->object, k->object_len, text, strlen(text), &again,
				      why) && pod_equal(&p, &again),
		   "the pod written back does not decode the same: %s (%s)", text, why);
	free(text);
	policy_pod_free(&again);
	policy_pod_free(&p);
}

static void namespace(const struct record_key *k, const char *val, size_t len)
{
	char why[RECORD_WHY_LEN] = "";
	struct policy_namespace ns;
	const char *v;

	if (record_namespace_decode(tok, k->object, k->object_len, val, len, &ns, why)) {
		FUZZ_CHECK_MSG(why);
		return;
	}
	v = label_set_get(&ns.labels, POLICY_NS_NAME_LABEL);
	FUZZ_CHECK(v && !strcmp(v, ns.name) && strlen(ns.name) == k->object_len &&
		   !memcmp(ns.name, k->object, k->object_len),
		   "namespace without its implied name label");
	policy_namespace_free(&ns);
}

static void node(const struct record_key *k, const char *val, size_t len)
{
	char why[RECORD_WHY_LEN] = "", name[PODLANE_NODE_NAME_LEN], ip[INET_ADDRSTRLEN];
	char cidr[CIDR4_STRLEN], *text;
	struct node_rec r, again;
	struct node_record n;
	struct api_error e = {};
	int err;

	err = record_node_decode(tok, k->node, k->node_len, val, len, &r, why);
	if (err) {
		FUZZ_CHECK(err == -EINVAL || err == -ENOMEM, "unexpected error %d", err);
		if (err == -EINVAL)
			FUZZ_CHECK_MSG(why);
		record_node_free(&r);
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)k->node_len, k->node);
	/* The main thread's step (sync/apply.c): a node without a CIDR waits. */
	if (r.pod_cidr && node_record_parse(&n, name, r.node_ip ? r.node_ip : "", r.pod_cidr,
					    &e)) {
		FUZZ_CHECK(e.code && e.msg[0], "refused without a reason");
	} else if (r.pod_cidr) {
		text = record_node_encode(n.name, n.node_ip,
					  cidr4_str(n.pod_cidr, n.pod_cidr_len, cidr));
		FUZZ_CHECK(text, "encode failed");
		FUZZ_CHECK(!record_node_decode(tok, name, strlen(name), text, strlen(text), &again,
					       why) && again.node_ip && again.pod_cidr &&
			   !strcmp(again.node_ip, ip4_str(n.node_ip, ip)) &&
			   !strcmp(again.pod_cidr, cidr),
			   "this node's own node record does not decode the same: %s", text);
		record_node_free(&again);
		free(text);
	}
	record_node_free(&r);
}

static void service(const struct record_key *k, const char *val, size_t len)
{
	char why[RECORD_WHY_LEN] = "";
	struct service_spec spec, again;
	struct json_object *o;
	const char *text;

	if (record_service_decode(tok, k->service, k->service_len, val, len, &spec, why)) {
		FUZZ_CHECK_MSG(why);
		FUZZ_CHECK(!spec.name && !spec.backends, "failed decode left memory behind");
		return;
	}
	o = service_spec_to_json(&spec);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	FUZZ_CHECK(!record_service_decode(tok, k->service, k->service_len, text, strlen(text),
					  &again, why) && service_spec_equal(&spec, &again),
		   "the spec written back does not decode the same: %s (%s)", text, why);
	service_spec_free(&again);
	json_object_put(o);
	service_spec_free(&spec);
}

static void hint(const struct record_key *k, const char *val, size_t len)
{
	char why[RECORD_WHY_LEN] = "", name[PODLANE_NODE_NAME_LEN], *text;
	struct hint_rec h, again;

	if (record_hint_decode(tok, k->node, k->node_len, val, len, &h, why)) {
		FUZZ_CHECK_MSG(why);
		return;
	}
	FUZZ_CHECK(h.score >= 0 && h.score <= 100 && h.cpu_headroom >= 0 &&
		   h.cpu_headroom <= 100 && h.dominant[0], "hint out of range");
	snprintf(name, sizeof(name), "%.*s", (int)k->node_len, k->node);
	text = record_hint_encode(name, &h);
	FUZZ_CHECK(text, "encode failed");
	FUZZ_CHECK(!record_hint_decode(tok, name, strlen(name), text, strlen(text), &again, why),
		   "this node's own hint does not decode: %s (%s)", text, why);
	FUZZ_CHECK(fabs(again.score - h.score) <= 0.0051 && !strcmp(again.dominant, h.dominant),
		   "hint written back differs: %s", text);
	free(text);
}

static void alerts(const struct record_key *k, const char *val, size_t len)
{
	static struct alerts_rec r, again;
	char why[RECORD_WHY_LEN] = "", name[PODLANE_NODE_NAME_LEN], *text;
	unsigned int i;

	if (record_alerts_decode(tok, k->node, k->node_len, val, len, &r, why)) {
		FUZZ_CHECK_MSG(why);
		FUZZ_CHECK(r.n == 0, "a refused alerts record keeps %u alerts", r.n);
		return;
	}
	FUZZ_CHECK(r.n <= RECORD_ALERTS_MAX, "%u alerts", r.n);
	for (i = 0; i < r.n; i++)
		FUZZ_CHECK(r.v[i].pod[0] && r.v[i].series[0] && isfinite(r.v[i].value) &&
			   isfinite(r.v[i].baseline) && isfinite(r.v[i].z), "alert %u out of range",
			   i);
	snprintf(name, sizeof(name), "%.*s", (int)k->node_len, k->node);
	text = record_alerts_encode(name, r.v, r.n);
	FUZZ_CHECK(text, "encode failed");
	FUZZ_CHECK(!record_alerts_decode(tok, name, strlen(name), text, strlen(text), &again, why),
		   "this node's own alerts do not decode: %s (%s)", text, why);
	FUZZ_CHECK(again.n == r.n, "alerts written back differ: %s", text);
	for (i = 0; i < r.n; i++)
		FUZZ_CHECK(!strcmp(again.v[i].pod, r.v[i].pod) &&
			   !strcmp(again.v[i].series, r.v[i].series) &&
			   again.v[i].since == r.v[i].since, "alert %u written back differs: %s", i,
			   text);
	free(text);
}

static void cidr(const struct record_key *k, const char *val, size_t len)
{
	char why[RECORD_WHY_LEN] = "", node[PODLANE_NODE_NAME_LEN], key[128];
	struct record_key again;

	FUZZ_CHECK(k->cidr.prefix_len <= 32 && !(k->cidr.net & ~prefix_mask4(k->cidr.prefix_len)),
		   "cidr key with host bits");
	FUZZ_CHECK(!record_cidr_key(key, sizeof(key), &k->cidr), "cidr key does not fit");
	FUZZ_CHECK(!record_key_parse(key, strlen(key), &again, why) &&
		   again.kind == RECORD_CIDR && again.cidr.net == k->cidr.net &&
		   again.cidr.prefix_len == k->cidr.prefix_len, "cidr key written back: %s", key);
	if (record_cidr_decode(tok, val, len, node, why))
		FUZZ_CHECK_MSG(why);
	else
		FUZZ_CHECK(record_node_name_ok(node, strlen(node)), "cidr holder not a node name");
}

/* text printed, parsed and printed again: json-c's own form of it (NaN stays NaN). */
static char *settled(const char *text)
{
	struct json_object *o = json_tokener_parse(text), *o2;
	char *out;

	if (!o)
		return NULL;
	o2 = json_tokener_parse(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	out = o2 ? strdup(json_object_to_json_string_ext(o2, JSON_C_TO_STRING_PLAIN)) : NULL;
	json_object_put(o2);
	json_object_put(o);
	return out;
}

static bool same_json(const char *a, const char *b)
{
	char *sa = settled(a), *sb = settled(b);
	bool same = sa && sb && !strcmp(sa, sb);

	free(sa);
	free(sb);
	return same;
}

/*
 * What the publisher compares: a value without "updated", stamped, is the same unstamped. And
 * what the shared tokener makes of a value is what a fresh one makes of it.
 */
static void stamp(const char *val, size_t len)
{
	char *bare = record_unstamp(tok, val, len), *stamped, *again, *fresh;
	json_tokener *tok2 = json_tokener_new();
	size_t slen = 0;

	FUZZ_CHECK(bare && tok2, "unstamp returned NULL");
	fresh = record_unstamp(tok2, val, len);
	FUZZ_CHECK(fresh && !strcmp(fresh, bare), "the shared tokener decodes %s, a fresh one %s",
		   bare, fresh ? fresh : "(null)");
	if (bare[0]) {
		stamped = record_stamp(tok, bare, 1234567890123456789ULL, &slen);
		FUZZ_CHECK(stamped && slen == strlen(stamped), "stamp of an object failed: %s",
			   bare);
		again = record_unstamp(tok, stamped, slen);
		/* The same data: json-c may print a number ("01") differently once reparsed. */
		FUZZ_CHECK(again && same_json(again, bare), "stamp and unstamp disagree: %s -> %s",
			   bare, again ? again : "(null)");
		free(again);
		free(stamped);
	}
	free(fresh);
	free(bare);
	json_tokener_free(tok2);
}

static void record(const char *key, size_t size)
{
	const char *nl = memchr(key, '\n', size), *val;
	char why[RECORD_WHY_LEN] = "";
	size_t klen, vlen;
	struct record_key k;
	int err;

	klen = nl ? (size_t)(nl - key) : size;
	val = nl ? nl + 1 : key + size;
	vlen = size - klen - (nl ? 1 : 0);

	/* First: the first parse after the record before must not inherit its state. */
	stamp(val, vlen);
	err = record_key_parse(key, klen, &k, why);
	if (err) {
		FUZZ_CHECK(err == -EINVAL, "unexpected error %d", err);
		FUZZ_CHECK_MSG(why);
		FUZZ_CHECK(k.kind != RECORD_OTHER && k.kind != RECORD_VERSION,
			   "kind %d refused", k.kind);
	} else {
		check_key(key, klen, &k);
		switch (k.kind) {
		case RECORD_ENDPOINT:
			endpoint(&k, val, vlen);
			break;
		case RECORD_NODE:
			node(&k, val, vlen);
			break;
		case RECORD_SERVICE:
			service(&k, val, vlen);
			break;
		case RECORD_HINT:
			hint(&k, val, vlen);
			break;
		case RECORD_CIDR:
			cidr(&k, val, vlen);
			break;
		case RECORD_ALERTS:
			alerts(&k, val, vlen);
			break;
		case RECORD_VERSION:
			if (record_version_check(val, vlen, why))
				FUZZ_CHECK_MSG(why);
			break;
		case RECORD_POLICY:
			policy(&k, val, vlen);
			break;
		case RECORD_POD:
			pod(&k, val, vlen);
			break;
		case RECORD_NAMESPACE:
			namespace(&k, val, vlen);
			break;
		case RECORD_OTHER:
			break;
		}
	}
}

/* Records per input: enough for one to follow another, few enough to keep inputs fast. */
#define MAX_RECORDS	4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nul;
	int n = 0;

	/* One tokener per input, shared by its records: inputs stay independent of each other. */
	tok = json_tokener_new();
	FUZZ_CHECK(tok, "out of memory");
	for (; p <= end && n++ < MAX_RECORDS; p = nul + 1) {
		nul = memchr(p, '\0', end - p);
		if (!nul)
			nul = end;
		record(p, nul - p);
	}
	json_tokener_free(tok);
	tok = NULL;
	return 0;
}
