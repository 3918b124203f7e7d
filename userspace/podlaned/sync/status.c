// SPDX-License-Identifier: GPL-2.0-only
/*
 * sync/status.c - what the sync tells about itself: its state, dead letters (records that
 * failed validation: kept, listed, counted, the loop goes on), latency histograms, and the
 * typed snapshot of all of it that api/ serves as sync_status, sync_deadletters and metrics.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include "core/agent.h"
#include "etcd.h"
#include "lb/lb.h"
#include "log.h"
#include "sync/sync_int.h"

/* ---- latency histograms ---- */

static unsigned int hist_bucket(__u64 us)
{
	if (us < HIST_FINE)
		return us;
	us = (us - HIST_FINE) / 100;
	return HIST_FINE + (us < HIST_COARSE ? us : HIST_COARSE);
}

static __u64 hist_value(unsigned int b)
{
	return b < HIST_FINE ? b : HIST_FINE + (__u64)(b - HIST_FINE) * 100;
}

void hist_add(struct hist *h, __u64 ns)
{
	__u64 us = ns / 1000, max = __atomic_load_n(&h->max, __ATOMIC_RELAXED);

	__atomic_fetch_add(&h->b[hist_bucket(us)], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->n, 1, __ATOMIC_RELAXED);
	/* Two threads add (the I/O thread, the main thread): the larger value must win. */
	while (us > max && !__atomic_compare_exchange_n(&h->max, &max, us, true,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static __u64 hist_pct(const struct hist *h, __u64 n, __u64 max, double pct)
{
	__u64 want, seen = 0;
	unsigned int i;

	if (!n)
		return 0;
	want = (__u64)(n * pct / 100.0);
	if (want >= n)
		want = n - 1;
	for (i = 0; i < HIST_BUCKETS - 1; i++) {
		seen += __atomic_load_n(&h->b[i], __ATOMIC_RELAXED);
		if (seen > want)
			return hist_value(i) < max ? hist_value(i) : max;
	}
	return max;
}

static void hist_summary(const struct hist *h, struct sync_percentiles *p)
{
	p->count = __atomic_load_n(&h->n, __ATOMIC_RELAXED);
	p->max_us = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
	p->p50_us = hist_pct(h, p->count, p->max_us, 50);
	p->p90_us = hist_pct(h, p->count, p->max_us, 90);
	p->p99_us = hist_pct(h, p->count, p->max_us, 99);
}

/*
 * Out of struct sync, where at 155 KB each they were most of it. Mapped, not calloc'ed: calloc
 * may hand out (and clear) heap memory, while an anonymous mapping costs a page only once a
 * bucket in it counts something, and most never do.
 */
int hists_alloc(struct sync *s)
{
	unsigned int i;
	void *p;

	for (i = 0; i < SYNC_LATENCIES; i++) {
		p = mmap(NULL, sizeof(struct hist), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
		s->stats.lat[i] = p;
	}
	return 0;
}

void hists_free(struct sync *s)
{
	unsigned int i;

	for (i = 0; i < SYNC_LATENCIES; i++) {
		if (s->stats.lat[i])
			munmap(s->stats.lat[i], sizeof(struct hist));
		s->stats.lat[i] = NULL;
	}
}

/* ---- state and dead letters (any thread) ---- */

void sync_set_state(struct sync *s, const char *state)
{
	pthread_mutex_lock(&s->sh.lock);
	if (strcmp(s->sh.state, state))
		log_info("etcd sync state=%s endpoint=%s", state,
			 s->io.ec ? etcd_endpoint(s->io.ec) : "");
	snprintf(s->sh.state, sizeof(s->sh.state), "%s", state);
	if (s->io.ec)
		snprintf(s->sh.endpoint, sizeof(s->sh.endpoint), "%s", etcd_endpoint(s->io.ec));
	pthread_mutex_unlock(&s->sh.lock);
}

void deadletter_add(struct sync *s, const char *key, size_t key_len, int64_t rev,
		    const char *fmt, ...)
{
	struct sync_shared *sh = &s->sh;
	struct sync_deadletter *d = NULL;
	char k[SYNC_DEADLETTER_KEY_LEN], reason[SYNC_DEADLETTER_WHY_LEN];
	unsigned int i;
	va_list ap;

	snprintf(k, sizeof(k), "%.*s", (int)key_len, key);
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&sh->lock);
	for (i = 0; i < sh->ndl; i++)
		if (!strcmp(sh->dl[i].key, k))
			d = &sh->dl[i];
	if (!d) {
		/* Full: the oldest goes; the counter still tells how many there were. */
		if (sh->ndl == DEADLETTER_MAX) {
			memmove(&sh->dl[0], &sh->dl[1], (DEADLETTER_MAX - 1) * sizeof(sh->dl[0]));
			__atomic_store_n(&sh->ndl, DEADLETTER_MAX - 1, __ATOMIC_RELAXED);
		}
		d = &sh->dl[sh->ndl];
		__atomic_store_n(&sh->ndl, sh->ndl + 1, __ATOMIC_RELAXED);
	}
	memcpy(d->key, k, sizeof(k));
	memcpy(d->reason, reason, sizeof(reason));
	d->revision = rev;
	d->at = time(NULL);
	pthread_mutex_unlock(&sh->lock);
	CNT_ADD(s, deadletters, 1);
	log_warn("dead letter key=%s rev=%lld reason=\"%s\"", k, (long long)rev, reason);
}

void deadletter_clear(struct sync *s, const char *key, size_t key_len)
{
	struct sync_shared *sh = &s->sh;
	unsigned int i;

	/* Every valid record comes here: most often there is nothing to look through. */
	if (!__atomic_load_n(&sh->ndl, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&sh->lock);
	for (i = 0; i < sh->ndl; i++) {
		if (strlen(sh->dl[i].key) == key_len && !memcmp(sh->dl[i].key, key, key_len)) {
			memmove(&sh->dl[i], &sh->dl[i + 1], (sh->ndl - i - 1) * sizeof(sh->dl[0]));
			__atomic_store_n(&sh->ndl, sh->ndl - 1, __ATOMIC_RELAXED);
			break;
		}
	}
	pthread_mutex_unlock(&sh->lock);
}

/* ---- the snapshot api/ serves (main thread) ---- */

bool sync_status_get(struct agent *a, struct sync_status *st, unsigned int what)
{
	struct sync *s = a->sync;
	struct sync_shared *sh;
	unsigned int i;

	if (!s)
		return false;
	sh = &s->sh;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&sh->lock);
	memcpy(st->state, sh->state, sizeof(st->state));
	memcpy(st->endpoint, sh->endpoint, sizeof(st->endpoint));
	memcpy(st->last_error, sh->last_error, sizeof(st->last_error));
	memcpy(st->pod_cidr, sh->pod_cidr, sizeof(st->pod_cidr));
	st->revision = sh->revision;
	st->breaker_open = sh->breaker_open;
	st->consecutive_failures = sh->consecutive_failures;
	st->lease_id = sh->lease;
	st->lease_remaining = sh->lease_ttl_left;
	st->queue_depth = sh->count;
	st->deadletters = sh->ndl;
	pthread_mutex_unlock(&sh->lock);
	st->queue_capacity = QUEUE_CAP;
	st->lease_ttl = s->o.lease_ttl;
	snprintf(st->node, sizeof(st->node), "%s", s->node_name);
	st->node_ip = s->node_ip;
#define X(f) st->c.f = CNT(s, f);
	SYNC_COUNTERS(X)
#undef X
	if (what & SYNC_STATUS_SIZES) {
		st->remote_endpoints = remote_count(s);
		st->nodes = s->loop.nodes.n;
		st->services = service_store_count(a);
	}
	if (what & SYNC_STATUS_LATENCY)
		for (i = 0; i < SYNC_LATENCIES; i++)
			hist_summary(s->stats.lat[i], &st->latency[i]);
	return true;
}

int sync_deadletters_get(struct agent *a, struct sync_deadletter **v, unsigned int *n,
			 __u64 *total)
{
	struct sync *s = a->sync;
	struct sync_shared *sh;
	int err = 0;

	*v = NULL;
	*n = 0;
	*total = 0;
	if (!s)
		return -ENOENT;
	sh = &s->sh;
	pthread_mutex_lock(&sh->lock);
	if (sh->ndl) {
		*v = malloc(sh->ndl * sizeof(**v));
		if (*v) {
			memcpy(*v, sh->dl, sh->ndl * sizeof(**v));
			*n = sh->ndl;
		} else {
			err = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&sh->lock);
	*total = CNT(s, deadletters);
	return err;
}
