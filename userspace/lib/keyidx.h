/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * keyidx.h - a compact index from byte-string keys to 32-bit values (an IPv4 address, say),
 * for hundreds of thousands of keys in a few MB: each slot holds only a 64-bit hash of the key
 * and the value (12 bytes), in an open-addressing table with linear probing, at most 3/4
 * full, doubled when it gets there; a delete shifts the following slots back (no tombstones).
 *
 * The keys themselves are not kept: two keys with the same 64-bit hash would share a slot
 * (about one chance in 10^9 at 150,000 keys). Not thread-safe: one owner.
 */
#ifndef PODLANE_KEYIDX_H
#define PODLANE_KEYIDX_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct keyidx_slot {
	__u64	hash;		/* 0 = empty: keyidx_hash() never returns 0 */
	__u32	val;
} __attribute__((packed, aligned(4)));

struct keyidx {
	struct keyidx_slot *v;
	__u32		cap;		/* a power of two; 0 = nothing allocated yet */
	__u32		n;
};

#define KEYIDX_INIT	{ NULL, 0, 0 }

__u64 keyidx_hash(const void *key, size_t len);
/* Set h to val: 1 when h was there (*old, if given, gets its previous value), 0 when new,
 * -ENOMEM when the table had to grow and could not (nothing changed then). */
int keyidx_set(struct keyidx *t, __u64 h, __u32 val, __u32 *old);
bool keyidx_get(const struct keyidx *t, __u64 h, __u32 *val);
/* Remove h; true when it was there (*val, if given, gets its value). */
bool keyidx_del(struct keyidx *t, __u64 h, __u32 *val);
/* Remove everything, keeping the memory: the next fill is about as large. */
void keyidx_clear(struct keyidx *t);
void keyidx_free(struct keyidx *t);
size_t keyidx_bytes(const struct keyidx *t);

#endif /* PODLANE_KEYIDX_H */
