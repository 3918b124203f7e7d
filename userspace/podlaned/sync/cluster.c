// SPDX-License-Identifier: GPL-2.0-only
/*
 * sync/cluster.c - the cluster view: every node's latest pressure hint (this node's too) as
 * the I/O thread last received it from etcd, and the pods that nodes' endpoint records
 * recently named. The I/O thread is its one writer; readers (the scheduler extender, sched/)
 * copy it out under its own lock, so a reader never waits on etcd, only on a memcpy.
 *
 * Hints are kept sorted by node name (a put is a binary search and, for a new node, a move);
 * a delete (the node's lease expired, or it removed its hint) drops the node. After a
 * compaction forces a full list, a node deleted in the gap keeps its last hint until its
 * "updated" ages past the reader's stale limit: old hints are never mistaken for live ones.
 *
 * Pods seen: a ring of the last CLUSTER_SEEN_MAX (node, namespace/name) hashes with their
 * receive time, enough for the placements a scheduler makes in a few seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "core/loop.h"
#include "keyidx.h"
#include "sync/sync_int.h"

static int hint_find(const struct sync_cluster *c, const char *node, size_t len, bool *found)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int d = strncmp(c->v[mid].node, node, len);

		if (!d && c->v[mid].node[len])
			d = 1;
		if (!d) {
			*found = true;
			return mid;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int cluster_open(struct sync *s)
{
	pthread_mutex_init(&s->view.lock, NULL);
	return 0;
}

void cluster_close(struct sync *s)
{
	free(s->view.v);
	s->view.v = NULL;
	pthread_mutex_destroy(&s->view.lock);
}

void cluster_hint_put(struct sync *s, const char *node, size_t len, const struct hint_rec *h)
{
	struct sync_cluster *c = &s->view;
	struct sync_node_hint *e;
	bool found;
	size_t i;

	if (len >= sizeof(e->node))
		return;
	pthread_mutex_lock(&c->lock);
	i = hint_find(c, node, len, &found);
	if (!found) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			struct sync_node_hint *v = realloc(c->v, cap * sizeof(*v));

			if (!v) {
				pthread_mutex_unlock(&c->lock);
				return;
			}
			c->v = v;
			c->cap = cap;
		}
		memmove(&c->v[i + 1], &c->v[i], (c->n - i) * sizeof(*c->v));
		c->n++;
		memset(&c->v[i], 0, sizeof(c->v[i]));
		memcpy(c->v[i].node, node, len);
	}
	e = &c->v[i];
	e->score = h->score;
	e->cpu = h->cpu;
	e->cpu_pressure = h->cpu_pressure;
	e->has_pressure = h->has_pressure;
	e->runq = h->runq;
	e->memory = h->memory;
	e->traffic = h->traffic;
	e->cpus = h->cpus;
	e->seq = h->seq;
	snprintf(e->dominant, sizeof(e->dominant), "%s", h->dominant);
	e->updated = h->updated;
	e->recv_ns = clock_ns(CLOCK_REALTIME);
	e->recv_mono_ns = mono_ns();
	e->puts++;
	pthread_mutex_unlock(&c->lock);
}

void cluster_hint_del(struct sync *s, const char *node, size_t len)
{
	struct sync_cluster *c = &s->view;
	bool found;
	size_t i;

	pthread_mutex_lock(&c->lock);
	i = hint_find(c, node, len, &found);
	if (found) {
		memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*c->v));
		c->n--;
	}
	pthread_mutex_unlock(&c->lock);
}

static __u64 pod_hash(const char *ns, const char *name)
{
	char buf[2 * 256 + 2];
	int n = snprintf(buf, sizeof(buf), "%s/%s", ns, name);
	size_t len = n < 0 ? 0 : (size_t)n >= sizeof(buf) ? sizeof(buf) - 1 : (size_t)n;

	return keyidx_hash(buf, len);
}

void cluster_pod_seen(struct sync *s, const char *node, size_t node_len, const char *ns,
		      const char *name)
{
	struct sync_cluster *c = &s->view;
	__u64 h = pod_hash(ns, name), now = mono_ns();
	unsigned int i;

	if (node_len >= sizeof(c->seen[0].node))
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < CLUSTER_SEEN_MAX; i++)
		if (c->seen[i].hash == h && !strncmp(c->seen[i].node, node, node_len) &&
		    !c->seen[i].node[node_len])
			break;
	if (i == CLUSTER_SEEN_MAX) {
		/* First sight only: a record put again (a label change) does not move it. */
		i = c->seen_next;
		c->seen[i].hash = h;
		c->seen[i].mono_ns = now;
		memcpy(c->seen[i].node, node, node_len);
		c->seen[i].node[node_len] = '\0';
		c->seen_next = (c->seen_next + 1) % CLUSTER_SEEN_MAX;
	}
	pthread_mutex_unlock(&c->lock);
}

size_t sync_cluster_hints(struct agent *a, struct sync_node_hint *out, size_t max)
{
	struct sync *s = a->sync;
	size_t n;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->view.lock);
	n = s->view.n;
	if (out)
		memcpy(out, s->view.v, (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&s->view.lock);
	return n;
}

__u64 sync_cluster_pod_seen(struct agent *a, const char *ns, const char *name, char *node,
			    size_t node_len)
{
	struct sync *s = a->sync;
	__u64 h, seen = 0;
	unsigned int i;

	if (!s)
		return 0;
	h = pod_hash(ns, name);
	pthread_mutex_lock(&s->view.lock);
	/* The latest sighting: a pod name placed again (deleted, recreated) moves on. */
	for (i = 0; i < CLUSTER_SEEN_MAX; i++)
		if (s->view.seen[i].hash == h && s->view.seen[i].mono_ns > seen) {
			seen = s->view.seen[i].mono_ns;
			snprintf(node, node_len, "%s", s->view.seen[i].node);
		}
	pthread_mutex_unlock(&s->view.lock);
	return seen;
}
