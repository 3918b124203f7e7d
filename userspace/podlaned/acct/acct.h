/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * acct/acct.h - podlaned's per-pod accounting: gathering (acct.c), its BPF objects (bpf.c) and
 * the pressure scores (hints.c). The state is readable by the layer above, which serves it
 * (api/acct_ops.c, api/metrics.c); only acct/ changes it.
 */
#ifndef PODLANED_ACCT_ACCT_H
#define PODLANED_ACCT_ACCT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "genl.h"
#include "podlane.h"

struct agent;
struct sched_acct;
struct cgroup_skb_acct;
struct bpf_link;

#define ACCT_TICK_MS		1000	/* samples, rates and hints: once a second */
#define ACCT_TIE_MS		2000	/* endpoint -> cgroup tie refresh (a /proc scan) */
#define ACCT_GC_MS		10000	/* podlane_cgacct entries of removed cgroups */
#define ACCT_PATH_LEN		256
#define ACCT_MAX_MEMBERS	256	/* cgroups summed per pod; deeper subtrees are cut */

/* Cumulative usage, as in struct cgroup_acct (summed over CPUs). */
struct acct_counters {
	uint64_t cpu_ns;
	uint64_t runq_wait_ns;
	uint64_t runq_waits;
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t tx_packets;
	uint64_t tx_bytes;
};

/* A pressure score 0..100 and its parts (see hints.c for the formula). */
struct hint {
	double cpu;
	double cpu_pressure;
	double runq;
	double memory;
	double traffic;
	double score;
	const char *dominant;	/* the part that sets the score */
};

struct acct_rates {
	double cpu_cores;	/* CPU seconds per second */
	double runq_per_s;	/* run-queue wait seconds per second */
	double runq_share;	/* wait / (wait + run): 0 never waited, 1 never ran */
	double rx_bps;		/* bytes per second */
	double tx_bps;
	double rx_pps;
	double tx_pps;
};

/*
 * PSI "some" stalled share over the last tick, from the growth of the total= counter (exact
 * for that tick; avg10 is a 10 s average, refreshed every 2 s, and lags a load that changes).
 */
struct psi_rate {
	uint64_t total_us[PL_PSI_NR];	/* some total= at the last reading */
	bool valid[PL_PSI_NR];
	uint64_t at_ns;			/* CLOCK_MONOTONIC of that reading */
	double some_share[PL_PSI_NR];	/* 0..1 of the last tick; < 0 when not known yet */
};

struct acct_member {
	uint64_t id;
	struct acct_counters last;
};

struct acct_pod {
	__u32 ifindex;
	bool present;		/* mark for the sweep that follows the endpoint map */
	struct endpoint_meta meta;
	char ip[16];

	/* The tie: the pod's cgroups, found through the processes in its netns. */
	bool tied;
	int nprocs;
	char cgroup[ACCT_PATH_LEN];	/* cgroup v2 path, relative to the mount */
	uint64_t cgroup_id;
	char memcg_v1[ACCT_PATH_LEN];	/* v1 memory cgroup, "" when v1 has no memory */
	char scan_v2[ACCT_PATH_LEN];	/* scratch of the running /proc scan */
	char scan_mem[ACCT_PATH_LEN];
	int scan_procs;

	/* Usage of the pod cgroup's subtree, monotonic even when child cgroups go away. */
	struct acct_member *members;
	size_t nmembers;
	struct acct_counters retired;
	struct acct_counters total;
	bool cpu_from_kernel;	/* total.cpu_ns from cpu.stat: no BPF accounting */

	bool has_memory;
	bool has_memory_max;
	uint64_t memory_bytes;
	uint64_t memory_max;
	struct pl_psi psi[PL_PSI_NR];
	struct psi_rate psi_rate;

	struct acct_counters tick_prev;
	uint64_t tick_prev_ns;
	bool tick_valid;
	struct acct_rates rate;
	struct hint hint;
};

struct acct_node {
	uint64_t stat_busy, stat_total;	/* /proc/stat jiffies at the last tick */
	bool stat_valid;
	double busy;			/* fraction of all CPUs busy over the last tick */
	double runq_per_cpu;		/* run-queue wait seconds per second per CPU */
	uint64_t runq_total_ns;		/* podlane_cgacct wait summed; never goes back */
	uint64_t runq_retired_ns;	/* wait of cgroups gone (removed, or left the node's) */
	bool runq_valid;
	double rx_bps, tx_bps;		/* sum over pods */
	bool has_psi;
	struct pl_psi psi[PL_PSI_NR];
	struct psi_rate psi_rate;
	double cpus;			/* CPUs the node may use: its cgroup's quota or online */
	/* --node-cgroup: the node is that cgroup, not the machine (acct.c node_cgroup_read) */
	uint64_t cg_usage_ns;		/* cpuacct.usage (v1) or cpu.stat usage_usec (v2) */
	uint64_t cg_usage_at_ns;	/* CLOCK_MONOTONIC of that reading */
	bool cg_usage_valid;
	uint64_t *cg_ids;		/* cgroup v2 ids of its subtree, sorted */
	uint64_t *cg_runq;		/* run-queue wait of each cg_ids[i] when last read */
	size_t cg_nids;
	struct hint hint;
};

struct acct {
	bool bpf;			/* accounting programs loaded and attached */
	struct sched_acct *sched;
	struct cgroup_skb_acct *skb;
	bool skb_adopted[2];		/* the pinned cgroup_skb links of a previous run */
	int cgacct_fd, cgerrs_fd;
	void *vals;			/* per-CPU lookup buffer */
	int ncpus;			/* possible CPUs (map values) */
	int online_cpus;

	char cg2_mount[PATH_MAX];
	bool cg2;
	int cg2_fd;
	int handle_type;		/* file handle type of cgroup2 ids */
	char memcg_v1_mount[PATH_MAX];
	bool memcg_v1;
	/*
	 * --node-cgroup PATH, relative to each hierarchy's root: v2 at cg2_mount (PSI, cpu.stat,
	 * cpu.max, the subtree's run-queue wait), v1 cpu and cpuacct under their own mounts
	 * (quota, usage). "" = the whole machine.
	 */
	char node_cg[ACCT_PATH_LEN];
	char node_cg_v2[PATH_MAX + ACCT_PATH_LEN];		/* "" when the v2 hierarchy lacks it */
	char node_cg_cpu_v1[PATH_MAX + ACCT_PATH_LEN];		/* v1 cpu controller's directory, or "" */
	char node_cg_cpuacct_v1[PATH_MAX + ACCT_PATH_LEN];	/* v1 cpuacct's directory, or "" */
	bool psi_node;
	bool psi_cgroup;

	struct pl_genl genl;
	bool module;
	struct pl_genl_version modver;
	uint64_t module_retry_ns;

	struct acct_pod *pods;
	size_t npods;
	struct acct_node node;

	bool tie_due;
	uint64_t last_tie_ns, last_gc_ns, last_tick_ns;
	uint64_t seq;			/* ticks done */
	uint64_t updated_ns;		/* CLOCK_REALTIME of the last tick */
	double tick_us;			/* cost of the last tick */
	double tie_us;			/* cost of the last tie refresh */
	uint64_t map_entries;
	uint64_t gc_deleted;
	struct cgroup_acct_errors errs;
};

/* Where a figure comes from, for status and metrics. */
const char *acct_source(const struct acct *ac);
const char *acct_memory_source(const struct acct *ac);
const char *acct_psi_source(const struct acct *ac);

/*
 * Never fatal: without the programs or the module, less is known and status says so. The one
 * refusal: a --node-cgroup that exists in no hierarchy (-ENOENT, said why).
 */
int acct_open(struct agent *a);
void acct_close(struct agent *a);
/* Once a second (ACCT_TICK_MS): counters, kernel figures, rates, hints. */
void acct_tick(struct agent *a);
/* An endpoint came or went: tie pods to cgroups again at the next tick. */
void acct_endpoint_changed(struct agent *a);
/* Bring the pods' cumulative counters up to this moment (before answering a reader). */
void acct_refresh(struct acct *ac);
void acct_refresh_counters(struct agent *a);
/* The pod of an endpoint's host veth, NULL when accounting does not know it (yet). */
struct acct_pod *acct_pod_find(struct acct *ac, __u32 ifindex);

/* bpf.c */
int acct_bpf_open(struct agent *a, struct acct *ac);
void acct_bpf_close(struct acct *ac);
/* One pass of the task iterator: charges every live task's growth. */
void acct_bpf_iterate(struct acct *ac);
/* --no-accounting: detach what a previous run left pinned. */
void acct_bpf_off(struct agent *a);

/* hints.c */
void hints_compute(struct acct *ac, double dt);

#endif /* PODLANED_ACCT_ACCT_H */
