// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_packets.c - the packet parsers of every tc and XDP program (bpf/tc_endpoint.bpf.c,
 * tc_uplink.bpf.c, xdp_uplink.bpf.c) fed mutated frames through BPF_PROG_TEST_RUN, each frame
 * judged by invariants instead of an expected output:
 *
 *   - a malformed frame (cut short, odd IHL, version, total length, TCP data offset or UDP
 *     length; see classify()) is dropped with the reason podlane's parse gives it, or passed
 *     on byte for byte; never redirected, never rewritten. A frame whose L4 header is bad may
 *     also be dropped for what was judged before it (a spoofed or unknown source, a tunnel
 *     packet from a non-node). XDP passes every malformed frame to tc unchanged (a deny-listed
 *     source is dropped for that, whatever follows it);
 *   - every drop is counted once and reported by exactly one drop event with a reason podlane
 *     knows, nothing else is; a frame keeps its length;
 *   - network policy (bpf/lib/policy.h): a policy drop (policy_denied, policy_no_flow) is
 *     reported by exactly one DENIED flow record with its reason as well, nothing else is; at
 *     most two ALLOWED records (one per isolated direction) go with any other frame; tc_to_pod
 *     changes no frame, and stops one only for an endpoint a policy isolates for ingress, with
 *     the reason of a malformed frame or a policy reason;
 *   - a well-formed frame that goes on rewritten (MACs, TTL, NAT) keeps valid IPv4 and TCP/UDP
 *     checksums valid, and a redirect spends exactly one TTL.
 *
 * The programs run against maps that reach every parsing path: three pod endpoints (A and B
 * ready service backends, A taking the XDP fast path; C not ready; B isolated by policy both
 * ways and C for ingress, with a few rules, so the policy path parses every kind of frame
 * while A keeps the XDP fast path), a veth no endpoint owns,
 * an uplink whose neighbours know a client and a remote node, a remote pod CIDR, NodePort
 * services (TCP and UDP with local backends, one without backends, one with a backend on the
 * remote node), a ClusterIP reached from the uplink and a deny-listed prefix. Conntrack fills
 * as frames go, so later frames hit tracked flows (replies, the XDP fast path).
 *
 * Frames come from templates (valid TCP, UDP and ICMP for each role) and a seeded mutator:
 * deterministic for a seed. A frame that breaks an invariant is printed (program, device,
 * bytes, verdict, event) and, with --save DIR, written as a regression seed:
 * regressions/packets/<name> holds one or more records {u8 program, u8 device, be16 length,
 * frame} run in order, so a frame that needs a tracked flow carries the frames before it.
 *
 *   fuzz_packets [--count N] [--seed S] [--save DIR] [--reports N] [--replay] [FILE...]
 *     --count N   frames per program (default 4000); every program runs the same number
 *     --reports N frames whose invariants broke shown in full (default 10), the rest counted
 *     FILE...     regression files, run first; with --replay, only them
 * TAP out; needs root for BPF_PROG_TEST_RUN and a private network namespace (exit 4 without).
 */
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <linux/bpf.h>

#include "testlib.h"
#include "tc_endpoint.skel.h"
#include "tc_uplink.skel.h"
#include "xdp_uplink.skel.h"

#define IP4		TL_IP4
#define FRAME_MAX	512
#define MAP_SIZE	256
#define CT_SIZE		4096

#ifndef TC_ACT_REDIRECT
#define TC_ACT_REDIRECT	7
#endif

/* ---- the node under test -------------------------------------------------------------- */

enum role { R_NONE, R_A, R_B, R_C, R_UP, R_STRAY, R_MAX };

static const char *const role_dev[R_MAX] = {
	[R_A] = "plf-a", [R_B] = "plf-b", [R_C] = "plf-c", [R_UP] = "plf-up", [R_STRAY] = "plf-x",
};

#define IP_A		IP4(10, 244, 0, 10)
#define IP_B		IP4(10, 244, 0, 11)
#define IP_C		IP4(10, 244, 0, 12)
#define IP_REMOTE_POD	IP4(10, 244, 1, 7)	/* a pod of the remote node */
#define IP_REMOTE_BE	IP4(10, 244, 1, 5)	/* a service backend on the remote node */
#define NODE_IP		IP4(192, 168, 50, 1)	/* NodePort address of this node */
#define REMOTE_NODE	IP4(198, 51, 100, 2)	/* the other node, a neighbour on the uplink */
#define CLIENT		IP4(198, 51, 100, 7)	/* a client, a neighbour on the uplink */
#define OUTSIDE		IP4(192, 0, 2, 1)	/* somewhere no route of ours knows */
#define DENIED		IP4(203, 0, 113, 5)	/* in the deny-listed 203.0.113.0/24 */
#define CLUSTER_IP	IP4(10, 96, 0, 10)

/* Network policy: identities, rule sets (bpf/podlane.h, "network policy"). */
#define ID_A		300
#define ID_B		301
#define ID_C		302
#define CIDR_CLIENTS	(PODLANE_ID_CIDR_BASE + 1)	/* 198.51.100.0/24 */
#define SET_B_IN	1
#define SET_B_OUT	2
#define SET_C_IN	3

static const struct {
	enum role role;
	__u32 ip;
	__u32 flags;
	__u8 pod_mac[ETH_ALEN];
	__u8 host_mac[ETH_ALEN];
} endpoints[] = {
	{ R_A, IP_A, PODLANE_EP_F_READY | PODLANE_EP_F_LB_BACKEND | PODLANE_EP_F_XDP_RX,
	  { 0x0a, 0x58, 0, 0, 0, 0x0a }, { 0xee, 0, 0, 0, 0, 0x0a } },
	{ R_B, IP_B, PODLANE_EP_F_READY | PODLANE_EP_F_LB_BACKEND,
	  { 0x0a, 0x58, 0, 0, 0, 0x0b }, { 0xee, 0, 0, 0, 0, 0x0b } },
	{ R_C, IP_C, 0, { 0x0a, 0x58, 0, 0, 0, 0x0c }, { 0xee, 0, 0, 0, 0, 0x0c } },
};

static const __u8 uplink_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0x0f, 0x01 };
static const __u8 router_mac[ETH_ALEN] = { 0x02, 0, 0x5e, 0, 0, 1 };

enum prog { P_FROM_POD, P_TO_POD, P_FROM_UPLINK, P_FROM_TUNNEL, P_XDP, P_MAX };

static const char *const prog_name[P_MAX] = {
	[P_FROM_POD] = "tc_from_pod", [P_TO_POD] = "tc_to_pod",
	[P_FROM_UPLINK] = "tc_from_uplink", [P_FROM_TUNNEL] = "tc_from_tunnel",
	[P_XDP] = "xdp_from_uplink",
};

static struct {
	struct tc_endpoint *ep;
	struct tc_uplink *up;
	struct xdp_uplink *xdp;
	struct tl_events events;
	int ifindex[R_MAX];
	int prog_fd[P_MAX];
	int drops_fd;
} node;

/* ---- set-up -------------------------------------------------------------------------- */

static int devices_make(void)
{
	char peer[IFNAMSIZ];
	int r, err;

	err = tl_netns_enter();
	if (err)
		return err;
	for (r = R_A; r < R_MAX; r++) {
		snprintf(peer, sizeof(peer), "%s-p", role_dev[r]);
		node.ifindex[r] = tl_veth_add(role_dev[r], r == R_UP ? "02:00:00:00:0f:01" : NULL,
					      peer, NULL, 0);
		if (node.ifindex[r] < 0)
			return node.ifindex[r];
		if (tl_sh("ip link set %s up && ip link set %s up", peer, role_dev[r]))
			return -EIO;
		if (r != R_UP && tl_forwarding_set(role_dev[r], true))
			return -EIO;
	}
	if (tl_sh("ip addr add 192.168.50.1/32 dev %s && ip addr add 198.51.100.1/24 dev %s && "
		  "ip neigh replace 198.51.100.7 lladdr 02:00:00:00:c1:1e dev %s nud permanent && "
		  "ip neigh replace 198.51.100.2 lladdr 02:00:00:00:c1:02 dev %s nud permanent",
		  role_dev[R_UP], role_dev[R_UP], role_dev[R_UP], role_dev[R_UP]))
		return -EIO;
	return 0;
}

static int svc_write(__u32 id, __u32 addr, __u16 port, __u8 proto, __u32 flags,
		     const __u32 *be_ip, const __u16 *be_port, int count, int local_count)
{
	int svc_fd = bpf_map__fd(node.ep->maps.podlane_svc);
	int be_fd = bpf_map__fd(node.ep->maps.podlane_backend);
	struct lb_service_key k = { .addr = htonl(addr), .port = htons(port), .proto = proto };
	struct lb_service v = {
		.id = id, .count = count, .local_count = local_count, .flags = flags,
		.affinity_timeout = 10800,
	};
	int i;

	for (i = 0; i < count; i++) {
		struct lb_backend_key bk = { .svc_id = id, .slot = i };
		struct lb_backend b = {
			.addr = htonl(be_ip[i]), .port = htons(be_port[i]), .id = id * 100 + i,
			.flags = i < local_count ? PODLANE_BACKEND_F_LOCAL : 0, .weight = 1,
			.keep = PODLANE_ALIAS_KEEP_ALL, .local_keep = PODLANE_ALIAS_KEEP_ALL,
		};

		if (bpf_map_update_elem(be_fd, &bk, &b, 0))
			return -errno;
	}
	return bpf_map_update_elem(svc_fd, &k, &v, 0) ? -errno : 0;
}

static int ipcache_put(__u32 addr, __u32 prefixlen, __u32 id, __u32 cidr_id)
{
	struct ipcache_key k = { .prefixlen = prefixlen, .addr = htonl(addr) };
	struct ipcache_value v = { .id = id, .cidr_id = cidr_id };

	return bpf_map_update_elem(bpf_map__fd(node.ep->maps.podlane_ipcache), &k, &v, 0) ?
	       -errno : 0;
}

/* A rule: set allows peer on proto (0: everything) and port (port_bits of it; -1: any). */
static int allow(__u32 set, __u32 peer, __u8 proto, __u16 port, int port_bits)
{
	struct policy_key k = {
		.prefixlen = !proto ? 64 : port_bits < 0 ? 72 : 72 + port_bits,
		.set = htonl(set), .peer = htonl(peer), .proto = proto, .port = htons(port),
	};
	struct policy_entry v = { .policy = 1 };

	return bpf_map_update_elem(bpf_map__fd(node.ep->maps.podlane_policy), &k, &v, 0) ?
	       -errno : 0;
}

static int isolate(enum role r, __u32 flags, __u32 in_set, __u32 out_set)
{
	struct ep_policy v = { .ingress_set = in_set, .egress_set = out_set, .ingress_policy = 1,
			       .egress_policy = 1, .flags = flags };
	__u32 k = node.ifindex[r];

	return bpf_map_update_elem(bpf_map__fd(node.ep->maps.podlane_ep_policy), &k, &v, 0) ?
	       -errno : 0;
}

/*
 * B isolated both ways: in, A on TCP 8080 (what the templates send) and the uplink's clients
 * on everything; out, UDP 53 anywhere. C isolated for ingress, allowing nothing.
 */
static int policy_fill(void)
{
	__u32 zero = 0, rev = 1;

	return ipcache_put(IP_A, 32, ID_A, 0) ?: ipcache_put(IP_B, 32, ID_B, 0) ?:
	       ipcache_put(IP_C, 32, ID_C, 0) ?: ipcache_put(NODE_IP, 32, PODLANE_ID_HOST, 0) ?:
	       ipcache_put(IP4(198, 51, 100, 0), 24, PODLANE_ID_WORLD, CIDR_CLIENTS) ?:
	       allow(SET_B_IN, ID_A, IPPROTO_TCP, 8080, 16) ?:
	       allow(SET_B_IN, CIDR_CLIENTS, 0, 0, 0) ?:
	       allow(SET_B_OUT, PODLANE_ID_ANY, IPPROTO_UDP, 53, 16) ?:
	       isolate(R_B, PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS, SET_B_IN, SET_B_OUT) ?:
	       isolate(R_C, PODLANE_POL_F_INGRESS, SET_C_IN, 0) ?:
	       (bpf_map_update_elem(bpf_map__fd(node.ep->maps.podlane_pol_rev), &zero, &rev, 0) ?
		-errno : 0);
}

/* Whether a policy judges what reaches this device's pod (tc_to_pod). */
static bool ingress_isolated(enum role r)
{
	return r == R_B || r == R_C;
}

static int maps_fill(void)
{
	const __u32 web_ip[] = { IP_A, IP_B }, dns_ip[] = { IP_A }, remote_ip[] = { IP_REMOTE_BE };
	const __u32 cluster_ip[] = { IP_B };
	const __u16 web_port[] = { 8080, 8080 }, dns_port[] = { 53 }, remote_port[] = { 80 };
	const __u16 cluster_port[] = { 8080 };
	struct node_key nk = { .prefixlen = 24, .addr = htonl(IP4(10, 244, 1, 0)) };
	struct node_value nv = { .node_ip = htonl(REMOTE_NODE), .ifindex = node.ifindex[R_UP] };
	struct prefilter_key4 dk = { .prefixlen = 24, .addr = htonl(IP4(203, 0, 113, 0)) };
	struct prefilter_rule rule = { .action = PODLANE_PREFILTER_DENY };
	__u32 np = PODLANE_SVC_F_NODEPORT;
	size_t i;
	int err;

	for (i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
		err = tl_endpoint_add(bpf_map__fd(node.ep->maps.podlane_eps),
				      bpf_map__fd(node.ep->maps.podlane_ep_stat),
				      htonl(endpoints[i].ip), endpoints[i].pod_mac,
				      endpoints[i].host_mac, node.ifindex[endpoints[i].role],
				      endpoints[i].flags);
		if (err)
			return err;
	}
	err = svc_write(1, NODE_IP, 30080, IPPROTO_TCP, np, web_ip, web_port, 2, 2) ?:
	      svc_write(2, NODE_IP, 30053, IPPROTO_UDP, np, dns_ip, dns_port, 1, 1) ?:
	      svc_write(3, NODE_IP, 30091, IPPROTO_TCP, np, NULL, NULL, 0, 0) ?:
	      svc_write(4, NODE_IP, 30093, IPPROTO_TCP, np, remote_ip, remote_port, 1, 0) ?:
	      svc_write(5, CLUSTER_IP, 80, IPPROTO_TCP, 0, cluster_ip, cluster_port, 1, 1);
	if (err)
		return err;
	if (bpf_map_update_elem(bpf_map__fd(node.ep->maps.podlane_nodes), &nk, &nv, 0) ||
	    bpf_map_update_elem(bpf_map__fd(node.xdp->maps.podlane_deny4), &dk, &rule, 0))
		return -errno;
	return policy_fill();
}

static int load(void)
{
	struct bpf_map *map;
	int err;

	node.ep = tc_endpoint__open();
	node.up = tc_uplink__open();
	node.xdp = xdp_uplink__open();
	if (!node.ep || !node.up || !node.xdp)
		return -errno;
	tl_maps_private(node.ep->obj, MAP_SIZE);
	tl_maps_private(node.up->obj, MAP_SIZE);
	tl_maps_private(node.xdp->obj, MAP_SIZE);
	bpf_object__for_each_map(map, node.ep->obj)
		if (bpf_map__type(map) == BPF_MAP_TYPE_LRU_HASH)
			bpf_map__set_max_entries(map, CT_SIZE);
	bpf_object__for_each_map(map, node.xdp->obj)
		if (bpf_map__type(map) == BPF_MAP_TYPE_LPM_TRIE)
			bpf_map__set_max_entries(map, 16);
	/* Every path on: the fast path too, as podlaned turns it on for a NIC uplink. */
	node.xdp->rodata->nodeport_fastpath = true;
	err = tc_endpoint__load(node.ep);
	err = err ?: tl_maps_share(node.up->obj, node.ep->obj);
	err = err ?: tc_uplink__load(node.up);
	if (!err) {
		bpf_object__for_each_map(map, node.xdp->obj) {
			struct bpf_map *theirs = bpf_object__find_map_by_name(node.ep->obj,
									       bpf_map__name(map));

			if (theirs && !strncmp(bpf_map__name(map), "podlane_", 8))
				err = err ?: bpf_map__reuse_fd(map, bpf_map__fd(theirs));
		}
	}
	err = err ?: xdp_uplink__load(node.xdp);
	if (err) {
		tl_log("failed to load the programs: %s", strerror(-err));
		return err;
	}
	node.prog_fd[P_FROM_POD] = bpf_program__fd(node.ep->progs.tc_from_pod);
	node.prog_fd[P_TO_POD] = bpf_program__fd(node.ep->progs.tc_to_pod);
	node.prog_fd[P_FROM_UPLINK] = bpf_program__fd(node.up->progs.tc_from_uplink);
	node.prog_fd[P_FROM_TUNNEL] = bpf_program__fd(node.up->progs.tc_from_tunnel);
	node.prog_fd[P_XDP] = bpf_program__fd(node.xdp->progs.xdp_from_uplink);
	node.drops_fd = bpf_map__fd(node.ep->maps.podlane_drops);
	return tl_events_open(&node.events, bpf_map__fd(node.ep->maps.podlane_events));
}

/* ---- frames --------------------------------------------------------------------------- */

struct frame {
	enum prog prog;
	enum role dev;
	__u8 b[FRAME_MAX];
	int len;
};

static __u64 rng;

static __u32 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng >> 32;
}

static __u32 rnd_below(__u32 n)
{
	return n ? rnd() % n : 0;
}

static __u16 get16(const __u8 *p)
{
	return p[0] << 8 | p[1];
}

static void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v;
}

/* Where the IPv4 header starts: after Ethernet and up to two VLAN tags; 0 when not IPv4. */
static int l3_offset(const struct frame *f)
{
	int off = 12, tags;
	__u16 proto;

	for (tags = 0; tags < 3; tags++) {
		if (f->len < off + 2)
			return 0;
		proto = get16(f->b + off);
		if (proto == ETH_P_IP)
			return off + 2;
		/* tc reads no tag; XDP reads one (xdp_uplink.bpf.c). */
		if ((proto != ETH_P_8021Q && proto != ETH_P_8021AD) || tags > 0 ||
		    f->prog != P_XDP)
			return 0;
		off += 4;
	}
	return 0;
}

static __u32 pseudo_sum(const __u8 *ip, __u16 l4_len)
{
	return tl_csum_add(0, ip + 12, 8) + ip[9] + l4_len;
}

/*
 * The L4 checksum of a whole IPv4 datagram at ip (within len bytes): 1 valid, 0 invalid,
 * -1 when it cannot be told (a fragment, a cut datagram, a protocol without one).
 */
static int l4_csum_state(const __u8 *ip, int len)
{
	int hdr = (ip[0] & 15) * 4, tot = get16(ip + 2), l4_len = tot - hdr;
	const __u8 *l4 = ip + hdr;

	if (len < 20 || hdr < 20 || tot > len || l4_len < 8 || get16(ip + 6) & 0x3fff)
		return -1;
	switch (ip[9]) {
	case IPPROTO_TCP:
		if (l4_len < 20)
			return -1;
		return tl_csum_fold(tl_csum_add(pseudo_sum(ip, l4_len), l4, l4_len)) == 0xffff;
	case IPPROTO_UDP:
		if (get16(l4 + 6) == 0)
			return 1;
		return tl_csum_fold(tl_csum_add(pseudo_sum(ip, l4_len), l4, l4_len)) == 0xffff;
	case IPPROTO_ICMP:
		return tl_csum_fold(tl_csum_add(0, l4, l4_len)) == 0xffff;
	}
	return -1;
}

static bool ip_csum_ok(const __u8 *ip, int len)
{
	int hdr = (ip[0] & 15) * 4;

	return hdr >= 20 && hdr <= len && tl_ip_csum_ok(ip, hdr);
}

static void ip_csum_fix(__u8 *ip, int len)
{
	int hdr = (ip[0] & 15) * 4;

	if (hdr < 20 || hdr > len)
		return;
	put16(ip + 10, 0);
	put16(ip + 10, ~tl_csum_fold(tl_csum_add(0, ip, hdr)));
}

static void l4_csum_fix(__u8 *ip, int len)
{
	int hdr = (ip[0] & 15) * 4, tot = get16(ip + 2), l4_len = tot - hdr, off;
	__u8 *l4 = ip + hdr;
	__u16 c;

	if (len < 20 || hdr < 20 || tot > len || l4_len < 8 || get16(ip + 6) & 0x3fff)
		return;
	if (ip[9] == IPPROTO_TCP && l4_len >= 20)
		off = 16;
	else if (ip[9] == IPPROTO_UDP)
		off = 6;
	else if (ip[9] == IPPROTO_ICMP)
		off = 2;
	else
		return;
	put16(l4 + off, 0);
	if (ip[9] == IPPROTO_ICMP)
		c = ~tl_csum_fold(tl_csum_add(0, l4, l4_len));
	else
		c = ~tl_csum_fold(tl_csum_add(pseudo_sum(ip, l4_len), l4, l4_len));
	if (ip[9] == IPPROTO_UDP && !c)
		c = 0xffff;
	put16(l4 + off, c);
}

/* A valid frame: Ethernet, IPv4 without options, TCP (SYN or ACK), UDP or ICMP echo. */
static void build(struct frame *f, const __u8 *dmac, const __u8 *smac, __u32 saddr,
		  __u32 daddr, __u8 proto, __u16 sport, __u16 dport)
{
	int payload = rnd_below(48), l4_len;
	__u8 *ip = f->b + ETH_HLEN, *l4 = ip + 20;
	int i;

	memset(f->b, 0, sizeof(f->b));
	memcpy(f->b, dmac, ETH_ALEN);
	memcpy(f->b + ETH_ALEN, smac, ETH_ALEN);
	put16(f->b + 12, ETH_P_IP);
	l4_len = (proto == IPPROTO_TCP ? 20 : 8) + payload;
	ip[0] = 0x45;
	put16(ip + 2, 20 + l4_len);
	put16(ip + 4, rnd());
	put16(ip + 6, rnd_below(2) ? 0x4000 : 0);	/* DF or not */
	ip[8] = 2 + rnd_below(63);
	ip[9] = proto;
	memcpy(ip + 12, &(__be32){ htonl(saddr) }, 4);
	memcpy(ip + 16, &(__be32){ htonl(daddr) }, 4);
	if (proto == IPPROTO_TCP) {
		put16(l4, sport);
		put16(l4 + 2, dport);
		memcpy(l4 + 4, &(__be32){ htonl(rnd()) }, 4);
		l4[12] = 5 << 4;
		l4[13] = rnd_below(3) ? 0x02 : 0x10;	/* SYN, else ACK */
		put16(l4 + 14, 64240);
	} else if (proto == IPPROTO_UDP) {
		put16(l4, sport);
		put16(l4 + 2, dport);
		put16(l4 + 4, l4_len);
	} else {
		l4[0] = 8;	/* echo request */
		put16(l4 + 4, sport);
	}
	for (i = proto == IPPROTO_TCP ? 20 : 8; i < l4_len; i++)
		l4[i] = rnd();
	f->len = ETH_HLEN + 20 + l4_len;
	ip_csum_fix(ip, f->len - ETH_HLEN);
	l4_csum_fix(ip, f->len - ETH_HLEN);
}

/* Client ports of a small set, so flows repeat and later frames find them tracked. */
static __u16 client_port(void)
{
	return 40000 + rnd_below(8);
}

static void from_template(struct frame *f, enum prog p)
{
	static const __u8 protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };
	const __u8 *a_host = endpoints[0].host_mac, *a_pod = endpoints[0].pod_mac;
	const __u8 *b_host = endpoints[1].host_mac, *b_pod = endpoints[1].pod_mac;
	__u8 proto = protos[rnd_below(3)];
	__u32 src, dst;
	__u16 sport = client_port(), dport = 8080;

	f->prog = p;
	switch (p) {
	case P_TO_POD: {
		/* What the stack delivers: to any pod (B and C isolated), from anywhere. */
		static const enum role devs[] = { R_A, R_B, R_C, R_STRAY };
		static const __u32 srcs[] = { CLIENT, NODE_IP, IP_A, IP_REMOTE_POD, OUTSIDE };
		static const __u32 dev_ip[R_MAX] = { [R_A] = IP_A, [R_B] = IP_B, [R_C] = IP_C,
						     [R_STRAY] = IP_C };

		f->dev = devs[rnd_below(4)];
		dport = rnd_below(2) ? 8080 : 53;
		build(f, f->dev == R_B ? b_host : a_host, router_mac, srcs[rnd_below(5)],
		      dev_ip[f->dev], proto, sport, dport);
		return;
	}
	case P_FROM_POD:
		f->dev = rnd_below(8) ? R_A : (rnd_below(2) ? R_B : R_STRAY);
		src = f->dev == R_B ? IP_B : IP_A;
		switch (rnd_below(7)) {
		case 0:
			dst = IP_B;
			break;
		case 1:
			dst = IP_C;
			break;
		case 2:
			dst = OUTSIDE;
			break;
		case 3:
			dst = IP_REMOTE_POD;
			break;
		case 4:	/* a backend's reply to a NodePort client: tracked or not */
			f->dev = rnd_below(2) ? R_A : R_B;
			src = f->dev == R_A ? IP_A : IP_B;
			dst = CLIENT;
			proto = rnd_below(4) ? IPPROTO_TCP : IPPROTO_UDP;
			dport = sport;
			sport = proto == IPPROTO_UDP ? 53 : 8080;
			build(f, a_host, f->dev == R_A ? a_pod : b_pod, src, dst, proto, sport,
			      dport);
			return;
		case 5:	/* spoofed */
			src = IP_C;
			dst = IP_B;
			break;
		default:
			dst = f->dev == R_B ? IP_A : IP_B;
			break;
		}
		build(f, f->dev == R_B ? b_host : a_host, f->dev == R_B ? b_pod : a_pod, src, dst,
		      proto, sport, dport);
		return;
	case P_FROM_UPLINK:
	case P_XDP:
		f->dev = R_UP;
		src = rnd_below(10) ? CLIENT : DENIED;
		switch (rnd_below(8)) {
		case 0:
			dst = NODE_IP;
			dport = 30053;
			proto = IPPROTO_UDP;
			break;
		case 1:
			dst = NODE_IP;
			dport = rnd_below(2) ? 30091 : 30093;
			proto = IPPROTO_TCP;
			break;
		case 2:
			dst = CLUSTER_IP;
			dport = 80;
			proto = IPPROTO_TCP;
			break;
		case 3:
			dst = rnd_below(2) ? IP_A : IP_C;
			break;
		case 4:	/* the remote backend answering a source-translated flow */
			src = IP_REMOTE_BE;
			dst = NODE_IP;
			sport = 80;
			dport = 61000 + rnd_below(4536);
			proto = IPPROTO_TCP;
			break;
		default:
			dst = NODE_IP;
			dport = 30080;
			proto = IPPROTO_TCP;
			break;
		}
		build(f, uplink_mac, router_mac, src, dst, proto, sport, dport);
		return;
	case P_FROM_TUNNEL:
		f->dev = R_UP;
		build(f, a_host, router_mac, rnd_below(4) ? IP_REMOTE_POD : CLIENT,
		      rnd_below(2) ? IP_A : IP_C, proto, sport, dport);
		return;
	case P_MAX:
		break;
	}
}

/* Open room for n bytes at off (n < 0: remove -n bytes there). */
static bool frame_splice(struct frame *f, int off, int n)
{
	if (off > f->len || f->len + n > FRAME_MAX || f->len + n < off)
		return false;
	if (n > 0) {
		memmove(f->b + off + n, f->b + off, f->len - off);
		memset(f->b + off, 0, n);
	} else {
		memmove(f->b + off, f->b + off - n, f->len - off + n);
	}
	f->len += n;
	return true;
}

enum mutation {
	M_CUT, M_IHL, M_VERSION, M_TOT_LEN, M_FRAG, M_OPTIONS, M_VLAN, M_DOFF, M_UDP_LEN,
	M_PROTO, M_ETHERTYPE, M_PAD, M_TTL, M_FLIP, M_L4_CUT, M_MAX
};

static void mutate(struct frame *f)
{
	int l3 = l3_offset(f), hdr, tot, n;
	__u8 *ip = f->b + l3, *l4;

	if (!l3) {
		/* Not IPv4 any more: only the generic mutations apply. */
		ip = NULL;
	}
	hdr = ip ? (ip[0] & 15) * 4 : 0;
	l4 = ip ? ip + hdr : NULL;
	switch (rnd_below(M_MAX)) {
	case M_CUT:
		f->len = rnd_below(f->len + 1);
		break;
	case M_IHL:
		if (ip && l3 < f->len)
			ip[0] = (ip[0] & 0xf0) | rnd_below(16);
		break;
	case M_VERSION:
		if (ip && l3 < f->len)
			ip[0] = (ip[0] & 0x0f) | rnd_below(16) << 4;
		break;
	case M_TOT_LEN:
		if (!ip || l3 + 4 > f->len)
			break;
		tot = get16(ip + 2);
		switch (rnd_below(6)) {
		case 0:
			tot = 0;
			break;
		case 1:
			tot = hdr - 1 + rnd_below(3);
			break;
		case 2:
			tot = f->len - l3 + 1 + rnd_below(4);
			break;
		case 3:
			tot -= 1 + rnd_below(8);
			break;
		case 4:
			tot = rnd();
			break;
		default:
			tot = f->len - l3;
			break;
		}
		put16(ip + 2, tot);
		break;
	case M_FRAG:
		if (!ip || l3 + 8 > f->len)
			break;
		switch (rnd_below(4)) {
		case 0:
			put16(ip + 6, 0x2000);			/* MF: a first fragment */
			break;
		case 1:
			put16(ip + 6, 1 + rnd_below(0x1fff));	/* a last fragment */
			break;
		case 2:
			put16(ip + 6, 0x2000 | rnd_below(0x2000));
			break;
		default:
			put16(ip + 6, 0x4000);			/* DF */
			break;
		}
		break;
	case M_OPTIONS:
		/* 4 to 40 bytes of options: NOPs and an end, or anything. */
		if (!ip || l3 + 20 > f->len || hdr != 20)
			break;
		n = 4 * (1 + rnd_below(10));
		if (!frame_splice(f, l3 + 20, n))
			break;
		ip = f->b + l3;
		if (rnd_below(2)) {
			memset(ip + 20, 1, n - 1);	/* NOP */
			ip[20 + n - 1] = 0;		/* EOL */
		} else {
			for (int i = 0; i < n; i++)
				ip[20 + i] = rnd();
		}
		ip[0] = (ip[0] & 0xf0) | (5 + n / 4);
		put16(ip + 2, get16(ip + 2) + n);
		break;
	case M_VLAN:
		if (f->len < 14 || !frame_splice(f, 12, 4))
			break;
		put16(f->b + 12, rnd_below(2) ? ETH_P_8021Q : ETH_P_8021AD);
		put16(f->b + 14, rnd_below(4096));
		break;
	case M_DOFF:
		if (ip && l3 + hdr + 13 <= f->len && ip[9] == IPPROTO_TCP)
			l4[12] = rnd_below(16) << 4;
		break;
	case M_UDP_LEN:
		if (!ip || l3 + hdr + 6 > f->len || ip[9] != IPPROTO_UDP)
			break;
		tot = get16(ip + 2) - hdr;
		n = rnd_below(5);
		put16(l4 + 4, n == 0 ? rnd_below(8) : n == 1 ? tot + 1 + rnd_below(8) :
			      n == 2 ? tot - 1 : n == 3 ? rnd() : tot);
		break;
	case M_PROTO:
		if (ip && l3 + 10 <= f->len) {
			static const __u8 p[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 47 };

			ip[9] = rnd_below(5) ? p[rnd_below(4)] : rnd();
		}
		break;
	case M_ETHERTYPE:
		if (f->len >= 14) {
			static const __u16 t[] = { 0x86dd, 0x0806, 0x8100, 0x88a8, 0x0800 };

			put16(f->b + 12, rnd_below(4) ? t[rnd_below(5)] : rnd());
		}
		break;
	case M_PAD:
		n = 1 + rnd_below(32);
		if (f->len + n <= FRAME_MAX) {
			for (int i = 0; i < n; i++)
				f->b[f->len + i] = rnd();
			f->len += n;
		}
		break;
	case M_TTL:
		if (ip && l3 + 9 <= f->len)
			ip[8] = rnd_below(3);
		break;
	case M_FLIP:
		n = 1 + rnd_below(4);
		while (n-- && f->len)
			f->b[rnd_below(f->len < 80 ? f->len : 80)] ^= 1 << rnd_below(8);
		break;
	case M_L4_CUT:
		/* The datagram ends inside its L4 header. */
		if (ip && l3 + 4 <= f->len && hdr >= 20)
			put16(ip + 2, hdr + rnd_below(ip[9] == IPPROTO_TCP ? 20 : 8));
		break;
	}
}

/* A frame of the fuzz run: a template, mutated most of the time, checksums mostly right. */
static void next_frame(struct frame *f, enum prog p)
{
	int l3, n;

	from_template(f, p);
	if (rnd_below(8)) {
		n = 1 + rnd_below(3);
		while (n--)
			mutate(f);
	}
	l3 = l3_offset(f);
	if (l3 && rnd_below(5))
		ip_csum_fix(f->b + l3, f->len - l3);
	if (l3 && rnd_below(4))
		l4_csum_fix(f->b + l3, f->len - l3);
}

/* ---- the oracle ----------------------------------------------------------------------- */

enum class {
	C_GOOD,		/* well-formed IPv4 */
	C_NOT_IP,	/* not IPv4 for this program: passes untouched */
	C_BAD_L3,	/* dropped by the parse with reason, whatever the program */
	C_BAD_L4,	/* the L4 header is bad: reason, or an earlier judgement */
};

struct judgement {
	enum class class;
	int reason;		/* C_BAD_*: the drop reason podlane's parse gives; C_GOOD: one
				 * that policy alone may give (a cut SCTP header) */
	const char *what;	/* what is wrong with it */
};

/* What podlane's parse (bpf/lib/common.h, nat.h) must make of the frame. */
static struct judgement classify(const struct frame *f)
{
	int l3 = l3_offset(f), hdr, tot, len = f->len - l3, need;
	const __u8 *ip = f->b + l3, *l4;

	if (f->len < ETH_HLEN)
		return (struct judgement){ C_BAD_L3, PODLANE_DROP_ETH_TRUNCATED, "runt" };
	if (!l3)
		return (struct judgement){ C_NOT_IP, 0, "not IPv4" };
	if (len < 20)
		return (struct judgement){ C_BAD_L3, PODLANE_DROP_IP4_TRUNCATED, "cut IPv4" };
	if (ip[0] >> 4 != 4)
		return (struct judgement){ C_BAD_L3, PODLANE_DROP_IP4_BAD_VERSION, "version" };
	hdr = (ip[0] & 15) * 4;
	if (hdr < 20 || hdr > len)
		return (struct judgement){ C_BAD_L3, PODLANE_DROP_IP4_BAD_IHL, "IHL" };
	tot = get16(ip + 2);
	if (tot < hdr || tot > len)
		return (struct judgement){ C_BAD_L3, PODLANE_DROP_IP4_BAD_LENGTH, "total length" };
	/* Later fragments carry no L4 header. */
	if (get16(ip + 6) & 0x1fff)
		return (struct judgement){ C_GOOD, 0, "good" };
	switch (ip[9]) {
	case IPPROTO_TCP:
		need = 20;
		break;
	case IPPROTO_UDP:
		need = 8;
		break;
	case IPPROTO_ICMP:
		need = 8;
		break;
	case IPPROTO_SCTP:
		/*
		 * Forwarding reads no SCTP header; policy needs its ports and judges an
		 * isolated pod's traffic only whole (bpf/lib/policy.h): good, but that drop
		 * reason is the right one too.
		 */
		if (hdr + 12 > tot)
			return (struct judgement){ C_GOOD, PODLANE_DROP_L4_TRUNCATED,
						   "SCTP common header cut" };
		return (struct judgement){ C_GOOD, 0, "good" };
	default:
		return (struct judgement){ C_GOOD, 0, "good" };
	}
	l4 = ip + hdr;
	if (hdr + need > tot)
		return (struct judgement){ C_BAD_L4, PODLANE_DROP_L4_TRUNCATED, "L4 header cut" };
	if (ip[9] == IPPROTO_TCP && (l4[12] >> 4) * 4 < 20)
		return (struct judgement){ C_BAD_L4, PODLANE_DROP_L4_BAD_HEADER,
					   "TCP data offset below 5" };
	if (ip[9] == IPPROTO_TCP && hdr + (l4[12] >> 4) * 4 > tot)
		return (struct judgement){ C_BAD_L4, PODLANE_DROP_L4_TRUNCATED,
					   "TCP data offset past the datagram" };
	/* A first fragment's UDP length is the whole datagram's. */
	if (ip[9] == IPPROTO_UDP && get16(l4 + 4) < 8)
		return (struct judgement){ C_BAD_L4, PODLANE_DROP_L4_BAD_HEADER,
					   "UDP length below 8" };
	if (ip[9] == IPPROTO_UDP && !(get16(ip + 6) & 0x2000) && hdr + get16(l4 + 4) > tot)
		return (struct judgement){ C_BAD_L4, PODLANE_DROP_L4_TRUNCATED,
					   "UDP length past the datagram" };
	return (struct judgement){ C_GOOD, 0, "good" };
}

/* ---- running and judging -------------------------------------------------------------- */

struct outcome {
	int err;
	int retval;
	__u8 out[FRAME_MAX];
	__u32 out_len;
	int events;
	int reason;	/* of the first event */
	int allowed;	/* flow records: ALLOWED */
	int denied;	/* DENIED */
	int flow_reason; /* of the last DENIED record */
};

static void run(const struct frame *f, struct outcome *o)
{
	struct __sk_buff skb = {
		.ifindex = node.ifindex[f->dev], .ingress_ifindex = node.ifindex[f->dev],
	};
	struct xdp_md xdp = { .ingress_ifindex = node.ifindex[f->dev] };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = f->b,
		.data_size_in = f->len,
		.data_out = o->out,
		.data_size_out = sizeof(o->out),
		.repeat = 1,
	);

	if (f->prog == P_XDP) {
		opts.ctx_in = &xdp;
		opts.ctx_size_in = sizeof(xdp);
		xdp.data_end = f->len;
	} else {
		opts.ctx_in = &skb;
		opts.ctx_size_in = sizeof(skb);
	}
	tl_events_drain(&node.events);
	o->err = bpf_prog_test_run_opts(node.prog_fd[f->prog], &opts) ? -errno : 0;
	o->retval = (int)opts.retval;
	o->out_len = opts.data_size_out;
	o->events = tl_events_poll(&node.events);
	o->reason = o->events ? node.events.ev[0].reason : 0;
	o->allowed = o->denied = o->flow_reason = 0;
	for (int i = 0; i < node.events.nflow; i++) {
		if (node.events.flow[i].verdict == PODLANE_FLOW_DENIED) {
			o->denied++;
			o->flow_reason = node.events.flow[i].reason;
		} else {
			o->allowed++;
		}
	}
}

static bool policy_reason(int reason)
{
	return reason == PODLANE_DROP_POLICY_DENIED || reason == PODLANE_DROP_POLICY_NO_FLOW;
}

static bool known_reason(int reason)
{
	return podlane_drop_name(reason) != NULL;
}

static bool reason_after_l3(enum prog p, int reason)
{
	switch (reason) {
	case PODLANE_DROP_SOURCE_SPOOFED:
	case PODLANE_DROP_UNKNOWN_ENDPOINT:
		return p == P_FROM_POD;
	case PODLANE_DROP_TUNNEL_SOURCE:
		return p == P_FROM_TUNNEL;
	}
	return false;
}

/*
 * The invariants of one frame's outcome; NULL when they hold, else which one broke. The
 * "checked" counters say which kinds of frames were judged.
 */
static const char *judge(const struct frame *f, const struct judgement *j, const struct outcome *o)
{
	bool xdp = f->prog == P_XDP, drop, same, redirect;
	int l3 = l3_offset(f);

	if (o->err)
		return "BPF_PROG_TEST_RUN failed";
	drop = xdp ? o->retval == XDP_DROP : o->retval == TC_ACT_SHOT;
	redirect = xdp ? o->retval == XDP_REDIRECT : o->retval == TC_ACT_REDIRECT;
	if (!drop && !redirect && o->retval != (xdp ? XDP_PASS : TC_ACT_OK))
		return "verdict is none of pass, drop, redirect";
	if (drop != (o->events == 1) || o->events > 1)
		return "a drop is not reported by exactly one event (or a non-drop is)";
	if (drop && !known_reason(o->reason))
		return "drop reason unknown";
	if ((int)o->out_len != f->len)
		return "output length differs from the input's";
	if (o->denied != (drop && policy_reason(o->reason)) ||
	    (o->denied && o->flow_reason != o->reason))
		return "a policy drop is not reported by exactly one DENIED flow record (or "
		       "another frame is)";
	if (o->allowed > 2 || (o->allowed && xdp))
		return "more ALLOWED flow records than isolated directions";
	same = !memcmp(o->out, f->b, f->len);

	if (f->prog == P_TO_POD && !ingress_isolated(f->dev))
		return o->retval == TC_ACT_OK && same ? NULL :
		       "tc_to_pod changed or stopped a frame";
	if (f->prog == P_TO_POD && !same)
		return "tc_to_pod changed a frame";
	if (xdp && j->class != C_GOOD) {
		if (drop && o->reason == PODLANE_DROP_PREFILTER_DENIED)
			return NULL;
		return o->retval == XDP_PASS && same ? NULL :
		       "XDP did not pass a malformed or non-IPv4 frame untouched";
	}
	switch (j->class) {
	case C_NOT_IP:
		return o->retval == TC_ACT_OK && same ? NULL : "non-IPv4 frame not passed untouched";
	case C_BAD_L3:
		return drop && o->reason == j->reason ? NULL :
		       "malformed IPv4 not dropped with its reason";
	case C_BAD_L4:
		if (drop && (o->reason == j->reason || reason_after_l3(f->prog, o->reason)))
			return NULL;
		return !drop && !redirect && same ? NULL :
		       "bad L4 header neither dropped with its reason nor passed untouched";
	case C_GOOD:
		break;
	}
	/* An isolated pod's tc_to_pod stops a well-formed frame for policy only. */
	if (f->prog == P_TO_POD)
		return !redirect && (!drop || policy_reason(o->reason) ||
				     (j->reason && o->reason == j->reason)) ? NULL :
		       "tc_to_pod stopped a well-formed frame for a reason not policy's";
	/* Well-formed: whatever goes on rewritten keeps its checksums. */
	if (drop || same)
		return NULL;
	if (xdp && l3 != ETH_HLEN)
		return "XDP rewrote a VLAN-tagged frame";
	if (ip_csum_ok(f->b + l3, f->len - l3) && !ip_csum_ok(o->out + l3, f->len - l3))
		return "rewritten: IPv4 header checksum broken";
	if (l4_csum_state(f->b + l3, f->len - l3) == 1 &&
	    l4_csum_state(o->out + l3, f->len - l3) == 0)
		return "rewritten: L4 checksum broken";
	if (redirect && o->out[l3 + 8] != (__u8)(f->b[l3 + 8] - 1))
		return "redirect did not spend exactly one TTL";
	if (!redirect && o->out[l3 + 8] != f->b[l3 + 8])
		return "passed to the stack with its TTL changed";
	return NULL;
}

/* ---- reporting ------------------------------------------------------------------------ */

static const char *save_dir;
static int failures, max_reports = 10;

static void hex(const char *what, const __u8 *b, int len)
{
	int i;

	printf("#   %s (%d bytes):", what, len);
	for (i = 0; i < len; i++)
		printf("%s%02x", i % 32 ? " " : "\n#     ", b[i]);
	printf("\n");
}

static void record_write(FILE *out, const struct frame *f)
{
	__u8 head[4] = { f->prog, f->dev, f->len >> 8, f->len };

	fwrite(head, 1, sizeof(head), out);
	fwrite(f->b, 1, f->len, out);
}

/* The failing frame, and the frames since the last map reset, as a regression seed. */
static void report(const struct frame *f, const struct judgement *j, const struct outcome *o,
		   const char *why, const struct frame *history, int nhistory, __u64 seed,
		   long iteration)
{
	char path[512];
	FILE *out;
	int i;

	failures++;
	printf("# %s: %s (seed %llu, frame %ld, device %s)\n", prog_name[f->prog], why,
	       (unsigned long long)seed,
	       iteration, role_dev[f->dev]);
	printf("#   judged %s (reason %s); got verdict %d, %d events, reason %s\n", j->what,
	       j->reason ? podlane_drop_name(j->reason) : "-", o->retval, o->events,
	       o->reason ? podlane_drop_name(o->reason) : "-");
	hex("in", f->b, f->len);
	if (!o->err && memcmp(o->out, f->b, f->len))
		hex("out", o->out, o->out_len < FRAME_MAX ? o->out_len : FRAME_MAX);
	if (!save_dir)
		return;
	snprintf(path, sizeof(path), "%s/%s-%llu-%ld", save_dir, prog_name[f->prog],
		 (unsigned long long)seed,
		 iteration);
	out = fopen(path, "wb");
	if (!out)
		return;
	for (i = 0; i < nhistory; i++)
		record_write(out, &history[i]);
	record_write(out, f);
	fclose(out);
	printf("#   saved as %s\n", path);
}

/* ---- the runs ------------------------------------------------------------------------- */

struct tally {
	long frames, skipped, good, not_ip, bad_l3, bad_l4, pass, drop, redirect;
	long pol_drop, pol_allow;	/* policy: drops, ALLOWED records */
};

/*
 * Frames with a history: what ran since the programs' state was last known, so a failure can
 * be replayed with what it depended on (conntrack entries of earlier frames).
 */
#define HISTORY	64
static struct frame history[HISTORY];
static int nhistory;

/*
 * What BPF_PROG_TEST_RUN refuses (EINVAL) before a program runs: frames shorter than an
 * Ethernet header, and for tc an EtherType IPv4 or IPv6 frame shorter than that header.
 */
static bool test_run_refuses(const struct frame *f)
{
	__u16 type = f->len >= ETH_HLEN ? get16(f->b + 12) : 0;

	if (f->len < ETH_HLEN)
		return true;
	if (f->prog == P_XDP)
		return false;
	return (type == ETH_P_IP && f->len < ETH_HLEN + 20) ||
	       (type == ETH_P_IPV6 && f->len < ETH_HLEN + 40);
}

/* How often each invariant broke, per program: the summary after the details. */
static struct {
	enum prog prog;
	const char *why, *what;
	long n;
} broken[64];

static void broken_count(enum prog p, const char *why, const char *what)
{
	int i;

	for (i = 0; i < 64 && broken[i].why; i++)
		if (broken[i].prog == p && broken[i].why == why && broken[i].what == what)
			break;
	if (i == 64)
		return;
	broken[i].prog = p;
	broken[i].why = why;
	broken[i].what = what;
	broken[i].n++;
}

static long broken_for(enum prog p)
{
	long n = 0;
	int i;

	for (i = 0; i < 64 && broken[i].why; i++)
		n += broken[i].prog == p ? broken[i].n : 0;
	return n;
}

static void one(const struct frame *f, struct tally *t, __u64 seed, long i)
{
	struct judgement j = classify(f);
	struct outcome o;
	const char *why;

	run(f, &o);
	/*
	 * test_run refuses frames shorter than an Ethernet header, and tc frames of EtherType
	 * IPv4 shorter than a minimal IPv4 header: nothing ran (selftests/datapath covers
	 * those in live traffic).
	 */
	if (o.err == -EINVAL && test_run_refuses(f)) {
		t->skipped++;
		return;
	}
	t->frames++;
	t->good += j.class == C_GOOD;
	t->not_ip += j.class == C_NOT_IP;
	t->bad_l3 += j.class == C_BAD_L3;
	t->bad_l4 += j.class == C_BAD_L4;
	t->pol_drop += o.denied;
	t->pol_allow += o.allowed;
	if (f->prog == P_XDP) {
		t->pass += o.retval == XDP_PASS;
		t->drop += o.retval == XDP_DROP;
		t->redirect += o.retval == XDP_REDIRECT;
	} else {
		t->pass += o.retval == TC_ACT_OK;
		t->drop += o.retval == TC_ACT_SHOT;
		t->redirect += o.retval == TC_ACT_REDIRECT;
	}
	why = judge(f, &j, &o);
	if (why)
		broken_count(f->prog, why, j.what);
	if (why && failures < max_reports)
		report(f, &j, &o, why, history, nhistory, seed, i);
	else if (why)
		failures++;
	if (nhistory == HISTORY)
		memmove(history, history + 1, sizeof(history[0]) * --nhistory);
	history[nhistory++] = *f;
}

static int test_num;

static void tap(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tap(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", pass ? "ok" : "not ok", ++test_num);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int fuzz(long count, __u64 seed)
{
	struct tally t[P_MAX] = {};
	struct frame f;
	long i, total = 0;
	int p;

	rng = seed ? seed : 1;
	for (i = 0; i < count * P_MAX; i++) {
		p = i % P_MAX;
		next_frame(&f, p);
		one(&f, &t[p], seed, i);
	}
	for (p = 0; p < P_MAX; p++) {
		total += t[p].frames;
		tap(!broken_for(p), "%s: %ld frames (%ld good, %ld not IPv4, %ld bad IPv4, %ld bad "
		    "L4), %ld passed, %ld dropped (%ld by policy), %ld redirected, %ld connections "
		    "allowed by policy, invariants %s", prog_name[p], t[p].frames, t[p].good,
		    t[p].not_ip, t[p].bad_l3, t[p].bad_l4, t[p].pass, t[p].drop, t[p].pol_drop,
		    t[p].redirect, t[p].pol_allow, broken_for(p) ? "broken" : "held");
	}
	for (p = 0; p < 64 && broken[p].why; p++)
		printf("# %s: %ld frames (%s): %s\n", prog_name[broken[p].prog], broken[p].n,
		       broken[p].what, broken[p].why);
	printf("# frames run: %ld (seed %llu, %ld shorter than Ethernet refused by "
	       "test_run)\n", total, (unsigned long long)seed, t[0].skipped + t[1].skipped + t[2].skipped +
	       t[3].skipped + t[4].skipped);
	return failures;
}

static int replay(const char *path)
{
	FILE *in = fopen(path, "rb");
	struct tally t = {};
	struct frame f;
	__u8 head[4];
	int n = 0, before = failures;

	if (!in) {
		tap(false, "regression %s: %s", path, strerror(errno));
		return 1;
	}
	nhistory = 0;
	while (fread(head, 1, sizeof(head), in) == sizeof(head)) {
		memset(&f, 0, sizeof(f));
		f.prog = head[0];
		f.dev = head[1];
		f.len = head[2] << 8 | head[3];
		if (f.prog >= P_MAX || f.dev >= R_MAX || f.dev == R_NONE || f.len > FRAME_MAX ||
		    fread(f.b, 1, f.len, in) != (size_t)f.len) {
			fclose(in);
			tap(false, "regression %s: record %d is malformed", path, n);
			return 1;
		}
		one(&f, &t, 0, n++);
	}
	fclose(in);
	tap(failures == before && n > 0, "regression %s: %d frames, invariants %s",
	    strrchr(path, '/') ? strrchr(path, '/') + 1 : path, n,
	    failures == before ? "held" : "broken");
	return failures != before;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 's' },
		{ "save", required_argument, NULL, 'S' },
		{ "replay", no_argument, NULL, 'r' },
		{ "reports", required_argument, NULL, 'R' },
		{}
	};
	long count = 4000;
	__u64 seed = 0;
	bool only_replay = false;
	int c, fd, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			count = strtol(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'S':
			save_dir = optarg;
			break;
		case 'r':
			only_replay = true;
			break;
		case 'R':
			max_reports = strtol(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: %s [--count N] [--seed S] [--save DIR] "
				"[--reports N] [--replay] [FILE...]\n", argv[0]);
			return 2;
		}
	}
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root for BPF_PROG_TEST_RUN and a network namespace\n");
		return 4;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (fd < 0) {
		printf("1..0 # SKIP bpf() unavailable: %s\n", strerror(errno));
		return 4;
	}
	close(fd);
	if (!seed)
		seed = (__u64)time(NULL) * 2654435761u ^ getpid();
	err = devices_make();
	err = err ?: load();
	err = err ?: maps_fill();
	if (err) {
		printf("Bail out! set up namespace, load and fill maps: %s\n", strerror(-err));
		return 1;
	}
	for (; optind < argc; optind++)
		replay(argv[optind]);
	if (!only_replay)
		fuzz(count, seed);
	printf("1..%d\n", test_num);
	return failures ? 1 : 0;
}
