/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ctl.h - what podlanectl's commands share (ctl.c): global options, usage errors, the
 * request to podlaned, value formatting and aligned tables. The commands themselves are in
 * commands.h; this layer calls none of them.
 */
#ifndef PODLANECTL_H
#define PODLANECTL_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#include "api_ops.h"

/* Exit codes: 0 ok, 1 the operation failed (agent down, map missing), 2 usage error. */
#define EXIT_USAGE	2

struct ctl_opts {
	const char	*socket_path;
	const char	*pin_root;
	bool		json;
};

/* --count/--timeout, only `monitor` takes them. */
struct monitor_opts {
	long	count;		/* 0 = until interrupted */
	long	timeout_s;	/* 0 = no limit */
};

/*
 * Parse a command's own options (argv[0] is the command name). Returns 0 to go on, -1 when
 * --help was printed (exit 0), EXIT_USAGE after printing what is wrong. m NULL: no
 * --count/--timeout for this command.
 */
int parse_command_opts(int argc, char **argv, struct ctl_opts *o, const char *cmd,
		       const char *usage, struct monitor_opts *m);

/* Print "podlanectl: <msg>; try '<hint> --help'" and return EXIT_USAGE. */
int usage_error(const char *hint, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The options every command takes (-s, -p, -j): true when getopt's c was one and is applied. */
bool common_opt(int c, struct ctl_opts *o);
/* The usage error for getopt's ':' (missing argument) or '?' (unknown option) answer. */
int opt_error(int c, const char *hint, char **argv);

/* A table printed like `kubectl get`: upper-case header, columns padded to the widest cell. */
struct table {
	size_t	ncols;
	size_t	nrows;	/* including the header */
	char	**cells;	/* nrows * ncols, row-major */
};

void table_init(struct table *t, size_t ncols, const char *const *header);
void table_add(struct table *t, const char *const *row);
void table_print(const struct table *t);
void table_free(struct table *t);

/* How long a request may take; service changes rewrite maps and files, so longer. */
#define CTL_TIMEOUT_MS		10000
#define CTL_SVC_TIMEOUT_MS	30000

/*
 * Say why api_<op>_call() (its rc and e) failed, in the operator's terms: which socket to check
 * when podlaned is not there, podlaned's reason when it refused. Returns the exit status, 1.
 */
int ctl_failed(const struct ctl_opts *o, const char *op, int rc, const struct api_error *e);
/*
 * A listing, page by page (api_ops.h, PODLANE_API_PAGE_BYTES): op is called with req, then
 * again for as long as next(reply, req) returns 1, having set req's offset to the next page;
 * it returns 0 after the last page, -1 when the reply's next page is not past the one just
 * asked for (a misbehaving agent would have podlanectl ask forever). n replies of op's reply
 * struct, with the JSON their strings point into. 0, or the exit status after printing why.
 */
struct ctl_pages {
	void			*replies;
	struct json_object	**raws;
	size_t			n;
};
int ctl_list_pages(const struct ctl_opts *o, const struct api_op *op, void *req, int timeout_ms,
		   int (*next)(const void *reply, void *req), struct ctl_pages *p);
/* Page i's reply. */
void *ctl_page(const struct api_op *op, const struct ctl_pages *p, size_t i);
void ctl_pages_free(const struct api_op *op, struct ctl_pages *p);

/*
 * A flow stream (flow_list with follow): send req (a flow_list request with follow set) and
 * call cb with each message, decoded, until cb returns non-zero, *stop is set (a signal), or
 * timeout_s seconds passed (0: no limit). The first message is the reply that opens the
 * stream. Returns 0, 1 after printing why it failed, or CTL_NO_AGENT (printing nothing) when
 * no podlaned listens on the socket or it does not know flow_list (an older agent).
 */
#define CTL_NO_AGENT	(-2)
int ctl_flow_stream(const struct ctl_opts *o, const struct api_flow_list_req *req,
		    long timeout_s, volatile int *stop,
		    int (*cb)(const struct api_flow_list_reply *r, void *data), void *data);

/* JSON as podlanectl prints it: indented, spaced, slashes as they are. */
void ctl_print_json(struct json_object *o);
/* A string for a table cell: "-" for none or "". */
const char *ctl_text(const char *s);
/* 1536 -> "1.5K": bytes (or bytes per second) in four characters or so. */
void ctl_human(double v, char *buf, size_t len);

#endif /* PODLANECTL_H */
