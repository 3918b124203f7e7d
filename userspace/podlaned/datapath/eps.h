/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * datapath/eps.h - the endpoint maps and their one writer:
 *
 *   podlane_ep_meta  host veth ifindex -> struct endpoint_meta: who the endpoint is (the
 *                    record the agent keeps about every pod it wired)
 *   podlane_ep_stat  host veth ifindex -> per-CPU struct endpoint_stats (BPF counts)
 *   podlane_eps      pod address -> struct endpoint_value: what the fast path redirects to
 *
 * Nothing else in podlaned writes them (the others open them read-only or read through
 * here). The flags of a podlane_eps entry have two owners: the endpoint's own (READY, XDP_RX),
 * which the endpoint module passes with every publish, and the address flags other modules
 * set by address (LB_BACKEND: lb/), which eps keeps for addresses whether or not an endpoint
 * has them yet and merges into every entry it writes. So a flag set once is never lost to a
 * later write, and nothing has to walk the map to repair one.
 */
#ifndef PODLANED_DATAPATH_EPS_H
#define PODLANED_DATAPATH_EPS_H

#include <stdbool.h>
#include <netinet/in.h>
#include <linux/types.h>

#include "podlane.h"

struct agent;

/* Open the three pinned maps (after datapath_open()); fatal when they cannot be opened. */
int eps_open(struct agent *a);
void eps_close(struct agent *a);

/* ---- podlane_ep_meta and podlane_ep_stat, keyed by host veth ifindex ---- */

typedef int (*eps_walk_cb)(__u32 ifindex, const struct endpoint_meta *meta, void *data);
/* Call cb for every endpoint record until it returns non-zero (which is returned). */
int eps_walk(struct agent *a, eps_walk_cb cb, void *data);
/* 0 and *meta, or -ENOENT. */
int eps_meta_get(struct agent *a, __u32 ifindex, struct endpoint_meta *meta);
/* A new record; -EEXIST when ifindex has one, -E2BIG/-ENOSPC when the map is full. */
int eps_meta_add(struct agent *a, __u32 ifindex, const struct endpoint_meta *meta);
/* Zeroed counters for a new endpoint. 0 or -errno. */
int eps_stat_reset(struct agent *a, __u32 ifindex);
/* Counters summed over CPUs; -ENOENT when ifindex has none. */
int eps_stat_read(struct agent *a, __u32 ifindex, struct endpoint_stats *sum);
/* Forget ifindex's record and counters (idempotent). */
void eps_forget(struct agent *a, __u32 ifindex);

/* ---- podlane_eps, keyed by pod address ---- */

void eps_key(struct endpoint_key *key, in_addr_t addr);
/* 0 and *val, or -ENOENT. */
int eps_lookup(struct agent *a, in_addr_t addr, struct endpoint_value *val);
/*
 * Write addr's fast-path entry: val as given (ifindex, MACs, the endpoint's own flags) plus
 * the address flags eps holds for addr. create: only when addr has no entry (-EEXIST
 * otherwise). From this call on, the fast path may redirect to the endpoint.
 */
int eps_publish(struct agent *a, in_addr_t addr, const struct endpoint_value *val, bool create);
/* Remove addr's entry when it still points at ifindex; true when one was removed. */
bool eps_unpublish(struct agent *a, in_addr_t addr, __u32 ifindex);
/*
 * Who wants to know when an address gains its entry (eps_publish) or loses it
 * (eps_unpublish, eps_sweep_orphans): lb/, whose auto-locality backends are local exactly
 * while podlane_eps has their address. A callback the module above registers is how this
 * lower layer tells it without including it. One listener (NULL: none); cb runs on the
 * writer's thread (the main loop) right after the map write, and must not write here itself.
 */
typedef void (*eps_addr_cb)(in_addr_t addr, bool present, void *data);
void eps_on_addr_change(struct agent *a, eps_addr_cb cb, void *data);
/* Set or clear one of the endpoint's own flags (PODLANE_EP_F_XDP_RX) on its entry. */
int eps_endpoint_flag(struct agent *a, in_addr_t addr, __u32 ifindex, __u32 flag, bool on);

/*
 * Address flags (PODLANE_EP_F_LB_BACKEND): held for addr whether or not an endpoint has it,
 * and applied to its entry now and on every later publish.
 */
void eps_addr_flag(struct agent *a, in_addr_t addr, __u32 flag, bool on);
bool eps_addr_flagged(struct agent *a, in_addr_t addr, __u32 flag);
/*
 * The address flags a previous agent left on podlane_eps entries, found by eps_open(): cb for
 * each address that carries flag, so its owner can take it over (or clear it).
 */
void eps_addr_flag_walk(struct agent *a, __u32 flag, void (*cb)(in_addr_t addr, void *data),
			void *data);

/* Entries of podlane_eps and podlane_ep_stat whose record is gone; returns how many went. */
int eps_sweep_orphans(struct agent *a);

#endif /* PODLANED_DATAPATH_EPS_H */
