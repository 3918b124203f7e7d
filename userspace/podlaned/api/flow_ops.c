// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/flow_ops.c - "flow_list" (userspace/lib/api_ops.h): the flow log (flows/) filtered on
 * the agent's side, page by page or as a stream. A stream is a connection main.c hands over
 * after the first reply (api_stream_adopt); api_streams_run(), from every turn of the event
 * loop, sends each stream the records that matched since its last message and what it lost,
 * never blocking: a stream whose socket is full waits, and what the flow log drops meanwhile
 * is counted as lost for it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "api.h"
#include "api/api.h"
#include "api/ops.h"
#include "core/agent.h"
#include "flows/flows.h"
#include "log.h"

/* How often a stream is told of datapath losses at most (they are read from a map). */
#define LOST_EVERY_NS	1000000000ULL

struct stream {
	int fd;
	struct flow_filter filter;
	struct json_object *req;	/* the request, which filter's strings point into */
	__u64 after;			/* the last record it was sent (or skipped) */
	__u64 lost;			/* records it missed: the flow log dropped them first */
	__u64 told_lost, told_datapath;	/* what its last message said */
};

struct api_streams {
	struct stream v[PODLANE_FLOW_STREAMS_MAX];
	unsigned int n;
	struct stream pending;		/* the follow request being answered, fd -1 */
	bool has_pending;
	__u64 lost_total;		/* records streams missed, for metrics */
	__u64 datapath_lost;		/* podlane_pol_stat's EVENTS_LOST summed, when read */
	__u64 datapath_read_ns;
};

/* ---- names ---- */

static const char *verdict_name(unsigned int v)
{
	switch (v) {
	case PODLANE_FLOW_ALLOWED:	return "allowed";
	case PODLANE_FLOW_DENIED:	return "denied";
	case FLOWS_DROPPED:		return "dropped";
	}
	return "unknown";
}

static const char *hook_name(unsigned int hook)
{
	switch (hook) {
	case PODLANE_HOOK_FROM_POD:	return "from_pod";
	case PODLANE_HOOK_TO_POD:	return "to_pod";
	case PODLANE_HOOK_FROM_UPLINK:	return "from_uplink";
	case PODLANE_HOOK_XDP_UPLINK:	return "xdp_uplink";
	case PODLANE_HOOK_FROM_TUNNEL:	return "from_tunnel";
	}
	return "unknown";
}

static const struct {
	const char *name;
	__u8 proto;
} protos[] = {
	{ "ICMP", IPPROTO_ICMP }, { "TCP", IPPROTO_TCP }, { "UDP", IPPROTO_UDP },
	{ "SCTP", 132 },
};

static bool has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == 132;
}

/* ---- requests ---- */

static int filter_decode(const struct api_flow_list_req *rq, struct flow_filter *f,
			 struct api_error *e)
{
	struct in_addr in;
	unsigned long n;
	char *end;
	size_t i;

	memset(f, 0, sizeof(*f));
	if (rq->verdict) {
		if (!strcmp(rq->verdict, "allowed"))
			f->verdicts = 1U << PODLANE_FLOW_ALLOWED;
		else if (!strcmp(rq->verdict, "denied"))
			f->verdicts = 1U << PODLANE_FLOW_DENIED;
		else if (!strcmp(rq->verdict, "dropped"))
			f->verdicts = 1U << FLOWS_DROPPED;
		else
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "verdict '%.64s': want "
					"allowed, denied or dropped", rq->verdict);
	}
	if (rq->from_pod && !strchr(rq->from_pod, '/'))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "from_pod '%.300s': want "
				"NAMESPACE/NAME", rq->from_pod);
	if (rq->to_pod && !strchr(rq->to_pod, '/'))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "to_pod '%.300s': want "
				"NAMESPACE/NAME", rq->to_pod);
	if (rq->namespace && (!rq->namespace[0] || strchr(rq->namespace, '/')))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "namespace '%.300s': want a "
				"namespace name", rq->namespace);
	f->from_pod = rq->from_pod;
	f->to_pod = rq->to_pod;
	f->ns = rq->namespace;
	if (rq->ip) {
		if (inet_pton(AF_INET, rq->ip, &in) != 1)
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "ip '%.64s': want an IPv4 "
					"address", rq->ip);
		f->has_ip = true;
		f->ip = in.s_addr;
	}
	if (rq->has_port) {
		f->has_port = true;
		f->port = rq->port;
	}
	if (rq->protocol) {
		for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
			if (!strcasecmp(rq->protocol, protos[i].name)) {
				f->has_proto = true;
				f->proto = protos[i].proto;
			}
		if (!f->has_proto) {
			errno = 0;
			n = strtoul(rq->protocol, &end, 10);
			if (errno || *end || !rq->protocol[0] || n > 255)
				return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "protocol '%.64s': "
						"want tcp, udp, sctp, icmp or a number 0-255",
						rq->protocol);
			f->has_proto = true;
			f->proto = n;
		}
	}
	f->drops = rq->has_drops && rq->drops;
	return 0;
}

/* ---- records ---- */

static void fill_flow(const struct flow_view *v, struct api_flow *o, struct api_strs *s)
{
	char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN], when[32];
	const char *reason = v->reason ? podlane_drop_name(v->reason) : NULL;
	const char *dir = v->dir == PODLANE_FLOW_INGRESS ? "ingress" :
			  v->dir == PODLANE_FLOW_EGRESS ? "egress" : NULL;
	time_t sec = v->real_ns / 1000000000;
	struct tm tm;
	size_t i;

	inet_ntop(AF_INET, &v->saddr, src, sizeof(src));
	inet_ntop(AF_INET, &v->daddr, dst, sizeof(dst));
	gmtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	memset(o, 0, sizeof(*o));
	o->seq = v->seq;
	o->time_ns = v->real_ns;
	o->time = api_strs_add(s, "%s.%06ldZ", when, (long)(v->real_ns % 1000000000) / 1000);
	o->verdict = verdict_name(v->verdict);
	if (v->reason) {
		o->reason = reason ? reason : api_strs_add(s, "reason_%d", v->reason);
		o->has_code = true;
		o->code = v->reason;
	}
	o->direction = dir;
	o->protocol = NULL;
	if (v->eth_proto != 0x0800) {
		o->protocol = api_strs_add(s, "ethertype 0x%04x", v->eth_proto);
	} else {
		for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
			if (protos[i].proto == v->proto)
				o->protocol = protos[i].name;
		if (!o->protocol)
			o->protocol = api_strs_add(s, "%u", v->proto);
	}
	o->src_ip = api_strs_add(s, "%s", src);
	o->dst_ip = api_strs_add(s, "%s", dst);
	if (v->kind == FLOWS_POLICY && has_ports(v->proto)) {
		o->has_src_port = o->has_dst_port = true;
		o->src_port = ntohs(v->sport);
		o->dst_port = ntohs(v->dport);
	}
	o->src = v->src ? v->src : o->src_ip;
	o->dst = v->dst ? v->dst : o->dst_ip;
	if (v->kind == FLOWS_POLICY) {
		o->has_identities = true;
		o->src_identity = v->src_id;
		o->dst_identity = v->dst_id;
	}
	if (v->policy) {
		o->policy = v->policy_name ? v->policy_name : api_strs_add(s, "#%u", v->policy);
		o->has_policy_id = true;
		o->policy_id = v->policy;
	}
	if (v->kind == FLOWS_POLICY && v->rule != PODLANE_POLICY_NO_RULE) {
		o->has_rule = true;
		o->rule = v->rule;
	}
	if (v->kind == FLOWS_DROP) {
		o->has_len = true;
		o->len = v->len;
	}
	o->hook = hook_name(v->hook);
	o->ifindex = v->ifindex;

	if (v->kind == FLOWS_DROP)
		o->summary = api_strs_add(s, "%s: %s", o->verdict, o->reason);
	else if (v->verdict == PODLANE_FLOW_ALLOWED && o->policy && o->has_rule)
		o->summary = api_strs_add(s, "allowed by policy %s %s rule %lld", o->policy,
					  dir ? dir : "?", (long long)o->rule);
	else if (v->verdict == PODLANE_FLOW_ALLOWED && v->src_id == PODLANE_ID_HOST)
		o->summary = api_strs_add(s, "allowed: from this node, which always reaches "
					  "its pods");
	else if (v->verdict == PODLANE_FLOW_ALLOWED)
		o->summary = api_strs_add(s, "allowed");
	else if (v->reason == PODLANE_DROP_POLICY_NO_FLOW)
		o->summary = api_strs_add(s, "isolated by policy %s; not part of an allowed "
					  "connection", o->policy ? o->policy : "?");
	else
		o->summary = api_strs_add(s, "isolated by policy %s; no rule matched",
					  o->policy ? o->policy : "?");
}

/* A page of records being built. */
struct flow_page {
	const struct flow_filter *filter;
	struct api_flow *v;
	size_t n, limit, bytes;
	__u64 last_seq;			/* the last record looked at and taken or skipped */
	bool full, oom;
	struct api_strs strs;
	/* the --last N walk */
	__u64 want, found, first_seq;
};

static int page_cb(const struct flow_view *v, void *data)
{
	struct flow_page *p = data;
	struct api_flow *grown;
	size_t len;

	if (!flows_match(p->filter, v)) {
		p->last_seq = v->seq;
		return 0;
	}
	if (p->n == p->limit) {
		p->full = true;
		return 1;
	}
	grown = realloc(p->v, (p->n + 1) * sizeof(*grown));
	if (!grown) {
		p->oom = true;
		return 1;
	}
	p->v = grown;
	fill_flow(v, &p->v[p->n], &p->strs);
	len = api_flow_encoded_len(&p->v[p->n]) + 1;
	/* One record always fits; then the page stops short of its bytes. */
	if (p->n && p->bytes + len > PODLANE_API_PAGE_BYTES) {
		p->full = true;
		return 1;
	}
	p->bytes += len;
	p->n++;
	p->last_seq = v->seq;
	return 0;
}

static int last_cb(const struct flow_view *v, void *data)
{
	struct flow_page *p = data;

	if (!flows_match(p->filter, v))
		return 0;
	p->first_seq = v->seq;
	return ++p->found == p->want;
}

/* Where a reader asking for the last N records (seq <= until) starts: after the return. */
static __u64 last_start(struct agent *a, const struct flow_filter *f, __u64 n, __u64 until)
{
	struct flow_page p = { .filter = f, .want = n };

	if (!n)
		return until;
	flows_walk_back(a, until, last_cb, &p);
	return p.found ? p.first_seq - 1 : until;
}

static void lost_fill(struct agent *a, struct api_flow_lost *l, struct api_strs *s)
{
	unsigned int n = a->ncpus > 0 ? a->ncpus : 1, cpu;
	__u64 *v = calloc(n, sizeof(*v));

	l->datapath_cpus = calloc(n, sizeof(*l->datapath_cpus));
	if (!v || !l->datapath_cpus) {
		free(v);
		s->oom = true;
		return;
	}
	flows_lost_percpu(a, v, n);
	for (cpu = 0; cpu < n; cpu++) {
		l->datapath += v[cpu];
		l->datapath_cpus[cpu].key = api_strs_add(s, "%u", cpu);
		l->datapath_cpus[cpu].value = v[cpu];
	}
	l->n_datapath_cpus = n;
	free(v);
}

/* Records in (after, oldest) the flow log no longer holds: this reader never sees them. */
static __u64 evicted_since(const struct flows_stats *st, __u64 after)
{
	if (!st->kept || after + 1 >= st->oldest)
		return 0;
	return st->oldest - after - 1;
}

/* ---- streams ---- */

static void stream_close(struct api_streams *ss, unsigned int i)
{
	close(ss->v[i].fd);
	json_object_put(ss->v[i].req);
	ss->v[i] = ss->v[--ss->n];
}

/*
 * Send st what it has not had: matching records after st->after, a page per message, and
 * its losses when they changed. Stops at a full socket (EAGAIN) with st->after at the last
 * record sent. false when the stream is gone.
 */
static bool stream_send(struct agent *a, struct api_streams *ss, struct stream *st,
			const struct flows_stats *fs)
{
	for (;;) {
		struct api_flow_list_reply r = {};
		struct flow_page p = { .filter = &st->filter, .limit = PODLANE_API_LIST_LIMIT_MAX };
		__u64 missed = evicted_since(fs, st->after);
		struct json_object *o;
		const char *text;
		ssize_t n;

		if (missed) {
			st->lost += missed;
			ss->lost_total += missed;
			st->after = fs->oldest - 1;
		}
		if (st->after < fs->newest)
			flows_walk(a, st->after, fs->newest, page_cb, &p);
		if (!p.n && st->lost == st->told_lost && ss->datapath_lost == st->told_datapath) {
			if (p.last_seq)
				st->after = p.last_seq;	/* nothing matched: skip them */
			free(p.v);
			api_strs_free(&p.strs);
			return true;
		}
		r.flows = p.v;
		r.n_flows = p.n;
		r.newest = fs->newest;
		r.until = fs->newest;
		r.kept = fs->kept;
		r.capacity = fs->capacity;
		lost_fill(a, &r.lost, &p.strs);
		r.lost.evicted = 0;
		r.lost.stream = st->lost;
		o = p.oom || p.strs.oom ? NULL : api_flow_list_reply_encode(&r);
		api_flow_list_reply_free(&r);
		api_strs_free(&p.strs);
		if (!o)
			return true;	/* out of memory: try again next turn */
		text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		n = send(st->fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
		json_object_put(o);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS;
		if (p.last_seq)
			st->after = p.last_seq;
		st->told_lost = st->lost;
		st->told_datapath = ss->datapath_lost;
		if (!p.full)
			return true;
	}
}

void api_streams_run(struct agent *a)
{
	struct api_streams *ss = a->streams;
	struct pollfd pfd;
	struct flows_stats fs;
	struct timespec now;
	__u64 now_ns;
	unsigned int i;

	if (!ss || !ss->n)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	now_ns = (__u64)now.tv_sec * 1000000000 + now.tv_nsec;
	if (now_ns - ss->datapath_read_ns >= LOST_EVERY_NS) {
		unsigned int n = a->ncpus > 0 ? a->ncpus : 1, cpu;
		__u64 *v = calloc(n, sizeof(*v));

		if (v && !flows_lost_percpu(a, v, n)) {
			ss->datapath_lost = 0;
			for (cpu = 0; cpu < n; cpu++)
				ss->datapath_lost += v[cpu];
		}
		free(v);
		ss->datapath_read_ns = now_ns;
	}
	flows_stats(a, &fs);
	for (i = 0; i < ss->n;) {
		/*
		 * A stream only listens: anything it sends, or its hang-up, ends it. A full
		 * socket waits for room before a message is built for it.
		 */
		pfd = (struct pollfd){ .fd = ss->v[i].fd, .events = POLLIN | POLLRDHUP | POLLOUT };
		if (poll(&pfd, 1, 0) < 0)
			pfd.revents = POLLOUT;
		if ((pfd.revents & ~POLLOUT) ||
		    ((pfd.revents & POLLOUT) && !stream_send(a, ss, &ss->v[i], &fs))) {
			log_debug("flow stream closed fd=%d lost=%llu", ss->v[i].fd,
				  (unsigned long long)ss->v[i].lost);
			stream_close(ss, i);
			continue;
		}
		i++;
	}
}

int api_stream_adopt(struct agent *a, int fd)
{
	struct api_streams *ss = a->streams;

	if (!ss || !ss->has_pending || ss->n == PODLANE_FLOW_STREAMS_MAX) {
		close(fd);
		return -EBUSY;
	}
	ss->v[ss->n] = ss->pending;
	ss->v[ss->n].fd = fd;
	ss->n++;
	ss->has_pending = false;
	ss->pending.req = NULL;
	api_streams_run(a);
	return 0;
}

void api_streams_close(struct agent *a)
{
	struct api_streams *ss = a->streams;

	if (!ss)
		return;
	while (ss->n)
		stream_close(ss, 0);
	json_object_put(ss->pending.req);
	free(ss);
	a->streams = NULL;
}

__u64 api_streams_lost(struct agent *a)
{
	return a->streams ? a->streams->lost_total : 0;
}

unsigned int api_streams_count(struct agent *a)
{
	return a->streams ? a->streams->n : 0;
}

/* ---- flow_list ---- */

struct json_object *api_flow_list(struct agent *a, struct json_object *req, bool *stream)
{
	struct api_flow_list_reply r = {};
	struct api_flow_list_req rq;
	struct flow_filter f;
	struct flows_stats fs;
	struct flow_page p = { .filter = &f, .limit = PODLANE_API_LIST_LIMIT_DEFAULT };
	struct json_object *o = NULL;
	struct api_error e = {};
	__u64 after, until;

	*stream = false;
	if (api_flow_list_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (filter_decode(&rq, &f, &e))
		return api_reply_error(&e);
	flows_stats(a, &fs);
	until = rq.has_until && (__u64)rq.until < fs.newest ? (__u64)rq.until : fs.newest;
	after = rq.has_after ? (__u64)rq.after : 0;
	if (rq.has_last) {
		__u64 start = last_start(a, &f, rq.last, until);

		if (start > after)
			after = start;
	} else if (rq.has_follow && rq.follow && !rq.has_after) {
		after = fs.newest;	/* a stream from now on */
	}
	if (rq.has_limit)
		p.limit = rq.limit;

	r.newest = fs.newest;
	r.until = until;
	r.kept = fs.kept;
	r.capacity = fs.capacity;
	r.lost.evicted = rq.has_after ? evicted_since(&fs, rq.after) : 0;
	if (rq.has_follow && rq.follow) {
		if (!a->streams)
			a->streams = calloc(1, sizeof(*a->streams));
		if (!a->streams)
			return api_reply_oom();
		if (a->streams->n == PODLANE_FLOW_STREAMS_MAX) {
			api_fail(&e, PODLANE_ERR_TRY_AGAIN, "%d flow streams are open, the most "
				 "the agent serves at once", PODLANE_FLOW_STREAMS_MAX);
			return api_reply_error(&e);
		}
		/* The records come in the stream's messages; this reply sets its baseline. */
		json_object_put(a->streams->pending.req);
		a->streams->pending = (struct stream){
			.fd = -1, .filter = f, .req = json_object_get(req), .after = after,
		};
		a->streams->has_pending = true;
		*stream = true;
	} else {
		flows_walk(a, after, until, page_cb, &p);
		r.flows = p.v;
		r.n_flows = p.n;
		r.has_next_after = p.full;
		r.next_after = p.last_seq;
	}
	lost_fill(a, &r.lost, &p.strs);
	if (*stream && a->streams) {
		a->streams->pending.told_datapath = r.lost.datapath;
		a->streams->datapath_lost = r.lost.datapath;
	}
	if (!p.oom && !p.strs.oom)
		o = api_flow_list_reply_encode(&r);
	api_flow_list_reply_free(&r);
	api_strs_free(&p.strs);
	if (!o) {
		*stream = false;
		return api_reply_oom();
	}
	return o;
}
