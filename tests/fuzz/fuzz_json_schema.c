/* Fuzz target: response_format's schema compiler and the JSON automaton
 * (src/request/json_constraint.h).
 *
 * The input's first line is a `response_format` value (JSON); the rest is an
 * output text. lm_response_format_parse must return 0 or -1 with a one-line
 * UTF-8 message naming a field. With a schema, the text goes through the
 * automaton byte by byte: wherever it says the value may end, the prefix
 * must parse (cJSON) as one value, an object in json_object mode; and in
 * json_object mode, for the first 48 accepted bytes, the tokens of a 1k
 * vocabulary must allow at least one (no state is a dead end), except in the
 * middle of a UTF-8 character, which no token of an SPM vocabulary ends in.
 * (With a schema, an enum value in characters the vocabulary lacks is a
 * dead end by design: the request ends with an error.) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>

#include "fuzz_common.h"
#include "json_internal.h"
#include "request.h"

static const lm_json_vocab *vocab(const int **end, int *n_end) {
    static lm_tokenizer *tok;
    static const lm_json_vocab *v;
    static int stop;
    if (!tok) {
        lm_error e;
        tok = lm_tokenizer_load(LAMINA_FUZZ_JSON_VOCAB, 0, &e);
        FUZZ_CHECK(tok, "%s", e.msg);
        v = lm_json_vocab_get(tok, &e);
        FUZZ_CHECK(v, "%s", e.msg);
        stop = lm_tokenizer_stop_token(tok, 0);
    }
    *end = &stop, *n_end = 1;
    return v;
}

static void check_text(const lm_json_schema *s, const char *text, size_t n, int object) {
    const int *end;
    int n_end;
    const lm_json_vocab *v = vocab(&end, &n_end);
    static uint8_t allowed[1 << 16];
    lm_json_state st;
    lm_json_state_init(&st, s);
    for (size_t i = 0; i < n; i++) {
        if (!lm_json_step(&st, (unsigned char)text[i])) return;
        const lm_json_frame *top = st.depth ? &st.f[st.depth - 1] : NULL;
        int mid_char = top && top->mode == M_STR && top->sub == S_UTF8;
        if (i < 48 && object && !mid_char)
            FUZZ_CHECK(lm_json_allowed(v, &st, -2, end, n_end, allowed) > 0, "dead end");
        if (!lm_json_can_end(&st)) continue;
        const char *stop = NULL;
        cJSON *j = cJSON_ParseWithLengthOpts(text, i + 1, &stop, 0);
        FUZZ_CHECK(j && stop == text + i + 1, "a value the automaton ends does not parse: %.*s",
                   (int)(i + 1), text);
        FUZZ_CHECK(!object || cJSON_IsObject(j), "json_object mode: not an object");
        cJSON_Delete(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *in = (const char *)data, *nl = memchr(in, '\n', size);
    size_t head = nl ? (size_t)(nl - in) : size;
    cJSON *rf = cJSON_ParseWithLength(in, head);
    if (!rf) return 0;
    lm_json_schema *s = NULL;
    lm_error err = {0};
    if (lm_response_format_parse(rf, &s, &err)) {
        FUZZ_CHECK(err.msg[0] && !strchr(err.msg, '\n') && lm_utf8_valid(err.msg) &&
                       (strstr(err.msg, "field '") || strstr(err.msg, "out of memory")),
                   "error message: %s", err.msg);
        FUZZ_CHECK(!s, "a schema with an error");
    } else if (s && nl) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rf, "type");
        int object = cJSON_IsString(t) && strcmp(t->valuestring, "json_object") == 0 &&
                     !cJSON_GetObjectItemCaseSensitive(rf, "schema");
        check_text(s, nl + 1, size - head - 1, object);
    }
    lm_json_schema_free(s);
    cJSON_Delete(rf);
    return 0;
}
