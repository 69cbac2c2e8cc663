/* `lamina bench` statistics (bench.h): summaries of repetitions and the flop
 * count that turns prefill tok/s into GFLOP/s. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bench_summary bench_summarize(const double *v, int n) {
    bench_summary s = {0};
    if (n <= 0) return s;
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return s;
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    s.median = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    s.min = c[0];
    s.max = c[n - 1];
    for (int i = 0; i < n; i++) s.mean += c[i] / n;
    for (int i = 0; i < n; i++) s.stddev += (c[i] - s.mean) * (c[i] - s.mean);
    s.stddev = n > 1 ? sqrt(s.stddev / (n - 1)) : 0;
    free(c);
    return s;
}

/* The layers' products of one token. */
static double token_flops(const lm_config *c) {
    double hs = (double)c->dim / c->n_heads, kv_dim = c->n_kv_heads * hs, dim = c->dim;
    return 2.0 * c->n_layers * (dim * (2 * dim + 2 * kv_dim) + 3 * dim * c->hidden_dim);
}

/* Attention scores and weighted sums of positions a .. b - 1 (position t
 * attends to t + 1 positions). */
static double attention_flops(const lm_config *c, int a, int b) {
    return 4.0 * c->n_layers * c->dim * ((double)b * (b + 1) - (double)a * (a + 1)) / 2;
}

/* The products, attention, and the classifier on the last token. */
double bench_prefill_flops(const lm_config *c, int P) {
    return token_flops(c) * P + attention_flops(c, 0, P) + 2.0 * c->dim * c->vocab_size;
}

/* Each token: products, attention and the classifier. */
double bench_decode_flops(const lm_config *c, int P, int G) {
    return (token_flops(c) + 2.0 * c->dim * c->vocab_size) * G + attention_flops(c, P, P + G);
}

/* Here, not in bench_run.c, so that bench_slowdown.c and bench_run.c both
 * call a leaf instead of each other. */
double bench_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
