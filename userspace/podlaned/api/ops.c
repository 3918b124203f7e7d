// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/ops.c - the dispatcher of podlaned's local API (protocol in userspace/lib/api.h, schema
 * in userspace/lib/api_ops.h) and the helpers every handler uses.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "api_ops.h"
#include "podlane.h"
#include "api/api.h"
#include "api/ops.h"
#include "core/agent.h"
#include "log.h"

const char *api_strs_add(struct api_strs *s, const char *fmt, ...)
{
	char **v, *str;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&str, fmt, ap);
	va_end(ap);
	if (len < 0)
		goto oom;
	v = realloc(s->v, (s->n + 1) * sizeof(*v));
	if (!v) {
		free(str);
		goto oom;
	}
	s->v = v;
	s->v[s->n++] = str;
	return str;
oom:
	s->oom = true;
	return "";
}

void api_strs_free(struct api_strs *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	*s = (struct api_strs){};
}

int api_counts_by_slot(const __u64 *v, const char *const *names, unsigned int nslots,
		       const char *fmt, long base, long step, struct api_strs *strs,
		       struct api_count **out, size_t *n)
{
	struct api_count *c = calloc(nslots ? nslots : 1, sizeof(*c));
	unsigned int i;

	*out = c;
	*n = 0;
	if (!c)
		return -ENOMEM;
	for (i = 0; i < nslots; i++) {
		const char *key = names[i];

		if (!key) {
			if (!v[i])
				continue;
			key = api_strs_add(strs, fmt, base + step * (long)i);
		}
		c[(*n)++] = (struct api_count){ .key = key, .value = (int64_t)v[i] };
	}
	return 0;
}

int api_drop_counts(const __u64 *v, struct api_strs *strs, struct api_count **out, size_t *n)
{
	const char *names[PODLANE_DROP_SLOTS];
	unsigned int i;

	for (i = 0; i < PODLANE_DROP_SLOTS; i++)
		names[i] = podlane_drop_name(-(int)(i + PODLANE_DROP_FIRST));
	return api_counts_by_slot(v, names, PODLANE_DROP_SLOTS, "reason_%ld",
				  -PODLANE_DROP_FIRST, -1, strs, out, n);
}

struct json_object *api_reply_oom(void)
{
	struct api_error e = {};

	api_fail(&e, PODLANE_ERR_INTERNAL, "out of memory");
	return api_reply_error(&e);
}

static const struct {
	const struct api_op *op;
	api_handler handler;
} ops[] = {
	{ &api_op_add, api_add },
	{ &api_op_del, api_del },
	{ &api_op_check, api_check },
	{ &api_op_gc, api_gc },
	{ &api_op_status, api_status },
	{ &api_op_endpoint_list, api_endpoint_list },
	{ &api_op_acct, api_acct },
	{ &api_op_hints, api_hints },
	{ &api_op_hints_cluster, api_hints_cluster },
	{ &api_op_service_add, api_service_add },
	{ &api_op_service_del, api_service_del },
	{ &api_op_service_list, api_service_list },
	{ &api_op_node_add, api_node_add },
	{ &api_op_node_del, api_node_del },
	{ &api_op_node_list, api_node_list },
	{ &api_op_sync_status, api_sync_status },
	{ &api_op_sync_deadletters, api_sync_deadletters },
	{ &api_op_policy_add, api_policy_add },
	{ &api_op_policy_del, api_policy_del },
	{ &api_op_policy_list, api_policy_list },
	{ &api_op_pod_label, api_pod_label },
	{ &api_op_pod_ports, api_pod_ports },
	{ &api_op_pod_list, api_pod_list },
	{ &api_op_namespace_label, api_namespace_label },
	{ &api_op_namespace_list, api_namespace_list },
	{ &api_op_recommend, api_recommend },
};

struct json_object *api_handle(struct agent *a, struct json_object *req, bool *stream)
{
	struct json_object *reply;
	struct timespec t0, t1;
	struct api_error e = {};
	const char *op;
	size_t i;

	*stream = false;
	if (api_req_op(req, &op, &e))
		return api_reply_error(&e);
	/* The one operation that may keep its connection. */
	if (!strcmp(op, api_op_flow_list.name))
		return api_flow_list(a, req, stream);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(op, ops[i].op->name))
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
