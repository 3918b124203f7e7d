/* SPDX-License-Identifier: GPL-2.0-only */
/* endpoint/endpoint_int.h - what endpoint.c, reconcile.c and reaper.c share; nobody else. */
#ifndef PODLANED_ENDPOINT_INT_H
#define PODLANED_ENDPOINT_INT_H

#include <stdbool.h>
#include <sys/stat.h>
#include <linux/types.h>

#include "podlane.h"
#include "nl.h"

struct agent;

/* Find the endpoint of container_id+ifname in network; thorough also finds one whose veth is
 * gone (a walk over every record). */
bool endpoint_find(struct agent *a, const char *container_id, const char *ifname,
		   const char *network, __u32 *ifindex, struct endpoint_meta *meta, bool thorough);
/*
 * Tear an endpoint down: fast-path entry, veth, record, counters, address. Returns 0, or -errno
 * when the address could not be released (all else is done; it stays allocated).
 */
int endpoint_remove(struct agent *a, __u32 ifindex, const struct endpoint_meta *meta);
/* The host veth is still the device we created (same ifindex and name); fills link if set. */
bool host_veth_alive(struct agent *a, __u32 ifindex, const struct endpoint_meta *meta,
		     struct nl_link *link);
/* The device group of this agent's host veths (a hash of its pin root; never 0). */
uint32_t endpoint_host_group(struct agent *a);
/* Delete the veth host_ifname if it is one with no endpoint record (an interrupted ADD's). */
void remove_stray_host_veth(struct agent *a, const char *host_ifname);
/* The record's netns path still names the namespace the endpoint was wired into. */
bool netns_alive(const struct endpoint_meta *meta);
/*
 * Open the netns file at path (from a client, or a record a client's request made) for
 * setns() without ever blocking, and fill st; returns the fd or -errno, and
 * -NETNS_ERR_NOT_NETNS when path is no network namespace. netns_strerror() words either.
 */
#define NETNS_ERR_NOT_NETNS	4096
int netns_open(const char *path, struct stat *st);
const char *netns_strerror(int err);
/* NAPI on the pod end (GRO), through a netlink socket open in the pod's netns. */
int pod_enable_gro(struct nl_sock *pod, const char *ifname);
/* The network name rules of every request: 1-63 characters, no '/', no whitespace. */
bool network_name_ok(const char *network);

/* Fault injection for tests (PODLANE_DEBUG_CRASH_AT, endpoint.c): SIGKILL at that step. */
void crash_point(const char *step);
bool crash_reaper_held(void);
void crash_announce(void);

/*
 * reaper.c: delete a host veth off the request path (inline when the queue is full); it is
 * marked condemned in the kernel before this returns, so a crash cannot forget it.
 */
void host_veth_delete(struct agent *a, int ifindex, const char *name);
/* Start-up: delete the host veths condemned before the agent stopped. */
void host_veth_reap_leftovers(struct agent *a);

#endif /* PODLANED_ENDPOINT_INT_H */
