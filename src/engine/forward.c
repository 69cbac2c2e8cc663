/* The Transformer forward pass, in the order of the math (FORMATS.md). A block
 * of T tokens goes through the layers as a matrix: decoding is T = 1, a prompt
 * is processed 64 tokens at a time. Every hot operation goes through the
 * kernel table; this file never names an ISA.
 *
 * Threads: one OpenMP region per call. Inside it every thread runs this code;
 * products split output rows, attention splits (token, head) pairs, per-token
 * work splits tokens, and a barrier (barrier.h) separates steps that read what
 * another thread wrote. Splits are fixed, so the output does not depend on
 * timing. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "internal.h"

/* Q8_0 models multiply quantized activations: quantize each of this thread's
 * token rows once, and every product reading them reuses the result. */
static void quantize_rows(const lm_context *ctx, const float *x, int n, int t0, int t1) {
    if (ctx->model->info.format != LM_FORMAT_V2) return;
    int groups = lm_q8_groups(n, ctx->xq.gs);
    for (int t = t0; t < t1; t++)
        ctx->k->quantize_q8(ctx->xq.q + (size_t)t * n, ctx->xq.s + (size_t)t * groups,
                            x + (size_t)t * n, n, ctx->xq.gs);
}

/* cos/sin of each pair's angle at position pos, as run.c computes them. */
static void rope_angles(float *cs, int head_size, int pos) {
    for (int i = 0; i < head_size; i += 2) {
        float freq = 1.0f / powf(10000.0f, (float)i / (float)head_size);
        float angle = (float)pos * freq;
        cs[i] = cosf(angle);
        cs[i + 1] = sinf(angle);
    }
}

static void add(float *x, const float *y, int n) {
    for (int i = 0; i < n; i++) x[i] += y[i];
}

static void attention_block(const lm_context *ctx, int l, int T, int pos) {
    const lm_config *c = ctx->model->c;
    int hs = c->dim / c->n_heads, kv_dim = c->n_kv_heads * hs, kv_mul = c->n_heads / c->n_kv_heads;
    size_t layer = (size_t)l * ctx->n_ctx * kv_dim;
    float *att = ctx->att + (size_t)omp_get_thread_num() * ctx->n_ctx;
    int a, b;
    lm_share(T * c->n_heads, 1, &a, &b);
    for (int i = a; i < b; i++) {
        int t = i / c->n_heads, h = i % c->n_heads;
        size_t kv = layer + (size_t)(h / kv_mul) * hs;
        ctx->k->attention(ctx->xb + (size_t)t * c->dim + h * hs,
                          ctx->q + (size_t)t * c->dim + h * hs, ctx->key_cache + kv,
                          ctx->value_cache + kv, att, pos + t + 1, hs, kv_dim);
    }
}

static void layer_forward(const lm_context *ctx, int l, int T, int pos, int t0, int t1) {
    const lm_model *m = ctx->model;
    const lm_config *c = m->c;
    const lm_layer *L = &m->layers[l];
    const lm_kernels *k = ctx->k;
    int dim = c->dim, hidden = c->hidden_dim, hs = dim / c->n_heads;
    int kv_dim = c->n_kv_heads * hs;
    size_t slot = ((size_t)l * ctx->n_ctx + (size_t)pos) * kv_dim;

    /* attention: xb = rmsnorm(x); q, k, v; k and v land in the cache */
    for (int t = t0; t < t1; t++)
        k->rmsnorm(ctx->xb + (size_t)t * dim, ctx->x + (size_t)t * dim, L->rms_att, dim);
    quantize_rows(ctx, ctx->xb, dim, t0, t1);
    lm_barrier_wait(ctx->barrier);
    lm_matmul(ctx, ctx->q, ctx->xb, &L->wq, T);
    lm_matmul(ctx, ctx->key_cache + slot, ctx->xb, &L->wk, T);
    lm_matmul(ctx, ctx->value_cache + slot, ctx->xb, &L->wv, T);
    lm_barrier_wait(ctx->barrier);
    for (int t = t0; t < t1; t++) {
        const float *cs = ctx->rope + (size_t)t * hs;
        k->rope(ctx->q + (size_t)t * dim, dim, hs, cs);
        k->rope(ctx->key_cache + slot + (size_t)t * kv_dim, kv_dim, hs, cs);
    }
    lm_barrier_wait(ctx->barrier);
    attention_block(ctx, l, T, pos);
    lm_barrier_wait(ctx->barrier);
    quantize_rows(ctx, ctx->xb, dim, t0, t1);
    lm_barrier_wait(ctx->barrier);
    lm_matmul(ctx, ctx->xb2, ctx->xb, &L->wo, T);
    lm_barrier_wait(ctx->barrier);

    /* feed-forward: x += wo(att); xb = rmsnorm(x); x += w2(silu(w1 xb) * w3 xb) */
    for (int t = t0; t < t1; t++) {
        add(ctx->x + (size_t)t * dim, ctx->xb2 + (size_t)t * dim, dim);
        k->rmsnorm(ctx->xb + (size_t)t * dim, ctx->x + (size_t)t * dim, L->rms_ffn, dim);
    }
    quantize_rows(ctx, ctx->xb, dim, t0, t1);
    lm_barrier_wait(ctx->barrier);
    lm_matmul(ctx, ctx->hb, ctx->xb, &L->w1, T);
    lm_matmul(ctx, ctx->hb2, ctx->xb, &L->w3, T);
    lm_barrier_wait(ctx->barrier);
    for (int t = t0; t < t1; t++)
        k->swiglu(ctx->hb + (size_t)t * hidden, ctx->hb2 + (size_t)t * hidden, hidden);
    quantize_rows(ctx, ctx->hb, hidden, t0, t1);
    lm_barrier_wait(ctx->barrier);
    lm_matmul(ctx, ctx->xb2, ctx->hb, &L->w2, T);
    lm_barrier_wait(ctx->barrier);
    for (int t = t0; t < t1; t++) add(ctx->x + (size_t)t * dim, ctx->xb2 + (size_t)t * dim, dim);
}

/* T tokens at positions pos..pos+T-1; with `last`, the logits of the last one. */
static void forward_block(lm_context *ctx, const int *tokens, int T, int pos, int last) {
    const lm_model *m = ctx->model;
    const lm_config *c = m->c;
    int dim = c->dim, hs = dim / c->n_heads;
    int t0, t1;
    lm_share(T, 1, &t0, &t1);
    for (int t = t0; t < t1; t++) {
        lm_embed(m, tokens[t], ctx->x + (size_t)t * dim);
        rope_angles(ctx->rope + (size_t)t * hs, hs, pos + t);
    }
    for (int l = 0; l < c->n_layers; l++) layer_forward(ctx, l, T, pos, t0, t1);
    if (!last) {
        lm_barrier_wait(ctx->barrier);
        return;
    }
    /* The classifier runs on the last token only. The thread that owns that
     * token's row normalizes it into row 0 of xb (free by now). */
    if (t0 <= T - 1 && T - 1 < t1) {
        ctx->k->rmsnorm(ctx->xb, ctx->x + (size_t)(T - 1) * dim, m->rms_final, dim);
        quantize_rows(ctx, ctx->xb, dim, 0, 1);
    }
    lm_barrier_wait(ctx->barrier);
    lm_matmul(ctx, ctx->logits, ctx->xb, &m->classifier, 1);
}

float *lm_forward(lm_context *ctx, const int *tokens, int n, int pos) {
    const lm_config *c = ctx->model->c;
    if (n <= 0 || pos < 0 || pos + n > ctx->n_ctx) return NULL;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size) return NULL;
#pragma omp parallel num_threads(ctx->n_threads) if (ctx->n_threads > 1)
    {
        /* The runtime may give fewer threads than asked (OMP_THREAD_LIMIT). */
#pragma omp single
        lm_barrier_init(ctx->barrier, omp_get_num_threads());
        for (int done = 0; done < n; done += ctx->max_batch) {
            int T = n - done < ctx->max_batch ? n - done : ctx->max_batch;
            forward_block(ctx, tokens + done, T, pos + done, done + T == n);
        }
    }
    return ctx->logits;
}
