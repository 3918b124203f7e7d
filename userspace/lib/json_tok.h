/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * json_tok.h - reusing one json_tokener for many values (the sync's records, etcd's streamed
 * answers) safely.
 */
#ifndef PODLANE_JSON_TOK_H
#define PODLANE_JSON_TOK_H

#include <json-c/json.h>

/*
 * json_tokener_reset() and also forget a pending UTF-16 high surrogate. json-c 0.16 (Debian
 * 12's) keeps it across a reset, so after a value that ended between "\ud800" and its low half
 * the next value parsed with the same tokener gets U+FFFD before its first \u escape (found by
 * selftests/fuzz/fuzz_records). The field is public in 0.16's json_tokener.h.
 */
static inline void json_tokener_reset_all(json_tokener *tok)
{
	json_tokener_reset(tok);
	tok->high_surrogate = 0;
}

#endif /* PODLANE_JSON_TOK_H */
