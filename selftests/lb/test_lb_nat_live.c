// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_lb_nat_live.c - a NodePort reached from outside the node, end to end, written with
 * kselftest_harness.h.
 *
 * The fixture unshares a network namespace that plays the node. A client namespace "outside"
 * is joined to it by a veth (the node's uplink, 192.168.88.1), and a backend pod is wired as
 * podlaned wires pods (veth, /32 route, permanent neighbours, per-device forwarding) with a
 * TCP echo server on 8080. tc_from_uplink, tc_from_pod and tc_to_pod are attached privately
 * (maps never pinned). The client connects to 192.168.88.1:30080: only the BPF service path
 * makes that work (nothing on the node listens there), and the handshake completes only if
 * the backend's replies are translated back. Every namespace dies with the test's process.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "testlib.h"
#include "maglev.h"
#include "ct_gc.h"
#include "tc_endpoint.skel.h"
#include "tc_uplink.skel.h"

#define MAP_SIZE	256
#define UPLINK_DEV	"pll-up"
#define POD_DEV		"pll-a"
#define NODE_IP		"192.168.88.1"
#define CLIENT_IP	"192.168.88.2"
#define POD_IP		"10.244.0.10"
#define POD_MAC		"0a:58:0a:f4:00:0a"
#define HOST_MAC	"ee:00:00:00:00:0a"
#define NODE_PORT	30080
#define BE_PORT		8080

struct env {
	struct tc_endpoint *ep;
	struct tc_uplink *up;
	pid_t client_ns, pod_ns, server;
	int uplink_ifindex, pod_ifindex;
};

static struct sockaddr_in sin_of(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

/*
 * The backend: answers each line with "pong <line> from <peer address>" until the client
 * closes, one connection at a time. Bounded by alarm() and by our death.
 */
static pid_t server_start(struct env *e)
{
	struct sockaddr_in a = sin_of("0.0.0.0", BE_PORT);
	int one = 1, ls = tl_socket_in(e->pod_ns, SOCK_STREAM);
	pid_t pid;

	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (void *)&a, sizeof(a)) || listen(ls, 16))
		return -1;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(90);
		for (;;) {
			struct sockaddr_in peer;
			socklen_t plen = sizeof(peer);
			char buf[256], out[400], who[INET_ADDRSTRLEN];
			int c = accept(ls, (void *)&peer, &plen);
			ssize_t n;

			if (c < 0)
				continue;
			inet_ntop(AF_INET, &peer.sin_addr, who, sizeof(who));
			while ((n = read(c, buf, sizeof(buf) - 1)) > 0) {
				buf[n] = '\0';
				n = snprintf(out, sizeof(out), "pong %s from %s", buf, who);
				if (write(c, out, n) != n)
					break;
			}
			close(c);
		}
	}
	close(ls);
	return pid;
}

/* Connect from the client namespace with a timeout; -1 when it does not connect. */
static int client_connect(struct env *e, int timeout_ms)
{
	struct sockaddr_in a = sin_of(NODE_IP, NODE_PORT);
	struct pollfd p;
	int s = tl_socket_in(e->client_ns, SOCK_STREAM), err = 0;
	socklen_t len = sizeof(err);

	if (s < 0)
		return -1;
	fcntl(s, F_SETFL, O_NONBLOCK);
	if (connect(s, (void *)&a, sizeof(a)) && errno != EINPROGRESS)
		goto fail;
	p.fd = s;
	p.events = POLLOUT;
	if (poll(&p, 1, timeout_ms) != 1 || getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) ||
	    err)
		goto fail;
	fcntl(s, F_SETFL, 0);
	return s;
fail:
	close(s);
	return -1;
}

/* One request/response on a connected socket; true when the answer is as expected. */
static bool exchange(int s, const char *msg)
{
	char buf[512], want[512];
	struct timeval tv = { .tv_sec = 3 };
	ssize_t n;

	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(s, msg, strlen(msg)) != (ssize_t)strlen(msg))
		return false;
	n = read(s, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	snprintf(want, sizeof(want), "pong %s from %s", msg, CLIENT_IP);
	if (strcmp(buf, want)) {
		tl_log("answer '%s', want '%s'", buf, want);
		return false;
	}
	return true;
}

static int endpoint_add(struct env *e)
{
	__u8 pod_mac[6], host_mac[6];
	struct in_addr ip;

	inet_pton(AF_INET, POD_IP, &ip);
	tl_mac_parse(POD_MAC, pod_mac);
	tl_mac_parse(HOST_MAC, host_mac);
	/* The pod is the NodePort's backend: the agent flags it so its replies are looked at. */
	return tl_endpoint_add(bpf_map__fd(e->ep->maps.podlane_eps),
			       bpf_map__fd(e->ep->maps.podlane_ep_stat), ip.s_addr, pod_mac,
			       host_mac, e->pod_ifindex,
			       PODLANE_EP_F_READY | PODLANE_EP_F_LB_BACKEND);
}

/* The NodePort service on the uplink address, with the pod as its one (local) backend. */
static int service_set(struct env *e, int count)
{
	static __u32 table[PODLANE_MAGLEV_M];
	LIBBPF_OPTS(bpf_map_create_opts, mopts, .map_flags = BPF_F_MMAPABLE);
	struct maglev_backend mb = { .key = 1, .weight = 1 };
	struct lb_service_key k = { .port = htons(NODE_PORT), .proto = IPPROTO_TCP };
	struct lb_service v = { .id = 1, .count = count, .local_count = count,
				.flags = PODLANE_SVC_F_NODEPORT | PODLANE_SVC_F_MAGLEV };
	struct lb_backend_key bk = { .svc_id = 1, .slot = 0 };
	struct lb_backend b = { .port = htons(BE_PORT), .id = 1, .weight = 1,
				.flags = PODLANE_BACKEND_F_LOCAL, .keep = PODLANE_ALIAS_KEEP_ALL,
				.local_keep = PODLANE_ALIAS_KEEP_ALL };
	int inner, err = 0;
	__u32 i, id = 1;

	inet_pton(AF_INET, NODE_IP, &k.addr);
	inet_pton(AF_INET, POD_IP, &b.addr);
	if (bpf_map_update_elem(bpf_map__fd(e->ep->maps.podlane_backend), &bk, &b, 0))
		return -errno;
	if (maglev_build(&mb, 1, table, PODLANE_MAGLEV_M))
		return -EINVAL;
	/* The inner map's flags must be the template's (lib/lb.h). */
	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "podlane_mgl", 4, 4, PODLANE_MAGLEV_M, &mopts);
	if (inner < 0)
		return -errno;
	for (i = 0; i < PODLANE_MAGLEV_M && !err; i++)
		if (bpf_map_update_elem(inner, &i, &table[i], 0))
			err = -errno;
	if (!err && bpf_map_update_elem(bpf_map__fd(e->ep->maps.podlane_maglev), &id, &inner, 0))
		err = -errno;
	close(inner);
	if (err)
		return err;
	return bpf_map_update_elem(bpf_map__fd(e->ep->maps.podlane_svc), &k, &v, 0) ? -errno : 0;
}

static int setup(struct env *e)
{
	int err;

	err = tl_netns_enter();
	if (err)
		return err;
	e->client_ns = tl_netns_spawn();
	e->pod_ns = tl_netns_spawn();
	if (e->client_ns < 0 || e->pod_ns < 0)
		return -ECHILD;
	/* The uplink and the client outside. */
	e->uplink_ifindex = tl_veth_add(UPLINK_DEV, NULL, "eth0", NULL, e->client_ns);
	if (e->uplink_ifindex < 0)
		return e->uplink_ifindex;
	if (tl_sh("ip addr add %s/24 dev %s && ip link set %s up", NODE_IP, UPLINK_DEV,
		  UPLINK_DEV) ||
	    tl_sh("nsenter -t %d -n sh -c 'ip link set lo up && ip addr add %s/24 dev eth0 && "
		  "ip link set eth0 up'", e->client_ns, CLIENT_IP))
		return -EIO;
	/* The backend pod, wired as podlaned does it. */
	e->pod_ifindex = tl_veth_add(POD_DEV, HOST_MAC, "eth0", POD_MAC, e->pod_ns);
	if (e->pod_ifindex < 0)
		return e->pod_ifindex;
	if (tl_sh("ip link set %s up && ip route add %s/32 dev %s scope link && "
		  "ip neigh replace %s lladdr %s dev %s nud permanent", POD_DEV, POD_IP, POD_DEV,
		  POD_IP, POD_MAC, POD_DEV) ||
	    tl_forwarding_set(POD_DEV, true) ||
	    tl_sh("nsenter -t %d -n sh -c 'ip link set lo up && ip addr add %s/32 dev eth0 && "
		  "ip link set eth0 up && ip route add 169.254.1.1 dev eth0 scope link && "
		  "ip route add default via 169.254.1.1 dev eth0 && "
		  "ip neigh replace 169.254.1.1 lladdr %s dev eth0 nud permanent'", e->pod_ns,
		  POD_IP, HOST_MAC))
		return -EIO;

	e->ep = tc_endpoint__open();
	e->up = tc_uplink__open();
	if (!e->ep || !e->up)
		return -errno;
	tl_maps_private(e->ep->obj, MAP_SIZE);
	tl_maps_private(e->up->obj, MAP_SIZE);
	bpf_map__set_max_entries(e->ep->maps.podlane_ct, 4096);
	bpf_map__set_max_entries(e->ep->maps.podlane_revnat, 64);
	bpf_map__set_max_entries(e->ep->maps.podlane_affin, 64);
	err = tc_endpoint__load(e->ep);
	err = err ?: tl_maps_share(e->up->obj, e->ep->obj);
	err = err ?: tc_uplink__load(e->up);
	err = err ?: endpoint_add(e);
	err = err ?: service_set(e, 1);
	err = err ?: tl_tc_attach(e->pod_ifindex, e->ep->progs.tc_from_pod,
				  e->ep->progs.tc_to_pod);
	err = err ?: tl_tc_attach(e->uplink_ifindex, e->up->progs.tc_from_uplink, NULL);
	if (err)
		return err;
	e->server = server_start(e);
	return e->server < 0 ? -EIO : 0;
}

static __u64 lbstat(struct env *e, enum lb_stat which)
{
	return tl_percpu_sum(bpf_map__fd(e->ep->maps.podlane_lbstat), which);
}

static __u64 node_drops(struct env *e, int reason)
{
	return tl_node_drops(bpf_map__fd(e->ep->maps.podlane_drops), reason);
}

/* Tests ----------------------------------------------------------------------------------- */

FIXTURE(nodeport) {
	struct env e;
	int s;		/* the client's connection, when a test made one */
};

FIXTURE_SETUP(nodeport)
{
	self->s = -1;
	ASSERT_EQ(0, setup(&self->e)) TH_LOG("set up node, client and pod namespaces; attach "
					      "the tc programs");
}

FIXTURE_TEARDOWN(nodeport)
{
	pid_t pids[] = { self->e.server, self->e.client_ns, self->e.pod_ns };
	size_t i;

	if (self->s >= 0)
		close(self->s);
	for (i = 0; i < ARRAY_SIZE(pids); i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
	}
	tc_uplink__destroy(self->e.up);
	tc_endpoint__destroy(self->e.ep);
}

/* A connection from the client with one answered request: the test's self->s. */
static void connect_hello(struct __test_metadata *_metadata, FIXTURE_DATA(nodeport) *self)
{
	self->s = client_connect(&self->e, 3000);
	ASSERT_LE(0, self->s) TH_LOG("no connection to node:NodePort");
	ASSERT_TRUE(exchange(self->s, "hello"));
}

static __u32 prog_id(const struct bpf_program *prog)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) ? 0 : info.id;
}

static __u32 attached_id(int ifindex, enum bpf_tc_attach_point where)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);

	return bpf_tc_query(&hook, &opts) ? 0 : opts.prog_id;
}

/* What the other tests stand on: programs on the hooks, the service and its backend. */
TEST_F(nodeport, tc_programs_attached_service_and_backend_endpoint_written)
{
	struct env *e = &self->e;
	struct lb_service_key k = { .port = htons(NODE_PORT), .proto = IPPROTO_TCP };
	struct lb_service svc;

	EXPECT_EQ(prog_id(e->ep->progs.tc_from_pod), attached_id(e->pod_ifindex, BPF_TC_INGRESS));
	EXPECT_EQ(prog_id(e->ep->progs.tc_to_pod), attached_id(e->pod_ifindex, BPF_TC_EGRESS));
	EXPECT_EQ(prog_id(e->up->progs.tc_from_uplink),
		  attached_id(e->uplink_ifindex, BPF_TC_INGRESS));
	inet_pton(AF_INET, NODE_IP, &k.addr);
	ASSERT_EQ(0, bpf_map_lookup_elem(bpf_map__fd(e->ep->maps.podlane_svc), &k, &svc));
	EXPECT_EQ(1, svc.count);
}

/* The client's address is preserved: the backend answers "from 192.168.88.2". */
TEST_F(nodeport, client_outside_the_node_connects_to_node_nodeport_and_gets_the_backends_answer)
{
	connect_hello(_metadata, self);
}

/* Replies are reverse-translated. */
TEST_F(nodeport, the_client_only_ever_sees_node_nodeport)
{
	char who[INET_ADDRSTRLEN] = "";
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);

	connect_hello(_metadata, self);
	ASSERT_EQ(0, getpeername(self->s, (void *)&peer, &plen));
	inet_ntop(AF_INET, &peer.sin_addr, who, sizeof(who));
	EXPECT_STREQ(NODE_IP, who);
	EXPECT_EQ(NODE_PORT, ntohs(peer.sin_port));
}

/* The backend leaves the service while the connection is open. */
TEST_F(nodeport, after_its_backend_left_the_service_the_established_connection_goes_on)
{
	connect_hello(_metadata, self);
	ASSERT_EQ(0, service_set(&self->e, 0));
	EXPECT_TRUE(exchange(self->s, "still there?"));
	EXPECT_TRUE(exchange(self->s, "and again"));
}

TEST_F(nodeport, a_new_connection_to_the_service_without_backends_is_dropped_no_backend)
{
	__u64 no_be;

	ASSERT_EQ(0, service_set(&self->e, 0));
	no_be = node_drops(&self->e, PODLANE_DROP_NO_BACKEND);
	self->s = client_connect(&self->e, 1000);
	EXPECT_GT(0, self->s) TH_LOG("connected to a service without backends");
	EXPECT_LT(no_be, node_drops(&self->e, PODLANE_DROP_NO_BACKEND));
}

/* The backend back in the service after it left it. */
TEST_F(nodeport, connections_20_more_through_the_nodeport_all_answered)
{
	char msg[32];
	int i, s, ok_n = 0;

	ASSERT_EQ(0, service_set(&self->e, 0));
	ASSERT_EQ(0, service_set(&self->e, 1));
	for (i = 0; i < 20; i++) {
		snprintf(msg, sizeof(msg), "request %d", i);
		s = client_connect(&self->e, 3000);
		ok_n += s >= 0 && exchange(s, msg);
		if (s >= 0)
			close(s);
	}
	tl_log("%d of 20 connections answered", ok_n);
	EXPECT_EQ(20, ok_n);
}

TEST_F(nodeport, replies_are_counted_as_reverse_translated_lbstat_nat_reply)
{
	__u64 replies = lbstat(&self->e, PODLANE_LB_NAT_REPLY);

	connect_hello(_metadata, self);
	tl_log("replies translated: %llu, of which handed to the stack (no FIB answer): %llu",
	       (unsigned long long)lbstat(&self->e, PODLANE_LB_NAT_REPLY),
	       (unsigned long long)lbstat(&self->e, PODLANE_LB_REPLY_STACK));
	EXPECT_LT(replies, lbstat(&self->e, PODLANE_LB_NAT_REPLY));
}

TEST_F(nodeport, conntrack_holds_the_connections_the_collector_sees_them)
{
	struct ct_gc_stats st;

	connect_hello(_metadata, self);
	ASSERT_EQ(0, ct_gc(bpf_map__fd(self->e.ep->maps.podlane_ct), ct_now_ns(), &st, NULL,
			   NULL));
	tl_log("conntrack: %llu live entries, %llu closing", (unsigned long long)st.live,
	       (unsigned long long)st.live_closing);
	EXPECT_LE(2, st.live);
	EXPECT_EQ(st.live, st.live_tcp);
}

TEST_F(nodeport, the_backend_endpoints_rx_and_tx_counters_saw_the_traffic)
{
	struct endpoint_stats es;

	connect_hello(_metadata, self);
	ASSERT_EQ(0, tl_ep_stats_read(bpf_map__fd(self->e.ep->maps.podlane_ep_stat),
				      self->e.pod_ifindex, &es));
	tl_log("backend pod: rx %llu tx %llu packets", (unsigned long long)es.rx_packets,
	       (unsigned long long)es.tx_packets);
	EXPECT_LT(0, es.rx_packets);
	EXPECT_LT(0, es.tx_packets);
}

int main(int argc, char **argv)
{
	if (geteuid() != 0)
		ksft_exit_skip("needs root (namespaces, tc, BPF)\n");
	if (tl_sh_may_fail("command -v ip && command -v nsenter"))
		ksft_exit_skip("needs ip and nsenter\n");
	return test_harness_run(argc, argv);
}
