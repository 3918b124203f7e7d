/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * api/api.h - podlaned's top layer: every request of the local API (the protocol is in
 * userspace/lib/api.h) and the Prometheus endpoint. main.c reads requests off the socket and
 * hands them here; handlers decode, call down into the modules, and encode the reply.
 */
#ifndef PODLANED_API_API_H
#define PODLANED_API_API_H

#include <json-c/json.h>

struct agent;

/* Serve one request object; returns the reply (the caller puts it). */
struct json_object *api_handle(struct agent *a, struct json_object *req);

/* api/metrics.c: GET /metrics on --metrics-addr, run from the agent's own event loop. */
int metrics_valid_addr(const char *spec);
int metrics_open(struct agent *a);
int metrics_fd(struct agent *a);	/* for the event loop; -1 when off */
void metrics_run(struct agent *a);
void metrics_close(struct agent *a);

#endif /* PODLANED_API_API_H */
