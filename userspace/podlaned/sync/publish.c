// SPDX-License-Identifier: GPL-2.0-only
/*
 * sync/publish.c - the publisher thread: keeps this node's lease alive and its records in etcd
 * with a client of its own, so that no put or keepalive (a round trip to etcd's leader each)
 * holds up the watch. It puts what the main thread's snapshot wants and etcd does not hold,
 * and deletes what the snapshot no longer has; what etcd holds for this node is the mirror,
 * which the I/O thread keeps from the list and the watch (pub_mirror()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "etcd.h"
#include "log.h"
#include "sync/sync_int.h"

/* ---- the mirror (I/O thread side) ---- */

void pub_wakeup(struct sync *s)
{
	pthread_mutex_lock(&s->sh.lock);
	s->sh.pub_due = true;
	pthread_cond_signal(&s->sh.pub_wake);
	pthread_mutex_unlock(&s->sh.lock);
}

void pub_mirror(struct sync *s, const char *key, const char *val, size_t val_len, int64_t lease,
		bool deleted)
{
	char *v = NULL;

	/* Kept as the encoder writes it, so the publisher compares it with what it wants. */
	if (!deleted) {
		v = record_unstamp(s->io.tok, val, val_len);
		if (!v)
			return;
	}
	pthread_mutex_lock(&s->mirror.lock);
	if (deleted)
		pubset_del(&s->mirror.published, key);
	else
		pubset_set_owned(&s->mirror.published, key, v, lease);
	pthread_mutex_unlock(&s->mirror.lock);
	/* A record of ours deleted or changed by someone else: put it back. */
	if (deleted && s->io.pub_ready)
		pub_wakeup(s);
}

void pub_mirror_clear(struct sync *s)
{
	pthread_mutex_lock(&s->mirror.lock);
	pubset_free(&s->mirror.published);
	pthread_mutex_unlock(&s->mirror.lock);
}

/* ---- the publisher thread ---- */

static int lease_ensure(struct sync *s)
{
	struct sync_pub *p = &s->pub;
	int64_t id, ttl;
	int err;

	if (p->lease) {
		err = etcd_lease_keepalive(p->ec, p->lease, &ttl);
		if (err)
			return err;
		pthread_mutex_lock(&s->sh.lock);
		s->sh.lease_ttl_left = ttl;
		pthread_mutex_unlock(&s->sh.lock);
		if (ttl > 0)
			return 0;
		log_warn("etcd lease expired, records are republished lease=%lld",
			 (long long)p->lease);
	}
	err = etcd_lease_grant(p->ec, s->o.lease_ttl, &id);
	if (err)
		return err;
	CNT_ADD(s, lease_grants, 1);
	p->lease = id;
	pthread_mutex_lock(&s->sh.lock);
	s->sh.lease = id;
	s->sh.lease_ttl_left = s->o.lease_ttl;
	pthread_mutex_unlock(&s->sh.lock);
	return 0;
}

/* Whether etcd holds w as it is, under the current lease. */
static bool published(struct sync *s, const struct pub *w)
{
	struct pubset *m = &s->mirror.published;
	bool found, same;
	size_t at;

	pthread_mutex_lock(&s->mirror.lock);
	at = pubset_find(m, w->key, &found);
	same = found && m->v[at].lease == s->pub.lease && !strcmp(m->v[at].val, w->val);
	pthread_mutex_unlock(&s->mirror.lock);
	return same;
}

static int put_wanted(struct sync *s, const struct pubset *want)
{
	struct sync_pub *p = &s->pub;
	size_t i, len;
	char *v;
	int err;

	for (i = 0; i < want->n; i++) {
		const struct pub *w = &want->v[i];

		if (published(s, w))
			continue;
		v = record_stamp(p->tok, w->val, clock_ns(CLOCK_REALTIME), &len);
		if (!v)
			return -ENOMEM;
		err = etcd_put(p->ec, w->key, v, len, p->lease, NULL);
		free(v);
		if (err)
			return err;
		pthread_mutex_lock(&s->mirror.lock);
		pubset_set(&s->mirror.published, w->key, w->val, p->lease);
		pthread_mutex_unlock(&s->mirror.lock);
		CNT_ADD(s, published_puts, 1);
	}
	return 0;
}

/* The first key of ours in etcd, from index *at on, that want lacks (malloc'ed); *at is its. */
static char *unwanted(struct sync *s, const struct pubset *want, size_t *at)
{
	struct pubset *m = &s->mirror.published;
	char *key = NULL;
	bool found;
	size_t i;

	pthread_mutex_lock(&s->mirror.lock);
	for (i = *at; i < m->n; i++) {
		pubset_find(want, m->v[i].key, &found);
		if (!found) {
			key = strdup(m->v[i].key);
			break;
		}
	}
	*at = i;
	pthread_mutex_unlock(&s->mirror.lock);
	return key;
}

/*
 * Once deleted, a key leaves the mirror and the next one takes its index. Bounded by the
 * mirror's size: the watch may change it meanwhile, never grow it for ever.
 */
static int delete_unwanted(struct sync *s, const struct pubset *want)
{
	size_t rounds, at = 0;
	char *key;
	int err = 0;

	pthread_mutex_lock(&s->mirror.lock);
	rounds = s->mirror.published.n;
	pthread_mutex_unlock(&s->mirror.lock);
	for (; !err && rounds && (key = unwanted(s, want, &at)); rounds--) {
		err = etcd_delete(s->pub.ec, key, NULL, NULL);
		if (!err) {
			CNT_ADD(s, published_deletes, 1);
			pthread_mutex_lock(&s->mirror.lock);
			pubset_del(&s->mirror.published, key);
			pthread_mutex_unlock(&s->mirror.lock);
		}
		free(key);
	}
	return err;
}

/*
 * Put what the main thread wants and etcd does not hold; delete what it no longer wants. A put
 * waits for etcd's answer (milliseconds, more when etcd is busy), and the watch must not wait
 * with it: hence this thread.
 */
static int publish(struct sync *s)
{
	struct sync_pub *p = &s->pub;
	struct pubset *old = NULL;
	int err;

	/* A new snapshot replaces the one this thread holds (and retries until it is out). */
	pthread_mutex_lock(&s->sh.lock);
	if (s->sh.pending) {
		old = p->cur;
		p->cur = s->sh.pending;
		s->sh.pending = NULL;
	}
	pthread_mutex_unlock(&s->sh.lock);
	pubset_destroy(old);
	if (!p->cur)
		return 0;
	err = put_wanted(s, p->cur) ?: delete_unwanted(s, p->cur);
	if (err)
		CNT_ADD(s, publish_errors, 1);
	return err;
}

/* Wait up to ms for something to publish; true when stopping. */
static bool pub_wait(struct sync *s, unsigned int ms)
{
	struct timespec ts = sync_deadline(ms);
	bool stop;

	pthread_mutex_lock(&s->sh.lock);
	if (!s->sh.stop && !s->sh.pub_due)
		pthread_cond_timedwait(&s->sh.pub_wake, &s->sh.lock, &ts);
	s->sh.pub_due = false;
	stop = s->sh.stop;
	pthread_mutex_unlock(&s->sh.lock);
	return stop;
}

static unsigned int pub_failure(struct sync *s, int err, const char *what, unsigned int n)
{
	CNT_ADD(s, failures, 1);
	pthread_mutex_lock(&s->sh.lock);
	snprintf(s->sh.last_error, sizeof(s->sh.last_error), "%s: %s (%s)", what,
		 etcd_last_error(s->pub.ec), strerror(-err));
	pthread_mutex_unlock(&s->sh.lock);
	log_warn("etcd publish failed step=%s err=\"%s\" detail=\"%s\" failures=%u", what,
		 strerror(-err), etcd_last_error(s->pub.ec), n);
	etcd_endpoint_next(s->pub.ec);
	/* The next endpoint at once; then 100 ms, 200 ms, ... up to the breaker's pause. */
	if (n == 1)
		return 1;
	return n - 2 < 6 && 100U << (n - 2) < BREAKER_OPEN_MS ? 100U << (n - 2) : BREAKER_OPEN_MS;
}

void *pub_thread(void *arg)
{
	struct sync *s = arg;
	__u64 next_keepalive = 0, now;
	unsigned int wait_ms = 1000, fails = 0;
	bool ready;
	int err;

	while (!pub_wait(s, wait_ms)) {
		pthread_mutex_lock(&s->sh.lock);
		ready = s->sh.pub_ready;
		pthread_mutex_unlock(&s->sh.lock);
		wait_ms = 1000;
		if (!ready)
			continue;
		now = mono_ns();
		if (now >= next_keepalive) {
			err = lease_ensure(s);
			if (err) {
				wait_ms = pub_failure(s, err, "lease", ++fails);
				continue;
			}
			next_keepalive = now + s->o.lease_ttl * 1000000000ULL / 3;
		}
		err = publish(s);
		if (err) {
			/* Maybe the lease is gone: check it before the next try. */
			next_keepalive = 0;
			wait_ms = pub_failure(s, err, "publish", ++fails);
			continue;
		}
		fails = 0;
		if (next_keepalive - now < wait_ms * 1000000ULL)
			wait_ms = (next_keepalive - now) / 1000000 + 1;
	}
	pubset_destroy(s->pub.cur);
	s->pub.cur = NULL;
	return NULL;
}
