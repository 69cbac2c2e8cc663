/* GGUF models written by llama.cpp's gguf-py (tests/gguf/make_gguf.py, run by
 * the gguf.fixtures test) against lamina's own files and against each other:
 *
 * - kjv1m as GGUF F32 (tied, untied, alignment 256, theta 10000 given
 *   explicitly) gives the .bin's logits, bit for bit;
 * - kjv1m as GGUF Q8_0: every matrix, packed, dequantizes to exactly what
 *   gguf-py's dequantizer gives (the F32 file of its dequantized weights), and
 *   the two models' embedding rows agree;
 * - F16 and BF16 give the logits of their values widened to F32;
 * - a non-default theta and epsilon change the logits (so neither is ignored);
 * - seeded sampled generation is the same on every kernel set, 1 and 2
 *   threads, token by token or batched (lm_batch with other sequences), for
 *   each model in ORDER_MODELS (Q8_0, and a GQA model whose head size is not
 *   dim / n_heads).
 *
 * Usage: test_gguf_model FIXTURE_DIR DATA_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "internal.h"
#include "pack.h"

static char fixtures[4096], data_dir[4096];

static const char *path_in(const char *dir, const char *name) {
    static char p[2][8400];
    static int which;
    which ^= 1;
    snprintf(p[which], sizeof p[0], "%s/%s", dir, name);
    return p[which];
}

static lm_model *load(const char *path) {
    lm_error e;
    lm_model *m = lm_model_load(path, &e);
    CHECK(m, "cannot load %s: %s", path, e.msg);
    return m;
}

/* Logits after each of n tokens (the first half as one batch, then one at a
 * time), malloc'd (n, vocab). */
static float *run_logits(const lm_model *m, const char *isa, int threads, const int *toks, int n) {
    lm_error e;
    lm_context *ctx = lm_context_new(m, (lm_context_params){n, threads, isa}, &e);
    CHECK(ctx, "context: %s", e.msg);
    if (!ctx) return NULL;
    int V = lm_model_get_info(m).config.vocab_size, half = n / 2;
    float *out = calloc((size_t)n * V, sizeof(float));
    const float *l = lm_forward(ctx, toks, half, 0);
    memcpy(out + (size_t)(half - 1) * V, l, (size_t)V * sizeof(float));
    for (int p = half; p < n; p++) {
        l = lm_forward(ctx, &toks[p], 1, p);
        memcpy(out + (size_t)p * V, l, (size_t)V * sizeof(float));
    }
    lm_context_free(ctx);
    return out;
}

#define N_TOK 24
static const int tokens[N_TOK] = {1,   320, 271, 600,  43, 901, 7,   88, 512, 1000, 3,  77,
                                  250, 640, 12,  1023, 5,  99,  410, 2,  808, 66,   31, 700};

/* Same bits as the reference model (1: equal). */
static int same_logits(const lm_model *a, const lm_model *b, const char *label) {
    float *x = run_logits(a, "scalar", 1, tokens, N_TOK),
          *y = run_logits(b, "scalar", 1, tokens, N_TOK);
    int V = lm_model_get_info(a).config.vocab_size, same = x && y;
    for (size_t i = 0; same && i < (size_t)N_TOK * V; i++)
        if (memcmp(&x[i], &y[i], sizeof(float))) {
            same = 0;
            printf("%s: first difference at position %zu, logit %zu: %a vs %a\n", label, i / V,
                   i % V, x[i], y[i]);
        }
    free(x);
    free(y);
    return same;
}

static void f32_equals_bin(void) {
    lm_model *bin = load(path_in(data_dir, "models/kjv1m.bin"));
    const char *same[] = {"kjv.f32.gguf", "kjv.f32.untied.gguf", "kjv.align256.gguf",
                          "kjv.theta10k.gguf"};
    for (size_t i = 0; bin && i < sizeof same / sizeof *same; i++) {
        lm_model *g = load(path_in(fixtures, same[i]));
        if (!g) continue;
        lm_model_info info = lm_model_get_info(g);
        CHECK(info.format == LM_FORMAT_GGUF && info.gguf_version == 3, "%s: format", same[i]);
        CHECK(!strcmp(info.tensor_types, "F32"), "%s: types '%s'", same[i], info.tensor_types);
        CHECK(info.shared_classifier == !strstr(same[i], "untied"), "%s: classifier", same[i]);
        CHECK(info.n_params == lm_model_get_info(bin).n_params || strstr(same[i], "untied"),
              "%s: %llu parameters", same[i], (unsigned long long)info.n_params);
        CHECK(same_logits(bin, g, same[i]), "%s: logits differ from kjv1m.bin's", same[i]);
        lm_model_free(g);
    }
    lm_model_free(bin);
    /* F16 norms are widened exactly: as gguf-py's rounding written as F32 */
    lm_model *a = load(path_in(fixtures, "kjv.f16norms.gguf")),
             *b = load(path_in(fixtures, "kjv.f16norms.deq.gguf"));
    CHECK(a && b && !strcmp(a->info.tensor_types, "F32, F16") && same_logits(a, b, "f16 norms"),
          "F16 norms: types '%s' or logits differ", a ? a->info.tensor_types : "");
    lm_model_free(a);
    lm_model_free(b);
}

/* lm_model_load_memory takes a GGUF image too, aligned or not. */
static void from_memory(void) {
    const char *path = path_in(fixtures, "kjv.q8.align64.untied.gguf");
    FILE *f = fopen(path, "rb");
    CHECK(f, "cannot open %s", path);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    CHECK(buf && fread(buf + 1, 1, (size_t)n, f) == (size_t)n, "read %s", path);
    fclose(f);
    lm_model *file = load(path);
    for (int shift = 0; shift < 2 && file; shift++) {
        if (!shift) memmove(buf, buf + 1, (size_t)n);
        lm_error e;
        lm_model *m = lm_model_load_memory(buf + shift, (size_t)n, "image.gguf", &e);
        CHECK(m, "from memory (shift %d): %s", shift, e.msg);
        if (m) CHECK(same_logits(file, m, "from memory"), "from memory (shift %d) differs", shift);
        lm_model_free(m);
        if (!shift) memmove(buf + 1, buf, (size_t)n);
    }
    lm_model_free(file);
    free(buf);
}

/* Every packed matrix of the Q8_0 model, row by row, equals the dequantized
 * F32 model's. */
static void q8_equals_dequantized(void) {
    lm_model *q = load(path_in(fixtures, "kjv.q8.gguf")),
             *f = load(path_in(fixtures, "kjv.q8deq.gguf"));
    if (!q || !f) goto out;
    CHECK(!strcmp(q->info.tensor_types, "F32, Q8_0") && q->info.group_size == 32,
          "Q8_0 model: types '%s', group size %d", q->info.tensor_types, q->info.group_size);
    const lm_config *c = q->c;
    float *a = malloc(sizeof(float) * 4096), *b = malloc(sizeof(float) * 4096);
    int rows_checked = 0, bad = 0;
    for (int l = -1; l < c->n_layers; l++) {
        const lm_matrix *mq[7], *mf[7];
        int n = 1;
        if (l < 0) {
            mq[0] = &q->tok_emb, mf[0] = &f->tok_emb;
        } else {
            const lm_layer *Q = &q->layers[l], *F = &f->layers[l];
            const lm_matrix *qs[] = {&Q->wq, &Q->wk, &Q->wv, &Q->wo, &Q->w1, &Q->w2, &Q->w3};
            const lm_matrix *fs[] = {&F->wq, &F->wk, &F->wv, &F->wo, &F->w1, &F->w2, &F->w3};
            memcpy(mq, qs, sizeof qs), memcpy(mf, fs, sizeof fs);
            n = 7;
        }
        for (int j = 0; j < n; j++) {
            CHECK(mq[j]->p.q && mq[j]->p.gs == 32, "layer %d matrix %d not in Q8_0 panels", l, j);
            for (int r = 0; r < mq[j]->rows; r++) {
                lm_packed_row(&mq[j]->p, r, a);
                lm_packed_row(&mf[j]->p, r, b);
                bad += memcmp(a, b, sizeof(float) * (size_t)mq[j]->cols) != 0;
                rows_checked++;
            }
        }
    }
    CHECK(bad == 0, "%d of %d rows differ from gguf-py's dequantization", bad, rows_checked);
    CHECK(rows_checked > 1000, "only %d rows", rows_checked);
    free(a);
    free(b);
out:
    lm_model_free(q);
    lm_model_free(f);
}

/* F16 / BF16 weights are widened exactly: their logits are those of the F32
 * file of the same values (numpy's rounding to half, gguf-py's to bfloat16). */
static void halves_equal_widened(void) {
    const char *pairs[][3] = {{"kjv.f16.gguf", "kjv.f16deq.gguf", "F32, F16"},
                              {"kjv.bf16.gguf", "kjv.bf16deq.gguf", "F32, BF16"}};
    for (int i = 0; i < 2; i++) {
        lm_model *h = load(path_in(fixtures, pairs[i][0])),
                 *f = load(path_in(fixtures, pairs[i][1]));
        if (h && f) {
            CHECK(!strcmp(h->info.tensor_types, pairs[i][2]), "%s: types '%s'", pairs[i][0],
                  h->info.tensor_types);
            CHECK(h->tok_emb.p.type == (i ? LM_WT_BF16 : LM_WT_F16), "%s: packed as %d",
                  pairs[i][0], (int)h->tok_emb.p.type);
            CHECK(h->info.weight_bytes < f->info.weight_bytes / 2 + 8 * 1024,
                  "%s: %llu bytes read a token", pairs[i][0],
                  (unsigned long long)h->info.weight_bytes);
            CHECK(same_logits(h, f, pairs[i][0]), "%s: logits differ from the widened F32's",
                  pairs[i][0]);
        }
        lm_model_free(h);
        lm_model_free(f);
    }
}

/* theta and epsilon reach the arithmetic. */
static void theta_and_eps_matter(void) {
    lm_model *base = load(path_in(fixtures, "kjv.f32.gguf"));
    const char *files[] = {"kjv.theta.gguf", "kjv.eps.gguf"};
    const float theta[] = {500000.0f, 10000.0f}, eps[] = {1e-5f, 1e-2f};
    for (int i = 0; base && i < 2; i++) {
        lm_model *m = load(path_in(fixtures, files[i]));
        if (!m) continue;
        CHECK(m->c->rope_theta == theta[i] && m->c->norm_eps == eps[i], "%s: theta %g eps %g",
              files[i], (double)m->c->rope_theta, (double)m->c->norm_eps);
        CHECK(!same_logits(base, m, files[i]), "%s: logits equal the defaults': ignored", files[i]);
        lm_model_free(m);
    }
    lm_model_free(base);
}

/* ---- one order: kernel sets, threads, batches -------------------------------- */

#define GEN 40
#define SEEDS 3

/* Seeded generation of GEN tokens after a 9-token prompt. */
static void generate(const lm_model *m, const char *isa, int threads, uint64_t seed, int *out) {
    lm_error e;
    int V = lm_model_get_info(m).config.vocab_size;
    lm_context *ctx = lm_context_new(m, (lm_context_params){64, threads, isa}, &e);
    lm_sampler *s = lm_sampler_new(V, 1.0f, seed % 2 ? 0.9f : 0.0f, seed, &e);
    CHECK(ctx && s, "context or sampler: %s", e.msg);
    if (ctx && s) {
        float *l = lm_forward(ctx, tokens, 9, 0);
        for (int i = 0; i < GEN; i++) {
            out[i] = lm_sample(s, l);
            l = lm_forward(ctx, &out[i], 1, 9 + i);
        }
    }
    lm_sampler_free(s);
    lm_context_free(ctx);
}

/* The same SEEDS generations together in one lm_batch. */
static void generate_batched(const lm_model *m, const char *isa, int threads, int out[SEEDS][GEN]) {
    lm_error e;
    lm_batch *b = lm_batch_new(m, (lm_batch_params){SEEDS, 64, threads, isa}, &e);
    CHECK(b, "batch: %s", e.msg);
    if (!b) return;
    int ids[SEEDS], got[SEEDS] = {0};
    for (int s = 0; s < SEEDS; s++) {
        lm_seq_params p = {9 + GEN + 1, 1.0f, (s + 1) % 2 ? 0.9f : 0.0f, (uint64_t)s + 1, -1};
        ids[s] = lm_batch_add(b, tokens, 9, p, &e);
        CHECK(ids[s] >= 0, "add: %s", e.msg);
    }
    lm_batch_event ev[SEEDS];
    for (int step = 0; step < 4 * GEN && lm_batch_active(b); step++) {
        int n = lm_batch_step(b, ev, &e);
        for (int i = 0; i < n; i++)
            for (int s = 0; s < SEEDS; s++)
                if (ev[i].seq == ids[s] && got[s] < GEN) out[s][got[s]++] = ev[i].token;
    }
    for (int s = 0; s < SEEDS; s++) CHECK(got[s] == GEN, "batched seed %d: %d tokens", s, got[s]);
    lm_batch_free(b);
}

static void one_order(const char *file) {
    lm_model *m = load(path_in(fixtures, file));
    if (!m) return;
    int ref[SEEDS][GEN], got[SEEDS][GEN];
    for (int s = 0; s < SEEDS; s++) generate(m, "scalar", 1, (uint64_t)s + 1, ref[s]);
    char list[256];
    snprintf(list, sizeof list, "%s", lm_isa_list());
    int runs = 0;
    for (char *isa = strtok(list, " "); isa; isa = strtok(NULL, " ")) {
        if (lm_isa_check(isa, NULL)) continue;
        for (int t = 1; t <= 2; t++) {
            for (int s = 0; s < SEEDS; s++) {
                generate(m, isa, t, (uint64_t)s + 1, got[s]);
                CHECK(!memcmp(got[s], ref[s], sizeof ref[s]), "%s: %s, %d threads, seed %d differs",
                      file, isa, t, s + 1);
            }
            memset(got, 0, sizeof got);
            generate_batched(m, isa, t, got);
            CHECK(!memcmp(got, ref, sizeof ref), "%s: %s, %d threads, batched differs", file, isa,
                  t);
            runs++;
        }
    }
    CHECK(runs >= 2, "%s: %d runs", file, runs);
    printf("%s: %d kernel set x thread runs agree\n", file, runs);
    lm_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_gguf_model FIXTURE_DIR DATA_DIR [ORDER_MODEL...]\n");
        return 2;
    }
    snprintf(fixtures, sizeof fixtures, "%s", argv[1]);
    snprintf(data_dir, sizeof data_dir, "%s", argv[2]);
    f32_equals_bin();
    q8_equals_dequantized();
    from_memory();
    theta_and_eps_matter();
    halves_equal_widened();
    for (int i = 3; i < argc; i++) one_order(argv[i]);
    return check_exit("gguf.model");
}
