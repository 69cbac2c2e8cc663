/* POST /tokenize and POST /detokenize, llama.cpp's server's names and fields
 * (README, "Token endpoints"):
 *   {"content": TEXT, "add_special": false, "with_pieces": false}
 *     -> {"tokens": [ids]} or {"tokens": [{"id": ID, "piece": PIECE}]}
 *        (PIECE the vocabulary's text of the token, or its bytes as an array
 *        of numbers where they are not whole UTF-8);
 *   {"tokens": [ids]} -> {"content": TEXT}: the text the completions endpoint
 *        shows for those tokens after BOS (so the leading space of the
 *        sentencepiece prefix goes; a leading BOS shows nothing), bytes that
 *        are not UTF-8 as U+FFFD.
 * Unknown fields are refused, as everywhere in lamina's API. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "serve.h"
#include "request.h"

static int fail(serve_error *e, const char *param, const char *msg) {
    serve_error_set(e, 400, "invalid_request_error", param, NULL, "%s", msg);
    return -1;
}

static int get_bool(const cJSON *v, const char *name, int *out, serve_error *e) {
    if (cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) {
        char msg[96];
        snprintf(msg, sizeof msg, "field '%s': expected true or false", name);
        return fail(e, name, msg);
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A piece as llama.cpp shows it: a string, or its bytes. */
static cJSON *piece_value(const char *p) {
    if (lm_utf8_valid(p)) return cJSON_CreateString(p);
    cJSON *a = cJSON_CreateArray();
    for (const unsigned char *b = (const unsigned char *)p; a && *b; b++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(*b));
    return a;
}

static cJSON *tokenize(const serve_model *m, const cJSON *root, serve_error *e) {
    const cJSON *content = NULL, *f;
    int add_special = 0, with_pieces = 0;
    cJSON_ArrayForEach(f, root) {
        if (strcmp(f->string, "content") == 0)
            content = f;
        else if (strcmp(f->string, "add_special") == 0 ? get_bool(f, f->string, &add_special, e)
                 : strcmp(f->string, "with_pieces") == 0
                     ? get_bool(f, f->string, &with_pieces, e)
                     : fail(e, NULL,
                            "an unknown field (this endpoint takes content, "
                            "add_special and with_pieces)"))
            return NULL;
    }
    if (!cJSON_IsString(content))
        return fail(e, "content", "field 'content': expected a string"), NULL;
    lm_error err;
    int n = 0;
    int *ids = lm_tokenize(m->tok, content->valuestring, add_special, 0, &n, &err);
    if (!ids) return fail(e, "content", err.msg), NULL;
    cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "tokens");
    for (int i = 0; arr && i < n; i++) {
        if (!with_pieces) {
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
            continue;
        }
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", ids[i]);
        /* prev -1: the piece as the vocabulary has it (its space kept) */
        cJSON_AddItemToObject(t, "piece", piece_value(lm_token_piece(m->tok, -1, ids[i])));
        cJSON_AddItemToArray(arr, t);
    }
    free(ids);
    return out;
}

/* Append s, its bytes that are not whole UTF-8 as U+FFFD. */
static int append_utf8(char **buf, size_t *len, size_t *cap, const char *s) {
    char *ok = lm_utf8_repair(s, strlen(s));
    lm_bytes b = {*buf, *len, *cap};
    int rc = ok ? lm_bytes_add(&b, ok, strlen(ok), 64) : -1;
    *buf = b.p, *len = b.len, *cap = b.cap;
    free(ok);
    return rc;
}

static cJSON *detokenize(const serve_model *m, const cJSON *root, serve_error *e) {
    const cJSON *tokens = NULL, *f;
    cJSON_ArrayForEach(f, root) {
        if (strcmp(f->string, "tokens") != 0)
            return fail(e, NULL, "an unknown field (this endpoint takes tokens)"), NULL;
        tokens = f;
    }
    if (!cJSON_IsArray(tokens))
        return fail(e, "tokens", "field 'tokens': expected an array of token ids"), NULL;
    int vocab = lm_tokenizer_vocab_size(m->tok), prev = lm_tokenizer_bos(m->tok), i = 0;
    size_t len = 0, cap = 64;
    char *text = malloc(cap);
    if (text) text[0] = '\0';
    cJSON_ArrayForEach(f, tokens) {
        double d = cJSON_IsNumber(f) ? f->valuedouble : -1;
        if (!(d >= 0 && d < vocab) || d != floor(d)) {
            char msg[128];
            snprintf(msg, sizeof msg, "field 'tokens[%d]': expected a token id in [0, %d]", i,
                     vocab - 1);
            free(text);
            return fail(e, "tokens", msg), NULL;
        }
        if (i == 0 && (int)d == prev) { /* a leading BOS: the prompt's start, not text */
            i++;
            continue;
        }
        if (!text || append_utf8(&text, &len, &cap, lm_token_text(m->tok, prev, (int)d))) break;
        prev = (int)d;
        i++;
    }
    cJSON *out = text ? cJSON_CreateObject() : NULL;
    if (out) cJSON_AddStringToObject(out, "content", text);
    free(text);
    return out;
}

char *serve_tokens_json(const serve_model *m, int detok, const char *body, size_t len,
                        serve_error *e) {
    const char *end = NULL;
    lm_error err;
    e->status = 0;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    size_t used = root ? (size_t)(end - body) : 0;
    while (root && used < len && strchr(" \t\r\n", body[used]) && body[used]) used++;
    if (!root || used < len || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(e, NULL, "the body must be one JSON object"), NULL;
    }
    if (lm_json_check_text(body, len, &err)) {
        cJSON_Delete(root);
        return fail(e, NULL, err.msg), NULL;
    }
    cJSON *out = detok ? detokenize(m, root, e) : tokenize(m, root, e);
    cJSON_Delete(root);
    char *s = out ? cJSON_PrintUnformatted(out) : NULL;
    cJSON_Delete(out);
    if (!s && !e->status) serve_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
    return s;
}
