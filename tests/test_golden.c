/* stories260K against tests/data/golden, through the library, for every
 * ISA this CPU runs and for 1 and 2 threads:
 * - logits of 64 positions within 1e-4 of an independent PyTorch forward,
 *   fed one token at a time and as one prompt block;
 * - run.c's generations (greedy and multinomial) token for token;
 * - the sampler alone (top-p included) on the golden logits, exactly.
 * Usage: test_golden SHARED_DATA_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dispatch.h"
#include "lamina.h"

#define VOCAB 512
#define ROWS 64

static char data_dir[4096];

static const char *data(const char *rel) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", data_dir, rel);
    return path;
}

static void *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    char *buf = malloc(*size + 1);
    if (buf && fread(buf, 1, *size, f) != *size) buf = (free(buf), NULL);
    if (buf) buf[*size] = '\0';
    fclose(f);
    return buf;
}

/* Parse up to max integers from s; returns how many. */
static int parse_ids(const char *s, int *ids, int max) {
    int n = 0;
    char *end;
    for (long v = strtol(s, &end, 10); end != s && n < max; v = strtol(s, &end, 10)) {
        ids[n++] = (int)v;
        s = end;
    }
    return n;
}

/* The kernel set under test, passed to every context. */
static const char *isa;

static void test_logits(lm_model *m, const float *golden, const int *ids, int threads) {
    lm_context *ctx = lm_context_new(m, (lm_context_params){0, threads, isa}, NULL);
    float worst = 0;
    for (int pos = 0; pos < ROWS; pos++) {
        const float *logits = lm_forward(ctx, &ids[pos], 1, pos);
        for (int i = 0; i < VOCAB; i++) {
            float d = fabsf(logits[i] - golden[pos * VOCAB + i]);
            if (!(d <= worst)) worst = d;
        }
    }
    CHECK(worst <= 1e-4f, "%s, %d threads: token by token, max |logit error| %g > 1e-4", isa,
          threads, worst);
    /* The same positions as prompt blocks: the last row of each prefix. */
    worst = 0;
    for (int n = 1; n <= ROWS; n += 21) {
        const float *logits = lm_forward(ctx, ids, n, 0);
        for (int i = 0; i < VOCAB; i++) {
            float d = fabsf(logits[i] - golden[(n - 1) * VOCAB + i]);
            if (!(d <= worst)) worst = d;
        }
    }
    CHECK(worst <= 1e-4f, "%s, %d threads: as a prompt block, max |logit error| %g > 1e-4", isa,
          threads, worst);
    lm_context_free(ctx);
}

/* One line of stories260K_generate.txt: "-t T [-p P] [-s S] | ids". */
static void test_generation(lm_model *m, const char *line, int threads) {
    float temperature = 1.0f, topp = 0.9f;
    unsigned long long seed = 0;
    const char *t = strstr(line, "-t "), *p = strstr(line, "-p "), *s = strstr(line, "-s ");
    const char *bar = strchr(line, '|');
    if (t) temperature = strtof(t + 3, NULL);
    if (p) topp = strtof(p + 3, NULL);
    if (s) seed = strtoull(s + 3, NULL, 10);
    int want[256], got[256];
    int n_want = parse_ids(bar + 1, want, 256), n_got = 0;
    lm_context *ctx = lm_context_new(m, (lm_context_params){256, threads, isa}, NULL);
    lm_sampler *sampler = lm_sampler_new(VOCAB, temperature, topp, seed, NULL);
    /* run.c: BOS at position 0, then sample until 256 positions or BOS */
    int token = LM_TOKEN_BOS;
    for (int pos = 0; pos < 256; pos++) {
        int next = lm_sample(sampler, lm_forward(ctx, &token, 1, pos));
        if (next == LM_TOKEN_BOS) break;
        got[n_got++] = token = next;
    }
    int first_diff = 0;
    while (first_diff < n_got && first_diff < n_want && got[first_diff] == want[first_diff])
        first_diff++;
    CHECK(n_got == n_want && first_diff == n_want,
          "%s, %d threads, '%.*s': %d tokens vs %d expected, first difference at %d", isa, threads,
          (int)(bar - line), line, n_got, n_want, first_diff);
    lm_sampler_free(sampler);
    lm_context_free(ctx);
}

static void test_sampler(const float *golden, const char *line) {
    float temperature, topp;
    unsigned long long seed;
    if (sscanf(line, "%f %f %llu", &temperature, &topp, &seed) != 3) return;
    int want[ROWS];
    int n = parse_ids(strchr(line, '|') + 1, want, ROWS);
    lm_sampler *s = lm_sampler_new(VOCAB, temperature, topp, seed, NULL);
    float logits[VOCAB];
    int matched = 0;
    for (int r = 0; r < n; r++) {
        memcpy(logits, golden + r * VOCAB, sizeof logits);
        matched += lm_sample(s, logits) == want[r];
    }
    CHECK(n == ROWS && matched == n, "sampler '%.20s': %d of %d ids match", line, matched, n);
    lm_sampler_free(s);
}

/* Calls fn on each non-comment line of a golden text file. */
static int each_line(const char *path, void (*fn)(const char *line, void *arg), void *arg) {
    size_t size;
    char *text = read_file(path, &size);
    if (!text) return 0;
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (line[0] != '#' && strchr(line, '|')) fn(line, arg), n++;
    free(text);
    return n;
}

typedef struct run {
    lm_model *model;
    const float *golden;
    int threads;
} run;

static void generation_line(const char *line, void *arg) {
    const run *r = arg;
    test_generation(r->model, line, r->threads);
}

static void sampler_line(const char *line, void *arg) {
    test_sampler(((const run *)arg)->golden, line);
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: test_golden SHARED_DATA_DIR\n"), 2;
    snprintf(data_dir, sizeof data_dir, "%s", argv[1]);
    lm_error err;
    lm_model *m = lm_model_load(data("models/stories260K.bin"), &err);
    size_t n_logits = 0, n_ids_text = 0;
    float *golden = read_file(data("golden/stories260K_logits_64x512.f32"), &n_logits);
    char *ids_text = read_file(data("golden/stories260K_logits_64x512.ids"), &n_ids_text);
    if (!m || !golden || !ids_text || n_logits != sizeof(float) * ROWS * VOCAB) {
        fprintf(stderr, "cannot read the golden data under %s: %s\n", data_dir, m ? "" : err.msg);
        return 1;
    }
    int ids[ROWS];
    CHECK(parse_ids(ids_text, ids, ROWS) == ROWS, "expected %d ids", ROWS);

    run r = {m, golden, 1};
    CHECK(each_line(data("golden/sampler_stories260K.txt"), sampler_line, &r) > 0,
          "no sampler cases read");
    for (int i = 0; lm_kernel_tables[i]; i++) {
        isa = lm_kernel_tables[i]->isa;
        const char *missing = lm_kernels_missing_feature(lm_kernel_tables[i]);
        if (missing) {
            printf("%s: skipped, this CPU lacks %s\n", isa, missing);
            continue;
        }
        for (r.threads = 1; r.threads <= 2; r.threads++) {
            test_logits(m, golden, ids, r.threads);
            CHECK(each_line(data("golden/stories260K_generate.txt"), generation_line, &r) > 0,
                  "no generation cases read");
        }
        printf("%s: checked\n", isa);
    }
    lm_model_free(m);
    free(golden);
    free(ids_text);
    return check_exit("golden");
}
