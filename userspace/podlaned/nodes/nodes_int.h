/* SPDX-License-Identifier: GPL-2.0-only */
/* nodes/nodes_int.h - what the files of nodes/ share; nobody else. */
#ifndef PODLANED_NODES_INT_H
#define PODLANED_NODES_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "nl.h"
#include "nodes/nodes.h"

struct agent;
struct api_error;

/* rtm_protocol of the kernel routes to remote pod CIDRs ("ip route show proto 112"). */
#define PODLANE_RTPROT		112

struct node_table {
	struct node_record *v;
	size_t n, cap;
	int map_fd;		/* podlane_nodes, read-write: nodes.c is its writer */
};

/* record.c: the checks that need nothing but the record itself. */
int node_record_check(const struct node_record *n, struct api_error *e);

/* store.c: <state-dir>/nodes/<name>, one JSON object each. */
int node_store_write(struct agent *a, const struct node_record *n);
int node_store_unlink(struct agent *a, const char *name);
int node_store_read(const char *path, struct node_record *n, struct api_error *e);
typedef void (*node_store_cb)(const char *file, const struct node_record *n, void *data);
/* cb for every readable record under state_dir; unreadable ones are logged and skipped. */
void node_store_walk(const char *state_dir, node_store_cb cb, void *data);

/*
 * kroute.c: the kernel route to n's pods for the node's own stack. kroute_install: 0, or
 * -errno with e (when not NULL) saying why the kernel refused it.
 */
int kroute_install(struct agent *a, const struct node_record *n, struct api_error *e);
void kroute_remove(struct agent *a, const struct node_record *n);
/* The kernel routes of ours, read once, to tell for many nodes whether theirs is in place. */
struct kroute_set {
	struct nl_route *v;
	size_t n;
	bool wanted;		/* false: this agent keeps no kernel routes, every node has its */
};
int kroute_set_load(struct agent *a, struct kroute_set *set);
bool kroute_set_has(struct agent *a, const struct kroute_set *set, const struct node_record *n);
void kroute_set_free(struct kroute_set *set);
/* Start-up: exactly one route of ours per record on the uplink and the vxlan device. */
void kroutes_sync(struct agent *a);
void kroutes_uninstall(struct nl_sock *nl, const char *state_dir);

/* vxlan.c: the collect-metadata vxlan device of --routing vxlan. */
int vxlan_setup(struct agent *a);
/* An earlier run's device that this run does not use. */
void vxlan_forget(struct agent *a);
int vxlan_uninstall(struct nl_sock *nl, const char *state_dir);

#endif /* PODLANED_NODES_INT_H */
