// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_etcd.c - etcd's answers as the sync receives them (userspace/lib/etcd.c): a range
 * answer or a watch stream from the JSON gateway, split into array elements as it streams in
 * and read by a fast scanner with json-c behind it, base64 keys and values, revisions as
 * strings. Every record kind records.c decodes arrives through here.
 *
 * The input: a mode byte (range answer with HTTP 200, 400 or 503, or a watch stream), a chunk
 * byte (the body comes in pieces of that many bytes, 0: whole, as a transfer delivers it),
 * then the body. Each body is read twice: as podlaned reads it (fast scanner first) and with
 * every element through json-c. Invariants: both give the same kvs, events, progress and
 * status (so what the sync applies never depends on which path read it); every key and value
 * is terminated at its length; the status is 0 or -errno.
 */
#include <errno.h>
#include <stdarg.h>

#include "etcd.h"
#include "fuzz.h"

#define MAX_SEEN	4096

struct seen {
	char	text[MAX_SEEN];	/* what was delivered, in order, as text */
	size_t	len;
	bool	full;
};

static void add(struct seen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct seen *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->text + s->len, sizeof(s->text) - s->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(s->text) - s->len)
		s->full = true;
	else
		s->len += n;
}

/* The bytes in hex (one vsnprintf a byte was a tenth of fuzz_etcd's time). */
static void add_hex(struct seen *s, const char *p, size_t len)
{
	static const char digit[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len && !s->full; i++) {
		if (s->len + 3 > sizeof(s->text)) {
			s->full = true;
			break;
		}
		s->text[s->len++] = digit[(unsigned char)p[i] >> 4];
		s->text[s->len++] = digit[(unsigned char)p[i] & 15];
		s->text[s->len] = '\0';
	}
}

static void add_kv(struct seen *s, const struct etcd_kv *kv)
{
	FUZZ_CHECK(kv->key[kv->key_len] == '\0' && kv->value[kv->value_len] == '\0',
		   "key or value not terminated at its length");
	add(s, "kv{");
	add_hex(s, kv->key, kv->key_len);
	add(s, "=");
	add_hex(s, kv->value, kv->value_len);
	add(s, " %lld %lld %lld %lld}", (long long)kv->create_revision,
	    (long long)kv->mod_revision, (long long)kv->version, (long long)kv->lease);
}

static int on_kv(const struct etcd_kv *kv, void *data)
{
	add_kv(data, kv);
	return 0;
}

static int on_event(const struct etcd_event *ev, void *data)
{
	add(data, "%s ", ev->type == ETCD_EVENT_DELETE ? "DELETE" : "PUT");
	add_kv(data, &ev->kv);
	return 0;
}

static void on_progress(int64_t revision, void *data)
{
	add(data, "progress %lld ", (long long)revision);
}

static const struct etcd_watch_ops ops = { .event = on_event, .progress = on_progress };

static int read_body(int mode, size_t chunk, const char *body, size_t len, bool raw,
		     struct seen *s)
{
	static const long http[] = { 200, 400, 503 };
	int64_t rev = 0, compacted = 0;
	bool more = false;
	int err;

	memset(s, 0, sizeof(*s));
	if (mode == 3) {
		err = etcd_watch_read(body, len, chunk, raw, &ops, s, &compacted);
		add(s, "status %d compacted %lld", err, (long long)compacted);
	} else {
		err = etcd_range_read(body, len, chunk, http[mode], raw, on_kv, s, &rev, &more);
		add(s, "status %d", err);
		if (!err)
			add(s, " rev %lld more %d", (long long)rev, more);
	}
	FUZZ_CHECK(err <= 0, "status %d", err);
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seen fast, slow;
	const char *body;
	size_t chunk, len;
	int mode;

	if (size < 2)
		return 0;
	mode = data[0] % 4;
	chunk = data[1];
	body = (const char *)data + 2;
	len = size - 2;
	read_body(mode, chunk, body, len, true, &fast);
	read_body(mode, chunk, body, len, false, &slow);
	FUZZ_CHECK(fast.full || slow.full || !strcmp(fast.text, slow.text),
		   "the fast scanner and json-c read the body differently:\n%s\n%s", fast.text,
		   slow.text);
	return 0;
}
