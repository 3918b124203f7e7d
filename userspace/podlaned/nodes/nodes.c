// SPDX-License-Identifier: GPL-2.0-only
/*
 * nodes/nodes.c - the other nodes of the cluster (nodes/nodes.h): the table of known nodes, the
 * checks of a record against this node and the others, and podlane_nodes (this file is its one
 * writer). Records on disk are in store.c, kernel routes in kroute.c, the vxlan device in
 * vxlan.c.
 *
 * The records are the source of truth: podlane_nodes carries only what the datapath needs (no
 * names), so at start-up the pinned map is made to match the records entry by entry, in place,
 * and traffic to other nodes never stops while the agent restarts.
 *
 * Pods reach other nodes through BPF alone; the node's own stack (a ping or a TCP connect from
 * the node, NodePort replies it routes) needs a kernel route per remote pod CIDR. The agent
 * writes them itself, tagged with rtm_protocol PODLANE_RTPROT so that start-up can reconcile
 * them (adopt what is right, fix or remove what is not) and --uninstall can find them:
 *   direct: <pod CIDR> via <node IP> dev <uplink> - the node's stack sends as a router would;
 *           the receiving uplink's tc_from_uplink delivers into the pod.
 *   VXLAN:  <pod CIDR> encap ip id <VNI> dst <node IP> dev <vxlan dev> - a lightweight tunnel
 *           route: the collect-metadata vxlan device takes destination and key from the route
 *           itself, as it takes them from tc_from_pod's tunnel key for pods, so no extra BPF
 *           program is needed on the device's egress. The device is NOARP (the far end's
 *           tc_from_tunnel rewrites the inner Ethernet header anyway, and an ARP request has
 *           no route to carry its tunnel key). The inner source is this node's own address,
 *           which the far end accepts because podlane_nodes also maps each node's address
 *           (PODLANE_NODE_F_ADDR, VXLAN only) to that node.
 * The pod's reply to a node address is not a pod CIDR: it leaves through the pod's node stack
 * and the underlay, as any pod's traffic to a host does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "core/addr.h"
#include "core/agent.h"
#include "datapath/loader.h"
#include "ipam/ipam.h"
#include "log.h"
#include "nodes/nodes.h"
#include "nodes/nodes_int.h"
#include "policy/policy.h"

static char host_name[PODLANE_NODE_NAME_LEN];

static struct node_record *node_find(struct agent *a, const char *name)
{
	struct node_table *t = a->nodes;
	size_t i;

	for (i = 0; t && i < t->n; i++)
		if (!strcmp(t->v[i].name, name))
			return &t->v[i];
	return NULL;
}

struct subnet_clash {
	const struct node_record *n;
	char network[PODLANE_NETWORK_LEN];
	char subnet[CIDR4_STRLEN];
};

static int pool_clash(const struct ipam_pool *pool, void *data)
{
	struct subnet_clash *c = data;
	struct subnet4 sn;

	if (subnet_parse(pool->subnet, &sn) ||
	    !cidr4_overlap(sn.net, sn.prefix_len, c->n->pod_cidr, c->n->pod_cidr_len))
		return 0;
	snprintf(c->network, sizeof(c->network), "%s", pool->network);
	snprintf(c->subnet, sizeof(c->subnet), "%s", pool->subnet);
	return 1;
}

/* The same for the node's address: a pool of this node holding it. */
static int pool_holds_ip(const struct ipam_pool *pool, void *data)
{
	struct subnet_clash *c = data;
	struct subnet4 sn;

	if (subnet_parse(pool->subnet, &sn) || !subnet_contains(&sn, c->n->node_ip))
		return 0;
	snprintf(c->network, sizeof(c->network), "%s", pool->network);
	snprintf(c->subnet, sizeof(c->subnet), "%s", pool->subnet);
	return 1;
}

/* The checks against this node and the other nodes; the record itself is already sane. */
static int check_against(struct agent *a, const struct node_record *n, struct api_error *e)
{
	struct subnet_clash c = { .n = n };
	char ip[INET_ADDRSTRLEN], cidr[CIDR4_STRLEN];
	struct node_table *t = a->nodes;
	struct ipam_node_addr own;
	size_t i;
	int ret;

	if (!strcmp(n->name, a->node_name))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "name: '%s' is this node "
			       "(--node-name); its own pods need no route", n->name);
	ret = ipam_node_addr_in(a, n->node_ip, 32, &own);
	if (ret > 0)
		return api_fail(e, PODLANE_ERR_CONFLICT, "node_ip: %s is this node's own address "
			       "(%s)", ip4_str(n->node_ip, ip), own.where);
	/*
	 * The datapath sends a pod's packet for a remote pod CIDR to that node: a CIDR holding an
	 * address of this node would take the pods' traffic to it away from this node's stack.
	 */
	if (ret >= 0)
		ret = ipam_node_addr_in(a, n->pod_cidr, n->pod_cidr_len, &own);
	if (ret > 0)
		return api_fail(e, PODLANE_ERR_CONFLICT, "pod_cidr: holds this node's own address "
			       "%s (%s)", ip4_str(own.addr, ip), own.where);
	if (ret < 0)
		return api_fail(e, PODLANE_ERR_INTERNAL, "failed to read this node's addresses: %s",
			       strerror(-ret));
	for (i = 0; i < t->n; i++) {
		const struct node_record *o = &t->v[i];

		if (!strcmp(o->name, n->name))
			continue;
		if (cidr4_overlap(o->pod_cidr, o->pod_cidr_len, n->pod_cidr, n->pod_cidr_len))
			return api_fail(e, PODLANE_ERR_CONFLICT, "pod_cidr: overlaps %s of node "
				       "'%s'", cidr4_str(o->pod_cidr, o->pod_cidr_len, cidr),
				       o->name);
		if (o->node_ip == n->node_ip)
			return api_fail(e, PODLANE_ERR_CONFLICT, "node_ip: %s already belongs to "
				       "node '%s'", ip4_str(n->node_ip, ip), o->name);
		if (cidr4_overlap(o->pod_cidr, o->pod_cidr_len, n->node_ip, 32))
			return api_fail(e, PODLANE_ERR_CONFLICT, "node_ip: %s lies inside the pod "
				       "CIDR of node '%s'", ip4_str(n->node_ip, ip), o->name);
		if (cidr4_overlap(n->pod_cidr, n->pod_cidr_len, o->node_ip, 32))
			return api_fail(e, PODLANE_ERR_CONFLICT, "pod_cidr: contains the address of "
				       "node '%s'", o->name);
	}
	/* This node's own pod CIDRs are the subnets its IPAM hands out. */
	if (ipam_pools(a, pool_clash, &c))
		return api_fail(e, PODLANE_ERR_CONFLICT, "pod_cidr: overlaps this node's own pod "
			       "CIDR %s (network '%s')", c.subnet, c.network);
	if (ipam_pools(a, pool_holds_ip, &c))
		return api_fail(e, PODLANE_ERR_CONFLICT, "node_ip: %s lies inside this node's own "
			       "pod CIDR %s (network '%s')", ip4_str(n->node_ip, ip), c.subnet,
			       c.network);
	return 0;
}

static int node_value_for(struct agent *a, struct node_value *v, const struct node_record *n,
			  struct api_error *e)
{
	memset(v, 0, sizeof(*v));
	v->node_ip = n->node_ip;
	if (a->routing == NODE_ROUTING_VXLAN) {
		if (a->vxlan_ifindex <= 0)
			return api_fail(e, PODLANE_ERR_INTERNAL, "the vxlan device is not set up");
		v->ifindex = a->vxlan_ifindex;
		v->flags = PODLANE_NODE_F_VXLAN;
		v->vni = PODLANE_VXLAN_VNI;
		return 0;
	}
	if (a->uplink_ifindex <= 0)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "direct routing sends through the "
			       "uplink, and podlaned runs without --uplink");
	v->ifindex = a->uplink_ifindex;
	return 0;
}

static struct node_key node_key_of(const struct node_record *n)
{
	return (struct node_key){ .prefixlen = n->pod_cidr_len, .addr = n->pod_cidr };
}

/* VXLAN: the /32 of the node's own address, the inner source its stack sends with. */
static bool addr_entries(struct agent *a)
{
	return a->routing == NODE_ROUTING_VXLAN;
}

static struct node_key addr_key_of(const struct node_record *n)
{
	return (struct node_key){ .prefixlen = 32, .addr = n->node_ip };
}

static struct node_value addr_value_of(const struct node_value *v)
{
	struct node_value av = *v;

	av.flags |= PODLANE_NODE_F_ADDR;
	return av;
}

/* True when podlane_nodes holds what n needs (its pod CIDR, and its address for VXLAN). */
static bool node_installed(struct agent *a, const struct node_record *n,
			   const struct node_value *want)
{
	struct node_key key = node_key_of(n);
	struct node_value cur, av;

	if (bpf_map_lookup_elem(a->nodes->map_fd, &key, &cur) || memcmp(&cur, want, sizeof(cur)))
		return false;
	if (!addr_entries(a))
		return true;
	key = addr_key_of(n);
	av = addr_value_of(want);
	return !bpf_map_lookup_elem(a->nodes->map_fd, &key, &cur) && !memcmp(&cur, &av, sizeof(cur));
}

static int table_append(struct node_table *t, const struct node_record *n)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		struct node_record *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = *n;
	return 0;
}

/*
 * A failed upsert takes back the kernel route it installed for n: the old record's route when
 * it had the same prefix (replaced in place), else n's own.
 */
static void kroute_undo(struct agent *a, const struct node_record *old,
			const struct node_record *n)
{
	if (old && old->pod_cidr == n->pod_cidr && old->pod_cidr_len == n->pod_cidr_len)
		kroute_install(a, old, NULL);
	else
		kroute_remove(a, n);
}

int node_upsert(struct agent *a, const struct node_record *in, bool *changed, struct api_error *e)
{
	struct node_record n = *in, *old;
	struct node_key key, old_key;
	struct node_value val;
	bool same_key, dummy;
	int err;

	if (!changed)
		changed = &dummy;
	*changed = false;
	if (!a->nodes)
		return api_fail(e, PODLANE_ERR_TRY_AGAIN, "podlaned is still starting");
	n.name[sizeof(n.name) - 1] = '\0';
	if (node_record_check(&n, e) || check_against(a, &n, e) || node_value_for(a, &val, &n, e))
		return -1;
	old = node_find(a, n.name);
	if (old && old->node_ip == n.node_ip && old->pod_cidr == n.pod_cidr &&
	    old->pod_cidr_len == n.pod_cidr_len && old->from_sync == n.from_sync) {
		/*
		 * Same record: only repair what something removed or changed. Writing the kernel
		 * route again (a replace with the same route) is how it is checked; a route the
		 * kernel now refuses fails the add, the record stays as it was.
		 */
		if (kroute_install(a, &n, e))
			return -1;
		if (node_installed(a, &n, &val))
			return 0;
	} else if (!old && a->nodes->n >= a->nodes->max) {
		return api_fail(e, PODLANE_ERR_MAP_FULL, "already %zu nodes, the most this agent "
			       "takes (--max-nodes %u; podlane_nodes has %u entries, %s)",
			       a->nodes->n, a->max_nodes, a->nodes->map_entries,
			       addr_entries(a) ? "two a node with VXLAN" : "one a node");
	} else if (kroute_install(a, &n, e)) {
		/* Nothing changed: a refused replace leaves the old route in place. */
		return -1;
	}

	/* New route first, then the record, then the old route: a failure leaves the old state. */
	key = node_key_of(&n);
	if (bpf_map_update_elem(a->nodes->map_fd, &key, &val, BPF_ANY)) {
		err = errno;
		kroute_undo(a, old, &n);
		return api_fail(e, err == E2BIG || err == ENOMEM ? PODLANE_ERR_MAP_FULL :
			       PODLANE_ERR_INTERNAL, "failed to update map 'podlane_nodes': %s",
			       strerror(err));
	}
	if (addr_entries(a)) {
		struct node_key ak = addr_key_of(&n);
		struct node_value av = addr_value_of(&val);

		if (bpf_map_update_elem(a->nodes->map_fd, &ak, &av, BPF_ANY))
			log_warn("failed to map the address of node name=%s err=\"%s\"", n.name,
				 strerror(errno));
	}
	err = node_store_write(a, &n);
	if (err) {
		if (old && old->pod_cidr == n.pod_cidr && old->pod_cidr_len == n.pod_cidr_len) {
			node_value_for(a, &val, old, e);
			bpf_map_update_elem(a->nodes->map_fd, &key, &val, BPF_ANY);
		} else {
			bpf_map_delete_elem(a->nodes->map_fd, &key);
		}
		kroute_undo(a, old, &n);
		return api_fail(e, PODLANE_ERR_IO, "failed to write node record '%s': %s", n.name,
			       strerror(-err));
	}
	if (old) {
		old_key = node_key_of(old);
		same_key = !memcmp(&old_key, &key, sizeof(key));
		if (!same_key && bpf_map_delete_elem(a->nodes->map_fd, &old_key) && errno != ENOENT)
			log_warn("failed to delete the old route of node name=%s err=\"%s\"",
				 n.name, strerror(errno));
		if (addr_entries(a) && old->node_ip != n.node_ip) {
			old_key = addr_key_of(old);
			bpf_map_delete_elem(a->nodes->map_fd, &old_key);
		}
		if (!same_key)
			kroute_remove(a, old);
		*old = n;
	} else if (table_append(a->nodes, &n)) {
		/* Map, kernel and disk have it; the next start picks it up from the record. */
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	/* Network policy sees its address as REMOTE_NODE (what an ipBlock may name). */
	policy_node_set(a, n.name, n.node_ip);
	*changed = true;
	return 0;
}

int node_remove(struct agent *a, const char *name, bool *found, struct api_error *e)
{
	struct node_table *t = a->nodes;
	struct node_record *n = node_find(a, name);
	struct node_key key;
	int err;

	if (found)
		*found = false;
	if (!t)
		return api_fail(e, PODLANE_ERR_TRY_AGAIN, "podlaned is still starting");
	if (!n)
		return 0;
	/* Record first: should the map delete fail, the next start removes the stray entry. */
	err = node_store_unlink(a, name);
	if (err)
		return api_fail(e, PODLANE_ERR_IO, "failed to remove node record '%s': %s", name,
			       strerror(-err));
	key = node_key_of(n);
	if (bpf_map_delete_elem(a->nodes->map_fd, &key) && errno != ENOENT)
		log_warn("failed to delete the route of node name=%s err=\"%s\"", name,
			 strerror(errno));
	if (addr_entries(a)) {
		key = addr_key_of(n);
		bpf_map_delete_elem(a->nodes->map_fd, &key);
	}
	kroute_remove(a, n);
	policy_node_del(a, n->name);
	*n = t->v[--t->n];
	if (found)
		*found = true;
	return 0;
}

int node_walk(struct agent *a, node_walk_cb cb, void *data)
{
	struct node_table *t = a->nodes;
	struct kroute_set routes;
	struct node_value want;
	struct api_error e;
	size_t i;
	int ret = 0;

	if (kroute_set_load(a, &routes))
		log_warn("failed to list the kernel routes to other nodes' pods");
	for (i = 0; t && i < t->n && !ret; i++) {
		bool installed = !node_value_for(a, &want, &t->v[i], &e) &&
				 node_installed(a, &t->v[i], &want) &&
				 kroute_set_has(a, &routes, &t->v[i]);

		ret = cb(&t->v[i], installed, data);
	}
	kroute_set_free(&routes);
	return ret;
}

size_t nodes_count(struct agent *a)
{
	return a->nodes ? a->nodes->n : 0;
}

/* ---- start-up and shutdown ---- */

static void load_one(const char *file, const struct node_record *n, void *data)
{
	struct agent *a = data;
	struct api_error e = {};

	if (check_against(a, n, &e)) {
		log_warn("ignoring node record name=%s err=\"%s\"", file, e.msg);
		return;
	}
	if (table_append(a->nodes, n))
		log_error("failed to load node record name=%s: out of memory", file);
	else
		policy_node_set(a, n->name, n->node_ip);
}

/* Make podlane_nodes hold exactly the loaded records, changing only what differs. */
static void nodes_sync_map(struct agent *a)
{
	struct node_table *t = a->nodes;
	struct node_key key, next, *prev = NULL, *stray = NULL;
	struct node_value val;
	size_t i, j, nstray = 0, kept = 0, written = 0, failed = 0;
	struct api_error e = {};

	for (i = 0; i < t->n; i++) {
		key = node_key_of(&t->v[i]);
		if (node_value_for(a, &val, &t->v[i], &e)) {
			log_warn("route to node not installed name=%s err=\"%s\"", t->v[i].name,
				 e.msg);
			failed++;
			continue;
		}
		if (node_installed(a, &t->v[i], &val)) {
			kept++;
		} else if (bpf_map_update_elem(a->nodes->map_fd, &key, &val, BPF_ANY)) {
			log_warn("failed to install the route of node name=%s err=\"%s\"",
				 t->v[i].name, strerror(errno));
			failed++;
		} else {
			struct node_key ak = addr_key_of(&t->v[i]);
			struct node_value av = addr_value_of(&val);

			if (addr_entries(a))
				bpf_map_update_elem(a->nodes->map_fd, &ak, &av, BPF_ANY);
			written++;
		}
	}
	/* Collect first: deleting while walking an LPM trie restarts the walk. */
	while (!bpf_map_get_next_key(a->nodes->map_fd, prev, &next)) {
		bool wanted = false;

		key = next;
		prev = &key;
		for (j = 0; j < t->n && !wanted; j++) {
			struct node_key k = node_key_of(&t->v[j]), ak = addr_key_of(&t->v[j]);

			wanted = (!memcmp(&k, &key, sizeof(k)) ||
				  (addr_entries(a) && !memcmp(&ak, &key, sizeof(ak)))) &&
				 !node_value_for(a, &val, &t->v[j], &e);
		}
		if (wanted)
			continue;
		stray = realloc(stray, (nstray + 1) * sizeof(*stray));
		if (!stray)
			return;
		stray[nstray++] = key;
	}
	for (i = 0; i < nstray; i++)
		bpf_map_delete_elem(a->nodes->map_fd, &stray[i]);
	free(stray);
	log_info("node routes in place routing=%s nodes=%zu kept=%zu written=%zu removed=%zu "
		 "failed=%zu", node_routing_name(a->routing), t->n, kept, written, nstray, failed);
}

/*
 * How many nodes this agent takes: --max-nodes, but no more than the map holds in this routing
 * mode (the loader sized a new map for --max-nodes; a pinned one keeps the size it has).
 */
static void nodes_size(struct agent *a)
{
	struct node_table *t = a->nodes;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	size_t fits;

	if (bpf_obj_get_info_by_fd(t->map_fd, &info, &len))
		info.max_entries = PODLANE_MAX_NODES;
	t->map_entries = info.max_entries;
	fits = addr_entries(a) ? info.max_entries / 2 : info.max_entries;
	t->max = a->max_nodes && a->max_nodes < fits ? a->max_nodes : fits;
	log_info("nodes this agent takes max=%zu max_nodes=%u map_entries=%u routing=%s", t->max,
		 a->max_nodes, t->map_entries, node_routing_name(a->routing));
}

int nodes_open(struct agent *a)
{
	int err;

	a->nodes = calloc(1, sizeof(*a->nodes));
	if (!a->nodes)
		return -ENOMEM;
	err = loader_map_open(a, "podlane_nodes", PIN_RW, &a->nodes->map_fd);
	if (err)
		return err;
	nodes_size(a);
	if (!a->node_name) {
		if (gethostname(host_name, sizeof(host_name) - 1))
			snprintf(host_name, sizeof(host_name), "localhost");
		a->node_name = host_name;
	}
	if (!a->vxlan_dev)
		a->vxlan_dev = PODLANE_VXLAN_DEV;

	if (a->routing == NODE_ROUTING_VXLAN) {
		err = vxlan_setup(a);
		if (err)
			return err;
	} else {
		vxlan_forget(a);
	}
	node_store_walk(a->state_dir, load_one, a);
	nodes_sync_map(a);
	kroutes_sync(a);
	return 0;
}

void nodes_close(struct agent *a)
{
	if (!a->nodes)
		return;
	if (a->nodes->map_fd >= 0)
		close(a->nodes->map_fd);
	free(a->nodes->v);
	free(a->nodes);
	a->nodes = NULL;
}

int nodes_uninstall(const char *state_dir)
{
	struct nl_sock nl;
	int err;

	err = nl_open(&nl);
	if (err) {
		log_error("failed to open rtnetlink socket: %s", strerror(-err));
		return err;
	}
	kroutes_uninstall(&nl, state_dir);
	err = vxlan_uninstall(&nl, state_dir);
	nl_close(&nl);
	return err;
}
