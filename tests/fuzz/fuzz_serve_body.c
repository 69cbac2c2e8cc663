/* Fuzz target "serve_body": the request bodies of `lamina serve`, as the HTTP
 * side hands them over (bytes of any length, not NUL-terminated), through
 * serve_parse for /v1/completions and /v1/chat/completions, without sockets.
 *
 * Oracles:
 * - a refused body gets status 400 (or 404 with code model_not_found) with
 *   a non-empty message, and the error object serve_error_json makes is
 *   valid JSON and valid UTF-8, with error.message a string, whatever bytes
 *   the body quoted;
 * - an accepted body has no \u0000 in any string, and gives a job whose
 *   prompt fits the context, and the responses built for it (the whole JSON
 *   body, and the end of a stream) are valid JSON / well-formed server-sent
 *   events, in valid UTF-8. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>

#include "fuzz_common.h"
#include "serve_job.h"

#ifndef LAMINA_FUZZ_SERVE_TOKENIZER
#define LAMINA_FUZZ_SERVE_TOKENIZER "tok1024-kjv.bin"
#endif

static serve_config cfg;
static serve_model model;

static void setup(void) {
    lm_error e;
    lm_tokenizer *tok = lm_tokenizer_load(LAMINA_FUZZ_SERVE_TOKENIZER, 0, &e);
    FUZZ_CHECK(tok != NULL, "cannot load %s: %s", LAMINA_FUZZ_SERVE_TOKENIZER, e.msg);
    cfg = (serve_config){.parallel = 4,
                         .queue = 8,
                         .ctx = 64,
                         .temperature = 1.0f,
                         .topp = 0.9f,
                         .steps = 64,
                         .max_body = 1 << 20};
    model = (serve_model){.id = "kjv1m",
                          .format = "fp32",
                          .tok = tok,
                          .cfg = &cfg,
                          .kernels = "scalar",
                          .threads = 1};
    model.info.config.seq_len = 64;
}

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF), written out here rather than shared with the server. */
static int valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        if (len == 0 || i + len > n) return 0;
        unsigned cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

/* Does the body write \u0000 inside a string? */
static int has_nul_escape(const char *b, size_t n) {
    for (size_t i = 0, in = 0; i < n; i++) {
        if (!in)
            in = b[i] == '"';
        else if (b[i] == '"')
            in = 0;
        else if (b[i] == '\\') {
            if (i + 5 < n && memcmp(b + i + 1, "u0000", 5) == 0) return 1;
            i++;
        }
    }
    return 0;
}

static void check_error(const serve_error *e) {
    FUZZ_CHECK(e->status == 400 ||
                   (e->status == 404 && e->code && strcmp(e->code, "model_not_found") == 0),
               "status %d", e->status);
    FUZZ_CHECK(e->message[0] != '\0', "an empty message");
    char *json = serve_error_json(e);
    FUZZ_CHECK(json != NULL, "no error JSON");
    FUZZ_CHECK(valid_utf8((const unsigned char *)json, strlen(json)), "not UTF-8: %s", json);
    cJSON *root = cJSON_Parse(json);
    FUZZ_CHECK(root != NULL, "error JSON does not parse: %s", json);
    const cJSON *msg = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "error"), "message");
    FUZZ_CHECK(cJSON_IsString(msg), "error.message is not a string: %s", json);
    cJSON_Delete(root);
    free(json);
}

static void check_job(struct serve_job *job) {
    FUZZ_CHECK(lm_request_prompt_tokens(job->run) <= cfg.ctx, "a prompt of %d tokens accepted",
               lm_request_prompt_tokens(job->run));
    job->stream = 0;
    FUZZ_CHECK(serve_api_final(job) == 0, "no body");
    FUZZ_CHECK(valid_utf8((const unsigned char *)job->out, job->out_len), "not UTF-8: %s",
               job->out);
    cJSON *root = cJSON_Parse(job->out);
    FUZZ_CHECK(root != NULL, "the body does not parse: %s", job->out);
    FUZZ_CHECK(cJSON_IsArray(cJSON_GetObjectItem(root, "choices")), "no choices: %s", job->out);
    cJSON_Delete(root);
    job->out_len = 0;
    job->stream = 1;
    FUZZ_CHECK(serve_api_final(job) == 0, "no stream end");
    FUZZ_CHECK(strncmp(job->out, "data: ", 6) == 0, "not an event: %s", job->out);
    const char *done = "data: [DONE]\n\n";
    FUZZ_CHECK(job->out_len >= strlen(done) &&
                   strcmp(job->out + job->out_len - strlen(done), done) == 0,
               "the stream does not end with [DONE]: %s", job->out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model.tok) setup();
    /* An exact-size copy, so that reading past the body is caught by ASan. */
    char *body = malloc(size ? size : 1);
    FUZZ_CHECK(body != NULL, "out of memory");
    memcpy(body, data, size);
    for (int kind = SERVE_COMPLETION; kind <= SERVE_CHAT; kind++) {
        struct serve_job *job = NULL;
        serve_error e = {0};
        if (serve_parse(&model, (serve_kind)kind, body, size, &job, &e) == 0) {
            FUZZ_CHECK(!has_nul_escape(body, size), "a body with \\u0000 in a string accepted");
            check_job(job);
        } else
            check_error(&e);
        serve_job_free(job);
    }
    free(body);
    return 0;
}
