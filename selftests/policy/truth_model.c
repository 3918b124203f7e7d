// SPDX-License-Identifier: GPL-2.0-only
/*
 * truth_model.c - a second opinion on the truth table's expected matrices (truth_model.t).
 *
 * truth_cases.sh writes each expected matrix by hand, from the API's semantics. This program
 * takes the same steps (the world as a case leaves it before each verify: namespaces and their
 * labels, pods with labels, addresses and named ports, the policies in force, and the
 * expected cells) and judges every cell with libpodlane's own matchers (policy_spec.c,
 * labels.c): a cell is reachable when the sender's egress and the receiver's ingress both
 * allow it, a direction allowing when no policy of the pod's namespace that selects the pod
 * isolates it, or when a rule of one that does matches the peer and the port. A disagreement
 * is a wrong expectation or a wrong matcher, and either is worth knowing before the datapath
 * is blamed. The loopback diagonal is skipped, as in the truth table.
 *
 * Input on stdin, one item a line (truthlib.sh's model mode writes it):
 *	step NAME                       starts a step, forgetting the previous one's world
 *	ns NAME [KEY=VALUE...]          a namespace (kubernetes.io/metadata.name is implied)
 *	pod NS/NAME IPV4 [L:KEY=VALUE...] [P:NAME=PROTO/PORT...]
 *	policy FILE                     a policy in force (YAML or JSON)
 *	exp PROTO/PORT FROM TO 0|1      an expected cell
 * Prints each disagreement; exit 0 when there is none, 1 when there is one, 2 on bad input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "policy_spec.h"

#define MAX_NS		8
#define MAX_PODS	32
#define MAX_POLICIES	64
#define MAX_PORTS	16
#define MAX_TEXT	(256 * 1024)

struct model_pod {
	char			ns[64];
	char			name[64];
	char			full[130];
	struct in_addr		addr;
	struct policy_pod	meta;
	struct policy_pod_port	ports[MAX_PORTS];
};

struct model {
	struct policy_namespace	ns[MAX_NS];
	unsigned int		nns;
	struct model_pod	pods[MAX_PODS];
	unsigned int		npods;
	struct policy_spec	policies[MAX_POLICIES];
	unsigned int		npolicies;
	char			step[256];
};

static struct model world;

static void model_reset(struct model *m)
{
	unsigned int i, k;

	for (i = 0; i < m->nns; i++)
		policy_namespace_free(&m->ns[i]);
	for (i = 0; i < m->npods; i++) {
		label_set_free(&m->pods[i].meta.labels);
		for (k = 0; k < m->pods[i].meta.nports; k++)
			free(m->pods[i].ports[k].name);
	}
	for (i = 0; i < m->npolicies; i++)
		policy_spec_free(&m->policies[i]);
	m->nns = m->npods = m->npolicies = 0;
}

static const struct label_set *ns_labels(const struct model *m, const char *name)
{
	static const struct label_set none;
	unsigned int i;

	for (i = 0; i < m->nns; i++)
		if (!strcmp(m->ns[i].name, name))
			return &m->ns[i].labels;
	return &none;
}

static struct model_pod *pod_find(struct model *m, const char *full)
{
	unsigned int i;

	for (i = 0; i < m->npods; i++)
		if (!strcmp(m->pods[i].full, full))
			return &m->pods[i];
	return NULL;
}

static int proto_parse(const char *s)
{
	if (!strcasecmp(s, "tcp"))
		return IPPROTO_TCP;
	if (!strcasecmp(s, "udp"))
		return IPPROTO_UDP;
	if (!strcasecmp(s, "sctp"))
		return IPPROTO_SCTP;
	return -1;
}

/* "KEY=VALUE" into set; the text is cut in place. */
static int label_add(struct label_set *set, char *kv)
{
	char *eq = strchr(kv, '=');

	if (!eq)
		return -EINVAL;
	*eq = '\0';
	return label_set_add(set, kv, eq + 1);
}

static int read_ns(struct model *m, char *rest)
{
	struct label_set labels = {};
	char *save, *tok, *name;
	int err = 0;

	name = strtok_r(rest, " ", &save);
	if (!name || m->nns == MAX_NS)
		return -EINVAL;
	while (!err && (tok = strtok_r(NULL, " ", &save)))
		err = label_add(&labels, tok);
	if (!err)
		err = policy_namespace_init(&m->ns[m->nns], name, &labels);
	label_set_free(&labels);
	if (!err)
		m->nns++;
	return err;
}

static int read_pod(struct model *m, char *rest)
{
	struct model_pod *p = &m->pods[m->npods];
	char *save, *tok, *slash, *eq, *sl;
	struct policy_pod_port *pp;
	int err = 0, proto;

	if (m->npods == MAX_PODS)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	tok = strtok_r(rest, " ", &save);
	slash = tok ? strchr(tok, '/') : NULL;
	if (!slash || strlen(tok) >= sizeof(p->full))
		return -EINVAL;
	strcpy(p->full, tok);
	*slash = '\0';
	snprintf(p->ns, sizeof(p->ns), "%s", tok);
	snprintf(p->name, sizeof(p->name), "%s", slash + 1);
	tok = strtok_r(NULL, " ", &save);
	if (!tok || inet_pton(AF_INET, tok, &p->addr) != 1)
		return -EINVAL;
	p->meta.namespace = p->ns;
	p->meta.name = p->name;
	p->meta.ports = p->ports;
	m->npods++;		/* from here on, model_reset() frees what it holds */
	while (!err && (tok = strtok_r(NULL, " ", &save))) {
		if (!strncmp(tok, "L:", 2)) {
			err = label_add(&p->meta.labels, tok + 2);
			continue;
		}
		eq = strchr(tok, '=');
		sl = eq ? strchr(eq, '/') : NULL;
		if (strncmp(tok, "P:", 2) || !sl || p->meta.nports == MAX_PORTS)
			return -EINVAL;
		*eq = *sl = '\0';
		proto = proto_parse(eq + 1);
		if (proto < 0)
			return -EINVAL;
		pp = &p->ports[p->meta.nports];
		pp->name = strdup(tok + 2);
		if (!pp->name)
			return -ENOMEM;
		pp->proto = proto;
		pp->port = atoi(sl + 1);
		p->meta.nports++;
	}
	return err;
}

static int read_policy(struct model *m, const char *path)
{
	static char text[MAX_TEXT];
	char err[512];
	FILE *f;
	size_t n;

	if (m->npolicies == MAX_POLICIES)
		return -EINVAL;
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "truth_model: failed to open '%s': %s\n", path, strerror(errno));
		return -errno;
	}
	n = fread(text, 1, sizeof(text), f);
	fclose(f);
	if (policy_spec_parse_text(text, n, &m->policies[m->npolicies], err, sizeof(err))) {
		fprintf(stderr, "truth_model: %s: %s\n", path, err);
		return -EINVAL;
	}
	m->npolicies++;
	return 0;
}

static bool rule_peers_match(const struct model *m, const struct policy_rule *rule,
			     const struct model_pod *peer, const char *policy_ns)
{
	const struct policy_peer *pe;
	unsigned int i;

	if (!rule->npeers)
		return true;
	for (i = 0; i < rule->npeers; i++) {
		pe = &rule->peers[i];
		if (pe->kind == POLICY_PEER_IP_BLOCK ?
		    policy_peer_matches_addr(pe, AF_INET, &peer->addr) :
		    policy_peer_matches_pod(pe, &peer->meta.labels, ns_labels(m, peer->ns),
					    peer->ns, policy_ns))
			return true;
	}
	return false;
}

/* Whether pod's side allows the flow: dir POLICY_TYPE_INGRESS (pod receives from peer) or
 * POLICY_TYPE_EGRESS (pod sends to peer); dst is the receiver, whose named ports count. */
static bool side_allows(const struct model *m, const struct model_pod *pod,
			const struct model_pod *peer, const struct model_pod *dst, __u8 dir,
			__u8 proto, __u16 port)
{
	const struct policy_spec *s;
	const struct policy_rule *rules;
	bool isolated = false;
	unsigned int i, r, n;

	for (i = 0; i < m->npolicies; i++) {
		s = &m->policies[i];
		if (!(s->types & dir) || !policy_selects_pod(s, &pod->meta.labels, pod->ns))
			continue;
		isolated = true;
		rules = dir == POLICY_TYPE_INGRESS ? s->ingress : s->egress;
		n = dir == POLICY_TYPE_INGRESS ? s->ningress : s->negress;
		for (r = 0; r < n; r++)
			if (rule_peers_match(m, &rules[r], peer, s->namespace) &&
			    policy_rule_ports_match(&rules[r], &dst->meta, proto, port))
				return true;
	}
	return !isolated;
}

/* "exp PROTO/PORT FROM TO 0|1": 0 when the model agrees, 1 when not, 2 for the diagonal (not
 * judged), -EINVAL. */
static int judge(struct model *m, char *rest)
{
	char combo[32], from[130], to[130];
	struct model_pod *f, *t;
	int want, proto, port;
	bool got;
	char *sl;

	if (sscanf(rest, "%31s %129s %129s %d", combo, from, to, &want) != 4 ||
	    (want != 0 && want != 1))
		return -EINVAL;
	sl = strchr(combo, '/');
	f = pod_find(m, from);
	t = pod_find(m, to);
	if (!sl || !f || !t)
		return -EINVAL;
	*sl = '\0';
	proto = proto_parse(combo);
	port = atoi(sl + 1);
	if (proto < 0 || port < 1 || port > 65535)
		return -EINVAL;
	if (f == t)
		return 2;
	got = side_allows(m, f, t, t, POLICY_TYPE_EGRESS, proto, port) &&
	      side_allows(m, t, f, t, POLICY_TYPE_INGRESS, proto, port);
	if (got == want)
		return 0;
	printf("%s: %s/%d %s -> %s: expected %s, the model says %s\n", m->step, combo, port, from,
	       to, want ? "reachable" : "blocked", got ? "reachable" : "blocked");
	return 1;
}

int main(void)
{
	static char line[64 * 1024];
	unsigned long lineno = 0, cells = 0, differ = 0;
	int rc = 0;

	while (fgets(line, sizeof(line), stdin)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "step ", 5)) {
			model_reset(&world);
			snprintf(world.step, sizeof(world.step), "%.200s", line + 5);
		} else if (!strncmp(line, "ns ", 3)) {
			rc = read_ns(&world, line + 3);
		} else if (!strncmp(line, "pod ", 4)) {
			rc = read_pod(&world, line + 4);
		} else if (!strncmp(line, "policy ", 7)) {
			rc = read_policy(&world, line + 7);
		} else if (!strncmp(line, "exp ", 4)) {
			rc = judge(&world, line + 4);
			if (rc > 0) {
				cells += rc == 1 || rc == 0;
				differ += rc == 1;
				rc = 0;
			} else if (!rc) {
				cells++;
			}
		} else if (line[0]) {
			rc = -EINVAL;
		}
		if (rc) {
			fprintf(stderr, "truth_model: line %lu: %s: %s\n", lineno,
				rc == -EINVAL ? "bad input" : strerror(-rc), line);
			model_reset(&world);
			return 2;
		}
	}
	model_reset(&world);
	printf("%lu cells, %lu differ\n", cells, differ);
	return differ ? 1 : 0;
}
