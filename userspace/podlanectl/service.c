// SPDX-License-Identifier: GPL-2.0-only
/*
 * service.c - `podlanectl service add|del|list`: services from a JSON file or from flags,
 * validated here with the agent's own validator (service_spec.h) so a mistake is reported
 * before anything is sent, then applied by podlaned (service_add/service_del/service_list in
 * api_ops.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "podlane.h"
#include "service_spec.h"

#define BACKENDS_SHOWN	6	/* per table row; --json has them all */

static const char service_usage[] =
	"Usage: podlanectl [--socket PATH] [--json] service COMMAND ...\n"
	"\n"
	"Commands:\n"
	"  add     add a service or replace the one with the same namespace/name\n"
	"  del     delete a service\n"
	"  list    services with their frontends, backends and counters\n"
	"\n"
	"'podlanectl service COMMAND --help' for one command.\n";

static const char add_usage[] =
	"Usage: podlanectl service add --file FILE\n"
	"       podlanectl service add NAME --cluster-ip IP --port PORTSPEC [OPTIONS]\n"
	"\n"
	"Add a service, or replace the service with the same namespace/name atomically (new\n"
	"connections see the old or the new backends, never a mix; established ones keep theirs).\n"
	"A bad spec is refused with the field and the reason, and nothing changes.\n"
	"\n"
	"  -f, --file FILE                  the spec as JSON ('-' for stdin): one object, or an\n"
	"                                   array of objects added one by one\n"
	"  -n, --namespace NS               default \"default\"\n"
	"      --cluster-ip IP\n"
	"      --port [NAME=]PORT[:TARGET][/TCP|/UDP][,nodePort=N]     repeat for more ports\n"
	"      --backend IP[:PORT][,weight=N][,terminating][,local|,remote]   repeat\n"
	"      --external-ip IP             repeat for more\n"
	"      --session-affinity None|ClientIP\n"
	"      --affinity-timeout SECONDS   1-86400, default 10800\n"
	"      --external-traffic-policy Cluster|Local\n"
	"      --internal-traffic-policy Cluster|Local\n"
	"\n"
	"The JSON format is described in userspace/lib/service_spec.h; weight 0 drains a\n"
	"backend, 'terminating' keeps its connections but gives it no new ones.\n";

static const char del_usage[] =
	"Usage: podlanectl service del [--namespace NS] NAME|NAMESPACE/NAME\n"
	"\n"
	"Delete a service. Established connections keep their backend.\n";

static const char list_usage[] =
	"Usage: podlanectl [--json] service list [--namespace NS] [NAME]\n"
	"\n"
	"One row per frontend (ClusterIP, external IP, NodePort on a node address): service,\n"
	"frontend, kind, service id, active backends (local ones), the backends (ip:port, weight,\n"
	"* = on this node, and whether terminating or drained), and the per-packet flows and\n"
	"packets podlane_ct tracked at the agent's last collector pass. The node-wide LB counters\n"
	"(podlane_lbstat) follow the table.\n";

enum {
	OPT_CLUSTER_IP = 256,
	OPT_PORT,
	OPT_BACKEND,
	OPT_EXTERNAL_IP,
	OPT_AFFINITY,
	OPT_AFFINITY_TIMEOUT,
	OPT_EXT_POLICY,
	OPT_INT_POLICY,
};

static const struct option svc_opts[] = {
	{ "socket",		   required_argument, NULL, 's' },
	{ "pin-root",		   required_argument, NULL, 'p' },
	{ "json",		   no_argument,	      NULL, 'j' },
	{ "help",		   no_argument,	      NULL, 'h' },
	{ "file",		   required_argument, NULL, 'f' },
	{ "namespace",		   required_argument, NULL, 'n' },
	{ "cluster-ip",		   required_argument, NULL, OPT_CLUSTER_IP },
	{ "port",		   required_argument, NULL, OPT_PORT },
	{ "backend",		   required_argument, NULL, OPT_BACKEND },
	{ "external-ip",	   required_argument, NULL, OPT_EXTERNAL_IP },
	{ "session-affinity",	   required_argument, NULL, OPT_AFFINITY },
	{ "affinity-timeout",	   required_argument, NULL, OPT_AFFINITY_TIMEOUT },
	{ "external-traffic-policy", required_argument, NULL, OPT_EXT_POLICY },
	{ "internal-traffic-policy", required_argument, NULL, OPT_INT_POLICY },
	{ NULL }
};

static int parse_u16(const char *s, long min, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || n < min || n > 65535)
		return -1;
	*out = n;
	return end - s;
}

/* [NAME=]PORT[:TARGET][/PROTO][,nodePort=N] */
static struct json_object *port_from_flag(const char *arg, char *err, size_t errlen)
{
	struct json_object *p = json_object_new_object();
	char buf[256], *s = buf, *eq, *opt;
	long n;
	int used;

	snprintf(buf, sizeof(buf), "%s", arg);
	opt = strchr(s, ',');
	if (opt)
		*opt++ = '\0';
	eq = strchr(s, '=');
	if (eq) {
		*eq = '\0';
		json_object_object_add(p, "name", json_object_new_string(s));
		s = eq + 1;
	}
	used = parse_u16(s, 1, &n);
	if (used < 0)
		goto bad;
	json_object_object_add(p, "port", json_object_new_int(n));
	s += used;
	if (*s == ':') {
		used = parse_u16(++s, 1, &n);
		if (used < 0)
			goto bad;
		json_object_object_add(p, "targetPort", json_object_new_int(n));
		s += used;
	}
	if (*s == '/') {
		char *proto = ++s;

		for (; *s; s++)
			*s = *s >= 'a' && *s <= 'z' ? *s - 32 : *s;
		json_object_object_add(p, "protocol", json_object_new_string(proto));
	}
	if (*s)
		goto bad;
	if (opt) {
		if (strncmp(opt, "nodePort=", 9) || parse_u16(opt + 9, 1, &n) < 0 ||
		    opt[9 + parse_u16(opt + 9, 1, &n)])
			goto bad;
		json_object_object_add(p, "nodePort", json_object_new_int(n));
	}
	return p;
bad:
	snprintf(err, errlen, "--port '%s': want [NAME=]PORT[:TARGETPORT][/TCP|/UDP]"
		 "[,nodePort=N]", arg);
	json_object_put(p);
	return NULL;
}

/* IP[:PORT][,weight=N][,terminating|,active][,local|,remote] */
static struct json_object *backend_from_flag(const char *arg, char *err, size_t errlen)
{
	struct json_object *b = json_object_new_object();
	char buf[256], *opt, *colon, *save = NULL;
	long n;

	snprintf(buf, sizeof(buf), "%s", arg);
	opt = strchr(buf, ',');
	if (opt)
		*opt++ = '\0';
	colon = strchr(buf, ':');
	if (colon) {
		*colon++ = '\0';
		if (parse_u16(colon, 1, &n) < 0 || colon[parse_u16(colon, 1, &n)])
			goto bad;
		json_object_object_add(b, "port", json_object_new_int(n));
	}
	json_object_object_add(b, "ip", json_object_new_string(buf));
	for (opt = opt ? strtok_r(opt, ",", &save) : NULL; opt; opt = strtok_r(NULL, ",", &save)) {
		if (!strncmp(opt, "weight=", 7)) {
			if (parse_u16(opt + 7, 0, &n) < 0 || opt[7 + parse_u16(opt + 7, 0, &n)])
				goto bad;
			json_object_object_add(b, "weight", json_object_new_int(n));
		} else if (!strcmp(opt, "terminating") || !strcmp(opt, "active")) {
			json_object_object_add(b, "state", json_object_new_string(opt));
		} else if (!strcmp(opt, "local") || !strcmp(opt, "remote")) {
			json_object_object_add(b, "local",
					       json_object_new_boolean(!strcmp(opt, "local")));
		} else {
			goto bad;
		}
	}
	return b;
bad:
	snprintf(err, errlen, "--backend '%s': want IP[:PORT][,weight=N][,terminating]"
		 "[,local|,remote]", arg);
	json_object_put(b);
	return NULL;
}

static void array_push(struct json_object *spec, const char *key, struct json_object *v)
{
	struct json_object *arr;

	if (!json_object_object_get_ex(spec, key, &arr)) {
		arr = json_object_new_array();
		json_object_object_add(spec, key, arr);
	}
	json_object_array_add(arr, v);
}

/* Validate one spec here, then send it. */
static int add_one(const struct ctl_opts *o, struct json_object *spec, const char *source)
{
	struct api_service_add_req req = { .service = spec };
	struct api_service_add_reply r;
	struct service_spec parsed;
	char why[512], id[2 * SVC_NAME_MAX + 2];
	struct json_object *raw;
	struct api_error e;
	size_t i;
	int rc;

	if (service_spec_parse(spec, &parsed, why, sizeof(why))) {
		fprintf(stderr, "podlanectl: invalid service spec%s%s: %s\n", source ? " in " : "",
			source ? source : "", why);
		return 1;
	}
	service_spec_id(&parsed, id, sizeof(id));
	service_spec_free(&parsed);
	rc = api_service_add_call(o->socket_path, CTL_SVC_TIMEOUT_MS, &req, &r, &raw, &e);
	if (rc)
		return ctl_failed(o, PODLANE_OP_SERVICE_ADD, rc, &e);
	if (o->json) {
		printf("%s\n", json_object_to_json_string_ext(raw, JSON_C_TO_STRING_PLAIN));
	} else {
		/* An older agent answered with the whole service, frontends inside. */
		const struct api_frontend *fe = r.has_frontends ? r.frontends : r.service.frontends;
		size_t nfe = r.has_frontends ? r.n_frontends : r.service.n_frontends;

		printf("service %s %s:", id, r.changed ? "applied" : "unchanged");
		for (i = 0; i < nfe; i++)
			printf(" %s:%" PRId64 "/%s", fe[i].address, fe[i].port, fe[i].protocol);
		printf("\n");
	}
	api_service_add_reply_free(&r);
	json_object_put(raw);
	return 0;
}

static int service_add(struct ctl_opts *o, int argc, char **argv)
{
	struct json_object *spec = json_object_new_object(), *v, *file_obj = NULL;
	const char *file = NULL, *ns = NULL;
	char err[256];
	int c, rc = 0;
	size_t i;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:p:jhf:n:", svc_opts, NULL)) != -1) {
		v = NULL;
		err[0] = '\0';
		if (common_opt(c, o))
			continue;
		switch (c) {
		case 'h':
			fputs(add_usage, stdout);
			json_object_put(spec);
			return 0;
		case 'f': file = optarg; break;
		case 'n': ns = optarg; break;
		case OPT_CLUSTER_IP:
			json_object_object_add(spec, "clusterIP", json_object_new_string(optarg));
			break;
		case OPT_PORT:
			v = port_from_flag(optarg, err, sizeof(err));
			if (v)
				array_push(spec, "ports", v);
			break;
		case OPT_BACKEND:
			v = backend_from_flag(optarg, err, sizeof(err));
			if (v)
				array_push(spec, "backends", v);
			break;
		case OPT_EXTERNAL_IP:
			array_push(spec, "externalIPs", json_object_new_string(optarg));
			break;
		case OPT_AFFINITY:
			json_object_object_add(spec, "sessionAffinity",
					       json_object_new_string(optarg));
			break;
		case OPT_AFFINITY_TIMEOUT: {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (*end || end == optarg)
				snprintf(err, sizeof(err), "--affinity-timeout wants seconds, not "
					 "'%s'", optarg);
			else
				json_object_object_add(spec, "sessionAffinityTimeoutSeconds",
						       json_object_new_int64(n));
			break;
		}
		case OPT_EXT_POLICY:
			json_object_object_add(spec, "externalTrafficPolicy",
					       json_object_new_string(optarg));
			break;
		case OPT_INT_POLICY:
			json_object_object_add(spec, "internalTrafficPolicy",
					       json_object_new_string(optarg));
			break;
		case ':':
			snprintf(err, sizeof(err), "option '%s' needs an argument",
				 argv[optind - 1]);
			break;
		default:
			snprintf(err, sizeof(err), "unknown option '%s'", argv[optind - 1]);
		}
		if (err[0]) {
			json_object_put(spec);
			return usage_error("podlanectl service add", "%s", err);
		}
	}
	if (file) {
		if (optind < argc || json_object_object_length(spec)) {
			json_object_put(spec);
			return usage_error("podlanectl service add", "--file takes the whole spec: "
					   "no NAME or spec flags with it");
		}
		json_object_put(spec);
		file_obj = strcmp(file, "-") ? json_object_from_file(file) :
					       json_object_from_fd(STDIN_FILENO);
		if (!file_obj) {
			fprintf(stderr, "podlanectl: cannot read a JSON spec from '%s': %s\n", file,
				json_util_get_last_err());
			return 1;
		}
		if (!json_object_is_type(file_obj, json_type_array)) {
			rc = add_one(o, file_obj, file);
		} else {
			for (i = 0; i < json_object_array_length(file_obj) && !rc; i++)
				rc = add_one(o, json_object_array_get_idx(file_obj, i), file);
		}
		json_object_put(file_obj);
		return rc;
	}
	if (optind + 1 != argc) {
		json_object_put(spec);
		return usage_error("podlanectl service add", optind >= argc ?
				   "give --file FILE or a service NAME with flags" :
				   "one service NAME only");
	}
	json_object_object_add(spec, "name", json_object_new_string(argv[optind]));
	if (ns)
		json_object_object_add(spec, "namespace", json_object_new_string(ns));
	rc = add_one(o, spec, NULL);
	json_object_put(spec);
	return rc;
}

/* Options shared by del and list: globals, --namespace, at most one NAME. */
static int name_opts(struct ctl_opts *o, int argc, char **argv, const char *cmd,
		     const char *usage, const char **ns, const char **name)
{
	char hint[64];
	int c;

	snprintf(hint, sizeof(hint), "podlanectl service %s", cmd);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:p:jhn:", svc_opts, NULL)) != -1) {
		if (common_opt(c, o))
			continue;
		switch (c) {
		case 'n': *ns = optarg; break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return opt_error(c, hint, argv);
		}
	}
	*name = optind < argc ? argv[optind] : NULL;
	if (optind + 1 < argc)
		return usage_error(hint, "unexpected argument '%s'", argv[optind + 1]);
	return 0;
}

static int service_del(struct ctl_opts *o, int argc, char **argv)
{
	struct api_service_del_req req = {};
	struct api_service_del_reply r;
	struct json_object *raw;
	struct api_error e;
	int rc;

	rc = name_opts(o, argc, argv, "del", del_usage, &req.namespace, &req.name);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (!req.name)
		return usage_error("podlanectl service del", "which service? give its NAME");
	rc = api_service_del_call(o->socket_path, CTL_SVC_TIMEOUT_MS, &req, &r, &raw, &e);
	if (rc)
		return ctl_failed(o, PODLANE_OP_SERVICE_DEL, rc, &e);
	json_object_put(raw);
	if (!o->json)
		printf("service %s%s%s deleted\n",
		       req.namespace && !strchr(req.name, '/') ? req.namespace : "",
		       req.namespace && !strchr(req.name, '/') ? "/" : "", req.name);
	return 0;
}

/* "ip:port(wN)", '*' for local, terminating/drained spelled out; the first few only. */
static void backends_text(const struct service_spec *spec, int target_port, char *buf,
			  size_t len)
{
	size_t used = 0, i;

	buf[0] = '\0';
	if (!spec->nbackends) {
		snprintf(buf, len, "(none)");
		return;
	}
	for (i = 0; i < spec->nbackends && i < BACKENDS_SHOWN; i++) {
		const struct svc_backend *b = &spec->backends[i];
		char ip[INET_ADDRSTRLEN], tag[24];

		inet_ntop(AF_INET, &b->addr, ip, sizeof(ip));
		if (b->state == PODLANE_BACKEND_TERMINATING)
			snprintf(tag, sizeof(tag), "terminating");
		else if (!b->weight)
			snprintf(tag, sizeof(tag), "drained");
		else
			snprintf(tag, sizeof(tag), "w%u", b->weight);
		used += snprintf(buf + used, used < len ? len - used : 0, "%s%s%s:%d(%s)",
				 i ? " " : "", b->local == SVC_LOCAL_YES ? "*" : "", ip,
				 b->port ? b->port : target_port, tag);
	}
	if (spec->nbackends > BACKENDS_SHOWN && used < len)
		snprintf(buf + used, len - used, " +%u more", spec->nbackends - BACKENDS_SHOWN);
}

/* A service's counters for the service id of one of its frontends, NULL when none. */
static const struct api_service_counters *counters_of(const struct api_service *s,
						      int64_t svc_id)
{
	size_t i;

	for (i = 0; i < s->n_counters; i++)
		if (s->counters[i].svc_id == svc_id)
			return &s->counters[i];
	return NULL;
}

/* One row per frontend; spec is the service's spec, parsed. */
static void list_rows(struct table *t, const struct api_service *s,
		      const struct service_spec *spec)
{
	char name[160], fe[64], id[24], act[48], bes[512], flows[24], pkts[24];
	size_t j;

	snprintf(name, sizeof(name), "%s/%s", spec->namespace, spec->name);
	for (j = 0; j < s->n_frontends; j++) {
		const struct api_frontend *f = &s->frontends[j];
		const struct api_service_counters *c = counters_of(s, f->svc_id);
		bool node_port = !strcmp(f->kind, "NodePort");
		int target = 0;
		unsigned int k;

		for (k = 0; k < spec->nports; k++)
			if ((node_port ? spec->ports[k].node_port : spec->ports[k].port) == f->port)
				target = spec->ports[k].target_port;
		snprintf(fe, sizeof(fe), "%s:%" PRId64 "/%s", f->address, f->port, f->protocol);
		snprintf(id, sizeof(id), "%" PRId64, f->svc_id);
		snprintf(act, sizeof(act), "%" PRId64 " (%" PRId64 " local)", f->active,
			 f->local_active);
		backends_text(spec, target, bes, sizeof(bes));
		snprintf(flows, sizeof(flows), "%" PRId64, c ? c->ct_flows : 0);
		snprintf(pkts, sizeof(pkts), "%" PRId64, c ? c->ct_packets : 0);
		table_add(t, (const char *const[]){ j ? "" : name, fe, f->kind, id, act, bes,
						    flows, pkts });
	}
}

/*
 * The next page of service_list: from the reply's next_offset (and next_backends_from); an
 * agent from before byte-bounded pages has none, and pages by count only.
 */
static int services_next(const void *reply, void *req)
{
	const struct api_service_list_reply *r = reply;
	struct api_service_list_req *q = req;
	int64_t from = r->has_next_backends_from ? r->next_backends_from : 0;

	if (r->has_next_offset) {
		if (r->next_offset < q->offset ||
		    (r->next_offset == q->offset && from <= q->backend_offset))
			return -1;
		q->offset = r->next_offset;
		q->backend_offset = from;
		return 1;
	}
	if (q->name || (int64_t)r->n_services < q->limit ||
	    q->offset + (int64_t)r->n_services >= r->total)
		return 0;
	q->offset += r->n_services;
	q->backend_offset = 0;
	return 1;
}

/*
 * What service list shows: the services of every page, a service that came in pieces put
 * back together (its spec holds every backend, its frontends and counters are the first
 * piece's), and their specs parsed.
 */
struct listing {
	struct api_service *svcs;
	struct service_spec *specs;
	size_t n;
};

static void listing_free(struct listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		service_spec_free(&l->specs[i]);
	free(l->svcs);
	free(l->specs);
}

static int listing_build(const struct api_op *op, const struct ctl_pages *pages, const char *ns,
			 bool by_name, struct listing *l)
{
	struct api_service *s, *cur = NULL;
	size_t k, i, n = 0;
	char why[512];

	for (k = 0; k < pages->n; k++)
		n += ((struct api_service_list_reply *)ctl_page(op, pages, k))->n_services;
	l->svcs = calloc(n ? n : 1, sizeof(*l->svcs));
	l->specs = calloc(n ? n : 1, sizeof(*l->specs));
	if (!l->svcs || !l->specs)
		goto oom;
	for (n = 0, k = 0; k < pages->n; k++) {
		struct api_service_list_reply *r = ctl_page(op, pages, k);

		for (i = 0; i < r->n_services; i++) {
			s = &r->services[i];
			if (s->partial && s->backends_from > 0) {
				/* The rest of the service before it (the previous page's last). */
				if (!cur || service_spec_listed_append(cur->service, s->service)) {
					fprintf(stderr, "podlanectl: podlaned listed a piece of a "
						"service without its beginning\n");
					return 1;
				}
				continue;
			}
			cur = &l->svcs[n++];
			*cur = *s;
		}
	}
	for (i = 0; i < n; i++) {
		s = &l->svcs[i];
		if (service_spec_parse_listed(s->service, &l->specs[l->n], why, sizeof(why))) {
			fprintf(stderr, "podlanectl: podlaned listed a service spec this "
				"podlanectl cannot read: %s\n", why);
			return 1;
		}
		if (s->partial && l->specs[l->n].nbackends != s->backends_total) {
			fprintf(stderr, "podlanectl: service %s/%s changed while it was listed (%u "
				"of %" PRId64 " backends); list it again\n",
				l->specs[l->n].namespace, l->specs[l->n].name,
				l->specs[l->n].nbackends, s->backends_total);
			service_spec_free(&l->specs[l->n]);
			return 1;
		}
		if (ns && !by_name && strcmp(l->specs[l->n].namespace, ns)) {
			service_spec_free(&l->specs[l->n]);
			continue;
		}
		s->partial = false;	/* whole again */
		l->svcs[l->n++] = *s;
	}
	return 0;
oom:
	fprintf(stderr, "podlanectl: out of memory\n");
	return 1;
}

static int service_list(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = { "SERVICE", "FRONTEND", "KIND", "ID", "ACTIVE",
					    "BACKENDS (*=local)", "CT-FLOWS", "CT-PKTS" };
	const struct api_op *op = &api_op_service_list;
	struct api_service_list_req req = {
		.has_offset = true, .has_backend_offset = true,
		.has_limit = true, .limit = PODLANE_API_LIST_LIMIT_DEFAULT,
	};
	struct api_service_list_reply *last;
	struct ctl_pages pages = {};
	struct listing l = {};
	const char *ns = NULL;
	struct table t;
	size_t i;
	int rc;

	rc = name_opts(o, argc, argv, "list", list_usage, &ns, &req.name);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (req.name) {
		req.namespace = ns;
		req.has_limit = false;
	}
	/* Pages until everything is here: a reply must fit one API message. */
	rc = ctl_list_pages(o, op, &req, CTL_SVC_TIMEOUT_MS, services_next, &pages);
	if (!rc)
		rc = listing_build(op, &pages, ns, req.name != NULL, &l);
	if (rc)
		goto out;
	last = ctl_page(op, &pages, pages.n - 1);
	if (o->json) {
		/* The last page's figures, with every page's services. */
		struct api_service_list_reply all = *last;
		struct json_object *j;

		all.services = l.svcs;
		all.n_services = l.n;
		all.has_next_offset = all.has_next_backends_from = false;
		j = api_encode(op->reply, &all);
		ctl_print_json(j);
		json_object_put(j);
		goto out;
	}
	table_init(&t, 8, head);
	for (i = 0; i < l.n; i++)
		list_rows(&t, &l.svcs[i], &l.specs[i]);
	table_print(&t);
	table_free(&t);
	{
		size_t used = 0;
		char line[1024];

		for (i = 0; i < last->n_lbstat; i++) {
			if (!last->lbstat[i].value)
				continue;
			used += snprintf(line + used, used < sizeof(line) ? sizeof(line) - used : 0,
					 " %s=%" PRId64, last->lbstat[i].key, last->lbstat[i].value);
		}
		printf("\n%" PRId64 " services; node-wide LB counters:%s\n", last->total,
		       used ? line : " none yet");
	}
out:
	listing_free(&l);
	ctl_pages_free(op, &pages);
	return rc;
}

int cmd_service(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl service";

	if (argc < 2)
		return usage_error(hint, "'service' needs a command (add, del, list)");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(service_usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "add") || !strcmp(argv[1], "apply"))
		return service_add(o, argc - 1, argv + 1);
	if (!strcmp(argv[1], "del") || !strcmp(argv[1], "delete") || !strcmp(argv[1], "rm"))
		return service_del(o, argc - 1, argv + 1);
	if (!strcmp(argv[1], "list") || !strcmp(argv[1], "ls"))
		return service_list(o, argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return usage_error(hint, "unknown option '%s'", argv[1]);
	return usage_error(hint, "unknown service command '%s'", argv[1]);
}
