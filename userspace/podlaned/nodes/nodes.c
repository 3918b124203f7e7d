// SPDX-License-Identifier: GPL-2.0-only
/*
 * nodes.c - the other nodes of the cluster (nodes.h): record validation, the podlane_nodes
 * map, the records under <state-dir>/nodes/, the vxlan device of --routing vxlan and the API
 * ops node_add, node_del and node_list.
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
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include <bpf/bpf.h>

#include "agent.h"
#include "log.h"
#include "nodes.h"

struct node_table {
	struct node_record *v;
	size_t n, cap;
};

static char host_name[PODLANE_NODE_NAME_LEN];

/* rtm_protocol of the kernel routes to remote pod CIDRs ("ip route show proto 112"). */
#define PODLANE_RTPROT		112

int node_routing_parse(const char *s)
{
	if (!strcmp(s, "direct"))
		return NODE_ROUTING_DIRECT;
	if (!strcmp(s, "vxlan"))
		return NODE_ROUTING_VXLAN;
	return -1;
}

const char *node_routing_name(int routing)
{
	return routing == NODE_ROUTING_VXLAN ? "vxlan" : "direct";
}

static in_addr_t prefix_mask(unsigned int len)
{
	return len ? htonl(~0U << (32 - len)) : 0;
}

/* Kubernetes node names are DNS labels or subdomains: lower-case alphanumerics, '-' and '.'. */
static bool node_name_valid(const char *s)
{
	size_t i, len = strlen(s);

	if (!len || len >= PODLANE_NODE_NAME_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
		    s[i] != '-' && s[i] != '.')
			return false;
	return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[len - 1]);
}

/* An address a node can have: not this-network, loopback, link-local, multicast or above. */
static bool node_ip_usable(in_addr_t ip)
{
	uint32_t h = ntohl(ip);

	return (h >> 24) != 0 && (h >> 24) != 127 && (h >> 16) != 0xa9fe && h < 0xe0000000U;
}

int nodes_option(struct agent *a, int which, const char *value)
{
	struct in_addr in;

	switch (which) {
	case NODES_OPT_NAME:
		if (!node_name_valid(value))
			break;
		a->node_name = value;
		return 0;
	case NODES_OPT_IP:
		if (inet_pton(AF_INET, value, &in) != 1 || !node_ip_usable(in.s_addr))
			break;
		a->node_ip = in.s_addr;
		return 0;
	case NODES_OPT_ROUTING:
		if (node_routing_parse(value) < 0)
			break;
		a->routing = node_routing_parse(value);
		return 0;
	case NODES_OPT_VXLAN_DEV:
		if (!value[0] || strlen(value) >= IF_NAMESIZE || strchr(value, '/') ||
		    strchr(value, ' '))
			break;
		a->vxlan_dev = value;
		return 0;
	}
	fprintf(stderr, "podlaned: --%s wants %s, got '%s'\n", (const char *[]){
		"node-name", "node-ip", "routing", "vxlan-dev" }[which & 3], (const char *[]){
		"a node name (a-z, 0-9, '-', '.')", "a unicast IPv4 address", "direct or vxlan",
		"an interface name" }[which & 3], value);
	return -1;
}

static const char *ip_str(in_addr_t ip, char *buf)
{
	return inet_ntop(AF_INET, &ip, buf, INET_ADDRSTRLEN);
}

static const char *cidr_str(in_addr_t net, unsigned int len, char *buf, size_t size)
{
	char ip[INET_ADDRSTRLEN];

	snprintf(buf, size, "%s/%u", ip_str(net, ip), len);
	return buf;
}

static bool cidr_overlap(in_addr_t a, unsigned int alen, in_addr_t b, unsigned int blen)
{
	in_addr_t mask = prefix_mask(alen < blen ? alen : blen);

	return (a & mask) == (b & mask);
}

/* The checks that need nothing but the record itself. */
static int record_check(const struct node_record *n, struct op_error *e)
{
	char ip[INET_ADDRSTRLEN], want[32];

	if (!node_name_valid(n->name))
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "name: '%.*s' is not a node name "
			       "(1-%d characters of a-z, 0-9, '-' and '.', starting and ending "
			       "with a letter or digit)", PODLANE_NODE_NAME_LEN, n->name,
			       PODLANE_NODE_NAME_LEN - 1);
	if (!node_ip_usable(n->node_ip))
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "node_ip: %s is not a unicast "
			       "address a node can have", ip_str(n->node_ip, ip));
	/* /0 would send every destination to one node, the node's own uplink traffic included. */
	if (n->pod_cidr_len < 1 || n->pod_cidr_len > 32)
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod_cidr: prefix length %u is not "
			       "1-32", n->pod_cidr_len);
	if (n->pod_cidr & ~prefix_mask(n->pod_cidr_len))
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod_cidr: %s/%u has host bits set "
			       "(did you mean %s?)", ip_str(n->pod_cidr, ip), n->pod_cidr_len,
			       cidr_str(n->pod_cidr & prefix_mask(n->pod_cidr_len),
					n->pod_cidr_len, want, sizeof(want)));
	if (cidr_overlap(n->pod_cidr, n->pod_cidr_len, n->node_ip, 32))
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "node_ip: %s lies inside the node's "
			       "own pod CIDR", ip_str(n->node_ip, ip));
	return 0;
}

int node_record_parse(struct node_record *n, const char *name, const char *node_ip,
		      const char *pod_cidr, struct op_error *e)
{
	char buf[32], *slash, *end;
	struct in_addr in;
	unsigned long len;

	memset(n, 0, sizeof(*n));
	if (!name || strlen(name) >= sizeof(n->name))
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "name: missing or longer than %zu "
			       "characters", sizeof(n->name) - 1);
	strcpy(n->name, name);
	if (!node_ip || inet_pton(AF_INET, node_ip, &in) != 1)
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "node_ip: '%s' is not an IPv4 "
			       "address", node_ip ? node_ip : "");
	n->node_ip = in.s_addr;
	if (!pod_cidr || strlen(pod_cidr) >= sizeof(buf) || !(slash = strchr(pod_cidr, '/')))
		goto bad_cidr;
	snprintf(buf, sizeof(buf), "%.*s", (int)(slash - pod_cidr), pod_cidr);
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || end == slash + 1 || !isdigit((unsigned char)slash[1]) || len > 32 ||
	    inet_pton(AF_INET, buf, &in) != 1)
		goto bad_cidr;
	n->pod_cidr = in.s_addr;
	n->pod_cidr_len = len;
	return record_check(n, e);
bad_cidr:
	return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "pod_cidr: '%s' is not an IPv4 CIDR "
		       "(a.b.c.d/len)", pod_cidr ? pod_cidr : "");
}

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
	char subnet[32];
};

/* This node's own pod CIDRs are the subnets its IPAM hands out. */
static bool local_subnet_clash(struct agent *a, struct subnet_clash *c)
{
	struct json_object *pools = json_object_new_object(), *f;
	struct subnet4 sn;
	bool clash = false;

	ipam_status(a, pools);
	json_object_object_foreach(pools, net, pool) {
		if (!json_object_object_get_ex(pool, "subnet", &f) ||
		    subnet_parse(json_object_get_string(f), &sn) ||
		    !cidr_overlap(sn.net, sn.prefix_len, c->n->pod_cidr, c->n->pod_cidr_len))
			continue;
		snprintf(c->network, sizeof(c->network), "%s", net);
		snprintf(c->subnet, sizeof(c->subnet), "%s", json_object_get_string(f));
		clash = true;
		break;
	}
	json_object_put(pools);
	return clash;
}

/* The checks against this node and the other nodes; the record itself is already sane. */
static int check_against(struct agent *a, const struct node_record *n, struct op_error *e)
{
	struct subnet_clash c = { .n = n };
	char ip[INET_ADDRSTRLEN], cidr[32];
	struct node_table *t = a->nodes;
	size_t i;

	if (!strcmp(n->name, a->node_name))
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "name: '%s' is this node "
			       "(--node-name); its own pods need no route", n->name);
	if (a->node_ip && n->node_ip == a->node_ip)
		return op_fail(e, PODLANE_ERR_CONFLICT, "node_ip: %s is this node's own address "
			       "(--node-ip)", ip_str(n->node_ip, ip));
	for (i = 0; i < t->n; i++) {
		const struct node_record *o = &t->v[i];

		if (!strcmp(o->name, n->name))
			continue;
		if (cidr_overlap(o->pod_cidr, o->pod_cidr_len, n->pod_cidr, n->pod_cidr_len))
			return op_fail(e, PODLANE_ERR_CONFLICT, "pod_cidr: overlaps %s of node "
				       "'%s'", cidr_str(o->pod_cidr, o->pod_cidr_len, cidr,
							sizeof(cidr)), o->name);
		if (o->node_ip == n->node_ip)
			return op_fail(e, PODLANE_ERR_CONFLICT, "node_ip: %s already belongs to "
				       "node '%s'", ip_str(n->node_ip, ip), o->name);
		if (cidr_overlap(o->pod_cidr, o->pod_cidr_len, n->node_ip, 32))
			return op_fail(e, PODLANE_ERR_CONFLICT, "node_ip: %s lies inside the pod "
				       "CIDR of node '%s'", ip_str(n->node_ip, ip), o->name);
		if (cidr_overlap(n->pod_cidr, n->pod_cidr_len, o->node_ip, 32))
			return op_fail(e, PODLANE_ERR_CONFLICT, "pod_cidr: contains the address of "
				       "node '%s'", o->name);
	}
	if (local_subnet_clash(a, &c))
		return op_fail(e, PODLANE_ERR_CONFLICT, "pod_cidr: overlaps this node's own pod "
			       "CIDR %s (network '%s')", c.subnet, c.network);
	return 0;
}

static int node_value_for(struct agent *a, struct node_value *v, const struct node_record *n,
			  struct op_error *e)
{
	memset(v, 0, sizeof(*v));
	v->node_ip = n->node_ip;
	if (a->routing == NODE_ROUTING_VXLAN) {
		if (a->vxlan_ifindex <= 0)
			return op_fail(e, PODLANE_ERR_INTERNAL, "the vxlan device is not set up");
		v->ifindex = a->vxlan_ifindex;
		v->flags = PODLANE_NODE_F_VXLAN;
		v->vni = PODLANE_VXLAN_VNI;
		return 0;
	}
	if (a->uplink_ifindex <= 0)
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "direct routing sends through the "
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

	if (bpf_map_lookup_elem(a->nodes_fd, &key, &cur) || memcmp(&cur, want, sizeof(cur)))
		return false;
	if (!addr_entries(a))
		return true;
	key = addr_key_of(n);
	av = addr_value_of(want);
	return !bpf_map_lookup_elem(a->nodes_fd, &key, &cur) && !memcmp(&cur, &av, sizeof(cur));
}

/* ---- kernel routes to remote pod CIDRs, for the node's own stack ---- */

static int kroute_dev(struct agent *a)
{
	return a->routing == NODE_ROUTING_VXLAN ? a->vxlan_ifindex : a->uplink_ifindex;
}

/* The route n needs; false when this agent writes none (--no-node-routes, no device). */
static bool kroute_for(struct agent *a, const struct node_record *n, struct nl_route *r)
{
	memset(r, 0, sizeof(*r));
	if (a->no_node_routes || kroute_dev(a) <= 0)
		return false;
	r->ifindex = kroute_dev(a);
	r->dst = n->pod_cidr;
	r->prefix_len = n->pod_cidr_len;
	r->protocol = PODLANE_RTPROT;
	if (a->routing == NODE_ROUTING_VXLAN) {
		r->tun_id = PODLANE_VXLAN_VNI;
		r->tun_dst = n->node_ip;
		r->tun_ttl = 64;
	} else {
		r->gw = n->node_ip;
	}
	return true;
}

static bool kroute_same(const struct nl_route *x, const struct nl_route *y)
{
	return x->ifindex == y->ifindex && x->dst == y->dst && x->prefix_len == y->prefix_len &&
	       x->gw == y->gw && x->tun_id == y->tun_id && x->tun_dst == y->tun_dst &&
	       x->tun_ttl == y->tun_ttl;
}

/*
 * A route the kernel refuses (say, a direct-routing node whose address is not on the uplink's
 * link) only costs the node's own stack its way to those pods; the pods' BPF path does not
 * depend on it, so this is a warning, not a failed node_add.
 */
static int kroute_install(struct agent *a, const struct node_record *n)
{
	struct nl_route r;
	int err;

	if (!kroute_for(a, n, &r))
		return 0;
	err = nl_route_replace(&a->nl, &r);
	if (err)
		log_warn("kernel route to node's pods not installed name=%s err=\"%s\"", n->name,
			 nl_strerror(&a->nl, err));
	return err;
}

static void kroute_remove(struct agent *a, const struct node_record *n)
{
	struct nl_route r;
	int err;

	if (!kroute_for(a, n, &r))
		return;
	err = nl_route_del(&a->nl, &r);
	if (err && err != -ESRCH)
		log_warn("failed to delete the kernel route to node's pods name=%s err=\"%s\"",
			 n->name, nl_strerror(&a->nl, err));
}

struct kroute_list {
	struct nl_route *v;
	size_t n, cap;
};

static void kroute_collect(const struct nl_route *r, void *ctx)
{
	struct kroute_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct nl_route *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *r;
}

/*
 * Start-up: the kernel routes of PODLANE_RTPROT on the uplink and the vxlan device become
 * exactly one per loaded record. Right ones are kept (a restart rewrites nothing), wrong or
 * unexplained ones (a node deleted while the agent was down, the other routing mode) go.
 */
static void kroutes_sync(struct agent *a)
{
	int devs[2] = { a->uplink_ifindex, a->vxlan_ifindex };
	struct node_table *t = a->nodes;
	size_t i, j, kept = 0, written = 0, removed = 0, failed = 0;
	struct kroute_list l = {};
	struct nl_route want;
	bool *have;
	int d, err;

	for (d = 0; d < 2; d++) {
		if (devs[d] <= 0 || (d == 1 && devs[0] == devs[1]))
			continue;
		err = nl_route_list(&a->nl, PODLANE_RTPROT, devs[d], kroute_collect, &l);
		if (err)
			log_warn("failed to list kernel routes ifindex=%d err=\"%s\"", devs[d],
				 nl_strerror(&a->nl, err));
	}
	have = calloc(t->n + 1, sizeof(*have));
	if (!have) {
		free(l.v);
		return;
	}
	for (i = 0; i < l.n; i++) {
		bool wanted = false;

		for (j = 0; j < t->n && !wanted; j++) {
			if (!have[j] && kroute_for(a, &t->v[j], &want) && kroute_same(&want, &l.v[i]))
				wanted = have[j] = true;
		}
		if (wanted) {
			kept++;
		} else if (!nl_route_del(&a->nl, &l.v[i])) {
			removed++;
		}
	}
	for (j = 0; j < t->n; j++) {
		if (have[j] || !kroute_for(a, &t->v[j], &want))
			continue;
		if (kroute_install(a, &t->v[j]))
			failed++;
		else
			written++;
	}
	free(have);
	free(l.v);
	if (!a->no_node_routes)
		log_info("kernel routes in place nodes=%zu kept=%zu written=%zu removed=%zu "
			 "failed=%zu", t->n, kept, written, removed, failed);
}

/* ---- records on disk: <state-dir>/nodes/<name>, one JSON object each ---- */

static void nodes_dir(struct agent *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s/nodes", a->state_dir);
}

static struct json_object *record_json(const struct node_record *n)
{
	struct json_object *o = json_object_new_object();
	char ip[INET_ADDRSTRLEN], cidr[32];

	json_object_object_add(o, "name", json_object_new_string(n->name));
	json_object_object_add(o, "node_ip", json_object_new_string(ip_str(n->node_ip, ip)));
	json_object_object_add(o, "pod_cidr", json_object_new_string(
		cidr_str(n->pod_cidr, n->pod_cidr_len, cidr, sizeof(cidr))));
	return o;
}

/* Written to a temporary file and renamed, so a crash leaves the old or the new record. */
static int record_write(struct agent *a, const struct node_record *n)
{
	char dir[PATH_MAX], path[PATH_MAX + 80], tmp[PATH_MAX + 96];
	struct json_object *o = record_json(n);
	int err = 0;
	FILE *f;

	nodes_dir(a, dir, sizeof(dir));
	if (mkdir(dir, 0755) && errno != EEXIST) {
		err = -errno;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, n->name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, n->name);
	f = fopen(tmp, "we");
	if (!f) {
		err = -errno;
		goto out;
	}
	if (fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
out:
	json_object_put(o);
	return err;
}

static int record_unlink(struct agent *a, const char *name)
{
	char dir[PATH_MAX], path[PATH_MAX + 80];

	nodes_dir(a, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

static int record_read(const char *path, struct node_record *n, struct op_error *e)
{
	struct json_object *o = json_object_from_file(path), *name, *ip, *cidr;
	int err;

	if (!o)
		return op_fail(e, PODLANE_ERR_IO, "not a JSON file");
	if (!json_object_object_get_ex(o, "name", &name) ||
	    !json_object_object_get_ex(o, "node_ip", &ip) ||
	    !json_object_object_get_ex(o, "pod_cidr", &cidr)) {
		json_object_put(o);
		return op_fail(e, PODLANE_ERR_IO, "name, node_ip or pod_cidr missing");
	}
	err = node_record_parse(n, json_object_get_string(name), json_object_get_string(ip),
				json_object_get_string(cidr), e);
	json_object_put(o);
	return err;
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

/* ---- the API of nodes.h ---- */

int node_upsert_changed(struct agent *a, const struct node_record *in, bool *changed,
			struct op_error *e)
{
	struct node_record n = *in, *old;
	struct node_key key, old_key;
	struct node_value val;
	bool same_key;
	int err;

	*changed = false;
	if (!a->nodes)
		return op_fail(e, PODLANE_ERR_TRY_AGAIN, "podlaned is still starting");
	n.name[sizeof(n.name) - 1] = '\0';
	if (record_check(&n, e) || check_against(a, &n, e) || node_value_for(a, &val, &n, e))
		return -1;
	old = node_find(a, n.name);
	if (old && old->node_ip == n.node_ip && old->pod_cidr == n.pod_cidr &&
	    old->pod_cidr_len == n.pod_cidr_len) {
		/* Same record: only repair the map entries if something removed or changed them. */
		if (node_installed(a, &n, &val))
			return 0;
	} else if (!old && a->nodes->n >= (addr_entries(a) ? PODLANE_MAX_NODES / 2 :
					    PODLANE_MAX_NODES)) {
		/* VXLAN takes two entries per node: its pod CIDR and its address. */
		return op_fail(e, PODLANE_ERR_MAP_FULL, "already %zu nodes, the most podlane_nodes "
			       "holds", a->nodes->n);
	}

	/* New route first, then the record, then the old route: a failure leaves the old state. */
	key = node_key_of(&n);
	if (bpf_map_update_elem(a->nodes_fd, &key, &val, BPF_ANY))
		return op_fail(e, errno == E2BIG || errno == ENOMEM ? PODLANE_ERR_MAP_FULL :
			       PODLANE_ERR_INTERNAL, "failed to update map 'podlane_nodes': %s",
			       strerror(errno));
	if (addr_entries(a)) {
		struct node_key ak = addr_key_of(&n);
		struct node_value av = addr_value_of(&val);

		if (bpf_map_update_elem(a->nodes_fd, &ak, &av, BPF_ANY))
			log_warn("failed to map the address of node name=%s err=\"%s\"", n.name,
				 strerror(errno));
	}
	err = record_write(a, &n);
	if (err) {
		if (old && old->pod_cidr == n.pod_cidr && old->pod_cidr_len == n.pod_cidr_len) {
			node_value_for(a, &val, old, e);
			bpf_map_update_elem(a->nodes_fd, &key, &val, BPF_ANY);
		} else {
			bpf_map_delete_elem(a->nodes_fd, &key);
		}
		return op_fail(e, PODLANE_ERR_IO, "failed to write node record '%s': %s", n.name,
			       strerror(-err));
	}
	if (old) {
		old_key = node_key_of(old);
		same_key = !memcmp(&old_key, &key, sizeof(key));
		if (!same_key && bpf_map_delete_elem(a->nodes_fd, &old_key) && errno != ENOENT)
			log_warn("failed to delete the old route of node name=%s err=\"%s\"",
				 n.name, strerror(errno));
		if (addr_entries(a) && old->node_ip != n.node_ip) {
			old_key = addr_key_of(old);
			bpf_map_delete_elem(a->nodes_fd, &old_key);
		}
		if (!same_key)
			kroute_remove(a, old);
		*old = n;
	} else if (table_append(a->nodes, &n)) {
		/* Map and disk have it; the next start picks it up from the record. */
		return op_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	kroute_install(a, &n);
	*changed = true;
	return 0;
}

int node_upsert(struct agent *a, const struct node_record *n, struct op_error *e)
{
	bool changed;

	return node_upsert_changed(a, n, &changed, e);
}

int node_remove(struct agent *a, const char *name, struct op_error *e)
{
	struct node_table *t = a->nodes;
	struct node_record *n = node_find(a, name);
	struct node_key key;
	int err;

	if (!t)
		return op_fail(e, PODLANE_ERR_TRY_AGAIN, "podlaned is still starting");
	if (!n)
		return 0;
	/* Record first: should the map delete fail, the next start removes the stray entry. */
	err = record_unlink(a, name);
	if (err)
		return op_fail(e, PODLANE_ERR_IO, "failed to remove node record '%s': %s", name,
			       strerror(-err));
	key = node_key_of(n);
	if (bpf_map_delete_elem(a->nodes_fd, &key) && errno != ENOENT)
		log_warn("failed to delete the route of node name=%s err=\"%s\"", name,
			 strerror(errno));
	if (addr_entries(a)) {
		key = addr_key_of(n);
		bpf_map_delete_elem(a->nodes_fd, &key);
	}
	kroute_remove(a, n);
	*n = t->v[--t->n];
	return 0;
}

void node_list(struct agent *a, struct json_object *arr)
{
	struct node_table *t = a->nodes;
	struct node_value want;
	struct op_error e;
	size_t i;

	for (i = 0; t && i < t->n; i++) {
		struct json_object *o = record_json(&t->v[i]);
		bool installed;

		installed = !node_value_for(a, &want, &t->v[i], &e) &&
			    node_installed(a, &t->v[i], &want);
		json_object_object_add(o, "routing",
				       json_object_new_string(node_routing_name(a->routing)));
		json_object_object_add(o, "installed", json_object_new_boolean(installed));
		json_object_array_add(arr, o);
	}
}

/* ---- the vxlan device ---- */

/* RTM_NEWLINK for a collect-metadata vxlan device; the kernel's extended ACK goes to why. */
static int vxlan_create(const char *name, char *why, size_t why_len)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlattr *linkinfo, *data, *attr;
	const struct nlmsgerr *err;
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	unsigned int seq, portid;
	int one = 1, ret = -EPROTO, len;
	ssize_t n;

	why[0] = '\0';
	nlh = mnl_nlmsg_put_header(memset(buf, 0, sizeof(buf)));
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	nlh->nlmsg_seq = seq = getpid();
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "vxlan");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	/* "external": destination and VNI come with each skb, set by tc_from_pod. */
	mnl_attr_put_u8(nlh, IFLA_VXLAN_COLLECT_METADATA, 1);
	mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(PODLANE_VXLAN_PORT));
	mnl_attr_put_u8(nlh, IFLA_VXLAN_LEARNING, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	len = n;
	for (nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != portid ||
		    nlh->nlmsg_type != NLMSG_ERROR)
			continue;
		err = mnl_nlmsg_get_payload(nlh);
		ret = err->error;
		if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
			break;
		mnl_attr_for_each(attr, nlh, sizeof(*err)) {
			if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
			    !mnl_attr_validate(attr, MNL_TYPE_NUL_STRING))
				snprintf(why, why_len, " (%s)", mnl_attr_get_str(attr));
		}
		break;
	}
out:
	mnl_socket_close(nl);
	return ret;
}

static void vxlan_record(struct agent *a, const char *name)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/vxlan", a->state_dir);
	if (!name) {
		unlink(path);
		return;
	}
	f = fopen(path, "we");
	if (!f || fprintf(f, "%s\n", name) < 0)
		log_warn("failed to record the vxlan device path=%s err=\"%s\"", path,
			 strerror(errno));
	if (f)
		fclose(f);
}

static int vxlan_recorded(const char *state_dir, char *name)
{
	char path[PATH_MAX];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/vxlan", state_dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	ok = fgets(name, IF_NAMESIZE + 1, f) != NULL;
	fclose(f);
	name[strcspn(name, "\n")] = '\0';
	return ok && name[0];
}

/* Delete a vxlan device we recorded, and only if it still is a vxlan device. */
static int vxlan_delete(struct nl_sock *nl, const char *name)
{
	struct nl_link link;
	int err;

	err = nl_link_get(nl, name, 0, &link);
	if (err == -ENODEV)
		return 0;
	if (err)
		return err;
	if (strcmp(link.kind, "vxlan")) {
		log_warn("leaving a device that is not podlane's vxlan dev=%s kind=%s", name,
			 link.kind[0] ? link.kind : "none");
		return 0;
	}
	err = nl_link_del(nl, link.ifindex);
	if (!err)
		log_info("deleted vxlan device dev=%s", name);
	return err;
}

static int vxlan_setup(struct agent *a)
{
	struct nl_link link;
	char why[300];
	int err;

	err = nl_link_get(&a->nl, a->vxlan_dev, 0, &link);
	if (err == -ENODEV) {
		err = vxlan_create(a->vxlan_dev, why, sizeof(why));
		if (err) {
			log_error("failed to create vxlan device '%s': %s%s", a->vxlan_dev,
				  strerror(-err), why);
			return err;
		}
		log_info("created vxlan device dev=%s dstport=%d external=1", a->vxlan_dev,
			 PODLANE_VXLAN_PORT);
		err = nl_link_get(&a->nl, a->vxlan_dev, 0, &link);
	} else if (!err && strcmp(link.kind, "vxlan")) {
		log_error("failed to adopt vxlan device '%s': it exists and is a '%s' device",
			  a->vxlan_dev, link.kind[0] ? link.kind : "plain");
		return -EEXIST;
	} else if (!err) {
		log_info("adopted vxlan device dev=%s ifindex=%d", a->vxlan_dev, link.ifindex);
	}
	if (err) {
		log_error("failed to find vxlan device '%s': %s", a->vxlan_dev,
			  nl_strerror(&a->nl, err));
		return err;
	}
	vxlan_record(a, a->vxlan_dev);
	/* The node's routes into the tunnel must not wait for ARP: see the top of this file. */
	err = nl_link_set_noarp(&a->nl, link.ifindex, true);
	if (err) {
		log_error("failed to set vxlan device '%s' NOARP: %s", a->vxlan_dev,
			  nl_strerror(&a->nl, err));
		return err;
	}
	err = nl_link_set_up(&a->nl, link.ifindex);
	if (err) {
		log_error("failed to set vxlan device '%s' up: %s", a->vxlan_dev,
			  nl_strerror(&a->nl, err));
		return err;
	}
	err = datapath_attach_tunnel(a, link.ifindex);
	if (err)
		return err;
	a->vxlan_ifindex = link.ifindex;
	return 0;
}

/* ---- start-up and shutdown ---- */

static void nodes_load(struct agent *a)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct node_record n;
	struct op_error e;
	struct dirent *d;
	DIR *dh;

	nodes_dir(a, dir, sizeof(dir));
	dh = opendir(dir);
	if (!dh)
		return;
	while ((d = readdir(dh))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		e = (struct op_error){};
		if (record_read(path, &n, &e) || check_against(a, &n, &e)) {
			log_warn("ignoring node record path=%s err=\"%s\"", path, e.msg);
			continue;
		}
		if (strcmp(n.name, d->d_name)) {
			log_warn("ignoring node record path=%s err=\"named '%s'\"", path, n.name);
			continue;
		}
		if (table_append(a->nodes, &n))
			break;
	}
	closedir(dh);
}

/* Make podlane_nodes hold exactly the loaded records, changing only what differs. */
static void nodes_sync_map(struct agent *a)
{
	struct node_table *t = a->nodes;
	struct node_key key, next, *prev = NULL, *stray = NULL;
	struct node_value val;
	size_t i, j, nstray = 0, kept = 0, written = 0, failed = 0;
	struct op_error e = {};

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
		} else if (bpf_map_update_elem(a->nodes_fd, &key, &val, BPF_ANY)) {
			log_warn("failed to install the route of node name=%s err=\"%s\"",
				 t->v[i].name, strerror(errno));
			failed++;
		} else {
			struct node_key ak = addr_key_of(&t->v[i]);
			struct node_value av = addr_value_of(&val);

			if (addr_entries(a))
				bpf_map_update_elem(a->nodes_fd, &ak, &av, BPF_ANY);
			written++;
		}
	}
	/* Collect first: deleting while walking an LPM trie restarts the walk. */
	while (!bpf_map_get_next_key(a->nodes_fd, prev, &next)) {
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
		bpf_map_delete_elem(a->nodes_fd, &stray[i]);
	free(stray);
	log_info("node routes in place routing=%s nodes=%zu kept=%zu written=%zu removed=%zu "
		 "failed=%zu", node_routing_name(a->routing), t->n, kept, written, nstray, failed);
}

int nodes_open(struct agent *a)
{
	char recorded[IF_NAMESIZE + 2];
	int err;

	a->nodes = calloc(1, sizeof(*a->nodes));
	if (!a->nodes)
		return -ENOMEM;
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
	} else if (vxlan_recorded(a->state_dir, recorded)) {
		/* An earlier run used VXLAN: its device is ours and no longer used. */
		if (!vxlan_delete(&a->nl, recorded))
			vxlan_record(a, NULL);
	}
	nodes_load(a);
	nodes_sync_map(a);
	kroutes_sync(a);
	return 0;
}

void nodes_close(struct agent *a)
{
	if (!a->nodes)
		return;
	free(a->nodes->v);
	free(a->nodes);
	a->nodes = NULL;
}

/* --uninstall: the kernel route of every recorded node, by pod CIDR and our protocol. */
static void kroutes_uninstall(struct nl_sock *nl, const char *state_dir)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct node_record n;
	struct op_error e;
	struct dirent *d;
	size_t removed = 0;
	DIR *dh;

	snprintf(dir, sizeof(dir), "%s/nodes", state_dir);
	dh = opendir(dir);
	if (!dh)
		return;
	while ((d = readdir(dh))) {
		struct nl_route r = { .protocol = PODLANE_RTPROT };

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (record_read(path, &n, &e))
			continue;
		r.dst = n.pod_cidr;
		r.prefix_len = n.pod_cidr_len;
		if (!nl_route_del(nl, &r))
			removed++;
	}
	closedir(dh);
	if (removed)
		log_info("deleted kernel routes to remote pod CIDRs count=%zu", removed);
}

int nodes_uninstall(const char *state_dir)
{
	char name[IF_NAMESIZE + 2], path[PATH_MAX];
	struct nl_sock nl;
	int err;

	err = nl_open(&nl);
	if (err) {
		log_error("failed to open rtnetlink socket: %s", strerror(-err));
		return err;
	}
	kroutes_uninstall(&nl, state_dir);
	if (!vxlan_recorded(state_dir, name)) {
		nl_close(&nl);
		return 0;
	}
	err = vxlan_delete(&nl, name);
	if (err)
		log_error("failed to delete vxlan device '%s': %s", name, nl_strerror(&nl, err));
	nl_close(&nl);
	snprintf(path, sizeof(path), "%s/vxlan", state_dir);
	if (!err)
		unlink(path);
	return err;
}

#define VXLAN_OVERHEAD	50	/* outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 */

unsigned int nodes_pod_mtu(struct agent *a)
{
	unsigned int mtu = 1500;
	struct nl_link link;

	if (a->uplink_ifindex > 0 && !nl_link_get(&a->nl, NULL, a->uplink_ifindex, &link) &&
	    link.mtu)
		mtu = link.mtu;
	if (a->routing == NODE_ROUTING_VXLAN)
		mtu = mtu > 68 + VXLAN_OVERHEAD ? mtu - VXLAN_OVERHEAD : 68;
	return mtu;
}

void nodes_status(struct agent *a, struct json_object *o)
{
	struct json_object *progs, *p;
	char ip[INET_ADDRSTRLEN];

	if (a->vxlan_ifindex > 0 && json_object_object_get_ex(o, "programs", &progs) &&
	    json_object_is_type(progs, json_type_array)) {
		p = json_object_new_object();
		json_object_object_add(p, "name", json_object_new_string("tc_from_tunnel"));
		json_object_object_add(p, "hook", json_object_new_string("tc ingress, vxlan"));
		json_object_object_add(p, "id", json_object_new_int64(
			datapath_prog_id(a->from_tunnel_fd)));
		json_object_object_add(p, "tc_handle", json_object_new_int(PODLANED_TC_HANDLE));
		json_object_object_add(p, "tc_priority", json_object_new_int(PODLANED_TC_PRIO));
		json_object_array_add(progs, p);
	}

	json_object_object_add(o, "routing", json_object_new_string(node_routing_name(a->routing)));
	json_object_object_add(o, "node_name", a->node_name ?
			       json_object_new_string(a->node_name) : NULL);
	json_object_object_add(o, "node_ip", a->node_ip ?
			       json_object_new_string(ip_str(a->node_ip, ip)) : NULL);
	json_object_object_add(o, "vxlan_dev", a->routing == NODE_ROUTING_VXLAN ?
			       json_object_new_string(a->vxlan_dev) : NULL);
	json_object_object_add(o, "nodes", json_object_new_int(a->nodes ? a->nodes->n : 0));
}

/* ---- API ops ---- */

static int field_str(struct json_object *req, const char *key, const char **out,
		     struct op_error *e)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null))
		return op_fail(e, PODLANE_ERR_DECODE, "missing field '%s'", key);
	if (!json_object_is_type(v, json_type_string))
		return op_fail(e, PODLANE_ERR_DECODE, "field '%s' must be a string", key);
	*out = json_object_get_string(v);
	return 0;
}

static struct json_object *ok_reply(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

struct json_object *nodes_op_add(struct agent *a, struct json_object *req)
{
	const char *name = NULL, *ip = NULL, *cidr = NULL;
	struct json_object *o, *node;
	struct node_record n;
	struct op_error e = {};
	bool changed;

	if (field_str(req, "name", &name, &e) || field_str(req, "node_ip", &ip, &e) ||
	    field_str(req, "pod_cidr", &cidr, &e) || node_record_parse(&n, name, ip, cidr, &e) ||
	    node_upsert_changed(a, &n, &changed, &e)) {
		log_warn("node refused name=%s code=%d err=\"%s\"", name ? name : "", e.code,
			 e.msg);
		return api_error(e.code, e.msg, e.details);
	}
	if (changed)
		log_info("node added name=%s node_ip=%s pod_cidr=%s routing=%s", n.name, ip, cidr,
			 node_routing_name(a->routing));
	o = ok_reply();
	json_object_object_add(o, "changed", json_object_new_boolean(changed));
	node = record_json(&n);
	json_object_object_add(node, "routing",
			       json_object_new_string(node_routing_name(a->routing)));
	json_object_object_add(o, "node", node);
	return o;
}

struct json_object *nodes_op_del(struct agent *a, struct json_object *req)
{
	struct op_error e = {};
	struct json_object *o;
	const char *name;
	bool found;

	if (field_str(req, "name", &name, &e))
		return api_error(e.code, e.msg, e.details);
	found = node_find(a, name) != NULL;
	if (node_remove(a, name, &e))
		return api_error(e.code, e.msg, e.details);
	if (found)
		log_info("node removed name=%s", name);
	o = ok_reply();
	json_object_object_add(o, "removed", json_object_new_boolean(found));
	return o;
}

struct json_object *nodes_op_list(struct agent *a, struct json_object *req)
{
	struct json_object *o = ok_reply(), *arr = json_object_new_array();

	node_list(a, arr);
	nodes_status(a, o);
	json_object_object_add(o, "nodes", arr);
	return o;
}
