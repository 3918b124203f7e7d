/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * api/ops.h - what the request handlers of api/ share, and the handlers the dispatcher
 * (api/ops.c) knows. A handler is named api_<op>: it decodes its request with
 * api_<op>_req_decode(), fills the op's reply struct (userspace/lib/api_ops.h) from the modules
 * below, and encodes it with api_<op>_reply_encode(). No handler writes a JSON key by hand.
 */
#ifndef PODLANED_API_OPS_H
#define PODLANED_API_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>
#include <linux/types.h>

#include "api_ops.h"

struct agent;

typedef struct json_object *(*api_handler)(struct agent *a, struct json_object *req);

/*
 * The strings a reply borrows until it is encoded (addresses, MACs, names a module gives only
 * for the length of a callback): api_strs_add() keeps a copy, api_strs_free() frees them all.
 * Out of memory sets oom and returns "", so a handler checks once, before it encodes.
 */
struct api_strs {
	char	**v;
	size_t	n;
	bool	oom;
};

const char *api_strs_add(struct api_strs *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void api_strs_free(struct api_strs *s);

/*
 * Counters by slot (podlane_drop, an endpoint's drops, podlane_lbstat) as a COUNTS field: slot
 * i under names[i], or, when that is NULL and the counter is not zero, under fmt with
 * base + step * i (a slot this build has no name for shows by number). *out is malloc'ed; the
 * reply's free frees it. 0, or -ENOMEM.
 */
int api_counts_by_slot(const __u64 *v, const char *const *names, unsigned int nslots,
		       const char *fmt, long base, long step, struct api_strs *strs,
		       struct api_count **out, size_t *n);
/* Drops by slot (PODLANE_DROP_SLOTS of them), named for their reason, else "reason_<n>". */
int api_drop_counts(const __u64 *v, struct api_strs *strs, struct api_count **out, size_t *n);

/* An internal error reply: out of memory while building one. */
struct json_object *api_reply_oom(void);

/* api/endpoint_ops.c */
struct json_object *api_add(struct agent *a, struct json_object *req);
struct json_object *api_del(struct agent *a, struct json_object *req);
struct json_object *api_check(struct agent *a, struct json_object *req);
struct json_object *api_gc(struct agent *a, struct json_object *req);
struct json_object *api_endpoint_list(struct agent *a, struct json_object *req);
/* api/status.c */
struct json_object *api_status(struct agent *a, struct json_object *req);
/* api/acct_ops.c */
struct json_object *api_acct(struct agent *a, struct json_object *req);
struct json_object *api_hints(struct agent *a, struct json_object *req);
/* sched_ops.c */
struct json_object *api_hints_cluster(struct agent *a, struct json_object *req);
/* The accounting of status, and of one endpoint_list entry (strings borrowed from acct/). */
void api_acct_status(struct agent *a, struct api_acct_status *s);
void api_acct_endpoint(struct agent *a, unsigned int ifindex, struct api_endpoint *ep);
/* api/node_ops.c */
struct json_object *api_node_add(struct agent *a, struct json_object *req);
struct json_object *api_node_del(struct agent *a, struct json_object *req);
struct json_object *api_node_list(struct agent *a, struct json_object *req);
/* How this node reaches others, for status and node_list. */
void api_node_routing(struct agent *a, struct api_node_routing *r, struct api_strs *strs);
/* api/service_ops.c */
struct json_object *api_service_add(struct agent *a, struct json_object *req);
struct json_object *api_service_del(struct agent *a, struct json_object *req);
struct json_object *api_service_list(struct agent *a, struct json_object *req);
/* api/policy_ops.c */
struct json_object *api_policy_add(struct agent *a, struct json_object *req);
struct json_object *api_policy_del(struct agent *a, struct json_object *req);
struct json_object *api_policy_list(struct agent *a, struct json_object *req);
struct json_object *api_pod_label(struct agent *a, struct json_object *req);
struct json_object *api_pod_ports(struct agent *a, struct json_object *req);
struct json_object *api_pod_list(struct agent *a, struct json_object *req);
struct json_object *api_namespace_label(struct agent *a, struct json_object *req);
struct json_object *api_namespace_list(struct agent *a, struct json_object *req);
/*
 * A request's labels (values never null) as a label set: PODLANE_ERR_INVALID_CONFIG for a
 * repeated key or a null value, with where ("labels") in the message. set is empty on error.
 */
struct label_set;
int api_labels_to_set(const struct api_label *l, size_t n, const char *where,
		      struct label_set *set, struct api_error *e);
/* api/flow_ops.c: *stream as api_handle() says */
struct json_object *api_flow_list(struct agent *a, struct json_object *req, bool *stream);
/* Records flow streams missed (the flow log dropped them before they were sent), streams open. */
__u64 api_streams_lost(struct agent *a);
unsigned int api_streams_count(struct agent *a);
/* api/sync_ops.c */
struct json_object *api_sync_status(struct agent *a, struct json_object *req);
struct json_object *api_sync_deadletters(struct agent *a, struct json_object *req);
/* The sync's Prometheus families (malloc'ed), NULL when the sync is off. */
char *api_sync_metrics_text(struct agent *a);
/* api/recommend_ops.c: the recommend op and its metrics families (NULL when not running). */
struct json_object *api_recommend(struct agent *a, struct json_object *req);
char *api_recommend_metrics_text(struct agent *a);

#endif /* PODLANED_API_OPS_H */
