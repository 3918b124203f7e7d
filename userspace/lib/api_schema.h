/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * api_schema.h - the codec under the local API (api_ops.h): each struct is described once,
 * field by field, and one encoder and one decoder walk that description. A field's JSON key is
 * its C member name (the macros stringify it), so a key is written in one place only, and the
 * macros check at compile time that the member has the C type its kind needs:
 *
 *   kind    member                              JSON
 *   STR     const char *m                       string; decode borrows it from the object,
 *                                               valid while that object lives
 *   INT     int64_t m                           integer, decode checks the range
 *   DBL     double m                            number
 *   BOOL    bool m                              true / false
 *   OBJ     struct x m                          object described by x's schema
 *   INLINE  struct x m                          x's fields, in the enclosing object
 *   ARRAY   struct x *m; size_t n_m             array of objects; decode allocates it
 *   MAP     struct x *m; size_t n_m             { "<key>": {..x..} }: x has an API_KEY member
 *   COUNTS  struct api_count *m; size_t n_m     { "<name>": <integer>, ... }
 *   RAW     struct json_object *m               any value, passed through (the service spec)
 *
 * Presence. A plain field is required: decode fails with "missing field 'm'" when it is
 * absent or null, and encode always writes it. The variants:
 *   _OPT        (strings) NULL is absent: encode leaves the key out
 *   _NULL       (strings) NULL is null; (others) with a bool has member: !has is null
 *   _IF(has)    present when the bool member has is true, absent otherwise; decode sets has.
 *               One has_<m> per field, or one flag for a group that comes and goes together
 *               (the accounting programs' counters). A present NULL string is null.
 * Decode ignores unknown fields, as the protocol says, and frees what it allocated when it
 * fails, so on error there is nothing to free; on success api_free() frees the arrays.
 *
 * Decode errors name the field with its path and say what it must be, with the code the
 * field says (PODLANE_ERR_DECODE unless given): "missing field 'container_id'",
 * "field 'mtu' must be an integer 0-65535", "attachments[2] must be an object",
 * "missing field 'attachments[2].ifname'".
 */
#ifndef PODLANE_API_SCHEMA_H
#define PODLANE_API_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "api.h"

enum api_kind {
	API_K_STR,
	API_K_INT,
	API_K_DBL,
	API_K_BOOL,
	API_K_OBJ,
	API_K_INLINE,
	API_K_ARRAY,
	API_K_MAP,
	API_K_COUNTS,
	API_K_RAW,
	API_K_KEY,	/* the key of a MAP entry: not a field of the entry's object */
};

#define API_F_OPT	0x1	/* may be absent */
#define API_F_NULL	0x2	/* may be null */
#define API_F_HAS	0x4	/* has_off holds the bool that says whether it is there */

struct api_schema;

/* One field of a struct: what the macros below build. */
struct api_field {
	const char	*key;
	enum api_kind	kind;
	unsigned int	flags;		/* API_F_* */
	size_t		off;		/* of the member */
	size_t		has_off;	/* of its bool, with API_F_HAS */
	size_t		count_off;	/* of its size_t n_<m>: ARRAY, MAP, COUNTS */
	int64_t		min, max;	/* INT: the range decode accepts */
	int		code;		/* the error code of a bad value, 0: PODLANE_ERR_DECODE */
	const struct api_schema *schema;	/* OBJ, INLINE, ARRAY, MAP: the member's */
};

struct api_schema {
	const char		*name;		/* the C struct, for messages and tests */
	size_t			size;		/* of the struct: ARRAY and MAP allocate these */
	const struct api_field	*fields;
	size_t			nfields;
};

/* One entry of a COUNTS field: { "<key>": value }. */
struct api_count {
	const char	*key;
	int64_t		value;
};

/*
 * Decode o into v (zeroed first). 0, or -1 with e set when a field is missing or mistyped;
 * v is then zeroed again, with nothing to free.
 */
int api_decode(struct json_object *o, const struct api_schema *s, void *v, struct api_error *e);
/* Add v's fields to o; api_encode() into a new object. RAW members gain a reference. */
void api_encode_into(struct json_object *o, const struct api_schema *s, const void *v);
struct json_object *api_encode(const struct api_schema *s, const void *v);
/* The length of v's JSON text as replies are sent (plain): what an entry adds to a page. */
size_t api_encoded_len(const struct api_schema *s, const void *v);
/* Free the arrays decode allocated (or any malloc'ed ones) and zero their members. */
void api_free(const struct api_schema *s, void *v);
/* Take the fields s describes out of o (a reply's envelope). */
void api_remove_fields(struct json_object *o, const struct api_schema *s);
/* Call fn for each field of o that s does not describe: what a newer agent added. */
void api_unknown_fields(const struct api_schema *s, struct json_object *o,
			void (*fn)(const char *key, struct json_object *val, void *data),
			void *data);

/* ---- building the descriptions ---- */

/* 0, and a compile error unless T's member m is of type ctype. */
#define API_TYPE_CHECK(T, m, ctype)						\
	(0 * sizeof(struct {							\
		_Static_assert(__builtin_types_compatible_p(			\
			__typeof__(((T *)0)->m), ctype),			\
			#T "." #m " must be " #ctype);				\
		int unused;							\
	}))

#define API_FIELD_(T, m, ctype, kind_, flags_, ...)				\
	{ .key = #m, .kind = kind_, .flags = flags_,				\
	  .off = offsetof(T, m) + API_TYPE_CHECK(T, m, ctype), __VA_ARGS__ }
#define API_HAS_(T, has)	.has_off = offsetof(T, has) + API_TYPE_CHECK(T, has, bool)
#define API_COUNT_(T, m)	.count_off = offsetof(T, n_##m) + API_TYPE_CHECK(T, n_##m, size_t)
#define API_ANY_INT_		.min = INT64_MIN, .max = INT64_MAX

#define API_STR(T, m)		API_FIELD_(T, m, const char *, API_K_STR, 0)
#define API_STR_OPT(T, m)	API_FIELD_(T, m, const char *, API_K_STR, API_F_OPT)
#define API_STR_NULL(T, m)	API_FIELD_(T, m, const char *, API_K_STR, API_F_NULL)
#define API_STR_IF(T, m, has)	API_FIELD_(T, m, const char *, API_K_STR,		\
					   API_F_OPT | API_F_NULL | API_F_HAS, API_HAS_(T, has))

/* Integers with a range; code is the error code of a bad one (0: PODLANE_ERR_DECODE). */
#define API_INT(T, m, lo, hi, code_)						\
	API_FIELD_(T, m, int64_t, API_K_INT, 0, .min = lo, .max = hi, .code = code_)
#define API_INT_IF(T, m, has, lo, hi, code_)					\
	API_FIELD_(T, m, int64_t, API_K_INT, API_F_OPT | API_F_HAS, API_HAS_(T, has),	\
		   .min = lo, .max = hi, .code = code_)
/* Integers of replies: any int64. */
#define API_I64(T, m)		API_FIELD_(T, m, int64_t, API_K_INT, 0, API_ANY_INT_)
#define API_I64_IF(T, m, has)	API_FIELD_(T, m, int64_t, API_K_INT, API_F_OPT | API_F_HAS,	\
					   API_HAS_(T, has), API_ANY_INT_)
#define API_I64_NULL(T, m, has)	API_FIELD_(T, m, int64_t, API_K_INT, API_F_NULL | API_F_HAS,	\
					   API_HAS_(T, has), API_ANY_INT_)

#define API_DBL(T, m)		API_FIELD_(T, m, double, API_K_DBL, 0)
#define API_DBL_IF(T, m, has)	API_FIELD_(T, m, double, API_K_DBL, API_F_OPT | API_F_HAS,	\
					   API_HAS_(T, has))
#define API_BOOL(T, m)		API_FIELD_(T, m, bool, API_K_BOOL, 0)
#define API_BOOL_IF(T, m, has)	API_FIELD_(T, m, bool, API_K_BOOL, API_F_OPT | API_F_HAS,	\
					   API_HAS_(T, has))

#define API_OBJ(T, m, s)	API_FIELD_(T, m, __typeof__(((T *)0)->m), API_K_OBJ, 0,	\
					   .schema = &(s))
#define API_OBJ_IF(T, m, s, has) API_FIELD_(T, m, __typeof__(((T *)0)->m), API_K_OBJ,	\
					    API_F_OPT | API_F_HAS, API_HAS_(T, has),	\
					    .schema = &(s))
#define API_OBJ_NULL(T, m, s, has) API_FIELD_(T, m, __typeof__(((T *)0)->m), API_K_OBJ,	\
					      API_F_NULL | API_F_HAS, API_HAS_(T, has),	\
					      .schema = &(s))
#define API_INLINE(T, m, s)	API_FIELD_(T, m, __typeof__(((T *)0)->m), API_K_INLINE, 0,	\
					   .schema = &(s))

#define API_ARRAY(T, m, s)	API_FIELD_(T, m, __typeof__(((T *)0)->m), API_K_ARRAY, 0,	\
					   API_COUNT_(T, m), .schema = &(s))
#define API_ARRAY_IF(T, m, s, has) API_FIELD_(T, m, __typeof__(((T *)0)->m), API_K_ARRAY,	\
					      API_F_OPT | API_F_HAS, API_HAS_(T, has),	\
					      API_COUNT_(T, m), .schema = &(s))
#define API_MAP(T, m, s)	API_FIELD_(T, m, __typeof__(((T *)0)->m), API_K_MAP, 0,	\
					   API_COUNT_(T, m), .schema = &(s))
#define API_KEY(T, m)		API_FIELD_(T, m, const char *, API_K_KEY, 0)
#define API_COUNTS(T, m)	API_FIELD_(T, m, struct api_count *, API_K_COUNTS, 0,	\
					   API_COUNT_(T, m))

#define API_RAW(T, m)		API_FIELD_(T, m, struct json_object *, API_K_RAW, 0)

/* The description of struct T, named var: API_SCHEMA(x_schema, struct x, API_STR(...), ...) */
#define API_SCHEMA(var, T, ...)							\
	static const struct api_field var##_fields[] = { __VA_ARGS__ };		\
	static const struct api_schema var = {					\
		.name = #T, .size = sizeof(T), .fields = var##_fields,		\
		.nfields = sizeof(var##_fields) / sizeof(var##_fields[0]),	\
	}
/* A struct without fields (an operation whose request or reply carries nothing). */
#define API_SCHEMA_EMPTY(var, T)						\
	static const struct api_schema var = { .name = #T, .size = sizeof(T) }

#endif /* PODLANE_API_SCHEMA_H */
