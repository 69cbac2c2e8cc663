/* The sampler of llama2.c's run.c, exactly: the same seed and logits give the
 * same token (src/FORMATS.md, "The sampler"). */
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "dispatch.h"

struct lm_prob_index {
    float prob;
    int index;
};

struct lm_sampler {
    int vocab_size;
    float temperature; /* 0 = greedy */
    float topp;        /* nucleus; <= 0 or >= 1 = plain multinomial */
    uint64_t rng;
    struct lm_prob_index *scratch; /* vocab_size entries for top-p */
    const lm_kernels *k;           /* the softmax's kernel set: its context's */
};

static uint32_t random_u32(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545F4914F6CDD1Dull) >> 32);
}

static float random_f32(uint64_t *state) { return (float)(random_u32(state) >> 8) / 16777216.0f; }

lm_sampler *lm_sampler_new(int vocab_size, float temperature, float topp, uint64_t seed,
                           lm_error *err) {
    if (vocab_size <= 0 || !(temperature >= 0.0f) || !(topp >= 0.0f && topp <= 1.0f)) {
        lm_fail(err, "invalid sampler settings: temperature %g (>= 0), top-p %g (0..1)",
                temperature, topp);
        return NULL;
    }
    lm_sampler *s = calloc(1, sizeof *s);
    if (s) s->scratch = malloc((size_t)vocab_size * sizeof *s->scratch);
    if (!s || !s->scratch) {
        free(s);
        lm_fail(err, "out of memory");
        return NULL;
    }
    s->vocab_size = vocab_size;
    s->temperature = temperature;
    s->topp = topp;
    s->rng = seed;
    s->k = lm_kernels_best();
    return s;
}

int lm_sampler_set_isa(lm_sampler *s, const char *isa, lm_error *err) {
    const lm_kernels *k = lm_kernels_for(isa, err);
    if (!k) return -1;
    s->k = k;
    return 0;
}

void lm_sampler_set_kernels(lm_sampler *s, const lm_kernels *k) { s->k = k; }

void lm_sampler_free(lm_sampler *s) {
    if (!s) return;
    free(s->scratch);
    free(s);
}

static int argmax(const float *p, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[best]) best = i;
    return best;
}

static int sample_multinomial(const float *p, int n, float coin) {
    float cdf = 0.0f;
    for (int i = 0; i < n; i++) {
        cdf += p[i];
        if (coin < cdf) return i;
    }
    return n - 1;
}

/* run.c's order for the nucleus: descending probability; equal ones keep
 * ascending index order, as run.c's qsort does on glibc (a stable merge sort).
 * A strict total order (indices are distinct). */
static int before(const struct lm_prob_index *x, const struct lm_prob_index *y) {
    return x->prob > y->prob || (x->prob == y->prob && x->index < y->index);
}

static int by_prob(const void *a, const void *b) {
    const struct lm_prob_index *x = a, *y = b;
    return before(x, y) ? -1 : before(y, x);
}

static void swap(struct lm_prob_index *a, struct lm_prob_index *b) {
    struct lm_prob_index t = *a;
    *a = *b;
    *b = t;
}

/* Move the first k of v[0..n) in the order above to v[0..k) (any order
 * among them): quickselect with a median-of-three pivot, falling back to a
 * full sort when partitions keep coming out lopsided. */
static void select_first(struct lm_prob_index *v, int n, int k) {
    int lo = 0, hi = n, budget = 64;
    while (hi - lo > 1 && k > lo && k < hi) {
        if (--budget == 0) {
            qsort(v + lo, (size_t)(hi - lo), sizeof *v, by_prob);
            return;
        }
        int mid = lo + (hi - lo) / 2;
        if (before(&v[mid], &v[lo])) swap(&v[mid], &v[lo]);
        if (before(&v[hi - 1], &v[lo])) swap(&v[hi - 1], &v[lo]);
        if (before(&v[hi - 1], &v[mid])) swap(&v[hi - 1], &v[mid]);
        swap(&v[mid], &v[hi - 1]); /* the median is the pivot, at hi - 1 */
        int store = lo;
        for (int i = lo; i < hi - 1; i++)
            if (before(&v[i], &v[hi - 1])) swap(&v[i], &v[store++]);
        swap(&v[store], &v[hi - 1]);
        if (store < k)
            lo = store + 1;
        else
            hi = store;
    }
}

/* run.c's nucleus sampling. run.c sorts every candidate, then adds
 * probabilities in that order until they exceed topp; only that prefix
 * matters, so it is sorted in growing blocks, each selected from the rest
 * first: the same prefix, the same sums in the same order, the same token. */
static int sample_topp(const float *p, int n, float topp, struct lm_prob_index *kept, float coin) {
    /* Tokens below this cannot be in the nucleus: skip them before sorting. */
    const float cutoff = (1.0f - topp) / (float)(n - 1);
    int n0 = 0;
    for (int i = 0; i < n; i++)
        if (p[i] >= cutoff) kept[n0++] = (struct lm_prob_index){p[i], i};
    if (n0 == 0) return argmax(p, n); /* a one-token vocabulary */
    float cumulative = 0.0f;
    int last = n0 - 1, done = 0;
    for (int lo = 0, block = 64; lo < n0 && !done; lo += block, block *= 2) {
        int k = block < n0 - lo ? block : n0 - lo;
        select_first(kept + lo, n0 - lo, k);
        qsort(kept + lo, (size_t)k, sizeof *kept, by_prob);
        for (int i = lo; i < lo + k; i++) {
            cumulative += kept[i].prob;
            if (cumulative > topp) {
                last = i;
                done = 1;
                break;
            }
        }
        if (k < block) break;
    }
    float r = coin * cumulative, cdf = 0.0f;
    for (int i = 0; i <= last; i++) {
        cdf += kept[i].prob;
        if (r < cdf) return kept[i].index;
    }
    return kept[last].index;
}

int lm_sample(lm_sampler *s, float *logits) {
    int best = argmax(logits, s->vocab_size);
    if (s->temperature == 0.0f) return best;
    for (int i = 0; i < s->vocab_size; i++) logits[i] /= s->temperature;
    /* A temperature so small that the scaled logits overflow (-t 1e-40): the
     * softmax would be NaN; its limit is greedy. */
    if (!isfinite(logits[best])) return best;
    /* Every kernel set's softmax gives the same bits (kernels/ORDER.md). */
    s->k->softmax(logits, s->vocab_size);
    float coin = random_f32(&s->rng);
    if (s->topp <= 0.0f || s->topp >= 1.0f) return sample_multinomial(logits, s->vocab_size, coin);
    return sample_topp(logits, s->vocab_size, s->topp, s->scratch, coin);
}
