/* stories260K against tests/data/golden, through the library, for every
 * ISA this CPU runs and for 1 and 2 threads:
 * - logits of 64 positions within 1e-4 of an independent PyTorch forward,
 *   fed one token at a time and as one prompt block;
 * - run.c's generations (greedy and multinomial) token for token;
 * - the sampler alone (top-p included) on the golden logits, exactly.
 * Usage: test_golden SHARED_DATA_DIR
 *
 * test_golden SHARED_DATA_DIR batched [threads]: the written order (kernels/ORDER.md)
 * end to end. On stories260K and the demo model (v0 fp32, v2 Q8_0), the logits
 * after every prefix of a prompt are bitwise the same whether the prompt goes
 * through as one batch (T = 1..100: several blocks, both product paths) or
 * token by token, on every kernel set and at 1 and 2 threads (or 1..threads); and they are the
 * scalar oracle's bits at 1 thread, token by token. */
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

/* ---- batched against token by token, bit for bit ---------------------- */

#define PROMPT 100

static int max_threads = 2; /* thread counts 1..max_threads */

/* Where two logit vectors first differ (vocab if nowhere). */
static int first_diff_at(const float *a, const float *b, int vocab) {
    int i = 0;
    while (i < vocab && memcmp(&a[i], &b[i], sizeof(float)) != 0) i++;
    return i == vocab ? vocab : i;
}

static int differ(const float *a, const float *b, int vocab) {
    return memcmp(a, b, (size_t)vocab * sizeof(float)) != 0;
}

/* Logits after each prefix of ids (row p: after ids[0..p]) fed one token at a
 * time; the reference the batched calls are held to. */
static void token_by_token(lm_context *ctx, const int *ids, float *rows, int vocab) {
    for (int p = 0; p < PROMPT; p++)
        memcpy(rows + (size_t)p * vocab, lm_forward(ctx, &ids[p], 1, p),
               (size_t)vocab * sizeof(float));
}

static void test_batched_model(const char *rel) {
    lm_error err;
    lm_model *m = lm_model_load(data(rel), &err);
    CHECK(m != NULL, "%s: %s", rel, m ? "" : err.msg);
    if (!m) return;
    const int vocab = lm_model_get_info(m).config.vocab_size;
    /* BOS, then ids spread over the vocabulary (any ids do for bits) */
    int ids[PROMPT] = {LM_TOKEN_BOS};
    for (int p = 1; p < PROMPT; p++) ids[p] = (p * 7919 + 13) % vocab;
    float *oracle = malloc((size_t)PROMPT * vocab * sizeof(float));
    float *rows = malloc((size_t)PROMPT * vocab * sizeof(float));
    for (int i = 0; lm_kernel_tables[i]; i++) {
        const char *name = lm_kernel_tables[i]->isa;
        if (lm_kernels_missing_feature(lm_kernel_tables[i])) continue; /* main says so */
        for (int threads = 1; threads <= max_threads; threads++) {
            lm_context *ctx = lm_context_new(m, (lm_context_params){PROMPT, threads, name}, &err);
            CHECK(ctx != NULL, "%s %s: %s", rel, name, ctx ? "" : err.msg);
            if (!ctx) continue;
            token_by_token(ctx, ids, rows, vocab);
            if (i == 0 && threads == 1)
                memcpy(oracle, rows, (size_t)PROMPT * vocab * sizeof(float));
            int p = 0;
            while (p < PROMPT &&
                   !differ(rows + (size_t)p * vocab, oracle + (size_t)p * vocab, vocab))
                p++;
            CHECK(p == PROMPT,
                  "%s %s, %d threads, token by token: position %d logit %d differs "
                  "from scalar's",
                  rel, name, threads, p,
                  p < PROMPT
                      ? first_diff_at(rows + (size_t)p * vocab, oracle + (size_t)p * vocab, vocab)
                      : 0);
            /* prompt lengths in one call: every T to 40, then around the
             * products' block sizes and past one forward block (64) */
            static const int more[] = {47, 48, 49, 63, 64, 65, 70, 96, PROMPT};
            int bad = 0, first_bad = 0, lengths = 0;
            for (int j = 0; j < 40 + 9; j++, lengths++) {
                int n = j < 40 ? j + 1 : more[j - 40];
                const float *logits = lm_forward(ctx, ids, n, 0);
                if (differ(logits, rows + (size_t)(n - 1) * vocab, vocab) && !bad++) first_bad = n;
            }
            CHECK(!bad,
                  "%s %s, %d threads: %d of %d prompt lengths give other logits as one "
                  "batch than token by token (first: T = %d)",
                  rel, name, threads, bad, lengths, first_bad);
            printf("%s %s, %d threads: token by token %s scalar's; %d of %d batched lengths "
                   "differ\n",
                   rel, name, threads, p == PROMPT ? "equals" : "DIFFERS from", bad, lengths);
            lm_forward(ctx, ids, 37, 0);
            const float *logits = lm_forward(ctx, ids + 37, PROMPT - 37, 37);
            CHECK(
                !differ(logits, rows + (size_t)(PROMPT - 1) * vocab, vocab),
                "%s %s, %d threads: a prompt in two batches (37 + %d) differs from token by token",
                rel, name, threads, PROMPT - 37);
            lm_context_free(ctx);
        }
    }
    free(oracle);
    free(rows);
    lm_model_free(m);
}

static int test_batched(void) {
    for (int i = 0; lm_kernel_tables[i]; i++) {
        const char *missing = lm_kernels_missing_feature(lm_kernel_tables[i]);
        if (missing) printf("%s: skipped, this CPU lacks %s\n", lm_kernel_tables[i]->isa, missing);
    }
    test_batched_model("models/stories260K.bin");
    test_batched_model("models/kjv1m.bin");
    test_batched_model("models/kjv1m.q80.bin");
    return check_exit("golden batched");
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4 || (argc >= 3 && strcmp(argv[2], "batched") != 0))
        return fprintf(stderr, "usage: test_golden SHARED_DATA_DIR [batched [threads]]\n"), 2;
    snprintf(data_dir, sizeof data_dir, "%s", argv[1]);
    if (argc == 4) max_threads = atoi(argv[3]);
    if (argc >= 3) return max_threads >= 1 ? test_batched() : 2;
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
