// SPDX-License-Identifier: GPL-2.0-only
/*
 * recommend/recommend.c - per-pod CPU and memory request recommendations in podlaned, with
 * the Vertical Pod Autoscaler recommender's formula (userspace/lib/sizing.c), from what acct/
 * measures:
 *
 *   CPU: each interval (--recommend-interval, 60 s by default as VPA's one sample a minute),
 *	the pod's average cores over it (its cumulative CPU time, acct_pod.total.cpu_ns), one
 *	sample stamped with the interval's start. podlane does not know the pod's request, so
 *	every sample weighs VPA's minimum weight (0.1), as a container without a request does
 *	in VPA; only relative weights count, so percentiles are as with any constant request.
 *   memory: the highest memory.current (or v1 usage) the accounting tick saw in the
 *	interval; sizing.c keeps one peak per 24 h as VPA does.
 *
 * Confidence counts samples per day at this interval (86400 / interval), so a steady stream
 * over N days is N days at any interval.
 *
 * Histories survive restarts: every RECOMMEND_CHECKPOINT_S (10 min) and at shutdown they are
 * written to <state-dir>/recommend.json (a versioned JSON document; temp file, fsync, rename,
 * fsync of the directory: a crash leaves the old or the new file). At start-up a file that is not
 * ours, of another version or with any bad history is refused whole: the log says which file
 * and why, it is moved aside to recommend.json.bad and the histories start empty.
 *
 * Pods are known by container id: a pod with several interfaces (networks) is one history.
 * A gone pod's history is kept for VPA's 8-day window, so a pod that comes back (or an agent
 * restarted while it ran) goes on where it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "acct/acct.h"
#include "core/agent.h"
#include "core/fs.h"
#include "core/loop.h"
#include "log.h"
#include "recommend/recommend.h"

#define CHECKPOINT_MAX_BYTES	(64 << 20)

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct recommend_pod *pod_find(struct recommend *r, const char *cid)
{
	size_t i;

	for (i = 0; i < r->npods; i++)
		if (!strcmp(r->pods[i].container_id, cid))
			return &r->pods[i];
	return NULL;
}

/* The oldest history of a gone pod, to make room; NULL when every one is live. */
static struct recommend_pod *pod_victim(struct recommend *r)
{
	struct recommend_pod *v = NULL;
	size_t i;

	for (i = 0; i < r->npods; i++)
		if (!r->pods[i].live && (!v || r->pods[i].last_seen_ms < v->last_seen_ms))
			v = &r->pods[i];
	return v;
}

static struct recommend_pod *pod_new(struct recommend *r, const char *cid)
{
	struct recommend_pod *p;

	if (r->npods == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;

		if (r->cap >= RECOMMEND_MAX_PODS) {
			p = pod_victim(r);
			if (!p)
				return NULL;
			goto reuse;
		}
		p = realloc(r->pods, cap * sizeof(*p));
		if (!p)
			return NULL;
		r->pods = p;
		r->cap = cap;
	}
	p = &r->pods[r->npods++];
reuse:
	memset(p, 0, sizeof(*p));
	snprintf(p->container_id, sizeof(p->container_id), "%s", cid);
	sizing_state_init(&p->st);
	sizing_estimate(&p->st, r->samples_per_day, &p->est);
	return p;
}

static void pod_drop(struct recommend *r, size_t i)
{
	r->pods[i] = r->pods[--r->npods];
}

/* ---- checkpoints ---- */

static char *checkpoint_text(struct recommend *r)
{
	struct json_object *o = json_object_new_object(), *pods = json_object_new_array();
	char *text;
	size_t i;

	json_object_object_add(o, "format", json_object_new_string(RECOMMEND_FORMAT));
	json_object_object_add(o, "version", json_object_new_int(RECOMMEND_VERSION));
	json_object_object_add(o, "interval_s", json_object_new_int(r->interval_s));
	json_object_object_add(o, "saved_ms", json_object_new_int64(real_ms()));
	for (i = 0; i < r->npods; i++) {
		struct recommend_pod *p = &r->pods[i];
		struct json_object *po = json_object_new_object();

		json_object_object_add(po, "container_id", json_object_new_string(p->container_id));
		json_object_object_add(po, "last_seen_ms", json_object_new_int64(p->last_seen_ms));
		json_object_object_add(po, "history", sizing_state_to_json(&p->st));
		json_object_array_add(pods, po);
	}
	json_object_object_add(o, "pods", pods);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX], *slash;
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

static void checkpoint_write(struct recommend *r)
{
	char *text = checkpoint_text(r);
	int err = text ? write_file_atomic(r->path, text, true) : -ENOMEM;

	if (!err)
		err = fsync_dir_of(r->path);
	free(text);
	if (err) {
		if (!r->checkpoint_errors++)
			log_warn("failed to write recommendation checkpoint file=%s err=\"%s\"",
				 r->path, strerror(-err));
		return;
	}
	r->checkpoints++;
	r->checkpoint_ms = real_ms();
}

static int bad(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The whole document is checked before anything is taken: all or nothing. */
static int checkpoint_parse(struct recommend *r, const char *text, char *why, size_t len)
{
	struct json_object *o = json_tokener_parse(text), *f, *pods;
	struct recommend_pod *got = NULL;
	size_t i, n = 0;
	int err = 0;

	if (!o || !json_object_is_type(o, json_type_object)) {
		err = bad(why, len, "not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(o, "format", &f) ||
	    !json_object_is_type(f, json_type_string) ||
	    strcmp(json_object_get_string(f), RECOMMEND_FORMAT)) {
		err = bad(why, len, "format: not \"%s\"", RECOMMEND_FORMAT);
		goto out;
	}
	if (!json_object_object_get_ex(o, "version", &f) ||
	    !json_object_is_type(f, json_type_int) ||
	    json_object_get_int64(f) != RECOMMEND_VERSION) {
		err = bad(why, len, "version: %s, this podlaned reads version %d",
			  f ? json_object_to_json_string(f) : "missing", RECOMMEND_VERSION);
		goto out;
	}
	if (!json_object_object_get_ex(o, "pods", &pods) ||
	    !json_object_is_type(pods, json_type_array)) {
		err = bad(why, len, "pods: missing or not an array");
		goto out;
	}
	n = json_object_array_length(pods);
	if (n > RECOMMEND_MAX_PODS) {
		err = bad(why, len, "pods: %zu histories, at most %d", n, RECOMMEND_MAX_PODS);
		goto out;
	}
	got = calloc(n ? n : 1, sizeof(*got));
	if (!got) {
		err = bad(why, len, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct json_object *po = json_object_array_get_idx(pods, i), *cid, *seen, *h;
		char herr[256];
		size_t j;

		if (!json_object_is_type(po, json_type_object) ||
		    !json_object_object_get_ex(po, "container_id", &cid) ||
		    !json_object_is_type(cid, json_type_string) ||
		    !json_object_get_string_len(cid) ||
		    json_object_get_string_len(cid) >= PODLANE_CONTAINER_ID_LEN ||
		    !json_object_object_get_ex(po, "last_seen_ms", &seen) ||
		    !json_object_is_type(seen, json_type_int) ||
		    !json_object_object_get_ex(po, "history", &h)) {
			err = bad(why, len, "pods[%zu]: needs container_id (1..%d characters), "
				  "last_seen_ms and history", i, PODLANE_CONTAINER_ID_LEN - 1);
			goto out;
		}
		snprintf(got[i].container_id, sizeof(got[i].container_id), "%s",
			 json_object_get_string(cid));
		for (j = 0; j < i; j++)
			if (!strcmp(got[j].container_id, got[i].container_id)) {
				err = bad(why, len, "pods[%zu]: container_id '%s' given twice", i,
					  got[i].container_id);
				goto out;
			}
		got[i].last_seen_ms = json_object_get_int64(seen);
		if (sizing_state_from_json(h, &got[i].st, herr, sizeof(herr))) {
			err = bad(why, len, "pods[%zu] (%s).history: %s", i, got[i].container_id,
				  herr);
			goto out;
		}
		sizing_estimate(&got[i].st, r->samples_per_day, &got[i].est);
	}
	free(r->pods);
	r->pods = got;
	r->npods = r->cap = n;
	got = NULL;
out:
	free(got);
	json_object_put(o);
	return err;
}

static char *read_all(const char *path, int *err)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*err = 0;
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	if (fstat(fd, &st)) {
		*err = -errno;
		goto out;
	}
	if (st.st_size > CHECKPOINT_MAX_BYTES) {
		*err = -EFBIG;
		goto out;
	}
	buf = malloc(st.st_size + 1);
	if (!buf) {
		*err = -ENOMEM;
		goto out;
	}
	while (off < (size_t)st.st_size && (n = read(fd, buf + off, st.st_size - off)) > 0)
		off += n;
	buf[off] = '\0';
	if (off != (size_t)st.st_size || strlen(buf) != off) {
		*err = -EIO;
		free(buf);
		buf = NULL;
	}
out:
	close(fd);
	return buf;
}

static void checkpoint_load(struct recommend *r)
{
	char aside[PATH_MAX + 8], why[400];
	int err;
	char *text = read_all(r->path, &err);

	if (!text && err == -ENOENT)
		return;
	if (!text)
		snprintf(why, sizeof(why), "cannot read it: %s", strerror(-err));
	else
		err = checkpoint_parse(r, text, why, sizeof(why));
	free(text);
	if (!err) {
		r->loaded = true;
		log_info("recommendation histories restored file=%s pods=%zu", r->path,
			 r->npods);
		return;
	}
	snprintf(r->refused, sizeof(r->refused), "%s", why);
	snprintf(aside, sizeof(aside), "%s.bad", r->path);
	if (rename(r->path, aside))
		snprintf(aside, sizeof(aside), "(not moved: %s)", strerror(errno));
	log_error("refusing recommendation checkpoint, histories start empty file=%s "
		  "moved_to=%s err=\"%s\"", r->path, aside, why);
}

/* ---- the tick ---- */

int recommend_open(struct agent *a)
{
	struct recommend *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	a->recommend = r;
	r->interval_s = a->recommend_interval_s ? a->recommend_interval_s :
			RECOMMEND_INTERVAL_S_DEFAULT;
	r->samples_per_day = 86400.0 / r->interval_s;
	snprintf(r->path, sizeof(r->path), "%s/%s", a->state_dir, RECOMMEND_FILE);
	checkpoint_load(r);
	r->last_checkpoint_ns = mono_ns();
	return 0;
}

void recommend_close(struct agent *a)
{
	struct recommend *r = a->recommend;

	if (!r)
		return;
	checkpoint_write(r);
	free(r->pods);
	free(r);
	a->recommend = NULL;
}

static void pod_gather(struct recommend *r, struct recommend_pod *p, const struct acct_pod *ap,
		       uint64_t now_ns, int64_t now_ms)
{
	double dt, cores;

	if (ap->has_memory && (!p->mem_seen || ap->memory_bytes > p->mem_max)) {
		p->mem_max = ap->memory_bytes;
		p->mem_seen = true;
	}
	if (!p->open) {
		p->open = true;
		p->start_ms = now_ms;
		p->start_mono_ns = now_ns;
		p->start_cpu_ns = ap->total.cpu_ns;
		p->mem_seen = ap->has_memory;
		p->mem_max = ap->has_memory ? ap->memory_bytes : 0;
		return;
	}
	/* Ticks are a second apart, give or take: close within half a tick of the interval. */
	dt = (now_ns - p->start_mono_ns) / 1e9;
	if (dt < r->interval_s - ACCT_TICK_MS / 2000.0)
		return;
	if (ap->total.cpu_ns >= p->start_cpu_ns) {
		cores = (ap->total.cpu_ns - p->start_cpu_ns) / 1e9 / dt;
		if (sizing_add_cpu(&p->st, p->start_ms, cores, 0))
			r->samples++;
	}
	if (p->mem_seen)
		sizing_add_memory(&p->st, p->start_ms, p->mem_max);
	sizing_estimate(&p->st, r->samples_per_day, &p->est);
	p->start_ms = now_ms;
	p->start_mono_ns = now_ns;
	p->start_cpu_ns = ap->total.cpu_ns;
	p->mem_seen = ap->has_memory;
	p->mem_max = ap->has_memory ? ap->memory_bytes : 0;
}

void recommend_tick(struct agent *a)
{
	struct recommend *r = a->recommend;
	struct acct *ac = a->acct;
	uint64_t now_ns = mono_ns();
	int64_t now_ms = real_ms();
	size_t i;

	if (!r || !ac || !ac->seq)
		return;
	for (i = 0; i < r->npods; i++)
		r->pods[i].live = false;
	for (i = 0; i < ac->npods; i++) {
		const struct acct_pod *ap = &ac->pods[i];
		struct recommend_pod *p;

		if (!ap->tied || !ap->meta.container_id[0])
			continue;
		p = pod_find(r, ap->meta.container_id);
		if (p && p->live)	/* its second interface: one history per pod */
			continue;
		if (!p)
			p = pod_new(r, ap->meta.container_id);
		if (!p)
			continue;
		p->live = true;
		p->last_seen_ms = now_ms;
		snprintf(p->host_ifname, sizeof(p->host_ifname), "%s", ap->meta.host_ifname);
		snprintf(p->ip, sizeof(p->ip), "%s", ap->ip);
		pod_gather(r, p, ap, now_ns, now_ms);
	}
	for (i = r->npods; i-- > 0;) {
		struct recommend_pod *p = &r->pods[i];

		if (p->live)
			continue;
		/* Gone: the open interval is lost (its end is unknown), the history kept. */
		p->open = false;
		p->host_ifname[0] = p->ip[0] = '\0';
		if (now_ms - p->last_seen_ms > RECOMMEND_KEEP_MS)
			pod_drop(r, i);
	}
	if (now_ns - r->last_checkpoint_ns >= RECOMMEND_CHECKPOINT_S * 1000000000ULL) {
		checkpoint_write(r);
		r->last_checkpoint_ns = now_ns;
	}
}
