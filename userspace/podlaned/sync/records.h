/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sync/records.h - the etcd record format of podlane's control-plane sync: the key layout and
 * a pure decoder (and, for the records this node writes, an encoder) per record kind.
 *
 * Key layout, version 1 (every value is a JSON object unless said otherwise; "updated" is the
 * writer's CLOCK_REALTIME in nanoseconds, used to measure propagation):
 *
 *   /podlane/v1/version                          "1"; an agent that finds another version
 *                                                refuses to sync (and keeps running standalone)
 *   /podlane/v1/nodes/<node>                     { name, nodeIP, podCIDR, updated }   leased
 *   /podlane/v1/endpoints/<node>/<cid>/<ifname>  { node, nodeIP, ip, containerID, ifname,
 *                                                  network, updated }                 leased
 *   /podlane/v1/services/<namespace>/<name>      a service spec (service_spec.h)
 *   /podlane/v1/hints/<node>                     { node, score, dominant, cpu, runq, memory,
 *                                                  traffic, cpu_headroom, updated,
 *                                                  cpu_pressure, cpus, seq }   leased;
 *                                                the last three are optional (older agents
 *                                                do not write them); seq counts the node's
 *                                                accounting ticks, so the record changes, and
 *                                                is put again, every second
 *   /podlane/v1/ipam/cidrs/<a.b.c.d>/<len>       { node }: a node's pod CIDR, created in a txn
 *                                                that requires create_revision == 0, so two
 *                                                nodes racing for one CIDR cannot both win.
 *                                                Not leased: a node keeps its CIDR across
 *                                                restarts and outages.
 *   /podlane/v1/policies/<namespace>/<name>      a NetworkPolicy as JSON (policy_spec.h); its
 *                                                metadata must name the key's namespace/name
 *   /podlane/v1/pods/<namespace>/<name>          { labels: {k: v}, ports: [ { name,
 *                                                  containerPort, protocol } ] }: what policy
 *                                                selectors need of a pod, from a controller
 *                                                mirroring the Kubernetes API
 *   /podlane/v1/namespaces/<name>                { labels: {k: v} } (kubernetes.io/metadata.name
 *                                                is implied)
 *
 * An endpoint record may also carry its pod's "namespace", "pod", "labels" and "ports" (the
 * pod form above), so a remote pod's identity travels with its address.
 *
 * Records under a lease (TTL --lease-ttl, kept alive every TTL/3) vanish when their node stops
 * renewing it, so a dead node's endpoints expire on every other node.
 *
 * Pure: no agent, no maps, no etcd client, no globals; json-c, service_spec.c (libpodlane)
 * and core/addr.c are all records.c needs, so a fuzzing harness links it on its own
 * (selftests/sync/test_records.c does). A decoder takes the bytes of a key or a value and
 * gives a typed record, or -EINVAL and the reason a dead letter shows (why, RECORD_WHY_LEN).
 * Values are parsed with the caller's json_tokener: one per thread, none allocated per record.
 */
#ifndef PODLANED_SYNC_RECORDS_H
#define PODLANED_SYNC_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <json-c/json.h>

#include "core/addr.h"
#include "nodes/nodes.h"	/* PODLANE_NODE_NAME_LEN */

struct service_spec;
struct policy_spec;
struct policy_pod;
struct policy_namespace;

#define RECORD_PREFIX		"/podlane/v1/"
#define RECORD_KEY_VERSION	RECORD_PREFIX "version"
#define RECORD_KEY_NODES	RECORD_PREFIX "nodes/"
#define RECORD_KEY_ENDPOINTS	RECORD_PREFIX "endpoints/"
#define RECORD_KEY_SERVICES	RECORD_PREFIX "services/"
#define RECORD_KEY_HINTS	RECORD_PREFIX "hints/"
#define RECORD_KEY_CIDRS	RECORD_PREFIX "ipam/cidrs/"
#define RECORD_KEY_POLICIES	RECORD_PREFIX "policies/"
#define RECORD_KEY_PODS		RECORD_PREFIX "pods/"
#define RECORD_KEY_NAMESPACES	RECORD_PREFIX "namespaces/"
#define RECORD_LAYOUT_VERSION	"1"

/* A dead letter's reason, and so the size of every why buffer here. */
#define RECORD_WHY_LEN		256

enum record_kind {
	RECORD_OTHER,		/* under the prefix, nothing this agent reads */
	RECORD_VERSION,
	RECORD_NODE,
	RECORD_ENDPOINT,
	RECORD_SERVICE,
	RECORD_HINT,
	RECORD_CIDR,
	RECORD_POLICY,
	RECORD_POD,
	RECORD_NAMESPACE,
};

/* Where a key points. The strings point into the key and are not NUL-terminated. */
struct record_key {
	enum record_kind kind;
	const char	*node;		/* NODE, ENDPOINT, HINT: the node's name */
	size_t		node_len;
	const char	*container_id;	/* ENDPOINT */
	size_t		container_id_len;
	const char	*ifname;	/* ENDPOINT */
	size_t		ifname_len;
	const char	*service;	/* SERVICE: "<namespace>/<name>" */
	size_t		service_len;
	const char	*object;	/* POLICY, POD: "<namespace>/<name>"; NAMESPACE: name */
	size_t		object_len;
	struct subnet4	cidr;		/* CIDR: the claimed pod CIDR */
};

/* A node name as the keys carry it: 1-63 characters of a-z, 0-9, '-' and '.'. */
bool record_node_name_ok(const char *s, size_t len);

/*
 * Which kind of record key is and whether its layout is right: 0, or -EINVAL with why (k->kind
 * is set either way). A HINT key's node is its first segment even when the key has more.
 */
int record_key_parse(const char *key, size_t len, struct record_key *k, char *why);

/* An endpoint on another node: the two fields the datapath needs, and its pod for policy. */
struct endpoint_rec {
	__be32			ip;		/* the pod's IPv4 address, network order, never 0 */
	__be32			node_ip;	/* the node it lives on */
	__u64			updated;	/* the writer's "updated", 0 = unknown */
	struct policy_pod	*pod;		/* malloc'ed; NULL when the record names no pod */
};

/* -ENOMEM too; record_endpoint_free() whatever the result. */
int record_endpoint_decode(json_tokener *tok, const char *val, size_t len,
			   struct endpoint_rec *r, char *why);
void record_endpoint_free(struct endpoint_rec *r);

/*
 * A node record in its text forms: nodes/ checks the address and the CIDR (node_record_parse)
 * when the main thread applies it, and its reason is the dead letter's then.
 */
struct node_rec {
	char	*node_ip;	/* "nodeIP" as written (malloc'ed); NULL: missing, not a string */
	char	*pod_cidr;	/* "podCIDR" (malloc'ed); NULL while the node has none */
	__u64	updated;
};

/* name is the key's node; -ENOMEM too. record_node_free() whatever the result. */
int record_node_decode(json_tokener *tok, const char *name, size_t name_len, const char *val,
		       size_t len, struct node_rec *r, char *why);
void record_node_free(struct node_rec *r);

/*
 * A service: its spec, validated by the one service validator (service_spec.c) and checked
 * against the key's "<namespace>/<name>". On 0 the caller owns the spec (service_spec_free()).
 */
int record_service_decode(json_tokener *tok, const char *id, size_t id_len, const char *val,
			  size_t len, struct service_spec *spec, char *why);

/* A node's pressure hint, as `podlanectl hints` shows it (acct/hints.c): parts 0..100. */
struct hint_rec {
	double	score;
	char	dominant[16];	/* "cpu", "cpu_pressure", "runq", "memory" or "traffic" */
	double	cpu, runq, memory, traffic;
	double	cpu_headroom;
	double	cpu_pressure;	/* optional: 0 when the writer did not say */
	double	cpus;		/* optional: CPUs the node may use, 0 = unknown */
	__u64	seq;		/* optional: the writer's accounting tick, 0 = unknown */
	bool	has_pressure;	/* cpu_pressure was given */
	__u64	updated;
};

/* node is the key's node, which "node" must repeat. */
int record_hint_decode(json_tokener *tok, const char *node, size_t node_len, const char *val,
		       size_t len, struct hint_rec *h, char *why);

/*
 * A NetworkPolicy, validated by the one policy validator (policy_spec.c) and checked against
 * the key's "<namespace>/<name>". On 0 the caller owns the spec (policy_spec_free()).
 */
int record_policy_decode(json_tokener *tok, const char *id, size_t id_len, const char *val,
			 size_t len, struct policy_spec *spec, char *why);

/* A pod's labels and named ports; id is the key's "<namespace>/<name>". On 0 the caller owns
 * pod (policy_pod_free()). -ENOMEM too. */
int record_pod_decode(json_tokener *tok, const char *id, size_t id_len, const char *val,
		      size_t len, struct policy_pod *pod, char *why);

/* A namespace's labels, the implied name label added. On 0 policy_namespace_free(). */
int record_namespace_decode(json_tokener *tok, const char *name, size_t name_len,
			    const char *val, size_t len, struct policy_namespace *ns, char *why);

/* Who holds a claimed pod CIDR: node gets the name (PODLANE_NODE_NAME_LEN). */
int record_cidr_decode(json_tokener *tok, const char *val, size_t len, char *node, char *why);

/* The layout version etcd holds: 0 when it is RECORD_LAYOUT_VERSION, else -EPROTONOSUPPORT. */
int record_version_check(const char *val, size_t len, char *why);

/*
 * This node's records out. Keys are written into buf (size n; -ENAMETOOLONG when it does not
 * fit). Values are malloc'ed JSON text without "updated" (NULL: out of memory): what the
 * snapshot wants, compared as text with what etcd holds (record_unstamp()).
 */
int record_node_key(char *buf, size_t n, const char *node);
int record_endpoint_key(char *buf, size_t n, const char *node, const char *container_id,
			const char *ifname);
int record_hint_key(char *buf, size_t n, const char *node);
int record_cidr_key(char *buf, size_t n, const struct subnet4 *cidr);

/* pod_cidr NULL or "": not allocated yet, left out. */
char *record_node_encode(const char *name, __be32 node_ip, const char *pod_cidr);
/* pod NULL: the record names no pod (a pod the runtime gave no Kubernetes name). */
char *record_endpoint_encode(const char *node, __be32 node_ip, __be32 ip,
			     const char *container_id, const char *ifname, const char *network,
			     const struct policy_pod *pod);
/* A pod record's value ({labels, ports}), as record_pod_decode() reads it. */
char *record_pod_encode(const struct policy_pod *pod);
/* Every part rounded to two decimals. */
char *record_hint_encode(const char *node, const struct hint_rec *h);
char *record_cidr_encode(const char *node);

/*
 * What goes to etcd: val (an encoder's output) with "updated": updated_ns as its last member
 * (malloc'ed, *len its length). NULL: val is not a JSON object, or out of memory.
 */
char *record_stamp(json_tokener *tok, const char *val, __u64 updated_ns, size_t *len);
/*
 * What etcd holds, as the encoder would have written it: the value without "updated"
 * (malloc'ed). A value that is not a JSON object gives "", which no encoder writes.
 */
char *record_unstamp(json_tokener *tok, const char *val, size_t len);

#endif /* PODLANED_SYNC_RECORDS_H */
