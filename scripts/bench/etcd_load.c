// SPDX-License-Identifier: GPL-2.0-only
/*
 * etcd_load.c - load generator for scripts/bench/bench-sync.sh: writes podlane v1 records to
 * etcd through the JSON gateway with libcurl (several requests in flight), and measures
 * etcd's own share (write latency, delivery of a watch) without podlaned.
 *
 *   etcd_load fill URL N NODES          N endpoint records of NODES remote nodes, 128 puts per
 *                                       txn (etcd's default --max-txn-ops)
 *   etcd_load services URL N            N services with 2 backends each, 128 per txn
 *   etcd_load live URL RATE SECONDS [BATCH]  puts at RATE per second over 10,000 keys, BATCH
 *                                       per txn (default 1: single puts), each value stamped
 *                                       with its send time ("updated")
 *   etcd_load drain URL FROM COUNT [FILE]  watch from revision FROM until COUNT events
 *                                       arrived (raw bytes, no parsing): etcd's delivery
 *                                       time; FILE records the stream for etcd_replay.py
 *
 * Bounded: every mode stops by itself (count or time).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#define INFLIGHT	32
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
static struct slot slots[INFLIGHT];
static double lat[1 << 20];
static size_t nlat;
static long errors;

static void slots_init(const char *url)
{
	int i;

	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	multi = curl_multi_init();
	for (i = 0; i < INFLIGHT; i++) {
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
		for (i = 0; i < INFLIGHT; i++)
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
		for (busy = 0, i = 0; i < INFLIGHT; i++)
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

static void service_record(long i, char *key, char *val)
{
	unsigned int cip = (10U << 24 | 96U << 16) + i + 1;
	unsigned int b = (10U << 24 | 128U << 16) + 2 * i + 1;

	sprintf(key, "/podlane/v1/services/bench/s%ld", i);
	sprintf(val, "{\"name\":\"s%ld\",\"namespace\":\"bench\",\"clusterIP\":\"%u.%u.%u.%u\","
		"\"ports\":[{\"port\":80,\"protocol\":\"TCP\",\"targetPort\":8080}],"
		"\"backends\":[{\"ip\":\"%u.%u.%u.%u\"},{\"ip\":\"%u.%u.%u.%u\"}]}", i,
		cip >> 24, cip >> 16 & 255, cip >> 8 & 255, cip & 255, b >> 24, b >> 16 & 255,
		b >> 8 & 255, b & 255, (b + 1) >> 24, (b + 1) >> 16 & 255, (b + 1) >> 8 & 255,
		(b + 1) & 255);
}

static int txn_fill(const char *base, long n, int nodes, bool services)
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
			if (services)
				service_record(i, key, val);
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
		struct slot *sl;
		char *body;
		size_t o;
		int k;

		if (now_s(CLOCK_MONOTONIC) < next) {
			reap(0);
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

int main(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (argc == 5 && !strcmp(argv[1], "fill"))
		return txn_fill(argv[2], atol(argv[3]), atoi(argv[4]), false);
	if (argc == 4 && !strcmp(argv[1], "services"))
		return txn_fill(argv[2], atol(argv[3]), 1, true);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "live"))
		return live(argv[2], atof(argv[3]), atof(argv[4]), argc == 6 ? atoi(argv[5]) : 1);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "drain"))
		return drain(argv[2], atol(argv[3]), atol(argv[4]), argc == 6 ? argv[5] : NULL);
	fprintf(stderr, "usage: etcd_load fill URL N NODES | services URL N | "
		"live URL RATE SECONDS [BATCH] | drain URL FROM COUNT [FILE]\n");
	return 2;
}
