// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy/sets.c - rule sets as podlane_policy holds them. A compiled rule set (struct
 * pc_rule_set: {peer, protocol, port range, policy, rule} entries) becomes LPM entries keyed
 * {set id, peer, proto, port prefix} (bpf/podlane.h); endpoints whose sets have the same
 * entries share one set id and its entries, so the map grows with distinct rule sets, not with
 * pods. A set is identified by its entries, sorted: two sets are the same set when their
 * sorted entries (keys and values) are equal, which is also how the sets a previous agent
 * wrote are adopted at start-up without a write.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "log.h"
#include "policy/policy_int.h"

static int ent_key_cmp(const struct set_ent *a, const struct set_ent *b)
{
	if (a->peer != b->peer)
		return a->peer < b->peer ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->prefixlen != b->prefixlen)
		return a->prefixlen < b->prefixlen ? -1 : 1;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return 0;
}

/* By key, then the lowest policy and rule first: that one stays when keys repeat. */
static int ent_cmp(const void *x, const void *y)
{
	const struct set_ent *a = x, *b = y;
	int c = ent_key_cmp(a, b);

	if (c)
		return c;
	if (a->val.policy != b->val.policy)
		return a->val.policy < b->val.policy ? -1 : 1;
	if (a->val.rule != b->val.rule)
		return a->val.rule < b->val.rule ? -1 : 1;
	return 0;
}

/* Sort and keep one entry per key; returns the new count. */
static unsigned int ents_normalize(struct set_ent *e, unsigned int n)
{
	unsigned int i, o = 0;

	if (n)
		qsort(e, n, sizeof(*e), ent_cmp);
	for (i = 0; i < n; i++)
		if (!o || ent_key_cmp(&e[o - 1], &e[i]))
			e[o++] = e[i];
	return o;
}

int set_expand(const struct pc_rule_set *rs, const __u32 *cidr_ids, unsigned int ncidr,
	       struct set_ent **out, unsigned int *n)
{
	struct pc_port_prefix pp[PC_PORT_PREFIX_MAX];
	struct set_ent *e, *grown;
	unsigned int i, j, k, cap, cnt = 0;
	__u32 peer;

	*out = NULL;
	*n = 0;
	cap = rs->n ? rs->n : 1;
	e = calloc(cap, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (i = 0; i < rs->n; i++) {
		const struct pc_entry *pe = &rs->entries[i];

		peer = pe->peer;
		/* The compiler numbers prefixes by position; the datapath sees stable ids. */
		if (peer >= PODLANE_ID_CIDR_BASE && peer != PODLANE_ID_ANY) {
			if (peer - PODLANE_ID_CIDR_BASE >= ncidr)
				continue;	/* not an IPv4 prefix: allows nothing */
			peer = cidr_ids[peer - PODLANE_ID_CIDR_BASE];
		}
		if (!pe->proto || (!pe->port_lo && pe->port_hi == 65535)) {
			pp[0] = (struct pc_port_prefix){ .port = 0, .bits = 0 };
			k = 1;
		} else {
			k = policy_port_prefixes(pe->port_lo, pe->port_hi, pp);
		}
		if (cnt + k > cap) {
			cap = (cap + k) * 2;
			grown = realloc(e, cap * sizeof(*e));
			if (!grown) {
				free(e);
				return -ENOMEM;
			}
			e = grown;
		}
		for (j = 0; j < k; j++) {
			struct set_ent *x = &e[cnt++];
			__u16 mask = pp[j].bits ? (__u16)(0xffff << (16 - pp[j].bits)) : 0;

			memset(x, 0, sizeof(*x));
			x->peer = peer;
			x->proto = pe->proto;
			x->prefixlen = pe->proto ? 72 + pp[j].bits : 64;
			x->port = pe->proto ? pp[j].port & mask : 0;
			x->val.policy = pe->policy;
			x->val.rule = pe->rule;
		}
	}
	*n = ents_normalize(e, cnt);
	*out = e;
	return 0;
}

static __u64 ents_hash(const struct set_ent *e, unsigned int n)
{
	const unsigned char *p = (const unsigned char *)e;
	size_t len = (size_t)n * sizeof(*e);
	__u64 h = 0xcbf29ce484222325ULL;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static bool set_id_used(struct pol_state *s, __u32 id)
{
	struct pol_set *set;
	unsigned int b;

	for (b = 0; b < POL_SET_BUCKETS; b++)
		for (set = s->sets[b]; set; set = set->next)
			if (set->id == id)
				return true;
	return false;
}

/*
 * Set ids only grow (0 is "not isolated"), so no packet meets a reused id's old entries; only
 * after 2^32 of them are ids in use skipped.
 */
static __u32 set_id_alloc(struct pol_state *s)
{
	__u32 id;

	do {
		id = s->next_set_id++;
		if (!s->next_set_id) {
			s->next_set_id = 1;
			s->set_ids_wrapped = true;
		}
	} while (!id || (s->set_ids_wrapped && set_id_used(s, id)));
	return id;
}

struct pol_set *set_intern(struct pol_state *s, struct set_ent *ents, unsigned int n)
{
	__u64 h = ents_hash(ents, n);
	struct pol_set *set;
	unsigned int b = h % POL_SET_BUCKETS;

	for (set = s->sets[b]; set; set = set->next) {
		if (set->hash == h && set->n == n &&
		    (!n || !memcmp(set->ents, ents, n * sizeof(*ents)))) {
			free(ents);
			return set;
		}
	}
	set = calloc(1, sizeof(*set));
	if (!set) {
		free(ents);
		return NULL;
	}
	set->ents = ents;
	set->n = n;
	set->hash = h;
	set->id = set_id_alloc(s);
	set->next = s->sets[b];
	s->sets[b] = set;
	s->nsets++;
	return set;
}

struct pol_set *set_find_id(struct pol_state *s, __u32 id)
{
	struct pol_set *set;
	unsigned int b;

	for (b = 0; b < POL_SET_BUCKETS; b++)
		for (set = s->sets[b]; set; set = set->next)
			if (set->id == id)
				return set;
	return NULL;
}

struct pol_set *set_adopt_empty(struct pol_state *s, __u32 id)
{
	struct pol_set *set = calloc(1, sizeof(*set));
	unsigned int b;

	if (!set || !id) {
		free(set);
		return NULL;
	}
	set->ents = calloc(1, sizeof(*set->ents));
	if (!set->ents) {
		free(set);
		return NULL;
	}
	set->id = id;
	set->hash = ents_hash(set->ents, 0);
	set->written = true;
	b = set->hash % POL_SET_BUCKETS;
	set->next = s->sets[b];
	s->sets[b] = set;
	s->nsets++;
	if (id >= s->next_set_id)
		s->next_set_id = id + 1 ? id + 1 : 1;
	return set;
}

bool set_keys_subset(const struct pol_set *a, const struct pol_set *b)
{
	unsigned int i = 0, j = 0;
	int c;

	while (i < a->n) {
		if (j == b->n)
			return false;
		c = ent_key_cmp(&a->ents[i], &b->ents[j]);
		if (c < 0)
			return false;
		if (!c)
			i++;
		j++;
	}
	return true;
}

int set_write(struct agent *a, struct pol_set *set)
{
	struct pol_state *s = a->policy;
	unsigned int i;
	int err;

	for (i = 0; i < set->n; i++) {
		err = map_policy_put(a, set->id, &set->ents[i]);
		if (err) {
			log_warn("failed to write a rule set set=%u entries=%u err=\"%s\"", set->id,
				 set->n, strerror(-err));
			while (i--)
				map_policy_del(a, set->id, &set->ents[i]);
			return err;
		}
	}
	set->written = true;
	s->used += set->n;
	return 0;
}

static void set_free(struct pol_set *set)
{
	free(set->ents);
	free(set);
}

void set_sweep(struct agent *a)
{
	struct pol_state *s = a->policy;
	struct pol_set **pp, *set;
	unsigned int b, i;

	for (b = 0; b < POL_SET_BUCKETS; b++) {
		pp = &s->sets[b];
		while ((set = *pp)) {
			if (set->refs) {
				pp = &set->next;
				continue;
			}
			if (set->written) {
				for (i = 0; i < set->n; i++)
					map_policy_del(a, set->id, &set->ents[i]);
				s->used -= set->n;
			}
			*pp = set->next;
			s->nsets--;
			set_free(set);
		}
	}
}

void sets_free(struct pol_state *s)
{
	struct pol_set *set, *next;
	unsigned int b;

	for (b = 0; b < POL_SET_BUCKETS; b++) {
		for (set = s->sets[b]; set; set = next) {
			next = set->next;
			set_free(set);
		}
		s->sets[b] = NULL;
	}
	s->nsets = 0;
}

/* ---- start-up: the sets a previous agent wrote ---- */

struct adopt_ent {
	__u32 set;
	struct set_ent e;
};

struct adopt {
	struct adopt_ent *v;
	size_t n, cap;
	bool oom;
};

static int adopt_cb(__u32 set, const struct set_ent *e, void *data)
{
	struct adopt *ad = data;
	struct adopt_ent *grown;

	if (ad->n == ad->cap) {
		ad->cap = ad->cap ? ad->cap * 2 : 1024;
		grown = realloc(ad->v, ad->cap * sizeof(*grown));
		if (!grown) {
			ad->oom = true;
			return -ENOMEM;
		}
		ad->v = grown;
	}
	ad->v[ad->n++] = (struct adopt_ent){ .set = set, .e = *e };
	return 0;
}

static int adopt_cmp(const void *x, const void *y)
{
	const struct adopt_ent *a = x, *b = y;

	if (a->set != b->set)
		return a->set < b->set ? -1 : 1;
	return ent_cmp(&a->e, &b->e);
}

/*
 * Every set id podlane_policy holds becomes a written set that no endpoint points at yet: a
 * plan that wants the same entries takes it as it is, the first sweep removes the others.
 * New ids start past the highest one found.
 */
int set_adopt_map(struct agent *a)
{
	struct pol_state *s = a->policy;
	struct adopt ad = {};
	struct pol_set *set;
	struct set_ent *ents;
	size_t i, j, k;
	unsigned int b;
	int err;

	err = map_policy_walk(a, adopt_cb, &ad);
	if (err || ad.oom) {
		free(ad.v);
		return err ? err : -ENOMEM;
	}
	if (ad.n)
		qsort(ad.v, ad.n, sizeof(*ad.v), adopt_cmp);
	for (i = 0; i < ad.n; i = j) {
		for (j = i; j < ad.n && ad.v[j].set == ad.v[i].set; j++)
			;
		ents = calloc(j - i, sizeof(*ents));
		set = calloc(1, sizeof(*set));
		if (!ents || !set) {
			free(ents);
			free(set);
			free(ad.v);
			return -ENOMEM;
		}
		for (k = i; k < j; k++)
			ents[k - i] = ad.v[k].e;
		set->ents = ents;
		set->n = j - i;
		set->hash = ents_hash(ents, set->n);
		set->id = ad.v[i].set;
		set->written = true;
		b = set->hash % POL_SET_BUCKETS;
		set->next = s->sets[b];
		s->sets[b] = set;
		s->nsets++;
		s->used += set->n;
		if (set->id >= s->next_set_id)
			s->next_set_id = set->id + 1 ? set->id + 1 : 1;
	}
	if (ad.n)
		log_info("policy rule sets found in the map sets=%u entries=%u", s->nsets, s->used);
	free(ad.v);
	return 0;
}

static int id_cmp(const void *x, const void *y)
{
	__u32 a = *(const __u32 *)x, b = *(const __u32 *)y;

	return a < b ? -1 : a > b;
}

void set_count_by_policy(struct pol_state *s, const __u32 *ids, unsigned long *counts,
			 unsigned int n)
{
	struct pol_set *set;
	const __u32 *hit;
	unsigned int b, i;

	if (!n)
		return;
	memset(counts, 0, n * sizeof(*counts));
	for (b = 0; b < POL_SET_BUCKETS; b++)
		for (set = s->sets[b]; set; set = set->next) {
			if (!set->written)
				continue;
			for (i = 0; i < set->n; i++) {
				hit = bsearch(&set->ents[i].val.policy, ids, n, sizeof(*ids),
					      id_cmp);
				if (hit)
					counts[hit - ids]++;
			}
		}
}
