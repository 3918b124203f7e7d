// SPDX-License-Identifier: GPL-2.0-only
/*
 * etcd_load.c - load generator for scripts/bench/bench-sync.sh: writes podlane v1 records to
 * etcd through the JSON gateway with libcurl (several requests in flight), and measures
 * etcd's own share (write latency, delivery of a watch) without podlaned.
 *
 *   etcd_load fill URL N NODES          N endpoint records of NODES remote nodes, 128 puts per
 *                                       txn (etcd's default --max-txn-ops)
 *   etcd_load services URL N            N services with 2 backends each (every 10th a
 *                                       NodePort), 128 per txn
 *   etcd_load cluster URL NODES N       NODES node records and N endpoint records spread over
 *                                       them, each in its node's pod CIDR (bench-nodes.sh)
 *   etcd_load live URL RATE SECONDS [BATCH]  puts at RATE per second over 10,000 keys, BATCH
 *                                       per txn (default 1: single puts), each value stamped
 *                                       with its send time ("updated")
 *   etcd_load drain URL FROM COUNT [FILE]  watch from revision FROM until COUNT events
 *                                       arrived (raw bytes, no parsing): etcd's delivery
 *                                       time; FILE records the stream for etcd_replay.py
 *   etcd_load watch URL SECONDS [FILE]  a bare watcher, asking what podlaned asks, for
 *                                       SECONDS: write ("updated") -> received percentiles,
 *                                       etcd's own delivery to a client that does nothing
 *                                       else; FILE gets "updated received" (ns) per event
 *
 * Bounded: every mode stops by itself (count or time).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/types.h>
#include <curl/curl.h>

#define INFLIGHT_MAX	256
static int inflight = 32;	/* requests in flight, each on its own connection (INFLIGHT=N) */
#define TXN_OPS		128

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t enc(const char *in, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned int v = p[i] << 16 | p[i + 1] << 8 | p[i + 2];

		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
		out[o++] = b64[v & 63];
	}
	if (i < len) {
		unsigned int v = p[i] << 16 | (i + 1 < len ? p[i + 1] << 8 : 0);

		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static double now_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static size_t sink(char *p, size_t s, size_t n, void *d)
{
	return s * n;
}

struct slot {
	CURL *e;
	char *body;
	double sent;
	bool busy;
};

static struct curl_slist *hdrs;
static CURLM *multi;
static struct slot slots[INFLIGHT_MAX];
static double lat[1 << 20];
static size_t nlat;
static long errors;

static void slots_init(const char *url)
{
	int i;

	if (multi)
		return;		/* a second fill of the same run: the same URL */
	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	multi = curl_multi_init();
	for (i = 0; i < inflight; i++) {
		slots[i].e = curl_easy_init();
		curl_easy_setopt(slots[i].e, CURLOPT_URL, url);
		curl_easy_setopt(slots[i].e, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(slots[i].e, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(slots[i].e, CURLOPT_PRIVATE, &slots[i]);
		curl_easy_setopt(slots[i].e, CURLOPT_TIMEOUT, 30L);
	}
}

/* Reap finished requests; wait up to ms for one. */
static void reap(int ms)
{
	CURLMsg *m;
	int running, left;

	curl_multi_perform(multi, &running);
	if (ms)
		curl_multi_poll(multi, NULL, 0, ms, NULL);
	curl_multi_perform(multi, &running);
	while ((m = curl_multi_info_read(multi, &left))) {
		struct slot *sl;
		long code = 0;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (m->data.result != CURLE_OK || code != 200)
			errors++;
		else if (nlat < sizeof(lat) / sizeof(lat[0]))
			lat[nlat++] = now_s(CLOCK_MONOTONIC) - sl->sent;
		curl_multi_remove_handle(multi, m->easy_handle);
		free(sl->body);
		sl->body = NULL;
		sl->busy = false;
	}
}

static struct slot *free_slot(bool wait)
{
	int i;

	for (;;) {
		for (i = 0; i < inflight; i++)
			if (!slots[i].busy)
				return &slots[i];
		if (!wait)
			return NULL;
		reap(5);
	}
}

static void submit(struct slot *sl, char *body)
{
	sl->body = body;
	sl->busy = true;
	sl->sent = now_s(CLOCK_MONOTONIC);
	curl_easy_setopt(sl->e, CURLOPT_POSTFIELDS, body);
	curl_multi_add_handle(multi, sl->e);
}

static void drain_all(void)
{
	int i, busy;

	do {
		reap(5);
		for (busy = 0, i = 0; i < inflight; i++)
			busy += slots[i].busy;
	} while (busy);
}

/* {"request_put":{"key":..,"value":..}} appended at out */
static size_t put_op(char *out, const char *key, const char *val)
{
	size_t o = sprintf(out, "{\"request_put\":{\"key\":\"");

	o += enc(key, strlen(key), out + o);
	o += sprintf(out + o, "\",\"value\":\"");
	o += enc(val, strlen(val), out + o);
	o += sprintf(out + o, "\"}}");
	return o;
}

static void endpoint_record(long i, int nodes, char *key, char *val)
{
	int node = i % nodes;
	unsigned int ip = (10U << 24 | 128U << 16) + i + 1;

	sprintf(key, "/podlane/v1/endpoints/bn%d/c%08ld/eth0", node, i);
	sprintf(val, "{\"node\":\"bn%d\",\"nodeIP\":\"192.168.200.%d\",\"ip\":\"%u.%u.%u.%u\","
		"\"containerID\":\"c%08ld\",\"ifname\":\"eth0\",\"network\":\"bench\","
		"\"updated\":%llu}", node, node % 250 + 1, ip >> 24, ip >> 16 & 255,
		ip >> 8 & 255, ip & 255, i, wall_ns());
}

/*
 * Service i: a ClusterIP with 2 backends; every 10th is also a NodePort (30000 + i / 10, as
 * long as the NodePort range lasts), the mix of a real cluster: mostly ClusterIP, some NodePort.
 */
static void service_record(long i, char *key, char *val)
{
	unsigned int cip = (10U << 24 | 96U << 16) + i + 1;
	unsigned int b = (10U << 24 | 128U << 16) + 2 * i + 1;
	char node_port[32] = "";

	if (i % 10 == 0 && i / 10 < 2768)
		sprintf(node_port, ",\"nodePort\":%ld", 30000 + i / 10);
	sprintf(key, "/podlane/v1/services/bench/s%ld", i);
	sprintf(val, "{\"name\":\"s%ld\",\"namespace\":\"bench\",\"clusterIP\":\"%u.%u.%u.%u\","
		"\"ports\":[{\"port\":80,\"protocol\":\"TCP\",\"targetPort\":8080%s}],"
		"\"backends\":[{\"ip\":\"%u.%u.%u.%u\"},{\"ip\":\"%u.%u.%u.%u\"}]}", i,
		cip >> 24, cip >> 16 & 255, cip >> 8 & 255, cip & 255, node_port, b >> 24, b >> 16 & 255,
		b >> 8 & 255, b & 255, (b + 1) >> 24, (b + 1) >> 16 & 255, (b + 1) >> 8 & 255,
		(b + 1) & 255);
}

/*
 * A cluster of nodes (scripts/bench/bench-nodes.sh): node i is bn<i> at 172.20.<i / 250>.
 * <i % 250 + 2>; its pod CIDR a /24 of 10.128.0.0/9 (10.<128 + i / 256>.<i % 256>.0/24), or
 * with at most 64 nodes a /16 (10.<128 + i>.0.0/16), so that every node's share of the
 * endpoints fits its CIDR. Endpoint j lives on node j % nodes, its IP in that node's CIDR.
 */
static long cluster_nodes;

static unsigned int cluster_cidr(long i, int *len)
{
	*len = cluster_nodes <= 64 ? 16 : 24;
	return cluster_nodes <= 64 ? (10U << 24 | (128U + i) << 16) :
				     (10U << 24 | (128U + i / 256) << 16 | (i % 256) << 8);
}

static void cluster_node_record(long i, char *key, char *val)
{
	unsigned int net;
	int len;

	net = cluster_cidr(i, &len);
	sprintf(key, "/podlane/v1/nodes/bn%ld", i);
	sprintf(val, "{\"name\":\"bn%ld\",\"nodeIP\":\"172.20.%ld.%ld\",\"podCIDR\":"
		"\"%u.%u.%u.%u/%d\",\"updated\":%llu}", i, i / 250, i % 250 + 2, net >> 24,
		net >> 16 & 255, net >> 8 & 255, net & 255, len, wall_ns());
}

static void cluster_endpoint_record(long j, char *key, char *val)
{
	long node = j % cluster_nodes, pod = j / cluster_nodes;
	unsigned int ip;
	int len;

	ip = cluster_cidr(node, &len) + (len == 16 ? (pod / 250) << 8 | (pod % 250 + 1) : pod + 1);
	sprintf(key, "/podlane/v1/endpoints/bn%ld/c%08ld/eth0", node, j);
	sprintf(val, "{\"node\":\"bn%ld\",\"nodeIP\":\"172.20.%ld.%ld\",\"ip\":"
		"\"%u.%u.%u.%u\",\"containerID\":\"c%08ld\",\"ifname\":\"eth0\","
		"\"network\":\"bench\",\"updated\":%llu}", node, node / 250, node % 250 + 2,
		ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255, j, wall_ns());
}

enum fill_kind { FILL_ENDPOINTS, FILL_SERVICES, FILL_CLUSTER_NODES, FILL_CLUSTER_ENDPOINTS };

static int txn_fill(const char *base, long n, int nodes, enum fill_kind kind)
{
	char url[512], key[256], val[1024];
	double t0 = now_s(CLOCK_MONOTONIC);
	long i = 0;

	snprintf(url, sizeof(url), "%s/v3/kv/txn", base);
	slots_init(url);
	while (i < n) {
		char *body = malloc(TXN_OPS * 2048 + 64);
		size_t o = sprintf(body, "{\"success\":[");
		int k;

		for (k = 0; k < TXN_OPS && i < n; k++, i++) {
			if (kind == FILL_SERVICES)
				service_record(i, key, val);
			else if (kind == FILL_CLUSTER_NODES)
				cluster_node_record(i, key, val);
			else if (kind == FILL_CLUSTER_ENDPOINTS)
				cluster_endpoint_record(i, key, val);
			else
				endpoint_record(i, nodes, key, val);
			if (k)
				body[o++] = ',';
			o += put_op(body + o, key, val);
		}
		sprintf(body + o, "]}");
		submit(free_slot(true), body);
	}
	drain_all();
	printf("records=%ld seconds=%.3f rate=%.0f errors=%ld\n", n, now_s(CLOCK_MONOTONIC) - t0,
	       n / (now_s(CLOCK_MONOTONIC) - t0), errors);
	return errors ? 1 : 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Endpoint events at rate per second for seconds, batch puts per request (1 = single puts
 * on /v3/kv/put, more = one txn each, every put a separate event stamped at its send time).
 */
static int live(const char *base, double rate, double seconds, int batch)
{
	char url[512], key[256], val[1024];
	double t0 = now_s(CLOCK_MONOTONIC), next = t0;
	long i = 0, late = 0;

	snprintf(url, sizeof(url), "%s/v3/kv/%s", base, batch > 1 ? "txn" : "put");
	slots_init(url);
	while (now_s(CLOCK_MONOTONIC) - t0 < seconds) {
		double ahead = next - now_s(CLOCK_MONOTONIC);
		struct slot *sl;
		char *body;
		size_t o;
		int k;

		if (ahead > 0) {
			/* Sleep in poll, not spin: a spinning writer takes a core from etcd. */
			reap(ahead > 0.001 ? (int)(ahead * 1000) : 1);
			continue;
		}
		sl = free_slot(false);
		if (!sl) {
			late++;
			reap(1);
			continue;
		}
		body = malloc(batch * 2048 + 64);
		if (batch > 1) {
			o = sprintf(body, "{\"success\":[");
			for (k = 0; k < batch; k++, i++) {
				endpoint_record(i % 10000, 50, key, val);
				if (k)
					body[o++] = ',';
				o += put_op(body + o, key, val);
			}
			sprintf(body + o, "]}");
		} else {
			endpoint_record(i++ % 10000, 50, key, val);
			o = sprintf(body, "{\"key\":\"");
			o += enc(key, strlen(key), body + o);
			o += sprintf(body + o, "\",\"value\":\"");
			o += enc(val, strlen(val), body + o);
			sprintf(body + o, "\"}");
		}
		submit(sl, body);
		next = t0 + i / rate;
	}
	drain_all();
	qsort(lat, nlat, sizeof(lat[0]), cmp);
	printf("events=%ld seconds=%.3f rate=%.0f batch=%d errors=%ld request_p50_us=%.0f "
	       "request_p99_us=%.0f waits_for_slot=%ld\n", i, now_s(CLOCK_MONOTONIC) - t0,
	       i / (now_s(CLOCK_MONOTONIC) - t0), batch, errors, nlat ? lat[nlat / 2] * 1e6 : 0,
	       nlat ? lat[nlat * 99 / 100] * 1e6 : 0, late);
	return errors ? 1 : 0;
}

struct drain {
	long want, seen;
	double t_first, t_done;
	unsigned long long match;
	FILE *out;
};

static size_t drain_cb(char *p, size_t s, size_t n, void *data)
{
	struct drain *d = data;
	size_t len = s * n, i;

	if (!d->t_first)
		d->t_first = now_s(CLOCK_MONOTONIC);
	/* Each event carries exactly one "kv": count them, also across write boundaries. */
	for (i = 0; i < len; i++) {
		d->match = d->match << 8 | (unsigned char)p[i];
		if ((d->match & 0xffffffff) == ('"' << 24 | 'k' << 16 | 'v' << 8 | '"'))
			d->seen++;
	}
	if (d->out)
		fwrite(p, 1, len, d->out);
	if (d->seen >= d->want && !d->t_done)
		d->t_done = now_s(CLOCK_MONOTONIC);
	/* Stop at a message boundary once enough arrived, so a recording ends whole. */
	return d->seen >= d->want && len && p[len - 1] == '\n' ? 0 : len;
}

static int drain(const char *base, long from, long count, const char *file)
{
	struct drain d = { .want = count, .out = file ? fopen(file, "w") : NULL };
	char url[512], body[256];
	double t0 = now_s(CLOCK_MONOTONIC);
	CURL *e = curl_easy_init();

	snprintf(url, sizeof(url), "%s/v3/watch", base);
	/* "/podlane/v1/" .. "/podlane/v10" */
	snprintf(body, sizeof(body), "{\"create_request\":{\"key\":\"L3BvZGxhbmUvdjEv\","
		 "\"range_end\":\"L3BvZGxhbmUvdjEw\",\"start_revision\":\"%ld\"}}", from);
	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, drain_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
	curl_easy_perform(e);
	if (!d.t_done)
		d.t_done = now_s(CLOCK_MONOTONIC);
	printf("events=%ld seconds=%.3f rate=%.0f\n", d.seen, d.t_done - t0,
	       d.seen / (d.t_done - t0));
	curl_easy_cleanup(e);
	if (d.out)
		fclose(d.out);
	return d.seen >= count ? 0 : 1;
}

struct watch {
	char buf[1 << 20];
	size_t len;
	double until;
	FILE *out;
};

static int b64_val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? p - b64 : -1;
}

/* The "updated" stamp inside a base64 value ending at the next '"'; 0 when there is none. */
static unsigned long long value_updated(const char *p, const char *end)
{
	char val[2048], *u;
	size_t o = 0;
	int v[4], k;

	while (p + 4 <= end && *p != '"' && o + 3 < sizeof(val)) {
		for (k = 0; k < 4; k++)
			v[k] = p[k] == '=' ? 0 : b64_val(p[k]);
		if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
			break;
		val[o++] = v[0] << 2 | v[1] >> 4;
		val[o++] = (v[1] & 15) << 4 | v[2] >> 2;
		val[o++] = (v[2] & 3) << 6 | v[3];
		p += 4;
	}
	val[o] = '\0';
	u = strstr(val, "\"updated\":");
	return u ? strtoull(u + 10, NULL, 10) : 0;
}

static size_t watch_cb(char *p, size_t s, size_t n, void *data)
{
	unsigned long long now = wall_ns();
	struct watch *w = data;
	size_t len = s * n, used = 0;
	char *nl;

	if (w->len + len >= sizeof(w->buf))
		return 0;
	memcpy(w->buf + w->len, p, len);
	w->len += len;
	/* Whole messages only (one per line); each event's value carries its write time. */
	while ((nl = memchr(w->buf + used, '\n', w->len - used))) {
		const char *q = w->buf + used, *v;

		*nl = '\0';
		/* Each event's "kv" carries the stamp (no "prev_kv": the watch does not ask). */
		while ((v = strstr(q, "\"kv\":{"))) {
			const char *val = strstr(v, "\"value\":\"");
			unsigned long long t = val ? value_updated(val + 9, nl) : 0;

			if (t && t < now && nlat < sizeof(lat) / sizeof(lat[0])) {
				lat[nlat++] = (now - t) / 1e9;
				if (w->out)
					fprintf(w->out, "%llu %llu\n", t, now);
			}
			q = v + 6;
		}
		used = nl + 1 - w->buf;
	}
	memmove(w->buf, w->buf + used, w->len - used);
	w->len -= used;
	return now_s(CLOCK_MONOTONIC) < w->until ? len : 0;
}

static int cmp(const void *a, const void *b);

/* A bare watcher: etcd's delivery to a client that only reads the stamps. */
static int watch(const char *base, double seconds, const char *file)
{
	struct {	/* struct sched_attr, version 0 */
		__u32 size, policy;
		__u64 flags;
		__s32 nice;
		__u32 priority;
		__u64 runtime, deadline, period;
	} attr = { .size = sizeof(attr), .runtime = 100000 };
	static struct watch w;
	char url[512], body[512], k[64], e[64];
	CURL *c = curl_easy_init();

	/*
	 * The short scheduler slice podlaned's sync threads ask for (sync_short_slice): a fair
	 * comparison, both wake up as promptly when etcd sends.
	 */
	syscall(SYS_sched_setattr, 0, &attr, 0);
	w.until = now_s(CLOCK_MONOTONIC) + seconds;
	w.out = file ? fopen(file, "w") : NULL;
	snprintf(url, sizeof(url), "%s/v3/watch", base);
	/* The watch podlaned asks for (etcd.c): the whole layout, no previous values. */
	enc("/podlane/v1/", 12, k);
	enc("/podlane/v10", 12, e);
	snprintf(body, sizeof(body), "{\"create_request\":{\"key\":\"%s\",\"range_end\":\"%s\","
		 "\"progress_notify\":true}}", k, e);
	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(seconds * 1000) + 2000);
	curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (w.out)
		fclose(w.out);
	qsort(lat, nlat, sizeof(lat[0]), cmp);
	printf("events=%zu delivery_p50_us=%.0f delivery_p99_us=%.0f delivery_max_us=%.0f\n", nlat,
	       nlat ? lat[nlat / 2] * 1e6 : 0, nlat ? lat[nlat * 99 / 100] * 1e6 : 0,
	       nlat ? lat[nlat - 1] * 1e6 : 0);
	return nlat ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (getenv("INFLIGHT"))
		inflight = atoi(getenv("INFLIGHT"));
	if (inflight < 1 || inflight > INFLIGHT_MAX) {
		fprintf(stderr, "etcd_load: INFLIGHT wants 1..%d\n", INFLIGHT_MAX);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (argc == 5 && !strcmp(argv[1], "fill"))
		return txn_fill(argv[2], atol(argv[3]), atoi(argv[4]), FILL_ENDPOINTS);
	if (argc == 4 && !strcmp(argv[1], "services"))
		return txn_fill(argv[2], atol(argv[3]), 1, FILL_SERVICES);
	if (argc == 5 && !strcmp(argv[1], "cluster")) {
		cluster_nodes = atol(argv[3]);
		if (cluster_nodes < 1 || cluster_nodes > 32768 ||
		    atol(argv[4]) / cluster_nodes >= (cluster_nodes <= 64 ? 62500 : 254)) {
			fprintf(stderr, "etcd_load: cluster wants 1-32768 nodes, at most 62,500 "
				"endpoints a node up to 64 nodes, 253 above\n");
			return 2;
		}
		return txn_fill(argv[2], cluster_nodes, 1, FILL_CLUSTER_NODES) ||
		       txn_fill(argv[2], atol(argv[4]), 1, FILL_CLUSTER_ENDPOINTS);
	}
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "live"))
		return live(argv[2], atof(argv[3]), atof(argv[4]), argc == 6 ? atoi(argv[5]) : 1);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "drain"))
		return drain(argv[2], atol(argv[3]), atol(argv[4]), argc == 6 ? argv[5] : NULL);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "watch"))
		return watch(argv[2], atof(argv[3]), argc == 5 ? argv[4] : NULL);
	fprintf(stderr, "usage: etcd_load fill URL N NODES | services URL N | "
		"cluster URL NODES ENDPOINTS | "
		"live URL RATE SECONDS [BATCH] | drain URL FROM COUNT [FILE] | "
		"watch URL SECONDS [FILE]\n");
	return 2;
}
