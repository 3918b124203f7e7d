// SPDX-License-Identifier: GPL-2.0-only
/*
 * hints.c - `podlanectl hints`: podlaned's node and pod pressure scores (0 idle .. 100
 * saturated), highest first. The formula is documented in userspace/podlaned/hints.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "ctl.h"

static const char hints_usage[] =
	"Usage: podlanectl [--socket PATH] [--json] hints\n"
	"\n"
	"Pressure hints of the node and of each pod, 0 (idle) to 100 (saturated), recomputed by\n"
	"podlaned every second. A score is the largest of four parts, each 0-100:\n"
	"  cpu      node: CPU busy %; pod: CPU used / its cpu.max limit (or the node's CPUs)\n"
	"  runq     node: run-queue wait per CPU (100 = one task always waiting per CPU);\n"
	"           pod: share of its runnable time spent waiting for a CPU\n"
	"  memory   4 x memory PSI some avg10 (25%% stalled = 100); pod: or memory / limit\n"
	"  traffic  bytes per second sent + received / 10 Gbit/s\n"
	"DOMINANT names the part that sets the score. --json prints podlaned's reply.\n";

static int score_cmp(const void *x, const void *y)
{
	double a = ctl_num(*(struct json_object *const *)x, "score");
	double b = ctl_num(*(struct json_object *const *)y, "score");

	return a < b ? 1 : a > b ? -1 : 0;
}

int cmd_hints(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = {
		"CONTAINER", "HOST-IF", "IP", "SCORE", "DOMINANT", "CPU", "RUNQ", "MEMORY",
		"TRAFFIC",
	};
	struct json_object *reply, *node, *pods;
	char f[9][128];
	struct table t;
	size_t i;
	int rc;

	rc = parse_command_opts(argc, argv, o, "hints", hints_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = ctl_request(o, PODLANE_OP_HINTS, &reply);
	if (rc)
		return rc;
	if (json_object_object_get_ex(reply, "pods", &pods) &&
	    json_object_is_type(pods, json_type_array))
		json_object_array_sort(pods, score_cmp);
	else
		pods = NULL;
	if (o->json) {
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(reply);
		return 0;
	}
	json_object_object_get_ex(reply, "node", &node);
	printf("node  score %.0f (%s)  cpu %.0f  runq %.0f  memory %.0f  traffic %.0f  "
	       "cpu headroom %.0f%%\n\n", ctl_num(node, "score"), ctl_str(node, "dominant", "-"),
	       ctl_num(node, "cpu"), ctl_num(node, "runq"), ctl_num(node, "memory"),
	       ctl_num(node, "traffic"), ctl_num(node, "cpu_headroom"));
	table_init(&t, 9, head);
	for (i = 0; pods && i < json_object_array_length(pods); i++) {
		struct json_object *p = json_object_array_get_idx(pods, i);
		const char *row[9];
		size_t c;

		snprintf(f[0], sizeof(f[0]), "%.12s", ctl_str(p, "container_id", "-"));
		snprintf(f[1], sizeof(f[1]), "%s", ctl_str(p, "host_ifname", "-"));
		snprintf(f[2], sizeof(f[2]), "%s", ctl_str(p, "ip", "-"));
		snprintf(f[3], sizeof(f[3]), "%.0f", ctl_num(p, "score"));
		snprintf(f[4], sizeof(f[4]), "%s", ctl_str(p, "dominant", "-"));
		snprintf(f[5], sizeof(f[5]), "%.1f", ctl_num(p, "cpu"));
		snprintf(f[6], sizeof(f[6]), "%.1f", ctl_num(p, "runq"));
		snprintf(f[7], sizeof(f[7]), "%.1f", ctl_num(p, "memory"));
		snprintf(f[8], sizeof(f[8]), "%.1f", ctl_num(p, "traffic"));
		for (c = 0; c < 9; c++)
			row[c] = f[c];
		table_add(&t, row);
	}
	table_print(&t);
	table_free(&t);
	json_object_put(reply);
	return 0;
}
