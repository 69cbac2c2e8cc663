/* The products of the forward pass: which rows each thread computes, and the
 * call into the kernel table. Called by every thread of the forward pass's
 * OpenMP region; each output row has exactly one writer. */
#include <string.h>

#include "internal.h"
#include "qtypes.h"
#include "pack.h"

/* Rows go out in chunks of whole row blocks, about four per thread, so a
 * thread that runs alone for a while takes over the others' share. */
void lm_matmul(lm_workspace *ws, float *y, const float *x, const lm_matrix *w, int T) {
    int blocks = (w->rows + LM_ROW_BLOCK - 1) / LM_ROW_BLOCK;
    int per = (blocks + 4 * ws->n_threads - 1) / (4 * ws->n_threads);
    int rows_per_chunk = per * LM_ROW_BLOCK,
        n_chunks = (w->rows + rows_per_chunk - 1) / rows_per_chunk;
    uint64_t call = lm_claims_next_call();
    for (int c; (c = lm_claim(ws, call, n_chunks)) >= 0;) {
        int r0 = c * rows_per_chunk;
        int r1 = r0 + rows_per_chunk < w->rows ? r0 + rows_per_chunk : w->rows;
        switch (w->p.type) {
        case LM_WT_F32: ws->k->matmul_f32(y, x, &w->p, T, r0, r1); break;
        case LM_WT_Q8_0: ws->k->matmul_q8(y, &ws->xq[w->act], &w->p, T, r0, r1); break;
        case LM_WT_F16: ws->k->matmul_f16(y, x, &w->p, T, r0, r1); break;
        case LM_WT_BF16: ws->k->matmul_bf16(y, x, &w->p, T, r0, r1); break;
        default: lm_kernels_blk(ws->k, w->p.type)(y, &ws->xq[w->act], &w->p, T, r0, r1); break;
        }
    }
}
