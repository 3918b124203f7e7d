// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/extender.c - the Kubernetes scheduler extender over HTTP (--extender-addr HOST:PORT):
 * POST <urlPrefix>/filter and POST <urlPrefix>/prioritize, the wire format of
 * k8s.io/kube-scheduler/extender/v1 (userspace/lib/extender.c parses and encodes it), the
 * decisions from sched/. Served by libmicrohttpd inside podlaned's own epoll loop like the
 * metrics (api/metrics.c): no threads of its own, every request answered on the agent's
 * thread from the cluster view in memory, never waiting on etcd.
 *
 * The path's last component is the verb; whatever comes before it is the urlPrefix
 * kube-scheduler was given ("http://H:P/podlane" -> /podlane/filter). Refusals carry
 * {"Error": why}: 400 for a body that is not ExtenderArgs, a method other than POST or an
 * unknown verb; 413 for a body over --extender-max-body (refused from Content-Length before it
 * is read when the client sends one, else as soon as it grows past the limit).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "api/api.h"
#include "core/agent.h"
#include "core/loop.h"
#include "extender.h"
#include "log.h"
#include "sched/sched.h"

struct extender {
	struct MHD_Daemon *mhd;
	int epoll_fd;
};

/* One request, from its first call to the completion callback. */
struct ext_req {
	uint64_t	t0;
	enum sched_verb	verb;
	char		*body;
	size_t		len, cap;
	bool		too_large;
};

static const char *const verb_name[SCHED_VERBS] = { "filter", "prioritize", "other" };
static const char *const outcome_name[SCHED_OUTCOMES] = {
	"ok", "bad_request", "too_large", "internal",
};

static enum sched_verb verb_of(const char *url)
{
	const char *last = strrchr(url, '/');

	last = last ? last + 1 : url;
	if (!strcmp(last, "filter"))
		return SCHED_FILTER;
	if (!strcmp(last, "prioritize"))
		return SCHED_PRIORITIZE;
	return SCHED_OTHER;
}

static enum MHD_Result respond(struct agent *a, struct MHD_Connection *conn,
			       struct ext_req *r, unsigned int status, enum sched_outcome o,
			       char *body)
{
	static char oom[] = "{\"Error\":\"podlane: out of memory\"}";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!body) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		o = SCHED_INTERNAL;
		resp = MHD_create_response_from_buffer(strlen(oom), oom, MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
		if (!resp)
			free(body);
	}
	sched_count_call(a, r->verb, o, (mono_ns() - r->t0) / 1e9);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result refuse(struct agent *a, struct MHD_Connection *conn, struct ext_req *r,
			      unsigned int status, const char *why)
{
	char msg[EXTENDER_WHY_LEN + 32];

	snprintf(msg, sizeof(msg), "podlane: %s", why);
	return respond(a, conn, r, status,
		       status == MHD_HTTP_CONTENT_TOO_LARGE ? SCHED_TOO_LARGE : SCHED_BAD_REQUEST,
		       extender_error_reply(msg));
}

static char *serve_filter(struct agent *a, const struct extender_args *args)
{
	bool *pass = calloc(args->nnodes + 1, sizeof(*pass));
	char **reason = calloc(args->nnodes + 1, sizeof(*reason));
	char *text = NULL;
	size_t i;

	if (pass && reason && !sched_filter(a, args, pass, reason))
		text = extender_filter_reply(args, pass, (const char *const *)reason);
	for (i = 0; reason && i < args->nnodes; i++)
		free(reason[i]);
	free(reason);
	free(pass);
	return text;
}

static char *serve_prioritize(struct agent *a, const struct extender_args *args)
{
	int *score = calloc(args->nnodes + 1, sizeof(*score));
	char *text = NULL;

	if (score && !sched_prioritize(a, args, score))
		text = extender_prioritize_reply(args, score);
	free(score);
	return text;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct agent *a = cls;
	struct ext_req *r = *con_cls;
	struct extender_args args;
	char why[EXTENDER_WHY_LEN];
	const char *clen;
	char *text;
	int err;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->t0 = mono_ns();
		r->verb = verb_of(url);
		*con_cls = r;
		clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen && strtoull(clen, NULL, 10) > a->extender_max_body) {
			r->too_large = true;
			snprintf(why, sizeof(why), "body of %s bytes is over the limit of %zu "
				 "(--extender-max-body)", clen, a->extender_max_body);
			return refuse(a, conn, r, MHD_HTTP_CONTENT_TOO_LARGE, why);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;

		*upload_size = 0;
		if (r->too_large)
			return MHD_YES;
		if (r->len + n > a->extender_max_body) {
			r->too_large = true;
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
			return MHD_YES;
		}
		if (r->len + n + 1 > r->cap) {
			size_t cap = (r->len + n + 1) * 2;
			char *p;

			if (cap > a->extender_max_body + 1)
				cap = a->extender_max_body + 1;
			p = realloc(r->body, cap);
			if (!p)
				return MHD_NO;
			r->body = p;
			r->cap = cap;
		}
		memcpy(r->body + r->len, upload, n);
		r->len += n;
		return MHD_YES;
	}
	if (r->too_large) {
		snprintf(why, sizeof(why), "body over the limit of %zu bytes (--extender-max-body)",
			 a->extender_max_body);
		return refuse(a, conn, r, MHD_HTTP_CONTENT_TOO_LARGE, why);
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST)) {
		snprintf(why, sizeof(why), "method %.32s: want POST", method);
		return refuse(a, conn, r, MHD_HTTP_BAD_REQUEST, why);
	}
	if (r->verb == SCHED_OTHER) {
		snprintf(why, sizeof(why), "unknown path '%.128s': want <urlPrefix>/filter or "
			 "<urlPrefix>/prioritize", url);
		return refuse(a, conn, r, MHD_HTTP_BAD_REQUEST, why);
	}
	err = extender_args_parse(r->body ? r->body : "", r->len, &args, why, sizeof(why));
	if (err == -ENOMEM)
		return respond(a, conn, r, 0, SCHED_INTERNAL, NULL);
	if (err)
		return refuse(a, conn, r, MHD_HTTP_BAD_REQUEST, why);
	text = r->verb == SCHED_FILTER ? serve_filter(a, &args) : serve_prioritize(a, &args);
	extender_args_free(&args);
	return respond(a, conn, r, MHD_HTTP_OK, SCHED_OK, text);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct ext_req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r) {
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

int extender_open(struct agent *a)
{
	struct sockaddr_storage ss = {};
	const union MHD_DaemonInfo *info;
	struct extender *x;
	bool v6 = false;

	if (!a->extender_addr)
		return 0;
	if (api_http_addr(a->extender_addr, &ss, &v6)) {
		log_error("failed to parse extender address '%s': want HOST:PORT or [V6]:PORT",
			  a->extender_addr);
		return -EINVAL;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->mhd = MHD_start_daemon(MHD_USE_EPOLL | (v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
				  handle, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
				  MHD_OPTION_END);
	if (!x->mhd) {
		log_error("failed to serve the scheduler extender on '%s': %s", a->extender_addr,
			  strerror(errno ? errno : EADDRINUSE));
		free(x);
		return -EADDRINUSE;
	}
	info = MHD_get_daemon_info(x->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	x->epoll_fd = info ? info->epoll_fd : -1;
	if (x->epoll_fd < 0) {
		log_error("failed to get the extender server's epoll fd");
		MHD_stop_daemon(x->mhd);
		free(x);
		return -EINVAL;
	}
	a->extender = x;
	log_info("serving the scheduler extender addr=%s verbs=filter,prioritize "
		 "saturated=%g stale_ms=%u pending_ttl_ms=%u max_body=%zu", a->extender_addr,
		 a->extender_saturated, a->extender_stale_ms, a->extender_pending_ttl_ms,
		 a->extender_max_body);
	return 0;
}

int extender_fd(struct agent *a)
{
	return a->extender ? a->extender->epoll_fd : -1;
}

void extender_run(struct agent *a)
{
	if (a->extender)
		MHD_run(a->extender->mhd);
}

void extender_close(struct agent *a)
{
	if (!a->extender)
		return;
	MHD_stop_daemon(a->extender->mhd);
	free(a->extender);
	a->extender = NULL;
}

/* ---- metrics ---- */

static void hist_text(FILE *f, const char *name, const char *labels, const struct sched_hist *h,
		      const double *bounds, int nb)
{
	uint64_t cum = 0;
	int i;

	for (i = 0; i < nb; i++) {
		cum += h->b[i];
		fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, labels[0] ? "," : "",
			bounds[i], (unsigned long long)cum);
	}
	fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, labels[0] ? "," : "",
		(unsigned long long)h->count);
	fprintf(f, "%s_sum%s%s%s %g\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
		h->sum);
	fprintf(f, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
		labels[0] ? "}" : "", (unsigned long long)h->count);
}

/* A label value: backslash, quote and newline escaped (names come from requests too). */
static void label_esc(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 3 < len; in++) {
		if (*in == '\\' || *in == '"' || *in == '\n') {
			out[o++] = '\\';
			out[o++] = *in == '\n' ? 'n' : *in;
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *api_extender_metrics_text(struct agent *a)
{
	const struct sched_stats *st = sched_get_stats(a);
	struct sched_node *nodes = NULL;
	char *text = NULL, labels[64];
	size_t len = 0, n = 0, i;
	int v, o;
	FILE *f;

	if (!st)
		return NULL;
	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	family(f, "podlane_extender_calls_total", "counter",
	       "Scheduler extender requests by verb (filter, prioritize, other) and outcome.");
	for (v = 0; v < SCHED_VERBS; v++)
		for (o = 0; o < SCHED_OUTCOMES; o++)
			fprintf(f, "podlane_extender_calls_total{verb=\"%s\",outcome=\"%s\"} %llu\n",
				verb_name[v], outcome_name[o],
				(unsigned long long)st->calls[v][o]);
	family(f, "podlane_extender_request_seconds", "histogram",
	       "Time from a request's first byte to its answer, by verb.");
	for (v = 0; v < SCHED_VERBS; v++) {
		snprintf(labels, sizeof(labels), "verb=\"%s\"", verb_name[v]);
		hist_text(f, "podlane_extender_request_seconds", labels, &st->req_seconds[v],
			  sched_req_bounds, SCHED_REQ_BUCKETS);
	}
	family(f, "podlane_extender_hint_age_seconds", "histogram",
	       "Age of a node's hints when a filter or prioritize call decided on it.");
	hist_text(f, "podlane_extender_hint_age_seconds", "", &st->hint_age, sched_age_bounds,
		  SCHED_AGE_BUCKETS);
	family(f, "podlane_extender_filtered_nodes_total", "counter",
	       "Nodes filter turned down as saturated.");
	fprintf(f, "podlane_extender_filtered_nodes_total %llu\n",
		(unsigned long long)st->filtered);
	family(f, "podlane_extender_stale_nodes_total", "counter",
	       "Nodes decided on without fresh hints (passed by filter, scored 0).");
	fprintf(f, "podlane_extender_stale_nodes_total %llu\n",
		(unsigned long long)st->stale_nodes);
	family(f, "podlane_extender_pending_total", "counter",
	       "Pending placements: charged, released (seen in hints, ttl), moved to the node "
	       "the pod showed up on.");
	fprintf(f, "podlane_extender_pending_total{event=\"charged\"} %llu\n"
		"podlane_extender_pending_total{event=\"released_seen\"} %llu\n"
		"podlane_extender_pending_total{event=\"released_ttl\"} %llu\n"
		"podlane_extender_pending_total{event=\"moved\"} %llu\n",
		(unsigned long long)st->charged, (unsigned long long)st->released_seen,
		(unsigned long long)st->released_ttl, (unsigned long long)st->moved);

	if (!sched_view(a, &nodes, &n) && n) {
		/* The escaped name replaces the name: nothing below needs the raw one. */
		for (i = 0; i < n; i++) {
			char nm[sizeof(nodes[i].node)];

			label_esc(nodes[i].node, nm, sizeof(nm));
			memcpy(nodes[i].node, nm, sizeof(nm));
		}
		family(f, "podlane_cluster_node_score", "gauge",
		       "The extender's score of each node now, 0..10 (0 when stale).");
		for (i = 0; i < n; i++)
			fprintf(f, "podlane_cluster_node_score{node=\"%s\"} %d\n", nodes[i].node,
				nodes[i].score);
		family(f, "podlane_cluster_node_part", "gauge",
		       "Each node's hint parts 0..100 (cpu_pressure, runq and memory are scored; "
		       "cpu and traffic are not), pending the part pending placements add.");
		for (i = 0; i < n; i++)
			fprintf(f, "podlane_cluster_node_part{node=\"%s\",part=\"cpu_pressure\"} %g\n"
				"podlane_cluster_node_part{node=\"%s\",part=\"runq\"} %g\n"
				"podlane_cluster_node_part{node=\"%s\",part=\"memory\"} %g\n"
				"podlane_cluster_node_part{node=\"%s\",part=\"cpu\"} %g\n"
				"podlane_cluster_node_part{node=\"%s\",part=\"traffic\"} %g\n"
				"podlane_cluster_node_part{node=\"%s\",part=\"pending\"} %g\n",
				nodes[i].node, nodes[i].cpu_pressure, nodes[i].node, nodes[i].runq,
				nodes[i].node, nodes[i].memory, nodes[i].node, nodes[i].cpu,
				nodes[i].node, nodes[i].traffic, nodes[i].node,
				nodes[i].pending_part);
		family(f, "podlane_cluster_node_pressure", "gauge",
		       "Each node's pressure 0..100: the largest scored part.");
		for (i = 0; i < n; i++)
			fprintf(f, "podlane_cluster_node_pressure{node=\"%s\"} %g\n", nodes[i].node,
				nodes[i].pressure);
		family(f, "podlane_cluster_node_hint_age_seconds", "gauge",
		       "Age of each node's latest hints (-1: none).");
		for (i = 0; i < n; i++)
			fprintf(f, "podlane_cluster_node_hint_age_seconds{node=\"%s\"} %g\n",
				nodes[i].node, nodes[i].age_s);
		family(f, "podlane_cluster_node_stale", "gauge",
		       "1 when a node's hints are missing or older than --extender-stale-ms.");
		for (i = 0; i < n; i++)
			fprintf(f, "podlane_cluster_node_stale{node=\"%s\"} %d\n", nodes[i].node,
				nodes[i].stale);
		family(f, "podlane_cluster_node_pending_cpu_cores", "gauge",
		       "CPU requests of pods placed on each node that its hints do not show yet.");
		for (i = 0; i < n; i++)
			fprintf(f, "podlane_cluster_node_pending_cpu_cores{node=\"%s\"} %g\n",
				nodes[i].node, nodes[i].pending_cpu);
		family(f, "podlane_cluster_node_pending_pods", "gauge",
		       "Pods placed on each node that its hints do not show yet.");
		for (i = 0; i < n; i++)
			fprintf(f, "podlane_cluster_node_pending_pods{node=\"%s\"} %u\n",
				nodes[i].node, nodes[i].pending_pods);
	}
	free(nodes);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}
