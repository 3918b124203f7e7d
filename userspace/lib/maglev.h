/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * maglev.h - the selection tables podlaned writes for the service LB (bpf/lib/lb.h), shared
 * with the tests: Maglev lookup tables (consistent hashing for NodePort: the same flow picks
 * the same backend on every node, and removing one of N backends moves about 1/N of the table)
 * and alias-method columns (O(1) weighted random choice for ClusterIP).
 */
#ifndef PODLANE_MAGLEV_H
#define PODLANE_MAGLEV_H

#include <stdbool.h>
#include <linux/types.h>

struct maglev_backend {
	__u64	key;		/* stable identity: lb_backend.id or addr << 16 | port */
	__u32	weight;		/* relative share of the table; 0 = none */
};

/* Whether m can size a Maglev table (a prime > 2, so every skip walks all of it). */
bool maglev_size_ok(unsigned int m);

/*
 * Fill table[0..m) with indexes into backends[0..n), each backend getting a share of entries
 * proportional to its weight, following its own permutation of the table (offset and skip
 * from two hashes of key) so that the table changes little when a backend comes or goes.
 * Returns 0, -EINVAL (m not a usable size, n == 0 or all weights 0) or -ENOMEM.
 */
int maglev_build(const struct maglev_backend *backends, unsigned int n, __u32 *table,
		 unsigned int m);

/*
 * Alias-method columns for a weighted random choice among weights[0..n): draw slot s
 * uniformly, keep it when a uniform 32-bit number is below keep[s] (PODLANE_ALIAS_KEEP_ALL:
 * always), else take alias[s]. Slot i then comes out with probability weights[i] / sum.
 * Returns 0, -EINVAL (n == 0 or all weights 0) or -ENOMEM.
 */
int lb_alias_build(const __u32 *weights, unsigned int n, __u32 *keep, __u32 *alias);

#endif /* PODLANE_MAGLEV_H */
