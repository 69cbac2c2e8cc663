/* Fuzz target "serve_body": the request bodies of `lamina serve`, as the HTTP
 * side hands them over (bytes of any length, not NUL-terminated), through
 * serve_parse for /v1/completions and /v1/chat/completions, without sockets.
 *
 * Oracles:
 * - a refused body gets status 400 with a non-empty message, and the error
 *   object serve_error_json makes is valid JSON with error.message a string;
 * - an accepted body gives a job whose prompt fits the context, and the
 *   responses built for it (the whole JSON body, and the end of a stream)
 *   are valid JSON / well-formed server-sent events. */
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

static void check_error(const serve_error *e) {
    FUZZ_CHECK(e->status == 400, "status %d", e->status);
    FUZZ_CHECK(e->message[0] != '\0', "an empty message");
    char *json = serve_error_json(e);
    FUZZ_CHECK(json != NULL, "no error JSON");
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
        if (serve_parse(&model, (serve_kind)kind, body, size, &job, &e) == 0)
            check_job(job);
        else
            check_error(&e);
        serve_job_free(job);
    }
    free(body);
    return 0;
}
