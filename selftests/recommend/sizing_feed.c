// SPDX-License-Identifier: GPL-2.0-only
/*
 * sizing_feed.c - userspace/lib/sizing.c driven by a script on stdin, for formula.t, which
 * feeds the same script to sizing_ref.py (an independent computation) and compares:
 *
 *	cpu T_MS CORES REQUEST	a CPU sample (sizing_add_cpu)
 *	mem T_MS BYTES		a memory sample (sizing_add_memory)
 *	est SAMPLES_PER_DAY	print: cpu target lower upper (millicores), memory target lower
 *				upper (bytes), confidence, samples
 *	save			checkpoint the state to JSON text, load it back in its place
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "sizing.h"

static int save_load(struct sizing_state *s)
{
	struct json_object *o = sizing_state_to_json(s), *back;
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	char err[256];
	int rc;

	json_object_put(o);
	back = text ? json_tokener_parse(text) : NULL;
	free(text);
	if (!back) {
		fprintf(stderr, "sizing_feed: checkpoint text does not parse\n");
		return 1;
	}
	rc = sizing_state_from_json(back, s, err, sizeof(err));
	json_object_put(back);
	if (rc)
		fprintf(stderr, "sizing_feed: checkpoint refused: %s\n", err);
	return rc ? 1 : 0;
}

int main(void)
{
	struct sizing_state *s = malloc(sizeof(*s));
	char line[256], cmd[16];
	long long t;
	double a, b;
	int rc = 0;

	if (!s)
		return 1;
	sizing_state_init(s);
	while (!rc && fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "%15s", cmd) != 1)
			continue;
		if (!strcmp(cmd, "cpu") && sscanf(line, "%*s %lld %lf %lf", &t, &a, &b) == 3) {
			sizing_add_cpu(s, t, a, b);
		} else if (!strcmp(cmd, "mem") && sscanf(line, "%*s %lld %lf", &t, &a) == 2) {
			sizing_add_memory(s, t, a);
		} else if (!strcmp(cmd, "est") && sscanf(line, "%*s %lf", &a) == 1) {
			struct sizing_estimate e;

			sizing_estimate(s, a, &e);
			printf("%lld %lld %lld %lld %lld %lld %.6f %llu\n",
			       (long long)e.cpu_target_mcpu, (long long)e.cpu_lower_mcpu,
			       (long long)e.cpu_upper_mcpu, (long long)e.mem_target_bytes,
			       (long long)e.mem_lower_bytes, (long long)e.mem_upper_bytes,
			       e.confidence, (unsigned long long)e.samples);
		} else if (!strcmp(cmd, "save")) {
			rc = save_load(s);
		} else {
			fprintf(stderr, "sizing_feed: bad line: %s", line);
			rc = 2;
		}
	}
	free(s);
	return rc;
}
