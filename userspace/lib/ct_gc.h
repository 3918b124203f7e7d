/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ct_gc.h - userspace side of the per-packet service path's connection tracking (podlane_ct,
 * bpf/lib/conntrack.h): sizing the map from memory, and the garbage collector podlaned runs
 * periodically. The LRU map would eventually push stale entries out on its own, but only
 * under pressure and without regard to age; the collector keeps room for live flows and is
 * also where occupancy becomes visible.
 */
#ifndef PODLANE_CT_GC_H
#define PODLANE_CT_GC_H

#include <linux/types.h>

#include "podlane.h"

/* What one collector pass saw. "live" entries are the map's occupancy after the pass. */
struct ct_gc_stats {
	__u64	scanned;	/* entries looked at */
	__u64	deleted;	/* expired and deleted */
	__u64	live;		/* kept: not expired */
	__u64	live_tcp;
	__u64	live_udp;
	__u64	live_closing;	/* kept, in PODLANE_CT_F_CLOSING */
	__u64	vanished;	/* gone between listing and reading (LRU eviction, other GC) */
	__u32	max_entries;	/* the map's capacity, for an occupancy ratio */
};

/*
 * Called for every live ORIGINAL entry during a pass (per-flow view: service, backend,
 * counters), e.g. to sum flows and packets per backend. May be NULL.
 */
typedef void (*ct_gc_visit_fn)(const struct ct_key *key, const struct ct_entry *entry,
			       void *ctx);

/* CLOCK_MONOTONIC in nanoseconds: the clock of bpf_ktime_get_ns() and ct_entry times. */
__u64 ct_now_ns(void);

/*
 * One pass over podlane_ct (map_fd): delete every entry whose expires_ns is before now_ns
 * (pass ct_now_ns(); tests pass a time in the future), count the rest. Returns 0 or -errno
 * of the first failing bpf() call; stats are filled either way.
 */
int ct_gc(int map_fd, __u64 now_ns, struct ct_gc_stats *stats, ct_gc_visit_fn visit,
	  void *ctx);

/*
 * podlane_ct max_entries for a node with mem_bytes of physical memory: 1/400 of it at
 * PODLANE_CT_ENTRY_COST bytes per entry, rounded down to a power of two, clamped to
 * [PODLANE_MIN_CT, PODLANE_MAX_CT_LIMIT]. Two entries per tracked flow.
 */
__u32 ct_size_from_memory(__u64 mem_bytes);

#endif /* PODLANE_CT_GC_H */
