// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy.c - `podlanectl policy add|del|list`, `podlanectl pod label|ports|list` and
 * `podlanectl namespace label|list`: Kubernetes NetworkPolicy on a node without a control
 * plane (api_ops.h: policy_add, ..., namespace_list). A policy file is read and checked here
 * with the agent's own parser (policy_spec.h), so a mistake is reported with its field before
 * anything is sent; labels follow `kubectl label` (KEY=VALUE sets, KEY- removes).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "labels.h"
#include "policy_spec.h"
#include "yaml_json.h"

static const char policy_usage[] =
	"Usage: podlanectl [--socket PATH] policy COMMAND ...\n"
	"\n"
	"Kubernetes NetworkPolicy (networking.k8s.io/v1) on this node:\n"
	"  add -f FILE        add policies from a YAML or JSON file ('-' for stdin): one\n"
	"                     policy, a '---' stream or a List; all or nothing; one with the\n"
	"                     namespace/name of a policy in place replaces it\n"
	"  del NS/NAME...     delete policies\n"
	"  list [NS/NAME]     policies: id, name, types, pods selected on this node, rules,\n"
	"                     podlane_policy entries; the map's use against its size\n"
	"\n"
	"Options: -o json (or --json) prints what the agent answered.\n";

static const char pod_usage[] =
	"Usage: podlanectl [--socket PATH] pod COMMAND ...\n"
	"\n"
	"The pods network policy selects (this node's come from CNI ADD with K8S_POD_NAMESPACE,\n"
	"K8S_POD_NAME and args.cni.labels):\n"
	"  label NS/NAME KEY=VALUE... KEY-...   set or remove labels of a pod on this node\n"
	"  ports NS/NAME [NAME=PROTO/PORT...]   replace its named ports (none: clear them)\n"
	"  list                                 pods: address, identity, labels, isolation\n"
	"\n"
	"Options: -o json (or --json) prints what the agent answered.\n";

static const char ns_usage[] =
	"Usage: podlanectl [--socket PATH] namespace COMMAND ...\n"
	"\n"
	"  label NAME KEY=VALUE... KEY-...   set or remove a namespace's labels\n"
	"                                    (kubernetes.io/metadata.name is always its name)\n"
	"  list                              namespaces: labels, pods, policies\n"
	"\n"
	"Options: -o json (or --json) prints what the agent answered.\n";

/* Policy changes rewrite maps and files: as long as service changes may take. */
#define CTL_POLICY_TIMEOUT_MS	CTL_SVC_TIMEOUT_MS

/*
 * The options of these commands: the global ones, -o json, -f FILE (add), --overwrite (label,
 * kubectl's, always so here). Leaves the positional arguments in argv[optind..].
 */
static int cmd_opts(int argc, char **argv, struct ctl_opts *o, const char *hint,
		    const char *usage, const char **file)
{
	static const struct option opts[] = {
		{ "socket",	required_argument, NULL, 's' },
		{ "pin-root",	required_argument, NULL, 'p' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ "output",	required_argument, NULL, 'o' },
		{ "file",	required_argument, NULL, 'f' },
		{ "overwrite",	no_argument,	   NULL, 'O' },
		{ NULL }
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, file ? ":s:p:jho:f:" : ":s:p:jho:", opts, NULL)) !=
	       -1) {
		if (common_opt(c, o))
			continue;
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			return -1;
		case 'o':
			if (strcmp(optarg, "json"))
				return usage_error(hint, "-o takes 'json' (the default is a table), "
						   "not '%s'", optarg);
			o->json = true;
			break;
		case 'f':
			if (!file)
				return usage_error(hint, "unknown option '%s'", argv[optind - 1]);
			*file = optarg;
			break;
		case 'O':
			break;
		default:
			return opt_error(c, hint, argv);
		}
	}
	return 0;
}

/* ---- policy add ---- */

/* The whole file, at most TEXT_JSON_MAX_BYTES: malloc'ed, NULL after saying why. */
static char *read_all(const char *file, size_t *len)
{
	FILE *f = strcmp(file, "-") ? fopen(file, "re") : stdin;
	size_t cap = 65536, n = 0, got;
	char *buf = NULL, *grown;

	if (!f) {
		fprintf(stderr, "podlanectl: cannot open '%s': %s\n", file, strerror(errno));
		return NULL;
	}
	for (;;) {
		grown = realloc(buf, cap + 1);
		if (!grown) {
			fprintf(stderr, "podlanectl: out of memory\n");
			goto fail;
		}
		buf = grown;
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n > TEXT_JSON_MAX_BYTES) {
			fprintf(stderr, "podlanectl: '%s' is larger than %d bytes\n", file,
				TEXT_JSON_MAX_BYTES);
			goto fail;
		}
		if (n < cap) {
			if (ferror(f)) {
				fprintf(stderr, "podlanectl: cannot read '%s': %s\n", file,
					strerror(errno));
				goto fail;
			}
			break;
		}
		cap *= 2;
	}
	buf[n] = '\0';
	*len = n;
	if (f != stdin)
		fclose(f);
	return buf;
fail:
	free(buf);
	if (f != stdin)
		fclose(f);
	return NULL;
}

static int policy_add(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl policy add", *file = NULL;
	struct api_policy_add_req req = {};
	struct api_policy_add_reply r;
	struct policy_set set = {};
	struct json_object *raw;
	struct api_error e;
	char why[1024], *text;
	unsigned int i;
	size_t len;
	int rc = cmd_opts(argc, argv, o, hint, policy_usage, &file);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (!file)
		return usage_error(hint, "give the policies with -f FILE ('-' for stdin)");
	if (optind < argc)
		return usage_error(hint, "unexpected argument '%s'", argv[optind]);
	text = read_all(file, &len);
	if (!text)
		return 1;
	/* Checked here with the agent's parser: a mistake is reported before anything is sent. */
	rc = policy_set_parse_text(text, len, &set, why, sizeof(why));
	free(text);
	if (rc) {
		fprintf(stderr, "podlanectl: invalid NetworkPolicy in %s: %s\n",
			strcmp(file, "-") ? file : "stdin", why);
		return 1;
	}
	req.policies = json_object_new_array();
	for (i = 0; req.policies && i < set.n; i++)
		json_object_array_add(req.policies, policy_spec_to_json(&set.items[i]));
	policy_set_free(&set);
	if (!req.policies) {
		fprintf(stderr, "podlanectl: out of memory\n");
		return 1;
	}
	rc = api_policy_add_call(o->socket_path, CTL_POLICY_TIMEOUT_MS, &req, &r, &raw, &e);
	json_object_put(req.policies);
	if (rc)
		return ctl_failed(o, PODLANE_OP_POLICY_ADD, rc, &e);
	if (o->json)
		ctl_print_json(raw);
	else
		for (i = 0; i < r.n_policies; i++)
			printf("policy %s %s (id %" PRId64 ")\n", r.policies[i].name,
			       r.policies[i].result, r.policies[i].id);
	api_policy_add_reply_free(&r);
	json_object_put(raw);
	return 0;
}

static int policy_del(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl policy del";
	struct api_policy_del_req req;
	struct api_policy_del_reply r;
	struct json_object *raw;
	struct api_error e;
	int rc = cmd_opts(argc, argv, o, hint, policy_usage, NULL), i, failed = 0;

	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind >= argc)
		return usage_error(hint, "which policy? give NAMESPACE/NAME");
	for (i = optind; i < argc; i++) {
		req.name = argv[i];
		rc = api_policy_del_call(o->socket_path, CTL_POLICY_TIMEOUT_MS, &req, &r, &raw, &e);
		if (rc) {
			failed = ctl_failed(o, PODLANE_OP_POLICY_DEL, rc, &e);
			continue;
		}
		if (o->json)
			ctl_print_json(raw);
		else
			printf("policy %s deleted (id %" PRId64 ")\n", argv[i], r.id);
		json_object_put(raw);
	}
	return failed;
}

/* ---- listings ---- */

/*
 * The next page of a listing whose request and reply carry offset/next_offset as these
 * structs do: 1 (req set), 0 after the last, -1 when it would not advance.
 */
#define NEXT_PAGE(fn, req_t, reply_t)						\
	static int fn(const void *reply, void *req)					\
	{										\
		const reply_t *r = reply;						\
		req_t *q = req;								\
											\
		if (!r->has_next_offset)						\
			return 0;							\
		if (r->next_offset <= q->offset)					\
			return -1;							\
		q->has_offset = true;							\
		q->offset = r->next_offset;						\
		return 1;								\
	}

NEXT_PAGE(policies_next, struct api_policy_list_req, struct api_policy_list_reply)
NEXT_PAGE(pods_next, struct api_pod_list_req, struct api_pod_list_reply)
NEXT_PAGE(nss_next, struct api_namespace_list_req, struct api_namespace_list_reply)

static int policy_list(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = { "ID", "POLICY", "TYPES", "PODS", "INGRESS",
					    "EGRESS", "ENTRIES" };
	const char *hint = "podlanectl policy list";
	const struct api_op *op = &api_op_policy_list;
	struct api_policy_list_req req = { .has_offset = true };
	struct api_policy_list_reply r = {}, *page;
	struct ctl_pages pages;
	struct table t;
	size_t i, k;
	int rc = cmd_opts(argc, argv, o, hint, policy_usage, NULL);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind + 1 < argc)
		return usage_error(hint, "unexpected argument '%s'", argv[optind + 1]);
	if (optind < argc) {
		req.name = argv[optind];
		req.has_offset = false;
	}
	rc = ctl_list_pages(o, op, &req, CTL_TIMEOUT_MS, policies_next, &pages);
	if (rc)
		goto out;
	for (k = 0; k < pages.n; k++)
		r.n_policies += ((struct api_policy_list_reply *)ctl_page(op, &pages, k))->n_policies;
	r.policies = calloc(r.n_policies ? r.n_policies : 1, sizeof(*r.policies));
	if (!r.policies) {
		fprintf(stderr, "podlanectl: out of memory\n");
		rc = 1;
		goto out;
	}
	for (r.n_policies = 0, k = 0; k < pages.n; k++) {
		page = ctl_page(op, &pages, k);
		if (page->n_policies)
			memcpy(&r.policies[r.n_policies], page->policies,
			       page->n_policies * sizeof(*page->policies));
		r.n_policies += page->n_policies;
		r.total = page->total;
		r.capacity = page->capacity;
	}
	if (o->json) {
		struct json_object *j = api_encode(op->reply, &r);

		ctl_print_json(j);
		json_object_put(j);
		goto out;
	}
	table_init(&t, 7, head);
	for (i = 0; i < r.n_policies; i++) {
		const struct api_policy *p = &r.policies[i];
		char id[24], pods[24], in[24], eg[24], ent[24];

		snprintf(id, sizeof(id), "%" PRId64, p->id);
		snprintf(pods, sizeof(pods), "%" PRId64, p->pods);
		snprintf(in, sizeof(in), "%" PRId64, p->ingress_rules);
		snprintf(eg, sizeof(eg), "%" PRId64, p->egress_rules);
		snprintf(ent, sizeof(ent), "%" PRId64, p->entries);
		table_add(&t, (const char *const[]){ id, p->name, p->types, pods, in, eg, ent });
	}
	table_print(&t);
	table_free(&t);
	printf("podlane_policy: %" PRId64 " of %" PRId64 " entries, %" PRId64 " rule sets, %"
	       PRId64 " identities, revision %" PRId64 "; changes refused for room: %" PRId64
	       ", pod directions denied for want of room: %" PRId64 "\n", r.capacity.entries,
	       r.capacity.max_entries, r.capacity.rule_sets, r.capacity.identities,
	       r.capacity.revision, r.capacity.refused, r.capacity.degraded);
out:
	free(r.policies);
	ctl_pages_free(op, &pages);
	return rc;
}

/* "k=v,k2=v2" into buf (cut with "..." when long). */
static void labels_text(const struct api_label *l, size_t n, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < n && o < len; i++)
		o += snprintf(buf + o, len - o, "%s%s=%s", i ? "," : "", l[i].key, l[i].value);
	if (o >= len && len > 4)
		strcpy(buf + len - 4, "...");
	if (!n)
		snprintf(buf, len, "-");
}

static void pods_table(const struct api_pod *pods, size_t n)
{
	static const char *const head[] = { "POD", "IP", "NODE", "IDENTITY", "ISOLATION",
					    "SETS", "LABELS", "PORTS" };
	char name[320], id[24], iso[48], sets[48], labels[512], ports[256];
	struct table t;
	size_t i, k, o;

	table_init(&t, 8, head);
	for (i = 0; i < n; i++) {
		const struct api_pod *p = &pods[i];

		snprintf(name, sizeof(name), "%s/%s", p->namespace, p->name);
		snprintf(id, sizeof(id), "%" PRId64, p->identity);
		snprintf(iso, sizeof(iso), "%s%s", p->isolation, p->degraded ? " (degraded)" : "");
		snprintf(sets, sizeof(sets), "%" PRId64 "/%" PRId64, p->ingress_set, p->egress_set);
		labels_text(p->labels, p->n_labels, labels, sizeof(labels));
		ports[0] = '\0';
		for (k = 0, o = 0; k < p->n_ports && o < sizeof(ports); k++)
			o += snprintf(ports + o, sizeof(ports) - o, "%s%s=%s/%" PRId64, k ? "," : "",
				      p->ports[k].name, p->ports[k].protocol, p->ports[k].port);
		table_add(&t, (const char *const[]){ name, p->ip, p->local ? "this" : "other",
			  id, p->local ? iso : "-", p->local ? sets : "-", labels,
			  ports[0] ? ports : "-" });
	}
	table_print(&t);
	table_free(&t);
}

static int pod_list(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl pod list";
	const struct api_op *op = &api_op_pod_list;
	struct api_pod_list_req req = { .has_offset = true };
	struct api_pod_list_reply r = {}, *page;
	struct ctl_pages pages;
	size_t k;
	int rc = cmd_opts(argc, argv, o, hint, pod_usage, NULL);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind < argc)
		return usage_error(hint, "unexpected argument '%s'", argv[optind]);
	rc = ctl_list_pages(o, op, &req, CTL_TIMEOUT_MS, pods_next, &pages);
	if (rc)
		goto out;
	for (k = 0; k < pages.n; k++)
		r.n_pods += ((struct api_pod_list_reply *)ctl_page(op, &pages, k))->n_pods;
	r.pods = calloc(r.n_pods ? r.n_pods : 1, sizeof(*r.pods));
	if (!r.pods) {
		fprintf(stderr, "podlanectl: out of memory\n");
		rc = 1;
		goto out;
	}
	for (r.n_pods = 0, k = 0; k < pages.n; k++) {
		page = ctl_page(op, &pages, k);
		if (page->n_pods)
			memcpy(&r.pods[r.n_pods], page->pods, page->n_pods * sizeof(*page->pods));
		r.n_pods += page->n_pods;
		r.total = page->total;
	}
	if (o->json) {
		struct json_object *j = api_encode(op->reply, &r);

		ctl_print_json(j);
		json_object_put(j);
	} else {
		pods_table(r.pods, r.n_pods);
	}
out:
	free(r.pods);
	ctl_pages_free(op, &pages);
	return rc;
}

/* ---- labels: KEY=VALUE sets, KEY- removes (kubectl label) ---- */

/* argv's label arguments as api_labels (pointing into argv): 0, or the usage error. */
static int label_args(char **args, int n, const char *hint, struct api_label **out)
{
	struct api_label *l = calloc(n ? n : 1, sizeof(*l));
	char *eq;
	size_t len;
	int i;

	*out = l;
	if (!l) {
		fprintf(stderr, "podlanectl: out of memory\n");
		return 1;
	}
	for (i = 0; i < n; i++) {
		eq = strchr(args[i], '=');
		len = strlen(args[i]);
		if (eq) {
			*eq = '\0';
			l[i] = (struct api_label){ .key = args[i], .value = eq + 1 };
		} else if (len > 1 && args[i][len - 1] == '-') {
			args[i][len - 1] = '\0';
			l[i] = (struct api_label){ .key = args[i], .value = NULL };
		} else {
			free(l);
			*out = NULL;
			return usage_error(hint, "'%s' is not KEY=VALUE (set) or KEY- (remove)",
					   args[i]);
		}
	}
	return 0;
}

static int pod_label(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl pod label";
	struct api_pod_label_req req = {};
	struct api_pod_label_reply r;
	struct json_object *raw;
	struct api_error e;
	int rc = cmd_opts(argc, argv, o, hint, pod_usage, NULL);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (argc - optind < 2)
		return usage_error(hint, "want NAMESPACE/NAME and at least one KEY=VALUE or KEY-");
	req.pod = argv[optind];
	req.n_labels = argc - optind - 1;
	rc = label_args(argv + optind + 1, req.n_labels, hint, &req.labels);
	if (rc)
		return rc;
	rc = api_pod_label_call(o->socket_path, CTL_POLICY_TIMEOUT_MS, &req, &r, &raw, &e);
	free(req.labels);
	if (rc)
		return ctl_failed(o, PODLANE_OP_POD_LABEL, rc, &e);
	if (o->json)
		ctl_print_json(raw);
	else
		pods_table(r.pods, r.n_pods);
	api_pod_label_reply_free(&r);
	json_object_put(raw);
	return 0;
}

/* NAME=PROTO/PORT (or NAME=PORT/PROTO, or NAME=PORT: TCP). */
static int port_arg(char *arg, const char *hint, struct api_named_port *p)
{
	char *eq = strchr(arg, '='), *slash, *a, *b, *end;
	long port;

	if (!eq)
		goto bad;
	*eq = '\0';
	p->name = arg;
	a = eq + 1;
	slash = strchr(a, '/');
	b = NULL;
	if (slash) {
		*slash = '\0';
		b = slash + 1;
	}
	/* Which half is the number? */
	if (b && (*a < '0' || *a > '9')) {
		char *t = a;

		a = b;
		b = t;
	}
	errno = 0;
	port = strtol(a, &end, 10);
	if (errno || end == a || *end || port < 1 || port > 65535)
		goto bad;
	p->port = port;
	p->protocol = "TCP";
	if (b) {
		for (end = b; *end; end++)
			*end = *end >= 'a' && *end <= 'z' ? *end - 32 : *end;
		p->protocol = b;
	}
	return 0;
bad:
	return usage_error(hint, "'%s' is not NAME=PROTO/PORT (e.g. http=TCP/80)", arg);
}

static int pod_ports(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl pod ports";
	struct api_pod_ports_req req = {};
	struct api_pod_ports_reply r;
	struct json_object *raw;
	struct api_error e;
	size_t i;
	int rc = cmd_opts(argc, argv, o, hint, pod_usage, NULL);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (argc - optind < 1)
		return usage_error(hint, "want NAMESPACE/NAME and its ports (none clears them)");
	req.pod = argv[optind];
	req.n_ports = argc - optind - 1;
	req.ports = calloc(req.n_ports ? req.n_ports : 1, sizeof(*req.ports));
	if (!req.ports) {
		fprintf(stderr, "podlanectl: out of memory\n");
		return 1;
	}
	for (i = 0; i < req.n_ports; i++) {
		rc = port_arg(argv[optind + 1 + i], hint, &req.ports[i]);
		if (rc) {
			free(req.ports);
			return rc;
		}
	}
	rc = api_pod_ports_call(o->socket_path, CTL_POLICY_TIMEOUT_MS, &req, &r, &raw, &e);
	free(req.ports);
	if (rc)
		return ctl_failed(o, PODLANE_OP_POD_PORTS, rc, &e);
	if (o->json)
		ctl_print_json(raw);
	else
		pods_table(r.pods, r.n_pods);
	api_pod_ports_reply_free(&r);
	json_object_put(raw);
	return 0;
}

/* ---- namespaces ---- */

static void nss_table(const struct api_namespace *v, size_t n)
{
	static const char *const head[] = { "NAMESPACE", "PODS", "POLICIES", "LABELS" };
	char pods[24], pols[24], labels[512];
	struct table t;
	size_t i;

	table_init(&t, 4, head);
	for (i = 0; i < n; i++) {
		snprintf(pods, sizeof(pods), "%" PRId64, v[i].pods);
		snprintf(pols, sizeof(pols), "%" PRId64, v[i].policies);
		labels_text(v[i].labels, v[i].n_labels, labels, sizeof(labels));
		table_add(&t, (const char *const[]){ v[i].name, pods, pols, labels });
	}
	table_print(&t);
	table_free(&t);
}

static int ns_label(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl namespace label";
	struct api_namespace_label_req req = {};
	struct api_namespace_label_reply r;
	struct json_object *raw;
	struct api_error e;
	int rc = cmd_opts(argc, argv, o, hint, ns_usage, NULL);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (argc - optind < 2)
		return usage_error(hint, "want NAME and at least one KEY=VALUE or KEY-");
	req.name = argv[optind];
	req.n_labels = argc - optind - 1;
	rc = label_args(argv + optind + 1, req.n_labels, hint, &req.labels);
	if (rc)
		return rc;
	rc = api_namespace_label_call(o->socket_path, CTL_POLICY_TIMEOUT_MS, &req, &r, &raw, &e);
	free(req.labels);
	if (rc)
		return ctl_failed(o, PODLANE_OP_NS_LABEL, rc, &e);
	if (o->json)
		ctl_print_json(raw);
	else
		nss_table(&r.namespace, 1);
	api_namespace_label_reply_free(&r);
	json_object_put(raw);
	return 0;
}

static int ns_list(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl namespace list";
	const struct api_op *op = &api_op_namespace_list;
	struct api_namespace_list_req req = { .has_offset = true };
	struct api_namespace_list_reply r = {}, *page;
	struct ctl_pages pages;
	size_t k;
	int rc = cmd_opts(argc, argv, o, hint, ns_usage, NULL);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind < argc)
		return usage_error(hint, "unexpected argument '%s'", argv[optind]);
	rc = ctl_list_pages(o, op, &req, CTL_TIMEOUT_MS, nss_next, &pages);
	if (rc)
		goto out;
	for (k = 0; k < pages.n; k++)
		r.n_namespaces +=
			((struct api_namespace_list_reply *)ctl_page(op, &pages, k))->n_namespaces;
	r.namespaces = calloc(r.n_namespaces ? r.n_namespaces : 1, sizeof(*r.namespaces));
	if (!r.namespaces) {
		fprintf(stderr, "podlanectl: out of memory\n");
		rc = 1;
		goto out;
	}
	for (r.n_namespaces = 0, k = 0; k < pages.n; k++) {
		page = ctl_page(op, &pages, k);
		if (page->n_namespaces)
			memcpy(&r.namespaces[r.n_namespaces], page->namespaces,
			       page->n_namespaces * sizeof(*page->namespaces));
		r.n_namespaces += page->n_namespaces;
		r.total = page->total;
	}
	if (o->json) {
		struct json_object *j = api_encode(op->reply, &r);

		ctl_print_json(j);
		json_object_put(j);
	} else {
		nss_table(r.namespaces, r.n_namespaces);
	}
out:
	free(r.namespaces);
	ctl_pages_free(op, &pages);
	return rc;
}

/* ---- dispatch ---- */

static int help_or_missing(int argc, char **argv, const char *hint, const char *usage,
			   const char *subs)
{
	if (argc < 2)
		return usage_error(hint, "needs a subcommand (%s)", subs);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, stdout);
		return 0;
	}
	return -1;
}

int cmd_policy(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl policy";
	int rc = help_or_missing(argc, argv, hint, policy_usage, "add, del, list");

	if (rc >= 0)
		return rc;
	if (!strcmp(argv[1], "add") || !strcmp(argv[1], "apply"))
		return policy_add(o, argc - 1, argv + 1);
	if (!strcmp(argv[1], "del") || !strcmp(argv[1], "delete") || !strcmp(argv[1], "rm"))
		return policy_del(o, argc - 1, argv + 1);
	if (!strcmp(argv[1], "list") || !strcmp(argv[1], "ls") || !strcmp(argv[1], "get"))
		return policy_list(o, argc - 1, argv + 1);
	return usage_error(hint, "unknown policy command '%s'", argv[1]);
}

int cmd_pod(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl pod";
	int rc = help_or_missing(argc, argv, hint, pod_usage, "label, ports, list");

	if (rc >= 0)
		return rc;
	if (!strcmp(argv[1], "label"))
		return pod_label(o, argc - 1, argv + 1);
	if (!strcmp(argv[1], "ports"))
		return pod_ports(o, argc - 1, argv + 1);
	if (!strcmp(argv[1], "list") || !strcmp(argv[1], "ls"))
		return pod_list(o, argc - 1, argv + 1);
	return usage_error(hint, "unknown pod command '%s'", argv[1]);
}

int cmd_namespace(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl namespace";
	int rc = help_or_missing(argc, argv, hint, ns_usage, "label, list");

	if (rc >= 0)
		return rc;
	if (!strcmp(argv[1], "label"))
		return ns_label(o, argc - 1, argv + 1);
	if (!strcmp(argv[1], "list") || !strcmp(argv[1], "ls"))
		return ns_list(o, argc - 1, argv + 1);
	return usage_error(hint, "unknown namespace command '%s'", argv[1]);
}
