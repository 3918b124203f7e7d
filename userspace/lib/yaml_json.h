/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * yaml_json.h - Kubernetes objects as users write them, YAML or JSON, turned into json-c
 * values, so that one validator walks JSON whatever the input's format. YAML is read with
 * libyaml (no hand-written parser); its scalars are typed as the YAML 1.2 core schema types
 * them, which is what a JSON reader would see:
 *
 *   quoted ('x', "x"), block (| >) or tagged !!str / !   string
 *   null Null NULL ~ and nothing                          null
 *   true True TRUE false False FALSE                      boolean (yes/no/on/off: strings)
 *   [-+]?[0-9]+  0o[0-7]+  0x[0-9a-fA-F]+                  integer (int64, else an error)
 *   [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?      float (and .inf, .nan)
 *   anything else                                         string
 *
 * Refused, with the line and column: anchors and aliases (so no merge keys and no exponential
 * alias expansion), tags other than !!str and !, mapping keys that are not scalars, duplicate
 * keys, nesting deeper than TEXT_JSON_MAX_DEPTH, more than TEXT_JSON_MAX_NODES values, input
 * larger than TEXT_JSON_MAX_BYTES, invalid UTF-8.
 *
 * A text is JSON when its first character other than white space (and a UTF-8 byte-order
 * mark) is '{': it is then parsed by json-c in strict mode as one value, with the same depth
 * limit. Anything else is YAML: a stream of one or more documents ("---").
 */
#ifndef PODLANE_YAML_JSON_H
#define PODLANE_YAML_JSON_H

#include <stddef.h>
#include <json-c/json.h>

#define TEXT_JSON_MAX_BYTES	(1024 * 1024)	/* etcd refuses objects above 1.5 MiB anyway */
#define TEXT_JSON_MAX_DEPTH	32
#define TEXT_JSON_MAX_NODES	100000
#define TEXT_JSON_MAX_DOCS	256

/*
 * Parse text (len bytes, no terminating NUL needed) into *docs, a new JSON array holding each
 * document of the stream in order (a document with no content is a JSON null; JSON text gives
 * exactly one). 0, or -EINVAL with err holding "yaml: line L, column C: <problem>" or
 * "json: <problem>" (*docs NULL), or -ENOMEM.
 */
int text_to_json(const char *text, size_t len, struct json_object **docs, char *err,
		 size_t errlen);

/* The same for text known to be YAML (a JSON text is YAML too, read as YAML then). */
int yaml_to_json(const char *text, size_t len, struct json_object **docs, char *err,
		 size_t errlen);

#endif /* PODLANE_YAML_JSON_H */
