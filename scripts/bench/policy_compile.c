// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy_compile.c - how long the policy compiler (userspace/lib/policy_compile.c) takes on a
 * cluster of realistic shape, for scripts/bench/bench-policy-compile.sh. Pure userspace.
 *
 * The cluster: NS namespaces (labels team, env) plus kube-system with kube-dns; PODS pods
 * spread over them, in deployments of REPLICAS pods each (labels app, tier, version; named
 * ports http/TCP/8080 and metrics/TCP/9090), at 10.<128 + i / 65536>.<i / 256 % 256>.<i %
 * 256>; LOCAL of them on this node, the others remote. POLICIES policies spread over the
 * namespaces, cycling through what people write:
 *   - a default deny (ingress and egress) per namespace, once;
 *   - app B from app A of its namespace on 8080;
 *   - app B from app A of namespaces team=tK on the named port http;
 *   - egress of app A to kube-dns (namespace by its name label, pod k8s-app) on UDP and TCP 53;
 *   - egress of a tier to an ipBlock /16 except a /24 on 443 and 8443-8448;
 *   - ingress of tier in (web, api) from the monitoring namespace (team=mon) on "metrics";
 *   - egress of app A to app B of the namespaces env=prod with matchExpressions, 5432.
 * Policies are written as YAML and parsed by policy_spec_parse_text (timed apart).
 *
 * Each cell is the median of RUNS compilations (wall clock, CLOCK_MONOTONIC), with the result:
 * endpoints isolated, entries over all rule sets, distinct rule sets (equal entries: what the
 * datapath shares), CIDR ids.
 *
 * Usage: policy_compile [-r RUNS] [-p PODS] [-l LOCAL] [-n POLICIES] [-s NS] [-R REPLICAS]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "podlane.h"
#include "policy_compile.h"
#include "policy_spec.h"

static unsigned int runs = 7, npods = 1000, nlocal = 1000, npolicies = 1000, nns = 20,
		    replicas = 5;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "policy_compile: %s\n", what);
	exit(1);
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		die("out of memory");
	return d;
}

static void add(struct label_set *set, const char *k, const char *v)
{
	if (label_set_add(set, k, v))
		die("out of memory");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The text of policy i: one of the shapes above. */
static void policy_text(unsigned int i, char *buf, size_t len)
{
	unsigned int ns = i % nns, apps = (npods / nns) / replicas;
	unsigned int a = apps ? (i / nns) % apps : 0, b = apps ? (a + 1) % apps : 0;
	static const char *const tiers[] = { "web", "api", "db" };
	const char *hdr = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n";

	if (i < nns) {
		snprintf(buf, len, "%smetadata: {name: deny-%u, namespace: ns%u}\n"
			 "spec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n", hdr, i, ns);
		return;
	}
	switch (i % 6) {
	case 0:
		snprintf(buf, len, "%smetadata: {name: p%u, namespace: ns%u}\nspec:\n"
			 "  podSelector: {matchLabels: {app: app%u}}\n"
			 "  ingress:\n  - from: [{podSelector: {matchLabels: {app: app%u}}}]\n"
			 "    ports: [{port: 8080}]\n", hdr, i, ns, b, a);
		break;
	case 1:
		snprintf(buf, len, "%smetadata: {name: p%u, namespace: ns%u}\nspec:\n"
			 "  podSelector: {matchLabels: {app: app%u}}\n"
			 "  ingress:\n  - from: [{namespaceSelector: {matchLabels: {team: t%u}},"
			 " podSelector: {matchLabels: {app: app%u}}}]\n"
			 "    ports: [{port: http}]\n", hdr, i, ns, b, i % 5, a);
		break;
	case 2:
		snprintf(buf, len, "%smetadata: {name: p%u, namespace: ns%u}\nspec:\n"
			 "  podSelector: {matchLabels: {app: app%u}}\n  policyTypes: [Egress]\n"
			 "  egress:\n  - to: [{namespaceSelector: {matchLabels:"
			 " {kubernetes.io/metadata.name: kube-system}},"
			 " podSelector: {matchLabels: {k8s-app: kube-dns}}}]\n"
			 "    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]\n",
			 hdr, i, ns, a);
		break;
	case 3:
		snprintf(buf, len, "%smetadata: {name: p%u, namespace: ns%u}\nspec:\n"
			 "  podSelector: {matchLabels: {tier: %s}}\n  policyTypes: [Egress]\n"
			 "  egress:\n  - to: [{ipBlock: {cidr: 172.%u.0.0/16, except:"
			 " [172.%u.%u.0/24]}}]\n"
			 "    ports: [{port: 443}, {port: 8443, endPort: 8448}]\n",
			 hdr, i, ns, tiers[i % 3], 16 + i % 16, 16 + i % 16, i % 256);
		break;
	case 4:
		snprintf(buf, len, "%smetadata: {name: p%u, namespace: ns%u}\nspec:\n"
			 "  podSelector: {matchExpressions: [{key: tier, operator: In,"
			 " values: [web, api]}]}\n"
			 "  ingress:\n  - from: [{namespaceSelector: {matchLabels: {team: mon}}}]\n"
			 "    ports: [{port: metrics}]\n", hdr, i, ns);
		break;
	default:
		snprintf(buf, len, "%smetadata: {name: p%u, namespace: ns%u}\nspec:\n"
			 "  podSelector: {matchLabels: {app: app%u}}\n  policyTypes: [Egress]\n"
			 "  egress:\n  - to: [{namespaceSelector: {matchLabels: {env: prod}},"
			 " podSelector: {matchExpressions: [{key: app, operator: In,"
			 " values: [app%u]}, {key: version, operator: NotIn, values: [v0]}]}}]\n"
			 "    ports: [{port: 5432}]\n", hdr, i, ns, a, b);
		break;
	}
}

/* Rule set i of the result: endpoint i / 2, ingress (even) or egress (odd). */
static const struct pc_rule_set *set_of(const struct pc_result *res, unsigned int i)
{
	return i % 2 ? &res->endpoints[i / 2].egress : &res->endpoints[i / 2].ingress;
}

static bool isolated_in(const struct pc_result *res, unsigned int i)
{
	return res->endpoints[i / 2].flags &
	       (i % 2 ? PODLANE_POL_F_EGRESS : PODLANE_POL_F_INGRESS);
}

int main(int argc, char **argv)
{
	struct policy_namespace *nss;
	struct policy_pod *meta;
	struct pc_pod *pods;
	struct policy_spec *specs;
	struct pc_policy *pols;
	struct pc_world world;
	struct pc_result res;
	double *t, parse_s;
	char buf[2048], err[256], name[64];
	unsigned int i, j, isolated = 0, distinct = 0, ids = 0, opt;
	char **keys;
	__u64 *hashes;

	while ((opt = getopt(argc, argv, "r:p:l:n:s:R:")) != (unsigned int)-1) {
		switch (opt) {
		case 'r': runs = atoi(optarg); break;
		case 'p': npods = atoi(optarg); break;
		case 'l': nlocal = atoi(optarg); break;
		case 'n': npolicies = atoi(optarg); break;
		case 's': nns = atoi(optarg); break;
		case 'R': replicas = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: policy_compile [-r RUNS] [-p PODS] [-l LOCAL]"
				" [-n POLICIES] [-s NS] [-R REPLICAS]\n");
			return 2;
		}
	}
	if (!runs || !nns || !replicas || nlocal > npods)
		die("bad arguments");

	nss = calloc(nns + 2, sizeof(*nss));
	meta = calloc(npods + 1, sizeof(*meta));
	pods = calloc(npods + 1, sizeof(*pods));
	specs = calloc(npolicies + 1, sizeof(*specs));
	pols = calloc(npolicies + 1, sizeof(*pols));
	t = calloc(runs, sizeof(*t));
	keys = calloc(npods + 1, sizeof(*keys));
	if (!nss || !meta || !pods || !specs || !pols || !t || !keys)
		die("out of memory");

	for (i = 0; i < nns; i++) {
		struct label_set l = {};

		snprintf(name, sizeof(name), "t%u", i % 5);
		add(&l, "team", name);
		add(&l, "env", i % 2 ? "dev" : "prod");
		snprintf(name, sizeof(name), "ns%u", i);
		if (policy_namespace_init(&nss[i], name, &l))
			die("out of memory");
		label_set_free(&l);
	}
	{
		struct label_set l = {};

		add(&l, "team", "mon");
		if (policy_namespace_init(&nss[nns], "monitoring", &l) ||
		    policy_namespace_init(&nss[nns + 1], "kube-system", NULL))
			die("out of memory");
		label_set_free(&l);
	}

	/* Pods; the last is kube-dns (remote). Identities by key, as podlaned gives them. */
	for (i = 0; i <= npods; i++) {
		struct policy_pod *m = &meta[i];
		unsigned int dep = i / replicas;
		static const char *const tiers[] = { "web", "api", "db" };

		snprintf(name, sizeof(name), "pod%u", i);
		m->name = xstrdup(name);
		if (i == npods) {
			m->namespace = xstrdup("kube-system");
			add(&m->labels, "k8s-app", "kube-dns");
		} else {
			snprintf(name, sizeof(name), "ns%u", dep % nns);
			m->namespace = xstrdup(name);
			snprintf(name, sizeof(name), "app%u", dep / nns);
			add(&m->labels, "app", name);
			add(&m->labels, "tier", tiers[dep % 3]);
			add(&m->labels, "version", "v1");
			m->ports = calloc(2, sizeof(*m->ports));
			if (!m->ports)
				die("out of memory");
			m->nports = 2;
			m->ports[0] = (struct policy_pod_port){ xstrdup("http"), IPPROTO_TCP, 8080 };
			m->ports[1] = (struct policy_pod_port){ xstrdup("metrics"), IPPROTO_TCP,
								9090 };
		}
		pods[i].meta = m;
		pods[i].addr = htonl(0x0a800000 + i);
		pods[i].local = i < nlocal;
		pods[i].ifindex = pods[i].local ? 10 + i : 0;
		keys[i] = policy_identity_key(m);
		if (!keys[i])
			die("out of memory");
		for (j = 0; j < i && strcmp(keys[i], keys[j]); j++)
			;
		pods[i].id = j < i ? pods[j].id : PODLANE_ID_POD_BASE + ids++;
	}

	parse_s = now();
	for (i = 0; i < npolicies; i++) {
		policy_text(i, buf, sizeof(buf));
		if (policy_spec_parse_text(buf, strlen(buf), &specs[i], err, sizeof(err))) {
			fprintf(stderr, "policy %u refused: %s\n%s", i, err, buf);
			return 1;
		}
		pols[i] = (struct pc_policy){ &specs[i], i + 1 };
	}
	parse_s = now() - parse_s;

	world = (struct pc_world){ nss, nns + 2, pods, npods + 1, pols, npolicies };
	for (i = 0; i < runs; i++) {
		double start = now();
		int ret = policy_compile(&world, PODLANE_MAX_POLICY, &res, err, sizeof(err));

		t[i] = now() - start;
		if (ret) {
			fprintf(stderr, "compile: %s (%d)\n", err, ret);
			return 1;
		}
		if (i + 1 < runs)
			policy_result_free(&res);
	}
	qsort(t, runs, sizeof(*t), cmp_double);

	/* Distinct rule sets, as podlaned will share them (hash, then equality). */
	hashes = calloc(2 * res.nendpoints + 1, sizeof(*hashes));
	if (!hashes)
		die("out of memory");
	for (i = 0; i < 2 * res.nendpoints; i++)
		hashes[i] = policy_rule_set_hash(set_of(&res, i));
	for (i = 0; i < 2 * res.nendpoints; i++) {
		bool seen = false;

		if (!isolated_in(&res, i))
			continue;
		isolated++;
		for (j = i % 2; j < i && !seen; j += 2)
			seen = isolated_in(&res, j) && hashes[j] == hashes[i] &&
			       policy_rule_set_equal(set_of(&res, j), set_of(&res, i));
		distinct += !seen;
	}
	free(hashes);
	printf("| %u | %u | %u | %u | %.1f ms | %.1f ms | %.1f ms | %u | %zu | %u | %u |\n",
	       npods, nlocal, npolicies, ids, t[runs / 2] * 1e3, t[0] * 1e3,
	       t[runs - 1] * 1e3, isolated, res.nentries, distinct, res.ncidrs);
	fprintf(stderr, "parse of %u policies: %.1f ms\n", npolicies, parse_s * 1e3);

	policy_result_free(&res);
	for (i = 0; i < npolicies; i++)
		policy_spec_free(&specs[i]);
	for (i = 0; i <= npods; i++) {
		policy_pod_free(&meta[i]);
		free(keys[i]);
	}
	for (i = 0; i < nns + 2; i++)
		policy_namespace_free(&nss[i]);
	free(nss);
	free(meta);
	free(pods);
	free(specs);
	free(pols);
	free(t);
	free(keys);
	return 0;
}
