// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_live.c - podlane's tc programs attached for real, with real traffic, printed as TAP.
 *
 * Wires a miniature node the way podlaned does (veth per pod, /32 routes, permanent
 * neighbours, per-device forwarding, no bridge) and checks what BPF_PROG_TEST_RUN cannot
 * show: bpf_redirect_peer() really delivers into the pod's namespace, replies find their way
 * through the host stack, drops are counted and reported on the ring buffer, and frames
 * that test_run refuses (a cut IPv4 header) are dropped with their reason.
 *
 * Everything lives in namespaces nobody else can see: the process unshares its own network
 * namespace (the "host"), and every pod or remote peer is an unnamed namespace held by a
 * child that dies with us (PR_SET_PDEATHSIG). Nothing is pinned, nothing survives a crash.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

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

static struct pod pods[] = {
	{ "plh-a", "10.244.0.10", "0a:58:0a:f4:00:0a", "ee:00:00:00:00:0a" },
	{ "plh-b", "10.244.0.11", "0a:58:0a:f4:00:0b", "ee:00:00:00:00:0b" },
};

#define POD_A		(&pods[0])
#define POD_B		(&pods[1])
#define UPLINK_DEV	"plh-up"
#define UPLINK_IP	"192.168.77.1"
#define REMOTE_IP	"192.168.77.2"
#define SPOOF_IP	"10.244.0.99"

struct env {
	struct tc_endpoint *ep;
	struct tc_uplink *up;
	struct ring_buffer *rb;
	pid_t remote;		/* holder of the namespace behind the uplink */
	int uplink_ifindex;
	int ncpus;
	struct drop_event events[64];
	int nevents;
};

#define NTESTS	11

/*
 * Run a shell command; its output shows (as diagnostics) only when it fails unexpectedly, so
 * it never disturbs the TAP stream. sh_may_fail() is for commands a test expects to fail.
 */
#define sh(...)		run_cmd(false, __VA_ARGS__)
#define sh_may_fail(...)	run_cmd(true, __VA_ARGS__)

static int run_cmd(bool may_fail, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run_cmd(bool may_fail, const char *fmt, ...)
{
	char cmd[1024], line[512], out[4096] = "";
	va_list ap;
	FILE *f;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strlen(out) + strlen(line) < sizeof(out))
			strcat(out, line);
	rc = pclose(f);
	if ((rc != 0 && !may_fail) || verbose) {
		char *l, *save = NULL;

		diag("$ %s -> %d", cmd, WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
		for (l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
			diag("  %s", l);
	}
	return rc;
}

/* A child that sits in a fresh network namespace until we exit. */
static pid_t ns_spawn(void)
{
	int ready[2];
	pid_t pid;
	char c;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWNET))
			_exit(1);
		c = 1;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (pid < 0 || read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		return -1;
	}
	close(ready[0]);
	return pid;
}

static int write_sysctl(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0) {
		diag("failed to open '%s': %s", path, strerror(errno));
		return -errno;
	}
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -EIO;
}

static int set_forwarding(const char *dev, bool on)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", dev);
	return write_sysctl(path, on ? "1" : "0");
}

/* Pod wiring exactly as the shared design describes it. */
static int wire_pod(struct pod *p)
{
	p->pid = ns_spawn();
	if (p->pid < 0)
		return -1;
	if (sh("ip link add %s address %s type veth peer name eth0 address %s netns %d",
	       p->host_dev, p->host_mac, p->pod_mac, p->pid) ||
	    sh("ip link set %s up", p->host_dev) ||
	    sh("ip route add %s/32 dev %s scope link", p->ip, p->host_dev) ||
	    sh("ip neigh replace %s lladdr %s dev %s nud permanent", p->ip, p->pod_mac,
	       p->host_dev) ||
	    set_forwarding(p->host_dev, true) ||
	    sh("nsenter -t %d -n ip link set lo up", p->pid) ||
	    sh("nsenter -t %d -n ip addr add %s/32 dev eth0", p->pid, p->ip) ||
	    sh("nsenter -t %d -n ip link set eth0 up", p->pid) ||
	    sh("nsenter -t %d -n ip route add 169.254.1.1 dev eth0 scope link", p->pid) ||
	    sh("nsenter -t %d -n ip route add default via 169.254.1.1 dev eth0", p->pid) ||
	    sh("nsenter -t %d -n ip neigh replace 169.254.1.1 lladdr %s dev eth0 nud permanent",
	       p->pid, p->host_mac))
		return -1;
	p->ifindex = if_nametoindex(p->host_dev);
	return p->ifindex ? 0 : -1;
}

static int wire_uplink(struct env *env)
{
	env->remote = ns_spawn();
	if (env->remote < 0)
		return -1;
	if (sh("ip link add %s type veth peer name eth0 netns %d", UPLINK_DEV, env->remote) ||
	    sh("ip addr add %s/24 dev %s", UPLINK_IP, UPLINK_DEV) ||
	    sh("ip link set %s up", UPLINK_DEV) ||
	    sh("nsenter -t %d -n ip link set lo up", env->remote) ||
	    sh("nsenter -t %d -n ip addr add %s/24 dev eth0", env->remote, REMOTE_IP) ||
	    sh("nsenter -t %d -n ip link set eth0 up", env->remote) ||
	    sh("nsenter -t %d -n ip route add 10.244.0.0/24 via %s", env->remote, UPLINK_IP))
		return -1;
	env->uplink_ifindex = if_nametoindex(UPLINK_DEV);
	return env->uplink_ifindex ? 0 : -1;
}

/* One clsact per device, then one filter per direction, as the agent does it. */
static int tc_attach(int ifindex, const struct bpf_program *ingress,
		     const struct bpf_program *egress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	const struct bpf_program *progs[] = { ingress, egress };
	int err, i;

	err = bpf_tc_hook_create(&hook);
	if (err) {
		diag("failed to create clsact on ifindex %d: %s", ifindex, strerror(-err));
		return err;
	}
	for (i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_tc_opts, opts);

		if (!progs[i])
			continue;
		opts.prog_fd = bpf_program__fd(progs[i]);
		hook.attach_point = i == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS;
		err = bpf_tc_attach(&hook, &opts);
		if (err) {
			diag("failed to attach program '%s' to ifindex %d: %s",
			     bpf_program__name(progs[i]), ifindex, strerror(-err));
			return err;
		}
	}
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct env *env = ctx;

	if (size >= sizeof(struct drop_event) && env->nevents < (int)ARRAY_SIZE(env->events))
		memcpy(&env->events[env->nevents++], data, sizeof(struct drop_event));
	return 0;
}

static int endpoint_add(struct env *env, const struct pod *p, __u32 flags)
{
	static struct endpoint_stats zero[MAX_CPUS];
	struct endpoint_key key;
	struct endpoint_value val;
	__u32 ifindex = p->ifindex;

	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	key.addr.family = PODLANE_AF_INET;
	inet_pton(AF_INET, p->ip, &key.addr.ip4);
	val.ifindex = ifindex;
	val.flags = flags;
	sscanf(p->pod_mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &val.pod_mac[0], &val.pod_mac[1],
	       &val.pod_mac[2], &val.pod_mac[3], &val.pod_mac[4], &val.pod_mac[5]);
	sscanf(p->host_mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &val.host_mac[0], &val.host_mac[1],
	       &val.host_mac[2], &val.host_mac[3], &val.host_mac[4], &val.host_mac[5]);
	/* Counters are created once and survive flag changes, as in the agent. */
	if ((bpf_map_update_elem(bpf_map__fd(env->ep->maps.podlane_ep_stat), &ifindex, zero,
				 BPF_NOEXIST) && errno != EEXIST) ||
	    bpf_map_update_elem(bpf_map__fd(env->ep->maps.podlane_eps), &key, &val, BPF_ANY)) {
		diag("failed to add endpoint '%s': %s", p->ip, strerror(errno));
		return -errno;
	}
	return 0;
}

static int setup(struct env *env)
{
	size_t i;
	int err;

	if (unshare(CLONE_NEWNET)) {
		diag("failed to create network namespace: %s", strerror(errno));
		return -errno;
	}
	if (sh("ip link set lo up"))
		return -1;
	env->ncpus = libbpf_num_possible_cpus();

	env->ep = tc_endpoint__open();
	env->up = tc_uplink__open();
	if (!env->ep || !env->up)
		return -errno;
	maps_unpin_and_shrink(env->ep->obj, MAP_SIZE);
	maps_unpin_and_shrink(env->up->obj, MAP_SIZE);
	err = tc_endpoint__load(env->ep);
	err = err ?: maps_share(env->up->obj, env->ep->obj);
	err = err ?: tc_uplink__load(env->up);
	if (err) {
		diag("failed to load programs: %s", strerror(-err));
		return err;
	}
	env->rb = ring_buffer__new(bpf_map__fd(env->ep->maps.podlane_events), on_event, env, NULL);
	if (!env->rb)
		return -errno;

	for (i = 0; i < ARRAY_SIZE(pods); i++) {
		if (wire_pod(&pods[i]) ||
		    tc_attach(pods[i].ifindex, env->ep->progs.tc_from_pod,
			      env->ep->progs.tc_to_pod) ||
		    endpoint_add(env, &pods[i], PODLANE_EP_F_READY))
			return -1;
	}
	if (wire_uplink(env) ||
	    tc_attach(env->uplink_ifindex, env->up->progs.tc_from_uplink, NULL))
		return -1;
	return 0;
}

static struct endpoint_stats stats(struct env *env, const struct pod *p)
{
	struct endpoint_stats st;

	ep_stats_read(bpf_map__fd(env->ep->maps.podlane_ep_stat), p->ifindex, env->ncpus, &st);
	return st;
}

static __u64 node_drops(struct env *env, int reason)
{
	struct drop_counter dc[PODLANE_DROP_SLOTS];

	if (node_drops_read(bpf_map__fd(env->ep->maps.podlane_drops), env->ncpus, dc))
		return 0;
	return dc[PODLANE_DROP_INDEX(reason)].packets;
}

static const struct drop_event *find_event(struct env *env, int reason)
{
	int i;

	ring_buffer__consume(env->rb);
	for (i = 0; i < env->nevents; i++)
		if (env->events[i].reason == reason)
			return &env->events[i];
	return NULL;
}

static void show_delta(const char *who, const struct endpoint_stats *b,
		       const struct endpoint_stats *a)
{
	diag("%s: tx +%llu rx +%llu", who, a->tx_packets - b->tx_packets,
	     a->rx_packets - b->rx_packets);
}

/* Tests ----------------------------------------------------------------------------------- */

static void test_pod_to_pod(struct env *env)
{
	const char *name = "pod a -> pod b ping with host forwarding off (only redirect_peer "
			   "can deliver)";
	struct endpoint_stats a0 = stats(env, POD_A), b0 = stats(env, POD_B), a1, b1;
	int rc;

	set_forwarding(POD_A->host_dev, false);
	set_forwarding(POD_B->host_dev, false);
	rc = sh("nsenter -t %d -n ping -c 3 -i 0.2 -W 2 %s", POD_A->pid, POD_B->ip);
	set_forwarding(POD_A->host_dev, true);
	set_forwarding(POD_B->host_dev, true);
	a1 = stats(env, POD_A);
	b1 = stats(env, POD_B);
	/* Requests a->b and replies b->a are all redirected: each side sends 3 and gets 3. */
	report(rc == 0 && a1.tx_packets - a0.tx_packets >= 3 &&
	       b1.rx_packets - b0.rx_packets >= 3 && b1.tx_packets - b0.tx_packets >= 3 &&
	       a1.rx_packets - a0.rx_packets >= 3, name);
	show_delta("pod a", &a0, &a1);
	show_delta("pod b", &b0, &b1);
}

/* The control for the test above: without the fast path the same ping must fail. */
static void test_pod_to_pod_control(struct env *env)
{
	int rc;

	endpoint_add(env, POD_B, 0);
	set_forwarding(POD_A->host_dev, false);
	set_forwarding(POD_B->host_dev, false);
	rc = sh_may_fail("nsenter -t %d -n ping -c 1 -W 1 %s", POD_A->pid, POD_B->ip);
	set_forwarding(POD_A->host_dev, true);
	set_forwarding(POD_B->host_dev, true);
	endpoint_add(env, POD_B, PODLANE_EP_F_READY);
	report(rc != 0, "control: pod b not READY and host forwarding off, the ping fails");
}

static void test_remote_to_pod(struct env *env)
{
	struct endpoint_stats b0 = stats(env, POD_B), b1;
	int rc;

	rc = sh("nsenter -t %d -n ping -c 3 -i 0.2 -W 2 %s", env->remote, POD_B->ip);
	b1 = stats(env, POD_B);
	/* rx: the uplink redirect; tx: replies that the host stack routes to the uplink. */
	report(rc == 0 && b1.rx_packets - b0.rx_packets >= 3 &&
	       b1.tx_packets - b0.tx_packets >= 3,
	       "remote -> pod b via the uplink redirect, replies through the host stack");
	show_delta("pod b", &b0, &b1);
}

static void test_pod_to_remote(struct env *env)
{
	struct endpoint_stats a0 = stats(env, POD_A), a1;
	int rc;

	rc = sh("nsenter -t %d -n ping -c 3 -i 0.2 -W 2 %s", POD_A->pid, REMOTE_IP);
	a1 = stats(env, POD_A);
	report(rc == 0 && a1.tx_packets - a0.tx_packets >= 3 &&
	       a1.rx_packets - a0.rx_packets >= 3,
	       "pod a -> remote via the host stack, replies via the uplink redirect");
	show_delta("pod a", &a0, &a1);
}

static void test_host_to_pod(struct env *env)
{
	struct endpoint_stats a0 = stats(env, POD_A), a1;
	int rc;

	rc = sh("ping -c 3 -i 0.2 -W 2 %s", POD_A->ip);
	a1 = stats(env, POD_A);
	/* Host-originated packets leave through the host veth: tc_to_pod counts them. */
	report(rc == 0 && a1.rx_packets - a0.rx_packets >= 3 &&
	       a1.tx_packets - a0.tx_packets >= 3, "host -> pod a counted by tc_to_pod");
	show_delta("pod a", &a0, &a1);
}

static void test_spoofed(struct env *env)
{
	__u64 before = node_drops(env, PODLANE_DROP_SOURCE_SPOOFED);
	__u64 ep_before = stats(env, POD_A).drops[PODLANE_DROP_INDEX(PODLANE_DROP_SOURCE_SPOOFED)];
	const struct drop_event *ev;
	struct in_addr spoof;
	int rc;

	inet_pton(AF_INET, SPOOF_IP, &spoof);
	env->nevents = 0;
	ring_buffer__consume(env->rb);
	env->nevents = 0;
	sh("nsenter -t %d -n ip addr add %s/32 dev eth0", POD_A->pid, SPOOF_IP);
	rc = sh_may_fail("nsenter -t %d -n ping -c 1 -W 1 -I %s %s", POD_A->pid, SPOOF_IP,
			 POD_B->ip);
	ev = find_event(env, PODLANE_DROP_SOURCE_SPOOFED);
	report(rc != 0 && node_drops(env, PODLANE_DROP_SOURCE_SPOOFED) > before &&
	       stats(env, POD_A).drops[PODLANE_DROP_INDEX(PODLANE_DROP_SOURCE_SPOOFED)] >
	       ep_before && ev && ev->saddr == spoof.s_addr && ev->hook == PODLANE_HOOK_FROM_POD &&
	       ev->ifindex == (__u32)POD_A->ifindex,
	       "spoofed source from pod a is dropped, counted and reported");
	sh("nsenter -t %d -n ip addr del %s/32 dev eth0", POD_A->pid, SPOOF_IP);
}

static void test_ttl(struct env *env)
{
	__u64 before = node_drops(env, PODLANE_DROP_TTL_EXCEEDED);
	int rc;

	rc = sh_may_fail("nsenter -t %d -n ping -c 1 -W 1 -t 1 %s", POD_A->pid, POD_B->ip);
	report(rc != 0 && node_drops(env, PODLANE_DROP_TTL_EXCEEDED) == before + 1 &&
	       find_event(env, PODLANE_DROP_TTL_EXCEEDED),
	       "pod a -> pod b with ttl 1 is dropped as ttl_exceeded");
}

/* Send one raw frame from inside a pod, below any socket layer that would fix it up. */
static int pod_send_raw(const struct pod *p, const void *frame, size_t len)
{
	char path[64];
	pid_t pid;
	int status;

	pid = fork();
	if (pid == 0) {
		struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_halen = ETH_ALEN };
		int nsfd, s;

		snprintf(path, sizeof(path), "/proc/%d/ns/net", p->pid);
		nsfd = open(path, O_RDONLY);
		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET))
			_exit(2);
		s = socket(AF_PACKET, SOCK_RAW, 0);
		sll.sll_ifindex = if_nametoindex("eth0");
		if (s < 0 || !sll.sll_ifindex)
			_exit(3);
		_exit(sendto(s, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) ==
		      (ssize_t)len ? 0 : 4);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_ip4_truncated(struct env *env)
{
	__u8 frame[ETH_HLEN + 10] = { 0 };
	int slot = PODLANE_DROP_INDEX(PODLANE_DROP_IP4_TRUNCATED);
	__u64 before = node_drops(env, PODLANE_DROP_IP4_TRUNCATED);
	__u64 ep_before = stats(env, POD_A).drops[slot];
	const struct drop_event *ev;
	int rc, i;

	sscanf(POD_A->host_mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &frame[0], &frame[1],
	       &frame[2], &frame[3], &frame[4], &frame[5]);
	sscanf(POD_A->pod_mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &frame[6], &frame[7],
	       &frame[8], &frame[9], &frame[10], &frame[11]);
	frame[12] = 0x08;	/* EtherType IPv4, then half an IPv4 header */
	frame[14] = 0x45;
	rc = pod_send_raw(POD_A, frame, sizeof(frame));
	/* The drop happens synchronously in the sender's transmit path; poll briefly anyway. */
	for (i = 0; i < 100 && node_drops(env, PODLANE_DROP_IP4_TRUNCATED) == before; i++)
		usleep(10000);
	ev = find_event(env, PODLANE_DROP_IP4_TRUNCATED);
	if (rc)
		diag("raw send from pod a failed with %d", rc);
	report(rc == 0 && node_drops(env, PODLANE_DROP_IP4_TRUNCATED) == before + 1 &&
	       stats(env, POD_A).drops[slot] == ep_before + 1 && ev &&
	       ev->len == sizeof(frame) && !ev->saddr,
	       "24-byte frame with EtherType IPv4 from pod a is ip4_truncated");
}

/* Operators read the maps with bpftool: BTF must give every field its name. */
static void test_bpftool_names(struct env *env)
{
	const char *name = "bpftool map dump shows named fields of podlane_eps and podlane_ep_stat";
	struct bpf_map_info info;
	__u32 eps_id, stat_id, len;

	if (system("command -v bpftool >/dev/null 2>&1")) {
		report_skip(name, "bpftool not installed");
		return;
	}
	memset(&info, 0, sizeof(info));
	len = sizeof(info);
	bpf_obj_get_info_by_fd(bpf_map__fd(env->ep->maps.podlane_eps), &info, &len);
	eps_id = info.id;
	memset(&info, 0, sizeof(info));
	len = sizeof(info);
	bpf_obj_get_info_by_fd(bpf_map__fd(env->ep->maps.podlane_ep_stat), &info, &len);
	stat_id = info.id;
	report(!sh("bpftool map dump id %u | grep -q '\"pod_mac\"'", eps_id) &&
	       !sh("bpftool map dump id %u | grep -q '\"family\"'", eps_id) &&
	       !sh("bpftool map dump id %u | grep -q '\"tx_packets\"'", stat_id), name);
}

int main(int argc, char **argv)
{
	struct env env = {};
	int i;

	verbose = argc > 1 && !strcmp(argv[1], "-v");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (network namespaces, tc, BPF)\n");
		return 0;
	}
	libbpf_set_print(libbpf_print_tap);

	printf("1..%d\n", NTESTS);
	if (setup(&env)) {
		report(false, "set up namespaces, load and attach programs");
		for (i = 1; i < NTESTS; i++)
			report(false, "not run: setup failed");
		return 1;
	}
	report(true, "set up namespaces, load and attach programs");

	test_pod_to_pod(&env);
	test_pod_to_pod_control(&env);
	test_remote_to_pod(&env);
	test_pod_to_remote(&env);
	test_host_to_pod(&env);
	test_spoofed(&env);
	test_ttl(&env);
	test_ip4_truncated(&env);
	test_bpftool_names(&env);
	report_skip("runt frame (< ETH_HLEN) from a pod is eth_truncated",
		    "cannot be produced: AF_PACKET pads or refuses frames shorter than the "
		    "device's hard_header_len, and veth delivers nothing shorter");

	ring_buffer__free(env.rb);
	tc_uplink__destroy(env.up);
	tc_endpoint__destroy(env.ep);
	return failures ? 1 : 0;
}
