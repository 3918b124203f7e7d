/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cni.h - the pieces of podlane-cni: the invocation (env + stdin), the parsed network
 * config, CNI errors, IPAM delegation and result formatting. podlane-cni is a thin front
 * end: all wiring, IPAM and map updates happen in podlaned (api_ops.h).
 */
#ifndef PODLANE_CNI_H
#define PODLANE_CNI_H

#include <stdbool.h>
#include <json-c/json.h>

#include "api_ops.h"
#include "labels.h"
#include "podlane.h"

#define CNI_DEFAULT_VERSION	"1.1.0"
#define CNI_MSG_LEN		512

/* A CNI error as the spec prints it: {cniVersion, code, msg, details}. */
struct cni_error {
	int	code;
	char	msg[CNI_MSG_LEN];
	char	details[CNI_MSG_LEN];
};

/* Set err and return -1, so callers can write `return cni_fail(err, 7, "...")`. */
int cni_fail(struct cni_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

enum cni_command { CMD_ADD, CMD_DEL, CMD_CHECK, CMD_GC, CMD_STATUS, CMD_VERSION };

/* What the runtime handed us: environment plus the raw stdin bytes. */
struct cni_args {
	enum cni_command cmd;
	const char	*command;	/* CNI_COMMAND as given */
	const char	*container_id;
	const char	*netns;		/* "" when not given (DEL may omit it) */
	const char	*ifname;
	const char	*args;		/* CNI_ARGS: only the K8S_POD_* keys are read */
	const char	*path;		/* CNI_PATH */
	char		*stdin_data;
	size_t		stdin_len;
};

/* The podlane plugin entry of a network config, validated. */
struct netconf {
	struct json_object *root;	/* whole config, owned */
	const char	*cni_version;
	const char	*name;
	const char	*pod_cidr;	/* NULL when IPAM is delegated */
	const char	*agent_socket;
	const char	*ipam_type;	/* NULL: podlaned allocates from podCIDR */
	int		mtu;		/* 0 = agent default */
	bool		has_default_route;	/* "defaultRoute" given */
	bool		default_route;	/* true: the pod's default route via this interface,
					 * false: never; absent: only if the pod has none */
	struct json_object *dns;	/* borrowed from root, may be NULL */
	struct json_object *prev_result;	/* borrowed from root, may be NULL */
	struct json_object *labels;	/* args.cni.labels, checked; borrowed, may be NULL */
};

/*
 * The Kubernetes pod a CRI runtime names in CNI_ARGS ("IgnoreUnknown=1;K8S_POD_NAMESPACE=x;
 * K8S_POD_NAME=a;..."): both or neither ("" when neither). Other keys are left alone.
 */
struct k8s_pod {
	char	namespace[DNS_LABEL_MAX + 1];
	char	name[DNS_SUBDOMAIN_MAX + 1];
};

/* config.c: pure, no environment, exec or socket */
/* The CNI_* variables out of envp ("NAME=value", NULL-terminated); "" when unset. */
void cni_args_from_env(struct cni_args *args, char *const envp[]);
/* CNI_COMMAND into args->cmd; code 4 when it is missing or unknown. */
int cni_command_parse(struct cni_args *args, struct cni_error *err);
/* The variables args->cmd needs, present and valid (code 4 otherwise). */
int cni_env_check(const struct cni_args *args, struct cni_error *err);
int cni_version_cmp(const char *a, const char *b);
bool cni_version_supported(const char *v);
struct json_object *cni_supported_versions(void);
int netconf_parse(struct netconf *conf, const struct cni_args *args, struct cni_error *err);
void netconf_free(struct netconf *conf);
int validate_cni_name(const char *what, const char *value, size_t max, int code,
		      struct cni_error *err);
int validate_ifname(const char *ifname, struct cni_error *err);
/* v is a JSON string without an embedded NUL (which C strings would silently cut off at). */
bool cni_json_string(struct json_object *v);
/*
 * GC's attachments to keep: the union of the config's "cni.dev/valid-attachments" and
 * "cni.dev/attachments" into req (attachments malloc'ed, strings borrowed from conf).
 */
int cni_gc_attachments(const struct netconf *conf, struct api_gc_req *req,
		       struct cni_error *err);
/* K8S_POD_NAMESPACE and K8S_POD_NAME of CNI_ARGS into pod; code 4 when they are bad. */
int cni_k8s_pod(const char *cni_args, struct k8s_pod *pod, struct cni_error *err);
/*
 * The pod for ADD's request: its names and the config's labels (req->labels malloc'ed, strings
 * borrowed from pod and conf). Labels without a Kubernetes pod select nothing: left out.
 */
int cni_pod_req(const struct netconf *conf, const struct k8s_pod *pod, struct api_add_req *req,
		struct cni_error *err);
/* VERSION's answer, in the version stdin names if podlane supports it. New reference. */
struct json_object *cni_version_reply(const char *stdin_data, size_t stdin_len);

/* delegate.c: run the configured IPAM plugin the standard CNI way. */
int ipam_exec(const struct cni_args *args, const struct netconf *conf, const char *command,
	      struct json_object **result, struct cni_error *err);
bool ipam_supports(const struct cni_args *args, const struct netconf *conf, const char *version);

/* ipam.c: what the plugin printed, read (pure) */
/* Whether its VERSION answer (NULL: none) lists version. */
bool ipam_versions_has(struct json_object *versions, const char *version);
/* The highest version it and podlane share, not above the config's (else the config's). */
const char *ipam_version_pick(struct json_object *versions, const char *config_version);
/*
 * Its stdout after it exited with status: an error (its code, msg and details) unless 0; with
 * result, the JSON object it printed (new reference).
 */
int ipam_output_parse(const char *output, int status, const char *type, const char *command,
		      struct json_object **result, struct cni_error *err);
/* The first IPv4 address of a result ("ips" or 0.2.0's "ip4"), and its "dns" (borrowed). */
int ipam_first_ipv4(struct json_object *result, char *ip, size_t iplen, struct json_object **dns,
		    struct cni_error *err);
/*
 * The subnet of the result's address ip ("a.b.c.0/24" from "a.b.c.d/24"), which podlaned needs
 * to refuse its network and broadcast address; "" when the result gives no prefix length.
 */
void ipam_subnet_of(struct json_object *result, const char *ip, char *subnet, size_t len);

/* result.c */
struct json_object *cni_result_build(const struct netconf *conf, const struct cni_args *args,
				     const struct api_add_reply *reply,
				     struct json_object *ipam_dns);
int prev_result_ipv4(const struct netconf *conf, const char *ifname, char *ip, size_t iplen,
		     struct cni_error *err);

#endif /* PODLANE_CNI_H */
