/* Fuzz target: the JSONL request parser (src/request) and what follows it in
 * `lamina batch` and `lamina serve`: the chat template and a request's
 * preparation (tokens, context size, the echoed prompt).
 *
 * The input is JSONL: each line goes through lm_request_parse_text under the
 * batch rules, and the first line also under a server's rules (extra fields,
 * prompt only). lm_request_parse_text must return 0 or -1; on -1 it leaves a
 * one-line message in valid UTF-8; on 0 exactly one of prompt / messages is
 * set, every value is in its documented range (at most 4 stop strings of at
 * most 256 bytes), every string is valid UTF-8, messages are in the
 * template's order, and preparing the request on the Llama 2 vocabulary
 * either succeeds with a context that holds the prompt or fails with a
 * one-line message about the prompt's length (or, for a prompt of token ids,
 * an id outside the vocabulary). lm_json_check_text is checked
 * against the parsed tree: when it passes text, every field name and string
 * in the tree is valid UTF-8. */
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

/* The sampling controls, logprobs and token prompts (request_controls.c). */
static void check_controls(const lm_request *r) {
    FUZZ_CHECK(!r->prompt_ids || r->n_prompt_ids >= 1, "prompt ids");
    for (int i = 0; i < r->n_prompt_ids; i++)
        FUZZ_CHECK(r->prompt_ids[i] >= 0, "prompt id %d", r->prompt_ids[i]);
    FUZZ_CHECK(fabsf(r->presence_penalty) <= 2 && fabsf(r->frequency_penalty) <= 2, "penalties");
    FUZZ_CHECK(r->repeat_penalty > 0 && r->repeat_penalty <= 10 && r->repeat_last_n >= -1,
               "repeat_penalty %g, repeat_last_n %d", (double)r->repeat_penalty, r->repeat_last_n);
    FUZZ_CHECK(r->top_k >= 0 && r->min_p >= 0 && r->min_p <= 1, "top_k, min_p");
    FUZZ_CHECK(r->n_bias >= 0 && r->n_bias <= 1024, "logit_bias entries %d", r->n_bias);
    for (int i = 0; i < r->n_bias; i++)
        FUZZ_CHECK(r->bias_ids[i] >= 0 && fabsf(r->bias_values[i]) <= 100, "logit_bias %d", i);
    FUZZ_CHECK(r->top_logprobs >= 0 && r->top_logprobs <= LM_REQUEST_MAX_TOP_LOGPROBS &&
                   (r->logprobs || !r->top_logprobs),
               "logprobs %d, top_logprobs %d", r->logprobs, r->top_logprobs);
}

static void check_request(const lm_request *r, const lm_request_rules *rules) {
    int prompt = r->prompt != NULL || r->prompt_ids != NULL; /* text or token ids */
    FUZZ_CHECK(prompt != (r->messages != NULL), "prompt xor messages");
    FUZZ_CHECK(!r->prompt || !r->prompt_ids, "prompt: text or ids");
    FUZZ_CHECK(!r->messages || (rules->allow_messages && r->n_messages > 0), "messages");
    FUZZ_CHECK(!prompt || rules->allow_prompt, "prompt allowed");
    FUZZ_CHECK(r->max_tokens >= 0, "max_tokens %d", r->max_tokens);
    FUZZ_CHECK(isfinite(r->temperature) && r->temperature >= 0, "temperature %g",
               (double)r->temperature);
    FUZZ_CHECK(r->topp >= 0 && r->topp <= 1, "top_p %g", (double)r->topp);
    FUZZ_CHECK(!r->echo || (rules->allow_echo && prompt), "echo");
    FUZZ_CHECK(!r->id || cJSON_IsString(r->id) || cJSON_IsNumber(r->id), "id type");
    FUZZ_CHECK(!r->id || !cJSON_IsString(r->id) || lm_utf8_valid(r->id->valuestring), "id UTF-8");
    FUZZ_CHECK(!r->prompt || lm_utf8_valid(r->prompt), "prompt UTF-8");
    FUZZ_CHECK(r->n_stop <= LM_REQUEST_MAX_STOPS, "%d stop strings", r->n_stop);
    for (int i = 0; i < r->n_stop; i++)
        FUZZ_CHECK(r->stop[i] && r->stop[i][0] && strlen(r->stop[i]) <= LM_REQUEST_MAX_STOP_BYTES &&
                       lm_utf8_valid(r->stop[i]),
                   "stop %d", i);
    check_controls(r);
    int first = r->n_messages && r->messages[0].role == LM_ROLE_SYSTEM;
    for (int i = 0; i < r->n_messages; i++) {
        FUZZ_CHECK(r->messages[i].content && (unsigned)r->messages[i].role <= LM_ROLE_ASSISTANT &&
                       lm_utf8_valid(r->messages[i].content),
                   "message %d", i);
        if (i >= first)
            FUZZ_CHECK(r->messages[i].role == ((i - first) % 2 ? LM_ROLE_ASSISTANT : LM_ROLE_USER),
                       "message %d out of order", i);
    }
    FUZZ_CHECK(!r->n_messages || r->messages[r->n_messages - 1].role == LM_ROLE_USER,
               "the last message");
}

static void check_message(const char *msg, const char *what) {
    fuzz_check_message(msg, what);
    FUZZ_CHECK(lm_utf8_valid(msg), "%s: not UTF-8: %s", what, msg);
}

/* Every field name and string in the tree is valid UTF-8. */
static int tree_utf8(const cJSON *v) {
    if (v->string && !lm_utf8_valid(v->string)) return 0;
    if (cJSON_IsString(v) && !lm_utf8_valid(v->valuestring)) return 0;
    for (const cJSON *c = v->child; c; c = c->next)
        if (!tree_utf8(c)) return 0;
    return 1;
}

/* lm_json_check_text against cJSON's tree of the same text. */
static void check_json_text(const char *line, size_t len) {
    lm_error e = {{0}};
    int rc = lm_json_check_text(line, len, &e);
    FUZZ_CHECK(rc == 0 || rc == -1, "lm_json_check_text rc %d", rc);
    if (rc) return check_message(e.msg, "lm_json_check_text");
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (obj) FUZZ_CHECK(tree_utf8(obj), "lm_json_check_text passed a string that is not UTF-8");
    cJSON_Delete(obj);
}

/* Preparation on a small context: succeeds with the prompt inside it, or fails cleanly. */
static void check_prepare(const lm_request *r) {
    lm_error e = {{0}};
    lm_request_run *run = lm_request_prepare(vocab(), 512, r, &e);
    if (!run) { /* the order is the parser's: what is left is the prompt's length */
        check_message(e.msg, "lm_request_prepare");
        FUZZ_CHECK(strstr(e.msg, "the prompt is") || strstr(e.msg, "out of memory") ||
                       strstr(e.msg, "too long") ||
                       strstr(e.msg, "outside the vocabulary"), /* ids: checked here */
                   "lm_request_prepare: %s", e.msg);
        return;
    }
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
    if (rc) return check_message(e.msg, "lm_request_parse_text");
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
        check_json_text(line, len);
        parse_one(line, len, &batch);
        if (first) parse_one(line, len, &server);
        free(line);
        start += len + 1;
    }
    return 0;
}
