/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sync/sync.h - podlaned's control-plane sync through etcd (sync/): options, the hooks the
 * event loop calls, and a typed snapshot of its state for api/ (sync_ops.c, metrics.c), which
 * owns the JSON and the metrics text. sync/ is the one writer of podlane_remote. Without
 * --etcd-endpoints none of it runs and the agent is standalone. The record format is in
 * sync/records.h, the threads and their shared state in sync/sync_int.h.
 */
#ifndef PODLANED_SYNC_SYNC_H
#define PODLANED_SYNC_SYNC_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <linux/types.h>
#include <netinet/in.h>

struct agent;

#define SYNC_DEFAULT_LEASE_TTL		10	/* seconds */
#define SYNC_DEFAULT_NODE_CIDR_LEN	24
#define SYNC_DEFAULT_MAX_REMOTE		262144

struct sync_opts {
	const char	*endpoints;	/* --etcd-endpoints; NULL = standalone */
	const char	*cacert, *cert, *key;
	const char	*cluster_cidr;	/* --cluster-cidr: node pod CIDRs come from here */
	unsigned int	node_cidr_len;
	unsigned int	lease_ttl;
	unsigned int	max_remote;
};

enum sync_opt {
	SYNC_OPT_ENDPOINTS,
	SYNC_OPT_CACERT,
	SYNC_OPT_CERT,
	SYNC_OPT_KEY,
	SYNC_OPT_CLUSTER_CIDR,
	SYNC_OPT_NODE_CIDR_SIZE,
	SYNC_OPT_LEASE_TTL,
	SYNC_OPT_MAX_REMOTE,
	SYNC_OPT_COUNT
};

/* Entries for getopt_long's table; base is the first option value reserved for them. */
#define SYNC_LONG_OPTIONS(base)							\
	{ "etcd-endpoints", required_argument, NULL, (base) + SYNC_OPT_ENDPOINTS },	\
	{ "etcd-cacert", required_argument, NULL, (base) + SYNC_OPT_CACERT },		\
	{ "etcd-cert", required_argument, NULL, (base) + SYNC_OPT_CERT },		\
	{ "etcd-key", required_argument, NULL, (base) + SYNC_OPT_KEY },			\
	{ "cluster-cidr", required_argument, NULL, (base) + SYNC_OPT_CLUSTER_CIDR },	\
	{ "node-cidr-size", required_argument, NULL, (base) + SYNC_OPT_NODE_CIDR_SIZE },\
	{ "lease-ttl", required_argument, NULL, (base) + SYNC_OPT_LEASE_TTL },		\
	{ "max-remote-endpoints", required_argument, NULL, (base) + SYNC_OPT_MAX_REMOTE }

#define SYNC_USAGE								\
	"  --etcd-endpoints URL[,URL...]  sync with etcd (http:// or https://); without\n" \
	"                        it the agent is standalone; needs --node-ip, and names\n" \
	"                        this node --node-name in etcd\n"			\
	"  --etcd-cacert FILE    CA bundle that signed the etcd members' certificates\n" \
	"  --etcd-cert FILE      client certificate for etcd (with --etcd-key)\n"	\
	"  --etcd-key FILE       its private key\n"				\
	"  --cluster-cidr CIDR   allocate this node's pod CIDR from CIDR through etcd\n" \
	"  --node-cidr-size N    prefix length of a node's pod CIDR (default 24)\n"	\
	"  --lease-ttl SEC       TTL of the lease on this node's records (default 10)\n" \
	"  --max-remote-endpoints N  podlane_remote map size (default 262144)\n"

void sync_opts_init(struct sync_opts *o);

/*
 * ---- the cluster view: every node's latest hint record (this node's too), as etcd last
 * delivered it (cluster.c). Any thread; a copy under a short lock, never a wait on etcd. ----
 */
struct sync_node_hint {
	char	node[64];
	char	dominant[16];
	double	score, cpu, cpu_pressure, runq, memory, traffic;	/* 0..100 */
	bool	has_pressure;	/* the writer sent cpu_pressure (older agents do not) */
	double	cpus;		/* CPUs the node may use, 0 = unknown */
	__u64	seq;		/* the writer's accounting tick, 0 = unknown */
	__u64	updated;	/* the writer's CLOCK_REALTIME ns at its put, 0 = unknown */
	__u64	recv_ns;	/* CLOCK_REALTIME ns when this agent received it */
	__u64	recv_mono_ns;	/* the same, CLOCK_MONOTONIC */
	__u64	puts;		/* records received for this node */
};

/* Copies up to max entries, sorted by node name, into out; returns how many there are. */
size_t sync_cluster_hints(struct agent *a, struct sync_node_hint *out, size_t max);
/*
 * CLOCK_MONOTONIC ns when an endpoint record naming pod namespace/name was first received
 * (among the last few thousand), with the node it is on in node; 0 = not seen.
 */
__u64 sync_cluster_pod_seen(struct agent *a, const char *ns, const char *name, char *node,
			    size_t node_len);
/* Store one option; prints why and returns -1 when arg is not acceptable. */
int sync_parse_opt(struct sync_opts *o, int which, const char *arg);

/* Start the sync when --etcd-endpoints was given (0 and nothing done otherwise). Never waits
 * for etcd: the agent serves while the store is unreachable. */
int sync_open(struct agent *a, const struct sync_opts *o);
void sync_close(struct agent *a);
/* For the event loop: readable when there is work for sync_run(); -1 when the sync is off. */
int sync_fd(struct agent *a);
void sync_run(struct agent *a);

/*
 * ---- status: a typed snapshot, which api/ turns into sync_status, sync_deadletters and
 * metrics. Main thread only. ----
 */

/* The sync's counters, in the order status shows them. */
#define SYNC_COUNTERS(X)							\
	X(events)		/* received from the watch */			\
	X(listed)		/* received from lists */			\
	X(applied)							\
	X(ep_upserts) X(ep_deletes) X(ep_stale_deletes)				\
	X(node_upserts) X(node_deletes)						\
	X(svc_upserts) X(svc_deletes)						\
	X(resyncs) X(compactions) X(reconnects) X(failures) X(breaker_opens)	\
	X(queue_full_waits)							\
	X(deadletters)		/* ever */					\
	X(published_puts) X(published_deletes) X(publish_errors)		\
	X(lease_grants)								\
	X(swept)								\
	X(resync_ms_last)							\
	X(first_item_ns)	/* CLOCK_MONOTONIC: first record handed over */	\
	X(last_apply_ns)	/* CLOCK_MONOTONIC: last batch applied */

struct sync_counters {
#define SYNC_COUNTER_FIELD(f) __u64 f;
	SYNC_COUNTERS(SYNC_COUNTER_FIELD)
#undef SYNC_COUNTER_FIELD
};

enum sync_latency {
	SYNC_LAT_DELIVERY,	/* etcd write -> the I/O thread parsed it (etcd's share) */
	SYNC_LAT_APPLY,		/* etcd write -> map updated */
	SYNC_LAT_AGENT,		/* parsed -> map updated: the agent's own share */
	SYNC_LAT_HANDOVER,	/* node/service batch queued -> the main thread took it */
	SYNC_LATENCIES
};

struct sync_percentiles {
	__u64	count, p50_us, p90_us, p99_us, max_us;
};

#define SYNC_DEADLETTER_KEY_LEN	256
#define SYNC_DEADLETTER_WHY_LEN	256

struct sync_status {
	/* what the sync is doing */
	char		state[32];	/* "connecting", "listing", "watching", ... */
	char		endpoint[256];	/* etcd URL in use */
	char		last_error[512];
	int64_t		revision;	/* store revision applied up to */
	bool		breaker_open;
	unsigned int	consecutive_failures;
	/* this node */
	char		node[64];
	in_addr_t	node_ip;
	char		pod_cidr[24];	/* "" until allocated or without --cluster-cidr */
	int64_t		lease_id, lease_remaining;
	unsigned int	lease_ttl;
	/* the handover to the main thread */
	unsigned int	queue_depth, queue_capacity;
	unsigned int	deadletters;	/* listed now */
	struct sync_counters c;
	/* SYNC_STATUS_SIZES: entries in podlane_remote, nodes and services applied from etcd */
	__u64		remote_endpoints, nodes, services;
	/* SYNC_STATUS_LATENCY */
	struct sync_percentiles latency[SYNC_LATENCIES];
};

/* What sync_status_get() fills beyond the plain figures: the parts that walk something. */
enum {
	SYNC_STATUS_SIZES	= 1 << 0,	/* podlane_remote and the services */
	SYNC_STATUS_LATENCY	= 1 << 1,	/* the histograms */
};

/* Fill st; false (st untouched) when the sync is off. */
bool sync_status_get(struct agent *a, struct sync_status *st, unsigned int what);

struct sync_deadletter {
	char	key[SYNC_DEADLETTER_KEY_LEN];
	char	reason[SYNC_DEADLETTER_WHY_LEN];
	int64_t	revision;
	time_t	at;		/* unix seconds */
};

/*
 * The dead letters listed now, oldest first: a malloc'ed copy of *n of them (NULL when none,
 * or out of memory: -ENOMEM then), and *total counted ever. -ENOENT when the sync is off.
 */
int sync_deadletters_get(struct agent *a, struct sync_deadletter **v, unsigned int *n,
			 __u64 *total);

#endif /* PODLANED_SYNC_SYNC_H */
