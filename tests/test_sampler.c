/* lm_sample's nucleus (top-p) sampling against run.c's algorithm written out
 * plainly here: softmax (the scalar oracle's, as every kernel set gives the
 * same bits), every candidate sorted by descending probability with ties in
 * index order (run.c's qsort on glibc is a stable merge sort), probabilities
 * added until they exceed top-p, then the coin. lm_sample sorts only the
 * prefix it needs; the tokens must be the same for every seed, vocabulary
 * size and distribution, ties included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "lamina.h"

typedef struct {
    float prob;
    int index;
} cand;

static int stable_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->prob != y->prob) return x->prob > y->prob ? -1 : 1;
    return x->index - y->index;
}

static uint32_t run_random_u32(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545F4914F6CDD1Dull) >> 32);
}
static float run_random_f32(uint64_t *s) { return (float)(run_random_u32(s) >> 8) / 16777216.0f; }

/* run.c's sample_topp, with the softmax of the scalar oracle. */
static int reference(float *logits, int n, float topp, uint64_t *rng, cand *c) {
    lm_kernels_by_name("scalar")->softmax(logits, n);
    float coin = run_random_f32(rng);
    float cutoff = (1.0f - topp) / (float)(n - 1);
    int n0 = 0;
    for (int i = 0; i < n; i++)
        if (logits[i] >= cutoff) c[n0++] = (cand){logits[i], i};
    if (n0 == 0) { /* run.c reads out of bounds here; lamina takes the argmax */
        int best = 0;
        for (int i = 1; i < n; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    qsort(c, (size_t)n0, sizeof *c, stable_desc);
    float cum = 0.0f;
    int last = n0 - 1;
    for (int i = 0; i < n0; i++) {
        cum += c[i].prob;
        if (cum > topp) {
            last = i;
            break;
        }
    }
    float r = coin * cum, cdf = 0.0f;
    for (int i = 0; i <= last; i++) {
        cdf += c[i].prob;
        if (r < cdf) return c[i].index;
    }
    return c[last].index;
}

static uint64_t mix = 88172645463325252ull;
static float uniform(void) { return (float)(run_random_u32(&mix) >> 8) / 16777216.0f; }

/* Logits of several shapes: flat, peaked, and coarse steps (many ties). */
static void make_logits(float *l, int n, int shape) {
    for (int i = 0; i < n; i++) {
        float u = uniform() * 2.0f - 1.0f;
        switch (shape) {
        case 0: l[i] = u; break;                                     /* nearly flat */
        case 1: l[i] = 16.0f * u * u * u * u * u * u * u; break;     /* a few stand out */
        case 2: l[i] = (float)(int)(u * 4.0f) * 0.5f; break;         /* ties everywhere */
        default: l[i] = (i % 7 == 0) ? 3.0f : (float)(i % 3); break; /* exact ties */
        }
    }
}

int main(void) {
    const int vocabs[] = {2, 3, 64, 65, 512, 1000, 32000};
    const float topps[] = {0.1f, 0.5f, 0.9f, 0.95f, 0.999f};
    int cases = 0, failed = 0;
    for (size_t v = 0; v < sizeof vocabs / sizeof *vocabs; v++) {
        int n = vocabs[v];
        float *l = malloc((size_t)n * sizeof *l), *a = malloc((size_t)n * sizeof *a);
        cand *c = malloc((size_t)n * sizeof *c);
        for (int shape = 0; shape < 4; shape++)
            for (size_t t = 0; t < sizeof topps / sizeof *topps; t++)
                for (uint64_t seed = 1; seed <= (n > 1000 ? 8u : 40u); seed++) {
                    make_logits(l, n, shape);
                    lm_error err;
                    lm_sampler *s = lm_sampler_new(n, 1.0f, topps[t], seed, &err);
                    if (!s || lm_sampler_set_isa(s, "scalar", &err)) {
                        printf("sampler: %s\n", err.msg);
                        return 1;
                    }
                    uint64_t rng = seed;
                    for (int step = 0; step < 4; step++) {
                        memcpy(a, l, (size_t)n * sizeof *l);
                        int got = lm_sample(s, a);
                        memcpy(a, l, (size_t)n * sizeof *l);
                        int want = reference(a, n, topps[t], &rng, c);
                        cases++;
                        if (got != want && failed++ < 10)
                            printf("FAIL: vocab %d shape %d top-p %g seed %llu step %d: %d, "
                                   "run.c's algorithm %d\n",
                                   n, shape, topps[t], (unsigned long long)seed, step, got, want);
                    }
                    lm_sampler_free(s);
                }
        free(l);
        free(a);
        free(c);
    }
    printf("%d passed, %d failed\n", cases - failed, failed);
    return failed != 0;
}
