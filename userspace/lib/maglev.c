// SPDX-License-Identifier: GPL-2.0-only
/*
 * maglev.c - building the service LB's selection tables: Maglev consistent-hashing tables
 * (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016,
 * section 3.4, with weights) and Vose's alias method for weighted random choice.
 */
#include <errno.h>
#include <stdlib.h>

#include "podlane.h"
#include "maglev.h"

bool maglev_size_ok(unsigned int m)
{
	unsigned int d;

	if (m < 3 || !(m & 1))
		return false;
	for (d = 3; d <= m / d; d += 2)
		if (m % d == 0)
			return false;
	return true;
}

/* splitmix64's finaliser: every input bit reaches every output bit. */
static __u64 mix64(__u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* Two independent hashes of the key: where a backend's permutation starts and its stride. */
#define MAGLEV_SEED_OFFSET	0x9e3779b97f4a7c15ULL
#define MAGLEV_SEED_SKIP	0xc2b2ae3d27d4eb4fULL

int maglev_build(const struct maglev_backend *backends, unsigned int n, __u32 *table,
		 unsigned int m)
{
	__u64 *offset = NULL, *skip = NULL, *next = NULL, *credit = NULL;
	__u32 wmax = 0, filled = 0, i;
	int err = -ENOMEM;

	if (!maglev_size_ok(m) || !n)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (backends[i].weight > wmax)
			wmax = backends[i].weight;
	if (!wmax)
		return -EINVAL;

	offset = calloc(n, sizeof(*offset));
	skip = calloc(n, sizeof(*skip));
	next = calloc(n, sizeof(*next));
	credit = calloc(n, sizeof(*credit));
	if (!offset || !skip || !next || !credit)
		goto out;
	for (i = 0; i < n; i++) {
		offset[i] = mix64(backends[i].key ^ MAGLEV_SEED_OFFSET) % m;
		skip[i] = mix64(backends[i].key ^ MAGLEV_SEED_SKIP) % (m - 1) + 1;
	}
	for (i = 0; i < m; i++)
		table[i] = (__u32)-1;

	/*
	 * Rounds over the backends; each turn claims the next free entry of the backend's
	 * permutation. A backend earns weight/wmax turns per round (credit carries the
	 * fraction over), so shares follow the weights and the heaviest turns every round.
	 */
	while (filled < m) {
		for (i = 0; i < n && filled < m; i++) {
			credit[i] += backends[i].weight;
			while (credit[i] >= wmax && filled < m) {
				__u64 c;

				credit[i] -= wmax;
				/* m entries and a full permutation: a free one is always found. */
				do {
					c = (offset[i] + next[i] * skip[i]) % m;
					next[i]++;
				} while (table[c] != (__u32)-1);
				table[c] = i;
				filled++;
			}
		}
	}
	err = 0;
out:
	free(offset);
	free(skip);
	free(next);
	free(credit);
	return err;
}

int lb_alias_build(const __u32 *weights, unsigned int n, __u32 *keep, __u32 *alias)
{
	unsigned int *small = NULL, *large = NULL, ns = 0, nl = 0, i;
	__u64 *prob = NULL, total = 0;
	int err = -ENOMEM;

	if (!n)
		return -EINVAL;
	for (i = 0; i < n; i++)
		total += weights[i];
	if (!total)
		return -EINVAL;

	small = calloc(n, sizeof(*small));
	large = calloc(n, sizeof(*large));
	prob = calloc(n, sizeof(*prob));
	if (!small || !large || !prob)
		goto out;

	/* Probabilities scaled by total / n: slot i is "full" at total. */
	for (i = 0; i < n; i++) {
		prob[i] = (__u64)weights[i] * n;
		if (prob[i] < total)
			small[ns++] = i;
		else
			large[nl++] = i;
	}
	while (ns && nl) {
		unsigned int s = small[--ns], l = large[nl - 1];

		keep[s] = (__u32)(((unsigned __int128)prob[s] << 32) / total);
		alias[s] = l;
		prob[l] -= total - prob[s];
		if (prob[l] < total) {
			nl--;
			small[ns++] = l;
		}
	}
	/* What is left is full up to rounding: always kept. */
	while (nl) {
		i = large[--nl];
		keep[i] = PODLANE_ALIAS_KEEP_ALL;
		alias[i] = i;
	}
	while (ns) {
		i = small[--ns];
		keep[i] = PODLANE_ALIAS_KEEP_ALL;
		alias[i] = i;
	}
	err = 0;
out:
	free(small);
	free(large);
	free(prob);
	return err;
}
