// SPDX-License-Identifier: GPL-2.0-only
/*
 * sync/io.c - the sync's I/O thread: the session (layout version, this node's pod CIDR
 * claim), the full list and the watch, the circuit breaker, and what becomes of each record
 * it reads (decoded by records.c): other nodes' endpoints into podlane_remote (remote.c), nodes,
 * services and network policy's records (policies, pods, namespaces, the pods other nodes'
 * endpoints name) onto the queue for the main thread (apply.c), this node's own records into
 * the publisher's mirror (publish.c), bad records into the dead letters (status.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "core/loop.h"
#include "etcd.h"
#include "log.h"
#include "policy_spec.h"
#include "service_spec.h"
#include "sync/sync_int.h"

/* ---- the queue to the main thread ---- */

static void first_item(struct sync *s)
{
	if (!CNT(s, first_item_ns))
		CNT_SET(s, first_item_ns, mono_ns());
}

/* Hand over what was parsed so far: endpoints into the map, the rest to the main thread. */
static int queue_flush(struct sync *s)
{
	struct sync_shared *sh = &s->sh;
	struct sync_io *io = &s->io;
	unsigned int i, n = io->nbatch;
	__u64 one = 1;
	bool was_empty;

	remote_flush(s);
	if (!n)
		return 0;
	pthread_mutex_lock(&sh->lock);
	while (sh->count + n > QUEUE_CAP && !sh->stop) {
		struct timespec ts = sync_deadline(100);

		CNT_ADD(s, queue_full_waits, 1);
		pthread_cond_timedwait(&sh->not_full, &sh->lock, &ts);
	}
	if (sh->stop) {
		pthread_mutex_unlock(&sh->lock);
		for (i = 0; i < n; i++)
			item_free(&io->batch[i]);
		io->nbatch = 0;
		return -ECANCELED;
	}
	was_empty = !sh->count;
	for (i = 0; i < n; i++)
		sh->q[(sh->head + sh->count + i) % QUEUE_CAP] = io->batch[i];
	sh->count += n;
	pthread_mutex_unlock(&sh->lock);
	io->nbatch = 0;
	if (!was_empty)
		return 0;
	__atomic_store_n(&s->stats.handover_ns, mono_ns(), __ATOMIC_RELAXED);
	if (write(s->efd, &one, sizeof(one)) < 0)
		log_debug("failed to wake the main loop err=\"%s\"", strerror(errno));
	return 0;
}

/* Takes it over: freed when it cannot be queued. */
static int queue_push(struct sync *s, struct item *it)
{
	struct sync_io *io = &s->io;

	first_item(s);
	if (io->nbatch == IO_BATCH) {
		int err = queue_flush(s);

		if (err) {
			item_free(it);
			return err;
		}
	}
	io->batch[io->nbatch++] = *it;
	return 0;
}

/* ---- records in ---- */

static bool is_own(struct sync *s, const char *node, size_t len)
{
	return len == strlen(s->node_name) && !memcmp(node, s->node_name, len);
}

static void own_record(struct sync *s, const struct etcd_kv *kv, bool deleted)
{
	pub_mirror(s, kv->key, kv->value, kv->value_len, kv->lease, deleted);
}

/*
 * The pod another node's endpoint record names goes to network policy on the main thread, in
 * the order of the events; ep_pods remembers which keys named one, so that a record without
 * one (or its delete) removes it there, and no other endpoint event costs the queue a slot.
 */
static int rpod_put(struct sync *s, __u64 h, struct endpoint_rec *r)
{
	struct item it = { .kind = IT_RPOD_PUT, .ip = r->ip, .node_ip = r->node_ip, .pod = r->pod };

	r->pod = NULL;
	if (keyidx_set(&s->io.ep_pods, h, 1, NULL) < 0)
		log_warn("no memory to index an endpoint's pod: its delete waits for a full list");
	return queue_push(s, &it);
}

static int rpod_del(struct sync *s, __u64 h, __be32 ip, __be32 node_ip)
{
	struct item it = { .kind = IT_RPOD_DEL, .ip = ip, .node_ip = node_ip };

	if (!keyidx_del(&s->io.ep_pods, h, NULL))
		return 0;
	return queue_push(s, &it);
}

/*
 * An endpoint record of another node, from the list or the watch. The IP a delete removes,
 * and the one an update moves away from, come from ep_ips (filled here by every valid record,
 * rebuilt by each full list); a record never applied (a dead letter) has nothing to remove.
 */
static int endpoint_in(struct sync *s, const struct etcd_kv *kv, const struct record_key *k,
		       bool deleted, bool live)
{
	struct sync_io *io = &s->io;
	struct ep_change c = { .live = live };
	char why[RECORD_WHY_LEN];
	struct endpoint_rec r;
	__u32 ip, node_ip = 0, old_ip, old_node_ip = 0;
	__u64 h, node_h;
	int had, err;

	h = keyidx_hash(kv->key, kv->key_len);
	node_h = keyidx_hash(k->node, k->node_len);
	if (deleted) {
		deadletter_clear(s, kv->key, kv->key_len);
		if (!keyidx_del(&io->ep_ips, h, &ip))
			return 0;
		/* remote_del() removes the IP only while the map still gives it to this node. */
		keyidx_get(&io->ep_nodes, node_h, &node_ip);
		first_item(s);
		remote_del(s, ip, node_ip);
		return rpod_del(s, h, ip, node_ip);
	}
	err = record_endpoint_decode(io->tok, kv->value, kv->value_len, &r, why);
	if (err == -ENOMEM) {
		record_endpoint_free(&r);
		return err;
	}
	if (err) {
		/* The map keeps what the last valid record said, and so does ep_ips. */
		record_endpoint_free(&r);
		deadletter_add(s, kv->key, kv->key_len, kv->mod_revision, "%s", why);
		return 0;
	}
	deadletter_clear(s, kv->key, kv->key_len);
	keyidx_get(&io->ep_nodes, node_h, &old_node_ip);
	had = keyidx_set(&io->ep_ips, h, r.ip, &old_ip);
	if (keyidx_set(&io->ep_nodes, node_h, r.node_ip, NULL) < 0 || had < 0)
		/* Applied all the same; its delete will miss the IP until a full list sweeps it. */
		log_warn("no memory to index endpoint key=%.*s", (int)kv->key_len, kv->key);
	first_item(s);
	/* The pod's IP changed: the old one is no longer this endpoint's. */
	if (had == 1 && old_ip != r.ip) {
		remote_del(s, old_ip, old_node_ip);
		err = rpod_del(s, h, old_ip, old_node_ip);
		if (err) {
			record_endpoint_free(&r);
			return err;
		}
	}
	if (r.pod)
		cluster_pod_seen(s, k->node, k->node_len, r.pod->namespace, r.pod->name);
	/* Its pod (namespace, labels, named ports) for network policy, or none any more. */
	err = r.pod ? rpod_put(s, h, &r) : rpod_del(s, h, r.ip, r.node_ip);
	record_endpoint_free(&r);
	if (err)
		return err;
	c.ip = r.ip;
	c.node_ip = r.node_ip;
	c.written_ns = r.updated;
	c.recv_ns = clock_ns(CLOCK_REALTIME);
	if (live && c.written_ns)
		hist_add(s->stats.lat[SYNC_LAT_DELIVERY], c.recv_ns - c.written_ns);
	remote_put(s, &c);
	return 0;
}

static int node_in(struct sync *s, const struct etcd_kv *kv, const struct record_key *k,
		   bool deleted)
{
	struct item it = { .kind = deleted ? IT_NODE_DEL : IT_NODE_PUT };
	char why[RECORD_WHY_LEN];
	int err;

	it.name = strndup(k->node, k->node_len);
	if (!it.name)
		return -ENOMEM;
	if (deleted) {
		deadletter_clear(s, kv->key, kv->key_len);
		return queue_push(s, &it);
	}
	/* Its address and CIDR nodes/ checks when the main thread applies it. */
	err = record_node_decode(s->io.tok, k->node, k->node_len, kv->value, kv->value_len,
				 &it.node, why);
	if (err) {
		if (err == -EINVAL)
			deadletter_add(s, kv->key, kv->key_len, kv->mod_revision, "%s", why);
		item_free(&it);
		return err == -EINVAL ? 0 : err;
	}
	return queue_push(s, &it);
}

static int service_in(struct sync *s, const struct etcd_kv *kv, const struct record_key *k,
		      bool deleted)
{
	struct item it = { .kind = deleted ? IT_SVC_DEL : IT_SVC_PUT };
	char why[RECORD_WHY_LEN];

	it.name = strndup(k->service, k->service_len);
	if (!it.name)
		return -ENOMEM;
	if (deleted) {
		deadletter_clear(s, kv->key, kv->key_len);
		return queue_push(s, &it);
	}
	/*
	 * Validated here, by the one service validator, and queued as the compact spec: the
	 * JSON tree is several times its size, and a resync queues thousands of them.
	 */
	it.spec = malloc(sizeof(*it.spec));
	if (!it.spec) {
		item_free(&it);
		return -ENOMEM;
	}
	if (record_service_decode(s->io.tok, k->service, k->service_len, kv->value,
				  kv->value_len, it.spec, why)) {
		deadletter_add(s, kv->key, kv->key_len, kv->mod_revision, "%s", why);
		free(it.spec);
		it.spec = NULL;
		item_free(&it);
		return 0;
	}
	return queue_push(s, &it);
}

/*
 * A policy, pod or namespace record: validated here by the one validator of its kind, queued
 * decoded for policy/ on the main thread. A record that fails is a dead letter with its field
 * and reason, and what the last valid record of that key said stays in force.
 */
static int policy_record_in(struct sync *s, const struct etcd_kv *kv, const struct record_key *k,
			    bool deleted)
{
	static const enum item_kind put[] = {
		[RECORD_POLICY] = IT_POL_PUT, [RECORD_POD] = IT_POD_PUT,
		[RECORD_NAMESPACE] = IT_NS_PUT,
	}, del[] = {
		[RECORD_POLICY] = IT_POL_DEL, [RECORD_POD] = IT_POD_DEL,
		[RECORD_NAMESPACE] = IT_NS_DEL,
	};
	struct item it = { .kind = deleted ? del[k->kind] : put[k->kind] };
	json_tokener *tok = s->io.tok;
	char why[RECORD_WHY_LEN];
	int err;

	it.name = strndup(k->object, k->object_len);
	if (!it.name)
		return -ENOMEM;
	if (deleted) {
		deadletter_clear(s, kv->key, kv->key_len);
		return queue_push(s, &it);
	}
	switch (k->kind) {
	case RECORD_POLICY:
		it.policy = calloc(1, sizeof(*it.policy));
		err = it.policy ? record_policy_decode(tok, k->object, k->object_len, kv->value,
						       kv->value_len, it.policy, why) : -ENOMEM;
		if (err && it.policy) {
			free(it.policy);
			it.policy = NULL;
		}
		break;
	case RECORD_POD:
		it.pod = calloc(1, sizeof(*it.pod));
		err = it.pod ? record_pod_decode(tok, k->object, k->object_len, kv->value,
						 kv->value_len, it.pod, why) : -ENOMEM;
		if (err && it.pod) {
			free(it.pod);
			it.pod = NULL;
		}
		break;
	default:
		it.ns = calloc(1, sizeof(*it.ns));
		err = it.ns ? record_namespace_decode(tok, k->object, k->object_len, kv->value,
						      kv->value_len, it.ns, why) : -ENOMEM;
		if (err && it.ns) {
			free(it.ns);
			it.ns = NULL;
		}
		break;
	}
	if (err) {
		if (err == -EINVAL)
			deadletter_add(s, kv->key, kv->key_len, kv->mod_revision, "%s", why);
		item_free(&it);
		return err == -EINVAL ? 0 : err;
	}
	return queue_push(s, &it);
}

/* A node's hint into the cluster view; a record that does not decode is a dead letter. */
static int hint_in(struct sync *s, const struct etcd_kv *kv, const struct record_key *k,
		   bool deleted)
{
	char why[RECORD_WHY_LEN];
	struct hint_rec h;

	if (deleted) {
		deadletter_clear(s, kv->key, kv->key_len);
		cluster_hint_del(s, k->node, k->node_len);
		return 0;
	}
	if (record_hint_decode(s->io.tok, k->node, k->node_len, kv->value, kv->value_len, &h,
			       why)) {
		deadletter_add(s, kv->key, kv->key_len, kv->mod_revision, "%s", why);
		return 0;
	}
	deadletter_clear(s, kv->key, kv->key_len);
	cluster_hint_put(s, k->node, k->node_len, &h);
	return 0;
}

/* This node's endpoint record: the pod it names counts as seen (pending placements). */
static void own_pod_seen(struct sync *s, const struct etcd_kv *kv, const struct record_key *k)
{
	char why[RECORD_WHY_LEN];
	struct endpoint_rec r;

	if (!record_endpoint_decode(s->io.tok, kv->value, kv->value_len, &r, why) && r.pod)
		cluster_pod_seen(s, k->node, k->node_len, r.pod->namespace, r.pod->name);
	record_endpoint_free(&r);
}

static int record_in(struct sync *s, const struct etcd_kv *kv, bool deleted, bool live)
{
	char why[RECORD_WHY_LEN];
	struct record_key k;
	int err = record_key_parse(kv->key, kv->key_len, &k, why);

	switch (k.kind) {
	case RECORD_ENDPOINT:
	case RECORD_NODE:
	case RECORD_SERVICE:
		if (err) {
			if (!deleted)
				deadletter_add(s, kv->key, kv->key_len, kv->mod_revision, "%s",
					       why);
			return 0;
		}
		if (k.kind != RECORD_SERVICE && is_own(s, k.node, k.node_len)) {
			own_record(s, kv, deleted);
			if (k.kind == RECORD_ENDPOINT && !deleted)
				own_pod_seen(s, kv, &k);
			return 0;
		}
		if (k.kind == RECORD_ENDPOINT)
			return endpoint_in(s, kv, &k, deleted, live);
		if (k.kind == RECORD_NODE)
			return node_in(s, kv, &k, deleted);
		return service_in(s, kv, &k, deleted);
	case RECORD_POLICY:
	case RECORD_POD:
	case RECORD_NAMESPACE:
		if (err) {
			if (!deleted)
				deadletter_add(s, kv->key, kv->key_len, kv->mod_revision, "%s",
					       why);
			return 0;
		}
		return policy_record_in(s, kv, &k, deleted);
	case RECORD_HINT:
		/*
		 * Every node's hint (ours too) goes to the cluster view (cluster.c) for the
		 * scheduler extender. Ours are also mirrored, under a malformed key too: the
		 * publisher removes what this node does not want.
		 */
		if (is_own(s, k.node, k.node_len))
			own_record(s, kv, deleted);
		return err ? 0 : hint_in(s, kv, &k, deleted);
	default:
		/* CIDR claims (read by allocate_cidr), the version, the reserved kinds. */
		return 0;
	}
}

static int list_cb(const struct etcd_kv *kv, void *data)
{
	struct sync *s = data;

	CNT_ADD(s, listed, 1);
	return record_in(s, kv, false, false);
}

static int watch_event(const struct etcd_event *ev, void *data)
{
	struct sync *s = data;

	CNT_ADD(s, events, 1);
	if (ev->kv.mod_revision > s->io.last_rev)
		s->io.last_rev = ev->kv.mod_revision;
	return record_in(s, &ev->kv, ev->type == ETCD_EVENT_DELETE, true);
}

static void watch_progress(int64_t rev, void *data)
{
	struct sync *s = data;

	if (rev > s->io.last_rev)
		s->io.last_rev = rev;
	queue_flush(s);
	pthread_mutex_lock(&s->sh.lock);
	s->sh.revision = s->io.last_rev;
	pthread_mutex_unlock(&s->sh.lock);
}

static void watch_received(void *data)
{
	queue_flush(data);
}

static const struct etcd_watch_ops watch_ops = {
	.event = watch_event,
	.progress = watch_progress,
	.received = watch_received,
};

/* ---- the full list ---- */

/* list_range's walk: the last key seen, where the next page starts. */
struct list_walk {
	struct sync	*s;
	char		*last;
	size_t		last_len, last_cap;
};

static int list_walk_cb(const struct etcd_kv *kv, void *data)
{
	struct list_walk *w = data;

	if (kv->key_len + 1 > w->last_cap) {
		char *p = realloc(w->last, kv->key_len + 1);

		if (!p)
			return -ENOMEM;
		w->last = p;
		w->last_cap = kv->key_len + 1;
	}
	memcpy(w->last, kv->key, kv->key_len);
	w->last[kv->key_len] = '\0';
	w->last_len = kv->key_len;
	return list_cb(kv, w->s);
}

/*
 * Every key in [from, end) at revision *rev (0: the latest, and *rev gets it), LIST_PAGE keys
 * a request; each page after the first starts just after the last key seen.
 */
static int list_range(struct sync *s, const char *from, const char *end, int64_t *rev)
{
	struct list_walk w = { .s = s };
	size_t elen = strlen(end);
	unsigned int pages = 0;
	bool more = true;
	int err;

	err = etcd_range(s->io.ec, from, strlen(from), end, elen, *rev, LIST_PAGE, list_walk_cb,
			 &w, *rev ? NULL : rev, &more);
	/* Bounded by the store's size: every page moves past at least one key. */
	while (!err && more && w.last_len && ++pages < LIST_MAX_PAGES)
		/* The key plus its NUL, the smallest key after it. */
		err = etcd_range(s->io.ec, w.last, w.last_len + 1, end, elen, *rev, LIST_PAGE,
				 list_walk_cb, &w, NULL, &more);
	if (!err && more && pages >= LIST_MAX_PAGES)
		err = -E2BIG;
	free(w.last);
	return err;
}

/*
 * The whole store at one revision, in three ranges: first everything but the endpoints
 * (nodes, services, our hints), handed to the main thread at once so that it applies the
 * services (Maglev tables are the costly part) while this thread lists the endpoints; then the
 * endpoints at the same revision. Keys before "endpoints/" are listed too, for completeness.
 */
static int list_all(struct sync *s, int64_t *rev)
{
	char end[sizeof(RECORD_PREFIX)], ep_end[sizeof(RECORD_KEY_ENDPOINTS)];
	int err;

	etcd_prefix_end(RECORD_PREFIX, strlen(RECORD_PREFIX), end);
	end[strlen(RECORD_PREFIX)] = '\0';
	memcpy(ep_end, RECORD_KEY_ENDPOINTS, sizeof(RECORD_KEY_ENDPOINTS));
	ep_end[strlen(RECORD_KEY_ENDPOINTS) - 1]++;	/* "endpoints0": after every "endpoints/" */
	*rev = 0;
	err = list_range(s, ep_end, end, rev);
	if (!err)
		err = queue_flush(s);
	if (!err)
		err = list_range(s, RECORD_PREFIX, RECORD_KEY_ENDPOINTS, rev);
	if (!err)
		err = list_range(s, RECORD_KEY_ENDPOINTS, ep_end, rev);
	return err;
}

static int full_list(struct sync *s)
{
	struct sync_io *io = &s->io;
	struct item it = { .kind = IT_RESYNC_BEGIN };
	__u64 t0 = mono_ns();
	int64_t rev = 0;
	int err;

	sync_set_state(s, "listing");
	io->gen++;
	pub_mirror_clear(s);
	/* Refilled by the list; the sweep takes out of the map what the list did not confirm. */
	keyidx_clear(&io->ep_ips);
	keyidx_clear(&io->ep_nodes);
	keyidx_clear(&io->ep_pods);
	it.gen = io->gen;
	err = queue_push(s, &it);
	if (!err)
		err = list_all(s, &rev);
	if (err) {
		queue_flush(s);
		return err;
	}
	remote_sweep(s);
	it = (struct item){ .kind = IT_RESYNC_END, .started_ns = t0 };
	err = queue_push(s, &it);
	if (!err)
		err = queue_flush(s);
	if (err)
		return err;
	io->last_rev = rev;
	io->listing = false;
	CNT_ADD(s, resyncs, 1);
	pthread_mutex_lock(&s->sh.lock);
	s->sh.revision = rev;
	pthread_mutex_unlock(&s->sh.lock);
	log_info("etcd list done revision=%lld keys=%llu ms=%llu", (long long)rev,
		 (unsigned long long)CNT(s, listed),
		 (unsigned long long)((mono_ns() - t0) / 1000000));
	return 0;
}

/* ---- the session: layout version, pod CIDR ---- */

struct version_seen {
	int	err;
	char	why[RECORD_WHY_LEN];
};

static int version_cb(const struct etcd_kv *kv, void *data)
{
	struct version_seen *v = data;

	v->err = record_version_check(kv->value, kv->value_len, v->why);
	return 0;
}

/* The layout is ours to define once; an agent never syncs against a layout it does not know. */
static int check_version(struct sync *s)
{
	struct version_seen v;
	bool created;
	int err = etcd_create(s->io.ec, RECORD_KEY_VERSION, RECORD_LAYOUT_VERSION, 0, &created);

	if (err || created)
		return err;
	/* Gone again before the range: as good as a version this agent does not know. */
	v.err = record_version_check("", 0, v.why);
	err = etcd_range(s->io.ec, RECORD_KEY_VERSION, strlen(RECORD_KEY_VERSION), NULL, 0, 0, 0,
			 version_cb, &v, NULL, NULL);
	if (err)
		return err;
	if (v.err)
		log_error("%s", v.why);
	return v.err;
}

struct cidr_scan {
	struct sync	*s;
	struct subnet4	mine;		/* prefix_len 0: none yet */
	unsigned char	*taken;		/* bitmap over candidate subnets */
	size_t		ncand;
};

static int cidr_cb(const struct etcd_kv *kv, void *data)
{
	struct cidr_scan *cs = data;
	struct sync *s = cs->s;
	char why[RECORD_WHY_LEN], node[PODLANE_NODE_NAME_LEN];
	struct record_key k;
	size_t idx;

	if (record_key_parse(kv->key, kv->key_len, &k, why) || k.kind != RECORD_CIDR ||
	    !subnet_contains(&s->cluster, k.cidr.net) || k.cidr.prefix_len != s->o.node_cidr_len)
		return 0;
	idx = (ntohl(k.cidr.net) - ntohl(s->cluster.net)) >> (32 - k.cidr.prefix_len);
	if (idx < cs->ncand)
		cs->taken[idx / 8] |= 1 << (idx % 8);
	if (!record_cidr_decode(s->io.tok, kv->value, kv->value_len, node, why) &&
	    !strcmp(node, s->node_name))
		cs->mine = k.cidr;
	return 0;
}

/*
 * This node's pod CIDR: the allocation it already holds, else the first free one, claimed in
 * a txn that only succeeds when nobody created that allocation record first. On this thread,
 * before the first list: the node record the publisher puts carries it.
 */
static int allocate_cidr(struct sync *s)
{
	struct sync_io *io = &s->io;
	struct cidr_scan cs = { .s = s };
	unsigned int bits = s->o.node_cidr_len - s->cluster.prefix_len;
	char *value;
	size_t i;
	int err;

	if (!s->o.cluster_cidr || io->pod_cidr[0])
		return 0;
	cs.ncand = (size_t)1 << bits;
	cs.taken = calloc(cs.ncand / 8 + 1, 1);
	value = record_cidr_encode(s->node_name);
	if (!cs.taken || !value) {
		free(cs.taken);
		free(value);
		return -ENOMEM;
	}
	err = etcd_range_prefix(io->ec, RECORD_KEY_CIDRS, LIST_PAGE, cidr_cb, &cs, NULL);
	for (i = 0; !err && !cs.mine.prefix_len && i < cs.ncand; i++) {
		struct subnet4 sn = {
			.net = htonl(ntohl(s->cluster.net) + (i << (32 - s->o.node_cidr_len))),
			.prefix_len = s->o.node_cidr_len,
		};
		char key[128];
		bool created;

		if (cs.taken[i / 8] & (1 << (i % 8)))
			continue;
		record_cidr_key(key, sizeof(key), &sn);
		err = etcd_create(io->ec, key, value, 0, &created);
		if (!err && created)
			cs.mine = sn;
	}
	free(cs.taken);
	free(value);
	if (err)
		return err;
	if (!cs.mine.prefix_len) {
		log_error("no free pod CIDR of size /%u left in cluster CIDR '%s'",
			  s->o.node_cidr_len, s->o.cluster_cidr);
		return -ENOSPC;
	}
	cidr4_str(cs.mine.net, cs.mine.prefix_len, io->pod_cidr);
	pthread_mutex_lock(&s->sh.lock);
	memcpy(s->sh.pod_cidr, io->pod_cidr, sizeof(s->sh.pod_cidr));
	pthread_mutex_unlock(&s->sh.lock);
	log_info("pod CIDR allocated node=%s pod_cidr=%s", s->node_name, io->pod_cidr);
	return 0;
}

/* ---- failures and the breaker ---- */

/* Sleep ms unless stopped. */
static void io_wait(struct sync *s, unsigned int ms)
{
	struct timespec ts = sync_deadline(ms);

	pthread_mutex_lock(&s->sh.lock);
	if (!s->sh.stop)
		pthread_cond_timedwait(&s->sh.io_wake, &s->sh.lock, &ts);
	pthread_mutex_unlock(&s->sh.lock);
}

/* A failed step: how long to wait before the next try. */
static unsigned int failure(struct sync *s, int err, const char *what)
{
	struct sync_shared *sh = &s->sh;
	unsigned int n, ms;

	CNT_ADD(s, failures, 1);
	pthread_mutex_lock(&sh->lock);
	n = ++sh->consecutive_failures;
	snprintf(sh->last_error, sizeof(sh->last_error), "%s: %s (%s)", what,
		 etcd_last_error(s->io.ec), strerror(-err));
	pthread_mutex_unlock(&sh->lock);
	log_warn("etcd sync failed step=%s err=\"%s\" detail=\"%s\" failures=%u", what,
		 strerror(-err), etcd_last_error(s->io.ec), n);
	etcd_endpoint_next(s->io.ec);
	if (n < BREAKER_THRESHOLD) {
		/* The next endpoint at once; then 100 ms, 200 ms, ... */
		ms = n == 1 ? 0 : 100U << (n - 2);
		sync_set_state(s, "reconnecting");
		return ms;
	}
	/* Open: leave the store alone for a while, then let one probe through. */
	ms = BREAKER_OPEN_MS << (n - BREAKER_THRESHOLD < 3 ? n - BREAKER_THRESHOLD : 3);
	if (ms > BREAKER_OPEN_MAX_MS)
		ms = BREAKER_OPEN_MAX_MS;
	pthread_mutex_lock(&sh->lock);
	if (!sh->breaker_open)
		CNT_ADD(s, breaker_opens, 1);
	sh->breaker_open = true;
	pthread_mutex_unlock(&sh->lock);
	sync_set_state(s, "breaker-open");
	return ms;
}

static void success(struct sync *s)
{
	pthread_mutex_lock(&s->sh.lock);
	s->sh.consecutive_failures = 0;
	s->sh.breaker_open = false;
	pthread_mutex_unlock(&s->sh.lock);
}

/* Layout checked, our records mirrored from the list: the publisher may start. */
static void pub_start(struct sync *s)
{
	s->io.pub_ready = true;
	pthread_mutex_lock(&s->sh.lock);
	s->sh.pub_ready = true;
	pthread_mutex_unlock(&s->sh.lock);
	pub_wakeup(s);
}

void *io_thread(void *arg)
{
	struct sync *s = arg;
	struct sync_io *io = &s->io;
	struct etcd_watch *w = NULL;
	const char *replay = getenv("PODLANE_SYNC_REPLAY_FROM");
	bool session = false;
	unsigned int wait_ms = 0;
	int err;

	loop_short_slice("sync-io");
	io->listing = true;
	/* Benchmark hook: replay the store's history from a revision instead of listing it. */
	if (replay) {
		io->last_rev = strtoll(replay, NULL, 10) - 1;
		io->listing = false;
	}
	while (!sync_stopping(s)) {
		const char *step;

		if (wait_ms) {
			io_wait(s, wait_ms);
			wait_ms = 0;
			continue;
		}
		if (!session) {
			sync_set_state(s, "connecting");
			step = "version";
			err = check_version(s);
			if (!err) {
				step = "cidr";
				err = allocate_cidr(s);
			}
			if (err) {
				wait_ms = failure(s, err, step);
				continue;
			}
			session = true;
		}
		if (io->listing) {
			etcd_watch_stop(w);
			w = NULL;
			err = full_list(s);
			if (err) {
				if (err == -ECANCELED)
					break;
				wait_ms = failure(s, err, "list");
				session = false;
				continue;
			}
		}
		if (!w) {
			w = etcd_watch_start(io->ec, RECORD_PREFIX, io->last_rev + 1, &watch_ops,
					     s);
			if (!w) {
				wait_ms = failure(s, -errno, "watch");
				continue;
			}
			sync_set_state(s, "watching");
			if (!io->pub_ready)
				pub_start(s);
		}
		err = etcd_watch_poll(w, 100);
		queue_flush(s);
		if (err == -ERANGE) {
			CNT_ADD(s, compactions, 1);
			log_warn("etcd watch revision compacted, full resync revision=%lld "
				 "compacted=%lld", (long long)io->last_rev + 1,
				 (long long)etcd_watch_compacted(w));
			etcd_watch_stop(w);
			w = NULL;
			io->listing = true;
			continue;
		}
		if (err == -ECANCELED && sync_stopping(s))
			break;
		if (err) {
			etcd_watch_stop(w);
			w = NULL;
			CNT_ADD(s, reconnects, 1);
			wait_ms = failure(s, err, "watch");
			session = false;
			continue;
		}
		success(s);
	}
	etcd_watch_stop(w);
	return NULL;
}
