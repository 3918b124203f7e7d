/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * api_ops.h - the schema of podlaned's local API (transport and error codes in api.h): one
 * request and one reply struct per operation, with one encode and one decode each, used alike
 * by podlane-cni, podlanectl and podlaned. A member's name is its JSON key; api_ops.c lists the
 * members once for the codec (api_schema.h), with which are optional.
 *
 * Per operation <op> (the names below):
 *   api_<op>_req_encode(req)          -> { "op": "<op>", ...req }    the client
 *   api_<op>_req_decode(obj, req, e)                                 the agent
 *   api_<op>_reply_encode(reply)      -> { "ok": true, ...reply }    the agent
 *   api_<op>_reply_decode(obj, reply, e)                             the client
 *   api_<op>_req_free(req), api_<op>_reply_free(reply): the arrays a decode allocated
 *   api_<op>_call(sock, timeout_ms, req, reply, &raw, e): a client's whole round trip
 * Decoded strings point into the JSON object they came from: keep it until done with them.
 *
 * Conventions of the structs: `const char *` is a string (NULL: absent or null, as the field
 * says); int64_t an integer; `has_<m>` says whether field m is there, and a flag named for a
 * group (has_details, has_bpf_counters, ...) does that for fields that come and go together;
 * `n_<m>` counts the array m. Which fields are optional, and whether absent means left out or
 * null, is written next to each field list in api_ops.c.
 */
#ifndef PODLANE_API_OPS_H
#define PODLANE_API_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "api.h"
#include "api_schema.h"

/*
 * Listings (endpoint_list, service_list, node_list, policy_list, pod_list, namespace_list)
 * answer in pages. A page stops taking entries once their JSON would pass
 * PODLANE_API_PAGE_BYTES (one entry always fits: a service whose
 * spec alone is larger comes in pieces, see struct api_service), and at limit entries when the
 * request sets one (1-PODLANE_API_LIST_LIMIT_MAX; service_list's default
 * PODLANE_API_LIST_LIMIT_DEFAULT). A reply with more to come says where the next page starts
 * (next_offset); the last one has none. total counts every entry on the node. A client asks
 * from offset 0 and then from each next_offset; an entry added or removed meanwhile can shift
 * the pages by one. The rest of a reply (counters, routing) takes far less than the message
 * limit's remainder.
 */
#define PODLANE_API_PAGE_BYTES		(192 * 1024)
#define PODLANE_API_LIST_LIMIT_DEFAULT	200
#define PODLANE_API_LIST_LIMIT_MAX	500
_Static_assert(PODLANE_API_PAGE_BYTES + 32 * 1024 <= PODLANE_API_MAX_MSG,
	       "a page and the rest of its reply fit one message");

/* ---- envelopes ---- */

/* What every request carries besides its op's fields. */
struct api_req_head {
	const char	*op;		/* PODLANE_OP_* */
};

/* What every reply carries: ok, and when it is false code, msg and details. */
struct api_reply_head {
	bool		ok;
	bool		has_code;
	int64_t		code;		/* enum podlane_err */
	const char	*msg;
	const char	*details;	/* absent when there are none */
};

/* ---- endpoints: podlane-cni's operations ---- */

/* A Kubernetes label (labels.h checks keys and values). In pod_label and namespace_label a
 * null value removes the key, as `kubectl label KEY-` does. */
struct api_label {
	const char	*key;
	const char	*value;
};

/*
 * "add": wire a pod. Fails with PODLANE_ERR_IF_EXISTS, leaving nothing behind, when ifname
 * exists in the netns, and with PODLANE_ERR_INVALID_CONFIG when the pod would get an address
 * no pod may hold (a subnet holding one, or such an ip: the pods' gateway, a reserved range,
 * the network or broadcast address of its subnet, an address of the node). Repeating an add
 * for the same container_id+ifname+network whose endpoint is still wired returns the existing
 * endpoint.
 */
struct api_add_req {
	const char	*container_id;
	const char	*netns;		/* path of the pod's network namespace */
	const char	*ifname;
	const char	*network;
	const char	*subnet;	/* optional, "10.244.0.0/24": the pool to allocate from;
					 * with ip, the subnet of the plugin's result */
	bool		has_mtu;
	int64_t		mtu;		/* optional, 0-65535 (else PODLANE_ERR_INVALID_CONFIG),
					 * 0 = default 1500 */
	const char	*ip;		/* optional "a.b.c.d": an address a delegated IPAM plugin
					 * chose; the agent then allocates nothing */
	bool		has_default_route;
	bool		default_route;	/* optional: true, the pod's default route goes via this
					 * interface (before any it had, which serves again after
					 * DEL); false, never; absent, only when the pod has none */
	/*
	 * optional, the Kubernetes pod (CNI_ARGS K8S_POD_NAMESPACE, K8S_POD_NAME) and its labels
	 * (args.cni.labels): network policy selects the pod by them from its first packet. Both
	 * names or neither; a pod without them is no Kubernetes pod, and no policy selects it.
	 * A bad name or label fails with PODLANE_ERR_INVALID_CONFIG before anything is created.
	 */
	const char	*pod_namespace;
	const char	*pod_name;
	bool		has_labels;
	struct api_label *labels;	/* optional; value never null here */
	size_t		n_labels;
};

struct api_add_reply {
	const char	*ip;		/* "a.b.c.d" */
	int64_t		prefix_len;	/* 32 */
	const char	*gateway;	/* PODLANE_GATEWAY4 */
	const char	*host_ifname;
	int64_t		host_ifindex;
	const char	*host_mac;	/* "aa:bb:cc:dd:ee:ff" */
	const char	*pod_mac;
	int64_t		pod_ifindex;
	bool		has_default_route;	/* absent from agents before it was there */
	bool		default_route;	/* the pod's default route goes via this interface;
					 * false: it routes subnet (if given) via the gateway */
};

/*
 * "del": idempotent, succeeds when the endpoint, netns or allocation is already gone. Fails
 * with PODLANE_ERR_IO, naming the address, when the endpoint is gone but its address could not
 * be released (a read-only state dir): a retried del (or gc, or the next start) releases it.
 */
struct api_del_req {
	const char	*container_id;
	const char	*ifname;
	const char	*network;
	const char	*netns;		/* optional, may be "" */
};

struct api_del_reply {
};

/*
 * "check": verifies the pod interface exists, holds ip/32 and, when its add took the pod's
 * default route, routes default via the gateway; fails with PODLANE_ERR_CHECK and a msg saying
 * what differs.
 */
struct api_check_req {
	const char	*container_id;
	const char	*ifname;
	const char	*network;
	const char	*netns;		/* optional */
	const char	*ip;		/* optional, "a.b.c.d" from prevResult */
};

struct api_check_reply {
};

/* One attachment that "gc" keeps. */
struct api_gc_attachment {
	const char	*container_id;
	const char	*ifname;
};

/* "gc": removes the endpoints and releases the allocations of network not in attachments. */
struct api_gc_req {
	const char	*network;
	bool		has_attachments;
	struct api_gc_attachment *attachments;	/* optional: none kept */
	size_t		n_attachments;
};

struct api_gc_reply {
	int64_t		released;
};

/* ---- status ---- */

/* "status" takes no fields; podlane-cni names its network, which the agent ignores. */
struct api_status_req {
	const char	*network;	/* optional */
};

/* Kernel features podlaned probed at start. */
struct api_features {
	bool		redirect_peer;
	bool		ringbuf;
	bool		percpu_hash;
	bool		kernel_btf;
	bool		drop_events;	/* --drop-events: drops go to the ring buffer */
};

/*
 * A program podlaned attached: tc programs carry tc_handle and tc_priority; link-based ones
 * link_id, and ifindex, xdp_mode and nodeport_fastpath (XDP) or cgroup (socket LB).
 */
struct api_program {
	const char	*name;
	const char	*hook;		/* "tc ingress, pod host veth", ... */
	int64_t		id;		/* BPF program id */
	bool		has_link_id;
	int64_t		link_id;
	bool		has_tc_handle;
	int64_t		tc_handle;
	bool		has_tc_priority;
	int64_t		tc_priority;
	bool		has_ifindex;
	int64_t		ifindex;
	const char	*xdp_mode;	/* optional */
	bool		has_nodeport_fastpath;
	bool		nodeport_fastpath;
	const char	*cgroup;	/* optional */
};

/* podlane.ko as accounting found it: version, features and kernel only when present. */
struct api_acct_module {
	bool		present;
	bool		has_version;
	int64_t		version;
	bool		has_features;
	int64_t		features;
	const char	*kernel;	/* optional */
};

struct api_acct_errors {
	int64_t		full_sched;
	int64_t		full_skb;
	int64_t		task_state;
};

/*
 * "status" accounting: enabled (BPF programs attached); the rest only while accounting runs
 * (has_details): source ("module": podlane.ko answers, "cgroupfs" otherwise), cpu_source,
 * traffic_source, memory_source, psi_source, cgroup2 and memcg_v1 (mount points, or null),
 * psi_node, psi_cgroup, skb_links ("new" | "adopted" | "none"), map_entries, gc_deleted,
 * tick_us, tie_us, module, errors.
 */
struct api_acct_status {
	bool		enabled;
	bool		has_details;
	const char	*source;
	const char	*cpu_source;
	const char	*traffic_source;
	const char	*memory_source;
	const char	*psi_source;
	const char	*cgroup2;
	const char	*memcg_v1;
	bool		psi_node;
	bool		psi_cgroup;
	const char	*skb_links;
	int64_t		map_entries;
	int64_t		gc_deleted;
	int64_t		tick_us;
	int64_t		tie_us;
	struct api_acct_module module;
	struct api_acct_errors errors;
};

/*
 * How this node reaches the others (userspace/podlaned/nodes/nodes.h): routing is the agent's
 * --routing, one per cluster. In "status" and "node_list".
 */
struct api_node_routing {
	const char	*routing;	/* "direct" | "vxlan" */
	const char	*node_name;	/* null unless --node-name */
	const char	*node_ip;	/* null unless --node-ip */
	const char	*vxlan_dev;	/* null unless VXLAN */
};

/* One network's address pool: a MAP entry keyed by the network's name. */
struct api_ipam_pool {
	const char	*network;	/* the key */
	const char	*subnet;
	int64_t		allocated;
};

struct api_status_reply {
	const char	*version;
	const char	*pin_root;
	const char	*state_dir;
	const char	*uplink;	/* null without --uplink */
	int64_t		max_endpoints;
	struct api_features features;
	struct api_program *programs;
	size_t		n_programs;
	int64_t		endpoints;	/* how many */
	struct api_count *drops;	/* node-wide { "<reason name>": packets } */
	size_t		n_drops;
	struct api_acct_status accounting;
	struct api_node_routing node_routing;	/* inline: routing, node_name, ... */
	int64_t		nodes;		/* other nodes known */
	struct api_ipam_pool *ipam;	/* { "<network>": { subnet, allocated } } */
	size_t		n_ipam;
};

/* ---- endpoint_list ---- */

/* "endpoint_list": a page of the endpoints, in ifindex order (PODLANE_API_PAGE_BYTES). */
struct api_endpoint_list_req {
	bool		has_offset;
	int64_t		offset;		/* optional, >= 0 */
	bool		has_limit;
	int64_t		limit;		/* optional, 1-500: at most that many */
};

/*
 * A pod endpoint with its counters and drops { "<reason name>": n }. cgroup (cgroup v2 path of
 * the pod, null until a process of the pod's netns is found) and cgroup_id (its id = inode)
 * are null until then; memcg_v1 (v1 memory cgroup or null) and processes (in the netns,
 * outside the root cgroup) are only there once it is found (has_cgroup_details).
 */
struct api_endpoint {
	const char	*container_id;
	const char	*netns;
	const char	*network;
	const char	*ifname;
	const char	*host_ifname;
	int64_t		ifindex;
	int64_t		pod_ifindex;
	const char	*ip;
	const char	*pod_mac;
	const char	*host_mac;
	bool		ready;
	bool		ipam_delegated;
	int64_t		created_ns;
	int64_t		rx_packets;
	int64_t		rx_bytes;
	int64_t		tx_packets;
	int64_t		tx_bytes;
	struct api_count *drops;
	size_t		n_drops;
	const char	*cgroup;
	bool		has_cgroup_id;
	int64_t		cgroup_id;
	bool		has_cgroup_details;
	const char	*memcg_v1;
	int64_t		processes;
};

struct api_endpoint_list_reply {
	struct api_endpoint *endpoints;
	size_t		n_endpoints;
	bool		has_total;	/* absent from agents before paging: then it is all */
	int64_t		total;		/* endpoints on the node */
	bool		has_next_offset;
	int64_t		next_offset;	/* where the next page starts; absent on the last */
};

/* ---- acct ---- */

struct api_acct_req {
};

/* Pressure of one resource (/proc/pressure); full_* only where the kernel has them. */
struct api_psi_resource {
	double		some_avg10;
	double		some_avg60;
	double		some_avg300;
	int64_t		some_total_us;
	bool		has_full;
	double		full_avg10;
	int64_t		full_total_us;
};

/* { cpu|memory|io: {...} }, each only when readable. */
struct api_psi {
	bool		has_cpu;
	struct api_psi_resource cpu;
	bool		has_memory;
	struct api_psi_resource memory;
	bool		has_io;
	struct api_psi_resource io;
};

struct api_acct_rates {
	double		cpu_cores;
	double		runq_per_s;
	double		runq_share;
	double		rx_bps;
	double		tx_bps;
	double		rx_pps;
	double		tx_pps;
};

/*
 * A pressure hint, 0 (idle) to 100 (saturated), recomputed every second; the formula is in
 * userspace/podlaned/acct/hints.c. dominant names the part that sets the score.
 */
struct api_hint {
	double		score;
	const char	*dominant;	/* "cpu" | "cpu_pressure" | "runq" | "memory" | "traffic" */
	double		cpu;
	double		cpu_pressure;
	double		runq;
	double		memory;
	double		traffic;
};

/*
 * A pod's accounting. Cumulative counters (cpu_*, runq_*, rx_*, tx_*) are current to the
 * request; rates, memory, PSI and hints are those of the last tick (at most 1 s old). runq_*
 * and rx_/tx_* are there only with the accounting programs (has_bpf_counters). Bytes are IP
 * packet lengths (no L2 header), see struct cgroup_acct in podlane.h.
 */
struct api_acct_pod {
	const char	*container_id;
	const char	*network;
	const char	*ifname;
	const char	*host_ifname;
	int64_t		ifindex;
	const char	*ip;
	const char	*netns;
	const char	*cgroup;	/* null until tied to the pod's processes */
	bool		has_cgroup_id;
	int64_t		cgroup_id;
	int64_t		processes;
	double		cpu_seconds;
	int64_t		cpu_ns;
	bool		has_bpf_counters;
	double		runq_wait_seconds;
	int64_t		runq_waits;
	int64_t		rx_packets;
	int64_t		rx_bytes;
	int64_t		tx_packets;
	int64_t		tx_bytes;
	bool		has_memory_bytes;
	int64_t		memory_bytes;	/* null when unknown */
	bool		has_memory_max;
	int64_t		memory_max;	/* null when unlimited or unknown */
	struct api_psi	psi;
	struct api_acct_rates rates;
	struct api_hint	hint;
};

struct api_acct_node {
	int64_t		cpus;
	double		cpu_busy;	/* 0..1 */
	double		runq_per_cpu;
	double		rx_bps;
	double		tx_bps;
	bool		has_psi;
	struct api_psi	psi;		/* null without /proc/pressure */
};

/* "acct": fails with PODLANE_ERR_NOT_AVAILABLE when accounting is not running. */
struct api_acct_reply {
	const char	*source;
	bool		bpf;
	const char	*memory_source;
	const char	*psi_source;
	int64_t		seq;		/* ticks so far */
	int64_t		updated_ns;	/* CLOCK_REALTIME of the last tick */
	int64_t		interval_ms;
	struct api_acct_pod *pods;
	size_t		n_pods;
	struct api_acct_node node;
};

/* ---- hints ---- */

struct api_hints_req {
};

struct api_hints_node {
	struct api_hint	hint;		/* inline */
	double		cpu_headroom;	/* % */
};

struct api_hints_pod {
	const char	*container_id;
	const char	*host_ifname;
	const char	*ip;
	const char	*cgroup;	/* null until tied */
	struct api_hint	hint;		/* inline */
};

/* "hints": PODLANE_ERR_TRY_AGAIN before the first tick. */
struct api_hints_reply {
	int64_t		seq;
	int64_t		updated_ns;
	int64_t		interval_ms;
	struct api_hints_node node;
	struct api_hints_pod *pods;
	size_t		n_pods;
};

/* ---- hints_cluster: every node as the scheduler extender sees it (sched/sched.h) ---- */

struct api_hints_cluster_req {
};

struct api_cluster_node {
	const char	*node;
	int64_t		score;		/* 0..10, what prioritize would answer (0 when stale) */
	bool		known;		/* the cluster view has hints for it */
	bool		stale;		/* none, or older than stale_ms */
	bool		saturated;	/* filter turns it down */
	double		age_s;		/* age of its hints, -1 none */
	double		pressure;	/* max of the scored parts */
	const char	*dominant;
	double		cpu_pressure, runq, memory;	/* scored */
	double		cpu, traffic;	/* shown, not scored */
	double		cpus;		/* 0 unknown */
	double		pending_cpu;	/* cores placed, not in its hints yet */
	int64_t		pending_pods;
	double		pending_part;
	double		effective;	/* min(100, pressure + pending_part) */
};

/* "hints_cluster": PODLANE_ERR_NOT_AVAILABLE without etcd sync. */
struct api_hints_cluster_reply {
	bool		extender;	/* --extender-addr serves */
	double		saturated;
	int64_t		stale_ms;
	int64_t		pending_ttl_ms;
	struct api_cluster_node *nodes;
	size_t		n_nodes;
};

/* ---- recommend: sizing recommendations (userspace/lib/sizing.h has the formula) ---- */

struct api_recommend_req {
};

/* CPU in cores (whole millicores), memory in bytes; an upper bound is 1e14 units (VPA's
 * most) until the history has some length. */
struct api_recommend_cpu {
	double		target;
	double		lower;
	double		upper;
};

struct api_recommend_memory {
	int64_t		target;
	int64_t		lower;
	int64_t		upper;
};

struct api_recommend_pod {
	const char	*container_id;
	bool		live;		/* accounting knows it now; else a kept history */
	const char	*host_ifname;	/* null when not live */
	const char	*ip;		/* null when not live */
	struct api_recommend_cpu cpu;
	struct api_recommend_memory memory;
	double		confidence;	/* days of history, as VPA counts them */
	int64_t		samples;	/* CPU samples */
	int64_t		first_sample_ms;	/* CLOCK_REALTIME, 0 without samples */
	int64_t		last_sample_ms;
};

/* "recommend": PODLANE_ERR_NOT_AVAILABLE when the module is not running. */
struct api_recommend_reply {
	int64_t		interval_s;	/* seconds per sample */
	double		samples_per_day;
	int64_t		half_life_s;
	int64_t		samples;	/* CPU samples added since start-up */
	const char	*checkpoint;	/* its path */
	int64_t		checkpoint_ms;	/* the last write, 0 = none yet */
	int64_t		checkpoint_errors;
	bool		restored;	/* histories were read from the checkpoint at start-up */
	const char	*refused;	/* why the checkpoint at start-up was refused, else null */
	struct api_recommend_pod *pods;
	size_t		n_pods;
};

/* ---- services (spec format and validation in service_spec.h; same rules for every client) */

/*
 * "service_add": adds the service, or replaces the one with the same namespace/name
 * atomically: lookups see the old or the new version, never a mix. A bad spec fails with
 * PODLANE_ERR_INVALID_CONFIG and a msg "<field>: <problem>"; a frontend (ClusterIP, external
 * IP or NodePort on a node address) that another service owns fails with PODLANE_ERR_CONFLICT;
 * no free service id or a full map with PODLANE_ERR_MAP_FULL. Nothing changes on any error.
 * Persisted in <state-dir>/services/.
 */
struct api_service_add_req {
	struct json_object *service;	/* the spec */
};

/* One frontend of a service: an address and port that the datapath translates. */
struct api_frontend {
	const char	*kind;		/* "ClusterIP" | "ExternalIP" | "NodePort" */
	const char	*address;
	int64_t		port;
	const char	*protocol;	/* "TCP" | "UDP" */
	int64_t		svc_id;
	int64_t		active;		/* backends taking new connections */
	int64_t		local_active;	/* ... of them on this node */
	int64_t		slots;
	bool		maglev;
};

/*
 * Per-packet (NodePort/external) flows of one service port tracked in podlane_ct at the last
 * collector pass (every 10 s); socket-LB connections are counted node-wide only.
 */
struct api_service_counters {
	int64_t		svc_id;
	int64_t		ct_flows;
	int64_t		ct_packets;
	int64_t		ct_bytes;
};

/*
 * A service as the agent holds it: the spec with defaults and each backend's resolved "local"
 * ("localAuto": true where the agent decided), its frontends, and in "service_list" its
 * counters per port.
 *
 * A service too big for one page comes in pieces (partial): each spec holds the backends
 * [backends_from, backends_from + its count) of backends_total; the first piece (from 0) has
 * the frontends and counters, the pieces after it (in the next pages) have none and continue the
 * service before them. Put together, the backends are the spec's.
 */
struct api_service {
	struct json_object *service;	/* the spec; service_spec_parse_listed() reads it */
	struct api_frontend *frontends;
	size_t		n_frontends;
	bool		has_counters;
	struct api_service_counters *counters;
	size_t		n_counters;
	bool		partial;
	int64_t		backends_from;
	int64_t		backends_total;
};

/*
 * What service_add applied: its size does not depend on the spec's (the backends are not
 * echoed; service_list shows them). An agent before that answered with service (the whole
 * service as service_list shows it) instead of name and frontends.
 */
struct api_service_add_reply {
	bool		changed;	/* false when the spec was already in place */
	const char	*name;		/* "namespace/name"; absent from older agents */
	bool		has_frontends;
	struct api_frontend *frontends;
	size_t		n_frontends;
	bool		has_service;
	struct api_service service;	/* older agents only */
};

/*
 * "service_del": fails with PODLANE_ERR_NOT_FOUND when there is no such service. Established
 * connections keep their backend; new ones to its frontends are no longer translated.
 */
struct api_service_del_req {
	const char	*name;		/* "name" or "namespace/name" */
	const char	*namespace;	/* optional, default "default" */
};

struct api_service_del_reply {
};

/*
 * "service_list": one service by name, or a page of them all, in the order they were added.
 * backend_offset continues a service cut at the end of the previous page (its
 * next_backends_from): the page's first service starts at that backend.
 */
struct api_service_list_req {
	const char	*name;		/* optional: that service only (offset is then ignored) */
	const char	*namespace;	/* optional */
	bool		has_offset;
	int64_t		offset;		/* optional, >= 0 */
	bool		has_limit;
	int64_t		limit;		/* optional, 1-500, default 200 */
	bool		has_backend_offset;
	int64_t		backend_offset;	/* optional, >= 0 */
};

/* podlane_ct as the last collector pass found it; the figures once a pass ran (has_pass). */
struct api_conntrack {
	bool		available;
	bool		has_pass;
	int64_t		live;
	int64_t		max_entries;
	int64_t		deleted_last_pass;
};

struct api_service_list_reply {
	struct api_service *services;
	size_t		n_services;
	int64_t		total;		/* services on the node */
	struct api_count *lbstat;	/* node-wide podlane_lbstat { connect, sendmsg, ... } */
	size_t		n_lbstat;
	struct api_conntrack conntrack;
	bool		has_next_offset;
	int64_t		next_offset;	/* the next page (its offset); absent on the last */
	bool		has_next_backends_from;
	int64_t		next_backends_from;	/* its backend_offset: the service at next_offset
						 * continues from that backend */
};

/* ---- other nodes (userspace/podlaned/nodes/nodes.h) ---- */

/*
 * "node_add": adds the node's pod CIDR route to podlane_nodes and its kernel route, or
 * replaces the node of that name (new route in place before the old one goes). Refused with
 * nothing changed: a malformed field, this node's own name, a pod CIDR that contains its node
 * IP or overlaps a reserved range (0/8, 127/8, 169.254/16, 224/4, 240/4), a node IP the kernel
 * cannot route the pod CIDR to (direct routing: not on the uplink's link), direct routing
 * without --uplink (PODLANE_ERR_INVALID_CONFIG, msg "<field>: <problem>"); an address of this
 * node (--node-ip or one of its interfaces) as the node IP or inside the pod CIDR, a pod CIDR
 * overlapping another node's or this node's IPAM subnets, a node IP inside this node's IPAM
 * subnets or one another node has (PODLANE_ERR_CONFLICT); more nodes than podlaned takes
 * (--max-nodes, or what a pinned podlane_nodes holds: PODLANE_ERR_MAP_FULL). Persisted in
 * <state-dir>/nodes/<name>. The records of the etcd sync pass the same checks (a refused one
 * is a dead letter).
 */
struct api_node_add_req {
	const char	*name;		/* DNS-style node name */
	const char	*node_ip;	/* "a.b.c.d", its underlay address */
	const char	*pod_cidr;	/* "10.244.2.0/24", no host bits */
};

/*
 * A node record; installed only in "node_list": podlane_nodes holds the route as it says, and
 * the kernel route to its pods is in place (unless podlaned runs with --no-node-routes).
 */
struct api_node {
	const char	*name;
	const char	*node_ip;
	const char	*pod_cidr;
	const char	*routing;	/* "direct" | "vxlan" */
	bool		has_installed;
	bool		installed;
};

struct api_node_add_reply {
	bool		changed;	/* false when the same record was in place */
	struct api_node	node;
};

/* "node_del": removes the node and its route; idempotent. */
struct api_node_del_req {
	const char	*name;
};

struct api_node_del_reply {
	bool		removed;	/* false when there was no such node */
};

/* "node_list": a page of the other nodes, in the order they were added. */
struct api_node_list_req {
	bool		has_offset;
	int64_t		offset;		/* optional, >= 0 */
	bool		has_limit;
	int64_t		limit;		/* optional, 1-500: at most that many */
};

struct api_node_list_reply {
	struct api_node_routing node_routing;	/* inline */
	struct api_node	*nodes;
	size_t		n_nodes;
	bool		has_total;	/* absent from agents before paging: then it is all */
	int64_t		total;		/* nodes known */
	bool		has_next_offset;
	int64_t		next_offset;	/* where the next page starts; absent on the last */
};

/* ---- control-plane sync through etcd (userspace/podlaned/sync/) ---- */

struct api_sync_status_req {
};

struct api_sync_lease {
	int64_t		id;
	int64_t		ttl;
	int64_t		remaining;
};

struct api_sync_queue {
	int64_t		depth;
	int64_t		capacity;
};

struct api_sync_counters {
	int64_t		events;
	int64_t		listed;
	int64_t		applied;
	int64_t		ep_upserts;
	int64_t		ep_deletes;
	int64_t		ep_stale_deletes;
	int64_t		node_upserts;
	int64_t		node_deletes;
	int64_t		svc_upserts;
	int64_t		svc_deletes;
	int64_t		resyncs;
	int64_t		compactions;
	int64_t		reconnects;
	int64_t		failures;
	int64_t		breaker_opens;
	int64_t		queue_full_waits;
	int64_t		deadletters;	/* ever */
	int64_t		published_puts;
	int64_t		published_deletes;
	int64_t		publish_errors;
	int64_t		lease_grants;
	int64_t		swept;
	int64_t		resync_ms_last;
	int64_t		first_item_ns;
	int64_t		last_apply_ns;
};

struct api_latency {
	int64_t		count;
	int64_t		p50_us;
	int64_t		p90_us;
	int64_t		p99_us;
	int64_t		max_us;
};

/*
 * From a record's "updated" to podlaned parsing it (delivery, etcd's share) and to the map
 * update (apply), parsed -> map (agent), and node/service batches queued -> taken by the main
 * thread (handover).
 */
struct api_sync_latency {
	struct api_latency delivery;
	struct api_latency apply;
	struct api_latency agent;
	struct api_latency handover;
};

struct api_loop_job {
	int64_t		runs;
	int64_t		avg_us;
	int64_t		max_us;
	int64_t		over_1ms;
};

/* The main loop's jobs, timed. */
struct api_sync_loop {
	struct api_loop_job sync_apply;
	struct api_loop_job sync_snapshot;
	struct api_loop_job acct_tick;
	struct api_loop_job metrics;
	struct api_loop_job service_tick;
	struct api_loop_job api_request;
};

/* "sync_status": enabled false is standalone, and then none of the other fields is there. */
struct api_sync_status_reply {
	bool		enabled;
	const char	*state;		/* "connecting" | "listing" | "watching" |
					 * "reconnecting" | "breaker-open" */
	const char	*endpoint;	/* etcd URL in use */
	const char	*last_error;
	int64_t		revision;	/* store revision applied up to */
	const char	*pod_cidr;	/* "" until allocated or without --cluster-cidr */
	const char	*breaker;	/* "open" | "closed" */
	int64_t		consecutive_failures;
	int64_t		deadletters;	/* listed now */
	const char	*node;
	const char	*node_ip;
	struct api_sync_lease lease;
	struct api_sync_queue queue;
	struct api_sync_counters counters;
	int64_t		remote_endpoints;	/* entries in podlane_remote */
	int64_t		nodes;		/* applied from etcd */
	int64_t		services;	/* applied from etcd */
	struct api_sync_latency latency;
	struct api_sync_loop loop;
};

struct api_sync_deadletters_req {
};

struct api_deadletter {
	const char	*key;
	const char	*reason;
	int64_t		revision;
	int64_t		at;		/* unix seconds */
};

/*
 * "sync_deadletters": the last 256 store records refused; a key leaves the list once it holds a
 * valid record or is deleted. total (ever) only when enabled.
 */
struct api_sync_deadletters_reply {
	bool		enabled;
	int64_t		total;
	struct api_deadletter *deadletters;
	size_t		n_deadletters;
};

/* ---- network policy (userspace/podlaned/policy/, policy_spec.h) ---- */

/*
 * "policy_add": NetworkPolicy objects (networking.k8s.io/v1, as policy_spec.h reads them), all
 * or nothing: one that does not validate fails with PODLANE_ERR_INVALID_CONFIG and a msg
 * "items[<i>].<field path>: <reason>"; one whose rule sets do not fit podlane_policy
 * (--max-policy-entries) with PODLANE_ERR_MAP_FULL, saying how many entries it needs and how
 * many are free. Nothing changes on any error. A policy with the namespace/name of one in
 * place replaces it (keeping its id). Persisted in <state-dir>/policies/.
 */
struct api_policy_add_req {
	struct json_object *policies;	/* a JSON array of NetworkPolicy objects */
};

struct api_policy_applied {
	const char	*name;		/* "namespace/name" */
	int64_t		id;		/* the policy's id (podlane_policy, the flow log) */
	const char	*result;	/* "created" | "replaced" | "unchanged" */
};

struct api_policy_add_reply {
	struct api_policy_applied *policies;
	size_t		n_policies;
};

/* "policy_del": PODLANE_ERR_NOT_FOUND when there is no such policy. */
struct api_policy_del_req {
	const char	*name;		/* "namespace/name" */
};

struct api_policy_del_reply {
	int64_t		id;		/* the id the policy had */
};

/* "policy_list": one policy by name, or a page of them all, by id. */
struct api_policy_list_req {
	const char	*name;		/* optional "namespace/name" */
	bool		has_offset;
	int64_t		offset;		/* optional, >= 0 */
	bool		has_limit;
	int64_t		limit;		/* optional, 1-500 */
};

struct api_policy {
	int64_t		id;
	const char	*name;		/* "namespace/name" */
	const char	*types;		/* "Ingress", "Egress" or "Ingress,Egress" */
	int64_t		pods;		/* pods on this node it selects */
	int64_t		ingress_rules;
	int64_t		egress_rules;
	int64_t		entries;	/* podlane_policy entries that name it */
	struct json_object *policy;	/* the object in canonical form (policy_spec_to_json) */
	const char	*source;	/* "podlanectl" or "etcd" (absent from older agents) */
};

/* podlane_policy against its size, and what the agent gave out. */
struct api_policy_capacity {
	int64_t		max_entries;	/* the pinned map's size (--max-policy-entries) */
	int64_t		entries;	/* in use */
	int64_t		rule_sets;	/* distinct rule sets written */
	int64_t		identities;	/* pod identities given out */
	int64_t		refused;	/* changes refused for room, since start */
	int64_t		degraded;	/* pod directions denied all: their rules did not fit */
	int64_t		revision;	/* podlane_pol_rev */
};

struct api_policy_list_reply {
	struct api_policy *policies;
	size_t		n_policies;
	int64_t		total;		/* policies on the node */
	struct api_policy_capacity capacity;
	bool		has_next_offset;
	int64_t		next_offset;
};

/* A named container port of a pod, which a policy port may name. */
struct api_named_port {
	const char	*name;		/* an IANA service name */
	const char	*protocol;	/* "TCP" | "UDP" | "SCTP" */
	int64_t		port;		/* 1-65535 */
};

/*
 * A pod as network policy sees it: local ones (wired here: ifindex, isolation and rule sets)
 * and remote ones (another node's, a possible peer). isolation: "none", "ingress", "egress"
 * or "ingress,egress"; degraded: a direction is isolated but its rules did not fit
 * podlane_policy, so it denies everything until they do.
 */
struct api_pod {
	const char	*namespace;
	const char	*name;
	const char	*ip;
	bool		local;
	bool		has_ifindex;
	int64_t		ifindex;	/* local pods: the host veth */
	int64_t		identity;
	struct api_label *labels;
	size_t		n_labels;
	struct api_named_port *ports;
	size_t		n_ports;
	const char	*isolation;
	bool		degraded;
	int64_t		ingress_set;	/* rule set ids; 0 when not isolated */
	int64_t		egress_set;
};

/*
 * "pod_label": set (value) or remove (value null) labels of a pod of this node, every
 * interface of it; the pods policy selects are re-evaluated, the others untouched.
 * PODLANE_ERR_NOT_FOUND when the node has no such pod, PODLANE_ERR_INVALID_CONFIG for a bad
 * key or value, PODLANE_ERR_MAP_FULL when the new rule sets do not fit; nothing changes then.
 */
struct api_pod_label_req {
	const char	*pod;		/* "namespace/name" */
	struct api_label *labels;
	size_t		n_labels;
};

struct api_pod_label_reply {
	struct api_pod	*pods;		/* the pod's interfaces as they are now */
	size_t		n_pods;
};

/* "pod_ports": replace the pod's named ports (none: clear them); errors as pod_label. */
struct api_pod_ports_req {
	const char	*pod;		/* "namespace/name" */
	struct api_named_port *ports;
	size_t		n_ports;
};

struct api_pod_ports_reply {
	struct api_pod	*pods;
	size_t		n_pods;
};

/* "pod_list": a page of the pods policy knows, local ones first. */
struct api_pod_list_req {
	bool		has_offset;
	int64_t		offset;
	bool		has_limit;
	int64_t		limit;
};

struct api_pod_list_reply {
	struct api_pod	*pods;
	size_t		n_pods;
	int64_t		total;
	bool		has_next_offset;
	int64_t		next_offset;
};

/*
 * A namespace as selectors see it: its labels (kubernetes.io/metadata.name always, as the API
 * server sets it), the pods this node knows in it and the policies in it.
 */
struct api_namespace {
	const char	*name;
	struct api_label *labels;
	size_t		n_labels;
	int64_t		pods;
	int64_t		policies;
};

/*
 * "namespace_label": set or remove a namespace's labels; it need not have pods or policies.
 * Persisted in <state-dir>/namespaces/. kubernetes.io/metadata.name cannot be changed.
 * Errors as pod_label (no NOT_FOUND: a namespace exists once named).
 */
struct api_namespace_label_req {
	const char	*name;
	struct api_label *labels;
	size_t		n_labels;
};

struct api_namespace_label_reply {
	struct api_namespace namespace;
};

struct api_namespace_list_req {
	bool		has_offset;
	int64_t		offset;
	bool		has_limit;
	int64_t		limit;
};

struct api_namespace_list_reply {
	struct api_namespace *namespaces;
	size_t		n_namespaces;
	int64_t		total;
	bool		has_next_offset;
	int64_t		next_offset;
};

/* ---- the flow log (userspace/podlaned/flows/) ---- */

/*
 * "flow_list": records of the flow log, oldest first, that match every filter given: network
 * policy verdicts (allowed: once per new connection and isolated direction; denied: every
 * packet) and other drops. A page holds at most limit records (default
 * PODLANE_API_LIST_LIMIT_DEFAULT) and PODLANE_API_PAGE_BYTES; next_after says where the next
 * one starts (ask again with after = next_after and the first reply's until).
 *
 * follow: the reply carries no records; the agent keeps the connection and sends a message
 * with the same fields (a flow_list reply) whenever records match, or records are lost, until
 * the client closes it. The records after `after` (or the last `last`) come first. A stream
 * that cannot keep up (its socket full) loses what the flow log drops meanwhile, and is told
 * so (lost.stream). At most PODLANE_FLOW_STREAMS_MAX streams at once (PODLANE_ERR_TRY_AGAIN).
 */
#define PODLANE_FLOW_STREAMS_MAX	16

struct api_flow_list_req {
	const char	*verdict;	/* optional "allowed" | "denied" (by network policy) |
					 * "dropped" (any other reason) */
	const char	*from_pod;	/* optional "namespace/name": the source */
	const char	*to_pod;	/* optional "namespace/name": the destination */
	const char	*namespace;	/* optional: a pod of it on either side */
	const char	*ip;		/* optional "a.b.c.d": either address */
	bool		has_port;
	int64_t		port;		/* optional 0-65535: either port */
	const char	*protocol;	/* optional "tcp" | "udp" | "sctp" | "icmp" | a number */
	bool		has_drops;
	bool		drops;		/* optional: drop records only, policy drops included
					 * (`podlanectl monitor`) */
	bool		has_last;
	int64_t		last;		/* optional >= 0: only the last N that match */
	bool		has_after;
	int64_t		after;		/* optional: only records with seq > after */
	bool		has_until;
	int64_t		until;		/* optional: only records with seq <= until */
	bool		has_limit;
	int64_t		limit;		/* optional 1-500 per page */
	bool		has_follow;
	bool		follow;		/* optional: keep the connection and stream */
};

struct api_flow {
	int64_t		seq;		/* the record's number in the agent's lifetime */
	int64_t		time_ns;	/* wall clock, ns since the epoch */
	const char	*time;		/* the same, RFC 3339 UTC with microseconds */
	const char	*verdict;	/* "allowed" | "denied" | "dropped" */
	const char	*reason;	/* drop reason (podlane_drop_name); absent when allowed */
	bool		has_code;
	int64_t		code;		/* the drop reason's number */
	const char	*direction;	/* "ingress" | "egress": whose policy judged; absent for
					 * drops that are not policy verdicts */
	const char	*protocol;	/* "TCP", "UDP", "SCTP", "ICMP", or the number */
	const char	*src_ip;
	bool		has_src_port;
	int64_t		src_port;	/* TCP, UDP, SCTP */
	const char	*dst_ip;
	bool		has_dst_port;
	int64_t		dst_port;
	const char	*src;		/* "ns/name", "node", "remote-node", "world", or src_ip */
	const char	*dst;
	bool		has_identities;
	int64_t		src_identity;	/* policy verdicts: the datapath's identities */
	int64_t		dst_identity;
	const char	*policy;	/* "ns/name" (or "#<id>" once deleted) behind the verdict;
					 * absent when none */
	bool		has_policy_id;
	int64_t		policy_id;
	bool		has_rule;
	int64_t		rule;		/* index in the policy's ingress or egress rules */
	const char	*summary;	/* "allowed by policy x/y ingress rule 0", "isolated by
					 * policy x/y; no rule matched", "dropped: <reason>" */
	const char	*hook;		/* "from_pod" | "to_pod" | "from_uplink" | ... */
	int64_t		ifindex;
	bool		has_len;
	int64_t		len;		/* drops: the packet's length */
};

/* Records that never reached this reader. */
struct api_flow_lost {
	int64_t		datapath;	/* flow records the ring buffer had no room for (all
					 * CPUs, since podlane_pol_stat was created) */
	struct api_count *datapath_cpus; /* the same per CPU: { "0": n, "1": n, ... } */
	size_t		n_datapath_cpus;
	int64_t		evicted;	/* records after `after` the flow log dropped before they
					 * were asked for */
	int64_t		stream;		/* follow: records this stream missed so far */
};

struct api_flow_list_reply {
	struct api_flow	*flows;
	size_t		n_flows;
	int64_t		newest;		/* the newest record's seq (0: none yet) */
	int64_t		until;		/* the page's bound: until given, else newest */
	int64_t		kept;		/* records the flow log holds */
	int64_t		capacity;	/* --flow-log-size */
	bool		has_next_after;
	int64_t		next_after;
	struct api_flow_lost lost;
};

/* ---- the operations ---- */

struct api_op {
	const char		*name;	/* PODLANE_OP_* */
	const struct api_schema	*req;
	const struct api_schema	*reply;
};

#define API_OP_DECLARE(op)								\
	extern const struct api_op api_op_##op;						\
	struct json_object *api_##op##_req_encode(const struct api_##op##_req *req);	\
	int api_##op##_req_decode(struct json_object *o, struct api_##op##_req *req,	\
				  struct api_error *e);					\
	void api_##op##_req_free(struct api_##op##_req *req);				\
	struct json_object *api_##op##_reply_encode(const struct api_##op##_reply *reply); \
	int api_##op##_reply_decode(struct json_object *o, struct api_##op##_reply *reply, \
				    struct api_error *e);				\
	void api_##op##_reply_free(struct api_##op##_reply *reply);			\
	int api_##op##_call(const char *sock_path, int timeout_ms,			\
			    const struct api_##op##_req *req, struct api_##op##_reply *reply, \
			    struct json_object **raw, struct api_error *e);

API_OP_DECLARE(add)
API_OP_DECLARE(del)
API_OP_DECLARE(check)
API_OP_DECLARE(gc)
API_OP_DECLARE(status)
API_OP_DECLARE(endpoint_list)
API_OP_DECLARE(acct)
API_OP_DECLARE(hints)
API_OP_DECLARE(hints_cluster)
API_OP_DECLARE(service_add)
API_OP_DECLARE(service_del)
API_OP_DECLARE(service_list)
API_OP_DECLARE(node_add)
API_OP_DECLARE(node_del)
API_OP_DECLARE(node_list)
API_OP_DECLARE(sync_status)
API_OP_DECLARE(sync_deadletters)
API_OP_DECLARE(policy_add)
API_OP_DECLARE(policy_del)
API_OP_DECLARE(policy_list)
API_OP_DECLARE(pod_label)
API_OP_DECLARE(pod_ports)
API_OP_DECLARE(pod_list)
API_OP_DECLARE(namespace_label)
API_OP_DECLARE(namespace_list)
API_OP_DECLARE(flow_list)
API_OP_DECLARE(recommend)

/* Every operation, for dispatch and tests; api_op_find() by name, NULL when unknown. */
extern const struct api_op *const api_ops[];
extern const size_t api_nops;
const struct api_op *api_op_find(const char *name);

/*
 * The generic forms of the typed functions above. api_op_call: 0 with reply decoded and *raw
 * the reply object (its strings back reply's; json_object_put() it after the reply's free);
 * -errno with e filled otherwise:
 *   podlaned not reached or garbage: -errno of api_call(), e->code PODLANE_ERR_TRY_AGAIN
 *     (PODLANE_ERR_IO for garbage), msg "cannot reach podlaned at '<sock>': <strerror>",
 *     details what api_call() said;
 *   podlaned refused: -EREMOTEIO, e holds its code, msg and details;
 *   the reply does not decode: -EBADMSG, e->code PODLANE_ERR_INTERNAL.
 * *raw holds the result fields only: the envelope ("ok") is taken out.
 */
struct json_object *api_req_encode(const struct api_op *op, const void *req);
struct json_object *api_reply_encode(const struct api_op *op, const void *reply);
int api_op_call(const char *sock_path, int timeout_ms, const struct api_op *op, const void *req,
		void *reply, struct json_object **raw, struct api_error *e);
/* What one entry of a listing adds to its page (api_encoded_len() of it). */
size_t api_endpoint_encoded_len(const struct api_endpoint *ep);
size_t api_service_encoded_len(const struct api_service *s);
size_t api_node_encoded_len(const struct api_node *n);
size_t api_policy_encoded_len(const struct api_policy *p);
size_t api_pod_encoded_len(const struct api_pod *p);
size_t api_namespace_encoded_len(const struct api_namespace *ns);
size_t api_flow_encoded_len(const struct api_flow *f);
/*
 * api_op_call()'s reading of the reply r (what api_reply_parse() made of the message): 0 with
 * reply decoded and r's envelope taken out; -EREMOTEIO or -EBADMSG with e filled, as above.
 */
int api_op_reply_decode(const struct api_op *op, struct json_object *r, void *reply,
			struct api_error *e);

/* The agent's side of the envelope: a request's op, and the replies. */
int api_req_op(struct json_object *req, const char **op, struct api_error *e);
struct json_object *api_reply_ok(void);
struct json_object *api_reply_error(const struct api_error *e);

#endif /* PODLANE_API_OPS_H */
