/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz.h - what podlane's libFuzzer harnesses share. A harness feeds one input to a parser the
 * way its real caller does (never exec, connect or touch a file) and checks what must hold for
 * any input: the parser returns, frees what it took, and what it accepts survives its own
 * encoder and decoder. A broken invariant is a finding like a sanitizer report: FUZZ_CHECK
 * says which and aborts, and libFuzzer keeps the input.
 */
#ifndef PODLANE_FUZZ_H
#define PODLANE_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#define FUZZ_CHECK(cond, ...)							\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "fuzz: %s:%d: invariant '%s' broken: ",	\
				__FILE__, __LINE__, #cond);			\
			fprintf(stderr, __VA_ARGS__);				\
			fprintf(stderr, "\n");					\
			abort();						\
		}								\
	} while (0)

/* An error message a parser wrote: non-empty and terminated within its buffer. */
#define FUZZ_CHECK_MSG(buf)							\
	FUZZ_CHECK((buf)[0] && memchr((buf), '\0', sizeof(buf)), "empty or unterminated message")

/*
 * The input as one JSON value, as json-c parses a message or a file: NULL when it is not one,
 * or has bytes after the value (what podlaned's etcd decoders and podlane-cni refuse too).
 */
static inline struct json_object *fuzz_json(const uint8_t *data, size_t size)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, (const char *)data, size);
	if (o && json_tokener_get_parse_end(tok) != size) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* PODLANE_FUZZ_H */
