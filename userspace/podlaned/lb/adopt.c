// SPDX-License-Identifier: GPL-2.0-only
/*
 * lb/adopt.c - start-up: a restarted agent takes over what the pinned maps already hold. Every
 * svc id in the maps starts stale (maps.c ids_mark_stale); a persisted service whose entries
 * say exactly what it wants adopts them as they are, so a restart writes nothing and no flow
 * notices; one that differs is rewritten (apply.c). What no service claims is swept, at once
 * or, with a cluster store, after the store's first full list (its services have no file).
 */
#include <string.h>

#include "core/agent.h"
#include "lb/lb_int.h"
#include "log.h"

/*
 * Adopt what the maps already hold for s when it is exactly what s wants: same id behind
 * every frontend of a port, same values, same slots, nothing beyond them. Then a restart
 * writes nothing at all.
 */
bool svc_adopt(struct lb_state *lb, struct svc *s)
{
	unsigned int i, p;

	for (p = 0; p < s->spec.nports; p++)
		s->ports[p].id = 0;
	for (i = 0; i < s->nfe; i++) {
		struct svc_slots *ss = &s->ports[s->fe[i].port];
		struct lb_service cur, want;

		if (frontend_read(lb, &s->fe[i].key, &cur) || !cur.id ||
		    cur.id >= PODLANE_MAX_SERVICES || lb->owner[cur.id] != OWNER_STALE ||
		    (ss->id && ss->id != cur.id))
			goto no;
		ss->id = cur.id;
		want = svc_value(s, &s->fe[i]);
		if (memcmp(&want, &cur, sizeof(cur)))
			goto no;
	}
	for (p = 0; p < s->spec.nports; p++) {
		struct svc_slots *ss = &s->ports[p];
		struct lb_backend be;
		__u32 slot;

		if (!ss->id)
			goto no;
		for (slot = 0; slot < ss->nslots; slot++)
			if (slot_read(lb, ss->id, slot, &be) ||
			    memcmp(&be, &ss->slot[slot], sizeof(be)))
				goto no;
		if (!slot_read(lb, ss->id, slot, &be))
			goto no;
		if (ss->maglev && ss->count && !maglev_present(lb, ss->id))
			goto no;
	}
	for (p = 0; p < s->spec.nports; p++)
		lb->owner[s->ports[p].id] = s;
	return true;
no:
	for (p = 0; p < s->spec.nports; p++)
		s->ports[p].id = 0;
	return false;
}

/* A persisted service at start-up: adopted as the maps hold it, or written again. */
void svc_restore(struct agent *a, struct service_spec *spec, const char *path)
{
	struct api_error e = {};
	struct svc *s;

	s = svc_new(a, spec, &e);
	if (!s) {
		log_error("failed to load service '%s': %s", path, e.msg);
		return;
	}
	if (svc_find(a->lb, s->name)) {
		log_error("failed to load service '%s': %s is defined twice", path, s->name);
		svc_free(s);
		return;
	}
	if (svc_adopt(a->lb, s)) {
		backend_refs_update(a, s, NULL);
		svc_link(a->lb, s);
		svc_settle(s);
		log_debug("service adopted name=%s", s->name);
		return;
	}
	if (svc_apply(a, s, NULL, false, &e)) {
		log_error("failed to restore service '%s': %s", s->name, e.msg);
		svc_free(s);
		return;
	}
	backend_refs_update(a, s, NULL);
	svc_link(a->lb, s);
	svc_settle(s);
	log_info("service restored name=%s", s->name);
}

struct sweep {
	struct lb_state *lb;
	bool keep_unowned;
};

/* A frontend no known service has; with keep_unowned, one of an unclaimed id stays. */
static bool frontend_unclaimed(const struct lb_service_key *key, const struct lb_service *v,
			       void *data)
{
	const struct sweep *sw = data;
	struct svc *owner;

	if (!v->id || v->id >= PODLANE_MAX_SERVICES)
		return true;
	owner = sw->lb->owner[v->id];
	if (owner && owner != OWNER_STALE && svc_has_frontend(owner, key))
		return false;
	return !(sw->keep_unowned && owner == OWNER_STALE);
}

/*
 * What nobody claimed after loading: frontends, slots and tables of vanished services, and
 * frontends a service no longer has (a node address that went away while we were down).
 * keep_unowned: leave whatever belongs to no known service for now. The services of a cluster
 * store are not persisted here (the store is their source of truth): the pinned maps carry
 * them over a restart and the store's first full list claims or removes them.
 */
void sweep_stale(struct lb_state *lb, bool keep_unowned)
{
	struct sweep sw = { .lb = lb, .keep_unowned = keep_unowned };
	unsigned int n, ids = 0;

	n = frontends_delete_if(lb, frontend_unclaimed, &sw);
	if (!keep_unowned)
		ids = stale_ids_delete(lb);
	lb->stale_pending = keep_unowned;
	if (n || ids)
		log_info("stale service entries removed frontends=%u ids=%u", n, ids);
}
