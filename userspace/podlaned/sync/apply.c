// SPDX-License-Identifier: GPL-2.0-only
/*
 * sync/apply.c - the sync on podlaned's main thread: it drains the queue the I/O thread fills
 * (nodes into nodes/, services into lb/, policies, pod records, namespaces and the pods of
 * other nodes' endpoints into policy/, where every other writer of those maps runs, and the
 * sweep after a full list), and every SNAPSHOT_MS it snapshots this node's records (node,
 * endpoints with their pods' names, labels and named ports, hint) for the publisher.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "acct/acct.h"
#include "core/agent.h"
#include "core/loop.h"
#include "datapath/eps.h"
#include "lb/lb.h"
#include "log.h"
#include "nodes/nodes.h"
#include "policy/policy.h"
#include "sync/sync_int.h"

void item_free(struct item *it)
{
	free(it->name);
	it->name = NULL;
	record_node_free(&it->node);
	if (it->spec) {
		service_spec_free(it->spec);
		free(it->spec);
		it->spec = NULL;
	}
	if (it->policy) {
		policy_spec_free(it->policy);
		free(it->policy);
		it->policy = NULL;
	}
	if (it->pod) {
		policy_pod_free(it->pod);
		free(it->pod);
		it->pod = NULL;
	}
	if (it->ns) {
		policy_namespace_free(it->ns);
		free(it->ns);
		it->ns = NULL;
	}
}

/* ---- etcd's nodes and the generation that last saw them ---- */

static struct gen_entry *gen_find(struct gen_table *t, const char *key)
{
	size_t i;

	/* Linear: nodes are few (services keep theirs in lb/'s hash). */
	for (i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].key, key))
			return &t->v[i];
	return NULL;
}

static int gen_set(struct gen_table *t, const char *key, __u32 gen)
{
	struct gen_entry *e = gen_find(t, key);

	if (e) {
		e->gen = gen;
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct gen_entry *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n].key = strdup(key);
	if (!t->v[t->n].key)
		return -ENOMEM;
	t->v[t->n++].gen = gen;
	return 0;
}

/* The last entry takes e's place. */
static void gen_remove(struct gen_table *t, struct gen_entry *e)
{
	free(e->key);
	*e = t->v[--t->n];
}

static void gen_del(struct gen_table *t, const char *key)
{
	struct gen_entry *e = gen_find(t, key);

	if (e)
		gen_remove(t, e);
}

static void gen_free(struct gen_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].key);
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}

/* ---- apply ---- */

static void node_apply(struct sync *s, struct item *it)
{
	struct api_error e = {};
	struct node_record n;
	char key[256];
	int err;

	record_node_key(key, sizeof(key), it->name);
	if (it->kind == IT_NODE_DEL) {
		node_remove(s->a, it->name, NULL, &e);
		gen_del(&s->loop.nodes, it->name);
		CNT_ADD(s, node_deletes, 1);
		return;
	}
	/* A node without a pod CIDR yet (still allocating) has nothing to route. */
	if (!it->node.pod_cidr)
		return;
	/* nodes/ checks the address and the CIDR: its reason is the dead letter's. */
	err = node_record_parse(&n, it->name, it->node.node_ip ? it->node.node_ip : "",
				it->node.pod_cidr, &e);
	n.from_sync = true;
	if (err || node_upsert(s->a, &n, NULL, &e)) {
		deadletter_add(s, key, strlen(key), 0, "%s", e.msg);
		return;
	}
	deadletter_clear(s, key, strlen(key));
	if (gen_set(&s->loop.nodes, it->name, s->loop.gen))
		log_warn("no memory to track node name=%s: a resync will not remove it", it->name);
	CNT_ADD(s, node_upserts, 1);
}

static void service_apply(struct sync *s, struct item *it)
{
	struct api_error e = {};
	char key[256];

	snprintf(key, sizeof(key), "%s%s", RECORD_KEY_SERVICES, it->name);
	if (it->kind == IT_SVC_DEL) {
		/* Only services that came from etcd; podlanectl's own stay. */
		if (service_store_del(s->a, it->name))
			CNT_ADD(s, svc_deletes, 1);
		return;
	}
	/* service_store_put() takes the spec's contents over (item_free() frees the rest). */
	if (service_store_put(s->a, it->spec, s->loop.gen, &e)) {
		deadletter_add(s, key, strlen(key), 0, "%s", e.msg);
		return;
	}
	deadletter_clear(s, key, strlen(key));
	CNT_ADD(s, svc_upserts, 1);
}

/*
 * Network policy's records. The put functions take the decoded record over; a refusal (no room
 * in podlane_policy, ...) changes nothing and is the key's dead letter, with the reason.
 */
static void policy_apply_item(struct sync *s, struct item *it)
{
	struct api_error e = {};
	const char *prefix;
	char key[512], *slash;
	int err = 0;

	switch (it->kind) {
	case IT_POL_PUT:
	case IT_POL_DEL:
		prefix = RECORD_KEY_POLICIES;
		break;
	case IT_POD_PUT:
	case IT_POD_DEL:
		prefix = RECORD_KEY_PODS;
		break;
	default:
		prefix = RECORD_KEY_NAMESPACES;
		break;
	}
	snprintf(key, sizeof(key), "%s%s", prefix, it->name);
	slash = strchr(it->name, '/');
	switch (it->kind) {
	case IT_POL_PUT:
		err = policy_store_put(s->a, it->policy, s->loop.gen, &e);
		break;
	case IT_POD_PUT:
		err = policy_store_pod_put(s->a, it->pod, s->loop.gen, &e);
		break;
	case IT_NS_PUT:
		err = policy_store_ns_put(s->a, it->ns, s->loop.gen, &e);
		break;
	case IT_POL_DEL:
	case IT_POD_DEL:
		if (!slash)
			return;
		*slash = '\0';
		if (it->kind == IT_POL_DEL)
			policy_store_del(s->a, it->name, slash + 1);
		else
			policy_store_pod_del(s->a, it->name, slash + 1);
		return;
	case IT_NS_DEL:
		policy_store_ns_del(s->a, it->name);
		return;
	default:
		return;
	}
	/* Taken over by the put, whatever it said. */
	free(it->policy);
	free(it->pod);
	free(it->ns);
	it->policy = NULL;
	it->pod = NULL;
	it->ns = NULL;
	if (err) {
		log_warn("etcd record refused key=%s err=\"%s\"", key, e.msg);
		deadletter_add(s, key, strlen(key), 0, "%s", e.msg);
		return;
	}
	deadletter_clear(s, key, strlen(key));
}

/* Another node's pod (from its endpoint record): its identity comes from its metadata. */
static void remote_pod_apply(struct sync *s, struct item *it)
{
	struct api_error e = {};
	char ip[INET_ADDRSTRLEN];

	if (it->kind == IT_RPOD_DEL) {
		policy_store_remote_del(s->a, it->ip, it->node_ip);
		return;
	}
	if (policy_store_remote_put(s->a, it->ip, it->node_ip, it->pod, s->loop.gen, &e)) {
		inet_ntop(AF_INET, &it->ip, ip, sizeof(ip));
		log_warn("another node's pod not known to network policy ip=%s err=\"%s\"", ip,
			 e.msg);
	}
	free(it->pod);
	it->pod = NULL;
}

/* After a full list: the nodes and services it did not confirm are gone from etcd. */
static void sweep(struct sync *s)
{
	struct gen_table *t = &s->loop.nodes;
	struct api_error e = {};
	size_t i = 0;

	while (i < t->n) {
		if (t->v[i].gen == s->loop.gen) {
			i++;
			continue;
		}
		node_remove(s->a, t->v[i].key, NULL, &e);
		gen_remove(t, &t->v[i]);	/* i now holds the last one: look at it next */
		CNT_ADD(s, swept, 1);
	}
	CNT_ADD(s, swept, service_store_sweep(s->a, s->loop.gen));
	CNT_ADD(s, swept, policy_store_sweep(s->a, s->loop.gen));
}

static void apply(struct sync *s, struct item *items, unsigned int n)
{
	unsigned int i;

	/* Other nodes' pods are compiled once per batch, not once each. */
	policy_store_batch(s->a, true);
	for (i = 0; i < n; i++) {
		struct item *it = &items[i];

		switch (it->kind) {
		case IT_NODE_PUT:
		case IT_NODE_DEL:
			node_apply(s, it);
			break;
		case IT_SVC_PUT:
		case IT_SVC_DEL:
			service_apply(s, it);
			break;
		case IT_RESYNC_BEGIN:
			s->loop.gen = it->gen + s->gen_base;
			/* Policies compiled once per batch, not once each, until the list ends. */
			policy_store_listing(s->a, true);
			break;
		case IT_RESYNC_END:
			policy_store_listing(s->a, false);
			policy_store_batch(s->a, false);
			sweep(s);
			policy_store_batch(s->a, true);
			CNT_SET(s, resync_ms_last, (mono_ns() - it->started_ns) / 1000000);
			break;
		case IT_POL_PUT:
		case IT_POL_DEL:
		case IT_POD_PUT:
		case IT_POD_DEL:
		case IT_NS_PUT:
		case IT_NS_DEL:
			policy_apply_item(s, it);
			break;
		case IT_RPOD_PUT:
		case IT_RPOD_DEL:
			remote_pod_apply(s, it);
			break;
		}
		item_free(it);
	}
	policy_store_batch(s->a, false);
	service_store_flush(s->a);	/* the batch's Maglev tables, in one map update */
	CNT_ADD(s, applied, n);
	CNT_SET(s, last_apply_ns, mono_ns());
}

/*
 * Take items off the queue and apply them, a batch at a time, until APPLY_BUDGET items or
 * APPLY_TIME_NS have gone by; true when some are left.
 */
static bool drain(struct sync *s)
{
	struct sync_shared *sh = &s->sh;
	struct item *items = s->loop.items;
	unsigned int done = 0, n, i;
	__u64 t0 = mono_ns();

	while (done < APPLY_BUDGET && mono_ns() - t0 < APPLY_TIME_NS) {
		pthread_mutex_lock(&sh->lock);
		n = sh->count < APPLY_MAIN_CHUNK ? sh->count : APPLY_MAIN_CHUNK;
		for (i = 0; i < n; i++)
			items[i] = sh->q[(sh->head + i) % QUEUE_CAP];
		sh->head = (sh->head + n) % QUEUE_CAP;
		sh->count -= n;
		pthread_cond_signal(&sh->not_full);
		pthread_mutex_unlock(&sh->lock);
		if (!n)
			break;
		apply(s, items, n);
		done += n;
	}
	pthread_mutex_lock(&sh->lock);
	n = sh->count;
	pthread_mutex_unlock(&sh->lock);
	return n;
}

void sync_run(struct agent *a)
{
	struct sync *s = a->sync;
	struct epoll_event evs[2];
	bool handover = false;
	__u64 v, t0, h;
	int k, i;

	if (!s)
		return;
	k = epoll_wait(s->loop.epfd, evs, 2, 0);
	for (i = 0; i < k; i++) {
		const enum sync_source *src = evs[i].data.ptr;

		if (*src == SYNC_SRC_HANDOVER) {
			handover = true;
		} else if (read(s->loop.tfd, &v, sizeof(v)) > 0) {
			t0 = mono_ns();
			sync_snapshot(s);
			loop_time(a, LOOP_SYNC_SNAPSHOT, mono_ns() - t0);
		}
	}
	if (!handover || read(s->efd, &v, sizeof(v)) < 0)
		return;
	t0 = mono_ns();
	h = __atomic_exchange_n(&s->stats.handover_ns, 0, __ATOMIC_RELAXED);
	if (h && t0 > h)
		hist_add(s->stats.lat[SYNC_LAT_HANDOVER], t0 - h);
	if (!drain(s)) {
		loop_time(a, LOOP_SYNC_APPLY, mono_ns() - t0);
		return;
	}
	loop_time(a, LOOP_SYNC_APPLY, mono_ns() - t0);
	/* More left: come back after the loop has looked at everything else. */
	v = 1;
	__atomic_store_n(&s->stats.handover_ns, mono_ns(), __ATOMIC_RELAXED);
	if (write(s->efd, &v, sizeof(v)) < 0)
		log_debug("failed to requeue sync work err=\"%s\"", strerror(errno));
}

/* ---- this node's records out ---- */

struct snap_state {
	struct sync	*s;
	struct pubset	*ps;
	int		err;
};

static void snap_add(struct snap_state *st, int key_err, const char *key, char *val)
{
	int err = key_err ?: pubset_set_owned(st->ps, key, val, 0);

	if (key_err)
		free(val);
	if (err && !st->err)
		st->err = err;
}

static int snap_endpoint(__u32 ifindex, const struct endpoint_meta *m, void *data)
{
	struct snap_state *st = data;
	struct sync *s = st->s;
	char key[512];

	if (m->addr.family != PODLANE_AF_INET)
		return 0;
	snap_add(st, record_endpoint_key(key, sizeof(key), s->node_name, m->container_id,
					 m->ifname), key,
		 record_endpoint_encode(s->node_name, s->node_ip, m->addr.ip4, m->container_id,
					m->ifname, m->network, policy_pod_meta(s->a, ifindex)));
	return st->err;
}

/*
 * This node's pressure hint, as `podlanectl hints` shows it, once accounting has one. Its seq
 * (the tick) changes every second, so the record is put every second even on an idle node:
 * readers (the scheduler extender) tell a live node from a dead one by its "updated".
 */
static void snap_hints(struct snap_state *st)
{
	const struct acct *ac = st->s->a->acct;
	const struct hint *h = &ac->node.hint;
	struct hint_rec r = {
		.score = h->score,
		.cpu = h->cpu,
		.runq = h->runq,
		.memory = h->memory,
		.traffic = h->traffic,
		.cpu_headroom = 100 * (1 - ac->node.busy),
		.cpu_pressure = h->cpu_pressure,
		.has_pressure = true,
		.cpus = ac->node.cpus,
		.seq = ac->seq,
	};
	char key[256];

	if (!ac->seq)
		return;
	snprintf(r.dominant, sizeof(r.dominant), "%s", h->dominant ? h->dominant : "cpu");
	snap_add(st, record_hint_key(key, sizeof(key), st->s->node_name), key,
		 record_hint_encode(st->s->node_name, &r));
}

void sync_snapshot(struct sync *s)
{
	struct sync_loop *l = &s->loop;
	struct snap_state st = { .s = s };
	struct pubset *copy, *old;
	char key[256], cidr[sizeof(s->sh.pod_cidr)];
	int err;

	st.ps = calloc(1, sizeof(*st.ps));
	if (!st.ps)
		return;
	pthread_mutex_lock(&s->sh.lock);
	memcpy(cidr, s->sh.pod_cidr, sizeof(cidr));
	pthread_mutex_unlock(&s->sh.lock);
	snap_add(&st, record_node_key(key, sizeof(key), s->node_name), key,
		 record_node_encode(s->node_name, s->node_ip, cidr));
	err = eps_walk(s->a, snap_endpoint, &st);
	if (s->a->acct)
		snap_hints(&st);
	/*
	 * Unchanged, or incomplete (out of memory: the next tick tries again). An incomplete
	 * snapshot must never reach the publisher: it deletes what a snapshot lacks.
	 */
	if (err || st.err || pubset_equal(st.ps, l->last_snap) || !(copy = pubset_dup(st.ps))) {
		pubset_destroy(st.ps);
		return;
	}
	/* The publisher takes pending over; one it has not taken yet is replaced here. */
	pthread_mutex_lock(&s->sh.lock);
	old = s->sh.pending;
	s->sh.pending = copy;
	s->sh.pub_due = true;
	pthread_cond_signal(&s->sh.pub_wake);
	pthread_mutex_unlock(&s->sh.lock);
	pubset_destroy(old);
	pubset_destroy(l->last_snap);
	l->last_snap = st.ps;
}

/* ---- the main thread's state ---- */

/*
 * The nodes an earlier run took from etcd: generation 0, which no list of this run has, so
 * the first full list removes those etcd no longer holds (deleted while podlaned was down).
 */
static int seed_node(const struct node_record *n, bool installed, void *data)
{
	struct sync *s = data;

	if (n->from_sync && gen_set(&s->loop.nodes, n->name, 0))
		log_warn("no memory to track node name=%s: a resync will not remove it", n->name);
	return 0;
}

int loop_state_open(struct sync *s)
{
	struct sync_loop *l = &s->loop;
	struct epoll_event ev = { .events = EPOLLIN };
	struct itimerspec its = {
		.it_interval.tv_nsec = SNAPSHOT_MS * 1000000L,
		.it_value.tv_nsec = SNAPSHOT_MS * 1000000L,
	};

	l->src_handover = SYNC_SRC_HANDOVER;
	l->src_snapshot = SYNC_SRC_SNAPSHOT;
	l->gen = s->gen_base;
	node_walk(s->a, seed_node, s);
	l->items = malloc(APPLY_CHUNK * sizeof(*l->items));	/* filled before use */
	if (!l->items)
		return -ENOMEM;
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->tfd < 0 || l->epfd < 0 || timerfd_settime(l->tfd, 0, &its, NULL))
		return -errno;
	ev.data.ptr = &l->src_handover;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->efd, &ev))
		return -errno;
	ev.data.ptr = &l->src_snapshot;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &ev))
		return -errno;
	return 0;
}

void loop_state_close(struct sync *s)
{
	struct sync_loop *l = &s->loop;

	pubset_destroy(l->last_snap);
	l->last_snap = NULL;
	gen_free(&l->nodes);
	free(l->items);
	l->items = NULL;
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->epfd >= 0)
		close(l->epfd);
	l->tfd = l->epfd = -1;
}
