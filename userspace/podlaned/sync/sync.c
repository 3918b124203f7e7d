// SPDX-License-Identifier: GPL-2.0-only
/*
 * sync.c - podlaned's control-plane sync through etcd.
 *
 * Key layout, version 1 (every value is a JSON object unless said otherwise; "updated" is the
 * writer's CLOCK_REALTIME in nanoseconds, used to measure propagation):
 *
 *   /podlane/v1/version                          "1"; an agent that finds another version
 *                                                refuses to sync (and keeps running standalone)
 *   /podlane/v1/nodes/<node>                     { name, nodeIP, podCIDR, updated }   leased
 *   /podlane/v1/endpoints/<node>/<cid>/<ifname>  { node, nodeIP, ip, containerID, ifname,
 *                                                  network, updated }                 leased
 *   /podlane/v1/services/<namespace>/<name>      a service spec (service_spec.h)
 *   /podlane/v1/hints/<node>                     { node, score, dominant, cpu, runq, memory,
 *                                                  traffic, cpu_headroom, updated }   leased
 *   /podlane/v1/ipam/cidrs/<a.b.c.d>/<len>       { node }: a node's pod CIDR, created in a txn
 *                                                that requires create_revision == 0, so two
 *                                                nodes racing for one CIDR cannot both win.
 *                                                Not leased: a node keeps its CIDR across
 *                                                restarts and outages.
 *   /podlane/v1/policies/...                     reserved
 *
 * Records under a lease (TTL --lease-ttl, kept alive every TTL/3) vanish when their node stops
 * renewing it, so a dead node's endpoints expire on every other node.
 *
 * Threads: one I/O thread owns the etcd client for the list and the watch (libcurl easy
 * handles for unary calls, a multi handle for the watch stream) and does all parsing and
 * validation. Endpoint records it writes into podlane_remote itself, batched per read from the
 * socket: that map has no other writer, and a hop to another thread would add a wake-up (a
 * scheduler round trip, milliseconds on a busy node) to every event's latency. Nodes and
 * services it hands to podlaned's main thread, where every other writer of the routes and
 * service maps already runs, through a bounded queue: when the main thread falls behind, the
 * I/O thread blocks on it, stops reading the watch stream, and TCP pushes back to etcd. A
 * third thread, the publisher, with its own etcd client, keeps this node's lease alive and
 * its records in etcd: a put waits for etcd's answer, and the watch must not wait with it.
 * A curl multi loop inside the main epoll was the alternative, but it would put JSON parsing
 * of 100k events/s on the thread that also answers the CNI plugin.
 *
 * The loop: List everything under /podlane/v1/ at one revision (paged; nodes and services
 * first, so that the main thread applies them while the endpoints are listed: list_all), hand
 * it over between RESYNC_BEGIN/RESYNC_END markers (the main thread then sweeps what the list
 * did not confirm), then watch from the listed revision + 1. The watch does not ask for
 * previous values (etcd would read each updated or deleted key's previous revision for it,
 * which halves the write rate etcd sustains): a delete carries only the key, so the I/O
 * thread keeps other nodes' endpoint keys -> pod IPs (keyidx.h, 12 bytes a slot, ~3 MB at
 * 150k endpoints), filled by the list and by puts, rebuilt by every full list. Nodes and
 * services are keyed by name and need no old value. A broken stream reconnects (next
 * endpoint, backoff) and resumes from the last revision seen; a compacted revision leads to
 * a full resync, which updates entries in place and removes only what is gone, so traffic
 * never sees a gap.
 * Consecutive failures open a circuit breaker: no calls to the store for a cooling period,
 * then one probe. A record that fails validation is a dead letter (kept, listed by
 * `podlanectl deadletters`, counted in metrics) and the loop goes on.
 *
 * Publishing: the main thread snapshots this node's records (node, endpoints, hints) every
 * SNAPSHOT_MS and hands a changed snapshot to the publisher, which puts what differs from
 * what etcd holds for this node (the I/O thread mirrors our own keys from the list and the
 * watch, under pub_lock) and deletes what is no longer there. It starts once the I/O thread
 * has checked the layout and listed (so the mirror is complete).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <curl/curl.h>

#include "acct/acct.h"
#include "api.h"
#include "core/addr.h"
#include "core/agent.h"
#include "core/loop.h"
#include "datapath/eps.h"
#include "datapath/loader.h"
#include "etcd.h"
#include "keyidx.h"
#include "lb/lb.h"
#include "log.h"
#include "nodes/nodes.h"
#include "sync/sync.h"

#define PREFIX			"/podlane/v1/"
#define K_VERSION		PREFIX "version"
#define K_NODES			PREFIX "nodes/"
#define K_ENDPOINTS		PREFIX "endpoints/"
#define K_SERVICES		PREFIX "services/"
#define K_HINTS			PREFIX "hints/"
#define K_CIDRS			PREFIX "ipam/cidrs/"
#define LAYOUT_VERSION		"1"
#define VALUE_JSON		(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/*
 * Nodes and services only (endpoints skip the queue). Measured at 10k services: 8192 let the
 * list run further ahead of the apply (resync 2.0 s) but held 1.3 MB more parsed specs at
 * the peak (24.0 vs 22.7 MB); 2048 made the endpoints' list wait for the apply (2.5 s).
 */
#define QUEUE_CAP		4096
#define IO_BATCH		256
#define APPLY_CHUNK		1024
/* items per wake-up before the loop serves others */
#define APPLY_BUDGET		32768
/* big pages: etcd 3.4 counts the rest of the range for every page */
#define LIST_PAGE		50000
#define LIST_MAX_PAGES		100000	/* 5e9 keys: a bound, not a limit etcd reaches */
#define SNAPSHOT_MS		250
#define BREAKER_THRESHOLD	5	/* consecutive failures that open the breaker */
#define BREAKER_OPEN_MS		5000
#define BREAKER_OPEN_MAX_MS	30000
#define DEADLETTER_MAX		256
/* latency histograms: 1 us buckets up to 10 ms, 100 us buckets up to 1 s, then overflow */
#define HIST_FINE		10000
#define HIST_COARSE		9900
#define HIST_BUCKETS		(HIST_FINE + HIST_COARSE + 1)

enum item_kind {
	IT_EP_PUT,
	IT_EP_DEL,
	IT_NODE_PUT,
	IT_NODE_DEL,
	IT_SVC_PUT,
	IT_SVC_DEL,
	IT_RESYNC_BEGIN,
	IT_RESYNC_END,
};

struct item {
	__u8		kind;
	bool		live;		/* from the watch: counts for latency */
	__be32		ip, node_ip;
	__u32		gen;
	__u64		written_ns;	/* the record's "updated", 0 = unknown */
	__u64		recv_ns;	/* CLOCK_REALTIME when the I/O thread parsed it */
	char		*key;		/* node name or "ns/name" */
	struct json_object *val;	/* node record */
	struct service_spec *spec;	/* IT_SVC_PUT: parsed and validated by the I/O thread */
};

struct hist {
	__u64	b[HIST_BUCKETS];
	__u64	n, max;
};

struct pub {
	char	*key;
	char	*val;		/* without "updated" */
	int64_t	lease;
};

struct pubset {
	struct pub	*v;
	size_t		n, cap;
};

struct deadletter {
	char	key[256];
	char	reason[256];
	int64_t	revision;
	time_t	at;
};

/* etcd-sourced nodes, with the resync generation that last saw them (services: service.c) */
struct gen_entry {
	char	*key;
	__u32	gen;
};

struct gen_table {
	struct gen_entry *v;
	size_t	n, cap;
};

struct counters {
	__u64	events;		/* received from the watch */
	__u64	listed;		/* received from lists */
	__u64	applied;
	__u64	ep_upserts, ep_deletes, ep_stale_deletes;
	__u64	node_upserts, node_deletes;
	__u64	svc_upserts, svc_deletes;
	__u64	resyncs, compactions, reconnects, failures, breaker_opens;
	__u64	queue_full_waits;
	__u64	deadletters;
	__u64	published_puts, published_deletes, publish_errors;
	__u64	lease_grants;
	__u64	swept;
	__u64	resync_ms_last;
	__u64	first_item_ns;	/* CLOCK_MONOTONIC: first record handed over */
	__u64	last_apply_ns;	/* CLOCK_MONOTONIC: last batch applied */
};

struct sync {
	struct agent	*a;
	struct sync_opts o;
	char		node_name[PODLANE_NODE_NAME_LEN];
	in_addr_t	node_ip;
	struct subnet4	cluster;

	pthread_t	thread;
	bool		thread_started, pub_started;
	pthread_t	pub;		/* publisher: lease and this node's records */
	pthread_mutex_t	lock;
	pthread_cond_t	not_full, wake, pub_wake;
	bool		pub_due;	/* lock: a new snapshot or a change to our records */
	bool		pub_ready;	/* lock: layout checked, our records mirrored */
	bool		stop;

	/* queue (lock) */
	struct item	*q;
	unsigned int	head, count;

	/* handover of this node's desired records (lock) */
	struct pubset	*pending;

	/* status (lock) */
	char		state[32];
	char		endpoint[256];
	char		last_error[512];
	char		pod_cidr[24];
	int64_t		revision, lease, lease_ttl_left;
	bool		breaker_open;
	unsigned int	consecutive_failures;
	struct deadletter dl[DEADLETTER_MAX];
	unsigned int	ndl;
	struct counters	c;		/* atomics, any thread */
	struct hist	delivery;	/* etcd write -> I/O thread parsed it */
	struct hist	apply;		/* etcd write -> map updated */
	struct hist	agent;		/* I/O thread parsed it -> map updated: our own share */
	struct hist	handover;	/* batch handed over -> main thread took it */
	__u64		handover_ns;	/* CLOCK_MONOTONIC of the last wake-up (atomic) */

	/* main thread */
	int		efd, tfd, epfd, remote_fd;
	__u32		gen, gen_base;
	struct pubset	*last_snap;
	struct gen_table nodes;
	__u64		resync_started_ns;

	/* I/O thread */
	struct ep_batch	*eb;		/* endpoint puts on their way into podlane_remote */
	/*
	 * Other nodes' endpoints as etcd holds them: key -> pod IP, and node name -> node IP.
	 * A delete event carries only the key, and the map is keyed by IP; asking etcd for each
	 * event's previous value (prev_kv) instead halves the write rate etcd sustains.
	 */
	struct keyidx	ep_ips, ep_nodes;
	struct trace	*trace;		/* PODLANE_SYNC_TRACE: per-event latency for benchmarks */
	struct etcd_client *ec;

	/* publisher thread; the mirror of what etcd holds for this node is shared (pub_lock) */
	struct etcd_client *pec;
	pthread_mutex_t	pub_lock;
	struct pubset	published;
	json_tokener	*tok;
	struct item	batch[IO_BATCH];
	unsigned int	nbatch;
	__u32		io_gen;
	bool		listing;
	int64_t		last_rev;
};

#define CNT_ADD(s, f, v)	__atomic_fetch_add(&(s)->c.f, (v), __ATOMIC_RELAXED)
#define CNT(s, f)		__atomic_load_n(&(s)->c.f, __ATOMIC_RELAXED)

static __u64 now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

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

static void hist_add(struct hist *h, __u64 ns)
{
	__u64 us = ns / 1000;

	__atomic_fetch_add(&h->b[hist_bucket(us)], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->n, 1, __ATOMIC_RELAXED);
	if (us > __atomic_load_n(&h->max, __ATOMIC_RELAXED))
		__atomic_store_n(&h->max, us, __ATOMIC_RELAXED);
}

static __u64 hist_pct(const struct hist *h, double pct)
{
	__u64 n = __atomic_load_n(&h->n, __ATOMIC_RELAXED), want, seen = 0;
	__u64 max = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
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

/* ---- options ---- */

void sync_opts_init(struct sync_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->node_cidr_len = SYNC_DEFAULT_NODE_CIDR_LEN;
	o->lease_ttl = SYNC_DEFAULT_LEASE_TTL;
	o->max_remote = SYNC_DEFAULT_MAX_REMOTE;
}

static int parse_uint(const char *opt, const char *arg, unsigned long min, unsigned long max,
		      unsigned int *out)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(arg, &end, 10);
	if (errno || *end || n < min || n > max) {
		fprintf(stderr, "podlaned: --%s wants a number from %lu to %lu, got '%s'\n", opt,
			min, max, arg);
		return -1;
	}
	*out = n;
	return 0;
}

static bool name_ok(const char *s, size_t max)
{
	size_t i, len = strlen(s);

	if (!len || len > max)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

static bool name_ok_len(const char *s, size_t len)
{
	char buf[PODLANE_NODE_NAME_LEN];

	if (!len || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return name_ok(buf, sizeof(buf) - 1);
}

/* Container IDs and interface names: printable, no '/', no spaces. */
static bool segment_ok(const char *s, size_t len, size_t max)
{
	size_t i;

	if (!len || len > max)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] == '/' || s[i] == 0x7f)
			return false;
	return true;
}

int sync_parse_opt(struct sync_opts *o, int which, const char *arg)
{
	struct subnet4 sn;

	switch (which) {
	case SYNC_OPT_ENDPOINTS:
		if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8)) {
			fprintf(stderr, "podlaned: --etcd-endpoints wants http:// or https:// "
				"URLs, got '%s'\n", arg);
			return -1;
		}
		o->endpoints = arg;
		return 0;
	case SYNC_OPT_CACERT:
	case SYNC_OPT_CERT:
	case SYNC_OPT_KEY:
		if (access(arg, R_OK)) {
			fprintf(stderr, "podlaned: cannot read '%s': %s\n", arg, strerror(errno));
			return -1;
		}
		if (which == SYNC_OPT_CACERT)
			o->cacert = arg;
		else if (which == SYNC_OPT_CERT)
			o->cert = arg;
		else
			o->key = arg;
		return 0;
	case SYNC_OPT_CLUSTER_CIDR:
		if (subnet_parse(arg, &sn) || sn.prefix_len < 8 || sn.prefix_len > 30) {
			fprintf(stderr, "podlaned: --cluster-cidr wants an IPv4 CIDR /8../30, "
				"got '%s'\n", arg);
			return -1;
		}
		o->cluster_cidr = arg;
		return 0;
	case SYNC_OPT_NODE_CIDR_SIZE:
		return parse_uint("node-cidr-size", arg, 16, 30, &o->node_cidr_len);
	case SYNC_OPT_LEASE_TTL:
		return parse_uint("lease-ttl", arg, 2, 3600, &o->lease_ttl);
	case SYNC_OPT_MAX_REMOTE:
		return parse_uint("max-remote-endpoints", arg, 1, 1U << 22, &o->max_remote);
	}
	return -1;
}

/* ---- small containers ---- */

static void pubset_free(struct pubset *ps)
{
	size_t i;

	if (!ps)
		return;
	for (i = 0; i < ps->n; i++) {
		free(ps->v[i].key);
		free(ps->v[i].val);
	}
	free(ps->v);
	ps->v = NULL;
	ps->n = ps->cap = 0;
}

static ssize_t pubset_find(const struct pubset *ps, const char *key, bool *found)
{
	size_t lo = 0, hi = ps->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(ps->v[mid].key, key);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static int pubset_set(struct pubset *ps, const char *key, const char *val, int64_t lease)
{
	bool found;
	ssize_t i = pubset_find(ps, key, &found);
	char *v = strdup(val);

	if (!v)
		return -ENOMEM;
	if (found) {
		free(ps->v[i].val);
		ps->v[i].val = v;
		ps->v[i].lease = lease;
		return 0;
	}
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct pub *p = realloc(ps->v, cap * sizeof(*p));

		if (!p) {
			free(v);
			return -ENOMEM;
		}
		ps->v = p;
		ps->cap = cap;
	}
	memmove(&ps->v[i + 1], &ps->v[i], (ps->n - i) * sizeof(*ps->v));
	ps->v[i].key = strdup(key);
	ps->v[i].val = v;
	ps->v[i].lease = lease;
	ps->n++;
	if (!ps->v[i].key)
		return -ENOMEM;
	return 0;
}

static void pubset_del(struct pubset *ps, const char *key)
{
	bool found;
	ssize_t i = pubset_find(ps, key, &found);

	if (!found)
		return;
	free(ps->v[i].key);
	free(ps->v[i].val);
	memmove(&ps->v[i], &ps->v[i + 1], (ps->n - i - 1) * sizeof(*ps->v));
	ps->n--;
}

static struct pubset *pubset_dup(const struct pubset *ps)
{
	struct pubset *d = calloc(1, sizeof(*d));
	size_t i;

	for (i = 0; d && i < ps->n; i++) {
		if (pubset_set(d, ps->v[i].key, ps->v[i].val, ps->v[i].lease)) {
			pubset_free(d);
			free(d);
			d = NULL;
		}
	}
	return d;
}

static bool pubset_equal(const struct pubset *a, const struct pubset *b)
{
	size_t i;

	if (!a || !b || a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].key, b->v[i].key) || strcmp(a->v[i].val, b->v[i].val))
			return false;
	return true;
}

static struct gen_entry *gen_find(struct gen_table *t, const char *key)
{
	size_t i;

	/* Linear: nodes are few (services keep theirs in service.c's hash). */
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

static void gen_del(struct gen_table *t, const char *key)
{
	struct gen_entry *e = gen_find(t, key);

	if (!e)
		return;
	free(e->key);
	*e = t->v[--t->n];
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

/* ---- dead letters (any thread) ---- */

static void deadletter_add(struct sync *s, const char *key, size_t key_len, int64_t rev,
			   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void deadletter_add(struct sync *s, const char *key, size_t key_len, int64_t rev,
			   const char *fmt, ...)
{
	struct deadletter *d = NULL;
	char k[256];
	va_list ap;
	unsigned int i;

	snprintf(k, sizeof(k), "%.*s", (int)key_len, key);
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->ndl; i++)
		if (!strcmp(s->dl[i].key, k))
			d = &s->dl[i];
	if (!d) {
		/* Full: the oldest goes; the counter still tells how many there were. */
		if (s->ndl == DEADLETTER_MAX)
			memmove(&s->dl[0], &s->dl[1], --s->ndl * sizeof(s->dl[0]));
		d = &s->dl[s->ndl++];
	}
	snprintf(d->key, sizeof(d->key), "%s", k);
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
	d->revision = rev;
	d->at = time(NULL);
	pthread_mutex_unlock(&s->lock);
	CNT_ADD(s, deadletters, 1);
	log_warn("dead letter key=%s rev=%lld reason=\"%s\"", k, (long long)rev, d->reason);
}

/* A key that now holds a valid record (or none) is no longer a dead letter. */
static void deadletter_clear(struct sync *s, const char *key, size_t key_len)
{
	unsigned int i;

	if (!__atomic_load_n(&s->ndl, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->ndl; i++) {
		if (strlen(s->dl[i].key) == key_len && !memcmp(s->dl[i].key, key, key_len)) {
			memmove(&s->dl[i], &s->dl[i + 1], (s->ndl - i - 1) * sizeof(s->dl[0]));
			s->ndl--;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static void set_state(struct sync *s, const char *state)
{
	pthread_mutex_lock(&s->lock);
	if (strcmp(s->state, state))
		log_info("etcd sync state=%s endpoint=%s", state,
			 s->ec ? etcd_endpoint(s->ec) : "");
	snprintf(s->state, sizeof(s->state), "%s", state);
	if (s->ec)
		snprintf(s->endpoint, sizeof(s->endpoint), "%s", etcd_endpoint(s->ec));
	pthread_mutex_unlock(&s->lock);
}

/*
 * ---- I/O thread: endpoints straight into the map ----
 *
 * podlane_remote has no other writer, and a BPF map needs no lock: the thread that parsed an
 * endpoint event writes it, batched per read from the socket. Handing it to the main thread
 * instead would put a second wake-up (a scheduler round trip, milliseconds on a busy node)
 * between etcd's delivery and the map.
 */

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

static void trace_open(struct sync *s)
{
	const char *path = getenv("PODLANE_SYNC_TRACE");

	if (!path || !*path)
		return;
	s->trace = calloc(1, sizeof(*s->trace));
	if (s->trace)
		s->trace->v = calloc(TRACE_MAX, sizeof(*s->trace->v));
	if (!s->trace || !s->trace->v) {
		free(s->trace);
		s->trace = NULL;
		log_warn("no memory for the latency trace path=%s", path);
		return;
	}
	snprintf(s->trace->path, sizeof(s->trace->path), "%s", path);
}

static void trace_close(struct sync *s)
{
	struct trace *t = s->trace;
	size_t i;
	FILE *f;

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
	s->trace = NULL;
}

struct ep_batch {
	__be32	keys[APPLY_CHUNK];
	struct remote_endpoint vals[APPLY_CHUNK];
	__u64	written[APPLY_CHUNK];
	__u64	recv[APPLY_CHUNK];
	bool	live[APPLY_CHUNK];
	__u32	n;
};

static void ep_flush(struct sync *s)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct ep_batch *b = s->eb;
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
	now = now_ns(CLOCK_REALTIME);
	for (i = 0; i < b->n; i++)
		if (b->live[i] && b->written[i]) {
			hist_add(&s->apply, now - b->written[i]);
			hist_add(&s->agent, now - b->recv[i]);
			if (s->trace && s->trace->n < TRACE_MAX) {
				s->trace->v[s->trace->n][0] = b->written[i];
				s->trace->v[s->trace->n++][1] = now;
			}
		}
	b->n = 0;
	__atomic_store_n(&s->c.last_apply_ns, now_ns(CLOCK_MONOTONIC), __ATOMIC_RELAXED);
}

static void ep_delete(struct sync *s, const struct item *it)
{
	struct remote_endpoint cur;

	/* Only the node that owns the IP now: a reused IP may already belong to another. */
	if (bpf_map_lookup_elem(s->remote_fd, &it->ip, &cur) || cur.node_ip != it->node_ip) {
		CNT_ADD(s, ep_stale_deletes, 1);
		return;
	}
	if (!bpf_map_delete_elem(s->remote_fd, &it->ip))
		CNT_ADD(s, ep_deletes, 1);
}

static void ep_in(struct sync *s, const struct item *it)
{
	struct ep_batch *b = s->eb;

	if (!s->c.first_item_ns)
		__atomic_store_n(&s->c.first_item_ns, now_ns(CLOCK_MONOTONIC), __ATOMIC_RELAXED);
	if (it->kind == IT_EP_DEL) {
		/* In order: a put of the same IP may still wait in the batch. */
		ep_flush(s);
		ep_delete(s, it);
		CNT_ADD(s, applied, 1);
		return;
	}
	if (b->n == APPLY_CHUNK)
		ep_flush(s);
	b->keys[b->n] = it->ip;
	b->vals[b->n].node_ip = it->node_ip;
	b->vals[b->n].gen = s->gen_base + it->gen;
	b->written[b->n] = it->written_ns;
	b->recv[b->n] = it->recv_ns;
	b->live[b->n++] = it->live;
}

/* After a full list: the endpoints it did not confirm are gone from etcd. */
static void ep_sweep(struct sync *s)
{
	static __be32 keys[APPLY_CHUNK];
	static struct remote_endpoint vals[APPLY_CHUNK];
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 batch, count, j, n_stale = 0, gen = s->gen_base + s->io_gen;
	__be32 *stale = NULL;
	size_t cap = 0;
	void *in = NULL;
	int err;

	ep_flush(s);
	/* Batched walk: one syscall per APPLY_CHUNK entries instead of two per entry. */
	do {
		count = APPLY_CHUNK;
		err = bpf_map_lookup_batch(s->remote_fd, in, &batch, keys, vals, &count, &opts);
		if (err && errno != ENOENT)
			break;
		for (j = 0; j < count; j++) {
			if (vals[j].gen == gen)
				continue;
			if (n_stale == cap) {
				__be32 *p = realloc(stale, (cap = cap ? cap * 2 : 1024) * sizeof(*p));

				if (!p)
					break;
				stale = p;
			}
			stale[n_stale++] = keys[j];
		}
		in = &batch;
	} while (!err);
	for (j = 0; j < n_stale; j++)
		bpf_map_delete_elem(s->remote_fd, &stale[j]);
	free(stale);
	CNT_ADD(s, swept, n_stale);
}

/* ---- I/O thread: queue side ---- */

/* A queued spec the main thread did not take over (service_store_put() empties it). */
static void spec_drop(struct service_spec *spec)
{
	if (!spec)
		return;
	service_spec_free(spec);
	free(spec);
}

/* CLOCK_REALTIME ms from now: the deadline pthread_cond_timedwait() takes. */
static struct timespec deadline_in(unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* Hand over what was parsed so far: endpoints into the map, the rest to the main thread. */
static int queue_flush(struct sync *s)
{
	unsigned int i, n = s->nbatch;
	__u64 one = 1;
	bool was_empty;

	ep_flush(s);
	if (!n)
		return 0;
	pthread_mutex_lock(&s->lock);
	while (s->count + n > QUEUE_CAP && !s->stop) {
		struct timespec ts;

		CNT_ADD(s, queue_full_waits, 1);
		ts = deadline_in(100);
		pthread_cond_timedwait(&s->not_full, &s->lock, &ts);
	}
	if (s->stop) {
		pthread_mutex_unlock(&s->lock);
		for (i = 0; i < n; i++) {
			free(s->batch[i].key);
			json_object_put(s->batch[i].val);
			spec_drop(s->batch[i].spec);
		}
		s->nbatch = 0;
		return -ECANCELED;
	}
	was_empty = !s->count;
	for (i = 0; i < n; i++)
		s->q[(s->head + s->count + i) % QUEUE_CAP] = s->batch[i];
	s->count += n;
	pthread_mutex_unlock(&s->lock);
	s->nbatch = 0;
	if (!was_empty)
		return 0;
	__atomic_store_n(&s->handover_ns, now_ns(CLOCK_MONOTONIC), __ATOMIC_RELAXED);
	if (write(s->efd, &one, sizeof(one)) < 0)
		log_debug("failed to wake the main loop err=\"%s\"", strerror(errno));
	return 0;
}

static int queue_push(struct sync *s, const struct item *it)
{
	if (!s->c.first_item_ns)
		__atomic_store_n(&s->c.first_item_ns, now_ns(CLOCK_MONOTONIC), __ATOMIC_RELAXED);
	if (s->nbatch == IO_BATCH) {
		int err = queue_flush(s);

		if (err)
			return err;
	}
	s->batch[s->nbatch++] = *it;
	return 0;
}

/* ---- I/O thread: records in ---- */

static struct json_object *parse_value(struct sync *s, const char *v, size_t len)
{
	struct json_object *o;

	json_tokener_reset(s->tok);
	o = json_tokener_parse_ex(s->tok, v, len);
	if (!o || json_tokener_get_parse_end(s->tok) != len ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static const char *obj_str(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static __u64 obj_updated(struct json_object *o)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, "updated", &v))
		return 0;
	return json_object_get_int64(v);
}

static bool ip4_parse(const char *s, __be32 *out)
{
	struct in_addr ia;

	if (!s || inet_pton(AF_INET, s, &ia) != 1 || !ia.s_addr)
		return false;
	*out = ia.s_addr;
	return true;
}

/* The text after prefix up to the next '/', or the rest. */
static size_t segment(const char *p, size_t len)
{
	const char *slash = memchr(p, '/', len);

	return slash ? (size_t)(slash - p) : len;
}

static bool is_own(struct sync *s, const char *p, size_t len)
{
	size_t n = strlen(s->node_name);

	return len >= n && !memcmp(p, s->node_name, n) && (len == n || p[n] == '/');
}

/* Strip the trailing ,"updated":N that publish() appends, to compare with what we want. */
static void strip_updated(char *v)
{
	char *u = strstr(v, ",\"updated\":");

	if (u) {
		u[0] = '}';
		u[1] = '\0';
	}
}

static void pub_wakeup(struct sync *s)
{
	pthread_mutex_lock(&s->lock);
	s->pub_due = true;
	pthread_cond_signal(&s->pub_wake);
	pthread_mutex_unlock(&s->lock);
}

/* What etcd holds for this node: the publisher compares it with what it wants. */
static void own_record(struct sync *s, const struct etcd_kv *kv, bool deleted)
{
	char *v = NULL;

	if (!deleted) {
		v = strndup(kv->value, kv->value_len);
		if (!v)
			return;
		strip_updated(v);
	}
	pthread_mutex_lock(&s->pub_lock);
	if (deleted)
		pubset_del(&s->published, kv->key);
	else
		pubset_set(&s->published, kv->key, v, kv->lease);
	pthread_mutex_unlock(&s->pub_lock);
	free(v);
	/* A record of ours deleted or changed by someone else: put it back. */
	if (deleted && __atomic_load_n(&s->pub_ready, __ATOMIC_RELAXED))
		pub_wakeup(s);
}

/*
 * An endpoint record, from the list or the watch. The IP a delete removes, and the one an
 * update moves away from, come from ep_ips (filled here by every valid record, rebuilt by each
 * full list); a record never applied (a dead letter) has nothing to remove.
 */
static int endpoint_in(struct sync *s, const struct etcd_kv *kv, bool deleted, bool live)
{
	const char *rest = kv->key + strlen(K_ENDPOINTS);
	size_t len = kv->key_len - strlen(K_ENDPOINTS), n1, n2;
	struct item it = { .live = live, .gen = s->io_gen };
	struct json_object *o;
	__u64 h, node_h;
	__u32 old_ip, old_node_ip = 0;
	int had;

	n1 = segment(rest, len);
	n2 = n1 < len ? segment(rest + n1 + 1, len - n1 - 1) : 0;
	if (!name_ok_len(rest, n1) || !n2 || n1 + 1 + n2 >= len ||
	    !segment_ok(rest + n1 + 1, n2, PODLANE_CONTAINER_ID_LEN - 1) ||
	    !segment_ok(rest + n1 + n2 + 2, len - n1 - n2 - 2, PODLANE_IFNAME_LEN - 1)) {
		if (!deleted)
			deadletter_add(s, kv->key, kv->key_len, kv->mod_revision,
				       "key: want %s<node>/<container-id>/<ifname>", K_ENDPOINTS);
		return 0;
	}
	if (is_own(s, rest, n1)) {
		own_record(s, kv, deleted);
		return 0;
	}
	h = keyidx_hash(kv->key, kv->key_len);
	node_h = keyidx_hash(rest, n1);
	if (deleted) {
		deadletter_clear(s, kv->key, kv->key_len);
		if (!keyidx_del(&s->ep_ips, h, &it.ip))
			return 0;
		/* ep_delete() removes the IP only while the map still gives it to this node. */
		keyidx_get(&s->ep_nodes, node_h, &it.node_ip);
		it.kind = IT_EP_DEL;
		ep_in(s, &it);
		return 0;
	}
	o = parse_value(s, kv->value, kv->value_len);
	if (!o || !ip4_parse(obj_str(o, "ip"), &it.ip) ||
	    !ip4_parse(obj_str(o, "nodeIP"), &it.node_ip)) {
		/* The map keeps what the last valid record said, and so does ep_ips. */
		deadletter_add(s, kv->key, kv->key_len, kv->mod_revision, "%s",
			       !o ? "value: not a JSON object" :
			       !obj_str(o, "ip") ? "ip: missing" :
			       !ip4_parse(obj_str(o, "ip"), &it.ip) ?
			       "ip: not an IPv4 address" : "nodeIP: missing or invalid");
		json_object_put(o);
		return 0;
	}
	it.written_ns = obj_updated(o);
	json_object_put(o);
	deadletter_clear(s, kv->key, kv->key_len);
	keyidx_get(&s->ep_nodes, node_h, &old_node_ip);
	had = keyidx_set(&s->ep_ips, h, it.ip, &old_ip);
	if (keyidx_set(&s->ep_nodes, node_h, it.node_ip, NULL) < 0 || had < 0)
		/* Applied all the same; its delete will miss the IP until a full list sweeps it. */
		log_warn("no memory to index endpoint key=%.*s", (int)kv->key_len, kv->key);
	if (had == 1 && old_ip != it.ip) {
		/* The pod's IP changed: the old one is no longer this endpoint's. */
		struct item del = { .kind = IT_EP_DEL, .ip = old_ip, .node_ip = old_node_ip };

		ep_in(s, &del);
	}
	it.kind = IT_EP_PUT;
	it.recv_ns = now_ns(CLOCK_REALTIME);
	if (live && it.written_ns)
		hist_add(&s->delivery, it.recv_ns - it.written_ns);
	ep_in(s, &it);
	return 0;
}

static int node_in(struct sync *s, const struct etcd_kv *kv, bool deleted, bool live)
{
	const char *name = kv->key + strlen(K_NODES);
	size_t len = kv->key_len - strlen(K_NODES);
	struct item it = { .live = live, .gen = s->io_gen };
	struct json_object *o;
	const char *n;

	if (!name_ok_len(name, len)) {
		if (!deleted)
			deadletter_add(s, kv->key, kv->key_len, kv->mod_revision,
				       "key: node name must be a DNS name");
		return 0;
	}
	if (is_own(s, name, len)) {
		own_record(s, kv, deleted);
		return 0;
	}
	it.key = strndup(name, len);
	if (!it.key)
		return -ENOMEM;
	if (deleted) {
		deadletter_clear(s, kv->key, kv->key_len);
		it.kind = IT_NODE_DEL;
		return queue_push(s, &it);
	}
	o = parse_value(s, kv->value, kv->value_len);
	n = o ? obj_str(o, "name") : NULL;
	if (!o || (n && strcmp(n, it.key))) {
		deadletter_add(s, kv->key, kv->key_len, kv->mod_revision, "%s",
			       !o ? "value: not a JSON object" : "name: differs from the key");
		json_object_put(o);
		free(it.key);
		return 0;
	}
	it.kind = IT_NODE_PUT;
	it.val = o;
	it.written_ns = obj_updated(o);
	return queue_push(s, &it);
}

static int service_in(struct sync *s, const struct etcd_kv *kv, bool deleted, bool live)
{
	const char *id = kv->key + strlen(K_SERVICES);
	size_t len = kv->key_len - strlen(K_SERVICES), n1 = segment(id, len);
	struct item it = { .live = live, .gen = s->io_gen };
	char why[512], spec_id[2 * SVC_NAME_MAX + 2];
	struct json_object *o;
	int err;

	if (n1 == len || !n1 || memchr(id + n1 + 1, '/', len - n1 - 1) || n1 + 1 == len) {
		if (!deleted)
			deadletter_add(s, kv->key, kv->key_len, kv->mod_revision,
				       "key: want %s<namespace>/<name>", K_SERVICES);
		return 0;
	}
	it.key = strndup(id, len);
	if (!it.key)
		return -ENOMEM;
	if (deleted) {
		deadletter_clear(s, kv->key, kv->key_len);
		it.kind = IT_SVC_DEL;
		return queue_push(s, &it);
	}
	o = parse_value(s, kv->value, kv->value_len);
	if (!o) {
		deadletter_add(s, kv->key, kv->key_len, kv->mod_revision,
			       "value: not a JSON object");
		free(it.key);
		return 0;
	}
	/*
	 * Validated here, by the one service validator, and queued as the compact spec: the
	 * JSON tree is several times its size, and a resync queues thousands of them.
	 */
	it.spec = malloc(sizeof(*it.spec));
	if (!it.spec) {
		json_object_put(o);
		free(it.key);
		return -ENOMEM;
	}
	err = service_spec_parse(o, it.spec, why, sizeof(why));
	json_object_put(o);
	if (!err) {
		service_spec_id(it.spec, spec_id, sizeof(spec_id));
		if (strcmp(spec_id, it.key)) {
			snprintf(why, sizeof(why), "namespace/name: the spec says '%s'", spec_id);
			err = -EINVAL;
		}
	}
	if (err) {
		deadletter_add(s, kv->key, kv->key_len, kv->mod_revision,
			       "invalid service spec: %s", why);
		spec_drop(it.spec);
		free(it.key);
		return 0;
	}
	it.kind = IT_SVC_PUT;
	return queue_push(s, &it);
}

static int record_in(struct sync *s, const struct etcd_kv *kv, bool deleted, bool live)
{
	size_t hl = strlen(K_HINTS);

	if (kv->key_len > strlen(K_ENDPOINTS) && !memcmp(kv->key, K_ENDPOINTS,
							  strlen(K_ENDPOINTS)))
		return endpoint_in(s, kv, deleted, live);
	if (kv->key_len > strlen(K_NODES) && !memcmp(kv->key, K_NODES, strlen(K_NODES)))
		return node_in(s, kv, deleted, live);
	if (kv->key_len > strlen(K_SERVICES) && !memcmp(kv->key, K_SERVICES,
							 strlen(K_SERVICES)))
		return service_in(s, kv, deleted, live);
	if (kv->key_len > hl && !memcmp(kv->key, K_HINTS, hl) &&
	    is_own(s, kv->key + hl, kv->key_len - hl))
		own_record(s, kv, deleted);
	/* Other nodes' hints, CIDR records, the version: nothing to apply. */
	return 0;
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
	if (ev->kv.mod_revision > s->last_rev)
		s->last_rev = ev->kv.mod_revision;
	return record_in(s, &ev->kv, ev->type == ETCD_EVENT_DELETE, true);
}

static void watch_progress(int64_t rev, void *data)
{
	struct sync *s = data;

	if (rev > s->last_rev)
		s->last_rev = rev;
	queue_flush(s);
	pthread_mutex_lock(&s->lock);
	s->revision = s->last_rev;
	pthread_mutex_unlock(&s->lock);
}

/* ---- I/O thread: session ---- */

static int version_cb(const struct etcd_kv *kv, void *data)
{
	snprintf(data, 32, "%.*s", (int)kv->value_len, kv->value);
	return 0;
}

/* The layout is ours to define once; an agent never syncs against a layout it does not know. */
static int check_version(struct sync *s)
{
	char found[32] = "";
	bool created;
	int err = etcd_create(s->ec, K_VERSION, LAYOUT_VERSION, 0, &created);

	if (err || created)
		return err;
	err = etcd_range(s->ec, K_VERSION, strlen(K_VERSION), NULL, 0, 0, 0, version_cb, found,
			 NULL, NULL);
	if (err)
		return err;
	if (strcmp(found, LAYOUT_VERSION)) {
		log_error("etcd holds podlane key layout version '%s', this agent knows '%s'",
			  found, LAYOUT_VERSION);
		return -EPROTONOSUPPORT;
	}
	return 0;
}

struct cidr_scan {
	struct sync *s;
	char mine[24];
	unsigned char *taken;	/* bitmap over candidate subnets */
	size_t ncand;
};

static int cidr_cb(const struct etcd_kv *kv, void *data)
{
	struct cidr_scan *cs = data;
	const char *cidr = kv->key + strlen(K_CIDRS);
	struct json_object *o = parse_value(cs->s, kv->value, kv->value_len);
	struct subnet4 sn;
	const char *node = o ? obj_str(o, "node") : NULL;

	if (!subnet_parse(cidr, &sn) && subnet_contains(&cs->s->cluster, sn.net) &&
	    sn.prefix_len == cs->s->o.node_cidr_len) {
		size_t idx = (ntohl(sn.net) - ntohl(cs->s->cluster.net)) >>
			     (32 - sn.prefix_len);

		if (idx < cs->ncand)
			cs->taken[idx / 8] |= 1 << (idx % 8);
		if (node && !strcmp(node, cs->s->node_name))
			snprintf(cs->mine, sizeof(cs->mine), "%s", cidr);
	}
	json_object_put(o);
	return 0;
}

/*
 * This node's pod CIDR: the allocation it already holds, else the first free one, claimed
 * in a txn that only succeeds when nobody created that allocation record first.
 */
static int allocate_cidr(struct sync *s)
{
	struct cidr_scan cs = { .s = s };
	unsigned int bits = s->o.node_cidr_len - s->cluster.prefix_len;
	char value[128];
	size_t i;
	int err;

	if (!s->o.cluster_cidr || s->pod_cidr[0])
		return 0;
	cs.ncand = (size_t)1 << bits;
	cs.taken = calloc(cs.ncand / 8 + 1, 1);
	if (!cs.taken)
		return -ENOMEM;
	err = etcd_range_prefix(s->ec, K_CIDRS, LIST_PAGE, cidr_cb, &cs, NULL);
	snprintf(value, sizeof(value), "{\"node\":\"%s\"}", s->node_name);
	for (i = 0; !err && !cs.mine[0] && i < cs.ncand; i++) {
		__u32 first = ntohl(s->cluster.net) + (i << (32 - s->o.node_cidr_len));
		struct in_addr ia = { htonl(first) };
		char key[128], cidr[24];
		bool created;

		if (cs.taken[i / 8] & (1 << (i % 8)))
			continue;
		snprintf(cidr, sizeof(cidr), "%s/%u", inet_ntoa(ia), s->o.node_cidr_len);
		snprintf(key, sizeof(key), "%s%s", K_CIDRS, cidr);
		err = etcd_create(s->ec, key, value, 0, &created);
		if (!err && created)
			snprintf(cs.mine, sizeof(cs.mine), "%s", cidr);
	}
	free(cs.taken);
	if (err)
		return err;
	if (!cs.mine[0]) {
		log_error("no free pod CIDR of size /%u left in cluster CIDR '%s'",
			  s->o.node_cidr_len, s->o.cluster_cidr);
		return -ENOSPC;
	}
	pthread_mutex_lock(&s->lock);
	snprintf(s->pod_cidr, sizeof(s->pod_cidr), "%s", cs.mine);
	pthread_mutex_unlock(&s->lock);
	log_info("pod CIDR allocated node=%s pod_cidr=%s", s->node_name, cs.mine);
	return 0;
}

static int lease_ensure(struct sync *s)
{
	int64_t id, ttl;
	int err;

	if (s->lease) {
		err = etcd_lease_keepalive(s->pec, s->lease, &ttl);
		if (err)
			return err;
		pthread_mutex_lock(&s->lock);
		s->lease_ttl_left = ttl;
		pthread_mutex_unlock(&s->lock);
		if (ttl > 0)
			return 0;
		log_warn("etcd lease expired, records are republished lease=%lld",
			 (long long)s->lease);
	}
	err = etcd_lease_grant(s->pec, s->o.lease_ttl, &id);
	if (err)
		return err;
	CNT_ADD(s, lease_grants, 1);
	pthread_mutex_lock(&s->lock);
	s->lease = id;
	s->lease_ttl_left = s->o.lease_ttl;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Our record key in etcd that the main thread no longer wants, from index *i on (malloc'ed). */
static char *unwanted(struct sync *s, const struct pubset *want, size_t *i)
{
	char *key = NULL;
	bool found;

	pthread_mutex_lock(&s->pub_lock);
	for (; *i < s->published.n && !key; ++*i) {
		pubset_find(want, s->published.v[*i].key, &found);
		if (!found)
			key = strdup(s->published.v[*i].key);
	}
	pthread_mutex_unlock(&s->pub_lock);
	return key;
}

/*
 * Put what the main thread wants and etcd does not hold; delete what it no longer wants.
 * Runs on the publisher thread: a put waits for etcd's answer (milliseconds, more when etcd
 * is busy), and the watch must not wait with it.
 */
static int publish(struct sync *s, struct pubset **cur)
{
	struct pubset *want, *old = NULL;
	size_t i, rounds;
	char *key = NULL;
	int err = 0;

	/* A new snapshot replaces the one this thread holds (and retries until it is out). */
	pthread_mutex_lock(&s->lock);
	if (s->pending) {
		old = *cur;
		*cur = s->pending;
		s->pending = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (old) {
		pubset_free(old);
		free(old);
	}
	want = *cur;
	if (!want)
		return 0;
	for (i = 0; i < want->n && !err; i++) {
		const struct pub *w = &want->v[i];
		bool found, same;
		ssize_t at;
		char *v;
		size_t len;

		pthread_mutex_lock(&s->pub_lock);
		at = pubset_find(&s->published, w->key, &found);
		same = found && s->published.v[at].lease == s->lease &&
		       !strcmp(s->published.v[at].val, w->val);
		pthread_mutex_unlock(&s->pub_lock);
		if (same)
			continue;
		len = strlen(w->val);
		v = malloc(len + 48);
		if (!v)
			return -ENOMEM;
		memcpy(v, w->val, len - 1);
		len = len - 1 + sprintf(v + len - 1, ",\"updated\":%llu}",
					(unsigned long long)now_ns(CLOCK_REALTIME));
		err = etcd_put(s->pec, w->key, v, len, s->lease, NULL);
		free(v);
		if (!err) {
			pthread_mutex_lock(&s->pub_lock);
			pubset_set(&s->published, w->key, w->val, s->lease);
			pthread_mutex_unlock(&s->pub_lock);
			CNT_ADD(s, published_puts, 1);
		}
	}
	/*
	 * Index i walks the mirror; a deleted key leaves it, so the walk steps back one. Bounded
	 * by the mirror's size: the watch may change it meanwhile, never grow it for ever.
	 */
	pthread_mutex_lock(&s->pub_lock);
	rounds = s->published.n;
	pthread_mutex_unlock(&s->pub_lock);
	for (i = 0; !err && rounds-- && (key = unwanted(s, want, &i)); free(key)) {
		err = etcd_delete(s->pec, key, NULL, NULL);
		if (err)
			break;
		CNT_ADD(s, published_deletes, 1);
		pthread_mutex_lock(&s->pub_lock);
		pubset_del(&s->published, key);
		pthread_mutex_unlock(&s->pub_lock);
		i--;
	}
	if (err) {
		free(key);
		CNT_ADD(s, publish_errors, 1);
	}
	return err;
}

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

	err = etcd_range(s->ec, from, strlen(from), end, elen, *rev, LIST_PAGE, list_walk_cb, &w,
			 *rev ? NULL : rev, &more);
	/* Bounded by the store's size: every page moves past at least one key. */
	while (!err && more && w.last_len && ++pages < LIST_MAX_PAGES)
		/* The key plus its NUL, the smallest key after it. */
		err = etcd_range(s->ec, w.last, w.last_len + 1, end, elen, *rev, LIST_PAGE,
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
	char end[sizeof(PREFIX)], ep_end[sizeof(K_ENDPOINTS)];
	int err;

	etcd_prefix_end(PREFIX, strlen(PREFIX), end);
	end[strlen(PREFIX)] = '\0';
	memcpy(ep_end, K_ENDPOINTS, sizeof(K_ENDPOINTS));
	ep_end[strlen(K_ENDPOINTS) - 1]++;	/* "endpoints0": just after every "endpoints/" */
	*rev = 0;
	err = list_range(s, ep_end, end, rev);
	if (!err)
		err = queue_flush(s);
	if (!err)
		err = list_range(s, PREFIX, K_ENDPOINTS, rev);
	if (!err)
		err = list_range(s, K_ENDPOINTS, ep_end, rev);
	return err;
}

static int full_list(struct sync *s)
{
	struct item it = {};
	__u64 t0 = now_ns(CLOCK_MONOTONIC);
	int64_t rev = 0;
	int err;

	set_state(s, "listing");
	s->io_gen++;
	pthread_mutex_lock(&s->pub_lock);
	pubset_free(&s->published);
	pthread_mutex_unlock(&s->pub_lock);
	/* Refilled by the list; the sweep takes out of the map what the list did not confirm. */
	keyidx_clear(&s->ep_ips);
	keyidx_clear(&s->ep_nodes);
	it.kind = IT_RESYNC_BEGIN;
	it.gen = s->io_gen;
	err = queue_push(s, &it);
	if (!err)
		err = list_all(s, &rev);
	if (err) {
		queue_flush(s);
		return err;
	}
	ep_sweep(s);
	it.kind = IT_RESYNC_END;
	it.written_ns = t0;
	err = queue_push(s, &it);
	if (!err)
		err = queue_flush(s);
	if (err)
		return err;
	s->last_rev = rev;
	s->listing = false;
	CNT_ADD(s, resyncs, 1);
	pthread_mutex_lock(&s->lock);
	s->revision = rev;
	pthread_mutex_unlock(&s->lock);
	log_info("etcd list done revision=%lld keys=%llu ms=%llu", (long long)rev,
		 (unsigned long long)CNT(s, listed),
		 (unsigned long long)((now_ns(CLOCK_MONOTONIC) - t0) / 1000000));
	return 0;
}

static bool stopping(struct sync *s)
{
	bool stop;

	pthread_mutex_lock(&s->lock);
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

/* Sleep ms unless stopped or woken (a new snapshot to publish). */
static void io_wait(struct sync *s, unsigned int ms)
{
	struct timespec ts;

	ts = deadline_in(ms);
	pthread_mutex_lock(&s->lock);
	if (!s->stop)
		pthread_cond_timedwait(&s->wake, &s->lock, &ts);
	pthread_mutex_unlock(&s->lock);
}

static unsigned int failure(struct sync *s, int err, const char *what)
{
	unsigned int n, ms;

	CNT_ADD(s, failures, 1);
	pthread_mutex_lock(&s->lock);
	n = ++s->consecutive_failures;
	snprintf(s->last_error, sizeof(s->last_error), "%s: %s (%s)", what,
		 etcd_last_error(s->ec), strerror(-err));
	pthread_mutex_unlock(&s->lock);
	log_warn("etcd sync failed step=%s err=\"%s\" detail=\"%s\" failures=%u", what,
		 strerror(-err), etcd_last_error(s->ec), n);
	etcd_endpoint_next(s->ec);
	if (n < BREAKER_THRESHOLD) {
		/* The next endpoint at once; then 100 ms, 200 ms, ... */
		ms = n == 1 ? 0 : 100U << (n - 2);
		set_state(s, "reconnecting");
		return ms;
	}
	/* Open: leave the store alone for a while, then let one probe through. */
	ms = BREAKER_OPEN_MS << (n - BREAKER_THRESHOLD < 3 ? n - BREAKER_THRESHOLD : 3);
	if (ms > BREAKER_OPEN_MAX_MS)
		ms = BREAKER_OPEN_MAX_MS;
	pthread_mutex_lock(&s->lock);
	if (!s->breaker_open)
		CNT_ADD(s, breaker_opens, 1);
	s->breaker_open = true;
	pthread_mutex_unlock(&s->lock);
	set_state(s, "breaker-open");
	return ms;
}

static void success(struct sync *s)
{
	pthread_mutex_lock(&s->lock);
	s->consecutive_failures = 0;
	s->breaker_open = false;
	pthread_mutex_unlock(&s->lock);
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

static void *io_thread(void *arg)
{
	struct sync *s = arg;
	struct etcd_watch *w = NULL;
	bool session = false;
	unsigned int wait_ms = 0;
	int err;

	loop_short_slice("sync-io");
	s->listing = true;
	/* Benchmark hook: replay the store's history from a revision instead of listing it. */
	if (getenv("PODLANE_SYNC_REPLAY_FROM")) {
		s->last_rev = strtoll(getenv("PODLANE_SYNC_REPLAY_FROM"), NULL, 10) - 1;
		s->listing = false;
	}
	while (!stopping(s)) {
		const char *step;

		if (wait_ms) {
			io_wait(s, wait_ms);
			wait_ms = 0;
			continue;
		}
		if (!session) {
			set_state(s, "connecting");
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
		if (s->listing) {
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
			w = etcd_watch_start(s->ec, PREFIX, s->last_rev + 1, &watch_ops, s);
			if (!w) {
				wait_ms = failure(s, -errno, "watch");
				continue;
			}
			set_state(s, "watching");
			if (!s->pub_ready) {
				/* Layout checked, our records mirrored from the list: publish. */
				pthread_mutex_lock(&s->lock);
				s->pub_ready = true;
				pthread_mutex_unlock(&s->lock);
				pub_wakeup(s);
			}
		}
		err = etcd_watch_poll(w, 100);
		queue_flush(s);
		if (err == -ERANGE) {
			CNT_ADD(s, compactions, 1);
			log_warn("etcd watch revision compacted, full resync revision=%lld "
				 "compacted=%lld", (long long)s->last_rev + 1,
				 (long long)etcd_watch_compacted(w));
			etcd_watch_stop(w);
			w = NULL;
			s->listing = true;
			continue;
		}
		if (err == -ECANCELED && stopping(s))
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

/* Wait up to ms for something to publish; true when stopping. */
static bool pub_wait(struct sync *s, unsigned int ms)
{
	struct timespec ts;
	bool stop;

	ts = deadline_in(ms);
	pthread_mutex_lock(&s->lock);
	if (!s->stop && !s->pub_due)
		pthread_cond_timedwait(&s->pub_wake, &s->lock, &ts);
	s->pub_due = false;
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static unsigned int pub_failure(struct sync *s, int err, const char *what, unsigned int n)
{
	CNT_ADD(s, failures, 1);
	pthread_mutex_lock(&s->lock);
	snprintf(s->last_error, sizeof(s->last_error), "%s: %s (%s)", what,
		 etcd_last_error(s->pec), strerror(-err));
	pthread_mutex_unlock(&s->lock);
	log_warn("etcd publish failed step=%s err=\"%s\" detail=\"%s\" failures=%u", what,
		 strerror(-err), etcd_last_error(s->pec), n);
	etcd_endpoint_next(s->pec);
	/* The next endpoint at once; then 100 ms, 200 ms, ... up to the breaker's pause. */
	if (n == 1)
		return 1;
	return n - 2 < 6 && 100U << (n - 2) < BREAKER_OPEN_MS ? 100U << (n - 2) : BREAKER_OPEN_MS;
}

/*
 * The publisher: keeps this node's lease alive and its records in etcd, with its own client,
 * so that no put or keepalive (a round trip to etcd's leader each) holds up the watch.
 */
static void *pub_thread(void *arg)
{
	struct sync *s = arg;
	struct pubset *cur = NULL;
	__u64 next_keepalive = 0, now;
	unsigned int wait_ms = 1000, fails = 0;
	bool ready;
	int err;

	while (!pub_wait(s, wait_ms)) {
		pthread_mutex_lock(&s->lock);
		ready = s->pub_ready;
		pthread_mutex_unlock(&s->lock);
		wait_ms = 1000;
		if (!ready)
			continue;
		now = now_ns(CLOCK_MONOTONIC);
		if (now >= next_keepalive) {
			err = lease_ensure(s);
			if (err) {
				wait_ms = pub_failure(s, err, "lease", ++fails);
				continue;
			}
			next_keepalive = now + s->o.lease_ttl * 1000000000ULL / 3;
		}
		err = publish(s, &cur);
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
	pubset_free(cur);
	free(cur);
	return NULL;
}

/* ---- main thread: apply ---- */

static void node_apply(struct sync *s, struct item *it)
{
	struct op_error e = {};
	char key[256];

	snprintf(key, sizeof(key), "%s%s", K_NODES, it->key);
	if (it->kind == IT_NODE_DEL) {
		node_remove(s->a, it->key, NULL, &e);
		gen_del(&s->nodes, it->key);
		CNT_ADD(s, node_deletes, 1);
		return;
	}
	{
		struct node_record n = {};
		const char *ip = obj_str(it->val, "nodeIP"), *cidr = obj_str(it->val, "podCIDR");

		/* A node without a pod CIDR yet (still allocating) has nothing to route. */
		if (!cidr)
			return;
		if (node_record_parse(&n, it->key, ip ? ip : "", cidr, &e) ||
		    node_upsert(s->a, &n, NULL, &e)) {
			deadletter_add(s, key, strlen(key), 0, "%s", e.msg);
			return;
		}
	}
	deadletter_clear(s, key, strlen(key));
	gen_set(&s->nodes, it->key, s->gen);
	CNT_ADD(s, node_upserts, 1);
}

static void service_apply(struct sync *s, struct item *it)
{
	struct op_error e = {};
	char key[256];

	snprintf(key, sizeof(key), "%s%s", K_SERVICES, it->key);
	if (it->kind == IT_SVC_DEL) {
		/* Only services that came from etcd; podlanectl's own stay. */
		if (service_store_del(s->a, it->key))
			CNT_ADD(s, svc_deletes, 1);
		return;
	}
	if (service_store_put(s->a, it->spec, s->gen, &e)) {
		deadletter_add(s, key, strlen(key), 0, "%s", e.msg);
		return;
	}
	deadletter_clear(s, key, strlen(key));
	CNT_ADD(s, svc_upserts, 1);
}

/* After a full list: the nodes and services it did not confirm are gone from etcd. */
static void sweep(struct sync *s)
{
	struct op_error e = {};
	size_t i;

	for (i = 0; i < s->nodes.n; i++) {
		if (s->nodes.v[i].gen == s->gen)
			continue;
		node_remove(s->a, s->nodes.v[i].key, NULL, &e);
		gen_del(&s->nodes, s->nodes.v[i].key);
		CNT_ADD(s, swept, 1);
		i--;
	}
	CNT_ADD(s, swept, service_store_sweep(s->a, s->gen));
}

static void apply(struct sync *s, struct item *items, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct item *it = &items[i];

		switch (it->kind) {
		case IT_EP_PUT:
		case IT_EP_DEL:
			/* The I/O thread writes endpoints itself (ep_in). */
			break;
		case IT_NODE_PUT:
		case IT_NODE_DEL:
			node_apply(s, it);
			break;
		case IT_SVC_PUT:
		case IT_SVC_DEL:
			service_apply(s, it);
			break;
		case IT_RESYNC_BEGIN:
			s->gen = it->gen + s->gen_base;
			s->resync_started_ns = now_ns(CLOCK_MONOTONIC);
			break;
		case IT_RESYNC_END:
			sweep(s);
			__atomic_store_n(&s->c.resync_ms_last,
					 (now_ns(CLOCK_MONOTONIC) - it->written_ns) / 1000000,
					 __ATOMIC_RELAXED);
			break;
		}
		free(it->key);
		json_object_put(it->val);
		spec_drop(it->spec);
	}
	service_store_flush(s->a);	/* the batch's Maglev tables, in one map update */
	CNT_ADD(s, applied, n);
	__atomic_store_n(&s->c.last_apply_ns, now_ns(CLOCK_MONOTONIC), __ATOMIC_RELAXED);
}

static void sync_snapshot(struct sync *s);

void sync_run(struct agent *a)
{
	struct sync *s = a->sync;
	static struct item items[APPLY_CHUNK];
	unsigned int done = 0, n, i;
	struct epoll_event evs[4];
	__u64 v, t0, h;
	int k;

	if (!s)
		return;
	k = epoll_wait(s->epfd, evs, 4, 0);
	for (i = 0; i < (unsigned int)(k > 0 ? k : 0); i++) {
		if (evs[i].data.u32 == 1 && read(s->tfd, &v, sizeof(v)) > 0) {
			t0 = now_ns(CLOCK_MONOTONIC);
			sync_snapshot(s);
			loop_time(a, LOOP_SYNC_SNAPSHOT, now_ns(CLOCK_MONOTONIC) - t0);
		}
	}
	if (read(s->efd, &v, sizeof(v)) < 0)
		return;
	t0 = now_ns(CLOCK_MONOTONIC);
	h = __atomic_exchange_n(&s->handover_ns, 0, __ATOMIC_RELAXED);
	if (h && t0 > h)
		hist_add(&s->handover, t0 - h);
	while (done < APPLY_BUDGET) {
		pthread_mutex_lock(&s->lock);
		n = s->count < APPLY_CHUNK ? s->count : APPLY_CHUNK;
		for (i = 0; i < n; i++)
			items[i] = s->q[(s->head + i) % QUEUE_CAP];
		s->head = (s->head + n) % QUEUE_CAP;
		s->count -= n;
		pthread_cond_signal(&s->not_full);
		pthread_mutex_unlock(&s->lock);
		if (!n)
			break;
		apply(s, items, n);
		done += n;
	}
	pthread_mutex_lock(&s->lock);
	n = s->count;
	pthread_mutex_unlock(&s->lock);
	loop_time(a, LOOP_SYNC_APPLY, now_ns(CLOCK_MONOTONIC) - t0);
	if (!n)
		return;
	/* More left: come back after the loop has looked at everything else. */
	v = 1;
	__atomic_store_n(&s->handover_ns, now_ns(CLOCK_MONOTONIC), __ATOMIC_RELAXED);
	if (write(s->efd, &v, sizeof(v)) < 0)
		log_debug("failed to requeue sync work err=\"%s\"", strerror(errno));
}

/* ---- main thread: this node's records out ---- */

struct snap_state {
	struct sync *s;
	struct pubset *ps;
	char node_ip[INET_ADDRSTRLEN];
};

static int snap_endpoint(__u32 ifindex, const struct endpoint_meta *m, void *data)
{
	struct snap_state *st = data;
	struct json_object *o;
	char key[512], ip[INET_ADDRSTRLEN];

	if (m->addr.family != PODLANE_AF_INET)
		return 0;
	inet_ntop(AF_INET, &m->addr.ip4, ip, sizeof(ip));
	snprintf(key, sizeof(key), "%s%s/%s/%s", K_ENDPOINTS, st->s->node_name, m->container_id,
		 m->ifname);
	o = json_object_new_object();
	json_object_object_add(o, "node", json_object_new_string(st->s->node_name));
	json_object_object_add(o, "nodeIP", json_object_new_string(st->node_ip));
	json_object_object_add(o, "ip", json_object_new_string(ip));
	json_object_object_add(o, "containerID", json_object_new_string(m->container_id));
	json_object_object_add(o, "ifname", json_object_new_string(m->ifname));
	json_object_object_add(o, "network", json_object_new_string(m->network));
	pubset_set(st->ps, key, json_object_to_json_string_ext(o, VALUE_JSON), 0);
	json_object_put(o);
	return 0;
}

static double round2(double v)
{
	return (long long)(v * 100 + 0.5) / 100.0;
}

/* This node's pressure hint, as `podlanectl hints` shows it, once accounting has one. */
static void snap_hints(struct snap_state *st)
{
	const struct acct *ac = st->s->a->acct;
	const struct hint *h = &ac->node.hint;
	struct json_object *o;
	char key[256];

	if (!ac->seq)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "node", json_object_new_string(st->s->node_name));
	json_object_object_add(o, "score", json_object_new_double(round2(h->score)));
	json_object_object_add(o, "dominant", json_object_new_string(h->dominant ? h->dominant :
								      "cpu"));
	json_object_object_add(o, "cpu", json_object_new_double(round2(h->cpu)));
	json_object_object_add(o, "runq", json_object_new_double(round2(h->runq)));
	json_object_object_add(o, "memory", json_object_new_double(round2(h->memory)));
	json_object_object_add(o, "traffic", json_object_new_double(round2(h->traffic)));
	json_object_object_add(o, "cpu_headroom",
			       json_object_new_double(round2(100 * (1 - ac->node.busy))));
	snprintf(key, sizeof(key), "%s%s", K_HINTS, st->s->node_name);
	pubset_set(st->ps, key, json_object_to_json_string_ext(o, VALUE_JSON), 0);
	json_object_put(o);
}

static void sync_snapshot(struct sync *s)
{
	struct snap_state st = { .s = s };
	struct pubset *copy, *old;
	struct json_object *o;
	char key[256], cidr[24];

	st.ps = calloc(1, sizeof(*st.ps));
	if (!st.ps)
		return;
	inet_ntop(AF_INET, &s->node_ip, st.node_ip, sizeof(st.node_ip));
	pthread_mutex_lock(&s->lock);
	snprintf(cidr, sizeof(cidr), "%s", s->pod_cidr);
	pthread_mutex_unlock(&s->lock);
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(s->node_name));
	json_object_object_add(o, "nodeIP", json_object_new_string(st.node_ip));
	if (cidr[0])
		json_object_object_add(o, "podCIDR", json_object_new_string(cidr));
	snprintf(key, sizeof(key), "%s%s", K_NODES, s->node_name);
	pubset_set(st.ps, key, json_object_to_json_string_ext(o, VALUE_JSON), 0);
	json_object_put(o);
	eps_walk(s->a, snap_endpoint, &st);
	if (s->a->acct)
		snap_hints(&st);
	copy = pubset_equal(st.ps, s->last_snap) ? NULL : pubset_dup(st.ps);
	if (!copy) {
		/* Unchanged (or out of memory: the next tick tries again). */
		pubset_free(st.ps);
		free(st.ps);
		return;
	}
	/* The publisher takes pending over; one it has not taken yet is replaced here. */
	pthread_mutex_lock(&s->lock);
	old = s->pending;
	s->pending = copy;
	s->pub_due = true;
	pthread_cond_signal(&s->pub_wake);
	pthread_mutex_unlock(&s->lock);
	pubset_free(old);
	free(old);
	pubset_free(s->last_snap);
	free(s->last_snap);
	s->last_snap = st.ps;
}

/* ---- setup ---- */

static int remote_map_open(struct sync *s)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

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
	}
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, PODLANE_REMOTE_MAP, sizeof(__be32),
			    sizeof(struct remote_endpoint), s->o.max_remote, &opts);
	if (fd < 0) {
		log_error("failed to create map '%s': %s", PODLANE_REMOTE_MAP, strerror(errno));
		return -errno;
	}
	if (bpf_obj_pin(fd, path)) {
		int err = -errno;

		log_error("failed to pin map '%s': %s", path, strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

int sync_open(struct agent *a, const struct sync_opts *o)
{
	struct etcd_config cfg = {};
	struct epoll_event ev = { .events = EPOLLIN };
	struct itimerspec its = {
		.it_interval.tv_nsec = SNAPSHOT_MS * 1000000L,
		.it_value.tv_nsec = SNAPSHOT_MS * 1000000L,
	};
	struct sync *s;
	int err;

	if (!o->endpoints)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->q = calloc(QUEUE_CAP, sizeof(*s->q))) ||
	    !(s->eb = calloc(1, sizeof(*s->eb)))) {
		if (s)
			free(s->q);
		free(s);
		log_error("failed to start the etcd sync: out of memory");
		return -ENOMEM;
	}
	s->a = a;
	s->o = *o;
	s->efd = s->tfd = s->epfd = s->remote_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->pub_lock, NULL);
	pthread_cond_init(&s->not_full, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_cond_init(&s->pub_wake, NULL);
	snprintf(s->state, sizeof(s->state), "starting");
	a->sync = s;
	if (a->node_name) {
		snprintf(s->node_name, sizeof(s->node_name), "%s", a->node_name);
	} else if (gethostname(s->node_name, sizeof(s->node_name)) ||
		   !name_ok(s->node_name, sizeof(s->node_name) - 1)) {
		log_error("host name '%s' is not a usable node name: give --node-name",
			  s->node_name);
		return -EINVAL;
	}
	/* The other nodes reach this node's pods through it: no record makes sense without. */
	if (!a->node_ip) {
		log_error("--etcd-endpoints needs --node-ip: the other nodes route to it");
		return -EINVAL;
	}
	s->node_ip = a->node_ip;
	if (o->cluster_cidr) {
		subnet_parse(o->cluster_cidr, &s->cluster);
		if (o->node_cidr_len < s->cluster.prefix_len ||
		    o->node_cidr_len - s->cluster.prefix_len > 20) {
			log_error("--node-cidr-size /%u does not fit cluster CIDR '%s'",
				  o->node_cidr_len, o->cluster_cidr);
			return -EINVAL;
		}
	}
	cfg.endpoints = o->endpoints;
	cfg.cacert = o->cacert;
	cfg.cert = o->cert;
	cfg.key = o->key;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		log_error("failed to initialise libcurl");
		return -EIO;
	}
	s->ec = etcd_client_new(&cfg);
	s->pec = s->ec ? etcd_client_new(&cfg) : NULL;
	if (!s->pec) {
		log_error("failed to set up the etcd client endpoints='%s': %s", o->endpoints,
			  strerror(errno));
		return -errno;
	}
	s->tok = json_tokener_new();
	trace_open(s);
	s->remote_fd = remote_map_open(s);
	if (s->remote_fd < 0)
		return s->remote_fd;
	s->gen_base = (__u32)time(NULL);
	s->gen = s->gen_base;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->efd < 0 || s->tfd < 0 || s->epfd < 0 || !s->tok ||
	    timerfd_settime(s->tfd, 0, &its, NULL)) {
		log_error("failed to set up the etcd sync: %s", strerror(errno));
		return -errno;
	}
	ev.data.u32 = 0;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->efd, &ev);
	ev.data.u32 = 1;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &ev);
	/* The first snapshot before the thread runs: it never deletes records it cannot see. */
	sync_snapshot(s);
	/* sync_open runs on the main thread: it applies the nodes and services handed over. */
	loop_short_slice("main");
	err = pthread_create(&s->thread, NULL, io_thread, s);
	if (err) {
		log_error("failed to start the etcd sync thread: %s", strerror(err));
		return -err;
	}
	s->thread_started = true;
	err = pthread_create(&s->pub, NULL, pub_thread, s);
	if (err) {
		log_error("failed to start the etcd publisher thread: %s", strerror(err));
		return -err;
	}
	s->pub_started = true;
	log_info("etcd sync started endpoints=%s node=%s lease_ttl=%u cluster_cidr=%s",
		 o->endpoints, s->node_name, o->lease_ttl,
		 o->cluster_cidr ? o->cluster_cidr : "none");
	return 0;
}

void sync_close(struct agent *a)
{
	struct sync *s = a->sync;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->wake);
	pthread_cond_broadcast(&s->pub_wake);
	pthread_cond_broadcast(&s->not_full);
	pthread_mutex_unlock(&s->lock);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	if (s->pub_started)
		pthread_join(s->pub, NULL);
	trace_close(s);
	/* Records stay in etcd under the lease: a restart within the TTL loses nothing. */
	while (s->count) {
		struct item *it = &s->q[s->head];

		free(it->key);
		json_object_put(it->val);
		spec_drop(it->spec);
		s->head = (s->head + 1) % QUEUE_CAP;
		s->count--;
	}
	pubset_free(s->pending);
	free(s->pending);
	pubset_free(s->last_snap);
	free(s->last_snap);
	pubset_free(&s->published);
	gen_free(&s->nodes);
	etcd_client_free(s->ec);
	etcd_client_free(s->pec);
	if (s->tok)
		json_tokener_free(s->tok);
	if (s->efd >= 0)
		close(s->efd);
	if (s->tfd >= 0)
		close(s->tfd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->remote_fd >= 0)
		close(s->remote_fd);
	free(s->q);
	free(s->eb);
	keyidx_free(&s->ep_ips);
	keyidx_free(&s->ep_nodes);
	free(s);
	a->sync = NULL;
}

int sync_fd(struct agent *a)
{
	return a->sync ? a->sync->epfd : -1;
}

/* ---- status ---- */

static struct json_object *hist_json(const struct hist *h)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "count", json_object_new_int64(h->n));
	json_object_object_add(o, "p50_us", json_object_new_int64(hist_pct(h, 50)));
	json_object_object_add(o, "p90_us", json_object_new_int64(hist_pct(h, 90)));
	json_object_object_add(o, "p99_us", json_object_new_int64(hist_pct(h, 99)));
	json_object_object_add(o, "max_us", json_object_new_int64(h->max));
	return o;
}

static struct json_object *loop_json(struct agent *a)
{
	struct json_object *o = json_object_new_object();
	unsigned int i;

	for (i = 0; i < LOOP_JOBS; i++) {
		struct loop_stat l = loop_stat_get(a, i);
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "runs", json_object_new_int64(l.runs));
		json_object_object_add(j, "avg_us", json_object_new_int64(l.runs ?
				       l.total_ns / l.runs / 1000 : 0));
		json_object_object_add(j, "max_us", json_object_new_int64(l.max_ns / 1000));
		json_object_object_add(j, "over_1ms", json_object_new_int64(l.over_1ms));
		json_object_object_add(o, loop_job_name(i), j);
	}
	return o;
}

/*
 * Entries in podlane_remote. Batched (one syscall per APPLY_CHUNK entries): status is polled
 * while a resync runs, and a walk of 150,000 keys one syscall at a time held the main loop,
 * and with it the services of the resync, for a good part of a second per poll.
 */
static __u64 remote_count(struct sync *s)
{
	static __be32 keys[APPLY_CHUNK];
	static struct remote_endpoint vals[APPLY_CHUNK];
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__be32 key, next, *prev = NULL;
	__u32 batch, count;
	void *in = NULL;
	__u64 n = 0;
	int err;

	do {
		count = APPLY_CHUNK;
		err = bpf_map_lookup_batch(s->remote_fd, in, &batch, keys, vals, &count, &opts);
		if (err && errno != ENOENT)
			break;
		n += count;
		in = &batch;
	} while (!err);
	if (!err || errno == ENOENT)
		return n;
	n = 0;		/* no batch operations: one key at a time */
	while (!bpf_map_get_next_key(s->remote_fd, prev, &next)) {
		key = next;
		prev = &key;
		n++;
	}
	return n;
}

#define COUNTERS(X)							\
	X(events) X(listed) X(applied) X(ep_upserts) X(ep_deletes) X(ep_stale_deletes)	\
	X(node_upserts) X(node_deletes) X(svc_upserts) X(svc_deletes) X(resyncs)	\
	X(compactions) X(reconnects) X(failures) X(breaker_opens) X(queue_full_waits)	\
	X(deadletters) X(published_puts) X(published_deletes) X(publish_errors)	\
	X(lease_grants) X(swept) X(resync_ms_last) X(first_item_ns) X(last_apply_ns)

struct json_object *sync_status_op(struct agent *a, struct json_object *req)
{
	struct sync *s = a->sync;
	struct json_object *o = json_object_new_object(), *c, *lease, *q, *lat;
	char ip[INET_ADDRSTRLEN];

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "enabled", json_object_new_boolean(s != NULL));
	if (!s)
		return o;
	inet_ntop(AF_INET, &s->node_ip, ip, sizeof(ip));
	c = json_object_new_object();
	lease = json_object_new_object();
	q = json_object_new_object();
	pthread_mutex_lock(&s->lock);
	json_object_object_add(o, "state", json_object_new_string(s->state));
	json_object_object_add(o, "endpoint", json_object_new_string(s->endpoint));
	json_object_object_add(o, "last_error", json_object_new_string(s->last_error));
	json_object_object_add(o, "revision", json_object_new_int64(s->revision));
	json_object_object_add(o, "pod_cidr", json_object_new_string(s->pod_cidr));
	json_object_object_add(o, "breaker", json_object_new_string(s->breaker_open ? "open" :
								    "closed"));
	json_object_object_add(o, "consecutive_failures",
			       json_object_new_int(s->consecutive_failures));
	json_object_object_add(lease, "id", json_object_new_int64(s->lease));
	json_object_object_add(lease, "ttl", json_object_new_int(s->o.lease_ttl));
	json_object_object_add(lease, "remaining", json_object_new_int64(s->lease_ttl_left));
	json_object_object_add(q, "depth", json_object_new_int(s->count));
	json_object_object_add(q, "capacity", json_object_new_int(QUEUE_CAP));
	json_object_object_add(o, "deadletters", json_object_new_int(s->ndl));
	pthread_mutex_unlock(&s->lock);
	json_object_object_add(o, "node", json_object_new_string(s->node_name));
	json_object_object_add(o, "node_ip", json_object_new_string(ip));
	json_object_object_add(o, "lease", lease);
	json_object_object_add(o, "queue", q);
#define X(f) json_object_object_add(c, #f, json_object_new_int64(CNT(s, f)));
	COUNTERS(X)
#undef X
	json_object_object_add(o, "counters", c);
	json_object_object_add(o, "remote_endpoints", json_object_new_int64(remote_count(s)));
	json_object_object_add(o, "nodes", json_object_new_int64(s->nodes.n));
	json_object_object_add(o, "services", json_object_new_int64(service_store_count(a)));
	lat = json_object_new_object();
	json_object_object_add(lat, "delivery", hist_json(&s->delivery));
	json_object_object_add(lat, "apply", hist_json(&s->apply));
	json_object_object_add(lat, "agent", hist_json(&s->agent));
	json_object_object_add(lat, "handover", hist_json(&s->handover));
	json_object_object_add(o, "latency", lat);
	json_object_object_add(o, "loop", loop_json(a));
	return o;
}

struct json_object *sync_deadletters_op(struct agent *a, struct json_object *req)
{
	struct sync *s = a->sync;
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	unsigned int i;

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "enabled", json_object_new_boolean(s != NULL));
	if (s) {
		pthread_mutex_lock(&s->lock);
		for (i = 0; i < s->ndl; i++) {
			struct json_object *d = json_object_new_object();

			json_object_object_add(d, "key", json_object_new_string(s->dl[i].key));
			json_object_object_add(d, "reason",
					       json_object_new_string(s->dl[i].reason));
			json_object_object_add(d, "revision",
					       json_object_new_int64(s->dl[i].revision));
			json_object_object_add(d, "at", json_object_new_int64(s->dl[i].at));
			json_object_array_add(arr, d);
		}
		pthread_mutex_unlock(&s->lock);
		json_object_object_add(o, "total", json_object_new_int64(CNT(s, deadletters)));
	}
	json_object_object_add(o, "deadletters", arr);
	return o;
}

char *sync_metrics_text(struct agent *a)
{
	struct sync *s = a->sync;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	unsigned int ndl, depth;
	bool open;

	if (!s)
		return NULL;
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	pthread_mutex_lock(&s->lock);
	ndl = s->ndl;
	depth = s->count;
	open = s->breaker_open;
	pthread_mutex_unlock(&s->lock);
	fprintf(f, "# HELP podlane_sync_deadletters_total Store records that failed validation.\n"
		"# TYPE podlane_sync_deadletters_total counter\n"
		"podlane_sync_deadletters_total %llu\n",
		(unsigned long long)CNT(s, deadletters));
	fprintf(f, "# HELP podlane_sync_deadletters Dead letters currently listed.\n"
		"# TYPE podlane_sync_deadletters gauge\npodlane_sync_deadletters %u\n", ndl);
	fprintf(f, "# HELP podlane_sync_events_total Store events received, by source.\n"
		"# TYPE podlane_sync_events_total counter\n"
		"podlane_sync_events_total{source=\"watch\"} %llu\n"
		"podlane_sync_events_total{source=\"list\"} %llu\n",
		(unsigned long long)CNT(s, events), (unsigned long long)CNT(s, listed));
	fprintf(f, "# HELP podlane_sync_applied_total Store events applied on this node.\n"
		"# TYPE podlane_sync_applied_total counter\npodlane_sync_applied_total %llu\n",
		(unsigned long long)CNT(s, applied));
	fprintf(f, "# HELP podlane_sync_resyncs_total Full lists of the store.\n"
		"# TYPE podlane_sync_resyncs_total counter\npodlane_sync_resyncs_total %llu\n",
		(unsigned long long)CNT(s, resyncs));
	fprintf(f, "# HELP podlane_sync_failures_total Failed store calls.\n"
		"# TYPE podlane_sync_failures_total counter\npodlane_sync_failures_total %llu\n",
		(unsigned long long)CNT(s, failures));
	fprintf(f, "# HELP podlane_sync_breaker_open 1 while the store's circuit breaker is "
		"open.\n# TYPE podlane_sync_breaker_open gauge\npodlane_sync_breaker_open %d\n",
		open);
	fprintf(f, "# HELP podlane_sync_queue_depth Events waiting for the map writers.\n"
		"# TYPE podlane_sync_queue_depth gauge\npodlane_sync_queue_depth %u\n", depth);
	fprintf(f, "# HELP podlane_sync_revision Store revision applied up to.\n"
		"# TYPE podlane_sync_revision gauge\npodlane_sync_revision %lld\n",
		(long long)s->revision);
	fclose(f);
	return buf;
}
