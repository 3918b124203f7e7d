// SPDX-License-Identifier: GPL-2.0-only
/*
 * top.c - `podlanectl top`: the node's pods by CPU, run-queue delay, memory or traffic, from
 * podlaned's "acct" op, redrawn in place like top(1) until q, Ctrl-C or --iterations.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "podlane.h"

static const char top_usage[] =
	"Usage: podlanectl [--socket PATH] top [--sort cpu|runq|memory|traffic] [--interval SEC]\n"
	"                  [--iterations N] [--once] [--json]\n"
	"\n"
	"Pods on this node by resource use, redrawn every --interval seconds (default 1) until\n"
	"'q' or Ctrl-C, or after --iterations redraws. --once prints one snapshot and exits;\n"
	"with --json that snapshot is podlaned's \"acct\" reply with the pods sorted.\n"
	"\n"
	"Columns: CPU% cores used x 100 over the last second; WAIT run-queue wait in ms per\n"
	"second (time runnable but not running); RUNQ% wait / (wait + run); MEM memory in use;\n"
	"RX/TX bytes per second the pod's sockets received/sent (IP length, no L2 header);\n"
	"HINT the pod's pressure score 0-100 and what sets it (see 'podlanectl hints').\n"
	"Sort keys: cpu (CPU%), runq (WAIT), memory (MEM), traffic (RX + TX).\n";

enum sort_key { SORT_CPU, SORT_RUNQ, SORT_MEMORY, SORT_TRAFFIC };

static enum sort_key sort_by;

static double sort_value(const struct api_acct_pod *p)
{
	switch (sort_by) {
	case SORT_RUNQ:
		return p->rates.runq_per_s;
	case SORT_MEMORY:
		return p->has_memory_bytes ? p->memory_bytes : 0;
	case SORT_TRAFFIC:
		return p->rates.rx_bps + p->rates.tx_bps;
	case SORT_CPU:
		break;
	}
	return p->rates.cpu_cores;
}

static int pod_cmp(const void *x, const void *y)
{
	const struct api_acct_pod *a = x, *b = y;
	double va = sort_value(a), vb = sort_value(b);

	if (va != vb)
		return va < vb ? 1 : -1;
	return strcmp(a->host_ifname, b->host_ifname);
}

static void draw(const struct api_acct_reply *r, bool clear)
{
	static const char *const head[] = {
		"CONTAINER", "HOST-IF", "IP", "CPU%", "WAIT", "RUNQ%", "MEM", "RX/s", "TX/s",
		"HINT", "PROCS", "CGROUP",
	};
	static const char *const sort_names[] = { "cpu", "runq", "memory", "traffic" };
	const struct api_acct_node *node = &r->node;
	char when[32], f[12][128];
	time_t now = time(NULL);
	struct table t;
	size_t i;

	if (clear)
		fputs("\033[H\033[2J", stdout);
	strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
	printf("podlane top - %s - %zu pods, sorted by %s - source %s (memory %s, psi %s)%s\n",
	       when, r->n_pods, sort_names[sort_by], r->source, r->memory_source, r->psi_source,
	       r->bpf ? "" : " - no accounting programs: no WAIT, RX, TX");
	printf("node: %d CPUs, %.0f%% busy, run-queue wait %.0f ms/s per CPU, "
	       "memory pressure %.2f%%\n\n", (int)node->cpus, 100 * node->cpu_busy,
	       1000 * node->runq_per_cpu,
	       node->has_psi && node->psi.has_memory ? node->psi.memory.some_avg10 : 0);

	table_init(&t, 12, head);
	for (i = 0; i < r->n_pods; i++) {
		const struct api_acct_pod *p = &r->pods[i];

		snprintf(f[0], sizeof(f[0]), "%.12s", ctl_text(p->container_id));
		snprintf(f[3], sizeof(f[3]), "%.1f", 100 * p->rates.cpu_cores);
		snprintf(f[4], sizeof(f[4]), "%.1f", 1000 * p->rates.runq_per_s);
		snprintf(f[5], sizeof(f[5]), "%.1f", 100 * p->rates.runq_share);
		if (p->has_memory_bytes)
			ctl_human(p->memory_bytes, f[6], sizeof(f[6]));
		else
			snprintf(f[6], sizeof(f[6]), "-");
		ctl_human(p->rates.rx_bps, f[7], sizeof(f[7]));
		ctl_human(p->rates.tx_bps, f[8], sizeof(f[8]));
		snprintf(f[9], sizeof(f[9]), "%.0f %s", p->hint.score, p->hint.dominant);
		snprintf(f[10], sizeof(f[10]), "%" PRId64, p->processes);
		table_add(&t, (const char *const[]){ f[0], ctl_text(p->host_ifname),
						    ctl_text(p->ip), f[3], f[4], f[5], f[6], f[7],
						    f[8], f[9], f[10], ctl_text(p->cgroup) });
	}
	table_print(&t);
	table_free(&t);
	if (clear)
		printf("\n(q to quit)\n");
	fflush(stdout);
}

static volatile sig_atomic_t stop;
static struct termios saved_tty;
static bool tty_changed;

static void on_signal(int sig)
{
	stop = 1;
}

static void tty_restore(void)
{
	if (tty_changed)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	tty_changed = false;
}

/* Keys without Enter and without echo, so 'q' quits at once. */
static void tty_keys(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tty))
		return;
	t = saved_tty;
	t.c_lflag &= ~(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (!tcsetattr(STDIN_FILENO, TCSANOW, &t)) {
		tty_changed = true;
		atexit(tty_restore);
	}
}

/* Wait up to ms for 'q' on a terminal; true when the user asked to quit. */
static bool wait_key(int ms)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	struct timespec t0, t;
	char c;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		int left;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return false;
		if (!tty_changed) {
			poll(NULL, 0, left);
			continue;
		}
		if (poll(&pfd, 1, left) > 0 && read(STDIN_FILENO, &c, 1) == 1 &&
		    (c == 'q' || c == 'Q'))
			return true;
	}
	return true;
}

int cmd_top(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket",	required_argument, NULL, 's' },
		{ "pin-root",	required_argument, NULL, 'p' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ "sort",	required_argument, NULL, 'S' },
		{ "interval",	required_argument, NULL, 'i' },
		{ "iterations",	required_argument, NULL, 'n' },
		{ "once",	no_argument,	   NULL, '1' },
		{ NULL }
	};
	struct api_acct_req req = {};
	struct api_acct_reply r;
	struct json_object *raw;
	struct api_error e;
	double interval = 1;
	long iterations = 0, done;
	bool once = false, clear;
	char *end;
	int c, rc = 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:p:jhS:i:n:1", opts, NULL)) != -1) {
		if (common_opt(c, o))
			continue;
		switch (c) {
		case 'h':
			fputs(top_usage, stdout);
			return 0;
		case 'S':
			if (!strcmp(optarg, "cpu"))
				sort_by = SORT_CPU;
			else if (!strcmp(optarg, "runq"))
				sort_by = SORT_RUNQ;
			else if (!strcmp(optarg, "memory") || !strcmp(optarg, "mem"))
				sort_by = SORT_MEMORY;
			else if (!strcmp(optarg, "traffic"))
				sort_by = SORT_TRAFFIC;
			else
				return usage_error("podlanectl top", "--sort wants cpu, runq, "
						   "memory or traffic, not '%s'", optarg);
			break;
		case 'i':
			errno = 0;
			interval = strtod(optarg, &end);
			if (errno || *end || !(interval >= 0.1) || interval > 3600)
				return usage_error("podlanectl top", "--interval wants seconds "
						   "from 0.1 to 3600, not '%s'", optarg);
			break;
		case 'n':
			errno = 0;
			iterations = strtol(optarg, &end, 10);
			if (errno || *end || iterations <= 0)
				return usage_error("podlanectl top", "--iterations wants a "
						   "positive number, not '%s'", optarg);
			break;
		case '1':
			once = true;
			break;
		default:
			return opt_error(c, "podlanectl top", argv);
		}
	}
	if (optind < argc)
		return usage_error("podlanectl top", "unexpected argument '%s'", argv[optind]);
	if (once)
		iterations = 1;

	clear = !once && !o->json && isatty(STDOUT_FILENO);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (clear)
		tty_keys();
	for (done = 0; !stop && (!iterations || done < iterations); done++) {
		if (done && wait_key((int)(interval * 1000)))
			break;
		rc = api_acct_call(o->socket_path, CTL_TIMEOUT_MS, &req, &r, &raw, &e);
		if (rc) {
			rc = ctl_failed(o, PODLANE_OP_ACCT, rc, &e);
			break;
		}
		if (r.n_pods)	/* no pods: r.pods is NULL, which qsort() must not get */
			qsort(r.pods, r.n_pods, sizeof(*r.pods), pod_cmp);
		if (o->json) {
			struct json_object *sorted = api_encode(api_op_acct.reply, &r);

			printf("%s\n", json_object_to_json_string_ext(sorted, once ?
			       JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			       JSON_C_TO_STRING_NOSLASHESCAPE :
			       JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
			fflush(stdout);
			json_object_put(sorted);
		} else {
			draw(&r, clear);
		}
		api_acct_reply_free(&r);
		json_object_put(raw);
	}
	tty_restore();
	return rc;
}
