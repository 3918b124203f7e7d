// SPDX-License-Identifier: GPL-2.0-only
/*
 * ct_gc.c - garbage collection and sizing of podlane_ct; see ct_gc.h.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <bpf/bpf.h>

#include "ct_gc.h"

__u64 ct_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void count_live(struct ct_gc_stats *st, const struct ct_key *key,
		       const struct ct_entry *e)
{
	st->live++;
	if (key->proto == IPPROTO_TCP)
		st->live_tcp++;
	else if (key->proto == IPPROTO_UDP)
		st->live_udp++;
	if (e->flags & PODLANE_CT_F_CLOSING)
		st->live_closing++;
}

int ct_gc(int map_fd, __u64 now_ns, struct ct_gc_stats *st, ct_gc_visit_fn visit, void *ctx)
{
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	struct ct_key key, next, doomed;
	struct ct_entry e;
	bool have_key = false, pending = false;
	__u64 limit;
	int err = 0;

	memset(st, 0, sizeof(*st));
	if (bpf_obj_get_info_by_fd(map_fd, &info, &info_len))
		return -errno;
	st->max_entries = info.max_entries;
	/*
	 * The walk may restart from the beginning when the key it stands on disappears under it
	 * (the datapath evicts or GC deletes); bound it so that a busy map cannot keep us here.
	 */
	limit = 4ULL * info.max_entries + 16;

	/*
	 * Deleting the key we stand on would restart the walk, so an expired key is deleted one
	 * step later, once the walk has moved past it.
	 */
	while (st->scanned < limit) {
		if (bpf_map_get_next_key(map_fd, have_key ? &key : NULL, &next)) {
			if (errno != ENOENT)
				err = -errno;
			break;
		}
		if (pending) {
			if (!bpf_map_delete_elem(map_fd, &doomed))
				st->deleted++;
			else if (errno != ENOENT && !err)
				err = -errno;
			pending = false;
		}
		key = next;
		have_key = true;
		st->scanned++;
		if (bpf_map_lookup_elem(map_fd, &key, &e)) {
			if (errno == ENOENT)
				st->vanished++;
			else if (!err)
				err = -errno;
			continue;
		}
		if (e.expires_ns < now_ns) {
			doomed = key;
			pending = true;
			continue;
		}
		count_live(st, &key, &e);
		if (visit && key.dir == PODLANE_CT_ORIGINAL)
			visit(&key, &e, ctx);
	}
	if (pending) {
		if (!bpf_map_delete_elem(map_fd, &doomed))
			st->deleted++;
		else if (errno != ENOENT && !err)
			err = -errno;
	}
	return err;
}

__u32 ct_size_from_memory(__u64 mem_bytes)
{
	__u64 want = mem_bytes / 400 / PODLANE_CT_ENTRY_COST;
	__u32 size = PODLANE_MIN_CT;

	while ((__u64)size * 2 <= want && size < PODLANE_MAX_CT_LIMIT)
		size *= 2;
	return size;
}
