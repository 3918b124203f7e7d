// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_acct.c - podlane's per-cgroup accounting programs (sched_acct, cgroup_skb_acct) checked
 * against the kernel's own numbers, printed as TAP.
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
 * Usage: test_acct [-v] [CGROUP_DIR]. CGROUP_DIR (default <cgroup2 mount>/podlane-acct-<pid>)
 * is created and removed here; the .t wrapper removes it too if we die. The process works in a
 * private network namespace; maps are never pinned.
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

#include "tap.h"
#include "sched_acct.skel.h"
#include "cgroup_skb_acct.skel.h"

#define NTESTS		25
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

static char cg_base[1024];
static int ncpus;

static const char *const cg_names[] = {
	"cpu", "runq", "runq-wakeup", "tx", "rx", "nest", "nest/inner", "run", "knob", "old",
};

/* --- cgroups ---------------------------------------------------------------------------- */

static int cgroup2_mount(char *buf, size_t len)
{
	char dev[256], dir[512], type[64];
	FILE *f = fopen("/proc/mounts", "r");
	int found = 0;

	if (!f)
		return -errno;
	while (!found && fscanf(f, "%255s %511s %63s %*[^\n]", dev, dir, type) == 3)
		if (!strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", dir);
			found = 1;
		}
	fclose(f);
	return found ? 0 : -ENOENT;
}

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
		diag("failed to get handle of cgroup '%s': %s", path, strerror(errno));
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
		diag("failed to open cgroup '%s': %s", path, strerror(errno));
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

static void cg_remove_all(void)
{
	char path[1200];
	int i;

	if (!cg_base[0])
		return;
	for (i = ARRAY_SIZE(cg_names) - 1; i >= 0; i--) {
		cg_path(path, sizeof(path), cg_names[i]);
		rmdir(path);
	}
	rmdir(cg_base);
}

static int cg_create_all(void)
{
	char path[1200];
	size_t i;

	if (mkdir(cg_base, 0755) && errno != EEXIST) {
		diag("failed to create cgroup '%s': %s", cg_base, strerror(errno));
		return -errno;
	}
	for (i = 0; i < ARRAY_SIZE(cg_names); i++) {
		cg_path(path, sizeof(path), cg_names[i]);
		if (mkdir(path, 0755) && errno != EEXIST) {
			diag("failed to create cgroup '%s': %s", path, strerror(errno));
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
		diag("failed to clone into cgroup '%s': %s", name, strerror(errno));
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
	static struct cgroup_acct per_cpu[MAX_CPUS];
	int cpu;

	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(fd, &cgid, per_cpu))
		return -errno;
	for (cpu = 0; cpu < ncpus; cpu++) {
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
	static struct cgroup_acct_errors per_cpu[MAX_CPUS];
	__u32 zero = 0;
	int cpu;

	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(fd, &zero, per_cpu))
		return -errno;
	for (cpu = 0; cpu < ncpus; cpu++) {
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
	diag("%s: cpu_ns %llu runq_wait_ns %llu runq_waits %llu rx %llu/%llu tx %llu/%llu", what,
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
		diag("failed to open object 'sched_acct': %s", strerror(errno));
		return NULL;
	}
	maps_unpin_and_shrink(s->obj, MAP_SIZE);
	return s;
}

static struct cgroup_skb_acct *skb_open_private(void)
{
	struct cgroup_skb_acct *k = cgroup_skb_acct__open();

	if (!k) {
		diag("failed to open object 'cgroup_skb_acct': %s", strerror(errno));
		return NULL;
	}
	maps_unpin_and_shrink(k->obj, MAP_SIZE);
	return k;
}

/* One pass of the task iterator: charges every live task, as the reader does before reading. */
static int acct_iterate(struct sched_acct *s)
{
	char buf[64];
	int fd, n;

	fd = bpf_iter_create(bpf_link__fd(s->links.acct_iter_tasks));
	if (fd < 0) {
		diag("failed to create iterator 'acct_iter_tasks': %s", strerror(errno));
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
	diag("failed to attach object 'sched_acct': %s", strerror(-err));
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

/* What podlane.h promises readers: the id is the directory's inode number as well. */
static void test_cgroup_id(void)
{
	char path[1200];
	struct stat st;
	__u64 id = cg_id("cpu");

	cg_path(path, sizeof(path), "cpu");
	if (stat(path, &st))
		st.st_ino = 0;
	diag("cgroup cpu: handle id %llu, st_ino %llu", (unsigned long long)id,
	     (unsigned long long)st.st_ino);
	report(id && id == st.st_ino, "cgroup id: the file handle and st_ino of the directory agree");
}

/* --- tests: CPU time and run-queue wait ---------------------------------------------------- */

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
	diag("running loop: cpu.stat %lld us, then cpu_ns %llu, then cpu.stat %lld us", before_us,
	     (unsigned long long)a.cpu_ns, after_us);
	/* cpu.stat folds in the running slice at the tick: allow one tick (4 ms at HZ=250). */
	return before_us > 0 && a.cpu_ns / 1000 + 4000 >= (__u64)before_us &&
	       a.cpu_ns / 1000 <= (__u64)after_us + 4000;
}

static void test_cpu(struct sched_acct *s)
{
	struct cgroup_acct a;
	struct schedstat ss;
	long long usage_us;
	__u64 cgid = cg_id("cpu");
	double e_stat, e_task;
	bool live = false;
	pid_t pid;
	int rc;

	pid = spawn("cpu", 0, busy_loop, NULL);
	if (pid > 0)
		live = sample_live(s, cgid);
	report(live, "cpu: a running loop is charged up to the moment of the read");
	rc = pid > 0 ? reap(pid, &ss) : -1;
	if (rc || acct_wait(s, cgid, ss.cpu_ns, 0, &a)) {
		diag("busy loop exit %d", rc);
		report(false, "cpu: 5 s busy loop's cpu_ns agrees with cpu.stat usage_usec (2%)");
		report(false, "cpu: cpu_ns agrees with the task's own sum_exec_runtime (0.1%)");
		return;
	}
	usage_us = cg_cpu_stat("cpu", "usage_usec");
	acct_diag("cgroup cpu", &a);
	e_stat = rel_err(a.cpu_ns / 1000.0, usage_us);
	e_task = rel_err(a.cpu_ns, ss.cpu_ns);
	diag("cpu.stat usage_usec %lld -> error %+.4f%%; schedstat sum_exec_runtime %llu -> "
	     "error %+.4f%%", usage_us, e_stat * 100, (unsigned long long)ss.cpu_ns,
	     e_task * 100);
	report(usage_us > 0 && a.cpu_ns > 500000000ULL && e_stat < 0.02 && e_stat > -0.02,
	       "cpu: 5 s busy loop's cpu_ns agrees with cpu.stat usage_usec (2%)");
	report(e_task < 0.001 && e_task > -0.001,
	       "cpu: cpu_ns agrees with the task's own sum_exec_runtime (0.1%)");
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

static void test_runq(struct sched_acct *s)
{
	struct cgroup_acct a;
	struct schedstat sum;
	long long usage_us;
	__u64 cgid = cg_id("runq");
	double e_stat;

	if (run_two_on_one_cpu("runq", &sum) ||
	    acct_wait(s, cgid, sum.cpu_ns, sum.pcount, &a)) {
		report(false, "runq: two loops on one CPU wait on the run queue (runq_wait_ns > 0)");
		report(false, "runq: runq_wait_ns and runq_waits equal the tasks' schedstat");
		report(false, "runq: cpu_ns of both loops agrees with cpu.stat usage_usec (2%)");
		return;
	}
	acct_diag("cgroup runq", &a);
	diag("schedstat sums: sum_exec_runtime %llu run_delay %llu pcount %llu",
	     (unsigned long long)sum.cpu_ns, (unsigned long long)sum.run_delay_ns,
	     (unsigned long long)sum.pcount);
	usage_us = cg_cpu_stat("runq", "usage_usec");
	e_stat = rel_err(a.cpu_ns / 1000.0, usage_us);
	diag("cpu.stat usage_usec %lld -> error %+.4f%%", usage_us, e_stat * 100);
	report(a.runq_wait_ns > 100000000ULL && a.runq_waits > 0,
	       "runq: two loops on one CPU wait on the run queue (runq_wait_ns > 0)");
	report(a.runq_wait_ns == sum.run_delay_ns && a.runq_waits == sum.pcount,
	       "runq: runq_wait_ns and runq_waits equal the tasks' schedstat");
	report(usage_us > 0 && e_stat < 0.02 && e_stat > -0.02,
	       "runq: cpu_ns of both loops agrees with cpu.stat usage_usec (2%)");
}

/* The fallback times waits itself from the wakeup tracepoints: close, not identical. */
static void test_runq_wakeup(void)
{
	struct sched_acct *s = sched_open_private();
	struct cgroup_acct a;
	struct schedstat sum;
	double e_wait;
	int err = -1;

	if (s) {
		s->rodata->runq_by_wakeup = true;
		err = sched_acct__load(s);
		if (err)
			diag("failed to load object 'sched_acct': %s", strerror(-err));
		else
			err = sched_attach(s);
	}
	report(!err, "runq (wakeup fallback): load and attach the wakeup-timing programs too");
	if (err || run_two_on_one_cpu("runq-wakeup", &sum) ||
	    acct_wait(s, cg_id("runq-wakeup"), sum.cpu_ns, 1, &a)) {
		report(false, "runq (wakeup fallback): runq_wait_ns within 5% of schedstat");
		sched_acct__destroy(s);
		return;
	}
	acct_diag("cgroup runq-wakeup", &a);
	e_wait = rel_err(a.runq_wait_ns, sum.run_delay_ns);
	diag("schedstat run_delay %llu pcount %llu -> wait error %+.4f%%",
	     (unsigned long long)sum.run_delay_ns, (unsigned long long)sum.pcount, e_wait * 100);
	report(a.runq_wait_ns > 0 && e_wait < 0.05 && e_wait > -0.05,
	       "runq (wakeup fallback): runq_wait_ns within 5% of schedstat");
	sched_acct__destroy(s);
}

/* acct_cpu off: the same switch still charges run-queue waits but never CPU time. */
static void test_sched_knob(void)
{
	struct sched_acct *s = sched_open_private();
	struct cgroup_acct a = {};
	static int cpu;
	int err = -1;
	pid_t pid;

	cpu = pick_cpu();
	if (s) {
		s->rodata->acct_cpu = false;
		err = sched_acct__load(s);
		if (!err)
			err = sched_attach(s);
	}
	if (!err) {
		pid = spawn("knob", 0, busy_short, &cpu);
		err = pid > 0 ? reap(pid, NULL) : -1;
	}
	if (!err)
		err = acct_wait(s, cg_id("knob"), 0, 1, &a);
	acct_diag("cgroup knob", &a);
	report(!err && a.cpu_ns == 0 && a.runq_waits > 0,
	       "knob: acct_cpu=false charges run-queue waits but no cpu_ns");
	sched_acct__destroy(s);
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

/*
 * Tasks already running when accounting starts are charged from the first iteration that sees
 * them (sched_attach runs one), not for their past: two loops that ran a while before a fresh
 * instance is attached show what they used after it.
 */
static void test_preexisting(void)
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
	diag("used after attach %llu of %llu ns in total", (unsigned long long)used,
	     (unsigned long long)(after[0].cpu_ns + after[1].cpu_ns));
	report(!err && a.cpu_ns <= used && a.cpu_ns + slack >= used,
	       "cpu: tasks older than the accounting are charged only from attach on");
	sched_acct__destroy(s);
}

/* --- tests: traffic ----------------------------------------------------------------------- */

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

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, verbose ? " 1>&2" : " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	rc = system(cmd);
	if (rc)
		diag("failed to run '%s': exit %d", cmd, rc);
	return rc;
}

/*
 * A pod-like namespace behind a veth, wired without ARP or IPv6 so the devices carry our
 * datagrams and nothing else: permanent neighbours both ways, IPv6 off before link up.
 */
static int wire_veth(pid_t pod)
{
	return sh("ip link add %s address %s type veth peer name %s address %s netns %d",
		  HOST_DEV, HOST_MAC, POD_DEV, POD_MAC, pod) ||
	       sh("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1", HOST_DEV) ||
	       sh("ip addr add %s/24 dev %s", HOST_IP, HOST_DEV) ||
	       sh("ip neigh replace %s lladdr %s dev %s nud permanent", POD_IP, POD_MAC,
		  HOST_DEV) ||
	       sh("ip link set %s up", HOST_DEV) ||
	       sh("nsenter -t %d -n sysctl -qw net.ipv6.conf.%s.disable_ipv6=1", pod, POD_DEV) ||
	       sh("nsenter -t %d -n ip addr add %s/24 dev %s", pod, POD_IP, POD_DEV) ||
	       sh("nsenter -t %d -n ip neigh replace %s lladdr %s dev %s nud permanent", pod,
		  HOST_IP, HOST_MAC, POD_DEV) ||
	       sh("nsenter -t %d -n ip link set %s up", pod, POD_DEV);
}

static void test_traffic_veth(int acct_fd)
{
	struct udp_peer rx = { .count = UDP_COUNT }, tx = { .count = UDP_COUNT };
	struct dev_stats pod0 = {}, pod1 = {}, host0 = {}, host1 = {};
	struct cgroup_acct a_tx = {}, a_rx = {};
	pid_t rpid = -1, spid = -1;
	__u64 pkt_bytes = (__u64)UDP_COUNT * IP_UDP_LEN;
	bool sent = false, recvd = false;

	if (pipe(rx.ready) || pipe(tx.ready) || pipe(tx.go))
		goto out;
	rpid = spawn("rx", 0, udp_receiver, &rx);
	if (rpid <= 0 || read_byte(rx.ready[0], 5000))
		goto out;
	spid = spawn("tx", CLONE_NEWNET, udp_sender, &tx);
	if (spid <= 0 || wire_veth(spid))
		goto out;
	if (dev_stats_read(spid, POD_DEV, &pod0) || dev_stats_read(getpid(), HOST_DEV, &host0))
		goto out;
	if (write_byte(tx.go[1]) || read_byte(tx.ready[0], 10000))
		goto out;
	sent = true;
	recvd = reap(rpid, NULL) == 0;
	rpid = -1;
	dev_stats_read(spid, POD_DEV, &pod1);
	dev_stats_read(getpid(), HOST_DEV, &host1);
	write_byte(tx.go[1]);
	reap(spid, NULL);
	spid = -1;
	acct_read(acct_fd, cg_id("tx"), &a_tx);
	acct_read(acct_fd, cg_id("rx"), &a_rx);
out:
	if (rpid > 0) {
		kill(rpid, SIGKILL);
		reap(rpid, NULL);
	}
	if (spid > 0) {
		kill(spid, SIGKILL);
		reap(spid, NULL);
	}
	acct_diag("cgroup tx", &a_tx);
	acct_diag("cgroup rx", &a_rx);
	diag("pod veth tx %llu/%llu, host veth rx %llu/%llu (packets/bytes); sent %d received %d",
	     (unsigned long long)(pod1.tx_packets - pod0.tx_packets),
	     (unsigned long long)(pod1.tx_bytes - pod0.tx_bytes),
	     (unsigned long long)(host1.rx_packets - host0.rx_packets),
	     (unsigned long long)(host1.rx_bytes - host0.rx_bytes), sent, recvd);
	report(sent && a_tx.tx_packets == UDP_COUNT && a_tx.tx_bytes == pkt_bytes &&
	       a_tx.rx_packets == 0, "traffic: sender's cgroup has tx = datagrams x IP length");
	report(recvd && a_rx.rx_packets == UDP_COUNT && a_rx.rx_bytes == pkt_bytes &&
	       a_rx.tx_packets == 0, "traffic: receiver's cgroup has rx = datagrams x IP length");
	report(sent && pod1.tx_packets - pod0.tx_packets == a_tx.tx_packets &&
	       pod1.tx_bytes - pod0.tx_bytes == a_tx.tx_bytes + ETH_HDR * a_tx.tx_packets,
	       "traffic: pod veth tx counters = cgroup tx bytes + 14 per packet");
	report(recvd && host1.rx_packets - host0.rx_packets == a_rx.rx_packets &&
	       host1.rx_bytes - host0.rx_bytes == a_rx.rx_bytes + ETH_HDR * a_rx.rx_packets,
	       "traffic: host veth rx counters = cgroup rx bytes + 14 per packet");
	close(rx.ready[0]);
	close(rx.ready[1]);
	close(tx.ready[0]);
	close(tx.ready[1]);
	close(tx.go[0]);
	close(tx.go[1]);
}

static void test_traffic_nested(int acct_fd)
{
	struct udp_peer self = { .count = 50 };
	struct dev_stats lo0 = {}, lo1 = {};
	struct cgroup_acct inner = {}, parent = {};
	__u64 bytes = (__u64)self.count * IP_UDP_LEN;
	int rc = -1, parent_err;
	pid_t pid;

	dev_stats_read(getpid(), "lo", &lo0);
	pid = spawn("nest/inner", 0, udp_self, &self);
	if (pid > 0)
		rc = reap(pid, NULL);
	dev_stats_read(getpid(), "lo", &lo1);
	acct_read(acct_fd, cg_id("nest/inner"), &inner);
	parent_err = acct_read(acct_fd, cg_id("nest"), &parent);
	acct_diag("cgroup nest/inner", &inner);
	diag("lo tx %llu/%llu (packets/bytes); parent cgroup entry: %s",
	     (unsigned long long)(lo1.tx_packets - lo0.tx_packets),
	     (unsigned long long)(lo1.tx_bytes - lo0.tx_bytes),
	     parent_err ? "none" : "present");
	report(!rc && inner.tx_packets == (__u64)self.count && inner.tx_bytes == bytes &&
	       inner.rx_packets == (__u64)self.count && inner.rx_bytes == bytes &&
	       parent_err == -ENOENT,
	       "traffic: a nested cgroup's sockets are charged to it, not to its parent");
	/* loopback_xmit() counts after eth_type_trans() took its header off: L3 bytes. */
	report(!rc && lo1.tx_packets - lo0.tx_packets == inner.tx_packets &&
	       lo1.tx_bytes - lo0.tx_bytes == inner.tx_bytes,
	       "traffic: lo tx counters = cgroup tx (lo counts no L2 header)");
}

/* --- tests: BPF_PROG_TEST_RUN ------------------------------------------------------------- */

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

static void test_prog_run(struct cgroup_skb_acct *k)
{
	struct run_args r = {
		.ingress_fd = bpf_program__fd(k->progs.acct_skb_ingress),
		.egress_fd = bpf_program__fd(k->progs.acct_skb_egress),
	};
	struct cgroup_acct a = {};
	pid_t pid = spawn("run", 0, run_both, &r);
	int rc = pid > 0 ? reap(pid, NULL) : -1;

	acct_read(bpf_map__fd(k->maps.podlane_cgacct), cg_id("run"), &a);
	acct_diag("cgroup run", &a);
	report(!rc && a.rx_packets == 1 && a.rx_bytes == RUN_FRAME - ETH_HDR,
	       "test_run: ingress allows and counts the frame minus its 14-byte L2 header");
	report(!rc && a.tx_packets == 1 && a.tx_bytes == RUN_FRAME - ETH_HDR,
	       "test_run: egress allows and counts the frame minus its 14-byte L2 header");
}

/* With acct_traffic off every packet is still allowed and nothing is counted. */
static void test_skb_knob(void)
{
	struct cgroup_skb_acct *k = skb_open_private();
	int err = -1, verdict = -1, n = -1;

	if (k) {
		k->rodata->acct_traffic = false;
		err = cgroup_skb_acct__load(k);
	}
	if (!err) {
		verdict = test_run(bpf_program__fd(k->progs.acct_skb_egress));
		n = map_count(bpf_map__fd(k->maps.podlane_cgacct));
	}
	diag("acct_traffic=false: verdict %d, entries %d", verdict, n);
	report(!err && verdict == 1 && n == 0, "knob: acct_traffic=false allows and counts nothing");
	cgroup_skb_acct__destroy(k);
}

/* A map with room for one cgroup: the second cgroup's packet is counted as lost, not hidden. */
static void test_map_full(void)
{
	struct cgroup_skb_acct *k = skb_open_private();
	struct cgroup_acct_errors e = {};
	struct run_args r = { .egress_fd = -1 };
	int err = -1, own = -1, child = -1, n = -1;
	pid_t pid;

	if (k) {
		bpf_map__set_max_entries(k->maps.podlane_cgacct, 1);
		err = cgroup_skb_acct__load(k);
	}
	if (!err) {
		r.ingress_fd = bpf_program__fd(k->progs.acct_skb_ingress);
		own = test_run(r.ingress_fd);
		pid = spawn("run", 0, run_both, &r);
		child = pid > 0 ? reap(pid, NULL) : -1;
		n = map_count(bpf_map__fd(k->maps.podlane_cgacct));
		errs_read(bpf_map__fd(k->maps.podlane_cgerrs), &e);
	}
	diag("map full: verdicts %d/%d, entries %d, full_skb %llu", own, child, n,
	     (unsigned long long)e.full_skb);
	report(!err && own == 1 && child == 0 && n == 1 && e.full_skb == 1,
	       "map full: the packet of a cgroup without room is allowed and counted in "
	       "podlane_cgerrs");
	cgroup_skb_acct__destroy(k);
}

/* --- main --------------------------------------------------------------------------------- */

static void cleanup(void)
{
	cg_remove_all();
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	struct sched_acct *s = NULL;
	struct cgroup_skb_acct *k = NULL;
	struct bpf_link *l_in = NULL, *l_out = NULL;
	char mnt[512];
	int err, i, base_fd = -1, acct_fd;

	if (argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = true;
		argc--;
		argv++;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (cgroups, BPF)\n");
		return 0;
	}
	if (cgroup2_mount(mnt, sizeof(mnt))) {
		printf("1..0 # SKIP no cgroup v2 hierarchy mounted\n");
		return 0;
	}
	if (access("/proc/self/schedstat", R_OK)) {
		printf("1..0 # SKIP no /proc/<pid>/schedstat (CONFIG_SCHED_INFO) for reference\n");
		return 0;
	}
	if (argc > 1)
		snprintf(cg_base, sizeof(cg_base), "%s", argv[1]);
	else
		snprintf(cg_base, sizeof(cg_base), "%s/podlane-acct-%d", mnt, getpid());
	libbpf_set_print(libbpf_print_tap);
	ncpus = libbpf_num_possible_cpus();
	build_frame();

	printf("1..%d\n", NTESTS);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	err = unshare(CLONE_NEWNET) ? -errno : 0;
	if (!err)
		err = sh("ip link set lo up");
	if (!err)
		err = cg_create_all();
	if (!err) {
		s = sched_open_private();
		k = skb_open_private();
		err = s && k ? 0 : -ENOENT;
	}
	if (!err) {
		err = sched_acct__load(s);
		if (err)
			diag("failed to load object 'sched_acct': %s", strerror(-err));
	}
	report(!err, "load sched_acct (private maps)");
	if (!err)
		err = sched_attach(s);
	report(!err, "attach iter/task and tp_btf/sched_process_free, first iteration");
	if (!err)
		err = maps_share(k->obj, s->obj);
	if (!err) {
		err = cgroup_skb_acct__load(k);
		if (err)
			diag("failed to load object 'cgroup_skb_acct': %s", strerror(-err));
	}
	report(!err, "load cgroup_skb_acct sharing sched_acct's maps");
	if (!err) {
		base_fd = cg_fd(".");
		l_in = bpf_program__attach_cgroup(k->progs.acct_skb_ingress, base_fd);
		l_out = bpf_program__attach_cgroup(k->progs.acct_skb_egress, base_fd);
		err = l_in && l_out ? 0 : -errno;
		if (err)
			diag("failed to attach cgroup_skb programs to '%s': %s", cg_base,
			     strerror(-err));
	}
	report(!err, "attach cgroup_skb ingress and egress to the test cgroup");
	if (err) {
		for (i = test_num; i < NTESTS; i++)
			report(false, "not run: setup failed");
		goto out;
	}
	acct_fd = bpf_map__fd(s->maps.podlane_cgacct);

	test_cgroup_id();
	test_cpu(s);
	test_runq(s);
	test_runq_wakeup();
	test_sched_knob();
	test_preexisting();
	test_traffic_veth(acct_fd);
	test_traffic_nested(acct_fd);
	test_prog_run(k);
	test_skb_knob();
	test_map_full();
	{
		struct cgroup_acct_errors e = {};

		errs_read(bpf_map__fd(s->maps.podlane_cgerrs), &e);
		diag("podlane_cgerrs: full_sched %llu full_skb %llu task_state %llu; entries %d",
		     (unsigned long long)e.full_sched, (unsigned long long)e.full_skb,
		     (unsigned long long)e.task_state, map_count(acct_fd));
	}
out:
	bpf_link__destroy(l_in);
	bpf_link__destroy(l_out);
	if (base_fd >= 0)
		close(base_fd);
	cgroup_skb_acct__destroy(k);
	sched_acct__destroy(s);
	return failures ? 1 : 0;
}
