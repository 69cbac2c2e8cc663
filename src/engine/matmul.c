/* The products of the forward pass: which rows each thread computes, and the
 * call into the kernel table. Called by every thread of the forward pass's
 * OpenMP region; each output row has exactly one writer. */
#include <omp.h>
#include <string.h>

#include "internal.h"

/* This thread's share [*a, *b) of n items, cut at multiples of `block`. */
void lm_share(int n, int block, int *a, int *b) {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int chunk = (n + nt - 1) / nt;
    chunk = (chunk + block - 1) / block * block;
    *a = t * chunk < n ? t * chunk : n;
    *b = *a + chunk < n ? *a + chunk : n;
}

/* y (T, w->rows) = x (T, w->cols) times w^T, this thread's rows only. */
void lm_matmul(const lm_context *ctx, float *y, const float *x, const lm_matrix *w, int T) {
    int r0, r1;
    lm_share(w->rows, LM_ROW_BLOCK, &r0, &r1);
    if (r0 >= r1) return;
    if (w->f32)
        ctx->k->matmul_f32(y, x, w->f32, T, w->cols, w->rows, r0, r1);
    else
        ctx->k->matmul_q8(y, &ctx->xq, &w->q8, T, w->cols, w->rows, r0, r1);
}

/* The embedding row of `token` into out[dim]. */
void lm_embed(const lm_model *m, int token, float *out) {
    const lm_matrix *e = &m->tok_emb;
    size_t row = (size_t)token * (size_t)e->cols;
    if (e->f32) {
        memcpy(out, e->f32 + row, (size_t)e->cols * sizeof(float));
        return;
    }
    for (int j = 0; j < e->cols; j++) /* dequantize just this row */
        out[j] = (float)e->q8.q[row + j] * e->q8.s[(row + j) / (size_t)e->q8.gs];
}
