// SPDX-License-Identifier: GPL-2.0-only
/*
 * service.c - `podlanectl service add|del|list`: services from a JSON file or from flags,
 * validated here with the agent's own validator (service_spec.h) so a mistake is reported
 * before anything is sent, then applied by podlaned (service_add/service_del/service_list in
 * api.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "ctl.h"
#include "podlane.h"
#include "service_spec.h"

#define LIST_PAGE	200
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

/* One request with fields; on failure say why and return the exit code. */
static int svc_call(const struct ctl_opts *o, struct json_object *req, struct json_object **reply)
{
	struct json_object *v;
	char why[256];
	int rc;

	rc = api_call(o->socket_path, req, reply, 30000, why, sizeof(why));
	if (rc < 0) {
		fprintf(stderr, "podlanectl: cannot reach podlaned at %s: %s; is it running? "
			"(--socket)\n", o->socket_path, rc == -EPROTO ? why : strerror(-rc));
		return 1;
	}
	if (!json_object_object_get_ex(*reply, "ok", &v) || !json_object_get_boolean(v)) {
		fprintf(stderr, "podlanectl: podlaned refused: %s\n",
			json_object_object_get_ex(*reply, "msg", &v) ? json_object_get_string(v) :
			"no reason given");
		json_object_put(*reply);
		*reply = NULL;
		return 1;
	}
	return 0;
}

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
	struct json_object *req, *reply, *v, *svc, *fes;
	struct service_spec parsed;
	char why[512], id[2 * SVC_NAME_MAX + 2];
	bool changed;
	size_t i;
	int rc;

	if (service_spec_parse(spec, &parsed, why, sizeof(why))) {
		fprintf(stderr, "podlanectl: invalid service spec%s%s: %s\n", source ? " in " : "",
			source ? source : "", why);
		return 1;
	}
	service_spec_id(&parsed, id, sizeof(id));
	service_spec_free(&parsed);
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string(PODLANE_OP_SERVICE_ADD));
	json_object_object_add(req, "service", json_object_get(spec));
	rc = svc_call(o, req, &reply);
	json_object_put(req);
	if (rc)
		return rc;
	changed = json_object_object_get_ex(reply, "changed", &v) && json_object_get_boolean(v);
	if (o->json) {
		json_object_object_del(reply, "ok");
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
	} else if (json_object_object_get_ex(reply, "service", &svc) &&
		   json_object_object_get_ex(svc, "frontends", &fes)) {
		printf("service %s %s:", id, changed ? "applied" : "unchanged");
		for (i = 0; i < json_object_array_length(fes); i++) {
			struct json_object *f = json_object_array_get_idx(fes, i), *a, *p, *pr;

			json_object_object_get_ex(f, "address", &a);
			json_object_object_get_ex(f, "port", &p);
			json_object_object_get_ex(f, "protocol", &pr);
			printf(" %s:%s/%s", json_object_get_string(a), json_object_get_string(p),
			       json_object_get_string(pr));
		}
		printf("\n");
	}
	json_object_put(reply);
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
	const char *ns = NULL, *name = NULL;
	struct json_object *req, *reply;
	int rc;

	rc = name_opts(o, argc, argv, "del", del_usage, &ns, &name);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (!name)
		return usage_error("podlanectl service del", "which service? give its NAME");
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string(PODLANE_OP_SERVICE_DEL));
	json_object_object_add(req, "name", json_object_new_string(name));
	if (ns)
		json_object_object_add(req, "namespace", json_object_new_string(ns));
	rc = svc_call(o, req, &reply);
	json_object_put(req);
	if (rc)
		return rc;
	json_object_put(reply);
	if (!o->json)
		printf("service %s%s%s deleted\n", ns && !strchr(name, '/') ? ns : "",
		       ns && !strchr(name, '/') ? "/" : "", name);
	return 0;
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "-";
}

static int64_t int_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* "ip:port(wN)", '*' for local, terminating/drained spelled out; the first few only. */
static void backends_text(struct json_object *spec, int target_port, char *buf, size_t len)
{
	struct json_object *bes;
	size_t used = 0, i, n;

	buf[0] = '\0';
	if (!json_object_object_get_ex(spec, "backends", &bes) ||
	    !(n = json_object_array_length(bes))) {
		snprintf(buf, len, "(none)");
		return;
	}
	for (i = 0; i < n && i < BACKENDS_SHOWN; i++) {
		struct json_object *b = json_object_array_get_idx(bes, i), *v;
		int64_t w = int_of(b, "weight");
		bool local = json_object_object_get_ex(b, "local", &v) &&
			     json_object_get_boolean(v);
		int port = json_object_object_get_ex(b, "port", &v) ? json_object_get_int(v) :
			   target_port;
		const char *state = str_of(b, "state");
		char tag[24];

		if (strcmp(state, "active"))
			snprintf(tag, sizeof(tag), "%s", state);
		else if (!w)
			snprintf(tag, sizeof(tag), "drained");
		else
			snprintf(tag, sizeof(tag), "w%" PRId64, w);
		used += snprintf(buf + used, used < len ? len - used : 0, "%s%s%s:%d(%s)",
				 i ? " " : "", local ? "*" : "", str_of(b, "ip"), port, tag);
	}
	if (n > BACKENDS_SHOWN && used < len)
		snprintf(buf + used, len - used, " +%zu more", n - BACKENDS_SHOWN);
}

static void list_rows(struct table *t, struct json_object *svcs)
{
	size_t i, j;

	for (i = 0; i < json_object_array_length(svcs); i++) {
		struct json_object *s = json_object_array_get_idx(svcs, i), *spec, *fes, *ctr,
				   *ports;
		char name[160], fe[64], id[16], act[32], bes[512], flows[24], pkts[24];

		if (!json_object_object_get_ex(s, "service", &spec) ||
		    !json_object_object_get_ex(s, "frontends", &fes))
			continue;
		json_object_object_get_ex(s, "counters", &ctr);
		json_object_object_get_ex(spec, "ports", &ports);
		snprintf(name, sizeof(name), "%s/%s", str_of(spec, "namespace"),
			 str_of(spec, "name"));
		for (j = 0; j < json_object_array_length(fes); j++) {
			struct json_object *f = json_object_array_get_idx(fes, j), *c = NULL;
			int64_t svc_id = int_of(f, "svc_id");
			size_t k;
			int target = 0;

			for (k = 0; ctr && k < json_object_array_length(ctr); k++)
				if (int_of(json_object_array_get_idx(ctr, k), "svc_id") == svc_id)
					c = json_object_array_get_idx(ctr, k);
			for (k = 0; ports && k < json_object_array_length(ports); k++) {
				struct json_object *p = json_object_array_get_idx(ports, k);

				if (strcmp(str_of(f, "kind"), "NodePort") ?
				    int_of(p, "port") == int_of(f, "port") :
				    int_of(p, "nodePort") == int_of(f, "port"))
					target = int_of(p, "targetPort");
			}
			snprintf(fe, sizeof(fe), "%s:%" PRId64 "/%s", str_of(f, "address"),
				 int_of(f, "port"), str_of(f, "protocol"));
			snprintf(id, sizeof(id), "%" PRId64, svc_id);
			snprintf(act, sizeof(act), "%" PRId64 " (%" PRId64 " local)",
				 int_of(f, "active"), int_of(f, "local_active"));
			backends_text(spec, target, bes, sizeof(bes));
			snprintf(flows, sizeof(flows), "%" PRId64, c ? int_of(c, "ct_flows") : 0);
			snprintf(pkts, sizeof(pkts), "%" PRId64, c ? int_of(c, "ct_packets") : 0);
			table_add(t, (const char *const[]){ j ? "" : name, fe, str_of(f, "kind"),
							    id, act, bes, flows, pkts });
		}
	}
}

static int service_list(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = { "SERVICE", "FRONTEND", "KIND", "ID", "ACTIVE",
					    "BACKENDS (*=local)", "CT-FLOWS", "CT-PKTS" };
	struct json_object *all = json_object_new_array(), *last = NULL, *req, *reply, *svcs;
	const char *ns = NULL, *name = NULL;
	int64_t offset = 0, total = 0;
	struct table t;
	int rc;

	rc = name_opts(o, argc, argv, "list", list_usage, &ns, &name);
	if (rc) {
		json_object_put(all);
		return rc < 0 ? 0 : rc;
	}
	/* Pages until everything is here: a reply must fit one API message. */
	for (;;) {
		size_t i, n;

		req = json_object_new_object();
		json_object_object_add(req, "op", json_object_new_string(PODLANE_OP_SERVICE_LIST));
		if (name) {
			json_object_object_add(req, "name", json_object_new_string(name));
			if (ns)
				json_object_object_add(req, "namespace", json_object_new_string(ns));
		} else {
			json_object_object_add(req, "offset", json_object_new_int64(offset));
			json_object_object_add(req, "limit", json_object_new_int(LIST_PAGE));
		}
		rc = svc_call(o, req, &reply);
		json_object_put(req);
		if (rc) {
			json_object_put(all);
			json_object_put(last);
			return rc;
		}
		total = int_of(reply, "total");
		n = 0;
		if (json_object_object_get_ex(reply, "services", &svcs)) {
			n = json_object_array_length(svcs);
			for (i = 0; i < n; i++) {
				struct json_object *s = json_object_array_get_idx(svcs, i);

				if (ns && !name && strcmp(str_of(json_object_object_get_ex(
					s, "service", &req) ? req : s, "namespace"), ns))
					continue;
				json_object_array_add(all, json_object_get(s));
			}
		}
		json_object_put(last);
		last = reply;
		offset += n;
		if (name || n < LIST_PAGE || offset >= total)
			break;
	}
	if (o->json) {
		json_object_object_del(last, "ok");
		json_object_object_add(last, "services", all);
		printf("%s\n", json_object_to_json_string_ext(last, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(last);
		return 0;
	}
	table_init(&t, 8, head);
	list_rows(&t, all);
	table_print(&t);
	table_free(&t);
	if (json_object_object_get_ex(last, "lbstat", &svcs)) {
		size_t used = 0;
		char line[1024];

		json_object_object_foreach(svcs, key, val) {
			if (!json_object_get_int64(val))
				continue;
			used += snprintf(line + used, used < sizeof(line) ? sizeof(line) - used : 0,
					 " %s=%" PRId64, key, json_object_get_int64(val));
		}
		printf("\n%" PRId64 " services; node-wide LB counters:%s\n", total,
		       used ? line : " none yet");
	}
	json_object_put(all);
	json_object_put(last);
	return 0;
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
