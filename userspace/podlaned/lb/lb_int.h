/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * lb/lb_int.h - what the files of lb/ share and nothing outside lb/ sees: struct lb_state,
 * which agent.lb points at.
 */
#ifndef PODLANED_LB_LB_INT_H
#define PODLANED_LB_LB_INT_H

#include <limits.h>
#include <stdbool.h>
#include <time.h>

#include "ct_gc.h"
#include "lb/lb.h"
#include "podlane.h"

struct sock_lb;
struct xdp_uplink;
struct svc;
struct backend_ref;

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

#endif /* PODLANED_LB_LB_INT_H */
