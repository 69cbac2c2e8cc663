/* A Llama-3-shaped model (make_llama3.py: GQA 4:1, head size 64, Llama 3.1's
 * rope scaling in rope_freqs.weight, tied output, 128256 tokens; and head
 * size 128 with 4096 tokens): lamina's
 * logits against a float64 numpy reference at positions up to 12k, the same
 * file without its scaling visibly off that reference, and the same bits on
 * every kernel set this CPU runs, 1 and 2 threads, and in a batch.
 *
 * Usage: test_llama3 DIR HEAD_SIZE VOCAB (make_llama3.py's output, and the
 * head size and vocabulary it was asked for) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lamina.h"

#define MAX_CHUNKS 64
#define CHUNK 8
/* float32 against float64: angles of up to 12000 radians carry float32's
 * rounding of pos * freq (up to 5e-4 rad, growing with the position) into
 * cos and sin, and two layers of peaked attention carry that into the logits
 * (|logit| up to ~6): 2e-4 measured near position 0, 6.2e-3 at 12000. The
 * worst difference is printed on every run. */
#define TOLERANCE 1e-2
/* What a missing scaling must exceed at positions past 1024. */
#define MISSING 100 * TOLERANCE

typedef struct plan {
    int n, pos[MAX_CHUNKS], tok[MAX_CHUNKS][CHUNK];
} plan;

static int read_plan(const char *path, plan *p) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    p->n = 0;
    int n;
    while (p->n < MAX_CHUNKS && fscanf(f, "%d %d", &p->pos[p->n], &n) == 2 && n == CHUNK) {
        for (int i = 0; i < CHUNK; i++)
            if (fscanf(f, "%d", &p->tok[p->n][i]) != 1) n = -1;
        if (n < 0) break;
        p->n++;
    }
    fclose(f);
    return p->n > 0 ? 0 : -1;
}

/* The logits after each chunk (fed at its position into one context). */
static float *run(const lm_model *m, const plan *p, const char *isa, int threads) {
    int vocab = lm_model_get_info(m).config.vocab_size;
    lm_error err;
    lm_context *ctx = lm_context_new(m, (lm_context_params){0, threads, isa}, &err);
    CHECK(ctx != NULL, "%s", err.msg);
    if (!ctx) return NULL;
    float *out = malloc((size_t)p->n * (size_t)vocab * sizeof(float));
    for (int c = 0; c < p->n; c++) {
        float *l = lm_forward(ctx, p->tok[c], CHUNK, p->pos[c]);
        CHECK(l != NULL, "chunk at %d", p->pos[c]);
        if (l) memcpy(out + (size_t)c * vocab, l, (size_t)vocab * sizeof(float));
    }
    lm_context_free(ctx);
    return out;
}

/* The largest |lamina - reference| of chunk c. */
static double chunk_diff(const float *got, const double *ref, int c, int vocab) {
    double worst = 0.0;
    for (size_t i = (size_t)c * vocab; i < (size_t)(c + 1) * vocab; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= worst)) worst = d; /* NaN sticks */
    }
    return worst;
}

static void against_reference(const lm_model *m, const lm_model *noscale, const plan *p,
                              const double *ref, float *scalar) {
    int vocab = lm_model_get_info(m).config.vocab_size;
    double worst = 0.0, least_missing = INFINITY;
    for (int c = 0; c < p->n; c++) {
        double d = chunk_diff(scalar, ref, c, vocab);
        CHECK(d <= TOLERANCE, "position %d: logits differ from the reference by %g", p->pos[c], d);
        if (!(d <= worst)) worst = d;
    }
    float *ns = run(noscale, p, "scalar", 1);
    for (int c = 0; ns && c < p->n; c++) {
        double d = chunk_diff(ns, ref, c, vocab);
        if (p->pos[c] >= 1024 && d < least_missing) least_missing = d;
    }
    printf("llama3: worst |logit - reference| %.3g (tolerance %g); without the scaling at "
           "least %.3g at every position from 1024\n",
           worst, TOLERANCE, least_missing);
    CHECK(least_missing > MISSING, "without rope_freqs the logits differ by only %g",
          least_missing);
    free(ns);
}

/* Every kernel set this CPU runs, 1 and 2 threads: the scalar oracle's bits. */
static void every_kernel_set(const lm_model *m, const plan *p, const float *scalar) {
    int vocab = lm_model_get_info(m).config.vocab_size;
    char list[256];
    snprintf(list, sizeof list, "%s", lm_isa_list());
    for (char *save = NULL, *isa = strtok_r(list, ", ", &save); isa;
         isa = strtok_r(NULL, ", ", &save)) {
        lm_error err;
        if (lm_isa_check(isa, &err) != 0) {
            printf("llama3: skipped kernel set %s: %s\n", isa, err.msg);
            continue;
        }
        for (int threads = 1; threads <= 2; threads++) {
            if (!strcmp(isa, "scalar") && threads == 1) continue;
            float *got = run(m, p, isa, threads);
            CHECK(got && !memcmp(got, scalar, (size_t)p->n * vocab * sizeof(float)),
                  "%s, %d threads: logits differ from scalar's", isa, threads);
            free(got);
            printf("llama3: %s, %d threads: same bits\n", isa, threads);
        }
    }
}

/* ---- batch ---------------------------------------------------------------- */

#define PROMPT 24
#define STEPS 8

typedef struct seen {
    float *logits; /* (STEPS, vocab) */
    int pos[STEPS], n;
} seen;

static void record(void *arg, int pos, float *logits, int vocab) {
    seen *s = arg;
    if (s->n >= STEPS) return;
    memcpy(s->logits + (size_t)s->n * vocab, logits, (size_t)vocab * sizeof(float));
    s->pos[s->n++] = pos;
}

/* Sequence 0 among another in lm_batch, against lm_context fed its tokens. */
static void batch_vs_alone(const lm_model *m, const char *isa) {
    int vocab = lm_model_get_info(m).config.vocab_size, prompt[2][PROMPT], toks[STEPS];
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < PROMPT; i++) prompt[s][i] = (i * 7919 + s * 104729 + 1) % vocab;
    seen got = {.logits = malloc((size_t)STEPS * vocab * sizeof(float))};
    lm_error err;
    lm_batch *b = lm_batch_new(m, (lm_batch_params){2, 64, 2, isa}, &err);
    CHECK(b != NULL, "%s", err.msg);
    if (!b) return;
    lm_seq_params sp = {
        .n_ctx = PROMPT + STEPS, .stop_token = -1, .logits_fn = record, .logits_arg = &got};
    int id = lm_batch_add(b, prompt[0], PROMPT, sp, &err);
    lm_seq_params other = {.n_ctx = 60, .temperature = 1.0f, .seed = 7, .stop_token = -1};
    CHECK(id >= 0 && lm_batch_add(b, prompt[1], 5, other, &err) >= 0, "%s", err.msg);
    int n_toks = 0;
    lm_batch_event ev[2];
    for (int step = 0; step < 100 && n_toks < STEPS; step++) {
        int n = lm_batch_step(b, ev, &err);
        CHECK(n >= 0, "%s", err.msg);
        for (int e = 0; e < n; e++)
            if (ev[e].seq == id && n_toks < STEPS) toks[n_toks++] = ev[e].token;
    }
    lm_batch_free(b);
    lm_context *ctx = lm_context_new(m, (lm_context_params){64, 1, isa}, &err);
    CHECK(ctx && got.n == STEPS && n_toks == STEPS, "%d logits, %d tokens", got.n, n_toks);
    for (int k = 0; ctx && k < got.n; k++) {
        float *l = k == 0 ? lm_forward(ctx, prompt[0], PROMPT, 0)
                          : lm_forward(ctx, &toks[k - 1], 1, PROMPT + k - 1);
        CHECK(got.pos[k] == PROMPT + k, "hook position %d", got.pos[k]);
        CHECK(l && !memcmp(l, got.logits + (size_t)k * vocab, (size_t)vocab * sizeof(float)),
              "%s: batch logits at position %d differ from the context's", isa, PROMPT + k);
    }
    printf("llama3: %s, batch of 2: same bits as alone at %d positions\n", isa, got.n);
    lm_context_free(ctx);
    free(got.logits);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: test_llama3 DIR HEAD_SIZE VOCAB\n");
        return 2;
    }
    char path[4096];
    plan p;
    snprintf(path, sizeof path, "%s/plan.txt", argv[1]);
    CHECK(read_plan(path, &p) == 0, "cannot read %s", path);
    lm_error err;
    snprintf(path, sizeof path, "%s/llama3.gguf", argv[1]);
    lm_model *m = lm_model_load(path, &err);
    snprintf(path, sizeof path, "%s/llama3.noscale.gguf", argv[1]);
    lm_model *noscale = lm_model_load(path, &err);
    CHECK(m && noscale, "%s", err.msg);
    if (!m || !noscale || check_failures) return check_exit("llama3");
    lm_model_info i = lm_model_get_info(m);
    CHECK(i.rope_scaling == LM_ROPE_LLAMA3 && i.rope_factor_max == 8.0f &&
              i.rope_factor_min == 1.0f && i.shared_classifier &&
              i.config.vocab_size == atoi(argv[3]) && i.config.head_size == atoi(argv[2]) &&
              i.config.n_heads == 4 * i.config.n_kv_heads,
          "info: scaling %d (%g..%g), tied %d, vocab %d, head size %d", (int)i.rope_scaling,
          (double)i.rope_factor_min, (double)i.rope_factor_max, i.shared_classifier,
          i.config.vocab_size, i.config.head_size);
    CHECK(lm_model_get_info(noscale).rope_scaling == LM_ROPE_NONE, "noscale has scaling");
    int vocab = i.config.vocab_size;
    size_t n_ref = (size_t)p.n * vocab;
    double *ref = malloc(n_ref * sizeof(double));
    snprintf(path, sizeof path, "%s/ref.bin", argv[1]);
    FILE *f = fopen(path, "rb");
    CHECK(f && fread(ref, sizeof(double), n_ref, f) == n_ref, "cannot read %s", path);
    if (f) fclose(f);
    float *scalar = run(m, &p, "scalar", 1);
    if (scalar && !check_failures) {
        against_reference(m, noscale, &p, ref, scalar);
        every_kernel_set(m, &p, scalar);
        batch_vs_alone(m, "scalar");
        batch_vs_alone(m, lm_isa_best());
    }
    free(scalar);
    free(ref);
    lm_model_free(noscale);
    lm_model_free(m);
    return check_exit("llama3");
}
