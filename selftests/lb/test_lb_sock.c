// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_lb_sock.c - the socket-level service LB (bpf/sock_lb.bpf.c) live, written with
 * kselftest_harness.h.
 *
 * Each test's fixture moves its process into a private network namespace with only lo up,
 * creates a cgroup of its own (removed at teardown, or by the main process if the test dies),
 * attaches the four sock_addr programs to it through links (gone when the process exits; maps
 * private, never pinned) and moves the process into it. Backends are TCP and UDP servers on
 * 127.0.0.2-5; services are 10.96.x.x addresses that exist nowhere: connect4 turns them into
 * a loopback backend, and a VIP the LB does not know fails with ENETUNREACH instead of leaving
 * the box. A test that continues another (affinity, then its timeout) replays what it needs.
 */
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "kselftest_harness.h"
#include "testlib.h"
#include "maglev.h"
#include "sock_lb.skel.h"

#define IP4		TL_IP4
#define N_BACKENDS	4
#define BE_TCP_PORT	8080
#define BE_UDP_PORT	5353
#define SMALL_MAP	4096
#define CHI2_DF1	15.14	/* chi-square critical values at p = 1e-4 */
#define CHI2_DF3	21.11
#define SCALE_SERVICES	20000

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE	71
#endif

/* Backend i listens on 127.0.0.(2 + i). */
static __u32 be_ip(int i)
{
	return IP4(127, 0, 0, 2 + i);
}

struct env {
	struct sock_lb *skel;
	int tcp[N_BACKENDS];	/* listeners */
	int udp[N_BACKENDS];	/* echo servers */
	int svc_fd, be_fd, aff_fd, stat_fd, maglev_fd, revnat_fd, sk_fd;
};

struct be_spec {
	int idx;		/* which backend (0..N_BACKENDS-1) */
	__u32 weight;
	__u8 state;
	bool local;
};

static __u64 stat_read(struct env *e, enum lb_stat which)
{
	return tl_percpu_sum(e->stat_fd, which);
}

/*
 * Write a service the way podlaned packs it (podlane.h): local active backends first, then the
 * other active ones, then terminating ones; alias columns over both active prefixes; backends
 * before the service.
 */
static int svc_set(struct env *e, __u32 vip, __u16 port, __u8 proto, __u32 id, __u32 flags,
		   __u32 timeout, const struct be_spec *b, int n)
{
	struct lb_service_key key = { .addr = htonl(vip), .port = htons(port), .proto = proto };
	struct lb_service svc = { .id = id, .flags = flags, .affinity_timeout = timeout };
	struct lb_backend slots[16] = {};
	__u32 w_all[16] = {}, w_local[16] = {}, keep[16], alias[16];
	int order[16], pass, i, nslots = 0, local = 0, active = 0;

	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < n; i++) {
			int p = b[i].state != PODLANE_BACKEND_ACTIVE ? 2 : b[i].local ? 0 : 1;

			if (p == pass)
				order[nslots++] = i;
		}
		if (pass == 0)
			local = nslots;
		if (pass == 1)
			active = nslots;
	}
	for (i = 0; i < nslots; i++) {
		const struct be_spec *s = &b[order[i]];
		__u16 be_port = proto == IPPROTO_TCP ? BE_TCP_PORT : BE_UDP_PORT;

		slots[i].addr = htonl(be_ip(s->idx));
		slots[i].port = htons(be_port);
		slots[i].state = s->state;
		slots[i].flags = s->local ? PODLANE_BACKEND_F_LOCAL : 0;
		slots[i].id = 1000 + s->idx;
		slots[i].weight = s->weight;
		slots[i].keep = slots[i].local_keep = PODLANE_ALIAS_KEEP_ALL;
		slots[i].alias = slots[i].local_alias = i;
		w_all[i] = s->weight;
		w_local[i] = s->weight;
	}
	if (active && !lb_alias_build(w_all, active, keep, alias)) {
		for (i = 0; i < active; i++) {
			slots[i].keep = keep[i];
			slots[i].alias = alias[i];
		}
	}
	if (local && !lb_alias_build(w_local, local, keep, alias)) {
		for (i = 0; i < local; i++) {
			slots[i].local_keep = keep[i];
			slots[i].local_alias = alias[i];
		}
	}
	for (i = 0; i < nslots; i++) {
		struct lb_backend_key bk = { .svc_id = id, .slot = i };

		if (bpf_map_update_elem(e->be_fd, &bk, &slots[i], BPF_ANY))
			return -errno;
	}
	svc.count = active;
	svc.local_count = local;
	return bpf_map_update_elem(e->svc_fd, &key, &svc, BPF_ANY) ? -errno : 0;
}

static int backend_set_state(struct env *e, __u32 id, __u32 slot, __u8 state)
{
	struct lb_backend_key bk = { .svc_id = id, .slot = slot };
	struct lb_backend be;

	if (bpf_map_lookup_elem(e->be_fd, &bk, &be))
		return -errno;
	be.state = state;
	return bpf_map_update_elem(e->be_fd, &bk, &be, BPF_EXIST) ? -errno : 0;
}

static void sin_set(struct sockaddr_in *sin, __u32 ip, __u16 port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(ip);
	sin->sin_port = htons(port);
}

/* Connect to ip:port; returns the socket or -errno. Closed with RST so no TIME_WAIT piles up. */
static int tcp_connect(__u32 ip, __u16 port)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr_in sin;
	int fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	sin_set(&sin, ip, port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Which listener got the connection just made (loopback queues it before connect returns). */
static int accepted_by(struct env *e)
{
	int i, fd, tries;

	for (tries = 0; tries < 100; tries++) {
		for (i = 0; i < N_BACKENDS; i++) {
			fd = accept4(e->tcp[i], NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				close(fd);
				return i;
			}
		}
		usleep(1000);
	}
	return -1;
}

/* One connection to the service: returns the backend index, or -errno of connect. */
static int tcp_pick(struct env *e, __u32 vip, __u16 port)
{
	int fd = tcp_connect(vip, port), who;

	if (fd < 0)
		return fd;
	who = accepted_by(e);
	close(fd);
	return who < 0 ? -ETIMEDOUT : who;
}

/* n connections; counts[] per backend. Returns false (with a diagnostic) on any failure. */
static bool tcp_spread(struct env *e, __u32 vip, __u16 port, int n, int counts[N_BACKENDS])
{
	int i, who;

	memset(counts, 0, N_BACKENDS * sizeof(counts[0]));
	for (i = 0; i < n; i++) {
		who = tcp_pick(e, vip, port);
		if (who < 0) {
			tl_log("connection %d to the service failed: %s", i, strerror(-who));
			return false;
		}
		counts[who]++;
	}
	return true;
}

static double chi_square(const int *counts, const double *p, int k, int n)
{
	double x2 = 0;
	int i;

	for (i = 0; i < k; i++) {
		double want = p[i] * n;

		x2 += (counts[i] - want) * (counts[i] - want) / want;
	}
	return x2;
}

static void diag_counts(const char *what, const int *c)
{
	tl_log("%s: 127.0.0.2: %d, .3: %d, .4: %d, .5: %d", what, c[0], c[1], c[2], c[3]);
}

/* ---- cases ------------------------------------------------------------------------------ */

static unsigned int map_count(int fd)
{
	struct lb_revnat_key key, next;
	unsigned int n = 0;
	void *prev = NULL;

	while (n < SMALL_MAP && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		n++;
	}
	return n;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- setup ------------------------------------------------------------------------------ */

static int servers_start(struct env *e)
{
	struct sockaddr_in sin;
	int i, one = 1;

	for (i = 0; i < N_BACKENDS; i++) {
		e->tcp[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		e->udp[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (e->tcp[i] < 0 || e->udp[i] < 0)
			return -errno;
		setsockopt(e->tcp[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		sin_set(&sin, be_ip(i), BE_TCP_PORT);
		if (bind(e->tcp[i], (struct sockaddr *)&sin, sizeof(sin)) ||
		    listen(e->tcp[i], 1024))
			return -errno;
		sin_set(&sin, be_ip(i), BE_UDP_PORT);
		if (bind(e->udp[i], (struct sockaddr *)&sin, sizeof(sin)))
			return -errno;
	}
	return 0;
}

static int lb_load(struct env *e, const char *cgroup)
{
	struct bpf_program *prog;
	struct bpf_map *map;
	int cg, err;

	e->skel = sock_lb__open();
	if (!e->skel)
		return -errno;
	bpf_object__for_each_map(map, e->skel->obj) {
		bpf_map__set_pin_path(map, NULL);
		if (bpf_map__type(map) == BPF_MAP_TYPE_LRU_HASH ||
		    map == e->skel->maps.podlane_backend)
			bpf_map__set_max_entries(map, SMALL_MAP);
	}
	err = sock_lb__load(e->skel);
	if (err)
		return err;
	cg = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return -errno;
	bpf_object__for_each_program(prog, e->skel->obj) {
		struct bpf_link *link = bpf_program__attach_cgroup(prog, cg);

		if (!link) {
			err = -errno;
			tl_log("failed to attach program '%s' to cgroup '%s': %s",
			       bpf_program__name(prog), cgroup, strerror(-err));
			close(cg);
			return err;
		}
		/* Kept for the life of the test's process; the kernel detaches when it exits. */
	}
	close(cg);
	e->svc_fd = bpf_map__fd(e->skel->maps.podlane_svc);
	e->be_fd = bpf_map__fd(e->skel->maps.podlane_backend);
	e->aff_fd = bpf_map__fd(e->skel->maps.podlane_affin);
	e->stat_fd = bpf_map__fd(e->skel->maps.podlane_lbstat);
	e->maglev_fd = bpf_map__fd(e->skel->maps.podlane_maglev);
	e->revnat_fd = bpf_map__fd(e->skel->maps.podlane_revnat);
	e->sk_fd = bpf_map__fd(e->skel->maps.podlane_sk_svc);
	return 0;
}

/*
 * A private network namespace with only lo, a cgroup of the test's own that sock_lb is
 * attached to through links (maps private, never pinned), backends listening on 127.0.0.2-5,
 * and the test's process inside the cgroup.
 */
FIXTURE(sock_lb) {
	struct env e;
	char cgroup[512];
	char cg_mount[512];
};

FIXTURE_SETUP(sock_lb)
{
	struct env *e = &self->e;
	int i;

	for (i = 0; i < N_BACKENDS; i++)
		e->tcp[i] = e->udp[i] = -1;
	ASSERT_EQ(0, tl_netns_enter());
	ASSERT_EQ(0, tl_cgroup2_mount(self->cg_mount, sizeof(self->cg_mount)));
	ASSERT_EQ(0, tl_cgroup_create("lb", self->cgroup, sizeof(self->cgroup)));
	ASSERT_EQ(0, lb_load(e, self->cgroup)) TH_LOG("failed to load and attach 'sock_lb'");
	ASSERT_EQ(0, servers_start(e));
	ASSERT_EQ(0, tl_cgroup_join(self->cgroup));
}

FIXTURE_TEARDOWN(sock_lb)
{
	int i;

	for (i = 0; i < N_BACKENDS; i++) {
		if (self->e.tcp[i] >= 0)
			close(self->e.tcp[i]);
		if (self->e.udp[i] >= 0)
			close(self->e.udp[i]);
	}
	sock_lb__destroy(self->e.skel);
	if (self->cgroup[0]) {
		tl_cgroup_join(self->cg_mount);
		tl_cgroup_destroy(self->cgroup);
	}
}

/* ---- cases ------------------------------------------------------------------------------ */

static __u32 prog_id(const struct bpf_program *prog)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) ? 0 : info.id;
}

/* The one program attached to the cgroup for a hook, by id; 0 when none or several. */
static __u32 cgroup_prog(const char *cgroup, enum bpf_attach_type type)
{
	__u32 ids[4], count = ARRAY_SIZE(ids);
	int fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err;

	if (fd < 0)
		return 0;
	err = bpf_prog_query(fd, type, 0, NULL, ids, &count);
	close(fd);
	return err || count != 1 ? 0 : ids[0];
}

TEST_F(sock_lb, loads_and_attaches_connect4_sendmsg4_recvmsg4_getpeername4)
{
	struct sock_lb *skel = self->e.skel;

	EXPECT_EQ(prog_id(skel->progs.sock_connect4),
		  cgroup_prog(self->cgroup, BPF_CGROUP_INET4_CONNECT));
	EXPECT_EQ(prog_id(skel->progs.sock_sendmsg4),
		  cgroup_prog(self->cgroup, BPF_CGROUP_UDP4_SENDMSG));
	EXPECT_EQ(prog_id(skel->progs.sock_recvmsg4),
		  cgroup_prog(self->cgroup, BPF_CGROUP_UDP4_RECVMSG));
	EXPECT_EQ(prog_id(skel->progs.sock_getpeername4),
		  cgroup_prog(self->cgroup, BPF_CGROUP_INET4_GETPEERNAME));
}

TEST_F(sock_lb, backends_listen_on_127_0_0_2_to_5_this_process_is_in_the_test_cgroup)
{
	char line[1024], want[600];
	struct sockaddr_in sin;
	socklen_t len;
	bool inside = false;
	FILE *f;
	int i;

	for (i = 0; i < N_BACKENDS; i++) {
		len = sizeof(sin);
		ASSERT_EQ(0, getsockname(self->e.tcp[i], (struct sockaddr *)&sin, &len));
		EXPECT_EQ(htonl(be_ip(i)), sin.sin_addr.s_addr);
		EXPECT_EQ(htons(BE_TCP_PORT), sin.sin_port);
	}
	snprintf(want, sizeof(want), "0::%s\n", self->cgroup + strlen(self->cg_mount));
	f = fopen("/proc/self/cgroup", "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f))
		inside |= !strcmp(line, want);
	fclose(f);
	EXPECT_TRUE(inside) TH_LOG("not in %s", self->cgroup);
}

TEST_F(sock_lb, a_connect_to_a_non_service_address_is_left_alone)
{
	EXPECT_EQ(1, tcp_pick(&self->e, be_ip(1), BE_TCP_PORT));
}

/* Nothing leaves the box. */
TEST_F(sock_lb, an_unknown_10_96_vip_has_no_route_here_enetunreach)
{
	int who = tcp_pick(&self->e, IP4(10, 96, 200, 1), 80);

	EXPECT_EQ(-ENETUNREACH, who) TH_LOG("connect to an unknown VIP: %s",
					    who < 0 ? strerror(-who) : "connected");
}

static const struct be_spec even4[] = { { 0, 1 }, { 1, 1 }, { 2, 1 }, { 3, 1 } };

/* ClusterIP 10.96.0.10:80 over the four backends, equal weights. */
static void svc_10(struct __test_metadata *_metadata, struct env *e)
{
	ASSERT_EQ(0, svc_set(e, IP4(10, 96, 0, 10), 80, IPPROTO_TCP, 10, 0, 0, even4, 4));
}

/* 400 connections to it; their spread. */
static void spread_400(struct __test_metadata *_metadata, struct env *e, int counts[N_BACKENDS])
{
	svc_10(_metadata, e);
	ASSERT_TRUE(tcp_spread(e, IP4(10, 96, 0, 10), 80, 400, counts));
}

TEST_F(sock_lb, clusterip_400_connections_spread_evenly_over_4_backends)
{
	const double p[N_BACKENDS] = { 0.25, 0.25, 0.25, 0.25 };
	int counts[N_BACKENDS], i;
	double x2;

	spread_400(_metadata, &self->e, counts);
	x2 = chi_square(counts, p, 4, 400);
	diag_counts("equal weights, 400 connections", counts);
	tl_log("chi-square %.2f (df 3, bound %.2f at p = 1e-4)", x2, CHI2_DF3);
	for (i = 0; i < N_BACKENDS; i++)
		EXPECT_LT(0, counts[i]);
	EXPECT_GT(CHI2_DF3, x2);
}

TEST_F(sock_lb, lbstat_connect_counts_every_translated_connect)
{
	__u64 before = stat_read(&self->e, PODLANE_LB_CONNECT);
	int counts[N_BACKENDS];

	spread_400(_metadata, &self->e, counts);
	EXPECT_EQ(400, stat_read(&self->e, PODLANE_LB_CONNECT) - before);
}

TEST_F(sock_lb, getpeername_returns_the_service_address_not_the_backend)
{
	struct sockaddr_in peer = {};
	socklen_t len = sizeof(peer);
	int fd, who, err;

	svc_10(_metadata, &self->e);
	fd = tcp_connect(IP4(10, 96, 0, 10), 80);
	ASSERT_LE(0, fd);
	err = getpeername(fd, (struct sockaddr *)&peer, &len);
	who = accepted_by(&self->e);
	close(fd);
	tl_log("getpeername: %s:%u (accepted by backend %d)", inet_ntoa(peer.sin_addr),
	       ntohs(peer.sin_port), who);
	ASSERT_EQ(0, err);
	EXPECT_LE(0, who);
	EXPECT_EQ(htonl(IP4(10, 96, 0, 10)), peer.sin_addr.s_addr);
	EXPECT_EQ(htons(80), peer.sin_port);
}

/*
 * Connected sockets keep their translation in socket storage, read back with the socket's fd
 * as the key; podlane_revnat stays for unconnected UDP, so connection churn never fills it.
 */
TEST_F(sock_lb, tcp_connections_leave_podlane_revnat_empty)
{
	int counts[N_BACKENDS], fd;
	__u32 revnat;

	spread_400(_metadata, &self->e, counts);
	fd = tcp_connect(IP4(10, 96, 0, 10), 80);
	ASSERT_LE(0, fd);
	accepted_by(&self->e);
	close(fd);
	revnat = map_count(self->e.revnat_fd);
	EXPECT_EQ(0, revnat) TH_LOG("podlane_revnat holds %u entries", revnat);
}

TEST_F(sock_lb, a_connected_tcp_socket_carries_its_service_and_backend_in_podlane_sk_svc)
{
	struct lb_sock_nat nat = {};
	int fd, err;

	svc_10(_metadata, &self->e);
	fd = tcp_connect(IP4(10, 96, 0, 10), 80);
	ASSERT_LE(0, fd);
	err = bpf_map_lookup_elem(self->e.sk_fd, &fd, &nat);
	accepted_by(&self->e);
	close(fd);
	ASSERT_EQ(0, err);
	EXPECT_EQ(htonl(IP4(10, 96, 0, 10)), nat.addr);
	EXPECT_EQ(htons(80), nat.port);
	EXPECT_LE(be_ip(0), ntohl(nat.backend_addr));
	EXPECT_GE(be_ip(N_BACKENDS - 1), ntohl(nat.backend_addr));
	EXPECT_EQ(htons(BE_TCP_PORT), nat.backend_port);
}

/* A UDP socket connected to a service, then to a plain address, shows the plain peer. */
TEST_F(sock_lb, udp_reconnected_from_a_service_to_a_plain_address_record_dropped)
{
	struct sockaddr_in vip, be, peer;
	socklen_t len = sizeof(peer);
	struct lb_sock_nat nat = {};
	int fd, err;

	sin_set(&be, be_ip(2), BE_UDP_PORT);
	sin_set(&vip, IP4(10, 96, 0, 21), 53);
	ASSERT_EQ(0, svc_set(&self->e, IP4(10, 96, 0, 21), 53, IPPROTO_UDP, 21, 0, 0,
			     (const struct be_spec[]){ { 2, 1 } }, 1));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, connect(fd, (struct sockaddr *)&vip, sizeof(vip)));
	EXPECT_EQ(0, bpf_map_lookup_elem(self->e.sk_fd, &fd, &nat));
	EXPECT_EQ(0, connect(fd, (struct sockaddr *)&be, sizeof(be)));
	err = bpf_map_lookup_elem(self->e.sk_fd, &fd, &nat) ? errno : 0;
	EXPECT_EQ(ENOENT, err) TH_LOG("the service's record outlived the reconnect");
	EXPECT_EQ(0, getpeername(fd, (struct sockaddr *)&peer, &len));
	close(fd);
	EXPECT_EQ(be.sin_addr.s_addr, peer.sin_addr.s_addr) TH_LOG("getpeername: not the new peer");
	EXPECT_EQ(be.sin_port, peer.sin_port);
}

TEST_F(sock_lb, clusterip_weights_1_1_2_4_are_respected_alias_method)
{
	const struct be_spec b[] = { { 0, 1 }, { 1, 1 }, { 2, 2 }, { 3, 4 } };
	const double p[N_BACKENDS] = { 0.125, 0.125, 0.25, 0.5 };
	int counts[N_BACKENDS], n = 800;
	double x2;

	ASSERT_EQ(0, svc_set(&self->e, IP4(10, 96, 0, 11), 80, IPPROTO_TCP, 11, 0, 0, b, 4));
	ASSERT_TRUE(tcp_spread(&self->e, IP4(10, 96, 0, 11), 80, n, counts));
	x2 = chi_square(counts, p, 4, n);
	diag_counts("weights 1:1:2:4, 800 connections", counts);
	tl_log("chi-square %.2f (df 3, bound %.2f)", x2, CHI2_DF3);
	EXPECT_GT(CHI2_DF3, x2);
}

/* Service 12: backend .5 terminating; 200 connections. */
static void terminating_spread(struct __test_metadata *_metadata, struct env *e,
			       int counts[N_BACKENDS])
{
	const struct be_spec b[] = { { 0, 1 }, { 1, 1 }, { 2, 1 },
				     { 3, 1, PODLANE_BACKEND_TERMINATING } };

	ASSERT_EQ(0, svc_set(e, IP4(10, 96, 0, 12), 80, IPPROTO_TCP, 12, 0, 0, b, 4));
	ASSERT_TRUE(tcp_spread(e, IP4(10, 96, 0, 12), 80, 200, counts));
	diag_counts("backend .5 terminating", counts);
}

TEST_F(sock_lb, terminating_backend_gets_no_new_connections_the_others_share_them)
{
	int counts[N_BACKENDS];

	terminating_spread(_metadata, &self->e, counts);
	EXPECT_EQ(0, counts[3]);
	EXPECT_LT(0, counts[0]);
	EXPECT_LT(0, counts[1]);
	EXPECT_LT(0, counts[2]);
}

/* The agent flips a state before it repacks the slots: the datapath must not care. */
TEST_F(sock_lb, a_backend_turned_terminating_in_place_is_skipped_as_well)
{
	int counts[N_BACKENDS];

	terminating_spread(_metadata, &self->e, counts);
	ASSERT_EQ(0, backend_set_state(&self->e, 12, 1, PODLANE_BACKEND_TERMINATING));
	ASSERT_TRUE(tcp_spread(&self->e, IP4(10, 96, 0, 12), 80, 200, counts));
	diag_counts("slot 1 (.3) terminating inside the active range", counts);
	EXPECT_EQ(0, counts[3]);
	EXPECT_EQ(0, counts[1]);
	EXPECT_LT(0, counts[0]);
	EXPECT_LT(0, counts[2]);
}

/* The affinity entry of service id, found by walking the map (its key has our netns cookie). */
static bool affinity_find(struct env *e, __u32 id, struct lb_affinity_key *found)
{
	struct lb_affinity_key key, next;
	void *prev = NULL;

	while (!bpf_map_get_next_key(e->aff_fd, prev, &next)) {
		if (next.svc_id == id) {
			*found = next;
			return true;
		}
		key = next;
		prev = &key;
	}
	return false;
}

/*
 * sessionAffinity ClientIP on service 13 (timeout 60 s): 50 connections. Returns the backend
 * they all went to, -1 when they did not stick; *hits the affinity_hit counter before.
 */
static int affinity_50(struct __test_metadata *_metadata, struct env *e, __u64 *hits)
{
	int counts[N_BACKENDS], i, first = -1;
	bool sticky = true;

	*hits = stat_read(e, PODLANE_LB_AFFINITY_HIT);
	ASSERT_EQ(0, svc_set(e, IP4(10, 96, 0, 13), 80, IPPROTO_TCP, 13, PODLANE_SVC_F_AFFINITY,
			     60, even4, 4));
	ASSERT_TRUE(tcp_spread(e, IP4(10, 96, 0, 13), 80, 50, counts));
	for (i = 0; i < N_BACKENDS; i++) {
		if (counts[i] && first >= 0)
			sticky = false;
		if (counts[i] && first < 0)
			first = i;
	}
	diag_counts("ClientIP affinity, 50 connections", counts);
	return sticky ? first : -1;
}

/* The affinity entry of service 13 and its value. */
static void affinity_entry(struct __test_metadata *_metadata, struct env *e,
			   struct lb_affinity_key *key, struct lb_affinity *aff)
{
	ASSERT_TRUE(affinity_find(e, 13, key));
	ASSERT_EQ(0, bpf_map_lookup_elem(e->aff_fd, key, aff));
}

/* A fresh entry pointing elsewhere: the slot the next connection must take. */
static int affinity_fresh_elsewhere(struct __test_metadata *_metadata, struct env *e,
				    struct lb_affinity_key *key, struct lb_affinity *aff)
{
	affinity_entry(_metadata, e, key, aff);
	aff->slot = (aff->slot + 1) % 4;
	aff->backend_id = 1000 + aff->slot;	/* svc_set packs these in order */
	aff->last_ns = mono_ns();
	ASSERT_EQ(0, bpf_map_update_elem(e->aff_fd, key, aff, BPF_EXIST));
	return tcp_pick(e, IP4(10, 96, 0, 13), 80);
}

TEST_F(sock_lb, session_affinity_clientip_every_connection_sticks)
{
	__u64 hits;

	EXPECT_LE(0, affinity_50(_metadata, &self->e, &hits));
}

TEST_F(sock_lb, lbstat_affinity_hit_counts_the_49_reuses)
{
	__u64 hits;

	affinity_50(_metadata, &self->e, &hits);
	EXPECT_EQ(49, stat_read(&self->e, PODLANE_LB_AFFINITY_HIT) - hits);
}

/* The key is the client's netns cookie, which the application can read too. */
TEST_F(sock_lb, affinity_is_keyed_by_the_clients_netns_cookie)
{
	struct lb_affinity_key key;
	socklen_t len = sizeof(__u64);
	__u64 hits, cookie = 0;
	int k;

	affinity_50(_metadata, &self->e, &hits);
	k = socket(AF_INET, SOCK_DGRAM, 0);
	getsockopt(k, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
	close(k);
	ASSERT_TRUE(affinity_find(&self->e, 13, &key));
	EXPECT_EQ(cookie, key.client);
}

TEST_F(sock_lb, a_remembered_backend_is_used_while_fresh)
{
	struct lb_affinity_key key;
	struct lb_affinity aff;
	__u64 hits;
	int who;

	affinity_50(_metadata, &self->e, &hits);
	who = affinity_fresh_elsewhere(_metadata, &self->e, &key, &aff);
	EXPECT_EQ(aff.slot, who);
}

/* A stale entry is not: over 12 expiries the choice must change at least once. */
TEST_F(sock_lb, after_the_affinity_timeout_a_new_backend_is_chosen)
{
	struct lb_affinity_key key;
	struct lb_affinity aff;
	int i, who, seen = 0;
	__u64 hits;

	affinity_50(_metadata, &self->e, &hits);
	affinity_fresh_elsewhere(_metadata, &self->e, &key, &aff);
	for (i = 0; i < 12; i++) {
		aff.last_ns = mono_ns() - 61 * 1000000000ULL;
		ASSERT_EQ(0, bpf_map_update_elem(self->e.aff_fd, &key, &aff, BPF_EXIST));
		who = tcp_pick(&self->e, IP4(10, 96, 0, 13), 80);
		seen |= who >= 0 ? 1 << who : 0;
	}
	EXPECT_LE(2, __builtin_popcount(seen));
}

/* The remembered backend starts terminating: the client moves on at once. */
TEST_F(sock_lb, affinity_to_a_terminating_backend_is_given_up)
{
	struct lb_affinity_key key;
	struct lb_affinity aff;
	int counts[N_BACKENDS], i, who;
	__u64 hits;

	affinity_50(_metadata, &self->e, &hits);
	affinity_fresh_elsewhere(_metadata, &self->e, &key, &aff);
	for (i = 0; i < 12; i++) {
		aff.last_ns = mono_ns() - 61 * 1000000000ULL;
		ASSERT_EQ(0, bpf_map_update_elem(self->e.aff_fd, &key, &aff, BPF_EXIST));
		who = tcp_pick(&self->e, IP4(10, 96, 0, 13), 80);
		ASSERT_LE(0, who);
	}
	affinity_entry(_metadata, &self->e, &key, &aff);
	ASSERT_EQ(0, backend_set_state(&self->e, 13, aff.slot, PODLANE_BACKEND_TERMINATING));
	ASSERT_TRUE(tcp_spread(&self->e, IP4(10, 96, 0, 13), 80, 20, counts));
	EXPECT_EQ(0, counts[aff.slot]);
}

TEST_F(sock_lb, internal_traffic_policy_local_only_the_local_backend_is_used)
{
	const struct be_spec b[] = { { 0, 1 }, { 1, 1 }, { 2, 1, 0, true }, { 3, 1 } };
	int counts[N_BACKENDS];

	ASSERT_EQ(0, svc_set(&self->e, IP4(10, 96, 0, 14), 80, IPPROTO_TCP, 14,
			     PODLANE_SVC_F_INT_LOCAL, 0, b, 4));
	ASSERT_TRUE(tcp_spread(&self->e, IP4(10, 96, 0, 14), 80, 50, counts));
	diag_counts("internalTrafficPolicy Local, .4 local", counts);
	EXPECT_EQ(50, counts[2]);
}

TEST_F(sock_lb, local_without_a_local_backend_connect_refused_eperm_counted_no_backend)
{
	const struct be_spec remote[] = { { 0, 1 }, { 1, 1 } };
	__u64 refused = stat_read(&self->e, PODLANE_LB_NO_BACKEND);

	ASSERT_EQ(0, svc_set(&self->e, IP4(10, 96, 0, 15), 80, IPPROTO_TCP, 15,
			     PODLANE_SVC_F_INT_LOCAL, 0, remote, 2));
	EXPECT_EQ(-EPERM, tcp_pick(&self->e, IP4(10, 96, 0, 15), 80));
	EXPECT_EQ(refused + 1, stat_read(&self->e, PODLANE_LB_NO_BACKEND));
}

/* Service 16, Maglev, weights 1:3, no table yet: one connection. */
static void maglev_without_table(struct __test_metadata *_metadata, struct env *e)
{
	const struct be_spec b[] = { { 0, 1 }, { 1, 3 } };

	ASSERT_EQ(0, svc_set(e, IP4(10, 96, 0, 16), 80, IPPROTO_TCP, 16, PODLANE_SVC_F_MAGLEV, 0,
			     b, 2));
	/* Without its table the service still works, on the alias columns, and says so. */
	EXPECT_LE(0, tcp_pick(e, IP4(10, 96, 0, 16), 80));
}

TEST_F(sock_lb, maglev_service_without_a_table_falls_back_to_weighted_random_counted)
{
	__u64 fallback = stat_read(&self->e, PODLANE_LB_NO_MAGLEV);

	maglev_without_table(_metadata, &self->e);
	EXPECT_EQ(fallback + 1, stat_read(&self->e, PODLANE_LB_NO_MAGLEV));
}

/*
 * The kernel takes only inner maps with the template's flags: podlaned relies on this EINVAL
 * to notice an outer map pinned by an older agent (non-mmapable template).
 */
TEST_F(sock_lb, maglev_table_without_the_templates_bpf_f_mmapable_einval)
{
	__u32 id = 16;
	int inner, err;

	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "podlane_mgl_16", 4, 4, PODLANE_MAGLEV_M, NULL);
	ASSERT_LE(0, inner);
	err = bpf_map_update_elem(self->e.maglev_fd, &id, &inner, BPF_ANY) ? errno : 0;
	EXPECT_EQ(EINVAL, err);
	close(inner);
}

TEST_F(sock_lb, maglev_service_picks_through_its_table_in_podlane_maglev_weights_1_3)
{
	const struct maglev_backend mb[] = { { 1000, 1 }, { 1001, 3 } };
	const double p[2] = { 0.25, 0.75 };
	__u64 fallback = stat_read(&self->e, PODLANE_LB_NO_MAGLEV);
	static __u32 table[PODLANE_MAGLEV_M];
	LIBBPF_OPTS(bpf_map_create_opts, mopts, .map_flags = BPF_F_MMAPABLE);
	size_t mlen = ((size_t)PODLANE_MAGLEV_M * 8 + getpagesize() - 1) &
		      ~((size_t)getpagesize() - 1);
	int counts[N_BACKENDS], inner, n = 400;
	__u32 id = 16, i, v, *m;
	double x2;

	maglev_without_table(_metadata, &self->e);
	/* Written the way podlaned writes it: through mmap, a __u32 every 8 bytes. */
	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "podlane_mgl_16", 4, 4, PODLANE_MAGLEV_M,
			       &mopts);
	ASSERT_LE(0, inner);
	ASSERT_EQ(0, maglev_build(mb, 2, table, PODLANE_MAGLEV_M));
	m = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, inner, 0);
	ASSERT_NE(MAP_FAILED, m);
	for (i = 0; i < PODLANE_MAGLEV_M; i++)
		m[2 * i] = table[i];
	munmap(m, mlen);
	for (i = 0; i < PODLANE_MAGLEV_M; i += 997) {
		ASSERT_EQ(0, bpf_map_lookup_elem(inner, &i, &v));
		ASSERT_EQ(table[i], v);
	}
	ASSERT_EQ(0, bpf_map_update_elem(self->e.maglev_fd, &id, &inner, BPF_ANY));
	close(inner);	/* the outer map holds it now */
	ASSERT_TRUE(tcp_spread(&self->e, IP4(10, 96, 0, 16), 80, n, counts));
	x2 = chi_square(counts, p, 2, n);
	diag_counts("Maglev table weights 1:3, 400 connections", counts);
	tl_log("chi-square %.2f (df 1, bound %.2f)", x2, CHI2_DF1);
	EXPECT_GT(CHI2_DF1, x2);
	EXPECT_EQ(fallback + 1, stat_read(&self->e, PODLANE_LB_NO_MAGLEV));
}

/* UDP echo: whatever a backend receives goes back to the sender from the backend's address. */
static int udp_echo_once(struct env *e)
{
	struct pollfd pfd[N_BACKENDS];
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	char buf[64];
	int i, n;

	for (i = 0; i < N_BACKENDS; i++) {
		pfd[i].fd = e->udp[i];
		pfd[i].events = POLLIN;
	}
	if (poll(pfd, N_BACKENDS, 2000) <= 0)
		return -ETIMEDOUT;
	for (i = 0; i < N_BACKENDS; i++) {
		if (!(pfd[i].revents & POLLIN))
			continue;
		n = recvfrom(e->udp[i], buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		if (n < 0)
			return -errno;
		sendto(e->udp[i], buf, n, 0, (struct sockaddr *)&from, len);
		return i;
	}
	return -EIO;
}

static int udp_reply(int fd, struct sockaddr_in *from)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	socklen_t len = sizeof(*from);
	char buf[64];

	if (poll(&pfd, 1, 2000) <= 0)
		return -ETIMEDOUT;
	return recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)from, &len) < 0 ? -errno : 0;
}

#define UDP_N	40

/* Service 10.96.0.20:53 over the four backends. */
static void svc_20(struct __test_metadata *_metadata, struct env *e, struct sockaddr_in *vip)
{
	ASSERT_EQ(0, svc_set(e, IP4(10, 96, 0, 20), 53, IPPROTO_UDP, 20, 0, 0, even4, 4));
	sin_set(vip, IP4(10, 96, 0, 20), 53);
}

/* UDP_N datagrams sent to the VIP unconnected; replies that came from the VIP. */
static int udp_unconnected(struct __test_metadata *_metadata, struct env *e, int *seen)
{
	struct sockaddr_in vip, from;
	int fd, i, who, got = 0;

	svc_20(_metadata, e, &vip);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, fd);
	*seen = 0;
	for (i = 0; i < UDP_N; i++) {
		if (sendto(fd, "ping", 4, 0, (struct sockaddr *)&vip, sizeof(vip)) != 4)
			break;
		who = udp_echo_once(e);
		if (who < 0)
			break;
		*seen |= 1 << who;
		if (udp_reply(fd, &from))
			break;
		if (from.sin_addr.s_addr != vip.sin_addr.s_addr || from.sin_port != vip.sin_port) {
			tl_log("reply %d came from %s:%u", i, inet_ntoa(from.sin_addr),
			       ntohs(from.sin_port));
			break;
		}
		got++;
	}
	close(fd);
	tl_log("unconnected UDP: %d of %d replies from the VIP, %d backends used", got, UDP_N,
	       __builtin_popcount(*seen));
	return got;
}

TEST_F(sock_lb, unconnected_udp_sendto_the_vip_reaches_backends_replies_come_from_the_vip)
{
	int seen;

	EXPECT_EQ(UDP_N, udp_unconnected(_metadata, &self->e, &seen));
	EXPECT_LE(2, __builtin_popcount(seen));
}

TEST_F(sock_lb, lbstat_sendmsg_and_recvmsg_count_each_datagram)
{
	__u64 restored = stat_read(&self->e, PODLANE_LB_RECVMSG);
	__u64 sent = stat_read(&self->e, PODLANE_LB_SENDMSG);
	int seen;

	udp_unconnected(_metadata, &self->e, &seen);
	EXPECT_EQ(UDP_N, stat_read(&self->e, PODLANE_LB_SENDMSG) - sent);
	EXPECT_EQ(UDP_N, stat_read(&self->e, PODLANE_LB_RECVMSG) - restored);
}

/* Connected UDP: connect4 translates once, recvmsg4 and getpeername4 restore. */
TEST_F(sock_lb, connected_udp_reply_source_and_getpeername_are_the_vip)
{
	struct sockaddr_in vip, from, peer;
	socklen_t len = sizeof(peer);
	int fd;

	svc_20(_metadata, &self->e, &vip);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, connect(fd, (struct sockaddr *)&vip, sizeof(vip)));
	EXPECT_EQ(4, send(fd, "ping", 4, 0));
	EXPECT_LE(0, udp_echo_once(&self->e));
	EXPECT_EQ(0, udp_reply(fd, &from));
	EXPECT_EQ(0, getpeername(fd, (struct sockaddr *)&peer, &len));
	close(fd);
	EXPECT_EQ(vip.sin_addr.s_addr, from.sin_addr.s_addr);
	EXPECT_EQ(vip.sin_port, from.sin_port);
	EXPECT_EQ(vip.sin_addr.s_addr, peer.sin_addr.s_addr);
	EXPECT_EQ(vip.sin_port, peer.sin_port);
}

/* Average run time of connect4 from the kernel's BPF run-time statistics. */
static double connect4_ns(struct env *e, int n)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	__u64 t0, c0;
	int i, fd = bpf_program__fd(e->skel->progs.sock_connect4);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -1;
	t0 = info.run_time_ns;
	c0 = info.run_cnt;
	for (i = 0; i < n; i++)
		if (tcp_pick(e, IP4(10, 96, 0, 10), 80) < 0)
			return -1;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.run_cnt == c0)
		return -1;
	return (double)(info.run_time_ns - t0) / (info.run_cnt - c0);
}

TEST_F(sock_lb, connect4_cost_is_flat_from_10_to_20000_services)
{
	struct lb_service svc = { .id = 50000, .count = 0 };
	struct env *e = &self->e;
	double small[3], big[3], s, b;
	int stats_fd, i, r;

	svc_10(_metadata, e);
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0)
		SKIP(return, "bpf_enable_stats(BPF_STATS_RUN_TIME) unavailable");
	/* Interleave the two sizes: fill, measure, empty, measure, ... */
	for (r = 0; r < 3; r++) {
		small[r] = connect4_ns(e, 300);
		for (i = 0; i < SCALE_SERVICES; i++) {
			struct lb_service_key k = { .addr = htonl(IP4(10, 97, 0, 0) + i),
						    .port = htons(80), .proto = IPPROTO_TCP };

			ASSERT_EQ(0, bpf_map_update_elem(e->svc_fd, &k, &svc, BPF_ANY));
		}
		big[r] = connect4_ns(e, 300);
		for (i = 0; i < SCALE_SERVICES; i++) {
			struct lb_service_key k = { .addr = htonl(IP4(10, 97, 0, 0) + i),
						    .port = htons(80), .proto = IPPROTO_TCP };

			bpf_map_delete_elem(e->svc_fd, &k);
		}
		ASSERT_LT(0, small[r]);
		ASSERT_LT(0, big[r]);
	}
	close(stats_fd);
	s = (small[0] + small[1] + small[2]) / 3;
	b = (big[0] + big[1] + big[2]) / 3;
	tl_log("connect4 run time: %.0f ns with ~10 services, %.0f ns with %d more (ratio %.2f)",
	       s, b, SCALE_SERVICES, b / s);
	EXPECT_GT(1.5 * s, b) TH_LOG("connect4 costs more than 1.5x with 20,000 more services");
}

int main(int argc, char **argv)
{
	char mnt[512];

	if (geteuid() != 0)
		ksft_exit_skip("needs root (cgroups, BPF, network namespace)\n");
	if (tl_cgroup2_mount(mnt, sizeof(mnt)))
		ksft_exit_skip("no cgroup v2 hierarchy mounted\n");
	return test_harness_run(argc, argv);
}
