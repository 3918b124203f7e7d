// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sched_acct.bpf.c - per-cgroup CPU time and run-queue wait, charged from the kernel's own
 * per-task totals, with nothing on the context-switch path.
 *
 * The kernel already keeps, per task, the CPU time it ran (task->se.sum_exec_runtime: the very
 * deltas cgroup v2 cpu.stat usage_usec adds up) and its run-queue wait (task->sched_info
 * .run_delay and .pcount: /proc/<pid>/schedstat). Charging a cgroup is then a matter of adding
 * each task's growth since it was last charged, remembered in task storage:
 *   acct_iter_tasks (iter/task) charges every live task; the reader runs it right before it
 *	reads podlane_cgacct, so live tasks are current to the moment of the read (a task that
 *	never leaves its CPU included);
 *   acct_task_free (tp_btf/sched_process_free) charges a task's last growth when it is freed,
 *	after its final context switch, so exited tasks are exact too.
 * A program on sched_switch would do the same work per context switch: measured on the
 * development VM, even an empty tp_btf/sched_switch program cost 3-6% of a pipe ping-pong's
 * throughput and a charging one 6-9%; this design costs nothing there.
 *
 * Fallback for kernels without CONFIG_SCHED_INFO (set runq_by_wakeup and attach the three
 * tp_btf scheduler programs): run-queue wait is timed here the runqslower way, from the
 * wakeup (or the preemption) of a task to the switch that runs it, into the task's storage,
 * and charged by the same two programs. That costs a program run per switch and per wakeup.
 *
 * The reader must run one iteration at a time (two at once may charge a task twice). Tasks
 * born before accounting started (acct_epoch_ns) are charged from the first iteration that
 * sees them, not for their past: run an iteration right after attaching.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "podlane.h"
#include "lib/acct.h"

#define TASK_RUNNING	0

/* Set by podlaned through the skeleton's rodata before load; the verifier prunes what is off. */
const volatile bool acct_cpu = true;
const volatile bool acct_runq = true;
const volatile bool runq_by_wakeup = false;

/*
 * CLOCK_MONOTONIC ns when accounting started: tasks born before it are not charged for their
 * past. The loader may set it (skeleton bss) before attaching; otherwise the first run does.
 */
__u64 acct_epoch_ns;

#define TASK_ACCT_SEEN	1

/* What has been charged for one task so far, and the fallback's own run-queue timing. */
struct task_acct {
	__u64	cpu_seen;	/* se.sum_exec_runtime already charged */
	__u64	runq_seen;	/* run-queue wait total already charged */
	__u64	waits_seen;	/* wait count already charged */
	__u64	queued_ns;	/* fallback: runnable since (bpf_ktime_get_ns), 0 = not waiting */
	__u64	runq_ns;	/* fallback: the task's run-queue wait total */
	__u64	waits;		/* fallback: the task's ended waits */
	__u32	flags;		/* TASK_ACCT_* */
	__u32	pad;
};

/* task -> struct task_acct; private to this object, freed by the kernel with the task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_acct);
} acct_task SEC(".maps");

/*
 * The task's own cgroup in the v2 (default) hierarchy, as bpf_get_current_cgroup_id() has it.
 * The programs get BTF task pointers, so plain dereferences (CO-RE relocated, turned into
 * fault-safe loads by the verifier) walk the chain without a helper call per step.
 */
static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return t->cgroups->dfl_cgrp->kn->id;
}

static __always_inline __u64 epoch_ns(void)
{
	if (!acct_epoch_ns)
		acct_epoch_ns = bpf_ktime_get_ns();
	return acct_epoch_ns;
}

/*
 * Charge a task's growth since it was last charged to its cgroup. st is NULL for a task that
 * never got storage (born and gone between two iterations): everything it used is new if it
 * was born after the epoch.
 */
static __always_inline void charge_task(struct task_struct *t, struct task_acct *st)
{
	__u64 cpu, runq = 0, waits = 0, d_cpu = 0, d_runq = 0, d_waits = 0;
	struct task_acct none = {};
	struct cgroup_acct *a;

	cpu = t->se.sum_exec_runtime;
	if (runq_by_wakeup) {
		if (st) {
			runq = st->runq_ns;
			waits = st->waits;
		}
	} else if (bpf_core_field_exists(t->sched_info)) {
		runq = t->sched_info.run_delay;
		waits = t->sched_info.pcount;
	}

	if (!st) {
		if (t->start_time < epoch_ns())
			return;
		st = &none;
	} else if (!(st->flags & TASK_ACCT_SEEN)) {
		st->flags |= TASK_ACCT_SEEN;
		if (t->start_time < epoch_ns()) {
			st->cpu_seen = cpu;
			/* The fallback's totals start with the storage, after the epoch. */
			if (!runq_by_wakeup) {
				st->runq_seen = runq;
				st->waits_seen = waits;
			}
		}
	}

	if (acct_cpu)
		d_cpu = cpu - st->cpu_seen;
	if (acct_runq) {
		d_runq = runq - st->runq_seen;
		d_waits = waits - st->waits_seen;
	}
	st->cpu_seen = cpu;
	st->runq_seen = runq;
	st->waits_seen = waits;
	if (!d_cpu && !d_runq && !d_waits)
		return;

	a = cgroup_acct_get(task_cgroup_id(t));
	if (!a) {
		acct_error(ACCT_ERR_FULL_SCHED);
		return;
	}
	/* Atomic: the free callback (softirq) may interrupt an iteration on the same CPU. */
	if (d_cpu)
		__sync_fetch_and_add(&a->cpu_ns, d_cpu);
	if (d_runq)
		__sync_fetch_and_add(&a->runq_wait_ns, d_runq);
	if (d_waits)
		__sync_fetch_and_add(&a->runq_waits, d_waits);
}

SEC("iter/task")
int acct_iter_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	struct task_acct *st;

	if (!t || (!acct_cpu && !acct_runq))
		return 0;
	/*
	 * An exiting task is left to acct_task_free. Checking here, inside the iteration's RCU
	 * read section, is what keeps the two apart: a task still alive now cannot reach its
	 * free callback before this program has finished with it.
	 */
	if (t->exit_state)
		return 0;
	st = bpf_task_storage_get(&acct_task, t, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		acct_error(ACCT_ERR_TASK_STATE);
		return 0;
	}
	charge_task(t, st);
	return 0;
}

SEC("tp_btf/sched_process_free")
int BPF_PROG(acct_task_free, struct task_struct *t)
{
	if (!acct_cpu && !acct_runq)
		return 0;
	charge_task(t, bpf_task_storage_get(&acct_task, t, NULL, 0));
	return 0;
}

/* ---- fallback run-queue timing (runq_by_wakeup) ---- */

static __always_inline void mark_runnable(struct task_struct *p)
{
	struct task_acct *st;

	if (!runq_by_wakeup || !acct_runq)
		return;
	st = bpf_task_storage_get(&acct_task, p, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		acct_error(ACCT_ERR_TASK_STATE);
		return;
	}
	st->queued_ns = bpf_ktime_get_ns();
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(acct_sched_wakeup, struct task_struct *p)
{
	mark_runnable(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(acct_sched_wakeup_new, struct task_struct *p)
{
	mark_runnable(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(acct_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct task_acct *st;
	__u64 now;

	if (!runq_by_wakeup || !acct_runq)
		return 0;
	now = bpf_ktime_get_ns();
	/* Preempted, not sleeping: it waits on the run queue from now on. pid 0 is idle. */
	if (prev->pid && prev_state == TASK_RUNNING)
		mark_runnable(prev);
	if (!next->pid)
		return 0;
	st = bpf_task_storage_get(&acct_task, next, NULL, 0);
	if (st && st->queued_ns) {
		st->runq_ns += now - st->queued_ns;
		st->waits++;
		st->queued_ns = 0;
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
