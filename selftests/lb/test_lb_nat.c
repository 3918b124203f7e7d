// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_lb_nat.c - the per-packet service path (bpf/lib/nat.h, bpf/lib/conntrack.h in
 * tc_from_uplink and tc_from_pod) and the conntrack collector (userspace/lib/ct_gc.c) through
 * BPF_PROG_TEST_RUN, printed as TAP; also xdp_from_uplink's NodePort early drop and fast path
 * on the same maps, so XDP and tc are seen to agree on one flow.
 *
 * The process moves into a private network namespace with three pod veths (local backends
 * A, B, C) and an uplink whose neighbour table knows the client, so the reply path's FIB
 * lookup has a real answer. Maps are private (never pinned). Output packets are checked
 * byte by byte where it matters: addresses, ports, MACs, TTL and full L3 and L4 checksums.
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

#include "tap.h"
#include "maglev.h"
#include "ct_gc.h"
#include "tc_endpoint.skel.h"
#include "tc_uplink.skel.h"
#include "xdp_uplink.skel.h"

#define IP4(a, b, c, d)	((__u32)(a) << 24 | (__u32)(b) << 16 | (__u32)(c) << 8 | (__u32)(d))
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
	struct ring_buffer *rb;
	int ncpus;
	int ifindex[R_MAX];
	int svc_fd, be_fd, maglev_fd, ct_fd, lbstat_fd, drops_fd, stat_fd;
	int from_uplink, from_pod;
	struct drop_event events[16];
	int nevents;
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

static __u16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static __u32 csum_add(__u32 sum, const void *p, size_t len)
{
	const __u8 *b = p;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (__u32)b[len - 1] << 8;
	return sum;
}

static __u32 pseudo_sum(const struct iphdr *ip, __u16 l4_len)
{
	__u32 sum = 0;

	sum = csum_add(sum, &ip->saddr, 4);
	sum = csum_add(sum, &ip->daddr, 4);
	return sum + ip->protocol + l4_len;
}

static bool l3_csum_ok(const struct iphdr *ip)
{
	return csum_fold(csum_add(0, ip, ip->ihl * 4)) == 0xffff;
}

/* The transport checksum of a whole (unfragmented) datagram; UDP 0 means "none". */
static bool l4_csum_ok(const struct iphdr *ip)
{
	const __u8 *l4 = (const __u8 *)ip + ip->ihl * 4;
	__u16 len = ntohs(ip->tot_len) - ip->ihl * 4;

	if (ip->protocol == IPPROTO_UDP && ((const struct udphdr *)l4)->check == 0)
		return true;
	return csum_fold(csum_add(pseudo_sum(ip, len), l4, len)) == 0xffff;
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
	ip->check = htons(~csum_fold(csum_add(0, ip, sizeof(*ip))));
	if (!(proto == IPPROTO_UDP && f->udp_nocsum)) {
		__u16 c = ~csum_fold(csum_add(pseudo_sum(ip, l4_len), l4, l4_len));

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
	__u8 out[PKT_MAX];
	struct seen s;
};

static void run(int prog, int ifindex, const __u8 *pkt, size_t len, struct result *r,
		__u32 *duration)
{
	struct __sk_buff ctx = { .ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = pkt,
		.data_size_in = len,
		.data_out = r->out,
		.data_size_out = sizeof(r->out),
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.repeat = 1,
	);

	r->err = bpf_prog_test_run_opts(prog, &opts) ? -errno : 0;
	r->retval = (int)opts.retval;
	if (duration)
		*duration = opts.duration;
	if (!r->err && opts.data_size_out >= ETH_HLEN + 28)
		parse_out(r->out, &r->s);
}

static void send_flow(struct env *e, enum role dev, const struct flow *f, struct result *r)
{
	__u8 pkt[PKT_MAX];
	size_t len = build(f, pkt);

	run(dev == R_UP ? e->from_uplink : e->from_pod, e->ifindex[dev], pkt, len, r, NULL);
}

static __u64 lbstat(struct env *e, enum lb_stat which)
{
	static __u64 per_cpu[MAX_CPUS];
	__u32 slot = which;
	__u64 sum = 0;
	int cpu;

	if (bpf_map_lookup_elem(e->lbstat_fd, &slot, per_cpu))
		return ~0ULL;
	for (cpu = 0; cpu < e->ncpus; cpu++)
		sum += per_cpu[cpu];
	return sum;
}

static __u64 node_drops(struct env *e, int reason)
{
	struct drop_counter dc[PODLANE_DROP_SLOTS];

	if (node_drops_read(e->drops_fd, e->ncpus, dc))
		return ~0ULL;
	return dc[PODLANE_DROP_INDEX(reason)].packets;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct env *e = ctx;

	if (size >= sizeof(struct drop_event) && e->nevents < (int)ARRAY_SIZE(e->events))
		memcpy(&e->events[e->nevents++], data, sizeof(struct drop_event));
	return 0;
}

static void events_drain(struct env *e)
{
	ring_buffer__consume(e->rb);
	e->nevents = 0;
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

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc)
		diag("command failed (%d): %s", rc, cmd);
	return rc;
}

static int devices_make(struct env *e)
{
	int r;

	if (unshare(CLONE_NEWNET)) {
		diag("failed to create network namespace: %s", strerror(errno));
		return -errno;
	}
	for (r = R_A; r < R_MAX; r++) {
		if (sh("ip link add %s type veth peer name %s-p", role_dev[r], role_dev[r]) ||
		    sh("ip link set %s-p up && ip link set %s up", role_dev[r], role_dev[r]))
			return -EIO;
		e->ifindex[r] = if_nametoindex(role_dev[r]);
		if (!e->ifindex[r])
			return -errno;
		/* The reply path's FIB lookup starts on the pod's host veth, as a forward would. */
		if (r != R_UP && sh("sysctl -qw net.ipv4.conf.%s.forwarding=1", role_dev[r]))
			return -EIO;
	}
	if (sh("ip link set %s address 02:00:00:00:0f:01", role_dev[R_UP]) ||
	    sh("ip addr add 192.168.50.1/32 dev %s", role_dev[R_UP]) ||
	    sh("ip addr add 198.51.100.1/24 dev %s", role_dev[R_UP]) ||
	    sh("ip neigh replace 198.51.100.7 lladdr 02:00:00:00:c1:1e dev %s nud permanent",
	       role_dev[R_UP]) ||
	    sh("ip route add 203.0.113.0/24 via 198.51.100.254 dev %s", role_dev[R_UP]))
		return -EIO;
	return 0;
}

static int endpoints_add(struct env *e)
{
	static struct endpoint_stats zero[MAX_CPUS];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(endpoints); i++) {
		struct endpoint_key key;
		struct endpoint_value val;
		__u32 ifindex = e->ifindex[endpoints[i].role];

		memset(&key, 0, sizeof(key));
		memset(&val, 0, sizeof(val));
		key.addr.family = PODLANE_AF_INET;
		key.addr.ip4 = htonl(endpoints[i].ip);
		val.ifindex = ifindex;
		/* All three are backends of the test's services, as the agent would flag them. */
		val.flags = PODLANE_EP_F_READY | PODLANE_EP_F_LB_BACKEND;
		memcpy(val.pod_mac, endpoints[i].pod_mac, ETH_ALEN);
		memcpy(val.host_mac, endpoints[i].host_mac, ETH_ALEN);
		if (bpf_map_update_elem(bpf_map__fd(e->ep->maps.podlane_eps), &key, &val, 0) ||
		    bpf_map_update_elem(e->stat_fd, &ifindex, zero, 0))
			return -errno;
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

static int load(struct env *e)
{
	struct bpf_map *map;
	int err;

	e->ncpus = libbpf_num_possible_cpus();
	e->ep = tc_endpoint__open();
	e->up = tc_uplink__open();
	if (!e->ep || !e->up)
		return -errno;
	maps_unpin_and_shrink(e->ep->obj, MAP_SIZE);
	maps_unpin_and_shrink(e->up->obj, MAP_SIZE);
	bpf_object__for_each_map(map, e->ep->obj)
		if (bpf_map__type(map) == BPF_MAP_TYPE_LRU_HASH)
			bpf_map__set_max_entries(map, CT_SIZE);
	err = tc_endpoint__load(e->ep);
	err = err ?: maps_share(e->up->obj, e->ep->obj);
	err = err ?: tc_uplink__load(e->up);
	if (err)
		return err;
	e->svc_fd = bpf_map__fd(e->ep->maps.podlane_svc);
	e->be_fd = bpf_map__fd(e->ep->maps.podlane_backend);
	e->maglev_fd = bpf_map__fd(e->ep->maps.podlane_maglev);
	e->ct_fd = bpf_map__fd(e->ep->maps.podlane_ct);
	e->lbstat_fd = bpf_map__fd(e->ep->maps.podlane_lbstat);
	e->drops_fd = bpf_map__fd(e->ep->maps.podlane_drops);
	e->stat_fd = bpf_map__fd(e->ep->maps.podlane_ep_stat);
	e->from_uplink = bpf_program__fd(e->up->progs.tc_from_uplink);
	e->from_pod = bpf_program__fd(e->ep->progs.tc_from_pod);
	e->rb = ring_buffer__new(bpf_map__fd(e->ep->maps.podlane_events), on_event, e, NULL);
	if (!e->rb)
		return -errno;
	err = endpoints_add(e);
	return err ?: services_add(e);
}

/* Table: one packet from outside, what must come out ---------------------------------------- */

struct nat_case {
	const char *name;
	struct flow f;
	int retval;
	int reason;		/* drop reason behind TC_ACT_SHOT */
	__u32 to_ip;		/* DNAT target (host order); 0: unchanged */
	__u16 to_port;
	enum role delivered;	/* redirected into this pod (MACs rewritten) */
};

#define TCP_TO(sp, dst, dp)	{ CLIENT_IP, (dst), (sp), (dp) }

static const struct nat_case table[] = {
	{ "udp NodePort: DNAT to the only backend, checksums valid",
	  { CLIENT_IP, NODE_IP, 41000, 30053, IPPROTO_UDP },
	  TC_ACT_REDIRECT, 0, IP_A, 53, R_A },
	{ "udp NodePort without checksum: DNAT keeps checksum 0",
	  { CLIENT_IP, NODE_IP, 41001, 30053, IPPROTO_UDP, .udp_nocsum = true },
	  TC_ACT_REDIRECT, 0, IP_A, 53, R_A },
	{ "ClusterIP reached from the uplink: DNAT to its backend",
	  TCP_TO(42000, CLUSTER_IP, 80), TC_ACT_REDIRECT, 0, IP_B, 80, R_B },
	{ "externalTrafficPolicy Local, no local backend: dropped (no_local_backend)",
	  TCP_TO(42002, NODE_IP, 30090), TC_ACT_SHOT, PODLANE_DROP_NO_LOCAL_BACKEND },
	{ "service without backends: dropped (no_backend)",
	  TCP_TO(42003, NODE_IP, 30091), TC_ACT_SHOT, PODLANE_DROP_NO_BACKEND },
	{ "first fragment to a NodePort: dropped (service_fragment)",
	  { CLIENT_IP, NODE_IP, 42004, 30053, IPPROTO_UDP, .frag_off = 0x2000 },
	  TC_ACT_SHOT, PODLANE_DROP_SERVICE_FRAGMENT },
	{ "NodePort port nobody serves passes untouched",
	  TCP_TO(42005, NODE_IP, 31999), TC_ACT_OK },
	{ "same port, other protocol (UDP 30080) passes untouched",
	  { CLIENT_IP, NODE_IP, 42006, 30080, IPPROTO_UDP }, TC_ACT_OK },
};

static bool mac_is(const __u8 *got, const __u8 *want)
{
	return !memcmp(got, want, ETH_ALEN);
}

static void run_table_case(struct env *e, const struct nat_case *c)
{
	__u64 ct_before, drops_before = c->reason ? node_drops(e, c->reason) : 0;
	struct ct_entry ct;
	struct result r;
	bool ok = true;
	__u8 proto = c->f.proto ? c->f.proto : IPPROTO_TCP;

	events_drain(e);
	ct_before = lbstat(e, PODLANE_LB_NAT_NEW);
	send_flow(e, R_UP, &c->f, &r);
	ring_buffer__consume(e->rb);
	if (r.err || r.retval != c->retval) {
		diag("err %d retval %d, want %d", r.err, r.retval, c->retval);
		report(false, c->name);
		return;
	}
	if (c->reason) {
		if (node_drops(e, c->reason) != drops_before + 1 || e->nevents != 1 ||
		    e->events[0].reason != c->reason ||
		    e->events[0].hook != PODLANE_HOOK_FROM_UPLINK) {
			diag("drop of %s not counted or reported (%d events)",
			     reason_name(c->reason), e->nevents);
			ok = false;
		}
		report(ok, c->name);
		return;
	}
	if (!c->to_ip) {
		if (r.s.daddr != c->f.daddr || r.s.dport != c->f.dport) {
			diag("passing packet was rewritten");
			ok = false;
		}
		report(ok, c->name);
		return;
	}
	if (r.s.daddr != c->to_ip || r.s.dport != c->to_port || r.s.saddr != c->f.saddr ||
	    r.s.sport != c->f.sport) {
		diag("output %08x:%u -> %08x:%u, want client kept and %08x:%u", r.s.saddr,
		     r.s.sport, r.s.daddr, r.s.dport, c->to_ip, c->to_port);
		ok = false;
	}
	if (!r.s.l3_ok || !r.s.l4_ok) {
		diag("checksums: ipv4 %s, l4 %s", r.s.l3_ok ? "ok" : "BAD",
		     r.s.l4_ok ? "ok" : "BAD");
		ok = false;
	}
	if (c->f.udp_nocsum && r.s.l4_check != 0) {
		diag("udp checksum 0 became 0x%04x", ntohs(r.s.l4_check));
		ok = false;
	}
	if (c->delivered) {
		const __u8 *pod = endpoints[c->delivered - R_A].pod_mac;
		const __u8 *host = endpoints[c->delivered - R_A].host_mac;

		if (!mac_is(r.s.dmac, pod) || !mac_is(r.s.smac, host) || r.s.ttl != 63) {
			diag("not rewritten for delivery into the pod (MACs or TTL %u)", r.s.ttl);
			ok = false;
		}
	}
	if (ct_get(e, c->f.saddr, c->f.daddr, c->f.sport, c->f.dport, proto,
		   PODLANE_CT_ORIGINAL, &ct) ||
	    ct.nat_addr != htonl(c->to_ip) || ct.nat_port != htons(c->to_port) ||
	    ct_get(e, c->to_ip, c->f.saddr, c->to_port, c->f.sport, proto, PODLANE_CT_REPLY,
		   &ct) ||
	    ct.nat_addr != htonl(c->f.daddr) || ct.nat_port != htons(c->f.dport) ||
	    lbstat(e, PODLANE_LB_NAT_NEW) != ct_before + 1) {
		diag("conntrack entries (original and reply) not as expected");
		ok = false;
	}
	report(ok, c->name);
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

/* SYN, ACK, reply, FIN: the life of one NodePort TCP connection. */
static enum role test_tcp_flow(struct env *e)
{
	struct flow syn = web_flow(40000, false), ack = web_flow(40000, true);
	struct ct_entry orig, reply;
	struct endpoint_stats st;
	struct result r;
	enum role be, be2;
	__u64 hits, replies;
	bool ok;

	be = flow_backend(e, &syn, &r);
	ok = be != R_NONE && r.s.dport == 8080 && r.s.l3_ok && r.s.l4_ok && r.s.ttl == 63 &&
	     r.s.saddr == CLIENT_IP && r.s.sport == 40000;
	ok = ok && !ct_get(e, CLIENT_IP, NODE_IP, 40000, 30080, IPPROTO_TCP, PODLANE_CT_ORIGINAL,
			   &orig) &&
	     orig.flags == (PODLANE_CT_F_SYN_SEEN | PODLANE_CT_F_LOCAL) && orig.packets == 1 &&
	     orig.svc_id == SVC_WEB;
	report(ok, "NodePort SYN from outside: DNAT to a Maglev-chosen local backend, checksums "
	       "valid, conntrack entry in SYN state");
	if (be == R_NONE)
		return R_NONE;
	diag("flow 40000 went to %s", role_dev[be]);

	hits = lbstat(e, PODLANE_LB_NAT_CT_HIT);
	ok = true;
	for (int i = 0; i < 5; i++) {
		be2 = flow_backend(e, &ack, &r);
		ok = ok && be2 == be && r.s.l3_ok && r.s.l4_ok;
	}
	ok = ok && lbstat(e, PODLANE_LB_NAT_CT_HIT) == hits + 5 &&
	     !ct_get(e, CLIENT_IP, NODE_IP, 40000, 30080, IPPROTO_TCP, PODLANE_CT_ORIGINAL,
		     &orig) && orig.packets == 6;
	report(ok, "follow-up packets of the flow use conntrack: same backend, counted as hits");

	/* The backend answers (SYN-ACK) from its pod. */
	{
		struct flow back = { endpoints[be - R_A].ip, CLIENT_IP, 8080, 40000, IPPROTO_TCP,
				     .tcp_flags = 0x12 };
		__u64 now = ct_now_ns();

		ep_stats_read(e->stat_fd, e->ifindex[be], e->ncpus, &st);
		replies = lbstat(e, PODLANE_LB_NAT_REPLY);
		send_flow(e, be, &back, &r);
		ok = !r.err && r.retval == TC_ACT_REDIRECT && r.s.saddr == NODE_IP &&
		     r.s.sport == 30080 && r.s.daddr == CLIENT_IP && r.s.dport == 40000 &&
		     r.s.l3_ok && r.s.l4_ok && r.s.ttl == 63 && mac_is(r.s.dmac, client_mac) &&
		     mac_is(r.s.smac, uplink_mac) &&
		     lbstat(e, PODLANE_LB_NAT_REPLY) == replies + 1;
		if (!ok)
			diag("reply: err %d retval %d %08x:%u -> %08x:%u ttl %u l3 %d l4 %d", r.err,
			     r.retval, r.s.saddr, r.s.sport, r.s.daddr, r.s.dport, r.s.ttl,
			     r.s.l3_ok, r.s.l4_ok);
		ok = ok && !ct_get(e, CLIENT_IP, NODE_IP, 40000, 30080, IPPROTO_TCP,
				   PODLANE_CT_ORIGINAL, &orig) &&
		     !ct_get(e, endpoints[be - R_A].ip, CLIENT_IP, 8080, 40000, IPPROTO_TCP,
			     PODLANE_CT_REPLY, &reply) &&
		     (orig.flags & PODLANE_CT_F_ESTABLISHED) &&
		     (reply.flags & PODLANE_CT_F_ESTABLISHED) &&
		     orig.expires_ns > now + (PODLANE_CT_TCP_LIFETIME_S - 5) * 1000000000ULL;
		report(ok, "reply from the backend: source back to node:NodePort, checksums valid, "
		       "sent to the client's MAC on the uplink, both entries established (6 h)");
		{
			struct endpoint_stats st2;

			ep_stats_read(e->stat_fd, e->ifindex[be], e->ncpus, &st2);
			report(st2.tx_packets == st.tx_packets + 1,
			       "the reply counts as tx of the backend endpoint");
		}
	}

	/* The client closes. */
	{
		struct flow fin = web_flow(40000, false);
		__u64 now = ct_now_ns();

		fin.tcp_flags = 0x11;	/* FIN|ACK */
		be2 = flow_backend(e, &fin, &r);
		ok = be2 == be &&
		     !ct_get(e, CLIENT_IP, NODE_IP, 40000, 30080, IPPROTO_TCP, PODLANE_CT_ORIGINAL,
			     &orig) &&
		     !ct_get(e, endpoints[be - R_A].ip, CLIENT_IP, 8080, 40000, IPPROTO_TCP,
			     PODLANE_CT_REPLY, &reply) &&
		     (orig.flags & PODLANE_CT_F_CLOSING) && (reply.flags & PODLANE_CT_F_CLOSING) &&
		     orig.expires_ns < now + (PODLANE_CT_CLOSE_LIFETIME_S + 1) * 1000000000ULL &&
		     reply.expires_ns < now + (PODLANE_CT_CLOSE_LIFETIME_S + 1) * 1000000000ULL;
		report(ok, "FIN from the client: both entries closing (10 s lifetime)");
	}
	return be;
}

/* Another reply path: the client sits behind a gateway whose MAC is not known yet. */
static void test_reply_no_neigh(struct env *e)
{
	struct flow syn = { FAR_CLIENT_IP, NODE_IP, 40100, 30080, IPPROTO_TCP };
	struct result r;
	enum role be = flow_backend(e, &syn, &r);
	bool ok = be != R_NONE;

	if (ok) {
		struct flow back = { endpoints[be - R_A].ip, FAR_CLIENT_IP, 8080, 40100,
				     IPPROTO_TCP, .tcp_flags = 0x12 };

		send_flow(e, be, &back, &r);
		ok = !r.err && r.retval == TC_ACT_REDIRECT && r.s.saddr == NODE_IP &&
		     r.s.sport == 30080 && r.s.l3_ok && r.s.l4_ok;
	}
	report(ok, "reply to a client behind an unresolved gateway: translated, "
	       "bpf_redirect_neigh() resolves it");
}

/*
 * NodePort whose only backend is on another node (PODLANE_CT_F_SNAT): DNAT and SNAT to the
 * node address and a port of the SNAT range, both entries written; the node of the backend is
 * unknown here (no podlane_nodes entry), so the stack gets it. The backend's answer arriving
 * on the uplink is translated back to frontend -> client.
 */
static void test_remote_snat(struct env *e)
{
	struct flow syn = { CLIENT_IP, NODE_IP, 42001, 30093, IPPROTO_TCP };
	struct ct_entry orig = {}, reply = {};
	struct result r;
	char name[200];
	__u16 port;
	bool ok;

	send_flow(e, R_UP, &syn, &r);
	port = r.s.sport;
	ok = !r.err && r.retval == TC_ACT_OK && r.s.daddr == REMOTE_BE && r.s.dport == 80 &&
	     r.s.saddr == NODE_IP && port >= PODLANE_SNAT_PORT_MIN && r.s.l3_ok && r.s.l4_ok;
	if (!ok)
		diag("output %08x:%u -> %08x:%u retval %d, want node:61000+ -> remote backend",
		     r.s.saddr, r.s.sport, r.s.daddr, r.s.dport, r.retval);
	ok = ok && !ct_get(e, CLIENT_IP, NODE_IP, 42001, 30093, IPPROTO_TCP, PODLANE_CT_ORIGINAL,
			   &orig) &&
	     !ct_get(e, REMOTE_BE, NODE_IP, 80, port, IPPROTO_TCP, PODLANE_CT_REPLY, &reply) &&
	     (orig.flags & PODLANE_CT_F_SNAT) && orig.nat_addr == htonl(REMOTE_BE) &&
	     orig.rev_addr == htonl(NODE_IP) && orig.rev_port == htons(port) &&
	     (reply.flags & PODLANE_CT_F_SNAT) && reply.nat_addr == htonl(NODE_IP) &&
	     reply.nat_port == htons(30093) && reply.rev_addr == htonl(CLIENT_IP) &&
	     reply.rev_port == htons(42001);
	snprintf(name, sizeof(name), "NodePort with only a remote backend: DNAT and SNAT to "
		 "node:%u, both entries written, the stack routes it (no node known for the "
		 "backend)", port);
	report(ok, name);

	if (ok) {
		struct flow back = { REMOTE_BE, NODE_IP, 80, port, IPPROTO_TCP, .tcp_flags = 0x12 };

		send_flow(e, R_UP, &back, &r);
		ok = !r.err && (r.retval == TC_ACT_REDIRECT || r.retval == TC_ACT_OK) &&
		     r.s.saddr == NODE_IP && r.s.sport == 30093 && r.s.daddr == CLIENT_IP &&
		     r.s.dport == 42001 && r.s.l3_ok && r.s.l4_ok;
		if (!ok)
			diag("reply out %08x:%u -> %08x:%u retval %d", r.s.saddr, r.s.sport,
			     r.s.daddr, r.s.dport, r.retval);
	}
	report(ok, "its answer on the uplink: source back to node:30093, destination back to the "
	       "client, checksums valid");
}

/* Set or clear PODLANE_EP_F_LB_BACKEND on the endpoint of role, as the agent does. */
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
 * the same reply of a tracked flow passes untouched from an unflagged endpoint.
 */
static void test_reply_needs_flag(struct env *e)
{
	struct flow syn = web_flow(40200, false);
	struct flow back = { 0, CLIENT_IP, 8080, 40200, IPPROTO_TCP, .tcp_flags = 0x12 };
	__u64 replies;
	struct result r;
	enum role be;
	bool ok;

	be = flow_backend(e, &syn, &r);
	ok = be != R_NONE && !ep_backend_flag(e, be, false);
	if (ok) {
		back.saddr = endpoints[be - R_A].ip;
		replies = lbstat(e, PODLANE_LB_NAT_REPLY);
		send_flow(e, be, &back, &r);
		ok = !r.err && r.retval != TC_ACT_SHOT && r.s.saddr == back.saddr &&
		     r.s.sport == 8080 && lbstat(e, PODLANE_LB_NAT_REPLY) == replies;
		if (!ok)
			diag("unflagged: err %d retval %d %08x:%u", r.err, r.retval, r.s.saddr,
			     r.s.sport);
	}
	report(ok, "reply of a tracked flow from an endpoint without the LB backend flag: "
	       "not translated, not counted");

	ok = be != R_NONE && !ep_backend_flag(e, be, true);
	if (ok) {
		replies = lbstat(e, PODLANE_LB_NAT_REPLY);
		send_flow(e, be, &back, &r);
		ok = !r.err && r.retval == TC_ACT_REDIRECT && r.s.saddr == NODE_IP &&
		     r.s.sport == 30080 && r.s.l3_ok && r.s.l4_ok &&
		     lbstat(e, PODLANE_LB_NAT_REPLY) == replies + 1;
	}
	report(ok, "the same reply once the endpoint is flagged: source back to node:NodePort");
}

/* Pod traffic that is no reply keeps its source. */
static void test_pod_not_reply(struct env *e)
{
	struct flow f = { IP_A, CLIENT_IP, 8080, 40999, IPPROTO_TCP, .ack = true };
	struct result r;

	send_flow(e, R_A, &f, &r);
	report(!r.err && r.retval == TC_ACT_OK && r.s.saddr == IP_A && r.s.sport == 8080,
	       "pod packet matching no translated flow passes with its own source");
}

/*
 * The backend of an established flow leaves the service: its flows stay with it (conntrack
 * holds it), new flows never reach it.
 */
static void test_backend_removed(struct env *e, enum role gone)
{
	struct be_def rest[3];
	struct flow ack = web_flow(40000, true);
	struct result r;
	int i, n = 0, hits_gone = 0, bad = 0;

	for (i = 0; i < 3; i++)
		if (role_of_ip(web_be[i].ip) != gone)
			rest[n++] = web_be[i];
	/* Keep the connection open again after the FIN above. */
	ack.tcp_flags = 0;
	if (svc_write(e, SVC_WEB, NODE_IP, 30080, IPPROTO_TCP,
		      PODLANE_SVC_F_NODEPORT | PODLANE_SVC_F_MAGLEV, rest, n, n, n)) {
		report(false, "remove a backend from the service");
		report(false, "new flows avoid the removed backend");
		return;
	}
	report(flow_backend(e, &ack, &r) == gone,
	       "removing its backend from the service keeps an established flow on it");
	for (i = 0; i < 300; i++) {
		struct flow f = web_flow(50000 + i, false);
		enum role be = flow_backend(e, &f, &r);

		hits_gone += be == gone;
		bad += be == R_NONE;
	}
	if (hits_gone || bad)
		diag("%d of 300 new flows went to the removed backend, %d failed", hits_gone, bad);
	report(!hits_gone && !bad, "300 new flows all avoid the removed backend");
	svc_write(e, SVC_WEB, NODE_IP, 30080, IPPROTO_TCP,
		  PODLANE_SVC_F_NODEPORT | PODLANE_SVC_F_MAGLEV, web_be, 3, 3, 3);
}

/* A backend turned terminating in place (before the agent repacks): no new flows. */
static void test_terminating(struct env *e)
{
	struct be_def be[3];
	struct flow old = { CLIENT_IP, NODE_IP, 0, 30095, IPPROTO_TCP };
	struct result r;
	int i, to_c = 0, bad = 0;

	/* First an established flow that landed on C. */
	for (i = 0; i < 200; i++) {
		old.sport = 45000 + i;
		old.ack = false;
		if (flow_backend(e, &old, &r) == R_C)
			break;
	}
	if (i == 200) {
		report(false, "terminating backend: set up a flow on it");
		report(false, "terminating backend gets no new flows");
		return;
	}
	memcpy(be, term_be, sizeof(be));
	be[2].state = PODLANE_BACKEND_TERMINATING;
	svc_write(e, SVC_TERM, NODE_IP, 30095, IPPROTO_TCP, PODLANE_SVC_F_NODEPORT, be, 3, 3, 3);
	old.ack = true;
	report(flow_backend(e, &old, &r) == R_C,
	       "terminating backend keeps its established flow");
	for (i = 0; i < 300; i++) {
		struct flow f = { CLIENT_IP, NODE_IP, 46000 + i, 30095, IPPROTO_TCP };
		enum role got = flow_backend(e, &f, &r);

		to_c += got == R_C;
		bad += got == R_NONE;
	}
	if (to_c || bad)
		diag("%d of 300 new flows went to the terminating backend, %d failed", to_c, bad);
	report(!to_c && !bad, "terminating backend gets no new flows (300 tried)");
}

static void test_local_mixed(struct env *e)
{
	struct result r;
	int i, ok = 0;

	for (i = 0; i < 100; i++) {
		struct flow f = { CLIENT_IP, NODE_IP, 47000 + i, 30092, IPPROTO_TCP };

		ok += flow_backend(e, &f, &r) == R_B;
	}
	report(ok == 100, "externalTrafficPolicy Local with a local and a remote backend: all 100 "
	       "flows stay on the local one");
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

static void test_maglev_disruption(struct env *e)
{
	static __u8 before[SPREAD_FLOWS], after[SPREAD_FLOWS];
	int i, removed = 4, on_removed = 0, moved = 0, moved_other = 0, failed = 0;
	int per_be[SPREAD_N + 1] = {};
	double min_share = 1.0, max_share = 0.0, excess;

	if (spread_write(e, -1)) {
		report(false, "Maglev service with 10 backends");
		report(false, "Maglev: removing 1 of 10 backends moves about 1/10 of flows");
		return;
	}
	ct_flush(e);
	spread_run(e, before);
	for (i = 0; i < SPREAD_FLOWS; i++) {
		failed += !before[i];
		if (before[i] && before[i] <= SPREAD_N)
			per_be[before[i]]++;
	}
	for (i = 1; i <= SPREAD_N; i++) {
		double s = (double)per_be[i] / SPREAD_FLOWS;

		min_share = s < min_share ? s : min_share;
		max_share = s > max_share ? s : max_share;
	}
	diag("Maglev over 10 backends, %d flows: shares %.3f .. %.3f", SPREAD_FLOWS, min_share,
	     max_share);
	report(!failed && min_share > 0.07 && max_share < 0.13,
	       "Maglev spreads 5000 flows over 10 backends (each share within 0.07 .. 0.13)");

	/* Remove backend 10.244.2.5, forget all flows, send the same flows again. */
	spread_write(e, removed);
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
	diag("removed 1 of 10 backends: %d of %d flows moved (%.2f%%): %d were on it (%.2f%%), "
	     "%d others moved (%.2f%% excess over the minimum 1/N)", moved, SPREAD_FLOWS,
	     100.0 * moved / SPREAD_FLOWS, on_removed, 100.0 * on_removed / SPREAD_FLOWS,
	     moved_other, 100.0 * excess);
	report(!failed && moved >= on_removed && excess < 0.03 &&
	       (double)moved / SPREAD_FLOWS < 0.1 + 0.04,
	       "Maglev via BPF_PROG_TEST_RUN: removing 1 of 10 backends moves ~1/10 of flows "
	       "(excess over 1/N < 3%)");
	ct_flush(e);
}

/* Conntrack capacity ---------------------------------------------------------------------- */

/* A second, private copy of the programs with podlane_ct of another type and size. */
static int env_load_small(struct env *f, enum bpf_map_type ct_type, __u32 ct_size)
{
	struct bpf_map *map;
	int err, r;

	f->ncpus = libbpf_num_possible_cpus();
	f->ep = tc_endpoint__open();
	f->up = tc_uplink__open();
	if (!f->ep || !f->up)
		return -errno;
	maps_unpin_and_shrink(f->ep->obj, MAP_SIZE);
	maps_unpin_and_shrink(f->up->obj, MAP_SIZE);
	bpf_object__for_each_map(map, f->ep->obj)
		if (bpf_map__type(map) == BPF_MAP_TYPE_LRU_HASH)
			bpf_map__set_max_entries(map, 64);
	bpf_map__set_type(f->ep->maps.podlane_ct, ct_type);
	bpf_map__set_max_entries(f->ep->maps.podlane_ct, ct_size);
	err = tc_endpoint__load(f->ep);
	err = err ?: maps_share(f->up->obj, f->ep->obj);
	err = err ?: tc_uplink__load(f->up);
	if (err)
		return err;
	f->svc_fd = bpf_map__fd(f->ep->maps.podlane_svc);
	f->be_fd = bpf_map__fd(f->ep->maps.podlane_backend);
	f->maglev_fd = bpf_map__fd(f->ep->maps.podlane_maglev);
	f->ct_fd = bpf_map__fd(f->ep->maps.podlane_ct);
	f->lbstat_fd = bpf_map__fd(f->ep->maps.podlane_lbstat);
	f->drops_fd = bpf_map__fd(f->ep->maps.podlane_drops);
	f->stat_fd = bpf_map__fd(f->ep->maps.podlane_ep_stat);
	f->from_uplink = bpf_program__fd(f->up->progs.tc_from_uplink);
	f->from_pod = bpf_program__fd(f->ep->progs.tc_from_pod);
	f->rb = ring_buffer__new(bpf_map__fd(f->ep->maps.podlane_events), on_event, f, NULL);
	if (!f->rb)
		return -errno;
	for (r = R_A; r < R_MAX; r++)
		f->ifindex[r] = if_nametoindex(role_dev[r]);
	err = endpoints_add(f);
	return err ?: svc_write(f, SVC_WEB, NODE_IP, 30080, IPPROTO_TCP,
				PODLANE_SVC_F_NODEPORT | PODLANE_SVC_F_MAGLEV, web_be, 3, 3, 3);
}

static void env_unload(struct env *f)
{
	ring_buffer__free(f->rb);
	tc_uplink__destroy(f->up);
	tc_endpoint__destroy(f->ep);
}

/*
 * An LRU map makes room by evicting, so a real insert failure cannot be provoked on demand.
 * The drop path is exercised by loading the same programs with podlane_ct as a plain hash
 * of 2 entries (one flow), where the second flow's insert fails with E2BIG.
 */
static void test_ct_full(void)
{
	const char *name = "CT full (map of 2 entries): a new flow is dropped with reason ct_full, "
			   "counted node-wide and reported; the tracked flow goes on";
	struct flow one = web_flow(40500, false), two = web_flow(40501, false);
	struct env f = {};
	struct result r;
	__u64 before;
	bool ok;
	int err;

	err = env_load_small(&f, BPF_MAP_TYPE_HASH, 2);
	if (err) {
		diag("ct full: setup failed: %s", strerror(-err));
		report(false, name);
		env_unload(&f);
		return;
	}
	send_flow(&f, R_UP, &one, &r);
	ok = !r.err && r.retval == TC_ACT_REDIRECT;
	before = node_drops(&f, PODLANE_DROP_CT_FULL);
	events_drain(&f);
	send_flow(&f, R_UP, &two, &r);
	ring_buffer__consume(f.rb);
	ok = ok && !r.err && r.retval == TC_ACT_SHOT &&
	     node_drops(&f, PODLANE_DROP_CT_FULL) == before + 1 && f.nevents == 1 &&
	     f.events[0].reason == PODLANE_DROP_CT_FULL;
	one.ack = true;
	send_flow(&f, R_UP, &one, &r);
	ok = ok && !r.err && r.retval == TC_ACT_REDIRECT;
	report(ok, name);
	env_unload(&f);
}

/* A tiny LRU conntrack: flows evict each other instead of failing, and that is visible. */
static void test_ct_lru_evict(void)
{
	const char *n1 = "LRU conntrack of 32 entries, 200 new flows: none dropped, occupancy "
			 "stays within the map (collector count)";
	const char *n2 = "a flow whose entries were evicted is counted (ct_midflow) and Maglev "
			 "puts it back on the same backend";
	struct ct_gc_stats st;
	struct env f = {};
	struct result r;
	enum role first = R_NONE, again;
	__u64 midflow, full;
	int i, lost = 0, err;

	err = env_load_small(&f, BPF_MAP_TYPE_LRU_HASH, 32);
	if (err) {
		diag("lru: setup failed: %s", strerror(-err));
		report(false, n1);
		report(false, n2);
		env_unload(&f);
		return;
	}
	full = node_drops(&f, PODLANE_DROP_CT_FULL);
	for (i = 0; i < 200; i++) {
		struct flow fl = web_flow(48000 + i, false);
		enum role got = flow_backend(&f, &fl, &r);

		if (i == 0)
			first = got;
		lost += got == R_NONE;
	}
	err = ct_gc(f.ct_fd, ct_now_ns(), &st, NULL, NULL);
	diag("after 200 flows: %llu live entries in a map of %u, %d flows not translated",
	     (unsigned long long)st.live, st.max_entries, lost);
	report(!err && !lost && st.live <= 32 && st.live > 0 && st.max_entries == 32 &&
	       node_drops(&f, PODLANE_DROP_CT_FULL) == full, n1);

	midflow = lbstat(&f, PODLANE_LB_CT_MIDFLOW);
	{
		struct flow fl = web_flow(48000, true);

		again = flow_backend(&f, &fl, &r);
	}
	report(again == first && lbstat(&f, PODLANE_LB_CT_MIDFLOW) == midflow + 1, n2);
	env_unload(&f);
}

/* NodePort at XDP -------------------------------------------------------------------------- */

/* A frame through xdp_from_uplink; returns the XDP verdict or -errno. */
static int xdp_run(int prog, const struct flow *f)
{
	__u8 pkt[PKT_MAX];
	size_t len = build(f, pkt);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = len, .repeat = 1);

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
		diag("failed to load 'xdp_uplink': %s", strerror(-err));
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
		.data_out = r->out,
		.data_size_out = sizeof(r->out),
		.repeat = 1,
	);

	memset(&r->s, 0, sizeof(r->s));
	r->err = bpf_prog_test_run_opts(prog, &opts) ? -errno : 0;
	r->retval = (int)opts.retval;
	if (ns)
		*ns = opts.duration;
	if (!r->err && opts.data_size_out >= ETH_HLEN + 28)
		parse_out(r->out, &r->s);
}

static void test_xdp(struct env *e)
{
	struct xdp_uplink *x = xdp_load(e, true);
	struct result r;
	__u64 nolocal, nobe;
	int prog;
	bool ok;

	if (!x) {
		for (int i = 0; i < 4; i++)
			report(false, "xdp NodePort early drop (not loaded)");
		return;
	}
	prog = bpf_program__fd(x->progs.xdp_from_uplink);

	nolocal = node_drops(e, PODLANE_DROP_NO_LOCAL_BACKEND);
	nobe = node_drops(e, PODLANE_DROP_NO_BACKEND);
	{
		struct flow f = { CLIENT_IP, NODE_IP, 43000, 30090, IPPROTO_TCP };

		ok = xdp_run(prog, &f) == XDP_DROP &&
		     node_drops(e, PODLANE_DROP_NO_LOCAL_BACKEND) == nolocal + 1;
		report(ok, "XDP: NodePort with externalTrafficPolicy Local and no local backend is "
		       "dropped before an skb exists (no_local_backend, counted)");
	}
	{
		struct flow f = { CLIENT_IP, NODE_IP, 43001, 30091, IPPROTO_TCP };

		ok = xdp_run(prog, &f) == XDP_DROP &&
		     node_drops(e, PODLANE_DROP_NO_BACKEND) == nobe + 1;
		report(ok, "XDP: NodePort without any backend is dropped (no_backend, counted)");
	}
	{
		struct flow f = web_flow(43002, false);

		report(xdp_run(prog, &f) == XDP_PASS,
		       "XDP: NodePort with backends passes on to tc for translation");
	}
	{
		/* A tracked flow of a service that just lost its last backend keeps going. */
		const struct be_def be[] = { { IP_B, 80, 801, true } };
		struct flow f = { CLIENT_IP, NODE_IP, 43003, 30096, IPPROTO_TCP };

		ok = !svc_write(e, 10, NODE_IP, 30096, IPPROTO_TCP, PODLANE_SVC_F_NODEPORT, be, 1,
				1, 1) &&
		     flow_backend(e, &f, &r) == R_B &&
		     !svc_write(e, 10, NODE_IP, 30096, IPPROTO_TCP, PODLANE_SVC_F_NODEPORT, be, 0,
				0, 0);
		f.ack = true;
		ok = ok && xdp_run(prog, &f) == XDP_PASS && flow_backend(e, &f, &r) == R_B;
		f.sport++;
		f.ack = false;
		ok = ok && xdp_run(prog, &f) == XDP_DROP;
		report(ok, "XDP: a tracked flow passes after its service lost every backend; a new "
		       "flow to it is dropped");
	}
	xdp_uplink__destroy(x);
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

	if (ep_stats_read(e->stat_fd, e->ifindex[ro], e->ncpus, &st))
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
	__u8 pkt[PKT_MAX];
	size_t len = build(f, pkt);
	struct result r;
	bool ok = true;

	if (ct_get(e, f->saddr, f->daddr, f->sport, f->dport, proto, PODLANE_CT_ORIGINAL,
		   &before))
		return false;
	xdp_run_out(prog, pkt, len, &r, NULL);
	if (r.err || r.retval != XDP_REDIRECT) {
		diag("xdp verdict %d (err %d), want XDP_REDIRECT", r.retval, r.err);
		return false;
	}
	if (r.s.daddr != endpoints[be - R_A].ip || r.s.dport != be_port ||
	    r.s.saddr != f->saddr || r.s.sport != f->sport || r.s.ttl != 63) {
		diag("xdp output %08x:%u from %08x:%u ttl %u", r.s.daddr, r.s.dport, r.s.saddr,
		     r.s.sport, r.s.ttl);
		ok = false;
	}
	if (!r.s.l3_ok || !r.s.l4_ok) {
		diag("xdp output checksums: ip %d, l4 %d", r.s.l3_ok, r.s.l4_ok);
		ok = false;
	}
	if (!mac_is(r.s.dmac, endpoints[be - R_A].pod_mac) ||
	    !mac_is(r.s.smac, endpoints[be - R_A].host_mac)) {
		diag("xdp output MACs are not host veth -> pod");
		ok = false;
	}
	if (ct_get(e, f->saddr, f->daddr, f->sport, f->dport, proto, PODLANE_CT_ORIGINAL,
		   &after) ||
	    after.packets != before.packets + 1 || after.bytes != before.bytes + len ||
	    after.expires_ns == before.expires_ns) {
		diag("conntrack entry not counted or refreshed by XDP");
		ok = false;
	}
	if (lbstat(e, PODLANE_LB_NAT_CT_HIT) != hit + 1 ||
	    lbstat(e, PODLANE_LB_XDP_FAST) != fast + 1 || ep_rx(e, be) != rx + 1) {
		diag("ct_hit/xdp_fast/endpoint rx counters did not move by one");
		ok = false;
	}
	return ok;
}

/* The same frame must come out of XDP untouched with XDP_PASS, and nothing counted. */
static bool xdp_pass_untouched(struct env *e, int prog, const struct flow *f)
{
	__u64 hit = lbstat(e, PODLANE_LB_NAT_CT_HIT), fast = lbstat(e, PODLANE_LB_XDP_FAST);
	__u8 pkt[PKT_MAX];
	size_t len = build(f, pkt);
	struct result r;

	xdp_run_out(prog, pkt, len, &r, NULL);
	if (r.err || r.retval != XDP_PASS) {
		diag("xdp verdict %d (err %d), want XDP_PASS", r.retval, r.err);
		return false;
	}
	if (memcmp(r.out, pkt, len) || lbstat(e, PODLANE_LB_NAT_CT_HIT) != hit ||
	    lbstat(e, PODLANE_LB_XDP_FAST) != fast) {
		diag("a passed frame was rewritten or counted");
		return false;
	}
	return true;
}

static void test_xdp_fast(struct env *e)
{
	struct xdp_uplink *x = xdp_load(e, true), *off = xdp_load(e, false);
	struct ct_entry ct;
	struct result r;
	enum role be;
	int prog;
	bool ok;

	if (!x || !off || ep_xdp_rx_all(e, true)) {
		for (int i = 0; i < 8; i++)
			report(false, "xdp NodePort fast path (not loaded)");
		xdp_uplink__destroy(x);
		xdp_uplink__destroy(off);
		return;
	}
	prog = bpf_program__fd(x->progs.xdp_from_uplink);
	{
		struct flow f = web_flow(44000, false);

		ok = xdp_pass_untouched(e, prog, &f) &&
		     ct_get(e, f.saddr, f.daddr, f.sport, f.dport, IPPROTO_TCP,
			    PODLANE_CT_ORIGINAL, &ct) == -ENOENT;
		report(ok, "XDP fast path: a NodePort SYN without a conntrack entry passes to tc, "
		       "untouched, nothing tracked");
	}
	{
		struct flow f = web_flow(44001, false);

		be = flow_backend(e, &f, &r);
		f.ack = true;
		ok = be != R_NONE && xdp_fast_ok(e, prog, &f, be, 8080);
		report(ok, "XDP fast path: the next packet of a tracked TCP NodePort flow is "
		       "XDP_REDIRECT to its pod, DNAT with valid checksums, counted");
		f.ack = false;
		f.tcp_flags = 0x11;	/* FIN|ACK */
		ok = be != R_NONE && xdp_fast_ok(e, prog, &f, be, 8080) &&
		     !ct_get(e, endpoints[be - R_A].ip, CLIENT_IP, 8080, f.sport, IPPROTO_TCP,
			     PODLANE_CT_REPLY, &ct) && (ct.flags & PODLANE_CT_F_CLOSING);
		report(ok, "XDP fast path: a FIN moves both conntrack entries to closing, as tc "
		       "does");
	}
	{
		struct flow f = { CLIENT_IP, NODE_IP, 44002, 30053, IPPROTO_UDP };
		struct flow g = { CLIENT_IP, NODE_IP, 44003, 30053, IPPROTO_UDP,
				  .udp_nocsum = true };

		ok = flow_backend(e, &f, &r) == R_A && xdp_fast_ok(e, prog, &f, R_A, 53) &&
		     flow_backend(e, &g, &r) == R_A && xdp_fast_ok(e, prog, &g, R_A, 53);
		if (ok) {
			__u8 pkt[PKT_MAX];

			xdp_run_out(prog, pkt, build(&g, pkt), &r, NULL);
			ok = r.retval == XDP_REDIRECT && r.s.l4_check == 0;
		}
		report(ok, "XDP fast path: tracked UDP NodePort flows too; a UDP checksum of 0 "
		       "stays 0");
	}
	{
		struct flow f = { CLIENT_IP, NODE_IP, 44004, 30093, IPPROTO_TCP };

		send_flow(e, R_UP, &f, &r);
		ok = r.retval == TC_ACT_OK && r.s.daddr == REMOTE_BE;
		f.ack = true;
		ok = ok && xdp_pass_untouched(e, prog, &f);
		report(ok, "XDP fast path: a tracked flow to a backend on another node passes to "
		       "tc");
	}
	{
		struct flow f = web_flow(44005, false);
		struct xdp_uplink *dflt;

		be = flow_backend(e, &f, &r);
		f.ack = true;
		ok = be != R_NONE && !ep_flag(e, be, PODLANE_EP_F_XDP_RX, false) &&
		     xdp_pass_untouched(e, prog, &f);
		ok = ok && !ep_flag(e, be, PODLANE_EP_F_XDP_RX, true) &&
		     xdp_fast_ok(e, prog, &f, be, 8080);
		report(ok, "XDP fast path: a pod whose interface does not take XDP frames "
		       "(no PODLANE_EP_F_XDP_RX) keeps its flows in tc");
		dflt = xdp_uplink__open();
		ok = be != R_NONE &&
		     xdp_pass_untouched(e, bpf_program__fd(off->progs.xdp_from_uplink), &f) &&
		     dflt && !dflt->rodata->nodeport_fastpath;
		xdp_uplink__destroy(dflt);
		report(ok, "XDP fast path: nodeport_fastpath=false (the default) passes tracked "
		       "flows to tc");
	}
	{
		struct flow f = web_flow(44006, false);
		struct flow cut = web_flow(44006, true);

		be = flow_backend(e, &f, &r);
		f.ack = true;
		cut.frag_off = 0x4000;	/* DF: still one piece */
		ok = be != R_NONE && xdp_fast_ok(e, prog, &cut, be, 8080);
		cut.frag_off = 0x2000;	/* MF: a first fragment, tc's business */
		ok = ok && xdp_pass_untouched(e, prog, &cut);
		report(ok, "XDP fast path: DF frames take it, fragments pass to tc");
	}
	ep_xdp_rx_all(e, false);
	xdp_uplink__destroy(x);
	xdp_uplink__destroy(off);
}

/* The collector ---------------------------------------------------------------------------- */

static void test_gc(struct env *e)
{
	struct ct_gc_stats st;
	__u64 now = ct_now_ns();
	struct result r;
	int i, err;

	ct_flush(e);
	/* 10 established flows (SYN + reply), 5 closed (SYN + FIN), 5 UDP. */
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
	/* Now: 20 TCP flows (40 entries) + 5 UDP flows (10 entries). */
	err = ct_gc(e->ct_fd, now, &st, NULL, NULL);
	report(!err && st.scanned == 50 && st.deleted == 0 && st.live == 50 &&
	       st.live_tcp == 40 && st.live_udp == 10 && st.live_closing == 20,
	       "GC at the present time deletes nothing (50 live: 40 tcp, 10 udp, 20 closing)");

	/* 11 s later the closing TCP entries (10 s) are gone, the rest stays. */
	err = ct_gc(e->ct_fd, now + 11 * 1000000000ULL, &st, NULL, NULL);
	report(!err && st.deleted == 20 && st.live == 30,
	       "GC 11 s later deletes the 20 closing entries and keeps 30 live ones");
	if (err || st.deleted != 20)
		diag("gc: err %d scanned %llu deleted %llu live %llu", err,
		     (unsigned long long)st.scanned, (unsigned long long)st.deleted,
		     (unsigned long long)st.live);

	/* 61 s: UDP (60 s) goes, established TCP (6 h) stays. */
	err = ct_gc(e->ct_fd, now + 61 * 1000000000ULL, &st, NULL, NULL);
	report(!err && st.deleted == 10 && st.live == 20 && st.live_tcp == 20,
	       "GC 61 s later deletes UDP entries, keeps the 20 established TCP entries");

	err = ct_gc(e->ct_fd, now + (PODLANE_CT_TCP_LIFETIME_S + 1) * 1000000000ULL, &st, NULL,
		    NULL);
	report(!err && st.deleted == 20 && st.live == 0, "GC past 6 h empties the map");
}

static void test_sizing(void)
{
	__u64 gib = 1ULL << 30;

	report(ct_size_from_memory(gib) == PODLANE_MIN_CT &&
	       ct_size_from_memory(24 * gib) == PODLANE_MAX_CT &&
	       ct_size_from_memory(4096 * gib) == PODLANE_MAX_CT_LIMIT,
	       "conntrack size from memory: 1 GiB -> 16384, 24 GiB -> 262144, 4 TiB -> cap");
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
	__u8 p_hit[PKT_MAX], p_pass[PKT_MAX], p_reply[PKT_MAX], p_miss[PKT_MAX], p_pod[PKT_MAX];
	size_t l_hit, l_pass, l_reply, l_miss, l_pod;
	struct result r;
	enum role be;

	struct tc_uplink *off = tc_uplink__open();

	if (off) {
		maps_unpin_and_shrink(off->obj, MAP_SIZE);
		off->rodata->service_nat = false;
		if (maps_share(off->obj, e->ep->obj) || tc_uplink__load(off)) {
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
	l_hit = build(&hit, p_hit);
	l_pass = build(&pass, p_pass);
	l_reply = build(&reply, p_reply);
	l_pod = build(&pod, p_pod);
	xdp_fd = bpf_program__fd(x->progs.xdp_from_uplink);

	/* Interleave the variants sample by sample so that drift hits all of them alike. */
	for (i = 0; i < samples; i++) {
		miss.saddr = IP4(198, 18, (i >> 14) & 0xff, (i >> 6) & 0xff);
		miss.sport = 1024 + (i & 0x3f) * 512 + (i % 7);
		l_miss = build(&miss, p_miss);
		run(floor_fd, e->ifindex[R_UP], p_pass, l_pass, &r, &ns[B_FLOOR][i]);
		run(bpf_program__fd(off->progs.tc_from_uplink), e->ifindex[R_UP], p_pass, l_pass,
		    &r, &ns[B_PASS_OFF][i]);
		run(e->from_uplink, e->ifindex[R_UP], p_pass, l_pass, &r, &ns[B_PASS][i]);
		if (r.retval != TC_ACT_OK)
			goto bad;
		run(e->from_uplink, e->ifindex[R_UP], p_miss, l_miss, &r, &ns[B_MISS][i]);
		if (r.retval != TC_ACT_REDIRECT)
			goto bad;
		run(e->from_uplink, e->ifindex[R_UP], p_hit, l_hit, &r, &ns[B_HIT][i]);
		if (r.retval != TC_ACT_REDIRECT)
			goto bad;
		run(e->from_pod, e->ifindex[be], p_reply, l_reply, &r, &ns[B_REPLY][i]);
		if (r.retval != TC_ACT_REDIRECT)
			goto bad;
		run(e->from_pod, e->ifindex[R_C], p_pod, l_pod, &r, &ns[B_POD_BACKEND][i]);
		if (r.retval != TC_ACT_REDIRECT || ep_backend_flag(e, R_C, false))
			goto bad;
		run(e->from_pod, e->ifindex[R_C], p_pod, l_pod, &r, &ns[B_POD][i]);
		if (r.retval != TC_ACT_REDIRECT || ep_backend_flag(e, R_C, true))
			goto bad;
		xdp_run_out(xdp_floor_fd, p_pass, l_pass, &r, &ns[B_XDP_FLOOR][i]);
		if (r.retval != XDP_PASS)
			goto bad;
		xdp_run_out(xdp_fd, p_pass, l_pass, &r, &ns[B_XDP_PASS][i]);
		if (r.retval != XDP_PASS)
			goto bad;
		xdp_run_out(xdp_fd, p_hit, l_hit, &r, &ns[B_XDP_HIT][i]);
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bench", no_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{}
	};
	struct env e = {};
	int samples = 20001, opt, err;
	bool bench = false;
	size_t i;
	enum role be;

	while ((opt = getopt_long(argc, argv, "bvn:", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			bench = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'n':
			samples = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-v] [--bench [-n SAMPLES]]\n", argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print_tap);
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root for BPF_PROG_TEST_RUN and a network namespace\n");
		return 0;
	}
	err = devices_make(&e);
	err = err ?: load(&e);
	if (bench) {
		if (err) {
			fprintf(stderr, "bench: setup failed: %s\n", strerror(-err));
			return 1;
		}
		return run_bench(&e, samples < 1 ? 1 : samples);
	}

	printf("1..%zu\n", 1 + ARRAY_SIZE(table) + 2 + 28 + 8);
	report(!err, "set up namespace, load tc_endpoint + tc_uplink, services and endpoints");
	if (err) {
		diag("setup: %s", strerror(-err));
		return 1;
	}
	for (i = 0; i < ARRAY_SIZE(table); i++)
		run_table_case(&e, &table[i]);
	test_remote_snat(&e);
	be = test_tcp_flow(&e);
	test_reply_no_neigh(&e);
	test_reply_needs_flag(&e);
	test_pod_not_reply(&e);
	if (be != R_NONE) {
		test_backend_removed(&e, be);
	} else {
		report(false, "removing a backend keeps its flow (not run: no flow)");
		report(false, "new flows avoid the removed backend (not run: no flow)");
	}
	test_terminating(&e);
	test_local_mixed(&e);
	test_maglev_disruption(&e);
	test_ct_full();
	test_ct_lru_evict();
	test_xdp(&e);
	test_xdp_fast(&e);
	test_gc(&e);
	test_sizing();

	ring_buffer__free(e.rb);
	tc_uplink__destroy(e.up);
	tc_endpoint__destroy(e.ep);
	return failures ? 1 : 0;
}
