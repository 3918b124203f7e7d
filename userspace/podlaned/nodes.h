/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nodes.h - the other nodes of the cluster as the datapath needs them: which node owns which
 * pod CIDR and how to reach it (direct routing over a shared link, or VXLAN). Fed by podlanectl
 * (standalone) or by the control-plane sync (sync.c); both go through these functions, which
 * validate, write the podlane_nodes map and keep the records in <state-dir>/nodes/.
 */
#ifndef PODLANED_NODES_H
#define PODLANED_NODES_H

#include <stdbool.h>
#include <netinet/in.h>
#include <json-c/json.h>

#include "api.h"

struct agent;
struct op_error;

#define PODLANE_NODE_NAME_LEN	64

enum node_routing {
	NODE_ROUTING_DIRECT = 0,	/* nodes share a link: FIB lookup + bpf_redirect_neigh */
	NODE_ROUTING_VXLAN = 1,		/* encapsulate to node_ip through the vxlan device */
};

struct node_record {
	char		name[PODLANE_NODE_NAME_LEN];
	in_addr_t	node_ip;	/* network byte order */
	in_addr_t	pod_cidr;	/* network byte order */
	unsigned int	pod_cidr_len;
};

/* Create or replace a remote node; refuses (op_error filled, nothing changed) a bad record,
 * this node's own name, or a pod CIDR that overlaps another node's. */
int node_upsert(struct agent *a, const struct node_record *n, struct op_error *e);

/* Remove a remote node and its route; idempotent. */
int node_remove(struct agent *a, const char *name, struct op_error *e);

/* Append every known node to arr (objects with name, node_ip, pod_cidr, routing). */
void node_list(struct agent *a, struct json_object *arr);

#endif /* PODLANED_NODES_H */
