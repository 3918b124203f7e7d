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

/*
 * Extensions beyond the contract above (nodes.c):
 *
 * node_record_parse() fills n from the text forms ("10.0.0.2", "10.244.2.0/24") and checks
 * the record on its own (name, unicast node IP, CIDR without host bits); node_upsert() runs
 * the same checks plus those against the other nodes and this node. Same codes as
 * node_upsert (PODLANE_ERR_INVALID_CONFIG), so a sync can skip one bad record with its reason.
 */
int node_record_parse(struct node_record *n, const char *name, const char *node_ip,
		      const char *pod_cidr, struct op_error *e);

/* node_upsert() that also says whether anything changed (false: the same record was there). */
int node_upsert_changed(struct agent *a, const struct node_record *n, bool *changed,
			struct op_error *e);

/* The vxlan device podlaned creates for --routing vxlan unless --vxlan-dev names another. */
#define PODLANE_VXLAN_DEV	"pl-vxlan"

/*
 * podlaned's node options, in this order: --node-name, --node-ip, --routing, --vxlan-dev.
 * Checks value and stores it in a; prints why to stderr and returns -1 when it is wrong.
 */
enum { NODES_OPT_NAME, NODES_OPT_IP, NODES_OPT_ROUTING, NODES_OPT_VXLAN_DEV };
int nodes_option(struct agent *a, int which, const char *value);

/* --routing value: "direct" or "vxlan" -> enum node_routing; -1 for anything else. */
int node_routing_parse(const char *s);
const char *node_routing_name(int routing);

/*
 * Start-up, after the datapath is loaded and the uplink attached: creates or adopts the vxlan
 * device (VXLAN), reads <state-dir>/nodes/ and makes podlane_nodes match it, updating entries
 * in place so cross-node traffic keeps flowing through an agent restart. Fatal only when the
 * vxlan device cannot be set up.
 */
int nodes_open(struct agent *a);
void nodes_close(struct agent *a);
/* --uninstall: delete the vxlan device recorded in state_dir (its tc filter goes with it). */
int nodes_uninstall(const char *state_dir);
/*
 * The MTU a pod gets when its CNI config names none: the uplink's MTU for direct routing, 50
 * bytes less for VXLAN (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14), so that a pod's
 * full-size packet still fits the uplink once encapsulated and nothing relies on
 * fragmentation or PMTU discovery. 1500 (1450 for VXLAN) without an uplink.
 */
unsigned int nodes_pod_mtu(struct agent *a);
/* "routing", "node_name", "node_ip", "vxlan_dev", "nodes" (count) for the status op. */
void nodes_status(struct agent *a, struct json_object *o);

/* API ops node_add, node_del, node_list (api.h). */
struct json_object *nodes_op_add(struct agent *a, struct json_object *req);
struct json_object *nodes_op_del(struct agent *a, struct json_object *req);
struct json_object *nodes_op_list(struct agent *a, struct json_object *req);

#endif /* PODLANED_NODES_H */
