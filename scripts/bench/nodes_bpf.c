// SPDX-License-Identifier: GPL-2.0-only
/*
 * nodes_bpf.c - per-packet cost of the node lookup for scripts/bench/bench-nodes.sh: a pod's
 * packet to a pod on another node through tc_from_pod (bpf/tc_endpoint.bpf.c) under
 * BPF_PROG_TEST_RUN, with podlane_nodes holding SMALL (default 10) and BIG (default 5,000)
 * nodes, in direct routing (LPM lookup, then bpf_fib_lookup() toward the node and a redirect
 * out of the uplink) and in VXLAN (LPM lookup, tunnel key, redirect to the vxlan device), next
 * to an empty tc program (the floor: what test_run itself costs).
 *
 * The process enters a private network namespace of its own: a pod host veth with the sending
 * pod's endpoint, an uplink with 172.20.255.1/16 and a permanent neighbour for each node the
 * packets go to. Each variant has its own copy of tc_endpoint with private maps (nothing is
 * pinned or attached). The packets of a run go to TARGETS nodes spread over the table (over the
 * SMALL nodes for the small table); a run is REPEAT test_run repeats of each, and each cell is
 * the median over RUNS runs of the mean ns per packet, the variants interleaved run by run.
 * Every run checks the verdict (TC_ACT_REDIRECT) and that the TTL went down by one.
 *
 * Node i: pod CIDR 10.<128 + i / 256>.<i % 256>.0/24, node IP 172.20.<i / 250>.<i % 250 + 2>,
 * the records bench-nodes.sh writes to etcd.
 *
 * Usage: nodes_bpf [-r RUNS] [-n REPEAT] [-s SMALL] [-b BIG]; prints a markdown table.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>

#include "testlib.h"
#include "tc_endpoint.skel.h"

#define IP4		TL_IP4
#define POD_IP		IP4(10, 244, 0, 10)
#define TARGETS		16
#define PKT_LEN		(ETH_HLEN + sizeof(struct iphdr) + sizeof(struct tcphdr))

static const __u8 pod_mac[ETH_ALEN] = { 0x0a, 0x58, 0, 0, 0, 0x0a };
static const __u8 host_mac[ETH_ALEN] = { 0xee, 0, 0, 0, 0, 0x0a };

static __u32 node_cidr(int i)
{
	return IP4(10, 128 + i / 256, i % 256, 0);
}

static __u32 node_ip(int i)
{
	return IP4(172, 20, i / 250, i % 250 + 2);
}

/* A TCP ACK from the pod to 10.<...>.5 in node i's pod CIDR, checksums right. */
static void build(int i, __u8 *buf)
{
	struct ethhdr *eth = (void *)buf;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *th = (void *)(ip + 1);
	__u32 sum;

	memset(buf, 0, PKT_LEN);
	memcpy(eth->h_dest, host_mac, ETH_ALEN);
	memcpy(eth->h_source, pod_mac, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(sizeof(*ip) + sizeof(*th));
	ip->ttl = 255;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = htonl(POD_IP);
	ip->daddr = htonl(node_cidr(i) | 5);
	ip->check = htons(~tl_csum_fold(tl_csum_add(0, ip, sizeof(*ip))));
	th->source = htons(40000);
	th->dest = htons(8080);
	th->doff = 5;
	th->ack = 1;
	th->window = htons(64240);
	sum = tl_csum_add(0, &ip->saddr, 8) + IPPROTO_TCP + sizeof(*th);
	th->check = htons(~tl_csum_fold(tl_csum_add(sum, th, sizeof(*th))));
}

struct variant {
	const char *label;
	struct tc_endpoint *skel;
	int prog;
	int nodes;
	double *ns;	/* per run */
};

static int load(struct variant *v, int nodes, bool vxlan, int pod_ifindex, int up_ifindex)
{
	struct node_value val = { .ifindex = up_ifindex };
	int fd, i, err;

	v->skel = tc_endpoint__open();
	if (!v->skel)
		return -errno;
	tl_maps_private(v->skel->obj, 64);
	bpf_map__set_max_entries(v->skel->maps.podlane_nodes, 2 * nodes);
	err = tc_endpoint__load(v->skel);
	if (err)
		return err;
	err = tl_endpoint_add(bpf_map__fd(v->skel->maps.podlane_eps),
			      bpf_map__fd(v->skel->maps.podlane_ep_stat), htonl(POD_IP), pod_mac,
			      host_mac, pod_ifindex, PODLANE_EP_F_READY);
	if (err)
		return err;
	fd = bpf_map__fd(v->skel->maps.podlane_nodes);
	if (vxlan) {
		val.flags = PODLANE_NODE_F_VXLAN;
		val.vni = PODLANE_VXLAN_VNI;
	}
	for (i = 0; i < nodes; i++) {
		struct node_key key = { .prefixlen = 24, .addr = htonl(node_cidr(i)) };

		val.node_ip = htonl(node_ip(i));
		if (bpf_map_update_elem(fd, &key, &val, BPF_NOEXIST))
			return -errno;
		if (vxlan) {
			struct node_key ak = { .prefixlen = 32, .addr = val.node_ip };
			struct node_value av = val;

			av.flags |= PODLANE_NODE_F_ADDR;
			if (bpf_map_update_elem(fd, &ak, &av, BPF_NOEXIST))
				return -errno;
		}
	}
	v->prog = bpf_program__fd(v->skel->progs.tc_from_pod);
	v->nodes = nodes;
	return 0;
}

static int floor_load(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = TC_ACT_OK },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "tc_floor", "GPL", insns, 2, NULL);
}

/*
 * Mean ns per packet of repeat runs of pkt; -1 when the verdict or the output is wrong. One
 * test_run repeats the program on the same packet, which spends one TTL each time: a call
 * repeats at most BURST times, from a TTL of 255.
 */
#define BURST	200
static double run(int prog, int ifindex, const __u8 *pkt, int repeat, bool is_floor)
{
	__u8 out[256];
	struct __sk_buff ctx = { .ifindex = ifindex, .ingress_ifindex = ifindex };
	double total = 0;
	int done, n;

	for (done = 0; done < repeat; done += n) {
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = pkt,
			.data_size_in = PKT_LEN,
			.data_out = out,
			.data_size_out = sizeof(out),
			.ctx_in = &ctx,
			.ctx_size_in = sizeof(ctx),
		);

		n = repeat - done < BURST ? repeat - done : BURST;
		opts.repeat = n;
		if (bpf_prog_test_run_opts(prog, &opts))
			return -1;
		total += (double)opts.duration * n;
		if (is_floor) {
			if (opts.retval != TC_ACT_OK)
				return -1;
			continue;
		}
		if (opts.retval != TC_ACT_REDIRECT || opts.data_size_out < PKT_LEN ||
		    ((struct iphdr *)(out + ETH_HLEN))->ttl != 255 - n) {
			fprintf(stderr, "nodes_bpf: verdict %d, ttl %d after %d runs: the packet "
				"did not go to its node\n", (int)opts.retval,
				((struct iphdr *)(out + ETH_HLEN))->ttl, n);
			return -1;
		}
	}
	return total / repeat;
}

/* Why a variant's packet was dropped, from its podlane_drops; returns 1 (the exit status). */
static int drops_print(struct tc_endpoint *skel)
{
	struct drop_counter dc[PODLANE_DROP_SLOTS];
	int s;

	if (skel && !tl_node_drops_read(bpf_map__fd(skel->maps.podlane_drops), dc))
		for (s = 0; s < PODLANE_DROP_SLOTS; s++)
			if (dc[s].packets)
				fprintf(stderr, "nodes_bpf: dropped as %s\n",
					tl_reason_name(-(s + PODLANE_DROP_FIRST)));
	return 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	int runs = 9, repeat = 100000, small = 10, big = 5000, opt, r, t, k, err;
	int pod_ifindex, up_ifindex, floor_fd;
	struct variant v[5] = {
		{ "empty tc program (floor)" },
		{ "tc_from_pod to a remote pod, direct routing, %d nodes" },
		{ "tc_from_pod to a remote pod, direct routing, %d nodes" },
		{ "tc_from_pod to a remote pod, VXLAN, %d nodes" },
		{ "tc_from_pod to a remote pod, VXLAN, %d nodes" },
	};
	__u8 pkts[2][TARGETS][PKT_LEN];

	while ((opt = getopt(argc, argv, "r:n:s:b:")) != -1) {
		switch (opt) {
		case 'r': runs = atoi(optarg); break;
		case 'n': repeat = atoi(optarg); break;
		case 's': small = atoi(optarg); break;
		case 'b': big = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-r RUNS] [-n REPEAT] [-s SMALL] [-b BIG]\n",
				argv[0]);
			return 2;
		}
	}
	if (runs < 1 || repeat < 1 || small < 1 || big < small || big > 60000) {
		fprintf(stderr, "nodes_bpf: want RUNS, REPEAT >= 1, 1 <= SMALL <= BIG <= "
			"60000\n");
		return 2;
	}
	err = tl_netns_enter();
	pod_ifindex = err ? err : tl_veth_add("plb-pod", NULL, "plb-pod-p", NULL, 0);
	up_ifindex = pod_ifindex < 0 ? pod_ifindex :
		     tl_veth_add("plb-up", "02:00:00:00:0f:01", "plb-up-p", NULL, 0);
	if (up_ifindex < 0 || tl_sh("ip link set plb-pod up && ip link set plb-pod-p up && "
				    "ip link set plb-up up && ip link set plb-up-p up && "
				    "ip addr add 172.20.255.1/16 dev plb-up") ||
	    tl_forwarding_set("plb-pod", true) || tl_forwarding_set("plb-up", true)) {
		fprintf(stderr, "nodes_bpf: cannot set up the namespace and its devices\n");
		return 1;
	}
	/* Targets: over all SMALL nodes for the small table, spread over BIG for the big one. */
	for (t = 0; t < TARGETS; t++) {
		int target[2] = { t % small, (int)((long)t * (big - 1) / (TARGETS - 1)) };

		for (k = 0; k < 2; k++) {
			build(target[k], pkts[k][t]);
			if (tl_sh("ip neigh replace 172.20.%d.%d lladdr 02:00:00:00:%02x:%02x dev "
				  "plb-up nud permanent", target[k] / 250, target[k] % 250 + 2,
				  target[k] >> 8, target[k] & 255))
				return 1;
		}
	}
	floor_fd = floor_load();
	err = floor_fd < 0 ? -errno : 0;
	err = err ?: load(&v[1], small, false, pod_ifindex, up_ifindex);
	err = err ?: load(&v[2], big, false, pod_ifindex, up_ifindex);
	err = err ?: load(&v[3], small, true, pod_ifindex, up_ifindex);
	err = err ?: load(&v[4], big, true, pod_ifindex, up_ifindex);
	if (err) {
		fprintf(stderr, "nodes_bpf: cannot load tc_endpoint and fill podlane_nodes: %s\n",
			strerror(-err));
		return 1;
	}
	v[0].prog = floor_fd;
	for (k = 0; k < 5; k++)
		v[k].ns = calloc(runs, sizeof(double));
	for (r = 0; r < runs; r++) {
		for (k = 0; k < 5; k++) {
			double sum = 0, d;

			for (t = 0; t < TARGETS; t++) {
				d = run(v[k].prog, pod_ifindex, pkts[k == 2 || k == 4][t],
					repeat, k == 0);
				if (d < 0)
					return drops_print(k ? v[k].skel : NULL);
				sum += d;
			}
			v[k].ns[r] = sum / TARGETS;
		}
	}
	printf("| program (BPF_PROG_TEST_RUN, %d packets to %d nodes, median of %d runs) | "
	       "ns/packet | over floor | vs %d nodes |\n|---|---:|---:|---:|\n",
	       repeat, TARGETS, runs, small);
	for (k = 0; k < 5; k++) {
		char label[128];
		double m = median(v[k].ns, runs), fl = median(v[0].ns, runs);

		snprintf(label, sizeof(label), v[k].label, v[k].nodes);
		if (!k)
			printf("| %s | %.0f | | |\n", label, m);
		else if (k % 2)
			printf("| %s | %.0f | %+.0f | |\n", label, m, m - fl);
		else
			printf("| %s | %.0f | %+.0f | %+.0f ns |\n", label, m, m - fl,
			       m - median(v[k - 1].ns, runs));
	}
	return 0;
}
