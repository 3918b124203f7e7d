// SPDX-License-Identifier: GPL-2.0-only
/*
 * events.c - `podlanectl events`: podlaned's anomaly alerts (userspace/podlaned/anomaly/):
 * each episode's "firing" and "resolved" events, or the alerts firing now (--active). -f
 * follows, asking for the events after the newest one it printed twice a second.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "ctl.h"

static const char events_usage[] =
	"Usage: podlanectl [--socket PATH] events [--active] [-f [-t S]] [-o json]\n"
	"\n"
	"Anomaly alerts podlaned raised for its pods, oldest first (the newest 200 events).\n"
	"Every second each pod's series go through a streaming detector: a moving baseline\n"
	"and a robust z-score (median and MAD) of how far the sample is above it. k samples in\n"
	"a row above the threshold fire an alert (one per episode); k in a row at or below\n"
	"half of it resolve it (podlaned --anomaly-k, --anomaly-z, --anomaly-warmup).\n"
	"\n"
	"Series: cpu (cores), runq (run-queue wait, s/s), memory (bytes), memory_growth\n"
	"(bytes/s: a leak), drops (packets/s the datapath dropped, any reason), traffic\n"
	"(bytes/s in and out).\n"
	"\n"
	"Columns: TIME of the event, STATE firing or resolved, POD (namespace/name or the\n"
	"container id), SERIES, VALUE of the sample at the event, BASELINE the detector\n"
	"expected, Z its robust z-score (PEAK: the episode's highest), SINCE the episode's\n"
	"first sample above the threshold.\n"
	"\n"
	"  --active             the alerts firing now, with their current figures\n"
	"  -f, --follow         then print events as they come, until interrupted\n"
	"  -t, --timeout S      stop following after S seconds\n"
	"  -o json (or --json)  one JSON object per line, as the agent sent it\n";

static volatile int events_stop;

static void on_signal(int sig)
{
	(void)sig;
	events_stop = 1;
}

static void clock_text(int64_t ns, char *buf, size_t len)
{
	time_t t = ns / 1000000000;
	struct tm tm;

	if (!ns || !localtime_r(&t, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	strftime(buf, len, "%H:%M:%S", &tm);
}

static void value_text(const char *unit, double v, char *buf, size_t len)
{
	char h[32];

	if (!strcmp(unit, "bytes") || !strcmp(unit, "bytes/s")) {
		ctl_human(v < 0 ? -v : v, h, sizeof(h));
		snprintf(buf, len, "%s%s%s", v < 0 ? "-" : "", h, unit[5] ? "/s" : "");
	} else if (!strcmp(unit, "packets/s")) {
		snprintf(buf, len, "%.0f/s", v);
	} else if (!strcmp(unit, "s/s")) {
		snprintf(buf, len, "%.3f s/s", v);
	} else {
		snprintf(buf, len, "%.2f", v);
	}
}

static void print_json(const struct api_anomaly *ev)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "seq", json_object_new_int64(ev->seq));
	json_object_object_add(o, "time_ns", json_object_new_int64(ev->time_ns));
	json_object_object_add(o, "state", json_object_new_string(ev->state));
	json_object_object_add(o, "pod", json_object_new_string(ev->pod));
	json_object_object_add(o, "container_id", json_object_new_string(ev->container_id));
	json_object_object_add(o, "host_ifname", json_object_new_string(ev->host_ifname));
	json_object_object_add(o, "ip", json_object_new_string(ev->ip));
	json_object_object_add(o, "series", json_object_new_string(ev->series));
	json_object_object_add(o, "unit", json_object_new_string(ev->unit));
	json_object_object_add(o, "value", json_object_new_double(ev->value));
	json_object_object_add(o, "baseline", json_object_new_double(ev->baseline));
	json_object_object_add(o, "z", json_object_new_double(ev->z));
	json_object_object_add(o, "peak_z", json_object_new_double(ev->peak_z));
	json_object_object_add(o, "since_ns", json_object_new_int64(ev->since_ns));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static const char *const head[] = {
	"TIME", "STATE", "POD", "SERIES", "VALUE", "BASELINE", "Z", "PEAK", "SINCE",
};

#define NCOLS	(sizeof(head) / sizeof(head[0]))

static void cells(const struct api_anomaly *ev, char f[NCOLS][96])
{
	clock_text(ev->time_ns, f[0], sizeof(f[0]));
	snprintf(f[1], sizeof(f[1]), "%s", ev->state);
	snprintf(f[2], sizeof(f[2]), "%s", ctl_text(ev->pod));
	snprintf(f[3], sizeof(f[3]), "%s", ev->series);
	value_text(ev->unit, ev->value, f[4], sizeof(f[4]));
	value_text(ev->unit, ev->baseline, f[5], sizeof(f[5]));
	snprintf(f[6], sizeof(f[6]), "%.1f", ev->z);
	snprintf(f[7], sizeof(f[7]), "%.1f", ev->peak_z);
	clock_text(ev->since_ns, f[8], sizeof(f[8]));
}

/* Following: fixed columns, so rows printed later line up with the header printed first. */
static void print_fixed(const char *const *f)
{
	printf("%-8s  %-8s  %-24s  %-13s  %-12s  %-12s  %-6s  %-6s  %s\n", f[0], f[1], f[2], f[3],
	       f[4], f[5], f[6], f[7], f[8]);
}

static void print_list(const struct ctl_opts *o, const struct api_anomaly *v, size_t n,
		       bool follow, bool header)
{
	char f[NCOLS][96];
	struct table t;
	size_t i, c;

	if (o->json) {
		for (i = 0; i < n; i++)
			print_json(&v[i]);
	} else if (follow) {
		if (header)
			print_fixed(head);
		for (i = 0; i < n; i++) {
			const char *row[NCOLS];

			cells(&v[i], f);
			for (c = 0; c < NCOLS; c++)
				row[c] = f[c];
			print_fixed(row);
		}
	} else {
		table_init(&t, NCOLS, head);
		for (i = 0; i < n; i++) {
			cells(&v[i], f);
			table_add(&t, (const char *const[]){ f[0], f[1], f[2], f[3], f[4], f[5],
							    f[6], f[7], f[8] });
		}
		table_print(&t);
		table_free(&t);
	}
	fflush(stdout);
}

int cmd_events(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket",	required_argument, NULL, 's' },
		{ "pin-root",	required_argument, NULL, 'p' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ "output",	required_argument, NULL, 'o' },
		{ "follow",	no_argument,	   NULL, 'f' },
		{ "timeout",	required_argument, NULL, 't' },
		{ "active",	no_argument,	   NULL, 'a' },
		{ NULL }
	};
	const char *hint = "podlanectl events";
	struct sigaction sa = { .sa_handler = on_signal };
	struct api_anomaly_events_req req = {};
	struct api_anomaly_events_reply r;
	struct json_object *raw;
	struct api_error e;
	bool follow = false, active = false, first = true;
	long timeout_s = 0;
	time_t start = time(NULL);
	char *end;
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:p:jho:ft:a", opts, NULL)) != -1) {
		if (common_opt(c, o))
			continue;
		switch (c) {
		case 'h':
			fputs(events_usage, stdout);
			return 0;
		case 'o':
			if (strcmp(optarg, "json"))
				return usage_error(hint, "-o takes 'json' (the default is a table), "
						   "not '%s'", optarg);
			o->json = true;
			break;
		case 'f':
			follow = true;
			break;
		case 't':
			errno = 0;
			timeout_s = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || timeout_s < 0)
				return usage_error(hint, "option '--timeout' needs a non-negative "
						   "number, not '%s'", optarg);
			break;
		case 'a':
			active = true;
			break;
		default:
			return opt_error(c, hint, argv);
		}
	}
	if (optind < argc)
		return usage_error(hint, "unexpected argument '%s'", argv[optind]);
	if (active && follow)
		return usage_error(hint, "--active shows the alerts now; -f follows events");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (;;) {
		rc = api_anomaly_events_call(o->socket_path, CTL_TIMEOUT_MS, &req, &r, &raw, &e);
		if (rc)
			return ctl_failed(o, PODLANE_OP_ANOMALY_EVENTS, rc, &e);
		if (active)
			print_list(o, r.active, r.n_active, false, true);
		else
			print_list(o, r.events, r.n_events, follow, first);
		first = false;
		req.has_after = true;
		req.after = r.newest;
		api_anomaly_events_reply_free(&r);
		json_object_put(raw);
		if (!follow)
			return 0;
		if (timeout_s && time(NULL) - start >= timeout_s)
			return 0;
		usleep(500000);
		if (events_stop)
			return 0;
	}
}
