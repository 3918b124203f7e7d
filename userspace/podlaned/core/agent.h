/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * core/agent.h - what every layer of podlaned shares: the agent's options and the handles of
 * its modules (struct agent) and the kernel features found at start-up. A failed operation
 * fills a struct api_error (userspace/lib/api.h) for the API to return.
 *
 * podlaned is layered; calls and includes only point down (userspace/podlaned/README.md):
 *
 *	main.c -> api/ -> sync/ -> acct/ -> endpoint/, nodes/, flows/ -> lb/, ipam/, policy/
 *	-> datapath/ -> core/
 *
 * and every layer may use userspace/lib/. Modules of one layer do not call each other. Each
 * module keeps its state behind an opaque pointer here; only its own files see inside.
 *
 * The pinned maps are the agent's only endpoint database: nothing about endpoints is kept in
 * memory between requests, so a restarted (or crashed) agent knows exactly what the datapath
 * knows.
 */
#ifndef PODLANED_CORE_AGENT_H
#define PODLANED_CORE_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "api.h"		/* struct api_error: what a failed operation returns */
#include "nl.h"
#include "podlane.h"

#ifndef PODLANE_VERSION
#define PODLANE_VERSION "0.1.0"
#endif

#define PODLANED_MAX_ENDPOINTS_LIMIT	(1U << 20)
/*
 * --max-nodes: the other nodes podlane_nodes holds, in either routing mode (VXLAN takes two
 * entries per node: its pod CIDR and its address). The default leaves room above the 5,000
 * nodes of Kubernetes' largest supported cluster.
 */
#define PODLANED_MAX_NODES_DEFAULT	8192
#define PODLANED_MAX_NODES_LIMIT	(1U << 20)
/* --max-policy-entries: podlane_policy, default PODLANE_MAX_POLICY (bpf/podlane.h). */
#define PODLANED_MAX_POLICY_LIMIT	(1U << 24)

/* --routing: how pods on other nodes are reached (nodes/). */
enum node_routing {
	NODE_ROUTING_DIRECT = 0,	/* nodes share a link: FIB lookup + bpf_redirect_neigh */
	NODE_ROUTING_VXLAN = 1,		/* encapsulate to node_ip through the vxlan device */
};

/* --xdp-nodeport: auto turns the fast path on for a NIC uplink in native XDP mode only. */
enum xdp_nodeport_mode {
	XDP_NODEPORT_AUTO,
	XDP_NODEPORT_ON,
	XDP_NODEPORT_OFF,
};

struct features {
	bool redirect_peer;	/* bpf_redirect_peer() helper for tc programs */
	bool ringbuf;		/* BPF_MAP_TYPE_RINGBUF */
	bool percpu_hash;	/* BPF_MAP_TYPE_PERCPU_HASH */
	bool kernel_btf;	/* /sys/kernel/btf/vmlinux, needed for CO-RE */
};

struct datapath;	/* datapath/tc.c: the tc objects and their programs */
struct eps;		/* datapath/eps.c: podlane_eps, podlane_ep_meta, podlane_ep_stat */
struct lb_state;	/* lb/ */
struct pol_state;	/* policy/ */
struct node_table;	/* nodes/ */
struct acct;		/* acct/ */
struct flows;		/* flows/ */
struct recommend;	/* recommend/ */
struct api_streams;	/* api/flow_ops.c: the clients following the flow log */
struct sync;		/* sync/ */
struct metrics;		/* api/metrics.c */
struct extender;	/* api/extender.c: the HTTP side of the scheduler extender */
struct sched;		/* sched/: scores and pending placements */
struct loop_stats;	/* core/loop.c */

struct agent {
	/* options */
	const char *pin_root;
	const char *state_dir;
	const char *socket_path;
	const char *uplink;		/* --uplink, NULL = none */
	unsigned int max_endpoints;
	unsigned int max_nodes;		/* --max-nodes */
	unsigned int max_policy;	/* --max-policy-entries: podlane_policy's size */
	bool drop_events;
	const char *cgroup_path;	/* --cgroup for the socket LB, NULL = cgroup v2 root */
	bool accounting;		/* false: --no-accounting */
	const char *metrics_addr;	/* --metrics-addr HOST:PORT, NULL = off */
	const char *node_cgroup;	/* --node-cgroup PATH, NULL = the whole machine */
	const char *extender_addr;	/* --extender-addr HOST:PORT, NULL = off */
	double extender_saturated;	/* --extender-saturated: filter threshold, 0..100 */
	unsigned int extender_stale_ms;	/* --extender-stale-ms */
	unsigned int extender_pending_ttl_ms;	/* --extender-pending-ttl-ms */
	size_t extender_max_body;	/* --extender-max-body */
	const char *node_name;		/* --node-name; the host name when not given */
	in_addr_t node_ip;		/* --node-ip, network order, 0 = not given */
	int routing;			/* --routing: enum node_routing */
	const char *vxlan_dev;		/* --vxlan-dev */
	bool no_node_routes;		/* --no-node-routes */
	int xdp_nodeport;		/* --xdp-nodeport: enum xdp_nodeport_mode */
	unsigned int flow_log_size;	/* --flow-log-size: records the flow log keeps */
	unsigned int recommend_interval_s; /* --recommend-interval, 0 = the default */

	/* what start-up found */
	struct features feat;
	int ncpus;			/* possible CPUs: the size of per-CPU map values */
	int uplink_ifindex;
	int vxlan_ifindex;
	bool xdp_fastpath;		/* pod ends get NAPI and PODLANE_EP_F_XDP_RX */

	/* host netns rtnetlink socket of the main thread */
	struct nl_sock nl;

	/* modules, each NULL until opened */
	struct datapath *dp;
	struct eps *eps;
	struct lb_state *lb;
	struct pol_state *policy;
	struct node_table *nodes;
	struct acct *acct;
	struct flows *flows;
	struct recommend *recommend;
	struct api_streams *streams;
	struct sync *sync;
	struct metrics *metrics;
	struct extender *extender;
	struct sched *sched;
	struct loop_stats *loop;
};

#endif /* PODLANED_CORE_AGENT_H */
