// SPDX-License-Identifier: GPL-2.0-only
/*
 * yaml_json.c - YAML and JSON text into json-c values; see yaml_json.h. libyaml's event
 * parser feeds a stack of open containers: no recursion, so the depth limit is the only bound
 * on nesting, and every refusal names the line and column where the parser stood.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "yaml_json.h"

struct frame {
	struct json_object	*obj;	/* borrowed: owned by its parent, or the root */
	bool			is_map;
	char			*key;	/* a mapping's key waiting for its value */
};

struct conv {
	struct frame		stack[TEXT_JSON_MAX_DEPTH];
	unsigned int		depth;
	struct json_object	*root;	/* the current document's value */
	bool			have_root;
	unsigned int		nodes;
	char			*err;
	size_t			errlen;
};

static int fail_at(struct conv *c, const yaml_mark_t *mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(struct conv *c, const yaml_mark_t *mark, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	n = snprintf(c->err, c->errlen, "yaml: line %zu, column %zu: ", mark->line + 1,
		     mark->column + 1);
	if (n >= c->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool all_of(const char *s, size_t n, const char *set)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strchr(set, s[i]))
			return false;
	return n > 0;
}

static bool one_of(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (!strcmp(s, *words))
			return true;
	return false;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_core_float(const char *s)
{
	bool digits = false;

	if (*s == '-' || *s == '+')
		s++;
	while (*s >= '0' && *s <= '9') {
		s++;
		digits = true;
	}
	if (*s == '.') {
		s++;
		if (!digits && !(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9') {
			s++;
			digits = true;
		}
	}
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return !*s;
}

/*
 * A plain scalar typed by the YAML 1.2 core schema into *out (NULL for null). 0, -EINVAL (an
 * integer out of range) or -ENOMEM.
 */
static int resolve_plain(struct conv *c, const yaml_event_t *ev, struct json_object **out)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", NULL };
	static const char *const infs[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
					    NULL };
	static const char *const ninfs[] = { "-.inf", "-.Inf", "-.INF", NULL };
	static const char *const nans[] = { ".nan", ".NaN", ".NAN", NULL };
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	const char *digits = s;
	int base = 0;

	*out = NULL;
	if (strlen(s) != n)	/* a plain scalar holds no NUL; keep it a string if it did */
		goto string;
	if (one_of(s, nulls))
		return 0;
	if (one_of(s, trues) || one_of(s, falses)) {
		*out = json_object_new_boolean(one_of(s, trues));
		return *out ? 0 : -ENOMEM;
	}
	if ((s[0] == '-' || s[0] == '+') && all_of(s + 1, n - 1, "0123456789"))
		base = 10;
	else if (all_of(s, n, "0123456789"))
		base = 10;
	else if (n > 2 && !strncmp(s, "0o", 2) && all_of(s + 2, n - 2, "01234567"))
		base = 8, digits = s + 2;
	else if (n > 2 && !strncmp(s, "0x", 2) && all_of(s + 2, n - 2, "0123456789abcdefABCDEF"))
		base = 16, digits = s + 2;
	if (base) {
		long long v;
		char *end;

		errno = 0;
		v = strtoll(digits, &end, base);
		if (errno || *end)
			return fail_at(c, &ev->start_mark, "integer %s is out of range", s);
		*out = json_object_new_int64(v);
		return *out ? 0 : -ENOMEM;
	}
	if (is_core_float(s) || one_of(s, infs) || one_of(s, ninfs) || one_of(s, nans)) {
		double d = one_of(s, infs) ? __builtin_inf() : one_of(s, ninfs) ? -__builtin_inf() :
			   one_of(s, nans) ? __builtin_nan("") : strtod(s, NULL);

		*out = json_object_new_double(d);
		return *out ? 0 : -ENOMEM;
	}
string:
	*out = json_object_new_string_len(s, n);
	return *out ? 0 : -ENOMEM;
}

/* A scalar's tag: none, !!str or the non-specific "!" (a string too). */
static int check_scalar_tag(struct conv *c, const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;

	if (tag && strcmp(tag, YAML_STR_TAG) && strcmp(tag, "!"))
		return fail_at(c, &ev->start_mark, "tag %.64s is not supported (only !!str)", tag);
	return 0;
}

static int scalar_value(struct conv *c, const yaml_event_t *ev, struct json_object **out)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	int err = check_scalar_tag(c, ev);

	if (err)
		return err;
	if (tag || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		*out = json_object_new_string_len((const char *)ev->data.scalar.value,
						  ev->data.scalar.length);
		return *out ? 0 : -ENOMEM;
	}
	return resolve_plain(c, ev, out);
}

/* Give v (owned; NULL is a JSON null) to the open container, or make it the document. */
static int attach(struct conv *c, struct json_object *v)
{
	struct frame *f;
	int err;

	if (!c->depth) {
		c->root = v;
		c->have_root = true;
		return 0;
	}
	f = &c->stack[c->depth - 1];
	if (f->is_map) {
		err = json_object_object_add(f->obj, f->key, v);
		free(f->key);
		f->key = NULL;
	} else {
		err = json_object_array_add(f->obj, v);
	}
	if (err) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int on_scalar(struct conv *c, const yaml_event_t *ev)
{
	struct frame *f = c->depth ? &c->stack[c->depth - 1] : NULL;
	struct json_object *v;
	int err;

	if (f && f->is_map && !f->key) {
		const char *key = (const char *)ev->data.scalar.value;

		err = check_scalar_tag(c, ev);
		if (err)
			return err;
		if (strlen(key) != ev->data.scalar.length)
			return fail_at(c, &ev->start_mark, "a mapping key holds a NUL character");
		if (json_object_object_get_ex(f->obj, key, NULL))
			return fail_at(c, &ev->start_mark, "duplicate key \"%.64s\"", key);
		f->key = strdup(key);
		return f->key ? 0 : -ENOMEM;
	}
	err = scalar_value(c, ev, &v);
	return err ?: attach(c, v);
}

static int on_open(struct conv *c, const yaml_event_t *ev, bool is_map)
{
	struct frame *f = c->depth ? &c->stack[c->depth - 1] : NULL;
	const yaml_char_t *tag = is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
	struct json_object *o;
	int err;

	if (f && f->is_map && !f->key)
		return fail_at(c, &ev->start_mark, "a mapping key must be a scalar");
	if (tag && strcmp((const char *)tag, is_map ? YAML_MAP_TAG : YAML_SEQ_TAG))
		return fail_at(c, &ev->start_mark, "tag %.64s is not supported here",
			       (const char *)tag);
	if (c->depth == TEXT_JSON_MAX_DEPTH)
		return fail_at(c, &ev->start_mark, "nested deeper than %d levels",
			       TEXT_JSON_MAX_DEPTH);
	o = is_map ? json_object_new_object() : json_object_new_array();
	if (!o)
		return -ENOMEM;
	err = attach(c, o);
	if (err)
		return err;
	c->stack[c->depth++] = (struct frame){ .obj = o, .is_map = is_map };
	return 0;
}

/* Drop what a failed conversion holds: open keys and the unfinished document. */
static void conv_reset(struct conv *c)
{
	while (c->depth) {
		c->depth--;
		free(c->stack[c->depth].key);
	}
	json_object_put(c->root);
	c->root = NULL;
	c->have_root = false;
}

static int on_event(struct conv *c, const yaml_event_t *ev, struct json_object *docs)
{
	const yaml_char_t *anchor = NULL;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		break;
	case YAML_ALIAS_EVENT:
		return fail_at(c, &ev->start_mark, "aliases (*%.64s) are not supported",
			       (const char *)ev->data.alias.anchor);
	default:
		break;
	}
	if (anchor)
		return fail_at(c, &ev->start_mark, "anchors (&%.64s) are not supported",
			       (const char *)anchor);
	if (ev->type == YAML_SCALAR_EVENT || ev->type == YAML_MAPPING_START_EVENT ||
	    ev->type == YAML_SEQUENCE_START_EVENT) {
		if (++c->nodes > TEXT_JSON_MAX_NODES)
			return fail_at(c, &ev->start_mark, "more than %d values",
				       TEXT_JSON_MAX_NODES);
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return on_scalar(c, ev);
	case YAML_MAPPING_START_EVENT:
		return on_open(c, ev, true);
	case YAML_SEQUENCE_START_EVENT:
		return on_open(c, ev, false);
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		if (c->depth)
			c->depth--;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (json_object_array_length(docs) == TEXT_JSON_MAX_DOCS)
			return fail_at(c, &ev->start_mark, "more than %d documents",
				       TEXT_JSON_MAX_DOCS);
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		if (json_object_array_add(docs, c->root))
			return -ENOMEM;
		c->root = NULL;
		c->have_root = false;
		return 0;
	default:
		return 0;
	}
}

static int parser_error(struct conv *c, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "not valid YAML";

	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (p->error == YAML_READER_ERROR) {
		snprintf(c->err, c->errlen, "yaml: byte %zu: %s", p->problem_offset, problem);
		return -EINVAL;
	}
	if (p->context)
		return fail_at(c, &p->problem_mark, "%s %s (line %zu)", problem, p->context,
			       p->context_mark.line + 1);
	return fail_at(c, &p->problem_mark, "%s", problem);
}

int yaml_to_json(const char *text, size_t len, struct json_object **docs, char *err,
		 size_t errlen)
{
	struct conv c = { .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	int ret = 0;

	*docs = NULL;
	if (len > TEXT_JSON_MAX_BYTES) {
		snprintf(err, errlen, "yaml: %zu bytes, at most %d", len, TEXT_JSON_MAX_BYTES);
		return -EINVAL;
	}
	*docs = json_object_new_array();
	if (!*docs)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser)) {
		json_object_put(*docs);
		*docs = NULL;
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && !ret) {
		if (!yaml_parser_parse(&parser, &ev)) {
			ret = parser_error(&c, &parser);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		ret = on_event(&c, &ev, *docs);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	conv_reset(&c);
	if (ret) {
		json_object_put(*docs);
		*docs = NULL;
	}
	return ret;
}

static int json_text(const char *text, size_t len, struct json_object **docs, char *err,
		     size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error jerr;
	size_t end;

	*docs = NULL;
	if (len > TEXT_JSON_MAX_BYTES) {
		snprintf(err, errlen, "json: %zu bytes, at most %d", len, TEXT_JSON_MAX_BYTES);
		return -EINVAL;
	}
	tok = json_tokener_new_ex(TEXT_JSON_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
				    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o) {
		if (jerr == json_tokener_continue || jerr == json_tokener_success)
			snprintf(err, errlen, "json: the text ends inside a value");
		else
			snprintf(err, errlen, "json: byte %zu: %s", end,
				 json_tokener_error_desc(jerr));
		return -EINVAL;
	}
	for (; end < len; end++) {
		if (!strchr(" \t\r\n", text[end]) || !text[end]) {
			json_object_put(o);
			snprintf(err, errlen, "json: byte %zu: more text after the value", end);
			return -EINVAL;
		}
	}
	*docs = json_object_new_array();
	if (!*docs || json_object_array_add(*docs, o)) {
		json_object_put(*docs);
		json_object_put(o);
		*docs = NULL;
		return -ENOMEM;
	}
	return 0;
}

int text_to_json(const char *text, size_t len, struct json_object **docs, char *err,
		 size_t errlen)
{
	size_t i = 0;

	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < len && strchr(" \t\r\n", text[i]) && text[i])
		i++;
	if (i < len && text[i] == '{')
		return json_text(text + i, len - i, docs, err, errlen);
	return yaml_to_json(text, len, docs, err, errlen);
}
