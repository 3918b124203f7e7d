/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * podlane.h - the one definition of every pinned map's key and value, every drop reason and
 * every event record. Included by the BPF programs (after vmlinux.h), by podlaned, podlane-cni,
 * podlanectl and the selftests. Change a layout here and everything that shares it follows.
 *
 * Rules: fixed-width types only; explicit padding; sizes pinned by _Static_assert; drop reason
 * numbers are never reused or renumbered.
 */
#ifndef PODLANE_H
#define PODLANE_H

#ifndef __bpf__
#include <stddef.h>
#include <linux/types.h>
#endif

#define PODLANE_PIN_ROOT	"/sys/fs/bpf/podlane"
#define PODLANE_STATE_DIR	"/var/lib/podlane"
#define PODLANE_RUN_DIR		"/run/podlane"
#define PODLANE_SOCKET		"/run/podlane/podlaned.sock"

/* Link-local gateway every pod routes through; answered by a permanent neighbour entry. */
#define PODLANE_GATEWAY4	"169.254.1.1"

/*
 * Pinned map names (BPF object names are cut at 15 characters, so nouns stay short):
 * podlane_eps, podlane_ep_stat, podlane_ep_meta, podlane_drops, podlane_events.
 */

/* Default sizes; podlaned may override max_entries at load time (--max-endpoints). */
#define PODLANE_MAX_ENDPOINTS	65536
#define PODLANE_EVENTS_BYTES	(256 * 1024)

#define PODLANE_AF_INET		2	/* == AF_INET */
#define PODLANE_AF_INET6	10	/* == AF_INET6 */

/*
 * Drop reasons. A datapath program returns either a TC_ACT_* / XDP_* verdict or one of these,
 * and the single exit function maps a reason to the drop verdict after counting it. They are
 * negative and far from the TC_ACT_* (-1..8) and XDP_* (0..4) ranges so the two never collide.
 * Append only: a number once shipped keeps its meaning forever.
 */
enum podlane_drop_reason {
	PODLANE_DROP_ETH_TRUNCATED	= -201,	/* frame shorter than an Ethernet header */
	PODLANE_DROP_IP4_TRUNCATED	= -202,	/* shorter than a minimal IPv4 header */
	PODLANE_DROP_IP4_BAD_VERSION	= -203,	/* EtherType IPv4 but version field != 4 */
	PODLANE_DROP_IP4_BAD_IHL	= -204,	/* IHL < 5 or header runs past the packet */
	PODLANE_DROP_IP4_BAD_LENGTH	= -205,	/* tot_len < header length or > packet length */
	PODLANE_DROP_TTL_EXCEEDED	= -206,	/* TTL would reach zero when forwarding */
	PODLANE_DROP_SOURCE_SPOOFED	= -207,	/* pod sent with a source IP it does not own */
	PODLANE_DROP_UNKNOWN_ENDPOINT	= -208,	/* program runs on a veth with no endpoint */
	PODLANE_DROP_REDIRECT_FAILED	= -209,	/* bpf_redirect_peer() refused the target */
	PODLANE_DROP_L4_TRUNCATED	= -210,	/* TCP/UDP/ICMP header (TCP: with its data
						 * offset; UDP: its length) runs past the
						 * datagram */
	PODLANE_DROP_PREFILTER_DENIED	= -211,	/* XDP prefilter: source in the deny list */
	PODLANE_DROP_CT_FULL		= -212,	/* new service flow: podlane_ct insert failed */
	PODLANE_DROP_NO_BACKEND		= -213,	/* service frontend without a usable backend */
	PODLANE_DROP_NO_LOCAL_BACKEND	= -214,	/* externalTrafficPolicy Local, none here */
	PODLANE_DROP_SERVICE_FRAGMENT	= -215,	/* fragmented service flow: later fragments
						 * carry no ports, cannot be translated */
	PODLANE_DROP_NAT_FAILED		= -216,	/* skb could not be rewritten (no memory to
						 * unshare a cloned skb) */
	/* pods on other nodes (bpf/lib/route.h), appended: */
	PODLANE_DROP_NODE_UNREACHABLE	= -217,	/* remote pod CIDR, but the FIB has no route
						 * to its node IP out of the uplink */
	PODLANE_DROP_FRAG_NEEDED	= -218,	/* larger than the uplink MTU toward a remote
						 * node: lower the pod MTU */
	PODLANE_DROP_TUNNEL_FAILED	= -219,	/* tunnel key or redirect to the vxlan
						 * device refused */
	PODLANE_DROP_TUNNEL_SOURCE	= -220,	/* decapsulated packet whose inner source is
						 * not a pod of the node that sent it */
	PODLANE_DROP_SNAT_NO_PORT	= -221,	/* NodePort flow to another node's backend:
						 * no free source port to translate to */
	PODLANE_DROP_L4_BAD_HEADER	= -222,	/* TCP data offset below 5 words or UDP
						 * length below 8 */
	/* network policy (bpf/lib/policy.h), appended: */
	PODLANE_DROP_POLICY_DENIED	= -223,	/* a policy isolates the pod in this direction
						 * and no rule allows the flow */
	PODLANE_DROP_POLICY_NO_FLOW	= -224,	/* TCP packet that does not open a connection
						 * (no SYN, or SYN+ACK) and belongs to no
						 * allowed one: never starts a flow */
};

#define PODLANE_DROP_FIRST	201
#define PODLANE_DROP_SLOTS	32	/* room for appended reasons without changing sizes */

/* Counter slot of a drop reason: 0 for -201, 1 for -202, ... */
#define PODLANE_DROP_INDEX(reason)	(-(reason) - PODLANE_DROP_FIRST)

/* An IP address of either family; IPv4 uses ip4 only and leaves the rest zero. */
struct podlane_addr {
	__u8	family;		/* PODLANE_AF_INET or PODLANE_AF_INET6 */
	__u8	pad[3];
	union {
		__be32	ip4;
		__be32	ip6[4];
	};
};

/*
 * podlane_eps: pod IP -> where it lives on this node.
 * Written by podlaned (endpoint add/del, reconcile); read by every tc program.
 */
struct endpoint_key {
	struct podlane_addr addr;
};

#define PODLANE_EP_F_READY	(1U << 0)	/* programs attached, fast path may redirect */
#define PODLANE_EP_F_LB_BACKEND	(1U << 1)	/* backend of a service the per-packet path
						 * translates: tc_from_pod looks for replies
						 * to put the frontend back on (lib/nat.h) */
/*
 * The pod end is ready for the XDP NodePort fast path (bpf/xdp_uplink.bpf.c): a frame XDP
 * redirects to a host veth is delivered to the pod end only when that end's receive queue has
 * NAPI (an XDP program on the pod's interface, or GRO enabled on it); otherwise the kernel
 * drops it after the program returned. Without the flag the fast path leaves the flow to tc.
 */
#define PODLANE_EP_F_XDP_RX	(1U << 2)

struct endpoint_value {
	__u32	ifindex;	/* host-side veth: the endpoint id used by all other maps */
	__u32	flags;		/* PODLANE_EP_F_* */
	__u8	pod_mac[6];	/* MAC of the interface inside the pod */
	__u8	host_mac[6];	/* MAC of the host-side veth (the pod's gateway MAC) */
};

/*
 * podlane_ep_stat (per-CPU): host veth ifindex -> counters, from the pod's point of
 * view: rx = delivered to the pod, tx = sent by the pod. Bytes are the L2 frame length
 * (skb->len at the hook, Ethernet header included). A dropped packet counts in drops[] only,
 * never in rx/tx.
 * Created and deleted by podlaned with the endpoint; incremented by the tc programs.
 */
struct endpoint_stats {
	__u64	rx_packets;
	__u64	rx_bytes;
	__u64	tx_packets;
	__u64	tx_bytes;
	__u64	drops[PODLANE_DROP_SLOTS];	/* indexed by PODLANE_DROP_INDEX() */
};

/*
 * podlane_drops (per-CPU array, PODLANE_DROP_SLOTS entries): node-wide drops by reason,
 * including drops that cannot be tied to an endpoint. Written by the tc programs only.
 */
struct drop_counter {
	__u64	packets;
	__u64	bytes;
};

/*
 * podlane_ep_meta: host veth ifindex -> what the agent knows about the endpoint.
 * Pinned so a restarted podlaned adopts it; never read by the datapath.
 */
#define PODLANE_CONTAINER_ID_LEN	128
#define PODLANE_NETNS_LEN		128
#define PODLANE_NETWORK_LEN		64
#define PODLANE_IFNAME_LEN		16

struct endpoint_meta {
	char	container_id[PODLANE_CONTAINER_ID_LEN];
	char	netns[PODLANE_NETNS_LEN];	/* path given by the runtime (CNI_NETNS) */
	char	network[PODLANE_NETWORK_LEN];	/* CNI network name */
	char	ifname[PODLANE_IFNAME_LEN];	/* interface name inside the pod */
	char	host_ifname[PODLANE_IFNAME_LEN];
	struct podlane_addr addr;
	__u64	netns_cookie;		/* the netns's identity, to spot a reused path: */
					/* PODLANE_NETNS_COOKIE(dev, inode) of its nsfs file */
	__u64	created_ns;		/* CLOCK_REALTIME nanoseconds */
	__u32	pod_ifindex;		/* ifindex inside the pod netns */
	__u32	flags;			/* PODLANE_META_F_* */
};

#define PODLANE_META_F_IPAM_DELEGATED	(1U << 0)	/* address came from another IPAM plugin */
#define PODLANE_META_F_NO_DEFAULT_ROUTE	(1U << 1)	/* the pod's default route is not via it */

/*
 * A network namespace is its nsfs file's device and inode: the inode (the namespace's proc
 * inum, 32 bits) in the low half, the device (major << 20 | minor, as the kernel's dev_t) in the
 * high half. Records written before the device was kept have a zero high half and are matched
 * by inode alone.
 */
#define PODLANE_NETNS_COOKIE(dev, ino)	((__u64)(__u32)(dev) << 32 | (__u32)(ino))
#define PODLANE_NETNS_INO(cookie)	((__u32)(cookie))
#define PODLANE_NETNS_DEV(cookie)	((__u32)((cookie) >> 32))

/* podlane_events (ring buffer): one record per dropped packet, read by `podlanectl monitor`. */
enum podlane_event_type {
	PODLANE_EVENT_DROP = 1,
	PODLANE_EVENT_FLOW = 2,		/* struct flow_event (network policy) */
};

struct drop_event {
	__u32	type;		/* PODLANE_EVENT_DROP */
	__s32	reason;		/* enum podlane_drop_reason */
	__u32	ifindex;	/* device the program ran on */
	__u32	len;		/* skb->len */
	__u64	ts_ns;		/* bpf_ktime_get_ns() */
	__be32	saddr;		/* zero when the packet was too short to tell */
	__be32	daddr;
	__u16	eth_proto;	/* host byte order */
	__u8	ip_proto;
	__u8	hook;		/* enum podlane_hook */
	__u32	pad;
};

enum podlane_hook {
	PODLANE_HOOK_FROM_POD	= 1,	/* tc ingress on a pod's host veth */
	PODLANE_HOOK_TO_POD	= 2,	/* tc egress on a pod's host veth */
	PODLANE_HOOK_FROM_UPLINK = 3,	/* tc ingress on the node uplink */
	PODLANE_HOOK_XDP_UPLINK	= 4,	/* XDP on the node uplink (prefilter) */
	PODLANE_HOOK_FROM_TUNNEL = 5,	/* tc ingress on the vxlan device (decapsulated) */
};

_Static_assert(sizeof(struct podlane_addr) == 20, "podlane_addr layout");
_Static_assert(sizeof(struct endpoint_value) == 20, "endpoint_value layout");
_Static_assert(sizeof(struct endpoint_stats) == 32 + 8 * PODLANE_DROP_SLOTS, "stats layout");
_Static_assert(sizeof(struct drop_event) == 40, "drop_event layout");

/* ---- cgroup accounting (bpf/sched_acct.bpf.c, bpf/cgroup_skb_acct.bpf.c, bpf/lib/acct.h) ----
 *
 * Pinned maps: podlane_cgacct, podlane_cgerrs. Both accounting objects declare them pinned by
 * name, so they fill the same counters once loaded under one pin root.
 *
 * Which cgroup is charged: the cgroup v2 (default hierarchy) cgroup a task or socket belongs to
 * itself, never its ancestors; a pod's usage is the sum over its cgroup's subtree, which the
 * reader (podlaned) adds up. Ids are kernfs node ids: the st_ino of the cgroup's directory
 * under the v2 mount, or the 8-byte handle name_to_handle_at() returns for it. Ids are never
 * reused, so entries of removed cgroups stay until the reader deletes them.
 */
#define PODLANE_MAX_CGROUPS	8192	/* default; podlaned may resize before load */

/*
 * podlane_cgacct (per-CPU hash): cgroup v2 id -> what the cgroup's own tasks and sockets used.
 * Entries are created by the programs on first use; podlaned reads (sums the CPUs) and deletes
 * entries of cgroups that are gone.
 *
 * cpu_ns: the kernel's own runtime of the cgroup's tasks (task->se.sum_exec_runtime, the same
 *   deltas cgroup v2 cpu.stat usage_usec sums). Live tasks are charged when the reader runs
 *   the acct_iter_tasks iterator (do that right before reading, one reader at a time), exited
 *   tasks when they are freed (an RCU grace period after exit). See sched_acct.bpf.c.
 * runq_wait_ns, runq_waits: time spent runnable but waiting for a CPU, and the number of such
 *   waits that ended (times the tasks were switched in). Default source: the kernel's
 *   sched_info (/proc/<pid>/schedstat field 2 and 3); see sched_acct.bpf.c for the fallback.
 * rx_*, tx_*: what the cgroup's sockets received (cgroup_skb/ingress, after socket lookup)
 *   and sent (cgroup_skb/egress, before fragmentation). One packet is one skb as the stack
 *   hands it over (a GSO or GRO super-packet counts once, as a veth counts it); bytes are
 *   skb->len at the hook = the IP packet length, IP header included, no L2 header. On an
 *   Ethernet device (veth) that carries exactly these packets, the device's byte counter is
 *   bytes + 14 * packets (lo is the exception: it counts without its header, so bytes). Not
 *   seen here: ARP/ND, traffic the kernel answers or drops without a socket (ICMP echo,
 *   RSTs, no listener), forwarded packets. An IP datagram larger than the MTU counts once
 *   here and once per fragment on the device.
 */
struct cgroup_acct {
	__u64	cpu_ns;
	__u64	runq_wait_ns;
	__u64	runq_waits;
	__u64	rx_packets;
	__u64	rx_bytes;
	__u64	tx_packets;
	__u64	tx_bytes;
};

/*
 * podlane_cgerrs (per-CPU array, one entry at key 0): what the accounting could not record,
 * so a full map is never silent. Written by the accounting programs, read by podlaned.
 */
struct cgroup_acct_errors {
	__u64	full_sched;	/* task charges lost: podlane_cgacct full */
	__u64	full_skb;	/* packets not counted: podlane_cgacct full */
	__u64	task_state;	/* tasks skipped by an iteration: no task storage (next time) */
	__u64	reserved;
};

_Static_assert(sizeof(struct cgroup_acct) == 56, "cgroup_acct layout");
_Static_assert(sizeof(struct cgroup_acct_errors) == 32, "cgroup_acct_errors layout");

/* ---- service load balancing (bpf/sock_lb.bpf.c, bpf/xdp_uplink.bpf.c, bpf/lib/lb.h) --------
 *
 * Pinned maps: podlane_svc, podlane_backend, podlane_maglev, podlane_affin, podlane_revnat,
 * podlane_lbstat (bpf/lib/lb.h), podlane_sk_svc (bpf/sock_lb.bpf.c) and podlane_deny4,
 * podlane_deny6 (bpf/xdp_uplink.bpf.c).
 *
 * A service frontend (ClusterIP, NodePort on one node address, external IP) is one podlane_svc
 * entry. Its backends sit in podlane_backend under {svc id, slot}, packed by the agent:
 *
 *   slots [0, local_count)       active backends on this node
 *   slots [local_count, count)   active backends elsewhere
 *   slots [count, total)         terminating backends: never chosen for a new connection, kept
 *                                so that the per-packet path can finish existing flows
 *
 * so "any active backend" and "local active backend" are both a random slot in a prefix and
 * selection costs the same for 10 or 50,000 services. Weights: every backend carries one
 * alias-method column per prefix (Vose; built by lb_alias_build() in userspace/lib/maglev.c),
 * so a weighted random choice is one random slot plus one coin, no scan. A service flagged
 * MAGLEV instead picks podlane_maglev[svc id][hash % PODLANE_MAGLEV_M] (a slot); NodePort uses
 * that so that a flow hashes to the same backend on every node and removing one of N backends
 * moves only about 1/N of the flows.
 *
 * Update order for the agent: write backends first, then the service (count last), so the
 * datapath never sees a count larger than the filled slots; shrink in the reverse order.
 */
#define PODLANE_MAX_SERVICES	65536	/* service ids are 1..PODLANE_MAX_SERVICES - 1 */
#define PODLANE_MAX_BACKENDS	262144	/* {svc, slot} entries over all services */
#define PODLANE_MAX_AFFINITY	65536	/* LRU: client x service pairs remembered */
#define PODLANE_MAX_REVNAT	262144	/* LRU: unconnected UDP {socket, backend} pairs */
#define PODLANE_MAX_PREFILTER	262144	/* prefixes per deny list (not preallocated) */

/*
 * Maglev table size: a prime (every skip must walk the whole table) well above the backend
 * count, because the entries that move between surviving backends when one leaves shrink as
 * M/N grows (selftests/bpf/test_lb_maglev measures it). Removing 1 of 50 backends moves
 * 2.0% (the minimum, 1/N) + 2.2% at M = 4093, + 0.9% at 16381, + 0.4% at 65521; 16381 (as
 * Cilium's default) keeps the excess under 1% up to 50 backends for 64 KiB per service. Only
 * MAGLEV services (NodePort) get a table (inner maps of podlane_maglev), so tens of
 * thousands of ClusterIPs cost nothing here.
 */
#define PODLANE_MAGLEV_M	16381

/* podlane_svc key: the address clients connect to. proto is IPPROTO_TCP/UDP. */
struct lb_service_key {
	__be32	addr;
	__be16	port;
	__u8	proto;
	__u8	pad;
};

#define PODLANE_SVC_F_AFFINITY	(1U << 0)	/* sessionAffinity: ClientIP */
#define PODLANE_SVC_F_NODEPORT	(1U << 1)	/* frontend is <node address>:<nodePort> */
#define PODLANE_SVC_F_EXTERNAL	(1U << 2)	/* frontend is an external IP */
#define PODLANE_SVC_F_EXT_LOCAL	(1U << 3)	/* externalTrafficPolicy: Local */
#define PODLANE_SVC_F_INT_LOCAL	(1U << 4)	/* internalTrafficPolicy: Local */
#define PODLANE_SVC_F_MAGLEV	(1U << 5)	/* choose through podlane_maglev[id] */

/*
 * podlane_svc: frontend -> service. Written by podlaned, read by the LB programs.
 * Clients of the socket LB are on this node (pods and the node itself), i.e. internal
 * traffic: it honours INT_LOCAL for every kind of frontend. EXT_LOCAL is for the per-packet
 * path, for clients outside the cluster.
 */
struct lb_service {
	__u32	id;			/* key of podlane_backend/podlane_maglev, never 0 */
	__u16	count;			/* active backends, slots [0, count) */
	__u16	local_count;		/* active on this node, slots [0, local_count) */
	__u32	flags;			/* PODLANE_SVC_F_* */
	__u32	affinity_timeout;	/* seconds an idle ClientIP choice is kept */
};

/* podlane_backend key. */
struct lb_backend_key {
	__u32	svc_id;
	__u32	slot;
};

enum lb_backend_state {
	PODLANE_BACKEND_ACTIVE		= 0,
	PODLANE_BACKEND_TERMINATING	= 1,	/* no new connections */
};

#define PODLANE_BACKEND_F_LOCAL	(1U << 0)	/* backend runs on this node */

/* Alias-method coin that always keeps the slot: uniform weights need nothing else. */
#define PODLANE_ALIAS_KEEP_ALL	0xffffffffU

/*
 * podlane_backend: {svc id, slot} -> backend. Written by podlaned, read by the LB programs.
 * keep/alias: after drawing slot s uniformly in [0, count), keep s when a 32-bit random
 * number is below keep (KEEP_ALL: always), else take alias; local_keep/local_alias do the
 * same over [0, local_count). Columns of slots outside a prefix are ignored.
 */
struct lb_backend {
	__be32	addr;
	__be16	port;
	__u8	state;		/* enum lb_backend_state */
	__u8	flags;		/* PODLANE_BACKEND_F_* */
	__u32	id;		/* agent's stable backend id, checked by affinity */
	__u32	weight;		/* informational: the alias columns already encode it */
	__u32	keep;
	__u32	alias;
	__u32	local_keep;
	__u32	local_alias;
};

/*
 * podlane_maglev (array of maps, index svc id): inner ARRAY of PODLANE_MAGLEV_M __u32 slots,
 * created by podlaned for MAGLEV services only (bpf_map_create(BPF_MAP_TYPE_ARRAY, 4, 4,
 * PODLANE_MAGLEV_M) with the template's BPF_F_MMAPABLE, see lib/lb.h) and filled from
 * maglev_build() through mmap (a __u32 every 8 bytes: array elements are 8-byte aligned).
 */

/* podlane_affin (LRU): which backend a client was given, for sessionAffinity ClientIP. */
struct lb_affinity_key {
	__u64	client;		/* netns cookie: one per pod, so one per client IP */
	__u32	svc_id;
	__u32	pad;
};

struct lb_affinity {
	__u64	last_ns;	/* bpf_ktime_get_ns() of the last connection that used it */
	__u32	backend_id;	/* lb_backend.id, checked against the slot on use */
	__u32	slot;
};

/*
 * podlane_revnat (LRU): an unconnected UDP socket's backend -> the service address it sent to.
 * Written by sendmsg4; read by recvmsg4 (UDP replies come back from the service address).
 * Keyed by backend too because such a socket may talk to several services. Connected sockets
 * use podlane_sk_svc instead (below), so connection churn never evicts these.
 */
struct lb_revnat_key {
	__u64	cookie;		/* bpf_get_socket_cookie() */
	__be32	addr;		/* backend */
	__be16	port;
	__u16	pad;
};

struct lb_revnat {
	__be32	addr;		/* service frontend */
	__be16	port;
	__u16	pad;
};

/*
 * podlane_sk_svc (BPF_MAP_TYPE_SK_STORAGE, no preallocation): a connected socket (TCP,
 * connected UDP) -> its translation, stored in the socket and freed by the kernel with it.
 * Written by connect4; read by getpeername4 and recvmsg4, which restore the service address
 * when the peer is still backend_addr:backend_port.
 */
struct lb_sock_nat {
	__be32	backend_addr;
	__be16	backend_port;
	__u16	pad;
	__be32	addr;		/* service frontend the socket connected to */
	__be16	port;
	__u16	pad2;
};

/* podlane_lbstat (per-CPU array, PODLANE_LB_STAT_SLOTS x __u64): what the LB did and missed. */
enum lb_stat {
	PODLANE_LB_CONNECT		= 0,	/* connect4 translated */
	PODLANE_LB_SENDMSG		= 1,	/* sendmsg4 translated */
	PODLANE_LB_RECVMSG		= 2,	/* recvmsg4 restored the service address */
	PODLANE_LB_PEERNAME		= 3,	/* getpeername4 restored the service */
	PODLANE_LB_NO_BACKEND		= 4,	/* no usable backend: refused */
	PODLANE_LB_AFFINITY_HIT		= 5,	/* remembered backend reused */
	PODLANE_LB_AFFINITY_FULL	= 6,	/* could not remember a choice */
	PODLANE_LB_REVNAT_FULL		= 7,	/* translation not recorded (podlane_revnat
						 * or socket storage refused): replies and
						 * getpeername show the backend */
	PODLANE_LB_NO_MAGLEV		= 8,	/* no Maglev table yet: fell back */
	PODLANE_LB_PREFILTER_PASS	= 9,	/* XDP prefilter: looked up, allowed */
	/* per-packet service path (bpf/lib/nat.h), appended: */
	PODLANE_LB_NAT_NEW		= 10,	/* new flow: backend chosen, podlane_ct written */
	PODLANE_LB_NAT_CT_HIT		= 11,	/* packet of a tracked flow translated */
	PODLANE_LB_NAT_REPLY		= 12,	/* backend's reply translated back */
	PODLANE_LB_CT_MIDFLOW		= 13,	/* TCP without SYN and no podlane_ct entry: the
						 * entry was evicted (LRU) or expired; re-chosen */
	PODLANE_LB_CT_STALE		= 14,	/* tracked backend endpoint gone: re-chosen */
	PODLANE_LB_REPLY_STACK		= 15,	/* reply translated, FIB gave no direct route:
						 * handed to the host stack */
	PODLANE_LB_XDP_FAST		= 16,	/* a tracked flow's packet translated and
						 * redirected by XDP (also counted as
						 * NAT_CT_HIT, as the same packet in tc) */
};
#define PODLANE_LB_STAT_SLOTS	32

/* podlane_deny4/6 (LPM tries): source prefix -> rule; podlaned writes, XDP reads and counts. */
struct prefilter_key4 {
	__u32	prefixlen;	/* 0..32 */
	__be32	addr;
};

struct prefilter_key6 {
	__u32	prefixlen;	/* 0..128 */
	__be32	addr[4];
};

enum prefilter_action {
	PODLANE_PREFILTER_DENY	= 0,
	PODLANE_PREFILTER_ALLOW	= 1,	/* exception inside a shorter deny prefix */
};

struct prefilter_rule {
	__u64	packets;	/* frames dropped by this (deny) rule; atomic */
	__u32	action;		/* enum prefilter_action */
	__u32	pad;
};

_Static_assert(sizeof(struct lb_service_key) == 8, "lb_service_key layout");
_Static_assert(sizeof(struct lb_service) == 16, "lb_service layout");
_Static_assert(sizeof(struct lb_backend_key) == 8, "lb_backend_key layout");
_Static_assert(sizeof(struct lb_backend) == 32, "lb_backend layout");
_Static_assert(sizeof(struct lb_affinity_key) == 16, "lb_affinity_key layout");
_Static_assert(sizeof(struct lb_affinity) == 16, "lb_affinity layout");
_Static_assert(sizeof(struct lb_revnat_key) == 16, "lb_revnat_key layout");
_Static_assert(sizeof(struct lb_revnat) == 8, "lb_revnat layout");
_Static_assert(sizeof(struct lb_sock_nat) == 16, "lb_sock_nat layout");
_Static_assert(sizeof(struct prefilter_key4) == 8, "prefilter_key4 layout");
_Static_assert(sizeof(struct prefilter_key6) == 20, "prefilter_key6 layout");
_Static_assert(sizeof(struct prefilter_rule) == 16, "prefilter_rule layout");

/* ---- end of service load balancing ---- */

/* ---- per-packet service path: conntrack and NAT (bpf/lib/conntrack.h, bpf/lib/nat.h) -------
 *
 * Pinned map: podlane_ct. Traffic that did not start at a local socket (NodePort, external IPs
 * and ClusterIPs reached from the uplink) is translated per packet: tc_from_uplink DNATs the
 * client's packets to a backend, tc_from_pod translates the backend's replies back. Each
 * translated flow has two podlane_ct entries, so each direction finds its own with one lookup:
 *
 *   ORIGINAL  {client -> frontend}   nat = backend    (DNAT on the way in)
 *   REPLY     {backend -> client}    nat = frontend   (source rewritten on the way out)
 *
 * The entry holds the chosen backend, so a flow stays on it when the backend leaves the
 * service or turns terminating; only new flows see the change.
 *
 * Size: podlane_ct is an LRU hash of PODLANE_MAX_CT entries by default (two per flow).
 * podlaned sizes it from memory with ct_size_from_memory() (userspace/lib/ct_gc.h): 1/400 of
 * physical memory at PODLANE_CT_ENTRY_COST bytes per entry, rounded down to a power of two and
 * clamped to [PODLANE_MIN_CT, PODLANE_MAX_CT_LIMIT]; a node with 16 to 32 GiB gets the default.
 * Expired entries are deleted by ct_gc(); a full map evicts the least recently used entry,
 * which shows as PODLANE_LB_CT_MIDFLOW when its flow sends again, and an insert that fails
 * outright is a drop with reason CT_FULL.
 */
#define PODLANE_MAX_CT		262144
#define PODLANE_MIN_CT		16384
#define PODLANE_MAX_CT_LIMIT	4194304
#define PODLANE_CT_ENTRY_COST	128	/* key + value + the kernel's per-element overhead */

/* Lifetimes: an entry may be collected this long after the last packet that refreshed it. */
#define PODLANE_CT_TCP_LIFETIME_S	21600	/* established TCP: 6 h */
#define PODLANE_CT_SYN_LIFETIME_S	60	/* TCP until the backend answered */
#define PODLANE_CT_CLOSE_LIFETIME_S	10	/* TCP after FIN or RST */
#define PODLANE_CT_UDP_LIFETIME_S	60

enum ct_dir {
	PODLANE_CT_ORIGINAL	= 0,
	PODLANE_CT_REPLY	= 1,
};

/* podlane_ct key: the packet's own addresses and ports as seen on the wire, before NAT. */
struct ct_key {
	__be32	saddr;
	__be32	daddr;
	__be16	sport;
	__be16	dport;
	__u8	proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8	dir;		/* enum ct_dir */
	__u16	pad;
};

#define PODLANE_CT_F_SYN_SEEN		(1U << 0)	/* created by a TCP SYN */
#define PODLANE_CT_F_ESTABLISHED	(1U << 1)	/* the backend answered */
#define PODLANE_CT_F_CLOSING		(1U << 2)	/* FIN or RST seen in either direction */
#define PODLANE_CT_F_MIDFLOW		(1U << 3)	/* created without a SYN (entry was lost) */
#define PODLANE_CT_F_LOCAL		(1U << 4)	/* backend is an endpoint on this node */
#define PODLANE_CT_F_SNAT		(1U << 5)	/* source translated too: see below */
#define PODLANE_CT_F_STATE	(PODLANE_CT_F_SYN_SEEN | PODLANE_CT_F_ESTABLISHED | \
				 PODLANE_CT_F_CLOSING)

/*
 * podlane_ct value. Written by tc_from_uplink (creates both entries) and tc_from_pod
 * (refreshes REPLY); deleted by ct_gc() in podlaned once expires_ns has passed.
 * Times are bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC. Counters are per entry, so per
 * direction, and are plain adds: approximate if one flow runs on several CPUs at once.
 */
struct ct_entry {
	__u64	expires_ns;
	__u64	created_ns;
	__u64	packets;
	__u64	bytes;		/* skb->len, Ethernet header included */
	__be32	nat_addr;	/* ORIGINAL: backend; REPLY: frontend */
	__be16	nat_port;
	__u16	flags;		/* PODLANE_CT_F_* */
	__u32	svc_id;
	__u32	backend_id;	/* lb_backend.id at the time of the choice */
	__be32	rev_addr;	/* PODLANE_CT_F_SNAT only. ORIGINAL: the source the backend */
	__be16	rev_port;	/* sees (this node); REPLY: the client to send the reply to */
	__u16	pad;
};

_Static_assert(sizeof(struct ct_key) == 16, "ct_key layout");
_Static_assert(sizeof(struct ct_entry) == 56, "ct_entry layout");

/*
 * NodePort to a backend on another node (PODLANE_CT_F_SNAT). The client's address cannot be
 * kept: the backend would answer the client directly, from its own address, and the client
 * would drop it. So, as kube-proxy does for externalTrafficPolicy Cluster, the receiving node
 * also rewrites the source to the frontend address the client reached (one of its own) and a
 * port of PODLANE_SNAT_PORT_MIN..MAX, above the kernel's default ephemeral range so that it
 * does not meet the node's own connections; the flow is sent to the backend's node like a
 * pod's packet (lib/route.h). The backend answers that address, the reply returns over the
 * underlay, and tc_from_uplink finds the REPLY entry {backend -> node address:port}, puts
 * frontend and client back and forwards it. Entries, both directions:
 *   ORIGINAL  client:cport -> frontend:fport   nat = backend, rev = node address:port
 *   REPLY     backend -> node address:port     nat = frontend, rev = client:cport
 * Local backends keep the client address (no SNAT), and externalTrafficPolicy Local never
 * chooses a remote backend.
 */
#define PODLANE_SNAT_PORT_MIN	61000
#define PODLANE_SNAT_PORT_MAX	65535
#define PODLANE_SNAT_TRIES	8	/* ports tried for a new flow before SNAT_NO_PORT */

/* ---- end of per-packet service path ---- */

/* ---- pods on other nodes (bpf/lib/route.h, userspace/podlaned/nodes/) ---------------------------
 *
 * Pinned map: podlane_nodes. Every other node of the cluster owns one pod CIDR; a pod's packet
 * to an address that is not a local endpoint is looked up here by longest prefix. A hit goes
 * out of the node without the host routing step:
 *
 *   direct  (nodes share a link): bpf_fib_lookup() for node_ip, which must leave through
 *           ifindex (the uplink), then bpf_redirect() / bpf_redirect_neigh() there; the
 *           packet keeps the pod addresses, the receiving uplink's tc_from_uplink delivers it.
 *   VXLAN   (PODLANE_NODE_F_VXLAN): tunnel key {remote node_ip, vni} set on the skb and
 *           bpf_redirect() to ifindex, a collect-metadata ("external") vxlan device the
 *           agent owns; the receiving node's tc_from_tunnel checks that the inner source is a
 *           pod of the node that sent it and delivers.
 *
 * The node's own pod CIDR is never in the map: local pods are found in podlane_eps first.
 */
/* The BPF objects' size of podlane_nodes; podlaned creates it for --max-nodes (2 a node). */
#define PODLANE_MAX_NODES	4096
#define PODLANE_VXLAN_PORT	4789	/* IANA VXLAN port, the vxlan device's dstport */
#define PODLANE_VXLAN_VNI	1	/* one VNI per cluster: pod IPs are unique cluster-wide */

/* podlane_nodes key (LPM trie): prefixlen 1..32 then the pod CIDR's network address. */
struct node_key {
	__u32	prefixlen;
	__be32	addr;
};

#define PODLANE_NODE_F_VXLAN	(1U << 0)	/* encapsulate; else route directly */
/*
 * VXLAN only: the key is a node's own address (/32), not a pod CIDR. What a node's own stack
 * sends into the tunnel (its kernel route to a remote pod CIDR, or a NodePort flow it
 * translated, lib/nat.h) carries that address as inner source; tc_from_tunnel accepts it
 * from that node like one of its pods. Never a route: tc_from_pod leaves such packets to the
 * stack, which reaches node addresses over the underlay.
 */
#define PODLANE_NODE_F_ADDR	(1U << 1)

/* podlane_nodes value. Written by podlaned (node_add/node_del, start-up), read by tc_from_pod
 * and tc_from_tunnel. */
struct node_value {
	__be32	node_ip;	/* the node's underlay address */
	__u32	ifindex;	/* direct: the uplink; VXLAN: the vxlan device */
	__u32	flags;		/* PODLANE_NODE_F_* */
	__u32	vni;		/* VXLAN network identifier (VXLAN only) */
};

_Static_assert(sizeof(struct node_key) == 8, "node_key layout");
_Static_assert(sizeof(struct node_value) == 16, "node_value layout");

/*
 * podlane_remote: a pod IP on another node (IPv4, network order) -> that node. Created and
 * pinned by podlaned's control-plane sync (only with --etcd-endpoints, sized by
 * --max-remote-endpoints) and written by it alone; no BPF program reads it yet. Policy and
 * pressure-aware load balancing will: the first reader declares it in lib/maps.h with this
 * layout. gen is the full resync that last confirmed the entry; entries of older generations
 * are swept after a resync.
 */
#define PODLANE_REMOTE_MAP	"podlane_remote"

struct remote_endpoint {
	__be32	node_ip;
	__u32	gen;
};

_Static_assert(sizeof(struct remote_endpoint) == 8, "remote_endpoint layout");

/* ---- end of pods on other nodes ---- */

/* ---- network policy (bpf/lib/policy.h, userspace/podlaned/policy/) -----------------------------
 *
 * Kubernetes NetworkPolicy, enforced on each pod's host veth for both directions. Selectors are
 * resolved in userspace into numeric identities, and policies into rule sets keyed by them:
 *
 *   identity   a local number podlaned gives each distinct {namespace, pod labels, named
 *              ports} it knows, local pods and remote ones alike (remote pods' metadata comes
 *              with their endpoint records), so pods with the same labels share one. Reserved:
 *              PODLANE_ID_WORLD (not a known pod or node), PODLANE_ID_HOST (this node),
 *              PODLANE_ID_REMOTE_NODE (another node's address). Selectors never select them;
 *              only an ipBlock does.
 *   CIDR id    every distinct prefix that an ipBlock cidr or except names gets one
 *              (PODLANE_ID_CIDR_BASE and up). A rule set allows a CIDR id for the union of
 *              the ipBlocks whose cidr holds that prefix and none of whose excepts do, so the
 *              most specific prefix holding an address decides for it.
 *   rule set   what one endpoint allows in one direction: a set of {peer id, protocol, port
 *              range} entries, each naming the policy and rule behind it. Endpoints with the
 *              same entries share one rule set id and its map entries, so memory grows with
 *              distinct rule sets, not with pods. Rule set 0 is "not isolated".
 *
 * podlane_ipcache (LPM trie, IPv4): address -> {id, cidr_id}. Pod addresses (/32, local and
 *   remote) carry the pod's identity, node addresses HOST or REMOTE_NODE, ipBlock prefixes WORLD;
 *   every entry also carries the CIDR id of the most specific ipBlock prefix holding it (0:
 *   none), so an ipBlock naming a pod's own address matches that pod (the upstream cases).
 * podlane_ep_policy (hash): host veth ifindex -> the endpoint's rule set per direction and the
 *   policy that isolates it there (for "isolated by P; no rule matched"). No entry, or flags
 *   without either direction: the pod is isolated in neither direction.
 * podlane_policy (LPM trie): {rule set, peer id, proto, port} -> the policy and rule. Prefix
 *   lengths: 64 = any protocol and port for that peer, 72 = any port of that protocol, 72 + n
 *   = the first n bits of the port (a port range is at most 30 prefixes). A peer
 *   PODLANE_ID_ANY entry is a rule with no peers (any source or destination). Every entry
 *   allows: NetworkPolicy has no deny rules; an isolated direction with no matching entry
 *   drops (PODLANE_DROP_POLICY_DENIED).
 * podlane_pol_ct (LRU hash): the connections policy allowed, keyed by the original direction's
 *   tuple. A packet of a known connection (either direction) passes without a rule lookup;
 *   only a packet that may open a connection (TCP SYN without ACK, SCTP INIT, any UDP, ICMP
 *   echo or timestamp request, any packet of another protocol) is judged, and only an allowed
 *   one creates an entry (lib/policy.h has the details). An entry made under an older
 *   podlane_pol_rev is judged again by its next original-direction packet and removed when
 *   the rules no longer allow it. Entries are made only where some endpoint involved is
 *   isolated, so pods without policy cost nothing here.
 * podlane_pol_rev (array of one __u32): the policy revision, which podlaned bumps after every
 *   change of rule sets or identities.
 * podlane_pol_stat (per-CPU array): PODLANE_POL_STAT_* counters, lost flow records included.
 *
 * Where: tc_from_pod judges the sender's egress, and the receiver's ingress when the receiver
 * is a pod on this node (the fast path skips the receiver's veth); whatever reaches a local pod
 * from elsewhere (uplink, tunnel, host stack) is judged for the receiver's ingress where it is
 * delivered. Services are judged after translation, against the backend pod. Traffic from this
 * node's own addresses (PODLANE_ID_HOST) to its pods is always allowed, as Kubernetes requires
 * for kubelet's probes; it is counted.
 */
#define PODLANE_MAX_POLICY	65536	/* podlane_policy entries; --max-policy-entries */
#define PODLANE_MAX_IPCACHE	131072	/* podlane_ipcache entries */
#define PODLANE_MAX_POL_CT	262144	/* podlane_pol_ct entries (LRU) */

enum podlane_identity {
	PODLANE_ID_WORLD	= 0,
	PODLANE_ID_HOST		= 1,
	PODLANE_ID_REMOTE_NODE	= 2,
	PODLANE_ID_POD_BASE	= 256,		/* pod identities: 256 .. CIDR_BASE - 1 */
	PODLANE_ID_CIDR_BASE	= 0x10000000,	/* ipBlock prefixes */
	PODLANE_ID_ANY		= 0xffffffff,	/* podlane_policy: a rule with no peers */
};

struct ipcache_key {
	__u32	prefixlen;	/* 0..32 */
	__be32	addr;
};

struct ipcache_value {
	__u32	id;		/* enum podlane_identity or a pod identity */
	__u32	cidr_id;	/* most specific ipBlock prefix holding it; 0: none */
};

#define PODLANE_POL_F_INGRESS	(1U << 0)	/* isolated for ingress: ingress_set decides */
#define PODLANE_POL_F_EGRESS	(1U << 1)	/* isolated for egress: egress_set decides */

struct ep_policy {
	__u32	ingress_set;	/* rule set id; meaningful with PODLANE_POL_F_INGRESS */
	__u32	egress_set;
	__u32	ingress_policy;	/* a policy isolating it (the lowest id), for the flow log */
	__u32	egress_policy;
	__u32	flags;		/* PODLANE_POL_F_* */
	__u32	id;		/* the endpoint's own identity */
};

/* podlane_policy key; LPM data is everything after prefixlen, in this order, big-endian. */
struct policy_key {
	__u32	prefixlen;	/* 64 .. 88 */
	__be32	set;		/* rule set id */
	__be32	peer;		/* identity, CIDR id or PODLANE_ID_ANY */
	__u8	proto;		/* IPPROTO_TCP, _UDP, _SCTP */
	__be16	port;		/* destination port */
} __attribute__((packed));

struct policy_entry {
	__u32	policy;		/* policy id (podlaned's; `podlanectl policy list` names it) */
	__u16	rule;		/* index in the policy's ingress or egress list */
	__u16	pad;
};

/* podlane_pol_ct key: the original direction's tuple, as on the pod's veth (after service
 * translation). ICMP: sport is the echo id, dport 0. */
struct pol_ct_key {
	__be32	saddr;
	__be32	daddr;
	__be16	sport;
	__be16	dport;
	__u8	proto;
	__u8	pad[3];
};

#define PODLANE_POL_CT_F_REPLY_SEEN	(1U << 0)
#define PODLANE_POL_CT_F_HOST		(1U << 1)	/* ingress allowed: from this node */

struct pol_ct_entry {
	__u64	last_ns;	/* bpf_ktime_get_ns() of the last packet; the agent expires */
	__u32	rev;		/* podlane_pol_rev[0] when judged */
	__u32	egress_policy;	/* what allowed it, for the flow log: 0 = not isolated */
	__u32	ingress_policy;
	__u16	egress_rule;
	__u16	ingress_rule;
	__u32	flags;		/* PODLANE_POL_CT_F_* */
	__u32	pad;
};

/* podlane_pol_stat slots. */
enum pol_stat {
	PODLANE_POL_STAT_ALLOWED	= 0,	/* new connections allowed in an isolated
						 * direction */
	PODLANE_POL_STAT_DENIED		= 1,	/* packets dropped: no rule */
	PODLANE_POL_STAT_NO_FLOW	= 2,	/* packets dropped: not a connection start */
	PODLANE_POL_STAT_CT_HIT		= 3,	/* packets of known connections */
	PODLANE_POL_STAT_CT_FULL	= 4,	/* allowed, but not remembered (insert failed) */
	PODLANE_POL_STAT_HOST		= 5,	/* from this node to an ingress-isolated pod,
						 * allowed anyway (connections judged, and
						 * packets of no known connection) */
	PODLANE_POL_STAT_REJUDGED	= 6,	/* entries judged again after a policy change */
	PODLANE_POL_STAT_EVENTS_LOST	= 7,	/* flow records the ring buffer had no room for */
};
#define PODLANE_POL_STAT_SLOTS	16

/*
 * One flow record on podlane_events: every policy drop, and every new connection a policy
 * judged (allowed once per isolated direction, not per packet). `podlanectl observe` reads
 * them. Ingress allowed because the source is this node: policy 0, rule NO_RULE, src_id
 * PODLANE_ID_HOST.
 */
enum flow_verdict {
	PODLANE_FLOW_ALLOWED	= 1,
	PODLANE_FLOW_DENIED	= 2,
};

enum flow_dir {
	PODLANE_FLOW_EGRESS	= 1,	/* judged for the sending pod */
	PODLANE_FLOW_INGRESS	= 2,	/* judged for the receiving pod */
};

struct flow_event {
	__u32	type;		/* PODLANE_EVENT_FLOW */
	__s32	reason;		/* 0 or the drop reason */
	__u64	ts_ns;		/* bpf_ktime_get_ns() */
	__be32	saddr;
	__be32	daddr;
	__be16	sport;
	__be16	dport;
	__u8	proto;
	__u8	verdict;	/* enum flow_verdict */
	__u8	dir;		/* enum flow_dir: the direction that decided */
	__u8	hook;		/* enum podlane_hook */
	__u32	ifindex;	/* the judged endpoint's host veth */
	__u32	src_id;		/* identities, for names when the pod is gone */
	__u32	dst_id;
	__u32	policy;		/* allowed: the rule's policy; denied: the isolating one */
	__u16	rule;		/* allowed: the rule index; denied: PODLANE_POLICY_NO_RULE */
	__u16	pad;
	__u32	pad2;
};

#define PODLANE_POLICY_NO_RULE	0xffff

_Static_assert(sizeof(struct ipcache_key) == 8, "ipcache_key layout");
_Static_assert(sizeof(struct ipcache_value) == 8, "ipcache_value layout");
_Static_assert(sizeof(struct ep_policy) == 24, "ep_policy layout");
_Static_assert(sizeof(struct policy_key) == 15, "policy_key layout");
_Static_assert(sizeof(struct policy_entry) == 8, "policy_entry layout");
_Static_assert(sizeof(struct pol_ct_key) == 16, "pol_ct_key layout");
_Static_assert(sizeof(struct pol_ct_entry) == 32, "pol_ct_entry layout");
_Static_assert(sizeof(struct flow_event) == 56, "flow_event layout");

/* ---- end of network policy ---- */

#ifndef __bpf__
/* Name of a drop reason for operators; NULL for a number this build does not know. */
static inline const char *podlane_drop_name(int reason)
{
	switch (reason) {
	case PODLANE_DROP_ETH_TRUNCATED:	return "eth_truncated";
	case PODLANE_DROP_IP4_TRUNCATED:	return "ip4_truncated";
	case PODLANE_DROP_IP4_BAD_VERSION:	return "ip4_bad_version";
	case PODLANE_DROP_IP4_BAD_IHL:		return "ip4_bad_ihl";
	case PODLANE_DROP_IP4_BAD_LENGTH:	return "ip4_bad_length";
	case PODLANE_DROP_TTL_EXCEEDED:		return "ttl_exceeded";
	case PODLANE_DROP_SOURCE_SPOOFED:	return "source_spoofed";
	case PODLANE_DROP_UNKNOWN_ENDPOINT:	return "unknown_endpoint";
	case PODLANE_DROP_REDIRECT_FAILED:	return "redirect_failed";
	case PODLANE_DROP_L4_TRUNCATED:		return "l4_truncated";
	case PODLANE_DROP_PREFILTER_DENIED:	return "prefilter_denied";
	case PODLANE_DROP_CT_FULL:		return "ct_full";
	case PODLANE_DROP_NO_BACKEND:		return "no_backend";
	case PODLANE_DROP_NO_LOCAL_BACKEND:	return "no_local_backend";
	case PODLANE_DROP_SERVICE_FRAGMENT:	return "service_fragment";
	case PODLANE_DROP_NAT_FAILED:		return "nat_failed";
	case PODLANE_DROP_NODE_UNREACHABLE:	return "node_unreachable";
	case PODLANE_DROP_FRAG_NEEDED:		return "frag_needed";
	case PODLANE_DROP_TUNNEL_FAILED:	return "tunnel_failed";
	case PODLANE_DROP_TUNNEL_SOURCE:	return "tunnel_source";
	case PODLANE_DROP_SNAT_NO_PORT:		return "snat_no_port";
	case PODLANE_DROP_L4_BAD_HEADER:	return "l4_bad_header";
	case PODLANE_DROP_POLICY_DENIED:	return "policy_denied";
	case PODLANE_DROP_POLICY_NO_FLOW:	return "policy_no_flow";
	}
	return NULL;
}
#endif

#endif /* PODLANE_H */
