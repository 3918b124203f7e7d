// SPDX-License-Identifier: GPL-2.0-only
/*
 * acct/hints.c - node and pod pressure hints: one score from 0 (idle) to 100 (saturated) per node
 * and per pod, recomputed every accounting tick (once a second) from the deltas of the last
 * tick. A scheduler or an operator reads "100" as "this is full, place nothing more here"
 * (node) or "this pod is starved of something" (pod).
 *
 * Each score is the largest of five parts, so that one exhausted resource is never averaged
 * away by three idle ones; `dominant` names the part that set it. All parts are clamped to
 * 0..100.
 *
 * Node:
 *   cpu      100 * busy, busy = share of all CPUs' time not idle or iowait over the last
 *            tick (/proc/stat). 100 - cpu is the CPU headroom in percent. Utilization: a
 *            node can be 100% busy with nobody waiting.
 *   cpu_pressure  4 * the percent of the last tick some runnable task waited for a CPU (CPU
 *            PSI "some", from the growth of its total= microseconds, so exact for that tick;
 *            avg10, a 10 s average, only on the first tick): 25% stalled or more gives 100.
 *   runq     100 * run-queue wait seconds per second per CPU, summed over every cgroup
 *            (podlane_cgacct): 100 means on average one task waited for each CPU all the time.
 *   memory   4 * the percent of the last tick some task stalled on memory (memory PSI
 *            "some", as for cpu_pressure): 25% stalled or more gives 100.
 *   traffic  100 * bytes per second the pods sent and received / PODLANE_HINT_LINK_BPS
 *            (10 Gbit/s).
 * With --node-cgroup the node is that cgroup: cpu is its usage / its quota (or the online
 * CPUs), runq sums the cgroups under it, the PSI parts are its own (acct.c node_read).
 * Pod:
 *   cpu      100 * CPU cores the pod used / its limit: cpu.max quota/period when the pod
 *            cgroup has one, else the node's CPUs.
 *   cpu_pressure  4 * the percent of the last tick the pod cgroup's CPU PSI "some" grew by.
 *   runq     100 * wait / (wait + run) over the last tick: the share of the pod's runnable
 *            time spent waiting for a CPU (0 = never waited).
 *   memory   the larger of 4 * its memory PSI "some" share of the last tick and 100 * memory in
 *            use / memory limit (when it has a limit).
 *   traffic  100 * the pod's bytes per second (rx + tx) / PODLANE_HINT_LINK_BPS.
 * Parts the node cannot measure (no PSI, no accounting programs) are 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct/acct.h"
#include "core/agent.h"

#define PODLANE_HINT_LINK_BPS	1.25e9	/* 10 Gbit/s in bytes */
#define PSI_SCALE		4.0	/* 25% of the time stalled -> 100 */

/*
 * A PSI part: PSI_SCALE * percent of the last tick some task stalled (the total= counter's
 * growth); on the first tick, before there is a previous reading, avg10.
 */
static double psi_part(const struct psi_rate *r, const struct pl_psi psi[PL_PSI_NR], int res)
{
	if (r->some_share[res] >= 0)
		return PSI_SCALE * 100 * r->some_share[res];
	return psi[res].valid ? PSI_SCALE * psi[res].some_avg[0] : 0;
}

static double clamp100(double v)
{
	return v < 0 ? 0 : v > 100 ? 100 : v;
}

static void hint_finish(struct hint *h)
{
	h->cpu = clamp100(h->cpu);
	h->cpu_pressure = clamp100(h->cpu_pressure);
	h->runq = clamp100(h->runq);
	h->memory = clamp100(h->memory);
	h->traffic = clamp100(h->traffic);
	h->score = h->cpu;
	h->dominant = "cpu";
	if (h->cpu_pressure > h->score) {
		h->score = h->cpu_pressure;
		h->dominant = "cpu_pressure";
	}
	if (h->runq > h->score) {
		h->score = h->runq;
		h->dominant = "runq";
	}
	if (h->memory > h->score) {
		h->score = h->memory;
		h->dominant = "memory";
	}
	if (h->traffic > h->score) {
		h->score = h->traffic;
		h->dominant = "traffic";
	}
}

/* CPU cores the cgroup may use by cpu.max; 0 when unlimited or unknown. */
static double cpu_limit(const struct acct *ac, const struct acct_pod *p)
{
	char path[PATH_MAX + ACCT_PATH_LEN + 16], buf[64];
	double quota, period;
	FILE *f;

	snprintf(path, sizeof(path), "%s%s/cpu.max", ac->cg2_mount, p->cgroup);
	f = fopen(path, "re");
	if (!f)
		return 0;
	buf[0] = '\0';
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	if (sscanf(buf, "%lf %lf", &quota, &period) != 2 || period <= 0)
		return 0;	/* "max 100000" fails the first %lf */
	return quota / period;
}

void hints_compute(struct acct *ac, double dt)
{
	struct hint *n = &ac->node.hint;
	size_t i;

	memset(n, 0, sizeof(*n));
	n->cpu = 100 * ac->node.busy;
	n->runq = 100 * ac->node.runq_per_cpu;
	if (ac->node.has_psi) {
		n->cpu_pressure = psi_part(&ac->node.psi_rate, ac->node.psi, PL_PSI_CPU);
		n->memory = psi_part(&ac->node.psi_rate, ac->node.psi, PL_PSI_MEMORY);
	}
	n->traffic = 100 * (ac->node.rx_bps + ac->node.tx_bps) / PODLANE_HINT_LINK_BPS;
	hint_finish(n);

	for (i = 0; i < ac->npods; i++) {
		struct acct_pod *p = &ac->pods[i];
		struct hint *h = &p->hint;
		double limit;

		memset(h, 0, sizeof(*h));
		if (p->tied && dt > 0) {
			limit = cpu_limit(ac, p);
			if (limit <= 0)	/* the node's CPUs: its cgroup's quota with --node-cgroup */
				limit = ac->node.cpus > 0 ? ac->node.cpus : ac->online_cpus;
			h->cpu = 100 * p->rate.cpu_cores / limit;
			h->runq = 100 * p->rate.runq_share;
			h->cpu_pressure = psi_part(&p->psi_rate, p->psi, PL_PSI_CPU);
			h->memory = psi_part(&p->psi_rate, p->psi, PL_PSI_MEMORY);
			if (p->has_memory && p->has_memory_max && p->memory_max &&
			    100.0 * p->memory_bytes / p->memory_max > h->memory)
				h->memory = 100.0 * p->memory_bytes / p->memory_max;
			h->traffic = 100 * (p->rate.rx_bps + p->rate.tx_bps) /
				     PODLANE_HINT_LINK_BPS;
		}
		hint_finish(h);
	}
}
