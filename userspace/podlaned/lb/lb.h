/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * lb/lb.h - podlaned's services: the socket LB and uplink XDP programs with their links
 * (lb/datapath.c), and the service table that turns validated specs (service_spec.h) into
 * podlane_svc/podlane_backend/podlane_maglev entries, persists podlanectl's and takes the
 * cluster store's (lb/service.c and the files lb_int.h lists). lb/ is the one writer of
 * podlane_svc, podlane_backend, podlane_maglev, podlane_affin (lb/maps.c) and, besides the
 * datapath itself, podlane_ct (the conntrack collector, lb/ct.c).
 *
 * What the agent keeps in memory is a cache of <state-dir>/services/ and of the maps: on start
 * it reads the persisted specs, adopts map entries that already say the same thing and
 * rewrites the others, so a restart never interrupts a service.
 *
 * Nothing here speaks JSON: api/service_ops.c turns requests into specs and these views into
 * replies.
 */
#ifndef PODLANED_LB_LB_H
#define PODLANED_LB_LB_H

#include <stdbool.h>
#include <linux/types.h>

#include "podlane.h"
#include "service_spec.h"

struct agent;
struct api_error;

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
	const char *cgroup;	/* not xdp: where the sock_addr programs are attached */
};

/* The pinned LB links (at most 5); returns how many were filled in. */
unsigned int lb_datapath_programs(struct agent *a, struct lb_prog *out, unsigned int max);
/* Node-wide podlane_lbstat slot (enum lb_stat) summed over CPUs: 0, or -errno. */
int lb_stat_read(struct agent *a, __u32 slot, __u64 *sum);

/* ---- lb/service.c: lifecycle ---- */
/*
 * store: services also come from a cluster store (--etcd-endpoints). Its services have no
 * state file; the map entries they left over a restart keep serving until the store's first
 * full list claims them (adopted as they are when unchanged) or service_store_sweep() drops
 * them. Without a store, whatever no state file claims is removed at once.
 */
int service_init(struct agent *a, bool store);
void service_fini(struct agent *a);
/* Called from the event loop after every round of events (at least once a second). */
void service_tick(struct agent *a);

/* ---- lb/service.c: the cluster store (sync/) ---- */
/*
 * gen is the store's resync generation.
 * service_store_put takes spec over (freed on error too; e says why, nothing changed);
 * service_store_del deletes only a service that came from the store (true if it did);
 * service_store_sweep deletes the store's services not confirmed at gen (after a full list)
 * and what the maps kept over a restart that nobody claimed; returns how many services went.
 */
int service_store_put(struct agent *a, struct service_spec *spec, __u32 gen, struct api_error *e);
bool service_store_del(struct agent *a, const char *name);
unsigned int service_store_sweep(struct agent *a, __u32 gen);
/* Install what service_store_put left pending (Maglev tables): once per batch of puts. */
void service_store_flush(struct agent *a);
unsigned int service_store_count(struct agent *a);

/* ---- lb/service.c: podlanectl's services (the local API, api/service_ops.c) ---- */
/*
 * Add or replace the service spec describes, persisted in <state-dir>/services/. spec is taken
 * over (freed on error too). 0 with *changed false when the maps already said the same; -1
 * with e set (PODLANE_ERR_CONFLICT, _MAP_FULL, _IO, ...) and nothing changed.
 */
int service_upsert(struct agent *a, struct service_spec *spec, bool *changed,
		   struct api_error *e);
/* Delete the service "namespace/name" and its state file; PODLANE_ERR_NOT_FOUND in e. */
int service_delete(struct agent *a, const char *name, struct api_error *e);

enum service_frontend_kind {
	SERVICE_FE_CLUSTER_IP,
	SERVICE_FE_EXTERNAL_IP,
	SERVICE_FE_NODEPORT,
};

/* "ClusterIP", "ExternalIP", "NodePort". */
const char *service_frontend_kind_name(enum service_frontend_kind kind);

/* One podlane_svc entry of a service, with what its port's svc id holds. */
struct service_frontend {
	enum service_frontend_kind kind;
	__be32	addr;
	__u16	port;		/* host order */
	__u8	proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	bool	maglev;		/* PODLANE_SVC_F_MAGLEV: picked by the port's Maglev table */
	__u32	svc_id;
	__u16	active;		/* active backends (slots 0..active-1) */
	__u16	local_active;	/* of them local (the first ones) */
	__u32	slots;		/* every backend slot, terminating and drained included */
};

/* Flows of one service port at the last conntrack pass (lb/ct.c). */
struct service_port_counters {
	__u32	svc_id;
	__u64	flows, packets, bytes;
};

/* A service as lb/ holds it: everything points into lb/ and lives while the callback runs. */
struct service_view {
	const char *name;			/* namespace/name */
	const struct service_spec *spec;
	const __s8 *local;		/* resolved locality per spec backend: 1 local, 0 not */
	const struct service_frontend *frontends;
	unsigned int nfrontends;
	const struct service_port_counters *counters;	/* spec->nports of them */
};

/* Return non-zero to stop a walk; that value is passed back. */
typedef int (*service_view_cb)(const struct service_view *v, void *data);

/* cb for the service "namespace/name": its return, -ENOENT when there is none, or -ENOMEM. */
int service_get(struct agent *a, const char *name, service_view_cb cb, void *data);
/* cb for services [offset, offset + limit) in the order they were added: 0, cb's or -ENOMEM. */
int service_walk(struct agent *a, unsigned long offset, unsigned long limit, service_view_cb cb,
		 void *data);
unsigned int service_count(struct agent *a);

/* podlane_ct as the conntrack collector (lb/ct.c) last saw it. */
struct lb_conntrack {
	bool	available;	/* podlane_ct is open: per-packet flows are tracked */
	bool	collected;	/* a pass ran: the figures below are from it */
	__u64	live;
	__u64	deleted_last_pass;
	__u32	max_entries;
};

void lb_conntrack_read(struct agent *a, struct lb_conntrack *ct);

#endif /* PODLANED_LB_LB_H */
