/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * flows/flows.h - the flow log. podlaned is the one consumer of podlane_events, the ring buffer
 * every tc and XDP program reports on (bpf/podlane.h: struct flow_event for network policy,
 * struct drop_event for every dropped packet). A ring buffer has one consumer position, so two
 * readers would each see part of the stream: the agent reads it from its event loop and keeps
 * the records for everyone else (`podlanectl observe`, and `podlanectl monitor` while the agent
 * is up), through the API (api/flow_ops.c).
 *
 * Each record is named when it is read: the pod on each side ("namespace/name", from policy/),
 * "node", "remote-node" or "world" from the identities the datapath found, and the policy
 * behind the verdict. Names are interned and counted by the records holding them, so a record
 * keeps naming a pod or a policy after it is gone.
 *
 * The records are kept in a ring of --flow-log-size entries (FLOWS_DEFAULT_SIZE), allocated at
 * start-up: sizeof(struct flow_view) bytes each (88 on x86-64), plus the distinct names in use
 * (at most three per record, in practice a few per pod and policy). A full ring drops its
 * oldest record. Every record has a sequence number (1, 2, ... for the agent's lifetime), so a
 * reader continues where it stopped and learns how many it missed when the ring overtook it.
 *
 * Records lost before the agent saw them are counted by the datapath per CPU
 * (podlane_pol_stat, PODLANE_POL_STAT_EVENTS_LOST: flow records the ring buffer had no room
 * for); flows_lost_percpu() reads them. Drop events that found the ring buffer full are not
 * counted there (the drop counters, podlane_drops, still have every drop).
 */
#ifndef PODLANED_FLOWS_FLOWS_H
#define PODLANED_FLOWS_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "podlane.h"

struct agent;

#define FLOWS_DEFAULT_SIZE	4096		/* --flow-log-size */
#define FLOWS_MAX_SIZE		(1U << 20)

/* What a record is. */
enum flows_kind {
	FLOWS_POLICY	= 1,	/* struct flow_event: a policy verdict */
	FLOWS_DROP	= 2,	/* struct drop_event: a dropped packet, any reason */
};

/* Verdicts: PODLANE_FLOW_ALLOWED and PODLANE_FLOW_DENIED (enum flow_verdict), and: */
#define FLOWS_DROPPED	3	/* dropped for a reason other than network policy */

/* One record as kept. Names are NULL when nothing was known (print the address). */
struct flow_view {
	__u64	seq;
	__s64	real_ns;	/* wall clock (CLOCK_REALTIME) of the event */
	__u8	kind;		/* enum flows_kind */
	__u8	verdict;	/* PODLANE_FLOW_ALLOWED, PODLANE_FLOW_DENIED, FLOWS_DROPPED */
	__u8	dir;		/* enum flow_dir; 0 for drop records */
	__u8	hook;		/* enum podlane_hook */
	__u8	proto;		/* IP protocol */
	__u16	eth_proto;	/* drop records: host order; 0x0800 for policy records */
	__u16	rule;		/* PODLANE_POLICY_NO_RULE when no rule decided */
	__be32	saddr, daddr;
	__be16	sport, dport;	/* 0 for drop records (a drop event carries no ports) */
	__s32	reason;		/* 0 or enum podlane_drop_reason */
	__u32	ifindex;	/* the judged endpoint's veth, or the device the drop was on */
	__u32	len;		/* drop records: the packet's length */
	__u32	src_id, dst_id;	/* policy records: identities */
	__u32	policy;		/* policy records: id, 0 = none */
	const char *src;	/* "ns/name", "node", "remote-node", "world" */
	const char *dst;
	const char *policy_name; /* "ns/name" of policy when it was known at read time */
};

/* A filter, as `podlanectl observe` and `monitor` ask; zero = everything observe shows. */
struct flow_filter {
	unsigned int	verdicts;	/* bits 1 << verdict; 0 = any */
	bool		drops;		/* monitor: drop records only, policy drops included;
					 * otherwise policy records, and drop records whose
					 * reason is not a policy one (the policy record says it) */
	const char	*from_pod;	/* "ns/name" of the source */
	const char	*to_pod;
	const char	*ns;		/* a pod of this namespace on either side */
	bool		has_ip;
	__be32		ip;		/* either address */
	bool		has_port;
	__u16		port;		/* either port */
	bool		has_proto;
	__u8		proto;
};

int flows_open(struct agent *a);	/* after policy_open() */
void flows_close(struct agent *a);
/* The fd the event loop watches (readable when records wait), -1 when there is none. */
int flows_fd(struct agent *a);
/* Read what waits, up to a budget; returns how many records were read. */
int flows_run(struct agent *a);

bool flows_match(const struct flow_filter *f, const struct flow_view *v);

typedef int (*flows_cb)(const struct flow_view *v, void *data);
/* cb for kept records with after < seq <= until, oldest first: 0 or cb's non-zero return. */
int flows_walk(struct agent *a, __u64 after, __u64 until, flows_cb cb, void *data);
/* cb for kept records with seq <= until, newest first. */
int flows_walk_back(struct agent *a, __u64 until, flows_cb cb, void *data);

struct flows_stats {
	unsigned int	capacity;	/* --flow-log-size */
	unsigned int	kept;
	__u64		oldest, newest;	/* sequence numbers; 0 when none */
	__u64		read[3];	/* records read by enum flows_kind ([0]: not understood) */
	__u64		evicted;	/* records the full ring dropped */
	size_t		record_bytes;	/* the ring */
	unsigned int	names;		/* interned names in use */
	size_t		name_bytes;
};

void flows_stats(struct agent *a, struct flows_stats *st);
/*
 * podlane_pol_stat's PODLANE_POL_STAT_EVENTS_LOST per CPU into v[0..n) (n from a->ncpus):
 * flow records the datapath could not queue. 0 or -errno.
 */
int flows_lost_percpu(struct agent *a, __u64 *v, unsigned int n);

/*
 * Policy verdicts the log read, by policy, direction and verdict: allowed ones count new
 * connections (one record each), denied ones packets. policy NULL: none (ingress from this
 * node, allowed whatever the policies say).
 */
typedef void (*flows_verdict_cb)(const char *policy, __u32 id, __u8 dir, __u8 verdict,
				 __u64 n, void *data);
void flows_verdicts(struct agent *a, flows_verdict_cb cb, void *data);

#endif /* PODLANED_FLOWS_FLOWS_H */
