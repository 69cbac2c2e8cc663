/* Fuzz target: the JSONL request parser (src/request) and what follows it in
 * `lamina batch` and `lamina serve`: the chat template and a request's
 * preparation (tokens, context size, the echoed prompt).
 *
 * The input is JSONL: each line goes through lm_request_parse_text under the
 * batch rules, and the first line also under a server's rules (extra fields,
 * prompt only). lm_request_parse_text must return 0 or -1; on -1 it leaves a
 * one-line message; on 0 exactly one of prompt / messages is set, every value
 * is in its documented range, and preparing the request on the Llama 2
 * vocabulary either succeeds with a context that holds the prompt or fails
 * with a one-line message. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <string.h>

#include "fuzz_common.h"
#include "request.h"

static lm_tokenizer *vocab(void) {
    static lm_tokenizer *tok;
    if (!tok) {
        lm_error e;
        tok = lm_tokenizer_load(LAMINA_FUZZ_VOCAB_PATH, 0, &e);
        FUZZ_CHECK(tok, "%s", e.msg);
    }
    return tok;
}

static void check_request(const lm_request *r, const lm_request_rules *rules) {
    FUZZ_CHECK((r->prompt != NULL) != (r->messages != NULL), "prompt xor messages");
    FUZZ_CHECK(!r->messages || (rules->allow_messages && r->n_messages > 0), "messages");
    FUZZ_CHECK(!r->prompt || rules->allow_prompt, "prompt allowed");
    FUZZ_CHECK(r->max_tokens >= 0, "max_tokens %d", r->max_tokens);
    FUZZ_CHECK(isfinite(r->temperature) && r->temperature >= 0, "temperature %g",
               (double)r->temperature);
    FUZZ_CHECK(r->topp >= 0 && r->topp <= 1, "top_p %g", (double)r->topp);
    FUZZ_CHECK(!r->echo || (rules->allow_echo && r->prompt), "echo");
    FUZZ_CHECK(!r->id || cJSON_IsString(r->id) || cJSON_IsNumber(r->id), "id type");
    for (int i = 0; i < r->n_stop; i++) FUZZ_CHECK(r->stop[i] && r->stop[i][0], "empty stop");
    for (int i = 0; i < r->n_messages; i++)
        FUZZ_CHECK(r->messages[i].content && (unsigned)r->messages[i].role <= LM_ROLE_ASSISTANT,
                   "message %d", i);
}

/* Preparation on a small context: succeeds with the prompt inside it, or fails cleanly. */
static void check_prepare(const lm_request *r) {
    lm_error e = {{0}};
    lm_request_run *run = lm_request_prepare(vocab(), 512, r, &e);
    if (!run) return fuzz_check_message(e.msg, "lm_request_prepare");
    FUZZ_CHECK(lm_request_prompt_tokens(run) >= 1 && lm_request_prompt_tokens(run) <= 512,
               "prompt tokens %d", lm_request_prompt_tokens(run));
    size_t len;
    const char *text = lm_request_text(run, &len);
    FUZZ_CHECK(text && strlen(text) == len, "text length");
    FUZZ_CHECK(lm_request_completion_offset(run) == len && lm_request_stable_len(run) == len,
               "offsets");
    FUZZ_CHECK(r->echo || len == 0, "text without echo");
    FUZZ_CHECK(lm_request_seq(run) == -1 && !lm_request_finish_reason(run), "state");
    lm_request_run_free(run);
}

static void parse_one(const char *line, size_t len, const lm_request_rules *rules) {
    lm_request r;
    lm_error e = {{0}};
    int rc = lm_request_parse_text(line, len, rules, &r, &e);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    if (rc) return fuzz_check_message(e.msg, "lm_request_parse_text");
    check_request(&r, rules);
    check_prepare(&r);
    lm_request_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const extra[] = {"model", "stream", "n", "user", NULL};
    lm_request_rules batch = lm_request_rules_default();
    lm_request_rules server = batch;
    server.extra_fields = extra;
    server.allow_messages = 0;
    server.allow_echo = 1;
    /* an exact-size copy per line, so ASan sees a read past its end */
    for (size_t start = 0, first = 1; start < size; first = 0) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t len = nl ? (size_t)(nl - (data + start)) : size - start;
        char *line = malloc(len ? len : 1);
        memcpy(line, data + start, len);
        parse_one(line, len, &batch);
        if (first) parse_one(line, len, &server);
        free(line);
        start += len + 1;
    }
    return 0;
}
