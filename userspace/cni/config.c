// SPDX-License-Identifier: GPL-2.0-only
/*
 * config.c - decode and validate podlane-cni's invocation: the environment and the network
 * config on stdin (and the GC lists and VERSION request in it). Everything the spec or podlane
 * rejects is caught here, before the agent is asked to do anything, so a bad config never
 * leaves half a pod behind. Pure functions of their arguments: selftests/fuzz/fuzz_cni calls
 * them as main.c does, without environment, exec or socket.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "cni.h"

static const char *const supported_versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0" };

static const char *const command_names[] = {
	[CMD_ADD] = "ADD", [CMD_DEL] = "DEL", [CMD_CHECK] = "CHECK",
	[CMD_GC] = "GC", [CMD_STATUS] = "STATUS", [CMD_VERSION] = "VERSION",
};

int cni_fail(struct cni_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Parse "X.Y.Z"; returns 0 when all three parts are plain numbers. */
static int version_parse(const char *v, long part[3])
{
	char *end;
	int i;

	for (i = 0; i < 3; i++) {
		if (!isdigit((unsigned char)*v))
			return -1;
		part[i] = strtol(v, &end, 10);
		if (i < 2 && *end != '.')
			return -1;
		v = end + 1;
	}
	return *end ? -1 : 0;
}

/* <0, 0, >0 like strcmp; unparsable versions sort first. */
int cni_version_cmp(const char *a, const char *b)
{
	long pa[3], pb[3];
	int i;

	if (version_parse(a, pa))
		return version_parse(b, pb) ? 0 : -1;
	if (version_parse(b, pb))
		return 1;
	for (i = 0; i < 3; i++)
		if (pa[i] != pb[i])
			return pa[i] < pb[i] ? -1 : 1;
	return 0;
}

bool cni_version_supported(const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(supported_versions) / sizeof(supported_versions[0]); i++)
		if (!strcmp(v, supported_versions[i]))
			return true;
	return false;
}

struct json_object *cni_supported_versions(void)
{
	struct json_object *arr = json_object_new_array();
	size_t i;

	for (i = 0; i < sizeof(supported_versions) / sizeof(supported_versions[0]); i++)
		json_object_array_add(arr, json_object_new_string(supported_versions[i]));
	return arr;
}

/* The spec's rule for network names and container ids: [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
int validate_cni_name(const char *what, const char *value, size_t max, int code,
		      struct cni_error *err)
{
	const char *p;

	if (!*value)
		return cni_fail(err, code, "%s is empty", what);
	if (strlen(value) >= max)
		return cni_fail(err, code, "%s '%.64s...' is longer than %zu characters", what,
				value, max - 1);
	if (!isalnum((unsigned char)value[0]))
		return cni_fail(err, code, "%s '%s' must start with a letter or digit", what,
				value);
	for (p = value; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
			return cni_fail(err, code, "%s '%s' has invalid character '%c' "
					"(allowed: a-z A-Z 0-9 _ . -)", what, value, *p);
	return 0;
}

int validate_ifname(const char *ifname, struct cni_error *err)
{
	const char *p;

	if (strlen(ifname) >= PODLANE_IFNAME_LEN)
		return cni_fail(err, 4, "CNI_IFNAME '%s' is longer than %d characters", ifname,
				PODLANE_IFNAME_LEN - 1);
	if (!strcmp(ifname, ".") || !strcmp(ifname, ".."))
		return cni_fail(err, 4, "CNI_IFNAME '%s' is not a valid interface name", ifname);
	/* '%' would have the kernel pick the name itself ("eth%d" becomes eth0). */
	for (p = ifname; *p; p++)
		if (*p == '/' || *p == ':' || *p == '%' || isspace((unsigned char)*p))
			return cni_fail(err, 4, "CNI_IFNAME '%s' must not contain '/', ':', '%%' "
					"or whitespace", ifname);
	return 0;
}

/* name's value in envp ("NAME=value" strings, NULL-terminated), "" when it is not there. */
static const char *env_get(char *const envp[], const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	return "";
}

void cni_args_from_env(struct cni_args *args, char *const envp[])
{
	args->command = env_get(envp, "CNI_COMMAND");
	args->container_id = env_get(envp, "CNI_CONTAINERID");
	args->netns = env_get(envp, "CNI_NETNS");
	args->ifname = env_get(envp, "CNI_IFNAME");
	args->args = env_get(envp, "CNI_ARGS");
	args->path = env_get(envp, "CNI_PATH");
}

int cni_command_parse(struct cni_args *args, struct cni_error *err)
{
	size_t i;

	if (!*args->command)
		return cni_fail(err, 4, "required environment variables missing: CNI_COMMAND");
	for (i = 0; i < sizeof(command_names) / sizeof(command_names[0]); i++)
		if (!strcmp(args->command, command_names[i]))
			break;
	if (i == sizeof(command_names) / sizeof(command_names[0]))
		return cni_fail(err, 4, "CNI_COMMAND '%s' is not one of ADD, DEL, CHECK, GC, "
				"STATUS, VERSION", args->command);
	args->cmd = i;
	return 0;
}

/* Which environment variables each command needs; the spec's table. */
int cni_env_check(const struct cni_args *args, struct cni_error *err)
{
	bool needs_ns = args->cmd == CMD_ADD || args->cmd == CMD_CHECK;
	bool needs_id = needs_ns || args->cmd == CMD_DEL;
	char missing[128] = "";

	if (needs_id && !*args->container_id)
		strcat(missing, ", CNI_CONTAINERID");
	if (needs_ns && !*args->netns)
		strcat(missing, ", CNI_NETNS");
	if (needs_id && !*args->ifname)
		strcat(missing, ", CNI_IFNAME");
	if (needs_id && !*args->path)
		strcat(missing, ", CNI_PATH");
	if (*missing)
		return cni_fail(err, 4, "required environment variables missing: %s", missing + 2);
	if (!needs_id)
		return 0;
	if (validate_cni_name("CNI_CONTAINERID", args->container_id, PODLANE_CONTAINER_ID_LEN, 4,
			      err))
		return -1;
	if (validate_ifname(args->ifname, err))
		return -1;
	if (*args->netns && strlen(args->netns) >= PODLANE_NETNS_LEN)
		return cni_fail(err, 4, "CNI_NETNS '%s' is longer than %d characters", args->netns,
				PODLANE_NETNS_LEN - 1);
	return 0;
}

/* "a.b.c.d/n" with n in 1..30: a pool needs room for at least two addresses. */
static int validate_cidr(const char *cidr, struct cni_error *err)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(cidr, '/');
	struct in_addr in;
	char *end;
	long len;

	if (!slash || slash - cidr >= (long)sizeof(addr))
		return cni_fail(err, 7, "podCIDR '%s' is not an IPv4 CIDR like 10.244.0.0/24",
				cidr);
	memcpy(addr, cidr, slash - cidr);
	addr[slash - cidr] = '\0';
	if (inet_pton(AF_INET, addr, &in) != 1)
		return cni_fail(err, 7, "podCIDR '%s' is not an IPv4 CIDR like 10.244.0.0/24",
				cidr);
	len = strtol(slash + 1, &end, 10);
	if (!isdigit((unsigned char)slash[1]) || *end || len < 1 || len > 30)
		return cni_fail(err, 7, "podCIDR '%s' has a prefix length outside 1..30", cidr);
	return 0;
}

bool cni_json_string(struct json_object *v)
{
	return json_object_is_type(v, json_type_string) &&
	       strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v);
}

/* Optional string member: absent is fine, anything but a string is a config error. */
static int opt_string(struct json_object *obj, const char *key, const char **out,
		      struct cni_error *err)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!cni_json_string(v))
		return cni_fail(err, 7, "network config field '%s' must be a string (without NUL "
				"characters)", key);
	*out = json_object_get_string(v);
	return 0;
}

/* An object member of obj (absent or null: NULL, 0); anything else is a config error. */
static int opt_object(struct json_object *obj, const char *key, const char *where,
		      struct json_object **out, struct cni_error *err)
{
	struct json_object *v;

	*out = NULL;
	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return cni_fail(err, 7, "network config field '%s' must be an object", where);
	*out = v;
	return 0;
}

/*
 * args.cni.labels, the CNI convention for a pod's labels: [{"key": "k", "value": "v"}, ...],
 * each key and value as Kubernetes takes them (labels.h), each key once. Checked here, so a
 * bad label fails ADD before the agent is asked to create anything.
 */
static int labels_parse(struct netconf *conf, struct cni_error *err)
{
	struct json_object *args, *cni, *list, *l, *k, *v;
	const char *why, *key;
	size_t i, j, n;

	if (opt_object(conf->root, "args", "args", &args, err) ||
	    opt_object(args, "cni", "args.cni", &cni, err))
		return -1;
	if (!cni || !json_object_object_get_ex(cni, "labels", &list) ||
	    json_object_is_type(list, json_type_null))
		return 0;
	if (!json_object_is_type(list, json_type_array))
		return cni_fail(err, 7, "network config field 'args.cni.labels' must be an array of "
				"{\"key\": ..., \"value\": ...}");
	n = json_object_array_length(list);
	if (n > LABEL_SET_MAX)
		return cni_fail(err, 7, "args.cni.labels: %zu labels, at most %d", n,
				LABEL_SET_MAX);
	for (i = 0; i < n; i++) {
		l = json_object_array_get_idx(list, i);
		if (!json_object_is_type(l, json_type_object) ||
		    !json_object_object_get_ex(l, "key", &k) || !cni_json_string(k) ||
		    !json_object_object_get_ex(l, "value", &v) || !cni_json_string(v))
			return cni_fail(err, 7, "args.cni.labels[%zu]: want {\"key\": \"...\", "
					"\"value\": \"...\"} with string key and value", i);
		key = json_object_get_string(k);
		why = label_key_problem(key);
		if (why)
			return cni_fail(err, 7, "args.cni.labels[%zu].key '%.300s': %s", i, key, why);
		why = label_value_problem(json_object_get_string(v));
		if (why)
			return cni_fail(err, 7, "args.cni.labels[%zu].value '%.300s': %s", i,
					json_object_get_string(v), why);
		for (j = 0; j < i; j++) {
			json_object_object_get_ex(json_object_array_get_idx(list, j), "key", &k);
			if (!strcmp(json_object_get_string(k), key))
				return cni_fail(err, 7, "args.cni.labels[%zu].key '%s': given twice "
						"(also args.cni.labels[%zu])", i, key, j);
		}
	}
	conf->labels = list;
	return 0;
}

/* One KEY=VALUE of CNI_ARGS into out (size len): 1 when found, 0 when not, -1 on error. */
static int cni_arg(const char *cni_args, const char *key, char *out, size_t len,
		   struct cni_error *err)
{
	size_t klen = strlen(key), vlen;
	const char *p = cni_args, *end, *val;
	int found = 0;

	while (p && *p) {
		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		if ((size_t)(end - p) > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			val = p + klen + 1;
			vlen = end - val;
			if (vlen >= len)
				return cni_fail(err, 4, "CNI_ARGS %s is longer than %zu characters",
						key, len - 1);
			if (found && (strlen(out) != vlen || strncmp(out, val, vlen)))
				return cni_fail(err, 4, "CNI_ARGS names %s twice, with different "
						"values", key);
			memcpy(out, val, vlen);
			out[vlen] = '\0';
			found = 1;
		}
		p = *end ? end + 1 : NULL;
	}
	return found;
}

int cni_k8s_pod(const char *cni_args, struct k8s_pod *pod, struct cni_error *err)
{
	const char *why;
	int ns, name;

	memset(pod, 0, sizeof(*pod));
	ns = cni_arg(cni_args, "K8S_POD_NAMESPACE", pod->namespace, sizeof(pod->namespace), err);
	if (ns < 0)
		goto refused;
	name = cni_arg(cni_args, "K8S_POD_NAME", pod->name, sizeof(pod->name), err);
	if (name < 0)
		goto refused;
	/* K8S_POD_NAME alone is podman's container name (for its dnsname plugin), not a
	 * Kubernetes pod: wired, selected by no policy. A namespace needs its pod's name. */
	if (!ns) {
		memset(pod, 0, sizeof(*pod));
		return 0;
	}
	if (!name) {
		cni_fail(err, 4, "CNI_ARGS has K8S_POD_NAMESPACE but not K8S_POD_NAME: a "
			 "Kubernetes pod needs both");
		goto refused;
	}
	why = dns_label_problem(pod->namespace);
	if (why) {
		cni_fail(err, 4, "CNI_ARGS K8S_POD_NAMESPACE '%s': %s", pod->namespace, why);
		goto refused;
	}
	why = dns_subdomain_problem(pod->name);
	if (why) {
		cni_fail(err, 4, "CNI_ARGS K8S_POD_NAME '%s': %s", pod->name, why);
		goto refused;
	}
	return 0;

refused:
	/* A refused pod keeps no name: a half-read one (K8S_POD_NAMESPACE given twice) did. */
	memset(pod, 0, sizeof(*pod));
	return -1;
}

int cni_pod_req(const struct netconf *conf, const struct k8s_pod *pod, struct api_add_req *req,
		struct cni_error *err)
{
	struct json_object *l, *v;
	size_t i, n;

	req->pod_namespace = req->pod_name = NULL;
	req->has_labels = false;
	req->labels = NULL;
	req->n_labels = 0;
	if (!pod->namespace[0])
		return 0;
	req->pod_namespace = pod->namespace;
	req->pod_name = pod->name;
	n = conf->labels ? json_object_array_length(conf->labels) : 0;
	req->labels = calloc(n ? n : 1, sizeof(*req->labels));
	if (!req->labels)
		return cni_fail(err, PODLANE_ERR_IO, "out of memory");
	req->has_labels = true;
	for (i = 0; i < n; i++) {
		l = json_object_array_get_idx(conf->labels, i);
		json_object_object_get_ex(l, "key", &v);
		req->labels[i].key = json_object_get_string(v);
		json_object_object_get_ex(l, "value", &v);
		req->labels[i].value = json_object_get_string(v);
	}
	req->n_labels = n;
	return 0;
}

int netconf_parse(struct netconf *conf, const struct cni_args *args, struct cni_error *err)
{
	struct json_tokener *tok;
	struct json_object *v, *ipam;
	const char *type;
	size_t i;

	memset(conf, 0, sizeof(*conf));
	if (!args->stdin_len)
		return cni_fail(err, 6, "no network config on stdin");
	tok = json_tokener_new();
	if (!tok)
		return cni_fail(err, 5, "out of memory");
	conf->root = json_tokener_parse_ex(tok, args->stdin_data, args->stdin_len);
	if (!conf->root) {
		enum json_tokener_error jerr = json_tokener_get_error(tok);

		json_tokener_free(tok);
		return cni_fail(err, 6, "failed to decode network config on stdin: %s",
				jerr == json_tokener_continue ? "unexpected end of input" :
				json_tokener_error_desc(jerr));
	}
	/* Whitespace may follow the object; anything else means the input is not one object. */
	for (i = tok->char_offset; i < args->stdin_len; i++)
		if (!isspace((unsigned char)args->stdin_data[i]))
			break;
	if (i < args->stdin_len) {
		json_tokener_free(tok);
		return cni_fail(err, 6, "failed to decode network config on stdin: trailing data "
				"after the JSON value");
	}
	json_tokener_free(tok);
	if (!json_object_is_type(conf->root, json_type_object))
		return cni_fail(err, 6, "network config on stdin is not a JSON object");

	/* The version decides how everything else is read, so it is checked first. */
	if (!json_object_object_get_ex(conf->root, "cniVersion", &v))
		return cni_fail(err, 7, "network config has no 'cniVersion'");
	if (!cni_json_string(v))
		return cni_fail(err, 7, "network config field 'cniVersion' must be a string");
	conf->cni_version = json_object_get_string(v);
	if (!cni_version_supported(conf->cni_version)) {
		cni_fail(err, 1, "incompatible CNI versions: config is '%s', podlane supports "
			 "0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0", conf->cni_version);
		return -1;
	}

	if (opt_string(conf->root, "name", &conf->name, err))
		return -1;
	if (!conf->name || !*conf->name)
		return cni_fail(err, 7, "network config has no 'name'");
	if (validate_cni_name("network name", conf->name, PODLANE_NETWORK_LEN, 7, err))
		return -1;
	if (opt_string(conf->root, "type", &type, err))
		return -1;
	if (!type || !*type)
		return cni_fail(err, 7, "network config has no 'type'");

	if (opt_string(conf->root, "agentSocket", &conf->agent_socket, err))
		return -1;
	if (!conf->agent_socket)
		conf->agent_socket = PODLANE_SOCKET;
	if (conf->agent_socket[0] != '/' ||
	    strlen(conf->agent_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return cni_fail(err, 7, "agentSocket '%s' must be an absolute path shorter "
				"than %zu", conf->agent_socket,
				sizeof(((struct sockaddr_un *)0)->sun_path));

	if (json_object_object_get_ex(conf->root, "mtu", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		int64_t mtu = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || mtu < 68 || mtu > 65535)
			return cni_fail(err, 7, "mtu '%s' must be an integer between 68 and 65535",
					json_object_to_json_string(v));
		conf->mtu = mtu;
	}

	if (json_object_object_get_ex(conf->root, "defaultRoute", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_boolean))
			return cni_fail(err, 7, "network config field 'defaultRoute' must be true "
					"or false");
		conf->has_default_route = true;
		conf->default_route = json_object_get_boolean(v);
	}

	if (json_object_object_get_ex(conf->root, "ipam", &ipam) &&
	    !json_object_is_type(ipam, json_type_null)) {
		if (!json_object_is_type(ipam, json_type_object))
			return cni_fail(err, 7, "network config field 'ipam' must be an object");
		if (opt_string(ipam, "type", &conf->ipam_type, err))
			return -1;
		if (conf->ipam_type && (!*conf->ipam_type || strchr(conf->ipam_type, '/') ||
					!strcmp(conf->ipam_type, "..")))
			return cni_fail(err, 7, "ipam type '%s' is not a plugin name",
					conf->ipam_type);
	}

	if (opt_string(conf->root, "podCIDR", &conf->pod_cidr, err))
		return -1;
	if (conf->pod_cidr && validate_cidr(conf->pod_cidr, err))
		return -1;
	if (!conf->pod_cidr && !conf->ipam_type)
		return cni_fail(err, 7, "network config needs 'podCIDR' (or an 'ipam' with a "
				"'type')");

	if (json_object_object_get_ex(conf->root, "dns", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_object))
			return cni_fail(err, 7, "network config field 'dns' must be an object");
		conf->dns = v;
	}
	if (json_object_object_get_ex(conf->root, "prevResult", &v) &&
	    json_object_is_type(v, json_type_object))
		conf->prev_result = v;
	return labels_parse(conf, err);
}

void netconf_free(struct netconf *conf)
{
	json_object_put(conf->root);
	conf->root = NULL;
}

/* How many {containerID, ifname} entries one GC list of the config holds. */
static int gc_count(const struct netconf *conf, const char *key, size_t *n,
		    struct cni_error *err)
{
	struct json_object *list;

	if (!json_object_object_get_ex(conf->root, key, &list) ||
	    json_object_is_type(list, json_type_null))
		return 0;
	if (!json_object_is_type(list, json_type_array))
		return cni_fail(err, 7, "'%s' must be an array of {containerID, ifname}", key);
	*n += json_object_array_length(list);
	return 0;
}

/* Append the {containerID, ifname} entries of one GC list to req's attachments. */
static int gc_collect(const struct netconf *conf, const char *key, struct api_gc_req *req,
		      struct cni_error *err)
{
	struct json_object *list, *entry, *id, *ifname;
	size_t i;

	if (!json_object_object_get_ex(conf->root, key, &list) ||
	    json_object_is_type(list, json_type_null))
		return 0;
	for (i = 0; i < json_object_array_length(list); i++) {
		entry = json_object_array_get_idx(list, i);
		if (!json_object_object_get_ex(entry, "containerID", &id) ||
		    !cni_json_string(id) ||
		    !json_object_object_get_ex(entry, "ifname", &ifname) ||
		    !cni_json_string(ifname))
			return cni_fail(err, 7, "'%s' entry %zu needs string 'containerID' and "
					"'ifname' (without NUL characters)", key, i);
		req->attachments[req->n_attachments].container_id = json_object_get_string(id);
		req->attachments[req->n_attachments++].ifname = json_object_get_string(ifname);
	}
	return 0;
}

int cni_gc_attachments(const struct netconf *conf, struct api_gc_req *req,
		       struct cni_error *err)
{
	/* 1.1.0 says valid-attachments; early runtimes sent attachments. Keep the union. */
	static const char *const lists[] = { "cni.dev/valid-attachments", "cni.dev/attachments" };
	size_t i, n = 0;

	req->has_attachments = true;
	req->n_attachments = 0;
	req->attachments = NULL;
	for (i = 0; i < 2; i++)
		if (gc_count(conf, lists[i], &n, err))
			return -1;
	req->attachments = calloc(n ? n : 1, sizeof(*req->attachments));
	if (!req->attachments)
		return cni_fail(err, PODLANE_ERR_IO, "out of memory");
	for (i = 0; i < 2; i++) {
		if (gc_collect(conf, lists[i], req, err)) {
			free(req->attachments);
			req->attachments = NULL;
			req->n_attachments = 0;
			return -1;
		}
	}
	return 0;
}

struct json_object *cni_version_reply(const char *stdin_data, size_t stdin_len)
{
	struct json_object *in = NULL, *v, *o = json_object_new_object();
	const char *version = CNI_DEFAULT_VERSION;

	if (!o)
		return NULL;
	if (stdin_len)
		in = json_tokener_parse(stdin_data);
	if (in && json_object_object_get_ex(in, "cniVersion", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    cni_version_supported(json_object_get_string(v)))
		version = json_object_get_string(v);
	json_object_object_add(o, "cniVersion", json_object_new_string(version));
	json_object_object_add(o, "supportedVersions", cni_supported_versions());
	json_object_put(in);
	return o;
}
