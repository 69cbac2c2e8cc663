/* Logprobs and sampling controls of the request driver (src/request,
 * request_hook.c) against the library's own logits, computed here
 * independently with lm_context + lm_forward one token at a time:
 *   - logprobs (with echo: the prompt's too) equal, to the bit, the
 *     documented log-softmax of those logits (README, "Sampling controls and
 *     logprobs"), their top alternatives too, on a batch shared with another
 *     sequence and with few slots (the prompt rows' logits come in pieces);
 *   - asking for logprobs does not change the text;
 *   - each sampling control gives the tokens of a reference loop that applies
 *     its definition (written again here) to the logits before run.c's
 *     sampler with the same seed; neutral values change nothing;
 *   - bad values are refused naming the field;
 * on every kernel set this CPU runs.
 *
 * usage: test_logprobs MODEL TOKENIZER */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "request.h"

#define MAX_GEN 64

static const lm_model *model;
static const lm_tokenizer *tok;
static int vocab;
static const char *isa; /* the kernel set of every batch, context and sampler */

typedef struct result {
    lm_request_run *run;
    int tokens[MAX_GEN]; /* sampled, in order (the stop token too) */
    int n;
} result;

/* Run requests together on a batch of max_seqs slots until all finish. */
static void run_all(const char *const *json, int n, int max_seqs, result *out) {
    lm_error e = {{0}};
    lm_batch *b = lm_batch_new(
        model, (lm_batch_params){.max_seqs = max_seqs, .n_threads = 1, .isa = isa}, &e);
    CHECK(b, "%s", e.msg);
    lm_request_rules rules = lm_request_rules_default();
    rules.vocab_size = vocab;
    for (int i = 0; i < n; i++) {
        lm_request req;
        out[i] = (result){0};
        CHECK(!lm_request_parse_text(json[i], strlen(json[i]), &rules, &req, &e), "%s: %s", json[i],
              e.msg);
        out[i].run = lm_request_prepare(tok, 256, &req, &e);
        lm_request_free(&req);
        CHECK(out[i].run, "%s: %s", json[i], e.msg);
    }
    lm_batch_event ev[8];
    for (int left = n, next = 0; left > 0;) {
        for (; next < n && lm_batch_free_slots(b) > 0; next++) /* the rest as slots free up */
            CHECK(!lm_request_submit(out[next].run, b, &e), "%s: %s", json[next], e.msg);
        int k = lm_batch_step(b, ev, &e);
        CHECK(k >= 0, "%s", e.msg);
        if (k < 0 || (k == 0 && lm_batch_active(b) == 0)) break; /* 0: prompt rows only */
        for (int j = 0; j < k; j++)
            for (int i = 0; i < n; i++)
                if (out[i].run && lm_request_seq(out[i].run) == ev[j].seq) {
                    if (out[i].n < MAX_GEN) out[i].tokens[out[i].n++] = ev[j].token;
                    left -= lm_request_feed(out[i].run, b, &ev[j]);
                }
    }
    lm_batch_free(b);
}

static void free_all(result *r, int n) {
    for (int i = 0; i < n; i++) lm_request_run_free(r[i].run);
}

/* ---- the reference: the README's definitions, written again ------------- */

static void ref_log_softmax(const float *x, double *lp) {
    float m = x[0];
    for (int i = 1; i < vocab; i++) m = x[i] > m ? x[i] : m;
    double s = 0.0;
    for (int i = 0; i < vocab; i++) s += exp((double)x[i] - (double)m);
    double l = log(s);
    for (int i = 0; i < vocab; i++) lp[i] = ((double)x[i] - (double)m) - l;
}

static const float *sort_key;
static int by_logit(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_key[i] != sort_key[j]) return sort_key[i] > sort_key[j] ? -1 : 1;
    return i - j; /* ties: the lower id first */
}

static int *ranked(const float *x) { /* every id, likeliest first */
    int *ids = malloc((size_t)vocab * sizeof *ids);
    for (int i = 0; i < vocab; i++) ids[i] = i;
    sort_key = x;
    qsort(ids, (size_t)vocab, sizeof *ids, by_logit);
    return ids;
}

/* The logits after each of ids[0..n), one forward call per token. */
static float *all_logits(const int *ids, int n) {
    lm_error e;
    lm_context *ctx = lm_context_new(model, (lm_context_params){256, 1, isa}, &e);
    CHECK(ctx, "%s", e.msg);
    float *rows = malloc((size_t)n * (size_t)vocab * sizeof *rows);
    for (int p = 0; p < n; p++)
        memcpy(rows + (size_t)p * vocab, lm_forward(ctx, &ids[p], 1, p), vocab * sizeof *rows);
    lm_context_free(ctx);
    return rows;
}

/* Entries against the reference: the logprob of the token at position p
 * from the logits after token p - 1. prompt: NULL when the entries begin with
 * the prompt's (echo; the first has none), else the prompt they follow. */
static void check_entries(const lm_request_run *run, int want_top, const char *prompt) {
    int n = 0, n_prompt = 0;
    lm_error err;
    const lm_request_logprob *e = lm_request_logprobs(run, &n);
    CHECK(n > 2, "entries: %d", n);
    if (n < 2) return;
    int *pre = prompt ? lm_tokenize(tok, prompt, 1, 0, &n_prompt, &err) : NULL;
    int *ids = malloc((size_t)(n_prompt + n) * sizeof *ids);
    if (pre) memcpy(ids, pre, (size_t)n_prompt * sizeof *ids);
    free(pre);
    for (int i = 0; i < n; i++) ids[n_prompt + i] = e[i].token;
    float *rows = all_logits(ids, n_prompt + n);
    double *lp = malloc((size_t)vocab * sizeof *lp);
    int same = 0, top_same = 0, first = prompt ? 0 : 1;
    CHECK(prompt || !e[0].has_logprob, "the first prompt token has no logprob");
    for (int i = first; i < n; i++) {
        const float *x = rows + (size_t)(n_prompt + i - 1) * vocab;
        ref_log_softmax(x, lp);
        int *rank = ranked(x);
        same += e[i].has_logprob && !memcmp(&e[i].logprob, &lp[e[i].token], sizeof(double));
        int ok = e[i].n_top == want_top;
        for (int j = 0; ok && j < want_top; j++)
            ok = e[i].top[j] == rank[j] &&
                 !memcmp(&e[i].top_logprob[j], &lp[rank[j]], sizeof(double));
        top_same += ok;
        free(rank);
    }
    CHECK(same == n - first, "%d of %d logprobs equal to the bit", same, n - first);
    CHECK(top_same == n - first, "%d of %d top lists equal to the bit", top_same, n - first);
    free(lp);
    free(rows);
    free(ids);
}

static void test_logprobs(void) {
    const char *json[] = {
        "{\"prompt\":\"In the beginning God created the heaven\",\"echo\":true,\"logprobs\":5,"
        "\"max_tokens\":24,\"seed\":7}",
        "{\"prompt\":\"And it came to pass\",\"max_tokens\":30,\"seed\":3,\"logprobs\":0}",
        "{\"prompt\":\"In the beginning God created the heaven\",\"echo\":true,\"max_tokens\":24,"
        "\"seed\":7}",
    };
    /* two slots: the echoed prompt's rows come a few per step */
    result r[3];
    run_all(json, 3, 2, r);
    check_entries(r[0].run, 5, NULL);
    check_entries(r[1].run, 0, "And it came to pass");
    int n0 = 0, n1 = 0;
    lm_request_logprobs(r[0].run, &n0);
    lm_request_logprobs(r[1].run, &n1);
    CHECK(n0 == lm_request_prompt_tokens(r[0].run) + lm_request_completion_tokens(r[0].run) -
                    (lm_request_finish_reason(r[0].run) == LM_REQUEST_STOP),
          "an entry per prompt and sampled token: %d", n0);
    CHECK(n1 == lm_request_completion_tokens(r[1].run) -
                    (lm_request_finish_reason(r[1].run) == LM_REQUEST_STOP),
          "an entry per sampled token: %d", n1);
    CHECK(!strcmp(lm_request_text(r[0].run, NULL), lm_request_text(r[2].run, NULL)),
          "logprobs do not change the text:\n%s\n%s", lm_request_text(r[0].run, NULL),
          lm_request_text(r[2].run, NULL));
    /* the entries' texts make up the text */
    int n;
    const lm_request_logprob *e = lm_request_logprobs(r[0].run, &n);
    size_t at = 0;
    const char *text = lm_request_text(r[0].run, NULL);
    int joined = 1;
    for (int i = 0; i < n; i++) {
        const char *t = lm_request_token_text(r[0].run, e[i].prev, e[i].token);
        joined &= e[i].offset == at && strlen(t) == e[i].len && !strncmp(text + at, t, e[i].len);
        at += e[i].len;
    }
    CHECK(joined && at == strlen(text), "the entries' tokens join into the text");
    free_all(r, 3);
}

/* ---- sampling controls --------------------------------------------------- */

typedef struct controls {
    float presence, frequency, repeat, min_p;
    int repeat_last_n, top_k;
    int bias_id[2];
    float bias[2];
    int n_bias;
} controls;

static void ref_controls(const controls *c, const int *prompt, int n_prompt, const int *gen,
                         int n_gen, float *x) {
    for (int i = 0; i < c->n_bias; i++) x[c->bias_id[i]] += c->bias[i];
    char *seen = calloc((size_t)vocab, 1);
    int total = n_prompt + n_gen;
    int w = c->repeat_last_n < 0 || c->repeat_last_n > total ? total : c->repeat_last_n;
    for (int k = total - w; c->repeat != 1.0f && k < total; k++) {
        int t = k < n_prompt ? prompt[k] : gen[k - n_prompt];
        if (seen[t]++) continue;
        x[t] = x[t] <= 0 ? x[t] * c->repeat : x[t] / c->repeat;
    }
    int *count = calloc((size_t)vocab, sizeof *count);
    for (int k = 0; k < n_gen; k++) count[gen[k]]++;
    for (int t = 0; t < vocab; t++)
        if (count[t]) x[t] -= (float)count[t] * c->frequency + c->presence;
    if (c->top_k > 0 && c->top_k < vocab) {
        int *rank = ranked(x);
        for (int j = c->top_k; j < vocab; j++) x[rank[j]] = -INFINITY;
        free(rank);
    }
    if (c->min_p > 0) {
        float m = -INFINITY;
        for (int t = 0; t < vocab; t++) m = x[t] > m ? x[t] : m;
        float f = m + logf(c->min_p);
        for (int t = 0; t < vocab; t++)
            if (x[t] < f) x[t] = -INFINITY;
    }
    free(seen);
    free(count);
}

/* The tokens the reference samples for a prompt (BOS + text), n at most. */
static int ref_tokens(const char *prompt, const controls *c, float temp, float topp, uint64_t seed,
                      int max, int *out) {
    lm_error e;
    int n_ids = 0;
    int *ids = lm_tokenize(tok, prompt, 1, 0, &n_ids, &e);
    lm_context *ctx = lm_context_new(model, (lm_context_params){256, 1, isa}, &e);
    lm_sampler *s = lm_sampler_new(vocab, temp, topp, seed, &e);
    CHECK(s && !lm_sampler_set_isa(s, isa, &e), "%s", e.msg);
    float *x = malloc((size_t)vocab * sizeof *x);
    memcpy(x, lm_forward(ctx, ids, n_ids, 0), (size_t)vocab * sizeof *x);
    int n = 0;
    for (; n < max; n++) {
        ref_controls(c, ids, n_ids, out, n, x);
        out[n] = lm_sample(s, x);
        if (out[n] == lm_tokenizer_stop_token(tok, 0)) {
            n++;
            break;
        }
        memcpy(x, lm_forward(ctx, &out[n], 1, n_ids + n), (size_t)vocab * sizeof *x);
    }
    free(x);
    free(ids);
    lm_sampler_free(s);
    lm_context_free(ctx);
    return n;
}

static void test_controls(void) {
    static const struct {
        const char *fields;
        controls c;
    } cases[] = {
        {"\"repeat_penalty\":1.5", {.repeat = 1.5f, .repeat_last_n = 64}},
        {"\"repeat_penalty\":3,\"repeat_last_n\":8", {.repeat = 3, .repeat_last_n = 8}},
        {"\"repeat_penalty\":1.3,\"repeat_last_n\":-1", {.repeat = 1.3f, .repeat_last_n = -1}},
        {"\"presence_penalty\":1.5", {.presence = 1.5f, .repeat = 1}},
        {"\"frequency_penalty\":2,\"presence_penalty\":-0.5",
         {.frequency = 2, .presence = -0.5f, .repeat = 1}},
        {"\"logit_bias\":{\"261\":4.5,\"299\":-100}",
         {.repeat = 1, .bias_id = {261, 299}, .bias = {4.5f, -100}, .n_bias = 2}},
        {"\"top_k\":3", {.repeat = 1, .top_k = 3}},
        {"\"top_k\":1", {.repeat = 1, .top_k = 1}},
        {"\"min_p\":0.2", {.repeat = 1, .min_p = 0.2f}},
        {"\"min_p\":0.05,\"top_k\":10,\"frequency_penalty\":0.5,\"repeat_penalty\":1.1",
         {.repeat = 1.1f, .repeat_last_n = 64, .frequency = 0.5f, .top_k = 10, .min_p = 0.05f}},
    };
    const char *prompt = "And God said";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int greedy = 0; greedy < 2; greedy++) {
            char json[512];
            snprintf(json, sizeof json,
                     "{\"prompt\":\"%s\",\"max_tokens\":40,\"seed\":11,\"temperature\":%s,%s}",
                     prompt, greedy ? "0" : "1", cases[i].fields);
            const char *js[] = {json};
            result r;
            run_all(js, 1, 1, &r);
            int want[MAX_GEN];
            int n = ref_tokens(prompt, &cases[i].c, greedy ? 0.0f : 1.0f, 0.9f, 11, r.n, want);
            CHECK(n == r.n && !memcmp(want, r.tokens, (size_t)n * sizeof *want),
                  "%s: the reference's tokens (%d of %d)", json, n, r.n);
            free_all(&r, 1);
        }
    }
    /* top_k 1 and min_p 1 are greedy; neutral values change nothing */
    const char *js[] = {
        "{\"prompt\":\"And God said\",\"max_tokens\":40,\"seed\":11,\"temperature\":0}",
        "{\"prompt\":\"And God said\",\"max_tokens\":40,\"seed\":11,\"top_k\":1}",
        "{\"prompt\":\"And God said\",\"max_tokens\":40,\"seed\":11,\"min_p\":1}",
        "{\"prompt\":\"And God said\",\"max_tokens\":40,\"seed\":11}",
        "{\"prompt\":\"And God said\",\"max_tokens\":40,\"seed\":11,\"top_k\":0,\"min_p\":0,"
        "\"repeat_penalty\":1,\"presence_penalty\":0,\"frequency_penalty\":0,\"logit_bias\":{},"
        "\"repeat_last_n\":5}",
        "{\"prompt\":\"And God said\",\"max_completion_tokens\":40,\"seed\":11,"
        "\"logit_bias\":{\"5\":0},\"top_k\":1024}",
    };
    result r[6];
    run_all(js, 6, 3, r);
    for (int i = 1; i < 6; i++) {
        int want = i < 3 ? 0 : 3;
        CHECK(!strcmp(lm_request_text(r[i].run, NULL), lm_request_text(r[want].run, NULL)),
              "%s: same text as %s", js[i], js[want]);
    }
    free_all(r, 6);
}

static void bad(const char *json, const char *want) {
    lm_request_rules rules = lm_request_rules_default();
    rules.vocab_size = vocab;
    lm_request req;
    lm_error e = {{0}};
    int rc = lm_request_parse_text(json, strlen(json), &rules, &req, &e);
    CHECK(rc != 0 && strstr(e.msg, want), "%s: want '%s', got '%s'", json, want, e.msg);
    if (!rc) lm_request_free(&req);
}

static void test_errors(void) {
    bad("{\"prompt\":\"a\",\"logprobs\":21}", "field 'logprobs'");
    bad("{\"prompt\":\"a\",\"logprobs\":-1}", "field 'logprobs'");
    bad("{\"prompt\":\"a\",\"logprobs\":true}", "field 'logprobs'");
    bad("{\"prompt\":\"a\",\"logprobs\":1.5}", "field 'logprobs'");
    bad("{\"prompt\":\"a\",\"top_logprobs\":2}", "field 'top_logprobs'");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logprobs\":3}",
        "field 'logprobs'");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"top_logprobs\":3}",
        "needs 'logprobs': true");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logprobs\":true,"
        "\"top_logprobs\":21}",
        "field 'top_logprobs'");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logprobs\":false,"
        "\"top_logprobs\":1}",
        "needs 'logprobs': true");
    bad("{\"prompt\":\"a\",\"max_tokens\":5,\"max_completion_tokens\":6}",
        "field 'max_completion_tokens'");
    bad("{\"prompt\":\"a\",\"max_completion_tokens\":0}", "field 'max_completion_tokens'");
    bad("{\"prompt\":\"a\",\"presence_penalty\":2.5}", "field 'presence_penalty'");
    bad("{\"prompt\":\"a\",\"frequency_penalty\":\"1\"}", "field 'frequency_penalty'");
    bad("{\"prompt\":\"a\",\"repeat_penalty\":0}", "field 'repeat_penalty'");
    bad("{\"prompt\":\"a\",\"repeat_last_n\":-2}", "field 'repeat_last_n'");
    bad("{\"prompt\":\"a\",\"top_k\":-1}", "field 'top_k'");
    bad("{\"prompt\":\"a\",\"min_p\":1.5}", "field 'min_p'");
    bad("{\"prompt\":\"a\",\"logit_bias\":[1]}", "field 'logit_bias'");
    bad("{\"prompt\":\"a\",\"logit_bias\":{\"x\":1}}", "key 'x' is not a token id");
    bad("{\"prompt\":\"a\",\"logit_bias\":{\"01\":1}}", "is not a token id");
    bad("{\"prompt\":\"a\",\"logit_bias\":{\"1024\":1}}", "outside the vocabulary");
    bad("{\"prompt\":\"a\",\"logit_bias\":{\"5\":101}}", "field 'logit_bias.5'");
    bad("{\"prompt\":\"a\",\"logit_bias\":{\"5\":1,\"5\":2}}", "given twice");
    bad("{\"prompt\":[]}", "field 'prompt': an empty array");
    bad("{\"prompt\":[1,1024]}", "field 'prompt[1]'");
    bad("{\"prompt\":[1,-1]}", "field 'prompt[1]'");
    bad("{\"prompt\":[1,\"a\"]}", "field 'prompt[1]'");
    bad("{\"prompt\":[[1,2]]}", "not supported");
}

/* "prompt" as ids: the same text as the prompt they tokenize to. */
static void test_token_prompt(void) {
    lm_error e;
    int n = 0;
    int *ids = lm_tokenize(tok, "In the beginning", 1, 0, &n, &e);
    char json[512];
    int k = snprintf(json, sizeof json, "{\"max_tokens\":20,\"seed\":9,\"echo\":true,\"prompt\":[");
    for (int i = 0; i < n; i++)
        k += snprintf(json + k, sizeof json - k, "%s%d", i ? "," : "", ids[i]);
    snprintf(json + k, sizeof json - k, "]}");
    const char *js[] = {json, "{\"max_tokens\":20,\"seed\":9,\"echo\":true,\"prompt\":\"In the "
                              "beginning\"}"};
    result r[2];
    run_all(js, 2, 2, r);
    CHECK(!strcmp(lm_request_text(r[0].run, NULL), lm_request_text(r[1].run, NULL)),
          "ids and text: the same text");
    CHECK(lm_request_prompt_tokens(r[0].run) == n, "prompt tokens");
    free_all(r, 2);
    free(ids);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_logprobs MODEL TOKENIZER\n");
        return 2;
    }
    lm_error e;
    lm_model *m = lm_model_load(argv[1], &e);
    CHECK(m, "%s", e.msg);
    if (!m) return check_exit("test_logprobs");
    vocab = lm_model_get_info(m).config.vocab_size;
    lm_tokenizer *t = lm_tokenizer_load(argv[2], vocab, &e);
    CHECK(t, "%s", e.msg);
    if (!t) return check_exit("test_logprobs");
    model = m;
    tok = t;
    /* every kernel set this CPU runs: logprobs and controls hold on each */
    char list[256];
    snprintf(list, sizeof list, "%s", lm_isa_list());
    int sets = 0;
    for (char *save = NULL, *name = strtok_r(list, " ", &save); name;
         name = strtok_r(NULL, " ", &save)) {
        if (lm_isa_check(name, &e)) {
            printf("skip kernel set %s: %s\n", name, e.msg);
            continue;
        }
        isa = name;
        test_logprobs();
        test_controls();
        sets++;
    }
    CHECK(sets >= 1, "no kernel set ran");
    isa = NULL;
    test_errors();
    test_token_prompt();
    lm_tokenizer_free(t);
    lm_model_free(m);
    return check_exit("test_logprobs");
}
