// SPDX-License-Identifier: GPL-2.0-only
/*
 * api_schema.c - the one encoder and the one decoder of the local API (api_schema.h). Both
 * walk a struct's field list; nothing here knows an operation or a key.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_schema.h"

#define AT(v, off, type)	((type *)((char *)(v) + (off)))
#define CAT(v, off, type)	((const type *)((const char *)(v) + (off)))

/* A decode in progress: where errors go, and the path of the field at hand for them. */
struct dec {
	struct api_error *e;
	char	path[256];
};

/* Append ".key" (or "key" at the top) to the path at len; the new length. */
static size_t path_key(struct dec *d, size_t len, const char *key)
{
	int n = snprintf(d->path + len, sizeof(d->path) - len, "%s%s", len ? "." : "", key);

	return n < 0 ? len : len + n < sizeof(d->path) ? len + n : sizeof(d->path) - 1;
}

static size_t path_index(struct dec *d, size_t len, size_t i)
{
	int n = snprintf(d->path + len, sizeof(d->path) - len, "[%zu]", i);

	return n < 0 ? len : len + n < sizeof(d->path) ? len + n : sizeof(d->path) - 1;
}

static int bad_value(struct dec *d, const struct api_field *f, const char *what)
{
	return api_fail(d->e, f->code ? f->code : PODLANE_ERR_DECODE, "field '%s' must be %s",
			d->path, what);
}

static const struct api_field *key_field(const struct api_schema *s)
{
	size_t i;

	for (i = 0; i < s->nfields; i++)
		if (s->fields[i].kind == API_K_KEY)
			return &s->fields[i];
	return NULL;
}

static int decode_fields(struct dec *d, size_t len, struct json_object *o,
			 const struct api_schema *s, void *v);

static int decode_int(struct dec *d, const struct api_field *f, struct json_object *j,
		      int64_t *out)
{
	char what[64];
	int64_t n = json_object_get_int64(j);

	if (json_object_is_type(j, json_type_int) && n >= f->min && n <= f->max) {
		*out = n;
		return 0;
	}
	if (f->min == INT64_MIN && f->max == INT64_MAX)
		snprintf(what, sizeof(what), "an integer");
	else if (f->max == INT64_MAX)
		snprintf(what, sizeof(what), "an integer >= %" PRId64, f->min);
	else
		snprintf(what, sizeof(what), "an integer %" PRId64 "-%" PRId64, f->min, f->max);
	return bad_value(d, f, what);
}

/* Arrays of objects: allocated and counted first, so that api_free() finds a partial one. */
static int decode_array(struct dec *d, size_t len, const struct api_field *f,
			struct json_object *j, void *v)
{
	size_t n = json_object_array_length(j), i, at;
	char *elems;

	if (!n)
		return 0;
	elems = calloc(n, f->schema->size);
	if (!elems)
		return api_fail(d->e, PODLANE_ERR_INTERNAL, "out of memory");
	*AT(v, f->off, void *) = elems;
	*AT(v, f->count_off, size_t) = n;
	for (i = 0; i < n; i++) {
		struct json_object *item = json_object_array_get_idx(j, i);

		at = path_index(d, len, i);
		if (!json_object_is_type(item, json_type_object))
			return api_fail(d->e, f->code ? f->code : PODLANE_ERR_DECODE,
					"%s must be an object", d->path);
		if (decode_fields(d, at, item, f->schema, elems + i * f->schema->size))
			return -1;
	}
	return 0;
}

/* { "<key>": {...} } into entries whose key member holds the key (borrowed from j). */
static int decode_map(struct dec *d, size_t len, const struct api_field *f,
		      struct json_object *j, void *v)
{
	const struct api_field *kf = key_field(f->schema);
	size_t n = json_object_object_length(j), i = 0, at;
	char *elems;

	if (!n)
		return 0;
	elems = calloc(n, f->schema->size);
	if (!elems)
		return api_fail(d->e, PODLANE_ERR_INTERNAL, "out of memory");
	*AT(v, f->off, void *) = elems;
	*AT(v, f->count_off, size_t) = n;
	json_object_object_foreach(j, key, val) {
		char *entry = elems + i++ * f->schema->size;

		at = path_key(d, len, key);
		if (!json_object_is_type(val, json_type_object))
			return bad_value(d, f, "an object");
		if (kf)
			*AT(entry, kf->off, const char *) = key;
		if (decode_fields(d, at, val, f->schema, entry))
			return -1;
	}
	return 0;
}

static int decode_counts(struct dec *d, size_t len, const struct api_field *f,
			 struct json_object *j, void *v)
{
	size_t n = json_object_object_length(j), i = 0;
	struct api_count *c;

	if (!n)
		return 0;
	c = calloc(n, sizeof(*c));
	if (!c)
		return api_fail(d->e, PODLANE_ERR_INTERNAL, "out of memory");
	*AT(v, f->off, struct api_count *) = c;
	*AT(v, f->count_off, size_t) = n;
	json_object_object_foreach(j, key, val) {
		path_key(d, len, key);
		if (!json_object_is_type(val, json_type_int))
			return bad_value(d, f, "an integer");
		c[i].key = key;
		c[i++].value = json_object_get_int64(val);
	}
	return 0;
}

/* A present, non-null value of field f at d->path (which ends at len) into v's member. */
static int decode_value(struct dec *d, size_t len, const struct api_field *f,
			struct json_object *j, void *v)
{
	void *p = AT(v, f->off, char);

	switch (f->kind) {
	case API_K_STR:
		if (!json_object_is_type(j, json_type_string))
			return bad_value(d, f, "a string");
		/* Everyone reads it as a C string: an embedded NUL would cut it short unseen. */
		if (strlen(json_object_get_string(j)) != (size_t)json_object_get_string_len(j))
			return bad_value(d, f, "a string without NUL characters");
		*(const char **)p = json_object_get_string(j);
		return 0;
	case API_K_INT:
		return decode_int(d, f, j, p);
	case API_K_DBL:
		if (!json_object_is_type(j, json_type_double) && !json_object_is_type(j, json_type_int))
			return bad_value(d, f, "a number");
		*(double *)p = json_object_get_double(j);
		return 0;
	case API_K_BOOL:
		if (!json_object_is_type(j, json_type_boolean))
			return bad_value(d, f, "true or false");
		*(bool *)p = json_object_get_boolean(j);
		return 0;
	case API_K_OBJ:
		if (!json_object_is_type(j, json_type_object))
			return bad_value(d, f, "an object");
		return decode_fields(d, len, j, f->schema, p);
	case API_K_ARRAY:
		if (!json_object_is_type(j, json_type_array))
			return bad_value(d, f, "an array");
		return decode_array(d, len, f, j, v);
	case API_K_MAP:
		if (!json_object_is_type(j, json_type_object))
			return bad_value(d, f, "an object");
		return decode_map(d, len, f, j, v);
	case API_K_COUNTS:
		if (!json_object_is_type(j, json_type_object))
			return bad_value(d, f, "an object");
		return decode_counts(d, len, f, j, v);
	case API_K_RAW:
		*(struct json_object **)p = j;
		return 0;
	case API_K_INLINE:
	case API_K_KEY:
		break;
	}
	return 0;
}

static int decode_fields(struct dec *d, size_t len, struct json_object *o,
			 const struct api_schema *s, void *v)
{
	size_t i, at;

	for (i = 0; i < s->nfields; i++) {
		const struct api_field *f = &s->fields[i];
		struct json_object *j = NULL;
		bool found;

		if (f->kind == API_K_KEY)
			continue;
		if (f->kind == API_K_INLINE) {
			if (decode_fields(d, len, o, f->schema, AT(v, f->off, char)))
				return -1;
			continue;
		}
		at = path_key(d, len, f->key);
		found = json_object_object_get_ex(o, f->key, &j);
		if (!found || json_object_is_type(j, json_type_null)) {
			if (!(f->flags & (API_F_OPT | API_F_NULL)))
				return api_fail(d->e, PODLANE_ERR_DECODE, "missing field '%s'",
						d->path);
			/* A string that may be absent or null: null is there. */
			if (found && f->kind == API_K_STR && (f->flags & API_F_HAS))
				*AT(v, f->has_off, bool) = true;
			continue;
		}
		if (f->flags & API_F_HAS)
			*AT(v, f->has_off, bool) = true;
		if (decode_value(d, at, f, j, v))
			return -1;
	}
	return 0;
}

int api_decode(struct json_object *o, const struct api_schema *s, void *v, struct api_error *e)
{
	struct dec d = { .e = e };

	memset(v, 0, s->size);
	if (!o || !json_object_is_type(o, json_type_object))
		return api_fail(e, PODLANE_ERR_DECODE, "not a JSON object");
	if (decode_fields(&d, 0, o, s, v)) {
		api_free(s, v);
		memset(v, 0, s->size);
		return -1;
	}
	return 0;
}

static struct json_object *encode_value(const struct api_field *f, const void *v)
{
	const void *p = CAT(v, f->off, char);
	const struct api_schema *s = f->schema;
	struct json_object *j;
	size_t i, n;

	switch (f->kind) {
	case API_K_STR:
		return *(const char *const *)p ? json_object_new_string(*(const char *const *)p)
					       : NULL;
	case API_K_INT:
		return json_object_new_int64(*(const int64_t *)p);
	case API_K_DBL:
		return json_object_new_double(*(const double *)p);
	case API_K_BOOL:
		return json_object_new_boolean(*(const bool *)p);
	case API_K_OBJ:
		return api_encode(s, p);
	case API_K_ARRAY:
		j = json_object_new_array();
		n = *CAT(v, f->count_off, size_t);
		for (i = 0; i < n; i++)
			json_object_array_add(j, api_encode(s, *(const char *const *)p +
							       i * s->size));
		return j;
	case API_K_MAP: {
		const struct api_field *kf = key_field(s);

		j = json_object_new_object();
		n = *CAT(v, f->count_off, size_t);
		for (i = 0; i < n; i++) {
			const char *entry = *(const char *const *)p + i * s->size;
			const char *key = kf ? *CAT(entry, kf->off, char *) : NULL;

			json_object_object_add(j, key ? key : "", api_encode(s, entry));
		}
		return j;
	}
	case API_K_COUNTS: {
		const struct api_count *c = *(const struct api_count *const *)p;

		j = json_object_new_object();
		n = *CAT(v, f->count_off, size_t);
		for (i = 0; i < n; i++)
			json_object_object_add(j, c[i].key ? c[i].key : "",
					       json_object_new_int64(c[i].value));
		return j;
	}
	case API_K_RAW:
		return json_object_get(*(struct json_object *const *)p);
	case API_K_INLINE:
	case API_K_KEY:
		break;
	}
	return NULL;
}

void api_encode_into(struct json_object *o, const struct api_schema *s, const void *v)
{
	size_t i;

	for (i = 0; i < s->nfields; i++) {
		const struct api_field *f = &s->fields[i];
		bool pointer = f->kind == API_K_STR || f->kind == API_K_RAW;

		if (f->kind == API_K_KEY)
			continue;
		if (f->kind == API_K_INLINE) {
			api_encode_into(o, f->schema, CAT(v, f->off, char));
			continue;
		}
		if ((f->flags & API_F_HAS) && !*CAT(v, f->has_off, bool)) {
			if (!(f->flags & API_F_OPT))
				json_object_object_add(o, f->key, NULL);
			continue;
		}
		if (pointer && !(f->flags & API_F_HAS) && !*CAT(v, f->off, void *)) {
			if (f->flags & API_F_OPT)
				continue;
			/* A required string is never null: an empty one at worst. */
			json_object_object_add(o, f->key, f->flags & API_F_NULL ||
					       f->kind == API_K_RAW ? NULL :
					       json_object_new_string(""));
			continue;
		}
		json_object_object_add(o, f->key, encode_value(f, v));
	}
}

struct json_object *api_encode(const struct api_schema *s, const void *v)
{
	struct json_object *o = json_object_new_object();

	if (o)
		api_encode_into(o, s, v);
	return o;
}

void api_free(const struct api_schema *s, void *v)
{
	size_t i, k;

	for (i = 0; i < s->nfields; i++) {
		const struct api_field *f = &s->fields[i];
		char **elems = AT(v, f->off, char *);
		size_t *n = AT(v, f->count_off, size_t);

		switch (f->kind) {
		case API_K_OBJ:
		case API_K_INLINE:
			api_free(f->schema, elems);
			break;
		case API_K_ARRAY:
		case API_K_MAP:
			for (k = 0; *elems && k < *n; k++)
				api_free(f->schema, *elems + k * f->schema->size);
			/* fall through */
		case API_K_COUNTS:
			free(*elems);
			*elems = NULL;
			*n = 0;
			break;
		default:
			break;
		}
	}
}

static bool knows(const struct api_schema *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->nfields; i++) {
		const struct api_field *f = &s->fields[i];

		if (f->kind == API_K_INLINE ? knows(f->schema, key) :
		    f->kind != API_K_KEY && !strcmp(f->key, key))
			return true;
	}
	return false;
}

void api_unknown_fields(const struct api_schema *s, struct json_object *o,
			void (*fn)(const char *key, struct json_object *val, void *data),
			void *data)
{
	if (!o || !json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, key, val)
		if (!knows(s, key))
			fn(key, val, data);
}

void api_remove_fields(struct json_object *o, const struct api_schema *s)
{
	size_t i;

	for (i = 0; i < s->nfields; i++) {
		const struct api_field *f = &s->fields[i];

		if (f->kind == API_K_INLINE)
			api_remove_fields(o, f->schema);
		else if (f->kind != API_K_KEY)
			json_object_object_del(o, f->key);
	}
}
