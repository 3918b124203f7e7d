/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * policy_spec.h - Kubernetes NetworkPolicy (networking.k8s.io/v1) objects as users write them,
 * in YAML or JSON: the one parser and validator, shared by podlanectl (which refuses a bad
 * policy with the field and the reason), podlaned and the control-plane sync (which sends a
 * bad one to the dead letters). Pure functions: no I/O. Validation is the API server's
 * (k8s.io/kubernetes pkg/apis/networking/validation and its defaults), so a policy is taken
 * here exactly when a cluster would take it, with these differences, all stricter:
 *   - unknown fields are refused (kubectl's --validate=strict), so a typo is an error and not a
 *     silently ignored setting; metadata may hold labels and annotations (checked, not kept)
 *     and what the API server adds (uid, resourceVersion, generation, creationTimestamp,
 *     managedFields: ignored);
 *   - CIDRs are checked as with the StrictIPCIDRValidation gate: no leading zeros, no
 *     IPv4-mapped IPv6 address, no bits set after the prefix length;
 *   - spec is required (absent, the API server would read it as {}: every pod of the namespace
 *     isolated for ingress, a likely mistake rather than an intent); a label value of null is
 *     refused rather than read as "";
 *   - sizes are bounded (POLICY_MAX_* below; the API server's only bound is the object size).
 * Text is read by yaml_json.h: YAML refuses repeated keys; in JSON the last one counts (json-c,
 * as Go's encoding/json without strict field validation).
 *
 *   apiVersion: networking.k8s.io/v1          required, exactly
 *   kind: NetworkPolicy                       required, exactly
 *   metadata: { name, namespace }             name a DNS-1123 subdomain (required), namespace
 *                                             a DNS-1123 label (default "default")
 *   spec:
 *     podSelector: <selector>                 the pods of the policy's namespace it applies
 *                                             to; {} or absent: all of them
 *     policyTypes: [Ingress, Egress]          which directions it isolates; absent or []:
 *                                             Ingress, plus Egress when spec.egress has a
 *                                             rule (the API server's defaulting)
 *     ingress: [ { from: [<peer>], ports: [<port>] } ]
 *     egress:  [ { to:   [<peer>], ports: [<port>] } ]
 *                                             absent or []: no rule, so a direction the
 *                                             policy isolates allows nothing
 *   <peer>: one of
 *     { podSelector }                         pods of the policy's namespace it selects
 *     { namespaceSelector }                   every pod of the namespaces it selects
 *     { podSelector, namespaceSelector }      pods it selects in namespaces it selects (AND)
 *     { ipBlock: { cidr, except: [cidr] } }   addresses in cidr but in no except (each a
 *                                             strict subset of cidr); alone in its peer
 *     several peers in a rule: any of them (OR); a peer naming none of these is refused
 *   <port>: { protocol: TCP|UDP|SCTP (default TCP), port: <1-65535 or a port name>,
 *             endPort: <port..65535, only with a numeric port> }
 *     port absent: every port of the protocol; a name: the destination pod's container port
 *     of that name and protocol
 *   <selector>: { matchLabels: {key: value}, matchExpressions: [ { key, operator, values } ] }
 *     operator In/NotIn with a non-empty values, Exists/DoesNotExist without; keys and values
 *     as labels.h checks them. null anywhere means absent, as in the API.
 *
 * Empty and absent, as the API documents them:
 *   rule "from"/"to" absent or []   the rule allows every source/destination (npeers 0)
 *   rule "ports" absent or []       the rule allows every port and protocol (nports 0)
 *   a rule {} (both absent)         allows everything in its direction
 *   peer podSelector {} vs absent   {}: all pods (of the namespace, or of the selected
 *                                   namespaces); absent: see the peer kinds above
 *   matchLabels/matchExpressions    absent, null and empty are the same: no constraint
 */
#ifndef PODLANE_POLICY_SPEC_H
#define PODLANE_POLICY_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <json-c/json.h>

#include "labels.h"

#define POLICY_API_VERSION	"networking.k8s.io/v1"
#define POLICY_KIND		"NetworkPolicy"
#define POLICY_DEFAULT_NAMESPACE "default"
/* The label the API server puts on every namespace, its value the namespace's name. */
#define POLICY_NS_NAME_LABEL	"kubernetes.io/metadata.name"

#define POLICY_MAX_RULES	256	/* per direction */
#define POLICY_MAX_PEERS	256	/* per rule */
#define POLICY_MAX_PORTS	256	/* per rule */
#define POLICY_MAX_EXCEPT	64	/* per ipBlock */
#define POLICY_MAX_MATCH_LABELS	64	/* per selector */
#define POLICY_MAX_EXPRS	64	/* per selector */
#define POLICY_MAX_VALUES	256	/* per matchExpressions entry */
#define POLICY_MAX_SET		256	/* policies in one text (a "---" stream or a List) */
#define POLICY_MAX_POD_PORTS	256	/* container ports of one pod */

#define POLICY_TYPE_INGRESS	0x1
#define POLICY_TYPE_EGRESS	0x2

/* An address block, IPv4 or IPv6; bits after prefix_len are zero. */
struct policy_cidr {
	__u8	family;		/* AF_INET or AF_INET6 */
	__u8	prefix_len;	/* 0..32 or 0..128 */
	__u8	addr[16];	/* network byte order; AF_INET uses the first 4 bytes */
};

struct policy_ip_block {
	struct policy_cidr	cidr;
	struct policy_cidr	*except;	/* each of cidr's family, inside it, longer */
	unsigned int		nexcept;
};

enum policy_peer_kind {
	POLICY_PEER_PODS,		/* podSelector alone: in the policy's namespace */
	POLICY_PEER_NAMESPACES,		/* namespaceSelector alone: all their pods */
	POLICY_PEER_PODS_IN_NAMESPACES,	/* both: AND */
	POLICY_PEER_IP_BLOCK,		/* ipBlock */
};

struct policy_peer {
	enum policy_peer_kind	kind;
	struct label_selector	pods;		/* kinds PODS and PODS_IN_NAMESPACES */
	struct label_selector	namespaces;	/* kinds NAMESPACES and PODS_IN_NAMESPACES */
	struct policy_ip_block	ip_block;	/* kind IP_BLOCK */
};

struct policy_port {
	__u8	proto;		/* IPPROTO_TCP (the default), IPPROTO_UDP or IPPROTO_SCTP */
	__u16	port;		/* 0: every port of proto, or the named port */
	__u16	end_port;	/* last port of the range port..end_port; == port without endPort */
	char	*name;		/* a named port (IANA service name), port 0; else NULL */
};

struct policy_rule {
	struct policy_peer	*peers;		/* any of them (OR); npeers 0: every peer */
	unsigned int		npeers;
	struct policy_port	*ports;		/* any of them; nports 0: every port, protocol */
	unsigned int		nports;
};

/*
 * A valid policy, defaults applied. Rules of a direction not in types are kept (the API keeps
 * them) but govern nothing: enforcement looks at types first.
 */
struct policy_spec {
	char			*name;		/* malloc'ed, like every array and string here */
	char			*namespace;
	struct label_selector	pod_selector;	/* empty: every pod of the namespace */
	__u8			types;		/* POLICY_TYPE_*, explicit or inferred, never 0 */
	struct policy_rule	*ingress;
	unsigned int		ningress;
	struct policy_rule	*egress;
	unsigned int		negress;
};

/* Policies read from one text, all valid (else none). */
struct policy_set {
	struct policy_spec	*items;
	unsigned int		n;
};

/*
 * Parse and validate one policy, obj being the object as decoded from JSON or YAML. 0, or
 * -EINVAL with err holding "<field path>: <reason>" (e.g. "spec.ingress[0].from[1]: may not
 * specify both ipBlock and another peer"), or -ENOMEM. On error spec holds nothing to free.
 */
int policy_spec_parse(struct json_object *obj, struct policy_spec *spec, char *err,
		      size_t errlen);
/* The same from text, YAML or JSON (yaml_json.h), holding exactly one policy. */
int policy_spec_parse_text(const char *text, size_t len, struct policy_spec *spec, char *err,
			   size_t errlen);
/*
 * Every policy of a text: one policy, a YAML stream of them ("---"; empty documents skipped),
 * or a List/NetworkPolicyList with "items". All or nothing: on any error set is empty and err
 * says which ("document 2: spec...", "items[1].spec..."). At least one policy, at most
 * POLICY_MAX_SET, no two with the same namespace and name.
 */
int policy_set_parse_text(const char *text, size_t len, struct policy_set *set, char *err,
			  size_t errlen);
void policy_set_free(struct policy_set *set);

/* Frees what parse allocated, not spec itself. */
void policy_spec_free(struct policy_spec *spec);
/* Whether two valid policies say the same thing (what policy_spec_to_json() would show). */
bool policy_spec_equal(const struct policy_spec *a, const struct policy_spec *b);
/*
 * The canonical form: apiVersion, kind, metadata {name, namespace}, spec with podSelector,
 * policyTypes, ingress and egress always present, protocol on every port, endPort only when it
 * differs from port, addresses as inet_ntop writes them; empty from/to/ports and selector
 * parts left out. policy_spec_parse() of it gives an equal policy. New reference.
 */
struct json_object *policy_spec_to_json(const struct policy_spec *spec);
/* "namespace/name", the policy's identity. */
void policy_spec_id(const struct policy_spec *spec, char *out, size_t len);

/* "TCP", "UDP", "SCTP". */
const char *policy_proto_name(__u8 proto);
/* "10.0.0.0/8", "2001:db8::/32"; out at least POLICY_CIDR_STRLEN. */
#define POLICY_CIDR_STRLEN	(46 + 4)
void policy_cidr_format(const struct policy_cidr *cidr, char *out, size_t len);
/* Parse "addr/len" as the API server strictly does; NULL, or the reason it is refused. */
const char *policy_cidr_parse(const char *text, struct policy_cidr *out);

/* ---- what selectors select: a pod's and a namespace's metadata, and matching ---- */

/* A named container port of a pod, which a policy port may name. */
struct policy_pod_port {
	char	*name;
	__u8	proto;
	__u16	port;
};

struct policy_pod {
	char			*namespace;
	char			*name;
	struct label_set	labels;
	struct policy_pod_port	*ports;
	unsigned int		nports;
};

struct policy_namespace {
	char			*name;
	struct label_set	labels;	/* with POLICY_NS_NAME_LABEL = name, as the API server */
};

/*
 * A namespace's metadata: name and a copy of labels, plus the implied
 * kubernetes.io/metadata.name label (which the API server sets to the name whatever was
 * written). 0 or -ENOMEM (ns zeroed).
 */
int policy_namespace_init(struct policy_namespace *ns, const char *name,
			  const struct label_set *labels);
void policy_namespace_free(struct policy_namespace *ns);
void policy_pod_free(struct policy_pod *pod);

/*
 * A label map from JSON ({"key": "value"}), each key and value checked as labels.h does; where
 * names the field for err ("metadata.labels"). 0, -EINVAL with err, or -ENOMEM; on error set
 * holds nothing.
 */
int policy_labels_parse(struct json_object *obj, const char *where, struct label_set *set,
			char *err, size_t errlen);

/*
 * A pod's container ports from JSON, as a Pod's containers list them: [ { name,
 * containerPort, protocol (default TCP) } ]; unnamed ones are checked and left out (no policy
 * can name them), a name given twice for one protocol is refused. Fills pod->ports and
 * pod->nports (whose old content is not freed). 0, -EINVAL with err, or -ENOMEM; on error pod
 * has no ports.
 */
int policy_pod_ports_parse(struct json_object *obj, const char *where, struct policy_pod *pod,
			   char *err, size_t errlen);
/* [ { name, containerPort, protocol } ] of a pod's named ports. New reference. */
struct json_object *policy_pod_ports_to_json(const struct policy_pod *pod);

/* Whether the policy applies to a pod: same namespace, and podSelector selects its labels. */
bool policy_selects_pod(const struct policy_spec *spec, const struct label_set *pod_labels,
			const char *pod_ns);
/*
 * Whether a peer selects a pod, given the pod's labels, its namespace's labels (with the
 * implied name label), the pod's namespace and the policy's namespace. An ipBlock peer selects
 * no pod by its labels (see policy_peer_matches_addr()).
 */
bool policy_peer_matches_pod(const struct policy_peer *peer, const struct label_set *pod_labels,
			     const struct label_set *ns_labels, const char *pod_ns,
			     const char *policy_ns);
/* Whether an ipBlock peer holds an address (family AF_INET/AF_INET6, addr in network order). */
bool policy_peer_matches_addr(const struct policy_peer *peer, int family, const void *addr);
/* Whether cidr holds the address. */
bool policy_cidr_contains(const struct policy_cidr *cidr, int family, const void *addr);
/*
 * Whether a policy port allows proto/port towards dst: the port range, or the port dst names
 * so (same protocol). dst may be NULL when unknown: a named port then matches nothing.
 */
bool policy_port_matches(const struct policy_port *pp, const struct policy_pod *dst, __u8 proto,
			 __u16 port);
/* The same for a rule's ports: none listed allows everything. */
bool policy_rule_ports_match(const struct policy_rule *rule, const struct policy_pod *dst,
			     __u8 proto, __u16 port);

#endif /* PODLANE_POLICY_SPEC_H */
