// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_datapath.c - unit tests of podlane's tc programs through BPF_PROG_TEST_RUN, written with
 * kselftest_harness.h. Each row of the packet table is a variant of the fixture of its program
 * (from_pod, to_pod, from_uplink), so every row is its own named test: device it runs on,
 * packet, expected verdict, expected counter deltas (per endpoint and node-wide), expected
 * drop reason and event, and for redirects the rewritten packet.
 *
 * main() moves the process into a private network namespace, creates veths there (test_run
 * needs a real device for skb->ifindex) and loads the programs once, with private maps (never
 * pinned), before the harness forks a child per test. No test changes a map: each reads the
 * counters and events before and after its own packet. The namespace and its devices vanish
 * with the process. The Debian 6.1 test guest runs this binary too (selftests/guest).
 */
#include <sched.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>

#include "kselftest_harness.h"
#include "testlib.h"
#include "tc_endpoint.skel.h"
#include "tc_uplink.skel.h"

#define IP4		TL_IP4
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
	int l4_len;		/* 0: right, else the UDP length / TCP data offset (words) */
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

/* One row of the table: the fixture's variant. */
#define TC_ROW								\
	enum role dev;		/* device the program runs on */		\
	struct pkt_spec pkt;						\
	struct expect want

#define UDP_TO(src, dst)	.saddr = (src), .daddr = (dst)

FIXTURE(from_pod) {};
FIXTURE_VARIANT(from_pod) { TC_ROW; };
FIXTURE(to_pod) {};
FIXTURE_VARIANT(to_pod) { TC_ROW; };
FIXTURE(from_uplink) {};
FIXTURE_VARIANT(from_uplink) { TC_ROW; };

/* Pod to pod on this node: the fast path. */
FIXTURE_VARIANT_ADD(from_pod, udp_to_local_pod_is_redirected_to_its_peer) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B) },
	.want = { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B },
};

FIXTURE_VARIANT_ADD(from_pod, tcp_to_local_pod_is_redirected) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .proto = IPPROTO_TCP, .payload = 40 },
	.want = { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B },
};

FIXTURE_VARIANT_ADD(from_pod, icmp_to_local_pod_is_redirected) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .proto = IPPROTO_ICMP, .payload = 8 },
	.want = { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B },
};

FIXTURE_VARIANT_ADD(from_pod, reverse_direction_b_a_is_redirected) {
	.dev = R_B,
	.pkt = { UDP_TO(IP_B, IP_A) },
	.want = { TC_ACT_REDIRECT, .tx = R_B, .rx = R_A, .redirect_to = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, ipv4_options_ihl_6_are_forwarded) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .ihl = 6 },
	.want = { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B },
};

FIXTURE_VARIANT_ADD(from_pod, ttl_255_is_forwarded_with_ttl_254) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .ttl = 255 },
	.want = { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B },
};

FIXTURE_VARIANT_ADD(from_pod, ttl_2_is_forwarded_with_ttl_1) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .ttl = 2 },
	.want = { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B },
};

FIXTURE_VARIANT_ADD(from_pod, ethernet_padding_after_the_datagram_is_fine) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .payload = 8, .frame_len = 60 },
	.want = { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B },
};

FIXTURE_VARIANT_ADD(from_pod, non_first_fragment_without_l4_header_is_redirected) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .frag_off = 185, .payload = 4 },
	.want = { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B },
};

FIXTURE_VARIANT_ADD(from_pod, other_protocol_gre_needs_no_l4_check) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .proto = IPPROTO_GRE, .payload = -1 },
	.want = { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B },
};

FIXTURE_VARIANT_ADD(from_pod, big_tcp_gso_packet_with_tot_len_0_is_redirected) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .proto = IPPROTO_TCP, .payload = 100, .tot_len = -1,
		 .gso_size = 40 },
	.want = { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B },
};


/* Everything else from a pod goes to the host stack. */
FIXTURE_VARIANT_ADD(from_pod, destination_off_node_passes_to_the_stack) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_OUTSIDE) },
	.want = { TC_ACT_OK, .tx = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, endpoint_not_ready_is_not_redirected) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_C) },
	.want = { TC_ACT_OK, .tx = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, ttl_1_off_node_is_the_stacks_business) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_OUTSIDE), .ttl = 1 },
	.want = { TC_ACT_OK, .tx = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, truncated_udp_off_node_is_not_checked) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_OUTSIDE), .payload = 4 },
	.want = { TC_ACT_OK, .tx = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, arp_passes_and_counts_as_tx) {
	.dev = R_A,
	.pkt = { .eth_proto = ETH_P_ARP_, .payload = 28 },
	.want = { TC_ACT_OK, .tx = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, ipv6_passes_and_counts_as_tx) {
	.dev = R_A,
	.pkt = { .eth_proto = ETH_P_IPV6_, .payload = 48 },
	.want = { TC_ACT_OK, .tx = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, arp_on_a_veth_without_endpoint_passes_uncounted) {
	.dev = R_STRAY,
	.pkt = { .eth_proto = ETH_P_ARP_, .payload = 28 },
	.want = { TC_ACT_OK },
};


/* Drops that are the sender's fault. */
FIXTURE_VARIANT_ADD(from_pod, unknown_source_address_is_spoofed) {
	.dev = R_A,
	.pkt = { UDP_TO(IP4(10, 244, 0, 99), IP_B) },
	.want = { TC_ACT_SHOT, PODLANE_DROP_SOURCE_SPOOFED, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, another_pods_source_address_is_spoofed) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_B, IP_OUTSIDE) },
	.want = { TC_ACT_SHOT, PODLANE_DROP_SOURCE_SPOOFED, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, veth_without_endpoint_drops_ipv4_as_unknown_endpoint) {
	.dev = R_STRAY,
	.pkt = { UDP_TO(IP_A, IP_B) },
	.want = { TC_ACT_SHOT, PODLANE_DROP_UNKNOWN_ENDPOINT },
};

FIXTURE_VARIANT_ADD(from_pod, ttl_1_to_local_pod_is_dropped) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .ttl = 1 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_TTL_EXCEEDED, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, ttl_0_to_local_pod_is_dropped) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .ttl_zero = true },
	.want = { TC_ACT_SHOT, PODLANE_DROP_TTL_EXCEEDED, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, ipv4_header_cut_at_19_bytes) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .frame_len = ETH_HLEN + 19 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_TRUNCATED, .charged = R_A, .no_addrs = true,
		  .short_ipv4 = true },
};

FIXTURE_VARIANT_ADD(from_pod, ethernet_header_only_ethertype_ipv4) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .frame_len = ETH_HLEN },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_TRUNCATED, .charged = R_A, .no_addrs = true,
		  .short_ipv4 = true },
};

FIXTURE_VARIANT_ADD(from_pod, ip_version_6_in_an_ipv4_frame) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .version = 6 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_VERSION, .charged = R_A, .no_addrs = true },
};

FIXTURE_VARIANT_ADD(from_pod, ihl_4) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .ihl = 4 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_IHL, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, ihl_15_runs_past_the_packet) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .ihl = 15, .payload = -1, .frame_len = ETH_HLEN + 40 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_IHL, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, tot_len_below_header_length) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .tot_len = 19 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_LENGTH, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, tot_len_beyond_the_packet) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .tot_len = 20 + 32 + 1 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_LENGTH, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, tot_len_0_without_gso) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .tot_len = -1 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_LENGTH, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, udp_header_truncated_to_local_pod) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .payload = 7 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, tcp_header_truncated_to_local_pod) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .proto = IPPROTO_TCP, .payload = 19 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, icmp_header_truncated_to_local_pod) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .proto = IPPROTO_ICMP, .payload = 7 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, first_fragment_with_truncated_udp_header) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .frag_off = 0x2000, .payload = 4 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A },
};

/* A transport header must say its own length right (found by selftests/fuzz/fuzz_packets). */
FIXTURE_VARIANT_ADD(from_pod, tcp_data_offset_4_is_l4_bad_header) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .proto = IPPROTO_TCP, .payload = 40, .l4_len = 4 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_L4_BAD_HEADER, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, tcp_data_offset_past_the_datagram_is_l4_truncated) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .proto = IPPROTO_TCP, .payload = 40, .l4_len = 11 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, udp_length_7_is_l4_bad_header) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .l4_len = 7 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_L4_BAD_HEADER, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, udp_length_past_the_datagram_is_l4_truncated) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .l4_len = 33 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A },
};

FIXTURE_VARIANT_ADD(from_pod, udp_length_shorter_than_the_datagram_is_forwarded) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .l4_len = 8 },
	.want = { TC_ACT_REDIRECT, .tx = R_A, .rx = R_B, .redirect_to = R_B },
};

FIXTURE_VARIANT_ADD(from_pod, l4_header_in_padding_but_outside_tot_len) {
	.dev = R_A,
	.pkt = { UDP_TO(IP_A, IP_B), .payload = 4, .frame_len = 60 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_A },
};


/* Host veth egress: what the stack delivers to the pod. */
FIXTURE_VARIANT_ADD(to_pod, delivery_counts_rx) {
	.dev = R_B,
	.pkt = { UDP_TO(IP_OUTSIDE, IP_B) },
	.want = { TC_ACT_OK, .rx = R_B },
};

FIXTURE_VARIANT_ADD(to_pod, arp_counts_rx) {
	.dev = R_A,
	.pkt = { .eth_proto = ETH_P_ARP_, .payload = 28 },
	.want = { TC_ACT_OK, .rx = R_A },
};

FIXTURE_VARIANT_ADD(to_pod, veth_without_endpoint_passes_uncounted) {
	.dev = R_STRAY,
	.pkt = { UDP_TO(IP_OUTSIDE, IP_B) },
	.want = { TC_ACT_OK },
};


/* Node uplink ingress. */
FIXTURE_VARIANT_ADD(from_uplink, udp_to_local_pod_is_redirected) {
	.dev = R_UPLINK,
	.pkt = { UDP_TO(IP_REMOTE, IP_B) },
	.want = { TC_ACT_REDIRECT, .rx = R_B, .redirect_to = R_B },
};

FIXTURE_VARIANT_ADD(from_uplink, tcp_to_local_pod_is_redirected) {
	.dev = R_UPLINK,
	.pkt = { UDP_TO(IP_REMOTE, IP_A), .proto = IPPROTO_TCP, .payload = 20 },
	.want = { TC_ACT_REDIRECT, .rx = R_A, .redirect_to = R_A },
};

FIXTURE_VARIANT_ADD(from_uplink, unknown_destination_passes) {
	.dev = R_UPLINK,
	.pkt = { UDP_TO(IP_REMOTE, IP_OUTSIDE) },
	.want = { TC_ACT_OK },
};

FIXTURE_VARIANT_ADD(from_uplink, endpoint_not_ready_passes) {
	.dev = R_UPLINK,
	.pkt = { UDP_TO(IP_REMOTE, IP_C) },
	.want = { TC_ACT_OK },
};

FIXTURE_VARIANT_ADD(from_uplink, arp_passes) {
	.dev = R_UPLINK,
	.pkt = { .eth_proto = ETH_P_ARP_, .payload = 28 },
	.want = { TC_ACT_OK },
};

FIXTURE_VARIANT_ADD(from_uplink, ipv6_passes) {
	.dev = R_UPLINK,
	.pkt = { .eth_proto = ETH_P_IPV6_, .payload = 48 },
	.want = { TC_ACT_OK },
};

FIXTURE_VARIANT_ADD(from_uplink, ttl_1_to_local_pod_is_charged_to_the_pod) {
	.dev = R_UPLINK,
	.pkt = { UDP_TO(IP_REMOTE, IP_B), .ttl = 1 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_TTL_EXCEEDED, .charged = R_B },
};

FIXTURE_VARIANT_ADD(from_uplink, udp_header_truncated_to_local_pod) {
	.dev = R_UPLINK,
	.pkt = { UDP_TO(IP_REMOTE, IP_B), .payload = 3 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_L4_TRUNCATED, .charged = R_B },
};

FIXTURE_VARIANT_ADD(from_uplink, ipv4_header_cut_short_is_dropped) {
	.dev = R_UPLINK,
	.pkt = { UDP_TO(IP_REMOTE, IP_B), .frame_len = ETH_HLEN + 10 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_TRUNCATED, .no_addrs = true, .short_ipv4 = true },
};

FIXTURE_VARIANT_ADD(from_uplink, bad_ip_version_is_dropped) {
	.dev = R_UPLINK,
	.pkt = { UDP_TO(IP_REMOTE, IP_OUTSIDE), .version = 5 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_VERSION, .no_addrs = true },
};

FIXTURE_VARIANT_ADD(from_uplink, bad_ihl_to_anywhere_is_dropped) {
	.dev = R_UPLINK,
	.pkt = { UDP_TO(IP_REMOTE, IP_OUTSIDE), .ihl = 3 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_IHL },
};

FIXTURE_VARIANT_ADD(from_uplink, bad_tot_len_to_anywhere_is_dropped) {
	.dev = R_UPLINK,
	.pkt = { UDP_TO(IP_REMOTE, IP_OUTSIDE), .tot_len = 1000 },
	.want = { TC_ACT_SHOT, PODLANE_DROP_IP4_BAD_LENGTH },
};


/* The node every test runs against, set up once by main(). */
static struct env {
	struct tc_endpoint *ep;
	struct tc_endpoint *ep_quiet;	/* drop_events = false */
	struct tc_uplink *up;
	struct tl_events events;
	int ifindex[R_MAX];
} env;

struct counters {
	struct endpoint_stats ep[R_MAX];	/* summed over CPUs, by role */
	struct drop_counter node[PODLANE_DROP_SLOTS];
};

/* Packets --------------------------------------------------------------------------------- */

static __u16 ip_checksum(const void *hdr, size_t len)
{
	return htons((__u16)~tl_csum_fold(tl_csum_add(0, hdr, len)));
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
		/* A whole transport header says its own length right (bpf/lib/common.h). */
		if (ip->protocol == IPPROTO_UDP && payload >= 8)
			*(__be16 *)(buf + ETH_HLEN + hdr_len + 4) =
				htons(s->l4_len ? s->l4_len : (int)payload);
		if (ip->protocol == IPPROTO_TCP && payload >= 20)
			buf[ETH_HLEN + hdr_len + 12] = (s->l4_len ? s->l4_len : 5) << 4;
		ip->check = ip_checksum(ip, hdr_len);
		len = ETH_HLEN + hdr_len + payload;
	}
	if (s->frame_len)
		len = s->frame_len;	/* a cut frame, or zero padding after the datagram */
	return len;
}

/* The node: devices, programs, endpoints ---------------------------------------------------- */

static int make_devices(void)
{
	char peer[IFNAMSIZ];
	int r, err;

	err = tl_netns_enter();
	if (err)
		return err;
	for (r = R_A; r < R_MAX; r++) {
		snprintf(peer, sizeof(peer), "%s-p", role_dev[r]);
		env.ifindex[r] = tl_veth_add(role_dev[r], NULL, peer, NULL, 0);
		if (env.ifindex[r] < 0)
			return env.ifindex[r];
	}
	return 0;
}

static int load(void)
{
	size_t i;
	int err;

	env.ep = tc_endpoint__open();
	env.ep_quiet = tc_endpoint__open();
	env.up = tc_uplink__open();
	if (!env.ep || !env.ep_quiet || !env.up) {
		tl_log("failed to open skeletons: %s", strerror(errno));
		return -errno;
	}
	tl_maps_private(env.ep->obj, MAP_SIZE);
	tl_maps_private(env.ep_quiet->obj, MAP_SIZE);
	tl_maps_private(env.up->obj, MAP_SIZE);
	env.ep_quiet->rodata->drop_events = false;

	err = tc_endpoint__load(env.ep);
	if (err) {
		tl_log("failed to load object 'tc_endpoint': %s", strerror(-err));
		return err;
	}
	err = tl_maps_share(env.up->obj, env.ep->obj);
	err = err ?: tl_maps_share(env.ep_quiet->obj, env.ep->obj);
	if (err)
		return err;
	err = tc_uplink__load(env.up);
	if (err) {
		tl_log("failed to load object 'tc_uplink': %s", strerror(-err));
		return err;
	}
	err = tc_endpoint__load(env.ep_quiet);
	if (err) {
		tl_log("failed to load object 'tc_endpoint' (quiet): %s", strerror(-err));
		return err;
	}
	err = tl_events_open(&env.events, bpf_map__fd(env.ep->maps.podlane_events));
	if (err)
		return err;

	for (i = 0; i < ARRAY_SIZE(endpoints); i++) {
		err = tl_endpoint_add(bpf_map__fd(env.ep->maps.podlane_eps),
				      bpf_map__fd(env.ep->maps.podlane_ep_stat),
				      htonl(endpoints[i].ip), endpoints[i].pod_mac,
				      endpoints[i].host_mac, env.ifindex[endpoints[i].role],
				      endpoints[i].flags);
		if (err)
			return err;
	}
	return 0;
}

/* Running --------------------------------------------------------------------------------- */

static int read_counters(struct counters *c)
{
	int fd = bpf_map__fd(env.ep->maps.podlane_ep_stat);
	enum role r;

	memset(c, 0, sizeof(*c));
	for (r = R_A; r < R_MAX; r++)
		tl_ep_stats_read(fd, env.ifindex[r], &c->ep[r]);	/* none: zero */
	return tl_node_drops_read(bpf_map__fd(env.ep->maps.podlane_drops), c->node);
}

static int prog_fd(enum prog p, bool quiet)
{
	struct tc_endpoint *ep = quiet ? env.ep_quiet : env.ep;

	switch (p) {
	case P_FROM_POD:
		return bpf_program__fd(ep->progs.tc_from_pod);
	case P_TO_POD:
		return bpf_program__fd(ep->progs.tc_to_pod);
	case P_FROM_UPLINK:
		return bpf_program__fd(env.up->progs.tc_from_uplink);
	}
	return -1;
}

struct run_result {
	int err;
	__u32 retval;
	TL_FRAME(out, PKT_MAX);
	__u32 out_len;
};

static void run_prog(int fd, int ifindex, const __u8 *pkt, size_t len, __u32 gso_size,
		     struct run_result *res)
{
	struct __sk_buff ctx = { .ifindex = ifindex, .gso_size = gso_size };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = pkt,
		.data_size_in = len,
		.data_out = res->out.b,
		.data_size_out = sizeof(res->out.b),
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

/* Counters before and after against what the row says should have moved, and nothing else. */
static void check_counters(struct __test_metadata *_metadata, const struct expect *want,
			   size_t len, const struct counters *b, const struct counters *a)
{
	int s, slot = want->reason ? PODLANE_DROP_INDEX(want->reason) : -1;
	enum role r;

	for (r = R_A; r < R_MAX; r++) {
		__u64 tx = want->tx == r, rx = want->rx == r;

		EXPECT_EQ(tx, a->ep[r].tx_packets - b->ep[r].tx_packets)
			TH_LOG("%s: tx packets", role_dev[r]);
		EXPECT_EQ(tx * len, a->ep[r].tx_bytes - b->ep[r].tx_bytes)
			TH_LOG("%s: tx bytes", role_dev[r]);
		EXPECT_EQ(rx, a->ep[r].rx_packets - b->ep[r].rx_packets)
			TH_LOG("%s: rx packets", role_dev[r]);
		EXPECT_EQ(rx * len, a->ep[r].rx_bytes - b->ep[r].rx_bytes)
			TH_LOG("%s: rx bytes", role_dev[r]);
		for (s = 0; s < PODLANE_DROP_SLOTS; s++) {
			__u64 charged = s == slot && want->charged == r;

			EXPECT_EQ(charged, a->ep[r].drops[s] - b->ep[r].drops[s])
				TH_LOG("%s: drops[%s]", role_dev[r],
				       tl_reason_name(-PODLANE_DROP_FIRST - s));
		}
	}
	for (s = 0; s < PODLANE_DROP_SLOTS; s++) {
		__u64 dropped = s == slot;

		EXPECT_EQ(dropped, a->node[s].packets - b->node[s].packets)
			TH_LOG("node drops[%s] packets", tl_reason_name(-PODLANE_DROP_FIRST - s));
		EXPECT_EQ(dropped * len, a->node[s].bytes - b->node[s].bytes)
			TH_LOG("node drops[%s] bytes", tl_reason_name(-PODLANE_DROP_FIRST - s));
	}
}

static const typeof(endpoints[0]) *endpoint_of(enum role r)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(endpoints); i++)
		if (endpoints[i].role == r)
			return &endpoints[i];
	return NULL;
}

/* What goes on must be exact: a redirect differs from the input in MACs, TTL and checksum. */
static void check_output(struct __test_metadata *_metadata, const struct expect *want,
			 const __u8 *in, size_t len, const struct run_result *res)
{
	const struct iphdr *ip_in = (const void *)(in + ETH_HLEN);
	const struct iphdr *ip_out = (const void *)(res->out.b + ETH_HLEN);
	TL_FRAME(expect, PKT_MAX);
	size_t i;

	ASSERT_EQ(len, res->out_len) TH_LOG("output length differs from the input's");
	memcpy(expect.b, in, len);
	if (want->redirect_to) {
		struct iphdr *ip_exp = (void *)(expect.b + ETH_HLEN);
		const typeof(endpoints[0]) *ep = endpoint_of(want->redirect_to);

		ASSERT_NE(NULL, ep);
		memcpy(expect.b, ep->pod_mac, ETH_ALEN);
		memcpy(expect.b + ETH_ALEN, ep->host_mac, ETH_ALEN);
		ip_exp->ttl = ip_in->ttl - 1;
		ip_exp->check = ip_out->check;	/* judged on its own */
		EXPECT_TRUE(tl_ip_csum_ok(ip_out, ip_out->ihl * 4))
			TH_LOG("ipv4 checksum of the output is invalid: 0x%04x",
			       ntohs(ip_out->check));
	}
	for (i = 0; i < len && expect.b[i] == res->out.b[i]; i++)
		;
	EXPECT_EQ(len, i) TH_LOG("output differs at byte %zu: got 0x%02x want 0x%02x", i,
				 res->out.b[i], expect.b[i]);
}

/* Exactly one event for a drop, with what the packet said; none otherwise. */
static void check_events(struct __test_metadata *_metadata, enum prog p, enum role dev,
			 const struct pkt_spec *pkt, const struct expect *want, const __u8 *buf,
			 size_t len)
{
	const struct iphdr *ip = (const void *)(buf + ETH_HLEN);
	const struct drop_event *ev = &env.events.ev[0];
	__u16 eth_proto = pkt->eth_proto ? pkt->eth_proto : ETH_P_IP;

	ASSERT_EQ(want->reason ? 1 : 0, tl_events_poll(&env.events)) TH_LOG("drop events");
	if (!want->reason)
		return;
	EXPECT_EQ(PODLANE_EVENT_DROP, ev->type);
	EXPECT_EQ(want->reason, ev->reason) TH_LOG("event reason %s", tl_reason_name(ev->reason));
	EXPECT_EQ(env.ifindex[dev], ev->ifindex);
	EXPECT_EQ(len, ev->len);
	EXPECT_EQ(hook_of_prog[p], ev->hook);
	EXPECT_EQ(eth_proto, ev->eth_proto);
	EXPECT_NE(0, ev->ts_ns);
	if (want->no_addrs) {
		EXPECT_EQ(0, ev->saddr);
		EXPECT_EQ(0, ev->daddr);
		EXPECT_EQ(0, ev->ip_proto);
	} else {
		EXPECT_EQ(ip->saddr, ev->saddr);
		EXPECT_EQ(ip->daddr, ev->daddr);
		EXPECT_EQ(ip->protocol, ev->ip_proto);
	}
}

/* One packet through one program: verdict, counters, event, and what goes on. */
static void run_case(struct __test_metadata *_metadata, enum prog p, enum role dev,
		     const struct pkt_spec *pkt, const struct expect *want)
{
	struct counters before, after;
	struct run_result res;
	TL_FRAME(buf, PKT_MAX);
	size_t len;

	len = build_packet(pkt, buf.b, sizeof(buf.b));
	tl_events_drain(&env.events);
	ASSERT_EQ(0, read_counters(&before));
	run_prog(prog_fd(p, false), env.ifindex[dev], buf.b, len, pkt->gso_size, &res);
	if (res.err == -EINVAL && want->short_ipv4)
		SKIP(return, "kernel's BPF_PROG_TEST_RUN rejects EtherType IPv4 frames shorter "
		     "than ETH_HLEN + 20 (EINVAL); covered by the live test");
	ASSERT_EQ(0, res.err) TH_LOG("failed to run program '%s': %s", prog_hook_name[p],
				     strerror(-res.err));
	EXPECT_EQ(want->retval, (int)res.retval);
	ASSERT_EQ(0, read_counters(&after));
	check_counters(_metadata, want, len, &before, &after);
	check_events(_metadata, p, dev, pkt, want, buf.b, len);
	/* A dropped packet's bytes do not matter; anything that goes on must be exact. */
	if (want->retval != TC_ACT_SHOT)
		check_output(_metadata, want, buf.b, len, &res);
}

FIXTURE_SETUP(from_pod) {}
FIXTURE_TEARDOWN(from_pod) {}
FIXTURE_SETUP(to_pod) {}
FIXTURE_TEARDOWN(to_pod) {}
FIXTURE_SETUP(from_uplink) {}
FIXTURE_TEARDOWN(from_uplink) {}

TEST_F(from_pod, packet)
{
	run_case(_metadata, P_FROM_POD, variant->dev, &variant->pkt, &variant->want);
}

TEST_F(to_pod, packet)
{
	run_case(_metadata, P_TO_POD, variant->dev, &variant->pkt, &variant->want);
}

TEST_F(from_uplink, packet)
{
	run_case(_metadata, P_FROM_UPLINK, variant->dev, &variant->pkt, &variant->want);
}

/* Tests outside the table ----------------------------------------------------------------- */

/*
 * A pod never sends less than an Ethernet header, but the program must still cope. test_run
 * refuses such input on the kernels we know; say so instead of pretending.
 */
static void runt_frame(struct __test_metadata *_metadata, enum prog p)
{
	static const __u8 runt[10] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
	int slot = PODLANE_DROP_INDEX(PODLANE_DROP_ETH_TRUNCATED);
	int dev = p == P_FROM_UPLINK ? R_UPLINK : R_A;
	struct counters before, after;
	struct run_result res;

	tl_events_drain(&env.events);
	ASSERT_EQ(0, read_counters(&before));
	run_prog(prog_fd(p, false), env.ifindex[dev], runt, sizeof(runt), 0, &res);
	if (res.err == -EINVAL)
		SKIP(return, "kernel rejects BPF_PROG_TEST_RUN input shorter than ETH_HLEN "
		     "(EINVAL), a runt frame cannot be expressed");
	ASSERT_EQ(0, read_counters(&after));
	ASSERT_EQ(0, res.err);
	EXPECT_EQ(TC_ACT_SHOT, res.retval);
	EXPECT_EQ(1, after.node[slot].packets - before.node[slot].packets);
	ASSERT_EQ(1, tl_events_poll(&env.events));
	EXPECT_EQ(PODLANE_DROP_ETH_TRUNCATED, env.events.ev[0].reason);
}

TEST(from_pod_runt_frame_is_eth_truncated)
{
	runt_frame(_metadata, P_FROM_POD);
}

TEST(from_uplink_runt_frame_is_eth_truncated)
{
	runt_frame(_metadata, P_FROM_UPLINK);
}

/* The incremental checksum update must agree with a full recomputation for any header. */
TEST(from_pod_ttl_checksum_rewrite_valid_for_2000_random_headers)
{
	int fd = prog_fd(P_FROM_POD, false), i, bad = 0;
	struct run_result res;
	TL_FRAME(pkt, PKT_MAX);

	srandom(4242);
	for (i = 0; i < 2000 && bad < 5; i++) {
		struct pkt_spec s = { UDP_TO(IP_A, IP_B), .ttl = 2 + random() % 254,
				      .ihl = 5 + random() % 3, .payload = 8 + random() % 64 };
		struct iphdr *ip = (void *)(pkt.b + ETH_HLEN);
		const struct iphdr *out = (const void *)(res.out.b + ETH_HLEN);
		size_t len = build_packet(&s, pkt.b, sizeof(pkt.b));

		/* Vary the words around TTL so the checksum takes every kind of carry. */
		ip->id = random();
		ip->tos = random();
		ip->frag_off = htons(random() % 2 ? 0x4000 : 0);
		ip->check = 0;
		ip->check = ip_checksum(ip, ip->ihl * 4);
		run_prog(fd, env.ifindex[R_A], pkt.b, len, 0, &res);
		if (res.err || res.retval != TC_ACT_REDIRECT || out->ttl != ip->ttl - 1 ||
		    !tl_ip_csum_ok(out, out->ihl * 4)) {
			TH_LOG("header %d: err %d retval %u ttl %u->%u check 0x%04x->0x%04x", i,
			       res.err, res.retval, ip->ttl, out->ttl, ntohs(ip->check),
			       ntohs(out->check));
			bad++;
		}
	}
	tl_events_drain(&env.events);
	EXPECT_EQ(0, bad);
}

/* With the rodata knob off, drops are still counted but nothing reaches the ring buffer. */
TEST(drop_events_off_spoofed_packet_counted_no_event)
{
	const struct pkt_spec pkt = { UDP_TO(IP_C, IP_B) };
	const struct expect want = { TC_ACT_SHOT, PODLANE_DROP_SOURCE_SPOOFED, .charged = R_A };
	struct counters before, after;
	struct run_result res;
	TL_FRAME(buf, PKT_MAX);
	size_t len = build_packet(&pkt, buf.b, sizeof(buf.b));

	tl_events_drain(&env.events);
	ASSERT_EQ(0, read_counters(&before));
	run_prog(prog_fd(P_FROM_POD, true), env.ifindex[R_A], buf.b, len, 0, &res);
	ASSERT_EQ(0, read_counters(&after));
	ASSERT_EQ(0, res.err);
	EXPECT_EQ(TC_ACT_SHOT, res.retval);
	check_counters(_metadata, &want, len, &before, &after);
	EXPECT_EQ(0, tl_events_poll(&env.events)) TH_LOG("events with drop_events off");
}

int main(int argc, char **argv)
{
	int fd, err;

	if (geteuid() != 0)
		ksft_exit_skip("needs root for BPF_PROG_TEST_RUN and a network namespace\n");
	/* Can this process use bpf() at all? */
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (fd < 0)
		ksft_exit_skip("bpf() unavailable: %s\n", strerror(errno));
	close(fd);
	if (tl_sh_may_fail("command -v ip"))
		ksft_exit_skip("needs ip (iproute2)\n");

	err = make_devices();
	err = err ?: load();
	if (err)
		ksft_exit_fail_msg("set up namespace, load and fill maps: %s\n", strerror(-err));
	return test_harness_run(argc, argv);
}
