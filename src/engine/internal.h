/* Engine internals shared by the modules of liblamina; not installed. */
#ifndef LAMINA_INTERNAL_H
#define LAMINA_INTERNAL_H

#include "barrier.h"
#include "kernels.h"
#include "lamina.h"

/* Fill err (if any) with a printf-style one-line message; returns -1. */
int lm_fail(lm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* a * b, or UINT64_MAX when it overflows (so absurd headers stay absurd). */
uint64_t lm_mul(uint64_t a, uint64_t b);
uint64_t lm_add(uint64_t a, uint64_t b);

double lm_now(void); /* monotonic seconds */

/* A weight matrix [rows, cols], fp32 or Q8_0, pointing into the mapped file. */
typedef struct lm_matrix {
    const float *f32; /* fp32 formats */
    lm_q8 q8;         /* v2 */
    int rows, cols;
} lm_matrix;

typedef struct lm_layer {
    const float *rms_att, *rms_ffn; /* (dim) */
    lm_matrix wq, wk, wv, wo;       /* (dim, dim), (kv_dim, dim) x2, (dim, dim) */
    lm_matrix w1, w2, w3;           /* (hidden, dim), (dim, hidden), (hidden, dim) */
} lm_layer;

struct lm_model {
    lm_model_info info;
    const lm_config *c; /* = &info.config */
    lm_layer *layers;   /* (n_layers) */
    lm_matrix tok_emb;  /* (vocab, dim) */
    lm_matrix classifier;
    const float *rms_final; /* (dim) */
    void *map;              /* the whole file, read-only */
    size_t map_size;
    float *aligned_scales; /* copies of v2 scales that were not 4-byte aligned */
};

struct lm_context {
    const lm_model *model;
    const lm_kernels *k;
    int n_ctx, n_threads, max_batch;
    /* activations for up to max_batch tokens */
    float *x, *xb, *xb2, *q;        /* (batch, dim) */
    float *hb, *hb2;                /* (batch, hidden) */
    lm_q8_act xq;                   /* (batch, max(dim, hidden)) quantized activations (v2) */
    float *att;                     /* (n_threads, n_ctx) attention scores, one row per thread */
    float *rope;                    /* (batch, head_size) cos/sin pairs per position */
    float *logits;                  /* (vocab) */
    float *key_cache, *value_cache; /* (layer, n_ctx, kv_dim) */
    lm_barrier *barrier;            /* between the steps of the forward pass */
};

/* The table named `name` (NULL or "" = the best this CPU runs), or NULL with
 * err set when this binary lacks it or the CPU cannot run it. */
/* matmul.c: this thread's share [*a, *b) of n items, cut at multiples of block. */
void lm_share(int n, int block, int *a, int *b);
/* y (T, w->rows) = x (T, w->cols) times w^T, this thread's rows only; Q8_0
 * weights read the activations quantized in ctx->xq. */
void lm_matmul(const lm_context *ctx, float *y, const float *x, const lm_matrix *w, int T);
/* The embedding row of `token` into out[dim]. */
void lm_embed(const lm_model *m, int token, float *out);

const lm_kernels *lm_kernels_for(const char *name, lm_error *err);

#endif
