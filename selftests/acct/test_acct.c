// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_acct.c - podlane's per-cgroup accounting programs (sched_acct, cgroup_skb_acct) checked
 * against the kernel's own numbers, written with kselftest_harness.h.
 *
 * Every workload runs in a process born straight into its own cgroup v2 cgroup (clone3 with
 * CLONE_INTO_CGROUP), so the cgroup holds exactly what the test put there and the kernel's
 * figures for it (cpu.stat, /proc/<pid>/schedstat, device counters) are the reference:
 *   - CPU time of a 5-second busy loop against the cgroup's cpu.stat usage_usec (2%);
 *   - run-queue wait of two busy loops sharing one CPU against their schedstat run_delay;
 *   - packets and bytes of UDP sent from a pod-like namespace over a veth, against the
 *     cgroups of sender and receiver and the veth's own counters (bytes + 14 per packet);
 *   - BPF_PROG_TEST_RUN of the cgroup_skb programs, the rodata knobs, and a full map.
 *
 * Each test's fixture makes its own cgroup tree (<cgroup2 mount>/podlane-acct-<main pid>-<pid>,
 * removed at teardown and swept by the main process if the test dies), loads the programs with
 * private maps and works in a private network namespace. A check that shared a workload with
 * another (a busy loop measured against cpu.stat and against schedstat) runs its own.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "testlib.h"
#include "sched_acct.skel.h"
#include "cgroup_skb_acct.skel.h"

#define MAP_SIZE	1024

#define BUSY_CPU_SECS	5
#define BUSY_RUNQ_SECS	2

#define UDP_PORT	5555
#define UDP_PAYLOAD	200
#define UDP_COUNT	100
#define IP_UDP_LEN	(20 + 8 + UDP_PAYLOAD)	/* what the hooks count per datagram */
#define ETH_HDR		14

#define HOST_DEV	"acct-h"
#define POD_DEV		"acct-p"
#define HOST_IP		"10.99.0.1"
#define POD_IP		"10.99.0.2"
#define HOST_MAC	"02:00:0a:63:00:01"
#define POD_MAC		"02:00:0a:63:00:02"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP	0x200000000ULL
#endif

/* clone3's argument block up to the cgroup field (CLONE_ARGS_SIZE_VER2); not all libcs have it. */
struct clone3_args {
	__u64	flags;
	__u64	pidfd;
	__u64	child_tid;
	__u64	parent_tid;
	__u64	exit_signal;
	__u64	stack;
	__u64	stack_size;
	__u64	tls;
	__u64	set_tid;
	__u64	set_tid_size;
	__u64	cgroup;
};

/* The test's own cgroup, made by the fixture. */
static char cg_base[1024];

static const char *const cg_names[] = {
	"cpu", "runq", "runq-wakeup", "tx", "rx", "nest", "nest/inner", "run", "knob", "old",
};

/* --- cgroups ---------------------------------------------------------------------------- */

static void cg_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", cg_base, name);
}

/* The cgroup v2 id the programs charge: the kernfs id, which is the directory's handle. */
static __u64 cg_id(const char *name)
{
	struct {
		struct file_handle fh;
		__u64 id;
	} h = { .fh.handle_bytes = sizeof(__u64) };
	char path[1200];
	int mount_id;

	cg_path(path, sizeof(path), name);
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0)) {
		tl_log("failed to get handle of cgroup '%s': %s", path, strerror(errno));
		return 0;
	}
	return h.id;
}

static int cg_fd(const char *name)
{
	char path[1200];
	int fd;

	cg_path(path, sizeof(path), name);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		tl_log("failed to open cgroup '%s': %s", path, strerror(errno));
	return fd;
}

/* A key of cpu.stat in microseconds, -1 when missing. */
static long long cg_cpu_stat(const char *name, const char *key)
{
	char path[1200], k[64];
	long long v, found = -1;
	FILE *f;

	cg_path(path, sizeof(path), name);
	strncat(path, "/cpu.stat", sizeof(path) - strlen(path) - 1);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", k, &v) == 2)
		if (!strcmp(k, key))
			found = v;
	fclose(f);
	return found;
}

static int cg_create_all(void)
{
	char path[1200];
	size_t i;

	if (mkdir(cg_base, 0755) && errno != EEXIST) {
		tl_log("failed to create cgroup '%s': %s", cg_base, strerror(errno));
		return -errno;
	}
	for (i = 0; i < ARRAY_SIZE(cg_names); i++) {
		cg_path(path, sizeof(path), cg_names[i]);
		if (mkdir(path, 0755) && errno != EEXIST) {
			tl_log("failed to create cgroup '%s': %s", path, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* --- child processes -------------------------------------------------------------------- */

typedef int (*child_fn)(void *arg);

/* Run fn in a child born in cgroup `name` (and a new network namespace with CLONE_NEWNET). */
static pid_t spawn(const char *name, __u64 extra_flags, child_fn fn, void *arg)
{
	struct clone3_args ca = { .exit_signal = SIGCHLD };
	int fd = cg_fd(name);
	long pid;

	if (fd < 0)
		return -1;
	ca.flags = CLONE_INTO_CGROUP | extra_flags;
	ca.cgroup = fd;
	fflush(stdout);
	fflush(stderr);
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(fn(arg));
	}
	if (pid < 0)
		tl_log("failed to clone into cgroup '%s': %s", name, strerror(errno));
	close(fd);
	return pid;
}

/* What the kernel says about one task: /proc/<pid>/schedstat. */
struct schedstat {
	__u64 cpu_ns;		/* se.sum_exec_runtime */
	__u64 run_delay_ns;	/* sched_info.run_delay */
	__u64 pcount;		/* sched_info.pcount */
};

/*
 * Wait for a child to exit, take its schedstat while it is a zombie, then reap it. Returns
 * its exit status, or -1.
 */
static int reap(pid_t pid, struct schedstat *ss)
{
	char path[64];
	siginfo_t si;
	int status = -1;
	FILE *f;

	if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT))
		return -1;
	if (ss) {
		memset(ss, 0, sizeof(*ss));
		snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
		f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%llu %llu %llu", (unsigned long long *)&ss->cpu_ns,
				   (unsigned long long *)&ss->run_delay_ns,
				   (unsigned long long *)&ss->pcount) != 3)
				memset(ss, 0, sizeof(*ss));
			fclose(f);
		}
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Spin on the CPU for secs of wall time; clock_gettime is a vDSO call, so no switches. */
static int busy_loop(void *arg)
{
	const int *cpu = arg;
	__u64 end;
	cpu_set_t set;

	if (cpu && *cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(*cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			return 2;
	}
	end = now_ns() + (__u64)(cpu ? BUSY_RUNQ_SECS : BUSY_CPU_SECS) * 1000000000ULL;
	while (now_ns() < end)
		for (volatile int i = 0; i < 1000; i++)
			;
	return 0;
}

static int busy_short(void *arg)
{
	const int *cpu = arg;
	__u64 end = now_ns() + 300 * 1000000ULL;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(*cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return 2;
	while (now_ns() < end)
		for (volatile int i = 0; i < 1000; i++)
			;
	return 0;
}

/* --- maps ------------------------------------------------------------------------------- */

/* A cgroup's counters summed over CPUs; -ENOENT when it has no entry. */
static int acct_read(int fd, __u64 cgid, struct cgroup_acct *sum)
{
	static struct cgroup_acct per_cpu[TL_MAX_CPUS];
	int cpu;

	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(fd, &cgid, per_cpu))
		return -errno;
	for (cpu = 0; cpu < tl_ncpus(); cpu++) {
		sum->cpu_ns += per_cpu[cpu].cpu_ns;
		sum->runq_wait_ns += per_cpu[cpu].runq_wait_ns;
		sum->runq_waits += per_cpu[cpu].runq_waits;
		sum->rx_packets += per_cpu[cpu].rx_packets;
		sum->rx_bytes += per_cpu[cpu].rx_bytes;
		sum->tx_packets += per_cpu[cpu].tx_packets;
		sum->tx_bytes += per_cpu[cpu].tx_bytes;
	}
	return 0;
}

static int errs_read(int fd, struct cgroup_acct_errors *sum)
{
	static struct cgroup_acct_errors per_cpu[TL_MAX_CPUS];
	__u32 zero = 0;
	int cpu;

	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(fd, &zero, per_cpu))
		return -errno;
	for (cpu = 0; cpu < tl_ncpus(); cpu++) {
		sum->full_sched += per_cpu[cpu].full_sched;
		sum->full_skb += per_cpu[cpu].full_skb;
		sum->task_state += per_cpu[cpu].task_state;
	}
	return 0;
}

static int map_count(int fd)
{
	__u64 key, next;
	int n = 0;

	if (bpf_map_get_next_key(fd, NULL, &next))
		return 0;
	do {
		key = next;
		n++;
	} while (!bpf_map_get_next_key(fd, &key, &next) && n < 100000);
	return n;
}

static double rel_err(double got, double want)
{
	if (want == 0)
		return got == 0 ? 0 : 1;
	return (got - want) / want;
}

static void acct_diag(const char *what, const struct cgroup_acct *a)
{
	tl_log("%s: cpu_ns %llu runq_wait_ns %llu runq_waits %llu rx %llu/%llu tx %llu/%llu", what,
	     (unsigned long long)a->cpu_ns, (unsigned long long)a->runq_wait_ns,
	     (unsigned long long)a->runq_waits, (unsigned long long)a->rx_packets,
	     (unsigned long long)a->rx_bytes, (unsigned long long)a->tx_packets,
	     (unsigned long long)a->tx_bytes);
}

/* --- loading ---------------------------------------------------------------------------- */

static struct sched_acct *sched_open_private(void)
{
	struct sched_acct *s = sched_acct__open();

	if (!s) {
		tl_log("failed to open object 'sched_acct': %s", strerror(errno));
		return NULL;
	}
	tl_maps_private(s->obj, MAP_SIZE);
	return s;
}

static struct cgroup_skb_acct *skb_open_private(void)
{
	struct cgroup_skb_acct *k = cgroup_skb_acct__open();

	if (!k) {
		tl_log("failed to open object 'cgroup_skb_acct': %s", strerror(errno));
		return NULL;
	}
	tl_maps_private(k->obj, MAP_SIZE);
	return k;
}

/* One pass of the task iterator: charges every live task, as the reader does before reading. */
static int acct_iterate(struct sched_acct *s)
{
	char buf[64];
	int fd, n;

	fd = bpf_iter_create(bpf_link__fd(s->links.acct_iter_tasks));
	if (fd < 0) {
		tl_log("failed to create iterator 'acct_iter_tasks': %s", strerror(errno));
		return -errno;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return n < 0 ? -errno : 0;
}

/*
 * The iterator and the free tracepoint; the wakeup-timing programs only for the fallback that
 * needs them. A first iteration right away sets the baseline of the tasks already running.
 */
static int sched_attach(struct sched_acct *s)
{
	int err;

	s->links.acct_iter_tasks = bpf_program__attach_iter(s->progs.acct_iter_tasks, NULL);
	if (!s->links.acct_iter_tasks)
		goto fail;
	s->links.acct_task_free = bpf_program__attach(s->progs.acct_task_free);
	if (!s->links.acct_task_free)
		goto fail;
	if (s->rodata->runq_by_wakeup) {
		s->links.acct_sched_switch = bpf_program__attach(s->progs.acct_sched_switch);
		if (!s->links.acct_sched_switch)
			goto fail;
		s->links.acct_sched_wakeup = bpf_program__attach(s->progs.acct_sched_wakeup);
		if (!s->links.acct_sched_wakeup)
			goto fail;
		s->links.acct_sched_wakeup_new =
			bpf_program__attach(s->progs.acct_sched_wakeup_new);
		if (!s->links.acct_sched_wakeup_new)
			goto fail;
	}
	return acct_iterate(s);
fail:
	err = -errno;
	tl_log("failed to attach object 'sched_acct': %s", strerror(-err));
	return err;
}

/*
 * Exited tasks get their last charge when they are freed, an RCU grace period after their
 * final switch. Iterate and read until the counters reach what the kernel's figures say they
 * must at least be, and stay put for 100 ms (at most 5 s).
 */
static int acct_wait(struct sched_acct *s, __u64 cgid, __u64 min_cpu, __u64 min_waits,
		     struct cgroup_acct *sum)
{
	struct cgroup_acct prev = {};
	int i, err = -ETIMEDOUT;

	for (i = 0; i < 50; i++) {
		acct_iterate(s);
		if (!acct_read(bpf_map__fd(s->maps.podlane_cgacct), cgid, sum) &&
		    sum->cpu_ns >= min_cpu && sum->runq_waits >= min_waits) {
			if (!memcmp(&prev, sum, sizeof(*sum)))
				return 0;
			prev = *sum;
		}
		usleep(100000);
	}
	return err;
}

static int pick_cpu(void)
{
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (cpu = CPU_SETSIZE - 1; cpu > 0; cpu--)
		if (CPU_ISSET(cpu, &set))
			return cpu;
	return 0;
}

/* --- workloads and the kernel's figures ---------------------------------------------------- */

/* A loop still running is charged up to the read: cpu.stat before <= map <= cpu.stat after. */
static bool sample_live(struct sched_acct *s, __u64 cgid)
{
	long long before_us, after_us;
	struct cgroup_acct a;

	usleep(BUSY_CPU_SECS * 1000000 / 2);
	before_us = cg_cpu_stat("cpu", "usage_usec");
	if (acct_iterate(s) || acct_read(bpf_map__fd(s->maps.podlane_cgacct), cgid, &a))
		return false;
	after_us = cg_cpu_stat("cpu", "usage_usec");
	tl_log("running loop: cpu.stat %lld us, then cpu_ns %llu, then cpu.stat %lld us", before_us,
	     (unsigned long long)a.cpu_ns, after_us);
	/* cpu.stat folds in the running slice at the tick: allow one tick (4 ms at HZ=250). */
	return before_us > 0 && a.cpu_ns / 1000 + 4000 >= (__u64)before_us &&
	       a.cpu_ns / 1000 <= (__u64)after_us + 4000;
}

/* Two busy loops on one CPU; the sum of their schedstats is the reference. */
static int run_two_on_one_cpu(const char *cg, struct schedstat *sum)
{
	static int cpu;
	struct schedstat ss;
	pid_t pids[2];
	int i, rc = 0;

	cpu = pick_cpu();
	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < 2; i++)
		pids[i] = spawn(cg, 0, busy_loop, &cpu);
	for (i = 0; i < 2; i++) {
		if (pids[i] <= 0 || reap(pids[i], &ss)) {
			rc = -1;
			continue;
		}
		sum->cpu_ns += ss.cpu_ns;
		sum->run_delay_ns += ss.run_delay_ns;
		sum->pcount += ss.pcount;
	}
	return rc;
}

static int schedstat_read(pid_t pid, struct schedstat *ss)
{
	char path[64];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fscanf(f, "%llu %llu %llu", (unsigned long long *)&ss->cpu_ns,
		   (unsigned long long *)&ss->run_delay_ns, (unsigned long long *)&ss->pcount);
	fclose(f);
	return n == 3 ? 0 : -EINVAL;
}

/* --- traffic ------------------------------------------------------------------------------ */

struct udp_peer {
	int ready[2];	/* child -> parent: set up (receiver) / sent (sender) */
	int go[2];	/* parent -> child: start (sender) / exit (sender) */
	int count;
};

static int write_byte(int fd)
{
	char c = 1;

	return write(fd, &c, 1) == 1 ? 0 : -1;
}

static int read_byte(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	return read(fd, &c, 1) == 1 ? 0 : -1;
}

/* Receives count datagrams on UDP_PORT (any address) in its own cgroup; exit 0 if all came. */
static int udp_receiver(void *arg)
{
	struct udp_peer *p = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(UDP_PORT) };
	char buf[2048];
	int fd, got = 0;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return 1;
	if (write_byte(p->ready[1]))
		return 1;
	while (got < p->count) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		if (poll(&pf, 1, 5000) != 1)
			break;
		if (recv(fd, buf, sizeof(buf), 0) == UDP_PAYLOAD)
			got++;
	}
	return got == p->count ? 0 : 1;
}

/* Waits for go, sends count datagrams to HOST_IP, reports, and keeps its namespace until go. */
static int udp_sender(void *arg)
{
	struct udp_peer *p = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(UDP_PORT) };
	char buf[UDP_PAYLOAD] = { 0 };
	int fd, i;

	if (read_byte(p->go[0], 10000))
		return 1;
	inet_pton(AF_INET, HOST_IP, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return 1;
	for (i = 0; i < p->count; i++)
		if (sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&sa, sizeof(sa)) !=
		    sizeof(buf))
			return 1;
	if (write_byte(p->ready[1]) || read_byte(p->go[0], 10000))
		return 1;
	return 0;
}

/* Sends count datagrams to itself over loopback: both ends are sockets of its cgroup. */
static int udp_self(void *arg)
{
	const struct udp_peer *p = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	char buf[UDP_PAYLOAD] = { 0 };
	int rx, tx, i;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rx = socket(AF_INET, SOCK_DGRAM, 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (rx < 0 || tx < 0 || bind(rx, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(rx, (struct sockaddr *)&sa, &sl))
		return 1;
	for (i = 0; i < p->count; i++) {
		if (sendto(tx, buf, sizeof(buf), 0, (struct sockaddr *)&sa, sizeof(sa)) !=
		    sizeof(buf))
			return 1;
		if (recv(rx, buf, sizeof(buf), 0) != sizeof(buf))
			return 1;
	}
	return 0;
}

struct dev_stats {
	__u64 rx_bytes, rx_packets, tx_bytes, tx_packets;
};

/* A device's counters from /proc/<pid>/net/dev, which shows that task's namespace. */
static int dev_stats_read(pid_t pid, const char *dev, struct dev_stats *st)
{
	char path[64], line[512], name[64];
	unsigned long long v[16];
	int found = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/dev", pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		*colon = ' ';
		if (sscanf(line, "%63s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", name,
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
			   &v[9]) != 11 || strcmp(name, dev))
			continue;
		st->rx_bytes = v[0];
		st->rx_packets = v[1];
		st->tx_bytes = v[8];
		st->tx_packets = v[9];
		found = 0;
	}
	fclose(f);
	return found;
}

/*
 * A pod-like namespace behind a veth, wired without ARP or IPv6 so the devices carry our
 * datagrams and nothing else: permanent neighbours both ways, IPv6 off before link up.
 */
static int wire_veth(pid_t pod)
{
	if (tl_veth_add(HOST_DEV, HOST_MAC, POD_DEV, POD_MAC, pod) < 0)
		return -1;
	return tl_sh("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 && ip addr add %s/24 dev %s && "
		     "ip neigh replace %s lladdr %s dev %s nud permanent && ip link set %s up",
		     HOST_DEV, HOST_IP, HOST_DEV, POD_IP, POD_MAC, HOST_DEV, HOST_DEV) ||
	       tl_sh("nsenter -t %d -n sh -c 'sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 && "
		     "ip addr add %s/24 dev %s && "
		     "ip neigh replace %s lladdr %s dev %s nud permanent && ip link set %s up'",
		     pod, POD_DEV, POD_IP, POD_DEV, HOST_IP, HOST_MAC, POD_DEV, POD_DEV) ? -1 : 0;
}

/* --- BPF_PROG_TEST_RUN ------------------------------------------------------------------- */

#define RUN_PAYLOAD	64
#define RUN_FRAME	(ETH_HDR + 20 + 8 + RUN_PAYLOAD)

static __u8 run_frame[RUN_FRAME];

static void build_frame(void)
{
	__u8 *ip = run_frame + ETH_HDR;
	__u16 tot = 20 + 8 + RUN_PAYLOAD;

	memset(run_frame, 0, sizeof(run_frame));
	memcpy(run_frame, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", ETH_HDR);
	ip[0] = 0x45;
	ip[2] = tot >> 8;
	ip[3] = tot & 0xff;
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, "\x0a\x63\x00\x02\x0a\x63\x00\x01", 8);
	ip[20 + 4] = (8 + RUN_PAYLOAD) >> 8;
	ip[20 + 5] = (8 + RUN_PAYLOAD) & 0xff;
}

/* Run a cgroup_skb program once on run_frame; its verdict, or -errno. */
static int test_run(int prog_fd)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = run_frame, .data_size_in = RUN_FRAME,
		    .repeat = 1);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	return err ? -errno : (int)opts.retval;
}

struct run_args {
	int ingress_fd, egress_fd;
};

/* In a child, so the dummy socket test_run makes belongs to the child's cgroup. */
static int run_both(void *arg)
{
	const struct run_args *r = arg;

	if (test_run(r->ingress_fd) != 1)
		return 1;
	if (r->egress_fd >= 0 && test_run(r->egress_fd) != 1)
		return 1;
	return 0;
}

/* --- the fixture ------------------------------------------------------------------------- */

/*
 * A private network namespace; the test's cgroup tree (podlane-acct-<main pid>-<pid> with the
 * children in cg_names); sched_acct loaded and attached (iterator and free tracepoint, a first
 * iteration); cgroup_skb_acct on sched_acct's maps, attached to the test's cgroup.
 */
FIXTURE(acct) {
	struct sched_acct *s;
	struct cgroup_skb_acct *k;
	struct bpf_link *l_in, *l_out;
	int acct_fd;
};

FIXTURE_SETUP(acct)
{
	int base_fd;

	ASSERT_EQ(0, tl_netns_enter());
	ASSERT_EQ(0, tl_cgroup_create("acct", cg_base, sizeof(cg_base)));
	ASSERT_EQ(0, cg_create_all());
	self->s = sched_open_private();
	self->k = skb_open_private();
	ASSERT_NE(NULL, self->s);
	ASSERT_NE(NULL, self->k);
	ASSERT_EQ(0, sched_acct__load(self->s)) TH_LOG("failed to load object 'sched_acct'");
	ASSERT_EQ(0, sched_attach(self->s));
	ASSERT_EQ(0, tl_maps_share(self->k->obj, self->s->obj));
	ASSERT_EQ(0, cgroup_skb_acct__load(self->k)) TH_LOG("failed to load 'cgroup_skb_acct'");
	base_fd = cg_fd(".");
	ASSERT_LE(0, base_fd);
	self->l_in = bpf_program__attach_cgroup(self->k->progs.acct_skb_ingress, base_fd);
	self->l_out = bpf_program__attach_cgroup(self->k->progs.acct_skb_egress, base_fd);
	close(base_fd);
	ASSERT_NE(NULL, self->l_in) TH_LOG("failed to attach to '%s'", cg_base);
	ASSERT_NE(NULL, self->l_out) TH_LOG("failed to attach to '%s'", cg_base);
	self->acct_fd = bpf_map__fd(self->s->maps.podlane_cgacct);
}

FIXTURE_TEARDOWN(acct)
{
	struct cgroup_acct_errors e = {};

	errs_read(bpf_map__fd(self->s->maps.podlane_cgerrs), &e);
	tl_log("podlane_cgerrs: full_sched %llu full_skb %llu task_state %llu; entries %d",
	       (unsigned long long)e.full_sched, (unsigned long long)e.full_skb,
	       (unsigned long long)e.task_state, map_count(self->acct_fd));
	bpf_link__destroy(self->l_in);
	bpf_link__destroy(self->l_out);
	cgroup_skb_acct__destroy(self->k);
	sched_acct__destroy(self->s);
	tl_cgroup_destroy(cg_base);
}

/* --- tests: loading ------------------------------------------------------------------------ */

static __u32 map_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static __u32 prog_id(const struct bpf_program *prog)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) ? 0 : info.id;
}

TEST_F(acct, load_sched_acct_private_maps)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, self->s->obj)
		EXPECT_FALSE(bpf_map__is_pinned(map)) TH_LOG("%s", bpf_map__name(map));
	EXPECT_EQ(MAP_SIZE, bpf_map__max_entries(self->s->maps.podlane_cgacct));
}

TEST_F(acct, attach_iter_task_and_tp_btf_sched_process_free_first_iteration)
{
	EXPECT_NE(NULL, self->s->links.acct_iter_tasks);
	EXPECT_NE(NULL, self->s->links.acct_task_free);
	EXPECT_EQ(0, acct_iterate(self->s));
}

TEST_F(acct, load_cgroup_skb_acct_sharing_sched_accts_maps)
{
	EXPECT_EQ(map_id(self->acct_fd), map_id(bpf_map__fd(self->k->maps.podlane_cgacct)));
	EXPECT_EQ(map_id(bpf_map__fd(self->s->maps.podlane_cgerrs)),
		  map_id(bpf_map__fd(self->k->maps.podlane_cgerrs)));
}

static __u32 cgroup_prog(enum bpf_attach_type type)
{
	__u32 ids[4], count = ARRAY_SIZE(ids);
	int fd = cg_fd("."), err;

	if (fd < 0)
		return 0;
	err = bpf_prog_query(fd, type, 0, NULL, ids, &count);
	close(fd);
	return err || count != 1 ? 0 : ids[0];
}

TEST_F(acct, attach_cgroup_skb_ingress_and_egress_to_the_test_cgroup)
{
	EXPECT_EQ(prog_id(self->k->progs.acct_skb_ingress), cgroup_prog(BPF_CGROUP_INET_INGRESS));
	EXPECT_EQ(prog_id(self->k->progs.acct_skb_egress), cgroup_prog(BPF_CGROUP_INET_EGRESS));
}

/* What podlane.h promises readers: the id is the directory's inode number as well. */
TEST_F(acct, cgroup_id_the_file_handle_and_st_ino_of_the_directory_agree)
{
	char path[1200];
	struct stat st;
	__u64 id = cg_id("cpu");

	cg_path(path, sizeof(path), "cpu");
	ASSERT_EQ(0, stat(path, &st));
	tl_log("cgroup cpu: handle id %llu, st_ino %llu", (unsigned long long)id,
	       (unsigned long long)st.st_ino);
	EXPECT_NE(0, id);
	EXPECT_EQ(st.st_ino, id);
}

/* --- tests: CPU time and run-queue wait ---------------------------------------------------- */

/* A loop still running is charged up to the read: cpu.stat before <= map <= cpu.stat after. */
TEST_F(acct, cpu_a_running_loop_is_charged_up_to_the_moment_of_the_read)
{
	pid_t pid = spawn("cpu", 0, busy_loop, NULL);
	bool live;

	ASSERT_LT(0, pid);
	live = sample_live(self->s, cg_id("cpu"));
	kill(pid, SIGKILL);
	reap(pid, NULL);
	EXPECT_TRUE(live);
}

/* A 5 s busy loop in cgroup cpu, its charge once the kernel freed it, and its schedstat. */
static void cpu_loop(struct __test_metadata *_metadata, struct sched_acct *s,
		     struct cgroup_acct *a, struct schedstat *ss)
{
	pid_t pid = spawn("cpu", 0, busy_loop, NULL);
	int rc;

	ASSERT_LT(0, pid);
	rc = reap(pid, ss);
	ASSERT_EQ(0, rc) TH_LOG("busy loop exit %d", rc);
	ASSERT_EQ(0, acct_wait(s, cg_id("cpu"), ss->cpu_ns, 0, a));
	acct_diag("cgroup cpu", a);
}

TEST_F(acct, cpu_5_s_busy_loops_cpu_ns_agrees_with_cpu_stat_usage_usec_2_percent)
{
	struct cgroup_acct a;
	struct schedstat ss;
	long long usage_us;
	double e_stat;

	cpu_loop(_metadata, self->s, &a, &ss);
	usage_us = cg_cpu_stat("cpu", "usage_usec");
	e_stat = rel_err(a.cpu_ns / 1000.0, usage_us);
	tl_log("cpu.stat usage_usec %lld -> error %+.4f%%", usage_us, e_stat * 100);
	EXPECT_LT(0, usage_us);
	EXPECT_LT(500000000ULL, a.cpu_ns);
	EXPECT_GT(0.02, e_stat);
	EXPECT_LT(-0.02, e_stat);
}

TEST_F(acct, cpu_cpu_ns_agrees_with_the_tasks_own_sum_exec_runtime_0_1_percent)
{
	struct cgroup_acct a;
	struct schedstat ss;
	double e_task;

	cpu_loop(_metadata, self->s, &a, &ss);
	e_task = rel_err(a.cpu_ns, ss.cpu_ns);
	tl_log("schedstat sum_exec_runtime %llu -> error %+.4f%%", (unsigned long long)ss.cpu_ns,
	       e_task * 100);
	EXPECT_GT(0.001, e_task);
	EXPECT_LT(-0.001, e_task);
}

/* Two busy loops on one CPU in cgroup cg; their charge and the sum of their schedstats. */
static void runq_loops(struct __test_metadata *_metadata, struct sched_acct *s, const char *cg,
		       __u64 min_waits, struct cgroup_acct *a, struct schedstat *sum)
{
	ASSERT_EQ(0, run_two_on_one_cpu(cg, sum));
	ASSERT_EQ(0, acct_wait(s, cg_id(cg), sum->cpu_ns, min_waits ?: sum->pcount, a));
	acct_diag(cg, a);
	tl_log("schedstat sums: sum_exec_runtime %llu run_delay %llu pcount %llu",
	       (unsigned long long)sum->cpu_ns, (unsigned long long)sum->run_delay_ns,
	       (unsigned long long)sum->pcount);
}

TEST_F(acct, runq_two_loops_on_one_cpu_wait_on_the_run_queue)
{
	struct cgroup_acct a;
	struct schedstat sum;

	runq_loops(_metadata, self->s, "runq", 0, &a, &sum);
	EXPECT_LT(100000000ULL, a.runq_wait_ns);
	EXPECT_LT(0, a.runq_waits);
}

TEST_F(acct, runq_runq_wait_ns_and_runq_waits_equal_the_tasks_schedstat)
{
	struct cgroup_acct a;
	struct schedstat sum;

	runq_loops(_metadata, self->s, "runq", 0, &a, &sum);
	EXPECT_EQ(sum.run_delay_ns, a.runq_wait_ns);
	EXPECT_EQ(sum.pcount, a.runq_waits);
}

TEST_F(acct, runq_cpu_ns_of_both_loops_agrees_with_cpu_stat_usage_usec_2_percent)
{
	struct cgroup_acct a;
	struct schedstat sum;
	long long usage_us;
	double e_stat;

	runq_loops(_metadata, self->s, "runq", 0, &a, &sum);
	usage_us = cg_cpu_stat("runq", "usage_usec");
	e_stat = rel_err(a.cpu_ns / 1000.0, usage_us);
	tl_log("cpu.stat usage_usec %lld -> error %+.4f%%", usage_us, e_stat * 100);
	EXPECT_LT(0, usage_us);
	EXPECT_GT(0.02, e_stat);
	EXPECT_LT(-0.02, e_stat);
}

/* A private instance that times waits itself from the wakeup tracepoints (the fallback). */
static struct sched_acct *wakeup_instance(struct __test_metadata *_metadata)
{
	struct sched_acct *w = sched_open_private();
	int err;

	ASSERT_NE(NULL, w);
	w->rodata->runq_by_wakeup = true;
	err = sched_acct__load(w);
	err = err ?: sched_attach(w);
	if (err)
		sched_acct__destroy(w);
	ASSERT_EQ(0, err) TH_LOG("failed to load and attach 'sched_acct' (wakeup): %s",
				 strerror(-err));
	return w;
}

TEST_F(acct, runq_wakeup_fallback_load_and_attach_the_wakeup_timing_programs_too)
{
	struct sched_acct *w = wakeup_instance(_metadata);

	EXPECT_NE(NULL, w->links.acct_sched_switch);
	EXPECT_NE(NULL, w->links.acct_sched_wakeup);
	EXPECT_NE(NULL, w->links.acct_sched_wakeup_new);
	sched_acct__destroy(w);
}

/* The fallback times waits itself: close to schedstat, not identical. */
TEST_F(acct, runq_wakeup_fallback_runq_wait_ns_within_5_percent_of_schedstat)
{
	struct sched_acct *w = wakeup_instance(_metadata);
	struct cgroup_acct a;
	struct schedstat sum;
	double e_wait;

	runq_loops(_metadata, w, "runq-wakeup", 1, &a, &sum);
	e_wait = rel_err(a.runq_wait_ns, sum.run_delay_ns);
	tl_log("schedstat run_delay %llu pcount %llu -> wait error %+.4f%%",
	       (unsigned long long)sum.run_delay_ns, (unsigned long long)sum.pcount, e_wait * 100);
	sched_acct__destroy(w);
	EXPECT_LT(0, a.runq_wait_ns);
	EXPECT_GT(0.05, e_wait);
	EXPECT_LT(-0.05, e_wait);
}

/* acct_cpu off: the same switch still charges run-queue waits but never CPU time. */
TEST_F(acct, knob_acct_cpu_false_charges_run_queue_waits_but_no_cpu_ns)
{
	struct sched_acct *s = sched_open_private();
	struct cgroup_acct a = {};
	static int cpu;
	int err;
	pid_t pid;

	ASSERT_NE(NULL, s);
	cpu = pick_cpu();
	s->rodata->acct_cpu = false;
	err = sched_acct__load(s);
	err = err ?: sched_attach(s);
	if (!err) {
		pid = spawn("knob", 0, busy_short, &cpu);
		err = pid > 0 ? reap(pid, NULL) : -1;
	}
	err = err ?: acct_wait(s, cg_id("knob"), 0, 1, &a);
	acct_diag("cgroup knob", &a);
	sched_acct__destroy(s);
	EXPECT_EQ(0, err);
	EXPECT_EQ(0, a.cpu_ns);
	EXPECT_LT(0, a.runq_waits);
}

/*
 * Tasks already running when accounting starts are charged from the first iteration that sees
 * them (sched_attach runs one), not for their past: two loops that ran a while before a fresh
 * instance is attached show what they used after it.
 */
TEST_F(acct, cpu_tasks_older_than_the_accounting_are_charged_only_from_attach_on)
{
	struct schedstat before[2] = {}, after[2] = {};
	struct sched_acct *s = sched_open_private();
	struct cgroup_acct a = {};
	static int cpu;
	__u64 used = 0, slack = 50000000ULL;	/* schedstat read to baseline iteration */
	pid_t pids[2] = { -1, -1 };
	int i, err = s ? 0 : -ENOENT;

	cpu = pick_cpu();
	for (i = 0; i < 2 && !err; i++) {
		pids[i] = spawn("old", 0, busy_loop, &cpu);
		err = pids[i] > 0 ? 0 : -1;
	}
	if (!err) {
		usleep(500000);
		err = sched_acct__load(s);
	}
	for (i = 0; i < 2 && !err; i++)
		err = schedstat_read(pids[i], &before[i]);
	if (!err)
		err = sched_attach(s);
	for (i = 0; i < 2; i++) {
		if (pids[i] > 0 && reap(pids[i], &after[i]))
			err = -1;
		used += after[i].cpu_ns - before[i].cpu_ns;
	}
	if (!err)
		err = acct_wait(s, cg_id("old"), 0, 0, &a);
	acct_diag("cgroup old", &a);
	tl_log("used after attach %llu of %llu ns in total", (unsigned long long)used,
	       (unsigned long long)(after[0].cpu_ns + after[1].cpu_ns));
	sched_acct__destroy(s);
	EXPECT_EQ(0, err);
	EXPECT_GE(used, a.cpu_ns);
	EXPECT_LE(used, a.cpu_ns + slack);
}

/* --- tests: traffic ----------------------------------------------------------------------- */

struct veth_run {
	bool sent, recvd;
	struct cgroup_acct a_tx, a_rx;
	struct dev_stats pod0, pod1, host0, host1;
};

/*
 * UDP_COUNT datagrams from a pod-like namespace (sender's cgroup tx) over a veth to a
 * receiver in cgroup rx, with the devices' counters before and after.
 */
static void traffic_veth(int acct_fd, struct veth_run *v)
{
	struct udp_peer rx = { .count = UDP_COUNT }, tx = { .count = UDP_COUNT };
	pid_t rpid = -1, spid = -1;

	memset(v, 0, sizeof(*v));
	if (pipe(rx.ready) || pipe(tx.ready) || pipe(tx.go))
		goto out;
	rpid = spawn("rx", 0, udp_receiver, &rx);
	if (rpid <= 0 || read_byte(rx.ready[0], 5000))
		goto out;
	spid = spawn("tx", CLONE_NEWNET, udp_sender, &tx);
	if (spid <= 0 || wire_veth(spid))
		goto out;
	if (dev_stats_read(spid, POD_DEV, &v->pod0) ||
	    dev_stats_read(getpid(), HOST_DEV, &v->host0))
		goto out;
	if (write_byte(tx.go[1]) || read_byte(tx.ready[0], 10000))
		goto out;
	v->sent = true;
	v->recvd = reap(rpid, NULL) == 0;
	rpid = -1;
	dev_stats_read(spid, POD_DEV, &v->pod1);
	dev_stats_read(getpid(), HOST_DEV, &v->host1);
	write_byte(tx.go[1]);
	reap(spid, NULL);
	spid = -1;
	acct_read(acct_fd, cg_id("tx"), &v->a_tx);
	acct_read(acct_fd, cg_id("rx"), &v->a_rx);
out:
	if (rpid > 0) {
		kill(rpid, SIGKILL);
		reap(rpid, NULL);
	}
	if (spid > 0) {
		kill(spid, SIGKILL);
		reap(spid, NULL);
	}
	acct_diag("cgroup tx", &v->a_tx);
	acct_diag("cgroup rx", &v->a_rx);
	tl_log("pod veth tx %llu/%llu, host veth rx %llu/%llu (packets/bytes); sent %d received %d",
	       (unsigned long long)(v->pod1.tx_packets - v->pod0.tx_packets),
	       (unsigned long long)(v->pod1.tx_bytes - v->pod0.tx_bytes),
	       (unsigned long long)(v->host1.rx_packets - v->host0.rx_packets),
	       (unsigned long long)(v->host1.rx_bytes - v->host0.rx_bytes), v->sent, v->recvd);
}

#define PKT_BYTES	((__u64)UDP_COUNT * IP_UDP_LEN)

TEST_F(acct, traffic_senders_cgroup_has_tx_datagrams_times_ip_length)
{
	struct veth_run v;

	traffic_veth(self->acct_fd, &v);
	ASSERT_TRUE(v.sent);
	EXPECT_EQ(UDP_COUNT, v.a_tx.tx_packets);
	EXPECT_EQ(PKT_BYTES, v.a_tx.tx_bytes);
	EXPECT_EQ(0, v.a_tx.rx_packets);
}

TEST_F(acct, traffic_receivers_cgroup_has_rx_datagrams_times_ip_length)
{
	struct veth_run v;

	traffic_veth(self->acct_fd, &v);
	ASSERT_TRUE(v.recvd);
	EXPECT_EQ(UDP_COUNT, v.a_rx.rx_packets);
	EXPECT_EQ(PKT_BYTES, v.a_rx.rx_bytes);
	EXPECT_EQ(0, v.a_rx.tx_packets);
}

TEST_F(acct, traffic_pod_veth_tx_counters_equal_cgroup_tx_bytes_plus_14_per_packet)
{
	struct veth_run v;

	traffic_veth(self->acct_fd, &v);
	ASSERT_TRUE(v.sent);
	EXPECT_EQ(v.a_tx.tx_packets, v.pod1.tx_packets - v.pod0.tx_packets);
	EXPECT_EQ(v.a_tx.tx_bytes + ETH_HDR * v.a_tx.tx_packets, v.pod1.tx_bytes - v.pod0.tx_bytes);
}

TEST_F(acct, traffic_host_veth_rx_counters_equal_cgroup_rx_bytes_plus_14_per_packet)
{
	struct veth_run v;

	traffic_veth(self->acct_fd, &v);
	ASSERT_TRUE(v.recvd);
	EXPECT_EQ(v.a_rx.rx_packets, v.host1.rx_packets - v.host0.rx_packets);
	EXPECT_EQ(v.a_rx.rx_bytes + ETH_HDR * v.a_rx.rx_packets,
		  v.host1.rx_bytes - v.host0.rx_bytes);
}

struct nested_run {
	int rc, parent_err, count;
	struct dev_stats lo0, lo1;
	struct cgroup_acct inner, parent;
};

/* 50 datagrams to itself over loopback from a process in nest/inner. */
static void traffic_nested(int acct_fd, struct nested_run *n)
{
	struct udp_peer self = { .count = 50 };
	pid_t pid;

	memset(n, 0, sizeof(*n));
	n->rc = -1;
	n->count = self.count;
	dev_stats_read(getpid(), "lo", &n->lo0);
	pid = spawn("nest/inner", 0, udp_self, &self);
	if (pid > 0)
		n->rc = reap(pid, NULL);
	dev_stats_read(getpid(), "lo", &n->lo1);
	acct_read(acct_fd, cg_id("nest/inner"), &n->inner);
	n->parent_err = acct_read(acct_fd, cg_id("nest"), &n->parent);
	acct_diag("cgroup nest/inner", &n->inner);
	tl_log("lo tx %llu/%llu (packets/bytes); parent cgroup entry: %s",
	       (unsigned long long)(n->lo1.tx_packets - n->lo0.tx_packets),
	       (unsigned long long)(n->lo1.tx_bytes - n->lo0.tx_bytes),
	       n->parent_err ? "none" : "present");
}

TEST_F(acct, traffic_a_nested_cgroups_sockets_are_charged_to_it_not_to_its_parent)
{
	struct nested_run n;
	__u64 bytes;

	traffic_nested(self->acct_fd, &n);
	bytes = (__u64)n.count * IP_UDP_LEN;
	ASSERT_EQ(0, n.rc);
	EXPECT_EQ(n.count, n.inner.tx_packets);
	EXPECT_EQ(bytes, n.inner.tx_bytes);
	EXPECT_EQ(n.count, n.inner.rx_packets);
	EXPECT_EQ(bytes, n.inner.rx_bytes);
	EXPECT_EQ(-ENOENT, n.parent_err);
}

/* loopback_xmit() counts after eth_type_trans() took its header off: L3 bytes. */
TEST_F(acct, traffic_lo_tx_counters_equal_cgroup_tx_lo_counts_no_l2_header)
{
	struct nested_run n;

	traffic_nested(self->acct_fd, &n);
	ASSERT_EQ(0, n.rc);
	EXPECT_EQ(n.inner.tx_packets, n.lo1.tx_packets - n.lo0.tx_packets);
	EXPECT_EQ(n.inner.tx_bytes, n.lo1.tx_bytes - n.lo0.tx_bytes);
}

/* --- tests: BPF_PROG_TEST_RUN ------------------------------------------------------------- */

/* Both programs once, in a child of cgroup run (the dummy socket test_run makes is its). */
static void prog_run(struct __test_metadata *_metadata, FIXTURE_DATA(acct) *self,
		     struct cgroup_acct *a)
{
	struct run_args r = {
		.ingress_fd = bpf_program__fd(self->k->progs.acct_skb_ingress),
		.egress_fd = bpf_program__fd(self->k->progs.acct_skb_egress),
	};
	pid_t pid = spawn("run", 0, run_both, &r);
	int rc = pid > 0 ? reap(pid, NULL) : -1;

	memset(a, 0, sizeof(*a));
	acct_read(self->acct_fd, cg_id("run"), a);
	acct_diag("cgroup run", a);
	ASSERT_EQ(0, rc) TH_LOG("a program did not allow the frame");
}

TEST_F(acct, test_run_ingress_allows_and_counts_the_frame_minus_its_14_byte_l2_header)
{
	struct cgroup_acct a;

	prog_run(_metadata, self, &a);
	EXPECT_EQ(1, a.rx_packets);
	EXPECT_EQ(RUN_FRAME - ETH_HDR, a.rx_bytes);
}

TEST_F(acct, test_run_egress_allows_and_counts_the_frame_minus_its_14_byte_l2_header)
{
	struct cgroup_acct a;

	prog_run(_metadata, self, &a);
	EXPECT_EQ(1, a.tx_packets);
	EXPECT_EQ(RUN_FRAME - ETH_HDR, a.tx_bytes);
}

/* With acct_traffic off every packet is still allowed and nothing is counted. */
TEST_F(acct, knob_acct_traffic_false_allows_and_counts_nothing)
{
	struct cgroup_skb_acct *k = skb_open_private();
	int err, verdict = -1, n = -1;

	ASSERT_NE(NULL, k);
	k->rodata->acct_traffic = false;
	err = cgroup_skb_acct__load(k);
	if (!err) {
		verdict = test_run(bpf_program__fd(k->progs.acct_skb_egress));
		n = map_count(bpf_map__fd(k->maps.podlane_cgacct));
	}
	tl_log("acct_traffic=false: verdict %d, entries %d", verdict, n);
	cgroup_skb_acct__destroy(k);
	EXPECT_EQ(0, err);
	EXPECT_EQ(1, verdict);
	EXPECT_EQ(0, n);
}

/* A map with room for one cgroup: the second cgroup's packet is counted as lost, not hidden. */
TEST_F(acct, map_full_the_packet_of_a_cgroup_without_room_is_allowed_and_counted_in_cgerrs)
{
	struct cgroup_skb_acct *k = skb_open_private();
	struct cgroup_acct_errors e = {};
	struct run_args r = { .egress_fd = -1 };
	int err, own = -1, child = -1, n = -1;
	pid_t pid;

	ASSERT_NE(NULL, k);
	bpf_map__set_max_entries(k->maps.podlane_cgacct, 1);
	err = cgroup_skb_acct__load(k);
	if (!err) {
		r.ingress_fd = bpf_program__fd(k->progs.acct_skb_ingress);
		own = test_run(r.ingress_fd);
		pid = spawn("run", 0, run_both, &r);
		child = pid > 0 ? reap(pid, NULL) : -1;
		n = map_count(bpf_map__fd(k->maps.podlane_cgacct));
		errs_read(bpf_map__fd(k->maps.podlane_cgerrs), &e);
	}
	tl_log("map full: verdicts %d/%d, entries %d, full_skb %llu", own, child, n,
	       (unsigned long long)e.full_skb);
	cgroup_skb_acct__destroy(k);
	EXPECT_EQ(0, err);
	EXPECT_EQ(1, own);
	EXPECT_EQ(0, child);
	EXPECT_EQ(1, n);
	EXPECT_EQ(1, e.full_skb);
}

int main(int argc, char **argv)
{
	char mnt[512];

	if (geteuid() != 0)
		ksft_exit_skip("needs root (cgroups, BPF)\n");
	if (tl_cgroup2_mount(mnt, sizeof(mnt)))
		ksft_exit_skip("no cgroup v2 hierarchy mounted\n");
	if (access("/proc/self/schedstat", R_OK))
		ksft_exit_skip("no /proc/<pid>/schedstat (CONFIG_SCHED_INFO) for reference\n");
	if (tl_sh_may_fail("command -v ip && command -v nsenter && command -v sysctl"))
		ksft_exit_skip("needs ip, nsenter and sysctl\n");
	build_frame();
	return test_harness_run(argc, argv);
}
