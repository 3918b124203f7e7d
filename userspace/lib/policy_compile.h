/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * policy_compile.h - from NetworkPolicies and what selectors select (namespaces and pods with
 * their labels and named ports) to what the datapath enforces (bpf/podlane.h, "network
 * policy"): each local pod's rule set per direction, as entries {peer id, protocol, port
 * range, policy, rule}, and the CIDR ids of ipBlock prefixes. Pure functions, no I/O, no
 * globals: podlaned's policy/ module keeps the state, gives identities and rule set ids, and
 * writes the maps; tests and fuzzers call this directly.
 *
 * Identities are the caller's: it gives each distinct policy_identity_key() a number
 * (PODLANE_ID_POD_BASE and up) and keeps it while a pod has that key, so ipcache entries do
 * not churn. The compiler only reads them.
 *
 * Semantics (Kubernetes, as policy_spec.h documents each field):
 *   - a pod is isolated for a direction when a policy of its namespace selects it and has that
 *     direction in policyTypes; then only the union of those policies' rules of that direction
 *     allows; a pod no policy isolates gets no rule set (flags without that direction);
 *   - a rule allows a peer x port when any of its peers selects the peer (npeers 0: any peer,
 *     PODLANE_ID_ANY) and any of its ports allows the port (nports 0: any protocol and port);
 *   - pod and namespace selectors are evaluated against every identity the world holds (local
 *     and remote pods): one entry per matching identity;
 *   - an ipBlock gives one entry per CIDR id whose prefix lies in its cidr and in none of its
 *     excepts (see bpf/podlane.h: the most specific prefix holding an address decides);
 *   - a named port resolves, on ingress, against the pod the rule set is for, and on egress
 *     against each destination identity (whose key includes its named ports, so pods sharing an
 *     identity agree); a named port with an ipBlock or any-peer destination on egress resolves
 *     per pod identity that has it (per pod, by its /32's CIDR id, where a block holds some
 *     pods of an identity and not others); where nothing has the name, it allows nothing.
 */
#ifndef PODLANE_POLICY_COMPILE_H
#define PODLANE_POLICY_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "policy_spec.h"

/* A pod the node knows: its own (local: gets rule sets) or another node's (a possible peer). */
struct pc_pod {
	const struct policy_pod	*meta;		/* namespace, name, labels, named ports */
	__be32			addr;		/* IPv4, network order */
	__u32			id;		/* the caller's identity for policy_identity_key() */
	__u32			ifindex;	/* local pods: host veth; remote: 0 */
	bool			local;
};

/* A policy with the caller's id for it (1 and up; the flow log names it by this id). */
struct pc_policy {
	const struct policy_spec *spec;
	__u32			id;
};

/* Everything the compiler reads. Namespaces a pod names but that are not listed have only the
 * implied kubernetes.io/metadata.name label. */
struct pc_world {
	const struct policy_namespace	*namespaces;
	unsigned int			nnamespaces;
	const struct pc_pod		*pods;
	unsigned int			npods;
	const struct pc_policy		*policies;
	unsigned int			npolicies;
};

/* One allowing entry of a rule set; ports lo..hi inclusive (0..65535 with proto 0: all). */
struct pc_entry {
	__u32	peer;		/* identity, CIDR id or PODLANE_ID_ANY */
	__u8	proto;		/* IPPROTO_TCP/UDP/SCTP, 0 = any protocol (then lo 0, hi 65535) */
	__u16	port_lo;
	__u16	port_hi;
	__u32	policy;		/* pc_policy.id */
	__u16	rule;		/* index in the policy's ingress or egress list */
};

/* What one direction of one pod enforces. Entries sorted (policy_entry_cmp), one per {peer,
 * proto, port range} (the lowest policy and rule kept); one rule's ranges that touch merged. */
struct pc_rule_set {
	struct pc_entry	*entries;
	unsigned int	n;
	__u32		policy;	/* the lowest id of the policies that isolate: flow log */
};

/* A local pod's result: which directions are isolated, and the rule set of each. */
struct pc_endpoint {
	__u32			ifindex;
	__u32			id;		/* the pod's own identity */
	__u32			flags;		/* PODLANE_POL_F_INGRESS, PODLANE_POL_F_EGRESS */
	struct pc_rule_set	ingress;
	struct pc_rule_set	egress;
};

/* An ipBlock prefix and its CIDR id (PODLANE_ID_CIDR_BASE + index in the sorted list). */
struct pc_cidr {
	struct policy_cidr	cidr;
	__u32			id;
};

struct pc_result {
	struct pc_endpoint	*endpoints;	/* one per local pod, in the world's order */
	unsigned int		nendpoints;
	struct pc_cidr		*cidrs;		/* every distinct IPv4 cidr and except, sorted;
						 * also the /32 of a pod that an egress ipBlock
						 * with a named port must tell apart from pods
						 * of its identity outside the block */
	unsigned int		ncidrs;
	size_t			nentries;	/* entries over all rule sets, before sharing */
};

/*
 * Compile the world. 0, -ENOMEM, or -E2BIG when one rule set would need more than max_entries
 * podlane_policy entries, i.e. distinct {peer, protocol, port prefix} keys (err says which pod
 * and direction). result is zeroed on error and holds nothing to free.
 * IPv6 ipBlocks are kept out of cidrs (the datapath is IPv4 today) and allow nothing.
 */
int policy_compile(const struct pc_world *world, size_t max_entries, struct pc_result *result,
		   char *err, size_t errlen);
void policy_result_free(struct pc_result *result);

/* The CIDR id of the most specific prefix in result->cidrs holding addr (IPv4, network
 * order), 0 when none does: what podlane_ipcache carries for a pod's or node's address. */
__u32 policy_cidr_id_of(const struct pc_result *result, __be32 addr);

/* A pod's identity key, "ns\n" + sorted labels + sorted named ports, NUL-terminated, malloc'ed
 * (NULL on ENOMEM): equal keys, equal selection and named-port resolution. */
char *policy_identity_key(const struct policy_pod *pod);

/* Order of entries in a rule set; two rule sets are equal when their sorted entries are. */
int policy_entry_cmp(const struct pc_entry *a, const struct pc_entry *b);
bool policy_rule_set_equal(const struct pc_rule_set *a, const struct pc_rule_set *b);
/* A hash of a rule set's entries (for sharing rule sets between pods). */
__u64 policy_rule_set_hash(const struct pc_rule_set *set);

/*
 * A port range as podlane_policy's LPM prefixes: fills out[i] = {port, bits} (bits 0..16 of
 * the port that must match), at most 32, and returns how many. lo <= hi.
 */
struct pc_port_prefix {
	__u16	port;
	__u8	bits;
};
#define PC_PORT_PREFIX_MAX	32
unsigned int policy_port_prefixes(__u16 lo, __u16 hi, struct pc_port_prefix *out);

#endif /* PODLANE_POLICY_COMPILE_H */
