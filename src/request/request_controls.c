/* Parsing the sampling controls, logprobs and token prompts (README,
 * "Sampling controls and logprobs"): each field checked for its type and
 * range; token ids checked against the vocabulary when the rules know it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request_controls.h"
#include "request_error.h"

/* At most this many logit_bias entries (each costs a few bytes per step). */
#define MAX_BIAS 1024

static const char *kind(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "null";
}

static int number_in(const cJSON *v, const char *field, double lo, double hi, float *out,
                     lm_error *err) {
    if (!cJSON_IsNumber(v))
        return request_set_error(err, "field '%s': expected a number, got %s", field, kind(v));
    double d = v->valuedouble;
    if (!isfinite(d) || d < lo || d > hi)
        return request_set_error(err, "field '%s': expected a number in [%g, %g], got %g", field,
                                 lo, hi, d);
    *out = (float)d;
    return 0;
}

static int int_in(const cJSON *v, const char *field, double lo, double hi, int *out,
                  lm_error *err) {
    if (!cJSON_IsNumber(v))
        return request_set_error(err, "field '%s': expected an integer, got %s", field, kind(v));
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < lo || d > hi)
        return request_set_error(err, "field '%s': expected an integer in [%.0f, %.0f], got %g",
                                 field, lo, hi, d);
    *out = (int)d;
    return 0;
}

static int check_id(int id, const lm_request_rules *rules, const char *field, lm_error *err) {
    if (rules->vocab_size > 0 && id >= rules->vocab_size)
        return request_set_error(err, "field '%s': token id %d is outside the vocabulary (0 to %d)",
                                 field, id, rules->vocab_size - 1);
    return 0;
}

int request_parse_prompt_ids(const cJSON *v, const lm_request_rules *rules, lm_request *req,
                             lm_error *err) {
    int n = cJSON_GetArraySize(v);
    if (n == 0) return request_set_error(err, "field 'prompt': an empty array");
    req->prompt_ids = malloc((size_t)n * sizeof *req->prompt_ids);
    if (!req->prompt_ids) return request_set_error(err, "out of memory");
    const cJSON *t;
    cJSON_ArrayForEach(t, v) {
        char field[32];
        snprintf(field, sizeof field, "prompt[%d]", req->n_prompt_ids);
        int id = 0;
        if (cJSON_IsArray(t))
            return request_set_error(err,
                                     "field '%s': an array (a batch of prompts) is not "
                                     "supported: send one request per prompt",
                                     field);
        if (int_in(t, field, 0, 2147483647.0, &id, err) || check_id(id, rules, field, err))
            return -1;
        req->prompt_ids[req->n_prompt_ids++] = id;
    }
    return 0;
}

/* A logit_bias key: a token id in canonical decimal ("42", not "042" or "+42"). */
static int bias_key(const char *s, int *id) {
    size_t n = strlen(s);
    if (n == 0 || n > 10 || (s[0] == '0' && n > 1)) return -1;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > 2147483647LL) return -1;
    *id = (int)v;
    return 0;
}

static int parse_bias(const cJSON *v, const lm_request_rules *rules, lm_request *req,
                      lm_error *err) {
    if (!cJSON_IsObject(v))
        return request_set_error(err,
                                 "field 'logit_bias': expected an object of token ids and "
                                 "numbers, got %s",
                                 kind(v));
    int n = cJSON_GetArraySize(v);
    if (n > MAX_BIAS)
        return request_set_error(err, "field 'logit_bias': %d entries, more than the limit of %d",
                                 n, MAX_BIAS);
    req->bias_ids = malloc((size_t)(n ? n : 1) * sizeof *req->bias_ids);
    req->bias_values = malloc((size_t)(n ? n : 1) * sizeof *req->bias_values);
    if (!req->bias_ids || !req->bias_values) return request_set_error(err, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        char field[48];
        int id = 0;
        if (bias_key(e->string, &id))
            return request_set_error(err,
                                     "field 'logit_bias': key '%.*s' is not a token id (a "
                                     "decimal integer)",
                                     lm_utf8_clip(e->string, 24), e->string);
        snprintf(field, sizeof field, "logit_bias.%d", id);
        for (int i = 0; i < req->n_bias; i++)
            if (req->bias_ids[i] == id)
                return request_set_error(err, "field '%s': given twice", field);
        if (check_id(id, rules, field, err) ||
            number_in(e, field, -100, 100, &req->bias_values[req->n_bias], err))
            return -1;
        req->bias_ids[req->n_bias++] = id;
    }
    return 0;
}

int request_parse_control(const cJSON *f, const lm_request_rules *rules, lm_request *req,
                          lm_error *err) {
    const char *name = f->string;
    if (strcmp(name, "max_completion_tokens") == 0)
        return int_in(f, name, 1, 1 << 30, &req->max_tokens, err);
    if (strcmp(name, "presence_penalty") == 0)
        return number_in(f, name, -2, 2, &req->presence_penalty, err);
    if (strcmp(name, "frequency_penalty") == 0)
        return number_in(f, name, -2, 2, &req->frequency_penalty, err);
    if (strcmp(name, "repeat_penalty") == 0) {
        if (number_in(f, name, 0, 10, &req->repeat_penalty, err)) return -1;
        if (req->repeat_penalty > 0) return 0;
        return request_set_error(err,
                                 "field 'repeat_penalty': expected a number in (0, 10], got 0");
    }
    if (strcmp(name, "repeat_last_n") == 0)
        return int_in(f, name, -1, 1 << 30, &req->repeat_last_n, err);
    if (strcmp(name, "top_k") == 0) return int_in(f, name, 0, 1 << 30, &req->top_k, err);
    if (strcmp(name, "min_p") == 0) return number_in(f, name, 0, 1, &req->min_p, err);
    if (strcmp(name, "logit_bias") == 0) return parse_bias(f, rules, req, err);
    /* read with the kind of request known (request_check_controls) */
    if (strcmp(name, "logprobs") == 0 || strcmp(name, "top_logprobs") == 0) return 0;
    return 1;
}

static const cJSON *given(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* Completions: "logprobs": k, the legacy API (k alternatives per token). */
static int completion_logprobs(const cJSON *lp, const cJSON *top, lm_request *req, lm_error *err) {
    if (top)
        return request_set_error(err, "field 'top_logprobs': is for chat; completions take "
                                      "'logprobs': k");
    if (!lp) return 0;
    if (cJSON_IsBool(lp))
        return request_set_error(err,
                                 "field 'logprobs': expected an integer in [0, %d] for "
                                 "completions, got a boolean",
                                 LM_REQUEST_MAX_TOP_LOGPROBS);
    if (int_in(lp, "logprobs", 0, LM_REQUEST_MAX_TOP_LOGPROBS, &req->top_logprobs, err)) return -1;
    req->logprobs = 1;
    return 0;
}

/* Chat: "logprobs": true and "top_logprobs": k. */
static int chat_logprobs(const cJSON *lp, const cJSON *top, lm_request *req, lm_error *err) {
    if (lp && !cJSON_IsBool(lp))
        return request_set_error(err, "field 'logprobs': expected true or false for chat, got %s",
                                 kind(lp));
    req->logprobs = cJSON_IsTrue(lp);
    if (!top) return 0;
    if (!req->logprobs)
        return request_set_error(err, "field 'top_logprobs': needs 'logprobs': true");
    return int_in(top, "top_logprobs", 0, LM_REQUEST_MAX_TOP_LOGPROBS, &req->top_logprobs, err);
}

int request_check_controls(const cJSON *obj, lm_request *req, lm_error *err) {
    const cJSON *mt = given(obj, "max_tokens"), *mct = given(obj, "max_completion_tokens");
    if (mt && mct && mt->valuedouble != mct->valuedouble)
        return request_set_error(err,
                                 "field 'max_completion_tokens': %g, but 'max_tokens' is %g: "
                                 "give one (or the same value)",
                                 mct->valuedouble, mt->valuedouble);
    const cJSON *lp = given(obj, "logprobs"), *top = given(obj, "top_logprobs");
    if (req->messages) return chat_logprobs(lp, top, req, err);
    return completion_logprobs(lp, top, req, err);
}

void request_free_controls(lm_request *req) {
    free(req->prompt_ids);
    free(req->bias_ids);
    free(req->bias_values);
}
