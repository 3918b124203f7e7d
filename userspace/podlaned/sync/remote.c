// SPDX-License-Identifier: GPL-2.0-only
/*
 * sync/remote.c - podlane_remote (pod IP on another node -> that node, bpf/podlane.h), whose
 * one writer is the sync's I/O thread: it creates or adopts the pin, writes endpoint puts in
 * batches, deletes, and sweeps what a full list did not confirm. A BPF map needs no lock: the
 * thread that parsed an endpoint event writes it, batched per read from the socket. Handing it
 * to the main thread instead would put a second wake-up (a scheduler round trip, milliseconds
 * on a busy node) between etcd's delivery and the map.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "core/agent.h"
#include "core/loop.h"
#include "datapath/loader.h"
#include "log.h"
#include "podlane.h"
#include "sync/sync_int.h"

/* One page of a batched walk of podlane_remote: each walking thread has its own. */
struct remote_page {
	__be32	keys[APPLY_CHUNK];
	struct remote_endpoint vals[APPLY_CHUNK];
};

/* Endpoint puts gathered for one bpf_map_update_batch(), with what their latency needs. */
struct ep_batch {
	__be32	keys[APPLY_CHUNK];
	struct remote_endpoint vals[APPLY_CHUNK];
	__u64	written[APPLY_CHUNK];
	__u64	recv[APPLY_CHUNK];
	bool	live[APPLY_CHUNK];
	__u32	n;
};

/*
 * Benchmark hook: with PODLANE_SYNC_TRACE=FILE, the write stamp and the map update time
 * (CLOCK_REALTIME ns) of each live endpoint event, written to FILE at exit, so that
 * bench-sync.sh can pair every event with the time a bare watcher received it.
 */
#define TRACE_MAX	(1 << 20)

struct trace {
	__u64	(*v)[2];
	size_t	n;
	char	path[256];
};

int remote_open(struct sync *s)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", s->a->pin_root, PODLANE_REMOTE_MAP);
	fd = pin_map_open(s->a->pin_root, PODLANE_REMOTE_MAP, PIN_RW);
	if (fd >= 0) {
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_MAP_TYPE_HASH &&
		    info.key_size == sizeof(__be32) &&
		    info.value_size == sizeof(struct remote_endpoint) &&
		    info.max_entries == s->o.max_remote)
			return fd;
		/* Another size or layout: start over, the first list refills it. */
		log_info("replacing pinned map map=%s max_entries=%u", PODLANE_REMOTE_MAP,
			 s->o.max_remote);
		close(fd);
		unlink(path);
	} else if (fd != -ENOENT) {
		log_error("failed to open pinned map '%s': %s", path, strerror(-fd));
		return fd;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, PODLANE_REMOTE_MAP, sizeof(__be32),
			    sizeof(struct remote_endpoint), s->o.max_remote, &opts);
	if (fd < 0) {
		err = -errno;
		log_error("failed to create map '%s': %s", PODLANE_REMOTE_MAP, strerror(-err));
		return err;
	}
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		log_error("failed to pin map '%s': %s", path, strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

/*
 * The I/O thread's batch, the trace when PODLANE_SYNC_TRACE asks for one, and a walk page for
 * each thread that walks the map (the I/O thread's sweep, the main thread's count).
 */
int remote_state_open(struct sync *s)
{
	const char *path = getenv("PODLANE_SYNC_TRACE");
	struct trace *t;

	s->io.eb = calloc(1, sizeof(*s->io.eb));
	s->io.page = malloc(sizeof(*s->io.page));
	s->loop.page = malloc(sizeof(*s->loop.page));
	if (!s->io.eb || !s->io.page || !s->loop.page)
		return -ENOMEM;
	if (!path || !*path)
		return 0;
	t = calloc(1, sizeof(*t));
	if (t)
		t->v = calloc(TRACE_MAX, sizeof(*t->v));
	if (!t || !t->v) {
		free(t);
		log_warn("no memory for the latency trace path=%s", path);
		return 0;
	}
	snprintf(t->path, sizeof(t->path), "%s", path);
	s->io.trace = t;
	return 0;
}

/* After the threads ended: the trace goes to its file. */
void remote_state_close(struct sync *s)
{
	struct trace *t = s->io.trace;
	size_t i;
	FILE *f;

	free(s->io.eb);
	free(s->io.page);
	free(s->loop.page);
	s->io.eb = NULL;
	s->io.page = s->loop.page = NULL;
	if (!t)
		return;
	f = fopen(t->path, "we");
	if (f) {
		for (i = 0; i < t->n; i++)
			fprintf(f, "%llu %llu\n", (unsigned long long)t->v[i][0],
				(unsigned long long)t->v[i][1]);
		fclose(f);
	} else {
		log_warn("failed to write the latency trace path=%s err=\"%s\"", t->path,
			 strerror(errno));
	}
	free(t->v);
	free(t);
	s->io.trace = NULL;
}

void remote_flush(struct sync *s)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct ep_batch *b = s->io.eb;
	struct trace *t = s->io.trace;
	__u32 i, count = b->n;
	__u64 now;

	if (!b->n)
		return;
	if (bpf_map_update_batch(s->remote_fd, b->keys, b->vals, &count, &opts)) {
		/* Map full or no batch ops: one by one, and say which failed. */
		for (i = 0; i < b->n; i++) {
			if (bpf_map_update_elem(s->remote_fd, &b->keys[i], &b->vals[i], 0)) {
				char ip[INET_ADDRSTRLEN], key[64];

				inet_ntop(AF_INET, &b->keys[i], ip, sizeof(ip));
				snprintf(key, sizeof(key), "remote endpoint %s", ip);
				deadletter_add(s, key, strlen(key), 0,
					       "failed to update map '%s': %s",
					       PODLANE_REMOTE_MAP, strerror(errno));
			}
		}
	}
	CNT_ADD(s, ep_upserts, b->n);
	CNT_ADD(s, applied, b->n);
	now = clock_ns(CLOCK_REALTIME);
	for (i = 0; i < b->n; i++) {
		if (!b->live[i] || !b->written[i])
			continue;
		hist_add(s->stats.lat[SYNC_LAT_APPLY], now - b->written[i]);
		hist_add(s->stats.lat[SYNC_LAT_AGENT], now - b->recv[i]);
		if (t && t->n < TRACE_MAX) {
			t->v[t->n][0] = b->written[i];
			t->v[t->n++][1] = now;
		}
	}
	b->n = 0;
	CNT_SET(s, last_apply_ns, mono_ns());
}

void remote_put(struct sync *s, const struct ep_change *c)
{
	struct ep_batch *b = s->io.eb;

	if (b->n == APPLY_CHUNK)
		remote_flush(s);
	b->keys[b->n] = c->ip;
	b->vals[b->n].node_ip = c->node_ip;
	b->vals[b->n].gen = s->gen_base + s->io.gen;
	b->written[b->n] = c->written_ns;
	b->recv[b->n] = c->recv_ns;
	b->live[b->n++] = c->live;
}

void remote_del(struct sync *s, __be32 ip, __be32 node_ip)
{
	struct remote_endpoint cur;

	/* In order: a put of the same IP may still wait in the batch. */
	remote_flush(s);
	CNT_ADD(s, applied, 1);
	/* Only the node that owns the IP now: a reused IP may already belong to another. */
	if (bpf_map_lookup_elem(s->remote_fd, &ip, &cur) || cur.node_ip != node_ip) {
		CNT_ADD(s, ep_stale_deletes, 1);
		return;
	}
	if (!bpf_map_delete_elem(s->remote_fd, &ip))
		CNT_ADD(s, ep_deletes, 1);
}

typedef void (*remote_page_cb)(const struct remote_page *p, __u32 n, void *data);

/*
 * cb for every page of podlane_remote: one syscall per APPLY_CHUNK entries instead of two per
 * entry. 0, or -errno (cb saw a part of the map then; -EINVAL: no batch operations).
 */
static int remote_walk(struct sync *s, struct remote_page *p, remote_page_cb cb, void *data)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 batch, count;
	void *in = NULL;
	int err;

	for (;;) {
		count = APPLY_CHUNK;
		err = bpf_map_lookup_batch(s->remote_fd, in, &batch, p->keys, p->vals, &count,
					   &opts);
		if (err && errno != ENOENT) {
			err = -errno;
			break;
		}
		cb(p, count, data);
		if (err) {	/* ENOENT: that was the last page */
			err = 0;
			break;
		}
		in = &batch;
	}
	return err;
}

struct sweep {
	__u32	gen;
	__be32	*stale;
	size_t	n, cap;
};

static void sweep_page(const struct remote_page *p, __u32 n, void *data)
{
	struct sweep *sw = data;
	__u32 i;

	for (i = 0; i < n; i++) {
		if (p->vals[i].gen == sw->gen)
			continue;
		if (sw->n == sw->cap) {
			size_t cap = sw->cap ? sw->cap * 2 : 1024;
			__be32 *v = realloc(sw->stale, cap * sizeof(*v));

			if (!v)
				return;	/* the next full list sweeps the rest */
			sw->stale = v;
			sw->cap = cap;
		}
		sw->stale[sw->n++] = p->keys[i];
	}
}

void remote_sweep(struct sync *s)
{
	struct sweep sw = { .gen = s->gen_base + s->io.gen };
	size_t i;
	int err;

	remote_flush(s);
	/* Collected first, deleted after: a delete during the walk would move its cursor. */
	err = remote_walk(s, s->io.page, sweep_page, &sw);
	if (err)
		log_warn("failed to walk map '%s' for the sweep: %s", PODLANE_REMOTE_MAP,
			 strerror(-err));
	for (i = 0; i < sw.n; i++)
		bpf_map_delete_elem(s->remote_fd, &sw.stale[i]);
	free(sw.stale);
	CNT_ADD(s, swept, sw.n);
}

static void count_page(const struct remote_page *p, __u32 n, void *data)
{
	*(__u64 *)data += n;
}

/*
 * Entries in podlane_remote. Batched: status is polled while a resync runs, and a walk of
 * 150,000 keys one syscall at a time held the main loop, and with it the services of the
 * resync, for a good part of a second per poll.
 */
__u64 remote_count(struct sync *s)
{
	__be32 key, next, *prev = NULL;
	__u64 n = 0;

	if (!remote_walk(s, s->loop.page, count_page, &n))
		return n;
	n = 0;		/* no batch operations: one key at a time */
	while (!bpf_map_get_next_key(s->remote_fd, prev, &next)) {
		key = next;
		prev = &key;
		n++;
	}
	return n;
}
