// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_lb_nat_live.c - a NodePort reached from outside the node, end to end, printed as TAP.
 *
 * The process unshares a network namespace that plays the node. A client namespace "outside"
 * is joined to it by a veth (the node's uplink, 192.168.88.1), and a backend pod is wired as
 * podlaned wires pods (veth, /32 route, permanent neighbours, per-device forwarding) with a
 * TCP echo server on 8080. tc_from_uplink, tc_from_pod and tc_to_pod are attached privately
 * (maps never pinned). The client connects to 192.168.88.1:30080: only the BPF service path
 * makes that work (nothing on the node listens there), and the handshake completes only if
 * the backend's replies are translated back. Every namespace dies with the process.
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

#include "tap.h"
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
#define NTESTS		9

struct env {
	struct tc_endpoint *ep;
	struct tc_uplink *up;
	pid_t client_ns, pod_ns, server;
	int node_netns;		/* fd of our own (the node's) namespace */
	int uplink_ifindex, pod_ifindex;
	int ncpus;
};

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	rc = system(cmd);
	if (rc)
		diag("command failed (%d): %s", rc, cmd);
	return rc;
}

/* A child that holds a fresh network namespace until we exit. */
static pid_t ns_spawn(void)
{
	int ready[2];
	pid_t pid;
	char c = 1;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWNET) || write(ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (pid < 0 || read(ready[0], &c, 1) != 1)
		pid = -1;
	close(ready[0]);
	return pid;
}

/* A socket created inside the namespace held by pid; we return to the node afterwards. */
static int socket_in(struct env *e, pid_t pid, int type)
{
	char path[64];
	int fd, s = -1;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (!setns(fd, CLONE_NEWNET))
		s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	close(fd);
	if (setns(e->node_netns, CLONE_NEWNET)) {
		diag("failed to return to the node namespace: %s", strerror(errno));
		exit(1);
	}
	return s;
}

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
	int one = 1, ls = socket_in(e, e->pod_ns, SOCK_STREAM);
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
	int s = socket_in(e, e->client_ns, SOCK_STREAM), err = 0;
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
		diag("answer '%s', want '%s'", buf, want);
		return false;
	}
	return true;
}

static int tc_attach(int ifindex, const struct bpf_program *ingress,
		     const struct bpf_program *egress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err = bpf_tc_hook_create(&hook);

	if (err)
		return err;
	if (ingress) {
		LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(ingress));

		hook.attach_point = BPF_TC_INGRESS;
		err = bpf_tc_attach(&hook, &opts);
	}
	if (!err && egress) {
		LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(egress));

		hook.attach_point = BPF_TC_EGRESS;
		err = bpf_tc_attach(&hook, &opts);
	}
	return err;
}

static int endpoint_add(struct env *e)
{
	static struct endpoint_stats zero[MAX_CPUS];
	struct endpoint_key key;
	struct endpoint_value val;
	__u32 ifindex = e->pod_ifindex;

	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	key.addr.family = PODLANE_AF_INET;
	inet_pton(AF_INET, POD_IP, &key.addr.ip4);
	val.ifindex = ifindex;
	/* The pod is the NodePort's backend: the agent flags it so its replies are looked at. */
	val.flags = PODLANE_EP_F_READY | PODLANE_EP_F_LB_BACKEND;
	sscanf(POD_MAC, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &val.pod_mac[0], &val.pod_mac[1],
	       &val.pod_mac[2], &val.pod_mac[3], &val.pod_mac[4], &val.pod_mac[5]);
	sscanf(HOST_MAC, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &val.host_mac[0], &val.host_mac[1],
	       &val.host_mac[2], &val.host_mac[3], &val.host_mac[4], &val.host_mac[5]);
	if (bpf_map_update_elem(bpf_map__fd(e->ep->maps.podlane_ep_stat), &ifindex, zero, 0) ||
	    bpf_map_update_elem(bpf_map__fd(e->ep->maps.podlane_eps), &key, &val, 0))
		return -errno;
	return 0;
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

	if (unshare(CLONE_NEWNET))
		return -errno;
	e->node_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	e->client_ns = ns_spawn();
	e->pod_ns = ns_spawn();
	if (e->node_netns < 0 || e->client_ns < 0 || e->pod_ns < 0)
		return -ECHILD;
	if (sh("ip link set lo up") ||
	    /* The uplink and the client outside. */
	    sh("ip link add %s type veth peer name eth0 netns %d", UPLINK_DEV, e->client_ns) ||
	    sh("ip addr add %s/24 dev %s", NODE_IP, UPLINK_DEV) ||
	    sh("ip link set %s up", UPLINK_DEV) ||
	    sh("nsenter -t %d -n ip link set lo up", e->client_ns) ||
	    sh("nsenter -t %d -n ip addr add %s/24 dev eth0", e->client_ns, CLIENT_IP) ||
	    sh("nsenter -t %d -n ip link set eth0 up", e->client_ns) ||
	    /* The backend pod, wired as podlaned does it. */
	    sh("ip link add %s address %s type veth peer name eth0 address %s netns %d", POD_DEV,
	       HOST_MAC, POD_MAC, e->pod_ns) ||
	    sh("ip link set %s up", POD_DEV) ||
	    sh("ip route add %s/32 dev %s scope link", POD_IP, POD_DEV) ||
	    sh("ip neigh replace %s lladdr %s dev %s nud permanent", POD_IP, POD_MAC, POD_DEV) ||
	    sh("sysctl -qw net.ipv4.conf.%s.forwarding=1", POD_DEV) ||
	    sh("nsenter -t %d -n ip link set lo up", e->pod_ns) ||
	    sh("nsenter -t %d -n ip addr add %s/32 dev eth0", e->pod_ns, POD_IP) ||
	    sh("nsenter -t %d -n ip link set eth0 up", e->pod_ns) ||
	    sh("nsenter -t %d -n ip route add 169.254.1.1 dev eth0 scope link", e->pod_ns) ||
	    sh("nsenter -t %d -n ip route add default via 169.254.1.1 dev eth0", e->pod_ns) ||
	    sh("nsenter -t %d -n ip neigh replace 169.254.1.1 lladdr %s dev eth0 nud permanent",
	       e->pod_ns, HOST_MAC))
		return -EIO;
	e->uplink_ifindex = if_nametoindex(UPLINK_DEV);
	e->pod_ifindex = if_nametoindex(POD_DEV);
	e->ncpus = libbpf_num_possible_cpus();

	e->ep = tc_endpoint__open();
	e->up = tc_uplink__open();
	if (!e->ep || !e->up)
		return -errno;
	maps_unpin_and_shrink(e->ep->obj, MAP_SIZE);
	maps_unpin_and_shrink(e->up->obj, MAP_SIZE);
	bpf_map__set_max_entries(e->ep->maps.podlane_ct, 4096);
	bpf_map__set_max_entries(e->ep->maps.podlane_revnat, 64);
	bpf_map__set_max_entries(e->ep->maps.podlane_affin, 64);
	err = tc_endpoint__load(e->ep);
	err = err ?: maps_share(e->up->obj, e->ep->obj);
	err = err ?: tc_uplink__load(e->up);
	err = err ?: endpoint_add(e);
	err = err ?: service_set(e, 1);
	err = err ?: tc_attach(e->pod_ifindex, e->ep->progs.tc_from_pod, e->ep->progs.tc_to_pod);
	err = err ?: tc_attach(e->uplink_ifindex, e->up->progs.tc_from_uplink, NULL);
	if (err)
		return err;
	e->server = server_start(e);
	return e->server < 0 ? -EIO : 0;
}

static __u64 lbstat(struct env *e, enum lb_stat which)
{
	static __u64 per_cpu[MAX_CPUS];
	__u32 slot = which;
	__u64 sum = 0;
	int cpu;

	if (bpf_map_lookup_elem(bpf_map__fd(e->ep->maps.podlane_lbstat), &slot, per_cpu))
		return 0;
	for (cpu = 0; cpu < e->ncpus; cpu++)
		sum += per_cpu[cpu];
	return sum;
}

static __u64 node_drops(struct env *e, int reason)
{
	struct drop_counter dc[PODLANE_DROP_SLOTS];

	if (node_drops_read(bpf_map__fd(e->ep->maps.podlane_drops), e->ncpus, dc))
		return 0;
	return dc[PODLANE_DROP_INDEX(reason)].packets;
}

int main(int argc, char **argv)
{
	struct env e = { .node_netns = -1 };
	struct ct_gc_stats st;
	char msg[32];
	int s, i, ok_n;
	__u64 replies, no_be;
	bool ok;

	verbose = argc > 1 && !strcmp(argv[1], "-v");
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print_tap);
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (namespaces, tc, BPF)\n");
		return 0;
	}
	printf("1..%d\n", NTESTS);
	if (setup(&e)) {
		report(false, "set up node, client and pod namespaces; attach the tc programs");
		for (i = 1; i < NTESTS; i++)
			report(false, "not run: setup failed");
		return 1;
	}
	report(true, "set up node, client and pod namespaces; attach the tc programs");

	s = client_connect(&e, 3000);
	ok = s >= 0 && exchange(s, "hello");
	report(ok, "client outside the node connects to node:NodePort and gets the backend's "
	       "answer (client address preserved)");

	{
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		char who[INET_ADDRSTRLEN] = "";

		ok = s >= 0 && !getpeername(s, (void *)&peer, &plen) &&
		     inet_ntop(AF_INET, &peer.sin_addr, who, sizeof(who)) &&
		     !strcmp(who, NODE_IP) && ntohs(peer.sin_port) == NODE_PORT;
		report(ok, "the client only ever sees node:NodePort (replies reverse-translated)");
	}

	/* The backend leaves the service while the connection is open. */
	replies = lbstat(&e, PODLANE_LB_NAT_REPLY);
	service_set(&e, 0);
	ok = s >= 0 && exchange(s, "still there?") && exchange(s, "and again");
	report(ok, "after its backend left the service the established connection goes on");
	if (s >= 0)
		close(s);

	no_be = node_drops(&e, PODLANE_DROP_NO_BACKEND);
	s = client_connect(&e, 1000);
	report(s < 0 && node_drops(&e, PODLANE_DROP_NO_BACKEND) > no_be,
	       "a new connection to the service without backends is dropped (no_backend)");
	if (s >= 0)
		close(s);

	service_set(&e, 1);
	for (i = 0, ok_n = 0; i < 20; i++) {
		snprintf(msg, sizeof(msg), "request %d", i);
		s = client_connect(&e, 3000);
		ok_n += s >= 0 && exchange(s, msg);
		if (s >= 0)
			close(s);
	}
	report(ok_n == 20, "20 more connections through the NodePort all answered");
	diag("%d of 20 connections answered", ok_n);

	diag("replies translated: %llu, of which handed to the stack (no FIB answer): %llu",
	     (unsigned long long)lbstat(&e, PODLANE_LB_NAT_REPLY),
	     (unsigned long long)lbstat(&e, PODLANE_LB_REPLY_STACK));
	report(lbstat(&e, PODLANE_LB_NAT_REPLY) > replies,
	       "replies are counted as reverse-translated (lbstat nat_reply)");
	ok = !ct_gc(bpf_map__fd(e.ep->maps.podlane_ct), ct_now_ns(), &st, NULL, NULL) &&
	     st.live >= 2 && st.live_tcp == st.live;
	diag("conntrack: %llu live entries, %llu closing", (unsigned long long)st.live,
	     (unsigned long long)st.live_closing);
	report(ok, "conntrack holds the connections (collector sees them)");
	{
		struct endpoint_stats es;

		ep_stats_read(bpf_map__fd(e.ep->maps.podlane_ep_stat), e.pod_ifindex, e.ncpus,
			      &es);
		diag("backend pod: rx %llu tx %llu packets", (unsigned long long)es.rx_packets,
		     (unsigned long long)es.tx_packets);
		report(es.rx_packets > 0 && es.tx_packets > 0,
		       "the backend endpoint's rx and tx counters saw the traffic");
	}

	kill(e.server, SIGKILL);
	waitpid(e.server, NULL, 0);
	tc_uplink__destroy(e.up);
	tc_endpoint__destroy(e.ep);
	return failures ? 1 : 0;
}
