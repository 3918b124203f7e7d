// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_lb_xdp.c - the uplink XDP prefilter (bpf/xdp_uplink.bpf.c) through BPF_PROG_TEST_RUN,
 * written with kselftest_harness.h: with 100,000 prefixes in the IPv4 deny list, a frame from a
 * denied source is XDP_DROP with reason prefilter_denied, counted node-wide, on its rule and on
 * the ring buffer; everything else passes. Each row of the frame table is a variant of the
 * fixture `frame`. Every test loads its own copy of the program and the list; maps are
 * private (never pinned) and nothing is attached, so there is nothing to clean up.
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

#include "kselftest_harness.h"
#include "testlib.h"
#include "xdp_uplink.skel.h"

#define IP4		TL_IP4
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

/* The prefilter with its lists: N_PREFIXES generated IPv4 prefixes and the fixed rules. */
struct prefilter {
	struct xdp_uplink *skel;
	int fd4, fd6, prog;
	int loaded;		/* generated prefixes in the list, or -errno */
	int fixed_err;
};

/* One frame and what must become of it: the variant of the fixture `frame`. */
FIXTURE(frame) {
	struct prefilter p;
	struct tl_events events;
};

FIXTURE_VARIANT(frame) {
	struct frame_spec f;
	int verdict;		/* XDP_PASS or XDP_DROP */
	__u32 rule_addr;	/* IPv4 rule whose counter must grow (drops) */
	__u32 rule_len;
};

FIXTURE_VARIANT_ADD(frame, ipv4_source_in_a_denied_24_is_dropped) {
	.f = { 4, IP4(203, 0, 113, 5) },
	.verdict = XDP_DROP,
	.rule_addr = IP4(203, 0, 113, 0),
	.rule_len = 24,
};

FIXTURE_VARIANT_ADD(frame, ipv4_source_in_an_allowed_25_inside_the_denied_24_passes) {
	.f = { 4, IP4(203, 0, 113, 200) },
	.verdict = XDP_PASS,
};

FIXTURE_VARIANT_ADD(frame, ipv4_source_equal_to_a_denied_32_is_dropped) {
	.f = { 4, IP4(198, 51, 100, 7) },
	.verdict = XDP_DROP,
	.rule_addr = IP4(198, 51, 100, 7),
	.rule_len = 32,
};

FIXTURE_VARIANT_ADD(frame, ipv4_source_next_to_a_denied_32_passes) {
	.f = { 4, IP4(198, 51, 100, 8) },
	.verdict = XDP_PASS,
};

FIXTURE_VARIANT_ADD(frame, ipv4_source_in_no_list_passes) {
	.f = { 4, IP4(192, 0, 2, 1) },
	.verdict = XDP_PASS,
};

FIXTURE_VARIANT_ADD(frame, ipv4_source_in_a_generated_24_is_dropped) {
	.f = { 4, IP4(11, 0, 0, 9) },
	.verdict = XDP_DROP,
	.rule_addr = IP4(11, 0, 0, 0),
	.rule_len = 24,
};

FIXTURE_VARIANT_ADD(frame, vlan_tagged_ipv4_from_a_denied_source_is_dropped) {
	.f = { 4, IP4(203, 0, 113, 6), .vlan = true },
	.verdict = XDP_DROP,
	.rule_addr = IP4(203, 0, 113, 0),
	.rule_len = 24,
};

FIXTURE_VARIANT_ADD(frame, ipv6_source_in_a_denied_48_is_dropped) {
	.f = { 6, .src6 = deny6_net, .src6_last = 1 },
	.verdict = XDP_DROP,
};

FIXTURE_VARIANT_ADD(frame, ipv6_source_in_an_allowed_64_inside_it_passes) {
	.f = { 6, .src6 = allow6_net, .src6_last = 1 },
	.verdict = XDP_PASS,
};

FIXTURE_VARIANT_ADD(frame, arp_passes) {
	.f = { 0 },
	.verdict = XDP_PASS,
};

FIXTURE_VARIANT_ADD(frame, truncated_ipv4_header_passes_tc_drops_it_with_a_reason) {
	.f = { 4, IP4(203, 0, 113, 5), .cut = ETH_HLEN + 10 },
	.verdict = XDP_PASS,
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
		tl_log("failed to open skeleton 'xdp_uplink': %s", strerror(errno));
		return NULL;
	}
	tl_maps_private(skel->obj, LRU_SIZE);
	bpf_object__for_each_map(map, skel->obj)
		if (bpf_map__type(map) == BPF_MAP_TYPE_LRU_HASH)
			bpf_map__set_max_entries(map, LRU_SIZE);
	skel->rodata->drop_events = events;
	err = xdp_uplink__load(skel);
	if (err) {
		tl_log("failed to load skeleton 'xdp_uplink': %s", strerror(-err));
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

static __u64 rule_hits(int fd4, __u32 addr, __u32 len)
{
	struct prefilter_key4 key = { .prefixlen = len, .addr = htonl(addr) };
	struct prefilter_rule rule;

	return bpf_map_lookup_elem(fd4, &key, &rule) ? ~0ULL : rule.packets;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Tests ----------------------------------------------------------------------------------- */

static void prefilter_load(struct __test_metadata *_metadata, struct prefilter *p)
{
	double t0;

	p->skel = prefilter_open(true);
	ASSERT_NE(NULL, p->skel) TH_LOG("xdp_uplink does not load");
	p->fd4 = bpf_map__fd(p->skel->maps.podlane_deny4);
	p->fd6 = bpf_map__fd(p->skel->maps.podlane_deny6);
	p->prog = bpf_program__fd(p->skel->progs.xdp_from_uplink);
	t0 = now_s();
	p->loaded = deny_list_load(p->fd4, N_PREFIXES);
	tl_log("loaded %d prefixes in %.2f s", p->loaded, now_s() - t0);
	p->fixed_err = fixed_rules_load(p->fd4, p->fd6);
}

FIXTURE(prefilter) {
	struct prefilter p;
};

FIXTURE_SETUP(prefilter)
{
	prefilter_load(_metadata, &self->p);
}

FIXTURE_TEARDOWN(prefilter)
{
	xdp_uplink__destroy(self->p.skel);
}

TEST_F(prefilter, xdp_uplink_loads_with_private_maps)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, self->p.skel->obj) {
		EXPECT_FALSE(bpf_map__is_pinned(map)) TH_LOG("%s", bpf_map__name(map));
		EXPECT_EQ(NULL, bpf_map__pin_path(map)) TH_LOG("%s", bpf_map__name(map));
	}
	EXPECT_LE(0, self->p.prog);
}

TEST_F(prefilter, deny_list_holds_100000_distinct_ipv4_prefixes)
{
	EXPECT_EQ(N_PREFIXES, self->p.loaded);
}

TEST_F(prefilter, fixed_deny_and_allow_rules_ipv4_and_ipv6)
{
	EXPECT_EQ(0, self->p.fixed_err);
}

/* Informational: what a passing frame costs with the full list. */
TEST_F(prefilter, repeated_test_run_of_a_passing_frame_still_passes)
{
	const struct frame_spec pass = { 4, IP4(192, 0, 2, 1) };
	TL_FRAME(frame, FRAME_MAX);
	__u32 ns;
	int ret;

	frame_build(&pass, frame.b);
	ret = run_frame(self->p.prog, frame.b, 60, 100000, &ns);
	tl_log("a passing frame costs %u ns with %d prefixes (test_run mean of 100000)", ns,
	       self->p.loaded);
	EXPECT_EQ(XDP_PASS, ret);
}

FIXTURE_SETUP(frame)
{
	prefilter_load(_metadata, &self->p);
	ASSERT_EQ(0, tl_events_open(&self->events,
				    bpf_map__fd(self->p.skel->maps.podlane_events)));
}

FIXTURE_TEARDOWN(frame)
{
	tl_events_close(&self->events);
	xdp_uplink__destroy(self->p.skel);
}

/* One frame: its verdict; a drop counted node-wide, on its rule and reported; a pass not. */
TEST_F(frame, verdict)
{
	const struct frame_spec *f = &variant->f;
	int slot = PODLANE_DROP_INDEX(PODLANE_DROP_PREFILTER_DENIED);
	int drops_fd = bpf_map__fd(self->p.skel->maps.podlane_drops);
	int lbstat_fd = bpf_map__fd(self->p.skel->maps.podlane_lbstat);
	struct drop_counter before[PODLANE_DROP_SLOTS], after[PODLANE_DROP_SLOTS];
	__u64 hits = 0, pass_before, pass_after;
	TL_FRAME(frame, FRAME_MAX);
	int len = frame_build(f, frame.b), ret;
	const struct drop_event *ev = &self->events.ev[0];

	if (variant->rule_len)
		hits = rule_hits(self->p.fd4, variant->rule_addr, variant->rule_len);
	pass_before = tl_percpu_sum(lbstat_fd, PODLANE_LB_PREFILTER_PASS);
	ASSERT_EQ(0, tl_node_drops_read(drops_fd, before));
	tl_events_drain(&self->events);
	ret = run_frame(self->p.prog, frame.b, len, 1, NULL);
	ASSERT_EQ(0, tl_node_drops_read(drops_fd, after));
	pass_after = tl_percpu_sum(lbstat_fd, PODLANE_LB_PREFILTER_PASS);
	tl_events_poll(&self->events);

	EXPECT_EQ(variant->verdict, ret);
	if (variant->verdict == XDP_DROP) {
		EXPECT_EQ(before[slot].packets + 1, after[slot].packets)
			TH_LOG("node-wide prefilter_denied did not count the frame");
		EXPECT_EQ(before[slot].bytes + len, after[slot].bytes);
		if (variant->rule_len)
			EXPECT_EQ(hits + 1, rule_hits(self->p.fd4, variant->rule_addr,
						      variant->rule_len))
				TH_LOG("rule /%u did not count the hit", variant->rule_len);
		ASSERT_EQ(1, self->events.n) TH_LOG("drop events");
		EXPECT_EQ(PODLANE_DROP_PREFILTER_DENIED, ev->reason)
			TH_LOG("reason %s", tl_reason_name(ev->reason));
		EXPECT_EQ(PODLANE_HOOK_XDP_UPLINK, ev->hook);
		if (f->family == 4)
			EXPECT_EQ(htonl(f->src4), ev->saddr);
	} else {
		EXPECT_EQ(before[slot].packets, after[slot].packets)
			TH_LOG("a passed frame was counted as dropped");
		EXPECT_EQ(0, self->events.n);
		if (f->family && !f->cut)
			EXPECT_EQ(pass_before + 1, pass_after)
				TH_LOG("lbstat prefilter_pass did not count the frame");
	}
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
	TL_FRAME(frame, FRAME_MAX);
	int i, len = frame_build(f, frame.b);

	for (i = 0; i < runs; i++) {
		int ret = run_frame(prog_fd, frame.b, len, repeat, &ns[i]);

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

/* test_lb_xdp --bench [-r RUNS] [-n REPEAT] [-p PREFIXES]: the table instead of the tests. */
static int bench_main(int argc, char **argv)
{
	int runs = 9, prefixes = N_PREFIXES, opt;
	__u32 repeat = 1000000;

	while ((opt = getopt(argc, argv, "r:n:p:")) != -1) {
		switch (opt) {
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
	return run_bench(runs < 1 ? 1 : runs, repeat, prefixes);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--bench"))
		return bench_main(argc - 1, argv + 1);
	if (geteuid() != 0)
		ksft_exit_skip("needs root (BPF_PROG_TEST_RUN)\n");
	return test_harness_run(argc, argv);
}
