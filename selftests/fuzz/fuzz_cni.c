// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_cni.c - podlane-cni's invocation as a runtime hands it over (userspace/cni/config.c,
 * result.c, ipam.c): the environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME,
 * CNI_ARGS, CNI_PATH) and stdin (the network config with its prevResult, runtimeConfig, args,
 * dns, ipam and GC lists), plus what a delegated IPAM plugin prints. main.c's steps are
 * followed without exec, socket or file: command, environment, config, then per command what
 * it parses before and after asking podlaned (which answers with a fixed add reply).
 *
 * The input is up to four parts separated by NUL bytes (an environment string and JSON text
 * hold none): "NAME=value" lines, stdin, the IPAM plugin's answer to ADD, its answer to VERSION.
 * Invariants: a refusal has a code and a message; a result of ADD is a JSON object in the
 * config's version whose address CHECK reads back from it as prevResult; VERSION always
 * answers in a version podlane supports.
 */
#include <arpa/inet.h>

#include "cni.h"
#include "fuzz.h"

#define MAX_ENV	32

static void check_error(const struct cni_error *err)
{
	FUZZ_CHECK(err->code > 0 && err->msg[0] && memchr(err->msg, '\0', sizeof(err->msg)) &&
		   memchr(err->details, '\0', sizeof(err->details)), "refusal without a reason");
}

/* podlaned's answer to add, as api_add_reply_decode() leaves it. */
static const struct api_add_reply agent_reply = {
	.ip = "10.244.0.5", .prefix_len = 32, .gateway = PODLANE_GATEWAY4,
	.host_ifname = "pl0123456789ab", .host_ifindex = 7, .host_mac = "ee:00:00:00:00:0a",
	.pod_mac = "0a:58:0a:f4:00:05", .pod_ifindex = 2,
};

/* ADD after the agent answered: the result, which CHECK must read back as prevResult. */
static void add_result(struct netconf *conf, const struct cni_args *args,
		       struct json_object *ipam_dns)
{
	struct json_object *res, *v, *saved = conf->prev_result;
	char ip[INET_ADDRSTRLEN] = "";
	struct cni_error err = {};
	const char *text;

	res = cni_result_build(conf, args, &agent_reply, ipam_dns);
	FUZZ_CHECK(res && json_object_is_type(res, json_type_object), "no result object");
	text = json_object_to_json_string_ext(res, JSON_C_TO_STRING_PRETTY);
	FUZZ_CHECK(json_object_object_get_ex(res, "cniVersion", &v) &&
		   !strcmp(json_object_get_string(v), conf->cni_version), "result version: %s",
		   text);
	conf->prev_result = res;
	FUZZ_CHECK(!prev_result_ipv4(conf, args->ifname, ip, sizeof(ip), &err) &&
		   !strcmp(ip, agent_reply.ip), "CHECK cannot read ADD's result back (%s): %s",
		   err.msg, text);
	conf->prev_result = saved;
	json_object_put(res);
}

/* The Kubernetes pod of CNI_ARGS and the config's labels, as ADD's request carries them. */
static void add_pod(const struct netconf *conf, const struct cni_args *args)
{
	struct api_add_req req = {};
	struct cni_error err = {};
	struct k8s_pod pod;
	size_t i;

	if (cni_k8s_pod(args->args, &pod, &err)) {
		check_error(&err);
		FUZZ_CHECK(!pod.namespace[0] && !pod.name[0], "a refused pod kept its names");
		return;
	}
	FUZZ_CHECK(!pod.namespace[0] == !pod.name[0], "one name of two: '%s' '%s'",
		   pod.namespace, pod.name);
	FUZZ_CHECK(!pod.namespace[0] || (!dns_label_problem(pod.namespace) &&
					 !dns_subdomain_problem(pod.name)),
		   "a pod '%s/%s' that is no Kubernetes name", pod.namespace, pod.name);
	if (cni_pod_req(conf, &pod, &req, &err)) {
		check_error(&err);
		return;
	}
	for (i = 0; i < req.n_labels; i++)
		FUZZ_CHECK(!label_key_problem(req.labels[i].key) &&
			   !label_value_problem(req.labels[i].value),
			   "label %zu passed unchecked", i);
	free(req.labels);
}

static void command(struct netconf *conf, const struct cni_args *args, const char *ipam_out,
		    struct json_object *versions)
{
	struct json_object *ipam_res = NULL, *ipam_dns = NULL;
	struct api_gc_req gc = {};
	char ip[INET_ADDRSTRLEN];
	struct cni_error err = {};
	const char *v;
	int status;

	/* The delegate's VERSION answer, as ipam_supports() and ipam_version() read it. */
	ipam_versions_has(versions, conf->cni_version);
	v = ipam_version_pick(versions, conf->cni_version);
	FUZZ_CHECK(v && cni_version_supported(v) && cni_version_cmp(v, conf->cni_version) <= 0,
		   "picked version %s for a %s config", v ? v : "(null)", conf->cni_version);

	switch (args->cmd) {
	case CMD_ADD:
		if (conf->ipam_type && ipam_out) {
			for (status = 1; status >= 0; status--) {
				memset(&err, 0, sizeof(err));
				if (ipam_output_parse(ipam_out, status, conf->ipam_type, "ADD",
						      &ipam_res, &err)) {
					check_error(&err);
					continue;
				}
				FUZZ_CHECK(!status, "a failed plugin gave a result");
				if (ipam_first_ipv4(ipam_res, ip, sizeof(ip), &ipam_dns, &err)) {
					check_error(&err);
				} else {
					struct in_addr in;

					FUZZ_CHECK(inet_pton(AF_INET, ip, &in) == 1,
						   "delegated address '%s'", ip);
					add_result(conf, args, ipam_dns);
				}
				json_object_put(ipam_res);
				ipam_res = NULL;
			}
		}
		add_result(conf, args, NULL);
		add_pod(conf, args);
		break;
	case CMD_CHECK:
		if (cni_version_cmp(conf->cni_version, "0.4.0") < 0)
			break;
		if (prev_result_ipv4(conf, args->ifname, ip, sizeof(ip), &err)) {
			check_error(&err);
		} else {
			struct in_addr in;

			FUZZ_CHECK(inet_pton(AF_INET, ip, &in) == 1, "prevResult address '%s'", ip);
		}
		break;
	case CMD_GC:
		if (cni_gc_attachments(conf, &gc, &err)) {
			check_error(&err);
			FUZZ_CHECK(!gc.attachments, "failed GC list left memory");
		} else {
			FUZZ_CHECK(gc.attachments, "no attachments array");
			for (size_t i = 0; i < gc.n_attachments; i++)
				FUZZ_CHECK(gc.attachments[i].container_id && gc.attachments[i].ifname,
					   "attachment %zu without its strings", i);
		}
		free(gc.attachments);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *part[4] = { NULL }, *p, *envp[MAX_ENV + 1], *line;
	struct json_object *o, *versions = NULL, *sv;
	struct cni_args args = {};
	struct netconf conf = {};
	struct cni_error err = {};
	size_t nparts = 0, n = 0, len[4] = { 0 };
	char *save = NULL;

	FUZZ_CHECK(copy, "out of memory");
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = copy; nparts < 4; nparts++) {
		char *nul = memchr(p, '\0', copy + size + 1 - p);

		part[nparts] = p;
		len[nparts] = nul - p;
		if (nul == copy + size)
			break;
		p = nul + 1;
	}
	nparts++;
	for (line = strtok_r(part[0], "\n", &save); line && n < MAX_ENV;
	     line = strtok_r(NULL, "\n", &save))
		envp[n++] = line;
	envp[n] = NULL;

	cni_args_from_env(&args, envp);
	if (cni_command_parse(&args, &err)) {
		check_error(&err);
		goto out;
	}
	args.stdin_data = nparts > 1 ? part[1] : NULL;
	args.stdin_len = nparts > 1 ? len[1] : 0;
	if (args.cmd == CMD_VERSION) {
		o = cni_version_reply(args.stdin_data, args.stdin_len);
		FUZZ_CHECK(o && json_object_object_get_ex(o, "cniVersion", &sv) &&
			   cni_version_supported(json_object_get_string(sv)), "VERSION answer");
		json_object_put(o);
		goto out;
	}
	if (cni_env_check(&args, &err)) {
		check_error(&err);
		goto out;
	}
	if (netconf_parse(&conf, &args, &err)) {
		check_error(&err);
		goto out;
	}
	FUZZ_CHECK(conf.name && conf.cni_version && cni_version_supported(conf.cni_version) &&
		   conf.agent_socket && conf.agent_socket[0] == '/' &&
		   (conf.pod_cidr || conf.ipam_type), "accepted config lacks a field");
	if (nparts > 3)
		versions = json_tokener_parse(part[3]);
	command(&conf, &args, nparts > 2 ? part[2] : NULL, versions);
	json_object_put(versions);
out:
	netconf_free(&conf);
	free(copy);
	return 0;
}
