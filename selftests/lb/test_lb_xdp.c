// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_lb_xdp.c - the uplink XDP prefilter (bpf/xdp_uplink.bpf.c) through BPF_PROG_TEST_RUN,
 * printed as TAP: with 100,000 prefixes in the IPv4 deny list, a frame from a denied source is
 * XDP_DROP with reason prefilter_denied, counted node-wide, on its rule and on the ring buffer;
 * everything else passes. Maps are private (never pinned).
 *
 * With --bench it measures instead and prints a markdown table: ns per frame (median of runs)
 * for an empty XDP program (the floor of test_run itself) and for the prefilter with an empty
 * list and with 100,000 prefixes, on a frame that passes and on one that is dropped.
 *   test_lb_xdp --bench [-r RUNS] [-n REPEAT] [-p PREFIXES]
 */
#include <getopt.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>

#include "tap.h"
#include "xdp_uplink.skel.h"

#define IP4(a, b, c, d)	((__u32)(a) << 24 | (__u32)(b) << 16 | (__u32)(c) << 8 | (__u32)(d))
#define N_PREFIXES	100000
#define FRAME_MAX	128
#define LRU_SIZE	64	/* this test never touches the LB's LRU maps: keep them small */

/* Hand-placed rules; the 100,000 generated ones never cover these ranges. */
static const struct {
	__u32 addr;
	__u32 len;
	__u32 action;
} fixed_rules[] = {
	{ IP4(203, 0, 113, 0), 24, PODLANE_PREFILTER_DENY },
	{ IP4(203, 0, 113, 128), 25, PODLANE_PREFILTER_ALLOW },	/* exception */
	{ IP4(198, 51, 100, 7), 32, PODLANE_PREFILTER_DENY },
};

/* 2001:db8:bad::/48 is denied, 2001:db8:bad:1::/64 carved out of it. */
static const __u8 deny6_net[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xad };
static const __u8 allow6_net[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xad, 0x00, 0x01 };

struct frame_spec {
	int family;		/* 4 or 6; 0 = ARP */
	__u32 src4;		/* host order */
	const __u8 *src6;
	__u8 src6_last;		/* last byte of the IPv6 source */
	bool vlan;
	int cut;		/* > 0: truncate the frame to this many bytes */
};

struct test_case {
	const char *name;
	struct frame_spec f;
	int verdict;		/* XDP_PASS or XDP_DROP */
	__u32 rule_addr;	/* IPv4 rule whose counter must grow (drops) */
	__u32 rule_len;
};

static const struct test_case cases[] = {
	{ "ipv4 source in a denied /24 is dropped", { 4, IP4(203, 0, 113, 5) }, XDP_DROP,
	  IP4(203, 0, 113, 0), 24 },
	{ "ipv4 source in an allowed /25 inside the denied /24 passes",
	  { 4, IP4(203, 0, 113, 200) }, XDP_PASS },
	{ "ipv4 source equal to a denied /32 is dropped", { 4, IP4(198, 51, 100, 7) }, XDP_DROP,
	  IP4(198, 51, 100, 7), 32 },
	{ "ipv4 source next to a denied /32 passes", { 4, IP4(198, 51, 100, 8) }, XDP_PASS },
	{ "ipv4 source in no list passes", { 4, IP4(192, 0, 2, 1) }, XDP_PASS },
	{ "ipv4 source in a generated /24 is dropped", { 4, IP4(11, 0, 0, 9) }, XDP_DROP,
	  IP4(11, 0, 0, 0), 24 },
	{ "vlan-tagged ipv4 from a denied source is dropped",
	  { 4, IP4(203, 0, 113, 6), .vlan = true }, XDP_DROP, IP4(203, 0, 113, 0), 24 },
	{ "ipv6 source in a denied /48 is dropped", { 6, .src6 = deny6_net, .src6_last = 1 },
	  XDP_DROP },
	{ "ipv6 source in an allowed /64 inside it passes",
	  { 6, .src6 = allow6_net, .src6_last = 1 }, XDP_PASS },
	{ "ARP passes", { 0 }, XDP_PASS },
	{ "truncated ipv4 header passes (tc drops it with a reason)",
	  { 4, IP4(203, 0, 113, 5), .cut = ETH_HLEN + 10 }, XDP_PASS },
};

static int frame_build(const struct frame_spec *f, __u8 *buf)
{
	struct ethhdr *eth = (void *)buf;
	__u8 *l3 = buf + ETH_HLEN;
	__be16 *proto;
	int len;

	memset(buf, 0, FRAME_MAX);
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
	if (f->vlan) {
		eth->h_proto = htons(ETH_P_8021Q);
		l3[0] = 0;
		l3[1] = 42;	/* VLAN id */
		l3 += 4;
	}
	proto = (__be16 *)(l3 - 2);	/* EtherType, or the VLAN tag's inner one */

	if (f->family == 4) {
		struct iphdr *ip = (void *)l3;
		struct udphdr *udp = (void *)(ip + 1);

		*proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->tot_len = htons(sizeof(*ip) + sizeof(*udp) + 18);
		ip->saddr = htonl(f->src4);
		ip->daddr = htonl(IP4(10, 0, 0, 1));
		udp->source = htons(40000);
		udp->dest = htons(30080);
		udp->len = htons(sizeof(*udp) + 18);
		len = (__u8 *)(udp + 1) + 18 - buf;
	} else if (f->family == 6) {
		struct ipv6hdr *ip6 = (void *)l3;

		*proto = htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->nexthdr = IPPROTO_UDP;
		ip6->hop_limit = 64;
		ip6->payload_len = htons(26);
		memcpy(&ip6->saddr, f->src6, 16);
		ip6->saddr.s6_addr[15] = f->src6_last;
		ip6->daddr.s6_addr[0] = 0xfd;
		ip6->daddr.s6_addr[15] = 1;
		len = (__u8 *)(ip6 + 1) + 26 - buf;
	} else {
		*proto = htons(ETH_P_ARP);
		len = ETH_HLEN + 28;
	}
	if (len < 60)
		len = 60;	/* Ethernet minimum, as a NIC delivers it */
	if (f->cut)
		len = f->cut;
	return len;
}

static int rule4_add(int fd, __u32 addr, __u32 len, __u32 action, __u64 flags)
{
	struct prefilter_key4 key = { .prefixlen = len, .addr = htonl(addr) };
	struct prefilter_rule rule = { .action = action };

	return bpf_map_update_elem(fd, &key, &rule, flags) ? -errno : 0;
}

static bool covers(__u32 net, __u32 len, __u32 addr)
{
	__u32 mask = len ? ~0U << (32 - len) : 0;

	return (net & mask) == (addr & mask);
}

/*
 * The generated deny list: first 11.0.0.0/24 (a case relies on it), then distinct prefixes of
 * /16../32 at pseudo-random addresses, so the trie has real depth. None covers a fixed test
 * range. Returns the number of rules loaded or -errno.
 */
static int deny_list_load(int fd, int n)
{
	static const __u32 keep_out[] = {
		IP4(203, 0, 113, 0), IP4(198, 51, 100, 0), IP4(192, 0, 2, 0),
	};
	__u64 state = 0x2545f4914f6cdd1dULL;
	int loaded = 0, err, tries = 0;
	unsigned int i;

	err = rule4_add(fd, IP4(11, 0, 0, 0), 24, PODLANE_PREFILTER_DENY, BPF_NOEXIST);
	if (err)
		return err;
	loaded++;
	while (loaded < n && tries++ < 4 * n) {
		__u32 addr, len;
		bool bad = false;

		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		addr = (__u32)state;
		len = 16 + (state >> 32) % 17;
		addr &= ~0U << (32 - len);
		for (i = 0; i < ARRAY_SIZE(keep_out); i++)
			bad |= covers(addr, len, keep_out[i]) || covers(keep_out[i], 24, addr);
		bad |= covers(addr, len, IP4(11, 0, 0, 9));
		if (bad)
			continue;
		err = rule4_add(fd, addr, len, PODLANE_PREFILTER_DENY, BPF_NOEXIST);
		if (err == -EEXIST)
			continue;
		if (err)
			return err;
		loaded++;
	}
	return loaded;
}

static int fixed_rules_load(int fd4, int fd6)
{
	struct prefilter_key6 k6 = { .prefixlen = 48 };
	struct prefilter_rule rule = { .action = PODLANE_PREFILTER_DENY };
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(fixed_rules); i++) {
		err = rule4_add(fd4, fixed_rules[i].addr, fixed_rules[i].len,
				fixed_rules[i].action, BPF_ANY);
		if (err)
			return err;
	}
	memcpy(k6.addr, deny6_net, 16);
	if (bpf_map_update_elem(fd6, &k6, &rule, BPF_ANY))
		return -errno;
	k6.prefixlen = 64;
	memcpy(k6.addr, allow6_net, 16);
	rule.action = PODLANE_PREFILTER_ALLOW;
	if (bpf_map_update_elem(fd6, &k6, &rule, BPF_ANY))
		return -errno;
	return 0;
}

static struct xdp_uplink *prefilter_open(bool events)
{
	struct xdp_uplink *skel;
	struct bpf_map *map;
	int err;

	skel = xdp_uplink__open();
	if (!skel) {
		diag("failed to open skeleton 'xdp_uplink': %s", strerror(errno));
		return NULL;
	}
	maps_unpin_and_shrink(skel->obj, LRU_SIZE);
	bpf_object__for_each_map(map, skel->obj)
		if (bpf_map__type(map) == BPF_MAP_TYPE_LRU_HASH)
			bpf_map__set_max_entries(map, LRU_SIZE);
	skel->rodata->drop_events = events;
	err = xdp_uplink__load(skel);
	if (err) {
		diag("failed to load skeleton 'xdp_uplink': %s", strerror(-err));
		xdp_uplink__destroy(skel);
		return NULL;
	}
	return skel;
}

/* One frame through the program `repeat` times; returns the verdict, *ns the mean per run. */
static int run_frame(int prog_fd, const __u8 *frame, int len, __u32 repeat, __u32 *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = len,
		.repeat = repeat,
	);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	if (ns)
		*ns = opts.duration;
	return opts.retval;
}

static __u64 lbstat_read(int fd, __u32 slot, int ncpus)
{
	static __u64 per_cpu[MAX_CPUS];
	__u64 sum = 0;
	int cpu;

	if (bpf_map_lookup_elem(fd, &slot, per_cpu))
		return 0;
	for (cpu = 0; cpu < ncpus; cpu++)
		sum += per_cpu[cpu];
	return sum;
}

static __u64 rule_hits(int fd4, __u32 addr, __u32 len)
{
	struct prefilter_key4 key = { .prefixlen = len, .addr = htonl(addr) };
	struct prefilter_rule rule;

	return bpf_map_lookup_elem(fd4, &key, &rule) ? ~0ULL : rule.packets;
}

struct event_log {
	int count;
	struct drop_event last;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct event_log *log = ctx;

	if (size >= sizeof(struct drop_event)) {
		memcpy(&log->last, data, sizeof(log->last));
		log->count++;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run_tests(void)
{
	int slot = PODLANE_DROP_INDEX(PODLANE_DROP_PREFILTER_DENIED);
	int ncpus = libbpf_num_possible_cpus(), fd4, fd6, prog, n, ret;
	struct drop_counter before[PODLANE_DROP_SLOTS], after[PODLANE_DROP_SLOTS];
	struct event_log log = {};
	struct ring_buffer *rb;
	struct xdp_uplink *skel;
	__u8 frame[FRAME_MAX];
	unsigned int i;
	double t0;
	__u32 ns;

	printf("1..%zu\n", 3 + ARRAY_SIZE(cases) + 1);
	skel = prefilter_open(true);
	report(skel != NULL, "xdp_uplink loads (maps private)");
	if (!skel)
		return 1;
	fd4 = bpf_map__fd(skel->maps.podlane_deny4);
	fd6 = bpf_map__fd(skel->maps.podlane_deny6);
	prog = bpf_program__fd(skel->progs.xdp_from_uplink);

	t0 = now_s();
	n = deny_list_load(fd4, N_PREFIXES);
	diag("loaded %d prefixes in %.2f s", n, now_s() - t0);
	report(n == N_PREFIXES, "100,000 distinct IPv4 prefixes in the deny list");
	report(fixed_rules_load(fd4, fd6) == 0, "fixed deny and allow rules (IPv4 and IPv6)");

	rb = ring_buffer__new(bpf_map__fd(skel->maps.podlane_events), on_event, &log, NULL);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct test_case *c = &cases[i];
		__u64 hits = 0, pass_before, pass_after;
		bool ok = true;
		int len = frame_build(&c->f, frame);

		if (c->rule_len)
			hits = rule_hits(fd4, c->rule_addr, c->rule_len);
		pass_before = lbstat_read(bpf_map__fd(skel->maps.podlane_lbstat),
					  PODLANE_LB_PREFILTER_PASS, ncpus);
		node_drops_read(bpf_map__fd(skel->maps.podlane_drops), ncpus, before);
		log.count = 0;
		ret = run_frame(prog, frame, len, 1, NULL);
		node_drops_read(bpf_map__fd(skel->maps.podlane_drops), ncpus, after);
		pass_after = lbstat_read(bpf_map__fd(skel->maps.podlane_lbstat),
					 PODLANE_LB_PREFILTER_PASS, ncpus);
		if (rb)
			ring_buffer__consume(rb);

		if (ret != c->verdict) {
			diag("verdict %d, want %d", ret, c->verdict);
			ok = false;
		}
		if (c->verdict == XDP_DROP) {
			if (after[slot].packets != before[slot].packets + 1 ||
			    after[slot].bytes != before[slot].bytes + len) {
				diag("node-wide prefilter_denied did not count the frame");
				ok = false;
			}
			if (c->rule_len && rule_hits(fd4, c->rule_addr, c->rule_len) != hits + 1) {
				diag("rule /%u did not count the hit", c->rule_len);
				ok = false;
			}
			if (log.count != 1 || log.last.reason != PODLANE_DROP_PREFILTER_DENIED ||
			    log.last.hook != PODLANE_HOOK_XDP_UPLINK ||
			    (c->f.family == 4 && log.last.saddr != htonl(c->f.src4))) {
				diag("drop event: %d seen, reason %s, hook %u", log.count,
				     reason_name(log.last.reason), log.last.hook);
				ok = false;
			}
		} else {
			if (after[slot].packets != before[slot].packets || log.count) {
				diag("a passed frame was counted as dropped");
				ok = false;
			}
			if (c->f.family && !c->f.cut && pass_after != pass_before + 1) {
				diag("lbstat prefilter_pass did not count the frame");
				ok = false;
			}
		}
		report(ok, c->name);
	}

	/* Informational: what a passing frame costs with the full list. */
	frame_build(&cases[4].f, frame);
	ret = run_frame(prog, frame, 60, 100000, &ns);
	diag("a passing frame costs %u ns with %d prefixes (test_run mean of 100000)", ns, n);
	report(ret == XDP_PASS, "repeated test_run of a passing frame still passes");

	ring_buffer__free(rb);
	xdp_uplink__destroy(skel);
	return failures ? 1 : 0;
}

/* ---- --bench ------------------------------------------------------------------------- */

static int floor_prog_load(void)
{
	/* r0 = XDP_PASS; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "xdp_floor", "GPL", insns, ARRAY_SIZE(insns),
			     NULL);
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median over runs of test_run's mean ns per frame. */
static double median_ns(int prog_fd, const struct frame_spec *f, int runs, __u32 repeat,
			int want)
{
	__u32 ns[64];
	__u8 frame[FRAME_MAX];
	int i, len = frame_build(f, frame);

	for (i = 0; i < runs; i++) {
		int ret = run_frame(prog_fd, frame, len, repeat, &ns[i]);

		if (ret != want) {
			fprintf(stderr, "bench: verdict %d, want %d\n", ret, want);
			return -1;
		}
	}
	qsort(ns, runs, sizeof(ns[0]), cmp_u32);
	return runs % 2 ? ns[runs / 2] : (ns[runs / 2 - 1] + ns[runs / 2]) / 2.0;
}

static int run_bench(int runs, __u32 repeat, int prefixes)
{
	const struct frame_spec pass = { 4, IP4(192, 0, 2, 1) };
	const struct frame_spec deny = { 4, IP4(11, 0, 0, 9) };
	struct xdp_uplink *empty, *full;
	double floor_ns, e_pass, f_pass, f_drop;
	int floor_fd, n;

	if (runs > 64)
		runs = 64;
	floor_fd = floor_prog_load();
	empty = prefilter_open(false);
	full = prefilter_open(false);
	if (floor_fd < 0 || !empty || !full) {
		fprintf(stderr, "bench: failed to load programs\n");
		return 1;
	}
	n = deny_list_load(bpf_map__fd(full->maps.podlane_deny4), prefixes);
	if (n != prefixes) {
		fprintf(stderr, "bench: loaded %d of %d prefixes\n", n, prefixes);
		return 1;
	}
	/* Interleave the variants run by run so that drift hits all of them alike. */
	{
		double s_floor[64], s_ep[64], s_fp[64], s_fd[64];
		int i;

		for (i = 0; i < runs; i++) {
			s_floor[i] = median_ns(floor_fd, &pass, 1, repeat, XDP_PASS);
			s_ep[i] = median_ns(bpf_program__fd(empty->progs.xdp_from_uplink), &pass, 1,
					    repeat, XDP_PASS);
			s_fp[i] = median_ns(bpf_program__fd(full->progs.xdp_from_uplink), &pass, 1,
					    repeat, XDP_PASS);
			s_fd[i] = median_ns(bpf_program__fd(full->progs.xdp_from_uplink), &deny, 1,
					    repeat, XDP_DROP);
			if (s_floor[i] < 0 || s_ep[i] < 0 || s_fp[i] < 0 || s_fd[i] < 0)
				return 1;
		}
#define MEDIAN(a)	({ qsort(a, runs, sizeof(double), cmp_double);			\
			   runs % 2 ? a[runs / 2] : (a[runs / 2 - 1] + a[runs / 2]) / 2; })
		floor_ns = MEDIAN(s_floor);
		e_pass = MEDIAN(s_ep);
		f_pass = MEDIAN(s_fp);
		f_drop = MEDIAN(s_fd);
#undef MEDIAN
	}
	printf("| XDP program (BPF_PROG_TEST_RUN, 60-byte frame) | ns/frame (median of %d x %u) "
	       "| over floor |\n|---|---:|---:|\n", runs, repeat);
	printf("| empty program (floor) | %.1f | - |\n", floor_ns);
	printf("| prefilter, empty deny list, pass | %.1f | %+.1f |\n", e_pass, e_pass - floor_ns);
	printf("| prefilter, %d prefixes, pass (no match) | %.1f | %+.1f |\n", n, f_pass,
	       f_pass - floor_ns);
	printf("| prefilter, %d prefixes, drop (match, counted) | %.1f | %+.1f |\n", n, f_drop,
	       f_drop - floor_ns);
	close(floor_fd);
	xdp_uplink__destroy(empty);
	xdp_uplink__destroy(full);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bench", no_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{}
	};
	int runs = 9, prefixes = N_PREFIXES, opt;
	__u32 repeat = 1000000;
	bool bench = false;

	while ((opt = getopt_long(argc, argv, "bvr:n:p:", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			bench = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'n':
			repeat = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			prefixes = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [--bench [-r RUNS] [-n REPEAT] [-p PREFIXES]]\n",
				argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print_tap);
	if (runs < 1)
		runs = 1;
	return bench ? run_bench(runs, repeat, prefixes) : run_tests();
}
