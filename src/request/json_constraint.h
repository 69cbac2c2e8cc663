/* JSON-constrained decoding for `response_format` (request.h):
 *
 *   - lm_json_schema: a JSON Schema of the supported subset compiled into
 *     nodes (json_schema.c); `{"type":"json_object"}` is the schema "any
 *     object". Unsupported keywords are refused with their JSON path.
 *   - lm_json_state: a pushdown automaton over the BYTES of the output text
 *     (a stack of frames, one per open value), which accepts exactly the
 *     prefixes of texts that parse as JSON and validate against the schema.
 *     Every state it accepts can still be completed (no dead ends), so a mask
 *     built from it never forbids every token.
 *   - lm_json_vocab: the vocabulary's token texts (the bytes each token adds
 *     to the request's text: lm_token_text) in a trie,
 *     walked with a copy of the automaton to find the tokens that extend a
 *     valid prefix (json_constraint.c). Built once per vocabulary and cached.
 *
 * Limits (documented in the README): nesting of 32 schema levels, 64
 * properties per object, containers of free JSON up to 48 deep, at most
 * LM_JSON_MAX_WS white-space bytes (spaces and newlines only) in a row outside
 * strings (none after the value), numbers with at most 16 digits before and after the point and 2
 * in the exponent. Not thread-safe per state; the vocabulary cache is. */
#ifndef LAMINA_JSON_CONSTRAINT_H
#define LAMINA_JSON_CONSTRAINT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "lamina.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LM_JSON_MAX_DEPTH 64
#define LM_JSON_MAX_WS 4

typedef struct lm_json_schema lm_json_schema;

/* `response_format` (the field's value): NULL *out for {"type":"text"}, else a
 * compiled schema. 0, or -1 with err naming the field path and the problem. */
int lm_response_format_parse(const cJSON *v, lm_json_schema **out, lm_error *err);
/* Compile a JSON Schema object (the subset); `path` names it in errors. */
lm_json_schema *lm_json_schema_compile(const cJSON *schema, const char *path, lm_error *err);
/* The schema "any JSON object" (json_object mode). */
lm_json_schema *lm_json_schema_any_object(lm_error *err);
/* Schemas are counted references: _ref adds one, _free drops one (thread-safe). */
lm_json_schema *lm_json_schema_ref(lm_json_schema *s);
void lm_json_schema_free(lm_json_schema *s);

/* One open value: what it is (node, mode, sub-state) and its counters. */
typedef struct lm_json_frame {
    uint16_t node; /* schema node */
    uint8_t mode;  /* value, object, array, string, number, literal */
    uint8_t sub;   /* the mode's state */
    int32_t a, b, c;
    uint64_t used; /* objects: the properties given so far */
} lm_json_frame;

typedef struct lm_json_state {
    const lm_json_schema *schema;
    int depth; /* 0 after the value is complete */
    int ws;    /* white-space bytes in a row */
    lm_json_frame f[LM_JSON_MAX_DEPTH];
} lm_json_state;

void lm_json_state_init(lm_json_state *st, const lm_json_schema *s);
/* Feed one byte: 1 if the text so far is still a valid prefix (the state
 * advanced), 0 if not (the state is then unspecified: work on a copy). */
int lm_json_step(lm_json_state *st, unsigned char byte);
/* Feed n bytes; 1 if all were accepted. */
int lm_json_feed(lm_json_state *st, const char *s, size_t n);
/* 1 if the text so far is a complete value that validates (it may end here). */
int lm_json_can_end(const lm_json_state *st);

typedef struct lm_json_vocab lm_json_vocab;

/* The trie of tok's token texts, from a cache keyed by the texts (built on
 * first use; shared by requests, never freed before exit). NULL with err
 * set when out of memory. */
const lm_json_vocab *lm_json_vocab_get(const lm_tokenizer *tok, lm_error *err);
/* Build one outside the cache (tests, benchmarks); free with _free. */
lm_json_vocab *lm_json_vocab_build(const lm_tokenizer *tok, lm_error *err);
void lm_json_vocab_free(lm_json_vocab *v);

/* The tokens allowed after `prev` in state st: allowed[t] = 1 or 0 for each
 * of the vocabulary's tokens. end_tokens (n_end ids, the tokens that end the
 * sequence: their text is never added) are allowed exactly when the value
 * can end. Returns how many tokens are allowed. */
int lm_json_allowed(const lm_json_vocab *v, const lm_json_state *st, int prev,
                    const int *end_tokens, int n_end, uint8_t *allowed);

#ifdef __cplusplus
}
#endif
#endif
