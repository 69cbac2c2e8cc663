/* One set of weights written as v0 (shared and unshared classifier), v1 and
 * v2 files must load and agree: v0 and v1 token for token, v2 within its
 * quantization. hidden_dim 172 with group size 32 makes the Q8_0 groups of w2
 * straddle its rows, and group magnitudes vary, so a wrong scale index shows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "lamina.h"
#include "scalar/scalar.h"

enum {
    DIM = 64,
    HIDDEN = 172,
    LAYERS = 2,
    HEADS = 4,
    KV_HEADS = 2,
    VOCAB = 300,
    SEQ = 64,
    GS = 32
};
enum { HS = DIM / HEADS, KV_DIM = KV_HEADS * HS, STEPS = 40 };

typedef struct tensor {
    float *w;
    size_t n;
} tensor;

/* The tensors in v1 order: rms_att, rms_ffn, rms_final, tok_emb, wq, wk, wv,
 * wo, w1, w2, w3, classifier. */
enum { RMS_ATT, RMS_FFN, RMS_FINAL, EMB, WQ, WK, WV, WO, W1, W2, W3, CLS, N_TENSORS };
static tensor t[N_TENSORS];

static uint64_t rng = 42;
static float frand(void) {
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (float)((rng * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f * 2.0f - 1.0f;
}

static void make_weights(void) {
    const size_t sizes[N_TENSORS] = {
        LAYERS * DIM,          LAYERS * DIM,          DIM,
        VOCAB * DIM,           LAYERS * DIM * DIM,    LAYERS * KV_DIM * DIM,
        LAYERS * KV_DIM * DIM, LAYERS * DIM * DIM,    LAYERS * HIDDEN * DIM,
        LAYERS * DIM * HIDDEN, LAYERS * HIDDEN * DIM, VOCAB * DIM};
    for (int i = 0; i < N_TENSORS; i++) {
        t[i].n = sizes[i];
        t[i].w = malloc(sizes[i] * sizeof(float));
        for (size_t e = 0; e < sizes[i]; e++) {
            float scale = i <= RMS_FINAL ? 0.0f : 0.15f * (float)(1 + (e / GS) % 5);
            t[i].w[e] = i <= RMS_FINAL ? 1.0f + 0.1f * frand() : scale * frand();
        }
    }
}

static void put_ints(FILE *f, const int *v, int n) { fwrite(v, sizeof(int), (size_t)n, f); }
static void put(FILE *f, int i) { fwrite(t[i].w, sizeof(float), t[i].n, f); }

static void write_v0(const char *path, int shared) {
    FILE *f = fopen(path, "wb");
    int cfg[7] = {DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, shared ? VOCAB : -VOCAB, SEQ};
    put_ints(f, cfg, 7);
    const int order[] = {EMB, RMS_ATT, WQ, WK, WV, WO, RMS_FFN, W1, W2, W3, RMS_FINAL};
    for (int i = 0; i < 11; i++) put(f, order[i]);
    float *rope = calloc(SEQ * HS, sizeof(float)); /* unused tables */
    fwrite(rope, sizeof(float), SEQ * HS, f);
    free(rope);
    if (!shared) put(f, CLS);
    fclose(f);
}

static void write_header(FILE *f, int version, int shared) {
    unsigned char h[256] = {0};
    unsigned magic = 0x616b3432;
    int cfg[7] = {DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, SEQ}, gs = GS;
    memcpy(h, &magic, 4);
    memcpy(h + 4, &version, 4);
    memcpy(h + 8, cfg, sizeof cfg);
    h[36] = (unsigned char)shared;
    if (version == 2) memcpy(h + 37, &gs, 4);
    fwrite(h, 1, 256, f);
}

static void write_v1(const char *path, int shared) {
    FILE *f = fopen(path, "wb");
    write_header(f, 1, shared);
    for (int i = 0; i < (shared ? CLS : N_TENSORS); i++) put(f, i);
    fclose(f);
}

/* Quantize one tensor per layer (the embedding and classifier: one tensor);
 * with `dequantize`, replace the weights by their quantized values instead. */
static void quantize_tensor(FILE *f, int i, int dequantize) {
    int per_layer = i >= WQ && i <= W3;
    size_t n = per_layer ? t[i].n / LAYERS : t[i].n;
    int8_t *q = malloc(n);
    float *s = malloc(n / GS * sizeof(float));
    for (size_t at = 0; at < t[i].n; at += n) {
        lm_quantize_q8_scalar(q, s, t[i].w + at, (int)n, GS);
        if (dequantize)
            for (size_t e = 0; e < n; e++) t[i].w[at + e] = (float)q[e] * s[e / GS];
        else
            fwrite(q, 1, n, f), fwrite(s, sizeof(float), n / GS, f);
    }
    free(q), free(s);
}

static void write_v2(const char *path, int shared) {
    FILE *f = fopen(path, "wb");
    write_header(f, 2, shared);
    put(f, RMS_ATT), put(f, RMS_FFN), put(f, RMS_FINAL);
    for (int i = EMB; i < (shared ? CLS : N_TENSORS); i++) quantize_tensor(f, i, 0);
    fclose(f);
}

/* Greedy tokens from BOS, and the logits after the first step. */
static void greedy(const char *path, int *tokens, float *first_logits) {
    lm_error err;
    lm_model *m = lm_model_load(path, &err);
    CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    lm_context *ctx = lm_context_new(m, (lm_context_params){STEPS, 1, NULL}, &err);
    int token = LM_TOKEN_BOS;
    for (int pos = 0; pos < STEPS; pos++) {
        const float *logits = lm_forward(ctx, &token, 1, pos);
        if (pos == 0) memcpy(first_logits, logits, VOCAB * sizeof(float));
        int best = 0;
        for (int i = 1; i < VOCAB; i++)
            if (logits[i] > logits[best]) best = i;
        tokens[pos] = token = best;
    }
    lm_context_free(ctx);
    lm_model_free(m);
}

static float max_abs_diff(const float *a, const float *b, int n, float *scale) {
    float d = 0;
    *scale = 0;
    for (int i = 0; i < n; i++)
        d = fmaxf(d, fabsf(a[i] - b[i])), *scale = fmaxf(*scale, fabsf(b[i]));
    return d;
}

int main(void) {
    char dir[] = "/tmp/lamina-formats-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char v0s[64], v0u[64], v1s[64], v1u[64], v2s[64], v2u[64], v1q[64];
    snprintf(v0s, 64, "%s/v0s.bin", dir), snprintf(v0u, 64, "%s/v0u.bin", dir);
    snprintf(v1s, 64, "%s/v1s.bin", dir), snprintf(v1u, 64, "%s/v1u.bin", dir);
    snprintf(v2s, 64, "%s/v2s.bin", dir), snprintf(v2u, 64, "%s/v2u.bin", dir);
    snprintf(v1q, 64, "%s/v1q.bin", dir);
    make_weights();
    write_v0(v0s, 1), write_v0(v0u, 0), write_v1(v1s, 1), write_v1(v1u, 0);
    write_v2(v2s, 1), write_v2(v2u, 0);
    for (int i = EMB; i < N_TENSORS; i++) quantize_tensor(NULL, i, 1);
    write_v1(v1q, 1); /* the v2 weights, dequantized, as fp32 */

    int a[STEPS], b[STEPS], c[STEPS], d[STEPS], e[STEPS], f[STEPS], g[STEPS];
    float la[VOCAB], lb[VOCAB], lc[VOCAB], ld[VOCAB], le[VOCAB], lf[VOCAB], lg[VOCAB];
    greedy(v0s, a, la), greedy(v1s, b, lb), greedy(v0u, c, lc), greedy(v1u, d, ld);
    greedy(v2s, e, le), greedy(v2u, f, lf), greedy(v1q, g, lg);
    CHECK(memcmp(a, b, sizeof a) == 0, "v0 and v1 (shared classifier) differ");
    CHECK(memcmp(c, d, sizeof c) == 0, "v0 and v1 (separate classifier) differ");
    CHECK(memcmp(a, c, sizeof a) != 0 || memcmp(la, lc, sizeof la) != 0,
          "the separate classifier was not used");
    float scale, diff = max_abs_diff(le, lg, VOCAB, &scale);
    /* v2 vs the same weights in fp32: only activation quantization differs. */
    CHECK(diff <= 0.02f * scale, "v2 logits differ from its dequantized weights by %g (scale %g)",
          diff, scale);
    diff = max_abs_diff(lf, lg, VOCAB, &scale);
    CHECK(diff > 0, "v2 separate classifier gave the shared one's logits");
    CHECK(e[0] == g[0] && e[1] == g[1] && e[2] == g[2], "v2 first tokens %d %d %d vs %d %d %d",
          e[0], e[1], e[2], g[0], g[1], g[2]);
    printf("greedy v0/v1: %d %d %d ...; v2: %d %d %d ...\n", a[0], a[1], a[2], e[0], e[1], e[2]);
    const char *files[] = {v0s, v0u, v1s, v1u, v2s, v2u, v1q};
    for (int i = 0; i < 7; i++) unlink(files[i]);
    rmdir(dir);
    return check_exit("formats");
}
