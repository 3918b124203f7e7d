/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * lb/lb_int.h - what the files of lb/ share and nothing outside lb/ sees: struct lb_state
 * (agent.lb), the in-memory service (struct svc), and each file's functions for the others.
 *
 *   service.c    the service table: a service's life from spec to free, upsert and delete
 *                (podlanectl's and the cluster store's), start-up and tick, the API's views
 *   apply.c      svc ids, and the ordered update that never shows a half-built service
 *   frontends.c  a service's frontends (ClusterIP, external IPs, NodePorts on the node's
 *                uplink addresses) and the podlane_svc value each one gets
 *   backends.c   a service's backends: locality (and the endpoint events that change it),
 *                the slots of each port, and which addresses are backends
 *                (PODLANE_EP_F_LB_BACKEND through datapath/eps)
 *   maps.c       the one writer of podlane_svc, podlane_backend, podlane_maglev, podlane_affin
 *   ct.c         the conntrack collector: the one writer of podlane_ct besides the datapath
 *   state.c      <state-dir>/services/: podlanectl's services as spec files
 *   adopt.c      start-up: take over what the maps already hold, sweep what nobody claims
 *   datapath.c   the LB programs, their links and podlane_lbstat
 *
 * Every system call on podlane_svc, podlane_backend, podlane_maglev and podlane_affin is in
 * maps.c; the others say what to write.
 */
#ifndef PODLANED_LB_LB_INT_H
#define PODLANED_LB_LB_INT_H

#include <limits.h>
#include <stdbool.h>
#include <time.h>

#include "ct_gc.h"
#include "lb/lb.h"
#include "podlane.h"
#include "service_spec.h"

struct sock_lb;
struct xdp_uplink;
struct backend_ref;

#define LB_MAX_NODE_IPS		16
#define LB_MAGLEV_PENDING	128	/* Maglev tables (open fds) installed per batch */
#define LB_LOCALITY_PENDING	64	/* addresses whose endpoint came or went, per tick */

/* Everything the service side of the agent owns; agent.lb points here. */
struct lb_state {
	/* datapath.c */
	struct sock_lb *sock_skel;
	struct xdp_uplink *xdp_skel;
	char cgroup[PATH_MAX];		/* where the sock_addr programs are attached */
	int svc_fd, be_fd, maglev_fd, affin_fd, lbstat_fd, ct_fd;

	/* service.c */
	struct svc *head, *tail;	/* every service, oldest first */
	struct svc **buckets;		/* by namespace/name */
	unsigned int nservices;
	struct timespec last_tick;
	/* apply.c */
	struct svc **owner;		/* svc id -> service using it, or OWNER_STALE */
	__u32 next_id;
	/* adopt.c */
	bool stale_pending;		/* unowned map entries wait for the store's first list */
	/* frontends.c */
	__be32 node_ips[LB_MAX_NODE_IPS];	/* uplink addresses: NodePort frontends */
	unsigned int n_node_ips;
	/* backends.c */
	struct backend_ref **be_refs;	/* backend address -> services using it */
	unsigned int be_draining;	/* addresses in no service, flows may remain */
	__be32 loc_addrs[LB_LOCALITY_PENDING];	/* endpoints that came or went since the tick */
	unsigned int n_loc_addrs;
	bool loc_all;			/* more of them: every auto backend is checked */
	bool loc_retry;			/* a refresh failed: check them all at the next pace */
	/* maps.c */
	__u32 mg_ids[LB_MAGLEV_PENDING];	/* Maglev tables not in podlane_maglev yet */
	__u32 mg_fds[LB_MAGLEV_PENDING];
	unsigned int mg_pending;
	int mg_mode;			/* how inner tables are made: enum in maps.c */
	/* ct.c */
	struct timespec last_gc;
	struct ct_gc_stats gc;		/* last conntrack pass */
	bool gc_ran;
};

/* owner[] marks for ids that the maps use but no known service owns (yet). */
#define OWNER_STALE		((struct svc *)1)

struct svc_frontend {
	struct lb_service_key key;
	__u32	flags;		/* PODLANE_SVC_F_* */
	__u8	port;		/* index into spec.ports */
	__u8	kind;		/* enum service_frontend_kind */
};

/* The backends of one service port as written under one svc id. */
struct svc_slots {
	__u32	id;
	__u32	nslots;
	__u16	count;
	__u16	local_count;
	bool	maglev;
	struct lb_backend *slot;
	/* from the last conntrack pass: flows through this port and their packets */
	__u64	flows, packets, bytes;
};

/*
 * One allocation per service (svc_new): an agent may hold tens of thousands, and the name,
 * the spec's ports and backends, the locality and the frontends all have sizes known up
 * front. Every pointer below points into the same block, except slots: the slot arrays are
 * needed while the service is written, and rebuilt from spec and locality when a later version
 * compares itself with them (slots_equal), so svc_settle() frees them once it is in place.
 */
struct svc {
	struct service_spec spec;	/* .ports, .backends: in the block */
	char	*name;		/* namespace/name */
	__s8	*local;		/* resolved locality per spec backend */
	struct svc_frontend *fe;
	unsigned int nfe, fe_cap;
	struct svc_slots *ports;	/* spec.nports of them */
	struct lb_backend *slots;	/* ports[].slot until svc_settle() */
	bool	has_auto_local;
	bool	has_node_port;
	bool	store;		/* from the cluster store (sync/): no state file */
	__u32	store_gen;	/* the store's resync generation that last confirmed it */
	struct svc *hnext, *prev, *next;
};

static inline __u64 lb_ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000ULL + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* ---- service.c ---- */
struct svc *svc_find(struct lb_state *lb, const char *name);
/* Put s in the table (in place: its ids are owned, its entries written). */
void svc_link(struct lb_state *lb, struct svc *s);
void svc_free(struct svc *s);
void svc_settle(struct svc *s);
/* A fresh svc built from spec, which is taken over (the caller must not use it again). */
struct svc *svc_new(struct agent *a, struct service_spec *spec, struct api_error *e);

/* ---- apply.c ---- */
int svc_apply(struct agent *a, struct svc *s, struct svc *old, bool persist,
	      struct api_error *e);
void svc_remove(struct lb_state *lb, struct svc *s);

/* ---- frontends.c ---- */
/* "a.b.c.d:port/PROTO" */
void fe_text(const struct lb_service_key *k, char *out, size_t len);
int build_frontends(struct lb_state *lb, struct svc *s, struct api_error *e);
struct lb_service svc_value(const struct svc *s, const struct svc_frontend *f);
bool svc_has_frontend(const struct svc *s, const struct lb_service_key *key);
bool svc_per_packet(const struct svc *s);
/* The uplink's IPv4 addresses (none without --uplink). */
void node_ips_read(struct agent *a, __be32 *ips, unsigned int *n);

/* ---- backends.c ---- */
void resolve_local(struct agent *a, struct svc *s);
bool locality_changed(struct agent *a, struct svc *s);
/*
 * datapath/eps reports every address whose podlane_eps entry comes or goes (registered from
 * service_init to service_fini); the next tick refreshes the services with an auto backend
 * there (locality_touched) whose locality did change.
 */
void locality_events_start(struct agent *a);
void locality_events_stop(struct agent *a);
bool locality_pending(const struct lb_state *lb);
bool locality_touched(const struct lb_state *lb, const struct svc *s);
void locality_done(struct lb_state *lb);
int build_slots(struct svc *s, unsigned int p, struct api_error *e);
bool slots_equal(struct svc *s, struct svc *old, unsigned int p);
int backend_refs_init(struct lb_state *lb);
void backend_refs_free(struct lb_state *lb);
void backend_refs_update(struct agent *a, const struct svc *in, const struct svc *out);
void backend_refs_adopt(struct agent *a);
void backend_refs_pass_start(struct lb_state *lb);
void backend_refs_flow(struct lb_state *lb, __be32 backend);
void backend_refs_pass_end(struct agent *a);

/* ---- maps.c ---- */
int frontend_read(struct lb_state *lb, const struct lb_service_key *key, struct lb_service *v);
int frontend_write(struct lb_state *lb, const struct lb_service_key *key,
		   const struct lb_service *v);
void frontend_delete(struct lb_state *lb, const struct lb_service_key *key);
typedef bool (*frontend_doomed_fn)(const struct lb_service_key *key, const struct lb_service *v,
				   void *data);
/* Delete the frontends doomed() picks in one walk of podlane_svc; returns how many went. */
unsigned int frontends_delete_if(struct lb_state *lb, frontend_doomed_fn doomed, void *data);
int slot_read(struct lb_state *lb, __u32 id, __u32 slot, struct lb_backend *be);
int slots_write(struct lb_state *lb, const struct svc_slots *ss, bool defer);
void slots_delete(struct lb_state *lb, __u32 id, __u32 from, __u32 nslots);
void slots_delete_unknown(struct lb_state *lb, __u32 id);
bool maglev_present(struct lb_state *lb, __u32 id);
void maglev_flush(struct lb_state *lb);
void affinity_move(struct lb_state *lb, __u32 old_id, const struct svc_slots *ss);
void ids_mark_stale(struct lb_state *lb);
unsigned int stale_ids_delete(struct lb_state *lb);

/* ---- ct.c ---- */
/* A conntrack pass when one is due (every GC_INTERVAL_MS). */
void ct_tick(struct agent *a);

/* ---- state.c ---- */
int state_write_tmp(struct agent *a, const struct svc *s, struct api_error *e);
void state_commit(struct agent *a, const struct svc *s);
int state_write(struct agent *a, const struct svc *s, struct api_error *e);
void state_discard(struct agent *a, const struct svc *s, const char *suffix);
/*
 * Hand every persisted spec to load() (which takes it over), with its file's path for
 * messages; uncommitted .tmp files go. 0, or -errno when the directory cannot be opened.
 */
int state_load(struct agent *a, void (*load)(struct agent *a, struct service_spec *spec,
					     const char *path));

/* ---- adopt.c ---- */
bool svc_adopt(struct lb_state *lb, struct svc *s);
void svc_restore(struct agent *a, struct service_spec *spec, const char *path);
void sweep_stale(struct lb_state *lb, bool keep_unowned);

#endif /* PODLANED_LB_LB_INT_H */
