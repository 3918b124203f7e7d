/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * core/loop.h - the main loop's clock and bookkeeping: each job the event loop runs is timed,
 * so a late map update can be traced to what held the main thread (shown under "loop" by
 * `podlanectl sync status`), and threads that must wake fast ask for a short slice.
 */
#ifndef PODLANED_CORE_LOOP_H
#define PODLANED_CORE_LOOP_H

#include <time.h>
#include <linux/types.h>

struct agent;

enum loop_job {
	LOOP_SYNC_APPLY,
	LOOP_SYNC_SNAPSHOT,
	LOOP_ACCT,
	LOOP_METRICS,
	LOOP_SERVICE,
	LOOP_CLIENT,
	LOOP_JOBS
};

/* One job: how often it ran, for how long in all and at most, how often over 1 ms. */
struct loop_stat {
	__u64	runs, over_1ms, max_ns, total_ns;
};

/* The name status shows for a job ("sync_apply", "api_request", ...). */
const char *loop_job_name(enum loop_job job);

/* Start the bookkeeping (a->loop); without it loop_time() records nothing. */
int loop_open(struct agent *a);
void loop_close(struct agent *a);
/* Account ns of the main thread to job. Main thread only. */
void loop_time(struct agent *a, enum loop_job job, __u64 ns);
/* The figures of job so far (zero before loop_open). */
struct loop_stat loop_stat_get(const struct agent *a, enum loop_job job);

/* CLOCK_MONOTONIC / any clock in nanoseconds. */
__u64 mono_ns(void);
__u64 clock_ns(clockid_t clk);

/*
 * The calling thread's scheduler slice: short (LOOP_SLICE_US), so that it runs soon after it
 * wakes on a busy node (Linux >= 6.12; older kernels refuse or ignore it).
 */
#define LOOP_SLICE_US	100
void loop_short_slice(const char *who);

#endif /* PODLANED_CORE_LOOP_H */
