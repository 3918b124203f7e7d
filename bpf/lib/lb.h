/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lib/lb.h - service load balancing shared by every hook that translates a service address:
 * the socket LB (sock_lb.bpf.c) today, the per-packet tc/XDP service path later. It holds the
 * service maps, the service lookup and the backend choice (weighted random, Maglev, ClientIP
 * affinity); callers only decide which hash and which client key to use and what to rewrite.
 * Layouts and the slot packing the agent keeps are described in podlane.h.
 *
 * Include after vmlinux.h, the libbpf headers and podlane.h.
 */
#ifndef PODLANE_LIB_LB_H
#define PODLANE_LIB_LB_H

#define NSEC_PER_SEC		1000000000ULL

/*
 * A drawn slot that is not usable was flipped in place (the agent marks a backend terminating
 * before it repacks the slots): draw again a few times, then walk the next slots so that a
 * usable backend is found for sure. The walk ignores weights; it only lasts until the repack.
 */
#define LB_PICK_TRIES		2
#define LB_PROBE_SLOTS		16

/* frontend -> service; podlaned writes, LB programs read. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PODLANE_MAX_SERVICES);
	__type(key, struct lb_service_key);
	__type(value, struct lb_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_svc SEC(".maps");

/* {svc id, slot} -> backend with its alias-method columns; podlaned writes, LB reads. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PODLANE_MAX_BACKENDS);
	__type(key, struct lb_backend_key);
	__type(value, struct lb_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_backend SEC(".maps");

/*
 * Template of a service's Maglev table: PODLANE_MAGLEV_M backend slots. Mmapable so that
 * podlaned fills a new table with plain stores instead of a syscall that copies element by
 * element (measured 0.05 ms a table instead of 3.3 ms). Every inner map must carry the
 * template's flags; podlaned follows an older pinned outer map whose template is not
 * mmapable (podlaned lb/maps.c).
 */
struct lb_maglev_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PODLANE_MAGLEV_M);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
};

/* svc id -> its Maglev table (MAGLEV services only); podlaned creates and fills, LB reads. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, PODLANE_MAX_SERVICES);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct lb_maglev_table);	/* must stay last: flexible array */
} podlane_maglev SEC(".maps");

/* {client, svc id} -> remembered backend; LB programs write and read, podlaned may flush. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PODLANE_MAX_AFFINITY);
	__type(key, struct lb_affinity_key);
	__type(value, struct lb_affinity);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_affin SEC(".maps");

/* {socket cookie, backend} -> service address for unconnected UDP; sendmsg4 writes, recvmsg4
 * reads (connected sockets keep theirs in socket storage: sock_lb.bpf.c). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PODLANE_MAX_REVNAT);
	__type(key, struct lb_revnat_key);
	__type(value, struct lb_revnat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_revnat SEC(".maps");

/* enum lb_stat -> per-CPU count; LB and prefilter programs write, podlaned/CLI read. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PODLANE_LB_STAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_lbstat SEC(".maps");

static __always_inline void lb_count(enum lb_stat which)
{
	__u32 slot = which;
	__u64 *n;

	n = bpf_map_lookup_elem(&podlane_lbstat, &slot);
	if (n)
		*n += 1;
}

static __always_inline struct lb_service *lb_service_lookup(__be32 addr, __be16 port, __u8 proto)
{
	struct lb_service_key key = {
		.addr = addr,
		.port = port,
		.proto = proto,
	};

	return bpf_map_lookup_elem(&podlane_svc, &key);
}

static __always_inline struct lb_backend *lb_backend_lookup(__u32 svc_id, __u32 slot)
{
	struct lb_backend_key key = {
		.svc_id = svc_id,
		.slot = slot,
	};

	return bpf_map_lookup_elem(&podlane_backend, &key);
}

/* [0, n) from 32 random bits without a division: the high half of a 32x32 product. */
static __always_inline __u32 lb_scale(__u32 rnd, __u32 n)
{
	return (__u32)(((__u64)rnd * n) >> 32);
}

/* How many slots a new connection may use: all active ones, or the local ones only. */
static __always_inline __u32 lb_pool_size(const struct lb_service *svc, bool local_only)
{
	return local_only ? svc->local_count : svc->count;
}

static __always_inline bool lb_backend_usable(const struct lb_backend *be, bool local_only)
{
	if (be->state != PODLANE_BACKEND_ACTIVE)
		return false;
	return !local_only || (be->flags & PODLANE_BACKEND_F_LOCAL);
}

/*
 * Weighted random slot in [0, n) through the backends' alias columns: a uniform slot, then a
 * coin that keeps it or moves to its alias. Two map lookups at most, whatever the weights.
 */
static __always_inline __u32 lb_pick_weighted(__u32 svc_id, __u32 n, bool local_only,
					      struct lb_backend **bep)
{
	struct lb_backend *be;
	__u32 slot, keep, alias;

	slot = lb_scale(bpf_get_prandom_u32(), n);
	be = lb_backend_lookup(svc_id, slot);
	if (!be)
		return slot;
	keep = local_only ? be->local_keep : be->keep;
	alias = local_only ? be->local_alias : be->alias;
	if (keep == PODLANE_ALIAS_KEEP_ALL || bpf_get_prandom_u32() < keep || alias >= n) {
		*bep = be;
		return slot;
	}
	*bep = lb_backend_lookup(svc_id, alias);
	return alias;
}

/*
 * The Maglev choice for a flow hash: podlane_maglev[svc][hash % M]. Returns false when the
 * service has no table (agent still building it); the caller falls back to random.
 */
static __always_inline bool lb_pick_maglev(__u32 svc_id, __u32 hash, __u32 *slot)
{
	__u32 idx = hash % PODLANE_MAGLEV_M;
	void *table;
	__u32 *s;

	table = bpf_map_lookup_elem(&podlane_maglev, &svc_id);
	if (!table)
		return false;
	s = bpf_map_lookup_elem(table, &idx);
	if (!s)
		return false;
	*slot = *s;
	return true;
}

/*
 * Choose a backend for a new connection to svc. hash drives the Maglev choice (a flow hash on
 * the per-packet path; a random number where the flow is not known yet). Terminating and
 * foreign-when-local-only backends are never returned. NULL: nothing usable, counted.
 */
static __always_inline struct lb_backend *lb_select(const struct lb_service *svc, __u32 hash,
						    bool local_only, __u32 *slotp)
{
	__u32 n = lb_pool_size(svc, local_only), slot = 0;
	struct lb_backend *be = NULL;
	int i;

	if (!n)
		goto none;
	if (svc->flags & PODLANE_SVC_F_MAGLEV) {
		if (lb_pick_maglev(svc->id, hash, &slot)) {
			be = lb_backend_lookup(svc->id, slot);
			if (be && lb_backend_usable(be, local_only))
				goto found;
		} else {
			lb_count(PODLANE_LB_NO_MAGLEV);
		}
	}
	for (i = 0; i < LB_PICK_TRIES; i++) {
		be = NULL;
		slot = lb_pick_weighted(svc->id, n, local_only, &be);
		if (be && lb_backend_usable(be, local_only))
			goto found;
	}
	for (i = 0; i < LB_PROBE_SLOTS && i < n; i++) {
		if (++slot >= n)
			slot = 0;
		be = lb_backend_lookup(svc->id, slot);
		if (be && lb_backend_usable(be, local_only))
			goto found;
	}
none:
	lb_count(PODLANE_LB_NO_BACKEND);
	return NULL;
found:
	*slotp = slot;
	return be;
}

/*
 * sessionAffinity ClientIP: reuse the client's previous backend while it is fresh, usable and
 * still the same backend in that slot; otherwise choose anew and remember the choice.
 */
static __always_inline struct lb_backend *lb_select_affine(const struct lb_service *svc,
							   __u64 client, __u32 hash,
							   bool local_only)
{
	struct lb_affinity_key key = {
		.client = client,
		.svc_id = svc->id,
	};
	__u64 now = bpf_ktime_get_ns();
	struct lb_affinity *aff, fresh = {};
	struct lb_backend *be;
	__u32 slot = 0;

	aff = bpf_map_lookup_elem(&podlane_affin, &key);
	if (aff && now - aff->last_ns <= svc->affinity_timeout * NSEC_PER_SEC) {
		be = lb_backend_lookup(svc->id, aff->slot);
		if (be && be->id == aff->backend_id && lb_backend_usable(be, local_only)) {
			aff->last_ns = now;
			lb_count(PODLANE_LB_AFFINITY_HIT);
			return be;
		}
	}
	be = lb_select(svc, hash, local_only, &slot);
	if (!be)
		return NULL;
	fresh.last_ns = now;
	fresh.backend_id = be->id;
	fresh.slot = slot;
	if (bpf_map_update_elem(&podlane_affin, &key, &fresh, BPF_ANY))
		lb_count(PODLANE_LB_AFFINITY_FULL);
	return be;
}

/* Full service choice for one new connection from client (a netns cookie). */
static __always_inline struct lb_backend *lb_choose(const struct lb_service *svc, __u64 client,
						    __u32 hash, bool local_only)
{
	__u32 slot;

	if (svc->flags & PODLANE_SVC_F_AFFINITY)
		return lb_select_affine(svc, client, hash, local_only);
	return lb_select(svc, hash, local_only, &slot);
}

#endif /* PODLANE_LIB_LB_H */
