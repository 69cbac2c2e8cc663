/* Long contexts (issue 24, item 4): the F16 KV cache and the fitted default
 * context.
 * - F16 cache: on each model, 12 sequences (greedy and sampled, different
 *   prompts and lengths) give the same tokens on every kernel set this CPU
 *   runs, on 1 and 2 threads, alone (lm_context) and together in a batch of
 *   5 slots (lm_batch); and their logits are not f32's (the option is live).
 * - Fitted context: a model declaring 2^30 positions gets, with n_ctx 0, the
 *   most positions that fit (less than seq_len, more than 0, within memory);
 *   a batch of 4 gets about a quarter; an explicit context beyond the
 *   machine's memory is refused up front with a one-line message.
 * - Bad input: an unknown kv_type number or name is refused.
 *
 * Usage: test_kv_f16 MODEL... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lamina.h"

#define N_SEQS 12
#define MAX_TOKENS 64

typedef struct run {
    int tokens[N_SEQS][MAX_TOKENS];
    int n[N_SEQS];
} run;

static lm_seq_params seq_params(int i) {
    float temps[] = {0.0f, 1.0f, 0.8f};
    return (lm_seq_params){.n_ctx = 20 + 3 * i,
                           .temperature = temps[i % 3],
                           .topp = i % 2 ? 0.9f : 0.0f,
                           .seed = 500u + (uint64_t)i * 31u,
                           .stop_token = LM_TOKEN_BOS};
}

static int make_prompt(int i, int vocab, int *ids) {
    int n = 1 + (i * 5) % 13;
    ids[0] = LM_TOKEN_BOS;
    for (int k = 1; k < n; k++) ids[k] = 3 + (i * 17 + k * 11) % (vocab - 3);
    return n;
}

static void alone(const lm_model *m, const char *isa, int threads, run *r) {
    lm_config c = lm_model_get_info(m).config;
    for (int i = 0; i < N_SEQS; i++) {
        lm_seq_params p = seq_params(i);
        int ids[16], n = make_prompt(i, c.vocab_size, ids);
        lm_error err;
        lm_context *ctx =
            lm_context_new(m, (lm_context_params){p.n_ctx, threads, isa, LM_KV_F16}, &err);
        lm_sampler *s = lm_sampler_new(c.vocab_size, p.temperature, p.topp, p.seed, &err);
        CHECK(ctx && s, "%s", err.msg);
        if (!ctx || !s) exit(check_exit("kv_f16"));
        float *logits = lm_forward(ctx, ids, n, 0);
        int pos = n;
        r->n[i] = 0;
        for (;;) {
            int next = lm_sample(s, logits);
            r->tokens[i][r->n[i]++] = next;
            if (next == p.stop_token || pos >= p.n_ctx) break;
            logits = lm_forward(ctx, &next, 1, pos++);
        }
        lm_sampler_free(s);
        lm_context_free(ctx);
    }
}

static void together(const lm_model *m, const char *isa, int threads, run *r) {
    lm_config c = lm_model_get_info(m).config;
    lm_error err;
    lm_batch *b = lm_batch_new(m, (lm_batch_params){5, 64, threads, isa, LM_KV_F16}, &err);
    CHECK(b != NULL, "%s", err.msg);
    if (!b) return;
    int seq_of[64], next = 0, finished = 0;
    memset(r->n, 0, sizeof r->n);
    lm_batch_event ev[64];
    for (int step = 0; finished < N_SEQS && step < 10000; step++) {
        while (next < N_SEQS && lm_batch_free_slots(b) > 0) {
            int ids[16], n = make_prompt(next, c.vocab_size, ids);
            int id = lm_batch_add(b, ids, n, seq_params(next), &err);
            CHECK(id >= 0, "add %d: %s", next, err.msg);
            if (id < 0) break;
            seq_of[id] = next++;
        }
        int n = lm_batch_step(b, ev, &err);
        CHECK(n >= 0, "step: %s", err.msg);
        if (n < 0) break;
        for (int e = 0; e < n; e++) {
            int i = seq_of[ev[e].seq];
            if (r->n[i] < MAX_TOKENS) r->tokens[i][r->n[i]++] = ev[e].token;
            finished += ev[e].finish != LM_RUNNING;
        }
    }
    lm_batch_free(b);
}

/* The first 24 positions' logits with each cache type differ somewhere. */
static void f16_is_live(const lm_model *m) {
    lm_config c = lm_model_get_info(m).config;
    int ids[24];
    make_prompt(7, c.vocab_size, ids);
    for (int k = 0; k < 24; k++) ids[k] = 3 + (k * 37) % (c.vocab_size - 3);
    float *a = malloc((size_t)24 * c.vocab_size * sizeof(float));
    float *b = malloc((size_t)24 * c.vocab_size * sizeof(float));
    lm_error err;
    lm_context *x = lm_context_new(m, (lm_context_params){24, 1, NULL, LM_KV_F32}, &err);
    lm_context *y = lm_context_new(m, (lm_context_params){24, 1, NULL, LM_KV_F16}, &err);
    CHECK(a && b && x && y, "%s", err.msg);
    if (a && b && x && y) {
        CHECK(lm_forward_all(x, ids, 24, 0, a, &err) == 0, "%s", err.msg);
        CHECK(lm_forward_all(y, ids, 24, 0, b, &err) == 0, "%s", err.msg);
        CHECK(memcmp(a, b, (size_t)24 * c.vocab_size * sizeof(float)) != 0,
              "f16 cache logits equal f32's: the cache type is not used");
    }
    lm_context_free(x);
    lm_context_free(y);
    free(a);
    free(b);
}

static void test_f16(const char *path) {
    lm_error err;
    lm_model *m = lm_model_load(path, &err);
    CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    f16_is_live(m);
    static run first, got;
    int have = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", lm_isa_list());
    for (char *save = NULL, *isa = strtok_r(list, " ", &save); isa;
         isa = strtok_r(NULL, " ", &save)) {
        if (lm_isa_check(isa, &err)) {
            printf("%s: skipped: %s\n", isa, err.msg);
            continue;
        }
        for (int threads = 1; threads <= 2; threads++)
            for (int batched = 0; batched < 2; batched++) {
                memset(&got, 0, sizeof got);
                if (batched)
                    together(m, isa, threads, &got);
                else
                    alone(m, isa, threads, &got);
                if (!have) first = got, have = 1;
                CHECK(memcmp(&got, &first, sizeof got) == 0,
                      "%s: f16 cache, %s, %d threads, %s: tokens differ from the first run's", path,
                      isa, threads, batched ? "batched" : "alone");
            }
        printf("%s %s: f16 cache texts agree (alone and batched, 1 and 2 threads)\n", path, isa);
    }
    lm_model_free(m);
}

static void test_fit(void) {
    /* 32 KiB of f32 KV per position: 2^30 positions would need 32 TiB. The
     * memory available moves between calls (other programs): bounds are loose. */
    lm_config c = {.dim = 1024,
                   .hidden_dim = 64,
                   .n_layers = 4,
                   .n_heads = 8,
                   .n_kv_heads = 8,
                   .vocab_size = 64,
                   .seq_len = 1 << 30};
    lm_error err;
    lm_model *m = lm_model_random(&c, LM_FORMAT_V1, 0, 1, &err);
    CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    char why[256];
    int n = lm_context_choose(m, 1, LM_KV_F32, 1, why, sizeof why);
    int n16 = lm_context_fit(m, 1, LM_KV_F16, 1), n4 = lm_context_fit(m, 4, LM_KV_F32, 1);
    uint64_t avail = lm_memory_available();
    printf("fit: %d positions f32, %d f16, %d x 4 sequences; %s\n", n, n16, n4, why);
    CHECK(n > 0 && n < c.seq_len && lm_kv_bytes(&c, n, LM_KV_F32) <= avail,
          "fitted context %d of %d (%.1f GiB available)", n, c.seq_len, (double)avail / (1 << 30));
    CHECK(n16 > n && n4 > n / 5 && n4 < n / 3, "fit f16 %d, 4 sequences %d vs %d", n16, n4, n);
    char want[64];
    snprintf(want, sizeof want, "context: %d positions (KV f32", n);
    CHECK(strncmp(why, want, strlen(want)) == 0 && strstr(why, "the model's 1073741824") &&
              strchr(why, '\n') == NULL,
          "the account of the choice: %s", why);
    lm_context *ctx = lm_context_new(m, (lm_context_params){0, 1, NULL, LM_KV_F16}, &err);
    CHECK(ctx != NULL, "%s", err.msg);
    if (ctx) {
        /* the fit is taken when the context is made: memory may have moved */
        int got = lm_context_n_ctx(ctx);
        CHECK(got > n && got < c.seq_len, "n_ctx 0, f16: %d positions (f32 fit %d)", got, n);
        int tok = 1;
        CHECK(lm_forward(ctx, &tok, 1, 0) != NULL, "a step on the fitted context");
        lm_context_free(ctx);
    }
    lm_batch *b = lm_batch_new(m, (lm_batch_params){4, 0, 1, NULL, LM_KV_F32}, &err);
    CHECK(b != NULL, "%s", err.msg);
    lm_batch_free(b);
    /* explicit and beyond memory: refused, one line naming the need */
    ctx = lm_context_new(m, (lm_context_params){1 << 29, 1, NULL, LM_KV_F32}, &err);
    CHECK(ctx == NULL && strstr(err.msg, "KV cache for 536870912 positions needs") &&
              strchr(err.msg, '\n') == NULL,
          "explicit 2^29 positions: %s", ctx ? "accepted" : err.msg);
    lm_context_free(ctx);
    b = lm_batch_new(m, (lm_batch_params){4, 1 << 28, 1, NULL, LM_KV_F16}, &err);
    CHECK(b == NULL && strstr(err.msg, "4 sequences of 268435456 positions (f16 KV caches"),
          "batch of 4 x 2^28: %s", b ? "accepted" : err.msg);
    lm_batch_free(b);
    /* bad kv types */
    ctx = lm_context_new(m, (lm_context_params){16, 1, NULL, (lm_kv_type)7}, &err);
    CHECK(ctx == NULL && strstr(err.msg, "KV cache type 7"), "kv_type 7: %s",
          ctx ? "accepted" : err.msg);
    lm_context_free(ctx);
    lm_kv_type t = LM_KV_F32;
    CHECK(lm_kv_type_parse("f16", &t, &err) == 0 && t == LM_KV_F16, "parse f16");
    CHECK(lm_kv_type_parse("q8", &t, &err) != 0 && strstr(err.msg, "'q8'"), "parse q8: %s",
          err.msg);
    CHECK(lm_kv_bytes(&c, 3, LM_KV_F16) * 2 == lm_kv_bytes(&c, 3, LM_KV_F32) &&
              lm_kv_bytes(&c, 3, LM_KV_F32) == lm_kv_cache_bytes(&c, 3),
          "KV bytes by type");
    lm_model_free(m);
    /* the largest seq_len a header can hold: the search must not overflow */
    c.seq_len = 2147483647;
    m = lm_model_random(&c, LM_FORMAT_V1, 0, 1, &err);
    CHECK(m != NULL, "%s", err.msg);
    if (m) {
        int fit = lm_context_fit(m, 1, LM_KV_F16, 1);
        CHECK(fit > 0 && fit < c.seq_len, "seq_len 2^31 - 1: fit %d", fit);
    }
    lm_model_free(m);
}

int main(int argc, char **argv) {
    test_fit();
    for (int a = 1; a < argc; a++) test_f16(argv[a]);
    return check_exit("kv_f16");
}
