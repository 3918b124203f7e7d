// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_policy_dp.c - network policy in the datapath (bpf/lib/policy.h: tc_from_pod, tc_to_pod,
 * tc_from_uplink with its service path, and xdp_from_uplink's fast path) through
 * BPF_PROG_TEST_RUN, written with kselftest_harness.h. The policy maps are filled by hand, as
 * podlaned's policy module would fill them: identities in podlane_ipcache, rule sets in
 * podlane_ep_policy, rules in podlane_policy, the revision in podlane_pol_rev.
 *
 * main() moves the process into a private network namespace with three pod veths (A, B, C,
 * all ready) and an uplink, and loads tc_endpoint, tc_uplink and xdp_uplink once with private
 * maps (never pinned). Each test starts from the same state: no endpoint isolated, no rule, an
 * empty policy conntrack, revision 1, the ring buffer drained. It then isolates what it needs
 * and sends packets; verdicts, drop reasons, flow records, conntrack entries and the policy
 * counters are checked after each.
 *
 * Identities: A 300, B 301, C 302, a pod on another node 400; the node's own address is
 * HOST; 198.51.100.0/24 (the uplink's clients) is an ipBlock prefix with CIDR id CIDR_NET.
 *
 * With --bench it measures instead and prints a markdown table: ns per packet (median of
 * single-packet test runs, variants interleaved) of tc_from_pod for pod-to-pod traffic with
 * no policy, to a pod isolated for ingress on a known connection, for a new connection judged
 * against a rule set of 1, 100 and 10,000 entries, and denied; beside an empty tc program
 * (the floor) and, with --baseline, the same pod-to-pod packet through another build's
 * tc_endpoint.bpf.o (an older commit's: what no policy costs pods that have none).
 *   test_policy_dp --bench [-n SAMPLES] [--baseline OBJECT]
 * Not covered here: tc_from_tunnel (BPF_PROG_TEST_RUN cannot give a packet tunnel metadata;
 * it calls the same policy_to_endpoint() before delivering as tc_from_uplink does).
 */
#include <getopt.h>
#include <sched.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>

#include "kselftest_harness.h"
#include "testlib.h"
#include "tc_endpoint.skel.h"
#include "tc_uplink.skel.h"
#include "xdp_uplink.skel.h"

#define IP4		TL_IP4
#define PKT_MAX		256
#define MAP_SIZE	256
#define LRU_SIZE	4096

#define IP_A		IP4(10, 244, 0, 10)
#define IP_B		IP4(10, 244, 0, 11)
#define IP_C		IP4(10, 244, 0, 12)
#define IP_REMOTE_POD	IP4(10, 244, 1, 7)
#define NODE_IP		IP4(192, 168, 50, 1)	/* this node: HOST */
#define CLIENT		IP4(198, 51, 100, 7)	/* in the ipBlock 198.51.100.0/24 */
#define FAR_CLIENT	IP4(203, 0, 113, 9)	/* in no ipBlock: WORLD */

#define ID_A		300
#define ID_B		301
#define ID_C		302
#define ID_REMOTE	400
#define CIDR_NET	(PODLANE_ID_CIDR_BASE + 1)

#define POLICY		7	/* the isolating policy of every test */
#define OTHER_POLICY	9
#define SET_B_IN	10
#define SET_A_OUT	11
#define SET_A_IN	12
#define SET_B_OUT	13

#define NP_B		30080	/* NodePort TCP -> B:8080 (tc path) */
#define NP_A		30081	/* NodePort TCP -> A:8080 (A takes the XDP fast path) */

enum role { R_NONE, R_A, R_B, R_C, R_UP, R_MAX };

static const char *const role_dev[R_MAX] = {
	[R_A] = "plp-a", [R_B] = "plp-b", [R_C] = "plp-c", [R_UP] = "plp-up",
};

static const struct {
	enum role role;
	__u32 ip, id, flags;
	__u8 pod_mac[ETH_ALEN];
	__u8 host_mac[ETH_ALEN];
} endpoints[] = {
	{ R_A, IP_A, ID_A, PODLANE_EP_F_READY | PODLANE_EP_F_LB_BACKEND | PODLANE_EP_F_XDP_RX,
	  { 0x0a, 0x58, 0, 0, 0, 0x0a }, { 0xee, 0, 0, 0, 0, 0x0a } },
	{ R_B, IP_B, ID_B, PODLANE_EP_F_READY | PODLANE_EP_F_LB_BACKEND,
	  { 0x0a, 0x58, 0, 0, 0, 0x0b }, { 0xee, 0, 0, 0, 0, 0x0b } },
	{ R_C, IP_C, ID_C, PODLANE_EP_F_READY,
	  { 0x0a, 0x58, 0, 0, 0, 0x0c }, { 0xee, 0, 0, 0, 0, 0x0c } },
};

static const __u8 uplink_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0x0f, 0x01 };
static const __u8 router_mac[ETH_ALEN] = { 0x02, 0, 0x5e, 0, 0, 1 };

struct env {
	struct tc_endpoint *ep;
	struct tc_uplink *up;
	struct xdp_uplink *xdp;
	struct ring_buffer *rb;
	int ifindex[R_MAX];
	int from_pod, to_pod, from_uplink, xdp_prog;
	int eps_fd, stat_fd, drops_fd, ct_fd, svc_fd, be_fd;
	int ipcache_fd, ep_pol_fd, policy_fd, pol_ct_fd, rev_fd, polstat_fd, events_fd;
};

static struct env node;

/* Records from podlane_events, by type. */
static struct {
	struct flow_event flow[64];
	int nflow;
	struct drop_event drop[64];
	int ndrop;
} seen;

static int on_event(void *ctx, void *data, size_t size)
{
	__u32 type;

	if (size < sizeof(type))
		return 0;
	memcpy(&type, data, sizeof(type));
	if (type == PODLANE_EVENT_FLOW && size >= sizeof(struct flow_event) && seen.nflow < 64)
		memcpy(&seen.flow[seen.nflow++], data, sizeof(struct flow_event));
	else if (type == PODLANE_EVENT_DROP && size >= sizeof(struct drop_event) &&
		 seen.ndrop < 64)
		memcpy(&seen.drop[seen.ndrop++], data, sizeof(struct drop_event));
	return 0;
}

static void events_reset(void)
{
	ring_buffer__consume(node.rb);
	memset(&seen, 0, sizeof(seen));
}

static void events_poll(void)
{
	ring_buffer__consume(node.rb);
}

/* Packets ------------------------------------------------------------------------------- */

enum { F_SYN = 0x02, F_ACK = 0x10, F_SYNACK = 0x12, F_PSHACK = 0x18 };

struct pkt {
	__u32 saddr, daddr;	/* host order */
	__u8 proto;		/* 0: TCP */
	__u16 sport, dport;
	__u8 tcp_flags;		/* 0: SYN */
	__u8 icmp_type;		/* ICMP: type; the id is sport */
	__u16 frag_off;		/* host order, flags included */
	__u8 doff;		/* TCP data offset in words; 0: 5 */
	__u8 sctp_chunk;	/* SCTP: the first chunk's type */
	const struct pkt *quoted;	/* ICMP error: the datagram it quotes */
};

static __u32 pseudo_sum(const struct iphdr *ip, __u16 l4_len)
{
	__u32 sum = 0;

	sum = tl_csum_add(sum, &ip->saddr, 4);
	sum = tl_csum_add(sum, &ip->daddr, 4);
	return sum + ip->protocol + l4_len;
}

/* A UDP checksum as sent: 0 means none, so a computed 0 goes out as 0xffff. */
static __u16 udp_csum(const struct iphdr *ip, const __u8 *l4, size_t len)
{
	__u16 c = ~tl_csum_fold(tl_csum_add(pseudo_sum(ip, len), l4, len));

	return c ? c : 0xffff;
}

/*
 * IPv4 header and transport header of p at at (no Ethernet), over zeroed bytes; the datagram's
 * length. TCP and UDP carry 16 bytes of payload.
 */
static size_t build_ip(const struct pkt *p, __u8 *at)
{
	struct iphdr *ip = (void *)at;
	__u8 *l4 = at + sizeof(*ip);
	__u8 proto = p->proto ? p->proto : IPPROTO_TCP;
	size_t l4_len, i;

	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = (void *)l4;

		th->source = htons(p->sport);
		th->dest = htons(p->dport);
		th->seq = htonl(0x11223344);
		th->doff = p->doff ? p->doff : 5;
		l4[13] = p->tcp_flags ? p->tcp_flags : F_SYN;
		th->window = htons(64240);
		l4_len = sizeof(*th) + 16;
		for (i = sizeof(*th); i < l4_len; i++)
			l4[i] = 0xa0 + i;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = (void *)l4;

		uh->source = htons(p->sport);
		uh->dest = htons(p->dport);
		uh->len = htons(sizeof(*uh) + 16);
		l4_len = sizeof(*uh) + 16;
		for (i = sizeof(*uh); i < l4_len; i++)
			l4[i] = 0xa0 + i;
	} else if (proto == IPPROTO_ICMP) {
		l4[0] = p->icmp_type;
		if (p->quoted) {
			/* The quoted datagram: its IP header and 8 bytes of what follows. */
			build_ip(p->quoted, l4 + 8);
			l4_len = 8 + sizeof(struct iphdr) + 8;
		} else {
			l4[4] = p->sport >> 8;
			l4[5] = p->sport;
			l4_len = 8 + 16;
		}
	} else {
		/* SCTP (or anything else): ports, a verification tag, a checksum, a chunk. */
		l4[0] = p->sport >> 8;
		l4[1] = p->sport;
		l4[2] = p->dport >> 8;
		l4[3] = p->dport;
		l4[12] = p->sctp_chunk;
		l4[15] = 16;
		l4_len = 12 + 16;
	}
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(sizeof(*ip) + l4_len);
	ip->id = htons(0x4242);
	ip->frag_off = htons(p->frag_off);
	ip->ttl = 64;
	ip->protocol = proto;
	ip->saddr = htonl(p->saddr);
	ip->daddr = htonl(p->daddr);
	ip->check = htons(~tl_csum_fold(tl_csum_add(0, ip, sizeof(*ip))));
	if (proto == IPPROTO_TCP)
		((struct tcphdr *)l4)->check =
			htons(~tl_csum_fold(tl_csum_add(pseudo_sum(ip, l4_len), l4, l4_len)));
	else if (proto == IPPROTO_UDP)
		((struct udphdr *)l4)->check = htons(udp_csum(ip, l4, l4_len));
	else if (proto == IPPROTO_ICMP)
		*(__u16 *)(l4 + 2) = htons(~tl_csum_fold(tl_csum_add(0, l4, l4_len)));
	return sizeof(*ip) + l4_len;
}

static size_t build(const struct pkt *p, __u8 *buf, const __u8 *dmac, const __u8 *smac)
{
	struct ethhdr *eth = (void *)buf;

	memset(buf, 0, PKT_MAX);
	memcpy(eth->h_dest, dmac, ETH_ALEN);
	memcpy(eth->h_source, smac, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	return ETH_HLEN + build_ip(p, buf + ETH_HLEN);
}

enum prog { P_FROM_POD, P_TO_POD, P_FROM_UPLINK, P_XDP };

/* Run p through a program on dev's device; the verdict, or -errno when test_run failed. */
static int run_n(enum prog prog, enum role dev, const struct pkt *p, __u32 repeat)
{
	TL_FRAME(in, PKT_MAX);
	TL_FRAME(out, PKT_MAX);
	struct __sk_buff skb = { .ifindex = node.ifindex[dev] };
	struct xdp_md xdp = { .ingress_ifindex = node.ifindex[dev] };
	size_t len = build(p, in.b, prog == P_FROM_UPLINK || prog == P_XDP ? uplink_mac :
				    endpoints[0].host_mac, router_mac);
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in.b,
		.data_size_in = len,
		.data_out = out.b,
		.data_size_out = sizeof(out.b),
		.repeat = repeat,
	);
	int fd;

	switch (prog) {
	case P_FROM_POD:
		fd = node.from_pod;
		break;
	case P_TO_POD:
		fd = node.to_pod;
		break;
	case P_FROM_UPLINK:
		fd = node.from_uplink;
		break;
	default:
		fd = node.xdp_prog;
		break;
	}
	if (prog == P_XDP) {
		xdp.data_end = len;
		opts.ctx_in = &xdp;
		opts.ctx_size_in = sizeof(xdp);
	} else {
		opts.ctx_in = &skb;
		opts.ctx_size_in = sizeof(skb);
	}
	if (bpf_prog_test_run_opts(fd, &opts))
		return -errno;
	events_poll();
	return (int)opts.retval;
}

static int run(enum prog prog, enum role dev, const struct pkt *p)
{
	return run_n(prog, dev, p, 1);
}

/* What a pod on dev sends, what the stack delivers to dev, what the uplink receives. */
#define FROM_POD(dev, ...)	run(P_FROM_POD, dev, &(struct pkt){ __VA_ARGS__ })
#define TO_POD(dev, ...)	run(P_TO_POD, dev, &(struct pkt){ __VA_ARGS__ })
#define FROM_UPLINK(...)	run(P_FROM_UPLINK, R_UP, &(struct pkt){ __VA_ARGS__ })
#define XDP_UPLINK(...)		run(P_XDP, R_UP, &(struct pkt){ __VA_ARGS__ })

/* Maps -------------------------------------------------------------------------------------- */

static __u32 ifindex_of(enum role r)
{
	return node.ifindex[r];
}

/* Isolate r: flags PODLANE_POL_F_*, the rule set and isolating policy of each direction. */
static int isolate(enum role r, __u32 flags, __u32 in_set, __u32 out_set)
{
	struct ep_policy v = {
		.ingress_set = in_set, .egress_set = out_set,
		.ingress_policy = POLICY, .egress_policy = POLICY,
		.flags = flags,
	};
	__u32 k = ifindex_of(r);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(endpoints); i++)
		if (endpoints[i].role == r)
			v.id = endpoints[i].id;
	return bpf_map_update_elem(node.ep_pol_fd, &k, &v, 0) ? -errno : 0;
}

static struct policy_key rule_key(__u32 set, __u32 peer, __u8 proto, __u16 port, int port_bits)
{
	struct policy_key k;

	memset(&k, 0, sizeof(k));
	k.prefixlen = !proto ? 64 : port_bits < 0 ? 72 : 72 + port_bits;
	k.set = htonl(set);
	k.peer = htonl(peer);
	k.proto = proto;
	k.port = htons(port);
	return k;
}

/*
 * A rule: set allows peer with proto (0: any protocol and port) and the port's first
 * port_bits bits (16: that port; -1: any port of proto).
 */
static int allow(__u32 set, __u32 peer, __u8 proto, __u16 port, int port_bits, __u16 rule)
{
	struct policy_key k = rule_key(set, peer, proto, port, port_bits);
	struct policy_entry v = { .policy = POLICY, .rule = rule };

	return bpf_map_update_elem(node.policy_fd, &k, &v, 0) ? -errno : 0;
}

static int disallow(__u32 set, __u32 peer, __u8 proto, __u16 port, int port_bits)
{
	struct policy_key k = rule_key(set, peer, proto, port, port_bits);

	return bpf_map_delete_elem(node.policy_fd, &k) ? -errno : 0;
}

static int rev_set(__u32 rev)
{
	__u32 zero = 0;

	return bpf_map_update_elem(node.rev_fd, &zero, &rev, 0) ? -errno : 0;
}

static __u64 polstat(enum pol_stat slot)
{
	return tl_percpu_sum(node.polstat_fd, slot);
}

static __u64 node_drops(int reason)
{
	return tl_node_drops(node.drops_fd, reason);
}

/* The policy conntrack entry of an original tuple (host order); -ENOENT when none. */
static int pol_ct_get(__u32 saddr, __u32 daddr, __u16 sport, __u16 dport, __u8 proto,
		      struct pol_ct_entry *out)
{
	struct pol_ct_key k = {
		.saddr = htonl(saddr), .daddr = htonl(daddr),
		.sport = htons(sport), .dport = htons(dport), .proto = proto,
	};

	return bpf_map_lookup_elem(node.pol_ct_fd, &k, out) ? -errno : 0;
}

static int map_count(int fd)
{
	__u8 key[64], next[64];
	int n = 0;

	if (bpf_map_get_next_key(fd, NULL, next))
		return 0;
	do {
		memcpy(key, next, sizeof(key));
		n++;
	} while (!bpf_map_get_next_key(fd, key, next));
	return n;
}

static int map_clear(int fd)
{
	__u8 next[64];

	while (!bpf_map_get_next_key(fd, NULL, next))
		if (bpf_map_delete_elem(fd, next))
			return -errno;
	return 0;
}

/* Sum of every policy counter but EVENTS_LOST: "nothing happened" in one number. */
static __u64 polstat_total(void)
{
	__u64 n = 0;
	int slot;

	for (slot = 0; slot < PODLANE_POL_STAT_EVENTS_LOST; slot++)
		n += polstat(slot);
	return n;
}

/* Setup ------------------------------------------------------------------------------------- */

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
		  "ip neigh replace 198.51.100.7 lladdr 02:00:00:00:c1:1e dev %s nud permanent",
		  role_dev[R_UP], role_dev[R_UP], role_dev[R_UP]))
		return -EIO;
	return 0;
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
	bpf_object__for_each_map(map, node.ep->obj)
		if (bpf_map__type(map) == BPF_MAP_TYPE_LRU_HASH)
			bpf_map__set_max_entries(map, LRU_SIZE);
	err = tc_endpoint__load(node.ep);
	err = err ?: tl_maps_share(node.up->obj, node.ep->obj);
	err = err ?: tc_uplink__load(node.up);
	/* XDP on the same maps, fast path on, as podlaned sets it for a NIC uplink. */
	bpf_object__for_each_map(map, node.xdp->obj) {
		struct bpf_map *theirs = bpf_object__find_map_by_name(node.ep->obj,
								       bpf_map__name(map));

		bpf_map__set_pin_path(map, NULL);
		if (theirs && !strncmp(bpf_map__name(map), "podlane_", 8))
			err = err ?: bpf_map__reuse_fd(map, bpf_map__fd(theirs));
		else if (bpf_map__type(map) == BPF_MAP_TYPE_LPM_TRIE)
			bpf_map__set_max_entries(map, 16);
	}
	node.xdp->rodata->nodeport_fastpath = true;
	err = err ?: xdp_uplink__load(node.xdp);
	if (err) {
		tl_log("failed to load the programs: %s", strerror(-err));
		return err;
	}
	node.from_pod = bpf_program__fd(node.ep->progs.tc_from_pod);
	node.to_pod = bpf_program__fd(node.ep->progs.tc_to_pod);
	node.from_uplink = bpf_program__fd(node.up->progs.tc_from_uplink);
	node.xdp_prog = bpf_program__fd(node.xdp->progs.xdp_from_uplink);
	node.eps_fd = bpf_map__fd(node.ep->maps.podlane_eps);
	node.stat_fd = bpf_map__fd(node.ep->maps.podlane_ep_stat);
	node.drops_fd = bpf_map__fd(node.ep->maps.podlane_drops);
	node.ct_fd = bpf_map__fd(node.ep->maps.podlane_ct);
	node.svc_fd = bpf_map__fd(node.ep->maps.podlane_svc);
	node.be_fd = bpf_map__fd(node.ep->maps.podlane_backend);
	node.ipcache_fd = bpf_map__fd(node.ep->maps.podlane_ipcache);
	node.ep_pol_fd = bpf_map__fd(node.ep->maps.podlane_ep_policy);
	node.policy_fd = bpf_map__fd(node.ep->maps.podlane_policy);
	node.pol_ct_fd = bpf_map__fd(node.ep->maps.podlane_pol_ct);
	node.rev_fd = bpf_map__fd(node.ep->maps.podlane_pol_rev);
	node.polstat_fd = bpf_map__fd(node.ep->maps.podlane_pol_stat);
	node.events_fd = bpf_map__fd(node.ep->maps.podlane_events);
	node.rb = ring_buffer__new(node.events_fd, on_event, NULL, NULL);
	return node.rb ? 0 : -errno;
}

static int ipcache_put(__u32 addr, __u32 prefixlen, __u32 id, __u32 cidr_id)
{
	struct ipcache_key k = { .prefixlen = prefixlen, .addr = htonl(addr) };
	struct ipcache_value v = { .id = id, .cidr_id = cidr_id };

	return bpf_map_update_elem(node.ipcache_fd, &k, &v, 0) ? -errno : 0;
}

static int svc_put(__u32 id, __u16 port, __u32 backend)
{
	struct lb_service_key k = { .addr = htonl(NODE_IP), .port = htons(port),
				    .proto = IPPROTO_TCP };
	struct lb_service v = { .id = id, .count = 1, .local_count = 1,
				.flags = PODLANE_SVC_F_NODEPORT, .affinity_timeout = 10800 };
	struct lb_backend_key bk = { .svc_id = id, .slot = 0 };
	struct lb_backend b = {
		.addr = htonl(backend), .port = htons(8080), .id = id * 100,
		.flags = PODLANE_BACKEND_F_LOCAL, .weight = 1,
		.keep = PODLANE_ALIAS_KEEP_ALL, .local_keep = PODLANE_ALIAS_KEEP_ALL,
	};

	if (bpf_map_update_elem(node.be_fd, &bk, &b, 0) ||
	    bpf_map_update_elem(node.svc_fd, &k, &v, 0))
		return -errno;
	return 0;
}

static int maps_fill(void)
{
	size_t i;
	int err = 0;

	for (i = 0; i < ARRAY_SIZE(endpoints) && !err; i++) {
		err = tl_endpoint_add(node.eps_fd, node.stat_fd, htonl(endpoints[i].ip),
				      endpoints[i].pod_mac, endpoints[i].host_mac,
				      node.ifindex[endpoints[i].role], endpoints[i].flags);
		err = err ?: ipcache_put(endpoints[i].ip, 32, endpoints[i].id, 0);
	}
	err = err ?: ipcache_put(IP_REMOTE_POD, 32, ID_REMOTE, 0);
	err = err ?: ipcache_put(NODE_IP, 32, PODLANE_ID_HOST, 0);
	err = err ?: ipcache_put(IP4(198, 51, 100, 0), 24, PODLANE_ID_WORLD, CIDR_NET);
	err = err ?: svc_put(1, NP_B, IP_B);
	err = err ?: svc_put(2, NP_A, IP_A);
	return err;
}

/* The state every test starts from. */
static int reset(void)
{
	int err;

	err = map_clear(node.ep_pol_fd);
	err = err ?: map_clear(node.policy_fd);
	err = err ?: map_clear(node.pol_ct_fd);
	err = err ?: map_clear(node.ct_fd);
	err = err ?: rev_set(1);
	events_reset();
	return err;
}

FIXTURE(pol) {};

FIXTURE_SETUP(pol)
{
	ASSERT_EQ(0, reset());
}

FIXTURE_TEARDOWN(pol)
{
}

/* The record of the n-th flow event, checked field by field. */
#define EXPECT_FLOW(ev, _verdict, _reason, _dir, _hook, _ep, _policy, _rule, _src, _dst) do {	\
	EXPECT_EQ(PODLANE_EVENT_FLOW, (ev)->type);						\
	EXPECT_EQ(_verdict, (ev)->verdict);							\
	EXPECT_EQ(_reason, (ev)->reason);							\
	EXPECT_EQ(_dir, (ev)->dir);								\
	EXPECT_EQ(_hook, (ev)->hook);								\
	EXPECT_EQ(ifindex_of(_ep), (ev)->ifindex);						\
	EXPECT_EQ(_policy, (ev)->policy);							\
	EXPECT_EQ(_rule, (ev)->rule);								\
	EXPECT_EQ(_src, (ev)->src_id);								\
	EXPECT_EQ(_dst, (ev)->dst_id);								\
} while (0)

/* Not isolated -------------------------------------------------------------------------- */

TEST_F(pol, pods_no_policy_isolates_are_untouched)
{
	struct ep_policy none = { .id = ID_B };
	__u64 before = polstat_total();
	__u32 k = ifindex_of(R_B);
	int pass;

	for (pass = 0; pass < 2; pass++) {
		/* Second pass: B has an entry that isolates nothing (flags 0). */
		if (pass)
			ASSERT_EQ(0, bpf_map_update_elem(node.ep_pol_fd, &k, &none, 0));
		EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_UDP, 40000, 53));
		EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN));
		/* Mid-flow packets of connections older than any policy keep flowing. */
		EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40001, 80, F_ACK));
		EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_B, IP_B, IP_A, 0, 80, 40001, F_SYNACK));
		EXPECT_EQ(TC_ACT_OK, TO_POD(R_B, FAR_CLIENT, IP_B, 0, 40002, 80, F_ACK));
		EXPECT_EQ(TC_ACT_REDIRECT, FROM_UPLINK(CLIENT, IP_B, 0, 40003, 80, F_ACK));
	}
	EXPECT_EQ(0, map_count(node.pol_ct_fd)) TH_LOG("no entry for pods without policy");
	EXPECT_EQ(0, seen.nflow);
	EXPECT_EQ(0, seen.ndrop);
	EXPECT_EQ(before, polstat_total()) TH_LOG("the policy path was not entered");
}

TEST_F(pol, a_midflow_packet_into_a_pod_isolated_for_egress_only_passes)
{
	struct pol_ct_entry ct;

	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_EGRESS, 0, SET_B_OUT));
	/* A's egress and B's ingress decide A -> B: neither is isolated. */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_ACK));
	EXPECT_EQ(-ENOENT, pol_ct_get(IP_A, IP_B, 40000, 80, IPPROTO_TCP, &ct));
	/* A new connection to B is remembered, so that B may answer it... */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40001, 80, F_SYN));
	ASSERT_EQ(0, pol_ct_get(IP_A, IP_B, 40001, 80, IPPROTO_TCP, &ct));
	EXPECT_EQ(0, ct.egress_policy);
	EXPECT_EQ(0, ct.ingress_policy);
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_B, IP_B, IP_A, 0, 80, 40001, F_SYNACK));
	/* ...but B opens nothing itself, and answers nothing it was not asked. */
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_B, IP_B, IP_A, 0, 41000, 80, F_SYN));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_B, IP_B, IP_A, 0, 80, 40000, F_ACK));
	EXPECT_EQ(2, seen.nflow) TH_LOG("records only for the two drops");
}

/* Denied ---------------------------------------------------------------------------------- */

TEST_F(pol, ingress_isolated_without_a_rule_drops_naming_the_isolating_policy)
{
	__u64 denied = polstat(PODLANE_POL_STAT_DENIED);
	__u64 drops = node_drops(PODLANE_DROP_POLICY_DENIED);
	struct pol_ct_entry ct;

	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN));
	EXPECT_EQ(denied + 1, polstat(PODLANE_POL_STAT_DENIED));
	EXPECT_EQ(drops + 1, node_drops(PODLANE_DROP_POLICY_DENIED));
	EXPECT_EQ(-ENOENT, pol_ct_get(IP_A, IP_B, 40000, 80, IPPROTO_TCP, &ct));
	ASSERT_EQ(1, seen.nflow);
	EXPECT_FLOW(&seen.flow[0], PODLANE_FLOW_DENIED, PODLANE_DROP_POLICY_DENIED,
		    PODLANE_FLOW_INGRESS, PODLANE_HOOK_FROM_POD, R_B, POLICY,
		    PODLANE_POLICY_NO_RULE, ID_A, ID_B);
	EXPECT_EQ(htonl(IP_A), seen.flow[0].saddr);
	EXPECT_EQ(htonl(IP_B), seen.flow[0].daddr);
	EXPECT_EQ(htons(40000), seen.flow[0].sport);
	EXPECT_EQ(htons(80), seen.flow[0].dport);
	EXPECT_EQ(IPPROTO_TCP, seen.flow[0].proto);
	/* The drop itself is an ordinary drop event too, for `podlanectl monitor`. */
	ASSERT_EQ(1, seen.ndrop);
	EXPECT_EQ(PODLANE_DROP_POLICY_DENIED, seen.drop[0].reason);
}

TEST_F(pol, egress_isolated_without_a_rule_drops_at_the_sender)
{
	ASSERT_EQ(0, isolate(R_A, PODLANE_POL_F_EGRESS, 0, SET_A_OUT));
	/* Off the node (to the stack) and to a pod of another node alike. */
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, FAR_CLIENT, IPPROTO_UDP, 40000, 53));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_REMOTE_POD, 0, 40000, 80));
	ASSERT_EQ(2, seen.nflow);
	EXPECT_FLOW(&seen.flow[1], PODLANE_FLOW_DENIED, PODLANE_DROP_POLICY_DENIED,
		    PODLANE_FLOW_EGRESS, PODLANE_HOOK_FROM_POD, R_A, POLICY,
		    PODLANE_POLICY_NO_RULE, ID_A, ID_REMOTE);
	/* Allowed by ipBlock: the CIDR id of the destination. */
	ASSERT_EQ(0, allow(SET_A_OUT, CIDR_NET, IPPROTO_UDP, 53, 16, 0));
	EXPECT_EQ(TC_ACT_OK, FROM_POD(R_A, IP_A, CLIENT, IPPROTO_UDP, 40000, 53));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, FAR_CLIENT, IPPROTO_UDP, 40000, 53));
}

/* Allowed, by each kind of entry ---------------------------------------------------------- */

TEST_F(pol, allowed_by_identity)
{
	__u64 allowed = polstat(PODLANE_POL_STAT_ALLOWED);
	struct pol_ct_entry ct;

	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, ID_A, 0, 0, 0, 2));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN));
	EXPECT_EQ(allowed + 1, polstat(PODLANE_POL_STAT_ALLOWED));
	ASSERT_EQ(0, pol_ct_get(IP_A, IP_B, 40000, 80, IPPROTO_TCP, &ct));
	EXPECT_EQ(POLICY, ct.ingress_policy);
	EXPECT_EQ(2, ct.ingress_rule);
	EXPECT_EQ(0, ct.egress_policy);
	EXPECT_EQ(1, ct.rev);
	ASSERT_EQ(1, seen.nflow);
	EXPECT_FLOW(&seen.flow[0], PODLANE_FLOW_ALLOWED, 0, PODLANE_FLOW_INGRESS,
		    PODLANE_HOOK_FROM_POD, R_B, POLICY, 2, ID_A, ID_B);
	/* Another identity is not allowed. */
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_C, IP_C, IP_B, 0, 40000, 80, F_SYN));
	/* A's address on the uplink is not A (A's packets never come that way). */
	EXPECT_EQ(TC_ACT_SHOT, FROM_UPLINK(IP_A, IP_B, 0, 40001, 80, F_SYN));
	ASSERT_EQ(3, seen.nflow);
	EXPECT_EQ(PODLANE_ID_WORLD, seen.flow[2].src_id);
	/* A pod of another node is who it says (routing decides what reaches the uplink). */
	ASSERT_EQ(0, allow(SET_B_IN, ID_REMOTE, 0, 0, 0, 3));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_UPLINK(IP_REMOTE_POD, IP_B, 0, 40001, 80, F_SYN));
}

TEST_F(pol, allowed_by_cidr_id_from_the_uplink)
{
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, CIDR_NET, IPPROTO_TCP, 8080, 16, 3));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_UPLINK(CLIENT, IP_B, 0, 40000, 8080, F_SYN));
	ASSERT_EQ(1, seen.nflow);
	EXPECT_FLOW(&seen.flow[0], PODLANE_FLOW_ALLOWED, 0, PODLANE_FLOW_INGRESS,
		    PODLANE_HOOK_FROM_UPLINK, R_B, POLICY, 3, PODLANE_ID_WORLD, ID_B);
	/* An address in no ipBlock is WORLD and nothing more. */
	EXPECT_EQ(TC_ACT_SHOT, FROM_UPLINK(FAR_CLIENT, IP_B, 0, 40000, 8080, F_SYN));
}

TEST_F(pol, allowed_by_a_rule_without_peers)
{
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, PODLANE_ID_ANY, IPPROTO_TCP, 80, 16, 0));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_C, IP_C, IP_B, 0, 40000, 80));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_UPLINK(FAR_CLIENT, IP_B, 0, 40000, 80));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 81));
}

TEST_F(pol, a_port_range_is_a_port_prefix)
{
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	/* 8080/13: ports 8080 to 8087. */
	ASSERT_EQ(0, allow(SET_B_IN, ID_A, IPPROTO_TCP, 8080, 13, 0));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 8080));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 8083));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 8087));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 8079));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 8088));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_UDP, 40000, 8080));
}

TEST_F(pol, a_protocol_only_rule_allows_every_port_of_that_protocol_only)
{
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, ID_A, IPPROTO_TCP, 0, -1, 0));	/* prefix 72 */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 1));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 65535));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_UDP, 40000, 53));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_ICMP, 7, .icmp_type = 8));
}

TEST_F(pol, a_rule_without_ports_allows_every_protocol)
{
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, ID_A, 0, 0, 0, 0));	/* prefix 64 */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_UDP, 40000, 53));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_ICMP, 7, .icmp_type = 8));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_SCTP, 40000, 9,
					    .sctp_chunk = 1));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_GRE));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_C, IP_C, IP_B, IPPROTO_UDP, 40000, 53));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_C, IP_C, IP_B, IPPROTO_GRE));
}

TEST_F(pol, a_udp_rule_does_not_open_tcp)
{
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, PODLANE_ID_ANY, IPPROTO_UDP, 53, 16, 0));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_UDP, 40000, 53));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_TCP, 40000, 53, F_SYN));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_SCTP, 40000, 53,
					.sctp_chunk = 1));
}

/* Connections ----------------------------------------------------------------------------- */

TEST_F(pol, replies_pass_while_the_reverse_direction_is_isolated)
{
	struct pol_ct_entry ct;

	/* A is isolated both ways: egress allows B on TCP 80 and UDP 53, ingress nothing. */
	ASSERT_EQ(0, isolate(R_A, PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS, SET_A_IN,
			     SET_A_OUT));
	ASSERT_EQ(0, allow(SET_A_OUT, ID_B, IPPROTO_TCP, 80, 16, 0));
	ASSERT_EQ(0, allow(SET_A_OUT, ID_B, IPPROTO_UDP, 53, 16, 1));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_B, IP_B, IP_A, 0, 80, 40000, F_SYNACK));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_ACK));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_B, IP_B, IP_A, 0, 80, 40000, F_PSHACK));
	ASSERT_EQ(0, pol_ct_get(IP_A, IP_B, 40000, 80, IPPROTO_TCP, &ct));
	EXPECT_TRUE(ct.flags & PODLANE_POL_CT_F_REPLY_SEEN);
	EXPECT_EQ(POLICY, ct.egress_policy);
	/* UDP replies too. */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_UDP, 40001, 53));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_B, IP_B, IP_A, IPPROTO_UDP, 53, 40001));
	/* B may not start anything toward A, on any port or protocol. */
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_B, IP_B, IP_A, 0, 80, 40001, F_SYN));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_B, IP_B, IP_A, IPPROTO_UDP, 53, 40002));
	/* An echo reply nobody asked for never starts a flow; one that was asked for passes. */
	ASSERT_EQ(0, allow(SET_A_OUT, ID_B, 0, 0, 0, 2));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_B, IP_B, IP_A, IPPROTO_ICMP, 99, .icmp_type = 0));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_ICMP, 99, .icmp_type = 8));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_B, IP_B, IP_A, IPPROTO_ICMP, 99, .icmp_type = 0));
}

TEST_F(pol, tcp_that_opens_nothing_and_belongs_to_nothing_is_no_flow)
{
	__u64 no_flow = polstat(PODLANE_POL_STAT_NO_FLOW);
	struct pol_ct_entry ct;

	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, ID_A, IPPROTO_TCP, 80, 16, 0));
	/* Allowed peer and port, but no connection: an ACK, a SYN+ACK (reply-direction). */
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_ACK));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYNACK));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_SCTP, 40000, 80,
					.sctp_chunk = 0));
	EXPECT_EQ(no_flow + 3, polstat(PODLANE_POL_STAT_NO_FLOW));
	EXPECT_EQ(-ENOENT, pol_ct_get(IP_A, IP_B, 40000, 80, IPPROTO_TCP, &ct));
	ASSERT_EQ(3, seen.nflow);
	EXPECT_FLOW(&seen.flow[0], PODLANE_FLOW_DENIED, PODLANE_DROP_POLICY_NO_FLOW,
		    PODLANE_FLOW_INGRESS, PODLANE_HOOK_FROM_POD, R_B, POLICY,
		    PODLANE_POLICY_NO_RULE, ID_A, ID_B);
	ASSERT_EQ(3, seen.ndrop);
	EXPECT_EQ(PODLANE_DROP_POLICY_NO_FLOW, seen.drop[0].reason);
	/* With a SYN first, the same packets pass. */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_ACK));
}

TEST_F(pol, a_policy_change_judges_the_next_original_packet_again)
{
	__u64 rejudged = polstat(PODLANE_POL_STAT_REJUDGED);
	struct pol_ct_entry ct;

	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, ID_A, IPPROTO_TCP, 80, 16, 4));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_ACK));
	EXPECT_EQ(rejudged, polstat(PODLANE_POL_STAT_REJUDGED));

	/* A change that still allows it: judged again once, kept, no new record. */
	ASSERT_EQ(0, rev_set(2));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_ACK));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_ACK));
	EXPECT_EQ(rejudged + 1, polstat(PODLANE_POL_STAT_REJUDGED));
	ASSERT_EQ(0, pol_ct_get(IP_A, IP_B, 40000, 80, IPPROTO_TCP, &ct));
	EXPECT_EQ(2, ct.rev);
	EXPECT_EQ(1, seen.nflow);

	/* The rule goes: the next original-direction packet is dropped, the entry removed. */
	ASSERT_EQ(0, disallow(SET_B_IN, ID_A, IPPROTO_TCP, 80, 16));
	ASSERT_EQ(0, rev_set(3));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_ACK));
	EXPECT_EQ(-ENOENT, pol_ct_get(IP_A, IP_B, 40000, 80, IPPROTO_TCP, &ct));
	ASSERT_EQ(2, seen.nflow);
	EXPECT_FLOW(&seen.flow[1], PODLANE_FLOW_DENIED, PODLANE_DROP_POLICY_DENIED,
		    PODLANE_FLOW_INGRESS, PODLANE_HOOK_FROM_POD, R_B, POLICY,
		    PODLANE_POLICY_NO_RULE, ID_A, ID_B);
	/* And stays dropped (no connection any more). */
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_ACK));
	ASSERT_EQ(3, seen.nflow);
	EXPECT_EQ(PODLANE_DROP_POLICY_NO_FLOW, seen.flow[2].reason);
}

TEST_F(pol, a_policy_change_never_lets_a_reply_start_a_flow)
{
	struct pol_ct_entry ct;

	/* B talked to A:80 before any policy: nothing tracked it. Now A denies B. */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_B, IP_B, IP_A, 0, 40000, 80, F_ACK));
	ASSERT_EQ(0, isolate(R_A, PODLANE_POL_F_INGRESS, SET_A_IN, 0));
	/* A's answers go (its egress is free) but open nothing... */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 80, 40000, F_PSHACK));
	EXPECT_EQ(-ENOENT, pol_ct_get(IP_A, IP_B, 80, 40000, IPPROTO_TCP, &ct));
	/* ...so B's next packet is judged: no flow. */
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_B, IP_B, IP_A, 0, 40000, 80, F_ACK));
	ASSERT_EQ(1, seen.nflow);
	EXPECT_EQ(PODLANE_DROP_POLICY_NO_FLOW, seen.flow[0].reason);
}

TEST_F(pol, traffic_from_this_node_is_always_allowed)
{
	__u64 host = polstat(PODLANE_POL_STAT_HOST);
	struct pol_ct_entry ct;

	/* B is isolated both ways and allows nothing. */
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS, SET_B_IN,
			     SET_B_OUT));
	EXPECT_EQ(TC_ACT_OK, TO_POD(R_B, NODE_IP, IP_B, 0, 40000, 8080, F_SYN));
	EXPECT_EQ(host + 1, polstat(PODLANE_POL_STAT_HOST));
	ASSERT_EQ(0, pol_ct_get(NODE_IP, IP_B, 40000, 8080, IPPROTO_TCP, &ct));
	EXPECT_TRUE(ct.flags & PODLANE_POL_CT_F_HOST);
	ASSERT_EQ(1, seen.nflow);
	EXPECT_FLOW(&seen.flow[0], PODLANE_FLOW_ALLOWED, 0, PODLANE_FLOW_INGRESS,
		    PODLANE_HOOK_TO_POD, R_B, 0, PODLANE_POLICY_NO_RULE, PODLANE_ID_HOST, ID_B);
	/* The probe's answer goes back through the entry, though B's egress allows nothing. */
	EXPECT_EQ(TC_ACT_OK, FROM_POD(R_B, IP_B, NODE_IP, 0, 8080, 40000, F_SYNACK));
	/* Packets of a probe that began before the policy pass too. */
	EXPECT_EQ(TC_ACT_OK, TO_POD(R_B, NODE_IP, IP_B, 0, 40001, 8080, F_ACK));
	EXPECT_EQ(host + 2, polstat(PODLANE_POL_STAT_HOST));
	/* Anyone else through the stack is judged. */
	EXPECT_EQ(TC_ACT_SHOT, TO_POD(R_B, FAR_CLIENT, IP_B, 0, 40000, 8080, F_SYN));
	EXPECT_EQ(TC_ACT_SHOT, TO_POD(R_B, CLIENT, IP_B, 0, 40000, 8080, F_ACK));
	/* A node address arriving on the uplink is not this node speaking: judged, denied. */
	EXPECT_EQ(TC_ACT_SHOT, FROM_UPLINK(NODE_IP, IP_B, 0, 40002, 8080, F_SYN));
	EXPECT_EQ(TC_ACT_SHOT, FROM_UPLINK(NODE_IP, IP_B, 0, 40001, 8080, F_ACK));
	EXPECT_EQ(host + 2, polstat(PODLANE_POL_STAT_HOST));
}

TEST_F(pol, one_allowed_record_per_connection_not_per_packet)
{
	__u64 allowed = polstat(PODLANE_POL_STAT_ALLOWED), hits = polstat(PODLANE_POL_STAT_CT_HIT);
	int i;

	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, ID_A, 0, 0, 0, 0));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_PSHACK));
	EXPECT_EQ(1, seen.nflow);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_UDP, 40000, 53));
	EXPECT_EQ(2, seen.nflow);
	EXPECT_EQ(allowed + 2, polstat(PODLANE_POL_STAT_ALLOWED));
	EXPECT_EQ(hits + 6, polstat(PODLANE_POL_STAT_CT_HIT));
	EXPECT_EQ(0, seen.ndrop);
}

TEST_F(pol, both_isolated_directions_on_one_node_give_one_record_each)
{
	ASSERT_EQ(0, isolate(R_A, PODLANE_POL_F_EGRESS, 0, SET_A_OUT));
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_A_OUT, ID_B, IPPROTO_TCP, 80, 16, 5));
	ASSERT_EQ(0, allow(SET_B_IN, ID_A, IPPROTO_TCP, 80, 16, 6));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_ACK));
	ASSERT_EQ(2, seen.nflow);
	EXPECT_FLOW(&seen.flow[0], PODLANE_FLOW_ALLOWED, 0, PODLANE_FLOW_EGRESS,
		    PODLANE_HOOK_FROM_POD, R_A, POLICY, 5, ID_A, ID_B);
	EXPECT_FLOW(&seen.flow[1], PODLANE_FLOW_ALLOWED, 0, PODLANE_FLOW_INGRESS,
		    PODLANE_HOOK_FROM_POD, R_B, POLICY, 6, ID_A, ID_B);
	/* Egress is judged first: when it denies, ingress is not asked. */
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40001, 81, F_SYN));
	ASSERT_EQ(3, seen.nflow);
	EXPECT_EQ(PODLANE_FLOW_EGRESS, seen.flow[2].dir);
	/* Egress allows 80, ingress does not allow C. */
	ASSERT_EQ(0, isolate(R_C, PODLANE_POL_F_EGRESS, 0, SET_A_OUT));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_C, IP_C, IP_B, 0, 40001, 80, F_SYN));
	ASSERT_EQ(4, seen.nflow);
	EXPECT_EQ(PODLANE_FLOW_INGRESS, seen.flow[3].dir);
	EXPECT_EQ(ifindex_of(R_B), seen.flow[3].ifindex);
}

/* Paths ----------------------------------------------------------------------------------- */

TEST_F(pol, a_service_is_judged_against_its_backend_after_translation)
{
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	/* A rule for the NodePort itself opens nothing: the backend sees 8080. */
	ASSERT_EQ(0, allow(SET_B_IN, CIDR_NET, IPPROTO_TCP, NP_B, 16, 0));
	EXPECT_EQ(TC_ACT_SHOT, FROM_UPLINK(CLIENT, NODE_IP, 0, 40000, NP_B, F_SYN));
	ASSERT_EQ(1, seen.nflow);
	EXPECT_EQ(htonl(IP_B), seen.flow[0].daddr);
	EXPECT_EQ(htons(8080), seen.flow[0].dport);
	EXPECT_FLOW(&seen.flow[0], PODLANE_FLOW_DENIED, PODLANE_DROP_POLICY_DENIED,
		    PODLANE_FLOW_INGRESS, PODLANE_HOOK_FROM_UPLINK, R_B, POLICY,
		    PODLANE_POLICY_NO_RULE, PODLANE_ID_WORLD, ID_B);
	ASSERT_EQ(0, allow(SET_B_IN, CIDR_NET, IPPROTO_TCP, 8080, 16, 1));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_UPLINK(CLIENT, NODE_IP, 0, 40001, NP_B, F_SYN));
	/* The backend's answer, before the frontend is put back, belongs to the connection. */
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS, SET_B_IN,
			     SET_B_OUT));
	EXPECT_NE(TC_ACT_SHOT, FROM_POD(R_B, IP_B, CLIENT, 0, 8080, 40001, F_SYNACK));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_B, IP_B, CLIENT, 0, 8080, 40009, F_SYNACK));
}

TEST_F(pol, the_xdp_fast_path_leaves_ingress_isolated_pods_to_tc)
{
	/* A tracked NodePort flow to A: tc creates the service conntrack with the SYN. */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_UPLINK(CLIENT, NODE_IP, 0, 40000, NP_A, F_SYN));
	EXPECT_EQ(XDP_REDIRECT, XDP_UPLINK(CLIENT, NODE_IP, 0, 40000, NP_A, F_ACK));
	/* A isolated for egress only: XDP may still deliver. */
	ASSERT_EQ(0, isolate(R_A, PODLANE_POL_F_EGRESS, 0, SET_A_OUT));
	EXPECT_EQ(XDP_REDIRECT, XDP_UPLINK(CLIENT, NODE_IP, 0, 40000, NP_A, F_ACK));
	/* For ingress: tc's, which judges it (no connection known to policy: NO_FLOW). */
	ASSERT_EQ(0, isolate(R_A, PODLANE_POL_F_INGRESS, SET_A_IN, 0));
	EXPECT_EQ(XDP_PASS, XDP_UPLINK(CLIENT, NODE_IP, 0, 40000, NP_A, F_ACK));
	EXPECT_EQ(TC_ACT_SHOT, FROM_UPLINK(CLIENT, NODE_IP, 0, 40000, NP_A, F_ACK));
	ASSERT_EQ(1, seen.nflow);
	EXPECT_EQ(PODLANE_DROP_POLICY_NO_FLOW, seen.flow[0].reason);
}

TEST_F(pol, icmp_errors_about_known_connections_pass)
{
	const struct pkt sent = { IP_A, FAR_CLIENT, IPPROTO_UDP, 40000, 53 };
	const struct pkt other = { IP_A, FAR_CLIENT, IPPROTO_UDP, 40001, 53 };

	ASSERT_EQ(0, isolate(R_A, PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS, SET_A_IN,
			     SET_A_OUT));
	ASSERT_EQ(0, allow(SET_A_OUT, PODLANE_ID_ANY, IPPROTO_UDP, 53, 16, 0));
	EXPECT_EQ(TC_ACT_OK, FROM_POD(R_A, IP_A, FAR_CLIENT, IPPROTO_UDP, 40000, 53));
	/* Port unreachable from the far end, quoting what A sent: delivered by the stack. */
	EXPECT_EQ(TC_ACT_OK, TO_POD(R_A, FAR_CLIENT, IP_A, IPPROTO_ICMP, .icmp_type = 3,
				    .quoted = &sent));
	/* Quoting a datagram that belongs to nothing: it opens nothing. */
	EXPECT_EQ(TC_ACT_SHOT, TO_POD(R_A, FAR_CLIENT, IP_A, IPPROTO_ICMP, .icmp_type = 3,
				      .quoted = &other));
	/* Records: the datagram allowed (A's egress), then the drop. */
	ASSERT_EQ(2, seen.nflow);
	EXPECT_EQ(PODLANE_FLOW_ALLOWED, seen.flow[0].verdict);
	EXPECT_FLOW(&seen.flow[1], PODLANE_FLOW_DENIED, PODLANE_DROP_POLICY_NO_FLOW,
		    PODLANE_FLOW_INGRESS, PODLANE_HOOK_TO_POD, R_A, POLICY,
		    PODLANE_POLICY_NO_RULE, PODLANE_ID_WORLD, ID_A);

}

TEST_F(pol, later_fragments_are_judged_by_their_first)
{
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	/* The first fragment carries the ports and is judged... */
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_UDP, 40000, 53,
					.frag_off = 0x2000));
	/* ...a later one carries none: the stack cannot use it without the first. */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, IPPROTO_UDP, 40000, 53,
					    .frag_off = 185));
}

TEST_F(pol, a_bad_transport_header_in_an_isolated_direction_is_dropped_with_its_reason)
{
	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, ID_A, 0, 0, 0, 0));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN, .doff = 3));
	ASSERT_EQ(1, seen.ndrop);
	EXPECT_EQ(PODLANE_DROP_L4_BAD_HEADER, seen.drop[0].reason);
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN, .doff = 15));
	ASSERT_EQ(2, seen.ndrop);
	EXPECT_EQ(PODLANE_DROP_L4_TRUNCATED, seen.drop[1].reason);
	EXPECT_EQ(0, seen.nflow) TH_LOG("not a policy verdict");
}

TEST_F(pol, lost_flow_records_are_counted)
{
	__u64 lost = polstat(PODLANE_POL_STAT_EVENTS_LOST);
	__u64 drops = node_drops(PODLANE_DROP_POLICY_DENIED);
	const struct pkt p = { IP_A, IP_B, IPPROTO_UDP, 40000, 53 };
	/* More records than the ring buffer holds, unread. */
	__u32 n = PODLANE_EVENTS_BYTES / sizeof(struct flow_event) + 16;

	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	EXPECT_EQ(TC_ACT_SHOT, run_n(P_FROM_POD, R_A, &p, n));
	EXPECT_EQ(drops + n, node_drops(PODLANE_DROP_POLICY_DENIED));
	EXPECT_LT(lost, polstat(PODLANE_POL_STAT_EVENTS_LOST));
	EXPECT_GE(n, polstat(PODLANE_POL_STAT_EVENTS_LOST) - lost);
	events_reset();
}

/* What an operator sees ------------------------------------------------------------------ */

static __u32 map_info_of(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? 0 : info->id;
}

TEST_F(pol, bpftool_shows_the_policy_maps_with_named_fields_and_the_programs_keep_their_names)
{
	static const struct {
		const char *name;	/* the kernel's name: cut at 15 characters */
		const char *field;	/* a field bpftool prints from the map's BTF */
	} maps[] = {
		{ "podlane_ipcache", "cidr_id" }, { "podlane_ep_poli", "ingress_set" },
		{ "podlane_policy", "peer" }, { "podlane_pol_ct", "egress_policy" },
		{ "podlane_pol_rev", NULL }, { "podlane_pol_sta", NULL },
	};
	const int fds[] = { node.ipcache_fd, node.ep_pol_fd, node.policy_fd, node.pol_ct_fd,
			    node.rev_fd, node.polstat_fd };
	const int progs[] = { node.from_pod, node.to_pod, node.from_uplink, node.xdp_prog };
	const char *const prog_names[] = { "tc_from_pod", "tc_to_pod", "tc_from_uplink",
					   "xdp_from_uplink" };
	struct bpf_prog_info pinfo;
	struct bpf_map_info info;
	__u32 len;
	size_t i;

	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, ID_A, IPPROTO_TCP, 80, 16, 0));
	ASSERT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN));
	for (i = 0; i < ARRAY_SIZE(maps); i++) {
		ASSERT_NE(0, map_info_of(fds[i], &info)) TH_LOG("%s", maps[i].name);
		EXPECT_STREQ(maps[i].name, info.name);
		EXPECT_NE(0, info.btf_id) TH_LOG("%s has no BTF", maps[i].name);
		if (!maps[i].field || tl_sh_may_fail("command -v bpftool"))
			continue;
		EXPECT_EQ(0, tl_sh("bpftool map dump id %u | grep -q '\"%s\"'", info.id,
				   maps[i].field)) TH_LOG("%s", maps[i].name);
	}
	/* The global function is a part of each program, not a program of its own. */
	for (i = 0; i < ARRAY_SIZE(progs); i++) {
		len = sizeof(pinfo);
		memset(&pinfo, 0, sizeof(pinfo));
		ASSERT_EQ(0, bpf_obj_get_info_by_fd(progs[i], &pinfo, &len));
		EXPECT_STREQ(prog_names[i], pinfo.name);
	}
}

/* A policy conntrack that refuses inserts: the allowed packet goes, the next is judged. */
FIXTURE(full) {
	struct tc_endpoint *ep;
	int prog;
};

FIXTURE_SETUP(full)
{
	struct bpf_map *map;
	int err = 0;

	ASSERT_EQ(0, reset());
	self->ep = tc_endpoint__open();
	ASSERT_NE(NULL, self->ep);
	/* Every map shared with the tests' node but the policy conntrack: a hash of one. */
	bpf_object__for_each_map(map, self->ep->obj) {
		struct bpf_map *theirs = bpf_object__find_map_by_name(node.ep->obj,
								       bpf_map__name(map));

		bpf_map__set_pin_path(map, NULL);
		if (map == self->ep->maps.podlane_pol_ct) {
			bpf_map__set_type(map, BPF_MAP_TYPE_HASH);
			bpf_map__set_max_entries(map, 1);
		} else if (theirs && !strncmp(bpf_map__name(map), "podlane_", 8)) {
			err = err ?: bpf_map__reuse_fd(map, bpf_map__fd(theirs));
		}
	}
	ASSERT_EQ(0, err);
	ASSERT_EQ(0, tc_endpoint__load(self->ep));
	self->prog = bpf_program__fd(self->ep->progs.tc_from_pod);
}

FIXTURE_TEARDOWN(full)
{
	tc_endpoint__destroy(self->ep);
}

TEST_F(full, an_insert_that_fails_still_allows_and_never_opens)
{
	__u64 full = polstat(PODLANE_POL_STAT_CT_FULL);

	ASSERT_EQ(0, isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0));
	ASSERT_EQ(0, allow(SET_B_IN, ID_A, IPPROTO_TCP, 0, -1, 0));
	node.from_pod = self->prog;
	/* The first connection takes the only slot, the second finds none. */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_SYN));
	EXPECT_EQ(full, polstat(PODLANE_POL_STAT_CT_FULL));
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40001, 80, F_SYN));
	EXPECT_EQ(full + 1, polstat(PODLANE_POL_STAT_CT_FULL));
	EXPECT_EQ(2, seen.nflow);
	EXPECT_EQ(PODLANE_FLOW_ALLOWED, seen.flow[1].verdict);
	/* Not remembered: its next packet belongs to no connection. */
	EXPECT_EQ(TC_ACT_REDIRECT, FROM_POD(R_A, IP_A, IP_B, 0, 40000, 80, F_ACK));
	EXPECT_EQ(TC_ACT_SHOT, FROM_POD(R_A, IP_A, IP_B, 0, 40001, 80, F_ACK));
	ASSERT_EQ(3, seen.nflow);
	EXPECT_EQ(PODLANE_DROP_POLICY_NO_FLOW, seen.flow[2].reason);
}

/* --bench --------------------------------------------------------------------------------- */

static int floor_prog_load(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = TC_ACT_OK },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "tc_floor", "GPL", insns,
			     ARRAY_SIZE(insns), NULL);
}

/* tc_from_pod of another build's tc_endpoint.bpf.o, on the node's maps where names agree. */
static int baseline_load(const char *path, struct bpf_object **objp)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	struct bpf_map *map;
	int err;

	if (!obj)
		return -errno;
	bpf_object__for_each_map(map, obj) {
		struct bpf_map *theirs = bpf_object__find_map_by_name(node.ep->obj,
								       bpf_map__name(map));

		bpf_map__set_pin_path(map, NULL);
		if (theirs && !strncmp(bpf_map__name(map), "podlane_", 8) &&
		    bpf_map__reuse_fd(map, bpf_map__fd(theirs)))
			return -EINVAL;
	}
	err = bpf_object__load(obj);
	prog = err ? NULL : bpf_object__find_program_by_name(obj, "tc_from_pod");
	if (!prog) {
		bpf_object__close(obj);
		return err ?: -ENOENT;
	}
	*objp = obj;
	return bpf_program__fd(prog);
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static double median(__u32 *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_u32);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* One packet through fd on dev's device: its run time, or 0 when the verdict is not want. */
static __u32 timed(int fd, enum role dev, const struct pkt *p, int want)
{
	TL_FRAME(in, PKT_MAX);
	TL_FRAME(out, PKT_MAX);
	struct __sk_buff skb = { .ifindex = node.ifindex[dev] };
	size_t len = build(p, in.b, endpoints[0].host_mac, router_mac);
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in.b, .data_size_in = len,
		.data_out = out.b, .data_size_out = sizeof(out.b),
		.ctx_in = &skb, .ctx_size_in = sizeof(skb),
		.repeat = 1,
	);

	if (bpf_prog_test_run_opts(fd, &opts) || (int)opts.retval != want)
		return 0;
	return opts.duration ? opts.duration : 1;
}

enum {
	B_FLOOR, B_BASELINE, B_NONE, B_KNOWN, B_NEW_1, B_NEW_100, B_NEW_10K, B_DENIED, B_MAX
};

/* Set SET_B_IN to n entries: n - 1 for other peers, then the one allowing A on TCP 80. */
static int rule_set_fill(int n)
{
	int i, err = map_clear(node.policy_fd);

	for (i = 0; i < n - 1 && !err; i++)
		err = allow(SET_B_IN, 100000 + i, IPPROTO_TCP, 80, 16, i);
	return err ?: allow(SET_B_IN, ID_A, IPPROTO_TCP, 80, 16, n - 1);
}

static int run_bench(int samples, const char *baseline)
{
	static const char *const label[B_MAX] = {
		[B_FLOOR] = "empty tc program (floor)",
		[B_BASELINE] = "baseline build: tc_from_pod, pod to pod",
		[B_NONE] = "tc_from_pod, pod to pod, no policy (one ep_policy lookup a pod)",
		[B_KNOWN] = "tc_from_pod, to a pod isolated for ingress, known connection",
		[B_NEW_1] = "tc_from_pod, new connection judged, rule set of 1 entry",
		[B_NEW_100] = "tc_from_pod, new connection judged, rule set of 100 entries",
		[B_NEW_10K] = "tc_from_pod, new connection judged, rule set of 10,000 entries",
		[B_DENIED] = "tc_from_pod, denied (drop, flow record, drop event)",
	};
	static const int set_size[] = { [B_NEW_1] = 1, [B_NEW_100] = 100, [B_NEW_10K] = 10000 };
	struct pkt known = { IP_A, IP_B, IPPROTO_TCP, 40000, 80, F_ACK };
	struct pkt none = { IP_A, IP_C, IPPROTO_TCP, 40000, 80, F_ACK };
	struct pkt denied = { IP_C, IP_B, IPPROTO_TCP, 40000, 80, F_SYN };
	struct pkt fresh = { IP_A, IP_B, IPPROTO_TCP, 0, 80, F_SYN };
	struct bpf_object *base_obj = NULL;
	int floor_fd = floor_prog_load(), base_fd = -1, i, b, err;
	__u32 *ns[B_MAX];

	if (floor_fd < 0)
		return fprintf(stderr, "bench: failed to load the floor: %s\n", strerror(errno)), 1;
	if (baseline) {
		base_fd = baseline_load(baseline, &base_obj);
		if (base_fd < 0)
			return fprintf(stderr, "bench: failed to load '%s': %s\n", baseline,
				       strerror(-base_fd)), 1;
	}
	err = reset() ?: isolate(R_B, PODLANE_POL_F_INGRESS, SET_B_IN, 0);
	err = err ?: rule_set_fill(1);
	if (err || timed(node.from_pod, R_A, &(struct pkt){ IP_A, IP_B, 0, 40000, 80, F_SYN },
			 TC_ACT_REDIRECT) == 0)
		return fprintf(stderr, "bench: set-up failed\n"), 1;
	for (b = 0; b < B_MAX; b++) {
		ns[b] = calloc(samples, sizeof(__u32));
		if (!ns[b])
			return fprintf(stderr, "bench: out of memory\n"), 1;
	}

	/* Interleave the variants sample by sample so that drift hits all of them alike. */
	for (i = 0; i < samples; i++) {
		ns[B_FLOOR][i] = timed(floor_fd, R_A, &none, TC_ACT_OK);
		ns[B_BASELINE][i] = base_fd < 0 ? 1 : timed(base_fd, R_A, &none, TC_ACT_REDIRECT);
		ns[B_NONE][i] = timed(node.from_pod, R_A, &none, TC_ACT_REDIRECT);
		ns[B_KNOWN][i] = timed(node.from_pod, R_A, &known, TC_ACT_REDIRECT);
		ns[B_DENIED][i] = timed(node.from_pod, R_C, &denied, TC_ACT_SHOT);
		if (i % 512 == 0)
			events_reset();
	}
	/* New connections: one rule set size at a time (filling 10,000 entries takes a while). */
	for (b = B_NEW_1; b <= B_NEW_10K; b++) {
		if (rule_set_fill(set_size[b]))
			return fprintf(stderr, "bench: rule set of %d failed\n", set_size[b]), 1;
		for (i = 0; i < samples; i++) {
			fresh.sport = 1024 + i % 60000;
			fresh.saddr = IP_A;
			if (i % 512 == 0)
				events_reset();
			ns[b][i] = timed(node.from_pod, R_A, &fresh, TC_ACT_REDIRECT);
			/* Forget it, so that the next sample is new even when ports repeat. */
			map_clear(node.pol_ct_fd);
		}
	}
	for (b = 0; b < B_MAX; b++)
		for (i = 0; i < samples; i++)
			if (!ns[b][i])
				return fprintf(stderr, "bench: '%s': unexpected verdict\n",
					       label[b]), 1;
	printf("| program (BPF_PROG_TEST_RUN, one packet per run) | ns/packet (median of %d) "
	       "| over floor |\n|---|---:|---:|\n", samples);
	for (b = 0; b < B_MAX; b++) {
		double m = median(ns[b], samples), fl = median(ns[B_FLOOR], samples);

		if (b == B_BASELINE && base_fd < 0)
			continue;
		printf("| %s | %.0f | %+.0f |\n", label[b], m, m - fl);
	}
	for (b = 0; b < B_MAX; b++)
		free(ns[b]);
	bpf_object__close(base_obj);
	return 0;
}

/* test_policy_dp --bench [-n SAMPLES] [--baseline OBJECT]: the table instead of the tests. */
static int bench_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "baseline", required_argument, NULL, 'b' },
		{}
	};
	const char *baseline = NULL;
	int samples = 20001, opt, err;

	while ((opt = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			samples = atoi(optarg);
			break;
		case 'b':
			baseline = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s --bench [-n SAMPLES] [--baseline OBJECT]\n",
				argv[0]);
			return 2;
		}
	}
	err = devices_make();
	err = err ?: load();
	err = err ?: maps_fill();
	if (err) {
		fprintf(stderr, "bench: setup failed: %s\n", strerror(-err));
		return 1;
	}
	return run_bench(samples < 1 ? 1 : samples, baseline);
}

int main(int argc, char **argv)
{
	int err;

	if (geteuid() != 0)
		ksft_exit_skip("needs root for BPF_PROG_TEST_RUN and a network namespace\n");
	if (argc > 1 && !strcmp(argv[1], "--bench"))
		return bench_main(argc - 1, argv + 1);
	if (tl_sh_may_fail("command -v ip"))
		ksft_exit_skip("needs ip (iproute2)\n");
	err = devices_make();
	err = err ?: load();
	err = err ?: maps_fill();
	if (err)
		ksft_exit_fail_msg("set up namespace, load the programs, fill the maps: %s\n",
				   strerror(-err));
	return test_harness_run(argc, argv);
}
