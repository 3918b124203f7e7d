/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * api/ops.h - what the request handlers of api/ share: one set of reply and field helpers,
 * and the handlers the dispatcher (api/ops.c) knows. Handlers are named api_<op>.
 */
#ifndef PODLANED_API_OPS_H
#define PODLANED_API_OPS_H

#include <stdbool.h>
#include <json-c/json.h>

#include "api_ops.h"

struct agent;
struct api_error;

typedef struct json_object *(*api_handler)(struct agent *a, struct json_object *req);

/*
 * String field key of req: NULL when absent or null (an error when required). A present
 * field of the wrong type is an error, so a client bug is reported instead of being treated
 * like a missing field.
 */
int api_get_str(struct json_object *req, const char *key, const char **out, bool required,
		struct api_error *e);

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
/* The accounting fields of status and of one endpoint_list entry. */
void api_acct_status(struct agent *a, struct json_object *o);
void api_acct_endpoint_fields(struct agent *a, unsigned int ifindex, struct json_object *ep);
/* api/node_ops.c */
struct json_object *api_node_add(struct agent *a, struct json_object *req);
struct json_object *api_node_del(struct agent *a, struct json_object *req);
struct json_object *api_node_list(struct agent *a, struct json_object *req);
/* The node fields of status and node_list. */
void api_node_status(struct agent *a, struct json_object *o);
/* api/service_ops.c */
struct json_object *api_service_add(struct agent *a, struct json_object *req);
struct json_object *api_service_del(struct agent *a, struct json_object *req);
struct json_object *api_service_list(struct agent *a, struct json_object *req);
/* api/sync_ops.c */
struct json_object *api_sync_status(struct agent *a, struct json_object *req);
struct json_object *api_sync_deadletters(struct agent *a, struct json_object *req);
/* The sync's Prometheus families (malloc'ed), NULL when the sync is off. */
char *api_sync_metrics_text(struct agent *a);

#endif /* PODLANED_API_OPS_H */
