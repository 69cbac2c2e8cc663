/* The Transformer forward pass, in the order of the math (src/FORMATS.md). A
 * block of tokens goes through the layers as a matrix [T, dim], each token
 * one of some sequence at some position (lm_tok), so a prompt, a decoding
 * step, or the next tokens of many sequences at once (lm_batch) all run the
 * same code. Every hot operation goes through the kernel table; this file
 * never names an ISA.
 *
 * Threads: one OpenMP region per call. Inside it every thread runs this code;
 * products hand out output rows and attention its (token, head) pairs in
 * chunks that threads claim as they go (matmul.c), per-token work is split
 * evenly, and a barrier (barrier.h) separates steps that read what another
 * thread wrote. Which thread computes a value never changes its bits, so the
 * output depends neither on the thread count nor on the other tokens of the
 * block. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "internal.h"

/* Q8_0 and block-type weights multiply quantized activations: quantize each
 * of this thread's tokens once per group size the products reading them take
 * (`need`: lm_act_bit of each), and every such product reuses the result. */
static void quantize_toks(const lm_workspace *ws, const float *x, int n, int t0, int t1,
                          unsigned need) {
    for (int a = 0; a < ws->model->n_act; a++) {
        if (!(need >> a & 1)) continue;
        const lm_q8_act *xq = &ws->xq[a];
        int groups = lm_q8_groups(n, xq->gs);
        for (int t = t0; t < t1; t++)
            ws->k->quantize_q8(xq->q + (size_t)t * n, xq->s + (size_t)t * groups, x + (size_t)t * n,
                               n, xq->gs);
    }
}

static void add(float *x, const float *y, int n) {
    for (int i = 0; i < n; i++) x[i] += y[i];
}

/* Rotate this thread's tokens' q and k, then store k and v in each token's own
 * cache at the token's position. */
static void rope_and_store(const lm_workspace *ws, const lm_tok *toks, int l, int t0, int t1) {
    const lm_config *c = ws->model->c;
    int q_dim = lm_q_dim(c), hs = lm_head_size(c), kv_dim = c->n_kv_heads * hs;
    for (int t = t0; t < t1; t++) {
        const float *cs = ws->rope + (size_t)t * hs;
        float *k = ws->kb + (size_t)t * kv_dim, *v = ws->vb + (size_t)t * kv_dim;
        ws->k->rope(ws->q + (size_t)t * q_dim, q_dim, hs, cs);
        ws->k->rope(k, kv_dim, hs, cs);
        lm_kv_store(toks[t].kv, c, l, toks[t].pos, k, v);
    }
}

/* Each (token, head) pair attends over its own sequence's positions 0..pos. */
static void attention(lm_workspace *ws, const lm_tok *toks, int l, int T) {
    const lm_config *c = ws->model->c;
    int hs = lm_head_size(c), q_dim = lm_q_dim(c), kv_dim = c->n_kv_heads * hs,
        kv_mul = c->n_heads / c->n_kv_heads;
    float *att = ws->att + (size_t)omp_get_thread_num() * ws->max_ctx;
    uint64_t call = lm_claims_next_call();
    for (int i; (i = lm_claim(ws, call, T * c->n_heads)) >= 0;) {
        int t = i / c->n_heads, h = i % c->n_heads;
        const lm_kv *kv = toks[t].kv;
        size_t at = (size_t)l * kv->n_ctx * kv_dim + (size_t)(h / kv_mul) * hs;
        float *out = ws->xb + (size_t)t * q_dim + h * hs;
        const float *q = ws->q + (size_t)t * q_dim + h * hs;
        if (kv->type == LM_KV_F16)
            ws->k->attention_f16(out, q, (const uint16_t *)kv->key + at,
                                 (const uint16_t *)kv->value + at, att, toks[t].pos + 1, hs,
                                 kv_dim);
        else
            ws->k->attention(out, q, (const float *)kv->key + at, (const float *)kv->value + at,
                             att, toks[t].pos + 1, hs, kv_dim);
    }
}

static void layer_forward(lm_workspace *ws, const lm_tok *toks, int l, int T, int t0, int t1) {
    const lm_config *c = ws->model->c;
    const lm_layer *L = &ws->model->layers[l];
    const lm_kernels *k = ws->k;
    int dim = c->dim, hidden = c->hidden_dim, q_dim = lm_q_dim(c);

    /* attention: xb = rmsnorm(x); q, k, v; k and v land in the caches */
    for (int t = t0; t < t1; t++)
        k->rmsnorm(ws->xb + (size_t)t * dim, ws->x + (size_t)t * dim, L->rms_att, dim, c->norm_eps);
    quantize_toks(ws, ws->xb, dim, t0, t1,
                  lm_act_bit(&L->wq) | lm_act_bit(&L->wk) | lm_act_bit(&L->wv));
    lm_barrier_wait(ws->barrier);
    lm_matmul(ws, ws->q, ws->xb, &L->wq, T);
    lm_matmul(ws, ws->kb, ws->xb, &L->wk, T);
    lm_matmul(ws, ws->vb, ws->xb, &L->wv, T);
    lm_barrier_wait(ws->barrier);
    rope_and_store(ws, toks, l, t0, t1);
    lm_barrier_wait(ws->barrier);
    attention(ws, toks, l, T);
    lm_barrier_wait(ws->barrier);
    quantize_toks(ws, ws->xb, q_dim, t0, t1, lm_act_bit(&L->wo)); /* the heads' outputs */
    lm_barrier_wait(ws->barrier);
    lm_matmul(ws, ws->xb2, ws->xb, &L->wo, T);
    lm_barrier_wait(ws->barrier);

    /* feed-forward: x += wo(att); xb = rmsnorm(x); x += w2(silu(w1 xb) * w3 xb) */
    for (int t = t0; t < t1; t++) {
        add(ws->x + (size_t)t * dim, ws->xb2 + (size_t)t * dim, dim);
        k->rmsnorm(ws->xb + (size_t)t * dim, ws->x + (size_t)t * dim, L->rms_ffn, dim, c->norm_eps);
    }
    quantize_toks(ws, ws->xb, dim, t0, t1, lm_act_bit(&L->w1) | lm_act_bit(&L->w3));
    lm_barrier_wait(ws->barrier);
    lm_matmul(ws, ws->hb, ws->xb, &L->w1, T);
    lm_matmul(ws, ws->hb2, ws->xb, &L->w3, T);
    lm_barrier_wait(ws->barrier);
    for (int t = t0; t < t1; t++)
        k->swiglu(ws->hb + (size_t)t * hidden, ws->hb2 + (size_t)t * hidden, hidden);
    quantize_toks(ws, ws->hb, hidden, t0, t1, lm_act_bit(&L->w2));
    lm_barrier_wait(ws->barrier);
    lm_matmul(ws, ws->xb2, ws->hb, &L->w2, T);
    lm_barrier_wait(ws->barrier);
    for (int t = t0; t < t1; t++) add(ws->x + (size_t)t * dim, ws->xb2 + (size_t)t * dim, dim);
}

/* The classifier on the block's tokens whose logits are wanted (local indices
 * out[0..n_out)), into ws->logits' vectors first..first+n_out. Token j of xb
 * (free by now) holds token out[j], normalized. */
static void classify(lm_workspace *ws, const int *out, int n_out, int first) {
    const lm_model *m = ws->model;
    int dim = m->c->dim, j0, j1;
    lm_barrier_wait(ws->barrier);
    lm_share(n_out, 1, &j0, &j1);
    for (int j = j0; j < j1; j++)
        ws->k->rmsnorm(ws->xb + (size_t)j * dim, ws->x + (size_t)out[j] * dim, m->rms_final, dim,
                       m->c->norm_eps);
    quantize_toks(ws, ws->xb, dim, j0, j1, lm_act_bit(&m->classifier));
    lm_barrier_wait(ws->barrier);
    lm_matmul(ws, ws->logits + (size_t)first * m->c->vocab_size, ws->xb, &m->classifier, n_out);
}

/* toks[0..T) through every layer; then the logits of local tokens out[0..n_out). */
static void forward_block(lm_workspace *ws, const lm_tok *toks, int T, const int *out, int n_out,
                          int first_out) {
    const lm_model *m = ws->model;
    int dim = m->c->dim, hs = lm_head_size(m->c), t0, t1;
    lm_share(T, 1, &t0, &t1);
    for (int t = t0; t < t1; t++) {
        lm_embed(m, toks[t].token, ws->x + (size_t)t * dim);
        lm_rope_angles(ws->rope + (size_t)t * hs, m->rope_freq, hs, toks[t].pos);
    }
    for (int l = 0; l < m->c->n_layers; l++) layer_forward(ws, toks, l, T, t0, t1);
    if (n_out > 0) classify(ws, out, n_out, first_out);
    lm_barrier_wait(ws->barrier); /* the next block reuses every buffer */
}

void lm_forward_toks(lm_workspace *ws, const lm_tok *toks, int n, const int *out, int n_out) {
    int threads = lm_threads_for_pass(ws);
    double wall = lm_seconds(), cpu = lm_cpu_seconds();
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        /* The runtime may give fewer threads than asked (OMP_THREAD_LIMIT). */
#pragma omp single
        lm_barrier_init(ws->barrier, omp_get_num_threads());
        lm_claims_begin(ws);
        int local[ws->max_toks > 0 ? ws->max_toks : 1];
        for (int done = 0, o = 0; done < n; done += ws->max_toks) {
            int T = n - done < ws->max_toks ? n - done : ws->max_toks, first = o, k = 0;
            for (; o < n_out && out[o] < done + T; o++) local[k++] = out[o] - done;
            forward_block(ws, toks + done, T, local, k, first);
        }
    }
    lm_claims_end(ws);
    lm_learn_share(ws, threads, lm_seconds() - wall, lm_cpu_seconds() - cpu);
}
