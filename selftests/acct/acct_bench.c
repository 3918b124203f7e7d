// SPDX-License-Identifier: GPL-2.0-only
/*
 * acct_bench.c - the two halves of scripts/bench/bench-acct.sh.
 *
 *   acct_bench hold [-w] [-s] [-i MS] [-c CGROUP_DIR]
 *	Load the accounting programs privately (no pins), attach the task iterator and
 *	tp_btf/sched_process_free (plus the switch and wakeup programs with -w, the
 *	runqslower-style fallback) and, with -c, the cgroup_skb programs to that cgroup; run the
 *	iterator every MS milliseconds (default 1000) as podlaned would before reading. Prints
 *	"ready" once attached, then holds until SIGINT or SIGTERM; detaches on exit. -s turns
 *	on the kernel's BPF run-time statistics while holding and prints the average cost of one
 *	program run at exit (this costs time itself: never combine it with a throughput
 *	measurement).
 *
 *   acct_bench pipe [-l LOOPS]
 *	A context-switch-heavy workload for when `perf bench sched pipe` is not installed: two
 *	processes bounce one byte over a pair of pipes LOOPS times (default 100000); prints
 *	"<ops> ops/sec" where one op is a round trip (two context switches on one CPU).
 */
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "testlib.h"
#include "sched_acct.skel.h"
#include "cgroup_skb_acct.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void prog_stats(const char *name, int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len) || !info.run_cnt) {
		fprintf(stderr, "%s: no runs recorded\n", name);
		return;
	}
	fprintf(stderr, "%s: %llu runs, %.1f ns per run\n", name,
		(unsigned long long)info.run_cnt, (double)info.run_time_ns / info.run_cnt);
}

/* One pass of the task iterator; the programs print nothing, so read just drives it. */
static void iterate(struct sched_acct *s)
{
	char buf[64];
	int fd = bpf_iter_create(bpf_link__fd(s->links.acct_iter_tasks));

	if (fd < 0)
		return;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

static int hold(int argc, char **argv)
{
	struct bpf_link *l_in = NULL, *l_out = NULL;
	struct cgroup_skb_acct *k = NULL;
	struct sched_acct *s;
	const char *cgroup = NULL;
	bool wakeup = false, stats = false;
	int opt, err, cg_fd = -1, stats_fd = -1, interval_ms = 1000;

	while ((opt = getopt(argc, argv, "wsi:c:v")) != -1) {
		switch (opt) {
		case 'w': wakeup = true; break;
		case 'i': interval_ms = atoi(optarg); break;
		case 's': stats = true; break;
		case 'c': cgroup = optarg; break;
		case 'v': tl_verbose = true; break;
		default: return 2;
		}
	}
	s = sched_acct__open();
	if (!s) {
		fprintf(stderr, "failed to open object 'sched_acct': %s\n", strerror(errno));
		return 1;
	}
	tl_maps_private(s->obj, PODLANE_MAX_CGROUPS);
	s->rodata->runq_by_wakeup = wakeup;
	err = sched_acct__load(s);
	if (err) {
		fprintf(stderr, "failed to load object 'sched_acct': %s\n", strerror(-err));
		goto out;
	}
	s->links.acct_iter_tasks = bpf_program__attach_iter(s->progs.acct_iter_tasks, NULL);
	s->links.acct_task_free = bpf_program__attach(s->progs.acct_task_free);
	err = s->links.acct_iter_tasks && s->links.acct_task_free ? 0 : -errno;
	if (!err && wakeup) {
		s->links.acct_sched_switch = bpf_program__attach(s->progs.acct_sched_switch);
		s->links.acct_sched_wakeup = bpf_program__attach(s->progs.acct_sched_wakeup);
		s->links.acct_sched_wakeup_new =
			bpf_program__attach(s->progs.acct_sched_wakeup_new);
		err = s->links.acct_sched_switch && s->links.acct_sched_wakeup &&
		      s->links.acct_sched_wakeup_new ? 0 : -errno;
	}
	if (err) {
		fprintf(stderr, "failed to attach object 'sched_acct': %s\n", strerror(-err));
		goto out;
	}
	if (cgroup) {
		k = cgroup_skb_acct__open();
		err = k ? 0 : -errno;
		if (!err) {
			tl_maps_private(k->obj, PODLANE_MAX_CGROUPS);
			err = tl_maps_share(k->obj, s->obj);
		}
		if (!err)
			err = cgroup_skb_acct__load(k);
		cg_fd = err ? -1 : open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (!err && cg_fd < 0)
			err = -errno;
		if (!err) {
			l_in = bpf_program__attach_cgroup(k->progs.acct_skb_ingress, cg_fd);
			l_out = bpf_program__attach_cgroup(k->progs.acct_skb_egress, cg_fd);
			err = l_in && l_out ? 0 : -errno;
		}
		if (err) {
			fprintf(stderr, "failed to attach cgroup_skb programs to '%s': %s\n",
				cgroup, strerror(-err));
			goto out;
		}
	}
	if (stats) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			fprintf(stderr, "failed to enable BPF run-time statistics: %s\n",
				strerror(errno));
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		iterate(s);
		usleep(interval_ms * 1000);
	}

	if (stats_fd >= 0) {
		prog_stats("acct_iter_tasks", bpf_program__fd(s->progs.acct_iter_tasks));
		prog_stats("acct_task_free", bpf_program__fd(s->progs.acct_task_free));
		if (wakeup) {
			prog_stats("acct_sched_switch",
				   bpf_program__fd(s->progs.acct_sched_switch));
			prog_stats("acct_sched_wakeup",
				   bpf_program__fd(s->progs.acct_sched_wakeup));
		}
		if (k) {
			prog_stats("acct_skb_ingress", bpf_program__fd(k->progs.acct_skb_ingress));
			prog_stats("acct_skb_egress", bpf_program__fd(k->progs.acct_skb_egress));
		}
		close(stats_fd);
	}
out:
	bpf_link__destroy(l_in);
	bpf_link__destroy(l_out);
	if (cg_fd >= 0)
		close(cg_fd);
	cgroup_skb_acct__destroy(k);
	sched_acct__destroy(s);
	return err ? 1 : 0;
}

static int pipe_pingpong(int argc, char **argv)
{
	long loops = 100000, i;
	int ping[2], pong[2], opt, status;
	struct timespec t0, t1;
	char c = 0;
	double secs;
	pid_t pid;

	while ((opt = getopt(argc, argv, "l:")) != -1) {
		if (opt != 'l')
			return 2;
		loops = strtol(optarg, NULL, 10);
	}
	if (loops <= 0 || pipe(ping) || pipe(pong))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		for (i = 0; i < loops; i++)
			if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < loops; i++)
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			break;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) ||
	    i != loops)
		return 1;
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%.0f ops/sec\n", loops / secs);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "hold"))
		return hold(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "pipe"))
		return pipe_pingpong(argc - 1, argv + 1);
	fprintf(stderr, "usage: %s hold [-w] [-s] [-c CGROUP_DIR] | pipe [-l LOOPS]\n", argv[0]);
	return 2;
}
