// SPDX-License-Identifier: GPL-2.0-only
/*
 * lb/ct.c - the conntrack collector: every GC_INTERVAL_MS a pass over podlane_ct deletes the
 * expired flows of the per-packet service path (lib/ct_gc.c), the one writer of podlane_ct
 * besides the datapath. The same pass counts each service port's live flows for service_list
 * and tells backends.c which drained backend addresses still have flows.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/agent.h"
#include "lb/lb_int.h"
#include "log.h"

#define GC_INTERVAL_MS		10000

/* One live flow: counted for its service port, and for its backend if that drains. */
static void gc_visit(const struct ct_key *key, const struct ct_entry *entry, void *ctx)
{
	struct lb_state *lb = ctx;
	struct svc *s;
	unsigned int p;

	backend_refs_flow(lb, entry->nat_addr);
	if (!entry->svc_id || entry->svc_id >= PODLANE_MAX_SERVICES)
		return;
	s = lb->owner[entry->svc_id];
	if (!s || s == OWNER_STALE)
		return;
	for (p = 0; p < s->spec.nports; p++) {
		if (s->ports[p].id != entry->svc_id)
			continue;
		s->ports[p].flows++;
		s->ports[p].packets += entry->packets;
		s->ports[p].bytes += entry->bytes;
	}
}

static void ct_collect(struct agent *a)
{
	struct lb_state *lb = a->lb;
	struct svc *s;
	unsigned int p;
	int err;

	if (lb->ct_fd < 0) {
		backend_refs_pass_start(lb);	/* no per-packet flows at all */
		backend_refs_pass_end(a);
		return;
	}
	for (s = lb->head; s; s = s->next)
		for (p = 0; p < s->spec.nports; p++)
			s->ports[p].flows = s->ports[p].packets = s->ports[p].bytes = 0;
	backend_refs_pass_start(lb);
	err = ct_gc(lb->ct_fd, ct_now_ns(), &lb->gc, gc_visit, lb);
	lb->gc_ran = true;
	if (!err)
		backend_refs_pass_end(a);
	if (err)
		log_warn("conntrack collection failed err=\"%s\"", strerror(-err));
	else if (lb->gc.deleted)
		log_debug("conntrack collected deleted=%llu live=%llu",
			  (unsigned long long)lb->gc.deleted, (unsigned long long)lb->gc.live);
}

void ct_tick(struct agent *a)
{
	struct lb_state *lb = a->lb;

	if (lb_ms_since(&lb->last_gc) < GC_INTERVAL_MS)
		return;
	clock_gettime(CLOCK_MONOTONIC, &lb->last_gc);
	ct_collect(a);
}

void lb_conntrack_read(struct agent *a, struct lb_conntrack *ct)
{
	struct lb_state *lb = a->lb;

	memset(ct, 0, sizeof(*ct));
	ct->available = lb->ct_fd >= 0;
	ct->collected = lb->gc_ran;
	if (!lb->gc_ran)
		return;
	ct->live = lb->gc.live;
	ct->max_entries = lb->gc.max_entries;
	ct->deleted_last_pass = lb->gc.deleted;
}
