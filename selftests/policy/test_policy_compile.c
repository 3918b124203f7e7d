// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_policy_compile.c - the policy compiler (userspace/lib/policy_compile.c), with
 * kselftest_harness.h: NetworkPolicies and the pods and namespaces their selectors see, in,
 * rule sets as the datapath enforces them, out. Each semantic of the API has its case, checked
 * three ways: the entries themselves, verdicts looked up in the compiled sets as the datapath
 * does (the peer's identity, its address's CIDR id, any), and policy_world.h's reference,
 * which judges every peer, protocol and port from the policies with policy_spec.h's matching.
 * Upstream's layout where it fits: namespaces x, y, z with pods a, b, c, ports 80 and 81.
 * Then random worlds with fixed seeds against the same reference, the -E2BIG bound, the LPM
 * port prefixes against a brute force over all 65536 ports, identity keys and rule set
 * equality. Pure userspace: no root, no BPF.
 */
#include "kselftest_harness.h"
#include "policy_world.h"

#define TCP	IPPROTO_TCP
#define UDP	IPPROTO_UDP
#define SCTP	IPPROTO_SCTP
#define IN	0
#define OUT	1

#define POL(ns, spec)	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" \
			"metadata: {name: p, namespace: " ns "}\nspec: " spec "\n"

/* ---- a world written by hand, on policy_world.h's ---- */

struct tw {
	struct pw_world		w;
	struct pc_result	res;
	char			err[256];
	bool			compiled;
};

static void tw_init(struct tw *t)
{
	unsigned int i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < PW_NS; i++)
		if (policy_namespace_init(&t->w.all[i], pw_ns_names[i], NULL))
			abort();
}

static void tw_free(struct tw *t)
{
	policy_result_free(&t->res);
	pw_free(&t->w);
}

/* "k=v,k2=v2" into a label set. */
static void tw_labels(struct label_set *set, const char *text)
{
	char buf[256], *tok, *save, *eq;

	snprintf(buf, sizeof(buf), "%s", text ? text : "");
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		eq = strchr(tok, '=');
		if (!eq)
			abort();
		*eq = '\0';
		if (label_set_add(set, tok, eq + 1))
			abort();
	}
}

/* List a namespace with labels, or give a listed one new labels. */
static void tw_ns(struct tw *t, const char *name, const char *labels)
{
	struct label_set set = {};
	unsigned int i;

	tw_labels(&set, labels);
	for (i = 0; i < t->w.nns && strcmp(t->w.ns[i].name, name); i++)
		;
	if (i == t->w.nns)
		t->w.nns++;
	else
		policy_namespace_free(&t->w.ns[i]);
	if (policy_namespace_init(&t->w.ns[i], name, &set))
		abort();
	for (i = 0; i < PW_NS && strcmp(pw_ns_names[i], name); i++)
		;
	if (i == PW_NS)
		abort();
	policy_namespace_free(&t->w.all[i]);
	if (policy_namespace_init(&t->w.all[i], name, &set))
		abort();
	label_set_free(&set);
}

static __be32 ip(const char *text)
{
	struct in_addr a;

	if (inet_pton(AF_INET, text, &a) != 1)
		abort();
	return a.s_addr;
}

static const char *proto_arg(__u8 proto)
{
	return proto == TCP ? "TCP" : proto == UDP ? "UDP" : "SCTP";
}

/* A pod "ns/name" with labels "k=v,..." and named ports "name/TCP/80 ...". */
static struct pc_pod *tw_pod(struct tw *t, const char *ns_name, const char *labels,
			     const char *ports, const char *addr, bool local)
{
	struct policy_pod *m = &t->w.meta[t->w.npods];
	struct pc_pod *p = &t->w.pods[t->w.npods];
	char buf[256], *tok, *save, name[32], proto[8];
	const char *slash = strchr(ns_name, '/');
	unsigned int port;

	if (t->w.npods == PW_MAX_PODS || !slash)
		abort();
	t->w.npods++;
	m->namespace = strndup(ns_name, slash - ns_name);
	m->name = strdup(slash + 1);
	tw_labels(&m->labels, labels);
	snprintf(buf, sizeof(buf), "%s", ports ? ports : "");
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		struct policy_pod_port *q;

		if (sscanf(tok, "%31[^/]/%7[^/]/%u", name, proto, &port) != 3)
			abort();
		m->ports = realloc(m->ports, (m->nports + 1) * sizeof(*m->ports));
		q = &m->ports[m->nports++];
		q->name = strdup(name);
		q->proto = !strcmp(proto, "TCP") ? TCP : !strcmp(proto, "UDP") ? UDP : SCTP;
		q->port = port;
	}
	p->meta = m;
	p->addr = ip(addr);
	p->local = local;
	p->ifindex = local ? 100 + t->w.npods : 0;
	return p;
}

static void tw_policy(struct __test_metadata *_metadata, struct tw *t, __u32 id,
		      const char *text)
{
	struct policy_spec *s = &t->w.specs[t->w.npolicies];
	char err[256] = "";

	ASSERT_LT(t->w.npolicies, PW_MAX_POLICIES);
	ASSERT_EQ(0, policy_spec_parse_text(text, strlen(text), s, err, sizeof(err)))
		TH_LOG("policy refused: %s", err);
	t->w.policies[t->w.npolicies].spec = s;
	t->w.policies[t->w.npolicies].id = id;
	t->w.npolicies++;
}

/* Remove the policy with this id (a delete). */
static void tw_policy_del(struct tw *t, __u32 id)
{
	unsigned int k;

	for (k = 0; k < t->w.npolicies && t->w.policies[k].id != id; k++)
		;
	if (k == t->w.npolicies)
		abort();
	policy_spec_free(&t->w.specs[k]);
	for (; k + 1 < t->w.npolicies; k++) {
		t->w.specs[k] = t->w.specs[k + 1];
		t->w.policies[k].id = t->w.policies[k + 1].id;
	}
	t->w.npolicies--;
}

/* Identities as podlaned gives them (one per key), then compile. */
static int tw_compile(struct tw *t, size_t max)
{
	char *keys[PW_MAX_PODS] = {};
	unsigned int i, j;
	int ret;

	for (i = 0; i < t->w.npods; i++) {
		keys[i] = policy_identity_key(&t->w.meta[i]);
		if (!keys[i])
			abort();
		for (j = 0; j < i && strcmp(keys[i], keys[j]); j++)
			;
		t->w.pods[i].id = j < i ? t->w.pods[j].id : PODLANE_ID_POD_BASE + i;
	}
	for (i = 0; i < t->w.npods; i++)
		free(keys[i]);
	for (i = 0; i < t->w.npolicies; i++)
		t->w.policies[i].spec = &t->w.specs[i];
	t->w.world = (struct pc_world){
		.namespaces = t->w.ns, .nnamespaces = t->w.nns,
		.pods = t->w.pods, .npods = t->w.npods,
		.policies = t->w.policies, .npolicies = t->w.npolicies,
	};
	policy_result_free(&t->res);
	ret = policy_compile(&t->w.world, max, &t->res, t->err, sizeof(t->err));
	t->compiled = !ret;
	return ret;
}

/* Compile, and check the whole result against the reference. */
#define COMPILE(t)								\
	do {									\
		struct pw_report rep_ = {};					\
		struct pw_src src_;						\
										\
		ASSERT_EQ(0, tw_compile((t), PODLANE_MAX_POLICY))		\
			TH_LOG("%s", (t)->err);					\
		pw_src_seed(&src_, 1);						\
		EXPECT_TRUE(pw_check(&(t)->w, &(t)->res, &src_, 8, 0, &rep_)) {	\
			TH_LOG("%s", rep_.msg);					\
			pw_dump(&(t)->w, stderr);				\
		}								\
	} while (0)

static const struct pc_pod *tw_find(struct tw *t, const char *ns_name)
{
	unsigned int i;
	char full[128];

	for (i = 0; i < t->w.npods; i++) {
		snprintf(full, sizeof(full), "%s/%s", t->w.meta[i].namespace, t->w.meta[i].name);
		if (!strcmp(full, ns_name))
			return &t->w.pods[i];
	}
	abort();
}

static const struct pc_endpoint *tw_ep(struct tw *t, const char *ns_name)
{
	const struct pc_pod *p = tw_find(t, ns_name);
	unsigned int i, e = 0;

	for (i = 0; i < t->w.npods; i++) {
		if (&t->w.pods[i] == p)
			return p->local ? &t->res.endpoints[e] : NULL;
		e += t->w.pods[i].local;
	}
	abort();
}

static const struct pc_rule_set *tw_set(struct tw *t, const char *pod, int dir)
{
	const struct pc_endpoint *ep = tw_ep(t, pod);

	return dir ? &ep->egress : &ep->ingress;
}

/* A peer: "ns/name" (a pod) or an address where no pod is. */
static struct pw_peer tw_peer(struct tw *t, const char *what)
{
	if (strchr(what, '/') && !strchr(what, '.'))
		return (struct pw_peer){ tw_find(t, what), tw_find(t, what)->addr };
	return (struct pw_peer){ pw_pod_at(&t->w, ip(what)), ip(what) };
}

/*
 * The compiled verdict for pod's direction dir with peer, proto, port; checked equal to the
 * reference's (on failure: -1).
 */
static int tw_verdict(struct tw *t, const char *pod, int dir, const char *peer, __u8 proto,
		      __u16 port)
{
	const struct pc_pod *l = tw_find(t, pod);
	struct pw_peer p = tw_peer(t, peer);
	bool isolated, ref, got;
	__u32 lowest;

	ref = pw_ref_allows(&t->w, l, dir, &p, proto, port, &isolated, &lowest);
	got = pw_compiled_allows(&t->res, tw_ep(t, pod), dir, &p, proto, port);
	return ref == got ? got : -1;
}

#define ALLOWS(t, pod, dir, peer, proto, port) \
	EXPECT_EQ(1, tw_verdict((t), (pod), (dir), (peer), (proto), (port)))
#define DENIES(t, pod, dir, peer, proto, port) \
	EXPECT_EQ(0, tw_verdict((t), (pod), (dir), (peer), (proto), (port)))

static bool tw_has(const struct pc_rule_set *set, __u32 peer, __u8 proto, __u16 lo, __u16 hi)
{
	unsigned int i;

	for (i = 0; i < set->n; i++)
		if (set->entries[i].peer == peer && set->entries[i].proto == proto &&
		    set->entries[i].port_lo == lo && set->entries[i].port_hi == hi)
			return true;
	return false;
}

static __u32 tw_id(struct tw *t, const char *pod)
{
	return tw_find(t, pod)->id;
}

static __u32 tw_cidr(struct tw *t, const char *cidr)
{
	struct policy_cidr c;
	unsigned int i;

	if (policy_cidr_parse(cidr, &c))
		abort();
	for (i = 0; i < t->res.ncidrs; i++)
		if (t->res.cidrs[i].cidr.prefix_len == c.prefix_len &&
		    !memcmp(t->res.cidrs[i].cidr.addr, c.addr, 4))
			return t->res.cidrs[i].id;
	return 0;
}

/*
 * Upstream's cluster: namespaces x, y, z (labelled ns=<name>), pods a, b, c in each (labelled
 * pod=<name>) serving 80 and 81 over TCP, UDP and SCTP with upstream's port names
 * (serve-80-tcp, ...), at 10.0.<ns>.<pod + 1>. All local.
 */
static void tw_upstream(struct tw *t)
{
	static const char *const nss[] = { "x", "y", "z" }, *const pods[] = { "a", "b", "c" };
	static const char ports[] = "serve-80-tcp/TCP/80 serve-81-tcp/TCP/81 "
				    "serve-80-udp/UDP/80 serve-81-udp/UDP/81 "
				    "serve-80-sctp/SCTP/80 serve-81-sctp/SCTP/81";
	char name[16], labels[32], addr[32];
	unsigned int n, p;

	tw_init(t);
	for (n = 0; n < 3; n++) {
		snprintf(labels, sizeof(labels), "ns=%s", nss[n]);
		tw_ns(t, nss[n], labels);
		for (p = 0; p < 3; p++) {
			snprintf(name, sizeof(name), "%s/%s", nss[n], pods[p]);
			snprintf(labels, sizeof(labels), "pod=%s", pods[p]);
			snprintf(addr, sizeof(addr), "10.0.%u.%u", n, p + 1);
			tw_pod(t, name, labels, ports, addr, true);
		}
	}
}

/*
 * The reachability matrix as upstream prints it: rows from, columns to, x/a x/b x/c y/a ...
 * z/c; '.' reachable (the sender's egress and the receiver's ingress allow), 'X' blocked.
 * A pod to itself never leaves it (upstream's AllowLoopback), so the diagonal is not probed.
 */
static void tw_matrix(struct tw *t, __u8 proto, __u16 port, char out[9][10])
{
	static const char *const names[9] = { "x/a", "x/b", "x/c", "y/a", "y/b", "y/c",
					      "z/a", "z/b", "z/c" };
	unsigned int i, j;

	for (i = 0; i < 9; i++) {
		for (j = 0; j < 9; j++) {
			int e = tw_verdict(t, names[i], OUT, names[j], proto, port);
			int in = tw_verdict(t, names[j], IN, names[i], proto, port);

			out[i][j] = i == j ? '.' : e < 0 || in < 0 ? '?' : e && in ? '.' : 'X';
		}
		out[i][9] = '\0';
	}
}

#define MATRIX(t, proto, port, ...)						\
	do {									\
		static const char *const want_[9] = { __VA_ARGS__ };		\
		char got_[9][10];						\
		unsigned int i_;						\
										\
		tw_matrix((t), (proto), (port), got_);				\
		for (i_ = 0; i_ < 9; i_++)					\
			EXPECT_STREQ(want_[i_], got_[i_])			\
				TH_LOG("%s/%u row %u", proto_arg(proto), (port), i_);	\
	} while (0)

#define ALL_OPEN	".........", ".........", ".........", ".........", ".........", \
			".........", ".........", ".........", "........."

/* ---- isolation ---- */

TEST(no_policy_isolates_nothing)
{
	struct tw t;

	tw_upstream(&t);
	COMPILE(&t);
	EXPECT_EQ(9, t.res.nendpoints);
	EXPECT_EQ(0, t.res.ncidrs);
	EXPECT_EQ(0, t.res.nentries);
	EXPECT_EQ(0, tw_ep(&t, "x/a")->flags);
	MATRIX(&t, TCP, 80, ALL_OPEN);
	tw_free(&t);
}

TEST(empty_world)
{
	struct pc_world w = {};
	struct pc_result r;

	ASSERT_EQ(0, policy_compile(&w, 0, &r, NULL, 0));
	EXPECT_EQ(0, r.nendpoints);
	EXPECT_EQ(0, r.ncidrs);
	EXPECT_EQ(0, policy_cidr_id_of(&r, ip("10.0.0.1")));
	policy_result_free(&r);
}

TEST(default_deny_ingress)
{
	struct tw t;

	tw_upstream(&t);
	/* policyTypes absent, no egress rules: Ingress only, inferred. */
	tw_policy(_metadata, &t, 7, POL("x", "{podSelector: {}}"));
	COMPILE(&t);
	EXPECT_EQ(PODLANE_POL_F_INGRESS, tw_ep(&t, "x/a")->flags);
	EXPECT_EQ(7, tw_ep(&t, "x/a")->ingress.policy);
	EXPECT_EQ(0, tw_ep(&t, "x/a")->ingress.n);
	EXPECT_EQ(0, tw_ep(&t, "y/a")->flags);
	MATRIX(&t, TCP, 80,
	       ".XX......", "X.X......", "XX.......", "XXX......", "XXX......", "XXX......",
	       "XXX......", "XXX......", "XXX......");
	tw_free(&t);
}

TEST(default_deny_egress)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 3, POL("x", "{podSelector: {}, policyTypes: [Egress]}"));
	COMPILE(&t);
	EXPECT_EQ(PODLANE_POL_F_EGRESS, tw_ep(&t, "x/b")->flags);
	EXPECT_EQ(3, tw_ep(&t, "x/b")->egress.policy);
	MATRIX(&t, UDP, 81,
	       ".XXXXXXXX", "X.XXXXXXX", "XX.XXXXXX", ".........", ".........", ".........",
	       ".........", ".........", ".........");
	tw_free(&t);
}

TEST(default_deny_both)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 3, POL("y", "{podSelector: {}, policyTypes: [Ingress, Egress]}"));
	COMPILE(&t);
	EXPECT_EQ(PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS, tw_ep(&t, "y/c")->flags);
	MATRIX(&t, TCP, 81,
	       "...XXX...", "...XXX...", "...XXX...", "XXX.XXXXX", "XXXX.XXXX", "XXXXX.XXX",
	       "...XXX...", "...XXX...", "...XXX...");
	tw_free(&t);
}

TEST(allow_all_ingress_and_egress_empty_rule)
{
	struct tw t;
	const struct pc_rule_set *in, *out;

	tw_upstream(&t);
	/* A rule {}: from and ports absent, every source, every port and protocol. */
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {}, ingress: [{}], egress: [{}]}"));
	COMPILE(&t);
	in = tw_set(&t, "x/a", IN);
	out = tw_set(&t, "x/a", OUT);
	EXPECT_EQ(PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS, tw_ep(&t, "x/a")->flags);
	ASSERT_EQ(1, in->n);
	EXPECT_TRUE(tw_has(in, PODLANE_ID_ANY, 0, 0, 65535));
	EXPECT_EQ(1, in->entries[0].policy);
	EXPECT_EQ(0, in->entries[0].rule);
	ASSERT_EQ(1, out->n);
	ALLOWS(&t, "x/a", IN, "192.0.2.1", SCTP, 9);
	ALLOWS(&t, "x/a", OUT, "198.51.100.7", UDP, 53);
	MATRIX(&t, SCTP, 80, ALL_OPEN);
	tw_free(&t);
}

TEST(empty_and_absent_from_and_ports_are_the_same)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [], ports: []}]}"));
	tw_policy(_metadata, &t, 2, POL("x", "{podSelector: {matchLabels: {pod: b}},"
					" ingress: [{}]}"));
	COMPILE(&t);
	EXPECT_EQ(1, tw_set(&t, "x/a", IN)->n);
	EXPECT_TRUE(tw_has(tw_set(&t, "x/a", IN), PODLANE_ID_ANY, 0, 0, 65535));
	EXPECT_TRUE(tw_has(tw_set(&t, "x/b", IN), PODLANE_ID_ANY, 0, 0, 65535));
	tw_free(&t);
}

TEST(ingress_absent_or_empty_denies_all_with_types)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {}, policyTypes: [Ingress],"
					" ingress: []}"));
	/* Egress rules under policyTypes [Ingress]: kept, govern nothing. */
	tw_policy(_metadata, &t, 2, POL("y", "{podSelector: {}, policyTypes: [Ingress],"
					" ingress: [{}], egress: [{to: [{podSelector: {}}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(PODLANE_POL_F_INGRESS, tw_ep(&t, "x/a")->flags);
	EXPECT_EQ(0, tw_set(&t, "x/a", IN)->n);
	EXPECT_EQ(PODLANE_POL_F_INGRESS, tw_ep(&t, "y/a")->flags);
	EXPECT_EQ(0, tw_set(&t, "y/a", OUT)->n);
	ALLOWS(&t, "y/a", OUT, "x/a", TCP, 80);
	tw_free(&t);
}

TEST(policy_types_inferred_egress_from_rules)
{
	struct tw t;

	tw_upstream(&t);
	/* No policyTypes, an egress rule: Ingress and Egress (ingress: deny all). */
	tw_policy(_metadata, &t, 4, POL("z", "{podSelector: {matchLabels: {pod: c}},"
					" egress: [{to: [{podSelector: {matchLabels: {pod: a}}}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS, tw_ep(&t, "z/c")->flags);
	EXPECT_EQ(0, tw_set(&t, "z/c", IN)->n);
	EXPECT_EQ(1, tw_set(&t, "z/c", OUT)->n);
	EXPECT_TRUE(tw_has(tw_set(&t, "z/c", OUT), tw_id(&t, "z/a"), 0, 0, 65535));
	MATRIX(&t, TCP, 80,
	       "........X", "........X", "........X", "........X", "........X", "........X",
	       "........X", "........X", "XXXXXX.X.");
	tw_free(&t);
}

TEST(policy_of_another_namespace_does_not_isolate)
{
	struct tw t;

	tw_upstream(&t);
	/* Selects pod=a, but only in y. */
	tw_policy(_metadata, &t, 1, POL("y", "{podSelector: {matchLabels: {pod: a}}}"));
	COMPILE(&t);
	EXPECT_EQ(0, tw_ep(&t, "x/a")->flags);
	EXPECT_EQ(PODLANE_POL_F_INGRESS, tw_ep(&t, "y/a")->flags);
	EXPECT_EQ(0, tw_ep(&t, "y/b")->flags);
	tw_free(&t);
}

/* ---- peers ---- */

TEST(pod_selector_peer_is_own_namespace_only)
{
	struct tw t;
	const struct pc_rule_set *in;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]}"));
	COMPILE(&t);
	in = tw_set(&t, "x/a", IN);
	ASSERT_EQ(1, in->n);
	EXPECT_TRUE(tw_has(in, tw_id(&t, "x/b"), 0, 0, 65535));
	MATRIX(&t, TCP, 80,
	       ".........", ".........", "X........", "X........", "X........", "X........",
	       "X........", "X........", "X........");
	tw_free(&t);
}

TEST(empty_pod_selector_peer_is_every_pod_of_the_namespace)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [{podSelector: {}}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(3, tw_set(&t, "x/a", IN)->n);
	MATRIX(&t, UDP, 80,
	       ".........", ".........", ".........", "X........", "X........", "X........",
	       "X........", "X........", "X........");
	tw_free(&t);
}

TEST(namespace_selector_peer)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [{namespaceSelector: {matchLabels:"
					" {ns: y}}}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(3, tw_set(&t, "x/a", IN)->n);
	MATRIX(&t, TCP, 80,
	       ".........", "X........", "X........", ".........", ".........", ".........",
	       "X........", "X........", "X........");
	tw_free(&t);
}

TEST(empty_namespace_selector_is_every_pod_but_no_address)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {}, ingress: [{from:"
					" [{namespaceSelector: {}}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(9, tw_set(&t, "x/c", IN)->n);
	MATRIX(&t, TCP, 81, ALL_OPEN);
	DENIES(&t, "x/c", IN, "192.0.2.1", TCP, 81);
	tw_free(&t);
}

TEST(namespace_name_label_of_unlisted_namespace)
{
	struct tw t;

	tw_init(&t);
	tw_pod(&t, "x/a", "pod=a", NULL, "10.0.0.1", true);
	tw_pod(&t, "w/b", "pod=b", NULL, "10.0.3.1", false);	/* w: not listed */
	tw_pod(&t, "y/c", "pod=c", NULL, "10.0.1.1", false);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {}, ingress: [{from:"
					" [{namespaceSelector: {matchLabels:"
					" {kubernetes.io/metadata.name: w}}}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(1, tw_set(&t, "x/a", IN)->n);
	ALLOWS(&t, "x/a", IN, "w/b", TCP, 80);
	DENIES(&t, "x/a", IN, "y/c", TCP, 80);
	tw_free(&t);
}

TEST(pod_and_namespace_selector_in_one_peer_is_and)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [{namespaceSelector: {matchLabels:"
					" {ns: y}}, podSelector: {matchLabels: {pod: b}}}]}]}"));
	COMPILE(&t);
	ASSERT_EQ(1, tw_set(&t, "x/a", IN)->n);
	EXPECT_TRUE(tw_has(tw_set(&t, "x/a", IN), tw_id(&t, "y/b"), 0, 0, 65535));
	MATRIX(&t, TCP, 80,
	       ".........", "X........", "X........", "X........", ".........", "X........",
	       "X........", "X........", "X........");
	tw_free(&t);
}

TEST(several_peers_are_or)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [{namespaceSelector: {matchLabels:"
					" {ns: y}}}, {podSelector: {matchLabels: {pod: b}}},"
					" {ipBlock: {cidr: 10.0.2.3/32}}]}]}"));
	COMPILE(&t);
	MATRIX(&t, TCP, 80,
	       ".........", ".........", "X........", ".........", ".........", ".........",
	       "X........", "X........", ".........");
	tw_free(&t);
}

TEST(match_expressions_operators)
{
	struct tw t;

	tw_upstream(&t);
	/* x/a from pods not b in namespaces y or z whose ns label exists. */
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchExpressions: [{key: pod,"
					" operator: In, values: [a]}]}, ingress: [{from:"
					" [{namespaceSelector: {matchExpressions: [{key: ns,"
					" operator: NotIn, values: [x]}, {key: ns, operator:"
					" Exists}]}, podSelector: {matchExpressions: [{key: pod,"
					" operator: NotIn, values: [b]}, {key: team, operator:"
					" DoesNotExist}]}}]}]}"));
	COMPILE(&t);
	MATRIX(&t, TCP, 80,
	       ".........", "X........", "X........", ".........", "X........", ".........",
	       ".........", "X........", ".........");
	tw_free(&t);
}

TEST(identities_shared_one_entry_each)
{
	struct tw t;

	tw_init(&t);
	tw_pod(&t, "x/a1", "app=web", NULL, "10.0.0.1", true);
	tw_pod(&t, "x/a2", "app=web", NULL, "10.0.0.2", true);
	tw_pod(&t, "x/b", "app=db", NULL, "10.0.0.3", true);
	tw_pod(&t, "y/c", "app=web", NULL, "10.0.1.1", false);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {app: db}},"
					" ingress: [{from: [{namespaceSelector: {},"
					" podSelector: {matchLabels: {app: web}}}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(tw_id(&t, "x/a1"), tw_id(&t, "x/a2"));
	EXPECT_NE(tw_id(&t, "x/a1"), tw_id(&t, "y/c"));	/* another namespace */
	EXPECT_EQ(2, tw_set(&t, "x/b", IN)->n);		/* x's web and y's web */
	ALLOWS(&t, "x/b", IN, "x/a2", TCP, 5432);
	ALLOWS(&t, "x/b", IN, "y/c", TCP, 5432);
	/* Local pods of one identity: equal rule sets. */
	EXPECT_TRUE(policy_rule_set_equal(&tw_ep(&t, "x/a1")->egress,
					  &tw_ep(&t, "x/a2")->egress));
	tw_free(&t);
}

/* ---- stacked policies, changes ---- */

TEST(stacked_policies_union_and_lowest_id)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 9, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}],"
					" ports: [{port: 80}]}]}"));
	tw_policy(_metadata, &t, 5, POL("x", "{podSelector: {}, ingress: [{from:"
					" [{podSelector: {matchLabels: {pod: c}}}], ports:"
					" [{port: 81}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(5, tw_set(&t, "x/a", IN)->policy);
	EXPECT_EQ(5, tw_set(&t, "x/b", IN)->policy);
	EXPECT_EQ(2, tw_set(&t, "x/a", IN)->n);
	MATRIX(&t, TCP, 80,
	       ".XX......", "..X......", "XX.......", "XXX......", "XXX......", "XXX......",
	       "XXX......", "XXX......", "XXX......");
	MATRIX(&t, TCP, 81,
	       ".XX......", "X.X......", ".........", "XXX......", "XXX......", "XXX......",
	       "XXX......", "XXX......", "XXX......");
	/* Delete the default deny: only the first policy remains. */
	tw_policy_del(&t, 5);
	COMPILE(&t);
	EXPECT_EQ(9, tw_set(&t, "x/a", IN)->policy);
	EXPECT_EQ(0, tw_ep(&t, "x/b")->flags);
	MATRIX(&t, TCP, 81,
	       ".........", "X........", "X........", "X........", "X........", "X........",
	       "X........", "X........", "X........");
	tw_free(&t);
}

TEST(namespace_label_change_changes_the_result)
{
	struct tw t;
	__u32 y_b;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [{namespaceSelector: {matchLabels:"
					" {team: blue}}}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(0, tw_set(&t, "x/a", IN)->n);
	DENIES(&t, "x/a", IN, "y/b", TCP, 80);
	tw_ns(&t, "y", "ns=y,team=blue");
	COMPILE(&t);
	y_b = tw_id(&t, "y/b");
	EXPECT_EQ(3, tw_set(&t, "x/a", IN)->n);
	EXPECT_TRUE(tw_has(tw_set(&t, "x/a", IN), y_b, 0, 0, 65535));
	ALLOWS(&t, "x/a", IN, "y/b", TCP, 80);
	DENIES(&t, "x/a", IN, "z/b", TCP, 80);
	/* Identities did not change (labels of namespaces are not in the key). */
	tw_ns(&t, "y", "ns=y");
	COMPILE(&t);
	EXPECT_EQ(y_b, tw_id(&t, "y/b"));
	DENIES(&t, "x/a", IN, "y/b", TCP, 80);
	tw_free(&t);
}

TEST(pod_label_change_changes_the_result)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [{podSelector: {matchLabels:"
					" {pod: b}}}]}]}"));
	COMPILE(&t);
	ALLOWS(&t, "x/a", IN, "x/b", TCP, 80);
	DENIES(&t, "x/a", IN, "x/c", TCP, 80);
	/* x/c relabelled pod=b, x/b relabelled pod=d. */
	label_set_free(&t.w.meta[2].labels);
	tw_labels(&t.w.meta[2].labels, "pod=b");
	label_set_free(&t.w.meta[1].labels);
	tw_labels(&t.w.meta[1].labels, "pod=d");
	COMPILE(&t);
	DENIES(&t, "x/a", IN, "x/b", TCP, 80);
	ALLOWS(&t, "x/a", IN, "x/c", TCP, 80);
	/* The target relabelled: no longer selected, no longer isolated. */
	label_set_free(&t.w.meta[0].labels);
	tw_labels(&t.w.meta[0].labels, "pod=e");
	COMPILE(&t);
	EXPECT_EQ(0, tw_ep(&t, "x/a")->flags);
	tw_free(&t);
}

/* ---- ports ---- */

TEST(ports_numbered_range_protocol_only)
{
	struct tw t;
	const struct pc_rule_set *in;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}],"
					" ports: [{port: 80}, {protocol: UDP, port: 1000, endPort: 2000},"
					" {protocol: SCTP}]}]}"));
	COMPILE(&t);
	in = tw_set(&t, "x/a", IN);
	ASSERT_EQ(3, in->n);
	EXPECT_TRUE(tw_has(in, tw_id(&t, "x/b"), TCP, 80, 80));
	EXPECT_TRUE(tw_has(in, tw_id(&t, "x/b"), UDP, 1000, 2000));
	EXPECT_TRUE(tw_has(in, tw_id(&t, "x/b"), SCTP, 0, 65535));
	ALLOWS(&t, "x/a", IN, "x/b", TCP, 80);
	DENIES(&t, "x/a", IN, "x/b", TCP, 81);
	DENIES(&t, "x/a", IN, "x/b", UDP, 80);
	DENIES(&t, "x/a", IN, "x/b", UDP, 999);
	ALLOWS(&t, "x/a", IN, "x/b", UDP, 1000);
	ALLOWS(&t, "x/a", IN, "x/b", UDP, 2000);
	DENIES(&t, "x/a", IN, "x/b", UDP, 2001);
	ALLOWS(&t, "x/a", IN, "x/b", SCTP, 1);
	ALLOWS(&t, "x/a", IN, "x/b", SCTP, 65535);
	DENIES(&t, "x/a", IN, "x/b", IPPROTO_ICMP, 0);
	DENIES(&t, "x/a", IN, "x/c", SCTP, 1);
	tw_free(&t);
}

TEST(udp_only_rule_does_not_open_tcp)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {}, ingress: [{ports:"
					" [{protocol: UDP, port: 80}]}]}"));
	COMPILE(&t);
	MATRIX(&t, UDP, 80, ALL_OPEN);
	MATRIX(&t, TCP, 80,
	       ".XX......", "X.X......", "XX.......", "XXX......", "XXX......", "XXX......",
	       "XXX......", "XXX......", "XXX......");
	MATRIX(&t, UDP, 81,
	       ".XX......", "X.X......", "XX.......", "XXX......", "XXX......", "XXX......",
	       "XXX......", "XXX......", "XXX......");
	tw_free(&t);
}

TEST(end_port_ranges_merge_within_a_rule)
{
	struct tw t;
	const struct pc_rule_set *out;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 2, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" policyTypes: [Egress], egress: [{ports: [{port: 80,"
					" endPort: 81}, {port: 82}, {port: 90, endPort: 100},"
					" {port: 95, endPort: 65535}]}, {ports: [{port: 81}]}]}"));
	COMPILE(&t);
	out = tw_set(&t, "x/a", OUT);
	/* One rule's 80-81 and 82 touch: 80-82; 90-100 and 95-65535 overlap: 90-65535. The
	 * second rule's 81 stays its own (another rule). */
	ASSERT_EQ(3, out->n);
	EXPECT_TRUE(tw_has(out, PODLANE_ID_ANY, TCP, 80, 82));
	EXPECT_TRUE(tw_has(out, PODLANE_ID_ANY, TCP, 81, 81));
	EXPECT_TRUE(tw_has(out, PODLANE_ID_ANY, TCP, 90, 65535));
	DENIES(&t, "x/a", OUT, "x/b", TCP, 83);
	ALLOWS(&t, "x/a", OUT, "x/b", TCP, 90);
	ALLOWS(&t, "x/a", OUT, "192.0.2.9", TCP, 65535);
	DENIES(&t, "x/a", OUT, "192.0.2.9", TCP, 89);
	MATRIX(&t, TCP, 81,
	       ".........", ".........", ".........", ".........", ".........", ".........",
	       ".........", ".........", ".........");
	tw_free(&t);
}

TEST(named_port_on_ingress_resolves_on_the_pod_itself)
{
	struct tw t;

	tw_init(&t);
	tw_pod(&t, "x/a", "app=web", "http/TCP/8080", "10.0.0.1", true);
	tw_pod(&t, "x/b", "app=web", "http/TCP/9000 http/UDP/53", "10.0.0.2", true);
	tw_pod(&t, "x/c", "app=web", NULL, "10.0.0.3", true);
	tw_pod(&t, "y/d", "app=cli", NULL, "10.0.1.1", false);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {app: web}},"
					" ingress: [{ports: [{port: http}]}]}"));
	COMPILE(&t);
	EXPECT_TRUE(tw_has(tw_set(&t, "x/a", IN), PODLANE_ID_ANY, TCP, 8080, 8080));
	EXPECT_EQ(1, tw_set(&t, "x/a", IN)->n);
	EXPECT_TRUE(tw_has(tw_set(&t, "x/b", IN), PODLANE_ID_ANY, TCP, 9000, 9000));
	EXPECT_EQ(1, tw_set(&t, "x/b", IN)->n);	/* the UDP http is not TCP's */
	EXPECT_EQ(0, tw_set(&t, "x/c", IN)->n);	/* no such port: allows nothing */
	EXPECT_EQ(PODLANE_POL_F_INGRESS, tw_ep(&t, "x/c")->flags);
	ALLOWS(&t, "x/a", IN, "y/d", TCP, 8080);
	DENIES(&t, "x/a", IN, "y/d", TCP, 9000);
	ALLOWS(&t, "x/b", IN, "y/d", TCP, 9000);
	DENIES(&t, "x/b", IN, "y/d", UDP, 53);
	DENIES(&t, "x/c", IN, "y/d", TCP, 8080);
	tw_free(&t);
}

TEST(named_port_on_egress_resolves_per_destination)
{
	struct tw t;
	const struct pc_rule_set *out;

	tw_init(&t);
	tw_pod(&t, "x/cli", "app=cli", NULL, "10.0.0.1", true);
	tw_pod(&t, "x/s1", "app=srv", "http/TCP/8080", "10.0.0.2", false);
	tw_pod(&t, "x/s2", "app=srv,v=2", "http/TCP/9000", "10.0.0.3", false);
	tw_pod(&t, "x/s3", "app=srv,v=3", "dns/UDP/53", "10.0.0.4", false);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {app: cli}},"
					" policyTypes: [Egress], egress: [{to: [{podSelector:"
					" {matchLabels: {app: srv}}}], ports: [{port: http}]}]}"));
	COMPILE(&t);
	out = tw_set(&t, "x/cli", OUT);
	ASSERT_EQ(2, out->n);
	EXPECT_TRUE(tw_has(out, tw_id(&t, "x/s1"), TCP, 8080, 8080));
	EXPECT_TRUE(tw_has(out, tw_id(&t, "x/s2"), TCP, 9000, 9000));
	ALLOWS(&t, "x/cli", OUT, "x/s1", TCP, 8080);
	DENIES(&t, "x/cli", OUT, "x/s1", TCP, 9000);
	ALLOWS(&t, "x/cli", OUT, "x/s2", TCP, 9000);
	DENIES(&t, "x/cli", OUT, "x/s2", TCP, 8080);
	DENIES(&t, "x/cli", OUT, "x/s3", UDP, 53);
	tw_free(&t);
}

TEST(named_port_on_egress_to_any_destination)
{
	struct tw t;
	const struct pc_rule_set *out;

	tw_init(&t);
	tw_pod(&t, "x/cli", "app=cli", NULL, "10.0.0.1", true);
	tw_pod(&t, "y/s1", "app=srv", "dns/UDP/5353", "10.0.1.2", false);
	tw_pod(&t, "z/s2", "app=srv", "dns/UDP/53 dns/TCP/53", "10.0.2.3", false);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {}, policyTypes: [Egress],"
					" egress: [{ports: [{protocol: UDP, port: dns},"
					" {port: 443}]}]}"));
	COMPILE(&t);
	out = tw_set(&t, "x/cli", OUT);
	ASSERT_EQ(3, out->n);
	EXPECT_TRUE(tw_has(out, PODLANE_ID_ANY, TCP, 443, 443));
	EXPECT_TRUE(tw_has(out, tw_id(&t, "y/s1"), UDP, 5353, 5353));
	EXPECT_TRUE(tw_has(out, tw_id(&t, "z/s2"), UDP, 53, 53));
	ALLOWS(&t, "x/cli", OUT, "y/s1", UDP, 5353);
	DENIES(&t, "x/cli", OUT, "z/s2", UDP, 5353);
	DENIES(&t, "x/cli", OUT, "z/s2", TCP, 53);
	DENIES(&t, "x/cli", OUT, "8.8.8.8", UDP, 53);	/* not a pod: no "dns" there */
	ALLOWS(&t, "x/cli", OUT, "8.8.8.8", TCP, 443);
	tw_free(&t);
}

TEST(upstream_named_ports_matrix)
{
	struct tw t;

	tw_upstream(&t);
	/* Upstream: "should allow ingress access on one named port" (serve-81-tcp). */
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{ports: [{port: serve-81-tcp}]}]}"));
	/* And egress to a named port, UDP ("should allow egress access on one named port"). */
	tw_policy(_metadata, &t, 2, POL("y", "{podSelector: {}, policyTypes: [Egress],"
					" egress: [{ports: [{protocol: UDP, port: serve-80-udp}]}]}"));
	COMPILE(&t);
	MATRIX(&t, TCP, 81, ".........", ".........", ".........",
	       "XXX.XXXXX", "XXXX.XXXX", "XXXXX.XXX", ".........", ".........", ".........");
	MATRIX(&t, TCP, 80, ".........", "X........", "X........",
	       "XXX.XXXXX", "XXXX.XXXX", "XXXXX.XXX", "X........", "X........", "X........");
	MATRIX(&t, UDP, 80, ".........", "X........", "X........",
	       "X........", "X........", "X........", "X........", "X........", "X........");
	tw_free(&t);
}

/* ---- ipBlock ---- */

TEST(ip_block_cidrs_and_excepts)
{
	struct tw t;
	const struct pc_rule_set *out;
	__u32 c16, c24, c25, c8, c32;

	tw_init(&t);
	tw_pod(&t, "x/a", "app=a", NULL, "10.0.0.1", true);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {}, policyTypes: [Egress], egress:"
					" [{to: [{ipBlock: {cidr: 172.17.0.0/16, except:"
					" [172.17.1.0/24, 172.17.2.128/25]}}]}]}"));
	/* Another policy's prefixes inside it: the CIDR list is every policy's. */
	tw_policy(_metadata, &t, 2, POL("y", "{podSelector: {}, ingress: [{from: [{ipBlock:"
					" {cidr: 172.0.0.0/8, except: [172.17.1.7/32]}},"
					" {ipBlock: {cidr: \"2001:db8::/32\"}}]}]}"));
	COMPILE(&t);
	ASSERT_EQ(5, t.res.ncidrs);	/* IPv6 left out */
	c8 = tw_cidr(&t, "172.0.0.0/8");
	c16 = tw_cidr(&t, "172.17.0.0/16");
	c24 = tw_cidr(&t, "172.17.1.0/24");
	c32 = tw_cidr(&t, "172.17.1.7/32");
	c25 = tw_cidr(&t, "172.17.2.128/25");
	EXPECT_EQ(PODLANE_ID_CIDR_BASE, c8);
	EXPECT_EQ(PODLANE_ID_CIDR_BASE + 1, c16);
	EXPECT_EQ(PODLANE_ID_CIDR_BASE + 2, c24);
	EXPECT_EQ(PODLANE_ID_CIDR_BASE + 3, c32);
	EXPECT_EQ(PODLANE_ID_CIDR_BASE + 4, c25);
	/* Most specific prefix. */
	EXPECT_EQ(c8, policy_cidr_id_of(&t.res, ip("172.18.0.1")));
	EXPECT_EQ(c16, policy_cidr_id_of(&t.res, ip("172.17.0.1")));
	EXPECT_EQ(c24, policy_cidr_id_of(&t.res, ip("172.17.1.6")));
	EXPECT_EQ(c32, policy_cidr_id_of(&t.res, ip("172.17.1.7")));
	EXPECT_EQ(c16, policy_cidr_id_of(&t.res, ip("172.17.2.127")));
	EXPECT_EQ(c25, policy_cidr_id_of(&t.res, ip("172.17.2.128")));
	EXPECT_EQ(0, policy_cidr_id_of(&t.res, ip("173.0.0.0")));
	/* The /16 except /24 and /25: the /16 only (the /32 lies in the /24). */
	out = tw_set(&t, "x/a", OUT);
	ASSERT_EQ(1, out->n);
	EXPECT_TRUE(tw_has(out, c16, 0, 0, 65535));
	ALLOWS(&t, "x/a", OUT, "172.17.0.1", TCP, 1);
	DENIES(&t, "x/a", OUT, "172.17.1.7", TCP, 1);
	DENIES(&t, "x/a", OUT, "172.17.1.8", TCP, 1);
	ALLOWS(&t, "x/a", OUT, "172.17.2.127", TCP, 1);
	DENIES(&t, "x/a", OUT, "172.17.2.128", TCP, 1);
	DENIES(&t, "x/a", OUT, "172.18.0.1", TCP, 1);
	tw_free(&t);
}

TEST(ip_block_except_of_a_pods_own_ip)
{
	struct tw t;

	tw_upstream(&t);
	/*
	 * Upstream "should enforce except clause while egress access to server in CIDR block":
	 * x/a may reach 10.0.0.0/16 except y/b's /32.
	 */
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr:"
					" 10.0.0.0/16, except: [10.0.1.2/32]}}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(tw_cidr(&t, "10.0.1.2/32"), policy_cidr_id_of(&t.res, tw_find(&t, "y/b")->addr));
	MATRIX(&t, TCP, 80, "....X....", ".........", ".........", ".........", ".........",
	       ".........", ".........", ".........", ".........");
	/*
	 * Upstream "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is
	 * allowed": a second policy allows y/b's /32 itself.
	 */
	tw_policy(_metadata, &t, 2, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr:"
					" 10.0.1.2/32}}]}]}"));
	COMPILE(&t);
	MATRIX(&t, TCP, 80, ALL_OPEN);
	tw_free(&t);
}

TEST(ip_block_of_a_pods_own_ip_on_ingress)
{
	struct tw t;

	tw_upstream(&t);
	/* x/a admits 10.0.2.0/24 (namespace z's pods by address) except z/c. */
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [{ipBlock: {cidr: 10.0.2.0/24, except:"
					" [10.0.2.3/32]}}]}]}"));
	COMPILE(&t);
	MATRIX(&t, UDP, 81,
	       ".........", "X........", "X........", "X........", "X........", "X........",
	       ".........", ".........", "X........");
	tw_free(&t);
}

TEST(ip_block_named_port_mixed_identity)
{
	struct tw t;
	const struct pc_rule_set *out;

	tw_init(&t);
	tw_pod(&t, "x/cli", "app=cli", NULL, "10.0.0.1", true);
	/* One identity (same labels and ports), one pod in the block and one out of it. */
	tw_pod(&t, "y/s1", "app=srv", "http/TCP/8080", "10.0.1.1", false);
	tw_pod(&t, "y/s2", "app=srv", "http/TCP/8080", "10.0.2.1", false);
	/* Another identity wholly inside. */
	tw_pod(&t, "y/t", "app=t", "http/TCP/80", "10.0.1.9", false);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {}, policyTypes: [Egress],"
					" egress: [{to: [{ipBlock: {cidr: 10.0.1.0/24}}],"
					" ports: [{port: http}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(tw_id(&t, "y/s1"), tw_id(&t, "y/s2"));
	/* 10.0.1.1/32 added for s1: the identity alone would let s2 in too. */
	ASSERT_EQ(2, t.res.ncidrs);
	EXPECT_EQ(tw_cidr(&t, "10.0.1.1/32"), policy_cidr_id_of(&t.res, ip("10.0.1.1")));
	out = tw_set(&t, "x/cli", OUT);
	ASSERT_EQ(2, out->n);
	EXPECT_TRUE(tw_has(out, tw_cidr(&t, "10.0.1.1/32"), TCP, 8080, 8080));
	EXPECT_TRUE(tw_has(out, tw_id(&t, "y/t"), TCP, 80, 80));
	ALLOWS(&t, "x/cli", OUT, "y/s1", TCP, 8080);
	DENIES(&t, "x/cli", OUT, "y/s2", TCP, 8080);
	ALLOWS(&t, "x/cli", OUT, "y/t", TCP, 80);
	DENIES(&t, "x/cli", OUT, "y/t", TCP, 8080);
	DENIES(&t, "x/cli", OUT, "10.0.1.50", TCP, 8080);
	tw_free(&t);
}

TEST(ip_block_ipv6_allows_nothing)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {}, ingress: [{from: [{ipBlock:"
					" {cidr: \"::/0\"}}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(0, t.res.ncidrs);
	EXPECT_EQ(0, tw_set(&t, "x/a", IN)->n);
	EXPECT_EQ(PODLANE_POL_F_INGRESS, tw_ep(&t, "x/a")->flags);
	DENIES(&t, "x/a", IN, "y/a", TCP, 80);
	tw_free(&t);
}

TEST(ip_block_zero_prefix_holds_everything)
{
	struct tw t;

	tw_upstream(&t);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {}, ingress: [{from: [{ipBlock:"
					" {cidr: 0.0.0.0/0, except: [10.0.1.0/24]}}],"
					" ports: [{port: 80}]}]}"));
	COMPILE(&t);
	EXPECT_EQ(tw_cidr(&t, "0.0.0.0/0"), policy_cidr_id_of(&t.res, ip("255.255.255.255")));
	ALLOWS(&t, "x/a", IN, "1.2.3.4", TCP, 80);
	MATRIX(&t, TCP, 80,
	       ".........", ".........", ".........", "XXX......", "XXX......", "XXX......",
	       ".........", ".........", ".........");
	tw_free(&t);
}

/* ---- bounds ---- */

TEST(rule_set_over_max_entries_is_e2big)
{
	struct tw t;
	struct pc_result *r = &t.res;

	tw_upstream(&t);
	/* x/a: 9 identities x 2 ports, one map entry each, plus the range 1-65535 (16). */
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" ingress: [{from: [{namespaceSelector: {}}], ports:"
					" [{port: 80}, {port: 443}]}], egress: [{ports: [{port: 1,"
					" endPort: 65535}]}]}"));
	ASSERT_EQ(0, tw_compile(&t, 18)) TH_LOG("%s", t.err);
	EXPECT_EQ(18, tw_set(&t, "x/a", IN)->n);
	ASSERT_EQ(-E2BIG, tw_compile(&t, 17));
	EXPECT_STREQ("pod x/a: its ingress rule set needs 18 policy map entries, at most 17", t.err);
	EXPECT_EQ(NULL, r->endpoints);
	EXPECT_EQ(0, r->nendpoints);
	EXPECT_EQ(NULL, r->cidrs);
	/* Egress: one entry, 16 map entries. */
	tw_policy_del(&t, 1);
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {matchLabels: {pod: a}},"
					" egress: [{ports: [{port: 1, endPort: 65535}]}]}"));
	ASSERT_EQ(-E2BIG, tw_compile(&t, 15));
	EXPECT_STREQ("pod x/a: its egress rule set needs 16 policy map entries, at most 15", t.err);
	ASSERT_EQ(0, tw_compile(&t, 16));
	EXPECT_EQ(1, tw_set(&t, "x/a", OUT)->n);
	tw_free(&t);
}

TEST(max_entries_counts_shared_prefixes_once)
{
	struct tw t;

	tw_init(&t);
	tw_pod(&t, "x/a", "app=a", NULL, "10.0.0.1", true);
	/* Two rules: 80-82 (80/15, 82/16) and 81-82 (81/16, 82/16): three distinct keys. */
	tw_policy(_metadata, &t, 1, POL("x", "{podSelector: {}, ingress: [{ports: [{port: 80,"
					" endPort: 82}]}, {ports: [{port: 81, endPort: 82}]}]}"));
	ASSERT_EQ(0, tw_compile(&t, 3)) TH_LOG("%s", t.err);
	EXPECT_EQ(2, tw_set(&t, "x/a", IN)->n);
	ASSERT_EQ(-E2BIG, tw_compile(&t, 2));
	EXPECT_STREQ("pod x/a: its ingress rule set needs 3 policy map entries, at most 2", t.err);
	tw_free(&t);
}

TEST(results_hold_ifindex_and_identity)
{
	struct tw t;

	tw_init(&t);
	tw_pod(&t, "x/r", "app=a", NULL, "10.0.0.9", false);
	tw_pod(&t, "x/a", "app=a", NULL, "10.0.0.1", true);
	tw_pod(&t, "y/b", "app=b", NULL, "10.0.1.1", true);
	COMPILE(&t);
	ASSERT_EQ(2, t.res.nendpoints);
	EXPECT_EQ(tw_find(&t, "x/a")->ifindex, t.res.endpoints[0].ifindex);
	EXPECT_EQ(tw_id(&t, "x/a"), t.res.endpoints[0].id);
	EXPECT_EQ(tw_find(&t, "y/b")->ifindex, t.res.endpoints[1].ifindex);
	tw_free(&t);
}

/* ---- random worlds against the reference ---- */

static void random_worlds(struct __test_metadata *_metadata, uint64_t first, unsigned int n,
			  unsigned int pods, unsigned int policies, bool focus)
{
	unsigned int i, isolated = 0, entries = 0, refused = 0, total = 0;
	uint64_t seed;

	for (seed = first; seed < first + n; seed++) {
		struct pw_world w;
		struct pc_result res;
		struct pw_report rep = {};
		struct pw_src s;
		char err[256] = "";

		pw_src_seed(&s, seed);
		s.focus = focus;
		ASSERT_EQ(0, pw_build(&w, &s, pods, policies));
		ASSERT_EQ(0, policy_compile(&w.world, PODLANE_MAX_POLICY, &res, err, sizeof(err)))
			TH_LOG("seed %llu: %s", (unsigned long long)seed, err);
		if (!pw_check(&w, &res, &s, 6, 0, &rep)) {
			pw_dump(&w, stderr);
			EXPECT_TRUE(false) TH_LOG("seed %llu: %s", (unsigned long long)seed, rep.msg);
		}
		for (i = 0; i < res.nendpoints; i++)
			isolated += !!res.endpoints[i].flags;
		entries += res.nentries;
		refused += w.refused;
		total += w.npolicies + w.refused;
		policy_result_free(&res);
		pw_free(&w);
		if (rep.failed)
			break;
	}
	/* The worlds were worth checking: isolated pods, entries, policies taken. */
	EXPECT_LT(n / 2, isolated);
	EXPECT_LT(n, entries);
	EXPECT_EQ(0, refused);
	TH_LOG("%u worlds: %u policies, %u isolated endpoints, %u entries", n, total, isolated,
	       entries);
}

TEST(random_small_worlds_equal_the_reference)
{
	random_worlds(_metadata, 1, 400, 6, 4, false);
}

TEST(random_larger_worlds_equal_the_reference)
{
	random_worlds(_metadata, 100000, 100, PW_MAX_PODS, PW_MAX_POLICIES, false);
}

/* Egress ipBlocks around pods with their named ports: identities split by a block. */
TEST(random_worlds_named_ports_to_ip_blocks_equal_the_reference)
{
	random_worlds(_metadata, 200000, 200, 10, 3, true);
}

/* ---- port prefixes ---- */

/* Aligned blocks of 2^size_bits ports from base: 1 when inside lo..hi, else the halves'. */
static unsigned int min_prefixes(unsigned int base, unsigned int size_bits, unsigned int lo,
				 unsigned int hi)
{
	unsigned int end = base + (1U << size_bits) - 1;

	if (end < lo || base > hi)
		return 0;
	if (base >= lo && end <= hi)
		return 1;
	return min_prefixes(base, size_bits - 1, lo, hi) +
	       min_prefixes(base + (1U << (size_bits - 1)), size_bits - 1, lo, hi);
}

/* The prefixes cover lo..hi exactly once each, are aligned, and are as few as possible. */
static void check_prefixes(struct __test_metadata *_metadata, unsigned int lo, unsigned int hi)
{
	static unsigned char cover[65536];
	struct pc_port_prefix out[PC_PORT_PREFIX_MAX];
	unsigned int n, i, p, want;

	n = policy_port_prefixes(lo, hi, out);
	ASSERT_LE(n, 30) TH_LOG("%u..%u: %u prefixes", lo, hi, n);
	memset(cover, 0, sizeof(cover));
	for (i = 0; i < n; i++) {
		unsigned int size = 1U << (16 - out[i].bits);

		ASSERT_LE(out[i].bits, 16);
		ASSERT_EQ(0, out[i].port & (size - 1)) TH_LOG("%u/%u not aligned", out[i].port,
							      out[i].bits);
		for (p = out[i].port; p < out[i].port + size; p++)
			cover[p]++;
	}
	for (p = 0; p < 65536; p++)
		if (cover[p] != (p >= lo && p <= hi)) {
			EXPECT_EQ(p >= lo && p <= hi, cover[p]) TH_LOG("%u..%u: port %u", lo, hi, p);
			return;
		}
	/* The fewest: the largest aligned blocks inside the range, found top down. */
	want = min_prefixes(0, 16, lo, hi);
	EXPECT_EQ(want, n) TH_LOG("%u..%u", lo, hi);
}

TEST(port_prefixes_examples)
{
	struct pc_port_prefix out[PC_PORT_PREFIX_MAX];

	ASSERT_EQ(1, policy_port_prefixes(0, 65535, out));
	EXPECT_EQ(0, out[0].port);
	EXPECT_EQ(0, out[0].bits);
	ASSERT_EQ(1, policy_port_prefixes(80, 81, out));
	EXPECT_EQ(80, out[0].port);
	EXPECT_EQ(15, out[0].bits);
	ASSERT_EQ(1, policy_port_prefixes(443, 443, out));
	EXPECT_EQ(16, out[0].bits);
	EXPECT_EQ(16, policy_port_prefixes(1, 65535, out));
	EXPECT_EQ(1, out[0].port);
	EXPECT_EQ(16, out[0].bits);
	EXPECT_EQ(32768, out[15].port);
	EXPECT_EQ(1, out[15].bits);
	EXPECT_EQ(30, policy_port_prefixes(1, 65534, out));
	ASSERT_EQ(1, policy_port_prefixes(65534, 65535, out));
	EXPECT_EQ(15, out[0].bits);
	ASSERT_EQ(1, policy_port_prefixes(65535, 65535, out));
	EXPECT_EQ(65535, out[0].port);
	ASSERT_EQ(1, policy_port_prefixes(0, 0, out));
	EXPECT_EQ(2, policy_port_prefixes(1024, 1024 + 1023 + 1, out));
}

TEST(port_prefixes_against_brute_force)
{
	struct pw_src s;
	unsigned int i, lo, hi;

	pw_src_seed(&s, 42);
	check_prefixes(_metadata, 0, 65535);
	check_prefixes(_metadata, 1, 65534);
	check_prefixes(_metadata, 0, 0);
	check_prefixes(_metadata, 65535, 65535);
	for (i = 0; i < 1000 && _metadata->passed; i++) {
		lo = pw_u16(&s);
		hi = pw_u16(&s);
		if (i % 3 == 1)
			hi = lo + pw_byte(&s);
		if (lo > hi) {
			unsigned int tmp = lo;

			lo = hi;
			hi = tmp;
		}
		check_prefixes(_metadata, lo, hi > 65535 ? 65535 : hi);
	}
}

/* ---- identity keys and rule sets ---- */

TEST(identity_key)
{
	struct policy_pod_port p1[] = { { "http", TCP, 80 }, { "dns", UDP, 53 } };
	struct policy_pod_port p2[] = { { "dns", UDP, 53 }, { "http", TCP, 80 },
					{ "dns", UDP, 53 } };
	struct policy_pod a = { .namespace = "x", .name = "a", .ports = p1, .nports = 2 };
	struct policy_pod b = { .namespace = "x", .name = "b", .ports = p2, .nports = 3 };
	struct policy_pod c = { .namespace = "x=y", .name = "c" };
	struct policy_pod d = { .namespace = "x", .name = "d" };
	char *ka, *kb, *kc, *kd;

	tw_labels(&a.labels, "app=web,tier=1");
	tw_labels(&b.labels, "tier=1,app=web");
	tw_labels(&d.labels, "app=web\ntier=1");
	ka = policy_identity_key(&a);
	kb = policy_identity_key(&b);
	ASSERT_NE(NULL, ka);
	ASSERT_NE(NULL, kb);
	/* Pod names are not in it; order and repeats of ports do not matter. */
	EXPECT_STREQ("x\nl app=web\nl tier=1\np dns/17/53\np http/6/80\n", ka);
	EXPECT_STREQ(ka, kb);
	kc = policy_identity_key(&c);
	EXPECT_STREQ("x\\x3dy\n", kc);
	/* A value that would forge a second label line is escaped. */
	kd = policy_identity_key(&d);
	EXPECT_STREQ("x\nl app=web\\x0atier\\x3d1\n", kd);
	free(ka);
	free(kb);
	free(kc);
	free(kd);
	label_set_free(&a.labels);
	label_set_free(&b.labels);
	label_set_free(&d.labels);
}

TEST(identity_key_distinguishes_namespaces_labels_ports)
{
	struct policy_pod_port p80[] = { { "http", TCP, 80 } }, p81[] = { { "http", TCP, 81 } };
	struct policy_pod_port u80[] = { { "http", UDP, 80 } };
	struct policy_pod pods[] = {
		{ .namespace = "x" },
		{ .namespace = "y" },
		{ .namespace = "x", .ports = p80, .nports = 1 },
		{ .namespace = "x", .ports = p81, .nports = 1 },
		{ .namespace = "x", .ports = u80, .nports = 1 },
		{ .namespace = "x" },
		{ .namespace = "x" },
	};
	char *keys[7];
	unsigned int i, j;

	tw_labels(&pods[5].labels, "a=");
	tw_labels(&pods[6].labels, "a=b");
	for (i = 0; i < 7; i++)
		ASSERT_NE(NULL, keys[i] = policy_identity_key(&pods[i]));
	for (i = 0; i < 7; i++)
		for (j = 0; j < i; j++)
			EXPECT_STRNE(keys[i], keys[j]);
	for (i = 0; i < 7; i++)
		free(keys[i]);
	label_set_free(&pods[5].labels);
	label_set_free(&pods[6].labels);
}

TEST(rule_set_equality_and_hash)
{
	struct pc_entry e1[] = {
		{ .peer = 256, .proto = TCP, .port_lo = 80, .port_hi = 80, .policy = 1 },
		{ .peer = 257, .proto = 0, .port_lo = 0, .port_hi = 65535, .policy = 1, .rule = 1 },
	};
	struct pc_entry e2[2], e3[2];
	struct pc_rule_set a = { e1, 2, 1 }, b = { e2, 2, 9 }, c = { e3, 2, 1 };
	struct pc_rule_set empty1 = {}, empty2 = { NULL, 0, 4 };

	memcpy(e2, e1, sizeof(e1));
	memcpy(e3, e1, sizeof(e1));
	e3[1].rule = 2;
	/* The isolating policy is the endpoint's, not the set's entries. */
	EXPECT_TRUE(policy_rule_set_equal(&a, &b));
	EXPECT_EQ(policy_rule_set_hash(&a), policy_rule_set_hash(&b));
	EXPECT_FALSE(policy_rule_set_equal(&a, &c));
	EXPECT_NE(policy_rule_set_hash(&a), policy_rule_set_hash(&c));
	EXPECT_TRUE(policy_rule_set_equal(&empty1, &empty2));
	EXPECT_EQ(policy_rule_set_hash(&empty1), policy_rule_set_hash(&empty2));
	b.n = 1;
	EXPECT_FALSE(policy_rule_set_equal(&a, &b));
	EXPECT_LT(policy_entry_cmp(&e1[0], &e1[1]), 0);
	EXPECT_GT(policy_entry_cmp(&e1[1], &e1[0]), 0);
	EXPECT_EQ(0, policy_entry_cmp(&e1[0], &e2[0]));
}

TEST_HARNESS_MAIN
