// SPDX-License-Identifier: GPL-2.0-only
/*
 * selftests/policy/policy_json.c - a NetworkPolicy as users write it (YAML or JSON, one
 * object) in, its canonical JSON out: the value of an etcd record /podlane/v1/policies/<ns>/
 * <name>, through the agent's own parser and validator (yaml_json.c, policy_spec.c). The
 * truth table's cluster runs (selftests/multinode/06-policy-truth.t) write their policies so.
 *
 * Usage: policy_json FILE. Exit 1 with the reason on stderr when the policy is invalid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <json-c/json.h>

#include "policy_spec.h"

int main(int argc, char **argv)
{
	struct policy_spec spec;
	struct json_object *o;
	char err[512], *text;
	long len;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "re");
	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		perror(argv[1]);
		return 1;
	}
	text = malloc(len + 1);
	if (!text || fread(text, 1, len, f) != (size_t)len) {
		fprintf(stderr, "failed to read '%s'\n", argv[1]);
		return 1;
	}
	fclose(f);
	if (policy_spec_parse_text(text, len, &spec, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", argv[1], err);
		return 1;
	}
	o = policy_spec_to_json(&spec);
	if (!o) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	policy_spec_free(&spec);
	free(text);
	return 0;
}
