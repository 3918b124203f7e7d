/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sched/sched.h - scheduling by pressure: how podlaned's scheduler extender (api/extender.c)
 * filters and scores nodes from the cluster view of every node's hints (sync/cluster.c), and
 * the placements it has made that the hints do not show yet (pending). The formula, the
 * stale rule and the pending rule are in sched.c's head comment and README "Scheduler
 * extender". Main thread only: the extender and the API run on the event loop.
 */
#ifndef PODLANED_SCHED_SCHED_H
#define PODLANED_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;
struct extender_args;

#define SCHED_DEFAULT_SATURATED		90	/* pressure 0..100 at which filter says no */
#define SCHED_DEFAULT_STALE_MS		5000	/* hints older than this are stale */
#define SCHED_DEFAULT_PENDING_TTL_MS	30000	/* a placement's charge lasts at most this */
#define SCHED_SETTLE_MS			5000	/* hints this long after the pod showed count it */
#define SCHED_PENDING_MIN		10.0	/* the least a pending pod adds: one score point */
#define SCHED_PENDING_MAX		4096

/* One node as the extender sees it at a decision. */
struct sched_node {
	char		node[64];
	bool		known;		/* the cluster view has hints for it */
	bool		stale;		/* unknown, or hints older than the stale limit */
	double		age_s;		/* age of its hints: now - the writer's "updated"
					 * (or receive time, whichever is older); -1 unknown */
	double		cpu_pressure, runq, memory;	/* the parts scored, 0..100 */
	double		cpu, traffic;	/* shown, never scored */
	double		cpus;		/* its CPUs, 0 = unknown (1 is assumed) */
	double		pressure;	/* max(cpu_pressure, runq, memory) */
	const char	*dominant;	/* the part that sets pressure */
	double		pending_cpu;	/* CPU cores of pods placed and not in its hints yet */
	unsigned int	pending_pods;
	double		pending_part;	/* what they add to pressure */
	double		effective;	/* min(100, pressure + pending_part) */
	int		score;		/* 0..10: 0 for a stale node */
	bool		saturated;	/* pressure >= the threshold (fresh nodes only) */
};

enum sched_verb { SCHED_FILTER, SCHED_PRIORITIZE, SCHED_OTHER, SCHED_VERBS };
enum sched_outcome {
	SCHED_OK,
	SCHED_BAD_REQUEST,	/* 400: not ExtenderArgs, wrong method or path */
	SCHED_TOO_LARGE,	/* 413: body over --extender-max-body */
	SCHED_INTERNAL,		/* 500: out of memory */
	SCHED_OUTCOMES
};

/* Histogram bucket bounds, seconds (Prometheus "le"), and their counts. */
#define SCHED_REQ_BUCKETS	12
#define SCHED_AGE_BUCKETS	12
extern const double sched_req_bounds[SCHED_REQ_BUCKETS];
extern const double sched_age_bounds[SCHED_AGE_BUCKETS];

struct sched_hist {
	uint64_t	b[SCHED_REQ_BUCKETS > SCHED_AGE_BUCKETS ? SCHED_REQ_BUCKETS :
			  SCHED_AGE_BUCKETS];	/* non-cumulative */
	uint64_t	count;
	double		sum;
};

struct sched_stats {
	uint64_t	calls[SCHED_VERBS][SCHED_OUTCOMES];
	struct sched_hist req_seconds[SCHED_VERBS];	/* request handling time */
	struct sched_hist hint_age;	/* age of each node's hints at a decision */
	uint64_t	filtered;	/* nodes filter said no to */
	uint64_t	stale_nodes;	/* nodes decided on without fresh hints */
	uint64_t	charged;	/* placements charged */
	uint64_t	released_seen;	/* ... released: the node's hints show the pod */
	uint64_t	released_ttl;	/* ... released: the TTL passed */
	uint64_t	moved;		/* ... moved: the pod showed up on another node */
};

struct sched_opts {
	double		saturated;
	unsigned int	stale_ms;
	unsigned int	pending_ttl_ms;
};

int sched_open(struct agent *a, const struct sched_opts *o);
void sched_close(struct agent *a);
const struct sched_opts *sched_options(struct agent *a);
const struct sched_stats *sched_get_stats(struct agent *a);

/*
 * Evaluate names[0..n) into out[0..n) at this moment (releases settled placements first).
 * 0, or -ENOMEM.
 */
int sched_eval(struct agent *a, const char *const *names, size_t n, struct sched_node *out);
/* Every node of the cluster view, and every node with a pending placement: *out malloc'ed. */
int sched_view(struct agent *a, struct sched_node **out, size_t *n);

/*
 * The verbs: filter fills pass[] and reason[] (malloc'ed, the caller frees each), prioritize
 * fills score[] and charges the pod to the node it ranks first. 0 or -ENOMEM.
 */
int sched_filter(struct agent *a, const struct extender_args *args, bool *pass, char **reason);
int sched_prioritize(struct agent *a, const struct extender_args *args, int *score);

/* The HTTP side's bookkeeping: one call, its outcome and how long it took. */
void sched_count_call(struct agent *a, enum sched_verb v, enum sched_outcome o, double seconds);

#endif /* PODLANED_SCHED_SCHED_H */
