/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * policy/policy_int.h - what the files of policy/ share and nothing outside sees: struct
 * pol_state (agent.policy) and each file's functions for the others.
 *
 *   policy.c   policies (apply, delete), this node's addresses, start-up and teardown
 *   pods.c     pods (this node's by host veth, other nodes' by address), the identities
 *              they share, other nodes' addresses
 *   labels.c   pods' labels and named ports, namespaces' labels
 *   views.c    what the API and metrics read: pages of policies, pods, namespaces; names;
 *              counters
 *   apply.c    a change from state to maps: compile, plan the rule sets of every endpoint,
 *              check the room, write in the order that never shows a half-applied change
 *   sets.c     rule sets: expanded to podlane_policy entries, shared by content, adopted
 *              from the map at start-up
 *   maps.c     the one writer of podlane_ipcache, podlane_policy, podlane_ep_policy and
 *              podlane_pol_rev: every system call on them is here
 *   ctgc.c     the collector of podlane_pol_ct (the datapath writes it, podlaned expires)
 *   store.c    what the cluster store (etcd, through sync/) says: policies, namespaces, pod
 *              records, other nodes' pods, each with the resync generation that last saw it
 *   state.c    <state-dir>/policies/, namespaces/ and pods/
 */
#ifndef PODLANED_POLICY_INT_H
#define PODLANED_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <json-c/json.h>

#include "podlane.h"
#include "policy/policy.h"
#include "policy_compile.h"
#include "policy_spec.h"

struct api_error;

/* ---- identities ---- */

struct pol_ident {
	char *key;			/* policy_identity_key() */
	__u32 id;
	unsigned int refs;		/* pods with this key */
	struct pol_ident *next;		/* hash chain */
};

/* ---- rule sets (sets.c) ---- */

/* One podlane_policy entry of a set: the key without its set id, and the value. */
struct set_ent {
	__u32 peer;			/* host order */
	__u16 port;			/* host order, bits past the prefix zero */
	__u8 proto;
	__u8 prefixlen;			/* 64, 72 or 72 + port bits */
	struct policy_entry val;
};

struct pol_set {
	__u32 id;
	struct set_ent *ents;		/* sorted by key, one per key */
	unsigned int n;
	__u64 hash;
	unsigned int refs;		/* endpoint directions pointing at it */
	bool written;			/* all its entries are in podlane_policy */
	bool admitted;			/* planned: fits the room of the change being applied */
	struct pol_set *next;		/* hash chain */
};

/* ---- pods, namespaces, policies (policy.c, pods.c, labels.c) ---- */

struct pol_pod {
	struct policy_pod meta;
	__be32 addr;
	bool local;
	bool claimed;			/* start-up: its endpoint was found (local) */
	__u32 ifindex;			/* local: host veth */
	char host_ifname[PODLANE_IFNAME_LEN];
	struct pol_ident *ident;
	/* apply.c: what the datapath has for it */
	struct pol_set *set[2];		/* [0] ingress, [1] egress; NULL: not isolated */
	__u32 flags;			/* PODLANE_POL_F_* */
	__u32 policy[2];		/* the isolating policy per direction */
	bool degraded[2];
	bool ep_written;		/* ep (below) is in podlane_ep_policy */
	struct ep_policy ep;
	__u32 store_gen;		/* remote: the resync generation that last saw it */
	__be32 node_ip;			/* remote, from the store: the node it lives on */
	unsigned int slot;		/* remote: its index in pol_state.pods */
	struct pol_pod *rnext;		/* remote: chain of pol_state.remote_by_addr */
};

/*
 * Namespaces and policies come from podlanectl or from the cluster store (store: true). The
 * store's are kept under the state dir too, marked so, as a cache: a restart enforces them
 * until the store's first full list confirms (store_gen) or sweeps them.
 */
struct pol_ns {
	struct policy_namespace ns;	/* with the implied name label */
	bool store;
	__u32 store_gen;
};

struct pol_policy {
	struct policy_spec spec;
	__u32 id;
	bool store;
	__u32 store_gen;
};

/* A pod record of the store (/podlane/v1/pods/<ns>/<name>): the labels and named ports of
 * this node's pod of that name, now or when it comes. */
struct pol_podrec {
	struct policy_pod meta;
	__u32 gen;
	struct pol_podrec *next;	/* hash chain */
};

#define POL_PODREC_BUCKETS	4096

/* A node address (this node's: HOST, another's: REMOTE_NODE). */
struct pol_node {
	char name[64];
	__be32 addr;
};

#define POL_IDENT_BUCKETS	1024
#define POL_REMOTE_BITS		12	/* other nodes' pods by address: 4096 chains */
#define POL_SET_BUCKETS		1024

/* An ipBlock prefix with the stable CIDR id the datapath knows it by. */
struct pol_cidr {
	__be32 addr;
	__u8 plen;
	bool used;			/* by the change being applied */
	__u32 id;
};

/* A pod record read at start-up, waiting for its endpoint (policy_pod_restore). */
struct pol_pending {
	char host_ifname[PODLANE_IFNAME_LEN];
	struct policy_pod meta;
};

/* podlane_ipcache as written: sorted by (prefixlen, addr). */
struct ipc_ent {
	struct ipcache_key key;
	struct ipcache_value val;
};

/* Everything policy/ owns; agent.policy points here. */
struct pol_state {
	/* maps.c */
	int ipcache_fd, policy_fd, ep_fd, rev_fd, stat_fd;
	__u32 max_entries;		/* podlane_policy's */
	__u32 ipcache_max;		/* podlane_ipcache's */
	/* ctgc.c */
	int ct_fd;			/* podlane_pol_ct */
	__u32 ct_max;
	__u64 ct_live, ct_expired;	/* kept by the last pass, deleted ever */
	struct ipc_ent *ipc;		/* podlane_ipcache as written */
	size_t nipc;

	/* policy.c, pods.c, labels.c */
	struct pol_policy **policies;	/* by id */
	unsigned int npolicies;
	__u32 next_policy_id;
	struct pol_ns **nss;		/* the namespaces with labels of their own, by name */
	unsigned int nnss;
	struct pol_pod **pods;		/* local ones, then remote ones */
	unsigned int npods, nlocal;
	struct pol_pod *remote_by_addr[1 << POL_REMOTE_BITS];
	struct pol_ident *idents[POL_IDENT_BUCKETS];
	unsigned int nidents;
	__u32 next_ident;
	bool idents_wrapped;
	struct pol_node *remote_nodes;
	unsigned int nremote_nodes;
	struct pol_pending *pending;	/* start-up: pod records whose endpoint is not seen yet */
	unsigned int npending;
	struct pol_podrec *podrecs[POL_PODREC_BUCKETS];	/* store.c: the store's pod records */
	unsigned int npodrecs;
	unsigned int batch;		/* store.c: inside a batch of the store's records */
	bool batch_dirty;		/* ... and a change in it waits for its pol_sync() */
	bool listing;			/* a full list is on: policies wait for the batch's end */
	bool remote_dirty;		/* other nodes' pods changed since the cache was written */
	struct pol_cidr *cidrs;		/* sorted by (plen, addr) */
	unsigned int ncidrs;
	__u32 next_cidr_id;
	__be32 *host_addrs;		/* this node's addresses, sorted */
	unsigned int nhost_addrs;
	unsigned int ticks;
	bool started;			/* policy_start() ran: changes go to the maps */

	/* start-up: what the maps held before (sets.c, maps.c) */
	struct ep_orphans *orphans;	/* policy_start()'s walk */
	struct old_ident {
		__be32 addr;
		__u32 id;
	} *old_idents;
	size_t nold_idents;

	/* sets.c */
	struct pol_set *sets[POL_SET_BUCKETS];
	unsigned int nsets;
	__u32 next_set_id;
	bool set_ids_wrapped;
	__u32 used;			/* podlane_policy entries written */

	/* figures */
	__u32 revision;
	__u64 refused, syncs, sync_failures, last_sync_us;
	__u64 writes_ipcache, writes_policy, writes_ep;
};

/* ---- policy.c, pods.c, labels.c ---- */
/* The namespace's own record, NULL when it has no labels of its own. */
struct pol_ns *pol_ns_find(struct pol_state *s, const char *name);
struct pol_policy *pol_policy_find(struct pol_state *s, const char *ns, const char *name);

/* Local pods ns/name get these labels and named ports (copied); those that already have them
 * are left alone. The change is refused as a whole (what names it, e says why) and nothing
 * changes, or 0 (also when no pod of this node has that name). */
int pol_pods_set_meta(struct agent *a, const char *ns, const char *name,
		      const struct label_set *labels, const struct policy_pod_port *ports,
		      unsigned int nports, const char *what, struct api_error *e);
/* Another node's pod at addr with this metadata (copied); sync: pol_sync() now, else the
 * caller's. The pod, or NULL (e). */
struct pol_pod *pol_remote_set(struct agent *a, const struct policy_pod *meta, __be32 addr,
			       bool sync, struct api_error *e);
/* Remove another node's pod at addr; true when there was one. sync as above. */
bool pol_remote_del(struct agent *a, __be32 addr, bool sync);
struct pol_pod *pol_remote_find(struct pol_state *s, __be32 addr);
/* Insert or remove a namespace's record (sorted by name). */
int pol_nss_insert(struct pol_state *s, struct pol_ns *ns);
void pol_nss_remove(struct pol_state *s, struct pol_ns *ns);
void pol_ns_free(struct pol_ns *ns);
void pol_policy_free(struct pol_policy *p);
bool pol_meta_equal(const struct policy_pod *a, const struct policy_pod *b);

/* ---- the pod table (pods.c) ---- */
/* This node's pod on host veth ifindex (its index in s->pods in *idx when not NULL), or NULL. */
struct pol_pod *pol_pod_by_ifindex(struct pol_state *s, __u32 ifindex, unsigned int *idx);
bool pol_pod_is(const struct pol_pod *p, const char *ns, const char *name);
/* Free a pod out of the table, with its identity reference and metadata. */
void pol_pod_free(struct pol_state *s, struct pol_pod *p);
/* meta = {ns, name, labels, ports}, copied; -ENOMEM (meta freed). */
int pol_meta_init(struct policy_pod *meta, const char *ns, const char *name,
		  const struct label_set *labels, const struct policy_pod_port *ports,
		  unsigned int nports);
/* "pod ns/name<part>", what a refusal names. */
void pol_what_pod(char *out, size_t len, const char *ns, const char *name, const char *part);

/* ---- store.c ---- */
struct pol_podrec *pol_podrec_find(struct pol_state *s, const char *ns, const char *name);
void pol_podrecs_free(struct pol_state *s);

/* ---- identities (pods.c) ---- */
/* The identity of pod's metadata, created on first use; NULL on ENOMEM. A reference. */
struct pol_ident *pol_ident_get(struct agent *a, const struct policy_pod *meta, __be32 addr);
void pol_ident_put(struct pol_state *s, struct pol_ident *id);

/* ---- apply.c ---- */
/*
 * Compile the state and write the difference. what names the change for a refusal ("policy
 * x/y", "pod x/y's labels"); refusable: a change that does not fit is refused (-1, e:
 * PODLANE_ERR_MAP_FULL) and nothing is written, else it is applied as far as it fits (see
 * policy.h). Also -1 with e when the compiler fails and the change is refusable; otherwise a
 * failed compile denies all in every direction a policy isolates (fail closed) until the
 * next change compiles.
 */
int pol_sync(struct agent *a, const char *what, bool refusable, struct api_error *e);
/* Order of struct pol_cidr: prefix length, then address. */
int pol_cidr_cmp(const void *x, const void *y);
/* Remove pod's podlane_ep_policy entry now (its endpoint is gone). */
void pol_ep_forget(struct agent *a, struct pol_pod *p);

/* ---- sets.c ---- */
/*
 * A pc_rule_set as podlane_policy entries: *out malloc'ed, sorted, one per key. The
 * compiler's CIDR ids (PODLANE_ID_CIDR_BASE + i) become cidr_ids[i]. 0 or -ENOMEM.
 */
int set_expand(const struct pc_rule_set *rs, const __u32 *cidr_ids, unsigned int ncidr,
	       struct set_ent **out, unsigned int *n);
/*
 * The set with these entries (taken over: freed when one exists), found or created unwritten;
 * NULL on ENOMEM (ents freed).
 */
struct pol_set *set_intern(struct pol_state *s, struct set_ent *ents, unsigned int n);
struct pol_set *set_find_id(struct pol_state *s, __u32 id);
/* Start-up: an endpoint points at set id, which has no entry: the empty set. NULL: ENOMEM. */
struct pol_set *set_adopt_empty(struct pol_state *s, __u32 id);
/* Whether every key of a is one of b's (a allows no more than b). */
bool set_keys_subset(const struct pol_set *a, const struct pol_set *b);
/* Write the set's entries; -errno (entries written so far removed again). */
int set_write(struct agent *a, struct pol_set *set);
/* Remove the sets no endpoint points at, from the map and from memory. */
void set_sweep(struct agent *a);
/* Start-up: the sets podlane_policy holds, unreferenced until a plan adopts them. */
int set_adopt_map(struct agent *a);
void sets_free(struct pol_state *s);
/* Entries per policy id over the written sets: counts[i] for ids[i] (sorted ascending). */
void set_count_by_policy(struct pol_state *s, const __u32 *ids, unsigned long *counts,
			 unsigned int n);

/* ---- ctgc.c ---- */
#define POL_CT_GC_EVERY		10	/* ticks between passes over podlane_pol_ct */
/* One pass: delete the allowed connections idle past their lifetime. */
void pol_ct_gc(struct agent *a);

/* ---- maps.c ---- */
int maps_open(struct agent *a);
void maps_close(struct pol_state *s);
int map_policy_put(struct agent *a, __u32 set, const struct set_ent *e);
int map_policy_del(struct agent *a, __u32 set, const struct set_ent *e);
typedef int (*map_policy_cb)(__u32 set, const struct set_ent *e, void *data);
int map_policy_walk(struct agent *a, map_policy_cb cb, void *data);
int map_ep_put(struct agent *a, __u32 ifindex, const struct ep_policy *v);
void map_ep_del(struct agent *a, __u32 ifindex);
typedef void (*map_ep_cb)(__u32 ifindex, const struct ep_policy *v, void *data);
void map_ep_walk(struct agent *a, map_ep_cb cb, void *data);
/*
 * Make podlane_ipcache hold want (sorted, unique keys) in two steps: put what is new or
 * different, then (after the endpoints moved) delete what want lacks; prune takes want over
 * as the new mirror.
 */
int map_ipcache_put(struct agent *a, const struct ipc_ent *want, size_t n);
void map_ipcache_prune(struct agent *a, struct ipc_ent *want, size_t n);
/* Read podlane_ipcache into s->ipc (start-up). */
int map_ipcache_load(struct agent *a);
int ipc_cmp(const void *x, const void *y);
void map_rev_bump(struct agent *a);
int map_stat_read(struct agent *a, __u64 sum[PODLANE_POL_STAT_SLOTS]);

/* ---- state.c ---- */
/*
 * Each record is written to <file><suffix>: "" at once, ".tmp" before the maps change, then
 * _commit() renames it to the file, or _remove(..., ".tmp") drops it. PODLANE_ERR_IO in e.
 */
/* A record of the store's policies and namespaces says "source": "etcd". */
int record_policy_write(struct agent *a, const struct pol_policy *p, const char *suffix,
		       struct api_error *e);
void record_policy_commit(struct agent *a, const struct pol_policy *p);
void record_policy_remove(struct agent *a, const char *ns, const char *name, const char *suffix);
int record_ns_write(struct agent *a, const struct pol_ns *ns, const char *suffix,
		   struct api_error *e);
void record_ns_commit(struct agent *a, const char *name);
void record_ns_remove(struct agent *a, const char *name, const char *suffix);
int record_pod_write(struct agent *a, const struct pol_pod *p, const char *suffix,
		    struct api_error *e);
void record_pod_commit(struct agent *a, const char *host_ifname);
void record_pod_remove(struct agent *a, const char *host_ifname, const char *suffix);
/*
 * Other nodes' pods (from the store), all of them in <state-dir>/remote-pods.json, so that a
 * restart keeps their identities until the store's first full list: written whole (a
 * temporary file renamed) at most every POL_REMOTE_CACHE_EVERY ticks while they change, and
 * at close. _load calls cb for each (meta taken over).
 */
#define POL_REMOTE_CACHE_EVERY	5
int record_remote_write(struct agent *a);
void record_remote_load(struct agent *a, void (*cb)(struct agent *a, struct policy_pod *meta,
						   __be32 addr, __be32 node_ip));
/* Read every record: the callbacks take what they are given over. */
void record_load(struct agent *a,
		void (*policy)(struct agent *a, struct policy_spec *spec, __u32 id, bool store),
		void (*ns)(struct agent *a, const char *name, struct label_set *labels,
			   bool store),
		void (*pod)(struct agent *a, const char *host_ifname, struct policy_pod *meta));
/* Named ports from JSON [{name, protocol, port}]; -EINVAL with err, or -ENOMEM. */
int pol_ports_parse(struct json_object *arr, const char *where, struct policy_pod_port **out,
		    unsigned int *n, char *err, size_t errlen);
void policy_pod_ports_free(struct policy_pod_port *v, unsigned int n);

#endif /* PODLANED_POLICY_INT_H */
