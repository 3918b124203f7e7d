// SPDX-License-Identifier: GPL-2.0-only
/*
 * lb/maps.c - the one writer of podlane_svc (frontends), podlane_backend (the slots of each
 * svc id), podlane_maglev (each id's Maglev table, an inner array map) and podlane_affin
 * (ClientIP affinity, carried over when a port's id changes). Every system call podlaned makes
 * on these four maps is here; the rest of lb/ decides what they should say.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>

#include "core/agent.h"
#include "lb/lb_int.h"
#include "log.h"
#include "maglev.h"

/* ---- podlane_svc ----------------------------------------------------------------------------- */

int frontend_read(struct lb_state *lb, const struct lb_service_key *key, struct lb_service *v)
{
	return bpf_map_lookup_elem(lb->svc_fd, key, v) ? -errno : 0;
}

int frontend_write(struct lb_state *lb, const struct lb_service_key *key,
		   const struct lb_service *v)
{
	return bpf_map_update_elem(lb->svc_fd, key, v, BPF_ANY) ? -errno : 0;
}

void frontend_delete(struct lb_state *lb, const struct lb_service_key *key)
{
	bpf_map_delete_elem(lb->svc_fd, key);
}

unsigned int frontends_delete_if(struct lb_state *lb, frontend_doomed_fn doomed, void *data)
{
	struct lb_service_key key, next, *prev = NULL, *keys = NULL;
	struct lb_service v;
	unsigned int n = 0, cap = 0, i;

	while (!bpf_map_get_next_key(lb->svc_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(lb->svc_fd, &key, &v) || !doomed(&key, &v, data))
			continue;
		if (n == cap) {
			struct lb_service_key *more;

			more = realloc(keys, (cap = cap ? 2 * cap : 64) * sizeof(*more));
			if (!more)
				break;
			keys = more;
		}
		keys[n++] = key;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(lb->svc_fd, &keys[i]);
	free(keys);
	return n;
}

/* ---- podlane_backend and podlane_maglev ------------------------------------------------------ */

int slot_read(struct lb_state *lb, __u32 id, __u32 slot, struct lb_backend *be)
{
	struct lb_backend_key k = { .svc_id = id, .slot = slot };

	return bpf_map_lookup_elem(lb->be_fd, &k, be) ? -errno : 0;
}

bool maglev_present(struct lb_state *lb, __u32 id)
{
	__u32 inner_id;

	return !bpf_map_lookup_elem(lb->maglev_fd, &id, &inner_id);
}

/*
 * Put the pending Maglev tables (maglev_write with defer) into podlane_maglev, in one batch:
 * the kernel waits for an RCU grace period after every syscall that updates a map of maps
 * (some 10 ms on a small VM), so a thousand NodePort services written one by one took 10 s.
 */
void maglev_flush(struct lb_state *lb)
{
	__u32 done = lb->mg_pending, i;

	if (!lb->mg_pending)
		return;
	if (bpf_map_update_batch(lb->maglev_fd, lb->mg_ids, lb->mg_fds, &done, NULL)) {
		/* One at a time from where the batch stopped (or when it is not supported). */
		for (i = done; i < lb->mg_pending; i++)
			if (bpf_map_update_elem(lb->maglev_fd, &lb->mg_ids[i], &lb->mg_fds[i],
						BPF_ANY))
				log_warn("failed to install a Maglev table svc_id=%u err=\"%s\"",
					 lb->mg_ids[i], strerror(errno));
	}
	for (i = 0; i < lb->mg_pending; i++)
		close(lb->mg_fds[i]);	/* the outer map holds its own reference */
	lb->mg_pending = 0;
}

static void maglev_delete(struct lb_state *lb, __u32 id)
{
	unsigned int i;

	for (i = 0; i < lb->mg_pending; i++) {
		if (lb->mg_ids[i] != id)
			continue;
		close(lb->mg_fds[i]);
		lb->mg_pending--;
		lb->mg_ids[i] = lb->mg_ids[lb->mg_pending];
		lb->mg_fds[i] = lb->mg_fds[lb->mg_pending];
		break;
	}
	bpf_map_delete_elem(lb->maglev_fd, &id);
}

/* Slots [from, nslots) of id, and its Maglev table (pending or installed). */
void slots_delete(struct lb_state *lb, __u32 id, __u32 from, __u32 nslots)
{
	__u32 slot;

	for (slot = from; slot < nslots; slot++) {
		struct lb_backend_key k = { .svc_id = id, .slot = slot };

		bpf_map_delete_elem(lb->be_fd, &k);
	}
	maglev_delete(lb, id);
}

/* Delete every slot of an id whose slot count we do not know (left by a crash). */
void slots_delete_unknown(struct lb_state *lb, __u32 id)
{
	struct lb_backend_key k = { .svc_id = id }, next, *prev = NULL, cur;
	__u32 *doomed = NULL, n = 0, cap = 0, i;

	while (!bpf_map_get_next_key(lb->be_fd, prev, &next)) {
		cur = next;
		prev = &cur;
		if (next.svc_id != id)
			continue;
		if (n == cap) {
			__u32 *more = realloc(doomed, (cap = cap ? 2 * cap : 64) * sizeof(*more));

			if (!more)
				break;
			doomed = more;
		}
		doomed[n++] = next.slot;
	}
	for (i = 0; i < n; i++) {
		k.slot = doomed[i];
		bpf_map_delete_elem(lb->be_fd, &k);
	}
	free(doomed);
	maglev_delete(lb, id);
}

/*
 * How inner Maglev tables are made. The kernel takes an inner map into podlane_maglev only
 * when its flags equal those of the template the outer map was created with: mmapable since
 * this build (lb.h), plain when an older agent created the pinned outer map. That template
 * cannot be read back, so the first table of the agent's life is inserted on its own as
 * mmapable; EINVAL (flags differ) means an old outer map, and every table is then written
 * element by element. Replacing the outer map instead would need every program that uses it
 * reloaded and refilled first; it is left in place until its pins are removed (a reboot,
 * `podlaned --uninstall`), and traffic keeps running on it meanwhile.
 */
enum { MG_UNKNOWN, MG_MMAP, MG_COPY };

/*
 * A new inner map holding table. An array's elements are 8-byte aligned (elem_size), so a
 * __u32 slot i sits at byte 8 * i of the mapping.
 */
static int maglev_inner(bool mmapable, const __u32 *table)
{
	static __u32 keys[PODLANE_MAGLEV_M], vals[PODLANE_MAGLEV_M];
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = mmapable ? BPF_F_MMAPABLE : 0);
	size_t len = ((size_t)PODLANE_MAGLEV_M * 8 + getpagesize() - 1) &
		     ~((size_t)getpagesize() - 1);
	__u32 i, n, nz = 0;
	int inner, err = 0;
	__u32 *p;

	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "podlane_mglv", sizeof(__u32), sizeof(__u32),
			       PODLANE_MAGLEV_M, &opts);
	if (inner < 0)
		return -errno;
	if (mmapable) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, inner, 0);
		if (p == MAP_FAILED) {
			err = -errno;
			close(inner);
			return err;
		}
		/* A fresh array reads 0 (slot 0) everywhere: only the other entries are written. */
		for (i = 0; i < PODLANE_MAGLEV_M; i++)
			if (table[i])
				p[2 * i] = table[i];
		munmap(p, len);
		return inner;
	}
	/* The kernel copies a batch element by element: the bulk of a table's cost. */
	for (i = 0; i < PODLANE_MAGLEV_M; i++) {
		if (!table[i])
			continue;
		keys[nz] = i;
		vals[nz++] = table[i];
	}
	n = nz;
	err = nz && bpf_map_update_batch(inner, keys, vals, &n, NULL) ? -errno : 0;
	for (i = err ? 0 : nz; i < nz; i++) {
		err = bpf_map_update_elem(inner, &keys[i], &vals[i], BPF_ANY) ? -errno : 0;
		if (err)
			break;
	}
	if (err) {
		close(inner);
		return err;
	}
	return inner;
}

/*
 * Build and write the Maglev table of ss into a fresh inner map. defer: leave it pending for
 * maglev_flush(), which the caller runs before returning to the event loop.
 */
static int maglev_write(struct lb_state *lb, const struct svc_slots *ss, bool defer)
{
	static __u32 table[PODLANE_MAGLEV_M];
	struct maglev_backend *mb;
	int inner, err;
	__u32 i;

	mb = calloc(ss->count, sizeof(*mb));
	if (!mb)
		return -ENOMEM;
	for (i = 0; i < ss->count; i++) {
		mb[i].key = ss->slot[i].id;
		mb[i].weight = ss->slot[i].weight;
	}
	err = maglev_build(mb, ss->count, table, PODLANE_MAGLEV_M);
	free(mb);
	if (err)
		return err;
	inner = maglev_inner(lb->mg_mode != MG_COPY, table);
	if (inner < 0)
		return inner;
	if (lb->mg_mode == MG_UNKNOWN) {
		/* The first table: learn the outer map's template (see MG_UNKNOWN). */
		if (!bpf_map_update_elem(lb->maglev_fd, &ss->id, &inner, BPF_ANY)) {
			lb->mg_mode = MG_MMAP;
			close(inner);
			return 0;
		}
		err = -errno;
		close(inner);
		if (err != -EINVAL)
			return err;
		lb->mg_mode = MG_COPY;
		log_info("podlane_maglev comes from an older agent (inner tables not mmapable): "
			 "writing Maglev tables element by element until its pins are recreated");
		inner = maglev_inner(false, table);
		if (inner < 0)
			return inner;
		defer = false;
	}
	if (defer) {
		if (lb->mg_pending == LB_MAGLEV_PENDING)
			maglev_flush(lb);
		lb->mg_ids[lb->mg_pending] = ss->id;
		lb->mg_fds[lb->mg_pending++] = inner;
		return 0;
	}
	err = bpf_map_update_elem(lb->maglev_fd, &ss->id, &inner, BPF_ANY) ? -errno : 0;
	close(inner);	/* the outer map holds its own reference */
	return err;
}

int slots_write(struct lb_state *lb, const struct svc_slots *ss, bool defer)
{
	__u32 slot;
	int err;

	for (slot = 0; slot < ss->nslots; slot++) {
		struct lb_backend_key k = { .svc_id = ss->id, .slot = slot };

		if (bpf_map_update_elem(lb->be_fd, &k, &ss->slot[slot], BPF_ANY)) {
			err = -errno;
			slots_delete(lb, ss->id, 0, slot);
			return err;
		}
	}
	if (ss->maglev && ss->count) {
		err = maglev_write(lb, ss, defer);
		if (err) {
			slots_delete(lb, ss->id, 0, ss->nslots);
			return err;
		}
	}
	return 0;
}

/* ---- podlane_affin --------------------------------------------------------------------------- */

/*
 * Carry ClientIP affinity over from old_id to new_id: the remembered backend keeps serving
 * the client when it is still in the service (at whatever slot it now has).
 */
void affinity_move(struct lb_state *lb, __u32 old_id, const struct svc_slots *ss)
{
	struct lb_affinity_key key, next, *prev = NULL;
	struct lb_affinity aff;
	__u32 i, limit = PODLANE_MAX_AFFINITY * 2;

	while (limit-- && !bpf_map_get_next_key(lb->affin_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (next.svc_id != old_id || bpf_map_lookup_elem(lb->affin_fd, &next, &aff))
			continue;
		for (i = 0; i < ss->count; i++) {
			if (ss->slot[i].id != aff.backend_id)
				continue;
			next.svc_id = ss->id;
			aff.slot = i;
			bpf_map_update_elem(lb->affin_fd, &next, &aff, BPF_ANY);
			break;
		}
	}
}

/* ---- ids at start-up --------------------------------------------------------------------- */

/* Mark every id the maps use as stale until a persisted service claims it. */
void ids_mark_stale(struct lb_state *lb)
{
	struct lb_service_key key, next, *prev = NULL;
	struct lb_backend_key bkey, bnext, *bprev = NULL;
	struct lb_service v;

	while (!bpf_map_get_next_key(lb->svc_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(lb->svc_fd, &key, &v) && v.id &&
		    v.id < PODLANE_MAX_SERVICES)
			lb->owner[v.id] = OWNER_STALE;
	}
	while (!bpf_map_get_next_key(lb->be_fd, bprev, &bnext)) {
		bkey = bnext;
		bprev = &bkey;
		if (bkey.svc_id && bkey.svc_id < PODLANE_MAX_SERVICES)
			lb->owner[bkey.svc_id] = OWNER_STALE;
	}
}

/*
 * Slots and tables of every id no service owns (OWNER_STALE), in one walk of podlane_backend:
 * there may be thousands of such ids after a restart, and a walk per id would be quadratic.
 */
unsigned int stale_ids_delete(struct lb_state *lb)
{
	struct lb_backend_key next, cur, *prev = NULL, *doomed = NULL;
	unsigned int n = 0, cap = 0, i, ids = 0;
	__u32 id;

	while (!bpf_map_get_next_key(lb->be_fd, prev, &next)) {
		cur = next;
		prev = &cur;
		if (next.svc_id >= PODLANE_MAX_SERVICES || lb->owner[next.svc_id] != OWNER_STALE)
			continue;
		if (n == cap) {
			struct lb_backend_key *more;

			more = realloc(doomed, (cap = cap ? 2 * cap : 256) * sizeof(*more));
			if (!more)
				break;
			doomed = more;
		}
		doomed[n++] = next;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(lb->be_fd, &doomed[i]);
	free(doomed);
	for (id = 1; id < PODLANE_MAX_SERVICES; id++) {
		if (lb->owner[id] != OWNER_STALE)
			continue;
		bpf_map_delete_elem(lb->maglev_fd, &id);
		lb->owner[id] = NULL;
		ids++;
	}
	return ids;
}
