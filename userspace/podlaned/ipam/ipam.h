/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ipam/ipam.h - podlane's own address management, one directory per CNI network under
 * <state-dir>/ipam/ (layout in ipam.c). Used by endpoint/ (allocate, release) and nodes/
 * (a remote pod CIDR must not overlap this node's pools).
 */
#ifndef PODLANED_IPAM_IPAM_H
#define PODLANED_IPAM_IPAM_H

#include <stdbool.h>
#include <net/if.h>
#include <netinet/in.h>

#include "podlane.h"

struct agent;
struct api_error;
struct subnet4;

/*
 * Allocate an address of subnet ("10.244.0.0/24") in network for container_id+ifname.
 * *fresh: a new file was created (false: nothing was allocated).
 */
int ipam_alloc(struct agent *a, const char *network, const char *subnet, const char *container_id,
	       const char *ifname, in_addr_t *addr, bool *fresh, struct api_error *e);
/*
 * Release every address network has allocated to container_id+ifname; returns how many, or
 * -errno when one could not be released (it stays allocated, in *stuck when stuck is not NULL:
 * a later release can finish).
 */
int ipam_release(struct agent *a, const char *network, const char *container_id,
		 const char *ifname, in_addr_t *stuck);
/*
 * Release addr in network only when container_id+ifname own it; returns 1 when released, 0
 * when it is not theirs (or not allocated), -errno when it could not be released.
 */
int ipam_release_addr(struct agent *a, const char *network, in_addr_t addr,
		      const char *container_id, const char *ifname);

/* One allocation as found on disk. */
struct ipam_entry {
	in_addr_t addr;
	char container_id[PODLANE_CONTAINER_ID_LEN];
	char ifname[PODLANE_IFNAME_LEN];
};

typedef int (*ipam_walk_cb)(const char *network, const struct ipam_entry *ent, void *data);
/* Call cb for every allocation of network, or of every network when network is NULL. */
int ipam_walk(struct agent *a, const char *network, ipam_walk_cb cb, void *data);

/* One network's pool: its subnet (text as recorded, "" when none) and addresses out. */
struct ipam_pool {
	const char *network;
	const char *subnet;
	unsigned int allocated;
};

typedef int (*ipam_pool_cb)(const struct ipam_pool *pool, void *data);
/* Call cb for every network's pool until it returns non-zero (which is returned). */
int ipam_pools(struct agent *a, ipam_pool_cb cb, void *data);

/* ---- rules.c: the node's own addresses ---- */

/* An address of this node, and where it is: "--node-ip" or the interface that holds it. */
struct ipam_node_addr {
	in_addr_t addr;
	char where[IF_NAMESIZE + 16];
};

/*
 * The first address of this node inside net/len (len 32: is net one of them?): --node-ip, or an
 * address of one of the interfaces in the agent's netns (the reserved ranges of core/addr.h
 * aside). 1 with *found filled, 0 when there is none, -errno when the interfaces cannot be
 * read.
 */
int ipam_node_addr_in(struct agent *a, in_addr_t net, unsigned int len,
		      struct ipam_node_addr *found);

#endif /* PODLANED_IPAM_IPAM_H */
