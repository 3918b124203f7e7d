// SPDX-License-Identifier: GPL-2.0-only
/*
 * etcd.c - etcd v3 over its JSON gateway with libcurl (see etcd.h).
 *
 * The gateway speaks protobuf's JSON mapping: bytes are base64, int64 are strings, and fields
 * at their default (false, 0, PUT) are left out. Everything here reads answers with that in
 * mind: a missing field is its zero value, not an error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "etcd.h"
#include "json_tok.h"

struct buf {
	char	*p;
	size_t	len, cap;
};

struct jsplit {
	const char	*name;		/* array to split, NULL = none */
	int		depth, arr_depth;
	bool		in_str, esc, in_elem, in_arr, capturing;
	char		last[16];	/* the last string seen outside elements (a key) */
	size_t		lastlen;
	struct buf	elem, rest;
	json_tokener	*tok;
	/* The element's bytes first (whitespace outside strings removed); -EAGAIN: parse it */
	int		(*on_raw)(struct jsplit *j, const char *p, size_t len);
	int		(*on_elem)(struct jsplit *j, struct json_object *o);
	int		(*on_value)(struct jsplit *j, struct json_object *o);
	void		*data;
	int		err;
};

struct etcd_client {
	char		*endpoints[ETCD_MAX_ENDPOINTS];
	unsigned int	nendpoints, cur;
	char		*cacert, *cert, *key;
	long		timeout_ms;
	CURL		*easy;
	struct curl_slist *headers;
	struct buf	req;
	/* decoded key/value scratch for callbacks */
	struct buf	dk, dv;
	char		err[512];
};

struct etcd_watch {
	struct etcd_client *c;
	CURL		*easy;
	CURLM		*multi;
	struct jsplit	split;
	unsigned long	nevents;	/* in the message being read */
	const struct etcd_watch_ops *ops;
	void		*data;
	char		*body;
	int		err;		/* set by the write callback: ends the watch */
	int64_t		compacted;
	bool		created;
	bool		done;
};

static int buf_reserve(struct buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->len + more + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void set_err(struct etcd_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_err(struct etcd_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

/* ---- base64 ---- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned int v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];

		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (i < len) {
		unsigned int v = in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0);

		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static signed char b64_table[256];

static void b64_table_init(void)
{
	int i;

	if (b64_table['B'])
		return;
	memset(b64_table, -1, sizeof(b64_table));
	for (i = 0; i < 64; i++)
		b64_table[(unsigned char)b64_alphabet[i]] = i;
	/* The URL-safe alphabet too: decoding costs nothing extra. */
	b64_table['-'] = 62;
	b64_table['_'] = 63;
}

/* Decode into b (NUL-terminated); -EPROTO on a character outside base64. */
static int b64_decode(const char *in, size_t len, struct buf *b)
{
	unsigned int v = 0, bits = 0;
	size_t i;

	b->len = 0;
	if (buf_reserve(b, len * 3 / 4 + 3))
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		signed char d;

		if (in[i] == '=')
			break;
		d = b64_table[(unsigned char)in[i]];
		if (d < 0)
			return -EPROTO;
		v = v << 6 | d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			b->p[b->len++] = v >> bits & 0xff;
		}
	}
	b->p[b->len] = '\0';
	return 0;
}

struct json_object *etcd_b64(const char *s, size_t len)
{
	char *out = malloc(len * 4 / 3 + 8);
	struct json_object *o;

	if (!out)
		return NULL;
	b64_encode((const unsigned char *)s, len, out);
	o = json_object_new_string(out);
	free(out);
	return o;
}

/* Append "name":"base64" to the request buffer. */
static int req_b64(struct buf *b, const char *name, const char *s, size_t len)
{
	if (buf_reserve(b, strlen(name) + len * 4 / 3 + 16))
		return -ENOMEM;
	b->len += sprintf(b->p + b->len, "\"%s\":\"", name);
	b->len += b64_encode((const unsigned char *)s, len, b->p + b->len);
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
	return 0;
}

static int req_raw(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int req_raw(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (buf_reserve(b, n + 1))
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
	return 0;
}

/* ---- JSON helpers for the gateway's encoding ---- */

static int64_t j_int(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return 0;
	/* int64 arrive as strings; json-c converts either form. */
	return json_object_get_int64(v);
}

static bool j_bool(struct json_object *o, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(o, name, &v) && json_object_get_boolean(v);
}

static int decode_kv(struct json_object *o, struct etcd_kv *kv, struct buf *kb, struct buf *vb)
{
	struct json_object *k, *v;
	int err;

	memset(kv, 0, sizeof(*kv));
	if (!json_object_object_get_ex(o, "key", &k) || !json_object_is_type(k, json_type_string))
		return -EPROTO;
	err = b64_decode(json_object_get_string(k), json_object_get_string_len(k), kb);
	if (err)
		return err;
	vb->len = 0;
	if (json_object_object_get_ex(o, "value", &v) && json_object_is_type(v, json_type_string))
		err = b64_decode(json_object_get_string(v), json_object_get_string_len(v), vb);
	else
		err = buf_reserve(vb, 1);
	if (err)
		return err;
	vb->p[vb->len] = '\0';
	kv->key = kb->p;
	kv->key_len = kb->len;
	kv->value = vb->p;
	kv->value_len = vb->len;
	kv->create_revision = j_int(o, "create_revision");
	kv->mod_revision = j_int(o, "mod_revision");
	kv->version = j_int(o, "version");
	kv->lease = j_int(o, "lease");
	return 0;
}

/*
 * A streaming splitter for the gateway's answers. A range answer may hold 100,000 kvs and a
 * watch message thousands of events: instead of one JSON tree for all of them, the elements
 * of one named array ("kvs", "events") are cut out as they arrive and parsed one at a time;
 * everything else (header, flags, errors) is kept, without the array's elements, and parsed
 * when its top-level value ends. Memory stays at one element plus the envelope, and parsing
 * overlaps the transfer.
 */

static int jsplit_init(struct jsplit *j, const char *name, void *data)
{
	memset(j, 0, sizeof(*j));
	j->name = name;
	j->data = data;
	j->tok = json_tokener_new();
	return j->tok ? 0 : -ENOMEM;
}

static void jsplit_free(struct jsplit *j)
{
	buf_free(&j->elem);
	buf_free(&j->rest);
	if (j->tok)
		json_tokener_free(j->tok);
	j->tok = NULL;
}

static struct json_object *jsplit_parse(struct jsplit *j, struct buf *b)
{
	struct json_object *o;

	json_tokener_reset_all(j->tok);
	o = json_tokener_parse_ex(j->tok, b->p, b->len);
	b->len = 0;
	return o;
}

static inline int put_byte(struct buf *b, char c)
{
	if (b->len + 2 > b->cap && buf_reserve(b, 1))
		return -ENOMEM;
	b->p[b->len++] = c;
	return 0;
}

/* Feed bytes; 0, or the first nonzero return of a callback (or -EPROTO, -ENOMEM). */
static int jsplit_feed(struct jsplit *j, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && !j->err; i++) {
		char c = p[i];
		struct buf *b = j->in_elem ? &j->elem : &j->rest;
		struct json_object *o;

		if (j->in_str) {
			if (j->esc)
				j->esc = false;
			else if (c == '\\')
				j->esc = true;
			else if (c == '"')
				j->in_str = j->capturing = false;
			else if (j->capturing && j->lastlen < sizeof(j->last) - 1)
				j->last[j->lastlen++] = c;
			if (put_byte(b, c))
				j->err = -ENOMEM;
			continue;
		}
		switch (c) {
		case ' ':
		case '\n':
		case '\r':
		case '\t':
			continue;
		case '"':
			j->in_str = true;
			if (!j->in_elem) {
				j->capturing = true;
				j->lastlen = 0;
			}
			break;
		case '{':
		case '[':
			if (j->in_arr && !j->in_elem && j->depth == j->arr_depth && c == '{') {
				j->in_elem = true;
				b = &j->elem;
			} else if (!j->in_elem && !j->in_arr && c == '[' && j->name &&
				   j->lastlen == strlen(j->name) &&
				   !memcmp(j->last, j->name, j->lastlen)) {
				j->in_arr = true;
				j->arr_depth = j->depth + 1;
			}
			j->depth++;
			break;
		case '}':
		case ']':
			if (!j->depth) {
				j->err = -EPROTO;
				continue;
			}
			j->depth--;
			if (j->in_elem && j->depth == j->arr_depth) {
				if (put_byte(b, c)) {
					j->err = -ENOMEM;
					continue;
				}
				j->in_elem = false;
				if (j->on_raw) {
					j->err = j->on_raw(j, j->elem.p, j->elem.len);
					if (j->err != -EAGAIN) {
						j->elem.len = 0;
						continue;
					}
				}
				o = jsplit_parse(j, &j->elem);
				j->err = o ? j->on_elem(j, o) : -EPROTO;
				json_object_put(o);
				continue;
			}
			if (j->in_arr && !j->in_elem && c == ']' && j->depth == j->arr_depth - 1)
				j->in_arr = false;
			if (!j->depth) {
				if (put_byte(b, c)) {
					j->err = -ENOMEM;
					continue;
				}
				o = jsplit_parse(j, &j->rest);
				j->err = o ? j->on_value(j, o) : -EPROTO;
				json_object_put(o);
				continue;
			}
			break;
		case ',':
			if (j->in_arr && !j->in_elem)
				continue;
			break;
		}
		if (put_byte(b, c))
			j->err = -ENOMEM;
	}
	return j->err;
}

/*
 * The fast path for kvs and watch events: the gateway writes a kv as an object of strings
 * (base64 and int64-as-string, never an escape) and an event as an object of such objects
 * and a type. scan_*() read exactly that shape; anything else returns -EAGAIN and the
 * element goes through json-c instead. At 100,000 events a second the difference counts.
 */
struct span {
	const char	*p;
	size_t		n;
};

struct kv_spans {
	struct span	key, value, create, mod, version, lease;
	bool		present;
};

static int scan_str(const char **pp, const char *end, struct span *out)
{
	const char *p = *pp, *q;

	if (p >= end || *p != '"')
		return -EAGAIN;
	/* Escapes are json-c's to read, and a NUL ends its input: both leave the fast path. */
	for (q = p + 1; q < end && *q != '"'; q++)
		if (*q == '\\' || *q == '\0')
			return -EAGAIN;
	if (q >= end)
		return -EAGAIN;
	out->p = p + 1;
	out->n = q - p - 1;
	*pp = q + 1;
	return 0;
}

static bool span_is(const struct span *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->n == n && !memcmp(s->p, lit, n);
}

static int scan_kv(const char **pp, const char *end, struct kv_spans *kv)
{
	const char *p = *pp;

	memset(kv, 0, sizeof(*kv));
	if (p >= end || *p++ != '{')
		return -EAGAIN;
	while (p < end && *p != '}') {
		struct span name, val, *dst = NULL;

		if (scan_str(&p, end, &name) || p >= end || *p++ != ':' ||
		    scan_str(&p, end, &val))
			return -EAGAIN;
		if (span_is(&name, "key"))
			dst = &kv->key;
		else if (span_is(&name, "value"))
			dst = &kv->value;
		else if (span_is(&name, "create_revision"))
			dst = &kv->create;
		else if (span_is(&name, "mod_revision"))
			dst = &kv->mod;
		else if (span_is(&name, "version"))
			dst = &kv->version;
		else if (span_is(&name, "lease"))
			dst = &kv->lease;
		if (dst)
			*dst = val;
		/* Members are separated by commas: anything else is not JSON, json-c's to refuse. */
		if (p < end && *p == ',')
			p++;
		else if (p < end && *p != '}')
			return -EAGAIN;
	}
	if (p >= end || !kv->key.p)
		return -EAGAIN;
	*pp = p + 1;
	kv->present = true;
	return 0;
}

/*
 * A revision as the gateway writes it: up to 18 digits (no overflow), or absent (0). Anything
 * else (a sign, more digits, letters) is -EAGAIN: json-c reads it, so both paths agree.
 */
static int span_int(const struct span *s, int64_t *v)
{
	size_t i;

	*v = 0;
	if (s->n > 18)
		return -EAGAIN;
	for (i = 0; i < s->n; i++) {
		if (s->p[i] < '0' || s->p[i] > '9')
			return -EAGAIN;
		*v = *v * 10 + (s->p[i] - '0');
	}
	return 0;
}

static int kv_from_spans(const struct kv_spans *sp, struct etcd_kv *kv, struct buf *kb,
			 struct buf *vb)
{
	int err = span_int(&sp->create, &kv->create_revision) ?:
		  span_int(&sp->mod, &kv->mod_revision) ?:
		  span_int(&sp->version, &kv->version) ?:
		  span_int(&sp->lease, &kv->lease);

	if (!err)
		err = b64_decode(sp->key.p, sp->key.n, kb);
	if (!err)
		err = b64_decode(sp->value.p ? sp->value.p : "", sp->value.n, vb);
	if (err)
		return err;
	kv->key = kb->p;
	kv->key_len = kb->len;
	kv->value = vb->p;
	kv->value_len = vb->len;
	return 0;
}

/* ---- client ---- */

static size_t split_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	size_t n = size * nmemb;

	return jsplit_feed(userdata, ptr, n) ? 0 : n;
}

static void tls_opts(struct etcd_client *c, CURL *e)
{
	if (c->cacert)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->cacert);
	if (c->cert)
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert);
	if (c->key)
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key);
}

static CURL *easy_new(struct etcd_client *c)
{
	CURL *e = curl_easy_init();

	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	/* A member that vanishes without a FIN (power loss, partition) is noticed in seconds. */
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 5L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 2L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	tls_opts(c, e);
	return e;
}

struct etcd_client *etcd_client_new(const struct etcd_config *cfg)
{
	struct etcd_client *c;
	char *list, *tok, *save = NULL;

	if (!cfg->endpoints || !cfg->endpoints[0]) {
		errno = EINVAL;
		return NULL;
	}
	b64_table_init();
	c = calloc(1, sizeof(*c));
	list = strdup(cfg->endpoints);
	if (!c || !list)
		goto nomem;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t len = strlen(tok);

		while (len && tok[len - 1] == '/')
			tok[--len] = '\0';
		if (!len)
			continue;
		if (c->nendpoints == ETCD_MAX_ENDPOINTS ||
		    (strncmp(tok, "http://", 7) && strncmp(tok, "https://", 8))) {
			free(list);
			etcd_client_free(c);
			errno = EINVAL;
			return NULL;
		}
		c->endpoints[c->nendpoints] = strdup(tok);
		if (!c->endpoints[c->nendpoints++])
			goto nomem;
	}
	free(list);
	list = NULL;
	if (!c->nendpoints) {
		etcd_client_free(c);
		errno = EINVAL;
		return NULL;
	}
	c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 5000;
	if ((cfg->cacert && !(c->cacert = strdup(cfg->cacert))) ||
	    (cfg->cert && !(c->cert = strdup(cfg->cert))) ||
	    (cfg->key && !(c->key = strdup(cfg->key))))
		goto nomem;
	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	/* No 100-continue round trip before larger bodies. */
	c->headers = curl_slist_append(c->headers, "Expect:");
	c->easy = c->headers ? easy_new(c) : NULL;
	if (!c->easy)
		goto nomem;
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, split_write);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	return c;
nomem:
	free(list);
	etcd_client_free(c);
	errno = ENOMEM;
	return NULL;
}

void etcd_client_free(struct etcd_client *c)
{
	unsigned int i;

	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	for (i = 0; i < c->nendpoints; i++)
		free(c->endpoints[i]);
	free(c->cacert);
	free(c->cert);
	free(c->key);
	buf_free(&c->req);
	buf_free(&c->dk);
	buf_free(&c->dv);
	free(c);
}

const char *etcd_last_error(const struct etcd_client *c)
{
	return c->err;
}

const char *etcd_endpoint(const struct etcd_client *c)
{
	return c->endpoints[c->cur];
}

void etcd_endpoint_next(struct etcd_client *c)
{
	c->cur = (c->cur + 1) % c->nendpoints;
}

size_t etcd_prefix_end(const char *prefix, size_t len, char *out)
{
	memcpy(out, prefix, len);
	while (len) {
		if ((unsigned char)out[len - 1] < 0xff) {
			out[len - 1]++;
			return len;
		}
		len--;
	}
	/* All 0xff: the range runs to the end of the keyspace, spelled "\0". */
	out[0] = '\0';
	return 1;
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* etcd's refusal: { "error": "...", "code": N, "message": "..." } */
static int remote_error(struct etcd_client *c, long http, struct json_object *o)
{
	struct json_object *m;
	const char *msg = "no message";
	int64_t code = j_int(o, "code");

	if (o && (json_object_object_get_ex(o, "message", &m) ||
		  json_object_object_get_ex(o, "error", &m)) && json_object_get_string(m))
		msg = json_object_get_string(m);
	set_err(c, "%s answered HTTP %ld: %s", etcd_endpoint(c), http, msg);
	/* gRPC OutOfRange: the revision was compacted. */
	if (code == 11 || strstr(msg, "compacted"))
		return -ERANGE;
	return -EREMOTEIO;
}

static int keep_value(struct jsplit *j, struct json_object *o)
{
	struct json_object **out = j->data;

	json_object_put(*out);
	*out = json_object_get(o);
	return 0;
}

/*
 * POST the request buffer to path; on HTTP 200 *out gets the answer's envelope (with the
 * elements of split's array, if any, already handed to split->on_elem). An endpoint that
 * cannot be reached, or that has no leader (HTTP 503), hands the call to the next one.
 */
static int call_split(struct etcd_client *c, const char *path, struct jsplit *split,
		      struct json_object **out)
{
	char url[512];
	unsigned int tries;
	int err = -EIO;

	*out = NULL;
	split->on_value = keep_value;
	for (tries = 0; tries < c->nendpoints; tries++) {
		long http = 0;
		CURLcode rc;

		snprintf(url, sizeof(url), "%s%s", etcd_endpoint(c), path);
		split->depth = 0;
		split->in_str = split->in_elem = split->in_arr = false;
		split->elem.len = split->rest.len = 0;
		split->err = 0;
		json_object_put(*out);
		*out = NULL;
		split->data = out;
		curl_easy_setopt(c->easy, CURLOPT_URL, url);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, split);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->req.p);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)c->req.len);
		rc = curl_easy_perform(c->easy);
		if (rc == CURLE_WRITE_ERROR && split->err) {
			/* A callback said stop, or the answer was not JSON: not the endpoint's. */
			if (split->err == -EPROTO)
				set_err(c, "%s answered something that is not JSON", url);
			json_object_put(*out);
			*out = NULL;
			return split->err;
		}
		if (rc != CURLE_OK) {
			set_err(c, "%s: %s", url, curl_easy_strerror(rc));
			err = curl_errno(rc);
			etcd_endpoint_next(c);
			continue;
		}
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &http);
		if (http == 200) {
			if (!*out) {
				set_err(c, "%s answered something that is not JSON", url);
				return -EPROTO;
			}
			return 0;
		}
		err = remote_error(c, http, *out);
		json_object_put(*out);
		*out = NULL;
		if (http != 503)
			return err;
		etcd_endpoint_next(c);
	}
	return err;
}

static int call(struct etcd_client *c, const char *path, struct json_object **out)
{
	struct jsplit j;
	int err;

	if (jsplit_init(&j, NULL, NULL))
		return -ENOMEM;
	err = call_split(c, path, &j, out);
	jsplit_free(&j);
	return err;
}

static int64_t header_revision(struct json_object *o)
{
	struct json_object *h;

	return json_object_object_get_ex(o, "header", &h) ? j_int(h, "revision") : 0;
}

struct range_walk {
	struct jsplit	j;		/* first: on_elem gets back here from it */
	struct etcd_client *c;
	etcd_kv_cb	cb;
	void		*data;
};

static int range_elem(struct jsplit *j, struct json_object *o)
{
	struct range_walk *rw = (struct range_walk *)j;
	struct etcd_kv kv;

	if (decode_kv(o, &kv, &rw->c->dk, &rw->c->dv)) {
		set_err(rw->c, "range answer holds a bad key or value");
		return -EPROTO;
	}
	return rw->cb(&kv, rw->data);
}

static int range_raw(struct jsplit *j, const char *p, size_t len)
{
	struct range_walk *rw = (struct range_walk *)j;
	const char *q = p;
	struct kv_spans sp;
	struct etcd_kv kv;

	if (scan_kv(&q, p + len, &sp) || q != p + len)
		return -EAGAIN;
	if (kv_from_spans(&sp, &kv, &rw->c->dk, &rw->c->dv))
		return -EAGAIN;
	return rw->cb(&kv, rw->data);
}

int etcd_range(struct etcd_client *c, const char *key, size_t key_len, const char *range_end,
	       size_t end_len, int64_t revision, int64_t limit, etcd_kv_cb cb, void *data,
	       int64_t *rev, bool *more)
{
	struct range_walk rw = { .c = c, .cb = cb, .data = data };
	struct json_object *o;
	int err;

	c->req.len = 0;
	if (req_raw(&c->req, "{") || req_b64(&c->req, "key", key, key_len))
		return -ENOMEM;
	if (range_end && (req_raw(&c->req, ",") || req_b64(&c->req, "range_end", range_end,
							    end_len)))
		return -ENOMEM;
	if (req_raw(&c->req, ",\"revision\":\"%lld\",\"limit\":\"%lld\"}", (long long)revision,
		    (long long)limit))
		return -ENOMEM;
	if (jsplit_init(&rw.j, "kvs", NULL))
		return -ENOMEM;
	rw.j.on_elem = range_elem;
	rw.j.on_raw = range_raw;
	err = call_split(c, "/v3/kv/range", &rw.j, &o);
	jsplit_free(&rw.j);
	if (err)
		return err;
	if (rev)
		*rev = header_revision(o);
	if (more)
		*more = j_bool(o, "more");
	json_object_put(o);
	return 0;
}

struct prefix_walk {
	etcd_kv_cb cb;
	void *data;
	char *last;
	size_t last_len, last_cap;
};

static int remember_last(const struct etcd_kv *kv, void *data)
{
	struct prefix_walk *pw = data;

	if (kv->key_len + 1 > pw->last_cap) {
		char *p = realloc(pw->last, kv->key_len + 1);

		if (!p)
			return -ENOMEM;
		pw->last = p;
		pw->last_cap = kv->key_len + 1;
	}
	memcpy(pw->last, kv->key, kv->key_len);
	pw->last_len = kv->key_len;
	return pw->cb(kv, pw->data);
}

int etcd_range_prefix(struct etcd_client *c, const char *prefix, int64_t page, etcd_kv_cb cb,
		      void *data, int64_t *rev)
{
	struct prefix_walk pw = { .cb = cb, .data = data };
	size_t plen = strlen(prefix), elen;
	char *end = malloc(plen + 1);
	int64_t at = 0;
	bool more = true;
	int err = 0;

	if (!end)
		return -ENOMEM;
	elen = etcd_prefix_end(prefix, plen, end);
	err = etcd_range(c, prefix, plen, end, elen, 0, page, remember_last, &pw, &at, &more);
	/* The following pages at the first page's revision: one consistent snapshot. */
	while (!err && more && pw.last_len) {
		char *from = malloc(pw.last_len + 1);

		if (!from) {
			err = -ENOMEM;
			break;
		}
		memcpy(from, pw.last, pw.last_len);
		from[pw.last_len] = '\0';	/* the smallest key after the last one */
		err = etcd_range(c, from, pw.last_len + 1, end, elen, at, page, remember_last,
				 &pw, NULL, &more);
		free(from);
	}
	if (rev)
		*rev = at;
	free(pw.last);
	free(end);
	return err;
}

int etcd_put(struct etcd_client *c, const char *key, const char *value, size_t value_len,
	     int64_t lease, int64_t *rev)
{
	struct json_object *o;
	int err;

	c->req.len = 0;
	if (req_raw(&c->req, "{") || req_b64(&c->req, "key", key, strlen(key)) ||
	    req_raw(&c->req, ",") || req_b64(&c->req, "value", value, value_len) ||
	    req_raw(&c->req, ",\"lease\":\"%lld\"}", (long long)lease))
		return -ENOMEM;
	err = call(c, "/v3/kv/put", &o);
	if (err)
		return err;
	if (rev)
		*rev = header_revision(o);
	json_object_put(o);
	return 0;
}

int etcd_delete(struct etcd_client *c, const char *key, const char *range_end,
		int64_t *deleted)
{
	struct json_object *o;
	int err;

	c->req.len = 0;
	if (req_raw(&c->req, "{") || req_b64(&c->req, "key", key, strlen(key)))
		return -ENOMEM;
	if (range_end && (req_raw(&c->req, ",") ||
			  req_b64(&c->req, "range_end", range_end, strlen(range_end))))
		return -ENOMEM;
	if (req_raw(&c->req, "}"))
		return -ENOMEM;
	err = call(c, "/v3/kv/deleterange", &o);
	if (err)
		return err;
	if (deleted)
		*deleted = j_int(o, "deleted");
	json_object_put(o);
	return 0;
}

int etcd_txn(struct etcd_client *c, struct json_object *txn, struct json_object **resp)
{
	const char *s = json_object_to_json_string_ext(txn, JSON_C_TO_STRING_PLAIN);

	c->req.len = 0;
	if (req_raw(&c->req, "%s", s))
		return -ENOMEM;
	return call(c, "/v3/kv/txn", resp);
}

int etcd_create(struct etcd_client *c, const char *key, const char *value, int64_t lease,
		bool *created)
{
	struct json_object *txn = json_object_new_object();
	struct json_object *cmp = json_object_new_object(), *put = json_object_new_object();
	struct json_object *op = json_object_new_object(), *arr, *resp = NULL;
	char lease_s[24];
	int err;

	/* Compare create_revision == 0: the key does not exist. EQUAL is the default result. */
	json_object_object_add(cmp, "key", etcd_b64(key, strlen(key)));
	json_object_object_add(cmp, "target", json_object_new_string("CREATE"));
	json_object_object_add(cmp, "result", json_object_new_string("EQUAL"));
	json_object_object_add(cmp, "create_revision", json_object_new_string("0"));
	arr = json_object_new_array();
	json_object_array_add(arr, cmp);
	json_object_object_add(txn, "compare", arr);
	json_object_object_add(put, "key", etcd_b64(key, strlen(key)));
	json_object_object_add(put, "value", etcd_b64(value, strlen(value)));
	snprintf(lease_s, sizeof(lease_s), "%lld", (long long)lease);
	json_object_object_add(put, "lease", json_object_new_string(lease_s));
	json_object_object_add(op, "request_put", put);
	arr = json_object_new_array();
	json_object_array_add(arr, op);
	json_object_object_add(txn, "success", arr);
	err = etcd_txn(c, txn, &resp);
	json_object_put(txn);
	if (!err)
		*created = j_bool(resp, "succeeded");
	json_object_put(resp);
	return err;
}

int etcd_lease_grant(struct etcd_client *c, int64_t ttl, int64_t *id)
{
	struct json_object *o;
	int err;

	c->req.len = 0;
	if (req_raw(&c->req, "{\"TTL\":\"%lld\"}", (long long)ttl))
		return -ENOMEM;
	err = call(c, "/v3/lease/grant", &o);
	if (err)
		return err;
	*id = j_int(o, "ID");
	json_object_put(o);
	if (!*id) {
		set_err(c, "lease grant answered without a lease ID");
		return -EPROTO;
	}
	return 0;
}

int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ttl)
{
	struct json_object *o, *r;
	int err;

	c->req.len = 0;
	if (req_raw(&c->req, "{\"ID\":\"%lld\"}", (long long)id))
		return -ENOMEM;
	/* A stream on the gRPC side; the gateway answers one request with one result. */
	err = call(c, "/v3/lease/keepalive", &o);
	if (err)
		return err;
	*ttl = json_object_object_get_ex(o, "result", &r) ? j_int(r, "TTL") : j_int(o, "TTL");
	json_object_put(o);
	return 0;
}

/* ---- watch ---- */

static int watch_event(struct jsplit *j, struct json_object *eo)
{
	struct etcd_watch *w = j->data;
	struct etcd_client *c = w->c;
	struct etcd_event ev = {};
	struct json_object *kv, *t;

	/* A type that is no string (null crashed strcmp) is no DELETE. */
	if (json_object_object_get_ex(eo, "type", &t) && json_object_is_type(t, json_type_string) &&
	    !strcmp(json_object_get_string(t), "DELETE"))
		ev.type = ETCD_EVENT_DELETE;
	if (!json_object_object_get_ex(eo, "kv", &kv) || decode_kv(kv, &ev.kv, &c->dk, &c->dv)) {
		set_err(c, "watch event without a readable kv");
		return -EPROTO;
	}
	w->nevents++;
	return w->ops->event(&ev, w->data);
}

static int watch_event_raw(struct jsplit *j, const char *p, size_t len)
{
	struct etcd_watch *w = j->data;
	struct etcd_client *c = w->c;
	const char *end = p + len;
	struct kv_spans kv = {};
	struct etcd_event ev = {};

	if (p >= end || *p++ != '{')
		return -EAGAIN;
	while (p < end && *p != '}') {
		struct span name, type;

		if (scan_str(&p, end, &name) || p >= end || *p++ != ':')
			return -EAGAIN;
		if (span_is(&name, "kv")) {
			if (scan_kv(&p, end, &kv))
				return -EAGAIN;
		} else if (span_is(&name, "type")) {
			if (scan_str(&p, end, &type))
				return -EAGAIN;
			if (span_is(&type, "DELETE"))
				ev.type = ETCD_EVENT_DELETE;
		} else {
			return -EAGAIN;
		}
		if (p < end && *p == ',')
			p++;
		else if (p < end && *p != '}')
			return -EAGAIN;
	}
	if (p + 1 != end || !kv.present || kv_from_spans(&kv, &ev.kv, &c->dk, &c->dv))
		return -EAGAIN;
	w->nevents++;
	return w->ops->event(&ev, w->data);
}

/* One watch message, its events already delivered by watch_event(). */
static int watch_message(struct jsplit *j, struct json_object *msg)
{
	struct etcd_watch *w = j->data;
	struct etcd_client *c = w->c;
	struct json_object *r, *e;
	unsigned long n = w->nevents;

	w->nevents = 0;
	if (json_object_object_get_ex(msg, "error", &e)) {
		struct json_object *m;

		set_err(c, "watch on %s failed: %s", etcd_endpoint(c),
			json_object_object_get_ex(e, "message", &m) ? json_object_get_string(m) :
			json_object_get_string(e));
		return -EREMOTEIO;
	}
	if (!json_object_object_get_ex(msg, "result", &r))
		return 0;
	if (j_int(r, "compact_revision")) {
		w->compacted = j_int(r, "compact_revision");
		set_err(c, "watch start revision was compacted, oldest left %lld",
			(long long)w->compacted);
		return -ERANGE;
	}
	if (j_bool(r, "canceled")) {
		set_err(c, "etcd canceled the watch");
		return -ECANCELED;
	}
	if (j_bool(r, "created")) {
		w->created = true;
		n = 1;	/* the header of "created" does not vouch for history still to come */
	}
	/* Only an empty response (a progress notification) vouches for the header revision. */
	if (w->ops->progress)
		w->ops->progress(n ? 0 : header_revision(r), w->data);
	return 0;
}

static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct etcd_watch *w = userdata;
	size_t len = size * nmemb;
	long http = 0;

	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &http);
	if (http != 200) {
		set_err(w->c, "watch on %s answered HTTP %ld: %.*s", etcd_endpoint(w->c), http,
			(int)(len > 200 ? 200 : len), ptr);
		w->err = -EREMOTEIO;
		return 0;
	}
	w->err = jsplit_feed(&w->split, ptr, len);
	if (w->err == -EPROTO && !w->c->err[0])
		set_err(w->c, "watch stream is not JSON");
	if (!w->err && w->ops->received)
		w->ops->received(w->data);
	return w->err ? 0 : len;
}

struct etcd_watch *etcd_watch_start(struct etcd_client *c, const char *prefix,
				    int64_t start_revision, const struct etcd_watch_ops *ops,
				    void *data)
{
	struct etcd_watch *w = calloc(1, sizeof(*w));
	size_t plen = strlen(prefix), elen;
	char url[512], *end = malloc(plen + 1);
	struct buf b = {};

	if (!w || !end)
		goto fail;
	elen = etcd_prefix_end(prefix, plen, end);
	if (req_raw(&b, "{\"create_request\":{") || req_b64(&b, "key", prefix, plen) ||
	    req_raw(&b, ",") || req_b64(&b, "range_end", end, elen) ||
	    req_raw(&b, ",\"start_revision\":\"%lld\","
		    "\"progress_notify\":true}}", (long long)start_revision))
		goto fail;
	w->body = b.p;
	b.p = NULL;
	w->c = c;
	w->ops = ops;
	w->data = data;
	w->easy = easy_new(c);
	w->multi = curl_multi_init();
	if (jsplit_init(&w->split, "events", w) || !w->easy || !w->multi)
		goto fail;
	w->split.on_elem = watch_event;
	w->split.on_raw = watch_event_raw;
	w->split.on_value = watch_message;
	snprintf(url, sizeof(url), "%s/v3/watch", etcd_endpoint(c));
	curl_easy_setopt(w->easy, CURLOPT_URL, url);
	curl_easy_setopt(w->easy, CURLOPT_POSTFIELDS, w->body);
	curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
	if (curl_multi_add_handle(w->multi, w->easy))
		goto fail;
	free(end);
	return w;
fail:
	free(end);
	buf_free(&b);
	etcd_watch_stop(w);
	errno = ENOMEM;
	return NULL;
}

int etcd_watch_poll(struct etcd_watch *w, int timeout_ms)
{
	CURLMsg *m;
	int running, left;

	if (w->done)
		return w->err ? w->err : -EPIPE;
	curl_multi_perform(w->multi, &running);
	if (running && !w->err) {
		curl_multi_poll(w->multi, NULL, 0, timeout_ms, NULL);
		curl_multi_perform(w->multi, &running);
	}
	while ((m = curl_multi_info_read(w->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		w->done = true;
		if (!w->err) {
			if (m->data.result != CURLE_OK) {
				set_err(w->c, "watch on %s broke: %s", etcd_endpoint(w->c),
					curl_easy_strerror(m->data.result));
				w->err = curl_errno(m->data.result);
			} else {
				set_err(w->c, "watch on %s ended", etcd_endpoint(w->c));
				w->err = -EPIPE;
			}
		}
	}
	if (w->err)
		w->done = true;
	return w->err;
}

int64_t etcd_watch_compacted(const struct etcd_watch *w)
{
	return w->compacted;
}

void etcd_watch_stop(struct etcd_watch *w)
{
	if (!w)
		return;
	if (w->multi && w->easy)
		curl_multi_remove_handle(w->multi, w->easy);
	if (w->easy)
		curl_easy_cleanup(w->easy);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	jsplit_free(&w->split);
	free(w->body);
	free(w);
}

/* ---- reading answers without a connection ---- */

/* A client with no endpoint and no handle: what the readers need of one (scratch, errors). */
static void reader_init(struct etcd_client *c)
{
	memset(c, 0, sizeof(*c));
	c->endpoints[0] = (char *)"(read)";
	c->nendpoints = 1;
	b64_table_init();
}

static int feed(struct jsplit *j, const char *body, size_t len, size_t chunk)
{
	size_t off, n;
	int err = 0;

	if (!chunk)
		chunk = len ? len : 1;
	for (off = 0; off < len && !err; off += n) {
		n = len - off < chunk ? len - off : chunk;
		err = jsplit_feed(j, body + off, n);
	}
	return err;
}

int etcd_range_read(const char *body, size_t len, size_t chunk, long http, bool raw,
		    etcd_kv_cb cb, void *data, int64_t *rev, bool *more)
{
	struct etcd_client c;
	struct range_walk rw = { .c = &c, .cb = cb, .data = data };
	struct json_object *o = NULL;
	int err;

	reader_init(&c);
	if (jsplit_init(&rw.j, "kvs", &o))
		return -ENOMEM;
	rw.j.on_elem = range_elem;
	rw.j.on_raw = raw ? range_raw : NULL;
	rw.j.on_value = keep_value;
	/* call_split(): a callback's error ends the transfer; HTTP 200 must leave a value. */
	err = feed(&rw.j, body, len, chunk);
	if (!err && http == 200 && !o)
		err = -EPROTO;
	else if (!err && http != 200)
		err = remote_error(&c, http, o);
	if (!err) {
		*rev = header_revision(o);
		*more = j_bool(o, "more");
	}
	json_object_put(o);
	jsplit_free(&rw.j);
	buf_free(&c.dk);
	buf_free(&c.dv);
	return err;
}

int etcd_watch_read(const char *body, size_t len, size_t chunk, bool raw,
		    const struct etcd_watch_ops *ops, void *data, int64_t *compacted)
{
	struct etcd_client c;
	struct etcd_watch w = { .c = &c, .ops = ops, .data = data };
	int err;

	reader_init(&c);
	if (jsplit_init(&w.split, "events", &w))
		return -ENOMEM;
	w.split.on_elem = watch_event;
	w.split.on_raw = raw ? watch_event_raw : NULL;
	w.split.on_value = watch_message;
	err = feed(&w.split, body, len, chunk);
	*compacted = w.compacted;
	jsplit_free(&w.split);
	buf_free(&c.dk);
	buf_free(&c.dv);
	return err;
}
