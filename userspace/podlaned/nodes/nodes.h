/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nodes/nodes.h - the other nodes of the cluster as the datapath needs them: which node owns
 * which pod CIDR and how to reach it (direct routing over a shared link, or VXLAN). Fed by
 * podlanectl (standalone) or by the control-plane sync (sync/); both go through these
 * functions, which validate, write the podlane_nodes map (nodes/ is its one writer), keep the
 * kernel routes and the records in <state-dir>/nodes/.
 */
#ifndef PODLANED_NODES_NODES_H
#define PODLANED_NODES_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>

struct agent;
struct api_error;

#define PODLANE_NODE_NAME_LEN	64

/* The vxlan device podlaned creates for --routing vxlan unless --vxlan-dev names another. */
#define PODLANE_VXLAN_DEV	"pl-vxlan"

struct node_record {
	char		name[PODLANE_NODE_NAME_LEN];
	in_addr_t	node_ip;	/* network byte order */
	in_addr_t	pod_cidr;	/* network byte order */
	unsigned int	pod_cidr_len;
	/*
	 * The record came from the control plane (sync/), not from podlanectl: a full list of
	 * the store that no longer has it removes it, also when it was deleted while podlaned
	 * was down. Kept in the state file.
	 */
	bool		from_sync;
};

/*
 * Fill n from the text forms ("10.0.0.2", "10.244.2.0/24") and check the record on its own
 * (name, unicast node IP, CIDR without host bits): PODLANE_ERR_INVALID_CONFIG with
 * "<field>: <problem>", so a sync can skip one bad record with its reason. Pure: no agent.
 */
int node_record_parse(struct node_record *n, const char *name, const char *node_ip,
		      const char *pod_cidr, struct api_error *e);

/*
 * Create or replace a remote node; refuses (api_error filled, nothing changed) a bad record,
 * this node's own name or addresses (as the node IP or inside the pod CIDR), a pod CIDR that
 * overlaps another node's or this node's pools, a node IP inside this node's pools, and a node
 * whose kernel route the kernel refuses. changed (may be NULL): false when the same record was
 * in place (its map entry and kernel route are put back when something removed them).
 */
int node_upsert(struct agent *a, const struct node_record *n, bool *changed, struct api_error *e);
/* Remove a remote node and its route; idempotent. found (may be NULL): there was one. */
int node_remove(struct agent *a, const char *name, bool *found, struct api_error *e);

typedef int (*node_walk_cb)(const struct node_record *n, bool installed, void *data);
/*
 * cb for every known node; installed: podlane_nodes holds its route as the record says and its
 * kernel route is in place (when the agent keeps them).
 */
int node_walk(struct agent *a, node_walk_cb cb, void *data);
size_t nodes_count(struct agent *a);

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
 * vxlan device cannot be set up or the map cannot be opened.
 */
int nodes_open(struct agent *a);
void nodes_close(struct agent *a);
/* --uninstall: the kernel routes and the vxlan device recorded in state_dir. */
int nodes_uninstall(const char *state_dir);

#endif /* PODLANED_NODES_NODES_H */
