// SPDX-License-Identifier: GPL-2.0-only
/*
 * flows/flows.c - the flow log (flows.h): podlane_events read from the agent's event loop,
 * each record named through policy/ as it is read, kept in a fixed ring; the names interned;
 * policy verdicts counted for metrics.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "core/agent.h"
#include "datapath/loader.h"
#include "flows/flows.h"
#include "log.h"
#include "policy/policy.h"

#define NAME_BUCKETS		1024
#define VERDICT_BUCKETS		256
/*
 * Records read per flows_run(): the loop serves requests between batches, and a flood of drops
 * cannot hold it (the ring buffer stays readable, so the loop comes straight back).
 */
#define RUN_BUDGET		8192
#define NAME_MAX_LEN		(63 + 1 + 253)	/* namespace/name */

/* An interned name; records point at s. */
struct flow_name {
	struct flow_name *next;
	unsigned int refs;
	unsigned int hash;
	char s[];
};

/* Policy verdicts by {policy, direction, verdict}. */
struct verdict_count {
	struct verdict_count *next;
	__u32 policy;
	__u8 dir, verdict;
	__u64 n;
	const char *name;	/* interned; NULL for policy 0 */
};

struct flows {
	int events_fd;		/* podlane_events: its one consumer */
	int stat_fd;		/* podlane_pol_stat, read-only */
	struct ring_buffer *rb;
	struct flow_view *ring;
	unsigned int cap;
	unsigned int kept;
	__u64 next_seq;		/* the next record's; kept ones are [next_seq - kept, next_seq) */
	__s64 mono_to_real;	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC */
	unsigned int budget;	/* records this run may still read */
	struct flow_name *names[NAME_BUCKETS];
	unsigned int nnames;
	size_t name_bytes;
	struct verdict_count *verdicts[VERDICT_BUCKETS];
	__u64 read[3], evicted;
};

/* ---- names ---- */

static unsigned int str_hash(const char *str)
{
	unsigned int h = 2166136261u;

	while (*str)
		h = (h ^ (unsigned char)*str++) * 16777619u;
	return h;
}

/* The interned copy of str, with a reference; NULL on ENOMEM (the record goes unnamed). */
static const char *name_get(struct flows *f, const char *str)
{
	unsigned int h = str_hash(str);
	struct flow_name **b = &f->names[h % NAME_BUCKETS], *n;
	size_t len;

	for (n = *b; n; n = n->next)
		if (n->hash == h && !strcmp(n->s, str)) {
			n->refs++;
			return n->s;
		}
	len = strlen(str) + 1;
	n = malloc(sizeof(*n) + len);
	if (!n)
		return NULL;
	n->hash = h;
	n->refs = 1;
	memcpy(n->s, str, len);
	n->next = *b;
	*b = n;
	f->nnames++;
	f->name_bytes += sizeof(*n) + len;
	return n->s;
}

static void name_put(struct flows *f, const char *s)
{
	struct flow_name *n, **p;

	if (!s)
		return;
	n = (struct flow_name *)(s - offsetof(struct flow_name, s));
	if (--n->refs)
		return;
	for (p = &f->names[n->hash % NAME_BUCKETS]; *p; p = &(*p)->next)
		if (*p == n) {
			*p = n->next;
			break;
		}
	f->nnames--;
	f->name_bytes -= sizeof(*n) + strlen(n->s) + 1;
	free(n);
}

/* A side of a record: what the identity says it is, else the pod holding addr. */
static const char *side_name(struct agent *a, __be32 addr, __u32 id, bool has_id)
{
	char buf[NAME_MAX_LEN + 1];

	if (has_id && id == PODLANE_ID_HOST)
		return name_get(a->flows, "node");
	if (has_id && id == PODLANE_ID_REMOTE_NODE)
		return name_get(a->flows, "remote-node");
	if (!policy_pod_name_of(a, addr, buf, sizeof(buf)))
		return name_get(a->flows, buf);
	if (has_id && (id == PODLANE_ID_WORLD || id >= PODLANE_ID_CIDR_BASE))
		return name_get(a->flows, "world");
	return NULL;
}

/* ---- verdicts ---- */

static void verdict_count(struct flows *f, struct agent *a, const struct flow_view *v)
{
	unsigned int h = (v->policy * 2654435761u) ^ (v->dir << 8) ^ v->verdict;
	struct verdict_count **b = &f->verdicts[h % VERDICT_BUCKETS], *c;

	for (c = *b; c; c = c->next)
		if (c->policy == v->policy && c->dir == v->dir && c->verdict == v->verdict) {
			c->n++;
			/* A policy first seen after it was deleted gets its name when known. */
			if (!c->name && v->policy_name)
				c->name = name_get(f, v->policy_name);
			return;
		}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->policy = v->policy;
	c->dir = v->dir;
	c->verdict = v->verdict;
	c->n = 1;
	c->name = v->policy_name ? name_get(f, v->policy_name) : NULL;
	c->next = *b;
	*b = c;
	(void)a;
}

void flows_verdicts(struct agent *a, flows_verdict_cb cb, void *data)
{
	struct flows *f = a->flows;
	char idname[32];
	struct verdict_count *c;
	unsigned int i;

	if (!f)
		return;
	for (i = 0; i < VERDICT_BUCKETS; i++)
		for (c = f->verdicts[i]; c; c = c->next) {
			const char *name = c->name;

			if (!name && c->policy) {
				snprintf(idname, sizeof(idname), "#%u", c->policy);
				name = idname;
			}
			cb(name, c->policy, c->dir, c->verdict, c->n, data);
		}
}

/* ---- the ring ---- */

static struct flow_view *slot(struct flows *f, __u64 seq)
{
	return &f->ring[(seq - 1) % f->cap];
}

/* The next slot, its old record dropped. */
static struct flow_view *ring_push(struct flows *f)
{
	struct flow_view *v = slot(f, f->next_seq);

	if (f->kept == f->cap) {
		name_put(f, v->src);
		name_put(f, v->dst);
		name_put(f, v->policy_name);
		f->evicted++;
	} else {
		f->kept++;
	}
	memset(v, 0, sizeof(*v));
	v->seq = f->next_seq++;
	return v;
}

static void read_flow(struct agent *a, const struct flow_event *e)
{
	struct flows *f = a->flows;
	char buf[NAME_MAX_LEN + 1];
	struct flow_view *v = ring_push(f);

	v->kind = FLOWS_POLICY;
	v->real_ns = (__s64)e->ts_ns + f->mono_to_real;
	v->verdict = e->verdict == PODLANE_FLOW_ALLOWED ? PODLANE_FLOW_ALLOWED :
							  PODLANE_FLOW_DENIED;
	v->dir = e->dir;
	v->hook = e->hook;
	v->proto = e->proto;
	v->eth_proto = 0x0800;
	v->rule = e->rule;
	v->saddr = e->saddr;
	v->daddr = e->daddr;
	v->sport = e->sport;
	v->dport = e->dport;
	v->reason = e->reason;
	v->ifindex = e->ifindex;
	v->src_id = e->src_id;
	v->dst_id = e->dst_id;
	v->policy = e->policy;
	v->src = side_name(a, e->saddr, e->src_id, true);
	v->dst = side_name(a, e->daddr, e->dst_id, true);
	if (e->policy && !policy_name_of(a, e->policy, buf, sizeof(buf)))
		v->policy_name = name_get(f, buf);
	verdict_count(f, a, v);
}

static void read_drop(struct agent *a, const struct drop_event *e)
{
	struct flows *f = a->flows;
	struct flow_view *v = ring_push(f);

	v->kind = FLOWS_DROP;
	v->real_ns = (__s64)e->ts_ns + f->mono_to_real;
	v->verdict = e->reason == PODLANE_DROP_POLICY_DENIED ||
		     e->reason == PODLANE_DROP_POLICY_NO_FLOW ? PODLANE_FLOW_DENIED : FLOWS_DROPPED;
	v->hook = e->hook;
	v->proto = e->ip_proto;
	v->eth_proto = e->eth_proto;
	v->rule = PODLANE_POLICY_NO_RULE;
	v->saddr = e->saddr;
	v->daddr = e->daddr;
	v->reason = e->reason;
	v->ifindex = e->ifindex;
	v->len = e->len;
	v->src = e->saddr ? side_name(a, e->saddr, 0, false) : NULL;
	v->dst = e->daddr ? side_name(a, e->daddr, 0, false) : NULL;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct agent *a = ctx;
	struct flows *f = a->flows;
	__u32 type;

	if (size < sizeof(type)) {
		f->read[0]++;
		return 0;
	}
	memcpy(&type, data, sizeof(type));
	if (type == PODLANE_EVENT_FLOW && size >= sizeof(struct flow_event)) {
		read_flow(a, data);
		f->read[FLOWS_POLICY]++;
	} else if (type == PODLANE_EVENT_DROP && size >= sizeof(struct drop_event)) {
		read_drop(a, data);
		f->read[FLOWS_DROP]++;
	} else {
		f->read[0]++;	/* a newer datapath's record: counted, not kept */
	}
	/* Consumed either way; a negative return stops this run after it. */
	return --f->budget ? 0 : -EAGAIN;
}

static __s64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__s64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int flows_run(struct agent *a)
{
	struct flows *f = a->flows;
	__u64 before;
	int err;

	if (!f || !f->rb)
		return 0;
	before = f->next_seq;
	f->mono_to_real = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	f->budget = RUN_BUDGET;
	err = ring_buffer__consume(f->rb);
	if (err < 0 && err != -EAGAIN)
		log_warn("failed to read podlane_events err=\"%s\"", strerror(-err));
	return (int)(f->next_seq - before);
}

int flows_fd(struct agent *a)
{
	return a->flows && a->flows->rb ? ring_buffer__epoll_fd(a->flows->rb) : -1;
}

/* ---- filters and walks ---- */

static bool is_policy_reason(__s32 reason)
{
	return reason == PODLANE_DROP_POLICY_DENIED || reason == PODLANE_DROP_POLICY_NO_FLOW;
}

bool flows_match(const struct flow_filter *q, const struct flow_view *v)
{
	size_t nslen;

	if (q->drops) {
		if (v->kind != FLOWS_DROP)
			return false;
	} else if (v->kind == FLOWS_DROP && is_policy_reason(v->reason)) {
		return false;	/* its policy record tells more */
	}
	if (q->verdicts && !(q->verdicts & (1U << v->verdict)))
		return false;
	if (q->from_pod && (!v->src || strcmp(q->from_pod, v->src)))
		return false;
	if (q->to_pod && (!v->dst || strcmp(q->to_pod, v->dst)))
		return false;
	if (q->ns) {
		nslen = strlen(q->ns);
		if (!(v->src && !strncmp(v->src, q->ns, nslen) && v->src[nslen] == '/') &&
		    !(v->dst && !strncmp(v->dst, q->ns, nslen) && v->dst[nslen] == '/'))
			return false;
	}
	if (q->has_ip && v->saddr != q->ip && v->daddr != q->ip)
		return false;
	if (q->has_port && (v->kind == FLOWS_DROP ||
			    (ntohs(v->sport) != q->port && ntohs(v->dport) != q->port)))
		return false;
	if (q->has_proto && v->proto != q->proto)
		return false;
	return true;
}

int flows_walk(struct agent *a, __u64 after, __u64 until, flows_cb cb, void *data)
{
	struct flows *f = a->flows;
	__u64 seq, oldest;
	int ret;

	if (!f || !f->kept)
		return 0;
	oldest = f->next_seq - f->kept;
	if (until >= f->next_seq)
		until = f->next_seq - 1;
	for (seq = after + 1 > oldest ? after + 1 : oldest; seq <= until; seq++) {
		ret = cb(slot(f, seq), data);
		if (ret)
			return ret;
	}
	return 0;
}

int flows_walk_back(struct agent *a, __u64 until, flows_cb cb, void *data)
{
	struct flows *f = a->flows;
	__u64 seq, oldest;
	int ret;

	if (!f || !f->kept)
		return 0;
	oldest = f->next_seq - f->kept;
	if (until >= f->next_seq)
		until = f->next_seq - 1;
	for (seq = until; seq >= oldest; seq--) {
		ret = cb(slot(f, seq), data);
		if (ret)
			return ret;
	}
	return 0;
}

void flows_stats(struct agent *a, struct flows_stats *st)
{
	struct flows *f = a->flows;

	memset(st, 0, sizeof(*st));
	if (!f)
		return;
	st->capacity = f->cap;
	st->kept = f->kept;
	st->newest = f->kept ? f->next_seq - 1 : 0;
	st->oldest = f->kept ? f->next_seq - f->kept : 0;
	memcpy(st->read, f->read, sizeof(st->read));
	st->evicted = f->evicted;
	st->record_bytes = (size_t)f->cap * sizeof(*f->ring);
	st->names = f->nnames;
	st->name_bytes = f->name_bytes;
}

int flows_lost_percpu(struct agent *a, __u64 *v, unsigned int n)
{
	struct flows *f = a->flows;
	__u32 key = PODLANE_POL_STAT_EVENTS_LOST;
	__u64 *all;
	unsigned int cpu;
	int err = 0;

	memset(v, 0, n * sizeof(*v));
	if (!f || f->stat_fd < 0)
		return -ENOENT;
	all = calloc(a->ncpus > 0 ? a->ncpus : 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	if (bpf_map_lookup_elem(f->stat_fd, &key, all))
		err = -errno;
	for (cpu = 0; !err && cpu < n && cpu < (unsigned int)a->ncpus; cpu++)
		v[cpu] = all[cpu];
	free(all);
	return err;
}

/* ---- lifecycle ---- */

int flows_open(struct agent *a)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct flows *f;
	int err;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->events_fd = f->stat_fd = -1;
	f->next_seq = 1;
	f->cap = a->flow_log_size ? a->flow_log_size : FLOWS_DEFAULT_SIZE;
	f->ring = calloc(f->cap, sizeof(*f->ring));
	if (!f->ring) {
		log_error("failed to allocate the flow log records=%u bytes=%zu", f->cap,
			  (size_t)f->cap * sizeof(*f->ring));
		free(f);
		return -ENOMEM;
	}
	a->flows = f;
	/* The one consumer: the consumer position is written through a shared mapping. */
	err = loader_map_open(a, "podlane_events", PIN_RW, &f->events_fd);
	if (err)
		goto fail;
	/* A stale pin of another type would fail in libbpf with a less clear message. */
	if (bpf_obj_get_info_by_fd(f->events_fd, &info, &len) ||
	    info.type != BPF_MAP_TYPE_RINGBUF) {
		log_error("pinned map '%s/podlane_events' is not a ring buffer", a->pin_root);
		err = -EINVAL;
		goto fail;
	}
	/* Lost records are counted there; without it the log still works, without the count. */
	if (loader_map_open(a, "podlane_pol_stat", PIN_RDONLY, &f->stat_fd))
		f->stat_fd = -1;
	f->rb = ring_buffer__new(f->events_fd, on_event, a, NULL);
	if (!f->rb) {
		err = -errno;
		log_error("failed to read ring buffer '%s/podlane_events': %s", a->pin_root,
			  strerror(errno));
		goto fail;
	}
	log_info("flow log records=%u bytes=%zu record_bytes=%zu", f->cap,
		 (size_t)f->cap * sizeof(*f->ring), sizeof(*f->ring));
	return 0;
fail:
	flows_close(a);
	return err;
}

void flows_close(struct agent *a)
{
	struct flows *f = a->flows;
	struct verdict_count *c, *cn;
	unsigned int i;

	if (!f)
		return;
	ring_buffer__free(f->rb);
	if (f->events_fd >= 0)
		close(f->events_fd);
	if (f->stat_fd >= 0)
		close(f->stat_fd);
	for (i = 0; i < VERDICT_BUCKETS; i++)
		for (c = f->verdicts[i]; c; c = cn) {
			cn = c->next;
			name_put(f, c->name);
			free(c);
		}
	while (f->kept) {
		struct flow_view *v = slot(f, f->next_seq - f->kept--);

		name_put(f, v->src);
		name_put(f, v->dst);
		name_put(f, v->policy_name);
	}
	free(f->ring);
	free(f);
	a->flows = NULL;
}
