// SPDX-License-Identifier: GPL-2.0-only
/*
 * lb/apply.c - svc ids, and the ordered update that puts a service version in the maps.
 *
 * Updates never show a half-built service: a changed port gets a fresh id, its slots (and
 * table) are written under that id first, then every frontend entry flips to it in one map
 * update each, then the old id's slots are deleted. A failure at any step undoes the steps
 * before it, so a refused update changes nothing. (One exception, for speed: the Maglev table
 * of a service new from the cluster store joins podlane_maglev with the rest of the store's
 * batch, a moment after its frontends; see maglev_flush.)
 *
 * lb_state.owner maps every svc id to the service whose port uses it; OWNER_STALE marks ids
 * the maps use that no service has claimed yet (adopt.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "lb/lb_int.h"

static __u32 id_alloc(struct lb_state *lb, struct svc *s)
{
	__u32 i, id;

	/* Round robin, so that an id just freed is not handed out again at once. */
	for (i = 0; i < PODLANE_MAX_SERVICES - 1; i++) {
		id = lb->next_id++;
		if (lb->next_id >= PODLANE_MAX_SERVICES)
			lb->next_id = 1;
		if (!lb->owner[id]) {
			lb->owner[id] = s;
			return id;
		}
	}
	return 0;
}

/*
 * Whether want ids are free. Looks from where id_alloc() goes on and stops at the want-th free
 * one: with a mostly free id space that is a few steps, not a walk of all ids per update.
 */
static bool ids_enough(struct lb_state *lb, unsigned int want)
{
	__u32 i, id = lb->next_id;

	for (i = 0; want && i < PODLANE_MAX_SERVICES - 1; i++) {
		want -= !lb->owner[id];
		if (++id >= PODLANE_MAX_SERVICES)
			id = 1;
	}
	return !want;
}

struct flip {
	struct lb_service_key key;
	struct lb_service prev;
	bool had_prev;
};

/*
 * Make the maps say what s says, replacing old (NULL: s is new). On error nothing changed.
 * persist: write the state file (not when re-applying what was read from it).
 */
int svc_apply(struct agent *a, struct svc *s, struct svc *old, bool persist,
	      struct api_error *e)
{
	struct lb_state *lb = a->lb;
	struct flip *flips = NULL;
	unsigned int p, i, nflips = 0, fresh = 0;
	bool reuse[SVC_MAX_PORTS] = {};
	char text[64];
	int err;

	/* Conflicts first: a frontend of another service is never taken over. */
	for (i = 0; i < s->nfe; i++) {
		struct lb_service cur;

		if (frontend_read(lb, &s->fe[i].key, &cur))
			continue;
		if (cur.id < PODLANE_MAX_SERVICES && lb->owner[cur.id] &&
		    lb->owner[cur.id] != OWNER_STALE && lb->owner[cur.id] != old) {
			fe_text(&s->fe[i].key, text, sizeof(text));
			return api_fail(e, PODLANE_ERR_CONFLICT, "%s: %s %s is already used by "
				       "service %s", s->name,
				       service_frontend_kind_name(s->fe[i].kind), text,
				       lb->owner[cur.id]->name);
		}
	}
	/* A port whose slots did not change keeps its id: nothing to flip for it. */
	for (p = 0; p < s->spec.nports; p++) {
		if (old && p < old->spec.nports && slots_equal(s, old, p)) {
			reuse[p] = true;
			s->ports[p].id = old->ports[p].id;
		} else {
			fresh++;
		}
	}
	if (!ids_enough(lb, fresh))
		return api_fail(e, PODLANE_ERR_MAP_FULL, "%s: no free service id (%d in use)",
			       s->name, PODLANE_MAX_SERVICES - 1);

	/* 1: new slots under new ids, invisible until a frontend points there. */
	for (p = 0; p < s->spec.nports; p++) {
		if (reuse[p])
			continue;
		s->ports[p].id = id_alloc(lb, s);
		/*
		 * A new service from the store may have its Maglev table installed a moment
		 * after its frontends (the store's batch, see maglev_flush): until then the
		 * datapath picks by weight (counted as no_maglev), and no flow existed before.
		 */
		err = slots_write(lb, &s->ports[p], s->store && !old);
		if (err) {
			api_fail(e, err == -E2BIG || err == -ENOSPC ? PODLANE_ERR_MAP_FULL :
				PODLANE_ERR_INTERNAL, "%s: failed to write backends: %s", s->name,
				strerror(-err));
			goto undo_slots;
		}
	}
	if (persist && state_write_tmp(a, s, e)) {
		p = s->spec.nports;
		goto undo_slots;
	}

	/* 2: flip every frontend, remembering what it said before. */
	flips = calloc(s->nfe ? s->nfe : 1, sizeof(*flips));
	if (!flips) {
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		goto undo_file;
	}
	for (i = 0; i < s->nfe; i++) {
		struct lb_service v = svc_value(s, &s->fe[i]);
		struct flip *f = &flips[nflips];

		f->key = s->fe[i].key;
		f->had_prev = !frontend_read(lb, &f->key, &f->prev);
		if (f->had_prev && !memcmp(&f->prev, &v, sizeof(v)))
			continue;
		err = frontend_write(lb, &f->key, &v);
		if (err) {
			fe_text(&f->key, text, sizeof(text));
			api_fail(e, err == -E2BIG ? PODLANE_ERR_MAP_FULL : PODLANE_ERR_INTERNAL,
				"%s: failed to write frontend %s: %s", s->name, text,
				strerror(-err));
			goto undo_flips;
		}
		nflips++;
	}

	/* 3: the old version goes: affinity moves over, stale frontends and slots are deleted. */
	if (old) {
		for (i = 0; i < old->nfe; i++) {
			unsigned int j;

			for (j = 0; j < s->nfe; j++)
				if (!memcmp(&old->fe[i].key, &s->fe[j].key, sizeof(s->fe[j].key)))
					break;
			if (j == s->nfe)
				frontend_delete(lb, &old->fe[i].key);
		}
		for (p = 0; p < old->spec.nports; p++) {
			__u32 id = old->ports[p].id;

			if (p < s->spec.nports && reuse[p])
				continue;
			if (s->spec.affinity && p < s->spec.nports)
				affinity_move(lb, id, &s->ports[p]);
			slots_delete(lb, id, 0, old->ports[p].nslots);
			lb->owner[id] = NULL;
		}
	}
	/*
	 * Entries we overwrote that belonged to nobody (a crash, an older agent). While the
	 * start-up sweep waits for the store's first list, that sweep takes them all at once.
	 */
	for (i = 0; i < nflips && !lb->stale_pending; i++) {
		__u32 id = flips[i].prev.id;

		if (flips[i].had_prev && id < PODLANE_MAX_SERVICES &&
		    lb->owner[id] == OWNER_STALE) {
			slots_delete_unknown(lb, id);
			lb->owner[id] = NULL;
		}
	}
	/* Ports that kept their id now belong to s: old is about to be freed. */
	for (p = 0; p < s->spec.nports; p++)
		if (reuse[p])
			lb->owner[s->ports[p].id] = s;
	free(flips);
	if (persist)
		state_commit(a, s);
	return 0;

undo_flips:
	while (nflips--) {
		struct flip *f = &flips[nflips];

		if (f->had_prev)
			frontend_write(lb, &f->key, &f->prev);
		else
			frontend_delete(lb, &f->key);
	}
	free(flips);
undo_file:
	if (persist)
		state_discard(a, s, ".tmp");
	p = s->spec.nports;
undo_slots:
	while (p--) {
		if (reuse[p] || !s->ports[p].id)
			continue;
		slots_delete(lb, s->ports[p].id, 0, s->ports[p].nslots);
		lb->owner[s->ports[p].id] = NULL;
		s->ports[p].id = 0;
	}
	/* The failed port itself, if its id was taken: slots_write cleaned its slots. */
	for (p = 0; p < s->spec.nports; p++) {
		if (!reuse[p] && s->ports[p].id) {
			lb->owner[s->ports[p].id] = NULL;
			s->ports[p].id = 0;
		}
	}
	return -1;
}

/* Remove every trace of s from the maps. */
void svc_remove(struct lb_state *lb, struct svc *s)
{
	unsigned int i, p;

	for (i = 0; i < s->nfe; i++)
		frontend_delete(lb, &s->fe[i].key);
	for (p = 0; p < s->spec.nports; p++) {
		if (!s->ports[p].id)
			continue;
		slots_delete(lb, s->ports[p].id, 0, s->ports[p].nslots);
		lb->owner[s->ports[p].id] = NULL;
	}
}
