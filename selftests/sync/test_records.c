// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_records.c - the sync's record decoders and encoders (userspace/podlaned/sync/records.c)
 * on their own, printed as TAP: good and bad keys and values of every record kind, each bad
 * one with the reason a dead letter would show; this node's records encoded, stamped with
 * "updated" and back. Linked with records.o, core/addr.o and libpodlane only, as a fuzzing
 * harness will be: if this builds, records.c needs no agent. Pure userspace, no root.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "policy_spec.h"
#include "service_spec.h"
#include "sync/records.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static int test_num, failures;

static void report(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", pass ? "ok" : "not ok", ++test_num);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failures += !pass;
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* For %s: printf's "(null)" is glibc's, not C's. */
static const char *str(const char *s)
{
	return s ? s : "(null)";
}

static bool eq(const char *p, size_t len, const char *want)
{
	return p && strlen(want) == len && !memcmp(p, want, len);
}

static __be32 ip(const char *s)
{
	struct in_addr ia;

	inet_pton(AF_INET, s, &ia);
	return ia.s_addr;
}

/* ---- keys ---- */

#define EP	RECORD_KEY_ENDPOINTS
#define EP_WANT	"key: want " EP "<node>/<container-id>/<ifname>"
#define SVC_WANT "key: want " RECORD_KEY_SERVICES "<namespace>/<name>"
#define NODE_WANT "key: node name must be a DNS name"
#define CIDR_WANT "key: want " RECORD_KEY_CIDRS "<a.b.c.d>/<len>"
#define POL_WANT "key: want " RECORD_KEY_POLICIES "<namespace>/<name>"
#define NS_WANT "key: want " RECORD_KEY_NAMESPACES "<name>, a DNS-1123 label"

static const struct {
	const char *key;
	size_t len;		/* 0: strlen(key) */
	enum record_kind kind;
	const char *why;	/* NULL: valid */
	const char *node;	/* NODE, ENDPOINT, HINT */
	const char *detail;	/* ENDPOINT: "cid ifname", SERVICE: its id, CIDR: a.b.c.d/len */
} key_cases[] = {
	{ EP "n2/c0ffee/eth0", 0, RECORD_ENDPOINT, NULL, "n2", "c0ffee eth0" },
	{ EP "n-2.x/0123456789abcdef/net1", 0, RECORD_ENDPOINT, NULL, "n-2.x",
	  "0123456789abcdef net1" },
	{ EP "n2/c0ffee", 0, RECORD_ENDPOINT, EP_WANT },
	{ EP "n2/c0ffee/", 0, RECORD_ENDPOINT, EP_WANT },
	{ EP "n2//eth0", 0, RECORD_ENDPOINT, EP_WANT },
	{ EP "N2/c0ffee/eth0", 0, RECORD_ENDPOINT, EP_WANT },
	{ EP "n2/c0 ffee/eth0", 0, RECORD_ENDPOINT, EP_WANT },
	{ EP "n2/c0ffee/eth0/x", 0, RECORD_ENDPOINT, EP_WANT },
	{ EP "n2/c0ffee/abcdefghijklmnop", 0, RECORD_ENDPOINT, EP_WANT },	/* 16 > 15 */
	{ EP "n2/c0ff\xc3\xa9/eth0", 0, RECORD_ENDPOINT, EP_WANT },		/* not ASCII */
	{ EP "n2\0x/c0ffee/eth0", sizeof(EP "n2\0x/c0ffee/eth0") - 1, RECORD_ENDPOINT,
	  EP_WANT },								/* a NUL */
	{ EP, 0, RECORD_OTHER },	/* the prefix alone is no endpoint */
	{ RECORD_KEY_NODES "n2", 0, RECORD_NODE, NULL, "n2" },
	{ RECORD_KEY_NODES "N_2", 0, RECORD_NODE, NODE_WANT },
	{ RECORD_KEY_NODES "n2/x", 0, RECORD_NODE, NODE_WANT },
	{ RECORD_KEY_NODES "0123456789012345678901234567890123456789012345678901234567890123",
	  0, RECORD_NODE, NODE_WANT },						/* 64 */
	{ RECORD_KEY_SERVICES "default/web", 0, RECORD_SERVICE, NULL, NULL, "default/web" },
	{ RECORD_KEY_SERVICES "web", 0, RECORD_SERVICE, SVC_WANT },
	{ RECORD_KEY_SERVICES "default/", 0, RECORD_SERVICE, SVC_WANT },
	{ RECORD_KEY_SERVICES "/web", 0, RECORD_SERVICE, SVC_WANT },
	{ RECORD_KEY_SERVICES "a/b/c", 0, RECORD_SERVICE, SVC_WANT },
	{ RECORD_KEY_HINTS "n2", 0, RECORD_HINT, NULL, "n2" },
	{ RECORD_KEY_HINTS "n2/x", 0, RECORD_HINT, "key: want " RECORD_KEY_HINTS "<node>",
	  "n2" },
	{ RECORD_KEY_CIDRS "10.1.2.0/24", 0, RECORD_CIDR, NULL, NULL, "10.1.2.0/24" },
	{ RECORD_KEY_CIDRS "10.1.2.7/24", 0, RECORD_CIDR, NULL, NULL, "10.1.2.0/24" },
	{ RECORD_KEY_CIDRS "10.1.2.0", 0, RECORD_CIDR, CIDR_WANT },
	{ RECORD_KEY_CIDRS "10.1.2.0/33", 0, RECORD_CIDR, CIDR_WANT },
	{ RECORD_KEY_CIDRS "300.1.2.0/24", 0, RECORD_CIDR, CIDR_WANT },
	{ RECORD_KEY_CIDRS "10.1.2.0/24/x", 0, RECORD_CIDR, CIDR_WANT },
	{ RECORD_KEY_VERSION, 0, RECORD_VERSION },
	{ RECORD_KEY_VERSION "x", 0, RECORD_OTHER },
	{ RECORD_KEY_POLICIES "default/deny", 0, RECORD_POLICY, NULL, NULL, "default/deny" },
	{ RECORD_KEY_POLICIES "default/a.b-c", 0, RECORD_POLICY, NULL, NULL, "default/a.b-c" },
	{ RECORD_KEY_POLICIES "deny", 0, RECORD_POLICY, POL_WANT },
	{ RECORD_KEY_POLICIES "a/b/c", 0, RECORD_POLICY, POL_WANT },
	{ RECORD_KEY_POLICIES "Default/deny", 0, RECORD_POLICY,
	  "key: namespace must be a DNS-1123 label" },
	{ RECORD_KEY_POLICIES "a.b/deny", 0, RECORD_POLICY,
	  "key: namespace must be a DNS-1123 label" },
	{ RECORD_KEY_POLICIES "default/", 0, RECORD_POLICY,
	  "key: name must be a DNS-1123 subdomain" },
	{ RECORD_KEY_POLICIES "default/Deny", 0, RECORD_POLICY,
	  "key: name must be a DNS-1123 subdomain" },
	{ RECORD_KEY_PODS "x/a", 0, RECORD_POD, NULL, NULL, "x/a" },
	{ RECORD_KEY_PODS "x/a_b", 0, RECORD_POD, "key: name must be a DNS-1123 subdomain" },
	{ RECORD_KEY_NAMESPACES "x", 0, RECORD_NAMESPACE, NULL, NULL, "x" },
	{ RECORD_KEY_NAMESPACES "x/y", 0, RECORD_NAMESPACE, NS_WANT },
	{ RECORD_KEY_NAMESPACES "X", 0, RECORD_NAMESPACE, NS_WANT },
	{ RECORD_PREFIX "reserved/x", 0, RECORD_OTHER },
};

static const char *const kind_names[] = {
	[RECORD_OTHER] = "nothing this agent reads",
	[RECORD_VERSION] = "the layout version",
	[RECORD_NODE] = "a node",
	[RECORD_ENDPOINT] = "an endpoint",
	[RECORD_SERVICE] = "a service",
	[RECORD_HINT] = "a hint",
	[RECORD_CIDR] = "a CIDR claim",
	[RECORD_POLICY] = "a network policy",
	[RECORD_POD] = "a pod's metadata",
	[RECORD_NAMESPACE] = "a namespace's labels",
};

static bool key_detail_ok(const struct record_key *k, const char *detail)
{
	char buf[64], cidr[CIDR4_STRLEN];

	switch (k->kind) {
	case RECORD_ENDPOINT:
		snprintf(buf, sizeof(buf), "%.*s %.*s", (int)k->container_id_len, k->container_id,
			 (int)k->ifname_len, k->ifname);
		return !strcmp(buf, detail);
	case RECORD_SERVICE:
		return eq(k->service, k->service_len, detail);
	case RECORD_POLICY:
	case RECORD_POD:
	case RECORD_NAMESPACE:
		return eq(k->object, k->object_len, detail);
	case RECORD_CIDR:
		return !strcmp(cidr4_str(k->cidr.net, k->cidr.prefix_len, cidr), detail);
	default:
		return true;
	}
}

static void test_keys(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(key_cases); i++) {
		const char *key = key_cases[i].key;
		size_t len = key_cases[i].len ? key_cases[i].len : strlen(key);
		char why[RECORD_WHY_LEN] = "";
		struct record_key k;
		int err = record_key_parse(key, len, &k, why);
		bool pass = k.kind == key_cases[i].kind;

		if (key_cases[i].why)
			pass = pass && err == -EINVAL && !strcmp(why, key_cases[i].why);
		else
			pass = pass && !err;
		if (key_cases[i].node)
			pass = pass && eq(k.node, k.node_len, key_cases[i].node);
		if (!err && key_cases[i].detail)
			pass = pass && key_detail_ok(&k, key_cases[i].detail);
		if (!pass)
			diag("kind %d err %d why \"%s\"", k.kind, err, why);
		report(pass, "key %s: %s", key + strlen(RECORD_PREFIX),
		       key_cases[i].why ? key_cases[i].why : kind_names[key_cases[i].kind]);
	}
}

/* ---- values ---- */

static json_tokener *tok;

static void test_endpoints(void)
{
	static const struct {
		const char *val, *why;
	} bad[] = {
		{ "not json", "value: not a JSON object" },
		{ "[\"10.1.2.3\"]", "value: not a JSON object" },
		{ "{\"ip\":\"10.1.2.3\",\"nodeIP\":\"192.168.1.2\"} x",
		  "value: not a JSON object" },
		{ "{\"nodeIP\":\"192.168.1.2\"}", "ip: missing" },
		{ "{\"ip\":17,\"nodeIP\":\"192.168.1.2\"}", "ip: missing" },
		{ "{\"ip\":\"10.1.2.300\",\"nodeIP\":\"192.168.1.2\"}", "ip: not an IPv4 address" },
		{ "{\"ip\":\"0.0.0.0\",\"nodeIP\":\"192.168.1.2\"}", "ip: not an IPv4 address" },
		{ "{\"ip\":\"fd00::1\",\"nodeIP\":\"192.168.1.2\"}", "ip: not an IPv4 address" },
		{ "{\"ip\":\"10.1.2.3\"}", "nodeIP: missing or invalid" },
		{ "{\"ip\":\"10.1.2.3\",\"nodeIP\":\"node-2\"}", "nodeIP: missing or invalid" },
	};
	const char *good = "{\"node\":\"n2\",\"nodeIP\":\"192.168.1.2\",\"ip\":\"10.1.2.3\","
			   "\"containerID\":\"c0ffee\",\"ifname\":\"eth0\",\"network\":\"podlane\","
			   "\"updated\":1700000000123456789}";
	char why[RECORD_WHY_LEN];
	struct endpoint_rec r;
	unsigned int i;
	char *enc;
	int err;

	err = record_endpoint_decode(tok, good, strlen(good), &r, why);
	report(!err && r.ip == ip("10.1.2.3") && r.node_ip == ip("192.168.1.2") &&
	       r.updated == 1700000000123456789ULL, "endpoint value: ip, nodeIP and updated");
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		why[0] = '\0';
		err = record_endpoint_decode(tok, bad[i].val, strlen(bad[i].val), &r, why);
		report(err == -EINVAL && !strcmp(why, bad[i].why), "endpoint value %s: %s",
		       bad[i].val, bad[i].why);
	}
	enc = record_endpoint_encode("n2", ip("192.168.1.2"), ip("10.1.2.3"), "c0ffee", "eth0",
				     "podlane", NULL);
	report(enc && !strcmp(enc, "{\"node\":\"n2\",\"nodeIP\":\"192.168.1.2\","
			      "\"ip\":\"10.1.2.3\",\"containerID\":\"c0ffee\","
			      "\"ifname\":\"eth0\",\"network\":\"podlane\"}"),
	       "endpoint encoded in the layout's field order: %s", str(enc));
	err = enc ? record_endpoint_decode(tok, enc, strlen(enc), &r, why) : -ENOMEM;
	report(!err && r.ip == ip("10.1.2.3") && r.node_ip == ip("192.168.1.2") && !r.updated,
	       "an encoded endpoint decodes (no \"updated\": 0)");
	free(enc);
}

/* ---- what network policy reads: policies, pods, namespaces, and pods on endpoints ---- */

static void test_policy_records(void)
{
	static const struct {
		const char *val, *why;
	} bad_ep[] = {
		{ "{\"ip\":\"10.1.2.3\",\"nodeIP\":\"192.168.1.2\",\"pod\":\"a\"}",
		  "namespace, pod: give both or neither" },
		{ "{\"ip\":\"10.1.2.3\",\"nodeIP\":\"192.168.1.2\",\"namespace\":\"X\",\"pod\":\"a\"}",
		  "namespace: must be a DNS-1123 label" },
		{ "{\"ip\":\"10.1.2.3\",\"nodeIP\":\"192.168.1.2\",\"namespace\":\"x\",\"pod\":\"a\","
		  "\"labels\":{\"a b\":\"c\"}}",
		  "labels: key \"a b\": name part may contain only letters, digits, '-', '_' and "
		  "'.'" },
		{ "{\"ip\":\"10.1.2.3\",\"nodeIP\":\"192.168.1.2\",\"namespace\":\"x\",\"pod\":\"a\","
		  "\"ports\":[{\"name\":\"http\",\"containerPort\":0}]}",
		  "ports[0].containerPort: must be from 1 to 65535, got 0" },
	};
	static const struct {
		const char *val, *why;
	} bad_pod[] = {
		{ "[]", "value: not a JSON object" },
		{ "{\"ports\":[{\"name\":\"http\",\"containerPort\":80},"
		  "{\"name\":\"http\",\"containerPort\":8080}]}",
		  "ports[1].name: \"http\" names another TCP port already" },
		{ "{\"ports\":[{\"name\":\"http\",\"containerPort\":80,\"protocol\":\"tcp\"}]}",
		  "ports[0].protocol: must be \"TCP\", \"UDP\" or \"SCTP\", got \"tcp\"" },
		{ "{\"ports\":[{\"name\":\"http\",\"port\":80}]}",
		  "ports[0]: unknown field \"port\"" },
		{ "{\"ports\":[{\"name\":\"no_such-name\",\"containerPort\":80}]}", NULL },
		{ "{\"labels\":[\"a\"]}", "labels: must be an object, got a list" },
	};
	const char *ep = "{\"ip\":\"10.1.2.3\",\"nodeIP\":\"192.168.1.2\",\"namespace\":\"x\","
			 "\"pod\":\"a\",\"labels\":{\"pod\":\"a\",\"app\":\"web\"},\"ports\":["
			 "{\"name\":\"serve-80-tcp\",\"containerPort\":80},{\"containerPort\":81},"
			 "{\"name\":\"serve-80-udp\",\"containerPort\":80,\"protocol\":\"UDP\"}]}";
	const char *pol = "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
			  "\"metadata\":{\"name\":\"deny\",\"namespace\":\"x\"},"
			  "\"spec\":{\"podSelector\":{}}}";
	const char *pol_bad = "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
			      "\"metadata\":{\"name\":\"deny\",\"namespace\":\"x\"},"
			      "\"spec\":{\"podSelector\":{},\"policyTypes\":[\"Sideways\"]}}";
	char why[RECORD_WHY_LEN] = "", *enc;
	struct policy_namespace ns;
	const char *val;
	struct policy_spec spec;
	struct endpoint_rec r, again;
	struct policy_pod pod;
	unsigned int i;
	int err;

	err = record_endpoint_decode(tok, ep, strlen(ep), &r, why);
	report(!err && r.pod && !strcmp(r.pod->namespace, "x") && !strcmp(r.pod->name, "a") &&
	       r.pod->labels.n == 2 && !strcmp(str(label_set_get(&r.pod->labels, "app")), "web") &&
	       r.pod->nports == 2 && r.pod->ports[0].port == 80 &&
	       r.pod->ports[1].proto == IPPROTO_UDP,
	       "endpoint value with its pod: namespace, name, labels, named ports (unnamed left out)"
	       " %s", why);
	enc = r.pod ? record_endpoint_encode("n2", r.node_ip, r.ip, "c0ffee", "eth0", "podlane",
					     r.pod) : NULL;
	report(enc && !strcmp(enc, "{\"node\":\"n2\",\"nodeIP\":\"192.168.1.2\","
			      "\"ip\":\"10.1.2.3\",\"containerID\":\"c0ffee\",\"ifname\":\"eth0\","
			      "\"network\":\"podlane\",\"namespace\":\"x\",\"pod\":\"a\","
			      "\"labels\":{\"app\":\"web\",\"pod\":\"a\"},\"ports\":["
			      "{\"name\":\"serve-80-tcp\",\"containerPort\":80,\"protocol\":\"TCP\"},"
			      "{\"name\":\"serve-80-udp\",\"containerPort\":80,\"protocol\":\"UDP\"}]}"),
	       "endpoint with its pod encoded: %s", str(enc));
	err = enc ? record_endpoint_decode(tok, enc, strlen(enc), &again, why) : -ENOMEM;
	report(!err && again.pod && label_set_equal(&again.pod->labels, &r.pod->labels) &&
	       again.pod->nports == 2, "an encoded endpoint with its pod decodes the same");
	free(enc);
	record_endpoint_free(&again);
	record_endpoint_free(&r);
	report(!r.pod, "record_endpoint_free leaves no pod behind");
	for (i = 0; i < ARRAY_SIZE(bad_ep); i++) {
		why[0] = '\0';
		err = record_endpoint_decode(tok, bad_ep[i].val, strlen(bad_ep[i].val), &r, why);
		report(err == -EINVAL && !r.pod && !strcmp(why, bad_ep[i].why),
		       "endpoint value %s: %s (got: %s)", bad_ep[i].val, bad_ep[i].why, why);
		record_endpoint_free(&r);
	}

	err = record_policy_decode(tok, "x/deny", 6, pol, strlen(pol), &spec, why);
	report(!err && !strcmp(spec.namespace, "x") && spec.types == POLICY_TYPE_INGRESS,
	       "policy value: decoded, policyTypes inferred");
	if (!err)
		policy_spec_free(&spec);
	err = record_policy_decode(tok, "y/deny", 6, pol, strlen(pol), &spec, why);
	report(err == -EINVAL && !strcmp(why, "invalid policy: metadata: names 'x/deny', the key "
				       "another"), "policy value under another key: %s", why);
	err = record_policy_decode(tok, "x/deny", 6, pol_bad, strlen(pol_bad), &spec, why);
	report(err == -EINVAL && strstr(why, "invalid policy: spec.policyTypes[0]: ") == why,
	       "invalid policy value names the field: %s", why);

	val = "{\"labels\":{\"pod\":\"a\"},\"future\":1}";
	err = record_pod_decode(tok, "x/a", 3, val, strlen(val), &pod, why);
	report(!err && !strcmp(pod.namespace, "x") && !strcmp(pod.name, "a") && pod.labels.n == 1,
	       "pod value: labels; unknown top-level fields ignored");
	if (!err) {
		enc = record_pod_encode(&pod);
		report(enc && !strcmp(enc, "{\"labels\":{\"pod\":\"a\"}}"), "pod encoded: %s",
		       str(enc));
		free(enc);
		policy_pod_free(&pod);
	}
	for (i = 0; i < ARRAY_SIZE(bad_pod); i++) {
		why[0] = '\0';
		err = record_pod_decode(tok, "x/a", 3, bad_pod[i].val, strlen(bad_pod[i].val), &pod,
					why);
		if (!bad_pod[i].why) {
			report(err == -EINVAL && strstr(why, "ports[0].name: \"no_such-name\": "),
			       "pod value %s: the port name refused (%s)", bad_pod[i].val, why);
			continue;
		}
		report(err == -EINVAL && !pod.name && !strcmp(why, bad_pod[i].why),
		       "pod value %s: %s (got: %s)", bad_pod[i].val, bad_pod[i].why, why);
	}

	val = "{\"labels\":{\"ns\":\"x\"}}";
	err = record_namespace_decode(tok, "x", 1, val, strlen(val), &ns, why);
	report(!err && ns.labels.n == 2 &&
	       !strcmp(str(label_set_get(&ns.labels, POLICY_NS_NAME_LABEL)), "x"),
	       "namespace value: its labels and the implied name label");
	if (!err)
		policy_namespace_free(&ns);
	err = record_namespace_decode(tok, "x", 1, "{}", 2, &ns, why);
	report(!err && ns.labels.n == 1, "namespace value without labels: the name label alone");
	if (!err)
		policy_namespace_free(&ns);
	val = "{\"labels\":{\"a\":7}}";
	err = record_namespace_decode(tok, "x", 1, val, strlen(val), &ns, why);
	report(err == -EINVAL && !strcmp(why, "labels: value of \"a\" must be a string, got an "
					 "integer"), "namespace label not a string: %s", why);
}

static void test_nodes(void)
{
	const char *good = "{\"name\":\"n2\",\"nodeIP\":\"192.168.1.2\","
			   "\"podCIDR\":\"10.1.2.0/24\",\"updated\":5}";
	const char *early = "{\"nodeIP\":\"192.168.1.2\"}";
	const char *odd = "{\"name\":\"n2\",\"nodeIP\":7,\"podCIDR\":\"10.1.2.0/99\"}";
	char why[RECORD_WHY_LEN] = "";
	struct node_rec r;
	char *enc;
	int err;

	err = record_node_decode(tok, "n2", 2, good, strlen(good), &r, why);
	report(!err && r.node_ip && !strcmp(r.node_ip, "192.168.1.2") && r.pod_cidr &&
	       !strcmp(r.pod_cidr, "10.1.2.0/24") && r.updated == 5,
	       "node value: nodeIP, podCIDR and updated as written");
	record_node_free(&r);
	err = record_node_decode(tok, "n2", 2, early, strlen(early), &r, why);
	report(!err && !r.pod_cidr, "node value without name and podCIDR (still allocating)");
	record_node_free(&r);
	/* Address and CIDR are nodes/'s to check (node_record_parse), with its own reasons. */
	err = record_node_decode(tok, "n2", 2, odd, strlen(odd), &r, why);
	report(!err && !r.node_ip && r.pod_cidr && !strcmp(r.pod_cidr, "10.1.2.0/99"),
	       "node value: a nodeIP that is no string is missing, a bad CIDR passes on as text");
	record_node_free(&r);
	err = record_node_decode(tok, "n3", 2, good, strlen(good), &r, why);
	report(err == -EINVAL && !strcmp(why, "name: differs from the key"),
	       "node value: name: differs from the key");
	record_node_free(&r);
	err = record_node_decode(tok, "n2", 2, "{", 1, &r, why);
	report(err == -EINVAL && !strcmp(why, "value: not a JSON object"),
	       "node value: value: not a JSON object");
	record_node_free(&r);
	enc = record_node_encode("n1", ip("192.168.1.1"), "10.1.0.0/24");
	report(enc && !strcmp(enc, "{\"name\":\"n1\",\"nodeIP\":\"192.168.1.1\","
			      "\"podCIDR\":\"10.1.0.0/24\"}"), "node encoded: %s", str(enc));
	free(enc);
	enc = record_node_encode("n1", ip("192.168.1.1"), "");
	report(enc && !strcmp(enc, "{\"name\":\"n1\",\"nodeIP\":\"192.168.1.1\"}"),
	       "node encoded without a pod CIDR yet: %s", str(enc));
	free(enc);
}

static void test_services(void)
{
	const char *good = "{\"name\":\"web\",\"namespace\":\"default\","
			   "\"clusterIP\":\"10.96.0.10\","
			   "\"ports\":[{\"port\":80,\"targetPort\":8080}],"
			   "\"backends\":[{\"ip\":\"10.1.2.3\"}]}";
	const char *sctp = "{\"name\":\"web\",\"clusterIP\":\"10.96.0.10\","
			   "\"ports\":[{\"port\":80,\"protocol\":\"SCTP\"}]}";
	char why[RECORD_WHY_LEN] = "";
	struct service_spec spec;
	int err;

	err = record_service_decode(tok, "default/web", 11, good, strlen(good), &spec, why);
	report(!err && !strcmp(spec.name, "web") && spec.nports == 1 &&
	       spec.ports[0].target_port == 8080 && spec.nbackends == 1,
	       "service value: a valid spec");
	if (!err)
		service_spec_free(&spec);
	err = record_service_decode(tok, "default/api", 11, good, strlen(good), &spec, why);
	report(err == -EINVAL && !strcmp(why, "invalid service spec: namespace/name: the spec "
					 "says 'default/web'"), "service value: %s", why);
	err = record_service_decode(tok, "default/web", 11, sctp, strlen(sctp), &spec, why);
	report(err == -EINVAL && !strncmp(why, "invalid service spec: ports[0].protocol: ",
					  strlen("invalid service spec: ports[0].protocol: ")),
	       "service value: %s", why);
	err = record_service_decode(tok, "default/web", 11, "\"web\"", 5, &spec, why);
	report(err == -EINVAL && !strcmp(why, "value: not a JSON object"),
	       "service value: value: not a JSON object");
}

static void test_hints(void)
{
	struct hint_rec h = {
		.score = 42.126, .dominant = "runq", .cpu = 10, .runq = 42.126, .memory = 3.3,
		.traffic = 0, .cpu_headroom = 87.5,
	}, back;
	const char *bad_dom = "{\"node\":\"n2\",\"score\":1,\"dominant\":\"disk\",\"cpu\":1,"
			      "\"runq\":1,\"memory\":1,\"traffic\":1,\"cpu_headroom\":1}";
	const char *bad_score = "{\"node\":\"n2\",\"score\":101,\"dominant\":\"cpu\",\"cpu\":1,"
				"\"runq\":1,\"memory\":1,\"traffic\":1,\"cpu_headroom\":1}";
	const char *no_mem = "{\"node\":\"n2\",\"score\":1,\"dominant\":\"cpu\",\"cpu\":1,"
			     "\"runq\":1,\"memory\":\"high\",\"traffic\":1,\"cpu_headroom\":1}";
	char why[RECORD_WHY_LEN] = "", *enc, *stamped;
	size_t len = 0;
	int err;

	enc = record_hint_encode("n2", &h);
	report(enc && !strncmp(enc, "{\"node\":\"n2\",\"score\":42.1", 25) &&
	       strstr(enc, "\"dominant\":\"runq\""), "hint encoded, parts to two decimals: %s",
	       str(enc));
	stamped = enc ? record_stamp(tok, enc, 77, &len) : NULL;
	err = stamped ? record_hint_decode(tok, "n2", 2, stamped, len, &back, why) : -ENOMEM;
	report(!err && back.score == 42.13 && back.runq == 42.13 && back.cpu == 10 &&
	       back.cpu_headroom == 87.5 && !strcmp(back.dominant, "runq") && back.updated == 77,
	       "a stamped hint decodes to what was encoded");
	err = stamped ? record_hint_decode(tok, "n3", 2, stamped, len, &back, why) : -ENOMEM;
	report(err == -EINVAL && !strcmp(why, "node: missing or differs from the key"),
	       "hint value: %s", why);
	free(enc);
	free(stamped);
	err = record_hint_decode(tok, "n2", 2, bad_dom, strlen(bad_dom), &back, why);
	report(err == -EINVAL &&
	       !strcmp(why, "dominant: want cpu, cpu_pressure, runq, memory or traffic"),
	       "hint value: %s", why);
	/* The newer fields: written when known, optional when read (an older agent's record). */
	h.cpu_pressure = 61.5;
	h.has_pressure = true;
	h.cpus = 0.5;
	h.seq = 9;
	enc = record_hint_encode("n2", &h);
	err = enc ? record_hint_decode(tok, "n2", 2, enc, strlen(enc), &back, why) : -ENOMEM;
	report(!err && back.has_pressure && back.cpu_pressure == 61.5 && back.cpus == 0.5 &&
	       back.seq == 9, "cpu_pressure, cpus and seq round-trip: %s", str(enc));
	free(enc);
	{
		const char *old = "{\"node\":\"n2\",\"score\":1,\"dominant\":\"cpu\",\"cpu\":1,"
				  "\"runq\":1,\"memory\":1,\"traffic\":1,\"cpu_headroom\":1}";
		const char *neg = "{\"node\":\"n2\",\"score\":1,\"dominant\":\"cpu\",\"cpu\":1,"
				  "\"runq\":1,\"memory\":1,\"traffic\":1,\"cpu_headroom\":1,"
				  "\"cpus\":-2}";

		err = record_hint_decode(tok, "n2", 2, old, strlen(old), &back, why);
		report(!err && !back.has_pressure && back.cpus == 0 && back.seq == 0,
		       "an older agent's hint (no cpu_pressure, cpus, seq) still decodes");
		err = record_hint_decode(tok, "n2", 2, neg, strlen(neg), &back, why);
		report(err == -EINVAL && !strcmp(why, "cpus: -2 is not from 0 to 1000000"),
		       "hint value: %s", why);
	}
	err = record_hint_decode(tok, "n2", 2, bad_score, strlen(bad_score), &back, why);
	report(err == -EINVAL && !strcmp(why, "score: 101 is not from 0 to 100"),
	       "hint value: %s", why);
	err = record_hint_decode(tok, "n2", 2, no_mem, strlen(no_mem), &back, why);
	report(err == -EINVAL && !strcmp(why, "memory: missing or not a number"),
	       "hint value: %s", why);
}

static void test_cidrs_and_version(void)
{
	struct subnet4 sn = { ip("10.1.3.0"), 24 };
	char why[RECORD_WHY_LEN] = "", node[PODLANE_NODE_NAME_LEN], key[128], *enc;
	int err;

	enc = record_cidr_encode("n2");
	err = enc ? record_cidr_decode(tok, enc, strlen(enc), node, why) : -ENOMEM;
	report(enc && !strcmp(enc, "{\"node\":\"n2\"}") && !err && !strcmp(node, "n2"),
	       "CIDR claim encoded and decoded: %s", str(enc));
	free(enc);
	err = record_cidr_decode(tok, "{\"node\":\"N 2\"}", 14, node, why);
	report(err == -EINVAL && !node[0] && !strcmp(why, "node: missing or not a node name"),
	       "CIDR claim value: %s", why);
	err = record_cidr_decode(tok, "n2", 2, node, why);
	report(err == -EINVAL && !strcmp(why, "value: not a JSON object"),
	       "CIDR claim value: value: not a JSON object");
	report(!record_cidr_key(key, sizeof(key), &sn) &&
	       !strcmp(key, RECORD_KEY_CIDRS "10.1.3.0/24"), "CIDR claim key: %s", key);

	report(!record_version_check("1", 1, why), "version \"1\" is this agent's");
	err = record_version_check("2", 1, why);
	report(err == -EPROTONOSUPPORT &&
	       !strcmp(why, "etcd holds podlane key layout version '2', this agent knows '1'"),
	       "version: %s", why);
	report(record_version_check("1\0x", 3, why) == -EPROTONOSUPPORT,
	       "version \"1\\0x\" is not \"1\"");
	report(record_version_check("", 0, why) == -EPROTONOSUPPORT, "no version is no version");
}

static void test_keys_out_and_stamps(void)
{
	const char *val = "{\"name\":\"n1\",\"nodeIP\":\"192.168.1.1\"}";
	char key[40], *stamped, *back;
	size_t len = 0;

	report(!record_endpoint_key(key, sizeof(key), "n1", "c0ffee", "eth0") &&
	       !strcmp(key, EP "n1/c0ffee/eth0"), "endpoint key: %s", key);
	report(record_endpoint_key(key, sizeof(key), "n1", "0123456789abcdef", "eth0") ==
	       -ENAMETOOLONG, "a key that does not fit the buffer is refused");
	report(!record_node_key(key, sizeof(key), "n1") && !strcmp(key, RECORD_KEY_NODES "n1") &&
	       !record_hint_key(key, sizeof(key), "n1") && !strcmp(key, RECORD_KEY_HINTS "n1"),
	       "node and hint keys");

	/* What the publisher puts: exactly the old text with ,"updated":N before the brace. */
	stamped = record_stamp(tok, val, 1700000000123456789ULL, &len);
	report(stamped && len == strlen(stamped) &&
	       !strcmp(stamped, "{\"name\":\"n1\",\"nodeIP\":\"192.168.1.1\","
			"\"updated\":1700000000123456789}"), "stamped: %s", str(stamped));
	back = stamped ? record_unstamp(tok, stamped, len) : NULL;
	report(back && !strcmp(back, val), "unstamped, it is the encoder's text again");
	free(back);
	free(stamped);
	back = record_unstamp(tok, "{\"name\":", 8);
	report(back && !strcmp(back, ""), "a value that is no object unstamps to \"\"");
	free(back);
	report(!record_stamp(tok, "[]", 1, &len), "only an object can be stamped");
}

/*
 * One tokener decodes every record of a list or a watch. A value that ends between a UTF-16
 * high surrogate and its low half (invalid, a dead letter) must not leave that half behind:
 * json-c 0.16's json_tokener_reset() keeps it, and the next record's first \u escape came out
 * as U+FFFD and its own character (found by selftests/fuzz/fuzz_records).
 */
static void test_tokener_state(void)
{
	const char *cut = "{\"name\":\"n2\",\"nodeIP\":\"\\ud800\\u00";
	const char *good = "{\"name\":\"n2\",\"nodeIP\":\"\\u0031\\u0039\\u0032.168.1.2\","
			   "\"podCIDR\":\"10.1.2.0/24\"}";
	char why[RECORD_WHY_LEN] = "";
	struct node_rec r;
	int err;

	err = record_node_decode(tok, "n2", 2, cut, strlen(cut), &r, why);
	report(err == -EINVAL && !strcmp(why, "value: not a JSON object"),
	       "node value cut after a high surrogate: %s", why);
	record_node_free(&r);
	err = record_node_decode(tok, "n2", 2, good, strlen(good), &r, why);
	report(!err && r.node_ip && !strcmp(r.node_ip, "192.168.1.2"),
	       "the next value through the same tokener: nodeIP \\u0031\\u0039\\u0032.168.1.2 is "
	       "192.168.1.2 (got %s)", str(r.node_ip));
	record_node_free(&r);
}

int main(void)
{
	tok = json_tokener_new();
	if (!tok) {
		printf("Bail out! no memory for a json_tokener\n");
		return 1;
	}
	test_keys();
	test_endpoints();
	test_policy_records();
	test_nodes();
	test_services();
	test_hints();
	test_cidrs_and_version();
	test_keys_out_and_stamps();
	test_tokener_state();
	json_tokener_free(tok);
	printf("1..%d\n", test_num);
	return failures ? 1 : 0;
}
