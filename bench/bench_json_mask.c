/* The cost of response_format's token mask per generated token
 * (src/request/json_constraint.h): random walks through a schema on a
 * vocabulary, each step timing lm_json_allowed and the masking of a logits
 * row, as lm_json_run_logits does before sampling. Compare the mean with a
 * decode step of `lamina bench --shape 110M` (issue 25: at most 25%).
 * Usage: bench_json_mask VOCAB [walks] (e.g. tests/data/tokenizers/llama2-32k.bin). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_constraint.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define MAX_STEPS 100000
static double times[MAX_STEPS];

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char *const schemas[] = {
    NULL, /* json_object */
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":40},"
    "\"colour\":{\"enum\":[\"red\",\"green\",\"blue\"]},\"age\":{\"type\":\"integer\"},"
    "\"ok\":{\"type\":\"boolean\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
    "\"maxLength\":12},\"maxItems\":4},\"score\":{\"type\":\"number\"}},"
    "\"required\":[\"name\",\"colour\",\"age\",\"ok\",\"tags\"],\"additionalProperties\":false}",
};

int main(int argc, char **argv) {
    if (argc < 2) return fprintf(stderr, "usage: bench_json_mask VOCAB [walks]\n"), 2;
    int walks = argc > 2 ? atoi(argv[2]) : 20;
    lm_error err = {0};
    lm_tokenizer *tok = lm_tokenizer_load(argv[1], 0, &err);
    if (!tok) return fprintf(stderr, "%s\n", err.msg), 1;
    double t0 = now();
    lm_json_vocab *v = lm_json_vocab_build(tok, &err);
    if (!v) return fprintf(stderr, "%s\n", err.msg), 1;
    int n = lm_tokenizer_vocab_size(tok), end = lm_tokenizer_stop_token(tok, 0);
    printf("vocabulary %s: %d tokens, trie built in %.1f ms (once per vocabulary)\n", argv[1], n,
           (now() - t0) * 1e3);
    lm_json_vocab_get(tok, &err); /* fills the cache */
    t0 = now();
    lm_json_vocab_get(tok, &err);
    printf("a request's look-up of the cached trie: %.2f ms\n", (now() - t0) * 1e3);
    uint8_t *allowed = malloc((size_t)n);
    float *logits = malloc((size_t)n * sizeof *logits);
    uint64_t rng = 1;
    for (int k = 0; k < 2; k++) {
        cJSON *j = schemas[k] ? cJSON_Parse(schemas[k]) : NULL;
        lm_json_schema *s =
            j ? lm_json_schema_compile(j, "schema", &err) : lm_json_schema_any_object(&err);
        cJSON_Delete(j);
        double total = 0, worst = 0;
        long steps = 0;
        for (int w = 0; w < walks; w++) {
            lm_json_state st;
            lm_json_state_init(&st, s);
            int prev = 0;
            for (int i = 0; i < 200; i++) {
                for (int t = 0; t < n; t++) logits[t] = (float)t;
                double a = now();
                int count = lm_json_allowed(v, &st, prev, &end, 1, allowed);
                for (int t = 0; t < n; t++)
                    if (!allowed[t]) logits[t] = -INFINITY;
                double d = now() - a;
                total += d, steps++;
                if (d > worst) worst = d;
                if (steps <= MAX_STEPS) times[steps - 1] = d;
                if (lm_json_can_end(&st) || count == 0) break;
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                int pick = (int)(rng % (uint64_t)count), t = 0;
                for (;; t++)
                    if (allowed[t] && pick-- == 0) break;
                const char *p = lm_token_text(tok, prev, t);
                lm_json_feed(&st, p, strlen(p));
                prev = t;
            }
        }
        long m = steps < MAX_STEPS ? steps : MAX_STEPS;
        qsort(times, (size_t)m, sizeof *times, by_value);
        printf("%-12s %6ld tokens: median %6.1f us/token, p90 %6.1f, mean %6.1f, worst %7.1f "
               "(the machine's other load included)\n",
               schemas[k] ? "schema" : "json_object", steps, times[m / 2] * 1e6,
               times[m * 9 / 10] * 1e6, total / (double)steps * 1e6, worst * 1e6);
        lm_json_schema_free(s);
    }
    free(allowed), free(logits);
    lm_json_vocab_free(v);
    lm_tokenizer_free(tok);
    return 0;
}
