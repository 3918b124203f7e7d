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

#include "api.h"
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

/* One request; on failure say why in the operator's terms and return the exit code. */
int ctl_request(const struct ctl_opts *o, const char *op, struct json_object **reply)
{
	struct json_object *req = json_object_new_object(), *v;
	char why[256];
	int rc;

	json_object_object_add(req, "op", json_object_new_string(op));
	rc = api_call(o->socket_path, req, reply, 10000, why, sizeof(why));
	json_object_put(req);
	if (rc < 0) {
		fprintf(stderr, "podlanectl: cannot reach podlaned at %s: %s; is it running? "
			"(--socket)\n", o->socket_path, rc == -EPROTO ? why : strerror(-rc));
		return 1;
	}
	if (!json_object_object_get_ex(*reply, "ok", &v) || !json_object_get_boolean(v)) {
		fprintf(stderr, "podlanectl: podlaned refused '%s': %s\n", op,
			json_object_object_get_ex(*reply, "msg", &v) ? json_object_get_string(v) :
			"no reason given");
		json_object_put(*reply);
		*reply = NULL;
		return 1;
	}
	json_object_object_del(*reply, "ok");
	return 0;
}

double ctl_num(struct json_object *o, const char *path)
{
	char key[64];
	const char *dot;
	struct json_object *v;

	while ((dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		if (!json_object_object_get_ex(o, key, &o))
			return 0;
		path = dot + 1;
	}
	if (!json_object_object_get_ex(o, path, &v) || !v)
		return 0;
	return json_object_get_double(v);
}

const char *ctl_str(struct json_object *o, const char *key, const char *dflt)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v ||
	    !json_object_is_type(v, json_type_string))
		return dflt;
	return json_object_get_string(v);
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
