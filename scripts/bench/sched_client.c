// SPDX-License-Identifier: GPL-2.0-only
/*
 * scripts/bench/sched_client.c - bench-sched.sh's scheduler loop: places one pod at a time on
 * one of the benchmark's nodes, the way kube-scheduler would, under one of three policies:
 *
 *   extender  POST <url>/filter, then POST <url>/prioritize with the nodes that passed, each
 *             body an ExtenderArgs exactly as kube-scheduler marshals it (Go field names,
 *             the v1 Pod, and either "Nodes" as a v1 NodeList with "NodeNames": null, or
 *             "NodeNames" with "Nodes": null as with nodeCacheCapable), over one kept-alive
 *             connection; the pod goes to the best score, ties to the node with the fewest
 *             pods, then at random (kube-scheduler picks among equal scores at random). An
 *             extender that fails (HTTP error, timeout, "Error" set) is skipped as with
 *             `ignorable: true`: the pod is placed by the spread policy and the failure counted.
 *   spread    what the default scheduler does for pods with equal requests (NodeResourcesFit
 *             LeastAllocated, BalancedAllocation, PodTopologySpread all reduce to "fewest pods
 *             here"): the node with the fewest pods, ties at random.
 *   random    a node at random.
 * Every pod requests the same resources (cpu 100m, memory 64Mi), so the requests say nothing.
 *
 * Usage: sched_client -p POLICY -n node1,node2,node3 [-u http://HOST:PORT/PREFIX] [-s SEED]
 *                     [-f nodes|names|both] [-t TIMEOUT_MS]
 * Reads commands on stdin, answers each with one line on stdout:
 *   place POD    -> "NODE FILTER_US PRIORITIZE_US SCORES" (SCORES like node1=3,node2=10, or
 *                   "-"), or "- FILTER_US PRIORITIZE_US REASONS" when the filter left no node
 *                   (the pod is not placed; ask again later)
 *   gone POD     -> "ok": the pod ended, its node has one pod fewer
 *   stats        -> "calls N failures M"
 * -f both alternates the two node forms from one call pair to the next.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#define MAX_NODES	16
#define MAX_PODS	4096

enum policy { POL_EXTENDER, POL_SPREAD, POL_RANDOM };

static const char *node_name[MAX_NODES];
static int nnodes;
static int node_pods[MAX_NODES];
static struct {
	char name[64];
	int node;
} pods[MAX_PODS];
static int npods;
static uint64_t rng_state = 88172645463325252ull;
static long calls, failures;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int node_index(const char *name)
{
	for (int i = 0; i < nnodes; i++)
		if (strcmp(node_name[i], name) == 0)
			return i;
	return -1;
}

/* The best of the candidates (mask): highest score, then fewest pods, then at random. */
static int pick(const int *score, const int *ok)
{
	int best = -1, ties = 0;

	for (int i = 0; i < nnodes; i++) {
		if (!ok[i])
			continue;
		if (best >= 0 && (score[i] < score[best] ||
				  (score[i] == score[best] && node_pods[i] > node_pods[best])))
			continue;
		if (best >= 0 && score[i] == score[best] && node_pods[i] == node_pods[best]) {
			/* reservoir sampling among equals, as kube-scheduler's selectHost */
			ties++;
			if (rng() % (uint64_t)ties == 0)
				best = i;
			continue;
		}
		best = i;
		ties = 1;
	}
	return best;
}

/* ---- kube-scheduler's wire format ---------------------------------------------------- */

static json_object *pod_json(const char *name)
{
	json_object *pod = json_object_new_object(), *meta = json_object_new_object();
	json_object *spec = json_object_new_object(), *ctrs = json_object_new_array();
	json_object *c = json_object_new_object(), *res = json_object_new_object();
	json_object *req = json_object_new_object(), *labels = json_object_new_object();
	json_object *status = json_object_new_object();
	char uid[96];

	snprintf(uid, sizeof(uid), "00000000-0000-4000-8000-%s", name);
	json_object_object_add(labels, "app", json_object_new_string("bench-load"));
	json_object_object_add(meta, "name", json_object_new_string(name));
	json_object_object_add(meta, "namespace", json_object_new_string("bench"));
	json_object_object_add(meta, "uid", json_object_new_string(uid));
	json_object_object_add(meta, "labels", labels);
	json_object_object_add(req, "cpu", json_object_new_string("100m"));
	json_object_object_add(req, "memory", json_object_new_string("64Mi"));
	json_object_object_add(res, "requests", req);
	json_object_object_add(c, "name", json_object_new_string("load"));
	json_object_object_add(c, "image", json_object_new_string("busybox:stable"));
	json_object_object_add(c, "resources", res);
	json_object_array_add(ctrs, c);
	json_object_object_add(spec, "containers", ctrs);
	json_object_object_add(spec, "schedulerName", json_object_new_string("default-scheduler"));
	json_object_object_add(spec, "priority", json_object_new_int(0));
	json_object_object_add(status, "phase", json_object_new_string("Pending"));
	json_object_object_add(pod, "metadata", meta);
	json_object_object_add(pod, "spec", spec);
	json_object_object_add(pod, "status", status);
	return pod;
}

static json_object *quantities(const char *cpu, const char *mem, const char *pods)
{
	json_object *q = json_object_new_object();

	json_object_object_add(q, "cpu", json_object_new_string(cpu));
	json_object_object_add(q, "memory", json_object_new_string(mem));
	json_object_object_add(q, "pods", json_object_new_string(pods));
	return q;
}

static json_object *node_json(int i)
{
	json_object *n = json_object_new_object(), *meta = json_object_new_object();
	json_object *labels = json_object_new_object(), *status = json_object_new_object();
	json_object *conds = json_object_new_array(), *ready = json_object_new_object();

	json_object_object_add(labels, "kubernetes.io/hostname",
			       json_object_new_string(node_name[i]));
	json_object_object_add(labels, "kubernetes.io/os", json_object_new_string("linux"));
	json_object_object_add(meta, "name", json_object_new_string(node_name[i]));
	json_object_object_add(meta, "labels", labels);
	json_object_object_add(ready, "type", json_object_new_string("Ready"));
	json_object_object_add(ready, "status", json_object_new_string("True"));
	json_object_array_add(conds, ready);
	json_object_object_add(status, "capacity", quantities("2", "8Gi", "110"));
	json_object_object_add(status, "allocatable", quantities("2", "8Gi", "110"));
	json_object_object_add(status, "conditions", conds);
	json_object_object_add(n, "metadata", meta);
	json_object_object_add(n, "spec", json_object_new_object());
	json_object_object_add(n, "status", status);
	return n;
}

/* ExtenderArgs for the candidate nodes, in one of the two forms. */
static char *extender_args(const char *pod, const int *ok, int names)
{
	json_object *args = json_object_new_object(), *list;
	char *s;

	json_object_object_add(args, "Pod", pod_json(pod));
	if (names) {
		list = json_object_new_array();
		for (int i = 0; i < nnodes; i++)
			if (ok[i])
				json_object_array_add(list, json_object_new_string(node_name[i]));
		json_object_object_add(args, "Nodes", NULL);
		json_object_object_add(args, "NodeNames", list);
	} else {
		json_object *nl = json_object_new_object(), *items = json_object_new_array();

		for (int i = 0; i < nnodes; i++)
			if (ok[i])
				json_object_array_add(items, node_json(i));
		json_object_object_add(nl, "metadata", json_object_new_object());
		json_object_object_add(nl, "items", items);
		json_object_object_add(args, "Nodes", nl);
		json_object_object_add(args, "NodeNames", NULL);
	}
	s = strdup(json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN));
	json_object_put(args);
	return s;
}

/* ---- HTTP ------------------------------------------------------------------------------ */

struct buf {
	char *p;
	size_t n;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t len = size * nmemb;
	char *p;

	if (b->n + len > (1 << 20))
		return 0;
	p = realloc(b->p, b->n + len + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, data, len);
	b->n += len;
	p[b->n] = 0;
	b->p = p;
	return len;
}

static CURL *curl;
static struct curl_slist *headers;
static const char *url;
static long timeout_ms = 5000;

/* POST body to url/verb; the parsed answer, or NULL (and *us the time spent either way). */
static json_object *post(const char *verb, const char *body, int64_t *us)
{
	char full[1024];
	struct buf b = { 0 };
	json_object *j = NULL;
	long code = 0;
	int64_t t0;
	CURLcode rc;

	snprintf(full, sizeof(full), "%s/%s", url, verb);
	curl_easy_setopt(curl, CURLOPT_URL, full);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	t0 = now_us();
	rc = curl_easy_perform(curl);
	*us = now_us() - t0;
	calls++;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK || code != 200 || !b.p)
		fprintf(stderr, "sched_client: %s: %s, HTTP %ld%s%s\n", verb,
			curl_easy_strerror(rc), code, b.p ? ": " : "", b.p ? b.p : "");
	else
		j = json_tokener_parse(b.p);
	free(b.p);
	return j;
}

/* A non-empty "Error" in a filter answer: the extender failed this call. */
static int has_error(json_object *res)
{
	json_object *e;

	return json_object_object_get_ex(res, "Error", &e) && json_object_get_string_len(e) > 0;
}

/* ---- one placement ---------------------------------------------------------------------- */

static int place_extender(const char *pod, int names, int64_t *fus, int64_t *pus, char *note,
			  size_t notesz)
{
	int ok[MAX_NODES], score[MAX_NODES] = { 0 }, any = 0, best;
	json_object *res, *v, *items;
	char *body;
	size_t off = 0;

	for (int i = 0; i < nnodes; i++)
		ok[i] = 1;
	*fus = *pus = 0;
	body = extender_args(pod, ok, names);
	res = post("filter", body, fus);
	free(body);
	if (!res || has_error(res)) {
		if (res)
			fprintf(stderr, "sched_client: filter: Error %s\n",
				json_object_get_string(json_object_object_get(res, "Error")));
		json_object_put(res);
		failures++;
		snprintf(note, notesz, "extender-failed");
		return pick(score, ok);	/* ignorable: as if no extender */
	}
	for (int i = 0; i < nnodes; i++)
		ok[i] = 0;
	if (json_object_object_get_ex(res, "NodeNames", &v) && json_object_is_type(v, json_type_array)) {
		for (size_t k = 0; k < json_object_array_length(v); k++) {
			int i = node_index(json_object_get_string(json_object_array_get_idx(v, k)));

			if (i >= 0)
				ok[i] = any = 1;
		}
	} else if (json_object_object_get_ex(res, "Nodes", &v) &&
		   json_object_object_get_ex(v, "items", &items) &&
		   json_object_is_type(items, json_type_array)) {
		for (size_t k = 0; k < json_object_array_length(items); k++) {
			json_object *meta, *name;
			int i;

			if (!json_object_object_get_ex(json_object_array_get_idx(items, k), "metadata",
						       &meta) ||
			    !json_object_object_get_ex(meta, "name", &name))
				continue;
			i = node_index(json_object_get_string(name));
			if (i >= 0)
				ok[i] = any = 1;
		}
	}
	if (!any) {
		json_object *failed;

		off += snprintf(note, notesz, "filtered:");
		if (json_object_object_get_ex(res, "FailedNodes", &failed) &&
		    json_object_is_type(failed, json_type_object)) {
			json_object_object_foreach(failed, k, val) {
				if (off < notesz)
					off += snprintf(note + off, notesz - off, " %s=%s;", k,
							json_object_get_string(val));
			}
		}
		for (char *c = note; *c; c++)
			if (*c == '\n')
				*c = ' ';
		json_object_put(res);
		return -1;
	}
	json_object_put(res);

	body = extender_args(pod, ok, names);
	res = post("prioritize", body, pus);
	free(body);
	if (!res || !json_object_is_type(res, json_type_array)) {
		json_object_put(res);
		failures++;
		snprintf(note, notesz, "extender-failed");
		return pick((int[MAX_NODES]){ 0 }, ok);
	}
	for (size_t k = 0; k < json_object_array_length(res); k++) {
		json_object *e = json_object_array_get_idx(res, k), *h, *s;
		int i;

		if (!json_object_object_get_ex(e, "Host", &h) ||
		    !json_object_object_get_ex(e, "Score", &s))
			continue;
		i = node_index(json_object_get_string(h));
		if (i >= 0)
			score[i] = json_object_get_int(s);
	}
	json_object_put(res);
	for (int i = 0; i < nnodes; i++)
		if (ok[i] && off < notesz)
			off += snprintf(note + off, notesz - off, "%s%s=%d", off ? "," : "",
					node_name[i], score[i]);
	best = pick(score, ok);
	return best;
}

int main(int argc, char **argv)
{
	enum policy pol = POL_SPREAD;
	char line[512], *nodes = NULL, *tok, *save;
	const char *form = "both";
	unsigned long long seed = 1;
	long placements = 0;
	int opt;

	while ((opt = getopt(argc, argv, "p:n:u:s:f:t:")) != -1) {
		switch (opt) {
		case 'p':
			pol = strcmp(optarg, "extender") == 0 ? POL_EXTENDER :
			      strcmp(optarg, "random") == 0   ? POL_RANDOM :
			      strcmp(optarg, "spread") == 0   ? POL_SPREAD : -1;
			if ((int)pol < 0) {
				fprintf(stderr, "sched_client: unknown policy '%s'\n", optarg);
				return 2;
			}
			break;
		case 'n': nodes = optarg; break;
		case 'u': url = optarg; break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'f': form = optarg; break;
		case 't': timeout_ms = atol(optarg); break;
		default:
			fprintf(stderr, "usage: sched_client -p extender|spread|random -n NODES "
				"[-u URL] [-s SEED] [-f nodes|names|both] [-t TIMEOUT_MS]\n");
			return 2;
		}
	}
	if (!nodes || (pol == POL_EXTENDER && !url)) {
		fprintf(stderr, "sched_client: -n is needed, and -u with -p extender\n");
		return 2;
	}
	for (tok = strtok_r(nodes, ",", &save); tok && nnodes < MAX_NODES;
	     tok = strtok_r(NULL, ",", &save))
		node_name[nnodes++] = tok;
	rng_state ^= seed * 0x9E3779B97F4A7C15ull;
	if (!rng_state)
		rng_state = 1;
	if (pol == POL_EXTENDER) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		curl = curl_easy_init();
		headers = curl_slist_append(NULL, "Content-Type: application/json");
		/* Go's http client sends no Expect: 100-continue for small bodies */
		headers = curl_slist_append(headers, "Expect:");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[16], pod[64], note[1024] = "-";
		int64_t fus = 0, pus = 0;
		int ok[MAX_NODES], zero[MAX_NODES] = { 0 }, i, n;

		n = sscanf(line, "%15s %63s", cmd, pod);
		if (n >= 1 && strcmp(cmd, "stats") == 0) {
			printf("calls %ld failures %ld\n", calls, failures);
			continue;
		}
		if (n != 2) {
			printf("error bad command\n");
			continue;
		}
		if (strcmp(cmd, "gone") == 0) {
			for (i = 0; i < npods; i++)
				if (strcmp(pods[i].name, pod) == 0)
					break;
			if (i < npods) {
				node_pods[pods[i].node]--;
				pods[i] = pods[--npods];
			}
			printf("ok\n");
			continue;
		}
		if (strcmp(cmd, "place") != 0) {
			printf("error bad command\n");
			continue;
		}
		for (i = 0; i < nnodes; i++)
			ok[i] = 1;
		if (pol == POL_RANDOM) {
			i = (int)(rng() % (uint64_t)nnodes);
		} else if (pol == POL_SPREAD) {
			i = pick(zero, ok);
		} else {
			int names = strcmp(form, "names") == 0 ||
				    (strcmp(form, "both") == 0 && placements % 2);

			i = place_extender(pod, names, &fus, &pus, note, sizeof(note));
		}
		placements++;
		if (i < 0) {
			printf("- %lld %lld %s\n", (long long)fus, (long long)pus, note);
			continue;
		}
		if (npods < MAX_PODS) {
			snprintf(pods[npods].name, sizeof(pods[npods].name), "%s", pod);
			pods[npods++].node = i;
		}
		node_pods[i]++;
		printf("%s %lld %lld %s\n", node_name[i], (long long)fus, (long long)pus, note);
	}
	if (curl) {
		curl_easy_cleanup(curl);
		curl_slist_free_all(headers);
		curl_global_cleanup();
	}
	return 0;
}
