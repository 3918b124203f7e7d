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
	PODLANE_DROP_L4_TRUNCATED	= -210,	/* TCP/UDP/ICMP header runs past the packet */
};

#define PODLANE_DROP_FIRST	201
#define PODLANE_DROP_SLOTS	16	/* room for appended reasons without changing sizes */

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
	__u64	netns_cookie;		/* netns inode number, to spot a reused path */
	__u64	created_ns;		/* CLOCK_REALTIME nanoseconds */
	__u32	pod_ifindex;		/* ifindex inside the pod netns */
	__u32	flags;			/* PODLANE_META_F_* */
};

#define PODLANE_META_F_IPAM_DELEGATED	(1U << 0)	/* address came from another IPAM plugin */

/* podlane_events (ring buffer): one record per dropped packet, read by `podlanectl monitor`. */
enum podlane_event_type {
	PODLANE_EVENT_DROP = 1,
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
};

_Static_assert(sizeof(struct podlane_addr) == 20, "podlane_addr layout");
_Static_assert(sizeof(struct endpoint_value) == 20, "endpoint_value layout");
_Static_assert(sizeof(struct endpoint_stats) == 32 + 8 * PODLANE_DROP_SLOTS, "stats layout");
_Static_assert(sizeof(struct drop_event) == 40, "drop_event layout");

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
	}
	return NULL;
}
#endif

#endif /* PODLANE_H */
