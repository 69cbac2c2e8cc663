/* Time to first token of a chat turn after a long history, with and without
 * the prompt cache's mechanism (lm_seq_params.prefix): a random model of a
 * preset shape with seq_len 1024, a history of H tokens kept as a prefix, and
 * a turn of T new tokens. Without the cache the whole H + T prompt is fed;
 * with it, H positions are copied from the prefix and T fed. The first token
 * must be the same either way (checked).
 *
 * Usage: bench_prompt_cache [SHAPE [H [T [REPS [THREADS]]]]]
 *        (defaults 110M 900 20 3 0 = automatic threads) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lamina.h"

static double first_token(lm_batch *b, const int *ids, int n, const lm_prefix *x, int use,
                          int *token) {
    lm_seq_params p = {.n_ctx = n + 8, .temperature = 0.0f, .stop_token = -1};
    p.prefix = x;
    p.prefix_len = use;
    lm_error err;
    double t0 = lm_seconds();
    int seq = lm_batch_add(b, ids, n, p, &err);
    if (seq < 0) {
        fprintf(stderr, "add: %s\n", err.msg);
        exit(1);
    }
    lm_batch_event ev[1];
    while (lm_batch_step(b, ev, &err) == 0) {
    }
    double t = lm_seconds() - t0;
    *token = ev[0].token;
    lm_batch_cancel(b, seq);
    return t;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *shape = argc > 1 ? argv[1] : "110M";
    int h = argc > 2 ? atoi(argv[2]) : 900, t = argc > 3 ? atoi(argv[3]) : 20;
    int reps = argc > 4 ? atoi(argv[4]) : 3, threads = argc > 5 ? atoi(argv[5]) : 0;
    lm_config c;
    lm_error err;
    if (lm_config_preset(shape, &c) || h < 1 || t < 1 || reps < 1 || h + t + 8 > 1024) {
        fprintf(stderr, "usage: bench_prompt_cache [SHAPE [H [T [REPS [THREADS]]]]]\n");
        return 2;
    }
    c.seq_len = 1024;
    lm_model *m = lm_model_random(&c, LM_FORMAT_V2, 0, 1, &err);
    lm_batch *b = m ? lm_batch_new(m, (lm_batch_params){1, 1024, threads, NULL}, &err) : NULL;
    if (!b) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int *ids = malloc((size_t)(h + t) * sizeof *ids);
    ids[0] = 1;
    for (int i = 1; i < h + t; i++)
        ids[i] = 3 + (int)((i * 2654435761u) % (unsigned)(c.vocab_size - 3));
    /* the history, kept: n_ctx = h ends it at its first sample, all h fed */
    lm_seq_params keep = {.n_ctx = h, .stop_token = -1, .keep = 1};
    lm_batch_add(b, ids, h, keep, &err);
    lm_batch_event ev[1];
    while (lm_batch_step(b, ev, &err) == 0) {
    }
    lm_prefix *x = ev[0].prefix;
    if (!x) {
        fprintf(stderr, "no prefix kept\n");
        return 1;
    }
    double *whole = calloc((size_t)reps, sizeof *whole),
           *cached = calloc((size_t)reps, sizeof *cached);
    int tw = -1, tc = -2;
    for (int r = 0; r < reps; r++) { /* interleaved: the machine's drift hits both */
        whole[r] = first_token(b, ids, h + t, NULL, 0, &tw);
        cached[r] = first_token(b, ids, h + t, x, h, &tc);
        if (tw != tc) {
            fprintf(stderr, "FAILED: first token %d without the cache, %d with it\n", tw, tc);
            return 1;
        }
    }
    qsort(whole, (size_t)reps, sizeof *whole, cmp);
    qsort(cached, (size_t)reps, sizeof *cached, cmp);
    double mw = whole[reps / 2], mc = cached[reps / 2];
    printf("%s (seq_len 1024, Q8_0), kernels %s: first token after %d history + %d new tokens\n",
           shape, lm_isa_best(), h, t);
    printf("  without the cache: median %.3f s (min %.3f, max %.3f) over %d\n", mw, whole[0],
           whole[reps - 1], reps);
    printf("  with the cache:    median %.3f s (min %.3f, max %.3f); prefix %.1f MiB\n", mc,
           cached[0], cached[reps - 1], (double)lm_prefix_bytes(x) / (1 << 20));
    printf("  ratio %.1f%% (the same first token, %d)\n", 100.0 * mc / mw, tw);
    lm_prefix_free(x);
    lm_batch_free(b);
    lm_model_free(m);
    free(ids);
    free(whole);
    free(cached);
    return 0;
}
