// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/ops.c - the dispatcher of podlaned's local API (protocol in userspace/lib/api.h) and the
 * reply and field helpers every handler uses.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "api_ops.h"
#include "api/api.h"
#include "api/ops.h"
#include "core/agent.h"
#include "log.h"

int api_get_str(struct json_object *req, const char *key, const char **out, bool required,
		struct api_error *e)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return api_fail(e, PODLANE_ERR_DECODE, "missing field '%s'", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return api_fail(e, PODLANE_ERR_DECODE, "field '%s' must be a string", key);
	*out = json_object_get_string(v);
	return 0;
}

static const struct {
	const char *name;
	api_handler handler;
} ops[] = {
	{ PODLANE_OP_ADD, api_add },
	{ PODLANE_OP_DEL, api_del },
	{ PODLANE_OP_CHECK, api_check },
	{ PODLANE_OP_GC, api_gc },
	{ PODLANE_OP_STATUS, api_status },
	{ PODLANE_OP_ENDPOINTS, api_endpoint_list },
	{ PODLANE_OP_ACCT, api_acct },
	{ PODLANE_OP_HINTS, api_hints },
	{ PODLANE_OP_SERVICE_ADD, api_service_add },
	{ PODLANE_OP_SERVICE_DEL, api_service_del },
	{ PODLANE_OP_SERVICE_LIST, api_service_list },
	{ PODLANE_OP_NODE_ADD, api_node_add },
	{ PODLANE_OP_NODE_DEL, api_node_del },
	{ PODLANE_OP_NODE_LIST, api_node_list },
	{ PODLANE_OP_SYNC_STATUS, api_sync_status },
	{ PODLANE_OP_DEADLETTERS, api_sync_deadletters },
};

struct json_object *api_handle(struct agent *a, struct json_object *req)
{
	struct json_object *reply;
	struct timespec t0, t1;
	struct api_error e = {};
	const char *op;
	size_t i;

	if (!req || !json_object_is_type(req, json_type_object)) {
		api_fail(&e, PODLANE_ERR_DECODE, "request is not a JSON object");
		return api_reply_error(&e);
	}
	if (api_get_str(req, "op", &op, true, &e))
		return api_reply_error(&e);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(op, ops[i].name))
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		reply = ops[i].handler(a, req);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		log_debug("request served op=%s us=%ld", op,
			  (long)((t1.tv_sec - t0.tv_sec) * 1000000 +
				 (t1.tv_nsec - t0.tv_nsec) / 1000));
		return reply;
	}
	api_fail(&e, PODLANE_ERR_DECODE, "unknown op '%s'", op);
	return api_reply_error(&e);
}
