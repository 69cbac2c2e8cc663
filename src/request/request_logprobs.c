/* The "logprobs" of a choice (README, "Sampling controls and logprobs"), from
 * the request run's entries (request.h, lm_request_logprob), for serve's
 * answers and chunks and batch's records:
 *   completions (OpenAI's legacy shape): {"tokens": [...], "token_logprobs":
 *     [...], "top_logprobs": [{TOKEN: LOGPROB, ...}, ...], "text_offset": [...]}
 *     with echo the prompt's tokens first, the first with null; text_offset
 *     counts bytes of the choice's text (the request's text);
 *   chat: {"content": [{"token", "logprob", "bytes", "top_logprobs":
 *     [{"token", "logprob", "bytes"}]}]}.
 * Token strings are the token's text in the choice's text, bytes that are
 * not whole UTF-8 as U+FFFD (chat's "bytes" has the raw ones). */
#include <stdlib.h>
#include <string.h>

#include "request.h"

/* s with its bytes that are not whole UTF-8 as U+FFFD, as a JSON string. */
static cJSON *token_string(const char *s) {
    char *out = lm_utf8_repair(s, strlen(s));
    cJSON *v = out ? cJSON_CreateString(out) : NULL;
    free(out);
    return v;
}

static cJSON *bytes_of(const char *s) {
    cJSON *a = cJSON_CreateArray();
    for (const unsigned char *b = (const unsigned char *)s; a && *b; b++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(*b));
    return a;
}

static cJSON *chat_token(const char *text, double logprob) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddItemToObject(t, "token", token_string(text));
    cJSON_AddNumberToObject(t, "logprob", logprob);
    cJSON_AddItemToObject(t, "bytes", bytes_of(text));
    return t;
}

static cJSON *chat_entry(const lm_request_run *run, const lm_request_logprob *e) {
    cJSON *t = chat_token(lm_request_token_text(run, e->prev, e->token), e->logprob);
    cJSON *top = cJSON_AddArrayToObject(t, "top_logprobs");
    for (int j = 0; j < e->n_top; j++)
        cJSON_AddItemToArray(
            top, chat_token(lm_request_token_text(run, e->prev, e->top[j]), e->top_logprob[j]));
    return t;
}

static void completion_entry(const lm_request_run *run, const lm_request_logprob *e, cJSON *tokens,
                             cJSON *lps, cJSON *tops, cJSON *offsets) {
    cJSON_AddItemToArray(tokens, token_string(lm_request_token_text(run, e->prev, e->token)));
    if (!e->has_logprob) {
        cJSON_AddItemToArray(lps, cJSON_CreateNull());
        cJSON_AddItemToArray(tops, cJSON_CreateNull());
    } else {
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(e->logprob));
        cJSON *top = cJSON_CreateObject();
        for (int j = 0; j < e->n_top; j++) {
            cJSON *key = token_string(lm_request_token_text(run, e->prev, e->top[j]));
            /* tokens of the same text: the likeliest stands for them */
            if (key && !cJSON_GetObjectItemCaseSensitive(top, key->valuestring))
                cJSON_AddNumberToObject(top, key->valuestring, e->top_logprob[j]);
            cJSON_Delete(key);
        }
        cJSON_AddItemToArray(tops, top);
    }
    cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)e->offset));
}

cJSON *lm_request_logprobs_json(const lm_request_run *run, int chat, int from, int to) {
    int n = 0;
    const lm_request_logprob *e = lm_request_logprobs(run, &n);
    if (to > n) to = n;
    cJSON *o = cJSON_CreateObject();
    if (chat) {
        cJSON *content = cJSON_AddArrayToObject(o, "content");
        for (int i = from; i < to; i++) cJSON_AddItemToArray(content, chat_entry(run, &e[i]));
    } else {
        cJSON *tokens = cJSON_AddArrayToObject(o, "tokens");
        cJSON *lps = cJSON_AddArrayToObject(o, "token_logprobs");
        cJSON *tops = cJSON_AddArrayToObject(o, "top_logprobs");
        cJSON *offsets = cJSON_AddArrayToObject(o, "text_offset");
        for (int i = from; i < to; i++) completion_entry(run, &e[i], tokens, lps, tops, offsets);
    }
    return o;
}
