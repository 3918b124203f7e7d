// SPDX-License-Identifier: GPL-2.0-only
/*
 * ctl.c - what podlanectl's commands share: option parsing and usage errors, the request to
 * podlaned, value formatting and aligned tables. Commands call down into this file; it calls
 * none of them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

int usage_error(const char *hint, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "podlanectl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; try '%s --help'\n", hint);
	return EXIT_USAGE;
}

bool common_opt(int c, struct ctl_opts *o)
{
	switch (c) {
	case 's':
		o->socket_path = optarg;
		return true;
	case 'p':
		o->pin_root = optarg;
		return true;
	case 'j':
		o->json = true;
		return true;
	}
	return false;
}

int opt_error(int c, const char *hint, char **argv)
{
	if (c == ':')
		return usage_error(hint, "option '%s' needs an argument", argv[optind - 1]);
	if (optopt)
		return usage_error(hint, "unknown option '-%c'", optopt);
	return usage_error(hint, "unknown option '%s'", argv[optind - 1]);
}

int parse_command_opts(int argc, char **argv, struct ctl_opts *o, const char *cmd,
		       const char *usage, struct monitor_opts *m)
{
	static const struct option opts[] = {
		{ "socket",	required_argument, NULL, 's' },
		{ "pin-root",	required_argument, NULL, 'p' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ "count",	required_argument, NULL, 'c' },
		{ "timeout",	required_argument, NULL, 't' },
		{ NULL }
	};
	char hint[64], *end;
	int c;

	snprintf(hint, sizeof(hint), "podlanectl %s", cmd);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, m ? ":s:p:jhc:t:" : ":s:p:jh", opts, NULL)) != -1) {
		if (common_opt(c, o))
			continue;
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			return -1;
		case 'c':
		case 't':
			if (!m)
				return usage_error(hint, "unknown option '%s'", argv[optind - 1]);
			errno = 0;
			*(c == 'c' ? &m->count : &m->timeout_s) = strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || *optarg == '-')
				return usage_error(hint, "option '--%s' needs a non-negative "
						   "number, not '%s'",
						   c == 'c' ? "count" : "timeout", optarg);
			break;
		default:
			return opt_error(c, hint, argv);
		}
	}
	if (optind < argc)
		return usage_error(hint, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int ctl_failed(const struct ctl_opts *o, const char *op, int rc, const struct api_error *e)
{
	if (rc == -EREMOTEIO)
		fprintf(stderr, "podlanectl: podlaned refused '%s': %s\n", op, e->msg);
	else if (rc == -EBADMSG)
		fprintf(stderr, "podlanectl: %s\n", e->msg);
	else
		fprintf(stderr, "podlanectl: cannot reach podlaned at %s: %s; is it running? "
			"(--socket)\n", o->socket_path, rc == -EPROTO ? e->details : strerror(-rc));
	return 1;
}

/* No listing of a node has nearly as many pages: a bound for an agent that never ends one. */
#define CTL_PAGES_MAX	100000

void *ctl_page(const struct api_op *op, const struct ctl_pages *p, size_t i)
{
	return (char *)p->replies + i * op->reply->size;
}

int ctl_list_pages(const struct ctl_opts *o, const struct api_op *op, void *req, int timeout_ms,
		   int (*next)(const void *reply, void *req), struct ctl_pages *p)
{
	struct api_error e;
	void *v;
	int rc;

	memset(p, 0, sizeof(*p));
	for (;;) {
		v = realloc(p->replies, (p->n + 1) * op->reply->size);
		if (v)
			p->replies = v;
		v = v ? realloc(p->raws, (p->n + 1) * sizeof(*p->raws)) : NULL;
		if (!v) {
			fprintf(stderr, "podlanectl: out of memory\n");
			return 1;
		}
		p->raws = v;
		rc = api_op_call(o->socket_path, timeout_ms, op, req, ctl_page(op, p, p->n),
				 &p->raws[p->n], &e);
		if (rc)
			return ctl_failed(o, op->name, rc, &e);
		rc = next(ctl_page(op, p, p->n++), req);
		if (!rc)
			return 0;
		if (rc < 0 || p->n == CTL_PAGES_MAX) {
			fprintf(stderr, "podlanectl: podlaned's '%s' pages do not come to an end "
				"(page %zu)\n", op->name, p->n);
			return 1;
		}
	}
}

void ctl_pages_free(const struct api_op *op, struct ctl_pages *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		api_free(op->reply, ctl_page(op, p, i));
		json_object_put(p->raws[i]);
	}
	free(p->replies);
	free(p->raws);
	memset(p, 0, sizeof(*p));
}

void ctl_print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
}

const char *ctl_text(const char *s)
{
	return s && *s ? s : "-";
}

/* 1536 -> "1.5K": bytes (or bytes per second) in four characters or so. */
void ctl_human(double v, char *buf, size_t len)
{
	static const char units[] = " KMGTP";
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

static void table_push(struct table *t, const char *const *row)
{
	size_t i;

	t->cells = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*t->cells));
	if (!t->cells) {
		fprintf(stderr, "podlanectl: out of memory\n");
		exit(1);
	}
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = strdup(row[i] ? row[i] : "-");
	t->nrows++;
}

void table_init(struct table *t, size_t ncols, const char *const *header)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	table_push(t, header);
}

void table_add(struct table *t, const char *const *row)
{
	table_push(t, row);
}

void table_print(const struct table *t)
{
	size_t width[32] = { 0 }, r, c, n;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols && c < 32; c++) {
			n = strlen(t->cells[r * t->ncols + c]);
			if (n > width[c])
				width[c] = n;
		}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];

			/* No trailing blanks: the last column is not padded. */
			if (c + 1 == t->ncols)
				printf("%s\n", cell);
			else
				printf("%-*s  ", (int)width[c], cell);
		}
	}
}

void table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static long long ctl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_flow_stream(const struct ctl_opts *o, const struct api_flow_list_req *req,
		    long timeout_s, volatile int *stop,
		    int (*cb)(const struct api_flow_list_reply *r, void *data), void *data)
{
	long long deadline = timeout_s ? ctl_mono_ms() + timeout_s * 1000LL : 0;
	struct json_object *o_req, *msg;
	struct api_flow_list_reply r;
	struct api_error e;
	char why[256];
	int fd, rc, first = 1, wait_ms;

	o_req = api_flow_list_req_encode(req);
	if (!o_req) {
		fprintf(stderr, "podlanectl: out of memory\n");
		return 1;
	}
	fd = api_stream_open(o->socket_path, o_req, why, sizeof(why));
	json_object_put(o_req);
	if (fd == -ENOENT || fd == -ECONNREFUSED)
		return CTL_NO_AGENT;
	if (fd < 0) {
		fprintf(stderr, "podlanectl: %s\n", why);
		return 1;
	}
	for (rc = 0; !rc && !*stop;) {
		wait_ms = -1;
		if (deadline) {
			long long left = deadline - ctl_mono_ms();

			if (left <= 0)
				break;
			wait_ms = left > 500 ? 500 : (int)left;
		} else {
			wait_ms = 500;	/* look at *stop now and then */
		}
		rc = api_stream_next(fd, wait_ms, &msg);
		if (rc == -ETIMEDOUT || rc == -EINTR) {
			rc = 0;
			continue;
		}
		if (rc) {
			fprintf(stderr, "podlanectl: %s\n", rc == -ECONNRESET ?
				"podlaned closed the flow stream" : rc == -EPROTO ?
				"podlaned sent a message that is not JSON" : strerror(-rc));
			rc = 1;
			break;
		}
		rc = api_op_reply_decode(&api_op_flow_list, msg, &r, &e);
		if (rc) {
			json_object_put(msg);
			/* An agent without the flow log: the caller may read the ring itself. */
			if (first && rc == -EREMOTEIO && strstr(e.msg, "unknown op")) {
				rc = CTL_NO_AGENT;
				break;
			}
			rc = ctl_failed(o, api_op_flow_list.name, rc, &e);
			break;
		}
		first = 0;
		rc = cb(&r, data) ? -1 : 0;
		api_flow_list_reply_free(&r);
		json_object_put(msg);
	}
	close(fd);
	return rc > 0 || rc == CTL_NO_AGENT ? rc : 0;
}
