// SPDX-License-Identifier: GPL-2.0-only
/*
 * sched/sched.c - filter and score nodes by pressure for the scheduler extender.
 *
 * Inputs: the cluster view (sync/cluster.c), every node's latest hint record as etcd delivered
 * it, copied out at each call: a call never waits on etcd. This node's own entry comes from
 * its accounting (acct/, the tick of at most a second ago) instead, with or without etcd: it is
 * fresher than its own record's round trip through etcd, and without etcd it is the one node
 * the extender knows. Its name is --node-name, or the host name (nodes/ sets it before the
 * sync starts, so it is the name the publisher writes and kube-scheduler sends).
 *
 * Pressure of a node: the largest of three parts, each 0..100 (acct/hints.c):
 *   cpu_pressure  4 x CPU PSI some share of the last tick (25% of it a runnable task waited
 *                 = 100), from the growth of total=
 *   runq          run-queue wait seconds per second per CPU, x 100
 *   memory        4 x memory PSI some share of the last tick
 * Utilization (the `cpu` part, busy share) and traffic are never scored: a node that is 100%
 * busy with nobody waiting can take more work; one where tasks wait cannot.
 *
 * Pending placements: prioritize charges the pod (its CPU request from the Pod, summed over its
 * containers) to the node it ranks first; kube-scheduler usually binds there. The charge adds
 *   pending_part = sum over the node's pending pods of max(100 x request / node CPUs, 10)
 * to the node's pressure (effective = min(100, pressure + pending_part)), so a burst spreads:
 * each pod placed costs its node at least one score point until the node's hints show it. A
 * charge is released when the pod's endpoint record has been seen (on whichever node: a charge
 * follows the pod if the scheduler put it elsewhere) and that node's hints were received
 * SCHED_SETTLE_MS after it (PSI's 10 s average needs seconds to show a new load), or after
 * --extender-pending-ttl-ms in any case.
 *
 * Score: 10 x (100 - effective) / 100, rounded: 10 idle, 0 saturated.
 *
 * Stale: a node whose hints are older than --extender-stale-ms (its agent stopped or lost
 * etcd; age = now - its "updated", or since this agent received it if that is longer), or that
 * has none: filter lets it pass (podlane does not know it is saturated, and dropping it would
 * hide nodes when etcd is slow), prioritize gives it 0 (never favoured over a node podlane
 * can see). Counted in podlane_extender_stale_nodes_total and shown by
 * `podlanectl hints --cluster`.
 *
 * Filter: a fresh node whose pressure (measured, pending not included: saturation is a kernel
 * fact, not a guess) is at least --extender-saturated fails, with a reason naming its parts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct/acct.h"
#include "core/agent.h"
#include "core/loop.h"
#include "extender.h"
#include "sched/sched.h"
#include "sync/sync.h"

const double sched_req_bounds[SCHED_REQ_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1,
};
const double sched_age_bounds[SCHED_AGE_BUCKETS] = {
	0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60,
};

struct pending {
	char		node[64];
	char		ns[EXTENDER_NAME_LEN];
	char		name[EXTENDER_NAME_LEN];
	double		cores;
	uint64_t	charged_ns;	/* CLOCK_MONOTONIC */
};

struct sched {
	struct sched_opts o;
	struct sched_stats st;
	struct pending	*pend;
	size_t		npend;
	struct sync_node_hint *view;	/* scratch: the cluster view copied out */
	size_t		nview, viewcap;
};

int sched_open(struct agent *a, const struct sched_opts *o)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->o = *o;
	s->pend = calloc(SCHED_PENDING_MAX, sizeof(*s->pend));
	if (!s->pend) {
		free(s);
		return -ENOMEM;
	}
	a->sched = s;
	return 0;
}

void sched_close(struct agent *a)
{
	struct sched *s = a->sched;

	if (!s)
		return;
	free(s->pend);
	free(s->view);
	free(s);
	a->sched = NULL;
}

const struct sched_opts *sched_options(struct agent *a)
{
	return a->sched ? &a->sched->o : NULL;
}

const struct sched_stats *sched_get_stats(struct agent *a)
{
	return a->sched ? &a->sched->st : NULL;
}

static void hist_add(struct sched_hist *h, const double *bounds, int nb, double v)
{
	int i;

	for (i = 0; i < nb && v > bounds[i]; i++)
		;
	if (i < nb)
		h->b[i]++;
	h->count++;
	h->sum += v;
}

void sched_count_call(struct agent *a, enum sched_verb v, enum sched_outcome o, double seconds)
{
	struct sched *s = a->sched;

	if (!s)
		return;
	s->st.calls[v][o]++;
	hist_add(&s->st.req_seconds[v], sched_req_bounds, SCHED_REQ_BUCKETS, seconds);
}

/*
 * This node's entry from its own accounting: replaces what etcd delivered for it (the same
 * figures, a round trip older) or is added (no etcd, or its record not back yet). The fields
 * are those the sync publishes (sync/apply.c snap_hints). 0, or -ENOMEM.
 */
static int view_local(struct sched *s, struct agent *a)
{
	const struct acct *ac = a->acct;
	struct sync_node_hint *e;
	size_t lo = 0, hi = s->nview;
	int d = 1;

	if (!ac || !ac->seq || !a->node_name || !a->node_name[0])
		return 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		d = strcmp(s->view[mid].node, a->node_name);
		if (!d) {
			lo = mid;
			break;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (d) {
		if (s->nview == s->viewcap) {
			size_t cap = s->viewcap + 64;
			struct sync_node_hint *v = realloc(s->view, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			s->view = v;
			s->viewcap = cap;
		}
		memmove(&s->view[lo + 1], &s->view[lo], (s->nview - lo) * sizeof(*s->view));
		s->nview++;
		memset(&s->view[lo], 0, sizeof(s->view[lo]));
		snprintf(s->view[lo].node, sizeof(s->view[lo].node), "%s", a->node_name);
	}
	e = &s->view[lo];
	e->score = ac->node.hint.score;
	e->cpu = ac->node.hint.cpu;
	e->cpu_pressure = ac->node.hint.cpu_pressure;
	e->has_pressure = true;
	e->runq = ac->node.hint.runq;
	e->memory = ac->node.hint.memory;
	e->traffic = ac->node.hint.traffic;
	e->cpus = ac->node.cpus;
	e->seq = ac->seq;
	snprintf(e->dominant, sizeof(e->dominant), "%s",
		 ac->node.hint.dominant ? ac->node.hint.dominant : "cpu");
	/* "Received" when the tick computed it: the age is the tick's. */
	e->updated = ac->updated_ns;
	e->recv_ns = ac->updated_ns;
	e->recv_mono_ns = ac->last_tick_ns;
	return 0;
}

/* The cluster view, copied into s->view (sorted by node). */
static int view_load(struct sched *s, struct agent *a)
{
	size_t n;

	for (;;) {
		n = sync_cluster_hints(a, s->view, s->viewcap);
		if (n <= s->viewcap)
			break;
		free(s->view);
		s->viewcap = n + 64;
		s->view = calloc(s->viewcap, sizeof(*s->view));
		if (!s->view) {
			s->viewcap = s->nview = 0;
			return -ENOMEM;
		}
	}
	s->nview = n;
	return view_local(s, a);
}

static const struct sync_node_hint *view_find(const struct sched *s, const char *node)
{
	size_t lo = 0, hi = s->nview;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int d = strcmp(s->view[mid].node, node);

		if (!d)
			return &s->view[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void pending_drop(struct sched *s, size_t i)
{
	s->pend[i] = s->pend[--s->npend];
}

/* Release the charges the hints now show, or that outlived the TTL; follow moved pods. */
static void pending_settle(struct sched *s, struct agent *a)
{
	uint64_t now = mono_ns(), seen;
	char node[64];
	size_t i = 0;

	while (i < s->npend) {
		struct pending *p = &s->pend[i];
		const struct sync_node_hint *h;

		if (now - p->charged_ns >= s->o.pending_ttl_ms * 1000000ULL) {
			s->st.released_ttl++;
			pending_drop(s, i);
			continue;
		}
		node[0] = '\0';
		seen = sync_cluster_pod_seen(a, p->ns, p->name, node, sizeof(node));
		if (seen && seen + 1000000000ULL >= p->charged_ns && node[0]) {
			if (strcmp(node, p->node)) {
				snprintf(p->node, sizeof(p->node), "%s", node);
				s->st.moved++;
			}
			h = view_find(s, p->node);
			if (h && h->recv_mono_ns >= seen + SCHED_SETTLE_MS * 1000000ULL) {
				s->st.released_seen++;
				pending_drop(s, i);
				continue;
			}
		}
		i++;
	}
}

static void eval_one(struct sched *s, const char *name, uint64_t now_real, uint64_t now_mono,
		     struct sched_node *n)
{
	const struct sync_node_hint *h = view_find(s, name);
	double cpus, part;
	size_t i;

	memset(n, 0, sizeof(*n));
	snprintf(n->node, sizeof(n->node), "%s", name);
	n->age_s = -1;
	n->dominant = "none";
	if (h) {
		double by_updated = h->updated && now_real > h->updated ?
				    (now_real - h->updated) / 1e9 : 0;
		double by_recv = (now_mono - h->recv_mono_ns) / 1e9;

		n->known = true;
		n->age_s = by_updated > by_recv ? by_updated : by_recv;
		n->cpu_pressure = h->cpu_pressure;
		n->runq = h->runq;
		n->memory = h->memory;
		n->cpu = h->cpu;
		n->traffic = h->traffic;
		n->cpus = h->cpus;
		n->pressure = n->cpu_pressure;
		n->dominant = "cpu_pressure";
		if (n->runq > n->pressure) {
			n->pressure = n->runq;
			n->dominant = "runq";
		}
		if (n->memory > n->pressure) {
			n->pressure = n->memory;
			n->dominant = "memory";
		}
	}
	n->stale = !h || n->age_s * 1000 > s->o.stale_ms;
	cpus = n->cpus > 0 ? n->cpus : 1;
	for (i = 0; i < s->npend; i++) {
		if (strcmp(s->pend[i].node, name))
			continue;
		n->pending_cpu += s->pend[i].cores;
		n->pending_pods++;
		part = 100 * s->pend[i].cores / cpus;
		n->pending_part += part > SCHED_PENDING_MIN ? part : SCHED_PENDING_MIN;
	}
	n->effective = n->pressure + n->pending_part;
	if (n->effective > 100)
		n->effective = 100;
	/* effective is 0..100: the score rounds half up, 10 idle .. 0 saturated */
	n->score = n->stale ? 0 : (int)(EXTENDER_MAX_SCORE * (100 - n->effective) / 100 + 0.5);
	n->saturated = !n->stale && n->pressure >= s->o.saturated;
}

int sched_eval(struct agent *a, const char *const *names, size_t n, struct sched_node *out)
{
	struct sched *s = a->sched;
	uint64_t now_real = clock_ns(CLOCK_REALTIME), now_mono = mono_ns();
	size_t i;

	if (!s)
		return -ENOENT;
	if (view_load(s, a))
		return -ENOMEM;
	pending_settle(s, a);
	for (i = 0; i < n; i++)
		eval_one(s, names[i], now_real, now_mono, &out[i]);
	return 0;
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

int sched_view(struct agent *a, struct sched_node **out, size_t *n)
{
	struct sched *s = a->sched;
	const char **names;
	size_t i, k = 0;
	int err;

	*out = NULL;
	*n = 0;
	if (!s)
		return -ENOENT;
	if (view_load(s, a))
		return -ENOMEM;
	names = calloc(s->nview + s->npend + 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (i = 0; i < s->nview; i++)
		names[k++] = s->view[i].node;
	for (i = 0; i < s->npend; i++)
		if (!view_find(s, s->pend[i].node))
			names[k++] = s->pend[i].node;
	qsort(names, k, sizeof(*names), name_cmp);
	/* Pending pods of one unknown node appear once. */
	for (i = 1, *n = k ? 1 : 0; i < k; i++)
		if (strcmp(names[i], names[*n - 1]))
			names[(*n)++] = names[i];
	*out = calloc(*n ? *n : 1, sizeof(**out));
	if (!*out) {
		free(names);
		*n = 0;
		return -ENOMEM;
	}
	/* names point into s->view and s->pend, which sched_eval() keeps as they are here. */
	{
		char (*copy)[64] = calloc(*n ? *n : 1, sizeof(*copy));
		const char **cn = calloc(*n ? *n : 1, sizeof(*cn));

		if (!copy || !cn) {
			free(copy);
			free(cn);
			free(names);
			free(*out);
			*out = NULL;
			*n = 0;
			return -ENOMEM;
		}
		for (i = 0; i < *n; i++) {
			snprintf(copy[i], sizeof(copy[i]), "%s", names[i]);
			cn[i] = copy[i];
		}
		err = sched_eval(a, cn, *n, *out);
		free(copy);
		free(cn);
	}
	free(names);
	if (err) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return err;
}

static void observe(struct sched *s, const struct sched_node *n)
{
	if (n->known)
		hist_add(&s->st.hint_age, sched_age_bounds, SCHED_AGE_BUCKETS, n->age_s);
	if (n->stale)
		s->st.stale_nodes++;
}

int sched_filter(struct agent *a, const struct extender_args *args, bool *pass, char **reason)
{
	struct sched *s = a->sched;
	struct sched_node *ev;
	size_t i;
	int err;

	if (!args->nnodes)
		return 0;
	ev = calloc(args->nnodes, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	err = sched_eval(a, args->names, args->nnodes, ev);
	for (i = 0; !err && i < args->nnodes; i++) {
		const struct sched_node *n = &ev[i];

		observe(s, n);
		pass[i] = !n->saturated;
		reason[i] = NULL;
		if (pass[i])
			continue;
		s->st.filtered++;
		if (asprintf(&reason[i], "podlane: node saturated: pressure %.0f >= %.0f "
			     "(cpu_pressure %.0f, runq %.0f, memory %.0f; hints %.1fs old)",
			     n->pressure, s->o.saturated, n->cpu_pressure, n->runq, n->memory,
			     n->age_s) < 0) {
			reason[i] = NULL;
			err = -ENOMEM;
		}
	}
	free(ev);
	return err;
}

/* Charge the pod to node; a pod charged before (a retried cycle) moves, it is not counted twice. */
static void pending_charge(struct sched *s, const struct extender_args *args, const char *node)
{
	struct pending *p = NULL;
	size_t i;

	for (i = 0; i < s->npend; i++)
		if (!strcmp(s->pend[i].name, args->pod_name) &&
		    !strcmp(s->pend[i].ns, args->pod_namespace)) {
			p = &s->pend[i];
			break;
		}
	if (!p) {
		if (s->npend == SCHED_PENDING_MAX) {
			/* Full: the oldest charge goes (the TTL would take it soon anyway). */
			size_t old = 0;

			for (i = 1; i < s->npend; i++)
				if (s->pend[i].charged_ns < s->pend[old].charged_ns)
					old = i;
			pending_drop(s, old);
			s->st.released_ttl++;
		}
		p = &s->pend[s->npend++];
	}
	snprintf(p->node, sizeof(p->node), "%s", node);
	snprintf(p->ns, sizeof(p->ns), "%s", args->pod_namespace);
	snprintf(p->name, sizeof(p->name), "%s", args->pod_name);
	p->cores = args->cpu_milli / 1000.0;
	p->charged_ns = mono_ns();
	s->st.charged++;
}

int sched_prioritize(struct agent *a, const struct extender_args *args, int *score)
{
	struct sched *s = a->sched;
	struct sched_node *ev;
	size_t i, best = 0;
	int err;

	if (!args->nnodes)
		return 0;
	ev = calloc(args->nnodes, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	err = sched_eval(a, args->names, args->nnodes, ev);
	for (i = 0; !err && i < args->nnodes; i++) {
		observe(s, &ev[i]);
		score[i] = ev[i].score;
		/* First: the highest score; among equals the least effective pressure. */
		if (i && (ev[i].score > ev[best].score ||
			  (ev[i].score == ev[best].score && !ev[i].stale &&
			   ev[i].effective < ev[best].effective)))
			best = i;
	}
	/* A node podlane knows nothing about takes no charge: nothing would release it early. */
	if (!err && !ev[best].stale)
		pending_charge(s, args, ev[best].node);
	free(ev);
	return err;
}
