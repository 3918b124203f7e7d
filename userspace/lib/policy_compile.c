// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy_compile.c - NetworkPolicies and what their selectors select, compiled into what the
 * datapath enforces (policy_compile.h, bpf/podlane.h "network policy"). Pure: no I/O, no
 * globals; everything it allocates is in the result or freed before it returns.
 *
 * How, and why this way:
 *   - selectors are evaluated once per identity, not per pod: pods with one identity have one
 *     policy_identity_key(), hence the same namespace, labels and named ports (the header's
 *     contract), so the first pod with an identity stands for all of them; a local pod whose
 *     identity an earlier local pod had gets a copy of that pod's rule sets;
 *   - namespaces are a sorted table of every name the world mentions (listed ones with their
 *     labels, the others with only the implied name label), each with its identities and its
 *     policies, so a pod is checked against its own namespace's policies only, and a
 *     namespaceSelector is evaluated once per namespace;
 *   - a policy's rules are compiled the first time a local pod needs them, into the entries
 *     that do not depend on the pod (everything but named ports on ingress), then appended to
 *     each rule set of a pod the policy selects;
 *   - CIDR ids: every IPv4 cidr and except of every policy, sorted by (address, length). An
 *     address's most specific prefix P decides: for any ipBlock B whose cidr and excepts are
 *     all in the list, the address is in B exactly when P lies in B's cidr and in none of its
 *     excepts (prefixes holding one address are nested), so an ipBlock allows the CIDR ids of
 *     those prefixes. The same argument holds for any prefixes added to the list, which is
 *     what makes one case exact: an egress ipBlock with a named port resolves per destination
 *     pod identity, and when some pods of an identity lie in the block and others do not, the
 *     /32 of each pod of it that does is added, and its entry is keyed by that CIDR id rather
 *     than by the identity (which would allow the others too);
 *   - a rule set's entries are merged (the port ranges of one peer, protocol and rule that
 *     touch become one, which never needs more LPM prefixes than the parts), sorted and made
 *     unique by {peer, protocol, range}, the lowest {policy, rule} kept (the map holds one
 *     value per key); then the LPM keys it needs are counted against max_entries.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "podlane.h"
#include "policy_compile.h"

#define DIR_INGRESS	0
#define DIR_EGRESS	1

/* ---- small growable arrays ---- */

struct evec {
	struct pc_entry	*v;
	size_t		n, cap;
};

struct uvec {
	__u32		*v;
	size_t		n, cap;
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t want;
	void *p;

	if (n < *cap)
		return 0;
	want = *cap ? 2 * *cap : 16;
	p = realloc(*v, want * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = want;
	return 0;
}

static int evec_push(struct evec *e, __u32 peer, __u8 proto, __u16 lo, __u16 hi, __u32 policy,
		     __u16 rule)
{
	struct pc_entry *x;

	if (grow((void **)&e->v, &e->cap, e->n, sizeof(*e->v)))
		return -ENOMEM;
	x = &e->v[e->n++];
	memset(x, 0, sizeof(*x));
	x->peer = peer;
	x->proto = proto;
	x->port_lo = lo;
	x->port_hi = hi;
	x->policy = policy;
	x->rule = rule;
	return 0;
}

static int evec_append(struct evec *e, const struct pc_entry *v, size_t n)
{
	if (!n)
		return 0;
	if (e->n + n > e->cap) {
		size_t cap = e->cap ? e->cap : 16;
		struct pc_entry *p;

		while (cap < e->n + n)
			cap *= 2;
		p = realloc(e->v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		e->v = p;
		e->cap = cap;
	}
	memcpy(e->v + e->n, v, n * sizeof(*v));
	e->n += n;
	return 0;
}

static int uvec_push(struct uvec *u, __u32 x)
{
	if (grow((void **)&u->v, &u->cap, u->n, sizeof(*u->v)))
		return -ENOMEM;
	u->v[u->n++] = x;
	return 0;
}

static int u32_cmp(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static void uvec_sort_unique(struct uvec *u)
{
	size_t i, n = 0;

	if (!u->n)
		return;
	if (u->n)
		qsort(u->v, u->n, sizeof(*u->v), u32_cmp);
	for (i = 0; i < u->n; i++)
		if (!n || u->v[n - 1] != u->v[i])
			u->v[n++] = u->v[i];
	u->n = n;
}

/* ---- the compiler's view of the world ---- */

struct ns_info {
	const char		*name;
	const struct label_set	*labels;
	struct uvec		idents;		/* indexes in compiler.idents */
	struct uvec		policies;	/* indexes in world->policies */
};

struct ident {
	__u32		id;
	unsigned int	pod;		/* the first pod with it: its metadata stands for all */
	unsigned int	ns;
	unsigned int	*pods;		/* every pod with it (a slice of compiler.by_ident) */
	unsigned int	npods;
	int		ep;		/* endpoint of the first local pod with it, or -1 */
};

struct crule {
	struct evec	fixed;		/* the entries that do not depend on the local pod */
	struct uvec	peers;		/* ingress with named ports: peers for the pod's ports */
};

struct cpolicy {
	bool		done;
	struct crule	*rules[2];	/* DIR_INGRESS, DIR_EGRESS; as many as the spec has */
};

struct compiler {
	const struct pc_world	*w;
	struct ns_info		*ns;
	unsigned int		nns;
	struct policy_namespace	*implied;	/* namespaces mentioned but not listed */
	unsigned int		nimplied;
	unsigned int		*pod_ns;	/* per pod: index in ns */
	unsigned int		*pol_ns;	/* per policy: index in ns */
	struct ident		*idents;	/* sorted by id */
	unsigned int		nidents;
	unsigned int		*pod_ident;	/* per pod: index in idents */
	unsigned int		*by_ident;	/* pod indexes grouped by identity */
	struct pc_cidr		*cidrs;
	unsigned int		ncidrs;
	size_t			cidrs_cap;
	struct cpolicy		*cpol;
	char			*err;
	size_t			errlen;
};

static const char *pod_namespace(const struct policy_pod *meta)
{
	return meta->namespace ? meta->namespace : "";
}

static void set_err(struct compiler *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->err || !c->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
}

/* ---- namespaces ---- */

struct ns_name {
	const char	*name;
	int		listed;		/* index in world->namespaces, or -1 */
};

static int ns_name_cmp(const void *a, const void *b)
{
	const struct ns_name *x = a, *y = b;
	int d = strcmp(x->name, y->name);

	if (d)
		return d;
	/* Listed before unlisted, and the first listed wins. */
	if ((x->listed < 0) != (y->listed < 0))
		return x->listed < 0 ? 1 : -1;
	return x->listed < y->listed ? -1 : x->listed > y->listed;
}

static int ns_find(const struct compiler *c, const char *name)
{
	unsigned int lo = 0, hi = c->nns;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		int d = strcmp(name, c->ns[mid].name);

		if (!d)
			return mid;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static int build_namespaces(struct compiler *c)
{
	const struct pc_world *w = c->w;
	size_t total = (size_t)w->nnamespaces + w->npods + w->npolicies, n = 0, i;
	struct ns_name *names;
	unsigned int k;
	int ret = -ENOMEM;

	names = calloc(total ? total : 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (k = 0; k < w->nnamespaces; k++)
		names[n++] = (struct ns_name){ w->namespaces[k].name ? w->namespaces[k].name : "",
					       k };
	for (k = 0; k < w->npods; k++)
		names[n++] = (struct ns_name){ pod_namespace(w->pods[k].meta), -1 };
	for (k = 0; k < w->npolicies; k++)
		names[n++] = (struct ns_name){ w->policies[k].spec->namespace, -1 };
	if (n)
		qsort(names, n, sizeof(*names), ns_name_cmp);

	c->ns = calloc(n ? n : 1, sizeof(*c->ns));
	c->implied = calloc(n ? n : 1, sizeof(*c->implied));
	if (!c->ns || !c->implied)
		goto out;
	for (i = 0; i < n; i++) {
		struct ns_info *ns;

		if (c->nns && !strcmp(c->ns[c->nns - 1].name, names[i].name))
			continue;
		ns = &c->ns[c->nns++];
		ns->name = names[i].name;
		if (names[i].listed >= 0) {
			ns->labels = &w->namespaces[names[i].listed].labels;
			continue;
		}
		if (policy_namespace_init(&c->implied[c->nimplied], names[i].name, NULL))
			goto out;
		ns->labels = &c->implied[c->nimplied++].labels;
	}

	c->pod_ns = calloc(w->npods ? w->npods : 1, sizeof(*c->pod_ns));
	c->pol_ns = calloc(w->npolicies ? w->npolicies : 1, sizeof(*c->pol_ns));
	if (!c->pod_ns || !c->pol_ns)
		goto out;
	for (k = 0; k < w->npods; k++)
		c->pod_ns[k] = ns_find(c, pod_namespace(w->pods[k].meta));
	for (k = 0; k < w->npolicies; k++) {
		c->pol_ns[k] = ns_find(c, w->policies[k].spec->namespace);
		if (uvec_push(&c->ns[c->pol_ns[k]].policies, k))
			goto out;
	}
	ret = 0;
out:
	free(names);
	return ret;
}

/* ---- identities ---- */

struct pod_ref {
	__u32		id;
	unsigned int	pod;
};

static int pod_ref_cmp(const void *a, const void *b)
{
	const struct pod_ref *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->pod < y->pod ? -1 : x->pod > y->pod;
}

static int build_idents(struct compiler *c)
{
	const struct pc_world *w = c->w;
	unsigned int i, n = w->npods;

	struct pod_ref *refs;

	c->by_ident = calloc(n ? n : 1, sizeof(*c->by_ident));
	c->pod_ident = calloc(n ? n : 1, sizeof(*c->pod_ident));
	c->idents = calloc(n ? n : 1, sizeof(*c->idents));
	refs = calloc(n ? n : 1, sizeof(*refs));
	if (!c->by_ident || !c->pod_ident || !c->idents || !refs) {
		free(refs);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		refs[i] = (struct pod_ref){ w->pods[i].id, i };
	if (n)
		qsort(refs, n, sizeof(*refs), pod_ref_cmp);
	for (i = 0; i < n; i++)
		c->by_ident[i] = refs[i].pod;
	free(refs);
	for (i = 0; i < n; i++) {
		unsigned int p = c->by_ident[i];
		struct ident *id;

		if (!c->nidents || c->idents[c->nidents - 1].id != w->pods[p].id) {
			id = &c->idents[c->nidents++];
			id->id = w->pods[p].id;
			id->pod = p;
			id->ns = c->pod_ns[p];
			id->pods = &c->by_ident[i];
			id->ep = -1;
			if (uvec_push(&c->ns[id->ns].idents, c->nidents - 1))
				return -ENOMEM;
		}
		id = &c->idents[c->nidents - 1];
		id->npods++;
		c->pod_ident[p] = c->nidents - 1;
	}
	return 0;
}

/* ---- CIDR ids ---- */

static __u32 v4(const struct policy_cidr *cidr)
{
	__u32 a;

	memcpy(&a, cidr->addr, 4);
	return ntohl(a);
}

static __u32 mask_of(unsigned int len)
{
	return len ? ~0U << (32 - len) : 0;
}

static int cidr_cmp(const void *a, const void *b)
{
	const struct pc_cidr *x = a, *y = b;
	__u32 ax = v4(&x->cidr), ay = v4(&y->cidr);

	if (ax != ay)
		return ax < ay ? -1 : 1;
	return x->cidr.prefix_len < y->cidr.prefix_len ? -1 :
	       x->cidr.prefix_len > y->cidr.prefix_len;
}

static int cidr_add(struct compiler *c, const struct policy_cidr *cidr)
{
	struct pc_cidr *x;

	if (cidr->family != AF_INET)
		return 0;
	if (grow((void **)&c->cidrs, &c->cidrs_cap, c->ncidrs, sizeof(*c->cidrs)))
		return -ENOMEM;
	x = &c->cidrs[c->ncidrs++];
	memset(x, 0, sizeof(*x));
	x->cidr.family = AF_INET;
	x->cidr.prefix_len = cidr->prefix_len;
	memcpy(x->cidr.addr, cidr->addr, 4);
	return 0;
}

static int cidr_add_host(struct compiler *c, __be32 addr)
{
	struct policy_cidr h = { .family = AF_INET, .prefix_len = 32 };

	memcpy(h.addr, &addr, 4);
	return cidr_add(c, &h);
}

/* Index of the prefix addr/len in cidrs, or -1. */
static int cidr_find(const struct pc_cidr *cidrs, unsigned int n, __u32 addr, unsigned int len)
{
	unsigned int lo = 0, hi = n;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		__u32 a = v4(&cidrs[mid].cidr);
		unsigned int l = cidrs[mid].cidr.prefix_len;

		if (a == addr && l == len)
			return mid;
		if (a < addr || (a == addr && l < len))
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* The first index whose (address, length) is not below addr/len. */
static unsigned int cidr_lower_bound(const struct pc_cidr *cidrs, unsigned int n, __u32 addr,
				     unsigned int len)
{
	unsigned int lo = 0, hi = n;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		__u32 a = v4(&cidrs[mid].cidr);

		if (a < addr || (a == addr && cidrs[mid].cidr.prefix_len < len))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool cidr_inside(__u32 addr, unsigned int len, const struct policy_cidr *outer)
{
	return len >= outer->prefix_len && (addr & mask_of(outer->prefix_len)) == v4(outer);
}

static __u32 cidr_id_of(const struct pc_cidr *cidrs, unsigned int n, __be32 addr)
{
	__u32 a = ntohl(addr);
	int len, at;

	if (!n)
		return 0;
	for (len = 32; len >= 0; len--) {
		at = cidr_find(cidrs, n, a & mask_of(len), len);
		if (at >= 0)
			return cidrs[at].id;
	}
	return 0;
}

__u32 policy_cidr_id_of(const struct pc_result *result, __be32 addr)
{
	return cidr_id_of(result->cidrs, result->ncidrs, addr);
}

enum block_share { BLOCK_NONE, BLOCK_SOME, BLOCK_ALL };

/* How many of an identity's pods an ipBlock peer holds. */
static enum block_share block_share(const struct compiler *c, const struct policy_peer *peer,
				    const struct ident *id)
{
	unsigned int i, in = 0;

	for (i = 0; i < id->npods; i++) {
		__be32 a = c->w->pods[id->pods[i]].addr;

		in += policy_peer_matches_addr(peer, AF_INET, &a);
	}
	return !in ? BLOCK_NONE : in == id->npods ? BLOCK_ALL : BLOCK_SOME;
}

static bool pod_has_port(const struct policy_pod *meta, const struct policy_port *pp)
{
	unsigned int i;

	for (i = 0; i < meta->nports; i++)
		if (meta->ports[i].name && meta->ports[i].proto == pp->proto &&
		    !strcmp(meta->ports[i].name, pp->name))
			return true;
	return false;
}

static bool is_v4_block(const struct policy_peer *peer)
{
	return peer->kind == POLICY_PEER_IP_BLOCK && peer->ip_block.cidr.family == AF_INET;
}

/*
 * Every prefix an ipBlock names, and the /32 of each pod an egress ipBlock with a named port
 * holds when its identity's other pods lie outside (see the top of this file).
 */
static int build_cidrs(struct compiler *c)
{
	const struct pc_world *w = c->w;
	unsigned int k, r, j, e, q, i, p, n;

	for (k = 0; k < w->npolicies; k++) {
		const struct policy_spec *s = w->policies[k].spec;
		const struct policy_rule *lists[2] = { s->ingress, s->egress };
		unsigned int counts[2] = { s->ningress, s->negress }, d;

		for (d = 0; d < 2; d++)
			for (r = 0; r < counts[d]; r++)
				for (j = 0; j < lists[d][r].npeers; j++) {
					const struct policy_peer *peer = &lists[d][r].peers[j];

					if (peer->kind != POLICY_PEER_IP_BLOCK)
						continue;
					if (cidr_add(c, &peer->ip_block.cidr))
						return -ENOMEM;
					for (e = 0; e < peer->ip_block.nexcept; e++)
						if (cidr_add(c, &peer->ip_block.except[e]))
							return -ENOMEM;
				}
		if (!(s->types & POLICY_TYPE_EGRESS))
			continue;
		for (r = 0; r < s->negress; r++) {
			const struct policy_rule *rule = &s->egress[r];

			for (q = 0; q < rule->nports; q++) {
				if (!rule->ports[q].name)
					continue;
				for (j = 0; j < rule->npeers; j++) {
					if (!is_v4_block(&rule->peers[j]))
						continue;
					for (i = 0; i < c->nidents; i++) {
						const struct ident *id = &c->idents[i];

						if (!pod_has_port(w->pods[id->pod].meta,
								  &rule->ports[q]) ||
						    block_share(c, &rule->peers[j], id) !=
						    BLOCK_SOME)
							continue;
						for (p = 0; p < id->npods; p++) {
							__be32 a = w->pods[id->pods[p]].addr;

							if (policy_peer_matches_addr(
								&rule->peers[j], AF_INET, &a) &&
							    cidr_add_host(c, a))
								return -ENOMEM;
						}
					}
				}
			}
		}
	}

	if (!c->ncidrs)
		return 0;
	if (c->ncidrs)
		qsort(c->cidrs, c->ncidrs, sizeof(*c->cidrs), cidr_cmp);
	for (i = 0, n = 0; i < c->ncidrs; i++)
		if (!n || cidr_cmp(&c->cidrs[n - 1], &c->cidrs[i]))
			c->cidrs[n++] = c->cidrs[i];
	c->ncidrs = n;
	for (i = 0; i < n; i++)
		c->cidrs[i].id = PODLANE_ID_CIDR_BASE + i;
	return 0;
}

/* The CIDR ids an IPv4 ipBlock allows: prefixes in its cidr and in none of its excepts. */
static int block_ids(const struct compiler *c, const struct policy_ip_block *b, struct uvec *ids)
{
	__u32 base = v4(&b->cidr);
	unsigned int i, e;

	i = cidr_lower_bound(c->cidrs, c->ncidrs, base, b->cidr.prefix_len);
	for (; i < c->ncidrs; i++) {
		__u32 a = v4(&c->cidrs[i].cidr);
		unsigned int len = c->cidrs[i].cidr.prefix_len;
		bool excepted = false;

		if (!cidr_inside(a, len, &b->cidr))
			break;
		for (e = 0; e < b->nexcept && !excepted; e++)
			excepted = b->except[e].family == AF_INET &&
				   cidr_inside(a, len, &b->except[e]);
		if (!excepted && uvec_push(ids, c->cidrs[i].id))
			return -ENOMEM;
	}
	return 0;
}

/* ---- rules ---- */

/* The identities (indexes in c->idents) a pod or namespace peer of policy k selects. */
static int peer_idents(const struct compiler *c, unsigned int k, const struct policy_peer *peer,
		       struct uvec *out)
{
	const struct pc_world *w = c->w;
	unsigned int n, i;

	for (n = 0; n < c->nns; n++) {
		const struct ns_info *ns = &c->ns[n];

		/* podSelector alone: the policy's own namespace. */
		if (peer->kind == POLICY_PEER_PODS ? n != c->pol_ns[k] :
		    !label_selector_matches(&peer->namespaces, ns->labels))
			continue;
		for (i = 0; i < ns->idents.n; i++) {
			const struct ident *id = &c->idents[ns->idents.v[i]];

			if (peer->kind != POLICY_PEER_NAMESPACES &&
			    !label_selector_matches(&peer->pods, &w->pods[id->pod].meta->labels))
				continue;
			if (uvec_push(out, ns->idents.v[i]))
				return -ENOMEM;
		}
	}
	return 0;
}

/* Entries to peer for the ports of pod meta that named port pp names. */
static int push_named(struct evec *out, const struct policy_pod *meta,
		      const struct policy_port *pp, __u32 peer, __u32 policy, __u16 rule)
{
	unsigned int i;

	for (i = 0; i < meta->nports; i++) {
		const struct policy_pod_port *q = &meta->ports[i];

		if (!q->name || q->proto != pp->proto || strcmp(q->name, pp->name))
			continue;
		if (evec_push(out, peer, pp->proto, q->port, q->port, policy, rule))
			return -ENOMEM;
	}
	return 0;
}

/* Egress named ports towards an ipBlock: per identity it holds, or per pod (top of file). */
static int block_named(const struct compiler *c, const struct policy_peer *peer,
		       const struct policy_port *pp, struct evec *out, __u32 policy, __u16 rule)
{
	const struct pc_world *w = c->w;
	unsigned int i, p;

	for (i = 0; i < c->nidents; i++) {
		const struct ident *id = &c->idents[i];
		const struct policy_pod *meta = w->pods[id->pod].meta;

		if (!pod_has_port(meta, pp))
			continue;
		switch (block_share(c, peer, id)) {
		case BLOCK_NONE:
			break;
		case BLOCK_ALL:
			if (push_named(out, meta, pp, id->id, policy, rule))
				return -ENOMEM;
			break;
		case BLOCK_SOME:
			for (p = 0; p < id->npods; p++) {
				__be32 a = w->pods[id->pods[p]].addr;

				if (policy_peer_matches_addr(peer, AF_INET, &a) &&
				    push_named(out, meta, pp, cidr_id_of(c->cidrs, c->ncidrs, a),
					       policy, rule))
					return -ENOMEM;
			}
			break;
		}
	}
	return 0;
}

static int compile_rule(struct compiler *c, unsigned int k, int dir, unsigned int r,
			struct crule *cr)
{
	const struct pc_policy *pol = &c->w->policies[k];
	const struct policy_spec *s = pol->spec;
	const struct policy_rule *rule = dir == DIR_INGRESS ? &s->ingress[r] : &s->egress[r];
	struct uvec ids = {}, matched = {};
	bool named = false;
	unsigned int j, q, i;
	size_t x;
	int ret = -ENOMEM;

	for (q = 0; q < rule->nports; q++)
		named |= !!rule->ports[q].name;

	if (!rule->npeers && uvec_push(&ids, PODLANE_ID_ANY))
		goto out;
	for (j = 0; j < rule->npeers; j++) {
		const struct policy_peer *peer = &rule->peers[j];

		if (peer->kind == POLICY_PEER_IP_BLOCK) {
			if (!is_v4_block(peer))
				continue;	/* IPv6: the datapath is IPv4, allows nothing */
			if (block_ids(c, &peer->ip_block, &ids))
				goto out;
			for (q = 0; dir == DIR_EGRESS && q < rule->nports; q++)
				if (rule->ports[q].name &&
				    block_named(c, peer, &rule->ports[q], &cr->fixed, pol->id, r))
					goto out;
			continue;
		}
		matched.n = 0;
		if (peer_idents(c, k, peer, &matched))
			goto out;
		for (i = 0; i < matched.n; i++) {
			const struct ident *id = &c->idents[matched.v[i]];

			if (uvec_push(&ids, id->id))
				goto out;
			for (q = 0; dir == DIR_EGRESS && q < rule->nports; q++)
				if (rule->ports[q].name &&
				    push_named(&cr->fixed, c->w->pods[id->pod].meta,
					       &rule->ports[q], id->id, pol->id, r))
					goto out;
		}
	}
	/* Any destination: a named port resolves on every identity that has it. */
	if (!rule->npeers && dir == DIR_EGRESS) {
		for (q = 0; q < rule->nports; q++)
			for (i = 0; rule->ports[q].name && i < c->nidents; i++)
				if (push_named(&cr->fixed, c->w->pods[c->idents[i].pod].meta,
					       &rule->ports[q], c->idents[i].id, pol->id, r))
					goto out;
	}
	uvec_sort_unique(&ids);

	for (x = 0; x < ids.n; x++) {
		if (!rule->nports &&
		    evec_push(&cr->fixed, ids.v[x], 0, 0, 65535, pol->id, r))
			goto out;
		for (q = 0; q < rule->nports; q++) {
			const struct policy_port *pp = &rule->ports[q];

			if (pp->name)
				continue;
			if (evec_push(&cr->fixed, ids.v[x], pp->proto, pp->port,
				      pp->port ? pp->end_port : 65535, pol->id, r))
				goto out;
		}
	}
	if (dir == DIR_INGRESS && named && ids.n) {
		cr->peers = ids;
		ids = (struct uvec){};
	}
	ret = 0;
out:
	free(ids.v);
	free(matched.v);
	return ret;
}

static void cpolicy_free(struct cpolicy *cp, const struct policy_spec *s)
{
	unsigned int counts[2] = { s->ningress, s->negress }, d, r;

	for (d = 0; d < 2; d++) {
		for (r = 0; cp->rules[d] && r < counts[d]; r++) {
			free(cp->rules[d][r].fixed.v);
			free(cp->rules[d][r].peers.v);
		}
		free(cp->rules[d]);
		cp->rules[d] = NULL;
	}
	cp->done = false;
}

static int compile_policy(struct compiler *c, unsigned int k)
{
	const struct policy_spec *s = c->w->policies[k].spec;
	struct cpolicy *cp = &c->cpol[k];
	unsigned int counts[2] = { s->ningress, s->negress }, r;
	__u8 types[2] = { POLICY_TYPE_INGRESS, POLICY_TYPE_EGRESS };
	int d;

	if (cp->done)
		return 0;
	for (d = 0; d < 2; d++) {
		if (!(s->types & types[d]) || !counts[d])
			continue;
		cp->rules[d] = calloc(counts[d], sizeof(*cp->rules[d]));
		if (!cp->rules[d])
			goto fail;
		for (r = 0; r < counts[d]; r++)
			if (compile_rule(c, k, d, r, &cp->rules[d][r]))
				goto fail;
	}
	cp->done = true;
	return 0;
fail:
	cpolicy_free(cp, s);
	return -ENOMEM;
}

/* ---- rule sets ---- */

static int entry_merge_cmp(const void *a, const void *b)
{
	const struct pc_entry *x = a, *y = b;

	if (x->peer != y->peer)
		return x->peer < y->peer ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->policy != y->policy)
		return x->policy < y->policy ? -1 : 1;
	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	if (x->port_lo != y->port_lo)
		return x->port_lo < y->port_lo ? -1 : 1;
	return x->port_hi < y->port_hi ? -1 : x->port_hi > y->port_hi;
}

int policy_entry_cmp(const struct pc_entry *x, const struct pc_entry *y)
{
	if (x->peer != y->peer)
		return x->peer < y->peer ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->port_lo != y->port_lo)
		return x->port_lo < y->port_lo ? -1 : 1;
	if (x->port_hi != y->port_hi)
		return x->port_hi < y->port_hi ? -1 : 1;
	if (x->policy != y->policy)
		return x->policy < y->policy ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static int entry_qsort_cmp(const void *a, const void *b)
{
	return policy_entry_cmp(a, b);
}

static bool same_key(const struct pc_entry *a, const struct pc_entry *b)
{
	return a->peer == b->peer && a->proto == b->proto && a->port_lo == b->port_lo &&
	       a->port_hi == b->port_hi;
}

/* Ranges of one peer, protocol and rule that touch become one; then sorted, unique keys. */
static void normalize(struct evec *e)
{
	size_t i, n = 0;

	if (!e->n)
		return;
	if (e->n)
		qsort(e->v, e->n, sizeof(*e->v), entry_merge_cmp);
	for (i = 0; i < e->n; i++) {
		struct pc_entry *last = n ? &e->v[n - 1] : NULL;
		const struct pc_entry *x = &e->v[i];

		if (last && last->peer == x->peer && last->proto == x->proto &&
		    last->policy == x->policy && last->rule == x->rule &&
		    (__u32)x->port_lo <= (__u32)last->port_hi + 1) {
			if (x->port_hi > last->port_hi)
				last->port_hi = x->port_hi;
			continue;
		}
		e->v[n++] = *x;
	}
	e->n = n;
	if (e->n)
		qsort(e->v, e->n, sizeof(*e->v), entry_qsort_cmp);
	for (i = 0, n = 0; i < e->n; i++)
		if (!n || !same_key(&e->v[n - 1], &e->v[i]))
			e->v[n++] = e->v[i];
	e->n = n;
}

struct lpm_key {
	__u32	peer;
	__u16	port;
	__u8	proto;
	__u8	bits;
};

static int lpm_key_cmp(const void *a, const void *b)
{
	const struct lpm_key *x = a, *y = b;

	if (x->peer != y->peer)
		return x->peer < y->peer ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->bits < y->bits ? -1 : x->bits > y->bits;
}

/*
 * The podlane_policy entries a rule set needs: one per {peer, protocol, port prefix}, the
 * prefixes of different entries counted once. -ENOMEM, else the count.
 */
static long long map_entries(const struct evec *e, size_t max_entries)
{
	struct pc_port_prefix pfx[PC_PORT_PREFIX_MAX];
	struct lpm_key *keys;
	size_t i, sum = 0, n = 0, u;
	unsigned int j, np;

	for (i = 0; i < e->n; i++)
		sum += e->v[i].proto ? policy_port_prefixes(e->v[i].port_lo, e->v[i].port_hi, pfx)
				     : 1;
	if (sum <= max_entries)
		return sum;
	/* Over by the simple sum: count the distinct keys exactly. */
	keys = malloc(sum * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < e->n; i++) {
		const struct pc_entry *x = &e->v[i];

		if (!x->proto) {
			keys[n++] = (struct lpm_key){ .peer = x->peer };
			continue;
		}
		np = policy_port_prefixes(x->port_lo, x->port_hi, pfx);
		for (j = 0; j < np; j++)
			keys[n++] = (struct lpm_key){ .peer = x->peer, .proto = x->proto,
						      .port = pfx[j].port, .bits = pfx[j].bits };
	}
	if (n)
		qsort(keys, n, sizeof(*keys), lpm_key_cmp);
	for (i = 0, u = 0; i < n; i++)
		u += !i || lpm_key_cmp(&keys[i - 1], &keys[i]);
	free(keys);
	return u;
}

static void rule_set_free(struct pc_rule_set *set)
{
	free(set->entries);
	memset(set, 0, sizeof(*set));
}

static int rule_set_copy(struct pc_rule_set *dst, const struct pc_rule_set *src)
{
	*dst = *src;
	dst->entries = NULL;
	if (!src->n)
		return 0;
	dst->entries = malloc(src->n * sizeof(*dst->entries));
	if (!dst->entries)
		return -ENOMEM;
	memcpy(dst->entries, src->entries, src->n * sizeof(*dst->entries));
	return 0;
}

static int compile_endpoint(struct compiler *c, unsigned int podi, size_t max_entries,
			    struct pc_endpoint *ep)
{
	const struct pc_world *w = c->w;
	const struct pc_pod *pod = &w->pods[podi];
	const struct ns_info *ns = &c->ns[c->pod_ns[podi]];
	__u32 flag[2] = { PODLANE_POL_F_INGRESS, PODLANE_POL_F_EGRESS };
	__u8 types[2] = { POLICY_TYPE_INGRESS, POLICY_TYPE_EGRESS };
	static const char *const dir_name[2] = { "ingress", "egress" };
	struct pc_rule_set *sets[2] = { &ep->ingress, &ep->egress };
	struct evec e[2] = {};
	unsigned int i, r, q, x, d;
	int ret = -ENOMEM;

	for (i = 0; i < ns->policies.n; i++) {
		unsigned int k = ns->policies.v[i];
		const struct pc_policy *pol = &w->policies[k];
		const struct policy_spec *s = pol->spec;

		if (!label_selector_matches(&s->pod_selector, &pod->meta->labels))
			continue;
		if (compile_policy(c, k))
			goto out;
		for (d = 0; d < 2; d++) {
			const struct policy_rule *rules = d ? s->egress : s->ingress;
			unsigned int nrules = d ? s->negress : s->ningress;

			if (!(s->types & types[d]))
				continue;
			if (!(ep->flags & flag[d]) || pol->id < sets[d]->policy)
				sets[d]->policy = pol->id;
			ep->flags |= flag[d];
			for (r = 0; r < nrules; r++) {
				const struct crule *cr = &c->cpol[k].rules[d][r];

				if (evec_append(&e[d], cr->fixed.v, cr->fixed.n))
					goto out;
				for (q = 0; q < rules[r].nports; q++) {
					if (!rules[r].ports[q].name)
						continue;
					for (x = 0; x < cr->peers.n; x++)
						if (push_named(&e[d], pod->meta, &rules[r].ports[q],
							       cr->peers.v[x], pol->id, r))
							goto out;
				}
			}
		}
	}
	for (d = 0; d < 2; d++) {
		long long need;

		normalize(&e[d]);
		need = map_entries(&e[d], max_entries);
		if (need < 0)
			goto out;
		if ((size_t)need > max_entries) {
			set_err(c, "pod %s/%s: its %s rule set needs %lld policy map entries, "
				"at most %zu", pod_namespace(pod->meta),
				pod->meta->name ? pod->meta->name : "", dir_name[d], need,
				max_entries);
			ret = -E2BIG;
			goto out;
		}
		sets[d]->n = e[d].n;
		if (e[d].n) {
			sets[d]->entries = e[d].v;
			e[d].v = NULL;
		}
	}
	ret = 0;
out:
	free(e[0].v);
	free(e[1].v);
	return ret;
}

/* ---- the whole ---- */

static void compiler_free(struct compiler *c)
{
	unsigned int i;

	for (i = 0; c->ns && i < c->nns; i++) {
		free(c->ns[i].idents.v);
		free(c->ns[i].policies.v);
	}
	free(c->ns);
	for (i = 0; i < c->nimplied; i++)
		policy_namespace_free(&c->implied[i]);
	free(c->implied);
	free(c->pod_ns);
	free(c->pol_ns);
	free(c->idents);
	free(c->pod_ident);
	free(c->by_ident);
	for (i = 0; c->cpol && i < c->w->npolicies; i++)
		cpolicy_free(&c->cpol[i], c->w->policies[i].spec);
	free(c->cpol);
	free(c->cidrs);
}

void policy_result_free(struct pc_result *result)
{
	unsigned int i;

	for (i = 0; result->endpoints && i < result->nendpoints; i++) {
		rule_set_free(&result->endpoints[i].ingress);
		rule_set_free(&result->endpoints[i].egress);
	}
	free(result->endpoints);
	free(result->cidrs);
	memset(result, 0, sizeof(*result));
}

int policy_compile(const struct pc_world *world, size_t max_entries, struct pc_result *result,
		   char *err, size_t errlen)
{
	struct compiler c = { .w = world, .err = err, .errlen = errlen };
	unsigned int i, nlocal = 0;
	int ret = -ENOMEM;

	memset(result, 0, sizeof(*result));
	if (err && errlen)
		err[0] = '\0';
	for (i = 0; i < world->npods; i++)
		nlocal += world->pods[i].local;

	if (build_namespaces(&c) || build_idents(&c) || build_cidrs(&c))
		goto fail;
	c.cpol = calloc(world->npolicies ? world->npolicies : 1, sizeof(*c.cpol));
	result->endpoints = calloc(nlocal ? nlocal : 1, sizeof(*result->endpoints));
	if (!c.cpol || !result->endpoints)
		goto fail;

	for (i = 0; i < world->npods; i++) {
		const struct pc_pod *pod = &world->pods[i];
		struct ident *id = &c.idents[c.pod_ident[i]];
		struct pc_endpoint *ep;

		if (!pod->local)
			continue;
		ep = &result->endpoints[result->nendpoints++];
		ep->ifindex = pod->ifindex;
		ep->id = pod->id;
		if (id->ep >= 0) {
			const struct pc_endpoint *same = &result->endpoints[id->ep];

			ep->flags = same->flags;
			if (rule_set_copy(&ep->ingress, &same->ingress) ||
			    rule_set_copy(&ep->egress, &same->egress))
				goto fail;
		} else {
			ret = compile_endpoint(&c, i, max_entries, ep);
			if (ret)
				goto fail;
			ret = -ENOMEM;
			id->ep = result->nendpoints - 1;
		}
		result->nentries += ep->ingress.n + ep->egress.n;
	}

	result->cidrs = c.cidrs;
	result->ncidrs = c.ncidrs;
	c.cidrs = NULL;
	compiler_free(&c);
	return 0;
fail:
	if (ret == -ENOMEM)
		set_err(&c, "out of memory compiling network policies");
	compiler_free(&c);
	policy_result_free(result);
	return ret;
}

/* ---- rule set identity ---- */

bool policy_rule_set_equal(const struct pc_rule_set *a, const struct pc_rule_set *b)
{
	unsigned int i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (policy_entry_cmp(&a->entries[i], &b->entries[i]))
			return false;
	return true;
}

static __u64 fnv(__u64 h, __u64 v, unsigned int bytes)
{
	unsigned int i;

	for (i = 0; i < bytes; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	return h;
}

__u64 policy_rule_set_hash(const struct pc_rule_set *set)
{
	__u64 h = 0xcbf29ce484222325ULL;
	unsigned int i;

	h = fnv(h, set->n, 4);
	for (i = 0; i < set->n; i++) {
		const struct pc_entry *x = &set->entries[i];

		h = fnv(h, x->peer, 4);
		h = fnv(h, x->proto, 1);
		h = fnv(h, x->port_lo, 2);
		h = fnv(h, x->port_hi, 2);
		h = fnv(h, x->policy, 4);
		h = fnv(h, x->rule, 2);
	}
	return h;
}

/* ---- port prefixes ---- */

unsigned int policy_port_prefixes(__u16 lo, __u16 hi, struct pc_port_prefix *out)
{
	__u32 at = lo, end = hi;
	unsigned int n = 0;

	while (at <= end) {
		unsigned int bits = 16;

		/* The largest aligned block starting at `at` that ends within the range. */
		while (bits > 0) {
			__u32 size = 1U << (16 - (bits - 1));

			if (at & (size - 1) || at + size - 1 > end)
				break;
			bits--;
		}
		out[n].port = at;
		out[n].bits = bits;
		n++;
		at += 1U << (16 - bits);
	}
	return n;
}

/* ---- identity keys ---- */

struct sbuf {
	char	*s;
	size_t	n, cap;
	bool	oom;
};

static void sb_putc(struct sbuf *b, char ch)
{
	if (b->oom)
		return;
	if (b->n + 2 > b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 128;
		char *s = realloc(b->s, cap);

		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	b->s[b->n++] = ch;
	b->s[b->n] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	for (; *s; s++)
		sb_putc(b, *s);
}

/* A field, with the key's separators and anything unprintable as \xHH: keys stay injective. */
static void sb_field(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; s && *s; s++) {
		unsigned char ch = *s;

		if (ch <= ' ' || ch >= 0x7f || ch == '\\' || ch == '=' || ch == '/') {
			sb_putc(b, '\\');
			sb_putc(b, 'x');
			sb_putc(b, hex[ch >> 4]);
			sb_putc(b, hex[ch & 15]);
			continue;
		}
		sb_putc(b, ch);
	}
}

static int pod_port_cmp(const void *a, const void *b)
{
	const struct policy_pod_port *x = *(const struct policy_pod_port *const *)a;
	const struct policy_pod_port *y = *(const struct policy_pod_port *const *)b;
	int d = strcmp(x->name, y->name);

	if (d)
		return d;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

char *policy_identity_key(const struct policy_pod *pod)
{
	const struct policy_pod_port **ports = NULL;
	struct sbuf b = {};
	unsigned int i, n = 0;
	char num[32];

	if (pod->nports) {
		ports = malloc(pod->nports * sizeof(*ports));
		if (!ports)
			return NULL;
		for (i = 0; i < pod->nports; i++)
			if (pod->ports[i].name && pod->ports[i].name[0])
				ports[n++] = &pod->ports[i];
		if (n)
			qsort(ports, n, sizeof(*ports), pod_port_cmp);
	}
	sb_field(&b, pod_namespace(pod));
	sb_putc(&b, '\n');
	/* label_set keeps its labels sorted by key, each key once. */
	for (i = 0; i < pod->labels.n; i++) {
		sb_puts(&b, "l ");
		sb_field(&b, pod->labels.labels[i].key);
		sb_putc(&b, '=');
		sb_field(&b, pod->labels.labels[i].value);
		sb_putc(&b, '\n');
	}
	/* Named ports, sorted, each once: only they resolve policy ports. */
	for (i = 0; i < n; i++) {
		if (i && !pod_port_cmp(&ports[i - 1], &ports[i]))
			continue;
		sb_puts(&b, "p ");
		sb_field(&b, ports[i]->name);
		snprintf(num, sizeof(num), "/%u/%u\n", ports[i]->proto, ports[i]->port);
		sb_puts(&b, num);
	}
	free(ports);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}
