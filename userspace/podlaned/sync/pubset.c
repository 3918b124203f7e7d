// SPDX-License-Identifier: GPL-2.0-only
/*
 * sync/pubset.c - a sorted set of this node's records (key -> value, lease): what the main
 * thread's snapshot wants in etcd, and the mirror of what etcd holds. A few hundred entries
 * at most (the node, its endpoints, its hint), so a sorted array does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sync/sync_int.h"

void pubset_free(struct pubset *ps)
{
	size_t i;

	if (!ps)
		return;
	for (i = 0; i < ps->n; i++) {
		free(ps->v[i].key);
		free(ps->v[i].val);
	}
	free(ps->v);
	ps->v = NULL;
	ps->n = ps->cap = 0;
}

void pubset_destroy(struct pubset *ps)
{
	pubset_free(ps);
	free(ps);
}

size_t pubset_find(const struct pubset *ps, const char *key, bool *found)
{
	size_t lo = 0, hi = ps->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ps->v[mid].key, key);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int pubset_set_owned(struct pubset *ps, const char *key, char *val, int64_t lease)
{
	bool found;
	size_t i;
	char *k;

	if (!val)
		return -ENOMEM;
	i = pubset_find(ps, key, &found);
	if (found) {
		free(ps->v[i].val);
		ps->v[i].val = val;
		ps->v[i].lease = lease;
		return 0;
	}
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct pub *p = realloc(ps->v, cap * sizeof(*p));

		if (!p) {
			free(val);
			return -ENOMEM;
		}
		ps->v = p;
		ps->cap = cap;
	}
	k = strdup(key);
	if (!k) {
		free(val);
		return -ENOMEM;
	}
	memmove(&ps->v[i + 1], &ps->v[i], (ps->n - i) * sizeof(*ps->v));
	ps->v[i] = (struct pub){ .key = k, .val = val, .lease = lease };
	ps->n++;
	return 0;
}

int pubset_set(struct pubset *ps, const char *key, const char *val, int64_t lease)
{
	return pubset_set_owned(ps, key, strdup(val), lease);
}

void pubset_del(struct pubset *ps, const char *key)
{
	bool found;
	size_t i = pubset_find(ps, key, &found);

	if (!found)
		return;
	free(ps->v[i].key);
	free(ps->v[i].val);
	memmove(&ps->v[i], &ps->v[i + 1], (ps->n - i - 1) * sizeof(*ps->v));
	ps->n--;
}

struct pubset *pubset_dup(const struct pubset *ps)
{
	struct pubset *d = calloc(1, sizeof(*d));
	size_t i;

	for (i = 0; d && i < ps->n; i++) {
		if (pubset_set(d, ps->v[i].key, ps->v[i].val, ps->v[i].lease)) {
			pubset_destroy(d);
			d = NULL;
		}
	}
	return d;
}

bool pubset_equal(const struct pubset *a, const struct pubset *b)
{
	size_t i;

	if (!a || !b || a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].key, b->v[i].key) || strcmp(a->v[i].val, b->v[i].val))
			return false;
	return true;
}
