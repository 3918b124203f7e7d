// SPDX-License-Identifier: GPL-2.0-only
/* core/loop.c - the main loop's clock, job timing and short scheduler slices (core/loop.h). */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "core/agent.h"
#include "core/loop.h"
#include "log.h"

struct loop_stats {
	struct loop_stat job[LOOP_JOBS];
};

static const char *const job_names[LOOP_JOBS] = {
	[LOOP_SYNC_APPLY] = "sync_apply",
	[LOOP_SYNC_SNAPSHOT] = "sync_snapshot",
	[LOOP_ACCT] = "acct_tick",
	[LOOP_METRICS] = "metrics",
	[LOOP_SERVICE] = "service_tick",
	[LOOP_CLIENT] = "api_request",
};

const char *loop_job_name(enum loop_job job)
{
	return job < LOOP_JOBS ? job_names[job] : "?";
}

int loop_open(struct agent *a)
{
	a->loop = calloc(1, sizeof(*a->loop));
	return a->loop ? 0 : -ENOMEM;
}

void loop_close(struct agent *a)
{
	free(a->loop);
	a->loop = NULL;
}

void loop_time(struct agent *a, enum loop_job job, __u64 ns)
{
	struct loop_stat *l;

	if (!a->loop || job >= LOOP_JOBS)
		return;
	l = &a->loop->job[job];
	l->runs++;
	l->total_ns += ns;
	if (ns > 1000000)
		l->over_1ms++;
	if (ns > l->max_ns)
		l->max_ns = ns;
}

struct loop_stat loop_stat_get(const struct agent *a, enum loop_job job)
{
	struct loop_stat none = {};

	return a->loop && job < LOOP_JOBS ? a->loop->job[job] : none;
}

__u64 clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

__u64 mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/*
 * Since Linux 6.12 a task with a shorter slice gets an earlier deadline and may preempt a
 * running task with a longer one when it wakes up: on a node whose CPUs are busy, the thread
 * that wakes for one event gets on a CPU in tens of microseconds instead of waiting out another
 * task's slice (up to a few ms). Policy and priority stay what they are.
 */
void loop_short_slice(const char *who)
{
	/*
	 * The uapi's struct sched_attr (linux/sched/types.h, version 0 layout): that header
	 * clashes with glibc's <sched.h>, and glibc < 2.41 has no sched_setattr() wrapper.
	 */
	struct {
		__u32	size, sched_policy;
		__u64	sched_flags;
		__s32	sched_nice;
		__u32	sched_priority;
		__u64	sched_runtime, sched_deadline, sched_period;
	} attr = {
		.size = sizeof(attr),
		.sched_policy = SCHED_OTHER,
		.sched_runtime = LOOP_SLICE_US * 1000ULL,
	};

	if (syscall(SYS_sched_setattr, 0, &attr, 0))
		log_debug("no short scheduler slice thread=%s err=\"%s\"", who, strerror(errno));
}
