// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_lb_sock.c - the socket-level service LB (bpf/sock_lb.bpf.c) live, printed as TAP.
 *
 * Usage: test_lb_sock <cgroup-v2-dir>
 * The caller creates the (empty) cgroup and removes it afterwards (selftests/lb/sock.t). This
 * process moves into a private network namespace with only lo up, attaches the four sock_addr
 * programs to the cgroup through links (gone when the process exits; maps private, never
 * pinned) and moves itself into the cgroup. Backends are TCP and UDP servers on 127.0.0.2-5;
 * services are 10.96.x.x addresses that exist nowhere: connect4 turns them into a loopback
 * backend, and a VIP the LB does not know fails with ENETUNREACH instead of leaving the box.
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

#include "tap.h"
#include "maglev.h"
#include "sock_lb.skel.h"

#define IP4(a, b, c, d)	((__u32)(a) << 24 | (__u32)(b) << 16 | (__u32)(c) << 8 | (__u32)(d))
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
	int ncpus;
};

struct be_spec {
	int idx;		/* which backend (0..N_BACKENDS-1) */
	__u32 weight;
	__u8 state;
	bool local;
};

static __u64 stat_read(struct env *e, enum lb_stat which)
{
	static __u64 per_cpu[MAX_CPUS];
	__u32 slot = which;
	__u64 sum = 0;
	int cpu;

	if (bpf_map_lookup_elem(e->stat_fd, &slot, per_cpu))
		return 0;
	for (cpu = 0; cpu < e->ncpus; cpu++)
		sum += per_cpu[cpu];
	return sum;
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
			diag("connection %d to the service failed: %s", i, strerror(-who));
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
	diag("%s: 127.0.0.2: %d, .3: %d, .4: %d, .5: %d", what, c[0], c[1], c[2], c[3]);
}

/* ---- cases ------------------------------------------------------------------------------ */

static void test_plain(struct env *e)
{
	int who;

	who = tcp_pick(e, be_ip(1), BE_TCP_PORT);
	report(who == 1, "a connect to a non-service address is left alone");
	who = tcp_pick(e, IP4(10, 96, 200, 1), 80);
	if (who != -ENETUNREACH)
		diag("connect to an unknown VIP: %s", who < 0 ? strerror(-who) : "connected");
	report(who == -ENETUNREACH,
	       "an unknown 10.96 VIP has no route here (ENETUNREACH): nothing leaves the box");
}

static void test_spread(struct env *e)
{
	const struct be_spec b[] = { { 0, 1 }, { 1, 1 }, { 2, 1 }, { 3, 1 } };
	const double p[N_BACKENDS] = { 0.25, 0.25, 0.25, 0.25 };
	__u64 before = stat_read(e, PODLANE_LB_CONNECT);
	int counts[N_BACKENDS], n = 400, i;
	bool ok;
	double x2;

	ok = !svc_set(e, IP4(10, 96, 0, 10), 80, IPPROTO_TCP, 10, 0, 0, b, 4) &&
	     tcp_spread(e, IP4(10, 96, 0, 10), 80, n, counts);
	x2 = chi_square(counts, p, 4, n);
	diag_counts("equal weights, 400 connections", counts);
	diag("chi-square %.2f (df 3, bound %.2f at p = 1e-4)", x2, CHI2_DF3);
	for (i = 0; i < N_BACKENDS; i++)
		ok &= counts[i] > 0;
	report(ok && x2 < CHI2_DF3, "ClusterIP: 400 connections spread evenly over 4 backends");
	report(stat_read(e, PODLANE_LB_CONNECT) - before == (__u64)n,
	       "lbstat connect counts every translated connect");
}

static void test_peername(struct env *e)
{
	struct sockaddr_in peer = {}, local = {};
	socklen_t len = sizeof(peer);
	int fd, who;
	bool ok;

	fd = tcp_connect(IP4(10, 96, 0, 10), 80);
	ok = fd >= 0 && !getpeername(fd, (struct sockaddr *)&peer, &len);
	who = accepted_by(e);
	len = sizeof(local);
	if (fd >= 0)
		getsockname(fd, (struct sockaddr *)&local, &len);
	if (fd >= 0)
		close(fd);
	diag("getpeername: %s:%u (accepted by backend %d)", inet_ntoa(peer.sin_addr),
	     ntohs(peer.sin_port), who);
	report(ok && who >= 0 && peer.sin_addr.s_addr == htonl(IP4(10, 96, 0, 10)) &&
	       peer.sin_port == htons(80),
	       "getpeername returns the service address, not the backend");
}

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

/*
 * Connected sockets keep their translation in socket storage, read back with the socket's fd
 * as the key; podlane_revnat stays for unconnected UDP, so connection churn never fills it.
 */
static void test_sock_storage(struct env *e)
{
	struct sockaddr_in vip, be, peer;
	socklen_t len = sizeof(peer);
	struct lb_sock_nat nat = {};
	__u32 revnat = map_count(e->revnat_fd);
	int fd;
	bool ok;

	report(revnat == 0, "the TCP connections so far left podlane_revnat empty");
	if (revnat)
		diag("podlane_revnat holds %u entries", revnat);

	fd = tcp_connect(IP4(10, 96, 0, 10), 80);
	ok = fd >= 0 && !bpf_map_lookup_elem(e->sk_fd, &fd, &nat);
	accepted_by(e);
	if (fd >= 0)
		close(fd);
	ok = ok && nat.addr == htonl(IP4(10, 96, 0, 10)) && nat.port == htons(80) &&
	     ntohl(nat.backend_addr) >= be_ip(0) &&
	     ntohl(nat.backend_addr) <= be_ip(N_BACKENDS - 1) &&
	     nat.backend_port == htons(BE_TCP_PORT);
	report(ok, "a connected TCP socket carries its service and backend in podlane_sk_svc");

	/* A UDP socket connected to a service, then to a plain address, shows the plain peer. */
	sin_set(&be, be_ip(2), BE_UDP_PORT);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ok = fd >= 0 && !svc_set(e, IP4(10, 96, 0, 21), 53, IPPROTO_UDP, 21, 0, 0,
				 (const struct be_spec[]){ { 2, 1 } }, 1);
	sin_set(&vip, IP4(10, 96, 0, 21), 53);
	ok = ok && !connect(fd, (struct sockaddr *)&vip, sizeof(vip)) &&
	     !bpf_map_lookup_elem(e->sk_fd, &fd, &nat) &&
	     !connect(fd, (struct sockaddr *)&be, sizeof(be)) &&
	     bpf_map_lookup_elem(e->sk_fd, &fd, &nat) && errno == ENOENT &&
	     !getpeername(fd, (struct sockaddr *)&peer, &len);
	if (fd >= 0)
		close(fd);
	report(ok && peer.sin_addr.s_addr == be.sin_addr.s_addr && peer.sin_port == be.sin_port,
	       "UDP reconnected from a service to a plain address: record dropped, "
	       "getpeername shows the new peer");
}

static void test_weights(struct env *e)
{
	const struct be_spec b[] = { { 0, 1 }, { 1, 1 }, { 2, 2 }, { 3, 4 } };
	const double p[N_BACKENDS] = { 0.125, 0.125, 0.25, 0.5 };
	int counts[N_BACKENDS], n = 800;
	bool ok;
	double x2;

	ok = !svc_set(e, IP4(10, 96, 0, 11), 80, IPPROTO_TCP, 11, 0, 0, b, 4) &&
	     tcp_spread(e, IP4(10, 96, 0, 11), 80, n, counts);
	x2 = chi_square(counts, p, 4, n);
	diag_counts("weights 1:1:2:4, 800 connections", counts);
	diag("chi-square %.2f (df 3, bound %.2f)", x2, CHI2_DF3);
	report(ok && x2 < CHI2_DF3, "ClusterIP: weights 1:1:2:4 are respected (alias method)");
}

static void test_terminating(struct env *e)
{
	const struct be_spec b[] = { { 0, 1 }, { 1, 1 }, { 2, 1 },
				     { 3, 1, PODLANE_BACKEND_TERMINATING } };
	int counts[N_BACKENDS], n = 200;
	bool ok;

	ok = !svc_set(e, IP4(10, 96, 0, 12), 80, IPPROTO_TCP, 12, 0, 0, b, 4) &&
	     tcp_spread(e, IP4(10, 96, 0, 12), 80, n, counts);
	diag_counts("backend .5 terminating", counts);
	report(ok && counts[3] == 0 && counts[0] && counts[1] && counts[2],
	       "terminating backend gets no new connections, the others share them");

	/* The agent flips a state before it repacks the slots: the datapath must not care. */
	ok = !backend_set_state(e, 12, 1, PODLANE_BACKEND_TERMINATING) &&
	     tcp_spread(e, IP4(10, 96, 0, 12), 80, n, counts);
	diag_counts("slot 1 (.3) terminating inside the active range", counts);
	report(ok && counts[3] == 0 && counts[1] == 0 && counts[0] && counts[2],
	       "a backend turned terminating in place is skipped as well");
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

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void test_affinity(struct env *e)
{
	const struct be_spec b[] = { { 0, 1 }, { 1, 1 }, { 2, 1 }, { 3, 1 } };
	__u64 hits = stat_read(e, PODLANE_LB_AFFINITY_HIT), cookie = 0;
	int counts[N_BACKENDS], n = 50, i, first = -1, who, seen = 0, k;
	struct lb_affinity_key key;
	struct lb_affinity aff;
	socklen_t len = sizeof(cookie);
	bool ok, sticky = true;

	ok = !svc_set(e, IP4(10, 96, 0, 13), 80, IPPROTO_TCP, 13, PODLANE_SVC_F_AFFINITY, 60, b, 4)
	     && tcp_spread(e, IP4(10, 96, 0, 13), 80, n, counts);
	for (i = 0; i < N_BACKENDS; i++) {
		if (counts[i] && first >= 0)
			sticky = false;
		if (counts[i] && first < 0)
			first = i;
	}
	diag_counts("ClientIP affinity, 50 connections", counts);
	report(ok && sticky && first >= 0, "sessionAffinity ClientIP: every connection sticks");
	report(stat_read(e, PODLANE_LB_AFFINITY_HIT) - hits == (__u64)n - 1,
	       "lbstat affinity_hit counts the 49 reuses");

	/* The key is the client's netns cookie, which the application can read too. */
	k = socket(AF_INET, SOCK_DGRAM, 0);
	getsockopt(k, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
	close(k);
	ok = affinity_find(e, 13, &key);
	report(ok && key.client == cookie, "affinity is keyed by the client's netns cookie");

	/* A fresh entry pointing elsewhere is honoured ... */
	ok = ok && !bpf_map_lookup_elem(e->aff_fd, &key, &aff);
	aff.slot = (aff.slot + 1) % 4;
	aff.backend_id = 1000 + aff.slot;	/* svc_set packs these in order */
	aff.last_ns = mono_ns();
	ok = ok && !bpf_map_update_elem(e->aff_fd, &key, &aff, BPF_EXIST);
	who = tcp_pick(e, IP4(10, 96, 0, 13), 80);
	report(ok && who == (int)aff.slot, "a remembered backend is used while fresh");

	/* ... a stale one is not: over 12 expiries the choice must change at least once. */
	for (i = 0; ok && i < 12; i++) {
		aff.last_ns = mono_ns() - 61 * 1000000000ULL;
		ok = !bpf_map_update_elem(e->aff_fd, &key, &aff, BPF_EXIST);
		who = tcp_pick(e, IP4(10, 96, 0, 13), 80);
		seen |= who >= 0 ? 1 << who : 0;
	}
	report(ok && __builtin_popcount(seen) >= 2,
	       "after the affinity timeout a new backend is chosen");

	/* The remembered backend starts terminating: the client moves on at once. */
	ok = ok && affinity_find(e, 13, &key) && !bpf_map_lookup_elem(e->aff_fd, &key, &aff);
	first = aff.slot;
	ok = ok && !backend_set_state(e, 13, first, PODLANE_BACKEND_TERMINATING) &&
	     tcp_spread(e, IP4(10, 96, 0, 13), 80, 20, counts);
	report(ok && counts[first] == 0, "affinity to a terminating backend is given up");
}

static void test_local(struct env *e)
{
	const struct be_spec b[] = { { 0, 1 }, { 1, 1 }, { 2, 1, 0, true }, { 3, 1 } };
	const struct be_spec remote[] = { { 0, 1 }, { 1, 1 } };
	__u64 refused = stat_read(e, PODLANE_LB_NO_BACKEND);
	int counts[N_BACKENDS], who;
	bool ok;

	ok = !svc_set(e, IP4(10, 96, 0, 14), 80, IPPROTO_TCP, 14, PODLANE_SVC_F_INT_LOCAL, 0, b,
		      4) && tcp_spread(e, IP4(10, 96, 0, 14), 80, 50, counts);
	diag_counts("internalTrafficPolicy Local, .4 local", counts);
	report(ok && counts[2] == 50,
	       "internalTrafficPolicy Local: only the local backend is used");

	ok = !svc_set(e, IP4(10, 96, 0, 15), 80, IPPROTO_TCP, 15, PODLANE_SVC_F_INT_LOCAL, 0,
		      remote, 2);
	who = tcp_pick(e, IP4(10, 96, 0, 15), 80);
	report(ok && who == -EPERM && stat_read(e, PODLANE_LB_NO_BACKEND) == refused + 1,
	       "Local without a local backend: connect refused (EPERM), counted no_backend");
}

static void test_maglev(struct env *e)
{
	const struct be_spec b[] = { { 0, 1 }, { 1, 3 } };
	const struct maglev_backend mb[] = { { 1000, 1 }, { 1001, 3 } };
	const double p[2] = { 0.25, 0.75 };
	__u64 fallback = stat_read(e, PODLANE_LB_NO_MAGLEV);
	static __u32 table[PODLANE_MAGLEV_M];
	LIBBPF_OPTS(bpf_map_create_opts, mopts, .map_flags = BPF_F_MMAPABLE);
	size_t mlen = ((size_t)PODLANE_MAGLEV_M * 8 + getpagesize() - 1) &
		      ~((size_t)getpagesize() - 1);
	int counts[N_BACKENDS], inner, n = 400;
	__u32 id = 16, i;
	bool ok;
	double x2;

	ok = !svc_set(e, IP4(10, 96, 0, 16), 80, IPPROTO_TCP, id, PODLANE_SVC_F_MAGLEV, 0, b, 2);
	/* Without its table the service still works, on the alias columns, and says so. */
	ok = ok && tcp_pick(e, IP4(10, 96, 0, 16), 80) >= 0;
	report(ok && stat_read(e, PODLANE_LB_NO_MAGLEV) == fallback + 1,
	       "Maglev service without a table falls back to weighted random, counted");

	/*
	 * The kernel takes only inner maps with the template's flags: podlaned relies on this
	 * EINVAL to notice an outer map pinned by an older agent (non-mmapable template).
	 */
	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "podlane_mgl_16", 4, 4, PODLANE_MAGLEV_M, NULL);
	report(inner >= 0 && bpf_map_update_elem(e->maglev_fd, &id, &inner, BPF_ANY) &&
	       errno == EINVAL, "Maglev table without the template's BPF_F_MMAPABLE: EINVAL");
	if (inner >= 0)
		close(inner);

	/* Written the way podlaned writes it: through mmap, a __u32 every 8 bytes. */
	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "podlane_mgl_16", 4, 4, PODLANE_MAGLEV_M, &mopts);
	ok = inner >= 0 && !maglev_build(mb, 2, table, PODLANE_MAGLEV_M);
	if (ok) {
		__u32 *m = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, inner, 0);

		ok = m != MAP_FAILED;
		for (i = 0; ok && i < PODLANE_MAGLEV_M; i++)
			m[2 * i] = table[i];
		if (ok)
			munmap(m, mlen);
	}
	for (i = 0; ok && i < PODLANE_MAGLEV_M; i += 997) {
		__u32 v;

		ok = !bpf_map_lookup_elem(inner, &i, &v) && v == table[i];
	}
	ok = ok && !bpf_map_update_elem(e->maglev_fd, &id, &inner, BPF_ANY);
	if (inner >= 0)
		close(inner);	/* the outer map holds it now */
	ok = ok && tcp_spread(e, IP4(10, 96, 0, 16), 80, n, counts);
	x2 = chi_square(counts, p, 2, n);
	diag_counts("Maglev table weights 1:3, 400 connections", counts);
	diag("chi-square %.2f (df 1, bound %.2f)", x2, CHI2_DF1);
	report(ok && x2 < CHI2_DF1 && stat_read(e, PODLANE_LB_NO_MAGLEV) == fallback + 1,
	       "Maglev service picks through its table in podlane_maglev (weights 1:3)");
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

static void test_udp(struct env *e)
{
	const struct be_spec b[] = { { 0, 1 }, { 1, 1 }, { 2, 1 }, { 3, 1 } };
	__u64 restored = stat_read(e, PODLANE_LB_RECVMSG), sent = stat_read(e, PODLANE_LB_SENDMSG);
	struct sockaddr_in vip, from, peer;
	int fd, i, who, got = 0, seen = 0, n = 40;
	socklen_t len = sizeof(peer);
	bool ok;

	ok = !svc_set(e, IP4(10, 96, 0, 20), 53, IPPROTO_UDP, 20, 0, 0, b, 4);
	sin_set(&vip, IP4(10, 96, 0, 20), 53);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (i = 0; ok && i < n; i++) {
		if (sendto(fd, "ping", 4, 0, (struct sockaddr *)&vip, sizeof(vip)) != 4)
			break;
		who = udp_echo_once(e);
		if (who < 0)
			break;
		seen |= 1 << who;
		if (udp_reply(fd, &from))
			break;
		if (from.sin_addr.s_addr != vip.sin_addr.s_addr || from.sin_port != vip.sin_port) {
			diag("reply %d came from %s:%u", i, inet_ntoa(from.sin_addr),
			     ntohs(from.sin_port));
			break;
		}
		got++;
	}
	close(fd);
	diag("unconnected UDP: %d of %d replies from the VIP, %d backends used", got, n,
	     __builtin_popcount(seen));
	report(ok && got == n && __builtin_popcount(seen) >= 2,
	       "unconnected UDP: sendto the VIP reaches backends, replies come from the VIP");
	report(stat_read(e, PODLANE_LB_SENDMSG) - sent == (__u64)n &&
	       stat_read(e, PODLANE_LB_RECVMSG) - restored == (__u64)n,
	       "lbstat sendmsg and recvmsg count each datagram");

	/* Connected UDP: connect4 translates once, recvmsg4 and getpeername4 restore. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ok = !connect(fd, (struct sockaddr *)&vip, sizeof(vip)) && send(fd, "ping", 4, 0) == 4 &&
	     udp_echo_once(e) >= 0 && !udp_reply(fd, &from) &&
	     !getpeername(fd, (struct sockaddr *)&peer, &len);
	close(fd);
	report(ok && from.sin_addr.s_addr == vip.sin_addr.s_addr && from.sin_port == vip.sin_port &&
	       peer.sin_addr.s_addr == vip.sin_addr.s_addr && peer.sin_port == vip.sin_port,
	       "connected UDP: reply source and getpeername are the VIP");
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

static void test_scale(struct env *e)
{
	struct lb_service svc = { .id = 50000, .count = 0 };
	double small[3], big[3], s, b;
	int stats_fd, i, r;
	bool ok = true;

	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		report_skip("connect4 cost is flat from 10 to 20,000 services",
			    "bpf_enable_stats(BPF_STATS_RUN_TIME) unavailable");
		return;
	}
	/* Interleave the two sizes: fill, measure, empty, measure, ... */
	for (r = 0; r < 3 && ok; r++) {
		small[r] = connect4_ns(e, 300);
		for (i = 0; i < SCALE_SERVICES && ok; i++) {
			struct lb_service_key k = { .addr = htonl(IP4(10, 97, 0, 0) + i),
						    .port = htons(80), .proto = IPPROTO_TCP };

			ok = !bpf_map_update_elem(e->svc_fd, &k, &svc, BPF_ANY);
		}
		big[r] = connect4_ns(e, 300);
		for (i = 0; i < SCALE_SERVICES; i++) {
			struct lb_service_key k = { .addr = htonl(IP4(10, 97, 0, 0) + i),
						    .port = htons(80), .proto = IPPROTO_TCP };

			bpf_map_delete_elem(e->svc_fd, &k);
		}
		ok = ok && small[r] > 0 && big[r] > 0;
	}
	close(stats_fd);
	s = (small[0] + small[1] + small[2]) / 3;
	b = (big[0] + big[1] + big[2]) / 3;
	diag("connect4 run time: %.0f ns with ~10 services, %.0f ns with %d more (ratio %.2f)", s,
	     b, SCALE_SERVICES, b / s);
	report(ok && b < 1.5 * s, "connect4 cost is flat from 10 to 20,000 services (< 1.5x)");
}

/* ---- setup ------------------------------------------------------------------------------ */

static int netns_private(void)
{
	struct ifreq ifr = {};
	int fd, err = 0;

	if (unshare(CLONE_NEWNET))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			err = -errno;
	} else {
		err = -errno;
	}
	close(fd);
	return err;
}

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

static int cgroup_join(const char *dir)
{
	char path[512], pid[32];
	int fd, n, err = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(pid, sizeof(pid), "%d\n", getpid());
	if (write(fd, pid, n) != n)
		err = -errno;
	close(fd);
	return err;
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
			diag("failed to attach program '%s' to cgroup '%s': %s",
			     bpf_program__name(prog), cgroup, strerror(-err));
			close(cg);
			return err;
		}
		/* Kept for the life of the process; the kernel detaches when it exits. */
	}
	close(cg);
	e->svc_fd = bpf_map__fd(e->skel->maps.podlane_svc);
	e->be_fd = bpf_map__fd(e->skel->maps.podlane_backend);
	e->aff_fd = bpf_map__fd(e->skel->maps.podlane_affin);
	e->stat_fd = bpf_map__fd(e->skel->maps.podlane_lbstat);
	e->maglev_fd = bpf_map__fd(e->skel->maps.podlane_maglev);
	e->revnat_fd = bpf_map__fd(e->skel->maps.podlane_revnat);
	e->sk_fd = bpf_map__fd(e->skel->maps.podlane_sk_svc);
	e->ncpus = libbpf_num_possible_cpus();
	return 0;
}

int main(int argc, char **argv)
{
	struct env e = {};
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print_tap);
	if (argc != 2) {
		fprintf(stderr, "usage: %s <cgroup-v2-dir>\n", argv[0]);
		return 2;
	}
	err = netns_private();
	if (err) {
		printf("1..0 # SKIP no private network namespace: %s\n", strerror(-err));
		return 0;
	}
	printf("1..28\n");
	err = lb_load(&e, argv[1]);
	report(!err, "sock_lb loads and attaches connect4/sendmsg4/recvmsg4/getpeername4");
	if (err) {
		diag("failed to load and attach 'sock_lb': %s", strerror(-err));
		return 1;
	}
	err = servers_start(&e);
	if (!err)
		err = cgroup_join(argv[1]);
	report(!err, "backends listen on 127.0.0.2-5, this process is in the test cgroup");
	if (err) {
		diag("setup: %s", strerror(-err));
		return 1;
	}

	test_plain(&e);
	test_spread(&e);
	test_peername(&e);
	test_sock_storage(&e);
	test_weights(&e);
	test_terminating(&e);
	test_affinity(&e);
	test_local(&e);
	test_maglev(&e);
	test_udp(&e);
	test_scale(&e);
	sock_lb__destroy(e.skel);
	return failures ? 1 : 0;
}
