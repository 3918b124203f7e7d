/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * extender.h - the wire format of a Kubernetes scheduler extender (k8s.io/kube-scheduler/
 * extender/v1), as kube-scheduler's HTTPExtender sends and reads it: pure parsing and encoding,
 * no I/O, so that it can be fuzzed (selftests/fuzz/fuzz_extender.c). podlaned's extender
 * (api/extender.c, sched/) serves it.
 *
 * Request, for both verbs (ExtenderArgs; JSON keys are the Go field names):
 *   { "Pod": <v1.Pod>, "Nodes": <v1.NodeList> | null, "NodeNames": ["n1", ...] | null }
 *   Nodes is sent when nodeCacheCapable is false, NodeNames when it is true.
 * Filter reply (ExtenderFilterResult):
 *   { "Nodes": <v1.NodeList> | null, "NodeNames": [...] | null,
 *     "FailedNodes": {name: reason}, "FailedAndUnresolvableNodes": {name: reason},
 *     "Error": "" }   -- the node form of the request is the node form of the reply.
 * Prioritize reply (HostPriorityList): [ { "Host": name, "Score": 0..10 } ]
 * A refused request: { "Error": "why" } (with HTTP 400).
 */
#ifndef PODLANE_EXTENDER_H
#define PODLANE_EXTENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXTENDER_MAX_SCORE	10	/* extenderv1.MaxExtenderPriority */
#define EXTENDER_NAME_LEN	254	/* a DNS subdomain name, and its NUL */
#define EXTENDER_MAX_NODES	65536
#define EXTENDER_WHY_LEN	256
/*
 * Bodies podlaned takes by default (--extender-max-body): a NodeList of 5,000 full node
 * objects (~3 KB each) fits; nodeCacheCapable requests are far smaller.
 */
#define EXTENDER_DEFAULT_MAX_BODY	(16 << 20)

struct json_object;

struct extender_args {
	struct json_object	*root;		/* owns everything below */
	char			pod_namespace[EXTENDER_NAME_LEN];
	char			pod_name[EXTENDER_NAME_LEN];
	uint64_t		cpu_milli;	/* the pod's CPU request, in millicores */
	bool			node_names;	/* the NodeNames form (nodeCacheCapable) */
	size_t			nnodes;
	const char		**names;	/* each node's name, inside root */
	struct json_object	**items;	/* the NodeList's items (Nodes form), else NULL */
};

/*
 * Parse one request body (len bytes, need not be NUL-terminated). 0, or -EINVAL with why set
 * (an operator-readable reason, for the reply's Error), or -ENOMEM. On success the caller
 * frees with extender_args_free(); on failure there is nothing to free.
 */
int extender_args_parse(const char *body, size_t len, struct extender_args *a, char *why,
			size_t why_len);
void extender_args_free(struct extender_args *a);

/*
 * A Kubernetes quantity as CPU millicores ("500m", "2", "1.5", "100u", "1e3", "2k"), rounded
 * up as Kubernetes does (MilliValue). -EINVAL when it is not a quantity; values past
 * 10^12 millicores are clamped there.
 */
int extender_cpu_milli(const char *s, uint64_t *milli);

/*
 * Replies, malloc'ed JSON text (NULL on allocation failure). Filter: pass[i] says whether
 * node i passes; reason[i] is the FailedNodes reason of a node that does not. Prioritize:
 * score[i] for node i, clamped to 0..EXTENDER_MAX_SCORE.
 */
char *extender_filter_reply(const struct extender_args *a, const bool *pass,
			    const char *const *reason);
char *extender_prioritize_reply(const struct extender_args *a, const int *score);
char *extender_error_reply(const char *why);

#endif /* PODLANE_EXTENDER_H */
