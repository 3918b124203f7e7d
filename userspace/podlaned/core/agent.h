/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * agent.h - podlaned's internal interfaces: the agent state shared by the event loop
 * (main.c), the BPF side (datapath.c), address management (ipam.c), pod wiring
 * (endpoint.c) and the request handlers (ops.c).
 *
 * The pinned maps are the agent's only endpoint database: nothing about endpoints is kept in
 * memory between requests, so a restarted (or crashed) agent knows exactly what the datapath
 * knows.
 */
#ifndef PODLANED_AGENT_H
#define PODLANED_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <json-c/json.h>

#include "api.h"
#include "podlane.h"
#include "nl.h"

#ifndef PODLANE_VERSION
#define PODLANE_VERSION "0.1.0"
#endif

/*
 * Our tc filters are recognised by this handle/priority pair (plus the program name), so a
 * restart replaces exactly them and --uninstall removes nothing that belongs to someone else.
 * Priority 1 so the pod's datapath runs before anything else on the device.
 */
#define PODLANED_TC_HANDLE	0x706c	/* "pl" */
#define PODLANED_TC_PRIO	1

#define PODLANED_MAX_ENDPOINTS_LIMIT	(1U << 20)

struct tc_endpoint;
struct tc_uplink;
struct lb_state;

struct features {
	bool redirect_peer;	/* bpf_redirect_peer() helper for tc programs */
	bool ringbuf;		/* BPF_MAP_TYPE_RINGBUF */
	bool percpu_hash;	/* BPF_MAP_TYPE_PERCPU_HASH */
	bool kernel_btf;	/* /sys/kernel/btf/vmlinux, needed for CO-RE */
};

struct agent {
	/* options */
	const char *pin_root;
	const char *state_dir;
	const char *socket_path;
	const char *uplink;
	unsigned int max_endpoints;
	bool drop_events;

	/* BPF */
	struct tc_endpoint *ep_skel;
	struct tc_uplink *up_skel;
	struct features feat;
	int uplink_ifindex;
	int ncpus;
	int eps_fd, stat_fd, meta_fd, drops_fd;
	int from_pod_fd, to_pod_fd, from_uplink_fd;

	/* host netns rtnetlink socket */
	struct nl_sock nl;

	/* services (service.h): --cgroup for the socket LB, NULL = cgroup v2 root */
	const char *cgroup_path;
	struct lb_state *lb;

	/* accounting, hints, metrics (acct.c, hints.c, metrics.c) */
	bool accounting;		/* false: --no-accounting */
	const char *metrics_addr;	/* --metrics-addr HOST:PORT, NULL = off */
	struct acct *acct;
	struct metrics *metrics;

	/* control-plane sync through etcd (sync.h); NULL when standalone */
	struct sync *sync;

	/* other nodes (nodes.h): --node-name, --node-ip, --routing, --vxlan-dev */
	const char *node_name;		/* NULL: the host name */
	in_addr_t node_ip;		/* network order, 0 = not given */
	int routing;			/* enum node_routing */
	const char *vxlan_dev;
	int nodes_fd, from_tunnel_fd, vxlan_ifindex;
	struct node_table *nodes;
	bool no_node_routes;		/* --no-node-routes */

	/* XDP NodePort fast path (lb_datapath.c): --xdp-nodeport and what it came to */
	int xdp_nodeport;		/* enum xdp_nodeport_mode */
	bool xdp_fastpath;		/* pod ends get NAPI and PODLANE_EP_F_XDP_RX */
};

/* --xdp-nodeport: auto turns the fast path on for a NIC uplink in native XDP mode only. */
enum xdp_nodeport_mode {
	XDP_NODEPORT_AUTO,
	XDP_NODEPORT_ON,
	XDP_NODEPORT_OFF,
};

/* What a failed operation tells the client: a CNI error code, a message and details. */
struct op_error {
	int code;
	char msg[512];
	char details[512];
};

int op_fail(struct op_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- datapath.c ---- */
extern bool datapath_quiet_libbpf;
void datapath_probe(struct features *f);
int datapath_open(struct agent *a);
void datapath_close(struct agent *a);
int datapath_attach_endpoint(struct agent *a, int ifindex, struct op_error *e);
int datapath_attach_uplink(struct agent *a);
/* tc_from_tunnel on the vxlan device's ingress (nodes.c creates the device). */
int datapath_attach_tunnel(struct agent *a, int ifindex);
/* 1 when both our filters are attached to ifindex, 0 when not, -errno on failure. */
int datapath_endpoint_attached(int ifindex);
int datapath_uninstall(const char *pin_root, const char *uplink, const char *state_dir);
/* Program id of a loaded program (0 when unknown), for status. */
unsigned int datapath_prog_id(int prog_fd);

/* ---- ipam.c ---- */
struct subnet4 {
	in_addr_t net;		/* network order, host bits cleared */
	unsigned int prefix_len;
};

int subnet_parse(const char *s, struct subnet4 *sn);
bool subnet_contains(const struct subnet4 *sn, in_addr_t addr);
int ipam_alloc(struct agent *a, const char *network, const char *subnet, const char *container_id,
	       const char *ifname, in_addr_t *addr, bool *fresh, struct op_error *e);
/* Release every address network has allocated to container_id+ifname; returns how many. */
int ipam_release(struct agent *a, const char *network, const char *container_id,
		 const char *ifname);
/* Release addr in network only when container_id+ifname own it; returns 1 when released. */
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
/* Add { network: { subnet, allocated } } for every network to obj. */
void ipam_status(struct agent *a, struct json_object *obj);

/* ---- endpoint.c ---- */
struct add_request {
	const char *container_id;
	const char *netns;
	const char *ifname;
	const char *network;
	const char *subnet;
	const char *ip;		/* NULL unless a delegated IPAM plugin chose it */
	unsigned int mtu;
};

struct add_result {
	in_addr_t addr;
	char host_ifname[IF_NAMESIZE];
	uint8_t host_mac[6];
	uint8_t pod_mac[6];
	int pod_ifindex;
	int host_ifindex;
};

int endpoint_add(struct agent *a, const struct add_request *req, struct add_result *res,
		 struct op_error *e);
int endpoint_del(struct agent *a, const char *container_id, const char *ifname,
		 const char *network, struct op_error *e);
int endpoint_check(struct agent *a, const char *container_id, const char *ifname,
		   const char *network, const char *netns, const char *ip, struct op_error *e);

struct gc_keep {
	const char *container_id;
	const char *ifname;
};

int endpoint_gc(struct agent *a, const char *network, const struct gc_keep *keep, size_t nkeep,
		struct op_error *e);
/* Startup: drop endpoints whose veth or netns vanished, re-attach the live ones. */
void endpoint_reconcile(struct agent *a);
/* Delete the host veths still queued for deletion, then stop the thread that does it. */
void endpoint_reaper_stop(void);
/*
 * After lb_datapath_open(): give every endpoint PODLANE_EP_F_XDP_RX (and its pod end NAPI)
 * when a->xdp_fastpath, take the flag away when not.
 */
void endpoint_xdp_rx_sync(struct agent *a);
void endpoint_host_ifname(const char *container_id, const char *ifname, char *out);

typedef int (*endpoint_walk_cb)(__u32 ifindex, const struct endpoint_meta *meta, void *data);
int endpoint_walk(struct agent *a, endpoint_walk_cb cb, void *data);

/* ---- ops.c ---- */
struct json_object *ops_handle(struct agent *a, struct json_object *req);

/* ---- acct.c, hints.c, metrics.c: per-pod accounting, pressure hints, Prometheus ---- */
struct acct;
struct metrics;
/* Never fatal: without the programs or the module, less is known and status says so. */
int acct_open(struct agent *a);
void acct_close(struct agent *a);
int acct_uninstall(const char *pin_root);
/* Once a second (ACCT_TICK_MS): counters, kernel figures, rates, hints. */
void acct_tick(struct agent *a);
void acct_endpoint_changed(struct agent *a);
void acct_status(struct agent *a, struct json_object *o);
void acct_endpoint_fields(struct agent *a, __u32 ifindex, struct json_object *ep);
struct json_object *acct_op(struct agent *a, struct json_object *req);
struct json_object *hints_op(struct agent *a, struct json_object *req);
int metrics_valid_addr(const char *spec);
int metrics_open(struct agent *a);
int metrics_fd(struct agent *a);	/* for the event loop; -1 when off */
void metrics_run(struct agent *a);
void metrics_close(struct agent *a);

#endif /* PODLANED_AGENT_H */
