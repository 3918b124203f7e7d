/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * policy/policy.h - Kubernetes NetworkPolicy on this node: the policies (policy_spec.h), the
 * namespaces' labels, the pods selectors select (this node's, with their host veth, and other
 * nodes' as possible peers) and the identities they get; on every change the whole is compiled
 * again (policy_compile.h) and the difference written to the datapath. policy/ is the one
 * writer of podlane_ipcache, podlane_policy, podlane_ep_policy and podlane_pol_rev
 * (bpf/podlane.h, "network policy"), and expires podlane_pol_ct's idle connections.
 *
 * Writes never show a half-applied change: rule sets are shared by content and written whole
 * before any endpoint points at them; pod identities change in podlane_ipcache before the
 * endpoints move to their new sets, so a packet meets either the old rules or the new ones
 * with the old or new identity, and the mix of the two only ever denies; unused sets go last,
 * and podlane_pol_rev is bumped so the datapath judges its tracked connections again.
 *
 * Room: podlane_policy holds --max-policy-entries entries. A change asked for through the API
 * (a policy, a label, named ports) that needs more than is free is refused, counted, and
 * changes nothing. A change that cannot be refused (a pod wired or removed, another node's pod
 * or node) is applied as far as it fits, and never fails open: a pod direction whose rule set
 * does not fit keeps its old set when that allows no more than the new one would, else denies
 * everything (degraded) until a later change makes room.
 *
 * What podlanectl sets is kept under the state dir (policies/, namespaces/, pods/) and read
 * again at start-up; the maps' entries are adopted when they already say what the state says,
 * so a restart changes nothing the datapath enforces.
 */
#ifndef PODLANED_POLICY_POLICY_H
#define PODLANED_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "labels.h"
#include "podlane.h"
#include "policy_spec.h"

struct agent;
struct api_error;

/* ---- lifecycle (main.c) ---- */

/*
 * Open the maps (after the datapath is loaded) and read the state dir; nothing is written
 * until policy_start(). Fatal when the maps cannot be opened.
 */
int policy_open(struct agent *a);
/*
 * After the endpoints were reconciled (policy_pod_restore) and the nodes read: forget pods
 * whose endpoint is gone, write what the state says, remove what nobody claims.
 */
void policy_start(struct agent *a);
void policy_close(struct agent *a);
/*
 * From the event loop, about once a second: this node's addresses and the allowed connections
 * (podlane_pol_ct, see ctgc.c) are looked at every few.
 */
void policy_tick(struct agent *a);

/* ---- this node's pods (endpoint/) ---- */

/*
 * Whether a pod's names and labels are fine (DNS-1123 label namespace, subdomain name, label
 * keys and values, at most LABEL_SET_MAX): 0, or -1 with e (PODLANE_ERR_INVALID_CONFIG).
 */
int policy_pod_check(const char *ns, const char *name, const struct label_set *labels,
		     struct api_error *e);
/*
 * A pod wired on host veth ifindex (host_ifname) with address addr: it is isolated as the
 * policies say before this returns, from its first packet (its podlane_ep_policy entry is in
 * place). labels is copied. -1 with e when its record or its entry cannot be written.
 */
int policy_pod_add(struct agent *a, __u32 ifindex, const char *host_ifname, __be32 addr,
		   const char *ns, const char *name, const struct label_set *labels,
		   struct api_error *e);
/* Start-up: the endpoint on ifindex (host_ifname, addr) is alive; its record is taken up. */
void policy_pod_restore(struct agent *a, __u32 ifindex, const char *host_ifname, __be32 addr);
/* Whether network policy knows the endpoint on ifindex (an ADD gave it a pod). */
bool policy_pod_known(struct agent *a, __u32 ifindex);
/* The endpoint on ifindex is gone (idempotent; nothing when policy never knew it). */
void policy_pod_del(struct agent *a, __u32 ifindex);

/* ---- other nodes and their pods (nodes/, sync/) ---- */

/* Another node's address: podlane_ipcache says REMOTE_NODE for it. Replaces name's address. */
void policy_node_set(struct agent *a, const char *name, __be32 addr);
void policy_node_del(struct agent *a, const char *name);
/*
 * Another node's pod at addr (replaces what addr had): a peer selectors may select. labels and
 * ports are copied. 0, or -1 with e (a bad name or label: PODLANE_ERR_INVALID_CONFIG).
 */
int policy_remote_pod_set(struct agent *a, const char *ns, const char *name, __be32 addr,
			  const struct label_set *labels, const struct policy_pod_port *ports,
			  unsigned int nports, struct api_error *e);
void policy_remote_pod_del(struct agent *a, __be32 addr);

/* ---- podlanectl (api/) ---- */

/* What policy_apply() did with one policy of a set. */
enum policy_result {
	POLICY_CREATED,
	POLICY_REPLACED,
	POLICY_UNCHANGED,
};
const char *policy_result_name(enum policy_result r);

/*
 * Add the policies of set, each replacing the one of its namespace/name: all or nothing, and
 * persisted. set's policies are taken over (set is emptied, on error too). ids[i] and res[i]
 * (set->n of each) say what became of set->items[i]. -1 with e: PODLANE_ERR_MAP_FULL (no room,
 * the message says how much is needed and free), PODLANE_ERR_IO (state dir), nothing changed.
 */
int policy_apply(struct agent *a, struct policy_set *set, __u32 *ids, enum policy_result *res,
		 struct api_error *e);
/* Delete "namespace/name": its id in *id; PODLANE_ERR_NOT_FOUND in e. */
int policy_delete(struct agent *a, const char *ns, const char *name, __u32 *id,
		  struct api_error *e);

/* A policy as the agent holds it, for a callback. */
struct policy_view {
	__u32 id;
	const struct policy_spec *spec;
	unsigned int pods;		/* this node's pods it selects */
	unsigned long entries;		/* podlane_policy entries naming it */
};

typedef int (*policy_view_cb)(const struct policy_view *v, void *data);
/* cb for policies [offset, offset + limit) by id: 0, cb's non-zero return, or -ENOMEM. */
int policy_walk(struct agent *a, unsigned long offset, unsigned long limit, policy_view_cb cb,
		void *data);
/* cb for "namespace/name": its return, or -ENOENT. */
int policy_get(struct agent *a, const char *ns, const char *name, policy_view_cb cb, void *data);
unsigned int policy_count(struct agent *a);

/* A label change: value NULL removes key. */
struct policy_label_change {
	const char *key;
	const char *value;
};

/*
 * Label changes of every interface of this node's pod ns/name, or its named ports (replaced),
 * or a namespace's labels: the affected pods are judged again, persisted. -1 with e:
 * PODLANE_ERR_NOT_FOUND (no such pod here), PODLANE_ERR_INVALID_CONFIG (a bad label or port,
 * with what is wrong), PODLANE_ERR_MAP_FULL, PODLANE_ERR_IO; nothing changed.
 */
int policy_pod_label(struct agent *a, const char *ns, const char *name,
		     const struct policy_label_change *ch, unsigned int n, struct api_error *e);
int policy_pod_ports(struct agent *a, const char *ns, const char *name,
		     const struct policy_pod_port *ports, unsigned int n, struct api_error *e);
int policy_ns_label(struct agent *a, const char *ns, const struct policy_label_change *ch,
		    unsigned int n, struct api_error *e);

/* A pod as policy holds it, for a callback. */
struct policy_pod_view {
	const struct policy_pod *meta;
	__be32 addr;
	bool local;
	__u32 ifindex;			/* local pods */
	__u32 identity;
	__u32 flags;			/* PODLANE_POL_F_* */
	__u32 ingress_set, egress_set;	/* 0 when not isolated that way */
	bool degraded;
};

typedef int (*policy_pod_cb)(const struct policy_pod_view *v, void *data);
/* cb for pods [offset, offset + limit), local ones first; 0 or cb's return. */
int policy_pod_walk(struct agent *a, unsigned long offset, unsigned long limit,
		    policy_pod_cb cb, void *data);
/* cb for each interface of this node's pod ns/name; -ENOENT when there is none. */
int policy_pod_get(struct agent *a, const char *ns, const char *name, policy_pod_cb cb,
		   void *data);
unsigned int policy_pod_count(struct agent *a);

/* A namespace: labeled, named by a pod, or holding a policy. */
struct policy_ns_view {
	const struct policy_namespace *ns;	/* labels with the implied name label */
	unsigned int pods;
	unsigned int policies;
};

typedef int (*policy_ns_cb)(const struct policy_ns_view *v, void *data);
/* cb for namespaces [offset, offset + limit) by name; 0, cb's return or -ENOMEM. */
int policy_ns_walk(struct agent *a, unsigned long offset, unsigned long limit, policy_ns_cb cb,
		   void *data);
int policy_ns_get(struct agent *a, const char *ns, policy_ns_cb cb, void *data);
unsigned int policy_ns_count(struct agent *a);

/* ---- names, for the flow log (flows/) ---- */

/*
 * What flows/ names a record's sides and policy by, at the time it reads the record: the
 * "namespace/name" of policy id, and of the pod (this node's or another's) holding addr.
 * 0 with the name in buf, or -ENOENT. A linear look over the pods: a record costs O(pods).
 */
int policy_name_of(struct agent *a, __u32 id, char *buf, size_t len);
int policy_pod_name_of(struct agent *a, __be32 addr, char *buf, size_t len);

/* ---- figures (status, metrics) ---- */

struct policy_stats {
	__u32 max_entries;		/* podlane_policy's size */
	__u32 entries;			/* in use */
	unsigned int rule_sets;
	unsigned int identities;
	unsigned int policies;
	unsigned int pods_local, pods_remote;
	unsigned int degraded;		/* pod directions that deny all for want of room */
	__u64 refused;			/* changes refused for room */
	__u64 syncs;			/* compilations written */
	__u64 sync_failures;		/* compilations that failed (memory) */
	__u64 last_sync_us;		/* how long the last one took */
	__u64 writes_ipcache, writes_policy, writes_ep_policy;	/* map updates and deletes */
	__u32 revision;			/* podlane_pol_rev */
	__u64 ct_live;			/* podlane_pol_ct at the last collector pass */
	__u32 ct_max;
	__u64 ct_expired;		/* connections the collector deleted */
	__u32 ipcache_entries, ipcache_max;	/* podlane_ipcache as written, its size */
};

void policy_stats(struct agent *a, struct policy_stats *s);
/* podlane_pol_stat summed over CPUs (PODLANE_POL_STAT_SLOTS): 0 or -errno. */
int policy_datapath_stats(struct agent *a, __u64 sum[PODLANE_POL_STAT_SLOTS]);

#endif /* PODLANED_POLICY_POLICY_H */
