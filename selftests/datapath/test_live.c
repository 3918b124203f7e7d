// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_live.c - podlane's tc programs attached for real, with real traffic, written with
 * kselftest_harness.h.
 *
 * The fixture wires a miniature node the way podlaned does (veth per pod, /32 routes,
 * permanent neighbours, per-device forwarding, no bridge) and the tests check what
 * BPF_PROG_TEST_RUN cannot show: bpf_redirect_peer() really delivers into the pod's namespace,
 * replies find their way through the host stack, drops are counted and reported on the ring
 * buffer, and frames that test_run refuses (a cut IPv4 header) are dropped with their reason.
 *
 * Everything lives in namespaces nobody else can see: each test's process unshares its own
 * network namespace (the "host"), and every pod or remote peer is an unnamed namespace held
 * by a child that dies with it (PR_SET_PDEATHSIG). Nothing is pinned, nothing survives a crash.
 */
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "testlib.h"
#include "tc_endpoint.skel.h"
#include "tc_uplink.skel.h"

#define MAP_SIZE	64

struct pod {
	const char *host_dev;
	const char *ip;
	const char *pod_mac;
	const char *host_mac;
	pid_t pid;		/* holder of the pod's network namespace */
	int ifindex;		/* host side */
};

#define UPLINK_DEV	"plh-up"
#define UPLINK_IP	"192.168.77.1"
#define REMOTE_IP	"192.168.77.2"
#define SPOOF_IP	"10.244.0.99"

FIXTURE(node) {
	struct tc_endpoint *ep;
	struct tc_uplink *up;
	struct tl_events events;
	struct pod pods[2];
	pid_t remote;		/* holder of the namespace behind the uplink */
	int uplink_ifindex;
};

#define POD_A		(&self->pods[0])
#define POD_B		(&self->pods[1])

/* Pod wiring exactly as the shared design describes it. */
static int wire_pod(struct pod *p)
{
	p->pid = tl_netns_spawn();
	if (p->pid < 0)
		return -1;
	p->ifindex = tl_veth_add(p->host_dev, p->host_mac, "eth0", p->pod_mac, p->pid);
	if (p->ifindex < 0)
		return -1;
	if (tl_sh("ip link set %s up && ip route add %s/32 dev %s scope link && "
		  "ip neigh replace %s lladdr %s dev %s nud permanent", p->host_dev, p->ip,
		  p->host_dev, p->ip, p->pod_mac, p->host_dev) ||
	    tl_forwarding_set(p->host_dev, true) ||
	    tl_sh("nsenter -t %d -n sh -c 'ip link set lo up && ip addr add %s/32 dev eth0 && "
		  "ip link set eth0 up && ip route add 169.254.1.1 dev eth0 scope link && "
		  "ip route add default via 169.254.1.1 dev eth0 && "
		  "ip neigh replace 169.254.1.1 lladdr %s dev eth0 nud permanent'", p->pid, p->ip,
		  p->host_mac))
		return -1;
	return 0;
}

static int wire_uplink(FIXTURE_DATA(node) *self)
{
	self->remote = tl_netns_spawn();
	if (self->remote < 0)
		return -1;
	self->uplink_ifindex = tl_veth_add(UPLINK_DEV, NULL, "eth0", NULL, self->remote);
	if (self->uplink_ifindex < 0)
		return -1;
	return tl_sh("ip addr add %s/24 dev %s && ip link set %s up", UPLINK_IP, UPLINK_DEV,
		     UPLINK_DEV) ||
	       tl_sh("nsenter -t %d -n sh -c 'ip link set lo up && ip addr add %s/24 dev eth0 && "
		     "ip link set eth0 up && ip route add 10.244.0.0/24 via %s'", self->remote,
		     REMOTE_IP, UPLINK_IP) ? -1 : 0;
}

static int endpoint_add(FIXTURE_DATA(node) *self, const struct pod *p, __u32 flags)
{
	__u8 pod_mac[6], host_mac[6];
	struct in_addr ip;

	inet_pton(AF_INET, p->ip, &ip);
	tl_mac_parse(p->pod_mac, pod_mac);
	tl_mac_parse(p->host_mac, host_mac);
	return tl_endpoint_add(bpf_map__fd(self->ep->maps.podlane_eps),
			       bpf_map__fd(self->ep->maps.podlane_ep_stat), ip.s_addr, pod_mac,
			       host_mac, p->ifindex, flags);
}

FIXTURE_SETUP(node)
{
	static const struct pod pods[] = {
		{ "plh-a", "10.244.0.10", "0a:58:0a:f4:00:0a", "ee:00:00:00:00:0a" },
		{ "plh-b", "10.244.0.11", "0a:58:0a:f4:00:0b", "ee:00:00:00:00:0b" },
	};
	int i;

	memcpy(self->pods, pods, sizeof(pods));
	ASSERT_EQ(0, tl_netns_enter());
	self->ep = tc_endpoint__open();
	self->up = tc_uplink__open();
	ASSERT_NE(NULL, self->ep);
	ASSERT_NE(NULL, self->up);
	tl_maps_private(self->ep->obj, MAP_SIZE);
	tl_maps_private(self->up->obj, MAP_SIZE);
	ASSERT_EQ(0, tc_endpoint__load(self->ep));
	ASSERT_EQ(0, tl_maps_share(self->up->obj, self->ep->obj));
	ASSERT_EQ(0, tc_uplink__load(self->up));
	ASSERT_EQ(0, tl_events_open(&self->events,
				    bpf_map__fd(self->ep->maps.podlane_events)));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, wire_pod(&self->pods[i])) TH_LOG("wire pod %s", self->pods[i].ip);
		ASSERT_EQ(0, tl_tc_attach(self->pods[i].ifindex, self->ep->progs.tc_from_pod,
					  self->ep->progs.tc_to_pod));
		ASSERT_EQ(0, endpoint_add(self, &self->pods[i], PODLANE_EP_F_READY));
	}
	ASSERT_EQ(0, wire_uplink(self));
	ASSERT_EQ(0, tl_tc_attach(self->uplink_ifindex, self->up->progs.tc_from_uplink, NULL));
}

FIXTURE_TEARDOWN(node)
{
	pid_t holders[] = { self->pods[0].pid, self->pods[1].pid, self->remote };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(holders); i++) {
		if (holders[i] > 0) {
			kill(holders[i], SIGKILL);
			waitpid(holders[i], NULL, 0);
		}
	}
	tl_events_close(&self->events);
	tc_uplink__destroy(self->up);
	tc_endpoint__destroy(self->ep);
}

static struct endpoint_stats stats(FIXTURE_DATA(node) *self, const struct pod *p)
{
	struct endpoint_stats st;

	tl_ep_stats_read(bpf_map__fd(self->ep->maps.podlane_ep_stat), p->ifindex, &st);
	return st;
}

static __u64 node_drops(FIXTURE_DATA(node) *self, int reason)
{
	return tl_node_drops(bpf_map__fd(self->ep->maps.podlane_drops), reason);
}

static void show_delta(const char *who, const struct endpoint_stats *b,
		       const struct endpoint_stats *a)
{
	tl_log("%s: tx +%llu rx +%llu", who, a->tx_packets - b->tx_packets,
	       a->rx_packets - b->rx_packets);
}

static __u32 prog_id(const struct bpf_program *prog)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) ? 0 : info.id;
}

/* The filter on one hook of a device: its program id, 0 when there is none. */
static __u32 attached_id(int ifindex, enum bpf_tc_attach_point where)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);

	return bpf_tc_query(&hook, &opts) ? 0 : opts.prog_id;
}

/* The wiring the other tests stand on: programs on the hooks, endpoints in the map. */
TEST_F(node, programs_attached_and_endpoints_written)
{
	struct endpoint_value val;
	struct endpoint_key key;
	int i;

	for (i = 0; i < 2; i++) {
		const struct pod *p = &self->pods[i];

		EXPECT_EQ(prog_id(self->ep->progs.tc_from_pod),
			  attached_id(p->ifindex, BPF_TC_INGRESS)) TH_LOG("%s", p->host_dev);
		EXPECT_EQ(prog_id(self->ep->progs.tc_to_pod),
			  attached_id(p->ifindex, BPF_TC_EGRESS)) TH_LOG("%s", p->host_dev);
		memset(&key, 0, sizeof(key));
		key.addr.family = PODLANE_AF_INET;
		inet_pton(AF_INET, p->ip, &key.addr.ip4);
		ASSERT_EQ(0, bpf_map_lookup_elem(bpf_map__fd(self->ep->maps.podlane_eps), &key,
						 &val));
		EXPECT_EQ(p->ifindex, val.ifindex);
		EXPECT_EQ(PODLANE_EP_F_READY, val.flags);
	}
	EXPECT_EQ(prog_id(self->up->progs.tc_from_uplink),
		  attached_id(self->uplink_ifindex, BPF_TC_INGRESS));
}

TEST_F(node, pod_to_pod_ping_with_host_forwarding_off_only_redirect_peer_delivers)
{
	struct endpoint_stats a0 = stats(self, POD_A), b0 = stats(self, POD_B), a1, b1;
	int rc;

	tl_forwarding_set(POD_A->host_dev, false);
	tl_forwarding_set(POD_B->host_dev, false);
	rc = tl_sh("nsenter -t %d -n ping -c 3 -i 0.2 -W 2 %s", POD_A->pid, POD_B->ip);
	a1 = stats(self, POD_A);
	b1 = stats(self, POD_B);
	show_delta("pod a", &a0, &a1);
	show_delta("pod b", &b0, &b1);
	EXPECT_EQ(0, rc);
	/* Requests a->b and replies b->a are all redirected: each side sends 3 and gets 3. */
	EXPECT_LE(3, a1.tx_packets - a0.tx_packets);
	EXPECT_LE(3, b1.rx_packets - b0.rx_packets);
	EXPECT_LE(3, b1.tx_packets - b0.tx_packets);
	EXPECT_LE(3, a1.rx_packets - a0.rx_packets);
}

/* The control for the test above: without the fast path the same ping must fail. */
TEST_F(node, control_pod_b_not_ready_and_host_forwarding_off_the_ping_fails)
{
	ASSERT_EQ(0, endpoint_add(self, POD_B, 0));
	tl_forwarding_set(POD_A->host_dev, false);
	tl_forwarding_set(POD_B->host_dev, false);
	EXPECT_NE(0, tl_sh_may_fail("nsenter -t %d -n ping -c 1 -W 1 %s", POD_A->pid,
				    POD_B->ip));
}

TEST_F(node, remote_to_pod_b_via_uplink_redirect_replies_through_host_stack)
{
	struct endpoint_stats b0 = stats(self, POD_B), b1;
	int rc;

	rc = tl_sh("nsenter -t %d -n ping -c 3 -i 0.2 -W 2 %s", self->remote, POD_B->ip);
	b1 = stats(self, POD_B);
	show_delta("pod b", &b0, &b1);
	EXPECT_EQ(0, rc);
	/* rx: the uplink redirect; tx: replies that the host stack routes to the uplink. */
	EXPECT_LE(3, b1.rx_packets - b0.rx_packets);
	EXPECT_LE(3, b1.tx_packets - b0.tx_packets);
}

TEST_F(node, pod_a_to_remote_via_host_stack_replies_via_uplink_redirect)
{
	struct endpoint_stats a0 = stats(self, POD_A), a1;
	int rc;

	rc = tl_sh("nsenter -t %d -n ping -c 3 -i 0.2 -W 2 %s", POD_A->pid, REMOTE_IP);
	a1 = stats(self, POD_A);
	show_delta("pod a", &a0, &a1);
	EXPECT_EQ(0, rc);
	EXPECT_LE(3, a1.tx_packets - a0.tx_packets);
	EXPECT_LE(3, a1.rx_packets - a0.rx_packets);
}

TEST_F(node, host_to_pod_a_counted_by_tc_to_pod)
{
	struct endpoint_stats a0 = stats(self, POD_A), a1;
	int rc;

	rc = tl_sh("ping -c 3 -i 0.2 -W 2 %s", POD_A->ip);
	a1 = stats(self, POD_A);
	show_delta("pod a", &a0, &a1);
	EXPECT_EQ(0, rc);
	/* Host-originated packets leave through the host veth: tc_to_pod counts them. */
	EXPECT_LE(3, a1.rx_packets - a0.rx_packets);
	EXPECT_LE(3, a1.tx_packets - a0.tx_packets);
}

TEST_F(node, spoofed_source_from_pod_a_is_dropped_counted_and_reported)
{
	int slot = PODLANE_DROP_INDEX(PODLANE_DROP_SOURCE_SPOOFED);
	__u64 before = node_drops(self, PODLANE_DROP_SOURCE_SPOOFED);
	__u64 ep_before = stats(self, POD_A).drops[slot];
	const struct drop_event *ev;
	struct in_addr spoof;

	inet_pton(AF_INET, SPOOF_IP, &spoof);
	tl_events_drain(&self->events);
	ASSERT_EQ(0, tl_sh("nsenter -t %d -n ip addr add %s/32 dev eth0", POD_A->pid, SPOOF_IP));
	EXPECT_NE(0, tl_sh_may_fail("nsenter -t %d -n ping -c 1 -W 1 -I %s %s", POD_A->pid,
				    SPOOF_IP, POD_B->ip));
	tl_events_poll(&self->events);
	ev = tl_events_find(&self->events, PODLANE_DROP_SOURCE_SPOOFED);
	EXPECT_LT(before, node_drops(self, PODLANE_DROP_SOURCE_SPOOFED));
	EXPECT_LT(ep_before, stats(self, POD_A).drops[slot]);
	ASSERT_NE(NULL, ev) TH_LOG("no source_spoofed event");
	EXPECT_EQ(spoof.s_addr, ev->saddr);
	EXPECT_EQ(PODLANE_HOOK_FROM_POD, ev->hook);
	EXPECT_EQ(POD_A->ifindex, ev->ifindex);
}

TEST_F(node, pod_a_to_pod_b_with_ttl_1_is_dropped_as_ttl_exceeded)
{
	__u64 before = node_drops(self, PODLANE_DROP_TTL_EXCEEDED);

	EXPECT_NE(0, tl_sh_may_fail("nsenter -t %d -n ping -c 1 -W 1 -t 1 %s", POD_A->pid,
				    POD_B->ip));
	EXPECT_EQ(before + 1, node_drops(self, PODLANE_DROP_TTL_EXCEEDED));
	tl_events_poll(&self->events);
	EXPECT_NE(NULL, tl_events_find(&self->events, PODLANE_DROP_TTL_EXCEEDED));
}

struct raw_frame {
	const void *data;
	size_t len;
};

/* In the pod's namespace: one raw frame out of eth0, below any socket layer that fixes it. */
static int send_raw(void *arg)
{
	const struct raw_frame *f = arg;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_halen = ETH_ALEN };
	int s = socket(AF_PACKET, SOCK_RAW, 0);

	sll.sll_ifindex = if_nametoindex("eth0");
	if (s < 0 || !sll.sll_ifindex)
		return 3;
	return sendto(s, f->data, f->len, 0, (struct sockaddr *)&sll, sizeof(sll)) ==
	       (ssize_t)f->len ? 0 : 4;
}

TEST_F(node, frame_of_24_bytes_with_ethertype_ipv4_from_pod_a_is_ip4_truncated)
{
	__u8 frame[ETH_HLEN + 10] = { 0 };
	struct raw_frame f = { frame, sizeof(frame) };
	int slot = PODLANE_DROP_INDEX(PODLANE_DROP_IP4_TRUNCATED);
	__u64 before = node_drops(self, PODLANE_DROP_IP4_TRUNCATED);
	__u64 ep_before = stats(self, POD_A).drops[slot];
	const struct drop_event *ev;
	int i;

	tl_mac_parse(POD_A->host_mac, frame);
	tl_mac_parse(POD_A->pod_mac, frame + ETH_ALEN);
	frame[12] = 0x08;	/* EtherType IPv4, then half an IPv4 header */
	frame[14] = 0x45;
	ASSERT_EQ(0, tl_run_in(POD_A->pid, send_raw, &f)) TH_LOG("raw send from pod a");
	/* The drop happens synchronously in the sender's transmit path; poll briefly anyway. */
	for (i = 0; i < 100 && node_drops(self, PODLANE_DROP_IP4_TRUNCATED) == before; i++)
		usleep(10000);
	tl_events_poll(&self->events);
	ev = tl_events_find(&self->events, PODLANE_DROP_IP4_TRUNCATED);
	EXPECT_EQ(before + 1, node_drops(self, PODLANE_DROP_IP4_TRUNCATED));
	EXPECT_EQ(ep_before + 1, stats(self, POD_A).drops[slot]);
	ASSERT_NE(NULL, ev);
	EXPECT_EQ(sizeof(frame), ev->len);
	EXPECT_EQ(0, ev->saddr);
}

static __u32 map_id(const struct bpf_map *map)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(bpf_map__fd(map), &info, &len) ? 0 : info.id;
}

/* Operators read the maps with bpftool: BTF must give every field its name. */
TEST_F(node, bpftool_map_dump_shows_named_fields_of_podlane_eps_and_podlane_ep_stat)
{
	__u32 eps_id = map_id(self->ep->maps.podlane_eps);
	__u32 stat_id = map_id(self->ep->maps.podlane_ep_stat);

	if (tl_sh_may_fail("command -v bpftool"))
		SKIP(return, "bpftool not installed");
	EXPECT_EQ(0, tl_sh("bpftool map dump id %u | grep -q '\"pod_mac\"'", eps_id));
	EXPECT_EQ(0, tl_sh("bpftool map dump id %u | grep -q '\"family\"'", eps_id));
	EXPECT_EQ(0, tl_sh("bpftool map dump id %u | grep -q '\"tx_packets\"'", stat_id));
}

TEST(runt_frame_from_a_pod_is_eth_truncated)
{
	SKIP(return, "cannot be produced: AF_PACKET pads or refuses frames shorter than the "
	     "device's hard_header_len, and veth delivers nothing shorter");
}

int main(int argc, char **argv)
{
	if (geteuid() != 0)
		ksft_exit_skip("needs root (network namespaces, tc, BPF)\n");
	if (tl_sh_may_fail("command -v ip && command -v nsenter && command -v ping"))
		ksft_exit_skip("needs ip, nsenter and ping\n");
	return test_harness_run(argc, argv);
}
