/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * lb/lb.h - podlaned's services: the socket LB and uplink XDP programs with their links
 * (lb/datapath.c), and the service table that fills podlane_svc/podlane_backend/podlane_maglev
 * from validated specs, persists them and answers service_add/service_del/service_list
 * (lb/service.c). lb/ is the one writer of podlane_svc, podlane_backend, podlane_maglev,
 * podlane_affin and, besides the datapath itself, podlane_ct (the conntrack collector).
 *
 * What the agent keeps in memory is a cache of <state-dir>/services/ and of the maps: on start
 * it reads the persisted specs, adopts map entries that already say the same thing and
 * rewrites the others, so a restart never interrupts a service.
 */
#ifndef PODLANED_LB_LB_H
#define PODLANED_LB_LB_H

#include <limits.h>
#include <stdbool.h>
#include <time.h>
#include <json-c/json.h>

#include "ct_gc.h"
#include "podlane.h"
#include "service_spec.h"

struct agent;
struct sock_lb;
struct xdp_uplink;
struct svc;
struct backend_ref;
struct op_error;

#define LB_MAX_NODE_IPS		16
#define LB_MAGLEV_PENDING	128	/* Maglev tables (open fds) installed per batch */

/* Everything the service side of the agent owns; agent.lb points here. */
struct lb_state {
	/* lb/datapath.c */
	struct sock_lb *sock_skel;
	struct xdp_uplink *xdp_skel;
	char cgroup[PATH_MAX];		/* where the sock_addr programs are attached */
	int svc_fd, be_fd, maglev_fd, affin_fd, lbstat_fd, ct_fd;

	/* lb/service.c */
	struct svc *head, *tail;	/* every service, oldest first */
	struct svc **buckets;		/* by namespace/name */
	unsigned int nservices;
	struct svc **owner;		/* svc id -> service using it; see service.c */
	struct backend_ref **be_refs;	/* backend address -> services using it */
	unsigned int be_draining;	/* addresses in no service, flows may remain */
	bool stale_pending;		/* unowned map entries wait for the store's first list */
	__u32 mg_ids[LB_MAGLEV_PENDING];	/* Maglev tables not in podlane_maglev yet */
	__u32 mg_fds[LB_MAGLEV_PENDING];
	unsigned int mg_pending;
	int mg_mode;			/* how inner tables are made: enum in service.c */
	__u32 next_id;
	__be32 node_ips[LB_MAX_NODE_IPS];	/* uplink addresses: NodePort frontends */
	unsigned int n_node_ips;
	struct timespec last_tick, last_gc;
	struct ct_gc_stats gc;		/* last conntrack pass */
	bool gc_ran;
};

/* ---- lb/datapath.c ---- */
/*
 * Load sock_lb (and xdp_uplink when the agent has an uplink) against the pinned maps and
 * attach them through links pinned under <pin-root>/links/: a restart updates the pinned
 * links to the new programs (same link ids), so the hooks are never attached twice and never
 * missing. cgroup: the --cgroup option, NULL for the cgroup v2 root.
 */
int lb_datapath_open(struct agent *a, const char *cgroup);
void lb_datapath_close(struct agent *a);
/* One attached LB program and its pinned link, for status. */
struct lb_prog {
	const char *name;	/* "sock_connect4", ..., "xdp_from_uplink" */
	const char *hook;	/* "cgroup sock_addr" or "xdp, uplink" */
	__u32 prog_id, link_id;
	bool xdp;
	__u32 ifindex;		/* xdp: the uplink */
	const char *xdp_mode;	/* xdp: "native", "generic", ... */
};

/* The pinned LB links (at most 5); returns how many were filled in. */
unsigned int lb_datapath_programs(struct agent *a, struct lb_prog *out, unsigned int max);

/* ---- lb/service.c ---- */
/*
 * store: services also come from a cluster store (--etcd-endpoints). Its services have no
 * state file; the map entries they left over a restart keep serving until the store's first
 * full list claims them (adopted as they are when unchanged) or service_store_sweep() drops
 * them. Without a store, whatever no state file claims is removed at once.
 */
int service_init(struct agent *a, bool store);
void service_fini(struct agent *a);
/* Called from the event loop at least once a second; does its own pacing. */
void service_tick(struct agent *a);
/*
 * Services from the cluster store (sync/): gen is the store's resync generation.
 * service_store_put takes spec over (freed on error too; e says why, nothing changed);
 * service_store_del deletes only a service that came from the store (true if it did);
 * service_store_sweep deletes the store's services not confirmed at gen (after a full list)
 * and what the maps kept over a restart that nobody claimed; returns how many services went.
 */
int service_store_put(struct agent *a, struct service_spec *spec, __u32 gen, struct op_error *e);
bool service_store_del(struct agent *a, const char *name);
unsigned int service_store_sweep(struct agent *a, __u32 gen);
/* Install what service_store_put left pending (Maglev tables): once per batch of puts. */
void service_store_flush(struct agent *a);
unsigned int service_store_count(struct agent *a);

struct json_object *op_service_add(struct agent *a, struct json_object *req);
struct json_object *op_service_del(struct agent *a, struct json_object *req);
struct json_object *op_service_list(struct agent *a, struct json_object *req);

#endif /* PODLANED_LB_LB_H */
