// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_extender.c - kube-scheduler extender requests (userspace/lib/extender.c) as podlaned's
 * extender reads them (api/extender.c): the input is one request body, any bytes, parsed by
 * extender_args_parse() and, when it parses, answered with both replies.
 *
 * Invariants: a parse either succeeds or fails with -EINVAL and a reason (or -ENOMEM), nothing
 * to free on failure; what parses names between 0 and EXTENDER_MAX_NODES nodes, each a
 * non-empty name shorter than EXTENDER_NAME_LEN, a pod name, and the NodeList items when the
 * request sent a NodeList; both replies are JSON that kube-scheduler reads back with the same
 * node form: filter's list holds exactly the nodes that passed (every other one is in
 * FailedNodes), prioritize one entry per node with a score from 0 to 10. CPU quantities parse
 * the same as text and never yield more than the clamp.
 */
#include <errno.h>

#include "extender.h"
#include "fuzz.h"

static void check_replies(const struct extender_args *a, const uint8_t *data, size_t size)
{
	bool *pass = calloc(a->nnodes + 1, sizeof(*pass));
	const char **reason = calloc(a->nnodes + 1, sizeof(*reason));
	int *score = calloc(a->nnodes + 1, sizeof(*score));
	struct json_object *o, *list, *failed;
	size_t i, npass = 0;
	char *text;

	FUZZ_CHECK(pass && reason && score, "out of memory");
	for (i = 0; i < a->nnodes; i++) {
		/* a verdict and a score from the input's bytes: every mix gets tried */
		uint8_t b = size ? data[i % size] : 0;

		pass[i] = b & 1;
		npass += pass[i];
		reason[i] = pass[i] ? NULL : "podlane: saturated";
		score[i] = (int)(b >> 1) - 32;	/* out of range too: the encoder clamps */
	}
	text = extender_filter_reply(a, pass, reason);
	FUZZ_CHECK(text, "filter reply not encoded");
	o = json_tokener_parse(text);
	FUZZ_CHECK(o, "filter reply is not JSON: %s", text);
	if (a->node_names) {
		FUZZ_CHECK(json_object_object_get_ex(o, "NodeNames", &list) &&
			   json_object_is_type(list, json_type_array), "no NodeNames: %s", text);
	} else {
		struct json_object *nodes;

		FUZZ_CHECK(json_object_object_get_ex(o, "Nodes", &nodes) &&
			   json_object_object_get_ex(nodes, "items", &list) &&
			   json_object_is_type(list, json_type_array), "no Nodes.items: %s", text);
	}
	FUZZ_CHECK(json_object_array_length(list) == npass, "%zu passed, %zu listed", npass,
		   json_object_array_length(list));
	FUZZ_CHECK(json_object_object_get_ex(o, "FailedNodes", &failed) &&
		   json_object_is_type(failed, json_type_object), "no FailedNodes");
	for (i = 0; i < a->nnodes; i++)
		if (!pass[i])
			FUZZ_CHECK(json_object_object_get_ex(failed, a->names[i], NULL),
				   "failed node %s has no reason", a->names[i]);
	json_object_put(o);
	free(text);

	text = extender_prioritize_reply(a, score);
	FUZZ_CHECK(text, "prioritize reply not encoded");
	o = json_tokener_parse(text);
	FUZZ_CHECK(o && json_object_is_type(o, json_type_array) &&
		   json_object_array_length(o) == a->nnodes, "prioritize reply: %s", text);
	for (i = 0; i < a->nnodes; i++) {
		struct json_object *h = json_object_array_get_idx(o, i), *s, *host;

		FUZZ_CHECK(json_object_object_get_ex(h, "Host", &host) &&
			   !strcmp(json_object_get_string(host), a->names[i]) &&
			   json_object_object_get_ex(h, "Score", &s) &&
			   json_object_get_int(s) >= 0 &&
			   json_object_get_int(s) <= EXTENDER_MAX_SCORE, "host %zu: %s", i, text);
	}
	json_object_put(o);
	free(text);
	free(pass);
	free(reason);
	free(score);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[EXTENDER_WHY_LEN], q[32];
	struct extender_args a;
	uint64_t m;
	size_t i;
	int err;

	err = extender_args_parse((const char *)data, size, &a, why, sizeof(why));
	if (err) {
		FUZZ_CHECK(err == -EINVAL || err == -ENOMEM, "unexpected error %d", err);
		FUZZ_CHECK(err == -ENOMEM || (why[0] && memchr(why, '\0', sizeof(why))),
			   "refused without a reason");
		FUZZ_CHECK(!a.root && !a.names && !a.items, "refusal left something to free");
	} else {
		FUZZ_CHECK(a.pod_name[0] && a.pod_namespace[0], "a pod without a name");
		FUZZ_CHECK(a.nnodes <= EXTENDER_MAX_NODES, "%zu nodes", a.nnodes);
		FUZZ_CHECK(a.node_names || !a.nnodes || a.items, "a NodeList without items");
		for (i = 0; i < a.nnodes; i++)
			FUZZ_CHECK(a.names[i] && a.names[i][0] &&
				   strlen(a.names[i]) < EXTENDER_NAME_LEN, "node %zu unnamed", i);
		FUZZ_CHECK(a.cpu_milli <= 1000000000000ULL, "cpu %llu over the clamp",
			   (unsigned long long)a.cpu_milli);
		check_replies(&a, data, size);
		extender_args_free(&a);
	}
	/* The input's first bytes as one quantity: parses or not, stays under the clamp. */
	snprintf(q, sizeof(q), "%.*s", (int)(size < sizeof(q) - 1 ? size : sizeof(q) - 1),
		 (const char *)data);
	if (!extender_cpu_milli(q, &m))
		FUZZ_CHECK(m <= 1000000000000ULL, "quantity %s gives %llu", q,
			   (unsigned long long)m);
	return 0;
}
