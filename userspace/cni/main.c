// SPDX-License-Identifier: GPL-2.0-only
/*
 * podlane-cni - the CNI plugin (spec 0.3.0 .. 1.1.0) that container runtimes exec to attach a
 * pod to podlane. It checks the invocation, delegates IPAM when the config asks for it, and
 * asks podlaned (api_ops.h) to do the work. Results and errors go to stdout as the spec wants;
 * logs go to stderr or the config's "logFile", never stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_ops.h"
#include "cni.h"
#include "log.h"

#define STDIN_MAX		(4 * 1024 * 1024)
#define AGENT_TIMEOUT_MS	60000	/* the agent serialises requests; 64 pods queue up */
#define STATUS_TIMEOUT_MS	5000

static int print_json(struct json_object *o)
{
	int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		    JSON_C_TO_STRING_NOSLASHESCAPE;
	const char *text = json_object_to_json_string_ext(o, flags);

	if (printf("%s\n", text) < 0 || fflush(stdout))
		return -1;
	return 0;
}

static void print_error(const char *version, const struct cni_error *err)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "cniVersion", json_object_new_string(version));
	json_object_object_add(o, "code", json_object_new_int(err->code));
	json_object_object_add(o, "msg", json_object_new_string(err->msg));
	json_object_object_add(o, "details", json_object_new_string(err->details));
	print_json(o);
	json_object_put(o);
}

static int read_stdin(struct cni_args *args, struct cni_error *err)
{
	size_t cap = 4096;
	ssize_t n;

	args->stdin_data = malloc(cap + 1);
	if (!args->stdin_data)
		return cni_fail(err, 5, "out of memory");
	for (;;) {
		if (args->stdin_len == cap) {
			char *p;

			if (cap >= STDIN_MAX)
				return cni_fail(err, 6, "network config on stdin is larger "
						"than %d bytes", STDIN_MAX);
			cap *= 2;
			p = realloc(args->stdin_data, cap + 1);
			if (!p)
				return cni_fail(err, 5, "out of memory");
			args->stdin_data = p;
		}
		n = read(STDIN_FILENO, args->stdin_data + args->stdin_len, cap - args->stdin_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cni_fail(err, 5, "failed to read stdin: %s", strerror(errno));
		if (n == 0)
			break;
		args->stdin_len += n;
	}
	args->stdin_data[args->stdin_len] = '\0';
	return 0;
}

/* Wiring our own namespace would put the pod interface on the node itself. */
static int check_not_own_netns(const struct cni_args *args, struct cni_error *err)
{
	struct stat target, self;

	if (stat(args->netns, &target))
		return cni_fail(err, 4, "CNI_NETNS '%s' cannot be opened: %s", args->netns,
				strerror(errno));
	if (!stat("/proc/self/ns/net", &self) && target.st_dev == self.st_dev &&
	    target.st_ino == self.st_ino)
		return cni_fail(err, 4, "CNI_NETNS '%s' is the plugin's own network namespace",
				args->netns);
	return 0;
}

/*
 * A failed request to podlaned into err: unreachable (no socket, refused, no reply in time) is
 * code 11 so the runtime retries; an error reply keeps the agent's code, msg and details.
 */
static int agent_failed(const struct api_error *e, struct cni_error *err)
{
	err->code = e->code;
	snprintf(err->msg, sizeof(err->msg), "%s", e->msg);
	snprintf(err->details, sizeof(err->details), "%s", e->details);
	return -1;
}

static int cmd_add(const struct cni_args *args, const struct netconf *conf, struct cni_error *err)
{
	struct json_object *raw = NULL, *ipam_res = NULL, *ipam_dns = NULL, *res;
	struct api_add_req req = {
		.container_id = args->container_id, .netns = args->netns,
		.ifname = args->ifname, .network = conf->name, .subnet = conf->pod_cidr,
		.has_mtu = conf->mtu != 0, .mtu = conf->mtu,
		.has_default_route = conf->has_default_route,
		.default_route = conf->default_route,
	};
	struct api_add_reply reply;
	char ip[INET_ADDRSTRLEN] = "", subnet[INET_ADDRSTRLEN + 3];
	struct api_error e;
	struct k8s_pod pod;
	int rc;

	if (check_not_own_netns(args, err))
		return -1;
	/* The pod's names and labels are checked before anything is allocated. */
	if (cni_k8s_pod(args->args, &pod, err) || cni_pod_req(conf, &pod, &req, err))
		return -1;
	if (conf->prev_result)
		log_warn("ignoring prevResult: podlane creates the pod interface and should come "
			 "first in a chain network=%s", conf->name);
	if (conf->ipam_type) {
		if (ipam_exec(args, conf, "ADD", &ipam_res, err)) {
			free(req.labels);
			return -1;
		}
		if (ipam_first_ipv4(ipam_res, ip, sizeof(ip), &ipam_dns, err))
			goto release;
		req.ip = ip;
		/* The plugin's subnet, not podCIDR: podlaned checks the address against it. */
		ipam_subnet_of(ipam_res, ip, subnet, sizeof(subnet));
		req.subnet = subnet[0] ? subnet : NULL;
	}

	if (api_add_call(conf->agent_socket, AGENT_TIMEOUT_MS, &req, &reply, &raw, &e)) {
		agent_failed(&e, err);
		goto release;
	}
	res = cni_result_build(conf, args, &reply, ipam_dns);
	log_info("pod attached container=%s ifname=%s ip=%s host_ifname=%s pod=%s/%s",
		 args->container_id, args->ifname, reply.ip, reply.host_ifname, pod.namespace,
		 pod.name);
	rc = print_json(res);
	if (rc)
		cni_fail(err, PODLANE_ERR_IO, "failed to write the result to stdout");
	json_object_put(res);
	api_add_reply_free(&reply);
	json_object_put(raw);
	json_object_put(ipam_res);
	free(req.labels);
	return rc;

release:
	/* Hand the address back so a failed ADD leaves nothing allocated. */
	if (conf->ipam_type) {
		struct cni_error ignored = { 0 };

		if (ipam_exec(args, conf, "DEL", NULL, &ignored))
			log_warn("failed to release address after failed ADD plugin=%s msg=\"%s\"",
				 conf->ipam_type, ignored.msg);
	}
	json_object_put(ipam_res);
	free(req.labels);
	return -1;
}

static int cmd_del(const struct cni_args *args, const struct netconf *conf, struct cni_error *err)
{
	struct api_del_req req = {
		.container_id = args->container_id, .ifname = args->ifname,
		.network = conf->name, .netns = args->netns,
	};
	struct api_del_reply reply;
	struct json_object *raw;
	struct api_error e;

	/*
	 * The agent goes first: if it cannot be reached the delegate must keep the address,
	 * because the endpoint may still be wired and using it. The runtime retries on code 11.
	 */
	if (api_del_call(conf->agent_socket, AGENT_TIMEOUT_MS, &req, &reply, &raw, &e))
		return agent_failed(&e, err);
	json_object_put(raw);
	if (conf->ipam_type && ipam_exec(args, conf, "DEL", NULL, err))
		return -1;
	return 0;
}

static int cmd_check(const struct cni_args *args, const struct netconf *conf,
		     struct cni_error *err)
{
	struct api_check_req req = {
		.container_id = args->container_id, .ifname = args->ifname,
		.network = conf->name, .netns = args->netns,
	};
	struct api_check_reply reply;
	char ip[INET_ADDRSTRLEN];
	struct json_object *raw;
	struct api_error e;

	if (cni_version_cmp(conf->cni_version, "0.4.0") < 0)
		return cni_fail(err, 1, "config version '%s' does not allow CHECK (needs 0.4.0 or "
				"later)", conf->cni_version);
	if (prev_result_ipv4(conf, args->ifname, ip, sizeof(ip), err))
		return -1;
	if (check_not_own_netns(args, err))
		return -1;
	req.ip = ip;
	if (api_check_call(conf->agent_socket, AGENT_TIMEOUT_MS, &req, &reply, &raw, &e))
		return agent_failed(&e, err);
	json_object_put(raw);
	if (conf->ipam_type && ipam_exec(args, conf, "CHECK", NULL, err))
		return -1;
	return 0;
}

static int cmd_status(const struct cni_args *args, const struct netconf *conf,
		      struct cni_error *err)
{
	struct api_status_req req = { .network = conf->name };
	struct api_status_reply reply;
	struct json_object *raw;
	struct api_error e;

	if (cni_version_cmp(conf->cni_version, "1.1.0") < 0)
		return cni_fail(err, 1, "config version '%s' does not allow STATUS (needs 1.1.0)",
				conf->cni_version);
	if (api_status_call(conf->agent_socket, STATUS_TIMEOUT_MS, &req, &reply, &raw, &e))
		return cni_fail(err, PODLANE_ERR_NOT_AVAILABLE, "podlane is not available: %s",
				e.msg);
	api_status_reply_free(&reply);
	json_object_put(raw);
	/* A delegate older than 1.1.0 has no STATUS; podlaned's answer is all there is. */
	if (conf->ipam_type && ipam_supports(args, conf, "1.1.0") &&
	    ipam_exec(args, conf, "STATUS", NULL, err))
		return -1;
	return 0;
}

static int cmd_gc(const struct cni_args *args, const struct netconf *conf, struct cni_error *err)
{
	struct api_gc_req req = { .network = conf->name };
	struct api_gc_reply reply;
	struct json_object *raw;
	struct api_error e;
	int rc;

	if (cni_version_cmp(conf->cni_version, "1.1.0") < 0)
		return cni_fail(err, 1, "config version '%s' does not allow GC (needs 1.1.0)",
				conf->cni_version);
	rc = cni_gc_attachments(conf, &req, err);
	if (!rc && api_gc_call(conf->agent_socket, AGENT_TIMEOUT_MS, &req, &reply, &raw, &e))
		rc = agent_failed(&e, err);
	free(req.attachments);
	if (rc)
		return -1;
	log_info("gc done network=%s released=%lld", conf->name, (long long)reply.released);
	json_object_put(raw);
	if (conf->ipam_type && ipam_supports(args, conf, "1.1.0") &&
	    ipam_exec(args, conf, "GC", NULL, err))
		return -1;
	return 0;
}

/* VERSION needs nothing but CNI_COMMAND; stdin, if any, may name the version to answer in. */
static int cmd_version(const struct cni_args *args)
{
	struct json_object *o = cni_version_reply(args->stdin_data, args->stdin_len);
	int rc;

	rc = o ? print_json(o) : -1;
	json_object_put(o);
	return rc;
}

static enum log_level parse_level(const char *s)
{
	if (!s)
		return LOG_LVL_WARN;
	if (!strcmp(s, "error"))
		return LOG_LVL_ERROR;
	if (!strcmp(s, "info"))
		return LOG_LVL_INFO;
	if (!strcmp(s, "debug"))
		return LOG_LVL_DEBUG;
	return LOG_LVL_WARN;
}

/* "logFile" and "logLevel" in the config; a runtime shows a plugin's stderr only on failure. */
static void setup_logging(const struct netconf *conf)
{
	struct json_object *v;
	const char *file = NULL, *level = NULL;

	if (json_object_object_get_ex(conf->root, "logFile", &v) &&
	    json_object_is_type(v, json_type_string))
		file = json_object_get_string(v);
	if (json_object_object_get_ex(conf->root, "logLevel", &v) &&
	    json_object_is_type(v, json_type_string))
		level = json_object_get_string(v);
	if (file && log_open("podlane-cni", file, parse_level(level)))
		log_warn("failed to open log file '%s': %s", file, strerror(errno));
	else if (!file)
		log_set_level(parse_level(level));
}

int main(int argc, char **argv)
{
	struct cni_args args = { 0 };
	struct netconf conf = { 0 };
	struct cni_error err = { 0 };
	const char *version = CNI_DEFAULT_VERSION;
	int rc = -1;

	signal(SIGPIPE, SIG_IGN);
	log_open("podlane-cni", NULL, LOG_LVL_WARN);

	cni_args_from_env(&args, environ);
	if (!*args.command)
		fprintf(stderr, "podlane-cni: a CNI plugin for podlane, run by container runtimes "
			"with CNI_COMMAND and friends set; CNI versions 0.3.0 0.3.1 0.4.0 1.0.0 "
			"1.1.0\n");
	if (cni_command_parse(&args, &err))
		goto out;

	if (args.cmd == CMD_VERSION) {
		/* Unreadable stdin is not an error here: VERSION must always answer. */
		if (read_stdin(&args, &err))
			args.stdin_len = 0;
		rc = cmd_version(&args);
		goto out;
	}
	if (cni_env_check(&args, &err) || read_stdin(&args, &err))
		goto out;
	rc = netconf_parse(&conf, &args, &err);
	if (conf.cni_version && cni_version_supported(conf.cni_version))
		version = conf.cni_version;
	if (rc)
		goto out;
	setup_logging(&conf);
	log_debug("invoked command=%s container=%s netns=%s ifname=%s args=%s", args.command,
		  args.container_id, args.netns, args.ifname, args.args);

	switch (args.cmd) {
	case CMD_ADD:
		rc = cmd_add(&args, &conf, &err);
		break;
	case CMD_DEL:
		rc = cmd_del(&args, &conf, &err);
		break;
	case CMD_CHECK:
		rc = cmd_check(&args, &conf, &err);
		break;
	case CMD_STATUS:
		rc = cmd_status(&args, &conf, &err);
		break;
	case CMD_GC:
		rc = cmd_gc(&args, &conf, &err);
		break;
	case CMD_VERSION:
		break;
	}
out:
	if (rc) {
		if (!err.code)
			cni_fail(&err, PODLANE_ERR_INTERNAL, "%s failed", args.command);
		log_warn("command failed command=%s container=%s code=%d msg=\"%s\"", args.command,
			 args.container_id ? args.container_id : "", err.code, err.msg);
		print_error(version, &err);
	}
	netconf_free(&conf);
	free(args.stdin_data);
	return rc ? 1 : 0;
}
