/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * service_spec.h - the one parser and validator of a podlane service spec, shared by
 * podlanectl (so an operator hears about a bad spec before anything is sent), podlaned (which
 * validates again: the API is the contract, not the CLI) and, later, the control-plane sync.
 *
 * A spec is a JSON object:
 *
 *   { "name": "web", "namespace": "default",          namespace optional, default "default"
 *     "clusterIP": "10.96.0.10",
 *     "ports": [ { "name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080,
 *                  "nodePort": 30080 } ],              name needed with 2+ ports; protocol
 *                                                      TCP|UDP (default TCP); targetPort
 *                                                      defaults to port; nodePort optional
 *     "externalIPs": [ "192.0.2.10" ],
 *     "sessionAffinity": "None" | "ClientIP",
 *     "sessionAffinityTimeoutSeconds": 10800,          1..86400
 *     "externalTrafficPolicy": "Cluster" | "Local",
 *     "internalTrafficPolicy": "Cluster" | "Local",
 *     "backends": [ { "ip": "10.244.0.5", "port": 8080, "weight": 1, "state": "active",
 *                     "local": true } ] }            port only for one-port services (else
 *                                                      targetPort); weight 0..65535, 0 =
 *                                                      drained; state active|terminating;
 *                                                      local omitted = the agent decides
 *
 * Unknown fields are refused, so a typo is an error and not a silently ignored setting.
 */
#ifndef PODLANE_SERVICE_SPEC_H
#define PODLANE_SERVICE_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <json-c/json.h>

#define SVC_NAME_MAX		63	/* Kubernetes object names are DNS labels */
#define SVC_MAX_PORTS		16
#define SVC_MAX_EXTERNAL_IPS	16
#define SVC_MAX_BACKENDS	4096
#define SVC_DEFAULT_NAMESPACE	"default"
#define SVC_AFFINITY_TIMEOUT_DEFAULT	10800
#define SVC_AFFINITY_TIMEOUT_MAX	86400
#define SVC_WEIGHT_DEFAULT	1
#define SVC_WEIGHT_MAX		65535

enum svc_local {
	SVC_LOCAL_AUTO = -1,	/* local when the IP is an endpoint on this node */
	SVC_LOCAL_NO = 0,
	SVC_LOCAL_YES = 1,
};

struct svc_port {
	char	*name;		/* malloc'ed; NULL: unnamed (a one-port service) */
	__u16	port;
	__u16	target_port;
	__u16	node_port;	/* 0 = none */
	__u8	proto;		/* IPPROTO_TCP or IPPROTO_UDP */
};

struct svc_backend {
	__be32	addr;
	__u16	port;		/* 0 = the port's targetPort */
	__u32	weight;		/* 0 = drained: no new connections */
	__u8	state;		/* enum lb_backend_state */
	__s8	local;		/* enum svc_local */
};

struct service_spec {
	char	*name;			/* malloc'ed, like every array here */
	char	*namespace;
	__be32	cluster_ip;
	struct svc_port *ports;		/* malloc'ed, nports of them; service_spec_free() */
	unsigned int nports;
	__be32	*external_ips;		/* nexternal of them */
	unsigned int nexternal;
	bool	affinity;		/* sessionAffinity ClientIP */
	__u32	affinity_timeout;	/* seconds */
	bool	ext_local;		/* externalTrafficPolicy Local */
	bool	int_local;		/* internalTrafficPolicy Local */
	struct svc_backend *backends;	/* malloc'ed; service_spec_free() */
	unsigned int nbackends;
};

/*
 * Parse and validate obj into spec. Returns 0, or -EINVAL with err holding
 * "<field>: <problem>" (e.g. "ports[1].protocol: must be TCP or UDP, got \"SCTP\"").
 * On error spec holds nothing to free.
 */
int service_spec_parse(struct json_object *obj, struct service_spec *spec, char *err,
		       size_t errlen);
/*
 * The same for a spec as podlaned lists it (struct api_service in api_ops.h): each backend's
 * "local" is what the agent resolved, and "localAuto" says the agent decided it.
 */
int service_spec_parse_listed(struct json_object *obj, struct service_spec *spec, char *err,
			      size_t errlen);
/* Frees what parse allocated (the spec's arrays and strings), not spec itself. */
void service_spec_free(struct service_spec *spec);

/* The spec with every default spelled out: what is persisted and listed. New reference. */
struct json_object *service_spec_to_json(const struct service_spec *spec);

/*
 * The same as podlaned lists it, what service_spec_parse_listed() reads: each backend's "local"
 * is local[i] (1 or 0, as the agent resolved it) and "localAuto": true where the spec said
 * "auto". New reference.
 */
struct json_object *service_spec_to_json_listed(const struct service_spec *spec,
						const __s8 *local);
/*
 * Part of it, for a listing page: the backends from from on, as many as keep the JSON text
 * (plain) within max_bytes, at least one; *count says how many (0 when from is past the last).
 * local is indexed like the spec's backends.
 */
struct json_object *service_spec_to_json_listed_part(const struct service_spec *spec,
						     const __s8 *local, unsigned int from,
						     size_t max_bytes, unsigned int *count);

/*
 * A listed service that came in pieces (a listing page, see api_ops.h): append piece's
 * backends to spec's, both specs as podlaned lists them. 0, or -EINVAL when they are not the
 * same service (or not specs with backends).
 */
int service_spec_listed_append(struct json_object *spec, struct json_object *piece);

/* Whether two valid specs say the same thing (what service_spec_to_json() would show). */
bool service_spec_equal(const struct service_spec *a, const struct service_spec *b);

/* "namespace/name", the service's identity. */
void service_spec_id(const struct service_spec *spec, char *out, size_t len);

/* Whether a name is a DNS label as Kubernetes requires (also used for lookups by name). */
bool service_name_ok(const char *name);

const char *service_proto_name(__u8 proto);

#endif /* PODLANE_SERVICE_SPEC_H */
