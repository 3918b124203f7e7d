// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_lb_nat.c - the per-packet service path (bpf/lib/nat.h, bpf/lib/conntrack.h in
 * tc_from_uplink and tc_from_pod) and the conntrack collector (userspace/lib/ct_gc.c) through
 * BPF_PROG_TEST_RUN, written with kselftest_harness.h; also xdp_from_uplink's NodePort early
 * drop and fast path on the same maps, so XDP and tc are seen to agree on one flow.
 *
 * main() moves the process into a private network namespace with three pod veths (local
 * backends A, B, C) and an uplink whose neighbour table knows the client, so the reply path's
 * FIB lookup has a real answer, and loads the programs once with private maps (never pinned;
 * verifying them is most of a test's cost). The harness runs each test in a child; its
 * fixture first puts the maps back as main() left them: conntrack empty, the test's services
 * and endpoints (flags included) written afresh. Counters only grow, and tests read them
 * before and after. A test that continues a story (a flow's SYN, then its reply, then its FIN)
 * replays the steps before it. Output packets are checked byte by byte where it matters:
 * addresses, ports, MACs, TTL and full L3 and L4 checksums.
 *
 * With --bench it measures instead and prints a markdown table: ns per packet (median of
 * single-packet test runs) for an empty tc program (the floor), tc_from_uplink on a packet
 * that is no service, a new NodePort flow (CT miss), a tracked flow (CT hit) and the reply;
 * and for an empty XDP program beside xdp_from_uplink's NodePort fast path on the same tracked
 * flow (CT hit, DNAT, XDP_REDIRECT), so both hooks are compared on one packet.
 *   test_lb_nat --bench [-n SAMPLES]
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
#include "maglev.h"
#include "ct_gc.h"
#include "tc_endpoint.skel.h"
#include "tc_uplink.skel.h"
#include "xdp_uplink.skel.h"

#define IP4		TL_IP4
#define PKT_MAX		256
#define MAP_SIZE	256
#define CT_SIZE		65536

#define NODE_IP		IP4(192, 168, 50, 1)	/* the node address NodePorts listen on */
#define CLIENT_IP	IP4(198, 51, 100, 7)	/* outside, neighbour known on the uplink */
#define FAR_CLIENT_IP	IP4(203, 0, 113, 9)	/* outside, behind a gateway not resolved yet */
#define REMOTE_BE	IP4(10, 244, 1, 5)	/* a backend on another node */
#define CLUSTER_IP	IP4(10, 96, 0, 10)

enum role { R_NONE, R_A, R_B, R_C, R_UP, R_MAX };

static const char *const role_dev[R_MAX] = {
	[R_A] = "pln-a", [R_B] = "pln-b", [R_C] = "pln-c", [R_UP] = "pln-up",
};

static const struct {
	enum role role;
	__u32 ip;
	__u8 pod_mac[ETH_ALEN];
	__u8 host_mac[ETH_ALEN];
} endpoints[] = {
	{ R_A, IP4(10, 244, 0, 10), { 0x0a, 0x58, 0, 0, 0, 0x0a }, { 0xee, 0, 0, 0, 0, 0x0a } },
	{ R_B, IP4(10, 244, 0, 11), { 0x0a, 0x58, 0, 0, 0, 0x0b }, { 0xee, 0, 0, 0, 0, 0x0b } },
	{ R_C, IP4(10, 244, 0, 12), { 0x0a, 0x58, 0, 0, 0, 0x0c }, { 0xee, 0, 0, 0, 0, 0x0c } },
};

#define IP_A	IP4(10, 244, 0, 10)
#define IP_B	IP4(10, 244, 0, 11)
#define IP_C	IP4(10, 244, 0, 12)

static const __u8 client_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0xc1, 0x1e };
static const __u8 uplink_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0x0f, 0x01 };
static const __u8 router_mac[ETH_ALEN] = { 0x02, 0, 0x5e, 0, 0, 1 };

/* Services of the test, by id. */
enum {
	SVC_WEB = 1,		/* NodePort TCP 30080, Maglev, backends A, B, C */
	SVC_DNS,		/* NodePort UDP 30053, random, backend A:53 */
	SVC_LOCAL_NONE,		/* NodePort TCP 30090, ETP Local, only a remote backend */
	SVC_EMPTY,		/* NodePort TCP 30091, no backend */
	SVC_LOCAL_MIXED,	/* NodePort TCP 30092, ETP Local, B local + remote */
	SVC_CLUSTER,		/* ClusterIP 10.96.0.10:80 from the uplink, backend B:80 */
	SVC_REMOTE,		/* NodePort TCP 30093, only a remote backend */
	SVC_SPREAD,		/* NodePort TCP 30094, Maglev over 10 (remote) backends */
	SVC_TERM,		/* NodePort TCP 30095, random, A, B, C: C turns terminating */
};

struct env {
	struct tc_endpoint *ep;
	struct tc_uplink *up;
	struct xdp_uplink *xdp, *xdp_off;	/* on the same maps, when a test loads them */
	struct tl_events events;
	int ifindex[R_MAX];
	int svc_fd, be_fd, maglev_fd, ct_fd, lbstat_fd, drops_fd, stat_fd;
	int from_uplink, from_pod;
};

/* Packets --------------------------------------------------------------------------------- */

struct flow {
	__u32 saddr, daddr;	/* host order */
	__u16 sport, dport;
	__u8 proto;		/* 0: TCP */
	__u8 tcp_flags;		/* 0: SYN */
	bool ack;		/* tcp_flags = ACK */
	bool udp_nocsum;	/* UDP without checksum (0) */
	__u16 frag_off;		/* host order, flags included */
};

static __u32 pseudo_sum(const struct iphdr *ip, __u16 l4_len)
{
	__u32 sum = 0;

	sum = tl_csum_add(sum, &ip->saddr, 4);
	sum = tl_csum_add(sum, &ip->daddr, 4);
	return sum + ip->protocol + l4_len;
}

static bool l3_csum_ok(const struct iphdr *ip)
{
	return tl_ip_csum_ok(ip, ip->ihl * 4);
}

/* The transport checksum of a whole (unfragmented) datagram; UDP 0 means "none". */
static bool l4_csum_ok(const struct iphdr *ip)
{
	const __u8 *l4 = (const __u8 *)ip + ip->ihl * 4;
	__u16 len = ntohs(ip->tot_len) - ip->ihl * 4;

	if (ip->protocol == IPPROTO_UDP && ((const struct udphdr *)l4)->check == 0)
		return true;
	return tl_csum_fold(tl_csum_add(pseudo_sum(ip, len), l4, len)) == 0xffff;
}

static size_t build(const struct flow *f, __u8 *buf)
{
	struct ethhdr *eth = (void *)buf;
	struct iphdr *ip = (void *)(eth + 1);
	__u8 *l4 = (__u8 *)(ip + 1), *payload;
	__u8 proto = f->proto ? f->proto : IPPROTO_TCP;
	size_t l4_len, i;

	memset(buf, 0, PKT_MAX);
	memcpy(eth->h_dest, uplink_mac, ETH_ALEN);
	memcpy(eth->h_source, router_mac, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = (void *)l4;

		th->source = htons(f->sport);
		th->dest = htons(f->dport);
		th->seq = htonl(0x11223344);
		th->doff = 5;
		((__u8 *)th)[13] = f->ack ? 0x10 : f->tcp_flags ? f->tcp_flags : 0x02;
		th->window = htons(64240);
		payload = l4 + sizeof(*th);
		l4_len = sizeof(*th) + 16;
	} else {
		struct udphdr *uh = (void *)l4;

		uh->source = htons(f->sport);
		uh->dest = htons(f->dport);
		uh->len = htons(sizeof(*uh) + 16);
		payload = l4 + sizeof(*uh);
		l4_len = sizeof(*uh) + 16;
	}
	for (i = 0; i < 16; i++)
		payload[i] = 0xa0 + i;
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(sizeof(*ip) + l4_len);
	ip->id = htons(0x4242);
	ip->frag_off = htons(f->frag_off);
	ip->ttl = 64;
	ip->protocol = proto;
	ip->saddr = htonl(f->saddr);
	ip->daddr = htonl(f->daddr);
	ip->check = htons(~tl_csum_fold(tl_csum_add(0, ip, sizeof(*ip))));
	if (!(proto == IPPROTO_UDP && f->udp_nocsum)) {
		__u16 c = ~tl_csum_fold(tl_csum_add(pseudo_sum(ip, l4_len), l4, l4_len));

		if (proto == IPPROTO_TCP)
			((struct tcphdr *)l4)->check = htons(c);
		else
			((struct udphdr *)l4)->check = htons(c ? c : 0xffff);
	}
	return ETH_HLEN + sizeof(*ip) + l4_len;
}

/* What a test reads back from an output packet. */
struct seen {
	__u32 saddr, daddr;	/* host order */
	__u16 sport, dport;
	__u8 ttl;
	bool l3_ok, l4_ok;
	__u16 l4_check;
	const __u8 *dmac, *smac;
};

static void parse_out(const __u8 *buf, struct seen *s)
{
	const struct iphdr *ip = (const void *)(buf + ETH_HLEN);
	const __u8 *l4 = (const __u8 *)ip + ip->ihl * 4;

	s->saddr = ntohl(ip->saddr);
	s->daddr = ntohl(ip->daddr);
	s->sport = ntohs(*(const __u16 *)l4);
	s->dport = ntohs(*(const __u16 *)(l4 + 2));
	s->ttl = ip->ttl;
	s->l3_ok = l3_csum_ok(ip);
	s->l4_ok = l4_csum_ok(ip);
	s->l4_check = ip->protocol == IPPROTO_UDP ? ((const struct udphdr *)l4)->check : 1;
	s->dmac = buf;
	s->smac = buf + ETH_ALEN;
}

/* Running --------------------------------------------------------------------------------- */

struct result {
	int err;
	int retval;
	TL_FRAME(out, PKT_MAX);
	struct seen s;
};

static void run(int prog, int ifindex, const __u8 *pkt, size_t len, struct result *r,
		__u32 *duration)
{
	struct __sk_buff ctx = { .ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = pkt,
		.data_size_in = len,
		.data_out = r->out.b,
		.data_size_out = sizeof(r->out.b),
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.repeat = 1,
	);

	r->err = bpf_prog_test_run_opts(prog, &opts) ? -errno : 0;
	r->retval = (int)opts.retval;
	if (duration)
		*duration = opts.duration;
	if (!r->err && opts.data_size_out >= ETH_HLEN + 28)
		parse_out(r->out.b, &r->s);
}

static void send_flow(struct env *e, enum role dev, const struct flow *f, struct result *r)
{
	TL_FRAME(pkt, PKT_MAX);
	size_t len = build(f, pkt.b);

	run(dev == R_UP ? e->from_uplink : e->from_pod, e->ifindex[dev], pkt.b, len, r, NULL);
}

static __u64 lbstat(struct env *e, enum lb_stat which)
{
	return tl_percpu_sum(e->lbstat_fd, which);
}

static __u64 node_drops(struct env *e, int reason)
{
	return tl_node_drops(e->drops_fd, reason);
}

static int ct_get(struct env *e, __u32 saddr, __u32 daddr, __u16 sport, __u16 dport,
		  __u8 proto, __u8 dir, struct ct_entry *out)
{
	struct ct_key k = {
		.saddr = htonl(saddr), .daddr = htonl(daddr),
		.sport = htons(sport), .dport = htons(dport),
		.proto = proto, .dir = dir,
	};

	return bpf_map_lookup_elem(e->ct_fd, &k, out) ? -errno : 0;
}

/* Delete every podlane_ct entry: a collector pass whose clock is at the end of time. */
static void ct_flush(struct env *e)
{
	struct ct_gc_stats st;

	ct_gc(e->ct_fd, ~0ULL, &st, NULL, NULL);
}

/* Setup ----------------------------------------------------------------------------------- */

static int devices_make(struct env *e)
{
	char peer[IFNAMSIZ];
	int r, err;

	err = tl_netns_enter();
	if (err)
		return err;
	for (r = R_A; r < R_MAX; r++) {
		snprintf(peer, sizeof(peer), "%s-p", role_dev[r]);
		e->ifindex[r] = tl_veth_add(role_dev[r], r == R_UP ? "02:00:00:00:0f:01" : NULL,
					    peer, NULL, 0);
		if (e->ifindex[r] < 0)
			return e->ifindex[r];
		if (tl_sh("ip link set %s up && ip link set %s up", peer, role_dev[r]))
			return -EIO;
		/* The reply path's FIB lookup starts on the pod's host veth, as a forward would. */
		if (r != R_UP && tl_forwarding_set(role_dev[r], true))
			return -EIO;
	}
	if (tl_sh("ip addr add 192.168.50.1/32 dev %s && ip addr add 198.51.100.1/24 dev %s && "
		  "ip neigh replace 198.51.100.7 lladdr 02:00:00:00:c1:1e dev %s nud permanent && "
		  "ip route add 203.0.113.0/24 via 198.51.100.254 dev %s", role_dev[R_UP],
		  role_dev[R_UP], role_dev[R_UP], role_dev[R_UP]))
		return -EIO;
	return 0;
}

static int endpoints_add(struct env *e)
{
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(endpoints); i++) {
		/* All three are backends of the test's services, as the agent would flag them. */
		err = tl_endpoint_add(bpf_map__fd(e->ep->maps.podlane_eps), e->stat_fd,
				      htonl(endpoints[i].ip), endpoints[i].pod_mac,
				      endpoints[i].host_mac, e->ifindex[endpoints[i].role],
				      PODLANE_EP_F_READY | PODLANE_EP_F_LB_BACKEND);
		if (err)
			return err;
	}
	return 0;
}

static enum role role_of_ip(__u32 ip)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(endpoints); i++)
		if (endpoints[i].ip == ip)
			return endpoints[i].role;
	return R_NONE;
}

/* Services -------------------------------------------------------------------------------- */

struct be_def {
	__u32 ip;
	__u16 port;
	__u32 id;
	bool local;
	__u8 state;
};

static int svc_write(struct env *e, __u32 id, __u32 addr, __u16 port, __u8 proto, __u32 flags,
		     const struct be_def *be, int count, int local_count, int total)
{
	struct lb_service_key k = { .addr = htonl(addr), .port = htons(port), .proto = proto };
	struct lb_service v = {
		.id = id, .count = count, .local_count = local_count, .flags = flags,
		.affinity_timeout = 10800,
	};
	int i;

	for (i = 0; i < total; i++) {
		struct lb_backend_key bk = { .svc_id = id, .slot = i };
		struct lb_backend b = {
			.addr = htonl(be[i].ip), .port = htons(be[i].port), .id = be[i].id,
			.state = be[i].state, .flags = be[i].local ? PODLANE_BACKEND_F_LOCAL : 0,
			.weight = 1, .keep = PODLANE_ALIAS_KEEP_ALL,
			.local_keep = PODLANE_ALIAS_KEEP_ALL,
		};

		if (bpf_map_update_elem(e->be_fd, &bk, &b, 0))
			return -errno;
	}
	/* Slots past the end of a shrunk service must not linger. */
	for (i = total; i < 16; i++) {
		struct lb_backend_key bk = { .svc_id = id, .slot = i };

		bpf_map_delete_elem(e->be_fd, &bk);
	}
	if (flags & PODLANE_SVC_F_MAGLEV) {
		static __u32 table[PODLANE_MAGLEV_M];
		/* The inner map's flags must be the template's (lib/lb.h). */
		LIBBPF_OPTS(bpf_map_create_opts, mopts, .map_flags = BPF_F_MMAPABLE);
		struct maglev_backend mb[32];
		int inner, err = 0;
		__u32 j;

		for (i = 0; i < count && i < 32; i++) {
			mb[i].key = be[i].id;
			mb[i].weight = 1;
		}
		if (maglev_build(mb, count, table, PODLANE_MAGLEV_M))
			return -EINVAL;
		inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "podlane_mgl", 4, 4, PODLANE_MAGLEV_M,
				       &mopts);
		if (inner < 0)
			return -errno;
		for (j = 0; j < PODLANE_MAGLEV_M && !err; j++)
			if (bpf_map_update_elem(inner, &j, &table[j], 0))
				err = -errno;
		if (!err && bpf_map_update_elem(e->maglev_fd, &id, &inner, 0))
			err = -errno;
		close(inner);
		if (err)
			return err;
	}
	return bpf_map_update_elem(e->svc_fd, &k, &v, 0) ? -errno : 0;
}

static const struct be_def web_be[] = {
	{ IP_A, 8080, 101, true }, { IP_B, 8080, 102, true }, { IP_C, 8080, 103, true },
};
static const struct be_def term_be[] = {
	{ IP_A, 8080, 301, true }, { IP_B, 8080, 302, true }, { IP_C, 8080, 303, true },
};

static int services_add(struct env *e)
{
	const struct be_def dns_be[] = { { IP_A, 53, 201, true } };
	const struct be_def remote_only[] = { { REMOTE_BE, 80, 401, false } };
	const struct be_def mixed[] = { { IP_B, 80, 501, true }, { REMOTE_BE, 80, 502, false } };
	const struct be_def cluster_be[] = { { IP_B, 80, 601, true } };
	__u32 np = PODLANE_SVC_F_NODEPORT;
	int err;

	err = svc_write(e, SVC_WEB, NODE_IP, 30080, IPPROTO_TCP, np | PODLANE_SVC_F_MAGLEV,
			web_be, 3, 3, 3);
	err = err ?: svc_write(e, SVC_DNS, NODE_IP, 30053, IPPROTO_UDP, np, dns_be, 1, 1, 1);
	err = err ?: svc_write(e, SVC_LOCAL_NONE, NODE_IP, 30090, IPPROTO_TCP,
			       np | PODLANE_SVC_F_EXT_LOCAL, remote_only, 1, 0, 1);
	err = err ?: svc_write(e, SVC_EMPTY, NODE_IP, 30091, IPPROTO_TCP, np, NULL, 0, 0, 0);
	err = err ?: svc_write(e, SVC_LOCAL_MIXED, NODE_IP, 30092, IPPROTO_TCP,
			       np | PODLANE_SVC_F_EXT_LOCAL | PODLANE_SVC_F_MAGLEV, mixed, 2, 1, 2);
	err = err ?: svc_write(e, SVC_CLUSTER, CLUSTER_IP, 80, IPPROTO_TCP, 0, cluster_be, 1, 1,
			       1);
	err = err ?: svc_write(e, SVC_REMOTE, NODE_IP, 30093, IPPROTO_TCP, np, remote_only, 1, 0,
			       1);
	err = err ?: svc_write(e, SVC_TERM, NODE_IP, 30095, IPPROTO_TCP, np, term_be, 3, 3, 3);
	return err;
}

/*
 * The programs with private maps: every LRU map of lru_size entries, podlane_ct of ct_type and
 * ct_size (the tests' own node, and small copies to fill it up), events collected.
 */
static int env_load(struct env *e, enum bpf_map_type ct_type, __u32 ct_size, __u32 lru_size)
{
	struct bpf_map *map;
	int err;

	e->ep = tc_endpoint__open();
	e->up = tc_uplink__open();
	if (!e->ep || !e->up)
		return -errno;
	tl_maps_private(e->ep->obj, MAP_SIZE);
	tl_maps_private(e->up->obj, MAP_SIZE);
	bpf_object__for_each_map(map, e->ep->obj)
		if (bpf_map__type(map) == BPF_MAP_TYPE_LRU_HASH)
			bpf_map__set_max_entries(map, lru_size);
	bpf_map__set_type(e->ep->maps.podlane_ct, ct_type);
	bpf_map__set_max_entries(e->ep->maps.podlane_ct, ct_size);
	err = tc_endpoint__load(e->ep);
	err = err ?: tl_maps_share(e->up->obj, e->ep->obj);
	err = err ?: tc_uplink__load(e->up);
	if (err) {
		tl_log("failed to load tc_endpoint and tc_uplink: %s", strerror(-err));
		return err;
	}
	e->svc_fd = bpf_map__fd(e->ep->maps.podlane_svc);
	e->be_fd = bpf_map__fd(e->ep->maps.podlane_backend);
	e->maglev_fd = bpf_map__fd(e->ep->maps.podlane_maglev);
	e->ct_fd = bpf_map__fd(e->ep->maps.podlane_ct);
	e->lbstat_fd = bpf_map__fd(e->ep->maps.podlane_lbstat);
	e->drops_fd = bpf_map__fd(e->ep->maps.podlane_drops);
	e->stat_fd = bpf_map__fd(e->ep->maps.podlane_ep_stat);
	e->from_uplink = bpf_program__fd(e->up->progs.tc_from_uplink);
	e->from_pod = bpf_program__fd(e->ep->progs.tc_from_pod);
	return tl_events_open(&e->events, bpf_map__fd(e->ep->maps.podlane_events));
}

static void env_unload(struct env *e)
{
	xdp_uplink__destroy(e->xdp);
	xdp_uplink__destroy(e->xdp_off);
	tl_events_close(&e->events);
	tc_uplink__destroy(e->up);
	tc_endpoint__destroy(e->ep);
}

/* The tests' node: namespace, devices, programs, endpoints and services. */
static int env_setup(struct env *e)
{
	int err = devices_make(e);

	err = err ?: env_load(e, BPF_MAP_TYPE_LRU_HASH, CT_SIZE, CT_SIZE);
	err = err ?: endpoints_add(e);
	return err ?: services_add(e);
}

/* Delete every entry of a hash map (keys up to 64 bytes). */
static int map_clear(int fd)
{
	__u8 key[64], next[64];

	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, sizeof(key));
		if (bpf_map_delete_elem(fd, key))
			return -errno;
	}
	return 0;
}

/* The maps as env_setup() left them; counters go on. */
static int env_reset(struct env *e)
{
	__u32 id;
	int err;

	ct_flush(e);
	err = map_clear(e->svc_fd);
	err = err ?: map_clear(e->be_fd);
	/* An array of maps: the Maglev tables of the service ids the tests use. */
	for (id = 0; id < 16 && !err; id++)
		if (bpf_map_delete_elem(e->maglev_fd, &id) && errno != ENOENT)
			err = -errno;
	err = err ?: endpoints_add(e);
	err = err ?: services_add(e);
	tl_events_drain(&e->events);
	return err;
}

/* Set up once by main(); the harness forks each test from it. */
static struct env node;

FIXTURE(nat) {
	struct env *e;
};

FIXTURE_SETUP(nat)
{
	self->e = &node;
	ASSERT_EQ(0, env_reset(self->e));
}

FIXTURE_TEARDOWN(nat)
{
}

/* What the other tests stand on: the services and endpoints read back from the maps. */
TEST_F(nat, services_and_endpoints_are_in_the_maps)
{
	static const struct {
		__u32 id, addr;
		__u16 port;
		__u8 proto;
		bool maglev;
	} svcs[] = {
		{ SVC_WEB, NODE_IP, 30080, IPPROTO_TCP, true },
		{ SVC_DNS, NODE_IP, 30053, IPPROTO_UDP },
		{ SVC_LOCAL_NONE, NODE_IP, 30090, IPPROTO_TCP },
		{ SVC_EMPTY, NODE_IP, 30091, IPPROTO_TCP },
		{ SVC_LOCAL_MIXED, NODE_IP, 30092, IPPROTO_TCP, true },
		{ SVC_CLUSTER, CLUSTER_IP, 80, IPPROTO_TCP },
		{ SVC_REMOTE, NODE_IP, 30093, IPPROTO_TCP },
		{ SVC_TERM, NODE_IP, 30095, IPPROTO_TCP },
	};
	struct env *e = self->e;
	struct endpoint_value val;
	struct lb_service svc;
	size_t i;
	__u32 inner;

	for (i = 0; i < ARRAY_SIZE(svcs); i++) {
		struct lb_service_key k = { .addr = htonl(svcs[i].addr),
					    .port = htons(svcs[i].port), .proto = svcs[i].proto };

		ASSERT_EQ(0, bpf_map_lookup_elem(e->svc_fd, &k, &svc))
			TH_LOG("service %u", svcs[i].id);
		EXPECT_EQ(svcs[i].id, svc.id);
		if (svcs[i].maglev)
			EXPECT_EQ(0, bpf_map_lookup_elem(e->maglev_fd, &svcs[i].id, &inner))
				TH_LOG("no Maglev table for service %u", svcs[i].id);
	}
	for (i = 0; i < ARRAY_SIZE(endpoints); i++) {
		struct endpoint_key key = { .addr.family = PODLANE_AF_INET,
					    .addr.ip4 = htonl(endpoints[i].ip) };

		ASSERT_EQ(0, bpf_map_lookup_elem(bpf_map__fd(e->ep->maps.podlane_eps), &key, &val));
		EXPECT_EQ(e->ifindex[endpoints[i].role], val.ifindex);
		EXPECT_EQ(PODLANE_EP_F_READY | PODLANE_EP_F_LB_BACKEND, val.flags);
	}
}

/* Table: one packet from outside, what must come out ---------------------------------------- */

FIXTURE(from_outside) {
	struct env *e;
};

FIXTURE_VARIANT(from_outside) {
	struct flow f;
	int retval;
	int reason;		/* drop reason behind TC_ACT_SHOT */
	__u32 to_ip;		/* DNAT target (host order); 0: unchanged */
	__u16 to_port;
	enum role delivered;	/* redirected into this pod (MACs rewritten) */
};

#define TCP_TO(sp, dst, dp)	{ CLIENT_IP, (dst), (sp), (dp) }

FIXTURE_VARIANT_ADD(from_outside, udp_nodeport_dnat_to_the_only_backend_checksums_valid) {
	.f = { CLIENT_IP, NODE_IP, 41000, 30053, IPPROTO_UDP },
	.retval = TC_ACT_REDIRECT, .to_ip = IP_A, .to_port = 53, .delivered = R_A,
};

FIXTURE_VARIANT_ADD(from_outside, udp_nodeport_without_checksum_dnat_keeps_checksum_0) {
	.f = { CLIENT_IP, NODE_IP, 41001, 30053, IPPROTO_UDP, .udp_nocsum = true },
	.retval = TC_ACT_REDIRECT, .to_ip = IP_A, .to_port = 53, .delivered = R_A,
};

FIXTURE_VARIANT_ADD(from_outside, clusterip_reached_from_the_uplink_dnat_to_its_backend) {
	.f = TCP_TO(42000, CLUSTER_IP, 80),
	.retval = TC_ACT_REDIRECT, .to_ip = IP_B, .to_port = 80, .delivered = R_B,
};

FIXTURE_VARIANT_ADD(from_outside, external_traffic_policy_local_no_local_backend_dropped) {
	.f = TCP_TO(42002, NODE_IP, 30090),
	.retval = TC_ACT_SHOT, .reason = PODLANE_DROP_NO_LOCAL_BACKEND,
};

FIXTURE_VARIANT_ADD(from_outside, service_without_backends_dropped_no_backend) {
	.f = TCP_TO(42003, NODE_IP, 30091),
	.retval = TC_ACT_SHOT, .reason = PODLANE_DROP_NO_BACKEND,
};

FIXTURE_VARIANT_ADD(from_outside, first_fragment_to_a_nodeport_dropped_service_fragment) {
	.f = { CLIENT_IP, NODE_IP, 42004, 30053, IPPROTO_UDP, .frag_off = 0x2000 },
	.retval = TC_ACT_SHOT, .reason = PODLANE_DROP_SERVICE_FRAGMENT,
};

FIXTURE_VARIANT_ADD(from_outside, nodeport_port_nobody_serves_passes_untouched) {
	.f = TCP_TO(42005, NODE_IP, 31999),
	.retval = TC_ACT_OK,
};

FIXTURE_VARIANT_ADD(from_outside, same_port_other_protocol_udp_30080_passes_untouched) {
	.f = { CLIENT_IP, NODE_IP, 42006, 30080, IPPROTO_UDP },
	.retval = TC_ACT_OK,
};

FIXTURE_SETUP(from_outside)
{
	self->e = &node;
	ASSERT_EQ(0, env_reset(self->e));
}

FIXTURE_TEARDOWN(from_outside)
{
}

static bool mac_is(const __u8 *got, const __u8 *want)
{
	return !memcmp(got, want, ETH_ALEN);
}

/* The packet through tc_from_uplink: dropped with its reason, passed untouched or translated. */
TEST_F(from_outside, packet)
{
	const struct flow *f = &variant->f;
	struct env *e = self->e;
	__u64 ct_before, drops_before = variant->reason ? node_drops(e, variant->reason) : 0;
	__u8 proto = f->proto ? f->proto : IPPROTO_TCP;
	struct ct_entry ct;
	struct result r;

	tl_events_drain(&e->events);
	ct_before = lbstat(e, PODLANE_LB_NAT_NEW);
	send_flow(e, R_UP, f, &r);
	tl_events_poll(&e->events);
	ASSERT_EQ(0, r.err);
	ASSERT_EQ(variant->retval, r.retval);
	if (variant->reason) {
		EXPECT_EQ(drops_before + 1, node_drops(e, variant->reason))
			TH_LOG("drop of %s not counted", tl_reason_name(variant->reason));
		ASSERT_EQ(1, e->events.n) TH_LOG("drop events");
		EXPECT_EQ(variant->reason, e->events.ev[0].reason);
		EXPECT_EQ(PODLANE_HOOK_FROM_UPLINK, e->events.ev[0].hook);
		return;
	}
	if (!variant->to_ip) {
		EXPECT_EQ(f->daddr, r.s.daddr) TH_LOG("passing packet was rewritten");
		EXPECT_EQ(f->dport, r.s.dport) TH_LOG("passing packet was rewritten");
		return;
	}
	EXPECT_EQ(variant->to_ip, r.s.daddr);
	EXPECT_EQ(variant->to_port, r.s.dport);
	EXPECT_EQ(f->saddr, r.s.saddr) TH_LOG("the client's address must be kept");
	EXPECT_EQ(f->sport, r.s.sport);
	EXPECT_TRUE(r.s.l3_ok) TH_LOG("ipv4 checksum");
	EXPECT_TRUE(r.s.l4_ok) TH_LOG("l4 checksum");
	if (f->udp_nocsum)
		EXPECT_EQ(0, r.s.l4_check) TH_LOG("udp checksum 0 became 0x%04x",
						  ntohs(r.s.l4_check));
	if (variant->delivered) {
		EXPECT_TRUE(mac_is(r.s.dmac, endpoints[variant->delivered - R_A].pod_mac));
		EXPECT_TRUE(mac_is(r.s.smac, endpoints[variant->delivered - R_A].host_mac));
		EXPECT_EQ(63, r.s.ttl);
	}
	ASSERT_EQ(0, ct_get(e, f->saddr, f->daddr, f->sport, f->dport, proto,
			    PODLANE_CT_ORIGINAL, &ct));
	EXPECT_EQ(htonl(variant->to_ip), ct.nat_addr);
	EXPECT_EQ(htons(variant->to_port), ct.nat_port);
	ASSERT_EQ(0, ct_get(e, variant->to_ip, f->saddr, variant->to_port, f->sport, proto,
			    PODLANE_CT_REPLY, &ct));
	EXPECT_EQ(htonl(f->daddr), ct.nat_addr);
	EXPECT_EQ(htons(f->dport), ct.nat_port);
	EXPECT_EQ(ct_before + 1, lbstat(e, PODLANE_LB_NAT_NEW));
}

/* Scenarios ------------------------------------------------------------------------------- */

/* Which backend pod a NodePort flow was sent to; R_NONE when not redirected to one. */
static enum role flow_backend(struct env *e, const struct flow *f, struct result *r)
{
	send_flow(e, R_UP, f, r);
	if (r->err || r->retval != TC_ACT_REDIRECT)
		return R_NONE;
	return role_of_ip(r->s.daddr);
}

static struct flow web_flow(__u16 sport, bool ack)
{
	struct flow f = { CLIENT_IP, NODE_IP, sport, 30080, IPPROTO_TCP, .ack = ack };

	return f;
}

/*
 * The life of one NodePort TCP connection, flow 40000 to the web service: SYN, five ACKs, the
 * backend's SYN-ACK, the client's FIN. Each step checks what its test asserts; a later test
 * replays the steps before its own.
 */
static enum role tcp_syn(struct __test_metadata *_metadata, struct env *e)
{
	struct flow syn = web_flow(40000, false);
	struct ct_entry orig;
	struct result r;
	enum role be;

	be = flow_backend(e, &syn, &r);
	ASSERT_NE(R_NONE, be) TH_LOG("SYN not redirected to a backend pod (retval %d)", r.retval);
	tl_log("flow 40000 went to %s", role_dev[be]);
	EXPECT_EQ(8080, r.s.dport);
	EXPECT_TRUE(r.s.l3_ok);
	EXPECT_TRUE(r.s.l4_ok);
	EXPECT_EQ(63, r.s.ttl);
	EXPECT_EQ(CLIENT_IP, r.s.saddr);
	EXPECT_EQ(40000, r.s.sport);
	ASSERT_EQ(0, ct_get(e, CLIENT_IP, NODE_IP, 40000, 30080, IPPROTO_TCP, PODLANE_CT_ORIGINAL,
			    &orig));
	EXPECT_EQ(PODLANE_CT_F_SYN_SEEN | PODLANE_CT_F_LOCAL, orig.flags);
	EXPECT_EQ(1, orig.packets);
	EXPECT_EQ(SVC_WEB, orig.svc_id);
	return be;
}

static void tcp_acks(struct __test_metadata *_metadata, struct env *e, enum role be)
{
	struct flow ack = web_flow(40000, true);
	__u64 hits = lbstat(e, PODLANE_LB_NAT_CT_HIT);
	struct ct_entry orig;
	struct result r;
	int i;

	for (i = 0; i < 5; i++) {
		EXPECT_EQ(be, flow_backend(e, &ack, &r));
		EXPECT_TRUE(r.s.l3_ok);
		EXPECT_TRUE(r.s.l4_ok);
	}
	EXPECT_EQ(hits + 5, lbstat(e, PODLANE_LB_NAT_CT_HIT));
	ASSERT_EQ(0, ct_get(e, CLIENT_IP, NODE_IP, 40000, 30080, IPPROTO_TCP, PODLANE_CT_ORIGINAL,
			    &orig));
	EXPECT_EQ(6, orig.packets);
}

/* The backend answers (SYN-ACK) from its pod; its endpoint's tx before and after. */
static void tcp_reply(struct __test_metadata *_metadata, struct env *e, enum role be,
		      struct endpoint_stats *st, struct endpoint_stats *st2)
{
	struct flow back = { endpoints[be - R_A].ip, CLIENT_IP, 8080, 40000, IPPROTO_TCP,
			     .tcp_flags = 0x12 };
	__u64 now = ct_now_ns(), replies;
	struct ct_entry orig, reply;
	struct result r;

	tl_ep_stats_read(e->stat_fd, e->ifindex[be], st);
	replies = lbstat(e, PODLANE_LB_NAT_REPLY);
	send_flow(e, be, &back, &r);
	tl_ep_stats_read(e->stat_fd, e->ifindex[be], st2);
	ASSERT_EQ(0, r.err);
	EXPECT_EQ(TC_ACT_REDIRECT, r.retval);
	EXPECT_EQ(NODE_IP, r.s.saddr);
	EXPECT_EQ(30080, r.s.sport);
	EXPECT_EQ(CLIENT_IP, r.s.daddr);
	EXPECT_EQ(40000, r.s.dport);
	EXPECT_TRUE(r.s.l3_ok);
	EXPECT_TRUE(r.s.l4_ok);
	EXPECT_EQ(63, r.s.ttl);
	EXPECT_TRUE(mac_is(r.s.dmac, client_mac)) TH_LOG("not sent to the client's MAC");
	EXPECT_TRUE(mac_is(r.s.smac, uplink_mac)) TH_LOG("not sent from the uplink's MAC");
	EXPECT_EQ(replies + 1, lbstat(e, PODLANE_LB_NAT_REPLY));
	ASSERT_EQ(0, ct_get(e, CLIENT_IP, NODE_IP, 40000, 30080, IPPROTO_TCP, PODLANE_CT_ORIGINAL,
			    &orig));
	ASSERT_EQ(0, ct_get(e, endpoints[be - R_A].ip, CLIENT_IP, 8080, 40000, IPPROTO_TCP,
			    PODLANE_CT_REPLY, &reply));
	EXPECT_TRUE(orig.flags & PODLANE_CT_F_ESTABLISHED);
	EXPECT_TRUE(reply.flags & PODLANE_CT_F_ESTABLISHED);
	EXPECT_LT(now + (PODLANE_CT_TCP_LIFETIME_S - 5) * 1000000000ULL, orig.expires_ns);
}

static void tcp_fin(struct __test_metadata *_metadata, struct env *e, enum role be)
{
	struct flow fin = web_flow(40000, false);
	__u64 now = ct_now_ns(), close_by = now + (PODLANE_CT_CLOSE_LIFETIME_S + 1) * 1000000000ULL;
	struct ct_entry orig, reply;
	struct result r;

	fin.tcp_flags = 0x11;	/* FIN|ACK */
	EXPECT_EQ(be, flow_backend(e, &fin, &r));
	ASSERT_EQ(0, ct_get(e, CLIENT_IP, NODE_IP, 40000, 30080, IPPROTO_TCP, PODLANE_CT_ORIGINAL,
			    &orig));
	ASSERT_EQ(0, ct_get(e, endpoints[be - R_A].ip, CLIENT_IP, 8080, 40000, IPPROTO_TCP,
			    PODLANE_CT_REPLY, &reply));
	EXPECT_TRUE(orig.flags & PODLANE_CT_F_CLOSING);
	EXPECT_TRUE(reply.flags & PODLANE_CT_F_CLOSING);
	EXPECT_GT(close_by, orig.expires_ns);
	EXPECT_GT(close_by, reply.expires_ns);
}

TEST_F(nat, nodeport_syn_dnat_to_a_maglev_chosen_local_backend_conntrack_in_syn_state)
{
	tcp_syn(_metadata, self->e);
}

TEST_F(nat, follow_up_packets_use_conntrack_same_backend_counted_as_hits)
{
	enum role be = tcp_syn(_metadata, self->e);

	tcp_acks(_metadata, self->e, be);
}

/* Source back to node:NodePort, checksums valid, to the client's MAC, both entries 6 h. */
TEST_F(nat, reply_from_the_backend_translated_back_to_the_client_both_entries_established)
{
	struct endpoint_stats st, st2;
	enum role be = tcp_syn(_metadata, self->e);

	tcp_acks(_metadata, self->e, be);
	tcp_reply(_metadata, self->e, be, &st, &st2);
}

TEST_F(nat, the_reply_counts_as_tx_of_the_backend_endpoint)
{
	struct endpoint_stats st, st2;
	enum role be = tcp_syn(_metadata, self->e);

	tcp_acks(_metadata, self->e, be);
	tcp_reply(_metadata, self->e, be, &st, &st2);
	EXPECT_EQ(st.tx_packets + 1, st2.tx_packets);
}

TEST_F(nat, fin_from_the_client_both_entries_closing_10_s_lifetime)
{
	struct endpoint_stats st, st2;
	enum role be = tcp_syn(_metadata, self->e);

	tcp_acks(_metadata, self->e, be);
	tcp_reply(_metadata, self->e, be, &st, &st2);
	tcp_fin(_metadata, self->e, be);
}

/* Another reply path: the client sits behind a gateway whose MAC is not known yet. */
TEST_F(nat, reply_to_a_client_behind_an_unresolved_gateway_bpf_redirect_neigh_resolves_it)
{
	struct flow syn = { FAR_CLIENT_IP, NODE_IP, 40100, 30080, IPPROTO_TCP };
	struct env *e = self->e;
	struct result r;
	enum role be = flow_backend(e, &syn, &r);
	struct flow back = { 0, FAR_CLIENT_IP, 8080, 40100, IPPROTO_TCP, .tcp_flags = 0x12 };

	ASSERT_NE(R_NONE, be);
	back.saddr = endpoints[be - R_A].ip;
	send_flow(e, be, &back, &r);
	ASSERT_EQ(0, r.err);
	EXPECT_EQ(TC_ACT_REDIRECT, r.retval);
	EXPECT_EQ(NODE_IP, r.s.saddr);
	EXPECT_EQ(30080, r.s.sport);
	EXPECT_TRUE(r.s.l3_ok);
	EXPECT_TRUE(r.s.l4_ok);
}

/*
 * NodePort whose only backend is on another node (PODLANE_CT_F_SNAT): DNAT and SNAT to the
 * node address and a port of the SNAT range, both entries written; the node of the backend is
 * unknown here (no podlane_nodes entry), so the stack gets it. Returns the SNAT port.
 */
static __u16 remote_snat_syn(struct __test_metadata *_metadata, struct env *e)
{
	struct flow syn = { CLIENT_IP, NODE_IP, 42001, 30093, IPPROTO_TCP };
	struct ct_entry orig = {}, reply = {};
	struct result r;
	__u16 port;

	send_flow(e, R_UP, &syn, &r);
	port = r.s.sport;
	tl_log("SNAT to node:%u", port);
	ASSERT_EQ(0, r.err);
	EXPECT_EQ(TC_ACT_OK, r.retval);
	EXPECT_EQ(REMOTE_BE, r.s.daddr);
	EXPECT_EQ(80, r.s.dport);
	EXPECT_EQ(NODE_IP, r.s.saddr);
	EXPECT_LE(PODLANE_SNAT_PORT_MIN, port);
	EXPECT_TRUE(r.s.l3_ok);
	EXPECT_TRUE(r.s.l4_ok);
	ASSERT_EQ(0, ct_get(e, CLIENT_IP, NODE_IP, 42001, 30093, IPPROTO_TCP, PODLANE_CT_ORIGINAL,
			    &orig));
	ASSERT_EQ(0, ct_get(e, REMOTE_BE, NODE_IP, 80, port, IPPROTO_TCP, PODLANE_CT_REPLY,
			    &reply));
	EXPECT_TRUE(orig.flags & PODLANE_CT_F_SNAT);
	EXPECT_EQ(htonl(REMOTE_BE), orig.nat_addr);
	EXPECT_EQ(htonl(NODE_IP), orig.rev_addr);
	EXPECT_EQ(htons(port), orig.rev_port);
	EXPECT_TRUE(reply.flags & PODLANE_CT_F_SNAT);
	EXPECT_EQ(htonl(NODE_IP), reply.nat_addr);
	EXPECT_EQ(htons(30093), reply.nat_port);
	EXPECT_EQ(htonl(CLIENT_IP), reply.rev_addr);
	EXPECT_EQ(htons(42001), reply.rev_port);
	return port;
}

TEST_F(nat, nodeport_with_only_a_remote_backend_dnat_and_snat_the_stack_routes_it)
{
	remote_snat_syn(_metadata, self->e);
}

/* Its answer on the uplink: source back to node:30093, destination back to the client. */
TEST_F(nat, remote_backends_answer_on_the_uplink_translated_back_to_the_client)
{
	struct env *e = self->e;
	__u16 port = remote_snat_syn(_metadata, e);
	struct flow back = { REMOTE_BE, NODE_IP, 80, port, IPPROTO_TCP, .tcp_flags = 0x12 };
	struct result r;

	send_flow(e, R_UP, &back, &r);
	ASSERT_EQ(0, r.err);
	EXPECT_TRUE(r.retval == TC_ACT_REDIRECT || r.retval == TC_ACT_OK)
		TH_LOG("retval %d", r.retval);
	EXPECT_EQ(NODE_IP, r.s.saddr);
	EXPECT_EQ(30093, r.s.sport);
	EXPECT_EQ(CLIENT_IP, r.s.daddr);
	EXPECT_EQ(42001, r.s.dport);
	EXPECT_TRUE(r.s.l3_ok);
	EXPECT_TRUE(r.s.l4_ok);
}

/* Set or clear a flag on the endpoint of role, as the agent does. */
static int ep_flag(struct env *e, enum role role, __u32 flag, bool on)
{
	int fd = bpf_map__fd(e->ep->maps.podlane_eps);
	struct endpoint_value val;
	struct endpoint_key key;

	memset(&key, 0, sizeof(key));
	key.addr.family = PODLANE_AF_INET;
	key.addr.ip4 = htonl(endpoints[role - R_A].ip);
	if (bpf_map_lookup_elem(fd, &key, &val))
		return -errno;
	val.flags = on ? val.flags | flag : val.flags & ~flag;
	return bpf_map_update_elem(fd, &key, &val, BPF_EXIST) ? -errno : 0;
}

static int ep_backend_flag(struct env *e, enum role role, bool on)
{
	return ep_flag(e, role, PODLANE_EP_F_LB_BACKEND, on);
}

/*
 * tc_from_pod looks for replies only in the packets of endpoints flagged as service backends:
 * the reply of a tracked flow (flow 40200) passes untouched from an unflagged endpoint.
 * Returns the backend, with the reply in *back.
 */
static enum role reply_unflagged(struct __test_metadata *_metadata, struct env *e,
				 struct flow *back)
{
	struct flow syn = web_flow(40200, false);
	struct result r;
	__u64 replies;
	enum role be;

	be = flow_backend(e, &syn, &r);
	ASSERT_NE(R_NONE, be);
	ASSERT_EQ(0, ep_backend_flag(e, be, false));
	*back = (struct flow){ endpoints[be - R_A].ip, CLIENT_IP, 8080, 40200, IPPROTO_TCP,
			       .tcp_flags = 0x12 };
	replies = lbstat(e, PODLANE_LB_NAT_REPLY);
	send_flow(e, be, back, &r);
	ASSERT_EQ(0, r.err);
	EXPECT_NE(TC_ACT_SHOT, r.retval);
	EXPECT_EQ(back->saddr, r.s.saddr);
	EXPECT_EQ(8080, r.s.sport);
	EXPECT_EQ(replies, lbstat(e, PODLANE_LB_NAT_REPLY));
	return be;
}

TEST_F(nat, reply_of_a_tracked_flow_from_an_endpoint_without_the_lb_backend_flag_untranslated)
{
	struct flow back;

	reply_unflagged(_metadata, self->e, &back);
}

TEST_F(nat, the_same_reply_once_the_endpoint_is_flagged_source_back_to_node_nodeport)
{
	struct env *e = self->e;
	struct flow back;
	struct result r;
	enum role be = reply_unflagged(_metadata, e, &back);
	__u64 replies;

	ASSERT_EQ(0, ep_backend_flag(e, be, true));
	replies = lbstat(e, PODLANE_LB_NAT_REPLY);
	send_flow(e, be, &back, &r);
	ASSERT_EQ(0, r.err);
	EXPECT_EQ(TC_ACT_REDIRECT, r.retval);
	EXPECT_EQ(NODE_IP, r.s.saddr);
	EXPECT_EQ(30080, r.s.sport);
	EXPECT_TRUE(r.s.l3_ok);
	EXPECT_TRUE(r.s.l4_ok);
	EXPECT_EQ(replies + 1, lbstat(e, PODLANE_LB_NAT_REPLY));
}

/* Pod traffic that is no reply keeps its source. */
TEST_F(nat, pod_packet_matching_no_translated_flow_passes_with_its_own_source)
{
	struct flow f = { IP_A, CLIENT_IP, 8080, 40999, IPPROTO_TCP, .ack = true };
	struct result r;

	send_flow(self->e, R_A, &f, &r);
	ASSERT_EQ(0, r.err);
	EXPECT_EQ(TC_ACT_OK, r.retval);
	EXPECT_EQ(IP_A, r.s.saddr);
	EXPECT_EQ(8080, r.s.sport);
}

/*
 * The backend of an established flow (flow 40000 after its FIN) leaves the service: its flows
 * stay with it (conntrack holds it), new flows never reach it. Returns that backend.
 */
static enum role backend_removed(struct __test_metadata *_metadata, struct env *e)
{
	struct endpoint_stats st, st2;
	struct be_def rest[3];
	enum role gone;
	int i, n = 0;

	gone = tcp_syn(_metadata, e);
	tcp_acks(_metadata, e, gone);
	tcp_reply(_metadata, e, gone, &st, &st2);
	tcp_fin(_metadata, e, gone);
	for (i = 0; i < 3; i++)
		if (role_of_ip(web_be[i].ip) != gone)
			rest[n++] = web_be[i];
	ASSERT_EQ(0, svc_write(e, SVC_WEB, NODE_IP, 30080, IPPROTO_TCP,
			       PODLANE_SVC_F_NODEPORT | PODLANE_SVC_F_MAGLEV, rest, n, n, n));
	return gone;
}

TEST_F(nat, removing_its_backend_from_the_service_keeps_an_established_flow_on_it)
{
	struct flow ack = web_flow(40000, true);
	enum role gone = backend_removed(_metadata, self->e);
	struct result r;

	EXPECT_EQ(gone, flow_backend(self->e, &ack, &r));
}

TEST_F(nat, new_flows_300_all_avoid_the_removed_backend)
{
	enum role gone = backend_removed(_metadata, self->e);
	int i, hits_gone = 0, bad = 0;
	struct result r;

	for (i = 0; i < 300; i++) {
		struct flow f = web_flow(50000 + i, false);
		enum role be = flow_backend(self->e, &f, &r);

		hits_gone += be == gone;
		bad += be == R_NONE;
	}
	EXPECT_EQ(0, hits_gone) TH_LOG("new flows went to the removed backend");
	EXPECT_EQ(0, bad) TH_LOG("new flows failed");
}

/*
 * A backend turned terminating in place (before the agent repacks): an established flow that
 * landed on C, then C terminating. Returns that flow (an ACK of it).
 */
static struct flow terminating_c(struct __test_metadata *_metadata, struct env *e)
{
	struct flow old = { CLIENT_IP, NODE_IP, 0, 30095, IPPROTO_TCP };
	struct be_def be[3];
	struct result r;
	int i;

	for (i = 0; i < 200; i++) {
		old.sport = 45000 + i;
		old.ack = false;
		if (flow_backend(e, &old, &r) == R_C)
			break;
	}
	ASSERT_LT(i, 200) TH_LOG("no flow of 200 landed on C");
	memcpy(be, term_be, sizeof(be));
	be[2].state = PODLANE_BACKEND_TERMINATING;
	ASSERT_EQ(0, svc_write(e, SVC_TERM, NODE_IP, 30095, IPPROTO_TCP, PODLANE_SVC_F_NODEPORT, be,
			       3, 3, 3));
	old.ack = true;
	return old;
}

TEST_F(nat, terminating_backend_keeps_its_established_flow)
{
	struct flow old = terminating_c(_metadata, self->e);
	struct result r;

	EXPECT_EQ(R_C, flow_backend(self->e, &old, &r));
}

TEST_F(nat, terminating_backend_gets_no_new_flows_300_tried)
{
	int i, to_c = 0, bad = 0;
	struct result r;

	terminating_c(_metadata, self->e);
	for (i = 0; i < 300; i++) {
		struct flow f = { CLIENT_IP, NODE_IP, 46000 + i, 30095, IPPROTO_TCP };
		enum role got = flow_backend(self->e, &f, &r);

		to_c += got == R_C;
		bad += got == R_NONE;
	}
	EXPECT_EQ(0, to_c) TH_LOG("new flows went to the terminating backend");
	EXPECT_EQ(0, bad) TH_LOG("new flows failed");
}

TEST_F(nat, external_traffic_policy_local_with_a_local_and_a_remote_backend_100_flows_local)
{
	struct result r;
	int i, local = 0;

	for (i = 0; i < 100; i++) {
		struct flow f = { CLIENT_IP, NODE_IP, 47000 + i, 30092, IPPROTO_TCP };

		local += flow_backend(self->e, &f, &r) == R_B;
	}
	EXPECT_EQ(100, local);
}

/* Maglev disruption ----------------------------------------------------------------------- */

#define SPREAD_N	10
#define SPREAD_FLOWS	5000

static int spread_write(struct env *e, int skip)
{
	struct be_def be[SPREAD_N];
	int i, n = 0;

	for (i = 0; i < SPREAD_N; i++) {
		if (i == skip)
			continue;
		be[n].ip = IP4(10, 244, 2, 1 + i);
		be[n].port = 80;
		be[n].id = 700 + i;
		be[n].local = false;
		be[n].state = 0;
		n++;
	}
	return svc_write(e, SVC_SPREAD, NODE_IP, 30094, IPPROTO_TCP,
			 PODLANE_SVC_F_NODEPORT | PODLANE_SVC_F_MAGLEV, be, n, 0, n);
}

/* The backend (last octet) each of SPREAD_FLOWS flows is translated to; 0 on failure. */
static void spread_run(struct env *e, __u8 *dst)
{
	struct result r;
	int i;

	for (i = 0; i < SPREAD_FLOWS; i++) {
		struct flow f = { IP4(198, 18, (i >> 8) & 0xff, i & 0xff), NODE_IP,
				  (__u16)(20000 + i * 7), 30094, IPPROTO_TCP };

		send_flow(e, R_UP, &f, &r);
		dst[i] = !r.err && r.retval == TC_ACT_OK && (r.s.daddr >> 8) == IP4(0, 10, 244, 2) ?
			 r.s.daddr & 0xff : 0;
	}
}

/* 5000 flows to the Maglev service over 10 (remote) backends; failed ones counted. */
static int spread_before(struct __test_metadata *_metadata, struct env *e, __u8 *before)
{
	int i, failed = 0;

	ASSERT_EQ(0, spread_write(e, -1)) TH_LOG("Maglev service with 10 backends");
	ct_flush(e);
	spread_run(e, before);
	for (i = 0; i < SPREAD_FLOWS; i++)
		failed += !before[i];
	return failed;
}

TEST_F(nat, maglev_spreads_5000_flows_over_10_backends_each_share_within_0_07_to_0_13)
{
	static __u8 before[SPREAD_FLOWS];
	int per_be[SPREAD_N + 1] = {};
	double min_share = 1.0, max_share = 0.0;
	int i, failed = spread_before(_metadata, self->e, before);

	for (i = 0; i < SPREAD_FLOWS; i++)
		if (before[i] && before[i] <= SPREAD_N)
			per_be[before[i]]++;
	for (i = 1; i <= SPREAD_N; i++) {
		double s = (double)per_be[i] / SPREAD_FLOWS;

		min_share = s < min_share ? s : min_share;
		max_share = s > max_share ? s : max_share;
	}
	tl_log("Maglev over 10 backends, %d flows: shares %.3f .. %.3f", SPREAD_FLOWS, min_share,
	       max_share);
	EXPECT_EQ(0, failed);
	EXPECT_LT(0.07, min_share);
	EXPECT_GT(0.13, max_share);
}

/* Remove backend 10.244.2.5, forget all flows, send the same flows again. */
TEST_F(nat, maglev_removing_1_of_10_backends_moves_about_1_10_of_flows_excess_below_3_percent)
{
	static __u8 before[SPREAD_FLOWS], after[SPREAD_FLOWS];
	struct env *e = self->e;
	int i, removed = 4, on_removed = 0, moved = 0, moved_other = 0, failed;
	double excess;

	failed = spread_before(_metadata, e, before);
	ASSERT_EQ(0, spread_write(e, removed));
	ct_flush(e);
	spread_run(e, after);
	for (i = 0; i < SPREAD_FLOWS; i++) {
		failed += !after[i];
		if (before[i] == removed + 1)
			on_removed++;
		if (before[i] != after[i]) {
			moved++;
			if (before[i] != removed + 1)
				moved_other++;
		}
		if (after[i] == removed + 1)
			failed++;
	}
	excess = (double)moved_other / SPREAD_FLOWS;
	tl_log("removed 1 of 10 backends: %d of %d flows moved (%.2f%%): %d were on it (%.2f%%), "
	       "%d others moved (%.2f%% excess over the minimum 1/N)", moved, SPREAD_FLOWS,
	       100.0 * moved / SPREAD_FLOWS, on_removed, 100.0 * on_removed / SPREAD_FLOWS,
	       moved_other, 100.0 * excess);
	EXPECT_EQ(0, failed);
	EXPECT_LE(on_removed, moved);
	EXPECT_GT(0.03, excess);
	EXPECT_GT(0.1 + 0.04, (double)moved / SPREAD_FLOWS);
}

/* Conntrack capacity ---------------------------------------------------------------------- */

/* A second, private copy of the programs with podlane_ct of another type and size. */
static int env_load_small(struct env *f, const struct env *e, enum bpf_map_type ct_type,
			  __u32 ct_size)
{
	int err;

	memcpy(f->ifindex, e->ifindex, sizeof(f->ifindex));
	err = env_load(f, ct_type, ct_size, 64);
	err = err ?: endpoints_add(f);
	return err ?: svc_write(f, SVC_WEB, NODE_IP, 30080, IPPROTO_TCP,
				PODLANE_SVC_F_NODEPORT | PODLANE_SVC_F_MAGLEV, web_be, 3, 3, 3);
}

/*
 * An LRU map makes room by evicting, so a real insert failure cannot be provoked on demand.
 * The drop path is exercised by loading the same programs with podlane_ct as a plain hash
 * of 2 entries (one flow), where the second flow's insert fails with E2BIG: the new flow is
 * dropped with reason ct_full, counted node-wide and reported; the tracked flow goes on.
 */
TEST_F(nat, ct_full_map_of_2_entries_new_flow_dropped_ct_full_tracked_flow_goes_on)
{
	struct flow one = web_flow(40500, false), two = web_flow(40501, false);
	struct env f = {};
	struct result r;
	__u64 before;
	int err;

	err = env_load_small(&f, self->e, BPF_MAP_TYPE_HASH, 2);
	if (err)
		env_unload(&f);
	ASSERT_EQ(0, err) TH_LOG("ct full: setup failed: %s", strerror(-err));
	send_flow(&f, R_UP, &one, &r);
	EXPECT_EQ(0, r.err);
	EXPECT_EQ(TC_ACT_REDIRECT, r.retval);
	before = node_drops(&f, PODLANE_DROP_CT_FULL);
	tl_events_drain(&f.events);
	send_flow(&f, R_UP, &two, &r);
	tl_events_poll(&f.events);
	EXPECT_EQ(0, r.err);
	EXPECT_EQ(TC_ACT_SHOT, r.retval);
	EXPECT_EQ(before + 1, node_drops(&f, PODLANE_DROP_CT_FULL));
	EXPECT_EQ(1, f.events.n);
	EXPECT_EQ(PODLANE_DROP_CT_FULL, f.events.ev[0].reason);
	one.ack = true;
	send_flow(&f, R_UP, &one, &r);
	EXPECT_EQ(0, r.err);
	EXPECT_EQ(TC_ACT_REDIRECT, r.retval);
	env_unload(&f);
}

/*
 * A tiny LRU conntrack (32 entries): flows evict each other instead of failing. 200 new
 * flows; the backend of the first in *first.
 */
static void lru_flows(struct __test_metadata *_metadata, struct env *f, const struct env *e,
		      enum role *first)
{
	struct ct_gc_stats st;
	struct result r;
	int i, lost = 0, err;
	__u64 full;

	err = env_load_small(f, e, BPF_MAP_TYPE_LRU_HASH, 32);
	ASSERT_EQ(0, err) TH_LOG("lru: setup failed: %s", strerror(-err));
	full = node_drops(f, PODLANE_DROP_CT_FULL);
	for (i = 0; i < 200; i++) {
		struct flow fl = web_flow(48000 + i, false);
		enum role got = flow_backend(f, &fl, &r);

		if (i == 0)
			*first = got;
		lost += got == R_NONE;
	}
	err = ct_gc(f->ct_fd, ct_now_ns(), &st, NULL, NULL);
	tl_log("after 200 flows: %llu live entries in a map of %u, %d flows not translated",
	       (unsigned long long)st.live, st.max_entries, lost);
	EXPECT_EQ(0, err);
	EXPECT_EQ(0, lost);
	EXPECT_GE(32, st.live);
	EXPECT_LT(0, st.live);
	EXPECT_EQ(32, st.max_entries);
	EXPECT_EQ(full, node_drops(f, PODLANE_DROP_CT_FULL));
}

/* Its own small copy of the programs, on the node's devices. */
FIXTURE(lru) {
	struct env small;
};

FIXTURE_SETUP(lru)
{
}

FIXTURE_TEARDOWN(lru)
{
	env_unload(&self->small);
}

/* None dropped, occupancy stays within the map (the collector's count). */
TEST_F(lru, conntrack_of_32_entries_200_new_flows_none_dropped_occupancy_within_the_map)
{
	enum role first;

	lru_flows(_metadata, &self->small, &node, &first);
}

TEST_F(lru, a_flow_whose_entries_were_evicted_is_counted_ct_midflow_and_keeps_its_backend)
{
	struct flow fl = web_flow(48000, true);
	enum role first = R_NONE;
	struct result r;
	__u64 midflow;

	lru_flows(_metadata, &self->small, &node, &first);
	midflow = lbstat(&self->small, PODLANE_LB_CT_MIDFLOW);
	EXPECT_EQ(first, flow_backend(&self->small, &fl, &r));
	EXPECT_EQ(midflow + 1, lbstat(&self->small, PODLANE_LB_CT_MIDFLOW));
}

/* NodePort at XDP -------------------------------------------------------------------------- */

/* A frame through xdp_from_uplink; returns the XDP verdict or -errno. */
static int xdp_run(int prog, const struct flow *f)
{
	TL_FRAME(pkt, PKT_MAX);
	size_t len = build(f, pkt.b);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.b, .data_size_in = len,
		    .repeat = 1);

	if (bpf_prog_test_run_opts(prog, &opts))
		return -errno;
	return opts.retval;
}

/* xdp_uplink on the tc objects' maps (the deny lists stay private); NULL with errno set. */
static struct xdp_uplink *xdp_load(struct env *e, bool fastpath)
{
	struct xdp_uplink *x = xdp_uplink__open();
	struct bpf_map *map;
	int err = x ? 0 : -errno;

	if (!x)
		return NULL;
	bpf_object__for_each_map(map, x->obj) {
		struct bpf_map *theirs;

		bpf_map__set_pin_path(map, NULL);
		theirs = bpf_object__find_map_by_name(e->ep->obj, bpf_map__name(map));
		if (theirs && !strncmp(bpf_map__name(map), "podlane_", 8))
			err = err ?: bpf_map__reuse_fd(map, bpf_map__fd(theirs));
		else if (bpf_map__type(map) == BPF_MAP_TYPE_LPM_TRIE)
			bpf_map__set_max_entries(map, 16);
	}
	x->rodata->nodeport_fastpath = fastpath;
	err = err ?: xdp_uplink__load(x);
	if (err) {
		tl_log("failed to load 'xdp_uplink': %s", strerror(-err));
		xdp_uplink__destroy(x);
		errno = -err;
		return NULL;
	}
	return x;
}

/* A frame through an XDP program: verdict and output frame in r, run time in *ns. */
static void xdp_run_out(int prog, const __u8 *pkt, size_t len, struct result *r, __u32 *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = pkt,
		.data_size_in = len,
		.data_out = r->out.b,
		.data_size_out = sizeof(r->out.b),
		.repeat = 1,
	);

	memset(&r->s, 0, sizeof(r->s));
	r->err = bpf_prog_test_run_opts(prog, &opts) ? -errno : 0;
	r->retval = (int)opts.retval;
	if (ns)
		*ns = opts.duration;
	if (!r->err && opts.data_size_out >= ETH_HLEN + 28)
		parse_out(r->out.b, &r->s);
}

/* The tests' node with xdp_uplink on its maps: fast path on (e.xdp) and off (e.xdp_off). */
FIXTURE(xdp) {
	struct env *e;
	int prog;
};

FIXTURE_SETUP(xdp)
{
	self->e = &node;
	ASSERT_EQ(0, env_reset(self->e));
	self->e->xdp = xdp_load(self->e, true);
	ASSERT_NE(NULL, self->e->xdp) TH_LOG("xdp_uplink (fast path on) does not load");
	self->e->xdp_off = xdp_load(self->e, false);
	ASSERT_NE(NULL, self->e->xdp_off) TH_LOG("xdp_uplink (fast path off) does not load");
	self->prog = bpf_program__fd(self->e->xdp->progs.xdp_from_uplink);
}

FIXTURE_TEARDOWN(xdp)
{
	xdp_uplink__destroy(self->e->xdp);
	xdp_uplink__destroy(self->e->xdp_off);
}

/* Before an skb exists: no_local_backend, counted. */
TEST_F(xdp, nodeport_with_etp_local_and_no_local_backend_is_dropped)
{
	struct flow f = { CLIENT_IP, NODE_IP, 43000, 30090, IPPROTO_TCP };
	__u64 nolocal = node_drops(self->e, PODLANE_DROP_NO_LOCAL_BACKEND);

	EXPECT_EQ(XDP_DROP, xdp_run(self->prog, &f));
	EXPECT_EQ(nolocal + 1, node_drops(self->e, PODLANE_DROP_NO_LOCAL_BACKEND));
}

TEST_F(xdp, nodeport_without_any_backend_is_dropped_no_backend_counted)
{
	struct flow f = { CLIENT_IP, NODE_IP, 43001, 30091, IPPROTO_TCP };
	__u64 nobe = node_drops(self->e, PODLANE_DROP_NO_BACKEND);

	EXPECT_EQ(XDP_DROP, xdp_run(self->prog, &f));
	EXPECT_EQ(nobe + 1, node_drops(self->e, PODLANE_DROP_NO_BACKEND));
}

TEST_F(xdp, nodeport_with_backends_passes_on_to_tc_for_translation)
{
	struct flow f = web_flow(43002, false);

	EXPECT_EQ(XDP_PASS, xdp_run(self->prog, &f));
}

/* A tracked flow of a service that just lost its last backend keeps going. */
TEST_F(xdp, a_tracked_flow_passes_after_its_service_lost_every_backend_a_new_flow_is_dropped)
{
	const struct be_def be[] = { { IP_B, 80, 801, true } };
	struct flow f = { CLIENT_IP, NODE_IP, 43003, 30096, IPPROTO_TCP };
	struct env *e = self->e;
	struct result r;

	ASSERT_EQ(0, svc_write(e, 10, NODE_IP, 30096, IPPROTO_TCP, PODLANE_SVC_F_NODEPORT, be, 1,
			       1, 1));
	ASSERT_EQ(R_B, flow_backend(e, &f, &r));
	ASSERT_EQ(0, svc_write(e, 10, NODE_IP, 30096, IPPROTO_TCP, PODLANE_SVC_F_NODEPORT, be, 0,
			       0, 0));
	f.ack = true;
	EXPECT_EQ(XDP_PASS, xdp_run(self->prog, &f));
	EXPECT_EQ(R_B, flow_backend(e, &f, &r));
	f.sport++;
	f.ack = false;
	EXPECT_EQ(XDP_DROP, xdp_run(self->prog, &f));
}

static int ep_xdp_rx_all(struct env *e, bool on)
{
	int err = 0;

	for (enum role ro = R_A; ro <= R_C; ro++)
		err = err ?: ep_flag(e, ro, PODLANE_EP_F_XDP_RX, on);
	return err;
}

static __u64 ep_rx(struct env *e, enum role ro)
{
	struct endpoint_stats st;

	if (tl_ep_stats_read(e->stat_fd, e->ifindex[ro], &st))
		return ~0ULL;
	return st.rx_packets;
}

/* A flow's next packet through XDP: redirected to its tracked pod, translated, checked. */
static bool xdp_fast_ok(struct env *e, int prog, const struct flow *f, enum role be,
			__u16 be_port)
{
	__u64 hit = lbstat(e, PODLANE_LB_NAT_CT_HIT), fast = lbstat(e, PODLANE_LB_XDP_FAST);
	__u64 rx = ep_rx(e, be);
	__u8 proto = f->proto ? f->proto : IPPROTO_TCP;
	struct ct_entry before, after;
	TL_FRAME(pkt, PKT_MAX);
	size_t len = build(f, pkt.b);
	struct result r;
	bool ok = true;

	if (ct_get(e, f->saddr, f->daddr, f->sport, f->dport, proto, PODLANE_CT_ORIGINAL,
		   &before))
		return false;
	xdp_run_out(prog, pkt.b, len, &r, NULL);
	if (r.err || r.retval != XDP_REDIRECT) {
		tl_log("xdp verdict %d (err %d), want XDP_REDIRECT", r.retval, r.err);
		return false;
	}
	if (r.s.daddr != endpoints[be - R_A].ip || r.s.dport != be_port ||
	    r.s.saddr != f->saddr || r.s.sport != f->sport || r.s.ttl != 63) {
		tl_log("xdp output %08x:%u from %08x:%u ttl %u", r.s.daddr, r.s.dport, r.s.saddr,
		       r.s.sport, r.s.ttl);
		ok = false;
	}
	if (!r.s.l3_ok || !r.s.l4_ok) {
		tl_log("xdp output checksums: ip %d, l4 %d", r.s.l3_ok, r.s.l4_ok);
		ok = false;
	}
	if (!mac_is(r.s.dmac, endpoints[be - R_A].pod_mac) ||
	    !mac_is(r.s.smac, endpoints[be - R_A].host_mac)) {
		tl_log("xdp output MACs are not host veth -> pod");
		ok = false;
	}
	if (ct_get(e, f->saddr, f->daddr, f->sport, f->dport, proto, PODLANE_CT_ORIGINAL,
		   &after) ||
	    after.packets != before.packets + 1 || after.bytes != before.bytes + len ||
	    after.expires_ns == before.expires_ns) {
		tl_log("conntrack entry not counted or refreshed by XDP");
		ok = false;
	}
	if (lbstat(e, PODLANE_LB_NAT_CT_HIT) != hit + 1 ||
	    lbstat(e, PODLANE_LB_XDP_FAST) != fast + 1 || ep_rx(e, be) != rx + 1) {
		tl_log("ct_hit/xdp_fast/endpoint rx counters did not move by one");
		ok = false;
	}
	return ok;
}

/* The same frame must come out of XDP untouched with XDP_PASS, and nothing counted. */
static bool xdp_pass_untouched(struct env *e, int prog, const struct flow *f)
{
	__u64 hit = lbstat(e, PODLANE_LB_NAT_CT_HIT), fast = lbstat(e, PODLANE_LB_XDP_FAST);
	TL_FRAME(pkt, PKT_MAX);
	size_t len = build(f, pkt.b);
	struct result r;

	xdp_run_out(prog, pkt.b, len, &r, NULL);
	if (r.err || r.retval != XDP_PASS) {
		tl_log("xdp verdict %d (err %d), want XDP_PASS", r.retval, r.err);
		return false;
	}
	if (memcmp(r.out.b, pkt.b, len) || lbstat(e, PODLANE_LB_NAT_CT_HIT) != hit ||
	    lbstat(e, PODLANE_LB_XDP_FAST) != fast) {
		tl_log("a passed frame was rewritten or counted");
		return false;
	}
	return true;
}

/* The NodePort fast path: every pod's interface takes XDP frames (PODLANE_EP_F_XDP_RX). */
FIXTURE(xdp_fast) {
	struct env *e;
	int prog;
};

FIXTURE_SETUP(xdp_fast)
{
	self->e = &node;
	ASSERT_EQ(0, env_reset(self->e));
	self->e->xdp = xdp_load(self->e, true);
	ASSERT_NE(NULL, self->e->xdp) TH_LOG("xdp_uplink (fast path on) does not load");
	self->e->xdp_off = xdp_load(self->e, false);
	ASSERT_NE(NULL, self->e->xdp_off) TH_LOG("xdp_uplink (fast path off) does not load");
	self->prog = bpf_program__fd(self->e->xdp->progs.xdp_from_uplink);
	ASSERT_EQ(0, ep_xdp_rx_all(self->e, true));
}

FIXTURE_TEARDOWN(xdp_fast)
{
	xdp_uplink__destroy(self->e->xdp);
	xdp_uplink__destroy(self->e->xdp_off);
}

TEST_F(xdp_fast, a_nodeport_syn_without_a_conntrack_entry_passes_to_tc_untouched_untracked)
{
	struct flow f = web_flow(44000, false);
	struct ct_entry ct;

	EXPECT_TRUE(xdp_pass_untouched(self->e, self->prog, &f));
	EXPECT_EQ(-ENOENT, ct_get(self->e, f.saddr, f.daddr, f.sport, f.dport, IPPROTO_TCP,
				  PODLANE_CT_ORIGINAL, &ct));
}

/* The next packet of tracked flow 44001 through XDP; its backend. */
static enum role fast_tracked(struct __test_metadata *_metadata, FIXTURE_DATA(xdp_fast) *self,
			      struct flow *f)
{
	struct result r;
	enum role be;

	*f = web_flow(44001, false);
	be = flow_backend(self->e, f, &r);
	ASSERT_NE(R_NONE, be);
	f->ack = true;
	EXPECT_TRUE(xdp_fast_ok(self->e, self->prog, f, be, 8080));
	return be;
}

/* XDP_REDIRECT to its pod, DNAT with valid checksums, counted. */
TEST_F(xdp_fast, the_next_packet_of_a_tracked_tcp_nodeport_flow_is_redirected_to_its_pod)
{
	struct flow f;

	fast_tracked(_metadata, self, &f);
}

TEST_F(xdp_fast, a_fin_moves_both_conntrack_entries_to_closing_as_tc_does)
{
	struct ct_entry ct;
	struct flow f;
	enum role be = fast_tracked(_metadata, self, &f);

	f.ack = false;
	f.tcp_flags = 0x11;	/* FIN|ACK */
	EXPECT_TRUE(xdp_fast_ok(self->e, self->prog, &f, be, 8080));
	ASSERT_EQ(0, ct_get(self->e, endpoints[be - R_A].ip, CLIENT_IP, 8080, f.sport,
			    IPPROTO_TCP, PODLANE_CT_REPLY, &ct));
	EXPECT_TRUE(ct.flags & PODLANE_CT_F_CLOSING);
}

TEST_F(xdp_fast, tracked_udp_nodeport_flows_too_a_udp_checksum_of_0_stays_0)
{
	struct flow f = { CLIENT_IP, NODE_IP, 44002, 30053, IPPROTO_UDP };
	struct flow g = { CLIENT_IP, NODE_IP, 44003, 30053, IPPROTO_UDP, .udp_nocsum = true };
	struct env *e = self->e;
	TL_FRAME(pkt, PKT_MAX);
	struct result r;

	ASSERT_EQ(R_A, flow_backend(e, &f, &r));
	EXPECT_TRUE(xdp_fast_ok(e, self->prog, &f, R_A, 53));
	ASSERT_EQ(R_A, flow_backend(e, &g, &r));
	EXPECT_TRUE(xdp_fast_ok(e, self->prog, &g, R_A, 53));
	xdp_run_out(self->prog, pkt.b, build(&g, pkt.b), &r, NULL);
	EXPECT_EQ(XDP_REDIRECT, r.retval);
	EXPECT_EQ(0, r.s.l4_check);
}

TEST_F(xdp_fast, a_tracked_flow_to_a_backend_on_another_node_passes_to_tc)
{
	struct flow f = { CLIENT_IP, NODE_IP, 44004, 30093, IPPROTO_TCP };
	struct result r;

	send_flow(self->e, R_UP, &f, &r);
	ASSERT_EQ(TC_ACT_OK, r.retval);
	ASSERT_EQ(REMOTE_BE, r.s.daddr);
	f.ack = true;
	EXPECT_TRUE(xdp_pass_untouched(self->e, self->prog, &f));
}

/* A pod whose interface does not take XDP frames (no PODLANE_EP_F_XDP_RX) keeps them in tc. */
TEST_F(xdp_fast, a_pod_without_podlane_ep_f_xdp_rx_keeps_its_flows_in_tc)
{
	struct flow f = web_flow(44005, false);
	struct env *e = self->e;
	struct result r;
	enum role be;

	be = flow_backend(e, &f, &r);
	ASSERT_NE(R_NONE, be);
	f.ack = true;
	ASSERT_EQ(0, ep_flag(e, be, PODLANE_EP_F_XDP_RX, false));
	EXPECT_TRUE(xdp_pass_untouched(e, self->prog, &f));
	ASSERT_EQ(0, ep_flag(e, be, PODLANE_EP_F_XDP_RX, true));
	EXPECT_TRUE(xdp_fast_ok(e, self->prog, &f, be, 8080));
}

TEST_F(xdp_fast, nodeport_fastpath_false_the_default_passes_tracked_flows_to_tc)
{
	struct flow f = web_flow(44005, false);
	struct env *e = self->e;
	struct xdp_uplink *dflt;
	struct result r;
	bool fastpath;

	ASSERT_NE(R_NONE, flow_backend(e, &f, &r));
	f.ack = true;
	EXPECT_TRUE(xdp_pass_untouched(e, bpf_program__fd(e->xdp_off->progs.xdp_from_uplink),
				       &f));
	dflt = xdp_uplink__open();
	ASSERT_NE(NULL, dflt);
	fastpath = dflt->rodata->nodeport_fastpath;
	xdp_uplink__destroy(dflt);
	EXPECT_FALSE(fastpath);
}

TEST_F(xdp_fast, df_frames_take_it_fragments_pass_to_tc)
{
	struct flow f = web_flow(44006, false);
	struct flow cut = web_flow(44006, true);
	struct result r;
	enum role be;

	be = flow_backend(self->e, &f, &r);
	ASSERT_NE(R_NONE, be);
	cut.frag_off = 0x4000;	/* DF: still one piece */
	EXPECT_TRUE(xdp_fast_ok(self->e, self->prog, &cut, be, 8080));
	cut.frag_off = 0x2000;	/* MF: a first fragment, tc's business */
	EXPECT_TRUE(xdp_pass_untouched(self->e, self->prog, &cut));
}

/* The collector ---------------------------------------------------------------------------- */

/*
 * 10 established flows (SYN + reply), 5 closed (SYN + FIN), 5 closed by RST with a UDP flow
 * each: 20 TCP flows (40 entries) and 5 UDP flows (10 entries). Returns the time before.
 */
static __u64 gc_flows(struct env *e)
{
	__u64 now = ct_now_ns();
	struct result r;
	int i;

	ct_flush(e);
	for (i = 0; i < 20; i++) {
		struct flow f = web_flow(49000 + i, false);
		enum role be = flow_backend(e, &f, &r);

		if (be == R_NONE)
			continue;
		if (i < 10) {
			struct flow back = { endpoints[be - R_A].ip, CLIENT_IP, 8080, 49000 + i,
					     IPPROTO_TCP, .tcp_flags = 0x12 };

			send_flow(e, be, &back, &r);
		} else if (i < 15) {
			f.tcp_flags = 0x11;
			flow_backend(e, &f, &r);
		} else {
			struct flow u = { CLIENT_IP, NODE_IP, 49000 + i, 30053, IPPROTO_UDP };

			f.tcp_flags = 0x04;	/* RST: this TCP flow closes too */
			flow_backend(e, &f, &r);
			send_flow(e, R_UP, &u, &r);
		}
	}
	return now;
}

/* One collector pass at `at`; its counts in *st. */
static void gc_at(struct __test_metadata *_metadata, struct env *e, __u64 at,
		  struct ct_gc_stats *st)
{
	int err = ct_gc(e->ct_fd, at, st, NULL, NULL);

	ASSERT_EQ(0, err);
	tl_log("gc: scanned %llu deleted %llu live %llu", (unsigned long long)st->scanned,
	       (unsigned long long)st->deleted, (unsigned long long)st->live);
}

#define SEC_NS		1000000000ULL

TEST_F(nat, gc_at_the_present_time_deletes_nothing_50_live_40_tcp_10_udp_20_closing)
{
	__u64 now = gc_flows(self->e);
	struct ct_gc_stats st;

	gc_at(_metadata, self->e, now, &st);
	EXPECT_EQ(50, st.scanned);
	EXPECT_EQ(0, st.deleted);
	EXPECT_EQ(50, st.live);
	EXPECT_EQ(40, st.live_tcp);
	EXPECT_EQ(10, st.live_udp);
	EXPECT_EQ(20, st.live_closing);
}

/* The closing TCP entries (10 s) are gone, the rest stays. */
TEST_F(nat, gc_11_s_later_deletes_the_20_closing_entries_and_keeps_30_live_ones)
{
	__u64 now = gc_flows(self->e);
	struct ct_gc_stats st;

	gc_at(_metadata, self->e, now, &st);
	gc_at(_metadata, self->e, now + 11 * SEC_NS, &st);
	EXPECT_EQ(20, st.deleted);
	EXPECT_EQ(30, st.live);
}

/* UDP (60 s) goes, established TCP (6 h) stays. */
TEST_F(nat, gc_61_s_later_deletes_udp_entries_keeps_the_20_established_tcp_entries)
{
	__u64 now = gc_flows(self->e);
	struct ct_gc_stats st;

	gc_at(_metadata, self->e, now, &st);
	gc_at(_metadata, self->e, now + 11 * SEC_NS, &st);
	gc_at(_metadata, self->e, now + 61 * SEC_NS, &st);
	EXPECT_EQ(10, st.deleted);
	EXPECT_EQ(20, st.live);
	EXPECT_EQ(20, st.live_tcp);
}

TEST_F(nat, gc_past_6_h_empties_the_map)
{
	__u64 now = gc_flows(self->e);
	struct ct_gc_stats st;

	gc_at(_metadata, self->e, now, &st);
	gc_at(_metadata, self->e, now + 11 * SEC_NS, &st);
	gc_at(_metadata, self->e, now + 61 * SEC_NS, &st);
	gc_at(_metadata, self->e, now + (PODLANE_CT_TCP_LIFETIME_S + 1) * SEC_NS, &st);
	EXPECT_EQ(20, st.deleted);
	EXPECT_EQ(0, st.live);
}

/* 1 GiB -> 16384, 24 GiB -> 262144, 4 TiB -> the cap. */
TEST(conntrack_size_from_memory)
{
	__u64 gib = 1ULL << 30;

	EXPECT_EQ(PODLANE_MIN_CT, ct_size_from_memory(gib));
	EXPECT_EQ(PODLANE_MAX_CT, ct_size_from_memory(24 * gib));
	EXPECT_EQ(PODLANE_MAX_CT_LIMIT, ct_size_from_memory(4096 * gib));
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

static int xdp_floor_prog_load(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "xdp_floor", "GPL", insns, ARRAY_SIZE(insns),
			     NULL);
}

enum {
	B_FLOOR, B_PASS_OFF, B_PASS, B_MISS, B_HIT, B_REPLY, B_POD, B_POD_BACKEND,
	B_XDP_FLOOR, B_XDP_PASS, B_XDP_HIT, B_MAX
};

static int run_bench(struct env *e, int samples)
{
	static const char *const label[B_MAX] = {
		[B_FLOOR] = "empty tc program (floor)",
		[B_PASS_OFF] = "tc_from_uplink, service_nat off, packet to no service",
		[B_PASS] = "tc_from_uplink, packet to no service (service lookup misses)",
		[B_MISS] = "tc_from_uplink, NodePort SYN, new flow (CT miss: Maglev, 2 inserts, "
			   "DNAT)",
		[B_HIT] = "tc_from_uplink, NodePort packet of a tracked flow (CT hit, DNAT)",
		[B_REPLY] = "tc_from_pod, backend reply (CT hit, reverse NAT, FIB redirect)",
		[B_POD] = "tc_from_pod, pod to pod, sender no service backend (no CT lookup)",
		[B_POD_BACKEND] = "tc_from_pod, pod to pod, sender a service backend (CT miss)",
		[B_XDP_FLOOR] = "empty XDP program (XDP floor)",
		[B_XDP_PASS] = "xdp_from_uplink, packet to no service (prefilter + service lookup)",
		[B_XDP_HIT] = "xdp_from_uplink, NodePort packet of a tracked flow (CT hit, DNAT, "
			      "XDP_REDIRECT)",
	};
	__u32 *ns[B_MAX];
	double med[B_MAX];
	int floor_fd = floor_prog_load(), xdp_floor_fd = xdp_floor_prog_load(), xdp_fd, i, b;
	struct xdp_uplink *x;
	struct flow hit = web_flow(39000, true), miss = web_flow(0, false);
	struct flow pass = { CLIENT_IP, IP4(192, 0, 2, 1), 1234, 80, IPPROTO_UDP };
	struct flow reply = { 0, CLIENT_IP, 8080, 39000, IPPROTO_TCP, .ack = true };
	struct flow pod = { IP_C, IP_B, 45000, 8080, IPPROTO_TCP, .ack = true };
	TL_FRAME(p_hit, PKT_MAX);
	TL_FRAME(p_pass, PKT_MAX);
	TL_FRAME(p_reply, PKT_MAX);
	TL_FRAME(p_miss, PKT_MAX);
	TL_FRAME(p_pod, PKT_MAX);
	size_t l_hit, l_pass, l_reply, l_miss, l_pod;
	struct result r;
	enum role be;

	struct tc_uplink *off = tc_uplink__open();

	if (off) {
		tl_maps_private(off->obj, MAP_SIZE);
		off->rodata->service_nat = false;
		if (tl_maps_share(off->obj, e->ep->obj) || tc_uplink__load(off)) {
			tc_uplink__destroy(off);
			off = NULL;
		}
	}
	x = xdp_load(e, true);
	if (floor_fd < 0 || xdp_floor_fd < 0 || !off || !x || ep_xdp_rx_all(e, true)) {
		fprintf(stderr, "bench: failed to load the floor or comparison program: %s\n",
			strerror(errno));
		return 1;
	}
	for (b = 0; b < B_MAX; b++)
		ns[b] = calloc(samples, sizeof(__u32));
	be = flow_backend(e, &hit, &r);
	if (be == R_NONE) {
		fprintf(stderr, "bench: NodePort flow not translated\n");
		return 1;
	}
	reply.saddr = endpoints[be - R_A].ip;
	l_hit = build(&hit, p_hit.b);
	l_pass = build(&pass, p_pass.b);
	l_reply = build(&reply, p_reply.b);
	l_pod = build(&pod, p_pod.b);
	xdp_fd = bpf_program__fd(x->progs.xdp_from_uplink);

	/* Interleave the variants sample by sample so that drift hits all of them alike. */
	for (i = 0; i < samples; i++) {
		miss.saddr = IP4(198, 18, (i >> 14) & 0xff, (i >> 6) & 0xff);
		miss.sport = 1024 + (i & 0x3f) * 512 + (i % 7);
		l_miss = build(&miss, p_miss.b);
		run(floor_fd, e->ifindex[R_UP], p_pass.b, l_pass, &r, &ns[B_FLOOR][i]);
		run(bpf_program__fd(off->progs.tc_from_uplink), e->ifindex[R_UP], p_pass.b, l_pass,
		    &r, &ns[B_PASS_OFF][i]);
		run(e->from_uplink, e->ifindex[R_UP], p_pass.b, l_pass, &r, &ns[B_PASS][i]);
		if (r.retval != TC_ACT_OK)
			goto bad;
		run(e->from_uplink, e->ifindex[R_UP], p_miss.b, l_miss, &r, &ns[B_MISS][i]);
		if (r.retval != TC_ACT_REDIRECT)
			goto bad;
		run(e->from_uplink, e->ifindex[R_UP], p_hit.b, l_hit, &r, &ns[B_HIT][i]);
		if (r.retval != TC_ACT_REDIRECT)
			goto bad;
		run(e->from_pod, e->ifindex[be], p_reply.b, l_reply, &r, &ns[B_REPLY][i]);
		if (r.retval != TC_ACT_REDIRECT)
			goto bad;
		run(e->from_pod, e->ifindex[R_C], p_pod.b, l_pod, &r, &ns[B_POD_BACKEND][i]);
		if (r.retval != TC_ACT_REDIRECT || ep_backend_flag(e, R_C, false))
			goto bad;
		run(e->from_pod, e->ifindex[R_C], p_pod.b, l_pod, &r, &ns[B_POD][i]);
		if (r.retval != TC_ACT_REDIRECT || ep_backend_flag(e, R_C, true))
			goto bad;
		xdp_run_out(xdp_floor_fd, p_pass.b, l_pass, &r, &ns[B_XDP_FLOOR][i]);
		if (r.retval != XDP_PASS)
			goto bad;
		xdp_run_out(xdp_fd, p_pass.b, l_pass, &r, &ns[B_XDP_PASS][i]);
		if (r.retval != XDP_PASS)
			goto bad;
		xdp_run_out(xdp_fd, p_hit.b, l_hit, &r, &ns[B_XDP_HIT][i]);
		if (r.retval != XDP_REDIRECT)
			goto bad;
	}
	for (b = 0; b < B_MAX; b++)
		med[b] = median(ns[b], samples);
	printf("| program (BPF_PROG_TEST_RUN, one packet per run) | ns/packet (median of %d) "
	       "| over floor | x floor |\n|---|---:|---:|---:|\n", samples);
	/* XDP rows are compared with the empty XDP program, tc rows with the empty tc one. */
	for (b = 0; b < B_MAX; b++) {
		double fl = b >= B_XDP_FLOOR ? med[B_XDP_FLOOR] : med[B_FLOOR];

		printf("| %s | %.0f | %+.0f | %.2f |\n", label[b], med[b], med[b] - fl,
		       med[b] / fl);
	}
	xdp_uplink__destroy(x);
	return 0;
bad:
	fprintf(stderr, "bench: sample %d: unexpected verdict %d\n", i, r.retval);
	return 1;
}

/* test_lb_nat --bench [-n SAMPLES]: the table instead of the tests. */
static int bench_main(int argc, char **argv)
{
	struct env e = {};
	int samples = 20001, opt, err;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		switch (opt) {
		case 'n':
			samples = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [--bench [-n SAMPLES]]\n", argv[0]);
			return 2;
		}
	}
	err = env_setup(&e);
	if (err) {
		fprintf(stderr, "bench: setup failed: %s\n", strerror(-err));
		return 1;
	}
	return run_bench(&e, samples < 1 ? 1 : samples);
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
	err = env_setup(&node);
	if (err)
		ksft_exit_fail_msg("set up namespace, load tc_endpoint + tc_uplink, services and "
				   "endpoints: %s\n", strerror(-err));
	return test_harness_run(argc, argv);
}
