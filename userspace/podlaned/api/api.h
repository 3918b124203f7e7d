/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * api/api.h - podlaned's top layer: every request of the local API (the protocol is in
 * userspace/lib/api.h) and the Prometheus endpoint. main.c reads requests off the socket and
 * hands them here; handlers decode, call down into the modules, and encode the reply.
 */
#ifndef PODLANED_API_API_H
#define PODLANED_API_API_H

#include <stdbool.h>
#include <json-c/json.h>

struct agent;

/*
 * Serve one request object; returns the reply (the caller puts it). *stream is set when the
 * request asked for a stream (flow_list with follow) and the reply is its first message: the
 * caller then sends the reply and hands the connection to api_stream_adopt() instead of
 * closing it.
 */
struct json_object *api_handle(struct agent *a, struct json_object *req, bool *stream);

/*
 * api/flow_ops.c: the flow log's streams. api_stream_adopt() takes over fd (closing it on
 * failure); api_streams_run(), from every turn of the event loop, sends each stream what it
 * has not had and closes those whose client hung up; api_streams_close() at teardown.
 */
int api_stream_adopt(struct agent *a, int fd);
void api_streams_run(struct agent *a);
void api_streams_close(struct agent *a);

/* "HOST:PORT" or "[V6]:PORT" into a socket address (metrics.c): 0 or -EINVAL. */
struct sockaddr_storage;
int api_http_addr(const char *spec, struct sockaddr_storage *ss, bool *v6);

/*
 * api/extender.c: the scheduler extender on --extender-addr (POST <prefix>/filter and
 * <prefix>/prioritize), run from the agent's own event loop like the metrics; its metrics
 * text (NULL when sched/ is not open).
 */
int extender_open(struct agent *a);
int extender_fd(struct agent *a);	/* -1 when off */
void extender_run(struct agent *a);
void extender_close(struct agent *a);
char *api_extender_metrics_text(struct agent *a);

/* api/metrics.c: GET /metrics on --metrics-addr, run from the agent's own event loop. */
int metrics_valid_addr(const char *spec);
int metrics_open(struct agent *a);
int metrics_fd(struct agent *a);	/* for the event loop; -1 when off */
void metrics_run(struct agent *a);
void metrics_close(struct agent *a);

#endif /* PODLANED_API_API_H */
