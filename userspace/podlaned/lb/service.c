// SPDX-License-Identifier: GPL-2.0-only
/*
 * lb/service.c - the service table: a service's life from a validated spec (service_spec.h)
 * to the LB maps that bpf/lib/lb.h reads and back out, for podlanectl's services (persisted
 * under <state-dir>/services/) and the cluster store's; start-up, the tick, and the views the
 * local API lists. What goes into the maps is built by frontends.c and backends.c, written in
 * order by apply.c through maps.c.
 *
 * Map layout per service: every port of a service owns one svc id; all frontends of that port
 * (the ClusterIP, each external IP, the NodePort on each node address) are podlane_svc entries
 * that point at that id, whose backends sit in podlane_backend {id, slot} packed as podlane.h
 * says (local active, remote active, then terminating and drained). NodePort and external-IP
 * frontends are MAGLEV, so a table sits in podlane_maglev[id] when the port has any.
 *
 * Services from the cluster store (sync/) have no state file: the store is their source of
 * truth, and the pinned maps carry them over a restart until the store's first full list
 * adopts or removes them (service_init, service_store_sweep). podlanectl's are persisted.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "core/agent.h"
#include "lb/lb_int.h"
#include "log.h"

#define SVC_BUCKETS		16384
#define TICK_INTERVAL_MS	2000	/* node addresses; a failed locality refresh again */

static unsigned int name_hash(const char *s)
{
	unsigned int h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % SVC_BUCKETS;
}

struct svc *svc_find(struct lb_state *lb, const char *name)
{
	struct svc *s;

	for (s = lb->buckets[name_hash(name)]; s; s = s->hnext)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

void svc_link(struct lb_state *lb, struct svc *s)
{
	unsigned int h = name_hash(s->name);

	s->hnext = lb->buckets[h];
	lb->buckets[h] = s;
	s->prev = lb->tail;
	s->next = NULL;
	if (lb->tail)
		lb->tail->next = s;
	else
		lb->head = s;
	lb->tail = s;
	lb->nservices++;
}

static void svc_unlink(struct lb_state *lb, struct svc *s)
{
	struct svc **pp;

	for (pp = &lb->buckets[name_hash(s->name)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		lb->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		lb->tail = s->prev;
	lb->nservices--;
}

void svc_free(struct svc *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s);	/* one block, see struct svc */
}

/* s is in place: its slot arrays go (see struct svc). */
void svc_settle(struct svc *s)
{
	unsigned int p;

	free(s->slots);
	s->slots = NULL;
	for (p = 0; p < s->spec.nports; p++)
		s->ports[p].slot = NULL;
}

/* Everything about s that goes into the maps, except ids. */
static int svc_build(struct agent *a, struct svc *s, struct api_error *e)
{
	unsigned int p;
	int err;

	resolve_local(a, s);
	err = build_frontends(a->lb, s, e);
	for (p = 0; p < s->spec.nports && !err; p++)
		err = build_slots(s, p, e);
	return err;
}

#define BLOCK_ALIGN(n)	(((n) + 7) & ~(size_t)7)

/* A fresh svc for spec, its arrays and strings copied into the svc's block (see struct svc). */
static struct svc *svc_new_from(struct agent *a, const struct service_spec *spec,
				struct api_error *e)
{
	size_t np = spec->nports, nb = spec->nbackends, nx = spec->nexternal, o_ports, o_sports,
	       o_backends, o_ext, o_fe, o_local, o_name, o_ns, o_id, size, p;
	unsigned int cap = np * (1 + nx + a->lb->n_node_ips);
	size_t name_len = strlen(spec->name) + 1, ns_len = strlen(spec->namespace) + 1;
	size_t pnames = 0;
	struct svc *s;
	char *block, *pn;

	for (p = 0; p < np; p++)
		pnames += spec->ports[p].name ? strlen(spec->ports[p].name) + 1 : 0;

	/* Largest alignment first, each part rounded to 8 bytes, the strings last. */
	o_ports = BLOCK_ALIGN(sizeof(*s));
	o_sports = o_ports + BLOCK_ALIGN(np * sizeof(*s->ports));
	o_backends = o_sports + BLOCK_ALIGN(np * sizeof(*spec->ports));
	o_ext = o_backends + BLOCK_ALIGN(nb * sizeof(*spec->backends));
	o_fe = o_ext + BLOCK_ALIGN(nx * sizeof(*spec->external_ips));
	o_local = o_fe + BLOCK_ALIGN(cap * sizeof(*s->fe));
	o_name = o_local + nb;
	o_ns = o_name + name_len;
	o_id = o_ns + ns_len;
	size = o_id + ns_len + name_len + pnames;	/* the port names last */
	block = calloc(1, size);
	if (!block) {
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	s = (struct svc *)block;
	s->spec = *spec;
	s->slots = calloc(np && nb ? np * nb : 1, sizeof(*s->slots));
	if (!s->slots) {
		free(block);
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	s->ports = (struct svc_slots *)(block + o_ports);
	for (p = 0; p < np; p++)
		s->ports[p].slot = s->slots + p * nb;
	/* (An array with no elements may be NULL in spec: nothing to copy then.) */
	s->spec.ports = (struct svc_port *)(block + o_sports);
	if (np)
		memcpy(s->spec.ports, spec->ports, np * sizeof(*spec->ports));
	s->spec.backends = (struct svc_backend *)(block + o_backends);
	if (nb)
		memcpy(s->spec.backends, spec->backends, nb * sizeof(*spec->backends));
	s->spec.external_ips = (__be32 *)(block + o_ext);
	if (nx)
		memcpy(s->spec.external_ips, spec->external_ips,
		       nx * sizeof(*spec->external_ips));
	s->fe = (struct svc_frontend *)(block + o_fe);
	s->fe_cap = cap;
	s->local = (__s8 *)(block + o_local);
	s->spec.name = memcpy(block + o_name, spec->name, name_len);
	s->spec.namespace = memcpy(block + o_ns, spec->namespace, ns_len);
	s->name = block + o_id;
	service_spec_id(&s->spec, s->name, ns_len + name_len);
	pn = s->name + ns_len + name_len;
	for (p = 0; p < np; p++) {
		if (!spec->ports[p].name)
			continue;
		s->spec.ports[p].name = strcpy(pn, spec->ports[p].name);
		pn += strlen(pn) + 1;
	}
	if (svc_build(a, s, e)) {
		svc_free(s);
		return NULL;
	}
	return s;
}

/* The same, for a parsed spec: taken over (the caller must not use it again). */
struct svc *svc_new(struct agent *a, struct service_spec *spec, struct api_error *e)
{
	struct svc *s = svc_new_from(a, spec, e);

	service_spec_free(spec);
	return s;
}

/*
 * Put a rebuilt version of s in place (locality or node addresses changed); false: failed.
 * The new version joins the table at its tail, like any update: a walk that refreshes
 * services stops at the tail it started with, or it would meet its own work again.
 */
static bool svc_refresh(struct agent *a, struct svc *s)
{
	struct api_error e = {};
	struct svc *n;

	n = svc_new_from(a, &s->spec, &e);
	if (n) {
		n->store = s->store;
		n->store_gen = s->store_gen;
	}
	if (!n || svc_apply(a, n, s, false, &e)) {
		log_warn("failed to refresh service name=%s err=\"%s\"", s->name, e.msg);
		svc_free(n);
		return false;
	}
	backend_refs_update(a, n, s);
	svc_unlink(a->lb, s);
	svc_link(a->lb, n);
	svc_settle(n);
	svc_free(s);
	log_info("service refreshed name=%s", n->name);
	return true;
}

/* Remove s from the maps, the backend counts and the table, and free it. */
static void svc_delete(struct agent *a, struct svc *s)
{
	svc_remove(a->lb, s);
	backend_refs_update(a, NULL, s);
	svc_unlink(a->lb, s);
	svc_free(s);
}

/* ---- podlanectl's services and the cluster store's ---------------------------------------- */

/*
 * Add or replace the service spec describes (taken over: the caller must not free it).
 * store: it comes from the cluster store, which is its source of truth: no state file (a
 * state file left by podlanectl for the same name goes). Otherwise it is persisted.
 * Returns the service in place, or NULL with e set and nothing changed; *changed is false
 * when the maps already said the same.
 */
static struct svc *svc_upsert(struct agent *a, struct service_spec *spec, bool store,
			      bool *changed, struct api_error *e)
{
	struct lb_state *lb = a->lb;
	struct svc *s, *old;

	*changed = false;
	s = svc_new(a, spec, e);
	if (!s)
		return NULL;
	s->store = store;
	old = svc_find(lb, s->name);
	/* The same spec again is a no-op: no new ids, no churn for the datapath. */
	if (old && service_spec_equal(&old->spec, &s->spec) && old->nfe == s->nfe &&
	    !memcmp(old->local, s->local, s->spec.nbackends) &&
	    !memcmp(old->fe, s->fe, s->nfe * sizeof(*s->fe))) {
		svc_free(s);
		if (old->store != store) {
			/* Changes hands: only the state file follows. */
			if (store)
				state_discard(a, old, "");
			else if (state_write(a, old, e))
				return NULL;
			old->store = store;
		}
		return old;
	}
	/* A store service back after a restart: take over the maps' entries when they fit. */
	if (!old && lb->stale_pending && svc_adopt(lb, s)) {
		log_debug("service adopted name=%s", s->name);
	} else if (svc_apply(a, s, old, !store, e)) {
		log_warn("service refused name=%s err=\"%s\"", s->name, e->msg);
		svc_free(s);
		return NULL;
	}
	if (store && old && !old->store)
		state_discard(a, old, "");
	backend_refs_update(a, s, old);
	if (old) {
		svc_unlink(lb, old);
		svc_free(old);
	}
	svc_link(lb, s);
	svc_settle(s);
	*changed = true;
	/* Store services come by the ten thousand on a resync: podlanectl's are worth a line. */
	if (store)
		log_debug("service %s name=%s frontends=%u backends=%u", old ? "updated" : "added",
			  s->name, s->nfe, s->spec.nbackends);
	else
		log_info("service %s name=%s frontends=%u backends=%u", old ? "updated" : "added",
			 s->name, s->nfe, s->spec.nbackends);
	return s;
}

int service_upsert(struct agent *a, struct service_spec *spec, bool *changed,
		   struct api_error *e)
{
	return svc_upsert(a, spec, false, changed, e) ? 0 : -1;
}

int service_delete(struct agent *a, const char *name, struct api_error *e)
{
	struct svc *s = svc_find(a->lb, name);

	if (!s)
		return api_fail(e, PODLANE_ERR_NOT_FOUND, "service '%s' not found", name);
	/* File first: a crash after it leaves stale entries that the next start sweeps. */
	state_discard(a, s, "");
	svc_remove(a->lb, s);
	backend_refs_update(a, NULL, s);
	svc_unlink(a->lb, s);
	log_info("service deleted name=%s", name);
	svc_free(s);
	return 0;
}

int service_store_put(struct agent *a, struct service_spec *spec, __u32 gen, struct api_error *e)
{
	struct svc *s;
	bool changed;

	if (!a->lb || !a->lb->owner) {
		service_spec_free(spec);
		return api_fail(e, PODLANE_ERR_INTERNAL, "services are not set up");
	}
	s = svc_upsert(a, spec, true, &changed, e);
	if (!s)
		return -1;
	s->store_gen = gen;
	return 0;
}

bool service_store_del(struct agent *a, const char *name)
{
	struct svc *s = a->lb && a->lb->buckets ? svc_find(a->lb, name) : NULL;

	/* Only services that came from the store: podlanectl's own stay. */
	if (!s || !s->store)
		return false;
	log_debug("service deleted name=%s", name);
	svc_delete(a, s);
	return true;
}

unsigned int service_store_sweep(struct agent *a, __u32 gen)
{
	struct lb_state *lb = a->lb;
	struct svc *s, *next;
	unsigned int n = 0;

	if (!lb || !lb->owner)
		return 0;
	maglev_flush(lb);
	for (s = lb->head; s; s = next) {
		next = s->next;
		if (!s->store || s->store_gen == gen)
			continue;
		log_info("service deleted (gone from the store) name=%s", s->name);
		svc_delete(a, s);
		n++;
	}
	/* What the maps kept over a restart and the store did not claim now goes. */
	if (lb->stale_pending)
		sweep_stale(lb, false);
	/*
	 * A full list passes thousands of records through the I/O thread's queue, whose freed
	 * memory glibc keeps (scattered in that thread's arena) until asked: give it back.
	 */
	malloc_trim(0);
	return n;
}

void service_store_flush(struct agent *a)
{
	if (a->lb)
		maglev_flush(a->lb);
}

unsigned int service_store_count(struct agent *a)
{
	struct svc *s;
	unsigned int n = 0;

	for (s = a->lb ? a->lb->head : NULL; s; s = s->next)
		n += s->store;
	return n;
}

/* ---- start-up, tick ---------------------------------------------------------------------- */

int service_init(struct agent *a, bool store)
{
	struct lb_state *lb = a->lb;
	int err;

	lb->buckets = calloc(SVC_BUCKETS, sizeof(*lb->buckets));
	lb->owner = calloc(PODLANE_MAX_SERVICES, sizeof(*lb->owner));
	if (!lb->buckets || !lb->owner || backend_refs_init(lb))
		return -ENOMEM;
	lb->next_id = 1;
	clock_gettime(CLOCK_MONOTONIC, &lb->last_tick);
	lb->last_gc = lb->last_tick;
	node_ips_read(a, lb->node_ips, &lb->n_node_ips);
	/* What the maps hold belongs to nobody until a persisted service claims it. */
	ids_mark_stale(lb);
	err = state_load(a, svc_restore);
	if (err)
		return err;
	sweep_stale(lb, store);
	backend_refs_adopt(a);
	locality_events_start(a);
	log_info("services loaded services=%u node_ips=%u", lb->nservices, lb->n_node_ips);
	return 0;
}

void service_fini(struct agent *a)
{
	struct lb_state *lb = a->lb;
	struct svc *s, *next;

	if (!lb)
		return;
	locality_events_stop(a);
	maglev_flush(lb);
	for (s = lb->head; s; s = next) {
		next = s->next;
		svc_free(s);
	}
	free(lb->buckets);
	free(lb->owner);
	backend_refs_free(lb);
	lb->head = lb->tail = NULL;
	lb->buckets = NULL;
	lb->owner = NULL;
}

/*
 * Services with an auto backend whose endpoint came or went since the last round (datapath/eps
 * reported it, see backends.c), at once: a pod wired after its service is local for the
 * service from the next round of the event loop on. A refresh that failed is tried again
 * with every auto backend at the next TICK_INTERVAL_MS.
 */
static void locality_refresh(struct agent *a)
{
	struct lb_state *lb = a->lb;
	struct svc *s, *next, *last = lb->tail;

	for (s = lb->head; s; s = next) {
		next = s == last ? NULL : s->next;
		if (locality_touched(lb, s) && locality_changed(a, s) && !svc_refresh(a, s))
			lb->loc_retry = true;
	}
	locality_done(lb);
}

void service_tick(struct agent *a)
{
	struct lb_state *lb = a->lb;
	__be32 ips[LB_MAX_NODE_IPS];
	struct svc *s, *next, *last;
	unsigned int n;

	if (!lb || !lb->owner)
		return;
	ct_tick(a);
	if (locality_pending(lb))
		locality_refresh(a);
	if (lb_ms_since(&lb->last_tick) < TICK_INTERVAL_MS)
		return;
	clock_gettime(CLOCK_MONOTONIC, &lb->last_tick);
	if (lb->loc_retry) {
		lb->loc_retry = false;
		lb->loc_all = true;
		locality_refresh(a);
	}
	/* Uplink addresses change without an event here: they are polled. */
	node_ips_read(a, ips, &n);
	if (n == lb->n_node_ips && !memcmp(ips, lb->node_ips, n * sizeof(ips[0])))
		return;
	log_info("node addresses changed, NodePort frontends follow uplink=%s count=%u",
		 a->uplink, n);
	memcpy(lb->node_ips, ips, sizeof(ips));
	lb->n_node_ips = n;
	for (s = lb->head, last = lb->tail; s; s = next) {
		next = s == last ? NULL : s->next;
		if (s->has_node_port)
			svc_refresh(a, s);
	}
}

/* ---- what the local API shows ------------------------------------------------------------- */

/* cb with s as a service_view. */
static int svc_view(const struct svc *s, service_view_cb cb, void *data)
{
	struct service_port_counters counters[SVC_MAX_PORTS];
	struct service_frontend *fe;
	struct service_view v = {
		.name = s->name,
		.spec = &s->spec,
		.local = s->local,
		.nfrontends = s->nfe,
		.counters = counters,
	};
	unsigned int i, p;
	int ret;

	fe = calloc(s->nfe ? s->nfe : 1, sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	for (i = 0; i < s->nfe; i++) {
		const struct svc_frontend *f = &s->fe[i];
		const struct svc_slots *ss = &s->ports[f->port];

		fe[i].kind = f->kind;
		fe[i].addr = f->key.addr;
		fe[i].port = ntohs(f->key.port);
		fe[i].proto = f->key.proto;
		fe[i].maglev = f->flags & PODLANE_SVC_F_MAGLEV;
		fe[i].svc_id = ss->id;
		fe[i].active = ss->count;
		fe[i].local_active = ss->local_count;
		fe[i].slots = ss->nslots;
	}
	for (p = 0; p < s->spec.nports; p++) {
		counters[p].svc_id = s->ports[p].id;
		counters[p].flows = s->ports[p].flows;
		counters[p].packets = s->ports[p].packets;
		counters[p].bytes = s->ports[p].bytes;
	}
	v.frontends = fe;
	ret = cb(&v, data);
	free(fe);
	return ret;
}

int service_get(struct agent *a, const char *name, service_view_cb cb, void *data)
{
	struct svc *s = svc_find(a->lb, name);

	return s ? svc_view(s, cb, data) : -ENOENT;
}

int service_walk(struct agent *a, unsigned long offset, unsigned long limit, service_view_cb cb,
		 void *data)
{
	unsigned long i = 0;
	struct svc *s;
	int ret = 0;

	for (s = a->lb->head; s && i < offset + limit && !ret; s = s->next, i++)
		if (i >= offset)
			ret = svc_view(s, cb, data);
	return ret;
}

unsigned int service_count(struct agent *a)
{
	return a->lb->nservices;
}
