/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sync/sync_int.h - inside the etcd sync: its three threads, the state they share and who may
 * touch which part of it, and the functions its files call across.
 *
 * Threads: one I/O thread (io.c) owns the etcd client for the list and the watch (libcurl easy
 * handles for unary calls, a multi handle for the watch stream) and does all parsing and
 * validation (records.c). Endpoint records it writes into podlane_remote itself (remote.c),
 * batched per read from the socket: that map has no other writer, and a hop to another thread
 * would add a wake-up (a scheduler round trip, milliseconds on a busy node) to every event's
 * latency. Nodes and services it hands to podlaned's main thread (apply.c), where every other
 * writer of the routes and service maps already runs, through a bounded queue: when the main
 * thread falls behind, the I/O thread blocks on it, stops reading the watch stream, and TCP
 * pushes back to etcd. A third thread, the publisher (publish.c), with its own etcd client,
 * keeps this node's lease alive and its records in etcd: a put waits for etcd's answer, and
 * the watch must not wait with it. A curl multi loop inside the main epoll was the
 * alternative, but it would put JSON parsing of 100k events/s on the thread that also answers
 * the CNI plugin.
 *
 * The loop: list everything under /podlane/v1/ at one revision (paged; nodes and services
 * first, so that the main thread applies them while the endpoints are listed), hand it over
 * between RESYNC_BEGIN/RESYNC_END markers (the main thread then sweeps what the list did not
 * confirm), then watch from the listed revision + 1. The watch does not ask for previous
 * values (etcd would read each updated or deleted key's previous revision for it, which halves
 * the write rate etcd sustains): a delete carries only the key, so the I/O thread keeps other
 * nodes' endpoint keys -> pod IPs (keyidx.h, 12 bytes a slot, ~3 MB at 150k endpoints), filled
 * by the list and by puts, rebuilt by every full list. Nodes and services are keyed by name and
 * need no old value. A broken stream reconnects (next endpoint, backoff) and resumes from the
 * last revision seen; a compacted revision leads to a full resync, which updates entries in
 * place and removes only what is gone, so traffic never sees a gap. Consecutive failures open
 * a circuit breaker: no calls to the store for a cooling period, then one probe. A record that
 * fails validation is a dead letter (status.c: kept, listed by `podlanectl deadletters`,
 * counted in metrics) and the loop goes on.
 *
 * Publishing: the main thread snapshots this node's records (node, endpoints, hints) every
 * SNAPSHOT_MS and hands a changed snapshot to the publisher, which puts what differs from what
 * etcd holds for this node (the I/O thread mirrors our own keys from the list and the watch)
 * and deletes what is no longer there. It starts once the I/O thread has checked the layout and
 * listed (so the mirror is complete).
 *
 * Ownership: struct sync is cut by who may touch what, and each part says its rule once:
 *   (fixed)	set by sync_open() before the threads start, read by any thread after;
 *   sh		under sh.lock: the queue, the snapshot handover, status, dead letters;
 *   stats	atomics, any thread: counters and latency histograms;
 *   mirror	under mirror.lock: what etcd holds for this node (I/O thread and publisher);
 *   loop	podlaned's main thread only;
 *   io		the I/O thread only;
 *   pub	the publisher thread only.
 * sync_close() joins the threads first and then touches everything.
 */
#ifndef PODLANED_SYNC_SYNC_INT_H
#define PODLANED_SYNC_SYNC_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include <netinet/in.h>
#include <json-c/json.h>

#include "core/addr.h"
#include "keyidx.h"
#include "nodes/nodes.h"
#include "sync/records.h"
#include "sync/sync.h"

struct etcd_client;
struct service_spec;
struct policy_spec;
struct policy_pod;
struct policy_namespace;

/*
 * Nodes and services only (endpoints skip the queue). Measured at 10k services: 8192 let the
 * list run further ahead of the apply (resync 2.0 s) but held 1.3 MB more parsed specs at
 * the peak (24.0 vs 22.7 MB); 2048 made the endpoints' list wait for the apply (2.5 s).
 */
#define QUEUE_CAP		4096
#define IO_BATCH		256	/* items the I/O thread gathers before it takes the lock */
#define APPLY_CHUNK		1024	/* items (or map entries) per batch */
/*
 * The main thread's share: nodes and services a batch (a node costs ~0.4 ms: its record file,
 * kernel route and map entries; a service ~0.2 ms). A wake-up takes batches until APPLY_BUDGET
 * items are done or APPLY_TIME_NS have passed, then the loop serves others, so API requests
 * wait at most that plus one batch (5,000 nodes: ~125 ms; in one go they held them 2.4 s).
 */
#define APPLY_MAIN_CHUNK	256
#define APPLY_BUDGET		32768
#define APPLY_TIME_NS		(50 * 1000 * 1000ULL)
/* big pages: etcd 3.4 counts the rest of the range for every page */
#define LIST_PAGE		50000
#define LIST_MAX_PAGES		100000	/* 5e9 keys: a bound, not a limit etcd reaches */
#define SNAPSHOT_MS		250
#define BREAKER_THRESHOLD	5	/* consecutive failures that open the breaker */
#define BREAKER_OPEN_MS		5000
#define BREAKER_OPEN_MAX_MS	30000
#define DEADLETTER_MAX		256

/* ---- what the I/O thread hands to the main thread ---- */

/*
 * Network policy's records (policies, pods, namespaces) go to policy/ on the main thread, and
 * so does the pod an endpoint record of another node names (IT_RPOD_*): its address reaches
 * podlane_remote from the I/O thread, its identity podlane_ipcache from the main thread.
 */
enum item_kind {
	IT_NODE_PUT,
	IT_NODE_DEL,
	IT_SVC_PUT,
	IT_SVC_DEL,
	IT_RESYNC_BEGIN,
	IT_RESYNC_END,
	IT_POL_PUT,
	IT_POL_DEL,
	IT_POD_PUT,
	IT_POD_DEL,
	IT_NS_PUT,
	IT_NS_DEL,
	IT_RPOD_PUT,
	IT_RPOD_DEL,
};

struct item {
	enum item_kind	kind;
	__u32		gen;		/* RESYNC_BEGIN: the I/O thread's resync generation */
	__u64		started_ns;	/* RESYNC_END: CLOCK_MONOTONIC when the list began */
	char		*name;		/* node name, "namespace/name" or a namespace (malloc'ed) */
	struct node_rec	node;		/* IT_NODE_PUT */
	struct service_spec *spec;	/* IT_SVC_PUT: validated by the I/O thread (malloc'ed) */
	struct policy_spec *policy;	/* IT_POL_PUT: validated (malloc'ed) */
	struct policy_pod *pod;		/* IT_POD_PUT, IT_RPOD_PUT (malloc'ed) */
	struct policy_namespace *ns;	/* IT_NS_PUT (malloc'ed) */
	__be32		ip, node_ip;	/* IT_RPOD_*: the pod's address and its node's */
};

void item_free(struct item *it);

/* ---- this node's records: key -> value without "updated" (pubset.c) ---- */

struct pub {
	char	*key;
	char	*val;
	int64_t	lease;
};

/* Sorted by key. */
struct pubset {
	struct pub	*v;
	size_t		n, cap;
};

void pubset_free(struct pubset *ps);
/* The index of key, or where it would go (*found false). */
size_t pubset_find(const struct pubset *ps, const char *key, bool *found);
int pubset_set(struct pubset *ps, const char *key, const char *val, int64_t lease);
/* val is malloc'ed and taken over, also on error. */
int pubset_set_owned(struct pubset *ps, const char *key, char *val, int64_t lease);
void pubset_del(struct pubset *ps, const char *key);
struct pubset *pubset_dup(const struct pubset *ps);
bool pubset_equal(const struct pubset *a, const struct pubset *b);
/* Free ps and what it holds. */
void pubset_destroy(struct pubset *ps);

/* ---- latency histograms (status.c) ---- */

/* 1 us buckets up to 10 ms, 100 us buckets up to 1 s, then overflow: 155 KB each, mapped. */
#define HIST_FINE		10000
#define HIST_COARSE		9900
#define HIST_BUCKETS		(HIST_FINE + HIST_COARSE + 1)

struct hist {
	__u64	b[HIST_BUCKETS];
	__u64	n, max;
};

/* Any thread. */
void hist_add(struct hist *h, __u64 ns);

/* ---- the parts of struct sync ---- */

/* Under lock. */
struct sync_shared {
	pthread_mutex_t	lock;
	pthread_cond_t	not_full;	/* the main thread took items off the queue */
	pthread_cond_t	io_wake;	/* the I/O thread's backoff: stop ends it early */
	pthread_cond_t	pub_wake;	/* pub_due or stop */
	bool		stop;

	/* I/O thread -> main thread: items, a ring of QUEUE_CAP */
	struct item	*q;
	unsigned int	head, count;

	/* main thread -> publisher: the newest snapshot not taken yet */
	struct pubset	*pending;
	bool		pub_due;	/* a new snapshot, or one of our records changed */
	bool		pub_ready;	/* layout checked, our records mirrored: publish */

	/* status: written by the thread doing the step, read by status */
	char		state[32];
	char		endpoint[256];
	char		last_error[512];
	char		pod_cidr[24];
	int64_t		revision;
	int64_t		lease, lease_ttl_left;
	bool		breaker_open;
	unsigned int	consecutive_failures;

	/* dead letters, oldest first; ndl is also stored atomically: deadletter_clear() peeks */
	struct sync_deadletter dl[DEADLETTER_MAX];
	unsigned int	ndl;
};

/* Atomics, any thread. The histograms are mapped by sync_open() and fixed after. */
struct sync_stats {
	struct sync_counters c;
	struct hist	*lat[SYNC_LATENCIES];
	__u64		handover_ns;	/* CLOCK_MONOTONIC of the last wake-up of the main thread */
};

#define CNT_ADD(s, f, v)	__atomic_fetch_add(&(s)->stats.c.f, (v), __ATOMIC_RELAXED)
#define CNT(s, f)		__atomic_load_n(&(s)->stats.c.f, __ATOMIC_RELAXED)
#define CNT_SET(s, f, v)	__atomic_store_n(&(s)->stats.c.f, (v), __ATOMIC_RELAXED)

/*
 * What etcd holds for this node, under lock: the I/O thread fills it from the list and the
 * watch, the publisher updates it after its own puts and deletes.
 */
struct sync_mirror {
	pthread_mutex_t	lock;
	struct pubset	published;	/* values without "updated" (record_unstamp()) */
};

/* A source in the sync's epoll set; data.ptr points at one. */
enum sync_source {
	SYNC_SRC_HANDOVER,	/* eventfd: items queued */
	SYNC_SRC_SNAPSHOT,	/* timerfd: SNAPSHOT_MS */
};

/* etcd-sourced nodes, with the resync generation that last saw them (services: lb/) */
struct gen_entry {
	char	*key;
	__u32	gen;
};

struct gen_table {
	struct gen_entry *v;
	size_t	n, cap;
};

/* The main thread only. */
struct sync_loop {
	int		tfd, epfd;
	enum sync_source src_handover, src_snapshot;
	__u32		gen;		/* the generation of the resync being applied */
	struct gen_table nodes;
	struct pubset	*last_snap;	/* the last snapshot handed to the publisher */
	struct item	*items;		/* APPLY_CHUNK: the batch taken off the queue */
	struct remote_page *page;	/* remote_count()'s walk */
};

struct ep_batch;
struct remote_page;
struct trace;

/* The I/O thread only (sync_close() writes the trace after joining it). */
struct sync_io {
	struct etcd_client *ec;
	json_tokener	*tok;
	/* gathered for the queue */
	struct item	batch[IO_BATCH];
	unsigned int	nbatch;
	/* endpoint puts on their way into podlane_remote (remote.c) */
	struct ep_batch	*eb;
	struct remote_page *page;	/* remote_sweep()'s walk */
	/*
	 * Other nodes' endpoints as etcd holds them: key -> pod IP, and node name -> node IP.
	 * A delete event carries only the key, and the map is keyed by IP; asking etcd for each
	 * event's previous value (prev_kv) instead halves the write rate etcd sustains.
	 */
	struct keyidx	ep_ips, ep_nodes;
	/* other nodes' endpoint keys whose record named a pod (value 1): policy/ knows it */
	struct keyidx	ep_pods;
	struct trace	*trace;		/* PODLANE_SYNC_TRACE: per-event latency for benchmarks */
	__u32		gen;		/* resync generation, counted up by every full list */
	bool		listing;	/* a full list is due */
	bool		pub_ready;	/* sh.pub_ready as this thread last set it */
	int64_t		last_rev;	/* the last revision seen */
	char		pod_cidr[24];	/* this node's, once claimed */
};

/* The cluster view (cluster.c): the I/O thread writes, any thread reads, under lock. */
#define CLUSTER_SEEN_MAX	4096
struct sync_cluster {
	pthread_mutex_t	lock;
	struct sync_node_hint *v;	/* sorted by node */
	size_t		n, cap;
	struct {
		__u64	hash;		/* of "namespace/name" */
		__u64	mono_ns;
		char	node[64];
	}		seen[CLUSTER_SEEN_MAX];
	unsigned int	seen_next;
};

/* The publisher thread only. */
struct sync_pub {
	struct etcd_client *ec;
	json_tokener	*tok;
	int64_t		lease;		/* 0 until granted */
	struct pubset	*cur;		/* the snapshot being published */
};

struct sync {
	/* fixed */
	struct agent	*a;
	struct sync_opts o;
	char		node_name[PODLANE_NODE_NAME_LEN];
	in_addr_t	node_ip;
	struct subnet4	cluster;
	__u32		gen_base;	/* generations count from the start time: unique per run */
	int		remote_fd;	/* podlane_remote: the I/O thread writes, status counts */
	int		efd;		/* eventfd: wakes the main thread for the queue */
	pthread_t	io_thread, pub_thread;
	bool		io_started, pub_started;

	struct sync_shared sh;
	struct sync_stats stats;
	struct sync_mirror mirror;
	struct sync_cluster view;
	struct sync_loop loop;
	struct sync_io	io;
	struct sync_pub	pub;
};

/* sync.c */
/* CLOCK_REALTIME ms from now: the deadline pthread_cond_timedwait() takes. */
struct timespec sync_deadline(unsigned int ms);
bool sync_stopping(struct sync *s);

/* status.c: any thread */
void deadletter_add(struct sync *s, const char *key, size_t key_len, int64_t rev,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A key that now holds a valid record (or none) is no longer a dead letter. */
void deadletter_clear(struct sync *s, const char *key, size_t key_len);
/* I/O thread: the state status shows, with the etcd endpoint in use. */
void sync_set_state(struct sync *s, const char *state);
int hists_alloc(struct sync *s);
void hists_free(struct sync *s);

/* remote.c: podlane_remote. Open: sync_open; count: main thread; the rest: I/O thread. */
int remote_open(struct sync *s);
struct ep_change {
	__be32	ip, node_ip;
	__u64	written_ns;	/* the record's "updated", 0 = unknown */
	__u64	recv_ns;	/* CLOCK_REALTIME when the I/O thread parsed it */
	bool	live;		/* from the watch: counts for latency */
};
void remote_put(struct sync *s, const struct ep_change *c);
/* Remove ip while podlane_remote still gives it to node_ip. */
void remote_del(struct sync *s, __be32 ip, __be32 node_ip);
void remote_flush(struct sync *s);
/* After a full list: the entries it did not confirm are gone from etcd. */
void remote_sweep(struct sync *s);
__u64 remote_count(struct sync *s);
/* What remote.c keeps per thread (batch, trace, walk pages): before the threads, after them. */
int remote_state_open(struct sync *s);
void remote_state_close(struct sync *s);

/* cluster.c: open and close around the threads; the rest from the I/O thread */
int cluster_open(struct sync *s);
void cluster_close(struct sync *s);
void cluster_hint_put(struct sync *s, const char *node, size_t len, const struct hint_rec *h);
void cluster_hint_del(struct sync *s, const char *node, size_t len);
void cluster_pod_seen(struct sync *s, const char *node, size_t node_len, const char *ns,
		      const char *name);

/* io.c: the I/O thread */
void *io_thread(void *arg);

/* publish.c: the publisher thread, and the mirror the I/O thread keeps for it */
void *pub_thread(void *arg);
/* I/O thread: a record of ours, as etcd now holds it (or deleted). */
void pub_mirror(struct sync *s, const char *key, const char *val, size_t val_len, int64_t lease,
		bool deleted);
/* I/O thread: forget the mirror before a full list refills it. */
void pub_mirror_clear(struct sync *s);
/* Wake the publisher (a new snapshot, or a record of ours changed). */
void pub_wakeup(struct sync *s);

/* apply.c: the main thread */
int loop_state_open(struct sync *s);
void loop_state_close(struct sync *s);
void sync_snapshot(struct sync *s);

#endif /* PODLANED_SYNC_SYNC_INT_H */
