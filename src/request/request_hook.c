/* A request's logits hook (request_hook.h). At each position the request
 * samples, in this order (README, "Sampling controls and logprobs"):
 *   a. logprobs: the log-softmax of the untouched logits is captured;
 *   b. logit_bias, then repeat_penalty, then presence and frequency penalties;
 *   c. the constraint (JSON mode, json_run.h) masks tokens;
 *   d. top_k, then min_p, which so choose among the tokens c allows;
 * then the batch's sampler runs as always (temperature, top-p: run.c's).
 *
 * The log-softmax, in double from the f32 logits x[0..n):
 *   m = max x[i] (a float); s = sum over i ascending of exp((double)x[i] - m);
 *   logprob(i) = ((double)x[i] - m) - log(s).
 * tests/test_logprobs.c checks those bits against the library's logits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "request_hook.h"

int request_hook_init(request_hook *h, const lm_request *req, const int *prompt, int n_prompt,
                      int vocab, lm_json_run *constraint) {
    *h = (request_hook){.vocab = vocab,
                        .logprobs = req->logprobs,
                        .n_top = req->top_logprobs,
                        .presence = req->presence_penalty,
                        .frequency = req->frequency_penalty,
                        .repeat = req->repeat_penalty > 0 ? req->repeat_penalty : 1.0f,
                        .min_p = req->min_p,
                        .repeat_last_n = req->repeat_last_n,
                        .top_k = req->top_k < vocab ? req->top_k : 0,
                        .n_bias = req->n_bias,
                        .constraint = constraint,
                        .prompt = prompt,
                        .n_prompt = n_prompt};
    if (!request_hook_wanted(h)) return 0;
    size_t v = (size_t)vocab;
    h->bias_id_copy = malloc((size_t)(h->n_bias + 1) * sizeof *h->bias_id_copy);
    h->bias_value_copy = malloc((size_t)(h->n_bias + 1) * sizeof *h->bias_value_copy);
    h->stamp = calloc(v, sizeof *h->stamp);
    h->count = calloc(v, sizeof *h->count);
    h->work = malloc(v * sizeof *h->work);
    h->raw = malloc(v * sizeof *h->raw);
    if (!h->bias_id_copy || !h->bias_value_copy || !h->stamp || !h->count || !h->work || !h->raw)
        return -1;
    if (h->n_bias) {
        memcpy(h->bias_id_copy, req->bias_ids, (size_t)h->n_bias * sizeof *h->bias_id_copy);
        memcpy(h->bias_value_copy, req->bias_values,
               (size_t)h->n_bias * sizeof *h->bias_value_copy);
    }
    return 0;
}

void request_hook_free(request_hook *h) {
    free(h->bias_id_copy);
    free(h->bias_value_copy);
    free(h->gen);
    free(h->stamp);
    free(h->count);
    free(h->work);
    free(h->raw);
    free(h->entries);
    *h = (request_hook){0};
}

int request_hook_wanted(const request_hook *h) {
    return h->logprobs || h->n_bias || h->presence != 0 || h->frequency != 0 ||
           (h->repeat != 1.0f && h->repeat_last_n != 0) || h->top_k > 0 || h->min_p > 0 ||
           h->constraint;
}

/* ---- logprobs ----------------------------------------------------------- */

static void log_softmax_norm(const float *x, int n, double *max, double *lse) {
    float m = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > m) m = x[i];
    double s = 0.0;
    for (int i = 0; i < n; i++) s += exp((double)x[i] - (double)m);
    *max = m;
    *lse = log(s);
}

static double logprob_of(const float *x, int i, double max, double lse) {
    return ((double)x[i] - max) - lse;
}

/* The k likeliest tokens of x, likeliest first, ties to the lower id. */
static void top_tokens(const float *x, int n, int k, double max, double lse,
                       lm_request_logprob *e) {
    e->n_top = 0;
    for (int i = 0; i < n && k > 0; i++) {
        if (e->n_top == k && !(x[i] > x[e->top[k - 1]])) continue;
        int j = e->n_top < k ? e->n_top++ : k - 1;
        while (j > 0 && x[i] > x[e->top[j - 1]]) { /* strictly: equal ones stay first */
            e->top[j] = e->top[j - 1];
            j--;
        }
        e->top[j] = i;
    }
    for (int j = 0; j < e->n_top; j++) e->top_logprob[j] = logprob_of(x, e->top[j], max, lse);
}

static lm_request_logprob *new_entry(request_hook *h) {
    if (h->n_entries == h->cap_entries) {
        int cap = h->cap_entries ? h->cap_entries * 2 : 64;
        lm_request_logprob *e = realloc(h->entries, (size_t)cap * sizeof *e);
        if (!e) return NULL;
        h->entries = e;
        h->cap_entries = cap;
    }
    lm_request_logprob *e = &h->entries[h->n_entries++];
    *e = (lm_request_logprob){0};
    return e;
}

int request_hook_prompt_entry(request_hook *h, int i, int prev, size_t offset, size_t len) {
    lm_request_logprob *e = new_entry(h);
    if (!e) return -1;
    *e = (lm_request_logprob){.token = h->prompt[i], .prev = prev, .offset = offset, .len = len};
    h->n_prompt_entries++;
    return 0;
}

/* The logits after a prompt token, which predict prompt token pos. */
static void prompt_row(request_hook *h, int pos, const float *x, int n) {
    if (pos >= h->n_prompt_entries) return; /* echo off: no entries for the prompt */
    lm_request_logprob *e = &h->entries[pos];
    double max, lse;
    log_softmax_norm(x, n, &max, &lse);
    e->has_logprob = 1;
    e->logprob = logprob_of(x, e->token, max, lse);
    top_tokens(x, n, h->n_top, max, lse, e);
}

/* ---- sampling controls -------------------------------------------------- */

static void next_stamp(request_hook *h) {
    if (++h->stamp_now == 0) { /* wrapped: start the stamps over */
        memset(h->stamp, 0, (size_t)h->vocab * sizeof *h->stamp);
        h->stamp_now = 1;
    }
}

/* llama.cpp's repeat penalty: each distinct token of the last repeat_last_n
 * (prompt and generated) has a positive logit divided, another multiplied. */
static void repeat_penalty(request_hook *h, float *x) {
    int total = h->n_prompt + h->n_gen;
    int n = h->repeat_last_n < 0 || h->repeat_last_n > total ? total : h->repeat_last_n;
    next_stamp(h);
    for (int k = total - n; k < total; k++) {
        int t = k < h->n_prompt ? h->prompt[k] : h->gen[k - h->n_prompt];
        if (h->stamp[t] == h->stamp_now) continue;
        h->stamp[t] = h->stamp_now;
        x[t] = x[t] <= 0 ? x[t] * h->repeat : x[t] / h->repeat;
    }
}

/* OpenAI's: x -= count * frequency + (count > 0) * presence, over the
 * generated tokens. */
static void count_penalties(request_hook *h, float *x) {
    next_stamp(h);
    for (int k = 0; k < h->n_gen; k++) {
        int t = h->gen[k];
        if (h->stamp[t] == h->stamp_now) continue;
        h->stamp[t] = h->stamp_now;
        x[t] -= (float)h->count[t] * h->frequency + h->presence;
    }
}

static void swapf(float *a, float *b) {
    float t = *a;
    *a = *b;
    *b = t;
}

/* The k-th largest of v[0..n) (k >= 1), reordering v: quickselect. */
static float kth_largest(float *v, int n, int k) {
    int lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] > pivot) i++;
            while (v[j] < pivot) j--;
            if (i <= j) swapf(&v[i++], &v[j--]);
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            return v[want];
    }
    return v[want];
}

/* Keep the top_k largest logits (ties to the lower id); the rest -INFINITY. */
static void top_k(request_hook *h, float *x, int n) {
    memcpy(h->work, x, (size_t)n * sizeof *x);
    float t = kth_largest(h->work, n, h->top_k);
    int above = 0;
    for (int i = 0; i < n; i++) above += x[i] > t;
    int equal_kept = h->top_k - above;
    for (int i = 0; i < n; i++) {
        if (x[i] > t) continue;
        if (x[i] == t && equal_kept > 0) {
            equal_kept--;
            continue;
        }
        x[i] = -INFINITY;
    }
}

/* llama.cpp's min_p: keep logits >= max + log(min_p). */
static void min_p(request_hook *h, float *x, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    float floor_ = m + logf(h->min_p);
    for (int i = 0; i < n; i++)
        if (x[i] < floor_) x[i] = -INFINITY;
}

void request_hook_logits(void *arg, int pos, float *x, int n) {
    request_hook *h = arg;
    if (n > h->vocab) n = h->vocab; /* the tables are the tokenizer's size */
    if (pos < h->n_prompt) {        /* a prompt token (echo with logprobs) */
        if (h->logprobs) prompt_row(h, pos, x, n);
        return;
    }
    if (h->logprobs) { /* a */
        memcpy(h->raw, x, (size_t)n * sizeof *x);
        log_softmax_norm(x, n, &h->raw_max, &h->raw_lse);
        top_tokens(x, n, h->n_top, h->raw_max, h->raw_lse, &h->pending);
    }
    for (int i = 0; i < h->n_bias; i++) x[h->bias_id_copy[i]] += h->bias_value_copy[i]; /* b */
    if (h->repeat != 1.0f && h->repeat_last_n != 0) repeat_penalty(h, x);
    if (h->presence != 0 || h->frequency != 0) count_penalties(h, x);
    if (h->constraint) lm_json_run_logits(h->constraint, pos, x, n); /* c */
    if (h->top_k > 0) top_k(h, x, n);                                /* d */
    if (h->min_p > 0) min_p(h, x, n);
}

int request_hook_sampled(request_hook *h, int token, int prev, size_t offset, size_t len,
                         int with_entry) {
    if (!request_hook_wanted(h)) return 0;
    if (h->n_gen == h->cap_gen) {
        int cap = h->cap_gen ? h->cap_gen * 2 : 64;
        int *g = realloc(h->gen, (size_t)cap * sizeof *g);
        if (!g) return -1;
        h->gen = g;
        h->cap_gen = cap;
    }
    h->gen[h->n_gen++] = token;
    h->count[token]++;
    if (!h->logprobs || !with_entry) return 0;
    lm_request_logprob *e = new_entry(h);
    if (!e) return -1;
    *e = h->pending;
    e->token = token;
    e->prev = prev;
    e->offset = offset;
    e->len = len;
    e->has_logprob = 1;
    e->logprob = logprob_of(h->raw, token, h->raw_max, h->raw_lse);
    return 0;
}

void request_hook_cut(request_hook *h, size_t len) {
    while (h->n_entries > h->n_prompt_entries && h->entries[h->n_entries - 1].offset >= len)
        h->n_entries--;
}
