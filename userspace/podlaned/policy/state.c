// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy/state.c - what podlanectl (and podlane-cni) told network policy, kept under the state
 * dir and read again at start-up:
 *
 *   policies/<namespace>.<name>.json    {"id": N, "policy": <canonical NetworkPolicy>}
 *   namespaces/<name>.json              {"labels": {...}} (without the implied name label)
 *   pods/<host ifname>.json             {"namespace", "name", "labels", "ports"}: a pod of
 *                                       this node, by the host veth its endpoint has
 *
 * A namespace needs no dot-free name check: a namespace is a DNS label, so the first dot of a
 * policy's file name ends it. A change writes <file>.tmp, applies the maps, then renames it;
 * a .tmp found at start-up belongs to a change that never completed and is removed.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "api.h"
#include "core/agent.h"
#include "log.h"
#include "policy/policy_int.h"

static const char *const dirs[] = { "policies", "namespaces", "pods" };

enum { DIR_POLICY, DIR_NS, DIR_POD };

static int path_of(struct agent *a, int dir, const char *name, const char *suffix, char *out,
		   size_t len)
{
	if (snprintf(out, len, "%s/%s/%s.json%s", a->state_dir, dirs[dir], name, suffix) >=
	    (int)len)
		return -ENAMETOOLONG;
	return 0;
}

static int write_json(struct agent *a, int dir, const char *name, const char *suffix,
		      struct json_object *o, struct api_error *e)
{
	char path[PATH_MAX];
	const char *text;
	FILE *f = NULL;
	int err;

	snprintf(path, sizeof(path), "%s/%s", a->state_dir, dirs[dir]);
	if (mkdir(path, 0755) && errno != EEXIST)
		err = -errno;
	else
		err = path_of(a, dir, name, suffix, path, sizeof(path));
	text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						  JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
	if (!err && !text)
		err = -ENOMEM;
	if (!err) {
		f = fopen(path, "we");
		if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0)
			err = -errno ?: -EIO;
		if (f && fclose(f) && !err)
			err = -errno;
		if (err)
			unlink(path);
	}
	json_object_put(o);
	if (err)
		return api_fail(e, PODLANE_ERR_IO, "failed to write '%s': %s", path,
				strerror(-err));
	return 0;
}

static void commit(struct agent *a, int dir, const char *name)
{
	char tmp[PATH_MAX], path[PATH_MAX];

	if (path_of(a, dir, name, ".tmp", tmp, sizeof(tmp)) ||
	    path_of(a, dir, name, "", path, sizeof(path)))
		return;
	if (rename(tmp, path))
		log_error("failed to rename '%s' to '%s': %s", tmp, path, strerror(errno));
}

static void remove_file(struct agent *a, int dir, const char *name, const char *suffix)
{
	char path[PATH_MAX];

	if (!path_of(a, dir, name, suffix, path, sizeof(path)) && unlink(path) &&
	    errno != ENOENT)
		log_warn("failed to remove '%s': %s", path, strerror(errno));
}

/* ---- policies ---- */

static void policy_file(const char *ns, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s.%s", ns, name);
}

int record_policy_write(struct agent *a, const struct pol_policy *p, const char *suffix,
		       struct api_error *e)
{
	struct json_object *o = json_object_new_object(), *spec = policy_spec_to_json(&p->spec);
	char name[DNS_LABEL_MAX + DNS_SUBDOMAIN_MAX + 2];

	if (!o || !spec) {
		json_object_put(o);
		json_object_put(spec);
		return api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
	}
	json_object_object_add(o, "id", json_object_new_int64(p->id));
	json_object_object_add(o, "policy", spec);
	policy_file(p->spec.namespace, p->spec.name, name, sizeof(name));
	return write_json(a, DIR_POLICY, name, suffix, o, e);
}

void record_policy_commit(struct agent *a, const struct pol_policy *p)
{
	char name[DNS_LABEL_MAX + DNS_SUBDOMAIN_MAX + 2];

	policy_file(p->spec.namespace, p->spec.name, name, sizeof(name));
	commit(a, DIR_POLICY, name);
}

void record_policy_remove(struct agent *a, const char *ns, const char *pname, const char *suffix)
{
	char name[DNS_LABEL_MAX + DNS_SUBDOMAIN_MAX + 2];

	policy_file(ns, pname, name, sizeof(name));
	remove_file(a, DIR_POLICY, name, suffix);
}

/* ---- namespaces ---- */

/* The labels without the implied name label, which the API server sets by itself. */
static struct json_object *own_labels(const struct label_set *set)
{
	struct json_object *o = json_object_new_object();
	unsigned int i;

	for (i = 0; o && i < set->n; i++)
		if (strcmp(set->labels[i].key, POLICY_NS_NAME_LABEL))
			json_object_object_add(o, set->labels[i].key,
					       json_object_new_string(set->labels[i].value));
	return o;
}

int record_ns_write(struct agent *a, const struct pol_ns *ns, const char *suffix,
		   struct api_error *e)
{
	struct json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "labels", own_labels(&ns->ns.labels));
	return write_json(a, DIR_NS, ns->ns.name, suffix, o, e);
}

void record_ns_commit(struct agent *a, const char *name)
{
	commit(a, DIR_NS, name);
}

void record_ns_remove(struct agent *a, const char *name, const char *suffix)
{
	remove_file(a, DIR_NS, name, suffix);
}

/* ---- pods ---- */

static struct json_object *ports_json(const struct policy_pod *meta)
{
	struct json_object *arr = json_object_new_array(), *p;
	unsigned int i;

	for (i = 0; arr && i < meta->nports; i++) {
		p = json_object_new_object();
		json_object_object_add(p, "name", json_object_new_string(meta->ports[i].name));
		json_object_object_add(p, "protocol",
				       json_object_new_string(policy_proto_name(meta->ports[i].proto)));
		json_object_object_add(p, "port", json_object_new_int(meta->ports[i].port));
		json_object_array_add(arr, p);
	}
	return arr;
}

int record_pod_write(struct agent *a, const struct pol_pod *p, const char *suffix,
		    struct api_error *e)
{
	struct json_object *o = json_object_new_object();

	if (o) {
		json_object_object_add(o, "namespace", json_object_new_string(p->meta.namespace));
		json_object_object_add(o, "name", json_object_new_string(p->meta.name));
		json_object_object_add(o, "labels", label_set_to_json(&p->meta.labels));
		json_object_object_add(o, "ports", ports_json(&p->meta));
	}
	return write_json(a, DIR_POD, p->host_ifname, suffix, o, e);
}

void record_pod_commit(struct agent *a, const char *host_ifname)
{
	commit(a, DIR_POD, host_ifname);
}

void record_pod_remove(struct agent *a, const char *host_ifname, const char *suffix)
{
	remove_file(a, DIR_POD, host_ifname, suffix);
}

/* ---- start-up ---- */

static int port_proto(const char *s)
{
	if (!strcmp(s, "TCP"))
		return IPPROTO_TCP;
	if (!strcmp(s, "UDP"))
		return IPPROTO_UDP;
	if (!strcmp(s, "SCTP"))
		return IPPROTO_SCTP;
	return -1;
}

int pol_ports_parse(struct json_object *arr, const char *where, struct policy_pod_port **out,
		    unsigned int *n, char *err, size_t errlen)
{
	struct json_object *p, *name, *proto, *port;
	struct policy_pod_port *v;
	unsigned int i, len;
	const char *why;
	int pr;

	*out = NULL;
	*n = 0;
	if (!arr || json_object_is_type(arr, json_type_null))
		return 0;
	if (!json_object_is_type(arr, json_type_array)) {
		snprintf(err, errlen, "%s: want an array", where);
		return -EINVAL;
	}
	len = json_object_array_length(arr);
	v = calloc(len ? len : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		p = json_object_array_get_idx(arr, i);
		if (!json_object_object_get_ex(p, "name", &name) ||
		    !json_object_is_type(name, json_type_string) ||
		    !json_object_object_get_ex(p, "protocol", &proto) ||
		    !json_object_is_type(proto, json_type_string) ||
		    !json_object_object_get_ex(p, "port", &port) ||
		    !json_object_is_type(port, json_type_int)) {
			snprintf(err, errlen, "%s[%u]: want {name, protocol, port}", where, i);
			goto bad;
		}
		why = port_name_problem(json_object_get_string(name));
		pr = port_proto(json_object_get_string(proto));
		if (why || pr < 0 || json_object_get_int64(port) < 1 ||
		    json_object_get_int64(port) > 65535) {
			snprintf(err, errlen, "%s[%u]: %s", where, i,
				 why ? why : pr < 0 ? "protocol must be TCP, UDP or SCTP" :
				 "port must be 1-65535");
			goto bad;
		}
		v[i].name = strdup(json_object_get_string(name));
		if (!v[i].name) {
			*n = i;
			policy_pod_ports_free(v, i);
			return -ENOMEM;
		}
		v[i].proto = pr;
		v[i].port = json_object_get_int64(port);
	}
	*out = v;
	*n = len;
	return 0;
bad:
	policy_pod_ports_free(v, i);
	return -EINVAL;
}

void policy_pod_ports_free(struct policy_pod_port *v, unsigned int n)
{
	unsigned int i;

	for (i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

static void load_policy(struct agent *a, const char *path, struct json_object *o,
			void (*cb)(struct agent *a, struct policy_spec *spec, __u32 id))
{
	struct json_object *id, *spec;
	struct policy_spec p;
	char why[512];

	if (!json_object_object_get_ex(o, "id", &id) || !json_object_is_type(id, json_type_int) ||
	    json_object_get_int64(id) < 1 || json_object_get_int64(id) > UINT32_MAX - 1 ||
	    !json_object_object_get_ex(o, "policy", &spec)) {
		log_error("failed to load policy '%s': want {\"id\": N, \"policy\": {...}}", path);
		return;
	}
	if (policy_spec_parse(spec, &p, why, sizeof(why))) {
		log_error("failed to load policy '%s': %s", path, why);
		return;
	}
	cb(a, &p, json_object_get_int64(id));
}

static void load_ns(struct agent *a, const char *path, const char *name, struct json_object *o,
		    void (*cb)(struct agent *a, const char *name, struct label_set *labels))
{
	struct label_set labels;
	struct json_object *l = NULL;
	char why[512];

	if (dns_label_problem(name)) {
		log_error("failed to load namespace '%s': not a namespace name", path);
		return;
	}
	memset(&labels, 0, sizeof(labels));
	if (json_object_object_get_ex(o, "labels", &l) &&
	    policy_labels_parse(l, "labels", &labels, why, sizeof(why))) {
		log_error("failed to load namespace '%s': %s", path, why);
		return;
	}
	cb(a, name, &labels);
}

static void load_pod(struct agent *a, const char *path, const char *host_ifname,
		     struct json_object *o,
		     void (*cb)(struct agent *a, const char *host_ifname, struct policy_pod *meta))
{
	struct json_object *ns, *name, *l = NULL, *ports = NULL;
	struct policy_pod meta = {};
	char why[512];
	int err;

	if (!json_object_object_get_ex(o, "namespace", &ns) ||
	    !json_object_is_type(ns, json_type_string) ||
	    dns_label_problem(json_object_get_string(ns)) ||
	    !json_object_object_get_ex(o, "name", &name) ||
	    !json_object_is_type(name, json_type_string) ||
	    dns_subdomain_problem(json_object_get_string(name))) {
		log_error("failed to load pod '%s': want a namespace and a name", path);
		return;
	}
	json_object_object_get_ex(o, "ports", &ports);
	err = json_object_object_get_ex(o, "labels", &l) ?
	      policy_labels_parse(l, "labels", &meta.labels, why, sizeof(why)) : 0;
	if (!err)
		err = pol_ports_parse(ports, "ports", &meta.ports, &meta.nports, why, sizeof(why));
	meta.namespace = strdup(json_object_get_string(ns));
	meta.name = strdup(json_object_get_string(name));
	if (err || !meta.namespace || !meta.name) {
		log_error("failed to load pod '%s': %s", path, err ? why : "out of memory");
		policy_pod_free(&meta);
		return;
	}
	cb(a, host_ifname, &meta);
}

void record_load(struct agent *a,
		void (*policy)(struct agent *a, struct policy_spec *spec, __u32 id),
		void (*ns)(struct agent *a, const char *name, struct label_set *labels),
		void (*pod)(struct agent *a, const char *host_ifname, struct policy_pod *meta))
{
	char dir[PATH_MAX], path[PATH_MAX + 256], name[256];
	struct json_object *o;
	struct dirent *de;
	unsigned int i;
	size_t n;
	DIR *d;

	for (i = 0; i < 3; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", a->state_dir, dirs[i]);
		d = opendir(dir);
		if (!d) {
			if (errno != ENOENT)
				log_error("failed to open '%s': %s", dir, strerror(errno));
			continue;
		}
		while ((de = readdir(d))) {
			n = strlen(de->d_name);
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (n > 9 && !strcmp(de->d_name + n - 9, ".json.tmp")) {
				unlink(path);
				continue;
			}
			if (n < 6 || n - 5 >= sizeof(name) || strcmp(de->d_name + n - 5, ".json"))
				continue;
			memcpy(name, de->d_name, n - 5);
			name[n - 5] = '\0';
			o = json_object_from_file(path);
			if (!o || !json_object_is_type(o, json_type_object)) {
				log_error("failed to read '%s': %s", path,
					  o ? "not a JSON object" : json_util_get_last_err());
				json_object_put(o);
				continue;
			}
			if (i == DIR_POLICY)
				load_policy(a, path, o, policy);
			else if (i == DIR_NS)
				load_ns(a, path, name, o, ns);
			else if (n - 5 < PODLANE_IFNAME_LEN)
				load_pod(a, path, name, o, pod);
			json_object_put(o);
		}
		closedir(d);
	}
}
