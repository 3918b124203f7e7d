// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_datapath.c - unit tests of podlane's tc programs through BPF_PROG_TEST_RUN, printed as
 * TAP. Each case is one row: program, device it runs on, packet, expected verdict, expected
 * counter deltas (per endpoint and node-wide), expected drop reason and event, and for
 * redirects the rewritten packet.
 *
 * The process moves into a private network namespace and creates veths there, because
 * test_run needs a real device for skb->ifindex; the namespace and its devices vanish with
 * the process. Maps are never pinned: the skeletons are loaded with pinning switched off.
 */
#include <sched.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>

#include "testlib.h"
#include "tc_endpoint.skel.h"
#include "tc_uplink.skel.h"

#define IP4(a, b, c, d)	((__u32)(a) << 24 | (__u32)(b) << 16 | (__u32)(c) << 8 | (__u32)(d))
#define PKT_MAX		256
#define MAP_SIZE	64	/* the agent may shrink maps before load; so do we */

/* Devices of the test namespace: three pods, the uplink, and a veth no endpoint owns. */
enum role { R_NONE, R_A, R_B, R_C, R_UPLINK, R_STRAY, R_MAX };

static const char *const role_dev[R_MAX] = {
	[R_A] = "plt-a", [R_B] = "plt-b", [R_C] = "plt-c",
	[R_UPLINK] = "plt-up", [R_STRAY] = "plt-x",
};

/* Endpoints A and B are READY, C is registered but not ready yet. */
static const struct {
	enum role role;
	__u32 ip;
	__u32 flags;
	__u8 pod_mac[ETH_ALEN];
	__u8 host_mac[ETH_ALEN];
} endpoints[] = {
	{ R_A, IP4(10, 244, 0, 10), PODLANE_EP_F_READY,
	  { 0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x0a }, { 0xee, 0x00, 0x00, 0x00, 0x00, 0x0a } },
	{ R_B, IP4(10, 244, 0, 11), PODLANE_EP_F_READY,
	  { 0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x0b }, { 0xee, 0x00, 0x00, 0x00, 0x00, 0x0b } },
	{ R_C, IP4(10, 244, 0, 12), 0,
	  { 0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x0c }, { 0xee, 0x00, 0x00, 0x00, 0x00, 0x0c } },
};

#define IP_A		IP4(10, 244, 0, 10)
#define IP_B		IP4(10, 244, 0, 11)
#define IP_C		IP4(10, 244, 0, 12)
#define IP_OUTSIDE	IP4(192, 0, 2, 1)	/* TEST-NET-1: somewhere off this node */
#define IP_REMOTE	IP4(198, 51, 100, 7)	/* TEST-NET-2: a client behind the uplink */
#define ETH_P_IPV6_	0x86DD
#define ETH_P_ARP_	0x0806

enum prog { P_FROM_POD, P_TO_POD, P_FROM_UPLINK };

static const char *const prog_hook_name[] = {
	[P_FROM_POD] = "tc_from_pod", [P_TO_POD] = "tc_to_pod", [P_FROM_UPLINK] = "tc_from_uplink",
};

static const __u8 hook_of_prog[] = {
	[P_FROM_POD] = PODLANE_HOOK_FROM_POD,
	[P_TO_POD] = PODLANE_HOOK_TO_POD,
	[P_FROM_UPLINK] = PODLANE_HOOK_FROM_UPLINK,
};

/* A packet description; zero fields take the defaults of a plain 32-byte UDP datagram. */
struct pkt_spec {
	__u16 eth_proto;	/* 0: IPv4 */
	__u32 saddr, daddr;	/* host order */
	__u8 proto;		/* 0: UDP */
	__u8 ttl;		/* 0: 64; use ttl_zero for a literal 0 */
	bool ttl_zero;
	__u8 version;		/* 0: 4 */
	__u8 ihl;		/* 0: 5 */
	int tot_len;		/* 0: correct, > 0: this value, < 0: literal 0 */
	__u16 frag_off;		/* host order, flags included */
	int payload;		/* bytes after the IP header; 0: 32, < 0: none */
	int frame_len;		/* 0: natural, else cut or zero-pad the frame to this */
	__u32 gso_size;		/* pretend a GSO packet (ctx gso_size) */
};

struct expect {
	int retval;		/* TC_ACT_* the program must return */
	int reason;		/* drop reason behind a TC_ACT_SHOT, 0 for none */
	enum role charged;	/* endpoint whose drops[reason] grows */
	enum role tx, rx;	/* endpoints whose tx / rx counters grow by this packet */
	enum role redirect_to;	/* output must be rewritten for this endpoint */
	bool no_addrs;		/* drop happened before the IPv4 addresses were known */
	bool short_ipv4;	/* test_run may refuse it: skip, do not fail, on EINVAL */
};

struct test_case {
	const char *name;
	enum prog prog;
	enum role dev;
	struct pkt_spec pkt;
	struct expect want;
};

#define UDP_TO(src, dst)	.saddr = (src), .daddr = (dst)

static const struct test_case cases[] = {
	/* Pod to pod on this node: the fast path. */
	{ "from_pod: udp to local pod is redirected to its peer", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B) },
	  { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B } },
	{ "from_pod: tcp to local pod is redirected", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .proto = IPPROTO_TCP, .payload = 40 },
	  { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B } },
	{ "from_pod: icmp to local pod is redirected", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .proto = IPPROTO_ICMP, .payload = 8 },
	  { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B } },
	{ "from_pod: reverse direction b->a is redirected", P_FROM_POD, R_B,
	  { UDP_TO(IP_B, IP_A) },
	  { TC_ACT_REDIRECT, .tx = R_B, .rx = R_A, .redirect_to = R_A } },
	{ "from_pod: IPv4 options (ihl 6) are forwarded", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .ihl = 6 },
	  { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B } },
	{ "from_pod: ttl 255 is forwarded with ttl 254", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .ttl = 255 },
	  { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B } },
	{ "from_pod: ttl 2 is forwarded with ttl 1", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .ttl = 2 },
	  { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B } },
	{ "from_pod: ethernet padding after the datagram is fine", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .payload = 8, .frame_len = 60 },
	  { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B } },
	{ "from_pod: non-first fragment without l4 header is redirected", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .frag_off = 185, .payload = 4 },
	  { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B } },
	{ "from_pod: other protocol (GRE) needs no l4 check", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .proto = IPPROTO_GRE, .payload = -1 },
	  { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B } },
	{ "from_pod: BIG TCP gso packet with tot_len 0 is redirected", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .proto = IPPROTO_TCP, .payload = 100, .tot_len = -1,
	    .gso_size = 40 },
	  { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B } },

	/* Everything else from a pod goes to the host stack. */
	{ "from_pod: destination off node passes to the stack", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_OUTSIDE) },
	  { TC_ACT_OK, .tx = R_A } },
	{ "from_pod: endpoint not READY is not redirected", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_C) },
	  { TC_ACT_OK, .tx = R_A } },
	{ "from_pod: ttl 1 off node is the stack's business", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_OUTSIDE), .ttl = 1 },
	  { TC_ACT_OK, .tx = R_A } },
	{ "from_pod: truncated udp off node is not checked", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_OUTSIDE), .payload = 4 },
	  { TC_ACT_OK, .tx = R_A } },
	{ "from_pod: ARP passes and counts as tx", P_FROM_POD, R_A,
	  { .eth_proto = ETH_P_ARP_, .payload = 28 },
	  { TC_ACT_OK, .tx = R_A } },
	{ "from_pod: IPv6 passes and counts as tx", P_FROM_POD, R_A,
	  { .eth_proto = ETH_P_IPV6_, .payload = 48 },
	  { TC_ACT_OK, .tx = R_A } },
	{ "from_pod: ARP on a veth without endpoint passes uncounted", P_FROM_POD, R_STRAY,
	  { .eth_proto = ETH_P_ARP_, .payload = 28 },
	  { TC_ACT_OK } },

	/* Drops that are the sender's fault. */
	{ "from_pod: unknown source address is spoofed", P_FROM_POD, R_A,
	  { UDP_TO(IP4(10, 244, 0, 99), IP_B) },
	  { TC_ACT_SHOT, PODLANE_DROP_SOURCE_SPOOFED, .charged = R_A } },
	{ "from_pod: another pod's source address is spoofed", P_FROM_POD, R_A,
	  { UDP_TO(IP_B, IP_OUTSIDE) },
	  { TC_ACT_SHOT, PODLANE_DROP_SOURCE_SPOOFED, .charged = R_A } },
	{ "from_pod: veth without endpoint drops ipv4 as unknown endpoint", P_FROM_POD, R_STRAY,
	  { UDP_TO(IP_A, IP_B) },
	  { TC_ACT_SHOT, PODLANE_DROP_UNKNOWN_ENDPOINT } },
	{ "from_pod: ttl 1 to local pod is dropped", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .ttl = 1 },
	  { TC_ACT_SHOT, PODLANE_DROP_TTL_EXCEEDED, .charged = R_A } },
	{ "from_pod: ttl 0 to local pod is dropped", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .ttl_zero = true },
	  { TC_ACT_SHOT, PODLANE_DROP_TTL_EXCEEDED, .charged = R_A } },
	{ "from_pod: ipv4 header cut at 19 bytes", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .frame_len = ETH_HLEN + 19 },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_TRUNCATED, .charged = R_A, .no_addrs = true,
	    .short_ipv4 = true } },
	{ "from_pod: ethernet header only, EtherType IPv4", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .frame_len = ETH_HLEN },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_TRUNCATED, .charged = R_A, .no_addrs = true,
	    .short_ipv4 = true } },
	{ "from_pod: ip version 6 in an IPv4 frame", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .version = 6 },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_VERSION, .charged = R_A, .no_addrs = true } },
	{ "from_pod: ihl 4", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .ihl = 4 },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_IHL, .charged = R_A } },
	{ "from_pod: ihl 15 runs past the packet", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .ihl = 15, .payload = -1, .frame_len = ETH_HLEN + 40 },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_IHL, .charged = R_A } },
	{ "from_pod: tot_len below header length", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .tot_len = 19 },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_LENGTH, .charged = R_A } },
	{ "from_pod: tot_len beyond the packet", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .tot_len = 20 + 32 + 1 },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_LENGTH, .charged = R_A } },
	{ "from_pod: tot_len 0 without gso", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .tot_len = -1 },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_LENGTH, .charged = R_A } },
	{ "from_pod: udp header truncated to local pod", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .payload = 7 },
	  { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A } },
	{ "from_pod: tcp header truncated to local pod", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .proto = IPPROTO_TCP, .payload = 19 },
	  { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A } },
	{ "from_pod: icmp header truncated to local pod", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .proto = IPPROTO_ICMP, .payload = 7 },
	  { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A } },
	{ "from_pod: first fragment with truncated udp header", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .frag_off = 0x2000, .payload = 4 },
	  { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A } },
	{ "from_pod: l4 header in padding but outside tot_len", P_FROM_POD, R_A,
	  { UDP_TO(IP_A, IP_B), .payload = 4, .frame_len = 60 },
	  { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A } },

	/* Host veth egress: what the stack delivers to the pod. */
	{ "to_pod: delivery counts rx", P_TO_POD, R_B,
	  { UDP_TO(IP_OUTSIDE, IP_B) },
	  { TC_ACT_OK, .rx = R_B } },
	{ "to_pod: ARP counts rx", P_TO_POD, R_A,
	  { .eth_proto = ETH_P_ARP_, .payload = 28 },
	  { TC_ACT_OK, .rx = R_A } },
	{ "to_pod: veth without endpoint passes uncounted", P_TO_POD, R_STRAY,
	  { UDP_TO(IP_OUTSIDE, IP_B) },
	  { TC_ACT_OK } },

	/* Node uplink ingress. */
	{ "from_uplink: udp to local pod is redirected", P_FROM_UPLINK, R_UPLINK,
	  { UDP_TO(IP_REMOTE, IP_B) },
	  { TC_ACT_REDIRECT, .rx = R_B, .redirect_to = R_B } },
	{ "from_uplink: tcp to local pod is redirected", P_FROM_UPLINK, R_UPLINK,
	  { UDP_TO(IP_REMOTE, IP_A), .proto = IPPROTO_TCP, .payload = 20 },
	  { TC_ACT_REDIRECT, .rx = R_A, .redirect_to = R_A } },
	{ "from_uplink: unknown destination passes", P_FROM_UPLINK, R_UPLINK,
	  { UDP_TO(IP_REMOTE, IP_OUTSIDE) },
	  { TC_ACT_OK } },
	{ "from_uplink: endpoint not READY passes", P_FROM_UPLINK, R_UPLINK,
	  { UDP_TO(IP_REMOTE, IP_C) },
	  { TC_ACT_OK } },
	{ "from_uplink: ARP passes", P_FROM_UPLINK, R_UPLINK,
	  { .eth_proto = ETH_P_ARP_, .payload = 28 },
	  { TC_ACT_OK } },
	{ "from_uplink: IPv6 passes", P_FROM_UPLINK, R_UPLINK,
	  { .eth_proto = ETH_P_IPV6_, .payload = 48 },
	  { TC_ACT_OK } },
	{ "from_uplink: ttl 1 to local pod is charged to the pod", P_FROM_UPLINK, R_UPLINK,
	  { UDP_TO(IP_REMOTE, IP_B), .ttl = 1 },
	  { TC_ACT_SHOT, PODLANE_DROP_TTL_EXCEEDED, .charged = R_B } },
	{ "from_uplink: udp header truncated to local pod", P_FROM_UPLINK, R_UPLINK,
	  { UDP_TO(IP_REMOTE, IP_B), .payload = 3 },
	  { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_B } },
	{ "from_uplink: ipv4 header cut short is dropped", P_FROM_UPLINK, R_UPLINK,
	  { UDP_TO(IP_REMOTE, IP_B), .frame_len = ETH_HLEN + 10 },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_TRUNCATED, .no_addrs = true, .short_ipv4 = true } },
	{ "from_uplink: bad ip version is dropped", P_FROM_UPLINK, R_UPLINK,
	  { UDP_TO(IP_REMOTE, IP_OUTSIDE), .version = 5 },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_VERSION, .no_addrs = true } },
	{ "from_uplink: bad ihl to anywhere is dropped", P_FROM_UPLINK, R_UPLINK,
	  { UDP_TO(IP_REMOTE, IP_OUTSIDE), .ihl = 3 },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_IHL } },
	{ "from_uplink: bad tot_len to anywhere is dropped", P_FROM_UPLINK, R_UPLINK,
	  { UDP_TO(IP_REMOTE, IP_OUTSIDE), .tot_len = 1000 },
	  { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_LENGTH } },
};

/* Extra tests outside the table: see main(). */
#define EXTRA_TESTS	4

struct env {
	struct tc_endpoint *ep;
	struct tc_endpoint *ep_quiet;	/* drop_events = false */
	struct tc_uplink *up;
	struct ring_buffer *rb;
	int ncpus;
	int ifindex[R_MAX];
	struct drop_event events[8];
	int nevents;
};

struct counters {
	struct endpoint_stats ep[R_MAX];	/* summed over CPUs, by role */
	struct drop_counter node[PODLANE_DROP_SLOTS];
};

/* Packets --------------------------------------------------------------------------------- */

static __u16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static __u16 ip_checksum(const void *hdr, size_t len)
{
	const __u8 *p = hdr;
	__u32 sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)p[i] << 8 | p[i + 1];
	return htons((__u16)~csum_fold(sum));
}

static bool ip_checksum_valid(const void *hdr, size_t len)
{
	const __u8 *p = hdr;
	__u32 sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)p[i] << 8 | p[i + 1];
	return csum_fold(sum) == 0xffff;
}

static const __u8 mac_router[ETH_ALEN] = { 0x02, 0x00, 0x5e, 0x00, 0x00, 0x01 };
static const __u8 mac_node[ETH_ALEN] = { 0x02, 0x00, 0x5e, 0x00, 0x00, 0x02 };

static size_t build_packet(const struct pkt_spec *s, __u8 *buf, size_t cap)
{
	struct ethhdr *eth = (struct ethhdr *)buf;
	struct iphdr *ip = (struct iphdr *)(buf + ETH_HLEN);
	size_t ihl = s->ihl ? s->ihl : 5, hdr_len = ihl < 5 ? 20 : ihl * 4;
	size_t payload = s->payload < 0 ? 0 : s->payload ? (size_t)s->payload : 32;
	size_t len, i;

	memset(buf, 0, cap);
	memcpy(eth->h_dest, mac_node, ETH_ALEN);
	memcpy(eth->h_source, mac_router, ETH_ALEN);
	eth->h_proto = htons(s->eth_proto ? s->eth_proto : ETH_P_IP);

	if (s->eth_proto && s->eth_proto != ETH_P_IP) {
		for (i = 0; i < payload; i++)
			buf[ETH_HLEN + i] = (__u8)(0xa0 + i);
		len = ETH_HLEN + payload;
	} else {
		ip->version = s->version ? s->version : 4;
		ip->ihl = ihl;
		ip->tos = 0x10;
		ip->tot_len = htons(s->tot_len < 0 ? 0 : s->tot_len ? s->tot_len :
				    (int)(hdr_len + payload));
		ip->id = htons(0x1234);
		ip->frag_off = htons(s->frag_off);
		ip->ttl = s->ttl_zero ? 0 : s->ttl ? s->ttl : 64;
		ip->protocol = s->proto ? s->proto : IPPROTO_UDP;
		ip->saddr = htonl(s->saddr);
		ip->daddr = htonl(s->daddr);
		for (i = sizeof(*ip); i < hdr_len; i++)
			((__u8 *)ip)[i] = 1;	/* IPOPT_NOOP */
		for (i = 0; i < payload; i++)
			buf[ETH_HLEN + hdr_len + i] = (__u8)i;
		ip->check = ip_checksum(ip, hdr_len);
		len = ETH_HLEN + hdr_len + payload;
	}
	if (s->frame_len)
		len = s->frame_len;	/* a cut frame, or zero padding after the datagram */
	return len;
}

/* Setup ----------------------------------------------------------------------------------- */

static int run_cmd(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		diag("command failed (%d): %s", rc, cmd);
	return rc;
}

static int make_devices(struct env *env)
{
	int r;

	if (unshare(CLONE_NEWNET)) {
		diag("failed to create network namespace: %s", strerror(errno));
		return -errno;
	}
	for (r = R_A; r < R_MAX; r++) {
		if (run_cmd("ip link add %s type veth peer name %s-p", role_dev[r], role_dev[r]))
			return -EIO;
		env->ifindex[r] = if_nametoindex(role_dev[r]);
		if (!env->ifindex[r]) {
			diag("failed to find device '%s': %s", role_dev[r], strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct env *env = ctx;

	if (size < sizeof(struct drop_event) || env->nevents >= (int)ARRAY_SIZE(env->events))
		return 0;
	memcpy(&env->events[env->nevents++], data, sizeof(struct drop_event));
	return 0;
}

static int load(struct env *env)
{
	static struct endpoint_stats zero_stats[MAX_CPUS];
	size_t i;
	int err;

	env->ncpus = libbpf_num_possible_cpus();
	if (env->ncpus <= 0 || env->ncpus > MAX_CPUS) {
		diag("unsupported number of possible CPUs: %d", env->ncpus);
		return -EINVAL;
	}

	env->ep = tc_endpoint__open();
	env->ep_quiet = tc_endpoint__open();
	env->up = tc_uplink__open();
	if (!env->ep || !env->ep_quiet || !env->up) {
		diag("failed to open skeletons: %s", strerror(errno));
		return -errno;
	}
	maps_unpin_and_shrink(env->ep->obj, MAP_SIZE);
	maps_unpin_and_shrink(env->ep_quiet->obj, MAP_SIZE);
	maps_unpin_and_shrink(env->up->obj, MAP_SIZE);
	env->ep_quiet->rodata->drop_events = false;

	err = tc_endpoint__load(env->ep);
	if (err) {
		diag("failed to load object 'tc_endpoint': %s", strerror(-err));
		return err;
	}
	err = maps_share(env->up->obj, env->ep->obj);
	err = err ?: maps_share(env->ep_quiet->obj, env->ep->obj);
	if (err)
		return err;
	err = tc_uplink__load(env->up);
	if (err) {
		diag("failed to load object 'tc_uplink': %s", strerror(-err));
		return err;
	}
	err = tc_endpoint__load(env->ep_quiet);
	if (err) {
		diag("failed to load object 'tc_endpoint' (quiet): %s", strerror(-err));
		return err;
	}

	env->rb = ring_buffer__new(bpf_map__fd(env->ep->maps.podlane_events), on_event, env, NULL);
	if (!env->rb) {
		diag("failed to create ring buffer 'podlane_events': %s", strerror(errno));
		return -errno;
	}

	for (i = 0; i < ARRAY_SIZE(endpoints); i++) {
		struct endpoint_key key;
		struct endpoint_value val;
		__u32 ifindex = env->ifindex[endpoints[i].role];

		memset(&key, 0, sizeof(key));
		memset(&val, 0, sizeof(val));
		key.addr.family = PODLANE_AF_INET;
		key.addr.ip4 = htonl(endpoints[i].ip);
		val.ifindex = ifindex;
		val.flags = endpoints[i].flags;
		memcpy(val.pod_mac, endpoints[i].pod_mac, ETH_ALEN);
		memcpy(val.host_mac, endpoints[i].host_mac, ETH_ALEN);
		if (bpf_map_update_elem(bpf_map__fd(env->ep->maps.podlane_eps), &key, &val,
					BPF_NOEXIST) ||
		    bpf_map_update_elem(bpf_map__fd(env->ep->maps.podlane_ep_stat), &ifindex,
					zero_stats, BPF_NOEXIST)) {
			diag("failed to add endpoint '%s': %s", role_dev[endpoints[i].role],
			     strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* Running --------------------------------------------------------------------------------- */

static int read_counters(struct env *env, struct counters *c)
{
	int fd = bpf_map__fd(env->ep->maps.podlane_ep_stat);
	enum role r;

	memset(c, 0, sizeof(*c));
	for (r = R_A; r < R_MAX; r++)
		ep_stats_read(fd, env->ifindex[r], env->ncpus, &c->ep[r]);	/* none: zero */
	return node_drops_read(bpf_map__fd(env->ep->maps.podlane_drops), env->ncpus, c->node);
}

static int prog_fd(struct env *env, enum prog p, bool quiet)
{
	struct tc_endpoint *ep = quiet ? env->ep_quiet : env->ep;

	switch (p) {
	case P_FROM_POD:
		return bpf_program__fd(ep->progs.tc_from_pod);
	case P_TO_POD:
		return bpf_program__fd(ep->progs.tc_to_pod);
	case P_FROM_UPLINK:
		return bpf_program__fd(env->up->progs.tc_from_uplink);
	}
	return -1;
}

struct run_result {
	int err;
	__u32 retval;
	__u8 out[PKT_MAX];
	__u32 out_len;
};

static void run_prog(int fd, int ifindex, const __u8 *pkt, size_t len, __u32 gso_size,
		     struct run_result *res)
{
	struct __sk_buff ctx = { .ifindex = ifindex, .gso_size = gso_size };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = pkt,
		.data_size_in = len,
		.data_out = res->out,
		.data_size_out = sizeof(res->out),
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.repeat = 1,
	);

	if (gso_size)
		ctx.gso_segs = 2;
	res->err = bpf_prog_test_run_opts(fd, &opts) ? -errno : 0;
	res->retval = opts.retval;
	res->out_len = opts.data_size_out;
}

/* Compare counters before and after against what the case says should have moved. */
static bool check_counters(const struct test_case *tc, size_t len, const struct counters *b,
			   const struct counters *a)
{
	int s, slot = tc->want.reason ? PODLANE_DROP_INDEX(tc->want.reason) : -1;
	bool pass = true;
	enum role r;

	for (r = R_A; r < R_MAX; r++) {
		__u64 tx = tc->want.tx == r, rx = tc->want.rx == r;
		__u64 got_tx = a->ep[r].tx_packets - b->ep[r].tx_packets;
		__u64 got_rx = a->ep[r].rx_packets - b->ep[r].rx_packets;
		__u64 got_txb = a->ep[r].tx_bytes - b->ep[r].tx_bytes;
		__u64 got_rxb = a->ep[r].rx_bytes - b->ep[r].rx_bytes;

		if (got_tx != tx || got_rx != rx || got_txb != tx * len || got_rxb != rx * len) {
			diag("%s: tx %llu/%llu bytes, rx %llu/%llu bytes; want tx %llu rx %llu of %zu bytes",
			     role_dev[r], got_tx, got_txb, got_rx, got_rxb, tx, rx, len);
			pass = false;
		}
		for (s = 0; s < PODLANE_DROP_SLOTS; s++) {
			__u64 want = s == slot && tc->want.charged == r;
			__u64 got = a->ep[r].drops[s] - b->ep[r].drops[s];

			if (got != want) {
				diag("%s: drops[%s] grew by %llu, want %llu", role_dev[r],
				     reason_name(-PODLANE_DROP_FIRST - s), got, want);
				pass = false;
			}
		}
	}
	for (s = 0; s < PODLANE_DROP_SLOTS; s++) {
		__u64 want = s == slot;
		__u64 got = a->node[s].packets - b->node[s].packets;
		__u64 got_b = a->node[s].bytes - b->node[s].bytes;

		if (got != want || got_b != want * len) {
			diag("node drops[%s] grew by %llu packets / %llu bytes, want %llu / %llu",
			     reason_name(-PODLANE_DROP_FIRST - s), got, got_b, want, want * len);
			pass = false;
		}
	}
	return pass;
}

static const struct endpoint_value *endpoint_of(enum role r, struct endpoint_value *buf)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(endpoints); i++) {
		if (endpoints[i].role != r)
			continue;
		memcpy(buf->pod_mac, endpoints[i].pod_mac, ETH_ALEN);
		memcpy(buf->host_mac, endpoints[i].host_mac, ETH_ALEN);
		return buf;
	}
	return NULL;
}

/* A redirected packet differs from the input in MACs, TTL and checksum only. */
static bool check_output(const struct test_case *tc, const __u8 *in, size_t len,
			 const struct run_result *res)
{
	const struct iphdr *ip_in = (const void *)(in + ETH_HLEN);
	const struct iphdr *ip_out = (const void *)(res->out + ETH_HLEN);
	struct endpoint_value ep;
	__u8 expect[PKT_MAX];

	if (res->out_len != len) {
		diag("output is %u bytes, input was %zu", res->out_len, len);
		return false;
	}
	memcpy(expect, in, len);
	if (tc->want.redirect_to) {
		struct iphdr *ip_exp = (void *)(expect + ETH_HLEN);

		endpoint_of(tc->want.redirect_to, &ep);
		memcpy(expect, ep.pod_mac, ETH_ALEN);
		memcpy(expect + ETH_ALEN, ep.host_mac, ETH_ALEN);
		ip_exp->ttl = ip_in->ttl - 1;
		ip_exp->check = ip_out->check;	/* judged below on its own */
		if (!ip_checksum_valid(ip_out, ip_out->ihl * 4)) {
			diag("ipv4 checksum of the output is invalid: 0x%04x", ntohs(ip_out->check));
			return false;
		}
	}
	if (memcmp(expect, res->out, len)) {
		size_t i;

		for (i = 0; i < len && expect[i] == res->out[i]; i++)
			;
		diag("output differs from expected at byte %zu: got 0x%02x want 0x%02x", i,
		     res->out[i], expect[i]);
		return false;
	}
	return true;
}

static bool check_events(struct env *env, const struct test_case *tc, const __u8 *pkt,
			 size_t len)
{
	const struct iphdr *ip = (const void *)(pkt + ETH_HLEN);
	const struct drop_event *ev = &env->events[0];
	__u16 eth_proto = tc->pkt.eth_proto ? tc->pkt.eth_proto : ETH_P_IP;
	int want = tc->want.reason ? 1 : 0;
	bool pass = true;

	if (env->nevents != want) {
		diag("%d drop events, want %d", env->nevents, want);
		return false;
	}
	if (!want)
		return true;
	if (ev->type != PODLANE_EVENT_DROP || ev->reason != tc->want.reason ||
	    ev->ifindex != (__u32)env->ifindex[tc->dev] || ev->len != len ||
	    ev->hook != hook_of_prog[tc->prog] || ev->eth_proto != eth_proto || !ev->ts_ns) {
		diag("event: type %u reason %s ifindex %u len %u hook %u eth_proto 0x%04x ts %llu",
		     ev->type, reason_name(ev->reason), ev->ifindex, ev->len, ev->hook,
		     ev->eth_proto, (unsigned long long)ev->ts_ns);
		pass = false;
	}
	if (tc->want.no_addrs ? ev->saddr || ev->daddr || ev->ip_proto :
	    ev->saddr != ip->saddr || ev->daddr != ip->daddr || ev->ip_proto != ip->protocol) {
		char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &ev->saddr, s, sizeof(s));
		inet_ntop(AF_INET, &ev->daddr, d, sizeof(d));
		diag("event addresses %s -> %s proto %u do not match the packet", s, d,
		     ev->ip_proto);
		pass = false;
	}
	return pass;
}

static void drain_events(struct env *env)
{
	ring_buffer__consume(env->rb);
	env->nevents = 0;
}

static void run_case(struct env *env, const struct test_case *tc)
{
	struct counters before, after;
	struct run_result res;
	__u8 pkt[PKT_MAX];
	size_t len;
	bool pass = true;

	len = build_packet(&tc->pkt, pkt, sizeof(pkt));
	drain_events(env);
	if (read_counters(env, &before)) {
		report(false, tc->name);
		return;
	}
	run_prog(prog_fd(env, tc->prog, false), env->ifindex[tc->dev], pkt, len, tc->pkt.gso_size,
		 &res);
	if (res.err == -EINVAL && tc->want.short_ipv4) {
		report_skip(tc->name, "kernel's BPF_PROG_TEST_RUN rejects EtherType IPv4 frames "
			    "shorter than ETH_HLEN + 20 (EINVAL); covered by the live test");
		return;
	}
	if (res.err) {
		diag("failed to run program '%s': %s", prog_hook_name[tc->prog],
		     strerror(-res.err));
		report(false, tc->name);
		return;
	}
	if ((int)res.retval != tc->want.retval) {
		diag("retval %d, want %d", (int)res.retval, tc->want.retval);
		pass = false;
	}
	if (read_counters(env, &after) || !check_counters(tc, len, &before, &after))
		pass = false;
	ring_buffer__consume(env->rb);
	if (!check_events(env, tc, pkt, len))
		pass = false;
	/* A dropped packet's bytes do not matter; anything that goes on must be exact. */
	if (tc->want.retval != TC_ACT_SHOT && !check_output(tc, pkt, len, &res))
		pass = false;
	report(pass, tc->name);
}

/* Tests outside the table ----------------------------------------------------------------- */

/*
 * A pod never sends less than an Ethernet header, but the program must still cope. test_run
 * refuses such input on the kernels we know; say so instead of pretending.
 */
static void test_eth_truncated(struct env *env, enum prog p, const char *name)
{
	static const __u8 runt[10] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
	struct counters before, after;
	struct run_result res;
	int slot = PODLANE_DROP_INDEX(PODLANE_DROP_ETH_TRUNCATED);
	int dev = p == P_FROM_UPLINK ? R_UPLINK : R_A;

	drain_events(env);
	read_counters(env, &before);
	run_prog(prog_fd(env, p, false), env->ifindex[dev], runt, sizeof(runt), 0, &res);
	if (res.err == -EINVAL) {
		report_skip(name, "kernel rejects BPF_PROG_TEST_RUN input shorter than ETH_HLEN "
			    "(EINVAL), a runt frame cannot be expressed");
		return;
	}
	read_counters(env, &after);
	ring_buffer__consume(env->rb);
	report(!res.err && res.retval == TC_ACT_SHOT &&
	       after.node[slot].packets - before.node[slot].packets == 1 && env->nevents == 1 &&
	       env->events[0].reason == PODLANE_DROP_ETH_TRUNCATED, name);
}

/* The incremental checksum update must agree with a full recomputation for any header. */
static void test_checksum_sweep(struct env *env)
{
	const char *name = "from_pod: ttl/checksum rewrite valid for 2000 random headers";
	int fd = prog_fd(env, P_FROM_POD, false), i, bad = 0;
	struct run_result res;
	__u8 pkt[PKT_MAX];

	srandom(4242);
	for (i = 0; i < 2000 && bad < 5; i++) {
		struct pkt_spec s = { UDP_TO(IP_A, IP_B), .ttl = 2 + random() % 254,
				      .ihl = 5 + random() % 3, .payload = 8 + random() % 64 };
		struct iphdr *ip = (void *)(pkt + ETH_HLEN);
		const struct iphdr *out = (const void *)(res.out + ETH_HLEN);
		size_t len = build_packet(&s, pkt, sizeof(pkt));

		/* Vary the words around TTL so the checksum takes every kind of carry. */
		ip->id = random();
		ip->tos = random();
		ip->frag_off = htons(random() % 2 ? 0x4000 : 0);
		ip->check = 0;
		ip->check = ip_checksum(ip, ip->ihl * 4);
		run_prog(fd, env->ifindex[R_A], pkt, len, 0, &res);
		if (res.err || res.retval != TC_ACT_REDIRECT || out->ttl != ip->ttl - 1 ||
		    !ip_checksum_valid(out, out->ihl * 4)) {
			diag("header %d: err %d retval %u ttl %u->%u check 0x%04x->0x%04x", i,
			     res.err, res.retval, ip->ttl, out->ttl, ntohs(ip->check),
			     ntohs(out->check));
			bad++;
		}
	}
	drain_events(env);
	report(bad == 0, name);
}

/* With the rodata knob off, drops are still counted but nothing reaches the ring buffer. */
static void test_events_off(struct env *env)
{
	struct test_case tc = {
		"drop_events=false: spoofed packet counted, no event", P_FROM_POD, R_A,
		{ UDP_TO(IP_C, IP_B) },
		{ TC_ACT_SHOT, PODLANE_DROP_SOURCE_SPOOFED, .charged = R_A },
	};
	struct counters before, after;
	struct run_result res;
	__u8 pkt[PKT_MAX];
	size_t len = build_packet(&tc.pkt, pkt, sizeof(pkt));
	bool pass;

	drain_events(env);
	read_counters(env, &before);
	run_prog(prog_fd(env, P_FROM_POD, true), env->ifindex[R_A], pkt, len, 0, &res);
	read_counters(env, &after);
	ring_buffer__consume(env->rb);
	pass = !res.err && res.retval == TC_ACT_SHOT && check_counters(&tc, len, &before, &after);
	if (env->nevents) {
		diag("%d events with drop_events off", env->nevents);
		pass = false;
	}
	report(pass, tc.name);
}

int main(int argc, char **argv)
{
	struct env env = {};
	size_t i;
	int err;

	verbose = argc > 1 && !strcmp(argv[1], "-v");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root for BPF_PROG_TEST_RUN and a network namespace\n");
		return 0;
	}
	libbpf_set_print(libbpf_print_tap);

	/* Probe: can this process use bpf() at all? */
	err = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (err < 0) {
		printf("1..0 # SKIP bpf() unavailable: %s\n", strerror(errno));
		return 0;
	}
	close(err);

	printf("1..%zu\n", ARRAY_SIZE(cases) + EXTRA_TESTS);
	if (make_devices(&env) || load(&env)) {
		for (i = 0; i < ARRAY_SIZE(cases) + EXTRA_TESTS; i++)
			report(false, i == 0 ? "set up namespace, load and fill maps" :
			       "not run: setup failed");
		return 1;
	}

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		run_case(&env, &cases[i]);
	test_eth_truncated(&env, P_FROM_POD, "from_pod: runt frame (< ETH_HLEN) is eth_truncated");
	test_eth_truncated(&env, P_FROM_UPLINK,
			   "from_uplink: runt frame (< ETH_HLEN) is eth_truncated");
	test_checksum_sweep(&env);
	test_events_off(&env);

	ring_buffer__free(env.rb);
	tc_uplink__destroy(env.up);
	tc_endpoint__destroy(env.ep_quiet);
	tc_endpoint__destroy(env.ep);
	return failures ? 1 : 0;
}
