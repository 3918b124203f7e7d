/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * policy_world.h - random worlds for the policy compiler (userspace/lib/policy_compile.c) and
 * the reference it is checked against, shared by selftests/policy/test_policy_compile.c
 * (fixed seeds) and selftests/fuzz/fuzz_policy_compile.c (libFuzzer's bytes).
 *
 * A world is built from a byte source (pw_src: the fuzzer's input, or a PRNG): namespaces x,
 * y, z (each listed or not, with labels team and env) and w (never listed: only its implied
 * name label); up to PW_MAX_PODS pods in them, local or remote, with labels app and role,
 * named ports from a small vocabulary and addresses in 10.0.0.0/22, identities given by
 * policy_identity_key() as podlaned gives them; up to PW_MAX_POLICIES policies written as
 * JSON and read by policy_spec_parse() (so every one is valid as the API server takes it):
 * selectors with every operator, every kind of peer, ipBlocks with excepts (IPv6 too), ports
 * numbered, ranged, protocol-only and named. Small vocabularies make selectors match often;
 * pods are often replicas of earlier ones (one identity, several addresses). pw_src.focus
 * narrows the policies to egress ipBlocks around pods' addresses with named ports the pods
 * have: the rare case where one identity's pods lie on both sides of a block.
 *
 * pw_check() compares the compiled result with the reference, which judges from the policies
 * themselves with policy_spec.h's matching (policy_selects_pod, policy_peer_matches_pod,
 * policy_peer_matches_addr, policy_rule_ports_match), as Kubernetes defines it:
 *   - shape: one endpoint per local pod in order, flags and isolating policy, entries sorted
 *     and unique, CIDR list sorted and unique, pods of one identity with equal rule sets;
 *   - soundness: for each entry, a concrete peer it stands for and ports sampled in its range
 *     are allowed by the very policy and rule it names;
 *   - equivalence: for every local pod, both directions, every pod of the world and addresses
 *     around every CIDR as peer, protocols TCP, UDP, SCTP and ICMP and the ports that matter,
 *     the reference's verdict equals a lookup in the compiled rule set as the datapath does it
 *     (the peer's identity, the CIDR id of its address, PODLANE_ID_ANY).
 */
#ifndef PODLANE_POLICY_WORLD_H
#define PODLANE_POLICY_WORLD_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "podlane.h"
#include "policy_compile.h"
#include "policy_spec.h"

#define PW_UNUSED	__attribute__((unused))

#define PW_MAX_PODS	16
#define PW_MAX_POLICIES	8
#define PW_NS		4	/* x, y, z, w */

/* ---- the byte source ---- */

struct pw_src {
	const uint8_t	*data;		/* the fuzzer's bytes; NULL: the PRNG */
	size_t		size, at;
	uint64_t	state;
	bool		focus;		/* egress ipBlocks around pods, with named ports */
};

static PW_UNUSED void pw_src_seed(struct pw_src *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->state = seed * 0x9e3779b97f4a7c15ULL + 1;
}

static PW_UNUSED void pw_src_bytes(struct pw_src *s, const uint8_t *data, size_t size)
{
	memset(s, 0, sizeof(*s));
	s->data = data;
	s->size = size;
}

/* A byte; past the end of the fuzzer's input, 0 (every choice then takes its first option). */
static PW_UNUSED unsigned int pw_byte(struct pw_src *s)
{
	if (s->data)
		return s->at < s->size ? s->data[s->at++] : 0;
	s->state ^= s->state >> 12;
	s->state ^= s->state << 25;
	s->state ^= s->state >> 27;
	return (s->state * 0x2545f4914f6cdd1dULL) >> 56;
}

static PW_UNUSED unsigned int pw_pick(struct pw_src *s, unsigned int n)
{
	return n > 1 ? pw_byte(s) % n : 0;
}

static PW_UNUSED unsigned int pw_u16(struct pw_src *s)
{
	return pw_byte(s) << 8 | pw_byte(s);
}

/* ---- text ---- */

struct pw_text {
	char	buf[16384];
	size_t	n;
	bool	full;
};

static PW_UNUSED void pw_put(struct pw_text *t, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (t->full)
		return;
	va_start(ap, fmt);
	len = vsnprintf(t->buf + t->n, sizeof(t->buf) - t->n, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(t->buf) - t->n)
		t->full = true;
	else
		t->n += len;
}

/* ---- the world ---- */

struct pw_world {
	struct policy_namespace	ns[PW_NS];	/* the listed ones */
	unsigned int		nns;
	struct policy_namespace	all[PW_NS];	/* every namespace as the reference sees it */
	struct policy_pod	meta[PW_MAX_PODS];
	struct pc_pod		pods[PW_MAX_PODS];
	unsigned int		npods;
	struct policy_spec	specs[PW_MAX_POLICIES];
	struct pc_policy	policies[PW_MAX_POLICIES];
	unsigned int		npolicies;
	unsigned int		refused;	/* generated policies the parser refused */
	struct pc_world		world;
};

static const char *const pw_ns_names[PW_NS] = { "x", "y", "z", "w" };

struct pw_named {
	const char	*name;
	__u8		proto;
	__u16		port;
};

static const struct pw_named pw_port_vocab[] = {
	{ "http", IPPROTO_TCP, 80 },	{ "http", IPPROTO_TCP, 8080 },
	{ "http", IPPROTO_UDP, 80 },	{ "dns", IPPROTO_UDP, 53 },
	{ "dns", IPPROTO_TCP, 53 },	{ "web", IPPROTO_SCTP, 81 },
	{ "metrics", IPPROTO_TCP, 9090 },
};
#define PW_NPORT_VOCAB	(sizeof(pw_port_vocab) / sizeof(pw_port_vocab[0]))

static const char *const pw_port_names[] = { "http", "dns", "web", "metrics", "none" };
static const __u16 pw_numbers[] = { 53, 80, 81, 8080, 9090, 1, 65535, 79 };

/* Label keys and their values: pods (app, role), namespaces (team, env, the name label). */
struct pw_key {
	const char	*key;
	const char	*values[4];
	unsigned int	nvalues;
};

static const struct pw_key pw_pod_keys[] = {
	{ "app", { "a", "b", "c" }, 3 },
	{ "role", { "a", "b" }, 2 },
};
static const struct pw_key pw_ns_keys[] = {
	{ "team", { "a", "b" }, 2 },
	{ "env", { "a", "b" }, 2 },
	{ POLICY_NS_NAME_LABEL, { "x", "y", "z", "w" }, 4 },
};

static PW_UNUSED void pw_free(struct pw_world *w)
{
	unsigned int i;

	for (i = 0; i < w->nns; i++)
		policy_namespace_free(&w->ns[i]);
	for (i = 0; i < PW_NS; i++)
		policy_namespace_free(&w->all[i]);
	for (i = 0; i < w->npods; i++)
		policy_pod_free(&w->meta[i]);
	for (i = 0; i < w->npolicies; i++)
		policy_spec_free(&w->specs[i]);
	memset(w, 0, sizeof(*w));
}

static void pw_selector(struct pw_src *s, struct pw_text *t, const struct pw_key *keys,
			unsigned int nkeys)
{
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };
	unsigned int i, j, n;

	unsigned int shape = pw_pick(s, 4);	/* {}, labels, expressions, both */

	pw_put(t, "{");
	n = shape & 1 ? 1 + pw_pick(s, 2) : 0;
	if (n) {
		pw_put(t, "\"matchLabels\": {");
		for (i = 0; i < n; i++) {
			const struct pw_key *k = &keys[pw_pick(s, nkeys)];

			pw_put(t, "%s\"%s\": \"%s\"", i ? ", " : "", k->key,
			       k->values[pw_pick(s, k->nvalues)]);
		}
		pw_put(t, "}");
	}
	n = shape & 2 ? 1 + pw_pick(s, 2) : 0;
	if (n) {
		pw_put(t, "%s\"matchExpressions\": [", t->buf[t->n - 1] != '{' ? ", " : "");
		for (i = 0; i < n; i++) {
			const struct pw_key *k = &keys[pw_pick(s, nkeys)];
			unsigned int op = pw_pick(s, 4), nv = 1 + pw_pick(s, 2);

			pw_put(t, "%s{\"key\": \"%s\", \"operator\": \"%s\"", i ? ", " : "",
			       k->key, ops[op]);
			if (op < 2) {
				pw_put(t, ", \"values\": [");
				for (j = 0; j < nv; j++)
					pw_put(t, "%s\"%s\"", j ? ", " : "",
					       k->values[pw_pick(s, k->nvalues)]);
				pw_put(t, "]");
			}
			pw_put(t, "}");
		}
		pw_put(t, "]");
	}
	pw_put(t, "}");
}

static __u32 pw_mask(unsigned int len)
{
	return len ? ~0U << (32 - len) : 0;
}

static void pw_addr(struct pw_text *t, __u32 a)
{
	pw_put(t, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* An address near the pods': 10.0.0-3.0-15, or now and then anywhere in 10/8 or 192.168/16. */
static __u32 pw_near(struct pw_src *s)
{
	switch (pw_pick(s, 8)) {
	case 0:
		return 0xc0a80000 | pw_u16(s);
	case 1:
		return 0x0a000000 | pw_byte(s) << 16 | pw_u16(s);
	default:
		return 0x0a000000 | pw_pick(s, 4) << 8 | pw_pick(s, 16);
	}
}

static void pw_ip_block(struct pw_src *s, struct pw_text *t, const struct pw_world *w)
{
	static const unsigned int lens[] = { 0, 8, 16, 22, 24, 28, 30, 32 };
	unsigned int len = lens[pw_pick(s, 8)], i, n;
	__u32 a;

	if (!pw_pick(s, 10)) {
		pw_put(t, "{\"ipBlock\": {\"cidr\": \"2001:db8::/32\"%s}}",
		       pw_pick(s, 2) ? ", \"except\": [\"2001:db8:1::/48\"]" : "");
		return;
	}
	if (!s->focus && pw_pick(s, 3)) {
		a = pw_near(s);
	} else {
		/* Around a pod: the blocks that split an identity's pods, name a pod's own IP. */
		a = ntohl(w->pods[pw_pick(s, w->npods)].addr);
		len = 22 + 2 * pw_pick(s, 6);
	}
	a &= pw_mask(len);
	pw_put(t, "{\"ipBlock\": {\"cidr\": \"");
	pw_addr(t, a);
	pw_put(t, "/%u\"", len);
	n = len < 32 ? pw_pick(s, 3) : 0;
	if (n) {
		pw_put(t, ", \"except\": [");
		for (i = 0; i < n; i++) {
			unsigned int elen = len + 1 + pw_pick(s, 32 - len);
			__u32 e = (a | (pw_near(s) & ~pw_mask(len))) & pw_mask(elen);

			pw_put(t, "%s\"", i ? ", " : "");
			pw_addr(t, e);
			pw_put(t, "/%u\"", elen);
		}
		pw_put(t, "]");
	}
	pw_put(t, "}}");
}

static void pw_peer(struct pw_src *s, struct pw_text *t, const struct pw_world *w)
{
	switch (s->focus ? 3 : pw_pick(s, 5)) {
	case 0:
		pw_put(t, "{\"podSelector\": ");
		pw_selector(s, t, pw_pod_keys, 2);
		pw_put(t, "}");
		break;
	case 1:
		pw_put(t, "{\"namespaceSelector\": ");
		pw_selector(s, t, pw_ns_keys, 3);
		pw_put(t, "}");
		break;
	case 2:
		pw_put(t, "{\"podSelector\": ");
		pw_selector(s, t, pw_pod_keys, 2);
		pw_put(t, ", \"namespaceSelector\": ");
		pw_selector(s, t, pw_ns_keys, 3);
		pw_put(t, "}");
		break;
	default:
		pw_ip_block(s, t, w);
		break;
	}
}

static void pw_port(struct pw_src *s, struct pw_text *t, const struct pw_world *w)
{
	static const char *const protos[] = { NULL, "TCP", "UDP", "SCTP" };
	const char *proto = protos[pw_pick(s, 4)];
	const struct policy_pod *m = &w->meta[pw_pick(s, w->npods)];
	unsigned int p, end;

	/* Half the named ports name one a pod has, with its protocol. */
	if (m->nports && (s->focus || !pw_pick(s, 4))) {
		const struct policy_pod_port *q = &m->ports[pw_pick(s, m->nports)];

		pw_put(t, "{\"protocol\": \"%s\", \"port\": \"%s\"}",
		       policy_proto_name(q->proto), q->name);
		return;
	}
	pw_put(t, "{");
	if (proto)
		pw_put(t, "\"protocol\": \"%s\"%s", proto, ", ");
	switch (pw_pick(s, 6)) {
	case 0:
		break;
	case 1:
	case 2:
		pw_put(t, "\"port\": %u", pw_numbers[pw_pick(s, 8)]);
		break;
	case 3:
		p = pw_pick(s, 4) ? pw_numbers[pw_pick(s, 8)] : 1 + pw_u16(s) % 65535;
		switch (pw_pick(s, 4)) {
		case 0: end = p; break;
		case 1: end = p + 1; break;
		case 2: end = p + pw_byte(s); break;
		default: end = 65535; break;
		}
		pw_put(t, "\"port\": %u, \"endPort\": %u", p, end > 65535 ? 65535 : end);
		break;
	default:
		pw_put(t, "\"port\": \"%s\"", pw_port_names[pw_pick(s, 5)]);
		break;
	}
	if (t->n >= 2 && t->buf[t->n - 1] == ' ' && t->buf[t->n - 2] == ',')
		t->n -= 2;	/* a protocol alone */
	pw_put(t, "}");
}

static void pw_rules(struct pw_src *s, struct pw_text *t, const char *dir, const char *peers,
		     const struct pw_world *w)
{
	static const unsigned int counts[6] = { 0, 0, 1, 1, 2, 2 };
	unsigned int shape = pw_pick(s, 6), i, j, m;

	if (!shape)
		return;		/* absent */
	pw_put(t, ", \"%s\": [", dir);
	for (i = 0; i < counts[shape]; i++) {
		pw_put(t, "%s{", i ? ", " : "");
		m = pw_pick(s, 4);
		if (m) {
			pw_put(t, "\"%s\": [", peers);
			for (j = 0; j < m - 1; j++) {
				pw_put(t, "%s", j ? ", " : "");
				pw_peer(s, t, w);
			}
			pw_put(t, "]");
		}
		m = pw_pick(s, 4);
		if (m) {
			pw_put(t, "%s\"ports\": [", t->buf[t->n - 1] == '{' ? "" : ", ");
			for (j = 0; j < m - 1; j++) {
				pw_put(t, "%s", j ? ", " : "");
				pw_port(s, t, w);
			}
			pw_put(t, "]");
		}
		pw_put(t, "}");
	}
	pw_put(t, "]");
}

/* The policy text: written for the parser, kept for a failure's report. */
static void pw_policy_text(struct pw_src *s, struct pw_text *t, unsigned int i,
			   const struct pw_world *w)
{
	const char *ns = pw_pick(s, 4) ? w->meta[pw_pick(s, w->npods)].namespace :
			 pw_ns_names[pw_pick(s, PW_NS)];
	static const char *const types[] = { NULL, "[\"Ingress\"]", "[\"Egress\"]",
					     "[\"Ingress\", \"Egress\"]", "[]" };
	const char *type = types[s->focus ? 2 : pw_pick(s, 5)];

	t->n = 0;
	t->full = false;
	pw_put(t, "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\", "
	       "\"metadata\": {\"name\": \"p%u\", \"namespace\": \"%s\"}, \"spec\": {"
	       "\"podSelector\": ", i, ns);
	pw_selector(s, t, pw_pod_keys, 2);
	if (type)
		pw_put(t, ", \"policyTypes\": %s", type);
	pw_rules(s, t, "ingress", "from", w);
	pw_rules(s, t, "egress", "to", w);
	pw_put(t, "}}");
}

/* A pod's namespace, labels and named ports, from s. 0 or -ENOMEM. */
static int pw_gen_meta(struct pw_src *s, struct policy_pod *m)
{
	unsigned int j;

	m->namespace = strdup(pw_ns_names[pw_pick(s, PW_NS)]);
	if (!m->namespace)
		return -ENOMEM;
	for (j = 0; j < 2; j++) {
		unsigned int v = pw_pick(s, pw_pod_keys[j].nvalues + 1);

		if (v && label_set_add(&m->labels, pw_pod_keys[j].key,
				       pw_pod_keys[j].values[v - 1]))
			return -ENOMEM;
	}
	m->nports = pw_pick(s, 3);
	if (m->nports) {
		m->ports = calloc(m->nports, sizeof(*m->ports));
		if (!m->ports) {
			m->nports = 0;
			return -ENOMEM;
		}
	}
	for (j = 0; j < m->nports; j++) {
		const struct pw_named *v = &pw_port_vocab[pw_pick(s, PW_NPORT_VOCAB)];

		m->ports[j].name = strdup(v->name);
		if (!m->ports[j].name)
			return -ENOMEM;
		m->ports[j].proto = v->proto;
		m->ports[j].port = v->port;
	}
	return 0;
}

/* The namespace, labels and named ports of another pod. 0 or -ENOMEM. */
static int pw_copy_meta(struct policy_pod *m, const struct policy_pod *from)
{
	unsigned int j;

	m->namespace = strdup(from->namespace);
	if (!m->namespace || label_set_copy(&m->labels, &from->labels))
		return -ENOMEM;
	if (!from->nports)
		return 0;
	m->ports = calloc(from->nports, sizeof(*m->ports));
	if (!m->ports)
		return -ENOMEM;
	m->nports = from->nports;
	for (j = 0; j < m->nports; j++) {
		m->ports[j] = from->ports[j];
		m->ports[j].name = strdup(from->ports[j].name);
		if (!m->ports[j].name)
			return -ENOMEM;
	}
	return 0;
}

/*
 * A world of at most max_pods pods and max_policies policies. 0, or -ENOMEM (w holds nothing).
 * A policy the parser refuses (only when the text filled its buffer) is left out, counted.
 */
static PW_UNUSED int pw_build(struct pw_world *w, struct pw_src *s, unsigned int max_pods,
			      unsigned int max_policies)
{
	char *keys[PW_MAX_PODS] = {};
	struct pw_text *t;
	unsigned int i, j, n;
	int ret = -ENOMEM;

	memset(w, 0, sizeof(*w));
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (i = 0; i < PW_NS; i++) {
		struct label_set labels = {};
		bool listed = i < 3 && pw_pick(s, 4);

		for (j = 0; listed && j < 2; j++) {
			unsigned int v = pw_pick(s, 3);

			if (v && label_set_add(&labels, pw_ns_keys[j].key,
					       pw_ns_keys[j].values[v - 1]))
				goto fail_labels;
		}
		/* A listed namespace whose labels claim another name: the name wins. */
		if (listed && !pw_pick(s, 8) &&
		    label_set_add(&labels, POLICY_NS_NAME_LABEL, "y"))
			goto fail_labels;
		if (policy_namespace_init(&w->all[i], pw_ns_names[i], &labels) ||
		    (listed && policy_namespace_init(&w->ns[w->nns++], pw_ns_names[i], &labels)))
			goto fail_labels;
		label_set_free(&labels);
		continue;
fail_labels:
		label_set_free(&labels);
		goto fail;
	}

	n = 1 + pw_pick(s, max_pods);
	for (i = 0; i < n; i++) {
		struct policy_pod *m = &w->meta[i];
		char name[16];

		w->npods++;
		snprintf(name, sizeof(name), "p%u", i);
		m->name = strdup(name);
		if (!m->name)
			goto fail;
		/* A replica of an earlier pod now and then: one identity, another address. */
		if (i && !pw_pick(s, 3)) {
			if (pw_copy_meta(m, &w->meta[pw_pick(s, i)]))
				goto fail;
		} else if (pw_gen_meta(s, m)) {
			goto fail;
		}
		w->pods[i].meta = m;
		w->pods[i].addr = htonl(0x0a000000 | pw_pick(s, 4) << 8 | (i + 1));
		w->pods[i].local = !i || pw_pick(s, 3);
		w->pods[i].ifindex = w->pods[i].local ? 100 + i : 0;
		/* Identities as podlaned gives them: one per distinct key. */
		keys[i] = policy_identity_key(m);
		if (!keys[i])
			goto fail;
		for (j = 0; j < i && strcmp(keys[j], keys[i]); j++)
			;
		w->pods[i].id = j < i ? w->pods[j].id : PODLANE_ID_POD_BASE + i;
	}

	n = pw_pick(s, max_policies + 1);
	for (i = 0; i < n; i++) {
		struct policy_spec *p = &w->specs[w->npolicies];
		char err[256];
		int r;

		pw_policy_text(s, t, i, w);
		r = t->full ? -EINVAL : policy_spec_parse_text(t->buf, t->n, p, err, sizeof(err));
		if (r == -ENOMEM)
			goto fail;
		if (r) {
			w->refused++;
			continue;
		}
		/* Ids not in list order, so "the lowest" means something. */
		w->policies[w->npolicies].spec = p;
		w->policies[w->npolicies].id = 1 + (7 * i + 3) % (PW_MAX_POLICIES + 3);
		w->npolicies++;
	}
	w->world = (struct pc_world){
		.namespaces = w->ns, .nnamespaces = w->nns,
		.pods = w->pods, .npods = w->npods,
		.policies = w->policies, .npolicies = w->npolicies,
	};
	ret = 0;
fail:
	for (i = 0; i < PW_MAX_PODS; i++)
		free(keys[i]);
	free(t);
	if (ret)
		pw_free(w);
	return ret;
}

/* ---- the reference ---- */

/* A peer as the datapath sees it: an address, and the pod behind it if any. */
struct pw_peer {
	const struct pc_pod	*pod;
	__be32			addr;
};

static const struct label_set *pw_ns_labels(const struct pw_world *w, const char *name)
{
	unsigned int i;

	for (i = 0; i < w->nns; i++)
		if (!strcmp(w->ns[i].name, name))
			return &w->ns[i].labels;
	for (i = 0; i < PW_NS; i++)
		if (!strcmp(pw_ns_names[i], name))
			break;
	/* Not listed: only the implied name label. */
	return i < PW_NS ? &w->all[i].labels : NULL;
}

/* Whether a policy applies to a pod for a direction (0 ingress, 1 egress). */
static bool pw_isolates(const struct policy_spec *s, const struct policy_pod *pod, int dir)
{
	return (s->types & (dir ? POLICY_TYPE_EGRESS : POLICY_TYPE_INGRESS)) &&
	       policy_selects_pod(s, &pod->labels, pod->namespace);
}

/* Whether a rule of a policy admits a peer: no peers, or one selects its pod or address. */
static bool pw_rule_admits(const struct pw_world *w, const struct policy_spec *s,
			   const struct policy_rule *rule, const struct pw_peer *peer)
{
	unsigned int j;

	if (!rule->npeers)
		return true;
	for (j = 0; j < rule->npeers; j++) {
		const struct policy_peer *pp = &rule->peers[j];

		if (peer->pod &&
		    policy_peer_matches_pod(pp, &peer->pod->meta->labels,
					    pw_ns_labels(w, peer->pod->meta->namespace),
					    peer->pod->meta->namespace, s->namespace))
			return true;
		if (policy_peer_matches_addr(pp, AF_INET, &peer->addr))
			return true;
	}
	return false;
}

/* The pod whose ports a rule's ports name: on ingress the local pod, on egress the peer's. */
static const struct policy_pod *pw_dst(const struct pc_pod *l, int dir,
				       const struct pw_peer *peer)
{
	return dir ? (peer->pod ? peer->pod->meta : NULL) : l->meta;
}

/* Whether one rule of a policy allows a peer, local pod l being the other end. */
static bool pw_rule_allows(const struct pw_world *w, const struct policy_spec *s,
			   const struct policy_rule *rule, const struct pc_pod *l, int dir,
			   const struct pw_peer *peer, __u8 proto, __u16 port)
{
	return pw_rule_admits(w, s, rule, peer) &&
	       policy_rule_ports_match(rule, pw_dst(l, dir, peer), proto, port);
}

/* The verdict Kubernetes defines; *isolated and *lowest (the isolating policy) as well. */
static bool pw_ref_allows(const struct pw_world *w, const struct pc_pod *l, int dir,
			  const struct pw_peer *peer, __u8 proto, __u16 port, bool *isolated,
			  __u32 *lowest)
{
	bool allowed = false;
	unsigned int k, r;

	*isolated = false;
	*lowest = 0;
	for (k = 0; k < w->npolicies; k++) {
		const struct policy_spec *s = w->policies[k].spec;
		const struct policy_rule *rules = dir ? s->egress : s->ingress;
		unsigned int n = dir ? s->negress : s->ningress;

		if (!pw_isolates(s, l->meta, dir))
			continue;
		if (!*isolated || w->policies[k].id < *lowest)
			*lowest = w->policies[k].id;
		*isolated = true;
		for (r = 0; r < n && !allowed; r++)
			allowed = pw_rule_allows(w, s, &rules[r], l, dir, peer, proto, port);
	}
	return !*isolated || allowed;
}

/* A lookup in a compiled rule set, as the datapath does it. */
static bool pw_set_allows(const struct pc_rule_set *set, const __u32 *ids, unsigned int nids,
			  __u8 proto, __u16 port)
{
	unsigned int i, j;

	for (i = 0; i < set->n; i++) {
		const struct pc_entry *e = &set->entries[i];

		for (j = 0; j < nids; j++)
			if (e->peer == ids[j] && (!e->proto || e->proto == proto) &&
			    port >= e->port_lo && port <= e->port_hi)
				return true;
	}
	return false;
}

/* What the datapath looks up for a peer: its identity, its address's CIDR id, any. */
static unsigned int pw_peer_ids(const struct pc_result *res, const struct pw_peer *peer,
				__u32 ids[3])
{
	unsigned int n = 0;

	if (peer->pod)
		ids[n++] = peer->pod->id;
	ids[n] = policy_cidr_id_of(res, peer->addr);
	n += !!ids[n];
	ids[n++] = PODLANE_ID_ANY;
	return n;
}

static PW_UNUSED bool pw_compiled_allows(const struct pc_result *res,
					 const struct pc_endpoint *ep, int dir,
					 const struct pw_peer *peer, __u8 proto, __u16 port)
{
	const struct pc_rule_set *set = dir ? &ep->egress : &ep->ingress;
	__u32 ids[3], flag = dir ? PODLANE_POL_F_EGRESS : PODLANE_POL_F_INGRESS;
	unsigned int n;

	if (!(ep->flags & flag))
		return true;
	n = pw_peer_ids(res, peer, ids);
	return pw_set_allows(set, ids, n, proto, port);
}

/* ---- the check ---- */

struct pw_report {
	char	msg[512];
	bool	failed;
};

static PW_UNUSED void pw_fail(struct pw_report *rep, const char *fmt, ...)
{
	va_list ap;

	if (rep->failed)
		return;
	rep->failed = true;
	va_start(ap, fmt);
	vsnprintf(rep->msg, sizeof(rep->msg), fmt, ap);
	va_end(ap);
}

static void pw_peer_str(const struct pw_peer *p, char *out, size_t len)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &p->addr, a, sizeof(a));
	if (p->pod)
		snprintf(out, len, "%s (pod %s/%s, id %u)", a, p->pod->meta->namespace,
			 p->pod->meta->name, p->pod->id);
	else
		snprintf(out, len, "%s (no pod)", a);
}

static const struct pc_pod *pw_pod_at(const struct pw_world *w, __be32 addr)
{
	unsigned int i;

	for (i = 0; i < w->npods; i++)
		if (w->pods[i].addr == addr)
			return &w->pods[i];
	return NULL;
}

static const struct pc_pod *pw_pod_with_id(const struct pw_world *w, __u32 id)
{
	unsigned int i;

	for (i = 0; i < w->npods; i++)
		if (w->pods[i].id == id)
			return &w->pods[i];
	return NULL;
}

static const struct pc_policy *pw_policy(const struct pw_world *w, __u32 id)
{
	unsigned int k;

	for (k = 0; k < w->npolicies; k++)
		if (w->policies[k].id == id)
			return &w->policies[k];
	return NULL;
}

/* An address whose most specific prefix is CIDR id `id`, or 0 when more specific ones hide
 * all the candidates tried. */
static __be32 pw_addr_of_cidr(const struct pc_result *res, __u32 id)
{
	const struct pc_cidr *c = &res->cidrs[id - PODLANE_ID_CIDR_BASE];
	__u32 base, size, tries[5];
	unsigned int i;

	memcpy(&base, c->cidr.addr, 4);
	base = ntohl(base);
	size = c->cidr.prefix_len ? 1U << (32 - c->cidr.prefix_len) : 0;
	tries[0] = base;
	tries[1] = base + size - 1;
	tries[2] = base + size / 2;
	tries[3] = base + size / 2 - 1;
	tries[4] = base + size / 3;
	for (i = 0; i < 5; i++)
		if (policy_cidr_id_of(res, htonl(tries[i])) == id)
			return htonl(tries[i]);
	return 0;
}

static const __u8 pw_protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP };

/* Each entry stands for something the policy and rule it names allow. */
static void pw_check_entry(const struct pw_world *w, const struct pc_result *res,
			   const struct pc_pod *l, int dir, const struct pc_entry *e,
			   struct pw_report *rep)
{
	const struct pc_policy *pol = pw_policy(w, e->policy);
	const struct policy_rule *rule;
	struct pw_peer peer = {};
	__u16 ports[3] = { e->port_lo, e->port_hi, e->port_lo + (e->port_hi - e->port_lo) / 2 };
	char ps[96];
	unsigned int i, j;

	if (!pol || !pw_isolates(pol->spec, l->meta, dir) ||
	    e->rule >= (dir ? pol->spec->negress : pol->spec->ningress)) {
		pw_fail(rep, "pod %s/%s %s: entry names policy %u rule %u, which does not apply",
			l->meta->namespace, l->meta->name, dir ? "egress" : "ingress", e->policy,
			e->rule);
		return;
	}
	rule = dir ? &pol->spec->egress[e->rule] : &pol->spec->ingress[e->rule];
	if (e->peer == PODLANE_ID_ANY) {
		peer.addr = htonl(0xcb007101);	/* 203.0.113.1: anywhere */
		if (rule->npeers)
			pw_fail(rep, "pod %s/%s: an any-peer entry from policy %u rule %u, which "
				"has peers", l->meta->namespace, l->meta->name, e->policy, e->rule);
	} else if (e->peer >= PODLANE_ID_CIDR_BASE) {
		if (e->peer - PODLANE_ID_CIDR_BASE >= res->ncidrs) {
			pw_fail(rep, "entry with unknown CIDR id %#x", e->peer);
			return;
		}
		peer.addr = pw_addr_of_cidr(res, e->peer);
		if (!peer.addr)
			return;		/* hidden everywhere tried: nothing to sample */
		peer.pod = pw_pod_at(w, peer.addr);
	} else {
		peer.pod = pw_pod_with_id(w, e->peer);
		if (!peer.pod) {
			pw_fail(rep, "entry with unknown identity %u", e->peer);
			return;
		}
		peer.addr = peer.pod->addr;
	}
	if (e->port_lo > e->port_hi || (!e->proto && (e->port_lo || e->port_hi != 65535))) {
		pw_fail(rep, "entry with range %u..%u proto %u", e->port_lo, e->port_hi, e->proto);
		return;
	}
	for (i = 0; i < 3; i++)
		for (j = 0; j < (e->proto ? 1 : 4); j++) {
			__u8 proto = e->proto ? e->proto : pw_protos[j];

			if (pw_rule_allows(w, pol->spec, rule, l, dir, &peer, proto, ports[i]))
				continue;
			pw_peer_str(&peer, ps, sizeof(ps));
			pw_fail(rep, "pod %s/%s %s: entry {peer %#x proto %u %u..%u} names policy "
				"%u rule %u, which does not allow %s proto %u port %u",
				l->meta->namespace, l->meta->name, dir ? "egress" : "ingress",
				e->peer, e->proto, e->port_lo, e->port_hi, e->policy, e->rule, ps,
				proto, ports[i]);
			return;
		}
}

static void pw_check_set(const struct pw_world *w, const struct pc_result *res,
			 const struct pc_pod *l, const struct pc_endpoint *ep, int dir,
			 struct pw_report *rep)
{
	const struct pc_rule_set *set = dir ? &ep->egress : &ep->ingress;
	__u32 flag = dir ? PODLANE_POL_F_EGRESS : PODLANE_POL_F_INGRESS, lowest;
	struct pw_peer none = { .addr = htonl(0xcb007101) };
	bool isolated;
	unsigned int i;

	pw_ref_allows(w, l, dir, &none, IPPROTO_TCP, 80, &isolated, &lowest);
	if (isolated != !!(ep->flags & flag) || (isolated && set->policy != lowest) ||
	    (!isolated && set->n)) {
		pw_fail(rep, "pod %s/%s %s: isolated %d policy %u (%u entries), the reference: "
			"isolated %d by policy %u", l->meta->namespace, l->meta->name,
			dir ? "egress" : "ingress", !!(ep->flags & flag), set->policy, set->n,
			isolated, lowest);
		return;
	}
	for (i = 0; i < set->n; i++) {
		const struct pc_entry *a = &set->entries[i - !!i], *b = &set->entries[i];

		if (i && (policy_entry_cmp(a, b) >= 0 ||
			  (a->peer == b->peer && a->proto == b->proto &&
			   a->port_lo == b->port_lo && a->port_hi == b->port_hi))) {
			pw_fail(rep, "pod %s/%s %s: entries %u and %u out of order or repeated",
				l->meta->namespace, l->meta->name, dir ? "egress" : "ingress",
				i - 1, i);
			return;
		}
		pw_check_entry(w, res, l, dir, b, rep);
	}
}

static int pw_port_cmp(const void *a, const void *b)
{
	return (int)*(const __u16 *)a - (int)*(const __u16 *)b;
}

/* Ports worth probing: the ones policies and pods name, their neighbours, the ends. */
static unsigned int pw_probe_ports(const struct pw_world *w, __u16 *out, unsigned int max)
{
	unsigned int n = 0, k, r, q, i, d;
	__u32 cand[8];

#define PW_ADD(p)	do { if (n < max && (p) <= 65535) out[n++] = (p); } while (0)
	PW_ADD(0);
	PW_ADD(1);
	PW_ADD(65535);
	for (i = 0; i < PW_NPORT_VOCAB; i++)
		PW_ADD(pw_port_vocab[i].port);
	for (k = 0; k < w->npolicies; k++) {
		const struct policy_spec *s = w->policies[k].spec;

		for (d = 0; d < 2; d++)
			for (r = 0; r < (d ? s->negress : s->ningress); r++) {
				const struct policy_rule *rule = d ? &s->egress[r] : &s->ingress[r];

				for (q = 0; q < rule->nports; q++) {
					const struct policy_port *pp = &rule->ports[q];

					if (!pp->port)
						continue;
					cand[0] = pp->port - 1;
					cand[1] = pp->port;
					cand[2] = pp->end_port;
					cand[3] = pp->end_port + 1;
					for (i = 0; i < 4; i++)
						PW_ADD(cand[i]);
				}
			}
	}
#undef PW_ADD
	return n;
}

/*
 * The verdicts for one local pod and direction: every peer, protocol and port, the reference
 * against a lookup in the compiled set. pw_ref_allows() rearranged so that what does not
 * depend on the protocol and port (isolation, which rules admit the peer) is found once; the
 * first probe of each peer also goes through pw_ref_allows() itself, which must agree.
 */
static bool pw_check_verdicts(const struct pw_world *w, const struct pc_result *res,
			      const struct pc_pod *l, const struct pc_endpoint *ep, int dir,
			      const struct pw_peer *peers, unsigned int npeers,
			      const __u16 *ports, unsigned int nports, struct pw_report *rep)
{
	const struct pc_rule_set *set = dir ? &ep->egress : &ep->ingress;
	__u32 flag = dir ? PODLANE_POL_F_EGRESS : PODLANE_POL_F_INGRESS, ids[3], lowest;
	bool admits[PW_MAX_POLICIES][POLICY_MAX_RULES], isolated;
	unsigned int pols[PW_MAX_POLICIES], npols = 0, pi, k, j, r, q, nids;
	char ps[96];

	for (k = 0; k < w->npolicies; k++)
		if (pw_isolates(w->policies[k].spec, l->meta, dir))
			pols[npols++] = k;
	for (pi = 0; pi < npeers; pi++) {
		const struct pw_peer *peer = &peers[pi];
		const struct policy_pod *dst = pw_dst(l, dir, peer);

		nids = pw_peer_ids(res, peer, ids);
		for (j = 0; j < npols; j++) {
			const struct policy_spec *s = w->policies[pols[j]].spec;

			for (r = 0; r < (dir ? s->negress : s->ningress); r++)
				admits[j][r] = pw_rule_admits(w, s, dir ? &s->egress[r] :
							      &s->ingress[r], peer);
		}
		for (k = 0; k < sizeof(pw_protos); k++)
			for (q = 0; q < (pw_protos[k] == IPPROTO_ICMP ? 1 : nports); q++) {
				__u8 proto = pw_protos[k];
				__u16 port = proto == IPPROTO_ICMP ? 0 : ports[q];
				bool ref = !npols, got;

				for (j = 0; j < npols && !ref; j++) {
					const struct policy_spec *s = w->policies[pols[j]].spec;

					for (r = 0; r < (dir ? s->negress : s->ningress) && !ref;
					     r++)
						ref = admits[j][r] && policy_rule_ports_match(
							dir ? &s->egress[r] : &s->ingress[r], dst,
							proto, port);
				}
				if (!k && !q && ref != pw_ref_allows(w, l, dir, peer, proto, port,
								   &isolated, &lowest)) {
					pw_fail(rep, "the rearranged reference disagrees");
					return false;
				}
				got = !(ep->flags & flag) || pw_set_allows(set, ids, nids, proto,
									   port);
				if (ref == got)
					continue;
				pw_peer_str(peer, ps, sizeof(ps));
				pw_fail(rep, "pod %s/%s %s %s %s proto %u port %u: the reference %s, "
					"the compiled set %s", l->meta->namespace, l->meta->name,
					dir ? "egress" : "ingress", dir ? "to" : "from", ps, proto,
					port, ref ? "allows" : "denies", got ? "allows" : "denies");
				return false;
			}
	}
	return true;
}

/*
 * Check a compiled result against the reference. Extra probe ports and addresses come from s
 * (nprobe of each). limit, when not 0, keeps that many of the CIDRs' addresses and of the
 * ports that matter, and the verdicts of two neighbouring local pods, picked by s (a fuzzer's
 * budget: over many executions every pod is swept); 0 probes them all. Returns false with
 * rep->msg on the first difference.
 */
static PW_UNUSED bool pw_check(const struct pw_world *w, const struct pc_result *res,
			       struct pw_src *s, unsigned int nprobe, unsigned int limit,
			       struct pw_report *rep)
{
	struct pw_peer peers[PW_MAX_PODS + 64 * 4 + 64];
	__u16 ports[256];
	unsigned int npeers = 0, nports, i, j, e, nlocal = 0, d, k;

	/* CIDRs: sorted, unique, IPv4, numbered in order; the lookup finds the longest. */
	for (i = 0; i < res->ncidrs; i++) {
		const struct pc_cidr *c = &res->cidrs[i];
		__u32 a;

		memcpy(&a, c->cidr.addr, 4);
		if (c->cidr.family != AF_INET || c->id != PODLANE_ID_CIDR_BASE + i ||
		    (ntohl(a) & ~pw_mask(c->cidr.prefix_len))) {
			pw_fail(rep, "CIDR %u: family %u id %#x", i, c->cidr.family, c->id);
			return false;
		}
		if (i) {
			__u32 b;

			memcpy(&b, res->cidrs[i - 1].cidr.addr, 4);
			if (ntohl(b) > ntohl(a) || (b == a && res->cidrs[i - 1].cidr.prefix_len >=
							     c->cidr.prefix_len)) {
				pw_fail(rep, "CIDRs %u and %u out of order or repeated", i - 1, i);
				return false;
			}
		}
	}

	for (i = 0; i < w->npods; i++) {
		const struct pc_pod *l = &w->pods[i];
		const struct pc_endpoint *ep;

		if (!l->local)
			continue;
		if (nlocal >= res->nendpoints) {
			pw_fail(rep, "%u endpoints for more local pods", res->nendpoints);
			return false;
		}
		ep = &res->endpoints[nlocal++];
		if (ep->ifindex != l->ifindex || ep->id != l->id) {
			pw_fail(rep, "endpoint %u: ifindex %u id %u, pod %s/%s has %u and %u",
				nlocal - 1, ep->ifindex, ep->id, l->meta->namespace, l->meta->name,
				l->ifindex, l->id);
			return false;
		}
		for (d = 0; d < 2; d++)
			pw_check_set(w, res, l, ep, d, rep);
		if (rep->failed)
			return false;
		/* Pods of one identity: equal rule sets, equal hashes. */
		for (j = 0, e = 0; j < i; j++) {
			if (!w->pods[j].local)
				continue;
			if (w->pods[j].id == l->id &&
			    (!policy_rule_set_equal(&res->endpoints[e].ingress, &ep->ingress) ||
			     !policy_rule_set_equal(&res->endpoints[e].egress, &ep->egress) ||
			     policy_rule_set_hash(&res->endpoints[e].egress) !=
			     policy_rule_set_hash(&ep->egress) ||
			     res->endpoints[e].flags != ep->flags)) {
				pw_fail(rep, "pods %s and %s share identity %u, not rule sets",
					w->pods[j].meta->name, l->meta->name, l->id);
				return false;
			}
			e++;
		}
	}
	if (nlocal != res->nendpoints) {
		pw_fail(rep, "%u endpoints for %u local pods", res->nendpoints, nlocal);
		return false;
	}

	/* Peers: every pod; addresses around every CIDR and a few more, where no pod is. */
	for (i = 0; i < w->npods; i++)
		peers[npeers++] = (struct pw_peer){ &w->pods[i], w->pods[i].addr };
	for (k = 0; k < res->ncidrs && k < 64 && (!limit || k < limit); k++) {
		const struct pc_cidr *c = &res->cidrs[limit ? pw_pick(s, res->ncidrs) : k];
		__u32 a, size, cand[4];

		memcpy(&a, c->cidr.addr, 4);
		a = ntohl(a);
		size = c->cidr.prefix_len ? 1U << (32 - c->cidr.prefix_len) : 0;
		cand[0] = a;
		cand[1] = a + size - 1;
		cand[2] = a - 1;
		cand[3] = a + size;
		for (j = 0; j < 4; j++)
			if (!pw_pod_at(w, htonl(cand[j])))
				peers[npeers++] = (struct pw_peer){ NULL, htonl(cand[j]) };
	}
	for (i = 0; i < nprobe && i < 64; i++) {
		__be32 a = htonl(pw_near(s));

		if (!pw_pod_at(w, a))
			peers[npeers++] = (struct pw_peer){ NULL, a };
	}
	nports = pw_probe_ports(w, ports, sizeof(ports) / sizeof(ports[0]) - 64);
	qsort(ports, nports, sizeof(ports[0]), pw_port_cmp);
	for (i = 0, j = 0; i < nports; i++)
		if (!j || ports[j - 1] != ports[i])
			ports[j++] = ports[i];
	nports = j;
	for (i = 0; limit && nports > limit && i < limit; i++) {
		__u16 tmp = ports[i];

		j = i + pw_pick(s, nports - i);
		ports[i] = ports[j];
		ports[j] = tmp;
	}
	if (limit && nports > limit)
		nports = limit;
	for (i = 0; i < nprobe && i < 64; i++)
		ports[nports++] = pw_u16(s);

	/* With a limit, the verdicts of two local pods picked by s; without, of every one. */
	k = limit && nlocal > 2 ? pw_pick(s, nlocal - 1) : 0;
	for (i = 0, e = 0; i < w->npods; i++) {
		const struct pc_pod *l = &w->pods[i];
		const struct pc_endpoint *ep;

		if (!l->local)
			continue;
		ep = &res->endpoints[e++];
		if (limit && nlocal > 2 && e - 1 != k && e - 1 != k + 1)
			continue;
		for (d = 0; d < 2; d++)
			if (!pw_check_verdicts(w, res, l, ep, d, peers, npeers, ports, nports, rep))
				return false;
	}
	return true;
}

/* The world, for a failure's report: pods, then policies as canonical JSON. */
static PW_UNUSED void pw_dump(const struct pw_world *w, FILE *f)
{
	char a[INET_ADDRSTRLEN];
	unsigned int i, j;

	for (i = 0; i < w->nns; i++) {
		fprintf(f, "# namespace %s:", w->ns[i].name);
		for (j = 0; j < w->ns[i].labels.n; j++)
			fprintf(f, " %s=%s", w->ns[i].labels.labels[j].key,
				w->ns[i].labels.labels[j].value);
		fprintf(f, "\n");
	}
	for (i = 0; i < w->npods; i++) {
		const struct policy_pod *m = w->pods[i].meta;

		inet_ntop(AF_INET, &w->pods[i].addr, a, sizeof(a));
		fprintf(f, "# pod %s/%s %s id %u%s:", m->namespace, m->name, a, w->pods[i].id,
			w->pods[i].local ? " local" : "");
		for (j = 0; j < m->labels.n; j++)
			fprintf(f, " %s=%s", m->labels.labels[j].key, m->labels.labels[j].value);
		for (j = 0; j < m->nports; j++)
			fprintf(f, " port %s/%u/%u", m->ports[j].name, m->ports[j].proto,
				m->ports[j].port);
		fprintf(f, "\n");
	}
	for (i = 0; i < w->npolicies; i++) {
		struct json_object *o = policy_spec_to_json(w->policies[i].spec);

		fprintf(f, "# policy id %u: %s\n", w->policies[i].id,
			o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "?");
		json_object_put(o);
	}
}

#endif /* PODLANE_POLICY_WORLD_H */
