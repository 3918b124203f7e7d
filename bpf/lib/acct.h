/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lib/acct.h - the per-cgroup accounting maps and the one way to find (or create) a cgroup's
 * counters. Only the accounting objects include this, so the datapath objects do not carry
 * these maps; both accounting objects pin them by name and so share one set of counters.
 *
 * Include after vmlinux.h, the libbpf headers and podlane.h.
 */
#ifndef PODLANE_LIB_ACCT_H
#define PODLANE_LIB_ACCT_H

/*
 * cgroup v2 id -> per-CPU struct cgroup_acct; the accounting programs create and count,
 * podlaned sums, reads and deletes. Preallocated (the default): the scheduler programs insert
 * with the runqueue lock held, where allocating memory is not an option.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, PODLANE_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct cgroup_acct);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_cgacct SEC(".maps");

/* Key 0 -> per-CPU struct cgroup_acct_errors; the accounting programs count, podlaned reads. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgroup_acct_errors);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_cgerrs SEC(".maps");

enum acct_error {
	ACCT_ERR_FULL_SCHED,
	ACCT_ERR_FULL_SKB,
	ACCT_ERR_TASK_STATE,
};

static __always_inline void acct_error(enum acct_error which)
{
	struct cgroup_acct_errors *e;
	__u32 zero = 0;

	e = bpf_map_lookup_elem(&podlane_cgerrs, &zero);
	if (!e)
		return;
	/* Atomic: a packet program may be preempted or interrupted on this CPU mid-update. */
	switch (which) {
	case ACCT_ERR_FULL_SCHED:
		__sync_fetch_and_add(&e->full_sched, 1);
		break;
	case ACCT_ERR_FULL_SKB:
		__sync_fetch_and_add(&e->full_skb, 1);
		break;
	case ACCT_ERR_TASK_STATE:
		__sync_fetch_and_add(&e->task_state, 1);
		break;
	}
}

/*
 * This CPU's counters of a cgroup, created zeroed on first use. NULL only when the map is full
 * (the caller counts that). Two CPUs may race to create the entry: the loser's insert fails
 * with -EEXIST and its second lookup finds the winner's entry.
 */
static __always_inline struct cgroup_acct *cgroup_acct_get(__u64 cgid)
{
	struct cgroup_acct *a, zero = {};

	a = bpf_map_lookup_elem(&podlane_cgacct, &cgid);
	if (a)
		return a;
	bpf_map_update_elem(&podlane_cgacct, &cgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&podlane_cgacct, &cgid);
}

#endif /* PODLANE_LIB_ACCT_H */
