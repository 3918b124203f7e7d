/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * etcd.h - a small etcd v3 client over etcd's JSON gateway (/v3/..., etcd >= 3.4), with libcurl
 * doing HTTP, TLS and connection reuse. Unary calls (range, put, delete, txn, lease grant,
 * keepalive) block with a timeout; a watch is a streaming response parsed as it
 * arrives, driven by etcd_watch_poll() so its owner decides when to block.
 *
 * One client belongs to one thread. Several endpoints may be given: a call that cannot reach
 * the current one moves on to the next (a member that answers with an error is not skipped:
 * the cluster said no). Keys and values are byte strings; the gateway's base64 and its int64
 * strings stay inside etcd.c.
 *
 * Errors: 0 or -errno. -ECONNREFUSED/-ETIMEDOUT/-EIO: no endpoint answered; -ERANGE: the
 * revision asked for was compacted; -EPROTO: the answer made no sense; -EREMOTEIO: etcd refused
 * the request. etcd_last_error() says more.
 */
#ifndef PODLANE_ETCD_H
#define PODLANE_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#define ETCD_MAX_ENDPOINTS	16

struct etcd_config {
	const char	*endpoints;	/* "https://127.0.0.1:2379,https://..." */
	const char	*cacert;	/* PEM CA bundle, NULL = system default */
	const char	*cert;		/* client certificate, NULL = none */
	const char	*key;		/* its private key */
	long		timeout_ms;	/* unary calls; 0 = 5000 */
};

struct etcd_kv {
	const char	*key;		/* decoded, NUL-terminated for convenience */
	size_t		key_len;
	const char	*value;
	size_t		value_len;
	int64_t		create_revision;
	int64_t		mod_revision;
	int64_t		version;
	int64_t		lease;
};

enum etcd_event_type {
	ETCD_EVENT_PUT = 0,
	ETCD_EVENT_DELETE = 1,
};

/* A DELETE's kv has the key and the revision only: the watch does not ask for prev_kv. */
struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv	kv;
};

struct etcd_client;

/* NULL with errno set (EINVAL: bad endpoint list). */
struct etcd_client *etcd_client_new(const struct etcd_config *cfg);
void etcd_client_free(struct etcd_client *c);
const char *etcd_last_error(const struct etcd_client *c);
const char *etcd_endpoint(const struct etcd_client *c);
/* Use the next endpoint for the following calls (after a watch on this one broke). */
void etcd_endpoint_next(struct etcd_client *c);

/* The key just past every key starting with prefix (etcd's range_end for a prefix). */
size_t etcd_prefix_end(const char *prefix, size_t len, char *out);

typedef int (*etcd_kv_cb)(const struct etcd_kv *kv, void *data);

/*
 * One range request: keys in [key, range_end) (range_end NULL = key alone) at revision (0 =
 * latest), at most limit (0 = all). cb runs for each kv; a nonzero return stops and is
 * returned. *rev gets the revision the answer reflects, *more whether keys were left out.
 */
int etcd_range(struct etcd_client *c, const char *key, size_t key_len, const char *range_end,
	       size_t end_len, int64_t revision, int64_t limit, etcd_kv_cb cb, void *data,
	       int64_t *rev, bool *more);

/* Every key under prefix at one revision, page keys per request; *rev as for etcd_range. */
int etcd_range_prefix(struct etcd_client *c, const char *prefix, int64_t page, etcd_kv_cb cb,
		      void *data, int64_t *rev);

int etcd_put(struct etcd_client *c, const char *key, const char *value, size_t value_len,
	     int64_t lease, int64_t *rev);
/* Delete key, or [key, range_end) when range_end is given; *deleted may be NULL. */
int etcd_delete(struct etcd_client *c, const char *key, const char *range_end,
		int64_t *deleted);

/*
 * A transaction in the gateway's JSON form ({"compare": [...], "success": [...], "failure":
 * [...]}, keys base64: see etcd_b64()); *resp gets the answer object (caller puts it).
 */
int etcd_txn(struct etcd_client *c, struct json_object *txn, struct json_object **resp);
/* Put key only when it does not exist: *created says whether it did. */
int etcd_create(struct etcd_client *c, const char *key, const char *value, int64_t lease,
		bool *created);

int etcd_lease_grant(struct etcd_client *c, int64_t ttl, int64_t *id);
/* *ttl gets the remaining TTL; 0 means the lease is gone. */
int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ttl);

/* base64 of len bytes of s as a JSON string object. */
struct json_object *etcd_b64(const char *s, size_t len);

/* ---- watch ---- */
struct etcd_watch;

struct etcd_watch_ops {
	/* One event; a nonzero return ends the watch with that error. */
	int (*event)(const struct etcd_event *ev, void *data);
	/* After each response: the revision everything up to which has been delivered. */
	void (*progress)(int64_t revision, void *data);
	/* After each read from the socket: hand over what was parsed so far (latency). */
	void (*received)(void *data);
};

/*
 * Watch every key under prefix from start_revision (0 = now), without previous values: for
 * each update or delete, prev_kv has etcd read the key's previous revision for the watcher,
 * which halves the write rate it sustains. Connects to the client's current endpoint; runs
 * through etcd_watch_poll().
 */
struct etcd_watch *etcd_watch_start(struct etcd_client *c, const char *prefix,
				    int64_t start_revision, const struct etcd_watch_ops *ops,
				    void *data);
/*
 * Wait up to timeout_ms for data and deliver what arrived. 0 while the watch runs; -ERANGE
 * when etcd says start_revision was compacted (etcd_watch_compacted() tells the oldest
 * revision left); another -errno when the stream ended or broke.
 */
int etcd_watch_poll(struct etcd_watch *w, int timeout_ms);
int64_t etcd_watch_compacted(const struct etcd_watch *w);
void etcd_watch_stop(struct etcd_watch *w);

/*
 * The reading of the gateway's answers without a connection: what etcd_range() and a watch do
 * with the bytes they receive (selftests/fuzz/fuzz_etcd feeds them anything), the body given in
 * pieces of chunk bytes (0: whole) as a transfer hands them over. etcd_range_read: a range
 * answer with HTTP status http, each kv to cb, *rev and *more as etcd_range() says;
 * etcd_watch_read: a watch stream, each event and response to ops, *compacted as
 * etcd_watch_compacted(). They return what the calls would for the same body. raw false reads
 * every element through json-c instead of the fast scanner first (a comparison, not for use).
 */
int etcd_range_read(const char *body, size_t len, size_t chunk, long http, bool raw,
		    etcd_kv_cb cb, void *data, int64_t *rev, bool *more);
int etcd_watch_read(const char *body, size_t len, size_t chunk, bool raw,
		    const struct etcd_watch_ops *ops, void *data, int64_t *compacted);

#endif /* PODLANE_ETCD_H */
